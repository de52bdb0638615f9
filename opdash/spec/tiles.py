"""The tile types a dashboard spec may use, and the component each one draws.

Components are named, not imported: checking a spec (``opdash check``) must not import Panel.
A tile's keys are its component's parameters (``CatalogView.spec_keys``) plus the keys every
tile has (:data:`TILE_KEYS`); ``opdash/spec/schema.py`` generates the shipped JSON Schema from
them (a test keeps the shipped file equal to the generated one).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

#: Keys of every tile, whatever its type.
TILE_KEYS = ("type", "title", "controls")


@dataclass(frozen=True)
class TileType:
    name: str
    component: str  # "module:Class" under opdash.components
    headed: bool = True  # without a title of its own, the tile is headed by its component's
    event_keys: tuple[str, ...] = ()  # keys naming event types, a list or one (checked)
    source_kind: str | None = None  # "json" / "markdown": the tile shows the file in source:
    has_controls: bool = False  # its component has choices of its own to show (controls: true)
    checks: tuple[str, ...] = ()  # its values' own checks (opdash/spec/values.py TYPE_CHECKS)

    def component_class(self) -> type:
        module, _, name = self.component.partition(":")
        return getattr(importlib.import_module(f"opdash.components.{module}"), name)


TILE_TYPES: dict[str, TileType] = {
    t.name: t
    for t in (
        TileType("today", "today:TodayStrip", headed=False),
        TileType("kpi", "kpi:KpiView", event_keys=("event_types",)),
        TileType(
            "funnel",
            "funnel:FunnelView",
            event_keys=("steps",),
            has_controls=True,
            checks=("steps_listed_once", "attribution_within_steps", "dropped_at_within_steps"),
        ),
        TileType("trend", "trend:TrendView", has_controls=True),
        TileType(
            "retention",
            "retention:RetentionView",
            event_keys=("start_event", "return_event"),
            has_controls=True,
        ),
        TileType("paths", "paths:PathsView", event_keys=("event", "exclude"), has_controls=True),
        TileType("goals", "goals:GoalProgress"),
        TileType("feed", "activity:ActivityFeed", has_controls=True),
        TileType("runs", "runs:RunsView", has_controls=True),
        TileType("alerts", "alerts:AlertsView", has_controls=True),
        TileType("chain", "chain:WorkflowChain", has_controls=True),
        TileType("data-quality", "quality:DataQuality"),
        TileType("markdown", "state:MarkdownState", source_kind="markdown"),
        TileType("json-state", "state:JsonState", source_kind="json"),
        TileType("sql", "sql:SqlView", checks=("read_only_query",)),
    )
}
