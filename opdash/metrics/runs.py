"""Runs and their alerts as they stood at one instant: status, heartbeat age, open alerts.

An alert is open at ``as_of`` when it was raised at or before it and not resolved at or before
it (the same rule as the Today strip's open alerts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from opdash.timeutil import to_micros


@dataclass(frozen=True)
class RunRow:
    run_id: str
    name: str | None
    kind: str | None
    status: str | None
    started_at: datetime | None
    ended_at: datetime | None
    heartbeat_at: datetime | None
    heartbeat_age_seconds: float | None  # as of the evaluation instant
    events: int
    open_alerts: int


@dataclass(frozen=True)
class AlertRow:
    run_id: str
    alert_id: str | None
    severity: str | None
    title: str | None
    raised_at: datetime | None
    resolved_at: datetime | None  # None, or after as_of: open
    open: bool


@dataclass(frozen=True)
class RunsResult:
    as_of: datetime
    runs: list[RunRow]
    alerts: list[AlertRow]  # open ones first, newest first

    def to_dict(self) -> dict[str, Any]:
        def plain(row) -> dict[str, Any]:
            return {
                k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(row).items()
            }

        return {
            "as_of": self.as_of.isoformat(),
            "runs": [plain(r) for r in self.runs],
            "alerts": [plain(a) for a in self.alerts],
        }


_RUNS_SQL = """
WITH counted AS (
    SELECT run_id, count(*) AS n FROM events WHERE run_id IS NOT NULL GROUP BY run_id
), open_alerts AS (
    SELECT run_id, count(*) AS n FROM alerts
    WHERE epoch_us(raised_at) <= $as_of AND (resolved_at IS NULL OR epoch_us(resolved_at) > $as_of)
    GROUP BY run_id
)
SELECT r.run_id, r.name, r.kind, r.status, r.started_at, r.ended_at, r.heartbeat_at,
       ($as_of - epoch_us(r.heartbeat_at)) / 1e6, coalesce(c.n, 0), coalesce(o.n, 0)
FROM runs r LEFT JOIN counted c USING (run_id) LEFT JOIN open_alerts o USING (run_id)
WHERE (r.started_at IS NULL OR epoch_us(r.started_at) <= $as_of) AND ($run = '' OR r.run_id = $run)
ORDER BY r.started_at DESC NULLS LAST, r.run_id
"""

_ALERTS_SQL = """
SELECT run_id, alert_id, severity, title, raised_at, resolved_at,
       resolved_at IS NULL OR epoch_us(resolved_at) > $as_of AS open
FROM alerts WHERE (raised_at IS NULL OR epoch_us(raised_at) <= $as_of) AND ($run = '' OR run_id = $run)
ORDER BY open DESC, raised_at DESC NULLS LAST, run_id, alert_id
"""


def runs(catalog, *, as_of: datetime, run: str = "") -> RunsResult:
    """Every run started by ``as_of`` (or only ``run``) with its event count and open alerts,
    and every alert raised by ``as_of``."""
    params = {"as_of": to_micros(as_of), "run": run}
    run_rows = [RunRow(*row) for row in catalog.fetchall(_RUNS_SQL, params)]
    alert_rows = [AlertRow(*row) for row in catalog.fetchall(_ALERTS_SQL, params)]
    return RunsResult(as_of=as_of, runs=run_rows, alerts=alert_rows)
