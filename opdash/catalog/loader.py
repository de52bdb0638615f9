"""Reading the artifact folder into the catalog: discovery, change tracking, staging, validation.

The loader reads the folder (never writes to it), normalises every event into ``events``, puts
every record it cannot accept into ``quarantine`` with a reason, counts repeated event ids once,
and on each refresh reads only what is new: new files and appended complete lines. A file that
is gone takes its events with it; a file rewritten in place is read again whole.

All or nothing: what a refresh read is validated into the connection's temporary tables (no
reader sees them), then filed in one transaction, committed as the next data version.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from opdash import ingest
from opdash.catalog.disk_cache import DiskCache, key_of
from opdash.catalog.versions import ANY_TIME, NAMES_KEPT, Change, Versions
from opdash.contract import SETTINGS_FILES, ArtifactFile, FileKind, classify
from opdash.display import first_line
from opdash.masking import mask_array
from opdash.parquet import ParquetSource

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


#: The tables besides events a file of each kind puts rows in (what leaves when it leaves).
_HOLDS = {
    FileKind.RUN_META: frozenset({"runs"}),
    FileKind.RUN_ALERTS: frozenset({"alerts", "quarantine"}),
}
_EVENT_FILE_HOLDS = frozenset({"quarantine", "duplicates"})
_EVENT_KINDS = (FileKind.JSON_LINES, FileKind.RUN_EVENTS, FileKind.JSON, FileKind.PARQUET)


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
    in_place: list[ParquetSource] = field(default_factory=list)
    bad: list[ingest.QuarantineRow] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    forget: list[ArtifactFile] = field(default_factory=list)  # leaves before the rest is filed
    runs: list[tuple[str, ingest.RunMetaRow]] = field(default_factory=list)  # (run_id, row)
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
                    ingest.QuarantineRow(
                        src.artifact.relpath,
                        item.line,
                        item.row,
                        item.reason,
                        item.detail,
                        item.raw,
                    )
                )

    def add_parquet(self, src: _Source, columns: dict[str, str]) -> None:
        self.files.append(src.artifact.relpath)
        self.parquet.append((src, columns))

    def bad_file(self, src: _Source | str, detail: str) -> None:
        relpath = src if isinstance(src, str) else src.artifact.relpath
        self.bad.append(ingest.QuarantineRow(relpath, None, None, "unreadable_file", detail, ""))

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


class Loader:
    """What the catalog has read of its folder, and the refreshes that read more."""

    def __init__(self, root: Path, con: duckdb.DuckDBPyConnection, versions: Versions) -> None:
        self.root = root
        self._con = con
        self._versions = versions
        self._in_place: dict[str, ParquetSource] = {}
        self._states: dict[str, FileState] = {}
        self._settings_stamp: tuple | None = None
        self._watched: tuple[str, ...] = SETTINGS_FILES
        self._pending: dict[str, tuple[int, int]] = {}  # unreadable whole file -> (size, mtime)
        self._checked = DiskCache(root, "validated")
        self.refreshed_at: datetime | None = None
        self.refresh_seconds: float | None = None  # how long the last refresh that read took
        self._rebuild_view()

    @property
    def version(self) -> int:
        return self._versions.version

    @property
    def files(self) -> int:
        """Files read (and still there)."""
        return len(self._states)

    @property
    def pending(self) -> tuple[str, ...]:
        """Whole files (.json, .parquet) not readable yet: retried on the next refresh."""
        return tuple(sorted(self._pending))

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
        kept = self._bookkeeping()
        try:
            return self._refresh()
        except BaseException:
            self._restore(kept)
            raise
        finally:
            for table in ("staged", "staged_piece", "in_place_quarantine", "duplicate_rows"):
                self._con.execute(f"DROP TABLE IF EXISTS {table}")

    def _bookkeeping(self) -> tuple:
        """What a refresh changes outside the database, to put back if it fails."""
        states = {k: dataclasses.replace(v) for k, v in self._states.items()}
        return states, dict(self._pending), dict(self._in_place), self._settings_stamp

    def _restore(self, kept: tuple) -> None:
        self._states, self._pending, self._in_place, self._settings_stamp = kept

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
        changed = self._with_duplicate_holders(found, changed, set(gone) | rewritten, batch)
        for relpath in gone:
            batch.forget.append(classify(relpath) or ArtifactFile(relpath, FileKind.JSON_LINES))
            del self._states[relpath]
        read = sum(
            1
            for seq, artifact in changed
            if self._refresh_file(artifact, seq, batch, whole=artifact.relpath in rewritten)
        )
        in_place, staged = self._prepare(batch)
        events = self._event_change(batch, in_place, staged=staged)
        self._con.execute("BEGIN TRANSACTION")
        try:
            self._apply(batch, in_place, staged=staged)
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
            change = Change(self.version + 1, frozenset(tables), *events)
            self._versions.commit(change, lambda: self._con.execute("COMMIT"))
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

    def _with_duplicate_holders(
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
        """Events, quarantined records and duplicates. The events of in-place parquet files are
        counted from their metadata (rows, less those quarantined or hidden), not scanned."""
        loaded, quarantined, duplicates, dropped = self._con.execute(
            "SELECT (SELECT count(*) FROM events_loaded), (SELECT count(*) FROM quarantine),"
            " (SELECT count(*) FROM duplicates),"
            ' (SELECT count(*) FROM quarantine WHERE "row" IS NOT NULL'
            "   AND list_contains($in_place, source_file))"
            " + (SELECT count(*) FROM parquet_hidden)",
            {"in_place": sorted(self._in_place) or [""]},
        ).fetchall()[0]
        in_place = sum(src.rows for src in self._in_place.values())
        return loaded + in_place - dropped, quarantined, duplicates

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
        if self._in_place.pop(artifact.relpath, None) is not None:
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
            in_place = ParquetSource.inspect(
                src.path, src.artifact.relpath, src.seq, src.artifact.run_id
            )
        except (OSError, pa.ArrowException) as exc:
            batch.bad_file(src, f"not a readable parquet file: {first_line(exc)}")
            return
        if in_place is not None:
            batch.in_place.append(in_place)
            return
        try:
            described = self._con.execute(
                "DESCRIBE SELECT * FROM read_parquet($path, hive_partitioning = false)",
                {"path": str(src.path)},
            ).fetchall()
        except duckdb.Error as exc:
            batch.bad_file(src, f"not a readable parquet file: {first_line(exc)}")
            return
        batch.add_parquet(src, {name: str(dtype) for name, dtype, *_ in described})

    def _prepare(self, batch: _Batch) -> tuple[list[ParquetSource], bool]:
        """Before the transaction, on this connection's temporary tables (no reader sees
        them): everything that reads files and may fail, file by file. A file that cannot be
        read is quarantined whole; the others go on. Returns the in-place parquet files that
        scan, and whether ``staged`` holds rows."""
        in_place = [src for src in batch.in_place if self._scan_in_place(src, batch)]
        staged = self._stage_batch(batch)
        if staged:
            self._fill_parquet_raw(batch.parquet_paths())
        return in_place, staged

    def _event_change(self, batch: _Batch, in_place: list[ParquetSource], *, staged: bool) -> tuple:
        """Which events this refresh may change: (from when, of which types, by which actors)
        — everything when files leave or in-place parquet files arrive, nothing when no event
        was read."""
        if in_place or not self.version or any(a.kind in _EVENT_KINDS for a in batch.forget):
            return (ANY_TIME, None, None)
        if not staged:
            return (None, None, None)
        first, types, actors = self._con.execute(
            "SELECT min(occurred_at), list(DISTINCT event_type), "
            "list(DISTINCT coalesce(actor_id, '')) FROM staged WHERE reason IS NULL"
        ).fetchall()[0]
        if first is None:
            return (None, None, None)
        return (first, *(frozenset(v) if len(v) <= NAMES_KEPT else None for v in (types, actors)))

    def _apply(self, batch: _Batch, in_place: list[ParquetSource], *, staged: bool) -> None:
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
        if in_place:
            self._con.execute("INSERT INTO quarantine SELECT * FROM in_place_quarantine")
        if staged:
            self._quarantine_staged()
        self._file_new_rows(in_place, staged=staged)

    def _quarantine_staged(self) -> None:
        """The staged records with a reason, into ``quarantine`` with their detail and raw text
        masked (vectorised: only texts that may hold a secret are masked in Python)."""
        bad = self._con.sql(
            "SELECT source_file, source_line, source_row, reason, detail, raw FROM staged "
            "WHERE reason IS NOT NULL ORDER BY file_seq, source_line, source_row"
        ).to_arrow_table()
        if not bad.num_rows:
            return
        for name in ("detail", "raw"):
            column = bad.schema.get_field_index(name)
            bad = bad.set_column(column, name, mask_array(bad[name]))
        self._con.register("opdash_masked_quarantine", bad)
        try:
            self._con.execute("INSERT INTO quarantine SELECT * FROM opdash_masked_quarantine")
        finally:
            self._con.unregister("opdash_masked_quarantine")

    def _scan_in_place(self, src: ParquetSource, batch: _Batch) -> bool:
        """Collect an in-place parquet file's bad rows; False when the file cannot be scanned.

        No scan when the file's statistics prove every row valid, or when the same file
        (same digest) was scanned before: its rows are read from the validation cache."""
        self._con.execute(
            "CREATE TEMP TABLE IF NOT EXISTS in_place_quarantine AS FROM quarantine LIMIT 0"
        )
        if src.valid_by_statistics:
            return True
        key = key_of("quarantine", src.relpath, src.digest)
        known = self._checked.get("rows", key)
        if known is not None:
            if known:
                self._con.executemany(
                    "INSERT INTO in_place_quarantine VALUES (?, ?, ?, ?, ?, ?)",
                    masked_quarantine(known),
                )
            return True
        try:
            rows = masked_quarantine(self._con.execute(src.quarantine_sql()).fetchall())
        except duckdb.Error as exc:
            batch.bad_file(src.relpath, first_line(exc))
            return False
        if rows:
            self._con.executemany("INSERT INTO in_place_quarantine VALUES (?, ?, ?, ?, ?, ?)", rows)
        self._checked.put("rows", key, [list(r) for r in rows])
        return True

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
                batch.bad_file(pieces[0].files[0], first_line(exc))
                return False
        staged = False
        for piece in pieces:
            try:
                self._stage(piece, "staged_piece")
            except duckdb.Error as exc:
                batch.bad_file(piece.files[0], first_line(exc))
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

    def _file_new_rows(self, in_place: list[ParquetSource], *, staged: bool) -> None:
        """Keep the first copy of every event id (reading order; what the catalog had wins).

        New rows are the valid staged rows and the valid rows of new in-place parquet files. Only
        ids seen twice are ranked, so a clean load costs one hash aggregate over the new ids.
        """
        con = self._con
        sources = [src.ids_sql() for src in in_place]
        if staged:
            sources.insert(
                0,
                "SELECT event_id, file_seq, source_line, source_row, source_file, sid "
                "FROM staged WHERE reason IS NULL",
            )
        if not sources:
            return
        # in-place parquet files alone over an empty catalog (a folder opened again): their
        # repeated ids depend on nothing else, so they are kept by the files' digests
        alone = in_place and not staged and not self._in_place and self._loaded_nothing()
        key = key_of("ids", [(s.relpath, s.seq, s.digest) for s in in_place]) if alone else ""
        known = self._checked.get("ids", key) if alone else None
        if known is not None:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE duplicate_rows (event_id VARCHAR, file_seq BIGINT, "
                "source_line BIGINT, source_row BIGINT, source_file VARCHAR, sid BIGINT)"
            )
            if known:
                con.executemany("INSERT INTO duplicate_rows VALUES (?, ?, ?, ?, ?, ?)", known)
        else:
            self._find_duplicate_rows(sources)
            if alone:
                found = con.execute(
                    "SELECT event_id, file_seq, source_line, source_row, source_file, sid "
                    "FROM duplicate_rows"
                ).fetchall()
                self._checked.put("ids", key, [list(r) for r in found])
        self._file_duplicate_rows(in_place, staged=staged)

    def _loaded_nothing(self) -> bool:
        return not self._con.execute("SELECT count(*) FROM events_loaded").fetchall()[0][0]

    def _find_duplicate_rows(self, sources: list[str]) -> None:
        """``duplicate_rows``: the rows whose event id came earlier (in reading order, or in what the
        catalog had)."""
        con = self._con
        cand = " UNION ALL BY NAME ".join(f"({q})" for q in sources)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE duplicate_rows AS
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
            SELECT event_id, file_seq, source_line, source_row, source_file, sid
            FROM ranked WHERE nth > 1 OR seen"""
        )

    def _file_duplicate_rows(self, in_place: list[ParquetSource], *, staged: bool) -> None:
        """File the ``duplicate_rows`` as duplicates (hidden in their parquet files), and the staged
        rows that are not."""
        con = self._con
        con.execute(
            "INSERT INTO duplicates SELECT event_id, source_file, source_line, source_row "
            "FROM duplicate_rows ORDER BY file_seq, source_line, source_row"
        )
        con.execute(
            "INSERT INTO parquet_hidden SELECT source_file, source_row FROM duplicate_rows WHERE sid IS NULL"
        )
        if staged:
            columns = ", ".join(ingest.EVENT_COLUMNS)
            con.execute(
                f"INSERT INTO events_loaded SELECT {columns} FROM staged WHERE reason IS NULL "
                "AND sid NOT IN (SELECT sid FROM duplicate_rows WHERE sid IS NOT NULL) "
                "ORDER BY file_seq, source_line, source_row"
            )
            con.execute("DROP TABLE staged")
        con.execute("DROP TABLE duplicate_rows")
        for src in in_place:
            self._in_place[src.relpath] = src
        if in_place or self._in_place:
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
            for src in sorted(self._in_place.values(), key=lambda s: s.seq)
        ]
        self._con.execute("CREATE OR REPLACE VIEW events AS " + "\nUNION ALL\n".join(parts))

    def _quarantine_rows(self, rows: list[ingest.QuarantineRow]) -> None:
        self._con.executemany(
            "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?)", masked_quarantine(rows)
        )

    # -- runs -------------------------------------------------------------------------------
    def _read_run_meta(self, src: _Source, state: FileState, batch: _Batch) -> None:
        state.offset = state.size
        batch.runs.append(
            (src.artifact.run_id, ingest.run_row(src.artifact.run_id, src.path.read_bytes()))
        )

    def _read_alerts(self, src: _Source, state: FileState, batch: _Batch) -> None:
        chunk, first_line = self._complete_chunk(src.path, state)
        rows, bad = ingest.alert_rows(src.artifact.run_id, src.artifact.relpath, chunk, first_line)
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


def masked_quarantine(rows: list) -> list[ingest.QuarantineRow]:
    """Quarantine rows with their secrets masked (rows read back from SQL or the validation
    cache are plain tuples)."""
    return [ingest.QuarantineRow(*row).masked() for row in rows]
