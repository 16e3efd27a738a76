"""Ticket codes: what reception scans or types.

Pure: imports only the standard library.

Layout (version 1)::

    T1-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX

- ``T1`` is the version mark (a later layout starts ``T2``…).
- 28 symbols from a 30-character alphabet without look-alikes (no 0/O, 1/I/L, U):
  ``23456789ABCDEFGHJKMNPQRSTVWXYZ`` → about 137 bits from :mod:`secrets` (a CSPRNG),
  shown in groups of four for reading aloud.
- Parsing is forgiving (spaces, hyphens, lower case, full-width characters, the version mark
  left out when typing) and never raises: garbage gives ``None``.
"""

from __future__ import annotations

import secrets
import unicodedata

#: 30 symbols: no 0/O, 1/I/L or U/V pairs to confuse
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_SYMBOLS = 28  # 28 × log2(30) ≈ 137 bits
_BASE = len(ALPHABET)
VERSION = "T1"
MAX_INPUT = 200


def make_code() -> str:
    """A new random ticket code (≥ 128 bits of entropy): one uniform draw below 30²⁸, written
    in base 30 (the same distribution as 28 separate choices, for one call to the CSPRNG)."""
    n = secrets.randbelow(_BASE**_SYMBOLS)
    digits = []
    for _ in range(_SYMBOLS):
        n, d = divmod(n, _BASE)
        digits.append(ALPHABET[d])
    return format_code(VERSION + "".join(digits))


def format_code(compact: str) -> str:
    """``T1ABCD…`` → ``T1-ABCD-…`` (groups of four)."""
    version, body = compact[:2], compact[2:]
    return version + "-" + "-".join(body[i : i + 4] for i in range(0, len(body), 4))


def normalize_code(raw: str) -> str | None:
    """The canonical form of what someone scanned or typed, or None if it cannot be a code."""
    if not isinstance(raw, str) or len(raw) > MAX_INPUT:
        return None
    text = unicodedata.normalize("NFKC", raw).upper()
    compact = "".join(ch for ch in text if ch.isalnum())
    if len(compact) == _SYMBOLS and all(ch in ALPHABET for ch in compact):
        return format_code(VERSION + compact)  # typed without its version mark (T1-)
    if not compact.startswith(VERSION):
        return None
    body = compact[2:]
    if len(body) != _SYMBOLS or any(ch not in ALPHABET for ch in body):
        return None
    return format_code(VERSION + body)
