"""Forms of the desk (they work without JavaScript) and of staff-link management."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Optional

from ..formfields import DateTimeLocalField, Length

DT = "%Y-%m-%dT%H:%M"


class ScanForm(FlaskForm):
    """A typed code, or what a USB/Bluetooth scanner types (code + Enter)."""

    # no length check here: anything that is not a ticket code answers "unknown code"
    code = StringField(_l("チケットコード"), description=_l("スキャナーで読み取るか、コードを入力して Enter"),
                       render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false",
                                  "enterkeyhint": "go", "autofocus": True})
    nonce = HiddenField()


class WalkInForm(FlaskForm):
    name = StringField(_l("氏名"), validators=[DataRequired(_l("氏名を入力してください。")), Length(max=100)],
                       render_kw={"autocomplete": "off"})
    name_kana = StringField(_l("ふりがな"), validators=[DataRequired(_l("ふりがなを入力してください。")), Length(max=100)],
                            render_kw={"autocomplete": "off"})
    email = EmailField(_l("メールアドレス"), validators=[DataRequired(_l("メールアドレスを入力してください。")),
                                                   Length(max=320)], render_kw={"autocomplete": "off"})
    organization_name = StringField(_l("所属"), validators=[Optional(), Length(max=200)],
                                    description=_l("例: 那覇市、デジタル庁"), render_kw={"autocomplete": "off"})
    ticket_type = SelectField(_l("参加区分"), validators=[InputRequired(_l("参加区分を選んでください。"))])
    consent_privacy = BooleanField(_l("個人情報の取扱いについて本人の同意を得た"),
                                   validators=[DataRequired(_l("本人の同意が必要です。"))])
    override = BooleanField(_l("定員やドメインの確認を超えて受け付ける（主催者のみ）"))


class StaffLinkForm(FlaskForm):
    label = StringField(_l("名前"), validators=[DataRequired(_l("名前を入力してください。")), Length(max=50)],
                        description=_l("受付に表示される名前です（例: 受付2）"))
    expires_at = DateTimeLocalField(_l("有効期限"), format=DT,
                                    validators=[InputRequired(_l("有効期限を入力してください。"))],
                                    description=_l("日本時間。30日以内で、当日の受付が終わる頃にしてください。"))


class SelfCheckinForm(FlaskForm):
    code = StringField(_l("出席コード"), validators=[DataRequired(_l("出席コードを入力してください。")), Length(max=50)],
                       description=_l("会場のスクリーンに表示されたコード"),
                       render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"})
    #: the token of the attendee's page (its signed link), or the attendee bearer token
    token = HiddenField()
    next = HiddenField()
