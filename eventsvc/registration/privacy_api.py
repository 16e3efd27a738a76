"""Deleting one attendee everywhere through the JSON API (the rules are in :mod:`.privacy`)."""

from __future__ import annotations

from ..audit import service as audit
from ..core.clock import now_utc
from ..extensions import db
from ..jsonapi import operation, principal
from . import privacy, service


@operation("/registrations/<int:reg_id>", "DELETE", summary="Delete an attendee everywhere",
           tags=["registration"], status=204, auth=["organizer"], errors=[401, 404])
def delete_registration(reg_id: int):
    """The event's organizers. Cancels first while the event has not ended (the seat frees and the
    waitlist moves up; the person gets no mail), then deletes the registration, its check-ins and
    their log, named survey answers, its outbox rows (and copies of posts that name them), its
    Slack link and team membership. Anonymous survey answers can't be traced and stay."""
    reg = service.get_for_organizer(reg_id, principal())
    slug = reg.event.slug
    counts = privacy.delete_registration(reg, principal(), now_utc())
    audit.annotate(action="privacy.registration_delete", target=f"registration:{reg_id}", event_slug=slug,
                   counts=counts)
    db.session.commit()
    return None
