"""The catalog: one in-process DuckDB database holding everything an artifact folder says.

A thin front over the parts, one module each: the database and its cursors
(:mod:`~opdash.catalog.database`), the loader that reads the folder
(:mod:`~opdash.catalog.loader`), data versions (:mod:`~opdash.catalog.versions`), answers kept
per version (:mod:`~opdash.catalog.answers`) and tables shared between questions
(:mod:`~opdash.catalog.store`). One catalog serves a whole process; threads query it through
their own cursors. Metrics ask only what :class:`opdash.catalog.protocol.MetricsCatalog` names.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from opdash.catalog.answers import ResultCache
from opdash.catalog.database import Database
from opdash.catalog.disk_cache import DiskCache
from opdash.catalog.loader import Loader, RefreshReport
from opdash.catalog.memory import parse_bytes
from opdash.catalog.store import Builder, SharedTables, shared_budget
from opdash.catalog.versions import Reads, Versions
from opdash.catalog.views import CatalogAsOf
from opdash.contract import ArtifactFile
from opdash.templates import Templates, Values

T = TypeVar("T")


@dataclass(frozen=True)
class CatalogStats:
    """Headline counts of what the folder holds."""

    files: int
    events: int
    workflows: int
    runs: int
    quarantined: int
    duplicates: int
    first_event_at: datetime | None
    last_event_at: datetime | None
    refreshed_at: datetime | None
    version: int
    pending: tuple[str, ...] = ()  # whole files (.json, .parquet) not readable yet: retried

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("first_event_at", "last_event_at", "refreshed_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


class Headlines:
    """What every engine's catalog does the same way: answers kept per data version (its
    ``_results`` and ``_versions``), and headline counts (its own SQL through ``fetchall``,
    its loader's ``files`` and ``pending``)."""

    @property
    def version(self) -> int:
        """The data version: one more after each refresh that changed anything."""
        return self._versions.version

    @property
    def refreshed_at(self) -> datetime | None:
        return self._loader.refreshed_at

    @property
    def refresh_seconds(self) -> float | None:
        """How long the last refresh that read anything took."""
        return self._loader.refresh_seconds

    def stats(self) -> CatalogStats:
        row = self.cached(
            "stats",
            lambda: self.fetchall(
                """
                SELECT (SELECT count(*) FROM events), (SELECT count(DISTINCT workflow_id) FROM events),
                       (SELECT count(*) FROM runs), (SELECT count(*) FROM quarantine),
                       (SELECT count(*) FROM duplicates),
                       (SELECT min(occurred_at) FROM events), (SELECT max(occurred_at) FROM events)
                """
            )[0],
        )
        return CatalogStats(
            files=self._loader.files,
            events=row[0],
            workflows=row[1],
            runs=row[2],
            quarantined=row[3],
            duplicates=row[4],
            first_event_at=row[5],
            last_event_at=row[6],
            refreshed_at=self.refreshed_at,
            version=self.version,
            pending=self._loader.pending,
        )

    def event_types(self) -> list[str]:
        """Event types present, most frequent first."""
        rows = self.cached(
            "types",
            lambda: self.fetchall(
                "SELECT event_type FROM events GROUP BY 1 ORDER BY count(*) DESC, 1"
            ),
        )
        return [r[0] for r in rows]

    def cached(self, key: Hashable, compute: Callable[[], T], *, reads: Reads | None = None) -> T:
        """``compute()`` once per (``key``, data version), shared by every session and thread.

        Results must be immutable (the metrics return frozen dataclasses). A result whose
        queries straddled a refresh's commit is computed again (see ``Versions.one_version``):
        it may then be newer than the version it is filed under, never older or mixed; so is one
        that failed because a shared table it read was dropped (its grace over). With
        ``reads``, an answer of an older version is served when no refresh since changed what
        it reads.
        """
        return self._results.get(
            key,
            self.version,
            lambda: self._versions.one_version(compute, reads),
            self._versions.still_holds(reads),
        )

    def unchanged_since(self, version: int, reads: Reads) -> bool:
        """Whether the refreshes after ``version`` changed none of what ``reads`` names."""
        return self._versions.unchanged_since(version, reads)

    def was_read(self, key: Hashable) -> bool:
        """Whether the answer kept for ``key`` was asked for after it was computed."""
        return self._results.was_read(key)

    def peek(self, key: Hashable, *, reads: Reads | None = None) -> tuple[bool, Any]:
        """``(True, result)`` when ``key`` is answered for the current version, else
        ``(False, None)``: never computes and never waits, so the event loop may ask."""
        return self._results.peek(key, self.version, self._versions.still_holds(reads))


class Catalog(Headlines):
    """One DuckDB database over one artifact folder.

    ``catalog.sql("SELECT …")`` runs SQL over ``events``, ``quarantine``, ``duplicates``, ``runs``
    and ``alerts``; ``catalog.table("events")`` is the same data as an ibis table.
    """

    #: The SQL engine it runs on (metrics pick their engine-specific functions by it).
    dialect = "duckdb"
    engine = "duckdb"
    is_catalog = True

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        portable: bool | None = None,
        keep_shared: bool = True,
    ) -> None:
        self.root = Path(root).expanduser().resolve()
        #: Whether intermediate results shared by questions are kept (see :meth:`shared`).
        self.keep_shared = keep_shared
        #: Only the portable forms (what Spark runs too): no DuckDB-only speed-ups. The
        #: reference the DuckDB forms are tested against (``OPDASH_PORTABLE=1``).
        self.portable = portable if portable is not None else _env_portable()
        self._db = Database()
        self._versions = Versions()
        self._results = ResultCache()
        self._templates = Templates(disk=DiskCache(self.root, "queries"))
        self._shared = SharedTables(
            self._db, shared_budget(parse_bytes(self.memory_limit) or 0), portable=self.portable
        )
        self._lock = threading.RLock()
        self._loader = Loader(self.root, self._db.con, self._versions)
        self.refresh()

    def close(self) -> None:
        """Let go of the database and its spill folder (a server's first process does, before
        it forks the processes that serve: a DuckDB database must not cross a fork)."""
        with _SHARED_LOCK:
            for key in [k for k, v in _SHARED.items() if v is self]:
                del _SHARED[key]
        self._db.close()

    # -- what the catalog holds ----------------------------------------------------------------
    @property
    def memory_limit(self) -> str:
        """DuckDB's memory cap for this catalog (see opdash.catalog.memory)."""
        return self._db.memory_limit

    # -- reading the folder ----------------------------------------------------------------
    def discover(self) -> list[ArtifactFile]:
        """Every artifact file under the folder, in a stable (sorted) order."""
        return self._loader.discover()

    def refresh(self) -> RefreshReport:
        """Read new files and appended lines (see :meth:`Loader.refresh`): all or nothing."""
        with self._lock:
            try:
                return self._loader.refresh()
            finally:
                self._shared.drop_retired()  # also when no session asks for anything new

    def watch(self, relpaths: list[str] | tuple[str, ...]) -> None:
        """Also stamp these folder-relative files on each refresh (a dashboard's state files):
        an edit to one is a new data version, so the views showing it redraw."""
        with self._lock:
            self._loader.watch(relpaths)

    # -- querying ---------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor: DuckDB connections must not be shared by threads. Not under the
        refresh lock, so readers never wait for a refresh to finish."""
        return self._db.cursor()

    def user_cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor for a SQL tile's query (:meth:`Database.user_cursor`)."""
        return self._db.user_cursor()

    def sql(self, query: str, params: dict[str, Any] | list[Any] | None = None) -> Any:
        """Run SQL on a fresh cursor and return a pandas DataFrame."""
        return self._db.sql(query, params)

    def fetchall(self, query: str, params: dict[str, Any] | list[Any] | None = None) -> list[tuple]:
        return self._db.fetchall(query, params)

    @property
    def ibis(self):
        """The ibis DuckDB backend of the calling thread (on that thread's own cursor)."""
        return self._db.ibis

    def table(self, name: str = "events"):
        """A relation of the catalog as an ibis table."""
        return self.ibis.table(name)

    def execute(self, expr: Any) -> list[dict[str, Any]]:
        """The rows of an ibis expression as dicts (no pandas on the way)."""
        cur = self.cursor()
        try:
            result = cur.execute(str(self.ibis.compile(expr)))
            names = [d[0] for d in result.description]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
        finally:
            cur.close()

    # -- answers and shared tables ----------------------------------------------------------
    def shared(
        self, key: Hashable, build: Callable[[Builder], Any], *, reads: Reads | None = None
    ) -> Any:
        """The table ``build(builder)`` describes (an ibis expression or SQL text), computed
        once and shared by every question, session and thread, as an ibis table.

        For intermediate results many questions share (a funnel's chains, whatever the window
        or date range). The table serves newer data versions while no refresh changed what it
        ``reads`` (None: one version only). What is kept is bounded by bytes (see
        opdash.catalog.store); a retired table stays readable for a grace period, and a
        question that reads it after that is computed again (see :meth:`cached`). A catalog
        that keeps nothing (``keep_shared=False``: a command asking one question) returns the
        expression itself, computed within that question.
        """
        if not self.keep_shared:
            expr = build(Builder(portable=self.portable))
            if isinstance(expr, str):
                raise TypeError("a catalog that keeps nothing needs an ibis expression, not SQL")
            return expr
        name = self.cached(("shared", key), lambda: self._build_shared(key, build), reads=reads)
        self._shared.touch(name)
        return self.ibis.table(name)

    def materialized(
        self, key: Hashable, sql: Callable[[], str], *, reads: Reads | None = None
    ) -> Any:
        """:meth:`shared` for a table given as SQL text."""
        return self.shared(key, lambda _stager: sql(), reads=reads)

    def _build_shared(self, key: Hashable, build: Callable[[Builder], Any]) -> str:
        name, retired = self._shared.build(key, build)
        for old, old_key in retired:  # no new question gets it; those reading it finish
            self._results.forget(("shared", old_key), old)
        self._shared.drop_retired()  # (after the forgetting: no question is handed a dropped one)
        return name

    def shaped_sql(
        self,
        shape: Hashable,
        build: Callable[[Values], Any],
        values: dict[str, int | str],
        *,
        keep: bool = False,
    ) -> str:
        """The SQL of ``build(values)``, compiled once per ``shape`` (see opdash.templates; a
        DuckDB-only speed-up: portable, it is compiled per question); ``keep``: once per shape
        across processes too (the shape must then say everything the query depends on)."""
        if self.portable:
            return str(self.ibis.compile(build(Values(values, stand_ins=False))))
        # the ibis backend is only loaded to compile: SQL kept from an earlier process needs none
        return self._templates.sql(
            shape, build, values, lambda expr: self.ibis.compile(expr), keep=keep
        )

    def query(self, shape: Hashable, build: Callable[[Values], Any], **values: int | str) -> Any:
        """``build(values)`` run as a pandas DataFrame, its SQL compiled once per ``shape``."""
        cur = self.cursor()
        try:
            return cur.execute(self.shaped_sql(shape, build, values)).df()
        finally:
            cur.close()

    def query_rows(
        self, shape: Hashable, build: Callable[[Values], Any], *, keep: bool = False, **values
    ) -> list[dict[str, Any]]:
        """:meth:`query` as plain rows (no pandas on the way); ``keep`` as for
        :meth:`shaped_sql`."""
        cur = self.cursor()
        try:
            result = cur.execute(self.shaped_sql(shape, build, values, keep=keep))
            names = [d[0] for d in result.description]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
        finally:
            cur.close()

    def as_of(self, moment: datetime) -> CatalogAsOf:
        """This catalog without the events after ``moment`` (an aware datetime)."""
        return CatalogAsOf(self, moment)


def _env_portable() -> bool:
    return os.environ.get("OPDASH_PORTABLE", "").strip() not in ("", "0")


_SHARED: dict[
    tuple, Any
] = {}  # (process id, folder, engine, remote): a forked process opens its own
_SHARED_LOCK = threading.Lock()

#: The engines a catalog runs on: DuckDB embedded (the default), or Apache Spark through Spark
#: Connect (``opdash.catalog.spark``; pyspark is imported only when it is asked for).
ENGINES = ("duckdb", "spark")


def open_catalog(
    root: str | os.PathLike[str],
    *,
    keep_shared: bool = True,
    engine: str = "duckdb",
    remote: str | None = None,
) -> Any:
    """A new catalog over ``root`` on ``engine`` (``keep_shared=False``: for one question, see
    :meth:`Catalog.shared`; ``remote``: a Spark Connect URL, None for a local Spark)."""
    if engine == "spark":
        from opdash.catalog.spark import SparkCatalog, remote_url

        return SparkCatalog(root, remote=remote_url(remote), keep_shared=keep_shared)
    _known_engine(engine)
    return Catalog(root, keep_shared=keep_shared)


def shared_catalog(
    root: str | os.PathLike[str], *, engine: str = "duckdb", remote: str | None = None
) -> Any:
    """The one catalog of this process for ``root`` (and engine), shared by every session
    that asks for it."""
    _known_engine(engine)
    if engine == "spark":
        from opdash.catalog.spark import remote_url

        remote = remote_url(remote)
        location = str(root) if "://" in str(root) else Path(root).expanduser().resolve()
    else:
        location = Path(root).expanduser().resolve()
    key = (os.getpid(), location, engine, remote)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = open_catalog(location, engine=engine, remote=remote)
        catalog = _SHARED[key]
    return catalog


def _known_engine(engine: str) -> None:
    if engine not in ENGINES:
        from opdash.errors import UsageError, did_you_mean

        raise UsageError(
            f"unknown engine '{engine}'{did_you_mean(engine, ENGINES)} (use duckdb or spark)"
        )
