"""Benchmark: loading a folder into the catalog and computing the loop funnel.

Generates N synthetic envelope events (synthetic.py, shared with bench_funnel.py; as parquet
files, or as one JSON-lines file converted from them), then times
``opdash.open`` and ``opdash.funnel`` in this process. A benchmark, not a test: run it by hand
and record the figures in benchmarks/README.md.

    python benchmarks/bench_catalog.py --events 1000000 --format parquet --out /work/bench-data
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic  # noqa: E402
from synthetic import STEPS  # noqa: E402


def write_folder(out: Path, n: int, fmt: str) -> Path:
    """``out/<fmt>-<n>``: the shared synthetic events (synthetic.py) as parquet or JSON lines."""
    if fmt == "parquet":
        return synthetic.write_folder(out / f"parquet-{n}", n)
    folder = out / f"{fmt}-{n}"
    if (folder / ".complete").exists():
        return folder
    source = synthetic.write_folder(out / f"parquet-{n}", n)
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "events").mkdir(parents=True)
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"""
        COPY (
            SELECT * REPLACE (strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.%fZ') AS occurred_at)
            FROM read_parquet('{source}/events/*.parquet')
        ) TO '{folder}/events/events.jsonl' (FORMAT json)
        """
    )
    (folder / ".complete").write_text(f"{n}\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["parquet", "jsonl"], default="parquet")
    parser.add_argument("--out", type=Path, default=Path("/work/bench-data"))
    parser.add_argument("--clean", action="store_true")
    args = parser.parse_args()
    if args.clean:
        shutil.rmtree(args.out, ignore_errors=True)
    folder = write_folder(args.out, args.events, args.format)
    import opdash

    t0 = time.perf_counter()
    catalog = opdash.open(folder)
    t_open = time.perf_counter() - t0
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        result = opdash.funnel(catalog, STEPS, window="14d")
        timings.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    catalog.refresh()
    t_refresh = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "events": catalog.stats().events,
                "format": args.format,
                "open_s": round(t_open, 2),
                "funnel_s_best_of_3": round(min(timings), 3),
                "noop_refresh_s": round(t_refresh, 3),
                "peak_rss_mb": round(peak_mb),
                "step_counts": [s.count for s in result.steps],
            }
        )
    )


if __name__ == "__main__":
    main()
