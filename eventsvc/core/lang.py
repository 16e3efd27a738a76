"""Language of parts (WCAG 2.1 SC 3.1.2): marking Japanese text shown on a page in another language.

Pure: imports only the standard library and ``markupsafe``. An English page (``<html lang="en">``)
still shows what people typed in Japanese (event titles, descriptions, survey questions, names of
organisations and teams…); without ``lang="ja"`` on it, a screen reader reads it with English rules
(or spells it out character by character). ``web.register_web`` turns these into the template
filters ``lang_ja`` and ``lang_ja_attr``, which do something only on a page that is not in Japanese.
"""

from __future__ import annotations

import re

from markupsafe import Markup

__all__ = ["has_japanese", "lang_attr", "mark_japanese"]

#: the letters of Japanese writing: kana and ideographs. Punctuation (、。「」・), full-width Latin
#: letters and digits are shared with other text and do not count on their own.
_JAPANESE = re.compile(
    "["
    "\u3005-\u3007\u303b"  # 々 〆 〇 〻
    "\u3041-\u3096\u309d-\u309f"  # hiragana, ゝゞゟ
    "\u30a1-\u30fa\u30fc-\u30ff"  # katakana, ー ヽヾヿ (not the middle dot ・)
    "\u31f0-\u31ff"  # small katakana for Ainu (ㇰ…)
    "\u32d0-\u32fe\u3300-\u3357"  # circled and squared katakana (㋐, ㌔)
    "\u3400-\u4dbf\u4e00-\u9fff"  # CJK ideographs, extension A
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9d"  # half-width katakana and ｰ
    "\U0001b000-\U0001b16f"  # kana supplement and extension A (hentaigana)
    "\U00020000-\U000323af"  # CJK ideographs, extensions B to H (𠮷), compatibility supplement
    "]"
)

_SPAN = Markup('<span lang="ja">{}</span>')
_ATTR = Markup(' lang="ja"')


def has_japanese(text: str | None) -> bool:
    """Whether ``text`` has a kana or an ideograph in it."""
    return bool(text) and _JAPANESE.search(text) is not None


def mark_japanese(value):
    """``value`` in ``<span lang="ja">…</span>`` when it is text with Japanese in it, else unchanged.

    The value is escaped (``<script>`` and quotes come out as text), unless it is already
    ``Markup``: safe HTML (rendered Markdown, a translated message with values in it) is kept as
    it is. Anything that is not a string (None, a number, a lazy translation) is returned as given.
    """
    if isinstance(value, str) and has_japanese(value):
        return _SPAN.format(value)
    return value


def lang_attr(value) -> Markup:
    """`` lang="ja"`` (leading space) for an element whose content is ``value``, when that is text
    with Japanese in it; else nothing. For block content a span cannot hold (rendered Markdown)."""
    return _ATTR if isinstance(value, str) and has_japanese(value) else Markup("")
