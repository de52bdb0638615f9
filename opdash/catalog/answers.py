"""Answers kept per data version, shared by every session and thread, bounded by bytes.

A key is computed once per version: concurrent asks wait for the first one's answer. An answer
of an older version is served for a newer one when no refresh since changed what it reads (see
:mod:`opdash.catalog.versions`). What is kept is bounded by its size in bytes (an answer's
pickled size), the least recently asked for dropped first.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

#: Bytes of answers kept per catalog, all sessions together (``OPDASH_ANSWERS_MB`` overrides).
ANSWER_BYTES = int(float(os.environ.get("OPDASH_ANSWERS_MB", "64")) * 2**20)
#: What an answer that cannot be pickled is taken to weigh.
UNKNOWN_SIZE = 64 * 1024


def size_of(answer: Any) -> int:
    """An answer's weight in bytes: its pickled size (a good measure of what it holds)."""
    try:
        return len(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001  (anything unpicklable gets a fixed weight)
        return UNKNOWN_SIZE


@dataclass
class _Entry:
    version: int
    future: Future
    read: bool = False  # asked for again after it was computed
    size: int = 0


class ResultCache:
    """Results by key, each with the data version it answers, least recently used dropped first
    once their sizes pass ``budget`` bytes.

    Concurrent asks for one key compute it once: the others wait for the first one's answer.
    Failures are not kept, so a fixed file or a retry gets a fresh try. An answer of an older
    version is served for a newer one when ``still_holds(old_version)`` says nothing it reads
    changed.
    """

    def __init__(self, budget: int = ANSWER_BYTES) -> None:
        self.budget = budget
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0

    @property
    def bytes(self) -> int:
        """What the kept answers weigh."""
        return self._bytes

    def get(
        self,
        key: Hashable,
        version: int,
        compute: Callable[[], T],
        still_holds: Callable[[int], bool] | None = None,
    ) -> T:
        with self._lock:
            future = self._current(key, version, still_holds)
            owner = future is None
            if owner:
                future = Future()
                self._drop(key)
                self._entries[key] = _Entry(version, future)
        if owner:
            try:
                result = compute()
            except BaseException as exc:
                with self._lock:
                    entry = self._entries.get(key)
                    if entry is not None and entry.future is future:
                        self._drop(key)
                future.set_exception(exc)
            else:
                self._weigh(key, future, result)
                future.set_result(result)
        return future.result()

    def _weigh(self, key: Hashable, future: Future, result: Any) -> None:
        """Record the answer's size and drop the least recently used past the budget (never
        the answer just computed)."""
        size = size_of(result)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.future is not future:
                return
            entry.size = size
            self._bytes += size
            for old in list(self._entries):
                if self._bytes <= self.budget:
                    break
                if old != key and self._entries[old].future.done():
                    self._drop(old)

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size

    def _current(
        self, key: Hashable, version: int, still_holds: Callable[[int], bool] | None
    ) -> Future | None:
        """The answer for ``version`` (computed or being computed), if any: its own, a newer one
        (asked by a reader that read the version just before a refresh), or an older one still
        valid, which is then filed under ``version``."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        future = entry.future
        if entry.version < version:
            if (
                still_holds is None
                or not future.done()
                or future.exception()
                or not still_holds(entry.version)
            ):
                return None
            entry.version = version
        entry.read = True
        self._entries.move_to_end(key)
        return future

    def was_read(self, key: Hashable) -> bool:
        """Whether the answer kept for ``key`` was asked for again after it was computed."""
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and entry.read

    def forget(self, key: Hashable, result: Any) -> None:
        """Forget ``key`` if its answer is ``result`` (not a newer answer filed since)."""
        with self._lock:
            entry = self._entries.get(key)
            future = None if entry is None else entry.future
            done = future is not None and future.done() and not future.exception()
            if done and future.result() == result:
                self._drop(key)

    def peek(
        self, key: Hashable, version: int, still_holds: Callable[[int], bool] | None = None
    ) -> tuple[bool, Any]:
        with self._lock:
            future = self._current(key, version, still_holds)
            if future is None or not future.done() or future.exception() is not None:
                return False, None
        return True, future.result()

    def __len__(self) -> int:
        return len(self._entries)
