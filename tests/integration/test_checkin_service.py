"""Check-in rules (eventsvc.checkin.service) on SQLite and PostgreSQL: every answer, the nonce,
undo, offline sync with duplicates, counters, kana search, walk-ins, self check-in, staff links."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from eventsvc.checkin import service
from eventsvc.checkin.models import Checkin, CheckinLog, StaffLink
from eventsvc.core.clock import now_utc
from eventsvc.errors import DomainError, ValidationFailed
from eventsvc.events import service as events
from eventsvc.extensions import db
from eventsvc.registration.tickets import make_code


@pytest.fixture
def org(make):
    return make.organizer()


@pytest.fixture
def event(make, org):
    return make.event(org)


@pytest.fixture
def actor(org):
    return service.Actor.organizer(org)


def scan(event, code, actor, now=None, **kw):
    kw.setdefault("device_id", "test-device")
    kw.setdefault("nonce", None)
    kw.setdefault("scanned_at", None)
    kw.setdefault("method", "scanner")
    result = service.check_in(event, code, actor=actor, now=now or now_utc(), **kw)
    db.session.commit()
    return result


def valid_checkins(registration):
    return db.session.scalar(select(func.count()).select_from(Checkin).where(
        Checkin.registration_id == registration.id, Checkin.result == "checked_in", Checkin.undone_at.is_(None)))


# ------------------------------------------------------------------ every answer
def test_confirmed_ticket_is_checked_in_once_then_already(make, event, actor):
    reg = make.registration(event)
    first = scan(event, reg.ticket_code, actor)
    assert first.result == "checked_in" and first.registration.id == reg.id
    assert first.checkin.actor_label == "主催 太郎" and first.checkin.method == "scanner"
    second = scan(event, reg.ticket_code, actor)
    assert second.result == "already_checked_in"
    assert second.checkin.id == first.checkin.id  # when and by whom: the first one
    assert valid_checkins(reg) == 1


def test_the_log_names_each_check_in_row_it_wrote(make, event, actor):
    reg = make.registration(event)
    first = scan(event, reg.ticket_code, actor, nonce="door-1")
    scan(event, reg.ticket_code, actor, nonce="door-2")  # already: no new row
    late = scan(event, reg.ticket_code, actor, nonce="phone-1", offline=True, method="offline")  # a duplicate row
    rows = db.session.scalars(select(Checkin).order_by(Checkin.id)).all()
    assert [(r.result, r.nonce) for r in rows] == [("checked_in", "door-1"), ("duplicate", "phone-1")]
    assert first.checkin.id == rows[0].id and first.checkin.scanned_at == rows[0].scanned_at
    assert late.checkin.id == rows[0].id  # the answer names the valid one
    log = {entry.nonce: entry for entry in db.session.scalars(select(CheckinLog))}
    assert (log["door-1"].checkin_id, log["door-1"].result, log["door-1"].registration_id) == (
        rows[0].id, "checked_in", reg.id)
    # a rescan wrote no row: its line names the admission it found (a retry answers with that one again)
    assert log["door-2"].checkin_id == rows[0].id and log["door-2"].result == "already_checked_in"
    assert (log["phone-1"].checkin_id, log["phone-1"].duplicate) == (rows[1].id, True)
    assert log["door-1"].scanned_at == rows[0].scanned_at and log["door-1"].actor_label == "主催 太郎"


@pytest.mark.parametrize("status", ["cancelled", "pending_review", "rejected"])
def test_not_admitted_says_why(make, event, actor, status):
    reg = make.registration(event, status=status)
    result = scan(event, reg.ticket_code, actor)
    assert (result.result, result.reason) == ("not_admitted", status)
    assert valid_checkins(reg) == 0


def test_waitlisted_is_not_admitted(make, org, actor):
    event = make.event(org, ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    make.registration(event)
    waiting = make.registration(event)
    assert waiting.status == "waitlisted"
    assert (scan(event, waiting.ticket_code, actor).result, waiting.status) == ("not_admitted", "waitlisted")


def test_applied_lottery_ticket_is_not_admitted(make, org, actor):
    event = make.event(org, selection="lottery")
    reg = make.registration(event)
    assert reg.status == "applied"
    result = scan(event, reg.ticket_code, actor)
    assert (result.result, result.reason) == ("not_admitted", "applied")


def test_another_events_ticket_is_wrong_event_and_tells_nothing_about_it(make, event, actor):
    other = make.event(title="別の勉強会")
    theirs = make.registration(other)
    result = scan(event, theirs.ticket_code, actor)
    assert result.result == "wrong_event"
    assert result.registration is None and result.checkin is None
    log = db.session.scalar(select(CheckinLog).where(CheckinLog.event_id == event.id))
    assert log.registration_id is None and log.result == "wrong_event"
    assert log.input_hash == hashlib.sha256(theirs.ticket_code.encode()).hexdigest()[:16]
    assert valid_checkins(theirs) == 0


def test_unknown_codes_are_logged_as_a_short_hash_only(event, actor):
    garbage = "<script>alert(1)</script>\x00" + "x" * 5000
    result = scan(event, garbage, actor)
    assert result.result == "unknown_code" and result.registration is None
    log = db.session.scalar(select(CheckinLog).where(CheckinLog.event_id == event.id))
    assert log.result == "unknown_code" and log.registration_id is None
    assert log.input_hash == hashlib.sha256(garbage.encode()).hexdigest()[:16]
    stored = " ".join(str(getattr(log, c.key)) for c in CheckinLog.__table__.columns)
    assert "script" not in stored and "xxxx" not in stored


def test_thousand_random_codes_admit_nobody(make, event, actor):
    for _ in range(20):
        make.registration(event, commit=False)
    db.session.commit()
    now = now_utc()
    results = [service.check_in(event, make_code(), device_id="d", nonce=None, scanned_at=None, method="scanner",
                                actor=actor, now=now).result for _ in range(1000)]
    db.session.commit()
    assert set(results) == {"unknown_code"}
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 0
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 1000


def test_typed_variants_of_a_code_find_the_ticket(make, event, actor):
    reg = make.registration(event)
    typed = "  " + reg.ticket_code.lower().replace("-", " ") + " "
    assert scan(event, typed, actor).result == "checked_in"
    fullwidth = reg.ticket_code.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-"})
    assert scan(event, fullwidth, actor).result == "already_checked_in"


# ------------------------------------------------------------------ nonce, time, undo
def test_same_nonce_counts_once_and_repeats_the_first_answer(make, event, actor):
    reg = make.registration(event)
    first = scan(event, reg.ticket_code, actor, nonce="n-1")
    again = scan(event, reg.ticket_code, actor, nonce="n-1")
    assert (first.result, first.replayed) == ("checked_in", False)
    assert (again.result, again.replayed) == ("checked_in", True)
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 1
    assert scan(event, reg.ticket_code, actor, nonce="n-2").result == "already_checked_in"


def test_nonce_of_an_unknown_code_replays_too(event, actor):
    scan(event, "nonsense", actor, nonce="n-x")
    assert scan(event, "nonsense", actor, nonce="n-x").replayed
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 1


def test_a_nonce_reused_for_another_ticket_is_another_scan(make, event, actor):
    """The nonce names one scan of one ticket (as pretix scopes it to the position): sent again with
    another ticket it is a new scan, admitted and logged on its own — never that other person's answer."""
    a = make.registration(event, name="比嘉 太郎")
    b = make.registration(event, name="知念 花子")
    first = scan(event, a.ticket_code, actor, nonce="n1", device_id="dev1")
    other = scan(event, b.ticket_code, actor, nonce="n1", device_id="dev2")
    assert (other.result, other.replayed, other.registration.id) == ("checked_in", False, b.id)
    assert other.checkin.id != first.checkin.id
    assert valid_checkins(a) == valid_checkins(b) == 1
    logs = db.session.scalars(select(CheckinLog).order_by(CheckinLog.id)).all()
    assert [(log.registration_id, log.result, log.nonce, log.device_id) for log in logs] == [
        (a.id, "checked_in", "n1", "dev1"), (b.id, "checked_in", "n1", "dev2")]
    # each retry is told its own ticket's first answer, and changes nothing
    again_b = scan(event, b.ticket_code, actor, nonce="n1", device_id="dev2")
    again_a = scan(event, a.ticket_code, actor, nonce="n1", device_id="dev1")
    assert (again_b.result, again_b.replayed, again_b.registration.id, again_b.checkin.id) == (
        "checked_in", True, b.id, other.checkin.id)
    assert (again_a.result, again_a.replayed, again_a.registration.id, again_a.checkin.id) == (
        "checked_in", True, a.id, first.checkin.id)
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 2
    assert service.counters(event).checked_in == 2


def test_the_same_scan_is_the_same_ticket_however_typed_from_any_device(make, event, actor):
    """Same nonce, same ticket: a retry, even typed another way, picked by name, or sent by another
    path or device (the device is not part of the key: retries may carry another device_id or none)."""
    reg = make.registration(event)
    first = scan(event, reg.ticket_code, actor, nonce="n1", device_id="tablet-1")
    typed = "  " + reg.ticket_code.lower().replace("-", " ") + " "
    for again in (scan(event, typed, actor, nonce="n1", device_id="tablet-1"),
                  scan(event, reg.ticket_code, actor, nonce="n1", device_id=""),
                  scan(event, reg.ticket_code, actor, nonce="n1", device_id="phone-9", offline=True, method="offline"),
                  scan(event, None, actor, nonce="n1", registration_id=reg.id, method="search")):
        assert (again.result, again.replayed, again.checkin.id) == ("checked_in", True, first.checkin.id)
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 1
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 1  # no duplicate from the offline retry


def test_a_nonce_reused_for_codes_that_match_nothing(make, event, actor):
    """Input that names no ticket of the event is the same scan when it is the same canonical code
    (else the same input); other input with that nonce is another scan — and so is a real ticket."""
    other_events = make.registration(make.event(title="別の勉強会"))
    nowhere = make_code()
    assert scan(event, nowhere, actor, nonce="n-x").result == "unknown_code"
    assert scan(event, nowhere.lower().replace("-", ""), actor, nonce="n-x").replayed  # the same code, typed
    assert not scan(event, "nonsense", actor, nonce="n-x").replayed
    assert scan(event, "nonsense", actor, nonce="n-x").replayed
    wrong = scan(event, other_events.ticket_code, actor, nonce="n-x")
    assert (wrong.result, wrong.replayed) == ("wrong_event", False)
    assert scan(event, other_events.ticket_code, actor, nonce="n-x").replayed
    reg = make.registration(event)
    assert (scan(event, reg.ticket_code, actor, nonce="n-x").result, valid_checkins(reg)) == ("checked_in", 1)
    logs = db.session.scalars(select(CheckinLog).order_by(CheckinLog.id)).all()
    assert [log.result for log in logs] == ["unknown_code", "unknown_code", "wrong_event", "checked_in"]
    assert logs[0].input_hash == hashlib.sha256(nowhere.encode()).hexdigest()[:16]  # the canonical code's hash


def test_a_replay_after_undo_repeats_the_first_answer_with_its_time(make, event, actor, org):
    """A retry is told the answer it missed — the check-in that answer named, with its time — even
    after an undo; it never admits again (the undo stands) and never says "already" without a time."""
    reg = make.registration(event)
    now = now_utc()
    admitted = scan(event, reg.ticket_code, actor, now=now - timedelta(minutes=30), nonce="n1")
    rescan = scan(event, reg.ticket_code, actor, now=now - timedelta(minutes=20), nonce="n2")
    assert rescan.result == "already_checked_in" and rescan.checkin.id == admitted.checkin.id
    service.undo_checkin(event, reg.id, actor=actor, now=now - timedelta(minutes=10))
    db.session.commit()
    for nonce, result in (("n1", "checked_in"), ("n2", "already_checked_in")):
        again = scan(event, reg.ticket_code, actor, now=now, nonce=nonce)
        assert (again.result, again.replayed) == (result, True)
        assert again.checkin.id == admitted.checkin.id
        assert again.checkin.scanned_at == now - timedelta(minutes=30) and again.checkin.actor_label == "主催 太郎"
    assert valid_checkins(reg) == 0  # the undo stands
    # admitted again later by someone else: the old scans' retries still tell their own answer
    link, _token = service.create_staff_link(event, "受付2", expires_at=now + timedelta(hours=1), created_by=org, now=now)
    readmitted = scan(event, reg.ticket_code, service.Actor.staff(link), now=now, nonce="n3")
    assert readmitted.result == "checked_in"
    again = scan(event, reg.ticket_code, actor, now=now, nonce="n2")
    assert again.checkin.id == admitted.checkin.id and again.checkin.actor_label == "主催 太郎"
    assert valid_checkins(reg) == 1


def test_overlong_nonce_is_refused(make, event, actor):
    with pytest.raises(ValidationFailed):
        scan(event, make.registration(event).ticket_code, actor, nonce="n" * 65)


def test_device_time_is_kept_but_a_future_clock_is_not_trusted(make, event, actor):
    now = now_utc()
    a, b = make.registration(event), make.registration(event)
    earlier = now - timedelta(minutes=20)
    assert scan(event, a.ticket_code, actor, now=now, scanned_at=earlier).checkin.scanned_at == earlier
    future = now + timedelta(hours=3)
    c = scan(event, b.ticket_code, actor, now=now, scanned_at=future).checkin
    assert c.scanned_at == now and c.received_at == now


def test_undo_then_check_in_again(make, event, actor):
    reg = make.registration(event)
    scan(event, reg.ticket_code, actor)
    undone = service.undo_checkin(event, reg.id, actor=actor, now=now_utc())
    db.session.commit()
    assert undone.result == "undone" and undone.checkin.undone_by == actor.label
    assert valid_checkins(reg) == 0
    assert scan(event, reg.ticket_code, actor).result == "checked_in"
    assert valid_checkins(reg) == 1
    with pytest.raises(DomainError) as err:
        service.undo_checkin(make.event(), reg.id, actor=actor, now=now_utc())
    assert err.value.code == "registration_not_found"


def test_undo_of_someone_not_checked_in_is_refused(make, event, actor):
    reg = make.registration(event)
    with pytest.raises(DomainError) as err:
        service.undo_checkin(event, reg.id, actor=actor, now=now_utc())
    assert err.value.code == "not_checked_in"


def test_database_keeps_one_valid_checkin_per_registration(make, event, actor):
    """Below the lock: the partial unique index refuses a second valid check-in."""
    from sqlalchemy.exc import IntegrityError

    reg = make.registration(event)
    scan(event, reg.ticket_code, actor)
    db.session.add(Checkin(event_id=event.id, registration_id=reg.id, result="checked_in", scanned_at=now_utc(),
                           method="scanner"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


# ------------------------------------------------------------------ offline sync
def test_sync_keeps_scan_times_counts_a_resent_batch_once_and_keeps_duplicates(make, event, org):
    a, b, c = make.registration(event), make.registration(event), make.registration(event)
    now = now_utc()
    desk1 = service.Actor.organizer(org)
    # device 2 was online and admitted b at 13:05
    scan(event, b.ticket_code, desk1, now=now - timedelta(minutes=10), nonce="online-b")
    link, _token = service.create_staff_link(event, "受付2", expires_at=now + timedelta(hours=5), created_by=org,
                                             now=now)
    desk2 = service.Actor.staff(link)
    batch = [
        service.QueuedScan(a.ticket_code, "off-1", now - timedelta(minutes=15)),
        service.QueuedScan(b.ticket_code, "off-2", now - timedelta(minutes=5)),  # b again: a duplicate
        service.QueuedScan("garbage", "off-3", now - timedelta(minutes=4)),
        service.QueuedScan(None, "off-4", now - timedelta(minutes=3), registration_id=c.id),  # picked by name
    ]
    results = service.sync(event, batch, device_id="phone-2", actor=desk2, now=now)
    db.session.commit()
    assert [r.result for r in results] == ["checked_in", "already_checked_in", "unknown_code", "checked_in"]
    assert results[1].duplicate and results[1].checkin.nonce == "online-b"
    rows = db.session.scalars(select(Checkin).order_by(Checkin.id)).all()
    assert [(r.registration_id, r.result) for r in rows] == [
        (b.id, "checked_in"), (a.id, "checked_in"), (b.id, "duplicate"), (c.id, "checked_in")]
    assert rows[1].scanned_at == now - timedelta(minutes=15) and rows[1].received_at == now
    assert rows[1].actor_label == "受付2" and rows[1].device_id == "phone-2" and rows[1].method == "offline"

    # the answer was lost and the device sends the same batch again: nothing changes
    again = service.sync(event, batch, device_id="phone-2", actor=desk2, now=now + timedelta(minutes=1))
    db.session.commit()
    assert all(r.replayed for r in again)
    assert [r.result for r in again] == [r.result for r in results]
    # the duplicate's replay names the admission it came second to, as the first answer did
    assert again[1].duplicate and again[1].checkin.nonce == "online-b"
    assert [r.checkin.id if r.checkin else None for r in again] == [
        r.checkin.id if r.checkin else None for r in results]
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 4
    assert service.counters(event).duplicates == 1
    assert [d.registration_id for d in service.duplicates(event)] == [b.id]


def test_scans_a_device_refused_offline_are_logged_never_admitted(make, event, org):
    """The device turned these people away while offline: the log keeps each with its real time
    and the device's answer; nobody is let in behind the desk's back, and a resent batch counts once."""
    cancelled = make.registration(event, status="cancelled")
    promoted = make.registration(event)  # the device's snapshot still had them on the waitlist
    other = make.registration(make.event(org))
    now = now_utc()
    desk = service.Actor.organizer(org)
    batch = [
        service.QueuedScan(cancelled.ticket_code, "r-1", now - timedelta(minutes=9), admitted_locally=False,
                           refused_locally="not_admitted"),
        service.QueuedScan("T1-NOPE-NOPE", "r-2", now - timedelta(minutes=8), admitted_locally=False,
                           refused_locally="unknown_code"),
        service.QueuedScan(other.ticket_code, "r-3", now - timedelta(minutes=7), admitted_locally=False,
                           refused_locally="unknown_code"),
        service.QueuedScan(promoted.ticket_code, "r-4", now - timedelta(minutes=6), admitted_locally=False,
                           refused_locally="not_admitted"),
    ]
    first = service.sync(event, batch, device_id="tablet-3", actor=desk, now=now)
    db.session.commit()
    assert [(r.result, r.reason, r.admissible_now) for r in first] == [
        ("refused_offline", "not_admitted", False), ("refused_offline", "unknown_code", False),
        ("refused_offline", "unknown_code", False), ("refused_offline", "not_admitted", True)]
    assert first[0].registration.id == cancelled.id and first[3].registration.id == promoted.id
    assert first[2].registration is None  # another event's ticket tells nothing about it
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 0
    logs = {log.nonce: log for log in db.session.scalars(select(CheckinLog))}
    assert {n: (log.result, log.reason, log.registration_id, log.method, log.device_id)
            for n, log in logs.items()} == {
        "r-1": ("refused_offline", "not_admitted", cancelled.id, "offline", "tablet-3"),
        "r-2": ("refused_offline", "unknown_code", None, "offline", "tablet-3"),
        "r-3": ("refused_offline", "unknown_code", None, "offline", "tablet-3"),
        "r-4": ("refused_offline", "not_admitted", promoted.id, "offline", "tablet-3")}
    assert logs["r-1"].scanned_at == batch[0].scanned_at and logs["r-1"].received_at == now
    assert len(logs["r-2"].input_hash) == 16 and logs["r-3"].input_hash  # only hashes of what matched nothing

    again = service.sync(event, batch, device_id="tablet-3", actor=desk, now=now + timedelta(minutes=1))
    db.session.commit()
    assert [(r.result, r.replayed) for r in again] == [("refused_offline", True)] * 4
    assert again[3].admissible_now is True
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 4
    # the one who may come in now is admitted by a fresh scan, as usual
    assert scan(event, promoted.ticket_code, desk).result == "checked_in"


def test_sync_treats_a_nonce_reused_for_another_ticket_as_another_scan(make, event, org):
    """Offline, as online: a nonce already used for one ticket, sent with another, is that other
    ticket's own scan (admitted, refused or kept as a duplicate); a resent batch still counts once."""
    a, b, c = make.registration(event), make.registration(event), make.registration(event, status="cancelled")
    now = now_utc()
    desk = service.Actor.organizer(org)
    assert scan(event, a.ticket_code, desk, now=now - timedelta(minutes=20), nonce="dup").result == "checked_in"
    batch = [
        service.QueuedScan(b.ticket_code, "dup", now - timedelta(minutes=9)),
        service.QueuedScan(a.ticket_code, "dup", now - timedelta(minutes=8)),  # the same scan as the online one
        service.QueuedScan(c.ticket_code, "dup", now - timedelta(minutes=7), admitted_locally=False,
                           refused_locally="not_admitted"),
        service.QueuedScan(a.ticket_code, "a-2", now - timedelta(minutes=6)),  # a second device admitted a too
    ]
    results = service.sync(event, batch, device_id="phone-2", actor=desk, now=now)
    db.session.commit()
    assert [(r.result, r.replayed, r.registration.id) for r in results] == [
        ("checked_in", False, b.id), ("checked_in", True, a.id), ("refused_offline", False, c.id),
        ("already_checked_in", False, a.id)]
    assert valid_checkins(b) == 1
    logs = db.session.scalars(select(CheckinLog).where(CheckinLog.nonce == "dup").order_by(CheckinLog.id)).all()
    assert [(log.registration_id, log.result) for log in logs] == [
        (a.id, "checked_in"), (b.id, "checked_in"), (c.id, "refused_offline")]
    again = service.sync(event, batch, device_id="phone-2", actor=desk, now=now + timedelta(minutes=1))
    db.session.commit()
    assert [(r.result, r.replayed, r.registration.id) for r in again] == [
        (r.result, True, r.registration.id) for r in results]
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 4  # the three "dup" scans and a-2
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 3  # a, b, and a's duplicate


def test_a_refusal_must_say_what_the_device_answered(event, actor):
    with pytest.raises(ValidationFailed):
        service.sync(event, [service.QueuedScan("x", "n1", now_utc(), refused_locally="checked_in")],
                     device_id="d", actor=actor, now=now_utc())


def test_sync_refuses_oversized_batches(event, actor):
    scans = [service.QueuedScan("x", f"n{i}", now_utc()) for i in range(service.MAX_SYNC + 1)]
    with pytest.raises(ValidationFailed):
        service.sync(event, scans, device_id="d", actor=actor, now=now_utc())


# ------------------------------------------------------------------ what the desk shows
def test_counters_per_participation_type(make, event, actor):
    v1, v2 = make.registration(event, ticket_type="venue"), make.registration(event, ticket_type="venue")
    o1 = make.registration(event, ticket_type="online")
    make.registration(event, status="cancelled")
    scan(event, v1.ticket_code, actor)
    scan(event, o1.ticket_code, actor)
    c = service.counters(event)
    assert [(t.code, t.checked_in, t.expected) for t in c.types] == [("venue", 1, 2), ("online", 1, 1)]
    assert (c.checked_in, c.expected) == (2, 3)
    service.undo_checkin(event, v1.id, actor=actor, now=now_utc())
    assert service.counters(event).checked_in == 1
    del v2


@pytest.mark.parametrize("query", ["やまだ", "ヤマダ", "ﾔﾏﾀﾞ", "山田", "yamada", "やまだ　はなこ", "ハナコ"])
def test_search_by_kanji_or_any_kana(make, event, query):
    make.registration(event, name="山田 花子", name_kana="ヤマダ ハナコ")
    make.registration(event, name="Taro YAMADA", name_kana="ヤマダ タロウ")
    make.registration(event, name="比嘉 太郎", name_kana="ヒガ タロウ")
    names = [a.registration.name for a in service.search(event, query)]
    assert names and "比嘉 太郎" not in names
    if query in ("山田", "やまだ　はなこ", "ハナコ"):
        assert names == ["山田 花子"]


def test_search_puts_confirmed_first_and_never_shows_other_events(make, event):
    make.registration(make.event(), name="山田 他所", name_kana="ヤマダ ヨソ")
    make.registration(event, name="山田 取消", name_kana="ヤマダ アキ", status="cancelled")
    make.registration(event, name="山田 確定", name_kana="ヤマダ ワカ")
    assert [a.registration.name for a in service.search(event, "やまだ")] == ["山田 確定", "山田 取消"]
    assert service.search(event, "") == [] and service.search(event, "\x00") == []


def test_team_lookup_hook_names_teams(make, event, actor):
    a, b = make.registration(event), make.registration(event)

    def lookup(ev, ids):
        assert ev.id == event.id
        return {a.id: "チーム3"}

    service.register_team_lookup(lookup)
    try:
        teams = {x.registration.id: x.team for x in service.attendees(event)}
        assert teams == {a.id: "チーム3", b.id: None}
    finally:
        service._team_lookups.remove(lookup)
    assert all(x.team is None for x in service.attendees(event))


def test_snapshot_carries_hashes_not_codes(make, event, actor):
    reg = make.registration(event)
    make.registration(event, status="cancelled")
    make.registration(make.event())  # another event's
    scan(event, reg.ticket_code, actor)
    snap = service.snapshot(event)
    assert len(snap) == 2
    entry = next(e for e in snap if e["id"] == reg.id)
    assert entry["h"] == hashlib.sha256(reg.ticket_code.encode()).hexdigest()
    assert entry["checked_in_at"] and entry["checked_in_by"] == "主催 太郎"
    assert reg.ticket_code not in repr(snap) and reg.email not in repr(snap)
    assert {e["status"] for e in snap} == {"confirmed", "cancelled"}


# ------------------------------------------------------------------ walk-ins
def walk_in_data(**kw):
    data = dict(name="飛込 太郎", name_kana="とびこみ たろう", email="tobi@city.naha.lg.jp", ticket_type="venue",
                organization_name="那覇市", consent_privacy=True)
    data.update(kw)
    return service.WalkIn(**data)


def test_walk_in_registers_confirmed_and_checks_in(event, actor):
    from eventsvc.outbox.models import Delivery

    result = service.walk_in(event, walk_in_data(), actor=actor, now=now_utc())
    db.session.commit()
    assert result.result == "checked_in" and result.checkin.method == "walkin"
    reg = result.registration
    assert (reg.status, reg.name_kana, reg.email) == ("confirmed", "トビコミ タロウ", "tobi@city.naha.lg.jp")
    kinds = db.session.scalars(select(Delivery.kind).where(Delivery.registration_id == reg.id)).all()
    assert kinds == ["mail.confirmation"]  # the ticket and the attendee's link, by e-mail
    assert (result.walk_in.was, result.walk_in.token is not None, result.walk_in.overridden) == (None, True, False)
    # the same person again: their (confirmed) registration is found and answers as a rescan
    again = service.walk_in(event, walk_in_data(), actor=actor, now=now_utc())
    assert (again.result, again.registration.id, again.walk_in.was) == ("already_checked_in", reg.id, "confirmed")


def test_walk_in_respects_capacity_and_only_organizers_override(make, org, event):
    full = make.event(org, ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    make.registration(full)
    link, _ = service.create_staff_link(full, "受付1", expires_at=now_utc() + timedelta(hours=2), created_by=org,
                                        now=now_utc())
    staff = service.Actor.staff(link)
    with pytest.raises(DomainError) as err:
        service.walk_in(full, walk_in_data(), actor=staff, now=now_utc())
    assert err.value.code == "capacity_full"
    db.session.rollback()
    with pytest.raises(DomainError) as err:
        service.walk_in(full, walk_in_data(), actor=staff, now=now_utc(), override=True)
    assert err.value.code == "override_not_allowed"
    db.session.rollback()
    result = service.walk_in(full, walk_in_data(), actor=service.Actor.organizer(org), now=now_utc(), override=True)
    assert result.result == "checked_in"


def test_walk_in_outside_the_allow_list_needs_an_organizer(make, org, event):
    staff = service.Actor.staff(service.create_staff_link(event, "受付1", expires_at=now_utc() + timedelta(hours=1),
                                                          created_by=org, now=now_utc())[0])
    with pytest.raises(DomainError) as err:
        service.walk_in(event, walk_in_data(email="someone@example.com"), actor=staff, now=now_utc())
    assert err.value.code == "needs_review"


def test_walk_in_validates_like_registration(event, actor):
    with pytest.raises(ValidationFailed) as err:
        service.walk_in(event, walk_in_data(name="", name_kana="abc", email="nope", consent_privacy=False),
                        actor=actor, now=now_utc())
    assert {"name", "name_kana", "email", "consent_privacy"} <= set(err.value.fields)


def test_walk_in_is_not_stopped_by_the_events_required_questions(event, org, actor):
    """The online form asks the event's questions; the desk does not. A required question must not
    keep a person at the door out (the form still requires it)."""
    from eventsvc.registration import service as registrations

    registrations.update_settings(event, org, now_utc(), promotion_mode="auto", offer_hours=48, questions=[
        registrations.Question("motive", "text", "参加の動機", required=True),
        registrations.Question("topic", "single", "関心のあるテーマ", ["窓口", "防災"], required=True),
    ], lottery_at=None, privacy_purpose="")
    db.session.commit()
    result = service.walk_in(event, walk_in_data(), actor=actor, now=now_utc())
    assert result.result == "checked_in" and result.registration.answers == {}
    with pytest.raises(ValidationFailed) as err:  # what is answered is still checked
        registrations.validate(event, registrations.RegistrationData(
            name="比嘉 太郎", name_kana="ひが たろう", email="other@city.naha.lg.jp", answers={"topic": "x"}),
            require_answers=False)
    assert set(err.value.fields) == {"answers.topic"}
    with pytest.raises(ValidationFailed) as err:  # and the form's registration still requires them
        registrations.validate(event, registrations.RegistrationData(
            name="比嘉 太郎", name_kana="ひが たろう", email="other@city.naha.lg.jp"))
    assert {"answers.motive", "answers.topic"} <= set(err.value.fields)


# ------------------------------------------------------------------ walk-ins of someone with a registration
def staff_actor(event, org):
    link, _token = service.create_staff_link(event, "受付1", expires_at=now_utc() + timedelta(hours=2),
                                             created_by=org, now=now_utc())
    db.session.commit()
    return service.Actor.staff(link)


def mails_of(reg):
    from eventsvc.outbox.models import Delivery

    return list(db.session.scalars(select(Delivery).where(Delivery.registration_id == reg.id).order_by(Delivery.id)))


def registrations_of(event):
    from eventsvc.registration.models import Registration

    return db.session.scalar(select(func.count()).select_from(Registration).where(Registration.event_id == event.id))


def refused(event, data, actor, **kw):
    with pytest.raises(DomainError) as err:
        service.walk_in(event, data, actor=actor, now=now_utc(), **kw)
    db.session.rollback()
    return err.value


def set_capacity(event, code, capacity):
    """Change a type's capacity behind the rules' back (raising it through events would move the waitlist up)."""
    from sqlalchemy import update

    from eventsvc.events.models import TicketType

    db.session.execute(update(TicketType).where(TicketType.event_id == event.id, TicketType.code == code)
                       .values(capacity=capacity))
    db.session.commit()


OVERRIDE = "「定員やドメインの確認を超えて受け付ける」にチェックを入れてください。"


def test_walk_in_of_a_confirmed_registration_checks_it_in_as_it_is(make, org, event):
    reg = make.registration(event, email="higa@city.naha.lg.jp")
    before, mails, name = registrations_of(event), len(mails_of(reg)), reg.name
    staff = staff_actor(event, org)
    typed = walk_in_data(name="比嘉 太郎（入力）", email=" HIGA@City.Naha.LG.JP ", ticket_type="online")
    result = service.walk_in(event, typed, actor=staff, now=now_utc())
    db.session.commit()
    assert (result.result, result.registration.id, result.checkin.method) == ("checked_in", reg.id, "walkin")
    assert (result.walk_in.was, result.walk_in.token, result.walk_in.overridden) == ("confirmed", None, False)
    db.session.expire_all()
    assert registrations_of(event) == before and len(mails_of(reg)) == mails  # nothing made, nothing sent
    assert (reg.name, reg.ticket_type.code, reg.reapplications) == (name, "venue", 0)  # as it was registered
    again = service.walk_in(event, typed, actor=staff, now=now_utc())
    db.session.commit()
    assert again.result == "already_checked_in" and again.checkin.id == result.checkin.id
    assert valid_checkins(reg) == 1


def test_walk_in_of_a_cancelled_registration_applies_again_with_a_new_ticket(make, org, actor):
    event = make.event(org, ticket_types=[events.TicketTypeData("venue", "会場参加", 1),
                                          events.TicketTypeData("online", "オンライン参加", 10)])
    reg = make.registration(event, email="higa@city.naha.lg.jp", status="cancelled")
    old_code, old_hash, reg_id = reg.ticket_code, reg.attendee_token_hash, reg.id
    result = service.walk_in(event, walk_in_data(name="比嘉 太郎", email="higa@city.naha.lg.jp"), actor=actor,
                             now=now_utc())
    db.session.commit()
    door = result.walk_in
    assert (result.result, door.was, door.overridden) == ("checked_in", "cancelled", False)
    db.session.expire_all()
    reg = result.registration
    assert (reg.id, reg.status, reg.reapplications, reg.name) == (reg_id, "confirmed", 1, "比嘉 太郎")
    assert reg.cancelled_at is None and reg.confirmed_at is not None
    assert reg.ticket_code != old_code and reg.attendee_token_hash != old_hash
    from eventsvc.registration import service as registrations

    assert registrations.resolve_attendee_token(door.token).id == reg_id
    assert [(m.kind, m.dedupe_key) for m in mails_of(reg)] == [
        ("mail.confirmation", f"mail.confirmed:{reg_id}"), ("mail.cancelled", f"mail.cancelled:{reg_id}"),
        ("mail.confirmation", f"mail.confirmed:{reg_id}#1")]  # the new ticket, by a mail of its own
    assert scan(event, old_code, actor).result == "unknown_code"  # the old ticket admits no more
    assert scan(event, reg.ticket_code, actor).result == "already_checked_in"
    # a cancelled registration comes back on a new walk-in's terms: a full type needs the organizer
    other = make.registration(event, email="chinen@city.naha.lg.jp", status="cancelled")
    staff = staff_actor(event, org)
    err = refused(event, walk_in_data(email=other.email), staff)
    assert err.code == "capacity_full" and err.message.endswith("主催者が操作してください。")
    assert db.session.get(type(other), other.id).status == "cancelled"
    result = service.walk_in(event, walk_in_data(email=other.email), actor=actor, now=now_utc(), override=True)
    assert (result.result, result.registration.id, result.walk_in.overridden) == ("checked_in", other.id, True)


def test_walk_in_confirms_a_waitlisted_person_while_a_seat_is_free(make, org, event):
    full = make.event(org, ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    make.registration(full)
    waiting = make.registration(full, status="waitlisted")
    rank = waiting.queue_rank
    set_capacity(full, "venue", 2)  # a seat is free, and nobody has moved up yet
    now = now_utc()
    result = service.walk_in(full, walk_in_data(email=waiting.email, name="別の名前"), actor=staff_actor(full, org),
                             now=now)
    db.session.commit()
    assert (result.result, result.registration.id, result.walk_in.was) == ("checked_in", waiting.id, "waitlisted")
    db.session.expire_all()
    reg = db.session.get(type(waiting), waiting.id)
    # confirmed as promote() does it: at this time, the rank left as it was, the confirmation mail queued
    assert (reg.status, reg.confirmed_at, reg.queue_rank, reg.name) == ("confirmed", now, rank, waiting.name)
    assert [m.kind for m in mails_of(reg)] == ["mail.waitlisted", "mail.promoted"]
    assert valid_checkins(reg) == 1


def test_walk_in_of_a_waitlisted_person_when_full_needs_an_organizers_override(make, org, actor):
    full = make.event(org, ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    make.registration(full)
    waiting = make.registration(full, status="waitlisted")
    staff = staff_actor(full, org)
    err = refused(full, walk_in_data(email=waiting.email), staff)
    assert (err.code, err.status) == ("capacity_full", 409)
    assert err.message == "この方の申込みはキャンセル待ちで、「会場参加」は満席です。定員を超えて受け付けるには主催者が操作してください。"
    assert refused(full, walk_in_data(email=waiting.email), staff, override=True).code == "override_not_allowed"
    err = refused(full, walk_in_data(email=waiting.email), actor)  # the organizer, without the override
    assert err.code == "capacity_full" and err.message.endswith(OVERRIDE)
    assert db.session.get(type(waiting), waiting.id).status == "waitlisted" and valid_checkins(waiting) == 0
    result = service.walk_in(full, walk_in_data(email=waiting.email), actor=actor, now=now_utc(), override=True)
    db.session.commit()
    assert (result.result, result.registration.status, result.walk_in.overridden) == ("checked_in", "confirmed", True)
    assert service.counters(full).expected == 2  # over the capacity, by the organizer's decision


def test_walk_in_of_an_offered_person_uses_the_seat_held_for_them(make, org):
    from eventsvc.registration import service as registrations

    full = make.event(org, ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    registrations.update_settings(full, org, now_utc(), promotion_mode="offer", offer_hours=48, questions=[],
                                  lottery_at=None, privacy_purpose="")
    first = make.registration(full)
    waiting = make.registration(full, status="waitlisted")
    registrations.cancel(first, first, now_utc())
    db.session.commit()
    assert db.session.get(type(waiting), waiting.id).status == "offered"
    result = service.walk_in(full, walk_in_data(email=waiting.email), actor=staff_actor(full, org), now=now_utc())
    db.session.commit()
    assert (result.result, result.walk_in.was, result.walk_in.overridden) == ("checked_in", "offered", False)
    reg = db.session.get(type(waiting), waiting.id)
    assert (reg.status, reg.offer_expires_at) == ("confirmed", None)
    assert [m.kind for m in mails_of(reg)] == ["mail.waitlisted", "mail.offer", "mail.promoted"]  # moved up: true


def test_walk_in_of_a_lottery_applicant_sends_the_confirmation_a_new_walk_in_gets(make, org):
    """Who applied for a lottery and is admitted at the door was never on a waitlist: they hear what
    a person registered at the door hears (the ticket's confirmation), not "moved up from the waitlist"."""
    from eventsvc.outbox import renderers

    lottery = make.event(org, selection="lottery")
    applicant = make.registration(lottery)
    assert applicant.status == "applied"
    staff = staff_actor(lottery, org)
    result = service.walk_in(lottery, walk_in_data(email=applicant.email), actor=staff, now=now_utc())
    db.session.commit()
    assert (result.result, result.registration.id, result.walk_in.was) == ("checked_in", applicant.id, "applied")
    assert [m.kind for m in mails_of(applicant)] == ["mail.applied", "mail.confirmation"]
    newcomer = service.walk_in(lottery, walk_in_data(email="new@city.naha.lg.jp"), actor=staff, now=now_utc())
    db.session.commit()
    assert newcomer.walk_in.was is None
    (at_door,), (new_one,) = mails_of(applicant)[1:], mails_of(newcomer.registration)
    assert (at_door.kind, at_door.dedupe_key) == (new_one.kind, f"mail.confirmed:{applicant.id}")
    sent, expected = renderers.resolve(at_door), renderers.resolve(new_one)
    assert sent["subject"] == expected["subject"] == f"【参加確定】{lottery.title}"
    assert "お申込みありがとうございます。参加が確定しました。" in sent["text"]
    assert "繰り上" not in sent["subject"] + sent["text"] and "キャンセル待ち" not in sent["text"]
    assert applicant.ticket_code in sent["text"] and len(sent["attachments"]) == 2  # the ticket, as for anyone


def test_walk_in_of_a_registration_pending_review_needs_the_override_unless_the_domain_is_allowed(make, org, actor,
                                                                                                   event):
    pending = make.registration(event, status="pending_review")  # …@example.com
    staff = staff_actor(event, org)
    err = refused(event, walk_in_data(email=pending.email), staff)
    assert (err.code, err.status) == ("needs_review", 409) and err.message.endswith("主催者に受付を依頼してください。")
    err = refused(event, walk_in_data(email=pending.email), actor)
    assert err.code == "needs_review" and err.message.endswith(OVERRIDE)
    assert db.session.get(type(pending), pending.id).status == "pending_review"
    result = service.walk_in(event, walk_in_data(email=pending.email), actor=actor, now=now_utc(), override=True)
    db.session.commit()
    assert (result.result, result.walk_in.was, result.walk_in.overridden) == ("checked_in", "pending_review", True)
    assert [m.kind for m in mails_of(pending)] == ["mail.pending_review", "mail.approved"]  # as approve() sends it
    from eventsvc.outbox import renderers

    approval = renderers.resolve(mails_of(pending)[-1])
    assert "主催者がお申込みを確認し、参加が確定しました。" in approval["text"] and "繰り上" not in approval["text"]
    # once the event allows the domain, staff admit such a registration themselves
    other = make.registration(event, status="pending_review")
    event.allowed_email_domains = [*event.allowed_email_domains, "example.com"]
    db.session.commit()
    result = service.walk_in(event, walk_in_data(email=other.email), actor=staff, now=now_utc())
    assert (result.result, result.registration.status, result.walk_in.overridden) == ("checked_in", "confirmed", False)


def test_walk_in_of_a_rejected_registration_only_with_an_organizers_override(make, org, actor, event):
    rejected = make.registration(event, status="rejected")
    staff = staff_actor(event, org)
    err = refused(event, walk_in_data(email=rejected.email), staff)
    assert (err.code, err.status) == ("registration_rejected", 409)
    assert err.message == "この方の申込みは、参加をお断りしたものです。受け付けるかどうかは主催者に確認してください。"
    assert refused(event, walk_in_data(email=rejected.email), staff, override=True).code == "override_not_allowed"
    err = refused(event, walk_in_data(email=rejected.email), actor)
    assert err.code == "registration_rejected" and err.message.endswith(OVERRIDE)
    assert db.session.get(type(rejected), rejected.id).status == "rejected"
    result = service.walk_in(event, walk_in_data(email=rejected.email), actor=actor, now=now_utc(), override=True)
    db.session.commit()
    assert (result.result, result.registration.id, result.registration.status) == ("checked_in", rejected.id,
                                                                                   "confirmed")
    assert (result.walk_in.was, result.walk_in.overridden) == ("rejected", True)


def test_walk_in_refusals_tell_organizers_to_tick_the_override_and_staff_to_ask(app, make, org, actor):
    from eventsvc.checkin.forms import WalkInForm
    from eventsvc.checkin.walkin import OVERRIDE as LABEL

    full = make.event(org, ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    make.registration(full)
    staff = staff_actor(full, org)
    assert refused(full, walk_in_data(), staff).message == \
        "この参加区分は満席です。定員を超えて受け付けるには主催者が操作してください。"
    assert refused(full, walk_in_data(), actor).message == \
        "この参加区分は満席です。定員を超えて受け付けるには" + OVERRIDE
    assert refused(full, walk_in_data(email="someone@example.com"), staff).message == \
        "このメールアドレスは主催者の確認が必要です。主催者に受付を依頼してください。"
    assert refused(full, walk_in_data(email="someone@example.com"), actor).message == \
        "このメールアドレスは主催者の確認が必要です。受け付けるには" + OVERRIDE
    with app.test_request_context():
        assert LABEL in str(WalkInForm.override.args[0])  # the messages name the box as the desk shows it


# ------------------------------------------------------------------ cancelled, then applied for again
def checkins_of(reg):
    return [(c.result, c.undone_at is not None, c.undone_by) for c in db.session.scalars(
        select(Checkin).where(Checkin.registration_id == reg.id).order_by(Checkin.id))]


def log_of(reg):
    return [(line.result, line.actor_label) for line in db.session.scalars(
        select(CheckinLog).where(CheckinLog.registration_id == reg.id).order_by(CheckinLog.id))]


def test_an_application_after_a_cancellation_starts_not_checked_in(make, event, actor):
    """A check-in belongs to the application: cancelling takes it back, so the new application (the
    same row, a new ticket) is not checked in anywhere the desk looks, and its ticket admits."""
    from eventsvc.registration import service as registrations

    reg = make.registration(event, email="higa@city.naha.lg.jp")
    old_code = reg.ticket_code
    assert scan(event, old_code, actor).result == "checked_in"
    registrations.cancel(reg, reg, now_utc())  # the attendee, before the event starts
    db.session.commit()
    assert valid_checkins(reg) == 0
    again, _token = registrations.register(event, registrations.RegistrationData(
        name="比嘉 太郎", name_kana="ひが たろう", email="higa@city.naha.lg.jp", consent_privacy=True), now_utc())
    db.session.commit()
    assert (again.id, again.status, again.reapplications) == (reg.id, "confirmed", 1) and again.ticket_code != old_code
    # the reception list and name tags (attendees), the name search, the offline snapshot, the counters
    assert [a.checked_in for a in service.attendees(event)] == [False]
    assert [a.checked_in for a in service.search(event, "ひが")] == [False]
    entry = next(e for e in service.snapshot(event) if e["id"] == reg.id)
    assert (entry["checked_in_at"], entry["checked_in_by"]) == (None, None)
    assert (service.counters(event).checked_in, service.counters(event).expected) == (0, 1)
    new = scan(event, again.ticket_code, actor)
    assert new.result == "checked_in" and new.registration.id == reg.id  # not "already_checked_in"
    assert scan(event, old_code, actor).result == "unknown_code"
    # the history stays: the first admission, taken back by the cancellation (本人), then the new one
    assert checkins_of(reg) == [("checked_in", True, "本人"), ("checked_in", False, "")]
    assert log_of(reg) == [("checked_in", "主催 太郎"), ("undone", "本人"), ("checked_in", "主催 太郎")]


def test_an_organizer_cancelling_a_checked_in_registration_takes_the_check_in_back(make, org, event, actor):
    """"Checked in / expected" counts confirmed people: a cancelled one leaves both sides, never only one."""
    from eventsvc.registration import service as registrations

    came, other = make.registration(event), make.registration(event)
    scan(event, came.ticket_code, actor)
    assert (service.counters(event).checked_in, service.counters(event).expected) == (1, 2)
    registrations.cancel(came, org, now_utc(), note="体調不良のため")
    db.session.commit()
    assert (service.counters(event).checked_in, service.counters(event).expected) == (0, 1)
    assert checkins_of(came) == [("checked_in", True, "主催 太郎")]
    assert log_of(came)[-1] == ("undone", "主催 太郎")
    with pytest.raises(DomainError) as err:  # nothing left to undo at the desk
        service.undo_checkin(event, came.id, actor=actor, now=now_utc())
    assert err.value.code == "not_checked_in"
    db.session.rollback()
    registrations.cancel(came, org, now_utc())  # cancelling again changes nothing
    db.session.commit()
    assert len(log_of(came)) == 2
    # back at the door: applies again and is checked in now, with a check-in of its own
    result = service.walk_in(event, walk_in_data(email=came.email), actor=actor, now=now_utc())
    db.session.commit()
    assert (result.result, result.walk_in.was) == ("checked_in", "cancelled")
    assert valid_checkins(came) == 1 and checkins_of(came)[0] == ("checked_in", True, "主催 太郎")
    assert (service.counters(event).checked_in, service.counters(event).expected) == (1, 2)
    del other


def test_a_registration_cancelled_with_its_check_in_still_valid_starts_clean_when_it_applies_again(make, event,
                                                                                                   actor):
    """Cancellations made before cancelling took the check-in back left it valid: such a row is not
    counted as checked in, and a new application of it (here at the door) starts not checked in."""
    from sqlalchemy import update

    from eventsvc.registration.models import Registration

    reg = make.registration(event)
    scan(event, reg.ticket_code, actor)
    db.session.execute(update(Registration).where(Registration.id == reg.id).values(status="cancelled"))
    db.session.commit()
    assert valid_checkins(reg) == 1  # as such a cancellation left it
    assert (service.counters(event).checked_in, service.counters(event).expected) == (0, 0)
    result = service.walk_in(event, walk_in_data(email=reg.email), actor=actor, now=now_utc())
    db.session.commit()
    assert (result.result, result.walk_in.was) == ("checked_in", "cancelled")  # was: already_checked_in
    assert checkins_of(reg) == [("checked_in", True, ""), ("checked_in", False, "")]
    assert [r for r, _label in log_of(reg)] == ["checked_in", "undone", "checked_in"]



def _pending_with_a_valid_check_in(make, org, event, actor):
    """A pending application that still holds a valid check-in, as a cancellation and a new application
    made before d55f84b left it: approved, checked in, cancelled (the check-in kept), then applied for
    again from an address that waits for review. (Migration 012bba54b245 took back the check-ins of
    cancelled and rejected rows only.)"""
    from sqlalchemy import update

    from eventsvc.registration import service as registrations
    from eventsvc.registration.models import Registration

    reg = make.registration(event, status="pending_review")
    registrations.approve(reg, org, now_utc())
    db.session.commit()
    assert scan(event, reg.ticket_code, actor).result == "checked_in"
    db.session.execute(update(Registration).where(Registration.id == reg.id).values(status="pending_review"))
    db.session.commit()
    assert valid_checkins(reg) == 1
    return reg


def test_an_organizer_rejecting_an_application_takes_its_check_in_back(make, org, event, actor):
    """A rejection ends the application as a cancellation does (the cancel listeners run): a rejected
    person is not checked in anywhere (survey attendance, the export's 受付日時, the desk's undo), the
    log says who took the check-in back, and admitted at the door after all they are checked in anew."""
    from eventsvc.outbox.models import Delivery
    from eventsvc.registration import service as registrations
    from eventsvc.surveys import service as surveys

    reg = _pending_with_a_valid_check_in(make, org, event, actor)
    assert surveys.checked_in_ids(event) == {reg.id}
    registrations.reject(reg, org, now_utc(), note="対象外のため")
    db.session.commit()
    assert reg.status == "rejected"
    assert checkins_of(reg) == [("checked_in", True, "主催 太郎")]
    assert log_of(reg) == [("checked_in", "主催 太郎"), ("undone", "主催 太郎")]
    assert surveys.checked_in_ids(event) == set()
    assert dict(service._export_checkin_time(event))["受付日時"] == {}
    assert db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.registration_id == reg.id, Delivery.kind == "mail.rejected")) == 1  # told, as before
    with pytest.raises(DomainError) as err:  # nothing left to undo at the desk
        service.undo_checkin(event, reg.id, actor=actor, now=now_utc())
    assert err.value.code == "not_checked_in"
    db.session.rollback()
    # the organizer admits the person at the door after all: a check-in of its own, not "already checked in"
    result = service.walk_in(event, walk_in_data(email=reg.email), actor=actor, now=now_utc(), override=True)
    db.session.commit()
    assert (result.result, result.walk_in.was, result.walk_in.overridden) == ("checked_in", "rejected", True)
    assert checkins_of(reg) == [("checked_in", True, "主催 太郎"), ("checked_in", False, "")]


def test_a_rejection_without_a_check_in_leaves_the_log_alone(make, org, event):
    from eventsvc.registration import service as registrations

    reg = make.registration(event, status="pending_review")
    registrations.reject(reg, org, now_utc())
    db.session.commit()
    assert (reg.status, checkins_of(reg), log_of(reg)) == ("rejected", [], [])


def test_a_rejection_is_decided_on_the_application_as_it_is_now(make, org, event, actor):
    """The door confirmed and checked in a pending person while the organizer's request, which read the
    application before, rejects it: reject reads the row again under the participation type's lock (the
    door takes the same lock), so the person stays confirmed and checked in, and the organizer is told."""
    from sqlalchemy.orm.attributes import set_committed_value

    from eventsvc.registration import service as registrations

    reg = make.registration(event, status="pending_review")
    result = service.walk_in(event, walk_in_data(email=reg.email), actor=actor, now=now_utc(), override=True)
    db.session.commit()
    assert (result.result, result.walk_in.was) == ("checked_in", "pending_review")
    set_committed_value(reg, "status", "pending_review")  # as read before the door's commit
    with pytest.raises(DomainError) as err:
        registrations.reject(reg, org, now_utc())
    assert err.value.code == "not_pending"
    db.session.rollback()
    assert reg.status == "confirmed" and valid_checkins(reg) == 1


def test_upgrading_takes_back_the_check_ins_that_earlier_cancellations_left_valid(make, event, actor):
    """Migration 012bba54b245: registrations cancelled (or rejected) before cancelling took the check-in
    back kept a valid one, which survey attendance and the export's 受付日時 still counted. Upgrading
    takes it back as a cancellation now does: undone when the registration was cancelled (else at the
    upgrade), by nobody in particular, with an ``undone`` line in the log; everything else is left."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import update

    from eventsvc.registration.models import Registration
    from eventsvc.surveys import service as surveys

    came, left, refused, undone = (make.registration(event) for _ in range(4))
    for reg in (came, left, refused, undone):
        scan(event, reg.ticket_code, actor)
    service.undo_checkin(event, undone.id, actor=actor, now=now_utc())
    scan(event, left.ticket_code, actor, nonce="phone-1", offline=True, method="offline")  # a duplicate row
    cancelled_at = now_utc().replace(microsecond=0) - timedelta(days=3)
    # as a cancellation (and a rejection) made before d55f84b left them: the check-in still valid
    for reg, status, at in ((left, "cancelled", cancelled_at), (refused, "rejected", None),
                            (undone, "cancelled", cancelled_at)):
        db.session.execute(update(Registration).where(Registration.id == reg.id).values(status=status,
                                                                                        cancelled_at=at))
    db.session.commit()
    assert surveys.checked_in_ids(event) == {came.id, left.id, refused.id}
    logged = {reg.id: log_of(reg) for reg in (came, left, refused, undone)}
    db.session.commit()  # the upgrade's writes wait for no read of ours

    before = now_utc()
    downgrade(revision="7c3e5b2a9d41")
    try:
        upgrade(revision="012bba54b245")  # on the filled database
    finally:
        upgrade()
    after = now_utc()

    assert surveys.checked_in_ids(event) == {came.id}
    export = dict(service._export_checkin_time(event))["受付日時"]
    assert set(export) == {came.id}
    assert checkins_of(came) == [("checked_in", False, "")]
    assert checkins_of(left) == [("checked_in", True, ""), ("duplicate", False, "")]
    assert checkins_of(refused) == [("checked_in", True, "")]
    assert checkins_of(undone) == [("checked_in", True, "主催 太郎")]  # undone at the desk: left as it was
    taken = {c.registration_id: c for c in db.session.scalars(select(Checkin).where(
        Checkin.registration_id.in_([left.id, refused.id]), Checkin.result == "checked_in"))}
    assert taken[left.id].undone_at == cancelled_at
    assert before <= taken[refused.id].undone_at <= after  # no cancellation time: the upgrade's
    # the log says so, where it happened (as _take_back writes it); nobody else's log changes
    assert log_of(came) == logged[came.id] and log_of(undone) == logged[undone.id]
    for reg in (left, refused):
        assert log_of(reg) == [*logged[reg.id], ("undone", "")]
        line = db.session.scalars(select(CheckinLog).where(CheckinLog.registration_id == reg.id)
                                  .order_by(CheckinLog.id.desc()).limit(1)).one()
        assert (line.checkin_id, line.event_id, line.method, line.device_id, line.nonce, line.duplicate) == (
            taken[reg.id].id, event.id, "scanner", "", None, False)
        assert line.scanned_at == line.received_at == taken[reg.id].undone_at
    assert [entry.log.result for entry in service.scan_log(event, result="undone")[0]] == ["undone"] * 3


# ------------------------------------------------------------------ self check-in
def test_self_check_in_only_with_the_code_and_only_during_the_event(make, event):
    reg = make.registration(event)
    code = service.attendance_code(event, now_utc()).code
    db.session.commit()
    during = event.starts_at + timedelta(minutes=5)
    with pytest.raises(DomainError) as err:
        service.self_check_in(event, reg, code, now=event.starts_at - timedelta(minutes=1))
    assert err.value.code == "self_checkin_closed"
    with pytest.raises(DomainError) as err:
        service.self_check_in(event, reg, code, now=event.ends_at + timedelta(seconds=1))
    assert err.value.code == "self_checkin_closed"
    with pytest.raises(ValidationFailed):
        service.self_check_in(event, reg, "WRONG1", now=during)
    result = service.self_check_in(event, reg, " " + code.lower() + " ", now=during)
    assert result.result == "checked_in" and result.checkin.method == "self" and result.checkin.actor_label == "本人"
    old = code
    new = service.replace_attendance_code(event, during).code
    assert new != old
    with pytest.raises(ValidationFailed):
        service.self_check_in(event, make.registration(event), old, now=during)


def test_self_check_in_of_a_cancelled_registration_is_not_admitted(make, event):
    reg = make.registration(event, status="cancelled")
    code = service.attendance_code(event, now_utc()).code
    result = service.self_check_in(event, reg, code, now=event.starts_at)
    assert (result.result, result.reason) == ("not_admitted", "cancelled")


# ------------------------------------------------------------------ staff links
def test_staff_link_lives_until_expiry_or_revocation(event, org):
    now = now_utc()
    link, token = service.create_staff_link(event, "受付2", expires_at=now + timedelta(hours=8), created_by=org,
                                            now=now)
    db.session.commit()
    assert token.startswith("stf_") and link.token_hash != token and token not in repr(link.__dict__)
    assert service.resolve_staff_token(token, now).id == link.id
    assert service.resolve_staff_token(token, now + timedelta(hours=8)) is None  # expired
    assert service.resolve_staff_token(token + "x", now) is None
    assert service.resolve_staff_token("evt_" + token[4:], now) is None
    service.revoke_staff_link(event, link.id, now=now + timedelta(hours=1))
    assert service.resolve_staff_token(token, now + timedelta(hours=1)) is None
    assert service.active_staff_link(link.id, event.id, now + timedelta(hours=1)) is None


def test_staff_link_rules(event, org):
    now = now_utc()
    for label, expires, field in [("", now + timedelta(hours=1), "label"), ("受付", now, "expires_at"),
                                  ("受付", now + timedelta(days=31), "expires_at"), ("a" * 51, now + timedelta(hours=1), "label"),
                                  ("受\x00付", now + timedelta(hours=1), "label")]:
        with pytest.raises(ValidationFailed) as err:
            service.create_staff_link(event, label, expires_at=expires, created_by=org, now=now)
        assert field in err.value.fields
    with pytest.raises(DomainError):
        service.revoke_staff_link(event, 12345, now=now)


def test_staff_link_of_another_event_cannot_be_revoked_here(make, event, org):
    other = make.event(org)
    link, _ = service.create_staff_link(other, "受付", expires_at=now_utc() + timedelta(hours=1), created_by=org,
                                        now=now_utc())
    with pytest.raises(DomainError) as err:
        service.revoke_staff_link(event, link.id, now=now_utc())
    assert err.value.code == "staff_link_not_found"
    assert db.session.get(StaffLink, link.id).revoked_at is None
