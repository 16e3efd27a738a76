"""Pacing posts so Slack does not have to refuse them.

Pure: standard library only. ``chat.postMessage`` allows about one message per second per
channel (short bursts tolerated, "no guarantee") plus a workspace-wide limit Slack does not
publish. A :class:`Pacer` hands out send times with the generic cell rate algorithm (GCRA):
each key (a channel, and the whole workspace) has an interval between sends and a burst
tolerance. :meth:`Pacer.reserve` books the next slot for a channel and returns how long to
wait for it; :meth:`Pacer.block` pushes a key back after Slack answered 429 with
``Retry-After``, so every sender in the process waits, not only the one that was refused.

State is per process (several worker processes each pace themselves; a 429 that still
happens is honoured through ``Retry-After``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

WORKSPACE = "*"


class Pacer:
    """Send slots per channel (``per_channel_interval`` s apart, ``channel_burst`` at once) and
    for the workspace (``workspace_per_minute``; ``None`` = no workspace pacing)."""

    def __init__(
        self,
        *,
        per_channel_interval: float = 1.0,
        channel_burst: int = 1,
        workspace_per_minute: float | None = None,
        workspace_burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if per_channel_interval < 0 or channel_burst < 1 or workspace_burst < 1:
            raise ValueError("intervals must be >= 0 and bursts >= 1")
        if workspace_per_minute is not None and workspace_per_minute <= 0:
            raise ValueError("workspace_per_minute must be > 0")
        self.per_channel_interval = per_channel_interval
        self.channel_burst = channel_burst
        self.workspace_interval = 60.0 / workspace_per_minute if workspace_per_minute else 0.0
        self.workspace_burst = workspace_burst
        self.clock = clock
        self.sleep = sleep
        self._tat: dict[str, float] = {}  # theoretical arrival time per key
        self._blocked: dict[str, float] = {}  # key → not before (Retry-After)
        self._lock = threading.Lock()

    def _keys(self, channel: str) -> list[tuple[str, float, int]]:
        keys = [(channel, self.per_channel_interval, self.channel_burst)]
        if self.workspace_interval:
            keys.append((WORKSPACE, self.workspace_interval, self.workspace_burst))
        return keys

    def reserve(self, channel: str) -> float:
        """Book the earliest slot at which ``channel`` (and the workspace) may be posted to;
        return the seconds until then (0.0 = now)."""
        with self._lock:
            now = self.clock()
            start = now
            for key, interval, burst in self._keys(channel):
                tat = max(self._tat.get(key, now), now)
                earliest = tat - (burst - 1) * interval  # GCRA: allowed once tat - tol <= t
                start = max(start, earliest)
            start = max(start, self._blocked.get(channel, 0.0), self._blocked.get(WORKSPACE, 0.0))
            for key, interval, _burst in self._keys(channel):
                tat = max(self._tat.get(key, start), start)
                self._tat[key] = tat + interval
            return max(0.0, start - now)

    def wait(self, channel: str) -> float:
        """Reserve a slot and sleep until it; returns the seconds slept."""
        delay = self.reserve(channel)
        if delay > 0:
            self.sleep(delay)
        return delay

    def block(self, channel: str | None, seconds: float) -> None:
        """Nothing goes to ``channel`` (None: anywhere) for ``seconds`` (Slack's Retry-After)."""
        key = channel or WORKSPACE
        with self._lock:
            until = self.clock() + max(0.0, seconds)
            self._blocked[key] = max(self._blocked.get(key, 0.0), until)

    def blocked_for(self, channel: str) -> float:
        """Seconds until ``channel`` is no longer blocked by a Retry-After (0.0 = not blocked)."""
        with self._lock:
            until = max(self._blocked.get(channel, 0.0), self._blocked.get(WORKSPACE, 0.0))
            return max(0.0, until - self.clock())
