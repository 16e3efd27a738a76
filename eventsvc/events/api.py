"""JSON API for events and their agenda (``/api/v1/events``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt

from ..auth.models import Organizer
from ..core.clock import now_utc
from ..extensions import db
from ..jsonapi import Input, Instant, LongText, Output, ShortText, Text, Url, operation, principal
from ..web import external_url
from . import service
from .models import Event


class Venue(Input):
    name: Text(200) = ""
    address: Text(300) = ""


class TicketTypeIn(Input):
    code: Text(32)
    name: Text(100)
    capacity: StrictInt = Field(ge=0, le=service.MAX_CAPACITY)


class EventIn(Input):
    title: ShortText
    starts_at: Instant
    ends_at: Instant
    slug: Text(64) | None = None
    summary: Text(500, multiline=True) = ""
    description: LongText = ""
    venue: Venue = Venue()
    online_url: Url = ""
    region: Text(20) | None = None
    prefecture_code: Text(2) | None = None
    registration_opens_at: Instant | None = None
    registration_closes_at: Instant | None = None
    selection: Literal["first_come", "lottery"] = "first_come"
    allowed_email_domains: list[Text(253)] = Field(default_factory=lambda: ["lg.jp", "go.jp"], max_length=50)
    ticket_types: list[TicketTypeIn] = Field(min_length=1, max_length=service.MAX_TICKET_TYPES)


class EventPatch(Input):
    """Any subset of the event's fields; ``ticket_types`` replaces the set (matched by code)."""

    title: ShortText | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    slug: Text(64) | None = None
    summary: Text(500, multiline=True) | None = None
    description: LongText | None = None
    venue: Venue | None = None
    online_url: Url | None = None
    region: Text(20) | None = None
    prefecture_code: Text(2) | None = None
    registration_opens_at: Instant | None = None
    registration_closes_at: Instant | None = None
    selection: Literal["first_come", "lottery"] | None = None
    allowed_email_domains: list[Text(253)] | None = Field(default=None, max_length=50)
    ticket_types: list[TicketTypeIn] | None = Field(default=None, min_length=1, max_length=service.MAX_TICKET_TYPES)


class AgendaItemIn(Input):
    starts_at: Instant
    ends_at: Instant
    title: ShortText
    speaker: Text(100) = ""
    affiliation: Text(200) = ""
    description: Text(5000, multiline=True) = ""
    kind: Literal["talk", "workshop", "break", "networking", "other"] = "talk"
    materials_url: Url = ""


class VenueOut(Output):
    name: str
    address: str


class TicketTypeOut(Output):
    code: str
    name: str
    capacity: int
    capacity_left: int


class AgendaItemOut(Output):
    starts_at: datetime
    ends_at: datetime
    title: str
    speaker: str
    affiliation: str
    description: str
    kind: str
    materials_url: str


class RegistrationQuestionOut(Output):
    """One question of the registration form; a registration answers it in ``answers[id]``."""

    id: str = Field(description="the key of the answer in the registration's `answers`")
    kind: Literal["text", "long_text", "single", "multiple"] = Field(
        description="text / long_text: a string (long_text may have several lines); single: one of `options` "
                    "(a string); multiple: a list of `options`")
    text: str = Field(description="the question, as the registration form asks it")
    required: bool = Field(description="a registration without an answer is refused (422, field `answers.<id>`)")
    options: list[str] = Field(description="the choices, in order (single and multiple; else empty)")
    max_length: int | None = Field(description="the longest answer taken, in characters (text kinds; else null)")


class EventOut(Output):
    slug: str
    public_url: str
    title: str
    summary: str
    description: str
    venue: VenueOut
    online_url: str | None = Field(description="only for the event's organizers")
    region: str | None
    prefecture_code: str | None
    starts_at: datetime
    ends_at: datetime
    registration_opens_at: datetime | None
    registration_closes_at: datetime | None
    selection: str
    allowed_email_domains: list[str]
    ticket_types: list[TicketTypeOut]
    agenda: list[AgendaItemOut]
    status: str
    registration_open: bool = Field(description="whether `POST /events/{slug}/registrations` takes a "
                                                "registration now (the event's status and registration window)")
    registration_closed_reason: str | None = Field(
        description="why not, when it does not: not_published, not_open_yet, closed, event_over, event_closed, "
                    "event_cancelled (the `reason` of the 409 `registration_closed`); null when open")
    questions: list[RegistrationQuestionOut] = Field(
        description="the event's own questions, which a registration answers in `answers`")


class CapacityWarningOut(Output):
    code: Literal["capacity_below_seats_taken"]
    ticket_type: str = Field(description="the participation type's code")
    capacity: int
    seats_taken: int = Field(description="seats held (confirmed or offered); nobody loses one")


class PromotionOut(Output):
    ticket_type: str = Field(description="the participation type's code")
    confirmed: int = Field(description="waiting people given a seat (automatic mode)")
    offered: int = Field(description="waiting people offered a seat until a deadline (offer mode)")


class EventChangedOut(EventOut):
    """The event as saved, and what the change meant for the people registered."""

    warnings: list[CapacityWarningOut] = Field(
        description="participation types whose capacity is now below the seats already held")
    promotions: list[PromotionOut] = Field(
        description="participation types whose raised capacity moved the waitlist up")


class EventListQuery(Input):
    region: Text(20) | None = None
    status: Literal["draft", "published", "closed", "cancelled"] | None = None
    past: Literal["true", "false"] | None = None


#: public reads accept any of the app's tokens; only an organizer's token shows more
READERS = ["organizer", "attendee", "staff"]


def viewer() -> Organizer | None:
    """The calling organizer, or None (anonymous, or an attendee's or staff token)."""
    p = principal()
    return p if isinstance(p, Organizer) else None


def event_out(event: Event, now: datetime | None = None) -> EventOut:
    left = service.capacity_left(event)
    organizer = viewer()
    closed_reason = service.registration_closed_reason(event, now or now_utc())
    return EventOut(
        slug=event.slug, public_url=external_url("events.show", slug=event.slug), title=event.title,
        summary=event.summary, description=event.description,
        venue=VenueOut(name=event.venue_name, address=event.venue_address),
        online_url=event.online_url if event.is_managed_by(organizer) else None,
        region=event.region, prefecture_code=event.prefecture_code, starts_at=event.starts_at,
        ends_at=event.ends_at, registration_opens_at=event.registration_opens_at,
        registration_closes_at=event.registration_closes_at, selection=event.selection,
        allowed_email_domains=list(event.allowed_email_domains or []),
        ticket_types=[TicketTypeOut(code=t.code, name=t.name, capacity=t.capacity, capacity_left=left[t.code])
                      for t in event.ticket_types],
        agenda=[AgendaItemOut.model_validate(a) for a in event.agenda_items],
        status=event.status,
        registration_open=closed_reason is None, registration_closed_reason=closed_reason,
        questions=[RegistrationQuestionOut(id=q.id, kind=q.kind, text=q.text, required=q.required,
                                           options=list(q.options), max_length=q.max_length)
                   for q in service.registration_questions(event)],
    )


def _data(body: EventIn) -> service.EventData:
    return service.EventData(
        title=body.title, starts_at=body.starts_at, ends_at=body.ends_at, slug=body.slug, summary=body.summary,
        description=body.description, venue_name=body.venue.name, venue_address=body.venue.address,
        online_url=body.online_url, region=body.region, prefecture_code=body.prefecture_code,
        registration_opens_at=body.registration_opens_at, registration_closes_at=body.registration_closes_at,
        selection=body.selection, allowed_email_domains=list(body.allowed_email_domains),
        ticket_types=[service.TicketTypeData(t.code, t.name, t.capacity) for t in body.ticket_types],
    )


@operation("/events", "POST", summary="Create an event (draft)", tags=["events"], body=EventIn,
           response=EventOut, status=201, auth=["organizer"], errors=[401, 409, 415, 422])
def create_event(body: EventIn):
    event = service.create_event(_data(body), principal(), now_utc())
    db.session.commit()
    return event_out(event)


@operation("/events", "GET", summary="List events", tags=["events"], query=EventListQuery,
           response=list[EventOut], auth=READERS, auth_optional=True, errors=[401, 422])
def list_events(query: EventListQuery):
    """Anyone: published, closed and cancelled events. Organizers also see their drafts."""
    now = now_utc()
    events = service.list_for_api(viewer(), now)
    if query.region:
        events = [e for e in events if e.region == query.region]
    if query.status:
        events = [e for e in events if e.status == query.status]
    if query.past is not None:
        want_past = query.past == "true"
        events = [e for e in events if (e.ends_at < now) == want_past]
    return [event_out(e, now) for e in events]


@operation("/events/<slug>", "GET", summary="One event", tags=["events"], response=EventOut,
           auth=READERS, auth_optional=True, errors=[401, 404])
def get_event(slug: str):
    return event_out(service.get_visible_event(slug, viewer()))


@operation("/events/<slug>", "PATCH", summary="Change an event", tags=["events"], body=EventPatch,
           response=EventChangedOut, auth=["organizer"], errors=[401, 404, 409, 415, 422])
def patch_event(slug: str, body: EventPatch):
    """A capacity below the seats already held is saved (nobody loses a seat) and listed in
    ``warnings``; a raised one moves the waitlist up at once, counted in ``promotions``."""
    event = service.get_event_for(slug, principal())
    data = service.EventData.from_event(event)
    given = body.model_dump(exclude_unset=True)
    if "prefecture_code" in given and "region" not in given:
        data.region = None  # follows the new prefecture, as when the event was created
    for key, value in given.items():
        if key == "venue":
            data.venue_name = body.venue.name if body.venue else ""
            data.venue_address = body.venue.address if body.venue else ""
        elif key == "ticket_types":
            if value is None:
                continue
            data.ticket_types = [service.TicketTypeData(t.code, t.name, t.capacity) for t in body.ticket_types]
        elif key == "allowed_email_domains" and value is None:
            data.allowed_email_domains = ["lg.jp", "go.jp"]
        elif key in ("title", "starts_at", "ends_at") and value is None:
            continue
        else:
            setattr(data, key, value if value is not None else ("" if key in _TEXT_FIELDS else None))
    update = service.update_event(event, data, principal(), now_utc())
    db.session.commit()
    return EventChangedOut(
        **dict(event_out(event)),
        warnings=[CapacityWarningOut(code=w.code, ticket_type=w.ticket_type, capacity=w.capacity,
                                     seats_taken=w.seats_taken) for w in update.capacity_warnings],
        promotions=[PromotionOut(ticket_type=p.ticket_type, confirmed=p.confirmed, offered=p.offered)
                    for p in update.promotions])


_TEXT_FIELDS = {"summary", "description", "online_url"}


@operation("/events/<slug>/publish", "POST", summary="Publish an event", tags=["events"], response=EventOut,
           auth=["organizer"], errors=[401, 404, 409])
def publish_event(slug: str):
    event = service.get_event_for(slug, principal())
    service.publish(event, principal(), now_utc())
    db.session.commit()
    return event_out(event)


#: the agenda's items; the count is checked before any item (a huge list answers at once, in a few bytes)
AgendaIn = Annotated[list[AgendaItemIn], Field(max_length=service.MAX_AGENDA_ITEMS)]


@operation("/events/<slug>/agenda", "PUT", summary="Replace the agenda", tags=["events"],
           body=AgendaIn, body_root="agenda", response=EventOut, auth=["organizer"], errors=[401, 404, 415, 422])
def put_agenda(slug: str, body: AgendaIn):
    event = service.get_event_for(slug, principal())
    items = [service.AgendaItemData(**item.model_dump()) for item in body]
    service.replace_agenda(event, items, principal(), now_utc())
    db.session.commit()
    return event_out(event)


@operation("/events/<slug>/copy", "POST", summary="Copy an event as a new draft", tags=["events"],
           response=EventOut, status=201, auth=["organizer"], errors=[401, 404])
def copy_event(slug: str):
    event = service.get_event_for(slug, principal())
    copy = service.copy_event(event, principal(), now_utc())
    db.session.commit()
    return event_out(copy)
