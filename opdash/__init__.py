"""opdash: a read-only analytical dashboard over a folder of exported operator artifacts.

>>> import opdash
>>> catalog = opdash.open("data/demo")
>>> opdash.funnel(catalog, ["signal.created", "candidate.created"]).to_frame()
"""

from __future__ import annotations

from opdash.catalog import Catalog, CatalogStats, RefreshReport, open_catalog, shared_catalog
from opdash.metrics.funnel import FunnelResult, FunnelStep, funnel

__version__ = "0.1.0"

open = open_catalog  # noqa: A001  (``opdash.open(path)`` is the front door)

__all__ = [
    "Catalog",
    "CatalogStats",
    "FunnelResult",
    "FunnelStep",
    "RefreshReport",
    "funnel",
    "open",
    "shared_catalog",
]
