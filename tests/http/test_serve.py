"""``opdash serve`` as a real server process: it answers, binds loopback, and explains a busy port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures import ev
from tests.servers import (
    DEMO,
    ROOT,
    append_lines,
    copy_demo,
    free_port,
    opdash_serve,
    serving,
    session_text,
)


def test_serve_answers_on_loopback_with_the_dashboard_page():
    with opdash_serve(DEMO) as url:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as response:
            page = response.read().decode()
        assert response.status == 200
        assert "opdash" in page and "bokeh" in page.lower()


def test_a_busy_port_ends_with_one_clear_line():
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        proc = subprocess.run(
            [sys.executable, "-m", "opdash.cli", "serve", str(DEMO), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"opdash serve: error: port {port} on 127.0.0.1 is already in use; pick another with --port"
    ]


def serving_processes(port: int) -> dict[int, int]:
    """The processes running an ``opdash serve`` or ``panel serve`` on ``port``: pid -> parent."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"serve" in args and str(port).encode() in args:
            found[int(proc.name)] = parent
    return found


def health_events(url: str) -> int:
    with urllib.request.urlopen(url + "health", timeout=10) as response:
        return json.loads(response.read())["events"]


def test_num_procs_serves_from_several_processes_each_refreshing_its_own_catalog(
    tmp_path: Path,
) -> None:
    """``--num-procs 2``: a supervising process and two serving ones; requests land on both,
    each answers from its own catalog, and an appended event reaches every one of them."""
    folder = copy_demo(tmp_path / "demo")
    port = free_port()
    cmd = [sys.executable, "-m", "opdash.cli", "serve", str(folder), "--port", str(port)]
    with serving([*cmd, "--num-procs", "2", "--refresh", "1"], port, ready_query="health") as url:
        assert len(serving_processes(port)) == 3
        first = health_events(url)
        assert {health_events(url) for _ in range(20)} == {first}
        append_lines(folder / "events" / "live.jsonl", *[ev(f"np{i}", "x", i) for i in range(3)])
        deadline = time.monotonic() + 20
        while {health_events(url) for _ in range(20)} != {first + 3}:
            assert time.monotonic() < deadline, "an appended event did not reach every process"
            time.sleep(0.5)
        for _ in range(4):  # sessions too, whichever process builds them
            assert "Operator loop funnel" in session_text(url)
        (supervisor,) = [pid for pid, parent in serving_processes(port).items()
                         if parent == os.getpid()]  # fmt: skip
        os.kill(supervisor, signal.SIGTERM)  # the serving processes stop with it
        deadline = time.monotonic() + 10
        while serving_processes(port):
            assert time.monotonic() < deadline, "serving processes outlived the supervisor"
            time.sleep(0.2)


@pytest.mark.parametrize("procs", [1, 2])
def test_panel_serve_of_the_app_module_serves_the_dashboard(procs: int) -> None:
    """``panel serve opdash/app.py --args DIR`` (README), also with ``--num-procs``."""
    port = free_port()
    cmd = [sys.executable, "-m", "panel", "serve", "opdash/app.py", "--port", str(port)]
    cmd += ["--num-procs", str(procs), "--args", str(DEMO)]
    with serving(cmd, port, cwd=ROOT, path="app") as url:
        assert len(serving_processes(port)) == (1 if procs == 1 else 1 + procs)
        for _ in range(4):
            assert "Operator loop funnel" in session_text(url)


def test_folders_opened_and_closed_in_one_process_are_not_kept_by_the_app(tmp_path: Path) -> None:
    """A notebook or test process opens many folders: once a catalog is closed, the app's
    once-per-process records of it (warmed views, the start, the folder's check) let it go,
    so they stay bounded by the catalogs still open, not by every folder ever opened."""
    import gc
    import threading

    import panel as pn

    from opdash import serving
    from tests.fixtures import write_lines
    from tests.servers import run_coroutine

    def warming() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "opdash-warm"]

    records = {
        "_WARMED": serving._WARMED,
        "_STARTED": serving._STARTED,
        "_CHECKED": serving._CHECKED,
    }
    before = {name: len(held) for name, held in records.items()}
    kept = None
    for i in range(6):
        folder = tmp_path / f"folder{i}"
        write_lines(folder / "events" / "a.jsonl", [ev(f"e{i}", "step.one"), ev(f"f{i}", "b", 1)])
        refresh = 3600 if i == 1 else 0  # a scheduled refresh does not keep its catalog either
        catalog, _report = serving.serving_catalog(folder, refresh_seconds=refresh, log=False)
        for thread in warming():
            thread.join(60)
        serving.warm(catalog)
        assert catalog in serving._WARMED and catalog in serving._STARTED
        if i == 0:
            kept = catalog  # still open: still known
        else:
            catalog.close()
        del catalog
    gc.collect()
    grown = {name: len(held) - before[name] for name, held in records.items()}
    assert grown == {"_WARMED": 1, "_STARTED": 1, "_CHECKED": 1}, grown
    assert kept in serving._WARMED and kept in serving._STARTED
    kept.close()
    del kept
    gc.collect()
    assert {name: len(held) for name, held in records.items()} == before
    (task,) = [k for k in pn.state._scheduled if f"{tmp_path / 'folder1'}-" in k]
    run_coroutine(pn.state._scheduled[task][1]())  # its next turn: the catalog is gone: it ends
    assert task not in pn.state._scheduled
