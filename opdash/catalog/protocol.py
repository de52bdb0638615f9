"""What the metrics may ask of a catalog: the interface a second engine implements.

The metrics (``opdash.metrics``) take a catalog — or a view of one: :class:`ScopedCatalog`
(filters) and :class:`~opdash.catalog.views.CatalogAsOf` (a moment) pass every other question
on to it. DuckDB's :class:`~opdash.catalog.Catalog` implements this; an engine for Spark
implements the same, with its own SQL dialect (``dialect``, see ``opdash.metrics.sqlfuncs``),
its own kept tables (``shared``) and no compiled-once SQL text (``portable``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


@runtime_checkable
class MetricsCatalog(Protocol):
    """A catalog as the metrics see it."""

    root: Path
    #: which engine's SQL functions to use ("duckdb", "spark")
    dialect: str
    #: only what every engine runs (no engine-only speed-ups)
    portable: bool
    #: whether intermediate results shared by questions are kept (see ``shared``)
    keep_shared: bool

    @property
    def version(self) -> int:
        """The data version: one more after each refresh that changed anything."""

    def table(self, name: str = "events") -> Any:
        """A relation (``events``, ``quarantine``, ``duplicates``, ``runs``, ``alerts``) as an
        ibis table."""

    def fetchall(self, query: str, params: Any = None) -> list[tuple]:
        """Rows of a SQL query in the engine's dialect."""

    def execute(self, expr: Any) -> list[dict[str, Any]]:
        """Rows of an ibis expression."""

    def cached(self, key: Hashable, compute: Callable[[], T], *, reads: Any = None) -> T:
        """``compute()`` once per (key, data version), shared by every session."""

    def shared(self, key: Hashable, build: Callable[[Any], Any], *, reads: Any = None) -> Any:
        """A table many questions read, computed once (as an ibis table)."""

    def query(self, shape: Hashable, build: Callable[[Any], Any], **values: Any) -> Any:
        """``build(values)`` as a DataFrame, compiled once per shape where the engine can."""

    def query_rows(
        self, shape: Hashable, build: Callable[[Any], Any], *, keep: bool = False, **values: Any
    ) -> list[dict[str, Any]]:
        """:meth:`query` as plain rows."""

    def as_of(self, moment: datetime) -> MetricsCatalog:
        """This catalog without the events after ``moment``."""

    def event_types(self) -> list[str]:
        """Event types present, most frequent first."""

    def stats(self) -> Any:
        """Headline counts (``CatalogStats``)."""
