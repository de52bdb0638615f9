"""The 6-step ordered funnel as hand-written DuckDB SQL over the parquet files, in place.

    python benchmarks/sql_funnel.py DIR [--steps A,B,C] [--window-days 14]

Same definition as docs/metrics.md (see pandas_funnel.py): number each workflow's step events
in funnel order with ``row_number()``, then extend every step-1 event with an ASOF JOIN to the
first event of the next step at a later position, keeping the chains still inside the window.
Step k counts the workflows at level ≥ k; like ``opdash funnel`` it also reports the median and
mean seconds from the previous step on each workflow's chosen chain (best level, earliest step-1
event). Prints ``{"counts": [...], "median_seconds": [...], "mean_seconds": [...]}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb

STEPS = "signal.created,candidate.created,trade.plan.created,trade.executed,trade.closed,coach.analysis.generated"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def funnel_sql(glob: str, steps: list[str], window_us: int) -> str:
    """Counts and median/mean seconds per step on each workflow's chosen chain, in one query."""
    n = len(steps)
    first_index = {t: i for i, t in reversed(list(enumerate(steps)))}
    rank = " ".join(f"WHEN {_quote(t)} THEN {i}" for t, i in first_index.items())
    types = ", ".join(_quote(t) for t in first_index)
    ctes = [
        f"""seq AS (
    SELECT correlation.workflow_id AS e, event_type AS t, epoch_us(occurred_at) AS us,
           row_number() OVER w AS pos,
           count(*) FILTER (WHERE event_type = {_quote(steps[0])}) OVER (PARTITION BY correlation.workflow_id) AS n1
    FROM read_parquet({_quote(glob)})
    WHERE event_type IN ({types}) AND correlation.workflow_id IS NOT NULL
    WINDOW w AS (PARTITION BY correlation.workflow_id ORDER BY occurred_at, CASE event_type {rank} END, event_id)
)""",
        f"s1 AS (SELECT e, n1 > 1 AS multi, pos AS p1, us AS u1 FROM seq WHERE t = {_quote(steps[0])})",
    ]
    for k, step in enumerate(steps[1:], start=2):
        carried = ", ".join(f"c.p{j}, c.u{j}" for j in range(1, k))
        ok = f"n.us <= c.u1 + {window_us}"
        ctes.append(
            f"""s{k} AS (
    SELECT c.e, c.multi, {carried}, CASE WHEN {ok} THEN n.pos END AS p{k}, CASE WHEN {ok} THEN n.us END AS u{k}
    FROM s{k - 1} c ASOF LEFT JOIN (SELECT e, pos, us FROM seq WHERE t = {_quote(step)}) n
      ON c.e = n.e AND c.p{k - 1} < n.pos
)"""
        )
    level = " + ".join(f"(p{k} IS NOT NULL)::INT" for k in range(2, n + 1)) or "0"
    ctes.append(f"lv AS (SELECT *, 1 + {level} AS level FROM s{n})")
    us = ", ".join(f"u{j}" for j in range(1, n + 1))
    best = ", ".join(f"arg_max(u{j}, level * 1099511627776 - p1) AS u{j}" for j in range(1, n + 1))
    ctes.append(
        f"""chosen AS (
    SELECT e, level, {us} FROM lv WHERE NOT multi
    UNION ALL SELECT e, max(level), {best} FROM lv WHERE multi GROUP BY e
)"""
    )
    counts = ", ".join(f"count(*) FILTER (WHERE level >= {k})" for k in range(1, n + 1))
    medians = ", ".join(f"median((u{k} - u{k - 1}) / 1e6)" for k in range(2, n + 1))
    means = ", ".join(f"avg((u{k} - u{k - 1}) / 1e6)" for k in range(2, n + 1))
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"\nSELECT [{counts}], [NULL, {medians}], [NULL, {means}] FROM chosen"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="6-step ordered funnel in hand-written DuckDB SQL")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--steps", default=STEPS)
    parser.add_argument("--window-days", type=float, default=14)
    parser.add_argument("--print-sql", action="store_true")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 1GB")
    args = parser.parse_args(argv)
    steps = args.steps.split(",")
    sql = funnel_sql(
        str(args.folder / "events" / "**" / "*.parquet"), steps, int(args.window_days * 86_400e6)
    )
    if args.print_sql:
        print(sql)
        return
    config = {"autoinstall_known_extensions": False}
    if args.memory_limit:
        config["memory_limit"] = args.memory_limit
    con = duckdb.connect(config=config)
    counts, medians, means = con.execute(sql).fetchall()[0]
    print(json.dumps({"counts": counts, "median_seconds": medians, "mean_seconds": means}))


if __name__ == "__main__":
    main()
