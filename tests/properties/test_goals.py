"""Goals: every status boundary, real calendar periods across daylight-saving changes, each metric,
broken goal files, the demo, the CLI, and a property test against tests/bruteforce_goals.py.

Why: a goal's status is what an operator reacts to ("behind", "breached"). Each rule is pinned by a
hand-made case whose numbers sit exactly on its boundary, and a plain-Python implementation written
from the definitions alone is compared with opdash on random events, goals, zones and instants.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import opdash
from opdash.commands import goals as goals_cmd
from opdash.errors import UsageError
from opdash.metrics.goals import goals, load_goals, parse_goals, status
from tests import bruteforce_goals as bf
from tests.fixtures import DEMO, write_lines
from tests.fixtures import ev as e

AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a Friday; the UTC day is half gone


def make_folder(root: Path, events: list[dict], goal_list: list[dict] | None = None) -> Path:
    (root / "events").mkdir(parents=True, exist_ok=True)
    write_lines(root / "events" / "x.jsonl", events)
    if goal_list is not None:
        (root / "goals.yaml").write_text(yaml.safe_dump({"goals": goal_list}, sort_keys=False))
    return root


def evaluate(root: Path, events: list[dict], goal_list: list[dict], as_of=AS_OF) -> dict:
    make_folder(root, events, goal_list)
    result = goals(opdash.open(root), as_of=as_of)
    return {g["id"]: g for g in result.to_dict()["goals"]}


def burst(prefix: str, event_type: str, n: int, *, start=AS_OF - timedelta(hours=6), **more):
    return [e(f"{prefix}{i}", event_type, start + timedelta(minutes=i), **more) for i in range(n)]


# -- status rules, exactly on each boundary ------------------------------------------------------


def test_every_status_boundary_up_and_down(tmp_path: Path) -> None:
    # day in UTC, as-of 12:00: expected_progress is exactly 0.5; 0.8 × expected is 0.4
    counts = {"n0": 0, "n3": 3, "n4": 4, "n5": 5, "n6": 6, "n9": 9, "n10": 10, "n11": 11}
    events = [ev for name, n in counts.items() for ev in burst(name, name, n)]
    events += [e("p1", "pnl", AS_OF, payload={"pnl": 3.99})]  # just under 0.8 × expected × 10
    events += [
        e("q1", "pnl2", AS_OF, payload={"pnl": 1.5}),
        e("q2", "pnl2", AS_OF, payload={"pnl": 2.5}),
    ]
    up = {"n11": "met", "n10": "met", "n9": "on_track", "n5": "on_track", "n4": "at_risk",
          "n3": "behind", "n0": "behind"}  # fmt: skip
    down = {
        "n11": "breached",
        "n10": "at_risk",
        "n6": "at_risk",
        "n5": "on_track",
        "n0": "on_track",
    }
    goal_list = [
        {"id": f"up-{t}", "metric": "count", "event": t, "target": 10, "period": "day"} for t in up
    ]
    goal_list += [
        {"id": f"down-{t}", "metric": "count", "event": t, "target": 10, "period": "day",
         "direction": "down"}
        for t in down
    ]  # fmt: skip
    goal_list += [
        {"id": "sum-behind", "metric": "sum:payload.pnl", "event": "pnl", "target": 10, "period": "day"},
        {"id": "sum-at-risk", "metric": "sum:payload.pnl", "event": "pnl2", "target": 10, "period": "day"},
        {"id": "zero-ceiling-ok", "metric": "count", "event": "n0", "target": 0, "period": "day", "direction": "down"},
        {"id": "zero-ceiling-hit", "metric": "count", "event": "n3", "target": 0, "period": "day", "direction": "down"},
    ]  # fmt: skip
    got = evaluate(tmp_path, events, goal_list)
    for t, expected in up.items():
        assert got[f"up-{t}"]["status"] == expected, t
        assert got[f"up-{t}"]["expected_progress"] == 0.5
        assert got[f"up-{t}"]["progress"] == counts[t] / 10
    for t, expected in down.items():
        assert got[f"down-{t}"]["status"] == expected, t
    assert got["up-n4"]["progress"] == 0.8 * got["up-n4"]["expected_progress"]
    assert (got["sum-behind"]["actual"], got["sum-behind"]["status"]) == (3.99, "behind")
    assert (got["sum-at-risk"]["actual"], got["sum-at-risk"]["status"]) == (4.0, "at_risk")
    assert got["zero-ceiling-ok"]["status"] == "on_track"
    assert got["zero-ceiling-ok"]["progress"] is None  # no ratio to a target of 0
    assert got["zero-ceiling-hit"]["status"] == "breached"


def test_status_function_is_exact() -> None:
    half = Fraction(1, 2)
    assert status(Fraction(5), Fraction(10), "up", half) == "on_track"
    assert status(Fraction(4), Fraction(10), "up", half) == "at_risk"
    assert status(Fraction(3999, 1000), Fraction(10), "up", half) == "behind"
    assert status(Fraction(0), Fraction(10), "up", Fraction(0)) == "on_track"  # at period start
    assert status(Fraction(5), Fraction(10), "down", half) == "on_track"
    assert status(Fraction(5) + Fraction(1, 10**9), Fraction(10), "down", half) == "at_risk"
    assert status(None, Fraction(1, 2), "up", half) == "no_data"


# -- calendar periods ----------------------------------------------------------------------------


def test_week_in_berlin_across_the_autumn_dst_change_has_169_hours(tmp_path: Path) -> None:
    start = datetime(2026, 10, 18, 22, 0, tzinfo=UTC)  # Monday 2026-10-19 00:00 CEST
    as_of = start + timedelta(hours=84, minutes=30)  # half of 169 hours
    events = [
        e("before", "t", start - timedelta(seconds=1)),  # Sunday 23:59:59 local: last week
        e("first", "t", start),
        e("mid", "t", start + timedelta(hours=50)),
        e("at", "t", as_of),
        e("after", "t", as_of + timedelta(microseconds=1)),
    ]
    goal = {"id": "w", "metric": "count", "event": "t", "target": 6, "period": "week", "tz": "Europe/Berlin"}  # fmt: skip
    got = evaluate(tmp_path, events, [goal], as_of=as_of)["w"]
    period_start = datetime.fromisoformat(got["period_start"])
    period_end = datetime.fromisoformat(got["period_end"])
    assert got["period_start"] == "2026-10-19T00:00:00+02:00"
    assert got["period_end"] == "2026-10-26T00:00:00+01:00"
    assert period_end.astimezone(UTC) - period_start.astimezone(UTC) == timedelta(hours=169)
    assert got["expected_progress"] == 0.5
    assert got["actual"] == 3
    assert got["status"] == "on_track"  # 3/6 == 0.5 == expected
    ref = bf.goal(events, goal, as_of)
    assert ref["expected"] == Fraction(1, 2) and ref["actual"] == 3


def test_week_in_berlin_across_the_spring_dst_change_has_167_hours(tmp_path: Path) -> None:
    as_of = datetime(2026, 3, 29, 10, 0, tzinfo=UTC)  # Sunday, after the 02:00 → 03:00 jump
    goal = {"id": "w", "metric": "count", "event": "t", "target": 1, "period": "week", "tz": "Europe/Berlin"}  # fmt: skip
    got = evaluate(tmp_path, [e("a", "t", as_of)], [goal], as_of=as_of)["w"]
    assert got["period_start"] == "2026-03-23T00:00:00+01:00"
    assert got["period_end"] == "2026-03-30T00:00:00+02:00"
    # Monday 23:00Z .. Sunday 10:00Z is 155 real hours of 167
    assert got["expected_progress"] == pytest.approx(155 / 167, abs=0, rel=1e-15)
    assert got["status"] == "met"


def test_day_month_and_quarter_periods(tmp_path: Path) -> None:
    as_of = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    events = [
        e("q0", "t", datetime(2026, 9, 30, 23, 59, tzinfo=UTC)),  # Q3 in UTC
        e("q1", "t", datetime(2026, 10, 1, 0, 0, tzinfo=UTC)),
        e("m0", "t", datetime(2026, 11, 1, 3, 59, tzinfo=UTC)),  # Oct 31 23:59 in New York
        e("m1", "t", datetime(2026, 11, 1, 4, 0, tzinfo=UTC)),  # Nov 1 00:00 EDT
        e("d0", "t", datetime(2026, 11, 19, 18, 29, tzinfo=UTC)),  # Nov 19 23:59 in Kolkata
        e("d1", "t", datetime(2026, 11, 19, 18, 30, tzinfo=UTC)),  # Nov 20 00:00 IST
    ]
    goal_list = [
        {"id": "day", "metric": "count", "event": "t", "target": 4, "period": "day", "tz": "Asia/Kolkata"},
        {"id": "month", "metric": "count", "event": "t", "target": 4, "period": "month", "tz": "America/New_York"},
        {"id": "quarter", "metric": "count", "event": "t", "target": 4, "period": "quarter"},
    ]  # fmt: skip
    got = evaluate(tmp_path, events, goal_list, as_of=as_of)
    assert got["day"]["period_start"] == "2026-11-20T00:00:00+05:30"
    assert got["day"]["actual"] == 1
    assert got["day"]["expected_progress"] == pytest.approx(21.5 / 24)
    # November in New York starts in EDT and ends in EST: 30 days and one hour
    assert got["month"]["period_start"] == "2026-11-01T00:00:00-04:00"
    assert got["month"]["period_end"] == "2026-12-01T00:00:00-05:00"
    assert got["month"]["actual"] == 3
    assert got["month"]["expected_progress"] == pytest.approx((19 * 24 + 12) / (30 * 24 + 1))
    assert got["quarter"]["period_start"] == "2026-10-01T00:00:00+00:00"
    assert got["quarter"]["period_end"] == "2027-01-01T00:00:00+00:00"
    assert got["quarter"]["actual"] == 5
    for gid, ref_goal in zip(("day", "month", "quarter"), goal_list, strict=True):
        ref = bf.goal(events, ref_goal, as_of)
        assert got[gid]["actual"] == ref["actual"]
        assert got[gid]["expected_progress"] == float(ref["expected"])
        assert got[gid]["status"] == ref["status"]


# -- metrics -------------------------------------------------------------------------------------


def test_unique_sum_and_conversion(tmp_path: Path) -> None:
    t = AS_OF - timedelta(hours=1)
    events = [
        e("s1", "sig", t, "w1", payload={"symbol": "BTC"}, actor={"type": "ai", "id": "a1"}),
        e("s2", "sig", t, "w2", payload={"symbol": "BTC"}, actor={"type": "ai", "id": "a2"}),
        e("s3", "sig", t, "w2", payload={"symbol": "ETH"}),
        e("s4", "sig", t, None, payload={"symbol": "SOL"}),  # no workflow: not a distinct workflow
        e("s5", "sig", AS_OF - timedelta(days=1), "w9", payload={"symbol": "XRP"}),  # yesterday
        e("c1", "closed", t, "w1", payload={"pnl": 100.5}),
        e("c2", "closed", t, "w2", payload={"pnl": -20}),
        e("c3", "closed", t, "w3", payload={"pnl": "12"}),  # text: ignored
        e("c4", "closed", t, "w4", payload={"pnl": True}),  # boolean: ignored
        e("c5", "closed", t, "w5", payload={"pnl": None}),
        e("c6", "closed", t, "w6", payload={"pnl": {"usd": 5}}),
        e("c7", "closed", t, "w7", payload={}),
        # conversion a → b: w1 converts, w2 enters only, w3 entered last period (not counted),
        # w4 converts after as-of (not yet), w5 converts outside the 1h window
        e("a1", "a", t, "w1"),
        e("b1", "b", t + timedelta(minutes=30), "w1"),
        e("a2", "a", t, "w2"),
        e("a3", "a", AS_OF - timedelta(days=1), "w3"),
        e("b3", "b", t, "w3"),
        e("a4", "a", AS_OF - timedelta(minutes=30), "w4"),
        e("b4", "b", AS_OF + timedelta(seconds=1), "w4"),
        e("a5", "a", AS_OF - timedelta(hours=5), "w5"),
        e("b5", "b", AS_OF - timedelta(hours=3), "w5"),
    ]
    goal_list = [
        {"id": "wf", "metric": "unique", "event": "sig", "target": 4, "period": "day"},
        {"id": "sym", "metric": "unique:payload.symbol", "event": "sig", "target": 4, "period": "day"},
        {"id": "actors", "metric": "unique", "by": "actor.id", "event": "sig", "target": 4, "period": "day"},
        {"id": "pnl", "metric": "sum:payload.pnl", "event": "closed", "target": 100, "period": "day"},
        {"id": "conv", "metric": "conversion", "steps": ["a", "b"], "window": "1h", "target": 0.5, "period": "day"},
        {"id": "empty", "metric": "conversion", "steps": ["zz", "b"], "target": 0.5, "period": "day"},
    ]  # fmt: skip
    got = evaluate(tmp_path, events, goal_list)
    assert got["wf"]["actual"] == 2
    assert got["sym"]["actual"] == 3
    assert got["actors"]["actual"] == 2
    assert got["pnl"]["actual"] == pytest.approx(80.5)
    assert got["pnl"]["status"] == "on_track"  # 0.805 ≥ 0.5
    conv = got["conv"]
    assert (conv["entered"], conv["converted"], conv["actual"]) == (4, 1, 0.25)
    assert conv["steps"] == ["a", "b"] and conv["window_seconds"] == 3600
    assert conv["status"] == "on_track"  # progress 0.25 / 0.5 == expected 0.5
    assert got["empty"]["actual"] is None and got["empty"]["status"] == "no_data"
    for goal in goal_list:
        ref = bf.goal(events, goal, AS_OF)
        assert got[goal["id"]]["status"] == ref["status"], goal["id"]
        assert got[goal["id"]]["actual"] == pytest.approx(ref["actual"]), goal["id"]
    # seen through an actor filter (a notebook's scoped catalog): a1's events only
    from opdash.metrics.scope import Scope, scoped

    scoped_goals = goals(scoped(opdash.open(tmp_path), Scope(actors=("a1",))), as_of=AS_OF)
    by_a1 = [x for x in events if x.get("actor", {}).get("id") == "a1"]
    for got_goal, goal in zip(scoped_goals.to_dict()["goals"], goal_list, strict=True):
        ref = bf.goal(by_a1, goal, AS_OF)
        assert got_goal["actual"] == pytest.approx(ref["actual"]), goal["id"]


def test_no_goals_file_means_no_goals(tmp_path: Path) -> None:
    make_folder(tmp_path, [e("x", "t", AS_OF)])
    result = goals(opdash.open(tmp_path), as_of=AS_OF)
    assert result.goals == [] and result.to_dict()["goals"] == []
    assert list(result.to_frame().index) == []


def test_goal_dicts_and_json_shape(tmp_path: Path) -> None:
    make_folder(tmp_path, [e("x", "t", AS_OF)])
    result = goals(
        opdash.open(tmp_path),
        [{"id": "g", "title": "G", "metric": "count", "event": "t", "target": 2, "period": "day"}],
        as_of="2026-11-20T12:00:00Z",
    )
    item = json.loads(json.dumps(result.to_dict()))["goals"][0]
    for key in ("id", "title", "actual", "target", "progress", "expected_progress", "status",
                "period_start", "period_end", "metric", "event", "direction", "tz", "as_of"):  # fmt: skip
        assert key in item
    assert (item["title"], item["actual"], item["progress"], item["status"]) == (
        "G",
        1,
        0.5,
        "on_track",
    )
    assert (item["direction"], item["tz"], item["as_of"]) == (
        "up",
        "UTC",
        "2026-11-20T12:00:00+00:00",
    )
    assert result.to_frame().loc["g", "status"] == "on_track"


def test_demo_goals_give_sensible_statuses() -> None:
    result = goals(opdash.open(DEMO), as_of="2026-11-20T16:00:00Z")
    got = {g.id: g for g in result.goals}
    assert list(got) == ["closed-trades-week", "symbols-scanned-day", "pnl-week", "alerts-per-day"]
    week = got["closed-trades-week"]
    assert week.period_start.isoformat() == "2026-11-16T00:00:00+01:00"
    assert week.expected_progress == pytest.approx((4 * 24 + 17) / 168)  # Fri 17:00 Berlin
    assert 0 < week.actual < 40 and week.status == "behind"
    day = got["symbols-scanned-day"]
    assert day.expected_progress == pytest.approx(16 / 24)
    assert day.goal.by == "payload.symbol" and day.actual == 10 and day.status == "met"
    assert got["pnl-week"].actual > 5000 and got["pnl-week"].status == "met"
    alerts = got["alerts-per-day"]
    assert alerts.goal.direction == "down" and alerts.actual == 4 and alerts.status == "breached"
    for g in result.goals:
        assert g.status in {"met", "on_track", "at_risk", "behind", "breached"}
        assert g.progress == pytest.approx(g.actual / g.goal.target)


# -- broken goal files ---------------------------------------------------------------------------

GOOD = "  - id: ok\n    metric: count\n    event: t\n    target: 1\n    period: day\n"
BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
goals: []
"""


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("goals:\n" + GOOD + "  - id: b\n    metric: [count\n", ["line 9", "started at line 8", "not valid YAML"]),
        ("goals:\n" + GOOD + "  - id: b\n    metric: count\n    event: t\n    target: 1\n"
         "    period: day\n    titel: B\n", ["goal 'b'", "line 7", "unknown key 'titel'", "did you mean 'title'"]),
        ("goals:\n  - id: b\n    metric: cont\n    event: t\n    target: 1\n    period: day\n",
         ["goal 'b'", "unknown metric 'cont'", "did you mean 'count'"]),
        ("goals:\n  - id: b\n    metric: sum\n    event: t\n    target: 1\n    period: day\n",
         ["goal 'b'", "sum:PATH"]),
        ("goals:\n  - id: b\n    metric: sum:payload.pnl\n    event: t\n    period: day\n",
         ["goal 'b'", "missing 'target'"]),
        ("goals:\n  - id: b\n    metric: count\n    target: 1\n    period: day\n",
         ["goal 'b'", "missing 'event'"]),
        ("goals:\n  - id: b\n    metric: conversion\n    target: 0.5\n    period: day\n",
         ["goal 'b'", "missing 'steps'"]),
        ("goals:\n  - id: b\n    metric: count\n    event: t\n    target: 1\n    period: day\n"
         "    tz: Europe/Berln\n", ["goal 'b'", "unknown time zone 'Europe/Berln'", "Europe/Berlin"]),
        ("goals:\n" + GOOD + GOOD, ["goal 'ok'", "line 7", "duplicate id"]),
        (BOMB, ["line 1", "anchors", "YAML bomb"]),
        ("goals:\n  - &g {id: a, metric: count, event: t, target: 1, period: day}\n  - *g\n", ["anchors"]),
        ("goals:\n  - id: b\n    metric: count\n    event: t\n    target: 1\n    period: weekly\n",
         ["goal 'b'", "bad period 'weekly'", "did you mean 'week'"]),
        ("goals:\n  - id: b\n    metric: count\n    event: t\n    target: 0\n    period: day\n",
         ["goal 'b'", "greater than 0"]),
        ("goals:\n  - id: b\n    metric: count\n    event: t\n    target: 'ten'\n    period: day\n",
         ["goal 'b'", "target", "not a number"]),
        ("goals:\n  - id: b\n    metric: conversion\n    steps: [a, b]\n    target: 2\n    period: day\n",
         ["goal 'b'", "rate"]),
        ("goals:\n  - id: b\n    metric: count\n    event: t\n    target: 1\n    period: day\n"
         "    target: 2\n", ["line 7", "'target' appears twice"]),
        ("goals:\n  - id: b\n    metric: sum:payload..x\n    event: t\n    target: 1\n    period: day\n",
         ["goal 'b'", "unknown field path"]),
        ("goals:\n  - metric: count\n    event: t\n    target: 1\n    period: day\n",
         ["goal #1", "missing 'id'"]),
        ("- id: b\n", ["the file", "is not of type 'object'"]),
        ("goal:\n" + GOOD, ["unknown top-level key 'goal'", "did you mean 'goals'"]),
        ("goals:\n  - id: b\n    metric: count\n    event: t\n    target: 1\n    period: day\n"
         "    steps: [a, b]\n", ["goal 'b'", "steps: applies only to metric conversion"]),
    ],
)  # fmt: skip
def test_broken_goal_files_say_where_and_what(tmp_path: Path, text: str, wanted: list[str]) -> None:
    path = tmp_path / "goals.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        load_goals(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    for part in wanted:
        assert part in message, (part, message)
    assert "\n" not in message


def test_huge_and_unreadable_goal_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("goals:\n" + "# padding\n" * 40_000)
    with pytest.raises(UsageError, match="at most"):
        load_goals(big)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"goals: \xff\xfe\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        load_goals(binary)
    with pytest.raises(UsageError, match="no such goals file"):
        load_goals(tmp_path / "missing.yaml")
    with pytest.raises(UsageError, match="nested more than"):
        parse_goals("goals: " + "[" * 100 + "]" * 100)
    assert parse_goals("") == [] and parse_goals("goals:\n") == []


def test_demo_goals_file_loads() -> None:
    loaded = load_goals(DEMO / "goals.yaml")
    assert [g.id for g in loaded] == [
        "closed-trades-week",
        "symbols-scanned-day",
        "pnl-week",
        "alerts-per-day",
    ]
    assert loaded[0].line == 2 and loaded[2].path == "payload.pnl"


# -- the command ---------------------------------------------------------------------------------


def run_cmd(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    goals_cmd.add_arguments(parser)
    return goals_cmd.run(parser.parse_args(argv))


def test_goals_command_json_and_table(tmp_path: Path, capsys) -> None:
    goal = {"id": "g", "metric": "count", "event": "t", "target": 4, "period": "day"}
    make_folder(tmp_path, [e("a", "t", AS_OF), e("b", "t", AS_OF)], [goal])
    assert run_cmd([str(tmp_path), "--as-of", "2026-11-20T12:00:00Z", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(g["id"], g["actual"], g["status"]) for g in data["goals"]] == [("g", 2, "on_track")]
    assert data["source"] == str(tmp_path / "goals.yaml")
    assert run_cmd([str(tmp_path), "--as-of", "2026-11-20T12:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert "on_track" in out and "50.0%" in out


def test_goals_command_other_file_and_no_file(tmp_path: Path, capsys) -> None:
    make_folder(tmp_path, [e("a", "t", AS_OF)])
    assert run_cmd([str(tmp_path), "--as-of", "2026-11-20T12:00:00Z", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["goals"] == [] and "no goals file" in captured.err
    other = tmp_path / "other.yaml"
    other.write_text("goals:\n" + GOOD)
    assert run_cmd([str(tmp_path), "--goals", str(other), "--as-of", "2026-11-20", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["goals"][0]["id"] == "ok" and data["goals"][0]["expected_progress"] == 0


def test_goals_command_broken_file_names_file_and_goal(tmp_path: Path) -> None:
    make_folder(tmp_path, [e("a", "t", AS_OF)])
    (tmp_path / "goals.yaml").write_text(
        "goals:\n" + GOOD + "  - id: pnl\n    metric: summ:payload.pnl\n    event: t\n"
        "    target: 1\n    period: day\n"
    )
    with pytest.raises(UsageError) as info:
        run_cmd([str(tmp_path), "--as-of", "2026-11-20T12:00:00Z"])
    message = str(info.value)
    assert str(tmp_path / "goals.yaml") in message and "goal 'pnl'" in message
    assert "did you mean 'sum'" in message
    with pytest.raises(UsageError, match="--as-of"):
        run_cmd([str(tmp_path), "--as-of", "yesterday"])
    with pytest.raises(UsageError, match="no such goals file"):
        run_cmd([str(tmp_path), "--goals", str(tmp_path / "nope.yaml")])


# -- property test against the brute force -------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
AS_OFS = [
    datetime(2026, 10, 25, 1, 30, tzinfo=UTC),  # Berlin's autumn change, the same morning
    datetime(2026, 11, 1, 12, 0, tzinfo=UTC),  # New York's autumn change; first of a month
    datetime(2026, 3, 29, 9, 0, tzinfo=UTC),  # Berlin's spring change
    datetime(2026, 10, 1, 0, 0, tzinfo=UTC),  # first instant of a UTC quarter
    datetime(2026, 12, 31, 18, 30, tzinfo=UTC),  # new year in Kolkata
]
TYPES = ["a", "b", "c"]


@st.composite
def cases(draw):
    as_of = draw(st.sampled_from(AS_OFS))
    n = draw(st.integers(0, 18))
    events = []
    for i in range(n):
        step = draw(st.sampled_from(["half_hours", "exact", "micro"]))
        if step == "half_hours":
            when = as_of + timedelta(minutes=30 * draw(st.integers(-48 * 40, 4)))
        elif step == "exact":
            when = as_of
        else:
            when = as_of + timedelta(microseconds=draw(st.sampled_from([-1, 1])))
        event = e(
            f"e{i:02d}",
            draw(st.sampled_from(TYPES)),
            when,
            draw(st.sampled_from(["w1", "w2", "w3", None])),
        )
        payload = {}
        pnl = draw(st.sampled_from([1, -2, 2.5, 0.25, "3", True, None, "absent"]))
        if pnl != "absent":
            payload["pnl"] = pnl
        payload["sym"] = draw(st.sampled_from(["x", "y", "z", 7]))
        event["payload"] = payload
        events.append(event)
    goal_list = []
    for i in range(draw(st.integers(1, 4))):
        metric = draw(
            st.sampled_from(
                ["count", "unique", "unique:payload.sym", "sum:payload.pnl", "conversion"]
            )
        )
        direction = draw(st.sampled_from(["up", "down"]))
        goal = {"id": f"g{i}", "metric": metric, "period": draw(st.sampled_from(["day", "week", "month", "quarter"])),
                "tz": draw(st.sampled_from(ZONES)), "direction": direction}  # fmt: skip
        if metric == "conversion":
            goal["steps"] = draw(st.sampled_from([["a", "b"], ["a", "b", "c"], ["b", "a"]]))
            goal["window"] = draw(st.sampled_from(["1h", "1d", "14d"]))
            goal["target"] = draw(
                st.sampled_from([0.25, 0.5, 1] + ([0] if direction == "down" else []))
            )
        else:
            goal["event"] = draw(st.sampled_from(TYPES))
            goal["target"] = draw(
                st.sampled_from([1, 2, 3, 4, 2.5] + ([0] if direction == "down" else []))
            )
        goal_list.append(goal)
    return as_of, events, goal_list


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_goals_match_brute_force(case) -> None:
    """Several moments asked of one catalog (the goals' events are kept once per data version
    and shared by every moment)."""
    as_of, events, goal_list = case
    with tempfile.TemporaryDirectory() as tmp:
        catalog = opdash.open(make_folder(Path(tmp), events, goal_list))
        for moment in (as_of, as_of - timedelta(hours=30), as_of - timedelta(days=9)):
            got = {g["id"]: g for g in goals(catalog, as_of=moment).to_dict()["goals"]}
            for goal in goal_list:
                assert_same_as_brute_force(got[goal["id"]], bf.goal(events, goal, moment), goal)


def assert_same_as_brute_force(item: dict, ref: dict, goal: dict) -> None:
    assert item["status"] == ref["status"], (goal, item, ref)
    assert item["expected_progress"] == float(ref["expected"]), goal
    assert datetime.fromisoformat(item["period_start"]) == ref["period_start"]
    assert datetime.fromisoformat(item["period_end"]) == ref["period_end"]
    if ref["actual"] is None:
        assert item["actual"] is None
    else:
        assert item["actual"] == pytest.approx(ref["actual"]), goal
