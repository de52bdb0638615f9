"""opdash demo DIR: write the demo artifact folder."""

from __future__ import annotations

import argparse

from opdash.commands.common import count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="a new or empty folder")
    parser.add_argument("--seed", type=count, default=None)
    parser.add_argument("--workflows", type=count, default=None)
    parser.add_argument("--as-of", default=None, help="ISO time of the newest event")


def run(args: argparse.Namespace) -> int:
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
