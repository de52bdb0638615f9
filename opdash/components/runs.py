"""RunsView: every run's status, staleness and last activity, and the alerts raised, open ones first."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param

from opdash.components.base import CatalogView, card_html, empty_card
from opdash.components.tables import plain_table
from opdash.metrics.runs import STALE_AFTER_SECONDS, RunRow, RunsResult, runs
from opdash.timeutil import format_seconds


class RunsView(CatalogView):
    """Runs as of the page's moment (now, or the end of its last day), filtered to its run."""

    title = "Runs"
    uses_filters = ("end", "run")
    uses_now = True

    stale_after = param.Integer(
        default=STALE_AFTER_SECONDS,
        bounds=(1, None),
        doc="Seconds without a heartbeat or event after which a running run is stale",
    )

    def data(self) -> RunsResult:
        return runs(
            self.catalog,
            as_of=self.filters.as_of(),
            run=self.filters.run.strip(),
            stale_after=self.stale_after,
        )

    def draw(self, result: RunsResult) -> Any:
        if not result.runs:
            return empty_card(
                "No runs", "Runs appear here from runs/<run_id>/run.json in the artifact folder."
            )
        open_alerts = sum(1 for a in result.alerts if a.open)
        stale = sum(1 for r in result.runs if r.stale)
        unreadable = sum(1 for r in result.runs if r.error)
        problems = [f"{stale:,} stale"] if stale else []
        problems += [f"{unreadable:,} unreadable"] if unreadable else []
        summary = " · ".join(
            [
                f"{len(result.runs):,} runs",
                *problems,
                f"{open_alerts:,} open alerts",
                f"as of {result.as_of:%Y-%m-%d %H:%M} UTC",
                f"stale after {format_seconds(result.stale_after_seconds)} without a sign of life",
            ]
        )
        tone = "warning" if open_alerts or problems else "ok"
        run_frame = pd.DataFrame(
            {
                "run": [r.run_id for r in result.runs],
                "name": [r.name or "" for r in result.runs],
                "kind": [r.kind or "" for r in result.runs],
                "status": [_status(r) for r in result.runs],
                "started": [_when(r.started_at) for r in result.runs],
                "duration": [format_seconds(r.duration_seconds) for r in result.runs],
                "last activity": [_when(r.last_activity_at) for r in result.runs],
                "events": [r.events for r in result.runs],
                "open alerts": [_open_alerts(r) for r in result.runs],
            }
        )
        parts: list[Any] = [
            pn.pane.HTML(card_html("Runs", summary, tone=tone), sizing_mode="stretch_width"),
            plain_table(run_frame),
        ]
        if result.alerts:
            alert_frame = pd.DataFrame(
                {
                    "state": ["open" if a.open else "resolved" for a in result.alerts],
                    "severity": [a.severity or "" for a in result.alerts],
                    "title": [a.title or "" for a in result.alerts],
                    "run": [a.run_id for a in result.alerts],
                    "raised": [_when(a.raised_at) for a in result.alerts],
                    "resolved": [_when(a.resolved_at) if not a.open else "" for a in result.alerts],
                }
            )
            parts += [pn.pane.HTML("<h3>Alerts</h3>"), plain_table(alert_frame, max_height=360)]
        return pn.Column(*parts, sizing_mode="stretch_width")


def _status(run: RunRow) -> str:
    if run.error:
        return run.error
    return f"{run.status or '–'} · stale" if run.stale else run.status or "–"


def _open_alerts(run: RunRow) -> str:
    """``2 (critical 1, warning 1)``: how many, and of which severities."""
    parts = [f"{severity} {n}" for severity, n in run.open_by_severity.items() if n]
    return f"{run.open_alerts} ({', '.join(parts)})" if parts else str(run.open_alerts)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "–"
