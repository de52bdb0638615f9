"""Dashboard tiles — KPI, SQL, JSON/Markdown state and alerts — against independent references.

What is proved:

* ``kpi()`` equals a plain-Python brute force (tests/bruteforce_tiles.py) at the window edges
  (an event exactly at ``as_of`` counts, one exactly at ``as_of − window`` belongs to the window
  before, one a microsecond later counts), for every metric kind, with and without an event-type
  filter, on empty windows (0, or None for avg), for the change rules, and for numeric text vs
  junk vs infinity in sum/avg; a hypothesis property compares it on random small folders. The
  KpiView reads the page's actors, run and workflow, its own types before the page's, and draws
  the reference numbers.
* ``run_sql()`` answers equal Python counts over the same records; the page scope narrows
  ``events`` (since inclusive, until exclusive, actors, types, run, workflow) but not ``runs`` or
  ``alerts``; limits, truncation, order, trailing ``;`` and comments behave; secrets are masked;
  a failing query is a UsageError with the reason; every way to write or to read outside the
  catalog is refused, and after all the attempts nothing was created and no table changed.
* JSON and Markdown state tiles show data as escaped text (never markup), mask secrets, show an
  error card naming the path for every unreadable file, and show the new content after an edit
  once the file is watched (and only then does the data version move).
* AlertsView's severity/state/run narrowing equals a hand count over data/demo's alert files.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import panel as pn
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opdash.catalog import open_catalog
from opdash.components.alerts import AlertsView
from opdash.components.filters import Filters
from opdash.components.kpi import KpiView
from opdash.components.sql import SqlView
from opdash.components.state import JsonState, MarkdownState
from opdash.errors import UsageError
from opdash.metrics.kpi import kpi
from opdash.metrics.scope import Scope
from opdash.metrics.sql import read_only_problem, run_sql
from tests.bruteforce_tiles import (
    WINDOW_SECONDS,
    alerts_ref,
    at_path,
    instant,
    kpi_ref,
    read_alerts,
)
from tests.fixtures import DEMO, ROOT, T0, at, ev, write_lines

US = timedelta(microseconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_IMG = "<img src=x onerror=alert(1)>"


def same(got, want) -> bool:
    """Equal, floats within rounding (the database may add them in another order)."""
    if got is None or want is None:
        return got is None and want is None
    return got == pytest.approx(want, rel=1e-9, abs=1e-6)


def html_of(drawn) -> str:
    """Every HTML pane's markup in a drawn view (the view itself may be one pane)."""
    panes = [drawn] if isinstance(drawn, pn.pane.HTML) else drawn.select(pn.pane.HTML)
    return "".join(str(p.object) for p in panes)


def tables_of(drawn) -> list:
    return [t.value for t in drawn.select(pn.widgets.Tabulator)]


def actor(actor_id: str | None) -> dict:
    return {"actor": {"type": "human", "id": actor_id}}


# =================================================================================================
# 1. KPI
# =================================================================================================

TRADE, SIGNAL = "trade.closed", "signal.created"
INF_MARK = '"__JSON_INFINITY__"'


def pnl(value) -> dict:
    return {"payload": {"pnl": value}}


#: Around T0 with a one-day window: the current window is (T0 − 1d, T0], the previous one
#: (T0 − 2d, T0 − 1d].
KPI_EVENTS = [
    ev("t1", TRADE, T0, "w1", **pnl(10), **actor("alice")),  # exactly at as_of: counts
    ev("t2", TRADE, T0 - DAY + US, "w2", **pnl("-4.5"), **actor("bob")),  # 1 µs after the edge
    ev("t3", TRADE, T0 - DAY, "w1", **pnl("2.5"), **actor("alice")),  # the edge: previous window
    ev("t4", TRADE, T0 - 2 * DAY + US, "w3", **pnl("1e3"), **actor("carol")),  # previous
    ev("t5", TRADE, T0 - 2 * DAY, "w4", **pnl(1_000_000), **actor("dave")),  # before both
    ev("t6", TRADE, T0 + US, "w5", **pnl(999), **actor("erin")),  # after as_of: in neither
    ev("t7", TRADE, T0 - 3 * HOUR, None, **pnl("junk"), **actor("alice")),
    ev("t8", TRADE, T0 - 2 * HOUR, None, payload={"pnl": "__JSON_INFINITY__"}),  # 1e400
    ev("t9", TRADE, T0 - HOUR, None, **pnl("1e999")),  # numeric text, but infinite
    ev("t10", TRADE, T0 - 30 * MINUTE, None, **pnl(True), correlation={"workflow_id": None}),
    ev("t11", TRADE, T0 - 20 * MINUTE, None, **pnl(" 5")),
    ev("t12", TRADE, T0 - 10 * MINUTE, None, **pnl("NaN")),
    ev("t13", TRADE, T0 - 5 * MINUTE, None, **pnl({"a": 1})),
    ev("t14", TRADE, T0 - 4 * MINUTE, None, **pnl(None)),
    ev("t15", TRADE, T0 - 3 * MINUTE, None, **pnl(".5")),
    ev("t16", TRADE, T0 - 150 * MINUTE, None, **pnl(7)),
    ev("s1", SIGNAL, T0 - HOUR, "w9", payload={"symbol": "AAPL"}, **actor("bob")),
    ev("s2", SIGNAL, T0 - 25 * HOUR, "w8", payload={"symbol": "MSFT"}, **actor("dave")),
    ev("s3", SIGNAL, T0 - 26 * HOUR, "w8", payload={"symbol": None}, **actor("dave")),
]
#: What the catalog reads for t8: the brute force sees a float infinity, as json.loads does.
KPI_SEEN = [
    {**e, "payload": {"pnl": float("inf")}} if e["event_id"] == "t8" else e for e in KPI_EVENTS
]


def write_kpi_folder(root: Path) -> Path:
    lines = [json.dumps(e).replace(INF_MARK, "1e400") for e in KPI_EVENTS]
    write_lines(root / "events" / "kpi.jsonl", lines)
    return root


@pytest.fixture(scope="module")
def kpi_catalog(tmp_path_factory):
    return open_catalog(write_kpi_folder(tmp_path_factory.mktemp("kpi")))


def test_the_folder_holds_every_hand_event(kpi_catalog) -> None:
    """The hand cases are only meaningful if every line was read as an event (t8's 1e400 too)."""
    rows = kpi_catalog.fetchall("SELECT count(*) FROM events")
    assert rows == [(len(KPI_EVENTS),)]
    assert kpi_catalog.fetchall("SELECT count(*) FROM quarantine") == [(0,)]


# (metric, types, window, as_of, (value, previous, change_pct)), each worked out by hand.
HAND = [
    # t1 (at as_of) and t2 (1 µs past the edge) count; t3 (at the edge) is the window before
    pytest.param("count", [TRADE], "1d", T0, (12, 2, 500.0), id="count-edges"),
    pytest.param("count", [], "1d", T0, (13, 4, 225.0), id="count-every-type"),
    # 1 µs earlier t1 leaves, t3 (now 1 µs inside) joins; t5 joins the window before, t3 leaves it
    pytest.param("count", [TRADE], "1d", T0 - US, (12, 2, 500.0), id="count-1us-before-t1"),
    # numeric: 10, "-4.5", ".5", 7; junk, bool, object, null, " 5", NaN, 1e400, "1e999" ignored
    pytest.param(
        "sum:payload.pnl",
        [TRADE],
        "1d",
        T0,
        (13.0, 1002.5, (13 - 1002.5) / 10.025),
        id="sum-numeric-text-junk-inf",
    ),
    pytest.param(
        "avg:payload.pnl",
        [TRADE],
        "1d",
        T0,
        (3.25, 501.25, (3.25 - 501.25) / 5.0125),
        id="avg-numeric-text-junk-inf",
    ),
    pytest.param("unique", [TRADE], "1d", T0, (2, 2, 0.0), id="unique-workflows"),
    pytest.param("unique:actor.id", [TRADE], "1d", T0, (2, 2, 0.0), id="unique-actors"),
    pytest.param("unique:actor.id", [], "1d", T0, (2, 3, -100 / 3), id="unique-actors-all"),
    pytest.param("unique:payload.symbol", [], "1d", T0, (1, 1, 0.0), id="unique-payload-path"),
    # s1 sits exactly at T0 − 1h: the window before
    pytest.param("count", [SIGNAL], "1h", T0, (0, 1, -100.0), id="edge-is-previous"),
    pytest.param("count", [SIGNAL], "1h", T0 - HOUR, (1, 0, None), id="previous-zero"),
    pytest.param("count", [SIGNAL], "1h", T0 - HOUR - US, (0, 0, None), id="both-empty"),
    # an empty window: 0 for count/unique/sum, None for avg
    pytest.param("count", [], "30m", T0 - 12 * HOUR, (0, 0, None), id="empty-count"),
    pytest.param("unique", [], "30m", T0 - 12 * HOUR, (0, 0, None), id="empty-unique"),
    pytest.param("sum:payload.pnl", [], "30m", T0 - 12 * HOUR, (0.0, 0.0, None), id="empty-sum"),
    pytest.param("avg:payload.pnl", [], "30m", T0 - 12 * HOUR, (None, None, None), id="empty-avg"),
    # only t9 ("1e999") now, t16 (7) before: no average now, so no change
    pytest.param(
        "avg:payload.pnl", [TRADE], "1h", T0 - HOUR, (None, 7.0, None), id="avg-none-vs-value"
    ),
    # the signal type has no pnl at all: a count but no average
    pytest.param("avg:payload.pnl", [SIGNAL], "1d", T0, (None, None, None), id="avg-no-values"),
    # an as_of in another zone is the same instant
    pytest.param(
        "count",
        [TRADE],
        "1d",
        T0.astimezone(timezone(timedelta(hours=5, minutes=30))),
        (12, 2, 500.0),
        id="as-of-in-a-zone",
    ),
]


@pytest.mark.parametrize(("metric", "types", "window", "as_of", "expected"), HAND)
def test_kpi_hand_cases(kpi_catalog, metric, types, window, as_of, expected) -> None:
    got = kpi(kpi_catalog, metric, event_types=types, window=window, as_of=as_of)
    ref = kpi_ref(
        KPI_SEEN, metric, event_types=types, window_seconds=WINDOW_SECONDS[window], as_of=as_of
    )
    assert all(same(r, e) for r, e in zip(ref, expected, strict=True)), (ref, expected)
    assert same(got.value, expected[0]), (got, expected)
    assert same(got.previous, expected[1]), (got, expected)
    assert same(got.change_pct, expected[2]), (got, expected)
    span = timedelta(seconds=WINDOW_SECONDS[window])
    assert (got.since, got.until) == (as_of - span, as_of)


@pytest.mark.parametrize(
    "metric",
    [
        "count",
        "unique",
        "unique:actor.id",
        "unique:payload.symbol",
        "sum:payload.pnl",
        "avg:payload.pnl",
    ],
)
def test_kpi_matches_brute_force_at_every_edge(kpi_catalog, metric) -> None:
    """Every metric with as_of on whole windows around T0 and one microsecond either side, so
    the edge events (t1…t6, s1) fall exactly on, just inside and just outside each boundary."""
    shifts = (-US, 0 * US, US)
    sweeps = {
        "1d": [T0 + k * DAY + d for k in (-1, 0, 1) for d in shifts],
        "1h": [T0 + k * HOUR + d for k in (-1, 0) for d in shifts],
    }
    for types in ([], [TRADE]):
        for window, moments in sweeps.items():
            for as_of in moments:
                got = kpi(kpi_catalog, metric, event_types=types, window=window, as_of=as_of)
                ref = kpi_ref(
                    KPI_SEEN,
                    metric,
                    event_types=types,
                    window_seconds=WINDOW_SECONDS[window],
                    as_of=as_of,
                )
                where = (metric, types, window, as_of)
                assert same(got.value, ref[0]), (where, got, ref)
                assert same(got.previous, ref[1]), (where, got, ref)
                assert same(got.change_pct, ref[2]), (where, got, ref)


def test_kpi_without_compare_has_no_previous(kpi_catalog) -> None:
    got = kpi(kpi_catalog, "count", event_types=[TRADE], window="1d", as_of=T0, compare=False)
    assert (got.value, got.previous, got.change_pct) == (12, None, None)


def test_kpi_change_against_a_negative_previous_is_against_its_magnitude(tmp_path) -> None:
    """−4,555 in the window before and +10,657 now is a rise of 334 %, not −334 %: the change is
    (value − previous) / |previous| (docs/dashboard-spec.md), the trend's rule; the tile too."""
    events = [
        ev("p1", TRADE, VIEW_AS_OF - DAY - HOUR, None, **pnl(-4555)),
        ev("p2", TRADE, VIEW_AS_OF - HOUR, None, **pnl(10657)),
        ev("p3", SIGNAL, VIEW_AS_OF - DAY - HOUR, None, **pnl(-200)),
        ev("p4", SIGNAL, VIEW_AS_OF - HOUR, None, **pnl(-300)),
    ]
    write_lines(tmp_path / "events" / "pnl.jsonl", events)
    catalog = open_catalog(tmp_path)
    for types, value, previous, change in (
        ([TRADE], 10657, -4555, (10657 + 4555) / 4555 * 100),  # +333.96…
        ([SIGNAL], -300, -200, -50.0),  # further below zero: a fall
    ):
        got = kpi(catalog, "sum:payload.pnl", event_types=types, window="1d", as_of=VIEW_AS_OF)
        ref = kpi_ref(
            events, "sum:payload.pnl", event_types=types, window_seconds=86400, as_of=VIEW_AS_OF
        )
        assert (got.value, got.previous) == (value, previous)
        assert same(got.change_pct, change) and same(ref[2], change), (got, ref)
    view = KpiView(catalog, filters=Filters(end=VIEW_DAY), metric="sum:payload.pnl")
    view.event_types = [TRADE]
    assert "+334.0% vs the 1d before (-4,555.00)" in html_of(view._render())


def test_kpi_refuses_a_bad_metric_or_window(kpi_catalog) -> None:
    with pytest.raises(UsageError, match="bad metric"):
        kpi(kpi_catalog, "median:payload.pnl", as_of=T0)
    with pytest.raises(UsageError, match="window"):
        kpi(kpi_catalog, "count", window="yesterday", as_of=T0)


# -- the property: random small folders ------------------------------------------------------

TYPES = ("a.x", "b.y", "c.z")
METRICS = (
    "count",
    "unique",
    "unique:actor.id",
    "unique:payload.sym",
    "sum:payload.v",
    "avg:payload.v",
)
NUMERIC_TEXT = ["1", "-2.5", ".5", "5.", "+3", "1e3", "1E-2", "007", "-0", "+.25e1"]
JUNK_TEXT = [
    "abc",
    "",
    " 5",
    "5 ",
    "1,5",
    "nan",
    "inf",
    "-Infinity",
    "1e999",
    "-1e999",
    "0x1A",
    "1_0",
    "e5",
    ".",
    "+",
    "1e",
    "--1",
    "٣",
]
ABSENT = "<absent>"
DAY_US = 86_400_000_000

payload_values = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from(NUMERIC_TEXT + JUNK_TEXT),
    st.booleans(),
    st.none(),
    st.just(ABSENT),
    st.sampled_from([{"k": 1}, [1, 2], []]),
)


@st.composite
def kpi_scenarios(draw):
    queries = []
    for _ in range(draw(st.integers(1, 3))):
        queries.append(
            {
                "as_of": T0 + timedelta(microseconds=draw(st.integers(-2 * DAY_US, 2 * DAY_US))),
                "window": draw(st.sampled_from(list(WINDOW_SECONDS))),
                "metrics": draw(st.lists(st.sampled_from(METRICS), min_size=1, max_size=2)),
                "types": draw(st.lists(st.sampled_from(TYPES), max_size=2, unique=True)),
                "compare": draw(st.booleans()),
            }
        )
    spans = [(q["as_of"], timedelta(seconds=WINDOW_SECONDS[q["window"]])) for q in queries]
    edges = [as_of - k * span for as_of, span in spans for k in (0, 1, 2)]
    events = []
    for i in range(draw(st.integers(0, 24))):
        mode = draw(st.sampled_from(["edge", "near", "anywhere"]))
        if mode == "edge":
            when = draw(st.sampled_from(edges)) + draw(st.sampled_from([-US, 0 * US, US]))
        elif mode == "near":
            as_of, span = draw(st.sampled_from(spans))
            share = draw(st.integers(-200_000, 2_200_000))  # millionths of a window
            when = as_of - span * share / 1_000_000
            when = when.replace(microsecond=draw(st.integers(0, 999_999)))
        else:
            when = T0 + timedelta(microseconds=draw(st.integers(-5 * DAY_US, 3 * DAY_US)))
        workflow = draw(st.sampled_from(["w1", "w2", "w3", None, "null"]))
        more: dict = {}
        if workflow == "null":
            workflow, more["correlation"] = None, {"workflow_id": None}
        who = draw(st.sampled_from(["alice", "bob", None, ABSENT]))
        if who != ABSENT:
            more.update(actor(who))
        payload = {}
        value = draw(payload_values)
        if value != ABSENT:
            payload["v"] = value
        symbol = draw(st.sampled_from(["A", "B", "C", "", None, ABSENT]))
        if symbol != ABSENT:
            payload["sym"] = symbol
        if payload or draw(st.booleans()):
            more["payload"] = payload
        events.append(ev(f"e{i}", draw(st.sampled_from(TYPES)), when, workflow, **more))
    split = draw(st.integers(0, len(events)))
    return events[:split], events[split:], queries


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kpi_scenarios())
def test_kpi_property_matches_brute_force(tmp_path_factory, scenario) -> None:
    first, second, queries = scenario
    root = tmp_path_factory.mktemp("kpi-prop")
    write_lines(root / "events" / "one.jsonl", first)
    write_lines(root / "events" / "deeper" / "two.jsonl", second)
    catalog = open_catalog(root)
    events = first + second
    for q in queries:
        for metric in q["metrics"]:
            got = kpi(
                catalog,
                metric,
                event_types=q["types"],
                window=q["window"],
                as_of=q["as_of"],
                compare=q["compare"],
            )
            ref = kpi_ref(
                events,
                metric,
                event_types=q["types"],
                window_seconds=WINDOW_SECONDS[q["window"]],
                as_of=q["as_of"],
            )
            if not q["compare"]:
                ref = (ref[0], None, None)
            assert same(got.value, ref[0]), (metric, q, got, ref)
            assert same(got.previous, ref[1]), (metric, q, got, ref)
            assert same(got.change_pct, ref[2]), (metric, q, got, ref)


# -- KpiView: the page's filters ----------------------------------------------------------------

VIEW_DAY = date(2026, 11, 20)
VIEW_AS_OF = datetime(2026, 11, 21, tzinfo=UTC) - US  # the page's moment: the end of its last day


def _view_events() -> list[tuple[str | None, dict]]:
    """(run or None, event): a day and a half of events with every filter dimension varied."""
    out = []
    actors = ["alice", "bob", None]
    runs = [None, "r1", "r2"]
    for i in range(54):
        when = VIEW_AS_OF - timedelta(minutes=53 * i)  # 0 .. ~47 h back
        extra = {**actor(actors[i % 3]), **pnl(i if i % 4 else str(i) + ".5")}
        event = ev(f"v{i}", ("a.x", "b.y")[i % 2], when, ("w1", "w2", None)[i % 5 % 3], **extra)
        out.append((runs[i % 7 % 3], event))
    # the window edges: at the moment, at the start, and 1 µs after the start
    out.append(("r1", ev("edge0", "a.x", VIEW_AS_OF, "w1", **actor("alice"))))
    out.append(("r1", ev("edge1", "a.x", VIEW_AS_OF - DAY, "w1", **actor("alice"))))
    out.append(("r2", ev("edge2", "b.y", VIEW_AS_OF - DAY + US, "w2", **actor("bob"))))
    return out


VIEW_EVENTS = _view_events()


@pytest.fixture(scope="module")
def view_catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("kpi-view")
    files: dict[str, list[dict]] = {}
    for run, event in VIEW_EVENTS:
        rel = f"runs/{run}/events.jsonl" if run else "events/page.jsonl"
        files.setdefault(rel, []).append(event)
    for rel, records in files.items():
        write_lines(root / rel, records)
    return open_catalog(root)


def view_ref(metric, *, own_types=(), actors=(), run="", workflow="", page_types=(), window="1d"):
    chosen = [
        e
        for r, e in VIEW_EVENTS
        if (not actors or at_path(e, "actor.id") in actors)
        and (not run or r == run)
        and (not workflow or at_path(e, "correlation.workflow_id") == workflow)
    ]
    types = list(own_types) or list(page_types)
    return kpi_ref(
        chosen,
        metric,
        event_types=types,
        window_seconds=WINDOW_SECONDS[window],
        as_of=VIEW_AS_OF,
    )


VIEW_CASES = [
    pytest.param({}, {}, id="no-filters"),
    pytest.param({"actors": ["alice"]}, {}, id="actor"),
    pytest.param({"actors": ["alice", "bob"]}, {}, id="two-actors"),
    pytest.param({"run": "r1"}, {}, id="run"),
    pytest.param({"workflow": "w2"}, {}, id="workflow"),
    pytest.param({"actors": ["bob"], "run": "r2", "workflow": "w2"}, {}, id="all-three"),
    pytest.param({"event_types": ["a.x"]}, {}, id="page-types-apply"),
    pytest.param({"event_types": ["a.x"]}, {"event_types": ["b.y"]}, id="own-types-win"),
    pytest.param({}, {"event_types": ["b.y"]}, id="own-types"),
    pytest.param({"actors": ["alice"]}, {"metric": "sum:payload.pnl"}, id="sum"),
    pytest.param({"run": "r1"}, {"metric": "avg:payload.pnl", "window": "6h"}, id="avg-6h"),
    pytest.param({"workflow": "w1"}, {"metric": "unique:actor.id"}, id="unique-actors"),
]


@pytest.mark.parametrize(("page", "own"), VIEW_CASES)
def test_kpi_view_follows_the_page_filters(view_catalog, page, own) -> None:
    filters = Filters(end=VIEW_DAY, **page)
    assert filters.as_of() == VIEW_AS_OF
    view = KpiView(view_catalog, filters=filters, **own)
    got = view.data()
    ref = view_ref(
        own.get("metric", "count"),
        own_types=own.get("event_types", ()),
        actors=page.get("actors", ()),
        run=page.get("run", ""),
        workflow=page.get("workflow", ""),
        page_types=page.get("event_types", ()),
        window=own.get("window", "1d"),
    )
    assert same(got.value, ref[0]) and same(got.previous, ref[1]), (got, ref)
    assert same(got.change_pct, ref[2]), (got, ref)
    assert ref[0] or ref[1], "a case with nothing in either window proves little"


def test_kpi_view_draws_the_reference_numbers(view_catalog) -> None:
    filters = Filters(end=VIEW_DAY, actors=["alice"], event_types=["b.y"])
    value, previous, change = view_ref("count", own_types=["a.x"], actors=["alice"])
    drawn = KpiView(view_catalog, filters=filters, event_types=["a.x"])._render()
    text = html_of(drawn)
    assert f'<div class="opdash-kpi-value">{value:,}</div>' in text
    sign = "+" if change >= 0 else ""
    assert f"{sign}{change:.1f}% vs the 1d before ({previous:,})" in text
    assert "count · last 1d · a.x" in text  # its own type, not the page's b.y
    assert "b.y" not in text

    empty = KpiView(view_catalog, filters=Filters(end=VIEW_DAY), event_types=["nope.type"])
    text = html_of(empty._render())
    assert '<div class="opdash-kpi-value">0</div>' in text
    assert "– vs the 1d before (0)" in text  # no change against an empty window


# =================================================================================================
# 2. SQL tiles
# =================================================================================================

SQL_MAIN = [
    ev(
        f"m{i}",
        ("sig", "trade")[i % 2],
        T0 + i * HOUR,
        ("w1", "w2", None)[i % 3],
        **actor(("alice", "bob", "alice", "carol", None)[i % 5]),
        payload={"n": i},
    )
    for i in range(12)
]
SQL_MAIN[4]["payload"] = {"api_key": "sk-123", "note": "token=abc123 left in a note"}
SQL_RUNS = {
    "r1": [
        ev(f"r1e{i}", "trade", T0 + (2 * i + 1) * HOUR, "w3", **actor("alice")) for i in range(3)
    ],
    "r2": [ev(f"r2e{i}", "sig", T0 + (3 * i + 2) * HOUR, "w1", **actor("bob")) for i in range(2)],
}
SQL_ALERTS = {
    "r1": [
        {"alert_id": "a1", "severity": "critical", "title": "down", "raised_at": at(3600)},
        {"alert_id": "a2", "severity": "info", "title": "ok", "raised_at": at(7200)},
    ],
    "r2": [{"alert_id": "a3", "severity": "warning", "title": "slow", "raised_at": at(10800)}],
}
SQL_EVENTS = [(None, e) for e in SQL_MAIN] + [(r, e) for r, es in SQL_RUNS.items() for e in es]


def write_sql_folder(root: Path) -> Path:
    write_lines(root / "events" / "main.jsonl", SQL_MAIN)
    for run, events in SQL_RUNS.items():
        write_lines(root / "runs" / run / "events.jsonl", events)
        write_lines(root / "runs" / run / "alerts.jsonl", SQL_ALERTS[run])
        meta = {"run_id": run, "name": f"run {run}", "status": "done", "started_at": at(0)}
        (root / "runs" / run / "run.json").write_text(json.dumps(meta), "utf-8")
    return root


@pytest.fixture(scope="module")
def sql_catalog(tmp_path_factory):
    return open_catalog(write_sql_folder(tmp_path_factory.mktemp("sql")))


def sql_ref(scope: Scope | None = None) -> list[str]:
    """Sorted event ids inside ``scope`` (since inclusive, until exclusive, empty: no filter)."""
    scope = scope or Scope()
    out = []
    for run, e in SQL_EVENTS:
        t = instant(e["occurred_at"])
        if scope.since is not None and t < scope.since:
            continue
        if scope.until is not None and t >= scope.until:
            continue
        if scope.actors and at_path(e, "actor.id") not in scope.actors:
            continue
        if scope.event_types and e["event_type"] not in scope.event_types:
            continue
        if scope.run and run != scope.run:
            continue
        if scope.workflow and at_path(e, "correlation.workflow_id") != scope.workflow:
            continue
        out.append(e["event_id"])
    return sorted(out)


def test_sql_counts_per_actor_equal_a_python_count(sql_catalog) -> None:
    result = run_sql(
        sql_catalog, "SELECT actor_id, count(*) AS n FROM events GROUP BY actor_id ORDER BY 1"
    )
    want = Counter(at_path(e, "actor.id") for _, e in SQL_EVENTS)
    assert result.columns == ["actor_id", "n"]
    assert dict(result.rows) == dict(want)
    assert not result.truncated


SCOPES = [
    pytest.param(Scope(), id="none"),
    pytest.param(Scope(since=T0 + 2 * HOUR), id="since-inclusive"),
    pytest.param(Scope(until=T0 + 5 * HOUR), id="until-exclusive"),
    pytest.param(Scope(since=T0 + 2 * HOUR, until=T0 + 5 * HOUR), id="range"),
    pytest.param(Scope(since=T0 + 2 * HOUR + US, until=T0 + 5 * HOUR + US), id="range-1us"),
    pytest.param(Scope(actors=("alice",)), id="actor"),
    pytest.param(Scope(actors=("bob", "carol")), id="actors"),
    pytest.param(Scope(event_types=("trade",)), id="type"),
    pytest.param(Scope(run="r1"), id="run"),
    pytest.param(Scope(workflow="w1"), id="workflow"),
    pytest.param(
        Scope(
            since=T0, until=T0 + DAY, actors=("bob",), event_types=("sig",), run="r2", workflow="w1"
        ),
        id="everything",
    ),
]


@pytest.mark.parametrize("scope", SCOPES)
def test_sql_scope_narrows_events_but_not_runs_or_alerts(sql_catalog, scope) -> None:
    got = run_sql(sql_catalog, "SELECT event_id FROM events ORDER BY event_id", scope)
    assert sorted(r[0] for r in got.rows) == sql_ref(scope)
    runs = run_sql(sql_catalog, "SELECT run_id FROM runs ORDER BY 1", scope)
    assert runs.rows == [("r1",), ("r2",)]
    alerts = run_sql(sql_catalog, "SELECT alert_id, run_id FROM alerts ORDER BY 1", scope)
    assert alerts.rows == [("a1", "r1"), ("a2", "r1"), ("a3", "r2")]


def test_sql_scope_edges_are_exact(sql_catalog) -> None:
    """An event exactly at since is in, one exactly at until is out."""
    scope = Scope(since=T0 + 3 * HOUR, until=T0 + 4 * HOUR)
    got = run_sql(sql_catalog, "SELECT event_id FROM events", scope)
    assert sorted(r[0] for r in got.rows) == ["m3", "r1e1"]  # m4 sits at until: out


def test_sql_limit_and_truncation(sql_catalog) -> None:
    everything = "SELECT event_id FROM events ORDER BY event_id"
    total = len(SQL_EVENTS)
    ids = sorted(e["event_id"] for _, e in SQL_EVENTS)
    cut = run_sql(sql_catalog, everything, limit=3)
    assert ([r[0] for r in cut.rows], cut.truncated) == (ids[:3], True)
    whole = run_sql(sql_catalog, everything, limit=total)
    assert ([r[0] for r in whole.rows], whole.truncated) == (ids, False)
    one_over = run_sql(sql_catalog, everything, limit=total - 1)
    assert (len(one_over.rows), one_over.truncated) == (total - 1, True)
    own = run_sql(sql_catalog, everything + " LIMIT 2", limit=5)
    assert ([r[0] for r in own.rows], own.truncated) == (ids[:2], False)


def test_sql_keeps_the_query_order(sql_catalog) -> None:
    """The page wraps the query in a subquery; the ORDER BY the author wrote must survive."""
    result = run_sql(
        sql_catalog,
        "SELECT event_id, occurred_at FROM events ORDER BY occurred_at DESC, event_id DESC",
    )
    want = sorted(((instant(e["occurred_at"]), e["event_id"]) for _, e in SQL_EVENTS), reverse=True)
    assert [r[0] for r in result.rows] == [event_id for _, event_id in want]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) AS n FROM events;",
        "SELECT count(*) AS n FROM events ;  ",
        "SELECT count(*) AS n FROM events; -- every event",
        "SELECT count(*) AS n FROM events -- every event\n",
        "/* leading */ SELECT count(*) AS n FROM events /* trailing */ ;",
        "-- the total\nSELECT count(*) AS n -- a count\nFROM events; /* done */\n",
        "WITH e AS (SELECT * FROM events) SELECT count(*) AS n FROM e;",
        "FROM events SELECT count(*) AS n;",
    ],
)
def test_sql_trailing_semicolons_and_comments(sql_catalog, sql) -> None:
    assert read_only_problem(sql) is None
    result = run_sql(sql_catalog, sql)
    assert (result.columns, result.rows) == (["n"], [(len(SQL_EVENTS),)])


def test_sql_masks_secrets(sql_catalog) -> None:
    payloads = run_sql(sql_catalog, "SELECT event_id, payload FROM events WHERE event_id = 'm4'")
    cell = payloads.rows[0][1]
    assert "sk-123" not in cell and "abc123" not in cell
    assert json.loads(cell)["api_key"] == "•••"
    assert "token=•••" in json.loads(cell)["note"]

    alias = run_sql(sql_catalog, "SELECT 'hunter2' AS password, 'x' AS \"apiKey\", 1 AS n")
    assert alias.rows == [("•••", "•••", 1)]

    by_path = run_sql(sql_catalog, "SELECT payload->>'api_key' FROM events WHERE event_id = 'm4'")
    assert by_path.rows == [("•••",)]  # the column is named after the key

    shown = html_of(SqlView(sql_catalog, sql="SELECT payload FROM events")._render())
    table = tables_of(SqlView(sql_catalog, sql="SELECT payload FROM events")._render())[0]
    assert "sk-123" not in shown and not table["payload"].str.contains("sk-123").any()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT list(payload) AS payloads FROM events",
        "SELECT [payload::VARCHAR] AS wrapped FROM events",
        "SELECT {'p': payload::VARCHAR} AS wrapped FROM events",
    ],
)
def test_sql_masks_secrets_inside_lists_and_structs(sql_catalog, sql) -> None:
    """A list or struct cell holds the same payload text: its secrets must not show either."""
    result = run_sql(sql_catalog, sql)
    assert result.rows
    assert "sk-123" not in repr(result.rows), result.rows
    table = tables_of(SqlView(sql_catalog, sql=sql)._render())
    assert table and "sk-123" not in table[0].to_string()


def test_sql_failing_query_names_the_reason(sql_catalog) -> None:
    with pytest.raises(UsageError, match=r"the query failed: .*no_such_column"):
        run_sql(sql_catalog, "SELECT no_such_column FROM events")
    card = html_of(SqlView(sql_catalog, sql="SELECT no_such_column FROM events")._render())
    assert "Query could not be shown" in card and "no_such_column" in card


def test_sql_view_table_and_truncation_note(sql_catalog) -> None:
    filters = Filters(actors=["alice"])
    drawn = SqlView(
        sql_catalog, filters=filters, sql="SELECT event_id FROM events ORDER BY 1", limit=4
    )._render()
    frame = tables_of(drawn)[0]
    assert list(frame["event_id"]) == sql_ref(Scope(actors=("alice",)))[:4]
    assert "The first 4 rows are shown; the query returned more." in html_of(drawn)
    none = SqlView(sql_catalog, filters=Filters(actors=["nobody"]), sql="SELECT * FROM events")
    assert "No rows" in html_of(none._render())


def refused_queries(outside: Path) -> list[tuple[str, str]]:
    """(query, a fragment of the reason) for every way to write or read outside the catalog;
    file names point at real files in ``outside`` so a query let through would succeed."""
    csv = outside / "secret.csv"
    js = outside / "secret.json"
    pq = outside / "secret.parquet"
    out = outside / "written"
    return [
        ("INSERT INTO events SELECT * FROM events", "only a SELECT"),
        ("UPDATE runs SET name = 'x'", "only a SELECT"),
        ("DELETE FROM alerts", "only a SELECT"),
        ("CREATE TABLE stolen AS SELECT * FROM events", "only a SELECT"),
        ("CREATE VIEW v AS SELECT 1", "only a SELECT"),
        ("DROP TABLE events", "only a SELECT"),
        (f"ATTACH '{out}.duckdb' AS other", "only a SELECT"),
        ("DETACH memory", "only a SELECT"),
        (f"COPY events TO '{out}.csv'", "only a SELECT"),
        (f"COPY (SELECT * FROM events) TO '{out}.parquet' (FORMAT parquet)", "only a SELECT"),
        ("COPY events TO 'relative-copy.csv'", "only a SELECT"),
        (f"EXPORT DATABASE '{out}-export'", "only a SELECT"),
        ("INSTALL httpfs", "only a SELECT"),
        ("LOAD httpfs", "only a SELECT"),
        ("SET threads = 1", "only a SELECT"),
        ("SET GLOBAL python_enable_replacements = true", "only a SELECT"),
        ("PRAGMA database_list", "only a SELECT"),
        ("CALL pragma_database_list()", "only a SELECT"),
        (f"SELECT * FROM read_csv('{csv}')", "table function 'read_csv'"),
        (f"SELECT * FROM read_csv_auto('{csv}')", "table function 'read_csv_auto'"),
        (f"SELECT * FROM read_json('{js}')", "table function 'read_json'"),
        (f"SELECT * FROM read_json_auto('{js}')", "table function 'read_json_auto'"),
        (f"SELECT * FROM read_parquet('{pq}')", "table function 'read_parquet'"),
        (f"SELECT * FROM parquet_scan('{pq}')", "table function 'parquet_scan'"),
        (f"SELECT content FROM read_text('{csv}')", "table function 'read_text'"),
        (f"SELECT content FROM read_blob('{csv}')", "table function 'read_blob'"),
        (f"SELECT * FROM glob('{outside}/*')", "table function 'glob'"),
        (f"SELECT * FROM '{csv}'", "is not a catalog table"),
        (f'SELECT * FROM "{csv}"', "is not a catalog table"),
        (f"SELECT e.event_id FROM events e, '{csv}' f", "is not a catalog table"),
        (f"WITH f AS (SELECT * FROM read_csv('{csv}')) SELECT * FROM f", "read_csv"),
        (f"SELECT (SELECT count(*) FROM read_csv('{csv}')) AS n", "read_csv"),
        (f"SELECT 1 AS n UNION ALL SELECT count(*) FROM '{csv}'", "is not a catalog table"),
        (f"SELECT * FROM events WHERE event_id IN (SELECT a FROM '{csv}')", "not a catalog table"),
        ("SELECT getenv('HOME') AS home", "function 'getenv'"),
        ("SELECT 'HOME'.getenv() AS home", "function 'getenv'"),
        ("SELECT current_setting('home_directory') AS h", "function 'current_setting'"),
        ("SELECT * FROM main.events", "without a schema"),
        ("SELECT * FROM memory.main.runs", "without a schema"),
        ("SELECT * FROM information_schema.tables", "without a schema"),
        ("SELECT * FROM duckdb_settings()", "table function 'duckdb_settings'"),
        ("SELECT * FROM duckdb_tables()", "table function 'duckdb_tables'"),
        ("SELECT * FROM duckdb_settings", "is not a catalog table"),
        ("SELECT * FROM sqlite_master", "is not a catalog table"),
        ("SELECT * FROM pragma_database_list()", "pragma_database_list"),
        ("SELECT * FROM query('SELECT 1')", "table function 'query'"),
        ("SHOW TABLES", "SHOW, DESCRIBE and SUMMARIZE"),
        ("DESCRIBE events", "SHOW, DESCRIBE and SUMMARIZE"),
        ("SUMMARIZE events", "SHOW, DESCRIBE and SUMMARIZE"),
        ("SELECT * FROM (DESCRIBE events)", "SHOW, DESCRIBE and SUMMARIZE"),
        ("SELECT 1; SELECT 2", "exactly one SELECT"),
        ("SELECT 1; DROP TABLE events", "only a SELECT"),
        ("SELECT 1 AS a; COPY events TO 'two.csv'", "only a SELECT"),
        ("", "empty"),
        ("   -- only a comment", "give"),
    ]


def catalog_fingerprint(catalog) -> dict:
    """Every table's name and a hash of its sorted rows (the database's own view of it)."""
    names = [
        r[0]
        for r in catalog.fetchall(
            "SELECT table_name FROM duckdb_tables() UNION ALL "
            "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1"
        )
    ]
    out = {}
    for name in names:
        rows = catalog.fetchall(f'SELECT * FROM "{name}"')
        out[name] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
    return out


def test_sql_refuses_every_write_and_outside_read(tmp_path, monkeypatch) -> None:
    folder = write_sql_folder(tmp_path / "folder")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("a,b\n1,topsecret\n", "utf-8")
    (outside / "secret.json").write_text('[{"a": "topsecret"}]', "utf-8")
    catalog = open_catalog(folder)
    sample = "SELECT 1 AS a, 'topsecret' AS b"
    catalog.fetchall(f"COPY ({sample}) TO '{outside / 'secret.parquet'}' (FORMAT parquet)")
    monkeypatch.chdir(tmp_path)  # relative file names would land in tmp_path too
    files_before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    tables_before = catalog_fingerprint(catalog)
    version = catalog.version
    let_through = []
    for sql, reason in refused_queries(outside):
        problem = read_only_problem(sql)
        if problem is None or reason not in problem:
            let_through.append((sql, problem))
        with pytest.raises(UsageError) as refused:
            run_sql(catalog, sql)
        assert "topsecret" not in str(refused.value)
        card = html_of(SqlView(catalog, sql=sql)._render())
        assert "Query could not be shown" in card and "topsecret" not in card
    assert let_through == []
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == files_before
    assert catalog_fingerprint(catalog) == tables_before
    catalog.refresh()
    assert catalog.version == version  # nothing in the folder moved either
    assert catalog.fetchall("SELECT count(*) FROM events") == [(len(SQL_EVENTS),)]


@pytest.mark.parametrize(
    "template",
    [
        # a CTE of the same name in an inner scope does not cover the outer reference
        'SELECT * FROM (WITH "{csv}" AS (SELECT 1 AS z) SELECT * FROM "{csv}") AS a, "{csv}" AS b',
        "SELECT * FROM (WITH sqlite_master AS (SELECT 1 AS z) SELECT * FROM sqlite_master) AS a, "
        "sqlite_master AS b",
    ],
    ids=["file", "system-view"],
)
def test_sql_a_cte_name_does_not_open_the_same_name_elsewhere(tmp_path, template) -> None:
    """A CTE named like a file (or a system view) is allowed only where it is in scope."""
    folder = write_sql_folder(tmp_path / "folder")
    csv = tmp_path / "outside.csv"
    csv.write_text("a,b\n1,topsecret\n", "utf-8")
    catalog = open_catalog(folder)
    sql = template.format(csv=csv)
    try:
        result = run_sql(catalog, sql)
    except UsageError:
        return
    pytest.fail(f"read outside the catalog: {sql!r} → {result.columns} {result.rows[:3]}")


# =================================================================================================
# 3. State surfaces
# =================================================================================================

NESTED = {
    "phase": "P2",
    HOSTILE_SCRIPT: HOSTILE_IMG,
    "runs": [
        {"id": "r1", "status": HOSTILE_SCRIPT, "steps": [1, 2, {"deep": HOSTILE_IMG}]},
        {"id": "r2", "ok": True, "none": None, "empty": {}, "list": []},
    ],
    "limits": {"max": 5, HOSTILE_IMG: {"x": 1}},
}


def state_folder(tmp_path: Path) -> Path:
    root = tmp_path / "folder"
    (root / "events").mkdir(parents=True)
    (root / "state").mkdir()
    return root


def test_json_state_is_escaped_and_foldable(tmp_path) -> None:
    root = state_folder(tmp_path)
    (root / "state" / "s.json").write_text(json.dumps(NESTED), "utf-8")
    text = html_of(JsonState(open_catalog(root), source="state/s.json")._render())
    # objects and lists with content fold as <details>: runs, runs[0], runs[0].steps, steps[2],
    # runs[1], limits, limits[<img…>]
    assert text.count("<details") == 7 == text.count("</details>")
    assert "<summary>2 items</summary>" in text and "<summary>5 keys</summary>" in text
    # hostile keys and values only ever appear escaped
    for hostile in (HOSTILE_SCRIPT, HOSTILE_IMG):
        assert hostile not in text
        assert html.escape(hostile) in text
    assert "<script" not in text.lower() and "<img" not in text.lower()
    assert "onerror=alert" not in text.replace(html.escape(HOSTILE_IMG), "")
    assert "state/s.json" in text and "<th>phase</th><td>P2</td>" in text


def test_json_state_masks_secrets(tmp_path) -> None:
    root = state_folder(tmp_path)
    secret = {"api_key": "sk-123", "nested": {"password": "p"}, "note": "token=abc123"}
    (root / "state" / "s.json").write_text(json.dumps(secret), "utf-8")
    view = JsonState(open_catalog(root), source="state/s.json")
    text = html_of(view._render())
    assert "sk-123" not in text and "abc123" not in text
    assert ">p<" not in text and "<td>p</td>" not in text
    assert text.count("•••") == 3
    assert view.data().content == {
        "api_key": "•••",
        "nested": {"password": "•••"},
        "note": "token=•••",
    }


def test_json_state_counts_what_it_does_not_draw(tmp_path) -> None:
    """A list longer than 500 rows says how many more items there are (not keys)."""
    root = state_folder(tmp_path)
    (root / "state" / "long.json").write_text(json.dumps([{"i": i} for i in range(600)]), "utf-8")
    text = html_of(JsonState(open_catalog(root), source="state/long.json")._render())
    assert "<tr><th>…</th><td>100 more items</td></tr>" in text


def test_markdown_state_renders_but_never_runs_html(tmp_path) -> None:
    root = state_folder(tmp_path)
    md = (
        "# Phases\n\n"
        "| Phase | Status |\n| --- | --- |\n| P1 | done |\n\n"
        f"{HOSTILE_SCRIPT}\n\n"
        f"inline {HOSTILE_IMG} here\n\n"
        "[x](javascript:alert(1)) and [y](JaVaScRiPt:alert(2)) and "
        "[z](data:text/html;base64,PHNjcmlwdD4=)\n\n"
        "api_key: sk-999\n"
    )
    (root / "state" / "P.md").write_text(md, "utf-8")
    text = html_of(MarkdownState(open_catalog(root), source="state/P.md")._render())
    assert "<h1>Phases</h1>" in text
    assert "<table>" in text and "<th>Phase</th>" in text and "<td>done</td>" in text
    assert "<script" not in text.lower() and "<img" not in text.lower()
    assert html.escape(HOSTILE_SCRIPT) in text
    hrefs = re.findall(r'href="([^"]*)"', text)
    assert not [h for h in hrefs if h.strip().lower().startswith(("javascript:", "data:"))]
    assert "sk-999" not in text


def _bad_state_files(root: Path, outside: Path) -> list[tuple[str, str]]:
    """(source, the reason's fragment) for every way a state file cannot be shown."""
    (outside / "o.json").write_text("{}", "utf-8")
    (root / "state" / "bad.json").write_text('{"a": 1,,}', "utf-8")
    (root / "state" / "latin1.md").write_bytes("café".encode("latin-1"))
    (root / "state" / "big.json").write_text('"' + "x" * 999_999 + '"', "utf-8")  # 1,000,001 B
    (root / "state" / "link.json").symlink_to(outside / "o.json")
    return [
        ("state/missing.json", "no such file"),
        ("../outside/o.json", "leads out of the artifact folder"),
        ("state/link.json", "leads out of the artifact folder"),
        ("state/bad.json", "not valid JSON"),
        ("state/latin1.md", "not UTF-8"),
        ("state/big.json", "1,000,001 bytes"),
        ("state", "not a file"),
    ]


def test_state_error_cards_name_the_path(tmp_path) -> None:
    root = state_folder(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    catalog = open_catalog(root)
    for source, reason in _bad_state_files(root, outside):
        view_type = MarkdownState if source.endswith(".md") else JsonState
        text = html_of(view_type(catalog, source=source)._render())
        assert f"{html.escape(source)} could not be shown" in text, (source, text)
        assert reason in text, (source, text)


def test_state_size_limit_and_bom(tmp_path) -> None:
    root = state_folder(tmp_path)
    words = "ab " * 333_332 + "ab"  # short words: masking them is quick (see the test below)
    (root / "state" / "max.json").write_text(f'"{words}"', "utf-8")  # 1,000,000 bytes
    (root / "state" / "bom.json").write_bytes(b"\xef\xbb\xbf" + b'{"ok": "yes"}')
    catalog = open_catalog(root)
    assert (root / "state" / "max.json").stat().st_size == 1_000_000
    assert JsonState(catalog, source="state/max.json").data().content == words
    text = html_of(JsonState(catalog, source="state/bom.json")._render())
    assert "<th>ok</th><td>yes</td>" in text


def test_state_with_a_long_token_is_read_in_time(tmp_path) -> None:
    """A 200 kB base64url/JWT-like token (a fifth of the 1 MB limit) must not stall the tile,
    in a JSON value or in Markdown text.

    Run in a child process with a timeout: a regular expression that backtracks holds the GIL,
    so in a server it would freeze every session, and here it would freeze the test run.
    """
    root = state_folder(tmp_path)
    token = "eyJhbGciOiJIUzI1NiJ9" + "x" * 200_000
    (root / "state" / "blob.json").write_text(json.dumps({"image": token}), "utf-8")
    (root / "state" / "blob.md").write_text(f"# Blob\n\n{token}\n", "utf-8")
    code = (
        "import sys, time\n"
        "from opdash.metrics.state import state_file\n"
        "for name, kind in (('state/blob.json', 'json'), ('state/blob.md', 'markdown')):\n"
        "    start = time.monotonic()\n"
        "    state_file(sys.argv[1], name, kind)\n"
        "    print(name, round(time.monotonic() - start, 3), flush=True)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(root)],
            capture_output=True,
            text=True,
            timeout=8,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired as slow:
        read = (slow.stdout or b"").decode() if isinstance(slow.stdout, bytes) else slow.stdout
        pytest.fail(f"reading 200 kB state files took over 8 s (finished: {read or 'none'})")
    assert done.returncode == 0, done.stderr
    seconds = [float(line.split()[1]) for line in done.stdout.splitlines()]
    assert len(seconds) == 2 and max(seconds) < 2.0, done.stdout


@pytest.mark.parametrize("view_type", [JsonState, MarkdownState])
def test_state_view_shows_the_edit_once_watched(tmp_path, view_type) -> None:
    root = state_folder(tmp_path)
    name = "state/s.json" if view_type is JsonState else "state/s.md"
    path = root / name

    def write(text: str, stamp: int) -> None:
        path.write_text(text, "utf-8")
        os.utime(path, ns=(stamp, stamp))

    first, second = ('{"v": "first"}', '{"v": "second one"}')
    if view_type is MarkdownState:
        first, second = "# first\n", "# second one\n"
    write(first, 1_000_000_000_000_000_000)
    catalog = open_catalog(root)
    view = view_type(catalog, source=name)
    assert "first" in str(view.cached_data().content)

    # not watched: the folder's data did not change, so neither does the version or the view
    version = catalog.version
    write(second, 1_000_000_001_000_000_000)
    catalog.refresh()
    assert catalog.version == version
    assert "first" in str(view.cached_data().content)

    # watched: the next edit is a new data version and the view reads the file again
    catalog.watch([name])
    catalog.refresh()  # takes the stamp of the file as it is now
    write(first, 1_000_000_002_000_000_000)
    catalog.refresh()
    assert catalog.version > version
    assert "first" in str(view.cached_data().content)
    version = catalog.version
    write(second, 1_000_000_003_000_000_000)
    catalog.refresh()
    assert catalog.version == version + 1
    assert "second one" in str(view.cached_data().content)
    assert "second one" in html_of(view._render())
    catalog.refresh()  # no edit: no new version
    assert catalog.version == version + 1


# =================================================================================================
# 4. AlertsView on the demo folder
# =================================================================================================


@pytest.fixture(scope="module")
def demo_catalog():
    return open_catalog(DEMO)


DEMO_ALERTS = read_alerts(DEMO)


@pytest.mark.parametrize("severity", ["all", "critical", "warning", "info"])
@pytest.mark.parametrize("state", ["all", "open", "resolved"])
@pytest.mark.parametrize(
    ("end", "run"),
    [
        (None, ""),
        (date(2026, 11, 19), ""),
        (date(2026, 11, 20), "planner-live-20261120"),
        (date(2026, 11, 18), ""),
    ],
)
def test_alerts_view_narrowing_equals_a_hand_count(demo_catalog, severity, state, end, run) -> None:
    filters = Filters(end=end, run=run)
    as_of = filters.as_of()
    view = AlertsView(demo_catalog, filters=filters, severity=severity, state=state)
    got = view.data()
    want = alerts_ref(
        DEMO_ALERTS,
        as_of=as_of,
        severity=None if severity == "all" else severity,
        state=state,
        run=run,
    )
    assert sorted(a.alert_id for a in got) == want
    drawn = view._render()
    chosen = [v for v in (severity, state) if v != "all"]
    assert f"<h3>Alerts ({', '.join(chosen) or 'all'})</h3>" in html_of(drawn)
    frames = tables_of(drawn)
    if want:
        assert len(frames[0]) == len(want)
        assert sorted(frames[0]["state"]) == sorted("open" if a.open else "resolved" for a in got)
    else:
        assert not frames and "No alerts" in html_of(drawn)


def test_alerts_demo_hand_numbers(demo_catalog) -> None:
    """The counts behind the reference, by hand from the files: 8 alerts; at the end of
    2026-11-19, 3 raised, of which only alr-008 (critical) is still open."""
    assert len(DEMO_ALERTS) == 8
    late = Filters(end=date(2026, 11, 19))
    got = AlertsView(demo_catalog, filters=late, state="open").data()
    assert [a.alert_id for a in got] == ["alr-008"]
    now = AlertsView(demo_catalog, filters=Filters(), severity="warning", state="open").data()
    assert sorted(a.alert_id for a in now) == ["alr-002", "alr-004"]
    drawn = AlertsView(demo_catalog, filters=Filters())._render()
    table = drawn.select(pn.widgets.Tabulator)[0]
    # the hostile title is data in a plain-text cell, never markup
    assert "Stale heartbeat <script>alert(1)</script>" in list(table.value["title"])
    assert table.formatters["title"] == {"type": "plaintext"}
    assert "<script>" not in html_of(drawn)
