"""Today: exact counts, loop rates, pending tasks, open alerts and the latest insight on a hand-made
folder; the local-day boundary; the demo; the command; and a property test against
tests/bruteforce_goals.py.

Why: "today" is the first screen an operator reads. Every definition (local midnight in a zone,
inclusive as-of, task identity, a decision after as-of not yet counting, an alert resolved after
as-of still open) gets a case whose numbers were worked out by hand.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import opdash
from opdash.commands import today as today_cmd
from opdash.errors import UsageError
from opdash.metrics.today import LOOP_TYPES, today
from tests import bruteforce_goals as bf
from tests.fixtures import DEMO, write_lines
from tests.fixtures import at as iso
from tests.fixtures import ev as e

AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 13:00 in Berlin
BERLIN_MIDNIGHT = datetime(2026, 11, 19, 23, 0, tzinfo=UTC)


def alert(alert_id: str, severity: str, raised: datetime, resolved: datetime | None) -> dict:
    return {
        "alert_id": alert_id,
        "severity": severity,
        "title": f"alert {alert_id}",
        "raised_at": iso(raised),
        "resolved_at": iso(resolved) if resolved else None,
    }


def make_folder(root: Path, events: list[dict], alerts: list[dict]) -> Path:
    (root / "events").mkdir(parents=True, exist_ok=True)
    write_lines(root / "events" / "x.jsonl", events)
    if alerts:
        write_lines(root / "runs" / "r1" / "alerts.jsonl", alerts)
    return root


def day(hours: float) -> datetime:
    """``hours`` after Berlin's midnight of 2026-11-20."""
    return BERLIN_MIDNIGHT + timedelta(hours=hours)


def task(event_id, event_type, when, task_id=None, entity=None, title=None) -> dict:
    payload = {}
    if task_id is not None:
        payload["task_id"] = task_id
    if title is not None:
        payload["title"] = title
    more = {"payload": payload}
    if entity is not None:
        more["entity"] = {"type": "task", "id": entity}
    return e(event_id, event_type, when, **more)


HAND_EVENTS = [
    e("s1", "signal.created", day(-0.5)),  # 23:30 in Berlin the day before: not today
    e("s2", "signal.created", day(0)),  # Berlin midnight: today
    e("s3", "signal.created", day(2)),
    e("s4", "signal.created", day(3)),
    e("s5", "signal.created", AS_OF),  # exactly as-of: counted
    e("s6", "signal.created", AS_OF + timedelta(seconds=1)),  # after as-of: not yet
    *(e(f"c{i}", "candidate.created", day(4)) for i in range(3)),
    *(e(f"p{i}", "trade.plan.created", day(5)) for i in range(3)),
    e("x1", "trade.closed", day(6)),
    e("co1", "coach.analysis.generated", day(9), payload={"insight": "I1"}),
    e("co2", "coach.analysis.generated", day(10), "w2", payload={"summary": "S2"}),
    e("co3", "coach.analysis.generated", AS_OF + timedelta(seconds=1), payload={"insight": "late"}),
    e("al1", "alert.triggered", day(1)),
    # tasks
    task("t1", "task.created", datetime(2026, 11, 10, tzinfo=UTC), "T1", title="Old"),
    task("t2", "task.created", datetime(2026, 11, 18, tzinfo=UTC), "T2", title="Done"),
    task("t2a", "task.accepted", day(10), "T2"),
    task("t3", "task.created", datetime(2026, 11, 15, tzinfo=UTC), entity="task-3", title="Ent"),
    task("t3r", "task.rejected", AS_OF + timedelta(hours=1), entity="task-3"),  # decided later
    task("t4", "task.created", datetime(2026, 11, 16, tzinfo=UTC), title="Bare"),
    task("t5b", "task.created", datetime(2026, 11, 13, tzinfo=UTC), "T5", title="Second"),
    task("t5a", "task.created", datetime(2026, 11, 12, tzinfo=UTC), "T5", title="First"),
    task("t6", "task.created", datetime(2026, 11, 19, 8, tzinfo=UTC), "T6"),
    task("t6r", "task.rejected", datetime(2026, 11, 19, 9, tzinfo=UTC), "T6"),  # yesterday
    task("t7", "task.created", day(1), "T7", title="New"),
    task("t7r", "task.rejected", day(2), "T7"),
]
HAND_ALERTS = [
    alert("a1", "info", day(-20), day(-19)),  # resolved before as-of: closed
    alert("a2", "warning", day(-20), AS_OF + timedelta(hours=1)),  # resolved later: still open
    alert("a3", "critical", day(3), None),
    alert("a4", "critical", AS_OF + timedelta(minutes=1), None),  # raised after as-of
    alert("a5", "warning", day(1), AS_OF),  # resolved exactly at as-of: closed
    alert("a6", "fatal", day(2), None),  # not a known severity: "other"
]


def test_hand_case_exact_numbers(tmp_path: Path) -> None:
    make_folder(tmp_path, HAND_EVENTS, HAND_ALERTS)
    result = today(opdash.open(tmp_path), as_of=AS_OF, tz="Europe/Berlin")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["day_start"] == "2026-11-20T00:00:00+01:00"
    assert data["tz"] == "Europe/Berlin" and data["as_of"] == "2026-11-20T12:00:00+00:00"
    assert list(data["counts"]) == list(LOOP_TYPES)
    assert data["counts"] == {
        "signal.created": 4,
        "candidate.created": 3,
        "trade.plan.created": 3,
        "trade.executed": 0,
        "trade.closed": 1,
        "coach.analysis.generated": 2,
        "strategy.rule.suggested": 0,
        "journal.updated": 0,
        "journal.completed": 0,
        "task.created": 1,
        "task.accepted": 1,
        "task.rejected": 1,
        "alert.triggered": 1,
    }
    rates = {c["label"]: c["rate"] for c in data["conversion"]}
    assert rates == {
        "Signal→Candidate": 0.75,
        "Candidate→Plan": 1.0,
        "Plan→Execution": 0.0,
        "Execution→Closed": None,  # nothing executed today
        "Closed→Coach": 2.0,  # ratios of today's counts can exceed 1
    }
    assert data["task_accept_rate"] == 0.5
    pending = data["pending_tasks"]
    assert pending["count"] == 4
    assert [(t["task_id"], t["title"]) for t in pending["tasks"]] == [
        ("T1", "Old"),
        ("T5", "First"),  # the earliest of its two creations
        ("task-3", "Ent"),  # entity.id when no payload.task_id; rejected only after as-of
        ("t4", "Bare"),  # the event id when neither
    ]
    assert (
        pending["tasks"][0]["age_seconds"]
        == (AS_OF - datetime(2026, 11, 10, tzinfo=UTC)).total_seconds()
    )
    assert pending["tasks"][1]["created_at"] == "2026-11-12T00:00:00+00:00"
    assert data["open_alerts"] == {"info": 0, "warning": 1, "critical": 1, "other": 1, "total": 3}
    assert data["latest_insight"] == {
        "occurred_at": "2026-11-20T09:00:00+00:00",
        "workflow_id": "w2",
        "event_id": "co2",
        "text": "S2",  # payload.summary when there is no payload.insight
    }
    assert result.to_frame().loc["signal.created", "count"] == 4


def test_one_catalog_answers_each_moment_as_it_stood(tmp_path: Path) -> None:
    """A task decided later is pending before its decision; the newest insight is the newest
    by then (the tables behind both are shared by every moment asked)."""
    t0 = AS_OF - timedelta(hours=6)
    created = e("c1", "task.created", t0, "w1")
    created["payload"] = {"task_id": "T1", "title": "Review"}
    accepted = e("d1", "task.accepted", t0 + timedelta(hours=2), "w1")
    accepted["payload"] = {"task_id": "T1"}
    early, late = (
        e(f"i{n}", "coach.analysis.generated", t0 + timedelta(hours=n), "w1") for n in (1, 3)
    )
    early["payload"], late["payload"] = {"insight": "first"}, {"insight": "second"}
    make_folder(tmp_path, [created, accepted, early, late], [])
    catalog = opdash.open(tmp_path)
    seen = {}
    for hours in (-1, 1, 2.5, 4):
        result = today(catalog, as_of=t0 + timedelta(hours=hours))
        insight = result.latest_insight
        seen[hours] = ([t.task_id for t in result.pending_tasks], insight and insight.text)
    assert seen == {
        -1: ([], None),
        1: (["T1"], "first"),
        2.5: ([], "first"),
        4: ([], "second"),
    }


def test_local_day_boundary_depends_on_the_zone(tmp_path: Path) -> None:
    make_folder(tmp_path, HAND_EVENTS, [])
    catalog = opdash.open(tmp_path)
    utc = today(catalog, as_of=AS_OF)  # UTC: midnight is 00:00Z, so s2 (23:00Z) is yesterday
    assert utc.day_start == datetime(2026, 11, 20, tzinfo=UTC)
    assert utc.counts["signal.created"] == 3
    tokyo = today(catalog, as_of=AS_OF, tz="Asia/Tokyo")  # 21:00 local; the day began 15:00Z
    assert tokyo.day_start.isoformat() == "2026-11-20T00:00:00+09:00"
    assert tokyo.counts["signal.created"] == 5  # s1 (22:30Z on the 19th) is 07:30 in Tokyo
    assert (
        today(catalog, as_of="2026-11-19T22:59:59Z", tz="Europe/Berlin").counts["signal.created"]
        == 1
    )  # only s1, at 23:30 local on the 19th
    for result, zone in ((utc, "UTC"), (tokyo, "Asia/Tokyo")):
        assert result.counts == bf.today(HAND_EVENTS, [], AS_OF, zone)["counts"]


def test_empty_folder(tmp_path: Path) -> None:
    make_folder(tmp_path, [], [])
    data = today(opdash.open(tmp_path), as_of=AS_OF).to_dict()
    assert set(data["counts"].values()) == {0}
    assert all(c["rate"] is None for c in data["conversion"])
    assert data["task_accept_rate"] is None
    assert data["pending_tasks"] == {"count": 0, "tasks": []}
    assert data["open_alerts"]["total"] == 0 and data["latest_insight"] is None


def test_bad_zone_is_a_usage_error(tmp_path: Path) -> None:
    make_folder(tmp_path, [], [])
    with pytest.raises(UsageError, match="Europe/Berln"):
        today(opdash.open(tmp_path), as_of=AS_OF, tz="Europe/Berln")


def test_demo_today_is_sane() -> None:
    result = today(opdash.open(DEMO), as_of="2026-11-20T16:00:00Z")
    data = result.to_dict()
    counts = data["counts"]
    assert counts["signal.created"] == 48 and counts["trade.closed"] == 0
    assert counts["signal.created"] >= counts["candidate.created"] >= counts["trade.plan.created"]
    state = json.loads((DEMO / "state" / "orchestrator" / "STATE.json").read_text())
    assert data["pending_tasks"]["count"] == state["counters"]["tasks_pending"] == 10
    ages = [t["age_seconds"] for t in data["pending_tasks"]["tasks"]]
    assert ages == sorted(ages, reverse=True) and ages[-1] > 0
    assert all(t["title"].startswith("Review rule for") for t in data["pending_tasks"]["tasks"])
    assert data["open_alerts"] == {"info": 0, "warning": 2, "critical": 2, "other": 0, "total": 4}
    insight = data["latest_insight"]
    assert insight["occurred_at"] <= "2026-11-20T16:00:00+00:00" and insight["text"]
    assert insight["text"] != "Broken on purpose."  # quarantined records are not events
    assert data["task_accept_rate"] == 1.0


# -- the command ---------------------------------------------------------------------------------


def run_cmd(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    today_cmd.add_arguments(parser)
    return today_cmd.run(parser.parse_args(argv))


def test_today_command_json_and_table(tmp_path: Path, capsys) -> None:
    make_folder(tmp_path, HAND_EVENTS, HAND_ALERTS)
    argv = [str(tmp_path), "--as-of", "2026-11-20T12:00:00Z", "--tz", "Europe/Berlin"]
    assert run_cmd([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["signal.created"] == 4 and data["pending_tasks"]["count"] == 4
    assert run_cmd([*argv, "--tasks", "2"]) == 0
    out = capsys.readouterr().out
    assert "pending tasks: 4" in out and "T1" in out and "2 more" in out
    assert "open alerts: 3" in out and "S2" in out and "Signal→Candidate 75.0%" in out
    with pytest.raises(UsageError, match="Mars/Olympus"):
        run_cmd([str(tmp_path), "--tz", "Mars/Olympus"])
    with pytest.raises(UsageError, match="--as-of"):
        run_cmd([str(tmp_path), "--as-of", "noon"])


# -- property test against the brute force -------------------------------------------------------

TYPES = [*LOOP_TYPES[:6], "task.created", "task.accepted", "task.rejected", "other.type"]


@st.composite
def cases(draw):
    as_of = draw(st.sampled_from([AS_OF, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]))
    zone = draw(st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]))
    events = []
    for i in range(draw(st.integers(0, 25))):
        when = as_of + timedelta(minutes=30 * draw(st.integers(-96, 2)))
        event = e(
            f"e{i:02d}",
            draw(st.sampled_from(TYPES)),
            when,
            draw(st.sampled_from(["w1", "w2", None])),
        )
        payload = {}
        tid = draw(st.sampled_from(["T1", "T2", "T3", None]))
        if tid is not None:
            payload["task_id"] = tid
        payload[draw(st.sampled_from(["insight", "summary", "title"]))] = f"text {i}"
        event["payload"] = payload
        if draw(st.booleans()):
            event["entity"] = {"type": "task", "id": draw(st.sampled_from(["T1", "E1", "E2"]))}
        events.append(event)
    alerts = []
    for i in range(draw(st.integers(0, 6))):
        raised = as_of + timedelta(minutes=30 * draw(st.integers(-10, 2)))
        resolved = draw(st.sampled_from([None, 0, 1, 60, -30]))
        alerts.append(
            alert(
                f"a{i}",
                draw(st.sampled_from(["info", "warning", "critical", "other"])),
                raised,
                None if resolved is None else raised + timedelta(minutes=30 + resolved),
            )
        )
    return as_of, zone, events, alerts


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_today_matches_brute_force(case) -> None:
    """Several moments asked of one catalog: the tables shared by every question (task states,
    coach insights) must answer each moment as the events up to it would."""
    as_of, zone, events, alerts = case
    with tempfile.TemporaryDirectory() as tmp:
        make_folder(Path(tmp), events, alerts)
        catalog = opdash.open(tmp)
        for moment in (as_of, as_of - timedelta(minutes=90), as_of - timedelta(hours=20)):
            got = today(catalog, as_of=moment, tz=zone).to_dict()
            assert_same_as_brute_force(got, bf.today(events, alerts, moment, zone))


def assert_same_as_brute_force(got: dict, ref: dict) -> None:
    assert got["counts"] == ref["counts"]
    assert [c["rate"] for c in got["conversion"]] == ref["rates"]
    assert got["task_accept_rate"] == ref["task_accept_rate"]
    assert [
        {k: t[k] for k in ("task_id", "title", "age_seconds", "event_id")}
        for t in got["pending_tasks"]["tasks"]
    ] == ref["pending"]
    assert got["open_alerts"] == ref["open_alerts"]
    insight = got["latest_insight"]
    assert (insight and {"event_id": insight["event_id"], "text": insight["text"]}) == (
        ref["latest_insight"]
    )
