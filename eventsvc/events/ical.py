"""iCalendar files for events (RFC 5545), built with ``icalendar``.

Pure: takes plain :class:`IcsEvent` values, returns bytes. Times carry
``TZID=Asia/Tokyo`` with a generated VTIMEZONE so every calendar shows them right.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from icalendar import Calendar
from icalendar import Event as VEvent

from ..core.clock import JST, to_jst

PRODID = "-//eventsvc//study sessions//JA"


@dataclass(frozen=True)
class IcsEvent:
    uid: str  #: stable across edits, e.g. ``<hex>@eventsvc``
    title: str
    starts_at: datetime
    ends_at: datetime
    url: str
    description: str = ""
    location: str = ""
    updated_at: datetime | None = None
    cancelled: bool = False
    sequence: int = 0


def to_ics(events: list[IcsEvent], *, name: str | None = None, now: datetime | None = None) -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    if name:
        cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "Asia/Tokyo")
    for e in events:
        ve = VEvent()
        ve.add("uid", e.uid)
        ve.add("dtstamp", (e.updated_at or now or e.starts_at))
        ve.add("dtstart", to_jst(e.starts_at).astimezone(JST))
        ve.add("dtend", to_jst(e.ends_at).astimezone(JST))
        ve.add("summary", e.title)
        if e.location:
            ve.add("location", e.location)
        if e.description:
            ve.add("description", e.description)
        ve.add("url", e.url)
        ve.add("sequence", e.sequence)
        ve.add("status", "CANCELLED" if e.cancelled else "CONFIRMED")
        cal.add_component(ve)
    cal.add_missing_timezones()
    return cal.to_ical()
