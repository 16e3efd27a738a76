"""JSON API for teams (``/api/v1/events/<slug>/team-assignments``, ``…/teams``).

The two calls of the design contract, plus the organizer's manual changes (move, swap,
lock) and publishing, so that everything the page does can be scripted too.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Literal

from flask import current_app
from pydantic import Field, StrictBool, StrictInt

from ..core.clock import now_utc
from ..errors import ValidationFailed
from ..events import service as events
from ..extensions import db
from ..jsonapi import Input, Output, Text, operation, principal
from . import service
from .models import TeamAssignment

Id = StrictInt


class TeamAssignmentIn(Input):
    scope: Literal["checked_in", "confirmed"] = Field(
        description="checked_in: confirmed registrations with a valid check-in; confirmed: every confirmed one")
    team_count: StrictInt | None = Field(default=None, ge=1, le=service.MAX_TEAMS,
                                         description="give team_count or team_size")
    team_size: StrictInt | None = Field(default=None, ge=1, le=1000,
                                        description="most people per team; sizes differ by at most one")
    seed: StrictInt | None = Field(default=None, ge=0, le=service.SEED_LIMIT,
                                   description="same seed and input → same teams (random when left out)")
    keep_apart: list[list[Id]] = Field(default_factory=list, max_length=service.MAX_GROUPS,
                                       description="groups of registration ids that must be in different teams")
    keep_together: list[list[Id]] = Field(default_factory=list, max_length=service.MAX_GROUPS,
                                          description="groups of registration ids that must share a team")
    topics: list[Text(100) | None] | None = Field(
        default=None, max_length=service.MAX_TEAMS,
        description="one topic per team (null: none); a team with a topic is named after it")
    names: list[Text(100)] | None = Field(default=None, max_length=service.MAX_TEAMS,
                                          description="one name per team (default: A, B, C…)")
    topic_question: Text(64) | None = Field(
        default=None, description="a registration question (single/multiple) whose answers are topic preferences")
    keep_locks: StrictBool = Field(default=True, description="keep the current run's locked people in their teams")


class MoveIn(Input):
    registration_id: Id
    team: StrictInt | None = Field(description="team index (0-based); null takes the person out of every team")
    run_id: Id | None = Field(default=None, description="refuse (409 teams_changed) unless this is the current run")


class SwapIn(Input):
    first: Id
    second: Id
    run_id: Id | None = None


class LockIn(Input):
    registration_id: Id
    locked: StrictBool
    run_id: Id | None = None


class RunRef(Input):
    run_id: Id | None = None


class TeamOut(Output):
    index: int
    name: str
    topic: str | None
    members: list[int] = Field(description="registration ids")
    facilitators: list[int] = Field(description="registration ids of the team's facilitators")
    locked: list[int] = Field(description="registration ids kept in this team on a re-run")
    summary: str = Field(description="the team's mix in words (organisations, prefectures, facilitator)")


class ViolationOut(Output):
    code: str
    message: str
    people: list[int]


class TeamsOut(Output):
    id: int
    scope: str
    seed: int
    published: bool
    teams: list[TeamOut]
    score: float | None = Field(description="lower is more diverse; null when the teams cannot be scored")
    lower_bound: float | None
    optimal: bool = Field(description="the score reaches the lower bound: no better teams exist")
    violations: list[ViolationOut] = Field(description="broken hard rules (empty when every rule holds)")
    unassigned: list[int] = Field(description="people in scope who are in no team")
    created_at: datetime
    updated_at: datetime


def teams_out(run: TeamAssignment) -> TeamsOut:
    ov = service.overview(run)
    return TeamsOut(
        id=run.id, scope=run.scope, seed=run.seed, published=run.published,
        teams=[TeamOut(index=tv.team.position, name=tv.team.name, topic=tv.team.topic,
                       members=[m.id for m in tv.members],
                       facilitators=[m.id for m in tv.members if m.registration.facilitator],
                       locked=[m.id for m in tv.members if m.member.locked],
                       summary=tv.mix.summary() if tv.mix else "")
               for tv in ov.teams],
        score=ov.score, lower_bound=ov.lower_bound, optimal=ov.optimal,
        violations=[ViolationOut(code=v.code, message=v.message, people=v.people) for v in ov.violations],
        unassigned=[r.id for r in ov.unassigned], created_at=run.created_at, updated_at=run.updated_at)


def _time_limit() -> float:
    return float(current_app.config.get("TEAMS_TIME_LIMIT", service.DEFAULT_TIME_LIMIT))


@operation("/events/<slug>/team-assignments", "POST", summary="Form teams", tags=["teams"],
           body=TeamAssignmentIn, response=TeamsOut, status=201, auth=["organizer"],
           errors=[401, 404, 415, 422])
def post_team_assignment(slug: str, body: TeamAssignmentIn):
    """Splits the people in ``scope`` into diverse teams (organisations, prefectures and
    organisation kinds spread; a facilitator in every team when there are enough) in about
    a second, and makes this the event's current (unpublished) run. Locked people of the
    previous run stay in their teams (``keep_locks``). Input no teams can satisfy answers
    422 with a stable ``error`` (``together_too_large``, ``apart_group_too_large``,
    ``apart_and_together``, ``too_many_teams``, ``locked_team_full``, ``no_feasible_assignment``,
    ``unknown_person``, ``no_people`` …) and a ``message`` naming the people in conflict."""
    event = events.get_event_for(slug, principal())
    req = service.RunRequest(
        scope=body.scope, team_count=body.team_count, team_size=body.team_size, seed=body.seed,
        keep_apart=[list(g) for g in body.keep_apart], keep_together=[list(g) for g in body.keep_together],
        names=body.names, topics=body.topics, topic_question=body.topic_question, keep_locks=body.keep_locks)
    run = service.run(event, req, principal(), now_utc(), time_limit=_time_limit())
    db.session.commit()
    return teams_out(run)


@operation("/events/<slug>/teams", "GET", summary="The event's current teams", tags=["teams"],
           response=TeamsOut, auth=["organizer"], errors=[401, 404])
def get_teams(slug: str):
    """The newest run, re-scored against the registrations as they are now. 404
    ``no_teams`` before the first run."""
    event = events.get_event_for(slug, principal())
    return teams_out(service.require_current(event))


@contextlib.contextmanager
def _person_as_registration_id():
    """The service names the person ``registration`` (the page's form field); this API's bodies
    name it ``registration_id``, and a 422 names the body's field."""
    try:
        yield
    except ValidationFailed as err:
        err.fields = {"registration_id" if key == "registration" else key: value for key, value in err.fields.items()}
        raise


@operation("/events/<slug>/teams/moves", "POST", summary="Move one person to another team", tags=["teams"],
           body=MoveIn, response=TeamsOut, auth=["organizer"], errors=[401, 404, 409, 415, 422])
def post_move(slug: str, body: MoveIn):
    """Someone in no team (a late arrival) is added; ``team: null`` takes a person out.
    The teams are re-scored; unbalanced sizes show up in ``violations``."""
    event = events.get_event_for(slug, principal())
    run = service.check_current(event, body.run_id)
    with _person_as_registration_id():
        service.move(run, body.registration_id, body.team, principal(), now_utc())
    db.session.commit()
    return teams_out(run)


@operation("/events/<slug>/teams/swaps", "POST", summary="Exchange the teams of two people", tags=["teams"],
           body=SwapIn, response=TeamsOut, auth=["organizer"], errors=[401, 404, 409, 415, 422])
def post_swap(slug: str, body: SwapIn):
    event = events.get_event_for(slug, principal())
    run = service.check_current(event, body.run_id)
    service.swap(run, body.first, body.second, principal(), now_utc())
    db.session.commit()
    return teams_out(run)


@operation("/events/<slug>/teams/locks", "POST", summary="Lock a person to their team, or unlock them",
           tags=["teams"], body=LockIn, response=TeamsOut, auth=["organizer"], errors=[401, 404, 409, 415, 422])
def post_lock(slug: str, body: LockIn):
    """A locked person stays in their team when the teams are formed again."""
    event = events.get_event_for(slug, principal())
    run = service.check_current(event, body.run_id)
    with _person_as_registration_id():
        service.set_locked(run, body.registration_id, body.locked, now_utc())
    db.session.commit()
    return teams_out(run)


@operation("/events/<slug>/teams/publish", "POST", summary="Show the current teams to attendees", tags=["teams"],
           body=RunRef, response=TeamsOut, auth=["organizer"], errors=[401, 404, 409, 415])
def post_publish(slug: str, body: RunRef):
    """Attendees see their team on their page; name tags, the desk and the Slack report show it."""
    event = events.get_event_for(slug, principal())
    run = service.check_current(event, body.run_id)
    service.publish(run, principal(), now_utc())
    db.session.commit()
    return teams_out(run)


@operation("/events/<slug>/teams/unpublish", "POST", summary="Stop showing the current teams", tags=["teams"],
           body=RunRef, response=TeamsOut, auth=["organizer"], errors=[401, 404, 409, 415])
def post_unpublish(slug: str, body: RunRef):
    event = events.get_event_for(slug, principal())
    run = service.check_current(event, body.run_id)
    service.unpublish(run, now_utc())
    db.session.commit()
    return teams_out(run)
