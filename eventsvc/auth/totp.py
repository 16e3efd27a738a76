"""Second factor: TOTP codes (RFC 6238, via pyotp) and one-time recovery codes.

Pure: imports only the standard library, pyotp and cryptography.

- Secrets are 160-bit base32 strings (what authenticator apps expect), shown once as a QR
  code of an ``otpauth://`` URI and as text in groups of four for typing.
- A code is 6 digits for a 30-second step; the step before and after are accepted (clock
  drift), and :func:`verify` returns the step it matched so the caller can refuse that
  step and every earlier one next time (a code seen over a shoulder is good once).
- Secrets are sealed at rest (:func:`seal`: Fernet — AES-128-CBC with HMAC-SHA256 — under a
  key derived with HKDF from the app's secret key), so a copy of the database (a backup) does
  not give away second factors. A new secret key makes sealed secrets unreadable: the admin
  resets the second factor (``eventsvc organizer reset-2fa``). Unsealed values from before are
  read as they are and sealed at their next use.
- Recovery codes are 16 characters of Crockford-like base32 without look-alikes
  (no 0/O, 1/I/L, U), shown as ``XXXX-XXXX-XXXX-XXXX``: 80 bits each, so a plain SHA-256
  of the normalised code is enough at rest. Typing is forgiving: case, spaces and
  hyphens are ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

STEP_SECONDS = 30
DIGITS = 6
#: the steps around now that are accepted
DRIFT = 1
RECOVERY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0 O 1 I L U
RECOVERY_LENGTH = 16
RECOVERY_COUNT = 10

_DIGITS_RE = re.compile(r"^\d{6}$")


def new_secret() -> str:
    return pyotp.random_base32(32)


SEALED = "v1:"


class UnreadableSecret(Exception):  # noqa: N818 - a state, not a failed check
    """A sealed secret that the current key cannot open (the secret key changed)."""


def sealing_key(app_secret: str, purpose: bytes = b"eventsvc totp secrets v1") -> bytes:
    """The Fernet key for TOTP secrets (or another ``purpose``: each gets its own key), derived
    from the app's secret key."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(app_secret.encode())
    return base64.urlsafe_b64encode(raw)


def seal(secret: str, key: bytes) -> str:
    return SEALED + Fernet(key).encrypt(secret.encode()).decode()


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED)


def unseal(stored: str, key: bytes) -> str:
    """The secret; a value stored before sealing existed is returned as it is."""
    if not is_sealed(stored):
        return stored
    try:
        return Fernet(key).decrypt(stored[len(SEALED):].encode()).decode()
    except InvalidToken:
        raise UnreadableSecret() from None


def grouped(secret: str) -> str:
    """``ABCD EFGH …``: the secret as people type it into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=account,
                                                                                     issuer_name=issuer)


def step_at(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret: str, now: datetime) -> str:
    """The code an app shows at ``now`` (tests and the CLI use it)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step_at(now))


def clean_code(value: str) -> str:
    """What was typed, without spaces and hyphens, upper-cased; full-width digits become ASCII."""
    table = {ord(c): ord("0") + i for i, c in enumerate("０１２３４５６７８９")}
    return re.sub(r"[\s\-‐－ー]", "", (value or "").translate(table)).upper()


def looks_like_totp(value: str) -> bool:
    return bool(_DIGITS_RE.match(clean_code(value)))


@dataclass(frozen=True)
class Check:
    """What a typed code is: good for ``step``, or (``step`` None) wrong or ``replayed``."""

    step: int | None
    #: right for a step around now, but that step (or a later one) was used already
    replayed: bool = False


def check(secret: str, code: str, now: datetime, last_step: int | None) -> Check:
    """Whether ``code`` is good now, and if not, whether it is a code already used.

    Every step of the window is compared (in constant time), used or not, so the time taken
    does not depend on where or whether the code matched. Telling "already used" from "wrong"
    says only that the code was right for a step that is used up: its typist has just seen it
    on the app, and it opens nothing."""
    code = clean_code(code)
    if not _DIGITS_RE.match(code):
        return Check(None)
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    now_step = step_at(now)
    good, used = None, False
    for step in range(now_step - DRIFT, now_step + DRIFT + 1):
        matches = hmac.compare_digest(totp.generate_otp(step), code)
        spent = last_step is not None and step <= last_step
        if matches and spent:
            used = True
        elif matches and good is None:
            good = step
    return Check(good) if good is not None else Check(None, replayed=used)


def verify(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to, or None (wrong, or that step was already used)."""
    return check(secret, code, now, last_step).step


def new_recovery_codes(count: int = RECOVERY_COUNT) -> list[str]:
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, RECOVERY_LENGTH, 4)))
    return codes


def hash_recovery_code(code: str) -> str | None:
    """The stored form of a recovery code, or None when it cannot be one."""
    cleaned = clean_code(code)
    if len(cleaned) != RECOVERY_LENGTH or any(c not in RECOVERY_ALPHABET for c in cleaned):
        return None
    return hashlib.sha256(cleaned.encode("ascii")).hexdigest()
