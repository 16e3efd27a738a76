"""Factories for tests: build rows through the real services, with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from eventsvc.auth import service as auth_service
from eventsvc.core.clock import JST, now_utc
from eventsvc.events import service as events
from eventsvc.extensions import db

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


def organizer(email: str | None = None, name: str = "主催 太郎", *, admin: bool = False):
    n = next(_seq)
    o = auth_service.create_organizer(email or f"organizer{n}@digital.go.jp", name, PASSWORD, is_admin=admin)
    db.session.commit()
    return o


def token(org) -> str:
    t = auth_service.create_token(org, "test")
    db.session.commit()
    return t


def event_data(**kw) -> events.EventData:
    start = kw.pop("starts_at", None) or (now_utc() + timedelta(days=14)).astimezone(JST).replace(
        hour=13, minute=30, second=0, microsecond=0)
    end = kw.pop("ends_at", None) or start + timedelta(hours=3, minutes=30)
    types = kw.pop("ticket_types", None) or [events.TicketTypeData("venue", "会場参加", 30),
                                             events.TicketTypeData("online", "オンライン参加", 100)]
    return events.EventData(title=kw.pop("title", "自治体職員の勉強会 in 那覇"), starts_at=start, ends_at=end,
                            venue_name=kw.pop("venue_name", "那覇市IT創造館"), prefecture_code=kw.pop("prefecture_code", "47"),
                            ticket_types=types, **kw)


def event(org=None, *, status: str = "published", agenda: bool = True, now: datetime | None = None, **kw):
    """An event (published unless told otherwise) owned by ``org`` (a new organizer if None)."""
    org = org or organizer()
    now = now or now_utc()
    e = events.create_event(event_data(**kw), org, now)
    if agenda:
        s = e.starts_at
        events.replace_agenda(e, [
            events.AgendaItemData(s, s + timedelta(minutes=30), "デジタル改革共創プラットフォームの使い方", "山田 花子", "デジタル庁"),
            events.AgendaItemData(s + timedelta(minutes=30), s + timedelta(minutes=90), "窓口BPR", kind="workshop"),
        ], org, now)
    if status != "draft":
        events.set_status(e, "published", org, now)
        if status != "published":
            events.set_status(e, status, org, now)
    db.session.commit()
    return e


_KANA = ["ヒガ タロウ", "チネン ハナコ", "キンジョウ ジロウ", "オオシロ サクラ", "タマキ ケン", "ナカモト ユイ"]
_NAMES = ["比嘉 太郎", "知念 花子", "金城 次郎", "大城 さくら", "玉城 健", "仲本 結"]


def registration(event, *, name: str | None = None, name_kana: str | None = None, email: str | None = None,
                 organization_code: str | None = "472018", organization_name: str = "", department: str = "",
                 ticket_type: str | None = None, answers: dict | None = None, consent_privacy: bool = True,
                 consent_slack_mention: bool = True, consent_listing: bool = True, status: str | None = None,
                 locale: str = "ja", now: datetime | None = None, commit: bool = True):
    """A registration made through the real service (``registration.service.register``).

    Defaults: a Naha city (472018) staff member with a unique ``…@city.naha.lg.jp`` address,
    the event's first participation type, all consents given. The status is what the rules
    decide (confirmed while seats last); ``status="cancelled"`` / ``"rejected"`` /
    ``"pending_review"`` (uses a non-government address) get there through the service too.
    The attendee token is on ``reg.attendee_token`` (it is stored only hashed).
    """
    from eventsvc.registration import service as reg_service

    n = next(_seq)
    now = now or now_utc()
    if email is None:
        email = f"staff{n}@example.com" if status in ("pending_review", "rejected") else f"staff{n}@city.naha.lg.jp"
    data = reg_service.RegistrationData(
        name=name or _NAMES[n % len(_NAMES)], name_kana=name_kana or _KANA[n % len(_KANA)], email=email,
        organization_code=organization_code, organization_name=organization_name, department=department,
        ticket_type=ticket_type, answers=answers or {}, consent_privacy=consent_privacy,
        consent_slack_mention=consent_slack_mention, consent_listing=consent_listing, locale=locale)
    reg, token = reg_service.register(event, data, now)
    if status == "cancelled":
        reg_service.cancel(reg, reg, now)
    elif status == "rejected":
        reg_service.reject(reg, None, now)
    elif status is not None and status != reg.status:
        raise ValueError(f"the rules made this registration {reg.status!r}, not {status!r}")
    if commit:
        db.session.commit()
    reg.attendee_token = token
    return reg
