"""WorkflowChain: one workflow's events as a causal tree, on a timeline and as an indented table."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend for .opts)
import pandas as pd
import panel as pn
import param

from opdash.components.base import CatalogView, empty_card
from opdash.components.tables import plain_table
from opdash.display import utc_time
from opdash.metrics.chain import ChainEvent, ChainResult, chain
from opdash.timeutil import format_seconds, human_duration

#: CSS the app adds to the page for the classes used here.
CSS = """
.opdash-chain-totals { color: #374151; font-size: 13px; margin: 2px 0 6px 0; }
.opdash-chain-totals b { color: #111827; }
"""

#: Deeper levels than this are not indented further (the depth is written instead).
MAX_INDENT = 24
#: Chains longer than this get no per-event tick labels on the timeline.
MAX_TICK_LABELS = 40

_NBSP = "\u00a0"


class WorkflowChain(CatalogView):
    """One workflow's events by ``parent_event_id``: totals, a timeline and the tree as a table.

    A chain is a chain: the page's filters do not narrow it.
    """

    workflow_id = param.String(default="", doc="The workflow whose chain is shown.")

    title = "Workflow chain"
    summary = "One workflow's events as a tree by parent_event_id."
    uses_filters = ()

    def data(self) -> ChainResult | None:
        """The chain of ``workflow_id`` (None when no workflow is picked).

        An unknown id raises the metric's UsageError (with a did-you-mean), shown as the card.
        """
        if not self.workflow_id.strip():
            return None
        return chain(self.catalog, self.workflow_id)

    def controls(self) -> pn.widgets.TextInput:
        return pn.widgets.TextInput.from_param(
            self.param.workflow_id, label="Workflow id", placeholder="e.g. wf-0042"
        )

    def draw(self, result: ChainResult | None) -> Any:
        if result is None:
            return empty_card("Pick a workflow…", "Enter a workflow id, or click one in a table.")
        nodes = list(result.walk())
        return pn.Column(
            pn.pane.HTML(totals_html(result), sizing_mode="stretch_width", margin=(0, 10)),
            chain_chart(nodes),
            chain_table(nodes),
            sizing_mode="stretch_width",
        )


def totals_html(result: ChainResult) -> str:
    """The workflow id and its totals as one escaped line."""
    parts = [
        _count(result.events, "event"),
        f"span {human_duration(result.duration_seconds)}",
        _count(len(result.roots), "root"),
        _count(result.orphans, "orphan"),
        f"{result.cycle_events:,} on parent loops",
        f"max depth {result.max_depth:,}",
    ]
    first, last = utc_time(result.first_event_at), utc_time(result.last_event_at)
    return (
        f'<div class="opdash-chain-totals">Workflow <b>{html.escape(result.workflow_id)}</b>: '
        f"{html.escape(' · '.join(parts))} · {html.escape(first)} → {html.escape(last)}</div>"
    )


def chain_frame(nodes: list[ChainEvent]) -> pd.DataFrame:
    """The tree table's rows, in display order (the order of ``nodes``)."""
    return pd.DataFrame(
        {
            "event": [_indented(n) for n in nodes],
            "time": [utc_time(n.occurred_at) for n in nodes],
            "from parent": [
                "" if n.seconds_from_parent is None else "+" + format_seconds(n.seconds_from_parent)
                for n in nodes
            ],
            "actor": [_actor(n.actor_type, n.actor_id) for n in nodes],
            "event id": [n.event_id for n in nodes],
            "flags": [_flags(n) for n in nodes],
        },
        columns=["event", "time", "from parent", "actor", "event id", "flags"],
    )


def chain_table(nodes: list[ChainEvent]) -> pn.widgets.Tabulator:
    return plain_table(chain_frame(nodes), max_height=480)


def chain_chart(nodes: list[ChainEvent]) -> hv.Overlay:
    """One point per event at its time (row = display order, top down), a segment per edge."""
    row = {n.event_id: i for i, n in enumerate(nodes)}
    when = {n.event_id: _naive(n.occurred_at) for n in nodes}
    points = pd.DataFrame(
        {
            "time": [when[n.event_id] for n in nodes],
            "row": list(range(len(nodes))),
            "event_type": [n.event_type for n in nodes],
            "actor": [_actor(n.actor_type, n.actor_id) for n in nodes],
            "at": [utc_time(n.occurred_at) for n in nodes],
            "flags": [_flags(n) or "–" for n in nodes],
        }
    )
    edges = [
        (when[n.parent_event_id], row[n.parent_event_id], when[n.event_id], row[n.event_id])
        for n in nodes
        if n.depth > 0 and n.parent_event_id in row
    ]
    segments = hv.Segments(
        pd.DataFrame(edges, columns=["time", "row", "time1", "row1"]),
        kdims=["time", "row", "time1", "row1"],
    ).opts(color="#9ca3af", line_width=1.5)
    colors = ["#dc2626" if n.orphan or n.cycle else "#2563eb" for n in nodes]
    scatter = hv.Scatter(
        points.assign(color=colors),
        kdims=["time"],
        vdims=["row", "event_type", "actor", "at", "flags", "color"],
    ).opts(
        color="color",
        size=9,
        tools=["hover"],
        hover_tooltips=[
            ("type", "@event_type"),
            ("actor", "@actor"),
            ("time", "@at"),
            ("flags", "@flags"),
        ],
    )
    yticks = (
        [(i, n.event_type) for i, n in enumerate(nodes)] if len(nodes) <= MAX_TICK_LABELS else None
    )
    return (segments * scatter).opts(
        responsive=True,
        height=min(600, max(160, 22 * len(nodes) + 80)),
        invert_yaxis=True,
        xlabel="time (UTC)",
        ylabel="",
        yticks=yticks,
        show_grid=True,
        toolbar=None,
        title="",
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _indented(node: ChainEvent) -> str:
    if node.depth == 0:
        return node.event_type
    level = min(node.depth, MAX_INDENT)
    deeper = f"[{node.depth}] " if node.depth > MAX_INDENT else ""
    return _NBSP * 3 * (level - 1) + "└" + _NBSP + deeper + node.event_type


def _flags(node: ChainEvent) -> str:
    flags = []
    if node.orphan:
        flags.append(f"orphan (parent {node.parent_event_id} not in this workflow)")
    if node.cycle:
        flags.append(f"parent loop (parent {node.parent_event_id})")
    return "; ".join(flags)


def _actor(actor_type: str | None, actor_id: str | None) -> str:
    if actor_id and actor_type:
        return f"{actor_id} ({actor_type})"
    return actor_id or actor_type or "–"


def _naive(value: datetime) -> datetime:
    """UTC wall time without a zone (what Bokeh's datetime axis plots)."""
    return value.astimezone(UTC).replace(tzinfo=None)
