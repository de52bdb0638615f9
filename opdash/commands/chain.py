"""opdash chain DIR WORKFLOW_ID: one workflow's events as a tree (docs/chains-and-pipeline.md)."""

from __future__ import annotations

import argparse

from opdash.commands.common import add_folder, add_json, open_folder, print_json

_DEEP = 200  # nesting (two JSON levels per event) past which JSON is written compact, iteratively


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    parser.add_argument("workflow_id", help="the workflow (correlation.workflow_id) to show")
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.metrics.chain import chain

    result = chain(open_folder(args), args.workflow_id)
    if args.json and result.max_depth > _DEEP:
        print(dumps_iterative(result.to_dict()))  # json's encoder recurses once per level
    elif args.json:
        print_json(result.to_dict())
    else:
        print(tree(result))
    return 0


def tree(result) -> str:
    """An indented tree: a root shows its time, a child the time since its parent."""
    from opdash.timeutil import human_duration

    span = human_duration(result.duration_seconds)
    lines = [
        f"workflow {result.workflow_id}: {result.events} events, "
        f"{_iso(result.first_event_at)} → {_iso(result.last_event_at)} ({span}), "
        f"{result.orphans} orphan{'s' if result.orphans != 1 else ''}"
        + (f", {result.cycle_events} on parent loops" if result.cycle_events else "")
    ]
    for node in result.walk():
        gap = node.seconds_from_parent
        if gap is None:
            when = _iso(node.occurred_at)
        else:
            when = ("+" if gap >= 0 else "") + human_duration(gap)
        who = " ".join(x for x in (node.actor_type, node.actor_id) if x)
        marks = []
        if node.orphan:
            marks.append(f"orphan: parent {node.parent_event_id} not in this workflow")
        if node.cycle:
            marks.append(f"parent loop (parent {node.parent_event_id})")
        lines.append(
            "  " * node.depth
            + f"{when}  {node.event_type}  {node.event_id}"
            + (f"  ({who})" if who else "")
            + "".join(f"  [{m}]" for m in marks)
        )
    return "\n".join(lines)


def _iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


class _Raw(str):
    """Text already encoded, emitted as is."""


def dumps_iterative(value) -> str:
    """Compact JSON (sorted keys) without recursion, for trees deeper than json.dumps allows."""
    import json

    out: list[str] = []
    stack: list = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            out.append(item)
        elif isinstance(item, dict):
            parts: list = [_Raw("{")]
            for i, (key, val) in enumerate(sorted(item.items())):
                parts += [_Raw(("," if i else "") + json.dumps(str(key)) + ":"), val]
            stack.extend(reversed([*parts, _Raw("}")]))
        elif isinstance(item, list | tuple):
            parts = [_Raw("[")]
            for i, val in enumerate(item):
                parts += [_Raw(",")] if i else []
                parts.append(val)
            stack.extend(reversed([*parts, _Raw("]")]))
        else:
            out.append(json.dumps(item, default=str, ensure_ascii=False))
    return "".join(out)
