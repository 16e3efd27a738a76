"""Organizer login (password, then the second factor), sessions, account pages, and the
organizer list for admins.

Sessions are signed cookies. Besides Flask-Login's user id (which carries
``Organizer.session_version``), a session keeps when it logged in and when it was last
seen. :func:`_enforce_session` ends it when idle too long or past its absolute lifetime;
moving the version (logout, "log out other devices", password or second-factor change,
deactivation) ends every copy of it at once. Admins without a second factor can reach
nothing but its setup page.
"""

from __future__ import annotations

import math
from datetime import datetime
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from markupsafe import Markup

from ..core.clock import now_utc
from ..core.i18n import N_
from ..core.text import TextError, check_text
from ..errors import DomainError, Forbidden, error_body, page_message
from ..events.poster import qr_svg
from ..extensions import db, limiter, login_manager
from ..web import apply_errors
from . import service, totp
from .forms import (
    ActionForm,
    LoginForm,
    OrganizerForm,
    PasswordForm,
    SecondFactorForm,
    TokenForm,
    TotpConfirmForm,
    TotpDisableForm,
)

bp = Blueprint("auth", __name__)

# ------------------------------------------------------------------ public
# GET/POST /login                                  login              e-mail and password (step 1)
# GET/POST /login/verify                           login_verify       the second factor (step 2)
# POST     /logout                                 logout             ends every session of the account
# ------------------------------------------------------------------ account (any organizer)
# GET      /account                                account            role, second factor, links
# GET/POST /account/password                       password           current password required
# POST     /account/logout-others                  logout_others      end the other sessions, keep this one
# GET/POST /account/two-factor                     two_factor         status, or setup: QR + secret, confirm
# POST     /account/two-factor/recovery-codes      recovery_codes     a fresh set, after a current code
# POST     /account/two-factor/disable             totp_disable       organizers only, with the password
# GET/POST /account/tokens                         tokens             list, create (shown once)
# POST     /account/tokens/<id>/revoke             token_revoke
# ------------------------------------------------------------------ admin
# GET/POST /admin/organizers                       admin_organizers   list, create
# POST     /admin/organizers/<id>/<deactivate|activate>  admin_organizer_state

#: session keys: when this session logged in and was last seen (epoch seconds); a login
#: waiting for its second factor; a flag set while an admin has yet to set up a second
#: factor (any change to that bumps the session version, so the flag can't go stale)
AUTH_AT, SEEN, PENDING, NEEDS_TOTP = "auth_at", "seen", "login_2fa", "needs_totp"
#: session key: an API token just created, sealed, until the page after the redirect shows it
NEW_TOKEN = "new_api_token"
#: ``seen`` is rewritten at most this often (each rewrite is a new cookie)
SEEN_RESOLUTION = 60
#: a password that passed waits this long for its second factor
PENDING_SECONDS = 300
#: what an admin without a second factor may still reach
SETUP_ENDPOINTS = frozenset({"auth.two_factor", "auth.logout", "auth.login", "auth.login_verify", "static",
                             "set_language"})


# ------------------------------------------------------------------ helpers
def _safe_next(target: str | None) -> str:
    """Only same-site paths; anything else goes to the dashboard."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for("events.manage_list")


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def _policy() -> service.LoginPolicy:
    cfg = current_app.config
    return service.LoginPolicy(max_failures=int(cfg["LOGIN_MAX_FAILURES"]), lock_seconds=int(cfg["LOGIN_LOCK_SECONDS"]),
                               max_lock_seconds=int(cfg["LOGIN_LOCK_MAX_SECONDS"]))


def _locked_message(until: datetime, now: datetime) -> str:
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    return _("ログインの失敗が続いたため、このメールアドレスでのログインを一時的に止めています。"
             "%(minutes)s分ほど待ってから、もう一度お試しください。", minutes=minutes)


def _begin_session(organizer, now: datetime) -> None:
    """A brand-new session for a login: nothing of the session before it survives."""
    session.clear()
    login_user(organizer)
    session[AUTH_AT] = session[SEEN] = int(now.timestamp())
    if organizer.needs_totp_setup:
        session[NEEDS_TOTP] = True


def _renew_session(organizer, now: datetime) -> None:
    """This browser stays logged in under the organizer's new session version (the other
    sessions just ended); the absolute lifetime still counts from the original login."""
    auth_at = session.get(AUTH_AT)
    _begin_session(organizer, now)
    if isinstance(auth_at, int):
        session[AUTH_AT] = auth_at


def _no_store(html: str, status: int = 200) -> Response:
    response = Response(html, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _organizer():
    return current_user._get_current_object()


# ------------------------------------------------------------------ every request
@bp.before_app_request
def _enforce_session():
    """End organizer sessions that are idle or too old; keep admins on their 2FA setup.

    Reads the signed session only, no database: it runs before every view, and on SQLite
    a first query here would set the request's transaction mode before a view (check-in)
    could choose a read-first one.
    """
    if request.endpoint == "static" or request.blueprint == "api" or "_user_id" not in session:
        return None
    cfg = current_app.config
    now = int(now_utc().timestamp())
    auth_at, seen = session.get(AUTH_AT), session.get(SEEN)
    if (not isinstance(auth_at, int) or not isinstance(seen, int)
            or now - seen > int(cfg["SESSION_IDLE_MINUTES"]) * 60
            or now - auth_at > int(cfg["SESSION_MAX_HOURS"]) * 3600):
        session.clear()
        g.session_ended = True
        flash(_("一定の時間が過ぎたため、ログアウトしました。もう一度ログインしてください。"), "info")
        return None
    if now - seen >= SEEN_RESOLUTION:
        session[SEEN] = now
    if session.get(NEEDS_TOTP) and request.endpoint not in SETUP_ENDPOINTS:
        message = _("管理者は二段階認証の設定が必要です。設定が済むまで、ほかのページは使えません。")
        if request.path.endswith(".json"):
            return error_body("totp_required", message), 403
        if request.method == "GET":
            flash(message, "info")
        return redirect(url_for("auth.two_factor"))
    return None


@login_manager.unauthorized_handler
def _unauthorized():
    if not g.get("session_ended"):
        flash(_("このページを見るにはログインしてください。"), "info")
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target))


# ------------------------------------------------------------------ public
@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login():
    form = LoginForm(next=request.args.get("next", ""))
    status = 200
    if form.validate_on_submit():
        now = now_utc()
        result = service.authenticate(form.email.data, form.password.data, now, secret=_secret(), policy=_policy())
        organizer = result.organizer
        if organizer is None:
            db.session.commit()  # the failure counts
            if result.locked_until is not None:
                form.form_errors.append(_locked_message(result.locked_until, now))
                status = 429
            else:
                form.password.errors.append(_("メールアドレスまたはパスワードが正しくありません。"))
                status = 422
        elif organizer.has_totp:
            session.clear()
            session[PENDING] = {"id": organizer.id, "v": organizer.session_version,
                                "at": int(now.timestamp()), "next": _safe_next(form.next.data)}
            db.session.commit()
            return redirect(url_for("auth.login_verify"))
        else:
            target = _safe_next(form.next.data)
            service.finish_login(organizer, now, secret=_secret())
            _begin_session(organizer, now)
            db.session.commit()
            if organizer.needs_totp_setup:
                return redirect(url_for("auth.two_factor"))
            return redirect(target)
    elif form.errors:
        status = 422
    return _no_store(render_template("auth/login.html", form=form), status)


def _pending_organizer(now: datetime):
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or not isinstance(pending.get("at"), int):
        return None
    if not 0 <= int(now.timestamp()) - pending["at"] <= PENDING_SECONDS:
        return None
    organizer = service.load_session_user(f"{pending.get('id')}:{pending.get('v')}")
    if organizer is None or not organizer.has_totp:
        return None
    return organizer


@bp.route("/login/verify", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login_verify():
    now = now_utc()
    organizer = _pending_organizer(now)
    if organizer is None:
        session.pop(PENDING, None)
        flash(_("時間が経ったため、もう一度メールアドレスとパスワードを入力してください。"), "info")
        return redirect(url_for("auth.login"))
    form = SecondFactorForm()
    status = 200
    if form.validate_on_submit():
        key = service.throttle_key(organizer.email, _secret())
        until = service.locked_until(key, now)
        checked = service.SecondFactor(None) if until else service.verify_second_factor(organizer, form.code.data, now)
        kind = checked.kind
        if kind is not None:
            target = session[PENDING].get("next") or ""
            service.finish_login(organizer, now, secret=_secret())
            left = service.remaining_recovery_codes(organizer)
            _begin_session(organizer, now)
            db.session.commit()
            if kind == "recovery":
                flash(_("リカバリーコードでログインしました。残りは%(n)s個です。認証アプリを設定し直すか、新しいリカバリーコードを作ってください。",
                        n=left), "info")
            return redirect(_safe_next(target))
        if until is None:
            until = service.record_failure(key, now, _policy()).locked_until
        db.session.commit()
        if until is not None:
            session.pop(PENDING, None)
            flash(_locked_message(until, now), "error")
            return redirect(url_for("auth.login"))
        if checked.replayed:  # right, but just used (the step is spent): the next code will do
            form.code.errors.append(_("このコードは使用済みです。認証アプリに次のコードが表示されてから入力してください。"))
        else:
            form.code.errors.append(_("確認コードが正しくありません。"))
        status = 422
    elif form.errors:
        status = 422
    return _no_store(render_template("auth/verify.html", form=form), status)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    service.end_sessions(_organizer())  # a copy of this cookie is dead too
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("ログアウトしました。"), "info")
    return redirect(url_for("events.index"))


# ------------------------------------------------------------------ account
@bp.route("/account")
@login_required
def account():
    organizer = _organizer()
    return render_template("auth/account.html", organizer=organizer, action=ActionForm(),
                           recovery_left=service.remaining_recovery_codes(organizer),
                           logged_in_at=datetime.fromtimestamp(session[AUTH_AT], now_utc().tzinfo))


@bp.route("/account/logout-others", methods=["POST"])
@login_required
def logout_others():
    if not ActionForm().validate_on_submit():
        abort(400)
    organizer = _organizer()
    service.end_sessions(organizer)
    db.session.commit()
    _renew_session(organizer, now_utc())
    flash(_("ほかの端末やブラウザのログインをすべて終了しました。この画面はそのまま使えます。"), "success")
    return redirect(url_for("auth.account"))


def _account_key() -> str:
    return f"account:{current_user.id}" if current_user.is_authenticated else request.remote_addr or ""


@bp.route("/account/password", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"], key_func=_account_key)
@login_required
def password():
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        organizer = _organizer()
        now = now_utc()
        try:
            service.change_password(organizer, form.current_password.data, form.new_password.data, now)
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            form.form_errors.extend(apply_errors(form, err.fields or {"": err.message}))
            status = 422
        else:
            _renew_session(organizer, now)
            flash(_("パスワードを変更しました。ほかの端末やブラウザのログインは終了しました。"), "success")
            return redirect(url_for("auth.account"))
    elif form.errors:
        status = 422
    return _no_store(render_template("auth/password.html", form=form), status)


# ------------------------------------------------------------------ second factor
def _recovery_page(codes: list[str], first: bool) -> Response:
    return _no_store(render_template("auth/recovery_codes.html", codes=codes, first=first))


@bp.route("/account/two-factor", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"], key_func=_account_key)
@login_required
def two_factor():
    organizer = _organizer()
    if organizer.has_totp:
        if request.method == "POST":
            return redirect(url_for("auth.two_factor"))
        return _no_store(render_template(
            "auth/two_factor.html", organizer=organizer, left=service.remaining_recovery_codes(organizer),
            renew_form=TotpConfirmForm(prefix="renew"), disable_form=TotpDisableForm(prefix="disable")))
    now = now_utc()
    form = TotpConfirmForm()
    status = 200
    if form.validate_on_submit():
        try:
            codes = service.confirm_totp(organizer, form.code.data, now)
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            form.form_errors.extend(apply_errors(form, err.fields or {"": err.message}))
            status = 422
        else:
            _renew_session(organizer, now)
            return _recovery_page(codes, first=True)
    elif form.errors:
        status = 422
    organizer = _organizer()
    secret = service.pending_totp_secret(organizer)
    db.session.commit()
    uri = totp.provisioning_uri(secret, organizer.email, current_app.config["TOTP_ISSUER"])
    qr = Markup(qr_svg(uri, label=_("認証アプリで読み取るQRコード")))
    return _no_store(render_template("auth/totp_setup.html", form=form, qr=qr, secret=totp.grouped(secret),
                                     required=organizer.is_admin), status)


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
@limiter.limit("20 per minute", key_func=_account_key)
@login_required
def recovery_codes():
    organizer = _organizer()
    form = TotpConfirmForm(prefix="renew")
    if form.validate_on_submit():
        try:
            codes = service.renew_recovery_codes(organizer, form.code.data, now_utc())
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            apply_errors(form, err.fields or {"code": err.message})
        else:
            return _recovery_page(codes, first=False)
    organizer = _organizer()
    return _no_store(render_template(
        "auth/two_factor.html", organizer=organizer, left=service.remaining_recovery_codes(organizer),
        renew_form=form, disable_form=TotpDisableForm(prefix="disable", formdata=None)), 422)


@bp.route("/account/two-factor/disable", methods=["POST"])
@limiter.limit("10 per hour", key_func=_account_key)
@login_required
def totp_disable():
    organizer = _organizer()
    form = TotpDisableForm(prefix="disable")
    if form.validate_on_submit():
        now = now_utc()
        try:
            service.disable_totp(organizer, form.password.data, now)
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            form.form_errors.extend(apply_errors(form, err.fields or {"": err.message}))
        else:
            _renew_session(organizer, now)
            flash(_("二段階認証を無効にしました。"), "success")
            return redirect(url_for("auth.account"))
    organizer = _organizer()
    return _no_store(render_template(
        "auth/two_factor.html", organizer=organizer, left=service.remaining_recovery_codes(organizer),
        renew_form=TotpConfirmForm(prefix="renew", formdata=None), disable_form=form), 422)


# ------------------------------------------------------------------ API tokens
@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    """A new token is shown once, on the page the creation redirects to (so a reload of that
    page shows it no more and creates nothing)."""
    organizer = _organizer()
    form = TokenForm()
    status = 200
    if form.validate_on_submit():
        try:
            name = check_text(form.name.data, max_length=100)
            token = service.create_token(organizer, name)
            db.session.commit()
        except TextError as err:
            db.session.rollback()
            form.name.errors.append(page_message(err.message))
            status = 422
        else:
            session[NEW_TOKEN] = {"by": organizer.id, "name": name,
                                  "token": service.seal_new_token(token, now_utc(), secret=_secret())}
            return redirect(url_for("auth.tokens"))
    elif form.errors:
        status = 422
    created = _take_new_token(organizer) if request.method == "GET" else None
    return _no_store(render_template("auth/tokens.html", form=form, created=created, action=ActionForm(),
                                     tokens=service.list_tokens(_organizer())), status)


def _take_new_token(organizer) -> dict | None:
    """The token just created, for this one page (taken out of the session as it is shown)."""
    new = session.pop(NEW_TOKEN, None)
    if not isinstance(new, dict) or new.get("by") != organizer.id:
        return None
    token = service.open_new_token(new.get("token"), now_utc(), secret=_secret())
    return {"token": token, "name": str(new.get("name") or "")} if token else None


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def token_revoke(token_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    row = service.revoke_token(_organizer(), token_id, now_utc())
    db.session.commit()
    flash(_("トークン「%(name)s」（%(prefix)s…）を取り消しました。", name=row.name, prefix=row.prefix), "success")
    return redirect(url_for("auth.tokens"))


# ------------------------------------------------------------------ admin
def _admin():
    organizer = _organizer()
    if not organizer.is_admin:
        raise Forbidden("admin_only", N_("このページは管理者だけが使えます。"))
    return organizer


@bp.route("/admin/organizers", methods=["GET", "POST"])
@login_required
def admin_organizers():
    _admin()
    form = OrganizerForm()
    status = 200
    if form.validate_on_submit():
        try:
            created = service.create_organizer(form.email.data, form.name.data, form.password.data,
                                               is_admin=form.is_admin.data)
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            form.form_errors.extend(apply_errors(form, err.fields or {"": err.message}))
            status = 422
        else:
            flash(_("%(name)sさんを登録しました。初期パスワードは本人に別の方法で伝えてください。", name=created.name), "success")
            return redirect(url_for("auth.admin_organizers"))
    elif form.errors:
        status = 422
    return _no_store(render_template("auth/admin_organizers.html", form=form, organizers=service.list_organizers(),
                                     me=_organizer(), action=ActionForm()), status)


@bp.route("/admin/organizers/<int:organizer_id>/<any(deactivate, activate):action>", methods=["POST"])
@login_required
def admin_organizer_state(organizer_id: int, action: str):
    admin = _admin()
    if not ActionForm().validate_on_submit():
        abort(400)
    target = service.get_organizer(organizer_id)
    try:
        service.set_active(target, action == "activate", admin)
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash(page_message(err.message), "error")
        return redirect(url_for("auth.admin_organizers"))
    if action == "activate":
        flash(_("%(name)sさんのアカウントを有効にしました。", name=target.name), "success")
    else:
        flash(_("%(name)sさんのアカウントを無効にしました。ログイン中の画面とAPIトークンは使えなくなりました。", name=target.name),
              "success")
    return redirect(url_for("auth.admin_organizers"))
