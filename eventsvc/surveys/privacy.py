"""Erasing people from surveys (plugged into :mod:`eventsvc.registration.privacy`).

- A *named* response (``registration_id`` set) becomes anonymous when its person is erased
  (the retention purge, the attendee's own request): no registration, no time. An
  organizer's "delete everywhere" deletes it instead.
- An *anonymous* response can't be traced to anyone by reading the database, but the server
  can still find its owner's response again (``owner_key`` = HMAC(secret, survey, registration)).
  That key is replaced by a random one, so it can't be found any more — the answers stay.
- Who responded (:class:`SurveyRespondent`: survey, registration, first and last time) is
  deleted in every case: otherwise the database would still say who answered a named survey
  whose answers just became anonymous. The response counts the results show don't need it
  (they count the responses), and the response rates count only people whose data is not
  erased (:func:`eventsvc.surveys.service.answerable_ids`), so they stay true.
"""

from __future__ import annotations

import secrets
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import delete, or_, select

from ..extensions import db
from ..registration.privacy import Erasure, register_eraser
from . import service
from .models import Survey, SurveyRespondent, SurveyResponse


def erase(er: Erasure) -> dict[str, int]:
    survey = db.session.scalar(select(Survey).where(Survey.event_id == er.event.id))
    ids = er.registration_ids or [-1]
    secret = current_app.config["SECRET_KEY"]
    keys = [service.owner_key(secret, survey, SimpleNamespace(id=i)) for i in er.registration_ids] if survey else []
    named = or_(SurveyResponse.registration_id.in_(ids), SurveyResponse.owner_key.in_(keys or ["-"]))
    counts = {}
    if er.delete:
        doomed = list(db.session.scalars(select(SurveyResponse).where(SurveyResponse.registration_id.in_(ids))))
        for response in doomed:
            db.session.delete(response)  # its answers go with it (cascade)
        counts["survey_responses_deleted"] = len(doomed)
        db.session.flush()
    counts["survey_respondents_deleted"] = db.session.execute(
        delete(SurveyRespondent).where(SurveyRespondent.registration_id.in_(ids))
        .execution_options(synchronize_session=False)).rowcount
    rows = list(db.session.scalars(select(SurveyResponse).where(named)))
    anonymised = 0
    for response in rows:
        if response.registration_id is not None:
            anonymised += 1
        response.registration_id, response.submitted_at = None, None
        response.owner_key = "erased:" + secrets.token_hex(28)
    counts["survey_responses_anonymised"] = anonymised
    counts["survey_keys_replaced"] = len(rows) - anonymised
    db.session.flush()
    return counts


register_eraser("surveys", erase)
