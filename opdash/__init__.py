"""opdash: a read-only analytical dashboard over a folder of exported operator artifacts.

The public API — what the notebooks use:

>>> import opdash
>>> catalog = opdash.open("data/demo")                       # DuckDB catalog of the folder
>>> opdash.funnel(catalog, ["signal.created", "candidate.created"]).to_frame()
>>> opdash.trend(catalog, "trade.closed", interval="week", tz="Europe/Berlin")
>>> opdash.goals(catalog, as_of="2026-11-20T16:00:00Z").to_frame()
>>> opdash.runs(catalog, as_of=opdash.instant("2026-11-20T16:00:00Z"))
>>> opdash.dashboard("data/demo")                            # the whole app (imports Panel)

Components (Panel views) are in :mod:`opdash.components`.
"""

from __future__ import annotations

from typing import Any

from opdash.catalog import Catalog, CatalogStats, RefreshReport, open_catalog, shared_catalog
from opdash.metrics.chain import ChainResult, chain
from opdash.metrics.funnel import FunnelResult, FunnelStep, funnel
from opdash.metrics.goals import GoalsResult, goals
from opdash.metrics.kpi import KpiResult, kpi
from opdash.metrics.pipeline import PipelineResult, pipeline
from opdash.metrics.quality import QualityReport, quality_report
from opdash.metrics.runs import RunSnapshot, RunsResult, run_alerts, run_snapshot, run_tail, runs
from opdash.metrics.sql import SqlResult, run_sql
from opdash.metrics.today import TodayResult, today
from opdash.metrics.trend import TrendResult, trend
from opdash.snapshots import write_snapshot
from opdash.spec import check_folder
from opdash.timeutil import parse_instant

__version__ = "0.1.0"

open = open_catalog  # noqa: A001  (``opdash.open(path)`` is the front door)


def instant(text: str):
    """An aware datetime from RFC 3339 text (``2026-11-20T16:00:00Z``; no offset means UTC)."""
    return parse_instant(text, name="instant")


def dashboard(folder, *, spec: str | None = None, refresh_seconds: int = 10) -> Any:
    """The whole dashboard of ``folder`` as a Panel object: inline in Jupyter, or
    ``.servable()`` under ``panel serve`` (see notebooks/dashboard.ipynb). Imports Panel."""
    from opdash.app import dashboard as build

    return build(folder, spec_path=spec, refresh_seconds=refresh_seconds)


__all__ = [
    "Catalog",
    "CatalogStats",
    "ChainResult",
    "FunnelResult",
    "FunnelStep",
    "GoalsResult",
    "KpiResult",
    "PipelineResult",
    "QualityReport",
    "RefreshReport",
    "RunSnapshot",
    "RunsResult",
    "SqlResult",
    "TodayResult",
    "TrendResult",
    "chain",
    "check_folder",
    "dashboard",
    "funnel",
    "goals",
    "instant",
    "kpi",
    "open",
    "pipeline",
    "quality_report",
    "run_alerts",
    "run_snapshot",
    "run_sql",
    "run_tail",
    "runs",
    "shared_catalog",
    "today",
    "trend",
    "write_snapshot",
]
