"""Tests for the demo artifact writer.

Why: the demo folder is the fixture the rest of opdash is tested against, so it
must be reproducible, realistic (drop-off, time spread) and honest about its own
counts. Files are read back with plain json/pyarrow, never with opdash readers.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from tests.fixtures import ROOT


def _load_demo() -> Any:
    """Import opdash.demo, falling back to the file path if the package is not ready."""
    try:
        from opdash import demo

        return demo
    except Exception:
        path = ROOT / "opdash" / "demo.py"
        spec = importlib.util.spec_from_file_location("opdash_demo_standalone", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module


demo = _load_demo()
AS_OF = datetime(2026, 11, 20, 16, tzinfo=UTC)
REQUIRED = ("event_id", "event_type", "event_version", "occurred_at", "actor", "context")
REQUIRED += ("entity", "correlation", "payload")
FUNNEL = ("signal.created", "candidate.created", "trade.plan.created", "trade.executed")
FUNNEL += ("trade.closed",)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _parse_time(text: Any) -> datetime | None:
    """RFC 3339 with Z, an offset, or no offset (UTC)."""
    if isinstance(text, datetime):
        return text.astimezone(UTC)
    if not isinstance(text, str):
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _raw_records(root: Path) -> list[Any]:
    """Every event-like record in the folder; unparseable lines come back as None."""
    out: list[Any] = []
    event_files = [*root.glob("events/**/*.jsonl"), *root.glob("events/**/*.ndjson")]
    for path in sorted(event_files + sorted(root.glob("runs/*/events.jsonl"))):
        for line in path.read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append(None)
    for path in sorted(root.glob("events/journal/*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        out.extend(doc if isinstance(doc, list) else [doc])
    for path in sorted(root.glob("events/trades/*.parquet")):
        out.extend(pq.read_table(path).to_pylist())
    return out


def _valid(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("event_id"), str)
        and isinstance(record.get("event_type"), str)
        and _parse_time(record.get("occurred_at")) is not None
    )


def _events(root: Path) -> tuple[list[dict[str, Any]], int]:
    """Valid unique events, plus the count of bad records and duplicates."""
    seen: dict[str, dict[str, Any]] = {}
    bad = 0
    for record in _raw_records(root):
        if not _valid(record) or record["event_id"] in seen:
            bad += 1
            continue
        seen[record["event_id"]] = record
    return list(seen.values()), bad


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    root = tmp_path_factory.mktemp("demo") / "out"
    return root, demo.write_demo(root)


def test_same_arguments_are_byte_identical(tmp_path: Path) -> None:
    a = demo.write_demo(tmp_path / "a", seed=3, workflows=60)
    b = demo.write_demo(tmp_path / "b", seed=3, workflows=60)
    ta, tb = _tree(a.path), _tree(b.path)
    assert sorted(ta) == sorted(tb)
    for rel in sorted(ta):
        assert ta[rel] == tb[rel], rel
    assert (a.files, a.events, a.malformed) == (b.files, b.events, b.malformed)


def test_default_output_is_reproducible(default_demo: tuple[Path, Any], tmp_path: Path) -> None:
    root, _ = default_demo
    again = demo.write_demo(tmp_path / "again")
    assert _tree(root) == _tree(again.path)


def test_different_seed_changes_content(tmp_path: Path) -> None:
    a = _tree(demo.write_demo(tmp_path / "a", seed=1, workflows=60).path)
    b = _tree(demo.write_demo(tmp_path / "b", seed=2, workflows=60).path)
    assert a != b


def test_summary_matches_folder(default_demo: tuple[Path, Any]) -> None:
    root, summary = default_demo
    events, bad = _events(root)
    assert summary.files == len(_tree(root))
    assert summary.events == len(events)
    assert summary.malformed == bad == 6
    assert summary.runs == 4 == len(list(root.glob("runs/*/run.json")))


def test_events_have_envelope_and_none_after_as_of(default_demo: tuple[Path, Any]) -> None:
    root, _ = default_demo
    events, _ = _events(root)
    for ev in events:
        assert all(key in ev for key in REQUIRED), ev
        assert _parse_time(ev["occurred_at"]) <= AS_OF
        assert {"type", "id"} <= set(ev["actor"])
        assert "workflow_id" in ev["correlation"]


def test_parents_stay_inside_their_workflow(default_demo: tuple[Path, Any]) -> None:
    root, _ = default_demo
    events, _ = _events(root)
    by_id = {ev["event_id"]: ev for ev in events}
    for ev in events:
        parent = ev["correlation"].get("parent_event_id")
        if ev["event_type"] == "signal.created":
            assert parent is None
        if parent is None:
            continue
        assert parent in by_id, ev["event_id"]
        assert by_id[parent]["correlation"]["workflow_id"] == ev["correlation"]["workflow_id"]
        assert _parse_time(by_id[parent]["occurred_at"]) <= _parse_time(ev["occurred_at"])


def test_funnel_drops_off(default_demo: tuple[Path, Any]) -> None:
    root, _ = default_demo
    events, _ = _events(root)
    counts = [
        len({e["correlation"]["workflow_id"] for e in events if e["event_type"] == step})
        for step in FUNNEL
    ]
    assert all(a > b > 0 for a, b in zip(counts, counts[1:], strict=False)), counts


def test_time_spread_and_formats(default_demo: tuple[Path, Any]) -> None:
    root, _ = default_demo
    events, _ = _events(root)
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for ev in events:
        wf, dt = ev["correlation"]["workflow_id"], _parse_time(ev["occurred_at"])
        if wf:
            first[wf] = min(first.get(wf, dt), dt)
            last[wf] = max(last.get(wf, dt), dt)
    assert any(last[wf] - first[wf] > timedelta(days=14) for wf in first)
    assert sum(1 for dt in first.values() if dt.date() == AS_OF.date()) >= 20
    assert min(first.values()) >= AS_OF - timedelta(days=21)
    stamps = [ev["occurred_at"] for ev in events if isinstance(ev["occurred_at"], str)]
    assert any(s.endswith(("+02:00", "-05:00")) for s in stamps)
    assert any(len(s) == 19 for s in stamps)
    assert any("source" in ev for ev in events)
    signals = [
        e["correlation"]["workflow_id"] for e in events if e["event_type"] == "signal.created"
    ]
    assert len(signals) > len(set(signals))


def test_layout_runs_state_goals(default_demo: tuple[Path, Any]) -> None:
    root, _ = default_demo
    for rel in ("events/journal/latest.json", "events/coach/coach.ndjson", "goals.yaml"):
        assert (root / rel).is_file()
    assert json.loads((root / "events/journal/latest.json").read_text())["event_id"]
    assert list(root.glob("events/scanner/date=*/events.jsonl"))
    table = pq.read_table(sorted(root.glob("events/trades/*.parquet"))[0])
    assert str(table.schema.field("occurred_at").type) == "timestamp[us, tz=UTC]"
    runs = {p.parent.name: json.loads(p.read_text()) for p in root.glob("runs/*/run.json")}
    assert runs["planner-live-20261120"]["status"] == "running"
    assert runs["coach-nightly-20261119"]["status"] == "failed"
    assert all(r["params"]["api_key"] == "sk-demo-not-a-real-key" for r in runs.values())
    alerts = [json.loads(line) for p in root.glob("runs/*/alerts.jsonl") for line in p.open()]
    assert any("<script>alert(1)</script>" in a["title"] for a in alerts)
    assert {a["resolved_at"] is None for a in alerts} == {True, False}
    assert isinstance(json.loads((root / "state/orchestrator/STATE.json").read_text()), dict)
    goals = yaml.safe_load((root / "goals.yaml").read_text())["goals"]
    assert goals[0]["id"] == "closed-trades-week" and len(goals) >= 3
    for path in root.rglob("*"):
        if path.is_file() and path.suffix != ".parquet":
            assert path.read_bytes().endswith(b"\n"), path


def test_size_under_two_megabytes(default_demo: tuple[Path, Any]) -> None:
    root, _ = default_demo
    assert sum(len(b) for b in _tree(root).values()) < 2 * 1024 * 1024


def test_refuses_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine\n")
    with pytest.raises(FileExistsError, match="is not empty"):
        demo.write_demo(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_empty_existing_folder_is_fine(tmp_path: Path) -> None:
    summary = demo.write_demo(tmp_path, workflows=20, as_of="2026-03-01T08:30:00+01:00")
    assert summary.events > 0 and summary.path == tmp_path
