"""A plain-Python reference implementation of opdash funnels, written from the definitions only.

No SQL, no pandas, no opdash: events are the envelope dicts as written to the folder, and every
definition (entity, order of events, window, ordered/strict/unordered levels, chosen chain,
since/until) is a loop over them. tests/properties/test_funnel.py compares opdash.funnel against it.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def window_seconds(window: str | int) -> int:
    """Seconds of a window written as ``90s``, ``90m``, ``6h``, ``14d`` or ``2w``."""
    if isinstance(window, int):
        return window
    return int(window[:-1]) * UNITS[window[-1]]


def micros(value: str | datetime) -> int:
    """Exact microseconds since the epoch of an RFC 3339 text (no offset means UTC) or datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("z", "Z"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def ten_places(value: int | float | str) -> Fraction:
    """What a sum adds for a number: the decimal its text says (a float's shortest text),
    rounded to 10 places, half away from zero."""
    text = repr(value) if isinstance(value, float) else str(value)
    with localcontext() as context:
        context.prec = 80
        return Fraction(Decimal(text).quantize(Decimal("1e-10"), rounding=ROUND_HALF_UP))


def value_at(event: dict, path: str):
    """The value at a dotted path of the envelope, None when absent."""
    value = event
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def entity_of(event: dict, by: str):
    """The value at a dotted path of the envelope as text (None when absent or null)."""
    value = value_at(event, by)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _sequences(events, steps, by) -> dict[str, list[tuple[int, str]]]:
    """Per entity, its events as (micros, event_type) in funnel order."""
    first_pos: dict[str, int] = {}
    for i, t in enumerate(steps):
        first_pos.setdefault(t, i)
    grouped: dict[str, list[tuple[int, int, str, str]]] = {}
    for e in events:
        ent = entity_of(e, by)
        if ent is None:
            continue
        rank = first_pos.get(e["event_type"], len(steps))
        grouped.setdefault(ent, []).append(
            (micros(e["occurred_at"]), rank, e["event_id"], e["event_type"])
        )
    return {ent: [(us, typ) for us, _, _, typ in sorted(rows)] for ent, rows in grouped.items()}


def _in_range(us: int, since_us: int | None, until_us: int | None) -> bool:
    if since_us is not None and us < since_us:
        return False
    return not (until_us is not None and us >= until_us)


def _chain_ordered(seq, start: int, steps, window_us: int) -> list[int]:
    """Positions of the chain starting at ``start``: for each following step, the earliest
    event of its type (time, then event id) at or after the previous step's instant that the
    chain has not used yet — tied events fill steps in either order, each once."""
    chain = [start]
    limit = seq[start][0] + window_us
    for step in steps[1:]:
        since = seq[chain[-1]][0]
        # same-type events are in (time, event id) order in ``seq``: the first unused one wins
        nxt = next(
            (
                j
                for j, row in enumerate(seq)
                if row[1] == step and row[0] >= since and j not in chain
            ),
            None,
        )
        if nxt is None or seq[nxt][0] > limit:
            break
        chain.append(nxt)
    return chain


def best_level_ordered(seq, start: int, steps, window_us: int) -> int:
    """The most steps any chain from ``start`` reaches: distinct events of steps 1..k at
    non-decreasing times within the window, by trying every choice (tests check that the
    greedy :func:`_chain_ordered` always reaches it)."""
    limit = seq[start][0] + window_us

    def deepest(used: tuple[int, ...]) -> int:
        k = len(used)
        if k == len(steps):
            return k
        since, tried = seq[used[-1]][0], set()
        best = k
        for j, row in enumerate(seq):
            # events of one type at one instant are interchangeable: try one of them
            if row[1] != steps[k] or not since <= row[0] <= limit or j in used or row[0] in tried:
                continue
            tried.add(row[0])
            best = max(best, deepest((*used, j)))
            if best == len(steps):
                break
        return best

    return deepest((start,))


def _chain_strict(seq, start: int, steps, window_us: int) -> list[int]:
    """Positions of the chain starting at ``start`` where each step is the very next event."""
    chain = [start]
    limit = seq[start][0] + window_us
    for step in steps[1:]:
        j = chain[-1] + 1
        if j >= len(seq) or seq[j][1] != step or seq[j][0] > limit:
            break
        chain.append(j)
    return chain


def _level_unordered(seq, steps, window_us, since_us, until_us) -> int:
    wanted = set(steps)
    best = 0
    for start_us, typ in seq:
        if typ not in wanted or not _in_range(start_us, since_us, until_us):
            continue
        found = {t for us, t in seq if t in wanted and start_us <= us <= start_us + window_us}
        best = max(best, len(found))
    return best


def funnel(
    events,
    steps,
    *,
    window="14d",
    order="ordered",
    by="correlation.workflow_id",
    since=None,
    until=None,
) -> dict:
    """Counts, conversions and timings of a funnel, as a dict shaped like FunnelResult.to_dict()."""
    steps = list(steps)
    n = len(steps)
    window_us = window_seconds(window) * 1_000_000
    since_us = micros(since) if since is not None else None
    until_us = micros(until) if until is not None else None
    keep_all = order == "strict"
    wanted = set(steps)

    levels: list[int] = []
    gaps: list[list[float]] = [[] for _ in range(n)]  # gaps[k]: seconds from step k-1 to step k
    for seq in _sequences(events, steps, by).values():
        if not keep_all:
            seq = [row for row in seq if row[1] in wanted]
        if order == "unordered":
            levels.append(_level_unordered(seq, steps, window_us, since_us, until_us))
            continue
        build = _chain_strict if order == "strict" else _chain_ordered
        best: list[int] = []
        for i, (us, typ) in enumerate(seq):
            if typ != steps[0] or not _in_range(us, since_us, until_us):
                continue
            chain = build(seq, i, steps, window_us)
            if order == "ordered":  # the greedy chain is the longest one
                assert len(chain) == best_level_ordered(seq, i, steps, window_us), (seq, i)
            if len(chain) > len(best):  # strictly better: keeps the earliest start reaching it
                best = chain
        levels.append(len(best))
        for k in range(1, len(best)):
            gaps[k].append((seq[best[k]][0] - seq[best[k - 1]][0]) / 1_000_000)

    counts = [sum(1 for lv in levels if lv >= k) for k in range(1, n + 1)]
    out = []
    for k in range(1, n + 1):
        count = counts[k - 1]
        previous = counts[k - 2] if k > 1 else counts[0]
        timed = order != "unordered" and k >= 2 and gaps[k - 1]
        out.append(
            {
                "step": k,
                "event_type": steps[k - 1],
                "count": count,
                "conversion_from_previous": count / previous if previous else None,
                "conversion_from_start": count / counts[0] if counts[0] else None,
                "median_seconds_from_previous": statistics.median(gaps[k - 1]) if timed else None,
                "mean_seconds_from_previous": statistics.fmean(gaps[k - 1]) if timed else None,
            }
        )
    return {"steps": out, "entities": counts[0] if counts else 0}
