"""Secrets never leave: what counts as a secret key, at any depth, and inside text.

Why: agents' artifacts carry credentials by accident; one missed shape (a nested list, a
camelCase key, a ``token=`` inside a URL) is a leak on a shared screen or in an archived
snapshot. Counts that merely mention tokens (``max_tokens``) must stay readable.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opdash.masking import MASK, looks_secret, mask, mask_text


@pytest.mark.parametrize(
    "key",
    ["password", "DB_PASSWORD", "passwd", "client_secret", "secretKey", "access_token",
     "githubToken", "api_key", "api-key", "apikey", "X-Api-Key", "apiKey", "Authorization",
     "private_key", "privateKey", "PRIVATE-KEY", "refresh.token"],
)  # fmt: skip
def test_secret_keys(key: str) -> None:
    assert looks_secret(key)
    assert mask({key: "v", "keep": 1}) == {key: MASK, "keep": 1}


@pytest.mark.parametrize(
    "key", ["max_tokens", "tokens_used", "keyboard", "secretary", "name", "api", "key", "pass"]
)
def test_ordinary_keys(key: str) -> None:
    assert not looks_secret(key)
    assert mask({key: "v"}) == {key: "v"}


def test_any_depth_and_inside_text() -> None:
    data = {
        "a": [{"b": {"Password": "p1", "n": 2}}, "url?x=1&token=t1&y=2"],
        "note": 'api_key="quoted value" and secret: s2, Authorization: Bearer b3 done',
        "empty": {"token": None},
    }
    masked = mask(data)
    assert masked["a"] == [{"b": {"Password": MASK, "n": 2}}, f"url?x=1&token={MASK}&y=2"]
    assert masked["note"] == f'api_key="{MASK}" and secret: {MASK}, Authorization: {MASK} done'
    assert masked["empty"] == {"token": None}  # nothing to hide, and shown as absent
    for secret in ("p1", "t1", "quoted value", "s2", "b3"):
        assert secret not in json.dumps(masked)


def test_json_text_is_masked_as_data() -> None:
    text = json.dumps({"auth": {"token": "t"}, "msg": "password=x", "max_tokens": 3})
    assert json.loads(mask_text(text)) == {
        "auth": {"token": MASK},
        "msg": f"password={MASK}",
        "max_tokens": 3,
    }
    assert mask_text(None) is None and mask_text("") == ""


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["token", "x", "apiKey", "n", "db_password"]), children, max_size=3
        )
    ),  # fmt: skip
    max_leaves=12,
)


@given(json_values)
def test_masking_is_idempotent_and_leaves_no_secret_value(value) -> None:
    once = mask(value)
    assert mask(once) == once

    def check(node) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                assert v is None or not looks_secret(k) or v == MASK
                check(v)
        elif isinstance(node, list):
            for v in node:
                check(v)

    check(once)


def test_broken_json_text_is_masked_too() -> None:
    """Quarantined lines are shown as text and are often JSON cut short."""
    assert mask_text('{"token": "abc", "n": 1') == '{"token": "•••", "n": 1'
    assert mask_text("{'password': 'x y', broken") == "{'password': '•••', broken"
    assert mask_text('see api_key="k 1" now') == 'see api_key="•••" now'


def test_quarantined_samples_never_show_a_secret(folder) -> None:
    """The Data quality panel shows broken records as they were, except their secrets."""
    import opdash
    from opdash.metrics.quality import quality_report

    (folder / "events").mkdir(parents=True, exist_ok=True)
    (folder / "events" / "a.jsonl").write_text(
        '{"event_id": "e1", "api_key": "ak-live-9", "event_type": \n'
        '{"event_id": "e2", "event_type": "t", "occurred_at": "yesterday", "token": "tk-9"}\n'
    )
    report = quality_report(opdash.open(folder))
    assert len(report.samples) == 2
    for sample in report.samples:
        text = f"{sample.raw} {sample.detail}"
        assert "ak-live-9" not in text and "tk-9" not in text and MASK in sample.raw


# -- SQL tiles read masked relations (issue 19) --------------------------------------------------

#: Planted secrets: lower-case letters and digits, so any transformation a query can make
#: (case, reversal, substrings, replacements) still contains one of their 5-letter cores.
SECRETS = {
    "token": "tkq7xz3vw9",
    "nested": "nk4pj8rm2h",
    "fragment": "fr6yb1sd5c",
    "context": "cx2wl9qe4t",
    "params": "pm8gh3nv6z",
    "alert": "al5ud7ko1x",
    "quarantine": "qu3mf6ty8b",
    "escaped": "es9rc2xa7p",
}


def _cores(secret: str) -> list[str]:
    return [secret[1:6], secret[::-1][1:6]]


@pytest.fixture
def secret_folder(folder):
    return write_secret_folder(folder)


def write_secret_folder(folder):
    """A folder with secrets in payloads, context, a run's params, an alert and a broken line."""
    from tests.fixtures import ev, write_lines

    events = [
        ev(
            f"e{i}",
            "signal.created",
            i,
            f"w{i}",
            payload={
                "token": f"abc-{SECRETS['token']}-{i}",
                "deep": [{"apiKey": SECRETS["nested"]}],
                "note": f"call with password={SECRETS['fragment']} please",
                "max_tokens": 7,
            },
            context={"Authorization": f"Bearer {SECRETS['context']}"},
        )
        for i in range(3)
    ]
    lines = [json.dumps(e) for e in events]
    # a key spelled with a JSON escape, and a quarantined line holding a secret
    lines.append(
        '{"event_id": "e9", "event_type": "t", "occurred_at": "2026-11-20T00:00:00Z", '
        '"payload": {"\\u0074oken": "' + SECRETS["escaped"] + '"}}'
    )
    lines.append('{"event_id": "bad", "occurred_at": "later", "token": "' + SECRETS["quarantine"])
    (folder / "events").mkdir(parents=True, exist_ok=True)
    (folder / "events" / "a.jsonl").write_text("\n".join(lines) + "\n")
    run = folder / "runs" / "r1"
    run.mkdir(parents=True)
    meta = {"run_id": "r1", "status": "running", "params": {"db_password": SECRETS["params"]}}
    (run / "run.json").write_text(json.dumps(meta))
    alert = {"alert_id": "a1", "raised_at": "2026-11-20T00:00:00Z", "severity": "warning",
             "title": "t", "message": f"retry with api_key={SECRETS['alert']}"}  # fmt: skip
    write_lines(run / "alerts.jsonl", [alert])
    return folder


def _leaks(rows) -> list[str]:
    text = json.dumps([list(r) for r in rows], ensure_ascii=False, default=str).lower()
    return [name for name, s in SECRETS.items() if any(c in text for c in _cores(s))]


def test_the_issue_example_shows_no_secret(secret_folder) -> None:
    import opdash
    from opdash.metrics.sql import run_sql

    catalog = opdash.open(secret_folder)
    sql = (
        "SELECT payload->>'token' AS k, upper(payload->>'token') AS u, "
        "replace(payload->>'token', '-', ' ') AS r FROM events"
    )
    result = run_sql(catalog, sql)
    assert len(result.rows) == 4 and _leaks(result.rows) == []
    assert {row[0] for row in result.rows} == {MASK}
    # what is not a secret stays readable through the masked view
    counts = run_sql(catalog, "SELECT sum((payload->>'max_tokens')::INT) FROM events")
    assert counts.rows == [(21,)]


def test_quarantined_samples_are_stored_masked(secret_folder) -> None:
    import opdash

    catalog = opdash.open(secret_folder)
    rows = catalog.fetchall("SELECT raw, detail FROM quarantine")
    assert rows and _leaks(rows) == []


_COLUMNS = [
    "payload::VARCHAR",
    "payload->>'token'",
    "payload->'deep'->0->>'apiKey'",
    "json_extract_string(payload, '$.deep[0].apiKey')",
    "payload->>'note'",
    "payload->>'$.token'",
    "context::VARCHAR",
    "context->>'Authorization'",
    "to_json(payload)::VARCHAR",
    "extra::VARCHAR",
]
_RELATIONS = {
    "runs": ["params::VARCHAR", "params->>'db_password'", "json_keys(params)::VARCHAR"],
    "alerts": ["message", "title || message"],
    "quarantine": ["raw", "detail", "reason || raw"],
}
_TRANSFORMS = [
    "{}",
    "upper({})",
    "lower({})",
    "reverse({})",
    "replace({}, '-', ' ')",
    "substr({}, 3)",
    "{} || 'z'",
    "concat('x', {})",
    "regexp_extract({}, '[a-z0-9]{{6,}}', 0)",
    "regexp_replace({}, '[^a-z0-9]', '', 'g')",
    "split_part({}, '-', 2)",
    "CAST({} AS BLOB)::VARCHAR",
    "to_json({})::VARCHAR",
    "json_object('k', {})::VARCHAR",
    "string_split({}, '=')::VARCHAR",
]
_AGGREGATES = ["string_agg({}, ',')", "list({})::VARCHAR", "min({})", "max({})", "first({})"]


@st.composite
def secret_queries(draw) -> str:
    relation = draw(st.sampled_from(["events", *_RELATIONS]))
    column = draw(st.sampled_from(_COLUMNS if relation == "events" else _RELATIONS[relation]))
    for _ in range(draw(st.integers(1, 3))):
        column = draw(st.sampled_from(_TRANSFORMS)).format(column)
    if draw(st.booleans()):
        return f"SELECT {draw(st.sampled_from(_AGGREGATES)).format(column)} AS v FROM {relation}"
    if draw(st.booleans()):  # through a CTE and a subquery of the tile's own
        return f"WITH t AS (SELECT * FROM {relation}) SELECT {column} AS v FROM (SELECT * FROM t)"
    return f"SELECT {column} AS v FROM {relation}"


@pytest.fixture(scope="module")
def secret_catalog(tmp_path_factory):
    import opdash

    folder = tmp_path_factory.mktemp("secrets")
    write_secret_folder(folder)
    return opdash.open(folder)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=secret_queries())
def test_no_query_over_secret_fields_finds_a_planted_secret(secret_catalog, query) -> None:
    from opdash.errors import UsageError
    from opdash.metrics.sql import run_sql

    try:
        result = run_sql(secret_catalog, query)
    except UsageError:  # a combination DuckDB rejects (e.g. a type) shows nothing
        return
    assert _leaks(result.rows) == [], query


_PIECES = ["token", "Token", "TOKEN", "tokens", "api", "Api", "KEY", "key", "private", "pass",
           "word", "Password", "passwd", "secret", "Authorization", "x", "_", "-", ".", " ", "=",
           ": ", '"', "'", "{", "}", "[", "]", ",", "\\u0074", "\\u00", "é", "K", "1", "s",
           "bearer "]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
def test_what_masking_changes_the_suspect_pattern_finds(text: str) -> None:
    """Only values the vectorised SUSPECT pattern matches are masked in SQL tiles' relations:
    it must match every text that masking would change (a miss would be a leak)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from opdash.masking import SUSPECT, mask_json_text

    found = pc.match_substring_regex(pa.array([text]), SUSPECT)[0].as_py()
    if MASK in mask_text(text) or MASK in mask_json_text(text):  # (no piece holds MASK)
        assert found, text
