"""Copies a server process keeps of what it read recently: bounded, expiring, shared by its threads.

A hot path that would read the same rows on every call (a desk's caller, a registration's event)
keeps column copies here and checks, in a statement it makes anyway, that they still hold. The
store itself knows nothing of that check, of Flask or of the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any


class Kept:
    """``key → value`` for a few seconds each, at most ``limit`` entries (the oldest go first)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._entries: dict[Hashable, tuple[Any, float]] = {}
        self._lock = threading.Lock()  # evicting and adding is one step for the threads sharing it
        self._clock = clock

    def get(self, key: Hashable) -> Any | None:
        """The value kept for ``key``, or None (never kept, forgotten, or too old: then dropped)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[1]:
            self.forget(key)
            return None
        return entry[0]

    def put(self, key: Hashable, value: Any, *, seconds: float, limit: int) -> None:
        with self._lock:
            self._entries.pop(key, None)  # (re-added last: the newest)
            while self._entries and len(self._entries) >= limit:
                self._entries.pop(next(iter(self._entries)), None)
            if limit > 0:
                self._entries[key] = (value, self._clock() + seconds)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries
