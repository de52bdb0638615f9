"""Errors a user can cause. The CLI turns them into one line and exit code 2, never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UsageError(ValueError):
    """A bad option, value or path given by the user (not a bug in opdash)."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """A ' — did you mean …?' suffix naming the closest valid choice, or '' when none is close.

    Ties in similarity go to the choice closest in length, then to the first in sort order
    (``wf-001`` suggests ``wf-0001``, not ``wf-0201``).
    """
    scored = []
    for choice in set(choices):
        ratio = difflib.SequenceMatcher(None, value, choice).ratio()
        if ratio >= 0.6:
            scored.append((-ratio, abs(len(choice) - len(value)), choice))
    return f" — did you mean '{min(scored)[2]}'?" if scored else ""


#: JSON Schema types in a user's words ("must be a whole number").
_KINDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping (key: value)",
    "null": "empty",
}


def json_kind(kind: str | list[str]) -> str:
    """A JSON Schema ``type`` (or a list of them) in words: 'a whole number or text'."""
    kinds = kind if isinstance(kind, list) else [kind]
    return " or ".join(_KINDS.get(k, k) for k in kinds)
