"""Reading an artifact folder on Spark, by the very rules the DuckDB catalog reads it with.

Spark lists the folder (its ``binaryFile`` source: any URI the cluster reads) and hands each
task a group of whole files. The task — on a Spark worker, next to the data — files them in a
private temporary folder and reads it with opdash's own DuckDB loader: the same envelope
checks, quarantine reasons and details, repeated-id rule and run-folder parsing as the
embedded engine, because they are the same code. What comes back is one Arrow stream of all
five relations (a ``relation`` column says which); Spark then applies the repeated-id rule
across tasks (the first copy in path order wins), which a task alone cannot see.

The workers need opdash installed (its wheel brings DuckDB); a local server's workers run
this very interpreter.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

RELATIONS = ("events", "quarantine", "duplicates", "runs", "alerts")

#: Each relation's columns, as DuckDB types (JSON travels as text).
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "events": (
        ("event_id", "VARCHAR"),
        ("event_type", "VARCHAR"),
        ("event_version", "INTEGER"),
        ("occurred_at", "TIMESTAMPTZ"),
        ("actor_type", "VARCHAR"),
        ("actor_id", "VARCHAR"),
        ("entity_type", "VARCHAR"),
        ("entity_id", "VARCHAR"),
        ("workflow_id", "VARCHAR"),
        ("parent_event_id", "VARCHAR"),
        ("run_id", "VARCHAR"),
        ("context", "JSON"),
        ("payload", "JSON"),
        ("extra", "JSON"),
        ("source_file", "VARCHAR"),
        ("source_line", "BIGINT"),
        ("source_row", "BIGINT"),
    ),
    "quarantine": (
        ("source_file", "VARCHAR"),
        ("line", "BIGINT"),
        ("row", "BIGINT"),
        ("reason", "VARCHAR"),
        ("detail", "VARCHAR"),
        ("raw", "VARCHAR"),
    ),
    "duplicates": (
        ("event_id", "VARCHAR"),
        ("source_file", "VARCHAR"),
        ("line", "BIGINT"),
        ("row", "BIGINT"),
    ),
    "runs": (
        ("run_id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("status", "VARCHAR"),
        ("started_at", "TIMESTAMPTZ"),
        ("ended_at", "TIMESTAMPTZ"),
        ("heartbeat_at", "TIMESTAMPTZ"),
        ("params", "JSON"),
        ("tags", "JSON"),
        ("error", "VARCHAR"),
    ),
    "alerts": (
        ("run_id", "VARCHAR"),
        ("alert_id", "VARCHAR"),
        ("raised_at", "TIMESTAMPTZ"),
        ("severity", "VARCHAR"),
        ("title", "VARCHAR"),
        ("message", "VARCHAR"),
        ("source", "VARCHAR"),
        ("resolved_at", "TIMESTAMPTZ"),
        ("source_file", "VARCHAR"),
        ("line", "BIGINT"),
    ),
}

_ARROW = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
}
#: Each DuckDB column type of the relations as a Spark SQL type.
SPARK_TYPES = {
    "VARCHAR": "STRING",
    "JSON": "STRING",
    "INTEGER": "INT",
    "BIGINT": "BIGINT",
    "TIMESTAMPTZ": "TIMESTAMP",
}
ROWS_PER_BATCH = 65_536


def _union() -> dict[str, str]:
    """Every column of every relation, once (a name means one type in all of them)."""
    out: dict[str, str] = {"relation": "VARCHAR", "file_seq": "BIGINT"}
    for columns in COLUMNS.values():
        for name, kind in columns:
            if out.setdefault(name, kind) != kind:
                raise TypeError(f"column {name} has two types")
    return out


UNION = _union()
ARROW_SCHEMA = pa.schema([(name, _ARROW[kind]) for name, kind in UNION.items()])
#: The stream's schema in Spark's DDL (what ``mapInArrow`` is told to expect).
SPARK_SCHEMA = ", ".join(f"`{name}` {SPARK_TYPES[kind]}" for name, kind in UNION.items())


def read_files(files: list[tuple[str, bytes]], seqs: dict[str, int]) -> Iterator[pa.RecordBatch]:
    """The five relations of ``files`` ((folder-relative path, bytes)), read by the DuckDB
    catalog's loader, as record batches of :data:`ARROW_SCHEMA`; ``seqs`` gives each file's
    place in the folder's reading order."""
    from opdash.catalog.catalog import Catalog

    with tempfile.TemporaryDirectory(prefix="opdash-spark-read-") as tmp:
        root = Path(tmp) / "folder"
        for relpath, data in files:
            target = root / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        root.mkdir(exist_ok=True)
        with _no_disk_cache():
            catalog = Catalog(root, keep_shared=False)
        try:
            for relation in RELATIONS:
                yield from _batches(catalog, relation, seqs)
        finally:
            catalog.close()


def _batches(catalog, relation: str, seqs: dict[str, int]) -> Iterator[pa.RecordBatch]:
    columns = dict(COLUMNS[relation])
    source = "run_id" if relation == "runs" else "source_file"
    select = ", ".join(
        f'CAST("{name}" AS VARCHAR) AS "{name}"' if kind == "JSON" else f'"{name}"'
        for name, kind in columns.items()
    )
    cursor = catalog.cursor()
    try:
        reader = cursor.sql(f"SELECT {select} FROM {relation}").to_arrow_reader(ROWS_PER_BATCH)
        for batch in reader:
            yield _widen(batch, relation, source, seqs)
    finally:
        cursor.close()


def _widen(batch: pa.RecordBatch, relation: str, source: str, seqs: dict[str, int]):
    n = batch.num_rows
    if source == "run_id":  # a run's place: its run.json's
        seq = [seqs.get(f"runs/{r}/run.json", 0) for r in batch.column("run_id").to_pylist()]
    else:
        seq = [seqs.get(f, 0) for f in batch.column("source_file").to_pylist()]
    arrays = []
    for field in ARROW_SCHEMA:
        if field.name == "relation":
            arrays.append(pa.array([relation] * n, pa.string()))
        elif field.name == "file_seq":
            arrays.append(pa.array(seq, pa.int64()))
        elif field.name in batch.schema.names:
            arrays.append(batch.column(field.name).cast(field.type))
        else:
            arrays.append(pa.nulls(n, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA)


@contextlib.contextmanager
def _no_disk_cache():
    """A worker's one-off folder has nothing worth keeping between processes."""
    old = os.environ.get("OPDASH_CACHE_DIR")
    os.environ["OPDASH_CACHE_DIR"] = ""
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OPDASH_CACHE_DIR", None)
        else:
            os.environ["OPDASH_CACHE_DIR"] = old


def task(root: str, seqs: dict[str, int]):
    """The function ``mapInArrow`` runs on each task: its rows are ``binaryFile`` rows
    (path, content) of whole files under ``root``; it yields the relations they hold."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        files: list[tuple[str, bytes]] = []
        for batch in batches:
            for path, content in zip(
                batch.column("path").to_pylist(), batch.column("content").to_pylist(), strict=True
            ):
                files.append((relative(root, path), content))
        if files:
            yield from read_files(files, seqs)

    return run


def relative(root: str, path: str) -> str:
    """A listed file's path relative to the folder's URI (Spark qualifies what it lists:
    ``file:/x/y`` for ``/x/y``)."""
    base = root.rstrip("/") + "/"
    for candidate in (path, _unqualified(path)):
        if candidate.startswith(base):
            return candidate[len(base) :]
    raise ValueError(f"{path} is not under {root}")


def _unqualified(path: str) -> str:
    if path.startswith("file:///"):
        return path[len("file://") :]
    if path.startswith("file:/"):
        return path[len("file:") :]
    return path
