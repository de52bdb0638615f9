"""opdash pipeline DIR --steps A,B,C: each workflow's stage and which ones are stuck.

Definitions in docs/chains-and-pipeline.md.
"""

from __future__ import annotations

import argparse

from opdash.commands.common import add_folder, add_json, count, emit, open_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    parser.add_argument("--steps", required=True, help="event types of the stages, comma-separated")
    parser.add_argument("--window", default="14d", help="e.g. 90m, 6h, 14d, 2w (default 14d)")
    parser.add_argument(
        "--stuck-after", default="2d", help="idle longer than this is stuck (default 2d)"
    )
    parser.add_argument(
        "--as-of", default=None, help="ISO time to look from (default now); later events ignored"
    )
    parser.add_argument("--by", default="correlation.workflow_id", help="entity path")
    parser.add_argument(
        "--limit", type=count, default=50, help="stuck workflows listed per stage (default 50)"
    )
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.metrics.funnel import parse_steps
    from opdash.metrics.pipeline import pipeline
    from opdash.timeutil import parse_duration, parse_instant

    # fail on a bad option before the folder is read
    parse_steps(args.steps)
    parse_duration(args.window, name="window")
    parse_duration(args.stuck_after, name="stuck-after")
    parse_instant(args.as_of, name="as-of")
    catalog = open_folder(args)
    result = pipeline(
        catalog,
        args.steps,
        window=args.window,
        stuck_after=args.stuck_after,
        as_of=args.as_of,
        by=args.by,
        limit=args.limit,
    )
    return emit(args, result, lambda r: table(r, window=args.window, stuck_after=args.stuck_after))


def table(result, *, window: str | None = None, stuck_after: str | None = None) -> str:
    """The pipeline as text; ``window`` and ``stuck_after`` are echoed as the user gave them
    (else written in days, hours or minutes: opdash.timeutil)."""
    from opdash.timeutil import duration_text, format_duration, human_duration

    window = format_duration(result.window_seconds) if window is None else duration_text(window)
    stuck = (
        format_duration(result.stuck_after_seconds)
        if stuck_after is None
        else duration_text(stuck_after)
    )
    lines = [
        f"pipeline by {result.by}, window {window}, stuck after {stuck}, as of {_iso(result.as_of)}",
        f"{'stage':<5} {'event type':<32} {'workflows':>9} {'stuck':>7}",
    ]
    for stage in result.stages:
        lines.append(
            f"{stage.stage:<5} {stage.event_type:<32} {stage.workflows:>9,} {stage.stuck:>7,}"
        )
    lines.append(
        f"{result.workflows:,} workflows, {result.done:,} done (reached the last step; never stuck)"
    )
    for stage in result.stages:
        if not stage.stuck:
            continue
        shown = len(stage.stuck_workflows)
        more = f", showing {shown}" if shown < stage.stuck else ""
        lines.append("")
        lines.append(f"stuck at {stage.stage} {stage.event_type} ({stage.stuck:,}{more}):")
        for w in stage.stuck_workflows:
            lines.append(
                f"  {w.workflow_id}  idle {human_duration(w.idle_seconds)}  "
                f"last {w.last_event_type} at {_iso(w.last_event_at)}"
            )
    return "\n".join(lines)


def _iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")
