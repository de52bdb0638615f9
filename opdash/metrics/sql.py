"""SQL tiles: one read-only SELECT over the catalog, checked by DuckDB's own parser.

A spec may hold a query of its own (``type: sql``). It is parsed with DuckDB's parser (never
pattern-matched): exactly one statement, and that statement a SELECT (``WITH`` and set
operations included); it may read only the catalog's tables, unqualified, and no table
function other than ``range``, ``generate_series`` and ``unnest`` — so no file, no ``ATTACH``,
no ``COPY``, no environment. It runs with ``events`` narrowed to the page's filters (its date
range included), at most :data:`MAX_ROWS` rows, and is interrupted after
:data:`TIMEOUT_SECONDS`. Secrets in its answer are masked like everywhere else.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from typing import Any

from opdash.display import first_line
from opdash.errors import UsageError
from opdash.masking import MASK, SUSPECT, looks_secret, mask
from opdash.templates import sql_identifier, sql_string

#: The catalog's relations a query may read.
SQL_TABLES = ("events", "quarantine", "duplicates", "runs", "alerts")
#: Table functions that make rows without reading anything.
TABLE_FUNCTIONS = ("range", "generate_series", "unnest")
#: Scalar functions that read the process's surroundings.
REFUSED_FUNCTIONS = ("getenv", "current_setting")
REFUSED_PREFIXES = ("read_", "duckdb_", "pragma_")
#: Kinds of FROM source (besides tables, table functions, subqueries, joins and VALUES) that
#: the parser knows; SHOW_REF is SHOW / DESCRIBE / SUMMARIZE, which list what is outside.
OTHER_SOURCES = ("SHOW_REF", "COLUMN_DATA", "DELIM_GET", "BOUND_REF", "INVALID")
MAX_ROWS = 1000
TIMEOUT_SECONDS = float(os.environ.get("OPDASH_SQL_TIMEOUT", "30"))


@dataclass(frozen=True)
class SqlResult:
    """A query's answer: its columns and (at most ``limit``) rows, secrets masked."""

    sql: str
    columns: list[str]
    rows: list[tuple]
    truncated: bool  # more rows than the limit: only the first ones are kept

    def to_dict(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "columns": self.columns,
            "rows": [list(r) for r in self.rows],
            "truncated": self.truncated,
        }


def read_only_problem(sql: str) -> str | None:
    """Why ``sql`` is not one read-only SELECT over the catalog, or None when it is."""
    import duckdb

    if not isinstance(sql, str) or not sql.strip():
        return "the query is empty: give one SELECT statement"
    with duckdb.connect(config={"autoinstall_known_extensions": False}) as con:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    if tree.get("error"):
        if tree.get("error_type") == "not implemented":
            return "only a SELECT statement is allowed (no INSERT, COPY, ATTACH, SET, PRAGMA …)"
        return f"the query does not parse: {tree.get('error_message', 'syntax error')}"
    statements = tree.get("statements", [])
    if len(statements) != 1:
        return f"give exactly one SELECT statement (this query has {len(statements)})"
    return _refused_reference(statements[0])


def _refused_reference(tree: Any, visible: frozenset[str] = frozenset()) -> str | None:
    """The first table, table function or function in the parsed query it may not use.

    A name that is not a catalog table must be a CTE *in scope*: a query node's CTEs are seen
    by its body and by the CTEs after them, a CTE's own body sees itself only when it is
    recursive — so ``WITH "x.csv" AS (SELECT * FROM "x.csv") …`` is refused (that inner name is
    the file).
    """
    if isinstance(tree, list):
        return next((r for item in tree if (r := _refused_reference(item, visible))), None)
    if not isinstance(tree, dict):
        return None
    cte_map = tree.get("cte_map")
    if isinstance(cte_map, dict) and cte_map.get("map"):
        scope = set(visible)
        for entry in cte_map["map"]:
            body = (entry.get("value") or {}).get("query_node")
            own = {entry.get("key")} if (body or {}).get("type") == "RECURSIVE_CTE_NODE" else set()
            refused = _refused_reference(body, frozenset(scope | own))
            if refused:
                return refused
            scope.add(entry.get("key"))
        rest = {k: v for k, v in tree.items() if k != "cte_map"}
        return _refused_reference(rest, frozenset(scope))
    refused = _refused_node(tree, visible)
    if refused:
        return refused
    return next((r for value in tree.values() if (r := _refused_reference(value, visible))), None)


def _refused_node(node: dict[str, Any], visible: frozenset[str]) -> str | None:
    kind = node.get("type")
    if kind == "BASE_TABLE":
        name = node.get("table_name", "")
        if node.get("schema_name") or node.get("catalog_name"):
            qualified = ".".join(
                p for p in (node.get("catalog_name"), node.get("schema_name"), name) if p
            )
            return f"'{qualified}': name a catalog table without a schema ({', '.join(SQL_TABLES)})"
        if name not in SQL_TABLES and name not in visible:
            return (
                f"'{name}' is not a catalog table: a query reads only "
                f"{', '.join(SQL_TABLES)} (no files, no other databases)"
            )
    elif kind in OTHER_SOURCES:
        return "SHOW, DESCRIBE and SUMMARIZE are not allowed: write a SELECT over the tables"
    elif kind == "TABLE_FUNCTION":
        name = (node.get("function") or {}).get("function_name", "")
        if name.lower() not in TABLE_FUNCTIONS:
            return (
                f"table function '{name}' is not allowed: a query reads only the catalog's "
                f"tables (table functions allowed: {', '.join(TABLE_FUNCTIONS)})"
            )
    if node.get("class") == "FUNCTION":
        name = str(node.get("function_name", "")).lower()
        if name in REFUSED_FUNCTIONS or name.startswith(REFUSED_PREFIXES):
            return f"function '{name}' is not allowed in a dashboard query"
    return None


def statement_body(sql: str) -> str:
    """``sql`` without its trailing semicolons and comments (so it can sit in a subquery)."""
    import duckdb

    end = len(sql)
    for position, kind in reversed(duckdb.tokenize(sql)):
        token = sql[position:end].strip()
        if kind == duckdb.token_type.comment or token == ";":
            end = position
            continue
        break
    return sql[:end]


def run_sql(catalog, sql: str, scope=None, *, limit: int = MAX_ROWS) -> SqlResult:
    """The rows of a read-only query, with ``events`` narrowed to ``scope`` (time range too).

    Raises UsageError for a query that is not one read-only SELECT, and for one that fails.
    """
    from opdash.metrics.scope import filter_events

    problem = read_only_problem(sql)
    if problem:
        raise UsageError(problem)
    limit = max(1, min(int(limit), MAX_ROWS))
    events = catalog.table("events")
    if scope is not None:
        events = filter_events(events, scope, with_time=True)
    relations = {"events": (events, f"({catalog.ibis.compile(events)})")}
    for name in SQL_TABLES[1:]:
        relations[name] = (catalog.table(name), sql_identifier(name))
    masked = ",\n".join(
        f"{sql_identifier(name)} AS (SELECT {_masked_columns(table)} FROM {source} AS unmasked)"
        for name, (table, source) in relations.items()
    )
    wrapped = f"WITH {masked}\nSELECT * FROM (\n{statement_body(sql)}\n) AS tile LIMIT {limit + 1}"
    cursor = catalog.user_cursor()
    timer = threading.Timer(TIMEOUT_SECONDS, cursor.interrupt)
    timer.start()
    try:
        result = cursor.execute(wrapped)
        columns = [d[0] for d in result.description]
        rows = result.fetchall()
    except Exception as exc:  # noqa: BLE001  (a failing query is the spec author's to fix)
        if not timer.is_alive():
            raise UsageError(f"the query ran longer than {TIMEOUT_SECONDS:g} s") from None
        raise UsageError(f"the query failed: {first_line(exc)}") from None
    finally:
        timer.cancel()
        cursor.close()
    return SqlResult(
        sql=sql,
        columns=columns,
        rows=[_masked_row(columns, row) for row in rows[:limit]],
        truncated=len(rows) > limit,
    )


def _masked_columns(table) -> str:
    """The select list of a relation as a query sees it: every text and JSON value masked
    (``opdash_mask_text`` / ``opdash_mask_json``, :func:`~opdash.masking.declare_functions`) before
    any expression of the query can transform it. DuckDB's own regular expression picks the
    values that may hold a secret (:data:`~opdash.masking.SUSPECT`); only those reach Python."""
    suspect = sql_string(SUSPECT)
    columns = []
    for name, dtype in table.schema().items():
        column = sql_identifier(name)
        if dtype.is_json():
            text = f"{column}::VARCHAR"
            expr = f"CASE WHEN regexp_matches({text}, {suspect}) THEN opdash_mask_json({text})::JSON ELSE {column} END"
        elif dtype.is_string():
            expr = f"CASE WHEN regexp_matches({column}, {suspect}) THEN opdash_mask_text({column}) ELSE {column} END"
        else:
            expr = column
        columns.append(f"{expr} AS {column}")
    return ", ".join(columns)


def _masked_row(columns: list[str], row: tuple) -> tuple:
    return tuple(
        MASK if looks_secret(column) and value is not None else _masked(value)
        for column, value in zip(columns, row, strict=True)
    )


def _masked(value: Any) -> Any:
    """Text, and text inside lists and structs, with its secrets masked."""
    return mask(value) if isinstance(value, str | list | tuple | dict) else value
