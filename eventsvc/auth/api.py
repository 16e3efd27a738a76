"""Bearer auth for organizers in the JSON API."""

from __future__ import annotations

from .. import database
from ..core.clock import now_utc
from ..extensions import db
from ..jsonapi import register_auth, set_principal_event
from . import service


def resolve_organizer(token: str, *, event_slug: str | None = None):
    """The organizer behind a bearer token; notes the token's use at most once a minute. With
    ``event_slug`` (an operation declared ``event_with_principal``), the event of that slug the
    organizer runs comes in the same query (``jsonapi.principal_event``).

    The note is its own short write transaction: the read that found the token ends
    first (what it loaded stays loaded), so a request that otherwise only reads (or that
    takes its write lock later, like a check-in) never upgrades a read transaction on SQLite.
    """
    now = now_utc()
    found = service.resolve_token_row(token, now, event_slug=event_slug)
    if found is None:
        return None
    if event_slug is not None:
        set_principal_event(event_slug, found.event)
    if found.stale:
        database.write_on_its_own(db.session(), lambda: service.touch_token(found.token_id, now))
    return found.organizer


register_auth("organizer", resolve_organizer, event_aware=True, guard=service.token_guard)
