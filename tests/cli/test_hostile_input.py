"""Hostile event files: every kind of damage is quarantined with its reason, never a crash.

Why: exporters crash mid-write, mix encodings, repeat ids and emit garbage. The folder contract
(docs/data-contract.md) promises that one bad record never loses the good ones, that every
rejected record is one ``quarantine`` row with a documented reason, that a repeated id counts once
(the first seen wins: file path order, then line; across refreshes, the copy already in the
catalog), that a BOM, CRLF and blank lines are accepted, and that a last line without a newline
waits for it. Hypothesis builds folders of JSON-lines files with damaged lines of every kind; the
expected catalog is worked out here from what was generated, independently of opdash, and compared
with what ``open_catalog`` and ``refresh`` give: read all at once, and appended in two halves.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from opdash.catalog import open_catalog
from opdash.contract import ENVELOPE_KEYS, QUARANTINE_REASONS, RAW_LIMIT

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WHEN = "2026-11-20T09:00:00Z"
IDS = [f"e{i}" for i in range(6)] + ["é-ü", "💥", "nul\x00id", "tab\tid", "sp ace"]


@dataclass(frozen=True)
class Line:
    """One generated line: its bytes (no line end) and what the contract says becomes of it.

    ``kind`` is "valid" (loads, or is a duplicate), "blank" (skipped), "either" (the docs are
    silent: loaded once or quarantined once) or a quarantine reason the damage determines."""

    data: bytes
    kind: str
    event_id: str | None = None
    event_type: str | None = None


# -- lines ------------------------------------------------------------------------------------

texts = st.text(max_size=12)
types = st.one_of(st.sampled_from(["trade.plan.created", "a", "ü.b"]), st.text(min_size=1))


def envelope(event_id: str, event_type: str, **more) -> dict:
    return {"event_id": event_id, "event_type": event_type, "occurred_at": WHEN, **more}


def dumps(record, ascii_only: bool) -> bytes:
    return json.dumps(record, ensure_ascii=ascii_only).encode("utf-8")


@st.composite
def valid_lines(draw) -> Line:
    event_id = draw(st.sampled_from(IDS))  # a small pool: ids repeat, with other contents
    event_type = draw(types)
    more = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "payload": st.dictionaries(texts, st.one_of(texts, st.integers()), max_size=3),
                "actor": st.fixed_dictionaries({"type": texts, "id": texts}),
                "event_version": st.integers(1, 2**31 - 1),
                "note": texts,  # an unknown key, kept in extra
                "occurred_at": st.sampled_from(
                    ["2026-11-20T09:00:00+02:00", "2026-11-20 09:00", "0001-01-01T00:00:00Z"]
                ),
            },
        )
    )
    record = {**envelope(event_id, event_type), **more}
    return Line(dumps(record, draw(st.booleans())), "valid", event_id, event_type)


@st.composite
def deep_lines(draw) -> Line:
    """A valid envelope whose payload nests 200–2000 arrays (json.dumps cannot write it)."""
    depth = draw(st.integers(200, 2000))
    head = dumps(envelope(f"deep-{draw(st.uuids()).hex}", "deep"), True)[:-1]
    return Line(head + b', "payload": {"d": ' + b"[" * depth + b"]" * depth + b"}}", "either")


def with_fields(ident: str, /, **changes) -> bytes:
    return dumps({**envelope(ident, "t"), **changes}, True)


@st.composite
def damaged_lines(draw) -> Line:
    event_id = draw(st.sampled_from(IDS))  # a damaged copy never counts as the event
    good = dumps(envelope(event_id, "t"), draw(st.booleans()))
    kind = draw(
        st.sampled_from(
            [
                "invalid_utf8",
                "nul",
                "malformed_json",
                "not_an_object",
                "missing_field",
                "wrong_type",
                "bad_timestamp",
                "bad_event_version",
            ]
        )
    )
    if kind == "invalid_utf8":
        junk = draw(
            st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe2\x82"])
        )
        at = good.index(b'"t"') + 2  # inside the event_type string
        return Line(good[:at] + junk + good[at:], "invalid_utf8")
    if kind == "nul":
        at = draw(st.integers(0, len(good)))
        return Line(good[:at] + b"\x00" + good[at:], "malformed_json")
    if kind == "malformed_json":
        text = good.decode("utf-8")
        cut = text[: draw(st.integers(1, len(text) - 1))]  # a torn object, cut on a character
        other = ["{'event_id': 'x'}", "{", "}", "not json", '{"event_id": "x" "event_type": "t"}']
        lenient = [  # what a lenient parser (DuckDB's) takes, RFC 8259 does not
            text[:-1] + ",}",
            text[:-1] + ', "payload": {"a": [1, 2, ]}}',
            text[:-1] + ', "payload": {"n": NaN}}',
            text[:-1] + ', "n": -Infinity}',
        ]
        return Line(
            draw(st.sampled_from([cut, *other, *lenient])).encode("utf-8"), "malformed_json"
        )
    if kind == "not_an_object":
        text = draw(st.sampled_from(["[1, 2]", "[]", '"a string"', "42", "-1.5e3", "null", "true"]))
        if draw(st.booleans()):
            text = json.dumps([json.loads(good)])  # the envelope inside an array
        return Line(text.encode("utf-8"), "not_an_object")
    if kind == "missing_field":
        field = draw(st.sampled_from(["event_id", "event_type", "occurred_at"]))
        record = json.loads(good)
        value = draw(st.sampled_from(["drop", "", None]))
        if value == "drop":
            del record[field]
        else:
            record[field] = value
        return Line(dumps(record, True), "missing_field")
    if kind == "wrong_type":
        change = draw(
            st.sampled_from(
                [
                    {"event_type": 5},
                    {"event_id": 7},
                    {"event_type": ["t"]},
                    {"occurred_at": 1_700_000_000},
                    {"actor": "bob"},
                    {"payload": "x"},
                    {"entity": {"type": "order", "id": 12}},
                    {"correlation": {"workflow_id": 3}},
                ]
            )
        )
        return Line(with_fields(event_id, **change), "wrong_type")
    if kind == "bad_timestamp":
        when = draw(
            st.sampled_from(
                [
                    "0000-01-01T00:00:00Z",
                    "99999-01-01T00:00:00Z",
                    "2026-13-45T09:00:00Z",
                    "2026-02-30T09:00:00Z",
                    "2026-11-20T25:00:00Z",
                    "yesterday",
                    "2026-11-20",
                    "20/11/2026 09:00",
                ]
            )
        )
        return Line(with_fields(event_id, occurred_at=when), "bad_timestamp")
    version = draw(st.sampled_from([0, -2, 1.5, "2", True, 2**40]))
    return Line(with_fields(event_id, event_version=version), "bad_event_version")


blank_lines = st.sampled_from([b"", b"  ", b"\t", b" \t "]).map(lambda b: Line(b, "blank"))
lines = st.one_of(valid_lines(), valid_lines(), damaged_lines(), deep_lines(), blank_lines)


@dataclass(frozen=True)
class EventFile:
    relpath: str
    lines: tuple[Line, ...]
    bom: bool
    crlf: bool
    torn: bool  # the last line has no newline yet

    def content(self, *, complete: bool = False) -> bytes:
        end = b"\r\n" if self.crlf else b"\n"
        data = b"".join(line.data + end for line in self.lines)
        if self.torn and not complete:
            data = data[: -len(end)]
        return (b"\xef\xbb\xbf" if self.bom else b"") + data

    def line_ends(self) -> list[int]:
        """The byte offset just after each line's newline (in the completed file)."""
        end, at = (2 if self.crlf else 1), (3 if self.bom else 0)
        ends = []
        for line in self.lines:
            at += len(line.data) + end
            ends.append(at)
        return ends


@st.composite
def folders(draw) -> list[EventFile]:
    count = draw(st.integers(1, 4))
    files = []
    for i in range(count):
        ext = draw(st.sampled_from(["jsonl", "ndjson"]))
        body = draw(st.lists(lines, min_size=1, max_size=10))
        files.append(
            EventFile(
                f"events/part-{i}.{ext}",  # one digit: path order is file order
                tuple(body),
                bom=draw(st.booleans()),
                crlf=draw(st.booleans()),
                torn=draw(st.booleans()),
            )
        )
    return files


# -- the expected catalog ---------------------------------------------------------------------


class Expected:
    """The catalog the contract promises, built by reading lines in the order opdash reads them."""

    def __init__(self) -> None:
        self.events: dict[str, tuple[str, str, int]] = {}  # id -> (event_type, file, line)
        self.duplicates: set[tuple[str, str, int]] = set()
        self.quarantine: dict[tuple[str, int], str] = {}  # (file, line) -> reason
        self.either: set[tuple[str, int]] = set()

    def read(self, batch: list[tuple[str, int, Line]]) -> None:
        """One refresh's lines, in (file, line) order: the copy already kept wins."""
        for relpath, number, line in sorted(batch, key=lambda item: (item[0], item[1])):
            if line.kind == "blank":
                continue
            if line.kind == "either":
                self.either.add((relpath, number))
            elif line.kind != "valid":
                self.quarantine[(relpath, number)] = line.kind
            elif line.event_id in self.events:
                self.duplicates.add((line.event_id, relpath, number))
            else:
                self.events[line.event_id] = (line.event_type, relpath, number)


def lines_of(files: list[EventFile], *, torn: bool) -> list[tuple[str, int, Line]]:
    """Every line (``torn``: only the torn last lines; else all but them)."""
    out = []
    for f in files:
        for number, line in enumerate(f.lines, start=1):
            is_torn = f.torn and number == len(f.lines)
            if is_torn == torn:
                out.append((f.relpath, number, line))
    return out


def check(catalog, want: Expected) -> None:
    """The catalog holds exactly what ``want`` says; the silent cases go one way, never both."""
    counts = catalog.fetchall("SELECT event_id, count(*) FROM events GROUP BY 1")
    assert all(n == 1 for _, n in counts), counts
    events = catalog.fetchall("SELECT event_id, event_type, source_file, source_line FROM events")
    quarantine = catalog.fetchall(
        'SELECT source_file, line, "row", reason, detail, raw FROM quarantine'
    )
    duplicates = catalog.fetchall('SELECT event_id, source_file, line, "row" FROM duplicates')

    loaded = {(f, n) for _, _, f, n in events}
    quarantined = Counter((f, n) for f, n, *_ in quarantine)
    assert all(n == 1 for n in quarantined.values()), quarantined
    assert not loaded & set(quarantined), "a record is both loaded and quarantined"
    for relpath, number in want.either:
        assert ((relpath, number) in loaded) != ((relpath, number) in quarantined)

    got_events = {e[0]: (e[1], e[2], e[3]) for e in events if (e[2], e[3]) not in want.either}
    assert got_events == want.events
    got_quarantine = {(f, n): reason for f, n, _, reason, _, _ in quarantine}
    for key in want.either & set(got_quarantine):
        assert got_quarantine.pop(key) in QUARANTINE_REASONS
    assert got_quarantine == want.quarantine
    for _, _, row, reason, detail, raw in quarantine:
        assert row is None and reason in QUARANTINE_REASONS and detail
        assert raw is not None and len(raw) <= RAW_LIMIT
    assert {(i, f, n) for i, f, n, row in duplicates} == want.duplicates
    assert all(row is None for *_, row in duplicates)
    assert len(duplicates) == len(want.duplicates)

    stats = catalog.stats()
    assert (stats.events, stats.quarantined, stats.duplicates) == (
        len(events),
        len(quarantine),
        len(duplicates),
    )


def write(root: Path, relpath: str, data: bytes, mode: str = "wb") -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode) as fh:
        fh.write(data)


def complete_torn_lines(root: Path, files: list[EventFile]) -> None:
    for f in files:
        if f.torn:
            write(root, f.relpath, b"\r\n" if f.crlf else b"\n", "ab")


# -- properties -------------------------------------------------------------------------------


@SETTINGS
@given(files=folders())
def test_damaged_lines_are_quarantined_and_valid_events_load_once(files: list[EventFile]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for f in files:
            write(root, f.relpath, f.content())
        catalog = open_catalog(root)  # never raises
        want = Expected()
        want.read(lines_of(files, torn=False))
        check(catalog, want)  # a torn last line is neither loaded nor quarantined

        complete_torn_lines(root, files)
        catalog.refresh()
        want.read(lines_of(files, torn=True))  # read once complete, after everything else
        check(catalog, want)


def comparable(catalog) -> dict:
    """What a fresh read and a refreshed catalog must agree on, whoever's copy was kept."""
    return {
        "ids": sorted(r[0] for r in catalog.fetchall("SELECT event_id FROM events")),
        "copies": catalog.fetchall(
            "SELECT (SELECT count(*) FROM events) + count(*) FROM duplicates"
        ),
        "quarantine": sorted(
            catalog.fetchall(
                'SELECT source_file, line, "row", reason, detail, raw FROM quarantine'
            ),
            key=repr,
        ),
    }


@SETTINGS
@given(files=folders(), data=st.data())
def test_appending_in_two_halves_gives_the_same_answer(files: list[EventFile], data) -> None:
    """Each file is written up to a random byte (inside a line, a UTF-8 character, a CRLF or
    the BOM), the catalog opened, the rest appended and refreshed: the same events, quarantine
    and duplicates as one read, except which copy of an id wins (the one already kept)."""
    cuts = [data.draw(st.integers(0, len(f.content())), label=f.relpath) for f in files]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for f, cut in zip(files, cuts, strict=True):
            write(root, f.relpath, f.content()[:cut])
        catalog = open_catalog(root)

        first, second = [], []
        for f, cut in zip(files, cuts, strict=True):
            for number, (line, end) in enumerate(zip(f.lines, f.line_ends(), strict=True), 1):
                if f.torn and number == len(f.lines):
                    continue
                (first if end <= cut else second).append((f.relpath, number, line))
        want = Expected()
        want.read(first)
        check(catalog, want)

        for f, cut in zip(files, cuts, strict=True):
            write(root, f.relpath, f.content()[cut:], "ab")
        catalog.refresh()
        want.read(second)
        check(catalog, want)
        assert comparable(catalog) == comparable(open_catalog(root))

        complete_torn_lines(root, files)
        catalog.refresh()
        want.read(lines_of(files, torn=True))
        check(catalog, want)
        assert comparable(catalog) == comparable(open_catalog(root))


# -- hand tests -------------------------------------------------------------------------------

BIG = 20 * 2**20


def test_twenty_megabyte_lines_next_to_valid_ones(tmp_path: Path) -> None:
    """A 20 MB valid event loads (there is no line-size limit, only ``raw`` is cut); 20 MB of
    garbage, text or binary, is one quarantine row each, its raw cut to RAW_LIMIT."""
    big_event = dumps(envelope("big", "t", payload={"blob": "x" * BIG}), True)
    text_garbage = b'{"event_id": "g", ' + b"garbage " * (BIG // 8)
    binary_garbage = (b"\x00\xff garbage \xfe" * (BIG // 12))[:BIG]
    good = [dumps(envelope(f"ok{i}", "t"), True) for i in range(3)]
    write(
        tmp_path,
        "events/big.jsonl",
        b"\n".join([good[0], big_event, good[1], text_garbage, binary_garbage, good[2]]) + b"\n",
    )
    catalog = open_catalog(tmp_path)
    events = catalog.fetchall(
        "SELECT event_id, source_line, length(json_extract_string(payload, '$.blob')) FROM events"
    )
    assert sorted(events) == [("big", 2, BIG), ("ok0", 1, None), ("ok1", 3, None), ("ok2", 6, None)]
    quarantine = catalog.fetchall("SELECT line, reason, length(raw) FROM quarantine ORDER BY line")
    assert quarantine == [(4, "malformed_json", RAW_LIMIT), (5, "invalid_utf8", RAW_LIMIT)]


def test_a_complete_catalog_of_damage_in_one_file(tmp_path: Path) -> None:
    """The brief's damage list, each once, in one CRLF file with a BOM: every reason is exact."""
    lines = [
        (dumps(envelope("ok1", "t"), True), None),
        (
            b'{"event_id": "x", "event_type": "caf\xe9", "occurred_at": "2026-11-20T09:00:00Z"}',
            "invalid_utf8",
        ),
        (
            b'{"event_id": "x", "event_type": "t\x00", "occurred_at": "2026-11-20T09:00:00Z"}',
            "malformed_json",
        ),
        (with_fields("x", event_type=5), "wrong_type"),
        (with_fields("x", occurred_at="0000-01-01T00:00:00Z"), "bad_timestamp"),
        (with_fields("x", occurred_at="99999-01-01T00:00:00Z"), "bad_timestamp"),
        (with_fields("x", occurred_at="2026-13-45T09:00:00Z"), "bad_timestamp"),
        (with_fields("x", occurred_at="yesterday"), "bad_timestamp"),
        (with_fields("x", event_id=""), "missing_field"),
        (b'["not", "an", "object"]', "not_an_object"),
        (b'{"event_id": "x", ', "malformed_json"),
        (dumps(envelope("ok1", "other"), True), None),  # a duplicate with other contents
        (dumps(envelope("ok2", "t"), True), None),
    ]
    data = b"\xef\xbb\xbf" + b"\r\n".join(line for line, _ in lines) + b"\r\n"
    write(tmp_path, "events/all.jsonl", data)
    catalog = open_catalog(tmp_path)
    assert sorted(catalog.fetchall("SELECT event_id, event_type, source_line FROM events")) == [
        ("ok1", "t", 1),
        ("ok2", "t", 13),
    ]
    assert catalog.fetchall("SELECT event_id, line FROM duplicates") == [("ok1", 12)]
    assert catalog.fetchall("SELECT line, reason FROM quarantine ORDER BY line") == [
        (number, reason) for number, (_, reason) in enumerate(lines, 1) if reason
    ]


# -- bugs found -------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(key=st.text(max_size=6).filter(lambda k: k not in ENVELOPE_KEYS))
@example(key='a"b')  # BUG: crashes open_catalog (DuckDB "JSON path error near 'b"'")
@example(key="")  # BUG: crashes open_catalog (JSON path error near '.""')
@example(key="\\")  # BUG: crashes open_catalog
def test_any_unknown_top_level_key_is_kept_in_extra(key: str) -> None:
    """The contract keeps "any other top-level key" in extra — whatever its name, and one odd key in
    one line must not take down the catalog (or the other files' events)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write(root, "events/a.jsonl", dumps(envelope("odd", "t", **{key: 1}), True) + b"\n")
        write(root, "events/b.jsonl", dumps(envelope("fine", "t"), True) + b"\n")
        catalog = open_catalog(root)
        got = dict(catalog.fetchall("SELECT event_id, extra FROM events"))
        assert set(got) == {"odd", "fine"}
        assert json.loads(got["odd"]) == {key: 1}


def line_with(tail: str) -> bytes:
    """An envelope line whose text ends with ``tail`` (after occurred_at)."""
    return ('{"event_id": "x", "event_type": "t", "occurred_at": "' + WHEN + '"' + tail).encode()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param(line_with(",}"), "malformed_json", id="trailing-comma"),
        pytest.param(line_with(', "payload": {"a": [1, 2,]}}'), "malformed_json", id="comma-list"),
        pytest.param(line_with(', "payload": {"a": NaN}}'), "malformed_json", id="NaN"),
        pytest.param(line_with(', "n": Infinity}'), "malformed_json", id="Infinity"),
        pytest.param(line_with(', "n": -Infinity}\r'), "malformed_json", id="-Infinity-CRLF"),
        pytest.param(
            with_fields("x", occurred_at="2026-11-20T10:00:00+99:00"),
            "bad_timestamp",
            id="offset-99h",
        ),
    ],
)
def test_text_that_is_not_json_or_rfc3339_is_quarantined(
    tmp_path: Path, line: bytes, reason: str
) -> None:
    """Contract: malformed_json when "the text is not valid JSON" (RFC 8259: no trailing commas,
    no NaN or Infinity, though DuckDB's reader takes them); bad_timestamp when occurred_at is
    not RFC 3339 (an offset is ±HH:MM, hours 00–23)."""
    write(tmp_path, "events/a.jsonl", dumps(envelope("ok", "t"), True) + b"\n" + line + b"\n")
    catalog = open_catalog(tmp_path)
    assert catalog.fetchall("SELECT event_id FROM events") == [("ok",)]
    assert catalog.fetchall("SELECT line, reason FROM quarantine") == [(2, reason)]


def test_lenient_json_is_refused_in_every_file_kind_and_look_alikes_still_load(
    tmp_path: Path,
) -> None:
    """The same strictness for a .json document, a run's alerts and run.json; text that only
    looks lenient (NaN inside a string, a comma before a bracket in a string) is valid JSON."""
    write(
        tmp_path,
        "events/a.jsonl",
        line_with(', "payload": {"note": "BaNaNa, ] Infinity ,}"}}') + b"\n"
        + line_with(', "n": NaN}').replace(b'"x"', b'"y"') + b"\n",
    )  # fmt: skip
    write(tmp_path, "events/b.json", b'[{"event_id": "z", "event_type": "t", "occurred_at": "'
          + WHEN.encode() + b'", "n": Infinity}]')  # fmt: skip
    write(tmp_path, "runs/r1/run.json", b'{"run_id": "r1", "status": "running", "n": NaN}')
    write(tmp_path, "runs/r1/alerts.jsonl", b'{"alert_id": "a1", "severity": "info",}\n')
    catalog = open_catalog(tmp_path)
    assert catalog.fetchall("SELECT event_id FROM events") == [("x",)]
    assert catalog.fetchall(
        "SELECT source_file, line, reason, detail FROM quarantine ORDER BY 1"
    ) == [
        ("events/a.jsonl", 2, "malformed_json", "not valid JSON: NaN is not a JSON value"),
        ("events/b.json", None, "malformed_json", "not valid JSON: Infinity is not a JSON value"),
        (
            "runs/r1/alerts.jsonl",
            1,
            "malformed_json",
            "not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 39 (char 38)",
        ),
    ]
    assert catalog.fetchall("SELECT run_id, error FROM runs") == [
        ("r1", "unreadable: NaN is not a JSON value")
    ]
