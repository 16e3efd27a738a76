"""Glue: check-in tells surveys who actually came.

Surveys and check-in sit on the same layer and their services don't import each other;
this module (imported once by :func:`eventsvc.create_app`) plugs check-in's records into
:func:`eventsvc.surveys.service.register_attendance_source`. Who "came" is everyone with
a valid check-in (``checked_in`` and not undone) — duplicates and undone scans don't count.
"""

from __future__ import annotations

from sqlalchemy import select

from ..checkin.models import Checkin
from ..events.models import Event
from ..extensions import db
from . import service


def checked_in_registration_ids(event: Event) -> set[int]:
    return set(db.session.scalars(select(Checkin.registration_id).where(
        Checkin.event_id == event.id, Checkin.result == "checked_in", Checkin.undone_at.is_(None))))


service.register_attendance_source(checked_in_registration_ids)
