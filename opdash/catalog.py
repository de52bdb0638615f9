"""The catalog: one in-process DuckDB database holding everything an artifact folder says.

It reads the folder (never writes to it), normalises every event into the ``events`` relation,
puts every record it cannot accept into ``quarantine`` with a reason, counts repeated event ids
once, and on :meth:`Catalog.refresh` reads only what is new: new files and appended complete lines.
One catalog serves a whole process; threads query it through their own cursors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from opdash import ingest
from opdash.contract import RAW_LIMIT, SETTINGS_FILES, ArtifactFile, FileKind, classify
from opdash.parquet import ParquetSource
from opdash.templates import Templates, Values

#: DuckDB's memory cap (``OPDASH_MEMORY_LIMIT`` overrides): past it, sorts and joins spill to disk.
DEFAULT_MEMORY_LIMIT = "1GB"
#: Results kept per catalog (all sessions together); old data versions are dropped at once.
RESULT_CACHE_SIZE = 512
#: Materialized intermediate tables kept per kind (the first item of a tuple key): a funnel's
#: chains are ~30 MB at 1M events, Today's task states and coach insights a few MB.
MATERIALIZED_KEEP = int(os.environ.get("OPDASH_MATERIALIZED_KEEP", "6"))
#: Seconds a retired materialized table stays readable for the questions still reading it.
RETIRED_GRACE = 30.0
T = TypeVar("T")


def _kind(key: Hashable) -> Hashable:
    return key[0] if isinstance(key, tuple) and key else key


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


MARK_BYTES = 4096
_APPENDABLE = (FileKind.JSON_LINES, FileKind.RUN_EVENTS, FileKind.RUN_ALERTS)


@dataclass
class FileState:
    """What the catalog has read of one file, so a refresh reads only what changed."""

    size: int
    mtime_ns: int
    offset: int = 0  # bytes consumed (JSON lines: up to the last complete line)
    next_line: int = 1
    marks: bytes = b""  # digest of the first and the last 4 KB consumed (a rewrite changes it)


@dataclass(frozen=True)
class RefreshReport:
    """What one refresh read."""

    files_read: int
    events_added: int
    quarantined_added: int
    duplicates_added: int
    version: int


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


@dataclass(frozen=True)
class Reads:
    """What an answer depends on, so a refresh that changed none of it keeps the answer:
    ``tables`` besides events (quarantine, duplicates, runs, alerts, settings — the watched
    files), and the events up to ``horizon`` (inclusive), of ``event_types``, by ``actors``
    (None: no such limit)."""

    tables: frozenset[str] = frozenset()
    horizon: datetime | None = None
    event_types: frozenset[str] | None = None
    actors: frozenset[str] | None = None


@dataclass(frozen=True)
class Change:
    """What one refresh changed: ``tables``, and events at or after ``events_from`` (None: no
    event) of ``event_types`` by ``actors`` (None: any)."""

    version: int
    tables: frozenset[str]
    events_from: datetime | None = None
    event_types: frozenset[str] | None = None
    actors: frozenset[str] | None = None

    def spares(self, reads: Reads) -> bool:
        """Whether an answer reading ``reads`` is the same after this change."""
        if self.tables & reads.tables:
            return False
        return (
            self.events_from is None
            or (reads.horizon is not None and self.events_from > reads.horizon)
            or _apart(self.event_types, reads.event_types)
            or _apart(self.actors, reads.actors)
        )


def _apart(changed: frozenset[str] | None, read: frozenset[str] | None) -> bool:
    return changed is not None and read is not None and not changed & read


#: The tables besides events a file of each kind puts rows in (what leaves when it leaves).
_HOLDS = {
    FileKind.RUN_META: frozenset({"runs"}),
    FileKind.RUN_ALERTS: frozenset({"alerts", "quarantine"}),
}
_EVENT_FILE_HOLDS = frozenset({"quarantine", "duplicates"})
_EVENT_KINDS = (FileKind.JSON_LINES, FileKind.RUN_EVENTS, FileKind.JSON, FileKind.PARQUET)

#: A change to events at no particular time: every answer reading events is recomputed.
ANY_TIME = datetime.min.replace(tzinfo=UTC)
CHANGES_KEPT = 256
NAMES_KEPT = 100  # a change to more event types or actors than this may touch any


@dataclass(frozen=True)
class _Source:
    """A file being read: what it is, where it is, and its place in reading order."""

    artifact: ArtifactFile
    path: Path
    seq: int


@dataclass
class _Batch:
    """Everything one refresh read, validated together in one SQL pass."""

    records: list[ingest.Record] = field(default_factory=list)
    parquet: list[tuple[_Source, dict[str, str]]] = field(default_factory=list)
    fast: list[ParquetSource] = field(default_factory=list)
    bad: list[tuple] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    forget: list[ArtifactFile] = field(default_factory=list)  # leaves before the rest is filed
    runs: list[tuple[str, list]] = field(default_factory=list)  # (run_id, its runs row)
    alerts: list[tuple] = field(default_factory=list)

    def add_records(self, src: _Source, items) -> None:
        self.files.append(src.artifact.relpath)
        for item in items:
            if isinstance(item, ingest.Record):
                self.records.append(
                    ingest.Record(
                        item.line,
                        item.row,
                        item.text,
                        src.artifact.relpath,
                        src.seq,
                        src.artifact.run_id,
                    )
                )
            else:
                self.bad.append(
                    (src.artifact.relpath, item.line, item.row, item.reason, item.detail, item.raw)
                )

    def add_parquet(self, src: _Source, columns: dict[str, str]) -> None:
        self.files.append(src.artifact.relpath)
        self.parquet.append((src, columns))

    def bad_file(self, src: _Source | str, detail: str) -> None:
        relpath = src if isinstance(src, str) else src.artifact.relpath
        self.bad.append((relpath, None, None, "unreadable_file", detail, ""))

    def parts(self) -> tuple[list[str], dict[str, Any]]:
        """The fields relations to union, and their bound parameters."""
        parts = [ingest.TEXT_FIELDS_SQL] if self.records else []
        params: dict[str, Any] = {}
        for i, (src, columns) in enumerate(self.parquet):
            parts.append(ingest.parquet_fields_sql(columns, f"p{i}"))
            params |= {
                f"p{i}_path": str(src.path),
                f"p{i}_file": src.artifact.relpath,
                f"p{i}_run": src.artifact.run_id,
                f"p{i}_seq": src.seq,
            }
        return parts, params

    def parquet_paths(self) -> dict[str, str]:
        return {src.artifact.relpath: str(src.path) for src, _ in self.parquet}

    def split(self) -> list[_Batch]:
        """One batch per file read through SQL, to isolate a file that makes the batch fail."""
        out: dict[str, _Batch] = {}
        for record in self.records:
            out.setdefault(record.source_file, _Batch(files=[record.source_file])).records.append(
                record
            )
        for src, columns in self.parquet:
            out.setdefault(
                src.artifact.relpath, _Batch(files=[src.artifact.relpath])
            ).parquet.append((src, columns))
        return list(out.values())


class Catalog:
    """One DuckDB database over one artifact folder.

    ``catalog.sql("SELECT …")`` runs SQL over ``events``, ``quarantine``, ``duplicates``, ``runs``
    and ``alerts``; ``catalog.table("events")`` is the same data as an ibis table.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self._spill = tempfile.TemporaryDirectory(prefix="opdash-spill-")
        self._con = duckdb.connect(
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                # big sorts spill to a private temp folder (never into the artifact folder)
                "temp_directory": self._spill.name,
                "memory_limit": os.environ.get("OPDASH_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT),
            }
        )
        # GLOBAL: every cursor (one per thread) must see instants in UTC too
        self._con.execute("SET GLOBAL TimeZone = 'UTC'")
        # a query naming an unknown table must fail, never read a Python variable of that name
        self._con.execute("SET GLOBAL python_enable_replacements = false")
        for ddl in (
            ingest.EVENTS_DDL,
            QUARANTINE_DDL,
            DUPLICATES_DDL,
            RUNS_DDL,
            ALERTS_DDL,
            HIDDEN_DDL,
        ):
            self._con.execute(ddl)
        self._fast: dict[str, ParquetSource] = {}
        self._results = ResultCache()
        self._templates = Templates()
        # table -> key, least recently asked for first; retired: (when, table, key)
        self._materialized: OrderedDict[str, Hashable] = OrderedDict()
        self._retired: list[tuple[float, str, Hashable]] = []
        self._materialized_lock = threading.Lock()
        self._materialized_count = 0
        self._rebuild_view()
        self._lock = threading.RLock()
        self._cursor_lock = threading.Lock()
        self._local = threading.local()
        self._states: dict[str, FileState] = {}
        self.version = 0
        self._settings_stamp: tuple | None = None
        self._watched: tuple[str, ...] = SETTINGS_FILES
        self.refreshed_at: datetime | None = None
        self.refresh_seconds: float | None = None  # how long the last refresh that read took
        self._pending: dict[str, tuple[int, int]] = {}  # unreadable whole file -> (size, mtime)
        # a refresh's commit and the computations that must not see one (see _one_version)
        self._commit_cond = threading.Condition()
        self._committing = False
        self._commits = 0
        self._holding_off = 0
        self._changes: deque[Change] = deque(maxlen=CHANGES_KEPT)
        self.refresh()

    def close(self) -> None:
        """Let go of the database and its spill folder (a server's first process does, before
        it forks the processes that serve: a DuckDB database must not cross a fork)."""
        with _SHARED_LOCK:
            for key in [k for k, v in _SHARED.items() if v is self]:
                del _SHARED[key]
        self._con.close()
        self._spill.cleanup()

    # -- querying ---------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor: DuckDB connections must not be shared by threads.

        Not under the refresh lock, so readers never wait for a refresh to finish.
        """
        with self._cursor_lock:
            return self._con.cursor()

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

    def table(self, name: str = "events"):
        """A relation of the catalog as an ibis table."""
        return self.ibis.table(name)

    def cached(self, key: Hashable, compute: Callable[[], T], *, reads: Reads | None = None) -> T:
        """``compute()`` once per (``key``, data version), shared by every session and thread.

        Results must be immutable (the metrics return frozen dataclasses). A result whose
        queries straddled a refresh's commit is computed again (see ``_one_version``): it may
        then be newer than the version it is filed under, never older or mixed. With ``reads``,
        an answer of an older version is served when no refresh since changed what it reads.
        """
        return self._results.get(
            key, self.version, lambda: self._one_version(compute, reads), self._carry(reads)
        )

    def _carry(self, reads: Reads | None) -> Callable[[int], bool] | None:
        """Whether an answer of an older version still holds: no refresh since changed what it
        ``reads`` (None: it is never carried)."""
        if reads is None:
            return None
        return lambda version: self.unchanged_since(version, reads)

    def unchanged_since(self, version: int, reads: Reads) -> bool:
        """Whether the refreshes after ``version`` changed none of what ``reads`` names: a live
        exporter appends events newer than a pinned view's range, and that view's answer stays."""
        changes = [c for c in list(self._changes) if c.version > version]
        if len(changes) != self.version - version:
            return False  # older than the changes remembered
        return all(change.spares(reads) for change in changes)

    def _one_version(self, compute: Callable[[], T], reads: Reads | None = None) -> T:
        """``compute()`` on one data version. Its queries (each on its own cursor) could
        straddle a refresh's commit, seeing some tables before it and some after: such a result
        is computed again — unless the commit changed none of what it ``reads``, when both
        sides give the same answer — and that time the next commit waits for it. A failure that
        straddled a commit is tried again too (a table it read may have been replaced). No
        session ever sees half a refresh, and no computation waits for more than one commit."""
        with self._commit_cond:
            self._commit_cond.wait_for(lambda: not self._committing)
            commits, version = self._commits, self.version
        try:
            result = compute()
        except Exception:
            if not self._straddled(commits, version, None):
                raise
        else:
            if not self._straddled(commits, version, reads):
                return result
        with self._commit_cond:
            self._commit_cond.wait_for(lambda: not self._committing)
            self._holding_off += 1
        try:
            return compute()
        finally:
            with self._commit_cond:
                self._holding_off -= 1
                self._commit_cond.notify_all()

    def _straddled(self, commits: int, version: int, reads: Reads | None) -> bool:
        """Whether a commit since ``commits`` (at ``version``) may have changed what a
        computation started then ``reads`` (None: anything)."""
        with self._commit_cond:
            self._commit_cond.wait_for(lambda: not self._committing)
            if self._commits == commits:
                return False
        return reads is None or not self.unchanged_since(version, reads)

    def _commit(self, change: Change) -> None:
        """Make a refresh visible at once: readers' cursors see the tables before or after."""
        with self._commit_cond:
            self._commit_cond.wait_for(lambda: not self._holding_off)
            self._committing = True
            self._commits += 1
        try:
            self._con.execute("COMMIT")
            self._changes.append(change)
            self.version += 1
        finally:
            with self._commit_cond:
                self._committing = False
                self._commit_cond.notify_all()

    def shaped_sql(
        self, shape: Hashable, build: Callable[[Values], Any], values: dict[str, int | str]
    ) -> str:
        """The SQL of ``build(values)``, compiled once per ``shape`` (see opdash.templates)."""
        return self._templates.sql(shape, build, values, self.ibis.compile)

    def query(self, shape: Hashable, build: Callable[[Values], Any], **values: int | str) -> Any:
        """``build(values)`` run as a pandas DataFrame, its SQL compiled once per ``shape``."""
        cur = self.cursor()
        try:
            return cur.execute(self.shaped_sql(shape, build, values)).df()
        finally:
            cur.close()

    def materialized(
        self, key: Hashable, sql: Callable[[], str], *, reads: Reads | None = None
    ) -> Any:
        """The result of the query ``sql()`` gives, computed into a table once and shared by
        every session and thread, as an ibis table.

        For intermediate results many questions share (a funnel's chains, whatever the date
        range): they are computed once instead of once per question. The table serves newer
        data versions while no refresh changed what it ``reads`` (None: one version only), so a
        live exporter's appends do not rebuild every actor's tables. At most
        ``MATERIALIZED_KEEP`` of a kind (the first item of a tuple ``key``) are kept, the least
        recently asked for retired first; a retired or replaced table is dropped
        ``RETIRED_GRACE`` seconds later, so a question still reading it finishes.
        """
        name = self.cached(
            ("materialized", key), lambda: self._materialize(key, sql()), reads=reads
        )
        with self._materialized_lock:
            if name in self._materialized:
                self._materialized.move_to_end(name)
        return self.ibis.table(name)

    def _materialize(self, key: Hashable, sql: str) -> str:
        with self._materialized_lock:
            self._materialized_count += 1
            name = f"opdash_materialized_{self._materialized_count}"
        cur = self.cursor()
        try:
            cur.execute(f"CREATE TABLE {name} AS {sql}")
        finally:
            cur.close()
        with self._materialized_lock:
            kept = self._materialized
            replaced = [old for old, old_key in kept.items() if old_key == key]
            kept[name] = key
            same_kind = [old for old, old_key in kept.items() if _kind(old_key) == _kind(key)]
            surplus = same_kind[: max(0, len(same_kind) - MATERIALIZED_KEEP)]
            now = time.monotonic()
            retiring = [(old, kept.pop(old)) for old in dict.fromkeys(replaced + surplus)]
            self._retired += [(now, old, old_key) for old, old_key in retiring]
        for old, old_key in retiring:  # no new question gets it; those reading it finish
            self._results.forget(("materialized", old_key), old)
        self._drop_retired()
        return name

    def _drop_retired(self) -> None:
        """Drop the tables retired more than ``RETIRED_GRACE`` seconds ago."""
        with self._materialized_lock:
            due = time.monotonic() - RETIRED_GRACE
            gone = [entry for entry in self._retired if entry[0] <= due]
            self._retired[:] = [entry for entry in self._retired if entry[0] > due]
        for _at, name, _key in gone:
            self.fetchall(f"DROP TABLE IF EXISTS {name}")

    def was_read(self, key: Hashable) -> bool:
        """Whether the answer kept for ``key`` was asked for after it was computed."""
        return self._results.was_read(key)

    def peek(self, key: Hashable, *, reads: Reads | None = None) -> tuple[bool, Any]:
        """``(True, result)`` when ``key`` is answered for the current version, else
        ``(False, None)``: never computes and never waits, so the event loop may ask."""
        return self._results.peek(key, self.version, self._carry(reads))

    def as_of(self, moment: datetime) -> CatalogAsOf:
        """This catalog without the events after ``moment`` (an aware datetime)."""
        return CatalogAsOf(self, moment)

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
            files=len(self._states),
            events=row[0],
            workflows=row[1],
            runs=row[2],
            quarantined=row[3],
            duplicates=row[4],
            first_event_at=row[5],
            last_event_at=row[6],
            refreshed_at=self.refreshed_at,
            version=self.version,
            pending=tuple(sorted(self._pending)),
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

    # -- loading ----------------------------------------------------------------------------
    def discover(self) -> list[ArtifactFile]:
        """Every artifact file under the folder, in a stable (sorted) order."""
        found: list[ArtifactFile] = []
        if not self.root.is_dir():
            return found
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel_dir = Path(dirpath).relative_to(self.root)
            for name in sorted(filenames):
                artifact = classify((rel_dir / name).as_posix())
                if artifact is not None:
                    found.append(artifact)
        return sorted(found, key=lambda a: a.relpath)

    def refresh(self) -> RefreshReport:
        """Read new files and appended lines; unchanged files are not read again. A file that
        is gone (deleted, or renamed: its new name is a new file) takes its events with it; a
        file that shrank or whose bytes already read changed is read again whole.

        All or nothing: what was read is validated into this connection's temporary tables
        (no reader sees them), then filed in one transaction. A refresh that fails leaves the
        catalog as it was, and the next one tries again."""
        with self._lock:
            kept = self._bookkeeping()
            try:
                return self._refresh()
            except BaseException:
                self._restore(kept)
                raise
            finally:
                for table in ("staged", "staged_piece", "fast_quarantine", "losers"):
                    self._con.execute(f"DROP TABLE IF EXISTS {table}")
                self._drop_retired()  # also when no session asks for anything new

    def _bookkeeping(self) -> tuple:
        """What a refresh changes outside the database, to put back if it fails."""
        states = {k: dataclasses.replace(v) for k, v in self._states.items()}
        return states, dict(self._pending), dict(self._fast), self._settings_stamp

    def _restore(self, kept: tuple) -> None:
        self._states, self._pending, self._fast, self._settings_stamp = kept

    def _refresh(self) -> RefreshReport:
        started = time.perf_counter()
        found = self.discover()
        present = {artifact.relpath for artifact in found}
        gone = [relpath for relpath in self._states if relpath not in present]
        for relpath in [p for p in self._pending if p not in present]:
            del self._pending[relpath]
        changed = [
            (seq, artifact)
            for seq, artifact in enumerate(found)
            if self._changed(artifact) and not self._still_pending(artifact)
        ]
        settings = self._settings()
        if not changed and not gone and self.version and settings == self._settings_stamp:
            self.refreshed_at = datetime.now().astimezone()
            return RefreshReport(0, 0, 0, 0, self.version)
        settings_changed = settings != self._settings_stamp
        self._settings_stamp = settings
        before = self._counts()
        rewritten = {
            a.relpath for _, a in changed if a.relpath in self._states and self._rewritten(a)
        }
        batch = _Batch()
        # before anything is forgotten: who holds other copies of what is leaving
        changed = self._with_shadowed(found, changed, set(gone) | rewritten, batch)
        for relpath in gone:
            batch.forget.append(classify(relpath) or ArtifactFile(relpath, FileKind.JSON_LINES))
            del self._states[relpath]
        read = sum(
            1
            for seq, artifact in changed
            if self._refresh_file(artifact, seq, batch, whole=artifact.relpath in rewritten)
        )
        fast, staged = self._prepare(batch)
        events = self._event_change(batch, fast, staged=staged)
        self._con.execute("BEGIN TRANSACTION")
        try:
            self._apply(batch, fast, staged=staged)
            after = self._counts()
            tables = {
                name
                for name, moved in (
                    ("quarantine", after[1] != before[1]),
                    ("duplicates", after[2] != before[2]),
                    ("runs", bool(batch.runs)),
                    ("alerts", bool(batch.alerts)),
                    ("settings", settings_changed),
                )
                if moved
            }
            for artifact in batch.forget:  # what left may have been any of what it held
                tables |= _HOLDS.get(artifact.kind, _EVENT_FILE_HOLDS)
            self._commit(Change(self.version + 1, frozenset(tables), *events))
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT has already rolled back
                self._con.execute("ROLLBACK")
            raise
        self.refreshed_at = datetime.now().astimezone()
        self.refresh_seconds = time.perf_counter() - started
        return RefreshReport(
            files_read=read,
            events_added=after[0] - before[0],
            quarantined_added=after[1] - before[1],
            duplicates_added=after[2] - before[2],
            version=self.version,
        )

    def watch(self, relpaths: list[str] | tuple[str, ...]) -> None:
        """Also stamp these folder-relative files on each refresh (a dashboard's state files):
        an edit to one is a new data version, so the views showing it redraw. Watching is not
        itself an edit: the files are stamped as they are now."""
        with self._lock:
            self._watched = tuple(dict.fromkeys([*self._watched, *relpaths]))
            if self._settings_stamp is not None:
                self._settings_stamp = self._settings()

    def _settings(self) -> tuple:
        """The watched files' (mtime, size) stamps (settings such as goals.yaml, and state
        files a dashboard shows): an edit bumps the version like new data."""
        stamps = []
        for name in self._watched:
            try:
                st = (self.root / name).stat()
                stamps.append((st.st_mtime_ns, st.st_size))
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    def _still_pending(self, artifact: ArtifactFile) -> bool:
        """Whether a whole file (a ``.json`` document, a parquet file) that cannot be read yet
        waits for the next refresh instead of being quarantined: an exporter may still be
        writing it. It is quarantined once it stays unreadable, unchanged, over two refreshes;
        until then what it held before stays in the catalog. The first read of the folder waits
        for nothing: a one-shot command reports such a file at once."""
        if not self.version or artifact.kind not in (FileKind.JSON, FileKind.PARQUET):
            return False
        path = self.root / artifact.relpath
        try:
            st = path.stat()
        except OSError:
            return False
        if _whole_file_readable(path, artifact.kind):
            self._pending.pop(artifact.relpath, None)
            return False
        stamp = (st.st_size, st.st_mtime_ns)
        if self._pending.get(artifact.relpath) == stamp:  # unreadable twice, unchanged
            del self._pending[artifact.relpath]
            return False
        self._pending[artifact.relpath] = stamp
        return True

    def _with_shadowed(
        self, found, changed, leaving: set[str], batch: _Batch
    ) -> list[tuple[int, ArtifactFile]]:
        """``changed`` plus the files whose copies of an event id lost to a copy that is going
        away (``leaving``: files gone, or read again whole): they are read again whole, so the
        event stays, from the copy still there. Nothing valid is lost."""
        if not leaving:
            return changed
        holders = {
            row[0]
            for row in self._con.execute(
                "SELECT DISTINCT d.source_file FROM duplicates d JOIN events e USING (event_id) "
                "WHERE list_contains($leaving, e.source_file) "
                "AND NOT list_contains($leaving, d.source_file)",
                {"leaving": sorted(leaving)},
            ).fetchall()
        }
        listed = {a.relpath for _, a in changed}
        for seq, artifact in enumerate(found):
            if artifact.relpath in holders and artifact.relpath not in listed:
                self._states.pop(artifact.relpath, None)
                batch.forget.append(artifact)
                changed.append((seq, artifact))
        return sorted(changed, key=lambda item: item[0])

    def _rewritten(self, artifact: ArtifactFile) -> bool:
        """Whether a known file is read again whole rather than from where reading stopped."""
        old = self._states[artifact.relpath]
        try:
            size = (self.root / artifact.relpath).stat().st_size
        except OSError:
            return False
        if artifact.kind not in _APPENDABLE:
            return True
        return (
            size < old.offset or self._marks(self.root / artifact.relpath, old.offset) != old.marks
        )

    @staticmethod
    def _marks(path: Path, offset: int) -> bytes:
        """A digest of the first and the last (up to 4 KB) of the first ``offset`` bytes: when
        an exporter rewrites a file rather than appending to it, it changes."""
        try:
            with path.open("rb") as fh:
                head = fh.read(min(offset, MARK_BYTES))
                fh.seek(max(0, offset - MARK_BYTES))
                tail = fh.read(min(offset, MARK_BYTES))
        except OSError:
            return b""
        return hashlib.blake2b(head + b"\0" + tail, digest_size=16).digest()

    def _changed(self, artifact: ArtifactFile) -> bool:
        try:
            st = (self.root / artifact.relpath).stat()
        except OSError:
            return False
        if artifact.relpath in self._pending:
            return True  # retried on every refresh until readable (or given up)
        old = self._states.get(artifact.relpath)
        return old is None or (old.size, old.mtime_ns) != (st.st_size, st.st_mtime_ns)

    def _counts(self) -> tuple[int, int, int]:
        return self._con.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM quarantine),"
            " (SELECT count(*) FROM duplicates)"
        ).fetchall()[0]

    def _refresh_file(
        self, artifact: ArtifactFile, seq: int, batch: _Batch, *, whole: bool = False
    ) -> bool:
        """Read what is new in ``artifact`` into ``batch`` (all of it when ``whole``: what it
        held before is forgotten first)."""
        path = self.root / artifact.relpath
        try:
            st = path.stat()
        except OSError:
            return False
        old = self._states.get(artifact.relpath)
        if old is not None and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
            return False
        if old is not None and whole:
            batch.forget.append(artifact)
            old = None
        state = old or FileState(size=0, mtime_ns=0)
        state.size, state.mtime_ns = st.st_size, st.st_mtime_ns
        self._states[artifact.relpath] = state
        reader = {
            FileKind.JSON_LINES: self._read_lines,
            FileKind.RUN_EVENTS: self._read_lines,
            FileKind.JSON: self._read_json_document,
            FileKind.PARQUET: self._read_parquet,
            FileKind.RUN_META: self._read_run_meta,
            FileKind.RUN_ALERTS: self._read_alerts,
        }[artifact.kind]
        reader(_Source(artifact, path, seq), state, batch)
        state.marks = self._marks(path, state.offset)
        return True

    def _forget(self, artifact: ArtifactFile) -> None:
        """Drop what a file contributed, before it is read again whole."""
        for table in ("events_loaded", "quarantine", "duplicates", "alerts", "parquet_hidden"):
            self._con.execute(f"DELETE FROM {table} WHERE source_file = ?", [artifact.relpath])
        if self._fast.pop(artifact.relpath, None) is not None:
            self._rebuild_view()
        if artifact.kind is FileKind.RUN_META:
            self._con.execute("DELETE FROM runs WHERE run_id = ?", [artifact.run_id])

    def _complete_chunk(self, path: Path, state: FileState) -> tuple[bytes, int]:
        """New complete lines since the last read; a torn last line waits for its newline."""
        with path.open("rb") as fh:
            fh.seek(state.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        first_line = state.next_line
        state.offset += end
        state.next_line += data[:end].count(b"\n")
        return data[:end], first_line

    def _read_lines(self, src: _Source, state: FileState, batch: _Batch) -> None:
        chunk, first_line = self._complete_chunk(src.path, state)
        batch.add_records(src, ingest.split_lines(chunk, first_line))

    def _read_json_document(self, src: _Source, state: FileState, batch: _Batch) -> None:
        data = src.path.read_bytes()
        state.offset = len(data)
        batch.add_records(src, ingest.json_document_records(data))

    def _read_parquet(self, src: _Source, state: FileState, batch: _Batch) -> None:
        state.offset = state.size
        try:
            fast = ParquetSource.inspect(
                src.path, src.artifact.relpath, src.seq, src.artifact.run_id
            )
        except (OSError, pa.ArrowException) as exc:
            batch.bad_file(src, f"not a readable parquet file: {_first_line(exc)}")
            return
        if fast is not None:
            batch.fast.append(fast)
            return
        try:
            described = self._con.execute(
                "DESCRIBE SELECT * FROM read_parquet($path, hive_partitioning = false)",
                {"path": str(src.path)},
            ).fetchall()
        except duckdb.Error as exc:
            batch.bad_file(src, f"not a readable parquet file: {_first_line(exc)}")
            return
        batch.add_parquet(src, {name: str(dtype) for name, dtype, *_ in described})

    def _prepare(self, batch: _Batch) -> tuple[list[ParquetSource], bool]:
        """Before the transaction, on this connection's temporary tables (no reader sees
        them): everything that reads files and may fail, file by file. A file that cannot be
        read is quarantined whole; the others go on. Returns the in-place parquet files that
        scan, and whether ``staged`` holds rows."""
        fast = [src for src in batch.fast if self._scan_fast(src, batch)]
        staged = self._stage_batch(batch)
        if staged:
            self._fill_parquet_raw(batch.parquet_paths())
        return fast, staged

    def _event_change(self, batch: _Batch, fast: list[ParquetSource], *, staged: bool) -> tuple:
        """Which events this refresh may change: (from when, of which types, by which actors)
        — everything when files leave or in-place parquet files arrive, nothing when no event
        was read."""
        if fast or not self.version or any(a.kind in _EVENT_KINDS for a in batch.forget):
            return (ANY_TIME, None, None)
        if not staged:
            return (None, None, None)
        first, types, actors = self._con.execute(
            "SELECT min(occurred_at), list(DISTINCT event_type), "
            "list(DISTINCT coalesce(actor_id, '')) FROM staged WHERE reason IS NULL"
        ).fetchone()
        if first is None:
            return (None, None, None)
        return (first, *(frozenset(v) if len(v) <= NAMES_KEPT else None for v in (types, actors)))

    def _apply(self, batch: _Batch, fast: list[ParquetSource], *, staged: bool) -> None:
        """Inside the transaction: what leaves, leaves; then what was read is filed."""
        for artifact in batch.forget:
            self._forget(artifact)
        for run_id, row in batch.runs:
            self._con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
            self._con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        if batch.alerts:
            self._con.executemany(
                "INSERT INTO alerts VALUES (?, ?, TRY_CAST(? AS TIMESTAMPTZ), ?, ?, ?, ?,"
                " TRY_CAST(? AS TIMESTAMPTZ), ?, ?)",
                batch.alerts,
            )
        if batch.bad:
            self._quarantine_rows(batch.bad)
        if fast:
            self._con.execute("INSERT INTO quarantine SELECT * FROM fast_quarantine")
        if staged:
            self._con.execute(
                "INSERT INTO quarantine SELECT source_file, source_line, source_row, reason, "
                "detail, raw FROM staged WHERE reason IS NOT NULL "
                "ORDER BY file_seq, source_line, source_row"
            )
        self._file_new_rows(fast, staged=staged)

    def _scan_fast(self, src: ParquetSource, batch: _Batch) -> bool:
        """Collect an in-place parquet file's bad rows; False when the file cannot be scanned."""
        self._con.execute(
            "CREATE TEMP TABLE IF NOT EXISTS fast_quarantine AS FROM quarantine LIMIT 0"
        )
        try:
            self._con.execute(f"INSERT INTO fast_quarantine {src.quarantine_sql()}")
            return True
        except duckdb.Error as exc:
            batch.bad_file(src.relpath, _first_line(exc))
            return False

    def _stage_batch(self, batch: _Batch) -> bool:
        """Validate the records and parquet files read through SQL into ``staged``, in one
        pass; when that fails, file by file, quarantining the file that broke it."""
        if not batch.parts()[0]:
            return False
        try:
            self._stage(batch, "staged")
            return True
        except duckdb.Error as exc:
            pieces = batch.split()
            if len(pieces) == 1:
                batch.bad_file(pieces[0].files[0], _first_line(exc))
                return False
        staged = False
        for piece in pieces:
            try:
                self._stage(piece, "staged_piece")
            except duckdb.Error as exc:
                batch.bad_file(piece.files[0], _first_line(exc))
                continue
            if staged:
                self._con.execute(
                    "INSERT INTO staged BY NAME SELECT * REPLACE "
                    "(sid + (SELECT max(sid) FROM staged) AS sid) FROM staged_piece"
                )
                self._con.execute("DROP TABLE staged_piece")
            else:
                self._con.execute("ALTER TABLE staged_piece RENAME TO staged")
                staged = True
        return staged

    def _stage(self, batch: _Batch, table: str) -> None:
        """Validate a batch's fields relations into the temporary ``table`` (rows with a
        ``reason`` are the ones to quarantine; ``sid`` numbers the rows)."""
        parts, params = batch.parts()
        fields = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
        if batch.records:
            self._con.register("lines", ingest.records_table(batch.records))
        try:
            self._con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT *, row_number() OVER () AS sid "
                f"FROM ({ingest.staged_sql('(' + fields + ')')})",
                params,
            )
        finally:
            if batch.records:
                self._con.unregister("lines")

    def _fill_parquet_raw(self, paths: dict[str, str]) -> None:
        """Rejected parquet rows get their raw text here, not every row read."""
        pending = self._con.execute(
            "SELECT source_file, list(source_row) FROM staged "
            "WHERE reason IS NOT NULL AND raw IS NULL AND source_row IS NOT NULL GROUP BY 1"
        ).fetchall()
        for source_file, rows in pending:
            if source_file not in paths:
                continue
            found = self._con.execute(
                ingest.PARQUET_RAW_SQL, {"path": paths[source_file], "rows": rows}
            ).fetchall()
            self._con.executemany(
                "UPDATE staged SET raw = ? WHERE source_file = ? AND source_row = ?",
                [(raw, source_file, row) for row, raw in found],
            )

    def _file_new_rows(self, fast: list[ParquetSource], *, staged: bool) -> None:
        """Keep the first copy of every event id (reading order; what the catalog had wins).

        New rows are the valid staged rows and the valid rows of new in-place parquet files. Only
        ids seen twice are ranked, so a clean load costs one hash aggregate over the new ids.
        """
        con = self._con
        sources = [src.ids_sql() for src in fast]
        if staged:
            sources.insert(
                0,
                "SELECT event_id, file_seq, source_line, source_row, source_file, sid "
                "FROM staged WHERE reason IS NULL",
            )
        if not sources:
            return
        cand = " UNION ALL BY NAME ".join(f"({q})" for q in sources)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE losers AS
            WITH cand AS ({cand}),
            dup AS (
                SELECT event_id FROM cand GROUP BY 1 HAVING count(*) > 1
                UNION SELECT event_id FROM cand WHERE event_id IN (SELECT event_id FROM events)
            ),
            ranked AS (
                SELECT *, row_number() OVER (PARTITION BY event_id
                                             ORDER BY file_seq, source_line, source_row) AS nth,
                       event_id IN (SELECT event_id FROM events) AS seen
                FROM cand WHERE event_id IN (SELECT event_id FROM dup)
            )
            SELECT * FROM ranked WHERE nth > 1 OR seen"""
        )
        con.execute(
            "INSERT INTO duplicates SELECT event_id, source_file, source_line, source_row "
            "FROM losers ORDER BY file_seq, source_line, source_row"
        )
        con.execute(
            "INSERT INTO parquet_hidden SELECT source_file, source_row FROM losers WHERE sid IS NULL"
        )
        if staged:
            columns = ", ".join(ingest.EVENT_COLUMNS)
            con.execute(
                f"INSERT INTO events_loaded SELECT {columns} FROM staged WHERE reason IS NULL "
                "AND sid NOT IN (SELECT sid FROM losers WHERE sid IS NOT NULL) "
                "ORDER BY file_seq, source_line, source_row"
            )
            con.execute("DROP TABLE staged")
        con.execute("DROP TABLE losers")
        for src in fast:
            self._fast[src.relpath] = src
        if fast or self._fast:
            self._rebuild_view()

    def _rebuild_view(self) -> None:
        """``events``: the loaded events plus every in-place parquet file's valid rows."""
        hidden = {
            r[0]
            for r in self._con.execute("SELECT DISTINCT source_file FROM parquet_hidden").fetchall()
        }
        bad = {
            r[0]
            for r in self._con.execute(
                'SELECT DISTINCT source_file FROM quarantine WHERE "row" IS NOT NULL'
            ).fetchall()
        }
        parts = ["SELECT * FROM events_loaded"] + [
            src.events_sql(hidden_rows=src.relpath in hidden, bad_rows=src.relpath in bad)
            for src in sorted(self._fast.values(), key=lambda s: s.seq)
        ]
        self._con.execute("CREATE OR REPLACE VIEW events AS " + "\nUNION ALL\n".join(parts))

    def _quarantine_rows(self, rows: list[tuple]) -> None:
        self._con.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?)", rows)

    # -- runs -------------------------------------------------------------------------------
    def _read_run_meta(self, src: _Source, state: FileState, batch: _Batch) -> None:
        state.offset = state.size
        path, run_id = src.path, src.artifact.run_id
        try:
            meta = ingest.strict_loads(path.read_bytes().decode("utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("run.json must hold a JSON object")
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            batch.runs.append((run_id, [run_id, *[None] * 8, f"unreadable: {exc}"]))
            return
        times = [
            _timestamp_or_none(meta.get(k)) for k in ("started_at", "ended_at", "heartbeat_at")
        ]
        batch.runs.append(
            (
                run_id,
                [
                    run_id,
                    _str_or_none(meta.get("name")),
                    _str_or_none(meta.get("kind")),
                    _str_or_none(meta.get("status")),
                    *times,
                    json.dumps(meta.get("params")) if meta.get("params") is not None else None,
                    json.dumps(meta.get("tags")) if meta.get("tags") is not None else None,
                    None,
                ],
            )
        )

    def _read_alerts(self, src: _Source, state: FileState, batch: _Batch) -> None:
        artifact = src.artifact
        chunk, first_line = self._complete_chunk(src.path, state)
        rows, bad = [], []
        for item in ingest.split_lines(chunk, first_line):
            if isinstance(item, ingest.BadRecord):
                bad.append((artifact.relpath, item.line, None, item.reason, item.detail, item.raw))
                continue
            try:
                alert = ingest.strict_loads(item.text)
                if not isinstance(alert, dict):
                    raise ValueError("an alert must be a JSON object")
            except (ValueError, RecursionError) as exc:
                bad.append(
                    (
                        artifact.relpath,
                        item.line,
                        None,
                        "malformed_json",
                        str(exc),
                        item.text[:RAW_LIMIT],
                    )
                )
                continue
            rows.append(
                (
                    artifact.run_id,
                    _str_or_none(alert.get("alert_id")),
                    _timestamp_or_none(alert.get("raised_at")),
                    _str_or_none(alert.get("severity")),
                    _str_or_none(alert.get("title")),
                    _str_or_none(alert.get("message")),
                    _str_or_none(alert.get("source")),
                    _timestamp_or_none(alert.get("resolved_at")),
                    artifact.relpath,
                    item.line,
                )
            )
        batch.alerts.extend(rows)
        batch.bad.extend(bad)


def _whole_file_readable(path: Path, kind: FileKind) -> bool:
    """Whether a ``.json`` document parses (its records may still be bad: those are
    quarantined) or a parquet file's footer reads — false while an exporter is writing it."""
    try:
        if kind is FileKind.PARQUET:
            import pyarrow.parquet as pq

            pq.read_metadata(path)
            return True
        data = path.read_bytes()
        json.loads(data.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
        return True
    except RecursionError:
        return True  # complete, only too deep: its record is quarantined with that reason
    except (OSError, ValueError, pa.ArrowException):
        return False


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _timestamp_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


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


@dataclass
class _Entry:
    version: int
    future: Future
    read: bool = False  # asked for again after it was computed


class ResultCache:
    """Results by key, each with the data version it answers, least recently used dropped first.

    Concurrent asks for one key compute it once: the others wait for the first one's answer.
    Failures are not kept, so a fixed file or a retry gets a fresh try. An answer of an older
    version is served for a newer one when ``carry(old_version)`` says nothing it reads changed.
    """

    def __init__(self, size: int = RESULT_CACHE_SIZE) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def get(
        self,
        key: Hashable,
        version: int,
        compute: Callable[[], T],
        carry: Callable[[int], bool] | None = None,
    ) -> T:
        with self._lock:
            future = self._current(key, version, carry)
            owner = future is None
            if owner:
                future = Future()
                self._entries[key] = _Entry(version, future)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        if owner:
            try:
                future.set_result(compute())
            except BaseException as exc:
                with self._lock:
                    entry = self._entries.get(key)
                    if entry is not None and entry.future is future:
                        del self._entries[key]
                future.set_exception(exc)
        return future.result()

    def _current(
        self, key: Hashable, version: int, carry: Callable[[int], bool] | None
    ) -> Future | None:
        """The answer for ``version`` (computed or being computed), if any: its own, a newer one
        (asked by a reader that read the version just before a refresh), or an older one still
        valid, which is then filed under ``version``."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        future = entry.future
        if entry.version < version:
            if carry is None or not future.done() or future.exception() or not carry(entry.version):
                return None
            entry.version = version
        entry.read = True
        self._entries.move_to_end(key)
        return future

    def was_read(self, key: Hashable) -> bool:
        """Whether the answer kept for ``key`` was asked for again after it was computed."""
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and entry.read

    def forget(self, key: Hashable, result: Any) -> None:
        """Forget ``key`` if its answer is ``result`` (not a newer answer filed since)."""
        with self._lock:
            entry = self._entries.get(key)
            future = None if entry is None else entry.future
            done = future is not None and future.done() and not future.exception()
            if done and future.result() == result:
                del self._entries[key]

    def peek(
        self, key: Hashable, version: int, carry: Callable[[int], bool] | None = None
    ) -> tuple[bool, Any]:
        with self._lock:
            future = self._current(key, version, carry)
            if future is None or not future.done() or future.exception() is not None:
                return False, None
        return True, future.result()

    def __len__(self) -> int:
        return len(self._entries)


_SHARED: dict[
    tuple[int, Path], Catalog
] = {}  # (process id, folder): a forked process opens its own
_SHARED_LOCK = threading.Lock()


def open_catalog(root: str | os.PathLike[str]) -> Catalog:
    """A new catalog over ``root``."""
    return Catalog(root)


def shared_catalog(root: str | os.PathLike[str]) -> Catalog:
    """The one catalog of this process for ``root``, shared by every session that asks for it."""
    key = (os.getpid(), Path(root).expanduser().resolve())
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Catalog(key[1])
        return _SHARED[key]


__all__ = ["Catalog", "CatalogStats", "RefreshReport", "open_catalog", "shared_catalog"]
