"""Registration rules through the service, on SQLite and PostgreSQL: capacity, waitlist,
promotion exactly once, offers, review, lottery, window, normalisation, duplicates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from eventsvc.core.clock import now_utc
from eventsvc.errors import Conflict, ValidationFailed
from eventsvc.events import service as events
from eventsvc.extensions import db
from eventsvc.outbox import renderers
from eventsvc.outbox.models import Delivery
from eventsvc.registration import lottery, service
from eventsvc.registration.models import Registration


def small_event(make, capacity=2, **kw):
    return make.event(ticket_types=[events.TicketTypeData("venue", "会場参加", capacity),
                                    events.TicketTypeData("online", "オンライン参加", 50)], **kw)


def mails(reg_id=None, kind=None):
    q = select(Delivery).order_by(Delivery.id)
    if reg_id is not None:
        q = q.where(Delivery.registration_id == reg_id)
    if kind is not None:
        q = q.where(Delivery.kind == kind)
    return list(db.session.scalars(q))


def message(delivery) -> dict:
    """The mail as the worker will send it (rows hold a recipe until then)."""
    return renderers.resolve(delivery)


def data(email, **kw):
    return service.RegistrationData(name=kw.pop("name", "比嘉 太郎"), name_kana=kw.pop("name_kana", "ひが たろう"),
                                    email=email, organization_code=kw.pop("organization_code", "472018"), **kw)


def test_first_come_confirms_until_full_then_waitlists_in_order(make):
    e = small_event(make)
    regs = [make.registration(e, ticket_type="venue") for _ in range(4)]
    assert [r.status for r in regs] == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    assert [service.waitlist_position(r) for r in regs] == [None, None, 1, 2]
    assert events.capacity_left(e) == {"venue": 0, "online": 50}
    assert [m.kind for m in mails()] == ["mail.confirmation"] * 2 + ["mail.waitlisted"] * 2
    confirmation = mails(regs[0].id)[0]
    names = [a["filename"] for a in message(confirmation)["attachments"]]
    assert names == [f"ticket-{regs[0].ticket_code}.png", f"{e.slug}.ics"]
    assert regs[0].ticket_code in message(confirmation)["text"]
    assert "/my/" in message(confirmation)["text"]


def test_every_registration_gets_a_ticket_at_once_that_admits_only_when_confirmed(make):
    e = small_event(make, capacity=1)
    a, b = make.registration(e), make.registration(e)
    assert a.ticket_code.startswith("T1-") and b.ticket_code.startswith("T1-")
    assert a.admits and not b.admits
    code = b.ticket_code
    service.cancel(a, a, now_utc())
    db.session.commit()
    db.session.refresh(b)
    assert b.status == "confirmed" and b.admits and b.ticket_code == code  # keeps the code it had


def test_cancel_promotes_the_head_exactly_once(make):
    e = small_event(make, capacity=1)
    first, second, third = (make.registration(e) for _ in range(3))
    now = now_utc()
    service.cancel(first, first, now)
    db.session.commit()
    # cancelling again (a double click, a retried request) changes nothing
    service.cancel(first, first, now)
    db.session.commit()
    db.session.refresh(second)
    db.session.refresh(third)
    assert (second.status, third.status) == ("confirmed", "waitlisted")
    assert service.waitlist_position(third) == 1
    assert len(mails(second.id, "mail.promoted")) == 1
    assert len(mails(first.id, "mail.cancelled")) == 1
    assert db.session.scalar(select(func.count()).select_from(Registration).where(
        Registration.event_id == e.id, Registration.status == "confirmed")) == 1


def test_who_cancelled_may_apply_again_with_a_new_ticket_and_mails(make):
    e = small_event(make, capacity=1)
    first = service.register(e, data("Taro@City.Naha.lg.jp"), now_utc())[0]
    db.session.commit()
    old_code, old_token_hash, reg_id = first.ticket_code, first.attendee_token_hash, first.id
    service.cancel(first, first, now_utc())
    other = make.registration(e)  # takes the freed seat
    assert other.status == "confirmed"
    again, token = service.register(e, data("taro@city.naha.lg.jp", name="比嘉 太郎（再）"), now_utc())
    db.session.commit()
    # the same row, a new application: behind the one who took the seat, a new ticket and link
    assert again.id == reg_id and again.status == "waitlisted" and service.waitlist_position(again) == 1
    assert again.name == "比嘉 太郎（再）" and again.cancelled_at is None and again.reapplications == 1
    assert again.ticket_code != old_code and again.attendee_token_hash != old_token_hash
    assert service.resolve_attendee_token(token).id == reg_id
    assert [m.kind for m in mails(reg_id)] == ["mail.confirmation", "mail.cancelled", "mail.waitlisted"]
    # cancelled again, then the seat is free: each step has its own mail again
    service.cancel(again, again, now_utc())
    service.cancel(other, other, now_utc())
    db.session.commit()
    third = service.register(e, data("taro@city.naha.lg.jp"), now_utc())[0]
    db.session.commit()
    assert third.status == "confirmed" and third.reapplications == 2
    assert [m.kind for m in mails(reg_id)] == ["mail.confirmation", "mail.cancelled", "mail.waitlisted",
                                               "mail.cancelled", "mail.confirmation"]
    # while the application stands, the address is taken
    with pytest.raises(Conflict) as err:
        service.register(e, data("taro@city.naha.lg.jp"), now_utc())
    assert err.value.code == "already_registered"
    db.session.rollback()


def test_a_rejected_application_cannot_be_sent_again(make, organizer):
    e = small_event(make, org=organizer)
    reg = service.register(e, data("someone@example.com"), now_utc())[0]
    assert reg.status == "pending_review"
    service.reject(reg, organizer, now_utc())
    db.session.commit()
    with pytest.raises(Conflict) as err:
        service.register(e, data("someone@example.com"), now_utc())
    assert err.value.code == "already_registered"


def test_cancelling_a_waitlisted_person_promotes_nobody(make):
    e = small_event(make, capacity=1)
    _a, b, c = (make.registration(e) for _ in range(3))
    service.cancel(b, b, now_utc())
    db.session.commit()
    db.session.refresh(c)
    assert c.status == "waitlisted" and service.waitlist_position(c) == 1


def _with_capacity(e, venue: int) -> events.EventData:
    d = events.EventData(**{f: getattr(e, f) for f in (
        "title", "starts_at", "ends_at", "summary", "description", "venue_name", "venue_address", "online_url",
        "region", "prefecture_code", "registration_opens_at", "registration_closes_at", "selection",
        "allowed_email_domains")})
    d.ticket_types = [events.TicketTypeData(t.code, t.name, venue if t.code == "venue" else t.capacity)
                      for t in e.ticket_types]
    return d


def test_a_participation_type_in_use_keeps_its_code_and_the_refusal_says_so(make, organizer):
    """Its code is in every registration's type: another code in its row, or under its name, is
    refused as a change of code (the organizer deleted nothing); leaving it out, as a deletion."""
    e = make.event(organizer)
    make.registration(e)  # 会場参加 (venue) in use
    for recode in (lambda t: events.TicketTypeData("hall", t.name, t.capacity),  # in its row, same name
                   lambda t: events.TicketTypeData("hall", "ホール参加", t.capacity)):  # in its row, renamed too
        d = _with_capacity(e, 30)
        d.ticket_types = [recode(t) if t.code == "venue" else t for t in d.ticket_types]
        with pytest.raises(ValidationFailed) as err:
            events.update_event(e, d, organizer, now_utc())
        assert "のコード（venue）は変えられません" in str(err.value.fields["ticket_types"])
        db.session.rollback()
    d = _with_capacity(e, 30)
    d.ticket_types = [t for t in d.ticket_types if t.code != "venue"]
    with pytest.raises(ValidationFailed) as err:
        events.update_event(e, d, organizer, now_utc())
    assert "申込みのある参加区分「会場参加」は削除できません。" in str(err.value.fields["ticket_types"])


def test_raising_the_capacity_moves_the_waitlist_up_before_any_newcomer(make, organizer):
    e = small_event(make, capacity=1, org=organizer)
    regs = [make.registration(e, ticket_type="venue") for _ in range(5)]
    events.update_event(e, _with_capacity(e, 3), organizer, now_utc())
    db.session.commit()
    for r in regs:
        db.session.refresh(r)
    assert [r.status for r in regs] == ["confirmed"] * 3 + ["waitlisted"] * 2
    assert [service.waitlist_position(r) for r in regs[3:]] == [1, 2]
    assert [len(mails(r.id, "mail.promoted")) for r in regs] == [0, 1, 1, 0, 0]
    newcomer = make.registration(e, ticket_type="venue")
    assert newcomer.status == "waitlisted" and service.waitlist_position(newcomer) == 3
    # lowering it again takes no seat away; raising the other type moves nobody here
    events.update_event(e, _with_capacity(e, 1), organizer, now_utc())
    db.session.commit()
    assert [r.status for r in regs] == ["confirmed"] * 3 + ["waitlisted"] * 2
    assert len(mails(kind="mail.promoted")) == 2


def test_raising_the_capacity_in_offer_mode_offers_the_new_seats(make, organizer):
    e = small_event(make, capacity=1, org=organizer)
    service.update_settings(e, organizer, now_utc(), promotion_mode="offer", offer_hours=24, questions=[],
                            lottery_at=None, privacy_purpose="")
    a, b = make.registration(e, ticket_type="venue"), make.registration(e, ticket_type="venue")
    events.update_event(e, _with_capacity(e, 2), organizer, now_utc())
    db.session.commit()
    db.session.refresh(b)
    assert a.status == "confirmed" and b.status == "offered" and b.offer_expires_at is not None


def test_offer_mode_offers_then_expires_and_moves_on(make, organizer):
    e = small_event(make, capacity=1, org=organizer)
    now = now_utc()
    service.update_settings(e, organizer, now, promotion_mode="offer", offer_hours=24, questions=[], lottery_at=None,
                            privacy_purpose="")
    db.session.commit()
    a, b, c = (make.registration(e) for _ in range(3))
    service.cancel(a, a, now)
    db.session.commit()
    db.session.refresh(b)
    assert b.status == "offered" and b.offer_expires_at == now + timedelta(hours=24)
    assert events.capacity_left(e)["venue"] == 0  # the offered seat is held
    # nothing happens before the deadline
    assert service.expire_offers(now + timedelta(hours=23)) == 0
    later = now + timedelta(hours=24, seconds=1)
    assert service.expire_offers(later) == 1
    db.session.commit()
    db.session.refresh(b)
    db.session.refresh(c)
    assert c.status == "offered"
    assert b.status == "waitlisted" and service.waitlist_position(b) == 1
    with pytest.raises(Conflict) as err:
        service.accept_offer(b, later)
    assert err.value.code == "no_offer"
    service.accept_offer(c, later + timedelta(hours=1))
    db.session.commit()
    assert c.status == "confirmed"
    assert [m.kind for m in mails(b.id)] == ["mail.waitlisted", "mail.offer", "mail.offer_expired"]
    assert [m.kind for m in mails(c.id)] == ["mail.waitlisted", "mail.offer", "mail.offer_accepted"]


def test_accepting_after_the_deadline_fails_and_passes_the_seat_on(make, organizer):
    e = small_event(make, capacity=1, org=organizer)
    now = now_utc()
    service.update_settings(e, organizer, now, promotion_mode="offer", offer_hours=1, questions=[], lottery_at=None,
                            privacy_purpose="")
    a, b, c = (make.registration(e) for _ in range(3))
    service.cancel(a, a, now)
    with pytest.raises(Conflict) as err:
        service.accept_offer(b, now + timedelta(hours=2))
    assert err.value.code == "offer_expired"
    db.session.commit()
    assert (b.status, c.status) == ("waitlisted", "offered")


def test_other_domains_wait_for_review_then_approve_or_reject(make, organizer):
    e = small_event(make, capacity=1, org=organizer)
    for email in ("a@lg.jp.evil.com", "b@evil-lg.jp", "c@gmail.com"):
        assert make.registration(e, email=email).status == "pending_review"
    reviewed = make.registration(e, email="d@example.com")
    assert events.capacity_left(e)["venue"] == 1  # review holds no seat
    service.approve(reviewed, organizer, now_utc(), note="ようこそ")
    db.session.commit()
    assert reviewed.status == "confirmed" and reviewed.review_note == "ようこそ"
    other = db.session.scalar(select(Registration).where(Registration.email == "c@gmail.com"))
    service.approve(other, organizer, now_utc())
    assert other.status == "waitlisted" and service.waitlist_position(other) == 1
    spam = db.session.scalar(select(Registration).where(Registration.email == "a@lg.jp.evil.com"))
    service.reject(spam, organizer, now_utc(), note="対象外です")
    db.session.commit()
    assert spam.status == "rejected"
    assert "対象外です" in message(mails(spam.id, "mail.rejected")[0])["text"]
    with pytest.raises(Conflict):
        service.approve(spam, organizer, now_utc())


def test_event_allow_list_widens_admission(make):
    e = make.event(allowed_email_domains=["lg.jp", "go.jp", "ed.jp"])
    assert make.registration(e, email="t@school.ed.jp").status == "confirmed"
    assert make.registration(e, email="t@ed.jp.example.com").status == "pending_review"


def test_national_agency_staff_are_facilitators_by_default(make):
    e = make.event()
    assert make.registration(e, email="a@digital.go.jp", organization_code="gov-digital").facilitator
    assert not make.registration(e).facilitator


def test_normalisation(make):
    e = make.event()
    reg, _ = service.register(e, data("  ＴＡＲＯ.Higa@City.Naha.LG.JP ", name="  比嘉 太郎 ",
                                      name_kana="ﾋｶﾞ ﾀﾛｳ"), now_utc())
    db.session.commit()
    assert reg.email == "taro.higa@city.naha.lg.jp"
    assert reg.name == "比嘉 太郎"
    assert reg.name_kana == "ヒガ タロウ"
    reg2, _ = service.register(e, data("hanako@city.naha.lg.jp", name_kana="ちねん はなこ"), now_utc())
    assert reg2.name_kana == "チネン ハナコ"
    assert reg.organization_name == "沖縄県那覇市"


def test_one_registration_per_normalised_address(make):
    e = make.event()
    make.registration(e, email="taro@city.naha.lg.jp")
    for variant in ("TARO@city.naha.lg.jp", " taro@CITY.NAHA.LG.JP", "ｔａｒｏ@city.naha.lg.jp"):
        with pytest.raises(Conflict) as err:
            service.register(e, data(variant, ticket_type="online"), now_utc())
        assert err.value.code == "already_registered"
        db.session.rollback()
    # not only a check: the database refuses it too
    reg = db.session.scalar(select(Registration))
    clone = Registration(event_id=reg.event_id, ticket_type_id=reg.ticket_type_id, status="confirmed", name="x",
                         name_kana="エックス", email=reg.email, ticket_code="T1-TEST", attendee_token_hash="0" * 64)
    db.session.add(clone)
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_an_address_that_slips_past_the_check_is_still_one_registration(make, monkeypatch):
    """The race the check under the lock cannot see (the same address for two participation
    types at once, each holding its own lock): the insert itself refuses the second one, as
    ``already_registered``, and the transaction goes on usable (no savepoint needed)."""
    e = small_event(make)
    first, _ = service.register(e, data("taro@city.naha.lg.jp"), now_utc())
    real = service._admission_facts

    def blind(event, tt, email, **kwargs):
        facts = real(event, tt, email, **kwargs)
        return (*facts[:4], None, *facts[5:])  # "no registration of this address yet"

    monkeypatch.setattr(service, "_admission_facts", blind)
    with pytest.raises(Conflict) as err:
        service.register(e, data("taro@city.naha.lg.jp", ticket_type="online"), now_utc())
    assert err.value.code == "already_registered" and "email" in err.value.fields
    other, _ = service.register(e, data("hanako@city.naha.lg.jp", name_kana="ちねん はなこ"), now_utc())
    db.session.commit()
    assert sorted(db.session.scalars(select(Registration.email))) == ["hanako@city.naha.lg.jp", "taro@city.naha.lg.jp"]
    assert [m.registration_id for m in mails()] == [first.id, other.id]


def test_same_address_may_register_for_another_event(make):
    a, b = make.event(), make.event()
    make.registration(a, email="taro@city.naha.lg.jp")
    assert make.registration(b, email="taro@city.naha.lg.jp").status == "confirmed"


def test_registration_window_is_enforced(make, organizer):
    now = now_utc()
    cases = {
        "draft": make.event(status="draft"),
        "closed": make.event(status="closed"),
        "cancelled": make.event(status="cancelled"),
        "not yet": make.event(registration_opens_at=now + timedelta(days=1)),
        "over": make.event(registration_closes_at=now - timedelta(minutes=1),
                           registration_opens_at=now - timedelta(days=2)),
    }
    for label, e in cases.items():
        with pytest.raises(Conflict) as err:
            service.register(e, data(f"{label.replace(' ', '')}@city.naha.lg.jp"), now)
        assert err.value.code == "registration_closed", label
        assert err.value.message
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 0


def test_lottery_draw_is_fair_recorded_and_happens_once(make, organizer):
    e = small_event(make, capacity=6, org=organizer, selection="lottery")
    big = [make.registration(e, organization_code="472018") for _ in range(12)]
    small = [make.registration(e, organization_code=code)
             for code in ("472085", "472051", "472077", "473243", "462012")]
    assert {r.status for r in big + small} == {"applied"}
    assert events.capacity_left(e)["venue"] == 6
    draws = service.run_lottery(e, organizer.email, now_utc(), seed="naha-2030")
    db.session.commit()
    venue = next(d for d in draws if d.ticket_type_id == e.ticket_type("venue").id)
    assert venue.seed == "naha-2030"
    assert lottery.verify(venue.record)
    confirmed = [r for r in big + small if r.status == "confirmed"]
    assert len(confirmed) == 6
    # six organisations, six seats: one each
    assert len({r.organization_code for r in confirmed}) == 6
    waiting = sorted((r for r in big + small if r.status == "waitlisted"), key=service.waitlist_position)
    assert [r.id for r in waiting] == venue.record["waitlist"]
    assert [service.waitlist_position(r) for r in waiting] == list(range(1, 12))
    with pytest.raises(Conflict) as err:
        service.run_lottery(e, organizer.email, now_utc())
    assert err.value.code == "lottery_already_drawn"
    # after the draw, a late registration joins the waitlist like first-come
    assert make.registration(e).status == "waitlisted"


def test_lottery_can_be_rechecked_from_the_database(make, organizer):
    e = small_event(make, capacity=3, org=organizer, selection="lottery")
    regs = [make.registration(e, organization_code=c) for c in ("472018", "472018", "472085", "472051", "472018")]
    regs.append(make.registration(e, organization_code=None, organization_name="那覇市・南風原町環境施設組合"))
    draw = next(d for d in service.run_lottery(e, organizer.email, now_utc(), seed="same-seed")
                if d.ticket_type_id == e.ticket_type("venue").id)
    db.session.commit()
    # anyone can rebuild the inputs from the registrations and get the same result from the seed
    applicants = [lottery.Applicant(r.id, r.organization_code or "name:" + r.organization_name) for r in regs]
    again = lottery.draw(applicants, 3, "same-seed")
    assert list(again.won) == draw.record["won"]
    assert {r.id for r in regs if r.status == "confirmed"} == set(again.won)


def test_due_lottery_is_drawn_by_the_worker_pass(make, organizer):
    from eventsvc.outbox import worker

    e = small_event(make, capacity=1, org=organizer, selection="lottery")
    now = now_utc()
    service.update_settings(e, organizer, now, promotion_mode="auto", offer_hours=48, questions=[],
                            lottery_at=now + timedelta(hours=1), privacy_purpose="")
    a, b = make.registration(e), make.registration(e)
    db.session.commit()
    worker.run_once(now=now + timedelta(minutes=59))
    assert service.draws_for(e) == []
    worker.run_once(now=now + timedelta(hours=1, seconds=1))
    assert len(service.draws_for(e)) == 2  # both participation types recorded
    assert sorted([db.session.get(Registration, a.id).status, db.session.get(Registration, b.id).status]) == [
        "confirmed", "waitlisted"]


def test_organizer_moves_someone_up_only_when_a_seat_is_free(make, organizer):
    e = small_event(make, capacity=1, org=organizer)
    a, b = make.registration(e), make.registration(e)
    with pytest.raises(Conflict) as err:
        service.promote(b, organizer, now_utc())
    assert err.value.code == "no_seat_left"
    service.promote(b, organizer, now_utc(), over_capacity=True)
    assert b.status == "confirmed"
    assert a.status == "confirmed"


def test_a_mail_subject_names_the_event_as_titled_when_the_mail_was_made_in_the_registrants_language(make):
    e = small_event(make, capacity=5)
    first, _ = service.register(e, data("first@city.naha.lg.jp"), now_utc())
    english, _ = service.register(e, data("english@city.naha.lg.jp", locale="en"), now_utc())
    old_title = e.title
    e.title = "改題した勉強会"
    db.session.commit()
    later, _ = service.register(e, data("later@city.naha.lg.jp"), now_utc())
    english_later, _ = service.register(e, data("english-later@city.naha.lg.jp", locale="en"), now_utc())
    db.session.commit()
    subjects = [mails(r.id)[0].payload["subject"] for r in (first, english, later, english_later)]
    assert subjects == [f"【参加確定】{old_title}", f"[Confirmed] {old_title}",
                        "【参加確定】改題した勉強会", "[Confirmed] 改題した勉強会"]


def test_an_organizer_confirming_a_lottery_applicant_sends_the_plain_confirmation(make, organizer):
    """A lottery applicant confirmed out of turn was never on a waitlist: no "moved up" mail."""
    e = small_event(make, capacity=1, org=organizer, selection="lottery")
    applicant, waiting = make.registration(e), make.registration(e)
    service.promote(applicant, organizer, now_utc())
    db.session.commit()
    assert applicant.status == "confirmed"
    assert [m.kind for m in mails(applicant.id)] == ["mail.applied", "mail.confirmation"]
    sent = message(mails(applicant.id)[-1])
    assert sent["subject"] == f"【参加確定】{e.title}" and "繰り上" not in sent["subject"] + sent["text"]
    assert "お申込みありがとうございます。参加が確定しました。" in sent["text"]
    service.run_lottery(e, organizer.email, now_utc(), seed="s")  # no seat left: the other one waits
    db.session.commit()
    assert waiting.status == "waitlisted"
    service.promote(waiting, organizer, now_utc(), over_capacity=True)  # from the waitlist: moved up, as it says
    db.session.commit()
    assert [m.kind for m in mails(waiting.id)] == ["mail.applied", "mail.waitlisted", "mail.promoted"]


def test_change_ticket_type_frees_the_old_seat(make):
    e = small_event(make, capacity=1)
    a, b = make.registration(e), make.registration(e)
    service.change_ticket_type(a, "online", now_utc())
    db.session.commit()
    db.session.refresh(b)
    assert a.ticket_type.code == "online" and a.status == "confirmed"
    assert b.status == "confirmed"


def test_questions_are_validated_and_answers_kept(make, organizer):
    e = make.event(org=organizer)
    qs = [service.Question("topic", "single", "関心のあるテーマ", ["窓口BPR", "ウェブサイト"], True),
          service.Question("intro", "long_text", "自己紹介", [], False),
          service.Question("tools", "multiple", "使っているツール", ["Slack", "kintone", "LoGoフォーム"], False)]
    service.update_settings(e, organizer, now_utc(), promotion_mode="auto", offer_hours=48, questions=qs,
                            lottery_at=None, privacy_purpose="運営のためだけに使います。")
    db.session.commit()
    with pytest.raises(ValidationFailed) as err:
        service.register(e, data("q1@city.naha.lg.jp", answers={"topic": "ほか", "unknown": "x"}), now_utc())
    assert set(err.value.fields) == {"answers.topic", "answers.unknown"}
    reg, _ = service.register(e, data("q2@city.naha.lg.jp", answers={
        "topic": "窓口BPR", "intro": "はじめまして\n那覇市です", "tools": ["LoGoフォーム", "Slack"]}), now_utc())
    assert reg.answers == {"topic": "窓口BPR", "intro": "はじめまして\n那覇市です", "tools": ["Slack", "LoGoフォーム"]}


def test_seat_counter_feeds_event_pages(make, client):
    e = small_event(make, capacity=3)
    make.registration(e)
    make.registration(e, status="cancelled")
    page = client.get(f"/events/{e.slug}").get_data(as_text=True)
    assert events.capacity_left(e)["venue"] == 2
    assert "<td>2</td>" in page


def test_message_to_all_confirmed(make, organizer):
    e = small_event(make, capacity=2, org=organizer)
    regs = [make.registration(e) for _ in range(3)]
    n = service.message_confirmed(e, organizer, "持ち物のお知らせ", "ノートPCをお持ちください。", now_utc())
    db.session.commit()
    assert n == 2
    sent = mails(kind="mail.message")
    assert sorted(m.target for m in sent) == sorted(r.email for r in regs[:2])
    assert "ノートPC" in message(sent[0])["text"] and sent[0].payload["reply_to"] == organizer.email
    with pytest.raises(ValidationFailed):
        service.message_confirmed(e, organizer, "", "", now_utc())
