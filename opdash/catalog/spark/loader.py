"""The folder on Spark: listing, whole re-reads when anything changed, the cross-task id rule.

A refresh lists the folder through Spark (so any URI the cluster reads works) and compares
each file's size and modification time with the last read. When nothing changed, nothing is
read. When anything changed, the whole folder is read again (:mod:`.reader`) into new cached
tables, which replace the old ones as the next data version in one step: on Spark a refresh is
whole, not incremental (a cluster's folder changes by whole files; see docs/scale-out.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from opdash.catalog.loader import RefreshReport
from opdash.catalog.spark import reader
from opdash.catalog.spark.ctes import drop_table, keep_table
from opdash.catalog.versions import ANY_TIME, Change, Versions
from opdash.contract import SETTINGS_FILES, ArtifactFile, classify
from opdash.display import first_line
from opdash.errors import UsageError

_EVENT_COLUMNS = ", ".join(f"`{name}`" for name, _ in reader.COLUMNS["events"])


@dataclass(frozen=True)
class Listed:
    """One file the folder holds, as Spark listed it."""

    relpath: str
    size: int
    mtime: datetime


class SparkLoader:
    """What a Spark catalog has read of its folder, and the refreshes that read it again."""

    def __init__(self, session: Any, location: str, versions: Versions) -> None:
        self._spark = session
        self.location = location
        self._versions = versions
        self._stamp: tuple | None = None
        self._generation = 0
        self._kept: dict[str, Any] = {}  # the tables of the live generation, and handles
        self._retired: dict[str, Any] = {}  # the previous one's, dropped at the next refresh
        self.files = 0
        self.pending: tuple[str, ...] = ()
        self.refreshed_at: datetime | None = None
        self.refresh_seconds: float | None = None
        self._watched: tuple[str, ...] = SETTINGS_FILES
        self._publish_empty()

    # -- listing ---------------------------------------------------------------------------
    def listing(self) -> list[Listed]:
        """Every file under the folder (Spark leaves out names starting with ``.`` or ``_``)."""
        try:
            rows = (
                self._spark.read.format("binaryFile")
                .option("recursiveFileLookup", "true")
                .load(self.location)
                .select("path", "length", "modificationTime")
                .collect()
            )
        except Exception as exc:  # AnalysisException, a cluster that refuses the path
            if _missing_path(exc):
                return []
            raise UsageError(f"Spark cannot list {self.location}: {first_line(exc)}") from None
        listed = [
            Listed(reader.relative(self.location, r["path"]), int(r["length"]), r[2]) for r in rows
        ]
        return sorted(listed, key=lambda item: item.relpath)

    def discover(self) -> list[ArtifactFile]:
        found = [classify(item.relpath) for item in self.listing()]
        return [a for a in found if a is not None]

    def watch(self, relpaths) -> None:
        self._watched = tuple(dict.fromkeys([*self._watched, *relpaths]))

    # -- refreshing ------------------------------------------------------------------------
    def refresh(self) -> RefreshReport:
        started = time.perf_counter()
        listed = self.listing()
        artifacts = [(classify(item.relpath), item) for item in listed]
        artifacts = [(a, item) for a, item in artifacts if a is not None]
        stamp = tuple((item.relpath, item.size, item.mtime) for _, item in artifacts) + tuple(
            (item.relpath, item.size, item.mtime)
            for item in listed
            if item.relpath in self._watched
        )
        if stamp == self._stamp and self.version:
            self.refreshed_at = datetime.now().astimezone()
            return RefreshReport(0, 0, 0, 0, self.version)
        before = self.counts()
        tables = self._read([a for a, _ in artifacts])
        change = Change(
            self.version + 1,
            frozenset({"quarantine", "duplicates", "runs", "alerts", "settings"}),
            ANY_TIME,
        )
        self._versions.commit(change, lambda: self._publish(tables))
        self._stamp = stamp
        self.files = len(artifacts)
        after = self.counts()
        self.refreshed_at = datetime.now().astimezone()
        self.refresh_seconds = time.perf_counter() - started
        return RefreshReport(
            files_read=len(artifacts),
            events_added=after[0] - before[0],
            quarantined_added=after[1] - before[1],
            duplicates_added=after[2] - before[2],
            version=self.version,
        )

    @property
    def version(self) -> int:
        return self._versions.version

    def counts(self) -> tuple[int, int, int]:
        row = self._spark.sql(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM quarantine), "
            "(SELECT count(*) FROM duplicates)"
        ).collect()[0]
        return int(row[0]), int(row[1]), int(row[2])

    def _read(self, artifacts: list[ArtifactFile]) -> dict[str, Any]:
        """The five relations of the folder as cached DataFrames (not yet visible)."""
        self._generation += 1
        if not artifacts:
            return self._empty()
        seqs = {a.relpath: seq for seq, a in enumerate(artifacts)}
        base = self.location.rstrip("/")
        try:
            files = self._spark.read.format("binaryFile").load(
                [f"{base}/{a.relpath}" for a in artifacts]
            )
            loaded = files.mapInArrow(reader.task(base, seqs), reader.SPARK_SCHEMA).persist()
            loaded.count()
        except UsageError:
            raise
        except Exception as exc:
            raise UsageError(f"Spark cannot read {self.location}: {first_line(exc)}") from None
        loaded_name = f"opdash_loaded_{self._generation}"
        loaded.createOrReplaceTempView(loaded_name)
        tables = {}
        try:
            for relation, sql in _relations_sql(loaded_name).items():
                name = f"opdash_{relation}_{self._generation}"
                tables[name] = (relation, keep_table(self._spark, name, sql))
        finally:
            loaded.unpersist()
            self._spark.catalog.dropTempView(loaded_name)
        return tables

    def _empty(self) -> dict[str, tuple[str, Any]]:
        tables = {}
        for relation in reader.RELATIONS:
            name = f"opdash_{relation}_{self._generation}"
            columns = ", ".join(
                f"CAST(NULL AS {reader.SPARK_TYPES[kind]}) AS `{column}`"
                for column, kind in reader.COLUMNS[relation]
            )
            tables[name] = (
                relation,
                keep_table(self._spark, name, f"SELECT {columns} WHERE false"),
            )
        return tables

    def keep(self, name: str, handle: Any) -> None:
        """A table built from this generation's relations: let go with them."""
        self._kept[name] = handle

    def _publish(self, tables: dict[str, tuple[str, Any]]) -> None:
        """Make ``tables`` the catalog's relations (views named ``events``, …); the previous
        generation's tables are let go at the next refresh (a question still reading them
        finishes)."""
        for name in self._retired:
            drop_table(self._spark, name)
        self._retired = self._kept
        self._kept = {name: handle for name, (_relation, handle) in tables.items()}
        for name, (relation, _handle) in tables.items():
            self._spark.table(name).createOrReplaceTempView(relation)

    def _publish_empty(self) -> None:
        self._publish(self._empty())

    def close(self) -> None:
        for name in [*self._kept, *self._retired]:
            drop_table(self._spark, name)
        self._kept, self._retired = {}, {}


def _relations_sql(loaded: str) -> dict[str, str]:
    """SQL of the five relations over the tasks' stream: each task kept the first copy of an
    event id among its files; across tasks the first in path order wins, the others are
    repeated ids like any other."""
    cand = f"SELECT {_EVENT_COLUMNS}, file_seq FROM {loaded} WHERE relation = 'events'"
    duplicate_rows = f"""
        SELECT event_id, source_file, source_line, source_row, file_seq FROM (
            SELECT c.*, row_number() OVER (
                PARTITION BY c.event_id ORDER BY c.file_seq, c.source_line, c.source_row) AS nth
            FROM ({cand}) c LEFT SEMI JOIN (
                SELECT event_id FROM ({cand}) GROUP BY event_id HAVING count(*) > 1) r
              ON c.event_id = r.event_id
        ) WHERE nth > 1"""

    def columns(relation: str) -> str:
        return ", ".join(f"`{name}`" for name, _ in reader.COLUMNS[relation])

    return {
        "events": f"""
            SELECT {_EVENT_COLUMNS} FROM ({cand}) c LEFT ANTI JOIN ({duplicate_rows}) l
              ON c.source_file = l.source_file AND c.source_line <=> l.source_line
             AND c.source_row <=> l.source_row""",
        "duplicates": f"""
            SELECT event_id, source_file, line, `row` FROM (
                SELECT event_id, source_file, line, `row`, file_seq FROM {loaded}
                 WHERE relation = 'duplicates'
                UNION ALL
                SELECT event_id, source_file, source_line, source_row, file_seq FROM ({duplicate_rows}))
            ORDER BY file_seq, line, `row`""",
        "quarantine": f"SELECT {columns('quarantine')} FROM {loaded} "
        "WHERE relation = 'quarantine' ORDER BY file_seq, line, `row`",
        "runs": f"SELECT {columns('runs')} FROM {loaded} WHERE relation = 'runs' ORDER BY run_id",
        "alerts": f"SELECT {columns('alerts')} FROM {loaded} WHERE relation = 'alerts' "
        "ORDER BY file_seq, line",
    }


def location_of(folder: str | Path) -> str:
    """The URI Spark reads a folder at: a URI as given, a local path made absolute."""
    text = str(folder)
    if "://" in text:
        return text.rstrip("/")
    return Path(text).expanduser().resolve().as_posix()


def _missing_path(exc: BaseException) -> bool:
    text = str(exc)
    return "PATH_NOT_FOUND" in text or "Path does not exist" in text
