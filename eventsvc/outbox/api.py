"""``GET /events/{slug}/deliveries``: what left (or waits to leave) for an event."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ..events import service as events_service
from ..jsonapi import Input, Output, operation, principal
from . import service


class DeliveryOut(Output):
    id: int
    kind: str
    target: str
    state: str
    attempts: int
    last_error: str
    external_id: str
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime
    registration_id: int | None
    withdrawn: bool = Field(description=(
        "true for a delivery that was never to be sent (see withdrawn_reason): its state stays failed "
        "(last_error says why) but nothing went wrong and it cannot be retried; count it apart from "
        "the failures"))
    withdrawn_reason: Literal["erased", "superseded"] | None = Field(default=None, description=(
        "why a withdrawn delivery was not sent (null when it was not withdrawn): erased — the person's "
        "personal data was erased; superseded — what it told was no longer so before it left (a "
        "registration's mail about an application cancelled or applied for again since, or about a "
        "status that has changed since, e.g. a confirmation of someone no longer confirmed; the newer "
        "state has a delivery of its own)"))


class DeliveryQuery(Input):
    state: Literal["queued", "sending", "sent", "failed", "uncertain", "held"] | None = None
    kind: str | None = None


@operation("/events/<slug>/deliveries", "GET", summary="Deliveries (e-mail, Slack) of an event",
           tags=["outbox"], query=DeliveryQuery, response=list[DeliveryOut], auth=["organizer"],
           errors=[401, 404, 422])
def list_deliveries(slug: str, query: DeliveryQuery):
    """Every message queued for the event, newest first: ``held`` ones wait for a channel to be configured."""
    event = events_service.get_event_for(slug, principal())
    rows = service.list_for_event(event.id, state=query.state, kind_prefix=query.kind)
    return [DeliveryOut.model_validate(r) for r in rows]
