"""Verify that an incoming request (slash command, button click) really comes from Slack.

Pure: standard library only. Slack signs ``v0:{X-Slack-Request-Timestamp}:{raw body}`` with
HMAC-SHA256 under the app's signing secret and sends ``X-Slack-Signature: v0=<hex>``.

:func:`verify` never lets a malformed header escape as an unexpected exception (slack_sdk's
``SignatureVerifier`` raises ``ValueError`` on a non-numeric timestamp, which Flask turns into
a 500): every failure is a :class:`SignatureError` with a stable ``code`` the endpoint maps
to HTTP 401. Replays inside the 5-minute window are the caller's job (dedupe in the DB, e.g.
on the signature or ``trigger_id``).

Usage in a view::

    try:
        verify(secret, request.headers.get("X-Slack-Request-Timestamp"), request.get_data(),
               request.headers.get("X-Slack-Signature"), now=time.time())
    except SignatureError as e:
        return {"error": e.code}, 401
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

VERSION = "v0"
#: Slack's window: reject timestamps more than five minutes from now, either way.
TOLERANCE_SECONDS = 300

_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: no sign, no fraction, no "１２"
_SIGNATURE = re.compile(r"v0=([0-9a-fA-F]{64})")

#: Every ``SignatureError.code``.
CODES = frozenset(
    {
        "not_configured",  # empty signing secret: refuse rather than accept HMAC(b"", …)
        "missing_timestamp",
        "invalid_timestamp",
        "stale_timestamp",  # outside the window, past or future
        "missing_signature",
        "invalid_signature",  # malformed, unsupported version, or wrong HMAC
    }
)


class SignatureError(Exception):
    """The request is not (provably) from Slack; ``code`` is one of :data:`CODES`."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code
        self.message = message or code


@dataclass(frozen=True)
class VerifyResult:
    """A verified request: its Slack timestamp and how old it was when checked (s)."""

    timestamp: int
    age: float
    signature: str  # the normalised ``v0=<hex>``, usable as a replay-dedupe key


def _text(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return "\ufffd"  # non-ASCII header: malformed, not a crash
    return value


def sign(signing_secret: str, timestamp: str | int, body: bytes | str) -> str:
    """``v0=<hex>`` for a request; what Slack sends (used by tests and fakes)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    base = f"{VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def verify(
    signing_secret: str,
    timestamp: str | bytes | None,
    body: bytes | str,
    signature: str | bytes | None,
    now: float,
    *,
    tolerance: int = TOLERANCE_SECONDS,
) -> VerifyResult:
    """Check one request; return :class:`VerifyResult` or raise :class:`SignatureError`.

    ``timestamp`` and ``signature`` are the raw header values (``None`` when absent); ``body``
    is the raw request body exactly as received; ``now`` is the current Unix time.
    """
    if not signing_secret:
        raise SignatureError("not_configured", "no Slack signing secret is configured")
    ts_text = _text(timestamp)
    if ts_text is None or not ts_text.strip():
        raise SignatureError("missing_timestamp", "X-Slack-Request-Timestamp is missing")
    ts_text = ts_text.strip()
    if not _TIMESTAMP.fullmatch(ts_text):
        raise SignatureError("invalid_timestamp", "X-Slack-Request-Timestamp is not a Unix time")
    ts = int(ts_text)
    age = now - ts
    if abs(age) > tolerance:
        raise SignatureError("stale_timestamp", "the request is outside the 5-minute window")
    sig_text = _text(signature)
    if sig_text is None or not sig_text.strip():
        raise SignatureError("missing_signature", "X-Slack-Signature is missing")
    match = _SIGNATURE.fullmatch(sig_text.strip())
    if match is None:
        raise SignatureError("invalid_signature", "X-Slack-Signature is malformed")
    given = f"{VERSION}={match.group(1).lower()}"
    expected = sign(signing_secret, ts_text, body)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureError("invalid_signature", "X-Slack-Signature does not match")
    return VerifyResult(timestamp=ts, age=age, signature=given)


def is_valid(
    signing_secret: str,
    timestamp: str | bytes | None,
    body: bytes | str,
    signature: str | bytes | None,
    now: float,
) -> bool:
    """:func:`verify` as a boolean."""
    try:
        verify(signing_secret, timestamp, body, signature, now)
    except SignatureError:
        return False
    return True
