"""The ``eventsvc`` command: Flask's own commands (``db``, ``routes``…) plus ours.

Every command runs without prompts when given its options.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import socket
import subprocess
import sys
import time

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from . import create_app
from .core.balance import Board
from .extensions import db

log = logging.getLogger(__name__)

#: ``fn(app) -> stop()``: background services started by ``serve`` (the outbox worker registers here)
BACKGROUND_STARTERS: list = []


def _create_app(*_args, **_kwargs):
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def main():
    """eventsvc — study sessions and workshops for government staff."""


#: commands added to every app's ``app.cli`` (so ``eventsvc``, ``flask`` and tests see them)
COMMANDS: list[click.Command] = []


def command(fn_or_group):
    COMMANDS.append(fn_or_group)
    return fn_or_group


def register_commands(app) -> None:
    for cmd in COMMANDS:
        app.cli.add_command(cmd)


def migrated(fn):
    """Bring the database up to date before the command runs (a fresh instance gets its
    schema, so ``organizer create`` works before the first ``serve``)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not _at_head():
            upgrade_database()
        return fn(*args, **kwargs)

    return wrapper


def _at_head() -> bool:
    """Whether every migration is applied already (then nothing needs saying)."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = current_app.extensions["migrate"].migrate.get_config()
    heads = set(ScriptDirectory.from_config(config).get_heads())
    quiet = logging.getLogger("alembic.runtime.migration")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # "Context impl SQLiteImpl." on every command is noise
    try:
        with db.engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads()) == heads
    finally:
        quiet.setLevel(level)


def upgrade_database() -> None:
    """Apply every migration (a fresh database gets the whole schema)."""
    from flask_migrate import upgrade

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    upgrade()
    # alembic's env.py applies migrations/alembic.ini to logging (root at WARN, its own
    # handler): put back what create_app set from EVENTSVC_LOG_LEVEL
    root.setLevel(level)
    root.handlers[:] = handlers


#: how long a thread may run before a waiting one gets the interpreter (CPython's default is 5 ms)
SWITCH_INTERVAL = 0.0005


def serve_with_waitress(app, *, threads: int, balance: tuple[Board, int] | None = None, **options) -> None:
    """Serve ``app`` with waitress, the way ``eventsvc serve`` does (the benchmarks call this too).

    ``options`` go to waitress: ``host`` and ``port``, or ``sockets`` already listening.
    ``balance``: the board and this process's slot on it, when the server processes of
    ``--processes`` share the sockets (see :mod:`eventsvc.core.balance`).

    What the process holds once the app is built — modules, the app, the mappers, the
    translations, ~190,000 objects — lives as long as the process, so it is moved out of the
    garbage collector's sight first (:func:`freeze_what_startup_made`).

    A request thread mostly waits: for its socket, for the database. When its wait ends it
    needs the interpreter back, and CPython lets it wait up to the switch interval while
    other threads run — 5 ms by default, during which a thread holding SQLite's write turn
    or a PostgreSQL row lock keeps every other writer waiting. A shorter interval means more
    switching; measured here it raised throughput too, and took the convoys out of the slow
    answers (``bench/README-checkin.md``).
    """
    import waitress

    sys.setswitchinterval(SWITCH_INTERVAL)
    freeze_what_startup_made()
    server = waitress.create_server(app, threads=threads, **options)
    if "sockets" not in options:  # given sockets, the caller has said where it listens
        server.print_listen("Serving on http://{}:{}")
    if balance is not None:
        _accept_when_least_loaded(server, *balance)
    _run_until_stopped(server, balance)


def freeze_what_startup_made() -> None:
    """Collect once, then leave every object alive now out of all later garbage collections.

    CPython's collector looks at every tracked object in a full collection, which comes
    whenever the objects that outlived two collections have grown by a quarter since the last
    one: in a server process that is ~190,000 objects, the same ones each time, all made at
    startup and never freed. A full collection then stops the process for ~120 ms (measured
    on this machine), for every request it has in hand — more than the p99 budget of a
    registration. Frozen (``gc.freeze``), they are skipped: a full collection looks only at
    what the process made since, a few thousand objects. A frozen object that is let go later
    is still freed when nothing refers to it any more; only one caught in a reference cycle
    would stay, and what startup makes is kept for the life of the process anyway."""
    import gc

    gc.collect()
    gc.freeze()


#: seconds a balanced server process's loop waits at most before it looks at the board again (the
#: least loaded process must notice soon that it may accept again). Passed to the loop itself:
#: waitress's own ``asyncore_loop_timeout`` is an int, and 0 would make the loop spin.
BALANCED_LOOP_TIMEOUT = 0.05


def _accept_when_least_loaded(server, board: Board, slot: int) -> None:
    """Have this process listen for new connections only while it is among the least loaded of
    the server processes (:meth:`Board.may_accept`), so that keep-alive connections spread evenly."""
    from waitress.server import BaseWSGIServer

    dispatchers = getattr(server, "map", None) or server._map
    idle = len(dispatchers)  # no connection yet: its listeners and its trigger
    for listener in [d for d in dispatchers.values() if isinstance(d, BaseWSGIServer)]:
        def readable(listener=listener, waitress_readable=listener.readable):
            # every process counts its listeners and its trigger too: the same few in each
            return waitress_readable() and board.may_accept(slot, len(dispatchers), idle=idle)

        listener.readable = readable


#: seconds the requests in progress get to finish once the server is asked to stop
DRAIN_SECONDS = 8.0


def _run_until_stopped(server, balance: tuple[Board, int] | None = None) -> None:
    """Run waitress's loop until SIGTERM or Ctrl+C, then stop gracefully: accept nothing new
    (on a shared socket the other server processes go on accepting), let the requests in
    progress finish and their answers go out, close each connection once it is idle, and end
    when none is left or after :data:`DRAIN_SECONDS`. A registration being written when a
    deployment restarts the server is answered, not cut off."""
    import signal

    from waitress import wasyncore
    from waitress.channel import HTTPChannel
    from waitress.server import BaseWSGIServer

    stopping: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    adj = server.adj
    tasks = server.task_dispatcher
    dispatchers = getattr(server, "map", None) or server._map
    timeout = BALANCED_LOOP_TIMEOUT if balance is not None else adj.asyncore_loop_timeout
    try:
        while not stopping:
            wasyncore.loop(timeout=timeout, map=dispatchers, use_poll=adj.asyncore_use_poll, count=1)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    for listener in [d for d in list(dispatchers.values()) if isinstance(d, BaseWSGIServer)]:
        wasyncore.dispatcher.close(listener)  # its socket only: its trigger still wakes the loop
    if balance is not None:  # the others accept on their own now
        balance[0].leave(balance[1])
    deadline = time.monotonic() + DRAIN_SECONDS
    try:
        while time.monotonic() < deadline:
            channels = [d for d in list(dispatchers.values()) if isinstance(d, HTTPChannel)]
            for channel in channels:
                if not (channel.requests or channel.total_outbufs_len or channel.request is not None):
                    channel.handle_close()  # idle: nothing is lost by closing it
            if not any(isinstance(d, HTTPChannel) for d in dispatchers.values()):
                break
            wasyncore.loop(timeout=0.05, map=dispatchers, use_poll=adj.asyncore_use_poll, count=1)
    except KeyboardInterrupt:  # a second Ctrl+C: stop at once
        pass
    tasks.shutdown(cancel_pending=True, timeout=1)
    wasyncore.close_all(dispatchers)


@command
@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Seed the demo data first.")
@click.option("--no-worker", is_flag=True, help="Do not run the outbox worker in this process.")
@click.option("--processes", default=1, show_default=True, type=click.IntRange(min=1),
              help="Server processes sharing the port.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(min=1),
              help="Request threads per process.")
# a server process started by --processes: serve these listening sockets, nothing else
@click.option("--listen-fd", "listen_fds", multiple=True, type=int, hidden=True)
@click.option("--parent-pid", type=int, hidden=True)
# and the board the server processes share, with this process's slot on it (core/balance.py)
@click.option("--balance", type=(int, int, int), hidden=True, help="fd, slots, slot")
@with_appcontext
def serve(host: str, port: int, demo: bool, no_worker: bool, processes: int, threads: int,
          listen_fds: tuple[int, ...], parent_pid: int | None, balance: tuple[int, int, int] | None):
    """Migrate the database, then serve with waitress.

    CPython runs one thread of a process at a time, so on more than one core more processes
    with fewer threads answer faster: --processes 2 --threads 2 suits a 2-core machine. This
    process then migrates, listens, runs the outbox worker and starts the server processes
    (a new one when one dies); Ctrl+C or SIGTERM ends them all. Rate limits are counted
    together in ``instance/ratelimits.sqlite`` (the default), or in Redis; kept in memory
    (``memory://``) they would be counted by each process on its own.
    """
    app = current_app._get_current_object()
    if listen_fds:
        _serve_listening(app, listen_fds, parent_pid, threads, balance)
        return
    if processes > 1 and os.name != "posix":  # the socket is handed over with pass_fds
        raise click.UsageError("--processes needs a POSIX system (Linux, macOS); "
                               "on Windows serve with one process (and --threads).")
    # bound before anything starts, so that a port in use is said at once, in a sentence, with
    # nothing done (no migration, no demo data) — one process or N
    sockets = _listen(host, port)
    upgrade_database()
    shown_host = f"[{host}]" if ":" in host else ("127.0.0.1" if host in ("0.0.0.0", "") else host)
    base = (app.config.get("BASE_URL") or f"http://{shown_host}:{port}").rstrip("/")
    if not app.config.get("BASE_URL"):
        # mails and Slack posts are written by the worker, outside any request: their links go here
        app.config["SERVED_URL"] = base
        if not _loopback(host):
            click.echo(f"eventsvc: EVENTSVC_BASE_URL is not set, so links in e-mails and Slack posts point to "
                       f"{base}/; set it to the address people open (e.g. http://10.1.2.3:{port})", err=True)
    if demo:
        from .demo import seed_demo

        _print_demo(seed_demo(), base)
    stops = []
    if not no_worker and app.config.get("OUTBOX_WORKER", True):
        stops = [start(app) for start in BACKGROUND_STARTERS]
    click.echo(f"eventsvc: {base}/  (Ctrl+C で停止)")
    if processes > 1 and app.config.get("RATELIMIT_ENABLED", True) and \
            str(app.config.get("RATELIMIT_STORAGE_URI", "")).startswith("memory://"):
        click.echo(f"eventsvc: rate limits are counted by each of the {processes} processes on its own "
                   "(EVENTSVC_RATELIMIT_STORAGE_URL=memory://); leave it unset to count them together "
                   "in the instance folder, or set redis://…", err=True)
    from .extensions import rate_limit_storage_problem

    problem = rate_limit_storage_problem(app)
    if problem:
        click.echo(f"eventsvc: {problem}: rate limits are counted in memory, by each server process on its "
                   "own, until it can be used again (the server keeps answering)", err=True)
    try:
        if processes > 1:
            _Supervisor(sockets, processes, threads).run()
        else:
            serve_with_waitress(app, sockets=sockets, threads=threads, ident="eventsvc")
    finally:
        for stop in stops:
            stop()
        for sock in sockets:
            sock.close()


def _loopback(host: str) -> bool:
    return host == "localhost" or host == "::1" or host.startswith("127.")


def _listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address ``host`` names (as waitress binds them itself)."""
    sockets: list[socket.socket] = []
    seen = set()
    try:
        for family, kind, proto, _name, address in socket.getaddrinfo(
                host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, socket.IPPROTO_TCP,
                socket.AI_PASSIVE):
            if (address[0].split("%", 1)[0], address[1]) in seen:
                continue  # getaddrinfo may name an address twice
            seen.add((address[0].split("%", 1)[0], address[1]))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(1024)
    except OSError as err:
        for sock in sockets:
            sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    return sockets


def _serve_listening(app, fds: tuple[int, ...], parent_pid: int | None, threads: int,
                     balance: tuple[int, int, int] | None = None) -> None:
    """A server process of ``serve --processes``: its parent migrated, listens and runs the worker."""
    import signal

    # Ctrl+C reaches the whole process group; the parent ends its server processes itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_parent(parent_pid)
    sockets = [socket.socket(fileno=fd) for fd in fds]
    board = (Board(balance[0], balance[1]), balance[2]) if balance else None
    serve_with_waitress(app, sockets=sockets, threads=threads, ident="eventsvc", balance=board)


def _end_with_parent(parent_pid: int | None) -> None:
    """Have this process end when ``parent_pid`` does, even by SIGKILL (no orphans on the port)."""
    import signal
    import threading

    if parent_pid is None:
        return
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    else:
        def watch():
            while os.getppid() == parent_pid:
                time.sleep(1)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # it ended before it could be asked to tell us
        os.kill(os.getpid(), signal.SIGTERM)


class _Supervisor:
    """Runs ``processes`` server processes on ``sockets`` and starts a new one when one dies."""

    #: seconds before a dead server process is replaced; doubled while they die young
    BACKOFF = 0.5
    BACKOFF_MAX = 10.0
    #: a server process that ran this long was not dying young
    HEALTHY_AFTER = 30.0
    #: seconds the server processes get to end after SIGTERM (they finish what they are
    #: answering, up to DRAIN_SECONDS) before SIGKILL
    STOP_TIMEOUT = DRAIN_SECONDS + 2.0

    def __init__(self, sockets: list[socket.socket], processes: int, threads: int):
        self.sockets = sockets
        self.fds = [sock.fileno() for sock in sockets]
        self.argv = [sys.executable, "-c", "from eventsvc.cli import main; main()", "serve",
                     "--threads", str(threads), "--no-worker", "--parent-pid", str(os.getpid())]
        for fd in self.fds:
            self.argv += ["--listen-fd", str(fd)]
        #: where the server processes note their connections, to share them out evenly
        self.board = Board.create(processes)
        self.procs: list[subprocess.Popen | None] = [None] * processes
        self.started = [0.0] * processes
        self.due = [0.0] * processes
        self.backoff = [self.BACKOFF] * processes
        self.stopping = False

    def run(self) -> None:
        import signal

        def stop(_signum, _frame):
            self.stopping = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not self.stopping:
                self._tend(time.monotonic())
                time.sleep(0.2)
        finally:
            self._end_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _tend(self, now: float) -> None:
        for i, proc in enumerate(self.procs):
            if proc is not None and proc.poll() is not None:
                delay = self.backoff[i] if now - self.started[i] < self.HEALTHY_AFTER else self.BACKOFF
                self.backoff[i] = min(delay * 2, self.BACKOFF_MAX)
                log.warning("server process %d ended (%s); starting another in %.1f s", proc.pid,
                            _exit_reason(proc.returncode), delay)
                self.procs[i], self.due[i] = None, now + delay
                self.board.leave(i)  # the others need not wait for it
            if self.procs[i] is None and now >= self.due[i] and not self.stopping:
                if not self.started[i]:  # the first start: the others wait for it (core/balance.py)
                    self.board.starting(i)
                self.procs[i] = subprocess.Popen(
                    [*self.argv, "--balance", str(self.board.fd), str(len(self.procs)), str(i)],
                    pass_fds=[*self.fds, self.board.fd])
                self.started[i] = now

    def _end_all(self) -> None:
        # the port closes once the server processes have closed their copies too (the first
        # thing they do on SIGTERM): a new connection is refused, not left waiting in the queue
        for sock in self.sockets:
            sock.close()
        live = [p for p in self.procs if p is not None and p.poll() is None]
        for proc in live:
            proc.terminate()
        deadline = time.monotonic() + self.STOP_TIMEOUT
        for proc in live:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.board.close()


def _exit_reason(code: int) -> str:
    import signal

    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _print_demo(result: dict, base: str | None = None) -> None:
    """Where the demo is and how to log in (``base``: the address being served)."""
    base = base or (current_app.config.get("BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
    click.echo("デモデータを用意しました / demo data ready")
    for slug in result["events"]:
        click.echo(f"  {base}/events/{slug}")
    click.echo(f"主催者ログイン / organizer login: {base}/login")
    click.echo(f"  email:    {result['email']}")
    click.echo(f"  password: {result['password']}")


@command
@click.command("demo")
@with_appcontext
def demo_command():
    """Seed the demo data (a Naha and a Kurume study session) into the configured database."""
    from .demo import seed_demo

    upgrade_database()
    _print_demo(seed_demo())


@command
@click.group("organizer")
def organizer_group():
    """Organizer accounts."""


@organizer_group.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", help="Prompted for when not given.")
@click.option("--admin", is_flag=True, help="Also an administrator.")
@with_appcontext
@migrated
def organizer_create(email: str, name: str, password: str | None, admin: bool):
    """Create an organizer account."""
    from .auth import service
    from .errors import DomainError

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        organizer = service.create_organizer(email, name, password, is_admin=admin)
        _audit("cli.organizer_create", f"organizer:{organizer.id}", admin=bool(admin))
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        detail = "; ".join(f"{k}: {v}" for k, v in err.fields.items()) or err.message
        click.echo(f"error: {err.code}: {detail}", err=True)
        sys.exit(1)
    click.echo(f"created organizer {organizer.email}")
    if admin:
        click.echo("admin: a second factor (TOTP) is set up at the first login")


@organizer_group.command("password")
@click.option("--email", required=True)
@click.option("--password", help="Prompted for when not given.")
@with_appcontext
@migrated
def organizer_password(email: str, password: str | None):
    """Set an organizer's password (and end their sessions)."""
    from .auth import service
    from .core.clock import now_utc
    from .errors import DomainError

    try:
        organizer = service.find_organizer(email)
    except DomainError as err:
        click.echo(f"error: {err.code}", err=True)
        sys.exit(1)
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        service.set_password(organizer, password, now_utc())
    except DomainError as err:
        db.session.rollback()
        detail = "; ".join(f"{k}: {v}" for k, v in err.fields.items()) or err.message
        click.echo(f"error: {err.code}: {detail}", err=True)
        sys.exit(1)
    _audit("cli.organizer_password", f"organizer:{organizer.id}")
    db.session.commit()
    click.echo("password changed")


@organizer_group.command("reset-2fa")
@click.option("--email", required=True)
@with_appcontext
@migrated
def organizer_reset_2fa(email: str):
    """Turn off an organizer's second factor (a lost phone) and end their sessions.

    They log in with the password alone next time; an admin is then sent to set it up again.
    """
    from .auth import service
    from .core.clock import now_utc
    from .errors import DomainError

    try:
        organizer = service.find_organizer(email)
    except DomainError as err:
        click.echo(f"error: {err.code}", err=True)
        sys.exit(1)
    service.disable_totp(organizer, None, now_utc())
    _audit("cli.organizer_reset_2fa", f"organizer:{organizer.id}")
    db.session.commit()
    click.echo(f"second factor reset for {organizer.email}; their sessions ended"
               + ("; they set it up again at the next login" if organizer.is_admin else ""))


@command
@click.group("token")
def token_group():
    """API tokens."""


@token_group.command("create")
@click.option("--email", required=True, help="The organizer the token acts for.")
@click.option("--name", default="cli", show_default=True)
@with_appcontext
@migrated
def token_create(email: str, name: str):
    """Print a new API token for an organizer (the last line of output)."""
    from .auth import service
    from .errors import DomainError

    try:
        organizer = service.find_organizer(email)
    except DomainError as err:
        click.echo(f"error: {err.code}: {err.message}", err=True)
        sys.exit(1)
    token = service.create_token(organizer, name)
    _audit("cli.token_create", f"organizer:{organizer.id}")
    db.session.commit()
    click.echo(f"token for {organizer.email} (shown once):")
    click.echo(token)


def random_password() -> str:
    return secrets.token_urlsafe(12)


def _audit(action: str, target: str, *, event_slug: str | None = None, **details) -> None:
    """An audit entry for a command (committed with the command's own work)."""
    from .audit import service as audit

    audit.record(action, actor=audit.CLI, target=target, event_slug=event_slug, details=details)


# ---------------------------------------------------------------- outbox worker and lottery
def _start_outbox_worker(app):
    from .outbox.worker import start_background

    return start_background(app)


BACKGROUND_STARTERS.append(_start_outbox_worker)


@command
@click.command("worker")
@click.option("--once", is_flag=True, help="One pass (send what is due), then exit.")
@click.option("--interval", default=2.0, show_default=True, type=float, help="Seconds between passes when idle.")
@with_appcontext
@migrated
def worker_command(once: bool, interval: float):
    """Run the outbox worker alone: send due e-mails (and Slack posts), expire offers, run due lotteries."""
    import signal
    import threading

    from .outbox.worker import run_forever, run_once

    app = current_app._get_current_object()
    if not app.config.get("BASE_URL"):
        click.echo("outbox worker: EVENTSVC_BASE_URL is not set, so links in e-mails and Slack posts point to "
                   "http://127.0.0.1:8000/; set it to the address people open", err=True)
    if once:
        outcome = run_once()
        click.echo("outbox: " + (", ".join(f"{k}={v}" for k, v in sorted(outcome.items())) or "nothing due"))
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_a: stop.set())
    click.echo("outbox worker: running (Ctrl+C で停止)")
    run_forever(app, stop, interval=interval)


@command
@click.group("lottery")
def lottery_group():
    """Lottery draws for events that select by lottery."""


@lottery_group.command("run")
@click.argument("slug")
@click.option("--seed", help="Seed for the draw (recorded); random when not given.")
@with_appcontext
@migrated
def lottery_run(slug: str, seed: str | None):
    """Draw the lottery for SLUG now and print the recorded result."""
    import json

    from sqlalchemy import select

    from .errors import DomainError
    from .events.models import Event
    from .registration import service

    event = db.session.scalar(select(Event).where(Event.slug == slug))
    if event is None:
        click.echo(f"error: event_not_found: {slug}", err=True)
        sys.exit(1)
    try:
        from .core.clock import now_utc

        draws = service.run_lottery(event, "cli", now_utc(), seed=seed)
        _audit("cli.lottery_run", f"event:{event.slug}", event_slug=event.slug,
               draws=[{"ticket_type": d.ticket_type_id, "won": len(d.record["won"]),
                       "waitlist": len(d.record["waitlist"])} for d in draws])
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        click.echo(f"error: {err.code}: {err.message}", err=True)
        sys.exit(1)
    for d in draws:
        tt = next(t for t in event.ticket_types if t.id == d.ticket_type_id)
        click.echo(f"{tt.code}: seed={d.seed} won={len(d.record['won'])} waitlist={len(d.record['waitlist'])}")
        click.echo(json.dumps(d.record, ensure_ascii=False))


# ---------------------------------------------------------------- privacy
@command
@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Show what would be erased, and change nothing.")
@click.option("--now", "now_text", metavar="ISO",
              help="Decide what is due as of this time (ISO 8601; without an offset: Japan time).")
@with_appcontext
@migrated
def purge_command(dry_run: bool, now_text: str | None):
    """Erase the personal data of events whose retention period has run out.

    An event is due RETENTION_DAYS (EVENTSVC_RETENTION_DAYS, default 180) days after it
    ends, or after its own retention days. Anonymous statistics, survey results and the
    event itself stay. Running it again changes nothing. The outbox worker does the same
    on its own; this command is for running it now, or seeing what it would do.
    """
    from datetime import datetime

    from .audit import service as audit
    from .core.clock import now_utc, to_utc
    from .registration import privacy

    if now_text:
        try:
            now = to_utc(datetime.fromisoformat(now_text))
        except ValueError:
            click.echo(f"error: --now: not an ISO 8601 date/time: {now_text}", err=True)
            sys.exit(2)
    else:
        now = now_utc()
    results = privacy.purge_due(now, actor=audit.CLI)
    for r in results:
        summary = ", ".join(f"{k}={v}" for k, v in sorted(r.counts.items())) or "nothing left to erase"
        click.echo(f"{r.slug} (ended {r.ended_at.isoformat()}): {summary}")
    erased = sum(1 for r in results if r.counts)
    if dry_run:
        db.session.rollback()
        click.echo(f"dry run: {erased} event(s) would be purged; nothing was changed")
        return
    db.session.commit()
    click.echo(f"purged {erased} event(s)" if results else "nothing is due")
