"""Demo data: a 那覇 study session for Okinawa/Kyushu staff and a 久留米 session.

``seed_demo()`` is idempotent for events (existing slugs are left alone) and resets
the demo organizer's password each run, so the printed login always works.
Packages that own more data (registrations, surveys…) add to it via ``DEMO_SEEDERS``.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from .auth import service as auth_service
from .auth.models import Organizer
from .core.clock import jst_combine, now_utc, to_jst
from .events import service as events
from .events.models import Event
from .extensions import db

DEMO_EMAIL = "organizer@demo.example.lg.jp"
#: ``fn(event_by_slug: dict[str, Event], organizer, now)``: more demo data from other packages
DEMO_SEEDERS: list = []


def _registration_seeder(events_by_slug, organizer, now):
    from .registration.demo import seed_registrations

    seed_registrations(events_by_slug, organizer, now)


DEMO_SEEDERS.append(_registration_seeder)


def _next_saturday(after: date) -> date:
    return after + timedelta(days=(5 - after.weekday()) % 7 or 7)


def _at(day: date, hh: int, mm: int = 0) -> datetime:
    return jst_combine(day, time(hh, mm))


def seed_demo(now: datetime | None = None) -> dict:
    now = now or now_utc()
    password = secrets.token_urlsafe(12)
    organizer = db.session.scalar(select(Organizer).where(Organizer.email == DEMO_EMAIL))
    if organizer is None:
        organizer = auth_service.create_organizer(DEMO_EMAIL, "デモ主催者", password)
    else:
        organizer.password_hash = generate_password_hash(password)
        organizer.session_version += 1

    today = to_jst(now).date()
    naha_day = _next_saturday(today + timedelta(days=20))
    kurume_day = _next_saturday(today + timedelta(days=41))
    created: dict[str, Event] = {}

    if not db.session.scalar(select(Event.id).where(Event.slug == "naha-study-session")):
        naha = events.create_event(events.EventData(
            slug="naha-study-session",
            title="自治体職員の勉強会 in 那覇 〜デジタルで変える窓口とまちの情報発信〜",
            summary="沖縄・九州の自治体職員が集まる対面の勉強会です。コミュニティの使い方から窓口BPR、"
                    "ウェブサイトの見直し、アナログ規制の見直しまで、事例を持ち寄って話し合います。",
            description=(
                "オンラインのコミュニティでつながった仲間と、顔を合わせて学び合う勉強会です。\n\n"
                "- 役職は関係なし、みんなフラットに話しましょう\n"
                "- ここでの発言は個人の見解であり、所属組織の見解ではありません\n"
                "- 終了後はコミュニティの九州・沖縄チャンネルで資料とふりかえりを共有します\n"
            ),
            venue_name="那覇市IT創造館 研修室",
            venue_address="沖縄県那覇市字小禄1831番地1",
            online_url="https://meet.example.lg.jp/naha-study",
            prefecture_code="47",
            starts_at=_at(naha_day, 13, 30), ends_at=_at(naha_day, 17, 0),
            registration_opens_at=now - timedelta(days=1),
            registration_closes_at=_at(naha_day - timedelta(days=2), 17, 0),
            ticket_types=[events.TicketTypeData("venue", "会場参加", 30),
                          events.TicketTypeData("online", "オンライン参加", 100)],
        ), organizer, now)
        agenda = [
            (13, 30, 13, 45, "開会・趣旨説明", "", "デジタル庁", "talk"),
            (13, 45, 14, 15, "デジタル改革共創プラットフォームの使い方", "山田 花子", "デジタル庁", "talk"),
            (14, 15, 14, 35, "はじめての自己紹介投稿", "比嘉 太郎", "沖縄県浦添市", "workshop"),
            (14, 35, 14, 45, "休憩", "", "", "break"),
            (14, 45, 15, 25, "窓口BPR ― 書かない窓口までの道のり", "佐藤 一郎", "福岡県久留米市", "talk"),
            (15, 25, 16, 15, "住民目線でウェブサイトを見るワークショップ", "", "", "workshop"),
            (16, 15, 16, 45, "アナログ規制の見直し", "鈴木 次郎", "デジタル庁", "talk"),
            (16, 45, 17, 0, "ふりかえり・交流", "", "", "networking"),
        ]
        events.replace_agenda(naha, [
            events.AgendaItemData(_at(naha_day, h1, m1), _at(naha_day, h2, m2), title, speaker, aff, kind=kind)
            for h1, m1, h2, m2, title, speaker, aff, kind in agenda], organizer, now)
        events.publish(naha, organizer, now)
        created[naha.slug] = naha

    if not db.session.scalar(select(Event.id).where(Event.slug == "kurume-kakanai-madoguchi")):
        kurume = events.create_event(events.EventData(
            slug="kurume-kakanai-madoguchi",
            title="「書かないワンストップ窓口」勉強会 in 久留米",
            summary="住民に書かせない、たらい回しにしない窓口をどう作るか。久留米市の取組を題材に、"
                    "九州の自治体職員で学び合います。",
            venue_name="久留米市役所 会議室",
            venue_address="福岡県久留米市城南町15番地3",
            prefecture_code="40",
            starts_at=_at(kurume_day, 13, 0), ends_at=_at(kurume_day, 16, 30),
            registration_opens_at=now - timedelta(days=1),
            ticket_types=[events.TicketTypeData("venue", "会場参加", 40),
                          events.TicketTypeData("online", "オンライン参加", 60)],
        ), organizer, now)
        events.replace_agenda(kurume, [
            events.AgendaItemData(_at(kurume_day, 13, 0), _at(kurume_day, 13, 10), "開会", kind="talk"),
            events.AgendaItemData(_at(kurume_day, 13, 10), _at(kurume_day, 14, 10),
                                  "書かないワンストップ窓口の取組", "佐藤 一郎", "福岡県久留米市"),
            events.AgendaItemData(_at(kurume_day, 14, 10), _at(kurume_day, 14, 20), "休憩", kind="break"),
            events.AgendaItemData(_at(kurume_day, 14, 20), _at(kurume_day, 16, 0),
                                  "グループワーク: 自分のまちの窓口を描く", kind="workshop"),
            events.AgendaItemData(_at(kurume_day, 16, 0), _at(kurume_day, 16, 30), "発表・交流", kind="networking"),
        ], organizer, now)
        events.publish(kurume, organizer, now)
        created[kurume.slug] = kurume

    for seeder in DEMO_SEEDERS:
        seeder(created, organizer, now)
    db.session.commit()
    return {"email": DEMO_EMAIL, "password": password,
            "events": ["naha-study-session", "kurume-kakanai-madoguchi"]}
