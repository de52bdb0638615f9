"""Brute-force references for the dashboard tiles: plain Python over the event dicts a test wrote.

Nothing here imports opdash or runs SQL. The definitions are the documented ones:

* an event is in the KPI window when ``as_of − window < occurred_at ≤ as_of``; the previous
  window is ``as_of − 2·window < t ≤ as_of − window``;
* count; unique = distinct non-null ``correlation.workflow_id``; unique:PATH = distinct non-null
  values at a dotted path; sum:PATH / avg:PATH over the values that are decimal numbers (a JSON
  number, or text that is a plain decimal number: optional sign, digits with an optional
  fraction or a fraction alone, optional exponent — no spaces, no nan/inf, and ±inf ignored);
* an empty window is 0 (count, unique, sum) or None (avg); change = (value − previous) /
  previous × 100, None when previous is 0 or None or value is None.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.bruteforce import ten_places

WINDOW_SECONDS = {"30m": 1800, "1h": 3600, "6h": 21600, "1d": 86400, "2d": 172800, "1w": 604800}
_MISSING = object()


def instant(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime (microseconds kept)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def at_path(event: dict, path: str) -> Any:
    """The value at a dotted path of an envelope; ``_MISSING`` when a step is absent."""
    node: Any = event
    for step in path.split("."):
        if not isinstance(node, dict) or step not in node:
            return _MISSING
        node = node[step]
    return node


def _is_decimal_text(text: str) -> bool:
    """A plain decimal number written as text, checked character by character."""
    i, n = 0, len(text)
    if i < n and text[i] in "+-":
        i += 1
    digits_before = 0
    while i < n and text[i].isascii() and text[i].isdigit():
        i, digits_before = i + 1, digits_before + 1
    digits_after = 0
    if i < n and text[i] == ".":
        i += 1
        while i < n and text[i].isascii() and text[i].isdigit():
            i, digits_after = i + 1, digits_after + 1
    if digits_before == 0 and digits_after == 0:
        return False
    if i < n and text[i] in "eE":
        i += 1
        if i < n and text[i] in "+-":
            i += 1
        exponent = 0
        while i < n and text[i].isascii() and text[i].isdigit():
            i, exponent = i + 1, exponent + 1
        if exponent == 0:
            return False
    return i == n


def number_of(value: Any) -> float | None:
    """The value as a finite float when it is a JSON number or decimal text, else None."""
    if isinstance(value, bool) or value is None or value is _MISSING:
        return None
    numeric = isinstance(value, int | float) or (isinstance(value, str) and _is_decimal_text(value))
    if not numeric:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def metric_of(events: Iterable[dict], metric: str) -> float | int | None:
    """One metric over the given events."""
    events = list(events)
    kind, _, path = metric.partition(":")
    if kind == "count":
        return len(events)
    if kind == "unique":
        where = path or "correlation.workflow_id"
        values = {at_path(e, where) for e in events}
        return len({v for v in values if v is not None and v is not _MISSING})
    found = [v for v in (at_path(e, path) for e in events) if number_of(v) is not None]
    numbers = [ten_places(v) for v in found]
    if kind == "sum":
        return float(sum(numbers))
    assert kind == "avg", metric
    return float(sum(numbers) / len(numbers)) if numbers else None


def change(value, previous) -> float | None:
    """The change in percent of the previous value's size: −4,555 → +10,657 is +334 %."""
    if previous is None or previous == 0 or value is None:
        return None
    size = previous if previous > 0 else -previous
    return (value - previous) / size * 100


def kpi_ref(
    events: Iterable[dict],
    metric: str = "count",
    *,
    event_types: Iterable[str] = (),
    window_seconds: int,
    as_of: datetime,
) -> tuple[Any, Any, Any]:
    """``(value, previous, change_pct)`` of a KPI over ``events`` (dicts as written)."""
    types = set(event_types)
    span = timedelta(seconds=window_seconds)
    chosen = [e for e in events if not types or e["event_type"] in types]
    now = [e for e in chosen if as_of - span < instant(e["occurred_at"]) <= as_of]
    before = [e for e in chosen if as_of - 2 * span < instant(e["occurred_at"]) <= as_of - span]
    value, previous = metric_of(now, metric), metric_of(before, metric)
    return value, previous, change(value, previous)


# -- alerts of a folder, read from its files -----------------------------------------------------


def read_alerts(folder: Path) -> list[dict]:
    """Every alert of ``folder/runs/*/alerts.jsonl`` with its ``run_id`` added."""
    alerts = []
    for path in sorted(folder.glob("runs/*/alerts.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                alerts.append({**json.loads(line), "run_id": path.parent.name})
    return alerts


def alerts_ref(
    alerts: list[dict], *, as_of: datetime, severity: str | None, state: str, run: str = ""
) -> list[str]:
    """Sorted ids of the alerts raised by ``as_of`` (of ``run``) with that severity and state;
    an alert is open at ``as_of`` unless it was resolved at or before it."""
    chosen = []
    for a in alerts:
        if run and a["run_id"] != run:
            continue
        if a.get("raised_at") and instant(a["raised_at"]) > as_of:
            continue
        is_open = not a.get("resolved_at") or instant(a["resolved_at"]) > as_of
        if severity is not None and a.get("severity") != severity:
            continue
        if state != "all" and is_open != (state == "open"):
            continue
        chosen.append(a["alert_id"])
    return sorted(chosen)
