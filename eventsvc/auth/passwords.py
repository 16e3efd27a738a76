"""What makes a new password too easy to guess: it is on a list of common passwords, or it
contains the account's own e-mail address or name.

The list is Django's (``data/common-passwords.txt.gz``, BSD licence, see ``data/README.md``),
read once on first use. Comparisons are made on NFKC-normalised, lower-cased text, so that
``Password123`` and the full-width ``ｐａｓｓｗｏｒｄ１２３`` (typed with a Japanese input method
left on) count as ``password123``; the password itself is hashed as typed.

Pure: the standard library only.
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from functools import cache
from importlib import resources

LIST_FILE = "common-passwords.txt.gz"
#: a part of the address or name shorter than this is not looked for inside a password
#: (``ai``, ``jp`` or ``山田`` turn up in good passwords by chance)
MIN_PERSONAL_PART = 4
_SEPARATORS = re.compile(r"[\s._+\-]+")


def fold(text: str) -> str:
    """The form passwords are compared in: NFKC, lower case, no surrounding spaces."""
    return unicodedata.normalize("NFKC", text).strip().lower()


@cache
def common_passwords() -> frozenset[str]:
    """The lower-cased common passwords (read from the package data at the first call)."""
    data = resources.files(__package__).joinpath("data", LIST_FILE)
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        return frozenset(word for word in (line.strip() for line in lines) if word)


def has_control_characters(password: str) -> bool:
    """Characters nobody can type at a login form (NUL, other control and format characters
    such as bidi overrides): a password made with them locks its owner out."""
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in password)


def is_common(password: str) -> bool:
    return fold(password) in common_passwords()


def personal_parts(email: str, name: str) -> set[str]:
    """What of the address and name should not be inside the password: the address's local
    part and the name (spaces removed), and their pieces (``taro.yamada`` → ``yamada``), each
    folded and at least :data:`MIN_PERSONAL_PART` characters long."""
    parts: set[str] = set()
    for text in (email.rpartition("@")[0] if "@" in email else email, name):
        folded = fold(text)
        pieces = [p for p in _SEPARATORS.split(folded) if p]
        parts.update(pieces)
        parts.add("".join(pieces))
    return {p for p in parts if len(p) >= MIN_PERSONAL_PART}


def contains_personal(password: str, *, email: str, name: str) -> bool:
    """The password contains (or is) the address's local part, the name, or a piece of them."""
    folded = "".join(_SEPARATORS.split(fold(password)))
    return any(part in folded for part in personal_parts(email, name))
