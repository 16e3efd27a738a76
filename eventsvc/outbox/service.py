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

from sqlalchemy import bindparam, column, exists, func, insert, not_, select
from sqlalchemy import table as sa_table
from sqlalchemy.exc import IntegrityError

from .. import database
from ..core.clock import now_utc
from ..core.i18n import N_
from ..errors import Conflict, NotFound
from ..extensions import db
from .models import STATES, Delivery

#: how pages name a ``failed`` row that an erasure of personal data stopped (not a state)
WITHDRAWN = "withdrawn"
NOT_RETRYABLE_WITHDRAWN = N_("個人情報を削除した方への配信は、再送できません。")


def enqueue(kind: str, target: str, payload: dict, *, event_id: int | None = None,
            registration_id: int | None = None, dedupe_key: str | None = None,
            now: datetime | None = None, not_before: datetime | None = None) -> Delivery:
    """Add a delivery (state ``queued``) to the session and flush it.

    With ``dedupe_key``, an existing row with the same key is returned instead (even
    when another transaction inserted it concurrently: the unique index decides).
    """
    now = now or now_utc()
    if dedupe_key:
        existing = db.session.scalar(select(Delivery).where(Delivery.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    row = Delivery(**_new_row(kind, target, payload, event_id, registration_id, dedupe_key, now, not_before))
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
                now: datetime | None = None) -> int | None:
    """Add a delivery whose ``dedupe_key`` cannot exist yet; returns its id (None inside
    :func:`held_new_rows`, which keeps the row for its caller to write).

    For a cause that has just inserted what the key names (a new registration's id): one
    ``INSERT … RETURNING id``, without looking for an existing row, without a savepoint and
    without an ORM object (this is on the registration's hot path). The unique index still
    guards the key: a duplicate raises :class:`~sqlalchemy.exc.IntegrityError` (the transaction
    is then lost) instead of answering with the other row, as :func:`enqueue` would.
    """
    values = _new_row(kind, target, payload, event_id, registration_id, dedupe_key, now or now_utc(), None)
    held = _held.get()
    if held is not None:
        held.append({key: values.get(key) for key in _COLUMN_KEYS})
        return None
    return database.execute_now(db.session, _insert_statement(), values).scalar_one()


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


def _new_row(kind, target, payload, event_id, registration_id, dedupe_key, now, not_before) -> dict:
    return dict(kind=kind, target=target[:320], payload=payload, event_id=event_id,
                registration_id=registration_id, dedupe_key=dedupe_key, state="queued", attempts=0,
                next_attempt_at=not_before or now, created_at=now, last_error="", external_id="",
                claimed_by="")


def list_for_event(event_id: int, *, state: str | None = None, kind_prefix: str | None = None,
                   withdrawn: bool | None = None, limit: int = 1000) -> list[Delivery]:
    """The event's deliveries, newest first; ``withdrawn`` True/False keeps only the rows
    stopped by an erasure of personal data / only the others (None: both)."""
    q = select(Delivery).where(Delivery.event_id == event_id).order_by(Delivery.id.desc())
    if state:
        q = q.where(Delivery.state == state)
    if kind_prefix:
        q = q.where(Delivery.kind.startswith(kind_prefix))
    if withdrawn is not None:
        q = q.where(Delivery.withdrawn if withdrawn else not_(Delivery.withdrawn))
    return list(db.session.scalars(q.limit(limit)))


def counts_for_event(event_id: int) -> dict[str, int]:
    """Rows per state, and ``withdrawn``: the ``failed`` rows stopped by an erasure of personal
    data, counted there and not among the failures."""
    rows = db.session.execute(select(Delivery.state, func.count()).where(Delivery.event_id == event_id)
                              .group_by(Delivery.state))
    out = dict.fromkeys((*STATES, WITHDRAWN), 0)
    out.update({state: n for state, n in rows})
    out[WITHDRAWN] = db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.event_id == event_id, Delivery.withdrawn)) or 0
    out["failed"] -= out[WITHDRAWN]
    return out


def get_for_event(event_id: int, delivery_id: int) -> Delivery:
    row = db.session.get(Delivery, delivery_id)
    if row is None or row.event_id != event_id:
        raise NotFound("delivery_not_found", N_("配信が見つかりません。"))
    return row


def resend(row: Delivery, now: datetime) -> Delivery:
    """A person's 再送 from a page: :func:`retry`, except for a row stopped by an erasure of
    personal data (its message and, for a person's own row, its address are gone).

    :func:`retry` itself still takes such a row: a Slack report that named an erased person is
    re-queued with a new message by ``slack.service`` when the organizer posts it again."""
    if row.withdrawn:
        raise Conflict("not_retryable", NOT_RETRYABLE_WITHDRAWN)
    return retry(row, now)


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
    row.state = "queued"
    row.next_attempt_at = max([now, *(at for fn in _retry_not_before if (at := fn(row, now)) is not None)])
    row.claimed_by, row.claimed_until, row.send_started_at = "", None, None
    db.session.flush()
    return row
