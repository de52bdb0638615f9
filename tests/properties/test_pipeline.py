"""Pipeline: each workflow's stage, idle time and the stuck lists, exact, then against plain Python.

Why: "which ones are stuck" is a to-do list for operators; a workflow wrongly listed (or missing)
costs someone's time. Each rule of docs/chains-and-pipeline.md (ordered stage within the window,
idle from the newest event of any type, strict "longer than" threshold, done is never stuck,
as-of hides later events, oldest first, capped lists with exact counts) gets a hand-made case, and a
small loop-over-dicts reference is compared with opdash on hypothesis-generated folders.
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
from opdash.commands import pipeline as pipeline_cmd
from opdash.errors import UsageError
from opdash.metrics.pipeline import pipeline, workflow_state
from tests.fixtures import T0, at, write_lines

H = 3600
AS_OF = T0 + timedelta(hours=10)


def env(event_id: str, event_type: str, seconds: float, wf: str) -> dict:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": at(seconds),
        "correlation": {"workflow_id": wf, "parent_event_id": None},
        "actor": {"type": "agent", "id": "bot"},
    }


def hand_folder(folder: Path) -> Path:
    rows = [
        ("s1a", [("a", 0)]),
        ("s1b", [("a", 9 * H)]),  # idle exactly 1h: not stuck
        ("s1c", [("a", 9 * H - 1)]),  # idle 1h 1s: stuck
        ("s1d", [("a", 0), ("b", H + 1)]),  # b one second past the 1h window: stage 1
        ("s2a", [("a", 0), ("b", H), ("x", 20000)]),  # window inclusive; newest event is x
        ("s2b", [("a", 30000), ("b", 31000), ("c", 40000)]),  # c is after as-of: ignored
        ("s2c", [("a", 35000), ("b", 35500)]),  # idle 500 s
        ("s3a", [("a", 0), ("b", 10), ("c", 20)]),  # done long ago: never stuck
        ("s3b", [("c", 0), ("b", 0), ("a", 0)]),  # ties sort in step order: done
        ("late", [("a", 40000)]),  # enters after as-of: not there yet
        ("none", [("x", 0)]),  # never entered
        ("bonly", [("b", 0)]),
    ]
    events = [
        env(f"{wf}-{i}", typ, t, wf) for wf, items in rows for i, (typ, t) in enumerate(items)
    ]
    write_lines(folder / "events" / "x.jsonl", events)
    return folder


def compute(folder: Path, **kwargs):
    options = {"window": "1h", "stuck_after": "1h", "as_of": AS_OF.isoformat()} | kwargs
    return pipeline(opdash.open(folder), ["a", "b", "c"], **options)


def test_stages_idle_times_and_stuck_lists(folder: Path) -> None:
    result = compute(hand_folder(folder))
    assert [(s.workflows, s.stuck) for s in result.stages] == [(4, 3), (3, 2), (2, 0)]
    assert (result.workflows, result.done, result.stuck) == (9, 2, 5)
    one, two, three = result.stages
    assert [(w.workflow_id, w.idle_seconds) for w in one.stuck_workflows] == [
        ("s1a", 36000.0),
        ("s1d", 36000.0 - H - 1),
        ("s1c", 3601.0),
    ]
    assert one.stuck_workflows[1].last_event_type == "b"
    assert one.stuck_workflows[1].last_event_at == T0 + timedelta(seconds=H + 1)
    assert [(w.workflow_id, w.idle_seconds, w.last_event_type) for w in two.stuck_workflows] == [
        ("s2a", 16000.0, "x"),
        ("s2b", 5000.0, "b"),
    ]
    assert three.stuck_workflows == ()


def test_json_shape_and_capped_lists_keep_exact_counts(folder: Path) -> None:
    data = compute(hand_folder(folder), limit=2).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["as_of"] == "2026-11-20T19:00:00+00:00"
    assert data["stuck_after_seconds"] == H and data["workflows"] == 9 and data["done"] == 2
    first = data["stages"][0]
    assert first["stage"] == 1 and first["event_type"] == "a"
    assert first["workflows"] == 4 and first["stuck"] == 3
    assert [w["workflow_id"] for w in first["stuck_workflows"]] == ["s1a", "s1d"]
    assert first["stuck_workflows"][0] == {
        "workflow_id": "s1a",
        "last_event_at": "2026-11-20T09:00:00+00:00",
        "idle_seconds": 36000.0,
        "last_event_type": "a",
    }
    nothing = compute(folder, limit=0).to_dict()
    assert [s["stuck"] for s in nothing["stages"]] == [3, 2, 0]
    assert all(s["stuck_workflows"] == [] for s in nothing["stages"])


def test_as_of_moves_the_picture(folder: Path) -> None:
    hand_folder(folder)
    later = compute(folder, as_of=(T0 + timedelta(seconds=40000)).isoformat())
    # "late" entered (idle 0); s2b's c counts as its newest event (idle 0) but came 10000 s after
    # its a, past the 1h window: still stage 2
    assert [(s.workflows, s.stuck) for s in later.stages] == [(5, 4), (3, 2), (2, 0)]
    assert [w.workflow_id for w in later.stages[1].stuck_workflows] == ["s2a", "s2c"]
    # one hour in: s1b, s2b, s2c, late have not started; s2a has not seen its x yet
    early = compute(folder, as_of=(T0 + timedelta(hours=1)).isoformat())
    assert [(s.workflows, s.stuck) for s in early.stages] == [(2, 0), (1, 0), (2, 0)]
    assert early.stages[1].workflows == 1  # s2a's b at exactly 1h: as-of is inclusive


def test_other_entity_and_state_expression(folder: Path) -> None:
    hand_folder(folder)
    state = workflow_state(
        opdash.open(folder), "a,b,c", window="1h", stuck_after="1h", as_of=AS_OF
    ).execute()
    assert len(state) == 9 and int(state.stuck.sum()) == 5
    by_actor = compute(folder, by="actor.id")  # every event is by "bot": one entity
    assert by_actor.workflows == 1 and by_actor.done == 1


def test_default_as_of_is_now(folder: Path) -> None:
    hand_folder(folder)
    result = pipeline(opdash.open(folder), "a,b,c", window="1h", stuck_after="1h")
    assert abs(result.as_of - datetime.now(UTC)) < timedelta(minutes=1)
    assert result.to_dict() == compute(folder, as_of=result.as_of).to_dict()


def test_bad_arguments(folder: Path) -> None:
    catalog = opdash.open(hand_folder(folder))
    with pytest.raises(UsageError, match="bad stuck-after '2x'"):
        pipeline(catalog, "a,b", stuck_after="2x")
    with pytest.raises(UsageError, match="bad as-of 'yesterday'"):
        pipeline(catalog, "a,b", as_of="yesterday")
    with pytest.raises(UsageError, match="bad steps"):
        pipeline(catalog, "a,,b")
    with pytest.raises(UsageError, match="unknown field path"):
        pipeline(catalog, "a,b", by="actr.id")


# -- against a plain-Python reference ---------------------------------------------------------


def reference(events, steps, window_s, stuck_s, as_of_s, limit):
    """Loops over the event dicts: furthest ordered step within the window, newest event."""
    first = {}
    for i, t in enumerate(steps):
        first.setdefault(t, i)
    per_wf: dict[str, list] = {}
    for e in events:
        if e["t"] <= as_of_s:
            per_wf.setdefault(e["wf"], []).append(
                (e["t"], first.get(e["type"], len(steps)), e["id"], e["type"])
            )
    stages = [{"workflows": 0, "stuck": []} for _ in steps]
    for wf, rows in per_wf.items():
        seq = sorted(rows)
        best = 0
        for i, (t0, _, _, typ) in enumerate(seq):
            if typ != steps[0]:
                continue
            level, j = 1, i
            for step in steps[1:]:
                nxt = next((k for k in range(j + 1, len(seq)) if seq[k][3] == step), None)
                if nxt is None or seq[nxt][0] > t0 + window_s:
                    break
                level, j = level + 1, nxt
            best = max(best, level)
        if not best:
            continue
        last_t, last_id = max((t, eid) for t, _, eid, _ in rows)
        last_type = next(typ for t, _, eid, typ in rows if eid == last_id)
        stage = stages[best - 1]
        stage["workflows"] += 1
        idle = as_of_s - last_t
        if idle > stuck_s and best < len(steps):
            stage["stuck"].append((last_t, wf, float(idle), last_type))
    out = []
    for k, stage in enumerate(stages):
        stuck = sorted(stage["stuck"])
        out.append(
            (
                k + 1,
                stage["workflows"],
                len(stuck),
                [(wf, idle, typ) for _, wf, idle, typ in stuck[:limit]],
            )
        )
    return out


event_strategy = st.fixed_dictionaries(
    {
        "wf": st.sampled_from(["w0", "w1", "w2", "w3", "w4"]),
        "type": st.sampled_from(["a", "b", "c", "x"]),
        "t": st.integers(0, 12).map(lambda n: n * 600),
    }
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=st.lists(event_strategy, min_size=1, max_size=25),
    steps=st.sampled_from([["a", "b", "c"], ["a", "b"], ["a", "b", "a"], ["b", "x", "c"]]),
    as_of_steps=st.integers(0, 14),
    limit=st.integers(1, 3),
)
def test_matches_plain_python(events, steps, as_of_steps, limit) -> None:
    for i, e in enumerate(events):
        e["id"] = f"e{(i * 7) % 100:02d}-{i}"  # event ids not in time order
    as_of_s = as_of_steps * 600
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_lines(
            folder / "events" / "x.jsonl",
            [env(e["id"], e["type"], e["t"], e["wf"]) for e in events],
        )
        result = pipeline(
            opdash.open(folder),
            steps,
            window="30m",
            stuck_after="30m",
            as_of=T0 + timedelta(seconds=as_of_s),
            limit=limit,
        )
    got = [
        (
            s.stage,
            s.workflows,
            s.stuck,
            [(w.workflow_id, w.idle_seconds, w.last_event_type) for w in s.stuck_workflows],
        )
        for s in result.stages
    ]
    assert got == reference(events, steps, 1800, 1800, as_of_s, limit)


# -- the command ---------------------------------------------------------------------------------


def run_cmd(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    pipeline_cmd.add_arguments(parser)
    return pipeline_cmd.run(parser.parse_args(argv))


ARGS = ["--steps", "a,b,c", "--window", "1h", "--stuck-after", "1h", "--as-of", "2026-11-20T19:00"]


def test_command_json(folder: Path, capsys) -> None:
    hand_folder(folder)
    assert run_cmd([str(folder), *ARGS, "--json", "--limit", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == compute(folder, limit=1).to_dict()
    assert [len(s["stuck_workflows"]) for s in data["stages"]] == [1, 1, 0]


def test_command_text(folder: Path, capsys) -> None:
    hand_folder(folder)
    assert run_cmd([str(folder), *ARGS]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "pipeline by correlation.workflow_id, window 1h, stuck after 1h, as of 2026-11-20T19:00:00Z"
    )
    assert "9 workflows, 2 done" in out
    assert "stuck at 1 a (3):" in out
    assert "  s1a  idle 10 h  last a at 2026-11-20T09:00:00Z" in out
    assert out.index("s1a  idle") < out.index("s1d  idle") < out.index("s1c  idle")


def test_command_text_echoes_the_window_as_given(folder: Path, capsys) -> None:
    """A window or stuck-after of 14 days typed as 14d is echoed as 14d (never 2w); one typed
    in weeks or minutes keeps its unit; the default window is the default's text, 14d."""
    hand_folder(folder)
    head = (
        "pipeline by correlation.workflow_id, window {}, stuck after {}, as of 2026-11-20T19:00:00Z"
    )
    cases = (
        (["--window", "14d", "--stuck-after", "14d"], ("14d", "14d")),
        (["--window", "2w", "--stuck-after", "90m"], ("2w", "90m")),
        (["--stuck-after", "1d"], ("14d", "1d")),
    )
    for options, echoed in cases:
        assert (
            run_cmd([str(folder), "--steps", "a,b,c", *options, "--as-of", "2026-11-20T19:00"]) == 0
        )
        assert capsys.readouterr().out.splitlines()[0] == head.format(*echoed)


def test_command_notes_a_missing_step(folder: Path, capsys) -> None:
    hand_folder(folder)
    assert run_cmd([str(folder), "--steps", "a,nope", "--as-of", "2026-11-20T19:00"]) == 0
    assert "event type 'nope' never occurs" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "bad"), [("--stuck-after", "2x"), ("--as-of", "soon"), ("--window", "0d")]
)
def test_command_bad_option_names_the_value(folder: Path, option: str, bad: str) -> None:
    with pytest.raises(UsageError, match=f"'{bad}'"):
        run_cmd([str(folder), "--steps", "a,b", option, bad])
