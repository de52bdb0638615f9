"""DataQuality: the headline counts, what was read, what was counted once, and what was
quarantined and why."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from opdash.catalog import CatalogStats
from opdash.components.base import CatalogView, card_html
from opdash.components.kpi import kpis_html
from opdash.components.tables import plain_table
from opdash.display import utc_time
from opdash.metrics.quality import QualityReport, quality_report


class DataQuality(CatalogView):
    """Events, workflows, runs, quarantined records and the newest event; then files read,
    duplicates, and quarantined records by reason with samples."""

    title = "Data quality"
    summary = "Headline counts, files read, duplicates and quarantined records by reason."
    uses_filters = ()

    def data(self) -> QualityReport:
        return quality_report(self.catalog)

    def draw(self, report: QualityReport) -> Any:
        s = report.stats
        refreshed = utc_time(s.refreshed_at, "never")
        summary = (
            f"{s.files:,} files read · {s.events:,} events · {_plural(s.duplicates, 'repeated event id')}"
            f" counted once · {_plural(s.quarantined, 'record')} quarantined · last refresh {refreshed}"
        )
        tone = "warning" if s.quarantined else "ok"
        parts: list[Any] = [
            pn.pane.HTML(headline_html(s), sizing_mode="stretch_width"),
            pn.pane.HTML(
                card_html("Data quality", summary, tone=tone), sizing_mode="stretch_width"
            ),
        ]
        if s.quarantined:
            parts.append(plain_table(pd.DataFrame([vars(r) for r in report.by_reason])))
            samples = [
                {
                    "file": q.source_file,
                    "where": q.where,
                    "reason": q.reason,
                    "detail": q.detail,
                    "raw": q.raw,
                }
                for q in report.samples
            ]
            parts.append(plain_table(pd.DataFrame(samples), max_height=360))
        return pn.Column(*parts, sizing_mode="stretch_width")


def headline_html(s: CatalogStats) -> str:
    """Events, workflows, runs, quarantined and the newest event: the folder at a glance."""
    newest = utc_time(s.last_event_at, seconds=False)
    return kpis_html(
        [
            ("Events", f"{s.events:,}", "", ""),
            ("Workflows", f"{s.workflows:,}", "", ""),
            ("Runs", f"{s.runs:,}", "", ""),
            ("Quarantined", f"{s.quarantined:,}", "", "warn" if s.quarantined else ""),
            ("Newest event", newest, "", ""),
        ]
    )


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
