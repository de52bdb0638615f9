"""Errors a user can cause. The CLI turns them into one line and exit code 2, never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UsageError(ValueError):
    """A bad option, value or path given by the user (not a bug in opdash)."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """A ' — did you mean …?' suffix naming the closest valid choice, or '' when none is close."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""
