"""Registration through the JSON API; the ``attendee`` bearer scheme (the registration's own token)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, StrictBool

from .. import database
from ..auth.models import Organizer
from ..core.clock import now_utc
from ..errors import NotFound
from ..events import service as events_service
from ..extensions import db
from ..jsonapi import Input, Output, Text, operation, principal, register_auth
from . import service
from .models import Registration
from .views import rate_limited

register_auth("attendee", service.resolve_attendee_token)


class RegistrationIn(Input):
    name: Text(100)
    name_kana: Text(100)
    email: Text(320)
    organization_code: Text(32) | None = None
    organization_name: Text(200) | None = None
    department: Text(200) | None = None
    ticket_type: Text(32) | None = None
    answers: dict[str, str | list[str]] = Field(default_factory=dict, max_length=50)
    consent_privacy: StrictBool = False
    consent_slack_mention: StrictBool = False
    consent_listing: StrictBool = False
    locale: Literal["ja", "en"] = "ja"


class RegistrationCreated(Output):
    id: int
    status: str
    ticket_code: str
    attendee_token: str
    manage_url: str
    waitlist_position: int | None = None


class RegistrationOut(Output):
    id: int
    event: str
    status: str
    name: str
    name_kana: str
    email: str
    organization_code: str | None
    organization_name: str
    department: str
    ticket_type: str
    ticket_code: str
    facilitator: bool
    consent_privacy: bool
    consent_slack_mention: bool
    consent_listing: bool
    answers: dict
    waitlist_position: int | None
    offer_expires_at: datetime | None
    review_note: str
    created_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None


class RegistrationQuery(Input):
    status: Literal["applied", "pending_review", "confirmed", "waitlisted", "offered", "cancelled", "rejected"] | None = None
    ticket_type: Text(32) | None = None
    q: Text(100) | None = None


class ReviewIn(Input):
    message: Text(1000, multiline=True) = ""


class RegistrationPatch(Input):
    facilitator: StrictBool | None = None
    ticket_type: Text(32) | None = None


class LotteryIn(Input):
    seed: Text(64) | None = None


class LotteryOut(Output):
    ticket_type: str
    seed: str
    won: list[int]
    waitlist: list[int]
    record: dict
    drawn_at: datetime


def registration_out(reg: Registration, position: int | None = None) -> RegistrationOut:
    return RegistrationOut(
        id=reg.id, event=reg.event.slug, status=reg.status, name=reg.name, name_kana=reg.name_kana, email=reg.email,
        organization_code=reg.organization_code, organization_name=reg.organization_name, department=reg.department,
        ticket_type=reg.ticket_type.code, ticket_code=reg.ticket_code, facilitator=reg.facilitator,
        consent_privacy=reg.consent_privacy, consent_slack_mention=reg.consent_slack_mention,
        consent_listing=reg.consent_listing, answers=reg.answers or {},
        waitlist_position=position if position is not None else service.waitlist_position(reg),
        offer_expires_at=reg.offer_expires_at, review_note=reg.review_note, created_at=reg.created_at,
        confirmed_at=reg.confirmed_at, cancelled_at=reg.cancelled_at)


def _organizer_registration(reg_id: int) -> Registration:
    who = principal()
    if not isinstance(who, Organizer):
        raise NotFound("registration_not_found", "申込みが見つかりません。")
    return service.get_for_organizer(reg_id, who)


@operation("/events/<slug>/registrations", "POST", summary="Register for an event", tags=["registration"],
           body=RegistrationIn, response=RegistrationCreated, status=201, errors=[404, 409, 415, 422, 429])
@rate_limited
def create_registration(slug: str, body: RegistrationIn):
    """Anyone. Status: ``confirmed`` / ``waitlisted`` (first come), ``applied`` (lottery, before the draw),
    ``pending_review`` (an address outside the event's allowed domains). The ``attendee_token`` is shown
    once: it authorises the attendee's own calls (cancel). 409 ``already_registered`` / ``registration_closed``."""
    now = now_utc()
    database.set_write_intent(False)  # reading and checking need no write lock (the teardown resets this)
    data = service.RegistrationData(
        name=body.name, name_kana=body.name_kana, email=body.email, organization_code=body.organization_code,
        organization_name=body.organization_name or "", department=body.department or "",
        ticket_type=body.ticket_type, answers=body.answers, consent_privacy=body.consent_privacy,
        consent_slack_mention=body.consent_slack_mention, consent_listing=body.consent_listing, locale=body.locale)
    reg, token = service.apply(slug, data, now)
    # built after the commit, from the row as written (kept loaded): no lock is held meanwhile
    return RegistrationCreated(id=reg.id, status=reg.status, ticket_code=reg.ticket_code, attendee_token=token,
                               manage_url=service.manage_url(reg), waitlist_position=reg.position_at_registration)


@operation("/events/<slug>/registrations", "GET", summary="List an event's registrations", tags=["registration"],
           query=RegistrationQuery, response=list[RegistrationOut], auth=["organizer"], errors=[401, 404, 422])
def list_registrations(slug: str, query: RegistrationQuery):
    event = events_service.get_event_for(slug, principal())
    positions = service.waitlist_positions(event)
    rows = service.list_registrations(event, status=query.status, ticket_type=query.ticket_type, q=query.q)
    return [registration_out(r, positions.get(r.id)) for r in rows]


@operation("/registrations/<int:reg_id>", "GET", summary="One registration", tags=["registration"],
           response=RegistrationOut, auth=["organizer", "attendee"], errors=[401, 404])
def get_registration(reg_id: int):
    """The event's organizers, or the attendee with their own token."""
    who = principal()
    if isinstance(who, Registration):
        if who.id != reg_id:
            raise NotFound("registration_not_found", "申込みが見つかりません。")
        return registration_out(who)
    return registration_out(_organizer_registration(reg_id))


@operation("/registrations/<int:reg_id>/approve", "POST", summary="Approve a registration waiting for review",
           tags=["registration"], body=ReviewIn, response=RegistrationOut, auth=["organizer"],
           errors=[401, 404, 409, 422])
def approve(reg_id: int, body: ReviewIn):
    reg = _organizer_registration(reg_id)
    service.approve(reg, principal(), now_utc(), note=body.message)
    db.session.commit()
    return registration_out(reg)


@operation("/registrations/<int:reg_id>/reject", "POST", summary="Reject a registration waiting for review",
           tags=["registration"], body=ReviewIn, response=RegistrationOut, auth=["organizer"],
           errors=[401, 404, 409, 422])
def reject(reg_id: int, body: ReviewIn):
    """Only a registration waiting for review (409 ``not_pending`` otherwise, e.g. once the door has
    confirmed it). The application ends as a cancelled one does: a check-in of it is taken back (an
    undo in the check-in log)."""
    reg = _organizer_registration(reg_id)
    service.reject(reg, principal(), now_utc(), note=body.message)
    db.session.commit()
    return registration_out(reg)


@operation("/registrations/<int:reg_id>/cancel", "POST", summary="Cancel a registration",
           tags=["registration"], response=RegistrationOut, auth=["organizer", "attendee"], errors=[401, 404, 409])
def cancel(reg_id: int):
    """The event's organizers, or the attendee with their own token. Frees the seat; the waitlist moves up;
    a check-in of the registration is taken back (an undo in the check-in log), so that the people
    checked in are among those expected and an application made again starts not checked in.
    Cancelling twice is harmless. Attendees cancel until the event starts (409 ``cancellation_closed``)."""
    who = principal()
    if isinstance(who, Registration):
        if who.id != reg_id:
            raise NotFound("registration_not_found", "申込みが見つかりません。")
        reg = who
        service.check_attendee_may_cancel(reg, now_utc())  # 409 cancellation_closed once the event has started
    else:
        reg = _organizer_registration(reg_id)
    service.cancel(reg, who, now_utc())
    db.session.commit()
    return registration_out(reg)


@operation("/registrations/<int:reg_id>/accept-offer", "POST", summary="Take an offered seat",
           tags=["registration"], response=RegistrationOut, auth=["attendee"], errors=[401, 404, 409])
def accept_offer(reg_id: int):
    who = principal()
    if who.id != reg_id:
        raise NotFound("registration_not_found", "申込みが見つかりません。")
    try:
        service.accept_offer(who, now_utc())
    finally:
        db.session.commit()
    return registration_out(who)


@operation("/registrations/<int:reg_id>", "PATCH", summary="Change a registration (facilitator, participation type)",
           tags=["registration"], body=RegistrationPatch, response=RegistrationOut, auth=["organizer"],
           errors=[401, 404, 409, 422])
def patch_registration(reg_id: int, body: RegistrationPatch):
    reg = _organizer_registration(reg_id)
    now = now_utc()
    if body.facilitator is not None:
        service.set_facilitator(reg, body.facilitator, now)
    if body.ticket_type is not None:
        service.change_ticket_type(reg, body.ticket_type, now)
    db.session.commit()
    return registration_out(reg)


@operation("/events/<slug>/lottery", "POST", summary="Draw the lottery now", tags=["registration"],
           body=LotteryIn, response=list[LotteryOut], auth=["organizer"], errors=[401, 404, 409, 422])
def draw_lottery(slug: str, body: LotteryIn):
    """Seeded and recorded: ``record`` lets anyone recompute the result (see ``registration/lottery.py``)."""
    event = events_service.get_event_for(slug, principal())
    draws = service.run_lottery(event, principal().email, now_utc(), seed=body.seed)
    db.session.commit()
    return [_lottery_out(event, d) for d in draws]


@operation("/events/<slug>/lottery", "GET", summary="Recorded lottery draws", tags=["registration"],
           response=list[LotteryOut], auth=["organizer"], errors=[401, 404])
def get_lottery(slug: str):
    event = events_service.get_event_for(slug, principal())
    return [_lottery_out(event, d) for d in service.draws_for(event)]


def _lottery_out(event, d) -> LotteryOut:
    code = next((t.code for t in event.ticket_types if t.id == d.ticket_type_id), "?")
    return LotteryOut(ticket_type=code, seed=d.seed, won=d.record["won"], waitlist=d.record["waitlist"],
                      record=d.record, drawn_at=d.drawn_at)


