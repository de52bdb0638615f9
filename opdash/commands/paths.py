"""opdash paths DIR (--start TYPE | --end TYPE): where entities go next, or how they came
(see docs/paths.md)."""

from __future__ import annotations

import argparse

from opdash.commands.common import add_folder, add_json, emit, open_folder, positive


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    anchor = parser.add_mutually_exclusive_group(required=True)
    anchor.add_argument("--start", metavar="TYPE", help="paths from each entity's first TYPE")
    anchor.add_argument("--end", metavar="TYPE", help="paths to each entity's first TYPE")
    parser.add_argument(
        "--by", default="correlation.workflow_id", help="the entity (default the workflow)"
    )
    parser.add_argument(
        "--steps", default="5", metavar="N", help="nodes per path, the anchor's included (2-20)"
    )
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="TYPE", help="drop a type (repeat)"
    )
    parser.add_argument("--since", default=None, help="ISO time; bounds the anchor event")
    parser.add_argument("--until", default=None, help="ISO time (exclusive)")
    parser.add_argument(
        "--top", type=positive, default=50, metavar="K", help="edges kept (default 50)"
    )
    parser.add_argument(
        "--node", default=None, metavar="I:TYPE", help="list the entities through node I:TYPE"
    )
    parser.add_argument("--limit", type=positive, default=50, help="entities listed (default 50)")
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.metrics.paths import path_entities, path_settings, paths

    catalog = open_folder(args, keep_shared=False)
    settings = path_settings(
        catalog,
        start=args.start,
        end=args.end,
        by=args.by,
        steps=args.steps,
        exclude=args.exclude,
        since=args.since,
        until=args.until,
        top=args.top,
    )
    if args.node is not None:
        step, event_type = node(args.node, settings.steps)
        total, listed = path_entities(
            catalog, step, event_type, limit=args.limit, settings=settings
        )
        return emit(args, NodeEntities(step, event_type, total, listed), node_table)
    return emit(args, paths(catalog, settings=settings), table)


def node(text: str, steps: int) -> tuple[int, str]:
    """``I:TYPE`` → (I, TYPE), I within the path's nodes."""
    from opdash.errors import UsageError

    step, _, event_type = text.partition(":")
    if not step.strip().isdigit() or not event_type.strip():
        raise UsageError(f"bad node '{text}': give STEP:TYPE, e.g. 2:candidate.created")
    if not 1 <= int(step) <= steps:
        raise UsageError(f"bad node '{text}': the step must be 1 to {steps}")
    return int(step), event_type.strip()


class NodeEntities:
    """The entities through one node (``--node``), as the JSON and table print them."""

    def __init__(self, step, event_type, total, listed) -> None:
        self.step, self.event_type, self.total, self.listed = step, event_type, total, listed

    def to_dict(self) -> dict:
        return {
            "step": self.step,
            "event_type": self.event_type,
            "total": self.total,
            "entities": [
                {
                    "entity": e.entity,
                    "reached_at": e.reached_at.isoformat(),
                    "workflow_id": e.workflow_id,
                }
                for e in self.listed
            ],
        }


def table(result) -> str:
    s = result.settings
    way = "from" if s.anchor == "start" else "to"
    lines = [
        f"paths {way} the first {s.event_type} of {result.entities:,} entities by {s.by}, "
        f"{s.steps} nodes" + (f", without {', '.join(s.exclude)}" if s.exclude else ""),
        f"{'count':>8}  edge",
    ]
    for e in result.edges:
        lines.append(f"{e.count:>8,}  {e.from_step}:{e.source} → {e.to_step}:{e.target}")
    if result.dropped_edges:
        lines.append(
            f"{result.dropped_edges:,} less taken edges dropped ({result.dropped_entities:,} "
            f"moves; --top {s.top})"
        )
    return "\n".join(lines)


def node_table(result: NodeEntities) -> str:
    lines = [f"{result.total:,} entities at node {result.step}:{result.event_type}, newest first:"]
    for e in result.listed:
        wf = f"  (workflow {e.workflow_id})" if e.workflow_id and e.workflow_id != e.entity else ""
        lines.append(f"  {e.entity}  at {e.reached_at.isoformat()}{wf}")
    return "\n".join(lines)
