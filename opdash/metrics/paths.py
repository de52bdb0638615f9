"""Paths: where entities go after an event, or how they came to one.

See docs/paths.md. Every entity's *anchor* is its first ``start`` event (or its first ``end``
event) in ``[since, until)``; its path is the ``steps`` nodes from the anchor on (or up to the
anchor), in the funnel order of events: time, then the anchor's type before other types, then
the event id. Consecutive events of one type are one node; ``exclude`` drops types before
paths are built. Edges ``(i, a) → (i + 1, b)`` are counted per entity; the ``top`` most taken
are kept, the rest counted as dropped.

One ibis query numbers each entity's events from its anchor with window functions only (a
change-of-type flag and its running sum), so it compiles for DuckDB and Spark alike and costs
one sort of the anchored entities' events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis

from opdash.errors import UsageError
from opdash.metrics.settings import data_span, known_event_type
from opdash.metrics.sqlfuncs import functions
from opdash.timeutil import parse_instant, to_micros

DEFAULT_BY = "correlation.workflow_id"
DEFAULT_STEPS = 5
DEFAULT_TOP = 50
MAX_STEPS = 20
WORKFLOW = "correlation.workflow_id"


@dataclass(frozen=True)
class PathEdge:
    """Entities whose node ``from_step`` is ``source`` and whose next node is ``target``."""

    from_step: int
    source: str
    to_step: int
    target: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "from_step": self.from_step,
            "from": self.source,
            "to_step": self.to_step,
            "to": self.target,
            "count": self.count,
        }


@dataclass(frozen=True)
class PathNode:
    """The entities whose path's node ``step`` is ``event_type``."""

    step: int
    event_type: str
    entities: int

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "type": self.event_type, "entities": self.entities}


@dataclass(frozen=True)
class PathSettings:
    """What a paths question asks, checked: the anchor, the entity and the cut."""

    anchor: str  # "start" or "end"
    event_type: str
    by: str
    steps: int
    exclude: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    top: int = DEFAULT_TOP


@dataclass(frozen=True)
class PathsResult:
    """The edges of the entities' paths, most taken first, and what the ``top`` cut dropped."""

    settings: PathSettings
    entities: int  # entities with an anchor in range
    edges: list[PathEdge]  # the kept edges, most taken first
    dropped_edges: int  # distinct edges beyond ``top``
    dropped_entities: int = 0  # entity moves along the dropped edges (their counts' sum)
    all_nodes: list[PathNode] = field(default_factory=list)  # every node, by step then size

    @property
    def anchor(self) -> str:
        return self.settings.anchor

    @property
    def event_type(self) -> str:
        return self.settings.event_type

    def nodes(self) -> list[PathNode]:
        """The nodes the kept edges touch, by step then size: what the diagram draws."""
        drawn = {(e.from_step, e.source) for e in self.edges}
        drawn |= {(e.to_step, e.target) for e in self.edges}
        return [n for n in self.all_nodes if (n.step, n.event_type) in drawn]

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "anchor": s.anchor,
            "event_type": s.event_type,
            "by": s.by,
            "steps": s.steps,
            "exclude": list(s.exclude),
            "since": s.since.isoformat() if s.since else None,
            "until": s.until.isoformat() if s.until else None,
            "top": s.top,
            "entities": self.entities,
            "edges": [e.to_dict() for e in self.edges],
            "dropped_edges": self.dropped_edges,
            "nodes": [n.to_dict() for n in self.all_nodes],
        }

    def to_frame(self):
        """One row per kept edge: from_step, from, to_step, to, count."""
        import pandas as pd

        return pd.DataFrame(
            [e.to_dict() for e in self.edges],
            columns=["from_step", "from", "to_step", "to", "count"],
        )


@dataclass(frozen=True)
class PathEntity:
    """An entity that passes through a node: when it reached it, and its anchor's workflow."""

    entity: str
    reached_at: datetime
    workflow_id: str | None


# -- settings -------------------------------------------------------------------------------------


def _whole(value: Any, name: str, low: int, high: int) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not (isinstance(value, int) or text.lstrip("-").isdigit()):
        raise UsageError(f"bad {name} '{value}': give a whole number from {low} to {high}")
    number = int(text)
    if not low <= number <= high:
        raise UsageError(f"bad {name} '{value}': give a whole number from {low} to {high}")
    return number


def path_settings(
    catalog,
    *,
    start: str | None = None,
    end: str | None = None,
    by: str = DEFAULT_BY,
    steps: int = DEFAULT_STEPS,
    exclude: Iterable[str] | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    top: int = DEFAULT_TOP,
) -> PathSettings:
    """Checked settings (a UsageError naming the bad value, else)."""
    from opdash.contract import field_path

    given = [(name, v) for name, v in (("start", start), ("end", end)) if v not in (None, "")]
    if len(given) != 1:
        raise UsageError("paths need one anchor: --start TYPE or --end TYPE (not both)")
    anchor, event_type = given[0]
    event_type = known_event_type(catalog, event_type, anchor)
    excluded = tuple(dict.fromkeys(known_event_type(catalog, t, "exclude") for t in exclude or ()))
    if event_type in excluded:
        raise UsageError(f"exclude '{event_type}' is the {anchor} event: it cannot be dropped")
    since_t = parse_instant(since, name="since") if since not in (None, "") else None
    until_t = parse_instant(until, name="until") if until not in (None, "") else None
    if since_t and until_t and since_t >= until_t:
        raise UsageError(f"empty range: since {since_t.isoformat()} is not before until")
    _inside_data(catalog, since_t, until_t)
    return PathSettings(
        anchor=anchor,
        event_type=event_type,
        by=field_path(by).path,
        steps=_whole(steps, "steps", 2, MAX_STEPS),
        exclude=excluded,
        since=since_t,
        until=until_t,
        top=_whole(top, "top", 1, 10_000),
    )


def _inside_data(catalog, since: datetime | None, until: datetime | None) -> None:
    """A range that holds no event of the folder is a mistake: one line saying so."""
    if since is None and until is None:
        return
    span = data_span(catalog)
    if span is None:
        return
    first, last = span
    if (since is not None and since > last) or (until is not None and until <= first):
        given = f"{since.isoformat() if since else '…'} to {until.isoformat() if until else '…'}"
        raise UsageError(
            f"the range {given} is outside the data (events from {first.isoformat()} to "
            f"{last.isoformat()})"
        )


# -- the question ---------------------------------------------------------------------------------


def paths(catalog, **settings: Any) -> PathsResult:
    """The paths of ``catalog``'s entities from (``start=``) or to (``end=``) an event type.

    Settings: ``by``, ``steps`` (N ≥ 2 nodes, the anchor's included), ``exclude``, ``since``,
    ``until``, ``top``; see :func:`path_settings`. Raises UsageError for bad settings."""
    s = settings_of(catalog, settings)
    nodes = _nodes(catalog, s, functions(catalog))
    nxt = nodes.view()
    pairs = nodes.join(nxt, [nodes.ent == nxt.ent, nxt.pos == nodes.pos + 1])
    edges = pairs.group_by(
        [nodes.pos.name("i"), nodes.type.name("a"), nxt.type.name("b")]
    ).aggregate(c=lambda t: t.count())
    counts = nodes.group_by([nodes.pos.name("i"), nodes.type.name("a")]).aggregate(
        c=lambda t: t.count()
    )
    counts = counts.select("i", "a", b=ibis.null("string"), c="c")
    rows = edges.select("i", "a", "b", "c").union(counts).execute()  # one pass over the nodes
    found, through = [], []
    for i, a, b, c in rows[["i", "a", "b", "c"]].itertuples(False):
        if b is None or b != b:  # a node's count (NULL: pandas may give None or NaN)
            through.append(PathNode(int(i), str(a), int(c)))
        else:
            found.append(PathEdge(int(i), str(a), int(i) + 1, str(b), int(c)))
    found.sort(key=lambda e: (-e.count, e.from_step, e.source, e.target))
    kept, dropped = found[: s.top], found[s.top :]
    return PathsResult(
        settings=s,
        entities=sum(n.entities for n in through if n.step == 1),  # every path has a step 1
        edges=kept,
        dropped_edges=len(dropped),
        dropped_entities=sum(e.count for e in dropped),
        all_nodes=sorted(through, key=lambda n: (n.step, -n.entities, n.event_type)),
    )


def path_entities(
    catalog, step: int, event_type: str, *, limit: int = 50, **settings: Any
) -> tuple[int, list[PathEntity]]:
    """The entities whose path's node ``step`` is ``event_type``: how many, and the ``limit``
    newest (by when they reached the node)."""
    s = settings_of(catalog, settings)
    fns = functions(catalog)
    nodes = _nodes(catalog, s, fns)
    here = nodes.filter(nodes.pos == int(step), nodes.type == event_type)
    here = here.mutate(total=here.ent.count().over(ibis.window()))  # one pass: count and list
    rows = here.order_by([here.at.desc(), here.ent]).limit(int(limit)).execute()
    total = int(rows["total"].iloc[0]) if len(rows) else 0
    listed = [
        PathEntity(str(ent), _aware(at), None if wf is None or wf != wf else str(wf))
        for ent, at, wf in rows[["ent", "at", "wf"]].itertuples(False)
    ]
    return total, listed


def settings_of(catalog, settings: dict[str, Any]) -> PathSettings:
    given = settings.get("settings")
    return given if isinstance(given, PathSettings) else path_settings(catalog, **settings)


def _aware(value: Any) -> datetime:
    moment = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _rows(catalog, s: PathSettings, fns) -> ibis.Table:
    """Events with an entity, excluded types dropped: ``ent``, ``type``, ``us``, ``rk`` (0 for
    the anchor's type: first among events at one instant), ``eid``, ``wf``, ``at``."""
    events = catalog.table("events")
    if s.exclude:
        events = events.filter(~events.event_type.isin(list(s.exclude)))
    rows = events.select(
        ent=fns.field(events, s.by),
        type=events.event_type,
        us=fns.epoch_us(events.occurred_at),
        rk=ibis.ifelse(events.event_type == s.event_type, 0, 1),
        eid=events.event_id,
        wf=fns.field(events, WORKFLOW),
        at=events.occurred_at,
    )
    return rows.filter(rows.ent.notnull())


def _anchors(catalog, s: PathSettings, fns) -> ibis.Table:
    """Each entity's anchor: its first event of the anchor type in range (``a_us``, ``a_id``)."""
    rows = _rows(catalog, s, fns)
    mine = rows.filter(rows.type == s.event_type)
    if s.since is not None:
        mine = mine.filter(mine.us >= to_micros(s.since))
    if s.until is not None:
        mine = mine.filter(mine.us < to_micros(s.until))
    first = ibis.row_number().over(group_by=mine.ent, order_by=[mine.us, mine.eid])
    mine = mine.mutate(n=first)
    return mine.filter(mine.n == 0).select(a_ent="ent", a_us="us", a_id="eid")


def _nodes(catalog, s: PathSettings, fns) -> ibis.Table:
    """Each anchored entity's path: ``ent``, ``pos`` (1 … ≤ steps, from the path's first
    node), ``type``, ``at`` (when it entered the node), ``wf`` (the anchor's workflow)."""
    rows = _rows(catalog, s, fns)
    anchors = _anchors(catalog, s, fns)
    joined = rows.join(anchors, rows.ent == anchors.a_ent)
    same = joined.us == joined.a_us
    if s.anchor == "start":  # the anchor and what follows it in funnel order
        side = (joined.us > joined.a_us) | (same & ((joined.rk > 0) | (joined.eid >= joined.a_id)))
    else:  # what precedes it, and the anchor: walked backwards from the anchor
        side = (joined.us < joined.a_us) | (same & (joined.rk == 0) & (joined.eid <= joined.a_id))
    near = joined.filter(side)

    def walk(t: ibis.Table) -> list[ibis.Value]:
        order = [t.us, t.rk, t.eid]
        return order if s.anchor == "start" else [o.desc() for o in order]

    near = near.mutate(prev=near.type.lag().over(group_by=near.ent, order_by=walk(near)))
    fresh = (near.prev.isnull() | (near.prev != near.type)).cast("int64")
    running = ibis.window(group_by=near.ent, order_by=walk(near), preceding=None, following=0)
    near = near.mutate(
        node=fresh.sum().over(running),
        is_anchor=(near.us == near.a_us) & (near.eid == near.a_id),
    )
    near = near.filter(near.node <= s.steps)
    nodes = near.group_by(["ent", "node", "type"]).aggregate(
        at=lambda t: t.at.min(),
        wf=lambda t: t.wf.max(where=t.is_anchor),
    )
    if s.anchor == "start":
        return nodes.select("ent", pos=nodes.node, type="type", at="at", wf=_anchor_wf(nodes))
    length = nodes.node.max().over(group_by=nodes.ent)
    return nodes.select(
        "ent", pos=length - nodes.node + 1, type="type", at="at", wf=_anchor_wf(nodes)
    )


def _anchor_wf(nodes: ibis.Table) -> ibis.Value:
    """The anchor's workflow on every node of its entity (the anchor's node holds it)."""
    return nodes.wf.max().over(group_by=nodes.ent)
