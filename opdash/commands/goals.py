"""opdash goals DIR [--goals FILE] [--as-of ISO]: each goal's progress in its current period.

Definitions in docs/goals-and-today.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from opdash.commands.common import add_folder, add_json, open_folder, pct, print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    parser.add_argument(
        "--goals", default=None, metavar="FILE", help="goals file (default DIR/goals.yaml)"
    )
    parser.add_argument("--as-of", default=None, metavar="ISO", help="evaluate at (default now)")
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.metrics.goals import GOALS_FILE, goals, load_goals
    from opdash.timeutil import parse_instant

    as_of = parse_instant(args.as_of, name="--as-of")  # fail on a bad option before reading
    path = Path(args.goals) if args.goals else Path(args.dir) / GOALS_FILE
    if args.goals or path.exists():
        goal_list = load_goals(path)
    else:
        goal_list = []
        print(f"note: no goals file at {path}", file=sys.stderr)
    catalog = open_folder(args)
    result = goals(catalog, goal_list, as_of=as_of)
    if args.json:
        data = result.to_dict()
        data["source"] = str(path) if goal_list or args.goals else None
        print_json(data)
    else:
        print(table(result))
    return 0


def table(result) -> str:
    lines = [f"goals as of {result.as_of.isoformat()}"]
    if not result.goals:
        return lines[0] + ": none"
    lines.append(
        f"{'id':<24} {'status':<9} {'actual':>12} {'target':>10} {'progress':>9} "
        f"{'expected':>9}  period"
    )
    for g in result.goals:
        lines.append(
            f"{g.id:<24} {g.status:<9} {_num(g.actual):>12} {_num(g.goal.target):>10} "
            f"{pct(g.progress):>9} {pct(g.expected_progress):>9}  "
            f"{g.goal.period} from {g.period_start.isoformat()} ({g.goal.tz})"
        )
    return "\n".join(lines)


def _num(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return f"{value:,.0f}"
