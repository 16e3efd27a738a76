"""Forms of the login, account and organizer-admin pages."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo

from ..formfields import Length


class LoginForm(FlaskForm):
    email = EmailField(_l("メールアドレス"), validators=[DataRequired(_l("メールアドレスを入力してください。")), Length(max=254)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField(_l("パスワード"), validators=[DataRequired(_l("パスワードを入力してください。")), Length(max=1000)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class SecondFactorForm(FlaskForm):
    """Login step 2: the app's code, or one recovery code."""

    code = StringField(_l("確認コード"), validators=[DataRequired(_l("確認コードを入力してください。")), Length(max=40)],
                       description=_l("認証アプリに表示される6桁の数字を入力してください。スマートフォンをなくしたときは、リカバリーコード（XXXX-XXXX-XXXX-XXXX）を入力できます。"),
                       render_kw={"autocomplete": "one-time-code", "autocapitalize": "characters",
                                  "spellcheck": "false"})


class TotpConfirmForm(FlaskForm):
    code = StringField(_l("確認コード"), validators=[DataRequired(_l("確認コードを入力してください。")), Length(max=20)],
                       description=_l("登録した認証アプリに表示される6桁の数字"),
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class TotpDisableForm(FlaskForm):
    password = PasswordField(_l("パスワード"), validators=[DataRequired(_l("パスワードを入力してください。")), Length(max=1000)],
                             render_kw={"autocomplete": "current-password"})


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("現在のパスワード"), validators=[
        DataRequired(_l("現在のパスワードを入力してください。")), Length(max=1000)],
        render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(_l("新しいパスワード"), validators=[
        DataRequired(_l("新しいパスワードを入力してください。")),
        Length(min=10, message=_l("パスワードは10文字以上にしてください。")), Length(max=1000)],
        description=_l("10文字以上。よく使われているパスワードや、メールアドレス・名前を含むものは使えません。ほかのサービスと同じパスワードは避けてください。"),
        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("新しいパスワード（確認）"), validators=[
        DataRequired(_l("確認のため、新しいパスワードをもう一度入力してください。")),
        EqualTo("new_password", _l("新しいパスワードが一致しません。"))],
        render_kw={"autocomplete": "new-password"})


class TokenForm(FlaskForm):
    name = StringField(_l("トークンの名前"), validators=[DataRequired(_l("名前を入力してください。")), Length(max=100)],
                       description=_l("何に使うかがわかる名前（例: 受付用スクリプト）"), render_kw={"autocomplete": "off"})


class OrganizerForm(FlaskForm):
    email = EmailField(_l("メールアドレス"), validators=[DataRequired(_l("メールアドレスを入力してください。")), Length(max=254)],
                       render_kw={"autocomplete": "off"})
    name = StringField(_l("名前"), validators=[DataRequired(_l("名前を入力してください。")), Length(max=100)],
                       render_kw={"autocomplete": "off"})
    password = PasswordField(_l("初期パスワード"), validators=[
        DataRequired(_l("初期パスワードを入力してください。")),
        Length(min=10, message=_l("パスワードは10文字以上にしてください。")), Length(max=1000)],
        description=_l("10文字以上。よく使われているパスワードや、メールアドレス・名前を含むものは使えません。本人に別の方法で伝え、ログイン後に変更してもらってください。"),
        render_kw={"autocomplete": "new-password"})
    is_admin = BooleanField(_l("管理者にする（すべてのイベントと主催者を管理できます。二段階認証が必須です）"))


class ActionForm(FlaskForm):
    """An empty form: a POST button with its CSRF token."""

    submit = SubmitField()
