"""Personal data: erasing one registration, deleting one attendee everywhere, and the
retention purge of a whole event (Act on the Protection of Personal Information).

Three entry points, one routine (:func:`_run`):

- :func:`erase_registration` — the attendee asked for deletion from their page: the seat is
  given up (:func:`service.cancel`, the waitlist moves up) and their data is anonymised at
  once, exactly as the purge does it. The row stays as an anonymous "cancelled" count.
- :func:`delete_registration` — an organizer deletes one attendee everywhere: cancelled
  first (the seat frees), then the rows themselves go (registration, check-ins and their
  log, named survey answers, outbox rows, Slack link, team membership).
- :func:`purge_event` — N days after an event ends (``RETENTION_DAYS``, or the event's own
  ``retention_days``) every registration of it is anonymised and the event's outbox rows
  are emptied; anonymous statistics stay (counts by status, participation type,
  organisation; check-in counts; team sizes; survey results). Idempotent: a second run
  finds nothing left to do. :func:`purge_due` runs it for every event that is due (the
  outbox worker calls it each pass; ``eventsvc purge`` from the command line).

What "anonymised" means for a registration: the name becomes a placeholder, the reading,
department, free-text answers, review note and free-text organisation are emptied, the
e-mail address becomes ``erased-<id>@erased.invalid``, the ticket code and the attendee
token hash get random values no scanner, link or token can ever match, and ``erased_at``
is set. The organisation's code (a public body, not a person), the status, the
participation type and the choice answers stay for the statistics.

Packages above registration (check-in, teams, surveys, Slack) own their personal data:
they plug in with :func:`register_eraser`, and each eraser returns how many rows it changed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select

from ..events.models import Event
from ..extensions import db
from ..outbox.models import ERASED, ERASED_NOTE, ERASED_PAYLOAD, Delivery
from . import service
from .models import LotteryDraw, Registration, RegistrationSettings

ERASED_NAME = "（削除済み）"
ERASED_DOMAIN = "erased.invalid"
#: the per-event override may range over these days
MIN_RETENTION_DAYS, MAX_RETENTION_DAYS = 1, 3650
#: free-text registration questions (their answers are erased; choices stay for statistics)
FREE_TEXT_KINDS = ("text", "long_text")


@dataclass
class Erasure:
    """What one run erases: some registrations of one event (or all of them, for the purge)."""

    event: Event
    registration_ids: list[int]
    now: datetime
    #: delete the rows (an organizer's "delete everywhere") instead of anonymising them
    delete: bool = False
    #: the retention purge: the event's own rows too (outbox rows, logs without a registration)
    whole_event: bool = False
    #: strings of these people (names, addresses, codes, Slack ids): an event-level outbox row
    #: that contains one is emptied too; erasers may add theirs
    needles: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, n: int) -> None:
        if n:
            self.counts[name] = self.counts.get(name, 0) + int(n)


#: ``fn(erasure) -> {name: rows changed}``
Eraser = Callable[[Erasure], dict[str, int]]
_erasers: dict[str, Eraser] = {}


def register_eraser(name: str, fn: Eraser) -> None:
    """Let a package above registration erase its own rows about registrations."""
    _erasers[name] = fn


# ------------------------------------------------------------------ the routine
def _needles(regs: list[Registration]) -> set[str]:
    out: set[str] = set()
    for r in regs:
        if r.erased_at is not None:
            continue
        out.update(v for v in (r.name, r.name_kana, r.email, r.ticket_code, r.department) if v)
    return {n for n in out if len(n.strip()) >= 2}


def _contains(payload, needles: set[str]) -> bool:
    if not needles:
        return False
    text = json.dumps(payload, ensure_ascii=False, default=str)
    return any(n in text for n in needles)


def _personal_target(d: Delivery, er: Erasure) -> bool:
    """Addressed to a person (an e-mail address, a Slack DM) rather than to a channel."""
    return d.registration_id is not None or d.kind.startswith("mail.") or d.target in er.needles


def _erase_deliveries(er: Erasure) -> None:
    """Outbox rows: the people's own rows are emptied (deleted on "delete everywhere"); a row
    to a channel that names them (a Slack report) loses its message but keeps its channel and
    ``channel:ts``, so the organizer can post the report again as an update without them."""
    ids = er.registration_ids or [-1]
    if er.delete:
        er.count("deliveries_deleted", db.session.execute(
            delete(Delivery).where(Delivery.registration_id.in_(ids))).rowcount)
        rows = []
    else:
        rows = list(db.session.scalars(select(Delivery).where(Delivery.registration_id.in_(ids))))
    others = db.session.scalars(select(Delivery).where(
        Delivery.event_id == er.event.id,
        or_(Delivery.registration_id.is_(None), Delivery.registration_id.not_in(ids))))
    rows.extend(d for d in others
                if er.whole_event or _contains(d.payload, er.needles) or d.target in er.needles)
    rows = [d for d in rows if d.payload != ERASED_PAYLOAD]
    for d in rows:
        if d.state in ("queued", "held"):
            d.state = "failed"
        if _personal_target(d, er):
            d.target, d.external_id = "", ""
        d.payload = dict(ERASED_PAYLOAD)
        d.last_error = ERASED_NOTE if d.state == "failed" else ""
        d.withdrawn_reason = ERASED if d.state == "failed" else None
        if d.dedupe_key and any(n in d.dedupe_key for n in er.needles):
            d.dedupe_key = f"erased:{d.id}"
    er.count("deliveries_emptied", len(rows))


def _anonymise(reg: Registration, questions: dict[str, str], now: datetime) -> None:
    reg.name, reg.name_kana, reg.department = ERASED_NAME, "", ""
    reg.email = f"erased-{reg.id}@{ERASED_DOMAIN}"
    if not reg.organization_code:
        reg.organization_name = ""
    reg.ticket_code = "X-" + secrets.token_hex(16)  # never a T1-… code: no scan matches it
    reg.attendee_token_hash = "erased:" + secrets.token_hex(28)  # never a SHA-256 hex digest
    reg.consent_listing = reg.consent_slack_mention = False
    reg.answers = {k: v for k, v in (reg.answers or {}).items()
                   if questions.get(k) is not None and questions[k] not in FREE_TEXT_KINDS}
    reg.review_note, reg.offer_expires_at = "", None
    reg.erased_at, reg.updated_at = now, now


def _erase_lottery_records(er: Erasure) -> None:
    """Free-text organisation names in the draws' records become labels (``name:#1`` …)."""
    for draw in db.session.scalars(select(LotteryDraw).where(LotteryDraw.event_id == er.event.id)):
        record = dict(draw.record or {})
        applicants = record.get("applicants") or []
        labels: dict[str, str] = {}
        changed = False
        out = []
        for item in applicants:
            if isinstance(item, list) and len(item) == 2 and isinstance(item[1], str) \
                    and item[1].startswith("name:") and not item[1].startswith("name:#"):
                label = labels.setdefault(item[1], f"name:#{len(labels) + 1}")
                out.append([item[0], label])
                changed = True
            else:
                out.append(item)
        if changed:
            record["applicants"] = out
            draw.record = record
            er.count("lottery_records", 1)


def _run(er: Erasure) -> dict[str, int]:
    regs = list(db.session.scalars(select(Registration).where(Registration.id.in_(er.registration_ids or [-1]))))
    er.needles |= _needles(regs)
    for fn in list(_erasers.values()):
        for key, n in (fn(er) or {}).items():
            er.count(key, n)
    _erase_deliveries(er)
    if er.whole_event:
        _erase_lottery_records(er)
    if er.delete:
        for reg in regs:
            db.session.delete(reg)
        er.count("registrations_deleted", len(regs))
    else:
        questions = {q.id: q.kind for q in service.questions_of(er.event)}
        fresh = [r for r in regs if r.erased_at is None]
        for reg in fresh:
            _anonymise(reg, questions, er.now)
        er.count("registrations_erased", len(fresh))
    db.session.flush()
    return dict(er.counts)


# ------------------------------------------------------------------ one attendee
def erase_registration(reg: Registration, now: datetime) -> dict[str, int]:
    """The attendee's own request: give up the seat (before the event ends), then anonymise."""
    event = reg.event
    if reg.erased_at is not None:
        return {}
    if now < event.ends_at:
        service.cancel(reg, reg, now)
    return _run(Erasure(event=event, registration_ids=[reg.id], now=now))


def delete_registration(reg: Registration, actor, now: datetime) -> dict[str, int]:
    """An organizer deletes one attendee everywhere (the seat frees first, before the event ends)."""
    event = reg.event
    if now < event.ends_at:
        service.cancel(reg, actor, now)
    return _run(Erasure(event=event, registration_ids=[reg.id], now=now, delete=True))


# ------------------------------------------------------------------ the retention purge
def default_retention_days() -> int:
    return int(current_app.config.get("RETENTION_DAYS", 180))


def retention_days(event: Event, settings: RegistrationSettings | None = None) -> int:
    """How many days after its end the event's personal data is kept."""
    settings = settings if settings is not None else db.session.get(RegistrationSettings, event.id)
    if settings is not None and settings.retention_days:
        return int(settings.retention_days)
    return default_retention_days()


def purge_at(event: Event, settings: RegistrationSettings | None = None) -> datetime:
    return event.ends_at + timedelta(days=retention_days(event, settings))


def due_events(now: datetime) -> list[Event]:
    """Ended events whose retention has run out and that were not purged yet (oldest first).

    With ``RETENTION_DAYS`` 0 (or less) and no per-event override, nothing is ever due.
    """
    rows = db.session.execute(
        select(Event, RegistrationSettings).outerjoin(RegistrationSettings, RegistrationSettings.event_id == Event.id)
        .where(Event.ends_at <= now, or_(RegistrationSettings.event_id.is_(None),
                                         RegistrationSettings.purged_at.is_(None)))
        .order_by(Event.ends_at, Event.id)).all()
    default = default_retention_days()
    out = []
    for event, settings in rows:
        days = settings.retention_days if settings is not None and settings.retention_days else default
        if days > 0 and event.ends_at + timedelta(days=days) <= now:
            out.append(event)
    return out


def _lock_event(event: Event) -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(Event.id).where(Event.id == event.id).with_for_update())


def purge_event(event: Event, now: datetime) -> dict[str, int]:
    """Erase the personal data of ``event`` (whatever its dates; callers decide when).

    Returns the rows changed per kind; an empty dict when there was nothing left.
    """
    _lock_event(event)
    ids = list(db.session.scalars(select(Registration.id).where(Registration.event_id == event.id)))
    counts = _run(Erasure(event=event, registration_ids=ids, now=now, whole_event=True))
    settings = db.session.get(RegistrationSettings, event.id) or service.new_settings_row(event, now)
    if settings.purged_at is None:
        settings.purged_at = now
    db.session.flush()
    return counts


@dataclass
class PurgeResult:
    slug: str
    ended_at: datetime
    counts: dict[str, int]


def purge_due(now: datetime, *, actor=None) -> list[PurgeResult]:
    """Purge every due event; one audit entry per event that had something erased."""
    from ..audit import service as audit

    actor = actor or audit.WORKER
    results = []
    for event in due_events(now):
        counts = purge_event(event, now)
        results.append(PurgeResult(event.slug, event.ends_at, counts))
        if counts:
            audit.record("privacy.purge", actor=actor, target=f"event:{event.slug}", event_slug=event.slug,
                         details={"counts": counts, "retention_days": retention_days(event)}, now=now)
    return results


def set_retention_days(event: Event, days: int | None, now: datetime) -> RegistrationSettings:
    """The event's own retention (None: the service default)."""
    if days is not None and (isinstance(days, bool) or not MIN_RETENTION_DAYS <= int(days) <= MAX_RETENTION_DAYS):
        from ..core.i18n import N_, msg
        from ..errors import ValidationFailed

        raise ValidationFailed({"retention_days": msg(N_("%(min)s〜%(max)s日で指定してください。"), min=MIN_RETENTION_DAYS,
                                                           max=MAX_RETENTION_DAYS)})
    settings = db.session.get(RegistrationSettings, event.id) or service.new_settings_row(event, now)
    settings.retention_days = int(days) if days is not None else None
    db.session.flush()
    return settings


# ------------------------------------------------------------------ pages
def notice(event: Event) -> dict:
    """What the purpose-of-use box on every form shows: the event's own text and the retention."""
    settings = db.session.get(RegistrationSettings, event.id) if event is not None else None
    return {"purpose": (settings.privacy_purpose if settings is not None else "") or "",
            "days": retention_days(event, settings) if event is not None else default_retention_days()}


# ------------------------------------------------------------------ worker hook
def _periodic(now: datetime) -> None:
    purge_due(now)


def _register_periodic() -> None:
    from ..outbox.worker import register_periodic

    register_periodic("privacy.purge", _periodic)


_register_periodic()
