"""Organizer forms for events and agenda (they work without JavaScript)."""

from __future__ import annotations

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Optional

from ..core import orgs
from ..core.i18n import N_
from ..formfields import DateTimeLocalField, IntegerField, Length, TimeField

DT = "%Y-%m-%dT%H:%M"


def choices(pairs) -> list[SelectChoice]:
    """``SelectChoice`` options from ``(value, label)`` pairs (WTForms 3.3+)."""
    return [SelectChoice(value, label) for value, label in pairs]


def region_choices():
    """The regions in the page's language (passed uncalled: WTForms asks each form for them)."""
    return choices([("", _l("（都道府県から自動）"))]
                   + [(code, orgs.region_name(code, str(get_locale() or "ja"))) for code in orgs.REGIONS])


def prefecture_choices(blank=None):
    return choices([("", blank or _l("（指定なし）"))] + list(orgs.prefectures()))


#: the participation types the new-event form starts with (code → name); a row of them whose
#: capacity is left empty is not created (:meth:`TicketTypeForm.is_unused_suggestion`)
SUGGESTED_TICKET_TYPES = {"venue": N_("会場参加"), "online": N_("オンライン参加")}


class TicketTypeForm(Form):
    code = StringField(_l("コード"), validators=[Optional(), Length(max=32)],
                       description=_l("半角英小文字・数字（例: venue, online）"))
    name = StringField(_l("名前"), validators=[Optional(), Length(max=100)])
    capacity = IntegerField(_l("定員"), validators=[Optional()])
    #: the code of the suggestion the form filled this row with (:data:`SUGGESTED_TICKET_TYPES`)
    suggested = HiddenField()

    def is_blank(self) -> bool:
        return not (self.code.data or self.name.data or self.capacity.data not in (None, ""))

    def suggest(self, code: str) -> None:
        self.code.data, self.name.data, self.suggested.data = code, _(SUGGESTED_TICKET_TYPES[code]), code

    def is_unused_suggestion(self) -> bool:
        """A row the form filled in (not the organizer) whose capacity was left empty: the
        organizer did not take it up (e.g. オンライン参加 of a venue-only event). A row whose
        name or code was changed, or that was typed, is the organizer's own: an empty capacity
        there is a mistake to point out."""
        code = (self.code.data or "").strip()
        suggestion = SUGGESTED_TICKET_TYPES.get(self.suggested.data or "")
        if suggestion is None or code != self.suggested.data:
            return False
        if (self.name.data or "").strip() not in (suggestion, _(suggestion)):
            return False
        return not any((value or "").strip() for value in (self.capacity.raw_data or []))

    def is_left_out(self) -> bool:
        """Not made into a participation type: a blank row, or a suggestion not taken up."""
        return self.is_blank() or self.is_unused_suggestion()


class EventForm(FlaskForm):
    title = StringField(_l("タイトル"), validators=[DataRequired(_l("タイトルを入力してください。")), Length(max=200)])
    slug = StringField(_l("URL用の名前（スラッグ）"), validators=[Optional(), Length(max=64)],
                       description=_l("半角英小文字・数字・ハイフン。空欄なら自動で作ります。"))
    summary = TextAreaField(_l("概要"), validators=[Optional(), Length(max=500)],
                            description=_l("一覧に表示する短い説明（500文字以内）"))
    description = TextAreaField(_l("詳細"), validators=[Optional(), Length(max=20000)],
                                description=_l("Markdown が使えます。リンクは [文字](https://…) の形で書きます。"))
    starts_at = DateTimeLocalField(_l("開始日時"), format=DT,
                                   validators=[InputRequired(_l("開始日時を入力してください。"))])
    ends_at = DateTimeLocalField(_l("終了日時"), format=DT,
                                 validators=[InputRequired(_l("終了日時を入力してください。"))])
    venue_name = StringField(_l("会場名"), validators=[Optional(), Length(max=200)])
    venue_address = StringField(_l("会場の住所"), validators=[Optional(), Length(max=300)])
    online_url = StringField(_l("オンライン参加URL"), validators=[Optional(), Length(max=2000)],
                             description=_l("参加が確定した人だけに表示します。"))
    prefecture_code = SelectField(_l("都道府県"), choices=prefecture_choices(), validators=[Optional()])
    region = SelectField(_l("地域"), choices=region_choices, validators=[Optional()])
    registration_opens_at = DateTimeLocalField(_l("申込受付開始"), format=DT, validators=[Optional()])
    registration_closes_at = DateTimeLocalField(_l("申込受付終了"), format=DT, validators=[Optional()])
    selection = SelectField(_l("参加者の決め方"), choices=choices([("first_come", _l("先着順")), ("lottery", _l("抽選"))]))
    allowed_email_domains = StringField(
        _l("参加できるメールドメイン"), validators=[Optional(), Length(max=2000)],
        description=_l("カンマ区切り。ほかのドメインの申込みは主催者の確認待ちになります。"))
    ticket_types = FieldList(FormField(TicketTypeForm), label=_l("参加区分"), min_entries=1, max_entries=10)
    add_ticket_type = SubmitField(_l("参加区分の行を追加"))
    submit = SubmitField(_l("保存"))

    #: how the error summary names a field of a row (as the row's own labels do)
    row_labels = {"ticket_types": _l("参加区分%(n)sの%(label)s")}

    def suggested_names(self) -> list[str]:
        """The names of the suggested rows the form holds (none when editing an event)."""
        return [_(SUGGESTED_TICKET_TYPES[code]) for t in self.ticket_types
                if (code := t.form.suggested.data) in SUGGESTED_TICKET_TYPES]


class AgendaItemForm(Form):
    day = SelectField(_l("日"), choices=[], validate_choice=False)
    start = TimeField(_l("開始"), validators=[Optional()])
    end = TimeField(_l("終了"), validators=[Optional()])
    title = StringField(_l("題目"), validators=[Optional(), Length(max=200)])
    speaker = StringField(_l("話す人"), validators=[Optional(), Length(max=100)])
    affiliation = StringField(_l("所属"), validators=[Optional(), Length(max=200)])
    kind = SelectField(_l("種類"), choices=choices([
        ("talk", _l("講演・説明")), ("workshop", _l("ワークショップ")), ("break", _l("休憩")),
        ("networking", _l("交流")), ("other", _l("その他"))]))
    materials_url = StringField(_l("資料のURL"), validators=[Optional(), Length(max=2000)])
    description = TextAreaField(_l("説明"), validators=[Optional(), Length(max=5000)])
    remove = BooleanField(_l("この行を削除"))

    def is_blank(self) -> bool:
        return not (self.title.data or self.start.data or self.end.data or self.speaker.data)


class AgendaForm(FlaskForm):
    items = FieldList(FormField(AgendaItemForm), min_entries=0, max_entries=60)
    add_rows = SubmitField(_l("行を追加"))
    submit = SubmitField(_l("プログラムを保存"))


class ActionForm(FlaskForm):
    """An empty form: a POST button with its CSRF token."""

    submit = SubmitField()
