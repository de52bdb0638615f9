"""Secrets never leave opdash: values under keys that look secret are shown as ``•••``.

Artifacts written by agents carry credentials by accident (a run's ``params``, a tool call's
payload, an alert message quoting a URL). Every answer that leaves the process — pages, the
JSON API, snapshots, the CLI — passes through :func:`mask` or :func:`mask_text` first.

A key looks secret when one of its words (split at ``_ - . space`` and camelCase) is password,
passwd, secret, token, authorization, or the pair api key / private key (``api_key``,
``api-key``, ``apikey``, ``privateKey`` …), whatever the case. ``max_tokens`` or
``tokens_used`` (counts) are not secrets; ``access_token`` and ``githubToken`` are.
"""

from __future__ import annotations

import json
import re
from typing import Any

MASK = "•••"

_WORDS = {"password", "passwd", "secret", "token", "authorization", "apikey", "privatekey"}
_PAIRS = {("api", "key"), ("private", "key")}
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
# key=value or key: value inside text; the value is quoted, or runs to a space or separator
# (a key may close a quote first: "token": "x" inside broken JSON text; a quoted value cut
# short by the end of a truncated sample runs to the end)
# The key starts where a word does (the lookbehind): tried at every position of a long token,
# the match would cost the token's length each time — quadratic on a 1 MB base64 blob.
_FRAGMENT = re.compile(
    r"""(?<![A-Za-z0-9_.\-])(?P<key>[A-Za-z][A-Za-z0-9_.\-]*+)(?P<sep>["']?\s*[=:]\s*)"""
    r"""(?P<value>"[^"]*(?:"|$)|'[^']*(?:'|$)|(?:(?:bearer|basic|token)\s+)?[^\s&;,"'<>]+)""",
    re.IGNORECASE,
)


def looks_secret(key: str) -> bool:
    """Whether a key names a secret (see the module docstring)."""
    words = [w.lower() for w in _SPLIT.split(key) if w]
    if any(w in _WORDS for w in words):
        return True
    return any(pair in _PAIRS for pair in zip(words, words[1:], strict=False))


def mask(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings, numbers) with secret values replaced, at
    any depth; strings have their ``key=value`` fragments masked."""
    if isinstance(value, dict):
        return {
            k: MASK if isinstance(k, str) and looks_secret(k) and v is not None else mask(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def mask_text(text: str | None) -> str | None:
    """``text`` with the values of its secret-looking ``key=value`` / ``key: value`` fragments
    replaced (``token=abc`` → ``token=•••``); a JSON object or array in text is masked as
    data and written back compactly."""
    if not text:
        return text
    stripped = text.strip()
    if stripped[:1] in "{[":
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict | list):
            return json.dumps(mask(parsed), ensure_ascii=False)
    return _FRAGMENT.sub(_masked_fragment, text)


def _masked_fragment(match: re.Match[str]) -> str:
    if not looks_secret(match["key"]):
        return match[0]
    value = match["value"]
    quote = value[0] if value[:1] in "\"'" and len(value) > 1 and value[-1] == value[0] else ""
    return f"{match['key']}{match['sep']}{quote}{MASK}{quote}"


def mask_json_text(text: str | None) -> str | None:
    """JSON text (an object, array or scalar) with its secrets masked, written back compactly;
    text that is not JSON is masked as text."""
    if not text:
        return text
    try:
        parsed = json.loads(text)
    except ValueError:
        return mask_text(text)
    return json.dumps(mask(parsed), ensure_ascii=False)


#: A superset of the texts :func:`mask_text` and :func:`mask_json_text` change, in RE2 syntax
#: (pyarrow's): a secret word — a key's words are ASCII letters and digits, so ``token`` ends
#: a word only before anything but a lower-case letter or digit — or a JSON ``\u`` escape,
#: which may spell one. Only texts it matches pay for Python's masking.
SUSPECT = (
    r"(?i:password|passwd|secret|authorization)|(?i:token)(?:[^a-z0-9]|$)"
    r"|(?i:api|private)[^A-Za-z0-9]*(?i:key)|\\u"
)


def mask_array(values, *, as_json: bool = False):
    """A pyarrow string array with every value masked (:func:`mask_json_text` when
    ``as_json``, else :func:`mask_text`): a vectorised match finds the few values that may
    hold a secret, and only those are masked in Python."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    suspect = pc.fill_null(pc.match_substring_regex(values, SUSPECT), False)
    if not pc.any(suspect).as_py():
        return values
    masker = mask_json_text if as_json else mask_text
    chosen = values.filter(suspect).to_pylist()
    return pc.replace_with_mask(values, suspect, pa.array([masker(v) for v in chosen], values.type))


def declare_functions(con) -> None:
    """Declare ``opdash_mask_text`` and ``opdash_mask_json`` (VARCHAR → VARCHAR) in the DuckDB
    database of ``con`` (every connection to it sees them): SQL tiles read
    the catalog's relations through them. Declared on first use: DuckDB's first Python
    function costs 0.1 s, which a command that runs no SQL tile should not pay. Called once
    per database (``Database.user_cursor`` keeps that under its lock)."""
    import duckdb

    def masked_text(values):
        return mask_array(values)

    def masked_json(values):
        return mask_array(values, as_json=True)

    for name, function in (("opdash_mask_text", masked_text), ("opdash_mask_json", masked_json)):
        con.create_function(
            name,
            function,
            [duckdb.sqltype("VARCHAR")],
            duckdb.sqltype("VARCHAR"),
            type="arrow",
            side_effects=False,
        )


__all__ = [
    "MASK",
    "SUSPECT",
    "declare_functions",
    "looks_secret",
    "mask",
    "mask_array",
    "mask_json_text",
    "mask_text",
]
