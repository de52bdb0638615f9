"""DataQuality: what was read, what was counted twice, and what was quarantined and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import panel as pn

from opdash.catalog import CatalogStats
from opdash.components.base import CatalogView, card_html
from opdash.contract import QUARANTINE_REASONS

SAMPLES = 50


@dataclass(frozen=True)
class QualityReport:
    stats: CatalogStats
    by_reason: pd.DataFrame  # reason, meaning, records
    samples: pd.DataFrame  # file, where, reason, detail, raw


def quality_report(catalog, *, samples: int = SAMPLES) -> QualityReport:
    by_reason = catalog.sql(
        "SELECT reason, count(*) AS records FROM quarantine GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    by_reason.insert(1, "meaning", by_reason["reason"].map(QUARANTINE_REASONS).fillna(""))
    rows = catalog.sql(
        """SELECT source_file AS file,
                  CASE WHEN line IS NOT NULL THEN 'line ' || line
                       WHEN "row" IS NOT NULL THEN 'row ' || "row" ELSE 'whole file' END AS "where",
                  reason, detail, left(raw, 200) AS raw
           FROM quarantine ORDER BY source_file, line, "row" LIMIT $n""",
        {"n": samples},
    )
    return QualityReport(catalog.stats(), by_reason, rows)


class DataQuality(CatalogView):
    """Files read, events, duplicates, quarantined records by reason with samples."""

    title = "Data quality"

    def data(self) -> QualityReport:
        return quality_report(self.catalog)

    def view(self) -> Any:
        report = self.data()
        s = report.stats
        refreshed = s.refreshed_at.strftime("%Y-%m-%d %H:%M:%S %Z") if s.refreshed_at else "never"
        summary = (
            f"{s.files:,} files read · {s.events:,} events · {_plural(s.duplicates, 'repeated event id')}"
            f" counted once · {_plural(s.quarantined, 'record')} quarantined · last refresh {refreshed}"
        )
        tone = "warning" if s.quarantined else "ok"
        parts: list[Any] = [
            pn.pane.HTML(card_html("Data quality", summary, tone=tone), sizing_mode="stretch_width")
        ]
        if s.quarantined:
            parts.append(_table(report.by_reason))
            parts.append(_table(report.samples))
        return pn.Column(*parts, sizing_mode="stretch_width")


def _table(frame: pd.DataFrame) -> pn.widgets.Tabulator:
    return pn.widgets.Tabulator(
        frame,
        show_index=False,
        disabled=True,
        sizing_mode="stretch_width",
        layout="fit_data_stretch",
        formatters={name: {"type": "plaintext"} for name in frame.columns},
        max_height=360,
    )


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
