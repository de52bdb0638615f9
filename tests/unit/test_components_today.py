"""TodayStrip: its data for the page's filters against a brute force, what it draws, that data
strings stay text, the empty state's "Show <day>" button, and rendering outside a server.

Why: the Today strip is the first thing an operator reads; its numbers must be the filtered local
day's, and nothing read from the folder may ever become markup.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import panel as pn
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import opdash
from opdash.components.filters import Filters
from opdash.components.today import CSS, LABELS, TodayStrip, format_day, severity_tone
from opdash.metrics.today import LOOP_TYPES
from tests.fixtures import at, ev, write_lines

# Europe/Berlin switches to summer time on 2026-03-29: that day runs 23:00Z (28th) → 22:00Z.
DAY = date(2026, 3, 29)
MIDNIGHT = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"


def act(actor: str) -> dict:
    return {"actor": {"type": "human", "id": actor}}


def task(event_id, event_type, when, task_id, actor, title=None) -> dict:
    payload = {"task_id": task_id}
    if title is not None:
        payload["title"] = title
    return ev(event_id, event_type, when, payload=payload, **act(actor))


def h(hours: float) -> datetime:
    """``hours`` after Berlin's midnight starting DAY."""
    return MIDNIGHT + timedelta(hours=hours)


EVENTS = [
    ev("s0", "signal.created", h(0) - timedelta(seconds=1), **act("alice")),  # 23:59:59 the 28th
    ev("s1", "signal.created", h(0), **act("alice")),  # local midnight: DAY
    *(ev(f"sa{i}", "signal.created", h(3 + i), **act("alice")) for i in range(3)),
    *(ev(f"sb{i}", "signal.created", h(4 + i), **act("bob")) for i in range(2)),
    ev("c1", "candidate.created", h(5), **act("alice")),
    ev("c2", "candidate.created", h(6), **act("alice")),
    ev("c3", "candidate.created", h(7), **act("bob")),
    ev("p1", "trade.plan.created", h(8), **act("alice")),
    ev("x1", "trade.executed", h(9), **act("bob")),
    ev("k1", "trade.closed", h(10), **act("alice")),
    ev("co1", "coach.analysis.generated", h(11), payload={"insight": "Cut losers"}, **act("alice")),
    ev("co2", "coach.analysis.generated", h(12), payload={"summary": "Bob's view"}, **act("bob")),
    ev("al1", "alert.triggered", h(2), **act("bob")),
    ev("j1", "journal.updated", h(13), **act("alice")),
    ev("n1", "unrelated.type", h(13), **act("alice")),
    task("t1", "task.created", datetime(2026, 3, 20, tzinfo=UTC), "T1", "alice", "Review rule"),
    task("t2", "task.created", h(1), "T2", "bob", "Check feed"),
    task("t2a", "task.accepted", h(2), "T2", "bob"),
    task("t3", "task.created", h(1), "T3", "alice", "Size down"),
    task("t3r", "task.rejected", h(3), "T3", "alice"),
    task("t4", "task.created", h(15), "T4", "bob", "Late review"),
    ev("s9", "signal.created", h(23), **act("alice")),  # 00:00 local on the 30th: next day
    ev("co9", "coach.analysis.generated", h(23.5), payload={"insight": "tomorrow"}),
]


def alert(alert_id, severity, raised, resolved=None) -> dict:
    return {
        "alert_id": alert_id,
        "severity": severity,
        "title": f"alert {alert_id}",
        "raised_at": at(raised),
        "resolved_at": at(resolved) if resolved else None,
    }


ALERTS = [
    alert("a1", "critical", h(1)),
    alert("a2", "warning", h(-30), h(30)),  # resolved after the day: still open at its end
    alert("a3", "info", h(-30), h(-20)),  # resolved before: closed
    alert("a4", "critical", h(25)),  # raised the next day
    alert("a5", "warning", h(2)),
]


def make_folder(root: Path, events: list[dict], alerts: list[dict] = ()) -> Path:
    write_lines(root / "events" / "x.jsonl", events)
    if alerts:
        write_lines(root / "runs" / "r1" / "alerts.jsonl", alerts)
    return root


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return opdash.open(make_folder(tmp_path_factory.mktemp("today"), EVENTS, ALERTS))


# -- the brute force: plain Python over the events written above -----------------------------


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def brute(events, alerts, day: date, zone: str, actors: list[str]) -> dict:
    tz = ZoneInfo(zone)
    next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    as_of = next_midnight.astimezone(UTC) - timedelta(microseconds=1)  # the day's last instant
    seen = [
        e
        for e in events
        if not actors or e.get("actor", {}).get("id") in actors
        if _when(e["occurred_at"]) <= as_of
    ]
    counts = {t: 0 for t in LOOP_TYPES}
    for e in seen:
        if e["event_type"] in counts and _when(e["occurred_at"]).astimezone(tz).date() == day:
            counts[e["event_type"]] += 1

    def task_of(e):
        return e.get("payload", {}).get("task_id") or e.get("entity", {}).get("id") or e["event_id"]

    decided = {task_of(e) for e in seen if e["event_type"] in ("task.accepted", "task.rejected")}
    first: dict[str, dict] = {}
    for e in sorted(seen, key=lambda e: (_when(e["occurred_at"]), e["event_id"])):
        if e["event_type"] == "task.created" and task_of(e) not in decided:
            first.setdefault(task_of(e), e)
    pending = [
        (tid, e.get("payload", {}).get("title"), (as_of - _when(e["occurred_at"])).total_seconds())
        for tid, e in first.items()
    ]
    open_alerts = {"info": 0, "warning": 0, "critical": 0, "other": 0}
    for a in alerts:
        resolved = a["resolved_at"] and _when(a["resolved_at"])
        if _when(a["raised_at"]) <= as_of and (not resolved or resolved > as_of):
            key = a["severity"] if a["severity"] in open_alerts else "other"
            open_alerts[key] += 1
    open_alerts["total"] = sum(open_alerts.values())
    coach = [e for e in seen if e["event_type"] == "coach.analysis.generated"]
    newest = max(coach, key=lambda e: (_when(e["occurred_at"]), e["event_id"]), default=None)
    insight = None
    if newest is not None:
        p = newest.get("payload", {})
        insight = (newest["event_id"], p.get("insight") or p.get("summary"))
    return {
        "as_of": as_of,
        "counts": counts,
        "pending": pending,
        "open_alerts": open_alerts,
        "insight": insight,
    }


@pytest.mark.parametrize(
    ("zone", "actors"),
    [("Europe/Berlin", []), ("Europe/Berlin", ["alice"]), ("UTC", []), ("UTC", ["bob"])],
)
def test_data_matches_brute_force(catalog, zone, actors) -> None:
    filters = Filters(end=DAY, zone=zone, actors=actors)
    got = TodayStrip(catalog, filters=filters).data()
    ref = brute(EVENTS, ALERTS, DAY, zone, actors)
    assert got.as_of == ref["as_of"]
    assert got.counts == ref["counts"]
    assert [(t.task_id, t.title, t.age_seconds) for t in got.pending_tasks] == ref["pending"]
    assert got.open_alerts == ref["open_alerts"]
    insight = got.latest_insight
    assert (insight and (insight.event_id, insight.text)) == ref["insight"]


def test_the_filters_change_the_answer(catalog) -> None:
    """The hand-worked numbers behind the brute force: the boundary and an actor narrow counts."""
    berlin = TodayStrip(catalog, filters=Filters(end=DAY, zone="Europe/Berlin")).data()
    assert berlin.counts["signal.created"] == 6  # s1 at local midnight counts; s0, s9 do not
    alice = TodayStrip(
        catalog, filters=Filters(end=DAY, zone="Europe/Berlin", actors=["alice"])
    ).data()
    assert alice.counts["signal.created"] == 4 and alice.counts["candidate.created"] == 2
    assert [t.task_id for t in alice.pending_tasks] == ["T1"]
    assert berlin.latest_insight.text == "Bob's view"
    utc = TodayStrip(catalog, filters=Filters(end=DAY, zone="UTC")).data()
    # in UTC the day is 00:00Z-24:00Z: s1 (23:00Z on the 28th) is out, s9 and co9 are in
    assert (
        utc.counts["coach.analysis.generated"] == 3
        and berlin.counts["coach.analysis.generated"] == 2
    )
    assert utc.latest_insight.text == "tomorrow"


# -- what it draws ---------------------------------------------------------------------------


def html_of(drawn) -> list[str]:
    return [pane.object for pane in drawn.select(pn.pane.HTML)]


def text_of(drawn) -> str:
    """The visible text of every HTML pane, tags removed and entities decoded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", o)) for o in html_of(drawn))


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_draw_shows_the_counts_and_rates(catalog) -> None:
    view = TodayStrip(catalog, filters=Filters(end=DAY, zone="Europe/Berlin"))
    text = squash(text_of(view.draw(view.data())))
    assert "Today · Sun 29 Mar 2026 (Europe/Berlin) · as of 23:59" in text
    for label, n in [
        ("Signals", 6),
        ("Candidates", 3),
        ("Plans", 1),
        ("Executions", 1),
        ("Closed", 1),
        ("Coach analyses", 2),
        ("Tasks created", 3),
        ("Tasks accepted", 1),
        ("Tasks rejected", 1),
        ("Alerts triggered", 1),
        ("Journal updates", 1),
    ]:
        assert f" {label} {n} " in f" {text} ", label
    for label, rate in [
        ("Signal→Candidate", "50.0%"),
        ("Candidate→Plan", "33.3%"),
        ("Plan→Execution", "100.0%"),
        ("Execution→Closed", "100.0%"),
        ("Closed→Coach", "200.0%"),
        ("Task accept rate", "50.0%"),
    ]:
        assert f"{label} {rate}" in text, label
    assert "Pending tasks: 2" in text and "oldest waiting 9 d 21 h" in text
    assert "T1" in text and "Review rule" in text and "T4" in text and "Late review" in text
    assert "Open alerts: 3" in text and "critical 1" in text and "warning 2" in text
    assert "info" not in text.split("Open alerts")[1].split("Last coach")[0]
    assert "Bob's view" in text and "2026-03-29 13:00" in text  # 11:00Z is 13:00 CEST
    markup = "".join(html_of(view.draw(view.data())))
    assert "opdash-today-sev-red" in markup and "opdash-today-sev-amber" in markup


def test_a_source_count_of_zero_shows_a_dash(tmp_path) -> None:
    make_folder(tmp_path, [ev("c1", "candidate.created", h(5))])
    view = TodayStrip(opdash.open(tmp_path), filters=Filters(end=DAY, zone="Europe/Berlin"))
    text = squash(text_of(view.draw(view.data())))
    assert "Signal→Candidate –" in text and "Task accept rate –" in text
    assert "Candidate→Plan 0.0%" in text and "Pending tasks: 0" in text
    assert "No open alerts." in text and "No coach analysis yet." in text


def test_pending_list_shows_five_and_counts_the_rest(tmp_path) -> None:
    events = [task(f"t{i}", "task.created", h(i), f"T{i}", "alice", f"task {i}") for i in range(7)]
    make_folder(tmp_path, events)
    view = TodayStrip(opdash.open(tmp_path), filters=Filters(end=DAY, zone="Europe/Berlin"))
    drawn = view.draw(view.data())
    text = squash(text_of(drawn))
    assert "Pending tasks: 7" in text and "and 2 more" in text
    assert "task 4" in text and "task 5" not in text
    assert "".join(html_of(drawn)).count('class="opdash-today-task-id"') == 5


def test_data_strings_stay_text(tmp_path) -> None:
    long_insight = HOSTILE + ' " onmouseover="alert(2)" ' + "x" * 400
    events = [
        ev("s1", "signal.created", h(5)),
        ev("co1", "coach.analysis.generated", h(6), "<b>wf</b>", payload={"insight": long_insight}),
        task("t1", "task.created", h(1), "<img src=x onerror=alert(3)>", "alice", HOSTILE),
    ]
    alerts = [alert("a1", "<i>sev</i>", h(1))]
    make_folder(tmp_path, events, alerts)
    view = TodayStrip(opdash.open(tmp_path), filters=Filters(end=DAY, zone="Europe/Berlin"))
    panes = html_of(view.draw(view.data()))
    joined = "".join(panes)
    for pane in panes:
        assert "<script" not in pane and "<img" not in pane and "<b>" not in pane
        assert 'onmouseover="' not in pane
    assert joined.count(html.escape(HOSTILE)) >= 3  # task title, insight text and its tooltip
    assert html.escape("<img src=x onerror=alert(3)>") in joined
    assert "&lt;b&gt;wf&lt;/b&gt;" in joined
    # the insight is cut to about 280 characters, the full text is in the title attribute
    shown = re.search(r'title="([^"]*)">([^<]*)</div>', joined.split("Last coach insight")[1])
    assert html.unescape(shown.group(1)) == long_insight
    assert len(html.unescape(shown.group(2))) <= 280 and shown.group(2).endswith("…")


# -- the empty state -------------------------------------------------------------------------


def test_empty_day_offers_the_newest_day_and_the_button_only_moves_the_view(tmp_path) -> None:
    # 22:30Z on 10 Jun is 00:30 on 11 Jun in Berlin (summer time)
    events = [
        ev("s1", "signal.created", datetime(2025, 6, 10, 9, tzinfo=UTC)),
        task("t1", "task.created", datetime(2025, 6, 10, 22, 30, tzinfo=UTC), "T1", "a", "Wait"),
    ]
    make_folder(tmp_path, events, [alert("a1", "critical", datetime(2025, 6, 10, tzinfo=UTC))])
    before = sorted(p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file())
    filters = Filters(zone="Europe/Berlin")  # no end: today, which has no events
    view = TodayStrip(opdash.open(tmp_path), filters=filters)
    drawn = view.draw(view.data())
    text = squash(text_of(drawn))
    local_today = filters.as_of().astimezone(ZoneInfo("Europe/Berlin")).date()
    assert f"No loop events on {format_day(local_today)}." in text
    assert "Pending tasks: 1" in text and "Wait" in text and "critical 1" in text
    assert "Signals" not in text  # no count cards on an empty day
    (button,) = drawn.select(pn.widgets.Button)
    assert button.label == "Show Wed 11 Jun 2025"
    button.clicks += 1
    assert filters.end == date(2025, 6, 11)
    assert view.data().counts["task.created"] == 1
    assert sorted(p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()) == before


def test_no_button_when_the_newest_event_is_not_earlier(tmp_path) -> None:
    make_folder(tmp_path, [ev("s1", "other.type", h(5))])
    view = TodayStrip(opdash.open(tmp_path), filters=Filters(end=DAY, zone="Europe/Berlin"))
    drawn = view.draw(view.data())
    assert "No loop events on Sun 29 Mar 2026." in text_of(drawn)
    assert drawn.select(pn.widgets.Button) == []


# -- contract and rendering ------------------------------------------------------------------


def test_contract_and_css() -> None:
    assert TodayStrip.title == "Today" and TodayStrip.uses_now is True
    assert TodayStrip.uses_filters == ("end", "zone", "actors", "run", "workflow")
    assert set(LABELS) == set(LOOP_TYPES)
    for name in ("head", "strip", "step", "box", "tasks", "sev-red", "sev-amber", "empty"):
        assert f".opdash-today-{name}" in CSS
    assert "url(" not in CSS and "@import" not in CSS
    assert [severity_tone(s) for s in ("critical", "high", "warning", "info", "other")] == [
        "red",
        "red",
        "amber",
        "grey",
        "grey",
    ]


def test_renders_outside_a_server(catalog) -> None:
    view = TodayStrip(catalog, filters=Filters(end=DAY, zone="Europe/Berlin"))
    root = pn.panel(view).get_root()
    assert root is not None
    assert any("Signals" in (getattr(m, "text", "") or "") for m in root.references())
    assert pn.panel(TodayStrip(catalog)).get_root() is not None  # default filters: now, UTC


TASK_TYPES = ("task.created", "task.created", "task.accepted", "task.rejected")


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(TASK_TYPES),
            st.integers(-30, 30),  # hours after DAY's Berlin midnight: some after its end
            st.sampled_from(["T1", "T2", "T3"]),
            st.sampled_from(["alice", "bob", "carol"]),
        ),
        max_size=14,
    ),
    actors=st.sampled_from([[], ["alice"], ["bob", "carol"]]),
)
def test_pending_tasks_match_brute_force_whoever_created_and_decided_them(
    tmp_path_factory, rows, actors
) -> None:
    """Tasks created by one actor and decided by another, created twice, decided after the
    day: pending under every actor filter exactly as the plain-Python reading says."""
    events = [
        task(f"e{i}", kind, h(hours), tid, who, title=f"title {i}")
        for i, (kind, hours, tid, who) in enumerate(rows)
    ]
    catalog = opdash.open(make_folder(tmp_path_factory.mktemp("tasks"), events))
    got = TodayStrip(catalog, filters=Filters(end=DAY, zone="Europe/Berlin", actors=actors)).data()
    ref = brute(events, [], DAY, "Europe/Berlin", actors)
    assert [(t.task_id, t.title, t.age_seconds) for t in got.pending_tasks] == ref["pending"]
