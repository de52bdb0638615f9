"""Funnels: exact numbers for every documented rule, then a property test against a brute force.

Why: a funnel is a headline number that users act on. Each rule of its definition (entity, tie
order, inclusive window, best of attempts, strict adjacency, unordered windows, date range,
chosen-chain timings) gets a hand-made case with the expected counts worked out by hand, and
tests/bruteforce.py (plain loops, written from the definitions alone) is compared with opdash on
random small folders where ties, window edges and time-zone offsets are frequent.
"""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import opdash
from opdash.errors import UsageError
from opdash.metrics import sequence
from tests import bruteforce
from tests.fixtures import T0, ev, heavy_starts, write_lines


def run(folder: Path, events: list[dict], steps, **kwargs):
    write_lines(folder / "events" / "f.jsonl", events)
    return opdash.funnel(opdash.open(folder), steps, **kwargs)


def counts(result) -> list[int]:
    return [s.count for s in result.steps]


def medians(result) -> list[float | None]:
    return [s.median_seconds_from_previous for s in result.steps]


def means(result) -> list[float | None]:
    return [s.mean_seconds_from_previous for s in result.steps]


# -- order of events at equal timestamps -------------------------------------------------------


def test_ties_sort_by_funnel_step_before_event_id(folder: Path) -> None:
    events = [
        # w1: all at the same instant, event ids in the reverse of the funnel order
        ev("e1", "c", 0, "w1"),
        ev("e2", "b", 0, "w1"),
        ev("e3", "a", 0, "w1"),
        # w2: a and b tie, c a minute later
        ev("f9", "a", 0, "w2"),
        ev("f1", "b", 0, "w2"),
        ev("f5", "c", 60, "w2"),
    ]
    result = run(folder, events, ["a", "b", "c"])
    assert counts(result) == [2, 2, 2]
    assert medians(result) == [None, 0.0, 30.0]
    assert means(result) == [None, 0.0, 30.0]


def test_type_listed_twice_ranks_by_its_first_position(folder: Path) -> None:
    events = [
        ev("z1", "a", 0, "w1"),
        ev("a1", "b", 0, "w1"),  # one a: a→b and no a left for step 3
        ev("a2", "b", 0, "w2"),
        ev("z2", "a", 0, "w2"),
        ev("z3", "a", 0, "w2"),  # a, a, b: tied, so ordered takes z2, a2, z3
        ev("z4", "a", 0, "w3"),
        ev("a4", "b", 0, "w3"),
        ev("z5", "a", 10, "w3"),  # a, b, a
    ]
    ordered = run(folder, events, ["a", "b", "a"])
    assert counts(ordered) == [3, 3, 2]
    assert medians(ordered) == [None, 0.0, 5.0]  # step 3: w2 0 s, w3 10 s
    strict = opdash.funnel(opdash.open(folder), ["a", "b", "a"], order="strict")
    # strict keeps one order of tied events (a before b): w2 is a, a, b and converts to b only
    assert counts(strict) == [3, 3, 1]
    assert [s.conversion_from_previous for s in strict.steps] == [1.0, 1.0, pytest.approx(1 / 3)]


# -- ties fill steps in either order (ordered funnels, as PostHog) ------------------------------

TIE_EVENTS = [
    # w1: A, B, A, B all at one instant, ids in funnel order
    ev("1a", "A", 0, "w1"),
    ev("1b", "B", 0, "w1"),
    ev("1c", "A", 0, "w1"),
    ev("1d", "B", 0, "w1"),
    # w2: the same, ids in the reverse of the funnel order
    ev("2d", "A", 0, "w2"),
    ev("2c", "B", 0, "w2"),
    ev("2b", "A", 0, "w2"),
    ev("2a", "B", 0, "w2"),
    # w3: one event cannot fill two steps: A, B tied, nothing else
    ev("3a", "A", 0, "w3"),
    ev("3b", "B", 0, "w3"),
    # w4: B tied with the second A, which comes 5 s after the first
    ev("4a", "A", 0, "w4"),
    ev("4b", "B", 5, "w4"),
    ev("4c", "A", 5, "w4"),
    ev("4d", "B", 9, "w4"),
    # w5: a step before the start's instant is never taken
    ev("5b", "B", -1, "w5"),
    ev("5a", "A", 0, "w5"),
    ev("5c", "A", 0, "w5"),
]


@pytest.mark.parametrize("heavy", [sequence.HEAVY_STARTS, 0], ids=["rounds", "sorted"])
def test_tied_events_fill_steps_in_either_order_each_once(folder: Path, heavy: int) -> None:
    with heavy_starts(heavy):
        result = run(folder, TIE_EVENTS, ["A", "B", "A", "B"])
    # w1, w2: complete; w3: A, B; w4: A 0, B 5, A 5, B 9; w5: A 0, no B at or after 0
    assert counts(result) == [5, 4, 3, 3]
    assert medians(result) == [None, 0.0, 0.0, 0.0]  # step 4: w1 0, w2 0, w4 4
    assert means(result) == [None, pytest.approx(5 / 4), 0.0, pytest.approx(4 / 3)]
    strict = opdash.funnel(opdash.open(folder), ["A", "B", "A", "B"], order="strict")
    # strict keeps one order of tied events (A before B, then ids): w1 is A A B B, so only its
    # second A reaches B; w4 is A, then A B at 5, then B: its second A reaches one B
    assert counts(strict) == [5, 4, 0, 0]
    assert brute(folder, ["A", "B", "A", "B"]) == counts(result)


@pytest.mark.parametrize("heavy", [sequence.HEAVY_STARTS, 0], ids=["rounds", "sorted"])
def test_a_tied_start_can_be_taken_after_by_a_later_step(folder: Path, heavy: int) -> None:
    # steps a, b, a: the chain from z2 takes b then z1 (tied with z2, smaller id)
    events = [ev("z2", "a", 0, "w1"), ev("z1", "a", 0, "w1"), ev("y", "b", 0, "w1")]
    with heavy_starts(heavy):
        result = run(folder, events, ["a", "b", "a"], since=T0.isoformat())
        assert counts(result) == [1, 1, 1]
        # the chosen chain starts at z1 (the earlier id), then b, then z2
        dropped = opdash.funnel(opdash.open(folder), ["a", "b", "a", "b"], dropped_at=3)
    assert [e.entity for e in dropped.dropped.entities] == ["w1"]
    assert [s.count for s in dropped.steps] == [1, 1, 1, 0]


def test_the_tie_table_of_docs_metrics(folder: Path) -> None:
    events = [
        *[ev("z1", "a", 0, "w1"), ev("y1", "b", 0, "w1")],
        *[ev("y2", "b", 0, "w2"), ev("z2", "a", 0, "w2"), ev("z3", "a", 0, "w2")],
        *[ev("z4", "a", 0, "w3"), ev("y4", "b", 5, "w3"), ev("z5", "a", 5, "w3")],
        *[ev("y6", "b", -1, "w4"), ev("z6", "a", 0, "w4"), ev("z7", "a", 0, "w4")],
    ]
    ordered, strict = {}, {}
    for wf in ("w1", "w2", "w3", "w4"):
        mine = [e for e in events if e["correlation"]["workflow_id"] == wf]
        ordered[wf] = sum(counts(run(folder, mine, ["a", "b", "a"])))
        strict[wf] = sum(counts(run(folder, mine, ["a", "b", "a"], order="strict")))
    assert ordered == {"w1": 2, "w2": 3, "w3": 3, "w4": 1}
    # strict keeps the order a, a, b at w2's instant; w3's b (rank 1) sorts after its a at 5
    assert strict == {"w1": 2, "w2": 2, "w3": 2, "w4": 1}


def brute(folder: Path, steps: list[str]) -> list[int]:
    lines = (folder / "events" / "f.jsonl").read_text().splitlines()
    answer = bruteforce.funnel([json.loads(line) for line in lines], steps)
    return [s["count"] for s in answer["steps"]]


# -- window ------------------------------------------------------------------------------------

WINDOW_EVENTS = [
    ev("1a", "a", 0, "w1"),
    ev("1b", "b", 3600, "w1"),  # exactly one window: counts
    ev("2a", "a", 0, "w2"),
    ev("2b", "b", 3601, "w2"),  # one second over: does not
    ev("3a", "a", 0, "w3"),
    ev("3b", "b", 1800, "w3"),
    ev("3c", "c", 3600, "w3"),
    ev("4a", "a", 0, "w4"),
    ev("4b", "b", 100, "w4"),
    ev("4c", "c", 3601, "w4"),
]


@pytest.mark.parametrize("window", ["1h", "60m", "3600s", 3600])
@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
def test_window_is_inclusive_and_measured_from_step_one(folder: Path, window, order) -> None:
    result = run(folder, WINDOW_EVENTS, ["a", "b", "c"], window=window, order=order)
    assert result.window_seconds == 3600
    # unordered w2: no window holds both a@0 and b@3601; w4: window at b@100 holds b and c
    assert counts(result) == [4, 3, 1]


def test_window_one_second_over_fails_for_step_three(folder: Path) -> None:
    result = run(folder, WINDOW_EVENTS, ["a", "b", "c"], window="3601s")
    assert counts(result) == [4, 4, 2]


# -- best of attempts and the chosen chain ------------------------------------------------------


def test_best_of_attempts_and_timings_on_the_chosen_chain(folder: Path) -> None:
    events = [
        # w1: a@0 reaches b@5 but c@150 is out of window; a@100 reaches all three (30s, 20s)
        ev("1a", "a", 0, "w1"),
        ev("1b", "b", 5, "w1"),
        ev("1a2", "a", 100, "w1"),
        ev("1b2", "b", 130, "w1"),
        ev("1c", "c", 150, "w1"),
        # w2: the first attempt reaches level 2 (40s), the later one adds nothing
        ev("2a", "a", 0, "w2"),
        ev("2b", "b", 40, "w2"),
        ev("2a2", "a", 1000, "w2"),
        # w3: a failed first attempt does not hide a later success (10s)
        ev("3a", "a", 0, "w3"),
        ev("3a2", "a", 500, "w3"),
        ev("3b", "b", 510, "w3"),
        # w4: both a's reach level 2: the earliest is chosen (20s, not 10s)
        ev("4a", "a", 0, "w4"),
        ev("4a2", "a", 10, "w4"),
        ev("4b", "b", 20, "w4"),
        # w5: the earliest b after a is chosen (50s), then c (20s)
        ev("5a", "a", 0, "w5"),
        ev("5b", "b", 50, "w5"),
        ev("5b2", "b", 60, "w5"),
        ev("5c", "c", 70, "w5"),
    ]
    result = run(folder, events, ["a", "b", "c"], window="100s")
    assert counts(result) == [5, 5, 2]
    assert medians(result) == [None, 30.0, 20.0]  # step 2 gaps: 30, 40, 10, 20, 50
    assert means(result) == [None, pytest.approx(30.0), pytest.approx(20.0)]
    assert [s.conversion_from_previous for s in result.steps] == [1.0, 1.0, 0.4]
    assert [s.conversion_from_start for s in result.steps] == [1.0, 1.0, 0.4]


def test_median_of_an_even_count_is_the_mean_of_the_middle_two(folder: Path) -> None:
    gaps = {"w1": 10, "w2": 20, "w3": 40, "w4": 100}
    events = []
    for wf, gap in gaps.items():
        events += [ev(f"{wf}a", "a", 0, wf), ev(f"{wf}b", "b", gap, wf)]
    events += [ev("w5a", "a", 0, "w5")]  # level 1: no gap
    result = run(folder, events, ["a", "b"])
    assert counts(result) == [5, 4]
    assert medians(result) == [None, 30.0]
    assert means(result) == [None, 42.5]


# -- strict ------------------------------------------------------------------------------------


def test_strict_is_broken_by_an_intervening_event(folder: Path) -> None:
    events = [
        ev("1a", "a", 0, "w1"),
        ev("1x", "x", 10, "w1"),
        ev("1b", "b", 20, "w1"),
        # w2: events between a and b with a null entity or another entity do not count
        ev("2a", "a", 0, "w2"),
        ev("nx", "x", 10, None),
        ev("3x", "x", 10, "w3"),
        ev("2b", "b", 20, "w2"),
        # w4: a, a, b: strict converts from the second a
        ev("4a", "a", 0, "w4"),
        ev("4a2", "a", 5, "w4"),
        ev("4b", "b", 10, "w4"),
        # w5: a non-step event at the same instant sorts after the step events
        ev("0", "x", 0, "w5"),
        ev("5a", "a", 0, "w5"),
        ev("5b", "b", 0, "w5"),
    ]
    write_lines(folder / "events" / "f.jsonl", events)
    cat = opdash.open(folder)
    ordered = opdash.funnel(cat, ["a", "b"], order="ordered")
    strict = opdash.funnel(cat, ["a", "b"], order="strict")
    assert counts(ordered) == [4, 4]
    assert counts(strict) == [4, 3]
    assert medians(ordered) == [None, 15.0]  # gaps 20, 20, 10, 0
    assert means(ordered) == [None, 12.5]
    assert medians(strict) == [None, 5.0]  # gaps 20, 5, 0
    assert means(strict) == [None, pytest.approx(25 / 3)]
    assert strict.steps[1].conversion_from_previous == 0.75


# -- unordered ---------------------------------------------------------------------------------


def test_unordered_counts_distinct_steps_in_one_window(folder: Path) -> None:
    events = [
        ev("1c", "c", 0, "w1"),
        ev("1b", "b", 10, "w1"),
        ev("1a", "a", 20, "w1"),  # 3
        ev("2b", "b", 0, "w2"),
        ev("2a", "a", 7200, "w2"),  # 1
        ev("3a", "a", 0, "w3"),
        ev("3c", "c", 3600, "w3"),  # 2 (inclusive)
        ev("4b", "b", 0, "w4"),
        ev("4a", "a", 3600, "w4"),
        ev("4c", "c", 3601, "w4"),  # 2
        ev("5x", "x", 0, "w5"),  # never enters
        ev("6c", "c", 0, "w6"),
        ev("6c2", "c", 10, "w6"),  # 1: steps are distinct
    ]
    result = run(folder, events, ["a", "b", "c"], window="1h", order="unordered")
    assert counts(result) == [5, 3, 1]
    assert [s.conversion_from_previous for s in result.steps] == [1.0, 0.6, pytest.approx(1 / 3)]
    assert medians(result) == [None, None, None]
    as_dict = result.to_dict()
    assert as_dict["order"] == "unordered"
    assert all("median_seconds_from_previous" not in s for s in as_dict["steps"])


# -- date range --------------------------------------------------------------------------------

RANGE_EVENTS = [
    ev("1a", "a", 3600, "w1"),
    ev("1b", "b", 3 * 3600, "w1"),  # b after until still counts
    ev("2a", "a", 7200, "w2"),
    ev("2b", "b", 7201, "w2"),  # a at until: excluded
    ev("3a", "a", -1, "w3"),
    ev("3b", "b", 10, "w3"),  # a before since: excluded
    ev("4a", "a", -600, "w4"),
    ev("4a2", "a", 600, "w4"),
    ev("4b", "b", 700, "w4"),
    ev("5a", "a", 0, "w5"),
    ev("5b", "b", 6 * 3600 + 1, "w5"),  # a at since: in; b too late
]


def test_since_until_bound_step_one_only(folder: Path) -> None:
    write_lines(folder / "events" / "f.jsonl", RANGE_EVENTS)
    cat = opdash.open(folder)
    since, until = "2026-11-20T10:00:00+01:00", T0 + timedelta(hours=2)  # since == T0
    result = opdash.funnel(cat, ["a", "b"], window="6h", since=since, until=until)
    assert counts(result) == [3, 2]
    assert medians(result) == [None, 3650.0]  # w1 7200s, w4 100s (from its in-range a)
    assert result.since == T0 and result.until == until
    assert result.to_dict()["since"] == T0.isoformat()
    strict = opdash.funnel(cat, ["a", "b"], window="6h", order="strict", since=since, until=until)
    assert counts(strict) == [3, 2]
    unordered = opdash.funnel(
        cat, ["a", "b"], window="6h", order="unordered", since=T0, until=until
    )
    # w3 enters through b@10 (its a@-1 starts no window); w2's events are all at/after until
    assert counts(unordered) == [4, 2]


# -- entities ----------------------------------------------------------------------------------


def test_null_entities_are_ignored(folder: Path) -> None:
    events = [
        ev("1a", "a", 0, "w1"),
        ev("1b", "b", 10, "w1"),
        ev("na", "a", 0, None),
        ev("nb", "b", 10, None),
        {**ev("xa", "a", 0, None), "correlation": {"workflow_id": None}},
        {**ev("xb", "b", 5, None), "correlation": {"parent_event_id": "1a"}},
    ]
    for order in ("ordered", "strict", "unordered"):
        result = run(folder, events, ["a", "b"], order=order)
        assert counts(result) == [1, 1], order


def test_by_actor_id_and_payload_key(folder: Path) -> None:
    events = [
        ev("e1", "a", 0, "w1", actor={"type": "user", "id": "u1"}, payload={"symbol": "AAPL"}),
        ev("e2", "b", 10, "w2", actor={"type": "user", "id": "u1"}, payload={"symbol": "AAPL"}),
        ev("e3", "a", 20, "w1", actor={"type": "user", "id": "u2"}, payload={"symbol": "MSFT"}),
        ev("e4", "a", 30, "w3", payload={"symbol": None}),
        ev("e5", "b", 40, "w3", actor={"type": "bot"}, payload={"qty": 1}),
        ev("e6", "b", 50, "w1", actor={"type": "user", "id": "u3"}),
    ]
    write_lines(folder / "events" / "f.jsonl", events)
    cat = opdash.open(folder)
    assert counts(opdash.funnel(cat, ["a", "b"])) == [2, 2]  # w1: a→b, w3: a→b
    by_actor = opdash.funnel(cat, ["a", "b"], by="actor.id")
    assert counts(by_actor) == [2, 1]  # u1: a→b; u2: a
    assert by_actor.by == "actor.id" and by_actor.to_dict()["by"] == "actor.id"
    assert medians(by_actor) == [None, 10.0]
    by_symbol = opdash.funnel(cat, ["a", "b"], by="payload.symbol")
    assert counts(by_symbol) == [2, 1]  # AAPL: a→b; MSFT: a; null symbol ignored
    assert counts(opdash.funnel(cat, ["a", "b"], by="payload.nothing")) == [0, 0]


# -- missing steps, result shape, bad arguments -----------------------------------------------


def test_missing_step_type(folder: Path) -> None:
    events = [ev("1a", "a", 0, "w1"), ev("2a", "a", 0, "w2"), ev("2b", "b", 1, "w2")]
    write_lines(folder / "events" / "f.jsonl", events)
    cat = opdash.open(folder)
    tail = opdash.funnel(cat, ["a", "zzz"])
    assert counts(tail) == [2, 0]
    assert [s.conversion_from_previous for s in tail.steps] == [1.0, 0.0]
    assert [s.conversion_from_start for s in tail.steps] == [1.0, 0.0]
    assert medians(tail) == [None, None]
    assert tail.missing_event_types == ["zzz"]
    head = opdash.funnel(cat, ["zzz", "a", "yyy", "zzz"])
    assert counts(head) == [0, 0, 0, 0]
    assert [s.conversion_from_previous for s in head.steps] == [None] * 4
    assert [s.conversion_from_start for s in head.steps] == [None] * 4
    assert head.to_dict()["missing_event_types"] == ["zzz", "yyy"]
    assert head.to_dict()["entities"] == 0
    assert opdash.funnel(cat, ["a", "b"]).missing_event_types == []


def test_to_dict_shape(folder: Path) -> None:
    result = run(folder, [ev("1a", "a", 0), ev("1b", "b", 7)], ["a", "b"])
    d = result.to_dict()
    assert set(d) == {
        "steps",
        "order",
        "window_seconds",
        "entities",
        "by",
        "since",
        "until",
        "missing_event_types",
    }
    assert (d["order"], d["window_seconds"], d["entities"]) == ("ordered", 14 * 86400, 1)
    assert (d["by"], d["since"], d["until"]) == ("correlation.workflow_id", None, None)
    assert d["steps"][1] == {
        "step": 2,
        "event_type": "b",
        "count": 1,
        "conversion_from_previous": 1.0,
        "conversion_from_start": 1.0,
        "median_seconds_from_previous": 7.0,
        "mean_seconds_from_previous": 7.0,
    }
    assert json.loads(json.dumps(d)) == d


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": "1x"},
        {"window": "0d"},
        {"window": "-1h"},
        {"window": ""},
        {"order": "sideways"},
        {"by": "actr.id"},
        {"by": "payload."},
        {"since": "2026-11-20", "until": "2026-11-20"},
        {"since": "2026-11-21", "until": "2026-11-20T23:00:00Z"},
        {"since": "not a date"},
        {"order": "unordered", "steps": ["a", "b", "a"]},
        {"steps": []},
        {"steps": ["a", ""]},
    ],
)
def test_bad_arguments_raise_usage_error(folder: Path, kwargs) -> None:
    write_lines(folder / "events" / "f.jsonl", [ev("1a", "a")])
    cat = opdash.open(folder)
    steps = kwargs.pop("steps", ["a", "b"])
    with pytest.raises(UsageError):
        opdash.funnel(cat, steps, **kwargs)


# -- property test against the brute force ------------------------------------------------------

# Small pools so that ties, exact window edges and bounds equal to event times are frequent.
TIMES = [0, 0, 0, 30, 60, 60, 90, 120.5, 3600, 3630]
TYPES = ["a", "b", "c", "d"]
WINDOWS = ["30s", "1m", "90s", "1h", "2h"]
BYS = ["correlation.workflow_id", "actor.id", "payload.symbol"]
BOUNDS = [None, None, None, None, -5, 0, 30, 60, 90, 3600, 7300]


def _stamp(seconds: float, style: str) -> str:
    moment = T0 + timedelta(seconds=seconds)
    if style == "+02:00":
        return (moment + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"
    if style == "naive":
        return moment.replace(tzinfo=None).isoformat()
    return moment.isoformat().replace("+00:00", "Z")


def _place(entity: str | None, by: str, how: str) -> dict:
    """Envelope keys that put ``entity`` at path ``by`` (null written as null or left out)."""
    if entity is None and how == "omit":
        return {}
    root, key = by.split(".")
    return {root: {key: entity, **({"type": "user"} if root == "actor" else {})}}


@st.composite
def scenarios(draw):
    types = TYPES[: draw(st.integers(3, 4))]
    named = draw(st.lists(st.sampled_from(["w1", "w2", "w3"]), min_size=1, max_size=3, unique=True))
    by = draw(st.sampled_from(BYS))
    n = draw(st.integers(6, 16))
    ids = draw(st.permutations(range(n)))
    events = []
    for i in range(n):
        # most events go to the first entity (long sequences), some have a null entity
        entity = draw(st.sampled_from([named[0], named[0], *named, None]))
        event = {
            "event_id": f"e{ids[i]:02d}",
            "event_type": draw(st.sampled_from([*types[:3], *types, "x"])),  # x: never a step
            "occurred_at": _stamp(
                draw(st.sampled_from(TIMES)), draw(st.sampled_from(["Z", "+02:00", "naive"]))
            ),
            **_place(entity, by, draw(st.sampled_from(["null", "omit"]))),
        }
        if events and draw(st.integers(0, 5)) == 0:
            # a repeated id with other contents: only the first seen (reading order) counts
            event["event_id"] = draw(st.sampled_from(events))["event_id"]
        events.append(event)
    since, until = draw(st.sampled_from(BOUNDS)), draw(st.sampled_from(BOUNDS))
    if since is not None and until is not None and since >= until:
        until = None
    return {
        "events": events,
        "split": draw(st.integers(0, n)),  # events written into two files
        "by": by,
        "window": draw(st.sampled_from(WINDOWS)),
        "since": None if since is None else T0 + timedelta(seconds=since),
        "until": None if until is None else _stamp(until, "+02:00"),
        "steps": draw(st.lists(st.sampled_from(types[:3]), min_size=2, max_size=4)),
        "distinct_steps": draw(
            st.lists(st.sampled_from(types), min_size=2, max_size=4, unique=True)
        ),
        # ordered chains: join rounds (entities with few starts) or the sorted path (0: all)
        "heavy_starts": draw(st.sampled_from([sequence.HEAVY_STARTS, 0])),
    }


def _compare(got: dict, want: dict, context: dict) -> None:
    assert [s["count"] for s in got["steps"]] == [s["count"] for s in want["steps"]], context
    assert got["entities"] == want["entities"], context
    for g, w in zip(got["steps"], want["steps"], strict=True):
        for key in (
            "conversion_from_previous",
            "conversion_from_start",
            "median_seconds_from_previous",
            "mean_seconds_from_previous",
        ):
            expected = w[key]
            actual = g.get(key)
            if expected is None:
                assert actual is None, (key, g, context)
            else:
                assert actual == pytest.approx(expected), (key, g, context)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_funnel_matches_brute_force(case) -> None:
    with tempfile.TemporaryDirectory() as tmp, heavy_starts(case["heavy_starts"]):
        root = Path(tmp)
        events, split = case["events"], case["split"]
        write_lines(root / "events" / "part-1.jsonl", events[:split])
        write_lines(root / "events" / "date=2026-11-20" / "part-2.jsonl", events[split:])
        cat = opdash.open(root)
        # reading order is by path: date=2026-11-20/part-2.jsonl before part-1.jsonl
        seen: set[str] = set()
        events = [
            e
            for e in [*events[split:], *events[:split]]
            if not (e["event_id"] in seen or seen.add(e["event_id"]))
        ]
        common = {
            "window": case["window"],
            "by": case["by"],
            "since": case["since"],
            "until": case["until"],
        }
        for order, steps in (
            ("ordered", case["steps"]),
            ("strict", case["steps"]),
            ("unordered", case["distinct_steps"]),
        ):
            got = opdash.funnel(cat, steps, order=order, **common).to_dict()
            want = bruteforce.funnel(events, steps, order=order, **common)
            _compare(got, want, {"order": order, "steps": steps, **common})
        # other date ranges over the same catalog reuse its chains (computed once per version)
        for since, until in ((None, None), (0, 7300), (30, None), (-5, 90)):
            ranged = {
                **common,
                "since": None if since is None else T0 + timedelta(seconds=since),
                "until": None if until is None else _stamp(until, "+02:00"),
            }
            for order in ("ordered", "strict"):
                got = opdash.funnel(cat, case["steps"], order=order, **ranged).to_dict()
                want = bruteforce.funnel(events, case["steps"], order=order, **ranged)
                _compare(got, want, {"order": order, "steps": case["steps"], **ranged})
