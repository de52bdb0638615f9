"""One workflow's events as a causal tree (by ``parent_event_id``), with the time along each edge.

Only that workflow's rows are read from DuckDB (a filter on ``workflow_id``); the tree is built in
Python, iteratively (no recursion limit on long chains). Rules, also in docs/chains-and-pipeline.md:

- siblings, and the roots, are in time order: ``occurred_at``, then ``event_id``;
- an event with no ``parent_event_id`` is a root; an event whose parent is not among this
  workflow's events is an *orphan*, shown as a root;
- a parent loop (a→b→a, or an event that is its own parent) is broken at its earliest event
  (time, then event id), which becomes a root; every event on the loop is marked ``cycle``;
- ``seconds_from_parent`` is the child's time minus its parent's, exact to the microsecond
  (negative when the data says the child happened first); ``None`` for roots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opdash.errors import UsageError, did_you_mean
from opdash.timeutil import from_micros

_US = 1_000_000
_CANDIDATES = 1000

_ROWS_SQL = """
SELECT event_id, event_type, epoch_us(occurred_at) AS us, actor_type, actor_id, parent_event_id
FROM events WHERE workflow_id = $workflow_id
ORDER BY occurred_at, event_id
"""

# Cheap candidates for "did you mean": ids sharing the first characters, and the most recent ids.
_CANDIDATES_SQL = f"""
(SELECT workflow_id FROM events
 WHERE workflow_id IS NOT NULL AND starts_with(workflow_id, $prefix)
 GROUP BY workflow_id LIMIT {_CANDIDATES})
UNION
(SELECT workflow_id FROM events WHERE workflow_id IS NOT NULL
 GROUP BY workflow_id ORDER BY max(occurred_at) DESC, workflow_id LIMIT {_CANDIDATES})
"""


@dataclass(frozen=True)
class ChainEvent:
    """One event of a workflow chain and, nested, the events whose parent it is."""

    event_id: str
    event_type: str
    occurred_at: datetime
    actor_type: str | None
    actor_id: str | None
    parent_event_id: str | None
    depth: int
    seconds_from_parent: float | None
    orphan: bool
    cycle: bool
    children: tuple[ChainEvent, ...] = ()

    def flat_dict(self) -> dict[str, Any]:
        """This event's fields, JSON-ready, without its children."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at.isoformat(),
            "actor_type": self.actor_type,
            "actor_id": self.actor_id,
            "parent_event_id": self.parent_event_id,
            "depth": self.depth,
            "seconds_from_parent": self.seconds_from_parent,
            "orphan": self.orphan,
            "cycle": self.cycle,
        }


@dataclass(frozen=True)
class ChainResult:
    """A workflow's events as a forest (``roots``), with its totals."""

    workflow_id: str
    roots: tuple[ChainEvent, ...]
    events: int
    first_event_at: datetime
    last_event_at: datetime
    orphans: int
    cycle_events: int
    max_depth: int

    @property
    def duration_seconds(self) -> float:
        return _seconds(self.last_event_at - self.first_event_at)

    def walk(self):
        """Every event, depth first in display order (a parent before its children)."""
        stack = list(reversed(self.roots))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def to_dict(self) -> dict[str, Any]:
        tree: list[dict[str, Any]] = []
        stack: list[tuple[ChainEvent, list[dict[str, Any]]]] = [
            (root, tree) for root in reversed(self.roots)
        ]
        while stack:
            node, siblings = stack.pop()
            item = node.flat_dict()
            item["children"] = []
            siblings.append(item)
            stack.extend((child, item["children"]) for child in reversed(node.children))
        return {
            "workflow_id": self.workflow_id,
            "events": self.events,
            "first_event_at": self.first_event_at.isoformat(),
            "last_event_at": self.last_event_at.isoformat(),
            "duration_seconds": self.duration_seconds,
            "roots": len(self.roots),
            "orphans": self.orphans,
            "cycle_events": self.cycle_events,
            "max_depth": self.max_depth,
            "tree": tree,
        }

    def to_frame(self):
        """One row per event in display order (``depth`` gives the indentation)."""
        import pandas as pd

        return pd.DataFrame([node.flat_dict() for node in self.walk()]).set_index("event_id")


def chain(catalog, workflow_id: str) -> ChainResult:
    """The events of ``workflow_id`` as a tree. Raises UsageError for an unknown workflow."""
    workflow_id = str(workflow_id).strip()
    if not workflow_id:
        raise UsageError("give a workflow id")
    rows = catalog.fetchall(_ROWS_SQL, {"workflow_id": workflow_id})
    if not rows:
        candidates = [r[0] for r in catalog.fetchall(_CANDIDATES_SQL, {"prefix": workflow_id[:3]})]
        raise UsageError(
            f"workflow '{workflow_id}' not found{did_you_mean(workflow_id, sorted(candidates))}"
        )
    return build_chain(workflow_id, rows)


def build_chain(workflow_id: str, rows: list[tuple]) -> ChainResult:
    """The tree of rows ``(event_id, event_type, epoch_us, actor_type, actor_id, parent_id)``."""
    rows = sorted(rows, key=lambda r: (r[2], r[0]))
    by_id = {r[0]: r for r in rows}
    order = {r[0]: i for i, r in enumerate(rows)}  # display order: time, then event id
    parent: dict[str, str | None] = {}
    orphans: set[str] = set()
    for event_id, *_, parent_id in rows:
        if parent_id is None:
            parent[event_id] = None
        elif parent_id in by_id:
            parent[event_id] = parent_id
        else:
            parent[event_id] = None
            orphans.add(event_id)
    cycle = _break_cycles(parent, order)

    children: dict[str, list[str]] = {r[0]: [] for r in rows}
    for event_id, parent_id in parent.items():
        if parent_id is not None:
            children[parent_id].append(event_id)
    for kids in children.values():
        kids.sort(key=order.__getitem__)
    roots = [r[0] for r in rows if parent[r[0]] is None]

    depth: dict[str, int] = {}
    stack = [(root, 0) for root in roots]
    post: list[str] = []  # parents before children; built bottom-up by walking it backwards
    while stack:
        event_id, d = stack.pop()
        depth[event_id] = d
        post.append(event_id)
        stack.extend((child, d + 1) for child in children[event_id])

    nodes: dict[str, ChainEvent] = {}
    for event_id in reversed(post):
        _, event_type, us, actor_type, actor_id, parent_id = by_id[event_id]
        up = parent[event_id]
        nodes[event_id] = ChainEvent(
            event_id=event_id,
            event_type=event_type,
            occurred_at=from_micros(us),
            actor_type=actor_type,
            actor_id=actor_id,
            parent_event_id=parent_id,
            depth=depth[event_id],
            seconds_from_parent=None if up is None else (us - by_id[up][2]) / _US,
            orphan=event_id in orphans,
            cycle=event_id in cycle,
            children=tuple(nodes[c] for c in children[event_id]),
        )
    return ChainResult(
        workflow_id=workflow_id,
        roots=tuple(nodes[r] for r in roots),
        events=len(rows),
        first_event_at=from_micros(rows[0][2]),
        last_event_at=from_micros(rows[-1][2]),
        orphans=len(orphans),
        cycle_events=len(cycle),
        max_depth=max(depth.values()),
    )


def _break_cycles(parent: dict[str, str | None], order: dict[str, int]) -> set[str]:
    """Cut every parent loop at its earliest event (made a root); return the events on loops.

    Each event has at most one parent, so following parents from any event either ends at a root
    or enters exactly one loop; every event is visited once.
    """
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    on_loops: set[str] = set()
    for start in sorted(parent, key=order.__getitem__):
        path: list[str] = []
        node: str | None = start
        while node is not None and node not in state:
            state[node] = 1
            path.append(node)
            node = parent[node]
        if node is not None and state[node] == 1:  # came back to this path: a loop
            loop = path[path.index(node) :]
            on_loops.update(loop)
            parent[min(loop, key=order.__getitem__)] = None
        for item in path:
            state[item] = 2
    return on_loops


def _seconds(delta: timedelta) -> float:
    return ((delta.days * 86400 + delta.seconds) * _US + delta.microseconds) / _US
