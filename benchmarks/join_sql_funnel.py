"""The ordered funnel as the exact hand-written DuckDB SQL of issue 16: chained equi-joins.

    python benchmarks/join_sql_funnel.py DIR [--steps A,B,C] [--window-days 14] [--by PATH]

Every step-1 event starts an attempt (numbered with ``row_number() OVER ()``); step k of an
attempt is the earliest event of that type of the same entity at or after its step k-1 and
within the window of its step 1 — an equi-join on the entity, ``us >= previous AND us <= start
+ window``, grouped by the attempt (only attempts still alive take part in the next join). An
entity's level is its best attempt's; its chosen chain the earliest attempt reaching it, whose
times give the median and mean seconds between steps, as ``opdash funnel --json`` reports them.
The steps must be distinct (then "at or after" is the funnel order at equal instants).

Prints ``{"counts": [...], "median_seconds": [...], "mean_seconds": [...]}`` like
``sql_funnel.py``; ``--print-sql`` shows the query.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb

STEPS = "signal.created,candidate.created,trade.plan.created,trade.executed,trade.closed,coach.analysis.generated"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def funnel_sql(glob: str, steps: list[str], window_us: int, by: str) -> str:
    if len(set(steps)) != len(steps):
        raise SystemExit("join_sql_funnel.py needs distinct steps")
    n = len(steps)
    types = ", ".join(_quote(t) for t in steps)
    ctes = [
        f"""ev AS MATERIALIZED (
    SELECT {by} AS e, event_type AS t, epoch_us(occurred_at) AS us
    FROM read_parquet({_quote(glob)}) WHERE event_type IN ({types}) AND {by} IS NOT NULL
)""",
        f"""a1 AS MATERIALIZED (
    SELECT row_number() OVER () AS a, e, us AS u1, us AS u FROM ev WHERE t = {_quote(steps[0])}
)""",
    ]
    for k in range(2, n + 1):
        ctes.append(
            f"""a{k} AS MATERIALIZED (
    SELECT c.a, any_value(c.e) AS e, any_value(c.u1) AS u1, min(x.us) AS u
    FROM a{k - 1} c JOIN (SELECT e, us FROM ev WHERE t = {_quote(steps[k - 1])}) x
      ON c.e = x.e AND x.us >= c.u AND x.us <= c.u1 + {window_us}
    GROUP BY c.a
)"""
        )
    joins = " ".join(f"LEFT JOIN a{k} ON a{k}.a = a1.a" for k in range(2, n + 1))
    times = ", ".join(["a1.u1"] + [f"a{k}.u AS u{k}" for k in range(2, n + 1)])
    level = " + ".join(f"(u{k} IS NOT NULL)::INT" for k in range(2, n + 1)) or "0"
    ctes.append(
        f"attempts AS MATERIALIZED (SELECT a1.e, a1.a, {times}, 1 + {level} AS level FROM a1 {joins})"
    )
    ctes.append("multi AS MATERIALIZED (SELECT e FROM attempts GROUP BY e HAVING count(*) > 1)")
    us = ", ".join(f"u{j}" for j in range(1, n + 1))
    # the earliest attempt reaching the entity's best level: numbered in time order per entity
    ctes.append(
        f"""best AS (
    SELECT e, level, {us}, row_number() OVER (PARTITION BY e ORDER BY level DESC, u1) AS nth
    FROM attempts WHERE e IN (SELECT e FROM multi)
)"""
    )
    ctes.append(
        f"""chosen AS (
    SELECT e, level, {us} FROM attempts
    WHERE e NOT IN (SELECT e FROM multi)
    UNION ALL SELECT e, level, {us} FROM best WHERE nth = 1
)"""
    )
    counts = ", ".join(f"count(*) FILTER (WHERE level >= {k})" for k in range(1, n + 1))
    medians = ", ".join(f"median((u{k} - u{k - 1}) / 1e6)" for k in range(2, n + 1))
    means = ", ".join(
        f"(sum((u{k} - u{k - 1})::DECIMAL(38, 0)) / count(u{k}) / 1e6)::DOUBLE"
        for k in range(2, n + 1)
    )
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"\nSELECT [{counts}], [NULL, {medians}], [NULL, {means}] FROM chosen"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--steps", default=STEPS)
    parser.add_argument("--window-days", type=float, default=14)
    parser.add_argument("--by", default="correlation.workflow_id")
    parser.add_argument("--print-sql", action="store_true")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 1GB")
    args = parser.parse_args(argv)
    sql = funnel_sql(
        str(args.folder / "events" / "**" / "*.parquet"),
        args.steps.split(","),
        int(args.window_days * 86_400e6),
        args.by,
    )
    if args.print_sql:
        print(sql)
        return
    config = {"autoinstall_known_extensions": False}
    if args.memory_limit:
        config["memory_limit"] = args.memory_limit
    counts, medians, means = duckdb.connect(config=config).execute(sql).fetchall()[0]
    print(json.dumps({"counts": counts, "median_seconds": medians, "mean_seconds": means}))


if __name__ == "__main__":
    main()
