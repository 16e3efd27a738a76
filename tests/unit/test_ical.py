"""iCalendar output is valid for icalendar and vobject, in Japan time with a VTIMEZONE."""

from datetime import UTC, datetime

import icalendar
import vobject

from eventsvc.events.ical import IcsEvent, to_ics

EVENT = IcsEvent(uid="abc@eventsvc", title="勉強会, in 那覇; 第1回", starts_at=datetime(2024, 2, 15, 4, 0, tzinfo=UTC),
                 ends_at=datetime(2024, 2, 15, 8, 0, tzinfo=UTC), url="https://example.lg.jp/events/naha",
                 description="プログラム\n13:00 開会\n" + "長い説明" * 40, location="那覇市IT創造館")


def test_both_parsers_read_the_same_instant():
    data = to_ics([EVENT])
    assert b"BEGIN:VTIMEZONE" in data and b"DTSTART;TZID=Asia/Tokyo:20240215T130000" in data
    cal = icalendar.Calendar.from_ical(data)
    ev = next(c for c in cal.walk("VEVENT"))
    assert ev.decoded("dtstart").astimezone(UTC) == EVENT.starts_at
    assert str(ev["summary"]) == EVENT.title
    v = vobject.readOne(data.decode())
    assert v.vevent.dtstart.value.astimezone(UTC) == EVENT.starts_at
    assert v.vevent.description.value == EVENT.description
    assert v.vevent.uid.value == "abc@eventsvc"


def test_lines_are_folded_and_end_in_crlf():
    data = to_ics([EVENT])
    lines = data.split(b"\r\n")
    assert all(len(line) <= 75 for line in lines)


def test_cancelled_events_say_so():
    from dataclasses import replace

    data = to_ics([replace(EVENT, cancelled=True)])
    assert b"STATUS:CANCELLED" in data
