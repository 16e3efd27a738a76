"""What the desk does with scanned text before it touches the database.

Pure: imports only the standard library and :mod:`eventsvc.registration.tickets`
(itself pure).

- :func:`extract_code` turns whatever a camera, a keyboard-wedge scanner or a person
  produced into a canonical ticket code, or None. It accepts what
  :func:`~eventsvc.registration.tickets.normalize_code` accepts (spaces, hyphens, lower
  case, full-width) and also a code inside a short URL or sentence (a ticket QR that
  encodes a link).
- :func:`input_hash` is all that is ever kept of input that matched nothing.
- :func:`code_hash` is how the offline snapshot names a ticket without carrying the code.
- :func:`kana_key` orders readings in 50音順.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from ..registration.tickets import ALPHABET, VERSION, normalize_code

#: longest text searched for an embedded code (a URL); longer input is garbage
MAX_SEARCH = 500
_EMBEDDED = re.compile(
    rf"(?<![0-9A-Z]){VERSION}(?:[ \-]?[{ALPHABET}]){{28}}(?![0-9A-Z])"
)


def extract_code(raw: object) -> str | None:
    """The canonical ticket code in ``raw``, or None. Never raises."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        code = normalize_code(raw)
        if code is not None or len(raw) > MAX_SEARCH:
            return code
        text = unicodedata.normalize("NFKC", raw).upper()
        found = _EMBEDDED.findall(text)
        if len(found) != 1:  # none, or ambiguous
            return None
        return normalize_code(found[0])
    except (ValueError, TypeError):  # e.g. lone surrogates in odd places
        return None


def input_hash(raw: object) -> str:
    """First 16 hex digits of the SHA-256 of the raw input (any string, even binary)."""
    if not isinstance(raw, str):
        raw = repr(raw)
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def code_hash(code: str) -> str:
    """SHA-256 (hex) of a canonical code: the key of a ticket in the offline snapshot.

    Codes carry about 137 bits of randomness, so the hash cannot be turned back into a
    code, and a device that loses its snapshot loses no ticket.
    """
    return hashlib.sha256(code.encode("ascii")).hexdigest()


_SMALL = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_MARKS = ("\u3099", "\u309a")  # combining (han)dakuten after NFD


def kana_key(reading: str) -> tuple[str, str]:
    """Sort key for 50音順: voiced and small kana sort with their plain kana first.

    ``ガ`` sorts with ``カ`` (then after it on a tie), ``ッ`` with ``ツ``; hiragana and
    half-width readings fold to katakana. The second element breaks ties stably.
    """
    text = unicodedata.normalize("NFKC", reading or "").strip()
    text = re.sub("[\u3041-\u3096]", lambda m: chr(ord(m.group(0)) + 0x60), text)
    text = re.sub(r"[\s・=＝]+", "", text)
    decomposed = unicodedata.normalize("NFD", text)
    plain = "".join(ch for ch in decomposed if ch not in _MARKS).translate(_SMALL)
    return plain, text
