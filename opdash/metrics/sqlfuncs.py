"""DuckDB functions the metrics need that ibis has no portable name for (declared, not written)."""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt


@ibis.udf.scalar.builtin
def json_extract_string(value: dt.JSON, path: str) -> str:
    """The value at a JSON path as text (numbers as their literal), NULL when absent."""


@ibis.udf.scalar.builtin
def epoch_us(value: dt.Timestamp(timezone="UTC")) -> dt.int64:
    """Microseconds since the epoch: exact integer time for ordering and window arithmetic."""


def field(table: ibis.Table, path: str) -> ibis.Value:
    """The string value of a dotted envelope path (``actor.id``, ``payload.symbol``) on ``table``."""
    from opdash.contract import field_path

    resolved = field_path(path)
    if resolved.json_path is None:
        return table[resolved.column].cast("string")
    return json_extract_string(table[resolved.column], resolved.json_path)
