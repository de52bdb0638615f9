"""A plain-Python reference for opdash retention, written from the definitions only.

No SQL, no opdash: events are the envelope dicts as written to the folder; a period is named by
an ordinal of the local calendar (days since 0001-01-01, Monday-weeks, year × 12 + month) so an
offset k is a difference of ordinals, whatever a day's length in hours; every rule of
docs/retention.md is a loop. tests/properties/test_retention.py compares opdash with it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.bruteforce import entity_of
from tests.bruteforce_trend import bound, instant


def ordinal(t: datetime, interval: str, tz: ZoneInfo) -> int:
    day = t.astimezone(tz).date()
    if interval == "day":
        return day.toordinal()
    if interval == "week":
        return (day.toordinal() - 1) // 7  # 0001-01-01 was a Monday
    return day.year * 12 + day.month - 1


def period_start(p: int, interval: str, tz: ZoneInfo) -> str:
    """The first instant of period ``p`` in ``tz`` (ISO text with its local offset)."""
    if interval == "day":
        day = date.fromordinal(p)
    elif interval == "week":
        day = date.fromordinal(p * 7 + 1)
    else:
        day = date(p // 12, p % 12 + 1, 1)
    return (
        datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC).astimezone(tz).isoformat()
    )


def retention(
    events: list[dict], start: str, ret: str, *, by: str, interval: str, tz: str, periods: int,
    since: str | None, until: str | None, mode: str, cumulative: bool, as_of: str | None,
) -> dict:  # fmt: skip
    zone = ZoneInfo(tz)
    rows = [(instant(e["occurred_at"]), e["event_type"], entity_of(e, by)) for e in events]
    newest = max(t for t, _, _ in rows)
    cut = instant(as_of) if as_of else newest
    rows = [(t, kind, ent) for t, kind, ent in rows if ent is not None and t <= cut]
    now = ordinal(cut, interval, zone)
    if until is None:
        last = now
    else:
        last = ordinal(bound(until, zone) - timedelta(microseconds=1), interval, zone)
    first = ordinal(bound(since, zone), interval, zone) if since else last - periods + 1
    lo = bound(since, zone) if since else None
    hi = bound(until, zone) if until else None

    def in_range(t: datetime) -> bool:
        if lo is not None and t < lo:
            return False
        if hi is not None and t >= hi:
            return False
        return first <= ordinal(t, interval, zone) <= last

    members: set[tuple[str, int]] = set()
    if mode == "first-time":
        firsts: dict[str, datetime] = {}
        for t, kind, ent in rows:
            if kind == start and (ent not in firsts or t < firsts[ent]):
                firsts[ent] = t
        members = {(ent, ordinal(t, interval, zone)) for ent, t in firsts.items() if in_range(t)}
    else:
        members = {(ent, ordinal(t, interval, zone)) for t, kind, ent in rows
                   if kind == start and in_range(t)}  # fmt: skip
    back = {(ent, ordinal(t, interval, zone)) for t, kind, ent in rows if kind == ret}
    cohorts = []
    for c in range(first, min(last, now) + 1):
        who = [ent for ent, p in members if p == c]
        width = min(periods, now - c + 1)
        values = [len(who)]
        for k in range(1, width):
            if cumulative:
                values.append(sum(1 for e in who if any(e == b and p >= c + k for b, p in back)))
            else:
                values.append(sum(1 for e in who if (e, c + k) in back))
        cohorts.append({
            "start": period_start(c, interval, zone),
            "size": len(who),
            "values": values,
            "incomplete": [c + k == now for k in range(width)],
        })  # fmt: skip
    mean = []
    for k in range(periods):
        having = [c for c in cohorts if len(c["values"]) > k and c["size"]]
        total = sum(c["size"] for c in having)
        mean.append(sum(c["values"][k] for c in having) / total if total else None)
    return {"cohorts": cohorts, "mean": mean}
