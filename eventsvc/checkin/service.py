"""Check-in rules, in the shape of pretix's ``perform_checkin``.

Every function takes the event, the actor and ``now`` (and the device's own scan time
where there is one), flushes, and leaves the commit to the caller. The row that changes
— the registration being admitted — is locked first (``SELECT … FOR UPDATE`` on
PostgreSQL; on SQLite every write request already holds the write lock from
``BEGIN IMMEDIATE``, see :mod:`eventsvc.database`), so ten devices scanning one ticket
at once admit it once. A scan that carries a nonce is answered from the log when the
same scan comes again — the same nonce for the same ticket — so a retried upload counts
once (see :func:`check_in` for the rule). Answers are stable codes:

- ``checked_in`` — admitted now;
- ``already_checked_in`` — admitted before (when, by whom);
- ``unknown_code`` — not a ticket code, or no ticket has it;
- ``not_admitted`` — a ticket of this event whose registration does not admit
  (``reason``: waitlisted, cancelled, pending_review, applied, offered, rejected);
- ``wrong_event`` — a ticket of another event (nothing else about it is told).

Upward needs go through hooks owned here: :func:`register_team_lookup` (teams shows
the team on results and name tags).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, null, or_, select, text, update
from sqlalchemy.orm import joinedload

from .. import database
from ..core.clock import to_jst, to_utc
from ..core.i18n import N_, msg
from ..core.text import TextError, check_text, search_key
from ..errors import AuthorityChanged, Conflict, DomainError, NotFound, ValidationFailed
from ..events.models import Event, TicketType
from ..extensions import db
from ..registration import service as registrations
from ..registration import tickets
from ..registration.models import Registration
from .codes import code_hash, extract_code, input_hash, kana_key
from .models import (
    METHODS,
    REFUSALS,
    RESULTS,
    UNMATCHED,
    AttendanceCode,
    Checkin,
    CheckinLog,
    StaffLink,
)

STAFF_TOKEN_PREFIX = "stf_"
#: an offline device may be this far ahead of the server before its clock is distrusted
CLOCK_SKEW = timedelta(minutes=5)
#: most scans one sync call may carry
MAX_SYNC = 500
MAX_STAFF_LINK_DAYS = 30
#: a staff link's ``last_used_at`` moves at most this often (one write a minute, not one per scan)
STAFF_LINK_TOUCH_INTERVAL = timedelta(minutes=1)
MAX_LABEL = 50
ATTENDANCE_CODE_LENGTH = 6


# ------------------------------------------------------------------ who is scanning
@dataclass(frozen=True)
class Actor:
    """Who admits: a staff link (its label) or an organizer (their name)."""

    label: str
    organizer_id: int | None = None
    staff_link_id: int | None = None

    @property
    def is_organizer(self) -> bool:
        return self.organizer_id is not None

    @classmethod
    def organizer(cls, organizer) -> Actor:
        return cls(label=organizer.name[:100], organizer_id=organizer.id)

    @classmethod
    def staff(cls, link: StaffLink) -> Actor:
        return cls(label=link.label, staff_link_id=link.id)


SELF = Actor(label="本人")


# ------------------------------------------------------------------ hooks
#: ``lookup(event, registration_ids) -> {registration_id: team name}``; teams plugs itself in
TeamLookup = Callable[[Event, list[int]], dict[int, str]]
_team_lookups: list[TeamLookup] = []


def register_team_lookup(fn: TeamLookup) -> None:
    """Let the teams package name each person's team on results, lists and name tags.

    ``fn(event, registration_ids)`` returns ``{registration_id: team name}`` for those
    who have a team; people without one are simply left out.
    """
    if fn not in _team_lookups:
        _team_lookups.append(fn)


def team_names(event: Event, registration_ids: Iterable[int]) -> dict[int, str]:
    ids = list(registration_ids)
    out: dict[int, str] = {}
    if not ids:
        return out
    for fn in _team_lookups:
        for rid, name in (fn(event, ids) or {}).items():
            if name:
                out.setdefault(rid, name)
    return out


def team_name(event: Event, registration_id: int) -> str | None:
    return team_names(event, [registration_id]).get(registration_id)


#: ``column() -> scalar subquery`` naming the team of ``Registration`` (correlated to it) in the
#: published run; teams plugs itself in, so a scan reads the person and their team in one query
TeamColumn = Callable[[], ColumnElement]
_team_columns: list[TeamColumn] = []


def register_team_column(fn: TeamColumn) -> None:
    """Let the teams package add the team's name to the query a scan makes (see ``_admission``)."""
    if fn not in _team_columns:
        _team_columns.append(fn)
        _ADMISSION.clear()


# ------------------------------------------------------------------ results
@dataclass
class CheckinResult:
    """The answer to one scan. ``registration`` is None unless it is this event's."""

    result: str
    reason: str | None = None
    #: a :class:`Scanned` for scans, the ORM row elsewhere (walk-in, self check-in, undo, replay)
    registration: Registration | Scanned | None = None
    #: the valid check-in (new, or the earlier one for ``already_checked_in``)
    checkin: Checkin | None = None
    #: an offline admission stored as a duplicate of an earlier one
    duplicate: bool = False
    #: the same scan (nonce and ticket) was seen before; this repeats the first answer
    replayed: bool = False
    nonce: str | None = None
    #: the person's team, when the scan already read it (else the presenter asks the teams hook)
    team: str | None = None
    team_known: bool = False
    #: for ``refused_offline``: the server would admit this ticket now (the device's snapshot was older)
    admissible_now: bool = False
    #: for a replayed ``checked_in`` / ``already_checked_in``: the check-in that answer named was taken
    #: back since (an undo, a cancellation) — the person is not checked in by it now
    taken_back: bool = False
    #: for a walk-in: what became of the address's registration (made, found, applied for again, confirmed)
    walk_in: registrations.AtDoor | None = None

    @property
    def ok(self) -> bool:
        return self.result == "checked_in"


def _clean_device(device_id: str | None) -> str:
    if not device_id:
        return ""
    return "".join(ch for ch in str(device_id) if ch.isprintable())[:64]


def _clean_nonce(nonce: str | None) -> str | None:
    if nonce is None or nonce == "":
        return None
    if not isinstance(nonce, str) or len(nonce) > 64 or not nonce.isprintable():
        raise ValidationFailed({"nonce": N_("nonce は64文字以内の文字列です。")})
    return nonce


def event_day(event: Event, now: datetime) -> str:
    """Where today (in Japan) stands against the event's days: ``before``, ``during`` or ``after``.

    The desk says so when it is not an event day (a desk opened for the wrong event, or a
    rehearsal): check-in still works — staff may test the desk, and an event may run late."""
    today = to_jst(now).date()
    if today < to_jst(event.starts_at).date():
        return "before"
    if today > to_jst(event.ends_at).date():
        return "after"
    return "during"


def _scan_time(scanned_at: datetime | None, now: datetime) -> datetime:
    """The device's scan time, unless it is in the future (a wrong clock): then ``now``."""
    if scanned_at is None:
        return now
    scanned_at = to_utc(scanned_at)
    return now if scanned_at > now + CLOCK_SKEW else min(scanned_at, now)


#: ids outside a 32-bit integer exist in no table (and would overflow the database driver)
MAX_ID = 2**31 - 1


def _id_ok(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


# The statements of the hot path, built once (a scan only binds its values).
_BY_ID = select(Registration).where(Registration.id == bindparam("rid"), Registration.event_id == bindparam("eid")
                                    ).options(joinedload(Registration.ticket_type, innerjoin=True))
_LOCKED_BY_ID = {False: _BY_ID, True: _BY_ID.with_for_update(of=Registration)}
_VALID = select(Checkin).where(Checkin.registration_id == bindparam("rid"), Checkin.result == "checked_in",
                               Checkin.undone_at.is_(None))
_INSERT_CHECKIN = Checkin.__table__.insert().returning(Checkin.__table__.c.id)
_INSERT_LOG = CheckinLog.__table__.insert()
#: the log row of a scan of this event's registration ``rid`` with this nonce (see ``uq_checkin_log_scan``)
_SCAN_LOGGED = select(CheckinLog).where(CheckinLog.registration_id == bindparam("rid"),
                                        CheckinLog.nonce == bindparam("nonce"))
#: the log row of a scan with this nonce that named no ticket of the event, by the hash of what it read
_UNMATCHED_LOGGED = select(CheckinLog).where(
    CheckinLog.event_id == bindparam("eid"), CheckinLog.nonce == bindparam("nonce"),
    CheckinLog.input_hash == bindparam("h"), text(UNMATCHED))  # the partial index's own condition: it is used
#: the admission a duplicate came second to: the registration's last one before it
_ADMITTED_BEFORE = select(Checkin).where(Checkin.registration_id == bindparam("rid"), Checkin.result == "checked_in",
                                         Checkin.id < bindparam("before")).order_by(Checkin.id.desc()).limit(1)
_CHECKIN_COLUMNS = tuple(c.key for c in Checkin.__table__.c)
#: the scan's one read, built on first use (after the team hook is in): ``{(postgres, by, nonce): statement}``
_ADMISSION: dict[tuple[bool, str, bool], Select] = {}


@dataclass(frozen=True, slots=True)
class ScannedType:
    name: str
    code: str


@dataclass(frozen=True, slots=True)
class Scanned:
    """What a scan reads of a registration: enough to decide and to tell who it is (not an ORM row)."""

    id: int
    event_id: int
    status: str
    name: str
    name_kana: str
    organization_name: str
    ticket_type: ScannedType

    @property
    def admits(self) -> bool:
        return self.status == "confirmed"


def _admission_statement(postgres: bool, by: str, nonce: bool, guard: ColumnElement | None = None) -> Select:
    """The registration (with its participation type), its valid check-in and its team, in one query.

    Plain columns, not ORM objects: loading entities cost four times the query itself, and a
    scan is the door's hot path. The valid check-in is read in the same statement as the
    row lock. On PostgreSQL a scan that waited for the lock sees the check-in table as it was
    before the other scan committed, so it may try to admit again: the partial unique index
    refuses that insert and :func:`eventsvc.checkin.api.decide` runs the scan again, which
    then reads the other scan's check-in (the rare race costs a retry, every scan a round
    trip less).

    With ``nonce``, the statement also says whether the log already holds that nonce for this
    registration (a retried upload of the same scan): only then is the first answer read back
    (:func:`_replay`). A retry that committed while this scan waited for the lock is not seen by
    PostgreSQL's snapshot here, but its log row is: the log's unique (registration, nonce) key
    refuses this scan's insert and the retry in :func:`eventsvc.checkin.api.decide` then replays it.

    With ``guard`` (a condition on the caller, see :func:`check_in`), its value comes last in the row.
    """
    key = (postgres, by, nonce, id(guard))
    if key not in _ADMISSION:
        r, t, v = Registration.__table__, TicketType.__table__, Checkin.__table__.alias("valid_checkin")
        team = _team_columns[0]() if _team_columns else null()
        logs = CheckinLog.__table__
        seen = select(logs.c.id).where(logs.c.registration_id == r.c.id, logs.c.nonce == bindparam("nonce")
                                       ).exists() if nonce else null()
        stmt = (select(r.c.id, r.c.event_id, r.c.status, r.c.name, r.c.name_kana, r.c.organization_name,
                       t.c.name, t.c.code, team, seen, *v.c, *([guard.label("guard")] if guard is not None else []))
                .join(t, t.c.id == r.c.ticket_type_id)
                .outerjoin(v, and_(v.c.registration_id == r.c.id, v.c.result == "checked_in",
                                   v.c.undone_at.is_(None))))
        stmt = stmt.where(r.c.ticket_code == bindparam("code")) if by == "code" else stmt.where(
            r.c.id == bindparam("rid"), r.c.event_id == bindparam("eid"))
        _ADMISSION[key] = stmt.with_for_update(of=r) if postgres else stmt
    return _ADMISSION[key]


@dataclass(frozen=True, slots=True)
class _Admission:
    registration: Scanned
    checkin: Checkin | None
    team: str | None
    #: the scan's nonce is already in the log for this registration (a retried upload of the same scan)
    nonce_seen: bool


def _admission(by: str, *, eid: int, nonce: str | None, guard: tuple | None = None, **params) -> _Admission | None:
    """The registration, its row locked until commit, with its valid check-in and team (see above).
    ``guard``: checked in the same statement (:func:`check_in`)."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    condition, guard_params = guard if guard is not None else (None, {})
    row = database.first_row(db.session, _admission_statement(postgres, by, nonce is not None, condition),
                             {**params, "eid": eid, "nonce": nonce, **guard_params})
    if guard is not None:
        _check_guard(guard, row[-1] if row is not None else None)
    if row is None:
        return None
    rid, eid, status, name, kana, org, type_name, type_code, team, seen = row[:10]
    checkin = (database.detached(Checkin, dict(zip(_CHECKIN_COLUMNS, row[10:10 + len(_CHECKIN_COLUMNS)], strict=True)))
               if row[10] is not None else None)
    return _Admission(Scanned(rid, eid, status, name, kana, org, ScannedType(type_name, type_code)), checkin, team,
                      bool(seen))


def _check_guard(guard: tuple, value: object) -> None:
    """Raise :class:`AuthorityChanged` unless the caller's ``guard`` holds (``value``: as read with
    the ticket; None when no row came back, then it is asked on its own)."""
    if value is None:
        condition, params = guard
        value = db.session.execute(select(condition), params).scalar()
    if not value:
        raise AuthorityChanged()


def _lock_registration(registration_id: int, event: Event) -> Registration | None:
    """The event's registration, its row locked until commit (PostgreSQL; SQLite holds the database lock)."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    return db.session.scalars(_LOCKED_BY_ID[postgres], {"rid": registration_id, "eid": event.id}).first()


def _valid_checkin(registration_id: int) -> Checkin | None:
    return db.session.scalars(_VALID, {"rid": registration_id}).first()


def _unmatched_hash(code: str | None, raw_code: object) -> str:
    """What stands for a scan that named no ticket of the event, in the log and in its nonce's key:
    the hash of the canonical code when the input held one (however it was typed), else of the input."""
    return input_hash(code or raw_code)


def _earlier_answer(event: Event, nonce: str | None, found: _Admission | None, ours: bool,
                    unmatched: str) -> CheckinResult | None:
    """The first answer to this same scan — the same nonce for the same ticket — if it came before.

    Read under the registration's lock, so a concurrent retry has committed by now (or never
    will). For this event's tickets the scan's own read said whether the log holds the nonce for
    that registration; a scan that named no ticket of the event asks the log by the hash of what it read.
    """
    if nonce is None:
        return None
    if ours:
        log = db.session.scalars(_SCAN_LOGGED, {"rid": found.registration.id, "nonce": nonce}).first() \
            if found.nonce_seen else None
    else:
        log = db.session.scalars(_UNMATCHED_LOGGED, {"eid": event.id, "nonce": nonce, "h": unmatched}).first()
    return _replay(log, nonce) if log is not None else None


def _replay(log: CheckinLog, nonce: str) -> CheckinResult:
    """The first answer to a scan, told again (``replayed``) from its log row, as it was then.

    A replay answers the request that was sent again: the result, the reason and the check-in
    that answer named (its time and who admitted), even if that check-in was taken back or
    another was made since — it is the answer the device missed, not the state now, and it
    never admits again (an undo stays undone); ``taken_back`` then says the named check-in no
    longer holds, so a desk does not show a replayed admission as a valid one. Told as of now: the registration's brief (name,
    status), and ``admissible_now`` of an offline refusal, which says by its name whether the
    ticket admits *now*. (Rescans logged before revision 0bcbcc4b62ea name no check-in: theirs
    replay ``already_checked_in`` without a time.)
    """
    registration = db.session.get(Registration, log.registration_id) if log.registration_id else None
    named = None
    if log.result in ("checked_in", "already_checked_in") and log.checkin_id is not None:
        if log.duplicate:  # the log names the duplicate it kept; the answer named the admission before it
            named = db.session.scalars(_ADMITTED_BEFORE, {"rid": log.registration_id, "before": log.checkin_id}).first()
        else:
            named = db.session.get(Checkin, log.checkin_id)
    admissible = (log.result == "refused_offline" and registration is not None and registration.status == "confirmed"
                  and _valid_checkin(registration.id) is None)
    return CheckinResult(log.result, log.reason or None, registration, named, duplicate=log.duplicate,
                         replayed=True, nonce=nonce, admissible_now=admissible,
                         taken_back=named is not None and named.undone_at is not None)


def _lookup(event: Event, raw_code: object, registration_id: int | None, nonce: str | None,
            guard: tuple | None = None) -> tuple[_Admission | None, str | None, object]:
    """What a scan names — a ticket code, or a registration picked by name search — read with
    :func:`_admission`; also the code (None for a pick) and what stands for the input in the log.
    ``guard`` is checked with the read, or on its own when there is nothing to read."""
    if registration_id is not None:
        if _id_ok(registration_id):
            return (_admission("id", rid=registration_id, eid=event.id, nonce=nonce, guard=guard), None,
                    f"registration:{registration_id}")
        found, raw_code, code = None, f"registration:{registration_id}", None
    else:
        code = extract_code(raw_code)
        if code:
            return _admission("code", code=code, eid=event.id, nonce=nonce, guard=guard), code, raw_code
        found = None
    if guard is not None:
        _check_guard(guard, None)
    return found, code, raw_code


def check_in(event: Event, raw_code: object, *, device_id: str | None, nonce: str | None,
             scanned_at: datetime | None, method: str, actor: Actor, now: datetime,
             offline: bool = False, registration_id: int | None = None, commit: bool = False,
             guard: tuple | None = None) -> CheckinResult:
    """Admit the holder of ``raw_code`` to ``event``, or say why not. ``commit``: the scan is the
    transaction's last write (see :func:`_write`; the caller still calls ``session.commit()``).
    ``guard``: ``(SQL condition, params)`` that must hold for the caller to act — checked in the
    statement that locks the ticket, before anything is written; raises
    :class:`~eventsvc.errors.AuthorityChanged` when it does not (the JSON API's reused callers,
    ``jsonapi.principal_guard``).

    ``raw_code`` is whatever was scanned or typed (any string — garbage answers
    ``unknown_code``). ``scanned_at`` is the device's time of the scan (default ``now``).
    ``offline`` marks a scan the device already admitted on its own
    (from the snapshot): if the ticket was admitted elsewhere meanwhile, it is stored
    as a duplicate check-in rather than dropped. ``registration_id`` (of this event)
    replaces the code when the desk picked the person from a name search.

    ``nonce`` names this scan, so that a retried upload counts once. The same scan is the
    same nonce for the same ticket of the same event: the same registration (by code, however
    it was typed, or picked by name), or for input that names no ticket of the event, the same
    canonical code (else the same input). The same scan again repeats the first answer
    (``replayed``, see :func:`_replay`) and changes nothing. The nonce is scoped to the ticket as
    pretix scopes it to the position: the same nonce with another ticket is another scan,
    admitted and logged on its own, and never answered with someone else's result. Neither
    the device nor the actor is part of the key: a retry may come by another path (an
    online scan whose answer was lost is queued and uploaded by sync; an API client may
    leave ``device_id`` out), and counting it again would add a rescan or a duplicate
    admission; devices draw a random 128-bit nonce per scan, so two devices never share one
    by chance, and a shared one with the same ticket can only repeat that ticket's own answer.
    """
    if method not in METHODS:
        raise ValidationFailed({"method": msg(N_("method は %(values)s のいずれかです。"), values=" / ".join(METHODS))})
    nonce = _clean_nonce(nonce)
    device = _clean_device(device_id)
    when = _scan_time(scanned_at, now)

    found, code, raw_code = _lookup(event, raw_code, registration_id, nonce, guard)
    registration = found.registration if found is not None else None
    ours = registration is not None and registration.event_id == event.id
    unmatched = "" if ours else _unmatched_hash(code, raw_code)
    if (previous := _earlier_answer(event, nonce, found, ours, unmatched)) is not None:
        return previous

    log = dict(event_id=event.id, registration_id=None, checkin_id=None, input_hash="", method=method,
               device_id=device, nonce=nonce, actor_label=actor.label, scanned_at=when, received_at=now)
    result: CheckinResult
    new_row: dict | None = None  # the check-in row to write, if any
    if registration is None:
        log["input_hash"] = unmatched
        result = CheckinResult("unknown_code")
    elif not ours:
        log["input_hash"] = unmatched
        result = CheckinResult("wrong_event")
    elif not registration.admits:
        result = CheckinResult("not_admitted", registration.status, registration)
    else:
        existing = found.checkin
        if existing is None:
            new_row = _checkin_row(event, registration, "checked_in", when, now, device, method, nonce, actor)
            result = CheckinResult("checked_in", None, registration)
        elif offline:
            new_row = _checkin_row(event, registration, "duplicate", when, now, device, method, nonce, actor)
            result = CheckinResult("already_checked_in", None, registration, existing, duplicate=True)
        else:
            log["checkin_id"] = existing.id  # the admission the answer names (a replay names it again)
            result = CheckinResult("already_checked_in", None, registration, existing)
    if result.registration is not None:
        log["registration_id"] = result.registration.id
        result.team, result.team_known = found.team, True
    log.update(result=result.result, reason=result.reason or "", duplicate=result.duplicate)
    checkin_id = _write(new_row, log, commit=commit)
    if result.result == "checked_in":  # the new row is the valid check-in (not attached to the session)
        result.checkin = database.detached(Checkin, {"id": checkin_id, **new_row})
    result.nonce = nonce
    return result


def _checkin_row(event, registration, result, when, now, device, method, nonce, actor) -> dict:
    return dict(event_id=event.id, registration_id=registration.id, result=result, scanned_at=when,
                received_at=now, device_id=device, method=method, nonce=nonce, actor_label=actor.label,
                staff_link_id=actor.staff_link_id, organizer_id=actor.organizer_id, undone_at=None, undone_by="")


#: what a scan writes: every column but the generated ones (the row dicts above carry them all)
_CHECKIN_KEYS = tuple(k for k in _CHECKIN_COLUMNS if k != "id")
_LOG_KEYS = tuple(c.key for c in CheckinLog.__table__.c if c.key not in ("id", "checkin_id"))


def _insert_both_statement():
    """PostgreSQL: the check-in row and its log row in one statement (one round trip less per scan)::

        WITH new_checkin AS (INSERT INTO checkins … RETURNING id)
        INSERT INTO checkin_log (…, checkin_id) SELECT …, new_checkin.id FROM new_checkin RETURNING checkin_id
    """
    checkins, logs = Checkin.__table__, CheckinLog.__table__
    new = (checkins.insert().values({k: bindparam(f"c_{k}", type_=checkins.c[k].type) for k in _CHECKIN_KEYS})
           .returning(checkins.c.id).cte("new_checkin"))
    fields = select(*[bindparam(f"l_{k}", type_=logs.c[k].type) for k in _LOG_KEYS], new.c.id)
    return logs.insert().from_select([*_LOG_KEYS, "checkin_id"], fields).returning(logs.c.checkin_id)


_INSERT_BOTH = _insert_both_statement()


def _write(checkin: dict | None, log: dict, *, commit: bool = False) -> int | None:
    """The scan's writes (no unit-of-work flush: this is the hot path): the log row, and before it
    the check-in row when there is one. Returns the new check-in's id.

    ``commit``: the transaction ends with these writes. On PostgreSQL they and the COMMIT then
    go in one round trip (:func:`database.first_rows_pipelined`), and the caller's own commit
    has nothing left to send."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if checkin is not None and not postgres:  # SQLite: the check-in's id first, then the log row naming it
        checkin_id = database.first_row(db.session, _INSERT_CHECKIN, checkin)[0]
        database.first_row(db.session, _INSERT_LOG, {**log, "checkin_id": checkin_id})
        return checkin_id
    if checkin is None:  # the log row alone
        statement, params = _INSERT_LOG, log
    else:  # PostgreSQL: both rows in one statement, returning the check-in's id
        statement = _INSERT_BOTH
        params = {f"c_{k}": checkin[k] for k in _CHECKIN_KEYS} | {f"l_{k}": log[k] for k in _LOG_KEYS}
    if postgres and commit:
        row = database.first_rows_pipelined(db.session, [(statement, params)], commit=True)[0]
    else:
        row = database.first_row(db.session, statement, params)
    return row[0] if checkin is not None else None


def undo_checkin(event: Event, registration_id: int, *, actor: Actor, now: datetime,
                 device_id: str | None = None) -> CheckinResult:
    """Take back a registration's check-in (a wrong tap). Raises ``not_checked_in``."""
    registration = _lock_registration(registration_id, event) if _id_ok(registration_id) else None
    if registration is None:
        raise NotFound("registration_not_found", N_("この参加者は見つかりません。"))
    checkin = _valid_checkin(registration.id)
    if checkin is None:
        raise Conflict("not_checked_in", N_("この参加者は受付されていません。"))
    _take_back(checkin, actor.label, now, device=_clean_device(device_id))
    return CheckinResult("undone", None, registration, checkin)


def _take_back(checkin: Checkin, label: str, now: datetime, *, device: str = "") -> None:
    """The check-in is no longer valid (``undone_at``); the row stays, and the log says when and by whom."""
    checkin.undone_at = now
    checkin.undone_by = label
    db.session.add(CheckinLog(event_id=checkin.event_id, registration_id=checkin.registration_id,
                              checkin_id=checkin.id, result="undone", method=checkin.method, device_id=device,
                              actor_label=label, scanned_at=now, received_at=now))
    db.session.flush()


def _cancelled(registration: Registration, actor, now: datetime) -> None:
    """A cancelled (or rejected) application takes its check-in with it (registration's cancel listener).

    A cancelled registration is no longer expected, so it must not count as checked in either
    (counters, reception list, name tags, the offline snapshot, surveys and teams all read the
    valid check-in); and when the person applies again, the new application and its new ticket
    start not checked in. The check-in row and the log stay as history: the check-in is taken
    back as an undo by whoever cancelled (the attendee: 本人), with an ``undone`` line in the log.
    Runs again, with no ``actor``, when a cancelled registration applies again: harmless when
    there is nothing left to take back."""
    checkin = _valid_checkin(registration.id)
    if checkin is None:
        return
    if actor is None:
        label = ""
    elif isinstance(actor, Registration):
        label = SELF.label
    else:
        label = (getattr(actor, "name", "") or "")[:100]
    _take_back(checkin, label, now)


registrations.register_cancel_listener(_cancelled)

#: the cancel notice of a registration checked in, for each audience (see ``registration.service.NOTICE_AUDIENCES``)
CHECKIN_TAKEN_BACK = {"organizer": N_("この方は受付済みです。キャンセルすると、受付も取り消されます。"),
                      "attendee": N_("受付済みです。キャンセルすると、受付も取り消されます。")}


def _cancel_notices(registrations_: Sequence[Registration], audience: str) -> dict[int, str]:
    """Before a cancellation: the check-ins that :func:`_cancelled` would take back (one query for a list)."""
    ids = [registration.id for registration in registrations_]
    checked_in = db.session.scalars(select(Checkin.registration_id).where(
        Checkin.registration_id.in_(ids), Checkin.result == "checked_in", Checkin.undone_at.is_(None)))
    return dict.fromkeys(checked_in, CHECKIN_TAKEN_BACK[audience])


registrations.register_cancel_notice(_cancel_notices)


# ------------------------------------------------------------------ offline sync
@dataclass
class QueuedScan:
    """A scan a device made (maybe offline): the raw code, its nonce and real scan time."""

    code: object
    nonce: str
    scanned_at: datetime
    method: str = "offline"
    #: the device admitted this person on its own (judged against the snapshot)
    admitted_locally: bool = True
    #: instead of a code: the person picked from a name search on the device
    registration_id: int | None = None
    #: the device turned the person away on its own: the answer it gave (``REFUSALS``); the scan
    #: is only recorded in the log, never admitted by the server afterwards
    refused_locally: str | None = None


def sync(event: Event, scans: list[QueuedScan], *, device_id: str | None, actor: Actor,
         now: datetime) -> list[CheckinResult]:
    """Store a device's queued scans in the order they were made; one answer per scan.

    Each scan keeps its own time and nonce, so a batch sent twice (the answer was lost)
    counts once; the nonce rule is :func:`check_in`'s (a nonce sent again with another ticket
    is another scan). A ticket another device admitted first is stored as a duplicate
    check-in, never dropped. A scan the device refused is recorded in the log as
    ``refused_offline`` (see :func:`record_refusal`). Answers come back in the order the
    scans were given.
    """
    if len(scans) > MAX_SYNC:
        raise ValidationFailed({"scans": msg(N_("一度に送れるのは%(n)s件までです。"), n=MAX_SYNC)})
    order = sorted(range(len(scans)), key=lambda i: (_scan_time(scans[i].scanned_at, now), i))
    answers: dict[int, CheckinResult] = {}
    for i in order:
        scan = scans[i]
        method = scan.method if scan.method in METHODS else "offline"
        if scan.refused_locally is not None:
            answers[i] = record_refusal(event, scan.code, scan.refused_locally, device_id=device_id, nonce=scan.nonce,
                                        scanned_at=scan.scanned_at, method=method, actor=actor, now=now,
                                        registration_id=scan.registration_id)
            continue
        answers[i] = check_in(event, scan.code, device_id=device_id, nonce=scan.nonce, scanned_at=scan.scanned_at,
                              method=method, actor=actor, now=now, offline=scan.admitted_locally,
                              registration_id=scan.registration_id)
    return [answers[i] for i in range(len(scans))]


def record_refusal(event: Event, raw_code: object, answer: str, *, device_id: str | None, nonce: str | None,
                   scanned_at: datetime | None, method: str, actor: Actor, now: datetime,
                   registration_id: int | None = None) -> CheckinResult:
    """Log a scan a device refused while offline (``answer``: what it told the desk), at its real time.

    Nothing is admitted: the person was turned away at the door, and the server must not
    let them in behind the desk's back. The log row's result is ``refused_offline`` with
    the device's answer as ``reason``; like a scan, it names the registration only when
    the ticket is this event's, else keeps just the hash of what was read. The answer
    tells whether the server would admit the ticket now (``admissible_now``: the device's
    snapshot was older than a change such as a promotion from the waitlist), so the desk
    can call the person back. The same scan again (the same nonce for the same ticket, as for
    :func:`check_in`) repeats the first answer.
    """
    if answer not in REFUSALS:
        raise ValidationFailed({"refused_locally": msg(N_("refused_locally は %(values)s のいずれかです。"), values=" / ".join(REFUSALS))})
    if method not in METHODS:
        raise ValidationFailed({"method": msg(N_("method は %(values)s のいずれかです。"), values=" / ".join(METHODS))})
    nonce = _clean_nonce(nonce)
    found, code, raw_code = _lookup(event, raw_code, registration_id, nonce)
    ours = found is not None and found.registration.event_id == event.id
    unmatched = "" if ours else _unmatched_hash(code, raw_code)
    if (previous := _earlier_answer(event, nonce, found, ours, unmatched)) is not None:
        return previous
    log = dict(event_id=event.id, registration_id=found.registration.id if ours else None, checkin_id=None,
               input_hash=unmatched, method=method, device_id=_clean_device(device_id),
               nonce=nonce, actor_label=actor.label, scanned_at=_scan_time(scanned_at, now), received_at=now,
               result="refused_offline", reason=answer, duplicate=False)
    _write(None, log)
    if not ours:
        return CheckinResult("refused_offline", answer, nonce=nonce)
    return CheckinResult("refused_offline", answer, found.registration, found.checkin, nonce=nonce,
                         team=found.team, team_known=True,
                         admissible_now=found.registration.admits and found.checkin is None)


# ------------------------------------------------------------------ what the desk shows
@dataclass
class TypeCount:
    code: str
    name: str
    checked_in: int
    expected: int


@dataclass
class Counters:
    types: list[TypeCount]
    checked_in: int
    expected: int
    duplicates: int


def counters(event: Event) -> Counters:
    """Checked in / expected (confirmed) per participation type, counted now."""
    expected = dict(db.session.execute(
        select(Registration.ticket_type_id, func.count()).where(
            Registration.event_id == event.id, Registration.status == "confirmed")
        .group_by(Registration.ticket_type_id)).all())
    # of those expected: a registration cancelled before cancelling took its check-in back stays out
    arrived = dict(db.session.execute(
        select(Registration.ticket_type_id, func.count()).join(Checkin, Checkin.registration_id == Registration.id)
        .where(Checkin.event_id == event.id, Checkin.result == "checked_in", Checkin.undone_at.is_(None),
               Registration.status == "confirmed")
        .group_by(Registration.ticket_type_id)).all())
    duplicates = db.session.scalar(select(func.count()).select_from(Checkin).where(
        Checkin.event_id == event.id, Checkin.result == "duplicate")) or 0
    types = db.session.scalars(select(TicketType).where(TicketType.event_id == event.id)
                               .order_by(TicketType.position, TicketType.id)).all()
    rows = [TypeCount(t.code, t.name, arrived.get(t.id, 0), expected.get(t.id, 0)) for t in types]
    return Counters(rows, sum(r.checked_in for r in rows), sum(r.expected for r in rows), duplicates)


@dataclass
class Attendee:
    """One registration as the desk sees it."""

    registration: Registration
    checkin: Checkin | None = None
    team: str | None = None

    @property
    def checked_in(self) -> bool:
        return self.checkin is not None


def _valid_checkins(event: Event) -> dict[int, Checkin]:
    rows = db.session.scalars(select(Checkin).where(
        Checkin.event_id == event.id, Checkin.result == "checked_in", Checkin.undone_at.is_(None)))
    return {c.registration_id: c for c in rows}


def _export_checkin_time(event: Event) -> list[tuple[str, dict[int, object]]]:
    """The registrations export's column: when each person was checked in (Japan time), else empty
    (its header a msgid: the page translates it)."""
    return [(N_("受付日時"), {rid: to_jst(c.scanned_at).strftime("%Y-%m-%d %H:%M")
                         for rid, c in _valid_checkins(event).items()})]


registrations.register_export_columns(_export_checkin_time)


def attendees(event: Event, statuses: Iterable[str] = ("confirmed",)) -> list[Attendee]:
    """Registrations of the event with their check-in and team, in 50音順 of the reading."""
    regs = db.session.scalars(select(Registration).where(
        Registration.event_id == event.id, Registration.status.in_(list(statuses)))
        .options(joinedload(Registration.ticket_type, innerjoin=True))).all()
    checkins = _valid_checkins(event)
    teams = team_names(event, [r.id for r in regs])
    out = [Attendee(r, checkins.get(r.id), teams.get(r.id)) for r in regs]
    out.sort(key=lambda a: (kana_key(a.registration.name_kana), a.registration.name, a.registration.id))
    return out


def search(event: Event, query: str, *, limit: int = 20) -> list[Attendee]:
    """Registrations whose name or reading contains ``query`` however it was typed.

    Kanji, hiragana, katakana and half-width kana match alike (``やまだ`` finds
    ``ヤマダ``); spaces are ignored. Matches at the start come first. Every status is
    searched (the desk must be able to say "cancelled"), confirmed ones first.
    """
    try:
        query = check_text(query or "", max_length=100)
    except TextError:
        return []
    key = search_key(query)
    if not key:
        return []
    regs = db.session.scalars(select(Registration).where(Registration.event_id == event.id)
                              .options(joinedload(Registration.ticket_type, innerjoin=True))).all()
    hits = []
    for r in regs:
        name, kana = search_key(r.name), search_key(r.name_kana)
        if key in name or key in kana:
            starts = name.startswith(key) or kana.startswith(key)
            hits.append((r.status != "confirmed", not starts, kana_key(r.name_kana), r.id, r))
    hits.sort(key=lambda h: h[:4])
    found = [h[-1] for h in hits[:limit]]
    checkins = _valid_checkins(event) if found else {}
    teams = team_names(event, [r.id for r in found])
    return [Attendee(r, checkins.get(r.id), teams.get(r.id)) for r in found]


def snapshot(event: Event) -> list[dict]:
    """What a device needs to judge scans offline — and nothing more.

    One entry per ticket of the event: the SHA-256 of its code (never the code),
    name, reading, organisation, participation type, status, and the current check-in.
    """
    out = []
    for a in attendees(event, statuses=("confirmed", "waitlisted", "pending_review", "applied", "offered",
                                         "cancelled")):
        r = a.registration
        out.append({
            "h": code_hash(r.ticket_code), "id": r.id, "name": r.name, "kana": r.name_kana,
            "organization": r.organization_name, "ticket_type": r.ticket_type.name, "type_code": r.ticket_type.code,
            "status": r.status, "team": a.team,
            "checked_in_at": a.checkin.scanned_at.isoformat() if a.checkin else None,
            "checked_in_by": a.checkin.actor_label if a.checkin else None,
        })
    return out


def duplicates(event: Event) -> list[Checkin]:
    """Offline admissions that came second (same ticket on two devices), newest first."""
    return list(db.session.scalars(select(Checkin).where(Checkin.event_id == event.id, Checkin.result == "duplicate")
                                   .options(joinedload(Checkin.registration)).order_by(Checkin.scanned_at.desc())))


# ------------------------------------------------------------------ the scan log (organizers)
#: what the scan log can be filtered by: every scan answer, an undo, a refusal made offline
LOG_RESULTS = (*RESULTS, "undone", "refused_offline")
LOG_PER_PAGE = 100


@dataclass(frozen=True)
class LogEntry:
    """One line of the scan log: the log row and, when it names this event's registration, who."""

    log: CheckinLog
    name: str | None
    organization: str | None

    @property
    def uploaded_later(self) -> bool:
        """The scan reached the server well after it was made (queued offline on the device)."""
        return self.log.received_at - self.log.scanned_at > timedelta(minutes=1)


def scan_log(event: Event, *, result: str | None = None, device_id: str | None = None, page: int = 1,
             per_page: int | None = LOG_PER_PAGE) -> tuple[list[LogEntry], int]:
    """Every scan of the event — admissions, refusals, undos, uploads from offline devices — newest
    scan first (by the device's scan time, so an upload lands where it happened); the page's
    entries (all of them with ``per_page=None``) and how many match in all."""
    logs, r = CheckinLog.__table__, Registration.__table__
    where = [logs.c.event_id == event.id]
    if result:
        where.append(logs.c.result == result)
    if device_id:
        where.append(logs.c.device_id == device_id)
    total = db.session.scalar(select(func.count()).select_from(logs).where(*where)) or 0
    query = (select(CheckinLog, r.c.name, r.c.organization_name)
             .outerjoin(r, and_(r.c.id == CheckinLog.registration_id, r.c.event_id == event.id))
             .where(*where).order_by(CheckinLog.scanned_at.desc(), CheckinLog.id.desc()))
    if per_page is not None:
        query = query.limit(per_page).offset((max(page, 1) - 1) * per_page)
    rows = db.session.execute(query).all()
    return [LogEntry(log, name, org) for log, name, org in rows], total


def log_devices(event: Event) -> list[str]:
    """The devices that scanned at this event (for the log's filter)."""
    return list(db.session.scalars(select(CheckinLog.device_id).where(
        CheckinLog.event_id == event.id, CheckinLog.device_id != "").distinct().order_by(CheckinLog.device_id)))


# ------------------------------------------------------------------ walk-ins
@dataclass
class WalkIn:
    name: str
    name_kana: str
    email: str
    ticket_type: str
    organization_name: str = ""
    organization_code: str | None = None
    department: str = ""
    #: the person agreed (at the desk) to how their data is used
    consent_privacy: bool = False


def walk_in(event: Event, data: WalkIn, *, actor: Actor, now: datetime, override: bool = False,
            device_id: str | None = None) -> CheckinResult:
    """Check in the person at the door, registering or confirming them first if need be.

    A new address is registered as confirmed while the participation type has a seat left.
    An address with a registration for the event already: a confirmed one is checked in as
    it is (``already_checked_in`` too, as a name search would answer); a cancelled one
    applies again (a new ticket); a waitlisted, offered, applied or pending one is confirmed
    while seats last (see :func:`eventsvc.registration.service.register_at_door`). An
    organizer may ``override`` the seats, an e-mail domain outside the event's list (which
    would otherwise need a review) and a rejection. Staff cannot override. The answer's
    ``walk_in`` says what became of the registration.
    """
    from .walkin import admit_walk_in  # the desk's wording around register_at_door

    if override and not actor.is_organizer:
        raise DomainError("override_not_allowed", N_("定員を超えた受付は主催者だけができます。"), status=403)
    door = admit_walk_in(event, data, now=now, override=override, organizer=actor.is_organizer)
    registration = door.registration
    result = _with_row(registration, check_in(event, registration.ticket_code, device_id=device_id, nonce=None,
                                              scanned_at=now, method="walkin", actor=actor, now=now))
    result.walk_in = door
    return result


def _with_row(registration: Registration, result: CheckinResult) -> CheckinResult:
    """The answer about a registration the caller holds: with that ORM row, not the scan's brief."""
    result.registration = registration
    return result


# ------------------------------------------------------------------ self check-in
def attendance_code(event: Event, now: datetime) -> AttendanceCode:
    """The event's attendance code for the projector (made on first use)."""
    row = db.session.get(AttendanceCode, event.id)
    if row is None:
        row = AttendanceCode(event_id=event.id, code=_new_attendance_code(), created_at=now)
        db.session.add(row)
        db.session.flush()
    return row


def replace_attendance_code(event: Event, now: datetime) -> AttendanceCode:
    """A new code (the old one leaked, or a new session begins)."""
    row = attendance_code(event, now)
    row.code = _new_attendance_code()
    row.created_at = now
    db.session.flush()
    return row


def _new_attendance_code() -> str:
    return "".join(secrets.choice(tickets.ALPHABET) for _ in range(ATTENDANCE_CODE_LENGTH))


def normalize_attendance_code(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw or "").upper()[:50]
    return "".join(ch for ch in text if ch.isalnum())


def self_check_in_open(event: Event, now: datetime) -> bool:
    """Self check-in is possible only during the event's hours."""
    return event.starts_at <= now <= event.ends_at


def self_check_in(event: Event, registration: Registration, code: str, *, now: datetime) -> CheckinResult:
    """The attendee checks themselves in with the code on the projector."""
    if registration.event_id != event.id:
        raise NotFound("registration_not_found", N_("この参加者は見つかりません。"))
    if not self_check_in_open(event, now):
        raise DomainError("self_checkin_closed", N_("出席コードは開催時間中だけ入力できます。"), status=409)
    expected = db.session.get(AttendanceCode, event.id)
    given = normalize_attendance_code(code)
    if expected is None or not hmac.compare_digest(given.encode(), expected.code.encode()):
        raise ValidationFailed({"code": N_("出席コードが正しくありません。会場のスクリーンに表示されたコードを入力してください。")})
    return _with_row(registration, check_in(event, registration.ticket_code, device_id="self", nonce=None,
                                            scanned_at=now, method="self", actor=SELF, now=now))


# ------------------------------------------------------------------ staff links
def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_staff_link(event: Event, label: str, *, expires_at: datetime, created_by, now: datetime
                      ) -> tuple[StaffLink, str]:
    """A new staff link for one event; the token is returned once, stored hashed."""
    errors = {}
    try:
        label = check_text(label or "", max_length=MAX_LABEL)
    except TextError as err:
        errors["label"] = err.message
    if not errors and not label:
        errors["label"] = N_("名前（例: 受付2）を入力してください。")
    expires_at = to_utc(expires_at) if expires_at else None
    if expires_at is None or expires_at <= now:
        errors["expires_at"] = N_("有効期限は現在より後にしてください。")
    elif expires_at > now + timedelta(days=MAX_STAFF_LINK_DAYS):
        errors["expires_at"] = msg(N_("有効期限は%(n)s日以内にしてください。"), n=MAX_STAFF_LINK_DAYS)
    if errors:
        raise ValidationFailed(errors)
    token = STAFF_TOKEN_PREFIX + secrets.token_urlsafe(32)
    link = StaffLink(event_id=event.id, label=label, token_hash=hash_token(token), prefix=token[:10],
                     expires_at=expires_at, created_by_id=getattr(created_by, "id", None), created_at=now)
    db.session.add(link)
    db.session.flush()
    return link, token


def staff_links(event: Event) -> list[StaffLink]:
    return list(db.session.scalars(select(StaffLink).where(StaffLink.event_id == event.id)
                                   .order_by(StaffLink.created_at.desc(), StaffLink.id.desc())))


def revoke_staff_link(event: Event, link_id: int, *, now: datetime) -> StaffLink:
    link = db.session.get(StaffLink, link_id) if _id_ok(link_id) else None
    if link is None or link.event_id != event.id:
        raise NotFound("staff_link_not_found", N_("このスタッフ用リンクは見つかりません。"))
    if link.revoked_at is None:
        link.revoked_at = now
        db.session.flush()
    return link


def resolve_staff_token(token: str, now: datetime) -> StaffLink | None:
    """The active staff link behind a token, or None (unknown, expired, revoked)."""
    if not isinstance(token, str) or not token.startswith(STAFF_TOKEN_PREFIX) or len(token) > 100:
        return None
    digest = hash_token(token)
    # with its event: the desk call's event lookup then finds it in the session (no query)
    link = db.session.scalar(select(StaffLink).where(StaffLink.token_hash == digest)
                             .options(joinedload(StaffLink.event, innerjoin=True)))
    if link is None or not hmac.compare_digest(link.token_hash, digest) or not link.is_active(now):
        return None
    return link


_STAFF_LINK_STILL_ACTS = and_(
    select(StaffLink.id).where(StaffLink.token_hash == bindparam("guard_digest"), StaffLink.revoked_at.is_(None),
                               StaffLink.expires_at > bindparam("guard_now"),
                               StaffLink.event_id == bindparam("guard_event")).exists(),
    select(Event.id).where(Event.id == bindparam("guard_event"), Event.slug == bindparam("guard_slug")).exists())


def staff_link_guard(token: str, link: StaffLink, event: Event, now: datetime) -> tuple[ColumnElement, dict]:
    """The JSON API's guard for a reused staff link (``jsonapi.principal_guard``): the link is still
    active (not revoked, not expired) for that event, still of that slug."""
    return _STAFF_LINK_STILL_ACTS, {"guard_digest": hash_token(token), "guard_now": now, "guard_event": event.id,
                                    "guard_slug": event.slug}


def staff_link_use_due(link: StaffLink, now: datetime) -> bool:
    """Whether this use of the link should be noted (:func:`touch_staff_link`): not in the last minute."""
    return link.last_used_at is None or now - link.last_used_at >= STAFF_LINK_TOUCH_INTERVAL


def touch_staff_link(link_id: int, now: datetime) -> None:
    """Note the link's use (``last_used_at``, which tells the organizer a lost device is still in
    use), unless another request did within the last minute."""
    db.session.execute(
        update(StaffLink)
        .where(StaffLink.id == link_id, or_(StaffLink.last_used_at.is_(None),
                                            StaffLink.last_used_at <= now - STAFF_LINK_TOUCH_INTERVAL))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False))


def active_staff_link(link_id: int, event_id: int, now: datetime) -> StaffLink | None:
    """The staff link a session refers to, if it is still valid for that event."""
    link = db.session.get(StaffLink, link_id) if _id_ok(link_id) else None
    if link is None or link.event_id != event_id or not link.is_active(now):
        return None
    return link

