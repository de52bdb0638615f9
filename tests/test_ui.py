"""A real Chromium against a real ``opdash serve``: what an operator sees and does."""

from __future__ import annotations

import json
import shutil

import pytest
from playwright.sync_api import Page, expect

from tests.servers import CHROMIUM_ARGS, DEMO, chromium_path, opdash_serve

pytestmark = pytest.mark.ui


@pytest.fixture(scope="session")
def browser_type_launch_args():
    """pytest-playwright's browser, but Debian's chromium (nothing can be downloaded here)."""
    return {"executable_path": chromium_path(), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def demo_url():
    with opdash_serve(DEMO) as url:
        yield url


def console_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def count_cell(page: Page, label: str):
    """The Count cell of a step's row in the funnel table."""
    row = page.locator(".tabulator-row", has_text=label).first
    return row.locator('.tabulator-cell[tabulator-field="Count"]')


def step_count(page: Page, label: str) -> int:
    return int(count_cell(page, label).inner_text().replace(",", ""))


def test_demo_dashboard_renders_without_console_errors(page: Page, demo_url):
    errors = console_errors(page)
    page.goto(demo_url)
    expect(page.get_by_text("Operator loop funnel")).to_be_visible(timeout=20000)
    expect(count_cell(page, "signal.created")).to_be_visible(timeout=20000)
    expect(page.get_by_text("Data quality").first).to_be_visible()
    assert step_count(page, "signal.created") == 240
    page.wait_for_timeout(500)
    assert errors == []


def test_changing_the_window_changes_the_funnel(page: Page, demo_url):
    page.goto(demo_url)
    expect(count_cell(page, "signal.created")).to_be_visible(timeout=20000)
    closed_14d = step_count(page, "trade.closed")
    window = page.get_by_role("textbox").last
    window.fill("1h")
    window.press("Enter")
    expect(page.locator(".tabulator-row", has_text="trade.closed").first).not_to_contain_text(
        f"{closed_14d}", timeout=15000
    )
    assert step_count(page, "trade.closed") < closed_14d


def test_empty_folder_explains_the_layout(page: Page, tmp_path):
    with opdash_serve(tmp_path) as url:
        page.goto(url)
        expect(page.get_by_text("No artifacts in")).to_be_visible(timeout=20000)
        expect(page.get_by_text("opdash demo demo-folder")).to_be_visible()


def test_broken_lines_are_reported_and_hostile_text_stays_text(page: Page, tmp_path):
    folder = tmp_path / "art"
    shutil.copytree(DEMO, folder)
    hostile = {
        "event_id": "evil-1",
        "event_type": "<script>window.__pwned=1</script>",
        "occurred_at": "2026-11-20T10:00:00Z",
        "correlation": {"workflow_id": "wf-evil"},
    }
    with (folder / "events" / "extra.jsonl").open("w") as fh:
        fh.write(json.dumps(hostile) + "\n{not json\n")
        fh.write('{"event_id": "x", "occurred_at": "<img src=x onerror=window.__pwned=2>"}\n')
    with opdash_serve(folder) as url:
        page.goto(url)
        expect(page.get_by_text("Data quality").first).to_be_visible(timeout=20000)
        expect(page.get_by_text("events/extra.jsonl").first).to_be_visible()
        expect(page.get_by_text("7 records quarantined", exact=False)).to_be_visible()
        assert page.evaluate("window.__pwned === undefined")


def test_an_appended_event_shows_up_live(page: Page, tmp_path):
    folder = tmp_path / "live"
    shutil.copytree(DEMO, folder)
    with opdash_serve(folder, "--refresh", "1") as url:
        page.goto(url)
        expect(page.get_by_text("1,073").first).to_be_visible(timeout=20000)
        line = {
            "event_id": "live-1",
            "event_type": "signal.created",
            "occurred_at": "2026-11-20T15:59:59Z",
            "correlation": {"workflow_id": "wf-live"},
        }
        with (folder / "events" / "scanner" / "live.jsonl").open("w") as fh:
            fh.write(json.dumps(line) + "\n")
        expect(page.get_by_text("1,074").first).to_be_visible(timeout=10000)
        expect(count_cell(page, "signal.created")).to_have_text("241", timeout=10000)
