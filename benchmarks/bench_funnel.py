"""Benchmark: ``opdash funnel`` against exact hand-written SQL and pandas, as whole processes.

    python benchmarks/bench_funnel.py --sizes 10000000 30000000 --data /work/bench-data --repeat 3

For each size, generates ``DATA/parquet-N`` (synthetic.py; reused when already complete), then
runs every command once more than ``--repeat`` times, round-robin (so all see the same machine
state), each a fresh process timed from spawn to exit (imports, reading the parquet, the funnel):

- ``opdash``: ``opdash funnel DIR --steps <6 steps> --window 14d --json`` (ordered), and the
  same with ``--order strict``, ``--order unordered`` and ``--breakdown actor.type``;
- ``join-sql``: ``join_sql_funnel.py`` — the exact hand-written DuckDB SQL of issue 16 (chained
  equi-joins, the earliest next step per attempt, best level per workflow): the baseline;
- ``join-pandas``: ``join_pandas_funnel.py`` — the same attempts in exact pandas;
- the earlier baselines as extra rows: ``asof-sql`` (``sql_funnel.py``: row numbers and ASOF
  joins) and ``asof-pandas`` (``pandas_funnel.py``: ``merge_asof``).

opdash keeps what it learns about files and queries between processes (its cache folder): the
first round runs it with an empty cache folder (``cold``: checking every parquet row and id,
compiling the queries), every later round with the kept one (``warm``: what a second command on
an unchanged folder costs). Reported per size: best and median wall time of the warm rounds, the
cold time, peak RSS (``ru_maxrss`` of that child, via ``os.wait4``), the ratios the issue sets
targets for, and whether the ordered tools gave identical counts, medians and means (rounded to
1 ms; a loud MISMATCH otherwise).

Targets (issue 16): at 10M, opdash's ordered funnel ≤ 1.3× join-sql and ≥ 3× faster than
join-pandas; strict, unordered and a breakdown each ≤ 2× the ordered funnel; at 30M, ≤ 1.5×
join-sql.
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

from synthetic import STEPS  # noqa: E402

ORDERED = ("opdash", "join-sql", "join-pandas", "asof-sql", "asof-pandas")
VARIANTS = {"strict": ["--order", "strict"], "unordered": ["--order", "unordered"]}
VARIANTS["breakdown"] = ["--breakdown", "actor.type"]
#: the targets: (what, compared with, at most this ratio, from this size on)
TARGETS_VS_SQL = {10_000_000: 1.3, 30_000_000: 1.5}
TARGET_VS_PANDAS = 3.0
TARGET_VS_ORDERED = 2.0


def _opdash() -> str:
    exe = Path(sys.executable).with_name("opdash")
    return str(exe) if exe.exists() else shutil.which("opdash") or "opdash"


def commands(folder: Path, opdash: list[str], *, pandas: bool) -> dict[str, list[str]]:
    steps = ",".join(STEPS)
    funnel = [*opdash, "funnel", str(folder), "--steps", steps, "--window", "14d", "--json"]
    script = lambda name: [sys.executable, str(HERE / name), str(folder), "--steps", steps]  # noqa: E731
    out = {"opdash": funnel}
    out |= {f"opdash {name}": [*funnel, *extra] for name, extra in VARIANTS.items()}
    out |= {"join-sql": script("join_sql_funnel.py"), "asof-sql": script("sql_funnel.py")}
    if pandas:
        out |= {
            "join-pandas": script("join_pandas_funnel.py"),
            "asof-pandas": script("pandas_funnel.py"),
        }
    return out


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


def run_one(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one process run to completion.

    The child is reaped with ``os.wait4`` so ``ru_maxrss`` is that child's own peak (not the
    maximum over every child this harness ran, as ``RUSAGE_CHILDREN`` would give).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        # cwd outside the repo, so ``python -m opdash.cli`` imports the opdash on PYTHONPATH
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, cwd=tempfile.gettempdir(), env={**os.environ, **env}
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.read().decode()}")
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def round_robin(tools: dict[str, list[str]], repeat: int, warm: list[str]) -> tuple[dict, dict]:
    """Each tool ``repeat`` times in turn, after one ``warm`` run, in one kept cache folder:
    ({name: [(wall s, peak MB)]}, {name: its last stdout}), each run printed as it ends."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in tools}
    answers: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="opdash-bench-cache-") as cache:
        env = {"OPDASH_CACHE_DIR": cache}
        run_one(warm, env)  # the kept file checks and compiled queries: a second command
        for i in range(repeat):
            for name, cmd in tools.items():
                wall, peak, out = run_one(cmd, env)
                runs[name].append((wall, peak))
                answers[name] = out
                print(f"  {i + 1}/{repeat} {name:<22} {wall:6.2f} s {peak:7.0f} MB", flush=True)
    return runs, answers


def summary_table(runs: dict[str, list[tuple[float, float]]]) -> str:
    """The Markdown table of :func:`round_robin`'s runs: best, median, peak RSS per tool."""
    lines = ["| tool | best | median | peak RSS |", "| --- | ---: | ---: | ---: |"]
    for name, items in runs.items():
        walls = [w for w, _ in items]
        lines.append(
            f"| {name} | {min(walls):.2f} s | {statistics.median(walls):.2f} s "
            f"| {max(p for _, p in items):,.0f} MB |"
        )
    return "\n".join(lines)


def answer_of(name: str, out: str) -> list:
    """Per step: the count and the median and mean seconds from the previous step (3 decimals)."""
    # from the first "{": DuckDB's progress bar may precede the JSON when stdout is not a TTY
    data = json.loads(out[out.index("{") :])
    if name.startswith("opdash"):
        steps = data["steps"]
        counts = [s["count"] for s in steps]
        medians = [s.get("median_seconds_from_previous") for s in steps]
        means = [s.get("mean_seconds_from_previous") for s in steps]
    else:
        counts, medians, means = data["counts"], data["median_seconds"], data["mean_seconds"]
    return [
        [c, None if m is None else round(m, 3), None if a is None else round(a, 3)]
        for c, m, a in zip(counts, medians, means, strict=True)
    ]


def bench_size(n: int, data: Path, repeat: int, opdash: list[str], pandas: bool) -> dict:
    t0 = time.perf_counter()
    # generated in a child: a child's peak RSS (ru_maxrss) starts from this process's size at
    # the fork, so the harness must stay small (generating 30M rows here took 7 GB)
    folder = data / f"parquet-{n}"
    subprocess.run([sys.executable, str(HERE / "synthetic.py"), str(n), str(folder)], check=True)
    print(f"# {n:,} events: {folder} (ready in {time.perf_counter() - t0:.1f} s)", flush=True)
    cmds = commands(folder, opdash, pandas=pandas)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    cold: dict[str, tuple[float, float]] = {}
    answers: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="opdash-bench-cache-") as cache:
        for i in range(repeat + 1):
            for name, cmd in cmds.items():
                env = {"OPDASH_CACHE_DIR": cache}
                if i == 0 and name.startswith("opdash"):
                    # a cold start for each: nothing kept from an earlier process
                    env["OPDASH_CACHE_DIR"] = tempfile.mkdtemp(prefix="opdash-cold-")
                wall, peak, out = run_one(cmd, env)
                if i == 0 and name.startswith("opdash"):
                    shutil.rmtree(env["OPDASH_CACHE_DIR"], ignore_errors=True)
                    cold[name] = (wall, peak)
                    run_one(cmd, {"OPDASH_CACHE_DIR": cache})  # the warm rounds' cache
                else:
                    runs[name].append((wall, peak))
                answers[name] = answer_of(name, out)
                round_name = "cold" if i == 0 and name.startswith("opdash") else f"{i}/{repeat}"
                print(f"  {round_name:>5} {name:<17} {wall:7.2f} s {peak:8.0f} MB", flush=True)
    load = os.getloadavg()
    print(f"  load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    reference = answers["join-sql"]
    ordered = [name for name in ORDERED if name in answers]
    for name in ordered:
        if answers[name] != reference:
            print(f"!!! MISMATCH at {n:,}: {name} {answers[name]} != join-sql {reference}")
    result = {
        "events": n,
        "answers": answers,
        "match": all(answers[name] == reference for name in ordered),
        "load": load,
    }
    for name, items in runs.items():
        walls = [w for w, _ in items]
        result[name] = {
            "best_s": min(walls),
            "median_s": statistics.median(walls),
            "peak_mb": max(p for _, p in items),
        }
        if name in cold:
            result[name] |= {"cold_s": cold[name][0], "cold_peak_mb": cold[name][1]}
    return result


def report(results: list[dict]) -> str:
    lines = [
        "| events | tool | best | median | first run (empty cache) | peak RSS | median / opdash |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        base = r["opdash"]["median_s"]
        for name in [k for k in r if isinstance(r[k], dict) and "best_s" in r[k]]:
            m = r[name]
            cold = f"{m['cold_s']:.2f} s" if "cold_s" in m else "–"
            peak = max(m["peak_mb"], m.get("cold_peak_mb", 0))
            lines.append(
                f"| {r['events']:,} | {name} | {m['best_s']:.2f} s | {m['median_s']:.2f} s "
                f"| {cold} | {peak:,.0f} MB | {m['median_s'] / base:.2f}× |"
            )
    lines.append("")
    for r in results:
        lines.extend(_verdicts(r))
    return "\n".join(lines)


def _verdicts(r: dict) -> list[str]:
    op = r["opdash"]["median_s"]
    out = []
    target = max((t for size, t in TARGETS_VS_SQL.items() if r["events"] >= size), default=None)
    vs_sql = op / r["join-sql"]["median_s"]
    out.append(
        f"- {r['events']:,}: opdash ordered / join-sql = {vs_sql:.2f}"
        + (f" (target ≤ {target}: {'met' if vs_sql <= target else 'NOT met'})" if target else "")
    )
    if "join-pandas" in r:
        speedup = r["join-pandas"]["median_s"] / op
        out.append(
            f"- {r['events']:,}: opdash is {speedup:.2f}× faster than join-pandas (target ≥ "
            f"{TARGET_VS_PANDAS}×: {'met' if speedup >= TARGET_VS_PANDAS else 'NOT met'})"
        )
    for name in VARIANTS:
        ratio = r[f"opdash {name}"]["median_s"] / op
        out.append(
            f"- {r['events']:,}: opdash {name} / ordered = {ratio:.2f} (target ≤ "
            f"{TARGET_VS_ORDERED}: {'met' if ratio <= TARGET_VS_ORDERED else 'NOT met'})"
        )
    counts = [a[0] for a in r["answers"]["join-sql"]]
    out.append(
        f"- {r['events']:,}: ordered answers {'identical' if r['match'] else 'MISMATCH'} "
        f"(counts, medians, means), counts {counts}"
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="opdash funnel vs hand SQL vs pandas")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-pandas-above", type=int, default=None, help="skip the pandas tools above this size"
    )
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
    results = []
    for n in args.sizes:
        pandas = args.no_pandas_above is None or n <= args.no_pandas_above
        results.append(bench_size(n, args.data, args.repeat, opdash, pandas))
    print()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if not all(r["match"] for r in results):
        sys.exit("MISMATCH: the ordered implementations disagree (see above)")


if __name__ == "__main__":
    main()
