"""Computing a query's shared parts once on Spark, as DuckDB does.

ibis writes a part that a query reads in several places as one common table expression.
DuckDB computes such an expression once; Spark inlines it at every place that reads it, so a
funnel (whose join rounds read the round before twice, whose questions read the chosen chains
in several aggregates) would be computed again and again — its plan doubling with each step.
:func:`computed_once` runs a query the DuckDB way: every expression read more than once is
computed first, in order, into a cached temporary table, and the query reads those.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from collections.abc import Iterator
from typing import Any

import sqlglot
from sqlglot import exp

_NAMES = itertools.count(1)


@contextlib.contextmanager
def computed_once(session: Any, sql: str) -> Iterator[str]:
    """``sql`` (Spark SQL) rewritten to read its repeated common table expressions from
    cached tables computed first; they are let go when the block ends (a Spark Connect
    DataFrame is analysed again at each action: use the text within the block)."""
    kept: dict[str, Any] = {}
    try:
        yield _plan(session, sql, kept)
    finally:
        for name in reversed(kept):
            drop_table(session, name)
        kept.clear()


def keep_table(session: Any, name: str, sql: str) -> Any:
    """``sql`` computed now into the temporary table ``name``, as a local checkpoint: its
    plan is the computed rows alone, not the query that made them (a cached query keeps its
    whole plan, which every later query that reads it drags along: with a funnel's plans,
    seconds per query). The returned handle keeps the rows: drop it with the table."""
    with _active(session):
        frame = session.sql(sql).localCheckpoint(eager=True)
    frame.createOrReplaceTempView(name)
    return frame


@contextlib.contextmanager
def _active(session: Any) -> Iterator[None]:
    """``session`` as this thread's active Spark session for the block: pyspark 4.0 binds a
    checkpoint's result to the active session, not to the one that made it
    (``proto_to_remote_cached_dataframe``), which with a session per catalog would be another
    catalog's and not know the rows."""
    from pyspark.sql.connect.session import SparkSession

    local = SparkSession._active_session  # thread-local
    before = getattr(local, "session", None)
    local.session = session
    try:
        yield
    finally:
        local.session = before


def drop_table(session: Any, name: str) -> None:
    """Let go of a table :func:`keep_table` made (its rows go with the last handle)."""
    session.catalog.dropTempView(name)


def _plan(session: Any, sql: str, kept: dict[str, Any]) -> str:
    tree = sqlglot.parse_one(sql, read="spark")
    with_ = tree.args.get("with_")
    if with_ is None:
        return sql
    ctes = list(with_.expressions)
    names = {cte.alias for cte in ctes}
    reads = Counter(
        t.name for t in tree.find_all(exp.Table) if t.name in names and not t.args.get("db")
    )
    inline: list[exp.CTE] = []
    renamed: dict[str, str] = {}
    for cte in ctes:
        body = _renamed(cte.this, renamed)
        if reads[cte.alias] < 2:
            inline.append(
                exp.CTE(this=body, alias=exp.TableAlias(this=exp.to_identifier(cte.alias)))
            )
            continue
        query = body.copy()
        if inline:
            query.set("with_", exp.With(expressions=[c.copy() for c in inline]))
        view = f"opdash_cte_{next(_NAMES)}"
        kept[view] = keep_table(session, view, query.sql(dialect="spark"))
        renamed[cte.alias] = view
    main = _renamed(tree.copy(), renamed)
    main.set("with_", exp.With(expressions=inline) if inline else None)
    return main.sql(dialect="spark")


def _renamed(node: exp.Expression, renamed: dict[str, str]) -> exp.Expression:
    """``node`` reading the computed tables in place of the expressions they hold."""
    if not renamed:
        return node
    node = node.copy()
    for table in list(node.find_all(exp.Table)):
        if table.name in renamed and not table.args.get("db"):
            alias = table.alias or table.name
            table.set("this", exp.to_identifier(renamed[table.name]))
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return node
