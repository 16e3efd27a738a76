"""Organizer login and logout pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_required, login_user, logout_user

from ..core.clock import now_utc
from ..extensions import db, limiter
from . import service
from .forms import LoginForm

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site paths; anything else goes to the dashboard."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for("events.manage_list")


# ---- public
@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        organizer = service.authenticate(form.email.data, form.password.data, now_utc())
        if organizer is not None:
            session.clear()  # a fresh session on login
            login_user(organizer)
            db.session.commit()
            return redirect(_safe_next(form.next.data))
        form.password.errors.append(_("メールアドレスまたはパスワードが正しくありません。"))
    return render_template("auth/login.html", form=form), (422 if form.errors else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    session.clear()
    flash(_("ログアウトしました。"), "info")
    return redirect(url_for("events.index"))
