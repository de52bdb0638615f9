"""Data versions: what each refresh changed, and answers that stay right across refreshes.

Every refresh that changes anything is a new *version*. It records a :class:`Change` (which
tables, and which events: from when, of which types, by which actors); an answer that declares
what it :class:`Reads` is kept across the versions whose changes spare it. A computation runs on
one version (:meth:`Versions.one_version`): if a commit lands while its queries run and may have
changed what it reads, it is computed again while the next commit waits; so is one that failed
because a kept table it read was dropped meanwhile (:func:`dropped_table`), whenever that was.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

T = TypeVar("T")

#: A change to events at no particular time: every answer reading events is recomputed.
ANY_TIME = datetime.min.replace(tzinfo=UTC)
CHANGES_KEPT = 256
NAMES_KEPT = 100  # a change to more event types or actors than this may touch any
#: Tries of a computation whose kept table was dropped under it, each on the current version.
DROPPED_TRIES = 3
#: What DuckDB (and Spark) say of a table opdash kept and has since dropped.
_DROPPED = re.compile(
    r"(?:Table with name |table or view `?)(opdash_\w+)`? (?:does not exist|cannot be found)"
)


def dropped_table(exc: BaseException) -> str | None:
    """The name of an opdash table (a shared table, or a generation's on Spark) that ``exc``, or
    an error it was raised from, says does not exist: the table was retired and dropped (its
    grace over: opdash.catalog.store) while a question still read it. None for other errors."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        found = _DROPPED.search(str(exc))
        if found:
            return found.group(1)
        exc = exc.__cause__ or exc.__context__
    return None


@dataclass(frozen=True)
class Reads:
    """What an answer depends on, so a refresh that changed none of it keeps the answer:
    ``tables`` besides events (quarantine, duplicates, runs, alerts, settings — the watched
    files), and the events up to ``horizon`` (inclusive), of ``event_types``, by ``actors``
    (None: no such limit)."""

    tables: frozenset[str] = frozenset()
    horizon: datetime | None = None
    event_types: frozenset[str] | None = None
    actors: frozenset[str] | None = None


@dataclass(frozen=True)
class Change:
    """What one refresh changed: ``tables``, and events at or after ``events_from`` (None: no
    event) of ``event_types`` by ``actors`` (None: any)."""

    version: int
    tables: frozenset[str]
    events_from: datetime | None = None
    event_types: frozenset[str] | None = None
    actors: frozenset[str] | None = None

    def keeps_answer(self, reads: Reads) -> bool:
        """Whether an answer reading ``reads`` is the same after this change."""
        if self.tables & reads.tables:
            return False
        return (
            self.events_from is None
            or (reads.horizon is not None and self.events_from > reads.horizon)
            or _disjoint(self.event_types, reads.event_types)
            or _disjoint(self.actors, reads.actors)
        )


def _disjoint(changed: frozenset[str] | None, read: frozenset[str] | None) -> bool:
    return changed is not None and read is not None and not changed & read


class Versions:
    """The version counter, the changes of the last ``CHANGES_KEPT`` versions, and the
    handshake between a refresh's commit and the computations that must not straddle one."""

    def __init__(self) -> None:
        self.version = 0
        self._changes: deque[Change] = deque(maxlen=CHANGES_KEPT)
        self._cond = threading.Condition()
        self._committing = False
        self._commits = 0
        self._recomputing = 0

    def unchanged_since(self, version: int, reads: Reads) -> bool:
        """Whether the refreshes after ``version`` changed none of what ``reads`` names: a live
        exporter appends events newer than a pinned view's range, and that view's answer stays."""
        changes = [c for c in list(self._changes) if c.version > version]
        if len(changes) != self.version - version:
            return False  # older than the changes remembered
        return all(change.keeps_answer(reads) for change in changes)

    def still_holds(self, reads: Reads | None) -> Callable[[int], bool] | None:
        """Whether an answer of an older version still holds: no refresh since changed what it
        ``reads`` (None: it is never carried)."""
        if reads is None:
            return None
        return lambda version: self.unchanged_since(version, reads)

    def one_version(self, compute: Callable[[], T], reads: Reads | None = None) -> T:
        """``compute()`` on one data version. Its queries (each on its own cursor) could
        straddle a refresh's commit, seeing some tables before it and some after: such a result
        is computed again — unless the commit changed none of what it ``reads``, when both
        sides give the same answer — and that time the next commit waits for it. A failure that
        straddled a commit is tried again too (a table it read may have been replaced), and so
        is one because a kept table it read was dropped (retired, its grace over), however long
        ago the commit that replaced it was or with none at all (retired past the byte budget):
        asked again, the table is built anew on the current version. No session ever sees half
        a refresh, and no computation waits for more than one commit."""
        with self._cond:
            self._cond.wait_for(lambda: not self._committing)
            commits, version = self._commits, self.version
        try:
            result = compute()
        except Exception as exc:
            if not dropped_table(exc) and not self._commit_changed(commits, version, None):
                raise
        else:
            if not self._commit_changed(commits, version, reads):
                return result
        with self._cond:
            self._cond.wait_for(lambda: not self._committing)
            self._recomputing += 1
        try:
            tries = 1
            while True:
                try:
                    return compute()
                except Exception as exc:
                    if tries >= DROPPED_TRIES or not dropped_table(exc):
                        raise
                tries += 1
        finally:
            with self._cond:
                self._recomputing -= 1
                self._cond.notify_all()

    def _commit_changed(self, commits: int, version: int, reads: Reads | None) -> bool:
        """Whether a commit since ``commits`` (at ``version``) may have changed what a
        computation started then ``reads`` (None: anything)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._committing)
            if self._commits == commits:
                return False
        return reads is None or not self.unchanged_since(version, reads)

    def commit(self, change: Change, run: Callable[[], object]) -> None:
        """``run()`` (the database's COMMIT) as the next version: readers' cursors see the
        tables before or after it, and no computation holding off commits is mid-way."""
        with self._cond:
            self._cond.wait_for(lambda: not self._recomputing)
            self._committing = True
            self._commits += 1
        try:
            run()
            self._changes.append(change)
            self.version += 1
        finally:
            with self._cond:
                self._committing = False
                self._cond.notify_all()
