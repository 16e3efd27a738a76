"""Consent to be named in Slack, honoured after the fact too: an attendee who withdraws it, or
deletes their data, disappears from the event report when it is posted again (a chat.update);
our copy of a post that named a deleted person is emptied, keeping only where it was posted."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.outbox.models import Delivery
from eventsvc.registration import privacy
from eventsvc.registration import service as registrations
from tests.integration.privacy_support import check_in, find_in_database, past_event, person
from tests.integration.test_slack_support import posts, region_channel, send_all

pytest_plugins = ["tests.integration.test_slack_support"]  # the slack fixture


def _text(message: dict) -> str:
    return message.get("text", "") + json.dumps(message.get("blocks", []), ensure_ascii=False)


def _report(api, token, event) -> None:
    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "report"})
    assert r.status_code == 200, r.get_json()
    send_all()


def test_withdrawn_consent_and_deletion_take_people_out_of_the_report(
        app, make, organizer, token, api, client, slack, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_DAYS", 0)  # no purge by the worker in between
    event, at = past_event(make, organizer, days_ago=1)
    channel = slack.add_channel("kyushu-okinawa")["id"]
    region_channel("kyushu_okinawa", channel)
    linked = person(make, event, at, "カナリア", slack_user="UKANARIA01")
    named = person(make, event, at, "ツグミ")
    silent = person(make, event, at, "メジロ", consent_slack_mention=False)
    for p in (linked, named, silent):
        check_in(event, p.reg, organizer, device="desk1", at=event.starts_at + timedelta(minutes=5))

    _report(api, token, event)
    (message,) = posts(slack, channel)
    text = _text(message)
    assert "<@UKANARIA01>" in text and named.reg.name in text
    assert silent.reg.name not in text  # never consented: counted, not named

    # the named attendee withdraws consent on their own page; the report is posted again
    link = registrations.link_token(named.reg)
    r = client.post(f"/my/{link}/edit", data={"d-name": named.reg.name, "d-name_kana": named.reg.name_kana,
                                              "d-prefecture": "47", "d-organization_code": "472018",
                                              "d-department": "", "d-q_hitokoto": "", "d-q_kanshin": "窓口",
                                              "d-submit": "保存"})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    _report(api, token, event)
    (message,) = posts(slack, channel)  # the same message, updated in place
    assert named.reg.name not in _text(message) and "<@UKANARIA01>" in _text(message)

    # the linked attendee deletes their data: our copy of every post naming them is emptied
    assert client.post(f"/my/{registrations.link_token(linked.reg)}/delete", data={"confirm": "y"}).status_code == 302
    db.session.expire_all()
    assert find_in_database(linked.canaries) == []
    report = db.session.scalar(select(Delivery).where(Delivery.kind == "slack.report"))
    assert report.payload == privacy.ERASED_PAYLOAD
    assert report.target == channel and report.external_id.startswith(f"{channel}:")  # where it went stays
    # posted again: Slack's copy no longer mentions them either
    _report(api, token, event)
    (message,) = posts(slack, channel)
    assert "UKANARIA01" not in _text(message) and linked.reg.name not in _text(message)
    assert find_in_database(linked.canaries) == []
    assert now_utc() > event.ends_at
