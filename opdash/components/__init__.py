"""Panel components over a shared catalog; each works alone in a notebook and in the app."""

from opdash.components.activity import ActivityFeed
from opdash.components.alerts import AlertsView
from opdash.components.chain import WorkflowChain
from opdash.components.filters import Filters
from opdash.components.funnel import FunnelView
from opdash.components.goals import GoalProgress
from opdash.components.kpi import KpiView
from opdash.components.paths import PathsView
from opdash.components.quality import DataQuality
from opdash.components.retention import RetentionView
from opdash.components.runs import RunsView
from opdash.components.sql import SqlView
from opdash.components.state import JsonState, MarkdownState
from opdash.components.today import TodayStrip
from opdash.components.trend import TrendView

__all__ = [
    "ActivityFeed",
    "AlertsView",
    "DataQuality",
    "Filters",
    "FunnelView",
    "GoalProgress",
    "JsonState",
    "KpiView",
    "MarkdownState",
    "PathsView",
    "RetentionView",
    "RunsView",
    "SqlView",
    "TodayStrip",
    "TrendView",
    "WorkflowChain",
]
