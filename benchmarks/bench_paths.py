"""Benchmark: ``opdash paths`` at 10M events against an exact hand-written DuckDB query.

    python benchmarks/bench_paths.py --data /work/bench-data/parquet-10000000 --repeat 3

The paths of every workflow (``correlation.workflow_id``) from its first ``candidate.created``,
5 nodes, consecutive repeats collapsed, every edge kept (``--top 10000``) — plus opdash's
``--end trade.closed`` paths. Whole processes, each timed from spawn to exit
(``bench_funnel.run_one``: wall time and peak RSS); the baseline (``--baseline``) reads the
parquet files straight with DuckDB: the anchor by ``QUALIFY row_number()``, a change-of-type
flag and its running sum over each workflow's events in order (the fastest exact form found:
a ``list(... ORDER BY ...)`` per workflow collapsed with ``list_filter`` took 32 s, an
``arg_min`` anchor 19 s). The edges must be identical (a loud MISMATCH otherwise).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_funnel import _opdash, _source_state, round_robin, summary_table  # noqa: E402

BASELINE_SQL = """
WITH ev AS (
    SELECT correlation.workflow_id AS ent, event_type AS type, occurred_at AS t,
           (event_type <> 'candidate.created')::INT AS rk, event_id AS eid
    FROM read_parquet($files) WHERE correlation.workflow_id IS NOT NULL
), anchor AS (
    SELECT ent, t AS a_t, eid AS a_id FROM ev WHERE type = 'candidate.created'
    QUALIFY row_number() OVER (PARTITION BY ent ORDER BY t, eid) = 1
), after AS (
    SELECT e.* FROM ev e JOIN anchor a USING (ent)
    WHERE e.t > a.a_t OR (e.t = a.a_t AND (e.rk > 0 OR e.eid >= a.a_id))
), marked AS (
    SELECT ent, type, t, rk, eid,
           (lag(type) OVER (PARTITION BY ent ORDER BY t, rk, eid) IS DISTINCT FROM type)::INT
               AS fresh
    FROM after
), numbered AS (
    SELECT ent, type,
           sum(fresh) OVER (PARTITION BY ent ORDER BY t, rk, eid ROWS UNBOUNDED PRECEDING) AS node
    FROM marked
), nodes AS (SELECT DISTINCT ent, node, type FROM numbered WHERE node <= 5)
SELECT a.node, a.type, b.type, count(*)
FROM nodes a JOIN nodes b ON a.ent = b.ent AND b.node = a.node + 1
GROUP BY ALL
"""


def baseline(folder: str) -> None:
    import duckdb

    files = sorted(str(p) for p in Path(folder).rglob("*.parquet"))
    rows = duckdb.connect().execute(BASELINE_SQL, {"files": files}).fetchall()
    print(json.dumps(sorted(f"{i}:{a}>{b}={c}" for i, a, b, c in rows)))


def edges_of(opdash_json: str) -> list[str]:
    data = json.loads(opdash_json)
    return sorted(f"{e['from_step']}:{e['from']}>{e['to']}={e['count']}" for e in data["edges"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="opdash paths vs hand SQL")
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data/parquet-10000000"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline:
        baseline(args.baseline)
        return
    base = [_opdash(), "paths", str(args.data), "--steps", "5", "--top", "10000", "--json"]
    tools = {
        "opdash --start": [*base, "--start", "candidate.created"],
        "opdash --end": [*base, "--end", "trade.closed"],
        "hand SQL (--start)": [sys.executable, __file__, "--baseline", str(args.data)],
    }
    print(f"# {_source_state()}; {args.data}")
    runs, answers = round_robin(tools, args.repeat, tools["opdash --start"])
    same = edges_of(answers["opdash --start"]) == json.loads(answers["hand SQL (--start)"])
    print("\n" + summary_table(runs))
    print(f"\n--start edges {'identical' if same else 'MISMATCH'} to the hand SQL")
    if not same:
        sys.exit("MISMATCH")


if __name__ == "__main__":
    main()
