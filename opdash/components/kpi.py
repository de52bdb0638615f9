"""KpiView: one number that matters, over the last window, with its change from the one before."""

from __future__ import annotations

import html
from typing import Any

import panel as pn
import param

from opdash.components.base import CatalogView
from opdash.display import number
from opdash.metrics.kpi import DEFAULT_WINDOW, KpiResult, kpi
from opdash.metrics.scope import scoped


def kpis_html(items: list[tuple[str, str, str, str]]) -> str:
    """A row of KPI boxes from (label, value, note, tone) — all plain text, escaped here."""
    boxes = "".join(
        f'<div class="opdash-kpi{" opdash-kpi-" + tone if tone else ""}">'
        f'<div class="opdash-kpi-label">{html.escape(label)}</div>'
        f'<div class="opdash-kpi-value">{html.escape(value)}</div>'
        + (f'<div class="opdash-kpi-note">{html.escape(note)}</div>' if note else "")
        + "</div>"
        for label, value, note, tone in items
    )
    return f'<div class="opdash-kpis">{boxes}</div>'


class KpiView(CatalogView):
    """A metric over the window ending at the page's moment (now, or the end of its last day).

    Reads the page's actors, run and workflow; its own event types when it has some, else the
    page's event-types filter.
    """

    metric = param.String(
        default="count",
        doc="count, unique (workflows), unique:PATH, sum:PATH or avg:PATH.",
    )
    event_types = param.List(
        default=[], item_type=str, doc="Only events of these types (none: every type)."
    )
    window = param.String(
        default=DEFAULT_WINDOW,
        doc="The span measured, ending at the page's moment (now, or the end of its last day). A "
        "duration: a number and s, m, h, d or w (90m, 6h, 14d).",
    )
    compare = param.Boolean(default=True, doc="Also show the span before it and the change.")

    title = "KPI"
    summary = (
        "One number: a metric over the last window (e.g. 24h), and its change from the window"
        " before."
    )
    spec_extras = {"event_types": {"maxItems": 50}}
    uses_filters = ("end", "zone", "actors", "event_types", "run", "workflow")
    uses_now = True

    def data(self) -> KpiResult:
        scope = self.filters.scope()
        types = self.event_types or list(scope.event_types)
        return kpi(
            scoped(self.catalog, scope.without_types()),
            self.metric,
            event_types=types,
            window=self.window,
            as_of=self.filters.as_of(),
            compare=self.compare,
        )

    def draw(self, result: KpiResult) -> Any:
        label = f"{result.metric} · last {result.window}"
        if result.event_types:
            label += " · " + ", ".join(result.event_types)
        note = ""
        if result.compared:
            before = number(result.previous, whole_floats=False)
            change = result.change_pct
            trend = "–" if change is None else f"{'+' if change >= 0 else ''}{change:.1f}%"
            note = f"{trend} vs the {result.window} before ({before})"
        return pn.pane.HTML(
            kpis_html([(label, number(result.value, whole_floats=False), note, "")]),
            sizing_mode="stretch_width",
        )
