"""RunsView: every run's status, staleness and last activity, and the alerts raised, open ones first."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
import panel as pn
import param

from opdash.components.base import CatalogView, card_html, empty_card
from opdash.components.tables import plain_table
from opdash.display import utc_time
from opdash.metrics.runs import (
    ALERT_STATES,
    SEVERITIES,
    STALE_AFTER_SECONDS,
    AlertRow,
    RunRow,
    RunSnapshot,
    RunsResult,
    narrowed,
    run_snapshot,
    runs,
)
from opdash.timeutil import format_seconds


@dataclass(frozen=True)
class RunsPage:
    """What the Runs page shows: every run, the alerts its filters keep, one run's detail."""

    result: RunsResult
    alerts: list[AlertRow]  # of every run, filtered by severity and state
    detail: RunSnapshot | None  # the open run (None: none open, or no such run)


class RunsView(CatalogView):
    """Runs as of the page's moment (now, or the end of its last day), filtered to its run.

    Click a run for its detail (metadata, newest events, its alerts) under the table; the alerts
    across runs can be narrowed by severity and by open / resolved. Watch-only: nothing here
    starts, stops or changes a run.
    """

    title = "Runs"
    summary = "Every run's status, staleness and last activity, and the alerts."
    uses_filters = ("end", "run")
    uses_now = True

    detail = param.String(default="", doc="Run whose detail is open under the runs table.")
    severity = param.Selector(default="all", objects=["all", *SEVERITIES])
    state = param.Selector(default="all", objects=list(ALERT_STATES))
    stale_after = param.Integer(
        default=STALE_AFTER_SECONDS,
        bounds=(1, None),
        precedence=-1,  # a server setting, not a page choice: not in the URL
        doc="Seconds without a heartbeat or event after which a running run is stale",
    )

    def __init__(self, catalog=None, filters=None, **params: Any) -> None:
        super().__init__(catalog=catalog, filters=filters, **params)
        self._shown: list[RunRow] = []

    def data(self) -> RunsPage:
        as_of = self.filters.as_of()
        result = runs(
            self.catalog, as_of=as_of, run=self.filters.run.strip(), stale_after=self.stale_after
        )
        severity = None if self.severity == "all" else self.severity
        alerts = narrowed(result.alerts, severity=severity, state=self.state)
        detail = None
        if self.detail.strip():
            detail = run_snapshot(
                self.catalog, self.detail.strip(), as_of=as_of, stale_after=self.stale_after
            )
        return RunsPage(result, alerts, detail)

    def controls(self) -> pn.Row:
        return pn.Row(
            pn.widgets.Select.from_param(self.param.severity, label="Alert severity"),
            pn.widgets.Select.from_param(self.param.state, label="Alert state"),
            pn.widgets.TextInput.from_param(
                self.param.detail, label="Run detail", placeholder="click a run, or type its id"
            ),
            sizing_mode="stretch_width",
        )

    def draw(self, page: RunsPage) -> Any:
        result = page.result
        if not result.runs:
            return empty_card(
                "No runs", "Runs appear here from runs/<run_id>/run.json in the artifact folder."
            )
        table = plain_table(_runs_frame(result.runs))
        self._shown = result.runs  # the click reads the rows shown now (redrawn in place)
        table.on_click(self._open_detail)
        parts: list[Any] = [
            pn.pane.HTML(_summary_card(result), sizing_mode="stretch_width"),
            pn.pane.HTML("<small>Click a run for its detail.</small>", margin=(0, 10)),
            table,
        ]
        if self.detail.strip():
            parts += _detail(self.detail.strip(), page.detail)
        parts += alerts_section(page.alerts, self.severity, self.state)
        return pn.Column(*parts, sizing_mode="stretch_width")

    def _open_detail(self, event: Any) -> None:
        if event.row is not None and 0 <= event.row < len(self._shown):
            self.detail = self._shown[event.row].run_id


def _summary_card(result: RunsResult) -> str:
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
    return card_html("Runs", summary, tone="warning" if open_alerts or problems else "ok")


def _runs_frame(rows: list[RunRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run": [r.run_id for r in rows],
            "name": [r.name or "" for r in rows],
            "kind": [r.kind or "" for r in rows],
            "status": [_status(r) for r in rows],
            "started": [utc_time(r.started_at) for r in rows],
            "duration": [format_seconds(r.duration_seconds) for r in rows],
            "last activity": [utc_time(r.last_activity_at) for r in rows],
            "events": [r.events for r in rows],
            "open alerts": [_open_alerts(r) for r in rows],
        }
    )


def _alerts_frame(alerts: list[AlertRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "state": ["open" if a.open else "resolved" for a in alerts],
            "severity": [a.severity or "" for a in alerts],
            "title": [a.title or "" for a in alerts],
            "message": [a.message or "" for a in alerts],
            "run": [a.run_id for a in alerts],
            "raised": [utc_time(a.raised_at) for a in alerts],
            "resolved": [utc_time(a.resolved_at) if not a.open else "" for a in alerts],
        }
    )


def alerts_section(alerts: list[AlertRow], severity: str, state: str) -> list[Any]:
    """The alerts table under its heading (which says how it is narrowed), or an empty card."""
    chosen = [v for v in (severity, state) if v != "all"]
    parts: list[Any] = [pn.pane.HTML(f"<h3>Alerts ({', '.join(chosen) or 'all'})</h3>")]
    if alerts:
        parts.append(plain_table(_alerts_frame(alerts), max_height=360))
    else:
        parts.append(empty_card("No alerts", "No alert matches the chosen severity and state."))
    return parts


def _detail(run_id: str, snapshot: RunSnapshot | None) -> list[Any]:
    """A run's metadata, newest events and alerts; text only, secrets already masked."""
    if snapshot is None:
        return [empty_card(f"No run {run_id}", "No run with that id had started by then.")]
    run = snapshot.run
    facts = [
        ("status", _status(run)),
        ("kind", run.kind or "–"),
        ("started", utc_time(run.started_at)),
        ("ended", utc_time(run.ended_at)),
        ("last heartbeat", utc_time(run.heartbeat_at)),
        ("events", f"{run.events:,}"),
        ("open alerts", _open_alerts(run)),
    ]
    fact_html = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts
    )
    params = json.dumps(snapshot.params, indent=2, ensure_ascii=False, sort_keys=True)
    tags = ", ".join(str(t) for t in snapshot.tags) if isinstance(snapshot.tags, list) else ""
    header = (
        f"<h3>Run {html.escape(run.run_id)} · {html.escape(run.name or '')}</h3>"
        f'<table class="opdash-facts">{fact_html}</table>'
        f"<p>tags: {html.escape(tags or '–')}</p>"
        '<pre style="white-space: pre-wrap; font: 12px ui-monospace, monospace">'
        f"{html.escape(params)}</pre>"
    )
    events = pd.DataFrame(
        {
            "time": [e["occurred_at"][:19].replace("T", " ") for e in snapshot.last_events],
            "event type": [e["event_type"] for e in snapshot.last_events],
            "actor": [e["actor"]["id"] or "" for e in snapshot.last_events],
            "payload": [
                json.dumps(e["payload"], ensure_ascii=False, sort_keys=True)[:200]
                for e in snapshot.last_events
            ],
        }
    )
    parts: list[Any] = [pn.pane.HTML(header, sizing_mode="stretch_width")]
    parts.append(pn.pane.HTML(f"<h4>Newest {len(events)} events (oldest first)</h4>"))
    parts.append(plain_table(events, max_height=320))
    if snapshot.alerts:
        parts.append(pn.pane.HTML(f"<h4>Its {len(snapshot.alerts)} alerts (open first)</h4>"))
        parts.append(plain_table(_alerts_frame(snapshot.alerts)))
    return parts


def _status(run: RunRow) -> str:
    if run.error:
        return run.error
    return f"{run.status or '–'} · stale" if run.stale else run.status or "–"


def _open_alerts(run: RunRow) -> str:
    """``2 (critical 1, warning 1)``: how many, and of which severities."""
    parts = [f"{severity} {n}" for severity, n in run.open_by_severity.items() if n]
    return f"{run.open_alerts} ({', '.join(parts)})" if parts else str(run.open_alerts)
