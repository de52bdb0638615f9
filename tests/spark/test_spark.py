"""The Spark engine (Spark Connect, a local server in one process shared by the suite):
every metric gives the same JSON as on DuckDB, the folder reads to the same relations
(hostile files included, repeated ids across Spark tasks), and what can go wrong is one line.

Needs Java and the ``spark`` extra; CI installs both and sets ``OPDASH_REQUIRE_SPARK=1`` so a
missing piece fails there instead of skipping.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from opdash.catalog import open_catalog, shared_catalog
from opdash.cli import main
from tests.fixtures import DEMO, ev, needs_spark, write_lines

pytestmark = needs_spark()

AS_OF = "2026-11-20T16:00:00Z"
STEPS = "signal.created,candidate.created,trade.plan.created,trade.executed"


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def both(
    command: str, folder: Path | str, *args: str, ok: tuple[int, ...] = (0,)
) -> tuple[dict, dict]:
    """``opdash COMMAND FOLDER ARGS --json`` on DuckDB and on Spark, as parsed JSON."""
    answers = []
    for engine in ("duckdb", "spark"):
        code, out, err = cli(command, str(folder), *args, "--json", "--engine", engine)
        assert code in ok, err
        answers.append(json.loads(out))
    return answers[0], answers[1]


@pytest.fixture(scope="module")
def spark_demo():
    """The suite's Spark catalog of the demo folder (the CLI reuses it: one per process)."""
    return shared_catalog(DEMO, engine="spark")


# -- every metric, both engines ---------------------------------------------------------------
METRICS = [
    ("funnel", "--steps", STEPS),
    ("funnel", "--steps", STEPS, "--order", "strict"),
    ("funnel", "--steps", STEPS, "--order", "unordered"),
    ("funnel", "--steps", STEPS, "--breakdown", "payload.symbol", "--window", "2d"),
    ("funnel", "--steps", STEPS, "--by", "actor.id", "--since", "2026-11-05"),
    ("funnel", "--steps", STEPS, "--breakdown", "payload.symbol", "--attribution", "last"),
    ("funnel", "--steps", STEPS, "--breakdown", "payload.symbol", "--attribution", "all"),
    ("funnel", "--steps", "signal.created,candidate.created", "--exclude", "alert.triggered"),
    (
        "funnel",
        "--steps",
        STEPS,
        "--exclude",
        "alert.triggered:2-3",
        "--exclude",
        "journal.updated",
    ),
    ("funnel", "--steps", STEPS, "--order", "unordered", "--exclude", "alert.triggered"),
    (
        "trend",
        "--event",
        "signal.created,trade.executed",
        "--interval",
        "day",
        "--tz",
        "Europe/Berlin",
    ),
    (
        "trend",
        "--event",
        "signal.created",
        "--metric",
        "unique",
        "--by",
        "payload.symbol",
        "--interval",
        "week",
    ),
    ("trend", "--event", "trade.closed", "--metric", "sum:payload.pnl", "--interval", "day"),
    ("trend", "--event", "trade.closed", "--metric", "avg:payload.pnl", "--rolling", "3"),
    ("trend", "--event", "signal.created", "--interval", "hour", "--compare", "previous"),
    ("goals", "--as-of", AS_OF),
    ("today", "--as-of", AS_OF),
    ("today", "--as-of", AS_OF, "--tz", "America/New_York"),
    ("pipeline", "--steps", STEPS, "--as-of", AS_OF),
    ("chain", "wf-0011"),
    (
        "retention",
        "--start",
        "signal.created",
        "--return",
        "signal.created",
        "--by",
        "payload.symbol",
        "--tz",
        "Europe/Berlin",
    ),
    (
        "retention",
        "--start",
        "signal.created",
        "--return",
        "trade.closed",
        "--by",
        "correlation.workflow_id",
        "--interval",
        "day",
        "--mode",
        "recurring",
        "--cumulative",
    ),
    ("paths", "--start", "signal.created", "--exclude", "alert.triggered"),
    ("paths", "--end", "trade.closed", "--steps", "3", "--top", "5"),
    ("paths", "--start", "candidate.created", "--node", "2:trade.plan.created"),
]


@pytest.mark.parametrize("args", METRICS, ids=lambda a: " ".join(a)[:60])
def test_every_metric_gives_the_same_json_on_both_engines(spark_demo, args) -> None:
    duck, spark = both(args[0], DEMO, *args[1:])
    assert same(spark, duck)


def same(a, b) -> bool:
    """Identical, floats to the last bit: sums are exact decimals on both engines (a float
    sum's last digits would depend on the order it adds in), means are rounded once."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)


def test_info_is_the_same_on_both_engines(spark_demo) -> None:
    duck, spark = both("info", DEMO)
    for answer in (duck, spark):
        answer.pop("refreshed_at", None)
    assert spark == duck
    assert spark["events"] > 1000 and spark["quarantined"] > 0 and spark["duplicates"] > 0


# -- the folder contract on Spark -------------------------------------------------------------
def _relations(catalog) -> dict[str, list]:
    """Every relation's rows in a stable order (what both engines must agree on)."""
    queries = {
        "events": "SELECT event_id, event_type, event_version, occurred_at, actor_id, "
        "workflow_id, run_id, CAST(payload AS VARCHAR), CAST(extra AS VARCHAR), source_file, "
        "source_line, source_row FROM events",
        "quarantine": 'SELECT source_file, line, "row", reason, detail, raw FROM quarantine',
        "duplicates": 'SELECT event_id, source_file, line, "row" FROM duplicates',
        "runs": "SELECT run_id, name, kind, status, started_at, heartbeat_at, error FROM runs",
        "alerts": "SELECT run_id, alert_id, raised_at, severity, resolved_at, line FROM alerts",
    }
    return {
        name: sorted(catalog.fetchall(sql), key=lambda row: tuple(str(v) for v in row))
        for name, sql in queries.items()
    }


def hostile_folder(root: Path) -> Path:
    """Damage of every kind, and one event id in three files with other contents."""
    write_lines(
        root / "events" / "a.jsonl",
        [
            ev("e1", "signal.created", 0, payload={"symbol": "ABC", "token": "x"}),
            b'{"event_id": "bad", "event_type": "caf\xe9", "occurred_at": "2026-11-20T09:00:00Z"}',
            '{"event_id": "torn", "event_type": ',
            ev("e2", "signal.created", 1, occurred_at="yesterday"),
            ev("e3", "signal.created", 2, event_version=0),
            '["not", "an", "object"]',
            ev("dup", "candidate.created", 5, unknown_key={"a": 1}),
            ev("e4", "candidate.created", 9),
        ],
    )
    write_lines(root / "events" / "b.jsonl", [ev("dup", "other.type", 6), ev("e5", "t", 7)])
    (root / "events" / "c.json").write_text(
        json.dumps([ev("dup", "third", 8), ev("e6", "t", 3), {"event_id": 5}])
    )
    table = pa.table(
        {
            "event_id": ["p1", "p2", "e5"],
            "event_type": ["trade.executed", "trade.executed", "t"],
            "occurred_at": ["2026-11-20T10:00:00Z", "not a time", "2026-11-20T11:00:00Z"],
        }
    )
    (root / "events" / "d").mkdir()
    pq.write_table(table, root / "events" / "d" / "part.parquet")
    (root / "events" / "e.json").write_text("{ not json")
    run = root / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "run.json").write_text(
        json.dumps({"name": "r", "status": "running", "started_at": "2026-11-20T09:00:00Z"})
    )
    write_lines(run / "events.jsonl", [ev("r-e1", "run.step", 4, run_id="r1")])
    write_lines(
        run / "alerts.jsonl",
        [{"alert_id": "a1", "raised_at": "2026-11-20T09:30:00Z", "severity": "warning"}, "{x"],
    )
    (root / "runs" / "r2").mkdir()
    (root / "runs" / "r2" / "run.json").write_text("[1, 2]")
    return root


def test_hostile_files_read_to_the_same_relations_on_spark(tmp_path, spark_demo) -> None:
    """Torn lines, bad bytes, bad timestamps, a broken whole file, bad parquet rows, run
    folders, and an id repeated across files that Spark reads in separate tasks (one file per
    task): the same events, quarantine (reasons, details, raw text), duplicates and runs."""
    from opdash.catalog.spark import session

    root = hostile_folder(tmp_path)
    with pytest.MonkeyPatch.context() as patch:  # a task per file
        patch.setitem(session.SESSION_CONF, "spark.sql.files.openCostInBytes", str(512 * 2**20))
        spark = open_catalog(root, engine="spark")
    assert spark.spark.session.conf.get("spark.sql.files.openCostInBytes") == str(512 * 2**20)
    duck = open_catalog(root)
    got, want = _relations(spark), _relations(duck)
    assert got == want
    assert [row[0] for row in got["duplicates"]] == ["dup", "dup", "e5"]
    assert {row[3] for row in got["quarantine"]} >= {
        "invalid_utf8",
        "malformed_json",
        "bad_timestamp",
        "bad_event_version",
        "not_an_object",
    }
    assert spark.stats().files == duck.stats().files


def test_two_folders_in_one_process_keep_their_own_relations(tmp_path, spark_demo) -> None:
    """Each catalog has its own Spark session, so its views (``events``, ``quarantine`` …)
    are its own: opening another folder later changes nothing the first one answers."""
    before = _relations(spark_demo)
    write_lines(tmp_path / "events" / "a.jsonl", [ev("x1", "t", 0), "{torn"])
    other = open_catalog(tmp_path, engine="spark")
    assert other.stats().events == 1 and other.stats().quarantined == 1
    assert _relations(spark_demo) == before
    assert spark_demo.stats().events == len(before["events"]) > 1000
    other.close()
    assert _relations(spark_demo) == before


def test_a_refresh_on_spark_reads_the_changed_folder_again(tmp_path, spark_demo) -> None:
    root = tmp_path
    write_lines(root / "events" / "a.jsonl", [ev("e1", "t", 0)])
    spark = open_catalog(root, engine="spark")
    assert spark.stats().events == 1 and spark.version == 1
    assert spark.refresh().version == 1  # nothing changed: nothing read
    write_lines(root / "events" / "b.jsonl", [ev("e2", "t", 1), ev("e1", "t", 2)])
    report = spark.refresh()
    assert (report.version, report.events_added, report.duplicates_added) == (2, 1, 1)
    assert spark.stats().events == 2


def test_a_dst_change_buckets_the_same_on_both_engines(tmp_path, spark_demo) -> None:
    """Europe/Berlin springs forward on 2026-03-29: a 23-hour day, hours 02:00 missing."""
    from datetime import UTC, datetime

    events = [
        ev(f"d{d}-{h}-{m}", "signal.created", datetime(2026, 3, d, h, m, tzinfo=UTC))
        for d in (28, 29, 30)
        for h in range(0, 24, 3)
        for m in (0, 59)
    ]
    write_lines(tmp_path / "events" / "dst.jsonl", events)
    for interval in ("hour", "day"):
        duck, spark = both(
            "trend",
            tmp_path,
            "--event",
            "signal.created",
            "--interval",
            interval,
            "--tz",
            "Europe/Berlin",
            "--since",
            "2026-03-28",
            "--until",
            "2026-03-31",
        )
        assert spark == duck
        assert "2026-03-29" in json.dumps(spark)


# -- what can go wrong, in one line -------------------------------------------------------------
def test_an_unreachable_remote_is_one_line_with_exit_2() -> None:
    code, out, err = cli(
        "info", str(DEMO), "--engine", "spark", "--spark-remote", "sc://127.0.0.1:9"
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "cannot reach the Spark Connect server" in err


@pytest.mark.parametrize("remote", ["http://host:15002", "sc://", "sc://host:port"])
def test_a_bad_remote_url_is_one_line_with_exit_2(remote: str) -> None:
    code, _out, err = cli("info", str(DEMO), "--engine", "spark", "--spark-remote", remote)
    assert code == 2 and err.count("\n") == 1 and remote in err


def test_audit_says_in_one_line_that_it_runs_on_duckdb_only(tmp_path) -> None:
    """audit reports on the embedded deployment (files, bind address, login): not a Spark one."""
    code, out, err = cli(
        "audit", str(DEMO), "--out-json", "a.json", "--out-markdown", "a.md", "--engine", "spark"
    )
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "audit runs on --engine duckdb only" in err


def test_serving_spark_in_several_processes_is_one_line() -> None:
    code, out, err = cli("serve", str(DEMO), "--engine", "spark", "--num-procs", "2")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--num-procs 2 needs --engine duckdb" in err


def test_check_on_spark_names_each_sql_tile_in_one_sentence(spark_demo) -> None:
    """The demo's spec has one SQL tile: on Spark, check names it (file, line, tile) with the
    engine's sentence and fails; everything else it reports is what DuckDB's check reports."""
    duck, spark = both("check", DEMO, ok=(0, 1))
    refused = [p for p in spark["problems"] if p not in duck["problems"]]
    assert [(p["tile"], p["area"], p["severity"]) for p in refused] == [
        ("page 'State', tile 5 (sql)", "engine", "error")
    ]
    assert refused[0]["line"] and refused[0]["message"].startswith("SQL tiles are DuckDB SQL")
    assert [p for p in duck["problems"] if p not in spark["problems"]] == []
    assert spark["errors"] == duck["errors"] + 1 and spark["warnings"] == duck["warnings"]


def test_a_uri_folder_needs_the_spark_engine() -> None:
    code, _out, err = cli("info", "s3a://bucket/exports")
    assert code == 2 and "only --engine spark reads one" in err


def test_sql_tiles_are_refused_on_spark_in_one_sentence(spark_demo) -> None:
    from opdash.errors import UsageError

    with pytest.raises(UsageError, match="SQL tiles are DuckDB SQL"):
        spark_demo.user_cursor()


def test_the_duckdb_path_never_imports_pyspark() -> None:
    code = (
        "import sys; from opdash.cli import main; "
        f"main(['funnel', {str(DEMO)!r}, '--steps', 'signal.created,candidate.created', '--json']); "
        "assert 'pyspark' not in sys.modules, 'pyspark imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", ["info", "serve"])
def test_no_pyspark_is_one_line_with_exit_2(command: str) -> None:
    """A machine without the spark extra (pyspark hidden from this interpreter)."""
    code = (
        "import sys; sys.modules['pyspark'] = None; from opdash.cli import main; "
        f"sys.exit(main([{command!r}, {str(DEMO)!r}, '--engine', 'spark']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "needs pyspark with its Connect client" in done.stderr


def test_a_spark_command_prints_only_its_json_on_stdout() -> None:
    """A real `opdash info --engine spark --json` process: the local server's start-up
    chatter stays off stdout, which holds exactly one JSON document."""
    done = subprocess.run(
        [sys.executable, "-m", "opdash.cli", "info", str(DEMO), "--engine", "spark", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["events"] > 1000


def test_a_local_spark_that_cannot_start_is_one_line(tmp_path) -> None:
    """A Java that fails at start: one line with its reason and where the log is, exit 2."""
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text('#!/bin/sh\necho "Error: Could not reserve enough space" >&2\nexit 1\n')
    java.chmod(0o755)
    done = subprocess.run(
        [sys.executable, "-m", "opdash.cli", "info", str(DEMO), "--engine", "spark"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "JAVA_HOME": str(java.parent.parent)},
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "the local Spark server did not start: Error: Could not reserve" in done.stderr
