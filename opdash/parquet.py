"""Parquet queried where it lies.

A parquet file whose schema already matches the envelope (string ids, a timestamp or string
``occurred_at``, structs for the nested objects) is not copied into the catalog: the ``events``
view selects from it directly, so a query reads only the columns it needs. Only row-level
problems (a null id, an unparseable time, a version below 1) can occur in such a file; they are
checked by the same expressions in the view's filter and, once, to fill the quarantine.
A file with any other schema takes the general path in :mod:`opdash.ingest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from opdash.contract import ENVELOPE_KEYS, RAW_LIMIT
from opdash.templates import sql_identifier, sql_string

_STRUCTS = {
    "actor": ("type", "id"),
    "entity": ("type", "id"),
    "correlation": ("workflow_id", "parent_event_id"),
}
_OBJECTS = ("context", "payload")


def _is_string(dtype: pa.DataType) -> bool:
    return pa.types.is_string(dtype) or pa.types.is_large_string(dtype)


def _clean_schema(schema: pa.Schema) -> bool:
    """Whether every envelope column has a type read in place without per-row checks."""
    fields = {f.name: f.type for f in schema}
    if not all(_is_string(fields.get(name, pa.null())) for name in ("event_id", "event_type")):
        return False
    occurred = fields.get("occurred_at")
    if occurred is None or not (pa.types.is_timestamp(occurred) or _is_string(occurred)):
        return False
    version = fields.get("event_version")
    if version is not None and not pa.types.is_integer(version):
        return False
    if "run_id" in fields and not _is_string(fields["run_id"]):
        return False
    for name, children in _STRUCTS.items():
        dtype = fields.get(name)
        if dtype is None:
            continue
        if not pa.types.is_struct(dtype):
            return False
        kids = {dtype.field(i).name: dtype.field(i).type for i in range(dtype.num_fields)}
        if any(c in kids and not _is_string(kids[c]) for c in children):
            return False
    return all(name not in fields or pa.types.is_struct(fields[name]) for name in _OBJECTS)


#: Valid instants: from year 1 (inclusive) to 9999-12-31 (exclusive), in microseconds.
_FIRST_US, _END_US = -62_135_596_800_000_000, 253_402_214_400_000_000
_PER_US = {
    "s": Fraction(1_000_000),
    "ms": Fraction(1000),
    "us": Fraction(1),
    "ns": Fraction(1, 1000),
}


def rows_valid_by_statistics(meta: pq.FileMetaData, schema: pa.Schema) -> bool:
    """Whether the file's column statistics prove that no row breaks a row rule (ids and types
    present and not empty, a valid instant, a version from 1 to 2^31-1), so the rows need no
    check. False whenever a statistic that would prove it is missing."""
    fields = {f.name: f.type for f in schema}
    index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    occurred = fields.get("occurred_at")
    if occurred is None or not pa.types.is_timestamp(occurred):
        return False
    per_us = _PER_US[occurred.unit]
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for name in ("event_id", "event_type"):
            stats = _stats(group, index, name)
            if stats is None or stats.null_count != 0 or not stats.has_min_max:
                return False
            if stats.min in ("", b""):
                return False
        stats = _stats(group, index, "occurred_at")
        if stats is None or stats.null_count != 0 or not stats.has_min_max:
            return False
        low, high = stats.min_raw * per_us, stats.max_raw * per_us
        if not (low >= _FIRST_US and high < _END_US):
            return False
        if "event_version" in fields:
            stats = _stats(group, index, "event_version")
            if stats is None:
                return False
            if stats.has_min_max and not (stats.min_raw >= 1 and stats.max_raw <= 2**31 - 1):
                return False
            if not stats.has_min_max and stats.null_count != group.num_rows:
                return False
    return True


def _stats(group, index: dict[str, int], name: str):
    i = index.get(name)
    if i is None:
        return None
    column = group.column(i)
    return column.statistics if column.is_stats_set else None


@dataclass(frozen=True)
class ParquetSource:
    """One parquet file read in place: the SQL that turns its rows into envelope rows."""

    relpath: str
    path: Path
    seq: int
    run_id: str | None
    columns: tuple[str, ...]
    struct_children: dict[str, tuple[str, ...]]
    occurred_is_text: bool
    #: the file's statistics prove every row valid (no row check, no quarantine scan)
    valid_by_statistics: bool = False
    #: the file's identity for the validation cache (size, modification time, footer)
    digest: str = ""
    #: rows in the file (from its metadata)
    rows: int = 0

    @classmethod
    def inspect(
        cls, path: Path, relpath: str, seq: int, run_id: str | None
    ) -> ParquetSource | None:
        """A source read in place for ``path``, or None when its schema needs the general path (records loaded through the ingest rules).

        Raises ``pyarrow.ArrowInvalid``/``OSError`` when the file cannot be read at all.
        """
        from opdash.catalog.disk_cache import footer_digest

        meta = pq.read_metadata(path)
        schema = meta.schema.to_arrow_schema()
        if not _clean_schema(schema):
            return None
        children = {
            f.name: tuple(f.type.field(i).name for i in range(f.type.num_fields))
            for f in schema
            if pa.types.is_struct(f.type)
        }
        return cls(
            relpath,
            path,
            seq,
            run_id,
            tuple(schema.names),
            children,
            _is_string(schema.field("occurred_at").type),
            rows_valid_by_statistics(meta, schema),
            footer_digest(path),
            meta.num_rows,
        )

    # -- SQL pieces -----------------------------------------------------------------------
    def _from(self) -> str:
        return (
            f"read_parquet({sql_string(str(self.path))}, file_row_number = true,"
            " hive_partitioning = false) AS t"
        )

    def _child(self, struct: str, child: str) -> str:
        if child in self.struct_children.get(struct, ()):
            return f"t.{sql_identifier(struct)}.{sql_identifier(child)}"
        return "NULL::VARCHAR"

    def _json(self, name: str) -> str:
        return f"to_json(t.{sql_identifier(name)})" if name in self.columns else "NULL::JSON"

    def _occurred(self) -> str:
        if not self.occurred_is_text:
            return "CAST(t.occurred_at AS TIMESTAMPTZ)"
        from opdash.ingest import TIMESTAMP_PATTERN

        text = "upper(trim(t.occurred_at))"
        return (
            f"CASE WHEN regexp_full_match({text}, '{TIMESTAMP_PATTERN}') "
            f"THEN try_cast({text} AS TIMESTAMPTZ) END"
        )

    def _occurred_missing(self) -> str:
        if self.occurred_is_text:
            return "(t.occurred_at IS NULL OR trim(t.occurred_at) = '')"
        return "t.occurred_at IS NULL"

    def _reason(self) -> str:
        """The first row-level problem of a row, or NULL for a valid row."""
        ts = self._occurred()
        version = "t.event_version" if "event_version" in self.columns else "1"
        return f"""CASE
            WHEN t.event_id IS NULL OR t.event_id = '' THEN 'missing_field'
            WHEN t.event_type IS NULL OR t.event_type = '' THEN 'missing_field'
            WHEN {self._occurred_missing()} THEN 'missing_field'
            WHEN ({ts}) IS NULL OR ({ts}) < TIMESTAMPTZ '0001-01-01 00:00:00+00'
                 OR ({ts}) >= TIMESTAMPTZ '9999-12-31 00:00:00+00' THEN 'bad_timestamp'
            WHEN coalesce({version}, 1) < 1 OR coalesce({version}, 1) > 2147483647
                 THEN 'bad_event_version'
        END"""

    def _detail(self) -> str:
        version = "t.event_version" if "event_version" in self.columns else "1"
        return f"""CASE
            WHEN t.event_id IS NULL OR t.event_id = '' THEN 'event_id is missing or empty'
            WHEN t.event_type IS NULL OR t.event_type = '' THEN 'event_type is missing or empty'
            WHEN {self._occurred_missing()} THEN 'occurred_at is missing or empty'
            WHEN coalesce({version}, 1) < 1 OR coalesce({version}, 1) > 2147483647
                 THEN 'event_version must be an integer ≥ 1, got ' || {version}
            ELSE 'occurred_at ' || left(t.occurred_at::VARCHAR, 80) || ' is not an RFC 3339 timestamp'
        END"""

    def events_sql(self, *, hidden_rows: bool, bad_rows: bool) -> str:
        """The file's valid rows as ``events`` columns.

        ``bad_rows``: the file has quarantined rows, so every query re-checks the row rules (a
        clean file needs no filter); ``hidden_rows``: skip the rows whose event id came earlier.
        """
        unknown = [c for c in self.columns if c not in ENVELOPE_KEYS]
        extra = (
            "to_json(struct_pack("
            + ", ".join(f"{sql_identifier(c)} := t.{sql_identifier(c)}" for c in unknown)
            + "))"
            if unknown
            else "NULL::JSON"
        )
        version = "t.event_version" if "event_version" in self.columns else "NULL"
        run = "t.run_id" if "run_id" in self.columns else "NULL::VARCHAR"
        run_id = sql_string(self.run_id) if self.run_id is not None else run
        conditions = [f"({self._reason()}) IS NULL"] if bad_rows else []
        if hidden_rows:
            conditions.append(
                "t.file_row_number + 1 NOT IN (SELECT source_row FROM parquet_hidden"
                f" WHERE source_file = {sql_string(self.relpath)})"
            )
        where = ("\nWHERE " + " AND ".join(conditions)) if conditions else ""
        return f"""SELECT t.event_id, t.event_type,
    CAST(coalesce({version}, 1) AS INTEGER) AS event_version,
    {self._occurred()} AS occurred_at,
    {self._child("actor", "type")} AS actor_type, {self._child("actor", "id")} AS actor_id,
    {self._child("entity", "type")} AS entity_type, {self._child("entity", "id")} AS entity_id,
    {self._child("correlation", "workflow_id")} AS workflow_id,
    {self._child("correlation", "parent_event_id")} AS parent_event_id,
    {run_id} AS run_id, {self._json("context")} AS context, {self._json("payload")} AS payload,
    {extra} AS extra, {sql_string(self.relpath)} AS source_file, NULL::BIGINT AS source_line,
    t.file_row_number + 1 AS source_row
FROM {self._from()}{where}"""

    def ids_sql(self) -> str:
        """(event_id, file_seq, source_line, source_row, source_file) of the file's valid rows."""
        where = "" if self.valid_by_statistics else f" WHERE ({self._reason()}) IS NULL"
        return f"""SELECT t.event_id, {self.seq}::BIGINT AS file_seq, NULL::BIGINT AS source_line,
    t.file_row_number + 1 AS source_row, {sql_string(self.relpath)} AS source_file, NULL::BIGINT AS sid
FROM {self._from()}{where}"""

    def quarantine_sql(self) -> str:
        """Rows of the file that break a row-level rule, as ``quarantine`` rows."""
        return f"""SELECT {sql_string(self.relpath)} AS source_file, NULL::BIGINT AS line,
    t.file_row_number + 1 AS "row", reason, {self._detail()} AS detail,
    left(to_json(t)::VARCHAR, {RAW_LIMIT}) AS raw
FROM (SELECT *, {self._reason()} AS reason FROM {self._from()}) AS t
WHERE reason IS NOT NULL"""
