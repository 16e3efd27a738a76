"""SQLite writers wait in line for the write lock (eventsvc.database.WriterQueue).

A write transaction (``BEGIN IMMEDIATE``) holds its file's turn — a lock for this
process's threads, an ``flock`` of ``<database>-writers`` for other processes — until its
commit, rollback or close has finished; the next writer is let in at once rather than
when SQLite's busy handler next looks.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from eventsvc import database


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/queue.db", connect_args=database.sqlite_connect_args())
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE seen (who TEXT)"))
    yield engine
    engine.dispose()


def turn_is_taken(engine) -> bool:
    """Whether some writer holds the file's turn (asked from a descriptor of our own)."""
    fd = os.open(engine.url.database + "-writers", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_write_transaction_holds_the_turn_until_its_commit_or_rollback_has_finished(engine):
    with engine.connect() as conn:
        with conn.begin():
            conn.execute(text("INSERT INTO seen VALUES ('a')"))
            assert turn_is_taken(engine)
        assert not turn_is_taken(engine)  # committed
        trans = conn.begin()
        conn.execute(text("INSERT INTO seen VALUES ('b')"))
        assert turn_is_taken(engine)
        trans.rollback()
        assert not turn_is_taken(engine)
    with engine.connect() as conn:
        conn.begin()
        conn.execute(text("INSERT INTO seen VALUES ('c')"))
        assert turn_is_taken(engine)
    assert not turn_is_taken(engine)  # closed without a commit: rolled back, turn given back
    with engine.connect() as conn:
        assert conn.execute(text("SELECT who FROM seen")).scalars().all() == ["a"]


def test_readers_do_not_wait_for_the_turn(engine):
    with engine.connect() as writer:
        writer.begin()
        writer.execute(text("INSERT INTO seen VALUES ('w')"))
        token = database.set_write_intent(False)
        try:
            with engine.connect() as reader, reader.begin():
                assert reader.execute(text("SELECT count(*) FROM seen")).scalar() == 0  # WAL: the last commit
        finally:
            database.reset_write_intent(token)
        writer.commit()


def test_a_second_thread_waits_for_the_turn_then_goes(engine):
    order: list[str] = []
    with engine.connect() as first:
        first.begin()
        first.execute(text("INSERT INTO seen VALUES ('first')"))

        def second():
            with engine.begin() as conn:
                order.append("second began")
                conn.execute(text("INSERT INTO seen VALUES ('second')"))

        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        assert order == []  # waiting in line
        order.append("first commits")
        first.commit()
        t.join(10)
    assert order == ["first commits", "second began"]


HOLDER = textwrap.dedent("""
    import sys
    from sqlalchemy import create_engine, text
    from eventsvc import database
    engine = create_engine(sys.argv[1], connect_args=database.sqlite_connect_args())
    with engine.connect() as conn:
        conn.begin()
        conn.execute(text("INSERT INTO seen VALUES ('other process')"))
        print("holding", flush=True)
        sys.stdin.readline()
        conn.commit()
    print("committed", flush=True)
""")


def test_a_writer_of_another_process_waits_in_the_same_line(engine):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(engine.url)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        assert proc.stdout.readline().strip() == "holding"
        assert turn_is_taken(engine)
        done = threading.Event()

        def write():
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO seen VALUES ('this process')"))
            done.set()

        t = threading.Thread(target=write)
        t.start()
        assert not done.wait(0.3)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert done.wait(10)
        t.join()
        assert proc.stdout.readline().strip() == "committed"
    finally:
        proc.kill()
        proc.wait()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT who FROM seen")).scalars().all() == ["other process", "this process"]


def test_an_in_memory_database_has_no_line(tmp_path):
    engine = create_engine("sqlite://", connect_args=database.sqlite_connect_args())
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        assert conn.connection.dbapi_connection.writer_queue is None
    assert not list(tmp_path.iterdir())
