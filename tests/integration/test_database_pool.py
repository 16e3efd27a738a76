"""PostgreSQL connections from the pool are checked before use when they have been idle
(eventsvc.database.ping_idle_connections), not at every checkout.

A connection returned less than ``PING_AFTER_IDLE`` ago goes back to work without a round
trip; one idle for longer is pinged first, and a dead one (the server restarted, a backend
was terminated) is replaced before the request uses it, so the request is answered.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from eventsvc import create_app, database
from eventsvc.extensions import db
from tests.conftest import test_config as config_for


@pytest.fixture
def pg_app(postgres_app, postgres_database):
    """An app of its own on the (migrated) test database: a pool nobody else uses."""
    app = create_app(config_for(postgres_database))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def pings(pg_app, monkeypatch):
    """The pings the pool sends, counted (the dialect's own ping, wrapped)."""
    with pg_app.app_context():
        dialect = db.engine.dialect
    sent = []
    original = dialect.do_ping

    def counted(dbapi_connection):
        sent.append(time.monotonic())
        return original(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return sent


def _backends(url: str) -> list[int]:
    admin = create_engine(url)
    with admin.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid()")).scalars().all()
    admin.dispose()
    return pids


def _terminate_others(url: str) -> int:
    admin = create_engine(url)
    with admin.connect() as conn:
        n = len(conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all())
    admin.dispose()
    return n


def test_a_connection_used_moments_ago_is_not_pinged(pg_app, pings):
    client = pg_app.test_client()
    for _ in range(5):
        assert client.get("/api/v1/events").status_code == 200
    assert pings == []


def test_a_connection_idle_longer_than_the_window_is_pinged_once(pg_app, pings, monkeypatch):
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.05)
    client = pg_app.test_client()
    assert client.get("/api/v1/events").status_code == 200  # a new connection: not pinged
    assert pings == []
    time.sleep(0.1)
    assert client.get("/api/v1/events").status_code == 200
    assert client.get("/api/v1/events").status_code == 200  # used just now: not pinged again
    assert len(pings) == 1


def test_a_dead_idle_connection_is_replaced_and_the_request_answered(pg_app, postgres_database, monkeypatch):
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.05)
    client = pg_app.test_client()
    assert client.get("/api/v1/events").status_code == 200
    before = set(_backends(postgres_database))
    assert _terminate_others(postgres_database) >= 1  # the pooled connection's server process is gone
    time.sleep(0.1)
    response = client.get("/api/v1/events")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert not before & set(_backends(postgres_database))  # it answered on a new connection


def test_a_connection_lost_in_a_pipelined_batch_does_not_go_back_to_the_pool(pg_app, monkeypatch):
    """The registration's batches bypass SQLAlchemy's own execution (psycopg's pipeline mode):
    a connection that dies in one is still thrown away, so the next request, moments later (no
    ping), gets a live one instead of failing too."""
    from sqlalchemy import func, select

    from eventsvc.registration import service as registration
    from tests import factories as make

    with pg_app.app_context():
        slug = make.event().slug
        db.session.remove()
    client = pg_app.test_client()
    body = {"name": "比嘉 太郎", "name_kana": "ひが たろう", "organization_code": "472018", "ticket_type": "venue",
            "consent_privacy": True}
    path = f"/api/v1/events/{slug}/registrations"
    assert client.post(path, json={**body, "email": "first@city.naha.lg.jp"}).status_code == 201
    # the server ends this connection's backend in the middle of the lock's batch
    monkeypatch.setattr(registration, "_new_id_statement", lambda: select(func.pg_terminate_backend(func.pg_backend_pid())))
    lost = client.post(path, json={**body, "email": "lost@city.naha.lg.jp"})
    assert lost.status_code >= 500 and "Traceback" not in lost.get_data(as_text=True)
    monkeypatch.undo()
    again = client.post(path, json={**body, "email": "again@city.naha.lg.jp"})
    assert again.status_code == 201, again.get_data(as_text=True)[:300]


def test_a_transactions_begin_goes_with_its_first_statement_and_errors_stay_as_they_were(pg_app):
    """psycopg would send BEGIN on its own round trip; the app's connections send it with the
    transaction's first statement (database._begin_with_first_statement). A failing first or
    later statement is raised as SQLAlchemy raises it, and the session goes on after a rollback."""
    from sqlalchemy import exc

    from .trace_support import round_trips_of

    with pg_app.test_request_context():
        class Answered:
            status_code = 200

        def two_statements():
            db.session.execute(text("SELECT 1")).all()
            db.session.execute(text("SELECT 2")).all()
            db.session.commit()
            return Answered()

        db.session.execute(text("SELECT 0")).all()  # a connection used just now: not pinged below
        db.session.commit()
        trips = round_trips_of(two_statements)
        assert trips == [["BEGIN", "SELECT 1"], ["SELECT 2"], ["COMMIT"]], trips
        for before in ([], ["SELECT 1"]):
            for sql in before:
                db.session.execute(text(sql)).all()
            with pytest.raises(exc.DataError):
                db.session.execute(text("SELECT 1/0")).all()
            db.session.rollback()
            assert db.session.execute(text("SELECT 3")).scalar() == 3
            db.session.commit()
        raw = db.session.connection().connection.driver_connection
        assert type(raw).__name__ == "Connection" and type(raw) is not __import__("psycopg").Connection
        db.session.rollback()
        # an autocommit connection (CREATE DATABASE, VACUUM) sends no BEGIN at all
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            assert conn.execute(text("SELECT 4")).scalar() == 4
            assert conn.connection.driver_connection.info.transaction_status == 0  # idle: no transaction
