"""opdash info DIR: what the folder holds, and what was quarantined and why."""

from __future__ import annotations

import argparse

from opdash.commands.common import add_folder, add_json, open_folder, print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_folder(parser)
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    catalog = open_folder(args)
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
        print_json(stats)
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
