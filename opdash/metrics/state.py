"""State surfaces: a JSON or Markdown file of the artifact folder, read for display.

Exporters keep their current state in small files (``state/orchestrator/STATE.json``, a phase
index in Markdown). They are read whole on each data version — never written — from inside
the folder only (symlinks resolved), at most :data:`MAX_BYTES`, with secrets masked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opdash.contract import inside_folder
from opdash.errors import UsageError
from opdash.masking import mask, mask_text

MAX_BYTES = 1_000_000
KINDS = ("json", "markdown")


@dataclass(frozen=True)
class StateFile:
    """A state file's content (a JSON value, or Markdown text), secrets masked."""

    source: str
    kind: str
    size: int
    modified_at: datetime
    content: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "size": self.size,
            "modified_at": self.modified_at.isoformat(),
            "content": self.content,
        }


def state_file(root, source: str, kind: str) -> StateFile:
    """The file ``source`` (relative to ``root``) read as ``kind``; a UsageError naming the path
    says why it cannot be shown (missing, outside the folder, too large, not UTF-8, bad JSON)."""
    if kind not in KINDS:
        raise UsageError(f"bad state kind '{kind}' (use {', '.join(KINDS)})")
    path = inside_folder(root, source)
    try:
        stat = path.stat()
        if not path.is_file():
            raise UsageError(f"{source} is not a file")
        if stat.st_size > MAX_BYTES:
            raise UsageError(
                f"{source} is {stat.st_size:,} bytes; a state file shows at most {MAX_BYTES:,}"
            )
        data = path.read_bytes()[: MAX_BYTES + 1]
    except FileNotFoundError:
        raise UsageError(f"{source}: no such file in the artifact folder") from None
    except OSError as exc:
        raise UsageError(f"{source}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    if kind == "json":
        try:
            content = mask(json.loads(text))
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
        except RecursionError:
            raise UsageError(f"{source}: JSON nested too deeply to show") from None
    else:
        content = mask_text(text)
    return StateFile(
        source=source,
        kind=kind,
        size=stat.st_size,
        modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
        content=content,
    )
