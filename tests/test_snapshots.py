"""``opdash snapshot``: deterministic, complete, escaped, masked, and never inside the artifacts.

Why: snapshots are archived as the record of what an operator saw; two runs over the same data
and moment must be byte-identical (or diffs become noise), a snapshot must hold every run, and
a page that ships to an archive must neither leak a secret nor run anything from the data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from conftest import write_lines
from servers import copy_demo

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def snapshot(folder: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "opdash.cli", "snapshot", str(folder), "--out", str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = copy_demo(tmp_path_factory.mktemp("snap") / "artifacts")
    run = root / "runs" / "evil-run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({
        "run_id": "evil-run", "name": EVIL, "status": "running",
        "started_at": "2026-11-20T12:00:00Z", "heartbeat_at": "2026-11-20T12:01:00Z",
        "params": {"Authorization": "Bearer s3cr3t-bearer", "nested": {"client_secret": "cs-1"}},
    }))  # fmt: skip
    write_lines(run / "alerts.jsonl", [{
        "alert_id": "x1", "raised_at": "2026-11-20T12:02:00Z", "severity": "critical",
        "title": EVIL, "message": "login with password=pw-in-text failed",
    }])  # fmt: skip
    write_lines(run / "events.jsonl", [{
        "event_id": "evil-1", "event_type": "tool.called", "occurred_at": "2026-11-20T12:01:30Z",
        "payload": {"cmd": EVIL, "api_key": "ak-in-payload"},
    }])  # fmt: skip
    return root


SECRETS = ("s3cr3t-bearer", "cs-1", "pw-in-text", "ak-in-payload", "sk-demo-not-a-real-key")


def test_same_data_and_moment_give_the_same_bytes(folder: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        done = snapshot(folder, tmp_path / name, "--as-of", "2026-11-20T15:00:00Z")
        assert done.returncode == 0, done.stderr
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    runs = ["backtest-20261118", "coach-nightly-20261119", "evil-run", "planner-live-20261120",
            "scanner-live-20261120"]  # fmt: skip
    expected = {"status_snapshot.json", "status_snapshot.html", "runs.json"}
    expected |= {f"runs/{r}/{f}.json" for r in runs for f in ("snapshot", "tail", "alerts")}
    assert set(digest(tmp_path / "a")) == expected
    done = snapshot(folder, tmp_path / "c", "--as-of", "2026-11-20T15:30:00Z")
    assert digest(tmp_path / "c")["runs.json"] != digest(tmp_path / "a")["runs.json"]


def test_without_as_of_the_moment_is_the_datas_newest(folder: Path, tmp_path: Path) -> None:
    assert snapshot(folder, tmp_path / "a").returncode == 0
    assert snapshot(folder, tmp_path / "b").returncode == 0
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    whole = json.loads((tmp_path / "a" / "status_snapshot.json").read_text())
    assert datetime.fromisoformat(whole["as_of"]) == newest_timestamp(folder)


def newest_timestamp(folder: Path) -> datetime:
    """The newest instant written anywhere in the artifacts, read from the files themselves."""
    keys = ("occurred_at", "started_at", "ended_at", "heartbeat_at", "raised_at", "resolved_at")
    found = []
    for path in folder.rglob("*"):
        if path.suffix not in (".json", ".jsonl") or "state" in path.parts:
            continue
        for line in (
            path.read_text(errors="replace").splitlines()
            if path.suffix == ".jsonl"
            else [path.read_text(errors="replace")]
        ):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            for key in keys if isinstance(record, dict) else ():
                with contextlib.suppress(KeyError, AttributeError, TypeError, ValueError):
                    found.append(datetime.fromisoformat(record[key].replace("Z", "+00:00")))
    return max(t for t in found if t.tzinfo is not None)


def test_the_files_hold_what_the_artifacts_say(folder: Path, tmp_path: Path) -> None:
    assert snapshot(folder, tmp_path, "--as-of", "2026-11-20T16:00:00Z").returncode == 0
    runs = json.loads((tmp_path / "runs.json").read_text())["runs"]
    assert sorted(r["run_id"] for r in runs) == sorted(p.name for p in (folder / "runs").iterdir())
    for run in runs:
        events_file = folder / "runs" / run["run_id"] / "events.jsonl"
        ids = []
        for line in events_file.read_text().splitlines() if events_file.exists() else []:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("occurred_at", "9") <= "2026-11-20T16:00":
                ids.append((record["occurred_at"], record["event_id"]))
        tail = json.loads((tmp_path / "runs" / run["run_id"] / "tail.json").read_text())["events"]
        assert [e["event_id"] for e in tail] == [i for _, i in sorted(ids)][-50:]
    whole = json.loads((tmp_path / "status_snapshot.json").read_text())
    assert {a["title"] for a in whole["open_alerts"]} >= {EVIL, "Nightly coach run failed"}
    assert whole["data"]["events"] == 1073 + 1


def test_no_secret_no_markup_no_network(folder: Path, tmp_path: Path) -> None:
    assert snapshot(folder, tmp_path).returncode == 0
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for secret in SECRETS:
                assert secret not in text, (path, secret)
            assert "<script" not in text.replace("&lt;script", ""), path
    page = (tmp_path / "status_snapshot.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert re.findall(r"<(script|img|link|iframe)\b", page) == []
    assert not re.search(r"<[^>]*\b(src|href)\s*=", page)  # no attribute loads anything
    assert "default-src 'none'" in page


def test_out_inside_the_artifacts_or_a_bad_moment_is_refused(folder: Path) -> None:
    before = digest(folder)
    for out, extra in ((folder / "snap", ()), (folder, ()), (folder / "runs" / "x", ())):
        done = snapshot(folder, out, *extra)
        assert done.returncode == 2 and "inside the artifact folder" in done.stderr
    done = snapshot(folder, folder.parent / "ok", "--as-of", "noonish")
    assert done.returncode == 2 and "'noonish'" in done.stderr and "Traceback" not in done.stderr
    assert digest(folder) == before  # nothing written into the artifacts


def test_snapshot_does_not_draw(folder: Path, tmp_path: Path) -> None:
    """A snapshot is data: the command never imports Panel, HoloViews, Bokeh or Tornado."""
    code = (
        "import sys; from opdash.cli import main;"
        f"rc = main(['snapshot', {str(folder)!r}, '--out', {str(tmp_path)!r}]);"
        "print(rc, [m for m in ('panel', 'holoviews', 'bokeh', 'tornado') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "0 []"
