"""opdash funnel DIR --steps A,B,C: a conversion funnel (definitions in docs/metrics.md)."""

from __future__ import annotations

import argparse

from opdash.commands.common import (
    add_folder,
    add_json,
    emit,
    open_folder,
    pct,
    positive,
)
from opdash.metrics.funnel import (
    DEFAULT_BINS,
    DEFAULT_BREAKDOWN_LIMIT,
    DEFAULT_BY,
    DEFAULT_DROPPED_LIMIT,
    DEFAULT_WINDOW,
)
from opdash.metrics.sequence import ORDERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    parser.add_argument("--steps", required=True, help="event types, comma-separated")
    parser.add_argument(
        "--window", default=DEFAULT_WINDOW, help=f"e.g. 90m, 6h, 14d (default {DEFAULT_WINDOW})"
    )
    parser.add_argument("--order", default=ORDERS[0], help=" | ".join(ORDERS))
    parser.add_argument("--by", default=DEFAULT_BY, help="entity path")
    parser.add_argument("--since", default=None, help="ISO time; bounds the step-1 event")
    parser.add_argument("--until", default=None, help="ISO time (exclusive)")
    parser.add_argument("--breakdown", default=None, help="path whose value splits the funnel")
    parser.add_argument("--breakdown-limit", type=positive, default=DEFAULT_BREAKDOWN_LIMIT)
    parser.add_argument(
        "--attribution",
        default="first",
        help="whose value a breakdown counts: first (step 1's, default) | last (the last step "
        "reached) | step:N | all (per value, over the events carrying it)",
    )
    parser.add_argument(
        "--exclude", action="append", default=[], help="drop chains with this type inside (repeat)"
    )
    parser.add_argument("--time-to-convert", default=None, metavar="FROM:TO")
    parser.add_argument("--bins", type=positive, default=DEFAULT_BINS)
    parser.add_argument("--trend", default=None, help="day | week: conversion per entry period")
    parser.add_argument("--tz", default="UTC", help="IANA zone for --trend periods")
    parser.add_argument("--as-of", default=None, help="ISO time; marks periods still open")
    parser.add_argument("--dropped-at", type=positive, default=None, metavar="K")
    parser.add_argument(
        "--limit",
        type=positive,
        default=DEFAULT_DROPPED_LIMIT,
        help=f"drop-offs listed (default {DEFAULT_DROPPED_LIMIT})",
    )
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.metrics.funnel import funnel, parse_attribution, parse_steps

    parse_attribution(args.attribution, len(parse_steps(args.steps)))  # before the folder is read
    parts = [args.exclude, args.time_to_convert, args.trend, args.dropped_at]
    parts += [None if args.attribution in ("", "first") else args.attribution]
    # the funnel and its breakdown are one question: its chains are computed within it, not
    # kept; the other parts each ask the chains again, so those keep them
    catalog = open_folder(args, keep_shared=any(p not in (None, []) for p in parts))
    result = funnel(
        catalog,
        args.steps,
        window=args.window,
        order=args.order,
        by=args.by,
        since=args.since,
        until=args.until,
        breakdown=args.breakdown,
        breakdown_limit=args.breakdown_limit,
        attribution=args.attribution,
        exclude=args.exclude,
        time_to_convert=args.time_to_convert,
        bins=args.bins,
        trend=args.trend,
        tz=args.tz,
        as_of=args.as_of,
        dropped_at=args.dropped_at,
        dropped_limit=args.limit,
    )
    return emit(args, result, lambda r: table(r, window=args.window))


def table(result, *, window: str | None = None) -> str:
    """The funnel as text; ``window`` is echoed as the user gave it (else written in days,
    hours or minutes: opdash.timeutil)."""
    from opdash.timeutil import duration_text, format_duration

    echoed = duration_text(window) if window is not None else format_duration(result.window_seconds)
    head = f"{result.order} funnel by {result.by}, window {echoed}"
    lines = [
        head,
        f"{'step':<4} {'event type':<32} {'count':>8} {'from prev':>10} {'from start':>10}",
    ]
    for step in result.steps:
        lines.append(
            f"{step.step:<4} {step.event_type:<32} {step.count:>8,} "
            f"{pct(step.conversion_from_previous):>10} {pct(step.conversion_from_start):>10}"
        )
    if result.excluded is not None:
        lines.append(f"excluded {result.excluded:,} chains with {', '.join(result.exclude)} inside")
    if result.breakdown is not None and result.attribution != "first":
        lines.append(
            f"breakdown by {result.breakdown_by}, attribution {result.attribution}"
            + (
                " (an entity counts under each of its values: groups need not add up)"
                if result.attribution == "all"
                else ""
            )
        )
    for group in result.breakdown or []:
        counts = " → ".join(f"{s.count:,}" for s in group.steps)
        lines.append(f"  {group.value if group.value is not None else '(none)'}: {counts}")
    if result.time_to_convert is not None:
        ttc = result.time_to_convert
        lines.append(
            f"time from step {ttc.from_step} to {ttc.to_step} ({ttc.entities:,} entities):"
        )
        for b in ttc.bins:
            lines.append(f"  {b.start_seconds:>12,.0f}s – {b.end_seconds:>12,.0f}s  {b.count:>8,}")
    if result.trend is not None:
        lines.append(f"conversion by {result.trend.interval} of entry ({result.trend.tz}):")
        for p in result.trend.periods:
            mark = "  (window still open)" if p.incomplete else ""
            lines.append(
                f"  {p.start.isoformat()}  {p.converted:>6,}/{p.entered:<6,} {pct(p.rate):>7}{mark}"
            )
    if result.dropped is not None:
        d = result.dropped
        lines.append(f"dropped after step {d.step} ({d.event_type}): {d.total:,}, newest first:")
        for e in d.entities:
            lines.append(f"  {e.entity}  last {e.last_event_type} at {e.last_event_at.isoformat()}")
    return "\n".join(lines)
