"""A real Chromium against a real ``opdash serve`` built from a dashboard spec: the demo's State
page (KPIs, a JSON card, a Markdown file, a SQL tile), state files changing under an open page,
the page's filters narrowing a SQL tile, a spec from ``--spec`` (per-tile URL keys, columns,
headings, the title), ``--lenient`` error cards, and hostile text in the new tiles.

Expected numbers are computed here from the demo's files (plain JSON and Parquet reading), not
through opdash's catalog. Helpers and fixtures come from ``tests/ui/test_ui.py``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.servers import DEMO, copy_demo, opdash_serve
from tests.ui.test_ui import (
    SLOW,
    WINDOW,
    cell,
    expect_no_error_cards,
    nav,
    url_has,
    warm_up,
)

pytestmark = pytest.mark.ui

#: The demo's State page on its newest day; the KPIs end at the end of that day (UTC).
STATE_PAGE = "?page=state&to=2026-11-20"
AS_OF = datetime(2026, 11, 20, 23, 59, 59, 999999, tzinfo=UTC)
STATE_JSON = Path("state") / "orchestrator" / "STATE.json"
PHASE_INDEX = Path("state") / "PHASE_INDEX.md"
#: How long a file edit takes to show with --refresh 1 (a refresh, then a redraw).
LIVE = 15_000
#: Markup that calls alert() if it is ever made into an element.
HOSTILE_IMG = "<img src=x onerror=alert(1)>"


# -- the demo's events, read without opdash ------------------------------------------------------


def demo_events(root: Path = DEMO) -> list[dict]:
    """Every valid event of the folder, once per event_id (the first copy), occurred_at as an
    aware datetime. Valid: a JSON object with non-empty string event_id and event_type and an
    ISO occurred_at (what the contract quarantines otherwise)."""
    paths = [*sorted((root / "events").rglob("*")), *sorted((root / "runs").glob("*/events.jsonl"))]
    records: list = []
    for path in paths:
        if path.suffix in (".jsonl", ".ndjson"):
            for line in path.read_text("utf-8").splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
        elif path.suffix == ".json":
            data = json.loads(path.read_text("utf-8"))
            records += data if isinstance(data, list) else [data]
        elif path.suffix == ".parquet":
            records += pq.read_table(path).to_pylist()
    events: dict[str, dict] = {}
    for record in records:
        if not isinstance(record, dict):
            continue
        if not all(
            isinstance(record.get(k), str) and record[k] for k in ("event_id", "event_type")
        ):
            continue
        when = record.get("occurred_at")
        if isinstance(when, str):
            try:
                when = datetime.fromisoformat(when)
            except ValueError:
                continue
        if not isinstance(when, datetime):
            continue
        if when.tzinfo is None:  # no offset means UTC (docs/data-contract.md)
            when = when.replace(tzinfo=UTC)
        events.setdefault(record["event_id"], {**record, "occurred_at": when.astimezone(UTC)})
    return list(events.values())


def actor_of(event: dict) -> str | None:
    actor = event.get("actor")
    return actor.get("id") if isinstance(actor, dict) else None


def in_window(events: list[dict], event_type: str, days: int, *, back: int = 0) -> list[dict]:
    """Events of ``event_type`` with as_of − (back+1)·days < occurred_at ≤ as_of − back·days."""
    until = AS_OF - timedelta(days=days * back)
    since = until - timedelta(days=days)
    return [
        e for e in events if e["event_type"] == event_type and since < e["occurred_at"] <= until
    ]


def busiest(events: list[dict]) -> list[tuple[str, int]]:
    """(actor id, events) most first: what the demo's 'Busiest actors' query answers."""
    return sorted(Counter(actor_of(e) for e in events).items(), key=lambda kv: (-kv[1], kv[0]))


@pytest.fixture(scope="module")
def demo_events_read() -> list[dict]:
    return demo_events()


# -- locators -------------------------------------------------------------------------------------


def kpi_card(page: Page, label: str) -> Locator:
    """The KPI box whose label starts with ``label`` ('count', 'sum:payload.pnl')."""
    return page.locator(".opdash-kpi").filter(
        has=page.locator(".opdash-kpi-label", has_text=re.compile(f"^{re.escape(label)} ·"))
    )


def json_row(scope: Page | Locator, key: str) -> Locator:
    """The row of a JSON card (or of a part of one) whose own key, its <th> rather than a
    nested one, is ``key``."""
    page = scope.page if isinstance(scope, Locator) else scope
    rows = scope.locator("tr") if isinstance(scope, Locator) else scope.locator(".opdash-state tr")
    own_key = page.locator(":scope > th", has_text=re.compile(f"^{re.escape(key)}$"))
    return rows.filter(has=own_key)


def shown(value) -> str:
    """A JSON scalar as a JSON card shows it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def json_value(scope: Page | Locator, key: str) -> Locator:
    return json_row(scope, key).locator(":scope > td")


def markdown_rows(page: Page) -> Locator:
    return page.locator(".opdash-markdown table tbody tr")


def markdown_table(path: Path) -> list[list[str]]:
    """The cells of the body rows of the first pipe table of a Markdown file."""
    lines = [line.strip() for line in path.read_text("utf-8").splitlines()]
    table = [line for line in lines if line.startswith("|")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in table[2:]]


def sql_rows(page: Page, first_column: str) -> Locator:
    """The rows of the SQL tile's table (the one with ``first_column``)."""
    table = page.locator(".tabulator").filter(has=cell(page, first_column))
    return table.locator(".tabulator-row")


def expect_sql_table(page: Page, rows: list[tuple[str, int]]) -> None:
    """The Busiest actors table holds exactly ``rows`` (actor id, count), in order."""
    table = sql_rows(page, "actor_id")
    expect(table).to_have_count(len(rows), timeout=SLOW)
    expect(cell(table, "actor_id")).to_have_text([a for a, _ in rows])
    expect(cell(table, "n")).to_have_text([str(n) for _, n in rows])


def expect_no_dialogs_or_markup(page: Page, dialogs: list[str]) -> None:
    expect(page.locator('img[src="x"]')).to_have_count(0, timeout=2_000)
    expect(page.locator(".opdash-state script, .opdash-markdown script")).to_have_count(0)
    assert dialogs == []


def funnel_table(page: Page, index: int) -> Locator:
    """The step table of the ``index``-th funnel on the page."""
    return page.locator(".tabulator").filter(has=cell(page, "From start")).nth(index)


def funnel_count(page: Page, index: int, event_type: str) -> Locator:
    row = funnel_table(page, index).locator(".tabulator-row")
    row = row.filter(has=cell(page, "Event type", event_type))
    return row.locator('.tabulator-cell[tabulator-field="Count"]')


def write_atomically(path: Path, text: str) -> None:
    """As an exporter does: a temporary file renamed over the old one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# -- 1. the demo's State page ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_state_url(browser: Browser):
    """One server over the demo folder (its dashboard.yaml) for the tests that only read."""
    with opdash_serve(DEMO, ready_query=STATE_PAGE) as url:
        warm_up(browser, url, {STATE_PAGE: ["P3-execution", "Phase index", "scanner-agent"]})
        yield url


def test_the_demo_state_page_shows_kpis_json_markdown_and_sql(
    page: Page, demo_state_url, console, demo_events_read
):
    events = demo_events_read
    page.goto(demo_state_url + STATE_PAGE)
    expect(nav(page, "State")).to_have_class(re.compile(r"\bbk-active\b"), timeout=SLOW)

    # the KPIs: trade.closed in the 7 days ending at the end of the page's last day
    closed = in_window(events, "trade.closed", 7)
    before = in_window(events, "trade.closed", 7, back=1)
    assert closed and before  # the demo has trades in both windows
    count = kpi_card(page, "count")
    expect(count.locator(".opdash-kpi-value")).to_have_text(f"{len(closed):,}", timeout=SLOW)
    change = (len(closed) - len(before)) / len(before) * 100
    expect(count.locator(".opdash-kpi-note")).to_have_text(
        f"{change:+.1f}% vs the 7d before ({len(before):,})"
    )
    pnl = math.fsum(e["payload"]["pnl"] for e in closed)
    pnl_before = math.fsum(e["payload"]["pnl"] for e in before)
    card = kpi_card(page, "sum:payload.pnl")
    expect(card.locator(".opdash-kpi-value")).to_have_text(f"{pnl:,.2f}", timeout=SLOW)
    expect(card.locator(".opdash-kpi-note")).to_contain_text(
        f"vs the 7d before ({pnl_before:,.2f})"
    )
    for title in ("Trades closed, last 7 days", "Realised PnL, last 7 days", "Busiest actors"):
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()

    # the JSON card: the file's keys and values; a folded object opens on a click
    state = json.loads((DEMO / STATE_JSON).read_text("utf-8"))
    expect(page.get_by_role("heading", name=STATE_JSON.as_posix(), exact=True)).to_be_visible()
    expect(page.locator(".opdash-state-meta").first).to_contain_text(STATE_JSON.as_posix())
    scalars = {k: v for k, v in state.items() if not isinstance(v, dict | list)}
    assert "phase" in scalars
    for key, value in scalars.items():
        expect(json_value(page, key)).to_have_text(shown(value), timeout=SLOW)
    for key, value in state["counters"].items():
        expect(json_value(page, key)).to_have_text(shown(value))
    queue = json_row(page, "queue")
    folded = queue.locator(":scope > td > details")
    expect(folded).not_to_have_attribute("open", re.compile(".*"))
    inner = state["orchestrator"]["queue"]
    for key in inner:
        expect(json_row(folded, key)).to_be_hidden()
    folded.locator(":scope > summary").click()
    expect(folded).to_have_attribute("open", "")
    for key, value in inner.items():
        expect(json_value(folded, key)).to_be_visible()
        expect(json_value(folded, key)).to_have_text(shown(value))

    # the Markdown: its heading and its table, rendered
    markdown = page.locator(".opdash-markdown")
    expect(markdown.locator("h1")).to_have_text("Phase index", timeout=SLOW)
    expected = markdown_table(DEMO / PHASE_INDEX)
    expect(markdown_rows(page)).to_have_count(len(expected))
    for row, cells in zip(markdown_rows(page).all(), expected, strict=True):
        expect(row.locator("td")).to_have_text(cells)
    expect(markdown.locator("table th")).to_have_text(["Phase", "Status", "Owner", "Notes"])

    # the SQL tile: actors by their number of events, counted from the files
    top = busiest(events)
    assert top[0] == ("scanner-agent", 446)
    expect_sql_table(page, top[:10])

    expect_no_error_cards(page)
    assert console == []


# -- 2. the page's filters narrow the SQL tile ----------------------------------------------------


def test_an_actor_chosen_in_the_sidebar_narrows_the_sql_tile(
    page: Page, demo_state_url, console, demo_events_read
):
    events = demo_events_read
    page.goto(demo_state_url + STATE_PAGE)
    expect_sql_table(page, busiest(events)[:10])

    actors = page.locator(".bk-input-group", has_text="Actors")
    actors.locator("input.choices__input--cloned").click()
    actors.locator('.choices__item--choice[data-value="op-alice"]').click()
    page.keyboard.press("Escape")
    expect(page).to_have_url(url_has("page=state", "to=2026-11-20", "actor=op-alice"))
    alice = [e for e in events if actor_of(e) == "op-alice"]
    expect_sql_table(page, [("op-alice", len(alice))])
    # the KPIs read the actor too: op-alice closes no trades
    closed = [e for e in in_window(events, "trade.closed", 7) if actor_of(e) == "op-alice"]
    expect(kpi_card(page, "count").locator(".opdash-kpi-value")).to_have_text(
        f"{len(closed):,}", timeout=SLOW
    )

    # and the date range: events of the page's days only
    page.goto(demo_state_url + STATE_PAGE + "&from=2026-11-15&actor=op-alice")
    since = datetime(2026, 11, 15, tzinfo=UTC)
    recent = [e for e in alice if since <= e["occurred_at"] <= AS_OF]
    assert 0 < len(recent) < len(alice)
    expect_sql_table(page, [("op-alice", len(recent))])
    expect_no_error_cards(page)
    assert console == []


# -- 3. state files change under an open page -----------------------------------------------------


def test_state_files_update_live_without_a_reload(page: Page, browser: Browser, tmp_path, console):
    folder = copy_demo(tmp_path / "live-state")
    with opdash_serve(folder, "--refresh", "1", ready_query=STATE_PAGE) as url:
        warm_up(browser, url, {STATE_PAGE: ["P3-execution", "Phase index", "scanner-agent"]})
        page.goto(url + STATE_PAGE)
        expect(json_value(page, "phase")).to_have_text("P3-execution", timeout=SLOW)
        expect(page.locator(".opdash-markdown h1")).to_have_text("Phase index", timeout=SLOW)
        page.evaluate("window.__same_page = true")  # gone if the page reloads

        state = json.loads((folder / STATE_JSON).read_text("utf-8"))
        state["phase"] = "P4-live"
        state["live_probe"] = "written while the page was open"
        write_atomically(folder / STATE_JSON, json.dumps(state, indent=2))
        expect(json_value(page, "phase")).to_have_text("P4-live", timeout=LIVE)
        expect(json_value(page, "live_probe")).to_have_text("written while the page was open")

        index = folder / PHASE_INDEX  # this one rewritten in place, a row added to its table
        lines = index.read_text("utf-8").replace("# Phase index", "# Phase index, rewritten live")
        lines = lines.splitlines()
        last_row = max(i for i, line in enumerate(lines) if line.startswith("|"))
        lines.insert(last_row + 1, "| P5 Live | new | probe | appended |")
        index.write_text("\n".join(lines) + "\n", encoding="utf-8")
        expect(page.locator(".opdash-markdown h1")).to_have_text(
            "Phase index, rewritten live", timeout=LIVE
        )
        expect(markdown_rows(page).last.locator("td")).to_have_text(
            ["P5 Live", "new", "probe", "appended"]
        )
        assert page.evaluate("window.__same_page") is True
        expect_no_error_cards(page)
        assert console == []


# -- 4. a spec from --spec: per-tile URL keys, columns, headings, the title -----------------------

CUSTOM_SPEC = """\
version: 1
title: Desk 7 console
pages:
  - title: Compare
    tiles:
      - type: funnel
        title: Whole fortnight
        controls: true
        window: 14d
      - type: funnel
        title: Same hour
        controls: true
        window: 6h
  - title: Side by side
    name: side
    layout:
      columns: 2
    tiles:
      - type: kpi
        title: Signals this week
        event_types: [signal.created]
        window: 7d
      - type: json-state
        title: ''
        source: state/orchestrator/STATE.json
"""


def test_a_spec_from_a_file_outside_the_folder_draws_its_pages(
    page: Page, browser: Browser, tmp_path, console, demo_events_read
):
    spec = tmp_path / "elsewhere" / "desk7.yaml"
    spec.parent.mkdir()
    spec.write_text(CUSTOM_SPEC, encoding="utf-8")
    day = "to=2026-11-20"
    with opdash_serve(DEMO, "--spec", str(spec), ready_query=f"?page=side&{day}") as url:
        warm_up(browser, url, {f"?{day}": ["From start"], f"?page=side&{day}": ["P3-execution"]})
        page.goto(f"{url}?{day}")

        # the spec's title: in the header and the browser tab
        expect(page.locator(".opdash-header .opdash-folder")).to_have_text("Desk 7 console")
        expect(page).to_have_title("opdash · Desk 7 console")
        expect(nav(page, "Compare")).to_have_class(re.compile(r"\bbk-active\b"))
        expect(nav(page, "Side by side")).to_be_visible()

        # two controlled funnels: each its own window; the second's keys are prefixed t2-
        for title in ("Whole fortnight", "Same hour"):
            expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
        windows = page.get_by_label(WINDOW)
        expect(windows).to_have_count(2, timeout=SLOW)
        expect(windows.nth(0)).to_have_value("14d")
        expect(windows.nth(1)).to_have_value("6h")
        expect(funnel_count(page, 0, "signal.created")).to_be_visible(timeout=SLOW)
        expect(funnel_count(page, 1, "signal.created")).to_be_visible(timeout=SLOW)
        first_rows = funnel_table(page, 0).locator(".tabulator-row").all_text_contents()

        windows.nth(1).fill("1h")
        windows.nth(1).press("Enter")
        expect(page).to_have_url(url_has(day, "t2-window=1h"))
        assert not re.search(r"[?&]window=", page.url), page.url
        expect(funnel_count(page, 1, "trade.closed")).to_have_text("0", timeout=SLOW)
        expect(funnel_table(page, 0).locator(".tabulator-row")).to_have_text(first_rows)
        expect(windows.nth(0)).to_have_value("14d")

        windows.nth(0).fill("2d")
        windows.nth(0).press("Enter")
        expect(page).to_have_url(url_has(day, "window=2d", "t2-window=1h"))
        expect(funnel_table(page, 0).locator(".tabulator-row")).not_to_have_text(
            first_rows, timeout=SLOW
        )
        first_rows = funnel_table(page, 0).locator(".tabulator-row").all_text_contents()
        second_rows = funnel_table(page, 1).locator(".tabulator-row").all_text_contents()

        page.reload()  # the URL restores both tiles' windows and what they show
        windows = page.get_by_label(WINDOW)
        expect(windows.nth(0)).to_have_value("2d", timeout=SLOW)
        expect(windows.nth(1)).to_have_value("1h")
        expect(funnel_table(page, 0).locator(".tabulator-row")).to_have_text(
            first_rows, timeout=SLOW
        )
        expect(funnel_table(page, 1).locator(".tabulator-row")).to_have_text(second_rows)

        # a two-column page: the tiles side by side; a title '' leaves the tile unheaded
        nav(page, "Side by side").click()
        expect(page).to_have_url(url_has("page=side", day))
        signals = in_window(demo_events_read, "signal.created", 7)
        kpi = kpi_card(page, "count")
        expect(kpi.locator(".opdash-kpi-value")).to_have_text(f"{len(signals):,}", timeout=SLOW)
        state = page.locator(".opdash-state")
        expect(state).to_contain_text("P3-execution", timeout=SLOW)
        expect(page.get_by_role("heading", name="Signals this week", exact=True)).to_be_visible()
        expect(page.locator(".opdash-main h2")).to_have_text(["Signals this week"])
        expect(page.locator(".opdash-state-meta")).to_contain_text(STATE_JSON.as_posix())
        left, right = kpi.bounding_box(), state.bounding_box()
        assert left and right
        assert left["x"] + left["width"] <= right["x"], (left, right)  # side by side
        assert right["y"] < left["y"] + left["height"], (left, right)  # on one row
        assert left["width"] > 200 and right["width"] > 200, (left, right)
        expect_no_error_cards(page)
        assert console == []


# -- 5. --lenient draws the valid tiles and an error card for each broken one ---------------------

LENIENT_SPEC = """\
version: 1
title: Half broken
pages:
  - title: Mixed
    tiles:
      - type: kpi
        title: Signals this week
        event_types: [signal.created]
        window: 7d
      - type: funnnel
        controls: true
      - type: json-state
        source: state/nowhere/GONE.json
      - type: json-state
        source: state/orchestrator/STATE.json
"""


def test_lenient_serve_draws_error_cards_in_place_of_broken_tiles(
    page: Page, browser: Browser, tmp_path, console, demo_events_read
):
    folder = copy_demo(tmp_path / "lenient")
    spec = tmp_path / "broken.yaml"
    spec.write_text(LENIENT_SPEC, encoding="utf-8")
    query = "?to=2026-11-20"
    with opdash_serve(
        folder, "--refresh", "1", "--lenient", "--spec", str(spec), ready_query=query
    ) as url:
        warm_up(browser, url, {query: ["P3-execution"]})
        page.goto(url + query)

        # the valid tiles are drawn
        signals = in_window(demo_events_read, "signal.created", 7)
        kpi = kpi_card(page, "count").locator(".opdash-kpi-value")
        expect(kpi).to_have_text(f"{len(signals):,}", timeout=SLOW)
        expect(json_value(page, "phase")).to_have_text("P3-execution", timeout=SLOW)
        expect(page.locator(".opdash-header .opdash-folder")).to_have_text("Half broken")

        # each broken one is an error card saying what is wrong, where the tile would be
        cards = page.locator(".opdash-error")
        expect(cards).to_have_count(2)
        typo, missing = cards.nth(0), cards.nth(1)
        expect(typo).to_contain_text("This tile could not be shown")
        expect(typo).to_contain_text("unknown tile type 'funnnel'")
        expect(typo).to_contain_text("did you mean 'funnel'?")
        expect(typo).to_contain_text(f"{spec}:10")
        expect(missing).to_contain_text("state/nowhere/GONE.json: no such file in the artifact")
        expect(missing).to_contain_text(f"{spec}:13")
        ys = [
            box["y"]
            for box in (
                kpi.bounding_box(),
                typo.bounding_box(),
                missing.bounding_box(),
                page.locator(".opdash-state").bounding_box(),
            )
            if box
        ]
        assert len(ys) == 4 and ys == sorted(ys), ys  # in the spec's order

        # a state file that goes away while served: a runtime error card naming its path
        (folder / STATE_JSON).unlink()
        gone = cards.filter(has_text=f"{STATE_JSON.as_posix()} could not be shown")
        expect(gone).to_be_visible(timeout=LIVE)
        expect(gone).to_contain_text(f"{STATE_JSON.as_posix()}: no such file in the artifact")
        expect(page.locator(".opdash-state")).to_have_count(0)
        expect(cards).to_have_count(3)

        # and back: the card gives way to the file again
        write_atomically(folder / STATE_JSON, json.dumps({"phase": "P5-back"}))
        expect(json_value(page, "phase")).to_have_text("P5-back", timeout=LIVE)
        expect(cards).to_have_count(2)
        expect(kpi).to_have_text(f"{len(signals):,}")
        assert console == []


# -- 6. hostile strings from data stay text on the new tiles --------------------------------------

HOSTILE_SPEC = """\
version: 1
title: Hostile desk
pages:
  - title: Hostile
    tiles:
      - type: json-state
        source: state/STATE.json
      - type: markdown
        source: state/NOTES.md
      - type: sql
        title: Notes
        sql: >-
          SELECT event_id, json_extract_string(payload, '$.note') AS note, payload
          FROM events ORDER BY event_id
  - title: Long list
    name: long
    tiles:
      - type: json-state
        source: state/LONG.json
"""
HOSTILE_STATE = {
    HOSTILE_IMG: HOSTILE_IMG,
    "nested": {"<script>alert(2)</script>": "<b>not bold</b>"},
    "list": ["<img src=x onerror=alert(3)>"],
}
HOSTILE_NOTES = """\
# Notes <img src=x onerror=alert(4)>

<script>alert(5)</script>

Inline <img src=x onerror=alert(6)> and [a link](javascript:alert(7)).
"""
#: More rows than a JSON card draws (MAX_ROWS = 500 in opdash.components.state).
LONG_LIST = [{"i": i} for i in range(600)]


@pytest.fixture(scope="module")
def hostile_url(browser: Browser, tmp_path_factory):
    """A small folder whose state files and events hold markup, served with its own spec."""
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "events").mkdir()
    events = [
        {
            "event_id": f"evt-h-{i}",
            "event_type": "probe.hostile",
            "occurred_at": f"2026-11-20T10:0{i}:00Z",
            "actor": {"id": "probe", "type": "ai_agent"},
            "payload": {"note": "<b>x</b>"},
        }
        for i in range(2)
    ]
    (folder / "events" / "e.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in events), encoding="utf-8"
    )
    (folder / "state").mkdir()
    (folder / "state" / "STATE.json").write_text(json.dumps(HOSTILE_STATE), encoding="utf-8")
    (folder / "state" / "NOTES.md").write_text(HOSTILE_NOTES, encoding="utf-8")
    (folder / "state" / "LONG.json").write_text(json.dumps(LONG_LIST), encoding="utf-8")
    (folder / "dashboard.yaml").write_text(HOSTILE_SPEC, encoding="utf-8")
    with opdash_serve(folder, ready_query="?page=long") as url:
        warm_up(
            browser,
            url,
            {"?page=hostile": ["evt-h-1", "alert(5)", "alert(1)"], "?page=long": ["499"]},
        )
        yield url


def test_hostile_text_in_state_files_and_sql_rows_stays_text(page: Page, hostile_url, console):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(hostile_url + "?page=hostile")

    # the JSON card: a hostile key and value, and nested ones, as text
    row = json_row(page, HOSTILE_IMG)
    expect(row).to_be_visible(timeout=SLOW)
    expect(row.locator(":scope > td")).to_have_text(HOSTILE_IMG)
    expect(json_value(page, "<script>alert(2)</script>")).to_have_text("<b>not bold</b>")
    expect(json_value(page, "0")).to_have_text("<img src=x onerror=alert(3)>")
    expect(page.locator(".opdash-state b")).to_have_count(0)

    # the Markdown: raw HTML shown as text, no javascript: link made
    markdown = page.locator(".opdash-markdown")
    expect(markdown.locator("h1")).to_have_text("Notes <img src=x onerror=alert(4)>", timeout=SLOW)
    expect(markdown.get_by_text("<script>alert(5)</script>", exact=True)).to_be_visible()
    expect(markdown).to_contain_text("Inline <img src=x onerror=alert(6)> and")
    expect(markdown).to_contain_text("[a link](javascript:alert(7))")
    expect(markdown.locator("a")).to_have_count(0)

    # the SQL tile: a payload holding markup is a cell's text
    notes = sql_rows(page, "note")
    expect(notes).to_have_count(2, timeout=SLOW)
    expect(cell(notes, "note")).to_have_text(["<b>x</b>", "<b>x</b>"])
    expect(cell(notes, "payload").first).to_contain_text("<b>x</b>")
    expect(page.locator(".tabulator b")).to_have_count(0)

    expect_no_dialogs_or_markup(page, dialogs)
    expect_no_error_cards(page)
    assert console == []


# -- 7. a JSON card longer than it draws ----------------------------------------------------------


def test_a_long_json_list_says_how_many_items_it_leaves_out(page: Page, hostile_url, console):
    """A JSON card draws the first 500 rows of a list and counts the rest *as items*."""
    page.goto(hostile_url + "?page=long")
    shown = 500  # MAX_ROWS of opdash.components.state
    rows = page.locator(".opdash-state > table > tbody > tr")  # the top level only
    expect(rows).to_have_count(shown + 1, timeout=SLOW)
    expect(rows.nth(0).locator(":scope > th")).to_have_text("0")
    expect(rows.nth(shown - 1).locator(":scope > th")).to_have_text(str(shown - 1))
    expect(rows.last.locator(":scope > th")).to_have_text("…")
    expect(rows.last.locator(":scope > td")).to_have_text(f"{len(LONG_LIST) - shown:,} more items")
    expect_no_error_cards(page)
    assert console == []
