"""PathsView: the Sankey and node table a user reads equal the metric's, each node sits in its
step's column, a click on a node (in the diagram or the table) lists its entities and one of
those opens its chain, the page's filters reach it, data strings stay text, and the tile is
checked like every other."""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path

import holoviews as hv
import panel as pn

import opdash
from opdash.components.chain import WorkflowChain
from opdash.components.filters import Filters
from opdash.components.paths import PathsView, node_at
from opdash.spec import check_spec_text
from tests.properties.test_paths import DOCS, ev, open_events

SCRIPT = "<script>alert(1)</script>"
NOVEMBER = Filters(start=date(2026, 11, 2), end=date(2026, 11, 22))


def text_of(layout) -> str:
    return html.unescape(" ".join(p.object for p in layout.select(pn.pane.HTML)))


def sankey_of(layout) -> hv.Sankey:
    (chart,) = layout.select(pn.pane.HoloViews)
    return chart.object


def test_the_view_draws_the_metric_edges_in_step_columns(tmp_path: Path) -> None:
    catalog = open_events(tmp_path, DOCS)
    view = PathsView(catalog, filters=NOVEMBER, event="A")
    answer = view.data()
    want = opdash.paths(catalog, start="A")
    assert answer.result.to_dict()["edges"] == want.to_dict()["edges"]
    layout = view.draw(answer)
    diagram = sankey_of(layout)
    flows = {(r.source, r.target): r.entities for r in diagram.dframe().itertuples()}
    assert flows[("1: A", "2: C")] == 1 and flows[("2: B", "3: C")] == 1
    columns = {n["index"]: n["column"] for n in diagram._sankey["nodes"]}
    assert columns["2: C"] == 1  # w2's path ends there: still drawn in step 2's column
    assert columns["4: A"] == 3
    (nodes, *_) = layout.select(pn.widgets.Tabulator)
    rows = {(r.step, r._2): r.entities for r in nodes.value.itertuples()}
    assert rows[(1, "A")] == 3 and rows[(3, "C")] == 1
    assert "3 entities by correlation.workflow_id" in text_of(layout)
    pn.Column(layout).get_root()  # the Bokeh models build


def test_a_tap_on_a_node_lists_its_entities_newest_first(tmp_path: Path) -> None:
    catalog = open_events(tmp_path, DOCS)
    view = PathsView(catalog, filters=NOVEMBER, event="A")
    diagram = sankey_of(view.draw(view.data()))
    node = next(n for n in diagram._sankey["nodes"] if n["index"] == "1: A")
    x, y = (node["x0"] + node["x1"]) / 2, (node["y0"] + node["y1"]) / 2
    assert node_at(diagram, x, y) == (1, "A")
    view._tapped(diagram, x, y)
    assert view.node == "1:A"
    answer = view.data()
    assert answer.node_total == 3
    assert [e.entity for e in answer.node_entities] == ["w3", "w2", "w1"]
    layout = view.draw(answer)
    assert "3 entities at step 1, A, newest first" in text_of(layout)
    listing = layout.select(pn.widgets.Tabulator)[-1]
    assert list(listing.value["entity"]) == ["w3", "w2", "w1"]


def test_a_row_click_picks_a_node_and_an_entity_opens_its_chain(tmp_path: Path) -> None:
    catalog = open_events(tmp_path, DOCS)
    view = PathsView(catalog, filters=NOVEMBER, event="A")
    (nodes, *_) = view.draw(view.data()).select(pn.widgets.Tabulator)
    row = list(zip(nodes.value["step"], nodes.value["event type"], strict=True)).index((2, "C"))
    view._pick_row(type("Click", (), {"row": row})(), nodes)
    assert view.node == "2:C"
    listing = view.draw(view.data()).select(pn.widgets.Tabulator)[-1]
    assert list(listing.value["entity"]) == ["w2"]
    view._open_chain(type("Click", (), {"row": 0})(), listing)
    assert view.chain == "w2"
    view._chain_view = lambda: opened.append(view.chain) or pn.pane.HTML("chain")
    opened: list[str] = []
    view.draw(view.data())
    assert opened == ["w2"]  # the drawing asks for w2's chain view
    assert WorkflowChain(catalog, workflow_id="w2").data()


def test_end_paths_and_filters_reach_the_view(tmp_path: Path) -> None:
    catalog = open_events(tmp_path, DOCS)
    view = PathsView(catalog, filters=NOVEMBER, event="C", anchor="end", steps=3)
    assert (
        view.data().result.to_dict()["edges"]
        == opdash.paths(catalog, end="C", steps=3).to_dict()["edges"]
    )
    only_3rd = Filters(start=date(2026, 11, 3), end=date(2026, 11, 22))
    view = PathsView(catalog, filters=only_3rd, event="A")
    assert view.data().result.entities == 2  # the date range bounds the anchor


def test_the_default_anchor_comes_from_the_data() -> None:
    view = PathsView(opdash.open("data/demo"))
    assert view.event == "signal.created" and view.anchor == "start"
    assert view.data().result.entities == 240


def test_empty_states_and_markup_stay_text(tmp_path: Path) -> None:
    events = [ev(1, SCRIPT, "2026-11-02T10:00:00Z", SCRIPT), ev(2, "B", "2026-11-02T10:01:00Z",
              SCRIPT)]  # fmt: skip
    catalog = open_events(tmp_path, events)
    assert "Choose an event" in text_of(pn.Column(PathsView(catalog).draw(None)))
    view = PathsView(catalog, filters=NOVEMBER, event=SCRIPT, node=f"1:{SCRIPT}")
    layout = view.draw(view.data())
    objects = [p.object for p in layout.select(pn.pane.HTML)]
    assert objects and all("<script" not in o for o in objects)
    assert SCRIPT in text_of(layout)
    lone = PathsView(catalog, filters=NOVEMBER, event="B")  # B is the last event: no edge
    assert "No paths" in text_of(pn.Column(lone.draw(lone.data())))
    pane = pn.panel(PathsView(catalog, event="nope"))
    assert "Paths could not be shown" in text_of(pane)  # an unknown event: the error card


def test_the_tile_is_checked_like_the_others() -> None:
    text = """version: 1
pages:
  - title: Where next
    tiles:
      - type: paths
        event: candidate.created
        anchor: start
        steps: 4
        exclude: [alert.triggered]
        top: 20
"""
    spec, problems, _ = check_spec_text(text)
    assert spec is not None and problems == []
    tile = spec.pages[0].tiles[0]
    assert tile.kind.component_class() is PathsView and tile.options["steps"] == 4
    bad = text.replace("steps: 4", "steps: 1").replace("anchor: start", "anchor: middle")
    _spec, problems, _ = check_spec_text(bad)
    assert {p.line for p in problems} == {7, 8} and all(p.severity == "error" for p in problems)


def test_an_event_type_the_data_lacks_is_a_warning(tmp_path: Path) -> None:
    from opdash.spec import check_folder

    open_events(tmp_path, DOCS)
    (tmp_path / "dashboard.yaml").write_text(
        "version: 1\npages:\n  - title: Where next\n    tiles:\n      - type: paths\n"
        "        event: A\n        exclude: [alrt]\n"
    )
    report = check_folder(tmp_path)
    (warning,) = [p for p in report.problems if p.area == "spec"]
    assert warning.severity == "warning" and warning.line == 5
    assert "event type 'alrt' in exclude never occurs" in warning.message
    assert "did you mean 'alert'" in warning.message
