"""A scope: the slice of events a dashboard looks at (a time range, actors, types, run, workflow).

Metrics take a catalog; a :class:`ScopedCatalog` is a catalog whose ``events`` already carry the
scope's filters, so every metric gets them without a parameter of its own. The time range is
not applied here: funnels and trends bound their *entry* by it and let later steps run past it,
so they take it as their own ``since``/``until``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: The dimensions a scope filters on, and the events column each one reads.
SCOPE_COLUMNS = {"actors": "actor_id", "event_types": "event_type", "run": "run_id"}
#: Every filter of a scope (time aside) and its events column.
FILTER_COLUMNS = {**SCOPE_COLUMNS, "workflow": "workflow_id"}


@dataclass(frozen=True)
class Scope:
    """Which events a view looks at. Empty fields do not filter. ``until`` is exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    actors: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    run: str = ""
    workflow: str = ""

    def without_types(self) -> Scope:
        """This scope for views whose event types are their own choice (a funnel's steps)."""
        return Scope(self.since, self.until, self.actors, (), self.run, self.workflow)

    @property
    def narrows(self) -> bool:
        """True when anything but the time range filters events."""
        return bool(self.actors or self.event_types or self.run or self.workflow)


class ScopedCatalog:
    """A catalog seen through a scope's filters (not its time range); the rest is the catalog."""

    def __init__(self, catalog, scope: Scope) -> None:
        self._catalog, self.scope = catalog, scope

    @property
    def base(self):
        """The catalog seen through the scope."""
        return self._catalog

    def table(self, name: str = "events"):
        table = self._catalog.table(name)
        if name != "events":
            return table
        return filter_events(table, self.scope)

    def as_of(self, moment: datetime):
        """This view without the events after ``moment``, its filters kept (goals, the
        pipeline and snapshots evaluate "as of" a moment)."""
        from opdash.catalog import CatalogAsOf

        return CatalogAsOf(self, moment)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)


def filter_events(events, scope: Scope, *, with_time: bool = False):
    """``events`` (an ibis table) narrowed to ``scope``; the time range only when asked."""
    conditions = []
    if _set(scope.actors):
        conditions.append(_one_of(events.actor_id, scope.actors))
    if _set(scope.event_types):
        conditions.append(_one_of(events.event_type, scope.event_types))
    if _set(scope.run):
        conditions.append(events.run_id == scope.run)
    if _set(scope.workflow):
        conditions.append(events.workflow_id == scope.workflow)
    if with_time and scope.since is not None:
        conditions.append(events.occurred_at >= scope.since)
    if with_time and scope.until is not None:
        conditions.append(events.occurred_at < scope.until)
    return events.filter(*conditions) if conditions else events


@dataclass(frozen=True)
class Shaped:
    """A catalog view split for compiled-once queries (``opdash.templates``): the catalog that
    runs them, the shape of the view's filters, their values, and the view rebuilt from the
    values a builder is handed."""

    runner: Any
    shape: tuple
    values: dict[str, Any]
    view: Any  # Callable[[Values], catalog view]


def shaped(catalog) -> Shaped | None:
    """``catalog`` (a Catalog, or one seen through a scope) split into shape and values; None
    for other views (they compile per question)."""
    if _is_root(catalog):
        return Shaped(catalog, (), {}, lambda _values: catalog)
    if not (isinstance(catalog, ScopedCatalog) and _is_root(catalog.base)):
        return None
    scope = catalog.scope
    values: dict[str, Any] = {}
    for name in ("actors", "event_types", "run", "workflow"):
        if getattr(scope, name):
            values[name] = getattr(scope, name)
    shape = ("scope", *sorted(values))  # which filters are set; not their values or lengths

    def view(given) -> ScopedCatalog:
        stand_in = Scope(**{name: given[name] for name in values})
        return ScopedCatalog(catalog.base, stand_in)

    return Shaped(catalog.base, shape, values, view)


def _is_root(catalog) -> bool:
    """Whether ``catalog`` is an engine's catalog itself (DuckDB's or Spark's), not a view of
    one (views pass attribute lookups on, so the class is asked)."""
    return getattr(type(catalog), "is_catalog", False)


def run_shaped(catalog, name: Hashable, build, **values: int | str):
    """``build(view, values)`` as a pandas DataFrame, compiled once per (``name``, shape of the
    catalog's filters); ``values`` are what changes from one question to the next."""
    from opdash.templates import Values

    parts = shaped(catalog)
    if parts is None:
        return build(catalog, Values(values, stand_ins=False)).execute()
    return parts.runner.query(
        (name, parts.shape), lambda given: build(parts.view(given), given), **values, **parts.values
    )


def shared_table(
    catalog, name: str, build, detail: tuple = (), *, event_types: Iterable[str] | None = None
):
    """``build(view)``, an ibis table that no question's instants change, computed into a
    DuckDB table once per (``detail``, filter values) and shared by every question and session
    (``Catalog.shared``, within the byte budget of kept tables). It is kept across refreshes that
    brought no events of ``event_types`` (what ``build`` reads; None: any) by the filter's
    actors. Its ``TableName``, or None when ``catalog`` is a view that cannot be split."""
    from opdash.templates import TableName

    parts = shaped(catalog)
    if parts is None:
        return None
    root = parts.runner
    table = root.materialized(
        (name, detail, tuple(sorted(parts.values.items()))),
        lambda: root.shaped_sql(
            (name, detail, parts.shape), lambda given: build(parts.view(given)), parts.values
        ),
        reads=_reads(parts.values, event_types),
    )
    return TableName(table.get_name(), table.schema())


def shared_build(
    catalog, name: str, build, detail: tuple = (), *, event_types: Iterable[str] | None = None
):
    """``build(view, builder)`` — an ibis table, whose rows it may number with ``builder`` —
    computed into a table once per (``name``, ``detail``, filter values) and shared by every
    question and session (``Catalog.shared``), kept across refreshes that brought no events of
    ``event_types`` (what it reads; None: any) by the filter's actors. Its SQL is compiled once
    per (``name``, ``detail``, which filters are set) and kept across processes: ``detail``
    must name all that ``build`` depends on besides the view. Returns the catalog that runs
    questions about it and the table."""
    parts = shaped(catalog)
    if parts is None:
        raise TypeError(f"{type(catalog).__name__} is not a catalog or a scoped catalog")
    root = parts.runner
    if not root.keep_shared:  # computed within each question that reads it
        from opdash.catalog.store import Builder

        return root, build(catalog, Builder(portable=root.portable))

    def sql(builder) -> str:
        return root.shaped_sql(
            (name, detail, parts.shape),
            lambda given: build(parts.view(given), builder),
            parts.values,
            keep=True,
        )

    table = root.shared(
        (name, detail, tuple(sorted(parts.values.items()))),
        sql,
        reads=_reads(parts.values, event_types),
    )
    return root, table


def reads_of(catalog, event_types: Iterable[str] | None):
    """What a table built from ``catalog``'s events of ``event_types`` (None: any) reads."""
    parts = shaped(catalog)
    return _reads(parts.values if parts is not None else {}, event_types)


def _reads(values: dict[str, Any], event_types: Iterable[str] | None):
    """What a table built from events of ``event_types`` under filter ``values`` reads."""
    from opdash.catalog import Reads

    types = None if event_types is None else frozenset(event_types)
    if "event_types" in values:
        chosen = frozenset(values["event_types"])
        types = chosen if types is None else types & chosen
    actors = frozenset(values["actors"]) if "actors" in values else None
    return Reads(event_types=types, actors=actors)


def run_on_shared(
    catalog,
    name: str,
    rows,
    question,
    *,
    detail: tuple = (),
    event_types: Iterable[str] | None = None,
    **values: int | str,
):
    """``question(table, values)`` as a pandas DataFrame, where ``table`` is
    ``rows(view, keep)``: one row per event of ``event_types`` (None: any), with the events
    columns named in ``keep`` (those the catalog's filters read) among its columns.

    ``rows`` is computed once over the whole folder per ``detail`` — not once per actor set —
    and kept while no refresh brought events of those types (``shared_table``); the question
    applies the catalog's filters to that small table, compiled once per shape.
    """
    from opdash.templates import Values

    parts = shaped(catalog)
    if parts is None or not parts.runner.keep_shared:  # nothing kept: rows within the question
        return question(rows(catalog, ()), Values(values, stand_ins=False)).execute()
    root = parts.runner
    keep = tuple(FILTER_COLUMNS[dimension] for dimension in sorted(parts.values))
    table = shared_table(
        root, name, lambda view: rows(view, keep), (*detail, keep), event_types=event_types
    )
    shape = (name, detail, "question", parts.shape, tuple(table.schema.items()))

    def build(given):
        scope = parts.view(given).scope if parts.values else Scope()
        return question(filter_events(given["table"], scope), given)

    return root.query(shape, build, table=table, **values, **parts.values)


def with_columns(keep: tuple[str, ...], *own: str) -> list[str]:
    """``own`` columns and then those of ``keep`` not among them (``run_on_shared`` rows)."""
    return list(dict.fromkeys([*own, *keep]))


def _set(value) -> bool:
    """Whether a filter is set: a non-empty value, or a stand-in (always set)."""
    return not isinstance(value, str | tuple | list) or bool(value)


def _one_of(column, values):
    """``column`` is one of ``values``: a tuple of str, or a list expression (a stand-in)."""
    if isinstance(values, tuple | list):
        return column.isin(list(values))
    return values.contains(column)


def scoped(catalog, scope: Scope | None):
    """``catalog`` itself for an empty scope, else the catalog through the scope's filters."""
    return ScopedCatalog(catalog, scope) if scope is not None and scope.narrows else catalog


@dataclass(frozen=True)
class Choice:
    """A value a filter can take, with how many events carry it."""

    value: str
    events: int


def choices(catalog, dimension: str, *, limit: int = 500) -> list[Choice]:
    """The values present for a scope dimension (actors, event_types, run), most frequent first."""
    column = SCOPE_COLUMNS[dimension]
    rows = catalog.cached(
        ("choices", column, limit),
        lambda: catalog.fetchall(
            f'SELECT "{column}", count(*) AS n FROM events WHERE "{column}" IS NOT NULL '
            f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT {int(limit)}"
        ),
    )
    return [Choice(value, n) for value, n in rows]
