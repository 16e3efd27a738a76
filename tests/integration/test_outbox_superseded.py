"""A registration's mail says what was true when it was caused, and one that no longer applies does
not go out: a mail records which application of the registration it is about and which status it
tells of; when the registration moves on (cancelled, applied for again, promoted, decided…) the mails
still waiting are withdrawn at once (取り消し（申込みの状態が変わったため）), and the worker checks
again right before it sends (a mail it had claimed meanwhile). A cancellation notice always goes."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from eventsvc.core.clock import now_utc
from eventsvc.events.service import TicketTypeData
from eventsvc.extensions import db
from eventsvc.outbox import worker
from eventsvc.outbox.models import ERASED_NOTE, Delivery
from eventsvc.registration import mail, privacy, service
from eventsvc.registration.models import Registration
from tests.integration.auth_support import text_of
from tests.integration.test_outbox_worker import smtp_server  # noqa: F401 - the real SMTP server fixture

LABEL = "取り消し（申込みの状態が変わったため）"
HYBRID = [TicketTypeData("venue", "会場参加", 2), TicketTypeData("online", "オンライン参加", 50)]
ICHIRO = {"name": "デジタル 一郎", "name_kana": "デジタル イチロウ", "email": "ichiro@digital.go.jp", "prefecture": "gov",
          "organization_code": "gov-digital", "organization_name": "", "department": "", "ticket_type": "online",
          "consent_privacy": "y", "consent_rules": "y", "consent_listing": "y", "submit": "申し込む"}


def rows_of(reg_id: int) -> dict[str, Delivery]:
    db.session.expire_all()
    rows = db.session.scalars(select(Delivery).where(Delivery.registration_id == reg_id).order_by(Delivery.id))
    return {d.kind if not d.dedupe_key.endswith("#1") else d.kind + "#1": d for d in rows}


def body(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def test_a_held_confirmation_is_not_sent_once_its_application_was_cancelled_and_applied_for_again(
        app, client, login, make, organizer, token, api, smtp_server):  # noqa: F811
    """The outside tester's case: confirmed online (the mail held: no SMTP), cancelled on the attendee
    page, applied again for the full venue (waitlisted 3rd, the same row): the old confirmation is
    withdrawn, shown so to organizers (list, page, API), never previewed with the new application's
    code, not resent; once SMTP is configured the cancellation and the waitlist notice go, it does not."""
    smtp_url = app.config.pop("SMTP_URL")  # not configured yet: mail is held
    event = make.event(organizer, ticket_types=HYBRID)
    for _ in range(4):  # the venue's two seats and two people waiting
        make.registration(event, ticket_type="venue")
    r = client.post(f"/events/{event.slug}/register", data=ICHIRO)
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    attendee_page = r.headers["Location"]
    reg = db.session.scalar(select(Registration).where(Registration.email == "ichiro@digital.go.jp"))
    old_code = reg.ticket_code
    assert reg.status == "confirmed" and reg.ticket_type.code == "online"
    worker.run_once()
    confirmation = rows_of(reg.id)["mail.confirmation"]
    assert confirmation.state == "held"
    assert (confirmation.registration_application, confirmation.registration_status) == (0, "confirmed")

    assert client.post(attendee_page + "/cancel").status_code == 302
    r = client.post(f"/events/{event.slug}/register", data={**ICHIRO, "ticket_type": "venue"})
    assert r.status_code == 302
    db.session.expire_all()
    reg = db.session.get(Registration, reg.id)
    assert (reg.status, reg.reapplications, service.waitlist_position(reg)) == ("waitlisted", 1, 3)
    new_code = reg.ticket_code
    rows = rows_of(reg.id)
    assert list(rows) == ["mail.confirmation", "mail.cancelled", "mail.waitlisted#1"]
    confirmation = rows["mail.confirmation"]
    # withdrawn at the cancellation, in its transaction: not a failure, not to be sent
    assert confirmation.state == "failed" and confirmation.withdrawn
    assert (confirmation.withdrawn_reason, confirmation.last_error) == ("superseded", mail.SUPERSEDED_CANCELLED)
    assert rows["mail.cancelled"].state == "queued" and not rows["mail.cancelled"].withdrawn
    assert rows["mail.waitlisted#1"].state == "queued"

    # organizers see it withdrawn, with the reason, apart from the failures
    login(organizer)
    listing = client.get(f"/manage/events/{event.slug}/deliveries").get_data(as_text=True)
    row = re.search(rf'deliveries/{confirmation.id}".*?</tr>', listing, re.S).group(0)
    assert f'<span class="badge badge-delivery-superseded">{LABEL}</span>' in row
    assert "申込みがキャンセルされました" in row and "失敗" not in row
    assert re.search(r'id="delivery-count-superseded">1<', listing)
    assert re.search(r'id="delivery-count-failed">0<', listing)
    page = client.get(f"/manage/events/{event.slug}/deliveries/{confirmation.id}")
    text = text_of(page)
    assert f"{LABEL} — 申込みがキャンセルされました" in text and "送信の失敗ではありません" in text
    # no preview made from the new application (its code, its participation type, "confirmed")
    assert "本文は送信する時に作成されます" not in text and "送信しないため、本文は作成していません。" in text
    assert new_code not in text and old_code not in text and "参加が確定しました" not in text
    assert f"/deliveries/{confirmation.id}/retry" not in page.get_data(as_text=True)
    r = client.post(f"/manage/events/{event.slug}/deliveries/{confirmation.id}/retry", follow_redirects=True)
    assert "申込みの状態が変わったため、この配信は再送できません。" in text_of(r)
    # the cancellation notice of the first application is previewed as that application was
    cancelled = text_of(client.get(f"/manage/events/{event.slug}/deliveries/{rows['mail.cancelled'].id}"))
    assert "参加区分: オンライン参加" in cancelled and "会場参加" not in cancelled
    # the API: withdrawn as erased rows are, with the reason
    listed = {d["id"]: d for d in api("get", f"/events/{event.slug}/deliveries", token=token).get_json()}
    assert listed[confirmation.id]["state"] == "failed" and listed[confirmation.id]["withdrawn"] is True
    assert listed[confirmation.id]["withdrawn_reason"] == "superseded"
    assert listed[confirmation.id]["last_error"] == "申込みがキャンセルされました"
    for other in (rows["mail.cancelled"], rows["mail.waitlisted#1"]):
        assert (listed[other.id]["withdrawn"], listed[other.id]["withdrawn_reason"]) == (False, None)
    client.set_cookie("lang", "en")
    assert "Withdrawn (registration changed)" in text_of(client.get(f"/manage/events/{event.slug}/deliveries"))

    # SMTP configured: what still applies goes, the old confirmation does not
    app.config["SMTP_URL"] = smtp_url
    assert worker.run_once()["sent"] == 4 + 2  # the four others' mails; Ichiro's cancellation and waitlist notice
    to_ichiro = [m for m, env in zip(smtp_server.messages, smtp_server.envelopes, strict=True)
                 if env.rcpt_tos == ["ichiro@digital.go.jp"]]
    assert [str(m["Subject"]) for m in to_ichiro] == [f"【キャンセル受付】{event.title}", f"【キャンセル待ち】{event.title}"]
    cancel_text, waitlist_text = (body(m) for m in to_ichiro)
    assert "お申込みのキャンセルを受け付けました" in cancel_text and "参加区分: オンライン参加" in cancel_text
    assert "参加区分: 会場参加" in waitlist_text and "3番目" in waitlist_text and new_code in waitlist_text
    assert not any("参加が確定しました" in body(m) or old_code in body(m) for m in to_ichiro)
    confirmation = rows_of(reg.id)["mail.confirmation"]
    assert confirmation.state == "failed" and confirmation.withdrawn_reason == "superseded"
    assert confirmation.attempts == 0 and confirmation.sent_at is None


def test_a_mail_claimed_when_the_person_cancels_is_stopped_before_data(app, make, smtp_server):  # noqa: F811
    """A worker had claimed the confirmation (it is in the SMTP session) when the person cancelled:
    the cancellation cannot withdraw a claimed row, so the worker asks again right before DATA and
    sends nothing; the cancellation notice goes next."""
    reg = make.registration(make.event())
    (row_id,) = worker.claim("w-slow", now_utc())
    smtp_server.hold_rcpt = release = threading.Event()
    outcome = []

    def send():
        with app.app_context():
            outcome.append(worker.deliver(row_id, "w-slow"))

    thread = threading.Thread(target=send)
    thread.start()
    try:
        assert smtp_server.held.wait(10)  # inside the SMTP session, before DATA
        service.cancel(reg, reg, now_utc())
        db.session.commit()
        assert db.session.get(Delivery, row_id).state == "sending"  # the worker's, left to it
        db.session.rollback()
    finally:
        release.set()
        thread.join(20)
    assert outcome == ["withdrawn"] and smtp_server.messages == []
    row = rows_of(reg.id)["mail.confirmation"]
    assert (row.state, row.withdrawn_reason, row.last_error) == ("failed", "superseded", mail.SUPERSEDED_CANCELLED)
    assert row.send_started_at is None and row.claimed_by == ""
    assert worker.run_once() == {"sent": 1}
    (msg,) = smtp_server.messages
    assert str(msg["Subject"]).startswith("【キャンセル受付】")


def test_the_worker_withdraws_what_no_longer_applies_even_when_nothing_withdrew_it_before(app, make,
                                                                                         smtp_server):  # noqa: F811
    """Rows the cause could not withdraw (written before this check existed, or a change made
    around the service): the worker decides by the registration as it is when it sends — a mail
    already made (tried once, to be tried again) as well as a recipe."""
    event = make.event(ticket_types=[TicketTypeData("venue", "会場参加", 1)])
    first, second = make.registration(event), make.registration(event)
    smtp_server.rcpt_reply = "451 4.3.0 try again later"
    assert worker.run_once() == {"queued": 2}  # both made and stored, to be tried again
    smtp_server.rcpt_reply = None
    db.session.execute(update(Registration).where(Registration.id == first.id).values(status="cancelled"))
    db.session.execute(update(Registration).where(Registration.id == second.id).values(status="confirmed"))
    db.session.execute(update(Delivery).values(next_attempt_at=now_utc()))
    db.session.commit()
    assert worker.run_once() == {"withdrawn": 2}
    assert smtp_server.messages == []
    assert rows_of(first.id)["mail.confirmation"].last_error == mail.SUPERSEDED_CANCELLED
    assert rows_of(second.id)["mail.waitlisted"].last_error == mail.SUPERSEDED_STATUS


def test_which_mails_still_go_when_the_registration_moves_on(make, organizer):
    now = now_utc()
    event = make.event(organizer, ticket_types=[TicketTypeData("venue", "会場参加", 1)])
    seated, waiting = make.registration(event), make.registration(event)
    service.resend_link(event, seated.email, now)
    service.message_confirmed(event, organizer, "持ち物", "PCをお持ちください", now)
    db.session.commit()
    service.cancel(seated, seated, now)  # the waiting person moves up
    db.session.commit()
    rows = rows_of(seated.id)
    assert rows["mail.confirmation"].last_error == mail.SUPERSEDED_CANCELLED
    assert rows["mail.message"].last_error == mail.SUPERSEDED_CANCELLED  # for confirmed attendees only
    assert rows["mail.link"].state == rows["mail.cancelled"].state == "queued"  # they still apply
    rows = rows_of(waiting.id)
    assert rows["mail.waitlisted"].withdrawn and rows["mail.waitlisted"].last_error == mail.SUPERSEDED_STATUS
    assert rows["mail.promoted"].state == "queued"

    # a review notice is replaced by the decision
    pending = make.registration(event, status="pending_review")
    service.approve(pending, organizer, now)
    db.session.commit()
    rows = rows_of(pending.id)
    assert rows["mail.pending_review"].withdrawn and rows["mail.waitlisted"].state == "queued"

    # applying again: the earlier application's mails stop, but for its cancellation notice
    service.cancel(pending, pending, now)
    db.session.commit()
    again = service.register(event, service.RegistrationData(
        name="再 申込", name_kana="サイ モウシコミ", email=pending.email, organization_code="472018"), now)[0]
    db.session.commit()
    assert again.id == pending.id and again.status == "pending_review"
    rows = rows_of(pending.id)
    assert rows["mail.waitlisted"].last_error == mail.SUPERSEDED_CANCELLED
    assert rows["mail.cancelled"].state == "queued" and rows["mail.pending_review#1"].state == "queued"


def test_an_offer_is_withdrawn_when_it_expires_and_a_lottery_entry_notice_when_it_is_drawn(make, organizer):
    now = now_utc()
    event = make.event(organizer, ticket_types=[TicketTypeData("venue", "会場参加", 1)])
    service.update_settings(event, organizer, now, promotion_mode="offer", offer_hours=1, questions=[],
                            lottery_at=None, privacy_purpose="")
    first, offered, _next = (make.registration(event) for _ in range(3))
    service.cancel(first, first, now)
    db.session.commit()
    assert rows_of(offered.id)["mail.offer"].state == "queued"
    service.expire_offers(now + timedelta(hours=2))
    db.session.commit()
    rows = rows_of(offered.id)
    assert rows["mail.offer"].withdrawn and rows["mail.offer"].last_error == mail.SUPERSEDED_STATUS
    assert rows["mail.offer_expired"].state == "queued"

    lottery = make.event(organizer, selection="lottery", ticket_types=[TicketTypeData("venue", "会場参加", 1)])
    entries = [make.registration(lottery) for _ in range(2)]
    service.run_lottery(lottery, organizer.email, now)
    db.session.commit()
    for reg in entries:
        rows = rows_of(reg.id)
        assert rows["mail.applied"].withdrawn
        assert ("mail.lottery" if reg.status == "confirmed" else "mail.waitlisted") in rows


def test_a_real_failure_stays_a_failure_but_is_not_resent_once_it_no_longer_applies(client, login, make,
                                                                                    organizer):
    event = make.event(organizer)
    reg = make.registration(event)
    row = rows_of(reg.id)["mail.confirmation"]
    row.state, row.last_error = "failed", "550 5.1.1 no such user"
    db.session.commit()
    service.cancel(reg, reg, now_utc())
    db.session.commit()
    row = rows_of(reg.id)["mail.confirmation"]
    assert row.state == "failed" and not row.withdrawn  # it did fail: the list keeps it among the failures
    login(organizer)
    page = client.get(f"/manage/events/{event.slug}/deliveries/{row.id}")
    text = text_of(page)
    assert "このメールは送信しません（申込みがキャンセルされました）。" in text
    assert f"/deliveries/{row.id}/retry" not in page.get_data(as_text=True) and reg.ticket_code not in text
    r = client.post(f"/manage/events/{event.slug}/deliveries/{row.id}/retry", follow_redirects=True)
    assert "申込みの状態が変わったため、この配信は再送できません。" in text_of(r)
    assert rows_of(reg.id)["mail.confirmation"].state == "failed"


def test_erased_and_superseded_rows_are_counted_and_filtered_apart(client, login, make, organizer, api, token):
    event = make.event(organizer)
    superseded = make.registration(event)
    service.cancel(superseded, superseded, now_utc())
    erased = make.registration(event)
    privacy.erase_registration(erased, now_utc())
    db.session.commit()
    stopped = [d for d in rows_of(erased.id).values() if d.state == "failed"]
    assert stopped and all((d.withdrawn_reason, d.last_error) == ("erased", ERASED_NOTE) for d in stopped)
    confirmation = rows_of(superseded.id)["mail.confirmation"]
    login(organizer)
    html = client.get(f"/manage/events/{event.slug}/deliveries").get_data(as_text=True)
    count = {s: int(n) for s, n in re.findall(r'id="delivery-count-(\w+)">(\d+)<', html)}
    assert (count["withdrawn"], count["superseded"], count["failed"]) == (len(stopped), 1, 0)
    only = client.get(f"/manage/events/{event.slug}/deliveries?state=superseded").get_data(as_text=True)
    assert re.findall(r'deliveries/(\d+)"', only) == [str(confirmation.id)]
    only = client.get(f"/manage/events/{event.slug}/deliveries?state=withdrawn").get_data(as_text=True)
    assert sorted(re.findall(r'deliveries/(\d+)"', only)) == sorted(str(d.id) for d in stopped)
    listed = {d["id"]: d for d in api("get", f"/events/{event.slug}/deliveries", token=token).get_json()}
    assert all(listed[d.id]["withdrawn_reason"] == "erased" and listed[d.id]["withdrawn"] for d in stopped)


def test_upgrading_records_what_earlier_mails_were_about(app, make):
    """Migration 185a7a080d4e: rows written before it get their application (from the dedupe key),
    their status (from the kind) and, when an erasure stopped them, their reason; the worker then
    withdraws an old application's confirmation that was still held."""
    from flask_migrate import downgrade, upgrade

    event = make.event(ticket_types=[TicketTypeData("venue", "会場参加", 1)])
    reg = make.registration(event)
    service.cancel(reg, reg, now_utc())
    db.session.commit()
    again = service.register(event, service.RegistrationData(
        name="比嘉 太郎", name_kana="ヒガ タロウ", email=reg.email, organization_code="472018"), now_utc())[0]
    service.resend_link(event, reg.email, now_utc())
    erased = make.registration(event)
    privacy.erase_registration(erased, now_utc())
    db.session.commit()
    reg_id, erased_id = again.id, erased.id
    db.session.remove()
    downgrade(revision="012bba54b245")
    try:
        # as a cancellation made before left it: the confirmation still held
        with db.engine.begin() as conn:
            deliveries = Delivery.__table__
            conn.execute(update(deliveries).where(deliveries.c.dedupe_key == f"mail.confirmed:{reg_id}")
                         .values(state="held", last_error=""))
    finally:
        upgrade()
    rows = rows_of(reg_id)
    assert {k: (d.registration_application, d.registration_status) for k, d in rows.items()} == {
        "mail.confirmation": (0, "confirmed"), "mail.cancelled": (0, "cancelled"),
        "mail.confirmation#1": (1, "confirmed"), "mail.link#1": (1, None)}
    assert all(d.withdrawn_reason is None for d in rows.values())
    assert all(d.withdrawn_reason == "erased" for d in rows_of(erased_id).values() if d.state == "failed")
    app.config["SMTP_URL"] = "smtp://127.0.0.1:9?timeout=1"  # nothing listens: only withdrawals can finish
    try:
        worker.run_once(periodic=False)
    finally:
        app.config.pop("SMTP_URL")
    old = rows_of(reg_id)["mail.confirmation"]
    assert (old.state, old.withdrawn_reason, old.last_error) == ("failed", "superseded", mail.SUPERSEDED_REAPPLIED)


@pytest.fixture(autouse=True)
def _no_smtp_left(app):
    yield
    app.config.pop("SMTP_URL", None)
