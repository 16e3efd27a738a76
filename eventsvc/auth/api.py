"""Bearer auth for organizers in the JSON API."""

from __future__ import annotations

from .. import database
from ..core.clock import now_utc
from ..extensions import db
from ..jsonapi import register_auth
from . import service


def resolve_organizer(token: str):
    """The organizer behind a bearer token; notes the token's use at most once a minute.

    The note is its own short write transaction: the read that found the token ends
    first, so a request that otherwise only reads (or that takes its write lock later,
    like a check-in) never upgrades a read transaction on SQLite.
    """
    now = now_utc()
    found = service.resolve_token_row(token, now)
    if found is None:
        return None
    if found.stale:
        db.session.commit()
        intent = database.set_write_intent(True)
        try:
            service.touch_token(found.token_id, now)
            db.session.commit()
        finally:
            database.reset_write_intent(intent)
    return found.organizer


register_auth("organizer", resolve_organizer)
