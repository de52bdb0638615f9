"""Benchmark: many websocket sessions on one ``opdash serve`` while a writer appends events.

    # load: 50 sessions changing the Actors filter for 3 minutes, writer at 100 events/s
    python benchmarks/bench_load.py --sessions 50 --minutes 3 --json /work/bench-data/load.json
    # soak: 10 sessions for 30 minutes, the writer's file rotated every 5 minutes
    python benchmarks/bench_load.py --sessions 10 --minutes 30 --rotate-every 300 \
        --json /work/bench-data/soak.json

A benchmark, not a timed test: run it by hand and record the figures in benchmarks/README.md.

What runs:

- **the server**: ``opdash serve DATA-load --refresh S --port P`` (a subprocess of the venv's
  Python, like ``bench_ui.Server``; ``--refresh`` default 10, ``opdash serve``'s own default),
  with ``BOKEH_PY_LOG_LEVEL=debug`` so Bokeh logs its session counts every 15 s (how the
  closed sessions are seen to be destroyed; ``--server-log PATH`` keeps the log). ``DATA-load``
  (``--data`` + ``-load``) holds symlinks to the data's parquet files, ``goals.yaml`` (bench_ui's
  five goals; ``--no-goals``: none) and the writer's files; the data folder itself is never
  written to. Leftover writer files of an earlier run are deleted first.
- **the writer** (a thread): ``--writer-rate`` events per second as JSON lines appended to
  ``DATA-load/events/live-writer.jsonl``, one write of whole lines every 100 ms, canonical
  envelopes (unique ``event_id``, ``occurred_at`` = now, actor ``load-writer``, a workflow per
  six events). ``--rotate-every N``: every N s the file is renamed to
  ``live-writer-<UTC timestamp>.jsonl`` (still read) and a new ``live-writer.jsonl`` begun, as
  exporters rotate; rotated files older than the last two rotations are deleted (their events
  leave the catalog). The events happen now, after the pinned day, so they never change the
  answers measured below; every refresh that reads them is a new data version, and the catalog
  keeps each answer those events cannot change (``Catalog.cached(reads=…)``: Today and the
  goals read nothing after their moment, the funnel nothing by other actors), so open views are
  not recomputed or redrawn for them.
- **the probe** (a thread): ``GET /health`` every 500 ms. Its ``events`` count, minus the count
  before the writer started, plus the events of deleted files the catalog has already dropped
  (a deletion is counted once ``refreshed_at - refresh_seconds``, when the refresh that saw it
  began, is after it; answers within 0.5 s of a deletion are not used) is how many writer events
  are visible. **Refresh lag** of a batch = the time the probe's answer first counting the whole
  batch arrived (from a request sent after the batch was written) minus the time the batch's
  write returned; also given in refresh intervals. A count above what was written is an error.
  At the end, once the writer stopped, the catalog's count must equal the data's plus the events
  in the writer files still present.
- **sessions** (asyncio, tornado websockets; no browser): each GETs ``/?to=DAY`` (``--to``,
  default 2026-11-20, as bench_ui: the last day shown is pinned so answers do not depend on the
  clock), connects to ``/ws`` with the page's token, pulls the document, keeps a mirror of it
  (every model's JSON attributes, updated by every PATCH-DOC the server sends, buffers included)
  and sends the ``document_ready`` event BokehJS sends (Panel holds later redraws until it).
  Sessions are opened ``--ramp`` s apart. Each then changes the Actors filter (a PATCH-DOC
  ``ModelChanged`` of the Actors MultiChoice's ``value``, as BokehJS sends it) to a new set,
  waits for the answer, thinks ``--think`` s (uniform), and so on until ``--minutes`` after the
  first session opened (or ``--changes`` changes), then closes its websocket; a change still
  waiting then gets ``--timeout`` s more, then is cut (listed as unfinished). Session i's sets
  are ``[a_i, a_(i+d)]`` over the offered actors (``a``, the widget's options without the
  writer's actor) with d = 1, 2, …: no two sessions ask the same set (unless there are more
  sessions than actors).

What is measured:

- **filter change**: from the PATCH-DOC's send to the first moment the session's mirror shows,
  in both views that read actors (Today: the text of its HTML panes; the funnel: the text of its
  chart and its table's data), an answer different from the one before the change, with no
  model marked loading (Panel 1.9 adds the ``pn-loading`` css class) and no error card
  (``opdash-error``). Marks per change: the first message back, each view's first changed
  answer, and *answered*: both views changed (a spinner may still be on, e.g. a redraw for a
  newer data version). Also given for the changes sent once every session was open (the
  opening rush over: each open builds a session's document on the one event loop).
- **first render** ("open"): GET of the page to the pulled document complete (Today, funnel and
  goals drawn, nothing loading).
- **errors**: any exception, a step (open or change) over ``--timeout`` (default 30 s; the session
  then waits up to ``--give-up`` s more untimed, else reconnects), a websocket closed by the
  server, an ERROR reply, an error card drawn, an HTTP status >= 500 (page, probe), a /health
  answer counting more writer events than written, a final count mismatch, writer events never
  visible, Bokeh still holding sessions ``--drain`` s after they closed, and server log lines
  with a traceback, ERROR, "failed" or a 5xx access line.
- **memory**: the server's RSS (psutil: the process and its children) and CPU every second for
  the whole run: at start (idle after the start-up warming), peak (samples; and VmHWM), when the
  sessions close, and after they are gone: Bokeh discards a session
  ``unused_session_lifetime`` (15 s; ``opdash serve`` has no option for it, so Bokeh's default)
  after its websocket closed, checked every 17 s; the run waits until Bokeh's log says
  ``0 sessions`` (at most ``--drain`` s) and 5 s more. Soak: RSS per slice, growth from the end
  of the first slice (warm: every session opened and changed for a slice) to the end of the
  last, and the least-squares slope after the first slice.

Per ``--slice`` seconds (default 60, 300 for runs of 10 minutes or more): changes, p50/p95,
errors, lag, RSS, server CPU. This process's CPU and the rest of the machine's are reported
too: they share the cores with the server. Times in the JSON are seconds after the first
session's start. Percentiles are nearest-rank. Targets (the issue): change p95 < 1.5 s, lag
max < 2 intervals (every batch), zero errors, memory back near the start after the sessions
are gone, soak growth < 50 MB. Ctrl-C or SIGTERM stops the server and the threads.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import contextlib
import datetime as dt
import html
import json
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_ui import (  # noqa: E402
    GOALS_YAML,
    BenchError,
    Server,
    fmt_ms,
    machine,
    pct,
    source_state,
    summary,
)
from synthetic import STEPS, write_folder  # noqa: E402

# Targets of the issue.
TARGET_P95_MS = 1500
TARGET_LAG_INTERVALS = 2
TARGET_SOAK_GROWTH_MB = 50

WRITER_FILE = "live-writer.jsonl"
WRITER_ACTOR = "load-writer"
WRITER_TYPES = STEPS  # the loop's steps, as the synthetic events have them
# Bokeh's defaults (bokeh.server.tornado): opdash serve passes neither.
UNUSED_SESSION_LIFETIME_S = 15
CHECK_UNUSED_SESSIONS_S = 17
PROBE_PERIOD_S = 0.5  # a monitor polling /health; lag is judged in 10 s intervals
WRITER_PERIOD_S = 0.1
SESSIONS_LINE = re.compile(r"has (\d+) sessions with (\d+) unused")
# server log lines that are errors (Bokeh's own DEBUG lines are not, unless a traceback)
LOG_ERROR = re.compile(
    r"Traceback|\bERROR\b|\bCRITICAL\b|\b50\d (?:GET|POST|HEAD) |\bfailed\b|Exception"
)


class Clock:
    """Seconds since the run started (monotonic), and wall time for the server's stamps."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.wall0 = time.time()

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def reset(self) -> None:
        """Make now the origin: times before it (server start, warming) become negative."""
        shift = time.perf_counter() - self.t0
        self.t0 += shift
        self.wall0 += shift

    def from_wall(self, wall: float) -> float:
        return wall - self.wall0


class Errors:
    """Every error of the run, with when (s after start) and where it happened."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.items: list[dict] = []
        self._lock = threading.Lock()

    def add(self, kind: str, detail: str, session: int | None = None) -> None:
        item = {"t": self.clock.now(), "kind": kind, "detail": detail[:500], "session": session}
        with self._lock:
            self.items.append(item)
        where = f"s{session} " if session is not None else ""
        print(f"  ERROR {where}{kind}: {detail[:200]}", flush=True)


# -- data and server ------------------------------------------------------------------------------


def prepare_load_folder(data: Path, goals: bool) -> Path:
    """``DATA-load``: symlinks to the data's parquet files, goals.yaml, no writer files."""
    if not (data / ".complete").exists():
        found = re.search(r"(\d+)$", data.name)
        if not found:
            raise BenchError(f"{data} has no .complete marker and its name gives no event count")
        print(f"# generating {int(found.group(1)):,} events in {data} (synthetic.py) …", flush=True)
        write_folder(data, int(found.group(1)))
    folder = data.with_name(data.name + "-load")
    events = folder / "events"
    events.mkdir(parents=True, exist_ok=True)
    for old in events.glob("live-writer*.jsonl"):
        old.unlink()
    wanted = {}
    for src in sorted((data / "events").rglob("*.parquet")):
        wanted[events / src.relative_to(data / "events")] = src.resolve()
    for dest, src in wanted.items():
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() and dest.resolve() == src:
            continue
        dest.unlink(missing_ok=True)
        dest.symlink_to(src)
    for stale in events.rglob("*"):
        if stale not in wanted and (stale.is_symlink() or stale.is_file()):
            stale.unlink()
    goals_file = folder / "goals.yaml"
    if goals:
        goals_file.write_text(GOALS_YAML)
    else:
        goals_file.unlink(missing_ok=True)
    return folder


@dataclass
class LoadServer(Server):
    """``opdash serve FOLDER --refresh S`` on a free port, its log in a file that is read while
    it runs (Bokeh's session counts), RSS and CPU including child processes."""

    refresh: int = 10
    log_path: Path | None = None
    num_procs: int = 1

    def serve_args(self) -> list[str]:
        return ["--refresh", str(self.refresh), "--num-procs", str(self.num_procs)]

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "BOKEH_PY_LOG_LEVEL": "debug"}

    def open_log(self):
        return open(self.log_path, "w+")  # noqa: SIM115  (closed in stop())

    def usage(self) -> tuple[float, float]:
        """(RSS MB, CPU s) of the server and its children."""
        import psutil

        proc = psutil.Process(self.proc.pid)
        rss, cpu = 0, 0.0
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                rss += p.memory_info().rss
                t = p.cpu_times()
                cpu += t.user + t.system
        return rss / 2**20, cpu


# -- background threads: monitor, writer, probe ---------------------------------------------------


class Monitor(threading.Thread):
    """Every second: the server's RSS and CPU, this process's CPU, the machine's busy CPU;
    Bokeh's session counts and error lines from the server's log as they appear."""

    def __init__(self, server: LoadServer, clock: Clock, errors: Errors) -> None:
        super().__init__(name="bench-monitor", daemon=True)
        self.server, self.clock, self.errors = server, clock, errors
        self.stop_event = threading.Event()
        self.samples: list[dict] = []
        self.sessions: list[tuple[float, int, int]] = []  # (t, sessions, unused)
        self.log_errors: list[str] = []
        self.log_other: list[str] = []  # the first 200 lines not Bokeh's DEBUG or INFO
        self._log_pos = 0
        self._partial = ""

    def sample(self) -> dict:
        import psutil

        rss, cpu = self.server.usage()
        me = psutil.Process().cpu_times()
        total = psutil.cpu_times()
        busy = sum(total) - total.idle - getattr(total, "iowait", 0.0)
        item = {
            "t": self.clock.now(),
            "rss_mb": rss,
            "server_cpu_s": cpu,
            "bench_cpu_s": me.user + me.system,
            "machine_cpu_s": busy,
        }
        self.samples.append(item)
        return item

    def read_log(self) -> None:
        try:
            with open(self.server.log_path, errors="replace") as fh:
                fh.seek(self._log_pos)
                text = self._partial + fh.read()
                self._log_pos = fh.tell()
        except OSError:
            return
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            found = SESSIONS_LINE.search(line)
            if found:
                self.sessions.append((self.clock.now(), int(found[1]), int(found[2])))
                continue
            debug = line.startswith(("DEBUG:", "INFO:bokeh"))
            if not debug and len(self.log_other) < 200:
                self.log_other.append(line)
            if LOG_ERROR.search(line) and (not debug or "Traceback" in line):
                self.log_errors.append(line)
                self.errors.add("server log", line)

    def run(self) -> None:
        while not self.stop_event.wait(1.0):
            try:
                self.sample()
                self.read_log()
            except Exception as exc:  # noqa: BLE001  (the server may have just exited)
                if self.server.proc.poll() is None:
                    self.errors.add("monitor", repr(exc))


class Writer(threading.Thread):
    """``rate`` events/s appended to events/live-writer.jsonl in 100 ms batches; rotation."""

    def __init__(
        self, folder: Path, rate: float, rotate_every: float, clock: Clock, errors: Errors
    ) -> None:
        super().__init__(name="bench-writer", daemon=True)
        self.events_dir = folder / "events"
        self.rate, self.rotate_every = rate, rotate_every
        self.clock, self.errors = clock, errors
        self.stop_event = threading.Event()
        self.run_tag = f"{os.getpid()}-{int(time.time())}"
        self.written = 0
        self.batches: list[tuple[int, float]] = []  # (cumulative events, wall time written)
        self.deletions: list[tuple[float, int, str]] = []  # (wall time, events, name)
        self.rotations: list[dict] = []
        self.files: dict[str, int] = {}  # writer file name -> events in it
        self.lock = threading.Lock()

    def _lines(self, start: int, n: int, now: dt.datetime) -> str:
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        out = []
        for k in range(start + 1, start + n + 1):
            event = {
                "event_id": f"load-{self.run_tag}-{k:09d}",
                "event_type": WRITER_TYPES[k % len(WRITER_TYPES)],
                "event_version": 1,
                "occurred_at": stamp,
                "actor": {"type": "ai_agent", "id": WRITER_ACTOR},
                "context": {"source": "bench_load"},
                "correlation": {"workflow_id": f"load-wf-{self.run_tag}-{k // 6}"},
                "payload": {"seq": k},
            }
            out.append(json.dumps(event, separators=(",", ":")) + "\n")
        return "".join(out)

    def _rotate(self) -> None:
        current = self.events_dir / WRITER_FILE
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"live-writer-{stamp}.jsonl"
        with self.lock:
            if current.exists():
                os.rename(current, self.events_dir / name)
                self.files[name] = self.files.pop(WRITER_FILE, 0)
            rotated = sorted(n for n in self.files if n != WRITER_FILE)
            item = {"t": self.clock.now(), "renamed_to": name, "deleted": []}
            for old in rotated[:-2]:
                (self.events_dir / old).unlink()
                n = self.files.pop(old)
                self.deletions.append((time.time(), n, old))
                item["deleted"].append({"name": old, "events": n})
            self.rotations.append(item)
        print(
            f"# rotation at {item['t']:.0f} s: {WRITER_FILE} -> {name}; deleted "
            f"{[d['name'] for d in item['deleted']] or 'none'}",
            flush=True,
        )

    def run(self) -> None:
        start = time.perf_counter()
        next_rotation = start + self.rotate_every if self.rotate_every > 0 else float("inf")
        tick = 0
        path = self.events_dir / WRITER_FILE
        while not self.stop_event.is_set():
            tick += 1
            due = start + tick * WRITER_PERIOD_S
            delay = due - time.perf_counter()
            if delay > 0 and self.stop_event.wait(delay):
                break
            try:
                if time.perf_counter() >= next_rotation:
                    self._rotate()
                    next_rotation += self.rotate_every
                n = int(self.rate * (time.perf_counter() - start)) - self.written
                if n <= 0:
                    continue
                text = self._lines(self.written, n, dt.datetime.now(dt.UTC))
                with self.lock, open(path, "a", encoding="utf-8") as fh:
                    fh.write(text)
                    fh.flush()
                written_at = time.time()
                with self.lock:
                    self.written += n
                    self.files[WRITER_FILE] = self.files.get(WRITER_FILE, 0) + n
                    self.batches.append((self.written, written_at))
            except Exception as exc:  # noqa: BLE001
                self.errors.add("writer", repr(exc))
                time.sleep(1)

    def present_events(self) -> int:
        with self.lock:
            return sum(self.files.values())


class Probe(threading.Thread):
    """GET /health every 500 ms: (sent, received, events, data_version, scan start)."""

    def __init__(self, url: str, clock: Clock, errors: Errors) -> None:
        super().__init__(name="bench-probe", daemon=True)
        self.url, self.clock, self.errors = url + "health", clock, errors
        self.stop_event = threading.Event()
        self.answers: list[dict] = []
        self.failures = 0

    def get(self) -> dict | None:
        sent = time.time()
        try:
            with urllib.request.urlopen(self.url, timeout=30) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                self.errors.add("probe HTTP", f"/health answered {exc.code}")
            self.failures += 1
            return None
        except (OSError, ValueError) as exc:
            self.failures += 1
            if self.failures <= 5:
                self.errors.add("probe", repr(exc))
            return None
        received = time.time()
        refreshed = body.get("refreshed_at")
        scan = None
        if refreshed:
            scan = dt.datetime.fromisoformat(refreshed).timestamp() - (
                body.get("refresh_seconds") or 0.0
            )
        answer = {
            "sent": sent,
            "received": received,
            "events": body.get("events"),
            "version": body.get("data_version"),
            "scan": scan,
            "pending": len(body.get("files_pending") or []),
        }
        self.answers.append(answer)
        return answer

    def run(self) -> None:
        while not self.stop_event.is_set():
            t = time.perf_counter()
            self.get()
            self.stop_event.wait(max(0.0, PROBE_PERIOD_S - (time.perf_counter() - t)))


def refresh_lag(writer: Writer, probe: Probe, base: int, clock: Clock, errors: Errors) -> dict:
    """Per writer batch: when /health first counted it (see the module doc)."""
    deletions = writer.deletions
    visible: list[tuple[float, float, int]] = []  # (sent, received, writer events visible)
    skipped = 0
    batches = writer.batches
    times = [t for _, t in batches]
    over = []
    for a in probe.answers:
        if a["events"] is None or a["scan"] is None:
            continue
        if any(abs(a["scan"] - td) < 0.5 for td, _, _ in deletions):
            skipped += 1
            continue
        forgotten = sum(n for td, n, _ in deletions if td < a["scan"])
        seen = a["events"] - base + forgotten
        # what had been written when the answer came back (batches are in time order)
        done = bisect.bisect_right(times, a["received"])
        written = batches[done - 1][0] if done else 0
        if seen > written:
            over.append((clock.from_wall(a["received"]), seen, written))
        visible.append((a["sent"], a["received"], seen))
    if over:
        t, seen, written = over[0]
        errors.add(
            "count",
            f"{len(over)} /health answers count more writer events than written (first at "
            f"{t:.1f} s: {seen:,} counted, {written:,} written)",
        )
    lags: list[tuple[float, float]] = []  # (t written, lag s)
    unseen = 0
    i = 0
    for k, written_at in batches:
        # answers are in order; the first one sent after the write that counts k
        while i < len(visible) and visible[i][0] < written_at:
            i += 1
        j = i
        while j < len(visible) and visible[j][2] < k:
            j += 1
        if j == len(visible):
            unseen += 1
            continue
        lags.append((clock.from_wall(written_at), visible[j][1] - written_at))
    return {"samples": lags, "unseen": unseen, "skipped_answers": skipped}


# -- the session's document mirror ----------------------------------------------------------------


def _text(markup: str) -> str:
    """An HTML pane's text as a reader sees it: Bokeh ships it escaped once more."""
    inner = html.unescape(markup)
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", inner)).split())


class Mirror:
    """The session's Bokeh document as JSON: every model's attributes by id, kept current by
    the server's PATCH-DOC events. Buffers are inlined (base64) where they are referenced."""

    def __init__(self, doc: dict, buffers: dict[str, bytes]) -> None:
        self.models: dict[str, dict] = {}
        self.roots: list[str] = []
        self.unknown_events: dict[str, int] = {}
        roots = doc.get("roots", [])
        self._register(doc.get("defs", []), buffers)
        for root in roots:
            self._register(root, buffers)
            self.roots.append(root["id"])

    def _register(self, value, buffers: dict[str, bytes]):
        """Record every model definition in ``value``; inline buffer references."""
        if isinstance(value, dict):
            if value.get("type") == "bytes" and isinstance(value.get("data"), dict):
                ref = value["data"].get("id")
                if ref in buffers:
                    value["data"] = base64.b64encode(buffers[ref]).decode()
                return value
            if value.get("type") == "object" and "id" in value:
                attrs = value.setdefault("attributes", {})
                self._register(attrs, buffers)
                known = self.models.get(value["id"])
                if known is None:
                    self.models[value["id"]] = value
                elif known is not value:
                    known["attributes"].update(attrs)
                return value
            for v in value.values():
                self._register(v, buffers)
        elif isinstance(value, list):
            for v in value:
                self._register(v, buffers)
        return value

    def apply(self, content: dict, buffers: dict[str, bytes]) -> None:
        for event in content.get("events", []):
            kind = event.get("kind")
            model = self.models.get((event.get("model") or {}).get("id", ""))
            if kind == "ModelChanged" and model is not None:
                model["attributes"][event["attr"]] = self._register(event["new"], buffers)
            elif kind == "ColumnDataChanged" and model is not None:
                new = self._register(event["data"], buffers)
                old = model["attributes"].get(event["attr"])
                cols = event.get("cols")
                if cols and isinstance(old, dict) and isinstance(new, dict):
                    merged = dict(_entries(old))
                    merged.update(_entries(new))
                    new = {"type": "map", "entries": list(merged.items())}
                model["attributes"][event["attr"]] = new
            elif kind in ("ColumnsStreamed", "ColumnsPatched") and model is not None:
                self._register(event, buffers)
                model["attributes"].setdefault("__streamed", []).append(event)
            elif kind == "RootAdded":
                self._register(event["model"], buffers)
                self.roots.append(event["model"]["id"])
            elif kind == "RootRemoved":
                with contextlib.suppress(ValueError):
                    self.roots.remove(event["model"]["id"])
            elif kind in ("MessageSent", "TitleChanged"):
                continue
            else:
                self.unknown_events[kind] = self.unknown_events.get(kind, 0) + 1

    def reachable(self, start: list[str]) -> list[dict]:
        """The models reachable from ``start`` ids, depth first in attribute order."""
        seen: set[str] = set()
        out: list[dict] = []

        def visit(value) -> None:
            if isinstance(value, dict):
                ref = value.get("id")
                if (
                    isinstance(ref, str)
                    and ref in self.models
                    and (value.get("type") == "object" or len(value) == 1)
                ):
                    if ref in seen:
                        return
                    seen.add(ref)
                    model = self.models[ref]
                    out.append(model)
                    for v in model["attributes"].values():
                        visit(v)
                    return
                for v in value.values():
                    visit(v)
            elif isinstance(value, list):
                for v in value:
                    visit(v)

        for ref in start:
            visit({"id": ref})
        return out

    def find(self, name: str, **attrs) -> list[dict]:
        return [
            m
            for m in self.reachable(self.roots)
            if m.get("name") == name and all(m["attributes"].get(k) == v for k, v in attrs.items())
        ]

    def state(self) -> dict:
        """What the page shows now: per view its answer, loading, error cards."""
        models = self.reachable(self.roots)
        loading = sum(
            1 for m in models if "pn-loading" in (m["attributes"].get("css_classes") or [])
        )
        errors = [
            _text(m["attributes"].get("text", ""))
            for m in models
            if "opdash-error" in str(m["attributes"].get("text", ""))
        ]
        views: dict[str, str | None] = {"today": None, "goals": None, "funnel": None}
        mains = [m for m in models if "opdash-main" in (m["attributes"].get("css_classes") or [])]
        holders = []
        if mains:
            holders = [
                m
                for m in self.reachable([mains[0]["id"]])
                if m.get("name", "").endswith("Column") and m["attributes"].get("min_height") == 40
            ]
        for holder in holders:
            parts = []
            for m in self.reachable([holder["id"]])[1:]:
                a = m["attributes"]
                if "text" in a and isinstance(a["text"], str):
                    parts.append(a["text"])
                elif m.get("name") == "ColumnDataSource":
                    parts.append(json.dumps(a.get("data"), sort_keys=True))
                    parts.extend(json.dumps(e, sort_keys=True) for e in a.get("__streamed", []))
            joined = "\n".join(parts)
            if "opdash-today" in joined:
                views["today"] = joined
            elif "opdash-funnel" in joined or "Nobody entered this funnel" in joined:
                views["funnel"] = joined
            elif "opdash-goal" in joined or "No goals yet" in joined:
                views["goals"] = joined
            elif joined and "opdash-error" in joined:
                views.setdefault("error", joined)
        return {"views": views, "loading": loading, "errors": errors}


def _entries(value: dict) -> list:
    if value.get("type") == "map":
        return [tuple(e) for e in value.get("entries", [])]
    return list(value.items())


def readable(view: str | None) -> str:
    """A view's answer for a person: the panes' text and the tables' Count columns."""
    if view is None:
        return "(not drawn)"
    out = []
    for part in view.split("\n"):
        if part.startswith("{"):
            with contextlib.suppress(ValueError, KeyError):
                out.append("Count column " + str(_column(json.loads(part), "Count")))
        else:
            out.append(_text(part))
    return " | ".join(p for p in out if p)


def _column(data: dict, name: str) -> list:
    import numpy as np

    for key, value in _entries(data):
        if key != name:
            continue
        if isinstance(value, dict) and value.get("type") == "ndarray":
            array = value["array"]
            if isinstance(array, dict):
                return np.frombuffer(base64.b64decode(array["data"]), value["dtype"]).tolist()
            return list(array)
        return list(value)
    raise KeyError(name)


# -- one session ----------------------------------------------------------------------------------


@dataclass
class Change:
    session: int
    t: float  # s after start, when sent
    ms: float | None  # None: not completed
    what: str
    ok: bool = True
    marks: dict[str, float] = field(default_factory=dict)  # ms after send


class StepFailed(Exception):
    pass


class Session:
    """One websocket session on the dashboard, driven like an operator changing actors."""

    def __init__(self, index: int, base: str, query: str, args, clock: Clock, errors: Errors):
        self.index, self.base, self.query = index, base, query
        self.args, self.clock, self.errors = args, clock, errors
        self.conn = None
        self.mirror: Mirror | None = None
        self.reader: asyncio.Task | None = None
        self.updated = asyncio.Event()
        self.msgid = 0
        self.closing = False
        self.closed_by_server = False
        self.first_msg: float | None = None
        self.actors_id: str | None = None
        self.options: list[str] = []
        self.pulled: asyncio.Future | None = None
        self.current: Change | None = None

    # -- transport ------------------------------------------------------------------------
    def _next_id(self) -> str:
        self.msgid += 1
        return f"bench{self.index}-{self.msgid}"

    async def _send(self, msgtype: str, content: dict) -> None:
        header = {"msgid": self._next_id(), "msgtype": msgtype}
        for frame in (json.dumps(header), "{}", json.dumps(content)):
            await self.conn.write_message(frame)

    async def _read(self) -> None:
        """Assemble Bokeh messages (header, metadata, content, then per buffer its header and
        its bytes) and apply them."""
        try:
            while True:
                frame = await self.conn.read_message()
                if frame is None:
                    break
                header = json.loads(frame)
                await self.conn.read_message()  # metadata
                content = json.loads(await self.conn.read_message())
                buffers = {}
                for _ in range(header.get("num_buffers", 0)):
                    ref = json.loads(await self.conn.read_message())
                    buffers[ref["id"]] = await self.conn.read_message()
                self._dispatch(header, content, buffers)
        except Exception as exc:  # noqa: BLE001
            if not self.closing:
                self.errors.add("websocket", repr(exc), self.index)
        if not self.closing:
            self.closed_by_server = True
            code = getattr(self.conn, "close_code", None)
            self.errors.add("websocket closed", f"by the server (code {code})", self.index)
        self.updated.set()

    def _dispatch(self, header: dict, content: dict, buffers: dict) -> None:
        kind = header.get("msgtype")
        if self.first_msg is None:
            self.first_msg = time.perf_counter()
        if kind == "PULL-DOC-REPLY":
            self.mirror = Mirror(content["doc"], buffers)
            if self.pulled and not self.pulled.done():
                self.pulled.set_result(None)
        elif kind == "PATCH-DOC" and self.mirror is not None:
            self.mirror.apply(content, buffers)
        elif kind == "ERROR":
            self.errors.add("bokeh ERROR reply", str(content.get("text")), self.index)
        self.updated.set()

    # -- steps ----------------------------------------------------------------------------
    async def open(self) -> float:
        """GET the page, connect, pull the document, send document_ready; ms until complete."""
        from tornado.httpclient import AsyncHTTPClient, HTTPRequest
        from tornado.websocket import websocket_connect

        t0 = time.perf_counter()
        client = AsyncHTTPClient()
        try:
            response = await client.fetch(
                self.base + self.query, request_timeout=self.args.give_up, raise_error=False
            )
        except Exception as exc:  # noqa: BLE001
            raise StepFailed(f"GET page: {exc!r}") from None
        if response.code >= 500:
            self.errors.add("HTTP", f"GET page answered {response.code}", self.index)
        if response.code != 200:
            raise StepFailed(f"GET page answered {response.code}")
        found = re.search(r'"token":"([^"]+)"', response.body.decode())
        if not found:
            raise StepFailed("no session token in the page")
        origin = self.base.rstrip("/")
        request = HTTPRequest(
            origin.replace("http://", "ws://") + "/ws",
            headers={"Origin": origin},
            request_timeout=self.args.give_up,
        )
        self.conn = await websocket_connect(
            request, subprotocols=["bokeh", found[1]], max_message_size=256 * 2**20
        )
        for _ in range(3):  # ACK: header, metadata, content
            await self.conn.read_message()
        self.pulled = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self._read())
        await self._send("PULL-DOC-REQ", {})
        await asyncio.wait_for(self.pulled, self.args.give_up)
        # What BokehJS sends once it has drawn the document: Panel runs its onload callbacks
        # and only then lets redraws made after the pull reach the page.
        ready = {"type": "event", "name": "document_ready", "values": {"type": "map"}}
        event = {"kind": "MessageSent", "msg_type": "bokeh_event", "msg_data": ready}
        await self._send("PATCH-DOC", {"events": [event]})
        actors = self.mirror.find("MultiChoice", title="Actors")
        if not actors:
            raise StepFailed("no MultiChoice titled 'Actors' in the document")
        self.actors_id = actors[0]["id"]
        options = actors[0]["attributes"].get("options") or []
        self.options = [o[0] if isinstance(o, list) else o for o in options]
        await self._wait(t0, before=None, what="open")
        return (time.perf_counter() - t0) * 1000

    def _complete(self, state: dict, before: dict | None, expect: tuple[str, ...]) -> bool:
        views = state["views"]
        drawn = all(views[v] is not None for v in ("today", "goals", "funnel"))
        if not drawn or state["loading"]:
            return False
        if before is None:
            return True
        return all(views[v] != before[v] for v in expect)

    async def _wait(
        self,
        t0: float,
        before: dict | None,
        what: str,
        expect: tuple[str, ...] = (),
        marks: dict | None = None,
    ) -> float:
        """Wait until the page is complete (and ``expect`` views differ from ``before``); the
        ms from ``t0``. Over --timeout: an error, then wait on untimed up to --give-up."""
        late = False
        while True:
            if self.closed_by_server:
                raise StepFailed(f"{what}: the websocket closed")
            state = self.mirror.state()
            now = time.perf_counter()
            if marks is not None and before is not None:
                for v in expect:
                    if v not in marks and state["views"][v] not in (None, before[v]):
                        marks[v] = (now - t0) * 1000
                if "answered" not in marks and all(v in marks for v in expect):
                    marks["answered"] = (now - t0) * 1000
            if state["errors"]:
                raise StepFailed(f"{what}: error card: {' / '.join(state['errors'])[:300]}")
            if self._complete(state, before, expect):
                return (now - t0) * 1000
            waited = now - t0
            if not late and waited > self.args.timeout:
                late = True
                self.errors.add(
                    "timeout", f"{what} not done after {self.args.timeout:.0f} s", self.index
                )
            if waited > self.args.give_up:
                raise StepFailed(f"{what}: not done after {self.args.give_up:.0f} s")
            self.updated.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.updated.wait(), 0.5)

    def actor_sets(self, n_sessions: int) -> list[list[str]]:
        actors = [a for a in self.options if not a.startswith(WRITER_ACTOR)]
        if len(actors) < 2:
            raise StepFailed(f"only {len(actors)} actors offered")
        n = len(actors)
        half = max(1, (n - 1) // 2)
        anchor = self.index % n
        return [[actors[anchor], actors[(anchor + d) % n]] for d in range(1, half + 1)]

    async def change_actors(self, actors: list[str]) -> Change:
        state = self.mirror.state()
        before = dict(state["views"])
        change = Change(self.index, self.clock.now(), None, f"actors={','.join(actors)}")
        self.current = change
        event = {
            "kind": "ModelChanged",
            "model": {"id": self.actors_id},
            "attr": "value",
            "new": list(actors),
        }
        self.first_msg = None
        t0 = time.perf_counter()
        await self._send("PATCH-DOC", {"events": [event]})
        change.ms = await self._wait(
            t0, before, change.what, expect=("today", "funnel"), marks=change.marks
        )
        if self.first_msg is not None:
            change.marks["first_msg"] = (self.first_msg - t0) * 1000
        if self.args.show or (self.index == 0 and not getattr(self, "_shown", False)):
            self._shown = True
            after = self.mirror.state()["views"]
            print(f"  s{self.index} {change.what}: {change.ms:,.0f} ms", flush=True)
            for v in ("today", "funnel"):
                print(f"    {v} before: {readable(before[v])[:400]}", flush=True)
                print(f"    {v} after:  {readable(after[v])[:400]}", flush=True)
        return change

    async def close(self) -> None:
        self.closing = True
        if self.conn is not None:
            self.conn.close()
        if self.reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.reader, 5)
        self.conn = self.reader = None


async def drive(
    index: int,
    start_at: float,
    deadline: float,
    args,
    base: str,
    clock: Clock,
    errors: Errors,
    out: dict,
) -> None:
    """One operator: open, change actors until the deadline, close. Reconnects after a failed
    step (a new session, as a browser reload would)."""
    rng = random.Random(1000 + index)
    query = f"?to={args.to}"
    await asyncio.sleep(max(0.0, start_at - clock.now()))
    changes: list[Change] = out.setdefault("changes", [])
    opens: list[dict] = out.setdefault("opens", [])
    inflight: dict[int, float] = out.setdefault("inflight", {})  # session -> sent at
    unfinished: list[dict] = out.setdefault("unfinished", [])
    done = 0
    j = 0
    while clock.now() < deadline and (not args.changes or done < args.changes):
        session = Session(index, base, query, args, clock, errors)
        try:
            t = clock.now()
            ms = await session.open()
            opens.append({"session": index, "t": t, "ms": ms})
            if args.verbose:
                print(f"  s{index} open {ms:,.0f} ms", flush=True)
            sets = session.actor_sets(args.sessions)
            while clock.now() < deadline and (not args.changes or done < args.changes):
                await asyncio.sleep(rng.uniform(*args.think))
                if clock.now() >= deadline:
                    break
                actors = sets[j % len(sets)]
                j += 1
                inflight[index] = clock.now()
                session.current = None
                try:
                    change = await session.change_actors(actors)
                except StepFailed as exc:
                    changes.append(Change(index, clock.now(), None, str(exc), ok=False))
                    raise
                except asyncio.CancelledError:
                    sent = inflight[index]
                    cut = session.current
                    unfinished.append(
                        {
                            "session": index,
                            "t": sent,
                            "waited_s": clock.now() - sent,
                            "what": cut.what if cut else "",
                            "marks": cut.marks if cut else {},
                        }
                    )
                    raise
                finally:
                    inflight.pop(index, None)
                changes.append(change)
                done += 1
                if args.verbose:
                    print(f"  s{index} {change.what}: {change.ms:,.0f} ms", flush=True)
        except StepFailed as exc:
            errors.add("step", str(exc), index)
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            errors.add("exception", repr(exc), index)
            await asyncio.sleep(1)
        finally:
            unknown = session.mirror.unknown_events if session.mirror else {}
            for kind, n in unknown.items():
                out.setdefault("unknown_events", {}).setdefault(kind, 0)
                out["unknown_events"][kind] += n
            await session.close()


# -- the run --------------------------------------------------------------------------------------


def rss_at(samples: list[dict], t: float) -> float | None:
    """The last RSS sample at or before ``t``."""
    found = [s["rss_mb"] for s in samples if s["t"] <= t]
    return found[-1] if found else None


def median_rss(samples: list[dict], lo: float, hi: float) -> float | None:
    """The median RSS of the samples in ``[lo, hi)``."""
    values = [s["rss_mb"] for s in samples if lo <= s["t"] < hi]
    return statistics.median(values) if values else None


def slope_mb_per_hour(samples: list[dict]) -> float | None:
    if len(samples) < 3:
        return None
    ts = [s["t"] for s in samples]
    ys = [s["rss_mb"] for s in samples]
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    var = sum((t - mt) ** 2 for t in ts)
    if not var:
        return None
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / var * 3600


async def run(args: argparse.Namespace, folder: Path, workdir: Path) -> dict:
    clock = Clock()
    errors = Errors(clock)
    results: dict = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "source": source_state(),
        "folder": str(folder),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "load_before": os.getloadavg(),
        "unused_session_lifetime_s": UNUSED_SESSION_LIFETIME_S,
    }
    with contextlib.suppress(ImportError):
        import bokeh
        import panel

        results["versions"] = {"panel": panel.__version__, "bokeh": bokeh.__version__}
    from tornado.httpclient import AsyncHTTPClient

    AsyncHTTPClient.configure(None, max_clients=max(10, 2 * args.sessions))
    server = LoadServer(
        folder,
        timeout=args.give_up,
        refresh=args.refresh,
        num_procs=args.num_procs,
        log_path=args.server_log or workdir / "server.log",
    )
    monitor = writer = probe = None
    out: dict = {}
    # SIGTERM as Ctrl-C: the run is cancelled and the finally below stops the server
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    try:
        server.start()
        print(f"# server up in {server.startup_s:.1f} s at {server.url}", flush=True)
        waited = server.wait_idle()
        results["startup_s"] = server.startup_s
        results["idle_after_s"] = waited
        monitor = Monitor(server, clock, errors)
        monitor.sample()
        monitor.start()
        probe = Probe(server.url, clock, errors)
        first = probe.get()
        if first is None:
            raise BenchError("GET /health failed before the run")
        base = first["events"]
        results["events_before"] = base
        probe.start()
        writer = Writer(folder, args.writer_rate, args.rotate_every, clock, errors)
        if args.writer_rate > 0:
            writer.start()
        clock.reset()
        t_start = clock.now()
        results["rss_start_mb"] = monitor.samples[-1]["rss_mb"]
        print(
            f"# idle {waited:.1f} s after start; RSS {results['rss_start_mb']:,.0f} MB, "
            f"{base:,} events; {args.sessions} sessions for {args.minutes} min "
            f"(ramp {args.ramp} s), writer {args.writer_rate}/s, refresh {args.refresh} s",
            flush=True,
        )
        deadline = t_start + args.minutes * 60
        tasks = [
            asyncio.create_task(
                drive(i, t_start + i * args.ramp, deadline, args, server.url, clock, errors, out)
            )
            for i in range(args.sessions)
        ]
        progress = asyncio.create_task(_progress(out, clock, monitor, deadline))
        try:
            # a step still in flight at the deadline gets --timeout more (it is an error
            # beyond that anyway); then the sessions are closed, the step counted unfinished
            while True:
                left = deadline + args.timeout + 5 - clock.now()
                _, pending = await asyncio.wait(tasks, timeout=max(1.0, left))
                if not pending or left <= 0:
                    break
        finally:
            progress.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        t_closed = clock.now()
        results["unfinished_at_end"] = out.get("unfinished", [])
        server.check_alive()
        results["rss_sessions_closed_mb"] = monitor.sample()["rss_mb"]
        print(
            f"# sessions closed at {t_closed:.0f} s, RSS {results['rss_sessions_closed_mb']:,.0f}"
            f" MB; waiting for Bokeh to discard them (unused-session lifetime "
            f"{UNUSED_SESSION_LIFETIME_S} s, checked every {CHECK_UNUSED_SESSIONS_S} s)",
            flush=True,
        )
        gone_at = None
        while clock.now() - t_closed < args.drain:
            await asyncio.sleep(1)
            after = [s for s in monitor.sessions if s[0] > t_closed]
            if after and after[-1][1] == 0:
                gone_at = after[-1][0]
                break
        results["sessions_gone_s"] = None if gone_at is None else gone_at - t_closed
        if gone_at is None:
            last = monitor.sessions[-1] if monitor.sessions else None
            errors.add(
                "sessions not discarded",
                f"Bokeh still reports {last[1] if last else '?'} sessions {args.drain:.0f} s "
                "after they closed",
            )
        await asyncio.sleep(5)
        results["rss_after_close_mb"] = monitor.sample()["rss_mb"]
        t_after = clock.now()
        # the writer stops; every batch must become visible, and the count must add up
        if args.writer_rate > 0:
            writer.stop_event.set()
            writer.join()
            final_wait = max(60, 6 * args.refresh)
            t_stop = time.time()
            expected = base + writer.present_events()
            count = seen_after = None
            while time.time() - t_stop < final_wait:
                await asyncio.sleep(0.5)
                answers = [a for a in probe.answers if a["scan"] and a["scan"] > t_stop]
                if answers:
                    count = answers[-1]["events"]
                    if count == expected:
                        seen_after = answers[-1]["received"] - t_stop
                        break
            results["count_check"] = {
                "expected": expected,
                "got": count,
                "seen_after_s": seen_after,
            }
            if count != expected:
                got = "no refresh" if count is None else f"{count:,} events"
                errors.add(
                    "count",
                    f"/health: {got} within {final_wait:.0f} s after the writer stopped, "
                    f"expected {expected:,} (data {base:,} + writer files present)",
                )
        probe.stop_event.set()
        probe.join()
        monitor.stop_event.set()
        monitor.join()
        monitor.sample()
        monitor.read_log()
        results["peak_vmhwm_mb"] = server.peak_mb()
        server.check_alive()
    finally:
        for thread in (writer, probe, monitor):
            if thread is not None:
                thread.stop_event.set()
        for thread in (writer, probe, monitor):
            if thread is not None and thread.is_alive():
                thread.join(timeout=10)
        server.stop()
    results["load_after"] = os.getloadavg()

    # -- figures --------------------------------------------------------------------------
    changes: list[Change] = out.get("changes", [])
    ok = [c for c in changes if c.ok and c.ms is not None]
    results["change"] = summary([c.ms for c in ok])
    results["change_failed"] = len(changes) - len(ok)
    results["open"] = summary([o["ms"] for o in out.get("opens", [])])
    first_opens: dict[int, float] = {}
    for o in out.get("opens", []):
        first_opens.setdefault(o["session"], o["t"] + o["ms"] / 1000)
    if len(first_opens) == args.sessions:  # steady: every session open, the opening rush over
        results["all_open_s"] = max(first_opens.values())
        results["change_all_open"] = summary([c.ms for c in ok if c.t >= results["all_open_s"]])
    marks = {}
    results["answered"] = summary([c.marks["answered"] for c in ok if "answered" in c.marks])
    for key in ("first_msg", "today", "funnel", "answered"):
        values = [c.marks[key] for c in ok if key in c.marks]
        if values:
            marks[key] = pct(values, 50)
    results["change_marks_p50_ms"] = marks
    results["changes_per_min"] = len(ok) / max(1e-9, (t_closed - t_start) / 60)
    results["unknown_events"] = out.get("unknown_events", {})
    if args.writer_rate > 0:
        lag = refresh_lag(writer, probe, base, clock, errors)
        lag_s = [x[1] for x in lag["samples"]]
        results["lag"] = summary(lag_s) | {
            "unseen": lag["unseen"],
            "skipped_answers": lag["skipped_answers"],
        }
        if lag_s:
            results["lag"]["max_intervals"] = max(lag_s) / max(args.refresh, 1)
            results["lag"]["p95_intervals"] = pct(lag_s, 95) / max(args.refresh, 1)
        if lag["unseen"]:
            errors.add("lag", f"{lag['unseen']} writer batches never seen by /health")
        results["writer"] = {
            "events": writer.written,
            "batches": len(writer.batches),
            "rotations": writer.rotations,
        }
    else:
        lag = {"samples": []}
    samples = monitor.samples
    results["rss_peak_sample_mb"] = max(s["rss_mb"] for s in samples)
    results["sessions_log"] = monitor.sessions
    results["server_log_other"] = monitor.log_other
    span = samples[-1]["t"] - samples[0]["t"]
    results["cpu"] = {
        "server_s": samples[-1]["server_cpu_s"] - samples[0]["server_cpu_s"],
        "bench_s": samples[-1]["bench_cpu_s"] - samples[0]["bench_cpu_s"],
        "machine_s": samples[-1]["machine_cpu_s"] - samples[0]["machine_cpu_s"],
        "wall_s": span,
    }
    slice_s = args.slice or (300 if args.minutes >= 10 else 60)
    slices = []
    edges = [t_start]
    while edges[-1] + slice_s < t_closed - 1:
        edges.append(edges[-1] + slice_s)
    edges.append(t_closed)
    for lo, hi in zip(edges, edges[1:], strict=False):
        in_slice = [c.ms for c in ok if lo <= c.t < hi]
        lags = [x[1] for x in lag["samples"] if lo <= x[0] < hi]
        cpu = [s for s in samples if lo <= s["t"] <= hi]
        slices.append(
            {
                "from_s": lo - t_start,
                "to_s": hi - t_start,
                "change": summary(in_slice),
                "errors": sum(1 for e in errors.items if lo <= e["t"] < hi),
                "lag": summary(lags),
                "rss_end_mb": rss_at(samples, hi),
                "server_cpu_s": (cpu[-1]["server_cpu_s"] - cpu[0]["server_cpu_s"]) if cpu else None,
            }
        )
    results["slices"] = slices
    # growth and slope once warm (after the first slice): soak-length runs only
    warm = rss_at(samples, edges[1]) if len(edges) > 3 and args.minutes >= 10 else None
    end = rss_at(samples, t_closed)
    steady = [s for s in samples if edges[1] <= s["t"] <= t_closed] if warm else []
    results["memory"] = {
        "start_mb": results["rss_start_mb"],
        "peak_mb": results["rss_peak_sample_mb"],
        "vmhwm_mb": results["peak_vmhwm_mb"],
        "warm_mb": warm,
        "end_sessions_open_mb": end,
        "sessions_closed_mb": results["rss_sessions_closed_mb"],
        "after_close_mb": results["rss_after_close_mb"],
        "after_close_minus_start_mb": results["rss_after_close_mb"] - results["rss_start_mb"],
        "growth_warm_to_end_mb": (end - warm) if warm is not None and end is not None else None,
        # single samples swing by hundreds of MB (DuckDB buffers, shared tables built and
        # dropped): the verdict compares the median RSS of the second slice and of the last
        "median_second_slice_mb": median_rss(samples, edges[1], edges[2]) if warm else None,
        "median_last_slice_mb": (
            median_rss(samples, t_closed - (edges[1] - edges[0]), t_closed) if warm else None
        ),
        "slope_mb_per_h": slope_mb_per_hour(steady),
        "after_close_at_s": t_after - t_start,
    }
    results["memory_timeline"] = [
        {"t": round(s["t"] - t_start, 1), "rss_mb": round(s["rss_mb"], 1)} for s in samples
    ]
    results["errors"] = errors.items
    results["error_kinds"] = {}
    for e in errors.items:
        results["error_kinds"][e["kind"]] = results["error_kinds"].get(e["kind"], 0) + 1
    results["samples"] = [c.__dict__ for c in changes]
    results["opens"] = out.get("opens", [])
    results["lag_samples"] = lag["samples"]
    versions, last = [], None
    for a in probe.answers if probe else []:
        if a["version"] != last:
            last = a["version"]
            scan = clock.from_wall(a["scan"]) - t_start if a["scan"] else None
            versions.append(
                {
                    "t": round(clock.from_wall(a["received"]) - t_start, 2),
                    "version": a["version"],
                    "events": a["events"],
                    "scan_started": None if scan is None else round(scan, 2),
                }
            )
    results["data_versions"] = versions
    # /health reads its count (cached per version) and the version separately: one version
    # answered with two counts means a count of an older version was labelled as newer
    counts: dict[int, set] = {}
    for a in probe.answers if probe else []:
        counts.setdefault(a["version"], set()).add(a["events"])
    results["health_versions_with_two_counts"] = {
        v: sorted(c) for v, c in counts.items() if len(c) > 1
    }
    return results


async def _progress(out: dict, clock: Clock, monitor: Monitor, deadline: float) -> None:
    last = 0
    while True:
        await asyncio.sleep(15)
        changes = out.get("changes", [])
        recent = [c.ms for c in changes[last:] if c.ok and c.ms is not None]
        last = len(changes)
        s = monitor.samples[-1] if monitor.samples else {"rss_mb": float("nan")}
        sessions = monitor.sessions[-1][1] if monitor.sessions else "?"
        p = f"p50 {fmt_ms(pct(recent, 50))}, p95 {fmt_ms(pct(recent, 95))}" if recent else "-"
        print(
            f"# {clock.now():5.0f} s: {len(recent)} changes in 15 s ({p}); {len(out.get('opens', []))}"
            f" opens; Bokeh sessions {sessions}; RSS {s['rss_mb']:,.0f} MB; "
            f"{max(0, deadline - clock.now()):.0f} s to go",
            flush=True,
        )


# -- report ---------------------------------------------------------------------------------------


def report(results: dict) -> str:
    st = results["settings"]
    interval = max(st["refresh"], 1)
    lines = [
        f"`bench_load.py --sessions {st['sessions']} --minutes {st['minutes']} --refresh "
        f"{st['refresh']} --writer-rate {st['writer_rate']} --rotate-every {st['rotate_every']}"
        f"` ({results['date']}, {results['machine']}, {results['source']}, "
        f"{results.get('versions')})",
        "",
        "| what | n | p50 | p95 | max | target | met |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    c = results["change"]
    if c["n"]:
        lines.append(
            f"| filter change (Actors → Today + funnel redrawn), {st['sessions']} sessions | "
            f"{c['n']} | {fmt_ms(c['p50'])} | {fmt_ms(c['p95'])} | {fmt_ms(c['max'])} | "
            f"p95 < {fmt_ms(TARGET_P95_MS)} | {'yes' if c['p95'] < TARGET_P95_MS else 'NO'} |"
        )
    c = results.get("change_all_open", {"n": 0})
    if c["n"]:
        lines.append(
            f"| same, sent once all {st['sessions']} sessions were open (from "
            f"{results['all_open_s']:.0f} s) | {c['n']} | {fmt_ms(c['p50'])} | "
            f"{fmt_ms(c['p95'])} | {fmt_ms(c['max'])} | p95 < {fmt_ms(TARGET_P95_MS)} | "
            f"{'yes' if c['p95'] < TARGET_P95_MS else 'NO'} |"
        )
    a = results.get("answered", {"n": 0})
    if a["n"]:
        lines.append(
            f"| same, until both views show the new answer (spinners may still be on) | "
            f"{a['n']} | {fmt_ms(a['p50'])} | {fmt_ms(a['p95'])} | {fmt_ms(a['max'])} | – | – |"
        )
    o = results["open"]
    if o["n"]:
        lines.append(
            f"| first render (GET → document complete) | {o['n']} | {fmt_ms(o['p50'])} | "
            f"{fmt_ms(o['p95'])} | {fmt_ms(o['max'])} | – | – |"
        )
    lag = results.get("lag")
    if lag and lag.get("n"):
        met = lag["max_intervals"] < TARGET_LAG_INTERVALS and not lag["unseen"]
        lines.append(
            f"| refresh lag (written → counted by /health), refresh {st['refresh']} s | "
            f"{lag['n']} | {lag['p50']:.2f} s ({lag['p50'] / interval:.2f} iv) | "
            f"{lag['p95']:.2f} s ({lag['p95_intervals']:.2f} iv) | {lag['max']:.2f} s "
            f"({lag['max_intervals']:.2f} iv) | max < {TARGET_LAG_INTERVALS} intervals | "
            f"{'yes' if met else 'NO'} |"
        )
    m = results["memory"]
    freed = m["after_close_minus_start_mb"]
    lines += [
        "",
        f"Errors: {len(results['errors'])} (target 0: {'met' if not results['errors'] else 'NOT met'})"
        + (
            " — " + ", ".join(f"{k} {n}" for k, n in results["error_kinds"].items())
            if results["errors"]
            else ""
        )
        + f"; {results['change_failed']} changes failed, "
        f"{len(results.get('unfinished_at_end', []))} still waiting at the end (cut).",
        "",
        f"Server RSS: {m['start_mb']:,.0f} MB idle at start, peak {m['peak_mb']:,.0f} MB "
        f"(VmHWM {m['vmhwm_mb']:,.0f} MB), {m['end_sessions_open_mb']:,.0f} MB at the end with "
        f"the sessions open, {m['after_close_mb']:,.0f} MB after they closed and Bokeh "
        f"discarded them ({_gone(results)}): {freed:+,.0f} MB vs start.",
    ]
    if m["growth_warm_to_end_mb"] is not None:
        slope = m["slope_mb_per_h"]
        growth = m["median_last_slice_mb"] - m["median_second_slice_mb"]
        lines.append(
            f"Growth once warm, median RSS of the second slice ({m['median_second_slice_mb']:,.0f}"
            f" MB) to the last ({m['median_last_slice_mb']:,.0f} MB): {growth:+,.0f} MB "
            f"(soak target < {TARGET_SOAK_GROWTH_MB} MB: "
            f"{'met' if growth < TARGET_SOAK_GROWTH_MB else 'NOT met'}); single samples, end of "
            f"the first slice ({m['warm_mb']:,.0f} MB) to the end "
            f"({m['end_sessions_open_mb']:,.0f} MB): {m['growth_warm_to_end_mb']:+,.0f} MB"
            + (f"; slope {slope:+,.0f} MB/h." if slope is not None else ".")
        )
    cpu = results["cpu"]
    marks = results.get("change_marks_p50_ms", {})
    lines += [
        "",
        f"{results['changes_per_min']:.1f} changes/min completed; p50 marks after the send: "
        + ", ".join(f"{k} {fmt_ms(v)}" for k, v in marks.items())
        + f". CPU s over {cpu['wall_s']:.0f} s: server {cpu['server_s']:.0f}, this benchmark "
        f"{cpu['bench_s']:.0f}, other processes "
        f"{max(0.0, cpu['machine_s'] - cpu['server_s'] - cpu['bench_s']):.0f} (of "
        f"{os.cpu_count()} × {cpu['wall_s']:.0f} available).",
    ]
    if results.get("writer"):
        w = results["writer"]
        cc = results.get("count_check", {})
        after = cc.get("seen_after_s")
        lines.append(
            f"Writer: {w['events']:,} events in {w['batches']:,} batches, "
            f"{len(w['rotations'])} rotations; after it stopped /health counted "
            f"{_n(cc.get('got'))} events, expected {_n(cc.get('expected'))}"
            + (f" (reached {after:.1f} s after the stop)." if after is not None else ".")
        )
    two = results.get("health_versions_with_two_counts")
    if two:
        lines.append(
            f"/health answered {len(two)} data version(s) with two different event counts "
            "(its count is cached per version but read apart from the version)."
        )
    lines += [
        "",
        "| slice | changes | p50 | p95 | errors | lag p50 | lag p95 | RSS at end | server CPU s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in results["slices"]:
        ch, lg = s["change"], s["lag"]
        lines.append(
            f"| {s['from_s'] / 60:.0f}–{s['to_s'] / 60:.1f} min | {ch['n']} | "
            f"{fmt_ms(ch.get('p50'))} | {fmt_ms(ch.get('p95'))} | {s['errors']} | "
            f"{_s(lg.get('p50'))} | {_s(lg.get('p95'))} | "
            f"{s['rss_end_mb']:,.0f} MB | {s['server_cpu_s'] or 0:.0f} |"
        )
    return "\n".join(lines)


def _n(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def _gone(results: dict) -> str:
    gone = results.get("sessions_gone_s")
    if gone is None:
        return "NOT seen discarded"
    return f"Bokeh reported 0 sessions {gone:.0f} s after the close"


# -- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data/parquet-1000000"))
    parser.add_argument("--sessions", type=int, default=50, help="concurrent sessions")
    parser.add_argument("--minutes", type=float, default=3, help="how long sessions change")
    parser.add_argument(
        "--changes", type=int, default=0, help="stop a session after N changes (0: no limit)"
    )
    parser.add_argument(
        "--refresh", type=int, default=10, help="opdash serve --refresh seconds (its default: 10)"
    )
    parser.add_argument("--writer-rate", type=float, default=100, help="events/s (0: no writer)")
    parser.add_argument(
        "--rotate-every", type=float, default=0, help="rotate the writer's file every N s (0: off)"
    )
    parser.add_argument("--to", default="2026-11-20", help="the pinned last day of every page")
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=(1.0, 3.0),
        metavar=("MIN", "MAX"),
        help="seconds between a change's answer and the next change (uniform)",
    )
    parser.add_argument("--ramp", type=float, default=0.3, help="seconds between session opens")
    parser.add_argument(
        "--num-procs", type=int, default=1, help="opdash serve --num-procs (serving processes)"
    )
    parser.add_argument("--timeout", type=float, default=30, help="a slower step is an error")
    parser.add_argument(
        "--give-up", type=float, default=180, help="reconnect after a step this slow"
    )
    parser.add_argument(
        "--drain", type=float, default=90, help="wait at most this for Bokeh to discard sessions"
    )
    parser.add_argument("--slice", type=float, default=0, help="report slice seconds (0: auto)")
    parser.add_argument("--no-goals", dest="goals", action="store_false", help="no goals.yaml")
    parser.add_argument("--show", action="store_true", help="print every change's before/after")
    parser.add_argument("--verbose", action="store_true", help="print every change's time")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--server-log", type=Path, help="keep the server's log here")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.minutes <= 0:
        parser.error("--sessions must be at least 1 and --minutes above 0")

    try:
        folder = prepare_load_folder(args.data, args.goals)
        print(f"# serving {folder} · {machine()} · opdash {source_state()}", flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-load-") as workdir:
            results = asyncio.run(run(args, folder, Path(workdir)))
    except BenchError as exc:
        sys.exit(f"bench_load: {exc}")
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench_load: interrupted (server stopped)", file=sys.stderr)
        sys.exit(130)
    print()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
        print(f"\n# raw results: {args.json}")


if __name__ == "__main__":
    main()
