"""The English catalogue: complete, compiled, and faithful to each message's placeholders.

Messages are written in Japanese in the code; ``eventsvc/translations/en/LC_MESSAGES/messages.po``
holds the English. These tests extract the messages afresh (as ``pybabel extract`` does with
``babel.cfg``), so a new ``_()`` without an English msgstr fails here with its file and line.
The workflow is in README.md, "Translations".
"""

from __future__ import annotations

import os
import re
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "eventsvc" / "translations" / "en" / "LC_MESSAGES"
#: the README's ``pybabel extract -F babel.cfg -k _l -k lazy_gettext --ignore-dirs ".*"``
#: (Babel's default keywords include ``N_``; only dot-directories are skipped, so ``_macros/`` is read)
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
HOW_TO = (
    "Run, from the repository root:\n"
    "  pybabel extract -F babel.cfg -k _l -k lazy_gettext --ignore-dirs '.*' -o messages.pot .\n"
    "  pybabel update -i messages.pot -d eventsvc/translations\n"
    "then write the English msgstr for each of these in "
    "eventsvc/translations/en/LC_MESSAGES/messages.po (and drop any '#, fuzzy'), and\n"
    "  pybabel compile -d eventsvc/translations"
)
#: ``%(name)s``, ``%s``, ``%d`` and ``%%``: what ``gettext(..., **values)`` will substitute
PLACEHOLDER = re.compile(r"%(?:\([A-Za-z_][A-Za-z0-9_]*\))?[sdfr%]")


def _extracted() -> dict[str, list[str]]:
    """msgid → where it is used, from the source and templates as they are now."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS,
            directory_filter=lambda path: not os.path.basename(path).startswith(".")):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def catalogue():
    with open(CATALOGUE / "messages.po", "rb") as fh:
        return read_po(fh, locale="en")


def test_extraction_finds_the_messages():
    found = _extracted()
    assert len(found) > 1000
    assert "参加区分" in found  # a template
    assert "メールアドレスを入力してください。" in found  # lazy_gettext in a form
    assert "見つかりません。" in found  # N_ in errors.py
    assert "下書き" in found  # templates/_macros/ (Babel skips "_" directories unless told)
    assert "%(name)s 様" in found  # an e-mail template (.txt)


def test_every_message_has_an_english_translation(catalogue):
    missing = []
    for msgid, where in sorted(_extracted().items(), key=lambda kv: kv[1][0]):
        message = catalogue.get(msgid)
        if message is None:
            missing.append(f"  {where[0]}: {msgid!r} (not in messages.po)")
        elif not message.string or not str(message.string).strip():
            missing.append(f"  {where[0]}: {msgid!r} (empty msgstr)")
        elif message.fuzzy:
            missing.append(f"  {where[0]}: {msgid!r} (fuzzy: check the English, then remove the flag)")
    assert not missing, f"{len(missing)} message(s) without English:\n" + "\n".join(missing) + "\n" + HOW_TO


def test_placeholders_are_the_same_in_english(catalogue):
    wrong = []
    for message in catalogue:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        want = sorted(PLACEHOLDER.findall(ids[0]))
        for s in strings:
            if sorted(PLACEHOLDER.findall(s)) != want:
                wrong.append(f"  {ids[0]!r}: {want} → {s!r}")
    assert not wrong, "msgstr placeholders differ from the msgid's:\n" + "\n".join(wrong)


#: Japanese kept inside English on purpose: examples of what people type (place names, readings)
JAPANESE_KEPT = re.compile(r"那覇市|デジタル庁|やまだ|〇〇広域連合")


def test_english_is_not_left_japanese(catalogue):
    """A msgstr copied from its msgid, or half translated, still has kana in it."""
    kana = re.compile(r"[\u3040-\u30ff]")
    left = [m.id for m in catalogue if m.id and m.string and kana.search(JAPANESE_KEPT.sub("", str(m.string)))]
    assert not left, f"Japanese left in the English msgstr of: {left}"


def test_committed_mo_is_compiled_from_the_po(catalogue):
    """The .mo is committed (a fresh clone works without a compile step): it must match the .po."""
    fresh = BytesIO()
    write_mo(fresh, catalogue)
    committed = (CATALOGUE / "messages.mo").read_bytes()
    assert fresh.getvalue() == committed, (
        "messages.mo is out of date with messages.po: run `pybabel compile -d eventsvc/translations` "
        "and commit messages.mo")
