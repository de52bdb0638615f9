"""The one filter state of a dashboard page, shared by every component on it.

``Filters`` holds what the operator narrowed the page to: a range of local days in a zone,
actors, event types, a run and a workflow. Components read it as a metrics :class:`Scope`; the
URL mirrors it (see ``urlstate``), so every view is a permalink.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

import panel as pn
import param

from opdash import calendar
from opdash.metrics.scope import Scope, choices

#: The filter parameters, in the order of the sidebar.
FILTER_NAMES = ("start", "end", "zone", "actors", "event_types", "run", "workflow")


class ZoneName(param.String):
    """An IANA zone name; anything else is refused with the nearest names suggested."""

    def _validate_value(self, val: Any, allow_None: bool) -> None:
        super()._validate_value(val, allow_None)
        if val is not None:
            calendar.zone(val)  # raises UsageError naming the bad zone


class Filters(param.Parameterized):
    """Date range (local days, both inclusive), zone, actors, event types, run, workflow."""

    start = param.CalendarDate(default=None, allow_None=True, doc="First day shown (local).")
    end = param.CalendarDate(
        default=None,
        allow_None=True,
        doc="Last day shown (local, inclusive). Also the day the Today strip and goals show.",
    )
    zone = ZoneName(default="UTC", doc="IANA time zone of days, buckets and 'today'.")
    actors = param.List(default=[], item_type=str, doc="Only events by these actor ids.")
    event_types = param.List(default=[], item_type=str, doc="Only these event types.")
    run = param.String(default="", doc="Only events of this run id.")
    workflow = param.String(default="", doc="Only events of this workflow id.")

    def scope(self) -> Scope:
        """The metrics scope: ``[start 00:00, day after end 00:00)`` in the zone."""
        tz = calendar.zone(self.zone)
        since = calendar.local_midnight(self.start, tz) if self.start else None
        until = calendar.local_midnight(self.end + timedelta(days=1), tz) if self.end else None
        return Scope(
            since=since.astimezone(UTC) if since else None,
            until=until.astimezone(UTC) if until else None,
            actors=tuple(self.actors),
            event_types=tuple(self.event_types),
            run=self.run.strip(),
            workflow=self.workflow.strip(),
        )

    def as_of(self, now: datetime | None = None) -> datetime:
        """The moment 'today' and goals are read at: now (to the minute, so answers can be
        cached and shared for that minute), or the end of the last day shown if that is earlier.
        """
        now = now or datetime.now(UTC).replace(second=0, microsecond=0)
        until = self.scope().until
        return now if until is None or until > now else until - timedelta(microseconds=1)

    def reset(self) -> None:
        self.param.update(**{name: self.param[name].default for name in FILTER_NAMES})

    @staticmethod
    def choices(catalog) -> tuple[list[str], list[str], list[str]]:
        """Actors, event types and runs present (cached per data version), most frequent first."""
        return tuple(
            [c.value for c in choices(catalog, dimension)]
            for dimension in ("actors", "event_types", "run")
        )

    def controls(self, catalog) -> pn.Column:
        """Sidebar widgets bound to these filters; choices come from the data present."""
        actors = pn.widgets.MultiChoice.from_param(self.param.actors, label="Actors")
        types = pn.widgets.MultiChoice.from_param(self.param.event_types, label="Event types")
        run = pn.widgets.Select.from_param(self.param.run, label="Run")
        self._choice_widgets = (actors, types, run)
        self.refresh_choices(catalog)
        widgets = [
            pn.widgets.DatePicker.from_param(self.param.start, label="From (local day)"),
            pn.widgets.DatePicker.from_param(self.param.end, label="To (local day, inclusive)"),
            pn.widgets.AutocompleteInput.from_param(
                self.param.zone,
                label="Time zone",
                options=calendar.zone_names(),
                search_strategy="includes",
                min_characters=1,
                restrict=True,
            ),
            actors,
            types,
            run,
            pn.widgets.TextInput.from_param(
                self.param.workflow, label="Workflow id", placeholder="e.g. wf-0042"
            ),
        ]
        clear = pn.widgets.Button(label="Clear filters", color="light")
        clear.on_click(lambda _event: self.reset())
        return pn.Column(*widgets, clear, sizing_mode="stretch_width")

    def refresh_choices(self, catalog) -> None:
        """Offer the actors, types and runs present now (new ones arrive with live data)."""
        widgets = getattr(self, "_choice_widgets", None)
        if widgets is None:
            return
        actors, types, runs = self.choices(catalog)
        actor_widget, type_widget, run_widget = widgets
        actor_widget.options = text_options(_keep(actors, self.actors))
        type_widget.options = text_options(_keep(types, self.event_types))
        run_widget.options = {
            "All runs": "",
            **text_options(_keep(runs, [self.run] if self.run else [])),
        }


def text_options(values: list[str]) -> dict[str, str]:
    """Option labels escaped, values raw: Bokeh's MultiChoice (choices.js) renders its labels
    as HTML, and these come from the data."""
    return {html.escape(v): v for v in values}


def _keep(options: list[str], chosen: list[str]) -> list[str]:
    """Options with the chosen values kept (a permalink may name a value not in the top list)."""
    return [*options, *(c for c in chosen if c not in options)]
