"""The ordered funnel as exact pandas over the same attempts as ``join_sql_funnel.py``.

    python benchmarks/join_pandas_funnel.py DIR [--steps A,B,C] [--window-days 14]

Every step-1 event starts an attempt; step k of an attempt is the earliest event of that type of
the same entity at or after its step k-1 and within the window of its step 1: a merge on the
entity, a filter, the minimum per attempt (only attempts still alive go on). An entity's level is
its best attempt's; its chosen chain the earliest attempt reaching it. Reads the four columns it
needs with pyarrow (``pandas_funnel.load``). The steps must be distinct. Prints the same JSON as
``join_sql_funnel.py``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from pandas_funnel import STEPS, load, summary


def funnel_result(df: pd.DataFrame, steps: list[str], window_us: int) -> dict[str, list]:
    if len(set(steps)) != len(steps):
        raise SystemExit("join_pandas_funnel.py needs distinct steps")
    by_type = {t: g[["entity", "us"]] for t, g in df.groupby("event_type", sort=False)}
    empty = df[["entity", "us"]].iloc[:0]
    attempts = by_type.get(steps[0], empty).rename(columns={"us": "u1"}).reset_index(drop=True)
    attempts["a"] = np.arange(len(attempts))
    live = attempts.assign(u=attempts["u1"])
    n = len(steps)
    for k, step in enumerate(steps[1:], start=2):
        cand = by_type.get(step, empty).rename(columns={"us": "x"})
        joined = live.merge(cand, on="entity")
        joined = joined[(joined["x"] >= joined["u"]) & (joined["x"] <= joined["u1"] + window_us)]
        found = joined.groupby("a", sort=False)["x"].min().rename(f"u{k}")
        attempts = attempts.join(found, on="a")
        live = live.join(found, on="a", how="inner").assign(u=lambda t, k=k: t[f"u{k}"])
        live = live[["a", "entity", "u1", "u"]]
    level = 1 + sum(attempts[f"u{k}"].notna().astype(int) for k in range(2, n + 1))
    attempts["level"] = level
    chosen = attempts.sort_values(["entity", "level", "u1"], ascending=[True, False, True])
    chosen = chosen.drop_duplicates("entity")
    return summary(chosen, n)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--steps", default=STEPS)
    parser.add_argument("--window-days", type=float, default=14)
    args = parser.parse_args(argv)
    steps = args.steps.split(",")
    result = funnel_result(load(args.folder, steps), steps, int(args.window_days * 86_400e6))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
