"""Fixtures shared by every test: apps on SQLite and PostgreSQL, clients, factories, a browser.

- ``app`` runs each integration test twice, on SQLite and on PostgreSQL. PostgreSQL comes
  from ``EVENTSVC_TEST_POSTGRES_URL`` (any database on the server; a fresh
  ``eventsvc_test_<random>`` is created for the run and dropped after); without it,
  ``postgresql://postgres@127.0.0.1:5432/postgres`` is tried and the PostgreSQL runs are
  skipped (with the reason) when nothing answers. In CI the variable is set, so a
  missing server fails instead of skipping.
- Each backend is migrated once per run with ``flask db upgrade`` (which tests the
  migrations); tables are emptied after each test.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import secrets
import tempfile

import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

_instance = tempfile.mkdtemp(prefix="eventsvc-test-instance-")
os.environ["EVENTSVC_INSTANCE_PATH"] = _instance
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)
for _var in [k for k in os.environ if k.startswith("EVENTSVC_") and k not in (
        "EVENTSVC_INSTANCE_PATH", "EVENTSVC_TEST_POSTGRES_URL", "EVENTSVC_REQUIRE_BROWSER",
        "EVENTSVC_REQUIRE_POSTGRES")]:
    os.environ.pop(_var, None)

from eventsvc import create_app, database  # noqa: E402
from eventsvc.config import normalize_database_url  # noqa: E402
from eventsvc.extensions import db  # noqa: E402

pytest_plugins = ["tests.fakeslack.fixtures", "tests.browser_fixtures"]

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
KEEP_TABLES = {"organizations", "alembic_version"}


def test_config(url: str, **extra) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "test-secret-" + secrets.token_hex(8),
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "OUTBOX_WORKER": False,
        "SERVER_NAME": None,
        **extra,
    }


# ---------------------------------------------------------------- PostgreSQL
def _pg_server_url() -> tuple[str | None, str]:
    url = os.environ.get("EVENTSVC_TEST_POSTGRES_URL")
    required = bool(url) or os.environ.get("EVENTSVC_REQUIRE_POSTGRES") == "1"
    url = normalize_database_url(url or DEFAULT_PG)
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return url, ""
    except Exception as err:  # noqa: BLE001 - any failure means "no server here"
        if required:
            pytest.fail(f"PostgreSQL required but not reachable at {url}: {err}")
        return None, f"PostgreSQL not reachable at {url} (set EVENTSVC_TEST_POSTGRES_URL): {type(err).__name__}"


@pytest.fixture(scope="session")
def postgres_database():
    """A fresh PostgreSQL database for this test run; its URL. Dropped afterwards."""
    server, reason = _pg_server_url()
    if server is None:
        pytest.skip(reason)
    name = f"eventsvc_test_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory):
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "eventsvc.db")


class IsolatedClient(FlaskClient):
    """A test client whose requests run in their own app context, as in production.

    Tests keep an app context pushed (for factories and queries); Flask would reuse it
    for requests, leaking ``g`` (the logged-in user) and the session between requests.
    Afterwards the test's own session is expired so it sees what the request committed.
    """

    def open(self, *args, **kwargs):
        outer = _cv_app.get(None) is not None
        if outer:
            db.session.commit()  # what the test set up is visible, and no lock is held
        response = contextvars.copy_context().run(self._open_fresh, *args, **kwargs)
        if outer:
            db.session.commit()  # end the test's snapshot; objects reload what the request wrote
        return response

    def _open_fresh(self, *args, **kwargs):
        _cv_app.set(None)
        return super().open(*args, **kwargs)


def _migrated_app(url: str, **extra):
    from flask_migrate import upgrade

    app = create_app(test_config(url, **extra))
    app.test_client_class = IsolatedClient
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(scope="session")
def sqlite_app(sqlite_database):
    return _migrated_app(sqlite_database)


@pytest.fixture(scope="session")
def postgres_app(postgres_database):
    return _migrated_app(postgres_database)


def _empty_tables(app) -> None:
    with app.app_context():
        db.session.remove()
        tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for t in tables:
                    conn.execute(t.delete())
        db.session.remove()


@pytest.fixture(params=["sqlite", "postgres"])
def app(request):
    """The app on each backend, with empty tables; an app context is pushed."""
    the_app = request.getfixturevalue(f"{request.param}_app")
    ctx = the_app.app_context()
    ctx.push()
    # the test's own reads must not hold SQLite's write lock while requests run
    intent = database.set_write_intent(False)
    try:
        yield the_app
    finally:
        db.session.remove()
        database.reset_write_intent(intent)
        ctx.pop()
        _empty_tables(the_app)


#: the shared limiter's state that an app with limits on replaces or changes (Flask-Limiter's
#: in-memory fallback included: a test that breaks the storage leaves it "dead")
_LIMITER_STATE = ("enabled", "_storage", "_limiter", "_storage_dead", "_fallback_limiter", "_fallback_storage")


@contextlib.contextmanager
def _rate_limited_app(url: str, folder, client_class=None):
    from eventsvc.core.ratelimit_storage import storage_uri
    from eventsvc.extensions import limiter

    saved = {name: getattr(limiter, name, None) for name in _LIMITER_STATE}
    limiter._storage_dead = False  # a storage an earlier test broke is not this test's
    app = create_app(test_config(url, RATELIMIT_ENABLED=True,
                                 RATELIMIT_STORAGE_URI=storage_uri(str(folder / "ratelimits.sqlite"))))
    if client_class is not None:
        app.test_client_class = client_class
    ctx = app.app_context()
    ctx.push()
    try:
        yield app
    finally:
        db.session.remove()
        ctx.pop()
        _empty_tables(app)
        with app.app_context():
            db.engine.dispose()
        for name, value in saved.items():
            setattr(limiter, name, value)


@pytest.fixture
def limited(sqlite_app, sqlite_database, tmp_path):
    """An app with rate limits on (the shared test apps have them off), on SQLite, its context
    pushed; the limiter's global state is put back after. Its counters are in a file of this
    test's own (the default storage, in a folder the run's other tests do not share)."""
    with _rate_limited_app(sqlite_database, tmp_path) as app:
        yield app


@pytest.fixture(params=["sqlite", "postgres"])
def limited_app(request, tmp_path):
    """As ``limited``, on SQLite and on PostgreSQL (the counters are in a SQLite file either way),
    with the ``app`` fixture's client (each request in an app context of its own)."""
    request.getfixturevalue(f"{request.param}_app")  # the database, migrated
    url = request.getfixturevalue(f"{request.param}_database")
    with _rate_limited_app(url, tmp_path, IsolatedClient) as app:
        intent = database.set_write_intent(False)  # as in ``app``: the test's reads take no write lock
        try:
            yield app
        finally:
            database.reset_write_intent(intent)


@pytest.fixture
def backend(app) -> str:
    return db.engine.dialect.name


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# ---------------------------------------------------------------- factories and helpers
@pytest.fixture
def make(app):
    """Factories (see tests/factories.py), bound to the current app."""
    from tests import factories

    return factories


@pytest.fixture
def organizer(make):
    return make.organizer()


@pytest.fixture
def login(client):
    """``login(organizer)`` logs the test client in through the real login form."""

    def do_login(organizer, password=None):
        from tests.factories import PASSWORD

        response = client.post("/login", data={"email": organizer.email, "password": password or PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    return do_login


@pytest.fixture
def api(client):
    """``api(method, path, token=None, json=...)`` against /api/v1."""

    def call(method: str, path: str, token: str | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return client.open("/api/v1" + path, method=method.upper(), headers=headers, **kwargs)

    return call


@pytest.fixture
def token(make, organizer):
    return make.token(organizer)
