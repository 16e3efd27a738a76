"""Server processes for the benchmarks, started the way ``eventsvc serve --processes N`` starts them.

The parent binds one listening socket and hands it to N child processes (``pass_fds``); each
child serves it with waitress through :func:`eventsvc.cli.serve_with_waitress` (so with the same
interpreter switch interval as ``eventsvc serve``). The kernel hands each new connection to
whichever child accepts first, as it does for ``eventsvc serve --processes``: the figures are those
of the production command, its uneven spread of keep-alive connections included.
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
    print("ready", flush=True)  # the socket listens already: connections wait in its backlog
    serve_with_waitress(app, sockets=[socket.socket(fileno=fd)], threads=threads, connection_limit=1000,
                        _quiet=True)


def start_servers(script: str, kind: str, url: str, processes: int, threads: int) -> tuple[list, list[int]]:
    """Start ``processes`` children of ``script --serve KIND FD URL THREADS`` on one new socket.

    Returns the processes and ``[port]`` once every child has built its app and serves."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    port, fd = listener.getsockname()[1], listener.fileno()
    procs = [subprocess.Popen([sys.executable, script, "--serve", kind, str(fd), url, str(threads)],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, pass_fds=[fd],
                              stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    listener.close()  # the children hold it now
    for p in procs:
        if p.stdout.readline().strip() != "ready":
            stop_servers(procs)
            raise RuntimeError(f"server process {p.pid} did not start (exit code {p.poll()})")
    return procs, [port]


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
