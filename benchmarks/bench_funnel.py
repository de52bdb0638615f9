"""Benchmark: ``opdash funnel`` vs plain pandas vs hand-written DuckDB SQL, as whole processes.

    python benchmarks/bench_funnel.py --sizes 1000000 10000000 --data /work/bench-data --repeat 3

For each size, generates ``DATA/parquet-N`` (synthetic.py; reused when already complete), then
runs, round-robin ``--repeat`` times (so the three see the same machine state):

- ``opdash funnel DIR --steps <6 steps> --window 14d --json`` (the installed CLI),
- ``python benchmarks/pandas_funnel.py DIR``,
- ``python benchmarks/sql_funnel.py DIR``,

each a fresh process (imports, reading the parquet and the funnel all included). It reports the
best and median wall time and the peak RSS of each process (``ru_maxrss`` from ``os.wait4`` on
that child), checks that the three give the same step counts (a loud MISMATCH line otherwise),
and prints a markdown table, the ratios opdash/pandas and opdash/sql and whether the targets are
met: at the largest size, ≥ 3× faster than pandas, within 1.3× of the hand SQL, peak < 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synthetic import STEPS, write_folder  # noqa: E402

TARGET_VS_PANDAS = 3.0  # opdash at least this many times faster than pandas
TARGET_VS_SQL = 1.3  # opdash at most this many times the hand SQL's time
TARGET_PEAK_MB = 2048


def _opdash() -> str:
    exe = Path(sys.executable).with_name("opdash")
    return str(exe) if exe.exists() else shutil.which("opdash") or "opdash"


def commands(folder: Path, opdash: list[str]) -> dict[str, list[str]]:
    steps = ",".join(STEPS)
    return {
        "opdash": [*opdash, "funnel", str(folder), "--steps", steps, "--window", "14d", "--json"],
        "pandas": [sys.executable, str(HERE / "pandas_funnel.py"), str(folder), "--steps", steps],
        "sql": [sys.executable, str(HERE / "sql_funnel.py"), str(folder), "--steps", steps],
        # the same SQL under opdash's DuckDB memory cap: the like-for-like comparison
        "sql-1GB": [
            sys.executable,
            str(HERE / "sql_funnel.py"),
            str(folder),
            "--steps",
            steps,
            "--memory-limit",
            "1GB",
        ],
    }


def _source_state() -> str:
    """The commit of the repository this harness lives in, and whether opdash/ has local edits."""
    try:
        head = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "opdash"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"repo at {head}" + (", opdash/ has uncommitted changes" if dirty else "")


def run_one(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one process run to completion.

    The child is reaped with ``os.wait4`` so ``ru_maxrss`` is that child's own peak (not the
    maximum over every child this harness ran, as ``RUSAGE_CHILDREN`` would give).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        # cwd outside the repo, so ``python -m opdash.cli`` imports the opdash on PYTHONPATH
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=tempfile.gettempdir())
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.read().decode()}")
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def counts_of(name: str, out: str) -> list[int]:
    # from the first "{": DuckDB's progress bar may precede the JSON when stdout is not a TTY
    """Per step: the count and the median and mean seconds from the previous step (3 decimals)."""
    data = json.loads(out[out.index("{") :])
    if name == "opdash":
        steps = data["steps"]
        counts = [s["count"] for s in steps]
        medians = [s["median_seconds_from_previous"] for s in steps]
        means = [s["mean_seconds_from_previous"] for s in steps]
    else:
        counts, medians, means = data["counts"], data["median_seconds"], data["mean_seconds"]
    return [
        [c, None if m is None else round(m, 3), None if a is None else round(a, 3)]
        for c, m, a in zip(counts, medians, means, strict=True)
    ]


def bench_size(n: int, data: Path, repeat: int, opdash: list[str]) -> dict:
    t0 = time.perf_counter()
    folder = write_folder(data / f"parquet-{n}", n)
    print(f"# {n:,} events: {folder} (ready in {time.perf_counter() - t0:.1f} s)", flush=True)
    cmds = commands(folder, opdash)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    counts: dict[str, list[int]] = {}
    for i in range(repeat):
        for name, cmd in cmds.items():
            wall, peak, out = run_one(cmd)
            runs[name].append((wall, peak))
            counts[name] = counts_of(name, out)
            print(f"  run {i + 1}/{repeat} {name:<8} {wall:7.2f} s {peak:8.0f} MB", flush=True)
    load = os.getloadavg()
    print(f"  load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    reference = counts["sql"]
    for name, got in counts.items():
        if got != reference:
            print(f"!!! MISMATCH at {n:,}: {name} {got} != sql {reference}", flush=True)
    result = {"events": n, "counts": counts, "match": all(c == reference for c in counts.values())}
    for name, items in runs.items():
        walls = [w for w, _ in items]
        result[name] = {
            "best_s": min(walls),
            "median_s": statistics.median(walls),
            "peak_mb": max(p for _, p in items),
        }
    return result


def report(results: list[dict]) -> str:
    lines = [
        "| events | tool | best | median | peak RSS | best time / opdash best |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        for name in ("opdash", "pandas", "sql"):
            m = r[name]
            ratio = m["best_s"] / r["opdash"]["best_s"]
            lines.append(
                f"| {r['events']:,} | {name} | {m['best_s']:.2f} s | {m['median_s']:.2f} s "
                f"| {m['peak_mb']:,.0f} MB | {ratio:.2f}× |"
            )
    lines.append("")
    for r in results:
        op, pd_, sq = r["opdash"], r["pandas"], r["sql"]
        speedup = pd_["best_s"] / op["best_s"]
        vs_sql = op["best_s"] / sq["best_s"]
        lines.append(
            f"- {r['events']:,}: opdash/pandas = {op['best_s'] / pd_['best_s']:.2f} "
            f"(opdash {speedup:.2f}× faster than pandas; target ≥ {TARGET_VS_PANDAS}×: "
            f"{'met' if speedup >= TARGET_VS_PANDAS else 'NOT met'}), "
            f"opdash/sql = {vs_sql:.2f} (target ≤ {TARGET_VS_SQL}: "
            f"{'met' if vs_sql <= TARGET_VS_SQL else 'NOT met'}), "
            f"opdash peak {op['peak_mb']:,.0f} MB (target < {TARGET_PEAK_MB:,} MB: "
            f"{'met' if op['peak_mb'] < TARGET_PEAK_MB else 'NOT met'}), "
            f"counts {'identical' if r['match'] else 'MISMATCH'}: {r['counts']['sql']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="opdash funnel vs pandas vs hand SQL")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--opdash",
        default=None,
        help="the opdash command to time (default: the installed CLI next to this python), e.g. "
        "'env PYTHONPATH=/tmp/opdash-HEAD /work/venv/bin/python -m opdash.cli'",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    opdash = shlex.split(args.opdash) if args.opdash else [_opdash()]
    print(f"# opdash: {' '.join(opdash)} ({_source_state()})")
    results = [bench_size(n, args.data, args.repeat, opdash) for n in args.sizes]
    print()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if not all(r["match"] for r in results):
        sys.exit("MISMATCH: the three implementations disagree (see above)")


if __name__ == "__main__":
    main()
