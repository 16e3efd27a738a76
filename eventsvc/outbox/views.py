"""The organizer's view of an event's deliveries: every message, its state, its text."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..core.clock import now_utc
from ..core.i18n import N_
from ..errors import DomainError, page_message
from ..events import service as events_service
from ..events.forms import ActionForm
from ..extensions import db
from . import kinds, renderers, service
from .models import STATES
from .senders import sender_for

bp = Blueprint("outbox", __name__)

# ------------------------------------------------------------------ manage
# GET  /manage/events/<slug>/deliveries             manage_list   states, filters, "未送信: SMTP未設定"
# GET  /manage/events/<slug>/deliveries/<id>        manage_show   the message as sent, or as it would be sent now
# POST /manage/events/<slug>/deliveries/<id>/retry  manage_retry  a person decides to send again

STATE_LABELS = {"queued": N_("送信待ち"), "sending": N_("送信中"), "sent": N_("送信済み"), "failed": N_("失敗"),
                "uncertain": N_("送信不明"), "held": N_("保留"),
                service.WITHDRAWN: N_("取り消し（個人情報の削除）")}
#: what the list counts and filters by: the states, and the rows an erasure stopped (not failures)
SHOWN_STATES = (*STATES, service.WITHDRAWN)


@bp.app_template_global()
def delivery_state_label(state: str) -> str:
    return _(STATE_LABELS.get(state, state))


bp.add_app_template_global(kinds.kind_label, "delivery_kind_label")


@bp.app_template_global()
def delivery_shown_state(d) -> str:
    """The state a page shows: ``withdrawn`` for a ``failed`` row an erasure of personal data
    stopped (nobody to send it to: not a fault, nothing to retry), else the row's state."""
    return service.WITHDRAWN if d.withdrawn else d.state


@bp.app_template_global()
def delivery_error(d) -> str:
    """The reason stored on a delivery, in the page's language when it is one of ours
    (a channel's "not configured" reason is stored in Japanese and translated here)."""
    return _(d.last_error) if d.last_error else ""


def channel_notice(kind_prefix: str) -> str | None:
    sender = sender_for(kind_prefix)
    reason = sender.unavailable(current_app.config) if sender else None
    return _(reason) if reason else None


@bp.route("/manage/events/<slug>/deliveries")
@login_required
def manage_list(slug: str):
    event = events_service.get_event_for(slug, current_user)
    state = request.args.get("state") if request.args.get("state") in SHOWN_STATES else None
    if state == service.WITHDRAWN:
        rows = service.list_for_event(event.id, state="failed", withdrawn=True)
    else:
        rows = service.list_for_event(event.id, state=state, withdrawn=False if state == "failed" else None)
    return render_template("outbox/manage_list.html", event=event, rows=rows, state=state, states=SHOWN_STATES,
                           counts=service.counts_for_event(event.id), mail_notice=channel_notice("mail."),
                           now=now_utc())


@bp.route("/manage/events/<slug>/deliveries/<int:delivery_id>")
@login_required
def manage_show(slug: str, delivery_id: int):
    event = events_service.get_event_for(slug, current_user)
    row = service.get_for_event(event.id, delivery_id)
    deferred, render_error = renderers.is_deferred(row.payload), None
    try:
        payload = renderers.resolve(row)
    except renderers.RenderError as err:
        payload, render_error = row.payload, str(err)
    return render_template("outbox/manage_show.html", event=event, d=row, payload=payload, deferred=deferred,
                           render_error=render_error, action=ActionForm(), now=now_utc())


@bp.route("/manage/events/<slug>/deliveries/<int:delivery_id>/retry", methods=["POST"])
@login_required
def manage_retry(slug: str, delivery_id: int):
    event = events_service.get_event_for(slug, current_user)
    row = service.get_for_event(event.id, delivery_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        service.resend(row, now_utc())
        db.session.commit()
        flash(_("再送を予約しました。"), "success")
    except DomainError as err:
        db.session.rollback()
        flash(page_message(err.message), "error")
    return redirect(url_for("outbox.manage_show", slug=slug, delivery_id=delivery_id))
