"""Secrets never leave: what counts as a secret key, at any depth, and inside text.

Why: agents' artifacts carry credentials by accident; one missed shape (a nested list, a
camelCase key, a ``token=`` inside a URL) is a leak on a shared screen or in an archived
snapshot. Counts that merely mention tokens (``max_tokens``) must stay readable.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
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
