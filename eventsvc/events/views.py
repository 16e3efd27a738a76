"""Event pages: the public list, event page, calendars and poster; the organizer's editor."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..core import orgs
from ..core.clock import format_range, jst_combine, now_utc, to_jst
from ..errors import DomainError, ValidationFailed, page_message
from ..extensions import db
from ..web import apply_errors, external_url, locale
from . import service
from .forms import ActionForm, AgendaForm, EventForm, choices
from .ical import IcsEvent, to_ics
from .models import Event
from .poster import qr_png, qr_svg, qr_svg_document

bp = Blueprint("events", __name__)

# ------------------------------------------------------------------ public
# GET  /                              index          upcoming events (region / prefecture filters)
# GET  /past                          past           past events
# GET  /events/<slug>                 show           event page
# GET  /events/<slug>.ics             ics            the event as iCalendar
# GET  /calendar.ics                  calendar       feed (?region=…)
# GET  /events/<slug>/poster          poster         printable A4 poster with QR
# GET  /events/<slug>/qr.png|qr.svg   qr_png/qr_svg  QR downloads
# ------------------------------------------------------------------ manage
# GET  /manage                        manage_list
# GET/POST /manage/events/new         manage_new
# GET  /manage/events/<slug>          manage_show
# GET/POST /manage/events/<slug>/edit manage_edit
# GET/POST /manage/events/<slug>/agenda manage_agenda
# POST /manage/events/<slug>/status/<status>  manage_status
# POST /manage/events/<slug>/copy     manage_copy


def _filters():
    region = request.args.get("region") or None
    pref = request.args.get("prefecture") or None
    if region not in orgs.REGIONS:
        region = None
    if pref and not orgs.prefecture_name(pref):
        pref = None
    return region, pref


@bp.route("/")
def index():
    region, pref = _filters()
    events = service.list_public(now_utc(), region=region, prefecture_code=pref)
    return render_template("events/index.html", events=events, region=region, prefecture=pref, past=False,
                           prefectures=orgs.prefectures(), left={e.id: service.capacity_left(e) for e in events})


@bp.route("/past")
def past():
    region, pref = _filters()
    events = service.list_public(now_utc(), region=region, prefecture_code=pref, past=True)
    return render_template("events/index.html", events=events, region=region, prefecture=pref, past=True,
                           prefectures=orgs.prefectures(), left={})


@bp.route("/events/<slug>")
def show(slug: str):
    event = service.get_visible_event(slug, current_user)
    now = now_utc()
    closed = service.registration_closed_reason(event, now)
    return render_template("events/show.html", event=event, left=service.capacity_left(event),
                           manage=event.is_managed_by(current_user), now=now,
                           closed_message=_(service.registration_closed_message(closed)) if closed else None)


def ics_event(event: Event) -> IcsEvent:
    lines = [event.summary] if event.summary else []
    if event.agenda_items:
        lines.append("")
        lines.append(_("プログラム"))
        for a in event.agenda_items:
            start, end = to_jst(a.starts_at).strftime("%H:%M"), to_jst(a.ends_at).strftime("%H:%M")
            when = _("%(start)s〜%(end)s", start=start, end=end)
            what = _("%(text)s（%(note)s）", text=a.title, note=a.speaker) if a.speaker else a.title
            lines.append(f"{when} {what}")
    url = external_url("events.show", slug=event.slug)
    lines += ["", url]
    return IcsEvent(uid=f"{event.uid}@eventsvc", title=event.title, starts_at=event.starts_at, ends_at=event.ends_at,
                    url=url, description="\n".join(lines).strip(), location=event.calendar_location,
                    updated_at=event.updated_at, cancelled=event.status == "cancelled",
                    sequence=int(event.updated_at.timestamp()) // 60 - int(event.created_at.timestamp()) // 60)


def _calendar_response(body: bytes, filename: str) -> Response:
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    return response


@bp.route("/events/<slug>.ics")
def ics(slug: str):
    event = service.get_public_event(slug)
    return _calendar_response(to_ics([ics_event(event)], now=now_utc()), f"{event.slug}.ics")


@bp.route("/calendar.ics")
def calendar():
    region, pref = _filters()
    now = now_utc()
    events = service.list_public(now, region=region, prefecture_code=pref)
    where = orgs.prefecture_name(pref) if pref else orgs.region_name(region, locale()) if region else None
    name = _("%(text)s（%(note)s）", text=_("勉強会"), note=where) if where else _("勉強会")
    return _calendar_response(to_ics([ics_event(e) for e in events], name=name, now=now), "calendar.ics")


@bp.route("/events/<slug>/poster")
def poster(slug: str):
    event = service.get_visible_event(slug, current_user)
    url = external_url("events.show", slug=event.slug)
    return render_template("events/poster.html", event=event, url=url,
                           qr=qr_svg(url, label=_("イベントページのQRコード: %(url)s", url=url), css_class="poster-qr"))


@bp.route("/events/<slug>/qr.png")
def qr_png_download(slug: str):
    event = service.get_visible_event(slug, current_user)
    body = qr_png(external_url("events.show", slug=event.slug))
    return Response(body, mimetype="image/png",
                    headers={"Content-Disposition": f"attachment; filename={event.slug}-qr.png"})


@bp.route("/events/<slug>/qr.svg")
def qr_svg_download(slug: str):
    event = service.get_visible_event(slug, current_user)
    body = qr_svg_document(external_url("events.show", slug=event.slug))
    return Response(body, mimetype="image/svg+xml",
                    headers={"Content-Disposition": f"attachment; filename={event.slug}-qr.svg"})


# ------------------------------------------------------------------ manage
@bp.route("/manage")
@login_required
def manage_list():
    events = service.list_managed(current_user)
    return render_template("events/manage_list.html", events=events, now=now_utc())


def _naive_jst(value: datetime | None):
    return to_jst(value).replace(tzinfo=None) if value else None


def _form_data(form: EventForm) -> service.EventData:
    types = [service.TicketTypeData(code=(t.form.code.data or "").strip(), name=t.form.name.data or "",
                                    capacity=t.form.capacity.data if t.form.capacity.data is not None else -1)
             for t in form.ticket_types if not t.form.is_left_out()]
    domains = [d for d in (form.allowed_email_domains.data or "").replace("、", ",").split(",")]
    return service.EventData(
        title=form.title.data or "", slug=(form.slug.data or "").strip() or None,
        summary=form.summary.data or "", description=form.description.data or "",
        starts_at=form.starts_at.data, ends_at=form.ends_at.data,
        venue_name=form.venue_name.data or "", venue_address=form.venue_address.data or "",
        online_url=(form.online_url.data or "").strip(), prefecture_code=form.prefecture_code.data or None,
        region=form.region.data or None, registration_opens_at=form.registration_opens_at.data,
        registration_closes_at=form.registration_closes_at.data, selection=form.selection.data,
        allowed_email_domains=domains, ticket_types=types,
    )


def _fill_form(form: EventForm, event: Event) -> None:
    d = service.EventData.from_event(event)
    for name in ("title", "slug", "summary", "description", "venue_name", "venue_address", "online_url",
                 "selection"):
        getattr(form, name).data = getattr(d, name)
    form.prefecture_code.data = d.prefecture_code or ""
    form.region.data = d.region or ""
    for name in ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at"):
        getattr(form, name).data = _naive_jst(getattr(d, name))
    form.allowed_email_domains.data = ", ".join(d.allowed_email_domains)
    while len(form.ticket_types.entries):
        form.ticket_types.pop_entry()
    for t in d.ticket_types:
        form.ticket_types.append_entry({"code": t.code, "name": t.name, "capacity": t.capacity})
    form.ticket_types.append_entry()


def _save_event(form: EventForm, event: Event | None) -> service.EventUpdate | None:
    """Validate and save; on a problem, put every message on the form and return None.

    When a field does not even parse, the service still checks the rest, so the
    organizer sees all problems at once.
    """
    if form.add_ticket_type.data:
        form.ticket_types.append_entry()
        return None
    parsed = form.validate_on_submit()
    try:
        data = _form_data(form)
        if not parsed:
            service.validate_event(data)
            return None
        if event is None:
            update = service.EventUpdate(service.create_event(data, current_user, now_utc()))
        else:
            update = service.update_event(event, data, current_user, now_utc())
        db.session.commit()
        return update
    except DomainError as err:
        db.session.rollback()
        fields = err.fields or {"": err.message}
        # the service counts the rows it was given: blank rows were left out
        kept = [i for i, t in enumerate(form.ticket_types) if not t.form.is_left_out()]
        aliases = {"venue.name": "venue_name", "venue.address": "venue_address"}
        for path in fields:
            parts = path.split(".", 2)
            if len(parts) == 3 and parts[0] == "ticket_types" and parts[1].isdigit() and int(parts[1]) < len(kept):
                aliases[path] = f"ticket_types.{kept[int(parts[1])]}.{parts[2]}"
        form.form_errors.extend(apply_errors(form, fields, aliases))
        return None


@bp.route("/manage/events/new", methods=["GET", "POST"])
@login_required
def manage_new():
    form = EventForm()
    if request.method == "GET":
        form.allowed_email_domains.data = "lg.jp, go.jp"
        # suggestions: a row whose capacity is left empty is not created (the form says so)
        form.ticket_types.entries[0].form.suggest("venue")
        form.ticket_types.append_entry()
        form.ticket_types.entries[-1].form.suggest("online")
    saved = _save_event(form, None) if request.method == "POST" else None
    if saved is not None:
        flash(_("イベントを作成しました（下書き）。プログラムを入力して公開してください。"), "success")
        _flash_if_in_the_past(saved.event)
        for t in form.ticket_types:
            if t.form.is_unused_suggestion():
                flash(_("「%(name)s」は定員が空欄だったので作成していません。必要なら、イベントの編集で追加できます。",
                        name=t.form.name.data.strip()), "info")
        return redirect(url_for("events.manage_show", slug=saved.event.slug))
    status = 422 if request.method == "POST" and not form.add_ticket_type.data else 200
    return render_template("events/edit.html", form=form, event=None), status


@bp.route("/manage/events/<slug>")
@login_required
def manage_show(slug: str):
    event = service.get_event_for(slug, current_user)
    return render_template("events/manage_show.html", event=event, left=service.capacity_left(event),
                           action=ActionForm(), public_url=external_url("events.show", slug=event.slug))


@bp.route("/manage/events/<slug>/edit", methods=["GET", "POST"])
@login_required
def manage_edit(slug: str):
    event = service.get_event_for(slug, current_user)
    form = EventForm()
    if request.method == "GET":
        _fill_form(form, event)
    starts_at = event.starts_at
    saved = _save_event(form, event) if request.method == "POST" else None
    if saved is not None:
        flash(_("保存しました。"), "success")
        if saved.event.starts_at != starts_at:
            _flash_if_in_the_past(saved.event)
        _flash_consequences(saved)
        return redirect(url_for("events.manage_show", slug=saved.event.slug))
    if request.method == "POST":
        db.session.rollback()
        event = service.get_event_for(slug, current_user)
    status = 422 if request.method == "POST" and not form.add_ticket_type.data else 200
    return render_template("events/edit.html", form=form, event=event), status


def _flash_if_in_the_past(event: Event) -> None:
    """A start already past is allowed (recording a past session), but is most often a mistyped year."""
    if event.starts_at < now_utc():
        flash(_("開催日時（%(when)s）は過去の日時です。年や日付に誤りがないか確かめてください。",
                when=format_range(event.starts_at, event.ends_at, locale())), "warning")


def _flash_consequences(update: service.EventUpdate) -> None:
    """Tell the organizer what the saved capacities mean for the people already registered."""
    for w in update.capacity_warnings:
        flash(_("「%(name)s」の定員（%(capacity)s）が、確定済み・繰り上げ案内中の人数（%(taken)s）を下回っています。"
                "確定済みの方はそのまま参加できます。新しい申込みはキャンセル待ちになります。",
                name=w.name, capacity=w.capacity, taken=w.seats_taken), "warning")
    for p in update.promotions:
        if p.confirmed:
            flash(_("「%(name)s」の定員を増やしたので、キャンセル待ちの%(n)s人に席を割り当てました（確定のメールを送ります）。",
                    name=p.name, n=p.confirmed), "info")
        if p.offered:
            flash(_("「%(name)s」の定員を増やしたので、キャンセル待ちの%(n)s人に繰り上げの案内を送ります"
                    "（期限までに回答すると参加が確定します）。", name=p.name, n=p.offered), "info")


def _event_days(event: Event) -> list[tuple[str, str]]:
    first, last = to_jst(event.starts_at).date(), to_jst(event.ends_at).date()
    days, d = [], first
    while d <= last:
        days.append((d.isoformat(), d.isoformat()))
        d = d.fromordinal(d.toordinal() + 1)
    return days


@bp.route("/manage/events/<slug>/agenda", methods=["GET", "POST"])
@login_required
def manage_agenda(slug: str):
    event = service.get_event_for(slug, current_user)
    days = _event_days(event)
    form = AgendaForm()
    if request.method == "GET":
        for a in event.agenda_items:
            form.items.append_entry({
                "day": to_jst(a.starts_at).date().isoformat(), "start": to_jst(a.starts_at).time(),
                "end": to_jst(a.ends_at).time(), "title": a.title, "speaker": a.speaker,
                "affiliation": a.affiliation, "kind": a.kind, "materials_url": a.materials_url,
                "description": a.description})
        for _i in range(3 if event.agenda_items else 5):
            form.items.append_entry()
    for entry in form.items:
        entry.form.day.choices = choices(days)
    if request.method == "POST":
        if form.add_rows.data:
            for _i in range(3):
                form.items.append_entry()
                form.items.entries[-1].form.day.choices = choices(days)
            return render_template("events/agenda.html", form=form, event=event, days=days)
        if form.validate_on_submit():
            items, errors = _agenda_items(form, event, days)
            if not errors:
                try:
                    service.replace_agenda(event, items, current_user, now_utc())
                    db.session.commit()
                    flash(_("プログラムを保存しました。"), "success")
                    return redirect(url_for("events.manage_show", slug=event.slug))
                except ValidationFailed as err:
                    db.session.rollback()
                    event = service.get_event_for(slug, current_user)
                    errors = err.fields
            kept = [i for i, e in enumerate(form.items) if not e.form.is_blank() and not e.form.remove.data]
            remap = {path: f"items.{kept[n]}.{AGENDA_FIELDS.get(rest, rest)}"
                     for path in errors for n, rest in [_split_agenda_key(path)] if n is not None and n < len(kept)}
            form.form_errors.extend(apply_errors(form, {remap.get(k, k): v for k, v in errors.items()}))
        return render_template("events/agenda.html", form=form, event=event, days=days), 422
    return render_template("events/agenda.html", form=form, event=event, days=days)


#: the service's names of an agenda item's parts → the row's fields
AGENDA_FIELDS = {"starts_at": "start", "ends_at": "end"}


def _split_agenda_key(path: str):
    parts = path.split(".", 2)
    if len(parts) == 3 and parts[0] == "agenda" and parts[1].isdigit():
        return int(parts[1]), parts[2]
    return None, None


def _agenda_items(form: AgendaForm, event: Event, days):
    """Rows of the form as agenda items (blank and removed rows dropped), and row errors."""
    items, errors = [], {}
    valid_days = {d for d, _l in days}
    n = 0
    for entry in form.items:
        f = entry.form
        if f.is_blank() or f.remove.data:
            continue
        key = f"agenda.{n}"
        n += 1
        day = f.day.data if f.day.data in valid_days else days[0][0]
        if f.start.data is None:
            errors[f"{key}.start"] = _("開始時刻を入力してください。")
        if f.end.data is None:
            errors[f"{key}.end"] = _("終了時刻を入力してください。")
        if f.start.data is None or f.end.data is None:
            items.append(None)
            continue
        d = datetime.fromisoformat(day).date()
        items.append(service.AgendaItemData(
            starts_at=jst_combine(d, f.start.data), ends_at=jst_combine(d, f.end.data),
            title=f.title.data or "", speaker=f.speaker.data or "", affiliation=f.affiliation.data or "",
            description=f.description.data or "", kind=f.kind.data, materials_url=(f.materials_url.data or "").strip()))
    if errors:  # the complete rows' own problems too, all in one round (nothing is saved)
        complete = [n for n, item in enumerate(items) if item is not None]
        try:
            service.validate_agenda(event, [items[n] for n in complete])
        except ValidationFailed as err:
            for path, message in err.fields.items():
                n, rest = _split_agenda_key(path)
                key = f"agenda.{complete[n]}.{rest}" if n is not None else path
                errors.setdefault(key, message)
    return items, errors


@bp.route("/manage/events/<slug>/status/<status>", methods=["POST"])
@login_required
def manage_status(slug: str, status: str):
    event = service.get_event_for(slug, current_user)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    if status not in ("published", "closed", "cancelled"):
        abort(404)
    if status == "cancelled":  # for good, so confirmed on a page of its own, with word to the applicants
        return redirect(url_for("registration.manage_cancel_event", slug=slug))
    try:
        service.set_status(event, status, current_user, now_utc())
        db.session.commit()
        flash({"published": _("公開しました。"), "closed": _("受付を締め切りました。"),
               "cancelled": _("イベントを中止にしました。")}[status], "success")
        if status == "published":
            _flash_if_in_the_past(event)
    except DomainError as err:
        db.session.rollback()
        flash(page_message(err.message), "error")
    return redirect(url_for("events.manage_show", slug=slug))


@bp.route("/manage/events/<slug>/copy", methods=["POST"])
@login_required
def manage_copy(slug: str):
    event = service.get_event_for(slug, current_user)
    if not ActionForm().validate_on_submit():
        abort(400)
    copy = service.copy_event(event, current_user, now_utc())
    db.session.commit()
    flash(_("コピーしました。日時を確認して保存してください。"), "success")
    return redirect(url_for("events.manage_edit", slug=copy.slug))
