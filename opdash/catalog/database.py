"""The DuckDB database a catalog lives in: its settings, its relations, its cursors.

One in-memory database per catalog. DuckDB's memory is capped (:mod:`opdash.catalog.memory`)
and whatever passes the cap spills to a private temporary folder, never into the artifact
folder. Every thread queries through its own cursor; each thread's ibis backend sits on one.
"""

from __future__ import annotations

import tempfile
import threading
from typing import Any

import duckdb

from opdash import ingest, masking
from opdash.catalog.memory import memory_limit

QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    source_file VARCHAR NOT NULL, line BIGINT, "row" BIGINT,
    reason VARCHAR NOT NULL, detail VARCHAR, raw VARCHAR
)"""
DUPLICATES_DDL = """
CREATE TABLE IF NOT EXISTS duplicates (
    event_id VARCHAR NOT NULL, source_file VARCHAR NOT NULL, line BIGINT, "row" BIGINT
)"""
RUNS_DDL = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR NOT NULL, name VARCHAR, kind VARCHAR, status VARCHAR,
    started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ, heartbeat_at TIMESTAMPTZ,
    params JSON, tags JSON, error VARCHAR
)"""
HIDDEN_DDL = """
CREATE TABLE IF NOT EXISTS parquet_hidden (source_file VARCHAR NOT NULL, source_row BIGINT NOT NULL)
"""
ALERTS_DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    run_id VARCHAR NOT NULL, alert_id VARCHAR, raised_at TIMESTAMPTZ, severity VARCHAR,
    title VARCHAR, message VARCHAR, source VARCHAR, resolved_at TIMESTAMPTZ,
    source_file VARCHAR, line BIGINT
)"""


class Database:
    """An in-memory DuckDB database with opdash's settings and relations."""

    def __init__(self) -> None:
        self._spill = tempfile.TemporaryDirectory(prefix="opdash-spill-")
        self.memory_limit = memory_limit()
        self.con = duckdb.connect(
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                # what passes the cap spills to a private temp folder (never the artifact folder)
                "temp_directory": self._spill.name,
                "memory_limit": self.memory_limit,
            }
        )
        # GLOBAL: every cursor (one per thread) must see instants in UTC too
        self.con.execute("SET GLOBAL TimeZone = 'UTC'")
        # a query naming an unknown table must fail, never read a Python variable of that name
        self.con.execute("SET GLOBAL python_enable_replacements = false")
        for ddl in (
            ingest.EVENTS_DDL,
            QUARANTINE_DDL,
            DUPLICATES_DDL,
            RUNS_DDL,
            ALERTS_DDL,
            HIDDEN_DDL,
        ):
            self.con.execute(ddl)
        self._cursor_lock = threading.Lock()
        self._masking_declared = False
        self._local = threading.local()

    @property
    def spill_folder(self) -> str:
        return self._spill.name

    def close(self) -> None:
        self.con.close()
        self._spill.cleanup()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor: DuckDB connections must not be shared by threads."""
        with self._cursor_lock:
            return self.con.cursor()

    def user_cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor for a query the user wrote (a SQL tile): the masking functions its
        relations are read through are declared first, on the connection itself (a function
        declared on a cursor dies with it)."""
        with self._cursor_lock:
            if not self._masking_declared:
                masking.declare_functions(self.con)
                self._masking_declared = True
            return self.con.cursor()

    def sql(self, query: str, params: dict[str, Any] | list[Any] | None = None) -> Any:
        """Run SQL on a fresh cursor and return a pandas DataFrame."""
        cur = self.cursor()
        try:
            return cur.execute(query, params).df()
        finally:
            cur.close()

    def fetchall(self, query: str, params: dict[str, Any] | list[Any] | None = None) -> list[tuple]:
        cur = self.cursor()
        try:
            return cur.execute(query, params).fetchall()
        finally:
            cur.close()

    @property
    def ibis(self):
        """The ibis DuckDB backend of the calling thread (on that thread's own cursor)."""
        backend = getattr(self._local, "ibis", None)
        if backend is None:
            import ibis

            backend = self._local.ibis = ibis.duckdb.from_connection(self.cursor())
        return backend
