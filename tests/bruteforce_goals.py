"""Plain-Python reference implementations of goals and today, written from the definitions only.

No SQL, no pandas, no opdash: events are the envelope dicts as written to the folder, alerts the
alert dicts, goals the dicts of a goals file; every definition (calendar period in a zone, real
elapsed time, the status rules, today's window, task identity, open alerts) is a loop over them.
Conversion goals reuse tests/bruteforce.py's funnel (itself independent of opdash).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from tests import bruteforce
from tests.bruteforce import ten_places, value_at

LOOP = [
    "signal.created",
    "candidate.created",
    "trade.plan.created",
    "trade.executed",
    "trade.closed",
    "coach.analysis.generated",
    "strategy.rule.suggested",
    "journal.updated",
    "journal.completed",
    "task.created",
    "task.accepted",
    "task.rejected",
    "alert.triggered",
]
STRIP_PAIRS = [
    ("signal.created", "candidate.created"),
    ("candidate.created", "trade.plan.created"),
    ("trade.plan.created", "trade.executed"),
    ("trade.executed", "trade.closed"),
    ("trade.closed", "coach.analysis.generated"),
]


def instant(text: str | datetime) -> datetime:
    """An aware UTC datetime from RFC 3339 text (no offset: UTC)."""
    value = text if isinstance(text, datetime) else datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def midnight(day: date, tz: ZoneInfo) -> datetime:
    """Local midnight of ``day`` in ``tz`` as a UTC instant."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def period(as_of: datetime, kind: str, tz_name: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the calendar period (day, week from Monday, month, quarter)."""
    tz = ZoneInfo(tz_name)
    day = as_of.astimezone(tz).date()
    if kind == "day":
        first, nxt = day, day + timedelta(days=1)
    elif kind == "week":
        first = day - timedelta(days=day.weekday())
        nxt = first + timedelta(days=7)
    else:
        months = 1 if kind == "month" else 3
        first_month = day.month if kind == "month" else (day.month - 1) // 3 * 3 + 1
        first = date(day.year, first_month, 1)
        m = first_month + months
        nxt = date(day.year + (m - 1) // 12, (m - 1) % 12 + 1, 1)
    return midnight(first, tz), midnight(nxt, tz)


def as_text(value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def goal_actual(events: list[dict], goal: dict, as_of: datetime):
    """(actual, exact actual or None) of one goal dict."""
    start, _ = period(as_of, goal["period"], goal.get("tz", "UTC"))
    kind, _, arg = goal["metric"].partition(":")
    if kind == "conversion":
        seen = [e for e in events if instant(e["occurred_at"]) <= as_of]
        result = bruteforce.funnel(
            seen,
            goal["steps"],
            window=goal.get("window", "14d"),
            by=goal.get("by", "correlation.workflow_id"),
            since=start,
            until=as_of + timedelta(microseconds=1),
        )
        first, last = result["steps"][0]["count"], result["steps"][-1]["count"]
        return (last / first, Fraction(last, first)) if first else (None, None)
    chosen = [
        e
        for e in events
        if e["event_type"] == goal["event"] and start <= instant(e["occurred_at"]) <= as_of
    ]
    if kind == "count":
        return len(chosen), Fraction(len(chosen))
    if kind == "unique":
        by = arg or goal.get("by", "correlation.workflow_id")
        values = {as_text(value_at(e, by)) for e in chosen} - {None}
        return len(values), Fraction(len(values))
    total = Fraction(0)
    for e in chosen:
        v = value_at(e, arg)
        if isinstance(v, int | float) and not isinstance(v, bool):
            total += ten_places(v)
    return float(total), total


def goal_status(exact, target, direction: str, expected: Fraction) -> str:
    if exact is None:
        return "no_data"
    target = Fraction(repr(target)) if isinstance(target, float) else Fraction(target)
    if direction == "up":
        if exact / target >= 1:
            return "met"
        if exact / target >= expected:
            return "on_track"
        if exact / target >= Fraction(8, 10) * expected:
            return "at_risk"
        return "behind"
    if exact > target:
        return "breached"
    if exact > target * expected:
        return "at_risk"
    return "on_track"


def goal(events: list[dict], goal: dict, as_of: datetime) -> dict:
    """actual, expected_progress (exact), status and the period of one goal dict."""
    start, end = period(as_of, goal["period"], goal.get("tz", "UTC"))
    us = timedelta(microseconds=1)
    expected = Fraction((as_of - start) // us, (end - start) // us)
    actual, exact = goal_actual(events, goal, as_of)
    return {
        "actual": actual,
        "expected": expected,
        "status": goal_status(exact, goal["target"], goal.get("direction", "up"), expected),
        "period_start": start,
        "period_end": end,
    }


def task_key(event: dict) -> str:
    for path in ("payload.task_id", "entity.id"):
        value = as_text(value_at(event, path))
        if value is not None:
            return value
    return event["event_id"]


def today(events: list[dict], alerts: list[dict], as_of: datetime, tz_name: str) -> dict:
    """counts, conversion rates, accept rate, pending tasks, open alerts and the latest insight."""
    tz = ZoneInfo(tz_name)
    start = midnight(as_of.astimezone(tz).date(), tz)
    seen = [e for e in events if instant(e["occurred_at"]) <= as_of]
    counts = dict.fromkeys(LOOP, 0)
    for e in seen:
        if e["event_type"] in counts and instant(e["occurred_at"]) >= start:
            counts[e["event_type"]] += 1
    rates = [counts[b] / counts[a] if counts[a] else None for a, b in STRIP_PAIRS]
    decided_n = counts["task.accepted"] + counts["task.rejected"]
    accept = counts["task.accepted"] / decided_n if decided_n else None

    decided = {task_key(e) for e in seen if e["event_type"] in ("task.accepted", "task.rejected")}
    first: dict[str, dict] = {}
    for e in seen:
        if e["event_type"] != "task.created":
            continue
        key = task_key(e)
        old = first.get(key)
        if old is None or (instant(e["occurred_at"]), e["event_id"]) < (
            instant(old["occurred_at"]),
            old["event_id"],
        ):
            first[key] = e
    pending = sorted(
        ((k, e) for k, e in first.items() if k not in decided),
        key=lambda item: (instant(item[1]["occurred_at"]), item[1]["event_id"]),
    )
    pending_rows = [
        {
            "task_id": k,
            "title": as_text(value_at(e, "payload.title")),
            "age_seconds": (as_of - instant(e["occurred_at"])).total_seconds(),
            "event_id": e["event_id"],
        }
        for k, e in pending
    ]

    open_alerts = {"info": 0, "warning": 0, "critical": 0, "other": 0}
    for a in alerts:
        raised = a.get("raised_at")
        if not raised or instant(raised) > as_of:
            continue
        resolved = a.get("resolved_at")
        if resolved and instant(resolved) <= as_of:
            continue
        sev = a.get("severity")
        open_alerts[sev if sev in ("info", "warning", "critical") else "other"] += 1
    open_alerts["total"] = sum(open_alerts.values())

    coach = [e for e in seen if e["event_type"] == "coach.analysis.generated"]
    latest = max(coach, key=lambda e: (instant(e["occurred_at"]), e["event_id"]), default=None)
    insight = None
    if latest is not None:
        text = as_text(value_at(latest, "payload.insight"))
        insight = {
            "event_id": latest["event_id"],
            "text": text if text is not None else as_text(value_at(latest, "payload.summary")),
        }
    return {
        "counts": counts,
        "rates": rates,
        "task_accept_rate": accept,
        "pending": pending_rows,
        "open_alerts": open_alerts,
        "latest_insight": insight,
    }
