"""Benchmark: the 6-step funnel on Spark (a local Spark Connect server) beside DuckDB.

    python benchmarks/bench_spark.py --size 10000000 --data /work/bench-data --threads 2

On ``synthetic.py`` data (``DATA/parquet-N``, generated when missing), two measurements:

- **whole commands**, round-robin, each a fresh process timed from spawn to exit:
  ``opdash funnel DIR --steps <6 steps> --window 14d --json`` with ``--engine duckdb`` and with
  ``--engine spark`` (which starts its local Spark, ``local[THREADS]``, reads the folder and
  asks). Peak memory is the whole process tree's (opdash and its Java child), sampled every
  0.2 s from /proc.
- **phases in one process** (what a server pays once and then per question): starting Spark,
  reading the folder, the first ordered funnel, new questions (``strict``, ``unordered``, a
  breakdown by ``actor.type``, another window), the same question again (its cached answer)
  and a refresh that finds nothing new; the same for DuckDB.

Every engine must give the same counts, medians and means (a loud MISMATCH otherwise). Spark
is expected to be slower on one machine: it earns its keep past one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_funnel import _opdash, _source_state, answer_of  # noqa: E402
from synthetic import STEPS  # noqa: E402

ENGINES = ("duckdb", "spark")
QUESTIONS = {  # name -> funnel options, asked in this order after the first ordered funnel
    "strict": {"order": "strict"},
    "unordered": {"order": "unordered"},
    "breakdown actor.type": {"breakdown": "actor.type"},
    "window 7d": {"window": "7d"},
}


# -- whole commands -------------------------------------------------------------------------------
def tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and every process under it (MB), from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(rss.get(pid, 0) for pid in tree) / 2**20


def run_tree(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, the process tree's peak RSS (MB, sampled) and stdout of one command."""
    peak = [0.0]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, cwd=tempfile.gettempdir(), env={**os.environ, **env}
        )
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], tree_rss_mb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        if code != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{err.read().decode()}")
        return wall, peak[0], out.read().decode()


def whole_commands(folder: Path, repeat: int, threads: int) -> dict:
    funnel = [_opdash(), "funnel", str(folder), "--steps", ",".join(STEPS), "--window", "14d"]
    runs: dict[str, list[tuple[float, float]]] = {e: [] for e in ENGINES}
    answers = {}
    with tempfile.TemporaryDirectory(prefix="opdash-bench-cache-") as cache:
        env = {"OPDASH_CACHE_DIR": cache, "OPDASH_SPARK_THREADS": str(threads)}
        run_tree([*funnel, "--json"], env)  # DuckDB's kept file checks and queries: warm
        for i in range(repeat):
            for engine in ENGINES:
                wall, peak, out = run_tree([*funnel, "--json", "--engine", engine], env)
                runs[engine].append((wall, peak))
                answers[engine] = answer_of("opdash", out)
                print(f"  {i + 1}/{repeat} {engine:<7} {wall:7.2f} s {peak:8.0f} MB", flush=True)
    return {
        engine: {
            "best_s": min(w for w, _ in items),
            "median_s": statistics.median(w for w, _ in items),
            "peak_mb": max(p for _, p in items),
            "answer": answers[engine],
        }
        for engine, items in runs.items()
    }


# -- phases in one process ------------------------------------------------------------------------
def phases(engine: str, folder: str) -> dict:
    """Seconds per phase of one process's life on ``engine`` (run in a child: ``--phases``)."""
    import opdash
    from opdash.catalog import open_catalog

    out: dict = {}
    t0 = time.perf_counter()
    if engine == "spark":
        from opdash.catalog.spark.session import spark

        spark(None)
        out["start Spark"] = time.perf_counter() - t0
    t = time.perf_counter()
    catalog = open_catalog(folder, engine=engine)
    out["read the folder"] = time.perf_counter() - t
    t = time.perf_counter()
    first = opdash.funnel(catalog, list(STEPS), window="14d")
    out["first funnel (ordered)"] = time.perf_counter() - t
    for name, options in QUESTIONS.items():
        t = time.perf_counter()
        opdash.funnel(catalog, list(STEPS), **{"window": "14d", **options})
        out[f"new question: {name}"] = time.perf_counter() - t
    t = time.perf_counter()
    opdash.funnel(catalog, list(STEPS), window="14d")
    out["the first question again"] = time.perf_counter() - t
    t = time.perf_counter()
    catalog.refresh()
    out["refresh, nothing new"] = time.perf_counter() - t
    out["total"] = time.perf_counter() - t0
    out["answer"] = answer_of("opdash", json.dumps(first.to_dict(), default=str))
    return out


def phases_in_child(engine: str, folder: Path, threads: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--phases", engine, str(folder)],
        capture_output=True,
        text=True,
        env={**os.environ, "OPDASH_SPARK_THREADS": str(threads)},
        cwd=tempfile.gettempdir(),
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"phases on {engine} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- report ----------------------------------------------------------------------------------------
def report(n: int, threads: int, whole: dict, steps: dict[str, dict]) -> str:
    lines = [
        f"Whole `opdash funnel` processes, {n:,} events (Spark: `local[{threads}]`):",
        "",
        "| engine | best | median | peak RSS (process tree) | median / DuckDB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    base = whole["duckdb"]["median_s"]
    for engine, m in whole.items():
        lines.append(
            f"| {engine} | {m['best_s']:.2f} s | {m['median_s']:.2f} s | {m['peak_mb']:,.0f} MB "
            f"| {m['median_s'] / base:.2f}× |"
        )
    lines += ["", "Phases in one process (seconds):", ""]
    names = [k for k in steps["spark"] if k != "answer"]
    lines += ["| phase | duckdb | spark |", "| --- | ---: | ---: |"]
    for name in names:
        cells = [f"{steps[e][name]:.2f}" if name in steps[e] else "–" for e in ENGINES]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    answers = [whole[e]["answer"] for e in ENGINES] + [steps[e]["answer"] for e in ENGINES]
    same = all(a == answers[0] for a in answers)
    counts = [step[0] for step in answers[0]]
    lines += ["", f"Answers {'identical' if same else 'MISMATCH'} on both engines: {counts}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the 6-step funnel on Spark beside DuckDB")
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="the local Spark's local[N]")
    parser.add_argument("--phases", nargs=2, metavar=("ENGINE", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    if args.phases:
        print(json.dumps(phases(*args.phases)), flush=True)
        os._exit(0)  # the Spark Connect client's threads would keep the process alive
    folder = args.data / f"parquet-{args.size}"
    subprocess.run([sys.executable, str(HERE / "synthetic.py"), str(args.size), str(folder)])
    print(f"# opdash: {_opdash()} ({_source_state()}); {args.size:,} events in {folder}")
    steps = {}
    for engine in ENGINES:
        steps[engine] = phases_in_child(engine, folder, args.threads)
        print(f"  phases {engine}: {json.dumps(steps[engine])}", flush=True)
    whole = whole_commands(folder, args.repeat, args.threads)
    load = os.getloadavg()
    print(f"  load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    text = report(args.size, args.threads, whole, steps)
    print()
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"whole": whole, "phases": steps}, indent=2))
    if "MISMATCH" in text:
        sys.exit("MISMATCH: the engines disagree (see above)")


if __name__ == "__main__":
    main()
