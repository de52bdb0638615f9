"""Calendar periods in a time zone: hours, days, weeks (from Monday), months and quarters.

Boundaries are computed as real instants with ``zoneinfo``, so a day on a daylight-saving change
lasts 23 or 25 hours and an hour bucket is a real hour; SQL then only compares instants.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opdash.errors import UsageError, did_you_mean
from opdash.timeutil import in_calendar

PERIODS = ("hour", "day", "week", "month", "quarter")
MAX_BUCKETS = 100_000


def zone(name: str | None) -> ZoneInfo:
    """An IANA time zone (default UTC), or a UsageError naming the bad value."""
    name = (name or "UTC").strip()
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(
            f"unknown time zone '{name}'{did_you_mean(name, zone_names())} "
            "(use an IANA name such as UTC, Europe/Berlin, America/New_York)"
        ) from None


@functools.cache
def zone_names() -> list[str]:
    """Every IANA zone name this machine knows, sorted."""
    from zoneinfo import available_timezones

    return sorted(available_timezones())


def check_period(period: str, allowed: tuple[str, ...] = PERIODS, *, name: str = "interval") -> str:
    if period not in allowed:
        raise UsageError(
            f"bad {name} '{period}'{did_you_mean(period, allowed)} (use {', '.join(allowed)})"
        )
    return period


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of a local calendar day (as an aware datetime in ``tz``)."""
    naive = datetime.combine(day, time())
    aware = naive.replace(tzinfo=tz)
    # a midnight that does not exist (a gap at 00:00) resolves to the first real instant after it
    return aware.astimezone(UTC).astimezone(tz)


def period_start(instant: datetime, period: str, tz: ZoneInfo) -> datetime:
    """The start of the calendar period in ``tz`` that contains ``instant``."""
    local = instant.astimezone(tz)
    if period == "hour":
        floored = local.replace(minute=0, second=0, microsecond=0)
        # an offset with minutes (e.g. +05:30) keeps whole local hours; fold keeps DST hours apart
        return floored.astimezone(UTC).astimezone(tz)
    day = local.date()
    if period == "week":
        day -= timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    elif period == "quarter":
        day = day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    return local_midnight(day, tz)


def next_period(start: datetime, period: str, tz: ZoneInfo) -> datetime:
    """The start of the period after the one starting at ``start``."""
    if period == "hour":
        # not simply "+1 real hour": where a DST shift is 30 minutes (Australia/Lord_Howe) a local
        # hour lasts 30 or 90 minutes, so take the first later instant in another local hour
        base, step = start.astimezone(UTC), timedelta(hours=1)
        while True:
            candidate = period_start(base + step, "hour", tz)
            if candidate.astimezone(UTC) > base:  # in UTC: same-zone comparisons ignore fold
                return candidate
            step += timedelta(minutes=15)
    day = start.astimezone(tz).date()
    if period == "day":
        day += timedelta(days=1)
    elif period == "week":
        day += timedelta(days=7)
    else:
        months = 1 if period == "month" else 3
        month = day.month - 1 + months
        day = date(day.year + month // 12, month % 12 + 1, 1)
    return local_midnight(day, tz)


def previous_period(start: datetime, period: str, tz: ZoneInfo) -> datetime:
    """The start of the period before the one starting at ``start``."""
    return period_start(start.astimezone(UTC) - timedelta(microseconds=1), period, tz)


def buckets(since: datetime, until: datetime, period: str, tz: ZoneInfo) -> list[datetime]:
    """Starts of every period that overlaps ``[since, until)``, the first one containing since."""
    out: list[datetime] = []
    start, until = period_start(since, period, tz), until.astimezone(UTC)
    while start.astimezone(UTC) < until:  # in UTC: Python compares one zone's times by wall clock
        out.append(start)
        if len(out) > MAX_BUCKETS:
            raise UsageError(
                f"the range from {since:%Y-%m-%d} to {until:%Y-%m-%d} asks for more than "
                f"{MAX_BUCKETS:,} {period} buckets: narrow --since/--until or pick a longer "
                "interval"
            )
        start = next_period(start, period, tz)
    return out


def local_bound(text: str | datetime | date | None, tz: ZoneInfo, *, name: str) -> datetime | None:
    """A date (local midnight in ``tz``) or a timestamp (no offset: local time in ``tz``)."""
    if text is None or text == "":
        return None
    if isinstance(text, datetime):
        value = text
    elif isinstance(text, date):
        return local_midnight(text, tz)
    else:
        raw = str(text).strip()
        try:
            value = (
                date.fromisoformat(raw)
                if len(raw) == 10
                else datetime.fromisoformat(raw.replace("z", "Z"))
            )
        except ValueError:
            raise UsageError(
                f"bad {name} '{text}': use a date such as 2026-11-20 or a time such as "
                "2026-11-20T09:00:00+01:00"
            ) from None
    in_calendar(value, text, name)
    if not isinstance(value, datetime):
        return local_midnight(value, tz)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
    return value
