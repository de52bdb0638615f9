"""TodayStrip: the operator loop's local day so far, as KPI cards.

Counts per loop event type, the loop conversion strip and the task accept rate for the day of
the page's as-of moment in its zone; the tasks waiting for a decision, open alerts by severity
and the last coach insight (any day up to as-of). Definitions: docs/goals-and-today.md.

Every string that comes from the data (ids, titles, severities, insight text) is escaped: it is
shown as text, never interpreted as HTML.
"""

from __future__ import annotations

import html
from datetime import UTC, date
from typing import Any

import panel as pn

from opdash import calendar
from opdash.catalog import Reads
from opdash.components.base import CatalogView
from opdash.metrics.scope import scoped
from opdash.metrics.today import TodayResult, today
from opdash.timeutil import human_duration

#: A human label per loop event type, in the order of LOOP_TYPES.
LABELS = {
    "signal.created": "Signals",
    "candidate.created": "Candidates",
    "trade.plan.created": "Plans",
    "trade.executed": "Executions",
    "trade.closed": "Closed",
    "coach.analysis.generated": "Coach analyses",
    "strategy.rule.suggested": "Rules suggested",
    "journal.updated": "Journal updates",
    "journal.completed": "Journals completed",
    "task.created": "Tasks created",
    "task.accepted": "Tasks accepted",
    "task.rejected": "Tasks rejected",
    "alert.triggered": "Alerts triggered",
}

#: Pending tasks listed by name (oldest first); the rest are only counted.
TASKS_SHOWN = 5
#: Characters of the coach insight shown; the full text is in the tooltip.
INSIGHT_CHARS = 280
#: Severity order on the page (unknown ones after these, alphabetically).
SEVERITY_ORDER = ("critical", "high", "warning", "info", "other")

CSS = """
.opdash-today-head { display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap;
  font-size: 15px; color: #374151; margin: 4px 0 8px; }
.opdash-today-head-title { font-weight: 700; font-size: 18px; color: #111827; }
.opdash-today-counts .opdash-kpi { flex: 1 1 120px; }
.opdash-today-zero .opdash-kpi-value { color: #9ca3af; }
.opdash-today-strip { display: flex; gap: 8px; flex-wrap: wrap; align-items: stretch; }
.opdash-today-step { flex: 1 1 130px; background: #f8fafc; border: 1px solid #e5e7eb;
  border-radius: 10px; padding: 8px 12px; }
.opdash-today-step-label { color: #6b7280; font-size: 12px; }
.opdash-today-step-value { font-size: 20px; font-weight: 600; color: #1d4ed8; }
.opdash-today-step-none .opdash-today-step-value { color: #9ca3af; }
.opdash-today-accept { background: #eff6ff; border-color: #bfdbfe; }
.opdash-today-grid { display: flex; gap: 12px; flex-wrap: wrap; }
.opdash-today-box { flex: 1 1 320px; background: #fff; border: 1px solid #e5e7eb;
  border-radius: 10px; padding: 12px 16px; }
.opdash-today-box-title { font-weight: 600; margin-bottom: 6px; color: #111827; }
.opdash-today-muted { color: #6b7280; font-size: 13px; }
.opdash-today-tasks { width: 100%; border-collapse: collapse; font-size: 13px; margin-top: 6px; }
.opdash-today-tasks td { padding: 3px 6px; border-top: 1px solid #f3f4f6; vertical-align: top; }
.opdash-today-task-id { font-family: ui-monospace, monospace; white-space: nowrap; }
.opdash-today-task-age { white-space: nowrap; color: #6b7280; }
.opdash-today-alerts { display: flex; gap: 8px; flex-wrap: wrap; margin-top: 4px; }
.opdash-today-sev { border-radius: 999px; padding: 3px 12px; font-size: 13px; font-weight: 600;
  border: 1px solid #d1d5db; background: #f3f4f6; color: #374151; }
.opdash-today-sev-red { background: #fef2f2; border-color: #fecaca; color: #b91c1c; }
.opdash-today-sev-amber { background: #fffbeb; border-color: #fde68a; color: #b45309; }
.opdash-today-sev-grey { background: #f3f4f6; border-color: #d1d5db; color: #4b5563; }
.opdash-today-insight-text { white-space: pre-wrap; color: #111827; }
.opdash-today-empty { background: #f9fafb; border: 1px dashed #d1d5db; border-radius: 10px;
  padding: 12px 16px; color: #4b5563; }
"""


class TodayStrip(CatalogView):
    """The local day so far: loop counts, conversion strip, pending tasks, alerts, insight.

    Reads the page's last day (``end``; none: today), zone, actors, run and workflow. The event
    types filter does not apply: the loop's types are this view's own choice.
    """

    title = "Today"
    summary = (
        "The local day so far: loop counts, conversion strip, pending tasks, alerts, the "
        "latest insight."
    )
    uses_filters = ("end", "zone", "actors", "run", "workflow")
    uses_now = True

    def reads(self) -> Reads:
        """Events up to the moment read, of the chosen actors, and alerts (not runs: a live
        run's heartbeat does not move Today): a refresh that only brought newer events (a live
        exporter, the page pinned to an earlier day) or other actors' keeps the answer."""
        return Reads(
            frozenset({"alerts"}),
            horizon=self.filters.as_of(),
            actors=frozenset(self.filters.actors) or None,
        )

    def data(self) -> TodayResult:
        """Today's answer for the current filters (no drawing)."""
        return today(
            scoped(self.catalog, self.filters.scope().without_types()),
            as_of=self.filters.as_of(),
            tz=self.filters.zone,
        )

    def draw(self, result: TodayResult) -> Any:
        tz = calendar.zone(result.tz)
        local_as_of = result.as_of.astimezone(tz)
        day = local_as_of.date()
        parts: list[Any] = [_html(header_html(result))]
        if any(result.counts.values()):
            parts.append(_html(counts_html(result)))
            parts.append(_html(strip_html(result)))
        else:
            parts.append(_html(_empty_html(day)))
            newest = self._newest_day(tz)
            if newest is not None and newest < day:
                button = pn.widgets.Button(
                    label=f"Show {format_day(newest)}", color="primary", width=220
                )
                button.on_click(lambda _event: setattr(self.filters, "end", newest))
                parts.append(button)
        parts.append(
            _html(f'<div class="opdash-today-grid">{tasks_html(result)}{alerts_html(result)}</div>')
        )
        parts.append(_html(insight_html(result)))
        return pn.Column(*parts, sizing_mode="stretch_width")

    def _newest_day(self, tz) -> date | None:
        """The local day of the catalog's newest event (any filter), or None without events."""
        newest = self.catalog.stats().last_event_at
        if newest is None:
            return None
        if newest.tzinfo is None:  # DuckDB hands TIMESTAMPTZ back aware; be safe anyway
            newest = newest.replace(tzinfo=UTC)
        return newest.astimezone(tz).date()


# -- pieces of HTML (every data string escaped) ----------------------------------------------


def format_day(day: date) -> str:
    """``Sun 22 Nov 2026`` (English names, no zero padding of the day)."""
    return f"{day:%a} {day.day} {day:%b %Y}"


def header_html(result: TodayResult) -> str:
    local = result.as_of.astimezone(calendar.zone(result.tz))
    return (
        '<div class="opdash-today-head"><span class="opdash-today-head-title">Today</span>'
        f"<span>· {_e(format_day(local.date()))} ({_e(result.tz)})</span>"
        f'<span class="opdash-today-muted">· as of {local:%H:%M}</span></div>'
    )


def counts_html(result: TodayResult) -> str:
    cards = []
    for event_type, n in result.counts.items():
        zero = " opdash-today-zero" if n == 0 else ""
        cards.append(
            f'<div class="opdash-kpi opdash-today-count{zero}" title="{_e(event_type)}">'
            f'<div class="opdash-kpi-label">{_e(LABELS.get(event_type, event_type))}</div>'
            f'<div class="opdash-kpi-value">{n:,}</div></div>'
        )
    return f'<div class="opdash-kpis opdash-today-counts">{"".join(cards)}</div>'


def strip_html(result: TodayResult) -> str:
    steps = [
        _step(step["label"], step["rate"], f"{step['to']} ÷ {step['from']} today")
        for step in result.conversion
    ]
    steps.append(
        _step(
            "Task accept rate",
            result.task_accept_rate,
            "task.accepted ÷ (task.accepted + task.rejected) today",
            extra=" opdash-today-accept",
        )
    )
    return f'<div class="opdash-today-strip">{"".join(steps)}</div>'


def _step(label: str, rate: float | None, hint: str, *, extra: str = "") -> str:
    none = " opdash-today-step-none" if rate is None else ""
    return (
        f'<div class="opdash-today-step{extra}{none}" title="{_e(hint)}">'
        f'<div class="opdash-today-step-label">{_e(label)}</div>'
        f'<div class="opdash-today-step-value">{_e(pct(rate))}</div></div>'
    )


def pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.1%}"


def tasks_html(result: TodayResult) -> str:
    tasks = result.pending_tasks
    head = f'<div class="opdash-today-box-title">Pending tasks: {len(tasks):,}</div>'
    if not tasks:
        return (
            f'<div class="opdash-today-box opdash-today-pending">{head}'
            '<div class="opdash-today-muted">Nothing waits for a decision.</div></div>'
        )
    oldest = (
        f'<div class="opdash-today-muted">oldest waiting '
        f"{_e(human_duration(tasks[0].age_seconds))}</div>"
    )
    rows = "".join(
        "<tr>"
        f'<td class="opdash-today-task-id">{_e(t.task_id)}</td>'
        f'<td class="opdash-today-task-age">{_e(human_duration(t.age_seconds))}</td>'
        f'<td class="opdash-today-task-title">{_e(t.title if t.title else "(no title)")}</td>'
        "</tr>"
        for t in tasks[:TASKS_SHOWN]
    )
    more = len(tasks) - TASKS_SHOWN
    tail = f'<div class="opdash-today-muted">and {more:,} more</div>' if more > 0 else ""
    return (
        f'<div class="opdash-today-box opdash-today-pending">{head}{oldest}'
        f'<table class="opdash-today-tasks">{rows}</table>{tail}</div>'
    )


def severity_tone(severity: str) -> str:
    """red for critical/high, amber for warning, grey for anything else."""
    severity = severity.lower()
    if severity in ("critical", "high"):
        return "red"
    return "amber" if severity == "warning" else "grey"


def alerts_html(result: TodayResult) -> str:
    alerts = {k: v for k, v in result.open_alerts.items() if k != "total"}
    total = result.open_alerts.get("total", sum(alerts.values()))
    head = f'<div class="opdash-today-box-title">Open alerts: {total:,}</div>'
    shown = sorted(
        ((k, n) for k, n in alerts.items() if n),
        key=lambda kv: (_rank(kv[0]), kv[0]),
    )
    if not shown:
        body = '<div class="opdash-today-muted">No open alerts.</div>'
    else:
        chips = "".join(
            f'<span class="opdash-today-sev opdash-today-sev-{severity_tone(k)}">'
            f"{_e(k)} {n:,}</span>"
            for k, n in shown
        )
        body = f'<div class="opdash-today-alerts">{chips}</div>'
    return f'<div class="opdash-today-box opdash-today-open-alerts">{head}{body}</div>'


def _rank(severity: str) -> int:
    lowered = severity.lower()
    return SEVERITY_ORDER.index(lowered) if lowered in SEVERITY_ORDER else len(SEVERITY_ORDER)


def insight_html(result: TodayResult) -> str:
    insight = result.latest_insight
    head = '<div class="opdash-today-box-title">Last coach insight</div>'
    if insight is None:
        return (
            f'<div class="opdash-today-box opdash-today-insight">{head}'
            '<div class="opdash-today-muted">No coach analysis yet.</div></div>'
        )
    tz = calendar.zone(result.tz)
    ago = (result.as_of - insight.occurred_at).total_seconds()
    when = f"{insight.occurred_at.astimezone(tz):%Y-%m-%d %H:%M} ({human_duration(ago)} ago)"
    where = f" · {insight.workflow_id}" if insight.workflow_id else ""
    text = insight.text or "(no text)"
    return (
        f'<div class="opdash-today-box opdash-today-insight">{head}'
        f'<div class="opdash-today-insight-text" title="{_e(text)}">{_e(truncate(text))}</div>'
        f'<div class="opdash-today-muted">{_e(when + where)}</div></div>'
    )


def truncate(text: str, limit: int = INSIGHT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _empty_html(day: date) -> str:
    return f'<div class="opdash-today-empty">No loop events on {_e(format_day(day))}.</div>'


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _html(markup: str) -> pn.pane.HTML:
    return pn.pane.HTML(markup, sizing_mode="stretch_width")


__all__ = ["CSS", "LABELS", "TodayStrip"]
