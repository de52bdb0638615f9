"""The 6-step ordered funnel in plain pandas: the baseline ``bench_funnel.py`` compares opdash with.

    python benchmarks/pandas_funnel.py DIR [--steps A,B,C] [--window-days 14]

Same definition as docs/metrics.md (ordered funnel by ``correlation.workflow_id``): each
workflow's events in order of ``occurred_at``, then step rank at equal times, then ``event_id``;
from every step-1 event, the earliest event of the next step at a later position, step after step,
all within the window of the step-1 event (inclusive); a workflow's level is its best chain; step k
counts the workflows at level ≥ k. Events of no step cannot change an ordered funnel, so they are
filtered out while reading. The folder's event ids are unique (the benchmark data is generated
so), so no dedupe step. Computes what ``opdash funnel`` reports: the counts, and the median and
mean seconds from the previous step on each workflow's chosen chain (its best level, earliest
step-1 event). Prints ``{"counts": [...], "median_seconds": [...], "mean_seconds": [...]}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds

STEPS = "signal.created,candidate.created,trade.plan.created,trade.executed,trade.closed,coach.analysis.generated"


def load(folder: Path, steps: list[str]) -> pd.DataFrame:
    """The funnel's events: entity, rank (first step index of the type), time in µs, event id."""
    dataset = ds.dataset(folder / "events", format="parquet")
    table = dataset.to_table(
        columns={
            "entity": pc.field("correlation", "workflow_id"),
            "event_type": pc.field("event_type"),
            "us": pc.field("occurred_at").cast("int64"),
            "event_id": pc.field("event_id"),
        },
        filter=pc.field("event_type").isin(list(dict.fromkeys(steps)))
        & pc.field("correlation", "workflow_id").is_valid(),
    )
    df = table.to_pandas()
    first_index = {t: i for i, t in reversed(list(enumerate(steps)))}
    df["rank"] = df["event_type"].map(first_index).astype("int8")
    df["entity"] = pd.factorize(df["entity"])[0]
    return df


def funnel_result(df: pd.DataFrame, steps: list[str], window_us: int) -> dict[str, list]:
    """Counts, and median/mean seconds from the previous step on each entity's chosen chain."""
    df = df.sort_values(["entity", "us", "rank", "event_id"], ignore_index=True)
    df["pos"] = np.arange(len(df))  # global position: increasing within each entity
    by_type = {t: g[["entity", "pos", "us"]] for t, g in df.groupby("event_type", sort=False)}
    empty = df[["entity", "pos", "us"]].iloc[:0]

    chains = by_type.get(steps[0], empty).rename(columns={"us": "u1"})
    chains["p1"] = chains["pos"]
    chains = chains.rename(columns={"pos": "prev"})
    stages = [chains.assign(level=1)]
    for k, step in enumerate(steps[1:], start=2):
        right = by_type.get(step, empty).rename(columns={"pos": "nxt", "us": f"u{k}"})
        joined = pd.merge_asof(
            chains.sort_values("prev"),
            right.sort_values("nxt"),
            left_on="prev",
            right_on="nxt",
            by="entity",
            direction="forward",
            allow_exact_matches=False,
        )
        ok = joined["nxt"].notna() & (joined[f"u{k}"] <= joined["u1"] + window_us)
        chains = joined.loc[ok].drop(columns=["prev"]).rename(columns={"nxt": "prev"})
        chains["prev"] = chains["prev"].astype("int64")
        stages.append(chains.assign(level=k))
    # the chosen chain: the best level, then the earliest step-1 event reaching it
    every = pd.concat(stages, ignore_index=True)
    every = every.sort_values(["entity", "level", "p1"], ascending=[True, False, True])
    return summary(every.drop_duplicates("entity"), len(steps))


def summary(chosen: pd.DataFrame, n: int) -> dict[str, list]:
    """The printed JSON from each entity's chosen chain (``level``, ``u1..un``): entities at
    level ≥ k, and the median and mean seconds from step k-1 over those reaching k."""
    counts = [int((chosen["level"] >= k).sum()) for k in range(1, n + 1)]
    medians, means = [None], [None]
    for k in range(2, n + 1):
        reached = chosen["level"] >= k
        gaps = (chosen.loc[reached, f"u{k}"] - chosen.loc[reached, f"u{k - 1}"]) / 1e6
        medians.append(float(gaps.median()) if len(gaps) else None)
        means.append(float(gaps.mean()) if len(gaps) else None)
    return {"counts": counts, "median_seconds": medians, "mean_seconds": means}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="6-step ordered funnel in plain pandas")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--steps", default=STEPS)
    parser.add_argument("--window-days", type=float, default=14)
    args = parser.parse_args(argv)
    steps = args.steps.split(",")
    result = funnel_result(load(args.folder, steps), steps, int(args.window_days * 86_400e6))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
