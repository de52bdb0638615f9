"""Benchmark: the read-only JSON API and ``opdash snapshot`` over a large folder.

Copies (hard-links) the 1M-event parquet folder of bench_catalog.py, adds ``--runs`` run folders
(run.json, 200 events and 20 alerts each), starts ``opdash serve`` once its start-up warming is
done, then times ``--repeat`` requests per route from this process (HTTP, keep-alive off) and two
``opdash snapshot`` runs (checking they are byte-identical). A benchmark, not a test: run it by
hand and record the figures in benchmarks/README.md.

    python benchmarks/bench_api.py --data /work/bench-data/parquet-1000000-ui --runs 200
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ui import Server, pct  # noqa: E402


def prepare(data: Path, runs: int) -> Path:
    """``data`` plus ``runs`` run folders, in a sibling folder (the source is never touched)."""
    folder = data.parent / f"{data.name}-api-{runs}"
    if (folder / ".complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(data, folder, copy_function=os.link)
    start = datetime(2026, 11, 20, 9, tzinfo=UTC)
    for r in range(runs):
        run_dir = folder / "runs" / f"run-{r:04d}"
        run_dir.mkdir(parents=True)
        began = start + timedelta(minutes=r)
        (run_dir / "run.json").write_text(json.dumps({
            "run_id": run_dir.name, "name": f"Run {r}", "kind": "live",
            "status": "running" if r % 3 else "succeeded",
            "started_at": began.isoformat(), "heartbeat_at": (began + timedelta(hours=1)).isoformat(),
            "params": {"api_key": "not-a-real-key", "batch": r},
        }))  # fmt: skip
        with (run_dir / "events.jsonl").open("w") as fh:
            for i in range(200):
                fh.write(json.dumps({
                    "event_id": f"{run_dir.name}-{i}", "event_type": "run.heartbeat",
                    "occurred_at": (began + timedelta(seconds=20 * i)).isoformat(),
                    "payload": {"step": i, "token": "secret"},
                }) + "\n")  # fmt: skip
        with (run_dir / "alerts.jsonl").open("w") as fh:
            for i in range(20):
                fh.write(json.dumps({
                    "alert_id": f"a{i}", "raised_at": (began + timedelta(minutes=3 * i)).isoformat(),
                    "severity": ("info", "warning", "critical")[i % 3], "title": f"alert {i}",
                    "resolved_at": None if i % 2 else (began + timedelta(minutes=3 * i + 1)).isoformat(),
                }) + "\n")  # fmt: skip
    (folder / ".complete").write_text("")
    return folder


def time_route(url: str, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
        times.append((time.perf_counter() - t0) * 1000)
    return {"first_ms": times[0], "p50_ms": pct(times[1:], 50), "p95_ms": pct(times[1:], 95)}


def snapshot(folder: Path, out: Path) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "opdash.cli", "snapshot", str(folder), "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    digest = hashlib.sha256()
    for path in sorted(out.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(out)).encode() + path.read_bytes())
    return wall, digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data/parquet-1000000-ui"))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    folder = prepare(args.data, args.runs)
    server = Server(folder, timeout=300).start()
    try:
        waited = server.wait_idle()
        print(f"# {folder}: server up in {server.startup_s:.1f} s, idle {waited:.1f} s later")
        routes = ["health", "api/runs", "api/runs/run-0100", "api/runs/run-0100/tail?limit=1000",
                  "api/runs/run-0100/alerts?state=open", "api/status/snapshot.json",
                  "api/status/snapshot.html", "api/openapi.json"]  # fmt: skip
        print("| route | first | p50 | p95 |\n| --- | ---: | ---: | ---: |")
        for route in routes:
            t = time_route(server.url + route, args.repeat)
            print(f"| `/{route}` | {t['first_ms']:,.0f} ms | {t['p50_ms']:,.0f} ms | "
                  f"{t['p95_ms']:,.0f} ms |", flush=True)  # fmt: skip
    finally:
        server.stop()
    with tempfile.TemporaryDirectory() as tmp:
        one = snapshot(folder, Path(tmp) / "a")
        two = snapshot(folder, Path(tmp) / "b")
        files = sum(1 for p in (Path(tmp) / "a").rglob("*") if p.is_file())
        print(f"opdash snapshot: {one[0]:.1f} s and {two[0]:.1f} s (process start included), "
              f"{files} files, identical: {one[1] == two[1]}")  # fmt: skip


if __name__ == "__main__":
    main()
