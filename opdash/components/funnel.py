"""FunnelView: a conversion funnel chart with its table, driven by param parameters."""

from __future__ import annotations

from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend for .opts)
import pandas as pd
import panel as pn
import param

from opdash.components.base import CatalogView, empty_card
from opdash.metrics.funnel import DEFAULT_BY, DEFAULT_WINDOW, ORDERS, FunnelResult, funnel
from opdash.metrics.today import LOOP_STEPS


def default_steps(event_types: list[str]) -> list[str]:
    """The loop's steps that the data has, else the most frequent types (up to 4)."""
    present = [s for s in LOOP_STEPS if s in event_types]
    return present if len(present) >= 2 else event_types[:4]


class FunnelView(CatalogView):
    """Counts and conversion per step, as a horizontal funnel chart and a table."""

    steps = param.List(default=[], item_type=str, doc="Event types of the steps, in order.")
    window = param.String(default=DEFAULT_WINDOW, doc="How long after step 1 later steps count.")
    order = param.Selector(default="ordered", objects=list(ORDERS))
    by = param.String(default=DEFAULT_BY, doc="Dotted path of the entity that converts.")

    title = "Funnel"

    def __init__(self, catalog=None, **params: Any) -> None:
        super().__init__(catalog=catalog, **params)
        if not self.steps and catalog is not None:
            self.steps = default_steps(catalog.event_types())

    def data(self) -> FunnelResult:
        """The funnel for the current parameters (no drawing)."""
        return funnel(self.catalog, self.steps, window=self.window, order=self.order, by=self.by)

    def controls(self) -> pn.Column:
        """Widgets bound to the parameters: pick and reorder steps, order, window."""
        options = self.catalog.event_types() if self.catalog is not None else []
        rest = sorted(set(options) - set(self.steps))
        steps = pn.widgets.MultiChoice.from_param(
            self.param.steps, options=[*dict.fromkeys(self.steps), *rest], name="Steps (in order)"
        )
        order = pn.widgets.RadioButtonGroup.from_param(
            self.param.order, button_type="primary", button_style="outline"
        )
        window = pn.widgets.TextInput.from_param(
            self.param.window, name="Window (e.g. 90m, 6h, 14d)"
        )
        return pn.Column(steps, order, window, sizing_mode="stretch_width")

    def view(self) -> Any:
        if len(self.steps) < 1:
            return empty_card("No funnel steps", "Pick at least one event type as a step.")
        result = self.data()
        frame = funnel_frame(result)
        if result.entities == 0:
            return empty_card(
                "Nobody entered this funnel",
                f"No {result.by} has a '{result.steps[0].event_type}' event in the data.",
            )
        return pn.Column(funnel_chart(frame), funnel_table(frame), sizing_mode="stretch_width")


def funnel_frame(result: FunnelResult) -> pd.DataFrame:
    """One row per step with a readable label, ready for the chart and the table."""
    frame = result.to_frame().reset_index()
    frame["label"] = [f"{s}. {t}" for s, t in zip(frame["step"], frame["event_type"], strict=True)]
    frame["from start"] = frame["conversion_from_start"].map(_pct)
    frame["from previous"] = frame["conversion_from_previous"].map(_pct)
    return frame


def funnel_chart(frame: pd.DataFrame) -> hv.Overlay:
    """Horizontal bars, step 1 on top, each labelled with its count and share of step 1."""
    order = list(frame["label"])
    bars = hv.Bars(frame, kdims=["label"], vdims=["count", "from start", "from previous"]).opts(
        invert_axes=True,
        invert_yaxis=True,
        color="#2563eb",
        responsive=True,
        height=max(180, 48 * len(frame) + 60),
        tools=["hover"],
        xlabel="",
        ylabel="entities",
        show_grid=True,
        toolbar=None,
        default_tools=[],
    )
    text = [f"{c:,}  ({p})" for c, p in zip(frame["count"], frame["from start"], strict=True)]
    labels = hv.Labels(
        {"label": order, "count": list(frame["count"]), "text": text},
        kdims=["label", "count"],
        vdims=["text"],
    ).opts(invert_axes=True, text_align="left", text_font_size="11pt", text_color="#111827")
    top = max(1, int(frame["count"].max()))
    return (bars * labels).redim.range(count=(0, top * 1.3)).opts(title="")


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
            median=frame["median_seconds_from_previous"].map(_duration),
            mean=frame["mean_seconds_from_previous"].map(_duration),
        )
        columns |= {"median": "Median time from previous", "mean": "Mean time from previous"}
    shown = frame[list(columns)].rename(columns=columns)
    return pn.widgets.Tabulator(
        shown,
        show_index=False,
        disabled=True,
        sizing_mode="stretch_width",
        layout="fit_data_stretch",
        formatters={name: {"type": "plaintext"} for name in shown.columns},
    )


def _pct(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.1%}"


def _duration(seconds: Any) -> str:
    if seconds is None or pd.isna(seconds):
        return "–"
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
