"""Erasing people from team assignments (plugged into :mod:`eventsvc.registration.privacy`).

A member row names a registration; it goes. The retention purge first writes each run's
team sizes into its ``stats`` (``member_counts``, in team order), so how many people each
team had stays when who they were does not.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select

from ..extensions import db
from ..registration.privacy import Erasure, register_eraser
from .models import Team, TeamAssignment, TeamMember


def erase(er: Erasure) -> dict[str, int]:
    if er.whole_event:
        runs = db.session.scalars(select(TeamAssignment).where(TeamAssignment.event_id == er.event.id))
        for run in runs:
            if "member_counts" in (run.stats or {}):
                continue
            sizes = dict(db.session.execute(
                select(TeamMember.team_id, func.count()).where(TeamMember.assignment_id == run.id)
                .group_by(TeamMember.team_id)).all())
            teams = db.session.scalars(select(Team).where(Team.assignment_id == run.id).order_by(Team.position))
            run.stats = {**(run.stats or {}), "member_counts": [int(sizes.get(t.id, 0)) for t in teams]}
        db.session.flush()
    removed = db.session.execute(delete(TeamMember).where(TeamMember.registration_id.in_(er.registration_ids or [-1]))
                                 .execution_options(synchronize_session=False)).rowcount
    return {"team_members_removed": removed}


register_eraser("teams", erase)
