"""Erasing Slack account links (plugged into :mod:`eventsvc.registration.privacy`).

The link row (Slack user id, how it was found) goes; the user id is handed to the outbox
step as a string to look for, so an event-level post that mentions ``<@U…>`` is emptied
too when one person is deleted.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from ..extensions import db
from ..registration.privacy import Erasure, register_eraser
from .models import SlackLink


def erase(er: Erasure) -> dict[str, int]:
    ids = er.registration_ids or [-1]
    users = db.session.scalars(select(SlackLink.slack_user_id).where(SlackLink.registration_id.in_(ids),
                                                                     SlackLink.slack_user_id.is_not(None)))
    er.needles.update(u for u in users if u and len(u) >= 5)
    removed = db.session.execute(delete(SlackLink).where(SlackLink.registration_id.in_(ids))
                                 .execution_options(synchronize_session=False)).rowcount
    return {"slack_links_removed": removed}


register_eraser("slack", erase)
