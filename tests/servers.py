"""Real ``opdash serve`` processes for HTTP and browser tests."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.fixtures import DEMO, ROOT  # noqa: F401  (the browser tests import DEMO from here)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def opdash_serve(
    folder: Path, *extra: str, timeout: float = 60, ready_query: str = ""
) -> Iterator[str]:
    """Start ``opdash serve folder`` on a free port; yield its URL; stop it afterwards.

    It is ready when ``URL + ready_query`` answers 200; that first request builds a session of
    that page, so a cheap page (``?page=quality``) leaves the server idle sooner than the
    Overview, whose first answers take seconds on a cold catalog.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "opdash.cli", "serve", str(folder), "--port", str(port), *extra]
    with serving(cmd, port, timeout=timeout, ready_query=ready_query) as url:
        yield url


@contextlib.contextmanager
def serving(
    cmd: list[str],
    port: int,
    *,
    timeout: float = 60,
    ready_query: str = "",
    path: str = "",
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Run a server command listening on ``port``; yield ``http://127.0.0.1:port/path`` once
    ``URL + ready_query`` answers 200; stop it afterwards (what it printed is in the error
    when it exits early)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    url = f"http://127.0.0.1:{port}/{path}"
    # its output goes to a file, not a pipe: nobody reads a pipe while the tests run, and a
    # server that logs enough would block on a full one
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        # its own process group: the processes a server forks (--num-procs) stop with it
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            cwd=cwd,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"{cmd[:4]} exited early:\n{log.read()}")
                try:
                    with urllib.request.urlopen(url + ready_query, timeout=5) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd[:4]} did not answer in time")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever it forked and left behind


def session_text(url: str, query: str = "") -> str:
    """The text of every HTML pane in a new session's document, as a browser pulls it over the
    Bokeh websocket (the page's HTML itself holds no content, only the session token)."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    with urllib.request.urlopen(url + query, timeout=30) as response:
        token = re.search(r'"token":"([^"]+)"', response.read().decode()).group(1)

    async def pull() -> str:
        ws_url = url.replace("http://", "ws://").rstrip("/") + "/ws"
        origin = "/".join(url.split("/")[:3])
        request = HTTPRequest(ws_url, headers={"Origin": origin})
        conn = await websocket_connect(request, subprotocols=["bokeh", token])
        try:
            for _ in range(3):  # ACK: header, metadata, content
                await conn.read_message()
            for frame in (json.dumps({"msgid": "1", "msgtype": "PULL-DOC-REQ"}), "{}", "{}"):
                await conn.write_message(frame)
            header = json.loads(await conn.read_message())
            assert header["msgtype"] == "PULL-DOC-REPLY", header
            await conn.read_message()  # metadata
            return await conn.read_message()
        finally:
            conn.close()

    texts: list[str] = []

    def collect(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    texts.append(html.unescape(html.unescape(re.sub(r"&lt;.*?&gt;", " ", value))))
                else:
                    collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(json.loads(run_coroutine(pull())))
    return "\n".join(texts)


def run_coroutine(coroutine):
    """``asyncio.run`` it, on a thread of its own when this thread runs a loop already (after a
    Playwright test in the same process, pytest's thread does)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def chromium_path() -> str:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(candidate):
            return candidate
    raise RuntimeError("Debian's chromium is needed for browser tests: apt-get install chromium")


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def copy_demo(dest: Path) -> Path:
    """A private, writable copy of the demo folder at ``dest`` (tests that add files must not
    touch DEMO, which CI makes read-only)."""
    shutil.copytree(DEMO, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return dest


def append_lines(path: Path, *records: dict | str) -> Path:
    """Append whole JSON lines to ``path`` as an exporter would (dicts are dumped, str as is).

    Each call is one write of complete lines, so a reader never sees half a record; a file
    that does not end with a newline gets one first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lead = ""
    if path.exists() and path.stat().st_size:
        with path.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            lead = "" if fh.read(1) == b"\n" else "\n"
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(lead + text)
    return path
