"""The ``opdash`` command. Commands that do not draw never import Panel or HoloViews.

A user mistake (bad option, bad value, missing folder) ends with one line naming the bad value and
exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from opdash.errors import UsageError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (no usage dump) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _folder(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"folder '{value}' does not exist")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"'{value}' is not a folder")
    return path


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"'{value}' must not be negative")
    return number


def _port(value: str) -> int:
    number = _positive_int(value)
    if not 0 < number < 65536:
        raise argparse.ArgumentTypeError(f"port '{value}' must be between 1 and 65535")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="opdash", description="A read-only dashboard over operator artifacts.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="write a realistic demo artifact folder")
    demo.add_argument("dir", help="a new or empty folder")
    demo.add_argument("--seed", type=_positive_int, default=None)
    demo.add_argument("--workflows", type=_positive_int, default=None)
    demo.add_argument("--as-of", default=None, help="ISO time of the newest event")

    info = sub.add_parser("info", help="what the folder holds and what was quarantined")
    info.add_argument("dir", type=_folder)
    info.add_argument("--json", action="store_true")

    funnel = sub.add_parser("funnel", help="a conversion funnel")
    funnel.add_argument("dir", type=_folder)
    funnel.add_argument("--steps", required=True, help="event types, comma-separated")
    funnel.add_argument("--window", default="14d", help="e.g. 90m, 6h, 14d, 2w (default 14d)")
    funnel.add_argument("--order", default="ordered", help="ordered | strict | unordered")
    funnel.add_argument("--by", default="correlation.workflow_id", help="entity path")
    funnel.add_argument("--since", default=None, help="ISO time; bounds the step-1 event")
    funnel.add_argument("--until", default=None, help="ISO time (exclusive)")
    funnel.add_argument("--json", action="store_true")

    serve = sub.add_parser("serve", help="serve the dashboard")
    serve.add_argument("dir", type=_folder)
    serve.add_argument("--port", type=_port, default=5006)
    serve.add_argument("--address", default="127.0.0.1")
    serve.add_argument("--show", action="store_true", help="open a browser")
    serve.add_argument(
        "--refresh", type=_positive_int, default=10, help="seconds between refreshes (0 = off)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"demo": _demo, "info": _info, "funnel": _funnel, "serve": _serve}[args.command]
    try:
        return handler(args) or 0
    except UsageError as exc:
        print(f"opdash {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FileExistsError as exc:
        print(f"opdash {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _version() -> str:
    from opdash import __version__

    return f"opdash {__version__}"


def _demo(args: argparse.Namespace) -> int:
    from opdash import demo
    from opdash.timeutil import parse_instant

    as_of = parse_instant(args.as_of, name="--as-of") or demo.DEFAULT_AS_OF
    summary = demo.write_demo(
        args.dir,
        seed=demo.DEFAULT_SEED if args.seed is None else args.seed,
        workflows=demo.DEFAULT_WORKFLOWS if args.workflows is None else args.workflows,
        as_of=as_of,
    )
    print(
        f"wrote {summary.files} files to {summary.path}: {summary.events} events, "
        f"{summary.runs} runs, {summary.malformed} malformed records on purpose"
    )
    print(f"next: opdash serve {summary.path}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from opdash.catalog import open_catalog

    catalog = open_catalog(args.dir)
    stats = catalog.stats().to_dict()
    reasons = catalog.fetchall(
        "SELECT reason, count(*) FROM quarantine GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    samples = catalog.fetchall(
        'SELECT source_file, line, "row", reason, detail FROM quarantine '
        'ORDER BY source_file, line, "row" LIMIT 20'
    )
    if args.json:
        stats["quarantine_by_reason"] = dict(reasons)
        stats["quarantine_samples"] = [
            dict(zip(("source_file", "line", "row", "reason", "detail"), s, strict=True))
            for s in samples
        ]
        _print_json(stats)
        return 0
    print(f"{catalog.root}")
    for key in ("files", "events", "workflows", "runs", "duplicates", "quarantined"):
        print(f"  {key:<12}{stats[key]:>10,}")
    print(f"  {'events from':<12}{stats['first_event_at'] or '-'}")
    print(f"  {'events to':<12}{stats['last_event_at'] or '-'}")
    for source_file, line, row, reason, detail in samples:
        where = (
            f"line {line}" if line is not None else (f"row {row}" if row is not None else "file")
        )
        print(f"  quarantined {source_file} {where}: {reason} ({detail})")
    return 0


def _funnel(args: argparse.Namespace) -> int:
    from opdash.catalog import open_catalog
    from opdash.metrics.funnel import funnel, parse_steps

    parse_steps(args.steps)  # fail on a bad option before the folder is read
    catalog = open_catalog(args.dir)
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
        _print_json(result.to_dict())
        return 0
    print(_funnel_table(result))
    return 0


def _funnel_table(result) -> str:
    from opdash.timeutil import format_duration

    head = f"{result.order} funnel by {result.by}, window {format_duration(result.window_seconds)}"
    lines = [
        head,
        f"{'step':<4} {'event type':<32} {'count':>8} {'from prev':>10} {'from start':>10}",
    ]
    for step in result.steps:
        lines.append(
            f"{step.step:<4} {step.event_type:<32} {step.count:>8,} "
            f"{_pct(step.conversion_from_previous):>10} {_pct(step.conversion_from_start):>10}"
        )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def _serve(args: argparse.Namespace) -> int:
    from opdash.server import serve

    return serve(
        args.dir, port=args.port, address=args.address, show=args.show, refresh=args.refresh
    )


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
