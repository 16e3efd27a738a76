"""Check-in under load: real server processes, 5,000 tickets, concurrency 1/8/32.

    .venv/bin/python bench/checkin.py [--backends sqlite,postgresql] [--processes 2] [--threads 1]
                                      [--levels 1,8,32] [--requests 1500] [--tickets 5000]
                                      [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--client select]

For each backend it creates a fresh database (SQLite file in a temp folder, or a new
PostgreSQL database dropped afterwards), migrates it, and seeds one event with
``--tickets`` confirmed registrations and an organizer API token. It then starts N server
processes on one listening socket, as ``eventsvc serve --processes N --threads T`` does
(``bench/serving.py``; the defaults are ``--processes 2 --threads 1``) and, for each level ``c``, scans
``--requests`` different tickets through ``POST /api/v1/events/{slug}/checkins`` over ``c``
keep-alive connections (``serving.drive``), each scan as the desk page sends it (code, device,
a nonce of its own, method). Every scan must answer ``checked_in`` (each
ticket is scanned once; the levels use disjoint tickets). It prints throughput and p50/p99
latency ("rest": the check-in's p99 without the first ``c`` scans, sent together at the start),
and the same for the ceiling: a bare Flask endpoint that does one INSERT per request, served and driven the same way, and the ratio between the two. A second table gives
the CPU time per request of the server processes and of the PostgreSQL server (read from
``/proc`` before and after each run), which a shared machine disturbs much less than req/s.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import serving  # noqa: E402 - bench/ beside this script


# ---------------------------------------------------------------- servers (child processes)
def bare_app(url: str):
    """A Flask app with one endpoint that writes one row: the ceiling."""
    from flask import Flask, request
    from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert

    from eventsvc import database  # the same SQLite pragmas, BEGIN IMMEDIATE and writer queue

    engine = create_engine(url, pool_size=16, max_overflow=4) if url.startswith("postgresql") else create_engine(
        url, connect_args=database.sqlite_connect_args())
    table = Table("bench_writes", MetaData(), Column("id", Integer, primary_key=True), Column("code", String(64)))
    app = Flask("bare")

    @app.post("/write")
    def write():
        body = request.get_json()
        with engine.begin() as conn:
            conn.execute(insert(table).values(code=body["code"]))
        return {"result": "checked_in"}

    return app


def app_write_blueprint():
    """One INSERT per request inside the eventsvc app itself (its middleware, sessions, headers; no auth)."""
    from flask import Blueprint, request
    from sqlalchemy import text

    from eventsvc.extensions import csrf, db

    bp = Blueprint("bench_write", __name__)

    @bp.post("/api/bench/write")
    def write():
        db.session.execute(text("INSERT INTO bench_writes (code) VALUES (:code)"), {"code": request.get_json()["code"]})
        db.session.commit()
        return {"result": "checked_in"}

    csrf.exempt(bp)
    return bp


def serve(kind: str, fd: int, url: str, threads: int) -> None:
    if kind == "bare":
        app = bare_app(url)
    else:
        from eventsvc import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False,
                          "OUTBOX_WORKER": False, "LOG_LEVEL": "WARNING", "BASE_URL": "http://bench.example",
                          "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": threads, "max_overflow": 4}
                          if url.startswith("postgresql") else {}})
        if kind == "appwrite":
            app.register_blueprint(app_write_blueprint())
    serving.serve_socket(app, fd, threads)


# ---------------------------------------------------------------- setup


def prepare(backend: str, pg_server: str, tmp: str):
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


def seed(url: str, tickets: int) -> tuple[str, str, list[str]]:
    """Migrate; one event with ``tickets`` confirmed registrations; (slug, organizer token, codes)."""
    import hashlib
    from datetime import timedelta

    from flask_migrate import upgrade
    from sqlalchemy import insert, text

    from eventsvc import create_app
    from eventsvc.auth import service as auth
    from eventsvc.core.clock import now_utc
    from eventsvc.events import service as events
    from eventsvc.extensions import db
    from eventsvc.registration.models import Registration
    from eventsvc.registration.tickets import make_code

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING"})
    with app.app_context():
        upgrade()
        db.session.execute(text("CREATE TABLE bench_writes (id INTEGER PRIMARY KEY, code VARCHAR(64))")
                           if url.startswith("sqlite") else
                           text("CREATE TABLE bench_writes (id SERIAL PRIMARY KEY, code VARCHAR(64))"))
        org = auth.create_organizer("bench@digital.go.jp", "受付ベンチ", "correct horse battery staple")
        token = auth.create_token(org, "bench")
        now = now_utc()
        event = events.create_event(events.EventData(
            title="check-in bench", starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=5),
            ticket_types=[events.TicketTypeData("venue", "会場参加", tickets),
                          events.TicketTypeData("online", "オンライン参加", tickets)], slug="bench-checkin"), org, now)
        events.publish(event, org, now)
        db.session.flush()
        venue, online = event.ticket_types
        codes = [make_code() for _ in range(tickets)]
        rows = [dict(event_id=event.id, ticket_type_id=(venue if i % 4 else online).id, status="confirmed",
                     name=f"参加 {i}", name_kana="サンカ シャ", email=f"p{i}@city.naha.lg.jp",
                     organization_code="472018", organization_name="沖縄県那覇市", department="",
                     ticket_code=code, attendee_token_hash=hashlib.sha256(f"bench{i}".encode()).hexdigest(),
                     facilitator=False, consent_privacy=True, consent_slack_mention=False, consent_listing=False,
                     answers={}, review_note="", locale="ja", created_at=now, updated_at=now, confirmed_at=now)
                for i, code in enumerate(codes)]
        for i in range(0, len(rows), 1000):
            db.session.execute(insert(Registration), rows[i:i + 1000])
        db.session.commit()
        slug = event.slug
    serving.settle(url)
    return slug, token, codes


# ---------------------------------------------------------------- load
def result_of(status: int, body: bytes) -> str:
    """A scan's answer: the API's result code, or the HTTP status when there is none."""
    if status != 200:
        return str(status) if status else "error"
    try:
        return json.loads(body).get("result", "200")
    except ValueError:
        return "error"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--client", choices=("select", "threads"), default="select",
                        help="the load generator (bench/serving.py: drive); threads = the one until stop 22")
    parser.add_argument("--pg", default=os.environ.get("EVENTSVC_TEST_POSTGRES_URL",
                                                      "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    if args.client == "threads":
        # the client's threads wait for answers: let one whose answer came take the interpreter at
        # once, or its timing includes up to 5 ms of waiting for other client threads
        sys.setswitchinterval(0.0005)
    levels = [int(x) for x in args.levels.split(",")]
    warm = 20
    if (args.requests + warm) * len(levels) > args.tickets:  # the ceilings reuse the same codes as payload
        parser.error("--tickets must cover (--requests + 20 warm-up scans) × levels: every scan uses a new ticket")
    print(f"# check-in bench: {args.tickets} tickets, {args.requests} scans per level, "
          f"{args.processes} waitress processes × {args.threads} threads, {os.cpu_count()} CPUs")
    print("# ceiling = a bare Flask app doing one INSERT; app-write = one INSERT through the eventsvc app "
          "(its middleware, no auth)")
    print(f"{'backend':10} {'c':>3} {'check-in/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'rest':>6} {'ceiling/s':>9} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} {'app-write/s':>11} {'p99 ms':>7} {'ratio':>6}  answers")
    cpu_table = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="eventsvc-bench-") as tmp:
            url, drop = prepare(backend, args.pg, tmp)
            try:
                slug, token, codes = seed(url, args.tickets)
                auth = {"Authorization": f"Bearer {token}"}
                results = {}
                for kind in ("bare", "appwrite", "app"):
                    procs, ports = serving.start_servers(__file__, kind, url, args.processes, args.threads)
                    try:
                        offset = 0
                        for c in levels:
                            batch = codes[offset:offset + warm + args.requests]
                            offset += warm + args.requests
                            if kind == "bare":
                                path, hdrs = "/write", {}
                            elif kind == "appwrite":
                                path, hdrs = "/api/bench/write", {}
                            else:
                                path, hdrs = f"/api/v1/events/{slug}/checkins", auth
                            # what the desk page sends: the code, its device, a nonce per scan, the method
                            bodies = [{"code": code, "device_id": f"bench-{c}", "nonce": secrets.token_hex(16),
                                       "method": "camera"} for code in batch]
                            serving.drive(ports[0], path, bodies[:warm], min(c, warm), hdrs, result_of, args.client)  # connections, pools, imports
                            since = serving.cpu_used([p.pid for p in procs], backend)
                            results[(kind, c)] = serving.drive(ports[0], path, bodies[warm:], c, hdrs, result_of, args.client)
                            server_ms, db_ms = since()
                            n = results[(kind, c)]["n"]
                            results[(kind, c)].update(cpu=server_ms / n, db_cpu=db_ms / n)
                    finally:
                        serving.stop_servers(procs)
                for c in levels:
                    a, b, w = results[("app", c)], results[("bare", c)], results[("appwrite", c)]
                    answers = ", ".join(f"{k}={v}" for k, v in sorted(a["answers"].items()))
                    print(f"{backend:10} {c:>3} {a['rps']:>10.0f} {a['p50']:>7.1f} {a['p99']:>7.1f} {a['p99_rest']:>6.1f} "
                          f"{b['rps']:>9.0f} {b['p50']:>7.1f} {b['p99']:>7.1f} {a['rps'] / b['rps']:>6.0%} "
                          f"{w['rps']:>11.0f} {w['p99']:>7.1f} {a['rps'] / w['rps']:>6.0%}  {answers}")
                    cpu_table.append((backend, c, a, b, w))
            finally:
                drop()
    print("\n# CPU per request (ms): the servers' processes, and the PostgreSQL server's; ratio = ceiling's total / "
          "check-in's total (the throughput ratio if the machine did nothing else)")
    print(f"{'backend':10} {'c':>3} {'check-in':>9} {'db':>6} {'ceiling':>8} {'db':>6} {'ratio':>6} "
          f"{'app-write':>9} {'db':>6} {'ratio':>6}")
    for backend, c, a, b, w in cpu_table:
        total = a["cpu"] + a["db_cpu"]
        print(f"{backend:10} {c:>3} {a['cpu']:>9.2f} {a['db_cpu']:>6.2f} {b['cpu']:>8.2f} {b['db_cpu']:>6.2f} "
              f"{(b['cpu'] + b['db_cpu']) / total:>6.0%} {w['cpu']:>9.2f} {w['db_cpu']:>6.2f} "
              f"{(w['cpu'] + w['db_cpu']) / total:>6.0%}")



if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    else:
        main()
