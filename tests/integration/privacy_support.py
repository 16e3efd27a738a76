"""Helpers for the privacy tests: a past event full of personal data (canaries), and a scan of
every column of every table in the database for them. No tests here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import MetaData, func, select

from eventsvc.checkin import service as checkin
from eventsvc.checkin.models import Checkin
from eventsvc.core.clock import JST, now_utc
from eventsvc.extensions import db
from eventsvc.registration import service as registrations
from eventsvc.registration.models import Registration
from eventsvc.slack.models import SlackLink

PURPOSE = "この勉強会の受付と連絡のためにだけ使います（テスト用の利用目的）。"


def past_event(make, org, *, days_ago: int, capacity: int = 30, **kw):
    """An event that ended ``days_ago`` days ago; registrations are made a week before it."""
    from eventsvc.events import service as events

    start = (now_utc() - timedelta(days=days_ago)).astimezone(JST).replace(hour=13, minute=30, second=0,
                                                                           microsecond=0)
    at = start - timedelta(days=7)
    event = make.event(org, starts_at=start, ends_at=start + timedelta(hours=3), now=at,
                       ticket_types=[events.TicketTypeData("venue", "会場参加", capacity),
                                     events.TicketTypeData("online", "オンライン参加", 100)], **kw)
    set_questions(event, org, at)
    return event, at


def set_questions(event, org, at) -> None:
    """A free-text question (erased with the person) and a choice (kept for statistics), and
    the event's own purpose-of-use text."""
    registrations.update_settings(event, org, at, promotion_mode="auto", offer_hours=48, questions=[
        registrations.Question("hitokoto", "text", "ひとこと"),
        registrations.Question("kanshin", "single", "関心のあるテーマ", ["窓口", "防災"]),
    ], lottery_at=None, privacy_purpose=PURPOSE)
    db.session.commit()


@dataclass
class Person:
    """One attendee and every personal string of theirs that may land in the database."""

    reg: Registration
    token: str
    canaries: list[str] = field(default_factory=list)


def person(make, event, at: datetime, tag: str, *, slack_user: str | None = None, domain: str = "city.naha.lg.jp",
           **kw) -> Person:
    """A registration whose name, reading, address, department and free-text answer are unique."""
    name, kana = f"比嘉{tag}", f"ヒガ{_kana(tag)}"
    email = f"canary.{_ascii(tag)}@{domain}"
    department = f"{tag}推進課"
    note = f"{tag}のひとこと"
    reg = make.registration(event, name=name, name_kana=kana, email=email, department=department,
                            answers={"hitokoto": note, "kanshin": "窓口"}, now=at, **kw)
    canaries = [name, kana, email, department, note, reg.ticket_code]
    if slack_user:
        db.session.add(SlackLink(registration_id=reg.id, event_id=event.id, status="linked", slack_user_id=slack_user,
                                 method="manual", pinned=True, updated_by="test"))
        db.session.commit()
        canaries.append(slack_user)
    return Person(reg, reg.attendee_token, canaries)


_KANA = {"カナリア": "カナリア", "ツグミ": "ツグミ", "メジロ": "メジロ", "ヒバリ": "ヒバリ", "ウグイス": "ウグイス"}


def _kana(tag: str) -> str:
    return _KANA.get(tag, "カナリア")


def _ascii(tag: str) -> str:
    return {"カナリア": "kanaria", "ツグミ": "tsugumi", "メジロ": "mejiro", "ヒバリ": "hibari",
            "ウグイス": "uguisu"}.get(tag, "kanaria")


def check_in(event, reg, org, *, device: str, at: datetime) -> None:
    res = checkin.check_in(event, reg.ticket_code, device_id=device, nonce=f"nonce-{device}-{reg.id}",
                           scanned_at=at, method="scanner", actor=checkin.Actor.organizer(org), now=at)
    assert res.result == "checked_in", res.result
    db.session.commit()


def scan_unknown(event, org, *, device: str, at: datetime, text: str) -> None:
    res = checkin.check_in(event, text, device_id=device, nonce=f"nonce-{device}-x", scanned_at=at,
                           method="scanner", actor=checkin.Actor.organizer(org), now=at)
    assert res.result == "unknown_code", res.result
    db.session.commit()


def find_in_database(needles) -> list[tuple[str, str, str]]:
    """``(table, column, needle)`` for every needle found in any column of any table.

    The tables are read from the database itself (not the models), so a table or column
    nobody thought of is scanned too; every value is compared as text (JSON as JSON).
    """
    needles = [n for n in needles if n]
    db.session.flush()
    meta = MetaData()
    meta.reflect(bind=db.session.connection())
    hits = []
    for table in meta.sorted_tables:
        if table.name == "alembic_version":
            continue
        for row in db.session.execute(select(table)).mappings():
            for column, value in row.items():
                if value is None:
                    continue
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
                hits.extend((table.name, column, n) for n in needles if n in text)
    return hits


def registration_stats(event) -> dict:
    """The anonymous statistics the purge keeps."""
    rows = db.session.execute(select(Registration.status, Registration.ticket_type_id, Registration.organization_code,
                                     func.count()).where(Registration.event_id == event.id)
                              .group_by(Registration.status, Registration.ticket_type_id,
                                        Registration.organization_code)).all()
    checked_in = db.session.scalar(select(func.count()).select_from(Checkin).where(
        Checkin.event_id == event.id, Checkin.result == "checked_in", Checkin.undone_at.is_(None)))
    return {"registrations": sorted((s, t, o or "", n) for s, t, o, n in rows), "checked_in": checked_in}
