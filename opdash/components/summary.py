"""SummaryBar: the folder and its headline counts, the first thing an operator reads."""

from __future__ import annotations

import html
from typing import Any

import panel as pn

from opdash.catalog import CatalogStats
from opdash.components.base import CatalogView


class SummaryBar(CatalogView):
    """Events, workflows, runs and quarantined records, with the time of the newest event."""

    title = "Summary"
    uses_filters = ()

    def data(self) -> CatalogStats:
        return self.catalog.stats()

    def draw(self, s: CatalogStats) -> Any:
        tiles = [
            ("Events", f"{s.events:,}", ""),
            ("Workflows", f"{s.workflows:,}", ""),
            ("Runs", f"{s.runs:,}", ""),
            ("Quarantined", f"{s.quarantined:,}", " opdash-kpi-warn" if s.quarantined else ""),
            ("Newest event", _when(s.last_event_at), ""),
        ]
        body = "".join(
            f'<div class="opdash-kpi{cls}"><div class="opdash-kpi-label">{html.escape(label)}</div>'
            f'<div class="opdash-kpi-value">{html.escape(value)}</div></div>'
            for label, value, cls in tiles
        )
        return pn.pane.HTML(f'<div class="opdash-kpis">{body}</div>', sizing_mode="stretch_width")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"
