"""The board on which the server processes of ``serve --processes`` share out connections evenly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from eventsvc.core.balance import STALE_AFTER, START_GRACE, TOLERANCE, Board


@pytest.fixture
def board():
    b = Board.create(3)
    yield b
    b.close()


def test_a_new_board_has_every_slot_empty(board):
    assert board.counts() == [None, None, None]


def test_the_least_loaded_process_always_accepts(board):
    board.look(1, 10, now=100.0)
    board.look(2, 7, now=100.0)
    assert board.may_accept(0, 3, now=100.0)
    assert board.counts() == [3, 10, 7]


def test_a_process_ahead_by_more_than_the_tolerance_waits(board):
    board.look(1, 5, now=100.0)
    assert board.may_accept(0, 5 + TOLERANCE, now=100.0)
    assert not board.may_accept(0, 5 + TOLERANCE + 1, now=100.0)


def test_empty_slots_and_processes_that_stopped_looking_hold_nobody_back(board):
    board.look(1, 0, now=100.0)
    assert not board.may_accept(0, 9, now=100.0 + STALE_AFTER / 2)
    assert board.may_accept(0, 9, now=100.0 + STALE_AFTER + 0.1)  # slot 1 hung or gone
    board.look(1, 0, now=200.0)
    board.leave(1)  # it stopped accepting (a graceful stop), or its parent saw it end
    assert board.may_accept(0, 9, now=200.0)


def test_a_process_still_starting_is_waited_for_a_while(board):
    """At the start the others hold back for it as for one with no connection yet (``idle``: what a
    process counts with none), so the first in its loop does not take every early connection."""
    idle = 2  # a listener and a trigger
    board.starting(1, now=100.0)
    board.starting(2, now=100.0)
    assert board.counts() == [None, None, None]  # not serving yet
    assert board.may_accept(0, idle + TOLERANCE, now=101.0, idle=idle)
    assert not board.may_accept(0, idle + TOLERANCE + 1, now=101.0, idle=idle)
    board.look(1, idle + 3, now=101.5)  # slot 1 serves now; slot 2 still starting
    assert not board.may_accept(0, idle + TOLERANCE + 1, now=101.5, idle=idle)
    board.look(1, idle + 9, now=101.0 + START_GRACE)
    # slot 2 never came: left out once slot 0 has served START_GRACE seconds (from its first question)
    assert not board.may_accept(0, idle + 9, now=101.0 + START_GRACE - 0.1, idle=idle)
    assert board.may_accept(0, idle + 9, now=101.0 + START_GRACE + 0.1, idle=idle)


def test_a_process_that_failed_to_start_holds_nobody_back(board):
    board.starting(1, now=100.0)
    board.leave(1)  # its parent saw it end
    assert board.may_accept(0, 9, now=100.5, idle=2)


def test_connections_opened_one_after_another_spread_evenly(board):
    """Whoever may accept takes the next connection: the counts never drift apart."""
    held = [0, 0, 0]
    for n in range(300):
        takers = [s for s in range(3) if board.may_accept(s, held[s], now=float(n))]
        assert takers, "nobody accepts"
        taker = takers[n % len(takers)]
        held[taker] += 1
        board.look(taker, held[taker], now=float(n))
        assert max(held) - min(held) <= TOLERANCE + 1
    assert held == [100, 100, 100]


def test_another_process_sees_the_same_board(board):
    """The server processes inherit the board's descriptor and map the same memory."""
    board.look(0, 4)
    code = ("import sys; from eventsvc.core.balance import Board; b = Board(int(sys.argv[1]), 3); "
            "print(b.counts()); b.look(2, 6)")
    out = subprocess.run([sys.executable, "-c", code, str(board.fd)], pass_fds=[board.fd], capture_output=True,
                         text=True, check=True, env={**os.environ})
    assert out.stdout.strip() == "[4, None, None]"
    assert board.counts() == [4, None, 6]
