"""A rate-limit storage that cannot be used (``instance/ratelimits.sqlite`` a directory, not a
database, locked for too long) never stops a registration: requests are answered as usual, what
was saved stays saved, limits are counted in memory by the process meanwhile, and the log says so
once, naming no one.

(Root is not stopped by file modes, so the file is broken in ways that hold for root too.)
"""

from __future__ import annotations

import logging
import os
import sqlite3

import pytest
from sqlalchemy import func, select

from eventsvc.core import ratelimit_storage
from eventsvc.events import service as events
from eventsvc.extensions import db, limiter, rate_limit_storage_problem
from eventsvc.registration.models import Registration
from tests import factories
from tests.integration.test_registration_views import FORM

IP = "10.20.30.40"


def body(email: str) -> dict:
    return {"name": "比嘉 太郎", "name_kana": "ヒガ タロウ", "email": email, "organization_code": "472018"}


def registrations() -> int:
    return db.session.scalar(select(func.count()).select_from(Registration))


@pytest.fixture
def broken(request, limited_app, monkeypatch):
    """``limited_app`` whose counters' file is unusable; how (the parameter) says in which way."""
    path = limiter.storage.path
    how = request.param
    if how == "directory":
        os.makedirs(path)
    elif how == "garbage":
        with open(path, "wb") as f:
            f.write(os.urandom(8192))
    elif how == "locked":  # another writer holds the file for longer than a hit waits
        monkeypatch.setattr(ratelimit_storage, "BUSY_TIMEOUT_MS", 200)
        ratelimit_storage.SQLiteStorage(ratelimit_storage.storage_uri(path)).incr("set up", 60)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        request.addfinalizer(holder.close)
    return limited_app


def forget_when_checked() -> None:
    """Have Flask-Limiter look at the storage again at the next request (it waits 1, 2, 4… s)."""
    limiter._Limiter__last_check_backend = 0


@pytest.mark.parametrize("broken", ["directory", "garbage", "locked"], indirect=True)
def test_registrations_go_on_and_the_process_limits_on_its_own(broken, caplog):
    caplog.set_level(logging.INFO)
    event = factories.event(ticket_types=[events.TicketTypeData("venue", "会場参加", 100)])
    client = broken.test_client()
    api = f"/api/v1/events/{event.slug}/registrations"
    r = client.post(api, json=body("staff0@city.naha.lg.jp"), environ_base={"REMOTE_ADDR": IP})
    assert r.status_code == 201, r.get_data(as_text=True)[:500]
    page = client.post(f"/events/{event.slug}/register", data=FORM, environ_base={"REMOTE_ADDR": IP})
    assert page.status_code == 302 and "/my/" in page.headers["Location"]
    assert registrations() == 2
    # limited all the same, in this process's memory: the same address again and again → 409s, then 429
    codes = []
    for _ in range(6):
        forget_when_checked()  # the storage is looked at again, and found still broken
        codes.append(client.post(api, json=body("staff0@city.naha.lg.jp"), environ_base={"REMOTE_ADDR": IP}).status_code)
    assert codes == [409] * 4 + [429] * 2
    r = client.post(api, json=body("staff1@city.naha.lg.jp"), environ_base={"REMOTE_ADDR": IP})
    assert r.status_code == 201 and registrations() == 3
    # said once (where and why; then that limits are counted in memory), naming no one
    said = [(r.name, r.levelname, r.getMessage()) for r in caplog.records
            if r.name in ("flask-limiter", "eventsvc.core.ratelimit_storage") and "exceeded" not in r.getMessage()]
    assert said == [
        ("eventsvc.core.ratelimit_storage", "WARNING", f"rate-limit counters cannot be kept in {limiter.storage.path} "
                                                       f"({limiter.storage.problem()})"),
        ("flask-limiter", "WARNING", "Rate limit storage unreachable - falling back to in-memory storage"),
    ], said
    assert not [m for m in caplog.messages if IP in m or "city.naha" in m]


@pytest.mark.parametrize("broken", ["directory"], indirect=True)
def test_login_is_answered_and_limited_too(broken):
    client = broken.test_client()
    # a name of its own each time (five failures of one name lock it: a 429 of another kind)
    codes = [client.post("/login", data={"email": f"nobody{i}@city.naha.lg.jp", "password": "wrong password"},
                         environ_base={"REMOTE_ADDR": IP}).status_code for i in range(21)]
    assert codes == [422] * 20 + [429]  # 20 a minute per address


@pytest.mark.parametrize("broken", ["directory"], indirect=True)
def test_the_file_is_used_again_once_it_can_be(broken, caplog):
    caplog.set_level(logging.INFO)
    event = factories.event(ticket_types=[events.TicketTypeData("venue", "会場参加", 100)])
    client = broken.test_client()
    api = f"/api/v1/events/{event.slug}/registrations"
    assert client.post(api, json=body("a@city.naha.lg.jp"), environ_base={"REMOTE_ADDR": IP}).status_code == 201
    assert not os.path.isfile(limiter.storage.path)
    os.rmdir(limiter.storage.path)  # repaired
    forget_when_checked()
    assert client.post(api, json=body("b@city.naha.lg.jp"), environ_base={"REMOTE_ADDR": IP}).status_code == 201
    assert "Rate limit storage recovered" in caplog.messages
    with sqlite3.connect(limiter.storage.path) as conn:  # counted in the file again
        assert conn.execute("SELECT count(*) FROM ratelimits WHERE count > 0").fetchone()[0] >= 2


@pytest.mark.parametrize("broken", ["garbage"], indirect=True)
def test_serve_says_at_start_that_the_file_cannot_be_used(broken):
    """``eventsvc serve`` prints this before it serves (and serves all the same)."""
    assert rate_limit_storage_problem(broken) == (
        f"rate-limit counters cannot be kept in {limiter.storage.path} (SQLITE_NOTADB: file is not a database)")


def test_nothing_is_said_when_the_file_works_or_limits_are_off(limited_app, sqlite_app):
    assert rate_limit_storage_problem(limited_app) is None
    assert os.path.isfile(limiter.storage.path)  # made by the check, as by the first hit
    assert rate_limit_storage_problem(sqlite_app) is None
