"""opdash's own catalog queries, written once in DuckDB SQL, as Spark SQL.

The few questions metrics ask in SQL text (runs, alerts, quarantine, a workflow's events) are
translated with sqlglot, with DuckDB's ``epoch_us`` spelled as Spark's ``unix_micros`` and the
bound values (``$name``, ``?``) written in as literals — Spark's parameter markers are not
allowed everywhere DuckDB's are (``LIMIT``). Each text is translated once per process. This is
for opdash's own queries, whose results the Spark suite compares with DuckDB's; a user's SQL
tile is not translated (see :func:`refuse_user_sql`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlglot
from sqlglot import exp

from opdash.errors import UsageError

_RENAMED = {"EPOCH_US": "UNIX_MICROS"}

SQL_TILES_REFUSED = (
    "SQL tiles are DuckDB SQL and do not run on the Spark engine; use a funnel, trend or "
    "goals tile, or serve this dashboard with --engine duckdb"
)


def refuse_user_sql() -> UsageError:
    return UsageError(SQL_TILES_REFUSED)


@functools.lru_cache(maxsize=256)
def _parsed(query: str) -> exp.Expression:
    tree = sqlglot.parse_one(query, read="duckdb")
    for node in tree.find_all(exp.Anonymous):
        if node.name.upper() in _RENAMED:
            node.set("this", _RENAMED[node.name.upper()])
    return tree


def spark_sql(query: str, params: dict[str, Any] | Sequence[Any] | None = None) -> str:
    """``query`` (DuckDB SQL) as Spark SQL, with ``params`` written in as literals."""
    tree = _parsed(query).copy()
    position = 0
    for node in list(tree.find_all(exp.Placeholder, exp.Parameter)):
        if isinstance(params, dict):
            name = node.name or (node.this.name if isinstance(node.this, exp.Expression) else "")
            if name not in params:
                raise KeyError(f"no value for parameter {name}")
            value = params[name]
        else:
            value = list(params or [])[position]
            position += 1
        node.replace(_literal(value))
    return tree.sql(dialect="spark")


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat()), "TIMESTAMP")
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[_literal(v) for v in value])
    return exp.Literal.string(str(value))
