"""opdash today DIR [--as-of ISO] [--tz ZONE]: the operator loop today, pending tasks, open alerts.

Definitions in docs/goals-and-today.md.
"""

from __future__ import annotations

import argparse

from opdash.commands.common import add_folder, add_json, count, open_folder, pct, print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    parser.add_argument("--as-of", default=None, metavar="ISO", help="the moment (default now)")
    parser.add_argument("--tz", default="UTC", metavar="ZONE", help="IANA zone of the day")
    parser.add_argument(
        "--tasks", type=count, default=10, metavar="N", help="pending tasks listed in the table"
    )
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.calendar import zone
    from opdash.metrics.today import today
    from opdash.timeutil import parse_instant

    as_of = parse_instant(args.as_of, name="--as-of")  # fail on a bad option before reading
    zone(args.tz)
    result = today(open_folder(args), as_of=as_of, tz=args.tz)
    if args.json:
        print_json(result.to_dict())
    else:
        print(table(result, tasks=args.tasks))
    return 0


def table(result, *, tasks: int = 10) -> str:
    lines = [f"today in {result.tz}: {result.day_start.isoformat()} .. {result.as_of.isoformat()}"]
    lines.append("")
    lines += [f"  {t:<28} {n:>7,}" for t, n in result.counts.items()]
    lines.append("")
    lines.append("  " + "   ".join(f"{c['label']} {pct(c['rate'])}" for c in result.conversion))
    lines.append(f"  task accept rate {pct(result.task_accept_rate)}")
    lines.append("")
    lines.append(f"pending tasks: {len(result.pending_tasks)} (oldest first)")
    for task in result.pending_tasks[:tasks]:
        lines.append(f"  {task.task_id:<16} {_age(task.age_seconds):>8}  {task.title or ''}")
    if len(result.pending_tasks) > tasks:
        lines.append(f"  … {len(result.pending_tasks) - tasks} more (--json lists all)")
    alerts = result.open_alerts
    lines.append(
        f"open alerts: {alerts['total']} (critical {alerts['critical']}, "
        f"warning {alerts['warning']}, info {alerts['info']}, other {alerts['other']})"
    )
    insight = result.latest_insight
    if insight is None:
        lines.append("latest insight: none")
    else:
        lines.append(
            f"latest insight ({insight.occurred_at.isoformat()}, {insight.workflow_id or '-'}): "
            f"{insight.text or '-'}"
        )
    return "\n".join(lines)


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
