"""Funnel extras: breakdown, exclusions, time to convert, conversion over time and drop-offs.

Why: each extra is measured on each entity's chosen chain, and each has small rules that are easy
to get subtly wrong (null breakdown values, the Other group, ties between an excluded event and a
step, histogram edges, weeks across a daylight-saving change, the incomplete flag at its exact
boundary, drop-off ordering). Every rule gets a hand-made case with numbers worked out by hand,
then tests/bruteforce_extras.py (plain loops from the definitions) is compared with opdash on
random small folders with frequent timestamp ties.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import opdash
from opdash.errors import UsageError
from opdash.metrics import sequence
from tests import bruteforce_extras
from tests.fixtures import T0, ev, heavy_starts, write_lines


def run(folder: Path, events: list[dict], steps, **kwargs):
    write_lines(folder / "events" / "f.jsonl", events)
    return opdash.funnel(opdash.open(folder), steps, **kwargs)


def counts(steps) -> list[int]:
    return [s.count for s in steps]


def medians(steps) -> list[float | None]:
    return [s.median_seconds_from_previous for s in steps]


def means(steps) -> list[float | None]:
    return [s.mean_seconds_from_previous for s in steps]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def at_utc(event_id: str, event_type: str, when: str, wf: str, **more) -> dict:
    return {"event_id": event_id, "event_type": event_type, "occurred_at": when, **more} | {
        "correlation": {"workflow_id": wf}
    }


# -- breakdown ---------------------------------------------------------------------------------

BREAKDOWN_EVENTS = [
    # w1: a@0 (plan z) misses b within the window; a@100 (plan p) reaches b: the chosen chain's
    # step-1 event gives the value p
    ev("1a", "a", 0, "w1", payload={"plan": "z"}),
    ev("1a2", "a", 100, "w1", payload={"plan": "p"}),
    ev("1b", "b", 130, "w1"),
    ev("2a", "a", 0, "w2", payload={"plan": "p"}),
    ev("2b", "b", 10, "w2"),
    ev("2c", "c", 20, "w2"),
    ev("3a", "a", 0, "w3", payload={"plan": "p"}),
    ev("4a", "a", 0, "w4", payload={"plan": None}),  # null value
    ev("4b", "b", 50, "w4", payload={"plan": "q"}),  # only step 1 decides
    ev("5a", "a", 0, "w5"),  # absent: null too
    ev("6a", "a", 0, "w6", payload={"plan": "q"}),
    ev("6b", "b", 5, "w6"),
    ev("6c", "c", 65, "w6"),  # out of the 60s window
    ev("7a", "a", 0, "w7", payload={"plan": "r"}),
    ev("7b", "b", 1, "w7"),
    ev("7c", "c", 2, "w7"),
]


#: docs/metrics.md's attribution example: w1 a(p) → b(q); w2 a(p); w3 a(q) → b(no plan)
ATTRIBUTION_EVENTS = [
    ev("1a", "a", 0, "w1", payload={"plan": "p"}),
    ev("1b", "b", 10, "w1", payload={"plan": "q"}),
    ev("2a", "a", 0, "w2", payload={"plan": "p"}),
    ev("3a", "a", 0, "w3", payload={"plan": "q"}),
    ev("3b", "b", 10, "w3"),
]


@pytest.mark.parametrize(
    ("attribution", "groups", "add_up"),
    [
        ("first", [("p", [2, 1]), ("q", [1, 1])], True),
        ("last", [(None, [1, 1]), ("p", [1, 0]), ("q", [1, 1])], True),
        ("step:2", [(None, [2, 1]), ("q", [1, 1])], True),
        ("step:1", [("p", [2, 1]), ("q", [1, 1])], True),
        ("all", [("p", [2, 0]), ("q", [1, 0])], False),
    ],
)
def test_breakdown_attribution(folder: Path, attribution, groups, add_up) -> None:
    result = run(folder, ATTRIBUTION_EVENTS, ["a", "b"], window="1h", breakdown="payload.plan",
                 attribution=attribution)  # fmt: skip
    assert counts(result.steps) == [3, 2]  # the whole funnel is the same under every rule
    assert [(g.value, counts(g.steps)) for g in result.breakdown] == groups
    d = result.to_dict()
    assert (d["attribution"], d["groups_add_up"]) == (attribution, add_up)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"attribution": "lst", "breakdown": "payload.plan"}, "did you mean 'last'"),
        ({"attribution": "step:3", "breakdown": "payload.plan"}, "steps 1 to 2"),
        ({"attribution": "step:x", "breakdown": "payload.plan"}, "bad attribution 'step:x'"),
        ({"attribution": "last"}, "needs a breakdown"),
        ({"attribution": "last", "breakdown": "payload.plan", "order": "unordered"},
         "needs an ordered or strict funnel"),
    ],
)  # fmt: skip
def test_bad_attribution_is_one_clear_error(folder: Path, kwargs, named) -> None:
    with pytest.raises(UsageError, match=named):
        run(folder, ATTRIBUTION_EVENTS, ["a", "b"], **kwargs)


def test_breakdown_top_values_null_and_other(folder: Path) -> None:
    result = run(
        folder, BREAKDOWN_EVENTS, ["a", "b", "c"], window="60s", breakdown="payload.plan",
        breakdown_limit=2,
    )  # fmt: skip
    assert counts(result.steps) == [7, 5, 2]
    assert result.breakdown_by == "payload.plan"
    groups = result.breakdown
    # ranking: p 3, null 2, q 1, r 1 → keep p and null; q and r merge into Other
    assert [g.value for g in groups] == ["p", None, "Other"]
    p, null, other = groups
    assert counts(p.steps) == [3, 2, 1]
    assert medians(p.steps) == [None, 20.0, 10.0]  # w1 30s, w2 10s; w2 10s
    assert means(p.steps) == [None, 20.0, 10.0]
    assert [s.conversion_from_previous for s in p.steps] == [1.0, pytest.approx(2 / 3), 0.5]
    assert counts(null.steps) == [2, 1, 0]
    assert medians(null.steps) == [None, 50.0, None]
    assert [s.conversion_from_previous for s in null.steps] == [1.0, 0.5, 0.0]
    assert counts(other.steps) == [2, 2, 1]
    assert medians(other.steps) == [None, 3.0, 1.0]  # w6 5s, w7 1s; w7 1s
    assert means(other.steps) == [None, 3.0, 1.0]
    # groups add up to the funnel
    for k in range(3):
        assert sum(g.steps[k].count for g in groups) == result.steps[k].count
    d = result.to_dict()
    assert d["breakdown_by"] == "payload.plan"
    assert [g["value"] for g in d["breakdown"]] == ["p", None, "Other"]


def test_breakdown_without_other_and_the_limit_cut_between_ties(folder: Path) -> None:
    result = run(folder, BREAKDOWN_EVENTS, ["a", "b", "c"], window="60s", breakdown="payload.plan")
    # nothing merged: no Other
    groups = {g.value: counts(g.steps) for g in result.breakdown}
    assert groups == {"p": [3, 2, 1], None: [2, 1, 0], "q": [1, 1, 0], "r": [1, 1, 1]}
    assert "Other" not in groups
    # q and r tie at 1: the limit keeps q (smaller value) and merges r
    three = opdash.funnel(
        opdash.open(folder), ["a", "b", "c"], window="60s", breakdown="payload.plan",
        breakdown_limit=3,
    )  # fmt: skip
    assert [g.value for g in three.breakdown] == ["p", None, "q", "Other"]
    assert counts(three.breakdown[-1].steps) == [1, 1, 1]


def test_breakdown_tied_groups_list_in_ranking_order(folder: Path) -> None:
    # the ranking breaks ties by value (null first); the listing should follow it, so that the
    # order of equal groups is stable across runs and agrees with which values a limit keeps
    result = run(folder, BREAKDOWN_EVENTS, ["a", "b", "c"], window="60s", breakdown="payload.plan")
    assert [g.value for g in result.breakdown] == ["p", None, "q", "r"]


def test_breakdown_null_wins_a_tie_and_can_be_the_only_kept_value(folder: Path) -> None:
    events = [
        ev("1a", "a", 0, "w1", payload={"plan": "a"}),
        ev("1b", "b", 5, "w1"),
        ev("2a", "a", 0, "w2"),
        ev("3a", "a", 0, "w3", payload={"plan": "b"}),
    ]
    result = run(folder, events, ["a", "b"], breakdown="payload.plan", breakdown_limit=1)
    assert [g.value for g in result.breakdown] == [None, "Other"]  # null first among equals
    assert [counts(g.steps) for g in result.breakdown] == [[1, 0], [2, 1]]
    assert medians(result.breakdown[1].steps) == [None, 5.0]


def test_breakdown_null_on_the_chosen_chain_is_not_filled_from_another_start(folder: Path) -> None:
    events = [
        ev("1a", "a", 0, "w1", payload={"plan": None}),  # chosen: reaches b
        ev("1b", "b", 10, "w1"),
        ev("1a2", "a", 20, "w1", payload={"plan": "p"}),  # level 1 only
        ev("2a", "a", 0, "w2"),  # chosen (earliest reaching level 2), no payload
        ev("2a2", "a", 5, "w2", payload={"plan": "q"}),
        ev("2b", "b", 6, "w2"),
        ev("3a", "a", 0, "w3", payload={"plan": "q"}),
        ev("3a2", "a", 5, "w3", payload={"plan": None}),
    ]
    result = run(folder, events, ["a", "b"], breakdown="payload.plan")
    assert [(g.value, counts(g.steps)) for g in result.breakdown] == [
        (None, [2, 2]),
        ("q", [1, 0]),
    ]


def test_breakdown_unordered_uses_the_chosen_window_start(folder: Path) -> None:
    events = [
        ev("1b", "b", 0, "w1", payload={"plan": "early"}),  # window [0, 60] holds b only
        ev("1a", "a", 100, "w1", payload={"plan": "late"}),  # window [100, 160] holds a, b
        ev("1b2", "b", 110, "w1", payload={"plan": "later"}),
        ev("2a", "a", 0, "w2", payload={"plan": "late"}),
    ]
    result = run(
        folder, events, ["a", "b"], window="60s", order="unordered", breakdown="payload.plan"
    )
    assert [g.value for g in result.breakdown] == ["late"]
    assert counts(result.breakdown[0].steps) == [2, 1]


# -- exclusions --------------------------------------------------------------------------------

EXCLUDE_EVENTS = [
    ev("1a", "a", 0, "w1"),
    ev("1x", "x", 10, "w1"),
    ev("1b", "b", 20, "w1"),  # x between a and b
    ev("2x", "x", -1, "w2"),  # before the first step: never in a range
    ev("2a", "a", 0, "w2"),
    ev("2b", "b", 10, "w2"),
    ev("2x2", "x", 20, "w2"),  # after b, c never reached: inside the window
    ev("3a", "a", 0, "w3"),
    ev("3b", "b", 10, "w3"),
    ev("3x", "x", 20, "w3"),
    ev("3c", "c", 30, "w3"),  # x between b and c
    ev("4x", "x", 0, "w4"),
    ev("4a", "a", 0, "w4"),
    ev("4b", "b", 0, "w4"),  # all tied: a, b, x (x ranks after every step)
    ev("5a", "a", 0, "w5"),
    ev("5x", "x", 0, "w5"),
    ev("5b", "b", 5, "w5"),  # x tied with step 1 sorts after it: a, x, b
    ev("6a", "a", 0, "w6"),
    ev("6x", "x", 0, "w6"),  # level 1: x after a, within the window
    ev("7a", "a", 0, "w7"),
    ev("7x", "x", 5, "w7"),
    ev("7a2", "a", 10, "w7"),
    ev("7b", "b", 20, "w7"),  # the attempt from a@0 has x inside, the one from a@10 is clean
    ev("8a", "a", 0, "w8"),
    ev("0", "x", 10, "w8"),  # same instant as b, smaller id: ranks after b all the same
    ev("8b", "b", 10, "w8"),
]


def test_exclusions_over_the_whole_funnel(folder: Path) -> None:
    """``x`` = ``x:1-3``: from step 1 to step 3, or to the window's end when step 3 was not
    reached. Only w7 stays: its attempt from a@10 is clean, and at one level a clean attempt
    is chosen; every other workflow's best attempts have an x in range."""
    result = run(folder, EXCLUDE_EVENTS, ["a", "b", "c"], exclude=["x"])
    assert result.excluded == 7
    assert counts(result.steps) == [1, 1, 0]
    assert medians(result.steps) == [None, 10.0, None]  # w7 from a@10
    d = result.to_dict()
    assert (d["exclude"], d["excluded"]) == (["x"], 7)
    without = opdash.funnel(opdash.open(folder), ["a", "b", "c"])
    assert counts(without.steps) == [8, 7, 1] and without.excluded is None
    same = run(folder, EXCLUDE_EVENTS, ["a", "b", "c"], exclude=["x:1-3"])
    assert (counts(same.steps), same.to_dict()["exclude"]) == ([1, 1, 0], ["x"])


def test_exclusion_ranges_between_two_steps(folder: Path) -> None:
    """``x:2-3``: after the attempt's b and before its c (or within its window when it has no
    c): out go w2 (x after b), w3 (x between b and c), w4 and w8 (x tied with b ranks after
    it). w1 and w5 have their x before b, w6 never reached b, w7's x is before its b."""
    result = run(folder, EXCLUDE_EVENTS, ["a", "b", "c"], exclude=["x:2-3"])
    assert result.excluded == 4 and counts(result.steps) == [4, 3, 0]
    assert medians(result.steps) == [None, 20.0, None]  # w1 20, w5 5, w7 20 (from a@0)
    early = run(folder, EXCLUDE_EVENTS, ["a", "b", "c"], exclude=["x:1-2"])
    # out: w1, w5 (x between a and b), w6 (no b: x within the window); w3 reaches c
    assert early.excluded == 3 and counts(early.steps) == [5, 5, 1]
    assert early.to_dict()["exclude"] == ["x:1-2"]


def test_exclusions_strict(folder: Path) -> None:
    result = run(folder, EXCLUDE_EVENTS, ["a", "b", "c"], order="strict", exclude=["x"])
    # strict chains stop at an x; the range still runs to the window's end: only w7's attempt
    # from a@10 (b next) is clean
    assert result.excluded == 7
    assert counts(result.steps) == [1, 1, 0]
    ranged = run(folder, EXCLUDE_EVENTS, ["a", "b", "c"], order="strict", exclude=["x:1-2"])
    assert ranged.excluded == 3 and counts(ranged.steps) == [5, 5, 0]


@pytest.mark.parametrize(
    ("exclude", "order", "named"),
    [
        (["x:3-2"], "ordered", "FROM must come before TO"),
        (["x:0-2"], "ordered", "FROM must come before TO"),
        (["x:1-4"], "ordered", "steps from 1 to 3"),
        (["x:2-"], "ordered", "use TYPE or TYPE:FROM-TO"),
        ([":1-2"], "ordered", "name an event type"),
        (["x:1-2"], "unordered", "over the whole funnel only"),
    ],
)
def test_bad_exclusions_are_one_clear_error(folder: Path, exclude, order, named) -> None:
    with pytest.raises(UsageError, match=named):
        run(folder, EXCLUDE_EVENTS, ["a", "b", "c"], exclude=exclude, order=order)


def test_unordered_exclusions_cover_the_window(folder: Path) -> None:
    """Unordered: from the start's instant to its last step's (complete) or the window's end.
    u1: b, x, a (complete at a: x before it, out); u2: a, b, then x (after the last step: in);
    u3: a then x, no b (x within the window: out)."""
    events = [
        ev("1b", "b", 0, "u1"), ev("1x", "x", 5, "u1"), ev("1a", "a", 10, "u1"),
        ev("2a", "a", 0, "u2"), ev("2b", "b", 5, "u2"), ev("2x", "x", 10, "u2"),
        ev("3a", "a", 0, "u3"), ev("3x", "x", 5, "u3"),
    ]  # fmt: skip
    result = run(folder, events, ["a", "b"], order="unordered", window="1m", exclude=["x"])
    assert result.excluded == 2 and counts(result.steps) == [1, 1]


def test_exclusions_apply_to_every_part(folder: Path) -> None:
    result = run(
        folder, EXCLUDE_EVENTS, ["a", "b", "c"], exclude=["x:2-3"], breakdown="payload.plan",
        time_to_convert="1:2", bins=2, dropped_at=2,
    )  # fmt: skip
    assert [(g.value, counts(g.steps)) for g in result.breakdown] == [(None, [4, 3, 0])]
    ttc = result.time_to_convert
    assert (ttc.entities, ttc.median_seconds) == (3, 20.0)
    assert [(b.start_seconds, b.end_seconds, b.count) for b in ttc.bins] == [
        (5.0, 12.5, 1),
        (12.5, 20.0, 2),
    ]
    assert result.dropped.total == 3
    assert sorted(e.entity for e in result.dropped.entities) == ["w1", "w5", "w7"]


# -- time to convert ---------------------------------------------------------------------------

TTC_GAPS = {"w1": 10, "w2": 20, "w3": 40, "w4": 50, "w5": 50}


def _ttc_events() -> list[dict]:
    events = []
    for wf, gap in TTC_GAPS.items():
        events += [ev(f"{wf}a", "a", 0, wf), ev(f"{wf}b", "b", 1, wf), ev(f"{wf}c", "c", gap, wf)]
    events += [ev("6a", "a", 0, "w6"), ev("6b", "b", 7, "w6")]  # level 2: not converted
    return events


@pytest.mark.parametrize("spec", ["1:3", "a:c", (1, 3)])
def test_time_to_convert_histogram_edges(folder: Path, spec) -> None:
    result = run(folder, _ttc_events(), ["a", "b", "c"], time_to_convert=spec, bins=4)
    ttc = result.time_to_convert
    assert (ttc.from_step, ttc.to_step, ttc.entities) == (1, 3, 5)
    assert ttc.median_seconds == 40.0
    assert ttc.mean_seconds == pytest.approx(34.0)
    # edges 10, 20, 30, 40, 50: 20 and 40 sit on an edge (upper bin), 50 is the max (last bin)
    assert [(b.start_seconds, b.end_seconds, b.count) for b in ttc.bins] == [
        (10.0, 20.0, 1),
        (20.0, 30.0, 1),
        (30.0, 40.0, 0),
        (40.0, 50.0, 3),
    ]
    d = result.to_dict()["time_to_convert"]
    assert d["bins"][-1] == {"start_seconds": 40.0, "end_seconds": 50.0, "count": 3}


def test_time_to_convert_between_later_steps_and_uneven_edges(folder: Path) -> None:
    result = run(folder, _ttc_events(), ["a", "b", "c"], time_to_convert="b:c", bins=3)
    ttc = result.time_to_convert
    assert (ttc.from_step, ttc.to_step, ttc.entities) == (2, 3, 5)
    lo, hi = 9.0, 49.0
    edges = [lo + i * (hi - lo) / 3 for i in range(3)] + [hi]
    assert [b.start_seconds for b in ttc.bins] == pytest.approx(edges[:-1])
    assert [b.end_seconds for b in ttc.bins] == pytest.approx(edges[1:])
    assert ttc.bins[-1].end_seconds == hi
    assert [b.count for b in ttc.bins] == [2, 0, 3]  # 9, 19 | - | 39, 49, 49


def test_time_to_convert_single_value_is_one_bin(folder: Path) -> None:
    events = [ev(f"{i}a", "a", 0, f"w{i}") for i in range(3)]
    events += [ev(f"{i}b", "b", 30, f"w{i}") for i in range(3)]
    result = run(folder, events, ["a", "b"], time_to_convert="1:2", bins=5)
    ttc = result.time_to_convert
    assert (ttc.entities, ttc.median_seconds, ttc.mean_seconds) == (3, 30.0, 30.0)
    assert [(b.start_seconds, b.end_seconds, b.count) for b in ttc.bins] == [(30.0, 30.0, 3)]


# -- conversion over time ----------------------------------------------------------------------

# Europe/Berlin leaves summer time on Sunday 2026-10-25: the week of Monday 19 October runs from
# 2026-10-18T22:00Z to 2026-10-25T23:00Z (169 hours).
TREND_EVENTS = [
    at_utc("1a", "a", "2026-10-18T21:59:59Z", "w1"),  # Sun 18 Oct 23:59:59 CEST: week of 12 Oct
    at_utc("1b", "b", "2026-10-18T22:59:59Z", "w1"),
    at_utc("2a", "a", "2026-10-18T22:00:00Z", "w2"),  # Mon 19 Oct 00:00 CEST: week of 19 Oct
    at_utc("3a", "a", "2026-10-25T22:30:00Z", "w3"),  # Sun 25 Oct 23:30 CET: still week of 19 Oct
    at_utc("3b", "b", "2026-10-25T22:40:00Z", "w3"),
    at_utc("4a", "a", "2026-10-25T23:00:00Z", "w4"),  # Mon 26 Oct 00:00 CET: week of 26 Oct
    at_utc("4b", "b", "2026-10-26T23:00:00Z", "w4"),  # exactly one window later: converts
    at_utc("5a", "a", "2026-11-10T12:00:00Z", "w5"),  # week of 9 Nov; week of 2 Nov is empty
]


def _periods(trend) -> list[tuple]:
    return [
        (p.start.astimezone(UTC), p.entered, p.converted, p.rate, p.incomplete)
        for p in trend.periods
    ]


def test_trend_weeks_across_dst_and_incomplete_boundary(folder: Path) -> None:
    # the week of 26 Oct ends 2026-11-01T23:00Z; plus the 1-day window: exactly as_of → complete
    result = run(
        folder, TREND_EVENTS, ["a", "b"], window="1d", trend="week", tz="Europe/Berlin",
        as_of="2026-11-02T23:00:00Z",
    )  # fmt: skip
    trend = result.trend
    assert (trend.interval, trend.tz) == ("week", "Europe/Berlin")
    assert trend.as_of == utc("2026-11-02T23:00:00Z")
    assert _periods(trend) == [
        (utc("2026-10-11T22:00:00Z"), 1, 1, 1.0, False),
        (utc("2026-10-18T22:00:00Z"), 2, 1, 0.5, False),
        (utc("2026-10-25T23:00:00Z"), 1, 1, 1.0, False),
        (utc("2026-11-01T23:00:00Z"), 0, 0, None, True),
        (utc("2026-11-08T23:00:00Z"), 1, 0, 0.0, True),
    ]
    d = result.to_dict()["trend"]
    assert d["periods"][3] == {
        "start": d["periods"][3]["start"],
        "entered": 0,
        "converted": 0,
        "rate": None,
        "incomplete": True,
    }
    assert utc(d["periods"][2]["start"]) == utc("2026-10-25T23:00:00Z")
    earlier = opdash.funnel(
        opdash.open(folder), ["a", "b"], window="1d", trend="week", tz="Europe/Berlin",
        as_of="2026-11-02T22:59:59.999999Z",
    )  # fmt: skip
    assert [p.incomplete for p in earlier.trend.periods] == [False, False, True, True, True]


def test_trend_days_with_since_until_in_berlin(folder: Path) -> None:
    result = run(
        folder, TREND_EVENTS, ["a", "b"], window="1d", trend="day", tz="Europe/Berlin",
        since="2026-10-24T22:00:00Z", until="2026-10-26T23:00:00Z", as_of="2030-01-01",
    )  # fmt: skip
    # Sunday 25 Oct lasts 25 hours; until is Tue 27 Oct 00:00 CET (exclusive): two days
    assert _periods(result.trend) == [
        (utc("2026-10-24T22:00:00Z"), 1, 1, 1.0, False),
        (utc("2026-10-25T23:00:00Z"), 1, 1, 1.0, False),
    ]
    utc_days = opdash.funnel(
        opdash.open(folder), ["a", "b"], window="1d", trend="day", tz="UTC",
        since="2026-10-24T22:00:00Z", until="2026-10-26T23:00:00Z", as_of="2030-01-01",
    )  # fmt: skip
    assert _periods(utc_days.trend) == [
        (utc("2026-10-24T00:00:00Z"), 0, 0, None, False),
        (utc("2026-10-25T00:00:00Z"), 2, 2, 1.0, False),
        (utc("2026-10-26T00:00:00Z"), 0, 0, None, False),
    ]


# -- drop-offs ---------------------------------------------------------------------------------

DROP_EVENTS = [
    ev("1a", "a", 0, "w1"),
    ev("1b", "b", 10, "w1"),
    ev("1z", "z", 500, "w1"),  # newest: z@500
    ev("2a", "a", 0, "w2"),
    ev("2b", "b", 20, "w2"),
    ev("2c", "c", 30, "w2"),  # converts: not dropped at 2
    ev("3a", "a", 0, "w3"),
    ev("3b", "b", 5, "w3"),
    ev("3r", "z", 500, "w3"),  # ties with w1 at 500; within w3 the greatest id is the newest
    ev("3q", "y", 500, "w3"),
    ev("4a", "a", 0, "w4"),
    ev("4b", "b", 40, "w4"),
    ev("4x", "x", 100_000, "w4"),  # far past until and the window: still its newest event
    ev("5a", "a", 0, "w5"),  # level 1
    ev("6a", "a", -100, "w6"),  # before since: never entered
    ev("6b", "b", -90, "w6"),
]


def test_drop_offs_order_limit_and_newest_event(folder: Path) -> None:
    until = T0 + timedelta(hours=1)
    result = run(
        folder, DROP_EVENTS, ["a", "b", "c"], since=T0, until=until, dropped_at=2,
        dropped_limit=2,
    )  # fmt: skip
    dropped = result.dropped
    assert (dropped.step, dropped.event_type, dropped.next_event_type) == (2, "b", "c")
    assert dropped.total == 3
    got = [
        (e.entity, e.reached_at, e.last_event_type, e.last_event_id, e.last_event_at)
        for e in dropped.entities
    ]
    assert got == [
        ("w4", T0 + timedelta(seconds=40), "x", "4x", T0 + timedelta(seconds=100_000)),
        ("w1", T0 + timedelta(seconds=10), "z", "1z", T0 + timedelta(seconds=500)),
    ]
    d = result.to_dict()["dropped"]
    assert d["total"] == 3 and [e["entity"] for e in d["entities"]] == ["w4", "w1"]
    cat = opdash.open(folder)
    full = opdash.funnel(cat, ["a", "b", "c"], since=T0, until=until, dropped_at=2).dropped
    assert [(e.entity, e.last_event_id) for e in full.entities] == [
        ("w4", "4x"),
        ("w1", "1z"),
        ("w3", "3r"),
    ]
    last = opdash.funnel(cat, ["a", "b", "c"], since=T0, until=until, dropped_at=3).dropped
    assert (last.next_event_type, last.total) == (None, 1)
    assert [(e.entity, e.reached_at) for e in last.entities] == [("w2", T0 + timedelta(seconds=30))]
    first = opdash.funnel(cat, ["a", "b", "c"], since=T0, until=until, dropped_at=1).dropped
    assert [(e.entity, e.reached_at, e.last_event_id) for e in first.entities] == [("w5", T0, "5a")]


def test_drop_offs_unordered_reached_at_is_the_window_start(folder: Path) -> None:
    events = [
        ev("1b", "b", 0, "w1"),
        ev("1a", "a", 30, "w1"),
        ev("1q", "q", 40, "w1"),
        ev("2c", "c", 0, "w2"),
    ]
    result = run(folder, events, ["a", "b", "c"], order="unordered", window="1m", dropped_at=2)
    assert [(e.entity, e.reached_at, e.last_event_id) for e in result.dropped.entities] == [
        ("w1", T0, "1q")
    ]


# -- property test against the brute force ------------------------------------------------------

BASE = datetime(2026, 10, 24, 21, 30, tzinfo=UTC)  # Berlin leaves summer time the next night
OFFSETS = [0, 0, 0, 60, 60, 1800, 3600, 3600, 5400, 86400, 86400, 90000, 172800, 604800]
WINDOWS = ["1m", "1h", "1d", "1d", "2d", "2w"]
BOUNDS = [None, None, None, 0, 60, 3600, 86400, 90000]
ZONES = ["UTC", "Europe/Berlin", "America/New_York"]


def _stamp(seconds: int, style: str) -> str:
    moment = BASE + timedelta(seconds=seconds)
    if style == "+02:00":
        return (moment + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"
    return moment.isoformat().replace("+00:00", "Z")


@st.composite
def scenarios(draw):
    types = ["a", "b", "c", "d"][: draw(st.integers(3, 4))]
    order = draw(st.sampled_from(["ordered", "ordered", "strict", "unordered"]))
    if order == "unordered":
        steps = draw(st.lists(st.sampled_from(types), min_size=2, max_size=4, unique=True))
    else:
        steps = draw(st.lists(st.sampled_from(types[:3]), min_size=2, max_size=4))
    entities = [f"w{i}" for i in range(draw(st.integers(2, 5)))]
    n = draw(st.integers(6, 18))
    ids = draw(st.permutations(range(n)))
    # mostly step types (so chains form), often the noise type x (usable as an exclusion)
    pool = [*steps, *steps, *types, "x", "x"]
    events = []
    for i in range(n):
        event = {
            "event_id": f"e{ids[i]:02d}",
            "event_type": draw(st.sampled_from(pool)),
            "occurred_at": _stamp(
                draw(st.sampled_from(OFFSETS)), draw(st.sampled_from(["Z", "+02:00"]))
            ),
            "correlation": {"workflow_id": draw(st.sampled_from([*entities[:2], *entities]))},
        }
        plan = draw(st.sampled_from(["p", "p", "q", "r", None, "absent"]))
        if plan != "absent":
            event["payload"] = {"plan": plan}
        actor = draw(st.sampled_from(["scanner", "planner", None]))
        if actor is not None:
            event["actor"] = {"id": actor}
        events.append(event)
    since, until = draw(st.sampled_from(BOUNDS)), draw(st.sampled_from(BOUNDS))
    if since is not None and until is not None and since >= until:
        until = None
    kwargs = {
        "window": draw(st.sampled_from(WINDOWS)),
        "order": order,
        "since": None if since is None else BASE + timedelta(seconds=since),
        "until": None if until is None else _stamp(until, "+02:00"),
    }
    if draw(st.booleans()):  # the dashboard's actor filter: entities whose step 1 is by them
        kwargs["start_actors"] = draw(st.sampled_from([["scanner"], ["scanner", "planner"]]))
    if draw(st.booleans()):
        kwargs |= {"breakdown": "payload.plan", "breakdown_limit": draw(st.integers(1, 3))}
        modes = ["first", "all"] if order == "unordered" else ["first", "last", "step:", "all"]
        mode = draw(st.sampled_from(modes))
        if mode == "step:":
            mode += str(draw(st.integers(1, len(steps))))
        kwargs["attribution"] = mode
    if draw(st.booleans()):
        n = len(steps)
        if order == "unordered":
            kwargs["exclude"] = [draw(st.sampled_from(["x", f"x:1-{n}"]))]
        else:
            start = draw(st.integers(1, n - 1))
            ranged = f"x:{start}-{draw(st.integers(start + 1, n))}"
            kwargs["exclude"] = draw(
                st.sampled_from([["x"], [ranged], [ranged, "c"], [f"{steps[0]}:1-{n}"]])
            )
        # x events sharing an instant and entity with other events: ties with the chain's steps
        for i, twin in enumerate(draw(st.lists(st.sampled_from(events), min_size=1, max_size=3))):
            events.append({**twin, "event_id": f"x{i}", "event_type": "x"})
    if order != "unordered" and draw(st.booleans()):
        start = draw(st.integers(1, len(steps) - 1))
        end = draw(st.sampled_from([start + 1, len(steps)]))
        kwargs |= {"time_to_convert": f"{start}:{end}", "bins": draw(st.integers(1, 4))}
    if draw(st.booleans()):
        kwargs |= {
            "trend": draw(st.sampled_from(["day", "week"])),
            "tz": draw(st.sampled_from(ZONES)),
            "as_of": _stamp(draw(st.sampled_from(OFFSETS)) + 86400, "Z"),
        }
    if draw(st.booleans()):
        kwargs |= {
            "dropped_at": draw(st.integers(1, len(steps))),
            "dropped_limit": draw(st.integers(1, 3)),
        }
    heavy = draw(st.sampled_from([sequence.HEAVY_STARTS, 0]))
    return {"events": events, "steps": steps, "kwargs": kwargs, "heavy_starts": heavy}


def _same(actual, expected, context) -> None:
    if expected is None:
        assert actual is None, context
    elif isinstance(expected, datetime):
        assert actual.astimezone(UTC) == expected.astimezone(UTC), context
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert actual == pytest.approx(expected), context
    else:
        assert actual == expected, context


def _same_steps(got: list[dict], want: list[dict], context) -> None:
    assert [s["count"] for s in got] == [s["count"] for s in want], context
    for g, w in zip(got, want, strict=True):
        for key, expected in w.items():
            _same(g.get(key), expected, (key, g, context))


def _compare(result, want: dict, context: dict) -> None:
    got = result.to_dict()
    _same_steps(got["steps"], want["steps"], context)
    if "excluded" in want:
        assert result.excluded == want["excluded"], context
    if "breakdown" in want:
        groups = result.breakdown
        values = [g.value for g in groups]
        assert "Other" not in values[:-1], context  # Other (if any) comes last
        firsts = [g.steps[0].count for g in groups if g.value != "Other"]
        assert firsts == sorted(firsts, reverse=True), context
        by_value = {g["value"]: g["steps"] for g in got["breakdown"]}
        assert sorted(by_value, key=str) == sorted(
            (w["value"] for w in want["breakdown"]), key=str
        ), (
            got["breakdown"],
            want["breakdown"],
            context,
        )
        for w in want["breakdown"]:
            _same_steps(by_value[w["value"]], w["steps"], (w["value"], context))
        assert len(groups) == len(want["breakdown"]), context
    if "time_to_convert" in want:
        t, w = result.time_to_convert, want["time_to_convert"]
        assert (t.from_step, t.to_step, t.entities) == (
            w["from_step"],
            w["to_step"],
            w["entities"],
        ), context
        _same(t.median_seconds, w["median_seconds"], context)
        _same(t.mean_seconds, w["mean_seconds"], context)
        assert len(t.bins) == len(w["bins"]), context
        for b, wb in zip(t.bins, w["bins"], strict=True):
            assert b.start_seconds == pytest.approx(wb["start_seconds"]), context
            assert b.end_seconds == pytest.approx(wb["end_seconds"]), context
            assert b.count == wb["count"], (t, w, context)
    if "trend" in want:
        t, w = result.trend, want["trend"]
        assert (t.interval, t.tz) == (w["interval"], w["tz"]), context
        _same(t.as_of, w["as_of"], context)
        assert len(t.periods) == len(w["periods"]), (t.periods, w["periods"], context)
        for p, wp in zip(t.periods, w["periods"], strict=True):
            for key, expected in wp.items():
                _same(getattr(p, key), expected, (key, p, wp, context))
    if "dropped" in want:
        d, w = result.dropped, want["dropped"]
        assert (d.step, d.event_type, d.next_event_type, d.total) == (
            w["step"],
            w["event_type"],
            w["next_event_type"],
            w["total"],
        ), context
        assert [e.entity for e in d.entities] == [e["entity"] for e in w["entities"]], context
        for e, we in zip(d.entities, w["entities"], strict=True):
            for key, expected in we.items():
                _same(getattr(e, key), expected, (key, e, context))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_extras_match_brute_force(case) -> None:
    with tempfile.TemporaryDirectory() as tmp, heavy_starts(case["heavy_starts"]):
        root = Path(tmp)
        write_lines(root / "events" / "f.jsonl", case["events"])
        result = opdash.funnel(opdash.open(root), case["steps"], **case["kwargs"])
    want = bruteforce_extras.funnel(case["events"], case["steps"], **case["kwargs"])
    _compare(result, want, {"steps": case["steps"], **case["kwargs"]})


def test_entities_without_a_breakdown_value_join_the_one_other_group(tmp_path: Path) -> None:
    """With the limit past them, entities with no value are in Other — one Other, last."""
    plans = ["p", "p", "q", None]
    events = [
        {
            "event_id": f"e{i}",
            "event_type": "c",
            "occurred_at": "2026-10-24T21:30:00Z",
            "correlation": {"workflow_id": f"w{i}"},
            **({"payload": {"plan": plan}} if plan else {}),
        }
        for i, plan in enumerate(plans)
    ]
    write_lines(tmp_path / "events" / "a.jsonl", events)
    result = opdash.funnel(
        opdash.open(tmp_path), ["c"], breakdown="payload.plan", breakdown_limit=1
    )
    assert [(g.value, g.steps[0].count) for g in result.breakdown] == [("p", 2), ("Other", 2)]


def test_mean_times_are_exact_so_the_same_data_gives_the_same_bytes(folder: Path) -> None:
    """Means are an exact sum of microseconds over the count, rounded once: a float average
    changes in its last digits with the order threads add in, and snapshots must not."""
    from fractions import Fraction

    events = []
    for i, gap_us in enumerate((1, 2, 2)):
        events += [
            ev(f"a{i}", "a", 10 * i, f"w{i}"),
            ev(f"b{i}", "b", 10 * i + gap_us / 1e6, f"w{i}"),
        ]
    write_lines(folder / "events/x.jsonl", events)
    result = opdash.funnel(opdash.open(folder), ["a", "b"], time_to_convert="1:2")
    assert result.steps[1].mean_seconds_from_previous == float(Fraction(5, 3_000_000))
    assert result.time_to_convert.mean_seconds == float(Fraction(5, 3_000_000))


def test_the_funnel_view_draws_the_attribution_it_was_given(folder: Path) -> None:
    import html

    import panel as pn

    from opdash.components.funnel import FunnelView

    write_lines(folder / "events" / "f.jsonl", ATTRIBUTION_EVENTS)
    view = FunnelView(opdash.open(folder), steps=["a", "b"], window="1h",
                      breakdown="payload.plan", attribution="all")  # fmt: skip
    result = view.data()
    assert [(g.value, counts(g.steps)) for g in result.breakdown] == [("p", [2, 0]), ("q", [1, 0])]
    layout = view.draw(result)
    text = html.unescape(" ".join(p.object for p in layout.select(pn.pane.HTML)))
    assert "the groups need not add up" in text
    view.attribution = "step:2"
    text = html.unescape(" ".join(p.object for p in view.draw(view.data()).select(pn.pane.HTML)))
    assert "the value on its step-2 event ((none) if it did not reach it)" in text


def test_the_actor_filter_selects_entities_by_their_step_1_or_events_at_every_step(folder):
    """A workflow handed from a scanner to a planner: choosing the scanner keeps it (its step 1
    is the scanner's) unless the filter is set to every step, where the planner's step is gone."""
    import html

    import panel as pn

    from opdash.components.filters import Filters
    from opdash.components.funnel import FunnelView

    scanner, planner = {"id": "scanner"}, {"id": "planner"}
    events = [
        ev("1a", "a", 0, "w1", actor=scanner),
        ev("1b", "b", 10, "w1", actor=planner),
        ev("2a", "a", 0, "w2", actor=planner),
        ev("2b", "b", 10, "w2", actor=scanner),
    ]
    write_lines(folder / "events" / "f.jsonl", events)
    catalog = opdash.open(folder)
    chosen = Filters(actors=["scanner"])
    start = FunnelView(catalog, filters=chosen, steps=["a", "b"], window="1h")
    assert start.actor_filter == "start" and counts(start.data().steps) == [1, 1]  # w1 only
    every = FunnelView(catalog, filters=chosen, steps=["a", "b"], window="1h", actor_filter="every")
    assert counts(every.data().steps) == [1, 0]  # w1's a alone (w2's b has no a before it)
    text = html.unescape(" ".join(p.object for p in start.draw(start.data()).select(pn.pane.HTML)))
    assert "entities whose step 1 is by scanner; later steps by anyone" in text
    result = opdash.funnel(catalog, ["a", "b"], window="1h", start_actors=["scanner"])
    assert counts(result.steps) == [1, 1]
