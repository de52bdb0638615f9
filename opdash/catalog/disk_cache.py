"""What opdash keeps between processes, in the user's cache folder, keyed by digests.

- ``validated``: what was found when parquet files were checked. Checking a folder of parquet
  files read in place costs a scan of every row (row rules) and a hash over every event id
  (repeated ids); neither changes while the files do not. Keyed by each file's path, size,
  modification time and footer (a parquet footer holds its layout and column statistics, so any
  rewrite changes it), so a second command on an unchanged folder does not check again.
- ``queries``: SQL compiled for a query shape (``opdash.templates``), keyed by the shape and a
  digest of opdash's own code and of ibis and sqlglot's versions, so a second command does not
  build and compile the same query again.

The folder is ``$OPDASH_CACHE_DIR``, else ``$XDG_CACHE_HOME/opdash`` or ``~/.cache/opdash``;
never inside an artifact folder. Set ``OPDASH_CACHE_DIR`` to an empty value to keep nothing. An
entry that is missing, unreadable or written for another key is a miss.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

#: Bumped whenever what is checked or how changes: older entries are then never read.
CHECKS_VERSION = 1
#: Entries larger than this are not kept (a folder with millions of repeated ids checks again).
MAX_ENTRY_BYTES = 8 * 2**20


def cache_folder(root: Path, kind: str) -> Path | None:
    """Where entries of ``kind`` are kept, or None when keeping is off or would be inside
    ``root``."""
    given = os.environ.get("OPDASH_CACHE_DIR")
    if given is not None:
        if not given.strip():
            return None
        folder = Path(given).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        folder = Path(base) / "opdash"
    folder = folder / kind
    try:
        resolved = folder.resolve()
        if resolved == root or root in resolved.parents:
            return None  # opdash never writes into the artifact folder
    except (OSError, RuntimeError):
        return None
    return folder


def footer_digest(path: Path) -> str:
    """A digest of a parquet file's size, modification time and footer bytes."""
    st = path.stat()
    with path.open("rb") as fh:
        fh.seek(max(0, st.st_size - 8))
        tail = fh.read(8)
        length = int.from_bytes(tail[:4], "little") if len(tail) == 8 else 0
        fh.seek(max(0, st.st_size - 8 - length))
        footer = fh.read(length)
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{st.st_size}:{st.st_mtime_ns}:".encode())
    digest.update(footer)
    return digest.hexdigest()


def key_of(*parts: Any) -> str:
    text = json.dumps([CHECKS_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


@functools.cache
def code_digest() -> str:
    """A digest of opdash's own source and of the versions of what compiles its queries."""
    from importlib.metadata import version  # the installed versions, without importing them

    digest = hashlib.blake2b(digest_size=20)
    for distribution in ("ibis-framework", "sqlglot", "duckdb"):
        digest.update(f"{distribution}={version(distribution)};".encode())
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class DiskCache:
    """Entries of one kind by key, as JSON files; a missing, unreadable or foreign entry is a
    miss, and nothing is kept when the folder cannot be written."""

    def __init__(self, root: Path, kind: str) -> None:
        self.folder = cache_folder(root, kind)

    def get(self, kind: str, key: str) -> Any | None:
        if self.folder is None:
            return None
        try:
            entry = json.loads((self.folder / f"{kind}-{key}.json").read_text())
        except (OSError, ValueError):
            return None
        return entry.get("value") if entry.get("key") == key else None

    def put(self, kind: str, key: str, value: Any) -> None:
        """Keep ``value`` (JSON) for ``key``; quietly nothing when the folder is not writable."""
        if self.folder is None:
            return
        text = json.dumps({"key": key, "value": value}, default=str)
        if len(text) > MAX_ENTRY_BYTES:
            return
        with contextlib.suppress(OSError):
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(dir=self.folder, prefix=".entry-")
            with os.fdopen(handle, "w") as fh:
                fh.write(text)
            os.replace(tmp, self.folder / f"{kind}-{key}.json")
