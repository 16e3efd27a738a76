"""No personal data or tokens in the logs.

Distinctive canaries (an e-mail address, a name and its reading, a password, the ticket code,
the attendee token, an API token, a staff link) go through registration (form and API),
the attendee's page and calls, organizer login (failed and successful, with the second
factor), API calls, check-in, the outbox worker's failing mail, and error paths that are
not 500s. Everything logged at DEBUG (every logger that reaches the root handlers), and the
access logs of the servers the app runs under, must contain none of them.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest

from eventsvc.auth import service as auth_service
from eventsvc.checkin import service as checkin_service
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.outbox import worker
from eventsvc.registration import service as reg_service
from tests.integration.auth_support import enable_totp, fresh_code

EMAIL = "zq.canary.kanariya@city.naha.lg.jp"
NAME = "金糸雀 鳥籠"
KANA = "カナリア トリカゴ"
DEPARTMENT = "カナリア試験課"
ORG_EMAIL = "zq.canary.organizer@digital.go.jp"
PASSWORD = "Plover-Passw0rd-Xyzzy"


@pytest.fixture
def all_logs(caplog):
    """Every record at DEBUG, from every logger whose records reach the root handlers."""
    caplog.set_level(logging.DEBUG)
    return caplog


def leaked(caplog, canaries: dict[str, str]) -> dict[str, list[str]]:
    text = [r.getMessage() + "\n" + (caplog.handler.formatter or logging.Formatter()).formatException(r.exc_info)
            if r.exc_info else r.getMessage() for r in caplog.records]
    out = {}
    for label, value in canaries.items():
        hits = [line[:300] for line in text if value and value.lower() in line.lower()]
        if hits:
            out[label] = hits
    return out


def test_no_canary_reaches_the_logs(app, client, api, make, all_logs):
    organizer = auth_service.create_organizer(ORG_EMAIL, "主催 カナリア", PASSWORD)
    db.session.commit()
    secret, recovery = enable_totp(organizer)
    api_token = make.token(organizer)
    event = make.event(organizer)
    canaries = {"email": EMAIL, "name": NAME, "kana": KANA, "department": DEPARTMENT, "organizer email": ORG_EMAIL,
                "password": PASSWORD, "api token": api_token, "totp secret": secret, "recovery code": recovery[0]}

    # registration through the API, then its token and ticket
    r = api("post", f"/events/{event.slug}/registrations", json={
        "name": NAME, "name_kana": KANA, "email": EMAIL, "organization_code": "472018", "department": DEPARTMENT,
        "consent_privacy": True})
    assert r.status_code == 201, r.json
    attendee_token, ticket_code = r.json["attendee_token"], r.json["ticket_code"]
    canaries |= {"attendee token": attendee_token, "ticket code": ticket_code}
    reg_id = r.json["id"]
    link = urllib.parse.urlsplit(r.json["manage_url"]).path
    canaries["attendee link"] = link.rsplit("/", 1)[-1]
    # error paths, none a 500: the same address again, bad fields, a wrong token, a foreign registration
    assert api("post", f"/events/{event.slug}/registrations", json={
        "name": NAME, "name_kana": KANA, "email": EMAIL.upper(), "consent_privacy": True}).status_code == 409
    assert api("post", f"/events/{event.slug}/registrations", json={
        "name": NAME, "name_kana": KANA, "email": "not-an-address " + EMAIL, "consent_privacy": True}).status_code == 422
    assert api("get", f"/registrations/{reg_id}", attendee_token + "x").status_code == 401
    assert api("get", "/events", "evt_" + PASSWORD).status_code == 401
    # the registration form too, with a validation error first
    form = {"name": NAME, "name_kana": KANA, "email": "zq.second.canary@city.naha.lg.jp", "department": DEPARTMENT,
            "organization_code": "472018", "consent_privacy": "y", "consent_rules": "y"}
    assert client.post(f"/events/{event.slug}/register", data={**form, "consent_privacy": ""}).status_code == 422
    assert client.post(f"/events/{event.slug}/register", data=form).status_code in (200, 302)
    canaries["second email"] = "zq.second.canary@city.naha.lg.jp"
    # the attendee's own page and calls
    assert client.get(link).status_code == 200
    assert api("get", f"/registrations/{reg_id}", attendee_token).status_code == 200
    # organizer: a failed login, then password + second factor, then pages with the data
    assert client.post("/login", data={"email": ORG_EMAIL, "password": PASSWORD + "!"}).status_code == 422
    assert client.post("/login", data={"email": EMAIL, "password": PASSWORD}).status_code == 422
    assert client.post("/login", data={"email": ORG_EMAIL, "password": PASSWORD}).status_code == 302
    assert client.post("/login/verify", data={"code": recovery[1] + "0"}).status_code == 422
    assert client.post("/login/verify", data={"code": fresh_code(organizer, secret)}).status_code == 302
    for url in (f"/manage/events/{event.slug}/registrations", f"/manage/registrations/{reg_id}",
                f"/manage/events/{event.slug}/registrations.csv", f"/events/{event.slug}/checkin/?q=カナリア",
                "/account/tokens"):
        assert client.get(url).status_code == 200, url
    r = client.post("/account/tokens", data={"name": "カナリア用"})
    assert r.status_code == 302
    shown = client.get(r.headers["Location"])
    assert shown.status_code == 200
    canaries["token made on the page"] = re.search(r'id="new-token"[^>]*value="([^"]+)"', shown.get_data(as_text=True))[1]
    # API calls with the organizer's token: lists, check-in by ticket code, a bad body
    assert api("get", f"/events/{event.slug}/registrations", api_token).status_code == 200
    r = api("post", f"/events/{event.slug}/checkins", api_token, json={"code": ticket_code})
    assert r.status_code == 200 and r.json["result"] == "checked_in"
    assert api("post", f"/events/{event.slug}/checkins", api_token, json={"code": ticket_code}).json["result"] == "already_checked_in"
    assert api("patch", f"/events/{event.slug}", api_token, json={"title": 5}).status_code == 422
    # a staff link, used
    _link, staff_token = checkin_service.create_staff_link(event, "カナリア受付", expires_at=now_utc() + timedelta(hours=2),
                                                           created_by=organizer, now=now_utc())
    db.session.commit()
    canaries["staff token"] = staff_token
    assert app.test_client().get(f"/staff/{staff_token}").status_code == 302
    # the mail goes out (and fails: nothing listens on that port), logged by the worker if at all
    app.config["SMTP_URL"] = "smtp://127.0.0.1:9?timeout=1"
    try:
        worker.run_once()
    finally:
        app.config.pop("SMTP_URL", None)
    # logout; the attendee cancels
    client.post("/logout")
    assert api("post", f"/registrations/{reg_id}/cancel", attendee_token).status_code == 200

    assert leaked(all_logs, canaries) == {}


def test_the_canary_check_itself_catches_a_leak(all_logs):
    logging.getLogger("eventsvc.test").debug("registered %s", EMAIL)
    assert leaked(all_logs, {"email": EMAIL}) == {"email": [f"registered {EMAIL}"]}


def test_a_database_error_in_the_log_carries_no_values(app, make, all_logs):
    """A 500 logs its traceback; an IntegrityError's text would list the row's values
    unless the engine hides parameters (the default config does)."""
    from sqlalchemy.exc import IntegrityError

    from eventsvc.auth.models import Organizer

    make.organizer(email=ORG_EMAIL)
    db.session.add(Organizer(email=ORG_EMAIL, name=NAME, password_hash="x"))
    with pytest.raises(IntegrityError) as caught:
        db.session.flush()
    db.session.rollback()
    logging.getLogger("eventsvc.errors").error("unhandled error", exc_info=caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)
    assert leaked(all_logs, {"email": ORG_EMAIL, "name": NAME}) == {}


def test_sql_statements_rows_and_parameters_stay_out_of_debug_logs(app, make, all_logs):
    make.registration(make.event(), name=NAME, name_kana=KANA, email=EMAIL)
    from eventsvc.registration.models import Registration

    assert db.session.scalar(db.select(Registration.email).where(Registration.email == EMAIL)) == EMAIL
    assert leaked(all_logs, {"email": EMAIL, "name": NAME}) == {}


# ------------------------------------------------------------------ real servers' access logs
def _get(url, **kw):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, **kw), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def seeded(sqlite_app):
    """A registration, a staff link and an API token in the SQLite test database; their secrets."""
    from eventsvc import database
    from tests import conftest, factories

    ctx = sqlite_app.app_context()
    ctx.push()
    intent = database.set_write_intent(False)  # the test's reads must not hold SQLite's write lock
    try:
        organizer = factories.organizer()
        event = factories.event(organizer)
        reg = factories.registration(event, email=EMAIL, name=NAME, name_kana=KANA)
        _link, staff_token = checkin_service.create_staff_link(event, "受付", expires_at=now_utc() + timedelta(hours=2),
                                                               created_by=organizer, now=now_utc())
        seed = {"slug": event.slug, "reg_id": reg.id, "link token": reg_service.link_token(reg),
                "staff token": staff_token, "attendee token": reg.attendee_token,
                "api token": factories.token(organizer), "ticket code": reg.ticket_code}
        db.session.commit()
        yield seed
    finally:
        db.session.remove()
        database.reset_write_intent(intent)
        ctx.pop()
        conftest._empty_tables(sqlite_app)


def _visit(base: str, seed: dict) -> None:
    assert _get(f"{base}/my/{seed['link token']}") == 200
    assert _get(f"{base}/my/{seed['link token']}/ticket.png") == 200
    assert _get(f"{base}/staff/{seed['staff token']}") in (200, 302)
    assert _get(f"{base}/api/v1/registrations/{seed['reg_id']}",
                headers={"Authorization": f"Bearer {seed['attendee token']}"}) == 200
    assert _get(f"{base}/api/v1/events", headers={"Authorization": f"Bearer {seed['api token']}"}) == 200
    assert _get(f"{base}/events/{seed['slug']}/survey/r/{seed['attendee token']}") in (302, 404, 410)
    assert _get(f"{base}/s/{seed['ticket code']}") in (302, 404)
    assert _get(f"{base}/events/{seed['slug']}/checkin/?q={urllib.parse.quote(KANA)}") in (200, 302)
    assert _get(f"{base}/login", data=urllib.parse.urlencode({"email": EMAIL, "password": PASSWORD}).encode()) in (400, 422)  # 400: CSRF on


def _canaries(seed: dict) -> dict[str, str]:
    return {**{k: v for k, v in seed.items() if k not in ("slug", "reg_id")}, "email": EMAIL, "name": NAME,
            "kana": KANA, "kana (quoted)": urllib.parse.quote(KANA), "password": PASSWORD}


def test_werkzeug_access_log_masks_tokens_and_queries(sqlite_app, seeded, all_logs):
    """``flask run`` and the browser tests run werkzeug, whose access log prints each request line."""
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, sqlite_app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        _visit(f"http://127.0.0.1:{srv.server_port}", seeded)
    finally:
        srv.shutdown()
        thread.join(5)
    lines = [r.getMessage() for r in all_logs.records if r.name == "werkzeug"]
    assert any('"GET /my/… HTTP/1.1" 200' in line for line in lines), lines
    assert any("/checkin/?… HTTP/1.1" in line for line in lines), lines
    assert leaked(all_logs, _canaries(seeded)) == {}


def test_eventsvc_serve_at_debug_logs_no_canary(sqlite_app, sqlite_database, seeded, tmp_path):
    """What ``eventsvc serve`` (waitress) prints with EVENTSVC_LOG_LEVEL=DEBUG."""
    import os
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTSVC_")}
    env.update(EVENTSVC_INSTANCE_PATH=str(tmp_path), EVENTSVC_DATABASE_URL=sqlite_database, EVENTSVC_LOG_LEVEL="DEBUG",
               EVENTSVC_SECRET_KEY=sqlite_app.config["SECRET_KEY"], EVENTSVC_RATELIMIT="off")
    exe = os.path.join(os.path.dirname(sys.executable), "eventsvc")
    proc = subprocess.Popen([exe, "serve", "--port", str(port), "--no-worker"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail("serve did not start: " + (proc.stdout.read() if proc.poll() is not None else ""))
                time.sleep(0.3)
        failure = None
        try:
            _visit(f"http://127.0.0.1:{port}", seeded)
        except AssertionError as err:
            failure = err
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    if failure is not None:
        pytest.fail(f"{failure}\n--- serve's output:\n{output[-4000:]}")
    # the log was on at DEBUG after the migrations ran (flask_wtf says at INFO why the POST failed)
    assert "The CSRF token is missing" in output, output[-3000:]
    found = {label: value for label, value in _canaries(seeded).items() if value.lower() in output.lower()}
    assert found == {}, output[-3000:]


def test_masking_keeps_the_rest_of_the_line():
    from eventsvc.logsafe import mask

    assert mask('"GET /my/abc.DEF-1_2/ticket.png HTTP/1.1"') == '"GET /my/…/ticket.png HTTP/1.1"'
    assert mask('"GET /staff/stf_x HTTP/1.1"') == '"GET /staff/… HTTP/1.1"'
    assert mask('"GET /events/a/survey/r/tok/thanks HTTP/1.1"') == '"GET /events/a/survey/r/…/thanks HTTP/1.1"'
    assert mask('"GET /events/a/checkin/?q=%E3%82%AB HTTP/1.1"') == '"GET /events/a/checkin/?… HTTP/1.1"'
    assert mask('"GET /my/slack/callback?code=x HTTP/1.1"') == '"GET /my/slack/callback?… HTTP/1.1"'
    assert mask('"GET /events/naha HTTP/1.1"') == '"GET /events/naha HTTP/1.1"'
