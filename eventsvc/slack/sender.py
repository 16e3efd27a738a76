"""The outbox sender for ``slack.*`` deliveries: post exactly once, paced, and find out.

The outbox worker (which knows no Slack) hands us one claimed delivery at a time.

Posting (``slack.announcement`` / ``reminder`` / ``report`` / ``report_teams`` / ``survey_dm``):

* every post carries ``metadata`` naming the delivery (ids only: metadata is visible to the
  workspace), so whether it landed can be checked in ``conversations.history``;
* if an earlier attempt of this delivery may have reached Slack (it is not the first
  attempt, or a person pressed "retry" on an uncertain one), look first and never post twice;
* wait for the channel's slot (:mod:`eventsvc.slack.pacing`: ~1 post/s per channel, plus the
  workspace rate ``SLACK_POST_RATE_PER_MINUTE``); a 429 blocks the workspace for
  ``Retry-After`` seconds and is retried inline when that is short;
* 500/503 after sending: look, then retry with backoff; a timeout, a dropped connection,
  502/504 or ``fatal_error``: look (after ``SLACK_RECONCILE_GRACE`` s) — found → sent;
  not found → ``uncertain``, and :func:`reconcile` (a periodic job of the worker) looks
  again after ``SLACK_RECONCILE_AFTER`` s and only then queues it again;
* ``not_in_channel`` → ``conversations.join`` (public channels) and post;
* a thread reply waits until its parent (the report) is sent and replies under its ``ts``.

``slack.update`` edits a sent post with ``chat.update`` (corrections); ``slack.invite`` calls
``conversations.invite`` in chunks of ≤ 100 (inviting twice is harmless).
The external id stored is ``channel:ts`` (the ``D…`` channel for a DM).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from .. import database
from ..extensions import db
from ..outbox.models import Delivery
from ..outbox.senders import PermanentError, TemporaryError, UncertainError, register_sender
from ..outbox.worker import register_periodic
from . import directory, service
from .gateway import (
    PostRef,
    SlackConfigError,
    SlackError,
    SlackGateway,
    SlackPermanent,
    SlackRetryable,
    SlackUncertain,
    outbox_metadata,
)
from .pacing import Pacer

log = logging.getLogger(__name__)

#: Retry-After up to this long is waited for inside one send; longer → the worker retries later
MAX_INLINE_WAIT = 10.0
#: tries inside one send for 429 / 500 / 503 (each after a check that nothing landed)
INLINE_TRIES = 4
SERVER_ERROR_BACKOFF = (0.5, 1.0, 2.0)
DEFAULT_POST_RATE_PER_MINUTE = 300.0
#: look in the history from a bit before the delivery was created (clock skew)
HISTORY_MARGIN = timedelta(minutes=2)


class SlackTemporary(TemporaryError):
    """Not sent; try later. ``retry_after`` says when Slack wants us back (None: backoff)."""


# ------------------------------------------------------------------ pacing (per process)
_pacers: dict[tuple, Pacer] = {}
_pacers_lock = threading.Lock()


def post_rate(config: Mapping[str, Any]) -> float | None:
    """Posts per minute for the whole workspace: ``SLACK_POST_RATE_PER_MINUTE`` (config, or
    the ``EVENTSVC_SLACK_POST_RATE_PER_MINUTE`` environment variable); ``None``/0 = pace per
    channel only and rely on Retry-After. Slack does not publish this limit ("several hundred
    a minute" is what people observe); the default stays below that."""
    if "SLACK_POST_RATE_PER_MINUTE" in config:
        rate = config["SLACK_POST_RATE_PER_MINUTE"]
    else:
        rate = os.environ.get("EVENTSVC_SLACK_POST_RATE_PER_MINUTE", DEFAULT_POST_RATE_PER_MINUTE)
    try:
        value = float(rate) if rate not in (None, "") else 0.0
    except (TypeError, ValueError):
        value = DEFAULT_POST_RATE_PER_MINUTE
    return value if value > 0 else None


def pacer_for(config: Mapping[str, Any]) -> Pacer:
    """The process-wide pacer for these settings (shared by every worker thread)."""
    rate = post_rate(config)
    interval = float(config.get("SLACK_CHANNEL_INTERVAL", 1.0))
    key = (config.get("SLACK_API_URL"), rate, interval)
    with _pacers_lock:
        pacer = _pacers.get(key)
        if pacer is None:
            pacer = _pacers[key] = Pacer(per_channel_interval=interval, workspace_per_minute=rate)
        return pacer


def reset_pacers() -> None:
    """Forget pacing state (tests and benchmarks that start a fresh fake)."""
    with _pacers_lock:
        _pacers.clear()


# ------------------------------------------------------------------ the sender
def _ref(ref: PostRef) -> str:
    return f"{ref.channel}:{ref.ts}"


def _oldest(delivery: Delivery) -> float:
    start = delivery.created_at
    not_before = (delivery.payload or {}).get("not_before")
    if not_before:
        with contextlib.suppress(ValueError):
            start = max(start, datetime.fromisoformat(not_before))
    return (start - HISTORY_MARGIN).timestamp()


class SlackSender:
    """Registered for the ``slack.`` prefix; see the module docstring."""

    def __init__(self, gateway_factory=None, sleep=time.sleep):
        #: ``factory(config) -> SlackGateway`` (tests may substitute one)
        self.gateway_factory = gateway_factory or (lambda config: service.gateway(config, post_rate_limit_retries=0))
        self.sleep = sleep

    def unavailable(self, config: Mapping[str, Any]) -> str | None:
        return service.not_configured_reason(config)

    def send(self, delivery: Delivery, config: Mapping[str, Any]) -> str:
        gw = self.gateway_factory(config)
        try:
            if delivery.kind == service.INVITE_KIND:
                return self._invite(gw, delivery)
            if delivery.kind == service.UPDATE_KIND:
                return self._update(gw, delivery, config)
            if delivery.kind in service.POST_KINDS:
                return self._post(gw, delivery, config)
        except SlackConfigError as err:
            raise PermanentError(f"Slackの設定を確認してください（{err.error}）") from err
        raise PermanentError(f"未対応の種類です: {delivery.kind}")

    # ---------------------------------------------------------------- posts
    def _where(self, delivery: Delivery) -> tuple[str, str | None]:
        """Channel (or user id) and thread ts for ``delivery``."""
        payload = delivery.payload or {}
        parent_id = payload.get("thread_of")
        if not parent_id:
            return delivery.target, None
        parent = db.session.get(Delivery, parent_id)
        if parent is None or parent.state in ("failed",):
            raise PermanentError("スレッドの親投稿（開催報告）が送信されていません")
        if parent.state != "sent" or ":" not in (parent.external_id or ""):
            raise SlackTemporary("スレッドの親投稿（開催報告）の送信を待っています", retry_after=5)
        channel, _, ts = parent.external_id.partition(":")
        return channel, ts

    def _find(self, gw: SlackGateway, delivery: Delivery, channel: str, thread_ts: str | None) -> PostRef | None:
        """The post of ``delivery`` if it is in Slack; UncertainError if we cannot tell."""
        try:
            return gw.find_post_by_metadata(channel, delivery.id, _oldest(delivery), thread_ts)
        except SlackError as err:
            raise UncertainError(
                f"投稿されたか確認できません（{err.error}）。Slackで確かめてから再送してください") from err

    def _post(self, gw: SlackGateway, delivery: Delivery, config: Mapping[str, Any]) -> str:
        payload = delivery.payload or {}
        text, blocks = payload.get("text") or "", payload.get("blocks")
        channel, thread_ts = self._where(delivery)
        if (delivery.attempts or 0) > 1:  # an earlier attempt may have landed
            found = self._find(gw, delivery, channel, thread_ts)
            if found is not None:
                return _ref(found)
        pacer = pacer_for(config)
        joined = False
        last: SlackError | None = None
        for attempt in range(INLINE_TRIES):
            blocked = pacer.blocked_for(channel)
            if blocked > MAX_INLINE_WAIT:
                raise SlackTemporary(f"Slackの送信制限中（{blocked:.0f}秒後に再開）", retry_after=blocked)
            pacer.wait(channel)
            try:
                ref = gw.post_message(channel, text, blocks, thread_ts, metadata=outbox_metadata(delivery.id))
                return _ref(ref)
            except SlackRetryable as err:
                last = err
                if err.retry_after is not None or err.error == "ratelimited":
                    wait = err.retry_after if err.retry_after is not None else 1.0
                    pacer.block(None, wait)  # the workspace waits, not only this channel
                    if wait > MAX_INLINE_WAIT:
                        raise SlackTemporary(f"Slackの送信制限（{wait:.0f}秒待ち）", retry_after=wait) from err
                    continue
                if err.may_have_applied:  # 500/503 after sending: did it land?
                    found = self._find(gw, delivery, channel, thread_ts)
                    if found is not None:
                        return _ref(found)
                if attempt < INLINE_TRIES - 1:
                    self.sleep(SERVER_ERROR_BACKOFF[min(attempt, len(SERVER_ERROR_BACKOFF) - 1)]
                               * (0.5 + random.random()))
                    continue
                raise SlackTemporary(f"Slackが一時的に使えません（{err.error}）") from err
            except SlackUncertain as err:
                grace = float(config.get("SLACK_RECONCILE_GRACE", 2.0))
                if grace > 0:
                    self.sleep(grace)
                found = self._find(gw, delivery, channel, thread_ts)
                if found is not None:
                    return _ref(found)
                raise UncertainError(
                    f"応答がなく、投稿されたか不明です（{err.error}）。"
                    "自動で確認し、投稿されていなければ送り直します") from err
            except SlackConfigError:
                raise
            except SlackPermanent as err:
                if err.error == "not_in_channel" and not joined and channel.startswith("C"):
                    joined = True
                    try:
                        gw.join_channel(channel)
                    except SlackError as join_err:
                        raise PermanentError(
                            f"ボットがチャンネルに参加していません（{join_err.error}）。"
                            "チャンネルにアプリを追加してください") from join_err
                    continue
                raise PermanentError(_permanent_message(err)) from err
        raise SlackTemporary(f"Slackが一時的に使えません（{last.error if last else 'unknown'}）")

    # ---------------------------------------------------------------- corrections
    def _update(self, gw: SlackGateway, delivery: Delivery, config: Mapping[str, Any]) -> str:
        payload = delivery.payload or {}
        channel, ts = payload.get("channel"), payload.get("ts")
        if not channel or not ts:
            original = db.session.get(Delivery, payload.get("update_of"))
            if original is None or ":" not in (original.external_id or ""):
                raise PermanentError("訂正する元の投稿が見つかりません")
            channel, _, ts = original.external_id.partition(":")
        pacer_for(config).wait(channel)
        try:
            ref = gw.update_message(channel, ts, payload.get("text") or "", payload.get("blocks"))
        except SlackRetryable as err:  # chat.update is idempotent: simply try later
            raise SlackTemporary(f"Slackが一時的に使えません（{err.error}）", retry_after=err.retry_after) from err
        except SlackUncertain as err:
            raise SlackTemporary(f"Slackが一時的に使えません（{err.error}）") from err
        except SlackConfigError:
            raise
        except SlackPermanent as err:
            raise PermanentError(_permanent_message(err)) from err
        return _ref(ref)

    # ---------------------------------------------------------------- invitations
    def _invite(self, gw: SlackGateway, delivery: Delivery) -> str:
        users = list((delivery.payload or {}).get("users") or [])
        try:
            result = gw.invite(delivery.target, users)
        except (SlackRetryable, SlackUncertain) as err:  # inviting again is harmless
            raise SlackTemporary(f"Slackが一時的に使えません（{err.error}）",
                                 retry_after=getattr(err, "retry_after", None)) from err
        except SlackConfigError:
            raise
        except SlackPermanent as err:
            raise PermanentError(_permanent_message(err)) from err
        done = len(result.invited) + len(result.already_in_channel)
        if users and done == 0:
            first = next(iter(result.failed.values()), "unknown")
            raise PermanentError(f"誰も招待できませんでした（{first}）")
        summary = f"invited:{len(result.invited)} already:{len(result.already_in_channel)} failed:{len(result.failed)}"
        if result.failed:
            log.warning("slack invite %s: %s", delivery.id, dict(result.failed))
        return summary


PERMANENT_MESSAGES = {
    "channel_not_found": "チャンネルが見つかりません（削除されたか、ボットが参加していない非公開チャンネル）",
    "is_archived": "チャンネルはアーカイブされています",
    "user_disabled": "相手のSlackアカウントは無効化されています",
    "user_not_found": "相手のSlackアカウントが見つかりません",
    "invalid_blocks": "メッセージの形式がSlackに受け付けられませんでした",
    "msg_blocks_too_long": "メッセージが長すぎます",
    "message_not_found": "訂正する元の投稿が見つかりません（削除された可能性があります）",
    "cant_update_message": "この投稿は訂正できません",
}


def _permanent_message(err: SlackError) -> str:
    return f"{PERMANENT_MESSAGES.get(err.error, 'Slackに拒否されました')}（{err.error}）"


# ------------------------------------------------------------------ reconcile (periodic)
def reconcile(now: datetime, *, config: Mapping[str, Any] | None = None, gw: SlackGateway | None = None,
              limit: int = 50) -> dict[str, int]:
    """Settle ``uncertain`` Slack posts: after ``SLACK_RECONCILE_AFTER`` seconds, look in the
    channel; found → ``sent`` (with its ``channel:ts``), not found → ``queued`` again (the send
    looks once more before posting). A failing lookup leaves the row for a person."""
    from flask import current_app

    config = config if config is not None else current_app.config
    out = {"sent": 0, "queued": 0}
    if not service.configured(config):
        return out
    after = timedelta(seconds=float(config.get("SLACK_RECONCILE_AFTER", 60)))
    sender = SlackSender()
    # 1. what to look for, read without taking SQLite's write lock
    todo: list[tuple[int, tuple[str, str | None, float] | Exception]] = []
    with database.read_only():
        rows = db.session.scalars(
            select(Delivery).where(Delivery.state == "uncertain", Delivery.kind.in_(service.POST_KINDS))
            .order_by(Delivery.id).limit(limit)).all()
        for row in rows:
            started = row.send_started_at or row.created_at
            # an uncertain row is never claimed, so next_attempt_at is free to say when to look again
            if now - started < after or (row.next_attempt_at is not None and row.next_attempt_at > now):
                continue
            try:
                channel, thread_ts = sender._where(row)
                todo.append((row.id, (channel, thread_ts, _oldest(row))))
            except (SlackError, TemporaryError, PermanentError) as err:
                todo.append((row.id, err))
    db.session.rollback()  # no transaction stays open while Slack is asked
    if not todo:
        return out
    # 2. look in the channels (nothing locked meanwhile)
    gw = gw or service.gateway(config)
    found: dict[int, PostRef | None | Exception] = {}
    for row_id, where in todo:
        if isinstance(where, Exception):
            found[row_id] = where
            continue
        try:
            found[row_id] = gw.find_post_by_metadata(where[0], row_id, where[2], where[1])
        except (SlackError, TemporaryError, PermanentError) as err:
            found[row_id] = err
    # 3. record what was seen, for the rows still uncertain
    for row_id, seen in found.items():
        row = db.session.get(Delivery, row_id)
        if row is None or row.state != "uncertain":
            continue
        if isinstance(seen, Exception):
            log.info("slack reconcile %s: cannot look yet (%s)", row_id, seen)
            row.next_attempt_at = now + after
            row.last_error = f"投稿されたか確認できません（{getattr(seen, 'error', seen)}）。{int(after.total_seconds())}秒後にもう一度確認します"
        elif seen is not None:
            row.state, row.external_id, row.sent_at = "sent", _ref(seen), now
            row.last_error = "応答はありませんでしたが、Slackで投稿を確認しました"
            out["sent"] += 1
        else:
            row.state, row.next_attempt_at, row.send_started_at = "queued", now, None
            row.claimed_by, row.claimed_until = "", None
            row.last_error = "Slackに投稿が見つからないため、送り直します"
            out["queued"] += 1
    db.session.flush()
    return out


def _periodic(now: datetime) -> None:
    reconcile(now)


def _read_directory(now: datetime) -> None:
    """A page of the workspace directory when one is due (see :mod:`eventsvc.slack.directory`)."""
    from flask import current_app

    config = current_app.config
    if service.configured(config):
        directory.refresh_step(service.gateway(config), config, now)


SENDER = SlackSender()
register_sender("slack.", SENDER)
register_periodic("slack.reconcile", _periodic)
register_periodic("slack.directory", _read_directory)
