"""What a tile's values must be beyond their JSON Schema types: the checks its component would
otherwise refuse the value with, run by ``opdash check`` before anything is drawn.

Two kinds, both declared rather than branched on: checks of a *key*, which run on every tile
that has the key (a ``window`` is a duration wherever it appears), and checks of a *tile type*,
named by its ``TileType.checks`` (a funnel's ``dropped_at`` must name one of its steps), and
the file a state tile shows (its ``TileType.source_kind``). They
live here and not on the components because checking a spec must not import Panel. Each check
raises ``UsageError`` with what is wrong; the hint says what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from opdash.errors import UsageError
from opdash.spec.tiles import TILE_TYPES


class ValueProblem(NamedTuple):
    """A value its component would refuse: the key, what is wrong, what to do."""

    key: str | None
    problem: str
    hint: str


def _metric(value: Any) -> None:
    from opdash.contract import field_path
    from opdash.metrics.trend import metric_arguments, parse_metric

    name, by = metric_arguments(value)
    parse_metric(name)
    field_path(by)


def _duration(value: Any) -> None:
    from opdash.timeutil import parse_duration

    parse_duration(value)


def _path(value: Any) -> None:
    from opdash.contract import field_path

    field_path(value)


def _optional_path(value: Any) -> None:
    if str(value).strip():
        _path(value)


#: Key -> (check of its value, hint). Run on every tile that has the key.
KEY_CHECKS: dict[str, tuple[Callable[[Any], None], str]] = {
    "metric": (_metric, ""),
    "window": (_duration, ""),
    "by": (_path, ""),
    "breakdown": (_optional_path, ""),
}


def steps_listed_once(tile: dict[str, Any], root: Path | None) -> list[ValueProblem]:
    steps = tile.get("steps")
    if isinstance(steps, list) and len(set(steps)) != len(steps):
        return [ValueProblem("steps", "a step is listed twice", "list each event type once")]
    return []


def attribution_within_steps(tile: dict[str, Any], root: Path | None) -> list[ValueProblem]:
    from opdash.metrics.funnel import parse_attribution

    steps = tile.get("steps")
    if "attribution" not in tile or not isinstance(steps, list):
        return []
    try:
        parse_attribution(tile["attribution"], len(steps))
    except UsageError as exc:
        return [ValueProblem("attribution", str(exc), "")]
    return []


def dropped_at_within_steps(tile: dict[str, Any], root: Path | None) -> list[ValueProblem]:
    if tile.get("dropped_at", 0) > len(tile.get("steps") or [0] * 5):
        return [
            ValueProblem("dropped_at", f"there is no step {tile['dropped_at']}", "use 0 for none")
        ]
    return []


def read_only_query(tile: dict[str, Any], root: Path | None) -> list[ValueProblem]:
    from opdash.metrics.sql import read_only_problem

    problem = read_only_problem(tile["sql"])
    if problem:
        return [
            ValueProblem("sql", f"the query is refused: {problem}", "write one read-only SELECT")
        ]
    return []


def source_problems(tile: dict[str, Any], kind: str, root: Path | None) -> list[ValueProblem]:
    """The state file a tile with a ``source_kind`` shows must be a readable file of that kind
    inside the artifact folder (not checked without a folder)."""
    from opdash.metrics.state import state_file

    if root is None:
        return []
    try:
        state_file(root, tile["source"], kind)
    except UsageError as exc:
        return [ValueProblem("source", str(exc), "name a file inside the artifact folder")]
    return []


#: Tile-type check name -> the check (``TileType.checks`` names them).
TYPE_CHECKS: dict[str, Callable[[dict[str, Any], Path | None], list[ValueProblem]]] = {
    "steps_listed_once": steps_listed_once,
    "attribution_within_steps": attribution_within_steps,
    "dropped_at_within_steps": dropped_at_within_steps,
    "read_only_query": read_only_query,
}


def value_problems(tile: dict[str, Any], root: Path | None) -> list[ValueProblem]:
    """The problems of a schema-valid tile's values: its keys' checks, then its type's (its
    named checks, and its source file when it shows one)."""
    kind = TILE_TYPES[tile["type"]]
    out: list[ValueProblem] = []
    for key, (check, hint) in KEY_CHECKS.items():
        if key in tile:
            try:
                check(tile[key])
            except UsageError as exc:
                out.append(ValueProblem(key, str(exc), hint))
    for name in kind.checks:
        out.extend(TYPE_CHECKS[name](tile, root))
    if kind.source_kind:
        out.extend(source_problems(tile, kind.source_kind, root))
    return out
