"""RetentionView: the grid a user reads (heat map cells, table, caption) equals the metric's,
the page's filters reach it (range, zone, actors), data strings stay text, and the tile is
checked like every other (schema, unseen event types)."""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path

import holoviews as hv
import panel as pn

import opdash
from opdash.components.filters import Filters
from opdash.components.retention import RetentionView
from opdash.spec import check_spec_text
from tests.properties.test_retention import WEEKS, open_events

SCRIPT = "<script>alert(1)</script>"
NOVEMBER = Filters(start=date(2026, 11, 2), end=date(2026, 11, 22))


def text_of(layout) -> str:
    return html.unescape(" ".join(p.object for p in layout.select(pn.pane.HTML)))


def test_the_view_draws_the_metric_grid(tmp_path: Path) -> None:
    catalog = open_events(tmp_path, WEEKS)
    view = RetentionView(
        catalog, filters=NOVEMBER, start_event="signup", return_event="visit", periods=3
    )
    result = view.data()
    want = opdash.retention(catalog, "signup", "visit", periods=3, since="2026-11-02",
                            until="2026-11-23", as_of="2026-11-22T23:59:59.999999Z")  # fmt: skip
    assert [c.values for c in result.cohorts] == [c.values for c in want.cohorts]
    assert [c.values for c in result.cohorts] == [[2, 1, 2], [1, 0], [0]]
    layout = view.draw(result)
    (table,) = layout.select(pn.widgets.Tabulator)
    rows = table.value.set_index("cohort")
    assert rows.loc["2026-11-02", "+1"] == "50.0% (1)"
    assert rows.loc["2026-11-09", "+1"] == "0.0% (0)*"  # the week holding as-of is not over
    assert rows.loc["2026-11-16", "+1"] == ""
    assert rows.loc["mean (by size)", "+1"] == "33.3%"
    (chart,) = layout.select(pn.pane.HoloViews)
    heat = next(e for e in chart.object if isinstance(e, hv.HeatMap))
    cell = heat.dframe().set_index(["cohort", "offset"])
    assert cell.loc[("2026-11-02", "+2"), "percent"] == 100.0
    assert "first-time cohorts of signup by actor.id, per week in UTC" in text_of(layout)
    pn.Column(layout).get_root()  # the Bokeh models build


def test_filters_narrow_the_cohorts(tmp_path: Path) -> None:
    catalog = open_events(tmp_path, WEEKS)
    only_b = Filters(start=date(2026, 11, 2), end=date(2026, 11, 22), actors=["b"])
    view = RetentionView(catalog, filters=only_b, start_event="signup", return_event="visit",
                         periods=3)  # fmt: skip
    assert [c.values for c in view.data().cohorts] == [[1, 0, 1], [0, 0], [0]]
    view.cumulative = True
    assert view.data().cohorts[0].values == [1, 1, 1]


def test_empty_states_and_markup_stay_text(tmp_path: Path) -> None:
    events = [
        {"event_id": "1", "event_type": SCRIPT, "occurred_at": "2026-11-02T10:00:00Z",
         "actor": {"id": SCRIPT}},
        {"event_id": "2", "event_type": SCRIPT, "occurred_at": "2026-11-10T10:00:00Z",
         "actor": {"id": SCRIPT}},
    ]  # fmt: skip
    catalog = open_events(tmp_path, events)
    assert "Choose the events" in text_of(pn.Column(RetentionView(catalog).draw(None)))
    view = RetentionView(catalog, filters=NOVEMBER, start_event=SCRIPT, return_event=SCRIPT)
    layout = view.draw(view.data())
    objects = [p.object for p in layout.select(pn.pane.HTML)]
    assert objects and all("<script" not in o for o in objects)
    assert SCRIPT in text_of(layout)
    pane = pn.panel(RetentionView(catalog, start_event="sign-up", return_event=SCRIPT))
    assert "Retention could not be shown" in text_of(pane)  # an unknown event: the error card


def test_the_tile_is_checked_like_the_others() -> None:
    text = """version: 1
pages:
  - title: Cohorts
    tiles:
      - type: retention
        start_event: signal.creatd
        return_event: signal.created
        interval: week
        periods: 6
        mode: recurring
"""
    spec, problems, _ = check_spec_text(text)
    assert spec is not None and problems == []
    tile = spec.pages[0].tiles[0]
    assert tile.kind.component_class() is RetentionView and tile.options["periods"] == 6
    bad = text.replace("periods: 6", "periods: 0").replace("mode: recurring", "mode: again")
    _spec, problems, _ = check_spec_text(bad)
    assert {p.line for p in problems} == {9, 10} and all(p.severity == "error" for p in problems)


def test_an_event_type_the_data_lacks_is_a_warning(tmp_path: Path) -> None:
    from opdash.spec import check_folder

    open_events(tmp_path, WEEKS)
    (tmp_path / "dashboard.yaml").write_text(
        "version: 1\npages:\n  - title: Cohorts\n    tiles:\n      - type: retention\n"
        "        start_event: signup\n        return_event: vist\n"
    )
    report = check_folder(tmp_path)
    (warning,) = [p for p in report.problems if p.area == "spec"]
    assert warning.severity == "warning" and warning.line == 5
    assert "event type 'vist' in return_event never occurs" in warning.message
    assert "did you mean 'visit'" in warning.message
