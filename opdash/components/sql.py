"""SqlView: the rows of one read-only query of the spec, with events narrowed to the page."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import panel as pn
import param

from opdash.components.base import CatalogView, empty_card
from opdash.components.tables import plain_table
from opdash.metrics.sql import MAX_ROWS, SqlResult, run_sql


class SqlView(CatalogView):
    """A table of a SELECT over events, quarantine, duplicates, runs and alerts.

    ``events`` holds the page's filters (date range, actors, types, run, workflow); the query
    is checked to be a single read-only SELECT before it runs (see ``opdash.metrics.sql``).
    """

    sql = param.String(
        default="",
        doc="One read-only SELECT (or WITH) over events, quarantine, duplicates, runs and alerts.",
    )
    limit = param.Integer(default=100, bounds=(1, MAX_ROWS), doc="Rows shown.")

    title = "Query"
    summary = "The rows of one read-only query; events narrowed to the page's filters."
    spec_extras = {"sql": {"minLength": 1}}
    spec_required = ("sql",)

    def data(self) -> SqlResult:
        return run_sql(self.catalog, self.sql, self.filters.scope(), limit=self.limit)

    def draw(self, result: SqlResult) -> Any:
        if not result.rows:
            return empty_card("No rows", "The query returned no rows for the page's filters.")
        rows = [["" if v is None else str(v) for v in row] for row in result.rows]
        frame = pd.DataFrame(rows, columns=_unique(result.columns))
        parts: list[Any] = [plain_table(frame, max_height=420)]
        if result.truncated:
            note = f"The first {len(result.rows):,} rows are shown; the query returned more."
            parts.append(pn.pane.HTML(f"<small>{html.escape(note)}</small>"))
        return pn.Column(*parts, sizing_mode="stretch_width")


def _unique(columns: list[str]) -> list[str]:
    """Column names made unique for the table (a query may name two columns alike)."""
    seen: dict[str, int] = {}
    out = []
    for name in columns:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out
