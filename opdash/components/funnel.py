"""FunnelView: a conversion funnel chart with its table, drop-offs and the chains behind them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pandas as pd
import panel as pn
import param

from opdash.catalog import Reads
from opdash.components.base import CatalogView, empty_card, guarded
from opdash.components.filters import text_options
from opdash.components.tables import plain_table
from opdash.display import escaped, percent, utc_time
from opdash.metrics.funnel import DEFAULT_BY, DEFAULT_WINDOW, ORDERS, FunnelResult, funnel
from opdash.metrics.scope import scoped
from opdash.metrics.today import default_steps
from opdash.timeutil import format_seconds, parse_duration

CSS = """
.opdash-funnel { display: flex; flex-direction: column; gap: 6px; padding: 4px 10px 10px; }
.opdash-funnel-row { display: grid; grid-template-columns: minmax(140px, 28%) 1fr; gap: 10px;
  align-items: center; }
.opdash-funnel-label { font-size: 13px; color: #374151; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.opdash-funnel-track { position: relative; height: 30px; background: #f1f5f9; border-radius: 6px; }
.opdash-funnel-bar { height: 100%; background: #2563eb; border-radius: 6px; min-width: 2px;
  transition: width .25s ease; }
.opdash-funnel-value { position: absolute; left: 8px; top: 5px; font-size: 13px;
  font-weight: 600; color: #111827; background: rgba(255,255,255,.85); padding: 1px 6px;
  border-radius: 4px; }
.opdash-funnel-share { font-weight: 400; color: #4b5563; }
"""

#: Drop-offs listed under a clicked step.
DROPPED_SHOWN = 200


#: What the page's Actors filter selects in a funnel (see ``FunnelView.actor_filter``).
ACTOR_FILTERS = ("start", "every")


class FunnelView(CatalogView):
    """Counts and conversion per step; click a step for who dropped there, a workflow for its chain.

    Reads the page's date range (entry into step 1), zone, actors, run and workflow; the event
    types filter does not apply, since the steps are this view's own choice of types.
    """

    steps = param.List(default=[], item_type=str, doc="Event types of the steps, in order.")
    window = param.String(
        default=DEFAULT_WINDOW,
        doc="How long after step 1 later steps count. A duration: a number and s, m, h, d or w "
        "(90m, 6h, 14d).",
    )
    order = param.Selector(default="ordered", objects=list(ORDERS), doc="Step order rule.")
    by = param.String(default=DEFAULT_BY, doc="Dotted path of the entity that converts.")
    breakdown = param.String(default="", doc="Dotted path to split the funnel by ('' for none).")
    attribution = param.String(
        default="first",
        doc="Whose value a breakdown counts: first (step 1's, default), last (the last step "
        "reached), step:N, or all (per value, over the events carrying it; groups need not add "
        "up).",
    )
    actor_filter = param.Selector(
        default="start",
        objects=list(ACTOR_FILTERS),
        doc="What the page's Actors filter selects: start (default) — the entities whose step-1 "
        "event is by the chosen actors, later steps by anyone; every — only events by them, at "
        "every step.",
    )
    dropped_at = param.Integer(
        default=0, bounds=(0, None), doc="Step whose drop-offs are listed (0: none)."
    )
    chain = param.String(default="", doc="Workflow whose chain is open under the drop-offs.")
    details = param.Boolean(
        default=True,
        precedence=-1,  # how the view is laid out, not a page choice: not in the URL
        doc="Drop-offs and chains under the funnel (false: the chart and table only).",
    )

    title = "Funnel"
    summary = "Counts and conversion per step; drop-offs and chains."
    spec_extras = {
        "steps": {"maxItems": 20, "minItems": 2},
        "attribution": {"pattern": "^(first|last|all|step:[1-9][0-9]*)$"},
    }
    uses_filters = ("start", "end", "zone", "actors", "run", "workflow")

    def __init__(self, catalog=None, filters=None, **params: Any) -> None:
        super().__init__(catalog=catalog, filters=filters, **params)
        if not self.steps and catalog is not None:
            self.steps = default_steps(catalog.event_types())

    def reads(self) -> Reads:
        """The funnel reads its steps' events (a strict one every type, for what lies between),
        of the chosen actors, and with a last day shown none at or after its end plus the window
        (a chain starts before the end and finishes within the window). A refresh that brought
        none of those keeps the answer."""
        until = self.filters.scope().until
        window = timedelta(seconds=parse_duration(self.window))
        every = self.actor_filter == "every"  # else later steps may be anyone's
        return Reads(
            horizon=None if until is None else until + window - timedelta(microseconds=1),
            event_types=None if self.order == "strict" else frozenset(self.steps),
            actors=(frozenset(self.filters.actors) or None) if every else None,
        )

    def data(self) -> FunnelResult:
        """The funnel for the current parameters and filters (no drawing)."""
        scope = self.filters.scope().without_types()
        dropped = self.dropped_at if 0 < self.dropped_at <= len(self.steps) else None
        starters = None
        if self.actor_filter == "start" and scope.actors:
            starters, scope = list(scope.actors), replace(scope, actors=())
        return funnel(
            scoped(self.catalog, scope),
            self.steps,
            window=self.window,
            order=self.order,
            by=self.by,
            since=scope.since,
            until=scope.until,
            breakdown=self.breakdown.strip() or None,
            attribution=self.attribution if self.breakdown.strip() else "first",
            start_actors=starters,
            dropped_at=dropped,
            dropped_limit=DROPPED_SHOWN,
        )

    def key(self):
        # the open chain is drawn by its own view, details only change the drawing
        base = super().key()
        own = tuple(p for p in base[1] if p[0] not in ("chain", "details"))
        return (base[0], own, *base[2:])

    def controls(self) -> pn.Row:
        """Widgets bound to the parameters: pick and reorder steps, order, window, breakdown."""
        options = self.catalog.event_types() if self.catalog is not None else []
        rest = sorted(set(options) - set(self.steps))
        steps = pn.widgets.MultiChoice.from_param(
            self.param.steps,
            options=text_options([*dict.fromkeys(self.steps), *rest]),
            label="Steps (in order; remove and re-add to move one last)",
            sizing_mode="stretch_width",
        )
        order = pn.widgets.RadioButtonGroup.from_param(
            self.param.order, color="primary", variant="outline", label="Order"
        )
        window = pn.widgets.TextInput.from_param(
            self.param.window, label="Window (e.g. 90m, 6h, 14d)", width=170
        )
        breakdown = pn.widgets.TextInput.from_param(
            self.param.breakdown,
            label="Breakdown by",
            placeholder="e.g. actor.id, payload.symbol",
            width=220,
        )
        actor_filter = pn.widgets.RadioButtonGroup.from_param(
            self.param.actor_filter, color="primary", variant="outline"
        )
        attribution = pn.widgets.TextInput.from_param(
            self.param.attribution,
            label="Attribution (first, last, step:N, all)",
            width=220,
        )
        return pn.Column(
            steps,
            pn.Row(pn.Column("Order", order), window, breakdown, attribution),
            pn.Row(
                pn.Column("Actors filter selects (start: whose step 1 is by them)", actor_filter)
            ),
            sizing_mode="stretch_width",
        )

    def draw(self, result: FunnelResult) -> Any:
        if len(self.steps) < 1:
            return empty_card("No funnel steps", "Pick at least one event type as a step.")
        if result.entities == 0:
            return empty_card(
                "Nobody entered this funnel",
                f"No {result.by} has a '{result.steps[0].event_type}' event in the chosen range "
                "and filters.",
            )
        frame = funnel_frame(result)
        table = funnel_table(frame)
        parts: list[Any] = [funnel_chart(frame), table]
        if self.filters.actors:
            parts.insert(0, pn.pane.HTML(f"<p>{escaped(self.actor_caption())}</p>", margin=(0, 10)))
        if not self.details:
            return pn.Column(*parts, sizing_mode="stretch_width")
        table.on_click(lambda event: self.param.update(dropped_at=int(event.row) + 1, chain=""))
        if result.missing_event_types:
            missing = ", ".join(result.missing_event_types)
            parts.append(empty_card("Steps with no events at all", missing))
        if result.breakdown is not None:
            parts.append(pn.pane.HTML(f"<h3>By {escaped(result.breakdown_by)}</h3>"))
            parts.append(pn.pane.HTML(f"<p>{escaped(attribution_caption(result))}</p>"))
            parts.append(breakdown_table(result))
        parts.append(self._drop_offs(result))
        return pn.Column(*parts, sizing_mode="stretch_width")

    def actor_caption(self) -> str:
        return actor_captionescaped(self.actor_filter, self.filters.actors)

    def _drop_offs(self, result: FunnelResult) -> Any:
        dropped = result.dropped
        if dropped is None:
            return empty_card(
                "Drop-offs", "Click a step in the table to list who reached it and went no further."
            )
        after = f" and not '{dropped.next_event_type}'" if dropped.next_event_type else ""
        heading = pn.pane.HTML(
            f"<h3>Reached step {dropped.step} '{escaped(dropped.event_type)}'{escaped(after)}: "
            f"{dropped.total:,} (newest {min(dropped.total, DROPPED_SHOWN):,} shown)</h3>"
        )
        if not dropped.entities:
            return pn.Column(heading, empty_card("No drop-offs", "Everyone went on."))
        frame = pd.DataFrame(
            {
                result.by: [e.entity for e in dropped.entities],
                "reached at": [utc_time(e.reached_at) for e in dropped.entities],
                "last event": [e.last_event_type for e in dropped.entities],
                "last event at": [utc_time(e.last_event_at) for e in dropped.entities],
            }
        )
        table = plain_table(frame, max_height=320)
        parts: list[Any] = [heading]
        if self.by == DEFAULT_BY:
            table.on_click(lambda event: self._open_chain(event, table))
            parts.append(pn.pane.HTML("<p>Click a workflow to open its chain.</p>"))
        parts.append(table)
        if self.chain:
            parts.append(guarded("Workflow chain", self._chain_view))
        return pn.Column(*parts, sizing_mode="stretch_width")

    def _open_chain(self, event: Any, table: pn.widgets.Tabulator) -> None:
        """A click on a workflow id (the first column) opens that workflow's chain.

        Reads the table's rows at click time: a redraw updates the table in place."""
        frame = table.value
        if event.column == frame.columns[0] and event.row is not None and event.row < len(frame):
            self.chain = str(frame.iloc[event.row, 0])

    def _chain_view(self) -> Any:
        from opdash.components.chain import WorkflowChain

        return WorkflowChain(self.catalog, filters=self.filters, workflow_id=self.chain)


def funnel_frame(result: FunnelResult) -> pd.DataFrame:
    """One row per step with a readable label, ready for the chart and the table."""
    frame = result.to_frame().reset_index()
    frame["label"] = [f"{s}. {t}" for s, t in zip(frame["step"], frame["event_type"], strict=True)]
    frame["from start"] = frame["conversion_from_start"].map(percent)
    frame["from previous"] = frame["conversion_from_previous"].map(percent)
    return frame


def funnel_chart(frame: pd.DataFrame) -> pn.pane.HTML:
    """Horizontal bars, step 1 on top, each labelled with its count and share of step 1.

    Drawn as HTML, not a plot: a filter change then patches a few widths and numbers instead of
    building a new canvas, and every label is escaped text.
    """
    top = max(1, int(frame["count"].max()))
    rows = []
    for step, event_type, count, start, previous in zip(
        frame["step"],
        frame["event_type"],
        frame["count"],
        frame["from start"],
        frame["from previous"],
        strict=True,
    ):
        width = 100 * int(count) / top
        tip = f"{count:,} entities · {start} of step 1 · {previous} of the previous step"
        rows.append(
            f'<div class="opdash-funnel-row" title="{escaped(tip)}">'
            f'<div class="opdash-funnel-label">{step}. {escaped(event_type)}</div>'
            f'<div class="opdash-funnel-track"><div class="opdash-funnel-bar" '
            f'style="width:{width:.2f}%"></div>'
            f'<span class="opdash-funnel-value">{int(count):,}'
            f'<span class="opdash-funnel-share"> · {escaped(start)}</span></span></div></div>'
        )
    return pn.pane.HTML(
        f'<div class="opdash-funnel">{"".join(rows)}</div>',
        sizing_mode="stretch_width",
        stylesheets=[CSS],  # its own: the chart looks the same in a notebook
    )


def funnel_table(frame: pd.DataFrame) -> pn.widgets.Tabulator:
    columns = {
        "step": "Step",
        "event_type": "Event type",
        "count": "Count",
        "from previous": "From previous",
        "from start": "From start",
    }
    if "median_seconds_from_previous" in frame:
        frame = frame.assign(
            median=frame["median_seconds_from_previous"].map(format_seconds),
            mean=frame["mean_seconds_from_previous"].map(format_seconds),
        )
        columns |= {"median": "Median time from previous", "mean": "Mean time from previous"}
    return plain_table(frame[list(columns)].rename(columns=columns))


def breakdown_table(result: FunnelResult) -> pn.widgets.Tabulator:
    """One row per breakdown value: entered, reached the last step, conversion."""
    rows = []
    for group in result.breakdown or []:
        first, last = group.steps[0].count, group.steps[-1].count
        rows.append(
            {
                "value": "(none)" if group.value is None else group.value,
                "entered": first,
                "converted": last,
                "conversion": percent(last / first if first else None),
            }
        )
    return plain_table(pd.DataFrame(rows, columns=["value", "entered", "converted", "conversion"]))


def actor_captionescaped(actor_filter: str, actors) -> str:
    """Which setting of the Actors filter is in force, in words."""
    names = ", ".join(actors)
    if actor_filter == "every":
        return f"Actors filter: only events by {names}, at every step."
    return f"Actors filter: entities whose step 1 is by {names}; later steps by anyone."


def attribution_caption(result: FunnelResult) -> str:
    """Which event's value each entity counts under, and whether the groups add up."""
    rule = result.attribution
    if rule == "all":
        return (
            "Attribution all: each value's funnel over only the events that carry it — an "
            "entity counts under every value it has, so the groups need not add up."
        )
    where = {"first": "its step-1 event", "last": "the last step it reached"}.get(
        rule, f"its step-{rule.partition(':')[2]} event ((none) if it did not reach it)"
    )
    return f"Attribution {rule}: each entity counts under the value on {where}."
