"""The opdash command as a user runs it: real subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import cli_in_fresh_python
from tests.servers import DEMO

LOOP = "signal.created,candidate.created,trade.plan.created,trade.executed,trade.closed"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opdash.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_funnel_json_matches_the_library():
    import opdash as od

    expected = od.funnel(od.open(DEMO), LOOP.split(","), window="14d").to_dict()
    proc = run_cli("funnel", str(DEMO), "--steps", LOOP, "--window", "14d", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data == json.loads(json.dumps(expected, default=str))
    assert [s["event_type"] for s in data["steps"]] == LOOP.split(",")
    assert data["window_seconds"] == 14 * 86400
    assert data["entities"] == expected["steps"][0]["count"] > 0
    counts = [s["count"] for s in data["steps"]]
    assert counts == sorted(counts, reverse=True)


def test_funnel_text_table():
    proc = run_cli("funnel", str(DEMO), "--steps", LOOP)
    assert proc.returncode == 0, proc.stderr
    assert "signal.created" in proc.stdout and "from start" in proc.stdout


def test_funnel_text_echoes_the_window_as_given():
    """`--window 14d` (and the default, 14d) is echoed as 14d, not converted to 2w; a window
    written in weeks or hours stays in its own unit."""
    for given, echoed in ((None, "14d"), ("14d", "14d"), ("2w", "2w"), ("36h", "36h")):
        args = () if given is None else ("--window", given)
        proc = run_cli("funnel", str(DEMO), "--steps", LOOP, *args)
        assert proc.returncode == 0, proc.stderr
        head = f"ordered funnel by correlation.workflow_id, window {echoed}"
        assert proc.stdout.splitlines()[0] == head


def test_missing_step_type_is_a_note_not_an_error():
    proc = run_cli("funnel", str(DEMO), "--steps", "signal.created,no.such.type", "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["steps"][1]["count"] == 0
    assert "no.such.type" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "bad"),
    [
        (["funnel", str(DEMO), "--steps", LOOP, "--window", "14x"], "14x"),
        (["funnel", str(DEMO), "--steps", LOOP, "--order", "sideways"], "sideways"),
        (["funnel", str(DEMO), "--steps", LOOP, "--by", "actr.id"], "actr.id"),
        (["funnel", str(DEMO), "--steps", LOOP, "--since", "yesterday-ish"], "yesterday-ish"),
        (["funnel", "/no/such/folder", "--steps", LOOP], "/no/such/folder"),
        (["funnel", str(DEMO), "--steps", ",,"], ",,"),
        (["funnel", str(DEMO), "--steps", LOOP, "--stepz", "x"], "--stepz"),
        (["serve", str(DEMO), "--port", "99999"], "99999"),
        (["demo", "x", "--seed", "abc"], "abc"),
    ],
)
def test_user_mistakes_end_in_one_line_and_exit_2(args, bad):
    proc = run_cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert bad in lines[0]
    assert "Traceback" not in proc.stderr


def test_did_you_mean_for_a_misspelled_path():
    proc = run_cli("funnel", str(DEMO), "--steps", LOOP, "--by", "actor.idd")
    assert proc.returncode == 2
    assert "did you mean 'actor.id'" in proc.stderr


def test_demo_is_byte_identical_and_refuses_a_full_folder(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        proc = run_cli("demo", str(folder), "--seed", "3", "--workflows", "40")
        assert proc.returncode == 0, proc.stderr
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    again = run_cli("demo", str(first))
    assert again.returncode == 2 and "not empty" in again.stderr


def test_committed_demo_is_what_the_command_writes(tmp_path):
    proc = run_cli("demo", str(tmp_path / "demo"))
    assert proc.returncode == 0, proc.stderr
    made = sorted(
        p.relative_to(tmp_path / "demo") for p in (tmp_path / "demo").rglob("*") if p.is_file()
    )
    committed = sorted(p.relative_to(DEMO) for p in DEMO.rglob("*") if p.is_file())
    assert made == committed
    assert all((tmp_path / "demo" / f).read_bytes() == (DEMO / f).read_bytes() for f in made)


def test_info_reports_quarantine_with_reasons():
    proc = run_cli("info", str(DEMO), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["quarantined"] == sum(data["quarantine_by_reason"].values()) > 0
    assert {"malformed_json", "missing_field", "bad_timestamp"} <= set(data["quarantine_by_reason"])


def test_commands_that_do_not_draw_do_not_import_panel():
    run = cli_in_fresh_python(["funnel", str(DEMO), "--steps", LOOP, "--json"])
    assert run.drawing == []


def test_a_funnel_asked_again_skips_building_its_query(tmp_path, monkeypatch):
    """The SQL of a funnel is kept across processes (the cache folder): the second command
    neither builds nor compiles it (ibis, half a second of start, is not even imported) and
    answers the same."""
    monkeypatch.setenv("OPDASH_CACHE_DIR", str(tmp_path / "cache"))
    args = ["funnel", str(DEMO), "--steps", LOOP, "--window", "3d", "--json"]
    first, second = cli_in_fresh_python(args), cli_in_fresh_python(args)
    assert (first.rc, first.compiled) == (0, True)
    assert (second.rc, second.compiled) == (0, False)
    assert second.printed == first.printed


AS_OF = "2026-11-20T16:00:00Z"


@pytest.mark.parametrize(
    "args",
    [
        ["trend", str(DEMO), "--event", "trade.closed", "--tz", "Europe/Berlin", "--json"],
        ["goals", str(DEMO), "--as-of", AS_OF, "--json"],
        ["today", str(DEMO), "--as-of", AS_OF, "--tz", "Europe/Berlin", "--json"],
        ["chain", str(DEMO), "wf-0001", "--json"],
        ["pipeline", str(DEMO), "--steps", LOOP, "--as-of", AS_OF, "--json"],
        ["funnel", str(DEMO), "--steps", LOOP, "--breakdown", "context.market", "--json"],
    ],
)
def test_every_metric_command_answers_json_without_drawing(args):
    run = cli_in_fresh_python(args)
    assert (run.rc, run.drawing) == (0, [])
    assert isinstance(json.loads("\n".join(run.printed)), dict)


def test_goals_and_today_on_the_demo_day():
    goals = json.loads(run_cli("goals", str(DEMO), "--as-of", AS_OF, "--json").stdout)
    statuses = {g["id"]: g["status"] for g in goals["goals"]}
    assert statuses["closed-trades-week"] in {"met", "on_track", "at_risk", "behind"}
    assert all(0 <= g["expected_progress"] <= 1 for g in goals["goals"])
    today = json.loads(run_cli("today", str(DEMO), "--as-of", AS_OF, "--json").stdout)
    assert today["counts"]["signal.created"] > 0
    assert today["pending_tasks"]["count"] == len(today["pending_tasks"]["tasks"])


@pytest.mark.parametrize(
    ("args", "bad"),
    [
        (["trend", str(DEMO), "--event", "x", "--tz", "Mars/Olympus"], "Mars/Olympus"),
        (["trend", str(DEMO), "--event", "x", "--interval", "fortnight"], "fortnight"),
        (["trend", str(DEMO), "--event", "x", "--since", "2026-13-40"], "2026-13-40"),
        (["trend", str(DEMO), "--event", "x", "--metric", "sum:paylod.pnl"], "paylod.pnl"),
        (["today", str(DEMO), "--tz", "Europe/Berlinn"], "Europe/Berlinn"),
        (["goals", str(DEMO), "--as-of", "noon"], "noon"),
        (["chain", str(DEMO), "wf-999999"], "wf-999999"),
        (["pipeline", str(DEMO), "--steps", LOOP, "--stuck-after", "2x"], "2x"),
        (["funnel", str(DEMO), "--steps", LOOP, "--trend", "month"], "month"),
        (["funnel", str(DEMO), "--steps", LOOP, "--time-to-convert", "5:1"], "5:1"),
        (["funnel", str(DEMO), "--steps", LOOP, "--breakdown", "contxt.market"], "contxt.market"),
    ],
)
def test_metric_mistakes_end_in_one_line_and_exit_2(args, bad):
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert bad in lines[0] and "Traceback" not in proc.stderr


def test_a_broken_goals_file_names_the_file_and_the_goal(tmp_path):
    (tmp_path / "events").mkdir()
    (tmp_path / "goals.yaml").write_text(
        "goals:\n  - id: g1\n    title: T\n    metric: cuont\n    event: a\n    target: 3\n    period: week\n"
    )
    proc = run_cli("goals", str(tmp_path))
    assert proc.returncode == 2
    assert "goals.yaml" in proc.stderr and "g1" in proc.stderr and "count" in proc.stderr
