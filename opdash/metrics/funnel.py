"""Conversion funnels with exact, documented semantics (see docs/metrics.md).

An *entity* (by default a workflow) enters the funnel with a step-1 event and reaches step k when
it has events of steps 1..k in order, all within ``window`` of that step-1 event (inclusive). Its
level is the best over every step-1 event it has; its *chosen chain* the earliest step-1 event
reaching that level. At equal timestamps, events of earlier funnel steps sort first, then events
of no step, then by ``event_id``.

This module holds the rules: what is asked, what is counted, what the result says. The chains
every question reads come from the sequence engine (:mod:`opdash.metrics.sequence`), the
optional parts (breakdown, exclusions, time to convert, conversion over time, drop-offs) from
:mod:`opdash.metrics.funnel_parts`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from opdash.errors import UsageError, did_you_mean
from opdash.lazy import lazy_module
from opdash.metrics import funnel_parts as parts
from opdash.metrics import sequence
from opdash.metrics.funnel_parts import (
    ConversionTrend,
    DropOffs,
    DroppedEntity,
    HistogramBin,
    TimeToConvert,
    TrendPeriod,
)
from opdash.metrics.scope import shaped
from opdash.metrics.sequence import (
    ORDERS,
    ChainSpec,
    chain_parts_of,
    chosen,
    levels,
    levels_of,
    question_values,
    shared_chains,
    without_moment,
)
from opdash.templates import TableName
from opdash.timeutil import parse_duration, parse_instant, to_micros

ibis = lazy_module("ibis")  # imported on first use: opdash.lazy

DEFAULT_BY = "correlation.workflow_id"
DEFAULT_WINDOW = "14d"
DEFAULT_BREAKDOWN_LIMIT = 10
DEFAULT_BINS = 10
DEFAULT_DROPPED_LIMIT = 50
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
    attribution: str = "first"
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
            out["attribution"] = self.attribution
            # under "all" an entity counts under each value it has: groups need not add up
            out["groups_add_up"] = self.attribution != "all"
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
    attribution: str = "first",
    exclude: list[str] | tuple[str, ...] | None = None,
    time_to_convert: str | tuple[int, int] | None = None,
    bins: int = DEFAULT_BINS,
    trend: str | None = None,
    tz: str = "UTC",
    as_of: str | datetime | None = None,
    dropped_at: int | None = None,
    dropped_limit: int = DEFAULT_DROPPED_LIMIT,
    start_actors: list[str] | tuple[str, ...] | None = None,
) -> FunnelResult:
    """Compute a funnel over ``catalog``'s events. Raises UsageError for bad arguments.

    ``start_actors``: only chains whose step-1 event is by one of these ``actor.id`` values
    start (later steps may be by anyone): the dashboard's actor filter in its default setting.

    The optional parts (breakdown, exclusions, time to convert, conversion over time, drop-offs)
    are all measured on each entity's chosen chain; see docs/metrics.md.
    """
    spec = _FunnelSpec.parse(steps, window, order, by, since, until)
    excludes = [str(e).strip() for e in (exclude or []) if e and str(e).strip()]
    exclusions = parts.parse_exclusions(excludes, len(spec.steps), spec.order)
    ttc = _parse_ttc(time_to_convert, spec.steps) if time_to_convert else None
    if ttc and spec.order == "unordered":
        raise UsageError("time to convert needs an ordered or strict funnel")
    if bins < 1:
        raise UsageError(f"bad bins '{bins}': use a whole number ≥ 1")
    if breakdown_limit < 1:
        raise UsageError(f"bad breakdown limit '{breakdown_limit}': use a whole number ≥ 1")
    if dropped_at is not None and not 1 <= dropped_at <= len(spec.steps):
        raise UsageError(f"bad dropped-at '{dropped_at}': use a step from 1 to {len(spec.steps)}")
    trend_spec = parts.TrendSpec.parse(trend, tz, as_of) if trend else None
    if breakdown:
        from opdash.contract import field_path

        field_path(breakdown)  # a bad path fails before any query
    mode, at_step = parse_attribution(attribution, len(spec.steps))
    if mode != "first" and not breakdown:
        raise UsageError(f"attribution '{attribution}' needs a breakdown")
    if mode in ("last", "step") and spec.order == "unordered":
        raise UsageError(f"attribution '{attribution}' needs an ordered or strict funnel")
    ordered = spec.order != "unordered"
    step_ids = ordered and (bool(excludes) or (bool(breakdown) and mode in ("last", "step")))

    chain_spec = ChainSpec(tuple(spec.steps), spec.order, ids=step_ids)
    timed = spec.order != "unordered"
    starters = tuple(a for a in (start_actors or ()) if a)
    asked = breakdown or ttc or trend_spec or dropped_at is not None or excludes or starters
    excluded = None
    view, moment = without_moment(catalog)
    values = question_values(
        spec.window_us, *spec.range_us, None if moment is None else to_micros(moment)
    )
    within = shaped(view)
    if not asked and within is not None and not within.runner.keep_shared:
        totals = _counts_within(within, view, chain_spec, spec.by, values)
        picked = None
    elif not asked:
        runner, chains, _moment = shared_chains(catalog, chain_spec, spec.by)
        totals = _counts(runner, chains, chain_spec, values)
        picked = None
    else:
        runner, chains, _moment = shared_chains(catalog, chain_spec, spec.by)
        if breakdown and mode == "first":  # the start's value rides along on every chain
            chains = parts.with_start_value(runner, chains, catalog, chain_spec, breakdown, "bd")
        if starters:
            chains = parts.started_by(chains, catalog, chain_spec, starters)
        picked, excluded = _choose(catalog, chains, chain_spec, spec.by, values, exclusions)
        if breakdown and mode in ("last", "step"):  # the value on the chosen chain's step
            step = None if mode == "last" else at_step
            picked = parts.with_step_value(picked, catalog, chain_spec, breakdown, step, "bd")
        if breakdown and mode != "all":  # the whole funnel and its groups in one query
            totals, groups = _breakdown(picked, chain_spec, breakdown_limit)
        else:
            totals = _one_row(picked.aggregate(**aggregates(picked, chain_spec.n, timed=timed)))
        if breakdown and mode == "all":
            groups = _groups_per_value(
                catalog, chain_spec, spec.by, breakdown, values, exclusions, breakdown_limit,
                starters,
            )  # fmt: skip
    step_rows = steps_of(spec.steps, totals, timed=timed)
    return FunnelResult(
        steps=step_rows,
        order=spec.order,
        window_seconds=spec.window_s,
        by=spec.by,
        since=spec.since,
        until=spec.until,
        missing_event_types=_missing_types(catalog, step_rows),
        excluded=excluded,
        exclude=[x.text(len(spec.steps)) for x in exclusions],
        breakdown=groups if breakdown else None,
        breakdown_by=breakdown,
        attribution=attribution_text(mode, at_step),
        time_to_convert=parts.time_to_convert(picked, *ttc, bins) if ttc else None,
        trend=(
            parts.conversion_trend(
                picked, spec.steps, spec.window_s, spec.since, spec.until, trend_spec
            )
            if trend_spec
            else None
        ),
        dropped=(
            parts.drop_offs(picked, catalog, chain_spec, spec.by, dropped_at, dropped_limit)
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
    """One row per entity that entered the funnel: ``entity`` and its ``level`` (1..n), with
    ``start_id`` and ``u1`` (and for ordered and strict ``u2..un``, epoch microseconds, NULL past
    the level) of its chosen chain. Other metrics (the pipeline) build on this expression."""
    spec = _FunnelSpec.parse(steps, window, order, by, since, until)
    chain_spec = ChainSpec(tuple(spec.steps), spec.order)
    _runner, chains, moment = shared_chains(catalog, chain_spec, spec.by)
    values = question_values(
        spec.window_us, *spec.range_us, None if moment is None else to_micros(moment)
    )
    return levels_of(chains, chain_spec, values)


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


def _counts(runner, chains: ibis.Table, spec: ChainSpec, values: dict[str, int]) -> dict:
    """The aggregate row :func:`steps_of` reads, by SQL compiled once per shape: a new window,
    date range or moment reuses it."""
    timed = spec.order != "unordered"
    table = TableName(chains.get_name(), chains.schema())

    def build(given) -> ibis.Table:
        chosen = levels_of(given["chains"], spec, given)
        return chosen.aggregate(**aggregates(chosen, spec.n, timed=timed))

    shape = ("funnel counts", spec, tuple(sorted(values)), tuple(table.schema.items()))
    return runner.query_rows(shape, build, keep=True, chains=table, **values)[0]


def _counts_within(within, view, spec: ChainSpec, by: str, values: dict[str, int]) -> dict:
    """:func:`_counts` with the chains computed within the question, for a catalog that keeps
    nothing (a command asking one question). Its SQL is kept across processes: the shape names
    everything it depends on (steps, order, entity path, the view's filters)."""
    timed = spec.order != "unordered"

    def build(given) -> ibis.Table:
        from opdash.catalog.store import Builder

        parts = chain_parts_of(view, spec, by, Builder(portable=within.runner.portable))
        chosen = levels_of(parts, spec, given)
        return chosen.aggregate(**aggregates(chosen, spec.n, timed=timed))

    filters = tuple(sorted(within.values.items()))
    heavy = sequence.HEAVY_STARTS  # the threshold is in the SQL
    shape = ("funnel counts, chains within", spec, by, heavy, filters, tuple(sorted(values)))
    return within.runner.query_rows(shape, build, keep=True, **values)[0]


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


def aggregates(levels: ibis.Table, n: int, *, timed: bool) -> dict[str, ibis.Value]:
    """Per step k: ``c{k}`` entities at level ≥ k; timed, the median and the exact sum and count
    of the seconds from step k-1 (NULL past an entity's level, so only those reaching k)."""
    out: dict[str, ibis.Value] = {}
    for k in range(1, n + 1):
        out[f"c{k}"] = (levels.level >= k).cast("int64").sum()
        if timed and k >= 2:
            gap_us = levels[f"u{k}"] - levels[f"u{k - 1}"]
            out[f"med{k}"] = (gap_us.cast("float64") / _US).median()
            out[f"sum{k}"], out[f"n{k}"] = parts.exact_sum(gap_us), gap_us.count()
    return out


def steps_of(steps: list[str], values: dict[str, Any], *, timed: bool) -> list[FunnelStep]:
    """The steps of a result from an :func:`aggregates` row."""
    counts = [int(parts.num(values.get(f"c{k}")) or 0) for k in range(1, len(steps) + 1)]
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
                median_seconds_from_previous=parts.num(values.get(f"med{k}")) if timed else None,
                mean_seconds_from_previous=(
                    parts.exact_mean_seconds(values.get(f"sum{k}"), values.get(f"n{k}"))
                    if timed
                    else None
                ),
            )
        )
    return out


def _choose(catalog, chains, spec: ChainSpec, by: str, values, exclusions):
    """Each entity's chosen attempt, and how many entities exclusions removed (None without
    any). With exclusions every attempt is checked first: an entity's level is its best
    attempt's, a clean one preferred at that level; when every attempt at its best level has
    an exclusion event in a range, the entity is removed from the whole funnel."""
    if not exclusions:
        return levels_of(chains, spec, values), None
    window, moment = values["window"], values.get("moment")

    def limit(rows):
        end = rows.u1 + window
        return end if moment is None else ibis.least(end, moment)

    def per_start(part):
        rows = levels(
            part, spec, window_us=window, since_us=values.get("since"),
            until_us=values.get("until"), moment_us=moment,
        )  # fmt: skip
        return parts.with_clean(rows, catalog, spec, by, exclusions, limit)

    everyone = chosen(chains, per_start)
    removed = _count(everyone.filter(~everyone.clean))
    kept = everyone.filter(everyone.clean)
    return kept.select(*(c for c in kept.columns if c != "clean")), removed


ATTRIBUTIONS = ("first", "last", "step:N", "all")


def parse_attribution(value: str | None, n: int) -> tuple[str, int | None]:
    """``first`` | ``last`` | ``step:N`` (1 ≤ N ≤ n) | ``all`` → (mode, N or None)."""
    text = str(value if value not in (None, "") else "first").strip()
    if text in ("first", "last", "all"):
        return text, None
    kind, sep, number = text.partition(":")
    if kind.strip() == "step" and sep:
        if not number.strip().isdigit():
            raise UsageError(f"bad attribution '{text}': give step:N with N a step number")
        step = int(number)
        if not 1 <= step <= n:
            raise UsageError(f"bad attribution '{text}': the funnel has steps 1 to {n}")
        return "step", step
    raise UsageError(
        f"bad attribution '{text}'{did_you_mean(text, ('first', 'last', 'all'))} "
        "(use first, last, step:N or all)"
    )


def attribution_text(mode: str, step: int | None) -> str:
    return f"step:{step}" if mode == "step" else mode


def _groups_per_value(
    catalog, spec, by, path, values, exclusions, limit, starters=()
) -> list[FunnelGroup]:
    """The ``all`` attribution: the funnel of each of the top ``limit`` values of ``path``
    computed over only the events that carry it — its entities are (entity, value) pairs, so
    an entity counts under every value it has, and values without one are left out."""
    from opdash.metrics.sqlfuncs import per_value

    pairs = per_value(by, path)
    runner, chains, _moment = shared_chains(catalog, spec, pairs)
    chains = parts.with_start_value(runner, chains, catalog, spec, path, "bd")
    if starters:
        chains = parts.started_by(chains, catalog, spec, starters)
    picked, _excluded = _choose(catalog, chains, spec, pairs, values, exclusions)
    return _breakdown(picked, spec, limit, other=False)[1]


def _breakdown(
    chosen, spec: ChainSpec, limit: int, *, other: bool = True
) -> tuple[dict, list[FunnelGroup]]:
    """The whole funnel's aggregates, and its groups: the top ``limit`` values (``bd``: the
    breakdown path's value on each chosen chain's start event) by step-1 count (ties by
    value, no value first), the rest merged into Other, so the groups add up. One query: the
    chosen chains are ranked, grouped and totalled together."""
    levels = chosen
    timed = spec.order != "unordered"
    ranked = levels.group_by("bd").aggregate(n=levels.count())
    top = (
        ranked.order_by([ibis.desc("n"), ranked.bd.asc(nulls_first=True)])
        .limit(limit)
        .select(t_bd="bd", kept=ibis.literal(True))
    )
    marked = levels.left_join(top, levels.bd.identical_to(top.t_bd))
    kept = marked.kept.notnull()
    grouped = marked.select(
        *levels.columns,
        grp=ibis.ifelse(kept, marked.bd, ibis.literal(OTHER)),
        is_other=~kept,
    )
    by_group = grouped.group_by(["grp", "is_other"]).aggregate(
        **aggregates(grouped, spec.n, timed=timed), total=ibis.literal(False)
    )
    whole = grouped.aggregate(
        grp=ibis.null("string"),
        is_other=ibis.literal(False),
        **aggregates(grouped, spec.n, timed=timed),
        total=ibis.literal(True),
    )
    frame = by_group.union(whole.select(*by_group.columns)).execute()
    totals = frame[frame["total"]].iloc[0].to_dict()
    frame = frame[~frame["total"]]
    if not other:  # the values beyond the limit are left out, not merged
        frame = frame[~frame["is_other"].astype(bool)]
    # listed in ranking order: step-1 count, then value with null first (as the limit chose)
    frame["has_value"] = frame["grp"].notna()
    frame["label"] = frame["grp"].fillna("").astype(str)
    frame = frame.sort_values(
        ["is_other", "c1", "has_value", "label"], ascending=[True, False, True, True], kind="stable"
    )
    return totals, [
        FunnelGroup(
            value=OTHER if row["is_other"] else parts.text(row["grp"]),
            steps=steps_of(list(spec.steps), row, timed=timed),
        )
        for row in frame.to_dict("records")
    ]


__all__ = [
    "ConversionTrend",
    "DropOffs",
    "DroppedEntity",
    "FunnelGroup",
    "FunnelResult",
    "FunnelStep",
    "HistogramBin",
    "TimeToConvert",
    "TrendPeriod",
    "entity_levels",
    "funnel",
    "parse_steps",
]
