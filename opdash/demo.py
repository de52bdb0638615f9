"""Write a realistic, deterministic demo artifact folder for opdash.

Why: opdash reads whatever an automation stack happens to export (JSON lines,
JSON arrays, single JSON objects, Parquet, run folders, state files, a goals
file). A demo folder that exercises every one of those shapes -- including some
deliberately broken records -- lets people try the dashboard and lets tests pin
behaviour without a real deployment.

Determinism: every random choice goes through one ``random.Random(seed)``; no
wall-clock time is read; JSON is written with sorted keys and Parquet with fixed
writer options, so the same arguments always give byte-identical files.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_AS_OF = "2026-11-20T16:00:00Z"
DEFAULT_SEED = 7
DEFAULT_WORKFLOWS = 240

SCANNER_TYPES = ("signal.created", "candidate.created")
TRADE_TYPES = ("trade.plan.created", "trade.executed", "trade.updated", "trade.closed")
JOURNAL_TYPES = ("journal.updated", "journal.completed")

MARKETS: dict[str, dict[str, float]] = {
    "crypto": {"BTC-USD": 91000.0, "ETH-USD": 3200.0, "SOL-USD": 140.0},
    "equities": {"AAPL": 230.0, "MSFT": 420.0, "NVDA": 145.0, "TSLA": 330.0},
    "fx": {"EUR-USD": 1.08, "GBP-USD": 1.27, "USD-JPY": 152.3},
}
INSIGHTS = (
    "Entries after a long wait underperform quick entries.",
    "Stops placed under the session low held well.",
    "Size was too large relative to recent volatility.",
    "Exits were early on winning trades.",
    "Plan was followed; execution slippage was small.",
    "Trading into the session close hurt the fill.",
)
RULES = (
    "Skip signals with score below 0.55 during the asia session.",
    "Cap position size at 1% of equity when volatility is high.",
    "Move the stop to break-even after a 1R move.",
    "Do not open new trades in the last 15 minutes of a session.",
    "Require a second confirming signal before sizing up.",
)
NOTES = (
    "Waiting for confirmation on the retest.",
    "Entered as planned; watching the stop.",
    "Felt rushed; review the checklist next time.",
    "Clean setup, followed the plan.",
    "Partial fill, adjusted the size.",
)

_OFFSETS = {"+02:00": timedelta(hours=2), "-05:00": timedelta(hours=-5)}
_PRICE_CAP = 10**9


@dataclass(frozen=True)
class DemoSummary:
    """What ``write_demo`` wrote, so the CLI can report it and tests can check it."""

    path: Path
    files: int
    events: int
    malformed: int
    runs: int


@dataclass(eq=False)
class _Event:
    """An event before ids are assigned; ids follow time order, so they come last."""

    dt: datetime
    seq: int
    event_type: str
    actor: tuple[str, str]
    context: dict[str, Any]
    entity: tuple[str, str]
    workflow_id: str | None
    parent: _Event | None
    payload: dict[str, Any]
    stamp: str = "Z"
    extra: dict[str, str] = field(default_factory=dict)
    event_id: str = ""


class _Gen:
    """Holds the single RNG and the event list so helpers stay small."""

    def __init__(self, seed: int, as_of: datetime) -> None:
        self.rng = random.Random(seed)
        self.as_of = as_of
        self.events: list[_Event] = []

    def new(
        self,
        dt: datetime,
        event_type: str,
        actor: tuple[str, str],
        context: dict[str, Any],
        entity: tuple[str, str],
        workflow_id: str | None,
        parent: _Event | None,
        payload: dict[str, Any],
        varied_time: bool = True,
    ) -> _Event | None:
        """Record an event unless it would fall after ``as_of`` (the export moment)."""
        if dt > self.as_of:
            return None
        ev = _Event(
            dt, len(self.events), event_type, actor, context, entity, workflow_id, parent, payload
        )
        if varied_time:
            ev.stamp = self._stamp_style()
            if self.rng.random() < 0.05:
                ev.extra = {"source": self.rng.choice(("scanner-v2", "bridge-1", "replay"))}
        self.events.append(ev)
        return ev

    def _stamp_style(self) -> str:
        """Mostly ``Z``; a handful of offsets and naive stamps to test parsing."""
        r = self.rng.random()
        if r < 0.015:
            return self.rng.choice(sorted(_OFFSETS))
        if r < 0.024:
            return "naive"
        return "Z"

    def gap(self, lo_min: float, hi_min: float) -> timedelta:
        """Minutes to hours, with an occasional gap of more than a day."""
        seconds = int(self.rng.uniform(lo_min, hi_min) * 60) + 1
        if self.rng.random() < 0.03:
            seconds += self.rng.randint(86_400, 2 * 86_400)
        return timedelta(seconds=seconds)


def _parse_as_of(as_of: datetime | str) -> datetime:
    """Accept RFC 3339 text or a datetime; naive means UTC."""
    dt = (
        as_of
        if isinstance(as_of, datetime)
        else datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    )
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).replace(microsecond=0)


def _fmt(dt: datetime, stamp: str = "Z") -> str:
    """RFC 3339 text in the requested style; the instant is always the same."""
    if stamp in _OFFSETS:
        return dt.astimezone(timezone(_OFFSETS[stamp])).isoformat()
    if stamp == "naive":
        return dt.strftime("%Y-%m-%dT%H:%M:%S")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _session(dt: datetime) -> str:
    """Trading session by UTC hour, as a desk would label it."""
    if 7 <= dt.hour < 13:
        return "eu"
    if 13 <= dt.hour < 21:
        return "us"
    return "asia"


def _price_round(market: str, value: float) -> float:
    """FX quotes need more decimals than crypto or stock prices."""
    return round(value, 5 if market == "fx" else 2)


def _starts(g: _Gen, workflows: int) -> list[tuple[datetime, bool]]:
    """Workflow start times: spread over 21 days, many today, a few 'late' ones."""
    rng, as_of = g.rng, g.as_of
    midnight = as_of.replace(hour=0, minute=0, second=0)
    today_lo = midnight if as_of - midnight > timedelta(hours=1) else as_of - timedelta(hours=6)
    today_span = int((as_of - today_lo).total_seconds()) - 300
    n_late = max(1, workflows // 40) if workflows >= 10 else 0
    n_today = workflows // 5
    out: list[tuple[datetime, bool]] = []
    for i in range(workflows):
        if i < n_late:
            dt = as_of - timedelta(seconds=rng.randint(16 * 86_400, int(20.5 * 86_400)))
        elif i < n_late + n_today:
            dt = today_lo + timedelta(seconds=rng.randint(0, today_span))
        else:
            dt = as_of - timedelta(
                seconds=rng.randint(int((as_of - today_lo).total_seconds()), 21 * 86_400)
            )
        out.append((dt, i < n_late))
    return sorted(out, key=lambda item: (item[0], item[1]))


class _Flow:
    """One workflow's loop; each step may drop off or stop at ``as_of``."""

    def __init__(self, g: _Gen, num: int, start: datetime, late: bool) -> None:
        self.g, self.num, self.start, self.late = g, num, start, late
        self.wf = f"wf-{num:04d}"
        self.market = g.rng.choice(sorted(MARKETS))
        self.symbol = g.rng.choice(sorted(MARKETS[self.market]))
        self.context = {"market": self.market, "session": _session(start)}
        self.emitted: list[_Event] = []

    def emit(
        self,
        after: _Event | None,
        gap: timedelta,
        event_type: str,
        actor: tuple[str, str],
        entity: tuple[str, str],
        payload: dict[str, Any],
        *,
        root: bool = False,
    ) -> _Event | None:
        """Emit ``event_type`` ``gap`` after ``after`` (or at the workflow start)."""
        base = after.dt if after is not None else self.start
        ev = self.g.new(
            base + gap,
            event_type,
            actor,
            self.context,
            entity,
            self.wf,
            None if root else after,
            payload,
        )
        if ev is not None:
            self.emitted.append(ev)
        return ev

    def step(
        self,
        prev: _Event | None,
        keep: float,
        lo: float,
        hi: float,
        event_type: str,
        actor: tuple[str, str],
        entity: tuple[str, str],
        payload: Callable[[], dict[str, Any]],
    ) -> _Event | None:
        """Continue the chain with probability ``keep`` (always, for late workflows)."""
        if prev is None or (not self.late and self.g.rng.random() >= keep):
            return None
        return self.emit(prev, self.g.gap(lo, hi), event_type, actor, entity, payload())

    def run(self) -> None:
        """Signal through task decision, plus side events (journal, alert, restart)."""
        rng, n = self.g.rng, self.num
        scanner = ("ai_agent", "scanner-agent")
        sig = self.emit(
            None,
            timedelta(0),
            "signal.created",
            scanner,
            ("signal", f"sig-{n:04d}"),
            {"symbol": self.symbol, "score": round(rng.uniform(0.4, 0.99), 3)},
            root=True,
        )
        cand = self.step(
            sig,
            0.75,
            1,
            45,
            "candidate.created",
            scanner,
            ("candidate", f"cand-{n:04d}"),
            lambda: {"symbol": self.symbol, "result": "pass"},
        )
        plan = self.step(
            cand,
            0.65,
            5,
            120,
            "trade.plan.created",
            ("ai_agent", "planner-agent"),
            ("trade_plan", f"plan-{n:04d}"),
            self._plan_payload,
        )
        self._journal(plan, 0.4, "journal.updated")
        self._tail(self._trade(plan))

    def _plan_payload(self) -> dict[str, Any]:
        """Side, size, entry and stop for a plausible trade."""
        rng, m = self.g.rng, self.market
        entry = MARKETS[m][self.symbol] * (1 + rng.gauss(0, 0.02))
        side = rng.choice(("long", "short"))
        risk = rng.uniform(0.008, 0.03) * (1 if side == "long" else -1)
        notional = rng.uniform(5_000, 50_000)
        if m == "equities":
            qty: float = float(max(1, int(notional / entry)))
        elif m == "fx":
            qty = float(rng.choice((10_000, 25_000, 50_000, 100_000)))
        else:
            qty = round(notional / entry, 4)
        self.side, self.qty = side, qty
        self.entry = _price_round(m, entry)
        return {
            "symbol": self.symbol,
            "side": side,
            "qty": qty,
            "entry": self.entry,
            "stop": _price_round(m, entry * (1 - risk)),
        }

    def _trade(self, plan: _Event | None) -> _Event | None:
        """Execution, 0-4 updates and the close; returns the last trade event."""
        rng, m, n = self.g.rng, self.market, self.num
        execution = ("ai_agent", "execution-agent")
        trade = ("trade", f"trade-{n:04d}")
        exe = self.step(
            plan,
            0.70,
            1,
            90,
            "trade.executed",
            execution,
            trade,
            lambda: {"fill_price": _price_round(m, self.entry * (1 + rng.gauss(0, 0.001)))},
        )
        if exe is None:
            return plan
        fill = exe.payload["fill_price"]
        self._journal(exe, 0.3, "journal.updated")
        last, price = exe, fill
        for _ in range(rng.randint(0, 4)):
            price = _price_round(m, price * (1 + rng.gauss(0, 0.006)))
            nxt = self.emit(
                last, self.g.gap(10, 240), "trade.updated", execution, trade, {"price": price}
            )
            if nxt is None:
                return last
            last = nxt
        if not self.late and rng.random() >= 0.85:
            return last
        gap = (
            timedelta(days=14, seconds=rng.randint(3_600, 72_000))
            if self.late
            else self.g.gap(30, 600)
        )
        exit_price = _price_round(m, price * (1 + rng.gauss(0, 0.015)))
        sign = 1 if self.side == "long" else -1
        pnl = round((exit_price - fill) * self.qty * sign, 2)
        closed = self.emit(
            last, gap, "trade.closed", execution, trade, {"exit_price": exit_price, "pnl": pnl}
        )
        if closed is None:
            return last
        self._journal(closed, 0.65, "journal.completed")
        return closed

    def _journal(self, after: _Event | None, p: float, event_type: str) -> None:
        """Operators write journal notes beside the loop; they do not gate it."""
        rng = self.g.rng
        if after is None or rng.random() >= p:
            return
        payload: dict[str, Any] = {"note": rng.choice(NOTES)}
        if event_type == "journal.completed":
            payload["rating"] = rng.randint(1, 5)
        self.emit(
            after,
            self.g.gap(5, 180),
            event_type,
            ("operator", rng.choice(("op-alice", "op-bob"))),
            ("journal", f"jrn-{self.num:04d}"),
            payload,
        )

    def _tail(self, last: _Event | None) -> None:
        """Coach, rule, task and decision; then occasional alert and restart."""
        rng, n = self.g.rng, self.num
        coach_actor = ("ai_agent", "coach-agent")
        if last is not None and last.event_type == "trade.closed":
            coach = self.step(
                last,
                0.80,
                10,
                240,
                "coach.analysis.generated",
                coach_actor,
                ("analysis", f"ana-{n:04d}"),
                lambda: {"insight": rng.choice(INSIGHTS), "grade": rng.choice("ABBCCD")},
            )
            rule = self.step(
                coach,
                0.50,
                1,
                30,
                "strategy.rule.suggested",
                coach_actor,
                ("strategy_rule", f"rule-{n:04d}"),
                lambda: {"rule": rng.choice(RULES)},
            )
            self._task(rule)
        self._alert()
        self._restart()

    def _task(self, rule: _Event | None) -> None:
        """A suggested rule becomes a task an operator accepts, rejects or leaves pending."""
        rng, n = self.g.rng, self.num
        payload = {"task_id": f"task-{n:04d}", "title": f"Review rule for {self.symbol}"}
        task = self.step(
            rule,
            0.85,
            1,
            20,
            "task.created",
            ("system", "system"),
            ("task", f"task-{n:04d}"),
            lambda: dict(payload),
        )
        r = rng.random()
        if task is None or r >= 0.75:
            return
        decision = "task.accepted" if r < 0.45 else "task.rejected"
        self.emit(
            task,
            self.g.gap(20, 1_440),
            decision,
            ("operator", rng.choice(("op-alice", "op-bob"))),
            ("task", f"task-{n:04d}"),
            dict(payload),
        )

    def _alert(self) -> None:
        """About one workflow in twelve raises an alert tied to one of its events."""
        rng = self.g.rng
        if not self.emitted or rng.random() >= 0.08:
            return
        after = rng.choice(self.emitted)
        severity = rng.choice(("info", "warning", "warning", "critical"))
        message = rng.choice(
            (
                f"Slippage above threshold on {self.symbol}",
                f"Score spike on {self.symbol}",
                f"Position limit near for {self.market}",
            )
        )
        self.emit(
            after,
            self.g.gap(1, 30),
            "alert.triggered",
            ("system", "system"),
            ("alert", f"alt-{self.num:04d}"),
            {"severity": severity, "message": message},
        )

    def _restart(self) -> None:
        """About 5% of workflows see a second signal later on (a restart)."""
        rng, n = self.g.rng, self.num
        if not self.emitted or rng.random() >= 0.05:
            return
        last = max(self.emitted, key=lambda e: (e.dt, e.seq))
        scanner = ("ai_agent", "scanner-agent")
        sig = self.emit(
            last,
            self.g.gap(120, 2_000),
            "signal.created",
            scanner,
            ("signal", f"sig-{n:04d}-2"),
            {"symbol": self.symbol, "score": round(rng.uniform(0.4, 0.99), 3)},
            root=True,
        )
        self.step(
            sig,
            0.6,
            1,
            45,
            "candidate.created",
            scanner,
            ("candidate", f"cand-{n:04d}-2"),
            lambda: {"symbol": self.symbol, "result": "pass"},
        )


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class _RunSpec:
    """The fixed shape of one demo run; times are offsets from ``as_of``."""

    run_id: str
    name: str
    kind: str
    status: str
    agent: str
    started: timedelta
    heartbeat: timedelta
    ended: timedelta | None


def _run_specs(as_of: datetime) -> list[_RunSpec]:
    """Four runs: healthy live, stale live, succeeded backtest, failed nightly."""
    day = as_of.date()
    d = lambda k: (day - timedelta(days=k)).strftime("%Y%m%d")  # noqa: E731
    midnight = as_of - datetime.combine(day, datetime.min.time(), UTC)
    h = lambda x: timedelta(hours=x)  # noqa: E731
    return [
        _RunSpec(
            f"scanner-live-{d(0)}",
            "Live scanner",
            "live",
            "running",
            "scanner-agent",
            h(7),
            timedelta(seconds=40),
            None,
        ),
        _RunSpec(
            f"planner-live-{d(0)}",
            "Live planner",
            "live",
            "running",
            "planner-agent",
            h(6.5),
            timedelta(minutes=20),
            None,
        ),
        _RunSpec(
            f"backtest-{d(2)}",
            "Backtest: breakout v3",
            "backtest",
            "succeeded",
            "planner-agent",
            midnight + h(46),
            midnight + h(44.8),
            midnight + h(44.8),
        ),
        _RunSpec(
            f"coach-nightly-{d(1)}",
            "Nightly coach review",
            "batch",
            "failed",
            "coach-agent",
            midnight + h(1),
            midnight + h(0.75),
            midnight + h(0.72),
        ),
    ]


def _run_events(g: _Gen, spec: _RunSpec) -> None:
    """run.started, agent.step, heartbeats for the last hour, and the end event."""
    as_of, rng = g.as_of, g.rng
    start, beat = as_of - spec.started, as_of - spec.heartbeat
    actor = ("ai_agent", spec.agent)
    context = {"run_id": spec.run_id, "environment": spec.kind}
    entity = ("run", spec.run_id)

    def add(
        dt: datetime, event_type: str, parent: _Event | None, payload: dict[str, Any]
    ) -> _Event:
        ev = g.new(dt, event_type, actor, context, entity, None, parent, payload, varied_time=False)
        assert ev is not None
        return ev

    prev = add(start, "run.started", None, {"name": spec.name, "kind": spec.kind})
    steps = ("load config", "fetch market data", "evaluate rules", "write outputs", "sync state")
    for i, step in enumerate(steps[: rng.randint(3, 5)]):
        dt = start + timedelta(minutes=3 + 4 * i, seconds=rng.randint(0, 59))
        prev = add(dt, "agent.step", prev, {"step": i + 1, "message": step})
    first_beat = max(beat - timedelta(minutes=60), prev.dt + timedelta(seconds=30))
    dt = beat
    beats: list[datetime] = []
    while dt >= first_beat:
        beats.append(dt)
        dt -= timedelta(minutes=5)
    for dt in reversed(beats):
        prev = add(dt, "run.heartbeat", prev, {"status": spec.status})
    if spec.ended is not None:
        end_type = "run.completed" if spec.status == "succeeded" else "run.failed"
        payload = {"status": spec.status}
        if spec.status == "failed":
            payload["error"] = "TimeoutError: model endpoint did not answer in 120 s"
        add(as_of - spec.ended, end_type, prev, payload)


def _run_json(spec: _RunSpec, as_of: datetime, index: int) -> dict[str, Any]:
    """run.json content; includes a fake ``api_key`` so masking has something to hide."""
    doc: dict[str, Any] = {
        "run_id": spec.run_id,
        "name": spec.name,
        "kind": spec.kind,
        "status": spec.status,
        "started_at": _fmt(as_of - spec.started),
        "heartbeat_at": _fmt(as_of - spec.heartbeat),
        "params": {
            "agent": spec.agent,
            "api_key": "sk-demo-not-a-real-key",
            "batch_size": 50 + 25 * index,
            "model": "demo-model-small",
            "risk": {"max_open_trades": 8, "per_trade_pct": 0.5},
        },
        "tags": sorted({spec.kind, spec.agent, "demo"}),
    }
    if spec.ended is not None:
        doc["ended_at"] = _fmt(as_of - spec.ended)
    return doc


def _run_alerts(spec: _RunSpec, as_of: datetime, first: int) -> list[dict[str, Any]]:
    """Alerts per run: some open, some resolved; one title is hostile HTML."""
    t = lambda m: _fmt(as_of - spec.started + timedelta(minutes=m))  # noqa: E731
    rows: list[tuple[str, str, str, int, int | None]] = {
        "running": [
            ("info", "Run started", "Warm-up finished", 2, 6),
            ("warning", "Data feed lagging", "Quotes arrive 8 s late", 90, None),
        ],
        "succeeded": [("info", "Backtest finished", "412 trades simulated", 60, 61)],
        "failed": [
            ("warning", "Slow model endpoint", "p95 latency 9.8 s", 10, 30),
            ("critical", "Nightly coach run failed", "TimeoutError after 120 s", 14, None),
        ],
    }[spec.status]
    if spec.run_id.startswith("planner-live"):
        rows = [
            *rows,
            (
                "critical",
                "Stale heartbeat <script>alert(1)</script>",
                "No heartbeat for 20 minutes",
                380,
                None,
            ),
        ]
    return [
        {
            "alert_id": f"alr-{first + i:03d}",
            "raised_at": t(raised),
            "severity": sev,
            "title": title,
            "message": message,
            "source": spec.agent,
            "resolved_at": None if resolved is None else t(resolved),
        }
        for i, (sev, title, message, raised, resolved) in enumerate(rows)
    ]


# ------------------------------------------------------------------- serialising


def _envelope(ev: _Event) -> dict[str, Any]:
    """The JSON form of an event: the shared envelope plus any extra keys."""
    doc: dict[str, Any] = {
        "event_id": ev.event_id,
        "event_type": ev.event_type,
        "event_version": 1,
        "occurred_at": _fmt(ev.dt, ev.stamp),
        "actor": {"type": ev.actor[0], "id": ev.actor[1]},
        "context": dict(ev.context),
        "entity": {"type": ev.entity[0], "id": ev.entity[1]},
        "correlation": {
            "workflow_id": ev.workflow_id,
            "parent_event_id": ev.parent.event_id if ev.parent is not None else None,
        },
        "payload": dict(ev.payload),
    }
    doc.update(ev.extra)
    return doc


def _dumps(obj: Any, indent: int | None = None) -> str:
    """Stable JSON text: sorted keys, fixed separators, UTF-8 kept readable."""
    seps = (",", ":") if indent is None else (",", ": ")
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=indent, separators=seps)


_PAYLOAD_FIELDS = (
    ("symbol", pa.string()),
    ("side", pa.string()),
    ("qty", pa.float64()),
    ("entry", pa.float64()),
    ("stop", pa.float64()),
    ("fill_price", pa.float64()),
    ("price", pa.float64()),
    ("exit_price", pa.float64()),
    ("pnl", pa.float64()),
)


def _pair(a: str, b: str) -> pa.DataType:
    return pa.struct([(a, pa.string()), (b, pa.string())])


TRADE_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("event_version", pa.int32()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("actor", _pair("type", "id")),
        ("context", _pair("market", "session")),
        ("entity", _pair("type", "id")),
        ("correlation", _pair("workflow_id", "parent_event_id")),
        ("payload", pa.struct(list(_PAYLOAD_FIELDS))),
    ]
)


def _trade_row(ev: _Event) -> dict[str, Any]:
    """A Parquet row: typed timestamp, nested structs, union payload with nulls."""
    doc = _envelope(ev)
    doc["occurred_at"] = ev.dt
    doc["payload"] = {name: ev.payload.get(name) for name, _ in _PAYLOAD_FIELDS}
    for key in ev.extra:
        doc.pop(key)
    return doc


class _Writer:
    """Writes files under the output root and counts them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = 0

    def text(self, rel: str, text: str) -> None:
        """Write UTF-8 text with ``\\n`` line ends, always ending in a newline."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not text.endswith("\n"):
            text += "\n"
        path.write_bytes(text.encode("utf-8"))
        self.files += 1

    def lines(self, rel: str, lines: list[str]) -> None:
        self.text(rel, "".join(line + "\n" for line in lines))

    def parquet(self, rel: str, rows: list[dict[str, Any]]) -> None:
        """Fixed schema and writer options keep the bytes reproducible."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(rows, schema=TRADE_SCHEMA)
        pq.write_table(table, path, compression="zstd")
        self.files += 1


def _by_day(events: list[_Event]) -> dict[str, list[_Event]]:
    """Group events by UTC date, keeping time order inside each day."""
    out: dict[str, list[_Event]] = {}
    for ev in events:
        out.setdefault(ev.dt.strftime("%Y-%m-%d"), []).append(ev)
    return out


def _malformed_lines(g: _Gen, good: list[str]) -> tuple[list[str], int]:
    """Mix deliberately broken records into the coach stream; returns (lines, bad count)."""
    rng, when = g.rng, _fmt(g.as_of - timedelta(hours=3))
    base = {
        "event_type": "coach.analysis.generated",
        "event_version": 1,
        "occurred_at": when,
        "actor": {"type": "ai_agent", "id": "coach-agent"},
        "context": {"market": "crypto", "session": "us"},
        "entity": {"type": "analysis", "id": "ana-bad"},
        "correlation": {"workflow_id": None, "parent_event_id": None},
        "payload": {"insight": "Broken on purpose.", "grade": "F"},
    }
    full = _dumps({"event_id": "evt-bad-001", **base})
    bad = [
        full[: len(full) // 2],
        _dumps(["coach.analysis.generated", "evt-bad-002"]),
        _dumps(base),
        _dumps({**base, "event_id": "evt-bad-003", "occurred_at": "yesterday"}),
        _dumps({**base, "event_id": "evt-bad-004", "event_type": 42}),
    ]
    lines = list(good)
    count = len(bad)
    if lines:
        j = rng.randrange(len(lines))
        lines.insert(rng.randint(j + 1, len(lines)), lines[j])
        count += 1
    for line in [*bad, ""]:
        lines.insert(rng.randint(0, len(lines)), line)
    return lines, count


def _write_events(w: _Writer, g: _Gen, events: list[_Event]) -> int:
    """Route workflow events to the scanner/trades/journal/coach files; returns bad count."""
    scanner = [e for e in events if e.event_type in SCANNER_TYPES]
    trades = [e for e in events if e.event_type in TRADE_TYPES]
    journal = [e for e in events if e.event_type in JOURNAL_TYPES]
    coach = [
        e for e in events if e.event_type not in (*SCANNER_TYPES, *TRADE_TYPES, *JOURNAL_TYPES)
    ]
    for day, evs in sorted(_by_day(scanner).items()):
        w.lines(f"events/scanner/date={day}/events.jsonl", [_dumps(_envelope(e)) for e in evs])
    for day, evs in sorted(_by_day(trades).items()):
        w.parquet(f"events/trades/trades-{day}.parquet", [_trade_row(e) for e in evs])
    if journal:
        w.text("events/journal/latest.json", _dumps(_envelope(journal[-1]), indent=2))
    for day, evs in sorted(_by_day(journal[:-1]).items()):
        w.text(f"events/journal/journal-{day}.json", _dumps([_envelope(e) for e in evs], indent=2))
    lines, bad = _malformed_lines(g, [_dumps(_envelope(e)) for e in coach])
    w.lines("events/coach/coach.ndjson", lines)
    return bad


def _state(g: _Gen, events: list[_Event], workflows: int) -> dict[str, Any]:
    """An orchestrator state snapshot with counters derived from the demo data."""
    today = g.as_of.date()
    types_by_wf: dict[str, set[str]] = {}
    for e in events:
        if e.workflow_id:
            types_by_wf.setdefault(e.workflow_id, set()).add(e.event_type)
    open_trades = sum(
        1 for t in types_by_wf.values() if "trade.executed" in t and "trade.closed" not in t
    )
    pending = sum(
        1
        for t in types_by_wf.values()
        if "task.created" in t and not {"task.accepted", "task.rejected"} & t
    )
    signals_today = sum(
        1 for e in events if e.event_type == "signal.created" and e.dt.date() == today
    )
    signals = [e.workflow_id for e in events if e.event_type == "signal.created"]
    restarts = len(signals) - len(set(signals))
    ts = lambda m: _fmt(g.as_of - timedelta(minutes=m))  # noqa: E731
    return {
        "mode": "paper",
        "phase": "P3-execution",
        "updated_at": ts(3),
        "counters": {
            "workflows_total": workflows,
            "signals_today": signals_today,
            "open_trades": open_trades,
            "tasks_pending": pending,
            "restarts": restarts,
        },
        "orchestrator": {
            "leader": "orch-a",
            "last_tick_at": ts(1),
            "queue": {"pending": 3, "in_flight": 1, "dead_letter": 0},
        },
        "agents": {
            "scanner-agent": {"status": "ok", "last_seen_at": ts(1)},
            "planner-agent": {"status": "stale", "last_seen_at": ts(20)},
            "execution-agent": {"status": "ok", "last_seen_at": ts(4)},
            "coach-agent": {"status": "error", "last_seen_at": ts(16 * 60)},
        },
        "limits": {"max_open_trades": 8, "daily_loss_limit": 2500.0},
        "notes": ["Planner heartbeat is stale; investigate before the US close."],
    }


def _phase_index(as_of: datetime) -> str:
    """A short Markdown status page as operators keep them."""
    return "\n".join(
        [
            "# Phase index",
            "",
            f"_Updated {as_of.strftime('%Y-%m-%d %H:%M')} UTC_",
            "",
            "| Phase | Status | Owner | Notes |",
            "| --- | --- | --- | --- |",
            "| P1 Scanner | done | scanner-agent | live since 2026-10-02 |",
            "| P2 Planner | done | planner-agent | heartbeat stale today |",
            "| P3 Execution | in progress | execution-agent | paper mode |",
            "| P4 Coach loop | blocked | coach-agent | nightly run failed |",
            "",
            "## Next steps",
            "",
            "- Restart the planner and confirm heartbeats.",
            "- Re-run the nightly coach review.",
            "- Review pending rule tasks with op-alice.",
            "",
        ]
    )


GOALS_YAML = """\
goals:
  - id: closed-trades-week
    title: Closed trades this week
    metric: count
    event: trade.closed
    target: 40
    period: week
    direction: up
    tz: Europe/Berlin
  - id: symbols-scanned-day
    title: Distinct symbols signalled per day
    metric: unique:payload.symbol
    event: signal.created
    target: 8
    period: day
    direction: up
    tz: UTC
  - id: pnl-week
    title: Realised PnL this week
    metric: sum:payload.pnl
    event: trade.closed
    target: 5000
    period: week
    direction: up
    tz: Europe/Berlin
  - id: alerts-per-day
    title: Alerts per day
    metric: count
    event: alert.triggered
    target: 3
    period: day
    direction: down
    tz: UTC
"""


def _check_empty(out: Path, shown: str | Path) -> None:
    """Never mix demo files into someone's existing folder."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(
            f"{shown} is not empty; opdash demo writes only into a new or empty folder"
        )


#: The demo's own page: its state files, two KPIs, a query and the open alerts.
STATE_PAGE = {
    "title": "State",
    "layout": {"columns": 2},
    "tiles": [
        {
            "type": "kpi",
            "title": "Trades closed, last 7 days",
            "metric": "count",
            "event_types": ["trade.closed"],
            "window": "7d",
        },
        {
            "type": "kpi",
            "title": "Realised PnL, last 7 days",
            "metric": "sum:payload.pnl",
            "event_types": ["trade.closed"],
            "window": "7d",
        },
        {"type": "json-state", "source": "state/orchestrator/STATE.json"},
        {"type": "markdown", "source": "state/PHASE_INDEX.md"},
        {
            "type": "sql",
            "title": "Busiest actors",
            "sql": "SELECT actor_id, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 10",
        },
        {"type": "alerts", "title": "Open alerts", "state": "open"},
    ],
}


#: The demo's retention tile: of the symbols first signalled in a week, those signalled again.
DEMO_RETENTION = {
    "title": "Symbols signalled again",
    "start_event": "signal.created",
    "return_event": "signal.created",
    "by": "payload.symbol",
    "periods": 4,
}


def demo_spec_yaml() -> str:
    """The demo's dashboard.yaml: the built-in pages (its retention tile by symbol), then its
    State page."""
    from opdash.spec import DashboardSpec, default_spec

    spec = default_spec().to_dict()
    for page in spec["pages"]:  # the demo's operators ask of symbols, not of its one scanner
        for tile in page["tiles"]:
            if tile["type"] == "retention":
                tile.update(DEMO_RETENTION)
    spec["pages"].append(STATE_PAGE)
    header = "# The demo's dashboard: opdash's built-in pages and a page of its state files.\n"
    return header + DashboardSpec.from_dict(spec).to_yaml()


def write_demo(
    out_dir: str | Path,
    *,
    seed: int = DEFAULT_SEED,
    workflows: int = DEFAULT_WORKFLOWS,
    as_of: datetime | str = DEFAULT_AS_OF,
) -> DemoSummary:
    """Write the demo artifact folder into ``out_dir`` (new or empty) and summarise it."""
    out = Path(out_dir)
    _check_empty(out, out_dir)
    g = _Gen(seed, _parse_as_of(as_of))
    for num, (start, late) in enumerate(_starts(g, workflows), start=1):
        _Flow(g, num, start, late).run()
    n_workflow_events = len(g.events)
    specs = _run_specs(g.as_of)
    for spec in specs:
        _run_events(g, spec)
    ordered = sorted(g.events, key=lambda e: (e.dt, e.seq))
    for i, ev in enumerate(ordered, start=1):
        ev.event_id = f"evt-{i:06d}"
    wf_events = [e for e in ordered if e.seq < n_workflow_events]
    out.mkdir(parents=True, exist_ok=True)
    w = _Writer(out)
    malformed = _write_events(w, g, wf_events)
    first_alert = 1
    for i, spec in enumerate(specs):
        base = f"runs/{spec.run_id}"
        w.text(f"{base}/run.json", _dumps(_run_json(spec, g.as_of, i), indent=2))
        run_evs = [e for e in ordered if e.entity == ("run", spec.run_id)]
        w.lines(f"{base}/events.jsonl", [_dumps(_envelope(e)) for e in run_evs])
        alerts = _run_alerts(spec, g.as_of, first_alert)
        first_alert += len(alerts)
        w.lines(f"{base}/alerts.jsonl", [_dumps(a) for a in alerts])
    w.text("state/orchestrator/STATE.json", _dumps(_state(g, wf_events, workflows), indent=2))
    w.text("state/PHASE_INDEX.md", _phase_index(g.as_of))
    w.text("goals.yaml", GOALS_YAML)
    w.text("dashboard.yaml", demo_spec_yaml())
    return DemoSummary(
        path=out, files=w.files, events=len(ordered), malformed=malformed, runs=len(specs)
    )
