"""The optional parts of a funnel, each measured on every entity's chosen chain.

Exclusions, time to convert, conversion over time and drop-offs (the breakdown, whose groups
add up to the funnel, is in :mod:`opdash.metrics.funnel`). Each takes the chosen chains
(:func:`opdash.metrics.sequence.levels_of`: ``entity``, ``level``, ``start_id``, ``u1..un``)
and the catalog view for what the chains do not hold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from opdash.errors import UsageError
from opdash.lazy import lazy_module
from opdash.metrics.sequence import ChainSpec
from opdash.timeutil import from_micros, parse_instant, to_micros

ibis = lazy_module("ibis")  # imported on first use: opdash.lazy

TREND_INTERVALS = ("day", "week")
_US = 1_000_000


@dataclass(frozen=True)
class HistogramBin:
    start_seconds: float
    end_seconds: float
    count: int


@dataclass(frozen=True)
class TimeToConvert:
    """Seconds from one step to a later one on each converting entity's chosen chain."""

    from_step: int
    to_step: int
    entities: int
    median_seconds: float | None
    mean_seconds: float | None
    bins: list[HistogramBin]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bins": [asdict(b) for b in self.bins]}


@dataclass(frozen=True)
class TrendPeriod:
    start: datetime
    entered: int
    converted: int
    rate: float | None
    incomplete: bool


@dataclass(frozen=True)
class ConversionTrend:
    """Conversion from step 1 to the last step per entry period of the step-1 event."""

    interval: str
    tz: str
    as_of: datetime
    periods: list[TrendPeriod]

    def to_dict(self) -> dict[str, Any]:
        return {
            "interval": self.interval,
            "tz": self.tz,
            "as_of": self.as_of.isoformat(),
            "periods": [{**asdict(p), "start": p.start.isoformat()} for p in self.periods],
        }


@dataclass(frozen=True)
class DroppedEntity:
    entity: str
    reached_at: datetime
    last_event_type: str
    last_event_id: str
    last_event_at: datetime


@dataclass(frozen=True)
class DropOffs:
    """Entities that reached step ``step`` and not the next one, newest last event first."""

    step: int
    event_type: str
    next_event_type: str | None
    total: int
    entities: list[DroppedEntity]

    def to_dict(self) -> dict[str, Any]:
        items = [
            {
                **asdict(e),
                "reached_at": e.reached_at.isoformat(),
                "last_event_at": e.last_event_at.isoformat(),
            }
            for e in self.entities
        ]
        return {**asdict(self), "entities": items}


@dataclass(frozen=True)
class TrendSpec:
    interval: str
    tz: Any
    as_of: datetime

    @classmethod
    def parse(cls, interval: str, tz: str, as_of) -> TrendSpec:
        from opdash.calendar import check_period, zone

        check_period(interval, TREND_INTERVALS, name="trend interval")
        moment = parse_instant(as_of, name="as-of") or datetime.now(UTC)
        return cls(interval, zone(tz), moment)


# -- exclusions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Exclusion:
    """``event_type`` between steps ``start`` and ``end`` (1-based; the whole funnel: 1, n)."""

    event_type: str
    start: int
    end: int

    def text(self, n: int) -> str:
        whole = (self.start, self.end) == (1, n)
        return self.event_type if whole else f"{self.event_type}:{self.start}-{self.end}"


def parse_exclusions(values, n: int, order: str) -> list[Exclusion]:
    """``TYPE`` (the whole funnel) or ``TYPE:FROM-TO`` (1 ≤ FROM < TO ≤ n), checked."""
    out = []
    for raw in values:
        text = str(raw).strip()
        head, sep, tail = text.rpartition(":")
        bounds = tail.split("-") if sep else []
        if sep and len(bounds) == 2 and all(b.strip().isdigit() for b in bounds):
            event_type, (start, end) = head.strip(), (int(b) for b in bounds)
        elif sep and ("-" in tail or tail.strip().isdigit()):
            raise UsageError(f"bad exclusion '{text}': use TYPE or TYPE:FROM-TO, e.g. x:2-3")
        else:
            event_type, start, end = text, 1, n
        if not event_type:
            raise UsageError(f"bad exclusion '{text}': name an event type before the ':'")
        if not 1 <= start < end <= n:
            raise UsageError(
                f"bad exclusion '{text}': FROM must come before TO, both steps from 1 to {n}"
            )
        if order == "unordered" and (start, end) != (1, n):
            raise UsageError(
                f"bad exclusion '{text}': an unordered funnel excludes over the whole funnel "
                f"only (its steps have no order): use {event_type} or {event_type}:1-{n}"
            )
        out.append(Exclusion(event_type, start, end))
    return out


def with_clean(rows, catalog, spec: ChainSpec, by: str, exclusions, limit):
    """Each attempt (a start's row of :func:`~opdash.metrics.sequence.levels`) with ``clean``:
    False when an exclusion event lies in one of its ranges. A range runs from the attempt's
    step-FROM event (reached) to its step-TO event, or, when it did not reach TO, to the end of
    its window (``limit``, inclusive), strictly between them in funnel order (excluded types
    rank after the steps at one instant unless they are steps). Unordered: from the start's
    instant (the start itself aside) to its last step's instant (exclusive), or the window's
    end. Needs the steps' ids (``i2..in``) for ordered and strict rows."""
    from opdash.metrics.sqlfuncs import functions  # declares ibis builtins

    fns = functions(catalog)
    events = catalog.table("events")
    types = sorted({x.event_type for x in exclusions})
    xs = events.filter(events.event_type.isin(types))
    xs = xs.select(
        e_x=fns.field(xs, by),
        t_x=xs.event_type,
        us_x=fns.epoch_us(xs.occurred_at),
        r_x=ibis.cases(*((xs.event_type == t, spec.rank(t)) for t in types)).cast("int64"),
        id_x="event_id",
    ).filter(lambda t: t.e_x.notnull())
    hits = [_hits(rows, xs, spec, x, limit) for x in exclusions]
    dirty = ibis.union(*hits) if len(hits) > 1 else hits[0]
    # a start's event id names its attempt (ids are unique in ``events``)
    return rows.mutate(clean=~rows.start_id.isin(dirty.d_start))


def _hits(rows, xs, spec: ChainSpec, x: Exclusion, limit):
    """The start ids of the attempts with an event of ``x`` in their range."""
    mine = xs.filter(xs.t_x == x.event_type)
    if spec.order == "unordered":
        last = ibis.greatest(*(rows[f"f{j}"] for j in range(1, spec.n + 1)))
        inside = (
            (mine.us_x >= rows.u1)
            & (mine.id_x != rows.start_id)
            & ibis.ifelse(rows.level >= spec.n, mine.us_x < last, mine.us_x <= limit(rows))
        )
    else:
        after = _after_step(rows, mine, spec, x.start)
        before = ibis.ifelse(
            rows.level >= x.end, _before_step(rows, mine, spec, x.end), mine.us_x <= limit(rows)
        )
        inside = (rows.level >= x.start) & after & before
    found = rows.join(mine, [rows.entity == mine.e_x, inside])
    return found.select(d_start=rows.start_id)


def _step_key(rows, spec: ChainSpec, k: int):
    """(time, rank, id) of the attempt's step-k event."""
    us = rows[f"u{k}"]
    event_id = rows.start_id if k == 1 else rows[f"i{k}"]
    return us, spec.rank(spec.steps[k - 1]), event_id


def _after_step(rows, xs, spec: ChainSpec, k: int):
    us, rank, event_id = _step_key(rows, spec, k)
    return (xs.us_x > us) | (
        (xs.us_x == us) & ((xs.r_x > rank) | ((xs.r_x == rank) & (xs.id_x > event_id)))
    )


def _before_step(rows, xs, spec: ChainSpec, k: int):
    us, rank, event_id = _step_key(rows, spec, k)
    return (xs.us_x < us) | (
        (xs.us_x == us) & ((xs.r_x < rank) | ((xs.r_x == rank) & (xs.id_x < event_id)))
    )


# -- values on the chosen start -------------------------------------------------------------
def start_types(spec: ChainSpec) -> tuple[str, ...]:
    """The types of the events a chain starts at."""
    return tuple(spec.steps[:1] if spec.order != "unordered" else spec.types)


def start_values(view, starts: tuple[str, ...], path: str) -> ibis.Table:
    """``id_v`` and ``v``: the id of each event of the types ``starts`` and its value at
    ``path``."""
    from opdash.metrics.sqlfuncs import functions  # declares ibis builtins

    fns = functions(view)
    events = view.table("events")
    events = events.filter(events.event_type.isin(list(starts)))
    return events.select(id_v="event_id", v=fns.field(events, path))


def with_start_value(runner, chains, catalog, spec: ChainSpec, path: str, name: str):
    """``chains`` (a kept chain table) with ``name``: the value at ``path`` on each chain's
    start event (NULL when it has none), kept per (chains, path) so another window or date
    range asks no join of the events again. Event ids are unique in ``events``, so the join
    keeps every chain."""
    from opdash.metrics.scope import reads_of, shared_build
    from opdash.metrics.sequence import without_moment

    starts = start_types(spec)
    view, _moment = without_moment(catalog)
    _root, values = shared_build(
        view,
        "start values",
        lambda v, _builder: start_values(v, starts, path),
        (starts, path),
        event_types=starts,
    )

    def joined(_builder):
        both = chains.left_join(values, chains.start_id == values.id_v)
        return both.select(*chains.columns, **{name: both.v})

    if not runner.keep_shared:  # chains computed within the question: so is this
        return joined(None)
    key = ("chains with values", chains.get_name(), values.get_name(), name)
    types = None if spec.order == "strict" else spec.types
    return runner.shared(key, joined, reads=reads_of(view, types))


def started_by(chains, catalog, spec: ChainSpec, actors: tuple[str, ...]):
    """``chains`` whose start event is by one of ``actors`` (``actor.id``): the dashboard's
    actor filter when it selects the entities whose step 1 is by them, later steps by anyone."""
    from opdash.metrics.sequence import without_moment

    view, _moment = without_moment(catalog)
    starts = start_values(view, start_types(spec), "actor.id")
    mine = starts.filter(starts.v.isin(list(actors))).select(id_a="id_v")
    return chains.semi_join(mine, chains.start_id == mine.id_a)


def with_step_value(chosen, catalog, spec: ChainSpec, path: str, step: int | None, name: str):
    """``chosen`` levels with ``name``: the value at ``path`` on the event of step ``step`` of
    each entity's chosen chain (NULL when the entity did not reach it), or with ``step`` None on
    its last reached step's event. Needs the chain's step ids (``ChainSpec.ids``)."""
    from opdash.metrics.sequence import without_moment

    view, _moment = without_moment(catalog)
    values = start_values(view, spec.types, path)
    ids = {1: chosen.start_id} | {k: chosen[f"i{k}"] for k in range(2, spec.n + 1)}
    if step is None:
        cases = [(chosen.level == k, ids[k]) for k in range(spec.n, 1, -1)]
        aid = ibis.cases(*cases, else_=chosen.start_id) if cases else chosen.start_id
    else:
        aid = ids[step]
    marked = chosen.mutate(aid_v=aid)
    both = marked.left_join(values, marked.aid_v == values.id_v)
    return both.select(*chosen.columns, **{name: both.v})


# -- time to convert --------------------------------------------------------------------------
def time_to_convert(levels, start: int, end: int, bins: int) -> TimeToConvert:
    """A histogram of seconds from step ``start`` to step ``end`` over converting entities."""
    gaps = levels.filter(levels.level >= end).select(
        gap_us=levels[f"u{end}"] - levels[f"u{start}"],
        gap=(levels[f"u{end}"] - levels[f"u{start}"]).cast("float64") / _US,
    )
    stats = (
        gaps.aggregate(
            n=gaps.count(),
            lo=gaps.gap.min(),
            hi=gaps.gap.max(),
            med=gaps.gap.median(),
            total_us=exact_sum(gaps.gap_us),
        )
        .execute()
        .iloc[0]
        .to_dict()
    )
    n = int(stats["n"] or 0)
    if n == 0:
        return TimeToConvert(start, end, 0, None, None, [])
    lo, hi = float(stats["lo"]), float(stats["hi"])
    width = (hi - lo) / bins if hi > lo else 1.0
    index = ((gaps.gap - lo) / width).floor().cast("int64")
    index = ibis.ifelse(index >= bins, bins - 1, index)
    binned = gaps.mutate(b=index)
    counts = binned.group_by("b").aggregate(c=binned.count()).execute()
    by_bin = dict(zip(counts["b"].astype(int), counts["c"].astype(int), strict=True))
    edges = [lo + i * width for i in range(bins + 1)] if hi > lo else [lo] * (bins + 1)
    if hi > lo:
        edges[-1] = hi
    return TimeToConvert(
        from_step=start,
        to_step=end,
        entities=n,
        median_seconds=num(stats["med"]),
        mean_seconds=exact_mean_seconds(stats["total_us"], n),
        bins=[
            HistogramBin(edges[i], edges[i + 1] if hi > lo else hi, by_bin.get(i, 0))
            for i in range(bins if hi > lo else 1)
        ],
    )


# -- conversion over time ---------------------------------------------------------------------
def conversion_trend(
    levels, steps: list[str], window_s: int, since, until, trend: TrendSpec
) -> ConversionTrend:
    """Per entry period (of the chosen step-1 event, in ``tz``): entered, converted, rate."""
    from opdash.calendar import buckets, next_period

    n = len(steps)
    row = levels.aggregate(lo=levels.u1.min(), hi=levels.u1.max()).execute().iloc[0]
    first = since or (from_micros(row["lo"]) if num(row["lo"]) is not None else None)
    last = until or (
        from_micros(row["hi"]) + timedelta(microseconds=1) if num(row["hi"]) is not None else None
    )
    if first is None or last is None:
        return ConversionTrend(trend.interval, trend.tz.key, trend.as_of, [])
    starts = buckets(first, last, trend.interval, trend.tz)
    ends = [*starts[1:], next_period(starts[-1], trend.interval, trend.tz)]
    bounds = ibis.memtable(
        {
            "b_key": list(range(len(starts))),
            "b_start": [to_micros(b) for b in starts],
            "b_end": [to_micros(b) for b in ends],
        }
    )
    keyed = levels.join(bounds, [levels.u1 >= bounds.b_start, levels.u1 < bounds.b_end])
    counts = keyed.group_by("b_key").aggregate(
        entered=keyed.count(), converted=(keyed.level >= n).cast("int64").sum()
    )
    found = {
        int(r["b_key"]): (int(r["entered"]), int(r["converted"]))
        for r in counts.execute().to_dict("records")
    }
    periods = []
    window = timedelta(seconds=window_s)
    for i, start in enumerate(starts):
        entered, converted = found.get(i, (0, 0))
        periods.append(
            TrendPeriod(
                start=start,
                entered=entered,
                converted=converted,
                rate=(converted / entered) if entered else None,
                incomplete=ends[i].astimezone(UTC) + window > trend.as_of.astimezone(UTC),
            )
        )
    return ConversionTrend(trend.interval, trend.tz.key, trend.as_of, periods)


# -- drop-offs --------------------------------------------------------------------------------
def drop_offs(levels, catalog, spec: ChainSpec, by: str, step: int, limit: int) -> DropOffs:
    """Entities at exactly level ``step``, with their newest event (of any type)."""
    from opdash.metrics.sqlfuncs import functions  # declares ibis builtins

    fns = functions(catalog)
    stuck = levels.filter(levels.level == step)
    reached = stuck[f"u{step}"] if spec.order != "unordered" else stuck.u1
    stuck = stuck.select("entity", reached_us=reached)
    events = catalog.table("events")
    mine = events.mutate(entity=fns.field(events, by)).filter(lambda t: t.entity.notnull())
    mine = mine.semi_join(stuck, mine.entity == stuck.entity)
    mine = mine.mutate(
        nth=ibis.row_number().over(
            group_by=mine.entity, order_by=[ibis.desc(mine.occurred_at), ibis.desc(mine.event_id)]
        )
    )
    newest = mine.filter(mine.nth == 0).select(
        "entity",
        last_us=fns.epoch_us(mine.occurred_at),
        last_type="event_type",
        last_id="event_id",
    )
    joined = stuck.join(newest, stuck.entity == newest.entity).select(
        stuck.entity, stuck.reached_us, newest.last_us, newest.last_type, newest.last_id
    )
    total = int(joined.count().execute())
    rows = joined.order_by([ibis.desc("last_us"), "entity"]).limit(limit).execute()
    return DropOffs(
        step=step,
        event_type=spec.steps[step - 1],
        next_event_type=spec.steps[step] if step < spec.n else None,
        total=total,
        entities=[
            DroppedEntity(
                entity=str(r["entity"]),
                reached_at=from_micros(r["reached_us"]),
                last_event_type=str(r["last_type"]),
                last_event_id=str(r["last_id"]),
                last_event_at=from_micros(r["last_us"]),
            )
            for r in rows.to_dict("records")
        ],
    )


# -- exact numbers ----------------------------------------------------------------------------
def exact_sum(us: ibis.Value) -> ibis.Value:
    """A sum of microseconds that is exact, so the same data always gives the same mean: a
    float average depends on the order parallel threads add in (snapshots must not change)."""
    return us.cast("decimal(38, 0)").sum()


def exact_mean_seconds(total_us: Any, n: Any) -> float | None:
    """``total_us / n`` in seconds, rounded once (None without values)."""
    count = int(num(n) or 0)
    if not count or total_us is None:
        return None
    return float(Fraction(Decimal(str(total_us))) / (count * _US))


def num(value: Any) -> float | None:
    """A plain float from a pandas/numpy scalar, None for NULL/NaN."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def text(value: Any) -> str | None:
    return None if value is None or value != value else str(value)
