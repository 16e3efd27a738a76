"""The .ics file attached to the confirmation mail says where the event is as the event's own .ics
does: its venue, "オンライン" only when people take part online, and no LOCATION while the venue
is not decided yet (not "オンライン" for a venue-only event without a venue)."""

from __future__ import annotations

import base64

from sqlalchemy import select

from eventsvc.events.service import TicketTypeData
from eventsvc.extensions import db
from eventsvc.outbox import renderers
from eventsvc.outbox.models import Delivery


def attached_ics(reg) -> str:
    delivery = db.session.scalars(select(Delivery).where(Delivery.registration_id == reg.id,
                                                         Delivery.kind == "mail.confirmation")).one()
    attachment = next(a for a in renderers.resolve(delivery)["attachments"] if a["filename"].endswith(".ics"))
    return base64.b64decode(attachment["data"]).decode()


def test_the_mailed_ics_leaves_location_out_until_the_venue_is_decided(make, organizer, client):
    undecided = make.event(organizer, venue_name="", title="会場未定の勉強会",
                           ticket_types=[TicketTypeData("venue", "会場参加", 30)])
    online = make.event(organizer, venue_name="", title="オンラインの勉強会", online_url="https://meet.example.lg.jp/x",
                        ticket_types=[TicketTypeData("general", "参加", 30)])
    venue = make.event(organizer, venue_name="那覇市IT創造館", ticket_types=[TicketTypeData("venue", "会場参加", 30)])

    ics = attached_ics(make.registration(undecided))
    assert "BEGIN:VEVENT" in ics and "LOCATION" not in ics
    assert "LOCATION" not in client.get(f"/events/{undecided.slug}.ics").get_data(as_text=True)  # the same answer

    assert "LOCATION:オンライン" in attached_ics(make.registration(online))
    assert "LOCATION:那覇市IT創造館" in attached_ics(make.registration(venue))
