"""``core.i18n.Message``: Japanese as a string, translatable from its template on a page."""

from __future__ import annotations

import copy
import json
import pickle

from flask import Flask
from flask_babel import Babel

from eventsvc.core.i18n import N_, Message, join, msg
from eventsvc.errors import page_fields, page_message


def test_the_string_is_the_japanese_text_formatted():
    m = msg(N_("「%(name)s」さんが対象の参加者に見つかりません。"), name="比嘉 太郎")
    assert isinstance(m, str) and isinstance(m, Message)
    assert m == "「比嘉 太郎」さんが対象の参加者に見つかりません。"
    assert m.template == "「%(name)s」さんが対象の参加者に見つかりません。" and m.params == {"name": "比嘉 太郎"}
    assert json.dumps({"message": m}, ensure_ascii=False) == '{"message": "「比嘉 太郎」さんが対象の参加者に見つかりません。"}'
    # a percent sign in a value is a value, not a placeholder
    assert msg(N_("%(n)s文字以内で入力してください。"), n="100%") == "100%文字以内で入力してください。"


def test_concatenation_gives_a_plain_string():
    m = msg(N_("%(n)s文字以内で入力してください。"), n=100)
    joined = m + " 他"
    assert joined == "100文字以内で入力してください。 他" and type(joined) is str
    assert type(" ".join([m, m])) is str and type(f"{m}") is str


def test_pickling_and_copying_keep_template_and_values():
    m = msg(N_("「%(ticket_type)s」は満席です。"), ticket_type="会場参加")
    for other in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m), copy.copy(m)):
        assert other == m and isinstance(other, Message)
        assert (other.template, other.params) == (m.template, m.params)


def test_msg_of_a_message_is_that_message():
    m = msg(N_("%(n)s文字以内で入力してください。"), n=5)
    assert msg(m) is m
    assert msg(N_("氏名")).params == {} and msg(N_("氏名")) == "氏名"


def test_join_keeps_the_parts():
    a, b = msg(N_("No.%(number)s は対象の参加者にいません。"), number=7), N_("ほかのチームと同じ名前です。")
    j = join([a, b])
    assert j == f"{a} {b}"
    assert join([a]) is a


def _app():
    app = Flask(__name__)
    Babel(app, locale_selector=lambda: "ja")
    return app


def test_a_japanese_page_shows_the_same_text():
    with _app().test_request_context():
        m = msg(N_("「%(name)s」さんが対象の参加者に見つかりません。"), name="比嘉 太郎")
        assert page_message(m) == str(m)
        assert page_message("イベントが見つかりません。") == "イベントが見つかりません。"
        assert page_message("") == ""
        assert page_fields({"a": m}) == {"a": str(m)}


def test_an_english_page_translates_the_template_and_values_that_are_messages():
    from pathlib import Path

    import eventsvc

    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(Path(eventsvc.__file__).parent / "translations")
    Babel(app, locale_selector=lambda: "en")
    with app.test_request_context():
        m = msg(N_("「%(name)s」さんが対象の参加者に見つかりません。"), name="比嘉 太郎")
        assert page_message(m) == '"比嘉 太郎" was not found among the people being divided.'
        assert page_message(N_("イベントが見つかりません。")) == "Event not found."
        assert page_message("利用者が入力した文") == "利用者が入力した文"  # not in the catalogue: as it is
        nested = msg(N_("%(label)sを入力してください。"), label=msg(N_("氏名")))
        assert page_message(nested) == "Full name is required."
        both = join([msg(N_("No.%(number)s は対象の参加者にいません。"), number=7), N_("ほかのチームと同じ名前です。")])
        assert page_message(both) == "No.7 is not among the people being divided. Another team already has this name."
