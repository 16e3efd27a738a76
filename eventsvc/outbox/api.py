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
        "true for a delivery stopped because the person's personal data was erased: its state stays "
        "failed (last_error says why) but nothing went wrong and it cannot be retried; count it apart "
        "from the failures"))


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
