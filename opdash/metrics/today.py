"""Today: the operator loop's day so far, the tasks waiting for a decision, open alerts, and the
latest coach insight.

"Today" is the local calendar day of ``as_of`` in ``tz``: ``[local midnight, as_of]``, both ends
inclusive. Pending tasks, open alerts and the latest insight look at everything up to ``as_of``,
not only today. Definitions: docs/goals-and-today.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ibis

from opdash.masking import mask_text
from opdash.metrics.scope import run_on_shared, run_shaped
from opdash.timeutil import to_micros

LOOP_TYPES = (
    "signal.created",
    "candidate.created",
    "trade.plan.created",
    "trade.executed",
    "trade.closed",
    "coach.analysis.generated",
    "strategy.rule.suggested",
    "journal.updated",
    "journal.completed",
    "task.created",
    "task.accepted",
    "task.rejected",
    "alert.triggered",
)
#: The operator loop's funnel: signal → candidate → plan → execution → close → coach.
LOOP_STEPS = LOOP_TYPES[:6]

#: The loop conversion strip: (label, from type, to type); each rate is count(to) / count(from).
STRIP = (
    ("Signal→Candidate", "signal.created", "candidate.created"),
    ("Candidate→Plan", "candidate.created", "trade.plan.created"),
    ("Plan→Execution", "trade.plan.created", "trade.executed"),
    ("Execution→Closed", "trade.executed", "trade.closed"),
    ("Closed→Coach", "trade.closed", "coach.analysis.generated"),
)
SEVERITIES = ("info", "warning", "critical")
TASK_DECISIONS = ("task.accepted", "task.rejected")
TASK_CREATED = "task.created"
COACH = "coach.analysis.generated"
_US = 1_000_000


def default_steps(event_types: list[str]) -> list[str]:
    """The funnel shown first: the loop's steps the data has, else the most frequent types
    (up to 4). ``event_types``: most frequent first."""
    present = [s for s in LOOP_STEPS if s in event_types]
    return present if len(present) >= 2 else event_types[:4]


@dataclass(frozen=True)
class PendingTask:
    """A created task with no accept/reject decision up to as-of."""

    task_id: str
    title: str | None
    created_at: datetime
    age_seconds: float
    workflow_id: str | None
    event_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "title": self.title,
            "created_at": self.created_at.isoformat(),
            "age_seconds": self.age_seconds,
            "workflow_id": self.workflow_id,
            "event_id": self.event_id,
        }


@dataclass(frozen=True)
class Insight:
    """The newest coach.analysis.generated event at or before as-of."""

    occurred_at: datetime
    workflow_id: str | None
    event_id: str
    text: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "occurred_at": self.occurred_at.isoformat(),
            "workflow_id": self.workflow_id,
            "event_id": self.event_id,
            "text": self.text,
        }


@dataclass(frozen=True)
class TodayResult:
    """The day so far; see the module docstring for each definition."""

    as_of: datetime
    tz: str
    day_start: datetime
    counts: dict[str, int]
    pending_tasks: list[PendingTask]
    open_alerts: dict[str, int]
    latest_insight: Insight | None

    @property
    def conversion(self) -> list[dict[str, Any]]:
        out = []
        for label, src, dst in STRIP:
            before, after = self.counts[src], self.counts[dst]
            out.append(
                {"label": label, "from": src, "to": dst, "rate": after / before if before else None}
            )
        return out

    @property
    def task_accept_rate(self) -> float | None:
        accepted, rejected = self.counts["task.accepted"], self.counts["task.rejected"]
        return accepted / (accepted + rejected) if accepted + rejected else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "tz": self.tz,
            "day_start": self.day_start.isoformat(),
            "counts": dict(self.counts),
            "conversion": self.conversion,
            "task_accept_rate": self.task_accept_rate,
            "pending_tasks": {
                "count": len(self.pending_tasks),
                "tasks": [t.to_dict() for t in self.pending_tasks],
            },
            "open_alerts": dict(self.open_alerts),
            "latest_insight": self.latest_insight.to_dict() if self.latest_insight else None,
        }

    def to_frame(self):
        """Today's counts per loop event type."""
        import pandas as pd

        frame = pd.DataFrame({"event_type": list(self.counts), "count": list(self.counts.values())})
        return frame.set_index("event_type")


def today(catalog, *, as_of: str | datetime | None = None, tz: str | None = "UTC") -> TodayResult:
    """The day of ``as_of`` (default now) in ``tz`` (an IANA zone, default UTC)."""
    from opdash.calendar import local_midnight, zone
    from opdash.timeutil import parse_instant

    zone_info = zone(tz)
    as_of_t = parse_instant(as_of, name="as-of") or datetime.now(UTC)
    day_start = local_midnight(as_of_t.astimezone(zone_info).date(), zone_info)
    as_of_us = to_micros(as_of_t)
    return TodayResult(
        as_of=as_of_t,
        tz=zone_info.key,
        day_start=day_start,
        counts=_counts(catalog, to_micros(day_start), as_of_us),
        pending_tasks=_pending(catalog, as_of_t, as_of_us),
        open_alerts=_open_alerts(catalog, as_of_us),
        latest_insight=_latest_insight(catalog, as_of_us),
    )


def _events_until(catalog, as_of_us):
    from opdash.metrics.sqlfuncs import functions

    events = catalog.table("events")
    events = events.mutate(us=functions(catalog).epoch_us(events.occurred_at))
    return events.filter(events.us <= as_of_us)


def _counts(catalog, start_us: int, as_of_us: int) -> dict[str, int]:
    def build(view, v):
        events = _events_until(view, v["as_of"])
        rows = events.filter(events.us >= v["start"], events.event_type.isin(LOOP_TYPES))
        return rows.group_by("event_type").aggregate(n=rows.count())

    found = run_shaped(catalog, "today counts", build, start=start_us, as_of=as_of_us)
    counts = dict.fromkeys(LOOP_TYPES, 0)
    for event_type, n in zip(found["event_type"], found["n"], strict=True):
        counts[event_type] = int(n)
    return counts


def _pending(catalog, as_of: datetime, as_of_us: int) -> list[PendingTask]:
    rows = run_on_shared(
        catalog,
        "today tasks",
        _task_events,
        _pending_at,
        event_types=(TASK_CREATED, *TASK_DECISIONS),
        as_of=as_of_us,
    )
    out = []
    for row in rows.itertuples(index=False):
        created_at = _aware(row.occurred_at)
        out.append(
            PendingTask(
                task_id=row.task,
                title=mask_text(_str(row.title)),
                created_at=created_at,
                age_seconds=(as_of_us - int(row.us)) / _US,
                workflow_id=_str(row.workflow_id),
                event_id=row.event_id,
            )
        )
    return out


def _task_events(view, keep: tuple[str, ...]):
    """Every ``task.created`` and decision event with its task, time, title and the columns
    the filters read (``keep``): computed once for the whole folder, asked "pending at?" for
    any filters (``_pending_at``)."""
    from opdash.metrics.scope import with_columns
    from opdash.metrics.sqlfuncs import functions

    fns = functions(view)
    epoch_us, field = fns.epoch_us, fns.field
    events = view.table("events")
    events = events.filter(events.event_type.isin([TASK_CREATED, *TASK_DECISIONS]))
    return events.select(
        *with_columns(keep, "event_type", "event_id", "occurred_at", "workflow_id"),
        us=epoch_us(events.occurred_at),
        task=ibis.coalesce(field(events, "payload.task_id"), events.entity_id, events.event_id),
        title=field(events, "payload.title"),
    )


def _pending_at(events, v):
    """Tasks created by ``as_of`` and not decided by then, oldest first. A task is its first
    ``task.created`` event (the first of those up to ``as_of`` too); its first decision
    decides it."""
    as_of = v["as_of"]
    created = events.filter(events.event_type == TASK_CREATED)
    created = created.mutate(
        nth=ibis.row_number().over(group_by=created.task, order_by=[created.us, created.event_id])
    )
    first = created.filter(created.nth == 0)
    first = first.select("task", "us", "event_id", "workflow_id", "occurred_at", "title")
    decisions = events.filter(events.event_type.isin(TASK_DECISIONS))
    decided = decisions.group_by("task").aggregate(decided_us=decisions.us.min())
    tasks = first.left_join(decided, "task").select(*first.columns, "decided_us")
    pending = tasks.filter(
        tasks.us <= as_of, tasks.decided_us.isnull() | (tasks.decided_us > as_of)
    )
    return pending.drop("decided_us").order_by(["us", "event_id"])


def _open_alerts(catalog, as_of_us: int) -> dict[str, int]:
    def build(view, v):
        from opdash.metrics.sqlfuncs import functions

        epoch_us = functions(view).epoch_us
        alerts = view.table("alerts")
        still_open = alerts.resolved_at.isnull() | (epoch_us(alerts.resolved_at) > v["as_of"])
        rows = alerts.filter(epoch_us(alerts.raised_at) <= v["as_of"], still_open)
        return rows.group_by("severity").aggregate(n=rows.count())

    found = run_shaped(catalog, "today alerts", build, as_of=as_of_us)
    out = dict.fromkeys((*SEVERITIES, "other"), 0)
    for severity, n in zip(found["severity"], found["n"], strict=True):
        key = severity if severity in SEVERITIES else "other"
        out[key] += int(n)
    out["total"] = sum(out.values())
    return out


def _latest_insight(catalog, as_of_us: int) -> Insight | None:
    rows = run_on_shared(
        catalog, "today insights", _insights, _latest_at, event_types=(COACH,), as_of=as_of_us
    )
    if rows.empty:
        return None
    row = rows.iloc[0]
    return Insight(
        occurred_at=_aware(row["occurred_at"]),
        workflow_id=_str(row["workflow_id"]),
        event_id=row["event_id"],
        text=mask_text(_str(row["text"])),
    )


def _insights(view, keep: tuple[str, ...]):
    """Every coach analysis with its text and the columns the filters read (``keep``):
    computed once for the whole folder, see ``_latest_at``."""
    from opdash.metrics.scope import with_columns
    from opdash.metrics.sqlfuncs import functions

    fns = functions(view)
    epoch_us, field = fns.epoch_us, fns.field
    events = view.table("events")
    coach = events.filter(events.event_type == COACH)
    text = ibis.coalesce(field(coach, "payload.insight"), field(coach, "payload.summary"))
    return coach.select(
        *with_columns(keep, "occurred_at", "workflow_id", "event_id"),
        us=epoch_us(coach.occurred_at),
        text=text,
    )


def _latest_at(insights, v):
    """The newest analysis by ``as_of`` (ties: the greater event id)."""
    upto = insights.filter(insights.us <= v["as_of"])
    return upto.order_by([ibis.desc("us"), ibis.desc("event_id")]).limit(1)


def _aware(value) -> datetime:
    """A UTC datetime from what pandas returns for a TIMESTAMPTZ."""
    stamp = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def _str(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


__all__ = ["LOOP_TYPES", "STRIP", "Insight", "PendingTask", "TodayResult", "default_steps", "today"]
