"""The dashboard spec (``dashboard.yaml``) as its author meets it: ``opdash check`` and the start-up
check of ``opdash serve``.

What is proved:

* Every kind of mistake in a spec is reported in the author's words: the file, the line, the tile
  (``page 'Overview', tile 2 (funnel)``) and what is wrong, with a "did you mean" where one is
  close — YAML that does not parse, unknown keys, wrong types, missing keys, an unsupported
  version, unknown tile types and enum values, bad windows / metrics / field paths, ``source:``
  files that are missing, unreadable or outside the folder (``..``, absolute, a symlink), duplicate
  page names, YAML anchors and the "billion laughs" bomb. SQL tiles are parsed, not
  pattern-matched: writes, ATTACH, COPY, file reads, getenv, schema-qualified names, SHOW /
  DESCRIBE / SUMMARIZE, PRAGMA, SET and second statements are refused saying why; plain SELECTs
  (WITH, UNION, VALUES, joins, a trailing ``;`` and comment) pass and run.
* One run reports every problem of a spec, sorted by line; goals.yaml problems are listed goal by
  goal; event types that never occur are warnings (exit 0) with a did-you-mean; quarantined data
  is listed per file, line and reason (exit 1) but never stops ``serve``.
* ``opdash check --json`` has a stable shape; exit codes are 0 (ok or warnings only), 1 (errors),
  2 (a bad option or a missing --spec file). ``opdash check`` imports no drawing library and
  writes nothing into the folder.
* The shipped JSON Schema is a valid Draft 2020-12 schema whose tile types, keys, enums and
  integer bounds are exactly the components' own parameters.
* A spec survives ``to_dict``/``from_dict`` and ``to_yaml``/check unchanged (the built-in spec,
  the demo's, and hypothesis-generated ones).
* The built-in spec draws the previous default app: the same pages, views, URL mirroring and
  headings.
* ``opdash serve`` stops (exit 2) on a broken spec, printing each problem and pointing at
  ``--lenient``; with ``--lenient`` it serves and the broken tiles are error cards.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from opdash.spec import (
    TILE_TYPES,
    DashboardSpec,
    PageSpec,
    TileSpec,
    check_folder,
    check_spec_text,
    default_spec,
)
from opdash.spec.model import default_spec_text
from tests.fixtures import DEMO, cli_in_fresh_python, ev, run_clis, write_lines
from tests.servers import copy_demo, free_port, opdash_serve, session_text

# -- helpers ------------------------------------------------------------------------------------

HEAD = "version: 1\npages:\n  - title: Overview\n    tiles:\n"


def one_page(tiles: str) -> str:
    """A spec of one page 'Overview' whose tiles (YAML list items) start on line 5."""
    return HEAD + textwrap.indent(textwrap.dedent(tiles).strip("\n") + "\n", " " * 6)


def sql_spec(sql: str) -> str:
    """One sql tile; its ``sql:`` (a literal block) is on line 6."""
    return one_page("- type: sql\n  sql: |\n" + textwrap.indent(sql.strip() + "\n", "    "))


def tile(n: int, kind: str | None) -> str:
    """The label problems give a tile of the page 'Overview'."""
    return f"page 'Overview', tile {n}" + (f" ({kind})" if kind else "")


def errors_of(text: str, root: Path | None = None):
    """The errors of a spec text that must not pass (the spec is None)."""
    spec, problems, _ = check_spec_text(text, source="dashboard.yaml", root=root)
    errors = [p for p in problems if p.severity == "error"]
    assert spec is None and errors, f"accepted:\n{text}"
    return errors


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_clis(list(args))[0]


LOOP = [ev("e1", "signal.created"), ev("e2", "trade.closed", 60), ev("e3", "trade.closed", 120)]


def artifacts(root: Path, *, spec: str | None = None, goals: str | None = None) -> Path:
    """A small artifact folder: three valid events, and the spec / goals given."""
    write_lines(root / "events" / "loop.jsonl", LOOP)
    if spec is not None:
        (root / "dashboard.yaml").write_text(spec, encoding="utf-8")
    if goals is not None:
        (root / "goals.yaml").write_text(goals, encoding="utf-8")
    return root


def goal(gid: str, *, metric: str = "count", event: str = "trade.closed", period: str = "week"):
    """One goals.yaml list item (7 lines)."""
    return (
        f"  - id: {gid}\n    title: Goal {gid}\n    metric: {metric}\n    event: {event}\n"
        f"    target: 3\n    period: {period}\n    direction: up\n"
    )


def fingerprint(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its kind, size, mtime and content hash."""
    out = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        out[str(path.relative_to(root))] = (stat.st_mode, stat.st_size, stat.st_mtime_ns, digest)
    return out


# -- 1. one problem of each kind ----------------------------------------------------------------


@pytest.fixture(scope="module")
def art(tmp_path_factory) -> Path:
    """A folder for ``source:`` checks, with a file outside it and a symlink leading there."""
    base = tmp_path_factory.mktemp("sources")
    (base / "outside.md").write_text("# not yours\n")
    root = base / "art"
    (root / "state").mkdir(parents=True)
    (root / "state" / "notes.md").write_text("# Notes\n")
    (root / "state" / "STATE.json").write_text('{"phase": 2}\n')
    (root / "state" / "bad.json").write_text('{"phase": 2,\n')
    (root / "state" / "link.md").symlink_to(base / "outside.md")
    return root


BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]
"""

#: (id, spec text, line, tile label, phrase of the message). OUTSIDE stands for an absolute path.
CASES = [
    (
        "yaml-indentation",
        "version: 1\npages:\n  - title: Overview\n   tiles:\n      - type: today\n",
        4,
        None,
        "not valid YAML: expected <block end>",
    ),
    (
        "yaml-unclosed-mapping",
        "version: 1\npages: [\n  {title: A, tiles: [{type: today}]\n",
        4,
        None,
        "not valid YAML: expected ',' or '}', but got '<stream end>' (while parsing a flow "
        "mapping started at line 3)",
    ),
    (
        "yaml-unclosed-quote",
        'version: 1\ntitle: "Ops\npages: []\n',
        4,
        None,
        "not valid YAML: found unexpected end of stream (while scanning a quoted scalar started "
        "at line 2)",
    ),
    (
        "yaml-tab",
        "version: 1\npages:\n\t- title: Overview\n",
        3,
        None,
        "found character '\\t' that cannot start any token",
    ),
    (
        "unknown-top-key",
        "version: 1\ntitel: Ops\npages:\n  - title: Overview\n    tiles:\n      - type: today\n",
        2,
        None,
        "unknown key 'titel' — did you mean 'title'?",
    ),
    (
        "unknown-page-key",
        "version: 1\npages:\n  - title: Overview\n    tilez: []\n    tiles:\n      - type: today\n",
        4,
        "page 'Overview'",
        "unknown key 'tilez' — did you mean 'tiles'?",
    ),
    (
        "unknown-tile-key",
        one_page("- type: today\n- type: funnel\n  stpes: [a, b]"),
        7,
        tile(2, "funnel"),
        "unknown key 'stpes' — did you mean 'steps'?",
    ),
    (
        "rolling-not-a-number",
        one_page("- type: trend\n  rolling: many"),
        6,
        tile(1, "trend"),
        'rolling must be a whole number, not "many"',
    ),
    (
        "controls-not-a-boolean",
        one_page('- type: trend\n  controls: "yes"'),
        6,
        tile(1, "trend"),
        'controls must be true or false, not "yes"',
    ),
    (
        "tile-is-a-string",
        one_page("- today"),
        5,
        tile(1, None),
        'a tile must be a mapping (key: value), not "today"',
    ),
    ("pages-is-a-mapping", "version: 1\npages: {}\n", 2, None, "pages must be a list, not {}"),
    ("no-pages-at-all", "version: 1\npages: []\n", 2, None, "a spec needs at least one page"),
    (
        "missing-version",
        "pages:\n  - title: Overview\n    tiles:\n      - type: today\n",
        1,
        None,
        "missing 'version'",
    ),
    ("missing-pages", "version: 1\ntitle: Ops\n", 1, None, "missing 'pages'"),
    (
        "missing-page-title",
        "version: 1\npages:\n  - tiles:\n      - type: today\n",
        3,
        "page 1",
        "missing 'title'",
    ),
    (
        "missing-page-tiles",
        "version: 1\npages:\n  - title: Overview\n",
        3,
        "page 'Overview'",
        "missing 'tiles'",
    ),
    (
        "missing-markdown-source",
        one_page("- type: markdown\n  title: Notes"),
        5,
        tile(1, "markdown"),
        "missing 'source'",
    ),
    ("missing-sql", one_page("- type: sql"), 5, tile(1, "sql"), "missing 'sql'"),
    (
        "unknown-tile-type",
        one_page("- type: funnnel"),
        5,
        tile(1, "funnnel"),
        "unknown tile type 'funnnel' — did you mean 'funnel'?",
    ),
    (
        "missing-tile-type",
        one_page("- title: Loop"),
        5,
        tile(1, None),
        "missing 'type'",
    ),
    (
        "bad-interval",
        one_page("- type: trend\n  interval: weekly"),
        6,
        tile(1, "trend"),
        "bad interval 'weekly' — did you mean 'week'?",
    ),
    (
        "bad-order",
        one_page("- type: funnel\n  order: strickt"),
        6,
        tile(1, "funnel"),
        "bad order 'strickt' — did you mean 'strict'?",
    ),
    (
        "bad-window",
        one_page("- type: kpi\n  window: 14x"),
        6,
        tile(1, "kpi"),
        "bad window '14x'",
    ),
    (
        "zero-window",
        one_page("- type: funnel\n  window: 0d"),
        6,
        tile(1, "funnel"),
        "bad window '0d': it must be longer than zero",
    ),
    (
        "bad-metric",
        one_page("- type: kpi\n  metric: cont"),
        6,
        tile(1, "kpi"),
        "bad metric 'cont' — did you mean 'count'?",
    ),
    (
        "bad-metric-path",
        one_page("- type: trend\n  metric: sum:paylod.pnl"),
        6,
        tile(1, "trend"),
        "unknown field path 'paylod.pnl'",
    ),
    (
        "bad-breakdown-path",
        one_page("- type: funnel\n  breakdown: contxt.market"),
        6,
        tile(1, "funnel"),
        "unknown field path 'contxt.market' — did you mean 'context.<key>'?",
    ),
    (
        "bad-by-path",
        one_page("- type: funnel\n  by: actr.id"),
        6,
        tile(1, "funnel"),
        "unknown field path 'actr.id' — did you mean 'actor.id'?",
    ),
    (
        # FunnelView refuses by='' ("unknown field path ''"); only breakdown may be empty
        "empty-by-path",
        one_page("- type: funnel\n  by: ''"),
        6,
        tile(1, "funnel"),
        "unknown field path ''",
    ),
    (
        "step-listed-twice",
        one_page("- type: funnel\n  steps: [a, b, a]"),
        6,
        tile(1, "funnel"),
        "a step is listed twice",
    ),
    (
        "no-such-dropped-at-step",
        one_page("- type: funnel\n  steps: [a, b]\n  dropped_at: 3"),
        7,
        tile(1, "funnel"),
        "there is no step 3",
    ),
    (
        "feed-limit-too-small",
        one_page("- type: feed\n  limit: 5"),
        6,
        tile(1, "feed"),
        "limit: 5 is less than the minimum of 10",
    ),
    (
        "source-missing",
        one_page("- type: markdown\n  source: state/nothing.md"),
        6,
        tile(1, "markdown"),
        "state/nothing.md: no such file in the artifact folder",
    ),
    (
        "source-dotdot",
        one_page("- type: markdown\n  source: ../outside.md"),
        6,
        tile(1, "markdown"),
        "source '../outside.md' leads out of the artifact folder",
    ),
    (
        "source-absolute",
        one_page("- type: markdown\n  source: OUTSIDE"),
        6,
        tile(1, "markdown"),
        "must be a path relative to the artifact folder",
    ),
    (
        "source-symlink-out",
        one_page("- type: markdown\n  source: state/link.md"),
        6,
        tile(1, "markdown"),
        "source 'state/link.md' leads out of the artifact folder",
    ),
    (
        "source-a-folder",
        one_page("- type: markdown\n  source: state"),
        6,
        tile(1, "markdown"),
        "state is not a file",
    ),
    (
        "json-state-invalid-json",
        one_page("- type: json-state\n  source: state/bad.json"),
        6,
        tile(1, "json-state"),
        "state/bad.json: not valid JSON (line 2",
    ),
    (
        "duplicate-page-name",
        "version: 1\npages:\n  - title: Trends & Goals\n    tiles: [{type: today}]\n"
        "  - title: T\n    name: trends-goals\n    tiles: [{type: today}]\n",
        5,
        "page 'T'",
        "page name 'trends-goals' is used by page 1 too",
    ),
    (
        "bad-page-name",
        "version: 1\npages:\n  - title: Overview\n    name: Over View\n    tiles: [{type: today}]\n",
        4,
        "page 'Overview'",
        'bad page name "Over View"',
    ),
    (
        "yaml-anchor",
        "version: 1\npages:\n  - &page\n    title: A\n    tiles: [{type: today}]\n  - *page\n",
        3,
        None,
        "YAML anchors (&name) are not allowed",
    ),
    ("yaml-alias", "version: 1\npages: *pages\n", 2, None, "YAML aliases (*name) are not allowed"),
    ("billion-laughs", BOMB, 1, None, "this also stops a 'YAML bomb'"),
    (
        "repeated-key",
        one_page("- type: today\n  type: kpi"),
        6,
        None,
        "key 'type' appears twice",
    ),
    (
        "python-tag",
        "version: 1\npages: !!python/object/apply:os.system [echo hi]\n",
        2,
        None,
        "not valid YAML: could not determine a constructor",
    ),
    ("empty-file", "", 1, None, "the spec is empty"),
    (
        "unknown-layout-key",
        "version: 1\npages:\n  - title: Overview\n    layout: {colums: 2}\n    tiles: [{type: today}]\n",
        4,
        "page 'Overview'",
        "unknown key 'colums' — did you mean 'columns'?",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "tile_label", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_kind_of_mistake_is_named_with_its_line_and_tile(art, text, line, tile_label, phrase):
    text = text.replace("OUTSIDE", str(art.parent / "outside.md"))
    errors = errors_of(text, root=art)
    assert len(errors) == 1, [p.text() for p in errors]
    (problem,) = errors
    where = f"dashboard.yaml:{line}: error: " + (f"{tile_label}: " if tile_label else "")
    assert problem.text().startswith(where), problem.text()
    assert (problem.file, problem.line, problem.tile) == ("dashboard.yaml", line, tile_label)
    assert phrase in problem.message, problem.text()


def test_an_unsupported_version_is_named_exactly():
    (problem,) = errors_of("version: 99\npages:\n  - title: A\n    tiles: [{type: tody}]\n")
    assert problem.message == "dashboard.yaml has version 99; this opdash supports version 1"
    assert problem.line == 1 and problem.tile is None
    assert problem.text().startswith("dashboard.yaml:1: error: dashboard.yaml has version 99;")


def test_an_unknown_key_lists_the_keys_of_that_tile_type():
    (problem,) = errors_of(one_page("- type: today\n- type: funnel\n  stpes: [a, b]"))
    assert problem.text() == (
        "dashboard.yaml:7: error: page 'Overview', tile 2 (funnel): unknown key 'stpes' — did you "
        "mean 'steps'? (keys of a funnel tile: type, title, controls, steps, window, order, by, "
        "breakdown, attribution, actor_filter, dropped_at, chain, details)"
    )


def test_an_unknown_layout_key_is_not_called_a_key_of_the_page():
    text = "version: 1\npages:\n  - title: A\n    layout: {colums: 2}\n    tiles: [{type: today}]\n"
    (problem,) = errors_of(text)
    assert problem.hint.endswith("columns, width, height")
    # a page's keys are title, name, layout, tiles: these are its layout's
    assert "layout" in problem.hint, problem.text()


# -- 1b. SQL tiles --------------------------------------------------------------------------------

NOT_SELECT = "only a SELECT statement is allowed"
REFUSED_SQL = [
    ("insert", "INSERT INTO events (event_id) VALUES ('x')", NOT_SELECT),
    ("update", "UPDATE events SET event_type = 'x'", NOT_SELECT),
    ("delete", "DELETE FROM events", NOT_SELECT),
    ("create", "CREATE TABLE t AS SELECT * FROM events", NOT_SELECT),
    ("drop", "DROP TABLE events", NOT_SELECT),
    ("attach", "ATTACH '/tmp/other.duckdb' AS other", NOT_SELECT),
    ("copy-to-file", "COPY (SELECT * FROM events) TO '/tmp/leak.csv'", NOT_SELECT),
    ("copy-table", "COPY events TO 'leak.parquet' (FORMAT parquet)", NOT_SELECT),
    ("pragma", "PRAGMA database_list", NOT_SELECT),
    ("set", "SET threads = 1", NOT_SELECT),
    ("install", "INSTALL httpfs", NOT_SELECT),
    (
        "read_csv",
        "SELECT * FROM read_csv('/etc/passwd')",
        "table function 'read_csv' is not allowed",
    ),
    ("read_json", "SELECT * FROM read_json('x.json')", "table function 'read_json' is not allowed"),
    (
        "read_parquet",
        "SELECT * FROM read_parquet('x.parquet')",
        "table function 'read_parquet' is not allowed",
    ),
    ("read_text", "SELECT * FROM read_text('/etc/passwd')", "table function 'read_text'"),
    ("glob", "SELECT * FROM glob('*')", "table function 'glob' is not allowed"),
    ("from-a-path", "SELECT * FROM '/etc/passwd'", "'/etc/passwd' is not a catalog table"),
    ("from-a-file", "SELECT * FROM 'x.parquet'", "'x.parquet' is not a catalog table"),
    ("other-table", "SELECT * FROM sqlite_master", "'sqlite_master' is not a catalog table"),
    ("getenv", "SELECT getenv('HOME') AS home", "function 'getenv' is not allowed"),
    (
        "getenv-in-lateral",
        "SELECT * FROM events, LATERAL (SELECT getenv('HOME'))",
        "function 'getenv' is not allowed",
    ),
    (
        "main.events",
        "SELECT * FROM main.events",
        "'main.events': name a catalog table without a schema",
    ),
    (
        "information_schema",
        "SELECT * FROM information_schema.tables",
        "'information_schema.tables': name a catalog table without a schema",
    ),
    ("show", "SHOW TABLES", "SHOW, DESCRIBE and SUMMARIZE are not allowed"),
    ("describe", "DESCRIBE events", "SHOW, DESCRIBE and SUMMARIZE are not allowed"),
    ("summarize", "SUMMARIZE events", "SHOW, DESCRIBE and SUMMARIZE are not allowed"),
    ("two-selects", "SELECT 1; SELECT 2", "give exactly one SELECT statement (this query has 2)"),
    ("select-then-drop", "SELECT 1; DROP TABLE events", NOT_SELECT),
    ("typo", "SELEC 1", "the query does not parse"),
    (
        # a CTE's name must not make the same name, outside its scope, a readable file
        "cte-named-like-a-file",
        'WITH "/tmp/leak.csv" AS (SELECT * FROM "/tmp/leak.csv") SELECT * FROM "/tmp/leak.csv"',
        "the query is refused",
    ),
]


@pytest.mark.parametrize(
    ("sql", "why"), [c[1:] for c in REFUSED_SQL], ids=[c[0] for c in REFUSED_SQL]
)
def test_sql_tiles_that_write_or_read_outside_the_catalog_are_refused(sql, why):
    (problem,) = errors_of(sql_spec(sql))
    assert problem.text().startswith(f"dashboard.yaml:6: error: {tile(1, 'sql')}: ")
    assert problem.message.startswith("the query is refused: "), problem.text()
    assert why in problem.message, problem.text()


ACCEPTED_SQL = [
    "WITH t AS (SELECT event_type FROM events) SELECT event_type, count(*) AS n FROM t GROUP BY 1",
    "SELECT event_type FROM events UNION SELECT 'none'",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT e.event_type, r.status, a.severity\nFROM events e\nJOIN runs r ON e.run_id = r.run_id\n"
    "LEFT JOIN alerts a ON a.run_id = r.run_id",
    "SELECT count(*) AS n FROM events; -- every event",
    "SELECT * FROM range(3)",
]


def test_read_only_selects_are_accepted_and_run(tmp_path):
    from opdash.catalog import open_catalog
    from opdash.metrics.sql import run_sql

    catalog = open_catalog(artifacts(tmp_path))
    for sql in ACCEPTED_SQL:
        spec, problems, _ = check_spec_text(sql_spec(sql))
        assert problems == [] and spec is not None, (sql, [p.text() for p in problems])
        assert spec.pages[0].tiles[0].options["sql"].strip() == sql
        run_sql(catalog, sql)  # what passes the check also runs


def test_the_cte_loophole_really_reads_a_file(tmp_path):
    """What the refused 'cte-named-like-a-file' query does when it is let through: it reads a
    CSV file from anywhere on disk into the tile."""
    from opdash.catalog import open_catalog
    from opdash.metrics.sql import read_only_problem, run_sql

    leak = tmp_path / "outside" / "leak.csv"
    leak.parent.mkdir()
    leak.write_text("word,value\nprivate,42\n")
    sql = f'WITH "{leak}" AS (SELECT * FROM "{leak}") SELECT * FROM "{leak}"'
    if read_only_problem(sql) is None:
        rows = run_sql(open_catalog(artifacts(tmp_path / "art")), sql).rows
        pytest.fail(f"a spec's SQL tile read {leak} outside the catalog: {rows}")


# -- 2. every problem in one run ------------------------------------------------------------------

MANY = """\
version: 1
titel: Ops
pages:
  - title: Overview
    tiles:
      - type: funnnel
      - type: trend
        interval: weekly
      - type: kpi
        window: 14x
      - type: sql
        sql: DROP TABLE events
  - title: Activity
    tiles:
      - type: markdown
      - type: funnel
        stpes: [a, b]
      - type: feed
        limit: many
"""


def test_one_run_reports_every_problem_sorted_by_line():
    problems = errors_of(MANY)
    assert [p.line for p in problems] == [2, 6, 8, 10, 12, 15, 17, 19]
    assert [p.tile for p in problems] == [
        None,
        tile(1, "funnnel"),
        tile(2, "trend"),
        tile(3, "kpi"),
        tile(4, "sql"),
        "page 'Activity', tile 1 (markdown)",
        "page 'Activity', tile 2 (funnel)",
        "page 'Activity', tile 3 (feed)",
    ]
    phrases = [
        "unknown key 'titel'",
        "unknown tile type 'funnnel'",
        "bad interval 'weekly'",
        "bad window '14x'",
        "the query is refused",
        "missing 'source'",
        "unknown key 'stpes'",
        "limit must be a whole number",
    ]
    for problem, phrase in zip(problems, phrases, strict=True):
        assert phrase in problem.message, problem.text()


def test_a_page_level_problem_does_not_hide_a_duplicate_page_name():
    text = (
        "version: 1\npages:\n  - title: Overview\n    tiles: [{type: today}]\n"
        "  - title: Overview\n    layout: {colums: 2}\n    tiles: [{type: today}]\n"
    )
    problems = errors_of(text)
    assert [(p.line, p.message.split(" —")[0]) for p in problems] == [
        (5, "page name 'overview' is used by page 1 too"),
        (6, "unknown key 'colums'"),
    ], [p.text() for p in problems]


# -- 3. event types that never occur: warnings --------------------------------------------------

TYPO_SPEC = one_page(
    """
    - type: funnel
      steps: [signal.created, trade.clsed]
    - type: kpi
      event_types: [signal.creatd]
    """
)


def test_event_types_missing_from_the_data_are_warnings_with_a_suggestion(tmp_path):
    folder = artifacts(tmp_path, spec=TYPO_SPEC, goals="goals:\n" + goal("g1", event="trade.closd"))
    report = check_folder(folder)
    assert report.errors == [] and report.blocking == []
    assert [p.text() for p in report.warnings] == [
        f"dashboard.yaml:5: warning: {tile(1, 'funnel')}: event type 'trade.clsed' in steps never "
        "occurs in the data — did you mean 'trade.closed'? (its counts stay 0 until such events "
        "arrive)",
        f"dashboard.yaml:7: warning: {tile(2, 'kpi')}: event type 'signal.creatd' in event_types "
        "never occurs in the data — did you mean 'signal.created'? (its counts stay 0 until such "
        "events arrive)",
        "goals.yaml:2: warning: goal 'g1': event type 'trade.closd' never occurs in the data — did "
        "you mean 'trade.closed'? (its progress stays 0 until such events arrive)",
    ]
    assert report.spec.pages[0].tiles[0].options["steps"] == ["signal.created", "trade.clsed"]
    proc = run_cli("check", str(folder))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [p.text() for p in report.problems]
    assert "ok: 0 error(s), 3 warning(s)" in proc.stderr


# -- 4. goals.yaml -------------------------------------------------------------------------------

BROKEN_GOALS = (
    "goals:\n"
    + goal("g1", metric="cuont")  # lines 2-8
    + goal("g2")  # lines 9-15: fine
    + goal("g3", period="weekk")  # lines 16-22
)


def test_each_broken_goal_is_listed_with_its_line(tmp_path):
    folder = artifacts(tmp_path, goals=BROKEN_GOALS)
    report = check_folder(folder)
    texts = [p.text() for p in report.errors]
    assert texts == [
        "goals.yaml:2: error: goal 'g1': unknown metric 'cuont' — did you mean 'count'? "
        "(use count, unique, unique:PATH, sum:PATH, conversion)",
        "goals.yaml:16: error: goal 'g3': bad period 'weekk' — did you mean 'week'? "
        "(use day, week, month, quarter)",
    ]
    assert [p.area for p in report.errors] == ["goals", "goals"]
    assert report.blocking == report.errors
    proc = run_cli("check", str(folder))
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == texts
    assert "problems found: 2 error(s), 0 warning(s)" in proc.stderr


def test_a_broken_goal_does_not_hide_a_valid_goals_missing_event_type(tmp_path):
    goals = "goals:\n" + goal("g1", metric="cuont") + goal("g2", event="trade.closd")
    report = check_folder(artifacts(tmp_path, goals=goals))
    assert [p.line for p in report.errors] == [2]
    assert [p.text() for p in report.warnings] == [
        "goals.yaml:9: warning: goal 'g2': event type 'trade.closd' never occurs in the data — did "
        "you mean 'trade.closed'? (its progress stays 0 until such events arrive)"
    ]


def test_a_goals_file_that_does_not_parse_names_its_line_once(tmp_path):
    report = check_folder(artifacts(tmp_path, goals="goals:\n  - id: g1\n   title: T\n"))
    (problem,) = report.errors
    assert (problem.file, problem.line, problem.area) == ("goals.yaml", 3, "goals")
    assert "not valid YAML" in problem.message
    assert problem.text().startswith("goals.yaml:3: error: ")
    assert not problem.message.startswith("line "), problem.text()  # not "goals.yaml:3: … line 3:"


# -- 5. data problems ----------------------------------------------------------------------------


def broken_data(root: Path) -> Path:
    """Valid events, two malformed lines, a bad timestamp and an unreadable .json file."""
    write_lines(
        root / "events" / "a.jsonl",
        [
            ev("e1", "signal.created"),
            ev("e2", "trade.closed", 60),
            "{not json",
            json.dumps({"event_id": "e3", "event_type": "x", "occurred_at": "yesterday"}),
            ev("e4", "trade.closed", 120),
            '{"event_id": "e5", ',
        ],
    )
    (root / "events" / "b.json").write_text('{"event_id": ')
    return root


def test_quarantined_data_is_listed_by_file_line_and_reason(tmp_path):
    folder = broken_data(tmp_path)
    report = check_folder(folder)
    hint = " (fix what writes it; every valid record is loaded)"
    texts = [p.text() for p in report.problems]
    assert texts == [
        "events/a.jsonl:3: error: 2 records quarantined (malformed_json), the first: not valid JSON"
        + hint,
        'events/a.jsonl:4: error: 1 record quarantined (bad_timestamp): occurred_at "yesterday" '
        "is not an RFC 3339 timestamp" + hint,
        "events/b.json:1: error: 1 record quarantined (malformed_json): not valid JSON: "
        "Expecting value" + hint,
    ]
    assert {p.area for p in report.problems} == {"data"}
    assert report.blocking == []  # broken data never stops serve
    assert report.spec == default_spec() and report.spec_file is None
    # `opdash check` prints these and exits 1: test_check_imports_no_drawing_library


def test_an_unreadable_file_keeps_its_reason(tmp_path):
    folder = artifacts(tmp_path)
    (folder / "events" / "broken.parquet").write_bytes(b"not a parquet file at all")
    (problem,) = check_folder(folder).errors
    assert (problem.file, problem.line, problem.area) == ("events/broken.parquet", None, "data")
    assert problem.message.startswith("the file could not be read: ")
    assert "not a readable parquet file" in problem.message, problem.text()


# -- 6. opdash check --json and exit codes --------------------------------------------------------


PROBLEM_KEYS = {"file", "line", "tile", "message", "hint", "severity"}


def test_check_json_shape_and_exit_codes(tmp_path):
    warned = artifacts(tmp_path / "warned", spec=TYPO_SPEC)
    broken = artifacts(tmp_path / "broken", spec=one_page("- type: funnnel"))
    warn, bad, no_spec, bad_option = run_clis(
        ["check", str(warned), "--json"],
        ["check", str(broken), "--json"],
        ["check", str(warned), "--spec", str(tmp_path / "nope.yaml"), "--json"],
        ["check", str(warned), "--jsn"],
    )
    assert (warn.returncode, bad.returncode) == (0, 1), warn.stderr + bad.stderr
    data = json.loads(warn.stdout)
    assert {k: v for k, v in data.items() if k != "problems"} == {
        "folder": str(warned),
        "spec_file": "dashboard.yaml",
        "ok": True,  # warnings only
        "errors": 0,
        "warnings": 2,
    }
    assert data["problems"] == check_folder(warned).to_dict()["problems"]
    assert [(p["line"], p["severity"]) for p in data["problems"]] == [
        (5, "warning"),
        (7, "warning"),
    ]
    data = json.loads(bad.stdout)
    assert (data["ok"], data["errors"], data["warnings"]) == (False, 1, 0)
    (problem,) = data["problems"]
    assert set(problem) >= PROBLEM_KEYS
    assert {k: problem[k] for k in PROBLEM_KEYS} == {
        "file": "dashboard.yaml",
        "line": 5,
        "tile": tile(1, "funnnel"),
        "message": "unknown tile type 'funnnel' — did you mean 'funnel'?",
        "hint": "tile types: " + ", ".join(TILE_TYPES),
        "severity": "error",
    }
    for proc, bad_value in ((no_spec, "nope.yaml"), (bad_option, "--jsn")):
        assert proc.returncode == 2 and proc.stdout == ""
        (line,) = proc.stderr.strip().splitlines()
        assert bad_value in line and "Traceback" not in proc.stderr


# -- 7. the shipped JSON Schema ------------------------------------------------------------------

#: Parameters with precedence < 0 that the server sets, never a spec.
SERVER_SETTINGS = {"stale_after"}


def test_the_shipped_schema_is_the_one_generated_from_the_components():
    """opdash/schemas/dashboard.schema.json is what ``python -m opdash.spec.schema`` writes:
    a component's parameter changed without regenerating the file fails here."""
    from opdash.spec.schema import SHIPPED, schema_text

    assert SHIPPED.read_text(encoding="utf-8") == schema_text()


def test_the_schema_is_draft_2020_12_and_matches_the_components():
    import param
    from jsonschema import Draft202012Validator

    from opdash.components.base import CatalogView
    from opdash.spec.check import dashboard_schema
    from opdash.spec.tiles import TILE_KEYS

    schema = dashboard_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    defs = schema["$defs"]
    assert defs["tile"]["properties"]["type"]["enum"] == list(TILE_TYPES)
    branches = {
        b["if"]["properties"]["type"]["const"]: b["then"]["$ref"] for b in defs["tile"]["allOf"]
    }
    assert branches == {name: f"#/$defs/tile-{name}" for name in TILE_TYPES}
    shared = set(CatalogView.param) | {"name"}
    for name, kind in TILE_TYPES.items():
        cls = kind.component_class()
        layout = [
            p
            for p in cls.param
            if p not in shared and (cls.param[p].precedence or 0) < 0 and p not in SERVER_SETTINGS
        ]
        own = [*cls.choices(), *layout]
        props = defs[f"tile-{name}"]["properties"]
        assert set(props) == {*TILE_KEYS, *own}, name
        assert props["type"] == {"const": name}
        assert defs[f"tile-{name}"]["additionalProperties"] is False
        for key in own:
            parameter = cls.param[key]
            if isinstance(parameter, param.Selector):
                assert props[key]["enum"] == list(parameter.objects), (name, key)
            elif isinstance(parameter, param.Integer):
                low, high = parameter.bounds or (None, None)
                assert props[key].get("minimum") == low, (name, key)
                assert props[key].get("maximum") == high, (name, key)
            elif isinstance(parameter, param.Boolean):
                assert props[key]["type"] == "boolean", (name, key)
            elif isinstance(parameter, param.List):
                assert props[key]["type"] == "array", (name, key)
            else:
                assert props[key]["type"] == "string", (name, key)
    validator = Draft202012Validator(schema)
    for text in (default_spec_text(), (DEMO / "dashboard.yaml").read_text()):
        assert list(validator.iter_errors(yaml.safe_load(text))) == []


# -- 8. round trips ------------------------------------------------------------------------------


def assert_round_trips(spec: DashboardSpec) -> None:
    assert DashboardSpec.from_dict(spec.to_dict()) == spec
    again, problems, _ = check_spec_text(spec.to_yaml())
    assert problems == [], [p.text() for p in problems]
    assert again == spec, spec.to_yaml()


def test_the_built_in_and_the_demo_spec_round_trip():
    spec = default_spec()
    assert spec.to_dict() == yaml.safe_load(default_spec_text())
    assert_round_trips(spec)
    text = (DEMO / "dashboard.yaml").read_text(encoding="utf-8")
    demo, problems, _ = check_spec_text(text, root=DEMO)
    assert problems == [] and demo is not None, [p.text() for p in problems]
    assert demo.to_dict() == yaml.safe_load(text)
    assert_round_trips(demo)
    # the demo adds a page to the built-in ones, and asks its retention of symbols
    built_in = [(p.title, [t.type for t in p.tiles]) for p in spec.pages]
    assert [(p.title, [t.type for t in p.tiles]) for p in demo.pages[: len(spec.pages)]] == built_in
    differ = [
        (t.type, t.options)
        for mine, theirs in zip(demo.pages, spec.pages, strict=False)
        for t, u in zip(mine.tiles, theirs.tiles, strict=True)
        if (t.options, t.title) != (u.options, u.title)
    ]
    assert differ == [("retention", {"start_event": "signal.created",
                                     "return_event": "signal.created", "by": "payload.symbol",
                                     "periods": 4})]  # fmt: skip


TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=40
)
EVENT_TYPES = ["signal.created", "candidate.created", "trade.closed", "alert.triggered"]
PATHS = st.sampled_from(["actor.id", "correlation.workflow_id", "payload.symbol", "context.market"])
METRICS = st.sampled_from(
    ["count", "unique", "unique:payload.symbol", "sum:payload.pnl", "avg:payload.pnl"]
)
WINDOWS = st.builds("{}{}".format, st.integers(1, 500), st.sampled_from("smhdw"))
SEVERITY = st.sampled_from(["all", "critical", "warning", "info"])
STATE = st.sampled_from(["open", "resolved", "all"])


@st.composite
def funnel_options(draw) -> dict:
    options = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "steps": st.lists(
                    st.sampled_from(EVENT_TYPES), min_size=2, max_size=4, unique=True
                ),
                "window": WINDOWS,
                "order": st.sampled_from(["ordered", "strict", "unordered"]),
                "by": PATHS,
                "breakdown": st.one_of(st.just(""), PATHS),
                "attribution": st.sampled_from(["first", "last", "all", "step:1", "step:2"]),
                "actor_filter": st.sampled_from(["start", "every"]),
                "chain": TEXT,
                "details": st.booleans(),
            },
        )
    )
    if draw(st.booleans()):
        options["dropped_at"] = draw(st.integers(0, len(options.get("steps", [])) or 2))
    return options


OPTIONS = {
    "today": st.just({}),
    "goals": st.just({}),
    "data-quality": st.just({}),
    "kpi": st.fixed_dictionaries(
        {},
        optional={
            "metric": METRICS,
            "event_types": st.lists(st.sampled_from(EVENT_TYPES), max_size=3, unique=True),
            "window": WINDOWS,
            "compare": st.booleans(),
        },
    ),
    "funnel": funnel_options(),
    "trend": st.fixed_dictionaries(
        {},
        optional={
            "interval": st.sampled_from(["hour", "day", "week", "month"]),
            "metric": METRICS,
            "breakdown": st.one_of(st.just(""), PATHS),
            "rolling": st.integers(0, 30),
            "compare": st.booleans(),
        },
    ),
    "retention": st.fixed_dictionaries(
        {"start_event": st.sampled_from(EVENT_TYPES), "return_event": st.sampled_from(EVENT_TYPES)},
        optional={
            "by": PATHS,
            "interval": st.sampled_from(["day", "week", "month"]),
            "periods": st.integers(1, 400),
            "mode": st.sampled_from(["first-time", "recurring"]),
            "cumulative": st.booleans(),
        },
    ),
    "paths": st.fixed_dictionaries(
        {"event": st.sampled_from(EVENT_TYPES)},
        optional={
            "anchor": st.sampled_from(["start", "end"]),
            "by": PATHS,
            "steps": st.integers(2, 20),
            "exclude": st.lists(st.sampled_from(EVENT_TYPES), max_size=2),
            "top": st.integers(1, 10_000),
            "node": TEXT,
            "chain": TEXT,
        },
    ),
    "feed": st.fixed_dictionaries({}, optional={"limit": st.integers(10, 1000), "chain": TEXT}),
    "runs": st.fixed_dictionaries(
        {}, optional={"detail": TEXT, "severity": SEVERITY, "state": STATE}
    ),
    "alerts": st.fixed_dictionaries({}, optional={"severity": SEVERITY, "state": STATE}),
    "chain": st.fixed_dictionaries({}, optional={"workflow_id": TEXT}),
    "markdown": st.fixed_dictionaries({"source": st.sampled_from(["state/notes.md", "README.md"])}),
    "json-state": st.fixed_dictionaries({"source": st.just("state/STATE.json")}),
    "sql": st.fixed_dictionaries(
        {"sql": st.sampled_from(ACCEPTED_SQL)}, optional={"limit": st.integers(1, 1000)}
    ),
}
assert set(OPTIONS) == set(TILE_TYPES)


@st.composite
def tiles(draw) -> TileSpec:
    kind = draw(st.sampled_from(sorted(TILE_TYPES)))
    title = draw(st.one_of(st.none(), TEXT))
    return TileSpec(kind, draw(OPTIONS[kind]), title, draw(st.booleans()))


LAYOUTS = st.fixed_dictionaries(
    {},
    optional={
        "columns": st.integers(1, 4),
        "width": st.integers(320, 10000),
        "height": st.integers(80, 5000),
    },
)
PAGE_NAMES = st.one_of(st.just(""), st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}", fullmatch=True))
PAGES = st.builds(
    PageSpec,
    title=TEXT.filter(bool),
    tiles=st.lists(tiles(), min_size=1, max_size=4).map(tuple),
    name=PAGE_NAMES,
    layout=LAYOUTS,
)
SPECS = st.builds(
    DashboardSpec, pages=st.lists(PAGES, min_size=1, max_size=3).map(tuple), title=st.none() | TEXT
)


@settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(spec=SPECS)
def test_generated_specs_round_trip(spec):
    keys = [page.key for page in spec.pages]
    assume(len(set(keys)) == len(keys))
    assert_round_trips(spec)


# -- 9. the built-in spec is the previous default app --------------------------------------------

#: URL name → (title, [(view class, details, URL prefix)], headings), as the app drew before specs.
DEFAULT_APP = {
    "overview": (
        "Overview",
        [("TodayStrip", None, None), ("GoalProgress", None, None), ("FunnelView", False, None)],
        ["Goals", "Operator loop funnel"],
    ),
    "funnels": ("Funnels", [("FunnelView", True, "")], ["Funnel"]),
    "trends": (
        "Trends & Goals",
        [("TrendView", None, ""), ("GoalProgress", None, None)],
        ["Trends", "Goals"],
    ),
    "retention": ("Retention", [("RetentionView", None, "")], ["Retention"]),
    "paths": ("Paths", [("PathsView", None, "")], ["Paths"]),
    "activity": ("Activity", [("ActivityFeed", None, "")], ["Activity"]),
    "runs": ("Runs", [("RunsView", None, "")], ["Runs and alerts"]),
    "quality": ("Data quality", [("DataQuality", None, None)], ["Data quality"]),
}


def headings(layout) -> list[str]:
    """The <h2> that heads each tile block of a page layout."""
    out = []
    for block in layout.objects:
        first = block.objects[0] if block.objects else None
        match = re.fullmatch(r"<h2>(.*)</h2>", str(getattr(first, "object", "")))
        if match:
            out.append(html.unescape(match.group(1)))
    return out


def test_the_built_in_spec_draws_the_previous_default_app(tmp_path):
    import panel as pn

    from opdash.app import Dashboard
    from opdash.catalog import open_catalog

    pn.extension()
    folder = copy_demo(tmp_path / "demo")
    (folder / "dashboard.yaml").unlink(missing_ok=True)
    report = check_folder(folder)
    assert report.spec_file is None and report.spec == default_spec()
    assert report.blocking == []
    dash = Dashboard(open_catalog(folder))  # no spec given: the built-in one
    assert dash.spec == report.spec
    assert {p.key: p.title for p in dash.spec.pages} == {k: v[0] for k, v in DEFAULT_APP.items()}
    assert dash.param.page.objects == list(DEFAULT_APP)
    assert dash.page == "overview"
    for key, (_title, views, heads) in DEFAULT_APP.items():
        dash.page = key
        drawn = [
            (type(view).__name__, getattr(view, "details", None), prefix)
            for view, prefix in dash._views[key]
        ]
        assert drawn == views, key
        assert headings(dash._layouts[key]) == heads, key


# -- 10. opdash serve and a broken spec -----------------------------------------------------------

BROKEN_SERVE = """\
version: 1
pages:
  - title: Overview
    tiles:
      - type: funnnel
      - type: kpi
        window: 14x
  - title: Quality
    name: quality
    tiles:
      - type: data-quality
"""


def test_serve_stops_on_spec_problems_but_never_on_data_problems(tmp_path):
    broken = artifacts(tmp_path / "spec", spec=BROKEN_SERVE)
    expected = [p.text() for p in check_folder(broken).blocking]
    assert len(expected) == 2
    started = time.monotonic()
    stopping = subprocess.Popen(
        [sys.executable, "-m", "opdash.cli", "serve", str(broken), "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # meanwhile: a folder whose only problems are quarantined records is served
    with (
        opdash_serve(
            broken_data(tmp_path / "data"), "--refresh", "0", ready_query="?page=quality"
        ) as url,
        urllib.request.urlopen(url + "?page=quality", timeout=30) as response,
    ):
        assert response.status == 200
    _, stderr = stopping.communicate(timeout=60)
    assert time.monotonic() - started < 45
    assert stopping.returncode == 2
    lines = stderr.strip().splitlines()
    assert lines[:-1] == expected
    assert lines[-1].startswith("opdash serve: error: 2 problem(s) in dashboard.yaml")
    assert "--lenient" in lines[-1] and "Traceback" not in stderr


def test_serve_lenient_draws_an_error_card_per_broken_tile(tmp_path):
    folder = artifacts(tmp_path, spec=BROKEN_SERVE)
    with opdash_serve(folder, "--lenient", "--refresh", "0", ready_query="?page=quality") as url:
        text = session_text(url, "?page=overview")
    assert text.count("This tile could not be shown") == 2
    assert (
        f"dashboard.yaml:5: error: {tile(1, 'funnnel')}: unknown tile type 'funnnel' — did you "
        "mean 'funnel'?" in text
    )
    assert f"dashboard.yaml:7: error: {tile(2, 'kpi')}: bad window '14x'" in text


# -- 11, 12. check draws nothing and writes nothing --------------------------------------------

EVERY_TILE = one_page(
    """
    - type: today
    - type: kpi
      metric: sum:payload.pnl
      event_types: [trade.closed]
    - type: funnel
      steps: [signal.created, trade.closed]
      controls: true
    - type: trend
      interval: week
    - type: goals
    - type: feed
    - type: runs
    - type: alerts
    - type: chain
    - type: data-quality
    - type: markdown
      source: state/notes.md
    - type: json-state
      source: state/STATE.json
    - type: sql
      sql: SELECT event_type, count(*) AS n FROM events GROUP BY 1
    """
)


def every_tile_folder(root: Path) -> Path:
    folder = broken_data(artifacts(root, spec=EVERY_TILE, goals="goals:\n" + goal("g1")))
    (folder / "state").mkdir()
    (folder / "state" / "notes.md").write_text("# Notes\n")
    (folder / "state" / "STATE.json").write_text('{"phase": 2}\n')
    write_lines(folder / "runs" / "r1" / "events.jsonl", [ev("r1-e1", "run.started", run_id="r1")])
    return folder


def test_check_imports_no_drawing_library(tmp_path):
    folder = every_tile_folder(tmp_path)
    before = fingerprint(folder)
    run = cli_in_fresh_python(["check", str(folder)])
    assert (run.rc, run.drawing) == (1, [])
    report = check_folder(folder)
    assert [p.area for p in report.problems] == ["data"] * 3  # its quarantined records only
    assert run.printed == [p.text() for p in report.problems]
    assert "problems found: 3 error(s), 0 warning(s) — dashboard.yaml" in run.stderr
    assert fingerprint(folder) == before


def test_check_folder_writes_nothing_into_the_folder(tmp_path):
    folder = every_tile_folder(tmp_path)
    (folder / "broken.yaml").write_text(MANY)
    before = fingerprint(folder)
    report = check_folder(folder)
    assert [p.area for p in report.errors] == ["data"] * 3, [p.text() for p in report.problems]
    broken = check_folder(folder, folder / "broken.yaml")
    assert len(broken.blocking) == 8 and broken.spec.pages  # the lenient spec is drawable
    assert fingerprint(folder) == before
