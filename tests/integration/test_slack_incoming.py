"""Slack → eventsvc: signed slash commands and button clicks.

Requests are built by ``tests.fakeslack.incoming`` (signed independently of our verifier);
answers arrive at the fake's ``response_url`` receiver."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from flask import current_app
from sqlalchemy import select

from eventsvc.extensions import db
from eventsvc.registration.models import Registration
from eventsvc.slack import views as views_module
from eventsvc.slack.models import SlackLink
from tests.fakeslack import Fault, block_action, signed_headers, slash_command, view_submission
from tests.integration.test_slack_support import SIGNING_SECRET, link, wait_for

pytest_plugins = ["tests.integration.test_slack_support"]


def _answer(fake, url: str) -> dict:
    (body,) = wait_for(lambda: fake.responses(url))
    assert body["response_type"] == "ephemeral"
    return body


def _text(body: dict) -> str:
    return body.get("text", "") + "\n" + json.dumps(body.get("blocks", []), ensure_ascii=False)


def _register_buttons(body: dict) -> list[str]:
    return [b["accessory"]["value"] for b in body.get("blocks", [])
            if b.get("accessory", {}).get("action_id") == "register"]


# ------------------------------------------------------------------ signature
def test_a_signed_command_is_acknowledged_and_answered(client, slack, make, organizer):
    make.event(organizer, title="那覇の勉強会")
    url = slack.new_response_url()
    body, headers = slash_command(SIGNING_SECRET, user_id="U0SOMEONE1", response_url=url)
    r = client.post("/slack/commands", data=body, headers=headers)
    assert r.status_code == 200 and r.get_data() == b""
    assert "那覇の勉強会" in _text(_answer(slack, url))


def _bad(headers: dict, **changes) -> dict:
    out = dict(headers)
    for key, value in changes.items():
        name = {"ts": "X-Slack-Request-Timestamp", "sig": "X-Slack-Signature"}[key]
        if value is None:
            out.pop(name)
        else:
            out[name] = value
    return out


@pytest.mark.parametrize("case, expected", [
    ("missing_timestamp", "missing_timestamp"),
    ("letters", "invalid_timestamp"),
    ("fullwidth_digits", "invalid_timestamp"),
    ("fraction", "invalid_timestamp"),
    ("stale", "stale_timestamp"),
    ("future", "stale_timestamp"),
    ("missing_signature", "missing_signature"),
    ("wrong_secret", "invalid_signature"),
    ("tampered_body", "invalid_signature"),
    ("garbage_signature", "invalid_signature"),
])
def test_signature_refusals_are_401_never_500(client, slack, case, expected):
    url = slack.new_response_url()
    body, headers = slash_command(SIGNING_SECRET, user_id="U0SOMEONE1", response_url=url)
    now = int(time.time())
    if case == "missing_timestamp":
        headers = _bad(headers, ts=None)
    elif case == "letters":
        headers = _bad(headers, ts="abc")
    elif case == "fullwidth_digits":
        headers = _bad(headers, ts="".join(chr(0xFF10 + int(d)) for d in str(now)))
    elif case == "fraction":
        headers = _bad(headers, ts=f"{now}.5")
    elif case == "stale":
        body, headers = slash_command(SIGNING_SECRET, user_id="U0SOMEONE1", response_url=url, timestamp=now - 301)
    elif case == "future":
        body, headers = slash_command(SIGNING_SECRET, user_id="U0SOMEONE1", response_url=url, timestamp=now + 301)
    elif case == "missing_signature":
        headers = _bad(headers, sig=None)
    elif case == "wrong_secret":
        body, headers = slash_command("not-our-secret", user_id="U0SOMEONE1", response_url=url)
    elif case == "tampered_body":
        body = body.replace(b"U0SOMEONE1", b"U0ATTACKER")
    elif case == "garbage_signature":
        headers = _bad(headers, sig="v0=" + "zz" * 32)
    r = client.post("/slack/commands", data=body, headers=headers)
    assert r.status_code == 401, r.get_data(as_text=True)
    assert r.get_json()["error"] == expected
    time.sleep(0.2)
    assert slack.responses(url) == []


def test_inside_the_window_is_accepted(client, slack):
    url = slack.new_response_url()
    body, headers = slash_command(SIGNING_SECRET, user_id="U0SOMEONE1", response_url=url,
                                  timestamp=int(time.time()) - 280)
    assert client.post("/slack/commands", data=body, headers=headers).status_code == 200
    _answer(slack, url)


def test_a_replayed_request_is_refused(client, slack, make, organizer):
    event = make.event(organizer)
    url = slack.new_response_url()
    body, headers = block_action(SIGNING_SECRET, user_id="U0SOMEONE1", value=event.slug, response_url=url)
    assert client.post("/slack/interactivity", data=body, headers=headers).status_code == 200
    again = client.post("/slack/interactivity", data=body, headers=headers)
    assert again.status_code == 409 and again.get_json()["error"] == "replayed_request"
    _answer(slack, url)
    time.sleep(0.3)
    assert len(slack.responses(url)) == 1


def test_without_a_signing_secret_nothing_is_accepted(client, slack, monkeypatch):
    monkeypatch.setitem(current_app.config, "SLACK_SIGNING_SECRET", None)
    body, headers = slash_command(SIGNING_SECRET, user_id="U0SOMEONE1")
    r = client.post("/slack/commands", data=body, headers=headers)
    assert r.status_code == 401 and r.get_json()["error"] == "not_configured"


def test_answers_go_only_to_slack(client, slack):
    body, headers = slash_command(SIGNING_SECRET, user_id="U0SOMEONE1", response_url="https://evil.example/hook")
    r = client.post("/slack/commands", data=body, headers=headers)
    assert r.status_code == 200 and "応答先" in r.get_json()["text"]


# ------------------------------------------------------------------ the slash command
@pytest.fixture
def regional_events(make, organizer):
    okinawa = make.event(organizer, title="那覇の勉強会", prefecture_code="47")
    kanto = make.event(organizer, title="東京の勉強会", prefecture_code="13", venue_name="霞が関")
    draft = make.event(organizer, title="下書きの会", prefecture_code="47", status="draft")
    return okinawa, kanto, draft


def test_lists_events_of_the_users_region_from_their_linked_registration(client, slack, make, organizer,
                                                                         regional_events):
    okinawa, kanto, _draft = regional_events
    past = make.event(organizer, title="過去の回", prefecture_code="47")
    reg = make.registration(past, organization_code="472018")
    link(reg, "U0NAHA0001")
    url = slack.new_response_url()
    body, headers = slash_command(SIGNING_SECRET, user_id="U0NAHA0001", response_url=url)
    assert client.post("/slack/commands", data=body, headers=headers).status_code == 200
    answer = _answer(slack, url)
    text = _text(answer)
    assert "九州・沖縄の今後のイベント" in text and "那覇の勉強会" in text
    assert "東京の勉強会" not in text and "下書きの会" not in text
    assert okinawa.slug in _register_buttons(answer) and kanto.slug not in _register_buttons(answer)
    assert "個人情報の取扱い" in text  # what pressing the button means


def test_the_region_can_be_named(client, slack, regional_events):
    _okinawa, kanto, _draft = regional_events
    url = slack.new_response_url()
    body, headers = slash_command(SIGNING_SECRET, user_id="U0SOMEONE1", text="関東", response_url=url)
    client.post("/slack/commands", data=body, headers=headers)
    answer = _answer(slack, url)
    assert _register_buttons(answer) == [kanto.slug]


def test_the_region_comes_from_the_slack_profile_e_mail(client, slack, make, organizer, regional_events):
    okinawa, _kanto, _draft = regional_events
    past = make.event(organizer, title="過去の回")
    make.registration(past, email="profile@city.naha.lg.jp", organization_code="472018")
    user = slack.add_user(email="profile@city.naha.lg.jp")["id"]
    url = slack.new_response_url()
    body, headers = slash_command(SIGNING_SECRET, user_id=user, response_url=url)
    client.post("/slack/commands", data=body, headers=headers)
    buttons = _register_buttons(_answer(slack, url))
    assert okinawa.slug in buttons and past.slug in buttons and _kanto.slug not in buttons


def test_unknown_people_see_every_region_and_a_hint(client, slack, regional_events):
    okinawa, kanto, _draft = regional_events
    url = slack.new_response_url()
    body, headers = slash_command(SIGNING_SECRET, user_id=slack.add_user(email="new@example.com")["id"],
                                  response_url=url)
    client.post("/slack/commands", data=body, headers=headers)
    answer = _answer(slack, url)
    assert sorted(_register_buttons(answer)) == sorted([okinawa.slug, kanto.slug])
    assert "/events 九州" in _text(answer)


def test_the_command_answers_within_3_seconds_even_when_slack_is_slow(client, slack, regional_events):
    slack.inject("users.info", Fault("slow", sleep=3.5))
    url = slack.new_response_url()
    body, headers = slash_command(SIGNING_SECRET, user_id=slack.add_user(email="slow@example.com")["id"],
                                  response_url=url)
    started = time.monotonic()
    assert client.post("/slack/commands", data=body, headers=headers).status_code == 200
    assert time.monotonic() - started < 1.0
    assert slack.responses(url) == []
    _answer(slack, url)  # later, through response_url


# ------------------------------------------------------------------ the 参加登録 button
def _click(client, fake, slug: str, user: str, **options) -> dict:
    url = fake.new_response_url()
    body, headers = block_action(SIGNING_SECRET, user_id=user, value=slug, response_url=url, **options)
    started = time.monotonic()
    r = client.post("/slack/interactivity", data=body, headers=headers)
    assert r.status_code == 200 and time.monotonic() - started < 1.0
    return _answer(fake, url)


def _registrations(event) -> list[Registration]:
    db.session.expire_all()
    return list(db.session.scalars(select(Registration).where(Registration.event_id == event.id)))


def _registered_and_linked(event, user: str, person: tuple) -> Registration:
    """The event's one registration: confirmed, privacy consent only, linked to ``user`` from Slack."""
    (reg,) = _registrations(event)
    assert (reg.name, reg.name_kana, reg.email, reg.organization_code, reg.status) == (*person, "confirmed")
    assert reg.consent_privacy and not reg.consent_slack_mention
    link_row = db.session.get(SlackLink, reg.id)
    assert (link_row.slack_user_id, link_row.method, link_row.status) == (user, "slack", "linked")
    return reg


def test_the_button_registers_a_known_person_and_answers_with_the_ticket_link(client, slack, make, organizer):
    earlier = make.event(organizer, title="前回")
    make.registration(earlier, name="比嘉 太郎", name_kana="ヒガ タロウ", email="higa@city.naha.lg.jp",
                      organization_code="472018", department="DX推進課")
    event = make.event(organizer, title="次回の勉強会")
    user = slack.add_user(email="higa@city.naha.lg.jp", real_name="Taro Higa")["id"]

    answer = _click(client, slack, event.slug, user)
    reg = _registered_and_linked(event, user, ("比嘉 太郎", "ヒガ タロウ", "higa@city.naha.lg.jp", "472018"))
    text = _text(answer)
    assert "次回の勉強会" in text and "参加確定" in text
    assert "http://localhost/my/" in text
    # the confirmation e-mail goes through the outbox like a web registration's
    from eventsvc.outbox.models import Delivery

    assert db.session.scalar(select(Delivery.kind).where(Delivery.registration_id == reg.id)).startswith("mail.")


def test_the_button_twice_gives_the_same_registration(client, slack, make, organizer):
    earlier = make.event(organizer)
    make.registration(earlier, email="twice@city.naha.lg.jp")
    event = make.event(organizer)
    user = slack.add_user(email="twice@city.naha.lg.jp")["id"]
    _click(client, slack, event.slug, user)
    second = _click(client, slack, event.slug, user)
    assert len(_registrations(event)) == 1
    assert "既にお申し込み済み" in _text(second) and "http://localhost/my/" in _text(second)


def _open_modal(client, fake, slug: str, user: str) -> tuple[dict, str]:
    """Click 参加登録 as a first-timer: the modal opens (no ephemeral answer)."""
    url = fake.new_response_url()
    body, headers = block_action(SIGNING_SECRET, user_id=user, value=slug, response_url=url,
                                 trigger_id=fake.new_trigger(user))
    assert client.post("/slack/interactivity", data=body, headers=headers).status_code == 200
    (view,) = wait_for(lambda: fake.views(user))
    return view, url


def _send(client, view: dict, user: str, *, name="新人 太郎", kana="", organization="", consent=True,
          **extra) -> dict:
    values = {"name": {"value": {"type": "plain_text_input", "value": name}},
              "kana": {"value": {"type": "plain_text_input", "value": kana}},
              "organization": {"value": {"type": "plain_text_input", "value": organization}},
              "department": {"value": {"type": "plain_text_input", "value": None}},
              "consent": {"value": {"type": "checkboxes", "selected_options": [
                  {"text": {"type": "plain_text", "text": "同意"}, "value": "yes"}] if consent else []}}}
    values.update(extra)
    body, headers = view_submission(SIGNING_SECRET, view, values, user_id=user)
    started = time.monotonic()
    r = client.post("/slack/interactivity", data=body, headers=headers)
    assert r.status_code == 200 and time.monotonic() - started < 3.0  # Slack waits 3 s
    return r.get_json()


def test_a_first_timer_registers_through_the_modal(client, slack, make, organizer):
    event = make.event(organizer, title="はじめての勉強会")
    user = slack.add_user(email="first@city.naha.lg.jp", real_name="新人 太郎")["id"]
    view, url = _open_modal(client, slack, event.slug, user)
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert {"name", "kana", "organization", "department", "consent"} <= set(inputs)
    assert inputs["name"]["element"]["initial_value"] == "新人 太郎"  # from the Slack profile
    assert "first@city.naha.lg.jp" in json.dumps(view["blocks"], ensure_ascii=False)
    assert "個人情報の利用目的" in json.dumps(view["blocks"], ensure_ascii=False)
    for thread in list(views_module.BACKGROUND):
        thread.join(5)
    assert slack.responses(url) == []  # the modal is the answer

    # the web form's rules, each error under its own input; nothing saved
    answer = _send(client, view, user, kana="Shinjin", organization="", consent=False)
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"kana", "organization", "consent"}
    assert "ひらがなかカタカナ" in answer["errors"]["kana"]
    assert _registrations(event) == []

    answer = _send(client, view, user, kana="しんじん たろう", organization="那覇市")
    assert answer["response_action"] == "update"
    shown = json.dumps(answer["view"], ensure_ascii=False)
    assert "はじめての勉強会" in shown and "参加確定" in shown and "http://localhost/my/" in shown
    _registered_and_linked(event, user, ("新人 太郎", "シンジン タロウ", "first@city.naha.lg.jp", "472018"))

    # sent twice (a double click): still one registration; next time the button needs no modal
    again = _send(client, view, user, kana="しんじん たろう", organization="那覇市")
    assert "既にお申し込み済み" in json.dumps(again["view"], ensure_ascii=False)
    assert len(_registrations(event)) == 1
    later_event = make.event(organizer, title="次の勉強会")
    answer = _click(client, slack, later_event.slug, user)
    assert "参加確定" in _text(answer) and len(slack.views(user)) == 1


def test_an_organisation_not_in_the_list_is_kept_as_typed(client, slack, make, organizer):
    event = make.event(organizer)
    user = slack.add_user(email="someone@example.co.jp", real_name="外部 さん")["id"]
    view, _url = _open_modal(client, slack, event.slug, user)
    answer = _send(client, view, user, name="外部 花子", kana="がいぶ はなこ", organization="<!channel> 株式会社サンプル")
    assert answer["response_action"] == "update"
    (reg,) = _registrations(event)
    assert (reg.organization_code, reg.organization_name) == (None, "<!channel> 株式会社サンプル")
    assert reg.status == "pending_review"  # not an lg.jp / go.jp address, as on the web form


def test_when_the_modal_cannot_open_the_first_timer_is_sent_to_the_form(client, slack, make, organizer):
    event = make.event(organizer)
    user = slack.add_user(email="first@city.naha.lg.jp", real_name="新人 さん")["id"]
    # a trigger lives 3 seconds: this one is spent
    answer = _click(client, slack, event.slug, user, trigger_id=slack.new_trigger(user, age=10))
    assert "ふりがなと所属" in _text(answer) and f"/events/{event.slug}/register" in _text(answer)
    assert slack.views(user) == [] and _registrations(event) == []


def test_a_forged_or_foreign_modal_registers_nobody(client, slack, make, organizer, monkeypatch):
    event = make.event(organizer)
    user = slack.add_user(email="first@city.naha.lg.jp", real_name="新人 太郎")["id"]
    view, _url = _open_modal(client, slack, event.slug, user)
    other = dict(view, callback_id="something_else")
    body, headers = view_submission(SIGNING_SECRET, other, {}, user_id=user)
    assert client.post("/slack/interactivity", data=body, headers=headers).status_code == 200
    body, headers = view_submission(SIGNING_SECRET, view, {}, user_id=user, team_id="T0OTHER")
    r = client.post("/slack/interactivity", data=body, headers=headers)
    assert r.status_code == 200 and "このワークスペース" in json.dumps(r.get_json(), ensure_ascii=False)
    monkeypatch.setitem(current_app.config, "SLACK_TEAM_ID", "T0CONFIGURED")  # the configured workspace wins
    body, headers = view_submission(SIGNING_SECRET, view, {}, user_id=user)
    r = client.post("/slack/interactivity", data=body, headers=headers)
    assert "このワークスペース" in json.dumps(r.get_json(), ensure_ascii=False)
    body, headers = view_submission("not-the-secret", view, {}, user_id=user)
    assert client.post("/slack/interactivity", data=body, headers=headers).status_code == 401
    assert _registrations(event) == []


def test_the_web_forms_rules_apply(client, slack, make, organizer):
    full = make.event(organizer)
    earlier = make.event(organizer)
    make.registration(earlier, email="someone@gmail.com", status="pending_review")
    user = slack.add_user(email="someone@gmail.com")["id"]
    answer = _click(client, slack, full.slug, user)
    (reg,) = _registrations(full)
    assert reg.status == "pending_review"  # not an lg.jp / go.jp address: an organizer reviews it
    assert "主催者の確認待ち" in _text(answer)


def test_closed_events_and_unknown_people_are_answered_plainly(client, slack, make, organizer):
    closed = make.event(organizer, status="closed")
    earlier = make.event(organizer)
    make.registration(earlier, email="closed@city.naha.lg.jp")
    user = slack.add_user(email="closed@city.naha.lg.jp")["id"]
    assert "登録できませんでした" in _text(_click(client, slack, closed.slug, user))
    assert "イベントが見つかりません" in _text(_click(client, slack, "no-such-event", user))
    gone = slack.add_user(email="gone@city.naha.lg.jp", deleted=True)["id"]
    assert "確認できませんでした" in _text(_click(client, slack, closed.slug, gone))
    assert _registrations(closed) == []


def test_another_workspace_cannot_register(client, slack, make, organizer):
    event = make.event(organizer)
    user = slack.add_user(email="x@city.naha.lg.jp")["id"]
    answer = _click(client, slack, event.slug, user, team_id="T0OTHER")
    assert "このワークスペースからは登録できません" in _text(answer)
    assert _registrations(event) == []


def test_link_buttons_and_other_payloads_are_just_acknowledged(client, slack, make, organizer):
    event = make.event(organizer)
    url = slack.new_response_url()
    body, headers = block_action(SIGNING_SECRET, user_id="U0SOMEONE1", value=event.slug, action_id="open_event",
                                 response_url=url)
    assert client.post("/slack/interactivity", data=body, headers=headers).status_code == 200
    raw = urlencode({"payload": "not json"}).encode()
    r = client.post("/slack/interactivity", data=raw, headers=signed_headers(SIGNING_SECRET, raw))
    assert r.status_code == 400
    time.sleep(0.2)
    assert slack.responses(url) == []


def test_registration_window_is_the_web_forms(client, slack, make, organizer):
    from eventsvc.core.clock import now_utc

    later = make.event(organizer, registration_opens_at=now_utc() + timedelta(days=3))
    earlier = make.event(organizer)
    make.registration(earlier, email="early@city.naha.lg.jp")
    user = slack.add_user(email="early@city.naha.lg.jp")["id"]
    assert "登録できませんでした" in _text(_click(client, slack, later.slug, user))
    assert _registrations(later) == []
