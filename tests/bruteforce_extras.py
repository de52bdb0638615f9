"""A plain-Python reference for the optional parts of a funnel, written from the definitions only.

Breakdown, exclusions, time to convert, conversion over time and drop-offs are all measured on
each entity's chosen chain. Like tests/bruteforce.py this is loops over the envelope dicts (no SQL,
no pandas, no opdash); tests/properties/test_funnel_extras.py compares opdash.funnel against it.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.bruteforce import (
    _chain_ordered,
    _chain_strict,
    _in_range,
    entity_of,
    micros,
    window_seconds,
)

OTHER = "Other"


def from_micros(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _full_sequences(events, steps, by) -> dict[str, list[tuple[int, str, dict]]]:
    """Per entity, ALL its events as (micros, event_type, event) in funnel order.

    Funnel order: time, then the first position of the type among the steps (any other type,
    excluded ones included, ranks after every step), then event_id.
    """
    first_pos: dict[str, int] = {}
    for i, t in enumerate(steps):
        first_pos.setdefault(t, i)
    grouped: dict[str, list] = {}
    for e in events:
        ent = entity_of(e, by)
        if ent is None:
            continue
        us = micros(e["occurred_at"])
        rank = first_pos.get(e["event_type"], len(steps))
        grouped.setdefault(ent, []).append((us, rank, e["event_id"], e["event_type"], e))
    return {
        ent: [(us, typ, e) for us, _, _, typ, e in sorted(rows, key=lambda r: r[:3])]
        for ent, rows in grouped.items()
    }


def _by(event: dict, actors) -> bool:
    return actors is None or entity_of(event, "actor.id") in actors


def exclusions_of(exclude, n: int) -> list[tuple[str, int, int]]:
    """``TYPE`` → (TYPE, 1, n); ``TYPE:F-T`` → (TYPE, F, T)."""
    out = []
    for text in exclude or []:
        head, sep, tail = text.rpartition(":")
        if sep and "-" in tail:
            f, t = tail.split("-")
            out.append((head, int(f), int(t)))
        else:
            out.append((text, 1, n))
    return out


def _hit_ordered(seq, chain, limit, exclusions) -> bool:
    """An exclusion event after the attempt's step-F event and before its step-T event (or,
    not having reached T, within its window), in funnel order."""
    for kind, f, t in exclusions:
        if len(chain) < f:
            continue
        for q in range(chain[f - 1] + 1, len(seq)):
            if len(chain) >= t and q >= chain[t - 1]:
                break
            if len(chain) < t and seq[q][0] > limit:
                break
            if seq[q][1] == kind:
                return True
    return False


def _hit_unordered(seq, i, level, n, firsts, limit, exclusions) -> bool:
    """An exclusion event at or after the start's instant (the start aside) and before the
    attempt's last step's instant (complete) or within its window."""
    start_us = seq[i][0]
    end_ok = (lambda u: u < max(firsts)) if level >= n else (lambda u: u <= limit)
    return any(
        q != i and seq[q][1] == kind and seq[q][0] >= start_us and end_ok(seq[q][0])
        for kind, _, _ in exclusions
        for q in range(len(seq))
    )


def _entity(
    seq, steps, order, window_us, since_us, until_us, actors=None, exclusions=()
) -> dict | None:
    """The level, chosen attempt (positions, times, events) and start event of one entity, or
    None; ``excluded`` when every attempt at its best level has an exclusion event in range."""
    attempts = []  # (level, clean, -index, record)
    for i, (us, typ, e) in enumerate(seq):
        if not _in_range(us, since_us, until_us) or not _by(e, actors):
            continue
        limit = us + window_us
        if order == "unordered":
            if typ not in set(steps):
                continue
            firsts = [
                next((u for u, t, _ in seq if t == s and us <= u <= limit), None) for s in steps
            ]
            found = [f for f in firsts if f is not None]
            level = len(found)
            clean = not _hit_unordered(seq, i, level, len(steps), found, limit, exclusions)
            record = {"level": level, "positions": [i], "times": [us], "start": e}
        else:
            if typ != steps[0]:
                continue
            build = _chain_strict if order == "strict" else _chain_ordered
            chain = build(seq, i, steps, window_us)
            level = len(chain)
            clean = not _hit_ordered(seq, chain, limit, exclusions)
            record = {
                "level": level,
                "positions": chain,
                "times": [seq[p][0] for p in chain],
                "start": e,
                "events": [seq[p][2] for p in chain],
            }
        attempts.append((level, clean, -i, record))
    if not attempts:
        return None
    level, clean, _, record = max(attempts, key=lambda a: a[:3])
    return {**record, "excluded": not clean}


def _median(values):
    return statistics.median(values) if values else None


def _mean(values):
    return statistics.fmean(values) if values else None


def _steps(records, steps, timed: bool) -> list[dict]:
    n = len(steps)
    counts = [sum(1 for r in records if r["level"] >= k) for k in range(1, n + 1)]
    out = []
    for k in range(1, n + 1):
        count = counts[k - 1]
        previous = counts[k - 2] if k > 1 else counts[0]
        gaps = [
            (r["times"][k - 1] - r["times"][k - 2]) / 1_000_000
            for r in records
            if timed and k >= 2 and r["level"] >= k
        ]
        out.append(
            {
                "step": k,
                "event_type": steps[k - 1],
                "count": count,
                "conversion_from_previous": count / previous if previous else None,
                "conversion_from_start": count / counts[0] if counts[0] else None,
                "median_seconds_from_previous": _median(gaps),
                "mean_seconds_from_previous": _mean(gaps),
            }
        )
    return out


def _step_number(part, steps) -> int:
    part = str(part).strip()
    return int(part) if part.isdigit() else steps.index(part) + 1


def _time_to_convert(records, start: int, end: int, bins: int) -> dict:
    gaps = [
        (r["times"][end - 1] - r["times"][start - 1]) / 1_000_000
        for r in records
        if r["level"] >= end
    ]
    out = {
        "from_step": start,
        "to_step": end,
        "entities": len(gaps),
        "median_seconds": _median(gaps),
        "mean_seconds": _mean(gaps),
        "bins": [],
    }
    if not gaps:
        return out
    lo, hi = min(gaps), max(gaps)
    if lo == hi:
        out["bins"] = [{"start_seconds": lo, "end_seconds": hi, "count": len(gaps)}]
        return out
    edges = [lo + i * (hi - lo) / bins for i in range(bins)] + [hi]
    counts = [0] * bins
    for g in gaps:
        index = max(i for i in range(bins) if g >= edges[i])  # the max falls in the last bin
        counts[index] += 1
    out["bins"] = [
        {"start_seconds": edges[i], "end_seconds": edges[i + 1], "count": counts[i]}
        for i in range(bins)
    ]
    return out


def _local_midnight(day, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def _period_of(instant: datetime, interval: str, tz: ZoneInfo) -> datetime:
    day = instant.astimezone(tz).date()
    if interval == "week":
        day = day - timedelta(days=day.weekday())
    return _local_midnight(day, tz)


def _next(start: datetime, interval: str, tz: ZoneInfo) -> datetime:
    day = start.astimezone(tz).date() + timedelta(days=7 if interval == "week" else 1)
    return _local_midnight(day, tz)


def _trend(records, n, interval, tz_name, as_of, since_us, until_us, window_us) -> dict:
    tz = ZoneInfo(tz_name)
    as_of_us = micros(as_of)
    firsts = [r["times"][0] for r in records]
    out = {"interval": interval, "tz": tz_name, "as_of": from_micros(as_of_us), "periods": []}
    lo = since_us if since_us is not None else min(firsts, default=None)
    hi = until_us if until_us is not None else max(firsts, default=None)
    if lo is None or hi is None:  # nothing entered and the range is open on that side
        return out

    def stop(start: datetime) -> bool:
        if until_us is not None:  # the periods overlapping [lo, until)
            return micros(start) >= until_us
        return micros(start) > hi  # up to the period of the latest step-1 event

    start = _period_of(from_micros(lo), interval, tz)
    while not stop(start):
        end = _next(start, interval, tz)
        s_us, e_us = micros(start), micros(end)
        inside = [r for r in records if s_us <= r["times"][0] < e_us]
        entered = len(inside)
        converted = sum(1 for r in inside if r["level"] == n)
        out["periods"].append(
            {
                "start": start,
                "entered": entered,
                "converted": converted,
                "rate": converted / entered if entered else None,
                "incomplete": e_us + window_us > as_of_us,
            }
        )
        start = end
    return out


def _attributed(r, path, attribution):
    """The breakdown value an entity's record counts under: on its step-1 event (first), its
    last reached step's event (last) or its step-N event (step:N; None when not reached)."""
    if attribution == "first":
        return entity_of(r["start"], path)
    if attribution == "last":
        return entity_of(r["events"][r["level"] - 1], path)
    n = int(attribution.split(":")[1])
    return entity_of(r["events"][n - 1], path) if r["level"] >= n else None


def _breakdown(records, steps, path, limit, timed, attribution="first") -> list[dict]:
    values: dict = {}
    for r in records:
        values.setdefault(_attributed(r, path, attribution), []).append(r)
    ranked = sorted(values, key=lambda v: (-len(values[v]), v is not None, v or ""))
    kept, rest = ranked[:limit], ranked[limit:]
    groups = [{"value": v, "steps": _steps(values[v], steps, timed)} for v in kept]
    if rest:
        merged = [r for v in rest for r in values[v]]
        groups.append({"value": OTHER, "steps": _steps(merged, steps, timed)})
    return groups


def _per_value(events, steps, path, limit, settings) -> list[dict]:
    """The ``all`` attribution: for each value of ``path``, the whole funnel over only the
    events that carry it; the ``limit`` values with most entities entering, no Other."""
    values = {entity_of(e, path) for e in events} - {None}
    keys = ("window", "order", "by", "since", "until", "exclude", "start_actors")
    asked = {k: settings[k] for k in keys}
    groups = []
    for v in values:
        carrying = [e for e in events if entity_of(e, path) == v]
        groups.append({"value": v, "steps": funnel(carrying, steps, **asked)["steps"]})
    groups = [g for g in groups if g["steps"][0]["count"]]
    groups.sort(key=lambda g: (-g["steps"][0]["count"], g["value"]))
    return groups[:limit]


def _dropped(records, all_events, steps, by, k, limit) -> dict:
    newest: dict[str, tuple] = {}
    for e in all_events:
        ent = entity_of(e, by)
        if ent is None:
            continue
        key = (micros(e["occurred_at"]), e["event_id"])
        if ent not in newest or key > newest[ent][0]:
            newest[ent] = (key, e)
    stuck = [r for r in records if r["level"] == k]
    items = []
    for r in stuck:
        (last_us, last_id), last = newest[r["entity"]]
        items.append(
            {
                "entity": r["entity"],
                "reached_at": from_micros(r["times"][min(k, len(r["times"])) - 1]),
                "last_event_type": last["event_type"],
                "last_event_id": last_id,
                "last_event_at": from_micros(last_us),
                "_last_us": last_us,
            }
        )
    items.sort(key=lambda d: (-d["_last_us"], d["entity"]))
    for d in items:
        del d["_last_us"]
    return {
        "step": k,
        "event_type": steps[k - 1],
        "next_event_type": steps[k] if k < len(steps) else None,
        "total": len(stuck),
        "entities": items[:limit],
    }


def funnel(
    events,
    steps,
    *,
    window="14d",
    order="ordered",
    by="correlation.workflow_id",
    since=None,
    until=None,
    breakdown=None,
    breakdown_limit=10,
    attribution="first",
    exclude=None,
    time_to_convert=None,
    bins=10,
    trend=None,
    tz="UTC",
    as_of=None,
    dropped_at=None,
    dropped_limit=50,
    start_actors=None,
) -> dict:
    """The funnel and its optional parts, shaped like FunnelResult.to_dict() (datetimes kept)."""
    steps = list(steps)
    n = len(steps)
    window_us = window_seconds(window) * 1_000_000
    since_us = micros(since) if since is not None else None
    until_us = micros(until) if until is not None else None
    timed = order != "unordered"
    exclusions = exclusions_of(exclude, n)

    records = []
    excluded = 0
    for ent, seq in sorted(_full_sequences(events, steps, by).items()):
        actors = set(start_actors) if start_actors else None
        rec = _entity(seq, steps, order, window_us, since_us, until_us, actors, exclusions)
        if rec is None:
            continue
        rec["entity"] = ent
        if rec["excluded"]:
            excluded += 1
            continue
        records.append(rec)

    out: dict = {"steps": _steps(records, steps, timed), "entities": len(records)}
    if exclude is not None:
        out["excluded"] = excluded
    if breakdown is not None and attribution == "all":
        out["breakdown"] = _per_value(events, steps, breakdown, breakdown_limit, locals())
    elif breakdown is not None:
        out["breakdown"] = _breakdown(
            records, steps, breakdown, breakdown_limit, timed, attribution
        )
    if time_to_convert is not None:
        if isinstance(time_to_convert, tuple):
            start, end = time_to_convert
        else:
            left, _, right = time_to_convert.partition(":")
            start, end = _step_number(left, steps), _step_number(right, steps)
        out["time_to_convert"] = _time_to_convert(records, start, end, bins)
    if trend is not None:
        out["trend"] = _trend(records, n, trend, tz, as_of, since_us, until_us, window_us)
    if dropped_at is not None:
        out["dropped"] = _dropped(records, events, steps, by, dropped_at, dropped_limit)
    return out
