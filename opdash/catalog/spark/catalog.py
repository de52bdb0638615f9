"""The catalog on Apache Spark: the same relations, versions and cached answers as DuckDB's.

:class:`SparkCatalog` implements :class:`~opdash.catalog.protocol.MetricsCatalog` over a Spark
Connect session (:mod:`.session`): the metrics' ibis expressions compile to Spark SQL, the few
SQL texts opdash asks are translated (:mod:`.translate`), answers are kept per data version as
on DuckDB, and a refresh reads the folder again whole (:mod:`.loader`). Only the portable forms
run here; questions share nothing but their answers (Spark caches what it reads).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from opdash.catalog.answers import ResultCache
from opdash.catalog.catalog import Headlines
from opdash.catalog.loader import RefreshReport
from opdash.catalog.spark.ctes import computed_once, keep_table
from opdash.catalog.spark.loader import SparkLoader, location_of
from opdash.catalog.spark.session import Spark, new_session
from opdash.catalog.spark.translate import refuse_user_sql, spark_sql
from opdash.catalog.versions import Versions
from opdash.catalog.views import CatalogAsOf
from opdash.templates import Values

T = TypeVar("T")


class SparkCatalog(Headlines):
    """One artifact folder read by Spark (a local path, or any URI the cluster reads)."""

    dialect = "spark"
    portable = True
    engine = "spark"
    is_catalog = True
    #: tables many questions read are kept (as Spark cached tables, see :meth:`shared`)
    keep_shared = True

    def __init__(
        self, root: str | Path, *, remote: str | None = None, keep_shared: bool = True
    ) -> None:
        self.location = location_of(root)
        # settings and state files (goals.yaml, dashboard.yaml) are read from a local folder
        self.root = Path(self.location) if "://" not in self.location else Path(str(root))
        self.spark: Spark = new_session(remote)  # its own: the views `events`, … are its own
        self._versions = Versions()
        self._results = ResultCache()
        self._lock = threading.RLock()
        self._kept = 0
        self._loader = SparkLoader(self.spark.session, self.location, self._versions)
        self.refresh()

    # -- what the catalog holds -----------------------------------------------------------
    @property
    def memory_limit(self) -> str:
        return self.spark.session.conf.get("spark.driver.memory", "cluster")

    @property
    def remote(self) -> str:
        return self.spark.remote

    # -- reading the folder ---------------------------------------------------------------
    def discover(self):
        return self._loader.discover()

    def refresh(self) -> RefreshReport:
        """Read the folder again when any file changed (whole: see :mod:`.loader`)."""
        with self._lock:
            return self._loader.refresh()

    def watch(self, relpaths) -> None:
        with self._lock:
            self._loader.watch(relpaths)

    def close(self) -> None:
        """Let go of the kept tables and this catalog's session (not the server)."""
        self._loader.close()
        client = self.spark.session.client
        with contextlib.suppress(Exception):  # best effort: the server may be gone already
            client.release_session()
            client.close()

    # -- querying -------------------------------------------------------------------------
    @property
    def ibis(self):
        return self.spark.backend

    def table(self, name: str = "events"):
        return self.ibis.table(name)

    def user_cursor(self):
        """SQL tiles run DuckDB SQL on a cursor: not on Spark."""
        raise refuse_user_sql()

    cursor = user_cursor  # no DuckDB cursor of any kind on Spark

    def fetchall(self, query: str, params: Any = None) -> list[tuple]:
        """Rows of one of opdash's own queries (DuckDB SQL, translated)."""
        rows = self.spark.session.sql(spark_sql(query, params)).collect()
        return [tuple(_plain(v) for v in row) for row in rows]

    def sql(self, query: str, params: Any = None) -> Any:
        return self.spark.session.sql(spark_sql(query, params)).toPandas()

    def execute(self, expr: Any) -> list[dict[str, Any]]:
        session = self.spark.session
        with computed_once(session, str(self.ibis.compile(expr))) as sql:
            rows = session.sql(sql).collect()
        return [{k: _plain(v) for k, v in row.asDict().items()} for row in rows]

    def query(self, shape: Hashable, build: Callable[[Values], Any], **values: Any) -> Any:
        session = self.spark.session
        expr = build(Values(values, stand_ins=False))
        with computed_once(session, str(self.ibis.compile(expr))) as sql:
            return _aware_frame(session.sql(sql).toPandas())

    def query_rows(
        self, shape: Hashable, build: Callable[[Values], Any], *, keep: bool = False, **values
    ) -> list[dict[str, Any]]:
        return self.execute(build(Values(values, stand_ins=False)))

    def shaped_sql(self, shape, build, values, *, keep: bool = False) -> str:
        return str(self.ibis.compile(build(Values(values, stand_ins=False))))

    # -- answers --------------------------------------------------------------------------
    def shared(self, key: Hashable, build: Callable[[Any], Any], *, reads: Any = None) -> Any:
        """The table ``build(builder)`` describes (SQL text or an ibis expression), computed
        once per data version into a cached Spark table, as an ibis table. Spark keeps cached
        tables in memory and spills them to its local disk; a refresh (whole, on Spark) lets
        the older version's go."""
        name = self.cached(("shared", key), lambda: self._keep(build(SparkBuilder(self))))
        return self.ibis.table(name)

    def materialized(self, key: Hashable, sql: Callable[[], str], *, reads: Any = None) -> Any:
        return self.shared(key, lambda _builder: sql(), reads=reads)

    def _keep(self, expr: Any) -> str:
        sql = expr if isinstance(expr, str) else str(self.ibis.compile(expr))
        with self._lock:
            self._kept += 1
            name = f"opdash_kept_{self._kept}"
        with computed_once(self.spark.session, sql) as text:
            self._loader.keep(name, keep_table(self.spark.session, name, text))
        return name

    def as_of(self, moment: datetime) -> CatalogAsOf:
        return CatalogAsOf(self, moment)


class SparkBuilder:
    """What a kept table's build may ask (``opdash.metrics.sequence.Builder``) on Spark:
    numbering rows in an order (the portable form)."""

    portable = True

    def __init__(self, catalog: SparkCatalog) -> None:
        self._catalog = catalog

    def number(self, expr: Any, name: str) -> Any:
        import ibis

        return expr.mutate(**{name: ibis.row_number().over(order_by=list(expr.columns))})


def _plain(value: Any) -> Any:
    """Spark gives instants as naive datetimes in the session's zone (UTC): make them aware,
    as DuckDB's are."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _aware_frame(frame: Any) -> Any:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        return frame
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_datetime64_any_dtype(series) and series.dt.tz is None:
            frame[column] = series.dt.tz_localize("UTC")
    return frame
