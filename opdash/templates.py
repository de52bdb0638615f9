"""Compile each query shape once: ibis builds and compiles it with stand-ins for its values.

Building and compiling an ibis expression costs more than running it on a million events when
the question is small (20–300 ms against 2–40 ms), and a filter change asks new questions of
the same shapes: another day, another actor. So a question is split into its *shape* (which
steps, which filters are set) and its *values* (instants as epoch microseconds, ids, lists of
ids). The first time a shape is asked, ``build(values)`` is handed placeholders,
one distinct literal per value, and compiled; later asks put their values' SQL literals where
the placeholders are. A shape is compiled with two sets of stand-ins; if the texts differ
anywhere but at the stand-ins (a rewrite folded a value away), it is compiled per question.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from opdash.lazy import lazy_module

ibis = lazy_module("ibis")  # imported on first use: opdash.lazy

#: Compiled shapes kept per catalog.
SHAPES_KEPT = 256
#: Stand-in integers: 19 digits, far from any instant in microseconds, count or window.
_INT_BASE = 8_765_432_100_000_000_000
_STR_MARK = "opdash·placeholder·"

_TABLE_MARK = "opdash_placeholder_table_"


@dataclass(frozen=True)
class TableName:
    """A table a shape reads whose name changes from one question to the next (a result
    kept per filter value, see ``Catalog.shared``); all share one schema."""

    name: str
    schema: Any  # ibis.Schema

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.name):
            raise ValueError(f"template table name {self.name!r} is not a plain identifier")


Value = int | str | tuple[str, ...] | TableName
_LIST = "array<string>"
_TABLE = "table"


def _dtype(name: str, value: Value) -> str:
    if isinstance(value, bool):
        raise TypeError(f"template value {name!r} must be an int, a str or a tuple of str")
    if isinstance(value, TableName):
        return _TABLE
    if isinstance(value, int):
        return "int64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
        return _LIST
    raise TypeError(f"template value {name!r} must be an int, a str or a tuple of str")


class Values(Mapping[str, Any]):
    """What a builder reads its values from: ibis literals, stand-ins or the real ones."""

    def __init__(self, values: Mapping[str, Value], *, stand_ins: bool, variant: int = 0) -> None:
        self._literals: dict[str, Any] = {}
        self.tokens: dict[str, str] = {}  # name -> how the stand-in reads in SQL
        for index, (name, value) in enumerate(values.items()):
            dtype = _dtype(name, value)
            if dtype == _TABLE:
                table = f"{_TABLE_MARK}{variant}_{index}" if stand_ins else value.name
                self._literals[name] = ibis.table(value.schema, name=table)
                if stand_ins:
                    self.tokens[name] = table
                continue
            if not stand_ins:
                literal = list(value) if dtype == _LIST else value
            elif dtype == "int64":
                literal = _INT_BASE + 1000 * variant + index
                self.tokens[name] = str(literal)
            else:
                text = f"{_STR_MARK}{variant}·{index}"
                # a list stands in as one element: its values go where that element is
                literal = [text] if dtype == _LIST else text
                self.tokens[name] = sql_string(text)
            self._literals[name] = ibis.literal(literal, type=dtype)

    def __getitem__(self, name: str) -> Any:
        return self._literals[name]

    def __iter__(self):
        return iter(self._literals)

    def __len__(self) -> int:
        return len(self._literals)


class Templates:
    """Compiled SQL per query shape (thread-safe, least recently used dropped first).

    With a ``disk`` (``opdash.catalog.disk_cache.DiskCache``), shapes asked with ``keep=True``
    are also kept between processes, so a command asking the same question again neither builds
    nor compiles it (the key covers the shape and opdash's code, see ``code_digest``).
    """

    def __init__(self, size: int = SHAPES_KEPT, disk: Any = None) -> None:
        self.size = size
        self._disk = disk
        self._lock = threading.Lock()
        self._shapes: OrderedDict[Hashable, tuple[str, dict[str, str]] | None] = OrderedDict()

    def sql(
        self,
        shape: Hashable,
        build: Callable[[Values], Any],
        values: Mapping[str, Value],
        compile_expr: Callable[[Any], str],
        *,
        keep: bool = False,
    ) -> str:
        """The SQL of ``build``'s expression for ``values``."""
        with self._lock:
            known = shape in self._shapes
            entry = self._shapes.get(shape)
            if known:
                self._shapes.move_to_end(shape)
        if not known:
            entry = self._kept(shape, values) if keep else None
            if entry is None:
                entry = _template(build, values, compile_expr)
                if keep:
                    self._keep(shape, values, entry)
            with self._lock:
                self._shapes[shape] = entry
                while len(self._shapes) > self.size:
                    self._shapes.popitem(last=False)
        if entry is None:
            return compile_expr(build(Values(values, stand_ins=False)))
        text, tokens = entry
        return _substitute(text, tokens, {name: _sql_literal(values[name]) for name in tokens})

    def __len__(self) -> int:
        return len(self._shapes)

    def _disk_key(self, shape: Hashable, values: Mapping[str, Value]) -> str:
        from opdash.catalog.disk_cache import code_digest, key_of

        kinds = {name: _dtype(name, value) for name, value in values.items()}
        return key_of("template", repr(shape), kinds, code_digest())

    def _kept(self, shape: Hashable, values: Mapping[str, Value]) -> tuple | None:
        if self._disk is None:
            return None
        found = self._disk.get("sql", self._disk_key(shape, values))
        return (found[0], dict(found[1])) if found else None

    def _keep(self, shape: Hashable, values: Mapping[str, Value], entry) -> None:
        if self._disk is not None and entry is not None:
            self._disk.put("sql", self._disk_key(shape, values), [entry[0], entry[1]])


def _template(
    build: Callable[[Values], Any], values: Mapping[str, Value], compile_expr: Callable[[Any], str]
) -> tuple[str, dict[str, str]] | None:
    """The SQL with stand-ins and their tokens, or None when it is not a template.

    Compiled twice with different stand-ins: the two texts must differ exactly where the
    tokens are, so no value was folded into something else or chose another query form.
    Values the query does not use simply have no token in it.
    """
    one, two = (Values(values, stand_ins=True, variant=v) for v in (0, 1))
    text_one, text_two = compile_expr(build(one)), compile_expr(build(two))
    if _substitute(text_one, one.tokens, two.tokens) != text_two:
        return None
    return text_one, one.tokens


def _substitute(text: str, tokens: Mapping[str, str], replacements: Mapping[str, str]) -> str:
    """Every token replaced in one pass: a replacement is never read again, so a value that
    happens to look like another stand-in cannot be substituted into (or out of its quotes)."""
    if not tokens:
        return text
    by_token = {token: replacements[name] for name, token in tokens.items()}
    alternatives = "|".join(_pattern(token) for token in sorted(by_token, key=len, reverse=True))
    return re.sub(alternatives, lambda m: by_token[m.group(0)], text)


def _pattern(token: str) -> str:
    if token.startswith("'"):
        return re.escape(token)
    return rf"(?<![\w.]){re.escape(token)}(?![\w.])"


def _sql_literal(value: Value) -> str:
    if isinstance(value, TableName):
        return value.name  # an identifier, checked plain: stands where the stand-in's did
    if isinstance(value, int):
        return str(value) if value >= 0 else f"({value})"
    if isinstance(value, tuple):
        return ", ".join(sql_string(v) for v in value)  # the elements of a list literal
    return sql_string(value)


def sql_string(value: str) -> str:
    """A SQL string literal (DuckDB's: quotes doubled, nothing else escaped)."""
    return "'" + value.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A quoted SQL identifier (double quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'
