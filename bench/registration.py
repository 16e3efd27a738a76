"""Registration under load: real server processes, bursts at concurrency 1/8/32.

    .venv/bin/python bench/registration.py [--backends sqlite,postgresql] [--processes 2] [--threads 1]
                                           [--levels 1,8,32] [--requests 600] [--held 0] [--client select]
                                           [--pg postgresql://postgres@127.0.0.1/postgres]

For each backend it creates a fresh database (SQLite file in a temp folder, or a new PostgreSQL
database that is dropped afterwards), migrates it, and starts N server processes on one listening
socket, as ``eventsvc serve --processes N --threads T`` does (``bench/serving.py``; the defaults
are that command's ``--processes 2 --threads 1``). Each level registers ``--requests`` new people for an event with half as
many seats, over ``c`` keep-alive connections (``serving.drive``), and prints throughput,
p50/p99 latency ("p99 rest": the p99 without the burst's first ``c`` requests, which meet
servers idle a moment before), the burst's confirmed count (must equal its seats), the ratio to a bare Flask
endpoint that does one INSERT per request, served and driven the same way, and the CPU time
per request of the server processes ("cpu ms") and of the PostgreSQL server ("db ms"; read
from /proc): steadier than req/s on a shared machine.

``--held N``: each event already holds N confirmed registrations before its burst (and has N
more seats), as a large event does late in its registration period: an admission counts what
its participation type holds, so this shows how its cost grows with the event.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import serving  # noqa: E402 - bench/ beside this script


# ---------------------------------------------------------------- servers (run in child processes)
def bare_app(url: str):
    """A Flask app with one endpoint that writes one row: the yardstick."""
    from flask import Flask, request
    from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert

    from eventsvc import database  # the same SQLite pragmas, BEGIN IMMEDIATE and writer queue

    engine = create_engine(url, pool_size=16, max_overflow=4) if url.startswith("postgresql") else create_engine(
        url, connect_args=database.sqlite_connect_args())
    meta = MetaData()
    table = Table("bench_writes", meta, Column("id", Integer, primary_key=True), Column("email", String(254)))
    app = Flask("bare")

    @app.post("/write")
    def write():
        body = request.get_json()
        with engine.begin() as conn:
            conn.execute(insert(table).values(email=body["email"]))
        return {"ok": True}, 201

    return app


def serve(kind: str, fd: int, url: str, threads: int) -> None:
    if kind == "bare":
        app = bare_app(url)
    else:
        from eventsvc import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False,
                          "OUTBOX_WORKER": False, "LOG_LEVEL": "WARNING", "BASE_URL": "http://bench.example",
                          "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": threads, "max_overflow": 4}
                          if url.startswith("postgresql") else {}})
    serving.serve_socket(app, fd, threads)


# ---------------------------------------------------------------- setup


def prepare(backend: str, pg_server: str, tmp: str) -> tuple[str, callable]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from eventsvc.config import normalize_database_url

    if backend == "sqlite":
        return f"sqlite:///{tmp}/bench.db", lambda: None
    server = normalize_database_url(pg_server)
    name = f"eventsvc_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as c:
            c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return make_url(server).set(database=name).render_as_string(hide_password=False), drop


def migrate_and_make_events(url: str, levels: list[int], requests: int, held: int = 0) -> dict[int, str]:
    from flask_migrate import upgrade
    from sqlalchemy import text

    from eventsvc import create_app
    from eventsvc.auth import service as auth
    from eventsvc.core.clock import now_utc
    from eventsvc.events import service as events
    from eventsvc.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING"})
    slugs = {}
    with app.app_context():
        upgrade()
        db.session.execute(text("CREATE TABLE bench_writes (id INTEGER PRIMARY KEY, email VARCHAR(254))")
                           if url.startswith("sqlite") else
                           text("CREATE TABLE bench_writes (id SERIAL PRIMARY KEY, email VARCHAR(254))"))
        org = auth.create_organizer("bench@digital.go.jp", "bench", "correct horse battery staple")
        now = now_utc()
        from datetime import timedelta

        for c in [*levels, "warm"]:
            seats = 100_000 if c == "warm" else requests // 2 + held
            e = events.create_event(events.EventData(
                title=f"bench c={c}", starts_at=now + timedelta(days=30), ends_at=now + timedelta(days=30, hours=3),
                ticket_types=[events.TicketTypeData("venue", "会場参加", seats)], slug=f"bench-c{c}"), org, now)
            events.publish(e, org, now)
            slugs[c] = e.slug
            if held and c != "warm":
                hold_seats(e, held, now)
        db.session.commit()
    serving.settle(url)
    return slugs


def hold_seats(event, n: int, now) -> None:
    """``n`` confirmed registrations for ``event``'s first participation type, written directly."""
    import hashlib

    from sqlalchemy import insert

    from eventsvc.extensions import db
    from eventsvc.registration.models import Registration
    from eventsvc.registration.tickets import make_code

    db.session.flush()
    tt = event.ticket_types[0]
    rows = [dict(event_id=event.id, ticket_type_id=tt.id, status="confirmed", name=f"先行 {i}",
                 name_kana="センコウ", email=f"held{i}@city.naha.lg.jp", organization_code="472018",
                 organization_name="沖縄県那覇市", department="", ticket_code=make_code(),
                 attendee_token_hash=hashlib.sha256(f"{event.slug}-{i}".encode()).hexdigest(), facilitator=False,
                 consent_privacy=True, consent_slack_mention=False, consent_listing=False, answers={},
                 review_note="", locale="ja", created_at=now, updated_at=now, confirmed_at=now) for i in range(n)]
    for i in range(0, n, 1000):
        db.session.execute(insert(Registration), rows[i:i + 1000])


def count_statuses(url: str, slug: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as c:
        rows = c.execute(text("SELECT r.status, count(*) FROM registrations r JOIN events e ON e.id = r.event_id "
                              "WHERE e.slug = :s GROUP BY r.status"), {"s": slug}).all()
    engine.dispose()
    return dict(rows)


def bodies_for(prefix: str, n: int) -> list[dict]:
    return [{"name": f"参加 {i}", "name_kana": "サンカ", "email": f"{prefix}{i}@city.naha.lg.jp",
             "organization_code": "472018"} for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--client", choices=("select", "threads"), default="select",
                        help="the load generator (bench/serving.py: drive); threads = the one until stop 22")
    parser.add_argument("--held", type=int, default=0, help="confirmed registrations each event holds already")
    parser.add_argument("--pg", default=os.environ.get("EVENTSVC_TEST_POSTGRES_URL",
                                                      "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    if args.client == "threads":
        # the client's threads wait for answers: let one whose answer came take the interpreter at
        # once, or its timing includes up to 5 ms of waiting for other client threads
        sys.setswitchinterval(0.0005)
    levels = [int(x) for x in args.levels.split(",")]
    print(f"# registration bench: {args.processes} waitress processes × {args.threads} threads, "
          f"{args.requests} registrations per level (seats = half"
          f"{f', each event holding {args.held} already' if args.held else ''}), {os.cpu_count()} CPUs")
    print(f"{'backend':10} {'endpoint':12} {'c':>3} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99 rest':>8} "
          f"{'confirmed':>9} {'waitlisted':>10} {'non-2xx':>7} {'vs bare':>8} {'cpu ms':>7} {'db ms':>6}")
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="eventsvc-bench-") as tmp:
            url, drop = prepare(backend, args.pg, tmp)
            try:
                slugs = migrate_and_make_events(url, levels, args.requests, args.held)
                results = {}
                for kind in ("bare", "app"):
                    procs, ports = serving.start_servers(__file__, kind, url, args.processes, args.threads)
                    try:
                        for c in levels:
                            path = "/write" if kind == "bare" else f"/api/v1/events/{slugs[c]}/registrations"
                            warm = "/write" if kind == "bare" else f"/api/v1/events/{slugs['warm']}/registrations"
                            serving.drive(ports[0], warm, bodies_for(f"warm{kind}{c}x", 2 * c), c, client=args.client)  # connections, pools, imports
                            since = serving.cpu_used([p.pid for p in procs], backend)
                            results[(kind, c)] = serving.drive(ports[0], path, bodies_for(f"{kind}{c}x", args.requests), c,
                                                              client=args.client)
                            server_ms, db_ms = since()
                            n = results[(kind, c)]["n"]
                            results[(kind, c)].update(cpu=server_ms / n, db_cpu=db_ms / n)
                    finally:
                        serving.stop_servers(procs)
                for c in levels:
                    bare, app = results[("bare", c)], results[("app", c)]
                    counts = count_statuses(url, slugs[c])
                    bad = sum(n for code, n in app["answers"].items() if not 200 <= code < 300)
                    print(f"{backend:10} {'bare insert':12} {c:>3} {bare['rps']:8.0f} {bare['p50']:8.1f} "
                          f"{bare['p99']:8.1f} {bare['p99_rest']:8.1f} {'':>9} {'':>10} "
                          f"{sum(n for code, n in bare['answers'].items() if not 200 <= code < 300):>7} {'1.00':>8} "
                          f"{bare['cpu']:7.2f} {bare['db_cpu']:6.2f}")
                    print(f"{backend:10} {'register':12} {c:>3} {app['rps']:8.0f} {app['p50']:8.1f} {app['p99']:8.1f} {app['p99_rest']:8.1f} "
                          f"{counts.get('confirmed', 0) - args.held:>9} {counts.get('waitlisted', 0):>10} {bad:>7} "
                          f"{app['rps'] / bare['rps']:8.2f} {app['cpu']:7.2f} {app['db_cpu']:6.2f}")
            finally:
                drop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    else:
        main()
