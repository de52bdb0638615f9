"""Goals: a target for a metric over calendar periods, and how the current period is going.

A goal file (``goals.yaml`` in the artifact folder) lists goals; each is evaluated over
``[start of the period containing as-of, as-of]`` (both ends inclusive) in the goal's time zone.
``expected_progress`` is the share of the period's *real* duration that has elapsed (a week over a
daylight-saving change lasts 167 or 169 hours), and the status compares progress with it. Status
comparisons are exact (rational arithmetic; a float is taken as the decimal it prints as), so a
value exactly on a boundary always lands on the documented side. Definitions:
docs/goals-and-today.md.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from functools import cache, partial
from importlib import resources
from pathlib import Path
from typing import Any

import ibis

from opdash.contract import SETTINGS_FILES
from opdash.errors import UsageError, did_you_mean, json_kind
from opdash.timeutil import to_micros
from opdash.yamltext import YamlDocument, YamlProblem, parse_yaml, read_text

GOALS_FILE = SETTINGS_FILES[0]
METRICS = ("count", "unique", "sum", "conversion")
METRIC_FORMS = ("count", "unique", "unique:PATH", "sum:PATH", "conversion")
PERIODS = ("day", "week", "month", "quarter")
DIRECTIONS = ("up", "down")
STATUSES = ("met", "on_track", "at_risk", "behind", "breached", "no_data")
DEFAULT_BY = "correlation.workflow_id"
DEFAULT_WINDOW = "14d"
AT_RISK_SHARE = Fraction(4, 5)  # up: at_risk down to 80 % of the expected progress
_US = 1_000_000


# --------------------------------------------------------------------------- the definitions


@dataclass(frozen=True)
class Goal:
    """One validated goal. ``kind`` is the metric without its path; ``metric`` is as written."""

    id: str
    metric: str
    kind: str
    target: int | float
    period: str
    title: str = ""
    direction: str = "up"
    tz: str = "UTC"
    event: str | None = None
    by: str | None = None  # unique / conversion: the entity path
    path: str | None = None  # sum: the summed path
    steps: tuple[str, ...] = ()
    window_seconds: int | None = None  # conversion
    line: int | None = None  # where the goal starts in its file

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title or self.id,
            "metric": self.metric,
            "event": self.event,
            "by": self.by,
            "path": self.path,
            "steps": list(self.steps) if self.steps else None,
            "window_seconds": self.window_seconds,
            "target": self.target,
            "period": self.period,
            "direction": self.direction,
            "tz": self.tz,
        }


@dataclass(frozen=True)
class GoalStatus:
    """A goal evaluated at one instant."""

    goal: Goal
    as_of: datetime
    period_start: datetime
    period_end: datetime
    actual: int | float | None
    progress: float | None
    expected_progress: float
    status: str
    entered: int | None = None  # conversion: entities with a step-1 event in the period
    converted: int | None = None  # conversion: of those, entities that reached the last step

    @property
    def id(self) -> str:
        return self.goal.id

    def to_dict(self) -> dict[str, Any]:
        out = self.goal.to_dict()
        out |= {
            "actual": self.actual,
            "progress": self.progress,
            "expected_progress": self.expected_progress,
            "status": self.status,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "as_of": self.as_of.isoformat(),
        }
        if self.goal.kind == "conversion":
            out |= {"entered": self.entered, "converted": self.converted}
        return out


@dataclass(frozen=True)
class GoalsResult:
    """Every goal of a file evaluated at ``as_of``."""

    goals: list[GoalStatus]
    as_of: datetime
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "goals": [g.to_dict() for g in self.goals],
            "as_of": self.as_of.isoformat(),
            "source": self.source,
        }

    def to_frame(self):
        import pandas as pd

        rows = [g.to_dict() for g in self.goals]
        columns = list(rows[0]) if rows else ["id", "status", "actual", "target", "progress"]
        return pd.DataFrame(rows, columns=columns).set_index("id")


# --------------------------------------------------------------------------- loading


def load_goals(path: str | os.PathLike[str]) -> list[Goal]:
    """The goals of a YAML file, validated; a UsageError names the file, the goal and the problem."""
    try:
        path = Path(path).expanduser()
    except RuntimeError as exc:  # ~someone who is not a user here
        raise UsageError(f"goals file '{path}': {exc}") from None
    try:
        text = read_text(path, what="goals file")
    except YamlProblem as exc:
        raise UsageError(f"{path}: {exc}") from None
    return parse_goals(text, source=str(path))


def parse_goals(text: str, *, source: str = GOALS_FILE) -> list[Goal]:
    """The goals of a goals file's text (see :func:`load_goals`)."""
    document = _parse(text, source)
    if document.data is None:
        return []
    return validate_goals(document.data, source=source, lines=_goal_lines(document))


def check_goals(
    text: str, *, source: str = GOALS_FILE
) -> tuple[list[Goal], list[tuple[int | None, str]]]:
    """The valid goals of a goals file and every problem as (line, message): each goal is
    checked on its own, so one broken goal hides neither the next one's problem nor the valid
    goals (``opdash check``). A YAML problem's message does not repeat its line."""
    try:
        document = _parse(text, source)
        if not _has_goal_list(document.data):  # empty, or the file's shape is wrong: one problem
            if document.data is not None:
                validate_goals(document.data, source=source)
            return [], []
    except UsageError as exc:
        line = getattr(exc, "line", None)
        message = str(exc).replace(f": line {line}: ", ": ", 1) if line else str(exc)
        return [], [(line, message)]
    lines = _goal_lines(document)
    valid: list[Goal] = []
    problems: list[tuple[int | None, str]] = []
    seen: dict[Any, int] = {}
    for index, item in enumerate(document.data["goals"]):
        line = lines[index] if index < len(lines) else None
        try:
            (goal,) = validate_goals({"goals": [item]}, source=source, lines=[line] if line else [])
        except UsageError as exc:
            problems.append((line, str(exc)))
            continue
        if goal.id in seen:
            where = _where(item, index, lines, source)
            problems.append((line, f"{where}: duplicate id (goal #{seen[goal.id] + 1} has it too)"))
            continue
        seen[goal.id] = index
        valid.append(goal)
    return valid, problems


def _has_goal_list(data: Any) -> bool:
    return isinstance(data, dict) and set(data) == {"goals"} and isinstance(data["goals"], list)


def _parse(text: str, source: str) -> YamlDocument:
    try:
        return parse_yaml(text, what="a goals file")
    except YamlProblem as exc:
        error = UsageError(f"{source}: {exc}")
        error.line = exc.line  # type: ignore[attr-defined]
        raise error from None


def _goal_lines(document: YamlDocument) -> list[int]:
    goals_list = document.data.get("goals") if isinstance(document.data, dict) else None
    if not isinstance(goals_list, list):
        return []
    return [document.line(("goals", i)) or 0 for i in range(len(goals_list))]


@cache
def goals_schema() -> dict:
    """The JSON Schema of a goals file (``opdash/schemas/goals.schema.json``)."""
    text = resources.files("opdash.schemas").joinpath("goals.schema.json").read_text("utf-8")
    return json.loads(text)


def validate_goals(
    doc: Any, *, source: str = GOALS_FILE, lines: list[int] | None = None
) -> list[Goal]:
    """Goals from a parsed document ``{"goals": [...]}``: the JSON Schema, then semantic checks."""
    from jsonschema import Draft202012Validator

    lines = lines or []
    errors = list(Draft202012Validator(goals_schema()).iter_errors(doc))
    if errors:
        raise UsageError(_schema_message(_first(errors), doc, lines, source))
    out: list[Goal] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(doc.get("goals") or []):
        where = _where(item, index, lines, source)
        if item["id"] in seen:
            raise UsageError(f"{where}: duplicate id (goal #{seen[item['id']] + 1} has it too)")
        seen[item["id"]] = index
        try:
            out.append(_goal(item, lines[index] if index < len(lines) else None))
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
    return out


def _first(errors):
    """The error of the earliest goal; within it: unknown key, missing key, bad value, the rest."""

    def goal_index(error) -> int:
        path = list(error.absolute_path)
        return path[1] if len(path) > 1 and isinstance(path[1], int) else -1

    def kind(error) -> int:
        if error.validator == "additionalProperties":
            return 0
        if error.validator == "required":
            return 2 if "allOf" in error.relative_schema_path else 1
        return 3 if "allOf" in error.relative_schema_path else 2

    def order(error):
        return (goal_index(error), kind(error), [str(p) for p in error.absolute_path])

    return min(errors, key=order)


def _where(item: Any, index: int, lines: list[int], source: str) -> str:
    gid = item.get("id") if isinstance(item, dict) else None
    label = f"goal '{gid}'" if isinstance(gid, str) and gid else f"goal #{index + 1}"
    line = f" (line {lines[index]})" if index < len(lines) else ""
    return f"{source}: {label}{line}"


def _schema_message(error, doc, lines: list[int], source: str) -> str:
    path = list(error.absolute_path)
    if len(path) < 2 or not isinstance(path[1], int):
        extra = sorted(str(k) for k in doc if k != "goals") if isinstance(doc, dict) else []
        if extra:
            return (
                f"{source}: unknown top-level key '{extra[0]}'{did_you_mean(str(extra[0]), ['goals'])}"
                " (a goals file holds one key, goals:, with a list of goals)"
            )
        if error.validator == "required":
            return f"{source}: no 'goals:' key (a goals file holds goals: with a list of goals)"
        if not path:
            return f"{source}: the file: {error.message} (it holds goals: with a list of goals)"
        return f"{source}: goals: must be a list of goals, not {error.instance!r}"[:300]
    index = path[1]
    where = _where(doc["goals"][index], index, lines, source)
    key = path[2] if len(path) > 2 else None
    if key is None and not isinstance(error.instance, dict):
        return f"{where}: each goal must be a mapping (id:, metric:, …), not {error.instance!r}"[
            :300
        ]
    props = goals_schema()["$defs"]["goal"]["properties"]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(str(k) for k in error.instance if k not in props)
        return (
            f"{where}: unknown key '{extra[0]}'{did_you_mean(extra[0], props)} "
            f"(use {', '.join(props)})"
        )
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        why = ""
        if missing == ["event"]:
            why = f" (metric {error.instance.get('metric')} counts events of one type)"
        elif missing == ["steps"]:
            why = " (metric conversion needs steps: [first.type, …, last.type])"
        return f"{where}: missing '{missing[0]}'{why}"
    if key == "metric" and isinstance(error.instance, str):
        return f"{where}: {_metric_problem(error.instance)}"
    if error.validator == "enum":
        allowed = [str(v) for v in error.validator_value]
        return (
            f"{where}: bad {key} '{error.instance}'{did_you_mean(str(error.instance), allowed)} "
            f"(use {', '.join(allowed)})"
        )
    if key == "id" and error.validator == "pattern":
        return f"{where}: id: use letters, digits, '.', '_' and '-' (up to 100), not {error.instance!r}"
    if error.validator == "type" and not isinstance(error.instance, dict | list):
        return f"{where}: {key}: {error.instance!r} is not {json_kind(error.validator_value)}"
    return f"{where}: {key}: {error.message}"[:300]


def _metric_problem(metric: str) -> str:
    name, sep, rest = metric.partition(":")
    if name in ("sum", "unique") and sep and not rest.strip():
        return f"metric '{metric}' needs a path, e.g. {name}:payload.pnl"
    if name == "sum" and not sep:
        return "metric 'sum' needs a path: sum:PATH, e.g. sum:payload.pnl"
    if name in ("count", "conversion") and sep:
        return f"metric '{name}' takes no path (use by: for the entity of a conversion)"
    return f"unknown metric '{metric}'{did_you_mean(name, METRICS)} (use {', '.join(METRIC_FORMS)})"


def _goal(item: dict[str, Any], line: int | None) -> Goal:
    from opdash.calendar import zone
    from opdash.contract import field_path
    from opdash.timeutil import parse_duration

    metric = item["metric"].strip()
    kind, _, arg = metric.partition(":")
    arg = arg.strip()
    if kind not in METRICS or (kind in ("count", "conversion") and ":" in metric):
        raise UsageError(_metric_problem(metric))
    if kind == "sum" and not arg or kind == "unique" and ":" in metric and not arg:
        raise UsageError(_metric_problem(metric))
    target = item["target"]
    if isinstance(target, float) and not math.isfinite(target):
        raise UsageError(f"target {target} is not a finite number")
    direction = item.get("direction", "up")
    if direction == "up" and target <= 0:
        raise UsageError(
            "target must be greater than 0 for direction up (use direction: down for a ceiling)"
        )
    if kind == "conversion" and target > 1:
        raise UsageError(f"target {target} is a rate for metric conversion: give 0 < target ≤ 1")
    tz = item.get("tz", "UTC")
    zone(tz)  # UsageError naming the bad zone
    for key, kinds in (("by", ("unique", "conversion")), ("steps", ("conversion",))):
        if key in item and kind not in kinds:
            raise UsageError(f"{key}: applies only to metric {' or '.join(kinds)}")
    if "window" in item and kind != "conversion":
        raise UsageError("window: applies only to metric conversion")
    if "event" in item and kind == "conversion":
        raise UsageError("metric conversion takes steps:, not event:")
    by = path = None
    if kind == "unique":
        if arg and "by" in item:
            raise UsageError(f"give the path once: metric {metric} or by: {item['by']}, not both")
        by = arg or item.get("by", DEFAULT_BY)
    elif kind == "conversion":
        by = item.get("by", DEFAULT_BY)
    elif kind == "sum":
        path = arg
        if field_path(path).json_path is None:
            raise UsageError(f"metric sum:{path} needs a numeric JSON path such as sum:payload.pnl")
    for p in (by, path):
        if p is not None:
            field_path(p)  # UsageError with "did you mean"
    window_s = None
    steps: tuple[str, ...] = ()
    if kind == "conversion":
        steps = tuple(s.strip() for s in item["steps"])
        if any(not s for s in steps):
            raise UsageError("steps: every step must be an event type")
        window_s = parse_duration(item.get("window", DEFAULT_WINDOW))
    return Goal(
        id=item["id"],
        metric=metric,
        kind=kind,
        target=target,
        period=item["period"],
        title=item.get("title") or item["id"],
        direction=direction,
        tz=tz.strip(),
        event=item.get("event"),
        by=by,
        path=path,
        steps=steps,
        window_seconds=window_s,
        line=line,
    )


# --------------------------------------------------------------------------- evaluation


def goals(
    catalog,
    goals_or_path: str | os.PathLike[str] | list[Goal | dict[str, Any]] | None = None,
    *,
    as_of: str | datetime | None = None,
) -> GoalsResult:
    """Evaluate goals at ``as_of`` (default now).

    ``goals_or_path``: a goals file, a list of :class:`Goal` (or of goal dicts, validated as a
    file would be), or None for ``goals.yaml`` in the catalog's folder (no such file: no goals).
    """
    from opdash.timeutil import parse_instant

    as_of_t = parse_instant(as_of, name="as-of") or datetime.now(UTC)
    source: str | None = None
    if goals_or_path is None:
        default = Path(catalog.root) / GOALS_FILE
        goal_list = load_goals(default) if default.exists() else []
        source = str(default) if default.exists() else None
    elif isinstance(goals_or_path, str | os.PathLike):
        goal_list = load_goals(goals_or_path)
        source = str(goals_or_path)
    else:
        items = list(goals_or_path)
        dicts = [g for g in items if isinstance(g, dict)]
        if dicts and len(dicts) != len(items):
            raise UsageError("give either Goal objects or goal dicts, not a mix")
        goal_list = validate_goals({"goals": items}, source="<goals>") if dicts else items
    measured = _measures(catalog, goal_list, as_of_t)
    return GoalsResult(
        goals=[evaluate(catalog, g, as_of_t, m) for g, m in zip(goal_list, measured, strict=True)],
        as_of=as_of_t,
        source=source,
    )


def period_bounds(goal: Goal, as_of: datetime) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of the goal's calendar period that contains ``as_of``."""
    from opdash.calendar import next_period, period_start, zone

    tz = zone(goal.tz)
    start = period_start(as_of, goal.period, tz)
    return start, next_period(start, goal.period, tz)


def evaluate(
    catalog, goal: Goal, as_of: datetime, measured: int | float | None = None
) -> GoalStatus:
    """One goal at one instant (``as_of`` an aware datetime); ``measured``: its value when
    measured together with other goals (``_measures``), for count, unique and sum goals."""
    start, end = period_bounds(goal, as_of)
    start_us, end_us, as_of_us = to_micros(start), to_micros(end), to_micros(as_of)
    expected = Fraction(as_of_us - start_us, end_us - start_us)  # real time: UTC micros
    entered = converted = None
    if goal.kind == "conversion":
        entered, converted = _conversion(catalog, goal, start, as_of)
        actual: int | float | None = (converted / entered) if entered else None
        exact = Fraction(converted, entered) if entered else None
    else:
        actual = measured if measured is not None else _measures(catalog, [goal], as_of)[0]
        exact = exact_number(actual)
    target = exact_number(goal.target)
    progress = None
    if exact is not None and target:
        progress = float(exact / target)
    return GoalStatus(
        goal=goal,
        as_of=as_of,
        period_start=start,
        period_end=end,
        actual=actual,
        progress=progress,
        expected_progress=float(expected),
        status=status(exact, target, goal.direction, expected),
        entered=entered,
        converted=converted,
    )


def exact_number(value: int | float | Fraction | None) -> Fraction | None:
    """An exact rational; a float is taken as the decimal it prints as (0.3 is 3/10)."""
    if value is None:
        return None
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def status(actual: Fraction | None, target: Fraction, direction: str, expected: Fraction) -> str:
    """The documented status rules, on exact numbers."""
    if actual is None:
        return "no_data"
    if direction == "down":
        if actual > target:
            return "breached"
        return "at_risk" if actual > target * expected else "on_track"
    if actual >= target:  # progress ≥ 1
        return "met"
    if actual >= target * expected:  # progress ≥ expected_progress
        return "on_track"
    if actual >= target * expected * AT_RISK_SHARE:
        return "at_risk"
    return "behind"


def _measures(catalog, goal_list: list[Goal], as_of: datetime) -> list[int | float | None]:
    """Each count, unique and sum goal's value at ``as_of`` (None for conversion goals).

    The goals' events and measured values do not depend on the moment: they are kept in one
    table per data version, sorted by type and time (``shared_table``), and a moment asks that
    small table for every goal at once, each over its own period.
    """
    from opdash.metrics.scope import run_on_shared

    plain = [goal for goal in goal_list if goal.kind != "conversion"]
    if not plain:
        return [None] * len(goal_list)
    starts = {f"start{i}": to_micros(period_bounds(g, as_of)[0]) for i, g in enumerate(plain)}
    found = run_on_shared(
        catalog,
        "goal events",
        partial(_goal_events, plain),
        partial(_measures_at, plain),
        detail=tuple((g.kind, g.event, g.by, g.path) for g in plain),
        event_types={goal.event for goal in plain},
        as_of=to_micros(as_of),
        **starts,
    ).iloc[0]
    from opdash.metrics.sqlfuncs import refuse_too_large

    for i, goal in enumerate(plain):
        if goal.kind == "sum":
            refuse_too_large(found[f"too_large{i}"], goal.path)
    values = iter(_number(goal, found[f"value{i}"]) for i, goal in enumerate(plain))
    return [None if goal.kind == "conversion" else next(values) for goal in goal_list]


def _number(goal: Goal, value: Any) -> int | float:
    missing = value is None or value != value  # no rows: SUM is NULL
    if goal.kind in ("count", "unique"):
        return 0 if missing else int(value)
    return 0.0 if missing else float(Fraction(value))  # an exact decimal sum (sqlfuncs.exact)


def _goal_events(goal_list: list[Goal], view, keep: tuple[str, ...]) -> ibis.Table:
    """The goals' events: type, time, the columns the filters read (``keep``) and, per unique
    or sum goal i, the value it measures (``value{i}``; a sum goal's as an exact decimal, and
    ``large{i}``: whether it is too large to sum exactly)."""
    from opdash.metrics.scope import with_columns
    from opdash.metrics.sqlfuncs import functions

    fns = functions(view)
    events = view.table("events")
    rows = events.filter(events.event_type.isin(sorted({goal.event for goal in goal_list})))
    measured = {}
    for i, goal in enumerate(goal_list):
        if goal.kind != "count":
            measured.update(_measured_value(goal, rows, fns, i))
    rows = rows.select(
        *with_columns(keep, "event_type"), us=fns.epoch_us(rows.occurred_at), **measured
    )
    return rows.order_by(["event_type", "us"])  # kept in order: a period reads few row groups


def _measured_value(goal: Goal, rows: ibis.Table, fns, i: int) -> dict[str, ibis.Value]:
    from opdash.contract import field_path
    from opdash.metrics.sqlfuncs import EXACT_LIMIT, exact

    if goal.kind == "unique":
        return {f"value{i}": fns.field(rows, goal.by)}
    resolved = field_path(goal.path)
    column = rows[resolved.column]
    number = fns.json_number(column, resolved.json_path)
    return {
        f"value{i}": exact(fns.json_text(column, resolved.json_path), number),
        f"large{i}": number.abs() >= EXACT_LIMIT,
    }


def _measures_at(goal_list: list[Goal], events: ibis.Table, given) -> ibis.Table:
    """One row: ``value{i}``, goal i over its event type from its period's start to as_of."""
    first = ibis.least(*(given[f"start{i}"] for i in range(len(goal_list))))
    rows = events.filter(events.us >= first, events.us <= given["as_of"])
    aggregates = {}
    for i, goal in enumerate(goal_list):
        where = (rows.event_type == goal.event) & (rows.us >= given[f"start{i}"])
        if goal.kind == "count":
            aggregates[f"value{i}"] = rows.count(where=where)
        elif goal.kind == "unique":
            aggregates[f"value{i}"] = rows[f"value{i}"].nunique(where=where)
        else:
            aggregates[f"value{i}"] = rows[f"value{i}"].sum(where=where)
            aggregates[f"too_large{i}"] = rows.count(where=where & rows[f"large{i}"])
    return rows.aggregate(**aggregates)


def _conversion(catalog, goal: Goal, start: datetime, as_of: datetime) -> tuple[int, int]:
    """Entities with a step-1 event in [start, as_of], and how many reached the last step."""
    from opdash.metrics.funnel import funnel

    result = funnel(
        catalog.as_of(as_of),
        list(goal.steps),
        window=goal.window_seconds,
        order="ordered",
        by=goal.by,
        since=start,
        until=as_of + timedelta(microseconds=1),
    )
    return result.steps[0].count, result.steps[-1].count


__all__ = [
    "Goal",
    "GoalStatus",
    "GoalsResult",
    "evaluate",
    "goals",
    "goals_schema",
    "load_goals",
    "parse_goals",
    "period_bounds",
    "status",
    "validate_goals",
]
