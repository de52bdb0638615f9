"""Conversion funnels with exact, documented semantics (see docs/metrics.md).

An *entity* (by default a workflow) enters the funnel with a step-1 event and reaches step k when
it has events of steps 1..k in order, all within ``window`` of that step-1 event (inclusive). Its
level is the best over every step-1 event it has. At equal timestamps, events of earlier funnel
steps sort first, then events of no step, then by ``event_id``. The whole computation is one ibis
expression: ASOF joins find each next step, so the work stays in DuckDB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import ibis

from opdash.errors import UsageError, did_you_mean
from opdash.metrics.sqlfuncs import epoch_us
from opdash.metrics.sqlfuncs import field as envelope_field
from opdash.timeutil import parse_duration, parse_instant

ORDERS = ("ordered", "strict", "unordered")
DEFAULT_BY = "correlation.workflow_id"
DEFAULT_WINDOW = "14d"
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
class FunnelResult:
    """A computed funnel: its steps and the parameters that produced it."""

    steps: list[FunnelStep]
    order: str
    window_seconds: int
    by: str
    since: datetime | None = None
    until: datetime | None = None
    missing_event_types: list[str] = field(default_factory=list)

    @property
    def entities(self) -> int:
        """Entities that entered the funnel (reached step 1)."""
        return self.steps[0].count if self.steps else 0

    def to_dict(self) -> dict[str, Any]:
        timed = self.order != "unordered"
        steps = []
        for step in self.steps:
            item = asdict(step)
            if not timed:
                item.pop("median_seconds_from_previous")
                item.pop("mean_seconds_from_previous")
            steps.append(item)
        return {
            "steps": steps,
            "order": self.order,
            "window_seconds": self.window_seconds,
            "entities": self.entities,
            "by": self.by,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "missing_event_types": list(self.missing_event_types),
        }

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.to_dict()["steps"]).set_index("step")


def funnel(
    catalog,
    steps: list[str] | tuple[str, ...] | str,
    *,
    window: str | int = DEFAULT_WINDOW,
    order: str = "ordered",
    by: str = DEFAULT_BY,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
) -> FunnelResult:
    """Compute a funnel over ``catalog``'s events. Raises UsageError for bad arguments."""
    step_list = parse_steps(steps)
    if order not in ORDERS:
        raise UsageError(
            f"bad order '{order}'{did_you_mean(order, ORDERS)} (use {', '.join(ORDERS)})"
        )
    if order == "unordered" and len(set(step_list)) != len(step_list):
        raise UsageError("an unordered funnel needs distinct steps: " + ",".join(step_list))
    window_s = parse_duration(window)
    since_t = parse_instant(since, name="since")
    until_t = parse_instant(until, name="until")
    if since_t and until_t and since_t >= until_t:
        raise UsageError(f"empty date range: since {since_t.isoformat()} is not before until")
    levels = entity_levels(
        catalog, step_list, window=window_s, order=order, by=by, since=since_t, until=until_t
    )
    row = levels.aggregate(**_aggregates(levels, len(step_list), timed=order != "unordered"))
    values = row.execute().iloc[0].to_dict()
    present = set(catalog.event_types())
    return FunnelResult(
        steps=_steps(step_list, values, timed=order != "unordered"),
        order=order,
        window_seconds=window_s,
        by=by,
        since=since_t,
        until=until_t,
        missing_event_types=[s for s in dict.fromkeys(step_list) if s not in present],
    )


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
    step_list = parse_steps(steps)
    events = catalog.table("events")
    entity = envelope_field(events, by)  # validates the path before any query runs
    window_s = parse_duration(window)
    since_t = parse_instant(since, name="since")
    until_t = parse_instant(until, name="until")
    return _levels(events, entity, step_list, order, window_s, since_t, until_t)


def parse_steps(steps: list[str] | tuple[str, ...] | str) -> list[str]:
    """A list of step event types from a list or a comma-separated string."""
    items = steps.split(",") if isinstance(steps, str) else list(steps)
    cleaned = [str(s).strip() for s in items]
    if not cleaned or any(not s for s in cleaned):
        raise UsageError(
            f"bad steps '{','.join(map(str, items))}': give event types separated by commas"
        )
    return cleaned


def _sequence(
    events: ibis.Table, entity: ibis.Value, steps: list[str], every_type: bool
) -> ibis.Table:
    """Each entity's events numbered in funnel order (time, earliest matching step, event id)."""
    base = events.mutate(entity=entity).filter(lambda t: t.entity.notnull())
    if not every_type:
        base = base.filter(base.event_type.isin(list(dict.fromkeys(steps))))
    first_index = {t: i for i, t in reversed(list(enumerate(steps)))}
    rank = ibis.cases(
        *((base.event_type == t, i) for t, i in first_index.items()), else_=len(steps)
    )
    position = ibis.row_number().over(
        group_by=base.entity, order_by=[base.occurred_at, rank, base.event_id]
    )
    return base.select("entity", "event_type", pos=position, us=epoch_us(base.occurred_at))


def _in_range(table: ibis.Table, us: str, since: datetime | None, until: datetime | None):
    if since is not None:
        table = table.filter(table[us] >= _micros(since))
    if until is not None:
        table = table.filter(table[us] < _micros(until))
    return table


def _micros(value: datetime) -> int:
    return int(value.timestamp()) * _US + value.microsecond


def _levels(events, entity, steps, order, window_s, since, until) -> ibis.Table:
    """One row per entity: its level and, for ordered/strict, the times of its chosen chain."""
    window_us = window_s * _US
    if order == "unordered":
        return _unordered_levels(
            _sequence(events, entity, steps, False), steps, window_us, since, until
        )
    seq = _sequence(events, entity, steps, every_type=order == "strict")
    chain = _in_range(seq.filter(seq.event_type == steps[0]), "us", since, until).select(
        "entity", p1="pos", u1="us"
    )
    for k in range(2, len(steps) + 1):
        chain = _next_step(chain, seq, k, steps[k - 1], order, window_us)
    reached = [chain[f"p{k}"].notnull().cast("int64") for k in range(2, len(steps) + 1)]
    chain = chain.mutate(level=sum(reached, ibis.literal(1, "int64")))
    chain = chain.mutate(best=chain.level.max().over(group_by=chain.entity))
    chosen = chain.filter(chain.level == chain.best)
    chosen = chosen.mutate(nth=ibis.row_number().over(group_by=chosen.entity, order_by=chosen.p1))
    return chosen.filter(chosen.nth == 0)


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
    keep = [c for c in chain.columns]
    return joined.select(
        *keep,
        **{
            f"p{k}": ibis.ifelse(ok, joined.pos_r, ibis.null("int64")),
            f"u{k}": ibis.ifelse(ok, joined.us_r, ibis.null("int64")),
        },
    )


def _unordered_levels(seq, steps, window_us, since, until) -> ibis.Table:
    """Per entity, the most distinct step types found in one window starting at a step event."""
    starts = _in_range(seq, "us", since, until).select("entity", u0="us").distinct()
    found = []
    table = starts
    for j, event_type in enumerate(steps):
        right = seq.filter(seq.event_type == event_type).select(
            e_r="entity", key_r=-seq.us, us_r="us"
        )
        left = table.mutate(key_l=-table.u0)
        joined = left.asof_join(
            right, on=left.key_l >= right.key_r, predicates=[left.entity == right.e_r]
        )
        hit = (joined.us_r.notnull() & (joined.us_r <= joined.u0 + window_us)).cast("int64")
        table = joined.select(*[c for c in table.columns], **{f"f{j}": hit})
        found.append(f"f{j}")
    level = sum((table[c] for c in found), ibis.literal(0, "int64"))
    per_start = table.mutate(level=level)
    return per_start.group_by("entity").aggregate(level=per_start.level.max())


def _aggregates(levels: ibis.Table, n: int, *, timed: bool) -> dict[str, ibis.Value]:
    out: dict[str, ibis.Value] = {}
    for k in range(1, n + 1):
        out[f"c{k}"] = (levels.level >= k).cast("int64").sum()
        if timed and k >= 2:
            gap = (levels[f"u{k}"] - levels[f"u{k - 1}"]).cast("float64") / _US
            out[f"med{k}"] = gap.median()
            out[f"mean{k}"] = gap.mean()
    return out


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
                mean_seconds_from_previous=_num(values.get(f"mean{k}")) if timed else None,
            )
        )
    return out


def _num(value: Any) -> float | None:
    """A plain float from a pandas/numpy scalar, None for NULL/NaN."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number
