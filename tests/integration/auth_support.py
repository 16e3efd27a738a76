"""Helpers for the organizer-account tests: a second factor, session clocks, page text."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import update

from eventsvc import create_app
from eventsvc.auth import service, totp
from eventsvc.auth.models import Organizer
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db, limiter
from tests import conftest
from tests.factories import PASSWORD


def text_of(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def enable_totp(organizer) -> tuple[str, list[str]]:
    """Turn the second factor on through the service; (secret, recovery codes)."""
    secret = service.pending_totp_secret(organizer)
    codes = service.confirm_totp(organizer, totp.code_at(secret, now_utc()), now_utc())
    db.session.commit()
    return secret, codes


def fresh_code(organizer, secret: str) -> str:
    """A code the server will take now (each step is good once, so forget the last one used)."""
    db.session.execute(update(Organizer).where(Organizer.id == organizer.id).values(totp_last_step=None))
    db.session.commit()
    return totp.code_at(secret, now_utc())


def login_with_totp(client, organizer, secret: str, password: str = PASSWORD):
    r = client.post("/login", data={"email": organizer.email, "password": password})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login/verify"), r.status_code
    r = client.post("/login/verify", data={"code": fresh_code(organizer, secret)})
    assert r.status_code == 302, text_of(r)[:500]
    return r


def age_session(client, *, seen: timedelta | None = None, auth: timedelta | None = None) -> None:
    """Pretend the session was last seen / logged in that long ago."""
    now = int(now_utc().timestamp())
    with client.session_transaction() as sess:
        if seen is not None:
            sess["seen"] = now - int(seen.total_seconds())
        if auth is not None:
            sess["auth_at"] = now - int(auth.total_seconds())


@pytest.fixture(name="own_app")
def own_app_fixture(sqlite_app, sqlite_database):
    """``own_app(**config)``: an app on the test SQLite database with extra config (rate limits,
    proxy count, timeouts…). Tables are emptied and the process-global limiter put back after."""
    saved = (limiter.enabled, limiter._storage, limiter._limiter)
    made = []

    def make(**config):
        a = create_app(conftest.test_config(sqlite_database, **config))
        a.test_client_class = conftest.IsolatedClient
        made.append(a)
        return a

    try:
        yield make
    finally:
        conftest._empty_tables(sqlite_app)
        limiter.enabled, limiter._storage, limiter._limiter = saved


#: GET pages not walked: they change the session (language, staff link) or leave for Slack
SKIP_WALK = {"static", "set_language", "checkin.staff_enter", "slack.signin", "slack.oidc_callback"}


def get_urls(app, *, slug: str, reg_id: int, delivery_id: int = 0, token: str = "nothing-here",
             prefix: str = "") -> dict[str, str]:
    """Every GET page of the app (endpoint → URL) with these values filled in."""
    from flask import url_for

    values = {"slug": slug, "reg_id": reg_id, "registration_id": reg_id, "delivery_id": delivery_id,
              "kind": "announcement", "token": token, "code": "nothing-here"}
    urls = {}
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.endpoint in SKIP_WALK or not rule.rule.startswith(prefix):
                continue
            urls[rule.endpoint] = url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})
    return urls
