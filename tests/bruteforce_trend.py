"""A plain-Python reference implementation of opdash trends, written from the definitions only.

No SQL, no pandas, no opdash: events are the envelope dicts as written to the folder, buckets are
found by looking at the local wall clock (``zoneinfo``) every 15 minutes of the range, and every
rule of docs/trends.md (range, buckets, metrics, breakdown and Other, rolling, previous period) is
a loop over them. tests/properties/test_trend.py compares opdash's trend with it.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.bruteforce import ten_places, value_at

ONE_US = timedelta(microseconds=1)
GRID = timedelta(minutes=15)  # every zone used here changes offset on a 15-minute UTC grid
NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def instant(text: str) -> datetime:
    """An event's occurred_at as an aware UTC datetime (no offset means UTC)."""
    value = datetime.fromisoformat(text.replace("z", "Z"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def bound(text: str, tz: ZoneInfo) -> datetime:
    """A date (the first instant of that local day) or a timestamp (no offset: local time)."""
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def label(t: datetime, interval: str, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) of the calendar bucket holding ``t``: local wall time, floored."""
    local = t.astimezone(tz)
    if interval == "hour":
        wall = local.replace(minute=0, second=0, microsecond=0)  # keeps fold: a repeated hour
    else:
        day = local.date()
        if interval == "week":
            day -= timedelta(days=day.weekday())
        if interval == "month":
            day = day.replace(day=1)
        wall = datetime(day.year, day.month, day.day, tzinfo=tz)
    return wall.astimezone(UTC)


def bucket_starts(since: datetime, until: datetime, interval: str, tz: ZoneInfo) -> list[datetime]:
    """Every bucket met by the range: the label of since and of each grid point before until."""
    seen = {label(since, interval, tz)}
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    t = epoch + ((since - epoch) // GRID + 1) * GRID
    while t < until:
        seen.add(label(t, interval, tz))
        t += GRID
    return sorted(seen)


def text(value) -> str | None:
    """A value as the SQL side reads it as text (strings only are used in tests)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def number(value) -> float | None:
    """A JSON number, or text holding a plain decimal number; None for anything else or ±inf."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float) or isinstance(value, str) and NUMBER.match(value):
        result = float(value)
    else:
        return None
    return result if math.isfinite(result) else None


def measure(events: list[dict], metric: str, by: str):
    """The metric over a list of events (an empty list: 0, or None for avg)."""
    if metric == "count":
        return len(events)
    if metric == "unique":
        return len({text(value_at(e, by)) for e in events} - {None})
    kind, _, path = metric.partition(":")
    found = [v for v in (value_at(e, path) for e in events) if number(v) is not None]
    values = [ten_places(v) for v in found]
    if kind == "sum":
        return float(sum(values))
    return float(sum(values) / len(values)) if values else None


def rank_total(events: list[dict], metric: str, by: str) -> float:
    """What breakdown values are ranked by: count, distinct, |sum|, or how many values avg saw."""
    if metric.startswith("sum:"):
        return abs(measure(events, metric, by))
    if metric.startswith("avg:"):
        return sum(1 for e in events if number(value_at(e, metric[4:])) is not None)
    return measure(events, metric, by)


def trend(
    events: list[dict],
    types: list[str],
    *,
    interval: str,
    tz: str,
    since: str,
    until: str,
    metric: str = "count",
    by: str = "correlation.workflow_id",
    breakdown: str | None = None,
    limit: int = 10,
    rolling: int | None = None,
    compare: bool = False,
) -> list[dict]:
    """The series (as in TrendResult.to_dict()["series"]; bucket starts as ISO text)."""
    zone = ZoneInfo(tz)
    lo, hi = bound(since, zone), bound(until, zone)
    starts = bucket_starts(lo, hi, interval, zone)
    n = len(starts)
    before: list[datetime] = []
    p = starts[0]
    for _ in range(n):
        p = label(p - ONE_US, interval, zone)
        before.insert(0, p)
    timed = [(instant(e["occurred_at"]), e) for e in events]

    def in_current(t: datetime) -> bool:
        return lo <= t < hi

    def current_bucket(es: list[tuple[datetime, dict]], i: int) -> list[dict]:
        return [e for t, e in es if in_current(t) and label(t, interval, zone) == starts[i]]

    def previous_bucket(es: list[tuple[datetime, dict]], i: int) -> list[dict]:
        return [e for t, e in es if t < starts[0] and label(t, interval, zone) == before[i]]

    groups: list[tuple[str, str | None, bool, list]] = []
    for event_type in types:
        mine = [(t, e) for t, e in timed if e["event_type"] == event_type]
        if breakdown is None:
            groups.append((event_type, None, False, mine))
            continue
        keys = {}
        for t, e in mine:
            if in_current(t):
                keys.setdefault(text(value_at(e, breakdown)), []).append(e)
        ranked = sorted(
            keys,
            key=lambda k: (-rank_total(keys[k], metric, by), k is None, k or ""),
        )
        for k in ranked[:limit]:
            name = "(none)" if k is None else k
            groups.append(
                (
                    event_type,
                    name,
                    False,
                    [(t, e) for t, e in mine if text(value_at(e, breakdown)) == k],
                )
            )
        if len(ranked) > limit:
            top = set(ranked[:limit])
            rest = [(t, e) for t, e in mine if text(value_at(e, breakdown)) not in top]
            groups.append((event_type, "Other", True, rest))

    out = []
    for event_type, name, other, mine in groups:
        values = [measure(current_bucket(mine, i), metric, by) for i in range(n)]
        buckets = []
        for i in range(n):
            item = {"start": starts[i].astimezone(zone).isoformat(), "value": values[i]}
            if rolling is not None:
                window = [v for v in values[max(0, i - rolling + 1) : i + 1] if v is not None]
                item["rolling"] = sum(window) / len(window) if window else None
            if compare:
                prev = measure(previous_bucket(mine, i), metric, by)
                item["previous"] = prev
                item["change_pct"] = (
                    None
                    if prev is None or prev == 0 or values[i] is None
                    else (values[i] - prev) / math.fabs(prev) * 100  # of its size: sign = way
                )
            buckets.append(item)
        series = {"event_type": event_type, "buckets": buckets}
        if breakdown is not None:
            series["breakdown"] = name
            series["other"] = other
        out.append(series)
    return out
