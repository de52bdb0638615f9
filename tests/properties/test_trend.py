"""Trends: exact numbers for every documented rule, then a property test against a brute force.

Why: a trend is read bucket by bucket, and the easy mistakes are about time — a day on a
daylight-saving change lasting 24 hours, a repeated hour merged into one, weeks starting on
Sunday, an event at 23:30 local landing in the next day — and about the breakdown's Other series.
Each rule gets a hand-made case with its numbers worked out by hand, and
tests/bruteforce_trend.py (plain loops from the definitions) is compared with opdash on random
small folders around daylight-saving changes in five zones.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import opdash
from opdash.commands import trend as trend_command
from opdash.errors import UsageError
from opdash.metrics.trend import trend
from tests import bruteforce_trend
from tests.fixtures import write_lines


def ev(n: int, event_type: str, at: str, wf: str | None = "w1", **payload) -> dict:
    """An envelope at ``at`` (RFC 3339 text) with an optional workflow and payload."""
    event = {"event_id": f"e{n}", "event_type": event_type, "occurred_at": at}
    if wf is not None:
        event["correlation"] = {"workflow_id": wf}
    if payload:
        event["payload"] = payload
    return event


def catalog(folder: Path, events: list[dict]):
    write_lines(folder / "events" / "x.jsonl", events)
    return opdash.open(folder)


def starts(result, series: int = 0) -> list[str]:
    return [b.start.isoformat() for b in result.series[series].buckets]


def values(result, series: int = 0) -> list:
    return result.series[series].values


def hours(bucket) -> float:
    return (bucket.end.timestamp() - bucket.start.timestamp()) / 3600


# -- calendar buckets in a time zone ----------------------------------------------------------


def test_berlin_fall_back_day_lasts_25_hours(folder: Path) -> None:
    events = [
        ev(1, "a", "2026-10-24T23:30:00+02:00"),
        ev(2, "a", "2026-10-25T00:00:00+02:00"),
        ev(3, "a", "2026-10-25T02:30:00+02:00"),
        ev(4, "a", "2026-10-25T02:30:00+01:00"),
        ev(5, "a", "2026-10-25T23:30:00+01:00"),  # 22:30Z: still Oct 25 in Berlin
        ev(6, "a", "2026-10-26T00:00:00+01:00"),
    ]
    r = trend(
        catalog(folder, events), "a", tz="Europe/Berlin", since="2026-10-24", until="2026-10-27"
    )
    assert starts(r) == [
        "2026-10-24T00:00:00+02:00",
        "2026-10-25T00:00:00+02:00",
        "2026-10-26T00:00:00+01:00",
    ]
    assert values(r) == [1, 4, 1]
    assert [hours(b) for b in r.series[0].buckets] == [24, 25, 24]
    assert r.to_dict()["buckets"][1] == {"start": "2026-10-25T00:00:00+02:00", "value": 4}


def test_berlin_spring_forward_day_lasts_23_hours(folder: Path) -> None:
    events = [
        ev(1, "a", "2026-03-28T23:30:00+01:00"),
        ev(2, "a", "2026-03-29T01:59:00+01:00"),
        ev(3, "a", "2026-03-29T03:00:00+02:00"),
        ev(4, "a", "2026-03-29T23:30:00+02:00"),
    ]
    c = catalog(folder, events)
    r = trend(c, "a", tz="Europe/Berlin", since="2026-03-28", until="2026-03-30")
    assert starts(r) == ["2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00"]
    assert values(r) == [1, 3]
    assert [hours(b) for b in r.series[0].buckets] == [24, 23]
    hourly = trend(
        c, "a", interval="hour", tz="Europe/Berlin", since="2026-03-29", until="2026-03-30"
    )
    assert len(hourly.series[0].buckets) == 23
    assert starts(hourly)[1:3] == ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"]
    assert values(hourly)[1:3] == [1, 1]
    assert values(hourly)[-1] == 1 and sum(values(hourly)) == 3


def test_hour_buckets_keep_the_repeated_hour_apart(folder: Path) -> None:
    events = [
        ev(1, "a", "2026-10-25T02:30:00+02:00"),
        ev(2, "a", "2026-10-25T02:00:00+01:00"),
        ev(3, "a", "2026-10-25T02:59:59+01:00"),
        ev(4, "a", "2026-10-25T03:00:00+01:00"),
    ]
    r = trend(
        catalog(folder, events),
        "a",
        interval="hour",
        tz="Europe/Berlin",
        since="2026-10-25",
        until="2026-10-26",
    )
    assert len(r.series[0].buckets) == 25
    assert starts(r)[1:5] == [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]
    assert values(r)[1:5] == [0, 1, 2, 1]
    assert all(hours(b) == 1 for b in r.series[0].buckets)


def test_new_york_fall_back_day(folder: Path) -> None:
    events = [
        ev(1, "a", "2026-10-31T23:59:59-04:00"),
        ev(2, "a", "2026-11-01T01:30:00-04:00"),
        ev(3, "a", "2026-11-01T01:30:00-05:00"),
        ev(4, "a", "2026-11-01T23:30:00-05:00"),
        ev(5, "a", "2026-11-02T00:00:00-05:00"),
    ]
    r = trend(
        catalog(folder, events),
        "a",
        tz="America/New_York",
        since="2026-10-31",
        until="2026-11-03",
    )
    assert starts(r) == [
        "2026-10-31T00:00:00-04:00",
        "2026-11-01T00:00:00-04:00",
        "2026-11-02T00:00:00-05:00",
    ]
    assert values(r) == [1, 3, 1]
    assert hours(r.series[0].buckets[1]) == 25


def test_kolkata_hours_are_local_hours(folder: Path) -> None:
    events = [
        ev(1, "a", "2026-10-25T04:40:00Z"),  # 10:10 local
        ev(2, "a", "2026-10-25T05:29:59Z"),  # 10:59:59
        ev(3, "a", "2026-10-25T05:30:00Z"),  # 11:00
        ev(4, "a", "2026-10-25T06:30:00Z"),  # 12:00: until is exclusive
        ev(5, "a", "2026-10-25T04:29:59Z"),  # 09:59:59: before since
    ]
    r = trend(
        catalog(folder, events),
        "a",
        interval="hour",
        tz="Asia/Kolkata",
        since="2026-10-25T10:00",
        until="2026-10-25T12:00",
    )
    assert starts(r) == ["2026-10-25T10:00:00+05:30", "2026-10-25T11:00:00+05:30"]
    assert values(r) == [2, 1]
    assert r.to_dict()["since"] == "2026-10-25T10:00:00+05:30"


def test_lord_howe_half_hour_shift_keeps_whole_local_hours(folder: Path) -> None:
    # 2026-10-04 02:00 +10:30 becomes 02:30 +11:00: local hour 2 lasts 30 minutes
    events = [ev(1, "a", "2026-10-04T02:45:00+11:00"), ev(2, "a", "2026-10-04T03:10:00+11:00")]
    r = trend(
        catalog(folder, events),
        "a",
        interval="hour",
        tz="Australia/Lord_Howe",
        since="2026-10-04",
        until="2026-10-04T05:00",
    )
    assert starts(r) == [
        "2026-10-04T00:00:00+10:30",
        "2026-10-04T01:00:00+10:30",
        "2026-10-04T02:30:00+11:00",
        "2026-10-04T03:00:00+11:00",
        "2026-10-04T04:00:00+11:00",
    ]
    assert values(r) == [0, 0, 1, 1, 0]
    assert [hours(b) for b in r.series[0].buckets] == [1, 1, 0.5, 1, 1]


def test_lord_howe_fall_back_hour_lasts_90_minutes(folder: Path) -> None:
    # 2026-04-05 02:00 +11:00 becomes 01:30 +10:30: local hour 1 lasts 90 minutes
    events = [ev(1, "a", "2026-04-05T01:45:00+11:00"), ev(2, "a", "2026-04-05T01:45:00+10:30")]
    r = trend(
        catalog(folder, events),
        "a",
        interval="hour",
        tz="Australia/Lord_Howe",
        since="2026-04-05",
        until="2026-04-05T04:00",
    )
    assert starts(r) == [
        "2026-04-05T00:00:00+11:00",
        "2026-04-05T01:00:00+11:00",
        "2026-04-05T02:00:00+10:30",
        "2026-04-05T03:00:00+10:30",
    ]
    assert values(r) == [0, 2, 0, 0]
    assert [hours(b) for b in r.series[0].buckets] == [1, 1.5, 1, 1]


def test_weeks_start_on_monday_and_since_cuts_the_first(folder: Path) -> None:
    events = [
        ev(1, "a", "2026-10-20T12:00:00Z"),  # before since (Wednesday Oct 21)
        ev(2, "a", "2026-10-21T00:00:00Z"),
        ev(3, "a", "2026-10-25T23:59:59Z"),  # Sunday: still the week of Oct 19
        ev(4, "a", "2026-10-26T00:00:00Z"),  # Monday
        ev(5, "a", "2026-11-02T12:00:00Z"),
        ev(6, "a", "2026-11-03T00:00:00Z"),  # until
    ]
    r = trend(catalog(folder, events), "a", interval="week", since="2026-10-21", until="2026-11-03")
    assert starts(r) == [
        "2026-10-19T00:00:00+00:00",
        "2026-10-26T00:00:00+00:00",
        "2026-11-02T00:00:00+00:00",
    ]
    assert values(r) == [2, 1, 1]


def test_months_and_empty_months(folder: Path) -> None:
    events = [
        ev(1, "a", "2026-01-10T12:00:00+01:00"),  # before since
        ev(2, "a", "2026-01-20T12:00:00+01:00"),
        ev(3, "a", "2026-01-31T23:30:00+01:00"),
        ev(4, "a", "2026-03-31T23:30:00+02:00"),  # 21:30Z: March in Berlin
        ev(5, "a", "2026-04-01T00:00:00+02:00"),
    ]
    r = trend(
        catalog(folder, events),
        "a",
        interval="month",
        tz="Europe/Berlin",
        since="2026-01-15",
        until="2026-05-01",
    )
    assert starts(r) == [
        "2026-01-01T00:00:00+01:00",
        "2026-02-01T00:00:00+01:00",
        "2026-03-01T00:00:00+01:00",
        "2026-04-01T00:00:00+02:00",
    ]
    assert values(r) == [2, 0, 1, 1]


def test_since_and_until_as_timestamps(folder: Path) -> None:
    events = [
        ev(1, "a", "2026-10-25T05:59:59+01:00"),
        ev(2, "a", "2026-10-25T06:00:00+01:00"),
        ev(3, "a", "2026-10-26T11:59:59+01:00"),
        ev(4, "a", "2026-10-26T12:00:00+01:00"),
    ]
    c = catalog(folder, events)
    r = trend(c, "a", tz="Europe/Berlin", since="2026-10-25T06:00", until="2026-10-26T11:00:00Z")
    assert starts(r) == ["2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"]
    assert values(r) == [1, 1]
    d = r.to_dict()
    assert (d["since"], d["until"]) == ("2026-10-25T06:00:00+01:00", "2026-10-26T12:00:00+01:00")
    assert (d["interval"], d["tz"], d["metric"]) == ("day", "Europe/Berlin", "count")


def test_default_range_ends_with_the_bucket_of_the_newest_event(folder: Path) -> None:
    events = [ev(1, "a", "2026-10-25T23:30:00+01:00"), ev(2, "b", "2026-12-01T00:00:00Z")]
    c = catalog(folder, events)
    r = trend(c, "a", tz="Europe/Berlin")
    assert r.until.isoformat() == "2026-10-26T00:00:00+01:00"
    assert r.since.isoformat() == "2026-09-26T00:00:00+02:00"
    assert len(r.series[0].buckets) == 30 and values(r)[-1] == 1 and sum(values(r)) == 1
    weekly = trend(c, "a", interval="week", until="2026-10-26")
    assert len(weekly.series[0].buckets) == 12 and weekly.since.isoformat().startswith("2026-08-03")
    hourly = trend(c, "a", interval="hour", since="2026-10-25T20:00:00Z")
    assert hourly.until.isoformat() == "2026-10-25T23:00:00+00:00"
    assert values(hourly) == [0, 0, 1]
    nothing = trend(c, "zzz", interval="month")  # a type that never occurs: newest of any type
    assert nothing.until.isoformat() == "2027-01-01T00:00:00+00:00"
    assert len(nothing.series[0].buckets) == 12 and set(values(nothing)) == {0}
    assert nothing.missing_event_types == ["zzz"]


# -- metrics ----------------------------------------------------------------------------------


def metric_events() -> list[dict]:
    return [
        ev(1, "a", "2026-10-01T01:00:00Z", "w1", v=2),
        ev(2, "a", "2026-10-01T02:00:00Z", "w1", v="3.5"),
        ev(3, "a", "2026-10-01T03:00:00Z", "w2", v="abc"),  # not numeric: ignored
        ev(4, "a", "2026-10-01T04:00:00Z", None, v=1),  # no workflow: not counted by unique
        ev(5, "a", "2026-10-03T01:00:00Z", "w3", v=True),  # not numeric
        ev(6, "a", "2026-10-03T02:00:00Z", "w3"),
    ]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("count", [4, 0, 2]),
        ("unique", [2, 0, 1]),
        ("sum:payload.v", [6.5, 0.0, 0.0]),
        ("avg:payload.v", [6.5 / 3, None, None]),
    ],
)
def test_metrics(folder: Path, metric: str, expected: list) -> None:
    c = catalog(folder, metric_events())
    r = trend(c, "a", since="2026-10-01", until="2026-10-04", metric=metric)
    assert values(r) == expected
    assert r.to_dict()["metric"] == metric


def test_unique_by_another_path(folder: Path) -> None:
    events = [
        ev(1, "a", "2026-10-01T01:00:00Z", "w1", actor={"id": "x"}),
        ev(2, "a", "2026-10-01T02:00:00Z", "w2", actor={"id": "x"}),
        ev(3, "a", "2026-10-01T03:00:00Z", "w3", actor={"id": "y"}),
    ]
    for e in events:
        e["actor"] = e.pop("payload")["actor"]
    c = catalog(folder, events)
    r = trend(c, "a", since="2026-10-01", until="2026-10-02", metric="unique", by="actor.id")
    assert values(r) == [2]
    assert r.to_dict()["by"] == "actor.id"


def test_breakdown_other_adds_up_for_count(folder: Path) -> None:
    keys = ["p", "p", "p", "q", "q", "r", None, "s"]
    days = [1, 1, 2, 1, 3, 2, 2, 3]
    events = [
        ev(i, "a", f"2026-10-0{d}T12:00:00Z", f"w{i}", k=k)
        for i, (k, d) in enumerate(zip(keys, days, strict=True))
    ]
    c = catalog(folder, events)
    r = trend(
        c, "a", since="2026-10-01", until="2026-10-04", breakdown="payload.k", breakdown_limit=2
    )
    assert [(s.breakdown, s.other) for s in r.series] == [
        ("p", False),
        ("q", False),
        ("Other", True),
    ]
    assert [s.values for s in r.series] == [[2, 1, 0], [1, 0, 1], [0, 2, 1]]
    whole = trend(c, "a", since="2026-10-01", until="2026-10-04")
    assert [sum(col) for col in zip(*(s.values for s in r.series), strict=True)] == values(whole)
    everything = trend(c, "a", since="2026-10-01", until="2026-10-04", breakdown="payload.k")
    assert [s.breakdown for s in everything.series] == [
        "p",
        "q",
        "r",
        "s",
        "(none)",
    ]  # ties: by value, null last
    d = r.to_dict()
    assert "buckets" not in d and d["series"][2]["breakdown"] == "Other"
    assert d["series"][0]["buckets"][0] == {"start": "2026-10-01T00:00:00+00:00", "value": 2}


def test_breakdown_other_for_unique_and_avg_is_over_the_merged_events(folder: Path) -> None:
    events = [
        ev(1, "a", "2026-10-01T01:00:00Z", "w1", k="p", v=10),
        ev(2, "a", "2026-10-01T02:00:00Z", "w2", k="p", v=10),
        ev(3, "a", "2026-10-01T03:00:00Z", "w9", k="r", v=1),
        ev(4, "a", "2026-10-01T04:00:00Z", "w9", v=2),  # null key
        ev(5, "a", "2026-10-01T05:00:00Z", "w9", k="s", v=6),
    ]
    c = catalog(folder, events)
    unique = trend(
        c, "a", since="2026-10-01", until="2026-10-02", metric="unique",
        breakdown="payload.k", breakdown_limit=1,
    )  # fmt: skip
    assert [(s.breakdown, s.values) for s in unique.series] == [("p", [2]), ("Other", [1])]
    avg = trend(
        c, "a", since="2026-10-01", until="2026-10-02", metric="avg:payload.v",
        breakdown="payload.k", breakdown_limit=1,
    )  # fmt: skip
    assert [(s.breakdown, s.values) for s in avg.series] == [("p", [10.0]), ("Other", [3.0])]
    total = trend(
        c, "a", since="2026-10-01", until="2026-10-02", metric="sum:payload.v",
        breakdown="payload.k", breakdown_limit=3,
    )  # fmt: skip
    assert [(s.breakdown, s.values) for s in total.series] == [
        ("p", [20.0]),
        ("s", [6.0]),
        ("(none)", [2.0]),
        ("Other", [1.0]),
    ]


# -- rolling and the previous period ----------------------------------------------------------


def test_rolling_mean_uses_the_buckets_available_so_far(folder: Path) -> None:
    counts = [3, 0, 1, 5]
    events = [
        ev(10 * d + i, "a", f"2026-10-0{d + 1}T12:00:00Z")
        for d, n in enumerate(counts)
        for i in range(n)
    ]
    c = catalog(folder, events)
    r2 = trend(c, "a", since="2026-10-01", until="2026-10-05", rolling=2)
    assert values(r2) == counts
    assert [b.rolling for b in r2.series[0].buckets] == [3, 1.5, 0.5, 3]
    r3 = trend(c, "a", since="2026-10-01", until="2026-10-05", rolling=3)
    assert [b.rolling for b in r3.series[0].buckets] == [3, 1.5, pytest.approx(4 / 3), 2]
    assert r3.to_dict()["buckets"][0] == {
        "start": "2026-10-01T00:00:00+00:00",
        "value": 3,
        "rolling": 3.0,
    }


def test_compare_previous_period_bucket_by_bucket(folder: Path) -> None:
    counts = {1: 2, 2: 0, 3: 4, 4: 3, 5: 1, 6: 2}
    events = [
        ev(10 * d + i, "a", f"2026-10-0{d}T12:00:00Z") for d, n in counts.items() for i in range(n)
    ]
    c = catalog(folder, events)
    r = trend(c, "a", since="2026-10-04", until="2026-10-07", compare="previous")
    buckets = r.series[0].buckets
    assert [b.value for b in buckets] == [3, 1, 2]
    assert [b.previous for b in buckets] == [2, 0, 4]
    assert [b.change_pct for b in buckets] == [50.0, None, -50.0]
    assert r.to_dict()["buckets"][0] == {
        "start": "2026-10-04T00:00:00+00:00",
        "value": 3,
        "previous": 2,
        "change_pct": 50.0,
    }


def test_compare_previous_across_a_dst_change(folder: Path) -> None:
    # hour buckets on Oct 25 02:00–04:00 Berlin (three buckets: 02+02, 02+01, 03+01)
    events = [
        ev(1, "a", "2026-10-24T23:30:00+02:00"),  # previous bucket 1 (23:00)
        ev(2, "a", "2026-10-25T01:10:00+02:00"),  # previous bucket 3 (01:00)
        ev(3, "a", "2026-10-25T01:20:00+02:00"),
        ev(4, "a", "2026-10-25T02:10:00+01:00"),
    ]
    c = catalog(folder, events)
    r = trend(
        c, "a", interval="hour", tz="Europe/Berlin", since="2026-10-25T02:00:00+02:00",
        until="2026-10-25T04:00", compare="previous",
    )  # fmt: skip
    assert starts(r) == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]
    assert [(b.value, b.previous, b.change_pct) for b in r.series[0].buckets] == [
        (0, 1, -100.0),
        (1, 0, None),
        (0, 2, -100.0),
    ]


def test_compare_change_against_a_negative_previous_is_against_its_magnitude(folder: Path) -> None:
    """A change is (value − previous) / |previous|: from −4,555 to +10,657 is +334 % (a rise),
    from −200 to −300 is −50 % (a fall); against 0 there is no percent (docs/trends.md)."""
    events = [
        ev(1, "a", "2026-10-01T12:00:00Z", v=-4555), ev(2, "a", "2026-10-02T12:00:00Z", v=-200),
        ev(3, "a", "2026-10-03T12:00:00Z", v=0), ev(4, "a", "2026-10-04T12:00:00Z", v=10657),
        ev(5, "a", "2026-10-05T12:00:00Z", v=-300), ev(6, "a", "2026-10-06T12:00:00Z", v=5),
    ]  # fmt: skip
    c = catalog(folder, events)
    r = trend(
        c, "a", since="2026-10-04", until="2026-10-07", metric="sum:payload.v", compare="previous"
    )
    buckets = r.series[0].buckets
    assert [(b.value, b.previous) for b in buckets] == [(10657, -4555), (-300, -200), (5, 0)]
    assert [b.change_pct for b in buckets] == [
        pytest.approx((10657 + 4555) / 4555 * 100),  # +333.96…
        pytest.approx(-50.0),
        None,
    ]
    assert f"{buckets[0].change_pct:+.0f}%" == "+334%"


# -- several series -----------------------------------------------------------------------------


def test_several_event_types_one_series_each(folder: Path) -> None:
    events = [
        ev(1, "a", "2026-10-01T12:00:00Z"),
        ev(2, "b", "2026-10-02T12:00:00Z"),
        ev(3, "b", "2026-10-02T13:00:00Z"),
    ]
    c = catalog(folder, events)
    r = trend(c, ["a", "b", "c"], since="2026-10-01", until="2026-10-03")
    assert [(s.event_type, s.values) for s in r.series] == [
        ("a", [1, 0]),
        ("b", [0, 2]),
        ("c", [0, 0]),
    ]
    assert r.missing_event_types == ["c"]
    d = r.to_dict()
    assert "buckets" not in d
    assert d["series"][1] == {
        "event_type": "b",
        "buckets": [
            {"start": "2026-10-01T00:00:00+00:00", "value": 0},
            {"start": "2026-10-02T00:00:00+00:00", "value": 2},
        ],
    }
    frame = r.to_frame()
    assert list(frame.columns) == ["event_type", "start", "end", "value"]
    assert len(frame) == 6 and frame.value.sum() == 3


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"tz": "Mars/Olympus"}, ["Mars/Olympus"]),
        ({"interval": "fortnight"}, ["fortnight"]),
        ({"interval": "quarter"}, ["quarter"]),
        ({"since": "2026-13-01"}, ["2026-13-01"]),
        ({"until": "yesterday"}, ["yesterday"]),
        ({"metric": "median"}, ["median"]),
        ({"metric": "sum"}, ["sum"]),
        ({"metric": "avg:payload"}, ["payload"]),
        ({"metric": "sum:paylod.pnl"}, ["paylod.pnl"]),
        ({"breakdown": "actor.nme"}, ["actor.nme"]),
        ({"by": "workflow"}, ["workflow"]),
        ({"rolling": 0}, ["rolling", "0"]),
        ({"breakdown_limit": 0}, ["breakdown limit", "0"]),
        ({"compare": "next"}, ["next"]),
        ({"since": "2026-10-05", "until": "2026-10-05"}, ["empty range"]),
    ],
)
def test_bad_arguments_name_the_bad_value(folder: Path, kwargs: dict, words: list[str]) -> None:
    c = catalog(folder, [ev(1, "a", "2026-10-01T12:00:00Z")])
    with pytest.raises(UsageError) as info:
        trend(c, "a", **kwargs)
    for word in words:
        assert word in str(info.value)


# -- the command --------------------------------------------------------------------------------


def command(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    trend_command.add_arguments(parser)
    return parser.parse_args(argv)


def test_command_json(folder: Path, capsys) -> None:
    catalog(folder, metric_events())
    args = command(
        [str(folder), "--event", "a", "--event", "nope", "--tz", "Asia/Kolkata",
         "--since", "2026-09-30", "--until", "2026-10-02", "--metric", "sum:payload.v",
         "--rolling", "2", "--compare", "previous", "--json"]
    )  # fmt: skip
    assert trend_command.run(args) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert "event type 'nope' never occurs" in err
    assert (data["interval"], data["tz"], data["metric"]) == (
        "day",
        "Asia/Kolkata",
        "sum:payload.v",
    )
    assert (data["since"], data["until"]) == (
        "2026-09-30T00:00:00+05:30",
        "2026-10-02T00:00:00+05:30",
    )
    assert [s["event_type"] for s in data["series"]] == ["a", "nope"]
    assert data["series"][0]["buckets"] == [
        {"start": "2026-09-30T00:00:00+05:30", "value": 0.0, "rolling": 0.0, "previous": 0.0, "change_pct": None},
        {"start": "2026-10-01T00:00:00+05:30", "value": 6.5, "rolling": 3.25, "previous": 0.0, "change_pct": None},
    ]  # fmt: skip


def test_command_table(folder: Path, capsys) -> None:
    catalog(folder, metric_events())
    args = command([str(folder), "--event", "a", "--since", "2026-10-01", "--until", "2026-10-04"])
    assert trend_command.run(args) == 0
    out = capsys.readouterr().out
    assert "count per day in UTC" in out
    assert "2026-10-01T00:00:00+00:00" in out and out.rstrip().endswith("2")


def test_command_bad_zone(folder: Path) -> None:
    catalog(folder, metric_events())
    with pytest.raises(UsageError, match="Europe/Berln"):
        trend_command.run(command([str(folder), "--event", "a", "--tz", "Europe/Berln"]))


# -- property: opdash agrees with the brute force ------------------------------------------------

#: Local dates with a daylight-saving change (or any date, in zones without one).
ANCHORS = {
    "UTC": ["2026-02-27", "2026-12-30"],
    "Europe/Berlin": ["2026-03-29", "2026-10-25"],
    "America/New_York": ["2026-03-08", "2026-11-01"],
    "Asia/Kolkata": ["2026-10-25", "2026-02-27"],
    "Australia/Lord_Howe": ["2026-04-05", "2026-10-04"],
}
#: Range length in minutes per interval (a few buckets, so many of them sit on the change).
SPANS = {"hour": (30, 40 * 60), "day": (12 * 60, 8 * 1440), "week": (3 * 1440, 40 * 1440),
         "month": (20 * 1440, 100 * 1440)}  # fmt: skip
VALUES = st.one_of(
    st.integers(-3, 5), st.sampled_from([0.25, 1.5, -0.75, "2.5", "x", "1e1", True, None])
)


@st.composite
def cases(draw):
    tz = draw(st.sampled_from(sorted(ANCHORS)))
    interval = draw(st.sampled_from(sorted(SPANS)))
    zone = ZoneInfo(tz)
    day = datetime.fromisoformat(draw(st.sampled_from(ANCHORS[tz])))
    lo_span, hi_span = SPANS[interval]
    start = day + timedelta(minutes=draw(st.integers(-hi_span // 2, 1440)))
    start = start.replace(minute=draw(st.sampled_from([0, 0, 15, 30, 45, 7])))
    end = start + timedelta(minutes=draw(st.integers(lo_span, hi_span)))
    style = draw(st.sampled_from(["date", "local", "offset"]))
    if style == "date":
        since, until = start.date().isoformat(), (end.date() + timedelta(days=1)).isoformat()
    elif style == "local":
        since, until = start.isoformat(), end.isoformat()
    else:
        since = start.replace(tzinfo=zone).astimezone(UTC).isoformat()
        until = end.replace(tzinfo=zone).astimezone(UTC).isoformat()
    # events from one range-length before since to a little after until, often on a boundary
    first = start.replace(tzinfo=zone).astimezone(UTC) - (end - start) - timedelta(days=2)
    width = int((end - start).total_seconds() * 2 // 900) + 400
    events = []
    for n in range(draw(st.integers(0, 25))):
        t = first + timedelta(minutes=15 * draw(st.integers(0, width)))
        t += timedelta(seconds=draw(st.sampled_from([0, 0, -1, 1, 600])))
        text = t.isoformat().replace("+00:00", "Z")
        if draw(st.booleans()):
            text = t.astimezone(ZoneInfo("Asia/Kolkata")).isoformat()
        payload = {"v": draw(VALUES), "k": draw(st.sampled_from(["p", "q", "r", None]))}
        if draw(st.integers(0, 5)) == 0:
            payload = {}
        events.append(
            ev(n, draw(st.sampled_from(["a", "a", "b"])), text,
               draw(st.sampled_from(["w1", "w2", "w3", None])), **payload)
        )  # fmt: skip
    options = {
        "metric": draw(st.sampled_from(["count", "unique", "sum:payload.v", "avg:payload.v"])),
        "breakdown": draw(st.sampled_from([None, "payload.k"])),
        "limit": draw(st.integers(1, 3)),
        "rolling": draw(st.sampled_from([None, 1, 2, 3])),
        "compare": draw(st.booleans()),
    }
    types = draw(st.sampled_from([["a"], ["a", "b"], ["b", "c"]]))
    return tz, interval, since, until, events, types, options


def same(ours, theirs) -> bool:
    if ours is None or theirs is None:
        return ours is None and theirs is None
    return ours == pytest.approx(theirs, rel=1e-9, abs=1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(cases())
def test_trend_matches_bruteforce(case) -> None:
    tz, interval, since, until, events, types, o = case
    with tempfile.TemporaryDirectory() as tmp:
        c = catalog(Path(tmp), events)
        r = trend(
            c, types, interval=interval, tz=tz, since=since, until=until, metric=o["metric"],
            breakdown=o["breakdown"], breakdown_limit=o["limit"], rolling=o["rolling"],
            compare="previous" if o["compare"] else None,
        )  # fmt: skip
        got = r.to_dict()
    expected = bruteforce_trend.trend(
        events, types, interval=interval, tz=tz, since=since, until=until, metric=o["metric"],
        breakdown=o["breakdown"], limit=o["limit"], rolling=o["rolling"], compare=o["compare"],
    )  # fmt: skip
    series = (
        got["series"]
        if "series" in got
        else [{"event_type": got["event_type"], "buckets": got["buckets"]}]
    )
    assert [(s["event_type"], s.get("breakdown")) for s in series] == [
        (s["event_type"], s.get("breakdown")) for s in expected
    ]
    for mine, theirs in zip(series, expected, strict=True):
        assert [b["start"] for b in mine["buckets"]] == [b["start"] for b in theirs["buckets"]]
        for a, b in zip(mine["buckets"], theirs["buckets"], strict=True):
            assert a.keys() == b.keys()
            for key in a.keys() - {"start"}:
                assert same(a[key], b[key]), (mine["event_type"], a, b)
