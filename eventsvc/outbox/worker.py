"""The outbox worker: claim due deliveries, send each once, record the outcome.

One pass (:func:`run_once`)::

    recover   'sending' rows whose lease (claimed_until) ran out: never started → queued again;
              started (send_started_at set) → uncertain (it may have gone out; a person decides)
    release   'held' rows whose channel is configured now → queued
    claim     due 'queued' rows → 'sending' with a lease (PostgreSQL: FOR UPDATE SKIP LOCKED,
              so several workers never claim the same row; SQLite: the write lock serialises)
              rows without a usable sender → 'held' with the reason
    check     per row: a row whose cause has moved on (``service.register_superseded_check``: a
              confirmation of an application cancelled since) is withdrawn, not sent — checked
              again at the point of no return (right before DATA), where a change made meanwhile
              still stops it
    render    per row carrying a recipe instead of its text (``renderers.py``): make the message
              and store it in the row, so the row holds what is sent
    send      per row: mark send_started_at (only if the claim is still ours) — for mail only
              right before DATA, the point after which the message may have gone out — call
              the sender, then sent | queued again with exponential backoff and jitter | failed
              | uncertain
    periodic  jobs other packages registered (offer expiry, lottery draws…)

A row is handed to a sender at most once per claim, and a claim whose send started is
never re-claimed automatically: that is what "never send the same row twice" rests on.
Runs as ``eventsvc worker`` and as a thread inside ``eventsvc serve``.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import select, update

from .. import database
from ..core.clock import now_utc
from ..extensions import db
from . import mail as _mail  # noqa: F401  (registers the mail.* sender)
from . import renderers, service
from .models import SUPERSEDED, Delivery
from .senders import ClaimLost, PermanentError, TemporaryError, UncertainError, sender_for

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
BASE_DELAY = 30.0  # seconds
MAX_DELAY = 6 * 3600.0
BATCH = 20

#: ``fn(now)``: work other packages want done on each pass (they flush; the worker commits)
PeriodicJob = Callable[[datetime], object]
_PERIODIC: dict[str, PeriodicJob] = {}


def register_periodic(name: str, job: PeriodicJob) -> None:
    _PERIODIC[name] = job


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:100]


def backoff(attempts: int, rnd: random.Random | None = None) -> timedelta:
    """Delay before the next try: BASE·2^(attempts-1), capped, times a jitter in [0.5, 1.5)."""
    rnd = rnd or random
    delay = min(MAX_DELAY, BASE_DELAY * (2 ** max(0, attempts - 1)))
    return timedelta(seconds=delay * (0.5 + rnd.random()))


def retry_delay(err: TemporaryError, attempts: int, rnd: random.Random | None = None) -> timedelta:
    """When to try again: what the other side asked for (plus up to 10 % jitter), else :func:`backoff`."""
    if err.retry_after is None:
        return backoff(attempts, rnd)
    rnd = rnd or random
    wait = min(MAX_DELAY, max(0.0, float(err.retry_after)))
    return timedelta(seconds=wait * (1.0 + 0.1 * rnd.random()))


def recover_lost(now: datetime) -> int:
    lost = db.session.scalars(select(Delivery).where(Delivery.state == "sending",
                                                     Delivery.claimed_until < now)).all()
    for row in lost:
        if row.send_started_at is None:
            row.state = "queued"
        else:
            row.state = "uncertain"
            row.last_error = "送信中に処理が止まりました（送信されたか不明のため自動では再送しません）"
        row.claimed_by, row.claimed_until = "", None
    db.session.commit()
    return len(lost)


def release_held(config) -> int:
    kinds = db.session.scalars(select(Delivery.kind).where(Delivery.state == "held").distinct()).all()
    n = 0
    for kind in kinds:
        sender = sender_for(kind)
        if sender is not None and sender.unavailable(config) is None:
            n += db.session.execute(update(Delivery).where(Delivery.state == "held", Delivery.kind == kind)
                                    .values(state="queued", last_error="")).rowcount
    db.session.commit()
    return n


def claim(who: str, now: datetime, limit: int = BATCH) -> list[int]:
    """Claim up to ``limit`` due rows for ``who``; returns their ids (committed)."""
    config = current_app.config
    q = (select(Delivery).where(Delivery.state == "queued", Delivery.next_attempt_at <= now)
         .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit))
    if db.session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    claimed = []
    for row in db.session.scalars(q).all():
        sender = sender_for(row.kind)
        reason = ("送信手段が未登録: " + row.kind.split(".")[0]) if sender is None else sender.unavailable(config)
        if reason:
            row.state, row.last_error = "held", reason
            continue
        row.state, row.claimed_by, row.claimed_until = "sending", who, now + LEASE
        row.send_started_at = None
        claimed.append(row.id)
    db.session.commit()
    return claimed


class _Superseded(Exception):  # noqa: N818 - not an error: what the row was about has moved on
    """Raised by the worker's ``point_of_no_return`` when the row no longer applies (its note says why)."""

    def __init__(self, note: str):
        super().__init__(note)
        self.note = note


def _finish(row_id: int, who: str, **values) -> None:
    _mark(row_id, who, claimed_by="", claimed_until=None, **values)


def _mark(row_id: int, who: str, **values) -> bool:
    """Update the row only if the claim is still ours (and commit); False when it is not.

    Whatever the sender read is let go first: on SQLite its reads ran in a plain read
    transaction (see :func:`deliver`), which must not be the one that writes.
    """
    db.session.rollback()
    res = db.session.execute(update(Delivery).where(Delivery.id == row_id, Delivery.claimed_by == who,
                                                    Delivery.state == "sending").values(**values))
    db.session.commit()
    return res.rowcount == 1


def deliver(row_id: int, who: str, rnd: random.Random | None = None) -> str:
    """Send one claimed row; returns the state it ends in.

    The sender runs in a read transaction of its own: on SQLite no write lock is held while
    it talks to the outside world (an SMTP session, a Slack call, a pause for a rate limit),
    so registrations and check-ins go on meanwhile. Every write here is a short transaction.
    """
    config = current_app.config
    rendered = superseded = None
    with database.read_only():
        row = db.session.get(Delivery, row_id)
        sender = sender_for(row.kind) if row is not None else None
        if sender is not None:
            superseded = service.superseded_note(row)
        if sender is not None and superseded is None and renderers.is_deferred(row.payload):
            try:
                rendered = renderers.resolve(row)
            except renderers.RenderError as err:
                rendered = err
            except Exception as err:  # noqa: BLE001 - a broken template must not stop the worker
                log.exception("rendering a %s delivery failed", row.kind)
                rendered = TemporaryError(f"rendering: {type(err).__name__}: {err}")
    if sender is None:
        db.session.rollback()
        return "lost"
    if superseded:
        return _withdraw_claimed(row_id, who, superseded)
    if isinstance(rendered, renderers.RenderError):
        _finish(row_id, who, state="failed", last_error=str(rendered)[:2000])
        return "failed"
    late_start = bool(getattr(sender, "marks_start", False))
    # Count the attempt, and mark the start unless the sender marks it itself (only if the
    # claim is still ours). A message made from a recipe is stored as made, before it is sent:
    # the row then shows exactly what left, and a manual retry sends the same message.
    values = {"attempts": Delivery.attempts + 1}
    if isinstance(rendered, dict):
        values["payload"] = rendered
    if not late_start:
        values["send_started_at"] = now_utc()
    if not _mark(row_id, who, **values):
        return "lost"

    def point_of_no_return() -> None:
        db.session.rollback()  # read the row's cause as it is now, not as it was when the send began
        current = db.session.get(Delivery, row_id)
        note = service.superseded_note(current) if current is not None else None  # gone: the claim says so
        if note:
            raise _Superseded(note)
        if not _mark(row_id, who, send_started_at=now_utc()):
            raise ClaimLost()

    attempts, kind = 0, ""
    try:
        with database.read_only():
            row = db.session.get(Delivery, row_id)
            attempts, kind = row.attempts, row.kind
            if isinstance(rendered, TemporaryError):
                raise rendered  # nothing was sent: tried again later like a failed connection
            if late_start:
                external_id = sender.send(row, config, point_of_no_return=point_of_no_return)
            else:
                external_id = sender.send(row, config)
    except ClaimLost:
        db.session.rollback()
        return "lost"  # nothing went out; the row belongs to whoever holds it now
    except _Superseded as err:
        return _withdraw_claimed(row_id, who, err.note)  # nothing went out
    except TemporaryError as err:
        # a rate limit is not a failure: the other side said when to come back (within reason)
        asked = err.retry_after is not None and attempts < MAX_ATTEMPTS * 3
        if attempts >= MAX_ATTEMPTS and not asked:
            _finish(row_id, who, state="failed", last_error=f"{err} (試行{attempts}回で中止)"[:2000])
            return "failed"
        _finish(row_id, who, state="queued", last_error=str(err)[:2000], send_started_at=None,
                next_attempt_at=now_utc() + retry_delay(err, attempts, rnd))
        return "queued"
    except PermanentError as err:
        _finish(row_id, who, state="failed", last_error=str(err)[:2000])
        return "failed"
    except UncertainError as err:
        _finish(row_id, who, state="uncertain", last_error=str(err)[:2000])
        return "uncertain"
    except Exception as err:  # noqa: BLE001 - unknown: it may have gone out, so do not resend
        log.exception("sender for %s raised", kind)
        _finish(row_id, who, state="uncertain", last_error=f"{type(err).__name__}: {err}"[:2000])
        return "uncertain"
    _finish(row_id, who, state="sent", sent_at=now_utc(), external_id=str(external_id or "")[:200],
            last_error="")
    return "sent"


def _withdraw_claimed(row_id: int, who: str, note: str) -> str:
    """Our claimed row is not to be sent (what it was about has moved on): withdrawn, not failed."""
    _finish(row_id, who, state="failed", withdrawn_reason=SUPERSEDED, last_error=note[:2000])
    return "withdrawn"


def run_periodic(now: datetime) -> None:
    for name, job in list(_PERIODIC.items()):
        try:
            job(now)
            db.session.commit()
        except Exception:  # noqa: BLE001 - one failing job must not stop the others or the sends
            db.session.rollback()
            log.exception("periodic job %s failed", name)


def run_once(who: str | None = None, now: datetime | None = None, *, batch: int = BATCH,
             periodic: bool = True) -> dict[str, int]:
    """One pass; returns how many rows ended in each state. Needs an app context."""
    who = who or worker_id()
    now = now or now_utc()
    outcome: dict[str, int] = {}
    recover_lost(now)
    release_held(current_app.config)
    if periodic:
        run_periodic(now)
    for row_id in claim(who, now, batch):
        state = deliver(row_id, who)
        outcome[state] = outcome.get(state, 0) + 1
    return outcome


def run_forever(app: Flask, stop: threading.Event, interval: float = 2.0) -> None:
    who = worker_id()
    log.info("outbox worker %s started", who)
    while not stop.is_set():
        busy = False
        try:
            with app.app_context():
                busy = sum(run_once(who).values()) > 0
        except Exception:  # noqa: BLE001 - keep the loop alive (database restarts, etc.)
            log.exception("outbox worker pass failed")
        if not busy:
            stop.wait(interval)
    log.info("outbox worker %s stopped", who)


def start_background(app: Flask) -> Callable[[], None]:
    """Start the worker in a daemon thread; returns ``stop()``. Used by ``eventsvc serve``."""
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(app, stop), name="outbox-worker", daemon=True)
    thread.start()

    def stop_worker() -> None:
        stop.set()
        thread.join(10)

    return stop_worker
