"""ActivityFeed: the newest events under the page's filters, payloads on demand, chains beside."""

from __future__ import annotations

import html
import json
from typing import Any

import pandas as pd
import panel as pn
import param

from opdash.components.base import CatalogView, empty_card, guarded
from opdash.components.filters import FILTER_NAMES
from opdash.components.tables import plain_table
from opdash.display import utc, utc_time
from opdash.metrics.activity import ActivityEvent, ActivityResult, activity
from opdash.metrics.scope import Scope

#: CSS the app adds to the page for the classes used here.
CSS = """
.opdash-feed-header { color: #374151; font-size: 13px; margin: 2px 0 6px 0; }
.opdash-feed-new { color: #047857; font-weight: 600; }
.opdash-payload { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap;
  word-break: break-word; background: #f9fafb; border: 1px solid #e5e7eb; border-radius: 6px;
  padding: 8px 12px; margin: 4px 8px; max-height: 360px; overflow: auto; }
.opdash-chain-title { font-weight: 600; }
"""

#: The table's columns, in order ("new" only while some rows are new).
COLUMNS = ["time", "event type", "actor", "workflow", "run"]
NEW_MARK = "new"


class ActivityFeed(CatalogView):
    """The newest events first, under every page filter (the date range too).

    Expand a row for its payload; click a workflow id to open its chain under the feed. When
    the app bumps ``version`` after new data, the rows newer than the last look are marked.
    """

    limit = param.Integer(default=100, bounds=(10, 1000), doc="How many of the newest events.")
    chain = param.String(default="", doc="Workflow whose chain is open under the feed.")

    title = "Activity"
    summary = "The newest events first; payloads expandable."
    uses_filters = FILTER_NAMES

    def __init__(self, catalog=None, filters=None, **params: Any) -> None:
        super().__init__(catalog=catalog, filters=filters, **params)
        #: (scope, newest event key, baseline key) of this instance's last draw.
        self._look: tuple[Scope, tuple | None, tuple | None] | None = None
        #: Event ids whose payload is open: they stay open when the feed redraws.
        self._expanded: set[str] = set()
        self._shown: list = []

    def data(self) -> ActivityResult:
        """The newest ``limit`` events in the page's scope, and how many there are in all."""
        return activity(self.catalog, self.filters.scope(), limit=self.limit)

    def key(self):
        # the open chain is drawn by its own view: it does not change this query
        base = super().key()
        return (base[0], tuple(p for p in base[1] if p[0] != "chain"), *base[2:])

    def controls(self) -> pn.Row:
        limit = pn.widgets.IntInput.from_param(self.param.limit, label="Newest events", step=10)
        workflow = pn.widgets.TextInput.from_param(
            self.param.chain, label="Open chain of workflow", placeholder="e.g. wf-0042"
        )
        return pn.Row(limit, workflow, sizing_mode="stretch_width")

    # -- new since the last look ----------------------------------------------------------------
    def new_count(self, result: ActivityResult) -> int:
        """How many of the shown events are newer than the newest one of this view's last look.

        A look is a draw whose newest event differs from the one before (a redraw of the same
        data keeps its marks). The first look, and the first after a filter change, marks none.
        New events are always the first rows, since the feed is newest first.
        """
        scope = self.filters.scope()
        newest = _order_key(result.events[0]) if result.events else None
        baseline: tuple | None = None
        if self._look is not None and self._look[0] == scope:
            _, seen, previous_baseline = self._look
            baseline = previous_baseline if seen == newest else seen
        self._look = (scope, newest, baseline)
        if baseline is None:
            return 0
        return sum(1 for e in result.events if _order_key(e) > baseline)

    # -- drawing ------------------------------------------------------------------------------
    def draw(self, result: ActivityResult) -> Any:
        parts: list[Any] = [self._feed(result)]
        if self.chain.strip():
            parts.append(self._chain_section())
        return pn.Column(*parts, sizing_mode="stretch_width")

    def _feed(self, result: ActivityResult) -> Any:
        fresh = self.new_count(result)
        if result.total == 0:
            if self.filters.scope() == Scope():
                return empty_card("No events yet", "The folder has no events to show.")
            return empty_card("No events", "No event matches the chosen range and filters.")
        header = pn.pane.HTML(
            header_html(result, fresh), sizing_mode="stretch_width", margin=(0, 10)
        )
        frame = feed_frame(result.events, fresh)
        events = result.events
        table = plain_table(
            frame,
            max_height=520,
            row_content=lambda row: payload_pane(events[int(row.name)]),
            expanded=[i for i, e in enumerate(events) if e.event_id in self._expanded],
        )

        # the callbacks read the events shown now: a redraw updates this table in place
        self._shown = events
        table.param.watch(self._remember_expanded, "expanded")
        table.on_click(self._open_chain)
        hint = pn.pane.HTML(
            "<small>Expand a row (▸) for its payload; click a workflow id for its chain.</small>",
            margin=(0, 10),
        )
        return pn.Column(header, hint, table, sizing_mode="stretch_width")

    def _remember_expanded(self, event: Any) -> None:
        shown = self._shown
        self._expanded = {shown[i].event_id for i in event.new if 0 <= i < len(shown)}

    def _open_chain(self, event: Any) -> None:
        if (
            event.column == "workflow"
            and event.row is not None
            and 0 <= event.row < len(self._shown)
        ):
            workflow = self._shown[event.row].workflow_id
            if workflow:
                self.chain = workflow

    def _chain_section(self) -> pn.Column:
        close = pn.widgets.Button(label="close", color="light", width=70, height=30)
        close.on_click(lambda _event: setattr(self, "chain", ""))
        title = pn.pane.HTML(
            f'<span class="opdash-chain-title">Chain of workflow '
            f"{html.escape(self.chain.strip())}</span>",
            margin=(6, 10),
        )
        return pn.Column(
            pn.Row(title, close),
            guarded("Workflow chain", self._chain_view),
            sizing_mode="stretch_width",
        )

    def _chain_view(self) -> Any:
        from opdash.components.chain import WorkflowChain

        return WorkflowChain(self.catalog, filters=self.filters, workflow_id=self.chain.strip())


def header_html(result: ActivityResult, fresh: int = 0) -> str:
    """'newest N of TOTAL events · newest at …' and the new-since-last-look count, escaped."""
    text = f"newest {len(result.events):,} of {result.total:,} events"
    if result.newest_at is not None:
        text += f" · newest at {utc_time(result.newest_at)}"
    new = ""
    if fresh:
        more = "+" if fresh == len(result.events) < result.total else ""
        new = (
            f' · <span class="opdash-feed-new">'
            f"{html.escape(f'{fresh:,}{more} new since last look')}</span>"
        )
    return f'<div class="opdash-feed-header">{html.escape(text)}{new}</div>'


def feed_frame(events: list[ActivityEvent], fresh: int = 0) -> pd.DataFrame:
    """One row per event, newest first; index = position in ``events``."""
    frame = pd.DataFrame(
        {
            "time": [utc_time(e.occurred_at) for e in events],
            "event type": [e.event_type for e in events],
            "actor": [_dash(e.actor_id) for e in events],
            "workflow": [_dash(e.workflow_id) for e in events],
            "run": [_dash(e.run_id) for e in events],
        },
        columns=COLUMNS,
        index=range(len(events)),
    )
    if fresh:
        frame.insert(0, NEW_MARK, [NEW_MARK if i < fresh else "" for i in range(len(events))])
    return frame


def payload_text(event: ActivityEvent) -> str:
    """The event's id, source and payload (pretty-printed JSON) as plain text."""
    if event.payload is None:
        body = "(no payload)"
    else:
        try:
            body = json.dumps(json.loads(event.payload), indent=2, ensure_ascii=False)
        except ValueError:
            body = event.payload
    actor = " ".join(v for v in (event.actor_type, event.actor_id) if v) or "–"
    return f"event {event.event_id} · actor {actor} · from {event.source_file}\n\n{body}"


def payload_pane(event: ActivityEvent) -> pn.pane.HTML:
    """The payload as escaped text in a <pre> (``pn.pane.Str`` does not escape its text)."""
    return pn.pane.HTML(
        f'<pre class="opdash-payload">{html.escape(payload_text(event))}</pre>',
        sizing_mode="stretch_width",
    )


def _order_key(event: ActivityEvent) -> tuple:
    """The feed's order: time, then event id (both descending in the feed)."""
    return (utc(event.occurred_at), event.event_id)


def _dash(value: str | None) -> str:
    return "–" if value is None or value == "" else value
