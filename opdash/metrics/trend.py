"""Trends: a metric per calendar bucket in a time zone, with exact, documented semantics.

See docs/trends.md. Bucket boundaries are real instants computed in Python (``opdash.calendar``),
so a day on a daylight-saving change lasts 23 or 25 hours; the aggregation is one ibis query that
assigns every event to a bucket by comparing epoch microseconds with the boundaries. Empty buckets,
rolling means and the comparison with the previous period are filled in Python over the small
aggregated result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import ibis

from opdash import calendar
from opdash.errors import UsageError, did_you_mean
from opdash.metrics.sqlfuncs import exact, functions, refuse_too_large, too_large
from opdash.timeutil import from_micros, to_micros

INTERVALS = ("hour", "day", "week", "month")
METRICS = ("count", "unique", "sum:PATH", "avg:PATH")
COMPARES = ("previous",)
DEFAULT_BY = "correlation.workflow_id"
DEFAULT_BREAKDOWN_LIMIT = 10
#: How many buckets the range covers when --since is omitted.
DEFAULT_BUCKETS = {"hour": 48, "day": 30, "week": 12, "month": 12}
NONE_LABEL = "(none)"
OTHER_LABEL = "Other"
#: A numeric value: a JSON number, or text holding a plain decimal number (no spaces, no nan/inf).
NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"

_ONE_US = timedelta(microseconds=1)
_NUMBER = re.compile(NUMBER)


@dataclass(frozen=True)
class Metric:
    """A parsed ``--metric``: its kind (count, unique, sum, avg) and path for sum/avg."""

    kind: str
    path: str | None = None

    @property
    def text(self) -> str:
        return f"{self.kind}:{self.path}" if self.path else self.kind


@dataclass(frozen=True)
class TrendBucket:
    """One bucket of a series: ``[start, end)`` as aware datetimes in the trend's zone."""

    start: datetime
    end: datetime
    value: float | int | None
    rolling: float | None = None
    previous: float | int | None = None
    change_pct: float | None = None


@dataclass(frozen=True)
class TrendSeries:
    """One series: an event type, and with a breakdown one of its values (or Other)."""

    event_type: str
    buckets: list[TrendBucket]
    breakdown: str | None = None  # the value's label: the value, "(none)" for null, "Other"
    other: bool = False  # the series that merges the values past the breakdown limit

    @property
    def values(self) -> list[float | int | None]:
        return [b.value for b in self.buckets]


@dataclass(frozen=True)
class TrendResult:
    """A computed trend and the parameters that produced it."""

    series: list[TrendSeries]
    interval: str
    tz: str
    metric: str
    since: datetime
    until: datetime
    by: str | None = None
    breakdown: str | None = None
    breakdown_limit: int | None = None
    rolling: int | None = None
    compare: str | None = None
    several: bool = False  # several event types or a breakdown: the JSON lists "series"
    missing_event_types: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "interval": self.interval,
            "tz": self.tz,
            "metric": self.metric,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "missing_event_types": list(self.missing_event_types),
        }
        if self.by is not None:
            out["by"] = self.by
        if self.breakdown is not None:
            out["breakdown"] = self.breakdown
            out["breakdown_limit"] = self.breakdown_limit
        if self.rolling is not None:
            out["rolling"] = self.rolling
        if self.compare is not None:
            out["compare"] = self.compare
        if self.several:
            out["series"] = [self._series_dict(s) for s in self.series]
        else:
            only = self.series[0]
            out["event_type"] = only.event_type
            out["buckets"] = [self._bucket_dict(b) for b in only.buckets]
        return out

    def _series_dict(self, series: TrendSeries) -> dict[str, Any]:
        item: dict[str, Any] = {"event_type": series.event_type}
        if self.breakdown is not None:
            item["breakdown"] = series.breakdown
            item["other"] = series.other
        item["buckets"] = [self._bucket_dict(b) for b in series.buckets]
        return item

    def _bucket_dict(self, bucket: TrendBucket) -> dict[str, Any]:
        item: dict[str, Any] = {"start": bucket.start.isoformat(), "value": bucket.value}
        if self.rolling is not None:
            item["rolling"] = bucket.rolling
        if self.compare is not None:
            item["previous"] = bucket.previous
            item["change_pct"] = bucket.change_pct
        return item

    def to_frame(self):
        """One row per (series, bucket): event_type, breakdown, start, end, value, …"""
        import pandas as pd

        rows = []
        for series in self.series:
            for bucket in series.buckets:
                row: dict[str, Any] = {"event_type": series.event_type}
                if self.breakdown is not None:
                    row["breakdown"] = series.breakdown
                row |= {"start": bucket.start, "end": bucket.end, "value": bucket.value}
                if self.rolling is not None:
                    row["rolling"] = bucket.rolling
                if self.compare is not None:
                    row["previous"] = bucket.previous
                    row["change_pct"] = bucket.change_pct
                rows.append(row)
        frame = pd.DataFrame(rows)
        for column in ("start", "end"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(self.tz)
        return frame


# -- arguments ----------------------------------------------------------------------------------


def parse_events(events: list[str] | tuple[str, ...] | str) -> list[str]:
    """Event types from a list (or a comma-separated string), in order, without repeats."""
    items = (
        events.split(",")
        if isinstance(events, str)
        else [part for item in events for part in str(item).split(",")]
    )
    cleaned = [s.strip() for s in items]
    if not cleaned or any(not s for s in cleaned):
        raise UsageError(f"bad event type list '{','.join(map(str, items))}': give event types")
    return list(dict.fromkeys(cleaned))


def metric_arguments(text: str) -> tuple[str, str]:
    """``(metric, by)`` for ``trend()``: ``unique:PATH`` is ``unique`` by PATH; the rest as is."""
    raw = str(text).strip()
    kind, sep, path = raw.partition(":")
    if kind.strip() == "unique" and sep and path.strip():
        return "unique", path.strip()
    return raw or "count", DEFAULT_BY


def parse_metric(text: str) -> Metric:
    """``count``, ``unique``, ``sum:PATH`` or ``avg:PATH`` (the path is checked), or UsageError."""
    from opdash.contract import field_path

    raw = str(text).strip()
    kind, sep, path = raw.partition(":")
    kind = kind.strip()
    if kind in ("count", "unique") and not sep:
        return Metric(kind)
    if kind in ("sum", "avg"):
        if not path.strip():
            raise UsageError(
                f"bad metric '{text}': {kind} needs a numeric path, e.g. {kind}:payload.pnl"
            )
        return Metric(kind, field_path(path.strip()).path)
    raise UsageError(
        f"bad metric '{text}'{did_you_mean(raw, ('count', 'unique', 'sum:', 'avg:'))} "
        f"(use {', '.join(METRICS)}, e.g. sum:payload.pnl)"
    )


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise UsageError(f"bad {name} '{value}': it must be a whole number of at least 1")
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise UsageError(f"bad {name} '{value}': it must be a whole number of at least 1") from None
    if number < 1:
        raise UsageError(f"bad {name} '{value}': it must be at least 1")
    return number


# -- buckets ------------------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    """In UTC: Python compares two datetimes of one zone by wall clock, ignoring DST."""
    return None if value is None else value.astimezone(UTC)


# -- the trend ----------------------------------------------------------------------------------


def trend(
    catalog,
    events: list[str] | tuple[str, ...] | str,
    *,
    interval: str = "day",
    tz: str | None = "UTC",
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    metric: str = "count",
    by: str = DEFAULT_BY,
    breakdown: str | None = None,
    breakdown_limit: int = DEFAULT_BREAKDOWN_LIMIT,
    rolling: int | None = None,
    compare: str | None = None,
) -> TrendResult:
    """Compute a trend over ``catalog``'s events. Raises UsageError for bad arguments."""
    from opdash.contract import field_path

    types = parse_events(events)
    calendar.check_period(interval, INTERVALS)
    zone = calendar.zone(tz)
    parsed = parse_metric(metric)
    by_path = field_path(by).path
    breakdown_path = field_path(breakdown).path if breakdown not in (None, "") else None
    limit = _whole(breakdown_limit, "breakdown limit")
    rolling_n = _whole(rolling, "rolling") if rolling is not None else None
    if compare is not None and compare not in COMPARES:
        raise UsageError(
            f"bad compare '{compare}'{did_you_mean(str(compare), COMPARES)} (use previous)"
        )
    since_t = calendar.local_bound(since, zone, name="since")
    until_t = calendar.local_bound(until, zone, name="until")
    since_t, until_t = _range(catalog, types, interval, zone, _utc(since_t), _utc(until_t))

    starts = calendar.buckets(since_t, until_t, interval, zone)
    ends = [*starts[1:], until_t.astimezone(zone)]
    previous = _previous_starts(starts, interval, zone) if compare else []
    # bucket index → [lo, hi) in epoch µs; the first bucket counts only events ≥ since
    previous_ends = [*previous[1:], starts[0]] if previous else []
    bounds = [
        (i - len(previous), to_micros(s), to_micros(e))
        for i, (s, e) in enumerate(zip(previous, previous_ends, strict=True))
    ]
    bounds += [
        (i, to_micros(since_t if i == 0 else s), to_micros(e))
        for i, (s, e) in enumerate(zip(starts, ends, strict=True))
    ]
    rows = _aggregate(catalog, types, parsed, by_path, breakdown_path, limit, bounds)

    series = _series(
        types, parsed, rows, breakdown_path is not None, limit, starts, ends, rolling_n, compare
    )
    present = set(catalog.event_types())
    return TrendResult(
        series=series,
        interval=interval,
        tz=zone.key,
        metric=parsed.text,
        since=since_t.astimezone(zone),
        until=until_t.astimezone(zone),
        by=by_path if parsed.kind == "unique" else None,
        breakdown=breakdown_path,
        breakdown_limit=limit if breakdown_path else None,
        rolling=rolling_n,
        compare=compare,
        several=len(types) > 1 or breakdown_path is not None,
        missing_event_types=[t for t in types if t not in present],
    )


def _range(catalog, types, interval, zone, since, until) -> tuple[datetime, datetime]:
    """The range ``[since, until)``, with the documented defaults for a missing bound."""
    if until is None:
        newest = _newest(catalog, types)
        known = [x for x in (newest, since) if x is not None]
        anchor = max(known) if known else datetime.now(UTC)
        until = _utc(
            calendar.next_period(calendar.period_start(anchor, interval, zone), interval, zone)
        )
    if since is None:
        since = calendar.period_start(until - _ONE_US, interval, zone)
        for _ in range(DEFAULT_BUCKETS[interval] - 1):
            since = calendar.previous_period(since, interval, zone)
        since = _utc(since)
    if since >= until:
        raise UsageError(
            f"empty range: since {since.isoformat()} is not before until {until.isoformat()}"
        )
    return since.astimezone(UTC), until.astimezone(UTC)


def _newest(catalog, types: list[str]) -> datetime | None:
    """The newest event of these types (of any type when none of them occurs), or None."""
    events = catalog.table("events")
    us = functions(catalog).epoch_us(events.occurred_at)
    row = events.aggregate(
        chosen=us.max(where=events.event_type.isin(types)), anything=us.max()
    ).execute()
    chosen, anything = row["chosen"].iloc[0], row["anything"].iloc[0]
    us_value = chosen if chosen is not None and chosen == chosen else anything
    return None if us_value is None or us_value != us_value else from_micros(int(us_value), UTC)


def _previous_starts(starts: list[datetime], interval: str, zone: ZoneInfo) -> list[datetime]:
    """The same number of buckets immediately before the first one."""
    out = []
    start = starts[0]
    for _ in starts:
        start = calendar.previous_period(start, interval, zone)
        out.append(start)
    return out[::-1]


def numeric_text(text: ibis.Value) -> ibis.Value:
    """A float from text holding a decimal number; NULL for anything else (and for ±inf)."""
    number = text.try_cast("float64")
    ok = text.re_search(NUMBER) & number.notnull() & ~number.isinf()
    return ibis.ifelse(ok, number, ibis.null("float64"))


def _aggregate(catalog, types, metric, by, breakdown, limit, bounds) -> list[dict[str, Any]]:
    """One query: per (event type, bucket[, breakdown rank, value]) the metric's ingredients."""
    fns = functions(catalog)
    epoch_us, envelope_field = fns.epoch_us, fns.field
    events = catalog.table("events")
    us = epoch_us(events.occurred_at)
    lo, hi = min(b[1] for b in bounds), max(b[2] for b in bounds)
    base = events.filter(events.event_type.isin(types), us >= lo, us < hi)
    columns: dict[str, ibis.Value] = {"et": base.event_type, "us": epoch_us(base.occurred_at)}
    if metric.kind == "unique":
        columns["ent"] = envelope_field(base, by)
    if metric.kind in ("sum", "avg"):
        text = envelope_field(base, metric.path)
        columns["num"] = numeric_text(text)
        columns["dec"] = exact(text, columns["num"])
    if breakdown:
        columns["key"] = envelope_field(base, breakdown)
    base = base.select(**columns)
    edges = ibis.memtable(
        {"b": [b[0] for b in bounds], "lo": [b[1] for b in bounds], "hi": [b[2] for b in bounds]},
        schema={"b": "int64", "lo": "int64", "hi": "int64"},
    )
    rows = base.join(edges, [base.us >= edges.lo, base.us < edges.hi]).select(
        *[c for c in base.columns if c != "us"], "b"
    )
    groups = ["et", "b"]
    if breakdown:
        rows, groups = _rank(rows, metric, limit), ["et", "b", "rank", "key"]
    aggregates: dict[str, ibis.Value] = {"n": rows.count()}
    if metric.kind == "unique":
        aggregates["uniq"] = rows.ent.nunique()
    if metric.kind in ("sum", "avg"):
        aggregates["total"] = rows.dec.sum()
        aggregates["values"] = rows.num.count()
        aggregates["too_large"] = too_large(rows.num)
    result = rows.group_by(groups).aggregate(**aggregates).execute()
    records = result.astype(object).where(result.notna(), None).to_dict("records")
    refuse_too_large(sum(r.get("too_large") or 0 for r in records), metric.path)
    return records


def _rank(rows: ibis.Table, metric: Metric, limit: int) -> ibis.Table:
    """Rank every breakdown value by its total over the range; past ``limit`` it becomes Other.

    The rows get ``rank`` (1..limit, or limit + 1 for Other) and ``key`` (NULL for Other). Rows
    of values past the limit, or of values seen only in the previous period, fold into Other
    when the range has more than ``limit`` values, and are dropped otherwise.
    """
    current = rows.filter(rows.b >= 0)
    if metric.kind == "count":
        total = current.count()
    elif metric.kind == "unique":
        total = current.ent.nunique()
    elif metric.kind == "sum":
        total = current.dec.sum().coalesce(0).abs()
    else:  # avg: by how many values were averaged
        total = current.num.count()
    totals = current.group_by(["et", "key"]).aggregate(total=total)
    ranked = totals.mutate(
        rank=ibis.row_number().over(
            group_by=totals.et,
            order_by=[totals.total.desc(), totals.key.asc(nulls_first=False)],
        )
        + 1,
        values=totals.count().over(group_by=totals.et),
    ).select(et_r="et", key_r="key", rank="rank", values="values")
    joined = rows.left_join(ranked, [rows.et == ranked.et_r, rows.key.identical_to(ranked.key_r)])
    counts = ranked.group_by("et_r").aggregate(keys=ranked.count()).rename(et_k="et_r")
    joined = joined.left_join(counts, joined.et == counts.et_k)
    other = joined.rank.isnull() | (joined.rank > limit)
    kept = joined.filter(~other | (joined["keys"] > limit))
    other = kept.rank.isnull() | (kept.rank > limit)
    return kept.select(
        *[c for c in rows.columns if c != "key"],
        rank=ibis.ifelse(other, limit + 1, kept.rank).cast("int64"),
        key=ibis.ifelse(other, ibis.null("string"), kept.key),
    )


def metric_value(metric: Metric, row: dict[str, Any] | None) -> float | int | None:
    """The metric of one aggregated row; an empty bucket is 0 (count, unique, sum) or null (avg)."""
    if metric.kind == "count":
        return int(row["n"]) if row else 0
    if metric.kind == "unique":
        return int(row["uniq"]) if row else 0
    total = Fraction(row["total"]) if row and row["total"] is not None else Fraction(0)
    if metric.kind == "sum":
        return float(total)
    values = int(row["values"]) if row and row["values"] is not None else 0
    return float(total / values) if values else None


def _series(types, metric, rows, broken_down, limit, starts, ends, rolling, compare):
    """Every series with every bucket of the range (empty ones included), in display order."""
    index: dict[tuple, dict[str, Any]] = {}
    ranks: dict[str, dict[int, str | None]] = {t: {} for t in types}
    for row in rows:
        rank = int(row["rank"]) if broken_down else 0
        index[(row["et"], rank, int(row["b"]))] = row
        if broken_down and row["b"] >= 0:
            ranks[row["et"]][rank] = row["key"]
    n = len(starts)
    out = []
    for event_type in types:
        members = sorted(ranks[event_type].items()) if broken_down else [(0, None)]
        for rank, key in members:
            values = [metric_value(metric, index.get((event_type, rank, i))) for i in range(n)]
            before = [metric_value(metric, index.get((event_type, rank, i - n))) for i in range(n)]
            buckets = []
            for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
                extra: dict[str, Any] = {}
                if rolling is not None:
                    window = [v for v in values[max(0, i - rolling + 1) : i + 1] if v is not None]
                    extra["rolling"] = sum(window) / len(window) if window else None
                if compare:
                    extra["previous"] = before[i]
                    extra["change_pct"] = percent_change(values[i], before[i])
                buckets.append(TrendBucket(start=start, end=end, value=values[i], **extra))
            other = broken_down and rank == limit + 1
            label = OTHER_LABEL if other else (NONE_LABEL if key is None else str(key))
            out.append(
                TrendSeries(
                    event_type=event_type,
                    buckets=buckets,
                    breakdown=label if broken_down else None,
                    other=other,
                )
            )
    return out


def percent_change(value: float | int | None, previous: float | int | None) -> float | None:
    """(value − previous) / |previous| × 100; null when previous is 0 or null, or value is null.

    Against the previous value's magnitude, so the sign says which way it moved: −4,555 →
    +10,657 is +334 %, −200 → −300 is −50 %. The one rule for every change shown (a trend's
    buckets and totals, a KPI): docs/trends.md."""
    if previous is None or previous == 0 or value is None:
        return None
    return (value - previous) / abs(previous) * 100
