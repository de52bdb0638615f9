"""Turning artifact files into envelope rows: one validation, whatever the file format.

Every reader (JSON lines, JSON documents, parquet) produces the same intermediate relation — one row
per record with each envelope field as a JSON value — and :func:`staged_sql` validates and
normalises that relation in one SQL pass. A record that fails gets a reason code and a readable
detail instead of being silently nulled (which is what ``read_json(ignore_errors=true)`` would do).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import pyarrow as pa

from opdash.contract import ENVELOPE_KEYS, RAW_LIMIT
from opdash.masking import mask_text

# The envelope fields read from each record, in the order of the list column ``v``.
FIELDS = (
    "event_id",
    "event_type",
    "event_version",
    "occurred_at",
    "actor",
    "actor.type",
    "actor.id",
    "context",
    "entity",
    "entity.type",
    "entity.id",
    "correlation",
    "correlation.workflow_id",
    "correlation.parent_event_id",
    "payload",
    "run_id",
)
_IDX = {name: i + 1 for i, name in enumerate(FIELDS)}  # DuckDB lists are 1-based
OBJECT_FIELDS = ("actor", "context", "entity", "correlation", "payload")
STRING_FIELDS = (
    "actor.type",
    "actor.id",
    "entity.type",
    "entity.id",
    "correlation.workflow_id",
    "correlation.parent_event_id",
    "run_id",
)
REQUIRED_STRINGS = ("event_id", "event_type")

TIMESTAMP_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)?$"
)

EVENT_COLUMNS = (
    "event_id",
    "event_type",
    "event_version",
    "occurred_at",
    "actor_type",
    "actor_id",
    "entity_type",
    "entity_id",
    "workflow_id",
    "parent_event_id",
    "run_id",
    "context",
    "payload",
    "extra",
    "source_file",
    "source_line",
    "source_row",
)

EVENTS_DDL = """
CREATE TABLE IF NOT EXISTS events_loaded (
    event_id VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    event_version INTEGER NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    actor_type VARCHAR,
    actor_id VARCHAR,
    entity_type VARCHAR,
    entity_id VARCHAR,
    workflow_id VARCHAR,
    parent_event_id VARCHAR,
    run_id VARCHAR,
    context JSON,
    payload JSON,
    extra JSON,
    source_file VARCHAR NOT NULL,
    source_line BIGINT,
    source_row BIGINT
)"""


def _v(name: str) -> str:
    return f"v[{_IDX[name]}]"


def _t(name: str) -> str:
    """The JSON type of a field: 'MISSING' when absent, 'NULL' for JSON null (from ``ty``)."""
    return f"ty[{_IDX[name]}]"


def _absent(name: str) -> str:
    return f"{_t(name)} IN ('MISSING', 'NULL')"


def _checks() -> list[tuple[str, str, str]]:
    """(condition, reason, detail SQL) in the order they are tried; the first match wins."""
    checks: list[tuple[str, str, str]] = [
        ("NOT ok", "'malformed_json'", "'not valid JSON'"),
        ("root_type <> 'OBJECT'", "'not_an_object'", "'expected a JSON object, got ' || root_type"),
    ]
    for name in REQUIRED_STRINGS:
        checks += [
            (
                f"{_absent(name)} OR ({_t(name)} = 'VARCHAR' AND {_v(name)}->>'$' = '')",
                "'missing_field'",
                f"'{name} is missing or empty'",
            ),
            (
                f"{_t(name)} <> 'VARCHAR'",
                "'wrong_type'",
                f"'{name} must be a string, got ' || {_t(name)}",
            ),
        ]
    checks += [
        (
            f"ts_native IS NULL AND ({_absent('occurred_at')} OR ({_t('occurred_at')} = 'VARCHAR'"
            f" AND trim({_v('occurred_at')}->>'$') = ''))",
            "'missing_field'",
            "'occurred_at is missing or empty'",
        ),
        (
            f"ts_native IS NULL AND {_t('occurred_at')} <> 'VARCHAR'",
            "'wrong_type'",
            f"'occurred_at must be an RFC 3339 string, got ' || {_t('occurred_at')}",
        ),
        (
            "ts IS NULL",
            "'bad_timestamp'",
            f"'occurred_at ' || left({_v('occurred_at')}::VARCHAR, 80) || ' is not an RFC 3339 timestamp'",
        ),
        (
            f"NOT {_absent('event_version')} AND ({_t('event_version')} NOT IN ('UBIGINT', 'BIGINT') "
            f"OR coalesce(try_cast({_v('event_version')}::VARCHAR AS INTEGER), 0) < 1)",
            "'bad_event_version'",
            f"'event_version must be an integer ≥ 1, got ' || left({_v('event_version')}::VARCHAR, 40)",
        ),
    ]
    for name in OBJECT_FIELDS:
        checks.append(
            (
                f"{_t(name)} NOT IN ('MISSING', 'NULL', 'OBJECT')",
                "'wrong_type'",
                f"'{name} must be an object, got ' || {_t(name)}",
            )
        )
    for name in STRING_FIELDS:
        checks.append(
            (
                f"{_t(name)} NOT IN ('MISSING', 'NULL', 'VARCHAR')",
                "'wrong_type'",
                f"'{name} must be a string, got ' || {_t(name)}",
            )
        )
    return checks


def _case(index: int) -> str:
    whens = "\n".join(f"        WHEN {c[0]} THEN {c[index]}" for c in _checks())
    return f"CASE\n{whens}\n    END"


def _string(name: str) -> str:
    return f"CASE WHEN {_t(name)} = 'VARCHAR' THEN {_v(name)}->>'$' END"


def _object(name: str) -> str:
    return f"CASE WHEN {_t(name)} = 'OBJECT' THEN {_v(name)} END"


_KNOWN = ", ".join(f"'{k}'" for k in ENVELOPE_KEYS)
_TS_TEXT = f"CASE WHEN {_t('occurred_at')} = 'VARCHAR' THEN upper({_v('occurred_at')}->>'$') END"


def staged_sql(fields_relation: str) -> str:
    """SQL that validates ``fields_relation`` and returns normalised rows plus a reason per bad one.

    ``fields_relation`` has columns: source_file, file_seq (its place in reading order), run_id
    (the run folder's id, or NULL), line, row, ok, root_type, v (LIST of JSON in FIELDS order),
    ts_native (TIMESTAMPTZ or NULL), extra (JSON or NULL) and raw (VARCHAR or NULL).
    """
    return f"""
WITH typed AS (
    SELECT *, list_transform(v, lambda x: coalesce(json_type(x), 'MISSING')) AS ty
    FROM {fields_relation}
), f AS (
    SELECT *,
        coalesce(ts_native, CASE WHEN regexp_full_match({_TS_TEXT}, '{TIMESTAMP_PATTERN}')
            THEN try_cast({_TS_TEXT} AS TIMESTAMPTZ) END) AS ts0
    FROM typed
), g AS (
    SELECT *,
        CASE WHEN ts0 >= TIMESTAMPTZ '0001-01-01 00:00:00+00'
              AND ts0 < TIMESTAMPTZ '9999-12-31 00:00:00+00' THEN ts0 END AS ts
    FROM f
), checked AS (
    SELECT *, {_case(1)} AS reason FROM g
)
SELECT
    CASE WHEN reason IS NULL THEN {_v("event_id")}->>'$' END AS event_id,
    {_string("event_type")} AS event_type,
    coalesce(try_cast({_v("event_version")}::VARCHAR AS INTEGER), 1) AS event_version,
    ts AS occurred_at,
    {_string("actor.type")} AS actor_type,
    {_string("actor.id")} AS actor_id,
    {_string("entity.type")} AS entity_type,
    {_string("entity.id")} AS entity_id,
    {_string("correlation.workflow_id")} AS workflow_id,
    {_string("correlation.parent_event_id")} AS parent_event_id,
    coalesce(folder_run_id, {_string("run_id")}) AS run_id,
    {_object("context")} AS context,
    {_object("payload")} AS payload,
    extra,
    source_file,
    line AS source_line,
    "row" AS source_row,
    reason,
    CASE WHEN reason IS NOT NULL THEN {_case(2)} END AS detail,
    CASE WHEN reason IS NOT NULL THEN left(raw, {RAW_LIMIT}) END AS raw,
    file_seq
FROM checked
"""


_PATHS = ", ".join("'$." + name + "'" for name in FIELDS)

#: Fields relation over a table ``lines(line, row, text)`` of JSON texts.
TEXT_FIELDS_SQL = f"""
SELECT source_file, file_seq, folder_run_id, line, "row", ok, root_type,
    CASE WHEN root_type = 'OBJECT' THEN json_extract(text, [{_PATHS}]) END AS v,
    NULL::TIMESTAMPTZ AS ts_native,
    CASE WHEN root_type = 'OBJECT'
          AND len(list_filter(json_keys(text), lambda k: k NOT IN ({_KNOWN}))) > 0
         THEN to_json(map_from_entries(list_filter(
             map_entries(json_transform(text, '"MAP(VARCHAR, JSON)"')),
             lambda e: e.key NOT IN ({_KNOWN}))))
    END AS extra,
    text AS raw
FROM (
    SELECT source_file, file_seq, folder_run_id, line, "row", text, json_valid(text) AS ok,
           CASE WHEN json_valid(text) THEN json_type(text) END AS root_type
    FROM lines
)
"""


def parquet_fields_sql(columns: dict[str, str], param: str) -> str:
    """Fields relation over one parquet file given its column name → DuckDB type.

    The file's path, folder-relative name, run id and reading order are bound as ``$<param>_path``,
    ``$<param>_file``, ``$<param>_run`` and ``$<param>_seq``.

    Nested envelope objects are parquet structs; converting just those to JSON keeps the
    validation identical to the JSON readers without turning every row into text. ``raw`` is left
    NULL here: the few rejected rows get their text afterwards (:data:`PARQUET_RAW_SQL`).
    """

    def as_json(name: str) -> str:
        root, _, child = name.partition(".")
        if root not in columns:
            return "NULL::JSON"
        if not child:
            return f'to_json("{root}")'
        if columns[root].startswith("STRUCT") or columns[root] == "JSON":
            return f"json_extract(to_json(\"{root}\"), '$.{child}')"
        return "NULL::JSON"

    values = ", ".join(as_json(name) for name in FIELDS)
    occurred = columns.get("occurred_at", "")
    ts_native = (
        'CAST("occurred_at" AS TIMESTAMPTZ)'
        if occurred.startswith("TIMESTAMP") or occurred == "DATE"
        else "NULL::TIMESTAMPTZ"
    )
    unknown = [c for c in columns if c not in ENVELOPE_KEYS]
    extra = (
        "to_json(struct_pack(" + ", ".join(f'"{c}" := "{c}"' for c in unknown) + "))"
        if unknown
        else "NULL::JSON"
    )
    return f"""
SELECT ${param}_file::VARCHAR AS source_file, ${param}_seq::BIGINT AS file_seq,
    ${param}_run::VARCHAR AS folder_run_id, NULL::BIGINT AS line, (row_number() OVER ()) AS "row",
    true AS ok, 'OBJECT' AS root_type, [{values}] AS v, {ts_native} AS ts_native, {extra} AS extra,
    NULL::VARCHAR AS raw
FROM read_parquet(${param}_path, hive_partitioning = false) AS t
"""


#: The raw text of chosen parquet rows (``$rows``), for quarantined rows only.
PARQUET_RAW_SQL = f"""
SELECT "row", left(to_json(t)::VARCHAR, {RAW_LIMIT}) FROM (
    SELECT row_number() OVER () AS "row", t FROM read_parquet($path, hive_partitioning = false) AS t
) WHERE list_contains($rows, "row")
"""


@dataclass(frozen=True)
class Record:
    """One JSON text taken from a file, with where it came from."""

    line: int | None
    row: int | None
    text: str
    source_file: str = ""
    file_seq: int = 0
    run_id: str | None = None


@dataclass(frozen=True)
class BadRecord:
    """A record rejected before it reached SQL (bytes that are not UTF-8)."""

    line: int | None
    row: int | None
    reason: str
    detail: str
    raw: str


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def strict_loads(text: str | bytes) -> Any:
    """``json.loads`` as RFC 8259 has it: ``NaN`` and ``Infinity`` are refused (Python's
    parser accepts them; it already refuses trailing commas)."""
    return json.loads(text, parse_constant=_refuse_constant)


def not_json_detail(text: str) -> str | None:
    """Why ``text`` is not strict JSON, or None when it is."""
    try:
        strict_loads(text)
    except RecursionError:
        return None  # valid but too deep: the SQL pass gives it its own reason
    except ValueError as exc:
        return f"not valid JSON: {exc}"
    return None


#: What DuckDB's JSON reader accepts that is not JSON: trailing commas, NaN and Infinity.
_LENIENT_JSON = re.compile(rb",\s*[\]}]")


def _lenient_lines(data: bytes) -> set[int]:
    """Indexes of the lines of ``data`` that may hold what only a lenient parser accepts: they
    are checked strictly (rare; a chunk without any costs three fast scans)."""
    if b"NaN" not in data and b"Infinity" not in data and not _LENIENT_JSON.search(data):
        return set()
    return {
        i
        for i, line in enumerate(data.split(b"\n"))
        if _LENIENT_JSON.search(line) or b"NaN" in line or b"Infinity" in line
    }


def split_lines(data: bytes, first_line: int) -> Iterator[Record | BadRecord]:
    """Complete lines of a JSON-lines chunk; blank lines are skipped, a BOM and CR are dropped."""
    if first_line == 1 and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    suspects = _lenient_lines(data)
    for index, chunk in enumerate(data.split(b"\n")):
        number = first_line + index
        line = chunk[:-1] if chunk.endswith(b"\r") else chunk
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raw = line[:RAW_LIMIT].decode("utf-8", "replace")
            yield BadRecord(
                number, None, "invalid_utf8", f"not valid UTF-8 at byte {exc.start}", raw
            )
            continue
        detail = not_json_detail(text) if index in suspects else None
        if detail:
            yield BadRecord(number, None, "malformed_json", detail, text[:RAW_LIMIT])
            continue
        yield Record(number, None, text)


def json_document_records(data: bytes) -> Iterator[Record | BadRecord]:
    """Records of a ``.json`` file holding one event or an array of events."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raw = data[:RAW_LIMIT].decode("utf-8", "replace")
        yield BadRecord(None, None, "invalid_utf8", f"not valid UTF-8 at byte {exc.start}", raw)
        return
    try:
        document = strict_loads(text)
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        if isinstance(exc, RecursionError):
            detail = "JSON nested too deeply"
        else:
            detail = f"not valid JSON: {getattr(exc, 'msg', exc)}"
        yield BadRecord(line, None, "malformed_json", detail, text[:RAW_LIMIT])
        return
    items = document if isinstance(document, list) else [document]
    for index, item in enumerate(items, start=1):
        row = index if isinstance(document, list) else None
        try:
            yield Record(None, row, json.dumps(item, ensure_ascii=False))
        except (ValueError, RecursionError):
            yield BadRecord(None, row, "malformed_json", "JSON nested too deeply", text[:RAW_LIMIT])


def records_table(records: list[Record]) -> pa.Table:
    """The ``lines`` table that TEXT_FIELDS_SQL reads."""
    return pa.table(
        {
            "source_file": pa.array([r.source_file for r in records], pa.string()),
            "file_seq": pa.array([r.file_seq for r in records], pa.int64()),
            "folder_run_id": pa.array([r.run_id for r in records], pa.string()),
            "line": pa.array([r.line for r in records], pa.int64()),
            "row": pa.array([r.row for r in records], pa.int64()),
            "text": pa.array([r.text for r in records], pa.string()),
        }
    )


class QuarantineRow(NamedTuple):
    """A record opdash could not take, as the ``quarantine`` table stores it: where it was, why,
    and its raw text (cut to ``RAW_LIMIT``)."""

    source_file: str
    line: int | None
    row: int | None
    reason: str
    detail: str | None
    raw: str | None

    @property
    def where(self) -> str:
        """``line 12``, ``row 3`` or ``whole file``."""
        if self.line is not None:
            return f"line {self.line}"
        return f"row {self.row}" if self.row is not None else "whole file"

    def masked(self) -> QuarantineRow:
        """This row with the secrets in its detail and raw text masked: a broken record is
        stored, cached and shown only so."""
        return self._replace(detail=mask_text(self.detail), raw=mask_text(self.raw))


# -- run folders: run.json and alerts.jsonl -------------------------------------------------------
class RunMetaRow(NamedTuple):
    """A run folder's ``run.json``, as the ``runs`` table stores it (``error`` says why the file
    could not be read; the other fields are then None: a run is never dropped)."""

    run_id: str
    name: str | None = None
    kind: str | None = None
    status: str | None = None
    started_at: Any = None
    ended_at: Any = None
    heartbeat_at: Any = None
    params: str | None = None  # JSON text
    tags: str | None = None  # JSON text
    error: str | None = None


def run_row(run_id: str, data: bytes) -> RunMetaRow:
    """The ``runs`` row of one run.json: its fields when it holds a JSON object, else a row
    that says why it could not be read."""
    try:
        meta = strict_loads(data.decode("utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("run.json must hold a JSON object")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return RunMetaRow(run_id, error=f"unreadable: {exc}")
    started_at, ended_at, heartbeat_at = (
        _timestamp_or_none(meta.get(k)) for k in ("started_at", "ended_at", "heartbeat_at")
    )
    return RunMetaRow(
        run_id,
        name=_str_or_none(meta.get("name")),
        kind=_str_or_none(meta.get("kind")),
        status=_str_or_none(meta.get("status")),
        started_at=started_at,
        ended_at=ended_at,
        heartbeat_at=heartbeat_at,
        params=json.dumps(meta.get("params")) if meta.get("params") is not None else None,
        tags=json.dumps(meta.get("tags")) if meta.get("tags") is not None else None,
    )


def alert_rows(
    run_id: str, relpath: str, chunk: bytes, first_line: int
) -> tuple[list[tuple], list[QuarantineRow]]:
    """The ``alerts`` rows of complete lines of an alerts.jsonl, and the ``quarantine`` rows of
    the lines that are not JSON objects."""
    rows, bad = [], []
    for item in split_lines(chunk, first_line):
        if isinstance(item, BadRecord):
            bad.append(QuarantineRow(relpath, item.line, None, item.reason, item.detail, item.raw))
            continue
        try:
            alert = strict_loads(item.text)
            if not isinstance(alert, dict):
                raise ValueError("an alert must be a JSON object")
        except (ValueError, RecursionError) as exc:
            bad.append(
                QuarantineRow(
                    relpath, item.line, None, "malformed_json", str(exc), item.text[:RAW_LIMIT]
                )
            )
            continue
        rows.append(
            (
                run_id,
                _str_or_none(alert.get("alert_id")),
                _timestamp_or_none(alert.get("raised_at")),
                _str_or_none(alert.get("severity")),
                _str_or_none(alert.get("title")),
                _str_or_none(alert.get("message")),
                _str_or_none(alert.get("source")),
                _timestamp_or_none(alert.get("resolved_at")),
                relpath,
                item.line,
            )
        )
    return rows, bad


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _timestamp_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
