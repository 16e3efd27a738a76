"""Server processes for the benchmarks, started the way ``eventsvc serve --processes N`` starts them.

The parent binds one listening socket and hands it to N child processes (``pass_fds``); each
child serves it with waitress through :func:`eventsvc.cli.serve_with_waitress` (so with the same
interpreter switch interval as ``eventsvc serve``). The kernel hands each new connection to
whichever child accepts first, and the children share out the connections evenly through the
same board as ``eventsvc serve --processes`` (``eventsvc/core/balance.py``): the figures are those
of the production command.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
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
    procs = [subprocess.Popen([sys.executable, script, "--serve", kind, str(fd), url, str(threads)],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT),
                                             "EVENTSVC_BENCH_BALANCE": f"{board.fd},{processes},{i}"},
                              pass_fds=[fd, board.fd], stdout=subprocess.PIPE, text=True) for i in range(processes)]
    listener.close()  # the children hold it now
    board.close()  # and the board
    for p in procs:
        if p.stdout.readline().strip() != "ready":
            stop_servers(procs)
            raise RuntimeError(f"server process {p.pid} did not start (exit code {p.poll()})")
    return procs, [port]


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
