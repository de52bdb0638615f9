"""The catalog: what a folder of artifacts becomes in the events/quarantine/duplicates relations.

Why: every dashboard number is a query over these relations, so each file format, each quarantine
reason, duplicate handling and incremental refresh must be exactly as the folder contract says,
and opening a folder must never change it. Folders are written by hand in tmp_path.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import opdash
from tests.fixtures import DEMO, T0, at, ev, write_lines


def rows(cat, query: str) -> list[dict]:
    """Query result as dicts, SQL NULL as None (pandas would give NaN/NaT)."""
    frame = cat.sql(query)
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


def events_by_id(cat) -> dict[str, dict]:
    return {r["event_id"]: r for r in rows(cat, "SELECT * FROM events")}


def utc(value) -> datetime:
    return value.to_pydatetime().astimezone(UTC)


def count(cat, relation: str) -> int:
    return int(cat.sql(f"SELECT count(*) AS n FROM {relation}")["n"][0])


# -- formats ---------------------------------------------------------------------------------


def _actor_struct() -> pa.DataType:
    return pa.struct([("type", pa.string()), ("id", pa.string())])


def test_every_format_loads(folder: Path) -> None:
    write_lines(folder / "events/a.jsonl", [ev("jl1", "t.a"), ev("jl2", "t.b", 1)])
    write_lines(folder / "events/deep/er/b.ndjson", [ev("nd1", "t.a", 2)])
    (folder / "events/single.json").write_text(json.dumps(ev("js1", "t.a", 3)))
    (folder / "events/array.json").write_text(
        json.dumps([ev("ja1", "t.a", 4), ev("ja2", "t.b", 5)])
    )
    table = pa.table(
        {
            "event_id": ["pq1", "pq2"],
            "event_type": ["t.a", "t.b"],
            "event_version": pa.array([1, 3], pa.int64()),
            "occurred_at": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
            "actor": pa.array(
                [{"type": "bot", "id": "b1"}, {"type": "human", "id": "h1"}], _actor_struct()
            ),
            "correlation": pa.array(
                [{"workflow_id": "wp", "parent_event_id": None}] * 2,
                pa.struct([("workflow_id", pa.string()), ("parent_event_id", pa.string())]),
            ),
            "payload": pa.array(
                [{"symbol": "AAPL", "qty": 3}, {"symbol": "MSFT", "qty": 4}],
                pa.struct([("symbol", pa.string()), ("qty", pa.int64())]),
            ),
            "shard": ["s1", "s2"],
        }
    )
    pq.write_table(table, folder / "events/trades.parquet")
    hive = folder / "events/date=2026-11-20/part-0.parquet"
    hive.parent.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "event_id": ["hv1"],
                "event_type": ["t.a"],
                "occurred_at": ["2026-11-20T10:00:00+01:00"],  # RFC 3339 string in parquet
                "correlation": pa.array(
                    [{"workflow_id": "wh"}], pa.struct([("workflow_id", pa.string())])
                ),
            }
        ),
        hive,
    )
    write_lines(folder / "events/date=2026-11-21/c.jsonl", [ev("hv2", "t.a", 6)])
    write_lines(folder / "runs/run-7/events.jsonl", [ev("rn1", "t.a", 7), ev("rn2", "t.b", 8)])
    (folder / "runs/run-7/run.json").write_text(json.dumps({"name": "nightly", "status": "ok"}))

    cat = opdash.open(folder)
    got = events_by_id(cat)
    assert set(got) == {
        "jl1",
        "jl2",
        "nd1",
        "js1",
        "ja1",
        "ja2",
        "pq1",
        "pq2",
        "hv1",
        "hv2",
        "rn1",
        "rn2",
    }
    assert count(cat, "quarantine") == 0
    assert count(cat, "duplicates") == 0

    assert got["jl2"]["source_file"] == "events/a.jsonl"
    assert got["jl2"]["source_line"] == 2
    assert got["nd1"]["source_file"] == "events/deep/er/b.ndjson"
    assert got["js1"]["source_file"] == "events/single.json"
    assert got["ja2"]["source_file"] == "events/array.json"
    assert got["ja2"]["source_row"] == 2
    assert got["hv2"]["source_file"] == "events/date=2026-11-21/c.jsonl"

    pq1, pq2 = got["pq1"], got["pq2"]
    assert (pq1["actor_type"], pq1["actor_id"], pq1["workflow_id"]) == ("bot", "b1", "wp")
    assert pq2["event_version"] == 3 and pq1["event_version"] == 1
    assert json.loads(pq1["payload"]) == {"symbol": "AAPL", "qty": 3}
    assert json.loads(pq2["extra"]) == {"shard": "s2"}
    assert utc(pq1["occurred_at"]) == T0
    assert got["hv1"]["workflow_id"] == "wh"
    assert utc(got["hv1"]["occurred_at"]) == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    assert got["rn1"]["run_id"] == "run-7" and got["rn2"]["run_id"] == "run-7"
    assert got["rn1"]["source_file"] == "runs/run-7/events.jsonl"
    assert got["jl1"]["run_id"] is None
    assert rows(cat, "SELECT run_id, name, status FROM runs") == [
        {"run_id": "run-7", "name": "nightly", "status": "ok"}
    ]

    stats = cat.stats()
    assert stats.events == 12
    assert stats.runs == 1
    assert stats.quarantined == 0 and stats.duplicates == 0
    assert stats.first_event_at.astimezone(UTC) == T0


def test_json_single_object_and_array_fields(folder: Path) -> None:
    full = ev(
        "s1",
        "t.a",
        0,
        wf="w9",
        actor={"type": "bot", "id": "b7"},
        entity={"type": "order", "id": "o1"},
        context={"env": "prod"},
        payload={"symbol": "AAPL"},
        event_version=2,
    )
    full["correlation"]["parent_event_id"] = "p0"
    (folder / "events/one.json").write_text(json.dumps(full))
    cat = opdash.open(folder)
    (row,) = rows(cat, "SELECT * FROM events")
    assert row["event_id"] == "s1" and row["event_type"] == "t.a" and row["event_version"] == 2
    assert (row["actor_type"], row["actor_id"]) == ("bot", "b7")
    assert (row["entity_type"], row["entity_id"]) == ("order", "o1")
    assert (row["workflow_id"], row["parent_event_id"]) == ("w9", "p0")
    assert json.loads(row["context"]) == {"env": "prod"}
    assert json.loads(row["payload"]) == {"symbol": "AAPL"}
    assert row["source_file"] == "events/one.json"


def test_offsets_convert_to_utc_and_no_offset_means_utc(folder: Path) -> None:
    base = {"event_type": "t"}
    write_lines(
        folder / "events/tz.jsonl",
        [
            {**base, "event_id": "plus2", "occurred_at": "2026-11-20T09:00:00+02:00"},
            {**base, "event_id": "minus0530", "occurred_at": "2026-11-20T09:00:00-05:30"},
            {**base, "event_id": "zulu", "occurred_at": "2026-11-20T09:00:00Z"},
            {**base, "event_id": "naive", "occurred_at": "2026-11-20T09:00:00"},
            {**base, "event_id": "frac", "occurred_at": "2026-11-20T23:30:00.250+01:00"},
        ],
    )
    got = {k: utc(v["occurred_at"]) for k, v in events_by_id(opdash.open(folder)).items()}
    assert got == {
        "plus2": datetime(2026, 11, 20, 7, 0, tzinfo=UTC),
        "minus0530": datetime(2026, 11, 20, 14, 30, tzinfo=UTC),
        "zulu": datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        "naive": datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        "frac": datetime(2026, 11, 20, 22, 30, 0, 250000, tzinfo=UTC),
    }


def test_unknown_top_level_keys_kept_in_extra(folder: Path) -> None:
    write_lines(
        folder / "events/x.jsonl",
        [ev("e1", "t", note="hello", nested={"a": [1, 2]}, n=5), ev("e2", "t")],
    )
    got = events_by_id(opdash.open(folder))
    assert json.loads(got["e1"]["extra"]) == {"note": "hello", "nested": {"a": [1, 2]}, "n": 5}
    assert got["e2"]["extra"] is None or json.loads(got["e2"]["extra"]) in (None, {})


def test_event_version_defaults_to_one(folder: Path) -> None:
    write_lines(folder / "events/v.jsonl", [ev("e1", "t"), ev("e2", "t", event_version=4)])
    got = events_by_id(opdash.open(folder))
    assert got["e1"]["event_version"] == 1 and got["e2"]["event_version"] == 4


# -- quarantine ------------------------------------------------------------------------------

GOOD_BEFORE = json.dumps(ev("good1", "t"))
GOOD_AFTER = json.dumps(ev("good2", "t", 1))
OK = {"event_id": "bad", "event_type": "t", "occurred_at": at(0)}


def _bad(**changes) -> str:
    record = {**OK, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not _DROP})


_DROP = object()

BAD_LINES = {
    "invalid_utf8": [
        b'{"event_id": "bad", "event_type": "caf\xe9", "occurred_at": "2026-11-20T09:00:00Z"}'
    ],
    "malformed_json": ['{"event_id": "bad", "event_type": "t", '],
    "not_an_object": ["[1, 2, 3]", '"just a string"', "42", "null"],
    "missing_field": [
        _bad(event_id=_DROP),
        _bad(event_id=""),
        _bad(event_id=None),
        _bad(event_type=_DROP),
        _bad(event_type=""),
        _bad(occurred_at=_DROP),
        _bad(occurred_at=None),
    ],
    "wrong_type": [
        _bad(event_id=7),
        _bad(event_type=["t"]),
        _bad(actor="bot"),
        _bad(context=[1]),
        _bad(entity=3),
        _bad(correlation="w1"),
        _bad(payload="x"),
        _bad(actor={"type": "bot", "id": 5}),
        _bad(actor={"type": True, "id": "b"}),
        _bad(entity={"type": "order", "id": 12}),
        _bad(correlation={"workflow_id": 12}),
        _bad(correlation={"parent_event_id": {"a": 1}}),
    ],
    "bad_timestamp": [
        _bad(occurred_at="yesterday"),
        _bad(occurred_at="2026-11-20"),
        _bad(occurred_at="2026-13-20T09:00:00Z"),
        _bad(occurred_at="20/11/2026 09:00"),
    ],
    "bad_event_version": [
        _bad(event_version=0),
        _bad(event_version=-2),
        _bad(event_version=1.5),
        _bad(event_version="2"),
        _bad(event_version=True),
    ],
}
CASES = [(reason, line) for reason, lines in BAD_LINES.items() for line in lines]


@pytest.mark.parametrize(
    ("reason", "line"), CASES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(CASES)]
)
def test_quarantine_reason_and_good_lines_still_load(folder: Path, reason: str, line) -> None:
    write_lines(folder / "events/mixed.jsonl", [GOOD_BEFORE, "", line, "   ", GOOD_AFTER])
    cat = opdash.open(folder)
    assert sorted(events_by_id(cat)) == ["good1", "good2"]
    (q,) = rows(cat, "SELECT * FROM quarantine")
    assert q["reason"] == reason, q["detail"]
    assert q["source_file"] == "events/mixed.jsonl"
    assert q["line"] == 3  # blank lines count as lines but are skipped silently
    assert q["detail"]
    assert cat.stats().quarantined == 1


def test_empty_occurred_at_is_missing_field(folder: Path) -> None:
    """The contract: event_id/event_type/occurred_at missing *or empty* → missing_field."""
    write_lines(folder / "events/e.jsonl", [GOOD_BEFORE, _bad(occurred_at="")])
    cat = opdash.open(folder)
    assert sorted(events_by_id(cat)) == ["good1"]
    (q,) = rows(cat, "SELECT reason, line FROM quarantine")
    assert q == {"reason": "missing_field", "line": 2}


def test_json_array_bad_element_quarantined_by_row(folder: Path) -> None:
    items = [ev("a1", "t"), "not an event", {**OK, "event_type": 3}, ev("a4", "t", 2)]
    (folder / "events/arr.json").write_text(json.dumps(items))
    cat = opdash.open(folder)
    assert sorted(events_by_id(cat)) == ["a1", "a4"]
    got = rows(cat, 'SELECT "row", reason FROM quarantine ORDER BY "row"')
    assert got == [{"row": 2, "reason": "not_an_object"}, {"row": 3, "reason": "wrong_type"}]


def test_unreadable_parquet_file(folder: Path) -> None:
    write_lines(folder / "events/good.jsonl", [GOOD_BEFORE])
    (folder / "events/broken.parquet").write_bytes(b"PAR1 this is not really parquet PAR1")
    cat = opdash.open(folder)
    assert sorted(events_by_id(cat)) == ["good1"]
    (q,) = rows(cat, "SELECT source_file, reason FROM quarantine")
    assert q == {"source_file": "events/broken.parquet", "reason": "unreadable_file"}


def test_unreadable_json_document(folder: Path) -> None:
    """A .json file that is not JSON at all yields one quarantine row and no events.

    The brief names ``unreadable_file`` for a whole .json file that cannot be read; opdash files
    it as ``malformed_json``. Both are accepted here (see the report)."""
    write_lines(folder / "events/good.jsonl", [GOOD_BEFORE])
    (folder / "events/broken.json").write_text('[{"event_id": "x", ')
    cat = opdash.open(folder)
    assert sorted(events_by_id(cat)) == ["good1"]
    (q,) = rows(cat, "SELECT source_file, reason FROM quarantine")
    assert q["source_file"] == "events/broken.json"
    assert q["reason"] in ("unreadable_file", "malformed_json")


def test_raw_is_cut_to_2048_characters(folder: Path) -> None:
    long_line = '{"event_id": "x", "event_type": "' + "y" * 5000  # malformed, 5000+ chars
    short_line = "[" + "1," * 10 + "1]"
    write_lines(folder / "events/long.jsonl", [long_line, short_line, GOOD_AFTER])
    cat = opdash.open(folder)
    got = rows(cat, "SELECT line, reason, raw FROM quarantine ORDER BY line")
    assert [g["reason"] for g in got] == ["malformed_json", "not_an_object"]
    assert len(got[0]["raw"]) == 2048 and got[0]["raw"] == long_line[:2048]
    assert got[1]["raw"] == short_line
    assert list(events_by_id(cat)) == ["good2"]


# -- duplicates ------------------------------------------------------------------------------


def test_duplicates_count_once_first_seen_kept(folder: Path) -> None:
    # Sorted path order: events/a.jsonl < events/a/z.jsonl < events/b.json < runs/...
    write_lines(
        folder / "events/a.jsonl",
        [ev("u1", "t"), ev("dup", "first", 1), ev("u2", "t"), ev("dup", "same_file_later", 2)],
    )
    write_lines(folder / "events/a/z.jsonl", [ev("dup", "deeper_file", 3), ev("u3", "t")])
    (folder / "events/b.json").write_text(json.dumps([ev("u4", "t"), ev("dup", "json_file", 4)]))
    write_lines(folder / "runs/r1/events.jsonl", [ev("dup", "run_file", 5)])
    cat = opdash.open(folder)
    got = events_by_id(cat)
    assert sorted(got) == ["dup", "u1", "u2", "u3", "u4"]
    assert got["dup"]["event_type"] == "first"
    assert (got["dup"]["source_file"], got["dup"]["source_line"]) == ("events/a.jsonl", 2)
    dups = rows(cat, 'SELECT event_id, source_file, line, "row" FROM duplicates')
    key = sorted(
        ((d["event_id"], d["source_file"], d["line"], d["row"]) for d in dups),
        key=lambda k: (k[1], k[2] or 0),
    )
    assert key == [
        ("dup", "events/a.jsonl", 4, None),
        ("dup", "events/a/z.jsonl", 1, None),
        ("dup", "events/b.json", None, 2),
        ("dup", "runs/r1/events.jsonl", 1, None),
    ]
    stats = cat.stats()
    assert (stats.events, stats.duplicates, stats.quarantined) == (5, 4, 0)


def test_first_seen_follows_sorted_path_not_time(folder: Path) -> None:
    write_lines(folder / "events/2.jsonl", [ev("d", "early_time_later_file", 0)])
    write_lines(folder / "events/1.jsonl", [ev("d", "late_time_first_file", 999)])
    cat = opdash.open(folder)
    assert events_by_id(cat)["d"]["event_type"] == "late_time_first_file"
    assert rows(cat, "SELECT source_file FROM duplicates") == [{"source_file": "events/2.jsonl"}]


# -- refresh ---------------------------------------------------------------------------------


def test_torn_last_line_waits_for_its_newline(folder: Path) -> None:
    path = folder / "events/live.jsonl"
    whole = json.dumps(ev("e2", "t", 1))
    write_lines(path, [json.dumps(ev("e1", "t")), whole[:20]], newline_at_end=False)
    cat = opdash.open(folder)
    assert sorted(events_by_id(cat)) == ["e1"]
    assert count(cat, "quarantine") == 0

    with path.open("a") as fh:
        fh.write(whole[20:])  # still no newline: still waiting
    cat.refresh()
    assert sorted(events_by_id(cat)) == ["e1"]
    assert count(cat, "quarantine") == 0

    with path.open("a") as fh:
        fh.write("\n")
    report = cat.refresh()
    got = events_by_id(cat)
    assert sorted(got) == ["e1", "e2"]
    assert got["e2"]["source_line"] == 2
    assert report.events_added == 1
    assert count(cat, "quarantine") == 0 and count(cat, "duplicates") == 0


def test_refresh_reads_only_appended_lines(folder: Path) -> None:
    path = write_lines(folder / "events/log.jsonl", [ev("e1", "t"), ev("e2", "t", 1)])
    cat = opdash.open(folder)
    assert cat.stats().events == 2
    with path.open("a") as fh:
        fh.write(json.dumps(ev("e3", "t", 2)) + "\n\n" + json.dumps(ev("e4", "t", 3)) + "\n")
    report = cat.refresh()
    assert (report.events_added, report.duplicates_added, report.quarantined_added) == (2, 0, 0)
    got = events_by_id(cat)
    assert sorted(got) == ["e1", "e2", "e3", "e4"]
    assert [got[k]["source_line"] for k in ("e1", "e2", "e3", "e4")] == [1, 2, 3, 5]
    stats = cat.stats()
    assert (stats.events, stats.duplicates, stats.quarantined) == (4, 0, 0)


def test_refresh_picks_up_new_file(folder: Path) -> None:
    write_lines(folder / "events/a.jsonl", [ev("e1", "t")])
    cat = opdash.open(folder)
    v1 = cat.stats().version
    write_lines(folder / "events/new/b.ndjson", [ev("e2", "t"), ev("e1", "again")])
    write_lines(folder / "runs/r9/events.jsonl", [ev("e3", "t")])
    report = cat.refresh()
    assert report.events_added == 2 and report.duplicates_added == 1
    got = events_by_id(cat)
    assert sorted(got) == ["e1", "e2", "e3"]
    assert got["e1"]["event_type"] == "t"
    assert got["e3"]["run_id"] == "r9"
    assert cat.stats().version > v1


def test_refresh_of_unchanged_folder_adds_nothing(folder: Path) -> None:
    write_lines(folder / "events/a.jsonl", [ev("e1", "t"), "not json", ev("e1", "dup")])
    (folder / "events/b.json").write_text(json.dumps([ev("e2", "t")]))
    cat = opdash.open(folder)
    before = cat.stats()
    report = cat.refresh()
    after = cat.stats()
    assert (report.files_read, report.events_added) == (0, 0)
    assert (report.quarantined_added, report.duplicates_added) == (0, 0)
    assert (after.events, after.quarantined, after.duplicates) == (2, 1, 1)
    assert (after.events, after.quarantined, after.duplicates, after.files) == (
        before.events,
        before.quarantined,
        before.duplicates,
        before.files,
    )
    assert after.version == before.version


# -- read only -------------------------------------------------------------------------------


def _listing(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[p.relative_to(root).as_posix()] = (
                stat.S_IFMT(st.st_mode),
                st.st_size,
                st.st_mtime_ns,
            )
    return out


def _populate(folder: Path) -> None:
    write_lines(folder / "events/a.jsonl", [ev("e1", "a"), ev("e2", "b", 5), "garbage"])
    write_lines(
        folder / "events/torn.jsonl", [json.dumps(ev("e3", "a"))[:15]], newline_at_end=False
    )
    (folder / "events/b.json").write_text(json.dumps([ev("e4", "a", wf="w2")]))
    pq.write_table(
        pa.table({"event_id": ["p1"], "event_type": ["b"], "occurred_at": [at(9)]}),
        folder / "events/p.parquet",
    )
    write_lines(folder / "runs/r1/events.jsonl", [ev("e5", "a")])
    (folder / "runs/r1/run.json").write_text(json.dumps({"status": "running"}))
    write_lines(folder / "runs/r1/alerts.jsonl", [{"alert_id": "al1", "severity": "high"}])


def _exercise(folder: Path) -> None:
    cat = opdash.open(folder)
    cat.sql("SELECT * FROM events")
    cat.stats()
    cat.refresh()
    opdash.funnel(cat, ["a", "b"])
    assert cat.stats().events == 5


def test_catalog_never_writes_into_the_folder(folder: Path) -> None:
    _populate(folder)
    before = _listing(folder)
    _exercise(folder)
    assert _listing(folder) == before


def test_catalog_works_on_a_read_only_folder(folder: Path) -> None:
    _populate(folder)
    before = _listing(folder)
    modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
    try:
        for p in modes:
            p.chmod(stat.S_IMODE(modes[p]) & ~0o222)
        _exercise(folder)
        assert _listing(folder) == before
    finally:
        for p, mode in modes.items():
            p.chmod(stat.S_IMODE(mode))


# -- demo ------------------------------------------------------------------------------------


def test_demo_folder_counts() -> None:
    stats = opdash.open(DEMO).stats()
    assert (stats.events, stats.quarantined, stats.duplicates) == (1073, 5, 1)


def test_bad_parquet_row_is_quarantined_and_good_rows_load(folder: Path) -> None:
    table = pa.table(
        {
            "event_id": ["p1", "", "p3"],
            "event_type": ["t", "t", "t"],
            "occurred_at": ["2026-11-20T09:00:00Z", "2026-11-20T09:00:01Z", "yesterday"],
        }
    )
    pq.write_table(table, folder / "events/rows.parquet")
    cat = opdash.open(folder)
    assert sorted(events_by_id(cat)) == ["p1"]
    got = rows(cat, 'SELECT "row", reason, raw FROM quarantine ORDER BY "row"')
    assert [(g["row"], g["reason"]) for g in got] == [(2, "missing_field"), (3, "bad_timestamp")]
    assert "09:00:01" in got[0]["raw"] and "yesterday" in got[1]["raw"]


def test_an_edited_goals_file_is_a_new_version(folder: Path) -> None:
    """Open pages redraw on a new version: a goals.yaml edit must make one, data or not."""
    write_lines(folder / "events/a.jsonl", [ev("e1", "t")])
    cat = opdash.open(folder)
    v1 = cat.stats().version
    assert cat.refresh().version == v1  # nothing changed
    (folder / "goals.yaml").write_text("goals: []\n")
    v2 = cat.refresh().version
    assert v2 > v1
    assert cat.refresh().version == v2
    (folder / "goals.yaml").write_text("goals: [] # edited\n")
    v3 = cat.refresh().version
    assert v3 > v2
    (folder / "goals.yaml").unlink()
    assert cat.refresh().version > v3
    assert cat.stats().events == 1


def test_shared_tables_are_bounded_by_bytes_and_dropped_after_a_grace(
    folder: Path, monkeypatch
) -> None:
    from opdash.catalog import store

    monkeypatch.setattr(store, "RETIRED_GRACE", 0.0)
    path = write_lines(
        folder / "events/a.jsonl", [ev("e1", "t"), ev("e2", "u", 1), ev("e9", "x", 2)]
    )
    cat = opdash.open(folder)
    builds: list[str] = []

    def build(kind: str):
        def make() -> str:
            builds.append(kind)
            events = cat.table("events")
            return cat.ibis.compile(events.filter(events.event_type == kind))

        return make

    def tables() -> set[str]:
        rows = cat.fetchall("SELECT table_name FROM duckdb_tables()")
        return {r[0] for r in rows if r[0].startswith("opdash_shared_")}

    first = cat.materialized(("only", "t"), build("t"))
    one_table = store.estimated_bytes(1, first.schema())
    cat._shared.budget = 3 * one_table  # room for three one-row tables of events
    again = cat.materialized(("only", "t"), build("t"))
    assert builds == ["t"]  # once per version
    assert first.execute()["event_id"].tolist() == again.execute()["event_id"].tolist() == ["e1"]
    cat.materialized(("only", "u"), build("u"))
    cat.materialized(("other", "u"), build("u"))
    assert len(tables()) == 3 and cat._shared.bytes == 3 * one_table
    cat.materialized(("only", "t"), build("t"))  # asked for again: ("only", "u") is the oldest
    cat.materialized(("only", "x"), build("x"))
    assert len(tables()) == 3  # the least recently asked for went past the budget
    assert cat._shared.bytes <= cat._shared.budget
    assert cat.materialized(("only", "t"), build("t")).execute()["event_id"].tolist() == ["e1"]
    assert cat.materialized(("only", "u"), build("u")).execute()["event_id"].tolist() == ["e2"]
    assert builds == ["t", "u", "u", "x", "u"]  # ("only", "u") was dropped, so made again

    with path.open("a") as fh:
        fh.write(json.dumps(ev("e3", "t", 2)) + "\n")
    cat.refresh()
    assert sorted(cat.materialized(("only", "t"), build("t")).execute()["event_id"]) == [
        "e1",
        "e3",
    ]
    assert builds[-1] == "t" and len(builds) == 6
    assert first.get_name() not in tables()  # the version it replaced is gone
    assert cat._shared.bytes <= cat._shared.budget  # the two-row table made room for itself


def test_a_materialized_table_outlives_refreshes_that_change_nothing_it_reads(
    folder: Path, monkeypatch
) -> None:
    """A live exporter appending other actors' or other types' events rebuilds nothing; a
    replaced table stays readable for RETIRED_GRACE seconds (a question may still read it)."""
    from opdash.catalog import Reads
    from opdash.catalog import store as catalog_module

    path = write_lines(
        folder / "events/a.jsonl",
        [ev("e1", "t", actor={"type": "agent", "id": "ann"}), ev("e2", "u", 1)],
    )
    cat = opdash.open(folder)
    builds: list[int] = []
    reads = Reads(event_types=frozenset({"t"}), actors=frozenset({"ann"}))

    def make() -> str:
        builds.append(cat.version)
        events = cat.table("events")
        return cat.ibis.compile(events.filter(events.event_type == "t", events.actor_id == "ann"))

    def ids() -> list[str]:
        return sorted(cat.materialized(("ann t",), make, reads=reads).execute()["event_id"])

    def append(*events: dict) -> None:
        with path.open("a") as fh:
            fh.writelines(json.dumps(e) + "\n" for e in events)
        cat.refresh()

    assert ids() == ["e1"]
    first = cat.materialized(("ann t",), make, reads=reads).get_name()
    append(ev("e3", "u", 2, actor={"type": "agent", "id": "ann"}))  # another type
    append(ev("e4", "t", 3, actor={"type": "agent", "id": "bob"}))  # another actor
    assert ids() == ["e1"] and len(builds) == 1
    monkeypatch.setattr(catalog_module, "RETIRED_GRACE", 3600.0)
    append(ev("e5", "t", 4, actor={"type": "agent", "id": "ann"}))
    assert ids() == ["e1", "e5"] and len(builds) == 2
    assert cat.fetchall(f"SELECT count(*) FROM {first}") == [(1,)]  # retired, still readable
    monkeypatch.setattr(catalog_module, "RETIRED_GRACE", 0.0)
    cat.refresh()  # nothing new, no question asked: the refresh drops it
    names = {r[0] for r in cat.fetchall("SELECT table_name FROM duckdb_tables()")}
    assert first not in names  # dropped once its grace was over
    assert ids() == ["e1", "e5"] and len(builds) == 2


def test_a_query_shape_compiles_once_and_takes_any_values(folder: Path) -> None:
    """Values go where their placeholders were, as literals: quotes, negatives, many shapes."""
    write_lines(
        folder / "events/a.jsonl",
        [ev("e1", "it's"), ev("e2", "plain", 1), ev("e3", "it's", 2), ev("e4", "-", 3)],
    )
    cat = opdash.open(folder)
    builds = []

    def build(given):
        builds.append(1)
        events = cat.table("events")
        epoch = events.occurred_at.epoch_seconds()
        return (
            events.filter(events.event_type == given["kind"], epoch >= given["after"])
            .select("event_id")
            .order_by("event_id")
        )

    def ids(kind: str, after: int) -> list[str]:
        return cat.query(("by kind", "v1"), build, kind=kind, after=after)["event_id"].tolist()

    assert ids("it's", -5) == ["e1", "e3"]
    assert ids("plain", 0) == ["e2"]
    assert ids("no such", 0) == []
    first = int(cat.fetchall("SELECT min(epoch(occurred_at)) FROM events")[0][0])
    assert ids("it's", first + 2) == ["e3"]
    assert ids("-", -1) == ["e4"]
    assert ids("'; DROP TABLE x; --", 0) == []
    # values that look like the stand-ins stay plain values (never substituted again)
    assert ids("it's 8765432100000000001 '8765432100000000001'", 0) == []
    assert ids("'opdash·placeholder·0·0'", 0) == []
    assert ids("it's", -5) == ["e1", "e3"]
    assert (
        len(builds) == 2
    )  # built twice for the first question (two sets of stand-ins), never again


def test_a_value_folded_into_another_literal_is_not_templated(folder: Path) -> None:
    """A builder that computes with a value (here: subtracts in Python) gets fresh SQL per
    question instead of a template that would put the value in the wrong place."""
    write_lines(folder / "events/a.jsonl", [ev("e1", "t"), ev("e2", "t", 1), ev("e3", "t", 2)])
    cat = opdash.open(folder)
    first = int(cat.fetchall("SELECT min(epoch(occurred_at)) FROM events")[0][0])

    def build(given):
        events = cat.table("events")
        bound = given["after"].op().value - 1  # folded: the SQL holds bound, not the value
        return events.filter(events.occurred_at.epoch_seconds() > bound).select("event_id")

    def ids(after: int) -> list[str]:
        frame = cat.query("folded", build, after=after)
        return sorted(frame["event_id"].tolist())

    assert ids(first) == ["e1", "e2", "e3"]
    assert ids(first + 1) == ["e2", "e3"]
    assert ids(first + 2) == ["e3"]


def test_a_table_name_is_a_value_of_a_compiled_shape(folder: Path) -> None:
    """Questions about results materialized per filter value (another table each) share one
    compiled shape; each reads its own table."""
    from opdash.templates import TableName

    write_lines(folder / "events/a.jsonl", [ev("e1", "t"), ev("e2", "u", 1), ev("e3", "t", 2)])
    cat = opdash.open(folder)
    builds = []

    def kept(kind: str) -> TableName:
        events = cat.table("events")
        table = cat.materialized(
            ("kind", kind), lambda: cat.ibis.compile(events.filter(events.event_type == kind))
        )
        return TableName(table.get_name(), table.schema())

    def build(given):
        builds.append(1)
        rows = given["rows"]
        return rows.filter(rows.event_id != given["but"]).select("event_id").order_by("event_id")

    def ids(kind: str, but: str) -> list[str]:
        return cat.query("rows of", build, rows=kept(kind), but=but)["event_id"].tolist()

    assert ids("t", "none") == ["e1", "e3"]
    assert ids("u", "none") == ["e2"]
    assert ids("t", "e1") == ["e3"]
    assert len(builds) == 2  # the two stand-in compiles of the first question only
    with pytest.raises(ValueError, match="plain identifier"):
        TableName('x"; DROP TABLE events; --', None)


def test_the_catalog_and_its_views_offer_what_metrics_may_ask(folder: Path) -> None:
    """Every member of the interface a second engine implements is there, on the catalog and
    on the views metrics take in its place."""
    from opdash.catalog.protocol import MetricsCatalog
    from opdash.metrics.scope import Scope, ScopedCatalog

    write_lines(folder / "events/a.jsonl", [ev("e1", "t")])
    cat = opdash.open(folder)
    for view in (cat, cat.as_of(T0), ScopedCatalog(cat, Scope(actors=("a",)))):
        assert isinstance(view, MetricsCatalog)
    assert (cat.dialect, cat.portable, cat.keep_shared) == ("duckdb", False, True)
