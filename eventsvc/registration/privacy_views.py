"""Privacy pages: an attendee deletes their own data, an organizer deletes one attendee
everywhere, and the event's retention period. The rules are in :mod:`.privacy`.

Every change is a POST with a ticked confirmation box; the GET pages only explain.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..audit import service as audit
from ..core.clock import now_utc
from ..errors import DomainError
from ..events import service as events_service
from ..extensions import db
from ..web import apply_errors
from . import privacy, service
from .forms import DeleteForm, RetentionForm
from .models import Registration, RegistrationSettings

bp = Blueprint("privacy", __name__)

# ------------------------------------------------------------------ public
# GET/POST /my/<token>/delete                        attendee_delete   explain; POST (ticked box) cancels + erases
# GET      /my-data/deleted                          attendee_deleted  done (the link is gone by then)
# ------------------------------------------------------------------ manage
# GET/POST /manage/registrations/<id>/delete         manage_delete     explain; POST deletes everywhere
# GET/POST /manage/events/<slug>/privacy             manage_event      retention period, purge date


@bp.app_template_global()
def privacy_notice(event) -> dict:
    """``{purpose, days}`` for the purpose-of-use box (``_macros/privacy.html``)."""
    return privacy.notice(event)


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _registration_event_slug(view_args: dict) -> str | None:
    """The audit log's event for URLs that name a registration only."""
    reg_id = view_args.get("reg_id", view_args.get("registration_id"))
    if not isinstance(reg_id, int):
        return None
    reg = db.session.get(Registration, reg_id)
    return reg.event.slug if reg is not None else None


audit.register_event_resolver(_registration_event_slug)


# ------------------------------------------------------------------ public
@bp.route("/my/<token>/delete", methods=["GET", "POST"])
def attendee_delete(token: str):
    reg = service.registration_from_link(token)
    event = reg.event
    form = DeleteForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            counts = privacy.erase_registration(reg, now_utc())
            audit.annotate(action="privacy.attendee_delete", target=f"registration:{reg.id}", event_slug=event.slug,
                           actor=audit.Actor("attendee"), counts=counts)
            db.session.commit()
            return _private(redirect(url_for("privacy.attendee_deleted", event=event.slug)))
        status = 422
    return _private(Response(render_template("registration/delete_attendee.html", reg=reg, event=event, token=token,
                                             form=form, cancels=now_utc() < event.ends_at), status=status))


@bp.route("/my-data/deleted")
def attendee_deleted():
    slug = (request.args.get("event") or "")[:64]
    event = None
    if slug:
        try:
            event = events_service.get_public_event(slug)
        except DomainError:
            event = None
    return render_template("registration/deleted.html", event=event)


# ------------------------------------------------------------------ manage
@bp.route("/manage/registrations/<int:reg_id>/delete", methods=["GET", "POST"])
@login_required
def manage_delete(reg_id: int):
    reg = service.get_for_organizer(reg_id, current_user)
    event = reg.event
    form = DeleteForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            slug, rid = event.slug, reg.id
            counts = privacy.delete_registration(reg, current_user, now_utc())
            audit.annotate(action="privacy.registration_delete", target=f"registration:{rid}", event_slug=slug,
                           counts=counts)
            db.session.commit()
            flash(_("申込みと、その人に関するデータ（受付、アンケートの記名回答、送信記録、Slack連携、チーム）を削除しました。"),
                  "success")
            return redirect(url_for("registration.manage_list", slug=slug))
        status = 422
    return render_template("registration/delete_registration.html", reg=reg, event=event, form=form,
                           cancels=now_utc() < event.ends_at), status


@bp.route("/manage/events/<slug>/privacy", methods=["GET", "POST"])
@login_required
def manage_event(slug: str):
    event = events_service.get_event_for(slug, current_user)
    settings = db.session.get(RegistrationSettings, event.id)
    form = RetentionForm()
    if request.method == "GET":
        form.retention_days.data = settings.retention_days if settings is not None else None
    status = 200
    if form.validate_on_submit():
        try:
            privacy.set_retention_days(event, form.retention_days.data, now_utc())
            db.session.commit()
            flash(_("個人情報の保存期間を保存しました。"), "success")
            return redirect(url_for("privacy.manage_event", slug=slug))
        except DomainError as err:
            db.session.rollback()
            event = events_service.get_event_for(slug, current_user)
            apply_errors(form, err.fields)
            status = 422
    elif request.method == "POST":
        status = 422
    settings = db.session.get(RegistrationSettings, event.id)
    return render_template("registration/privacy_event.html", event=event, form=form,
                           days=privacy.retention_days(event, settings), default_days=privacy.default_retention_days(),
                           purge_at=privacy.purge_at(event, settings),
                           purged_at=settings.purged_at if settings is not None else None), status
