"""opdash retention DIR --start TYPE --return TYPE: a cohort grid (see docs/retention.md)."""

from __future__ import annotations

import argparse

from opdash.commands.common import add_folder, add_json, emit, open_folder, positive
from opdash.display import percent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    parser.add_argument("--start", required=True, metavar="TYPE", help="the event that starts")
    parser.add_argument(
        "--return", dest="return_", required=True, metavar="TYPE", help="the event that returns"
    )
    parser.add_argument("--by", default="actor.id", help="the entity (default actor.id)")
    parser.add_argument("--interval", default="week", help="day | week | month (default week)")
    parser.add_argument("--tz", default="UTC", help="IANA time zone of the periods (default UTC)")
    parser.add_argument(
        "--periods", type=positive, default=8, metavar="N", help="periods per cohort (default 8)"
    )
    parser.add_argument(
        "--since", default=None, help="first start event: date (local in --tz) or timestamp"
    )
    parser.add_argument("--until", default=None, help="start events before this (exclusive)")
    parser.add_argument("--mode", default="first-time", help="first-time (default) | recurring")
    parser.add_argument(
        "--cumulative", action="store_true", help="cell k: back in period k or later"
    )
    parser.add_argument("--as-of", default=None, help="read up to this moment (default: newest)")
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.metrics.retention import retention

    result = retention(
        open_folder(args),
        args.start,
        args.return_,
        by=args.by,
        interval=args.interval,
        tz=args.tz,
        periods=args.periods,
        since=args.since,
        until=args.until,
        mode=args.mode,
        cumulative=args.cumulative,
        as_of=args.as_of,
    )
    return emit(args, result, table)


def table(result) -> str:
    """The grid: a row per cohort, its size and the percent back at each offset."""
    kind = "came back in or after" if result.cumulative else "came back in"
    lines = [
        f"{result.mode} cohorts of {result.start_event} by {result.by}, per {result.interval} in "
        f"{result.tz}; % of each cohort that {kind} period +k with {result.return_event} "
        f"(as of {result.as_of.isoformat()}; * = not over yet)",
        f"{'cohort':<26} {'size':>8} " + " ".join(f"{f'+{k}':>7} " for k in range(result.periods)),
    ]
    for cohort in result.cohorts:
        cells = [
            f"{percent(p, missing='-') + ('*' if late else ' '):>8}"
            for p, late in zip(cohort.percents, cohort.incomplete, strict=True)
        ]
        lines.append(f"{cohort.start.isoformat():<26} {cohort.size:>8,} " + " ".join(cells))
    lines.append(
        f"{'mean (weighted)':<26} {'':>8} "
        + " ".join(f"{percent(m, missing='-'):>7} " for m in result.mean)
    )
    return "\n".join(lines)
