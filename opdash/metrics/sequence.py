"""The sequence engine: the chain every step-1 event starts, for every funnel order.

A funnel's answer for any window, date range or "as of" moment is read off one table of
*chains*, one row per start, computed once per data version, steps, order, entity path and
filters (:func:`shared_chains`) and kept by the catalog, so a new question costs a small query
over that table instead of a pass over the events. A chain does not depend on the window:

- **ordered** — the greedy chain: the earliest event of each next step at or after the previous
  one's instant that the chain has not taken yet (tied events fill steps in either order, each
  once, as PostHog). Within a window it is the same chain cut where a step falls outside the
  window (the earliest next step is either inside the window or nothing is).
- **strict** — each next event of the entity, as long as it is the next step's type.
- **unordered** — every step event of the entity is a start; per step type, the time of its
  first event at or after the start (``f1..fn``); a window counts those inside it.

"As of" a moment, a chain is cut at the moment: along a chain times only grow, so the steps up
to the moment are exactly the chain the events up to the moment give.

Order of an entity's events (strict chains, starts, positions): time, then the first position
of the type among the steps (other types after every step), then the event id. Chains are computed with equi-joins, window
functions and aggregates only — what ibis compiles for DuckDB and Spark alike:

- ordered chains of entities with at most ``HEAVY_STARTS`` starts: one join round per step
  (each live chain's candidates are the same entity's events of the next type after its last
  step; the earliest wins). Cheap when an entity has few starts, the common case.
- ordered chains of entities with more starts (``--by actor.id``: thousands each), and every
  strict and unordered chain: window functions over each entity's events in order (then, for
  ordered ones, equi-joins on (entity, position)), so nothing grows quadratically.

Columns of a chain table: ``entity``, ``start_id`` (the start event's id), ``so`` (the start's
ordinal among its entity's starts, in funnel order), ``multi`` (the entity has several starts),
``u1..un`` (epoch microseconds of each step, NULL past the chain; unordered: ``u1`` and
``f1..fn``) and, when asked for (exclusions), ``i2..in``, the steps' event ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from opdash.lazy import lazy_module

ibis = lazy_module("ibis")  # imported on first use: opdash.lazy

ORDERS = ("ordered", "strict", "unordered")
#: Entities with more step-1 events than this take the sorted path for ordered chains: a join
#: round costs (starts × candidate events) per entity, the sorted path a sort of its events.
HEAVY_STARTS = 16
#: Microseconds added before an instant is written as text, so every valid instant (years 1 to
#: 9999: about -6.2e16 to 2.5e17) is a positive number of 18 digits and sorts as text.
_TEXT_OFFSET = 10**17
_TEXT_DIGITS = 18


#: A chain table as its chains of entities with one start and with several (:func:`split`).
Parts = tuple[Any, Any]


class Builder(Protocol):
    """What the engine asks of its catalog while it builds a chain table."""

    def number(self, expr: ibis.Table, name: str) -> ibis.Table:
        """``expr`` with a column ``name`` holding a distinct whole number per row."""


@dataclass(frozen=True)
class ChainSpec:
    """What a chain table depends on besides the events: steps, order, whether step ids."""

    steps: tuple[str, ...]
    order: str
    ids: bool = False

    @property
    def n(self) -> int:
        return len(self.steps)

    @property
    def ranks(self) -> dict[str, int]:
        """Each step type's rank in the funnel order: its first position among the steps."""
        out: dict[str, int] = {}
        for i, event_type in enumerate(self.steps):
            out.setdefault(event_type, i)
        return out

    @property
    def types(self) -> list[str]:
        return list(self.ranks)

    def rank(self, event_type: str) -> int:
        """The rank of any type: its first step position, ``n`` for other types."""
        return self.ranks.get(event_type, self.n)


def rank_of(event_type: ibis.Value, spec: ChainSpec) -> ibis.Value:
    """The funnel-order rank of an event type column: its first step position, else ``n``."""
    cases = [(event_type == t, r) for t, r in spec.ranks.items()]
    return ibis.cases(*cases, else_=spec.n).cast("int16")


def relevant(events: ibis.Table, entity: ibis.Value, us: ibis.Value, spec: ChainSpec):
    """Each entity's events a chain can read: ``entity``, ``rank`` (steps are told apart by
    it), ``us``, ``event_id``. Strict chains read every type (what lies between their steps);
    the others only step types: dropping other events keeps the order of the rest."""
    rows = events.mutate(entity=entity, us=us).filter(lambda t: t.entity.notnull())
    if spec.order != "strict":
        rows = rows.filter(rows.event_type.isin(spec.types))
    return rows.select("entity", rank=rank_of(rows.event_type, spec), us="us", event_id="event_id")


def chain_table(builder: Builder, seq: ibis.Table, spec: ChainSpec) -> ibis.Table:
    """The chains of every start in ``seq`` (:func:`relevant`'s rows), as one expression (the
    catalog keeps it as a table)."""
    if spec.order == "ordered":
        return ibis.union(*_ordered_parts(builder, seq, spec))
    return _window_chains(seq, spec)


def chain_parts(builder: Builder, seq: ibis.Table, spec: ChainSpec) -> Parts:
    """:func:`chain_table` as its chains of entities with one start and with several (what
    :func:`chosen` reads apart), for a question that computes its chains itself: ordered
    chains come out of their rounds already apart, so the whole is never written out."""
    if spec.order == "ordered":
        return _ordered_parts(builder, seq, spec)
    return split(_window_chains(seq, spec))


def split(chains: ibis.Table) -> Parts:
    """A chain table's chains of entities with one start, and with several."""
    return chains.filter(~chains.multi), chains.filter(chains.multi)


def _window_chains(seq: ibis.Table, spec: ChainSpec) -> ibis.Table:
    if spec.order == "strict":
        return _strict_chains(seq, spec)
    return _unordered_chains(seq, spec)


# -- ordered ----------------------------------------------------------------------------------
def _ordered_parts(builder: Builder, seq: ibis.Table, spec: ChainSpec) -> Parts:
    """Light entities by join rounds, heavy ones by the sorted path (which reads nothing when
    no entity is heavy): the chains of entities with one start, and with several."""
    first = seq.filter(seq.rank == 0)
    per_entity = first.group_by("entity").aggregate(starts=first.count())
    heavy = per_entity.filter(per_entity.starts > HEAVY_STARTS).select("entity")
    light = first.anti_join(heavy, "entity")
    chains = _ordered_rounds(builder, seq, light, spec)
    several = per_entity.filter(per_entity.starts > 1).select(e_m="entity")
    marked = chains.left_join(several, chains.entity == several.e_m)
    chains = marked.select(*chains.columns, multi=marked.e_m.notnull())
    single = chains.filter(~chains.multi).mutate(so=ibis.literal(1, "int64"))
    multi = chains.filter(chains.multi)
    ordinal = ibis.row_number().over(group_by=multi.entity, order_by=[multi.u1, multi.start_id])
    several = multi.mutate(so=ordinal + 1)
    return single, several.union(_ordered_sorted(seq.semi_join(heavy, "entity"), spec))


def _ordered_rounds(builder: Builder, seq: ibis.Table, starts: ibis.Table, spec: ChainSpec):
    """Ordered chains by join rounds: per step, each live chain's earliest next event.

    Each start is numbered (``a``). A round joins the chains still alive with the entity's
    events of the next step type that the chain may take (:func:`_takes`) and keeps the
    earliest per start (time, then id); the chain's times are the rounds' answers joined on
    ``a``. The rounds carry the start's id and a step's time and id only when a later step of
    the same type must not take its event again.
    """
    n, steps = spec.n, spec.steps
    before = _earlier_of_type(spec)
    recalled = set(before.values()) - {None}
    carry = ["entity", "u1"] + (["start_id"] if steps[0] in steps[1:] else [])
    first = builder.number(starts.select("entity", start_id="event_id", u1="us"), "a")
    live = first.select("a", *carry, u="u1")
    found = []
    for k in range(2, n + 1):
        cand = seq.filter(seq.rank == spec.ranks[steps[k - 1]]).select(
            e_c="entity", us_c="us", id_c="event_id"
        )
        joined = live.join(cand, [live.entity == cand.e_c, *_takes(live, cand, spec, k, before[k])])
        kept = {c: joined[c].arbitrary() for c in carry}
        if spec.ids or k in recalled:
            grouped = joined.group_by("a").aggregate(
                **kept, best=_text_key(joined.us_c, joined.id_c).min()
            )
            live = grouped.select("a", *carry, u=_key_us(grouped.best), i=_key_id(grouped.best))
        else:
            grouped = joined.group_by("a").aggregate(**kept, u=joined.us_c.min())
            live = grouped.mutate(i=ibis.null("string"))
        if k in recalled:
            live = live.mutate(**{f"u{k}": live.u, f"i{k}": live.i})
            carry += [f"u{k}", f"i{k}"]
        found.append(live.select(**{f"a{k}": "a", f"u{k}": "u", f"i{k}": "i"}))
    chains = first
    for k, step in enumerate(found, start=2):
        chains = chains.left_join(step, chains.a == step[f"a{k}"]).drop(f"a{k}")
    return chains.select("entity", "start_id", *_step_columns(spec))


def _earlier_of_type(spec: ChainSpec) -> dict[int, int | None]:
    """For each step k ≥ 2, the latest step j in 2..k-1 of the same type (None if none)."""
    out: dict[int, int | None] = {}
    for k in range(2, spec.n + 1):
        same = [j for j in range(2, k) if spec.steps[j - 1] == spec.steps[k - 1]]
        out[k] = same[-1] if same else None
    return out


def _takes(live: ibis.Table, cand: ibis.Table, spec: ChainSpec, k: int, j: int | None) -> list:
    """Whether a chain may take a candidate for step k: at or after its last step's instant
    (tied events fill steps in either order), and not an event it already holds. Events a
    chain takes for one type come in (time, id) order, so "not held" is "after its latest
    step j of that type" — and not its start, which was not chosen that way."""
    conditions = [cand.us_c >= live.u]
    if j is not None:
        u_j, i_j = live[f"u{j}"], live[f"i{j}"]
        conditions.append((cand.us_c > u_j) | ((cand.us_c == u_j) & (cand.id_c > i_j)))
    if spec.steps[k - 1] == spec.steps[0]:
        conditions.append(cand.id_c != live.start_id)
    return conditions


def _step_columns(spec: ChainSpec) -> list[str]:
    """``u1..un``, then ``i2..in`` when the chain keeps its ids."""
    times = [f"u{k}" for k in range(1, spec.n + 1)]
    return times + ([f"i{k}" for k in range(2, spec.n + 1)] if spec.ids else [])


def _text_key(us: ibis.Value, event_id: ibis.Value) -> ibis.Value:
    """(time, id) as text that sorts in that order."""
    digits = (us + _TEXT_OFFSET).cast("string").lpad(_TEXT_DIGITS, "0")
    return digits.concat(":", event_id)


def _key_us(key: ibis.Value) -> ibis.Value:
    return key.substr(0, _TEXT_DIGITS).cast("int64") - _TEXT_OFFSET


def _key_id(key: ibis.Value) -> ibis.Value:
    return key.substr(_TEXT_DIGITS + 1)


def _ordered_sorted(seq: ibis.Table, spec: ChainSpec) -> ibis.Table:
    """Ordered chains by position, linear in the events however many starts an entity has.

    Each event gets its position in its entity's order and, per step type, two pointers
    (window aggregates): ``m`` — the first event of that type at or after its instant, and,
    for types a chain meets twice, ``x`` — the next event of that type after it. A chain
    follows its previous step's ``m``, or, when an earlier step of the same type lies at that
    instant, that step's ``x`` (events a chain takes for one type come in (time, id) order);
    a pointer that lands on its own start moves on by the start's ``x``. The steps are then
    equi-joins on (entity, position).
    """
    n, ranks, steps = spec.n, spec.ranks, spec.steps
    before = _earlier_of_type(spec)
    again = {steps[j - 1] for j in before.values() if j} | (
        {steps[0]} if steps[0] in steps[1:] else set()
    )
    order = [seq.us, seq.rank, seq.event_id]
    numbered = seq.mutate(pos=ibis.row_number().over(group_by=seq.entity, order_by=order))
    onward = ibis.window(group_by=numbered.entity, order_by=numbered.us, range=(0, None))
    after = ibis.window(group_by=numbered.entity, order_by=numbered.pos, following=(1, None))
    pointers = {}
    for t in dict.fromkeys(steps[1:]):
        of_type = numbered.rank == ranks[t]
        pointers[f"m{ranks[t]}"] = numbered.pos.min(where=of_type).over(onward)
        if t in again:
            pointers[f"x{ranks[t]}"] = numbered.pos.min(where=of_type).over(after)
    rows = numbered.select("entity", "rank", "event_id", "us", "pos", **pointers)

    def next_first(table: ibis.Table, k: int) -> ibis.Value:
        """The first event of step k+1's type at or after this one's instant."""
        return table[f"m{ranks[steps[k]]}"] if k < n else ibis.null("int64")

    def next_after(table: ibis.Table, k: int) -> ibis.Value:
        """The next event of step k's own type after this one, for a later step of it."""
        return table[f"x{ranks[steps[k - 1]]}"] if steps[k - 1] in again else ibis.null("int64")

    starts = rows.filter(rows.rank == 0)
    chain = starts.select(
        "entity",
        start_id="event_id",
        u1="us",
        so="pos",
        mx=next_first(starts, 1),
        **({"x1": next_after(starts, 1)} if steps[0] in again else {}),
    )
    for k in range(2, n + 1):
        pointer = chain.mx
        j = before[k]
        if j is not None:
            pointer = ibis.ifelse(chain[f"u{j}"] == chain[f"u{k - 1}"], chain[f"x{j}"], pointer)
        if steps[k - 1] == steps[0]:
            pointer = ibis.ifelse(pointer == chain.so, chain.x1, pointer)
        step = chain.mutate(p=pointer)
        other = rows.view()
        right = other.select(
            e_r="entity",
            p_r="pos",
            us_r="us",
            id_r="event_id",
            mx_r=next_first(other, k),
            x_r=next_after(other, k),
        )
        joined = step.left_join(right, [step.entity == right.e_r, step.p == right.p_r])
        kept = [c for c in chain.columns if c != "mx"]
        chain = joined.select(
            *kept,
            **{f"u{k}": joined.us_r, f"i{k}": joined.id_r},
            **({f"x{k}": joined.x_r} if steps[k - 1] in again else {}),
            mx=joined.mx_r,
        )
    return chain.select(
        "entity",
        "start_id",
        *_step_columns(spec),
        multi=ibis.literal(True),
        so=chain.so + 1,
    )


# -- strict -----------------------------------------------------------------------------------
def _strict_chains(seq: ibis.Table, spec: ChainSpec) -> ibis.Table:
    """Strict chains: from each start, the following events while each is the next step.

    One window pass over each entity's events in funnel order: the position (``so``), the
    number of starts, and the type, time (and id) of the next n-1 events.
    """
    n = spec.n
    order = [seq.us, seq.rank, seq.event_id]
    ordered = ibis.window(group_by=seq.entity, order_by=order)
    whole = ibis.window(group_by=seq.entity, order_by=order, preceding=None, following=None)
    is_start = (seq.rank == 0).cast("int64")
    leads = {}
    for j in range(1, n):
        leads[f"t{j + 1}"] = seq.rank.lead(j).over(ordered)
        leads[f"v{j + 1}"] = seq.us.lead(j).over(ordered)
        if spec.ids:
            leads[f"d{j + 1}"] = seq.event_id.lead(j).over(ordered)
    rows = seq.mutate(
        so=ibis.row_number().over(ordered) + 1, starts=is_start.sum().over(whole), **leads
    )
    starts = rows.filter(rows.rank == 0)
    reached = ibis.literal(True)
    steps: dict[str, ibis.Value] = {}
    for k in range(2, n + 1):
        reached = reached & (starts[f"t{k}"] == spec.ranks[spec.steps[k - 1]])
        steps[f"u{k}"] = ibis.ifelse(reached, starts[f"v{k}"], ibis.null("int64"))
        if spec.ids:
            steps[f"i{k}"] = ibis.ifelse(reached, starts[f"d{k}"], ibis.null("string"))
    return starts.select(
        "entity",
        start_id="event_id",
        u1="us",
        **{c: steps[c] for c in _step_columns(spec) if c != "u1"},
        multi=starts.starts > 1,
        so="so",
    )


# -- unordered --------------------------------------------------------------------------------
def _unordered_chains(seq: ibis.Table, spec: ChainSpec) -> ibis.Table:
    """Unordered: every step event is a start; ``f{j}``: its entity's first event of step j at
    or after it.

    One window pass in funnel order; each ``f`` over the rows at or after the start's instant
    (a range frame: the rows sharing its instant included), so every start sees what its
    window holds, whichever of its instant's rows it is (starts may be narrowed afterwards,
    e.g. to those by chosen actors).
    """
    order = [seq.us, seq.rank, seq.event_id]
    ordered = ibis.window(group_by=seq.entity, order_by=order)
    onward = ibis.window(group_by=seq.entity, order_by=seq.us, range=(0, None))
    whole = ibis.window(group_by=seq.entity, order_by=order, preceding=None, following=None)
    firsts = {f"f{j + 1}": seq.us.min(where=seq.rank == j).over(onward) for j in range(spec.n)}
    rows = seq.mutate(
        so=ibis.row_number().over(ordered) + 1, starts=seq.count().over(whole), **firsts
    )
    return rows.select(
        "entity",
        start_id="event_id",
        u1="us",
        **{f"f{j}": f"f{j}" for j in range(1, spec.n + 1)},
        multi=rows.starts > 1,
        so="so",
    )


# -- kept per data version ----------------------------------------------------------------------
def without_moment(catalog: Any) -> tuple[Any, Any]:
    """``catalog`` without its "as of" cut, and the moment (None when it has none)."""
    from opdash.catalog import CatalogAsOf

    if isinstance(catalog, CatalogAsOf):
        return catalog.before, catalog.moment
    return catalog, None


def chains_of(view: Any, spec: ChainSpec, by: str, builder: Builder) -> ibis.Table:
    """The chain table of a catalog view's events (its filters applied) by entity path ``by``,
    as an expression."""
    return chain_table(builder, _sequence(view, spec, by), spec)


def chain_parts_of(view: Any, spec: ChainSpec, by: str, builder: Builder) -> Parts:
    """:func:`chains_of` as :func:`chain_parts`."""
    return chain_parts(builder, _sequence(view, spec, by), spec)


def _sequence(view: Any, spec: ChainSpec, by: str) -> ibis.Table:
    from opdash.metrics.sqlfuncs import functions

    fns = functions(view)
    events = view.table("events")
    return relevant(events, fns.field(events, by), fns.epoch_us(events.occurred_at), spec)


def shared_chains(catalog: Any, spec: ChainSpec, by: str) -> tuple[Any, ibis.Table, Any]:
    """:func:`chains_of` computed once per data version and kept by the catalog (a catalog
    that keeps nothing computes it within each question); with the catalog that answers
    questions about it and the view's moment (None when it has none)."""
    from opdash.metrics.scope import shared_build

    view, moment = without_moment(catalog)
    # a strict chain reads every type (what lies between its steps); the others only theirs
    types = None if spec.order == "strict" else spec.types
    runner, table = shared_build(
        view,
        "chains",
        lambda v, b: chains_of(v, spec, by, b),
        (spec, by, HEAVY_STARTS),  # the threshold is in the SQL
        event_types=types,
    )
    return runner, table, moment


# -- questions --------------------------------------------------------------------------------
def levels(
    chains: ibis.Table,
    spec: ChainSpec,
    *,
    window_us: Any,
    since_us: Any = None,
    until_us: Any = None,
    moment_us: Any = None,
) -> ibis.Table:
    """Each start's level for a window, a date range of the start and a moment (events after
    it have not happened): ``entity``, ``start_id``, ``so``, ``multi``, ``level``, ``u1`` and
    for ordered and strict chains ``u2..un`` (and ``i2..in``) cut at the level. Values are
    ints, or stand-ins of a compiled shape."""
    if since_us is not None:
        chains = chains.filter(chains.u1 >= since_us)
    if until_us is not None:
        chains = chains.filter(chains.u1 < until_us)
    if moment_us is not None:
        chains = chains.filter(chains.u1 <= moment_us)
    limit = chains.u1 + window_us
    if moment_us is not None:
        limit = ibis.least(limit, moment_us)
    base = ["entity", "start_id", "so", "multi", "u1", *carried(chains)]
    if spec.order == "unordered":
        found = [
            (chains[f"f{j}"].notnull() & (chains[f"f{j}"] <= limit)).cast("int64")
            for j in range(1, spec.n + 1)
        ]
        inside = {  # each step's first time within the window (NULL: not found in it)
            f"f{j}": ibis.ifelse(
                chains[f"f{j}"].notnull() & (chains[f"f{j}"] <= limit),
                chains[f"f{j}"],
                ibis.null("int64"),
            )
            for j in range(1, spec.n + 1)
        }
        return chains.select(*base, **inside, level=sum(found, ibis.literal(0, "int64")))
    inside: dict[str, ibis.Value] = {}
    for k in range(2, spec.n + 1):
        within = chains[f"u{k}"] <= limit
        inside[f"u{k}"] = ibis.ifelse(within, chains[f"u{k}"], ibis.null("int64"))
        if spec.ids:
            inside[f"i{k}"] = ibis.ifelse(within, chains[f"i{k}"], ibis.null("string"))
    cut = chains.select(*base, **inside)
    reached = [cut[f"u{k}"].notnull().cast("int64") for k in range(2, spec.n + 1)]
    return cut.mutate(level=sum(reached, ibis.literal(1, "int64")))


def carried(chains: ibis.Table) -> list[str]:
    """Columns a chain table carries besides its own (a start's breakdown value): kept as
    they are by :func:`levels` and :func:`chosen`."""
    own = re.compile(r"(entity|start_id|so|multi|[uif]\d+)")
    return [c for c in chains.columns if not own.fullmatch(c)]


def chosen(chains: ibis.Table | Parts, per_start: Callable[[ibis.Table], ibis.Table]):
    """Per entity, the start with the best level (with a ``clean`` column, a clean one first),
    the earliest (``so``) among equals, where
    ``per_start(chains)`` gives each start's level; without ``so`` and ``multi``. An entity
    with one start needs no choice: only the others are grouped (and the two parts are read
    separately, so nothing is computed twice). ``chains``: a chain table or its
    :func:`chain_parts`."""
    one, many = chains if isinstance(chains, tuple) else split(chains)
    single = per_start(one)
    several = per_start(many)
    key = several.level * (1 << 41) - several.so  # ordinals are far below 2**40
    if "clean" in several.columns:  # at one level, an attempt no exclusion hit comes first
        key = key + several.clean.cast("int64") * (1 << 40)
    best = several.group_by("entity").aggregate(best=key.max())
    picked = several.join(best, [several.entity == best.entity, key == best.best]).select(
        *(several[c] for c in several.columns)
    )
    columns = [c for c in single.columns if c not in ("so", "multi")]
    alone = single.select(*columns)
    # the parts may differ in what may be NULL (a literal ordinal, an event id kept as is)
    return alone.union(picked.select(*columns).cast(alone.schema()))


def question_values(
    window_us: int, since_us: int | None, until_us: int | None, moment_us: int | None
) -> dict[str, int]:
    """A question's values for a compiled shape: only those that are set."""
    given = {"since": since_us, "until": until_us, "moment": moment_us}
    return {"window": window_us, **{k: v for k, v in given.items() if v is not None}}


def levels_of(chains: ibis.Table | Parts, spec: ChainSpec, given: Any) -> ibis.Table:
    """:func:`chosen` levels for the values of :func:`question_values` (ints or stand-ins);
    ``chains`` as for :func:`chosen`."""
    return chosen(
        chains,
        lambda part: levels(
            part,
            spec,
            window_us=given["window"],
            since_us=given.get("since"),
            until_us=given.get("until"),
            moment_us=given.get("moment"),
        ),
    )


__all__ = [
    "HEAVY_STARTS",
    "ORDERS",
    "ChainSpec",
    "Builder",
    "chain_table",
    "chain_parts",
    "chain_parts_of",
    "split",
    "chosen",
    "levels",
    "levels_of",
    "question_values",
    "relevant",
    "chains_of",
    "shared_chains",
    "without_moment",
]
