"""Spreading connections evenly over the server processes of ``eventsvc serve --processes N``.

The processes accept on one shared listening socket, and the kernel hands a new connection to
whichever process calls ``accept`` first. With keep-alive clients (a reverse proxy's pool, a
reception desk's phones, a benchmark) that race decides for the connection's whole life, and it
is far from fair: of 32 connections opened at once, one process often took all 32 while the
other stayed idle, halving the throughput and doubling the slow answers.

A :class:`Board` is a small table in memory shared by the processes (a file the parent creates
and hands over, mapped by each): one slot per process with its open connections and the time
it last looked. A process listens for new connections only while it is among the least loaded
(:meth:`Board.may_accept`): at most :data:`TOLERANCE` more connections than the least loaded live
process. The least loaded one always listens, so a connection never waits for nobody; a process
that stopped looking for :data:`STALE_AFTER` seconds (hung, or gone) no longer holds the others back.

At the first start the parent marks each slot *starting* (:meth:`Board.starting`): the processes
build the app at the same time but enter their loops up to a few tenths of a second apart, and the
first one would otherwise take every connection opened meanwhile (a proxy's pool, a burst) for
those connections' whole life. A starting process counts as one holding no connection yet, for at
most :data:`START_GRACE` seconds after the waiting one began to serve (under load building the app
may take several seconds, but about as long in each); one that failed to start is left out at
once (its parent marks its slot empty). A process started again after one ended is not waited
for: the others are serving, and keep accepting new connections while it starts.

Nothing here imports Flask or waitress (the server's hook is ``eventsvc.cli``).
"""

from __future__ import annotations

import mmap
import os
import tempfile
import time

#: a process may hold this many connections more than the least loaded live one and still accept
TOLERANCE = 1
#: seconds after which a process that has not looked at the board is left out (hung or gone)
STALE_AFTER = 3.0
#: seconds a process marked starting is waited for at most, from when the waiting one began to serve
START_GRACE = 5.0
#: a slot's fields: open connections (-1: no process in this slot, -2: one is starting), last look
#: (monotonic seconds)
_FIELDS = 2
_ABSENT = -1.0
_STARTING = -2.0


class Board:
    """The shared table: ``slots`` slots of (connections, last look), as doubles in a mapped file."""

    def __init__(self, fd: int, slots: int):
        self.fd = fd
        self.slots = slots
        self._map = mmap.mmap(fd, slots * _FIELDS * 8)
        self._cells = memoryview(self._map).cast("d")
        #: when this process first asked :meth:`may_accept` (began to serve)
        self._serving_since: float | None = None

    @classmethod
    def create(cls, slots: int) -> Board:
        """A new board (in the parent), every slot empty; its ``fd`` is inherited by the server processes."""
        handle, path = tempfile.mkstemp(prefix="eventsvc-balance-")
        os.unlink(path)  # the open descriptor keeps it; nothing is left behind on disk
        os.ftruncate(handle, slots * _FIELDS * 8)
        board = cls(handle, slots)
        for slot in range(slots):
            board.leave(slot)
        return board

    def look(self, slot: int, connections: int, now: float | None = None) -> None:
        """This process (in ``slot``) holds ``connections`` open connections, as of ``now``."""
        self._cells[slot * _FIELDS] = float(connections)
        self._cells[slot * _FIELDS + 1] = time.monotonic() if now is None else now

    def starting(self, slot: int, now: float | None = None) -> None:
        """A process is being started in ``slot``: the others wait for it (:data:`START_GRACE`)."""
        self._cells[slot * _FIELDS] = _STARTING
        self._cells[slot * _FIELDS + 1] = time.monotonic() if now is None else now

    def leave(self, slot: int) -> None:
        """No process in ``slot`` (it stopped accepting, ended, or was never started)."""
        self._cells[slot * _FIELDS] = _ABSENT
        self._cells[slot * _FIELDS + 1] = 0.0

    def may_accept(self, slot: int, connections: int, now: float | None = None, idle: int = 0) -> bool:
        """Note this process's ``connections`` and say whether it should accept a new one now.
        ``idle``: what a process counts while it holds no connection (its listeners, its trigger:
        the same in each), which a starting one is taken to hold."""
        now = time.monotonic() if now is None else now
        if self._serving_since is None:
            self._serving_since = now
        self.look(slot, connections, now)
        least = connections
        for other in range(self.slots):
            if other == slot:
                continue
            count, seen = self._cells[other * _FIELDS], self._cells[other * _FIELDS + 1]
            if count == _STARTING:
                if now - self._serving_since < START_GRACE:
                    least = min(least, idle)
            elif count != _ABSENT and now - seen < STALE_AFTER:
                least = min(least, int(count))
        return connections <= least + TOLERANCE

    def counts(self) -> list[int | None]:
        """Each slot's connections as last noted (None: empty, or its process still starting) —
        for tests and diagnostics."""
        return [None if self._cells[s * _FIELDS] in (_ABSENT, _STARTING) else int(self._cells[s * _FIELDS])
                for s in range(self.slots)]

    def close(self) -> None:
        """Unmap the board and close its descriptor."""
        self._cells.release()
        self._map.close()
        os.close(self.fd)
