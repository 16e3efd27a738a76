"""``eventsvc serve --processes N`` with real processes: one listening socket, N server processes.

The parent migrates, binds the port and runs the outbox worker; its server processes accept on
the socket they inherited. Which process answered a request is read from ``/proc`` (the server
end of the connection belongs to one of them), so the app exposes nothing for these tests.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from eventsvc import database
from eventsvc.extensions import db
from eventsvc.registration.models import Registration
from tests.integration import test_robust_processes as robust
from tests.integration.test_robust_processes import (
    BIN,
    Procs,
    children,
    free_port,
    seats_event,
    seeded_app,
)

fresh_pg = robust.fresh_pg  # a new PostgreSQL database (skipped, with the reason, without a server)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="reads /proc (Linux)")]


# ------------------------------------------------------------------ the server and its processes
class Server:
    """``eventsvc serve --processes 2 --threads 1`` on a free port, and the app to look at its data."""

    def __init__(self, tmp_path: Path, url: str, env: dict | None = None, *, wait: bool = True):
        """``wait=False``: return as soon as the port takes connections (its processes may still be starting)."""
        self.port = free_port()
        self.procs = Procs(tmp_path, {"EVENTSVC_DATABASE_URL": url, "EVENTSVC_SECRET_KEY": "processes-test",
                                      "EVENTSVC_INSTANCE_PATH": str(tmp_path), "EVENTSVC_RATELIMIT": "off",
                                      "EVENTSVC_LOG_LEVEL": "WARNING", **(env or {})})
        self.parent = self.procs.spawn(BIN / "eventsvc", "serve", "--processes", "2", "--threads", "1",
                                       "--port", str(self.port))
        self.procs.wait_port(self.port, self.parent)
        if wait:
            self.kids = self.wait_children(2)
            self.app = seeded_app(url)

    def wait_children(self, n: int, *, other_than: tuple[int, ...] = (), timeout: float = 30) -> list[int]:
        """The parent's ``n`` server processes, none of ``other_than``, once each one answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kids = children(self.parent.pid)
            if len(kids) == n and not set(kids) & set(other_than) and self.answered_by(kids, timeout=3) == set(kids):
                return kids
            time.sleep(0.1)
        raise AssertionError(f"no {n} server processes: {children(self.parent.pid)}\n{self.procs.tail()}")

    def answered_by(self, kids: list[int], *, timeout: float = 5, tries: int = 200) -> set[int]:
        """The server processes that answered ``GET /`` on new connections (stops once all did)."""
        seen: set[int] = set()
        deadline = time.monotonic() + timeout
        for _ in range(tries):
            if seen == set(kids) or time.monotonic() > deadline:
                break
            with contextlib.closing(self.connection()) as conn:
                assert get(conn, "/") == 200
                seen.add(server_pid(conn, self.port, kids))
        return seen

    def connection(self) -> http.client.HTTPConnection:
        # a new server process's first answer (imports, templates) took over 10 s on a loaded machine
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def refused(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return True
        return False

    def processes_of(self) -> list[int]:
        """Every live process started for this parent (whoever their parent is now)."""
        mark = f"--parent-pid\0{self.parent.pid}\0".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if mark in (entry / "cmdline").read_bytes():
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

    def stop(self) -> None:
        left = self.processes_of()  # ones that outlived their parent (a failed test) go too
        self.procs.stop_all()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def sqlite_server(tmp_path):
    server = Server(tmp_path, "sqlite:///" + str(tmp_path / "eventsvc.db"))
    ctx = server.app.app_context()
    ctx.push()
    try:
        yield server
    finally:
        server.stop()
        db.session.remove()
        ctx.pop()


def server_pid(conn: http.client.HTTPConnection, port: int, kids: list[int]) -> int:
    """Which of ``kids`` holds the server end of ``conn`` (an open keep-alive connection)."""
    client_port = conn.sock.getsockname()[1]
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == port and int(remote.rsplit(":", 1)[1], 16) == client_port:
                inodes.add(f"socket:[{inode}]")
    assert inodes, "the server end of the connection is not in /proc/net/tcp"
    for pid in kids:
        fds = Path(f"/proc/{pid}/fd")
        for fd in fds.iterdir():
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no server process {kids} holds the connection")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_ends(port: int) -> int:
    """Open connections whose server end is on ``port`` (ESTABLISHED or CLOSE_WAIT: not yet closed by the server)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] in ("01", "08"):
                count += 1
    return count


def get(conn: http.client.HTTPConnection, path: str) -> int:
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return response.status


def register(conn: http.client.HTTPConnection, slug: str, email: str) -> tuple[int, dict]:
    body = {"name": "参加 太郎", "name_kana": "サンカ タロウ", "email": email, "organization_code": "472018",
            "ticket_type": "venue", "consent_privacy": True}
    conn.request("POST", f"/api/v1/events/{slug}/registrations", json.dumps(body),
                 {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.05)


def registrations_through_each_process(server: Server) -> dict[int, str]:
    """A registration sent through each server process (on a connection it accepted): pid → email."""
    from tests import factories as make

    slug = seats_event(make).slug
    db.session.commit()
    sent: dict[int, str] = {}
    deadline = time.monotonic() + 10
    while set(sent) != set(server.kids) and time.monotonic() < deadline:
        with contextlib.closing(server.connection()) as conn:
            assert get(conn, "/") == 200
            pid = server_pid(conn, server.port, server.kids)
            if pid in sent:
                continue
            email = f"p{len(sent)}@city.naha.lg.jp"
            status, body = register(conn, slug, email)
            assert status == 201 and body["status"] == "confirmed", (status, body)
            sent[pid] = email
    assert set(sent) == set(server.kids), "a server process never accepted a connection"
    return sent


def connection_to_each_process(server: Server) -> list[http.client.HTTPConnection]:
    """An open keep-alive connection to each server process, in the order of ``server.kids``."""
    found: dict[int, http.client.HTTPConnection] = {}
    deadline = time.monotonic() + 10
    while set(found) != set(server.kids) and time.monotonic() < deadline:
        conn = server.connection()
        assert get(conn, "/") == 200
        pid = server_pid(conn, server.port, server.kids)
        if pid in found:
            conn.close()
        else:
            found[pid] = conn
    assert set(found) == set(server.kids), "a server process never accepted a connection"
    return [found[pid] for pid in server.kids]


def assert_saved(emails) -> None:
    with database.read_only():
        db.session.commit()
        saved = db.session.scalars(select(Registration.email)).all()
        db.session.commit()
    assert sorted(saved) == sorted(emails)


# ------------------------------------------------------------------ the tests
def test_two_server_processes_answer_on_one_port_and_both_save(sqlite_server):
    server = sqlite_server
    assert len(server.kids) == 2 and all(alive(pid) for pid in server.kids)
    assert server.parent.pid not in server.kids
    assert sorted(server.processes_of()) == sorted(server.kids)
    sent = registrations_through_each_process(server)
    assert_saved(sent.values())
    assert server.procs.tail().count(f"eventsvc: http://127.0.0.1:{server.port}/") == 1


def first_requests_at_once(conns: list[http.client.HTTPConnection]) -> None:
    """``GET /`` on every connection, sent together (each from a thread of its own)."""
    barrier = threading.Barrier(len(conns))

    def first_request(conn):
        barrier.wait()
        assert get(conn, "/") == 200

    threads = [threading.Thread(target=first_request, args=(conn,)) for conn in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def connection_shares(server: Server, conns: list[http.client.HTTPConnection]) -> list[int]:
    """How many of ``conns`` each server process holds, fewest first."""
    held = [server_pid(conn, server.port, server.kids) for conn in conns]
    return sorted(held.count(pid) for pid in server.kids)


def test_keep_alive_connections_opened_at_once_are_shared_out_evenly(sqlite_server):
    """32 clients connecting at the same moment (a proxy's pool, a benchmark's burst) are served half by
    each process: the kernel alone handed all of them to one process in some runs (core/balance.py)."""
    server = sqlite_server
    for _round in range(2):
        conns = [server.connection() for _ in range(32)]
        first_requests_at_once(conns)
        shares = connection_shares(server, conns)
        assert shares[0] >= 14, f"connections per process: {shares}"
        for conn in conns:
            conn.close()
        # the next round starts when the processes have seen these end (and noted it on the board)
        wait_until(lambda: server_ends(server.port) == 0, 10, "the server still holds the connections")


def test_connections_opened_while_the_server_starts_are_shared_out_evenly(tmp_path):
    """A proxy's pool or a burst that connects while the server processes are still starting (the
    port takes connections from the first moment; they wait in its queue) is served half by each:
    the first process to serve took every one of them, for their whole life (core/balance.py)."""
    server = Server(tmp_path, "sqlite:///" + str(tmp_path / "eventsvc.db"), wait=False)
    try:
        conns = [server.connection() for _ in range(16)]
        for conn in conns:
            conn.connect()  # queued now, before either process serves
        first_requests_at_once(conns)
        server.kids = server.wait_children(2)
        shares = connection_shares(server, conns)
        assert shares[0] >= 6, f"connections per process: {shares}"
        for conn in conns:
            conn.close()
    finally:
        server.stop()


def test_idle_server_processes_sleep(sqlite_server):
    """Sharing connections out costs nothing while idle: the processes wake a few times a second to
    look at the board, they do not spin (a loop timeout of 0 once made each use a whole core)."""
    server = sqlite_server
    with contextlib.closing(server.connection()) as conn:  # a keep-alive connection stays open, idle
        assert get(conn, "/") == 200
        before = {pid: cpu_seconds(pid) for pid in server.kids}
        time.sleep(2)
        used = {pid: cpu_seconds(pid) - t for pid, t in before.items()}
    assert all(t < 0.3 for t in used.values()), f"CPU seconds in 2 s idle: {used}"


def test_a_killed_server_process_is_replaced_and_a_killed_parent_takes_them_along(sqlite_server):
    server = sqlite_server
    victim, survivor = server.kids
    os.kill(victim, signal.SIGKILL)
    # the other one answers meanwhile
    assert server.answered_by([survivor], timeout=2) == {survivor}
    kids = server.wait_children(2, other_than=(victim,))
    assert survivor in kids and not alive(victim)
    assert f"server process {victim} ended (signal SIGKILL)" in server.procs.tail()
    server.kids = kids
    assert_saved(registrations_through_each_process(server).values())
    # the parent dies without a word: its server processes do not stay behind on the port
    os.kill(server.parent.pid, signal.SIGKILL)
    server.parent.wait(5)
    wait_until(lambda: not server.processes_of(), 5, f"left behind: {server.processes_of()}")
    wait_until(server.refused, 5, "something still listens on the port")


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_the_parent_ends_its_server_processes_and_exits_0(sqlite_server, how):
    server = sqlite_server
    if how == "sigterm":
        server.parent.send_signal(signal.SIGTERM)
    else:  # a terminal's Ctrl+C: SIGINT to the whole process group (the server leads its own)
        os.killpg(server.parent.pid, signal.SIGINT)
    started = time.monotonic()
    assert server.parent.wait(12) == 0, server.procs.tail()
    assert time.monotonic() - started < 5
    assert not server.processes_of() and not any(alive(pid) for pid in server.kids)
    assert "Traceback" not in server.procs.tail()
    assert server.refused()


@pytest.mark.postgres
def test_two_server_processes_on_postgresql(fresh_pg, tmp_path):
    server = Server(tmp_path, fresh_pg)  # the parent migrates the new database
    ctx = server.app.app_context()
    ctx.push()
    try:
        sent = registrations_through_each_process(server)
        assert_saved(sent.values())
        server.parent.send_signal(signal.SIGTERM)
        assert server.parent.wait(12) == 0
        assert not server.processes_of()
    finally:
        server.stop()
        db.session.remove()
        ctx.pop()


def test_a_request_in_progress_when_the_server_is_stopped_is_answered(sqlite_server, tmp_path):
    """SIGTERM (a deployment restarting the service) stops the accepting at once, but a
    registration already being written is finished and answered before the processes end."""
    import sqlite3
    import threading

    from tests import factories as make

    server = sqlite_server
    slug = seats_event(make).slug
    db.session.commit()
    conn = server.connection()
    assert get(conn, "/") == 200  # a connection one server process has accepted
    blocker = sqlite3.connect(tmp_path / "eventsvc.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # SQLite's write lock: the registration below waits for it
    answer: list = []
    sending = threading.Thread(target=lambda: answer.append(register(conn, slug, "late@city.naha.lg.jp")))
    sending.start()
    time.sleep(1.0)  # the request has reached the app and waits for the write lock
    assert not answer
    server.parent.send_signal(signal.SIGTERM)
    wait_until(server.refused, 5, "the server still accepts new connections while stopping")
    blocker.execute("COMMIT")  # the write goes through now
    blocker.close()
    sending.join(15)
    assert answer and answer[0][0] == 201, (answer, server.procs.tail())
    assert server.parent.wait(12) == 0, server.procs.tail()
    assert not server.processes_of()
    assert_saved(["late@city.naha.lg.jp"])


@pytest.mark.parametrize("storage", ["default", "memory"])
def test_the_server_processes_count_rate_limits_together(tmp_path, storage):
    """Left unset, the rate-limit counters are kept in ``instance/ratelimits.sqlite``, which every
    server process uses: one address registering through both processes in turn is refused at its
    6th attempt in the minute, as it would be by one process alone. In memory (``memory://``,
    which the parent warns about) each process counts its own, and the 6th goes through."""
    from tests import factories as make

    env = {"EVENTSVC_RATELIMIT": "on"}
    if storage == "memory":
        env["EVENTSVC_RATELIMIT_STORAGE_URL"] = "memory://"
    server = Server(tmp_path, "sqlite:///" + str(tmp_path / "eventsvc.db"), env)
    ctx = server.app.app_context()
    ctx.push()
    conns = []
    try:
        slug = seats_event(make).slug
        db.session.commit()
        conns = connection_to_each_process(server)
        # the first registers, the next four are already registered, then the limit (5 per minute)
        codes = [register(conns[i % 2], slug, "same@city.naha.lg.jp")[0] for i in range(7)]
        warned = "counted by each of the 2 processes on its own" in server.procs.tail()
        if storage == "default":
            assert codes == [201] + [409] * 4 + [429] * 2, codes  # the two 429s from different processes
            assert (tmp_path / "ratelimits.sqlite").exists() and not warned
        else:
            assert codes == [201] + [409] * 6, codes
            assert warned
        assert_saved(["same@city.naha.lg.jp"])
    finally:
        for conn in conns:
            conn.close()
        server.stop()
        db.session.remove()
        ctx.pop()


# ------------------------------------------------------------------ what startup made stays out of the collector's way
GC_PROBE = """
import gc, json, sys
from eventsvc import create_app
from eventsvc.cli import serve_with_waitress

app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite:///" + sys.argv[2], "SECRET_KEY": "gc-probe",
                  "OUTBOX_WORKER": False, "LOG_LEVEL": "WARNING"})

def probe(environ, start_response):  # what the serving process's collector sees, asked from outside
    body = json.dumps({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]

serve_with_waitress(probe, host="127.0.0.1", port=int(sys.argv[1]), threads=1)
"""


def test_a_server_process_leaves_what_startup_made_out_of_garbage_collection(tmp_path):
    """A full collection over everything the app holds stops a process for ~120 ms: the server
    freezes it before serving, so the collector sees only what requests leave behind."""
    port = free_port()
    procs = Procs(tmp_path, {})
    try:
        proc = procs.spawn(sys.executable, "-c", GC_PROBE, str(port), str(tmp_path / "gc.db"))
        procs.wait_port(port, proc)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/")
        seen = json.loads(conn.getresponse().read())
        conn.close()
    finally:
        procs.stop_all()
    assert seen["frozen"] > 50_000, seen  # the app, its modules and mappers: out of the collector's sight
    assert seen["tracked"] < seen["frozen"] / 10, seen  # left to collect: what came after
