"""Benchmark: loading a folder into the catalog and computing the loop funnel.

Generates N synthetic envelope events (as parquet, and as JSON lines), then times
``opdash.open`` and ``opdash.funnel`` in this process. A benchmark, not a test: run it by hand
and record the figures in benchmarks/README.md.

    python benchmarks/bench_catalog.py --events 1000000 --out bench-data
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

STEPS = [
    "signal.created",
    "candidate.created",
    "trade.plan.created",
    "trade.executed",
    "trade.closed",
    "coach.analysis.generated",
]
START = datetime(2026, 10, 1, tzinfo=UTC)


def synthetic_events(n: int, seed: int = 1) -> pa.Table:
    """n events over n/4 workflows walking the loop with drop-off, with a little noise."""
    rng = np.random.default_rng(seed)
    workflows = max(1, n // 4)
    wf = rng.integers(0, workflows, n)
    step = np.minimum(rng.geometric(0.35, n) - 1, len(STEPS) - 1)
    offset = rng.integers(0, 30 * 86400, workflows)[wf] + step * rng.integers(60, 7200, n)
    types = np.array(STEPS)[step]
    return pa.table(
        {
            "event_id": pa.array([f"e{i:09d}" for i in range(n)]),
            "event_type": pa.array(types),
            "occurred_at": pa.array(
                [START + timedelta(seconds=int(s)) for s in offset], pa.timestamp("us", tz="UTC")
            ),
            "actor": pa.array(
                [{"type": "ai_agent", "id": f"agent-{i % 7}"} for i in range(n)],
                pa.struct([("type", pa.string()), ("id", pa.string())]),
            ),
            "correlation": pa.array(
                [{"workflow_id": f"wf-{w}", "parent_event_id": None} for w in wf],
                pa.struct([("workflow_id", pa.string()), ("parent_event_id", pa.string())]),
            ),
            "payload": pa.array(
                [{"score": float(s)} for s in rng.random(n)], pa.struct([("score", pa.float64())])
            ),
        }
    )


def write_folder(out: Path, n: int, fmt: str) -> Path:
    folder = out / f"{fmt}-{n}"
    if folder.exists():
        return folder
    (folder / "events").mkdir(parents=True)
    table = synthetic_events(n)
    if fmt == "parquet":
        pq.write_table(table, folder / "events" / "events.parquet", row_group_size=256_000)
    else:
        with (folder / "events" / "events.jsonl").open("w") as fh:
            for row in table.to_pylist():
                row["occurred_at"] = row["occurred_at"].isoformat()
                fh.write(json.dumps(row) + "\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["parquet", "jsonl"], default="parquet")
    parser.add_argument("--out", type=Path, default=Path("bench-data"))
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
