"""Team assignments: one row per run of the algorithm, its teams and who is in which.

A run (:class:`TeamAssignment`) records what was asked (scope, team count or size, seed,
keep-apart / keep-together groups, topics) and what came out (score, broken rules). The
event's *current* run is its newest; attendees, name tags and the reception desk see the
*published* run (at most one per event). Manual moves and swaps change the current run in
place and re-score it; a re-run makes a new row and keeps locked people where they were.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import now_utc
from ..core.types import UTCDateTime
from ..events.models import Event
from ..extensions import db
from ..registration.models import Registration

SCOPES = ("checked_in", "confirmed")


class TeamAssignment(db.Model):
    """One run of the team assignment for an event."""

    __tablename__ = "team_assignments"
    __table_args__ = (
        # at most one published run per event, below the service's lock
        Index("uq_team_assignments_one_published", "event_id", unique=True,
              sqlite_where=text("published"), postgresql_where=text("published")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    #: who was put into teams: ``checked_in`` (valid check-in) or ``confirmed`` registrations
    scope: Mapped[str] = mapped_column(String(20))
    team_count: Mapped[int | None] = mapped_column(Integer)
    team_size: Mapped[int | None] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    #: ``{keep_apart: [[registration id…]…], keep_together: [[…]…], topics: [str|None]|None,
    #: topic_question: str|None}`` — what the organizer asked for
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    #: the objective (lower is more diverse), as of the last change
    score: Mapped[float] = mapped_column(Float, default=0.0)
    #: the spread lower bound: ``score == lower_bound`` proves the teams optimal
    lower_bound: Mapped[float] = mapped_column(Float, default=0.0)
    #: broken hard rules as of the last change: ``[{code, people: [registration ids]}]``
    violations: Mapped[list] = mapped_column(JSON, default=list)
    #: the search's own figures (seconds, why it stopped) — for the curious organizer
    stats: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("organizers.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    #: attendees, name tags and the desk see this run (at most one published run per event)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[Event] = relationship()
    teams: Mapped[list[Team]] = relationship(
        back_populates="assignment", order_by="Team.position", cascade="all, delete-orphan"
    )
    members: Mapped[list[TeamMember]] = relationship(
        back_populates="assignment", cascade="all, delete-orphan"
    )


class Team(db.Model):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("assignment_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("team_assignments.id", ondelete="CASCADE"), index=True)
    #: 0-based; the algorithm's team index (locks refer to it)
    position: Mapped[int] = mapped_column(Integer)
    #: what name tags, the desk and Slack print after 「チーム」 (A, B, … or the organizer's name)
    name: Mapped[str] = mapped_column(String(100))
    topic: Mapped[str | None] = mapped_column(String(100))

    assignment: Mapped[TeamAssignment] = relationship(back_populates="teams")
    members: Mapped[list[TeamMember]] = relationship(
        back_populates="team", order_by="TeamMember.id"
    )


class TeamMember(db.Model):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("assignment_id", "registration_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("team_assignments.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    #: kept in this team when the organizer re-runs the assignment
    locked: Mapped[bool] = mapped_column(Boolean, default=False)

    assignment: Mapped[TeamAssignment] = relationship(back_populates="members")
    team: Mapped[Team] = relationship(back_populates="members")
    registration: Mapped[Registration] = relationship()
