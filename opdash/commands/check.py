"""opdash check DIR: every problem of the folder's dashboard spec, goals and data, in one run.

Exit 0 when there is no error (warnings are printed), 1 when there are errors.
"""

from __future__ import annotations

import argparse
import sys

from opdash.commands.common import add_folder, add_json, add_spec, open_folder, print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    add_spec(parser)
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.spec import check_folder

    report = check_folder(args.dir, args.spec, catalog=open_folder(args, keep_shared=False))
    if args.json:
        print_json(report.to_dict())
        return 1 if report.errors else 0
    for problem in report.problems:
        print(problem.text())
    spec = report.spec_file or "the built-in spec (no dashboard.yaml)"
    errors, warnings = len(report.errors), len(report.warnings)
    verdict = "ok" if not errors else "problems found"
    print(
        f"opdash check: {verdict}: {errors} error(s), {warnings} warning(s) — {spec}, "
        f"goals.yaml and the data of {args.dir}",
        file=sys.stderr,
    )
    return 1 if errors else 0
