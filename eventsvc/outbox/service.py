"""Writing and reading deliveries. Knows no channel: a ``kind`` is just a string.

Enqueue in the same transaction as the cause (the caller commits); a ``dedupe_key``
makes a retried cause harmless: the second enqueue returns the first row.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import bindparam, column, exists, func, insert, not_, select, update
from sqlalchemy import table as sa_table
from sqlalchemy.exc import IntegrityError

from .. import database
from ..core.clock import now_utc
from ..core.i18n import N_
from ..errors import Conflict, NotFound
from ..extensions import db
from .models import ERASED, STATES, SUPERSEDED, Delivery

#: how pages name a ``failed`` row that an erasure of personal data stopped (not a state)
WITHDRAWN = "withdrawn"
#: how pages name a ``failed`` row withdrawn because what it was about moved on before it left (not a state)
SUPERSEDED_SHOWN = "superseded"
#: the state pages show for a withdrawn row, by its reason
SHOWN_WITHDRAWALS = {ERASED: WITHDRAWN, SUPERSEDED: SUPERSEDED_SHOWN}
NOT_RETRYABLE_WITHDRAWN = N_("個人情報を削除した方への配信は、再送できません。")
NOT_RETRYABLE_SUPERSEDED = N_("申込みの状態が変わったため、この配信は再送できません。")


def enqueue(kind: str, target: str, payload: dict, *, event_id: int | None = None,
            registration_id: int | None = None, dedupe_key: str | None = None,
            now: datetime | None = None, not_before: datetime | None = None,
            registration_application: int | None = None, registration_status: str | None = None) -> Delivery:
    """Add a delivery (state ``queued``) to the session and flush it.

    With ``dedupe_key``, an existing row with the same key is returned instead (even
    when another transaction inserted it concurrently: the unique index decides).
    ``registration_application`` / ``registration_status``: what a registration's mail is about
    (see :class:`Delivery`; :func:`register_superseded_check` decides whether it still goes).
    """
    now = now or now_utc()
    if dedupe_key:
        existing = db.session.scalar(select(Delivery).where(Delivery.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    row = Delivery(**_new_row(kind, target, payload, event_id, registration_id, dedupe_key, now, not_before,
                              registration_application, registration_status))
    if not dedupe_key:
        db.session.add(row)
        db.session.flush()
        return row
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        existing = db.session.scalar(select(Delivery).where(Delivery.dedupe_key == dedupe_key))
        if existing is None:  # pragma: no cover - the unique index said otherwise
            raise
        return existing
    return row


def enqueue_new(kind: str, target: str, payload: dict, *, event_id: int | None = None,
                registration_id: int | None = None, dedupe_key: str | None = None,
                now: datetime | None = None, registration_application: int | None = None,
                registration_status: str | None = None) -> int | None:
    """Add a delivery whose ``dedupe_key`` cannot exist yet; returns its id (None inside
    :func:`held_new_rows`, which keeps the row for its caller to write).

    For a cause that has just inserted what the key names (a new registration's id): one
    ``INSERT … RETURNING id``, without looking for an existing row, without a savepoint and
    without an ORM object (this is on the registration's hot path). The unique index still
    guards the key: a duplicate raises :class:`~sqlalchemy.exc.IntegrityError` (the transaction
    is then lost) instead of answering with the other row, as :func:`enqueue` would.
    """
    values = _new_row(kind, target, payload, event_id, registration_id, dedupe_key, now or now_utc(), None,
                      registration_application, registration_status)
    held = _held.get()
    if held is not None:
        held.append({key: values.get(key) for key in _COLUMN_KEYS})
        return None
    return database.first_row(db.session, _insert_statement(), values)[0]


#: every column of a delivery but its id
_COLUMN_KEYS = tuple(c.key for c in Delivery.__table__.c if c.key != "id")
_held: contextvars.ContextVar[list | None] = contextvars.ContextVar("outbox_held", default=None)


@contextlib.contextmanager
def held_new_rows():
    """Inside the block :func:`enqueue_new` writes nothing and returns None: it adds each new row
    (a dict of column values) to the yielded list, for the caller to write together with its
    cause in one round trip (:func:`insert_with_registration_statement`)."""
    rows: list[dict] = []
    token = _held.set(rows)
    try:
        yield rows
    finally:
        _held.reset(token)


@functools.cache
def _insert_statement():
    table = Delivery.__table__
    return insert(table).returning(table.c.id)


@functools.cache
def insert_with_registration_statement():
    """``INSERT INTO deliveries … SELECT <the row> WHERE <its registration exists>``: sent in one
    batch after the insert of the registration it is about, it writes nothing when that insert
    wrote nothing (the address was registered already), where a plain insert would fail on the
    foreign key and take the batch down with it."""
    table = Delivery.__table__
    keys = list(_COLUMN_KEYS)
    registrations = sa_table("registrations", column("id"))
    row = select(*[bindparam(key, type_=table.c[key].type) for key in keys]).where(
        exists().where(registrations.c.id == bindparam("registration_id", type_=table.c.registration_id.type)))
    return insert(table).from_select(keys, row)


def _new_row(kind, target, payload, event_id, registration_id, dedupe_key, now, not_before,
             registration_application=None, registration_status=None) -> dict:
    return dict(kind=kind, target=target[:320], payload=payload, event_id=event_id,
                registration_id=registration_id, dedupe_key=dedupe_key, state="queued", attempts=0,
                next_attempt_at=not_before or now, created_at=now, last_error="", external_id="",
                claimed_by="", registration_application=registration_application,
                registration_status=registration_status, withdrawn_reason=None)


def list_for_event(event_id: int, *, state: str | None = None, kind_prefix: str | None = None,
                   withdrawn: bool | None = None, withdrawn_reason: str | None = None,
                   limit: int = 1000) -> list[Delivery]:
    """The event's deliveries, newest first; ``withdrawn`` True/False keeps only the rows
    that were withdrawn (an erasure of personal data, or what they were about moved on) / only
    the others (None: both); ``withdrawn_reason`` only the rows withdrawn for that reason."""
    q = select(Delivery).where(Delivery.event_id == event_id).order_by(Delivery.id.desc())
    if state:
        q = q.where(Delivery.state == state)
    if kind_prefix:
        q = q.where(Delivery.kind.startswith(kind_prefix))
    if withdrawn is not None:
        q = q.where(Delivery.withdrawn if withdrawn else not_(Delivery.withdrawn))
    if withdrawn_reason is not None:
        q = q.where(Delivery.withdrawn, Delivery.withdrawn_reason == withdrawn_reason)
    return list(db.session.scalars(q.limit(limit)))


def counts_for_event(event_id: int) -> dict[str, int]:
    """Rows per state, and the withdrawn ``failed`` rows by the state pages show for them
    (:data:`SHOWN_WITHDRAWALS`: ``withdrawn`` for an erasure of personal data, ``superseded``
    when what they were about moved on), counted there and not among the failures."""
    rows = db.session.execute(select(Delivery.state, Delivery.withdrawn_reason, func.count())
                              .where(Delivery.event_id == event_id)
                              .group_by(Delivery.state, Delivery.withdrawn_reason))
    out = dict.fromkeys((*STATES, *SHOWN_WITHDRAWALS.values()), 0)
    for state, reason, n in rows:
        shown = SHOWN_WITHDRAWALS.get(reason, state) if state == "failed" and reason else state
        out[shown] = out.get(shown, 0) + n
    return out


def shown_state(row: Delivery) -> str:
    """The state pages show: a withdrawn row's by its reason (:data:`SHOWN_WITHDRAWALS`), else its own."""
    return SHOWN_WITHDRAWALS.get(row.withdrawn_reason, WITHDRAWN) if row.withdrawn else row.state


def get_for_event(event_id: int, delivery_id: int) -> Delivery:
    row = db.session.get(Delivery, delivery_id)
    if row is None or row.event_id != event_id:
        raise NotFound("delivery_not_found", N_("配信が見つかりません。"))
    return row


def resend(row: Delivery, now: datetime) -> Delivery:
    """A person's 再送 from a page: :func:`retry`, except for a withdrawn row (an erasure of
    personal data: its message and, for a person's own row, its address are gone) and a row
    whose cause has moved on (:func:`superseded_note`: it would tell what is no longer true).

    :func:`retry` itself still takes an erased row: a Slack report that named an erased person is
    re-queued with a new message by ``slack.service`` when the organizer posts it again."""
    if row.withdrawn:
        raise Conflict("not_retryable", NOT_RETRYABLE_SUPERSEDED if row.withdrawn_reason == SUPERSEDED
                       else NOT_RETRYABLE_WITHDRAWN)
    if row.state in ("failed", "uncertain", "held") and superseded_note(row):
        raise Conflict("not_retryable", NOT_RETRYABLE_SUPERSEDED)
    return retry(row, now)


#: ``fn(row) -> str | None``: None while the delivery still applies, else why it no longer does
#: (an ``N_`` message, stored as the row's ``last_error`` and translated by pages)
SupersededCheck = Callable[[Delivery], "str | None"]
_superseded_checks: list[SupersededCheck] = []


def register_superseded_check(fn: SupersededCheck) -> None:
    """A feature whose deliveries tell the state of something that can change before they leave
    (registrations: "you are confirmed", "you are on the waitlist") says when one no longer
    applies. Such a row is not sent: the worker withdraws it instead (reason ``superseded``) right
    before it would go, and pages neither preview nor resend it. The feature itself withdraws the
    rows still waiting when their cause moves on (:func:`withdraw_waiting`)."""
    if fn not in _superseded_checks:
        _superseded_checks.append(fn)


def superseded_note(row: Delivery) -> str | None:
    """Why ``row`` no longer applies (see :func:`register_superseded_check`), or None."""
    for fn in _superseded_checks:
        note = fn(row)
        if note:
            return note
    return None


def withdraw_waiting(ids: list[int], reason: str, note: str) -> int:
    """Never send the rows ``ids`` that are still waiting to leave (queued or held): ``failed`` with
    their ``reason`` (one of ``WITHDRAWN_REASONS``) and ``note`` (why, in Japanese: an ``N_``
    message pages translate). A row a worker has claimed meanwhile is left to it (the worker asks
    :func:`superseded_note` again right before it sends). Returns how many were withdrawn."""
    if not ids:
        return 0
    return db.session.execute(
        update(Delivery).where(Delivery.id.in_(ids), Delivery.state.in_(("queued", "held")))
        .values(state="failed", withdrawn_reason=reason, last_error=note[:2000])
        .execution_options(synchronize_session="fetch")).rowcount


#: ``fn(row, now) -> datetime | None``: a re-sent row must not go out before that time (None: no reason to wait)
RetryNotBefore = Callable[[Delivery, datetime], "datetime | None"]
_retry_not_before: list[RetryNotBefore] = []


def register_retry_not_before(fn: RetryNotBefore) -> None:
    """A feature whose deliveries wait for something (surveys: an invitation waits for the
    survey's opening) keeps a re-sent row waiting for it too (:func:`retry`)."""
    if fn not in _retry_not_before:
        _retry_not_before.append(fn)


def retry(row: Delivery, now: datetime) -> Delivery:
    """A person decided to send a failed or uncertain delivery again (the only way it is re-sent).

    It goes out at once, unless a feature says it must wait (:func:`register_retry_not_before`)."""
    if row.state not in ("failed", "uncertain", "held"):
        raise Conflict("not_retryable", N_("送信済み・送信待ちの配信は再送できません。"))
    row.state, row.withdrawn_reason = "queued", None
    row.next_attempt_at = max([now, *(at for fn in _retry_not_before if (at := fn(row, now)) is not None)])
    row.claimed_by, row.claimed_until, row.send_started_at = "", None, None
    db.session.flush()
    return row
