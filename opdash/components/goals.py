"""GoalProgress: one bar per goal of the folder's goals.yaml, with its pace and status.

The numbers are ``opdash.metrics.goals`` (docs/goals-and-today.md) evaluated at the page's moment:
now, or the end of the last day shown. Bars are plain HTML and CSS (the rules are :data:`CSS`,
which the app adds to the page); every text from the goals file or the data is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import panel as pn

from opdash.catalog import Reads
from opdash.components.base import CatalogView
from opdash.display import number, percent
from opdash.metrics.goals import DEFAULT_BY, GOALS_FILE, GoalsResult, GoalStatus, goals

#: What each status is called on the page.
STATUS_LABELS = {
    "met": "Met",
    "on_track": "On track",
    "at_risk": "At risk",
    "behind": "Behind",
    "breached": "Breached",
    "no_data": "No data",
}

#: The smallest useful goals file, shown when the folder has none (from docs/goals-and-today.md).
EXAMPLE = """goals:
  - id: closed-trades-week
    title: Closed trades this week
    metric: count
    event: trade.closed
    target: 40
    period: week
    tz: Europe/Berlin"""

#: This component's stylesheet; the app adds it to the page (``opdash.components.style``).
CSS = """
.opdash-goals { display: flex; flex-direction: column; gap: 10px; }
.opdash-goal-asof { color: #6b7280; font-size: 12px; }
.opdash-goal { background: #fff; border: 1px solid #e5e7eb; border-left: 4px solid var(--goal-colour);
  border-radius: 10px; padding: 10px 14px; --goal-colour: #9ca3af; }
.opdash-goal-met { --goal-colour: #16a34a; }
.opdash-goal-on_track { --goal-colour: #2563eb; }
.opdash-goal-at_risk { --goal-colour: #d97706; }
.opdash-goal-behind { --goal-colour: #ea580c; }
.opdash-goal-breached { --goal-colour: #dc2626; }
.opdash-goal-no_data { --goal-colour: #9ca3af; }
.opdash-goal-head { display: flex; align-items: baseline; gap: 10px; }
.opdash-goal-title { font-weight: 600; color: #111827; }
.opdash-goal-direction { color: #6b7280; font-size: 12px; }
.opdash-goal-status { margin-left: auto; font-size: 12px; font-weight: 600; color: #fff;
  background: var(--goal-colour); border-radius: 999px; padding: 2px 10px; white-space: nowrap; }
.opdash-goal-bar { position: relative; height: 12px; background: #f3f4f6; border-radius: 6px;
  margin: 8px 0 6px; overflow: hidden; }
.opdash-goal-fill { position: absolute; left: 0; top: 0; bottom: 0; background: var(--goal-colour);
  border-radius: 6px; }
.opdash-goal-pace { position: absolute; top: 0; bottom: 0; width: 2px; margin-left: -1px;
  background: #111827; }
.opdash-goal-meta { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 13px; color: #374151; }
.opdash-goal-period { margin-left: auto; color: #6b7280; }
.opdash-goal-example { font-family: ui-monospace, monospace; white-space: pre; background: #f9fafb;
  padding: 10px; border-radius: 8px; margin-top: 8px; }
"""


class GoalProgress(CatalogView):
    """Every goal of the folder's goals.yaml at the page's moment: progress, pace, status.

    Reads the page's last day (and its zone: the day ends at local midnight) as the moment the
    goals are read at, else now. Each goal has its own period and time zone.
    """

    title = "Goals"
    summary = "Every goal of goals.yaml: progress, pace and status."
    uses_filters = ("end", "zone")
    uses_now = True

    def reads(self) -> Reads:
        """Events up to the moment read, and goals.yaml (see ``TodayStrip.reads``)."""
        return Reads(frozenset({"settings"}), horizon=self.filters.as_of())

    def data(self) -> GoalsResult:
        """The goals of ``goals.yaml`` evaluated at the page's moment (UsageError if invalid)."""
        return goals(self.catalog, as_of=self.filters.as_of())

    def key(self) -> Hashable:
        """The base key plus the goals file's size and modification time: the file is not part
        of the catalog's data version, so an edited goals.yaml must not hit a stale answer."""
        return (*super().key(), _file_stamp(Path(self.catalog.root) / GOALS_FILE))

    def draw(self, result: GoalsResult) -> Any:
        if not result.goals:
            return pn.pane.HTML(no_goals_html(result, self.catalog), sizing_mode="stretch_width")
        return pn.pane.HTML(goals_html(result), sizing_mode="stretch_width")


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


# -- drawing ------------------------------------------------------------------------------------


def no_goals_html(result: GoalsResult, catalog: Any) -> str:
    """An empty card: where goals come from, with a minimal example file (all escaped)."""
    root = getattr(catalog, "root", None)
    where = f"{root}/{GOALS_FILE}" if root is not None else GOALS_FILE
    if result.source is None:
        title = "No goals yet"
        body = f"Goals are read from {where}. A minimal one:"
    else:
        title = "No goals in the goals file"
        body = f"{result.source} lists no goals. A minimal one:"
    return (
        '<div class="opdash-card opdash-empty">'
        f'<div class="opdash-card-title">{html.escape(title)}</div>'
        f"<div>{html.escape(body)}</div>"
        f'<pre class="opdash-goal-example">{html.escape(EXAMPLE)}</pre></div>'
    )


def goals_html(result: GoalsResult, now: datetime | None = None) -> str:
    """Every goal as a bar, under a line saying when they are read and how many are met."""
    now = now or datetime.now(UTC)
    statuses = [g.status for g in result.goals]
    tally = ", ".join(
        f"{statuses.count(s)} {label.lower()}"
        for s, label in STATUS_LABELS.items()
        if s in statuses
    )
    head = f"As of {result.as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC · {tally}"
    bars = "".join(goal_html(g, now) for g in result.goals)
    return (
        f'<div class="opdash-goals"><div class="opdash-goal-asof">{html.escape(head)}</div>'
        f"{bars}</div>"
    )


def goal_html(g: GoalStatus, now: datetime | None = None) -> str:
    """One goal: title, status, the bar with its pace marker, numbers and period."""
    status = g.status if g.status in STATUS_LABELS else "no_data"
    fill = _fill(g)
    pace = min(max(g.expected_progress, 0.0), 1.0) * 100
    direction = "lower is better · a ceiling" if g.goal.direction == "down" else "higher is better"
    pace_note = f"expected pace by now: {g.expected_progress:.0%} of the period gone"
    return (
        f'<div class="opdash-goal opdash-goal-{status}">'
        '<div class="opdash-goal-head">'
        f'<span class="opdash-goal-title">{html.escape(g.goal.title or g.goal.id)}</span>'
        f'<span class="opdash-goal-direction">{html.escape(direction)}</span>'
        f'<span class="opdash-goal-status">{html.escape(STATUS_LABELS[status])}</span></div>'
        f'<div class="opdash-goal-bar" title="{html.escape(pace_note, quote=True)}">'
        f'<div class="opdash-goal-fill" style="width: {fill:.1f}%"></div>'
        f'<div class="opdash-goal-pace" style="left: {pace:.1f}%"></div></div>'
        '<div class="opdash-goal-meta">'
        f'<span class="opdash-goal-numbers">{html.escape(numbers_text(g))}</span>'
        f'<span class="opdash-goal-expected">{html.escape(pace_text(g))}</span>'
        f'<span class="opdash-goal-period">{html.escape(period_text(g, now))}</span>'
        "</div></div>"
    )


def _fill(g: GoalStatus) -> float:
    """The bar's filled share in percent, clipped to 0..100."""
    if g.progress is None:
        # a ceiling of 0: any event fills (breaches) it; no entrants: nothing to fill
        return 100.0 if g.goal.direction == "down" and g.actual else 0.0
    return min(max(g.progress, 0.0), 1.0) * 100


def unit(g: GoalStatus) -> str:
    """What the goal's numbers count, in words."""
    goal = g.goal
    if goal.kind == "count":
        return f"{goal.event} events"
    if goal.kind == "unique":
        what = "workflows" if goal.by == DEFAULT_BY else f"distinct {goal.by}"
        return f"{what} with {goal.event}"
    if goal.kind == "sum":
        return f"sum of {goal.path} over {goal.event}"
    return f"{goal.by} converting {' → '.join(goal.steps)}"


def rate_text(rate: float) -> str:
    """A rate in percent with at most one decimal: 0.55 → '55%', 0.125 → '12.5%'."""
    return f"{rate * 100:.1f}".rstrip("0").rstrip(".") + "%"


def numbers_text(g: GoalStatus) -> str:
    """'16 of 40 trade.closed events (40%)', a ceiling's 'used 6 of at most 10 …', a rate's %."""
    goal = g.goal
    if goal.kind == "conversion":
        actual = "–" if g.actual is None else rate_text(g.actual)
        rate = f"{actual} of a {rate_text(goal.target)} target"
        if goal.direction == "down":
            rate = f"{actual}, at most {rate_text(goal.target)}"
        detail = f"{g.converted or 0:,} of {g.entered or 0:,} entered ({unit(g)})"
        return f"{rate} ({percent(g.progress, 0)} of target) · {detail}"
    if goal.direction == "down":
        return (
            f"{number(g.actual, trim=True)} of at most {number(goal.target, trim=True)} {unit(g)} "
            f"({percent(g.progress, 0)} of the ceiling used)"
        )
    actual, target = number(g.actual, trim=True), number(goal.target, trim=True)
    return f"{actual} of {target} {unit(g)} ({percent(g.progress, 0)})"


def pace_text(g: GoalStatus) -> str:
    """Where the goal should be by now at an even pace."""
    goal = g.goal
    share = g.expected_progress
    if goal.kind == "conversion":
        return f"{share:.0%} of the period gone"
    digits = 2 if goal.kind == "sum" else 1
    by_now = number(round(float(goal.target) * share, digits), trim=True)
    if goal.direction == "down":
        return f"{share:.0%} of the period gone: at most {by_now} by now keeps pace"
    return f"{share:.0%} of the period gone: {by_now} by now keeps pace"


PERIOD_NAMES = {
    "day": "today",
    "week": "this week",
    "month": "this month",
    "quarter": "this quarter",
}


def period_text(g: GoalStatus, now: datetime | None = None) -> str:
    """'this week · 2026-11-16 – 2026-11-22 (Europe/Berlin)'; past periods by their dates only."""
    now = now or datetime.now(UTC)
    start = g.period_start
    last = (g.period_end - timedelta(microseconds=1)).astimezone(start.tzinfo)
    days = start.strftime("%Y-%m-%d")
    if g.goal.period != "day":
        days += f" – {last:%Y-%m-%d}"
    current = start.astimezone(UTC) <= now.astimezone(UTC) < g.period_end.astimezone(UTC)
    name = PERIOD_NAMES.get(g.goal.period, g.goal.period) if current else g.goal.period
    return f"{name} · {days} ({g.goal.tz})"
