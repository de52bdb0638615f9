"""Checks of settings that several metrics share: an event type the data has, and the span of
the folder's events (a range given outside it is a mistake, said in one line)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opdash.errors import UsageError, did_you_mean


def known_event_type(catalog, value: Any, name: str) -> str:
    """``value`` when it is an event type that occurs in the data (a UsageError naming it and
    the nearest type the data has, else)."""
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{name} needs an event type")
    value = value.strip()
    present = catalog.event_types()
    if value not in present:
        raise UsageError(
            f"{name} event type '{value}' never occurs in the data{did_you_mean(value, present)}"
        )
    return value


def data_span(catalog) -> tuple[datetime, datetime] | None:
    """The first and the newest event of the folder (one pass over one column); None when it
    has no events."""
    first, last = catalog.fetchall("SELECT min(occurred_at), max(occurred_at) FROM events")[0]
    if first is None:
        return None
    return first.astimezone(UTC), last.astimezone(UTC)
