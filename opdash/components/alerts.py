"""AlertsView: the alerts raised across runs, open ones first, narrowed by severity and state."""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from opdash.components.base import CatalogView
from opdash.components.runs import alerts_section
from opdash.metrics.runs import ALERT_STATES, SEVERITIES, AlertRow, narrowed, runs


class AlertsView(CatalogView):
    """Every run's alerts as of the page's moment (now, or the end of its last day), filtered
    to the page's run. Watch-only: an alert is resolved by the system that raised it."""

    title = "Alerts"
    summary = "Alerts across runs, open ones first."
    uses_filters = ("end", "run")
    uses_now = True

    severity = param.Selector(default="all", objects=["all", *SEVERITIES])
    state = param.Selector(default="all", objects=list(ALERT_STATES))

    def data(self) -> list[AlertRow]:
        result = runs(self.catalog, as_of=self.filters.as_of(), run=self.filters.run.strip())
        severity = None if self.severity == "all" else self.severity
        return narrowed(result.alerts, severity=severity, state=self.state)

    def controls(self) -> pn.Row:
        return pn.Row(
            pn.widgets.Select.from_param(self.param.severity, label="Alert severity"),
            pn.widgets.Select.from_param(self.param.state, label="Alert state"),
            sizing_mode="stretch_width",
        )

    def draw(self, alerts: list[AlertRow]) -> Any:
        return pn.Column(
            *alerts_section(alerts, self.severity, self.state), sizing_mode="stretch_width"
        )
