"""The dashboard on Spark: a real Chromium against a real ``opdash serve data/demo --engine
spark`` (a local Spark Connect server started by that process).

The pages read the same as on DuckDB (the checks are ``test_ui``'s own), a filter change is
answered by Spark and agrees with DuckDB's answer to the same question, and the demo's SQL tile
says in its card why it does not run on Spark while the rest of its page draws.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.fixtures import needs_spark
from tests.servers import DEMO, opdash_serve
from tests.ui.test_ui import (
    DAY,
    DEMO_NEWEST,
    READY,
    TO,
    check_funnels,
    check_overview,
    date_input,
    expect_no_error_cards,
    nav,
    pick_day,
    set_window,
    step_count,
    url_has,
    warm_up,
)

pytestmark = [pytest.mark.ui, needs_spark()]

#: A question Spark has not answered yet: planning and a few stages on a 2-core machine.
SPARK_SLOW = 90_000


@pytest.fixture(scope="module")
def spark_url(browser: Browser):
    """One Spark-backed server over the demo folder: the local Spark starts with it (~30 s)."""
    with opdash_serve(DEMO, "--engine", "spark", timeout=300, ready_query=READY) as url:
        warm_up(
            browser,
            url,
            {f"?{DAY}": ["Closed trades this week"], f"?page=funnels&{DAY}": ["Count"]},
        )
        yield url


def test_the_overview_and_funnels_render_on_spark(page: Page, spark_url, console):  # noqa: F811
    page.goto(f"{spark_url}?{DAY}")
    check_overview(page, SPARK_SLOW)
    expect(page.get_by_text(DEMO_NEWEST)).to_be_visible()
    expect_no_error_cards(page)

    nav(page, "Funnels").click()
    expect(page).to_have_url(url_has("page=funnels", DAY))
    check_funnels(page, SPARK_SLOW)
    expect_no_error_cards(page)
    assert console == []


def test_a_filter_change_is_answered_by_spark_as_by_duckdb(
    page: Page,
    spark_url,
    console,
):
    page.goto(f"{spark_url}?page=funnels&{DAY}")
    expect(step_count(page, "trade.closed")).to_have_text("48", timeout=SPARK_SLOW)

    set_window(page, "1h")  # a view's own choice: a new funnel question
    expect(page).to_have_url(url_has("page=funnels", DAY, "window=1h"))
    expect(step_count(page, "trade.closed")).to_have_text("0", timeout=SPARK_SLOW)
    expect(step_count(page, "signal.created")).to_have_text("240")
    set_window(page, "14d")
    expect(step_count(page, "trade.closed")).to_have_text("48", timeout=SPARK_SLOW)

    pick_day(page, TO, "November 10, 2026")  # a sidebar filter: every view asks again
    expect(page).to_have_url(url_has("page=funnels", "to=2026-11-10"))
    expect(date_input(page, TO)).to_have_value("2026-11-10")
    want = funnel_on_duckdb(end=date(2026, 11, 10))
    for event_type, count in want.items():
        expect(step_count(page, event_type)).to_have_text(f"{count:,}", timeout=SPARK_SLOW)
    assert want["signal.created"] < 240
    expect_no_error_cards(page)
    assert console == []


def test_the_sql_tile_says_why_it_does_not_run_on_spark(page: Page, spark_url):
    page.goto(f"{spark_url}?page=state&{DAY}")
    refused = page.get_by_text(re.compile("SQL tiles are DuckDB SQL and do not run on the Spark"))
    expect(refused).to_be_visible(timeout=SPARK_SLOW)
    expect(page.get_by_text("Trades closed, last 7 days")).to_be_visible()
    expect(page.get_by_text("could not be shown")).to_have_count(1)  # that tile, only


def funnel_on_duckdb(**filters) -> dict[str, int]:
    """The Funnels page's funnel with these filters, asked of DuckDB (step -> count)."""
    from opdash.app import tile_view
    from opdash.catalog import open_catalog
    from opdash.components.filters import Filters
    from opdash.spec import check_folder

    catalog = open_catalog(DEMO)
    tile = check_folder(DEMO, catalog=catalog).spec.page("funnels").tiles[0]
    result = tile_view(catalog, tile, Filters(**filters)).cached_data()
    return {step.event_type: step.count for step in result.steps}
