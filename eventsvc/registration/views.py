"""Registration pages: the public form, the attendee's own page, the organizer's lists and exports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

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
    url_for,
)
from flask_babel import gettext as _
from flask_babel import pgettext
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required
from itsdangerous import BadSignature
from markupsafe import Markup

from .. import database
from ..core import export, orgs
from ..core.clock import format_range, now_utc, to_jst, to_utc
from ..core.i18n import N_
from ..core.text import normalize_email
from ..errors import DomainError, ValidationFailed, page_message, page_messages
from ..events import service as events_service
from ..events.forms import ActionForm, choices
from ..events.poster import qr_png, qr_svg
from ..extensions import db, limiter
from ..web import apply_errors, locale, spreadsheet_download
from . import rules, service
from .forms import (
    NATIONAL,
    CancelEventForm,
    EditForm,
    LinkForm,
    LotteryForm,
    MessageForm,
    NoteForm,
    RegisterForm,
    SettingsForm,
    TicketTypeForm,
    add_question_fields,
    organization_choices,
)
from .models import ACTIVE, SEATED, STATUSES, Registration

bp = Blueprint("registration", __name__)

# ------------------------------------------------------------------ public
# GET/POST /events/<slug>/register              register          the form (no JS needed)
# GET      /organizations/search?q=             org_search        type-ahead (JSON)
# GET/POST /events/<slug>/my-link               resend_link       mail me my link again
# GET      /my/<token>                          attendee          the attendee's page (signed link)
# GET/POST /my/<token>/cancel                   attendee_cancel   explain and ask; POST cancels
# POST     /my/<token>/accept                   attendee_accept   take an offered seat
# GET/POST /my/<token>/edit                     attendee_edit     details, participation type
# GET      /my/<token>/ticket.png               attendee_qr_png
# GET      /my/<token>/participants             participants      who else is coming (consenting)
# ------------------------------------------------------------------ manage
# GET      /manage/events/<slug>/registrations        manage_list     counts, search, filters
# GET      /manage/events/<slug>/registrations.csv    export_csv
# GET      /manage/events/<slug>/registrations.xlsx   export_xlsx
# GET      /manage/registrations/<id>                  manage_detail   review with a message
# POST     /manage/registrations/<id>/<action>         manage_action   approve/reject/cancel/promote/facilitator
# GET/POST /manage/events/<slug>/message               manage_message  to all confirmed
# GET/POST /manage/events/<slug>/registration-settings manage_settings promotion, questions, lottery time
# POST     /manage/events/<slug>/lottery               manage_lottery  draw now

ERROR_ALIASES = {"reason": "email"}

# ------------------------------------------------------------------ hooks
#: ``fn(registration) -> Markup | None``: a section a feature above registration (teams)
#: adds to the attendee's page; None adds nothing
AttendeePanel = Callable[[Registration], "Markup | None"]
_attendee_panels: list[AttendeePanel] = []


def register_attendee_panel(fn: AttendeePanel) -> None:
    """Let a feature above registration show something on the attendee's page (e.g. their team)."""
    if fn not in _attendee_panels:
        _attendee_panels.append(fn)


def ip_email_key() -> str:
    """Rate-limit key: client IP + the normalised e-mail (many LGWAN users share one IP)."""
    email = request.form.get("email")
    if email is None and request.is_json:
        body = request.get_json(silent=True)
        email = body.get("email") if isinstance(body, dict) else None
    return f"{get_remote_address()}|{normalize_email(str(email or ''))[:254]}"


def _limits_off() -> bool:
    return not current_app.config.get("RATELIMIT_ENABLED", True)


#: applied to the public form and the API call alike
REGISTER_LIMITS = [
    limiter.limit("5 per minute;20 per hour", key_func=ip_email_key, methods=["POST"], exempt_when=_limits_off,
                  scope="register-ip-email"),
    limiter.limit("300 per minute", methods=["POST"], exempt_when=_limits_off, scope="register-ip"),
]


def rate_limited(fn):
    for limit in REGISTER_LIMITS:
        fn = limit(fn)
    return fn


def _aliases(questions) -> dict[str, str]:
    return {**ERROR_ALIASES, **{f"answers.{q.id}": f"q_{q.id}" for q in questions}}


def _answers_from(form, questions) -> dict:
    out = {}
    for q in questions:
        value = form[f"q_{q.id}"].data
        if value not in (None, "", []):
            out[q.id] = value
    return out


def _fill_org_choices(form, event=None) -> None:
    pref = form.prefecture.data
    if not pref and form.organization_code.data:
        org = orgs.get(form.organization_code.data)
        if org is not None:
            pref = NATIONAL if org.kind == "national" else org.prefecture_code
            form.prefecture.data = pref
    if not pref and event is not None and event.prefecture_code and request.method == "GET":
        pref = event.prefecture_code
        form.prefecture.data = pref
    form.organization_code.choices = organization_choices(pref, form.organization_code.data)


def _fill_from(form, reg: Registration, questions) -> None:
    """The person's details as ``reg`` holds them, into ``form`` (the required consents stay unticked)."""
    for name in ("name", "name_kana", "organization_code", "department", "consent_listing", "consent_slack_mention"):
        form[name].data = getattr(reg, name)
    form.organization_name.data = "" if reg.organization_code else reg.organization_name
    for q in questions:
        form[f"q_{q.id}"].data = (reg.answers or {}).get(q.id)


def _cancelled_application(event, token: str | None) -> Registration | None:
    """The cancelled registration for ``event`` that a "apply again" link names (its signed
    attendee link, ``?again=``), or None: a wrong, expired or other event's link just gives
    the empty form."""
    if not token:
        return None
    try:
        reg = service.registration_from_link(token)
    except DomainError:
        return None
    return reg if reg.event_id == event.id and reg.status == "cancelled" else None


def _person_data(form, questions, **extra) -> service.RegistrationData:
    return service.RegistrationData(
        name=form.name.data or "", name_kana=form.name_kana.data or "", email=extra.pop("email", ""),
        organization_code=form.organization_code.data or None, organization_name=form.organization_name.data or "",
        department=form.department.data or "", answers=_answers_from(form, questions),
        consent_slack_mention=bool(form.consent_slack_mention.data), consent_listing=bool(form.consent_listing.data),
        locale=locale(), **extra)


def _merge_errors(form, fields: dict, questions) -> None:
    """Service errors onto fields that have none yet; the rest into the summary."""
    fresh = {k: v for k, v in fields.items() if not _field_has_errors(form, _aliases(questions).get(k, k))}
    form.form_errors.extend(apply_errors(form, fresh, _aliases(questions)))


def _field_has_errors(form, name: str) -> bool:
    return name in form._fields and bool(form[name].errors)


def _closed_message(reason: str | None) -> str:
    """Why the form is closed, in the page's language (the rules keep the Japanese text)."""
    message = rules.WINDOW_MESSAGES.get(reason or "")
    return _(message) if message else ""


@bp.route("/events/<slug>/register", methods=["GET", "POST"])
@rate_limited
def register(slug: str):
    # reading and checking take no write lock; the admission below does (the teardown resets this)
    database.set_write_intent(False)
    event = events_service.get_public_event(slug)
    now = now_utc()
    questions = service.questions_of(event)
    settings = service.settings_for(event)
    form = add_question_fields(RegisterForm, questions)()
    form.ticket_type.choices = choices([(t.code, t.name) for t in event.ticket_types])
    if request.method == "GET" and event.ticket_types:
        form.ticket_type.data = event.ticket_types[0].code
    before = _cancelled_application(event, request.args.get("again")) if request.method == "GET" else None
    if before is not None:
        # applying again after cancelling: what was typed the first time, to check and send
        _fill_from(form, before, questions)
        form.email.data = before.email
        if event.ticket_type(before.ticket_type.code) is not None:
            form.ticket_type.data = before.ticket_type.code
    _fill_org_choices(form, event)
    closed = rules.registration_window(now=now, status=event.status, opens_at=event.registration_opens_at,
                                       closes_at=event.registration_closes_at, ends_at=event.ends_at)
    context = dict(event=event, questions=questions, settings=settings, left=events_service.capacity_left(event),
                   closed=closed, closed_message=_closed_message(closed), now=now)
    if request.method == "GET" or closed:
        status = 409 if closed and request.method == "POST" else 200
        page = render_template("registration/register.html", form=form, **context)
        if before is not None:  # the person's details, and their link in the address: for nobody else
            return page, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
        return page, status
    if form.pick_prefecture.data:  # the no-JS organisation picker: show that prefecture's list
        return render_template("registration/register.html", form=form, picked=True, **context)
    form_ok = form.validate()
    if not form.consent_rules.data:
        form.consent_rules.errors = list(form.consent_rules.errors) + [_("発言ルールの確認が必要です。")]
        form_ok = False
    data = _person_data(form, questions, email=form.email.data or "", ticket_type=form.ticket_type.data or None,
                        consent_privacy=bool(form.consent_privacy.data))
    try:
        if not form_ok:
            service.validate(event, data, require_consent=True, require_organization=True)
            raise ValidationFailed({})
        application = service.prepare(event, data, now, require_consent=True, require_organization=True)
        session = db.session()
        with database.write_after_read(session), database.keep_loaded(session):
            reg, _token = service.admit(application, now, commit=True)
        link = service.link_token(reg)  # signed after the commit, from the row kept loaded
    except DomainError as err:
        db.session.rollback()
        event = events_service.get_public_event(slug)
        context["event"] = event
        if err.code == "registration_closed":
            context["closed"], context["closed_message"] = "closed", page_message(err.message)
            return render_template("registration/register.html", form=form, **context), 409
        if err.code == "already_registered":
            form.form_errors.append(page_message(err.message))
            if not form.email.errors:
                form.email.errors = [page_message(err.fields.get("email", err.message))]
            return render_template("registration/register.html", form=form, already=True, **context), 409
        _merge_errors(form, err.fields, questions)
        return render_template("registration/register.html", form=form, **context), 422
    flash(_("お申込みを受け付けました。このページのURLはあなた専用です（同じ内容をメールでもお送りします）。"), "success")
    return redirect(url_for("registration.attendee", token=link))


@bp.route("/organizations/search")
def org_search():
    """Type-ahead for the organisation picker: ``[{code, name, kana}]`` (kanji or kana, any width)."""
    q = (request.args.get("q") or "")[:50]
    hits = orgs.search(q, limit=15) if q.strip() else []
    return jsonify([{"code": o.code, "name": o.name, "kana": o.name_kana,
                     "prefecture": NATIONAL if o.kind == "national" else o.prefecture_code} for o in hits])


@bp.route("/events/<slug>/my-link", methods=["GET", "POST"])
@limiter.limit("10 per hour", key_func=ip_email_key, methods=["POST"], exempt_when=_limits_off)
def resend_link(slug: str):
    event = events_service.get_public_event(slug)
    form = LinkForm()
    if form.validate_on_submit():
        try:
            service.resend_link(event, form.email.data, now_utc())
            db.session.commit()
        except ValidationFailed as err:
            db.session.rollback()
            apply_errors(form, err.fields)
            return render_template("registration/resend_link.html", form=form, event=event), 422
        return render_template("registration/resend_link.html", form=form, event=event, sent=True)
    status = 422 if request.method == "POST" else 200
    return render_template("registration/resend_link.html", form=form, event=event), status


def _superseded_link(token: str) -> Registration | None:
    """The registration ``token`` is a genuine link of, when that link was made for an earlier
    application of it: the person cancelled and applied again, which gave the registration a new
    attendee token and link (``service.registration_from_link`` then finds the old one invalid).
    None for any other link that does not work (tampered, erased, unknown)."""
    try:
        data = service._serializer().loads(token)  # signed by us; its age does not matter here
    except BadSignature:
        return None
    reg = db.session.get(Registration, data.get("r")) if isinstance(data, dict) and isinstance(data.get("r"), int) \
        else None
    if reg is None or reg.erased_at is not None or not reg.reapplications:
        return None
    return reg if data.get("h") != reg.attendee_token_hash[:16] else None


def _attendee(token: str) -> Registration:
    try:
        return service.registration_from_link(token)
    except DomainError as err:
        if err.code == "link_expired":
            data = service._serializer().loads_unsafe(token)[1]
            reg = db.session.get(Registration, data.get("r")) if isinstance(data, dict) else None
            slug = reg.event.slug if reg else None
            abort(Response(render_template("registration/link_expired.html", slug=slug), status=410))
        if err.code == "link_invalid" and (reg := _superseded_link(token)) is not None:
            abort(Response(render_template("registration/link_superseded.html", event=reg.event), status=410))
        raise


@bp.route("/my/<token>")
def attendee(token: str):
    reg = _attendee(token)
    event = reg.event
    position = service.waitlist_position(reg)
    qr = qr_svg(reg.ticket_code, label=_("受付用QRコード: %(code)s", code=reg.ticket_code), css_class="qr ticket-qr")
    response = Response(render_template(
        "registration/attendee.html", reg=reg, event=event, token=token, position=position, qr=qr,
        action=ActionForm(), now=now_utc(), show_online=reg.status == "confirmed" and bool(event.online_url),
        can_list=reg.status == "confirmed" and reg.consent_listing,
        can_apply_again=reg.status == "cancelled" and service.accepting(event, now_utc()),
        can_cancel=service.attendee_may_cancel(reg, now_utc()), cancellation_closed=service.CANCELLATION_CLOSED,
        panels=[p for p in (fn(reg) for fn in _attendee_panels) if p]))
    return _private(response)


def _private(response: Response) -> Response:
    """A page whose URL is the attendee's secret: kept out of caches and of Referer headers."""
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/my/<token>/cancel", methods=["GET", "POST"])
def attendee_cancel(token: str):
    """GET explains what cancelling does and asks; only the POST cancels.

    A GET never changes anything: mail scanners and link previews open the links they see.
    """
    reg = _attendee(token)
    now = now_utc()
    try:
        service.check_attendee_may_cancel(reg, now)
    except DomainError as err:
        flash(page_message(err.message), "error")
        return redirect(url_for("registration.attendee", token=token))
    if request.method == "GET":
        if reg.status not in ACTIVE:  # already cancelled or rejected: nothing to confirm
            return redirect(url_for("registration.attendee", token=token))
        event = reg.event
        return _private(Response(render_template(
            "registration/attendee_cancel.html", reg=reg, event=event, token=token, action=ActionForm(),
            position=service.waitlist_position(reg), seated=reg.status in SEATED,
            can_apply_again=service.accepting(event, now),
            cancel_notices=page_messages(service.cancel_notices(reg, audience="attendee")))))
    if not ActionForm().validate_on_submit():
        abort(400)
    service.cancel(reg, reg, now)
    db.session.commit()
    flash(_("キャンセルしました。"), "success")
    return redirect(url_for("registration.attendee", token=token))


@bp.route("/my/<token>/accept", methods=["POST"])
def attendee_accept(token: str):
    reg = _attendee(token)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        service.accept_offer(reg, now_utc())
        db.session.commit()
        flash(_("参加が確定しました。"), "success")
    except DomainError as err:
        db.session.commit() if err.code == "offer_expired" else db.session.rollback()
        flash(page_message(err.message), "error")
    return redirect(url_for("registration.attendee", token=token))


@bp.route("/my/<token>/edit", methods=["GET", "POST"])
def attendee_edit(token: str):
    reg = _attendee(token)
    event = reg.event
    questions = service.questions_of(event)
    # two forms on one page: the one sent reads the request, the other shows what is saved
    type_sent = request.method == "POST" and "t-submit" in request.form
    details_sent = request.method == "POST" and not type_sent
    form = add_question_fields(EditForm, questions)(prefix="d", **({} if details_sent else {"formdata": None}))
    type_form = TicketTypeForm(prefix="t", **({} if type_sent else {"formdata": None}))
    left = events_service.capacity_left(event)  # said before choosing: a full type refuses the change

    def seats(t) -> str:
        if t.id == reg.ticket_type_id:
            return _("現在の参加区分")
        return _("残り%(n)s席", n=left[t.code]) if left[t.code] else _("満席")

    type_form.ticket_type.choices = choices([(t.code, _("%(text)s（%(note)s）", text=t.name, note=seats(t)))
                                             for t in event.ticket_types])
    if not details_sent:
        _fill_from(form, reg, questions)
    if not type_sent:
        type_form.ticket_type.data = reg.ticket_type.code
    _fill_org_choices(form)
    context = dict(reg=reg, event=event, token=token, type_form=type_form, questions=questions)
    if request.method == "POST" and reg.status in ("cancelled", "rejected"):
        abort(409)
    if type_sent:
        if not type_form.validate():
            abort(400)
        try:
            service.change_ticket_type(reg, type_form.ticket_type.data, now_utc())
            db.session.commit()
            flash(_("参加区分を変更しました。"), "success")
            return redirect(url_for("registration.attendee", token=token))
        except DomainError as err:
            db.session.rollback()
            type_form.ticket_type.errors = [page_message(err.fields.get("ticket_type", err.message))]
            reg = _attendee(token)
            context.update(reg=reg, event=reg.event)
            return render_template("registration/attendee_edit.html", form=form, **context), 409
    if request.method == "POST" and form.pick_prefecture.data:
        return render_template("registration/attendee_edit.html", form=form, **context)
    if request.method == "POST":
        ok = form.validate()
        data = _person_data(form, questions, email=reg.email)
        try:
            if not ok:
                service.validate(reg.event, data, check_email_field=False)
                raise ValidationFailed({})
            service.update_details(reg, data, now_utc())
            db.session.commit()
            flash(_("変更を保存しました。"), "success")
            return redirect(url_for("registration.attendee", token=token))
        except DomainError as err:
            db.session.rollback()
            reg = _attendee(token)
            context.update(reg=reg, event=reg.event)
            _merge_errors(form, err.fields, questions)
            return render_template("registration/attendee_edit.html", form=form, **context), 422
    return render_template("registration/attendee_edit.html", form=form, **context)


@bp.route("/my/<token>/ticket.png")
def attendee_qr_png(token: str):
    reg = _attendee(token)
    return Response(qr_png(reg.ticket_code), mimetype="image/png", headers={
        "Content-Disposition": f"attachment; filename=ticket-{reg.event.slug}.png", "Cache-Control": "private, no-store"})


@bp.route("/my/<token>/participants")
def participants(token: str):
    reg = _attendee(token)
    if reg.status != "confirmed" or not reg.consent_listing:
        return render_template("registration/participants.html", reg=reg, event=reg.event, token=token,
                               people=None), 403
    return render_template("registration/participants.html", reg=reg, event=reg.event, token=token,
                           people=service.participants(reg.event))


# ------------------------------------------------------------------ manage
STATUS_LABELS = {"applied": N_("抽選待ち"), "pending_review": N_("確認待ち"), "confirmed": N_("参加確定"),
                 "waitlisted": N_("キャンセル待ち"), "offered": N_("繰り上げ案内中"), "cancelled": N_("キャンセル"),
                 "rejected": N_("お断り")}


@bp.app_template_global()
def registration_status_label(status: str) -> str:
    if status == "cancelled":  # キャンセル is also the list's button (English: Cancel); as a state: Cancelled
        return pgettext("registration status", "キャンセル")
    return _(STATUS_LABELS.get(status, status))


def _filters(event):
    status = request.args.get("status") or None
    if status not in STATUSES:
        status = None
    tt = request.args.get("ticket_type") or None
    if tt and event.ticket_type(tt) is None:
        tt = None
    q = (request.args.get("q") or "").strip()[:100] or None
    return status, tt, q


def _over_capacity_note(reg: Registration, taken: int) -> str:
    """What the 定員超過で確定 button says first: the participation type is full, with its seats."""
    return _("「%(name)s」は満席です（定員%(capacity)s人・確保済み%(taken)s席）。", name=reg.ticket_type.name,
             capacity=reg.ticket_type.capacity, taken=taken)


@bp.route("/manage/events/<slug>/registrations")
@login_required
def manage_list(slug: str):
    event = events_service.get_event_for(slug, current_user)
    status, tt, q = _filters(event)
    rows = service.list_registrations(event, status=status, ticket_type=tt, q=q)
    cancel_notices = {reg_id: page_messages(messages) for reg_id, messages in service.cancel_notices_of(rows).items()}
    taken = events_service.seats_taken(event)
    # the rows whose 参加確定にする would be refused for want of a seat offer 定員超過で確定 instead
    over_capacity = {r.id: _over_capacity_note(r, taken.get(r.ticket_type_id, 0)) for r in rows
                     if r.status in ("waitlisted", "offered")
                     and service.promotion_goes_over_capacity(r, taken.get(r.ticket_type_id, 0))}
    # the list's own actions come back to the list as it was shown (filters and search)
    here = url_for("registration.manage_list", slug=event.slug, status=status, ticket_type=tt, q=q)
    return render_template("registration/manage_list.html", event=event, rows=rows, counts=service.counts(event),
                           cancel_notices=cancel_notices, over_capacity=over_capacity, here=here,
                           positions=service.waitlist_positions(event), status=status, ticket_type=tt, q=q or "",
                           statuses=STATUSES, action=ActionForm(), lottery_form=LotteryForm(),
                           draws=service.draws_for(event), left=events_service.capacity_left(event))


#: the export's fixed columns after ``id``, in the page's language (what organizers asked for stays as asked)
EXPORT_HEADERS = (N_("状態"), N_("参加区分"), N_("氏名"), N_("ふりがな"), N_("メールアドレス"), N_("団体コード"), N_("所属"),
                  N_("部署"), N_("ファシリテーター"), N_("参加者一覧に表示"), N_("Slackで言及"), N_("キャンセル待ち順"),
                  N_("申込日時"), N_("受付コード"))


def _export_rows(event):
    """The list as shown: with the page's filters (status, participation type, search), if any."""
    status, tt, q = _filters(event)
    questions = service.questions_of(event)
    positions = service.waitlist_positions(event)
    extra = service.export_columns(event)  # e.g. the check-in time
    head = ["id"] + [_(h) for h in EXPORT_HEADERS] + [_(h) for h, _v in extra] + [q.text for q in questions]
    rows = []
    for r in service.list_registrations(event, status=status, ticket_type=tt, q=q):
        answers = [r.answers.get(q.id, "") for q in questions]
        rows.append([r.id, registration_status_label(r.status), r.ticket_type.name, r.name, r.name_kana, r.email,
                     r.organization_code or "", r.organization_name, r.department, "○" if r.facilitator else "",
                     "○" if r.consent_listing else "", "○" if r.consent_slack_mention else "", positions.get(r.id, ""),
                     to_jst(r.created_at).strftime("%Y-%m-%d %H:%M"), r.ticket_code]
                    + [values.get(r.id, "") for _h, values in extra]
                    + ["、".join(a) if isinstance(a, list) else a for a in answers])
    return head, rows


@bp.route("/manage/events/<slug>/registrations.csv")
@login_required
def export_csv(slug: str):
    event = events_service.get_event_for(slug, current_user)
    return spreadsheet_download(export.to_csv(*_export_rows(event)), f"{event.slug}-registrations.csv")


@bp.route("/manage/events/<slug>/registrations.xlsx")
@login_required
def export_xlsx(slug: str):
    event = events_service.get_event_for(slug, current_user)
    head, rows = _export_rows(event)
    return spreadsheet_download(export.to_xlsx([export.Sheet("registrations", head, rows)]),
                                f"{event.slug}-registrations.xlsx")


def _detail_page(reg: Registration, note_form: NoteForm | None = None):
    taken = service.seats_taken(reg.ticket_type_id)
    over_capacity = _over_capacity_note(reg, taken) if service.promotion_goes_over_capacity(reg, taken) else None
    return render_template("registration/manage_detail.html", reg=reg, event=reg.event,
                           note_form=NoteForm(formdata=None) if note_form is None else note_form, action=ActionForm(),
                           position=service.waitlist_position(reg), questions=service.questions_of(reg.event),
                           cancel_notices=page_messages(service.cancel_notices(reg)), over_capacity=over_capacity)


@bp.route("/manage/registrations/<int:reg_id>")
@login_required
def manage_detail(reg_id: int):
    return _detail_page(service.get_for_organizer(reg_id, current_user))


def _back(back: str | None, reg: Registration) -> str:
    """Where to go after acting on ``reg``: ``back`` when it is one of this site's organizer pages (the
    list with its filters, the registration's page), else the event's list."""
    back = back or ""
    if back.startswith(request.script_root + "/manage/") and not back.startswith("//"):
        return back
    return url_for("registration.manage_list", slug=reg.event.slug)


@bp.route("/manage/registrations/<int:reg_id>/cancel", methods=["GET"])
@login_required
def manage_cancel(reg_id: int):
    """Cancelling an application, confirmed first (it cannot be undone): what it takes back, who gets
    the seat, and a message to the person; the form posts to :func:`manage_action`."""
    reg = service.get_for_organizer(reg_id, current_user)
    back = _back(request.args.get("back"), reg)
    if reg.status not in ACTIVE:
        flash(_("この申込みはキャンセルできる状態ではありません。"), "warning")
        return redirect(back)
    return render_template("registration/manage_cancel.html", reg=reg, event=reg.event, back=back,
                           note_form=NoteForm(formdata=None), next_in_line=service.next_in_line(reg),
                           cancel_notices=page_messages(service.cancel_notices(reg)))


@bp.route("/manage/registrations/<int:reg_id>/<action>", methods=["POST"])
@login_required
def manage_action(reg_id: int, action: str):
    reg = service.get_for_organizer(reg_id, current_user)
    target = _back(request.form.get("back"), reg)
    now = now_utc()
    form = NoteForm()
    if not form.validate_on_submit():
        if form.message.errors:  # the message to the applicant: back to its page, with what was typed
            return _detail_page(reg, form), 422
        abort(400)
    note = form.message.data or ""
    try:
        if action == "approve" or (action == "review" and form.approve.data):
            service.approve(reg, current_user, now, note=note)
            message = _("承認しました（%(status)s）。", status=registration_status_label(reg.status))
        elif action == "reject" or (action == "review" and form.reject.data):
            service.reject(reg, current_user, now, note=note)
            message = _("お断りしました。")
        elif action == "cancel":
            service.cancel(reg, current_user, now, note=note)
            message = _("キャンセルしました。")
        elif action == "promote":
            service.promote(reg, current_user, now, over_capacity=request.form.get("over_capacity") == "1")
            message = _("参加確定にしました。")
        elif action == "facilitator":
            service.set_facilitator(reg, not reg.facilitator, now)
            message = _("ファシリテーターの設定を変更しました。")
        else:
            abort(404)
        db.session.commit()
        flash(message, "success")
    except DomainError as err:
        db.session.rollback()
        if "message" in err.fields:  # e.g. control characters in the message: said at the field, kept
            apply_errors(form, {"message": err.fields["message"]})
            return _detail_page(service.get_for_organizer(reg_id, current_user), form), 422
        flash(page_message(err.message), "error")
    return redirect(target)


@bp.route("/manage/events/<slug>/message", methods=["GET", "POST"])
@login_required
def manage_message(slug: str):
    event = events_service.get_event_for(slug, current_user)
    form = MessageForm()
    confirmed = service.counts(event)["by_status"].get("confirmed", 0)
    if form.validate_on_submit():
        try:
            n = service.message_confirmed(event, current_user, form.subject.data, form.body.data, now_utc())
            db.session.commit()
            flash(_("%(n)s人へのメールを送信待ちにしました。", n=n), "success")
            return redirect(url_for("outbox.manage_list", slug=slug))
        except ValidationFailed as err:
            db.session.rollback()
            event = events_service.get_event_for(slug, current_user)
            apply_errors(form, err.fields)
    status = 422 if request.method == "POST" else 200
    return render_template("registration/manage_message.html", event=event, form=form, confirmed=confirmed), status


@bp.route("/manage/events/<slug>/cancel", methods=["GET", "POST"])
@login_required
def manage_cancel_event(slug: str):
    """Calling the event off, confirmed on a page of its own (it cannot be undone), with a message to
    everyone whose application is active (on by default)."""
    event = events_service.get_event_for(slug, current_user)
    if event.status == "cancelled":
        flash(_("このイベントは中止済みです。"), "warning")
        return redirect(url_for("events.manage_show", slug=slug))
    form = CancelEventForm()
    if request.method == "GET":
        title = event.title
        form.subject.data = _("【中止のお知らせ】%(title)s", title=title)
        form.body.data = _("お申込みいただいた「%(title)s」（%(when)s）は、中止することになりました。"
                           "楽しみにしてくださっていた皆さまには、大変申し訳ありません。",
                           title=title, when=format_range(event.starts_at, event.ends_at, locale()))
    elif form.validate_on_submit():
        try:
            n = service.cancel_event(event, current_user, now_utc(),
                                     notify=(form.subject.data or "", form.body.data or "") if form.notify.data else None)
            db.session.commit()
            flash(_("イベントを中止にしました。%(n)s人へのお知らせを送信待ちにしました。", n=n) if form.notify.data
                  else _("イベントを中止にしました。"), "success")
            return redirect(url_for("events.manage_show", slug=slug))
        except ValidationFailed as err:
            db.session.rollback()
            event = events_service.get_event_for(slug, current_user)
            apply_errors(form, err.fields)
        except DomainError as err:
            db.session.rollback()
            flash(page_message(err.message), "error")
            return redirect(url_for("events.manage_show", slug=slug))
    by_status = service.counts(event)["by_status"]
    active = {s: by_status.get(s, 0) for s in ACTIVE if by_status.get(s, 0)}
    status = 422 if request.method == "POST" else 200
    return render_template("registration/manage_cancel_event.html", event=event, form=form, active=active,
                           total=sum(active.values())), status


def _naive_jst(value: datetime | None):
    return to_jst(value).replace(tzinfo=None) if value else None


@bp.route("/manage/events/<slug>/registration-settings", methods=["GET", "POST"])
@login_required
def manage_settings(slug: str):
    event = events_service.get_event_for(slug, current_user)
    settings = service.settings_for(event)
    form = SettingsForm()
    if request.method == "GET":
        form.promotion_mode.data = settings.promotion_mode
        form.offer_hours.data = settings.offer_hours
        form.lottery_at.data = _naive_jst(settings.lottery_at)
        form.privacy_purpose.data = settings.privacy_purpose
        for q in settings.questions or []:
            form.questions.append_entry({"id": q["id"], "text": q["text"], "kind": q["kind"],
                                         "options": "\n".join(q.get("options", [])), "required": q.get("required")})
        form.questions.append_entry()
    if request.method == "POST" and form.add_question.data:
        form.questions.append_entry()
        return render_template("registration/manage_settings.html", event=event, form=form)
    if form.validate_on_submit():
        questions = [service.Question(id=e.form.id.data or "", kind=e.form.kind.data, text=e.form.text.data or "",
                                      options=[o for o in (e.form.options.data or "").splitlines() if o.strip()],
                                      required=bool(e.form.required.data))
                     for e in form.questions if not e.form.is_blank() and not e.form.remove.data]
        try:
            service.update_settings(event, current_user, now_utc(), promotion_mode=form.promotion_mode.data,
                                    offer_hours=form.offer_hours.data or 48, questions=questions,
                                    lottery_at=to_utc(form.lottery_at.data) if form.lottery_at.data else None,
                                    privacy_purpose=form.privacy_purpose.data or "")
            db.session.commit()
            flash(_("申込みの設定を保存しました。"), "success")
            return redirect(url_for("registration.manage_list", slug=slug))
        except ValidationFailed as err:
            db.session.rollback()
            event = events_service.get_event_for(slug, current_user)
            form.form_errors.extend(page_messages(err.fields.values()))
    status = 422 if request.method == "POST" else 200
    return render_template("registration/manage_settings.html", event=event, form=form), status


@bp.route("/manage/events/<slug>/lottery", methods=["POST"])
@login_required
def manage_lottery(slug: str):
    event = events_service.get_event_for(slug, current_user)
    form = LotteryForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        draws = service.run_lottery(event, current_user.email, now_utc(), seed=form.seed.data or None)
        db.session.commit()
        flash(_("抽選しました（シード: %(seed)s）。", seed=draws[0].seed), "success")
    except DomainError as err:
        db.session.rollback()
        flash(page_message(err.message), "error")
    return redirect(url_for("registration.manage_list", slug=slug))
