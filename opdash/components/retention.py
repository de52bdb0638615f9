"""RetentionView: the cohort grid — of the entities that started in a period, the share that
came back in each later one — as a heat map with the percent in each cell, and its table.

Reads every filter but the event types (the tile names its start and return events): the date
range bounds the cohorts' start events, the zone gives the periods, actors, run and workflow
narrow the events. With a last day chosen, the grid is read as of the end of that day; else as
of the newest event. The numbers are ``opdash.metrics.retention`` (docs/retention.md).
"""

from __future__ import annotations

import html
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend for .opts)
import pandas as pd
import panel as pn
import param

from opdash.components.base import CatalogView, empty_card
from opdash.components.filters import FILTER_NAMES
from opdash.components.tables import plain_table
from opdash.metrics.retention import (
    DEFAULT_BY,
    DEFAULT_PERIODS,
    INTERVALS,
    MAX_PERIODS,
    MODES,
    RetentionResult,
    retention,
)
from opdash.metrics.scope import scoped
from opdash.metrics.today import default_steps

#: Local wall-clock format of a cohort's start, per interval.
COHORT_FORMATS = {"day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m"}


class RetentionView(CatalogView):
    """Cohorts by the period of their start event; cell k: the share back in period +k.

    ``data()`` is the :class:`RetentionResult` (None until both events are chosen)."""

    start_event = param.String(default="", doc="The event type that puts an entity in a cohort.")
    return_event = param.String(default="", doc="The event type that counts as coming back.")
    by = param.String(default=DEFAULT_BY, doc="Dotted path of the entity (default actor.id).")
    interval = param.Selector(default="week", objects=list(INTERVALS), doc="Period size.")
    periods = param.Integer(
        default=DEFAULT_PERIODS, bounds=(1, MAX_PERIODS), doc="Periods per cohort (+0 … +N−1)."
    )
    mode = param.Selector(
        default="first-time",
        objects=list(MODES),
        doc="first-time: the period of an entity's first start ever; recurring: every period "
        "with a start.",
    )
    cumulative = param.Boolean(default=False, doc="Cell k: back in period +k or any later one.")

    title = "Retention"
    summary = (
        "Cohorts by the period of their start event and the share that came back in each "
        "later period (docs/retention.md)."
    )
    uses_filters = tuple(f for f in FILTER_NAMES if f != "event_types")

    def __init__(self, catalog=None, filters=None, **params: Any) -> None:
        super().__init__(catalog=catalog, filters=filters, **params)
        if not self.start_event and not self.return_event and catalog is not None:
            # nothing named: the loop's first event, started and repeated
            first = next(iter(default_steps(catalog.event_types())), "")
            self.param.update(start_event=first, return_event=first)

    def data(self) -> RetentionResult | None:
        if not self.start_event.strip() or not self.return_event.strip():
            return None
        scope = self.filters.scope()
        return retention(
            scoped(self.catalog, scope.without_types()),
            self.start_event,
            self.return_event,
            by=self.by,
            interval=self.interval,
            tz=self.filters.zone,
            periods=self.periods,
            since=scope.since,
            until=scope.until,
            mode=self.mode,
            cumulative=self.cumulative,
            as_of=self.filters.as_of() if scope.until else None,
        )

    def controls(self) -> pn.Column:
        """Widgets bound to the parameters."""
        start = pn.widgets.TextInput.from_param(self.param.start_event, label="Start event")
        back = pn.widgets.TextInput.from_param(self.param.return_event, label="Return event")
        by = pn.widgets.TextInput.from_param(self.param.by, label="Entity (dotted path)")
        interval = pn.widgets.RadioButtonGroup.from_param(
            self.param.interval, color="primary", variant="outline"
        )
        periods = pn.widgets.IntInput.from_param(
            self.param.periods, label="Periods", start=1, end=MAX_PERIODS, width=120
        )
        mode = pn.widgets.RadioButtonGroup.from_param(
            self.param.mode, color="primary", variant="outline"
        )
        cumulative = pn.widgets.Checkbox.from_param(
            self.param.cumulative, label="Cumulative (back in that period or later)"
        )
        return pn.Column(
            pn.Row(start, back, by),
            pn.Row(pn.Column("Interval", interval), periods, pn.Column("Cohorts", mode)),
            cumulative,
            sizing_mode="stretch_width",
        )

    def draw(self, result: RetentionResult | None) -> Any:
        if result is None:
            return empty_card("Choose the events", "Name a start event and a return event.")
        if not any(c.size for c in result.cohorts):
            return empty_card("No cohorts in range", caption(result))
        return pn.Column(
            pn.pane.HTML(f"<p>{html.escape(caption(result))}</p>", margin=(0, 10)),
            pn.pane.HoloViews(heat_map(result), sizing_mode="stretch_width"),
            plain_table(grid_frame(result), max_height=320),
            sizing_mode="stretch_width",
        )


# -- drawing ------------------------------------------------------------------------------------


def caption(result: RetentionResult) -> str:
    back = "came back in period +k or later" if result.cumulative else "came back in period +k"
    return (
        f"{result.mode} cohorts of {result.start_event} by {result.by}, per {result.interval} "
        f"in {result.tz}: the share of each cohort that {back} with {result.return_event}; "
        f"as of {result.as_of:%Y-%m-%d %H:%M %Z}, * = period not over yet"
    )


def _label(result: RetentionResult, cohort) -> str:
    return cohort.start.strftime(COHORT_FORMATS[result.interval])


def cells_frame(result: RetentionResult) -> pd.DataFrame:
    """One row per shown cell: cohort label, offset, percent, count, incomplete."""
    rows = [
        {
            "cohort": _label(result, c),
            "offset": f"+{k}",
            "percent": 100 * share if share is not None else float("nan"),
            "count": value,
            "text": ("-" if share is None else f"{share:.0%}") + ("*" if late else ""),
        }
        for c in result.cohorts
        for k, (value, share, late) in enumerate(
            zip(c.values, c.percents, c.incomplete, strict=True)
        )
    ]
    return pd.DataFrame(rows, columns=["cohort", "offset", "percent", "count", "text"])


def heat_map(result: RetentionResult) -> Any:
    cells = cells_frame(result)
    offsets = [f"+{k}" for k in range(result.periods)]
    cohorts = [_label(result, c) for c in result.cohorts]
    heat = hv.HeatMap(cells, kdims=["offset", "cohort"], vdims=["percent", "count"]).opts(
        cmap="Blues",
        clim=(0, 100),
        colorbar=True,
        tools=["hover"],
        xlabel="period after the cohort's",
        ylabel=f"cohort ({result.interval})",
        height=max(220, 34 * len(cohorts) + 80),
        responsive=True,
        invert_yaxis=True,
        toolbar=None,
        default_tools=[],
    )
    labels = hv.Labels(cells, kdims=["offset", "cohort"], vdims=["text"]).opts(
        text_font_size="9pt", text_color="#111827"
    )
    return (heat * labels).redim.values(offset=offsets, cohort=cohorts)


def grid_frame(result: RetentionResult) -> pd.DataFrame:
    """The table under the map: each cohort's size and the percent at each offset."""
    rows = []
    for c in result.cohorts:
        row = {"cohort": _label(result, c), "size": c.size}
        for k in range(result.periods):
            if k < len(c.values):
                share = c.percents[k]
                text = "-" if share is None else f"{share:.1%} ({c.values[k]:,})"
                row[f"+{k}"] = text + ("*" if c.incomplete[k] else "")
            else:
                row[f"+{k}"] = ""
        rows.append(row)
    mean = {"cohort": "mean (by size)", "size": sum(c.size for c in result.cohorts)}
    mean |= {f"+{k}": "-" if m is None else f"{m:.1%}" for k, m in enumerate(result.mean)}
    rows.append(mean)
    return pd.DataFrame(rows, columns=["cohort", "size", *[f"+{k}" for k in range(result.periods)]])
