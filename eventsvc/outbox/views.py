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
                service.WITHDRAWN: N_("取り消し（個人情報の削除）"),
                service.SUPERSEDED_SHOWN: N_("取り消し（申込みの状態が変わったため）")}
#: what the list counts and filters by: the states, and the withdrawn rows by their reason (not failures)
SHOWN_STATES = (*STATES, service.WITHDRAWN, service.SUPERSEDED_SHOWN)
#: the rows that may still be sent (by the worker, or by a person's 再送)
UNSENT = ("queued", "held", "failed", "uncertain")


@bp.app_template_global()
def delivery_state_label(state: str) -> str:
    return _(STATE_LABELS.get(state, state))


bp.add_app_template_global(kinds.kind_label, "delivery_kind_label")


@bp.app_template_global()
def delivery_shown_state(d) -> str:
    """The state a page shows: for a withdrawn ``failed`` row (not a fault, nothing to retry) its
    reason's — ``withdrawn`` when an erasure of personal data stopped it (nobody to send it to),
    ``superseded`` when what it was about moved on before it left — else the row's state."""
    return service.shown_state(d)


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
    reasons = {shown: reason for reason, shown in service.SHOWN_WITHDRAWALS.items()}
    if state in reasons:
        rows = service.list_for_event(event.id, state="failed", withdrawn_reason=reasons[state])
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
    # not sent yet, but what it is about has moved on (the worker will withdraw it): neither made
    # from what is true now (another application's ticket…) nor offered for a resend
    superseded = service.superseded_note(row) if row.state in UNSENT and not row.withdrawn else None
    deferred, render_error = renderers.is_deferred(row.payload), None
    if deferred and (superseded or row.withdrawn):
        payload = {key: value for key, value in row.payload.items() if key != "render"}  # never made
    else:
        try:
            payload = renderers.resolve(row)
        except renderers.RenderError as err:
            payload, render_error = row.payload, str(err)
    return render_template("outbox/manage_show.html", event=event, d=row, payload=payload, deferred=deferred,
                           render_error=render_error, superseded=superseded, action=ActionForm(), now=now_utc())


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
