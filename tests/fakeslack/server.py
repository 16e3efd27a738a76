"""A fake Slack Web API: a real HTTP server on 127.0.0.1 that answers like Slack.

Spec: ``../shared/SLACK.md`` section 6. The real ``slack_sdk.WebClient`` talks to it through
``base_url`` (``http://127.0.0.1:PORT/api/``), so wire format, retry handlers, timeouts and
dropped connections are exercised for real. State (users, channels, messages, scheduled
messages, OIDC codes and tokens) lives in one :class:`FakeSlack` object guarded by a lock;
tests seed and inspect it in process, or over HTTP under ``/_fake/``.

Choices the fake makes where Slack documents nothing (so tests can rely on them):

* a missing required argument gives ``invalid_arguments``; ``conversations.invite`` with more
  than ``invite_limit`` (100) users gives ``invalid_arguments``;
* ``conversations.invite`` without ``force`` fails as a whole on any bad user (first error +
  ``errors[]``, nobody invited); with ``force`` it invites the valid users and answers
  ``ok:true`` plus ``errors[]`` (``ok:false`` if none was valid);
* ``msg_blocks_too_long`` when the compact JSON of ``blocks`` exceeds ``blocks_json_limit``
  (12,000 characters; Slack's real limit is undocumented, reported around 12-13k);
* ``chat.update`` text over ``update_text_limit`` (4,000) gives ``msg_too_long``;
* ``users.lookupByEmail`` matches e-mail addresses case-insensitively;
* a ``thread_ts`` that names no message is stored as given (Slack documents no error);
* ``chat.postMessage`` to a user id (``U…``) posts in the bot's DM with that user (as Slack
  does) and answers with the ``D…`` channel; a deactivated user gives ``user_disabled``;
* ``reset()`` forgets calls, faults, messages, scheduled messages and rate-limit buckets;
  seeded users, channels, tokens and memberships stay.
"""

from __future__ import annotations

import base64
import binascii
import copy
import email.parser
import email.policy
import hmac
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .ratelimit import RateLimits

TEAM_ID = "T0FAKE"
TEAM_NAME = "Fake Workspace"
TEAM_DOMAIN = "fake"
TEAM_URL = "https://fake.slack.com/"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0FAKE"
SLACKBOT_ID = "USLACKBOT"
DEFAULT_BOT_TOKEN = "xoxb-fake-bot-token"
DEFAULT_CLIENT_ID = "1111111111.2222222222"
DEFAULT_CLIENT_SECRET = "fake-client-secret"

#: Scopes the bot token has by default (``chat:write.public`` is off: see ``grant``).
DEFAULT_SCOPES = frozenset(
    {
        "chat:write",
        "channels:read",
        "groups:read",
        "channels:join",
        "channels:manage",
        "groups:write",
        "channels:history",
        "groups:history",
        "im:write",
        "im:history",
        "users:read",
        "users:read.email",
        "commands",
    }
)
#: Scopes of a Sign-in-with-Slack user token.
OIDC_SCOPES = frozenset({"openid", "email", "profile"})

TEXT_LIMIT = 40_000
SCHEDULE_MAX_AHEAD = 120 * 86_400
SCHEDULE_WINDOW = 300
SCHEDULE_PER_WINDOW = 30

FAULT_KINDS = frozenset(
    {"ratelimit", "http_status", "error", "slow", "drop", "apply_then_drop", "apply_then_status"}
)

_HTML_STATUS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Fault:
    """One injected misbehaviour, applied before normal handling.

    kinds:
      ``ratelimit``          HTTP 429, ``Retry-After: <retry_after>``, ``{"ok":false,"error":"ratelimited"}``
      ``http_status``        HTTP ``status`` (default 500) with an HTML body; nothing is applied
      ``error``              HTTP 200 ``{"ok":false,"error":<error>}`` (default ``fatal_error``)
      ``slow``               sleep ``sleep`` seconds, then handle normally (the call IS applied)
      ``drop``               read the request, close the connection without a reply
      ``apply_then_drop``    handle normally (store the message), then close without a reply
      ``apply_then_status``  handle normally, then answer HTTP ``status`` (default 500) HTML
    ``sleep`` applies to every kind (before it acts). ``match`` limits the fault to calls
    whose parameters contain these values (compared as strings), e.g. ``{"channel": "C1"}``.
    """

    kind: str
    status: int | None = None
    retry_after: int = 1
    sleep: float = 0.0
    error: str = "fatal_error"
    match: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(FAULT_KINDS)}")
        if int(self.retry_after) != self.retry_after or self.retry_after < 0:
            raise ValueError("retry_after must be a non-negative integer (the SDK calls int())")
        self.retry_after = int(self.retry_after)


@dataclass
class Call:
    """One request the fake received (faulted and rate-limited ones included)."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    t: float  # time.monotonic() on arrival
    wall: float  # time.time() on arrival
    http_method: str = "POST"
    path: str = ""
    fault: str | None = None  # fault kind applied, or "ratelimited" by the limiter
    status: int | None = None  # HTTP status sent (None when the connection was dropped)
    ok: bool | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _FaultEntry:
    method: str
    fault: Fault
    remaining: int | None


class _ApiError(Exception):
    """A logical Slack error: HTTP 200 ``{"ok": false, "error": code, **extra}``."""

    def __init__(self, error: str, **extra: Any):
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class _Principal:
    kind: str  # "bot" | "user"
    token: str
    user_id: str
    team_id: str = TEAM_ID
    scopes: frozenset[str] = frozenset()


@dataclass
class _Ctx:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    principal: _Principal | None = None

    def get(self, name: str, default: Any = None) -> Any:
        value = self.params.get(name, default)
        return default if value == "" else value


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


@dataclass
class _MethodSpec:
    fn: Callable[[FakeSlack, _Ctx], dict[str, Any]]
    auth: str  # "bot" (bot or user token), "user" (xoxp only), "client" (client credentials)
    scope: str | None


_METHODS: dict[str, _MethodSpec] = {}


def _api(name: str, *, auth: str = "bot", scope: str | None = None):
    def register(fn):
        _METHODS[name] = _MethodSpec(fn, auth, scope)
        return fn

    return register


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, (int, str)) and str(value).lower() in {"1", "true"})


def _int(value: Any, default: int, *, error: str = "invalid_arguments") -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _ApiError(error) from None


def _ts_decimal(value: Any, error: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise _ApiError(error) from None
    if not result.is_finite():
        raise _ApiError(error)
    return result


def _encode_cursor(kind: str, key: str) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode()


def _decode_cursor(kind: str, cursor: str) -> str:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _ApiError("invalid_cursor") from None
    prefix, _, key = raw.partition(":")
    if prefix != kind or not key:
        raise _ApiError("invalid_cursor")
    return key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ------------------------------------------------------------------------------------------
# Block validation (independent of slack_sdk.models on purpose: the fake checks the builders)
# ------------------------------------------------------------------------------------------
_BLOCK_TYPES = {
    "section", "header", "context", "actions", "divider", "image", "rich_text", "input",
    "file", "video", "markdown",
}  # fmt: skip


def _text_errors(obj: Any, ptr: str, max_len: int, types=("plain_text", "mrkdwn")) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in types:
        return [f"must provide an object of type {' or '.join(types)} [json-pointer:{ptr}]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{ptr}/text]"]
    if len(text) > max_len:
        return [f"must be less than {max_len + 1} characters [json-pointer:{ptr}/text]"]
    return []


def _element_errors(el: Any, ptr: str) -> list[str]:
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        return [f"must provide an element type [json-pointer:{ptr}]"]
    errors: list[str] = []
    if el["type"] == "button":
        errors += _text_errors(el.get("text"), f"{ptr}/text", 75, ("plain_text",))
        if len(str(el.get("value", ""))) > 2000:
            errors.append(f"must be less than 2001 characters [json-pointer:{ptr}/value]")
        if len(str(el.get("url", ""))) > 3000:
            errors.append(f"must be less than 3001 characters [json-pointer:{ptr}/url]")
        if len(str(el.get("action_id", ""))) > 255:
            errors.append(f"must be less than 256 characters [json-pointer:{ptr}/action_id]")
        if el.get("style") not in (None, "primary", "danger"):
            errors.append(f"must be one of primary, danger [json-pointer:{ptr}/style]")
    return errors


def validate_blocks(blocks: Any) -> list[str]:
    """Slack-style ``invalid_blocks`` messages for ``blocks`` (empty list = valid)."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > 50:
        errors.append("no more than 50 items allowed [json-pointer:/blocks]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        ptr = f"/blocks/{i}"
        if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
            errors.append(
                f"unsupported type: {block.get('type') if isinstance(block, dict) else block!r} [json-pointer:{ptr}]"
            )
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in block_ids:
                errors.append(f"duplicate block_id [json-pointer:{ptr}/block_id]")
            block_ids.add(block_id)
            if len(str(block_id)) > 255:
                errors.append(f"must be less than 256 characters [json-pointer:{ptr}/block_id]")
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide text or fields [json-pointer:{ptr}]")
            if "text" in block:
                errors += _text_errors(block["text"], f"{ptr}/text", 3000)
            fields = block.get("fields")
            if fields is not None:
                if not isinstance(fields, list) or len(fields) > 10:
                    errors.append(f"no more than 10 items allowed [json-pointer:{ptr}/fields]")
                else:
                    for j, f in enumerate(fields):
                        errors += _text_errors(f, f"{ptr}/fields/{j}", 2000)
            if "accessory" in block:
                errors += _element_errors(block["accessory"], f"{ptr}/accessory")
        elif kind == "header":
            errors += _text_errors(block.get("text"), f"{ptr}/text", 150, ("plain_text",))
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                errors.append(f"must provide 1 to 10 elements [json-pointer:{ptr}/elements]")
            else:
                for j, el in enumerate(elements):
                    if isinstance(el, dict) and el.get("type") in ("plain_text", "mrkdwn"):
                        errors += _text_errors(el, f"{ptr}/elements/{j}", 3000)
                    elif not isinstance(el, dict) or el.get("type") != "image":
                        errors.append(f"unsupported element [json-pointer:{ptr}/elements/{j}]")
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
                errors.append(f"must provide 1 to 25 elements [json-pointer:{ptr}/elements]")
            else:
                action_ids: set[str] = set()
                for j, el in enumerate(elements):
                    errors += _element_errors(el, f"{ptr}/elements/{j}")
                    action_id = el.get("action_id") if isinstance(el, dict) else None
                    if action_id is not None:
                        if action_id in action_ids:
                            errors.append(
                                f"duplicate action_id [json-pointer:{ptr}/elements/{j}/action_id]"
                            )
                        action_ids.add(action_id)
    return errors


_INPUT_ELEMENTS = {"plain_text_input", "static_select", "checkboxes", "radio_buttons", "email_text_input"}


def validate_view(view: Any) -> list[str]:
    """Slack-style ``invalid_arguments`` messages for a modal (empty list = valid): title, submit
    and close at most 24 characters, at most 100 blocks, input blocks with a label and one
    input element (a select or checkboxes with 1–100 options), ``private_metadata`` ≤ 3,000."""
    if not isinstance(view, dict) or view.get("type") != "modal":
        return ["must be a modal [json-pointer:/view/type]"]
    errors: list[str] = []
    for key in ("title", "submit", "close"):
        if key in view or key == "title":
            errors += _text_errors(view.get(key), f"/view/{key}", 24, ("plain_text",))
    if len(str(view.get("private_metadata", ""))) > 3000:
        errors.append("must be less than 3001 characters [json-pointer:/view/private_metadata]")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or len(blocks) > 100:
        return errors + ["no more than 100 items allowed [json-pointer:/view/blocks]"]
    has_input = False
    for i, block in enumerate(blocks):
        if not (isinstance(block, dict) and block.get("type") == "input"):
            continue
        has_input = True
        ptr = f"/view/blocks/{i}"
        errors += _text_errors(block.get("label"), f"{ptr}/label", 2000, ("plain_text",))
        el = block.get("element")
        if not isinstance(el, dict) or el.get("type") not in _INPUT_ELEMENTS:
            errors.append(f"unsupported element [json-pointer:{ptr}/element]")
            continue
        if el["type"] in ("static_select", "checkboxes", "radio_buttons"):
            options = el.get("options")
            if not isinstance(options, list) or not 1 <= len(options) <= 100:
                errors.append(f"must provide 1 to 100 options [json-pointer:{ptr}/element/options]")
            else:
                for j, o in enumerate(options):
                    limit = 75
                    errors += _text_errors((o or {}).get("text"), f"{ptr}/element/options/{j}/text", limit)
        if el["type"] == "plain_text_input" and len(str(el.get("initial_value", ""))) > int(
                el.get("max_length") or 3000):
            errors.append(f"initial_value is too long [json-pointer:{ptr}/element/initial_value]")
    if has_input and "submit" not in view:
        errors.append("a view with input blocks must have a submit button [json-pointer:/view/submit]")
    others = [b for b in blocks if not (isinstance(b, dict) and b.get("type") == "input")]
    return errors + validate_blocks(others)


# ------------------------------------------------------------------------------------------
# The fake
# ------------------------------------------------------------------------------------------
class FakeSlack:
    """State and behaviour of one fake workspace; :meth:`start` serves it over HTTP."""

    def __init__(
        self,
        *,
        bot_token: str = DEFAULT_BOT_TOKEN,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        scopes: set[str] | frozenset[str] = DEFAULT_SCOPES,
        clock: Callable[[], float] = time.time,
    ):
        self.bot_token = bot_token
        self.client_id = client_id
        self.client_secret = client_secret
        #: Bot token scopes. Add ``chat:write.public`` to post to public channels unjoined;
        #: remove ``users:read.email`` to get ``missing_scope`` and e-mail-less profiles.
        self.scopes: set[str] = set(scopes)
        #: The wall clock for ``ts``, scheduling and OIDC claims; replace it in tests.
        self.clock = clock
        #: Slack returns pages shorter than ``limit`` at times; set True to do the same.
        self.short_pages = False
        self.invite_limit = 100
        self.blocks_json_limit = 12_000
        self.update_text_limit = 4_000
        #: The user ``/openid/connect/authorize`` signs in (see :meth:`login_as`).
        self.authorize_user: str | None = None
        self.rate_limits: RateLimits | None = None

        self._lock = threading.RLock()
        self._ids = {p: itertools.count(1) for p in "UCDGQV"}
        self._seq = itertools.count(1)
        self._last_epoch = 0
        self._users: dict[str, dict[str, Any]] = {}
        self._channels: dict[str, dict[str, Any]] = {}
        self._dms: dict[frozenset[str], str] = {}
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._views: list[dict[str, Any]] = []
        self._used_triggers: set[str] = set()
        self._trigger_users: dict[str, str] = {}
        self._scheduled: dict[str, dict[str, Any]] = {}
        self._codes: dict[str, dict[str, Any]] = {}
        self._user_tokens: dict[str, dict[str, Any]] = {}
        self._revoked: set[str] = set()
        self._responses: dict[str, list[dict[str, Any]]] = {}
        self._faults: list[_FaultEntry] = []
        self._calls: list[Call] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

        self._users[BOT_USER_ID] = self._new_user(
            BOT_USER_ID, email=None, name="eventsvc", real_name="eventsvc", is_bot=True
        )
        self._users[SLACKBOT_ID] = self._new_user(
            SLACKBOT_ID, email=None, name="slackbot", real_name="Slackbot"
        )

    # -------------------------------------------------------------------- lifecycle
    def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (a free port unless ``port``) in a daemon thread; return
        :attr:`base_url`."""
        if self._server is not None:
            return self.base_url
        server = _Server(("127.0.0.1", port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fakeslack",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake is not started")
        return self._server.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def base_url(self) -> str:
        """What ``WebClient(base_url=…)`` and ``EVENTSVC_SLACK_API_URL`` take."""
        return f"{self.root_url}api/"

    @property
    def authorize_url(self) -> str:
        """Stands in for ``https://slack.com/openid/connect/authorize``."""
        return f"{self.root_url}openid/connect/authorize"

    # -------------------------------------------------------------------- seeding
    def _next_id(self, prefix: str) -> str:
        return f"{prefix}0FAKE{next(self._ids[prefix]):04d}"

    def _new_user(
        self,
        user_id: str,
        *,
        email: str | None,
        name: str | None = None,
        real_name: str | None = None,
        display_name: str = "",
        deleted: bool = False,
        is_bot: bool = False,
        is_app_user: bool = False,
        tz: str = "Asia/Tokyo",
    ) -> dict[str, Any]:
        if name is None:
            name = email.split("@")[0] if email else user_id.lower()
        return {
            "id": user_id,
            "name": name,
            "real_name": real_name if real_name is not None else name,
            "display_name": display_name,
            "email": email,
            "deleted": deleted,
            "is_bot": is_bot,
            "is_app_user": is_app_user,
            "tz": tz,
        }

    def add_user(
        self,
        id: str | None = None,  # noqa: A002 - mirrors Slack's field name
        *,
        email: str | None,
        name: str | None = None,
        real_name: str | None = None,
        display_name: str = "",
        deleted: bool = False,
        is_bot: bool = False,
        is_app_user: bool = False,
        tz: str = "Asia/Tokyo",
    ) -> dict[str, Any]:
        """Seed a workspace member; returns the user as the API shows it."""
        with self._lock:
            user_id = id or self._next_id("U")
            if user_id in self._users:
                raise ValueError(f"user {user_id} exists")
            self._users[user_id] = self._new_user(
                user_id,
                email=email,
                name=name,
                real_name=real_name,
                display_name=display_name,
                deleted=deleted,
                is_bot=is_bot,
                is_app_user=is_app_user,
                tz=tz,
            )
            return self._user_json(self._users[user_id], with_email=True)

    def update_user(self, user_id: str, **changes: Any) -> dict[str, Any]:
        """Change a seeded user, e.g. ``update_user(uid, deleted=True)``."""
        with self._lock:
            user = self._users[user_id]
            unknown = (set(changes) - set(user)) | ({"id"} & set(changes))
            if unknown:
                raise ValueError(f"cannot change {sorted(unknown)}")
            user.update(changes)
            return self._user_json(user, with_email=True)

    def user(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            user = self._users.get(user_id)
            return self._user_json(user, with_email=True) if user else None

    def add_channel(
        self,
        name: str,
        *,
        id: str | None = None,  # noqa: A002
        is_private: bool = False,
        is_archived: bool = False,
        bot_member: bool = True,
        members: list[str] | tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Seed a channel; returns it as ``conversations.info`` shows it."""
        with self._lock:
            channel_id = id or self._next_id("C")
            if channel_id in self._channels:
                raise ValueError(f"channel {channel_id} exists")
            member_set = set(members)
            if bot_member:
                member_set.add(BOT_USER_ID)
            self._channels[channel_id] = {
                "id": channel_id,
                "name": name,
                "is_private": is_private,
                "is_archived": is_archived,
                "is_im": False,
                "is_mpim": False,
                "members": member_set,
                "created": int(self.clock()),
            }
            return self._channel_json(self._channels[channel_id])

    def update_channel(
        self, channel_id: str, *, is_archived: bool | None = None, bot_member: bool | None = None
    ) -> dict[str, Any]:
        with self._lock:
            channel = self._channels[channel_id]
            if is_archived is not None:
                channel["is_archived"] = is_archived
            if bot_member is True:
                channel["members"].add(BOT_USER_ID)
            elif bot_member is False:
                channel["members"].discard(BOT_USER_ID)
            return self._channel_json(channel)

    def channel(self, channel_id: str) -> dict[str, Any] | None:
        with self._lock:
            channel = self._channels.get(channel_id)
            return self._channel_json(channel) if channel else None

    def members(self, channel_id: str) -> set[str]:
        with self._lock:
            return set(self._channels[channel_id]["members"])

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Seed a message written by a person (the bot cannot ``chat.update`` it); returns ts."""
        with self._lock:
            msg = self._store(
                self._channels[channel], text, blocks, user, None, thread_ts, metadata
            )
            return msg["ts"]

    def issue_oidc_code(
        self,
        user_id: str,
        redirect_uri: str | None,
        *,
        nonce: str | None = None,
        team_id: str = TEAM_ID,
    ) -> str:
        """A single-use authorization code, as ``/openid/connect/authorize`` would redirect with.

        ``team_id`` lets a test sign someone in from another workspace.
        """
        with self._lock:
            if user_id not in self._users:
                raise ValueError(f"no user {user_id}")
            code = f"fakecode-{secrets.token_hex(8)}"
            self._codes[code] = {
                "user_id": user_id,
                "redirect_uri": redirect_uri,
                "nonce": nonce,
                "team_id": team_id,
                "used": False,
            }
            return code

    def issue_user_token(self, user_id: str, *, team_id: str = TEAM_ID) -> str:
        """An ``xoxp-`` token for ``user_id`` with the Sign-in-with-Slack scopes."""
        with self._lock:
            token = f"xoxp-{user_id}-{secrets.token_hex(6)}"
            self._user_tokens[token] = {"user_id": user_id, "team_id": team_id}
            return token

    def login_as(self, user_id: str | None) -> None:
        """Who the fake authorize page signs in (None: nobody; the page says so)."""
        self.authorize_user = user_id

    def revoke(self, token: str) -> None:
        """Later calls with ``token`` get ``token_revoked``."""
        with self._lock:
            self._revoked.add(token)

    def grant(self, *scopes: str) -> None:
        with self._lock:
            self.scopes.update(scopes)

    def withdraw(self, *scopes: str) -> None:
        with self._lock:
            self.scopes.difference_update(scopes)

    # -------------------------------------------------------------------- faults & limits
    def inject(self, method: str, fault: Fault, times: int | None = 1) -> None:
        """Queue ``fault`` for the next ``times`` calls of ``method`` (``"*"``: any method;
        ``times=None``: until cleared). Faults apply in the order they were injected."""
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._lock:
            self._faults.append(_FaultEntry(method, fault, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> list[tuple[str, Fault, int | None]]:
        with self._lock:
            return [(e.method, e.fault, e.remaining) for e in self._faults]

    def enable_rate_limits(self, scale: float = 1.0, **options: Any) -> RateLimits:
        """Turn on Slack-like token buckets (see :class:`RateLimits` for ``options``)."""
        self.rate_limits = RateLimits(scale=scale, **options)
        return self.rate_limits

    def disable_rate_limits(self) -> None:
        self.rate_limits = None

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        with self._lock:
            for entry in self._faults:
                if entry.method not in (method, "*"):
                    continue
                match = entry.fault.match
                if match and any(str(params.get(k)) != str(v) for k, v in match.items()):
                    continue
                if entry.remaining is not None:
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        self._faults.remove(entry)
                return entry.fault
            return None

    # -------------------------------------------------------------------- inspection
    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls if method is None or c.method == method]

    def count(self, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for c in self._calls if method is None or c.method == method)

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Stored messages (top-level and replies) in ``ts`` order; all channels if None."""
        with self._lock:
            found = [m for (ch, _), m in self._messages.items() if channel is None or ch == channel]
            return [copy.deepcopy(m) for m in sorted(found, key=lambda m: Decimal(m["ts"]))]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            msg = self._messages.get((channel, ts))
            return copy.deepcopy(msg) if msg else None

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Replies in a thread (not the parent), oldest first."""
        return [
            m
            for m in self.messages(channel)
            if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
        ]

    def dm_channel(self, user_id: str) -> str | None:
        """The DM channel id with ``user_id``, if one was opened."""
        with self._lock:
            return self._dms.get(frozenset({user_id}))

    def scheduled(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(s)
                for s in sorted(self._scheduled.values(), key=lambda s: (s["post_at"], s["id"]))
                if channel is None or s["channel"] == channel
            ]

    def deliver_due(self, now: float | None = None) -> list[dict[str, Any]]:
        """Post scheduled messages whose ``post_at`` has come; returns the posted messages."""
        with self._lock:
            now = self.clock() if now is None else now
            posted = []
            for sid, item in sorted(self._scheduled.items(), key=lambda kv: kv[1]["post_at"]):
                if item["post_at"] <= now:
                    del self._scheduled[sid]
                    channel = self._channels[item["channel"]]
                    posted.append(
                        copy.deepcopy(
                            self._store(
                                channel,
                                item["text"],
                                item["blocks"],
                                BOT_USER_ID,
                                BOT_ID,
                                item["thread_ts"],
                                None,
                            )
                        )
                    )
            return posted

    def new_response_url(self) -> str:
        """A ``response_url`` for a slash command or button click; what the app POSTs
        there is kept for :meth:`responses` (Slack allows 5 uses; the 6th gets 404)."""
        with self._lock:
            key = secrets.token_hex(8)
            self._responses[key] = []
            return f"{self.root_url}_fake/response/{key}"

    def new_trigger(self, user_id: str, *, age: float = 0.0) -> str:
        """A ``trigger_id`` as Slack puts in an interaction payload (``age`` seconds old)."""
        trigger = f"{int(time.time() - age)}.{secrets.randbelow(10**9)}.{secrets.token_hex(8)}"
        with self._lock:
            self._trigger_users[trigger] = user_id
        return trigger

    def views(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """Modals opened with ``views.open`` (each with ``id`` and the ``user_id`` who saw it)."""
        with self._lock:
            return [copy.deepcopy(v) for v in self._views if user_id is None or v["user_id"] == user_id]

    def responses(self, response_url: str) -> list[dict[str, Any]]:
        """JSON bodies posted to ``response_url`` so far, in order."""
        with self._lock:
            return copy.deepcopy(self._responses[response_url.rstrip("/").rsplit("/", 1)[-1]])

    def reset(self) -> None:
        """Forget calls, faults, messages, scheduled messages and rate-limit buckets."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._messages.clear()
            self._scheduled.clear()
            if self.rate_limits is not None:
                self.rate_limits.reset()

    # -------------------------------------------------------------------- JSON shapes
    def _user_json(self, user: dict[str, Any], *, with_email: bool | None = None) -> dict[str, Any]:
        if with_email is None:
            with_email = "users:read.email" in self.scopes
        profile: dict[str, Any] = {
            "real_name": user["real_name"],
            "real_name_normalized": user["real_name"],
            "display_name": user["display_name"],
            "display_name_normalized": user["display_name"],
            "team": TEAM_ID,
        }
        if with_email and user["email"]:
            profile["email"] = user["email"]
        if user["id"] == BOT_USER_ID:
            profile.update({"bot_id": BOT_ID, "api_app_id": APP_ID, "always_active": True})
        return {
            "id": user["id"],
            "team_id": TEAM_ID,
            "name": user["name"],
            "deleted": user["deleted"],
            "real_name": user["real_name"],
            "tz": user["tz"],
            "tz_label": "Japan Standard Time" if user["tz"] == "Asia/Tokyo" else user["tz"],
            "tz_offset": 32_400 if user["tz"] == "Asia/Tokyo" else 0,
            "is_admin": False,
            "is_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user["is_bot"],
            "is_app_user": user["is_app_user"],
            "profile": profile,
        }

    def _channel_json(self, channel: dict[str, Any]) -> dict[str, Any]:
        if channel["is_im"]:
            (other,) = channel["members"] - {BOT_USER_ID} or {BOT_USER_ID}
            return {"id": channel["id"], "is_im": True, "user": other, "is_open": True,
                    "created": channel["created"]}  # fmt: skip
        return {
            "id": channel["id"],
            "name": channel["name"],
            "name_normalized": channel["name"],
            "is_channel": not channel["is_mpim"],
            "is_group": False,
            "is_im": False,
            "is_mpim": channel["is_mpim"],
            "is_private": channel["is_private"],
            "is_archived": channel["is_archived"],
            "is_general": False,
            "is_member": BOT_USER_ID in channel["members"],
            "num_members": len(channel["members"]),
            "created": channel["created"],
        }

    def _message_json(self, msg: dict[str, Any], *, with_metadata: bool = True) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in msg.items() if k != "channel"}
        if not with_metadata:
            out.pop("metadata", None)
        return out

    # -------------------------------------------------------------------- storage helpers
    def _new_ts(self) -> str:
        epoch = max(int(self.clock()), self._last_epoch)
        self._last_epoch = epoch
        return f"{epoch}.{next(self._seq) % 1_000_000:06d}"

    def _store(
        self,
        channel: dict[str, Any],
        text: str,
        blocks: list[dict[str, Any]] | None,
        user: str,
        bot_id: str | None,
        thread_ts: str | None,
        metadata: dict[str, Any] | None,
        reply_broadcast: bool = False,
    ) -> dict[str, Any]:
        ts = self._new_ts()
        while (channel["id"], ts) in self._messages:  # seq wrapped within one second
            ts = self._new_ts()
        msg: dict[str, Any] = {"type": "message", "ts": ts, "user": user, "text": text or ""}
        if bot_id:
            msg.update({"bot_id": bot_id, "app_id": APP_ID, "team": TEAM_ID})
        if blocks:
            msg["blocks"] = copy.deepcopy(blocks)
        if metadata:
            msg["metadata"] = copy.deepcopy(metadata)
        if thread_ts:
            parent = self._messages.get((channel["id"], thread_ts))
            if parent is not None:
                thread_ts = parent.get("thread_ts", parent["ts"])
                root = self._messages[(channel["id"], thread_ts)]
                root["thread_ts"] = thread_ts
                root["reply_count"] = root.get("reply_count", 0) + 1
                root["latest_reply"] = ts
                root.setdefault("reply_users", [])
                if user not in root["reply_users"]:
                    root["reply_users"].append(user)
            msg["thread_ts"] = thread_ts
            if parent is not None:
                msg["parent_user_id"] = parent["user"]
            if reply_broadcast:
                msg["subtype"] = "thread_broadcast"
        msg["channel"] = channel["id"]
        self._messages[(channel["id"], ts)] = msg
        return msg

    def _find_channel(self, ref: Any) -> dict[str, Any]:
        """By id, ``#name`` or name; private channels the bot is not in stay invisible."""
        if not ref or not isinstance(ref, str):
            raise _ApiError("channel_not_found")
        channel = self._channels.get(ref)
        if channel is None:
            name = ref.lstrip("#")
            channel = next(
                (c for c in self._channels.values() if not c["is_im"] and c["name"] == name), None
            )
        if channel is None or (
            (channel["is_private"] or channel["is_im"] or channel["is_mpim"])
            and BOT_USER_ID not in channel["members"]
        ):
            raise _ApiError("channel_not_found")
        return channel

    def _open_dm(self, user_ids: list[str]) -> tuple[dict[str, Any], bool]:
        key = frozenset(user_ids)
        existing = self._dms.get(key)
        if existing is not None:
            return self._channels[existing], True
        is_im = len(key) == 1
        channel_id = self._next_id("D" if is_im else "G")
        self._channels[channel_id] = {
            "id": channel_id,
            "name": "" if is_im else "mpdm-" + "--".join(sorted(key)) + "-1",
            "is_private": True,
            "is_archived": False,
            "is_im": is_im,
            "is_mpim": not is_im,
            "members": set(key) | {BOT_USER_ID},
            "created": int(self.clock()),
        }
        self._dms[key] = channel_id
        return self._channels[channel_id], False

    def _channel_for_post(self, ref: Any) -> dict[str, Any]:
        if isinstance(ref, str) and ref.startswith(("U", "W")) and ref in self._users:
            user = self._users[ref]
            if user["deleted"]:
                raise _ApiError("user_disabled")
            return self._open_dm([ref])[0]
        channel = self._find_channel(ref)
        if channel["is_archived"]:
            raise _ApiError("is_archived")
        if BOT_USER_ID not in channel["members"] and not (
            not channel["is_private"] and "chat:write.public" in self.scopes
        ):
            raise _ApiError("not_in_channel")
        return channel

    def _content(
        self, ctx: _Ctx, *, require: bool = True
    ) -> tuple[str, list[dict[str, Any]] | None]:
        text = ctx.get("text")
        text = "" if text is None else str(text)
        blocks = ctx.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                raise _ApiError("invalid_blocks_format") from None
        if blocks is not None and not isinstance(blocks, list):
            raise _ApiError("invalid_blocks_format")
        if require and not text and not blocks and not ctx.get("attachments"):
            raise _ApiError("no_text")
        if blocks:
            errors = validate_blocks(blocks)
            if errors:
                raise _ApiError("invalid_blocks", errors=errors)
            size = len(json.dumps(blocks, ensure_ascii=False, separators=(",", ":")))
            if size > self.blocks_json_limit:
                raise _ApiError("msg_blocks_too_long")
        return text, blocks or None

    def _metadata(self, ctx: _Ctx) -> dict[str, Any] | None:
        metadata = ctx.get("metadata")
        if metadata is None:
            return None
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                raise _ApiError("invalid_metadata_format") from None
        if (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("event_type"), str)
            or not isinstance(metadata.get("event_payload"), dict)
        ):
            raise _ApiError("invalid_metadata_format")
        return metadata

    def _page(
        self, items: list[Any], key: Callable[[Any], str], ctx: _Ctx, kind: str, default_limit: int
    ) -> tuple[list[Any], str]:
        limit = max(1, min(_int(ctx.get("limit"), default_limit), 1000))
        if self.short_pages and limit > 1:
            limit -= 1
        items = sorted(items, key=key)
        cursor = ctx.get("cursor")
        if cursor:
            after = _decode_cursor(kind, cursor)
            items = [i for i in items if key(i) > after]
        page = items[:limit]
        next_cursor = _encode_cursor(kind, key(page[-1])) if len(items) > limit else ""
        return page, next_cursor

    # ==================================================================== API methods
    @_api("auth.test")
    def _auth_test(self, ctx: _Ctx) -> dict[str, Any]:
        p = ctx.principal
        assert p is not None
        out = {
            "url": TEAM_URL,
            "team": TEAM_NAME,
            "user": self._users[p.user_id]["name"] if p.user_id in self._users else p.user_id,
            "team_id": p.team_id,
            "user_id": p.user_id,
            "is_enterprise_install": False,
        }
        if p.kind == "bot":
            out["bot_id"] = BOT_ID
        return out

    @_api("users.lookupByEmail", scope="users:read.email")
    def _users_lookup_by_email(self, ctx: _Ctx) -> dict[str, Any]:
        email = ctx.get("email")
        if not email:
            raise _ApiError("invalid_arguments")
        wanted = str(email).strip().lower()
        for user in self._users.values():
            if user["email"] and user["email"].lower() == wanted and not user["deleted"]:
                return {"user": self._user_json(user)}
        raise _ApiError("users_not_found")

    @_api("users.list", scope="users:read")
    def _users_list(self, ctx: _Ctx) -> dict[str, Any]:
        page, next_cursor = self._page(
            list(self._users.values()), lambda u: u["id"], ctx, "user", 200
        )
        return {
            "members": [self._user_json(u) for u in page],
            "cache_ts": int(self.clock()),
            "response_metadata": {"next_cursor": next_cursor},
        }

    @_api("users.info", scope="users:read")
    def _users_info(self, ctx: _Ctx) -> dict[str, Any]:
        user = self._users.get(ctx.get("user") or "")
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": self._user_json(user)}

    @_api("conversations.list", scope="channels:read")
    def _conversations_list(self, ctx: _Ctx) -> dict[str, Any]:
        types = {
            t.strip() for t in str(ctx.get("types") or "public_channel").split(",") if t.strip()
        }
        if not types or not types <= {"public_channel", "private_channel", "mpim", "im"}:
            raise _ApiError("invalid_types")
        exclude_archived = _truthy(ctx.get("exclude_archived"))
        visible = []
        for c in self._channels.values():
            member = BOT_USER_ID in c["members"]
            kind = (
                "im" if c["is_im"] else "mpim" if c["is_mpim"]
                else "private_channel" if c["is_private"] else "public_channel"
            )  # fmt: skip
            if kind not in types or (kind != "public_channel" and not member):
                continue
            if exclude_archived and c["is_archived"]:
                continue
            visible.append(c)
        page, next_cursor = self._page(visible, lambda c: c["id"], ctx, "channel", 100)
        return {
            "channels": [self._channel_json(c) for c in page],
            "response_metadata": {"next_cursor": next_cursor},
        }

    @_api("conversations.info", scope="channels:read")
    def _conversations_info(self, ctx: _Ctx) -> dict[str, Any]:
        return {"channel": self._channel_json(self._find_channel(ctx.get("channel")))}

    @_api("conversations.join", scope="channels:join")
    def _conversations_join(self, ctx: _Ctx) -> dict[str, Any]:
        channel = self._channels.get(ctx.get("channel") or "")
        if channel is None:
            raise _ApiError("channel_not_found")
        if channel["is_private"] or channel["is_im"] or channel["is_mpim"]:
            if BOT_USER_ID not in channel["members"]:
                raise _ApiError("channel_not_found")
            raise _ApiError("method_not_supported_for_channel_type")
        if channel["is_archived"]:
            raise _ApiError("is_archived")
        out: dict[str, Any] = {}
        if BOT_USER_ID in channel["members"]:
            out["warning"] = "already_in_channel"
            out["response_metadata"] = {"warnings": ["already_in_channel"]}
        channel["members"].add(BOT_USER_ID)
        out["channel"] = self._channel_json(channel)
        return out

    @_api("conversations.invite", scope="channels:manage")
    def _conversations_invite(self, ctx: _Ctx) -> dict[str, Any]:
        channel = self._find_channel(ctx.get("channel"))
        if channel["is_im"] or channel["is_mpim"]:
            raise _ApiError("method_not_supported_for_channel_type")
        if channel["is_archived"]:
            raise _ApiError("is_archived")
        if BOT_USER_ID not in channel["members"]:
            raise _ApiError("not_in_channel")
        raw = ctx.get("users")
        users = [u.strip() for u in str(raw or "").split(",") if u.strip()]
        if not users:
            raise _ApiError("no_user")
        if len(users) > self.invite_limit:
            raise _ApiError(
                "invalid_arguments", detail=f"at most {self.invite_limit} users per call"
            )
        errors, valid = [], []
        for uid in dict.fromkeys(users):
            user = self._users.get(uid)
            if uid == BOT_USER_ID:
                error = "cant_invite_self"
            elif user is None or user["deleted"]:
                error = "user_not_found"
            elif uid in channel["members"]:
                error = "already_in_channel"
            else:
                valid.append(uid)
                continue
            errors.append({"user": uid, "ok": False, "error": error})
        force = _truthy(ctx.get("force"))
        if errors and (not force or not valid):
            raise _ApiError(errors[0]["error"], errors=errors)
        channel["members"].update(valid)
        out: dict[str, Any] = {"channel": self._channel_json(channel)}
        if errors:
            out["errors"] = errors
        return out

    @_api("conversations.open", scope="im:write")
    def _conversations_open(self, ctx: _Ctx) -> dict[str, Any]:
        raw = ctx.get("users")
        users = list(dict.fromkeys(u.strip() for u in str(raw or "").split(",") if u.strip()))
        if not users:
            if ctx.get("channel"):
                return {"channel": {"id": self._find_channel(ctx.get("channel"))["id"]},
                        "no_op": True, "already_open": True}  # fmt: skip
            raise _ApiError("users_list_not_supplied")
        if len(users) > 8:
            raise _ApiError("too_many_users")
        for uid in users:
            user = self._users.get(uid)
            if user is None:
                raise _ApiError("user_not_found")
            if user["deleted"]:
                raise _ApiError("user_disabled")
        channel, existed = self._open_dm(users)
        body = (
            self._channel_json(channel) if _truthy(ctx.get("return_im")) else {"id": channel["id"]}
        )
        out: dict[str, Any] = {"channel": body}
        if existed:
            out.update({"no_op": True, "already_open": True})
        return out

    @_api("conversations.history", scope="channels:history")
    def _conversations_history(self, ctx: _Ctx) -> dict[str, Any]:
        channel = self._find_channel(ctx.get("channel"))
        if BOT_USER_ID not in channel["members"]:
            raise _ApiError("not_in_channel")
        oldest = _ts_decimal(ctx.get("oldest") or "0", "invalid_ts_oldest")
        latest = _ts_decimal(ctx.get("latest"), "invalid_ts_latest") if ctx.get("latest") else None
        inclusive = _truthy(ctx.get("inclusive"))
        with_metadata = _truthy(ctx.get("include_all_metadata"))
        limit = max(1, min(_int(ctx.get("limit"), 100), 999))
        msgs = []
        for (ch, ts), m in self._messages.items():
            if ch != channel["id"]:
                continue
            if m.get("thread_ts") not in (None, ts) and m.get("subtype") != "thread_broadcast":
                continue
            t = Decimal(ts)
            if t < oldest or (t == oldest and not inclusive and oldest != 0):
                continue
            if latest is not None and (t > latest or (t == latest and not inclusive)):
                continue
            msgs.append(m)
        msgs.sort(key=lambda m: Decimal(m["ts"]), reverse=True)
        cursor = ctx.get("cursor")
        if cursor:
            before = _ts_decimal(_decode_cursor("next_ts", cursor), "invalid_cursor")
            msgs = [m for m in msgs if Decimal(m["ts"]) < before]
        page = msgs[:limit]
        has_more = len(msgs) > limit
        return {
            "messages": [self._message_json(m, with_metadata=with_metadata) for m in page],
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {
                "next_cursor": _encode_cursor("next_ts", page[-1]["ts"]) if has_more else ""
            },
        }

    @_api("conversations.replies", scope="channels:history")
    def _conversations_replies(self, ctx: _Ctx) -> dict[str, Any]:
        channel = self._find_channel(ctx.get("channel"))
        if BOT_USER_ID not in channel["members"]:
            raise _ApiError("not_in_channel")
        ts = ctx.get("ts")
        parent = self._messages.get((channel["id"], ts or ""))
        if parent is None:
            raise _ApiError("thread_not_found")
        root = parent.get("thread_ts", parent["ts"])
        with_metadata = _truthy(ctx.get("include_all_metadata"))
        thread = [
            m
            for (ch, mts), m in self._messages.items()
            if ch == channel["id"] and (mts == root or m.get("thread_ts") == root)
        ]
        thread.sort(key=lambda m: Decimal(m["ts"]))
        limit = max(1, min(_int(ctx.get("limit"), 1000), 1000))
        cursor = ctx.get("cursor")
        if cursor:
            after = _ts_decimal(_decode_cursor("next_ts", cursor), "invalid_cursor")
            thread = [m for m in thread if Decimal(m["ts"]) > after]
        page = thread[:limit]
        has_more = len(thread) > limit
        return {
            "messages": [self._message_json(m, with_metadata=with_metadata) for m in page],
            "has_more": has_more,
            "response_metadata": {
                "next_cursor": _encode_cursor("next_ts", page[-1]["ts"]) if has_more else ""
            },
        }

    @_api("chat.postMessage", scope="chat:write")
    def _chat_post_message(self, ctx: _Ctx) -> dict[str, Any]:
        channel = self._channel_for_post(ctx.get("channel"))
        text, blocks = self._content(ctx)
        metadata = self._metadata(ctx)
        warnings = []
        if len(text) > TEXT_LIMIT:
            text = text[:TEXT_LIMIT]
            warnings.append("message_truncated")
        msg = self._store(
            channel,
            text,
            blocks,
            BOT_USER_ID,
            BOT_ID,
            ctx.get("thread_ts"),
            metadata,
            _truthy(ctx.get("reply_broadcast")),
        )
        out: dict[str, Any] = {
            "channel": channel["id"],
            "ts": msg["ts"],
            "message": self._message_json(msg),
        }
        if warnings:
            out["warning"] = ",".join(warnings)
            out["response_metadata"] = {"warnings": warnings}
        return out

    @_api("chat.scheduleMessage", scope="chat:write")
    def _chat_schedule_message(self, ctx: _Ctx) -> dict[str, Any]:
        channel = self._channel_for_post(ctx.get("channel"))
        post_at_raw = ctx.get("post_at")
        try:
            post_at = int(str(post_at_raw))
        except (TypeError, ValueError):
            raise _ApiError("invalid_time") from None
        text, blocks = self._content(ctx)
        if len(text) > TEXT_LIMIT:
            raise _ApiError("msg_too_long")
        now = self.clock()
        if post_at <= now:
            raise _ApiError("time_in_past")
        if post_at > now + SCHEDULE_MAX_AHEAD:
            raise _ApiError("time_too_far")
        window = post_at // SCHEDULE_WINDOW
        same_window = sum(
            1
            for s in self._scheduled.values()
            if s["channel"] == channel["id"] and s["post_at"] // SCHEDULE_WINDOW == window
        )
        if same_window >= SCHEDULE_PER_WINDOW:
            raise _ApiError("restricted_too_many")
        sid = self._next_id("Q")
        self._scheduled[sid] = {
            "id": sid,
            "channel": channel["id"],
            "post_at": post_at,
            "date_created": int(now),
            "text": text,
            "blocks": blocks,
            "thread_ts": ctx.get("thread_ts"),
        }
        message: dict[str, Any] = {
            "type": "delayed_message",
            "text": text,
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "team": TEAM_ID,
        }
        if blocks:
            message["blocks"] = blocks
        return {
            "channel": channel["id"],
            "scheduled_message_id": sid,
            "post_at": str(post_at),
            "message": message,
        }

    @_api("chat.deleteScheduledMessage", scope="chat:write")
    def _chat_delete_scheduled(self, ctx: _Ctx) -> dict[str, Any]:
        channel = self._find_channel(ctx.get("channel"))
        item = self._scheduled.get(ctx.get("scheduled_message_id") or "")
        if item is None or item["channel"] != channel["id"]:
            raise _ApiError("invalid_scheduled_message_id")
        del self._scheduled[item["id"]]
        return {}

    @_api("chat.scheduledMessages.list", scope="chat:write")
    def _chat_scheduled_list(self, ctx: _Ctx) -> dict[str, Any]:
        channel_ref = ctx.get("channel")
        channel_id = self._find_channel(channel_ref)["id"] if channel_ref else None
        items = [
            {"id": s["id"], "channel_id": s["channel"], "post_at": s["post_at"],
             "date_created": s["date_created"], "text": s["text"]}
            for s in self._scheduled.values()
            if channel_id is None or s["channel"] == channel_id
        ]  # fmt: skip
        page, next_cursor = self._page(items, lambda s: s["id"], ctx, "scheduled", 100)
        return {"scheduled_messages": page, "response_metadata": {"next_cursor": next_cursor}}

    @_api("chat.update", scope="chat:write")
    def _chat_update(self, ctx: _Ctx) -> dict[str, Any]:
        channel = self._find_channel(ctx.get("channel"))
        msg = self._messages.get((channel["id"], ctx.get("ts") or ""))
        if msg is None:
            raise _ApiError("message_not_found")
        if msg.get("bot_id") != BOT_ID:
            raise _ApiError("cant_update_message")
        if channel["is_archived"]:
            raise _ApiError("is_archived")
        text, blocks = self._content(ctx, require=True)
        if len(text) > self.update_text_limit:
            raise _ApiError("msg_too_long")
        msg["text"] = text
        if blocks is not None:
            msg["blocks"] = blocks
        else:
            msg.pop("blocks", None)
        msg["edited"] = {"user": BOT_USER_ID, "ts": self._new_ts()}
        out_msg: dict[str, Any] = {"text": text, "user": BOT_USER_ID, "bot_id": BOT_ID}
        if blocks is not None:
            out_msg["blocks"] = blocks
        return {"channel": channel["id"], "ts": msg["ts"], "text": text, "message": out_msg}

    @_api("chat.delete", scope="chat:write")
    def _chat_delete(self, ctx: _Ctx) -> dict[str, Any]:
        channel = self._find_channel(ctx.get("channel"))
        msg = self._messages.get((channel["id"], ctx.get("ts") or ""))
        if msg is None:
            raise _ApiError("message_not_found")
        if msg.get("bot_id") != BOT_ID:
            raise _ApiError("cant_delete_message")
        del self._messages[(channel["id"], msg["ts"])]
        return {"channel": channel["id"], "ts": msg["ts"]}

    @_api("chat.getPermalink")
    def _chat_get_permalink(self, ctx: _Ctx) -> dict[str, Any]:
        channel = self._find_channel(ctx.get("channel"))
        msg = self._messages.get((channel["id"], ctx.get("message_ts") or ""))
        if msg is None:
            raise _ApiError("message_not_found")
        link = f"{TEAM_URL}archives/{channel['id']}/p{msg['ts'].replace('.', '')}"
        if msg.get("thread_ts") and msg["thread_ts"] != msg["ts"]:
            link += "?" + urlencode({"thread_ts": msg["thread_ts"], "cid": channel["id"]})
        return {"channel": channel["id"], "permalink": link}

    @_api("views.open")
    def _views_open(self, ctx: _Ctx) -> dict[str, Any]:
        """A trigger (from an interaction payload) opens one modal within 3 seconds."""
        trigger = str(ctx.get("trigger_id") or "")
        parts = trigger.split(".")
        if len(parts) != 3 or not parts[0].isdigit():
            raise _ApiError("invalid_trigger_id")
        if trigger in self._used_triggers:
            raise _ApiError("exchanged_trigger_id")
        if time.time() - int(parts[0]) > 3:
            raise _ApiError("expired_trigger_id")
        view = ctx.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError:
                raise _ApiError("invalid_arguments") from None
        errors = validate_view(view)
        if errors:
            raise _ApiError("invalid_arguments", response_metadata={"messages": errors})
        self._used_triggers.add(trigger)
        stored = dict(copy.deepcopy(view), id=self._next_id("V"), user_id=self._trigger_users.get(trigger, ""),
                      team_id=TEAM_ID, state={"values": {}})
        self._views.append(stored)
        return {"view": copy.deepcopy(stored)}

    @_api("openid.connect.token", auth="client")
    def _openid_token(self, ctx: _Ctx) -> dict[str, Any]:
        grant_type = ctx.get("grant_type")
        if grant_type not in (None, "authorization_code"):
            raise _ApiError("invalid_grant_type")
        code = ctx.get("code")
        entry = self._codes.get(code or "")
        if entry is None or entry["used"]:
            raise _ApiError("invalid_code")
        if entry["redirect_uri"] is not None and ctx.get("redirect_uri") != entry["redirect_uri"]:
            raise _ApiError("bad_redirect_uri")
        entry["used"] = True
        token = self.issue_user_token(entry["user_id"], team_id=entry["team_id"])
        now = int(self.clock())
        claims = self._oidc_claims(entry["user_id"], entry["team_id"])
        claims.update({"iss": "https://slack.com", "aud": self.client_id, "iat": now,
                       "exp": now + 3600, "auth_time": now})  # fmt: skip
        if entry["nonce"]:
            claims["nonce"] = entry["nonce"]
        header = {"typ": "JWT", "alg": "RS256", "kid": "fake"}
        id_token = ".".join(
            [
                _b64url(json.dumps(header).encode()),
                _b64url(json.dumps(claims, ensure_ascii=False).encode()),
                _b64url(b"not-a-real-signature"),
            ]
        )
        return {"access_token": token, "token_type": "Bearer", "id_token": id_token}

    @_api("openid.connect.userInfo", auth="user", scope="openid")
    def _openid_userinfo(self, ctx: _Ctx) -> dict[str, Any]:
        p = ctx.principal
        assert p is not None
        return self._oidc_claims(p.user_id, p.team_id)

    def _oidc_claims(self, user_id: str, team_id: str) -> dict[str, Any]:
        user = self._users[user_id]
        given, _, family = user["real_name"].partition(" ")
        claims = {
            "sub": user_id,
            "https://slack.com/user_id": user_id,
            "https://slack.com/team_id": team_id,
            "https://slack.com/team_name": TEAM_NAME,
            "https://slack.com/team_domain": TEAM_DOMAIN,
            "email_verified": True,
            "date_email_verified": 1_700_000_000,
            "name": user["real_name"],
            "picture": "https://fake.slack.com/avatar.png",
            "given_name": given,
            "family_name": family,
            "locale": "ja-JP",
        }
        if user["email"]:
            claims["email"] = user["email"]
        return claims

    # ==================================================================== dispatch
    def _authenticate(self, spec: _MethodSpec, ctx: _Ctx) -> None:
        if spec.auth == "client":
            client_id = client_secret = None
            auth = ctx.headers.get("authorization", "")
            if auth.lower().startswith("basic "):
                try:
                    decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
                except (binascii.Error, UnicodeDecodeError):
                    raise _ApiError("invalid_client_id") from None
                client_id, _, client_secret = decoded.partition(":")
            else:
                client_id, client_secret = ctx.get("client_id"), ctx.get("client_secret")
            if not client_id or client_id != self.client_id:
                raise _ApiError("invalid_client_id")
            if not hmac.compare_digest(str(client_secret or ""), self.client_secret):
                raise _ApiError("bad_client_secret")
            return
        auth = ctx.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ctx.get("token")
        if not token:
            raise _ApiError("not_authed")
        if token in self._revoked:
            raise _ApiError("token_revoked")
        if token == self.bot_token and spec.auth == "bot":
            ctx.principal = _Principal("bot", token, BOT_USER_ID, scopes=frozenset(self.scopes))
        elif token in self._user_tokens:
            info = self._user_tokens[token]
            user = self._users.get(info["user_id"])
            if user is None or user["deleted"]:
                raise _ApiError("account_inactive")
            ctx.principal = _Principal(
                "user", token, info["user_id"], info["team_id"], scopes=OIDC_SCOPES
            )
        else:
            raise _ApiError("invalid_auth")
        if spec.scope and spec.scope not in ctx.principal.scopes:
            raise _ApiError(
                "missing_scope", needed=spec.scope, provided=",".join(sorted(ctx.principal.scopes))
            )

    def _execute(self, ctx: _Ctx, record: Call) -> _Reply:
        """Auth, rate limit, then the method; under the state lock."""
        spec = _METHODS.get(ctx.method)
        headers: dict[str, str] = {}
        with self._lock:
            try:
                if spec is None:
                    raise _ApiError("unknown_method")
                self._authenticate(spec, ctx)
                if ctx.principal is not None and ctx.principal.kind == "bot":
                    headers["X-OAuth-Scopes"] = ",".join(sorted(self.scopes))
                    if spec.scope:
                        headers["X-Accepted-OAuth-Scopes"] = spec.scope
                if self.rate_limits is not None:
                    channel = ctx.get("channel") if ctx.method == "chat.postMessage" else None
                    if isinstance(channel, str) and channel in self._users:
                        channel = self._dms.get(frozenset({channel}), channel)
                    wait = self.rate_limits.check(ctx.method, channel)
                    if wait > 0:
                        record.fault = "ratelimited"
                        headers["Retry-After"] = str(self.rate_limits.retry_after(wait))
                        return self._json_reply(
                            429, {"ok": False, "error": "ratelimited"}, record, headers
                        )
                body = {"ok": True, **spec.fn(self, ctx)}
            except _ApiError as e:
                body = {"ok": False, "error": e.error, **e.extra}
            return self._json_reply(200, body, record, headers)

    @staticmethod
    def _json_reply(
        status: int, body: dict[str, Any], record: Call, headers: dict[str, str]
    ) -> _Reply:
        record.status = status
        record.ok = bool(body.get("ok"))
        record.error = body.get("error")
        return _Reply(status, json.dumps(body, ensure_ascii=False).encode(), headers=headers)

    @staticmethod
    def _html_reply(status: int, record: Call) -> _Reply:
        reason = _HTML_STATUS.get(status, "Error")
        record.status, record.ok, record.error = status, False, f"http_{status}"
        html = f"<html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1></body></html>"
        return _Reply(status, html.encode(), "text/html; charset=utf-8")

    def handle_api(self, method: str, params: dict[str, Any], headers: dict[str, str],
                   http_method: str = "POST", path: str = "") -> _Reply:  # fmt: skip
        """One Web API call, faults included (the HTTP handler's entry point)."""
        record = Call(method, copy.deepcopy(params), dict(headers), time.monotonic(), time.time(),
                      http_method, path)  # fmt: skip
        with self._lock:
            self._calls.append(record)
        ctx = _Ctx(method, params, {k.lower(): v for k, v in headers.items()})
        fault = self._take_fault(method, params)
        if fault is None:
            return self._execute(ctx, record)
        record.fault = fault.kind
        if fault.sleep:
            time.sleep(fault.sleep)
        if fault.kind == "ratelimit":
            return self._json_reply(
                429,
                {"ok": False, "error": "ratelimited"},
                record,
                {"Retry-After": str(fault.retry_after)},
            )
        if fault.kind == "http_status":
            return self._html_reply(fault.status or 500, record)
        if fault.kind == "error":
            return self._json_reply(200, {"ok": False, "error": fault.error}, record, {})
        if fault.kind == "drop":
            record.status = None
            return _Reply(0, b"", drop=True)
        reply = self._execute(ctx, record)  # slow, apply_then_*
        if fault.kind == "apply_then_drop":
            record.status = None
            return _Reply(0, b"", drop=True)
        if fault.kind == "apply_then_status":
            return self._html_reply(fault.status or 500, record)
        return reply

    # -------------------------------------------------------------------- /_fake/ control
    def handle_control(self, action: str, http_method: str, query: dict[str, str],
                       body: dict[str, Any], key: str | None = None) -> _Reply:  # fmt: skip
        def ok(**data: Any) -> _Reply:
            return _Reply(200, json.dumps({"ok": True, **data}, ensure_ascii=False).encode())

        try:
            if action == "response" and http_method == "POST" and key is not None:
                with self._lock:
                    received = self._responses.get(key)
                    if received is None or len(received) >= 5:
                        return _Reply(404, b"used_url" if received is not None else b"no_service",
                                      "text/plain")  # fmt: skip
                    received.append(copy.deepcopy(body))
                return _Reply(200, b"ok", "text/plain")
            if key is not None:
                return _Reply(404, b'{"ok":false,"error":"unknown_control"}')
            if action == "faults" and http_method == "POST":
                body = dict(body)
                method = body.pop("method")
                times = body.pop("times", 1)
                self.inject(method, Fault(**body), times=times)
                return ok()
            if action == "faults" and http_method == "DELETE":
                self.clear_faults()
                return ok()
            if action == "calls":
                return ok(calls=[c.to_dict() for c in self.calls(query.get("method"))])
            if action == "reset" and http_method == "POST":
                self.reset()
                return ok()
            if action == "messages":
                return ok(messages=self.messages(query.get("channel")))
            if action == "users" and http_method == "POST":
                return ok(user=self.add_user(**body))
            if action == "channels" and http_method == "POST":
                return ok(channel=self.add_channel(**body))
            if action == "oidc_code" and http_method == "POST":
                return ok(code=self.issue_oidc_code(**body))
            if action == "login_as" and http_method == "POST":
                self.login_as(body.get("user_id"))
                return ok()
            if action == "rate_limits" and http_method == "POST":
                if body.pop("enabled", True):
                    self.enable_rate_limits(**body)
                else:
                    self.disable_rate_limits()
                return ok()
        except (TypeError, ValueError, KeyError) as e:
            return _Reply(400, json.dumps({"ok": False, "error": str(e)}).encode())
        return _Reply(404, json.dumps({"ok": False, "error": "unknown_control"}).encode())

    def handle_authorize(self, query: dict[str, str]) -> _Reply:
        """``GET /openid/connect/authorize``: sign in :attr:`authorize_user`, redirect back."""
        redirect_uri = query.get("redirect_uri")
        if query.get("client_id") != self.client_id or not redirect_uri:
            return _Reply(
                400, b"<p>invalid client_id or redirect_uri</p>", "text/html; charset=utf-8"
            )
        state = query.get("state", "")
        sep = "&" if "?" in redirect_uri else "?"
        if self.authorize_user is None:
            location = redirect_uri + sep + urlencode({"error": "access_denied", "state": state})
        else:
            team = query.get("team") or TEAM_ID
            code = self.issue_oidc_code(
                self.authorize_user, redirect_uri, nonce=query.get("nonce"), team_id=team
            )
            location = redirect_uri + sep + urlencode({"code": code, "state": state})
        return _Reply(302, b"", "text/plain", headers={"Location": location})


# ------------------------------------------------------------------------------------------
# HTTP plumbing
# ------------------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True
    fake: FakeSlack


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    ctype = content_type.split(";")[0].strip().lower()
    if not body:
        return {}
    if ctype == "application/json":
        data = json.loads(body.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        return data
    if ctype == "multipart/form-data":
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        out: dict[str, Any] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                payload = part.get_payload(decode=True) or b""
                out[str(name)] = payload.decode("utf-8", "replace")
        return out
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeSlack/1.0"
    timeout = 60
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        segments = [s for s in parts.path.split("/") if s]
        try:
            body = _parse_body(self.headers.get("Content-Type", ""), raw)
        except (ValueError, UnicodeDecodeError):
            body = None
        if segments[:1] == ["_fake"] and len(segments) in (2, 3):
            key = segments[2] if len(segments) == 3 else None
            reply = fake.handle_control(segments[1], self.command, query, body or {}, key)
        elif parts.path.rstrip("/").endswith("/openid/connect/authorize"):
            reply = fake.handle_authorize(query)
        elif not segments:
            reply = _Reply(404, b'{"ok":false,"error":"unknown_method"}')
        elif body is None:
            reply = _Reply(200, b'{"ok":false,"error":"invalid_form_data"}')
        else:
            params = {**query, **body}
            reply = fake.handle_api(segments[-1], params, dict(self.headers.items()),
                                    self.command, parts.path)  # fmt: skip
        self._send(reply)

    def _send(self, reply: _Reply) -> None:
        self.close_connection = True
        if reply.drop:
            return  # the server closes the socket: the client sees RemoteDisconnected
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("Connection", "close")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            pass
