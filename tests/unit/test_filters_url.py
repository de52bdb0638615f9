"""The page's filter state, its URL mirror, scopes, the shared result cache and the runs list.

Why: a permalink must restore exactly what the operator saw (any value, any order of keys);
a bad value in a hand-edited link must be named, not crash the page; a scope must narrow the
events exactly like a plain filter over the records; and the cache shared by every session must
compute each question once per data version and never keep a failure.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import opdash
from opdash.catalog import ResultCache
from opdash.catalog.answers import size_of
from opdash.components.filters import FILTER_NAMES, Filters
from opdash.components.funnel import FunnelView
from opdash.components.urlstate import Binding, apply_query, query_string
from opdash.errors import UsageError
from opdash.metrics.runs import runs
from opdash.metrics.scope import Scope, ScopedCatalog, filter_events
from tests.fixtures import ev, write_lines

KEYS = {"start": "from", "end": "to", "zone": "zone", "actors": "actor", "event_types": "type",
        "run": "run", "workflow": "workflow"}  # fmt: skip


def filter_bindings(filters: Filters) -> list[Binding]:
    return [Binding(KEYS[name], filters, name) for name in FILTER_NAMES]


texts = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() == s and s)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@settings(max_examples=60, deadline=None)
@given(
    start=st.none() | days,
    end=st.none() | days,
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
    actors=st.lists(texts, max_size=3),
    types=st.lists(texts, max_size=3),
    run=st.just("") | texts,
    workflow=st.just("") | texts,
)
def test_filters_url_filters_round_trip(start, end, zone, actors, types, run, workflow) -> None:
    """Any filter state (commas, ampersands, unicode, spaces) survives filter → URL → filter."""
    before = Filters(
        start=start,
        end=end,
        zone=zone,
        actors=actors,
        event_types=types,
        run=run,
        workflow=workflow,
    )
    url = query_string(filter_bindings(before))
    after = Filters()
    assert apply_query(filter_bindings(after), url) == []
    assert after.param.values() | {"name": ""} == before.param.values() | {"name": ""}
    assert after.scope() == before.scope()


def test_defaults_make_an_empty_query_and_absent_keys_reset() -> None:
    filters = Filters(actors=["a"], run="r1")
    assert query_string(filter_bindings(Filters())) == ""
    assert apply_query(filter_bindings(filters), "?zone=Europe%2FBerlin") == []
    assert (filters.actors, filters.run, filters.zone) == ([], "", "Europe/Berlin")


def test_repeated_keys_keep_order_and_values_with_commas() -> None:
    filters = Filters()
    apply_query(filter_bindings(filters), "?actor=b%2Cc&actor=a&type=x.y")
    assert filters.actors == ["b,c", "a"] and filters.event_types == ["x.y"]
    assert query_string(filter_bindings(filters)) == "?actor=b%2Cc&actor=a&type=x.y"


def test_bad_values_are_named_and_the_rest_still_applies() -> None:
    filters = Filters()
    problems = apply_query(filter_bindings(filters), "?from=yesterday&zone=Mars%2FPhobos&run=r9")
    assert any("from 'yesterday'" in p for p in problems)
    assert any("Mars/Phobos" in p for p in problems)
    assert filters.run == "r9" and filters.start is None and filters.zone == "UTC"


def test_view_choices_round_trip_through_the_url(folder) -> None:
    write_lines(folder / "events" / "a.jsonl", [ev("e1", "a"), ev("e2", "b", 5)])
    catalog = opdash.open(folder)
    view = FunnelView(catalog, steps=["b", "a"], window="6h", order="strict", dropped_at=2)
    names = ["steps", "window", "order", "breakdown", "dropped_at", "chain"]
    url = query_string([Binding(n, view, n) for n in names])
    assert url == "?steps=b&steps=a&window=6h&order=strict&dropped_at=2"
    other = FunnelView(catalog)
    assert apply_query([Binding(n, other, n) for n in names], url) == []
    assert other.key() == view.key()
    bad = apply_query([Binding(n, other, n) for n in names], "?order=strikt&dropped_at=x")
    assert "did you mean 'strict'" in bad[0] and "whole number" in bad[1]


def test_scope_days_are_local_and_dst_aware() -> None:
    # Europe/Berlin leaves summer time on 2026-10-25: that local day has 25 hours
    scope = Filters(start=date(2026, 10, 25), end=date(2026, 10, 25), zone="Europe/Berlin").scope()
    assert scope.since == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert scope.until == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)
    with pytest.raises(UsageError, match="unknown time zone 'Berlin'"):
        Filters(zone="Berlin")


def test_as_of_is_now_or_the_end_of_the_last_day() -> None:
    now = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    assert Filters().as_of(now) == now
    assert Filters(end=date(2026, 11, 30)).as_of(now) == now
    past = Filters(end=date(2026, 11, 20), zone="America/New_York").as_of(now)
    assert past == datetime(2026, 11, 21, 4, 59, 59, 999999, tzinfo=UTC)


def test_scope_filters_like_a_plain_filter(folder) -> None:
    records = [
        ev(f"e{i}", ["a", "b", "c"][i % 3], i * 3600, wf=f"w{i % 4}",
           actor={"type": "agent", "id": f"act{i % 2}"}, run_id=f"r{i % 5}")
        for i in range(40)
    ]  # fmt: skip
    write_lines(folder / "events" / "a.jsonl", records)
    catalog = opdash.open(folder)
    scope = Scope(
        since=datetime(2026, 11, 20, 12, tzinfo=UTC),
        until=datetime(2026, 11, 21, 9, tzinfo=UTC),
        actors=("act1",),
        event_types=("a", "b"),
        run="r3",
    )
    got = filter_events(catalog.table("events"), scope, with_time=True).event_id.execute()

    def keep(r: dict) -> bool:
        when = datetime.fromisoformat(r["occurred_at"].replace("Z", "+00:00"))
        return (
            r["actor"]["id"] == "act1"
            and r["event_type"] in ("a", "b")
            and r["run_id"] == "r3"
            and scope.since <= when < scope.until
        )

    assert sorted(got) == sorted(r["event_id"] for r in records if keep(r))
    wf_only = ScopedCatalog(catalog, Scope(workflow="w2")).table("events").count().execute()
    assert wf_only == sum(1 for r in records if r["correlation"]["workflow_id"] == "w2")


def test_result_cache_computes_once_per_key_and_version() -> None:
    cache, calls = ResultCache(budget=3 * size_of(0)), []  # room for three small answers

    def slow() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 42

    out: list[int] = []
    threads = [
        threading.Thread(target=lambda: out.append(cache.get("k", 1, slow))) for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [42] * 5 and len(calls) == 1
    assert cache.get("k", 2, lambda: 7) == 7  # a new data version asks again
    assert len(cache) == 1  # and the old version's results are gone
    for i in range(5):
        cache.get(i, 2, lambda i=i: i)
    assert len(cache) == 3  # least recently used dropped once past the byte budget


def test_result_cache_does_not_keep_failures() -> None:
    cache = ResultCache()

    def boom() -> int:
        raise ValueError("no")

    with pytest.raises(ValueError):
        cache.get("k", 1, boom)
    assert cache.get("k", 1, lambda: 5) == 5


def test_runs_as_of_counts_open_alerts_like_by_hand(folder) -> None:
    run_dir = folder / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(
        '{"run_id": "r1", "status": "running", "started_at": "2026-11-20T08:00:00Z",'
        ' "heartbeat_at": "2026-11-20T09:00:00Z"}'
    )
    write_lines(
        run_dir / "alerts.jsonl",
        [
            {"alert_id": "a1", "severity": "critical", "title": "<b>x</b>",
             "raised_at": "2026-11-20T08:30:00Z", "resolved_at": None},
            {"alert_id": "a2", "severity": "warning", "title": "y",
             "raised_at": "2026-11-20T08:40:00Z", "resolved_at": "2026-11-20T09:30:00Z"},
            {"alert_id": "a3", "severity": "info", "title": "later",
             "raised_at": "2026-11-20T11:00:00Z", "resolved_at": None},
        ],
    )  # fmt: skip
    write_lines(run_dir / "events.jsonl", [ev("e1", "x", 0, run_id="r1")])
    catalog = opdash.open(folder)
    result = runs(catalog, as_of=datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    (run,) = result.runs
    assert (run.run_id, run.open_alerts, run.heartbeat_age_seconds) == ("r1", 1, 3600.0)
    assert [(a.alert_id, a.open) for a in result.alerts] == [("a1", True), ("a2", False)]
    before = runs(catalog, as_of=datetime(2026, 11, 20, 7, 0, tzinfo=UTC))
    assert before.runs == [] and before.alerts == []
    assert runs(catalog, as_of=datetime(2026, 11, 20, 10, tzinfo=UTC), run="r2").runs == []


def test_warming_answers_the_overview_and_the_top_actors_first_question() -> None:
    """Opening the dashboard, and a first actor choice, find their answers already computed."""
    from opdash.app import first_page_views
    from opdash.serving import warm
    from opdash.spec import default_spec

    catalog = opdash.open("data/demo")
    top_actor = Filters.choices(catalog)[0][0]
    plain, by_actor = Filters(), Filters(actors=[top_actor])

    def known(filters: Filters) -> list[bool]:
        return [
            catalog.peek(view.key())[0]
            for view in first_page_views(catalog, default_spec(), filters)
        ]

    def within_one_minute(step):
        """Today's answer is keyed by the minute: a step that crosses one is run again."""
        for _ in range(3):
            minute = Filters().as_of()
            outcome = step()
            if Filters().as_of() == minute:
                return outcome
        raise AssertionError("the minute kept changing")

    assert known(plain) == known(by_actor) == [False, False, False]
    # each refresh: no filters only (goals do not read actors)
    after_refresh = within_one_minute(lambda: (warm(catalog), known(plain), known(by_actor))[1:])
    assert after_refresh == ([True, True, True], [False, True, False])
    # at start: the top actor's shapes too
    assert within_one_minute(lambda: (warm(catalog, filter_shapes=True), known(by_actor))[1]) == [
        True,
        True,
        True,
    ]


def test_a_refresh_keeps_the_answers_it_cannot_change(tmp_path) -> None:
    """The Overview pinned to a past day (``?to=``), or narrowed to an actor, while an exporter
    appends events: a refresh keeps Today's, the goals' and the funnel's answers when the new
    events lie past what each reads (Today and goals: after their moment; the funnel: not one
    of its steps, or past its end plus the window), or are another actor's — the same objects,
    so a session redraws nothing — and every answer equals a fresh catalog's. An event inside
    what they read makes them compute again."""
    from opdash.app import first_page_views
    from opdash.spec import default_spec
    from tests.servers import append_lines, copy_demo

    folder = copy_demo(tmp_path / "demo")
    catalog = opdash.open(folder)
    live = folder / "events" / "live.jsonl"

    def answers(filters: Filters, on=catalog) -> list:
        return [view.cached_data() for view in first_page_views(on, default_spec(), filters)]

    def kept_after(event: dict, filters: Filters) -> list[bool]:
        before = answers(filters)
        append_lines(live, event)
        assert catalog.refresh().events_added == 1
        after = answers(filters)
        assert after == answers(filters, on=opdash.open(folder))  # the truth, read fresh
        return [a is b for a, b in zip(after, before, strict=True)]

    pinned, now = Filters(end=date(2026, 11, 19)), datetime.now(UTC)
    actor = Filters.choices(catalog)[0][0]
    by_actor = Filters(end=date(2026, 11, 19), actors=[actor])
    # Today, goals, funnel: a step of the funnel after the pinned day, inside the funnel's
    # 14-day window (a fixed instant: "now" left that window on 2026-12-04)
    assert kept_after(ev("n1", "signal.created", T_LATER), pinned) == [True, True, False]
    assert kept_after(ev("n2", "heartbeat.tick", now), pinned) == [True, True, True]
    # on the pinned day: all three read it, unless it is another actor's
    assert kept_after(ev("n3", "signal.created", T_PINNED, actor={"id": "zz"}), by_actor) == [
        True,  # Today reads the chosen actor only
        False,  # goals read every actor
        False,  # the funnel too: its actor filter picks step 1's actor, later steps are anyone's
    ]
    assert kept_after(ev("n4", "signal.created", T_PINNED), pinned) == [False, False, False]
    # a live run's heartbeat (its run.json rewritten) moves none of them
    before = answers(pinned)
    run_json = next((folder / "runs").glob("*/run.json"))
    meta = json.loads(run_json.read_text())
    run_json.write_text(json.dumps({**meta, "heartbeat_at": now.isoformat()}))
    assert catalog.refresh().files_read == 1
    assert all(a is b for a, b in zip(answers(pinned), before, strict=True))


T_PINNED = datetime(2026, 11, 19, 8, tzinfo=UTC)
T_LATER = datetime(2026, 11, 26, 12, tzinfo=UTC)  # after the pinned day, within 14 days of it


def test_after_a_refresh_only_answers_someone_read_are_warmed_again(tmp_path, monkeypatch) -> None:
    """Each refresh warms the first page again only where its last warmed answer was asked for
    since: a folder with a live exporter and nobody watching costs no queries per interval."""
    from opdash.app import first_page_views
    from opdash.serving import refresh_and_warm, warm
    from opdash.spec import default_spec
    from tests.servers import append_lines, copy_demo

    folder = copy_demo(tmp_path / "demo")
    catalog = opdash.open(folder)
    computed: list[str] = []
    for view in first_page_views(catalog, default_spec(), Filters()):
        real = type(view).data
        monkeypatch.setattr(
            type(view), "data", lambda self, real=real: computed.append(self.title) or real(self)
        )

    def refreshed_after(event_id: str) -> list[str]:
        append_lines(folder / "events" / "live.jsonl", ev(event_id, "signal.created", T_PINNED))
        computed.clear()
        refresh_and_warm(catalog)
        return sorted(computed)

    warm(catalog)  # at start
    assert refreshed_after("w1") == []  # nobody asked for the warmed answers
    for view in first_page_views(catalog, default_spec(), Filters()):
        view.cached_data()  # a session opens the page (computes)...
        view.cached_data()  # ...and another reads what it computed
    assert refreshed_after("w2") == ["Funnel", "Goals", "Today"]
    assert refreshed_after("w3") == []  # the answers warmed for w2 were not read
