"""The foundation a new user meets first: migrations, the command line, `eventsvc serve`."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from sqlalchemy import create_engine, inspect, text

from eventsvc import create_app
from eventsvc.extensions import db


def _upgrade_downgrade(url: str) -> None:
    from flask_migrate import downgrade, upgrade

    # rate limits off: Flask-Limiter keeps one global state, shared with the other test apps
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True, "RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"events", "ticket_types", "agenda_items", "organizers", "api_tokens", "organizations",
                "registrations", "deliveries"} <= tables
        assert db.session.execute(text("select count(*) from organizations")).scalar() == 1825
        db.session.remove()
        # the models and the migrations agree (nothing left for autogenerate)
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), db.metadata)
        assert diff == [], diff
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


def test_migrations_on_an_empty_sqlite_database(tmp_path):
    _upgrade_downgrade(f"sqlite:///{tmp_path / 'empty.db'}")


def _fill(conn, table: str, **values) -> None:
    """A row of ``table`` as an old schema has it: every NOT NULL column gets a plain value."""
    row = {}
    for _cid, name, kind, notnull, _default, pk in conn.execute(text(f"PRAGMA table_info({table})")):
        if name in values:
            row[name] = values[name]
        elif notnull and not pk:
            row[name] = ("2026-01-01 00:00:00.000000" if name.endswith("_at") else "[]" if kind == "JSON"
                         else 0 if kind in ("INTEGER", "BOOLEAN") else "x")
    conn.execute(text(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row)


def test_upgrading_a_used_sqlite_database_keeps_the_rows_that_point_at_a_copied_table(tmp_path):
    """SQLite changes a table by copying it; with foreign keys on, dropping the old copy would
    delete (ON DELETE CASCADE) every row pointing at it — the auth migration that copies
    ``organizers`` took every event's organizers with it. Foreign keys are off for the run."""
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'used.db'}", "SECRET_KEY": "x",
                      "TESTING": True, "RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade(revision="09ba261e2c13")  # before the migration that copies organizers
        with db.engine.begin() as conn:
            _fill(conn, "organizers", id=1, email="a@city.example.lg.jp", is_active_account=1)
            _fill(conn, "events", id=1, slug="kept", status="published")
            conn.execute(text("INSERT INTO event_organizers (event_id, organizer_id) VALUES (1, 1)"))
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM event_organizers")).scalar() == 1
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1  # on again for the app
        db.engine.dispose()


def test_upgrading_finishes_erasures_made_before_their_leftovers_were_found(tmp_path):
    """People erased before 7c3e5b2a9d41 kept the record that they answered a survey and the
    organizer who admitted them; the migration removes both, and leaves everyone else's."""
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'erased.db'}", "SECRET_KEY": "x",
                      "TESTING": True, "RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade(revision="5e1c0a7d9b21")
        with db.engine.begin() as conn:
            _fill(conn, "organizers", id=1, email="a@city.example.lg.jp", is_active_account=1)
            _fill(conn, "events", id=1, slug="done", status="closed")
            _fill(conn, "ticket_types", id=1, event_id=1)
            for rid, erased in ((1, "2026-11-01 00:00:00.000000"), (2, None)):
                _fill(conn, "registrations", id=rid, event_id=1, ticket_type_id=1, email=f"p{rid}@x.lg.jp",
                      ticket_code=f"code{rid}", attendee_token_hash=f"hash{rid}", erased_at=erased)
                _fill(conn, "checkins", id=rid, event_id=1, registration_id=rid, organizer_id=1)
            _fill(conn, "surveys", id=1, event_id=1)
            for rid in (1, 2):
                _fill(conn, "survey_respondents", id=rid, survey_id=1, registration_id=rid)
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT registration_id FROM survey_respondents")).scalars().all() == [2]
            assert conn.execute(text("SELECT registration_id, organizer_id FROM checkins ORDER BY id")).all() == [
                (1, None), (2, 1)]
        db.engine.dispose()


def test_migrations_on_an_empty_postgresql_database(request):
    import secrets

    from tests.conftest import _pg_server_url

    server, reason = _pg_server_url()
    if server is None:
        pytest.skip(reason)
    name = f"eventsvc_mig_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _upgrade_downgrade(server.rsplit("/", 1)[0] + "/" + name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_organizer_and_token_commands(app, runner, api):
    r = runner.invoke(args=["organizer", "create", "--email", "Hanako@Digital.GO.JP", "--name", "山田 花子",
                            "--password", "a-long-password"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["organizer", "create", "--email", "hanako@digital.go.jp", "--name", "x",
                            "--password", "a-long-password"])
    assert r.exit_code == 1 and "organizer_exists" in r.output
    r = runner.invoke(args=["organizer", "create", "--email", "x@y.lg.jp", "--name", "x", "--password", "short"])
    assert r.exit_code == 1 and "password" in r.output
    r = runner.invoke(args=["token", "create", "--email", "hanako@digital.go.jp"])
    assert r.exit_code == 0, r.output
    token = r.output.strip().splitlines()[-1]
    assert api("get", "/events", token).status_code == 200
    assert api("post", "/events", token, json={}).status_code == 422  # authenticated, body invalid
    r = runner.invoke(args=["token", "create", "--email", "nobody@example.lg.jp"])
    assert r.exit_code == 1


def test_demo_seeds_naha_and_kurume_and_prints_a_working_login(app, runner, client):
    r = runner.invoke(args=["demo"])
    assert r.exit_code == 0, r.output
    password = next(line.split(":", 1)[1].strip() for line in r.output.splitlines() if "password:" in line)
    email = next(line.split(":", 1)[1].strip() for line in r.output.splitlines() if "email:" in line)
    html = client.get("/events/naha-study-session").get_data(as_text=True)
    for title in ("デジタル改革共創プラットフォームの使い方", "はじめての自己紹介投稿", "窓口BPR",
                  "住民目線でウェブサイトを見るワークショップ", "アナログ規制の見直し"):
        assert title in html
    assert "書かないワンストップ窓口" in client.get("/events/kurume-kakanai-madoguchi").get_data(as_text=True)
    r = client.post("/login", data={"email": email, "password": password})
    assert r.status_code == 302 and r.headers["Location"].endswith("/manage")  # straight in, no 2FA step
    assert "naha-study-session" in client.get("/manage").get_data(as_text=True)
    assert runner.invoke(args=["demo"]).exit_code == 0  # idempotent


def test_commands_work_on_a_fresh_instance_before_the_first_serve(tmp_path):
    """A new install: `organizer create` and `token create` first (they migrate the database),
    quietly once it is up to date."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTSVC_")}
    env["EVENTSVC_INSTANCE_PATH"] = str(tmp_path / "instance")
    exe = os.path.join(os.path.dirname(sys.executable), "eventsvc")

    def run(*args):
        return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=120)

    first = run("organizer", "create", "--email", "you@city.example.lg.jp", "--name", "山田 花子",
                "--password", "a-long-password")
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr and "created organizer" in first.stdout
    token = run("token", "create", "--email", "you@city.example.lg.jp")
    assert token.returncode == 0 and token.stdout.strip().splitlines()[-1].startswith("evt_")
    assert "alembic" not in token.stderr  # nothing to migrate: nothing said
    assert run("purge", "--dry-run").returncode == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("processes", ["1", "2"])
def test_serve_on_a_port_in_use_says_so_and_does_nothing(tmp_path, processes):
    """Something else listens on the port: one sentence, exit code 1, no traceback, and nothing
    done before (the instance's database is neither migrated nor seeded with the demo)."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTSVC_")}
    env["EVENTSVC_INSTANCE_PATH"] = str(tmp_path / "instance")
    exe = os.path.join(os.path.dirname(sys.executable), "eventsvc")
    try:
        done = subprocess.run([exe, "serve", "--port", str(port), "--demo", "--processes", processes], env=env,
                              capture_output=True, text=True, timeout=60)
    finally:
        taken.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "password:" not in done.stdout  # no demo organizer made
    assert not (tmp_path / "instance" / "eventsvc.db").exists()


@contextlib.contextmanager
def _serving(tmp_path, *args: str, env: dict | None = None):
    """``eventsvc serve --port <free> *args`` on a new instance folder, with none of this machine's
    EVENTSVC_ settings; yields (port, proc) once it answers, and its output (stdout and stderr) in
    ``proc.out`` after it is stopped."""
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EVENTSVC_")},
           "EVENTSVC_INSTANCE_PATH": str(tmp_path / "instance"), **(env or {})}
    exe = os.path.join(os.path.dirname(sys.executable), "eventsvc")
    proc = subprocess.Popen([exe, "serve", "--port", str(port), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("serve exited: " + proc.stdout.read())
                if time.time() > deadline:
                    pytest.fail("serve does not answer")
                time.sleep(0.3)
        yield port, proc
    finally:
        proc.terminate()
        proc.out = proc.communicate(timeout=20)[0]


def test_serve_migrates_a_fresh_instance_and_answers(tmp_path):
    """`eventsvc serve` on a new instance folder: secret key made, database migrated, pages served."""
    with _serving(tmp_path, "--demo") as (port, proc):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/events/naha-study-session", timeout=5) as r:
            body = r.read().decode()
        assert "那覇" in body
        assert (tmp_path / "instance" / "secret_key").exists()
        assert (tmp_path / "instance" / "eventsvc.db").exists()
        assert oct((tmp_path / "instance" / "secret_key").stat().st_mode)[-3:] == "600"
    out = proc.out
    assert "password:" in out and f"http://127.0.0.1:{port}/" in out
    # the demo's addresses are the ones being served
    assert f"http://127.0.0.1:{port}/login" in out and f"http://127.0.0.1:{port}/events/naha-study-session" in out
    assert ":8000" not in out


class _Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def test_links_in_mails_open_the_server_that_sent_them(tmp_path):
    """With no EVENTSVC_BASE_URL, the worker of `eventsvc serve` writes mails outside any request:
    their links (the attendee's own page, the event, the calendar file's) go to the address being
    served, on whatever port, not to a default one where nothing answers."""
    from aiosmtpd.controller import Controller

    inbox, smtp_port = _Mailbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        with _serving(tmp_path, "--demo", env={"EVENTSVC_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}"}) as (port, _proc):
            base = f"http://127.0.0.1:{port}"
            request = urllib.request.Request(
                f"{base}/api/v1/events/naha-study-session/registrations", method="POST",
                headers={"Content-Type": "application/json"},
                data=json.dumps({"name": "比嘉 太郎", "name_kana": "ヒガ タロウ", "email": "higa@city.naha.lg.jp",
                                 "organization_code": "472018", "consent_privacy": True}).encode())
            with urllib.request.urlopen(request, timeout=10) as r:
                manage_url = json.load(r)["manage_url"]
            deadline = time.time() + 30
            while not any(m["To"] == "higa@city.naha.lg.jp" for m in inbox.messages) and time.time() < deadline:
                time.sleep(0.2)
        mail = next(m for m in inbox.messages if m["To"] == "higa@city.naha.lg.jp")
    finally:
        controller.stop()
    text_part = mail.get_body(("plain",)).get_content()
    ics = next(p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar").get_content()
    ics = ics.decode() if isinstance(ics, bytes) else ics
    assert manage_url.startswith(f"{base}/my/") and manage_url in text_part
    assert f"{base}/events/naha-study-session" in text_part and f"{base}/events/naha-study-session" in ics
    assert ":8000" not in text_part + ics


def test_serve_for_other_machines_without_base_url_says_where_links_will_point(tmp_path):
    """Served on every address (for the other machines of an office network), the links in mails
    cannot know the address people use: `serve` says so, and how to set it."""
    with _serving(tmp_path, "--host", "0.0.0.0") as (port, proc):
        pass
    assert "EVENTSVC_BASE_URL is not set" in proc.out and f"http://127.0.0.1:{port}/" in proc.out
    with _serving(tmp_path, "--host", "0.0.0.0", env={"EVENTSVC_BASE_URL": "http://10.1.2.3:8000"}) as (port, proc):
        pass
    assert "EVENTSVC_BASE_URL" not in proc.out


def test_first_row_runs_past_sqlalchemy_yet_converts_and_raises_as_it_does(app, make):
    """``database.first_row`` (the hot paths' reads and inserts, straight through the driver):
    values go in and come out as SQLAlchemy would convert them (UTC times, JSON), no row is None,
    a write without RETURNING is None, and a driver's error is SQLAlchemy's (a unique key:
    IntegrityError, which the hot paths retry on) — after which the session goes on."""
    from sqlalchemy import bindparam, exc, select

    from eventsvc import database
    from eventsvc.events.models import event_organizers
    from eventsvc.registration.models import Registration

    event = make.event()
    reg = make.registration(event)
    db.session.commit()
    by_time = select(Registration.id, Registration.created_at, Registration.answers).where(
        Registration.created_at == bindparam("at"), Registration.id == bindparam("rid"))
    row = database.first_row(db.session, by_time, {"at": reg.created_at, "rid": reg.id})
    assert row == (reg.id, reg.created_at, reg.answers) and row[1].tzinfo is not None
    assert database.first_row(db.session, by_time, {"at": reg.created_at, "rid": -1}) is None
    organizer_id = db.session.scalar(select(event_organizers.c.organizer_id).where(
        event_organizers.c.event_id == event.id))
    add = event_organizers.insert()
    with pytest.raises(exc.IntegrityError):
        database.first_row(db.session, add, {"event_id": event.id, "organizer_id": organizer_id})
    db.session.rollback()
    other = make.organizer()
    db.session.flush()
    assert database.first_row(db.session, add, {"event_id": event.id, "organizer_id": other.id}) is None
    db.session.commit()
    assert db.session.scalar(select(event_organizers.c.organizer_id).where(
        event_organizers.c.event_id == event.id, event_organizers.c.organizer_id == other.id)) == other.id
