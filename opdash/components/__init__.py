"""Panel components over a shared catalog; each works alone in a notebook and in the app."""

from opdash.components.funnel import FunnelView
from opdash.components.quality import DataQuality
from opdash.components.summary import SummaryBar

__all__ = ["DataQuality", "FunnelView", "SummaryBar"]
