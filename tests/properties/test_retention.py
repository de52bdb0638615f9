"""Retention: hand cases for each rule of docs/retention.md, one-line errors, and a property test
against tests/bruteforce_retention.py (plain loops over local calendar ordinals) on random
folders across daylight-saving changes and month ends, in both modes, cumulative or not."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import opdash
from opdash.cli import main
from opdash.errors import UsageError
from tests import bruteforce_retention
from tests.fixtures import open_events


def ev(n: int, event_type: str, at: str, who: str | None) -> dict:
    event = {"event_id": f"e{n}", "event_type": event_type, "occurred_at": at}
    if who is not None:
        event["actor"] = {"id": who}
    return event


# -- hand cases -----------------------------------------------------------------------------------
#: three weeks of November 2026 (Mondays 2, 9, 16); a signs up in week 2 and returns in weeks
#: 9 and 16, b in week 2 and returns only in week 16, c in week 9 and never returns
WEEKS = [
    ev(1, "signup", "2026-11-02T10:00:00Z", "a"),
    ev(2, "signup", "2026-11-03T10:00:00Z", "b"),
    ev(3, "visit", "2026-11-03T11:00:00Z", "b"),  # same week as the start: not a return
    ev(4, "visit", "2026-11-10T10:00:00Z", "a"),
    ev(5, "signup", "2026-11-11T10:00:00Z", "c"),
    ev(6, "signup", "2026-11-12T10:00:00Z", "a"),  # a's second start: recurring only
    ev(7, "visit", "2026-11-17T10:00:00Z", "a"),
    ev(8, "visit", "2026-11-18T10:00:00Z", "b"),
    ev(9, "visit", "2026-11-18T12:00:00Z", None),  # no entity: never counted
]


def grid(result) -> list[tuple[str, list[int]]]:
    return [(c.start.date().isoformat(), c.values) for c in result.cohorts]


def test_first_time_cohorts_count_returns_per_later_week(tmp_path) -> None:
    r = opdash.retention(
        open_events(tmp_path, WEEKS), "signup", "visit", interval="week", periods=3,
        since="2026-11-02", until="2026-11-23",
    )  # fmt: skip
    assert grid(r) == [("2026-11-02", [2, 1, 2]), ("2026-11-09", [1, 0]), ("2026-11-16", [0])]
    assert [c.incomplete for c in r.cohorts] == [[False, False, True], [False, True], [True]]
    assert r.cohorts[0].percents == [1.0, 0.5, 1.0]
    assert r.mean == [1.0, pytest.approx(1 / 3), 1.0]  # (1 + 0) / (2 + 1); week 3: 2 / 2


def test_recurring_joins_every_period_with_a_start(tmp_path) -> None:
    r = opdash.retention(
        open_events(tmp_path, WEEKS), "signup", "visit", interval="week", periods=3,
        since="2026-11-02", until="2026-11-23", mode="recurring",
    )  # fmt: skip
    assert grid(r) == [("2026-11-02", [2, 1, 2]), ("2026-11-09", [2, 1]), ("2026-11-16", [0])]


def test_cumulative_counts_a_return_in_that_period_or_later(tmp_path) -> None:
    r = opdash.retention(
        open_events(tmp_path, WEEKS), "signup", "visit", interval="week", periods=3,
        since="2026-11-02", until="2026-11-23", cumulative=True,
    )  # fmt: skip
    assert grid(r)[0] == ("2026-11-02", [2, 2, 2])  # b came back only in +2: counted at +1


def test_first_time_counts_only_entities_whose_first_start_is_in_range(tmp_path) -> None:
    """a's first signup is in week 2: outside a range from week 9 on, though a signs up again."""
    r = opdash.retention(
        open_events(tmp_path, WEEKS), "signup", "visit", interval="week", periods=2,
        since="2026-11-09", until="2026-11-23",
    )  # fmt: skip
    assert grid(r) == [("2026-11-09", [1, 0]), ("2026-11-16", [0])]


def test_as_of_hides_later_periods_and_marks_its_own(tmp_path) -> None:
    r = opdash.retention(
        open_events(tmp_path, WEEKS), "signup", "visit", interval="week", periods=4,
        since="2026-11-02", until="2026-11-16", as_of="2026-11-10T12:00:00Z",
    )  # fmt: skip
    assert grid(r) == [("2026-11-02", [2, 1]), ("2026-11-09", [0])]  # c signs up after as_of
    assert [c.incomplete for c in r.cohorts] == [[False, True], [True]]


def test_default_range_is_the_last_periods_up_to_the_newest_event(tmp_path) -> None:
    r = opdash.retention(open_events(tmp_path, WEEKS), "signup", "visit", periods=2)
    assert [c.start.date().isoformat() for c in r.cohorts] == ["2026-11-09", "2026-11-16"]
    assert r.as_of == datetime(2026, 11, 18, 12, tzinfo=UTC)


def test_days_follow_the_zone_across_a_dst_change(tmp_path) -> None:
    """Berlin falls back on 2026-10-25 (a 25-hour day): 23:30 UTC that day is 00:30 local on
    the 26th, so the return lands on day +1 in Berlin and on day +0 in UTC."""
    events = [
        ev(1, "s", "2026-10-25T08:00:00Z", "a"),
        ev(2, "r", "2026-10-25T23:30:00Z", "a"),
    ]
    folder = open_events(tmp_path, events)
    berlin = opdash.retention(folder, "s", "r", interval="day", tz="Europe/Berlin", periods=2,
                              since="2026-10-25", until="2026-10-26")  # fmt: skip
    utc = opdash.retention(folder, "s", "r", interval="day", periods=2,
                           since="2026-10-25", until="2026-10-26")  # fmt: skip
    assert berlin.cohorts[0].values == [1, 1] and utc.cohorts[0].values == [1]
    assert berlin.cohorts[0].start.isoformat() == "2026-10-25T00:00:00+02:00"


def test_the_json_has_cohorts_and_a_mean(tmp_path, capsys) -> None:
    open_events(tmp_path, WEEKS)
    code = main(["retention", str(tmp_path), "--start", "signup", "--return", "visit",
                 "--periods", "3", "--since", "2026-11-02", "--json"])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["cohorts"][0] == {
        "start": "2026-11-02T00:00:00+00:00", "size": 2, "values": [2, 1, 2],
        "percents": [1.0, 0.5, 1.0], "incomplete": [False, False, True],
    }  # fmt: skip
    assert data["mean"][0] == 1.0 and data["mode"] == "first-time"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--start", "sigup", "--return", "visit"], "'sigup' never occurs"),
        (["--start", "signup", "--return", "visit", "--interval", "hour"], "bad interval 'hour'"),
        (["--start", "signup", "--return", "visit", "--mode", "again"], "bad mode 'again'"),
        (["--start", "signup", "--return", "visit", "--periods", "0"], "'0' must be at least 1"),
        (["--start", "signup", "--return", "visit", "--since", "2027-01-01"], "outside the data"),
        (["--start", "signup", "--return", "visit", "--since", "2026-13-01"], "bad since"),
        (["--start", "signup", "--return", "visit", "--as-of", "soon"], "bad as-of 'soon'"),
    ],
)
def test_bad_settings_are_one_line_with_exit_2(tmp_path, capsys, args, named) -> None:
    open_events(tmp_path, WEEKS)
    try:
        code = main(["retention", str(tmp_path), *args])
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and named in err, err


# -- against the brute force ----------------------------------------------------------------------
ANCHORS = {  # near DST changes and month ends
    "Europe/Berlin": ["2026-03-27", "2026-10-23", "2026-01-29"],
    "America/New_York": ["2026-03-06", "2026-10-30"],
    "UTC": ["2026-02-26", "2026-12-29"],
}
SPANS = {"day": 6, "week": 40, "month": 120}  # days of events around the anchor


@st.composite
def cases(draw):
    tz = draw(st.sampled_from(sorted(ANCHORS)))
    interval = draw(st.sampled_from(sorted(SPANS)))
    anchor = datetime.fromisoformat(draw(st.sampled_from(ANCHORS[tz]))).replace(tzinfo=UTC)
    span = SPANS[interval]
    events = []
    for n in range(draw(st.integers(1, 30))):
        t = anchor + timedelta(minutes=30 * draw(st.integers(0, span * 48)))
        t += timedelta(seconds=draw(st.sampled_from([0, 0, -1, 1])))
        events.append(ev(n, draw(st.sampled_from(["s", "s", "r", "x"])),
                         t.isoformat().replace("+00:00", "Z"),
                         draw(st.sampled_from(["a", "b", "c", "d", None]))))  # fmt: skip
    if not any(e["event_type"] == "s" for e in events):
        events.append(ev(99, "s", anchor.isoformat(), "a"))
    if not any(e["event_type"] == "r" for e in events):
        events.append(ev(98, "r", anchor.isoformat(), "b"))
    day = anchor.date()
    since = draw(
        st.sampled_from([None, day.isoformat(), (day + timedelta(days=span // 3)).isoformat()])
    )
    until = draw(st.sampled_from([None, (day + timedelta(days=span // 2)).isoformat()]))
    if since and until and since >= until:
        since = None
    as_of = draw(st.sampled_from([None, None, (anchor + timedelta(days=span * 0.6)).isoformat()]))
    options = {
        "periods": draw(st.integers(1, 5)),
        "mode": draw(st.sampled_from(["first-time", "recurring"])),
        "cumulative": draw(st.booleans()),
        "start_type": "s",
        "return_type": draw(st.sampled_from(["r", "s"])),
    }
    return tz, interval, since, until, as_of, events, options


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(cases())
def test_retention_matches_bruteforce(case) -> None:
    tz, interval, since, until, as_of, events, o = case
    settings_ = dict(by="actor.id", interval=interval, tz=tz, periods=o["periods"], since=since,
                     until=until, mode=o["mode"], cumulative=o["cumulative"], as_of=as_of)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        catalog = open_events(Path(tmp), events)
        try:
            got = opdash.retention(
                catalog, o["start_type"], o["return_type"], **settings_
            ).to_dict()
        except UsageError as exc:
            assert "outside the data" in str(exc)
            return
    want = bruteforce_retention.retention(events, o["start_type"], o["return_type"], **settings_)
    assert [
        {k: c[k] for k in ("start", "size", "values", "incomplete")} for c in got["cohorts"]
    ] == want["cohorts"]
    assert got["mean"] == pytest.approx(want["mean"])


def test_one_period_is_the_cohort_sizes_alone(tmp_path) -> None:
    """With --periods 1 there is no later period: cumulative or not, cell 0 is the size (a
    return capped at the last offset once counted twice there)."""
    for cumulative in (False, True):
        r = opdash.retention(
            open_events(tmp_path, WEEKS), "signup", "visit", periods=1, since="2026-11-02",
            until="2026-11-09", cumulative=cumulative,
        )  # fmt: skip
        assert grid(r) == [("2026-11-02", [2])]
