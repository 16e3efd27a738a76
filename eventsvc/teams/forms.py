"""Organizer forms for teams. Every change is a plain POST form (drag and drop posts these too)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, NumberRange, Optional

from ..events.forms import choices
from ..formfields import IntegerField, Length


class _Form(FlaskForm):
    def validate(self, extra_validators=None) -> bool:
        """Validate, then make the (lazily translated) messages plain strings: the shared
        field macro shows string messages only."""
        ok = super().validate(extra_validators)
        for f in self:
            f.errors = [str(e) for e in f.errors]
        return ok


GROUP_HINT = _l("1行に1組。番号（No.12）か登録した氏名を「、」で区切って書きます。")


class RunForm(_Form):
    scope = RadioField(_l("対象"), choices=[], default="checked_in")
    team_count = IntegerField(_l("チーム数"), validators=[Optional(), NumberRange(1, 200, _l("1〜200で入力してください。"))])
    team_size = IntegerField(_l("1チームの人数"), validators=[Optional(), NumberRange(1, 1000, _l("1〜1000で入力してください。"))],
                             description=_l("チーム数か1チームの人数の、どちらか一方を入力します。"))
    names = TextAreaField(_l("チーム名"), validators=[Optional(), Length(max=20000)],
                          description=_l("1行に1チーム（空欄なら A、B、C…）。行数はチーム数と同じにします。"))
    use_topics = BooleanField(_l("チーム名をテーマとして扱う（テーマの希望を考慮します）"))
    topic_question = SelectField(_l("テーマの希望に使う申込み質問"), choices=[], validators=[Optional()])
    keep_apart = TextAreaField(_l("別のチームにする人"), validators=[Optional(), Length(max=20000)], description=GROUP_HINT)
    keep_together = TextAreaField(_l("同じチームにする人"), validators=[Optional(), Length(max=20000)], description=GROUP_HINT)
    seed = IntegerField(_l("乱数のシード"), validators=[Optional()],
                        description=_l("空欄なら自動。同じシード・同じ条件なら同じ結果になります。"))
    keep_locks = BooleanField(_l("固定した人はいまのチームのままにする"), default=True)
    submit = SubmitField(_l("チーム分けを実行"))


class _RunBound(_Form):
    run_id = HiddenField()

    def run_number(self) -> int | None:
        try:
            return int(self.run_id.data)
        except (TypeError, ValueError):
            return None


class MoveForm(_RunBound):
    registration = SelectField(_l("移動する人"), choices=[], validators=[InputRequired(_l("移動する人を選んでください。"))])
    team = SelectField(_l("移動先"), choices=[], validators=[InputRequired(_l("移動先を選んでください。"))])
    submit = SubmitField(_l("移動する"))


class SwapForm(_RunBound):
    first = SelectField(_l("入れ替える人（1人目）"), choices=[], validators=[InputRequired(_l("1人目を選んでください。"))])
    second = SelectField(_l("入れ替える人（2人目）"), choices=[], validators=[InputRequired(_l("2人目を選んでください。"))])
    submit = SubmitField(_l("入れ替える"))


class LockForm(_RunBound):
    registration = HiddenField()
    locked = HiddenField()


class RenameForm(_RunBound):
    position = HiddenField()
    name = StringField(_l("チーム名"), validators=[InputRequired(_l("チーム名を入力してください。")), Length(max=100)])
    topic = StringField(_l("テーマ"), validators=[Optional(), Length(max=100)])
    submit = SubmitField(_l("名前を変更"))


class PublishForm(_RunBound):
    pass


def set_choices(field, pairs) -> None:
    field.choices = choices(pairs)
