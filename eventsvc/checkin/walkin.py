"""A confirmed registration made at the door (walk-in), through the registration package.

``registration.service.register`` refuses once the registration window has closed,
which is the normal state on the day, so this module composes the registration
service's public pieces instead: its validation (:func:`validate`: names, reading,
e-mail, organisation, participation type), its seat count and tokens, and its
confirmation e-mail (with the ticket and the attendee's link) queued in the same
transaction. What differs from ``register``: no window check, the status is always
``confirmed`` (or an error), and an organizer may override capacity and the e-mail
allow-list.

NOTE for the registration package: a ``register(..., at_door=True)`` (skip the window,
confirm or refuse) would let this shrink to one call.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from ..errors import Conflict, DomainError
from ..events.models import Event, TicketType
from ..extensions import db
from ..registration import mail, rules, tickets
from ..registration import service as registrations
from ..registration.models import Registration

if TYPE_CHECKING:
    from .service import WalkIn


def create_confirmed_registration(event: Event, data: WalkIn, *, now: datetime, override: bool) -> Registration:
    if event.status in ("draft", "cancelled"):
        raise DomainError("event_not_open", "このイベントでは当日受付ができません。", status=409)
    clean = registrations.validate(event, registrations.RegistrationData(
        name=data.name, name_kana=data.name_kana, email=data.email, organization_code=data.organization_code,
        organization_name=data.organization_name, department=data.department, ticket_type=data.ticket_type,
        consent_privacy=data.consent_privacy), require_consent=True)
    tt = clean.ticket_type
    stmt = select(TicketType.capacity).where(TicketType.id == tt.id)
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    capacity = db.session.scalar(stmt)
    if db.session.scalar(select(Registration.id).where(Registration.event_id == event.id,
                                                       Registration.email == clean.email)):
        raise Conflict("already_registered",
                       "このメールアドレスは既に申し込まれています。名前で探して受付してください。",
                       {"email": "このメールアドレスは既に申し込まれています。"})
    if not override:
        if not rules.domain_allowed(clean.email, list(event.allowed_email_domains or [])):
            raise DomainError("needs_review", "このメールアドレスは主催者の確認が必要です。主催者に受付を依頼してください。",
                              {"email": "主催者の確認が必要なドメインです。"}, status=409)
        if registrations.seats_taken(tt.id) >= capacity:
            raise DomainError("capacity_full", "この参加区分は満席です。定員を超えて受け付けるには主催者が操作してください。",
                              {"ticket_type": "満席です。"}, status=409)
    token = registrations.new_attendee_token()
    reg = Registration(
        event_id=event.id, ticket_type_id=tt.id, status="confirmed", name=clean.name, name_kana=clean.name_kana,
        email=clean.email, organization_code=clean.organization_code, organization_name=clean.organization_name,
        department=clean.department, ticket_code=tickets.make_code(),
        attendee_token_hash=registrations.hash_token(token), facilitator=rules.is_national(clean.email),
        consent_privacy=True, consent_slack_mention=False, consent_listing=False, answers={}, review_note="",
        locale="ja", created_at=now, updated_at=now, confirmed_at=now)
    db.session.add(reg)
    db.session.flush()
    reg.event, reg.ticket_type = event, tt
    mail.enqueue_confirmed(reg, now, reason="registered")
    return reg
