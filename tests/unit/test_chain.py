"""Workflow chains: tree shape, orphans, parent loops, exact durations, errors, CLI output.

Why: a chain is what an operator opens to see how one workflow unfolded. Every rule of
docs/chains-and-pipeline.md (time order of siblings and roots, orphans as roots, loops broken and
marked, exact seconds) gets a hand-made case, and a loop must never hang the command.
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from pathlib import Path

import pytest

import opdash
from opdash.commands import chain as chain_cmd
from opdash.errors import UsageError
from opdash.metrics.chain import chain
from opdash.timeutil import human_duration
from tests.fixtures import T0, at, write_lines
from tests.servers import DEMO


def env(event_id, event_type, seconds, wf="w1", parent=None, actor=("agent", "bot-1"), **more):
    """An envelope line with correlation (workflow, parent) and actor."""
    correlation = {"workflow_id": wf}
    if parent is not None:
        correlation["parent_event_id"] = parent
    event = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": at(seconds),
        "correlation": correlation,
        "actor": {"type": actor[0], "id": actor[1]},
    }
    event.update(more)
    return event


def tree_folder(folder: Path) -> Path:
    events = [
        env("c2", "b", 60, parent="r1"),  # written before c1, same time: event id decides
        env("r1", "a", 0, actor=("human", "alice")),
        env("c1", "b", 60, parent="r1"),
        # 750.5 s after T0, written with a +02:00 offset
        {
            **env("g1", "c", 0, parent="c1"),
            "occurred_at": (T0 + timedelta(seconds=750.5, hours=2)).isoformat()[:-6] + "+02:00",
        },
        env("r2", "a", 30),  # a second root, same time as the orphan o1
        env("o1", "b", 30, parent="nowhere"),  # orphan: parent not in the folder at all
        env("x2", "loop", 200, parent="x1"),  # x1 → x2 → x1
        env("x1", "loop", 100, parent="x2"),
        env("y1", "after-loop", 400, parent="x2"),  # hangs off the loop, not on it
        env("s1", "self", 300, parent="s1"),  # its own parent
        env("z1", "b", 500, parent="p0"),  # parent lives in another workflow: orphan here
        env("p0", "a", 0, wf="w2"),
    ]
    write_lines(folder / "events" / "x.jsonl", events)
    return folder


def test_tree_order_depths_orphans_loops_and_exact_durations(folder: Path) -> None:
    result = chain(opdash.open(tree_folder(folder)), "w1")
    walked = [(n.event_id, n.depth) for n in result.walk()]
    assert walked == [
        ("r1", 0),
        ("c1", 1),
        ("g1", 2),
        ("c2", 1),
        ("o1", 0),
        ("r2", 0),
        ("x1", 0),
        ("x2", 1),
        ("y1", 2),
        ("s1", 0),
        ("z1", 0),
    ]
    nodes = {n.event_id: n for n in result.walk()}
    assert [c.event_id for c in nodes["r1"].children] == ["c1", "c2"]
    assert nodes["c1"].seconds_from_parent == 60.0
    assert nodes["g1"].seconds_from_parent == 690.5
    assert nodes["g1"].occurred_at == T0 + timedelta(seconds=750.5)
    assert nodes["x2"].seconds_from_parent == 100.0
    assert nodes["y1"].seconds_from_parent == 200.0
    assert nodes["r1"].seconds_from_parent is None
    assert {k for k, n in nodes.items() if n.orphan} == {"o1", "z1"}
    assert {k for k, n in nodes.items() if n.cycle} == {"x1", "x2", "s1"}
    assert nodes["x1"].parent_event_id == "x2"  # the data is shown as it is
    assert nodes["x1"].seconds_from_parent is None  # …but the loop is cut there
    assert nodes["r1"].actor_type == "human" and nodes["r1"].actor_id == "alice"
    assert (result.events, result.orphans, result.cycle_events, result.max_depth) == (11, 2, 3, 2)
    assert result.first_event_at == T0
    assert result.duration_seconds == 750.5
    assert "p0" not in nodes  # other workflows stay out


def test_to_dict_nests_children_and_is_json_ready(folder: Path) -> None:
    data = chain(opdash.open(tree_folder(folder)), "w1").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["events"] == 11 and data["roots"] == 6 and data["orphans"] == 2
    assert data["first_event_at"] == "2026-11-20T09:00:00+00:00"
    assert data["duration_seconds"] == 750.5
    r1 = data["tree"][0]
    assert set(r1) == {
        "event_id",
        "event_type",
        "occurred_at",
        "actor_type",
        "actor_id",
        "parent_event_id",
        "depth",
        "seconds_from_parent",
        "orphan",
        "cycle",
        "children",
    }
    assert [c["event_id"] for c in r1["children"]] == ["c1", "c2"]
    assert r1["children"][0]["children"][0]["event_id"] == "g1"
    assert r1["children"][0]["children"][0]["occurred_at"] == "2026-11-20T09:12:30.500000+00:00"


def test_a_long_loop_and_a_deep_chain_terminate(folder: Path) -> None:
    n = 600
    loop = [env(f"l{i:04d}", "step", i, parent=f"l{(i + 1) % n:04d}") for i in range(n)]
    line = [
        env(f"d{i:04d}", "step", i, wf="deep", parent=f"d{i - 1:04d}" if i else None)
        for i in range(n)
    ]
    write_lines(folder / "events" / "x.jsonl", loop + line)
    catalog = opdash.open(folder)
    looped = chain(catalog, "w1")
    assert looped.cycle_events == n and looped.max_depth == n - 1
    assert looped.roots[0].event_id == "l0000"
    deep = chain(catalog, "deep")
    assert deep.max_depth == n - 1 and deep.cycle_events == 0
    assert len(list(deep.walk())) == n


def test_unknown_workflow_suggests_a_close_id(folder: Path) -> None:
    write_lines(
        folder / "events" / "x.jsonl",
        [env("a", "a", 0, wf="order-1234"), env("b", "a", 0, wf="zzz")],
    )
    with pytest.raises(
        UsageError, match=r"workflow 'order-1243' not found — did you mean 'order-1234'"
    ):
        chain(opdash.open(folder), "order-1243")
    with pytest.raises(UsageError, match=r"^workflow 'qqqq' not found$"):
        chain(opdash.open(folder), "qqqq")


def test_demo_workflow_has_all_its_parents() -> None:
    result = chain(opdash.open(DEMO), "wf-0001")
    assert result.events >= 2 and result.orphans == 0 and result.cycle_events == 0
    assert len(result.roots) == 1 and result.max_depth >= 1
    gaps = [n.seconds_from_parent for n in result.walk() if n.depth]
    assert gaps and all(g is not None and g >= 0 for g in gaps)


def test_human_duration() -> None:
    assert human_duration(0.5) == "0.5 s"
    assert human_duration(45) == "45 s"
    assert human_duration(12 * 60 + 59) == "12 min"
    assert human_duration(3 * 3600 + 5 * 60) == "3 h 5 min"
    assert human_duration(2 * 86400 + 4 * 3600) == "2 d 4 h"
    assert human_duration(-120) == "-2 min"


# -- the command ---------------------------------------------------------------------------------


def run_cmd(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    chain_cmd.add_arguments(parser)
    return chain_cmd.run(parser.parse_args(argv))


def test_command_json(folder: Path, capsys) -> None:
    tree_folder(folder)
    assert run_cmd([str(folder), "w1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == chain(opdash.open(folder), "w1").to_dict()


def test_command_text_tree(folder: Path, capsys) -> None:
    tree_folder(folder)
    assert run_cmd([str(folder), "w1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("workflow w1: 11 events, 2026-11-20T09:00:00Z")
    assert "(12 min), 2 orphans, 3 on parent loops" in lines[0]
    assert lines[1] == "2026-11-20T09:00:00Z  a  r1  (human alice)"
    assert lines[2] == "  +1 min  b  c1  (agent bot-1)"
    assert lines[3] == "    +11 min  c  g1  (agent bot-1)"
    assert "[orphan: parent nowhere not in this workflow]" in lines[5]
    assert lines[8] == "  +1 min  loop  x2  (agent bot-1)  [parent loop (parent x1)]"
    assert lines[9].startswith("    +3 min  after-loop  y1")


def test_command_deep_json_is_written_without_recursion(folder: Path, capsys) -> None:
    n = 1200
    write_lines(
        folder / "events" / "x.jsonl",
        [env(f"d{i:04d}", "s", i, parent=f"d{i - 1:04d}" if i else None) for i in range(n)],
    )
    assert run_cmd([str(folder), "w1", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count('"event_id":') == n and out.startswith('{"cycle_events":0,')


def test_command_unknown_workflow_is_a_usage_error(folder: Path) -> None:
    tree_folder(folder)
    with pytest.raises(UsageError, match="workflow 'w11' not found — did you mean 'w1'"):
        run_cmd([str(folder), "w11"])
