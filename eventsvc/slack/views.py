"""Slack pages for organizers and attendees, and the endpoints Slack itself calls.

Requests from Slack are verified (``X-Slack-Signature``; a malformed header is a 401, never a
500), deduplicated (a replayed signature is refused), acknowledged at once, and the work
(Slack calls, registering) runs in a background thread that answers through the request's
``response_url`` — Slack wants an answer within 3 seconds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from slack_sdk.webhook import WebhookClient

from ..core import orgs
from ..core.clock import now_utc
from ..core.i18n import N_
from ..errors import DomainError, page_message
from ..events import service as events_service
from ..events.forms import ActionForm
from ..extensions import csrf, db
from ..registration import service as registration_service
from ..web import apply_errors, external_url
from . import directory, service
from . import sender as _sender  # noqa: F401  (registers the slack.* sender and the reconcile job)
from . import sources as _sources  # noqa: F401  (check-in, teams, surveys → Slack; Slack → surveys)
from .forms import ConfirmForm, ManualLinkForm, event_channel_form, region_channels_form
from .gateway import SlackError, _is_loopback
from .models import SlackLink
from .preview import blocks_to_html, mrkdwn_to_html
from .signature import SignatureError, verify

log = logging.getLogger(__name__)

bp = Blueprint("slack", __name__)

# ------------------------------------------------------------------ Slack (signed requests)
# POST /slack/commands                                   commands        slash command → events with 参加登録
# POST /slack/interactivity                              interactivity   button clicks (参加登録)
# ------------------------------------------------------------------ attendee
# GET  /my/<token>/slack                                 attendee        link status, "Sign in with Slack"
# GET  /my/<token>/slack/signin                          signin          → Slack (state: signed, 10 min, single use)
# GET  /my/slack/callback                                oidc_callback   code + state → link
# ------------------------------------------------------------------ manage
# GET/POST /manage/slack                                 manage_settings workspace, scopes, region → channel
# POST /manage/slack/channels                            manage_refresh  fetch conversations.list again
# GET  /manage/events/<slug>/slack                       manage_event    channel, links, follow-ups, deliveries
# POST /manage/events/<slug>/slack/channel               manage_channel  the event's channel override
# POST /manage/events/<slug>/slack/link                  manage_link_all bulk link by e-mail
# POST /manage/events/<slug>/slack/links/<id>            manage_link     link one by hand
# POST /manage/events/<slug>/slack/links/<id>/unlink     manage_unlink
# GET  /manage/events/<slug>/slack/followups/<kind>      manage_preview  the messages, rendered, before anything is queued
# POST /manage/events/<slug>/slack/followups/<kind>      manage_queue    confirm: queue them
# POST /manage/events/<slug>/slack/deliveries/<id>/retry manage_retry    a person sends a failed one again

LINK_STATUS_LABELS = {"linked": N_("連携済み"), "not_in_workspace": N_("ワークスペースにいません"), "unknown": N_("未確認")}
LINK_METHOD_LABELS = {"bulk": N_("メールで照合"), "oidc": N_("Slackでサインイン"), "manual": N_("手動"),
                      "slack": N_("Slackから登録")}


@bp.app_template_global()
def slack_link_label(status: str) -> str:
    return _(LINK_STATUS_LABELS.get(status, status))


@bp.app_template_global()
def slack_method_label(method: str) -> str:
    return _(LINK_METHOD_LABELS.get(method, method))


@bp.app_template_global()
def slack_followup_label(kind: str) -> str:
    return _(service.FOLLOWUP_LABELS.get(kind, kind))


def _not_configured() -> str | None:
    """Why nothing can be sent to Slack yet, in the page's language (None when configured)."""
    reason = service.not_configured_reason(current_app.config)
    return _(reason) if reason else None


# ================================================================== Slack → us
def _verified() -> tuple[bool, Response | tuple]:
    """Check the signature and that the request is new; (True, None) or (False, response)."""
    secret = current_app.config.get("SLACK_SIGNING_SECRET") or ""
    try:
        result = verify(secret, request.headers.get("X-Slack-Request-Timestamp"), request.get_data(cache=True),
                        request.headers.get("X-Slack-Signature"), now=time.time())
    except SignatureError as err:
        return False, (jsonify(error=err.code, message="Slackからの署名付きリクエストではありません。"), 401)
    if not service.remember("request", result.signature, now_utc()):
        db.session.rollback()
        return False, (jsonify(error="replayed_request", message="同じリクエストを受け付け済みです。"), 409)
    db.session.commit()
    return True, None


def _respond(response_url: str, answer: service.Answer) -> None:
    """Post an ephemeral answer to ``response_url`` (Slack's hooks host, or the configured fake)."""
    config = current_app.config
    if not service.response_url_allowed(response_url, config):
        log.warning("slack: refusing to answer to %r", response_url[:100])
        return
    client = WebhookClient(response_url, timeout=5, retry_handlers=[])
    if _is_loopback(response_url):
        client.proxy = None
    try:
        resp = client.send_dict(answer.body())
        if resp.status_code != 200:
            log.warning("slack: response_url answered %s", resp.status_code)
    except Exception:  # noqa: BLE001 - the user simply sees no answer; nothing to undo
        log.exception("slack: could not answer through response_url")


#: background threads still running (tests may join them)
BACKGROUND: list[threading.Thread] = []


def _in_background(fn: Callable[..., service.Answer | None], response_url: str, *args) -> None:
    """Run ``fn(*args)`` after the request returns, with an app and request context of its own
    (URLs are built on this request's root), then answer through ``response_url``."""
    app = current_app._get_current_object()
    root = request.url_root

    def run() -> None:
        with app.test_request_context(base_url=root):
            try:
                answer = fn(*args)
                db.session.commit()
            except SlackError as err:
                db.session.rollback()
                log.warning("slack: background work failed: %s", err)
                answer = service.Answer(_("Slackとの通信に失敗しました。時間をおいてもう一度お試しください。"))
            except Exception:  # noqa: BLE001 - tell the user rather than stay silent
                db.session.rollback()
                log.exception("slack: background work failed")
                answer = service.Answer(_("処理中に問題が発生しました。時間をおいてもう一度お試しください。"))
            finally:
                db.session.remove()
            if answer is not None:  # None: the user was shown a modal instead
                _respond(response_url, answer)

    thread = threading.Thread(target=run, name="slack-incoming", daemon=True)
    BACKGROUND[:] = [t for t in BACKGROUND if t.is_alive()] + [thread]
    thread.start()


def _events_answer(user_id: str, text: str) -> service.Answer:
    config = current_app.config
    email = None
    if service.configured(config) and service.known_person(user_id, None) is None:
        try:
            user = service.gateway(config).user_info(user_id)
            email = user.email if user is not None else None
        except SlackError as err:  # the region just stays unknown
            log.info("slack: users.info for the slash command failed: %s", err)
    return service.events_answer(user_id, text, now_utc(), email=email)


def _register(slug: str, user_id: str, team_id: str, trigger_id: str) -> service.Answer | None:
    config = current_app.config
    return service.register_from_slack(slug, user_id, team_id, service.gateway(config), config, now_utc(),
                                       trigger_id=trigger_id or None)


def _wrong_team(team_id: str) -> bool:
    expected = current_app.config.get("SLACK_TEAM_ID")
    return bool(expected) and team_id != expected


@bp.route("/slack/commands", methods=["POST"])
@csrf.exempt
def commands():
    ok, refusal = _verified()
    if not ok:
        return refusal
    form = request.form
    if _wrong_team(form.get("team_id", "")):
        return jsonify(response_type="ephemeral", text=_("このワークスペースからは利用できません。"))
    response_url = form.get("response_url", "")
    if not service.response_url_allowed(response_url, current_app.config):
        return jsonify(response_type="ephemeral", text=_("応答先が正しくありません。"))
    _in_background(_events_answer, response_url, form.get("user_id", ""), form.get("text", "")[:100])
    return Response(status=200)


@bp.route("/slack/interactivity", methods=["POST"])
@csrf.exempt
def interactivity():
    ok, refusal = _verified()
    if not ok:
        return refusal
    try:
        payload = json.loads(request.form.get("payload") or "")
    except ValueError:
        return jsonify(error="bad_payload", message="payload が JSON ではありません。"), 400
    if not isinstance(payload, dict) or payload.get("type") not in ("block_actions", "view_submission"):
        return Response(status=200)  # other interactions: nothing to do
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    team = payload.get("team") if isinstance(payload.get("team"), dict) else {}
    team_id = str(team.get("id") or user.get("team_id") or "")[:32]
    if payload["type"] == "view_submission":
        return _modal_sent(str(user.get("id") or "")[:32], team_id, payload.get("view"))
    response_url = payload.get("response_url") or ""
    actions = [a for a in payload.get("actions") or [] if isinstance(a, dict)]
    register = next((a for a in actions if a.get("action_id") == "register"), None)
    if register is None:
        return Response(status=200)  # a link button: Slack opened the URL itself
    if _wrong_team(team_id) or not service.response_url_allowed(response_url, current_app.config):
        return jsonify(response_type="ephemeral", text=_("このワークスペースからは登録できません。"))
    slug = str(register.get("value") or "")[:64]
    _in_background(_register, response_url, slug, str(user.get("id") or "")[:32], team_id,
                   str(payload.get("trigger_id") or "")[:200])
    return Response(status=200)


def _modal_sent(user_id: str, team_id: str, view) -> Response:
    """The registration modal was sent: answer at once (Slack waits 3 s) with field errors or the
    outcome in place of the form."""
    config = current_app.config
    if not isinstance(view, dict):
        return Response(status=200)
    try:  # the service refuses other workspaces with a message in place of the form
        answer = service.register_from_modal(user_id, team_id, view, service.gateway(config), config, now_utc())
        db.session.commit()
    except SlackError as err:
        db.session.rollback()
        log.warning("slack: registration modal failed: %s", err)
        return jsonify(response_action="errors",
                       errors={"name": _("Slackとの通信に失敗しました。時間をおいてもう一度お試しください。")})
    if answer is None:
        return Response(status=200)  # not our modal
    return jsonify(answer)


# ================================================================== attendee
def _attendee(token: str):
    return registration_service.registration_from_link(token)


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/my/<token>/slack")
def attendee(token: str):
    reg = _attendee(token)
    link = db.session.get(SlackLink, reg.id)
    return _private(Response(render_template(
        "slack/attendee.html", reg=reg, event=reg.event, token=token, link=link,
        oidc=service.oidc_configured(current_app.config))))


@bp.route("/my/<token>/slack/signin")
def signin(token: str):
    reg = _attendee(token)
    config = current_app.config
    if not service.oidc_configured(config):
        flash(_("Slackでのサインインは設定されていません。"), "error")
        return redirect(url_for("slack.attendee", token=token))
    url, nonce = service.oidc_start(reg, config, external_url("slack.oidc_callback"))
    session["slack_oidc_nonce"] = nonce
    session["slack_oidc_token"] = token
    return _private(redirect(url))


@bp.route("/my/slack/callback")
def oidc_callback():
    config = current_app.config
    token = session.pop("slack_oidc_token", None)
    nonce = session.pop("slack_oidc_nonce", None)
    back = url_for("slack.attendee", token=token) if token else None
    if request.args.get("error"):
        message = _("Slackでのサインインが取り消されました。")
        return _private(Response(render_template("slack/signin_result.html", ok=False, message=message, back=back),
                                 status=400))
    try:
        link = service.oidc_finish(request.args.get("code", ""), request.args.get("state", ""), nonce,
                                   external_url("slack.oidc_callback"), service.gateway(config), config, now_utc())
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        return _private(Response(render_template("slack/signin_result.html", ok=False, message=page_message(err.message),
                                                 back=back), status=err.status if err.status < 500 else 400))
    return _private(Response(render_template("slack/signin_result.html", ok=True, link=link, back=back,
                                             message=_("Slackアカウントと連携しました。"))))


# ================================================================== manage
def _event(slug: str):
    return events_service.get_event_for(slug, current_user)


def _gateway_or_none():
    config = current_app.config
    return service.gateway(config) if service.configured(config) else None


@bp.route("/manage/slack", methods=["GET", "POST"])
@login_required
def manage_settings():
    config = current_app.config
    channels = service.cached_channels()
    current = {region: row.channel_id for region, row in service.region_channels().items()}
    form = region_channels_form(channels, current, formdata=request.form if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        mapping = {code: (getattr(form, f"region_{code}").data or "").strip() for code in orgs.REGIONS}
        try:
            service.set_region_channels(mapping, current_user, now_utc())
            db.session.commit()
            flash(_("地域のチャンネルを保存しました。"), "success")
            return redirect(url_for("slack.manage_settings"))
        except DomainError as err:
            db.session.rollback()
            apply_errors(form, {f"region_{k}": v for k, v in err.fields.items()})
            status = 422
    elif request.method == "POST":
        status = 422
    workspace = service.workspace_status(_gateway_or_none(), config)
    return render_template("slack/settings.html", form=form, workspace=workspace, channels=channels,
                           directory=directory.state(),
                           fetched_at=service.channels_fetched_at(), action=ActionForm(),
                           regions=orgs.REGIONS, mapping=service.region_channels()), status


@bp.route("/manage/slack/channels", methods=["POST"])
@login_required
def manage_refresh():
    if not ActionForm().validate_on_submit():
        abort(400)
    gw = _gateway_or_none()
    if gw is None:
        flash(_("Slackが未設定のため、チャンネル一覧を取得できません。"), "error")
        return redirect(url_for("slack.manage_settings"))
    try:
        rows = service.refresh_channels(gw, now_utc())
        db.session.commit()
        flash(_("チャンネル一覧を更新しました（%(n)s件）。", n=len(rows)), "success")
    except SlackError as err:
        db.session.rollback()
        flash(_("チャンネル一覧を取得できませんでした（%(e)s）。", e=err.error), "error")
    return redirect(url_for("slack.manage_settings"))


def _render_event(event, *, channel_form=None, link_forms=None, status=200):
    channels = service.cached_channels()
    override = service.event_channel(event)
    channel_form = channel_form or event_channel_form(channels, override.channel_id if override else "")
    rows = service.link_rows(event)
    summary = service.summarize(rows)
    link_forms = link_forms or {}
    try:
        channel = service.channel_for(event)
    except DomainError:
        channel = None
    return render_template(
        "slack/event.html", event=event, channel=channel, override=override, channel_form=channel_form,
        summary=summary, rows=rows, link_forms=link_forms, manual=ManualLinkForm(), action=ActionForm(),
        missing=[r.registration for r in rows if r.status == "not_in_workspace"],
        deliveries=service.slack_deliveries(event), configured=service.configured(current_app.config),
        kinds=service.FOLLOWUP_KINDS, join_url=current_app.config.get("SLACK_JOIN_URL"),
        notice=_not_configured(), now=now_utc()), status


@bp.route("/manage/events/<slug>/slack")
@login_required
def manage_event(slug: str):
    return _render_event(_event(slug))


@bp.route("/manage/events/<slug>/slack/channel", methods=["POST"])
@login_required
def manage_channel(slug: str):
    event = _event(slug)
    override = service.event_channel(event)
    form = event_channel_form(service.cached_channels(), override.channel_id if override else "", formdata=request.form)
    if not form.validate_on_submit():
        return _render_event(event, channel_form=form, status=422)
    try:
        service.set_event_channel(event, (form.channel.data or "").strip(), current_user, now_utc())
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        apply_errors(form, err.fields)
        return _render_event(event, channel_form=form, status=422)
    flash(_("投稿先チャンネルを保存しました。"), "success")
    return redirect(url_for("slack.manage_event", slug=slug))


@bp.route("/manage/events/<slug>/slack/link", methods=["POST"])
@login_required
def manage_link_all(slug: str):
    event = _event(slug)
    if not ActionForm().validate_on_submit():
        abort(400)
    gw = _gateway_or_none()
    if gw is None:
        flash(_("Slackが未設定のため、照合できません。"), "error")
        return redirect(url_for("slack.manage_event", slug=slug))
    try:
        summary = service.link_accounts(event, gw, current_user, now_utc())
        db.session.commit()
        flash(_("照合しました: 連携済み %(a)s名、ワークスペースにいない %(b)s名。", a=summary.linked, b=summary.not_found),
              "success")
    except SlackError as err:
        db.session.rollback()
        flash(_("Slackに問い合わせできませんでした（%(e)s）。時間をおいてお試しください。", e=err.error), "error")
    return redirect(url_for("slack.manage_event", slug=slug))


@bp.route("/manage/events/<slug>/slack/links/<int:registration_id>", methods=["POST"])
@login_required
def manage_link(slug: str, registration_id: int):
    event = _event(slug)
    reg = service.get_registration(event, registration_id)
    form = ManualLinkForm()
    if not form.validate_on_submit():
        return _render_event(event, link_forms={reg.id: form}, status=422)
    try:
        service.link_manually(reg, form.slack_user.data or "", _gateway_or_none(), current_user, now_utc())
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        apply_errors(form, err.fields)
        return _render_event(event, link_forms={reg.id: form}, status=422)
    except SlackError as err:
        db.session.rollback()
        form.slack_user.errors.append(_("Slackに問い合わせできませんでした（%(e)s）。", e=err.error))
        return _render_event(event, link_forms={reg.id: form}, status=422)
    flash(_("%(name)s さんをSlackと連携しました。", name=reg.name), "success")
    return redirect(url_for("slack.manage_event", slug=slug) + f"#reg-{reg.id}")


@bp.route("/manage/events/<slug>/slack/links/<int:registration_id>/unlink", methods=["POST"])
@login_required
def manage_unlink(slug: str, registration_id: int):
    event = _event(slug)
    reg = service.get_registration(event, registration_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    service.unlink(reg, current_user, now_utc())
    db.session.commit()
    flash(_("%(name)s さんのSlack連携を解除しました。", name=reg.name), "success")
    return redirect(url_for("slack.manage_event", slug=slug) + f"#reg-{reg.id}")


def _preview(event, kind: str, channel: str | None, form: ConfirmForm | None = None, status: int = 200,
             error: str | None = None):
    plan = service.plan_followup(event, kind, now_utc(), channel=channel or None)
    form = form or ConfirmForm(formdata=None)
    form.digest.data = plan.digest
    form.channel.data = channel or ""
    rendered = [(item, blocks_to_html(item.message.blocks, plan.names) if item.message else None,
                 mrkdwn_to_html(item.message.text, plan.names) if item.message else None)
                for item in plan.items]
    return render_template("slack/preview.html", event=event, kind=kind, plan=plan, rendered=rendered, form=form,
                           error=error, notice=_not_configured()), status


@bp.route("/manage/events/<slug>/slack/followups/<any(announcement, reminder, report, survey_dm, invite):kind>")
@login_required
def manage_preview(slug: str, kind: str):
    event = _event(slug)
    try:
        return _preview(event, kind, request.args.get("channel"))
    except DomainError as err:
        flash(page_message(err.message), "error")
        return redirect(url_for("slack.manage_event", slug=slug))


@bp.route("/manage/events/<slug>/slack/followups/<any(announcement, reminder, report, survey_dm, invite):kind>",
          methods=["POST"])
@login_required
def manage_queue(slug: str, kind: str):
    event = _event(slug)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    channel = (form.channel.data or "").strip() or None
    now = now_utc()
    try:
        plan = service.plan_followup(event, kind, now, channel=channel)
        rows = service.queue_followup(event, kind, current_user, now, channel=channel,
                                      expected_digest=form.digest.data or "", plan=plan)
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        return _preview(event, kind, channel, status=409 if err.status == 409 else 422, error=page_message(err.message))
    if rows:
        flash(_("%(n)s件の送信を予約しました。", n=len(rows)), "success")
    elif plan.items:
        flash(_("前回と同じ内容のため、何も送りませんでした。"), "info")
    else:
        flash(_("送る相手がいないため、何も送りませんでした。"), "info")
    for warning in plan.warnings:
        flash(page_message(warning.message), "warning")
    return redirect(url_for("slack.manage_event", slug=slug) + "#deliveries")


@bp.route("/manage/events/<slug>/slack/deliveries/<int:delivery_id>/retry", methods=["POST"])
@login_required
def manage_retry(slug: str, delivery_id: int):
    event = _event(slug)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        service.retry_delivery(event, delivery_id, now_utc())
        db.session.commit()
        flash(_("再送を予約しました。"), "success")
    except DomainError as err:
        db.session.rollback()
        flash(page_message(err.message), "error")
    return redirect(url_for("slack.manage_event", slug=slug) + "#deliveries")
