"""TrendView and GoalProgress: their answers against plain-Python counts of the events written,
what a user reads in their drawing, escaping of every data string, empty and error states.

Why: the components are where filters meet metrics (the page's zone, range, actors and run), so
each test writes a small folder, counts the expected numbers with loops and ``zoneinfo`` (no
opdash code), and compares. Data strings (event types, breakdown values, goal titles, the folder
path) hold markup, which must reach HTML panes only escaped.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import holoviews as hv
import panel as pn
import pytest
import yaml

import opdash
from opdash.components.filters import Filters
from opdash.components.goals import CSS, EXAMPLE, GoalProgress
from opdash.components.trend import PREVIOUS_ALPHA, TOP_TYPES, TrendView
from opdash.metrics.trend import INTERVALS
from tests.fixtures import ev, write_lines

BERLIN = ZoneInfo("Europe/Berlin")
SCRIPT = "<script>alert(1)</script>"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def person(name: str) -> dict:
    return {"type": "human", "id": name}


def open_folder(root: Path, events: list[dict], runs: dict[str, list[dict]] | None = None):
    write_lines(root / "events" / "x.jsonl", events)
    for run_id, run_events in (runs or {}).items():
        write_lines(root / "runs" / run_id / "events.jsonl", run_events)
    return opdash.open(root)


def html_objects(layout) -> list[str]:
    return [pane.object for pane in layout.select(pn.pane.HTML)]


def tables(layout) -> list:
    return list(layout.select(pn.widgets.Tabulator))


def curves(layout) -> list[hv.Curve]:
    (chart,) = layout.select(pn.pane.HoloViews)
    return list(chart.object)


def text_of(layout) -> str:
    """Every text a user reads in the HTML panes, unescaped."""
    return html.unescape(" ".join(html_objects(layout)))


# -- brute force: from the events as written -----------------------------------------------------


def local_days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_counts(events, types, tz, first, last, keep=lambda e: True) -> dict[str, list[int]]:
    """Events per type per local day of ``tz`` in ``[first, last]``, by looking at each event."""
    days = local_days(first, last)
    counts = {t: dict.fromkeys(days, 0) for t in types}
    for e in events:
        day = utc(e["occurred_at"]).astimezone(tz).date()
        if e["event_type"] in counts and first <= day <= last and keep(e):
            counts[e["event_type"]][day] += 1
    return {t: [counts[t][d] for d in days] for t in types}


def by_frequency(events) -> list[str]:
    counts = Counter(e["event_type"] for e in events)
    return sorted(counts, key=lambda t: (-counts[t], t))


# -- a folder around Berlin's fall-back night (2026-10-25 lasts 25 hours) -----------------------

BERLIN_EVENTS = [
    # 22:30Z on the 23rd is 00:30 on the 24th in Berlin (CEST, +02:00)
    ev("a1", "a", utc("2026-10-23T22:30:00+00:00"), actor=person("alice")),
    ev("a2", "a", utc("2026-10-24T21:59:00+00:00"), actor=person("bob")),  # 23:59 on the 24th
    ev("a3", "a", utc("2026-10-25T00:30:00+00:00"), actor=person("alice")),  # 02:30 CEST
    ev("a4", "a", utc("2026-10-25T01:30:00+00:00"), actor=person("alice")),  # 02:30 CET
    ev("a5", "a", utc("2026-10-25T22:59:00+00:00"), actor=person("bob")),  # 23:59 CET, the 25th
    ev("a6", "a", utc("2026-10-25T23:00:00+00:00"), actor=person("alice")),  # 00:00, the 26th
    ev("a7", "a", utc("2026-10-26T12:00:00+00:00"), actor=person("carol")),
    ev("a8", "a", utc("2026-10-22T10:00:00+00:00"), actor=person("alice")),  # before the range
    ev("b1", "b", utc("2026-10-24T22:30:00+00:00"), actor=person("bob")),  # 00:30 on the 25th
    ev("b2", "b", utc("2026-10-25T12:00:00+00:00"), actor=person("alice")),
    ev("b3", "b", utc("2026-10-21T12:00:00+00:00"), actor=person("alice")),  # previous period
    ev("c1", "c", utc("2026-10-26T08:00:00+00:00"), actor=person("bob")),
]
RUN_EVENTS = [
    ev("r1", "a", utc("2026-10-24T10:00:00+00:00"), actor=person("alice")),
    ev("r2", "b", utc("2026-10-25T10:00:00+00:00"), actor=person("bob")),
    ev("r3", "b", utc("2026-10-26T10:00:00+00:00"), actor=person("alice")),
]
ALL_EVENTS = BERLIN_EVENTS + RUN_EVENTS
FIRST, LAST = date(2026, 10, 24), date(2026, 10, 26)


@pytest.fixture
def berlin(folder: Path):
    return open_folder(folder, BERLIN_EVENTS, {"r1": RUN_EVENTS})


def berlin_filters(**more) -> Filters:
    return Filters(start=FIRST, end=LAST, zone="Europe/Berlin", **more)


def test_trend_counts_per_local_day_across_a_dst_change(berlin) -> None:
    view = TrendView(berlin, filters=berlin_filters())
    result = view.data()
    types = by_frequency(ALL_EVENTS)[:TOP_TYPES]
    assert [s.event_type for s in result.series] == types == ["a", "b", "c"]
    assert [b.start.date() for b in result.series[0].buckets] == local_days(FIRST, LAST)
    assert [(b.end.timestamp() - b.start.timestamp()) / 3600 for b in result.series[0].buckets] == [
        24,
        25,
        24,
    ]
    expected = day_counts(ALL_EVENTS, types, BERLIN, FIRST, LAST)
    assert {s.event_type: s.values for s in result.series} == expected
    assert expected["a"] == [3, 3, 2]  # by hand: 00:30 and 23:59 local count on their own day


def test_trend_actor_and_run_filters_narrow_the_counts(berlin) -> None:
    view = TrendView(berlin, filters=berlin_filters(actors=["alice"]))
    got = {s.event_type: s.values for s in view.data().series}
    alice = day_counts(ALL_EVENTS, ["a", "b", "c"], BERLIN, FIRST, LAST,
                       keep=lambda e: e["actor"]["id"] == "alice")  # fmt: skip
    assert got == alice
    assert got != day_counts(ALL_EVENTS, ["a", "b", "c"], BERLIN, FIRST, LAST)

    view.filters.param.update(actors=[], run="r1")
    got = {s.event_type: s.values for s in view.data().series}
    ids = {e["event_id"] for e in RUN_EVENTS}
    assert got == day_counts(ALL_EVENTS, ["a", "b", "c"], BERLIN, FIRST, LAST,
                             keep=lambda e: e["event_id"] in ids)  # fmt: skip


def test_trend_event_type_filter_picks_the_lines_and_end_bounds_the_buckets(berlin) -> None:
    filters = Filters(start=FIRST, end=date(2026, 10, 25), zone="Europe/Berlin", event_types=["b"])
    result = TrendView(berlin, filters=filters).data()
    assert [s.event_type for s in result.series] == ["b"]
    assert [b.start.date() for b in result.series[0].buckets] == [FIRST, date(2026, 10, 25)]
    assert result.until == datetime(2026, 10, 26, tzinfo=BERLIN)
    expected = day_counts(ALL_EVENTS, ["b"], BERLIN, FIRST, date(2026, 10, 25))
    assert result.series[0].values == expected["b"] == [0, 3]


def test_trend_unique_path_metric_counts_distinct_values_per_day(berlin) -> None:
    view = TrendView(berlin, filters=berlin_filters(event_types=["a"]), metric="unique:actor.id")
    result = view.data()
    actors: dict[date, set[str]] = {d: set() for d in local_days(FIRST, LAST)}
    for e in ALL_EVENTS:
        day = utc(e["occurred_at"]).astimezone(BERLIN).date()
        if e["event_type"] == "a" and day in actors:
            actors[day].add(e["actor"]["id"])
    assert result.series[0].values == [len(actors[d]) for d in local_days(FIRST, LAST)]
    assert result.by == "actor.id"


def test_trend_draw_shows_the_numbers_rolling_and_previous_period(berlin) -> None:
    view = TrendView(berlin, filters=berlin_filters(), rolling=2, compare=True, interval="day")
    layout = view.draw(view.data())
    types = ["a", "b", "c"]
    now = day_counts(ALL_EVENTS, types, BERLIN, FIRST, LAST)
    before = day_counts(ALL_EVENTS, types, BERLIN, date(2026, 10, 21), date(2026, 10, 23))

    (table,) = tables(layout)
    frame = table.value.set_index("series")
    for t in types:
        assert frame.loc[t, "total"] == f"{sum(now[t]):,}"
        assert frame.loc[t, "last bucket"] == f"{now[t][-1]:,}"
        assert frame.loc[t, "previous total"] == f"{sum(before[t]):,}"
        rolling = (now[t][-2] + now[t][-1]) / 2
        assert frame.loc[t, "last rolling mean"] == (
            f"{int(rolling):,}" if rolling.is_integer() else f"{rolling:,.2f}"
        )
    assert frame.loc["b", "change"] == f"{(sum(now['b']) - 1) / 1 * 100:+.1f}%"
    assert all(f == {"type": "plaintext"} for f in table.formatters.values())

    lines = curves(layout)
    assert len(lines) == 3 * len(types)  # value, rolling, previous per series
    by_label = {c.label: c for c in lines}
    for t in types:
        main, dashed, faint = (
            by_label[t],
            by_label[f"{t} (2-day mean)"],
            by_label[f"{t} (previous period)"],
        )
        assert list(main.dimension_values("value")) == now[t]
        assert list(faint.dimension_values("value")) == before[t]
        colour = main.opts.get().kwargs["color"]
        assert dashed.opts.get().kwargs["line_dash"] == "dashed"
        assert dashed.opts.get().kwargs["color"] == faint.opts.get().kwargs["color"] == colour
        assert faint.opts.get().kwargs["alpha"] == PREVIOUS_ALPHA
    assert [str(x)[:10] for x in by_label["a"].dimension_values("start")] == [
        "2026-10-24",
        "2026-10-25",
        "2026-10-26",
    ]
    words = text_of(layout)
    assert "events per day in Europe/Berlin, 2026-10-24 – 2026-10-26" in words
    assert "dashed: 2-day rolling mean" in words


def test_trend_table_change_against_a_negative_previous_total(folder: Path) -> None:
    """The table's change is the metric's rule, (total − previous) / |previous|: from −4,555 to
    +10,657 is +334.0 %, from −200 to −300 is −50.0 %, against 0 there is none."""

    def pnl(n: int, kind: str, day: str, value: int) -> dict:
        return ev(f"{kind}{n}", kind, utc(f"2026-11-{day}T12:00:00+00:00"), payload={"v": value})

    events = [
        pnl(1, "a", "17", -4000), pnl(2, "a", "18", -555), pnl(3, "a", "19", 10657),
        pnl(1, "b", "18", -200), pnl(2, "b", "20", -300),
        pnl(1, "c", "20", 7),
    ]  # fmt: skip
    catalog = open_folder(folder, events)
    filters = Filters(start=date(2026, 11, 19), end=date(2026, 11, 20), event_types=["a", "b", "c"])
    view = TrendView(catalog, filters=filters, metric="sum:payload.v", compare=True)
    (table,) = tables(view.draw(view.data()))
    frame = table.value.set_index("series")
    assert list(frame["previous total"]) == ["-4,555", "-200", "0"]
    assert list(frame["change"]) == ["+334.0%", "-50.0%", "–"]


def test_trend_breakdown_and_event_types_with_markup_are_escaped(folder: Path) -> None:
    events = [
        ev("e1", SCRIPT, utc("2026-11-20T09:00:00+00:00"), payload={"venue": SCRIPT}),
        ev("e2", SCRIPT, utc("2026-11-20T10:00:00+00:00"), payload={"venue": "XNAS"}),
        ev("e3", SCRIPT, utc("2026-11-21T10:00:00+00:00"), payload={"venue": SCRIPT}),
    ]
    catalog = open_folder(folder, events)
    missing = "<b>never</b>"
    filters = Filters(
        start=date(2026, 11, 20), end=date(2026, 11, 21), event_types=[SCRIPT, missing]
    )
    view = TrendView(catalog, filters=filters, breakdown="payload.venue")
    result = view.data()
    assert [(s.event_type, s.breakdown, s.values) for s in result.series] == [
        (SCRIPT, SCRIPT, [1, 1]),
        (SCRIPT, "XNAS", [1, 0]),
    ]
    layout = view.draw(result)
    objects = html_objects(layout)
    assert objects and all("<script" not in o and "<b>never" not in o for o in objects)
    assert any(html.escape(missing) in o for o in objects)
    (table,) = tables(layout)
    assert list(table.value["series"]) == [SCRIPT, "XNAS"]  # one type: the value names it
    assert list(table.value["total"]) == ["2", "1"]
    assert all(f == {"type": "plaintext"} for f in table.formatters.values())
    pn.Column(layout).get_root()  # markup in legend labels and tooltips is plain text to Bokeh

    # several types: the legend names type and value; only types missing everywhere: empty card
    view.filters.event_types = [missing, SCRIPT + "x"]
    empty = view.draw(view.data())
    assert "No events in range" in text_of(empty)
    assert all("<script" not in o and "<b>" not in o for o in html_objects(empty))
    assert html.escape(missing) in " ".join(html_objects(empty))


def test_trend_empty_states(folder: Path, tmp_path: Path) -> None:
    catalog = open_folder(folder, [ev("e1", "a", utc("2026-11-20T09:00:00+00:00"))])
    view = TrendView(catalog, filters=Filters(start=date(2026, 1, 1), end=date(2026, 1, 31)))
    assert view.data().series[0].values == [0] * 31
    layout = view.draw(view.data())
    assert "No events in range" in text_of(layout)
    assert not layout.select(pn.pane.HoloViews)

    (tmp_path / "nothing" / "events").mkdir(parents=True)
    bare = TrendView(opdash.open(tmp_path / "nothing"))
    assert bare.data() is None
    assert "No events" in text_of(pn.Column(bare.draw(None)))


@pytest.mark.parametrize(
    ("params", "hint"),
    [
        ({"metric": "sum:paylod.pnl"}, "did you mean 'payload.<key>'?"),
        ({"metric": "cnt"}, "did you mean 'count'?"),
        ({"breakdown": "actr.id"}, "did you mean 'actor.id'?"),
    ],
)
def test_trend_bad_metric_or_path_is_the_error_card(berlin, params, hint) -> None:
    pane = pn.panel(TrendView(berlin, filters=berlin_filters(), **params))
    words = text_of(pane)
    assert "Trend could not be shown" in words
    assert hint in words


def test_trend_renders_alone_outside_a_server(berlin) -> None:
    view = TrendView(berlin, filters=berlin_filters(), rolling=3, compare=True)
    pane = pn.panel(view)
    pane.get_root()  # builds the Bokeh models: a bad plot option raises here
    assert "could not be shown" not in text_of(pane)
    assert pane.select(pn.pane.HoloViews)
    view.interval = "week"  # a parameter change redraws in place
    assert "events per week" in text_of(pane)
    controls = view.controls()
    assert list(controls.select(pn.widgets.RadioButtonGroup)[0].options) == list(INTERVALS)


# -- goals ----------------------------------------------------------------------------------------

END = date(2026, 11, 20)  # a Friday
AS_OF = datetime.combine(END + timedelta(days=1), time(), UTC) - timedelta(microseconds=1)
GOALS = [
    {"id": "closed-day", "title": SCRIPT, "metric": "count", "event": "trade.closed",
     "target": 10, "period": "day"},
    {"id": "alerts-day", "title": "Alerts today", "metric": "count", "event": "alert.triggered",
     "target": 2, "period": "day", "direction": "down"},
    {"id": "symbols-week", "title": "Symbols this week", "metric": "unique:payload.symbol",
     "event": "signal.created", "target": 4, "period": "week", "tz": "Europe/Berlin"},
    {"id": "pnl-month", "title": "PnL this month", "metric": "sum:payload.pnl",
     "event": "trade.closed", "target": 160, "period": "month"},
    {"id": "signals-day", "title": "Signals today", "metric": "count", "event": "signal.created",
     "target": 1, "period": "day"},
]  # fmt: skip


def goal_events() -> list[dict]:
    out = []
    for i, (day, hour, pnl) in enumerate(
        [(20, 9, 50), (20, 10, 12.5), (20, 23, -2.25), (19, 12, 30), (21, 1, 999), (2, 8, 10)]
    ):
        when = datetime(2026, 11, day, hour, tzinfo=UTC)
        out.append(ev(f"t{i}", "trade.closed", when, payload={"pnl": pnl}))
    for i, day in enumerate([20, 20, 20, 21]):
        out.append(ev(f"al{i}", "alert.triggered", datetime(2026, 11, day, 8, tzinfo=UTC)))
    symbols = [(16, 0, "AAPL"), (15, 23, "TSLA"), (18, 9, "MSFT"), (20, 9, "AAPL")]
    symbols += [(20, 10, "AAPL"), (21, 10, "X")]  # X: after the end day, counts for nothing
    for i, (day, hour, symbol) in enumerate(symbols):
        when = datetime(2026, 11, day, hour, 30, tzinfo=UTC)
        out.append(ev(f"s{i}", "signal.created", when, payload={"symbol": symbol}))
    return out


def brute_goal(events: list[dict], goal: dict, as_of: datetime) -> dict:
    """Actual, progress, expected progress and status of a goal, from the definitions."""
    tz = ZoneInfo(goal.get("tz", "UTC"))
    day = as_of.astimezone(tz).date()
    if goal["period"] == "day":
        first, after = day, day + timedelta(days=1)
    elif goal["period"] == "week":
        first = day - timedelta(days=day.weekday())
        after = first + timedelta(days=7)
    else:
        first = day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    start = datetime.combine(first, time(), tz).astimezone(UTC)
    end = datetime.combine(after, time(), tz).astimezone(UTC)
    rows = [
        e
        for e in events
        if e["event_type"] == goal["event"] and start <= utc(e["occurred_at"]) <= as_of
    ]
    kind, _, path = goal["metric"].partition(":")
    if kind == "count":
        actual = len(rows)
    elif kind == "unique":
        actual = len({e["payload"][path.split(".")[1]] for e in rows})
    else:
        actual = sum(e["payload"][path.split(".")[1]] for e in rows)
    target = Fraction(goal["target"])
    exact = Fraction(str(actual))
    expected = Fraction(
        (as_of - start) // timedelta(microseconds=1), (end - start) // timedelta(microseconds=1)
    )
    if goal.get("direction", "up") == "down":
        status = (
            "breached" if exact > target else "at_risk" if exact > target * expected else "on_track"
        )
    elif exact >= target:
        status = "met"
    elif exact >= target * expected:
        status = "on_track"
    elif exact >= target * expected * Fraction(4, 5):
        status = "at_risk"
    else:
        status = "behind"
    return {"actual": actual, "progress": float(exact / target), "expected": float(expected),
            "status": status}  # fmt: skip


@pytest.fixture
def goal_folder(folder: Path):
    events = goal_events()
    (folder / "goals.yaml").write_text(yaml.safe_dump({"goals": GOALS}, sort_keys=False))
    return open_folder(folder, events), events


def test_goal_statuses_at_the_end_day_match_the_definitions(goal_folder) -> None:
    catalog, events = goal_folder
    view = GoalProgress(catalog, filters=Filters(end=END))
    result = view.data()
    assert result.as_of == AS_OF
    expected = {g["id"]: brute_goal(events, g, AS_OF) for g in GOALS}
    got = {
        g.id: {
            "actual": g.actual,
            "progress": g.progress,
            "expected": g.expected_progress,
            "status": g.status,
        }
        for g in result.goals
    }
    for gid, want in expected.items():
        assert got[gid]["status"] == want["status"], gid
        assert got[gid]["actual"] == pytest.approx(want["actual"]), gid
        assert got[gid]["progress"] == pytest.approx(want["progress"]), gid
        assert got[gid]["expected"] == pytest.approx(want["expected"], abs=1e-9), gid
    # every status the page colours occurs here, the numbers worked out by hand
    assert {gid: want["status"] for gid, want in expected.items()} == {
        "closed-day": "behind",  # 3 of 10 with the whole day gone
        "alerts-day": "breached",  # 3 alerts, ceiling 2
        "symbols-week": "on_track",  # 3 of 4 (15th 23:30Z is Monday in Berlin), pace 121/168
        "pnl-month": "at_risk",  # 100.25 of 160, pace 20/30: 0.8 × 106.67 ≤ 100.25 < 106.67
        "signals-day": "met",  # 2 of 1
    }


def test_goal_status_changes_with_the_end_day(goal_folder) -> None:
    catalog, events = goal_folder
    filters = Filters(end=date(2026, 11, 19))
    view = GoalProgress(catalog, filters=filters)
    as_of = datetime(2026, 11, 20, tzinfo=UTC) - timedelta(microseconds=1)
    got = {g.id: g.status for g in view.data().goals}
    assert got == {g["id"]: brute_goal(events, g, as_of)["status"] for g in GOALS}


def test_goal_draw_shows_numbers_status_pace_and_period(goal_folder) -> None:
    catalog, events = goal_folder
    view = GoalProgress(catalog, filters=Filters(end=END))
    pane = view.draw(view.data())
    source = pane.object
    words = html.unescape(source)
    want = {g["id"]: brute_goal(events, g, AS_OF) for g in GOALS}

    closed = want["closed-day"]
    assert f"{closed['actual']} of 10 trade.closed events ({closed['progress']:.0%})" in words
    assert "3 of at most 2 alert.triggered events (150% of the ceiling used)" in words
    assert "lower is better" in words
    assert f"{want['symbols-week']['actual']} of 4 distinct payload.symbol" in words
    pnl = want["pnl-month"]["actual"]
    assert f"{pnl:,.2f}".rstrip("0").rstrip(".") + " of 160 sum of payload.pnl" in words
    assert "day · 2026-11-20 (UTC)" in words
    assert "week · 2026-11-16 – 2026-11-22 (Europe/Berlin)" in words
    assert "month · 2026-11-01 – 2026-11-30 (UTC)" in words
    for gid, label in [
        ("closed-day", "Behind"),
        ("alerts-day", "Breached"),
        ("signals-day", "Met"),
    ]:
        status = want[gid]["status"]
        assert f"opdash-goal opdash-goal-{status}" in source
        assert f'<span class="opdash-goal-status">{label}</span>' in source
    # met past the target: the bar stops at 100 %, the text tells the real share
    signals = want["signals-day"]
    assert signals["progress"] > 1 and f"({signals['progress']:.0%})" in words
    assert 'style="width: 100.0%"' in source
    assert f'style="width: {closed["progress"] * 100:.1f}%"' in source
    assert f'opdash-goal-pace" style="left: {closed["expected"] * 100:.1f}%"' in source
    for status in ("met", "on_track", "at_risk", "behind", "breached"):
        assert f".opdash-goal-{status}" in CSS


def test_goal_title_with_markup_is_escaped_everywhere(goal_folder) -> None:
    catalog, _ = goal_folder
    view = GoalProgress(catalog, filters=Filters(end=END))
    pane = pn.panel(view)
    objects = html_objects(pane)
    assert objects and all("<script" not in o for o in objects)
    assert any(html.escape(SCRIPT) in o for o in objects)


def test_goal_empty_states_show_an_escaped_example(tmp_path: Path) -> None:
    root = tmp_path / "ops<b>x</b>"
    catalog = open_folder(root, [ev("e1", "a", utc("2026-11-20T09:00:00+00:00"))])
    objects = html_objects(pn.panel(GoalProgress(catalog, filters=Filters(end=END))))
    (card,) = objects
    assert "No goals yet" in card
    assert html.escape(str(root / "goals.yaml")) in card and "<b>x" not in card
    assert f'<pre class="opdash-goal-example">{html.escape(EXAMPLE)}</pre>' in card
    assert yaml.safe_load(EXAMPLE)["goals"][0]["metric"] == "count"

    (root / "goals.yaml").write_text("goals: []\n")
    objects = html_objects(pn.panel(GoalProgress(catalog, filters=Filters(end=END))))
    assert "No goals in the goals file" in objects[0]


def test_goal_invalid_file_is_the_error_card(folder: Path) -> None:
    catalog = open_folder(folder, [ev("e1", "a", utc("2026-11-20T09:00:00+00:00"))])
    bad = [{"id": "x", "metric": "cont", "event": "a", "target": 1, "period": "day"}]
    (folder / "goals.yaml").write_text(yaml.safe_dump({"goals": bad}))
    words = text_of(pn.panel(GoalProgress(catalog, filters=Filters(end=END))))
    assert "Goals could not be shown" in words
    assert "goal 'x' (line 2): unknown metric 'cont' — did you mean 'count'?" in words


def test_goals_render_alone_and_follow_the_zone_of_the_end_day(goal_folder) -> None:
    catalog, _ = goal_folder
    filters = Filters(end=END)
    view = GoalProgress(catalog, filters=filters)
    pane = pn.panel(view)
    pane.get_root()
    assert "As of 2026-11-20 23:59 UTC" in text_of(pane)
    filters.zone = "Pacific/Auckland"  # the end day now ends 13 hours earlier (NZDT, +13:00)
    assert "As of 2026-11-20 10:59 UTC" in text_of(pane)
    assert math.isclose(
        view.data().as_of.timestamp(), datetime(2026, 11, 20, 11, tzinfo=UTC).timestamp() - 1e-6
    )
