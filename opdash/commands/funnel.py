"""opdash funnel DIR --steps A,B,C: a conversion funnel (definitions in docs/metrics.md)."""

from __future__ import annotations

import argparse
import sys

from opdash.commands.common import add_folder, add_json, open_folder, pct, print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    parser.add_argument("--steps", required=True, help="event types, comma-separated")
    parser.add_argument("--window", default="14d", help="e.g. 90m, 6h, 14d, 2w (default 14d)")
    parser.add_argument("--order", default="ordered", help="ordered | strict | unordered")
    parser.add_argument("--by", default="correlation.workflow_id", help="entity path")
    parser.add_argument("--since", default=None, help="ISO time; bounds the step-1 event")
    parser.add_argument("--until", default=None, help="ISO time (exclusive)")
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.metrics.funnel import funnel, parse_steps

    parse_steps(args.steps)  # fail on a bad option before the folder is read
    catalog = open_folder(args)
    result = funnel(
        catalog,
        args.steps,
        window=args.window,
        order=args.order,
        by=args.by,
        since=args.since,
        until=args.until,
    )
    for missing in result.missing_event_types:
        print(f"note: event type '{missing}' never occurs in {args.dir}", file=sys.stderr)
    if args.json:
        print_json(result.to_dict())
    else:
        print(table(result))
    return 0


def table(result) -> str:
    from opdash.timeutil import format_duration

    head = f"{result.order} funnel by {result.by}, window {format_duration(result.window_seconds)}"
    lines = [
        head,
        f"{'step':<4} {'event type':<32} {'count':>8} {'from prev':>10} {'from start':>10}",
    ]
    for step in result.steps:
        lines.append(
            f"{step.step:<4} {step.event_type:<32} {step.count:>8,} "
            f"{pct(step.conversion_from_previous):>10} {pct(step.conversion_from_start):>10}"
        )
    return "\n".join(lines)
