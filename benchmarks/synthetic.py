"""Synthetic envelope events for the benchmarks: vectorised (numpy + pyarrow), no per-row Python.

    python benchmarks/synthetic.py 10000000 /work/bench-data/parquet-10000000

writes ``DIR/events/part-000.parquet``, ``part-001.parquet``, … (about one file per million rows,
row groups of 128k rows) with the envelope columns the catalog reads from parquet:

- ``event_id`` (string, unique), ``event_type`` (string), ``occurred_at`` (timestamp[us, UTC]),
- ``actor`` struct{type, id}, ``correlation`` struct{workflow_id, parent_event_id},
- ``payload`` struct{score double}.

Shape of the data (``n`` events, ``n // 4`` workflows):

- every workflow has one attempt at the 6-step loop (:data:`STEPS`), 12 % have a second attempt
  1–20 days later; an attempt reaches each next step with probability 0.7 (drop-off);
- gaps between steps are mostly seconds to hours, 6 % are 2–10 days (so a chain can run past the
  14-day window), 2 % are zero (ties broken by step rank) and 3 % are negative (a step logged
  *before* the previous one, which an ordered funnel must not count as a progression);
- the remaining events are noise: ``trade.updated``, ``journal.updated``, ``alert.raised`` and
  stray repeats of step types, within 20 days of the workflow's start; 1 % of them have no
  workflow (null ``correlation.workflow_id``), which a funnel by workflow ignores;
- rows are written in time order (as an exporter would), event ids are a random permutation, so
  ties at equal timestamps and equal rank fall back on an id order unrelated to the file order.

The same ``(n, seed)`` always gives the same files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

STEPS = (
    "signal.created",
    "candidate.created",
    "trade.plan.created",
    "trade.executed",
    "trade.closed",
    "coach.analysis.generated",
)
NOISE = ("trade.updated", "journal.updated", "alert.raised")
ACTOR_TYPES = ("ai_agent", "human", "system")
START_US = 1_790_812_800_000_000  # 2026-10-01T00:00:00Z
DAY_MS = 86_400_000
ROWS_PER_FILE = 1_000_000
ROW_GROUP = 131_072


def _dictionary(codes: np.ndarray, values: tuple[str, ...]) -> pa.Array:
    """Plain strings from small integer codes (through a dictionary, then decoded)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(values)).cast(
        pa.string()
    )


def _ids(prefix: str, numbers: np.ndarray, width: int, null_mask: np.ndarray | None = None):
    """``prefix`` + zero-padded decimal numbers, as a pyarrow string array (vectorised)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), width, "0")
    out = pc.binary_join_element_wise(pa.scalar(prefix), digits, "")
    if null_mask is not None:
        out = pc.if_else(pa.array(null_mask), pa.scalar(None, pa.string()), out)
    return out


def synthetic_events(n: int, seed: int = 1) -> pa.Table:
    """``n`` envelope events over ``n // 4`` workflows, sorted by ``occurred_at``."""
    rng = np.random.default_rng(seed)
    workflows = max(1, n // 4)

    # -- attempts at the loop: one per workflow, a second one for 12 % of them ------------------
    wf_start_ms = rng.integers(0, 60 * DAY_MS, workflows)
    second = np.flatnonzero(rng.random(workflows) < 0.12)
    att_wf = np.concatenate([np.arange(workflows), second])
    att_start = np.concatenate(
        [wf_start_ms, wf_start_ms[second] + rng.integers(DAY_MS, 20 * DAY_MS, second.size)]
    )
    depth = np.minimum(rng.geometric(0.3, att_wf.size), len(STEPS))

    # -- loop events: attempt a reaches steps 0..depth[a]-1 -----------------------------------
    loop_n = int(depth.sum())
    if loop_n > n:  # tiny n: drop whole tail attempts so the total stays n
        keep = np.cumsum(depth) <= n
        att_wf, att_start, depth = att_wf[keep], att_start[keep], depth[keep]
        loop_n = int(depth.sum())
    att = np.repeat(np.arange(att_wf.size), depth)
    first = np.cumsum(depth) - depth  # index of each attempt's first event
    step = np.arange(loop_n) - first[att]
    u = rng.random(loop_n)
    gap = rng.integers(1_000, 6 * 3_600_000, loop_n)  # 1 s .. 6 h
    gap = np.where(u < 0.06, rng.integers(2 * DAY_MS, 10 * DAY_MS, loop_n), gap)
    gap = np.where((u >= 0.06) & (u < 0.08), 0, gap)
    gap = np.where((u >= 0.08) & (u < 0.11), -rng.integers(1_000, 3_600_000, loop_n), gap)
    gap[step == 0] = 0
    run = np.cumsum(gap)
    offset = run - run[first][att]  # cumulative gap within the attempt
    loop_ms = att_start[att] + offset
    loop_wf = att_wf[att]

    # -- noise ------------------------------------------------------------------------------
    m = n - loop_n
    noise_wf = rng.integers(0, workflows, m)
    noise_ms = wf_start_ms[noise_wf] + rng.integers(0, 20 * DAY_MS, m)
    kind = rng.random(m)
    noise_type = np.where(
        kind < 0.9,
        len(STEPS) + np.minimum((kind / 0.3).astype(np.int64), len(NOISE) - 1),
        rng.integers(0, len(STEPS), m),  # stray repeats of a step type
    )
    orphan = np.concatenate([np.zeros(loop_n, bool), rng.random(m) < 0.01])

    # -- all events, in time order ----------------------------------------------------------
    type_code = np.concatenate([step, noise_type])
    wf = np.concatenate([loop_wf, noise_wf])
    ms = np.concatenate([loop_ms, noise_ms])
    micros = START_US + ms * 1000
    # parent: a loop event's previous step (same attempt), by its index before sorting
    parent_idx = np.where(
        np.concatenate([step > 0, np.zeros(m, bool)]), np.arange(n) - 1, -1
    ).astype(np.int64)
    order = np.argsort(micros, kind="stable")
    id_number = rng.permutation(n)  # event id of the event at pre-sort index i
    del ms, loop_ms, noise_ms, run, offset, gap, u

    parent_num = np.where(parent_idx >= 0, id_number[np.maximum(parent_idx, 0)], 0)
    event_id = _ids("evt-", id_number[order], 10)
    event_type = _dictionary(type_code[order].astype(np.int32), STEPS + NOISE)
    occurred = pa.array(micros[order], pa.timestamp("us", tz="UTC"))
    actor_code = rng.integers(0, len(ACTOR_TYPES), n)
    actor = pa.StructArray.from_arrays(
        [
            _dictionary(actor_code.astype(np.int32), ACTOR_TYPES),
            _ids("agent-", rng.integers(0, 50, n), 2),
        ],
        names=["type", "id"],
    )
    correlation = pa.StructArray.from_arrays(
        [
            _ids("wf-", wf[order], 8, null_mask=orphan[order]),
            _ids("evt-", parent_num[order], 10, null_mask=(parent_idx < 0)[order]),
        ],
        names=["workflow_id", "parent_event_id"],
    )
    payload = pa.StructArray.from_arrays([pa.array(rng.random(n))], names=["score"])
    return pa.table(
        {
            "event_id": event_id,
            "event_type": event_type,
            "occurred_at": occurred,
            "actor": actor,
            "correlation": correlation,
            "payload": payload,
        }
    )


def write_folder(folder: Path, n: int, seed: int = 1, rows_per_file: int = ROWS_PER_FILE) -> Path:
    """Write ``n`` events under ``folder/events/part-XXX.parquet``; reuse a complete folder.

    A folder counts as complete when it holds the ``.complete`` marker written last, so an
    interrupted generation is redone rather than benchmarked.
    """
    folder = Path(folder)
    marker = folder / ".complete"
    if marker.exists() and marker.read_text().strip() == f"{n} {seed}":
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "events").mkdir(parents=True)
    table = synthetic_events(n, seed)
    for part, start in enumerate(range(0, n, rows_per_file)):
        pq.write_table(
            table.slice(start, rows_per_file),
            folder / "events" / f"part-{part:03d}.parquet",
            row_group_size=ROW_GROUP,
        )
    marker.write_text(f"{n} {seed}\n")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", type=int)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    write_folder(args.folder, args.events, args.seed)
    print(f"{args.events:,} events in {args.folder} ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
