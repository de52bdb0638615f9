"""Benchmark: the served dashboard as the browser sees it (render, filter latency, sessions, memory).

    python benchmarks/bench_ui.py --data /work/bench-data/parquet-1000000 --sessions 10 \
        --changes 20 --json /work/bench-data/ui-1000000.json

Starts a real ``opdash serve DIR --refresh 0`` (a subprocess on a free port) over the synthetic
events (``synthetic.py``; generated when the folder is missing) and drives Debian's Chromium with
asyncio Playwright, one browser, one context (own cookies and HTTP cache) per session. The folder
served is ``DATA-ui/``: the data's parquet files as symlinks plus a ``goals.yaml`` with five goals
(count, unique, sum, conversion, a ceiling), so the Overview's Goals view has work to do
(``--no-goals`` serves ``DATA`` itself, whose Goals view is then the "No goals yet" card).

Every page is opened on ``/?to=DAY`` (``--to``, default 2026-11-20): the last day shown is pinned,
so Today and Goals read a fixed moment instead of "now" (their answers would otherwise be cached
for one minute only) and the figures do not depend on the clock.

What is measured, all in the browser's own clock (``performance.now()``):

1. **first render** of the Overview: navigation start to the first moment the page is
   *complete*: no Panel loading spinner anywhere (no element with the ``pn-loading`` class,
   searched through every open shadow root), the funnel table shows its Count cells, the Today
   header is drawn and the goals are drawn (``.opdash-goals``, or the no-goals card); an error
   card fails the run. *Cold* = the first session after a server start (empty result cache;
   one per server start, ``--cold-repeats`` starts; *cold, default day*: the same on ``/``
   with no pinned day, the Overview a user opens right after start), *after warm-up* = the first session of
   one more start, opened once the server's start-up warming is done (its CPU time stopped
   growing): the pinned day is still a new question, but what every question shares is
   computed, *warm* = each of ``--sessions`` new
   sessions opened one after another once the answers are cached (new browser contexts: the
   scripts are downloaded again), *warm, cached scripts* = ``--sessions`` more, each a new tab
   of an open session's context (the browser's HTTP cache holds Bokeh's and Panel's scripts).
2. **filter changes** in one session, made through the sidebar widgets like an operator:
   - *To date*: open the "To" date picker, click a day not seen before (a cache miss for Today,
     Goals and the funnel), then click the pinned day again (a cache hit for all three);
   - *Actors*: open the "Actors" multi-choice, click one more actor (a new set of actors: a
     miss for Today and the funnel; Goals do not read actors), then remove it with its x and
     add it again (two hits).
   The time is from the operator's input event that commits the change (pointerdown or keydown,
   captured on ``window``) to the first moment every view that reads the changed filter shows
   a different answer than before (Today's text, the goals' text, the funnel's Count cells)
   and the page is complete again. Detection: a ``MutationObserver`` on the document and on
   every shadow root (re-attached as new ones appear) re-checks once after each burst of DOM
   changes (a zero-delay timer after the task that mutated), with a 100 ms timer as backstop;
   the chart's canvas paint is not waited for (cost: < 0.05 CPU s per change, within noise of
   the ~0.9 CPU s Chromium spends drawing a change). After each change
   the URL (which mirrors the filters) is checked to hold exactly the intended values.
3. **concurrency**: ``--sessions`` pages (separate contexts) make their own actor changes at
   the same time (each session its own run of actors, so no two sessions share a miss).
4. **memory**: the server's RSS (psutil) with the first session open (after its changes) and
   after ``--sessions`` more sessions rendered their first (cached) page; the difference per
   added session. The *cached scripts* sessions give a second figure (from 1 + N to 1 + 2N
   sessions), once heap freed by earlier work is used up; they are closed before step 3.
5. **funnel questions** (``--funnel-changes N``; 0, the default, skips this): one more session
   opens the Funnels page (``/?page=funnels&to=DAY``; its first render is a sample too: its
   funnel is the Overview's question, answered already) and asks new funnel questions through
   the funnel's own controls, each on top of the ones before: N windows typed into "Window"
   and committed with Enter, none asked before (7d, 3d, 10d, 21d, 5d, 30d, 2d, 12d, 9d, 4d,
   then other whole days), then N clicks on the "Order" buttons (strict, unordered, ordered, in
   turn: from the fourth on a question asked before), then N paths typed into "Breakdown by"
   (actor.type, actor.id, payload.score, then none: the breakdown removed; in turn). Run once
   the *cached scripts* sessions of step 4 are closed, before step 3, in a session of its own
   that is closed again: step 4's RSS figures up to 1 + 2N sessions do not include it, those
   after the concurrent changes (and the peak) do. On this page *complete* is: no spinner, the
   funnel table's Count cells drawn, and every table showing the columns its model holds (a
   table whose columns change, as the medians do between orders, shows its new data first and
   is rebuilt with the new columns a moment later); *changed* is: the text of the page's table
   cells (the funnel table with its medians, the breakdown table when shown) differs from
   before. The time is from the commit (the Enter's keydown, the button's pointerdown), as in
   step 2, and the URL is checked to hold the funnel's window, order and breakdown. Target: a
   new funnel question answers in <= 2 s p95 in the browser.

Where the time goes: the page's websocket is wrapped to timestamp every message, so each sample
also has marks (ms after the commit): the change sent, the first message back, the first and
last *content* message (>= 4 kB: a view's new layout; before it the server was busy), each view
drawn, and the browser's drawing after the last content message (``MARKS``). Per phase the CPU
seconds of the server, of this benchmark's processes (server, Chromium, Playwright) and of the
rest of the machine are recorded: the browser runs on the same cores as the server here.

Afterwards (``--no-split`` skips it) the views' work is timed in this process on the same data
and filters, without a browser: the query (``data()``) and the server-side drawing (``draw()``
plus building the Bokeh models), to tell server time from transport and browser time.

Percentiles are nearest-rank (p95 of 20 samples is the 19th smallest).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synthetic import write_folder  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1400, "height": 1000}
VIEWS = ("today", "goals", "funnel")
# What the Funnels page's changes are watched by: the funnel's Count cells and the text of every
# table cell on the page (the funnel table with its medians, the breakdown table when shown).
FUNNEL_VIEWS = ("funnel", "cells")
# Marks of a sample, ms after the commit (first render: after navigation start), in order:
# HTML's first byte, DOMContentLoaded, load, websocket open, the change sent on the websocket,
# first message received, first and last *content* message (>= 4 kB: a view's new layout; what
# precedes is server time), each view drawn, the last message before the page was done, and
# how long the browser still drew after the last content message.
MARKS = (
    "ttfb",
    "dom",
    "load",
    "ws_open",
    "sent",
    "first_msg",
    "content_first",
    "content_last",
    *VIEWS,
    "cells",
    "last_msg",
    "after_content",
)

# Targets of issue 4.
TARGET_FIRST_RENDER_MS = 2000
TARGET_P95_ONE_MS = 300
TARGET_P95_TEN_MS = 1000
TARGET_MB_PER_SESSION = 30
# Target of the funnel issue: a new funnel question (another window, order, breakdown or actor
# set) answers in <= 2 s p95 in the browser.
TARGET_FUNNEL_MS = 2000

# The Funnels page's questions (--funnel-changes): windows typed in turn (none asked before,
# the page's own window left out), the orders clicked in turn (the page opens on "ordered") and
# the breakdown paths typed in turn ("": remove the breakdown).
FUNNEL_WINDOWS = ("7d", "3d", "10d", "21d", "5d", "30d", "2d", "12d", "9d", "4d")
FUNNEL_ORDERS = ("strict", "unordered", "ordered")
FUNNEL_BREAKDOWNS = ("actor.type", "actor.id", "payload.score", "")
WINDOW_LABEL = "Window (e.g. 90m, 6h, 14d)"
BREAKDOWN_LABEL = "Breakdown by"

GOALS_YAML = """\
# written by benchmarks/bench_ui.py: goals over the synthetic events
goals:
  - id: closed-trades-week
    title: Closed trades this week
    metric: count
    event: trade.closed
    target: 20000
    period: week
    tz: Europe/Berlin
  - id: workflows-signalled-day
    title: Workflows signalled per day
    metric: unique
    event: signal.created
    target: 5000
    period: day
  - id: score-week
    title: Summed execution score this week
    metric: sum:payload.score
    event: trade.executed
    target: 10000
    period: week
  - id: loop-conversion-month
    title: Signal to coach analysis this month
    metric: conversion
    steps: [signal.created, trade.executed, coach.analysis.generated]
    window: 14d
    target: 0.2
    period: month
  - id: alerts-per-day
    title: Alerts per day
    metric: count
    event: alert.raised
    target: 2000
    period: day
    direction: down
"""

# Injected into every page before its own scripts: marks the operator's commit event and
# watches the DOM (through shadow roots) until the page is complete / the views changed.
INIT_JS = r"""
(() => {
  if (window.__bench) return;
  const B = window.__bench = { t0: null, armed: false };
  const mark = (e) => { if (B.armed) { B.t0 = e.timeStamp; B.armed = false; } };
  for (const k of ["pointerdown", "mousedown", "keydown"]) window.addEventListener(k, mark, true);

  // Bokeh's websocket, timestamped: [time, "in" | "out" | "open", bytes]
  B.ws = [];
  const size = (d) => (typeof d === "string" ? d.length : d.byteLength || d.size || 0);
  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...args) {
      super(...args);
      this.addEventListener("open", () => B.ws.push([performance.now(), "open", 0]));
      this.addEventListener("message", (e) => B.ws.push([performance.now(), "in", size(e.data)]));
    }
    send(data) {
      B.ws.push([performance.now(), "out", size(data)]);
      return super.send(data);
    }
  };

  const TODAY = ".opdash-today-head, .opdash-today-counts, .opdash-today-strip, " +
                ".opdash-today-empty, .opdash-today-grid, .opdash-today-insight";
  B.scan = () => {
    const s = { loading: 0, counts: [], cells: [], today: [], goals: null, errors: [], roots: [] };
    const walk = (root) => {
      s.roots.push(root);
      for (const el of root.querySelectorAll("*")) {
        if (el.classList.contains("pn-loading")) s.loading++;
        if (el.classList.contains("tabulator-cell")) s.cells.push(el.textContent.trim());
        if (el.matches('.tabulator-cell[tabulator-field="Count"]')) s.counts.push(el.textContent.trim());
        else if (el.matches(TODAY)) s.today.push(el.textContent.trim());
        else if (el.matches(".opdash-goals")) s.goals = el.textContent.trim();
        else if (el.matches(".opdash-goal-example")) s.goals = (el.parentElement || el).textContent.trim();
        else if (el.matches(".opdash-error")) s.errors.push(el.textContent.trim());
        if (el.shadowRoot) walk(el.shadowRoot);
      }
    };
    walk(document);
    return s;
  };
  B.prints = (s) => ({
    today: s.today.length ? s.today.join(" | ") : null,
    goals: s.goals,
    funnel: s.counts.length && s.counts.every((c) => c) ? s.counts.join(",") : null,
    cells: s.cells.length ? s.cells.join(" | ") : null,
    loading: s.loading,
    errors: s.errors,
  });
  B.now = () => B.prints(B.scan());
  // Panel's tables (Tabulator views) not yet showing the columns their model holds: a table
  // whose columns change gets its new data first and is rebuilt with the new columns a moment
  // later (Panel debounces the rebuild), so until then the page shows a half-made table.
  B.tablesPending = () => {
    const index = window.Bokeh && window.Bokeh.index;
    if (!index || !index.roots) return 0;
    let pending = 0;
    const seen = new Set();
    const visit = (v) => {
      if (!v || seen.has(v)) return;
      seen.add(v);
      if (v.model && typeof v.model.type === "string" && v.model.type.endsWith("Tabulator")) {
        const root = v.shadow_el || v.el;
        const drawn = root ? [...root.querySelectorAll(".tabulator-col")]
          .map((el) => el.getAttribute("tabulator-field"))
          .filter((f) => f && f !== "_index") : [];
        const wanted = (v.model.columns || []).map((c) => c.field);
        if (v._building || !v.tabulator || drawn.join("\n") !== wanted.join("\n")) pending++;
      }
      if (typeof v.children === "function") for (const c of v.children()) visit(c);
    };
    for (const root of index.roots) visit(root);
    return pending;
  };
  B.arm = () => { B.t0 = null; B.armed = true; B.ws = []; };
  // The websocket traffic between the commit (or navigation start) and t.
  B.traffic = (since, t) => {
    const ev = B.ws.filter((m) => m[0] >= since && m[0] <= t);
    const ins = ev.filter((m) => m[1] === "in");
    const outs = ev.filter((m) => m[1] === "out");
    const open = ev.find((m) => m[1] === "open");
    const big = ins.filter((m) => m[2] >= 4096);  // content patches (a view's new layout)
    return {
      first_big: big.length ? big[0][0] : null,
      last_big: big.length ? big[big.length - 1][0] : null,
      ws_open: open ? open[0] : null,
      first_out: outs.length ? outs[0][0] : null,
      first_in: ins.length ? ins[0][0] : null,
      last_in: ins.length ? ins[ins.length - 1][0] : null,
      n_in: ins.length,
      bytes_in: ins.reduce((a, m) => a + m[2], 0),
    };
  };

  // Resolves {t, t0, first, prints} once the page is complete and every view in spec.expect
  // differs from its text at the call; rejects on an error card or after spec.timeout_ms.
  // spec.page: "overview" (complete: Today, Goals and the funnel's counts drawn) or "funnels"
  // (complete: the funnel's counts drawn, every table showing its model's columns); either way
  // no spinner left.
  B.watch = (spec) => {
    const funnels = spec.page === "funnels";
    const views = funnels ? ["funnel", "cells"] : ["today", "goals", "funnel"];
    const before = B.now();
    const observed = new WeakSet();
    const observers = [];
    const first = {};
    let done = false, timer = null, deadline = null;
    const promise = new Promise((resolve, reject) => {
      const finish = (ok, value) => {
        if (done) return;
        done = true;
        for (const o of observers) o.disconnect();
        clearInterval(timer);
        clearTimeout(deadline);
        ok ? resolve(value) : reject(new Error(value));
      };
      // Mutations come in bursts (one view builds in one task): check once after the task.
      let queued = false;
      const later = () => {
        if (!queued) { queued = true; setTimeout(() => { queued = false; check(); }, 0); }
      };
      const check = () => {
        if (done) return;
        const s = B.scan();
        const t = performance.now();
        for (const root of s.roots) {
          if (observed.has(root)) continue;
          observed.add(root);
          const o = new MutationObserver(later);
          o.observe(root, { subtree: true, childList: true, attributes: true, characterData: true });
          observers.push(o);
        }
        const p = B.prints(s);
        for (const v of views) {
          if (first[v] === undefined && p[v] !== null && p[v] !== before[v]) first[v] = t;
        }
        if (p.errors.length) return finish(false, "error card on the page: " + p.errors.join(" / "));
        const complete = funnels
          ? p.loading === 0 && p.funnel !== null && B.tablesPending() === 0
          : p.loading === 0 && p.today !== null && p.goals !== null && p.funnel !== null;
        const changed = (spec.expect || []).every((v) => p[v] !== before[v]);
        if (complete && changed) {
          finish(true, { t, t0: B.t0, first, prints: p, traffic: B.traffic(B.t0 || 0, t) });
        }
      };
      timer = setInterval(check, 100);
      deadline = setTimeout(() => {
        const p = B.now();
        const waiting = (spec.expect || []).filter((v) => p[v] === before[v]);
        const drawn = funnels
          ? `funnel counts ${p.funnel || "missing"}, ${p.cells ? p.cells.split(" | ").length : 0} ` +
            `table cells, tables still being drawn: ${B.tablesPending()}`
          : `today ${p.today ? "drawn" : "missing"}, goals ${p.goals ? "drawn" : "missing"}, ` +
            `funnel counts ${p.funnel || "missing"}`;
        finish(false, `not ${spec.expect && spec.expect.length ? "updated" : "complete"} after ` +
          `${spec.timeout_ms / 1000} s (unchanged: ${waiting.join(", ") || "-"}; ` +
          `spinners: ${p.loading}; ${drawn})`);
      }, spec.timeout_ms);
      check();
    });
    B.pending = promise;
    promise.catch(() => {});  // reported when awaited
    return before;
  };
  B.wait = () => B.pending;
})();
"""


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and why."""


# -- data and server ------------------------------------------------------------------------------


def prepare_folder(data: Path, goals: bool) -> Path:
    """The folder to serve: ``data`` (generated if missing), or ``data-ui`` with goals."""
    marker = data / ".complete"
    if not marker.exists():
        found = re.search(r"(\d+)$", data.name)
        if not found:
            raise BenchError(f"{data} has no .complete marker and its name gives no event count")
        n = int(found.group(1))
        print(f"# generating {n:,} events in {data} (synthetic.py) …", flush=True)
        t0 = time.perf_counter()
        write_folder(data, n)
        print(f"#   done in {time.perf_counter() - t0:.1f} s", flush=True)
    if not goals:
        return data
    folder = data.with_name(data.name + "-ui")
    events = folder / "events"
    # Updated in place, each step atomic: another run may be serving this folder right now,
    # and a file that vanishes for a moment fails its queries.
    wanted = {}
    for src in sorted((data / "events").rglob("*.parquet")):
        wanted[events / src.relative_to(data / "events")] = src.resolve()
    for dest, src in wanted.items():
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() and dest.resolve() == src:
            continue
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(src)
        os.replace(tmp, dest)
    for stale in events.rglob("*.parquet"):
        if stale not in wanted and stale.is_symlink():
            stale.unlink()
    goals_file = folder / "goals.yaml"
    if not goals_file.exists() or goals_file.read_text() != GOALS_YAML:
        tmp = folder / f".goals.yaml.{os.getpid()}.tmp"
        tmp.write_text(GOALS_YAML)
        os.replace(tmp, goals_file)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """``opdash serve FOLDER --refresh 0`` on a free port, its log in a temporary file."""

    folder: Path
    timeout: float = 120
    proc: subprocess.Popen | None = None
    url: str = ""
    startup_s: float = 0.0
    log: object = None

    def serve_args(self) -> list[str]:
        """Options after ``opdash serve FOLDER --port P`` (subclasses: other settings)."""
        return ["--refresh", "0"]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1"}

    def open_log(self):
        return tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  (closed in stop())

    def start(self) -> Server:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        self.log = self.open_log()
        cmd = [sys.executable, "-m", "opdash.cli", "serve", str(self.folder), "--port", str(port)]
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd + self.serve_args(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=self.environment(),
            cwd=tempfile.gettempdir(),
        )
        # Poll a static path, not "/": a GET of the page would open a session and fill the
        # cache before the cold measurement.
        while True:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"opdash serve exited early ({self.proc.returncode}):\n{self.tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "favicon.ico", timeout=5):
                    break
            except urllib.error.HTTPError:
                break  # any HTTP answer: the server is up
            except OSError:
                pass
            if time.perf_counter() - t0 > self.timeout:
                self.stop()
                raise BenchError(f"opdash serve did not answer within {self.timeout:.0f} s")
            time.sleep(0.1)
        self.startup_s = time.perf_counter() - t0
        return self

    def wait_idle(self, quiet_s: float = 1.0) -> float:
        """Wait until the server's start-up warming is done (its CPU time stops growing for
        ``quiet_s``); the seconds waited."""
        import psutil

        proc, t0 = psutil.Process(self.proc.pid), time.perf_counter()

        def cpu() -> float:
            times = proc.cpu_times()
            return times.user + times.system

        last = cpu()
        while time.perf_counter() - t0 < self.timeout:
            time.sleep(quiet_s)
            now = cpu()
            if now - last < 0.05 * quiet_s:
                break
            last = now
        return time.perf_counter() - t0

    def tail(self, lines: int = 30) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return "".join(self.log.readlines()[-lines:])

    def rss_mb(self) -> float:
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def peak_mb(self) -> float:
        """VmHWM: the process's peak resident size so far."""
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchError(f"opdash serve died ({self.proc.returncode}):\n{self.tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log is not None:
            self.log.close()
            self.log = None


class Phases:
    """Per phase: wall time, the server's CPU seconds, this benchmark's (server, browser,
    driver: every descendant process) and the whole machine's, so contention by other
    processes on the machine shows up in the results."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, float]] = {}
        self._open: tuple | None = None

    @staticmethod
    def _snapshot(server: Server) -> tuple:
        import psutil

        def cpu(proc) -> float:
            try:
                t = proc.cpu_times()
                return t.user + t.system
            except psutil.Error:
                return 0.0

        me = psutil.Process()
        ours = {me.pid: cpu(me)}
        for child in me.children(recursive=True):
            ours[child.pid] = cpu(child)
        total = psutil.cpu_times()
        busy = sum(total) - total.idle - getattr(total, "iowait", 0.0)
        return time.perf_counter(), ours.get(server.proc.pid, 0.0), ours, busy

    def start(self, name: str, server: Server) -> None:
        self._open = (name, server, self._snapshot(server))

    def end(self) -> dict[str, float]:
        name, server, (w0, s0, ours0, busy0) = self._open
        w1, s1, ours1, busy1 = self._snapshot(server)
        wall = w1 - w0
        ours = sum(v - ours0.get(pid, 0.0) for pid, v in ours1.items())
        busy = busy1 - busy0
        result = {
            "wall_s": wall,
            "server_cpu_s": s1 - s0,
            "bench_cpu_s": ours,
            "machine_cpu_s": busy,
            "other_cpu_s": max(0.0, busy - ours),
            "load1_end": os.getloadavg()[0],
        }
        self.results[name] = result
        print(
            f"# phase {name}: {wall:.0f} s, CPU s: server {result['server_cpu_s']:.0f}, "
            f"benchmark incl. server + browser {ours:.0f}, other processes "
            f"{result['other_cpu_s']:.0f} (of {os.cpu_count()} × {wall:.0f} available)",
            flush=True,
        )
        return result


# -- one session ----------------------------------------------------------------------------------


@dataclass
class Sample:
    """One measured change (or first render): latency in the browser's clock, ms."""

    kind: str
    ms: float
    wall_ms: float
    views: dict[str, float] = field(default_factory=dict)  # MARKS: ms after the commit
    session: int = 0
    what: str = ""
    kb_in: float = 0.0  # websocket bytes received until done


class Session:
    """One browser context + page on the dashboard, driven like an operator."""

    def __init__(self, browser, index: int, timeout: float) -> None:
        self.browser = browser
        self.index = index
        self.timeout = timeout
        self.context = None
        self.page = None
        self.mode = "overview"  # which page is open: what "complete" means (B.watch)

    async def open(self, url: str, context=None, mode: str = "overview") -> Sample:
        """Open ``url`` in a new context (own HTTP cache), or a new page of ``context`` (its
        cache already holds the scripts); the time from navigation start to complete.
        ``mode``: the page ``url`` shows, "overview" or "funnels" (see ``B.watch``)."""
        self.mode = mode
        if context is None:
            self.context = await self.browser.new_context(viewport=VIEWPORT)
            self.context.set_default_timeout(self.timeout * 1000)
            await self.context.add_init_script(INIT_JS)
            self.page = await self.context.new_page()
        else:
            self.page = await context.new_page()
        wall0 = time.perf_counter()
        await self.page.goto(url, wait_until="commit", timeout=self.timeout * 1000)
        await self.page.evaluate("(spec) => { window.__bench.watch(spec); }", self._spec([]))
        result = await self._wait(f"first render of {url}")
        wall = (time.perf_counter() - wall0) * 1000
        nav = await self.page.evaluate(
            """() => { const n = performance.getEntriesByType("navigation")[0] || {};
                return {ttfb: n.responseStart, dom: n.domContentLoadedEventEnd, load: n.loadEventEnd}; }"""
        )
        views = {v: t for v, t in result["first"].items()}
        views.update({k: v for k, v in nav.items() if v})
        views.update(self._traffic(result, 0.0))
        kb = result["traffic"]["bytes_in"] / 1024
        return Sample("first", result["t"], wall, views, self.index, url, kb)

    @staticmethod
    def _traffic(result: dict, t0: float) -> dict[str, float]:
        tr = result["traffic"]
        marks = {
            "ws_open": tr["ws_open"],
            "sent": tr["first_out"],
            "first_msg": tr["first_in"],
            "content_first": tr["first_big"],
            "content_last": tr["last_big"],
            "last_msg": tr["last_in"],
        }
        out = {k: v - t0 for k, v in marks.items() if v is not None}
        if tr["last_big"] is not None:
            out["after_content"] = result["t"] - tr["last_big"]
        return out

    def _spec(self, expect: list[str]) -> dict:
        return {"expect": expect, "timeout_ms": self.timeout * 1000, "page": self.mode}

    async def _wait(self, what: str) -> dict:
        try:
            return await self.page.evaluate("() => window.__bench.wait()")
        except Exception as exc:  # noqa: BLE001  (Playwright wraps the page's rejection)
            message = str(exc).splitlines()[0].replace("Error: ", "")
            raise BenchError(f"session {self.index}, {what}: {message}") from None

    async def change(self, kind: str, what: str, prepare, commit, expect: list[str]) -> Sample:
        """``prepare()`` (untimed: open a dropdown), then ``commit()``, timed until ``expect``
        views changed and the page is complete again."""
        await prepare()
        await self.page.evaluate(
            "(spec) => { window.__bench.watch(spec); window.__bench.arm(); }", self._spec(expect)
        )
        wall0 = time.perf_counter()
        await commit()
        result = await self._wait(what)
        wall = (time.perf_counter() - wall0) * 1000
        t0 = result["t0"]
        if t0 is None:
            raise BenchError(f"session {self.index}, {what}: no input event reached the page")
        views = {v: t - t0 for v, t in result["first"].items()}
        views.update(self._traffic(result, t0))
        kb = result["traffic"]["bytes_in"] / 1024
        return Sample(kind, result["t"] - t0, wall, views, self.index, what, kb)

    async def query(self) -> dict[str, list[str]]:
        search = await self.page.evaluate("() => window.location.search")
        return parse_qs(urlsplit(search).query)

    async def expect_url(self, what: str, **want: list[str]) -> None:
        """The URL says what was chosen. It is updated by its own little component, a moment
        after (or before) the views: wait up to the timeout for it, then fail."""
        deadline = time.perf_counter() + self.timeout
        while True:
            got = await self.query()
            wrong = [k for k, v in want.items() if sorted(got.get(k, [])) != sorted(v)]
            if not wrong or time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.05)
        for key, values in want.items():
            if sorted(got.get(key, [])) != sorted(values):
                raise BenchError(
                    f"session {self.index}, {what}: the URL has {key}={got.get(key, [])}, "
                    f"expected {values} (the UI action did not do what was intended)"
                )

    # -- widgets ------------------------------------------------------------------------------
    def _actors_box(self):
        p = self.page
        return p.locator(".bk-MultiChoice", has=p.locator("label", has_text="Actors"))

    async def actor_options(self) -> list[str]:
        box = self._actors_box()
        values = await box.locator(".choices__item--choice").evaluate_all(
            "els => els.map(e => e.dataset.value)"
        )
        return sorted(set(values))

    async def add_actor(self, actor: str, kind: str, chosen: list[str]) -> Sample:
        box = self._actors_box()
        option = box.locator(
            f'.choices__list--dropdown .choices__item--choice[data-value="{actor}"]'
        )

        async def prepare() -> None:
            await box.locator("input.choices__input--cloned").click()
            try:
                await option.wait_for(state="visible", timeout=5000)
            except Exception:  # noqa: BLE001  (the click closed an open dropdown: open again)
                await box.locator("input.choices__input--cloned").click()
                await option.wait_for(state="visible", timeout=self.timeout * 1000)

        sample = await self.change(
            kind, f"add actor {actor}", prepare, option.click, ["today", "funnel"]
        )
        await self.expect_url(f"add actor {actor}", actor=chosen)
        return sample

    async def remove_actor(self, actor: str, kind: str, chosen: list[str]) -> Sample:
        box = self._actors_box()
        button = box.locator(
            f'.choices__list--multiple .choices__item[data-value="{actor}"] button'
        )

        async def prepare() -> None:
            await button.wait_for(state="visible")

        sample = await self.change(
            kind, f"remove actor {actor}", prepare, button.click, ["today", "funnel"]
        )
        await self.expect_url(f"remove actor {actor}", actor=chosen)
        return sample

    async def pick_to(self, day: dt.date, kind: str) -> Sample:
        p = self.page
        picker = p.locator(".bk-DatePicker", has=p.locator("label", has_text="To (local day"))
        cell = picker.locator(f'.flatpickr-day[aria-label="{day:%B} {day.day}, {day.year}"]')

        async def prepare() -> None:
            await picker.locator("input.form-control").click()
            await cell.wait_for(state="visible")

        sample = await self.change(
            kind, f"To = {day}", prepare, cell.click, ["today", "goals", "funnel"]
        )
        await self.expect_url(f"To = {day}", to=[day.isoformat()])
        return sample

    # -- the Funnels page's controls -----------------------------------------------------------
    def _funnel_input(self, label: str):
        p = self.page
        boxes = p.locator(".bk-panel-models-widgets-TextInput, .bk-TextInput")
        return boxes.filter(has=p.locator("label", has_text=label)).locator("input")

    def _order_button(self, order: str):
        p = self.page
        groups = p.locator(".bk-panel-models-widgets-RadioButtonGroup, .bk-RadioButtonGroup")
        group = groups.filter(has=p.get_by_role("button", name="strict", exact=True))
        return group.get_by_role("button", name=order, exact=True)

    async def funnel_choices(self) -> dict[str, str]:
        """The funnel's window, order and breakdown as its controls show them."""
        active = self.page.locator(
            ".bk-panel-models-widgets-RadioButtonGroup, .bk-RadioButtonGroup"
        ).filter(has=self.page.get_by_role("button", name="strict", exact=True))
        return {
            "window": await self._funnel_input(WINDOW_LABEL).input_value(),
            "order": (await active.locator("button.bk-active").inner_text()).strip(),
            "breakdown": await self._funnel_input(BREAKDOWN_LABEL).input_value(),
        }

    async def expect_funnel_url(self, what: str, chosen: dict, initial: dict) -> None:
        """The URL holds the funnel's choices (a value equal to the page's own is left out)."""
        want = {k: [] if v == initial[k] else [v] for k, v in chosen.items()}
        await self.expect_url(what, page=["funnels"], **want)

    async def funnel_text(
        self, name: str, value: str, kind: str, chosen: dict, initial: dict
    ) -> Sample:
        """Type ``value`` into the funnel's window or breakdown input (untimed), commit it with
        Enter; ``chosen`` (the funnel's choices) is updated."""
        box = self._funnel_input(WINDOW_LABEL if name == "window" else BREAKDOWN_LABEL)
        what = f"{name} = {value or '(none)'}"

        async def prepare() -> None:
            await box.fill(value)

        async def commit() -> None:
            await box.press("Enter")

        sample = await self.change(kind, what, prepare, commit, ["cells"])
        chosen[name] = value
        await self.expect_funnel_url(what, chosen, initial)
        return sample

    async def funnel_order(self, order: str, kind: str, chosen: dict, initial: dict) -> Sample:
        """Click the funnel's ``order`` button; ``chosen`` is updated."""
        button = self._order_button(order)

        async def prepare() -> None:
            await button.wait_for(state="visible")

        what = f"order = {order}"
        sample = await self.change(kind, what, prepare, button.click, ["cells"])
        chosen["order"] = order
        await self.expect_funnel_url(what, chosen, initial)
        return sample

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()
            self.context = None
        elif self.page is not None:
            await self.page.close()
        self.page = None


# -- scenarios ------------------------------------------------------------------------------------


def actor_run(actors: list[str], offset: int, n: int) -> list[str]:
    """``n`` actors from ``offset`` on, cyclically: each session grows its own arc of actors,
    so every set it makes is new, and no other session makes the same set."""
    return [actors[(offset + i) % len(actors)] for i in range(n)]


async def actor_changes(session: Session, run: list[str], log) -> list[Sample]:
    """Per actor: add it (a new set: miss), remove it (the set before: hit), add it (hit)."""
    samples: list[Sample] = []
    chosen: list[str] = []
    for actor in run:
        chosen.append(actor)
        samples.append(await session.add_actor(actor, "actor miss", list(chosen)))
        log(samples[-1])
        chosen.pop()
        samples.append(await session.remove_actor(actor, "actor hit", list(chosen)))
        log(samples[-1])
        chosen.append(actor)
        samples.append(await session.add_actor(actor, "actor hit", list(chosen)))
        log(samples[-1])
    return samples


def to_days(pinned: dt.date, n: int) -> list[dt.date]:
    """``n`` days of the pinned day's month other than the pinned one (the date picker opens
    on that month): the earlier ones from the nearest back, then the later ones."""
    first = pinned.replace(day=1)
    month_days = [first + dt.timedelta(days=i) for i in range(31)]
    month_days = [d for d in month_days if d.month == pinned.month]
    days = [d for d in reversed(month_days) if d < pinned] + [d for d in month_days if d > pinned]
    if len(days) < n:
        raise BenchError(f"--changes {n}: only {len(days)} other days in {pinned:%B %Y}")
    return days[:n]


async def to_changes(session: Session, pinned: dt.date, n: int, log) -> list[Sample]:
    """Per day: pick it (miss for all three views), then the pinned day again (hit)."""
    samples: list[Sample] = []
    for day in to_days(pinned, n):
        samples.append(await session.pick_to(day, "to miss"))
        log(samples[-1])
        samples.append(await session.pick_to(pinned, "to hit"))
        log(samples[-1])
    return samples


def funnel_windows(n: int, initial: str) -> list[str]:
    """``n`` windows in turn, none twice and none the page's own: :data:`FUNNEL_WINDOWS`, then
    the other whole days, then hours."""
    pool = [*FUNNEL_WINDOWS, *(f"{d}d" for d in range(1, 366)), *(f"{h}h" for h in range(1, 24))]
    windows = [w for w in dict.fromkeys(pool) if w != initial.strip()]
    if len(windows) < n:
        raise BenchError(f"--funnel-changes {n}: at most {len(windows)} windows")
    return windows[:n]


async def funnel_changes(session: Session, n: int, log) -> tuple[list[Sample], dict]:
    """On the Funnels page: ``n`` windows (each one not asked before), then ``n`` order clicks,
    then ``n`` breakdown paths, each change on top of the ones before; the samples and the
    funnel's choices the page opened with."""
    initial = await session.funnel_choices()
    chosen = dict(initial)
    samples: list[Sample] = []
    for window in funnel_windows(n, initial["window"]):
        samples.append(
            await session.funnel_text("window", window, "funnel window", chosen, initial)
        )
        log(samples[-1])
    start = FUNNEL_ORDERS.index(initial["order"]) + 1 if initial["order"] in FUNNEL_ORDERS else 0
    for i in range(n):
        order = FUNNEL_ORDERS[(start + i) % len(FUNNEL_ORDERS)]
        samples.append(await session.funnel_order(order, "funnel order", chosen, initial))
        log(samples[-1])
    for i in range(n):
        path = FUNNEL_BREAKDOWNS[i % len(FUNNEL_BREAKDOWNS)]
        samples.append(
            await session.funnel_text("breakdown", path, "funnel breakdown", chosen, initial)
        )
        log(samples[-1])
    return samples, initial


# -- statistics and report ------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": min(values),
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def fmt_ms(ms: float | None) -> str:
    if ms is None or (isinstance(ms, float) and math.isnan(ms)):
        return "–"
    return f"{ms:,.0f} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"


def source_state() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "opdash"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"repo at {head}" + (", opdash/ has uncommitted changes" if dirty else "")


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GB RAM"
    return f"{os.cpu_count()} cores ({model or platform.machine()}){mem}, {platform.system()}"


def report(results: dict) -> str:
    rows = [
        (
            "first render, cold, default day (1st session after start, no pinned day)",
            "first cold, default day",
            TARGET_FIRST_RENDER_MS,
        ),
        ("first render, cold (1st session after start)", "first cold", TARGET_FIRST_RENDER_MS),
        (
            "first render, 1st session once start-up warming is done",
            "first after warm-up",
            TARGET_FIRST_RENDER_MS,
        ),
        ("first render, warm (new session, answers cached)", "first warm", TARGET_FIRST_RENDER_MS),
        (
            "first render, warm, scripts in the browser cache",
            "first warm, cached scripts",
            TARGET_FIRST_RENDER_MS,
        ),
        (
            "first render, Funnels page (its funnel the Overview's)",
            "first Funnels page",
            TARGET_FIRST_RENDER_MS,
        ),
    ]
    many = results["sessions"]
    rows += [
        ("1 session: To date, miss (3 views)", "one to miss", TARGET_P95_ONE_MS),
        ("1 session: To date, hit (3 views)", "one to hit", TARGET_P95_ONE_MS),
        ("1 session: actor, miss (Today + funnel)", "one actor miss", TARGET_P95_ONE_MS),
        ("1 session: actor, hit (Today + funnel)", "one actor hit", TARGET_P95_ONE_MS),
        ("1 session, Funnels page: a new window", "one funnel window", TARGET_FUNNEL_MS, "2 s"),
        ("1 session, Funnels page: order", "one funnel order", TARGET_FUNNEL_MS, "2 s"),
        ("1 session, Funnels page: breakdown", "one funnel breakdown", TARGET_FUNNEL_MS, "2 s"),
        (f"{many} sessions at once: actor, miss", "many actor miss", TARGET_P95_TEN_MS),
        (f"{many} sessions at once: actor, hit", "many actor hit", TARGET_P95_TEN_MS),
    ]
    rows = [(label.replace("1 sessions", "1 session"), *rest) for label, *rest in rows]
    lines = [
        "| what (browser clock) | n | p50 | p95 | max | target | met |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    stats = results["stats"]
    for label, name, target, *shown in rows:
        s = stats.get(name, {"n": 0})
        if not s["n"]:
            continue
        tgt, met = f"p95 < {shown[0] if shown else fmt_ms(target)}", s["p95"] < target
        lines.append(
            f"| {label} | {s['n']} | {fmt_ms(s['p50'])} | {fmt_ms(s['p95'])} | "
            f"{fmt_ms(s['max'])} | {tgt} | {'yes' if met else 'NO'} |"
        )
    mem = results.get("memory")
    if mem:
        per = mem["per_session_mb"]
        lines.append("")
        lines.append(
            f"Server RSS: {mem['rss_1_mb']:,.0f} MB with 1 session, {mem['rss_n_mb']:,.0f} MB with "
            f"{mem['sessions_open']} → {per:,.1f} MB per added session (target < "
            f"{TARGET_MB_PER_SESSION} MB: {'met' if per < TARGET_MB_PER_SESSION else 'NOT met'}); "
            f"{mem['rss_2n_mb']:,.0f} MB with {2 * mem['sessions_open'] - 1} → "
            f"{mem['per_session_2n_mb']:,.1f} MB per session from {mem['sessions_open']} on; "
            f"after the concurrent changes {mem['rss_after_mb']:,.0f} MB, peak (VmHWM) "
            f"{mem['peak_mb']:,.0f} MB; idle after start {mem['rss_start_mb']:,.0f} MB."
        )
    bd = results.get("breakdown", {})
    if bd:
        lines.append("")
        lines.append("p50 per view, ms after the commit (first render: after navigation start):")
        for name, views in bd.items():
            parts = ", ".join(
                f"{v} {t:,.0f}" if v == "kB in" else f"{v} {fmt_ms(t)}" for v, t in views.items()
            )
            lines.append(f"- {name}: {parts}")
    phases = results.get("phases")
    if phases:
        lines.append("")
        lines.append(
            "CPU seconds per phase (server / this benchmark incl. server and browser / "
            "other processes on the machine), wall, 1-min load at the end:"
        )
        for name, ph in phases.items():
            lines.append(
                f"- {name}: {ph['server_cpu_s']:.0f} / {ph['bench_cpu_s']:.0f} / "
                f"{ph['other_cpu_s']:.0f} CPU s in {ph['wall_s']:.0f} s, load {ph['load1_end']:.1f}"
            )
    split = results.get("split")
    if split:
        lines.append("")
        lines.append(
            "In-process, no browser (p50 of the repeats): query `data()` / drawing "
            "`draw()` + Bokeh models:"
        )
        for case, views in split.items():
            parts = ", ".join(
                f"{v} {fmt_ms(t['query_ms'])} / {fmt_ms(t['draw_ms'])}" for v, t in views.items()
            )
            lines.append(f"- {case}: {parts}")
    return "\n".join(lines)


# -- in-process split -----------------------------------------------------------------------------


def server_split(folder: Path, pinned: dt.date, actor_sets: list[list[str]], repeat: int) -> dict:
    """Query and drawing time of the three Overview views, in this process (no server)."""
    import panel as pn

    from opdash.catalog import open_catalog
    from opdash.components import FunnelView, GoalProgress, TodayStrip
    from opdash.components.filters import Filters

    pn.extension("tabulator")
    catalog = open_catalog(folder)
    out: dict[str, dict[str, dict[str, float]]] = {}
    cases = [("To = pinned day, all actors", [])]
    cases += [(f"{len(a)} actor(s)", a) for a in actor_sets]
    for case, actors in cases:
        filters = Filters(end=pinned, actors=actors)
        try:
            funnel = FunnelView(catalog, filters=filters, details=False)
        except TypeError:  # an opdash without the Overview summary mode
            funnel = FunnelView(catalog, filters=filters)
        views = {
            "today": TodayStrip(catalog, filters=filters),
            "goals": GoalProgress(catalog, filters=filters),
            "funnel": funnel,
        }
        if actors:
            del views["goals"]  # goals do not read actors
        out[case] = {}
        for name, view in views.items():
            queries, draws = [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                data = view.data()
                t1 = time.perf_counter()
                pn.panel(view.draw(data)).get_root()
                t2 = time.perf_counter()
                queries.append((t1 - t0) * 1000)
                draws.append((t2 - t1) * 1000)
            out[case][name] = {"query_ms": pct(queries, 50), "draw_ms": pct(draws, 50)}
            print(
                f"  split {case}: {name} query {fmt_ms(out[case][name]['query_ms'])}, "
                f"draw {fmt_ms(out[case][name]['draw_ms'])}",
                flush=True,
            )
    return out


# -- main -----------------------------------------------------------------------------------------


def _logger(prefix: str):
    def log(sample: Sample) -> None:
        shown = {*VIEWS, *FUNNEL_VIEWS}
        views = ", ".join(f"{v} {t:,.0f}" for v, t in sorted(sample.views.items()) if v in shown)
        print(
            f"  {prefix}s{sample.session:<2} {sample.kind:<10} {sample.ms:8,.0f} ms "
            f"(wall {sample.wall_ms:,.0f}) {sample.what}  [{views}]",
            flush=True,
        )

    return log


async def run(args: argparse.Namespace, folder: Path) -> dict:
    from playwright.async_api import async_playwright

    pinned = dt.date.fromisoformat(args.to)
    url = f"{{base}}?to={pinned.isoformat()}"
    funnels_url = f"{{base}}?page=funnels&to={pinned.isoformat()}"
    samples: list[Sample] = []
    results: dict = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "source": source_state(),
        "folder": str(folder),
        "sessions": args.sessions,
        "changes": args.changes,
        "funnel_changes": args.funnel_changes,
        "to": pinned.isoformat(),
        "load_before": os.getloadavg(),
    }
    with contextlib.suppress(ImportError):
        import bokeh
        import panel

        results["versions"] = {"panel": panel.__version__, "bokeh": bokeh.__version__}

    async with async_playwright() as pw:
        if not os.path.exists(args.chromium):
            raise BenchError(f"no Chromium at {args.chromium} (apt-get install chromium)")
        browser = await pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        results["chromium"] = browser.version
        server: Server | None = None
        sessions: list[Session] = []
        try:
            # 0. a new question's first render once the start-up warming is done
            server = Server(folder, timeout=args.timeout).start()
            waited = server.wait_idle()
            print(f"# server idle {waited:.1f} s after start", flush=True)
            early = Session(browser, 0, args.timeout)
            sample = await early.open(url.format(base=server.url))
            sample.kind = "first after warm-up"
            samples.append(sample)
            _logger("")(sample)
            await early.close()
            server.stop()

            # 0b. the Overview as a user opens it right after start: no pinned day (the last
            # day shown is the data's), the question the server answers before it listens
            for _ in range(args.cold_repeats):
                server = Server(folder, timeout=args.timeout).start()
                print(f"# server up in {server.startup_s:.1f} s (default day)", flush=True)
                plain = Session(browser, 0, args.timeout)
                sample = await plain.open(server.url)
                sample.kind = "first cold, default day"
                samples.append(sample)
                _logger("")(sample)
                await plain.close()
                server.stop()

            # 1. cold first renders: one per server start
            startups = []
            for i in range(args.cold_repeats):
                server = Server(folder, timeout=args.timeout).start()
                startups.append(server.startup_s)
                rss_start = server.rss_mb()
                print(
                    f"# server {i + 1}/{args.cold_repeats} up in {server.startup_s:.1f} s "
                    f"({server.url}, RSS {rss_start:,.0f} MB)",
                    flush=True,
                )
                first = Session(browser, 0, args.timeout)
                sample = await first.open(url.format(base=server.url))
                sample.kind = "first cold"
                samples.append(sample)
                _logger("")(sample)
                if i < args.cold_repeats - 1:
                    await first.close()
                    server.stop()
            results["startup_s"] = startups
            main = first  # the last cold session stays open: the one-session figures

            # 2. one session: To date, then actors
            phases = Phases()
            results["phases"] = phases.results
            log = _logger("")
            phases.start("one session, To date", server)
            print(
                f"# one session: {args.changes} To-date changes (miss, then back: hit)", flush=True
            )
            samples += await to_changes(main, pinned, args.changes, log)
            phases.end()
            actors = await main.actor_options()
            if len(actors) <= args.changes:
                raise BenchError(f"only {len(actors)} actors in the data: --changes must be less")
            step = max(1, len(actors) // (args.sessions + 1))
            print(
                f"# one session: {args.changes} actor additions (miss), each removed and "
                f"added again (2 hits)",
                flush=True,
            )
            phases.start("one session, actors", server)
            samples += await actor_changes(main, actor_run(actors, 0, args.changes), log)
            phases.end()
            results["actors"] = actors
            server.check_alive()

            # 3. memory with one session, then warm first renders of N more sessions
            await asyncio.sleep(3)
            rss_1 = server.rss_mb()
            print(
                f"# RSS with 1 session: {rss_1:,.0f} MB; opening {args.sessions} more", flush=True
            )
            phases.start("warm first renders", server)
            for i in range(1, args.sessions + 1):
                session = Session(browser, i, args.timeout)
                sessions.append(session)
                sample = await session.open(url.format(base=server.url))
                sample.kind = "first warm"
                samples.append(sample)
                _logger("")(sample)
            phases.end()
            await asyncio.sleep(3)
            rss_n = server.rss_mb()
            print(f"# RSS with {args.sessions + 1} sessions: {rss_n:,.0f} MB", flush=True)

            # 3b. control: N more sessions, each a new tab of an open session's context (the
            # browser has the scripts cached); the marginal memory once freed heap is used up.
            # They are closed again before the concurrent changes.
            extra = []
            for i in range(1, args.sessions + 1):
                session = Session(browser, args.sessions + i, args.timeout)
                extra.append(session)
                sample = await session.open(
                    url.format(base=server.url), context=sessions[i - 1].context
                )
                sample.kind = "first warm, cached scripts"
                samples.append(sample)
                _logger("")(sample)
            await asyncio.sleep(3)
            rss_2n = server.rss_mb()
            print(f"# RSS with {2 * args.sessions + 1} sessions: {rss_2n:,.0f} MB", flush=True)
            for session in extra:
                await session.close()

            # 3c. funnel questions on the Funnels page, in a session of its own (closed after)
            if args.funnel_changes:
                funnels = Session(browser, 2 * args.sessions + 1, args.timeout)
                try:
                    sample = await funnels.open(funnels_url.format(base=server.url), mode="funnels")
                    sample.kind = "first Funnels page"
                    samples.append(sample)
                    _logger("")(sample)
                    print(
                        f"# one session, Funnels page: {args.funnel_changes} windows, "
                        f"{args.funnel_changes} orders, {args.funnel_changes} breakdowns",
                        flush=True,
                    )
                    phases.start("one session, funnels", server)
                    found, initial = await funnel_changes(funnels, args.funnel_changes, log)
                    phases.end()
                    samples += found
                    results["funnel_initial"] = initial
                finally:
                    await funnels.close()
                server.check_alive()

            # 4. concurrency: every new session makes its own actor changes at once
            print(
                f"# {args.sessions} sessions at once: {args.changes} actor additions each "
                f"(+ 2 hits each)",
                flush=True,
            )
            t0 = time.perf_counter()
            phases.start(f"{args.sessions} sessions at once", server)
            many = await asyncio.gather(
                *(
                    actor_changes(
                        s, actor_run(actors, s.index * step, args.changes), _logger("many ")
                    )
                    for s in sessions
                )
            )
            results["concurrent_wall_s"] = time.perf_counter() - t0
            phases.end()
            server.check_alive()
            for group in many:
                for s in group:
                    s.kind = "many " + s.kind
                    samples.append(s)
            await asyncio.sleep(2)
            results["memory"] = {
                "rss_start_mb": rss_start,
                "rss_1_mb": rss_1,
                "rss_n_mb": rss_n,
                "sessions_open": args.sessions + 1,
                "per_session_mb": (rss_n - rss_1) / args.sessions,
                "rss_2n_mb": rss_2n,
                "per_session_2n_mb": (rss_2n - rss_n) / args.sessions,
                "rss_after_mb": server.rss_mb(),
                "peak_mb": server.peak_mb(),
            }
        finally:
            for s in sessions:
                with contextlib.suppress(Exception):
                    await s.close()
            with contextlib.suppress(Exception):
                await browser.close()
            if server is not None:
                server.stop()

    results["load_after"] = os.getloadavg()
    stats: dict[str, dict] = {}
    breakdown: dict[str, dict[str, float]] = {}
    for sample in samples:
        name = sample.kind if sample.kind.startswith(("first", "many")) else "one " + sample.kind
        stats.setdefault(name, []).append(sample)
    for name, group in list(stats.items()):
        views: dict[str, float] = {}
        for key in MARKS:
            values = [s.views[key] for s in group if key in s.views]
            if values:
                views[key] = pct(values, 50)
        views["kB in"] = pct([s.kb_in for s in group], 50)
        breakdown[name] = views
        stats[name] = summary([s.ms for s in group]) | {"wall": summary([s.wall_ms for s in group])}
    results["stats"] = stats
    results["breakdown"] = breakdown
    results["samples"] = [s.__dict__ for s in samples]
    results["actor_step"] = step
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data/parquet-1000000"))
    parser.add_argument("--sessions", type=int, default=10, help="concurrent sessions")
    parser.add_argument("--changes", type=int, default=20, help="misses per scenario and session")
    parser.add_argument("--cold-repeats", type=int, default=3, help="server starts for cold")
    parser.add_argument(
        "--funnel-changes",
        type=int,
        default=0,
        metavar="N",
        help="windows, orders and breakdowns each on the Funnels page (0: skip the phase)",
    )
    parser.add_argument("--to", default="2026-11-20", help="the pinned last day of every page")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per step")
    parser.add_argument(
        "--no-goals", dest="goals", action="store_false", help="serve DATA itself (no goals.yaml)"
    )
    parser.add_argument(
        "--no-split",
        dest="split",
        action="store_false",
        help="skip the in-process query/drawing split",
    )
    parser.add_argument("--split-repeat", type=int, default=3)
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.changes < 1 or args.cold_repeats < 1:
        parser.error("--sessions, --changes and --cold-repeats must be at least 1")
    if args.funnel_changes < 0:
        parser.error("--funnel-changes must be at least 0")

    try:
        folder = prepare_folder(args.data, args.goals)
        print(f"# serving {folder} · {machine()} · opdash {source_state()}", flush=True)
        results = asyncio.run(run(args, folder))
        if args.split:
            print("# in-process split (no browser)", flush=True)
            actors = results.get("actors") or [f"agent-{i:02d}" for i in range(50)]
            sets = [actors[:1], actors[:10]]
            results["split"] = server_split(
                folder, dt.date.fromisoformat(args.to), sets, args.split_repeat
            )
    except BenchError as exc:
        sys.exit(f"bench_ui: {exc}")
    print()
    print(
        f"# {results['date']} · {results['machine']} · {results['source']} · "
        f"Chromium {results.get('chromium')} · {results.get('versions')}"
    )
    print(
        f"# server start (catalog open) {', '.join(f'{s:.1f} s' for s in results['startup_s'])}"
        f"; {args.sessions} sessions' changes took {results['concurrent_wall_s']:.0f} s; "
        f"load average before {results['load_before'][0]:.2f}, after "
        f"{results['load_after'][0]:.2f}"
    )
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"\n# raw results: {args.json}")


if __name__ == "__main__":
    main()
