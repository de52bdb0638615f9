"""Views of a catalog that metrics take in its place."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class CatalogAsOf:
    """A catalog as it stood at one instant: events after it have not happened yet.

    Metrics that evaluate "as of" a moment (goals, the pipeline) hand this to the funnel, so no
    step — not only step 1 — can come from the future.
    """

    def __init__(self, catalog: Any, moment: datetime) -> None:  # a Catalog or a scoped one
        self._catalog, self.moment = catalog, moment

    @property
    def before(self):
        """The catalog without the cut at the moment."""
        return self._catalog

    def table(self, name: str = "events"):
        table = self._catalog.table(name)
        if name == "events":
            table = table.filter(table.occurred_at <= self.moment)
        return table

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)
