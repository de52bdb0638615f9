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

from importlib import import_module
from typing import Any

#: Where each public name lives: imported on first use, so ``opdash funnel`` does not import
#: every metric, the snapshot writer and the spec checker.
_PUBLIC = {
    "Catalog": "opdash.catalog",
    "CatalogStats": "opdash.catalog",
    "RefreshReport": "opdash.catalog",
    "open_catalog": "opdash.catalog",
    "shared_catalog": "opdash.catalog",
    "ChainResult": "opdash.metrics.chain",
    "chain": "opdash.metrics.chain",
    "FunnelResult": "opdash.metrics.funnel",
    "FunnelStep": "opdash.metrics.funnel",
    "funnel": "opdash.metrics.funnel",
    "GoalsResult": "opdash.metrics.goals",
    "goals": "opdash.metrics.goals",
    "KpiResult": "opdash.metrics.kpi",
    "kpi": "opdash.metrics.kpi",
    "PipelineResult": "opdash.metrics.pipeline",
    "pipeline": "opdash.metrics.pipeline",
    "PathsResult": "opdash.metrics.paths",
    "path_entities": "opdash.metrics.paths",
    "paths": "opdash.metrics.paths",
    "QualityReport": "opdash.metrics.quality",
    "quality_report": "opdash.metrics.quality",
    "RetentionResult": "opdash.metrics.retention",
    "retention": "opdash.metrics.retention",
    "RunSnapshot": "opdash.metrics.runs",
    "RunsResult": "opdash.metrics.runs",
    "run_alerts": "opdash.metrics.runs",
    "run_snapshot": "opdash.metrics.runs",
    "run_tail": "opdash.metrics.runs",
    "runs": "opdash.metrics.runs",
    "SqlResult": "opdash.metrics.sql",
    "run_sql": "opdash.metrics.sql",
    "TodayResult": "opdash.metrics.today",
    "today": "opdash.metrics.today",
    "TrendResult": "opdash.metrics.trend",
    "trend": "opdash.metrics.trend",
    "write_snapshot": "opdash.snapshots",
    "check_folder": "opdash.spec",
}

__version__ = "0.1.0"


def open(  # noqa: A001  (the front door)
    root, *, portable: bool | None = None, engine: str = "duckdb", remote: str | None = None
):
    """The catalog of an artifact folder (``opdash.open(path)``); see opdash.catalog.
    ``engine="spark"`` reads it on Apache Spark (``remote``: a Spark Connect URL, default
    ``$OPDASH_SPARK_REMOTE``, else a local Spark): see docs/scale-out.md."""
    if engine != "duckdb":
        from opdash.catalog import open_catalog

        return open_catalog(root, engine=engine, remote=remote)
    from opdash.catalog import Catalog

    return Catalog(root, portable=portable)


def instant(text: str):
    """An aware datetime from RFC 3339 text (``2026-11-20T16:00:00Z``; no offset means UTC)."""
    from opdash.timeutil import parse_instant

    return parse_instant(text, name="instant")


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'opdash' has no attribute {name!r}")


def dashboard(folder, *, spec: str | None = None, refresh_seconds: int = 10) -> Any:
    """The whole dashboard of ``folder`` as a Panel object: inline in Jupyter, or
    ``.servable()`` under ``panel serve`` (see notebooks/dashboard.ipynb). Imports Panel."""
    from opdash.serving import dashboard as build

    return build(folder, spec_path=spec, refresh_seconds=refresh_seconds)


__all__ = [
    "Catalog",
    "CatalogStats",
    "ChainResult",
    "FunnelResult",
    "FunnelStep",
    "GoalsResult",
    "KpiResult",
    "PathsResult",
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
    "path_entities",
    "paths",
    "pipeline",
    "quality_report",
    "retention",
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
