"""Conversion funnels with exact, documented semantics (see docs/metrics.md).

An *entity* (by default a workflow) enters the funnel with a step-1 event and reaches step k when
it has events of steps 1..k in order, all within ``window`` of that step-1 event (inclusive). Its
level is the best over every step-1 event it has. At equal timestamps, events of earlier funnel
steps sort first, then events of no step, then by ``event_id``. The whole computation is one ibis
expression: ASOF joins find each next step, so the work stays in DuckDB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import ibis

from opdash.errors import UsageError, did_you_mean
from opdash.metrics.sqlfuncs import epoch_us
from opdash.metrics.sqlfuncs import field as envelope_field
from opdash.templates import TableName
from opdash.timeutil import from_micros, parse_duration, parse_instant, to_micros

ORDERS = ("ordered", "strict", "unordered")
DEFAULT_BY = "correlation.workflow_id"
DEFAULT_WINDOW = "14d"
DEFAULT_BREAKDOWN_LIMIT = 10
DEFAULT_BINS = 10
DEFAULT_DROPPED_LIMIT = 50
TREND_INTERVALS = ("day", "week")
OTHER = "Other"
_US = 1_000_000


@dataclass(frozen=True)
class FunnelStep:
    """One step of a funnel result."""

    step: int
    event_type: str
    count: int
    conversion_from_previous: float | None
    conversion_from_start: float | None
    median_seconds_from_previous: float | None = None
    mean_seconds_from_previous: float | None = None


@dataclass(frozen=True)
class FunnelGroup:
    """The funnel of one breakdown value (``None``: the path is absent; ``"Other"``: the rest)."""

    value: str | None
    steps: list[FunnelStep]


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
class FunnelResult:
    """A computed funnel: its steps and the parameters that produced it."""

    steps: list[FunnelStep]
    order: str
    window_seconds: int
    by: str
    since: datetime | None = None
    until: datetime | None = None
    missing_event_types: list[str] = field(default_factory=list)
    excluded: int | None = None
    exclude: list[str] = field(default_factory=list)
    breakdown: list[FunnelGroup] | None = None
    breakdown_by: str | None = None
    time_to_convert: TimeToConvert | None = None
    trend: ConversionTrend | None = None
    dropped: DropOffs | None = None

    @property
    def entities(self) -> int:
        """Entities that entered the funnel (reached step 1)."""
        return self.steps[0].count if self.steps else 0

    def to_dict(self) -> dict[str, Any]:
        timed = self.order != "unordered"
        steps = [_step_dict(step, timed) for step in self.steps]
        out: dict[str, Any] = {
            "steps": steps,
            "order": self.order,
            "window_seconds": self.window_seconds,
            "entities": self.entities,
            "by": self.by,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "missing_event_types": list(self.missing_event_types),
        }
        if self.excluded is not None:
            out["exclude"] = list(self.exclude)
            out["excluded"] = self.excluded
        if self.breakdown is not None:
            out["breakdown_by"] = self.breakdown_by
            out["breakdown"] = [
                {"value": g.value, "steps": [_step_dict(s, timed) for s in g.steps]}
                for g in self.breakdown
            ]
        if self.time_to_convert is not None:
            out["time_to_convert"] = self.time_to_convert.to_dict()
        if self.trend is not None:
            out["trend"] = self.trend.to_dict()
        if self.dropped is not None:
            out["dropped"] = self.dropped.to_dict()
        return out

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.to_dict()["steps"]).set_index("step")


def _step_dict(step: FunnelStep, timed: bool) -> dict[str, Any]:
    item = asdict(step)
    if not timed:
        item.pop("median_seconds_from_previous")
        item.pop("mean_seconds_from_previous")
    return item


def funnel(
    catalog,
    steps: list[str] | tuple[str, ...] | str,
    *,
    window: str | int = DEFAULT_WINDOW,
    order: str = "ordered",
    by: str = DEFAULT_BY,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    breakdown: str | None = None,
    breakdown_limit: int = DEFAULT_BREAKDOWN_LIMIT,
    exclude: list[str] | tuple[str, ...] | None = None,
    time_to_convert: str | tuple[int, int] | None = None,
    bins: int = DEFAULT_BINS,
    trend: str | None = None,
    tz: str = "UTC",
    as_of: str | datetime | None = None,
    dropped_at: int | None = None,
    dropped_limit: int = DEFAULT_DROPPED_LIMIT,
) -> FunnelResult:
    """Compute a funnel over ``catalog``'s events. Raises UsageError for bad arguments.

    The optional parts (breakdown, exclusions, time to convert, conversion over time, drop-offs)
    are all measured on each entity's chosen chain; see docs/metrics.md.
    """
    spec = _FunnelSpec.parse(steps, window, order, by, since, until)
    excludes = [e.strip() for e in (exclude or []) if e and e.strip()]
    ttc = _parse_ttc(time_to_convert, spec.steps) if time_to_convert else None
    if ttc and spec.order == "unordered":
        raise UsageError("time to convert needs an ordered or strict funnel")
    if bins < 1:
        raise UsageError(f"bad bins '{bins}': use a whole number ≥ 1")
    if breakdown_limit < 1:
        raise UsageError(f"bad breakdown limit '{breakdown_limit}': use a whole number ≥ 1")
    if dropped_at is not None and not 1 <= dropped_at <= len(spec.steps):
        raise UsageError(f"bad dropped-at '{dropped_at}': use a step from 1 to {len(spec.steps)}")
    trend_spec = _TrendSpec.parse(trend, tz, as_of) if trend else None
    if excludes and spec.order == "unordered":
        raise UsageError("exclusions need an ordered or strict funnel")

    events = catalog.table("events")
    entity = envelope_field(events, spec.by)
    carry = {"bd": envelope_field(events, breakdown)} if breakdown else {}
    timed = spec.order != "unordered"
    shared = None if carry or excludes or not timed else _SharedChains.of(catalog, spec)
    parts_asked = bool(breakdown or ttc or trend_spec or dropped_at is not None)
    if shared and not parts_asked:
        levels = None  # the counts are asked of the shared chains by compiled SQL
    else:
        levels = shared.levels() if shared else _levels(events, entity, spec, carry, excludes)
    excluded = None
    if excludes:
        kept = _without_excluded(levels, events, entity, spec, excludes)
        excluded = _count(levels) - _count(kept)
        levels = kept
    if shared:
        values = shared.counts()
    else:
        values = _one_row(levels.aggregate(**_aggregates(levels, len(spec.steps), timed=timed)))
    step_rows = _steps(spec.steps, values, timed=timed)
    return FunnelResult(
        steps=step_rows,
        order=spec.order,
        window_seconds=spec.window_s,
        by=spec.by,
        since=spec.since,
        until=spec.until,
        missing_event_types=_missing_types(catalog, step_rows),
        excluded=excluded,
        exclude=excludes,
        breakdown=_breakdown(levels, spec, breakdown_limit, timed) if breakdown else None,
        breakdown_by=breakdown,
        time_to_convert=_time_to_convert(levels, *ttc, bins) if ttc else None,
        trend=_conversion_trend(levels, spec, trend_spec) if trend_spec else None,
        dropped=(
            _drop_offs(levels, events, entity, spec, dropped_at, dropped_limit)
            if dropped_at is not None
            else None
        ),
    )


@dataclass(frozen=True)
class _FunnelSpec:
    """The validated core parameters of a funnel."""

    steps: list[str]
    window_s: int
    order: str
    by: str
    since: datetime | None
    until: datetime | None

    @property
    def window_us(self) -> int:
        return self.window_s * _US

    @property
    def range_us(self) -> tuple[int | None, int | None]:
        """``since`` and ``until`` as epoch microseconds (None: open)."""
        return tuple(None if t is None else to_micros(t) for t in (self.since, self.until))

    @classmethod
    def parse(cls, steps, window, order, by, since, until) -> _FunnelSpec:
        step_list = parse_steps(steps)
        if order not in ORDERS:
            raise UsageError(
                f"bad order '{order}'{did_you_mean(order, ORDERS)} (use {', '.join(ORDERS)})"
            )
        if order == "unordered" and len(set(step_list)) != len(step_list):
            raise UsageError("an unordered funnel needs distinct steps: " + ",".join(step_list))
        since_t = parse_instant(since, name="since")
        until_t = parse_instant(until, name="until")
        if since_t and until_t and since_t >= until_t:
            raise UsageError(f"empty date range: since {since_t.isoformat()} is not before until")
        return cls(step_list, parse_duration(window), order, by, since_t, until_t)


@dataclass(frozen=True)
class _TrendSpec:
    interval: str
    tz: Any
    as_of: datetime

    @classmethod
    def parse(cls, interval: str, tz: str, as_of) -> _TrendSpec:
        from opdash.calendar import check_period, zone

        check_period(interval, TREND_INTERVALS, name="trend interval")
        moment = parse_instant(as_of, name="as-of") or datetime.now(UTC)
        return cls(interval, zone(tz), moment)


def entity_levels(
    catalog,
    steps: list[str],
    *,
    window: str | int = DEFAULT_WINDOW,
    order: str = "ordered",
    by: str = DEFAULT_BY,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
) -> ibis.Table:
    """One row per entity that entered the funnel: ``entity`` and its ``level`` (1..n).

    For ordered/strict also its chosen chain: ``p1``..``pn`` (positions in the entity's funnel
    order) and ``u1``..``un`` (epoch microseconds), NULL past its level. Other metrics (pipeline,
    breakdowns, drop-offs) build on this expression.
    """
    spec = _FunnelSpec.parse(steps, window, order, by, since, until)
    events = catalog.table("events")
    return _levels(events, envelope_field(events, spec.by), spec, {}, [])


def parse_steps(steps: list[str] | tuple[str, ...] | str) -> list[str]:
    """A list of step event types from a list or a comma-separated string."""
    items = steps.split(",") if isinstance(steps, str) else list(steps)
    cleaned = [str(s).strip() for s in items]
    if not cleaned or any(not s for s in cleaned):
        raise UsageError(
            f"bad steps '{','.join(map(str, items))}': give event types separated by commas"
        )
    if len(cleaned) > MAX_STEPS:
        raise UsageError(f"a funnel has at most {MAX_STEPS} steps; {len(cleaned)} were given")
    return cleaned


#: More steps make a query deep enough to overflow the SQL compiler's recursion (45 did), and
#: no operator loop has them (goals.yaml has the same bound).
MAX_STEPS = 20


def _parse_ttc(value: str | tuple[int, int], steps: list[str]) -> tuple[int, int]:
    """``FROM:TO`` as step numbers (``1:5``) or event types (``signal.created:trade.closed``)."""
    if isinstance(value, tuple):
        start, end = value
    else:
        left, sep, right = str(value).partition(":")
        if not sep:
            raise UsageError(f"bad time to convert '{value}': use FROM:TO, e.g. 1:{len(steps)}")
        start, end = (_step_number(part.strip(), steps, value) for part in (left, right))
    if not 1 <= start < end <= len(steps):
        raise UsageError(
            f"bad time to convert '{value}': FROM must come before TO, both between 1 and "
            f"{len(steps)}"
        )
    return start, end


def _step_number(part: str, steps: list[str], whole) -> int:
    if part.isdigit():
        return int(part)
    if part in steps:
        return steps.index(part) + 1
    raise UsageError(
        f"bad time to convert '{whole}': '{part}' is not a step{did_you_mean(part, steps)}"
    )


def _sequence(
    events: ibis.Table,
    entity: ibis.Value,
    steps: list[str],
    carry: dict[str, ibis.Value],
    *,
    every_type: bool,
    also: list[str] = (),
    span: tuple[datetime | None, datetime | None] = (None, None),
) -> ibis.Table:
    """Each entity's events numbered in funnel order (time, earliest matching step, event id).

    Only step events (plus ``also`` types) are kept unless ``every_type``: dropping other events
    does not change the relative order of the rest. ``carry`` columns ride along (breakdowns).
    Events outside ``span`` (see ``_span``) cannot be on any chain and are dropped first, so
    a narrow date range sorts only its own events.
    """
    base = events.mutate(entity=entity, **carry).filter(lambda t: t.entity.notnull())
    low, high = span
    if low is not None:
        base = base.filter(base.occurred_at >= low)
    if high is not None:
        base = base.filter(base.occurred_at <= high)
    if not every_type:
        base = base.filter(base.event_type.isin(list(dict.fromkeys([*steps, *also]))))
    first_index = {t: i for i, t in reversed(list(enumerate(steps)))}
    rank = ibis.cases(
        *((base.event_type == t, i) for t, i in first_index.items()), else_=len(steps)
    )
    position = ibis.row_number().over(
        group_by=base.entity, order_by=[base.occurred_at, rank, base.event_id]
    )
    # how many step-1 events the entity has: most have one, and need no choice of chain
    starts = (base.event_type == steps[0]).cast("int64").sum().over(group_by=base.entity)
    return base.select(
        "entity",
        "event_type",
        *carry,
        pos=position,
        us=epoch_us(base.occurred_at),
        multi=starts > 1,
    )


def _span(spec: _FunnelSpec) -> tuple[datetime | None, datetime | None]:
    """Where a chain of this funnel can lie: from ``since`` to ``until`` plus the window.

    A chain starts at a step-1 event in ``[since, until)`` and ends within the window after it.
    Dropping events outside keeps the relative order of the rest (time comes first in it), and
    an event after the span is never within the window of a chain, so every chain, strict ones
    included, is unchanged.
    """
    high = spec.until + timedelta(seconds=spec.window_s) if spec.until is not None else None
    return spec.since, high


def _in_range(table: ibis.Table, us: str, since_us, until_us):
    """Rows whose ``us`` column lies in ``[since_us, until_us)`` (epoch microseconds, ints or
    stand-ins; None leaves that side open)."""
    if since_us is not None:
        table = table.filter(table[us] >= since_us)
    if until_us is not None:
        table = table.filter(table[us] < until_us)
    return table


def _levels(events, entity, spec: _FunnelSpec, carry, also: list[str]) -> ibis.Table:
    """One row per entity: its level and, for ordered/strict, its chosen chain."""
    if spec.order == "unordered":
        seq = _sequence(events, entity, spec.steps, carry, every_type=False, span=_span(spec))
        return _unordered_levels(seq, spec)
    return _chosen(_chains(events, entity, spec, carry, also, in_range=True), len(spec.steps))


def _chains(events, entity, spec: _FunnelSpec, carry, also, *, in_range: bool) -> ibis.Table:
    """One row per step-1 event: the chain it starts (positions ``p*``, times ``u*``) and its
    level. ``in_range=False``: every start, whatever the date range (see ``_SharedChains``)."""
    steps = spec.steps
    seq = _sequence(
        events,
        entity,
        steps,
        carry,
        every_type=spec.order == "strict",
        also=also,
        span=_span(spec) if in_range else (None, None),
    )
    starts = seq.filter(seq.event_type == steps[0])
    if in_range:
        starts = _in_range(starts, "us", *spec.range_us)
    chain = starts.select("entity", "multi", *carry, p1="pos", u1="us")
    for k in range(2, len(steps) + 1):
        chain = _next_step(chain, seq, k, steps[k - 1], spec.order, spec.window_us)
    return chain.mutate(level=_reached(chain, len(steps)))


def _reached(chain: ibis.Table, n: int) -> ibis.Value:
    reached = [chain[f"p{k}"].notnull().cast("int64") for k in range(2, n + 1)]
    return sum(reached, ibis.literal(1, "int64"))


def _chosen(chain: ibis.Table, n: int) -> ibis.Table:
    """Each entity's chosen chain, with ``p_last``, the position of its last step reached."""
    chosen = _choose_chain(
        chain, [c for c in chain.columns if c not in ("entity", "multi", "level")]
    )
    last = [chosen[f"p{k}"] for k in range(n, 0, -1)]
    return chosen.mutate(p_last=ibis.coalesce(*last))


@dataclass
class _SharedChains:
    """A funnel answered from chains computed once per data version for every date range.

    A start's chain does not depend on the date range (see ``_span``): the chains of every
    start are kept in a table (``Catalog.materialized``), and a question only picks the starts
    in its range and chooses per entity. "As of" a moment, a chain is cut at it: along an
    ordered or strict chain times only grow, so the steps up to the moment are exactly the
    chain the events up to the moment give. Both queries are compiled once per shape
    (``opdash.templates``): a new date range or actor reuses the compiled SQL.
    """

    runner: Any  # the Catalog
    chains: TableName
    spec: _FunnelSpec
    bounds: dict[str, int]  # since / until / moment, as epoch microseconds, when set

    @classmethod
    def of(cls, catalog, spec: _FunnelSpec) -> _SharedChains | None:
        """None when ``catalog`` is not a view these chains apply to."""
        from opdash.catalog import CatalogAsOf
        from opdash.metrics.scope import shaped, shared_table

        moment = None
        if isinstance(catalog, CatalogAsOf):
            moment, catalog = catalog.moment, catalog.before
        what = (tuple(spec.steps), spec.order, spec.window_s, spec.by)

        def build(view) -> ibis.Table:
            events = view.table("events")
            return _chains(events, envelope_field(events, spec.by), spec, {}, [], in_range=False)

        parts = shaped(catalog)
        if parts is None:
            return None
        every_type = spec.order == "strict"  # a strict chain reads what lies between its steps
        chains = shared_table(
            catalog, "funnel chains", build, what, event_types=None if every_type else spec.steps
        )
        since_us, until_us = spec.range_us
        bounds = {
            name: value
            for name, value in (
                ("since", since_us),
                ("until", until_us),
                ("moment", None if moment is None else to_micros(moment)),
            )
            if value is not None
        }
        return cls(parts.runner, chains, spec, bounds)

    def levels(self, given: Any = None) -> ibis.Table:
        """Each entity's chosen chain (as ``_levels``); ``given``: the bounds to use."""
        bounds = self.bounds if given is None else given
        chains = self.runner.table(self.chains.name) if given is None else given["chains"]
        chains = _in_range(chains, "u1", bounds.get("since"), bounds.get("until"))
        n = len(self.spec.steps)
        if "moment" in bounds:
            chains = _cut(chains, n, bounds["moment"])
        return _chosen(chains, n)

    def counts(self) -> dict[str, Any]:
        """The aggregate row ``_steps`` reads, by SQL compiled once per shape."""
        n = len(self.spec.steps)

        def build(given) -> ibis.Table:
            levels = self.levels(given)
            return levels.aggregate(**_aggregates(levels, n, timed=True))

        # the chains' table changes with the filter values: its name is a value, not the shape
        shape = ("funnel counts", n, tuple(self.bounds), tuple(self.chains.schema.items()))
        answer = self.runner.query(shape, build, chains=self.chains, **self.bounds)
        return answer.iloc[0].to_dict()


def _cut(chains: ibis.Table, n: int, moment_us) -> ibis.Table:
    """Chains as they stood at ``moment_us``: later steps not reached yet."""
    chains = chains.filter(chains.u1 <= moment_us)
    kept = {}
    for k in range(2, n + 1):
        before = chains[f"u{k}"] <= moment_us
        kept[f"p{k}"] = ibis.ifelse(before, chains[f"p{k}"], ibis.null("int64"))
        kept[f"u{k}"] = ibis.ifelse(before, chains[f"u{k}"], ibis.null("int64"))
    chains = chains.mutate(**kept)
    return chains.mutate(level=_reached(chains, n))


def _choose_chain(chain: ibis.Table, columns: list[str]) -> ibis.Table:
    """Per entity, the chain of its best level with the earliest step-1 event.

    An entity with one step-1 event has one chain; only the others are grouped (one hash
    aggregate with ``arg_max`` instead of two window passes over every chain).
    """
    single = chain.filter(~chain.multi).select("entity", "level", *columns)
    several = chain.filter(chain.multi)
    key = several.level * (1 << 40) - several.p1  # positions are far below 2**40
    best = several.group_by("entity").aggregate(
        level=several.level.max(), **{c: several[c].argmax(key) for c in columns}
    )
    return single.union(best.select("entity", "level", *columns))


def _next_step(chain, seq, k: int, event_type: str, order: str, window_us: int) -> ibis.Table:
    """Extend every chain with the earliest event of step ``k`` after its step k-1 (or NULL)."""
    prev = chain[f"p{k - 1}"]
    if order == "strict":
        right = seq.view().select(e_r="entity", pos_r="pos", type_r="event_type", us_r="us")
        left = chain.mutate(next_pos=prev + 1)
        joined = left.left_join(right, [left.entity == right.e_r, left.next_pos == right.pos_r])
        ok = (joined.type_r == event_type) & (joined.us_r <= joined.u1 + window_us)
    else:
        right = seq.filter(seq.event_type == event_type).select(
            e_r="entity", key_r=-seq.pos, pos_r="pos", us_r="us"
        )
        left = chain.mutate(key_l=-(prev + 1))
        joined = left.asof_join(
            right, on=left.key_l >= right.key_r, predicates=[left.entity == right.e_r]
        )
        ok = joined.pos_r.notnull() & (joined.us_r <= joined.u1 + window_us)
    return joined.select(
        *chain.columns,
        **{
            f"p{k}": ibis.ifelse(ok, joined.pos_r, ibis.null("int64")),
            f"u{k}": ibis.ifelse(ok, joined.us_r, ibis.null("int64")),
        },
    )


def _unordered_levels(seq, spec: _FunnelSpec) -> ibis.Table:
    """Per entity, the most distinct step types found in one window starting at a step event.

    The chosen start is the earliest (in funnel order) reaching that level; its carried columns
    (breakdown value) and time ``u1`` describe the entity.
    """
    carry = [c for c in seq.columns if c not in ("entity", "event_type", "pos", "us", "multi")]
    table = _in_range(seq, "us", *spec.range_us).select("entity", *carry, "pos", u1="us")
    found = []
    for j, event_type in enumerate(spec.steps):
        right = seq.filter(seq.event_type == event_type).select(
            e_r="entity", key_r=-seq.us, us_r="us"
        )
        left = table.mutate(key_l=-table.u1)
        joined = left.asof_join(
            right, on=left.key_l >= right.key_r, predicates=[left.entity == right.e_r]
        )
        hit = joined.us_r.notnull() & (joined.us_r <= joined.u1 + spec.window_us)
        table = joined.select(*table.columns, **{f"f{j}": hit.cast("int64")})
        found.append(f"f{j}")
    per_start = table.mutate(level=sum((table[c] for c in found), ibis.literal(0, "int64")))
    ranked = per_start.mutate(
        nth=ibis.row_number().over(
            group_by=per_start.entity, order_by=[ibis.desc(per_start.level), per_start.pos]
        )
    )
    return ranked.filter(ranked.nth == 0).select("entity", *carry, "u1", "level")


def _without_excluded(levels, events, entity, spec: _FunnelSpec, excludes: list[str]):
    """Chosen chains with no excluded event strictly between their first and last step."""
    seq = _sequence(
        events,
        entity,
        spec.steps,
        {},
        every_type=spec.order == "strict",
        also=excludes,
        span=_span(spec),
    )
    bad = seq.filter(seq.event_type.isin(excludes)).select(e_x="entity", pos_x="pos")
    return levels.anti_join(
        bad,
        [levels.entity == bad.e_x, bad.pos_x > levels.p1, bad.pos_x < levels.p_last],
    )


def _missing_types(catalog, steps: list[FunnelStep]) -> list[str]:
    """Step types that never occur; the (cached, but full) type scan only runs if a count is 0."""
    if all(step.count for step in steps):
        return []
    present = set(catalog.event_types())
    return [t for t in dict.fromkeys(s.event_type for s in steps) if t not in present]


def _count(table: ibis.Table) -> int:
    return int(table.count().execute())


def _one_row(expr: ibis.Table) -> dict[str, Any]:
    return expr.execute().iloc[0].to_dict()


def _aggregates(levels: ibis.Table, n: int, *, timed: bool) -> dict[str, ibis.Value]:
    out: dict[str, ibis.Value] = {}
    for k in range(1, n + 1):
        out[f"c{k}"] = (levels.level >= k).cast("int64").sum()
        if timed and k >= 2:
            gap_us = levels[f"u{k}"] - levels[f"u{k - 1}"]
            out[f"med{k}"] = (gap_us.cast("float64") / _US).median()
            out[f"sum{k}"], out[f"n{k}"] = _exact_sum(gap_us), gap_us.count()
    return out


def _exact_sum(us: ibis.Value) -> ibis.Value:
    """A sum of microseconds that is exact, so the same data always gives the same mean: a
    float average depends on the order parallel threads add in (snapshots must not change)."""
    return us.cast("decimal(38, 0)").sum()


def _exact_mean_seconds(total_us: Any, n: Any) -> float | None:
    """``total_us / n`` in seconds, rounded once (None without values)."""
    count = int(_num(n) or 0)
    if not count or total_us is None:
        return None
    return float(Fraction(Decimal(str(total_us))) / (count * _US))


def _steps(steps: list[str], values: dict[str, Any], *, timed: bool) -> list[FunnelStep]:
    counts = [int(_num(values.get(f"c{k}")) or 0) for k in range(1, len(steps) + 1)]
    out = []
    for k, event_type in enumerate(steps, start=1):
        count, first = counts[k - 1], counts[0]
        previous = counts[k - 2] if k > 1 else first
        out.append(
            FunnelStep(
                step=k,
                event_type=event_type,
                count=count,
                conversion_from_previous=(count / previous) if previous else None,
                conversion_from_start=(count / first) if first else None,
                median_seconds_from_previous=_num(values.get(f"med{k}")) if timed else None,
                mean_seconds_from_previous=(
                    _exact_mean_seconds(values.get(f"sum{k}"), values.get(f"n{k}"))
                    if timed
                    else None
                ),
            )
        )
    return out


def _breakdown(levels, spec: _FunnelSpec, limit: int, timed: bool) -> list[FunnelGroup]:
    """Top ``limit`` values by step-1 count, the rest merged into Other; groups add up."""
    ranked = levels.group_by("bd").aggregate(n=levels.count())
    top = ranked.order_by([ibis.desc("n"), ranked.bd.asc(nulls_first=True)]).limit(limit)
    keep = [row for row in top.execute()["bd"].tolist()]
    keep_values = [v for v in keep if v is not None and v == v]
    keeps_null = len(keep_values) != len(keep)
    # a NULL value is never "in" the kept ones (isin gives NULL, not False): coalesce, or the
    # entities without a value would form a second Other group
    kept_value = ibis.coalesce(levels.bd.isin(keep_values), ibis.literal(False))
    kept_null = levels.bd.isnull() & ibis.literal(keeps_null)
    grouped = levels.mutate(
        grp=ibis.cases(
            (kept_value, levels.bd),
            (kept_null, ibis.null("string")),
            else_=ibis.literal(OTHER),
        ),
        is_other=~(kept_value | kept_null),
    )
    aggs = _aggregates(grouped, len(spec.steps), timed=timed)
    frame = grouped.group_by(["grp", "is_other"]).aggregate(**aggs).execute()
    # listed in ranking order: step-1 count, then value with null first (as the limit chose)
    frame["has_value"] = frame["grp"].notna()
    frame["label"] = frame["grp"].fillna("").astype(str)
    frame = frame.sort_values(
        ["is_other", "c1", "has_value", "label"], ascending=[True, False, True, True], kind="stable"
    )
    return [
        FunnelGroup(
            value=OTHER if row["is_other"] else _text(row["grp"]),
            steps=_steps(spec.steps, row, timed=timed),
        )
        for row in frame.to_dict("records")
    ]


def _text(value: Any) -> str | None:
    return None if value is None or value != value else str(value)


def _time_to_convert(levels, start: int, end: int, bins: int) -> TimeToConvert:
    """A histogram of seconds from step ``start`` to step ``end`` over converting entities."""
    gaps = levels.filter(levels.level >= end).select(
        gap_us=levels[f"u{end}"] - levels[f"u{start}"],
        gap=(levels[f"u{end}"] - levels[f"u{start}"]).cast("float64") / _US,
    )
    stats = _one_row(
        gaps.aggregate(
            n=gaps.count(),
            lo=gaps.gap.min(),
            hi=gaps.gap.max(),
            med=gaps.gap.median(),
            total_us=_exact_sum(gaps.gap_us),
        )
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
        median_seconds=_num(stats["med"]),
        mean_seconds=_exact_mean_seconds(stats["total_us"], n),
        bins=[
            HistogramBin(edges[i], edges[i + 1] if hi > lo else hi, by_bin.get(i, 0))
            for i in range(bins if hi > lo else 1)
        ],
    )


def _conversion_trend(levels, spec: _FunnelSpec, trend: _TrendSpec) -> ConversionTrend:
    """Per entry period (of the chosen step-1 event, in ``tz``): entered, converted, rate."""
    from opdash.calendar import buckets, next_period

    n = len(spec.steps)
    row = _one_row(levels.aggregate(lo=levels.u1.min(), hi=levels.u1.max()))
    first = spec.since or (from_micros(row["lo"]) if _num(row["lo"]) is not None else None)
    last = spec.until or (
        from_micros(row["hi"]) + timedelta(microseconds=1) if _num(row["hi"]) is not None else None
    )
    if first is None or last is None:
        return ConversionTrend(trend.interval, trend.tz.key, trend.as_of, [])
    starts = buckets(first, last, trend.interval, trend.tz)
    bounds = ibis.memtable(
        {
            "b_start": [to_micros(b) for b in starts],
            "b_key": list(range(len(starts))),
        }
    )
    keyed = levels.asof_join(bounds, on=levels.u1 >= bounds.b_start)
    counts = keyed.group_by("b_key").aggregate(
        entered=keyed.count(), converted=(keyed.level >= n).cast("int64").sum()
    )
    frame = counts.execute()
    found = {
        int(r["b_key"]): (int(r["entered"]), int(r["converted"]))
        for r in frame.to_dict("records")
        if r["b_key"] == r["b_key"] and r["b_key"] is not None
    }
    periods = []
    window = timedelta(seconds=spec.window_s)
    for i, start in enumerate(starts):
        entered, converted = found.get(i, (0, 0))
        end = next_period(start, trend.interval, trend.tz)
        periods.append(
            TrendPeriod(
                start=start,
                entered=entered,
                converted=converted,
                rate=(converted / entered) if entered else None,
                incomplete=end.astimezone(UTC) + window > trend.as_of.astimezone(UTC),
            )
        )
    return ConversionTrend(trend.interval, trend.tz.key, trend.as_of, periods)


def _drop_offs(levels, events, entity, spec: _FunnelSpec, step: int, limit: int) -> DropOffs:
    """Entities at exactly level ``step``, with their newest event (of any type)."""
    stuck = levels.filter(levels.level == step)
    reached = stuck[f"u{step}"] if spec.order != "unordered" else stuck.u1
    stuck = stuck.select("entity", reached_us=reached)
    mine = events.mutate(entity=entity).filter(lambda t: t.entity.notnull())
    mine = mine.mutate(
        nth=ibis.row_number().over(
            group_by=mine.entity, order_by=[ibis.desc(mine.occurred_at), ibis.desc(mine.event_id)]
        )
    )
    newest = mine.filter(mine.nth == 0).select(
        "entity", last_us=epoch_us(mine.occurred_at), last_type="event_type", last_id="event_id"
    )
    joined = stuck.join(newest, stuck.entity == newest.entity).select(
        stuck.entity, stuck.reached_us, newest.last_us, newest.last_type, newest.last_id
    )
    total = _count(joined)
    rows = joined.order_by([ibis.desc("last_us"), "entity"]).limit(limit).execute()
    return DropOffs(
        step=step,
        event_type=spec.steps[step - 1],
        next_event_type=spec.steps[step] if step < len(spec.steps) else None,
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


def _num(value: Any) -> float | None:
    """A plain float from a pandas/numpy scalar, None for NULL/NaN."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number
