"""Helpers the tests share: small artifact folders built by hand, the demo folder, opdash
commands in fresh processes, the Spark guard. (Fixtures are in ``conftest.py``; real servers in
``servers.py``; brute-force references in ``bruteforce*.py``.)"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
#: The repository's root and its committed demo folder (read-only in CI).
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"


def fingerprint(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under ``root``: size, modification time and mode (what a write changes)."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(root.rglob("*"))
    }


def at(when: float | datetime = 0) -> str:
    """RFC 3339 text (UTC, 'Z') of an instant, or of T0 + ``when`` seconds."""
    instant = when if isinstance(when, datetime) else T0 + timedelta(seconds=when)
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ev(
    event_id: str, event_type: str, when: float | datetime = 0, wf: str | None = "w1", **more
) -> dict:
    """An event envelope at ``when`` (an instant, or seconds after T0) in workflow ``wf``
    (None: no correlation at all)."""
    event = {"event_id": event_id, "event_type": event_type, "occurred_at": at(when)}
    if wf is not None:
        event["correlation"] = {"workflow_id": wf}
    event.update(more)
    return event


def open_events(folder: Path, events: list[dict]):
    """A catalog of a folder holding ``events`` (one JSON-lines file)."""
    import opdash

    write_lines(folder / "events" / "x.jsonl", events)
    return opdash.open(folder)


def write_lines(path: Path, records, *, newline_at_end: bool = True) -> Path:
    """Write a JSON-lines file; records are dicts (dumped), str (as is) or bytes (as is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = []
    for r in records:
        if isinstance(r, bytes):
            chunks.append(r)
        elif isinstance(r, str):
            chunks.append(r.encode("utf-8"))
        else:
            chunks.append(json.dumps(r).encode("utf-8"))
    data = b"\n".join(chunks) + (b"\n" if newline_at_end and chunks else b"")
    path.write_bytes(data)
    return path


@dataclass(frozen=True)
class CliRun:
    """An ``opdash`` command run in a fresh Python, and the drawing libraries it imported."""

    rc: int  # what opdash.cli.main returned
    drawing: list[str]  # of panel, holoviews, bokeh: those in sys.modules afterwards
    compiled: bool  # whether ibis was imported (a query shape compiled in this process)
    printed: list[str]  # the command's stdout lines
    stderr: str
    process: subprocess.CompletedProcess


def run_clis(
    *arglists: list[str], cwd: Path | None = None, timeout: float = 120
) -> list[subprocess.CompletedProcess[str]]:
    """``opdash ARGS`` for each list, as concurrent subprocesses (each start costs a second).
    One still running after ``timeout`` (a server that should have refused to start) is killed
    and reported with what it printed."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "opdash.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        for args in arglists
    ]
    done = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def cli_in_fresh_python(args: list[str]) -> CliRun:
    """Run ``opdash ARGS`` through ``opdash.cli.main`` in a new interpreter: commands that do
    not draw must not import Panel, HoloViews or Bokeh (they cost seconds at start)."""
    code = (
        f"import json, sys; from opdash.cli import main; rc = main({args!r});"
        "print(json.dumps({'rc': rc, 'drawing': [m for m in ('panel', 'holoviews', 'bokeh') "
        "if m in sys.modules], 'compiled': 'ibis' in sys.modules}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    *printed, last = proc.stdout.strip().splitlines()
    answer = json.loads(last)
    return CliRun(answer["rc"], answer["drawing"], answer["compiled"], printed, proc.stderr, proc)


@contextlib.contextmanager
def heavy_starts(value: int):
    """Ordered chains of entities with more starts than ``value`` take the sorted path (0:
    every entity), the others the join rounds: both are checked against the brute force."""
    from opdash.metrics import sequence

    old, sequence.HEAVY_STARTS = sequence.HEAVY_STARTS, value
    try:
        yield
    finally:
        sequence.HEAVY_STARTS = old


def needs_spark() -> pytest.MarkDecorator:
    """Skip a Spark test where Java or the ``spark`` extra is missing — except where
    ``OPDASH_REQUIRE_SPARK`` is set (CI): there a missing piece fails the run."""
    import os
    import shutil

    missing = None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing = "pyspark is not installed (pip install -e '.[spark]')"
    if missing is None and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing = "no Java (apt-get install openjdk-17-jre-headless)"
    if missing and os.environ.get("OPDASH_REQUIRE_SPARK"):
        raise RuntimeError(f"the Spark tests must run here: {missing}")
    return pytest.mark.skipif(missing is not None, reason=missing or "")
