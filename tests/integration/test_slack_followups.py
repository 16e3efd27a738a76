"""Slack follow-ups: what each kind posts, where, when — through the real outbox worker and
the real WebClient against the fake Slack Web API."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import select

from eventsvc.checkin import service as checkin
from eventsvc.core.clock import JST, format_datetime, now_utc, to_jst
from eventsvc.extensions import db
from eventsvc.outbox.models import Delivery
from eventsvc.slack import service as slack_service
from eventsvc.surveys import service as surveys
from tests.integration.test_slack_support import deliveries, link, posts, region_channel, send_all

pytest_plugins = ["tests.integration.test_slack_support"]  # the slack / no_slack fixtures


def _all_text(message: dict) -> str:
    """The fallback text plus every text in the blocks (what Slack renders and parses)."""
    return message.get("text", "") + "\n" + json.dumps(message.get("blocks", []), ensure_ascii=False)


@pytest.fixture
def kyushu(slack):
    channel = slack.add_channel("kyushu-okinawa")["id"]
    region_channel("kyushu_okinawa", channel)
    return channel


def _past_event(make, org, **kw):
    """An event that took place yesterday (registrations made while it was open)."""
    start = (now_utc() - timedelta(days=1)).astimezone(JST).replace(hour=13, minute=30, second=0, microsecond=0)
    registered_at = start - timedelta(days=7)
    event = make.event(org, starts_at=start, ends_at=start + timedelta(hours=3), now=registered_at, **kw)
    return event, registered_at


# ------------------------------------------------------------------ announcement
def test_announcement_goes_to_the_region_channel_with_register_button(make, organizer, token, api, slack, kyushu):
    event = make.event(organizer, title="第3回 自治体DX勉強会 in 那覇")
    make.registration(event)
    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "announcement"})
    assert r.status_code == 200, r.get_json()
    ids = r.get_json()["deliveries"]
    assert len(ids) == 1 and r.get_json()["channel"] == kyushu
    assert send_all() == {"sent": 1}

    (msg,) = posts(slack, kyushu)
    text = _all_text(msg)
    assert "第3回 自治体DX勉強会 in 那覇" in text
    assert "那覇市IT創造館" in text
    assert "残席: 129席" in text  # 30 + 100 seats, one taken
    buttons = [e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["text"]["text"] == "参加登録"
    assert buttons[0]["url"].endswith(f"/events/{event.slug}/register")
    assert msg["metadata"]["event_payload"] == {"outbox_id": str(ids[0])}

    (row,) = deliveries()
    assert row.state == "sent" and row.external_id == f"{kyushu}:{msg['ts']}"
    listed = api("GET", f"/events/{event.slug}/deliveries", token).get_json()
    assert listed[0]["state"] == "sent" and listed[0]["external_id"] == row.external_id


def test_queuing_twice_posts_once_and_a_change_becomes_chat_update(make, organizer, token, api, slack, kyushu):
    event = make.event(organizer, title="窓口BPR勉強会")
    api("POST", f"/events/{event.slug}/followups", token, json={"kind": "announcement"})
    again = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "announcement"})
    assert again.status_code == 200 and again.get_json()["deliveries"] == []  # same content: nothing new
    send_all()
    (msg,) = posts(slack, kyushu)

    r = api("PATCH", f"/events/{event.slug}", token, json={"title": "窓口BPR勉強会（会場変更）"})
    assert r.status_code == 200
    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "announcement"})
    (update_id,) = r.get_json()["deliveries"]
    assert db.session.get(Delivery, update_id).kind == "slack.update"
    assert send_all() == {"sent": 1}

    (edited,) = posts(slack, kyushu)  # still one message, edited in place
    assert edited["ts"] == msg["ts"]
    assert "窓口BPR勉強会（会場変更）" in _all_text(edited)
    assert slack.count("chat.postMessage") == 1 and slack.count("chat.update") == 1
    assert api("POST", f"/events/{event.slug}/followups", token,
               json={"kind": "announcement"}).get_json()["deliveries"] == []


def test_announcement_of_a_draft_and_without_a_channel_is_refused(make, organizer, token, api, slack):
    draft = make.event(organizer, status="draft")
    r = api("POST", f"/events/{draft.slug}/followups", token, json={"kind": "announcement"})
    assert r.status_code == 409 and r.get_json()["error"] == "no_channel"
    slack.add_channel("kyushu-okinawa", id="C0KYUSHU01")
    region_channel("kyushu_okinawa", "C0KYUSHU01")
    r = api("POST", f"/events/{draft.slug}/followups", token, json={"kind": "announcement"})
    assert r.status_code == 409 and r.get_json()["error"] == "not_published"
    assert deliveries() == []


def test_explicit_channel_and_event_override(make, organizer, token, api, slack, kyushu):
    other = slack.add_channel("dx-naha")["id"]
    event = make.event(organizer)
    slack_service.refresh_channels(slack_service.gateway(current_app.config), now_utc())
    db.session.commit()
    slack_service.set_event_channel(event, other, organizer, now_utc())
    db.session.commit()
    api("POST", f"/events/{event.slug}/followups", token, json={"kind": "announcement"})
    send_all()
    assert len(posts(slack, other)) == 1 and posts(slack, kyushu) == []
    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "announcement", "channel": "C0NOPE"})
    assert r.status_code == 422 and "channel" in r.get_json()["fields"]


# ------------------------------------------------------------------ reminder
def test_reminder_waits_until_noon_the_day_before(make, organizer, token, api, slack, kyushu):
    event = make.event(organizer)
    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "reminder"})
    assert r.status_code == 200
    (row,) = deliveries()
    due = row.next_attempt_at
    assert to_jst(due).date() == to_jst(event.starts_at).date() - timedelta(days=1)
    assert (to_jst(due).hour, to_jst(due).minute) == (12, 0)
    assert send_all() == {} and posts(slack) == []  # not yet
    assert send_all(now=due + timedelta(seconds=1)) == {"sent": 1}
    (msg,) = posts(slack, kyushu)
    assert "【明日開催】" in msg["text"]


def test_reminder_after_the_start_is_refused(make, organizer, token, api, slack, kyushu):
    event, _at = _past_event(make, organizer)
    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "reminder"})
    assert r.status_code == 409 and r.get_json()["error"] == "too_late"


# ------------------------------------------------------------------ report
def _check_in(event, reg, org):
    res = checkin.check_in(event, reg.ticket_code, device_id="desk1", nonce=f"n{reg.id}", scanned_at=None,
                           method="scanner", actor=checkin.Actor.organizer(org), now=now_utc())
    assert res.result == "checked_in"
    db.session.commit()


def test_report_counts_who_came_names_consenting_people_and_threads_the_teams(
        make, organizer, token, api, slack, kyushu, monkeypatch):
    event, at = _past_event(make, organizer, title="自治体職員の勉強会 in 那覇")
    hanako = slack.add_user(email="hanako@city.naha.lg.jp", real_name="知念 花子")["id"]
    came = [
        make.registration(event, name="知念 花子", email="hanako@city.naha.lg.jp", now=at),  # linked, consents
        make.registration(event, name="比嘉 太郎", organization_code="472018", now=at),  # consents, not linked
        make.registration(event, name="金城 次郎", organization_code="402036", consent_slack_mention=False, now=at),
        make.registration(event, name="山田 花子", organization_code="gov-digital", email="yamada@digital.go.jp",
                          now=at),
    ]
    absent = make.registration(event, name="欠席 者", now=at)
    link(came[0], hanako)
    for reg in came:
        _check_in(event, reg, organizer)
    ids = [r.id for r in came]
    monkeypatch.setattr(slack_service, "_team_sources", [lambda e: [("チームA", [ids[0], ids[2]]),
                                                                    ("チームB", [ids[1], ids[3]])]])
    monkeypatch.setattr(slack_service, "_survey_link_sources",
                        [lambda e, r: "https://events.example.lg.jp/s/ABC" if r is None else None])

    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "report"})
    assert r.status_code == 200, r.get_json()
    assert len(r.get_json()["deliveries"]) == 2
    assert send_all() == {"sent": 2}

    report, thread = posts(slack, kyushu)
    text = _all_text(report)
    assert "参加者 4名（2自治体）" in text  # Naha twice, Kurume; a national agency is not a municipality
    assert f"<@{hanako}>" in text
    assert "比嘉 太郎（沖縄県那覇市）" in text
    assert "金城 次郎" not in text  # no consent: counted, not named
    assert "欠席 者" not in text and absent.name not in text
    assert "デジタル改革共創プラットフォームの使い方" in text and "山田 花子（デジタル庁）" in text
    assert "<https://events.example.lg.jp/s/ABC|アンケートに回答する>" in text
    assert "自己紹介" in text
    assert thread["thread_ts"] == report["ts"]
    thread_text = _all_text(thread)
    assert "チームA" in thread_text and f"<@{hanako}>" in thread_text and "ほか1名" in thread_text
    assert "比嘉 太郎（沖縄県那覇市）" in thread_text


def test_report_without_check_in_counts_confirmed_and_says_so(make, organizer, token, api, slack, kyushu):
    event, at = _past_event(make, organizer)
    for _ in range(3):
        make.registration(event, now=at)
    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "report", "preview": True})
    body = r.get_json()
    assert r.status_code == 200 and body["deliveries"] == []
    assert any("チェックインの記録がない" in n for n in body["notes"])
    assert "参加 3名" in body["preview"][0]["text"]
    assert deliveries() == []  # a preview writes nothing


def test_report_before_the_event_is_refused(make, organizer, token, api, slack, kyushu):
    event = make.event(organizer)
    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "report"})
    assert r.status_code == 409 and r.get_json()["error"] == "too_early"


def test_a_name_containing_channel_pings_nobody(make, organizer, token, api, slack, kyushu):
    event, at = _past_event(make, organizer, title="<!channel> 勉強会 & <b>交流会</b>")
    make.registration(event, name="<!channel> <@U0BOT> 太郎", organization_name="<!here>市役所",
                      organization_code=None, now=at)
    api("POST", f"/events/{event.slug}/followups", token, json={"kind": "report"})
    send_all()
    (msg,) = posts(slack, kyushu)
    text = _all_text(msg)
    for ping in ("<!channel>", "<!here>", "<@U0BOT>", "<b>"):
        assert ping not in text
    assert "&lt;!channel&gt; &lt;@U0BOT&gt; 太郎（&lt;!here&gt;市役所）" in text
    assert "&lt;!channel&gt; 勉強会 &amp; &lt;b&gt;交流会&lt;/b&gt;" in msg["text"]


# ------------------------------------------------------------------ survey DMs
def test_survey_dm_to_each_linked_attendee_with_their_own_link(make, organizer, token, api, slack):
    event, at = _past_event(make, organizer, title="アンケートの勉強会")
    surveys.create_survey(event, organizer, now_utc())
    db.session.commit()
    users = [slack.add_user(email=f"p{i}@city.naha.lg.jp")["id"] for i in range(3)]
    regs = [make.registration(event, email=f"p{i}@city.naha.lg.jp", now=at) for i in range(3)]
    unlinked = make.registration(event, now=at)
    for reg, user in zip(regs, users, strict=True):
        link(reg, user)
        _check_in(event, reg, organizer)
    _check_in(event, unlinked, organizer)

    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "survey_dm"})
    assert r.status_code == 200, r.get_json()
    assert len(r.get_json()["deliveries"]) == 3
    assert send_all() == {"sent": 3}
    for reg, user in zip(regs, users, strict=True):
        dm = slack.dm_channel(user)
        (msg,) = posts(slack, dm)
        assert "アンケートの勉強会" in msg["text"]
        url = next(e["url"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"])
        assert f"/events/{event.slug}/survey/r/" in url
        assert surveys.resolve_link(event, url.rsplit("/", 1)[-1], current_app.config["SECRET_KEY"]).id == reg.id
    # the survey page's "send invitations" does not DM them a second time
    survey = surveys.get_survey(event)
    with current_app.test_request_context():
        result = surveys.send_invitations(survey, organizer, now_utc(),
                                          link_for=lambda reg: f"https://x.example/{reg.id}")
        db.session.commit()
    assert result.already_sent == 3
    assert [d.kind for d in result.deliveries].count("slack.survey_dm") == 0
    send_all()  # the e-mails wait for SMTP (held); no second DM
    assert sum(len(posts(slack, slack.dm_channel(u))) for u in users) == 3
    assert slack.count("chat.postMessage") == 3


def test_survey_invitations_from_the_survey_page_reach_slack(make, organizer, slack):
    event, at = _past_event(make, organizer)
    survey = surveys.create_survey(event, organizer, now_utc())
    user = slack.add_user(email="dm@city.naha.lg.jp")["id"]
    reg = make.registration(event, email="dm@city.naha.lg.jp", now=at)
    link(reg, user)
    _check_in(event, reg, organizer)
    with current_app.test_request_context():
        result = surveys.send_invitations(survey, organizer, now_utc(),
                                          link_for=lambda r: f"https://events.example.lg.jp/x/{r.id}")
        db.session.commit()
    assert sorted(d.kind for d in result.deliveries) == ["mail.survey_invite", "slack.survey_dm"]
    send_all()
    (msg,) = posts(slack, slack.dm_channel(user))
    assert f"https://events.example.lg.jp/x/{reg.id}" in msg["text"]


def test_survey_dm_with_nobody_linked_says_why_nothing_was_sent(make, organizer, token, api, slack, client, login):
    event, at = _past_event(make, organizer)
    surveys.create_survey(event, organizer, now_utc())  # opened at the start, yesterday
    db.session.commit()
    regs = [make.registration(event, email=f"u{i}@city.naha.lg.jp", now=at) for i in range(3)]
    for reg in regs:
        _check_in(event, reg, organizer)
    for preview in (True, False):
        r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "survey_dm", "preview": preview})
        body = r.get_json()
        assert r.status_code == 200 and body["deliveries"] == [], body
        assert [(w["code"], w["count"]) for w in body["warning_details"]] == [("nobody_linked", 3)]
        assert body["warnings"] == [w["message"] for w in body["warning_details"]]
        assert "参加者 3名のうち、Slackと連携済みの方がいないため、DMは1通も送りません。" in body["warnings"][0]
    assert deliveries() == []
    # the page says it too, and offers nothing to confirm
    login(organizer)
    page = client.get(f"/manage/events/{event.slug}/slack/followups/survey_dm").get_data(as_text=True)
    assert 'id="preview-warnings"' in page and 'data-code="nobody_linked"' in page
    assert "Slackと連携済みの方がいないため" in page and "この内容で送信を予約する" not in page
    digest = slack_service.plan_followup(event, "survey_dm", now_utc()).digest  # a form posted anyway
    r = client.post(f"/manage/events/{event.slug}/slack/followups/survey_dm", data={"digest": digest, "channel": ""},
                    follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "送る相手がいないため、何も送りませんでした。" in page and "Slackと連携済みの方がいないため" in page
    assert "前回と同じ内容のため" not in page
    # one linked: a DM for them, and a count of the others
    user = slack.add_user(email="u0@city.naha.lg.jp")["id"]
    link(regs[0], user)
    body = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "survey_dm"}).get_json()
    assert len(body["deliveries"]) == 1
    assert [(w["code"], w["count"]) for w in body["warning_details"]] == [("not_linked", 2)]
    assert "Slackと連携していない 2名には送りません" in body["warnings"][0]


def test_survey_dm_waits_for_the_survey_to_open(make, organizer, token, api, slack, client, login):
    """A DM sent before the survey opens would lead to "opens at …": it waits for the opening,
    and for a later one when the organizer moves it."""
    event, at = _past_event(make, organizer)
    opens = (now_utc() + timedelta(hours=3)).replace(second=0, microsecond=0)
    survey = surveys.create_survey(event, organizer, now_utc(), replace(surveys.default_template(), opens_at=opens))
    db.session.commit()
    user = slack.add_user(email="late@city.naha.lg.jp")["id"]
    reg = make.registration(event, email="late@city.naha.lg.jp", now=at)
    link(reg, user)
    _check_in(event, reg, organizer)
    body = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "survey_dm", "preview": True}).get_json()
    assert datetime.fromisoformat(body["preview"][0]["not_before"]) == opens
    assert any("アンケートの受付開始" in n for n in body["notes"])
    body = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "survey_dm"}).get_json()
    assert len(body["deliveries"]) == 1 and any("アンケートの受付開始" in n for n in body["notes"])
    (row,) = deliveries()
    assert (row.state, row.next_attempt_at) == ("queued", opens)
    assert send_all() == {} and posts(slack, slack.dm_channel(user)) == []
    login(organizer)  # the event's Slack page says when it goes out
    assert f"送信予定: {format_datetime(opens)}" in client.get(f"/manage/events/{event.slug}/slack").get_data(as_text=True)
    # the organizer moves the opening later: the DM moves with it
    later = opens + timedelta(days=1)
    surveys.save_survey(event, replace(surveys.SurveyData.from_survey(survey), opens_at=later), organizer, now_utc())
    db.session.commit()
    db.session.expire_all()
    (row,) = deliveries()
    assert row.next_attempt_at == later
    assert send_all(now=opens + timedelta(minutes=5)) == {}
    assert posts(slack, slack.dm_channel(user)) == []
    assert send_all(now=later + timedelta(minutes=1)) == {"sent": 1}
    assert len(posts(slack, slack.dm_channel(user))) == 1


def test_survey_dms_follow_an_earlier_opening_but_the_slack_pages_still_wait_for_the_end(make, organizer, token,
                                                                                          api, slack):
    """The opening moves earlier, to before the event's end: invitations from the survey page (e-mail
    and Slack) go at the new opening; the Slack page's survey DM, planned for the later of the end and
    the opening, now waits for the end."""
    start = (now_utc() - timedelta(hours=1)).replace(second=0, microsecond=0)
    event = make.event(organizer, starts_at=start, ends_at=start + timedelta(hours=4), now=start - timedelta(days=7))
    opens = event.ends_at + timedelta(days=1)
    survey = surveys.create_survey(event, organizer, now_utc(), replace(surveys.default_template(), opens_at=opens))
    db.session.commit()
    people = []
    for name in ("early", "late"):
        user = slack.add_user(email=f"{name}@city.naha.lg.jp")["id"]
        reg = make.registration(event, email=f"{name}@city.naha.lg.jp", now=start - timedelta(days=7))
        link(reg, user)
        _check_in(event, reg, organizer)
        people.append(reg)
        if name == "early":  # the Slack page's survey DM, for the first person only
            assert len(api("POST", f"/events/{event.slug}/followups", token,
                           json={"kind": "survey_dm"}).get_json()["deliveries"]) == 1
    with current_app.test_request_context():
        surveys.send_invitations(survey, organizer, now_utc(), link_for=lambda r: f"https://events.example.lg.jp/x/{r.id}")
        db.session.commit()
    def invitations():
        return {(row.kind, row.registration_id): row.next_attempt_at for row in deliveries("")
                if row.kind in ("slack.survey_dm", "mail.survey_invite")}

    rows = invitations()
    assert set(rows.values()) == {opens} and len(rows) == 4  # a DM and a mail each
    earlier = (now_utc() + timedelta(hours=1)).replace(second=0, microsecond=0)
    surveys.save_survey(event, replace(surveys.SurveyData.from_survey(survey), opens_at=earlier), organizer,
                        now_utc())
    db.session.commit()
    early, late = people
    assert invitations() == {
        ("slack.survey_dm", early.id): event.ends_at, ("mail.survey_invite", early.id): earlier,
        ("slack.survey_dm", late.id): earlier, ("mail.survey_invite", late.id): earlier}


def test_survey_dm_without_a_survey_is_refused(make, organizer, token, api, slack):
    event, _at = _past_event(make, organizer)
    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "survey_dm"})
    assert r.status_code == 409 and r.get_json()["error"] == "no_survey"


# ------------------------------------------------------------------ invitations
def test_invite_linked_attendees_to_the_channel(make, organizer, token, api, slack, kyushu):
    event, at = _past_event(make, organizer)
    users = [slack.add_user(email=f"i{i}@city.naha.lg.jp")["id"] for i in range(3)]
    for i, user in enumerate(users):
        link(make.registration(event, email=f"i{i}@city.naha.lg.jp", now=at), user)
    make.registration(event, now=at)  # not linked: not invited
    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "invite"})
    assert r.status_code == 200, r.get_json()
    assert send_all() == {"sent": 1}
    assert set(users) <= slack.members(kyushu)
    (call,) = slack.calls("conversations.invite")
    assert sorted(call.params["users"].split(",")) == sorted(users)
    (row,) = deliveries()
    assert row.external_id == "invited:3 already:0 failed:0"
    # the same people again: nothing new to queue
    assert api("POST", f"/events/{event.slug}/followups", token, json={"kind": "invite"}).get_json()["deliveries"] == []


# ------------------------------------------------------------------ without Slack
def test_without_slack_deliveries_are_held_then_sent_once_configured(make, organizer, token, api, no_slack,
                                                                       fake_slack, monkeypatch):
    fake, base_url = fake_slack
    event = make.event(organizer)
    slack_service.set_event_channel(event, "C0HELD0001", organizer, now_utc())
    db.session.commit()
    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "announcement"})
    assert r.status_code == 200
    send_all()
    (row,) = deliveries()
    assert row.state == "held" and "Slack未設定" in row.last_error
    page = api("GET", f"/events/{event.slug}/deliveries", token).get_json()
    assert page[0]["state"] == "held"

    fake.add_channel("naha", id="C0HELD0001")
    monkeypatch.setitem(current_app.config, "SLACK_BOT_TOKEN", fake.bot_token)
    monkeypatch.setitem(current_app.config, "SLACK_API_URL", base_url)
    monkeypatch.setitem(current_app.config, "SLACK_CHANNEL_INTERVAL", 0)
    assert send_all() == {"sent": 1}
    assert len(posts(fake, "C0HELD0001")) == 1
    assert db.session.scalar(select(Delivery.state)) == "sent"


def test_inviting_more_than_100_people_takes_chunks_of_100(make, organizer, token, api, slack, kyushu):
    from eventsvc.events.service import TicketTypeData

    event, at = _past_event(make, organizer, ticket_types=[TicketTypeData("venue", "会場参加", 200)])
    users = []
    for i in range(150):
        user = slack.add_user(email=f"many{i}@city.naha.lg.jp")["id"]
        link(make.registration(event, email=f"many{i}@city.naha.lg.jp", now=at), user)
        users.append(user)
    assert api("POST", f"/events/{event.slug}/followups", token, json={"kind": "invite"}).status_code == 200
    assert send_all() == {"sent": 1}
    sizes = sorted(len(c.params["users"].split(",")) for c in slack.calls("conversations.invite"))
    assert sizes == [50, 100]
    assert set(users) <= slack.members(kyushu)
