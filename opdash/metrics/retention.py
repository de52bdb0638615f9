"""Retention: of the entities that started in a period, how many came back in each later one.

See docs/retention.md. Periods are calendar periods in a time zone (``opdash.calendar``: a day
on a DST change lasts 23 or 25 hours, weeks start on Monday), found as real instants in Python;
one ibis query assigns events to periods by comparing epoch microseconds with their bounds and
counts entities per (cohort, period offset), on any engine. The grid, its incomplete marks and
the weighted mean are filled in Python over that small result.

- **Cohorts.** ``first-time``: an entity's cohort is the period of its first start event ever,
  counted only when that event lies in ``[since, until)``. ``recurring``: an entity joins the
  cohort of every period in which it has a start event in ``[since, until)``.
- **Cells.** Cell 0 is the cohort's size; cell k (k ≥ 1) the entities of the cohort with a
  return event in period cohort + k (``cumulative``: in period cohort + k or later).
- **As of.** Events after ``as_of`` (default: the newest event) are not read; periods that
  start after it are absent, and the period holding it is marked incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import ibis

from opdash import calendar
from opdash.errors import UsageError, did_you_mean
from opdash.metrics.settings import data_span, known_event_type
from opdash.metrics.sqlfuncs import functions
from opdash.timeutil import parse_instant, to_micros

INTERVALS = ("day", "week", "month")
MODES = ("first-time", "recurring")
DEFAULT_BY = "actor.id"
DEFAULT_PERIODS = 8
MAX_PERIODS = 400

_ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class Cohort:
    """One row of the grid: the entities whose cohort period starts at ``start``."""

    start: datetime  # aware, in the retention's zone
    size: int
    values: list[int]  # values[0] = size; values[k] = entities back in period start + k
    incomplete: list[bool]  # per value: its period holds as_of (not over yet)

    @property
    def percents(self) -> list[float | None]:
        """Each value as a fraction of the cohort's size (None for an empty cohort)."""
        return [v / self.size if self.size else None for v in self.values]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "size": self.size,
            "values": list(self.values),
            "percents": self.percents,
            "incomplete": list(self.incomplete),
        }


@dataclass(frozen=True)
class RetentionResult:
    """A computed retention grid and the settings that produced it."""

    start_event: str
    return_event: str
    by: str
    interval: str
    tz: str
    mode: str
    cumulative: bool
    periods: int
    since: datetime
    until: datetime
    as_of: datetime
    cohorts: list[Cohort]
    mean: list[float | None]  # per offset k: Σ values[k] / Σ size over cohorts that have cell k
    missing_event_types: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_event": self.start_event,
            "return_event": self.return_event,
            "by": self.by,
            "interval": self.interval,
            "tz": self.tz,
            "mode": self.mode,
            "cumulative": self.cumulative,
            "periods": self.periods,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "as_of": self.as_of.isoformat(),
            "cohorts": [c.to_dict() for c in self.cohorts],
            "mean": list(self.mean),
        }

    def to_frame(self):
        """One row per cohort: its start, size, and the value of each period offset."""
        import pandas as pd

        rows = [
            {"cohort": c.start, "size": c.size}
            | {f"+{k}": (c.values[k] if k < len(c.values) else None) for k in range(self.periods)}
            for c in self.cohorts
        ]
        return pd.DataFrame(
            rows, columns=["cohort", "size", *[f"+{k}" for k in range(self.periods)]]
        )


# -- settings -------------------------------------------------------------------------------------


def _periods(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"bad periods '{value}': give a whole number") from None
    if str(number) != str(value).strip() and not isinstance(value, int):
        raise UsageError(f"bad periods '{value}': give a whole number")
    if not 1 <= number <= MAX_PERIODS:
        raise UsageError(f"bad periods '{value}': give 1 to {MAX_PERIODS}")
    return number


def _mode(value: str) -> str:
    if value not in MODES:
        raise UsageError(
            f"bad mode '{value}'{did_you_mean(str(value), MODES)} (use first-time or recurring)"
        )
    return value


# -- the grid -------------------------------------------------------------------------------------


def retention(
    catalog,
    start: str,
    return_: str,
    *,
    by: str = DEFAULT_BY,
    interval: str = "week",
    tz: str | None = "UTC",
    periods: int = DEFAULT_PERIODS,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    mode: str = "first-time",
    cumulative: bool = False,
    as_of: str | datetime | None = None,
) -> RetentionResult:
    """The retention grid of ``catalog``'s events. Raises UsageError for bad settings."""
    from opdash.contract import field_path

    start = known_event_type(catalog, start, "start")
    return_ = known_event_type(catalog, return_, "return")
    by_path = field_path(by).path
    calendar.check_period(interval, INTERVALS)
    zone = calendar.zone(tz)
    n = _periods(periods)
    mode = _mode(mode)
    as_of_t = parse_instant(as_of, name="as-of") if as_of not in (None, "") else None
    span = _span(catalog)
    as_of_t = as_of_t or span[1]
    since_t = calendar.local_bound(since, zone, name="since")
    until_t = calendar.local_bound(until, zone, name="until")
    _inside_data(since_t, until_t, span, as_of_t)
    since_t, until_t = _range(interval, zone, n, since_t, until_t, as_of_t)

    # every period from the first cohort's to the one holding as_of: [start, end) instants
    starts = [
        s.astimezone(UTC) for s in calendar.buckets(since_t, as_of_t + _ONE_US, interval, zone)
    ]
    ends = [
        *starts[1:],
        *[calendar.next_period(s, interval, zone).astimezone(UTC) for s in starts[-1:]],
    ]
    cohorts = [i for i, s in enumerate(starts) if s < until_t]  # none when all start after as_of
    rows = (
        []
        if not cohorts
        else _counts(
            catalog,
            start,
            return_,
            by_path,
            mode,
            cumulative,
            n,
            starts,
            ends,
            since_t,
            until_t,
            as_of_t,
        )
    )
    grid = _grid(rows, cohorts, starts, ends, n, cumulative, as_of_t, zone)
    return RetentionResult(
        start_event=start,
        return_event=return_,
        by=by_path,
        interval=interval,
        tz=zone.key,
        mode=mode,
        cumulative=cumulative,
        periods=n,
        since=since_t.astimezone(zone),
        until=until_t.astimezone(zone),
        as_of=as_of_t.astimezone(zone),
        cohorts=grid,
        mean=_mean(grid, n),
    )


def _span(catalog) -> tuple[datetime, datetime]:
    span = data_span(catalog)
    if span is None:
        raise UsageError("the folder has no events: there is nothing to retain")
    return span


def _range(interval, zone: ZoneInfo, n: int, since, until, as_of) -> tuple[datetime, datetime]:
    """``[since, until)`` of the cohorts' start events: by default the ``n`` periods that end
    with the one holding ``as_of``."""
    if until is None:
        held = calendar.period_start(as_of, interval, zone)
        until = calendar.next_period(held, interval, zone)
    until = until.astimezone(UTC)
    if since is None:
        since = calendar.period_start(until - _ONE_US, interval, zone)
        for _ in range(n - 1):
            since = calendar.previous_period(since, interval, zone)
    since = since.astimezone(UTC)
    if since >= until:
        raise UsageError(
            f"empty range: since {since.isoformat()} is not before until {until.isoformat()}"
        )
    return since, until


def _inside_data(since: datetime | None, until: datetime | None, span, as_of: datetime) -> None:
    """A range given that holds no event of the folder at or before ``as_of`` is a mistake:
    one line saying so (the default range is always the data's)."""
    first, last = span[0], min(span[1], as_of)
    if (since is not None and since > last) or (until is not None and until <= first):
        given = f"{since.isoformat() if since else '…'} to {until.isoformat() if until else '…'}"
        raise UsageError(
            f"the range {given} is outside the data (events from {first.isoformat()} to "
            f"{last.isoformat()}{', as of' if last == as_of else ''})"
        )


def _counts(catalog, start, return_, by, mode, cumulative, n, starts, ends, since, until, as_of):
    """Rows ``(c, k, n)``: entities of cohort period ``c`` at offset ``k`` (k = 0: its size;
    cumulative: ``k`` is the furthest offset an entity came back at, capped at ``n - 1``)."""
    fns = functions(catalog)
    events = catalog.table("events")
    us = fns.epoch_us(events.occurred_at)
    base = events.filter(events.event_type.isin([start, return_]), us <= to_micros(as_of))
    base = base.select(
        ent=fns.field(base, by),
        us=fns.epoch_us(base.occurred_at),
        is_start=base.event_type == start,
        is_return=base.event_type == return_,
    ).filter(lambda t: t.ent.notnull())
    edges = ibis.memtable(
        {
            "p": list(range(len(starts))),
            "lo": [to_micros(s) for s in starts],
            "hi": [to_micros(e) for e in ends],
        },
        schema={"p": "int64", "lo": "int64", "hi": "int64"},
    )

    def period_of(rows: ibis.Table, name: str) -> ibis.Table:
        joined = rows.join(edges, [rows.us >= edges.lo, rows.us < edges.hi])
        return joined.select(ent=joined.ent, **{name: joined.p}).distinct()

    lo, hi = to_micros(since), to_micros(until)
    if mode == "first-time":
        firsts = base.filter(base.is_start).group_by("ent").aggregate(us=lambda t: t.us.min())
        cohort = period_of(firsts.filter(firsts.us >= lo, firsts.us < hi), "c")
    else:
        starts_in = base.filter(base.is_start, base.us >= lo, base.us < hi)
        cohort = period_of(starts_in.select("ent", "us"), "c")
    returns = period_of(
        base.filter(base.is_return, base.us >= to_micros(starts[0])).select("ent", "us"), "r"
    )
    back = cohort.join(returns, [cohort.ent == returns.ent, returns.r > cohort.c])
    back = back.select(ent=cohort.ent, c=cohort.c, k=back.r - back.c)
    if cumulative:
        furthest = back.group_by(["ent", "c"]).aggregate(k=lambda t: t.k.max())
        cells = furthest.select("c", k=ibis.least(furthest.k, n - 1))
    else:
        cells = back.filter(back.k < n).select("c", "k")
    cells = cells.filter(cells.k >= 1)  # cell 0 is the size (with one period, the only cell)
    sizes = cohort.group_by("c").aggregate(k=ibis.literal(0, "int64"), n=lambda t: t.count())
    cells = cells.group_by(["c", "k"]).aggregate(n=lambda t: t.count())
    result = sizes.select("c", "k", "n").union(cells.select("c", "k", "n")).execute()
    return [(int(c), int(k), int(v)) for c, k, v in result[["c", "k", "n"]].itertuples(False)]


def _grid(rows, cohorts, starts, ends, n, cumulative, as_of, zone) -> list[Cohort]:
    counts: dict[tuple[int, int], int] = {}
    for c, k, value in rows:
        counts[(c, k)] = counts.get((c, k), 0) + value
    out = []
    for c in cohorts:
        width = min(n, len(starts) - c)  # offsets whose period starts at or before as_of
        values = [counts.get((c, k), 0) for k in range(width)]
        if cumulative:  # an entity whose furthest return is k counts at 1..k
            for k in range(width - 2, 0, -1):
                values[k] += values[k + 1]
        incomplete = [ends[c + k] > as_of for k in range(width)]
        out.append(Cohort(starts[c].astimezone(zone), values[0], values, incomplete))
    return out


def _mean(cohorts: list[Cohort], n: int) -> list[float | None]:
    """Per offset: the cohorts' values over their sizes, summed (a mean weighted by size)."""
    out: list[float | None] = []
    for k in range(n):
        having = [c for c in cohorts if len(c.values) > k and c.size]
        total = sum(c.size for c in having)
        out.append(sum(c.values[k] for c in having) / total if total else None)
    return out
