"""Text rules shared by every form and endpoint.

Pure: imports only the standard library (and ``core.i18n``). Input is checked here before it reaches
the database (PostgreSQL rejects NUL; bidi overrides can disguise names and links).
"""

from __future__ import annotations

import re
import unicodedata

from .i18n import N_, msg

# C0/C1 controls except tab, LF, CR; plus the bidi embedding/override/isolate marks.
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_HIRAGANA = re.compile("[\u3041-\u3096]")
#: characters that show nothing on their own: format characters (zero-width space, word joiner…),
#: separators, combining marks, and the letters and symbols drawn blank (Hangul fillers, blank braille)
_BLANK_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp", "Cc", "Mn", "Me"})
_BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def has_visible_character(value: str) -> bool:
    """Whether ``value`` shows anything: a name of zero-width characters is no name."""
    return any(ch not in _BLANK_CHARACTERS and unicodedata.category(ch) not in _BLANK_CATEGORIES for ch in value)


class TextError(ValueError):
    """The text cannot be stored; ``code`` says why (``control_characters``, ``too_long``…)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def check_text(value: str, *, max_length: int | None = None, multiline: bool = False) -> str:
    """Trim and validate a user-supplied string; raise :class:`TextError` if unusable.

    Tabs and newlines are allowed only when ``multiline``; every other control
    character, NUL, lone surrogates and bidi overrides are refused rather than
    silently dropped, so the user sees what was wrong. Text that shows nothing (only
    zero-width or other blank characters) counts as empty: ``""``.
    """
    if _SURROGATE.search(value):
        raise TextError("invalid_characters", N_("使用できない文字が含まれています。"))
    if _FORBIDDEN.search(value) or (not multiline and re.search("[\t\r\n]", value)):
        raise TextError("control_characters", N_("制御文字は使用できません。"))
    value = value.replace("\r\n", "\n").strip()
    if value and not has_visible_character(value):
        return ""
    if max_length is not None and len(value) > max_length:
        raise TextError("too_long", msg(N_("%(n)s文字以内で入力してください。"), n=max_length))
    return value


def clean_field(errors: dict, key: str, value, max_length: int, *, required: bool = False,
                multiline: bool = False, label: str = "") -> str:
    """:func:`check_text` for one field of a larger input: problems go into ``errors[key]``.

    Services validate a whole input at once and report every field; this returns the
    cleaned value (or what was given, for redisplay) and records at most one message.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[key] = N_("文字列で入力してください。")
        return ""
    try:
        value = check_text(value, max_length=max_length, multiline=multiline)
    except TextError as err:
        errors[key] = err.message
        return value
    if required and not value:
        errors[key] = msg(N_("%(label)sを入力してください。"), label=msg(label)) if label else N_("入力してください。")
    return value


def normalize_email(value: str) -> str:
    """The one canonical form of an address: NFKC, trimmed, lower-cased."""
    return unicodedata.normalize("NFKC", value).strip().lower()


def to_katakana(value: str) -> str:
    """Full-width katakana reading: NFKC (half-width → full-width), hiragana → katakana."""
    value = unicodedata.normalize("NFKC", value).strip()
    return _HIRAGANA.sub(lambda m: chr(ord(m.group(0)) + 0x60), value)


def search_key(value: str) -> str:
    """A key for matching names and readings however they were typed.

    NFKC (full-width ASCII and half-width kana fold), katakana, lower case, no spaces.
    """
    return re.sub(r"\s+", "", to_katakana(value)).lower()


_KANA_OK = re.compile(r"^[\u30a0-\u30ffー\s・=＝]+$")


def is_katakana_reading(value: str) -> bool:
    """True for a reading made of katakana, long marks, middle dots and spaces."""
    return bool(_KANA_OK.match(value))


_SLUG_OK = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def is_slug(value: str) -> bool:
    """Slugs are ``[a-z0-9-]``, 1–64 characters, no leading/trailing hyphen."""
    return bool(_SLUG_OK.match(value))
