"""Runs and their alerts as they stood at one instant: status, heartbeat age, open alerts.

An alert is open at ``as_of`` when it was raised at or before it and not resolved at or before
it (the same rule as the Today strip's open alerts).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from opdash.masking import mask, mask_text
from opdash.timeutil import to_micros

#: A running run with no heartbeat or event for longer than this is shown as stale.
STALE_AFTER_SECONDS = 300
SEVERITIES = ("critical", "warning", "info")
ALERT_STATES = ("open", "resolved", "all")
#: Most events or alerts one answer lists.
MAX_LIMIT = 1000


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
    events: int  # events of the run up to the evaluation instant
    open_alerts: int
    open_by_severity: dict[str, int]  # critical / warning / info / other
    last_event_at: datetime | None
    last_activity_at: datetime | None  # the later of the last heartbeat and the last event
    duration_seconds: float | None  # to its end, or to the evaluation instant while not ended
    stale: bool  # running, and no heartbeat or event for longer than stale_after
    error: str | None  # why run.json could not be read (the run is still listed)


@dataclass(frozen=True)
class AlertRow:
    run_id: str
    alert_id: str | None
    severity: str | None
    title: str | None
    message: str | None
    source: str | None
    raised_at: datetime | None
    resolved_at: datetime | None  # None, or after as_of: open
    open: bool


@dataclass(frozen=True)
class RunsResult:
    as_of: datetime
    stale_after_seconds: int
    runs: list[RunRow]
    alerts: list[AlertRow]  # open ones first, newest first

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "stale_after_seconds": self.stale_after_seconds,
            "runs": [plain(r) for r in self.runs],
            "alerts": [plain(a) for a in self.alerts],
        }


@dataclass(frozen=True)
class RunSnapshot:
    """One run as it stood: its row, metadata, newest events and its alerts."""

    as_of: datetime
    run: RunRow
    params: Any  # secrets masked
    tags: Any
    last_events: list[dict[str, Any]]  # oldest first
    alerts: list[AlertRow]  # every alert raised by as_of: open ones first, newest first

    @property
    def open_alerts(self) -> list[AlertRow]:
        return [a for a in self.alerts if a.open]

    @property
    def alerts_by_severity(self) -> dict[str, int]:
        counts = dict.fromkeys((*SEVERITIES, "other"), 0)
        for alert in self.alerts:
            counts[_severity_key(alert.severity)] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "run": plain(self.run),
            "params": self.params,
            "tags": self.tags,
            "counts": {
                "events": self.run.events,
                "alerts": self.alerts_by_severity,
                "open_alerts": self.run.open_by_severity,
            },
            "stale": self.run.stale,
            "last_events": self.last_events,
            "open_alerts": [plain(a) for a in self.open_alerts],
        }


def plain(row) -> dict[str, Any]:
    """A result row as JSON-ready data: instants as ISO text."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(row).items()}


_RUNS_SQL = """
WITH counted AS (
    SELECT run_id, count(*) AS n, max(occurred_at) AS last_event_at FROM events
    WHERE run_id IS NOT NULL AND epoch_us(occurred_at) <= $as_of GROUP BY run_id
), open_alerts AS (
    SELECT run_id, count(*) AS n,
           count(*) FILTER (WHERE severity = 'critical') AS critical,
           count(*) FILTER (WHERE severity = 'warning') AS warning,
           count(*) FILTER (WHERE severity = 'info') AS info
    FROM alerts
    WHERE epoch_us(raised_at) <= $as_of AND (resolved_at IS NULL OR epoch_us(resolved_at) > $as_of)
    GROUP BY run_id
)
SELECT r.run_id, r.name, r.kind, r.status, r.started_at, r.ended_at, r.heartbeat_at,
       ($as_of - epoch_us(r.heartbeat_at)) / 1e6, coalesce(c.n, 0), coalesce(o.n, 0),
       coalesce(o.critical, 0), coalesce(o.warning, 0), coalesce(o.info, 0), c.last_event_at,
       r.error
FROM runs r LEFT JOIN counted c USING (run_id) LEFT JOIN open_alerts o USING (run_id)
WHERE (r.started_at IS NULL OR epoch_us(r.started_at) <= $as_of) AND ($run = '' OR r.run_id = $run)
ORDER BY r.started_at DESC NULLS LAST, r.run_id
"""

_ALERTS_SQL = """
SELECT run_id, alert_id, severity, title, message, source, raised_at, resolved_at,
       resolved_at IS NULL OR epoch_us(resolved_at) > $as_of AS open
FROM alerts WHERE (raised_at IS NULL OR epoch_us(raised_at) <= $as_of) AND ($run = '' OR run_id = $run)
ORDER BY open DESC, raised_at DESC NULLS LAST, run_id, alert_id
"""

_TAIL_SQL = """
SELECT event_id, event_type, event_version, occurred_at, actor_type, actor_id, entity_type,
       entity_id, workflow_id, parent_event_id, run_id, CAST(context AS VARCHAR),
       CAST(payload AS VARCHAR)
FROM events WHERE run_id = $run AND epoch_us(occurred_at) <= $as_of
ORDER BY occurred_at DESC, event_id DESC LIMIT $limit
"""


def runs(
    catalog, *, as_of: datetime, run: str = "", stale_after: int = STALE_AFTER_SECONDS
) -> RunsResult:
    """Every run started by ``as_of`` (or only ``run``) with its event count, open alerts and
    staleness, and every alert raised by ``as_of``."""
    params = {"as_of": to_micros(as_of), "run": run}
    run_rows = [_run_row(row, as_of, stale_after) for row in catalog.fetchall(_RUNS_SQL, params)]
    alert_rows = [_alert_row(row) for row in catalog.fetchall(_ALERTS_SQL, params)]
    return RunsResult(
        as_of=as_of, stale_after_seconds=stale_after, runs=run_rows, alerts=alert_rows
    )


def run_snapshot(
    catalog, run_id: str, *, as_of: datetime, stale_after: int = STALE_AFTER_SECONDS, last: int = 20
) -> RunSnapshot | None:
    """One run as it stood at ``as_of``; None when there is no such run (or it had not started)."""
    result = runs(catalog, as_of=as_of, run=run_id, stale_after=stale_after)
    if not result.runs:
        return None
    meta = catalog.fetchall(
        "SELECT CAST(params AS VARCHAR), CAST(tags AS VARCHAR) FROM runs WHERE run_id = ?",
        [run_id],
    )
    params, tags = (json.loads(v) if v is not None else None for v in meta[0])
    return RunSnapshot(
        as_of=as_of,
        run=result.runs[0],
        params=mask(params),
        tags=mask(tags),
        last_events=run_tail(catalog, run_id, as_of=as_of, limit=last),
        alerts=result.alerts,
    )


def run_tail(catalog, run_id: str, *, as_of: datetime, limit: int = 50) -> list[dict[str, Any]]:
    """The run's last ``limit`` events up to ``as_of``, oldest first, as envelopes (payloads
    and context with secrets masked)."""
    rows = catalog.fetchall(_TAIL_SQL, {"run": run_id, "as_of": to_micros(as_of), "limit": limit})
    return [_envelope(row) for row in reversed(rows)]


def run_alerts(
    catalog,
    run_id: str,
    *,
    as_of: datetime,
    limit: int = 50,
    severity: str | None = None,
    state: str = "all",
) -> list[AlertRow]:
    """The run's alerts raised by ``as_of``: open ones first, newest first; ``severity`` and
    ``state`` (open | resolved | all) narrow them."""
    params = {"as_of": to_micros(as_of), "run": run_id}
    return narrowed(
        [_alert_row(row) for row in catalog.fetchall(_ALERTS_SQL, params)],
        severity=severity,
        state=state,
    )[:limit]


def narrowed(alerts: list[AlertRow], *, severity: str | None, state: str) -> list[AlertRow]:
    """The alerts of one severity (None: any) and state (open | resolved | all)."""
    if severity is not None:
        alerts = [a for a in alerts if a.severity == severity]
    if state != "all":
        alerts = [a for a in alerts if a.open == (state == "open")]
    return alerts


def _run_row(row: tuple, as_of: datetime, stale_after: int) -> RunRow:
    (run_id, name, kind, status, started, ended, heartbeat, age, events, n_open,
     critical, warning, info, last_event, error) = row  # fmt: skip
    signs = [t for t in (heartbeat, last_event) if t is not None]
    last_activity = max(signs) if signs else None
    since = last_activity or started
    stale = status == "running" and (since is None or (as_of - since).total_seconds() > stale_after)
    duration = None
    if started is not None:
        duration = ((ended or as_of) - started).total_seconds()
    other = n_open - critical - warning - info
    return RunRow(
        run_id=run_id,
        name=mask_text(name),
        kind=kind,
        status=status,
        started_at=started,
        ended_at=ended,
        heartbeat_at=heartbeat,
        heartbeat_age_seconds=age,
        events=events,
        open_alerts=n_open,
        open_by_severity={"critical": critical, "warning": warning, "info": info, "other": other},
        last_event_at=last_event,
        last_activity_at=last_activity,
        duration_seconds=duration,
        stale=stale,
        error=error,
    )


def _alert_row(row: tuple) -> AlertRow:
    run_id, alert_id, severity, title, message, source, raised, resolved, is_open = row
    return AlertRow(
        run_id=run_id,
        alert_id=alert_id,
        severity=severity,
        title=mask_text(title),
        message=mask_text(message),
        source=source,
        raised_at=raised,
        resolved_at=resolved,
        open=bool(is_open),
    )


def _severity_key(severity: str | None) -> str:
    return severity if severity in SEVERITIES else "other"


def _envelope(row: tuple) -> dict[str, Any]:
    (event_id, event_type, version, occurred_at, actor_type, actor_id, entity_type, entity_id,
     workflow_id, parent_id, run_id, context, payload) = row  # fmt: skip
    return {
        "event_id": event_id,
        "event_type": event_type,
        "event_version": version,
        "occurred_at": occurred_at.isoformat(),
        "actor": {"type": actor_type, "id": actor_id},
        "entity": {"type": entity_type, "id": entity_id} if entity_type or entity_id else None,
        "correlation": {"workflow_id": workflow_id, "parent_event_id": parent_id},
        "run_id": run_id,
        "context": mask(json.loads(context)) if context is not None else None,
        "payload": mask(json.loads(payload)) if payload is not None else None,
    }
