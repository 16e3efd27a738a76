"""A server process keeps the event a registration read (``registration.reuse``): the next
registrations make no query for it, and still every answer is the one a fresh read gives —
whatever an organizer changed meanwhile, in this process or another."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from eventsvc.core.clock import now_utc
from eventsvc.events import service as events
from eventsvc.events.models import TicketType
from eventsvc.extensions import db
from eventsvc.outbox.models import Delivery
from eventsvc.registration import reuse, service
from eventsvc.registration.models import Registration

FIRST = {"name": "比嘉 太郎", "name_kana": "ひが たろう", "email": "taro@city.naha.lg.jp",
         "organization_code": "472018", "ticket_type": "online"}
NEXT = {**FIRST, "name": "知念 花子", "name_kana": "ちねん はなこ", "email": "hanako@city.naha.lg.jp"}


@pytest.fixture
def event(make, organizer):
    return make.event(org=organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 1),
                                                   events.TicketTypeData("online", "オンライン参加", 10)])


def kept(app):
    from eventsvc.core.kept import Kept

    return app.extensions.setdefault("eventsvc.registration_events", Kept())


def register(api, event, body):
    return api("post", f"/events/{event.slug}/registrations", json=body)


@pytest.fixture
def kept_event(app, api, event):
    """The event after one registration: read, and kept by the server for the next ones."""
    kept(app).forget(event.slug)
    assert register(api, event, FIRST).status_code == 201
    assert event.slug in kept(app)
    return event


def mail_of(registration_id: int) -> str:
    delivery = db.session.scalar(select(Delivery).where(Delivery.registration_id == registration_id))
    return json.dumps(delivery.payload, ensure_ascii=False)


def test_the_next_registrations_use_the_kept_event_and_answer_as_a_fresh_read(app, api, kept_event):
    r = register(api, kept_event, NEXT)
    assert r.status_code == 201 and r.json["status"] == "confirmed"
    reg = db.session.get(Registration, r.json["id"])
    assert reg.ticket_type.code == "online" and reg.organization_name == "沖縄県那覇市"
    assert kept_event.title in mail_of(reg.id)
    assert register(api, kept_event, NEXT).json["error"] == "already_registered"  # decided under the lock


def _close(event):
    event.status = "closed"


def _close_the_window(event):
    event.registration_closes_at = now_utc() - timedelta(minutes=1)


def _unpublish(event):
    event.status = "draft"


def _delete(event):
    db.session.execute(Registration.__table__.delete().where(Registration.event_id == event.id))
    db.session.delete(event)


def _ask_a_question(event):
    service.update_settings(event, None, now_utc(), promotion_mode="auto", offer_hours=48,
                            questions=[service.Question("pc", "single", "ノートPC", ["持参", "なし"], True)],
                            lottery_at=None, privacy_purpose="")


def _admit_only_go_jp(event):
    event.allowed_email_domains = ["go.jp"]


def _make_it_a_lottery(event):
    event.selection = "lottery"


def _remove_the_type(event):
    db.session.execute(TicketType.__table__.delete().where(TicketType.event_id == event.id,
                                                           TicketType.code == "venue"))
    db.session.expire(event)


@pytest.mark.parametrize(("change", "body", "status", "answer"), [
    (_close, NEXT, 409, "registration_closed"),
    (_close_the_window, NEXT, 409, "registration_closed"),
    (_unpublish, NEXT, 404, "event_not_found"),
    (_delete, NEXT, 404, "event_not_found"),
    (_ask_a_question, NEXT, 422, "validation_error"),
    (_admit_only_go_jp, NEXT, 201, "pending_review"),  # the kept event would have confirmed
    (_make_it_a_lottery, NEXT, 201, "applied"),
    (_remove_the_type, {**NEXT, "ticket_type": "venue"}, 422, "validation_error"),
])
def test_a_change_to_the_event_is_seen_by_the_next_registration(app, api, kept_event, change, body, status, answer):
    """Each change makes the kept event's fingerprint differ: the registration is decided on the
    event as it is now, and nothing is written on the old one's say."""
    change(kept_event)
    db.session.commit()
    before = db.session.scalar(select(db.func.count()).select_from(Registration))
    r = register(api, kept_event, body)
    assert r.status_code == status, r.json
    assert (r.json["status"] if status == 201 else r.json["error"]) == answer, r.json
    db.session.rollback()
    after = db.session.scalar(select(db.func.count()).select_from(Registration))
    assert after == before + (1 if status == 201 else 0)


def test_a_registration_refused_on_the_kept_event_is_asked_again_afresh(app, api, make, kept_event, organizer):
    """What the kept event would refuse — a type added since, registration reopened — is
    admitted: a refusal is only ever given by the event as it is."""
    db.session.add(TicketType(event_id=kept_event.id, code="late", name="追加枠", capacity=5, position=9))
    db.session.commit()
    r = register(api, kept_event, {**NEXT, "ticket_type": "late"})
    assert r.status_code == 201, r.json
    events.set_status(kept_event, "closed", organizer, now_utc())
    db.session.commit()
    third = {**NEXT, "email": "jiro@city.naha.lg.jp"}
    assert register(api, kept_event, third).status_code == 409  # read (closed), and kept
    events.set_status(kept_event, "published", organizer, now_utc())
    db.session.commit()
    assert register(api, kept_event, third).status_code == 201


def test_a_renamed_event_is_named_anew_in_the_next_mail(app, api, kept_event):
    kept_event.title = "改名した勉強会"
    db.session.commit()
    r = register(api, kept_event, NEXT)
    assert r.status_code == 201
    assert "改名した勉強会" in mail_of(r.json["id"])


def test_a_resized_type_is_counted_as_it_is(app, api, kept_event):
    """Capacity is always read under the lock; resizing also makes the kept event read anew."""
    venue = db.session.scalar(select(TicketType).where(TicketType.event_id == kept_event.id,
                                                       TicketType.code == "venue"))
    venue.capacity = 0
    db.session.commit()
    r = register(api, kept_event, {**NEXT, "ticket_type": "venue"})
    assert r.status_code == 201 and r.json["status"] == "waitlisted"


def test_events_are_kept_briefly_and_few(app, api, make, organizer, monkeypatch):
    """An event is kept for ``reuse.SECONDS`` and at most ``reuse.MAX_EVENTS`` are kept."""
    monkeypatch.setattr(reuse, "MAX_EVENTS", 2)
    made = [make.event(org=organizer, ticket_types=[events.TicketTypeData("online", "オンライン参加", 10)])
            for _ in range(3)]
    for e in made:
        assert register(api, e, FIRST).status_code == 201
    assert made[0].slug not in kept(app) and made[1].slug in kept(app) and made[2].slug in kept(app)
    reads = []
    keep = reuse.keep
    monkeypatch.setattr(reuse, "keep", lambda *a: reads.append(a[0]) or keep(*a))  # after each fresh read
    for seconds, fresh in ((30.0, 1), (0.0, 3)):  # kept for no time: every call reads the event
        monkeypatch.setattr(reuse, "SECONDS", seconds)
        kept(app).clear()
        reads.clear()
        for i in range(3):
            assert register(api, made[2], {**NEXT, "email": f"p{seconds}-{i}@city.naha.lg.jp"}).status_code == 201
        assert len(reads) == fresh, seconds
