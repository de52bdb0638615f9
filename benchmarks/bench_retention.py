"""Benchmark: ``opdash retention`` at 10M events against an exact hand-written DuckDB query.

    python benchmarks/bench_retention.py --data /work/bench-data/parquet-10000000 --repeat 3

Weekly first-time cohorts in UTC of workflows (``correlation.workflow_id``) by their first
``signal.created`` from 2026-10-05 to 2026-12-07, returning with ``trade.closed``, 8 periods —
plus the ``recurring`` and ``--cumulative`` variants of opdash. Whole processes, each timed from
spawn to exit (``bench_funnel.run_one``: wall time and peak RSS); the baseline
(``--baseline``) reads the parquet files straight with DuckDB. The first-time answers must be
identical (a loud MISMATCH otherwise).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_funnel import _opdash, _source_state, round_robin, summary_table  # noqa: E402

SINCE, UNTIL, PERIODS = "2026-10-05", "2026-12-07", 8
BASELINE_SQL = """
SET TimeZone = 'UTC';
WITH ev AS (
    SELECT correlation.workflow_id AS ent, occurred_at AS t, event_type
    FROM read_parquet($files)
    WHERE event_type IN ('signal.created', 'trade.closed') AND correlation.workflow_id IS NOT NULL
      AND occurred_at <= (SELECT max(occurred_at) FROM read_parquet($files))
), firsts AS (
    SELECT ent, min(t) AS t FROM ev WHERE event_type = 'signal.created' GROUP BY ent
), cohort AS (
    SELECT ent, date_trunc('week', t) AS c FROM firsts
    WHERE t >= TIMESTAMPTZ '2026-10-05 00:00:00+00' AND t < TIMESTAMPTZ '2026-12-07 00:00:00+00'
), back AS (
    SELECT DISTINCT ent, date_trunc('week', t) AS r FROM ev WHERE event_type = 'trade.closed'
)
SELECT c, 0 AS k, count(*) AS n FROM cohort GROUP BY c
UNION ALL
SELECT c, datediff('week', c, r) AS k, count(*) AS n
FROM cohort JOIN back USING (ent) WHERE r > c AND datediff('week', c, r) < 8 GROUP BY ALL
"""


def baseline(folder: str) -> None:
    import duckdb

    files = sorted(str(p) for p in Path(folder).rglob("*.parquet"))
    con = duckdb.connect()
    statements = [s for s in BASELINE_SQL.split(";") if s.strip()]
    for statement in statements[:-1]:
        con.execute(statement)
    rows = con.execute(statements[-1], {"files": files}).fetchall()
    cells = {f"{c.date().isoformat()}+{k}": n for c, k, n in rows}
    print(json.dumps(cells, sort_keys=True))


def cells_of(opdash_json: str) -> dict[str, int]:
    data = json.loads(opdash_json)
    return {
        f"{cohort['start'][:10]}+{k}": n
        for cohort in data["cohorts"]
        for k, n in enumerate(cohort["values"])
        if n  # the hand SQL has no row for an empty cell or cohort
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="opdash retention vs hand SQL")
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data/parquet-10000000"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline:
        baseline(args.baseline)
        return
    base = [_opdash(), "retention", str(args.data), "--start", "signal.created", "--return",
            "trade.closed", "--by", "correlation.workflow_id", "--interval", "week",
            "--periods", str(PERIODS), "--since", SINCE, "--until", UNTIL, "--json"]  # fmt: skip
    tools = {
        "opdash first-time": base,
        "opdash recurring": [*base, "--mode", "recurring"],
        "opdash cumulative": [*base, "--cumulative"],
        "hand SQL (first-time)": [sys.executable, __file__, "--baseline", str(args.data)],
    }
    print(f"# {_source_state()}; {args.data}")
    runs, answers = round_robin(tools, args.repeat, base)
    same = cells_of(answers["opdash first-time"]) == json.loads(answers["hand SQL (first-time)"])
    print("\n" + summary_table(runs))
    print(f"\nfirst-time cells {'identical' if same else 'MISMATCH'} to the hand SQL")
    if not same:
        sys.exit("MISMATCH")


if __name__ == "__main__":
    main()
