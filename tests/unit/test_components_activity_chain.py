"""The activity feed and the workflow chain components: data under filters, drawing, clicks.

Why: the feed is what an operator watches while the system runs, so it must show exactly the
newest events under every page filter (checked against a plain loop over the written events),
mark what arrived since the last look, and never render text from the data as markup. The chain
view must list a workflow's tree in the metric's display order with the exact gaps.
"""

from __future__ import annotations

import html
import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import panel as pn
import pytest
from panel.models.tabulator import CellClickEvent

import opdash
from opdash.components.activity import ActivityFeed, feed_frame
from opdash.components.chain import WorkflowChain
from opdash.components.filters import Filters
from opdash.timeutil import human_duration
from tests.fixtures import T0, at, ev, write_lines

TYPES = ["signal.created", "order.placed", "order.filled", "run.heartbeat"]
ACTORS = ["alice", "bot-1", None]
WORKFLOWS = ["w1", "w2", "w3", None]
HOSTILE_TYPE = "<b>x</b>"
HOSTILE_PAYLOAD = "<script>alert(1)</script>"


# -- the folder and its brute-force reading ------------------------------------------------------


def record(event: dict, run: str | None = None) -> dict:
    """What the catalog should make of an envelope: the fields the feed shows."""
    return {
        "event_id": event["event_id"],
        "event_type": event["event_type"],
        "occurred_at": datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")),
        "actor_id": (event.get("actor") or {}).get("id"),
        "workflow_id": (event.get("correlation") or {}).get("workflow_id"),
        "run_id": run or event.get("run_id"),
        "payload": event.get("payload"),
    }


def build_folder(root: Path) -> list[dict]:
    """~80 events over four days (ties in time included), some in a run folder; their records."""
    rng = random.Random(20261120)
    loose, in_run = [], []
    for i in range(80):
        seconds = rng.choice([rng.randrange(-2 * 86400, 2 * 86400), 3600, -7200])  # some ties
        actor = rng.choice(ACTORS)
        event = ev(
            f"e{rng.randrange(10**6):06d}-{i:02d}",
            rng.choice(TYPES),
            seconds,
            wf=rng.choice(WORKFLOWS),
            payload={"i": i, "note": f"n{i}"},
        )
        if actor is not None:
            event["actor"] = {"type": "agent", "id": actor}
        if i % 7 == 0:
            event["run_id"] = "r-env"
        (in_run if i % 5 == 0 else loose).append(event)
    write_lines(root / "events" / "a.jsonl", loose)
    write_lines(root / "runs" / "r-folder" / "events.jsonl", in_run)
    return [record(e) for e in loose] + [record(e, "r-folder") for e in in_run]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[opdash.Catalog, list[dict]]:
    root = tmp_path_factory.mktemp("feed")
    records = build_folder(root)
    return opdash.open(root), records


def brute_feed(records: list[dict], filters: Filters, limit: int) -> tuple[list[str], int]:
    """Newest first (ties by event id, descending) after every filter; ids shown and total."""
    tz = ZoneInfo(filters.zone)
    since = (
        datetime.combine(filters.start, datetime.min.time(), tz).astimezone(UTC)
        if filters.start
        else None
    )
    until = (
        datetime.combine(filters.end + timedelta(days=1), datetime.min.time(), tz).astimezone(UTC)
        if filters.end
        else None
    )
    kept = [
        r
        for r in records
        if (not filters.actors or r["actor_id"] in filters.actors)
        and (not filters.event_types or r["event_type"] in filters.event_types)
        and (not filters.run or r["run_id"] == filters.run)
        and (not filters.workflow or r["workflow_id"] == filters.workflow)
        and (since is None or r["occurred_at"] >= since)
        and (until is None or r["occurred_at"] < until)
    ]
    kept.sort(key=lambda r: (r["occurred_at"], r["event_id"]), reverse=True)
    return [r["event_id"] for r in kept[:limit]], len(kept)


FILTER_CASES = {
    "everything": ({}, 100),
    "limit": ({}, 10),
    "actors": ({"actors": ["alice", "bot-1"]}, 100),
    "one actor, two types": ({"actors": ["bot-1"], "event_types": TYPES[:2]}, 100),
    "run from the folder": ({"run": "r-folder"}, 100),
    "run from the envelope": ({"run": "r-env"}, 100),
    "workflow": ({"workflow": "w2"}, 100),
    "days in Berlin": (
        {"start": date(2026, 11, 19), "end": date(2026, 11, 20), "zone": "Europe/Berlin"},
        100,
    ),
    "one day in New York, limited": (
        {"start": date(2026, 11, 20), "end": date(2026, 11, 20), "zone": "America/New_York"},
        10,
    ),
    "from a day on": ({"start": date(2026, 11, 21), "zone": "Asia/Kolkata"}, 100),
    "up to a day": ({"end": date(2026, 11, 19), "actors": ["alice"]}, 100),
    "nothing matches": ({"workflow": "nope"}, 100),
}


@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_feed_data_equals_a_plain_loop_under_filters(world, case: str) -> None:
    catalog, records = world
    settings, limit = FILTER_CASES[case]
    filters = Filters(**settings)
    result = ActivityFeed(catalog, filters=filters, limit=limit).data()
    ids, total = brute_feed(records, filters, limit)
    assert [e.event_id for e in result.events] == ids
    assert result.total == total
    by_id = {r["event_id"]: r for r in records}
    for e in result.events:
        r = by_id[e.event_id]
        assert (e.occurred_at, e.event_type, e.actor_id, e.workflow_id, e.run_id) == (
            r["occurred_at"],
            r["event_type"],
            r["actor_id"],
            r["workflow_id"],
            r["run_id"],
        )
        assert json.loads(e.payload) == r["payload"]
    if case == "limit":
        assert len(result.events) == 10 < total
    if case != "nothing matches":
        assert result.newest_at == by_id[ids[0]]["occurred_at"]


def test_feed_draws_the_header_and_one_row_per_event(world) -> None:
    catalog, records = world
    view = ActivityFeed(catalog, limit=10)
    result = view.data()
    layout = view.draw(result)
    header = layout.select(pn.pane.HTML)[0].object
    newest = max(r["occurred_at"] for r in records)
    assert f"newest 10 of {len(records)} events" in header
    assert f"newest at {newest:%Y-%m-%d %H:%M:%S} UTC" in header
    (table,) = layout.select(pn.widgets.Tabulator)
    assert list(table.value.columns) == ["time", "event type", "actor", "workflow", "run"]
    assert list(table.value["time"]) == [
        f"{e.occurred_at:%Y-%m-%d %H:%M:%S} UTC" for e in result.events
    ]
    assert list(table.value["workflow"]) == [e.workflow_id or "–" for e in result.events]
    payload = table.row_content(table.value.iloc[3]).object
    assert payload.startswith('<pre class="opdash-payload">event ' + result.events[3].event_id)
    body = html.unescape(payload.split("\n\n", 1)[1].removesuffix("</pre>"))
    assert json.loads(body) == json.loads(result.events[3].payload)


# -- hostile text stays text ---------------------------------------------------------------------


def hostile_folder(folder: Path) -> Path:
    write_lines(
        folder / "events" / "x.jsonl",
        [
            ev("r1", "start", 0, wf="w<i>1</i>", actor={"type": "human", "id": "<img src=x>"}),
            ev(
                "h1",
                HOSTILE_TYPE,
                60,
                wf="w<i>1</i>",
                payload={"note": HOSTILE_PAYLOAD},
                correlation={"workflow_id": "w<i>1</i>", "parent_event_id": "r1"},
            ),
            ev(
                "o1", "orphan", 90, correlation={"workflow_id": "w<i>1</i>", "parent_event_id": "?"}
            ),
        ],
    )
    return folder


def html_panes(layout) -> list[str]:
    return [p.object for p in layout.select(pn.pane.HTML)]


def assert_only_plaintext(layout) -> None:
    """Every table renders every column as text; no pane that does not escape is used."""
    assert not layout.select(pn.pane.Str) and not layout.select(pn.pane.Markdown)
    for table in layout.select(pn.widgets.Tabulator):
        assert set(table.formatters) == set(table.value.columns)
        assert all(f == {"type": "plaintext"} for f in table.formatters.values())


def test_text_from_the_data_is_escaped_everywhere(folder: Path) -> None:
    catalog = opdash.open(hostile_folder(folder))
    view = ActivityFeed(catalog, chain="w<i>1</i>")
    layout = view.draw(view.data())
    (table, chain_table) = layout.select(pn.widgets.Tabulator)
    assert HOSTILE_TYPE in list(table.value["event type"])  # the raw text, shown as plaintext
    assert any(HOSTILE_TYPE in cell for cell in chain_table.value["event"])
    payloads = [table.row_content(table.value.iloc[i]) for i in range(len(table.value))]
    assert any(html.escape(HOSTILE_PAYLOAD) in p.object for p in payloads)
    texts = html_panes(layout) + [p.object for p in payloads]
    assert any(html.escape("w<i>1</i>") in t for t in texts)  # chain title and totals
    for text in texts:
        for raw in (HOSTILE_PAYLOAD, HOSTILE_TYPE, "<i>1</i>", "<img"):
            assert raw not in text
    assert_only_plaintext(layout)
    for payload in payloads:
        assert_only_plaintext(pn.Column(payload))

    # the chain's hover shows values as text (no '{safe}' formatting)
    import holoviews as hv
    from bokeh.models import HoverTool

    (chart,) = layout.select(pn.pane.HoloViews)
    figure = hv.render(chart.object, backend="bokeh")
    tooltips = [t for h in figure.select({"type": HoverTool}) for t in h.tooltips]
    assert tooltips and not any("safe" in value for _, value in tooltips)


# -- clicks, the open chain and its close button -----------------------------------------------


def test_clicking_a_workflow_opens_its_chain_and_close_clears_it(world) -> None:
    catalog, _ = world
    view = ActivityFeed(catalog, limit=20)
    result = view.data()
    (table,) = view.draw(result).select(pn.widgets.Tabulator)
    row = next(i for i, e in enumerate(result.events) if e.workflow_id)
    no_wf = next(i for i, e in enumerate(result.events) if e.workflow_id is None)
    table._process_event(CellClickEvent(model=None, column="actor", row=row))
    assert view.chain == ""  # only the workflow cell opens a chain
    table._process_event(CellClickEvent(model=None, column="workflow", row=no_wf))
    assert view.chain == ""
    table._process_event(CellClickEvent(model=None, column="workflow", row=row))
    assert view.chain == result.events[row].workflow_id

    layout = view.draw(result)
    assert len(layout.select(pn.widgets.Tabulator)) == 2  # the feed and the chain's tree
    assert f"{view.chain}" in " ".join(html_panes(layout))
    (close,) = [b for b in layout.select(pn.widgets.Button) if b.label == "close"]
    close.clicks += 1
    assert view.chain == ""
    assert len(view.draw(result).select(pn.widgets.Tabulator)) == 1


def test_the_open_chain_does_not_change_the_feed_query(world) -> None:
    catalog, _ = world
    view = ActivityFeed(catalog)
    before = view.key()
    view.chain = "w1"
    assert view.key() == before
    view.limit = 20
    assert view.key() != before


# -- new since the last look ---------------------------------------------------------------------


def test_rows_newer_than_the_last_look_are_marked(folder: Path) -> None:
    path = folder / "events" / "x.jsonl"
    first = [ev(f"a{i:02d}", "t", i * 60) for i in range(12)]
    write_lines(path, first)
    catalog = opdash.open(folder)
    view = ActivityFeed(catalog, limit=10)

    tables: list[pn.widgets.Tabulator] = []

    def look() -> tuple[str, pd.DataFrame]:
        layout = view.draw(view.cached_data())
        tables.append(layout.select(pn.widgets.Tabulator)[0])
        return html_panes(layout)[0], tables[-1].value

    header, frame = look()
    assert "new since" not in header and "new" not in frame.columns  # first look: none
    tables[-1].expanded = [1]  # a10's payload is open…

    write_lines(path, [*first, ev("b1", "t", 3600), ev("b2", "t", 3600), ev("b0", "t", 30)])
    catalog.refresh()
    view.version = catalog.version
    header, frame = look()
    assert "2 new since last look" in header  # b0 is older than what was seen
    assert list(frame["new"]) == ["new", "new"] + [""] * 8
    assert list(frame["time"])[:2] == [f"{T0 + timedelta(hours=1):%Y-%m-%d %H:%M:%S} UTC"] * 2
    assert tables[-1].expanded == [3]  # …and stays open, two rows lower
    assert "a10" in tables[-1].row_content(frame.iloc[3]).object

    view.chain = "w1"  # a redraw of the same data keeps the marks
    header, frame = look()
    assert "2 new since last look" in header

    later = [ev(f"c{i:02d}", "t", 7200 + i) for i in range(12)]
    write_lines(path, [*first, ev("b1", "t", 3600), ev("b2", "t", 3600), ev("b0", "t", 30), *later])
    catalog.refresh()
    header, frame = look()
    assert "10+ new since last look" in header and list(frame["new"]) == ["new"] * 10

    view.filters.actors = ["nobody"]
    view.draw(view.cached_data())
    view.filters.actors = []
    header, _ = look()  # a new scope was looked at in between: nothing is new
    assert "new since" not in header


def test_feed_frame_without_new_rows_has_the_plain_columns() -> None:
    assert list(feed_frame([]).columns) == ["time", "event type", "actor", "workflow", "run"]


# -- the workflow chain --------------------------------------------------------------------------


def chain_events() -> list[dict]:
    def env(event_id, event_type, seconds, parent=None, actor=None):
        correlation = {"workflow_id": "w1"}
        if parent:
            correlation["parent_event_id"] = parent
        event = {
            "event_id": event_id,
            "event_type": event_type,
            "occurred_at": at(seconds),
            "correlation": correlation,
        }
        if actor:
            event["actor"] = {"type": "agent", "id": actor}
        return event

    return [
        env("c2", "b", 60, parent="r1"),  # same time as c1: event id decides
        env("r1", "a", 0, actor="alice"),
        env("c1", "b", 60, parent="r1", actor="bot"),
        env("g1", "c", 750.5, parent="c1"),
        env("g0", "c", 61.25, parent="c2"),
        env("r2", "a", 30),
        env("o1", "b", 30, parent="elsewhere"),  # orphan, a root
        env("o1c", "d", 4000, parent="o1"),
        env("z1", "a", 500, parent="p0"),  # parent lives in another workflow: orphan
        {**env("p0", "a", 0), "correlation": {"workflow_id": "w2"}},
    ]


def brute_chain(events: list[dict]) -> list[tuple[str, int, float | None, bool]]:
    """Display order by plain recursion: (event id, depth, seconds from parent, orphan)."""
    mine = [record(e) | {"parent": e["correlation"].get("parent_event_id")} for e in events]
    mine = [r for r in mine if r["workflow_id"] == "w1"]
    ids = {r["event_id"] for r in mine}

    def order(rows):
        return sorted(rows, key=lambda r: (r["occurred_at"], r["event_id"]))

    out: list[tuple[str, int, float | None, bool]] = []

    def visit(node, depth, parent):
        gap = (
            None
            if parent is None
            else (node["occurred_at"] - parent["occurred_at"]).total_seconds()
        )
        out.append(
            (node["event_id"], depth, gap, node["parent"] is not None and node["parent"] not in ids)
        )
        for child in order(r for r in mine if r["parent"] == node["event_id"]):
            visit(child, depth + 1, node)

    for root in order(r for r in mine if r["parent"] is None or r["parent"] not in ids):
        visit(root, 0, None)
    return out


def test_chain_rows_and_durations_equal_a_plain_recursion(folder: Path) -> None:
    events = chain_events()
    write_lines(folder / "events" / "x.jsonl", events)
    view = WorkflowChain(opdash.open(folder), workflow_id="w1")
    result = view.data()
    expected = brute_chain(events)
    assert [
        (n.event_id, n.depth, n.seconds_from_parent, n.orphan) for n in result.walk()
    ] == expected

    layout = view.draw(result)
    (table,) = layout.select(pn.widgets.Tabulator)
    frame = table.value
    assert list(frame["event id"]) == [e[0] for e in expected]
    assert list(frame["from parent"]) == [
        "" if gap is None else "+" + human_duration(gap) for _, _, gap, _ in expected
    ]
    assert frame.loc[frame["event id"] == "g1", "from parent"].item() == "+11 min"
    assert frame.loc[frame["event id"] == "g0", "from parent"].item() == "+1.25 s"
    types = {e["event_id"]: e["event_type"] for e in events}
    for cell, (event_id, depth, _, _) in zip(frame["event"], expected, strict=True):
        prefix = "\u00a0" * 3 * (depth - 1) + "└\u00a0" if depth else ""
        assert cell == prefix + types[event_id]
    assert [bool(f) for f in frame["flags"]] == [o for *_, o in expected]
    assert frame.loc[frame["event id"] == "r1", "actor"].item() == "alice (agent)"
    assert (
        frame.loc[frame["event id"] == "c1", "time"].item()
        == f"{T0 + timedelta(seconds=60):%Y-%m-%d %H:%M:%S} UTC"
    )
    totals = html_panes(layout)[0]
    for part in (
        "9 events",
        "span 1 h 6 min",
        "4 roots",
        "2 orphans",
        "0 on parent loops",
        "max depth 2",
    ):
        assert part in totals
    assert len(layout.select(pn.pane.HoloViews)) == 1
    assert_only_plaintext(layout)


def test_chain_ignores_the_page_filters(folder: Path) -> None:
    write_lines(folder / "events" / "x.jsonl", chain_events())
    filters = Filters(actors=["nobody"], workflow="w2")
    view = WorkflowChain(opdash.open(folder), filters=filters, workflow_id="w1")
    assert view.data().events == 9
    assert WorkflowChain.uses_filters == ()


# -- empty states, errors, notebooks -------------------------------------------------------------


def card_text(view) -> str:
    return view._render().select(pn.pane.HTML)[0].object


def test_empty_states_and_the_unknown_workflow_card(folder: Path) -> None:
    write_lines(folder / "events" / "x.jsonl", chain_events())
    catalog = opdash.open(folder)
    assert "Pick a workflow…" in card_text(WorkflowChain(catalog))
    assert "Pick a workflow…" in card_text(WorkflowChain(catalog, workflow_id="  "))
    unknown = card_text(WorkflowChain(catalog, workflow_id="w11"))
    assert (
        "opdash-error" in unknown
        and html.escape("workflow 'w11' not found — did you mean 'w1'") in unknown
    )
    nothing = card_text(ActivityFeed(catalog, filters=Filters(event_types=["nope"])))
    assert "No events" in nothing and "opdash-empty" in nothing


def test_an_empty_folder_has_no_events_yet(folder: Path) -> None:
    view = ActivityFeed(opdash.open(folder))
    assert "No events yet" in card_text(view)
    view.chain = "w1"  # an open chain of a workflow that is not there: its card, not a crash
    layout = view._render()
    assert "No events yet" in layout.select(pn.pane.HTML)[0].object
    assert any("not found" in t for t in html_panes(layout))


def test_views_render_alone_outside_a_server(world, folder: Path) -> None:
    from panel.models.tabulator import DataTabulator

    catalog, _ = world
    for view in (ActivityFeed(catalog, chain="w1"), WorkflowChain(catalog, workflow_id="w1")):
        root = pn.panel(view).get_root()
        assert list(root.select({"type": DataTabulator}))
    with pytest.raises(ValueError):
        ActivityFeed(catalog, limit=5)
    with pytest.raises(ValueError):
        ActivityFeed(catalog, limit=1001)
