"""A plain-Python reference for opdash paths, written from the definitions only.

No SQL, no opdash: events are the envelope dicts as written to the folder; each rule of
docs/paths.md is a loop over one entity's sorted events. tests/properties/test_paths.py compares opdash
with it.
"""

from __future__ import annotations

from collections import Counter

from tests.bruteforce import entity_of, micros


def entity_paths(
    events: list[dict], *, anchor: str, event_type: str, by: str, steps: int,
    exclude: tuple[str, ...] = (), since: int | None = None, until: int | None = None,
) -> dict[str, list[tuple[str, int]]]:  # fmt: skip
    """Per anchored entity, its path: (type, micros the entity entered the node) per node."""
    grouped: dict[str, list[tuple[int, int, str, str]]] = {}
    for e in events:
        ent = entity_of(e, by)
        if ent is None or e["event_type"] in exclude:
            continue
        rank = 0 if e["event_type"] == event_type else 1  # the anchor's type first at a tie
        grouped.setdefault(ent, []).append(
            (micros(e["occurred_at"]), rank, e["event_id"], e["event_type"])
        )
    out = {}
    for ent, rows in grouped.items():
        rows.sort()
        at = None
        for i, (t, _, _, kind) in enumerate(rows):
            if (
                kind == event_type
                and (since is None or t >= since)
                and (until is None or t < until)
            ):
                at = i
                break
        if at is None:
            continue
        walk = rows[at:] if anchor == "start" else rows[: at + 1][::-1]
        nodes: list[list] = []
        for t, _, _, kind in walk:
            if nodes and nodes[-1][0] == kind:
                nodes[-1][1] = min(nodes[-1][1], t)
            else:
                nodes.append([kind, t])
        nodes = nodes[:steps]
        if anchor == "end":
            nodes.reverse()
        out[ent] = [(kind, t) for kind, t in nodes]
    return out


def paths(events: list[dict], *, top: int, **settings) -> dict:
    """``{"entities", "edges" (most taken first, then step, from, to), "dropped_edges",
    "nodes" (by step, then most entities, then type)}``."""
    found = entity_paths(events, **settings)
    edges: Counter = Counter()
    for nodes in found.values():
        for i in range(len(nodes) - 1):
            edges[(i + 1, nodes[i][0], nodes[i + 1][0])] += 1
    nodes: Counter = Counter()
    for path in found.values():
        for i, (kind, _) in enumerate(path):
            nodes[(i + 1, kind)] += 1
    ranked = sorted(edges.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1], kv[0][2]))
    return {
        "entities": len(found),
        "edges": [
            {"from_step": i, "from": a, "to_step": i + 1, "to": b, "count": c}
            for (i, a, b), c in ranked[:top]
        ],
        "dropped_edges": max(0, len(ranked) - top),
        "nodes": [
            {"step": i, "type": kind, "entities": c}
            for (i, kind), c in sorted(nodes.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))
        ],
    }


def through(events: list[dict], step: int, kind: str, **settings) -> list[tuple[int, str]]:
    """(micros entered, entity) of each entity whose node ``step`` is ``kind``."""
    found = entity_paths(events, **settings)
    return sorted(
        ((nodes[step - 1][1], ent) for ent, nodes in found.items()
         if len(nodes) >= step and nodes[step - 1][0] == kind),
    )  # fmt: skip
