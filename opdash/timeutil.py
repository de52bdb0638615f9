"""Durations and instants as users type them (``90m``, ``14d``, ``2026-11-20T09:00:00+01:00``)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from opdash.errors import UsageError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_duration(text: str | int | float, *, name: str = "window") -> int:
    """Seconds in a duration such as ``90m``, ``6h``, ``14d`` or ``2w`` (a bare number is seconds)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = int(text)
    else:
        match = _DURATION.match(str(text))
        if match is None and str(text).strip().isdigit():
            seconds = int(str(text).strip())
        elif match is None:
            raise UsageError(
                f"bad {name} '{text}': use a whole number with s, m, h, d or w, e.g. 90m, 6h, 14d, 2w"
            )
        else:
            seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise UsageError(f"bad {name} '{text}': it must be longer than zero")
    if seconds > MAX_DURATION_S:
        raise UsageError(f"bad {name} '{text}': it must be at most 100 years")
    return seconds


def format_duration(seconds: int) -> str:
    """A duration in the largest of days, hours, minutes that writes it exactly — never weeks,
    so 14 days stay '14d' (1209600 → '14d', 5400 → '90m'). For a duration the user typed, echo
    their own text: :func:`duration_text`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def duration_text(given: str | int | float) -> str:
    """A duration echoed the way it was given: ``14d`` stays ``14d``, ``2w`` stays ``2w`` (spaces
    dropped: ``' 14 d'`` → ``14d``); a bare number of seconds is written by
    :func:`format_duration`. ``given`` must parse (:func:`parse_duration`)."""
    match = _DURATION.match(given) if isinstance(given, str) else None
    if match is not None:
        return f"{int(match.group(1))}{match.group(2)}"
    return format_duration(parse_duration(given))


def parse_instant(text: str | datetime | date | None, *, name: str = "time") -> datetime | None:
    """An aware UTC datetime from ISO 8601 text (no offset means UTC; a bare date is midnight UTC)."""
    if text is None or text == "":
        return None
    if isinstance(text, datetime):
        value = text
    elif isinstance(text, date):
        value = datetime.combine(text, time())
    else:
        raw = str(text).strip()
        try:
            value = datetime.fromisoformat(raw.replace("z", "Z"))
        except ValueError:
            raise UsageError(
                f"bad {name} '{text}': use an ISO 8601 date or time such as 2026-11-20 or "
                "2026-11-20T09:00:00Z"
            ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    in_calendar(value, text, name)
    return value.astimezone(UTC)


def in_calendar(value: date, text: object, name: str) -> None:
    """A UsageError naming ``text`` when ``value`` lies outside the years opdash takes."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise UsageError(
            f"bad {name} '{text}': give a time between the years {FIRST_YEAR} and {LAST_YEAR}"
        )


#: The years a time given on the command line, in a spec or goals.yaml may name: periods and
#: windows around it must stay inside the calendar.
FIRST_YEAR, LAST_YEAR = 1000, 9000
#: The longest duration (a window, a staleness threshold): 100 years.
MAX_DURATION_S = 100 * 366 * 86_400


def to_micros(value: datetime) -> int:
    """Exact microseconds since the epoch of an aware datetime: the integer time SQL compares."""
    return (value - EPOCH) // _ONE_US


def from_micros(us: int | float, tz=UTC) -> datetime:
    """The aware datetime (in ``tz``) of epoch microseconds."""
    return (EPOCH + timedelta(microseconds=int(us))).astimezone(tz)


def human_duration(seconds: float) -> str:
    """A short, readable duration: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 60:
        text = f"{s:.3f}".rstrip("0").rstrip(".") + " s"
    elif s < 3600:
        text = f"{int(s // 60)} min"
    elif s < 86400:
        h, m = divmod(int(s // 60), 60)
        text = f"{h} h" + (f" {m} min" if m else "")
    else:
        d, h = divmod(int(s // 3600), 24)
        text = f"{d} d" + (f" {h} h" if h else "")
    return sign + text


def format_seconds(seconds: float | None) -> str:
    """``human_duration`` for a value that may be missing (None or NaN): '–'."""
    if seconds is None or seconds != seconds:
        return "–"
    return human_duration(float(seconds))
