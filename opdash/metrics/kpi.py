"""A KPI: one metric over the last window before a moment, and the change from the window before.

The window is half-open at its start and closed at the moment: an event counts when
``as_of − window < occurred_at ≤ as_of``; the previous window is ``as_of − 2·window < t ≤
as_of − window``. The metric is the trend's (count, unique, unique:PATH, sum:PATH, avg:PATH),
with the same definitions: an empty window is 0, or no value for avg. Definitions:
docs/dashboard-spec.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis

from opdash.metrics.sqlfuncs import (
    EXACT_TYPE,
    exact,
    functions,
    refuse_too_large,
    too_large,
)
from opdash.metrics.trend import (
    metric_arguments,
    metric_value,
    numeric_text,
    parse_events,
    parse_metric,
    percent_change,
)
from opdash.timeutil import parse_duration, to_micros

DEFAULT_WINDOW = "1d"


@dataclass(frozen=True)
class KpiResult:
    """A KPI's value over ``(since, until]`` and, when compared, over the window before."""

    metric: str
    event_types: list[str]  # empty: every type
    window: str
    since: datetime
    until: datetime
    value: float | int | None
    previous: float | int | None = None
    change_pct: float | None = None
    compared: bool = False
    missing_event_types: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "event_types": self.event_types,
            "window": self.window,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "value": self.value,
            "previous": self.previous,
            "change_pct": self.change_pct,
        }


def kpi(
    catalog,
    metric: str = "count",
    *,
    event_types: list[str] | tuple[str, ...] = (),
    window: str | int = DEFAULT_WINDOW,
    as_of: datetime | None = None,
    compare: bool = True,
) -> KpiResult:
    """The KPI at ``as_of`` (default now). Raises UsageError for a bad metric, type or window."""
    from opdash.contract import field_path

    metric_text, by = metric_arguments(metric)
    parsed = parse_metric(metric_text)
    types = parse_events(list(event_types)) if event_types else []
    seconds = parse_duration(window)
    by_path = field_path(by).path
    moment = (as_of or datetime.now(UTC)).astimezone(UTC)
    top = to_micros(moment)
    span = seconds * 1_000_000
    bottom = top - (2 * span if compare else span)

    fns = functions(catalog)
    epoch_us, envelope_field = fns.epoch_us, fns.field
    events = catalog.table("events")
    us = epoch_us(events.occurred_at)
    rows = events.filter(us > bottom, us <= top)
    if types:
        rows = rows.filter(rows.event_type.isin(types))
    if parsed.path:
        text = envelope_field(rows, parsed.path)
        number, decimal = numeric_text(text), exact(text, numeric_text(text))
    else:
        number, decimal = ibis.null("float64"), ibis.null(EXACT_TYPE)
    rows = rows.select(
        b=ibis.ifelse(epoch_us(rows.occurred_at) > top - span, 0, -1),
        ent=envelope_field(rows, by_path),
        num=number,
        dec=decimal,
    )
    frame = (
        rows.group_by("b")
        .aggregate(
            n=rows.count(),
            uniq=rows.ent.nunique(),
            total=rows.dec.sum(),
            values=rows.num.count(),
            too_large=too_large(rows.num),
        )
        .execute()
    )
    found = {
        int(r["b"]): r for r in frame.astype(object).where(frame.notna(), None).to_dict("records")
    }
    refuse_too_large(sum(r["too_large"] or 0 for r in found.values()), parsed.path)
    value = metric_value(parsed, found.get(0))
    previous = metric_value(parsed, found.get(-1)) if compare else None
    present = set(catalog.event_types())
    return KpiResult(
        metric=metric.strip() or "count",
        event_types=types,
        window=str(window).strip(),
        since=moment - timedelta(seconds=seconds),
        until=moment,
        value=value,
        previous=previous,
        change_pct=percent_change(value, previous) if compare else None,
        compared=compare,
        missing_event_types=[t for t in types if t not in present],
    )
