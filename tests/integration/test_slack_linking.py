"""Linking registrations to Slack accounts: by e-mail in bulk, by hand, and "Sign in with Slack"
(OpenID Connect) end to end against the fake's authorize page."""

from __future__ import annotations

import http.client
import time
from urllib.parse import parse_qs, urlsplit

import itsdangerous
import pytest
from flask import current_app
from sqlalchemy import select

from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.registration import service as registration_service
from eventsvc.slack import service as slack_service
from eventsvc.slack.models import SeenKey, SlackLink
from tests.fakeslack import Fault

pytest_plugins = ["tests.integration.test_slack_support"]


def _link(reg) -> SlackLink | None:
    db.session.expire_all()
    return db.session.get(SlackLink, reg.id)


@pytest.fixture(params=["lookup", "users.list"])
def directory(request, monkeypatch):
    """Bulk linking one address at a time (few registrations) or from one users.list pass."""
    if request.param == "users.list":
        monkeypatch.setattr(slack_service, "LOOKUP_LIMIT", 0)
    return request.param


# ------------------------------------------------------------------ bulk
def test_bulk_link_found_not_found_deleted_and_bots(make, organizer, token, api, slack, directory):
    event = make.event(organizer)
    found = make.registration(event, email="chinen@city.naha.lg.jp")
    missing = make.registration(event, email="nobody@city.naha.lg.jp")
    gone = make.registration(event, email="left@city.naha.lg.jp")
    botty = make.registration(event, email="bot@city.naha.lg.jp")
    cancelled = make.registration(event, email="cancel@city.naha.lg.jp", status="cancelled")
    user = slack.add_user(email="Chinen@City.Naha.LG.JP", real_name="知念 花子")["id"]  # case differs
    slack.add_user(email="left@city.naha.lg.jp", deleted=True)
    slack.add_user(email="bot@city.naha.lg.jp", is_bot=True)
    slack.add_user(email="cancel@city.naha.lg.jp")

    r = api("POST", f"/events/{event.slug}/slack/link-accounts", token)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["linked"], body["not_found"], body["unknown"]) == (1, 3, 0)
    by_id = {x["id"]: x for x in body["registrations"]}
    assert by_id[found.id] == {"id": found.id, "slack_user_id": user, "status": "linked", "method": "bulk"}
    for reg in (missing, gone, botty):
        assert by_id[reg.id]["status"] == "not_in_workspace" and by_id[reg.id]["slack_user_id"] is None
    assert cancelled.id not in by_id and _link(cancelled) is None
    expected_calls = {"lookup": ("users.lookupByEmail", 4), "users.list": ("users.list", 1)}[directory]
    assert slack.count(expected_calls[0]) == expected_calls[1]


def test_a_member_deactivated_later_is_no_longer_linked(make, organizer, slack, directory):
    event = make.event(organizer)
    reg = make.registration(event, email="later@city.naha.lg.jp")
    user = slack.add_user(email="later@city.naha.lg.jp")["id"]
    gw = slack_service.gateway(current_app.config)
    slack_service.link_accounts(event, gw, organizer, now_utc())
    db.session.commit()
    assert _link(reg).slack_user_id == user
    slack.update_user(user, deleted=True)
    slack_service.link_accounts(event, gw, organizer, now_utc())
    db.session.commit()
    assert (_link(reg).status, _link(reg).slack_user_id) == ("not_in_workspace", None)


def test_links_made_by_a_person_survive_bulk_runs(make, organizer, login, client, slack):
    event = make.event(organizer)
    by_hand = make.registration(event, email="shared@city.naha.lg.jp")
    unlinked = make.registration(event, email="unlinked@city.naha.lg.jp")
    other = slack.add_user(email="private@example.com", real_name="私用アドレス")["id"]
    slack.add_user(email="shared@city.naha.lg.jp")
    slack.add_user(email="unlinked@city.naha.lg.jp")
    login(organizer)
    r = client.post(f"/manage/events/{event.slug}/slack/links/{by_hand.id}", data={"slack_user": "private@example.com"})
    assert r.status_code == 302
    assert (_link(by_hand).slack_user_id, _link(by_hand).method, _link(by_hand).pinned) == (other, "manual", True)
    assert client.post(f"/manage/events/{event.slug}/slack/link").status_code == 302
    assert client.post(f"/manage/events/{event.slug}/slack/links/{unlinked.id}/unlink").status_code == 302
    assert client.post(f"/manage/events/{event.slug}/slack/link").status_code == 302
    assert _link(by_hand).slack_user_id == other  # the bulk run did not override the person
    assert (_link(unlinked).status, _link(unlinked).slack_user_id) == ("unknown", None)


def test_link_by_hand_checks_the_member(make, organizer, login, client, slack):
    event = make.event(organizer)
    reg = make.registration(event)
    gone = slack.add_user(email="gone@city.naha.lg.jp", deleted=True)["id"]
    real = slack.add_user(email="real@city.naha.lg.jp")["id"]
    login(organizer)
    url = f"/manage/events/{event.slug}/slack/links/{reg.id}"
    for value, message in (("U0NOSUCH99", "見つかりません"), (gone, "無効化"), ("比嘉さん", "メンバーID"),
                           ("nobody@example.com", "見つかりません")):
        r = client.post(url, data={"slack_user": value})
        assert r.status_code == 422, value
        assert message in r.get_data(as_text=True)
        assert _link(reg) is None
    assert client.post(url, data={"slack_user": real}).status_code == 302
    assert _link(reg).slack_user_id == real


def test_bulk_link_when_slack_fails_changes_nothing(make, organizer, token, api, slack):
    event = make.event(organizer)
    reg = make.registration(event, email="x@city.naha.lg.jp")
    slack.inject("users.lookupByEmail", Fault("http_status", status=500), times=10)
    r = api("POST", f"/events/{event.slug}/slack/link-accounts", token)
    assert r.status_code == 502 and r.get_json()["error"] == "slack_unavailable"
    assert _link(reg) is None


def test_bulk_link_without_slack_is_refused(make, organizer, token, api, no_slack):
    event = make.event(organizer)
    r = api("POST", f"/events/{event.slug}/slack/link-accounts", token)
    assert r.status_code == 409 and r.get_json()["error"] == "slack_not_configured"


def test_other_organizers_events_are_not_found(make, token, api, slack):
    event = make.event(make.organizer())
    assert api("POST", f"/events/{event.slug}/slack/link-accounts", token).status_code == 404


# ------------------------------------------------------------------ Sign in with Slack
def _get_no_redirect(url: str) -> tuple[int, str]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("GET", parts.path + "?" + parts.query)
    resp = conn.getresponse()
    location = resp.getheader("Location") or ""
    conn.close()
    return resp.status, location


def _start(client, reg) -> tuple[str, dict]:
    token = registration_service.link_token(reg)
    r = client.get(f"/my/{token}/slack/signin")
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    return token, {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}


def test_sign_in_with_slack_end_to_end(make, organizer, client, slack):
    event = make.event(organizer)
    reg = make.registration(event, email="work@city.naha.lg.jp")
    user = slack.add_user(email="personal@example.com", real_name="比嘉 太郎")["id"]  # a different address
    token = registration_service.link_token(reg)
    page = client.get(f"/my/{token}/slack")
    assert page.status_code == 200 and "Slackでサインインして連携する" in page.get_data(as_text=True)

    r = client.get(f"/my/{token}/slack/signin")
    assert r.status_code == 302
    authorize = r.headers["Location"]
    assert authorize.startswith(slack.authorize_url + "?")
    params = parse_qs(urlsplit(authorize).query)
    assert params["scope"] == ["openid email profile"] and params["client_id"] == [slack.client_id]
    assert params["redirect_uri"] == ["http://localhost/my/slack/callback"]

    slack.login_as(user)
    status, back = _get_no_redirect(authorize)  # the browser at Slack's authorize page
    assert status == 302 and back.startswith("http://localhost/my/slack/callback?")
    done = client.get(back.replace("http://localhost", ""))
    assert done.status_code == 200, done.get_data(as_text=True)
    assert "Slackアカウントと連携しました" in done.get_data(as_text=True)
    link = _link(reg)
    assert (link.status, link.slack_user_id, link.method, link.pinned, link.slack_team_id) == \
        ("linked", user, "oidc", True, "T0FAKE")
    assert slack.count("openid.connect.token") == 1 and slack.count("openid.connect.userInfo") == 1
    assert user in client.get(f"/my/{token}/slack").get_data(as_text=True)


def test_sign_in_state_is_single_use(make, organizer, client, slack):
    event = make.event(organizer)
    reg = make.registration(event)
    user = slack.add_user(email="once@example.com")["id"]
    _token, params = _start(client, reg)
    with client.session_transaction() as sess:
        nonce, origin = sess["slack_oidc_nonce"], sess["slack_oidc_token"]
    code = slack.issue_oidc_code(user, params["redirect_uri"])
    first = client.get("/my/slack/callback", query_string={"code": code, "state": params["state"]})
    assert first.status_code == 200
    with client.session_transaction() as sess:  # an attacker replays it with the same session
        sess["slack_oidc_nonce"], sess["slack_oidc_token"] = nonce, origin
    again = client.get("/my/slack/callback",
                       query_string={"code": slack.issue_oidc_code(user, params["redirect_uri"]),
                                     "state": params["state"]})
    assert again.status_code == 400 and "使用済み" in again.get_data(as_text=True)
    assert db.session.scalar(select(SeenKey).where(SeenKey.kind == "oidc_state")) is not None


def test_sign_in_from_another_workspace_is_refused(make, organizer, client, slack):
    event = make.event(organizer)
    reg = make.registration(event)
    user = slack.add_user(email="elsewhere@example.com")["id"]
    _token, params = _start(client, reg)
    code = slack.issue_oidc_code(user, params["redirect_uri"], team_id="T0OTHER")
    r = client.get("/my/slack/callback", query_string={"code": code, "state": params["state"]})
    assert r.status_code == 403 and "ワークスペース以外" in r.get_data(as_text=True)
    assert _link(reg) is None


def test_sign_in_with_a_configured_team_id(make, organizer, client, slack, monkeypatch):
    monkeypatch.setitem(current_app.config, "SLACK_TEAM_ID", "T0FAKE")
    event = make.event(organizer)
    reg = make.registration(event)
    user = slack.add_user(email="team@example.com")["id"]
    _token, params = _start(client, reg)
    assert params["team"] == "T0FAKE"
    code = slack.issue_oidc_code(user, params["redirect_uri"])
    assert client.get("/my/slack/callback", query_string={"code": code, "state": params["state"]}).status_code == 200
    assert _link(reg).slack_user_id == user


@pytest.mark.parametrize("case", ["expired", "tampered", "other_browser", "denied", "bad_code"])
def test_sign_in_refusals(make, organizer, client, slack, monkeypatch, case):
    event = make.event(organizer)
    reg = make.registration(event)
    user = slack.add_user(email="refused@example.com")["id"]
    if case == "expired":
        with monkeypatch.context() as m:
            m.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp",
                      lambda self: int(time.time()) - slack_service.OIDC_MAX_AGE - 5)
            _token, params = _start(client, reg)
    else:
        _token, params = _start(client, reg)
    query = {"code": slack.issue_oidc_code(user, params["redirect_uri"]), "state": params["state"]}
    if case == "tampered":
        query["state"] = params["state"][:-3] + ("AAA" if not params["state"].endswith("AAA") else "BBB")
    elif case == "other_browser":
        with client.session_transaction() as sess:
            sess.clear()
    elif case == "denied":
        query = {"error": "access_denied", "state": params["state"]}
    elif case == "bad_code":
        query["code"] = "fakecode-unknown"
    r = client.get("/my/slack/callback", query_string=query)
    text = r.get_data(as_text=True)
    assert r.status_code in (400, 403), text[:300]
    expected = {"expired": "有効期限", "tampered": "正しくありません", "other_browser": "ブラウザー",
                "denied": "取り消されました", "bad_code": "失敗しました"}[case]
    assert expected in text
    assert _link(reg) is None
    if case in ("expired", "tampered", "other_browser", "denied"):
        assert slack.count("openid.connect.token") == 0


def test_sign_in_needs_a_valid_attendee_link(client, slack):
    assert client.get("/my/not-a-valid-token/slack").status_code == 404
    assert client.get("/my/not-a-valid-token/slack/signin").status_code == 404
