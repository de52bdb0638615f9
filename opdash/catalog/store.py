"""Tables shared between questions: computed once, kept within a byte budget, retired gently.

Many questions read the same intermediate result (a funnel's chains, whatever the window or date
range; Today's task events): it is computed once into a DuckDB table and every question reads
that. What is kept is bounded by bytes (``SHARED_SHARE`` of the memory cap, ``OPDASH_SHARED_MB``
to override), the least recently asked for retired first; past DuckDB's memory cap a kept table
spills to the private temporary folder like any other. A retired table is dropped
``RETIRED_GRACE`` seconds later, so a question still reading it finishes; one that reads it
after that is computed again on the current version (``Versions.one_version``).

A build is an ibis expression (or SQL text); it may number rows (:class:`Builder`).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from opdash.lazy import lazy_module

ibis = lazy_module("ibis")  # imported on first use: opdash.lazy

#: The share of DuckDB's memory cap that kept tables may take together.
SHARED_SHARE = 0.25
#: Seconds a retired table stays readable for the questions still reading it.
RETIRED_GRACE = 30.0
#: Bytes a value of each type takes in a DuckDB table (strings: the 16-byte header plus a
#: typical out-of-line tail), for the byte budget; an estimate, not a measurement.
_WIDTHS = {"int8": 1, "int16": 2, "int32": 4, "int64": 8, "float64": 8, "boolean": 1}
_STRING_WIDTH = 24
_OTHER_WIDTH = 16
_names = itertools.count(1)


def shared_budget(memory_cap: int) -> int:
    """Bytes the kept tables may take: ``OPDASH_SHARED_MB`` or a share of the memory cap."""
    given = os.environ.get("OPDASH_SHARED_MB")
    if given:
        return int(float(given) * 2**20)
    return int(memory_cap * SHARED_SHARE)


def estimated_bytes(rows: int, schema: Any) -> int:
    """What ``rows`` rows of an ibis ``schema`` take in a DuckDB table, roughly."""
    width = 0
    for dtype in schema.types:
        if dtype.is_string():
            width += _STRING_WIDTH
        else:
            width += _WIDTHS.get(str(dtype).removesuffix("!"), _OTHER_WIDTH)
    return rows * max(width, 1)


class Builder:
    """What a shared table's build may ask of the catalog (``opdash.metrics.sequence.Builder``):
    numbering rows."""

    def __init__(self, *, portable: bool = False) -> None:
        self.portable = portable

    def number(self, expr: ibis.Table, name: str) -> ibis.Table:
        if self.portable:  # what every engine runs: number the rows in an order
            return expr.mutate(**{name: ibis.row_number().over(order_by=list(expr.columns))})
        # DuckDB numbers rows without ordering them (Spark has monotonically_increasing_id)
        return expr.mutate(**{name: ibis.row_number().over()})


class SharedTables:
    """Kept tables by key, bounded by bytes; see the module's docstring."""

    def __init__(self, database: Any, budget: int, *, portable: bool = False) -> None:
        self._db = database
        self.budget = budget
        self.portable = portable
        # table -> (key, bytes), least recently asked for first; retired: (when, table, key)
        self._kept: OrderedDict[str, tuple[Hashable, int]] = OrderedDict()
        self._retired: list[tuple[float, str, Hashable]] = []
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        with self._lock:
            return sum(size for _key, size in self._kept.values())

    def touch(self, name: str) -> None:
        """``name`` was asked for: it is the last to be retired."""
        with self._lock:
            if name in self._kept:
                self._kept.move_to_end(name)

    def build(self, key: Hashable, build: Callable[[Builder], Any]) -> tuple[str, list]:
        """Compute ``build(builder)`` (an ibis table expression, or SQL text) into a new kept
        table. Returns its name and the tables it retired (replaced, or past the budget): the
        caller forgets those so no new question reads them, then calls :meth:`drop_retired`."""
        name = f"opdash_shared_{next(_names)}"
        expr = build(Builder(portable=self.portable))
        sql = expr if isinstance(expr, str) else str(self._db.ibis.compile(expr))
        cursor = self._db.cursor()
        try:
            cursor.execute("SET preserve_insertion_order = false")
            cursor.execute(f"CREATE TABLE {name} AS {sql}")
            rows = cursor.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        finally:
            cursor.close()
        size = estimated_bytes(int(rows), self._db.ibis.table(name).schema())
        with self._lock:
            replaced = [old for old, (old_key, _) in self._kept.items() if old_key == key]
            self._kept[name] = (key, size)
            surplus, total = [], sum(s for _k, s in self._kept.values())
            for old, (_old_key, old_size) in self._kept.items():
                if total <= self.budget or old == name:
                    break
                surplus.append(old)
                total -= old_size
            now = time.monotonic()
            retiring = [(old, self._kept.pop(old)[0]) for old in dict.fromkeys(replaced + surplus)]
            self._retired += [(now, old, old_key) for old, old_key in retiring]
        return name, retiring

    def drop_retired(self) -> None:
        """Drop the tables retired more than ``RETIRED_GRACE`` seconds ago."""
        with self._lock:
            due = time.monotonic() - RETIRED_GRACE
            gone = [entry for entry in self._retired if entry[0] <= due]
            self._retired[:] = [entry for entry in self._retired if entry[0] > due]
        for _at, name, _key in gone:
            self._db.fetchall(f"DROP TABLE IF EXISTS {name}")

    def __len__(self) -> int:
        return len(self._kept)
