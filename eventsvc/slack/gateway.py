"""The Slack Web API calls eventsvc makes, behind a small protocol, with failures classified.

:class:`SlackGateway` is what services and the outbox worker depend on; :class:`SdkGateway`
implements it with the official ``slack_sdk.WebClient`` (tests point ``base_url`` at the fake
in ``tests/fakeslack``). No Flask here: the app builds one from its configuration.

Every failure becomes one of three exception families the outbox can act on:

* :class:`SlackRetryable` — try again later (``retry_after`` seconds if Slack said so): HTTP 429,
  500/503, connection refused, and timeouts of *reads*. ``may_have_applied`` is True when the
  call was a post that reached Slack (a 500/503 after sending) — reconcile with
  :meth:`SlackGateway.find_post_by_metadata` before posting again.
* :class:`SlackUncertain` — a post was sent but no answer came back (read timeout, dropped
  connection, 502/504, HTTP 200 ``fatal_error``/``internal_error``): it may or may not be in
  the channel. Never re-post blindly: mark the delivery ``uncertain`` and reconcile.
* :class:`SlackPermanent` — retrying will not help (``channel_not_found``, ``is_archived``,
  ``invalid_blocks`` …); :class:`SlackConfigError` is the subset that means our token,
  scopes or client credentials are wrong (hold deliveries, tell the organizer).

Posts use a client whose only retry handler is for 429 (bounded by ``max_inline_wait``):
slack_sdk's default ``ConnectionErrorRetryHandler`` re-sends after a dropped connection and
duplicates a post Slack already stored (SLACK.md §2). Reads and idempotent writes (update,
join, invite, open) may also retry 5xx and connection errors.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.client import HTTPException
from ipaddress import ip_address
from socket import gaierror
from typing import Any, NamedTuple, Protocol, TypeVar
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryIntervalCalculator,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.web import SlackResponse

log = logging.getLogger(__name__)

#: ``metadata.event_type`` of every post the outbox makes (workspace-visible: ids only).
OUTBOX_EVENT_TYPE = "eventsvc_outbox"
INVITE_CHUNK = 100
SLACKBOT_ID = "USLACKBOT"

#: Our token/scopes/credentials are wrong: nothing will work until configuration changes.
CONFIG_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "not_allowed_token_type",
        "no_permission",
        "ekm_access_denied",
        "invalid_client_id",
        "bad_client_secret",
        "not_configured",
    }
)
#: HTTP 200 errors after which the operation may have happened anyway.
MAYBE_APPLIED_ERRORS = frozenset({"fatal_error", "internal_error"})
#: HTTP 200 errors that mean "not done, try later".
TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "request_timeout",  # Slack got a truncated body: nothing was done
        "service_unavailable",
        "team_added_to_org",
        "org_login_required",
        "connection_failed",
    }
)
#: Per-user errors of ``conversations.invite``.
INVITE_USER_ERRORS = frozenset(
    {
        "already_in_channel",
        "user_not_found",
        "cant_invite_self",
        "cant_invite",
        "user_is_deleted",
        "user_is_restricted",
        "user_is_ultra_restricted",
    }
)


# --------------------------------------------------------------------------------- errors
class SlackError(Exception):
    """A failed Slack call. ``error`` is Slack's code (or ``http_502``, ``timeout`` …)."""

    def __init__(
        self,
        error: str,
        *,
        method: str = "",
        status: int | None = None,
        response: Mapping[str, Any] | None = None,
    ):
        super().__init__(f"{method}: {error}" if method else error)
        self.error = error
        self.method = method
        self.status = status
        #: Slack's JSON body when there was one (``errors[]`` of invalid_blocks, ``needed`` …).
        self.response: Mapping[str, Any] = response or {}


class SlackRetryable(SlackError):
    """Not done (or, for a post with ``may_have_applied``, maybe done): try again later."""

    def __init__(self, error: str, *, retry_after: float | None = None,
                 may_have_applied: bool = False, **kwargs: Any):  # fmt: skip
        super().__init__(error, **kwargs)
        self.retry_after = retry_after
        self.may_have_applied = may_have_applied


class SlackUncertain(SlackError):
    """A post was sent and no reliable answer came back: it may be in the channel."""


class SlackPermanent(SlackError):
    """Slack refused; the same call will fail again."""


class SlackConfigError(SlackPermanent):
    """Token, scopes or OAuth client credentials are wrong or missing."""


# --------------------------------------------------------------------------------- data
class PostRef(NamedTuple):
    """Where a message is: unpack as ``channel, ts = gateway.post_message(...)``."""

    channel: str
    ts: str


@dataclass(frozen=True)
class AuthInfo:
    team_id: str
    team: str
    url: str
    user_id: str
    bot_id: str | None
    scopes: frozenset[str] | None  # from X-OAuth-Scopes; None if Slack did not send it


@dataclass(frozen=True)
class SlackChannel:
    id: str
    name: str
    is_private: bool
    is_archived: bool
    is_member: bool
    num_members: int | None


@dataclass(frozen=True)
class SlackUser:
    id: str
    name: str
    real_name: str
    display_name: str
    email: str | None  # normalised (NFKC, trimmed, lower-case); None without users:read.email
    deleted: bool
    is_bot: bool
    tz: str | None
    team_id: str | None = None


@dataclass(frozen=True)
class InviteResult:
    invited: tuple[str, ...] = ()
    already_in_channel: tuple[str, ...] = ()
    failed: Mapping[str, str] = field(default_factory=dict)  # user id → Slack error


@dataclass(frozen=True)
class OidcTokens:
    access_token: str
    id_token: str | None
    token_type: str


@dataclass(frozen=True)
class OidcUserInfo:
    """Identity from ``openid.connect.userInfo`` — trust this, not the unverified id_token."""

    user_id: str
    team_id: str
    email: str | None  # normalised
    email_verified: bool
    name: str
    locale: str | None
    raw: Mapping[str, Any]


def normalize_email(email: str) -> str:
    """The same normalisation as registrations: NFKC, trimmed, lower-case."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def outbox_metadata(outbox_id: object) -> dict[str, Any]:
    """``metadata`` for a post from outbox row ``outbox_id`` (visible to the workspace:
    carry the id only, never personal data)."""
    return {"event_type": OUTBOX_EVENT_TYPE, "event_payload": {"outbox_id": str(outbox_id)}}


# --------------------------------------------------------------------------------- protocol
class SlackGateway(Protocol):
    """The Slack calls eventsvc needs; every method raises only :class:`SlackError` kinds."""

    def auth_test(self) -> AuthInfo: ...

    def list_channels(
        self, *, types: str = "public_channel,private_channel", exclude_archived: bool = True
    ) -> list[SlackChannel]: ...

    def list_users(self, *, include_deleted: bool = False) -> dict[str, SlackUser]:
        """E-mail (normalised) → user, for humans with an e-mail (no bots, apps, Slackbot);
        deactivated users only with ``include_deleted`` (an active one wins a tie)."""
        ...

    def lookup_by_email(self, email: str) -> SlackUser | None: ...

    def users_page(self, cursor: str | None = None) -> tuple[list[SlackUser], str | None]:
        """One page of ``users.list`` (everyone, bots and deactivated members included) and
        the cursor of the next page (None after the last)."""
        ...

    def user_info(self, user_id: str) -> SlackUser | None: ...

    def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> str: ...

    def post_message(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None,
        thread_ts: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> PostRef: ...

    def schedule_message(
        self, channel: str, post_at: int, text: str, blocks: Sequence[Mapping[str, Any]] | None
    ) -> str: ...

    def update_message(
        self, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]] | None
    ) -> PostRef: ...

    def delete_message(self, channel: str, ts: str) -> None: ...

    def get_permalink(self, channel: str, ts: str) -> str: ...

    def join_channel(self, channel: str) -> None: ...

    def open_dm(self, user_id: str) -> str: ...

    def invite(self, channel: str, user_ids: Sequence[str]) -> InviteResult: ...

    def find_posts_by_metadata(
        self, channel: str, outbox_id: object, oldest: float | str, thread_ts: str | None = None
    ) -> list[PostRef]: ...

    def find_post_by_metadata(
        self, channel: str, outbox_id: object, oldest: float | str, thread_ts: str | None = None
    ) -> PostRef | None: ...

    def oidc_token_exchange(self, code: str, redirect_uri: str | None) -> OidcTokens: ...

    def oidc_userinfo(self, access_token: str) -> OidcUserInfo: ...


# --------------------------------------------------------------------------------- the SDK
class _BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Sleeps through a 429 only if Slack asks for ≤ ``max_wait`` seconds; longer waits
    surface as :class:`SlackRetryable` so the worker can schedule instead of blocking."""

    def __init__(self, max_retry_count: int, max_wait: float):
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response.headers)
        return wait is not None and wait <= self.max_wait


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            if isinstance(value, (list, tuple)):
                value = value[0] if value else None
            return None if value is None else str(value)
    return None


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    value = _header(headers, "retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


T = TypeVar("T")


class SdkGateway:
    """:class:`SlackGateway` over ``slack_sdk.WebClient``.

    ``token`` is the bot token (``xoxb-``); ``client_id``/``client_secret`` are only needed
    for Sign in with Slack. ``base_url`` points elsewhere than slack.com (the fake in tests).
    ``post_rate_limit_retries`` (default: ``rate_limit_retries``) bounds the 429 retries of
    posts; 0 surfaces every 429 as :class:`SlackRetryable` for a caller that paces itself.
    """

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str | None = None,
        timeout: int = 10,
        client_id: str | None = None,
        client_secret: str | None = None,
        rate_limit_retries: int = 2,
        max_inline_wait: float = 5.0,
        server_error_retries: int = 2,
        connection_retries: int = 2,
        retry_interval: RetryIntervalCalculator | None = None,
        page_limit: int = 200,
        max_pages: int = 500,
        post_rate_limit_retries: int | None = None,
    ):
        self.base_url = base_url or "https://slack.com/api/"
        self.timeout = timeout
        self.client_id = client_id
        self.client_secret = client_secret
        self.page_limit = page_limit
        self.max_pages = max_pages
        self._token = token
        # slack_sdk counts attempts across all handlers of a client: each max_retry_count is
        # a cap on the total number of retries at which that handler still applies.
        rate = _BoundedRateLimitRetryHandler(rate_limit_retries, max_inline_wait)
        backoff = {"interval_calculator": retry_interval} if retry_interval else {}
        self._read_handlers: list[RetryHandler] = [
            rate,
            ServerErrorRetryHandler(max_retry_count=server_error_retries, **backoff),
            ConnectionErrorRetryHandler(max_retry_count=connection_retries, **backoff),
        ]
        if post_rate_limit_retries is None:
            post_rate: list[RetryHandler] = [rate]
        elif post_rate_limit_retries > 0:
            post_rate = [_BoundedRateLimitRetryHandler(post_rate_limit_retries, max_inline_wait)]
        else:  # the caller paces and honours Retry-After itself
            post_rate = []
        self._post_handlers: list[RetryHandler] = post_rate
        #: Reads and idempotent writes: retries 429, 500/503 and connection errors.
        self.reader = self._client(token, self._read_handlers)
        #: Posts: retries 429 only (never re-sends after a dropped connection).
        self.poster = self._client(token, self._post_handlers)

    def _client(self, token: str | None, handlers: list[RetryHandler]) -> WebClient:
        client = WebClient(
            token=token, base_url=self.base_url, timeout=self.timeout, retry_handlers=handlers
        )
        if _is_loopback(self.base_url):
            # slack_sdk reads HTTPS_PROXY/HTTP_PROXY itself and applies it to http:// URLs
            # too; loopback traffic must not go to a proxy. Without it, urllib's own rules
            # apply (http_proxy for http://, minus NO_PROXY).
            client.proxy = None
        return client

    # ------------------------------------------------------------------ error mapping
    def _call(self, method: str, kind: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` and map failures; ``kind`` is "read", "write" (idempotent) or "post"."""
        if self._token is None and kind != "oidc":
            raise SlackConfigError("not_configured", method=method)
        post = kind == "post"
        try:
            return fn()
        except SlackApiError as e:
            raise self._classify(e, method, post) from e
        except URLError as e:  # raised while connecting/sending
            reason = e.reason
            if isinstance(reason, (ConnectionRefusedError, gaierror, TimeoutError)) or not post:
                raise SlackRetryable("connection_failed", method=method) from e
            raise SlackUncertain("connection_error", method=method) from e
        except TimeoutError as e:  # sent; no answer in time
            if post:
                raise SlackUncertain("timeout", method=method) from e
            raise SlackRetryable("timeout", method=method) from e
        except (ConnectionError, HTTPException, OSError) as e:  # sent; connection lost
            if post:
                raise SlackUncertain("connection_lost", method=method) from e
            raise SlackRetryable("connection_lost", method=method) from e
        except SlackClientError as e:
            raise SlackPermanent("client_error", method=method) from e

    @staticmethod
    def _classify(e: SlackApiError, method: str, post: bool) -> SlackError:
        response = e.response
        status = response.status_code
        data = response.data if isinstance(response.data, dict) else {}
        error = data.get("error") if status == 200 else None
        common = {"method": method, "status": status, "response": data}
        if status == 429 or error in ("ratelimited", "rate_limited"):
            return SlackRetryable(
                "ratelimited", retry_after=_retry_after(response.headers), **common
            )
        if status in (500, 503):
            return SlackRetryable(f"http_{status}", may_have_applied=post, **common)
        if status >= 500 or status == 408:
            cls = SlackUncertain if post else SlackRetryable
            return cls(f"http_{status}", **common)
        if status != 200:
            return SlackPermanent(f"http_{status}", **common)
        error = error or "unknown_error"
        if error in CONFIG_ERRORS:
            return SlackConfigError(error, **common)
        if error in MAYBE_APPLIED_ERRORS:
            return SlackUncertain(error, **common) if post else SlackRetryable(error, **common)
        if error in TRANSIENT_ERRORS:
            return SlackRetryable(error, **common)
        return SlackPermanent(error, **common)

    def _pages(
        self, method: str, fn: Callable[..., SlackResponse], **params: Any
    ) -> Iterator[dict]:
        """Cursor pagination, bounded by ``max_pages`` and a repeated cursor."""
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(self.max_pages):
            kwargs = dict(params, cursor=cursor) if cursor else params
            page = self._call(method, "read", lambda kw=kwargs: fn(**kw))
            yield page.data  # type: ignore[misc]
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return
            if cursor in seen:
                raise SlackRetryable("pagination_loop", method=method)
            seen.add(cursor)
        raise SlackPermanent("too_many_pages", method=method)

    # ------------------------------------------------------------------ identity
    def auth_test(self) -> AuthInfo:
        resp = self._call("auth.test", "read", self.reader.auth_test)
        scopes = _header(resp.headers, "x-oauth-scopes")
        return AuthInfo(
            team_id=resp["team_id"],
            team=resp.get("team", ""),
            url=resp.get("url", ""),
            user_id=resp["user_id"],
            bot_id=resp.get("bot_id"),
            scopes=frozenset(s.strip() for s in scopes.split(",") if s.strip())
            if scopes is not None
            else None,
        )

    # ------------------------------------------------------------------ directory
    def list_channels(
        self, *, types: str = "public_channel,private_channel", exclude_archived: bool = True
    ) -> list[SlackChannel]:
        out = []
        for page in self._pages(
            "conversations.list",
            self.reader.conversations_list,
            types=types,
            exclude_archived=exclude_archived,
            limit=self.page_limit,
        ):
            for ch in page.get("channels", []):
                out.append(
                    SlackChannel(
                        id=ch["id"],
                        name=ch.get("name", ""),
                        is_private=bool(ch.get("is_private")),
                        is_archived=bool(ch.get("is_archived")),
                        is_member=bool(ch.get("is_member")),
                        num_members=ch.get("num_members"),
                    )
                )
        return out

    @staticmethod
    def _user(data: Mapping[str, Any]) -> SlackUser:
        profile = data.get("profile") or {}
        email = profile.get("email")
        return SlackUser(
            id=data["id"],
            name=data.get("name", ""),
            real_name=data.get("real_name") or profile.get("real_name") or "",
            display_name=profile.get("display_name") or "",
            email=normalize_email(email) if email else None,
            deleted=bool(data.get("deleted")),
            is_bot=bool(data.get("is_bot") or data.get("is_app_user")) or data["id"] == SLACKBOT_ID,
            tz=data.get("tz"),
            team_id=data.get("team_id"),
        )

    def list_users(self, *, include_deleted: bool = False) -> dict[str, SlackUser]:
        found: dict[str, SlackUser] = {}
        for page in self._pages("users.list", self.reader.users_list, limit=self.page_limit):
            for member in page.get("members", []):
                user = self._user(member)
                if user.is_bot or not user.email or (user.deleted and not include_deleted):
                    continue
                current = found.get(user.email)
                if current is None or (current.deleted and not user.deleted):
                    found[user.email] = user
        return found

    def users_page(self, cursor: str | None = None) -> tuple[list[SlackUser], str | None]:
        params: dict[str, Any] = {"limit": self.page_limit}
        if cursor:
            params["cursor"] = cursor
        page = self._call("users.list", "read", lambda: self.reader.users_list(**params))
        users = [self._user(m) for m in page.get("members", []) if isinstance(m, dict) and m.get("id")]
        return users, (page.get("response_metadata") or {}).get("next_cursor") or None

    def lookup_by_email(self, email: str) -> SlackUser | None:
        address = normalize_email(email)
        try:
            resp = self._call(
                "users.lookupByEmail",
                "read",
                lambda: self.reader.users_lookupByEmail(email=address),
            )
        except SlackPermanent as e:
            if e.error == "users_not_found":
                return None
            raise
        user = self._user(resp["user"])
        return None if user.is_bot or user.deleted else user

    def user_info(self, user_id: str) -> SlackUser | None:
        try:
            resp = self._call("users.info", "read", lambda: self.reader.users_info(user=user_id))
        except SlackPermanent as e:
            if e.error == "user_not_found":
                return None
            raise
        return self._user(resp["user"])

    # ------------------------------------------------------------------ modals
    def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> str:
        """``views.open``: show a modal to the user who clicked (a trigger lives 3 s and opens
        one view, so it is never re-sent). Returns the view id."""
        resp = self._call(
            "views.open", "post", lambda: self.poster.views_open(trigger_id=trigger_id, view=dict(view))
        )
        return str((resp.get("view") or {}).get("id") or "")

    # ------------------------------------------------------------------ messages
    def post_message(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None,
        thread_ts: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> PostRef:
        if not text:
            raise ValueError("text (the plain fallback) is required")
        resp = self._call(
            "chat.postMessage",
            "post",
            lambda: self.poster.chat_postMessage(
                channel=channel,
                text=text,
                blocks=list(blocks) if blocks else None,
                thread_ts=thread_ts,
                metadata=dict(metadata) if metadata else None,
            ),
        )
        warnings = (resp.get("response_metadata") or {}).get("warnings")
        if warnings:
            log.warning("chat.postMessage to %s: warnings %s", channel, warnings)
        return PostRef(resp["channel"], resp["ts"])

    def schedule_message(
        self, channel: str, post_at: int, text: str, blocks: Sequence[Mapping[str, Any]] | None
    ) -> str:
        """``chat.scheduleMessage`` (no metadata: Slack drops scheduled posts that carry it)."""
        if not text:
            raise ValueError("text (the plain fallback) is required")
        resp = self._call(
            "chat.scheduleMessage",
            "post",
            lambda: self.poster.chat_scheduleMessage(
                channel=channel,
                post_at=int(post_at),
                text=text,
                blocks=list(blocks) if blocks else None,
            ),  # fmt: skip
        )
        return resp["scheduled_message_id"]

    def update_message(
        self, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]] | None
    ) -> PostRef:
        if not text:
            raise ValueError("text (the plain fallback) is required")
        resp = self._call(
            "chat.update",
            "write",
            lambda: self.reader.chat_update(
                channel=channel, ts=ts, text=text, blocks=list(blocks) if blocks else []
            ),
        )
        return PostRef(resp["channel"], resp["ts"])

    def delete_message(self, channel: str, ts: str) -> None:
        """Delete one of our messages (e.g. a duplicate found by reconciliation); gone is fine."""
        try:
            self._call(
                "chat.delete", "write", lambda: self.reader.chat_delete(channel=channel, ts=ts)
            )
        except SlackPermanent as e:
            if e.error != "message_not_found":
                raise

    def get_permalink(self, channel: str, ts: str) -> str:
        resp = self._call(
            "chat.getPermalink",
            "read",
            lambda: self.reader.chat_getPermalink(channel=channel, message_ts=ts),
        )
        return resp["permalink"]

    def find_posts_by_metadata(
        self, channel: str, outbox_id: object, oldest: float | str, thread_ts: str | None = None
    ) -> list[PostRef]:
        """Every message in ``channel`` (or in the thread ``thread_ts``) since ``oldest`` that
        outbox row ``outbox_id`` posted, oldest first. Needs ``channels:history`` (and the bot
        in the channel). ``channel`` may be a user id: its DM is looked up."""
        if channel.startswith(("U", "W")):
            channel = self.open_dm(channel)
        wanted = str(outbox_id)
        oldest_ts = oldest if isinstance(oldest, str) else f"{max(0.0, oldest):.6f}"
        if thread_ts:
            pages = self._pages(
                "conversations.replies",
                self.reader.conversations_replies,
                channel=channel,
                ts=thread_ts,
                oldest=oldest_ts,
                include_all_metadata=True,
                limit=self.page_limit,
            )
        else:
            pages = self._pages(
                "conversations.history",
                self.reader.conversations_history,
                channel=channel,
                oldest=oldest_ts,
                include_all_metadata=True,
                limit=self.page_limit,
            )
        found = []
        for page in pages:
            for msg in page.get("messages", []):
                meta = msg.get("metadata") or {}
                payload = meta.get("event_payload") or {}
                if (
                    meta.get("event_type") == OUTBOX_EVENT_TYPE
                    and str(payload.get("outbox_id")) == wanted
                ):
                    found.append(PostRef(channel, msg["ts"]))
        return sorted(set(found), key=lambda ref: float(ref.ts))

    def find_post_by_metadata(
        self, channel: str, outbox_id: object, oldest: float | str, thread_ts: str | None = None
    ) -> PostRef | None:
        """The first post of outbox row ``outbox_id`` (see :meth:`find_posts_by_metadata`)."""
        found = self.find_posts_by_metadata(channel, outbox_id, oldest, thread_ts)
        return found[0] if found else None

    # ------------------------------------------------------------------ membership
    def join_channel(self, channel: str) -> None:
        self._call(
            "conversations.join", "write", lambda: self.reader.conversations_join(channel=channel)
        )

    def open_dm(self, user_id: str) -> str:
        resp = self._call(
            "conversations.open", "write", lambda: self.reader.conversations_open(users=[user_id])
        )
        return resp["channel"]["id"]

    def invite(self, channel: str, user_ids: Sequence[str]) -> InviteResult:
        """Invite in chunks of ≤ 100; a user who cannot be invited does not stop the rest."""
        invited: list[str] = []
        already: list[str] = []
        failed: dict[str, str] = {}
        pending = list(dict.fromkeys(u for u in user_ids if u))
        for start in range(0, len(pending), INVITE_CHUNK):
            self._invite_chunk(
                channel, pending[start : start + INVITE_CHUNK], invited, already, failed
            )
        return InviteResult(tuple(invited), tuple(already), failed)

    def _invite_chunk(self, channel: str, chunk: list[str], invited: list[str],
                      already: list[str], failed: dict[str, str]) -> None:  # fmt: skip
        for _ in range(3):  # bad users are removed and the rest re-sent: bounded
            if not chunk:
                return
            try:
                resp = self._call(
                    "conversations.invite",
                    "write",
                    lambda users=chunk: self.reader.conversations_invite(
                        channel=channel, users=users
                    ),
                )
            except SlackPermanent as e:
                per_user = {x.get("user"): x.get("error") for x in e.response.get("errors") or []}
                if e.error not in INVITE_USER_ERRORS:
                    raise
                if not per_user:
                    if len(chunk) == 1:
                        per_user = {chunk[0]: e.error}
                    else:  # Slack did not say who: one at a time
                        for user in chunk:
                            self._invite_chunk(channel, [user], invited, already, failed)
                        return
                self._record(per_user, already, failed)
                chunk = [u for u in chunk if u not in per_user]
                continue
            per_user = {x.get("user"): x.get("error") for x in resp.get("errors") or []}
            self._record(per_user, already, failed)
            invited.extend(u for u in chunk if u not in per_user)
            return
        for user in chunk:
            failed.setdefault(user, "not_invited")

    @staticmethod
    def _record(per_user: Mapping[str, str], already: list[str], failed: dict[str, str]) -> None:
        for user, error in per_user.items():
            if error == "already_in_channel":
                already.append(user)
            else:
                failed[user] = error

    # ------------------------------------------------------------------ Sign in with Slack
    def oidc_token_exchange(self, code: str, redirect_uri: str | None) -> OidcTokens:
        if not self.client_id or not self.client_secret:
            raise SlackConfigError("not_configured", method="openid.connect.token")
        client = self._client(None, self._read_handlers[:1])  # no re-send of a one-time code
        resp = self._call(
            "openid.connect.token",
            "oidc",
            lambda: client.openid_connect_token(
                client_id=self.client_id,
                client_secret=self.client_secret,
                code=code,
                redirect_uri=redirect_uri,
            ),  # fmt: skip
        )
        return OidcTokens(
            access_token=resp["access_token"],
            id_token=resp.get("id_token"),
            token_type=resp.get("token_type", "Bearer"),
        )

    def oidc_userinfo(self, access_token: str) -> OidcUserInfo:
        client = self._client(access_token, self._read_handlers)
        resp = self._call("openid.connect.userInfo", "oidc", client.openid_connect_userInfo)
        data = dict(resp.data)  # type: ignore[arg-type]
        email = data.get("email")
        return OidcUserInfo(
            user_id=data.get("https://slack.com/user_id") or data["sub"],
            team_id=data.get("https://slack.com/team_id", ""),
            email=normalize_email(email) if email else None,
            email_verified=bool(data.get("email_verified")),
            name=data.get("name", ""),
            locale=data.get("locale"),
            raw=data,
        )
