"""Glue: what check-in and surveys know, plugged into Slack's hooks — and Slack into surveys.

Slack sits above check-in and surveys, so it may import their public service functions;
this module (imported with the Slack pages by :func:`eventsvc.create_app`) registers:

* who came — check-in's valid check-ins (``checkin.service.attendees``); none recorded →
  the report falls back to confirmed registrations and says so;
* teams — the published run (``teams.service.published``), in the teams' own order, with
  the participants in each; posted as the report's thread reply;
* survey links — the short link for the report, each attendee's personal link for DMs
  (``None`` once they have answered, so nobody is asked twice); the survey's opening, which
  survey DMs wait for;
* surveys' invitation channels — ``slack`` → a ``slack.survey_dm`` delivery to a linked
  attendee, so "send invitations" on the survey page reaches Slack too. It shares its
  dedupe key with the Slack page's "survey DM" follow-up: a person gets one DM either way.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from ..checkin import service as checkin
from ..events.models import Event
from ..registration.mail import absolute_url
from ..registration.models import Registration
from ..surveys import service as surveys
from ..teams import service as teams_service
from . import blocks, service


def attendance(event: Event) -> list[Registration] | None:
    came = [a.registration for a in checkin.attendees(event) if a.checked_in]
    return came or None


def teams(event: Event) -> list[tuple[str, list[int]]]:
    """The published teams in their own order (Team 1, 2 … or as the organizer named and
    ordered them), each with the participants in it."""
    run = teams_service.published(event)
    if run is None:
        return []
    came, _checked = service.participants(event)
    came_ids = {r.id for r in came}
    out = []
    for team in run.teams:  # ordered by position
        ids = sorted(m.registration_id for m in team.members if m.registration_id in came_ids)
        if ids:
            out.append((team.name, ids))
    return out


def _open_survey(event: Event):
    survey = surveys.get_survey(event)
    if survey is None:
        return None
    from ..core.clock import now_utc

    return None if surveys.state(survey, now_utc()) == "closed" else survey


def survey_url(event: Event, registration: Registration | None) -> str | None:
    survey = _open_survey(event)
    if survey is None:
        return None
    if registration is None:
        return absolute_url("surveys.short", code=survey.short_code)
    if surveys.has_responded(survey, registration):
        return None
    token = surveys.link_token(registration, current_app.config["SECRET_KEY"])
    return absolute_url("surveys.answer", slug=event.slug, token=token)


def survey_opening(event: Event, now: datetime) -> datetime | None:
    """When the survey opens, while that is ahead: survey DMs wait for it."""
    survey = surveys.get_survey(event)
    if survey is None or surveys.state(survey, now) != "scheduled":
        return None
    return survey.opens_at


def survey_dm_key(event: Event, registration: Registration) -> str | None:
    """The dedupe key surveys uses for a Slack invitation (shared: one DM per person)."""
    survey = surveys.get_survey(event)
    return f"survey:{survey.id}:invite:slack:{registration.id}" if survey is not None else None


def _invite_channel(ctx: surveys.InviteContext) -> surveys.Outgoing | None:
    user = service.linked_user(ctx.registration)
    if not user:
        return None
    message = blocks.survey_dm(service.event_info(ctx.event), ctx.link, reminder=ctx.purpose == "reminder")
    payload = {**message.as_kwargs(), "label": ctx.registration.name, "followup": "survey_dm",
               "event": ctx.event.slug, "digest": ""}
    return surveys.Outgoing("slack.survey_dm", user, payload)


service.register_attendance_source(attendance)
service.register_team_source(teams)
service.register_survey_link_source(survey_url)
service.register_survey_dm_key(survey_dm_key)
service.register_survey_opening_source(survey_opening)
surveys.register_invite_channel("slack", _invite_channel)
