"""Files that change under the catalog (issue 8): the folder is the truth after every refresh.

Each scenario changes a folder the way exporters do — append, truncate, rewrite, delete,
rename, a run folder removed — then refreshes one long-lived catalog and compares it with a
catalog opened fresh on the same folder (read from scratch: the independent answer), plus the
specific promise of the scenario.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opdash.catalog import Reads, open_catalog
from tests.fixtures import T0, ev, write_lines


def snapshot(catalog) -> dict:
    """What a user can see of the catalog: events (id, type, file), quarantine, runs, alerts."""
    return {
        "events": sorted(catalog.fetchall("SELECT event_id, event_type, source_file FROM events")),
        "quarantine": sorted(
            catalog.fetchall('SELECT source_file, line, "row", reason FROM quarantine'),
            key=str,
        ),
        "duplicates": sorted(catalog.fetchall("SELECT event_id, source_file FROM duplicates")),
        "runs": sorted(catalog.fetchall("SELECT run_id, status FROM runs")),
        "alerts": sorted(catalog.fetchall("SELECT run_id, alert_id FROM alerts")),
    }


def assert_truth(catalog, folder: Path) -> dict:
    """The refreshed catalog equals one read fresh from the folder."""
    catalog.refresh()
    seen = snapshot(catalog)
    assert seen == snapshot(open_catalog(folder))
    return seen


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    write_lines(root / "events" / "a.jsonl", [ev(f"a{i}", "step.one", i) for i in range(5)])
    write_lines(root / "events" / "b.jsonl", [ev(f"b{i}", "step.two", i) for i in range(3)])
    run = root / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "run.json").write_text(
        json.dumps({"run_id": "r1", "status": "running", "started_at": "2026-11-20T09:00:00Z"})
    )
    write_lines(
        run / "alerts.jsonl",
        [
            {
                "alert_id": "x1",
                "raised_at": "2026-11-20T09:05:00Z",
                "severity": "warning",
                "title": "t",
            }
        ],
    )
    return root


def ids(seen: dict) -> set[str]:
    return {row[0] for row in seen["events"]}


def test_an_appended_file_adds_only_its_new_lines(folder: Path) -> None:
    catalog = open_catalog(folder)
    with (folder / "events" / "a.jsonl").open("a") as fh:
        fh.write(json.dumps(ev("a5", "step.one", 5)) + "\n")
    assert ids(assert_truth(catalog, folder)) == {*(f"a{i}" for i in range(6)), "b0", "b1", "b2"}


def test_a_truncated_file_is_read_again_whole(folder: Path) -> None:
    catalog = open_catalog(folder)
    write_lines(folder / "events" / "a.jsonl", [ev("a0", "step.one", 0)])
    assert ids(assert_truth(catalog, folder)) == {"a0", "b0", "b1", "b2"}


@pytest.mark.parametrize("extra", [0, 3], ids=["same size", "larger"])
def test_a_rewritten_file_is_read_again_whole(folder: Path, extra: int) -> None:
    """New first bytes (same size, or longer: not an append) — the old events leave."""
    catalog = open_catalog(folder)
    path = folder / "events" / "a.jsonl"
    old_size = path.stat().st_size
    write_lines(path, [ev(f"z{i}", "step.one", i) for i in range(5 + extra)])
    text = path.read_bytes()
    if not extra:  # pad or cut to exactly the old size (ids z0..z4 keep the length equal)
        assert len(text) == old_size
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    seen = assert_truth(catalog, folder)
    assert not {i for i in ids(seen) if i.startswith("a")}
    assert {f"z{i}" for i in range(5 + extra)} <= ids(seen)


def test_a_deleted_file_takes_its_events_and_quarantine_with_it(folder: Path) -> None:
    write_lines(folder / "events" / "c.jsonl", [ev("c0", "step.one"), "{broken"])
    catalog = open_catalog(folder)
    assert catalog.stats().quarantined == 1
    (folder / "events" / "c.jsonl").unlink()
    seen = assert_truth(catalog, folder)
    assert "c0" not in ids(seen) and seen["quarantine"] == []


def test_a_renamed_file_counts_its_events_once_under_the_new_name(folder: Path) -> None:
    catalog = open_catalog(folder)
    (folder / "events" / "b.jsonl").rename(folder / "events" / "b-2026-11-20.jsonl")
    seen = assert_truth(catalog, folder)
    b_rows = [row for row in seen["events"] if row[0].startswith("b")]
    assert len(b_rows) == 3 and {row[2] for row in b_rows} == {"events/b-2026-11-20.jsonl"}
    assert seen["duplicates"] == []


def test_when_the_kept_copy_of_an_event_goes_the_other_copy_stays(folder: Path) -> None:
    """b.jsonl repeats a0; a.jsonl (read first) holds the kept copy. Deleting a.jsonl must not
    lose a0: the copy in b.jsonl is the event now. (Nothing valid is ever lost.)"""
    write_lines(folder / "events" / "b.jsonl", [ev("b0", "step.two"), ev("a0", "step.one")])
    catalog = open_catalog(folder)
    assert catalog.stats().duplicates == 1
    (folder / "events" / "a.jsonl").unlink()
    seen = assert_truth(catalog, folder)
    assert ("a0", "step.one", "events/b.jsonl") in seen["events"] and seen["duplicates"] == []


def test_a_removed_run_folder_takes_its_run_and_alerts(folder: Path) -> None:
    catalog = open_catalog(folder)
    assert catalog.stats().runs == 1
    shutil.rmtree(folder / "runs" / "r1")
    seen = assert_truth(catalog, folder)
    assert seen["runs"] == [] and seen["alerts"] == []


def test_a_refresh_after_changes_bumps_the_version_and_times_itself(folder: Path) -> None:
    catalog = open_catalog(folder)
    version = catalog.version
    (folder / "events" / "b.jsonl").unlink()
    catalog.refresh()
    assert catalog.version == version + 1 and catalog.refresh_seconds is not None
    catalog.refresh()  # nothing changed: same version
    assert catalog.version == version + 1


@pytest.mark.parametrize("name", ["events/late.json", "events/late.parquet"])
def test_a_whole_file_being_written_is_pending_until_it_stays_unreadable(folder, name) -> None:
    """A .json array or parquet file still being written is retried and reported as pending —
    its half is not quarantined — until it stays unreadable and unchanged for two refreshes."""
    catalog = open_catalog(folder)
    path = folder / name
    half = b'[{"event_id": "l0", "event_type": "step.one", "occurred_at": "2026-11-20T09:00:00Z"},'
    path.write_bytes(half if name.endswith(".json") else b"PAR1\x00\x01half a footer")
    catalog.refresh()
    assert catalog.stats().pending == (name,) and catalog.stats().quarantined == 0
    if name.endswith(".json"):  # the exporter finishes: read whole, nothing quarantined
        path.write_bytes(half[:-1] + b"]")
        seen = assert_truth(catalog, folder)
        assert "l0" in ids(seen) and catalog.stats().pending == () and seen["quarantine"] == []
    else:  # it never completes: unchanged and unreadable on the next refresh → quarantined
        catalog.refresh()
        assert catalog.stats().pending == ()
        reasons = catalog.fetchall("SELECT reason FROM quarantine WHERE source_file = ?", [name])
        assert reasons == [("unreadable_file",)]


def test_a_pending_rewrite_keeps_what_the_file_held_before(folder) -> None:
    """While a .json document is being rewritten, its old events stay: no half state."""
    path = folder / "events" / "doc.json"
    path.write_text(json.dumps([ev("d0", "step.one"), ev("d1", "step.two")]))
    catalog = open_catalog(folder)
    path.write_text('[{"event_id": "d9", ')
    catalog.refresh()
    assert {"d0", "d1"} <= {r[0] for r in catalog.fetchall("SELECT event_id FROM events")}
    assert catalog.stats().pending == ("events/doc.json",)


# -- a refresh is all or nothing -------------------------------------------------------------


def change_everything(folder: Path) -> None:
    """One refresh's worth of every kind of change: a rewrite, an append, a deletion, a new
    file, a run's status and a new alert."""
    write_lines(folder / "events" / "a.jsonl", [ev(f"a{i}", "step.one", i) for i in (4, 2, 9)])
    with (folder / "events" / "b.jsonl").open("a") as fh:
        fh.write(json.dumps(ev("b3", "step.two", 3)) + "\n{broken\n")
    write_lines(folder / "events" / "c.jsonl", [ev("c0", "step.three", 0)])
    (folder / "runs" / "r1" / "run.json").write_text('{"run_id": "r1", "status": "failed"}')
    with (folder / "runs" / "r1" / "alerts.jsonl").open("a") as fh:
        fh.write('{"alert_id": "x2", "raised_at": "2026-11-20T10:00:00Z"}\n')


def test_a_refresh_that_fails_halfway_leaves_the_catalog_as_it_was(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure strikes after the old rows were deleted and the new quarantine rows
    inserted, just before the new events are filed: nothing of it may show, and the next
    refresh files the change in full."""
    from opdash.catalog import loader as catalog_module

    catalog = open_catalog(folder)
    before, version, stats = snapshot(catalog), catalog.version, catalog.stats()
    change_everything(folder)
    real = catalog_module.Loader._file_new_rows

    def fail(self, *args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr(catalog_module.Loader, "_file_new_rows", fail)
    with pytest.raises(OSError, match="disk gone"):
        catalog.refresh()
    assert snapshot(catalog) == before
    assert (catalog.version, catalog.stats()) == (version, stats)
    monkeypatch.setattr(catalog_module.Loader, "_file_new_rows", real)
    seen = assert_truth(catalog, folder)
    assert ids(seen) == {"a4", "a2", "a9", "b0", "b1", "b2", "b3", "c0"}
    assert seen["runs"] == [("r1", "failed")] and len(seen["alerts"]) == 2
    assert catalog.version == version + 1


def test_no_reader_sees_half_a_refresh(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a refresh files a rewritten file (its old rows deleted, the new not yet in),
    readers on other threads still count the whole previous state; the new one appears at
    once, with the version that says so."""
    import threading

    from opdash.catalog import loader as catalog_module

    catalog = open_catalog(folder)
    count = "SELECT count(*), count(*) FILTER (WHERE source_file = 'events/a.jsonl') FROM events"
    assert catalog.fetchall(count) == [(8, 5)]
    halfway, go_on = threading.Event(), threading.Event()
    real = catalog_module.Loader._file_new_rows

    def paused(self, *args, **kwargs):
        halfway.set()  # a.jsonl's old rows are deleted in the refresh's transaction
        assert go_on.wait(10)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(catalog_module.Loader, "_file_new_rows", paused)
    write_lines(folder / "events" / "a.jsonl", [ev(f"n{i}", "step.one", i) for i in range(7)])
    refresher = threading.Thread(target=catalog.refresh)
    refresher.start()
    try:
        assert halfway.wait(10)
        assert catalog.fetchall(count) == [(8, 5)]  # before: not 3 (half a refresh)
        assert catalog.version == 1 and catalog.stats().events == 8
    finally:
        go_on.set()
        refresher.join(10)
    assert catalog.fetchall(count) == [(10, 7)]
    assert catalog.version == 2 and catalog.stats().events == 10


def test_an_answer_that_straddles_a_commit_is_computed_again(folder: Path) -> None:
    """A computation runs several queries, each on its own cursor: when a refresh commits
    between two of them, its mixed answer is thrown away and it runs again."""
    catalog = open_catalog(folder)
    calls: list[tuple[int, int]] = []

    def two_queries() -> tuple[int, int]:
        first = catalog.fetchall("SELECT count(*) FROM events")[0][0]
        if not calls:  # the first time only: a refresh lands in between
            with (folder / "events" / "b.jsonl").open("a") as fh:
                fh.write(json.dumps(ev("b3", "step.two", 3)) + "\n")
            import threading

            refresher = threading.Thread(target=catalog.refresh)
            refresher.start()
            refresher.join(10)
        second = catalog.fetchall("SELECT count(*) FROM events")[0][0]
        calls.append((first, second))
        return first, second

    assert catalog.cached("two queries", two_queries) == (9, 9)
    assert calls == [(8, 9), (9, 9)]


def _refresh_between(catalog, folder: Path, event: dict) -> None:
    """Append ``event`` and let a refresh commit it, from another thread."""
    import threading

    with (folder / "events" / "b.jsonl").open("a") as fh:
        fh.write(json.dumps(event) + "\n")
    refresher = threading.Thread(target=catalog.refresh)
    refresher.start()
    refresher.join(10)


def test_an_answer_whose_reads_a_straddling_commit_spared_is_kept(folder: Path) -> None:
    """A commit that brought nothing the answer reads leaves both sides with the same answer:
    it is not computed again (a live exporter's appends must not double every computation)."""
    catalog = open_catalog(folder)
    reads = Reads(event_types=frozenset({"step.one"}))
    count = "SELECT count(*) FROM events WHERE event_type = 'step.one'"

    def straddled_by(event: dict, calls: list[int]):
        def two_queries() -> tuple[int, int]:
            first = catalog.fetchall(count)[0][0]
            if not calls:
                _refresh_between(catalog, folder, event)
            calls.append(catalog.version)
            return first, catalog.fetchall(count)[0][0]

        return two_queries

    version, calls = catalog.version, []
    other = straddled_by(ev("b3", "step.two", 3), calls)
    assert catalog.cached("step one", other, reads=reads) == (5, 5)
    assert calls == [version + 1]  # computed once, though a commit landed in between
    version, calls = catalog.version, []
    read = straddled_by(ev("b4", "step.one", 4), calls)
    assert catalog.cached("step one again", read, reads=reads) == (6, 6)
    assert calls == [version + 1, version + 1]  # this commit brought what it reads: again


def test_a_failure_that_straddles_a_commit_is_tried_again(folder: Path) -> None:
    """A computation that failed while a refresh committed (a table it read was replaced) is
    tried once more; one that fails with no commit in between fails at once."""
    catalog = open_catalog(folder)
    calls: list[int] = []

    def flaky() -> int:
        calls.append(catalog.version)
        if len(calls) == 1:
            _refresh_between(catalog, folder, ev("b3", "step.two", 3))
            raise RuntimeError("table gone")
        return catalog.fetchall("SELECT count(*) FROM events")[0][0]

    assert catalog.cached("flaky", flaky) == 9 and len(calls) == 2

    def broken() -> int:
        calls.append(catalog.version)
        raise RuntimeError("always")

    calls.clear()
    with pytest.raises(RuntimeError, match="always"):
        catalog.cached("broken", broken)
    assert len(calls) == 1


def test_a_question_whose_shared_table_was_dropped_is_answered_on_the_current_version(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A question still reading a shared table after it was retired and its grace ran out
    (DuckDB: "Table with name … does not exist") is computed again on the current version,
    its table rebuilt — with no commit in between (retired past the byte budget), and long
    after a commit that replaced it (the grace over since) — never an error."""
    from opdash.catalog import store

    catalog = open_catalog(folder)

    def of_type(kind: str):
        return lambda: f"SELECT event_id FROM events WHERE event_type = '{kind}'"

    def question(retire, reads=None):
        names: list[str] = []

        def compute() -> list:
            table = catalog.materialized(("of type", "step.one"), of_type("step.one"), reads=reads)
            names.append(table.get_name())
            if len(names) == 1:
                retire()  # mid-way, the table this question holds is retired, then dropped
            return sorted(r[0] for r in catalog.fetchall(f"SELECT event_id FROM {names[-1]}"))

        return compute, names

    def tables() -> set[str]:
        return {r[0] for r in catalog.fetchall("SELECT table_name FROM duckdb_tables()")}

    def past_the_budget() -> None:  # another question's table pushes it out, no commit at all
        budget, catalog._shared.budget = catalog._shared.budget, 0
        monkeypatch.setattr(store, "RETIRED_GRACE", 3600.0)
        catalog.materialized(("of type", "step.two"), of_type("step.two"))
        catalog._shared.budget = budget
        monkeypatch.setattr(store, "RETIRED_GRACE", 0.0)  # the grace is over:
        catalog.refresh()  # nothing new, but the refresh drops what was retired

    compute, names = question(past_the_budget)
    assert catalog.cached("one", compute) == [f"a{i}" for i in range(5)]
    assert len(names) == 2 and names[0] != names[1]
    assert names[0] not in tables() and names[1] in tables()

    def replaced_long_ago() -> None:  # a commit brings step.one events, a newer question
        monkeypatch.setattr(store, "RETIRED_GRACE", 3600.0)  # builds its own table, and
        _refresh_between(catalog, folder, ev("b9", "step.one", 9))  # much later the grace
        catalog.materialized(("of type", "step.one"), of_type("step.one"), reads=reads)
        assert names[0] in tables()  # (retired, still readable)
        monkeypatch.setattr(store, "RETIRED_GRACE", 0.0)  # is over
        catalog.refresh()
        assert names[0] not in tables()

    reads = Reads(event_types=frozenset({"step.one"}))
    compute, names = question(replaced_long_ago, reads)
    assert catalog.cached("two", compute, reads=reads) == [*(f"a{i}" for i in range(5)), "b9"]
    assert len(names) == 2 and names[0] != names[1]


def test_a_file_that_breaks_the_batch_is_quarantined_and_the_rest_filed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When validating a refresh's records in one SQL pass fails, they are validated file by
    file: the file that fails is quarantined whole (with the engine's message), the others are
    filed as a fresh read would file them, their repeated ids resolved across files."""
    import duckdb

    from opdash.catalog import loader as catalog_module

    root = tmp_path / "artifacts"
    write_lines(root / "events" / "a.jsonl", [ev(f"a{i}", "t", i) for i in range(3)])
    write_lines(root / "events" / "b.jsonl", [ev("b0", "t", 0), ev("a1", "t", 9)])
    write_lines(root / "events" / "c.jsonl", [ev("c0", "t", 0), ev("b0", "t", 9)])
    write_lines(root / "events" / "poison.jsonl", [ev("p0", "t", 0)])
    real = catalog_module.Loader._stage

    def stage(self, batch, table):
        if any(r.source_file == "events/poison.jsonl" for r in batch.records):
            raise duckdb.ConversionException("cannot validate this file")
        return real(self, batch, table)

    monkeypatch.setattr(catalog_module.Loader, "_stage", stage)
    catalog = open_catalog(root)
    seen = snapshot(catalog)
    assert ids(seen) == {"a0", "a1", "a2", "b0", "c0"}
    assert seen["duplicates"] == [("a1", "events/b.jsonl"), ("b0", "events/c.jsonl")]
    assert catalog.fetchall("SELECT source_file, reason, detail FROM quarantine") == [
        ("events/poison.jsonl", "unreadable_file", "cannot validate this file")
    ]


# -- answers a refresh cannot change are kept --------------------------------------------------


def count_until(catalog, horizon: datetime) -> int:
    return catalog.fetchall("SELECT count(*) FROM events WHERE occurred_at <= ?", [horizon])[0][0]


@settings(max_examples=15, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["append", "alert", "delete", "rewrite"]),
            st.lists(st.integers(0, 20), min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=6,
    ),
    horizon=st.integers(0, 20),
)
def test_a_kept_answer_always_equals_a_fresh_one(steps, horizon: int) -> None:
    """Whatever a refresh brings — events before or after an answer's horizon, an alert, a
    deleted or rewritten file — an answer served from the cache (kept or recomputed) equals the
    answer computed on a catalog read fresh from the folder. And it is kept exactly when every
    refresh since only brought events after the horizon (none when nothing moved)."""
    from opdash.catalog import Reads

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_lines(root / "events" / "base.jsonl", [ev(f"b{i}", "t", i * 60) for i in range(10)])
        catalog = open_catalog(root)
        moment = T0 + timedelta(minutes=horizon)
        reads = Reads(frozenset({"alerts"}), horizon=moment)
        computed = []

        def answer() -> int:
            computed.append(catalog.version)
            return count_until(catalog, moment)

        assert catalog.cached("n", answer, reads=reads) == count_until(catalog, moment)
        for n, (action, minutes) in enumerate(steps):
            times = [T0 + timedelta(minutes=m) for m in minutes]
            path = root / "events" / f"f{n}.jsonl"
            if action == "append":
                write_lines(path, [ev(f"e{n}-{i}", "t", t) for i, t in enumerate(times)])
                kept = all(t > moment for t in times)
            elif action == "alert":
                write_lines(root / "runs" / "r" / "alerts.jsonl", [{"alert_id": f"a{n}"}])
                kept = False
            elif action == "delete":
                kept = not (root / "events" / "base.jsonl").exists()  # nothing to delete
                (root / "events" / "base.jsonl").unlink(missing_ok=True)
            else:
                base = root / "events" / "base.jsonl"
                was = base.read_bytes() if base.exists() else None
                write_lines(base, [ev("b0", "t", times[0])])
                # the same bytes again: nothing moved; a new file: an append
                kept = base.read_bytes() == was or (was is None and times[0] > moment)
            before = len(computed)
            catalog.refresh()
            got = catalog.cached("n", answer, reads=reads)
            assert got == count_until(open_catalog(root), moment)
            assert (len(computed) == before) == kept, (action, minutes)


@settings(max_examples=10, deadline=None)
@given(
    batches=st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["s1", "s2", "task.created", "task.accepted", "other"]),
                st.sampled_from(["ann", "bob", "cy"]),
                st.integers(0, 30),  # minutes after T0: some after the moment asked about
                st.sampled_from(["w1", "w2", "w3"]),
            ),
            min_size=1,
            max_size=5,
        ),
        min_size=1,
        max_size=4,
    ),
    actors=st.sampled_from([("ann",), ("bob", "cy")]),
)
def test_shared_tables_kept_across_refreshes_give_a_fresh_catalogs_answers(batches, actors) -> None:
    """A live catalog keeps its shared tables (funnel chains for the actor set, the folder's
    task rows) across refreshes that did not touch them: after every refresh its funnel and
    Today under an actor filter equal a fresh catalog's."""
    from opdash.metrics.funnel import funnel
    from opdash.metrics.scope import Scope, scoped
    from opdash.metrics.today import today

    moment = T0 + timedelta(minutes=20)

    def answers(catalog) -> tuple:
        view = scoped(catalog, Scope(actors=actors))
        steps = funnel(view, ["s1", "s2"], window="1h", until=moment).steps
        day = today(view, as_of=moment)
        return [s.count for s in steps], [t.task_id for t in day.pending_tasks], day.counts

    def event(n: int, i: int, kind: str, who: str, minutes: int, workflow: str) -> dict:
        payload = {"task_id": f"T{minutes % 3}"} if kind.startswith("task.") else {}
        actor = {"type": "agent", "id": who}
        return ev(f"e{n}-{i}", kind, minutes * 60, wf=workflow, actor=actor, payload=payload)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_lines(root / "events" / "base.jsonl", [event(0, 0, "s1", actors[0], 0, "w1")])
        catalog = open_catalog(root)
        assert answers(catalog) == answers(open_catalog(root))
        for n, batch in enumerate(batches, start=1):
            write_lines(
                root / "events" / f"f{n}.jsonl",
                [event(n, i, *spec) for i, spec in enumerate(batch)],
            )
            catalog.refresh()
            assert answers(catalog) == answers(open_catalog(root))
