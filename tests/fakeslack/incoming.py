"""Requests Slack sends *to* eventsvc: signed slash commands and button clicks.

Each builder returns ``(body, headers)`` ready for a Flask test client::

    body, headers = block_action(secret, value="naha-3", user_id=uid,
                                 response_url=fake.new_response_url())
    client.post("/slack/interactivity", data=body, headers=headers)

The signature is computed independently of ``eventsvc.slack.signature`` (HMAC-SHA256 of
``v0:{ts}:{body}``, as docs.slack.dev describes), so tests of the endpoint are not circular.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from .server import TEAM_DOMAIN, TEAM_ID

FORM = "application/x-www-form-urlencoded"


def signed_headers(
    signing_secret: str, body: bytes, *, timestamp: int | str | None = None
) -> dict[str, str]:
    """``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` for ``body`` (now by default)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(
        signing_secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256
    ).hexdigest()
    return {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }


def slash_command(
    signing_secret: str,
    *,
    user_id: str,
    command: str = "/events",
    text: str = "",
    channel_id: str = "C0FAKE0001",
    response_url: str = "https://hooks.slack.com/commands/T0FAKE/1/x",
    team_id: str = TEAM_ID,
    timestamp: int | str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A slash-command POST: the form fields Slack sends."""
    fields = {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": "kyushu-okinawa",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0FAKE",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**9)}.{secrets.token_hex(8)}",
    }
    body = urlencode(fields).encode()
    return body, signed_headers(signing_secret, body, timestamp=timestamp)


def block_action_payload(
    *,
    user_id: str,
    value: str,
    action_id: str = "register",
    response_url: str = "https://hooks.slack.com/actions/T0FAKE/1/x",
    team_id: str = TEAM_ID,
    channel_id: str = "C0FAKE0001",
    message_ts: str = "1750000000.000001",
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """The ``block_actions`` payload for a click on a button with ``action_id`` / ``value``
    (``trigger_id``: one from ``FakeSlack.new_trigger`` when the click may open a modal)."""
    now = time.time()
    return {
        "type": "block_actions",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": team_id},
        "api_app_id": "A0FAKE",
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": True,
        },  # fmt: skip
        "trigger_id": trigger_id or f"{int(now)}.{secrets.randbelow(10**9)}.{secrets.token_hex(8)}",
        "channel": {"id": channel_id, "name": "kyushu-okinawa"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": secrets.token_hex(3),
                "text": {"type": "plain_text", "text": "参加登録", "emoji": True},
                "value": value,
                "action_ts": f"{now:.6f}",
            }
        ],
    }


def block_action(
    signing_secret: str,
    *,
    user_id: str,
    value: str,
    action_id: str = "register",
    response_url: str = "https://hooks.slack.com/actions/T0FAKE/1/x",
    timestamp: int | str | None = None,
    **payload_options: Any,
) -> tuple[bytes, dict[str, str]]:
    """An interactivity POST: form field ``payload`` holding the JSON above."""
    payload = block_action_payload(
        user_id=user_id, value=value, action_id=action_id, response_url=response_url,
        **payload_options,
    )  # fmt: skip
    body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()
    return body, signed_headers(signing_secret, body, timestamp=timestamp)


def view_submission(
    signing_secret: str,
    view: dict[str, Any],
    values: dict[str, Any],
    *,
    user_id: str,
    team_id: str = TEAM_ID,
    timestamp: int | str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The interactivity POST for a modal sent with ``values`` (block id → the element's state,
    e.g. ``{"name": {"value": {"type": "plain_text_input", "value": "…"}}}``)."""
    sent = dict(view, state={"values": values})
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": team_id},
        "api_app_id": "A0FAKE",
        "token": "deprecated-verification-token",
        "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**9)}.{secrets.token_hex(8)}",
        "view": sent,
        "response_urls": [],
    }
    body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()
    return body, signed_headers(signing_secret, body, timestamp=timestamp)
