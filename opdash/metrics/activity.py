"""The activity feed: the newest events in a scope, newest first, with their payloads."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from opdash.errors import UsageError
from opdash.masking import mask_text
from opdash.metrics.scope import Scope, filter_events

DEFAULT_LIMIT = 100
MAX_LIMIT = 5000


@dataclass(frozen=True)
class ActivityEvent:
    event_id: str
    event_type: str
    occurred_at: datetime
    actor_type: str | None
    actor_id: str | None
    workflow_id: str | None
    run_id: str | None
    payload: str | None  # the payload as JSON text, shown as text and never as HTML
    source_file: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "occurred_at": self.occurred_at.isoformat()}


@dataclass(frozen=True)
class ActivityResult:
    """The newest ``len(events)`` of ``total`` events in scope (ties broken by event id)."""

    events: list[ActivityEvent]
    total: int
    newest_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "shown": len(self.events),
            "newest_at": self.newest_at.isoformat() if self.newest_at else None,
            "events": [e.to_dict() for e in self.events],
        }

    def to_frame(self):
        import pandas as pd

        columns = list(ActivityEvent.__dataclass_fields__)
        return pd.DataFrame([asdict(e) for e in self.events], columns=columns)


def activity(catalog, scope: Scope | None = None, *, limit: int = DEFAULT_LIMIT) -> ActivityResult:
    """The newest events in ``scope`` (its time range included), newest first."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"bad limit '{limit}': use a whole number from 1 to {MAX_LIMIT}")
    events = filter_events(catalog.table("events"), scope or Scope(), with_time=True)
    # one query: the total comes from the same snapshot as the rows
    newest = events.order_by([events.occurred_at.desc(), events.event_id.desc()])
    rows = (
        newest.select(
            "event_id",
            "event_type",
            "occurred_at",
            "actor_type",
            "actor_id",
            "workflow_id",
            "run_id",
            payload=newest.payload.cast("string"),
            source_file=newest.source_file,
            total=newest.count().over(),  # every row in scope, before the limit
        )
        .limit(limit)
        .to_pyarrow()
        .to_pylist()
    )
    if not rows:
        return ActivityResult(events=[], total=0, newest_at=None)
    total = rows[0].pop("total")
    for row in rows:
        row.pop("total", None)
        row["payload"] = mask_text(row["payload"])  # secrets never reach a page
    return ActivityResult(
        events=[ActivityEvent(**row) for row in rows],
        total=int(total),
        newest_at=rows[0]["occurred_at"],
    )
