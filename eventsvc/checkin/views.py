"""The desk: check-in page (camera, scanner, name search, offline), staff links, paper lists.

Who may use the desk of an event: its organizers (logged in) and reception staff who
opened a staff link for it (a session scoped to that one event). Everything on the page
works without JavaScript (typed code, name search, undo, walk-ins); with JavaScript the
page also scans with the camera, answers offline from a snapshot and syncs its queue.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from .. import database
from ..audit import service as audit
from ..core import export
from ..core.clock import now_utc, to_jst, to_utc
from ..core.i18n import N_
from ..errors import DomainError, NotFound, ValidationFailed, error_body, page_message
from ..events.forms import ActionForm
from ..events.models import Event
from ..events.poster import qr_svg
from ..extensions import db, limiter
from ..jsonapi import adapter, validation_fields
from ..web import apply_errors, external_url, page_number, spreadsheet_download
from . import api as desk_api
from . import present, service
from .forms import ScanForm, SelfCheckinForm, StaffLinkForm, WalkInForm
from .models import Checkin

bp = Blueprint("checkin", __name__)

#: session key: why the attendee's last self check-in was refused, told once in the panel (not the page top)
SELF_CHECKIN_ERROR_KEY = "self_checkin_error"
#: session key: ``{"link": staff link id, "event": event id}``
STAFF_KEY = "checkin_staff"
#: the event whose staff session in this browser ended because its link was revoked or expired:
#: the desk then says so again on a reload, instead of showing an organizer login out of the blue
STAFF_ENDED_KEY = "checkin_staff_ended"
#: the desk page may use the camera; every other page keeps ``camera=()`` (see web.py)
DESK_PERMISSIONS = "camera=(self), microphone=(), geolocation=()"

# ------------------------------------------------------------------ public (attendees, staff links)
# GET  /staff/<token>                                   staff_enter        link → staff session → desk
# POST /events/<slug>/self-checkin                      self_checkin       attendee enters the attendance code
# ------------------------------------------------------------------ desk (organizers or staff of the event)
# GET  /events/<slug>/checkin/                          desk               the page (?q= name search without JS)
# POST /events/<slug>/checkin/                          desk_scan          typed or scanned code
# POST /events/<slug>/checkin/registrations/<id>        desk_admit         one tap from the name search
# POST /events/<slug>/checkin/registrations/<id>/undo   desk_undo          take a check-in back
# POST /events/<slug>/checkin/walk-in                   desk_walk_in       register (or find) and admit at the door
# GET  …/checkin/registrations/<id>[/undo], …/walk-in    desk_after_post    a no-JS form's address opened again → the desk
# POST /events/<slug>/checkin/logout                    desk_logout        end this device's staff session
# GET  /events/<slug>/checkin/reception-list            reception_list     printable list, 50音順
# GET  /events/<slug>/checkin/sw.js                     service_worker     offline page and assets
# GET  /events/<slug>/checkin/state.json                desk_state         CSRF token and counters (JS)
# POST /events/<slug>/checkin/scan.json                 desk_scan_json
# POST /events/<slug>/checkin/undo.json                 desk_undo_json
# POST /events/<slug>/checkin/sync.json                 desk_sync_json     queued offline scans
# GET  /events/<slug>/checkin/snapshot.json             desk_snapshot_json tickets for offline judging
# GET  /events/<slug>/checkin/search.json               desk_search_json
# ------------------------------------------------------------------ manage (organizers)
# GET/POST /manage/events/<slug>/staff-links            manage_staff_links list and create
# POST /manage/events/<slug>/staff-links/<id>/revoke    manage_revoke_staff_link
# GET  /manage/events/<slug>/name-tags                  manage_name_tags   10 per A4
# GET/POST /manage/events/<slug>/attendance-code        manage_attendance_code  for the projector
# GET  /manage/events/<slug>/duplicates                 manage_duplicates  offline admissions that came second


class DeskDenied(Exception):
    """Nobody (or an ended staff session) at the desk."""

    def __init__(self, code: str, message: str, status: int = 401):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _is_json() -> bool:
    return request.path.endswith(".json")


@bp.before_request
def _read_first():
    # the desk's JSON writes decide under their own write lock (see api.decide); their reading part is a read
    if request.endpoint in ("checkin.desk_scan_json", "checkin.desk_undo_json", "checkin.desk_sync_json"):
        desk_api.read_first()


@bp.errorhandler(DeskDenied)
def _denied(err: DeskDenied):
    if _is_json():
        return error_body(err.code, err.message), err.status
    if err.code == "login_required":
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return render_template("checkin/staff_ended.html", message=page_message(err.message)), err.status


@bp.errorhandler(DomainError)
def _domain_error(err: DomainError):
    if _is_json():
        return err.to_json(), err.status
    return render_template("error.html", status=err.status, code=err.code, message=page_message(err.message)), err.status


def _event(slug: str) -> Event:
    event = db.session.scalar(select(Event).where(Event.slug == slug))
    if event is None:
        raise NotFound("event_not_found", N_("イベントが見つかりません。"))
    return event


def _desk(slug: str) -> tuple[Event, service.Actor]:
    """The event and who is at its desk: an organizer of it, or staff holding a live link for it.

    Anyone else gets the same answer whether the event exists or not (login, or 404 for a
    logged-in organizer), so the desk tells nobody which slugs exist."""
    event = db.session.scalar(select(Event).where(Event.slug == slug))
    if event is not None and current_user.is_authenticated and event.is_managed_by(current_user):
        return event, service.Actor.organizer(current_user)
    staff = session.get(STAFF_KEY)
    if event is not None and isinstance(staff, dict) and staff.get("event") == event.id:
        now = now_utc()
        link = service.active_staff_link(int(staff.get("link", 0)), event.id, now)
        if link is not None:
            desk_api.note_staff_use(link, now)  # the organizer's list shows when each link was last used
            return event, service.Actor.staff(link)
        session.pop(STAFF_KEY, None)
        session[STAFF_ENDED_KEY] = event.id
        raise _staff_link_ended()
    if event is not None and not current_user.is_authenticated and session.get(STAFF_ENDED_KEY) == event.id:
        raise _staff_link_ended()
    if current_user.is_authenticated:
        raise NotFound("event_not_found", N_("イベントが見つかりません。"))
    raise DeskDenied("login_required", _("受付をするには主催者としてログインするか、スタッフ用リンクを開いてください。"))


def _staff_link_ended() -> DeskDenied:
    return DeskDenied("staff_link_inactive", _("このスタッフ用リンクは期限切れか、取り消されました。主催者に新しいリンクを依頼してください。"),
                      403)


def _managed(slug: str) -> Event:
    event = _event(slug)
    if not event.is_managed_by(current_user):
        raise NotFound("event_not_found", N_("イベントが見つかりません。"))
    return event


def _json(model: BaseModel | list, status: int = 200) -> Response:
    if isinstance(model, list):
        body = "[" + ",".join(m.model_dump_json() for m in model) + "]"
    else:
        body = model.model_dump_json()
    return Response(body, status=status, mimetype="application/json", headers={"Cache-Control": "no-store"})


def _body(model):
    data = request.get_json(silent=True)
    if data is None:
        raise DomainError("malformed_json", "JSON として読み取れません。", status=400)
    try:
        return adapter(model).validate_python(data)
    except ValidationError as err:
        raise ValidationFailed(validation_fields(err)) from None


def _clean_nonce(value: str | None) -> str | None:
    if value and len(value) <= 64 and value.isprintable():
        return value
    return None


# ------------------------------------------------------------------ the desk page
def _walk_in_form(event: Event, form: WalkInForm | None = None) -> WalkInForm:
    form = form or WalkInForm(formdata=None)
    form.ticket_type.choices = [(t.code, t.name) for t in event.ticket_types]
    return form


def _render_desk(event: Event, actor: service.Actor, *, result: present.CheckinOut | None = None,
                 query: str = "", hits=None, walk_in: WalkInForm | None = None, status: int = 200,
                 scan_error: str | None = None):
    counters = service.counters(event)
    scan_form = ScanForm(formdata=None, nonce=uuid.uuid4().hex)
    if scan_error:
        scan_form.code.errors = [scan_error]
    html = render_template(
        "checkin/desk.html", event=event, actor=actor, result=result, query=query, hits=hits,
        counters=counters, form=scan_form, walk_in=_walk_in_form(event, walk_in), action=ActionForm(),
        walk_in_open=walk_in is not None and bool(walk_in.errors),
        duplicates=counters.duplicates, event_day=service.event_day(event, now_utc()))
    response = Response(html, status=status)
    response.headers["Permissions-Policy"] = DESK_PERMISSIONS
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/events/<slug>/checkin/")
def desk(slug: str):
    event, actor = _desk(slug)
    query = (request.args.get("q") or "")[:100]
    hits = service.search(event, query) if query.strip() else None
    return _render_desk(event, actor, query=query, hits=hits)


@bp.route("/events/<slug>/checkin/", methods=["POST"])
def desk_scan(slug: str):
    event, actor = _desk(slug)
    form = ScanForm()
    if not form.validate_on_submit():
        abort(400)
    if not (form.code.data or "").strip():  # Enter on an empty field: nothing was scanned
        return _render_desk(event, actor, scan_error=_("チケットのコードを読み取るか、入力してください。"), status=422)
    body = desk_api.CheckinIn(code=form.code.data or "", nonce=_clean_nonce(form.nonce.data), method="scanner")
    return _render_desk(event, actor, result=desk_api.scan(event, actor, body, now_utc()))


@bp.route("/events/<slug>/checkin/registrations/<int:registration_id>", methods=["POST"])
def desk_admit(slug: str, registration_id: int):
    event, actor = _desk(slug)
    if not ActionForm().validate_on_submit():
        abort(400)
    body = desk_api.CheckinIn(registration_id=registration_id, method="search")
    return _render_desk(event, actor, result=desk_api.scan(event, actor, body, now_utc()))


@bp.route("/events/<slug>/checkin/registrations/<int:registration_id>/undo", methods=["POST"])
def desk_undo(slug: str, registration_id: int):
    event, actor = _desk(slug)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        out = desk_api.undo(event, actor, registration_id, now_utc())
    except DomainError as err:
        db.session.rollback()
        flash(page_message(err.message), "error")
        return redirect(url_for("checkin.desk", slug=slug))
    return _render_desk(event, actor, result=out)


@bp.route("/events/<slug>/checkin/walk-in", methods=["POST"])
def desk_walk_in(slug: str):
    event, actor = _desk(slug)
    form = _walk_in_form(event, WalkInForm())
    if form.validate_on_submit():
        data = service.WalkIn(name=form.name.data, name_kana=form.name_kana.data, email=form.email.data,
                              ticket_type=form.ticket_type.data, organization_name=form.organization_name.data or "",
                              consent_privacy=bool(form.consent_privacy.data))
        try:
            result = service.walk_in(event, data, actor=actor, now=now_utc(),
                                     override=bool(form.override.data) and actor.is_organizer, device_id="web")
            out = present.walk_in_out(event, result)
            audit.annotate(target=f"registration:{result.registration.id}",
                           registration_was=out.registration_was or "none", overridden=out.overridden)
            db.session.commit()
            return _render_desk(event, actor, result=out)
        except DomainError as err:
            db.session.rollback()
            event = _event(slug)
            leftover = apply_errors(form, err.fields or {})
            message = page_message(err.message)
            form.form_errors.extend(leftover or ([] if err.fields else [message]))
            if err.fields and message not in leftover:
                form.form_errors.append(message)
    return _render_desk(event, actor, walk_in=form, status=422)


@bp.route("/events/<slug>/checkin/registrations/<int:registration_id>")
@bp.route("/events/<slug>/checkin/registrations/<int:registration_id>/undo")
@bp.route("/events/<slug>/checkin/walk-in")
def desk_after_post(slug: str, registration_id: int | None = None):
    """The address a form of the desk (without JavaScript) left in the address bar, opened again:
    the desk itself, not an error page."""
    return redirect(url_for("checkin.desk", slug=slug))


@bp.route("/events/<slug>/checkin/logout", methods=["POST"])
def desk_logout(slug: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    session.pop(STAFF_KEY, None)
    session.pop(STAFF_ENDED_KEY, None)
    flash(_("この端末での受付を終了しました。"), "success")
    return redirect(url_for("events.index"))


@bp.route("/events/<slug>/checkin/reception-list")
def reception_list(slug: str):
    event, actor = _desk(slug)
    people = service.attendees(event)
    groups = [(t, [a for a in people if a.registration.ticket_type_id == t.id]) for t in event.ticket_types]
    return render_template("checkin/reception_list.html", event=event, groups=groups, total=len(people),
                           printed_at=now_utc())


@bp.route("/events/<slug>/checkin/sw.js")
def service_worker(slug: str):
    """The service worker, served from the desk's folder so that its scope covers the desk."""
    response = send_from_directory(current_app.static_folder, "js/checkin-sw.js", mimetype="text/javascript",
                                   max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


# ------------------------------------------------------------------ the desk page's JSON (session + CSRF)
@bp.route("/events/<slug>/checkin/state.json")
def desk_state(slug: str):
    event, actor = _desk(slug)
    body = {"csrf_token": generate_csrf(), "actor": actor.label,
            "counters": present.counters_out(service.counters(event)).model_dump()}
    return body, 200, {"Cache-Control": "no-store"}


@bp.route("/events/<slug>/checkin/scan.json", methods=["POST"])
def desk_scan_json(slug: str):
    event, actor = _desk(slug)
    return _json(desk_api.scan(event, actor, _body(desk_api.CheckinIn), now_utc()))


class UndoIn(BaseModel):
    registration_id: int


@bp.route("/events/<slug>/checkin/undo.json", methods=["POST"])
def desk_undo_json(slug: str):
    event, actor = _desk(slug)
    return _json(desk_api.undo(event, actor, _body(UndoIn).registration_id, now_utc()))


@bp.route("/events/<slug>/checkin/sync.json", methods=["POST"])
def desk_sync_json(slug: str):
    event, actor = _desk(slug)
    return _json(desk_api.sync(event, actor, _body(desk_api.SyncIn), now_utc()))


@bp.route("/events/<slug>/checkin/snapshot.json")
def desk_snapshot_json(slug: str):
    event, _actor = _desk(slug)
    return _json(present.snapshot_out(event, now_utc()))


@bp.route("/events/<slug>/checkin/search.json")
def desk_search_json(slug: str):
    event, _actor = _desk(slug)
    query = (request.args.get("q") or "")[:100]
    return _json([present.attendee_out(event, a) for a in service.search(event, query)])


# ------------------------------------------------------------------ staff links
@bp.route("/staff/<token>")
def staff_enter(token: str):
    """Exchange the link's token for a session scoped to its event, then drop it from the URL."""
    write = database.set_write_intent(True)  # a GET that records the link's use
    try:
        now = now_utc()
        link = service.resolve_staff_token(token, now)
        if link is None:
            db.session.rollback()
            response = Response(render_template("checkin/staff_ended.html", message=_(
                "このスタッフ用リンクは使えません（期限切れ、取り消し、または誤ったリンク）。主催者に新しいリンクを依頼してください。")),
                status=403)
        else:
            link.last_used_at = now
            slug = link.event.slug
            session[STAFF_KEY] = {"link": link.id, "event": link.event_id}
            session.pop(STAFF_ENDED_KEY, None)
            db.session.commit()
            response = redirect(url_for("checkin.desk", slug=slug))
    finally:
        database.reset_write_intent(write)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _next_label(event: Event) -> str:
    """受付1, 受付2, …: the first number no link of the event is named after."""
    taken = {link.label for link in service.staff_links(event)}
    return next(label for n in range(1, len(taken) + 2) if (label := _("受付%(n)s", n=n)) not in taken)


def _default_expiry(event: Event, now):
    end = max(event.ends_at, now) + timedelta(hours=6)
    return to_jst(min(end, now + timedelta(days=service.MAX_STAFF_LINK_DAYS))).replace(tzinfo=None, second=0,
                                                                                        microsecond=0)


@bp.route("/manage/events/<slug>/staff-links", methods=["GET", "POST"])
@login_required
def manage_staff_links(slug: str):
    event = _managed(slug)
    now = now_utc()
    form = StaffLinkForm()
    created = None
    status = 200
    if request.method == "GET":
        form.label.data = _next_label(event)
        form.expires_at.data = _default_expiry(event, now)
    elif form.validate_on_submit():
        try:
            link, token = service.create_staff_link(event, form.label.data, expires_at=to_utc(form.expires_at.data),
                                                    created_by=current_user, now=now)
            db.session.commit()
            url = external_url("checkin.staff_enter", token=token)
            created = {"link": link, "url": url,
                       "qr": Markup(qr_svg(url, label=_("スタッフ用リンクのQRコード（%(label)s）", label=link.label)))}
            form = StaffLinkForm(formdata=None, label=_next_label(event),
                                 expires_at=form.expires_at.data)
        except DomainError as err:
            db.session.rollback()
            event = _managed(slug)
            form.form_errors.extend(apply_errors(form, err.fields or {"": err.message}))
            status = 422
    else:
        status = 422
    response = Response(render_template("checkin/staff_links.html", event=event, form=form, links=service.staff_links(event),
                                        created=created, now=now, action=ActionForm()), status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/manage/events/<slug>/staff-links/<int:link_id>/revoke", methods=["POST"])
@login_required
def manage_revoke_staff_link(slug: str, link_id: int):
    event = _managed(slug)
    if not ActionForm().validate_on_submit():
        abort(400)
    link = service.revoke_staff_link(event, link_id, now=now_utc())
    db.session.commit()
    flash(_("「%(label)s」のリンクを取り消しました。この端末の受付画面は次の操作から使えなくなります。", label=link.label), "success")
    return redirect(url_for("checkin.manage_staff_links", slug=slug))


# ------------------------------------------------------------------ paper and projector
@bp.route("/manage/events/<slug>/name-tags")
@login_required
def manage_name_tags(slug: str):
    event = _managed(slug)
    with_qr = request.args.get("qr") == "1"
    type_code = request.args.get("type") or ""
    only_arrived = request.args.get("only") == "checked_in"
    people = service.attendees(event)
    if type_code:
        people = [a for a in people if a.registration.ticket_type.code == type_code]
    if only_arrived:
        people = [a for a in people if a.checked_in]
    tags = []
    for a in people:
        qr = None
        if with_qr:
            qr = Markup(qr_svg(a.registration.ticket_code, css_class="nametag-qr",
                               label=_("%(name)s さんのチケットQRコード", name=a.registration.name)))
        tags.append((a, qr))
    sheets = [tags[i:i + 10] for i in range(0, len(tags), 10)]
    return render_template("checkin/name_tags.html", event=event, sheets=sheets, count=len(tags), with_qr=with_qr,
                           type_code=type_code, only_arrived=only_arrived)


@bp.route("/manage/events/<slug>/attendance-code", methods=["GET", "POST"])
@login_required
def manage_attendance_code(slug: str):
    event = _managed(slug)
    now = now_utc()
    if request.method == "POST":
        if not ActionForm().validate_on_submit():
            abort(400)
        service.replace_attendance_code(event, now)
        db.session.commit()
        flash(_("新しい出席コードにしました。"), "success")
        return redirect(url_for("checkin.manage_attendance_code", slug=slug))
    from .models import AttendanceCode

    code = db.session.get(AttendanceCode, event.id)
    return render_template("checkin/attendance_code.html", event=event, code=code, action=ActionForm(),
                           open=service.self_check_in_open(event, now))


@bp.route("/manage/events/<slug>/duplicates")
@login_required
def manage_duplicates(slug: str):
    event = _managed(slug)
    rows = service.duplicates(event)
    valid = {c.registration_id: c for c in db.session.scalars(select(Checkin).where(
        Checkin.event_id == event.id, Checkin.result == "checked_in", Checkin.undone_at.is_(None)))}
    return render_template("checkin/duplicates.html", event=event, rows=rows, valid=valid)


def _log_filters() -> tuple[str | None, str | None]:
    result = request.args.get("result") or None
    return (result if result in service.LOG_RESULTS else None), (request.args.get("device") or "")[:64] or None


@bp.route("/manage/events/<slug>/checkin-log")
@login_required
def manage_scan_log(slug: str):
    """Every scan of the event, newest first: who was admitted or turned away, when, on which device."""
    event = _managed(slug)
    result, device = _log_filters()
    page = page_number()
    entries, total = service.scan_log(event, result=result, device_id=device, page=page)
    pages = max(1, -(-total // service.LOG_PER_PAGE))
    args = {k: v for k, v in (("result", result), ("device", device)) if v}
    response = Response(render_template(
        "checkin/scan_log.html", event=event, entries=entries, total=total, page=page, pages=pages, args=args,
        result=result, device=device, devices=service.log_devices(event), results=service.LOG_RESULTS,
        result_text=present.log_result_text, method_text=present.method_text, filter_text=present.log_filter_text))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/manage/events/<slug>/checkin-log.csv")
@login_required
def manage_scan_log_csv(slug: str):
    """The scan log as CSV for Excel (the page's filters apply; every line, not one page)."""
    event = _managed(slug)
    result, device = _log_filters()
    entries, _total = service.scan_log(event, result=result, device_id=device, per_page=None)
    header = [_("読み取り時刻"), _("受信時刻"), _("結果"), _("参加者"), _("所属"), _("方法"), _("端末"), _("担当"),
              _("読み取った内容のハッシュ")]
    rows = [[to_jst(e.log.scanned_at).strftime("%Y-%m-%d %H:%M:%S"),
             to_jst(e.log.received_at).strftime("%Y-%m-%d %H:%M:%S"),
             present.log_result_text(e.log.result, e.log.reason, e.log.duplicate), e.name, e.organization,
             present.method_text(e.log.method), e.log.device_id, e.log.actor_label, e.log.input_hash]
            for e in entries]
    return spreadsheet_download(export.to_csv(header, rows), f"{event.slug}-checkin-log.csv")


# ------------------------------------------------------------------ self check-in (attendee)
def _safe_next(target: str | None, fallback: str) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return fallback


def _attendee_registration(event: Event, token: str):
    """The registration behind the attendee page's token (its signed link) or an attendee bearer token."""
    from ..registration import service as registrations

    token = token or ""
    if token.startswith(registrations.ATTENDEE_PREFIX):
        reg = registrations.resolve_attendee_token(token)
    else:
        reg = registrations.registration_from_link(token)  # NotFound / link_expired
    if reg is None or reg.event_id != event.id:
        raise NotFound("registration_not_found", N_("申込みが見つかりません。チケットのページから操作してください。"))
    return reg


def _attendee_key() -> str:
    """Rate-limit key: the attendee (a whole venue shares one address behind its Wi-Fi)."""
    return "self-checkin:" + (request.form.get("token") or "")[:200]


@bp.route("/events/<slug>/self-checkin", methods=["POST"])
@limiter.limit("10 per minute", key_func=_attendee_key)  # guessing the code: 10 tries a minute per attendee
@limiter.limit("600 per minute")  # per address: a full room at once, not a script
def self_checkin(slug: str):
    """The attendee types the code on the projector into their own ticket page."""
    event = _event(slug)
    form = SelfCheckinForm()
    event_page = url_for("events.show", slug=slug)
    back = _safe_next(form.next.data, event_page)
    registration = _attendee_registration(event, form.token.data)
    # back to the attendee's page (the panel's): the page opens at the panel, and a refusal is told there
    in_panel = back != event_page
    here = back + "#self-checkin" if in_panel else back

    def refused(message: str):
        if in_panel:
            session[SELF_CHECKIN_ERROR_KEY] = str(message)
        else:
            flash(message, "error")
        return redirect(here)

    if not form.validate_on_submit():
        return refused(next(iter(form.errors.values()))[0] if form.errors else _("出席コードを入力してください。"))
    try:
        result = service.self_check_in(event, registration, form.code.data, now=now_utc())
        out = present.result_out(event, result)
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        return refused(page_message(next(iter(err.fields.values())) if err.fields else err.message))
    if out.result == "checked_in":
        flash(_("出席を登録しました。ようこそ！"), "success")
    elif out.result == "already_checked_in":
        flash(_("出席は登録済みです。"), "success")
    else:
        return refused(out.message)
    return redirect(here)


@bp.app_template_global()
def self_checkin_panel(registration, token: str, next: str | None = None) -> Markup:
    """The self check-in box for the attendee's own page (``registration/attendee.html``).

    ``token`` is that page's token (its signed link); ``next`` where to come back to::

        {% if has_endpoint('checkin.self_checkin') %}{{ self_checkin_panel(reg, token, request.path) }}{% endif %}
    """
    event = registration.event
    now = now_utc()
    checkin = db.session.scalar(select(Checkin).where(
        Checkin.registration_id == registration.id, Checkin.result == "checked_in", Checkin.undone_at.is_(None)))
    form = SelfCheckinForm(formdata=None, token=token, next=next or "")
    error = session.pop(SELF_CHECKIN_ERROR_KEY, None)  # what the last try was told (self_checkin)
    if error:
        form.code.errors = [error]
    return Markup(render_template("checkin/_self_checkin.html", event=event, registration=registration,
                                  checkin=checkin, form=form, open=service.self_check_in_open(event, now),
                                  error=error))


bp.add_app_template_global(present.reason_text, "checkin_reason")
