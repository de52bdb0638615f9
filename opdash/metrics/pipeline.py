"""Where every workflow stands in a process, and which ones are stuck (docs/chains-and-pipeline.md).

A workflow's *stage* is its ordered-funnel level (:func:`opdash.metrics.funnel.entity_levels`):
the furthest step it reached, in order, within the window of a step-1 event. Its *idle time* is
``as_of`` minus the time of its newest event of any type. Everything is seen as of ``as_of``:
events after it are ignored entirely, as if they had not happened yet. A workflow is *stuck* when
it is idle longer than ``stuck_after`` (strictly) and has not reached the last step; workflows at
the last step are *done*: counted in the last stage, never stuck.

The whole computation is one ibis expression per answer (stage counts, stuck lists), run by DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import ibis

from opdash.errors import UsageError
from opdash.metrics.funnel import DEFAULT_BY, DEFAULT_WINDOW, entity_levels, parse_steps
from opdash.metrics.sqlfuncs import functions
from opdash.timeutil import from_micros, parse_duration, parse_instant, to_micros

DEFAULT_STUCK_AFTER = "2d"
DEFAULT_LIMIT = 50
_US = 1_000_000


@dataclass(frozen=True)
class StuckWorkflow:
    """A workflow idle longer than the threshold at a stage before the last."""

    workflow_id: str
    last_event_at: datetime
    idle_seconds: float
    last_event_type: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "last_event_at": self.last_event_at.isoformat(),
            "idle_seconds": self.idle_seconds,
            "last_event_type": self.last_event_type,
        }


@dataclass(frozen=True)
class PipelineStage:
    """The workflows whose furthest step is ``stage``; ``stuck_workflows`` oldest first, capped."""

    stage: int
    event_type: str
    workflows: int
    stuck: int
    stuck_workflows: tuple[StuckWorkflow, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "event_type": self.event_type,
            "workflows": self.workflows,
            "stuck": self.stuck,
            "stuck_workflows": [s.to_dict() for s in self.stuck_workflows],
        }


@dataclass(frozen=True)
class PipelineResult:
    """Stage counts and stuck lists, with the parameters that produced them."""

    stages: tuple[PipelineStage, ...]
    as_of: datetime
    stuck_after_seconds: int
    window_seconds: int
    by: str
    limit: int
    missing_event_types: list[str] = field(default_factory=list)

    @property
    def workflows(self) -> int:
        """Workflows that entered (had a step-1 event by ``as_of``)."""
        return sum(s.workflows for s in self.stages)

    @property
    def done(self) -> int:
        """Workflows that reached the last step (never stuck)."""
        return self.stages[-1].workflows if self.stages else 0

    @property
    def stuck(self) -> int:
        return sum(s.stuck for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "stuck_after_seconds": self.stuck_after_seconds,
            "window_seconds": self.window_seconds,
            "by": self.by,
            "limit": self.limit,
            "stages": [s.to_dict() for s in self.stages],
            "workflows": self.workflows,
            "done": self.done,
            "stuck": self.stuck,
            "missing_event_types": list(self.missing_event_types),
        }

    def to_frame(self):
        """One row per stage: event type, workflows, stuck."""
        import pandas as pd

        rows = [
            {
                "stage": s.stage,
                "event_type": s.event_type,
                "workflows": s.workflows,
                "stuck": s.stuck,
            }
            for s in self.stages
        ]
        return pd.DataFrame(rows).set_index("stage")

    def stuck_frame(self):
        """One row per listed stuck workflow, with its stage, oldest first within each stage."""
        import pandas as pd

        rows = [
            {"stage": s.stage, "event_type": s.event_type, **w.to_dict()}
            for s in self.stages
            for w in s.stuck_workflows
        ]
        columns = ["stage", "event_type", "workflow_id", "last_event_at", "idle_seconds"]
        return pd.DataFrame(rows, columns=[*columns, "last_event_type"])


def pipeline(
    catalog,
    steps: list[str] | tuple[str, ...] | str,
    *,
    window: str | int = DEFAULT_WINDOW,
    stuck_after: str | int = DEFAULT_STUCK_AFTER,
    as_of: str | datetime | None = None,
    by: str = DEFAULT_BY,
    limit: int = DEFAULT_LIMIT,
) -> PipelineResult:
    """Each workflow's stage and idle time as of ``as_of`` (default now). UsageError on bad input."""
    spec = _Spec.parse(steps, window, stuck_after, as_of)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise UsageError(f"bad limit '{limit}': use a whole number ≥ 0")
    step_list, window_s, stuck_s, as_of_t = spec
    as_of_us = to_micros(as_of_t)
    n = len(step_list)
    state = _workflow_state(catalog, spec, by)

    counts = state.group_by("level").aggregate(
        workflows=state.count(), stuck=state.stuck.cast("int64").sum()
    )
    per_level = {
        int(r.level): (int(r.workflows), int(r.stuck or 0))
        for r in counts.execute().itertuples(index=False)
    }
    lists: dict[int, list[StuckWorkflow]] = {}
    if limit > 0:
        stuck = state.filter(state.stuck)
        stuck = stuck.mutate(
            nth=ibis.row_number().over(group_by=stuck.level, order_by=[stuck.last_us, stuck.entity])
        )
        listed = stuck.filter(stuck.nth < limit).order_by(["level", "nth"])
        for r in listed.execute().itertuples(index=False):
            lists.setdefault(int(r.level), []).append(
                StuckWorkflow(
                    workflow_id=str(r.entity),
                    last_event_at=from_micros(int(r.last_us)),
                    idle_seconds=(as_of_us - int(r.last_us)) / _US,
                    last_event_type=str(r.last_type),
                )
            )
    stages = tuple(
        PipelineStage(
            stage=k,
            event_type=step_list[k - 1],
            workflows=per_level.get(k, (0, 0))[0],
            stuck=per_level.get(k, (0, 0))[1],
            stuck_workflows=tuple(lists.get(k, ())),
        )
        for k in range(1, n + 1)
    )
    present = set(catalog.event_types())
    return PipelineResult(
        stages=stages,
        as_of=as_of_t,
        stuck_after_seconds=stuck_s,
        window_seconds=window_s,
        by=by,
        limit=limit,
        missing_event_types=[s for s in dict.fromkeys(step_list) if s not in present],
    )


def workflow_state(
    catalog,
    steps: list[str] | tuple[str, ...] | str,
    *,
    window: str | int = DEFAULT_WINDOW,
    stuck_after: str | int = DEFAULT_STUCK_AFTER,
    as_of: str | datetime | None = None,
    by: str = DEFAULT_BY,
) -> ibis.Table:
    """One row per workflow that entered: ``entity``, ``level``, ``last_us``, ``last_type``,
    ``idle_us``, ``stuck`` (bool) — the expression behind :func:`pipeline`, for other views."""
    return _workflow_state(catalog, _Spec.parse(steps, window, stuck_after, as_of), by)


class _Spec(NamedTuple):
    """The validated parameters shared by :func:`pipeline` and :func:`workflow_state`."""

    steps: list[str]
    window_s: int
    stuck_s: int
    as_of: datetime

    @classmethod
    def parse(cls, steps, window, stuck_after, as_of) -> _Spec:
        return cls(
            parse_steps(steps),
            parse_duration(window, name="window"),
            parse_duration(stuck_after, name="stuck-after"),
            parse_instant(as_of, name="as-of") or datetime.now(UTC),
        )


def _workflow_state(catalog, spec: _Spec, by: str) -> ibis.Table:
    view = catalog.as_of(spec.as_of)
    levels = entity_levels(view, spec.steps, window=spec.window_s, order="ordered", by=by)
    return _state(view, levels, by, to_micros(spec.as_of), spec.stuck_s * _US, len(spec.steps))


def _state(view, levels: ibis.Table, by: str, as_of_us: int, stuck_us: int, n: int):
    """Join each entity's level with its newest event (time, type) and decide whether it is stuck.

    The newest event is the latest ``occurred_at``; at equal times, the greatest ``event_id``.
    """
    fns = functions(view)
    events = view.table("events")
    base = events.mutate(entity=fns.field(events, by)).filter(lambda t: t.entity.notnull())
    newest = ibis.row_number().over(
        group_by=base.entity, order_by=[base.occurred_at.desc(), base.event_id.desc()]
    )
    last = (
        base.mutate(nth=newest, last_us=fns.epoch_us(base.occurred_at))
        .filter(lambda t: t.nth == 0)
        .select(e_last="entity", last_us="last_us", last_type="event_type")
    )
    joined = levels.select("entity", "level").inner_join(last, levels.entity == last.e_last)
    idle = ibis.literal(as_of_us, "int64") - joined.last_us
    return joined.select(
        "entity",
        "level",
        "last_us",
        "last_type",
        idle_us=idle,
        stuck=(idle > stuck_us) & (joined.level < n),
    )
