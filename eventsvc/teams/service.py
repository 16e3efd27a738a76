"""Workshop teams in the app: who is in scope, run the algorithm, adjust by hand, publish.

The rules live in :mod:`eventsvc.teams.assign` (pure). This module turns registrations
into :class:`~eventsvc.teams.assign.Person` inputs, saves each run, re-scores it after
every manual change (:func:`~eventsvc.teams.assign.evaluate`), and answers infeasible
input with a :class:`TeamError` naming the conflict in Japanese — the search is bounded
by a time budget, so nothing hangs.

Who is in scope comes from check-in's public query (:func:`eventsvc.checkin.service.attendees`):
``checked_in`` = confirmed registrations with a valid check-in, ``confirmed`` = every
confirmed registration. Functions take the actor and ``now``, flush and never commit.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import secrets
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import selectinload

from ..checkin import service as checkin
from ..core import orgs
from ..core.i18n import N_, join, msg
from ..core.text import TextError, check_text, search_key
from ..errors import Conflict, DomainError, NotFound, ValidationFailed
from ..events.models import Event
from ..extensions import db
from ..registration import service as registrations
from ..registration.models import Registration
from . import assign as algo
from .explain import Mix, Shape, mix, names_text, violation_text
from .models import SCOPES, Team, TeamAssignment, TeamMember

#: seconds the search may take on the organizer's click (the benchmark reaches the
#: proven optimum of 400-person rosters well within this)
DEFAULT_TIME_LIMIT = 1.0
MAX_TEAMS = 200
MAX_GROUPS = 500
MAX_NAME = 100
SEED_LIMIT = 2**31 - 1

#: which input a conflict is about (for ``fields`` in the API and on the form)
_FIELD_OF = {
    "too_many_teams": "team_count",
    "invalid_team_count": "team_count",
    "invalid_team_size": "team_size",
    "topics_mismatch": "topics",
    "together_too_large": "keep_together",
    "locked_together_split": "keep_together",
    "apart_and_together": "keep_apart",
    "apart_group_too_large": "keep_apart",
    "locked_apart": "keep_apart",
}


class TeamError(DomainError):
    """The request cannot be met; ``message`` names the conflict (and the people in it)."""

    status = 422

    def __init__(self, code: str, message: str, fields: dict | None = None, people: Iterable = ()):
        super().__init__(code, message, fields)
        self.people = list(people)


# ------------------------------------------------------------------ input
@dataclass
class RunRequest:
    """What the organizer asks for. Give exactly one of ``team_count`` / ``team_size``.

    ``names`` (one per team) become the team names, ``topics`` (one per team, may be
    None) the team topics — a team with a topic and no name is named after it, a team with
    neither is A, B, C…. When both are None and ``keep_names`` is set, the current run's
    names and topics are kept if the team count is unchanged.
    ``topic_question`` is a registration question whose answers are each person's topic
    preferences. ``keep_locks`` keeps the current run's locked people in their teams.
    """

    scope: str = "checked_in"
    team_count: int | None = None
    team_size: int | None = None
    seed: int | None = None
    keep_apart: list[list[int]] = field(default_factory=list)
    keep_together: list[list[int]] = field(default_factory=list)
    names: list[str] | None = None
    topics: list[str | None] | None = None
    topic_question: str | None = None
    keep_locks: bool = True
    keep_names: bool = True


def default_name(position: int) -> str:
    """A, B, … Z, then 27, 28, … (what follows 「チーム」 on name tags)."""
    return chr(ord("A") + position) if position < 26 else str(position + 1)


def team_names_for(k: int, names: Sequence[str | None] | None, topics: Sequence[str | None] | None) -> list[str]:
    """One distinct name per team: the given name, else the topic, else A, B, C…

    Name tags and the desk tell teams apart by name, so a repeated name (two tables on the
    same topic) gets the team's letter added: 「窓口 A」「窓口 D」.
    """
    out = []
    for i in range(k):
        given = ((names[i] if names else None) or "").strip()
        out.append((given or (topics[i] if topics else None) or default_name(i))[:MAX_NAME])
    seen = Counter(out)
    return [f"{n[:MAX_NAME - 4]} {default_name(i)}" if seen[n] > 1 else n for i, n in enumerate(out)]


def _actor_label(actor) -> str:
    return (getattr(actor, "name", None) or str(actor or ""))[:100]


def in_scope(event: Event, scope: str) -> list[Registration]:
    """Confirmed registrations (``confirmed``), or those with a valid check-in (``checked_in``)."""
    if scope not in SCOPES:
        raise ValidationFailed({"scope": N_("checked_in か confirmed を指定してください。")})
    people = checkin.attendees(event)
    if scope == "checked_in":
        people = [a for a in people if a.checked_in]
    return [a.registration for a in people]


def scope_counts(event: Event) -> dict[str, int]:
    people = checkin.attendees(event)
    return {"checked_in": sum(1 for a in people if a.checked_in), "confirmed": len(people)}


def topic_questions(event: Event) -> list[registrations.Question]:
    """Registration questions whose answers can serve as topic preferences."""
    return [q for q in registrations.questions_of(event) if q.kind in ("single", "multiple")]


def _org_key(reg: Registration) -> str | None:
    if reg.organization_code:
        return reg.organization_code
    if reg.organization_name:
        return "name:" + search_key(reg.organization_name)
    return None


def _topics_of(reg: Registration, question: str | None) -> tuple[str, ...]:
    if not question:
        return ()
    value = (reg.answers or {}).get(question)
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str) and v)
    return ()


def person(reg: Registration, topic_question: str | None = None) -> algo.Person:
    """The algorithm's view of a registration: organisation, prefecture, region, kind, facilitator."""
    org = orgs.get(reg.organization_code)
    return algo.Person(
        id=reg.id,
        organization=_org_key(reg),
        prefecture=org.prefecture_code if org else None,
        region=org.region if org else None,
        kind=org.kind if org else None,
        facilitator=bool(reg.facilitator),
        topics=_topics_of(reg, topic_question),
        name=reg.name,
    )


def org_names(regs: Iterable[Registration]) -> dict[str, str]:
    """Organisation key → display name (for the mix indicators)."""
    out = {}
    for r in regs:
        key = _org_key(r)
        if key:
            out.setdefault(key, r.organization_name or key)
    return out


_SEPARATORS = re.compile(r"[,、，;；/／\t]+")
_NUMBER = re.compile(r"^(?:no\.?|#)?\s*(\d{1,9})(?:\s+.*)?$", re.IGNORECASE)


def groups_from_text(text: str, regs: Sequence[Registration], field_name: str) -> list[list[int]]:
    """Parse the organizer's groups: one group per line, people separated by 「、」 or commas.

    A person is a registration number (``12``, ``No.12``, ``#12``, optionally followed by
    the name) or a name as registered (spaces and kana width ignored). Raises
    ``ValidationFailed`` naming what does not fit.
    """
    by_id = {r.id: r for r in regs}
    by_name: dict[str, list[Registration]] = {}
    for r in regs:
        by_name.setdefault(search_key(r.name), []).append(r)
    groups: list[list[int]] = []
    problems: list[str] = []
    for line in (text or "").splitlines():
        tokens = [t.strip() for t in _SEPARATORS.split(unicodedata.normalize("NFKC", line)) if t.strip()]
        if not tokens:
            continue
        group: list[int] = []
        for token in tokens:
            m = _NUMBER.match(token)
            if m:
                rid = int(m.group(1))
                if rid in by_id:
                    group.append(rid)
                else:
                    problems.append(msg(N_("No.%(number)s は対象の参加者にいません。"), number=rid))
                continue
            hits = by_name.get(search_key(token), [])
            if len(hits) == 1:
                group.append(hits[0].id)
            elif hits:
                numbers = "、".join(f"No.{r.id}" for r in hits)
                problems.append(msg(N_("「%(name)s」さんが複数います。番号（%(numbers)s）で指定してください。"),
                                    name=token, numbers=numbers))
            else:
                problems.append(msg(N_("「%(name)s」さんが対象の参加者に見つかりません。"), name=token))
        group = list(dict.fromkeys(group))  # one person named twice (by name and by number) counts once
        if len(group) == 1:
            problems.append(msg(N_("1行に別々の2人以上を書いてください（「%(line)s」）。"), line=line.strip()))
        elif group:
            groups.append(group)
    if len(groups) > MAX_GROUPS:
        problems.append(msg(N_("グループは%(n)s行までです。"), n=MAX_GROUPS))
    if problems:
        raise ValidationFailed({field_name: join(dict.fromkeys(problems))})
    return groups


def groups_as_text(groups: Sequence[Sequence[int]], names: dict[int, str]) -> str:
    """The inverse of :func:`groups_from_text`, for putting the last run back into the form."""
    return "\n".join("、".join(f"No.{i} {names.get(i, '')}".strip() for i in g) for g in groups)


#: who a run is about (``explain.scope_label``'s words), in the Japanese of the error messages
_SCOPE_WORDS = {"checked_in": N_("受付済みの人"), "confirmed": N_("参加確定の人")}


def _scope_words(scope: str):
    return msg(_SCOPE_WORDS.get(scope, N_("参加確定の人")))


def _label(value: str | None, errors: dict, key: str) -> str | None:
    """A team name or topic as it may be stored: trimmed, no control or bidi characters
    (PostgreSQL refuses NUL), at most ``MAX_NAME``; text that shows nothing is none."""
    if value is None:
        return None
    try:
        value = check_text(value)
    except TextError as err:
        errors.setdefault(key, err.message)
        return value
    if len(value) > MAX_NAME:
        errors.setdefault(key, msg(N_("%(n)s文字以内で指定してください。"), n=MAX_NAME))
    return value


def _check_request(req: RunRequest) -> RunRequest:
    """Refuse malformed input; return the request with its names and topics cleaned."""
    errors: dict[str, str] = {}
    if req.scope not in SCOPES:
        errors["scope"] = N_("checked_in か confirmed を指定してください。")
    if (req.team_count is None) == (req.team_size is None):
        errors["team_count"] = N_("チーム数か1チームの人数の、どちらか一方を指定してください。")
    elif req.team_count is not None and not 1 <= req.team_count <= MAX_TEAMS:
        errors["team_count"] = msg(N_("チーム数は1〜%(max)sで指定してください。"), max=MAX_TEAMS)
    elif req.team_size is not None and not 1 <= req.team_size <= 1000:
        errors["team_size"] = N_("1チームの人数は1〜1000で指定してください。")
    if req.seed is not None and not 0 <= req.seed <= SEED_LIMIT:
        errors["seed"] = msg(N_("シードは0〜%(max)sの整数で指定してください。"), max=SEED_LIMIT)
    names = None if req.names is None else [_label(v, errors, "names") or "" for v in req.names]
    topics = None if req.topics is None else [_label(v, errors, "topics") or None for v in req.topics]
    for key, groups in (("keep_apart", req.keep_apart), ("keep_together", req.keep_together)):
        if len(groups) > MAX_GROUPS:
            errors[key] = msg(N_("グループは%(n)s個までです。"), n=MAX_GROUPS)
        elif any(len(set(g)) < 2 for g in groups):  # [[5, 5]] is one person, not a group
            errors[key] = N_("各グループに別々の2人以上を指定してください。")
    if errors:
        raise ValidationFailed(errors)
    return dataclasses.replace(req, names=names, topics=topics)


def _check_people(groups: Sequence[Sequence[int]], regs_by_id: dict[int, Registration], event: Event,
                  scope: str, field_name: str) -> None:
    missing = sorted({i for g in groups for i in g if i not in regs_by_id})
    if not missing:
        return
    known = {r.id: r.name for r in db.session.scalars(select(Registration).where(
        Registration.event_id == event.id, Registration.id.in_([i for i in missing if _id_ok(i)])))}
    who = names_text(missing, lambda i: known.get(i) or f"No.{i}")
    raise TeamError("unknown_person", msg(N_("%(scope)sに含まれていない人が指定されています: %(who)s"),
                                          scope=_scope_words(scope), who=who),
                    {field_name: msg(N_("%(scope)sに含まれていない人がいます: %(who)s"), scope=_scope_words(scope), who=who)},
                    missing)


def _error_from(err: algo.AssignmentError, regs_by_id: dict[int, Registration], shape: Shape) -> TeamError:
    """The algorithm's first conflict as a Japanese error, every conflict in ``fields``."""

    def name_of(i) -> str:
        reg = regs_by_id.get(i)
        return reg.name if reg else f"No.{i}"

    messages = [violation_text(v.code, v.people, name_of=name_of, shape=shape) for v in err.violations]
    fields: dict[str, str] = {}
    for v, text in zip(err.violations, messages, strict=True):
        key = _FIELD_OF.get(v.code, "teams")
        fields[key] = f"{fields[key]} {text}" if key in fields else text
    return TeamError(err.code, messages[0], fields, err.people)


# ------------------------------------------------------------------ queries
def current(event: Event) -> TeamAssignment | None:
    """The event's newest run (what the organizer works on), or None."""
    return db.session.scalar(select(TeamAssignment).where(TeamAssignment.event_id == event.id)
                             .order_by(TeamAssignment.id.desc()).limit(1)
                             .options(selectinload(TeamAssignment.teams), selectinload(TeamAssignment.members)))


def published(event: Event) -> TeamAssignment | None:
    """The run attendees, name tags and the desk see, or None."""
    return db.session.scalar(select(TeamAssignment).where(TeamAssignment.event_id == event.id,
                                                          TeamAssignment.published.is_(True)))


def require_current(event: Event) -> TeamAssignment:
    run = current(event)
    if run is None:
        raise NotFound("no_teams", N_("まだチーム分けをしていません。"))
    return run


def check_current(event: Event, run_id: int | None) -> TeamAssignment:
    """The current run, refusing a change meant for an older one (a stale page)."""
    run = require_current(event)
    if run_id is not None and run_id != run.id:
        raise Conflict("teams_changed", N_("チーム分けが更新されています。画面を読み込み直してから操作してください。"))
    return run


def _lock(run: TeamAssignment) -> None:
    """Serialise changes to one run (PostgreSQL row lock; SQLite already holds the write lock)."""
    db.session.execute(select(TeamAssignment.id).where(TeamAssignment.id == run.id).with_for_update())
    # what was loaded before the lock may be stale: read teams and members again
    db.session.expire(run, ["teams", "members"])


# ------------------------------------------------------------------ run
def run(event: Event, req: RunRequest, actor, now: datetime, *,
        time_limit: float = DEFAULT_TIME_LIMIT) -> TeamAssignment:
    """Form teams from the people in scope and save them as the event's current run.

    Locked people of the current run keep their team (when ``keep_locks``). Raises
    ``ValidationFailed`` for malformed input and :class:`TeamError` (422) for input no
    teams can satisfy — its message names the conflict and the people in it.
    """
    req = _check_request(req)
    regs = in_scope(event, req.scope)
    if not regs:
        raise TeamError("no_people", msg(N_("チームに分ける人がいません（%(scope)s: 0人）。"), scope=_scope_words(req.scope)),
                        {"scope": msg(N_("%(scope)sがいません。"), scope=_scope_words(req.scope))})
    regs_by_id = {r.id: r for r in regs}
    _check_people(req.keep_apart, regs_by_id, event, req.scope, "keep_apart")
    _check_people(req.keep_together, regs_by_id, event, req.scope, "keep_together")
    if req.topic_question and req.topic_question not in {q.id for q in topic_questions(event)}:
        raise ValidationFailed({"topic_question": N_("選択式の申込み質問を指定してください。")})

    n = len(regs)
    k = req.team_count if req.team_count is not None else max(1, -(-n // req.team_size))
    previous = current(event)
    locked: dict[int, int] = {}
    if req.keep_locks and previous is not None:
        positions = {t.id: t.position for t in previous.teams}
        locked = {m.registration_id: positions[m.team_id] for m in previous.members
                  if m.locked and m.registration_id in regs_by_id}

    names, topics = req.names, req.topics
    if (req.keep_names and names is None and topics is None and previous is not None
            and len(previous.teams) == k):
        names = [t.name for t in previous.teams]
        topics = [t.topic for t in previous.teams]
    shape = Shape(people=n, teams=k, facilitators=sum(1 for r in regs if r.facilitator),
                  topics_given=len(topics or names or []))
    for key, values in (("names", names), ("topics", topics)):
        if values is not None and len(values) != k:
            raise TeamError("topics_mismatch" if key == "topics" else "names_mismatch",
                            msg(N_("%(n)s個のテーマに対して、チーム数は%(k)sです。") if key == "topics"
                                else N_("%(n)s個のチーム名に対して、チーム数は%(k)sです。"), n=len(values), k=k),
                            {key: msg(N_("チーム数（%(k)s）と同じ数だけ指定してください（いま%(n)s個）。"), k=k, n=len(values))})
    clean_topics = [t.strip() if t and t.strip() else None for t in topics] if topics else None
    if clean_topics is not None and not any(clean_topics):
        clean_topics = None

    seed = req.seed if req.seed is not None else secrets.randbelow(SEED_LIMIT)
    people = [person(r, req.topic_question) for r in regs]
    try:
        result = algo.assign(
            people, team_count=req.team_count, team_size=req.team_size, seed=seed,
            keep_apart=req.keep_apart, keep_together=req.keep_together, locked=locked,
            topics=clean_topics, time_limit=time_limit)
    except algo.AssignmentError as err:
        raise _error_from(err, regs_by_id, shape) from None

    row = TeamAssignment(
        event_id=event.id, scope=req.scope, team_count=req.team_count, team_size=req.team_size, seed=seed,
        params={"keep_apart": [list(g) for g in req.keep_apart], "keep_together": [list(g) for g in req.keep_together],
                "topic_question": req.topic_question, "locked": {str(i): t for i, t in locked.items()}},
        score=result.score, lower_bound=result.lower_bound,
        violations=[{"code": v.code, "people": list(v.people)} for v in result.violations],
        stats={k_: v for k_, v in result.stats.items() if isinstance(v, int | float | str)},
        created_by=_actor_label(actor), created_by_id=getattr(actor, "id", None), created_at=now, updated_at=now,
        published=False)
    db.session.add(row)
    db.session.flush()
    labels = team_names_for(k, names, clean_topics)
    for t in result.teams:
        team = Team(assignment_id=row.id, position=t.index, name=labels[t.index],
                    topic=clean_topics[t.index] if clean_topics else None)
        db.session.add(team)
        db.session.flush()
        for rid in t.members:
            db.session.add(TeamMember(assignment_id=row.id, team_id=team.id, registration_id=rid,
                                      locked=rid in locked))
    db.session.flush()
    db.session.refresh(row)
    return row


# ------------------------------------------------------------------ evaluation
@dataclass
class MemberView:
    member: TeamMember
    registration: Registration

    @property
    def id(self) -> int:
        return self.registration.id


@dataclass
class TeamView:
    team: Team
    members: list[MemberView]
    mix: Mix | None


@dataclass
class ViolationView:
    code: str
    message: str
    people: list[int]


@dataclass
class Overview:
    """A run as the organizer sees it, re-scored from the registrations as they are now."""

    run: TeamAssignment
    teams: list[TeamView]
    score: float | None
    lower_bound: float | None
    violations: list[ViolationView]
    #: in the run's scope but in no team (arrived late, or moved out)
    unassigned: list[Registration]

    @property
    def optimal(self) -> bool:
        return self.score is not None and not self.violations and self.score <= (self.lower_bound or 0) + 1e-9

    def team_name_of(self, registration_id: int) -> str | None:
        for tv in self.teams:
            if any(m.id == registration_id for m in tv.members):
                return tv.team.name
        return None


def _present_groups(groups: Sequence[Sequence[int]], ids: set[int]) -> list[list[int]]:
    out = []
    for g in groups or ():
        kept = [i for i in g if i in ids]
        if len(kept) > 1:
            out.append(kept)
    return out


def _evaluate(run: TeamAssignment) -> tuple[algo.Assignment | None, list[algo.Violation], dict[int, Registration]]:
    members = list(run.members)
    regs = {r.id: r for r in db.session.scalars(select(Registration).where(
        Registration.id.in_([m.registration_id for m in members])))} if members else {}
    ids = set(regs)
    teams = list(run.teams)
    by_team: dict[int, list[int]] = {t.id: [] for t in teams}
    for m in sorted(members, key=lambda m: m.id):
        by_team[m.team_id].append(m.registration_id)
    params = run.params or {}
    question = params.get("topic_question")
    people = [person(regs[i], question) for t in teams for i in by_team[t.id]]
    topics = [t.topic for t in teams] if any(t.topic for t in teams) else None
    positions = {t.id: t.position for t in teams}
    locked = {m.registration_id: positions[m.team_id] for m in members if m.locked}
    if not people:
        return None, [algo.Violation("no_people", "")], regs
    try:
        result = algo.evaluate(
            people, [by_team[t.id] for t in teams],
            keep_apart=_present_groups(params.get("keep_apart"), ids),
            keep_together=_present_groups(params.get("keep_together"), ids),
            locked=locked, topics=topics)
    except algo.AssignmentError as err:
        return None, list(err.violations), regs
    return result, list(result.violations), regs


def overview(run: TeamAssignment) -> Overview:
    """Every team with its members and mix, the score and each broken rule in words."""
    result, violations, regs = _evaluate(run)
    names = org_names(regs.values())
    member_rows = {m.registration_id: m for m in run.members}
    teams = []
    for t in run.teams:
        explanation = result.teams[t.position].explanation if result is not None else None
        ids = result.teams[t.position].members if result is not None else \
            [m.registration_id for m in sorted(run.members, key=lambda m: m.id) if m.team_id == t.id]
        teams.append(TeamView(t, [MemberView(member_rows[i], regs[i]) for i in ids],
                              mix(explanation, org_names=names, has_topic=bool(t.topic)) if explanation else None))
    shape = Shape(people=len(regs), teams=len(teams), facilitators=sum(1 for r in regs.values() if r.facilitator))
    views = [ViolationView(v.code, violation_text(v.code, v.people, name_of=lambda i: regs[i].name if i in regs else f"No.{i}",
                                                  shape=shape, team=team), list(v.people))
             for v, team in zip(violations, _teams_meant(violations, teams), strict=True)]
    in_run = set(regs)
    try:
        unassigned = [r for r in in_scope(run.event, run.scope) if r.id not in in_run]
    except DomainError:
        unassigned = []
    return Overview(run, teams, result.score if result else None, result.lower_bound if result else None,
                    views, unassigned)


def _teams_meant(violations: Sequence[algo.Violation], teams: Sequence[TeamView]) -> list[str | None]:
    """The team each violation is about: the team of its first person or, for a team
    broken by being empty of people or of facilitators (no people named), the next such team
    (the algorithm reports team rules in team order)."""
    team_of = {m.id: tv.team.name for tv in teams for m in tv.members}
    empty = iter([tv.team.name for tv in teams if not tv.members])
    no_facilitator = iter([tv.team.name for tv in teams if not any(m.registration.facilitator for m in tv.members)])
    out: list[str | None] = []
    for v in violations:
        if v.people:
            out.append(team_of.get(v.people[0]) if v.code in ("team_size", "keep_apart", "facilitator_rule") else None)
        elif v.code == "team_size":
            out.append(next(empty, None))
        elif v.code == "facilitator_rule":
            out.append(next(no_facilitator, None))
        else:
            out.append(None)
    return out


def _rescore(run: TeamAssignment, now: datetime) -> None:
    db.session.flush()
    db.session.expire(run, ["teams", "members"])
    result, violations, _regs = _evaluate(run)
    run.score = result.score if result is not None else 0.0
    run.lower_bound = result.lower_bound if result is not None else 0.0
    run.violations = [{"code": v.code, "people": list(v.people)} for v in violations]
    run.updated_at = now
    db.session.flush()


# ------------------------------------------------------------------ manual changes
def _team_at(run: TeamAssignment, position: int) -> Team:
    team = next((t for t in run.teams if t.position == position), None)
    if team is None:
        raise ValidationFailed({"team": N_("そのチームはありません。")})
    return team


def _id_ok(value: object) -> bool:
    """Ids the database can hold (larger ones would overflow SQLite or PostgreSQL's integer)."""
    return isinstance(value, int) and 0 < value < 2**31


def _member(run: TeamAssignment, registration_id: int) -> TeamMember | None:
    if not _id_ok(registration_id):
        return None
    return db.session.scalar(select(TeamMember).where(TeamMember.assignment_id == run.id,
                                                      TeamMember.registration_id == registration_id)
                             .execution_options(populate_existing=True))


def _registration_of(run: TeamAssignment, registration_id: int) -> Registration:
    reg = db.session.get(Registration, registration_id) if _id_ok(registration_id) else None
    if reg is None or reg.event_id != run.event_id:
        raise ValidationFailed({"registration": N_("このイベントの参加者ではありません。")})
    return reg


def move(run: TeamAssignment, registration_id: int, position: int | None, actor, now: datetime) -> TeamMember | None:
    """Put a person into the team at ``position`` (None: out of every team).

    Someone not yet in a team (a late arrival) is added; a locked person stays locked
    in their new team. The run is re-scored: size or rule problems show as violations.
    """
    _lock(run)
    reg = _registration_of(run, registration_id)
    member = _member(run, registration_id)
    if position is None:
        if member is not None:
            db.session.delete(member)
        _rescore(run, now)
        return None
    team = _team_at(run, position)
    if member is None:
        if reg.status != "confirmed":
            raise ValidationFailed({"registration": N_("参加確定の人だけをチームに入れられます。")})
        member = TeamMember(assignment_id=run.id, team_id=team.id, registration_id=reg.id, locked=False)
        db.session.add(member)
    else:
        member.team_id = team.id
    _rescore(run, now)
    return member


def swap(run: TeamAssignment, first: int, second: int, actor, now: datetime) -> None:
    """Exchange the teams of two people (sizes stay as they are)."""
    _lock(run)
    a, b = _member(run, first), _member(run, second)
    if a is None or b is None:
        raise ValidationFailed({"first" if a is None else "second": N_("チームに入っていない人です。")})
    if a.team_id == b.team_id:
        raise ValidationFailed({"second": N_("同じチームの人どうしは入れ替えられません。")})
    a.team_id, b.team_id = b.team_id, a.team_id
    _rescore(run, now)


def set_locked(run: TeamAssignment, registration_id: int, locked: bool, now: datetime) -> TeamMember:
    """Lock a person to their team (kept there by a re-run), or unlock them."""
    _lock(run)
    member = _member(run, registration_id)
    if member is None:
        raise ValidationFailed({"registration": N_("チームに入っていない人です。")})
    member.locked = bool(locked)
    run.updated_at = now
    db.session.flush()
    return member


def _text_or_error(value: str | None, errors: dict, key: str) -> str:
    try:
        return check_text(value or "", max_length=MAX_NAME)
    except TextError as err:
        errors[key] = err.message
        return ""


def rename(run: TeamAssignment, position: int, name: str, topic: str | None, now: datetime) -> Team:
    """Rename a team (and set or clear its topic)."""
    _lock(run)
    team = _team_at(run, position)
    errors: dict = {}
    name = _text_or_error(name, errors, "name")
    topic = _text_or_error(topic, errors, "topic") or None
    if "name" not in errors and not name:
        errors["name"] = N_("チーム名を入力してください。")
    if not errors and any(t.name == name for t in run.teams if t.id != team.id):
        errors["name"] = N_("ほかのチームと同じ名前です。")
    if errors:
        raise ValidationFailed(errors)
    team.name, team.topic = name, topic
    _rescore(run, now)
    return team


def publish(run: TeamAssignment, actor, now: datetime) -> TeamAssignment:
    """Show this run to attendees, on name tags and at the desk (any other run is withdrawn)."""
    db.session.execute(select(TeamAssignment.id).where(TeamAssignment.event_id == run.event_id)
                       .order_by(TeamAssignment.id).with_for_update())
    db.session.execute(update(TeamAssignment).where(TeamAssignment.event_id == run.event_id,
                                                    TeamAssignment.id != run.id, TeamAssignment.published.is_(True))
                       .values(published=False).execution_options(synchronize_session="fetch"))
    db.session.flush()
    run.published, run.published_at, run.updated_at = True, now, now
    db.session.flush()
    return run


def unpublish(run: TeamAssignment, now: datetime) -> TeamAssignment:
    _lock(run)
    run.published, run.updated_at = False, now
    db.session.flush()
    return run


# ------------------------------------------------------------------ what others see
def team_name_column():
    """The team of a registration in its event's published run, as a scalar subquery correlated
    to the ``registrations`` table (check-in reads it in the same query as the scanned person).
    Plain tables: ORM entities here would make check-in's Core query an ORM one."""
    team, member, run, reg = (Team.__table__, TeamMember.__table__, TeamAssignment.__table__,
                              Registration.__table__)
    return (select(team.c.name)
            .join(member, member.c.team_id == team.c.id)
            .join(run, run.c.id == member.c.assignment_id)
            .where(run.c.event_id == reg.c.event_id, run.c.published.is_(True),
                   member.c.registration_id == reg.c.id)
            .limit(1)
            .scalar_subquery())


@functools.cache
def _team_names_statement():
    """Built once (check-in asks it for every scan): the same lookup as :func:`team_name_column`,
    for a list of registrations."""
    reg = Registration.__table__
    return select(reg.c.id, team_name_column()).where(
        reg.c.event_id == bindparam("eid"), reg.c.id.in_(bindparam("rids", expanding=True)))


def team_names(event: Event, registration_ids: list[int]) -> dict[int, str]:
    """``{registration id: team name}`` in the published run (check-in's team lookup); people
    in no team are left out."""
    if not registration_ids:
        return {}
    rows = db.session.execute(_team_names_statement(), {"eid": event.id, "rids": list(registration_ids)})
    return {rid: name for rid, name in rows if name is not None}


@dataclass
class MyTeam:
    """An attendee's team in the published run: teammates who agreed to be listed, and a count of the rest."""

    team: Team
    teammates: list[Registration]
    unlisted: int
    facilitators: list[Registration]


def my_team(registration: Registration) -> MyTeam | None:
    run = published(registration.event)
    if run is None:
        return None
    member = _member(run, registration.id)
    if member is None:
        return None
    team = member.team
    others = [m.registration for m in team.members if m.registration_id != registration.id]
    others.sort(key=lambda r: (r.name_kana, r.id))
    listed = [r for r in others if r.consent_listing]
    return MyTeam(team, listed, len(others) - len(listed), [r for r in listed if r.facilitator])


checkin.register_team_lookup(team_names)
checkin.register_team_column(team_name_column)
