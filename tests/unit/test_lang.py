"""Language of parts: which text is Japanese, and how it is marked (escaped) for an English page."""

import pytest
from markupsafe import Markup

from eventsvc.core.lang import has_japanese, lang_attr, mark_japanese


@pytest.mark.parametrize("text", [
    "自治体職員の勉強会", "ひらがな", "カタカナ", "ｶﾀｶﾅ", "DX推進 in 那覇", "Python もくもく会", "々", "〇〇広域連合",
    "𠮷野家", "ー", "㌔", "#沖縄-勉強会", "参加者アンケート 2025",
])
def test_kana_and_ideographs_are_japanese(text):
    assert has_japanese(text)


@pytest.mark.parametrize("text", [
    "", None, "Digital transformation meetup", "Café Zürich", "ＡＢＣ１２３", "、。「」・〜（）", "2025/04/01 13:30",
    "한국어", "Ελληνικά", "🍣", "#general",
])
def test_latin_punctuation_hangul_and_emoji_are_not(text):
    assert not has_japanese(text)


def test_japanese_text_gets_a_span():
    assert mark_japanese("窓口BPR") == Markup('<span lang="ja">窓口BPR</span>')
    assert isinstance(mark_japanese("窓口BPR"), Markup)


@pytest.mark.parametrize("value", ["Digital government", "", None, 42, "、。"])
def test_other_values_are_returned_as_given(value):
    assert mark_japanese(value) is value


def test_the_value_is_escaped_never_html():
    out = mark_japanese('勉強会<script>alert("x")</script>\'&"')
    assert out == Markup('<span lang="ja">勉強会&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;&amp;&#34;</span>')
    assert "<script>" not in out and '"x"' not in out


def test_an_attribute_breakout_stays_text():
    out = mark_japanese('"><img src=x onerror=alert(1)> 勉強会')
    assert out == Markup('<span lang="ja">&#34;&gt;&lt;img src=x onerror=alert(1)&gt; 勉強会</span>')


def test_braces_are_not_a_format_string():
    assert mark_japanese("{0} {} 会") == Markup('<span lang="ja">{0} {} 会</span>')


def test_markup_is_kept_as_safe_html():
    safe = Markup("<strong>大事</strong> &amp; more")
    assert mark_japanese(safe) == Markup('<span lang="ja"><strong>大事</strong> &amp; more</span>')


def test_a_lang_attribute_for_block_content():
    assert lang_attr(Markup("<p>説明</p>")) == Markup(' lang="ja"')
    assert lang_attr("English only") == Markup("")
    assert lang_attr(None) == Markup("")
    assert isinstance(lang_attr("説明"), Markup)
