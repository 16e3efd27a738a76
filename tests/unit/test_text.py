"""Text rules: what may be stored, and how e-mails and readings are normalised."""

import pytest

from eventsvc.core.text import (
    TextError,
    check_text,
    is_slug,
    normalize_email,
    search_key,
    to_katakana,
)


@pytest.mark.parametrize("bad", ["a\x00b", "a\x07b", "\u202eevil", "x\u2066y", "a\ud800b", "\x85"])
def test_control_and_bidi_characters_are_refused(bad):
    with pytest.raises(TextError):
        check_text(bad, max_length=100)


def test_newlines_only_in_multiline_text():
    with pytest.raises(TextError):
        check_text("a\nb", max_length=10)
    assert check_text(" a\r\nb ", max_length=10, multiline=True) == "a\nb"


@pytest.mark.parametrize("blank", ["\u200b", "\u2060", "\u200b\u200c\u200d", "\u3164", "\u2800", "\u0301",
                                   " \u200b\u3000", "\u00ad"])
def test_text_that_shows_nothing_counts_as_empty(blank):
    assert check_text(blank, max_length=100) == ""


@pytest.mark.parametrize("shown", ["山田", "👨\u200d👩\u200d👧", "e\u0301", "a\u200bb", "𠮷"])
def test_joiners_and_marks_inside_visible_text_stay(shown):
    assert check_text(shown, max_length=100) == shown


def test_length_is_counted_in_characters_and_rare_kanji_survive():
    assert check_text("𠮷野家🍣", max_length=4) == "𠮷野家🍣"
    with pytest.raises(TextError) as err:
        check_text("あ" * 11, max_length=10)
    assert err.value.code == "too_long"


def test_email_is_nfkc_trimmed_lowercased():
    assert normalize_email("  Ｔａｒｏ＠Ｃｉｔｙ．Ｎａｈａ．ＬＧ．ＪＰ ") == "taro@city.naha.lg.jp"


def test_readings_become_full_width_katakana():
    assert to_katakana("やまだ はなこ") == "ヤマダ ハナコ"
    assert to_katakana("ﾔﾏﾀﾞ") == "ヤマダ"


def test_search_key_folds_kana_width_and_spaces():
    assert search_key("やまだ はなこ") == search_key("ﾔﾏﾀﾞﾊﾅｺ") == search_key("ヤマダ　ハナコ")


@pytest.mark.parametrize("slug, ok", [("naha-2024", True), ("a", True), ("-x", False), ("X", False),
                                      ("a_b", False), ("a" * 65, False), ("", False)])
def test_slugs(slug, ok):
    assert is_slug(slug) is ok
