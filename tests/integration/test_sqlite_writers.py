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


@pytest.fixture(autouse=True)
def writes_by_default():
    """Transactions here are write transactions unless a test says otherwise (the default outside
    requests), whatever an earlier test left behind."""
    intent = database.set_write_intent(True)
    yield
    database.reset_write_intent(intent)


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
    second_thread_waits_for_the_turn(engine)


def second_thread_waits_for_the_turn(engine):
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


def test_without_a_lock_file_writes_still_work_and_threads_still_queue(tmp_path, caplog):
    os.mkdir(tmp_path / "queue.db-writers")  # the lock file cannot be made
    engine = create_engine(f"sqlite:///{tmp_path}/queue.db", connect_args=database.sqlite_connect_args())
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE seen (who TEXT)"))
        assert "will not queue" in caplog.text
        second_thread_waits_for_the_turn(engine)
    finally:
        engine.dispose()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_queues_with_its_parent(engine):
    """A child forked while a thread of its parent held the turn gets locks of its own (the copied
    lock would stay held for ever) and still waits for the parent's turn across processes.

    The parent holds the turn without a SQLite transaction: SQLite itself must not be carried
    over a fork with a lock held (its own bookkeeping is copied), which no server does."""
    queue = database.WriterQueue.for_file(engine.url.database)
    holder_has_turn, parent_may_leave = threading.Event(), threading.Event()

    def hold():
        assert queue.enter()
        holder_has_turn.set()
        parent_may_leave.wait(10)
        queue.leave()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holder_has_turn.wait(10)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a write of its own must wait for the parent's commit, then go
        code = 1
        try:
            os.close(read)
            child_engine = create_engine(str(engine.url), connect_args=database.sqlite_connect_args())
            started = time.monotonic()
            with child_engine.begin() as conn:
                conn.execute(text("INSERT INTO seen VALUES ('child')"))
            os.write(write, f"{time.monotonic() - started:.3f}".encode())
            code = 0
        except BaseException as err:  # noqa: BLE001 - told to the parent
            os.write(write, repr(err).encode()[:500])
        finally:
            os._exit(code)
    os.close(write)
    time.sleep(0.3)
    parent_may_leave.set()
    holder.join(10)
    told = os.read(read, 1000).decode()
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, told
    waited = float(told)
    assert 0.2 < waited < 10  # it waited for the parent's turn, and no longer than that
    with engine.connect() as conn:
        assert conn.execute(text("SELECT who FROM seen")).scalars().all() == ["child"]


def test_a_writer_that_waited_too_long_goes_ahead_without_its_turn(engine, monkeypatch, caplog):
    """A turn nobody gives back (a transaction left open by mistake, a stuck process) makes the
    others go ahead after QUEUE_TIMEOUT, and SQLite's busy timeout decides — not a wait for ever."""
    monkeypatch.setattr(database, "QUEUE_TIMEOUT", 0.3)
    stuck = os.open(engine.url.database + "-writers", os.O_RDWR)  # another holder of the file's lock
    try:
        fcntl.flock(stuck, fcntl.LOCK_EX)
        started = time.monotonic()
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO seen VALUES ('went ahead')"))
        assert 0.25 < time.monotonic() - started < 5
        assert "goes ahead without it" in caplog.text
    finally:
        os.close(stuck)
    with engine.begin() as conn:  # the line works again, and this thread's lock was given back
        assert turn_is_taken(engine)
        conn.execute(text("INSERT INTO seen VALUES ('in turn')"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT who FROM seen")).scalars().all() == ["went ahead", "in turn"]


WITHOUT_FCNTL = textwrap.dedent("""
    import os, sys, threading, time
    sys.modules["fcntl"] = None  # as on Windows: `import fcntl` raises ImportError
    del os.fork, os.register_at_fork  # POSIX only too (the standard library looks for fork first)
    from sqlalchemy import create_engine, text
    from eventsvc import database
    assert database.fcntl is None
    url = sys.argv[1]
    engine = create_engine(url, connect_args=database.sqlite_connect_args())
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE seen (who TEXT)"))
    order = []
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
        order.append("first commits")
        first.commit()
        t.join(10)
    with engine.connect() as conn:
        print(order, conn.execute(text("SELECT who FROM seen")).scalars().all())
""")


def test_without_fcntl_the_module_imports_and_threads_still_queue(tmp_path):
    """On a platform without ``fcntl`` (Windows) writers of other processes are left to SQLite's busy
    handler, as when the lock file cannot be made; the threads of a process still wait in line."""
    done = subprocess.run([sys.executable, "-c", WITHOUT_FCNTL, f"sqlite:///{tmp_path}/queue.db"],
                          capture_output=True, text=True, cwd=os.getcwd(), timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "['first commits', 'second began'] ['first', 'second']"
    assert "will not queue" not in done.stderr  # nothing to warn about: there is no flock to have
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith("-writers")) == []
