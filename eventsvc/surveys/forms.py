"""Survey forms: the organizer's builder, the ticket-code entry, and reading the answer form.

Everything works without JavaScript. The answer form is plain HTML built from the
questions (radio groups and check boxes in fieldsets); :func:`parse_answers` reads it
back into :class:`~eventsvc.surveys.service.AnswerData` for the service to check.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, NumberRange, Optional

from ..events.forms import choices
from ..formfields import DateTimeLocalField, Length
from .service import AnswerData, QuestionData

DT = "%Y-%m-%dT%H:%M"
#: the value of the "other" radio button / check box
OTHER = "__other__"


def kind_choices():
    return choices([("rating", _l("評価（目盛りから選ぶ）")), ("single", _l("選択肢から1つ選ぶ")),
                    ("multiple", _l("選択肢から複数選ぶ")), ("text", _l("短い文章")), ("long_text", _l("長い文章"))])


class QuestionForm(Form):
    id = HiddenField()
    kind = SelectField(_l("質問の種類"), choices=kind_choices())
    text = TextAreaField(_l("質問文"), validators=[Optional(), Length(max=500)])
    options = TextAreaField(_l("選択肢"), validators=[Optional(), Length(max=7000)],
                            description=_l("1行に1つ。「選択肢から選ぶ」質問のときに使います。"))
    allow_other = BooleanField(_l("「その他（自由記入）」を選べるようにする"))
    scale_min = IntegerField(_l("目盛りの最小値"), validators=[Optional(), NumberRange(0, 10, _l("0〜10の整数です。"))])
    scale_max = IntegerField(_l("目盛りの最大値"), validators=[Optional(), NumberRange(0, 10, _l("0〜10の整数です。"))],
                             description=_l("0〜10の目盛りではNPS（推奨度）も集計します。"))
    min_label = StringField(_l("最小値の説明"), validators=[Optional(), Length(max=50)], description=_l("例: 不満"))
    max_label = StringField(_l("最大値の説明"), validators=[Optional(), Length(max=50)], description=_l("例: 満足"))
    required = BooleanField(_l("回答を必須にする"))
    order = IntegerField(_l("順番"), validators=[Optional(), NumberRange(1, 100, _l("1〜100の整数です。"))])
    remove = BooleanField(_l("この質問を削除する"))

    def is_blank(self) -> bool:
        return not ((self.text.data or "").strip() or (self.options.data or "").strip() or self.id.data)

    def to_data(self) -> QuestionData:
        return QuestionData(
            id=int(self.id.data) if (self.id.data or "").isdigit() else None, kind=self.kind.data,
            text=self.text.data or "", options=[o.strip() for o in (self.options.data or "").splitlines()],
            allow_other=bool(self.allow_other.data), scale_min=self.scale_min.data, scale_max=self.scale_max.data,
            min_label=self.min_label.data or "", max_label=self.max_label.data or "",
            required=bool(self.required.data))


class SurveyForm(FlaskForm):
    title = StringField(_l("アンケートの題名"), validators=[DataRequired(_l("題名を入力してください。")), Length(max=200)])
    description = TextAreaField(_l("はじめの説明"), validators=[Optional(), Length(max=2000)])
    anonymous = BooleanField(_l("匿名で集計する（誰がどう答えたかを表示・出力しない）"))
    opens_at = DateTimeLocalField(_l("受付開始"), format=DT, validators=[Optional()],
                                  description=_l("空欄なら、保存したときから受け付けます。"))
    closes_at = DateTimeLocalField(_l("締切"), format=DT, validators=[Optional()],
                                   description=_l("締切までは、回答した人が自分の回答を修正できます。"))
    questions = FieldList(FormField(QuestionForm), min_entries=0, max_entries=60)
    add_question = SubmitField(_l("質問の欄を追加"))
    submit = SubmitField(_l("保存"))


class CodeForm(FlaskForm):
    code = StringField(_l("チケットコード"), validators=[DataRequired(_l("チケットコードを入力してください。")),
                                                     Length(max=200)],
                       description=_l("受付メールやチケット画面にある「T1-」で始まるコードです。ハイフンや空白は省いてもかまいません。"))
    submit = SubmitField(_l("アンケートへ進む"))


class AnswerForm(FlaskForm):
    """CSRF and the survey's revision; the answers themselves are read by :func:`parse_answers`."""

    revision = HiddenField()
    submit = SubmitField(_l("回答を送信する"))


def plain_errors(form) -> None:
    """Turn lazy (translatable) error messages into plain strings after validation: the
    shared field macro shows only string messages."""
    for field in form:
        if hasattr(field, "entries"):
            for entry in field.entries:
                if hasattr(entry, "form"):
                    plain_errors(entry.form)
            field.errors = [str(e) if not isinstance(e, dict | list) else e for e in field.errors]
        elif hasattr(field, "form"):
            plain_errors(field.form)
        else:
            field.errors = [str(e) for e in field.errors]


def field_name(question_id: int) -> str:
    return f"q{question_id}"


def parse_answers(questions, formdata) -> tuple[list[AnswerData], dict[str, str]]:
    """Answers from a submitted answer form, and problems only the form can have
    ("other" ticked but left empty). Errors are keyed like the service's (``answers.<id>``)."""
    answers, errors = [], {}
    for q in questions:
        v, name = q.current, field_name(q.id)
        other = (formdata.get(name + "_other") or "") if v.allow_other else ""
        if v.kind == "rating":
            raw = (formdata.get(name) or "").strip()
            value = int(raw) if raw.isdigit() and len(raw) < 4 else (raw or None)
            answers.append(AnswerData(q.id, value))
        elif v.kind == "single":
            raw = formdata.get(name) or None
            if raw == OTHER and v.allow_other:
                if not other.strip():
                    errors[f"answers.{q.id}"] = str(_l("「その他」の内容を入力してください。"))
                answers.append(AnswerData(q.id, None, other))
            elif raw is not None:
                answers.append(AnswerData(q.id, raw))  # a choice made: the radio decides, not the text box
            else:
                answers.append(AnswerData(q.id, None, other))
        elif v.kind == "multiple":
            picked = formdata.getlist(name)
            if v.allow_other and OTHER in picked:
                picked = [p for p in picked if p != OTHER]
                if not other.strip():
                    errors[f"answers.{q.id}"] = str(_l("「その他」の内容を入力してください。"))
            answers.append(AnswerData(q.id, picked, other))
        else:
            answers.append(AnswerData(q.id, formdata.get(name) or ""))
    return answers, errors


def typed_values(questions, formdata) -> dict[int, dict]:
    """What the person typed, to put back into the form when it is shown again."""
    out = {}
    for q in questions:
        name = field_name(q.id)
        value = formdata.getlist(name) if q.current.kind == "multiple" else formdata.get(name) or ""
        out[q.id] = {"value": value, "other": formdata.get(name + "_other") or ""}
    return out


def saved_values(questions, saved: dict[int, AnswerData] | None) -> dict[int, dict]:
    """Saved answers in the same shape as :func:`typed_values`."""
    out = {}
    for q in questions:
        a = (saved or {}).get(q.id)
        if a is None:
            out[q.id] = {"value": [] if q.current.kind == "multiple" else "", "other": ""}
            continue
        value = a.value
        if q.current.kind == "multiple":
            value = list(value or []) + ([OTHER] if a.other else [])
        elif q.current.kind == "single" and a.other and not value:
            value = OTHER
        out[q.id] = {"value": "" if value is None else value, "other": a.other or ""}
    return out
