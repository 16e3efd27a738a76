"""Shared by the robustness tests (fuzzing, bad-input corpus, access matrix): a small world of
real rows and every kind of caller, and a WSGI wrapper that runs each request in its own app
context (as :class:`tests.conftest.IsolatedClient` does for the test client)."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from datetime import timedelta

from flask.globals import _cv_app
from sqlalchemy import func, select

from eventsvc.checkin import service as checkin_service
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.registration import service as registration_service
from eventsvc.surveys import service as survey_service
from eventsvc.teams import service as teams_service

#: the tables whose row counts must not change when a request is refused
MAIN_TABLES = ("events", "ticket_types", "agenda_items", "registrations", "checkins", "checkin_log", "surveys",
               "survey_questions", "survey_responses", "survey_answers", "deliveries", "organizers", "api_tokens",
               "staff_links", "team_assignments", "teams", "slack_links", "lottery_draws")


@dataclass
class World:
    """Event ``event`` of organizer ``owner`` with attendees A and B; ``other_event`` of ``other``."""

    owner: object
    other: object
    admin: object
    admin_secret: str
    event: object
    other_event: object
    reg_a: object
    reg_b: object
    reg_other: object
    staff_link: object
    staff_token: str
    owner_token: str
    other_token: str
    admin_token: str
    survey_token_a: str = ""
    #: A's own page (``/my/<link>``)
    link_a: str = ""
    extra: dict = field(default_factory=dict)


def build_world(make, *, with_admin: bool = True) -> World:
    """Organizer ``owner`` runs ``event`` (published, survey open, staff link, A and B registered);
    organizer ``other`` runs ``other_event`` (one registration); an admin with TOTP."""
    from tests.integration.auth_support import enable_totp

    owner, other = make.organizer(name="主催 甲"), make.organizer(name="主催 乙")
    event = make.event(owner, title="那覇の勉強会")
    other_event = make.event(other, title="久留米の勉強会", prefecture_code="40")
    reg_a = make.registration(event, name="比嘉 太郎", name_kana="ヒガ タロウ")
    reg_b = make.registration(event, name="知念 花子", name_kana="チネン ハナコ")
    reg_other = make.registration(other_event, name="金城 次郎", name_kana="キンジョウ ジロウ")
    now = now_utc()
    link, staff_token = checkin_service.create_staff_link(event, "受付1", expires_at=now + timedelta(hours=6),
                                                          created_by=owner, now=now)
    survey = survey_service.create_survey(event, owner, now)
    survey.opens_at = now - timedelta(hours=1)  # the event is ahead: left alone, its survey opens at the start
    teams_service.run(event, teams_service.RunRequest(scope="confirmed", team_count=1, seed=1), owner, now,
                      time_limit=0.2)
    db.session.commit()
    admin, secret = None, ""
    if with_admin:
        admin = make.organizer(name="管理 丙", admin=True)
        secret, _codes = enable_totp(admin)
    from flask import current_app

    survey_token = survey_service.link_token(reg_a, current_app.config["SECRET_KEY"])
    return World(owner=owner, other=other, admin=admin, admin_secret=secret, event=event, other_event=other_event,
                 reg_a=reg_a, reg_b=reg_b, reg_other=reg_other, staff_link=link, staff_token=staff_token,
                 owner_token=make.token(owner), other_token=make.token(other),
                 admin_token=make.token(admin) if admin else "", survey_token_a=survey_token,
                 link_a=registration_service.link_token(reg_a))


def row_counts() -> dict[str, int]:
    """Rows per main table (read in a fresh transaction)."""
    db.session.commit()
    out = {}
    for name in MAIN_TABLES:
        table = db.metadata.tables.get(name)
        if table is not None:
            out[name] = db.session.scalar(select(func.count()).select_from(table))
    db.session.commit()
    return out


def isolated_wsgi(app):
    """``app`` as a WSGI callable whose requests run in a fresh app context (the test keeps its
    own pushed) after the test's session has committed (so nothing it holds blocks them)."""

    def call(environ, start_response):
        if _cv_app.get(None) is not None:
            db.session.commit()

        def run():
            _cv_app.set(None)
            body = app.wsgi_app(environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                if hasattr(body, "close"):
                    body.close()

        out = contextvars.copy_context().run(run)
        if _cv_app.get(None) is not None:
            db.session.commit()
        return out

    return call
