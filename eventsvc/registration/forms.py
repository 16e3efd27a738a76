"""Registration forms: the public form (built with the event's own questions), attendee and organizer forms.

Everything works without JavaScript: the organisation picker is a prefecture select
plus a "show municipalities" button; the script in ``static/js/org-picker.js`` only adds
type-ahead search on top.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..core import orgs
from ..events.forms import choices
from ..formfields import DateTimeLocalField, Length
from ..formfields import IntegerField as NumberField

NATIONAL = "gov"


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def prefecture_choices():
    return choices([("", _l("（都道府県・国の機関を選ぶ）")), (NATIONAL, _l("国の機関（府省庁）"))]
                   + [(code, name) for code, name in orgs.prefectures()])


def organization_choices(prefecture: str | None, selected: str | None = None) -> list[tuple[str, str]]:
    """The organisations to pick from once a prefecture (or 国の機関) is chosen."""
    blank = [("", _l("（選んでください）"))]
    if prefecture == NATIONAL:
        return choices(blank + [(o.code, o.name) for o in orgs.all_organizations() if o.kind == "national"])
    if prefecture and orgs.prefecture_name(prefecture):
        return choices(blank + [(o.code, o.city or o.name) for o in orgs.municipalities(prefecture)])
    org = orgs.get(selected)
    return choices(blank + ([(org.code, org.name)] if org else []))


class PersonFields:
    """Fields shared by the registration and the edit form (mixed into both)."""

    name = StringField(_l("氏名"), validators=[DataRequired(_l("氏名を入力してください。")), Length(max=100)],
                       description=_l("個人のお名前を入力してください（団体名ではなく）。"))
    name_kana = StringField(_l("ふりがな"), validators=[DataRequired(_l("ふりがなを入力してください。")), Length(max=100)],
                            description=_l("ひらがなかカタカナで入力してください。名札や受付の検索に使います。"))
    prefecture = SelectField(_l("所属の都道府県（または国の機関）"), choices=prefecture_choices(),
                             validators=[Optional()], validate_choice=False)
    pick_prefecture = SubmitField(_l("この都道府県の団体を表示"))
    organization_code = SelectField(_l("所属団体"), choices=choices([("", _l("（先に都道府県を選んでください）"))]),
                                    validators=[Optional()], validate_choice=False)
    organization_name = StringField(_l("所属（一覧にない場合）"), validators=[Optional(), Length(max=200)],
                                    description=_l("一覧にない場合だけ入力してください（例: 〇〇広域連合）。"))
    department = StringField(_l("部署"), validators=[Optional(), Length(max=200)],
                             description=_l("任意。役職は入力しないでください（勉強会ではみんなフラットです）。"))
    consent_listing = BooleanField(_l("参加者一覧（氏名と所属のみ）に表示してよい"),
                                   description=_l("参加が確定したほかの参加者に、氏名と所属だけを表示します。"))
    consent_slack_mention = BooleanField(_l("コミュニティのSlackでの開催報告などで、氏名と所属に触れてもよい"))


class RegisterForm(PersonFields, FlaskForm):
    #: the e-mail address is asked with the name (``web.error_summary`` lists mistakes in this order)
    page_order = ("name", "name_kana", "email")
    email = EmailField(_l("職場のメールアドレス"),
                       validators=[DataRequired(_l("メールアドレスを入力してください。")), Length(max=320)],
                       description=_l("lg.jp・go.jp 以外のアドレスは、主催者の確認後に受け付けます。"))
    ticket_type = RadioField(_l("参加区分"), choices=[], validate_choice=False)
    consent_privacy = BooleanField(_l("個人情報の取扱いに同意する（必須）"))
    consent_rules = BooleanField(_l("ここでの発言は個人の見解であり、所属組織の見解ではないことを理解した（必須）"))
    submit = SubmitField(_l("申し込む"))


class EditForm(PersonFields, FlaskForm):
    submit = SubmitField(_l("変更を保存"))


class TicketTypeForm(FlaskForm):
    ticket_type = RadioField(_l("参加区分"), choices=[], validate_choice=False)
    submit = SubmitField(_l("参加区分を変更"))


def add_question_fields(form_class, questions):
    """A subclass of ``form_class`` with one field ``q_<id>`` per event question."""
    attrs = {}
    for q in questions:
        label = q.text
        validators = [Optional()]
        if q.kind == "text":
            attrs[f"q_{q.id}"] = StringField(label, validators=[Optional(), Length(max=200)])
        elif q.kind == "long_text":
            attrs[f"q_{q.id}"] = TextAreaField(label, validators=[Optional(), Length(max=2000)])
        elif q.kind == "single":
            attrs[f"q_{q.id}"] = RadioField(label, choices=choices([(o, o) for o in q.options]), validators=validators,
                                            validate_choice=False)
        else:
            attrs[f"q_{q.id}"] = MultiCheckboxField(label, choices=choices([(o, o) for o in q.options]),
                                                    validators=validators, validate_choice=False)
    return type(form_class.__name__ + "WithQuestions", (form_class,), attrs)


class LinkForm(FlaskForm):
    email = EmailField(_l("申し込んだメールアドレス"),
                       validators=[DataRequired(_l("メールアドレスを入力してください。")), Length(max=320)])
    submit = SubmitField(_l("リンクを送る"))


# ------------------------------------------------------------------ organizer
class NoteForm(FlaskForm):
    message = TextAreaField(_l("申込者へのメッセージ（任意）"), validators=[Optional(), Length(max=1000)],
                            description=_l("メールに記載されます。"))
    approve = SubmitField(_l("承認する"))
    reject = SubmitField(_l("お断りする"))


class MessageForm(FlaskForm):
    subject = StringField(_l("件名"), validators=[DataRequired(_l("件名を入力してください。")), Length(max=150)])
    body = TextAreaField(_l("本文"), validators=[DataRequired(_l("本文を入力してください。")), Length(max=10000)])
    submit = SubmitField(_l("参加確定者全員に送る"))


class CancelEventForm(FlaskForm):
    """Calling an event off: the organizer confirms, and may tell everyone who applied."""
    notify = BooleanField(_l("申込み中の全員にメールで知らせる"), default=True)
    subject = StringField(_l("件名"), validators=[Optional(), Length(max=150)])
    body = TextAreaField(_l("本文"), validators=[Optional(), Length(max=10000)])
    submit = SubmitField(_l("イベントを中止する"))


class QuestionForm(Form):
    id = HiddenField()
    text = StringField(_l("質問文"), validators=[Optional(), Length(max=500)])
    kind = SelectField(_l("回答の形式"), choices=choices([("text", _l("短い文章")), ("long_text", _l("長い文章")),
                                                      ("single", _l("1つ選ぶ")), ("multiple", _l("複数選ぶ"))]))
    options = TextAreaField(_l("選択肢（1行に1つ）"), validators=[Optional(), Length(max=6000)])
    required = BooleanField(_l("回答必須"))
    remove = BooleanField(_l("この質問を削除"))

    def is_blank(self) -> bool:
        return not (self.text.data or "").strip()


class SettingsForm(FlaskForm):
    promotion_mode = RadioField(_l("キャンセル待ちの繰り上げ方法"), choices=choices([
        ("auto", _l("自動で参加確定にする（すぐにメールで通知）")),
        ("offer", _l("繰り上げを案内し、期限までに回答してもらう"))]), default="auto")
    offer_hours = IntegerField(_l("回答期限（時間）"), default=48,
                               validators=[Optional(), NumberRange(1, 336, _l("1〜336時間で指定してください。"))])
    lottery_at = DateTimeLocalField(_l("自動抽選の日時（抽選のイベントのみ）"), format="%Y-%m-%dT%H:%M",
                                    validators=[Optional()],
                                    description=_l("空欄なら自動では抽選しません（手動で抽選できます）。"))
    privacy_purpose = TextAreaField(_l("個人情報の利用目的（申込みフォームに表示）"),
                                    validators=[Optional(), Length(max=2000)])
    questions = FieldList(FormField(QuestionForm), min_entries=0, max_entries=25)
    add_question = SubmitField(_l("質問を追加"))
    submit = SubmitField(_l("保存"))


class LotteryForm(FlaskForm):
    seed = StringField(_l("シード（空欄なら自動で作ります）"), validators=[Optional(), Length(max=64)],
                       description=_l("記録され、あとで同じ結果になることを確かめられます。"))
    submit = SubmitField(_l("抽選する"))


class DeleteForm(FlaskForm):
    """Deleting personal data: the box must be ticked (nothing happens on GET)."""

    confirm = BooleanField(_l("元に戻せないことを理解しました"),
                           validators=[DataRequired(_l("削除するには、確認のチェックを入れてください。"))])
    submit = SubmitField(_l("削除する"))


class RetentionForm(FlaskForm):
    retention_days = NumberField(_l("個人情報の保存期間（開催終了からの日数）"),
                                  validators=[Optional(), NumberRange(1, 3650, _l("1〜3650日で指定してください。"))],
                                  description=_l("空欄ならサービスの既定の日数です。"))
    submit = SubmitField(_l("保存"))
