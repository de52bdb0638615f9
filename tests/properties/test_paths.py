"""Paths: hand cases for each rule of docs/paths.md, one-line errors, and a property test
against tests/bruteforce_paths.py (plain loops over each entity's sorted events) on random
folders with ties, repeats, exclusions, early ends and the top cut."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import opdash
from opdash.cli import main
from opdash.errors import UsageError
from tests import bruteforce_paths
from tests.bruteforce import micros
from tests.fixtures import open_events


def ev(n: int, event_type: str, at: str, wf: str | None, eid: str | None = None) -> dict:
    event = {"event_id": eid or f"e{n:03d}", "event_type": event_type, "occurred_at": at}
    if wf is not None:
        event["correlation"] = {"workflow_id": wf}
    return event


def edges(result) -> list[tuple[str, str, int]]:
    return [(f"{e.from_step}:{e.source}", f"{e.to_step}:{e.target}", e.count) for e in result.edges]


# -- hand cases (the examples of docs/paths.md) ---------------------------------------------------
#: w1 repeats B (one node) and comes back to A; w2 ends early; w3 has an alert between A and B
DOCS = [
    ev(1, "A", "2026-11-02T10:00:00Z", "w1"),
    ev(2, "B", "2026-11-02T10:01:00Z", "w1"),
    ev(3, "B", "2026-11-02T10:02:00Z", "w1"),
    ev(4, "C", "2026-11-02T10:03:00Z", "w1"),
    ev(5, "A", "2026-11-02T10:04:00Z", "w1"),
    ev(6, "A", "2026-11-03T10:00:00Z", "w2"),
    ev(7, "C", "2026-11-03T10:05:00Z", "w2"),
    ev(8, "A", "2026-11-04T10:00:00Z", "w3"),
    ev(9, "alert", "2026-11-04T10:01:00Z", "w3"),
    ev(10, "B", "2026-11-04T10:02:00Z", "w3"),
    ev(11, "C", "2026-11-04T10:03:00Z", "w3"),
    ev(12, "B", "2026-11-04T10:04:00Z", None),  # no workflow: in no path
]


def test_repeats_collapse_and_paths_may_end_early(tmp_path) -> None:
    """w1: A B(B) C A; w2: A C (ends at its second node); w3: A alert B C."""
    r = opdash.paths(open_events(tmp_path, DOCS), start="A")
    assert r.entities == 3
    assert edges(r) == [
        ("1:A", "2:B", 1),
        ("1:A", "2:C", 1),
        ("1:A", "2:alert", 1),
        ("2:B", "3:C", 1),
        ("2:alert", "3:B", 1),
        ("3:B", "4:C", 1),
        ("3:C", "4:A", 1),
    ]  # equal counts: by step, then from, then to


def test_exclude_drops_a_type_before_paths_are_built(tmp_path) -> None:
    """Without the alert, w3's B follows its A: w1 and w3 take 1:A → 2:B → 3:C."""
    r = opdash.paths(open_events(tmp_path, DOCS), start="A", exclude=["alert"])
    assert edges(r)[:2] == [("1:A", "2:B", 2), ("2:B", "3:C", 2)]


def test_steps_cut_each_path(tmp_path) -> None:
    r = opdash.paths(open_events(tmp_path, DOCS), start="A", steps=2)
    assert edges(r) == [("1:A", "2:B", 1), ("1:A", "2:C", 1), ("1:A", "2:alert", 1)]


def test_end_paths_lead_to_the_first_end_event_numbered_from_their_first_node(tmp_path) -> None:
    r = opdash.paths(open_events(tmp_path, DOCS), end="C", steps=3)
    assert r.entities == 3
    assert edges(r) == [
        ("2:B", "3:C", 2),  # w1: A B(B) C; w3: alert B C
        ("1:A", "2:B", 1),
        ("1:A", "2:C", 1),  # w2: A C, a path of two nodes
        ("1:alert", "2:B", 1),
    ]


def test_top_keeps_the_most_taken_edges_and_counts_the_rest(tmp_path) -> None:
    r = opdash.paths(open_events(tmp_path, DOCS), start="A", exclude=["alert"], top=2)
    assert edges(r) == [("1:A", "2:B", 2), ("2:B", "3:C", 2)]
    assert r.dropped_edges == 2  # 1:A → 2:C (w2) and 3:C → 4:A (w1)
    assert r.to_dict()["dropped_edges"] == r.dropped_edges


def test_at_one_instant_the_anchor_type_comes_first_then_the_event_id(tmp_path) -> None:
    """z's B shares A's instant and has a smaller id: it still follows the anchor."""
    events = [
        ev(1, "B", "2026-11-02T10:00:00Z", "w", eid="a1"),
        ev(2, "A", "2026-11-02T10:00:00Z", "w", eid="z9"),
        ev(3, "C", "2026-11-02T10:00:00Z", "w", eid="b2"),
    ]
    r = opdash.paths(open_events(tmp_path, events), start="A")
    assert edges(r) == [("1:A", "2:B", 1), ("2:B", "3:C", 1)]


def test_since_and_until_bound_the_anchor(tmp_path) -> None:
    """From 10:03 on 2 Nov, w1's anchor is its second A (10:04), its last event: a path of one
    node, with no edge. w2's and w3's first A are inside."""
    r = opdash.paths(open_events(tmp_path, DOCS), start="A", since="2026-11-02T10:03:00Z")
    assert r.entities == 3
    assert edges(r) == [("1:A", "2:C", 1), ("1:A", "2:alert", 1), ("2:alert", "3:B", 1),
                        ("3:B", "4:C", 1)]  # fmt: skip
    r = opdash.paths(open_events(tmp_path, DOCS), start="A", until="2026-11-03T00:00:00Z")
    assert r.entities == 1


def test_a_node_lists_its_entities_newest_first(tmp_path) -> None:
    total, listed = opdash.path_entities(open_events(tmp_path, DOCS), 3, "C", start="A")
    assert total == 1 and [e.entity for e in listed] == ["w1"]
    total, listed = opdash.path_entities(open_events(tmp_path, DOCS), 1, "A", start="A")
    assert total == 3 and [e.entity for e in listed] == ["w3", "w2", "w1"]
    assert listed[0].reached_at == datetime(2026, 11, 4, 10, tzinfo=UTC)


def test_the_json_has_entities_edges_and_dropped_edges(tmp_path, capsys) -> None:
    open_events(tmp_path, DOCS)
    code = main(["paths", str(tmp_path), "--start", "A", "--top", "1", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["entities"] == 3 and data["dropped_edges"] == 6
    assert data["edges"] == [{"from_step": 1, "from": "A", "to_step": 2, "to": "B", "count": 1}]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--start", "AA"], "'AA' never occurs"),
        (["--start", "A", "--steps", "1"], "bad steps '1'"),
        (["--start", "A", "--steps", "x"], "bad steps 'x'"),
        (["--start", "A", "--exclude", "A"], "exclude 'A' is the start event"),
        (["--start", "A", "--exclude", "alrt"], "'alrt' never occurs"),
        (["--start", "A", "--since", "2027-01-01"], "outside the data"),
        (["--start", "A", "--since", "2026-13-01"], "bad since"),
        (["--start", "A", "--node", "7:A"], "bad node '7:A'"),
        (["--start", "A", "--top", "0"], "'0' must be at least 1"),
        (["--start", "A", "--end", "C"], "not allowed with"),
    ],
)
def test_bad_settings_are_one_line_with_exit_2(tmp_path, capsys, args, named) -> None:
    open_events(tmp_path, DOCS)
    try:
        code = main(["paths", str(tmp_path), *args])
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and named in err and err.strip().count("\n") == 0, err


# -- against the brute force ----------------------------------------------------------------------
BASE = datetime(2026, 11, 2, 10, tzinfo=UTC)
TYPES = ["A", "A", "B", "B", "C", "x"]


@st.composite
def cases(draw):
    events = []
    for n in range(draw(st.integers(1, 40))):
        t = BASE + timedelta(minutes=draw(st.integers(0, 12)))  # few instants: many ties
        events.append(
            ev(n, draw(st.sampled_from(TYPES)), t.isoformat().replace("+00:00", "Z"),
               draw(st.sampled_from(["w1", "w2", "w3", "w4", None])),
               eid=f"{draw(st.sampled_from('abcdef'))}{n:02d}")
        )  # fmt: skip
    kinds = sorted({e["event_type"] for e in events})
    anchor = draw(st.sampled_from(["start", "end"]))
    event_type = draw(st.sampled_from(kinds))
    others = [k for k in kinds if k != event_type]
    exclude = tuple(draw(st.lists(st.sampled_from(others), max_size=1))) if others else ()
    since = draw(st.sampled_from([None, BASE + timedelta(minutes=4)]))
    until = draw(st.sampled_from([None, BASE + timedelta(minutes=9)]))
    options = {
        "anchor": anchor,
        "event_type": event_type,
        "steps": draw(st.integers(2, 6)),
        "exclude": exclude,
        "since": since,
        "until": until,
        "top": draw(st.integers(1, 12)),
    }
    return events, options


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(cases())
def test_paths_equal_the_brute_force(case) -> None:
    events, o = case
    with tempfile.TemporaryDirectory() as tmp:
        catalog = open_events(Path(tmp), events)
        ask = {
            o["anchor"]: o["event_type"],
            "steps": o["steps"],
            "exclude": list(o["exclude"]),
            "since": o["since"],
            "until": o["until"],
        }
        times = [micros(e["occurred_at"]) for e in events]
        if (o["since"] and micros(o["since"]) > max(times)) or (
            o["until"] and micros(o["until"]) <= min(times)
        ):
            with pytest.raises(UsageError, match="outside the data"):
                opdash.paths(catalog, top=o["top"], **ask)
            return
        got = opdash.paths(catalog, top=o["top"], **ask).to_dict()
        brute_settings = {
            "anchor": o["anchor"],
            "event_type": o["event_type"],
            "by": "correlation.workflow_id",
            "steps": o["steps"],
            "exclude": o["exclude"],
            "since": micros(o["since"]) if o["since"] else None,
            "until": micros(o["until"]) if o["until"] else None,
        }
        want = bruteforce_paths.paths(events, top=o["top"], **brute_settings)
        assert {k: got[k] for k in want} == want
        for edge in want["edges"][:2]:
            total, listed = opdash.path_entities(
                catalog, edge["from_step"], edge["from"], limit=3, **ask
            )
            expected = bruteforce_paths.through(
                events, edge["from_step"], edge["from"], **brute_settings
            )
            assert total == len(expected)
            newest = sorted(expected, key=lambda te: (-te[0], te[1]))[:3]
            assert [e.entity for e in listed] == [ent for _, ent in newest]
