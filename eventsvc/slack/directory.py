"""The workspace directory: who is in the Slack workspace, by e-mail address, kept locally.

A nationwide workspace has tens of thousands of members; ``users.list`` gives 200 a page at
Tier 2 (about 20 calls a minute), so reading it while an organizer waits fails on rate limits.
The outbox worker reads it instead, one page per pass (:func:`refresh_step`), honouring
``Retry-After``, and starts over every ``SLACK_DIRECTORY_MAX_AGE`` hours. Linking then looks
addresses up here (:func:`lookup`) without calling Slack.

Only what linking needs is kept: a keyed hash (HMAC-SHA256 with the app's secret key) of the
normalised address, the member id, the team and whether the account is deactivated — no names,
no addresses. Bots and apps are left out. A refresh that went through every page replaces the
previous one; members no longer listed are then dropped. A new secret key starts a new directory.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select

from ..extensions import db
from .gateway import SlackError, SlackGateway, SlackRetryable, normalize_email
from .models import DirectoryEntry, DirectoryState

log = logging.getLogger(__name__)

#: hours before a complete directory is read again
DEFAULT_MAX_AGE_HOURS = 12.0
#: seconds between two pages (Tier 2 allows about 20 calls a minute)
PAGE_INTERVAL = 3.0
#: after an error without Retry-After
ERROR_PAUSE = 60.0


def _key() -> bytes:
    return hashlib.sha256(b"eventsvc slack directory\0" + str(current_app.secret_key).encode()).digest()


def key_id() -> str:
    return hashlib.sha256(_key()).hexdigest()[:16]


def email_hash(email: str) -> str:
    return hmac.new(_key(), normalize_email(email).encode(), hashlib.sha256).hexdigest()


def state() -> DirectoryState | None:
    return db.session.get(DirectoryState, 1)


def ready(now: datetime | None = None) -> DirectoryState | None:
    """The state when a complete directory made with the current key exists (and, given
    ``now``, is not older than twice its refresh period: a worker that stopped must not leave
    a stale list in charge), else None."""
    st = state()
    if st is None or st.complete_generation is None or st.key_id != key_id():
        return None
    if now is not None and st.completed_at is not None and now - st.completed_at > 2 * _max_age(current_app.config):
        return None
    return st


def lookup(emails: Iterable[str], now: datetime | None = None) -> dict[str, DirectoryEntry | None] | None:
    """Address → its member (None: not in the workspace when last read); None when there is
    no complete (and, given ``now``, recent) directory."""
    st = ready(now)
    if st is None:
        return None
    by_hash = {email_hash(e): e for e in emails}
    found: dict[str, DirectoryEntry | None] = {e: None for e in by_hash.values()}
    hashes = list(by_hash)
    for i in range(0, len(hashes), 500):
        for entry in db.session.scalars(select(DirectoryEntry).where(
                DirectoryEntry.email_hash.in_(hashes[i:i + 500]))):
            found[by_hash[entry.email_hash]] = entry
    return found


def request_refresh(now: datetime) -> None:
    """Read the workspace again soon (a refresh under way goes on)."""
    st = state() or _new_state()
    if st.cursor is None and st.next_page_at is None:
        st.next_page_at = now


def _new_state() -> DirectoryState:
    st = DirectoryState(id=1, generation=0, key_id=key_id(), members=0, last_error="")
    db.session.add(st)
    db.session.flush()
    return st


def _max_age(config: Mapping[str, Any]) -> timedelta:
    return timedelta(hours=float(config.get("SLACK_DIRECTORY_MAX_AGE", DEFAULT_MAX_AGE_HOURS)))


def refresh_step(gw: SlackGateway, config: Mapping[str, Any], now: datetime) -> str:
    """Read at most one page of ``users.list`` when one is due; returns what happened
    (``idle``, ``waiting``, ``page``, ``complete``, ``error``). The caller commits.

    No transaction is open while Slack is asked (on SQLite nobody waits for the page).
    """
    st = state() or _new_state()
    if st.key_id != key_id():  # a new secret key: hashes made with the old one are useless
        db.session.execute(delete(DirectoryEntry))
        st.key_id, st.complete_generation, st.cursor, st.started_at, st.next_page_at = key_id(), None, None, None, now
    running = st.started_at is not None and st.cursor is not None
    due_again = st.completed_at is None or now - st.completed_at >= _max_age(config)
    if not running and not due_again and (st.next_page_at is None or st.next_page_at > now):
        return "idle"
    if st.next_page_at is not None and st.next_page_at > now:
        return "waiting"
    if not running:  # a new pass from the first page
        st.generation += 1
        st.started_at, st.cursor, st.members = now, None, 0
    generation, cursor = st.generation, st.cursor
    db.session.commit()  # ends the transaction: nothing is locked while Slack answers
    try:
        users, next_cursor = gw.users_page(cursor)
    except SlackError as err:
        st = state()
        wait = err.retry_after if isinstance(err, SlackRetryable) and err.retry_after else ERROR_PAUSE
        st.next_page_at = now + timedelta(seconds=max(wait, PAGE_INTERVAL))
        st.last_error = str(err.error)[:200]
        log.info("slack directory: page failed (%s), next try in %.0f s", err.error, wait)
        return "error"
    st = db.session.get(DirectoryState, 1, with_for_update=True)  # one worker stores a page
    if st.generation != generation or st.cursor != cursor:
        return "page"  # another worker read this page meanwhile
    people = [u for u in users if not u.is_bot]
    if people and not any(u.email for u in people):
        # without users:read.email Slack leaves the addresses out: an empty list would say
        # "nobody is in the workspace" — stop instead, and say why on the settings page
        st.next_page_at, st.last_error = now + timedelta(hours=1), "missing_scope: users:read.email"
        st.cursor, st.started_at = None, None
        return "error"
    _store(users, generation)
    st.members += sum(1 for u in users if u.email and not u.is_bot)
    st.cursor, st.last_error = next_cursor, ""
    st.next_page_at = now + timedelta(seconds=PAGE_INTERVAL)
    if next_cursor is None:
        db.session.execute(delete(DirectoryEntry).where(DirectoryEntry.generation < generation))
        st.complete_generation, st.completed_at, st.started_at, st.next_page_at = generation, now, None, None
        db.session.flush()
        return "complete"
    db.session.flush()
    return "page"


def _store(users, generation: int) -> None:
    """Upsert the page's members (one query for those already known)."""
    wanted: dict[str, Any] = {}
    for user in users:
        if user.is_bot or not user.email:
            continue
        h = email_hash(user.email)
        seen = wanted.get(h)
        if seen is None or (seen.deleted and not user.deleted):  # an active account wins
            wanted[h] = user
    known = {e.email_hash: e for e in db.session.scalars(
        select(DirectoryEntry).where(DirectoryEntry.email_hash.in_(list(wanted))))} if wanted else {}
    for h, user in wanted.items():
        entry = known.get(h)
        if entry is None:
            entry = DirectoryEntry(email_hash=h)
            db.session.add(entry)
        elif entry.generation == generation and not entry.deleted and user.deleted:
            continue  # already seen active in this pass (on an earlier page)
        entry.user_id, entry.team_id, entry.deleted = user.id, user.team_id or "", user.deleted
        entry.generation = generation
