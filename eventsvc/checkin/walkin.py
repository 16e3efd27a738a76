"""The person at the door (walk-in), through the registration package.

``registration.service.register`` refuses once the registration window has closed, which
is the normal state on the day; :func:`eventsvc.registration.service.register_at_door` is
its form for the door. It makes a confirmed registration as typed at the desk, or — when
the address has a registration for the event already — checks in a confirmed one as it is,
lets a cancelled one apply again, and confirms a waiting one (waitlisted, offered, applied,
pending review) while seats last; an organizer may override the seats, the e-mail allow-list
and a rejection. Its refusals state the fact; this module adds what the person at the desk
can do about it, which depends on who they are (staff ask an organizer; an organizer ticks
the form's override).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ..core.i18n import N_, msg
from ..errors import DomainError
from ..events.models import Event
from ..registration import service as registrations

if TYPE_CHECKING:
    from .service import WalkIn

#: the desk form's override (``forms.WalkInForm.override``), as its label names it
OVERRIDE = N_("定員やドメインの確認を超えて受け付ける")

#: what the person at the desk can do about a refusal: ``{code: (staff, organizer)}``
NEXT_STEP = {
    "needs_review": (N_("主催者に受付を依頼してください。"),
                     msg(N_("受け付けるには「%(override)s」にチェックを入れてください。"), override=msg(OVERRIDE))),
    "capacity_full": (N_("定員を超えて受け付けるには主催者が操作してください。"),
                      msg(N_("定員を超えて受け付けるには「%(override)s」にチェックを入れてください。"),
                          override=msg(OVERRIDE))),
    "registration_rejected": (N_("受け付けるかどうかは主催者に確認してください。"),
                              msg(N_("それでも受け付けるには「%(override)s」にチェックを入れてください。"),
                                  override=msg(OVERRIDE))),
}


def admit_walk_in(event: Event, data: WalkIn, *, now: datetime, override: bool,
                  organizer: bool) -> registrations.AtDoor:
    """The walk-in's registration confirmed (new, applied for again, moved up) or found confirmed;
    a refusal says what the desk's user (``organizer`` or staff) can do next."""
    try:
        return registrations.register_at_door(event, registrations.RegistrationData(
            name=data.name, name_kana=data.name_kana, email=data.email, organization_code=data.organization_code,
            organization_name=data.organization_name, department=data.department, ticket_type=data.ticket_type,
            consent_privacy=data.consent_privacy), now, override=override)
    except DomainError as err:
        if err.code not in NEXT_STEP:
            raise
        step = NEXT_STEP[err.code][1 if organizer else 0]
        # the API's text is the two sentences joined; a page translates each
        raise DomainError(err.code, msg(N_("%(refusal)s%(next_step)s"), refusal=msg(err.message), next_step=msg(step)),
                          err.fields, status=err.status) from None
