"""Benchmark: the dashboard spec over a large folder — ``opdash check``, the spec's own checks,
and the new tiles' answers (KPI, SQL, JSON state).

Uses the 1M-event parquet folder of bench_catalog.py (never written: the spec and a large
state file go into a sibling folder of hard links). A benchmark, not a test: run it by hand and
record the figures in benchmarks/README.md.

    python benchmarks/bench_spec.py --data /work/bench-data/parquet-1000000-ui
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

SPEC = """version: 1
title: Bench console
pages:
  - title: Overview
    tiles:
      - type: today
      - type: funnel
        steps: [signal.created, candidate.created, trade.plan.created, trade.executed, trade.closed]
        window: 14d
      - type: goals
  - title: State
    layout: {columns: 2}
    tiles:
      - type: kpi
        metric: count
        event_types: [trade.closed]
        window: 7d
      - type: kpi
        metric: unique:actor.id
        window: 7d
      - type: json-state
        source: state/STATE.json
      - type: markdown
        source: state/README.md
      - type: sql
        title: Busiest actors
        sql: SELECT actor_id, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 10
"""


def prepare(data: Path) -> Path:
    folder = data.parent / f"{data.name}-spec"
    if (folder / ".complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(data, folder, copy_function=os.link)
    (folder / "dashboard.yaml").write_text(SPEC)
    state = folder / "state"
    state.mkdir(exist_ok=True)
    big = {f"agent-{i}": {"status": "ok", "seen": i, "notes": ["x"] * 5} for i in range(4000)}
    (state / "STATE.json").write_text(json.dumps(big))
    (state / "README.md").write_text(
        "# State\n\n" + "| a | b |\n| - | - |\n" + "| 1 | 2 |\n" * 2000
    )
    (folder / ".complete").write_text("")
    return folder


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data/parquet-1000000-ui"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = prepare(args.data)
    rows: list[tuple[str, str]] = []

    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "opdash.cli", "check", str(folder)], capture_output=True, text=True
    )
    rows.append(
        ("`opdash check` (opens the catalog, whole run)", f"{time.perf_counter() - start:.1f} s")
    )
    print(proc.stderr.strip().splitlines()[-1], file=sys.stderr)

    from opdash.catalog import open_catalog
    from opdash.components import Filters, JsonState, KpiView, MarkdownState, SqlView
    from opdash.spec import check_folder, check_spec_text

    start = time.perf_counter()
    catalog = open_catalog(folder)
    rows.append(("open the catalog", f"{time.perf_counter() - start:.1f} s"))
    ms = timed(lambda: check_folder(folder, catalog=catalog), args.repeat)
    rows.append(
        (
            "check_folder on an open catalog (spec, goals, data), median",
            f"{statistics.median(ms):.0f} ms",
        )
    )
    ms = timed(lambda: check_spec_text(SPEC, root=folder), args.repeat)
    rows.append(
        (
            "the spec alone (YAML, schema, values, SQL parse, sources), median",
            f"{statistics.median(ms):.0f} ms",
        )
    )

    day = datetime(2026, 11, 20, tzinfo=UTC).date()
    as_of = Filters(end=day)
    views = {
        "KPI count of trade.closed, 7d with compare": KpiView(
            catalog, filters=as_of, event_types=["trade.closed"], window="7d"
        ),
        "KPI unique:actor.id, 7d": KpiView(
            catalog, filters=as_of, metric="unique:actor.id", window="7d"
        ),
        "SQL busiest actors (1M events)": SqlView(
            catalog,
            filters=Filters(),
            sql="SELECT actor_id, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 10",
        ),
        "SQL busiest actors, one day of the range": SqlView(
            catalog,
            filters=Filters(start=day, end=day),
            sql="SELECT actor_id, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 10",
        ),
        "JSON state, 4,000 keys (270 KB), data + draw": JsonState(
            catalog, source="state/STATE.json"
        ),
        "Markdown state, 2,000 table rows, data + draw": MarkdownState(
            catalog, source="state/README.md"
        ),
    }
    for label, view in views.items():
        ms = timed(lambda v=view: v.draw(v.data()), args.repeat)
        rows.append((label, f"{statistics.median(ms):.0f} ms median ({min(ms):.0f}–{max(ms):.0f})"))

    print(f"\nbench_spec over {folder} ({datetime.now(UTC):%Y-%m-%d}), {os.cpu_count()} cores\n")
    print("| what | time |\n| --- | --- |")
    for label, value in rows:
        print(f"| {label} | {value} |")


if __name__ == "__main__":
    main()
