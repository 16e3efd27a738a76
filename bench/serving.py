"""Server processes for the benchmarks, started the way ``eventsvc serve --processes N`` starts them.

The parent binds one listening socket and hands it to N child processes (``pass_fds``); each
child serves it with waitress through :func:`eventsvc.cli.serve_with_waitress` (so with the same
interpreter switch interval as ``eventsvc serve``). The kernel hands each new connection to
whichever child accepts first, and the children share out the connections evenly through the
same board as ``eventsvc serve --processes`` (``eventsvc/core/balance.py``): the figures are those
of the production command.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def serve_socket(app, fd: int, threads: int) -> None:
    """In a child: serve ``app`` on the inherited listening socket ``fd`` until terminated."""
    import logging

    from eventsvc.cli import serve_with_waitress

    logging.getLogger("waitress").setLevel(logging.ERROR)
    from eventsvc.core.balance import Board

    print("ready", flush=True)  # the socket listens already: connections wait in its backlog
    spec = os.environ.get("EVENTSVC_BENCH_BALANCE")  # "fd,slots,slot" from start_servers
    balance = None
    if spec:
        board_fd, slots, slot = (int(x) for x in spec.split(","))
        balance = (Board(board_fd, slots), slot)
    serve_with_waitress(app, sockets=[socket.socket(fileno=fd)], threads=threads, connection_limit=1000,
                        balance=balance)


def start_servers(script: str, kind: str, url: str, processes: int, threads: int) -> tuple[list, list[int]]:
    """Start ``processes`` children of ``script --serve KIND FD URL THREADS`` on one new socket.

    Returns the processes and ``[port]`` once every child has built its app and serves."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    port, fd = listener.getsockname()[1], listener.fileno()
    from eventsvc.core.balance import Board

    board = Board.create(processes)  # as eventsvc serve --processes shares out the connections
    for i in range(processes):
        board.starting(i)  # and waits for each at its first start
    procs = [subprocess.Popen([sys.executable, script, "--serve", kind, str(fd), url, str(threads)],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT),
                                             "EVENTSVC_BENCH_BALANCE": f"{board.fd},{processes},{i}"},
                              pass_fds=[fd, board.fd], stdout=subprocess.PIPE, text=True) for i in range(processes)]
    listener.close()  # the children hold it now
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                stop_servers(procs)
                raise RuntimeError(f"server process {p.pid} did not start (exit code {p.poll()})")
        _wait_until_all_serve(board, procs)
    finally:
        board.close()  # the children hold it
    return procs, [port]


def _wait_until_all_serve(board, procs, timeout: float = 60.0) -> None:
    """Return once every child is in its serving loop: it has noted itself on the board.

    A child says "ready" before it serves (it still freezes what startup made and builds its
    server, ~0.1–0.2 s). Until stop 24 the benches sent their warm-up burst then, and it went to
    the first child alone (the board did not know yet that the other was coming): the other met
    its first requests (~45 ms of one-time work for the first) inside the measured burst, which
    set its p99 (``bench/README-registration.md``). The board's starting slots now share such a
    burst out too; waiting here also keeps each child's startup out of the warm-up."""
    deadline = time.monotonic() + timeout
    while None in board.counts():
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            stop_servers(procs)
            raise RuntimeError("a server process did not start serving")
        time.sleep(0.01)


def settle(url: str) -> None:
    """After seeding a PostgreSQL database: ``VACUUM ANALYZE`` each table that holds rows, as
    autovacuum does on its own within a minute or so of such writes. A database that has run for a
    while knows its tables; without statistics the planner chooses between indexes blindly (for
    instance reading an event's registrations to find one address instead of probing the unique
    index), which measures a state that passes. Empty tables are left alone: one analyzed while
    empty is planned as empty (sequential scans, kept in the connections' prepared plans) until
    autovacuum looks again, another passing state, while one never analyzed is planned as a small
    table of unknown size, as a used one would be. SQLite: nothing (the app never runs ANALYZE)."""
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            tables = conn.exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").scalars().all()
            for table in tables:
                if conn.exec_driver_sql(f'SELECT EXISTS (SELECT 1 FROM "{table}")').scalar():
                    conn.exec_driver_sql(f'VACUUM ANALYZE "{table}"')
    finally:
        engine.dispose()


def stop_servers(procs) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
        if p.stdout is not None:
            p.stdout.close()


# ---------------------------------------------------------------- CPU time (steadier than req/s on a shared machine)
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux ``/proc``; 0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _database_pids() -> list[int]:
    """The PostgreSQL server's processes on this machine (its backends do a share of each request's work)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() in ("postgres", "postmaster"):
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def cpu_used(server_pids: list[int], backend: str):
    """Call before a run; the returned function gives ``(server ms, database ms)`` used since."""
    db_pids = _database_pids() if backend == "postgresql" else []
    before = [_cpu_seconds(p) for p in server_pids], {p: _cpu_seconds(p) for p in db_pids}

    def since() -> tuple[float, float]:
        server = sum(_cpu_seconds(p) for p in server_pids) - sum(before[0])
        database = sum(_cpu_seconds(p) - t0 for p, t0 in before[1].items())
        new = [p for p in _database_pids() if p not in before[1]] if backend == "postgresql" else []
        database += sum(_cpu_seconds(p) for p in new)
        return server * 1000, database * 1000

    return since


# ---------------------------------------------------------------- load
def _p99(latencies: list[float]) -> float:
    return sorted(latencies)[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000


def _percentiles(timed: list[tuple[int, float]], wall: float, concurrency: int) -> dict:
    """``timed``: (the request's place in sending order, its latency in s). ``p99_rest``: the p99 of
    the requests after the first ``concurrency`` — the burst's opening, which meets servers that
    were idle a moment before (``bench/README-registration.md``, stop 23)."""
    latencies = [t for _i, t in timed]
    rest = [t for i, t in timed if i >= concurrency] or latencies
    return {"n": len(latencies), "rps": len(latencies) / wall, "p50": statistics.median(latencies) * 1000,
            "p99": _p99(latencies), "p99_rest": _p99(rest)}


def _status_answer(status: int, body: bytes):
    return status


def drive(port: int, path: str, bodies: list[dict], concurrency: int, headers: dict | None = None,
          answer=_status_answer, client: str = "select") -> dict:
    """POST each of ``bodies`` as JSON to ``path`` over ``concurrency`` keep-alive connections,
    started together; returns throughput, p50/p99 latency in ms and ``answers``: how many
    requests gave each ``answer(status, body)`` (status 0 for a connection that failed).

    ``client="select"`` (the default since stop 23): one thread waits on every connection with
    ``selectors`` and reads the answers with a minimal HTTP/1.1 reader, 0.08–0.10 ms of CPU a
    request; it takes each answer's time as soon as the answer is in. ``client="threads"``: a
    thread with ``http.client`` per connection, as the benches drove until stop 22; it costs
    0.3–0.5 ms of CPU a request on the same two cores, and its times include waiting for the
    interpreter behind the other client threads."""
    payloads = [json.dumps(b).encode() for b in bodies]
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    requests = [(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(p)}\r\n{extra}\r\n").encode() + p for p in payloads]
    if client == "threads":
        return _drive_threads(port, path, payloads, concurrency, headers or {}, answer)
    return _drive_select(port, requests, concurrency, answer)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _drive_select(port: int, requests: list[bytes], concurrency: int, answer) -> dict:
    timed: list[tuple[int, float]] = []
    answers: dict = {}
    todo = iter(enumerate(requests))
    selector = selectors.DefaultSelector()
    state: dict[socket.socket, list] = {}  # socket -> [start time, buffer, place in sending order]

    def send_next(sock: socket.socket | None) -> None:
        place, request = next(todo, (None, None))
        if request is None:
            if sock is not None:
                selector.unregister(sock)
                sock.close()
            return
        if sock is None:
            sock = _connect(port)
            selector.register(sock, selectors.EVENT_READ)
        state[sock] = [time.perf_counter(), b"", place]
        sock.sendall(request)  # a few hundred bytes: the socket's buffer takes them at once

    def done(sock: socket.socket, status: int, body: bytes, keep: bool) -> None:
        timed.append((state[sock][2], time.perf_counter() - state[sock][0]))
        key = answer(status, body)
        answers[key] = answers.get(key, 0) + 1
        if keep:
            send_next(sock)
        else:
            selector.unregister(sock)
            sock.close()
            send_next(None)

    socks = [_connect(port) for _ in range(concurrency)]  # every connection open before the first request
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ)
    t0 = time.perf_counter()
    for sock in socks:
        send_next(sock)
    while selector.get_map():
        for key, _ in selector.select(timeout=60):
            sock = key.fileobj
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                done(sock, 0, b"", keep=False)
                continue
            buf = state[sock][1] + data
            state[sock][1] = buf
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            lines = buf[:head_end].split(b"\r\n")
            fields = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                fields[name.strip().lower()] = value.strip()
            length = int(fields.get(b"content-length", b"0"))
            if len(buf) < head_end + 4 + length:
                continue
            status = int(lines[0].split()[1])
            done(sock, status, buf[head_end + 4:head_end + 4 + length],
                 keep=fields.get(b"connection", b"").lower() != b"close")
    wall = time.perf_counter() - t0
    return {**_percentiles(timed, wall, concurrency), "answers": answers}


def _drive_threads(port: int, path: str, payloads: list[bytes], concurrency: int, headers: dict, answer) -> dict:
    import http.client

    timed: list[tuple[int, float]] = []
    answers: dict = {}
    lock = threading.Lock()
    index = iter(range(len(payloads)))
    barrier = threading.Barrier(concurrency)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        barrier.wait()
        while True:
            with lock:
                i = next(index, None)
            if i is None:
                break
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=payloads[i], headers={"Content-Type": "application/json", **headers})
                resp = conn.getresponse()
                status, body = resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status, body = 0, b""
            dt = time.perf_counter() - t0
            key = answer(status, body)
            with lock:
                timed.append((i, dt))
                answers[key] = answers.get(key, 0) + 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {**_percentiles(timed, wall, concurrency), "answers": answers}
