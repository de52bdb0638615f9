"""JSON as opdash writes it everywhere (API answers, snapshots): stable and safe to embed."""

from __future__ import annotations

import json
from typing import Any


def dumps(data: Any, *, indent: int | None = None) -> str:
    """Sorted keys, real characters, no NaN; ``< > &`` written as ``\\u`` escapes (the same
    JSON), so text from the data can never close a tag where the JSON is embedded."""
    text = json.dumps(
        data, sort_keys=True, ensure_ascii=False, allow_nan=False, default=str, indent=indent
    )
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
