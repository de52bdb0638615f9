"""opdash trend DIR --event TYPE: a metric per hour, day, week or month (see docs/trends.md)."""

from __future__ import annotations

import argparse

from opdash.commands.common import add_folder, add_json, emit, open_folder, positive
from opdash.display import number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    parser.add_argument(
        "--event",
        action="append",
        required=True,
        metavar="TYPE",
        help="event type; repeat for one series per type",
    )
    parser.add_argument("--interval", default="day", help="hour | day | week | month (default day)")
    parser.add_argument("--tz", default="UTC", help="IANA time zone of the buckets (default UTC)")
    parser.add_argument(
        "--since", default=None, help="date (local midnight in --tz) or timestamp; inclusive"
    )
    parser.add_argument("--until", default=None, help="date or timestamp; exclusive")
    parser.add_argument(
        "--metric", default="count", help="count | unique | sum:PATH | avg:PATH (default count)"
    )
    parser.add_argument(
        "--by", default="correlation.workflow_id", help="what --metric unique counts"
    )
    parser.add_argument("--breakdown", default=None, metavar="PATH", help="one series per value")
    parser.add_argument(
        "--breakdown-limit",
        type=positive,
        default=10,
        metavar="N",
        help="top N values, rest in Other",
    )
    parser.add_argument("--rolling", type=positive, default=None, metavar="N", help="trailing mean")
    parser.add_argument("--compare", default=None, metavar="previous", help="previous period")
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.metrics.trend import trend

    catalog = open_folder(args)
    result = trend(
        catalog,
        args.event,
        interval=args.interval,
        tz=args.tz,
        since=args.since,
        until=args.until,
        metric=args.metric,
        by=args.by,
        breakdown=args.breakdown,
        breakdown_limit=args.breakdown_limit,
        rolling=args.rolling,
        compare=args.compare,
    )
    return emit(args, result, table)


def table(result) -> str:
    """One block per series: bucket start, value (and rolling, previous, change when asked)."""
    head = (
        f"{result.metric} per {result.interval} in {result.tz}, "
        f"{result.since.isoformat()} to {result.until.isoformat()}"
    )
    lines = [head]
    columns = f"{'start':<26} {'value':>14}"
    if result.rolling is not None:
        columns += f" {f'rolling {result.rolling}':>14}"
    if result.compare is not None:
        columns += f" {'previous':>14} {'change':>9}"
    for series in result.series:
        name = series.event_type
        if series.breakdown is not None:
            name += f" · {result.breakdown} = {series.breakdown}"
        lines += ["", name, columns]
        for bucket in series.buckets:
            line = f"{bucket.start.isoformat():<26} {number(bucket.value, '-', whole_floats=False):>14}"
            if result.rolling is not None:
                line += f" {number(bucket.rolling, '-', whole_floats=False):>14}"
            if result.compare is not None:
                change = "-" if bucket.change_pct is None else f"{bucket.change_pct:+.1f}%"
                line += f" {number(bucket.previous, '-', whole_floats=False):>14} {change:>9}"
            lines.append(line)
    return "\n".join(lines)
