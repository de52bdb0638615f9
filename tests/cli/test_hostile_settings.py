"""Hostile settings files, command-line values and API query values: each is refused with a
message, never a crash.

Why: dashboard.yaml and goals.yaml are written by hand (and copied from anywhere), options are
typed by hand, and the API is called by scripts. The project rule: a user mistake ends with one
clear line naming the bad value (exit code 2 on the command line, a 4xx JSON answer from the API),
never a traceback; a YAML anchor or alias (the "billion laughs" bomb) is refused with a message.

What is proved, by Hypothesis:

1. ``check_spec_text`` takes any text (random bytes decoded, YAML dumped from random structures of
   the schema's own keys and tile types, the demo's spec with hostile fragments spliced in, YAML
   bombs, deep flows, repeated keys, huge scalars, tabs, NUL, BOM) and returns problems that are
   messages, not tracebacks or exception reprs. A text the standard YAML parser reads as one
   document is refused at exactly the first anchor, alias or too-deep node, on its line, with the
   documented words. (That a generated valid spec round-trips through ``to_yaml`` is proved in
   test_spec.py.)
2. The same for goals.yaml through ``check_goals``; and ``goals(catalog)`` over a folder whose
   goals.yaml is hostile either answers or raises the documented ``UsageError`` (one line, naming
   the file), and evaluates every goal ``check_goals`` accepted. ``check_folder`` lists the
   goals' problems without raising.
3. Every option (and the folder argument) of funnel, trend, goals, today, chain, pipeline,
   snapshot, check, info, audit and serve, given hostile values and run in-process through
   ``opdash.cli.main``: exit 0 (the value was valid), 1 (check/audit: problems found) or 2 with
   exactly one stderr line naming the value or the option; never an exception. ``serve`` stops
   right after its last check before serving (the port bound and released), so no server is
   ever left running. A few of the same runs as real subprocesses.
4. Every route of one real ``opdash serve data/demo``, with hostile path and query values
   (random text, long strings, bad dates, negative and huge numbers, repeated and unknown
   parameters, ``..``, ``%00``, slashes): never a 5xx, every 4xx is JSON with an error message,
   and no answer holds a traceback. (test_api.py runs schemathesis against the OpenAPI document;
   this is the value-focused complement.)

The crashes these properties found (YAML values PyYAML cannot build, NUL, ``!!set``; huge
durations and limits; instants at the calendar's edge; over-long and ``~user`` paths; output
paths under a file; an address IDNA cannot encode; ``--opt=--``; 45 funnel steps; a value with
a line break; a range message naming no option) each keep a test at the end of this file.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import opdash
from opdash import api
from opdash.cli import main
from opdash.errors import UsageError
from opdash.metrics.goals import GoalsResult, check_goals, goals, goals_schema
from opdash.spec import TILE_TYPES, check_folder, check_spec_text
from opdash.spec.check import dashboard_schema
from opdash.yamltext import MAX_BYTES, MAX_DEPTH
from tests.fixtures import ev, run_clis, write_lines
from tests.servers import DEMO, free_port, opdash_serve


def hypothesis_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )


# -- messages -----------------------------------------------------------------------------------

#: What a crash leaks into a message: a traceback, an exception's repr, an object's address.
CRASH_TEXT = re.compile(
    r"Traceback|<class '|File \"|object at 0x|\b[A-Z]\w*(?:Error|Exception)\(|"
    r"\b(?:KeyError|TypeError|AttributeError|IndexError|RecursionError)\b"
)


def assert_a_message(message: str, given: str = "") -> None:
    """``message`` is a non-empty message, not a traceback or an exception's repr; text that
    ``given`` (the input) holds itself may be echoed."""
    assert isinstance(message, str) and message.strip(), repr(message)
    for match in CRASH_TEXT.finditer(message):
        assert match.group() in given, f"crash text {match.group()!r} in: {message}"


def strings_in(data) -> set[str]:
    """Every string a parsed document holds (keys and values)."""
    found: set[str] = set()
    seen: set[int] = set()  # an alias is the same object again (a bomb would be 10^9 visits)
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.add(item)
        elif id(item) in seen:
            continue
        elif isinstance(item, dict):
            seen.add(id(item))
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set):
            seen.add(id(item))
            stack += list(item)
    return found


def echoes_with_line_breaks(text: str) -> list[str]:
    """The strings of ``text``'s document that hold a line break (a key may: ``"a\\nb": 1``),
    longest first: a message may echo them."""
    try:
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except Exception:
        return []
    found = [s for s in strings_in(data) if re.search("[\n\r]", s)]
    return sorted(found, key=len, reverse=True)


def assert_one_line(message: str, echoes: list[str]) -> None:
    """``message`` is one line, but for the ``echoes`` of the document it holds."""
    for echoed in echoes:
        message = message.replace(echoed, "").replace(echoed.strip(), "")
    assert not re.search("[\n\r]", message), message


def lines_in(text: str) -> int:
    """The lines of a text as YAML counts them (it also breaks lines at NEL, LS and PS)."""
    return len(re.findall("\r\n|[\n\r\x85\u2028\u2029]", text)) + 1


def standard_yaml_raises(text: str) -> type[BaseException] | None:
    """The exception other than a YAMLError that PyYAML's own SafeLoader raises on ``text``
    (its constructors let ValueError, AttributeError … out); None when it raises none."""
    try:
        yaml.load(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return None
    except Exception as exc:
        return type(exc)
    return None


def schema_keys(schema: dict) -> list[str]:
    """Every property name a JSON Schema mentions, anywhere."""
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    found.update(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    return sorted(found)


SPEC_KEYS = schema_keys(dashboard_schema())
GOAL_KEYS = schema_keys(goals_schema())
EVENT_TYPES = ["signal.created", "candidate.created", "trade.closed", "alert.triggered"]

#: Text of any character but surrogates (a file on disk is UTF-8).
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
HOSTILE_SCALARS = st.sampled_from(
    [
        "",
        " ",
        "2026-13-45",
        "2026-02-30",
        "-1",
        "0",
        "1e400",
        "-.inf",
        ".nan",
        "99999999999999999999999",
        "../../etc/passwd",
        "/etc/passwd",
        "%s%d{}",
        "Mars/Olympus",
        "ü" * 300,
        "x" * 5000,
        "\t",
        "\x00",
        "\ufeff",
        "~",
        "null",
        "yes",
        "0x1F",
        "0o17",
        "1_000",
        "<script>alert(1)</script>",
        "SELECT * FROM read_csv('/etc/passwd')",
        "DROP TABLE events",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    ANY_TEXT,
    HOSTILE_SCALARS,
    st.sampled_from(sorted(TILE_TYPES) + EVENT_TYPES + SPEC_KEYS),
    st.dates(),
)


def structures(keys: list[str]) -> st.SearchStrategy:
    """Nested lists and mappings of scalars, keyed mostly by the schema's own keys."""
    key = st.one_of(st.sampled_from(keys), ANY_TEXT, st.integers(-5, 5), st.booleans())
    return st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(key, inner, max_size=5),
        max_leaves=30,
    )


@st.composite
def spec_like(draw) -> dict:
    """A document shaped like a spec (version, pages of tiles) with random keys and values."""
    any_value = structures(SPEC_KEYS)
    tile_keys = st.sampled_from(SPEC_KEYS)
    tiles = st.lists(
        st.one_of(
            st.builds(
                lambda kind, more: {"type": kind, **more},
                st.sampled_from(sorted(TILE_TYPES)) | ANY_TEXT,
                st.dictionaries(tile_keys, SCALARS | any_value, max_size=5),
            ),
            any_value,
        ),
        max_size=4,
    )
    page = st.fixed_dictionaries(
        {},
        optional={
            "title": ANY_TEXT | SCALARS,
            "name": ANY_TEXT | SCALARS,
            "tiles": tiles | any_value,
            "layout": st.dictionaries(tile_keys | ANY_TEXT, SCALARS, max_size=3) | any_value,
            draw(st.sampled_from(SPEC_KEYS)): any_value,
        },
    )
    return draw(
        st.fixed_dictionaries(
            {},
            optional={
                "version": st.sampled_from([1, 1, 1, 2, "1", 0, None, True, 1.0]) | SCALARS,
                "title": ANY_TEXT | SCALARS,
                "pages": st.lists(page | any_value, max_size=3) | any_value,
                draw(st.sampled_from(SPEC_KEYS)): any_value,
            },
        )
    )


@st.composite
def dumped(draw, documents: st.SearchStrategy) -> str:
    """A document written by PyYAML in one of its styles."""
    return yaml.safe_dump(
        draw(documents),
        default_flow_style=draw(st.sampled_from([False, True, None])),
        allow_unicode=draw(st.booleans()),
        sort_keys=draw(st.booleans()),
        width=draw(st.sampled_from([20, 80, 10**6])),
        explicit_start=draw(st.booleans()),
    )


@st.composite
def bombs(draw) -> tuple[str, int]:
    """A "billion laughs" of ``depth`` levels of ``width`` aliases each, after ``lead`` plain
    lines; and the line of its first anchor."""
    depth, width = draw(st.integers(1, 9)), draw(st.integers(1, 12))
    lead = draw(st.sampled_from(["", "version: 1\n", "version: 1\ntitle: x\n# c\n"]))
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, depth):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    tail = draw(st.sampled_from(["", f"pages: *l{depth - 1}\n", f"goals: *l{depth - 1}\n"]))
    return lead + "\n".join(lines) + "\n" + tail, lead.count("\n") + 1


def nested_flow(depth: int, kind: str) -> str:
    """``depth`` nested flow lists, flow mappings or block mappings."""
    if kind == "list":
        return "[" * depth + "]" * depth
    if kind == "map":
        return "{a: " * depth + "1" + "}" * depth
    return "".join(f"{'  ' * i}k{i}:\n" for i in range(depth)) + "  " * depth + "v\n"


FRAGMENTS = [
    "&a ",
    "*a",
    "&a [x]",
    "<<: *a\n",
    "<<: {version: 2}\n",
    "\t",
    "\x00",
    "\ufeff",
    "\r\n",
    ": ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "'",
    '"',
    "#",
    "\n",
    "  ",
    "? ",
    "!!python/object/apply:os.system ['true'] ",
    "!!binary ",
    "!!set ",
    "!!timestamp ",
    "!!int x ",
    "!foo ",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "---\n",
    "...\n",
    "|\n",
    ">-\n",
    "version: 1\n",
    "type: funnel\n",
    "2026-13-45",
    "title: 2026-11-20\n",
    "\\u0000",
    "\x85",
    "\u2028",
]


@st.composite
def spliced(draw, base: str) -> str:
    """``base`` with up to six hostile fragments inserted, or slices cut out."""
    text = base
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        if draw(st.integers(0, 4)) == 0:
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        else:
            piece = draw(st.sampled_from(FRAGMENTS) | ANY_TEXT)
            text = text[:at] + piece + text[at:]
    return text


def hostile_texts(documents: st.SearchStrategy, base: str, keys: list[str]) -> st.SearchStrategy:
    """Every kind of hostile settings text."""
    key = st.sampled_from(keys)
    return st.one_of(
        st.binary(max_size=300).map(lambda b: b.decode("utf-8", errors="replace")),
        st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
        ANY_TEXT,
        dumped(documents),
        dumped(structures(keys)),
        spliced(base),
        dumped(documents).flatmap(spliced),
        bombs().map(lambda bomb: bomb[0]),
        st.builds(nested_flow, st.integers(1, 300), st.sampled_from(["list", "map"])).map(
            lambda flow: "version: 1\npages: " + flow
        ),
        st.builds(nested_flow, st.integers(1, 60), st.just("block")),
        st.builds(lambda k, n: f"{k}: 1\n" * n, key, st.integers(2, 5)),  # repeated keys
        st.builds(
            lambda k, n, c: f"version: 1\n{k}: " + c * n + "\n",
            key,
            st.sampled_from([1, 100, 1025, 5000, 200_000]),
            st.sampled_from(["x", "é", "9", "-"]),
        ),  # a huge scalar
        st.builds(lambda k: f"\ufeffversion: 1\n\t{k}: 1\n", key),  # a BOM and a tab indent
        st.builds(lambda k: f"version: 1\n{k}: \x00\n", key),
        st.just("x" * (MAX_BYTES + 1)),
    )


SPEC_TEXTS = hostile_texts(spec_like(), (DEMO / "dashboard.yaml").read_text("utf-8"), SPEC_KEYS)

WORDS = {
    "alias": "YAML aliases (*name) are not allowed",
    "anchor": "YAML anchors (&name) are not allowed",
    "depth": f"nested more than {MAX_DEPTH} levels deep",
}
NODE_EVENTS = (yaml.ScalarEvent, yaml.AliasEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)


def first_refusal(text: str) -> tuple[str, int] | None:
    """What opdash's plain YAML must refuse first in a text the standard parser reads as one
    document of at most MAX_BYTES: ("alias" | "anchor" | "depth", its line); None when nothing
    is, or when the text is not such a document. Worked out from the parser's events, in the
    order a composer meets the nodes (a node's own anchor before its depth)."""
    if len(text) > MAX_BYTES or text.count("[") + text.count("{") > 400:
        return None  # (the standard parser takes seconds on deep flows; crashes are still checked)
    try:
        events = list(yaml.parse(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    if sum(isinstance(e, yaml.DocumentStartEvent) for e in events) != 1:
        return None
    depth = 0
    for event in events:
        if isinstance(event, NODE_EVENTS):
            line = event.start_mark.line + 1
            if isinstance(event, yaml.AliasEvent):
                return "alias", line
            if event.anchor is not None:
                return "anchor", line
            if depth + 1 > MAX_DEPTH:
                return "depth", line
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            depth += 1
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            depth -= 1
    return None


def assert_refused_first(problems_found: list[tuple[int | None, str]], text: str) -> None:
    """When ``text`` holds an anchor, an alias or a too-deep node, the one problem is that,
    on its line, saying it is not plain YAML and naming the bomb."""
    expected = first_refusal(text)
    if expected is None:
        return
    kind, line = expected
    assert len(problems_found) == 1, problems_found
    (found_line, message) = problems_found[0]
    assert WORDS[kind] in message and "YAML bomb" in message, (kind, message)
    assert found_line == line, (kind, line, found_line, message)


@hypothesis_settings(200)
@given(text=SPEC_TEXTS)
def test_any_dashboard_yaml_text_gets_messages_never_a_crash(text: str) -> None:
    checked = check_spec_text(text, source="dashboard.yaml", root=DEMO)
    if checked is None:
        return
    spec, problems, _data = checked
    last_line, echoes = lines_in(text) + 1, echoes_with_line_breaks(text)
    for problem in problems:
        assert problem.file == "dashboard.yaml"
        assert problem.severity in ("error", "warning")
        assert problem.line is None or 1 <= problem.line <= last_line, problem
        assert_a_message(problem.message, text)
        assert_a_message(problem.text(), text)
        assert_one_line(problem.text(), echoes)
    errors = [p for p in problems if p.severity == "error"]
    assert (spec is None) == bool(errors), [p.text() for p in problems]
    assert_refused_first([(p.line, p.message) for p in problems], text)


@hypothesis_settings(60)
@given(bomb=bombs(), source=st.sampled_from(["dashboard.yaml", "goals.yaml"]))
def test_every_yaml_bomb_is_refused_at_its_first_anchor(bomb: tuple[str, int], source) -> None:
    text, line = bomb
    if source == "dashboard.yaml":
        spec, problems, data = check_spec_text(text, source=source)
        assert spec is None and data is None
        found = [(p.line, p.message) for p in problems]
    else:
        valid, found = check_goals(text, source=source)
        assert valid == []
    assert found == [(line, found[0][1])], found
    assert WORDS["anchor"] in found[0][1] and "YAML bomb" in found[0][1]
    assert first_refusal(text) == ("anchor", line)  # the oracle agrees


@pytest.mark.parametrize("kind", ["list", "map", "block"])
def test_nesting_deeper_than_the_limit_is_refused_at_once(kind: str) -> None:
    """A flow nested 100,000 levels deep (the standard composer would recurse that deep) is
    refused at the first node too deep, on its line."""
    depth = {"list": 100_000, "map": 50_000, "block": 60}[kind]
    text = nested_flow(depth, kind)
    line = MAX_DEPTH if kind == "block" else 1
    for source, problems in [
        ("dashboard.yaml", [(p.line, p.message) for p in check_spec_text(text)[1]]),
        ("goals.yaml", check_goals(text)[1]),
    ]:
        assert len(problems) == 1 and problems[0][0] == line, (source, problems)
        assert WORDS["depth"] in problems[0][1] and "YAML bomb" in problems[0][1]


@st.composite
def with_anchor_or_alias(draw, documents: st.SearchStrategy) -> str:
    """A well-formed dumped document with an anchor or an alias put on one of its values."""
    text = draw(dumped(documents))
    spots = [m.end() for m in re.finditer(r"(?m)^(\s*(?:- )?[A-Za-z_]+:) ", text)]
    spots += [m.end() for m in re.finditer(r"(?m)^\s*- ", text)]
    if not spots:
        return "&a " + text if draw(st.booleans()) else "x: &a 1\ny: *a\n"
    at = draw(st.sampled_from(spots))
    mark = draw(st.sampled_from(["&a ", "&anchor_1 ", "*a\n#", "&a [1, 2] #", "!!str &a "]))
    return text[:at] + mark + text[at:]


@hypothesis_settings(80)
@given(text=with_anchor_or_alias(spec_like()) | with_anchor_or_alias(structures(GOAL_KEYS)))
def test_an_anchor_or_alias_anywhere_is_refused_with_its_line(text: str) -> None:
    """The generator puts an anchor or alias in; whenever the text is still one well-formed
    document, the refusal is that anchor or alias (or a deeper node before it), on its line."""
    checked, goals_checked = (
        check_spec_text(text),
        check_goals(text),
    )
    if checked is None or goals_checked is None:
        return
    problems, goal_problems = checked[1], goals_checked[1]
    if first_refusal(text) is not None:
        assert_refused_first([(p.line, p.message) for p in problems], text)
        assert_refused_first(goal_problems, text)
    for problem in problems:
        assert_a_message(problem.message, text)
    for _line, message in goal_problems:
        assert_a_message(message, text)


# -- 2. goals.yaml ------------------------------------------------------------------------------

GOAL_VALUES = {
    "id": st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True) | ANY_TEXT,
    "title": ANY_TEXT,
    "metric": st.sampled_from(
        [
            "count",
            "unique",
            "unique:payload.symbol",
            "sum:payload.pnl",
            "conversion",
            "sum",
            "sum:",
            "unique:",
            "count:x",
            "avg:payload.pnl",
            "sum:payload..x",
            "conversion:x",
        ]
    )
    | ANY_TEXT,  # fmt: skip
    "event": st.sampled_from(EVENT_TYPES) | ANY_TEXT,
    "by": st.sampled_from(["actor.id", "correlation.workflow_id", "payload.x", "actr.id", ""]),
    "steps": st.lists(st.sampled_from(EVENT_TYPES) | ANY_TEXT, max_size=4),
    "window": st.sampled_from(["14d", "90m", "0s", "-1d", "1y", "99999999999999999999d"])
    | st.integers(-5, 10**6),
    "target": st.one_of(
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0, 1, 0.5, 1.5, 40, 10**30]),
        ANY_TEXT,
    ),
    "period": st.sampled_from(["day", "week", "month", "quarter", "weekly", "year", ""]),
    "direction": st.sampled_from(["up", "down", "sideways", ""]),
    "tz": st.sampled_from(
        [
            "UTC",
            "Europe/Berlin",
            "Pacific/Kiritimati",
            "Mars/Olympus",
            "../../etc/passwd",
            "/etc/localtime",
            "",
            " UTC ",
            "Europe/Berlinn",
            "a" * 300,
            "EST5EDT",
            "UTC\x00",
        ]
    ),  # fmt: skip
}


@st.composite
def goals_like(draw) -> dict:
    """A document shaped like a goals file: goals of the schema's keys and plausible values."""
    any_value = structures(GOAL_KEYS)
    goal = st.fixed_dictionaries(
        {},
        optional={
            **{key: values | SCALARS for key, values in GOAL_VALUES.items()},
            draw(st.sampled_from(GOAL_KEYS)): any_value,
        },
    )
    document = {"goals": draw(st.lists(goal | any_value, max_size=4) | any_value)}
    if draw(st.integers(0, 5)) == 0:
        document[draw(ANY_TEXT | st.sampled_from(GOAL_KEYS))] = draw(any_value)
    return document


#: Values a goal accepts (so that goals are evaluated, not only refused).
GOOD_GOAL_VALUES = {
    "target": st.sampled_from([0.25, 0.5, 1, 3, 40, 10**30]),
    "period": st.sampled_from(["day", "week", "month", "quarter"]),
    "direction": st.sampled_from(["up", "down"]),
    "tz": st.sampled_from(["UTC", "Europe/Berlin", "Pacific/Kiritimati", "Asia/Kathmandu"]),
    "window": st.sampled_from(["14d", "90m", "1s", "520w"])
    | st.builds("{}s".format, st.integers(1, 10**25)),
    "event": st.sampled_from(EVENT_TYPES),
}


@st.composite
def plausible_goals(draw) -> str:
    """goals.yaml text of complete goals (every required key), values good or hostile."""
    items = []
    for i in range(draw(st.integers(1, 3))):
        metric = draw(st.sampled_from(["count", "unique", "unique:payload.symbol", "sum:payload.pnl", "conversion"]))  # fmt: skip

        def value(key: str):
            good = GOOD_GOAL_VALUES.get(key)
            return (
                draw(good)
                if good is not None and draw(st.integers(0, 7))
                else draw(GOAL_VALUES[key])
            )

        item = {
            "id": f"g{i}",
            "metric": metric,
            "target": value("target"),
            "period": value("period"),
        }
        if metric == "conversion":
            item["steps"] = draw(st.lists(st.sampled_from(EVENT_TYPES), min_size=1, max_size=3))
        else:
            item["event"] = value("event")
        keys = (
            ("direction", "tz", "window", "by", "title")
            if metric == "conversion"
            else ("direction", "tz", "title")
        )
        for key in keys:
            if draw(st.booleans()):
                item[key] = value(key)
        items.append(item)
    return yaml.safe_dump({"goals": items}, allow_unicode=draw(st.booleans()))


GOALS_TEXTS = hostile_texts(goals_like(), (DEMO / "goals.yaml").read_text("utf-8"), GOAL_KEYS)


@hypothesis_settings(200)
@given(text=GOALS_TEXTS | plausible_goals())
def test_any_goals_yaml_text_gets_messages_never_a_crash(text: str) -> None:
    checked = check_goals(text, source="goals.yaml")
    if checked is None:
        return
    valid, problems = checked
    echoes = echoes_with_line_breaks(text)
    for line, message in problems:
        assert line is None or 1 <= line <= lines_in(text) + 1
        assert message.startswith("goals.yaml: "), message
        assert_a_message(message, text)
        assert_one_line(message, echoes)
    assert len({g.id for g in valid}) == len(valid)
    assert_refused_first(problems, text)


@pytest.fixture(scope="module")
def goals_folder(tmp_path_factory) -> Path:
    """A small artifact folder (events of the goals' types) whose goals.yaml each example
    rewrites."""
    root = tmp_path_factory.mktemp("hostile-goals")
    events = [ev(f"e{i}", EVENT_TYPES[i % 4], i * 600, f"w{i % 3}") for i in range(12)]
    events[3]["payload"] = {"pnl": 12.5, "symbol": "X"}
    write_lines(root / "events" / "e.jsonl", events)
    return root


@pytest.fixture(scope="module")
def goals_catalog(goals_folder: Path):
    return opdash.open(goals_folder)


@hypothesis_settings(40)
@given(
    text=GOALS_TEXTS | plausible_goals() | plausible_goals(),
    as_of=st.sampled_from([None, "2026-11-20T12:00:00Z", "2026-11-20", "2028-02-29T23:59:59Z"]),
)
def test_goals_over_a_folder_with_a_hostile_goals_yaml(
    goals_folder: Path, goals_catalog, text: str, as_of: str | None
) -> None:
    """``goals(catalog)`` answers or raises the documented UsageError naming the file; the
    goals ``check_goals`` accepts are all evaluated; ``check_folder`` only lists problems."""
    path = goals_folder / "goals.yaml"
    path.write_text(text, encoding="utf-8")
    checked = check_goals(text, source="goals.yaml")
    if checked is None:
        return
    valid, problems = checked
    try:
        result = goals(goals_catalog, as_of=as_of)
    except UsageError as exc:
        message = str(exc)
        assert message.startswith(str(path)), message
        assert_a_message(message, text)
        assert_one_line(message, echoes_with_line_breaks(text))
        assert problems, ("check_goals found nothing wrong", message)
    else:
        assert isinstance(result, GoalsResult)
        assert [g.id for g in result.goals] == [g.id for g in valid]
        assert not problems, problems
    report = check_folder(goals_folder, catalog=goals_catalog)
    for problem in report.problems:
        assert_a_message(problem.message, text)
    goal_errors = [p for p in report.errors if p.area == "goals"]
    assert bool(goal_errors) == bool(problems)


# -- 3. the command line ------------------------------------------------------------------------

LOOP = "signal.created,candidate.created,trade.plan.created,trade.executed,trade.closed"
AS_OF = "2026-11-20T16:00:00Z"
HUGE = "9" * 25


class WouldServe(Exception):
    """Raised where ``serve`` would start serving: every option was accepted."""


@dataclass(frozen=True)
class Outcome:
    code: int | None
    stdout: str
    stderr: str
    crash: BaseException | None


class Cli:
    """``opdash.cli.main`` in this process, in a scratch working directory, over one catalog of
    data/demo opened once (the command still opens it through ``open_catalog``)."""

    def __init__(self, cwd: Path, port: int) -> None:
        self.cwd, self.port = cwd, port

    def __call__(self, argv: list[str]) -> Outcome:
        out, err = io.StringIO(), io.StringIO()
        code, crash = None, None
        with (
            contextlib.chdir(self.cwd),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except WouldServe:
                code = 0
            except Exception as exc:  # the property says: never
                crash = exc
        return Outcome(code, out.getvalue(), err.getvalue(), crash)


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    import opdash.catalog
    import opdash.server

    cwd = tmp_path_factory.mktemp("hostile-cli")
    (cwd / "afile").write_text("x")
    (cwd / "adir").mkdir()
    (cwd / "bomb.yaml").write_text(BOMB)
    (cwd / "bad-date.yaml").write_text("version: 1\ntitle: 2026-13-45\n")
    (cwd / "nul.yaml").write_text("version: 1\ntitle: a\x00b\n")
    (cwd / "tagged.yaml").write_text("version: 1\ntitle: !!set x\n")
    (cwd / "deep.yaml").write_text("goals: " + "[" * 500 + "]" * 500 + "\n")
    demo = DEMO.resolve()
    shared = opdash.catalog.open_catalog(demo)
    real_open, real_check_port = opdash.catalog.open_catalog, opdash.server.check_port_free

    def open_catalog(root, **kwargs):
        return shared if Path(root).resolve() == demo else real_open(root, **kwargs)

    def check_port_free(address: str, port: int) -> None:
        real_check_port(address, port)  # binds and releases: a bad address or port fails here
        raise WouldServe

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(opdash.catalog, "open_catalog", open_catalog)
        patch.setattr(opdash.server, "check_port_free", check_port_free)
        yield Cli(cwd, free_port())


BOMB = (
    "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "goals: *c\n"
)

#: Characters a value on a command line may hold: anything but NUL (argv cannot carry it),
#: surrogates, and line ends (a value with a line break: its own test below).
ARG_TEXT = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00\n\r"), max_size=40
)
GENERIC = st.one_of(
    ARG_TEXT,
    st.sampled_from(
        ["", " ", "-1", "0", "-0", "+1", "1_000", "٣", "１２", HUGE, "-" + HUGE, "1e9", "NaN",
         "inf", "0x10", "2026-13-45", "2026-02-30", "2026-11-20T25:00:00Z", "noon", "x" * 3000,
         "ü" * 100, "\t", "'", '"', "\\", "-", "-x", "--", "--x", "%s%d{}", "{}", "[]", "null",
         "../../etc/passwd", "/", "Mars/Olympus", "🙂"]
    ),
)  # fmt: skip


def enum(*allowed: str) -> st.SearchStrategy:
    valid = st.sampled_from(allowed)
    return st.one_of(
        valid,
        valid.map(str.upper),
        valid.map(lambda v: v[:-1]),
        valid.map(lambda v: f" {v} "),
        valid.map(lambda v: v + "x"),
    )


INTEGERS = st.one_of(
    st.integers(-(10**30), 10**30), st.integers(-3, 1000), st.just(2**63), st.just(2**63 - 1)
).map(str)
DURATIONS = st.one_of(
    st.builds(
        "{}{}".format,
        st.integers(-(10**25), 10**25) | st.integers(0, 1000),
        st.sampled_from(["s", "m", "h", "d", "w", "", "y", "ms", " d", "D"]),
    ),
    st.sampled_from(["14d", "1.5h", "P1D", "1d2h", "0", "0s", "-1d", "1e3s"]),
)
INSTANTS = st.one_of(
    st.builds(
        "{:04d}-{:02d}-{:02d}{}".format,
        st.integers(0, 9999) | st.sampled_from([1, 2026, 9999]),
        st.integers(0, 13),
        st.integers(0, 32),
        st.sampled_from(["", "T00:00:00Z", "T23:59:59+14:00", "T12:00:00-12:00", "T25:00",
                         " 09:00", "T09:00:00.123456789Z", "T09:00:00+99:00", "Z"]),
    ),
    st.sampled_from([AS_OF, "2026-11-20", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
                     "2026-W47", "20261120", "2026-11-20T09:00:00+05:30", "now", "yesterday"]),
)  # fmt: skip
ZONES = st.sampled_from(
    ["UTC", "Europe/Berlin", "Asia/Kathmandu", "Pacific/Kiritimati", "Mars/Olympus", "utc",
     "Europe/Berlinn", "../../etc/passwd", "/etc/localtime", "Etc/GMT+12", "EST5EDT", " UTC ",
     "Europe/", "a" * 300, ".", "posixrules", "right/UTC"]
)  # fmt: skip
FIELD_PATHS = st.one_of(
    st.sampled_from(["actor.id", "correlation.workflow_id", "payload.symbol", "context.market",
                     "actr.id", "payload", "payload.", "payload..x", ".", "payload.a b",
                     "payload.*", "payload.$x", "payload.'x'", "payload.ü", "event_type"]),
    st.builds("payload.{}".format, ARG_TEXT),
)  # fmt: skip
STEPS = st.one_of(
    st.lists(st.sampled_from(EVENT_TYPES) | ARG_TEXT, min_size=1, max_size=5).map(",".join),
    st.sampled_from([",", ",,", "a,,b", " ,a", LOOP + ",", "a," * 7 + "a"]),
)
SPEC_FILES = st.sampled_from(
    ["", "nope.yaml", "/dev/null", "/dev/zero", "/", "/etc/passwd", "afile", "adir",
     "bomb.yaml", "deep.yaml", "bad-date.yaml", "nul.yaml", "tagged.yaml", "a" * 300, "ü" * 200, str(DEMO / "goals.yaml"),
     str(DEMO / "dashboard.yaml"), str(DEMO / "events"), "~/nope.yaml", "~nobody-here/x.yaml"]
)  # fmt: skip
#: Relative paths only (nothing is written outside the scratch directory), and ones inside
#: data/demo (which must be refused before anything is written). Never GENERIC: no "/", no "..".
OUT_PATHS = st.one_of(
    st.sampled_from(
        ["", ".", "out", "afile", "afile/sub", "adir", "adir/x", "new/deeper/x", "a" * 300,
         "ü" * 200, str(DEMO), str(DEMO / "x"), str(DEMO / "events" / "x.json"), "-"]
    ),
    ARG_TEXT.filter(
        lambda p: p and not p.startswith(("/", "~")) and ".." not in p and len(p.encode()) < 200
    ),
)  # fmt: skip
FOLDERS = st.sampled_from(
    ["", "nope", "afile", "adir", "/dev/null", "a" * 300, "ü" * 200, str(DEMO / "goals.yaml"),
     "/nonexistent/x", "-", "~nobody-here"]
)  # fmt: skip

KINDS: dict[str, st.SearchStrategy] = {
    "text": GENERIC,
    "int": INTEGERS,
    "duration": DURATIONS,
    "instant": INSTANTS,
    "zone": ZONES,
    "path": FIELD_PATHS,
    "steps": STEPS,
    "metric": st.sampled_from(["count", "unique", "sum:payload.pnl", "avg:payload.pnl", "sum",
                               "sum:", "avg:paylod.pnl", "unique:actor.idd", "count:x", "p95"]),
    "ttc": st.sampled_from(["1:2", "2:1", "0:1", "1:99", "a:b", "1", ":", "1:2:3", "-1:2",
                            "signal.created:trade.closed", f"1:{HUGE}"]),
    "spec": SPEC_FILES,
    "out": OUT_PATHS,
    "port": INTEGERS | st.sampled_from(["0", "1", "80", "65535", "65536", "5006", "http"]),
    "address": st.sampled_from(
        ["127.0.0.1", "localhost", "::1", "0.0.0.0", "999.1.1.1", "1.2.3.4", "::::", "[::1]",
         "a" * 300, "ü", "ü" * 70, "xn--", "-", "127.0.0.1:80", "http://x", "\x7f"]
    ),
    "json": st.sampled_from(["{}", '{"a": 1}', "[]", "{bad", "null", "1", '"x"', "{" * 500]),
    "workflow": st.sampled_from(["wf-0001", "wf-999999", "wf-001", "'; DROP TABLE events; --",
                                 "%", "_", "*", "x" * 2000]),
}  # fmt: skip
#: Every kind of value also gets the generic hostile ones, but for output paths: those stay
#: relative (inside the scratch directory) or inside data/demo (refused before writing).
KINDS = {
    name: strategy if name == "out" else strategy | GENERIC for name, strategy in KINDS.items()
}

SERVER = {
    "--port": "port",
    "--address": "address",
    "--basic-auth": "text",
    "--cookie-secret": "text",
    "--oauth-provider": "text",
    "--oauth-key": "text",
    "--oauth-secret": "text",
    "--oauth-redirect-uri": "text",
    "--oauth-encryption-key": "text",
    "--oauth-extra-params": "json",
}
#: command → (its fixed arguments, {option: kind of value}); a fixed option is replaced by the
#: hostile one when it is the one tested. "WORKFLOW" is chain's positional argument.
COMMANDS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "funnel": (
        {"--steps": LOOP},
        {
            "--steps": "steps",
            "--window": "duration",
            "--order": "order",
            "--by": "path",
            "--since": "instant",
            "--until": "instant",
            "--breakdown": "path",
            "--breakdown-limit": "int",
            "--attribution": "attribution",
            "--exclude": "text",
            "--time-to-convert": "ttc",
            "--bins": "int",
            "--trend": "trend",
            "--tz": "zone",
            "--as-of": "instant",
            "--dropped-at": "int",
            "--limit": "int",
        },
    ),
    "trend": (
        {"--event": "trade.closed"},
        {
            "--event": "text",
            "--interval": "interval",
            "--tz": "zone",
            "--since": "instant",
            "--until": "instant",
            "--metric": "metric",
            "--by": "path",
            "--breakdown": "path",
            "--breakdown-limit": "int",
            "--rolling": "int",
            "--compare": "compare",
        },
    ),
    "retention": (
        {"--start": "signal.created", "--return": "signal.created", "--by": "payload.symbol"},
        {
            "--start": "text",
            "--return": "text",
            "--by": "path",
            "--interval": "interval",
            "--tz": "zone",
            "--periods": "int",
            "--since": "instant",
            "--until": "instant",
            "--mode": "mode",
            "--as-of": "instant",
        },
    ),
    "paths": (
        {"--start": "signal.created"},
        {
            "--start": "text",
            "--by": "path",
            "--steps": "int",
            "--exclude": "text",
            "--since": "instant",
            "--until": "instant",
            "--top": "int",
            "--node": "text",
            "--limit": "int",
        },
    ),
    "goals": ({"--as-of": AS_OF}, {"--goals": "spec", "--as-of": "instant"}),
    "today": ({"--as-of": AS_OF}, {"--as-of": "instant", "--tz": "zone", "--tasks": "int"}),
    "chain": ({"WORKFLOW": "wf-0001"}, {"WORKFLOW": "workflow"}),
    "pipeline": (
        {"--steps": LOOP, "--as-of": AS_OF},
        {
            "--steps": "steps",
            "--window": "duration",
            "--stuck-after": "duration",
            "--as-of": "instant",
            "--by": "path",
            "--limit": "int",
        },
    ),
    "snapshot": (
        {"--out": "snap", "--as-of": AS_OF},
        {"--out": "out", "--as-of": "instant", "--stale-after": "int"},
    ),
    "check": ({}, {"--spec": "spec"}),
    "info": ({}, {}),
    "audit": (
        {"--out-json": "audit.json", "--out-markdown": "audit.md"},
        {"--out-json": "out", "--out-markdown": "out", **SERVER},
    ),
    "serve": (
        {"--refresh": "0"},
        {**SERVER, "--refresh": "int", "--stale-after": "int", "--spec": "spec"},
    ),
}
KINDS |= {
    "order": enum("ordered", "strict", "unordered") | GENERIC,
    "trend": enum("day", "week") | GENERIC,
    "interval": enum("hour", "day", "week", "month") | GENERIC,
    "compare": enum("previous") | GENERIC,
    "mode": enum("first-time", "recurring") | GENERIC,
    "attribution": enum("first", "last", "all", "step:1", "step:9", "step:", "step:x") | GENERIC,
}
#: Options whose valid values cost a second each (a fresh computation or 15 files written).
SLOW_OPTIONS = {("funnel", "--exclude"), ("snapshot", "--out"), ("snapshot", "--as-of")}
CASES = [(command, option) for command, (_, options) in COMMANDS.items() for option in options]
CASES += [(command, "DIR") for command in COMMANDS]


def argv_of(cli: Cli, command: str, option: str, value: str, joined: bool) -> list[str]:
    """The command line: DIR, the fixed arguments, and the option under test with ``value``
    (``--opt=value`` when ``joined``; a positional value that starts with '-' after ``--``)."""
    fixed, _options = COMMANDS[command]
    fixed = {k: v for k, v in fixed.items() if k != option}
    folder = value if option == "DIR" else str(DEMO)
    if command == "serve" and option != "--port":
        fixed["--port"] = str(cli.port)
    argv = [command]
    positional = [folder]
    workflow = value if option == "WORKFLOW" else fixed.pop("WORKFLOW", None)
    if command == "chain":
        positional.append(workflow)
    options = [f"{k}={v}" for k, v in fixed.items()]
    if option.startswith("--"):
        options += [f"{option}={value}"] if joined else [option, value]
    if any(p.startswith("-") for p in positional):
        return argv + options + ["--", *positional]
    return argv + positional + options


def names(line: str, option: str, value: str) -> bool:
    """Whether an error line names the bad value (or a part of it) or the option."""
    name = option.lstrip("-").lower()
    wanted = {value, value.strip(), option, name, name.replace("-", " "), name.replace("-", "_")}
    wanted |= {f"'{value}'", f"'{value.strip()}'"}  # an empty value, quoted
    wanted |= {part.strip() for part in re.split(r"[,:]", value) if part.strip()}
    if option == "WORKFLOW":
        wanted |= {"workflow"}
    if option == "DIR":
        wanted |= {"folder"}
    with contextlib.suppress(ValueError):
        wanted.add(str(int(value)))  # '٣', '1_000', '-0' are the numbers they read as
    with contextlib.suppress(ValueError):
        wanted.add(datetime.fromisoformat(value.strip().replace("z", "Z")).isoformat())
    lower = line.lower()
    return any(w and w.lower() in lower for w in wanted)


def assert_cli_rule(
    outcome: Outcome, command: str, option: str, value: str, *, named: bool = True
) -> None:
    """Exit 0 (1 for check and audit: problems found), or 2 with one stderr line naming the
    value or the option (when ``named``: the value is the mistake); never an exception or a
    traceback."""
    assert outcome.crash is None, f"{type(outcome.crash).__name__}: {outcome.crash}"
    assert "Traceback" not in outcome.stderr + outcome.stdout
    allowed = {0, 2} | ({1} if command in ("check", "audit") else set())
    assert outcome.code in allowed, (outcome.code, outcome.stderr)
    if outcome.code == 2:
        lines = outcome.stderr.strip("\n").split("\n")
        assert len(lines) == 1 and lines[0].strip(), outcome.stderr
        if named:
            assert names(lines[0], option, value), (
                f"names neither {value!r} nor {option}: {lines[0]}"
            )
        assert_a_message(lines[0], value)


@pytest.mark.parametrize(("command", "option"), CASES)
def test_every_cli_option_refuses_hostile_values_in_one_line(cli: Cli, command, option) -> None:
    kind = {"DIR": "dir", "WORKFLOW": "workflow"}.get(option) or COMMANDS[command][1][option]
    values = st.sampled_from(["", "-", "a" * 300]) | FOLDERS if kind == "dir" else KINDS[kind]

    @hypothesis_settings(2 if (command, option) in SLOW_OPTIONS or command == "pipeline" else 3)
    @given(value=values, joined=st.booleans())
    def property_(value: str, joined: bool) -> None:
        outcome = cli(argv_of(cli, command, option, value, joined))
        # a folder that exists is no mistake: chain's error is then the workflow's
        try:
            named = option != "DIR" or not (cli.cwd / value).is_dir()
        except OSError:  # a name too long to be one
            named = True
        assert_cli_rule(outcome, command, option, value, named=named)

    property_()


#: (arguments, what the one stderr line must hold): values that fail before anything is served
#: or written.
OUTSIDE = [
    (["goals", str(DEMO), "--goals", "bomb.yaml"], "anchors"),
    (["snapshot", str(DEMO), "--out", str(DEMO / "x")], "inside the artifact folder"),
    (["serve", str(DEMO), "--refresh", "-1"], "-1"),
    (["serve", str(DEMO), "--port", "1", "--oauth-provider", "github",
      "--oauth-extra-params", "{bad"], "{bad"),
]  # fmt: skip


def test_the_same_from_the_outside(tmp_path: Path) -> None:
    """Real processes (run side by side): one line on stderr, exit 2, nothing on stdout, nothing
    written, and none left running."""
    (tmp_path / "bomb.yaml").write_text(BOMB)
    before = sorted(tmp_path.iterdir())
    # one that is still running after the timeout served: a value that must fail did not
    done = run_clis(*[args for args, _named in OUTSIDE], cwd=tmp_path)
    wrong = []
    for (args, named), proc in zip(OUTSIDE, done, strict=True):
        out, err = proc.stdout, proc.stderr
        lines = err.strip("\n").split("\n")
        if proc.returncode != 2 or len(lines) != 1 or named not in lines[0] or out:
            wrong.append(f"{args[0]} {args[2:]}: exit {proc.returncode}, {out=}, {err=}")
    assert not wrong, "\n".join(wrong)
    assert sorted(tmp_path.iterdir()) == before


# -- 4. the API ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served():
    """One real ``opdash serve data/demo``; its URL and its OpenAPI document."""
    with opdash_serve(DEMO, "--refresh", "0", ready_query="health") as url:
        with urllib.request.urlopen(url + "api/openapi.json", timeout=30) as response:
            document = json.loads(response.read())
        yield url, document


RUN_IDS = ["backtest-20261118", "scanner-live-20261120"]
PATH_VALUES = st.one_of(
    st.sampled_from(RUN_IDS),
    st.sampled_from(
        ["..", "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "%00", "a%00b", "%2F", "a/b", "a//b", "%ff",
         "%", "%zz", "%252e%252e", "~root", ";", "a;b=c", ".hidden", "-x", "x" * 5000,
         "backtest-20261118%00", "backtest-20261118%2F..", "%E2%80%AE", "%C0%AE%C0%AE",
         "backtest-20261118/..", "%u002e"]
    ),
    st.text(max_size=60).map(lambda t: urllib.parse.quote(t, safe="")),
    st.text(max_size=20).map(lambda t: urllib.parse.quote(t, safe="/;=~")),
)  # fmt: skip
QUERY_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", "0", "1", "-1", "1000", "1001", HUGE, "-" + HUGE, "1.5", "1e3", "٣", "0x10",
         "2026-13-45", "2026-11-20T25:00:00Z", "critical", "CRITICAL", "open", "closed", "all",
         "x" * 5000, "\x00", "'; DROP TABLE runs; --", "<script>", "null", "[]"]
    ),
)  # fmt: skip


@st.composite
def queries(draw, route: api.Route, document_names: list[str]) -> str:
    """A query string: the route's parameters, other routes' and unknown names, repeated ones,
    hostile values; encoded, or written raw."""
    names_ = st.sampled_from(
        [*document_names, *route.query_names, "limt", "LIMIT", "", "a[]", "__proto__"]
    )
    pairs = draw(st.lists(st.tuples(names_ | st.text(max_size=8), QUERY_VALUES), max_size=4))
    if route.query_names and draw(st.booleans()):  # the route's own parameter, maybe twice
        name = draw(st.sampled_from(route.query_names))
        pairs += [(name, draw(QUERY_VALUES)) for _ in range(draw(st.integers(1, 2)))]
    query = urllib.parse.urlencode(pairs)
    raw = draw(st.sampled_from(["", "", "&", "&&", "=x", "limit", "limit=%ff", "limit=%", "%zz=1"]))
    return "&".join(p for p in (query, raw) if p)


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def assert_api_rule(status: int, content_type: str, body: bytes, url: str) -> None:
    text = body.decode("utf-8", errors="replace")
    assert status < 500, (status, url, text[:500])
    assert "Traceback" not in text and 'File "' not in text, (url, text[:500])
    if 400 <= status < 500:
        assert content_type.startswith("application/json"), (status, content_type, url)
        data = json.loads(body)
        assert isinstance(data, dict) and isinstance(data.get("error"), str), data
        assert data["error"].strip(), data
    elif status == 200 and content_type.startswith("application/json"):
        assert isinstance(json.loads(body), dict)


def test_the_served_document_lists_the_routes_tested_here(served) -> None:
    _url, document = served
    assert set(document["paths"]) == {route.path for route in api.ROUTES}
    for route in api.ROUTES:
        parameters = document["paths"][route.path]["get"]["parameters"]
        assert [p["name"] for p in parameters if p["in"] == "query"] == list(route.query_names)


@pytest.mark.parametrize("route", api.ROUTES, ids=[route.path for route in api.ROUTES])
def test_every_route_answers_hostile_values_without_a_server_error(served, route) -> None:
    url, document = served
    every_name = sorted(
        {p["name"] for item in document["paths"].values() for p in item["get"]["parameters"]}
    )
    costly = route.path.startswith("/api/status") or route.path == "/health"  # a fresh answer

    @hypothesis_settings(12 if costly else 40)
    @given(
        path_value=PATH_VALUES,
        query=queries(route, every_name),
        suffix=st.sampled_from(["", "", "", "/", "//", "/..", "/%2e%2e", "/x"]),
    )
    def property_(path_value: str, query: str, suffix: str) -> None:
        path = route.path.replace("{run_id}", path_value).lstrip("/")
        if route.path.startswith("/api/"):
            path += suffix
        target = url + path + ("?" + query if query else "")
        assert_api_rule(*fetch(target), target)

    property_()


# -- what hypothesis found once (each was a crash or a traceback; now one line) ----------------


def follows_rule(outcome: Outcome, command: str, option: str, value: str) -> None:
    """``assert_cli_rule``, but a crash is raised as it is (for ``xfail(raises=...)``)."""
    if outcome.crash is not None:
        raise outcome.crash
    assert_cli_rule(outcome, command, option, value)


#: YAML PyYAML cannot build, each kind the hostile generators crashed the loader with.
UNBUILDABLE_SPECS = {
    "unprintable": ["\x00", "version: 1\ntitle: a\x00b\n", "version: 1\x01\n", "\ufffe"],
    "bad date or number": [
        "version: 1\ntitle: 2026-13-45\n",
        "version: !!int x\n",
        "version: 1\ntitle: 2026-02-30 25:00:00\n",
        "version: " + "9" * 5000 + "\n",
        "version: !!timestamp x\n",
    ],
    "scalar tagged as a mapping": ["version: !!set false\n", "a: !!map x\n", "a: !!set [a, b]\n"],
}
UNBUILDABLE_GOALS = {
    "unprintable": "goals:\n  - id: a\x00\n",
    "bad date": "goals:\n  - id: a\n    title: 2026-13-45\n",
    "scalar tagged as a mapping": "goals:\n  - !!map x\n",
}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(text, id=f"{kind}-{i}")
        for kind, texts in UNBUILDABLE_SPECS.items()
        for i, text in enumerate(texts)
    ],
)
def test_yaml_the_loader_cannot_build_is_refused_by_the_spec_check(text: str) -> None:
    _spec, problems, _data = check_spec_text(text)
    assert problems and problems[0].severity == "error", [p.text() for p in problems]


@pytest.mark.parametrize("text", UNBUILDABLE_GOALS.values(), ids=UNBUILDABLE_GOALS.keys())
def test_yaml_the_loader_cannot_build_is_refused_by_the_goals_check(text: str) -> None:
    _valid, problems = check_goals(text)
    assert problems


def test_an_unprintable_character_is_refused_by_opdash_goals(cli: Cli) -> None:
    outcome = cli(["goals", str(DEMO), "--goals", "nul.yaml"])
    follows_rule(outcome, "goals", "--goals", "nul.yaml")


@pytest.mark.parametrize("name", ["bad-date.yaml", "tagged.yaml"])
def test_yaml_the_loader_cannot_build_is_refused_by_opdash_check(cli: Cli, name: str) -> None:
    outcome = cli(["check", str(DEMO), "--spec", name])
    follows_rule(outcome, "check", "--spec", name)
    assert outcome.code == 1 and name in outcome.stdout, outcome


@pytest.mark.parametrize(
    "args",
    [["funnel", "--steps", LOOP, "--window", HUGE + "s"],
     ["funnel", "--steps", LOOP, "--window", "9223372036854s"],
     ["pipeline", "--steps", LOOP, "--stuck-after", HUGE + "d"]],
)  # fmt: skip
def test_a_huge_duration_is_refused(cli: Cli, args: list[str]) -> None:
    command, *rest = args
    outcome = cli([command, str(DEMO), *rest])
    follows_rule(outcome, command, args[-2], args[-1])


def test_a_conversion_goal_with_a_huge_window_is_refused(goals_folder: Path) -> None:
    text = (
        "goals:\n  - id: c\n    metric: conversion\n    steps: [signal.created, trade.closed]\n"
        "    target: 0.5\n    period: week\n    window: 99999999999999999999d\n"
    )
    valid, problems = check_goals(text)
    folder = goals_folder.parent / "huge-window"
    write_lines(folder / "events" / "e.jsonl", [ev("e1", "signal.created")])
    (folder / "goals.yaml").write_text(text)
    with contextlib.suppress(UsageError):  # refusing the window is as good as evaluating it
        goals(opdash.open(folder), as_of="2026-11-20T12:00:00Z")
    assert problems or valid


@pytest.mark.parametrize(
    "args",
    [["pipeline", "--steps", LOOP, "--limit", str(2**63)],
     ["trend", "--event", "trade.closed", "--breakdown", "actor.id", "--breakdown-limit", str(2**63 - 1)]],
)  # fmt: skip
def test_a_huge_limit_is_refused(cli: Cli, args: list[str]) -> None:
    command, *rest = args
    outcome = cli([command, str(DEMO), *rest])
    follows_rule(outcome, command, args[-2], args[-1])


@pytest.mark.parametrize(
    "args",
    [["goals", "--as-of", "0001-01-01T00:00:00+01:00"],
     ["today", "--as-of", "9999-12-31T23:00:00-05:00"],
     ["snapshot", "--out", "snap", "--as-of", "9999-12-31T23:59:59Z"],
     ["trend", "--event", "x", "--since", "9999-12-01"],
     ["trend", "--event", "x", "--until", "9999-12-31T23:59:59Z"]],
)  # fmt: skip
def test_an_instant_at_the_edge_of_the_calendar_is_refused(cli: Cli, args: list[str]) -> None:
    command, *rest = args
    outcome = cli([command, str(DEMO), *rest])
    follows_rule(outcome, command, args[-2], args[-1])


@pytest.mark.parametrize(
    "args",
    [["info", "a" * 300],
     ["check", str(DEMO), "--spec", "a" * 300],
     ["snapshot", str(DEMO), "--out", "a" * 300]],
)  # fmt: skip
def test_a_path_with_a_long_name_is_refused(cli: Cli, args: list[str]) -> None:
    outcome = cli(args)
    follows_rule(outcome, args[0], "DIR" if args[0] == "info" else args[-2], "a" * 300)


@pytest.mark.parametrize(
    "args",
    [["info", "~nobody-here"],
     ["check", str(DEMO), "--spec", "~nobody-here/x.yaml"],
     ["goals", str(DEMO), "--goals", "~nobody-here/x.yaml"]],
)  # fmt: skip
def test_a_path_of_an_unknown_users_home_is_refused(cli: Cli, args: list[str]) -> None:
    outcome = cli(args)
    option = "DIR" if args[0] == "info" else args[-2]
    follows_rule(outcome, args[0], option, args[-1])


@pytest.mark.parametrize("out", ["adir", "missing/audit.json", "afile/audit.json"])
def test_audit_to_an_unwritable_path_is_refused(cli: Cli, out: str) -> None:
    outcome = cli(["audit", str(DEMO), "--out-json", out, "--out-markdown", "audit.md"])
    follows_rule(outcome, "audit", "--out-json", out)


def test_snapshot_below_a_file_is_refused(cli: Cli) -> None:
    outcome = cli(["snapshot", str(DEMO), "--out", "afile/sub"])
    follows_rule(outcome, "snapshot", "--out", "afile/sub")


def test_serve_on_an_address_idna_cannot_encode_is_refused(cli: Cli) -> None:
    outcome = cli(["serve", str(DEMO), "--port", str(cli.port), "--address", "ü" * 70])
    follows_rule(outcome, "serve", "--address", "ü" * 70)


def test_serve_on_an_address_idna_cannot_encode_is_one_line_from_the_outside(
    tmp_path: Path,
) -> None:
    """The same from the outside (it fails before serving: no server is started)."""
    done = subprocess.run(
        [sys.executable, "-m", "opdash.cli", "serve", str(DEMO), "--port", str(free_port()),
         "--address", "ü" * 70],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("option", ["--by", "--breakdown-limit"])
def test_an_option_given_as_double_dash_is_refused(cli: Cli, option: str) -> None:
    outcome = cli(["funnel", str(DEMO), "--steps", LOOP, f"{option}=--"])
    follows_rule(outcome, "funnel", option, "--")


def test_a_funnel_of_many_steps_is_refused(cli: Cli, tmp_path: Path) -> None:
    """(On an empty folder: the query is built, and fails, before any data is read; ~7 s.
    43 steps still answer, in ~15 s.)"""
    (tmp_path / "events").mkdir()
    steps = ",".join(f"t{i}" for i in range(45))
    outcome = cli(["funnel", str(tmp_path), "--steps", steps])
    follows_rule(outcome, "funnel", "--steps", steps)


def test_a_value_with_a_line_break_is_reported_on_one_line(cli: Cli) -> None:
    outcome = cli(["funnel", str(DEMO), "--steps", LOOP, "--window", "14\nx"])
    follows_rule(outcome, "funnel", "--window", "14\nx")


def test_too_many_buckets_names_the_option(cli: Cli) -> None:
    outcome = cli(["trend", str(DEMO), "--event", "x", "--since", "0001-01-01"])
    follows_rule(outcome, "trend", "--since", "0001-01-01")
