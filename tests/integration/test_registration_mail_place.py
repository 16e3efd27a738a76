"""Where the registration mails say the event takes place: in the words of the event's own pages
(会場未定（オンライン参加あり） for a hybrid event whose venue is not decided, never オンライン to the
people coming to the venue), and the pointer to the online URL points at the link where it is."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from eventsvc.core.clock import now_utc
from eventsvc.events.service import TicketTypeData
from eventsvc.extensions import db
from eventsvc.outbox import renderers
from eventsvc.outbox.models import Delivery
from eventsvc.registration import service

HYBRID = [TicketTypeData("venue", "会場参加", 30), TicketTypeData("online", "オンライン参加", 100)]


def mail_text(reg) -> str:
    delivery = db.session.scalars(select(Delivery).where(Delivery.registration_id == reg.id)).one()
    return renderers.resolve(delivery)["text"]


def place_line(text: str) -> str:
    return re.search(r"^会場: (.*)$", text, re.M).group(1)


@pytest.mark.parametrize("types, online_url, shown", [
    (HYBRID, "", "会場未定（オンライン参加あり）"),
    (HYBRID, "https://meet.example.lg.jp/x", "会場未定（オンライン参加あり）"),
    ([TicketTypeData("venue", "会場参加", 30)], "", "会場未定"),
    ([TicketTypeData("online", "オンライン参加", 100)], "", "オンライン"),
])
def test_a_mail_says_where_as_the_event_page_does_while_the_venue_is_not_decided(client, make, organizer, types,
                                                                                 online_url, shown):
    event = make.event(organizer, venue_name="", online_url=online_url, ticket_types=types)
    page = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert shown in page
    for tt in types:  # whichever way the person takes part
        assert place_line(mail_text(make.registration(event, ticket_type=tt.code))) == shown


def test_a_hybrid_event_with_a_venue_names_it_and_points_down_to_the_link_with_the_online_url(make, organizer,
                                                                                              client):
    event = make.event(organizer, venue_name="那覇市IT創造館", venue_address="那覇市字安謝664",
                       online_url="https://meet.example.lg.jp/x", ticket_types=HYBRID)
    for code in ("venue", "online"):
        reg = make.registration(event, ticket_type=code)
        text = mail_text(reg)
        assert place_line(text) == "那覇市IT創造館（那覇市字安謝664）"
        assert "上の「申込みの確認」" not in text
        desk = "当日は、添付のQRコード（または上の受付コード）を受付でお見せください。"
        if code == "venue":  # comes to the desk; the online URL is not theirs
            assert desk in text and "参加URL" not in text
            continue
        assert desk not in text  # joins online: no desk to show a QR code at
        pointer = text.index("参加URLは、下の「申込みの確認・変更・キャンセル」のページに表示しています。")
        label = text.index("申込みの確認・変更・キャンセル:")  # the footer's link, below the pointer
        link = re.search(r"https?://[^/\s]+(/my/\S+)", text)
        assert pointer < label < link.start()
        assert event.online_url in client.get(link.group(1)).get_data(as_text=True)  # that page has it


def test_english_mails_say_the_same(make, organizer):
    event = make.event(organizer, venue_name="", online_url="https://meet.example.lg.jp/x", ticket_types=HYBRID)
    data = service.RegistrationData(name="Taro Higa", name_kana="ヒガ タロウ", email="taro@city.naha.lg.jp",
                                    organization_code="472018", ticket_type="online", locale="en")
    reg = service.register(event, data, now_utc())[0]
    db.session.commit()
    text = mail_text(reg)
    assert re.search(r"^Venue: (.*)$", text, re.M).group(1) == "Venue to be decided (online participation available)"
    pointer = text.index("The meeting URL is on your registration page")
    assert pointer < text.index("View, change or cancel your registration:")

