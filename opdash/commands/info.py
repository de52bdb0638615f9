"""opdash info DIR: what the folder holds, and what was quarantined and why."""

from __future__ import annotations

import argparse

from opdash.commands.common import add_folder, add_json, open_folder, print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from opdash.metrics.quality import quality_report

    catalog = open_folder(args)
    report = quality_report(catalog, samples=20)
    stats = report.to_dict()
    if args.json:
        print_json(stats)
        return 0
    print(f"{catalog.root}")
    for key in ("files", "events", "workflows", "runs", "duplicates", "quarantined"):
        print(f"  {key:<12}{stats[key]:>10,}")
    print(f"  {'events from':<12}{stats['first_event_at'] or '-'}")
    print(f"  {'events to':<12}{stats['last_event_at'] or '-'}")
    for sample in report.samples:
        print(
            f"  quarantined {sample.source_file} {sample.where}: {sample.reason} ({sample.detail})"
        )
    return 0
