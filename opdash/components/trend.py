"""TrendView: a metric per calendar bucket, one line per event type (or per breakdown value).

Reads every filter: the page's date range and zone give the buckets, actors, run and workflow
narrow the events, and the event-types filter picks the lines (the 5 most frequent types when it
is empty). The numbers are ``opdash.metrics.trend`` (docs/trends.md); this module only draws them.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timedelta
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend for .opts)
import pandas as pd
import panel as pn
import param

from opdash.components.base import CatalogView, empty_card
from opdash.components.filters import FILTER_NAMES
from opdash.components.tables import plain_table
from opdash.display import number
from opdash.metrics.scope import scoped
from opdash.metrics.trend import (
    DEFAULT_BY,
    INTERVALS,
    TrendResult,
    TrendSeries,
    metric_arguments,
    percent_change,
    trend,
)

#: How many event types get a line when the event-types filter is empty.
TOP_TYPES = 5
#: Line colours, one per series in order (Tableau 10).
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
#: Opacity of the previous period's line (compare).
PREVIOUS_ALPHA = 0.3
#: Local wall-clock format of a bucket start, per interval.
BUCKET_FORMATS = {
    "hour": "%Y-%m-%d %H:%M",
    "day": "%Y-%m-%d",
    "week": "%Y-%m-%d",
    "month": "%Y-%m",
}


class TrendView(CatalogView):
    """A metric per hour, day, week or month in the page's zone; one line per series.

    ``data()`` is the :class:`TrendResult` (None when the folder has no event type at all);
    ``draw()`` overlays the lines (rolling mean dashed, previous period faint) above a table of
    each series' total and last bucket.
    """

    interval = param.Selector(default="day", objects=list(INTERVALS), doc="Bucket size.")
    metric = param.String(
        default="count",
        doc="count, unique (workflows), unique:PATH, sum:PATH or avg:PATH.",
    )
    breakdown = param.String(default="", doc="Dotted path to split each line by ('' for none).")
    rolling = param.Integer(
        default=0, bounds=(0, None), doc="N-bucket rolling mean drawn dashed (0 = off)."
    )
    compare = param.Boolean(default=False, doc="Also draw the previous period, faint.")

    title = "Trend"
    summary = "A metric per hour, day, week or month in the page's zone."
    uses_filters = FILTER_NAMES  # the event-types filter picks the lines

    def event_types(self) -> list[str]:
        """The lines: the event-types filter, else the most frequent types of the folder."""
        chosen = list(dict.fromkeys(t for t in self.filters.event_types if t.strip()))
        if chosen:
            return chosen
        return self.catalog.event_types()[:TOP_TYPES] if self.catalog is not None else []

    def data(self) -> TrendResult | None:
        """The trend for the current parameters and filters (no drawing)."""
        types = self.event_types()
        if not types:
            return None
        scope = self.filters.scope()
        metric, by = metric_arguments(self.metric)
        return trend(
            scoped(self.catalog, scope.without_types()),
            types,
            interval=self.interval,
            tz=self.filters.zone,
            since=scope.since,
            until=scope.until,
            metric=metric,
            by=by,
            breakdown=self.breakdown.strip() or None,
            rolling=self.rolling or None,
            compare="previous" if self.compare else None,
        )

    def controls(self) -> pn.Column:
        """Widgets bound to the parameters: interval, metric, breakdown, rolling mean, compare."""
        interval = pn.widgets.RadioButtonGroup.from_param(
            self.param.interval, color="primary", variant="outline", label="Interval"
        )
        metric = pn.widgets.TextInput.from_param(
            self.param.metric,
            label="Metric",
            placeholder="count, unique[:PATH], sum:PATH, avg:PATH",
            width=260,
        )
        breakdown = pn.widgets.TextInput.from_param(
            self.param.breakdown,
            label="Breakdown by",
            placeholder="e.g. actor.id, payload.symbol",
            width=220,
        )
        rolling = pn.widgets.IntInput.from_param(
            self.param.rolling, label="Rolling mean (buckets, 0 = off)", start=0, width=200
        )
        compare = pn.widgets.Checkbox.from_param(
            self.param.compare, label="Compare with the previous period"
        )
        return pn.Column(
            pn.Row(pn.Column("Interval", interval), metric, breakdown),
            pn.Row(rolling, compare),
            sizing_mode="stretch_width",
        )

    def draw(self, result: TrendResult | None) -> Any:
        if result is None:
            return empty_card("No events", "This folder has no events to draw a trend of.")
        several_types = len({s.event_type for s in result.series}) > 1
        labels = [series_label(s, several_types) for s in result.series]
        if not has_values(result):
            return empty_card("No events in range", _empty_reason(result))
        parts: list[Any] = [
            pn.pane.HTML(f"<p>{html.escape(caption(result))}</p>", margin=(0, 10)),
            pn.pane.HoloViews(trend_chart(result, labels), sizing_mode="stretch_width"),
            plain_table(totals_frame(result, labels), max_height=260),
        ]
        if result.missing_event_types:
            missing = ", ".join(result.missing_event_types)
            parts.append(empty_card("Event types with no events at all", missing))
        return pn.Column(*parts, sizing_mode="stretch_width")


# -- drawing ------------------------------------------------------------------------------------


def has_values(result: TrendResult) -> bool:
    """True when some bucket of the range has a non-zero (or, for avg, any) value."""
    return any(v not in (None, 0) for s in result.series for v in s.values)


def series_label(series: TrendSeries, several_types: bool) -> str:
    """The legend's name of a series: its event type, or its breakdown value (with the type)."""
    if series.breakdown is None:
        return series.event_type
    return f"{series.event_type} · {series.breakdown}" if several_types else series.breakdown


def metric_label(result: TrendResult) -> str:
    """What the y axis counts, in words."""
    kind, _, path = result.metric.partition(":")
    if kind == "count":
        return "events"
    if kind == "unique":
        return "workflows" if result.by == DEFAULT_BY else f"distinct {result.by}"
    return f"{kind} of {path}"


def caption(result: TrendResult) -> str:
    """'events per day in Europe/Berlin, 2026-10-24 – 2026-10-26' and the extras drawn."""
    last = (result.until - timedelta(microseconds=1)).astimezone(result.since.tzinfo)
    if result.interval == "hour" and result.series:
        last = result.series[0].buckets[-1].start  # the last hour, not its last minute
    fmt = BUCKET_FORMATS[result.interval]
    text = (
        f"{metric_label(result)} per {result.interval} in {result.tz}, "
        f"{result.since.strftime(fmt)} – {last.strftime(fmt)}"
    )
    if result.breakdown:
        text += f", by {result.breakdown}"
    if result.rolling:
        text += f"; dashed: {result.rolling}-{result.interval} rolling mean"
    if result.compare:
        text += "; faint: the previous period, bucket by bucket"
    return text


def _empty_reason(result: TrendResult) -> str:
    types = list(dict.fromkeys(s.event_type for s in result.series)) or result.missing_event_types
    named = ", ".join(types) or "these types"
    kind, _, path = result.metric.partition(":")
    if kind == "count":
        return f"No events of {named} in the chosen range and filters."
    if kind == "unique":
        return f"No events of {named} with a {result.by} in the chosen range and filters."
    if kind == "sum":
        return (
            f"Every bucket is 0: no events of {named} with a numeric {path} in the chosen range "
            "and filters (or their values add up to 0 in every bucket)."
        )
    return f"No events of {named} with a numeric {path} in the chosen range and filters."


def _wall(start: datetime) -> datetime:
    """A bucket start as naive local wall time (Bokeh shows datetimes as given, without zones)."""
    return start.replace(tzinfo=None)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def trend_chart(result: TrendResult, labels: list[str]) -> hv.Overlay:
    """One line per series; its rolling mean dashed and its previous period faint, same colour."""
    x = hv.Dimension("start", label=f"{result.interval} ({result.tz})")
    y = hv.Dimension("value", label=metric_label(result))
    fmt = BUCKET_FORMATS[result.interval]
    tooltips = [("series", "@series"), ("bucket", "@bucket"), ("value", "@value")]
    curves = []
    for i, (series, label) in enumerate(zip(result.series, labels, strict=True)):
        colour = PALETTE[i % len(PALETTE)]
        buckets = series.buckets
        base = {
            "start": [_wall(b.start) for b in buckets],
            "bucket": [b.start.strftime(fmt) for b in buckets],
        }
        # only the series' own line is in the legend; the caption says what dashed and faint mean
        lines = [("value", label, {"line_width": 2})]
        if result.rolling:
            name = f"{label} ({result.rolling}-{result.interval} mean)"
            style = {"line_dash": "dashed", "line_width": 1.5, "show_legend": False}
            lines.append(("rolling", name, style))
        if result.compare:
            name = f"{label} (previous period)"
            style = {"alpha": PREVIOUS_ALPHA, "line_width": 2, "show_legend": False}
            lines.append(("previous", name, style))
        for field, name, style in lines:
            frame = pd.DataFrame(
                {
                    **base,
                    "value": [_float(getattr(b, field)) for b in buckets],
                    "series": name,
                }
            )
            curve = hv.Curve(frame, kdims=[x], vdims=[y, "bucket", "series"], label=name)
            curves.append(
                curve.opts(
                    color=colour,
                    tools=["hover"],
                    hover_tooltips=tooltips,
                    **style,
                )
            )
    return hv.Overlay(curves).opts(
        responsive=True,
        height=360,
        show_grid=True,
        toolbar=None,
        default_tools=[],
        legend_position="right",
        show_legend=True,
        title="",
    )


def _total(values: list[Any]) -> int | float:
    return sum(v for v in values if v is not None)


def totals_frame(result: TrendResult, labels: list[str]) -> pd.DataFrame:
    """One row per series: its total over the range (the mean of its buckets for avg) and its
    last bucket's value; with compare, the previous period's total and the change."""
    avg = result.metric.startswith("avg")
    total_name = "mean of buckets" if avg else "total"
    rows = []
    for series, label in zip(result.series, labels, strict=True):
        values = series.values
        present = [v for v in values if v is not None]
        total = (sum(present) / len(present) if present else None) if avg else _total(values)
        row = {"series": label, total_name: number(total)}
        row["last bucket"] = number(values[-1] if values else None)
        if result.rolling:
            row["last rolling mean"] = number(series.buckets[-1].rolling)
        if result.compare:
            before = [b.previous for b in series.buckets]
            present_before = [v for v in before if v is not None]
            if avg:
                previous = sum(present_before) / len(present_before) if present_before else None
            else:
                previous = _total(before)
            row[f"previous {total_name}"] = number(previous)
            change = percent_change(total, previous)
            row["change"] = "–" if change is None else f"{change:+.1f}%"
        rows.append(row)
    return pd.DataFrame(rows)
