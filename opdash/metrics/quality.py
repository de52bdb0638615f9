"""Data quality: what the catalog read, what it counted once, and what it quarantined and why.

One report for the Data quality panel and ``opdash info``, so both always tell the same story.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opdash.catalog import CatalogStats
from opdash.contract import QUARANTINE_REASONS
from opdash.ingest import QuarantineRow

SAMPLES = 50


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    meaning: str
    records: int


@dataclass(frozen=True)
class QualityReport:
    stats: CatalogStats
    by_reason: list[ReasonCount]
    samples: list[QuarantineRow]  # the first ones (masked), by file then position

    def to_dict(self) -> dict[str, Any]:
        out = self.stats.to_dict()
        out["quarantine_by_reason"] = {r.reason: r.records for r in self.by_reason}
        out["quarantine_samples"] = [
            {k: v for k, v in s._asdict().items() if k != "raw"} for s in self.samples
        ]
        return out


def quality_report(catalog, *, samples: int = SAMPLES) -> QualityReport:
    reasons = catalog.fetchall(
        "SELECT reason, count(*) FROM quarantine GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    rows = catalog.fetchall(
        'SELECT source_file, line, "row", reason, detail, left(raw, 200) FROM quarantine '
        'ORDER BY source_file, line, "row" LIMIT $n',
        {"n": samples},
    )
    return QualityReport(
        stats=catalog.stats(),
        by_reason=[ReasonCount(r, QUARANTINE_REASONS.get(r, ""), n) for r, n in reasons],
        samples=[QuarantineRow(*row).masked() for row in rows],
    )
