"""How much memory DuckDB may use, and resource failures said in one sentence.

The cap follows the machine: half of what the process may use (the smaller of the machine's
memory and a cgroup's limit), at least 256 MB; ``OPDASH_MEMORY_LIMIT`` (``4GB``, ``512MB``, …)
overrides it. Past the cap, sorts, joins, aggregates and kept tables spill to the catalog's
private temporary folder. When a question still cannot fit — a cap set too low, a full disk —
the error says what to change in one line (:func:`resource_message`): the CLI prints it and
exits 2, a dashboard tile shows it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: The share of the machine's memory DuckDB may use by default.
MEMORY_SHARE = 0.5
MIN_MEMORY = 256 * 2**20
ENV = "OPDASH_MEMORY_LIMIT"
_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def machine_memory() -> int:
    """Bytes this process may use: physical memory, or a cgroup's limit when lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def parse_bytes(text: str) -> int | None:
    """``4GB``, ``512 MiB``, ``1000000`` as bytes; None when it is not a size."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B?)\s*", text.upper())
    if not match or match.group(2) not in _UNITS:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def memory_limit() -> str:
    """DuckDB's ``memory_limit``: ``OPDASH_MEMORY_LIMIT``, or the machine's share."""
    from opdash.errors import UsageError

    given = os.environ.get(ENV)
    if given is not None:
        size = parse_bytes(given)
        if size is None or size < 2**20:
            raise UsageError(f"bad {ENV} '{given}': give a size of at least 1MB, e.g. 512MB or 4GB")
        return f"{size // 2**20}MiB"
    return f"{max(MIN_MEMORY, int(machine_memory() * MEMORY_SHARE)) // 2**20}MiB"


def cap_text() -> str:
    """The memory cap as the user would write it: their ``OPDASH_MEMORY_LIMIT``, or the
    machine's share."""
    given = os.environ.get(ENV)
    if given is not None and parse_bytes(given) is not None:
        return f"{given.strip()} ({ENV})"
    return f"{memory_limit()} (half of this machine's memory)"


def memory_bytes() -> int:
    """The cap :func:`memory_limit` sets, in bytes."""
    return parse_bytes(memory_limit()) or MIN_MEMORY


class ResourceError(RuntimeError):
    """A question that could not be answered for lack of memory or disk, or was interrupted:
    the message says what to change. The CLI prints it and exits 2."""


def resource_message(exc: BaseException) -> str | None:
    """One sentence for a DuckDB failure that is about resources, None for any other."""
    import duckdb

    text = str(exc)
    if isinstance(exc, duckdb.OutOfMemoryException) or "Out of Memory" in text:
        return (
            f"not enough memory for this question under opdash's memory cap of {cap_text()}: "
            f"raise {ENV} (e.g. {ENV}=8GB) or ask about fewer events"
        )
    if "No space left on device" in text or "disk" in text.lower() and "full" in text.lower():
        return (
            "the disk holding opdash's temporary folder is full: free space there or point "
            "TMPDIR at a larger disk"
        )
    if isinstance(exc, duckdb.InterruptException) or "INTERRUPT" in text.upper():
        return "the question was interrupted before it finished: ask it again"
    return None


def as_resource_error(exc: BaseException) -> BaseException:
    """``exc`` as a :class:`ResourceError` when it is about resources, else itself."""
    message = resource_message(exc)
    return ResourceError(message) if message else exc
