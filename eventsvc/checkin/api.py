"""JSON API for check-in (``/api/v1/events/{slug}/checkins…``) and staff links.

Check-in calls accept an organizer token (for events they manage) or an event staff
token (``stf_…``, the token of a staff link: valid for its one event only). Another
event's slug answers 404, whoever asks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal, TypeVar

from flask import request
from pydantic import Field, StrictBool, StrictInt, model_validator
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from .. import database
from ..audit import service as audit
from ..core.clock import now_utc
from ..errors import NotFound
from ..events.models import Event, event_organizers
from ..extensions import db
from ..jsonapi import (
    Input,
    Instant,
    Output,
    Text,
    api,
    operation,
    principal,
    principal_event,
    principal_guard,
    register_auth,
    set_principal_event,
)
from ..web import external_url
from . import present, service
from .models import REFUSALS, StaffLink
from .present import AttendeeOut, CheckinOut, CountersOut, SnapshotOut


def note_staff_use(link: StaffLink, now: datetime) -> None:
    """Note that a staff link was used (its token, or a desk session opened with it), at most once a
    minute: most calls only compare a time they already loaded.

    The note is its own short write transaction, as for organizer tokens (``auth.api``): the
    read that found the link ends first (what it loaded stays loaded), so a request that
    otherwise only reads, or takes its write lock later like a scan, never upgrades a read
    transaction on SQLite; and the note stays even if the request then fails.
    """
    if not service.staff_link_use_due(link, now):
        return
    database.write_on_its_own(db.session(), lambda: service.touch_staff_link(link.id, now))


def resolve_staff(token: str, *, event_slug: str | None = None) -> StaffLink | None:
    """The active staff link behind a bearer token (``stf_…``); its use is noted (:func:`note_staff_use`).
    With ``event_slug``: its event, if that is the one of the slug (``jsonapi.principal_event``)."""
    now = now_utc()
    link = service.resolve_staff_token(token, now)
    if link is not None:
        note_staff_use(link, now)
        if event_slug is not None:
            set_principal_event(event_slug, link.event if link.event.slug == event_slug else None)
    return link


register_auth("staff", resolve_staff, event_aware=True, guard=service.staff_link_guard)

DESK = ["organizer", "staff"]
T = TypeVar("T")
R = TypeVar("R")


_EVENT = select(Event).where(Event.slug == bindparam("slug"))
_ORGANIZERS_EVENT = _EVENT.join(event_organizers, event_organizers.c.event_id == Event.id).where(
    event_organizers.c.organizer_id == bindparam("oid"))


def desk_event(slug: str, who) -> tuple[Event, service.Actor]:
    """The event this caller may run the desk for, and the caller as an actor (else 404)."""
    known, event = principal_event(slug)  # loaded with the caller's token (event_with_principal)
    if isinstance(who, StaffLink):
        if not known:
            event = db.session.get(Event, who.event_id)
        if event is None or event.slug != slug:
            raise NotFound("event_not_found", "イベントが見つかりません。")
        return event, service.Actor.staff(who)
    if not known and who.is_admin:
        event = db.session.scalars(_EVENT, {"slug": slug}).first()
    elif not known:  # one query: the event, if this organizer is one of its organizers
        event = db.session.scalars(_ORGANIZERS_EVENT, {"slug": slug, "oid": who.id}).first()
    if event is None:
        raise NotFound("event_not_found", "イベントが見つかりません。")
    return event, service.Actor.organizer(who)


def read_first() -> None:
    """Before a check-in call: its first transaction only reads (token, event), so on SQLite it
    begins as a plain read, not ``BEGIN IMMEDIATE``; :func:`decide` takes the write lock itself."""
    database.set_write_intent(False)  # the app's teardown restores the request's default


_READ_FIRST = {"api.checkin_post_checkin", "api.checkin_delete_checkin", "api.checkin_post_sync"}


@api.before_request
def _read_first_for_checkins():
    if request.endpoint in _READ_FIRST:
        read_first()


def decide(work: Callable[[], R], tell: Callable[[R], T]) -> T:
    """Run ``work`` (the locked decision and its writes), commit, and ``tell`` its result.

    On SQLite the write lock (``BEGIN IMMEDIATE``) is taken by a write request's first
    query, so what the request read before — the caller's token, the event — is committed
    first, and the answer is built after the commit under a read transaction: the lock is
    held only while the check-in itself is decided and written. On PostgreSQL only the
    registration's row is locked (``FOR UPDATE`` in the service), so all of it runs in
    one transaction (fewer round trips); ``work`` may commit with its last write (the scan's
    ``commit=True``: one round trip less), and ``tell`` then answers from what stays loaded.
    A unique-key race (the same nonce twice at once)
    runs ``work`` again: the second run finds the winner's row and answers from it.
    """
    session = db.session()
    # from here on SQLite: BEGIN IMMEDIATE (see read_first)
    with database.write_after_read(session) as split, database.keep_loaded(session):
        for attempt in (1, 2):
            try:
                result = work()
                told = None if split else tell(result)
                session.commit()
                break
            except IntegrityError:
                session.rollback()
                if attempt == 2:
                    raise
    if split:
        with database.read_only():  # telling the answer needs no write lock
            told = tell(result)
    return told


# ------------------------------------------------------------------ bodies
#: the nonce rule (``service.check_in``), in the OpenAPI document
NONCE = ("Names this scan, so that a retried upload counts once: the same nonce again with the same ticket of "
         "this event (its code however typed, or the same registration_id), from any device, repeats the first "
         "answer as it was (replayed: true, with that answer's checked_in_at even if the check-in was undone "
         "since) and changes nothing. The same nonce with another ticket is another scan, checked in and "
         "logged on its own. Draw a new random value for every scan (the desk uses 128 random bits).")


def _one_target(model):
    if (model.code is None) == (model.registration_id is None):
        raise ValueError("code か registration_id のどちらか一方を指定してください。")
    return model


class CheckinIn(Input):
    #: whatever was scanned or typed; anything that is not a ticket code answers unknown_code
    code: str | None = None
    #: instead of a code: a registration of this event picked by name search
    registration_id: StrictInt | None = None
    device_id: Text(64) = ""
    nonce: Text(64) | None = Field(default=None, description=NONCE)
    scanned_at: Instant | None = None
    method: Literal["camera", "scanner", "search", "offline", "self", "walkin"] = "scanner"

    @model_validator(mode="after")
    def check_target(self):
        return _one_target(self)


class ScanIn(Input):
    code: str | None = None
    registration_id: StrictInt | None = None
    nonce: Text(64) = Field(min_length=1, description=NONCE)
    scanned_at: Instant
    method: Literal["camera", "scanner", "search", "offline", "self", "walkin"] = "offline"
    #: the device let the person in on its own judgement (kept as a duplicate if someone else was first)
    admitted_locally: StrictBool = True
    #: the device turned the person away on its own, with this answer: the scan is only logged
    #: (``refused_offline``), never admitted afterwards
    refused_locally: Literal[REFUSALS] | None = None

    @model_validator(mode="after")
    def check_target(self):
        return _one_target(self)


class SyncIn(Input):
    device_id: Text(64) = ""
    scans: list[ScanIn] = Field(max_length=service.MAX_SYNC)


class SyncOut(Output):
    results: list[CheckinOut]
    counters: CountersOut


class SearchQuery(Input):
    q: Text(100) = ""


class StaffLinkIn(Input):
    label: Text(50)
    expires_at: Instant


class StaffLinkOut(Output):
    id: int
    label: str
    prefix: str
    expires_at: datetime
    revoked_at: datetime | None
    created_at: datetime
    last_used_at: datetime | None
    active: bool


class StaffLinkCreated(StaffLinkOut):
    #: shown once: the link to hand to the staff member, and the bearer token inside it
    url: str
    token: str


def staff_link_out(link: StaffLink, now: datetime) -> StaffLinkOut:
    return StaffLinkOut(id=link.id, label=link.label, prefix=link.prefix, expires_at=link.expires_at,
                        revoked_at=link.revoked_at, created_at=link.created_at, last_used_at=link.last_used_at,
                        active=link.is_active(now))


# ------------------------------------------------------------------ the work (API and desk page alike)
def scan(event: Event, actor: service.Actor, body: CheckinIn, now: datetime, guard=None) -> CheckinOut:
    """``guard``: the condition under which a reused caller may still act (``jsonapi.principal_guard``)."""
    # every scan is already in the check-in log (who, when, device, method): no audit entry per scan
    audit.skip()
    return decide(lambda: service.check_in(
        event, body.code, device_id=body.device_id, nonce=body.nonce, scanned_at=body.scanned_at,
        method=body.method, actor=actor, now=now, registration_id=body.registration_id, commit=True,
        guard=guard),
        lambda result: present.result_out(event, result))


def sync(event: Event, actor: service.Actor, body: SyncIn, now: datetime) -> SyncOut:
    audit.skip()  # as for scan(): the check-in log records each uploaded scan
    scans = [service.QueuedScan(s.code, s.nonce, s.scanned_at, s.method, s.admitted_locally, s.registration_id,
                                s.refused_locally) for s in body.scans]

    return decide(lambda: service.sync(event, scans, device_id=body.device_id, actor=actor, now=now),
                  lambda results: SyncOut(results=[present.result_out(event, r) for r in results],
                                          counters=present.counters_out(service.counters(event))))


def undo(event: Event, actor: service.Actor, registration_id: int, now: datetime) -> CheckinOut:
    return decide(lambda: service.undo_checkin(event, registration_id, actor=actor, now=now),
                  lambda result: present.result_out(event, result))


# ------------------------------------------------------------------ check-in
@operation("/events/<slug>/checkins", "POST", summary="Check a ticket in", tags=["checkin"], body=CheckinIn,
           response=CheckinOut, auth=DESK, event_with_principal=True, reuse_principal=True,
           errors=[401, 404, 415, 422])
def post_checkin(slug: str, body: CheckinIn):
    """Answers 200 with a stable ``result`` whatever was scanned: ``checked_in``, ``already_checked_in``,
    ``unknown_code``, ``not_admitted`` (with ``reason``) or ``wrong_event``. The same ``nonce`` sent again for
    the same ticket repeats the first answer (``replayed: true``) and changes nothing; sent with another ticket,
    it is another scan of that ticket."""
    event, actor = desk_event(slug, principal())
    return scan(event, actor, body, now_utc(), principal_guard())


@operation("/events/<slug>/checkins/<int:registration_id>", "DELETE", summary="Undo a check-in",
           tags=["checkin"], response=CheckinOut, auth=DESK, event_with_principal=True, errors=[401, 404, 409])
def delete_checkin(slug: str, registration_id: int):
    """409 ``not_checked_in`` when the person is not checked in."""
    event, actor = desk_event(slug, principal())
    return undo(event, actor, registration_id, now_utc())


@operation("/events/<slug>/checkins/sync", "POST", summary="Upload scans queued offline", tags=["checkin"],
           body=SyncIn, response=SyncOut, auth=DESK, event_with_principal=True, errors=[401, 404, 415, 422])
def post_sync(slug: str, body: SyncIn):
    """Each scan keeps its own ``scanned_at`` and ``nonce`` (the same rule as a single check-in: the same nonce
    for the same ticket is the same scan): a batch sent twice counts once, and a ticket
    admitted on two devices is stored as a duplicate (``duplicate: true``), never dropped. A scan the device
    turned away (``refused_locally``: what it answered) is only logged, as ``refused_offline``; its answer says
    ``admissible_now: true`` when the ticket admits by now. Results come back in the order of ``scans``."""
    event, actor = desk_event(slug, principal())
    return sync(event, actor, body, now_utc())


@operation("/events/<slug>/checkins/snapshot", "GET", summary="Tickets for offline judging", tags=["checkin"],
           response=SnapshotOut, auth=DESK, event_with_principal=True, errors=[401, 404])
def get_snapshot(slug: str):
    """One entry per ticket: SHA-256 of the code (``h``), name, reading, organisation, participation type,
    status and current check-in. Never the codes themselves."""
    event, _actor = desk_event(slug, principal())
    return present.snapshot_out(event, now_utc())


@operation("/events/<slug>/checkins/counters", "GET", summary="Checked in / expected per participation type",
           tags=["checkin"], response=CountersOut, auth=DESK, event_with_principal=True, errors=[401, 404])
def get_counters(slug: str):
    event, _actor = desk_event(slug, principal())
    return present.counters_out(service.counters(event))


@operation("/events/<slug>/checkins/search", "GET", summary="Find attendees by name or reading",
           tags=["checkin"], query=SearchQuery, response=list[AttendeeOut], auth=DESK, event_with_principal=True, errors=[401, 404, 422])
def get_search(slug: str, query: SearchQuery):
    """Kanji or kana; hiragana, katakana and half-width kana match alike."""
    event, _actor = desk_event(slug, principal())
    return [present.attendee_out(event, a) for a in service.search(event, query.q)]


# ------------------------------------------------------------------ staff links (organizers)
def _managed(slug: str) -> Event:
    who = principal()
    event = db.session.scalar(select(Event).where(Event.slug == slug))
    if event is None or not event.is_managed_by(who):
        raise NotFound("event_not_found", "イベントが見つかりません。")
    return event


class ScanLogQuery(Input):
    result: Literal[service.LOG_RESULTS] | None = None
    device_id: Text(64) | None = None
    page: int = Field(default=1, ge=1, le=100_000)


@operation("/events/<slug>/checkins/log", "GET", summary="The scan log", tags=["checkin"], query=ScanLogQuery,
           response=present.ScanLogOut, auth=["organizer"], errors=[401, 404, 422])
def get_scan_log(slug: str, query: ScanLogQuery):
    """Every scan of the event, newest scan time first, 100 a page: admissions, refusals (``not_admitted``,
    ``unknown_code``, ``wrong_event``, ``already_checked_in``), undos, and scans a device refused while offline
    (``refused_offline``, ``reason``: what the device answered). Organizers of the event only."""
    entries, total = service.scan_log(_managed(slug), result=query.result, device_id=query.device_id,
                                      page=query.page)
    return present.ScanLogOut(entries=[present.log_entry_out(e) for e in entries], total=total, page=query.page,
                              per_page=service.LOG_PER_PAGE)


@operation("/events/<slug>/staff-links", "POST", summary="Create a staff link", tags=["checkin"],
           body=StaffLinkIn, response=StaffLinkCreated, status=201, auth=["organizer"], errors=[401, 404, 415, 422])
def post_staff_link(slug: str, body: StaffLinkIn):
    """The link (and its token, a bearer token for this event's check-in calls) is shown once."""
    now = now_utc()
    event = _managed(slug)
    link, token = service.create_staff_link(event, body.label, expires_at=body.expires_at, created_by=principal(),
                                            now=now)
    db.session.commit()
    base = staff_link_out(link, now)
    return StaffLinkCreated(**base.model_dump(), url=external_url("checkin.staff_enter", token=token), token=token)


@operation("/events/<slug>/staff-links", "GET", summary="List staff links", tags=["checkin"],
           response=list[StaffLinkOut], auth=["organizer"], errors=[401, 404])
def get_staff_links(slug: str):
    now = now_utc()
    return [staff_link_out(link, now) for link in service.staff_links(_managed(slug))]


@operation("/events/<slug>/staff-links/<int:link_id>", "DELETE", summary="Revoke a staff link",
           tags=["checkin"], response=StaffLinkOut, auth=["organizer"], errors=[401, 404])
def delete_staff_link(slug: str, link_id: int):
    """The link and every session opened with it stop working at once."""
    now = now_utc()
    link = service.revoke_staff_link(_managed(slug), link_id, now=now)
    db.session.commit()
    return staff_link_out(link, now)
