"""How opdash writes a value for a person: times, numbers, percents, an error's first line,
text from the data. One small module, so every page, table and command writes the same value
the same way (four copies of the time format had drifted: one left out "UTC").

Pages show a missing value as an en dash; the commands' plain-text tables pass ``missing="-"``.
Nothing here imports Panel: commands use it too.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

#: What a page shows where there is no value.
MISSING = "–"


def utc(value: datetime) -> datetime:
    """``value`` in UTC (a naive time is read as UTC: that is how the catalog stores times)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_time(value: datetime | None, missing: str = MISSING, *, seconds: bool = True) -> str:
    """``2026-11-20 15:59:20 UTC`` (``seconds=False``: ``2026-11-20 15:59 UTC``), or
    ``missing`` when there is no time."""
    if value is None:
        return missing
    return utc(value).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def is_missing(value: Any) -> bool:
    """None, NaN (what an empty aggregate gives: float, decimal or numpy) or pandas' NA."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN is the one value not equal to itself
    except TypeError:  # pandas' NA has no truth value
        return True


def number(
    value: Any, missing: str = MISSING, *, trim: bool = False, whole_floats: bool = True
) -> str:
    """A whole value with thousands separators (``12,345``), any other with two places
    (``1,234.57``; ``trim``: without trailing zeros, ``12.5``); ``missing`` for None or NaN.
    ``whole_floats=False`` keeps two places on a non-integer type even when its value is
    whole (a sum's ``-4,555.00``: KPIs and ``opdash trend`` show the sum's type that way)."""
    if is_missing(value):
        return missing
    if isinstance(value, int) or (whole_floats and float(value).is_integer()):
        return f"{int(value):,}"
    text = f"{value:,.2f}"
    return text.rstrip("0").rstrip(".") if trim else text


def percent(share: Any, places: int = 1, missing: str = MISSING) -> str:
    """A share (0.5) as a percent with ``places`` decimals (``50.0%``); ``missing`` for None
    or NaN."""
    return missing if is_missing(share) else f"{share:.{places}%}"


def first_line(error: BaseException | str) -> str:
    """An error's first line: what a one-line message or a card shows (its type's name when it
    says nothing)."""
    text = str(error).strip()
    if text:
        return text.splitlines()[0]
    return type(error).__name__ if isinstance(error, BaseException) else ""


def escaped(value: Any) -> str:
    """A value from the data as HTML text (every string from the data goes through this or a
    plain-text table cell)."""
    return html.escape(str(value))
