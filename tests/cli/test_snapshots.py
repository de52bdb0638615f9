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
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.fixtures import write_lines
from tests.servers import copy_demo

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


MANIFEST = ".opdash-snapshot.json"  # what opdash wrote into OUT, so the next snapshot tidies
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
    assert set(digest(tmp_path / "a")) == expected | {MANIFEST}
    assert json.loads((tmp_path / "a" / MANIFEST).read_text()) == {"files": sorted(expected)}
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


def test_a_run_gone_since_takes_its_files_and_only_those(folder: Path, tmp_path: Path) -> None:
    """A second snapshot into the same OUT after a run folder was removed deletes that run's
    files (listed in the manifest of the first): OUT then equals a fresh snapshot, besides the
    files someone else put there, which stay (even inside the gone run's folder)."""
    artifacts = tmp_path / "artifacts"
    shutil.copytree(folder, artifacts)
    out, moment = tmp_path / "out", ("--as-of", "2026-11-20T16:00:00Z")
    assert snapshot(artifacts, out, *moment).returncode == 0
    assert (out / "runs" / "backtest-20261118" / "tail.json").is_file()
    theirs = {"notes.txt": "mine", "runs/readme.md": "mine", "runs/backtest-20261118/mine.txt": "x"}
    for relative, text in theirs.items():
        (out / relative).write_text(text)
    shutil.rmtree(artifacts / "runs" / "backtest-20261118")

    done = snapshot(artifacts, out, *moment)
    assert done.returncode == 0, done.stderr
    fresh = tmp_path / "fresh"
    assert snapshot(artifacts, fresh, *moment).returncode == 0
    left = digest(out)
    assert {k: left.pop(k) for k in theirs} == {
        k: hashlib.sha256(v.encode()).hexdigest() for k, v in theirs.items()
    }
    assert left == digest(fresh)  # the gone run's three files went; the rest is byte-identical
    assert not any(name.startswith("runs/backtest-20261118/") and name.endswith(".json")
                   for name in digest(out))  # fmt: skip


def test_a_tampered_manifest_never_reaches_outside_out(folder: Path, tmp_path: Path) -> None:
    """The manifest only names files to delete inside OUT that a snapshot writes: an entry
    with .., an absolute path, a symlinked folder leading out, a file opdash never writes, or
    no text at all is ignored — and the snapshot still succeeds."""
    out, outside = tmp_path / "out", tmp_path / "outside"
    (outside / "runs" / "x").mkdir(parents=True)
    victims = [outside / "snapshot.json", outside / "runs" / "x" / "tail.json", tmp_path / "t.json"]
    for victim in victims:
        victim.write_text("keep")
    (out / "runs").mkdir(parents=True)
    (out / "runs" / "link").symlink_to(outside, target_is_directory=True)
    (out / "runs" / "up").symlink_to(outside / "runs" / "x", target_is_directory=True)
    (out / "runs" / "evil-run").mkdir()  # a run written again, reached by a symlink: kept
    (out / "runs" / "alias").symlink_to(out / "runs" / "evil-run", target_is_directory=True)
    (out / "notes.json").write_text("mine")
    listed = [
        "../t.json", str(tmp_path / "t.json"), "runs/../../t.json", "runs/x/../../../t.json",
        "runs/link/snapshot.json", "runs/up/tail.json", "runs/link/runs/x/tail.json",
        "notes.json", "runs/../notes.json", "./notes.json", "", 7, None, {"a": 1},
        "runs/alias/snapshot.json", "runs/alias/tail.json",
        str(outside / "snapshot.json"),
    ]  # fmt: skip
    (out / MANIFEST).write_text(json.dumps({"files": listed}))
    done = snapshot(folder, out, "--as-of", "2026-11-20T16:00:00Z")
    assert done.returncode == 0, done.stderr
    assert all(victim.read_text() == "keep" for victim in victims)
    assert (out / "notes.json").read_text() == "mine"
    assert {p.name for p in (out / "runs" / "evil-run").iterdir()} == {
        "snapshot.json", "tail.json", "alerts.json"
    }  # fmt: skip
    written = json.loads((out / MANIFEST).read_text())["files"]
    assert written == sorted(written) and "runs.json" in written and "notes.json" not in written
    for broken in ("{not json", '["a list"]', '{"files": "runs.json"}'):
        (out / MANIFEST).write_text(broken)
        assert snapshot(folder, out, "--as-of", "2026-11-20T16:00:00Z").returncode == 0
        assert json.loads((out / MANIFEST).read_text())["files"] == written


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


# -- exact sums (issue 19) -----------------------------------------------------------------------

SUMMED_ROWS = 500_000


@pytest.fixture(scope="module")
def summed_folder(tmp_path_factory) -> tuple[Path, list[float]]:
    """500k ``pnl`` events in one day, values with up to 4 decimals, and a sum goal over them:
    a float sum's last digits would depend on how DuckDB's threads split the rows."""
    import random

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(19)
    root = tmp_path_factory.mktemp("summed") / "artifacts"
    (root / "events").mkdir(parents=True)
    values = [round(rng.uniform(-1000, 1000), rng.randint(0, 4)) for _ in range(SUMMED_ROWS)]
    hours = [datetime.fromisoformat(f"2026-11-20T{h:02d}:00:00+00:00") for h in range(24)]
    table = pa.table({
        "event_id": [f"p{i}" for i in range(SUMMED_ROWS)],
        "event_type": ["pnl"] * SUMMED_ROWS,
        "occurred_at": pa.array([hours[i % 24] for i in range(SUMMED_ROWS)],
                                pa.timestamp("us", tz="UTC")),
        "payload": pa.StructArray.from_arrays([pa.array(values, pa.float64())], names=["pnl"]),
    })  # fmt: skip
    pq.write_table(table, root / "events" / "pnl.parquet", row_group_size=100_000)
    (root / "goals.yaml").write_text(
        "goals:\n  - id: pnl-day\n    metric: sum:payload.pnl\n    event: pnl\n"
        "    target: 1000\n    period: day\n"
    )
    return root, values


def test_sums_are_exact_and_snapshots_of_them_byte_identical(summed_folder, tmp_path) -> None:
    from fractions import Fraction

    import opdash

    root, values = summed_folder
    exact = float(sum(Fraction(repr(v)) for v in values))  # rounded once, at the end
    catalog = opdash.open(root)
    moment = "2026-11-20T23:59:59Z"
    goal = opdash.goals(catalog, as_of=moment).goals[0]
    assert goal.actual == exact
    trend = opdash.trend(catalog, "pnl", metric="sum:payload.pnl", interval="day",
                         since="2026-11-20", until="2026-11-21")  # fmt: skip
    assert trend.series[0].buckets[0].value == exact
    mean = opdash.trend(catalog, "pnl", metric="avg:payload.pnl", interval="day",
                        since="2026-11-20", until="2026-11-21")  # fmt: skip
    assert mean.series[0].buckets[0].value == float(
        sum(Fraction(repr(v)) for v in values) / len(values)
    )
    first, second = tmp_path / "one", tmp_path / "two"
    for out in (first, second):
        assert snapshot(root, out, "--as-of", moment).returncode == 0
    assert digest(first) == digest(second)
    shown = json.loads((first / "status_snapshot.json").read_text())["goals"]["goals"][0]["actual"]
    assert shown == exact and isinstance(shown, float)


def test_a_number_too_large_to_sum_exactly_is_one_line(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    write_lines(root / "events" / "a.jsonl", [
        {"event_id": "a", "event_type": "pnl", "occurred_at": "2026-11-20T01:00:00Z",
         "payload": {"pnl": 2.5}},
        {"event_id": "b", "event_type": "pnl", "occurred_at": "2026-11-20T02:00:00Z",
         "payload": {"pnl": -3e21}},
    ])  # fmt: skip
    cmd = [sys.executable, "-m", "opdash.cli", "trend", str(root), "--event", "pnl",
           "--metric", "sum:payload.pnl", "--since", "2026-11-19", "--until", "2026-11-21"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "payload.pnl" in done.stderr and "1e20" in done.stderr

    import opdash
    from opdash.errors import UsageError

    catalog = opdash.open(root)
    with pytest.raises(UsageError, match="1e20"):
        opdash.kpi(catalog, "avg:payload.pnl", event_types=["pnl"], window="30d",
                   as_of=datetime.fromisoformat("2026-11-21T00:00:00+00:00"))  # fmt: skip
    with pytest.raises(UsageError, match="1e20"):
        opdash.goals(catalog, [{"id": "g", "metric": "sum:payload.pnl", "event": "pnl",
                                "target": 1, "period": "month"}], as_of="2026-11-21")  # fmt: skip
