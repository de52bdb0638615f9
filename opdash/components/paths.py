"""PathsView: where entities go after an event, or how they came to one, as a Sankey.

Nodes are ``(step, event type)``; a column per step, the anchor's at the left (``start``) or a
path's last node on the right (``end``). A click on a node — in the diagram or in the node
table under it — lists the entities that pass through it, newest first, and a click on one
opens its anchor's workflow chain. Reads every filter but the event types (the tile names its
anchor): the date range bounds the anchor event, actors, run and workflow narrow the events.
The numbers are ``opdash.metrics.paths`` (docs/paths.md).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend for .opts)
import pandas as pd
import panel as pn
import param
from holoviews.element.sankey import _layout_sankey

from opdash.components.base import CatalogView, empty_card, guarded
from opdash.components.filters import FILTER_NAMES
from opdash.components.tables import plain_table
from opdash.display import utc_time
from opdash.metrics.paths import (
    DEFAULT_BY,
    DEFAULT_STEPS,
    DEFAULT_TOP,
    MAX_STEPS,
    PathEntity,
    PathsResult,
    path_entities,
    path_settings,
    paths,
)
from opdash.metrics.scope import scoped
from opdash.metrics.today import default_steps

#: Entities listed under a clicked node.
LISTED = 50


@dataclass(frozen=True)
class PathsAnswer:
    """The paths, and the entities through the chosen node (when one is chosen)."""

    result: PathsResult
    node: tuple[int, str] | None = None
    node_total: int = 0
    node_entities: tuple[PathEntity, ...] = ()


class PathsView(CatalogView):
    """A Sankey of the entities' paths from (or to) an event; click a node for who took it.

    ``data()`` is a :class:`PathsAnswer` (None until an anchor event is named)."""

    event = param.String(
        default="",
        doc="The anchor: each entity's first event of this type (default: the loop's first event "
        "in the data).",
    )
    anchor = param.Selector(
        default="start",
        objects=["start", "end"],
        doc="start: the paths that follow the event; end: the paths that lead to it.",
    )
    by = param.String(
        default=DEFAULT_BY, doc="Dotted path of the entity (default correlation.workflow_id)."
    )
    steps = param.Integer(
        default=DEFAULT_STEPS,
        bounds=(2, MAX_STEPS),
        doc="Nodes per path, the anchor's included (default 5).",
    )
    exclude = param.List(
        default=[], item_type=str, doc="Event types dropped before paths are built."
    )
    top = param.Integer(
        default=DEFAULT_TOP, bounds=(1, 10_000), doc="Edges kept, most taken first (default 50)."
    )
    node = param.String(default="", doc="The node whose entities are listed: STEP:TYPE.")
    chain = param.String(default="", doc="Workflow whose chain is open under the node's list.")

    title = "Paths"
    summary = (
        "A Sankey of the paths entities take after (or before) their first event of a type; a"
        " click on a node lists who passed through it (docs/paths.md)."
    )
    spec_extras = {"exclude": {"items": {"type": "string"}}}
    uses_filters = tuple(f for f in FILTER_NAMES if f != "event_types")

    def key(self):
        # the open chain is drawn by its own view
        base = super().key()
        return (base[0], tuple(p for p in base[1] if p[0] != "chain"), *base[2:])

    def __init__(self, catalog=None, filters=None, **params: Any) -> None:
        super().__init__(catalog=catalog, filters=filters, **params)
        if not self.event and catalog is not None:
            self.event = next(iter(default_steps(catalog.event_types())), "")

    def data(self) -> PathsAnswer | None:
        if not self.event.strip():
            return None
        scope = self.filters.scope()
        catalog = scoped(self.catalog, scope.without_types())
        settings = path_settings(
            catalog,
            **{self.anchor: self.event.strip()},
            by=self.by,
            steps=self.steps,
            exclude=self.exclude,
            since=scope.since,
            until=scope.until,
            top=self.top,
        )
        result = paths(catalog, settings=settings)
        chosen = parse_node(self.node)
        if chosen is None:
            return PathsAnswer(result)
        total, listed = path_entities(catalog, *chosen, limit=LISTED, settings=settings)
        return PathsAnswer(result, chosen, total, tuple(listed))

    def controls(self) -> pn.Column:
        """Widgets bound to the parameters."""
        event = pn.widgets.TextInput.from_param(self.param.event, label="Event")
        anchor = pn.widgets.RadioButtonGroup.from_param(
            self.param.anchor, color="primary", variant="outline"
        )
        by = pn.widgets.TextInput.from_param(self.param.by, label="Entity (dotted path)")
        steps = pn.widgets.IntInput.from_param(
            self.param.steps, label="Steps", start=2, end=MAX_STEPS, width=100
        )
        top = pn.widgets.IntInput.from_param(
            self.param.top, label="Edges kept", start=1, end=10_000, width=110
        )
        exclude = pn.widgets.MultiChoice.from_param(
            self.param.exclude, label="Leave out", options=self._types()
        )
        return pn.Column(
            pn.Row(pn.Column("Paths from (start) or to (end)", anchor), event, by),
            pn.Row(steps, top, exclude),
            sizing_mode="stretch_width",
        )

    def _types(self) -> list[str]:
        try:
            return self.catalog.event_types()
        except Exception:  # noqa: BLE001  (the list is a convenience; the view shows errors)
            return []

    def draw(self, answer: PathsAnswer | None) -> Any:
        if answer is None:
            return empty_card("Choose an event", "Name the event the paths start from or lead to.")
        result = answer.result
        if not result.edges:
            return empty_card("No paths", caption(result))
        diagram = sankey(result)
        tap = hv.streams.Tap(source=diagram, x=None, y=None)
        tap.add_subscriber(lambda x, y: self._tapped(diagram, x, y))
        nodes = plain_table(nodes_frame(result), max_height=260)
        nodes.on_click(lambda event: self._pick_row(event, nodes))
        parts: list[Any] = [
            pn.pane.HTML(f"<p>{html.escape(caption(result))}</p>", margin=(0, 10)),
            pn.pane.HoloViews(diagram, sizing_mode="stretch_width"),
            pn.pane.HTML("<p>Click a node (or a row below) to list who passed through it.</p>"),
            nodes,
        ]
        if answer.node is not None:
            parts.append(self._listing(answer))
        if self.chain:
            parts.append(guarded("Workflow chain", self._chain_view))
        return pn.Column(*parts, sizing_mode="stretch_width")

    # -- clicks ---------------------------------------------------------------------------------
    def _tapped(self, diagram: hv.Sankey, x: float | None, y: float | None) -> None:
        hit = node_at(diagram, x, y)
        if hit is not None:
            self.param.update(node=f"{hit[0]}:{hit[1]}", chain="")

    def _pick_row(self, event: Any, table: pn.widgets.Tabulator) -> None:
        frame = table.value
        if event.row is not None and 0 <= event.row < len(frame):
            row = frame.iloc[event.row]
            self.param.update(node=f"{int(row['step'])}:{row['event type']}", chain="")

    def _open_chain(self, event: Any, table: pn.widgets.Tabulator) -> None:
        frame = table.value
        if event.row is not None and 0 <= event.row < len(frame):
            workflow = frame.iloc[event.row]["workflow"]
            if workflow:
                self.chain = str(workflow)

    def _listing(self, answer: PathsAnswer) -> Any:
        step, kind = answer.node
        shown = len(answer.node_entities)
        title = (
            f"{answer.node_total:,} entities at step {step}, {kind}"
            + (f" (the {shown} newest)" if shown < answer.node_total else "")
            + ", newest first"
        )
        frame = pd.DataFrame(
            [
                {
                    "entity": e.entity,
                    "reached at": utc_time(e.reached_at),
                    "workflow": e.workflow_id or "",
                }
                for e in answer.node_entities
            ],
            columns=["entity", "reached at", "workflow"],
        )
        table = plain_table(frame, max_height=300)
        table.on_click(lambda event: self._open_chain(event, table))
        return pn.Column(
            pn.pane.HTML(f"<h3>{html.escape(title)}</h3>"),
            table,
            pn.pane.HTML("<p>Click an entity to open its workflow's chain.</p>"),
            sizing_mode="stretch_width",
        )

    def _chain_view(self) -> Any:
        from opdash.components.chain import WorkflowChain

        return WorkflowChain(self.catalog, filters=self.filters, workflow_id=self.chain)


def parse_node(text: str) -> tuple[int, str] | None:
    """``STEP:TYPE`` → (step, type); None for '' or a malformed value."""
    step, _, kind = (text or "").partition(":")
    if not step.strip().isdigit() or not kind.strip():
        return None
    return int(step), kind.strip()


# -- drawing ------------------------------------------------------------------------------------


def caption(result: PathsResult) -> str:
    s = result.settings
    way = "after" if s.anchor == "start" else "up to"
    text = (
        f"{result.entities:,} entities by {s.by}: their next {s.steps - 1} steps {way} their "
        f"first {s.event_type}"
        if s.anchor == "start"
        else f"{result.entities:,} entities by {s.by}: their {s.steps - 1} steps {way} their "
        f"first {s.event_type}"
    )
    if s.exclude:
        text += f", without {', '.join(s.exclude)}"
    if result.dropped_edges:
        text += (
            f"; the {len(result.edges)} most taken edges shown, {result.dropped_edges:,} "
            "less taken ones left out"
        )
    return text + "; repeats of one type are one node"


def label(step: int, event_type: str) -> str:
    return f"{step}: {event_type}"


def nodes_frame(result: PathsResult) -> pd.DataFrame:
    """One row per node the diagram draws: step, event type, entities whose path has it."""
    return pd.DataFrame(
        [
            {"step": n.step, "event type": n.event_type, "entities": n.entities}
            for n in result.nodes()
        ],
        columns=["step", "event type", "entities"],
    )


class _StepColumns(_layout_sankey):
    """HoloViews' Sankey layout with each node in its step's column: the stock layout puts a
    node with no way out in the last column, which would draw a path that ends early as if it
    reached the last step."""

    def computeNodeColumns(self, graph):  # noqa: N802  (the overridden name)
        steps = {n["index"]: int(str(n["index"]).split(":", 1)[0]) for n in graph["nodes"]}
        last = max(steps.values())
        x0, x1 = self.p.bounds[0], self.p.bounds[2]
        kx = (x1 - x0 - self.p.node_width) / max(1, last - 1)
        columns: list[list] = [[] for _ in range(last)]
        for node in graph["nodes"]:
            node["column"] = steps[node["index"]] - 1
            node["x0"] = x0 + node["column"] * kx
            node["x1"] = node["x0"] + self.p.node_width
            columns[node["column"]].append(node)
        return [c for c in columns if c]


def sankey(result: PathsResult) -> hv.Sankey:
    edges = pd.DataFrame(
        [
            {
                "source": label(e.from_step, e.source),
                "target": label(e.to_step, e.target),
                "entities": e.count,
            }
            for e in result.edges
        ]
    )
    stock = hv.Sankey(edges, kdims=["source", "target"], vdims=["entities"])
    nodes, edgepaths, graph = _StepColumns.instance().layout(stock)
    diagram = hv.Sankey(
        (edges, nodes, edgepaths), kdims=["source", "target"], vdims=["entities"], sankey=graph
    )
    columns = max(e.to_step for e in result.edges)
    return diagram.opts(
        labels="index",
        label_position="right",
        node_color="index",
        edge_color="source",
        cmap="Category20",
        tools=["hover", "tap"],
        height=max(320, 40 * max(len(result.nodes()) // max(1, columns), 1) + 220),
        width=960,  # HoloViews' Sankey has a fixed size (responsive is refused with a warning)
        toolbar=None,
        default_tools=[],
        show_values=True,
    )


def node_at(diagram: hv.Sankey, x: float | None, y: float | None) -> tuple[int, str] | None:
    """The node drawn at plot coordinates ``(x, y)`` (a tap), if any."""
    if x is None or y is None:
        return None
    for node in diagram._sankey["nodes"]:  # the layout HoloViews drew
        if node["x0"] - 5 <= x <= node["x1"] + 5 and node["y0"] <= y <= node["y1"]:
            return parse_node(str(node["index"]))
    return None
