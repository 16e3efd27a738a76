"""Survey pages: answering (personal link, ticket code at the venue, short URL), the
organizer's builder, projector page, results with charts, exports and comparison."""

from __future__ import annotations

import functools
from datetime import datetime

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from markupsafe import Markup

from ..core import orgs
from ..core.clock import format_datetime, now_utc, to_jst
from ..core.i18n import Message
from ..errors import DomainError, page_message
from ..events import service as events
from ..events.forms import ActionForm
from ..events.poster import qr_svg
from ..extensions import csrf, db, limiter
from ..web import apply_errors, external_url, locale, spreadsheet_download
from . import charts, service
from .aggregate import QuestionResult
from .forms import (
    OTHER,
    AnswerForm,
    CodeForm,
    SurveyForm,
    field_name,
    parse_answers,
    plain_errors,
    saved_values,
    typed_values,
)
from .models import Survey

bp = Blueprint("surveys", __name__)

# ------------------------------------------------------------------ public
# GET      /s/<code>                                 short          short URL (projector) → entry
# GET/POST /events/<slug>/survey                     entry          ticket code at the venue → personal link
# GET/POST /events/<slug>/survey/r/<token>           answer         personal link: answer, or change the answer
# GET      /events/<slug>/survey/r/<token>/thanks    thanks
# ------------------------------------------------------------------ manage
# GET      /manage/events/<slug>/survey              manage         state, response rate, actions
# POST     /manage/events/<slug>/survey/create       manage_create  from the Japanese default template
# GET/POST /manage/events/<slug>/survey/edit         manage_edit    builder
# POST     /manage/events/<slug>/survey/close        manage_close
# POST     /manage/events/<slug>/survey/reopen       manage_reopen
# POST     /manage/events/<slug>/survey/invitations  manage_invite  to checked-in attendees (outbox)
# POST     /manage/events/<slug>/survey/reminders    manage_remind  to those invited who have not answered
# GET      /manage/events/<slug>/survey/projector    projector      large QR + short URL for the screen
# GET      /manage/events/<slug>/survey/results      results        charts, tables, free text
# GET      /manage/events/<slug>/survey/results.csv  export_csv     UTF-8 BOM, formula-safe
# GET      /manage/events/<slug>/survey/results.xlsx export_xlsx
# GET      /manage/events/<slug>/survey/summary      summary        printable one-page summary
# GET      /manage/surveys/compare                   compare        one question across events


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def personal_url(registration, *, external: bool = True) -> str:
    token = service.link_token(registration, _secret())
    slug = registration.event.slug
    if external:
        return external_url("surveys.answer", slug=slug, token=token)
    return url_for("surveys.answer", slug=slug, token=token)


@bp.app_template_global("survey_link_for")
def survey_link_for(registration) -> dict | None:
    """For other features' pages (the attendee's ticket page): the person's survey link, or None.

    ``{"url", "state", "responded"}``; None when the event has no survey or the person
    can't answer it. Use as ``{% if survey_link_for is defined %}…``.
    """
    survey = service.get_survey(registration.event)
    if survey is None or registration.status != "confirmed":
        return None
    return {"url": personal_url(registration, external=False), "state": service.state(survey, now_utc()),
            "responded": service.has_responded(survey, registration)}


def _dated(message):
    """``message`` with the date it names (``at``, put there by the service) written for the page's language."""
    if not isinstance(message, Message):
        return message
    params = {k: _dated(v) for k, v in message.params.items()}
    if isinstance(params.get("at"), datetime):
        params["when"] = format_datetime(params["at"], locale())
    return Message(message.template, params)


def shown(message) -> str:
    """A service message in the page's language (``errors.page_message``), dates included."""
    return page_message(_dated(message))


@bp.app_template_filter("pct")
def _pct(value) -> str:
    return "—" if value is None else charts.format_percent(value)


@bp.app_template_filter("num")
def _num(value, digits: int = 2) -> str:
    return "—" if value is None else charts.format_number(value, digits)


# ------------------------------------------------------------------ public
@bp.route("/s/<code>")
def short(code: str):
    survey = service.get_by_short_code(code)
    if survey is None or not survey.event.is_public:
        abort(404)
    return redirect(url_for("surveys.entry", slug=survey.event.slug))


def _public_survey(slug: str) -> tuple:
    event = events.get_public_event(slug)
    return event, service.require_survey(event)


@bp.route("/events/<slug>/survey", methods=["GET", "POST"])
@limiter.limit("300 per minute", methods=["POST"])  # a whole room shares the venue's address
def entry(slug: str):
    event, survey = _public_survey(slug)
    form = CodeForm()
    status = 200
    valid = form.validate_on_submit()
    plain_errors(form)
    if valid:
        registration = service.registration_by_code(event, form.code.data)
        if registration is None:
            form.code.errors.append(_("このイベントのチケットコードが見つかりません。入力を確かめてください。"))
        else:
            try:
                service.check_eligible(event, registration)
                return redirect(url_for("surveys.answer", slug=event.slug,
                                        token=service.link_token(registration, _secret())))
            except DomainError as err:
                form.code.errors.append(shown(err.message))
        status = 422
    elif request.method == "POST":
        status = 422
    return render_template("surveys/entry.html", event=event, survey=survey, form=form,
                           state=service.state(survey, now_utc())), status


def _resolve(event, survey, token):
    try:
        return service.resolve_link(event, token, _secret()), None
    except DomainError as err:
        page = render_template("surveys/link_problem.html", event=event, survey=survey, message=shown(err.message),
                               code=err.code)
        return None, (page, err.status)


@bp.route("/events/<slug>/survey/r/<token>", methods=["GET", "POST"])
@csrf.exempt  # checked below by the form itself, so an expired form comes back with the answers typed
def answer(slug: str, token: str):
    event, survey = _public_survey(slug)
    registration, problem = _resolve(event, survey, token)
    if problem:
        return problem
    now = now_utc()
    questions = survey.questions
    form = AnswerForm()
    errors: dict[str, str] = {}
    message = None
    status = 200
    if request.method == "POST":
        answers, errors = parse_answers(questions, request.form)
        revision = int(form.revision.data) if (form.revision.data or "").isdigit() else None
        try:
            service.check_open(survey, now)  # first: answers that can't be saved need no corrections
            if not form.validate_on_submit():
                message = _("フォームの有効期限が切れました。内容を確認して、もう一度送信してください。")
                status = 400
            elif not errors:
                service.submit_response(survey, registration, answers, now, secret=_secret(), revision=revision)
                db.session.commit()
                return redirect(url_for("surveys.thanks", slug=slug, token=token))
        except DomainError as err:
            db.session.rollback()
            survey = service.require_survey(event)
            questions = survey.questions
            errors = err.fields
            message = shown(err.message)
            status = err.status
        if errors and status == 200:
            message = _("回答内容を確認してください。")
            status = 422
        values = typed_values(questions, request.form)
    else:
        values = saved_values(questions, service.my_answers(survey, registration, _secret()))
    form.revision.data = str(survey.revision)
    return render_template(
        "surveys/answer.html", event=event, survey=survey, questions=questions, form=form, values=values,
        errors={int(k.split(".", 1)[1]): shown(v) for k, v in errors.items()
                if k.startswith("answers.") and k.split(".", 1)[1].isdigit()},
        message=message, state=service.state(survey, now), registration=registration,
        responded=service.has_responded(survey, registration), field_name=field_name, OTHER=OTHER,
    ), status


@bp.route("/events/<slug>/survey/r/<token>/thanks")
def thanks(slug: str, token: str):
    event, survey = _public_survey(slug)
    registration, problem = _resolve(event, survey, token)
    if problem:
        return problem
    return render_template("surveys/thanks.html", event=event, survey=survey, token=token,
                           responded=service.has_responded(survey, registration),
                           state=service.state(survey, now_utc()))


# ------------------------------------------------------------------ manage
def _managed(slug: str):
    event = events.get_event_for(slug, current_user)
    return event, service.get_survey(event)


def survey_page(view):
    """An organizer's page about the event's survey: ``view(event, survey, **rest)``. Without a
    survey yet, back to the survey page with a hint to create one from a template."""
    @functools.wraps(view)
    def wrapper(slug: str, **rest):
        event, survey = _managed(slug)
        if survey is None:
            flash(_("まだアンケートがありません。テンプレートから作成してください。"), "info")
            return redirect(url_for("surveys.manage", slug=slug))
        return view(event, survey, **rest)
    return wrapper


@bp.route("/manage/events/<slug>/survey")
@login_required
def manage(slug: str):
    event, survey = _managed(slug)
    ctx = {"event": event, "survey": survey, "action": ActionForm()}
    if survey is not None:
        res = service.results(survey)
        now = now_utc()
        ctx.update(res=res, state=service.state(survey, now), counts=service.invitation_counts(survey),
                   scheduled=service.scheduled_deliveries(survey, now),
                   short_url=external_url("surveys.short", code=survey.short_code),
                   entry_url=external_url("surveys.entry", slug=event.slug))
    return render_template("surveys/manage.html", **ctx)


@bp.route("/manage/events/<slug>/survey/create", methods=["POST"])
@login_required
def manage_create(slug: str):
    event, survey = _managed(slug)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        service.create_survey(event, current_user, now_utc())
        db.session.commit()
        flash(_("テンプレートからアンケートを作りました。質問を確認・編集してください。"), "success")
    except DomainError as err:
        db.session.rollback()
        flash(shown(err.message), "error")
    return redirect(url_for("surveys.manage_edit", slug=slug))


def _naive_jst(value: datetime | None):
    return to_jst(value).replace(tzinfo=None) if value else None


def _fill(form: SurveyForm, survey: Survey) -> None:
    form.title.data, form.description.data = survey.title, survey.description
    form.anonymous.data = survey.anonymous
    form.opens_at.data, form.closes_at.data = _naive_jst(survey.opens_at), _naive_jst(survey.closes_at)
    for n, q in enumerate(survey.questions, start=1):
        v = q.current
        form.questions.append_entry({
            "id": str(q.id), "kind": v.kind, "text": v.text, "options": "\n".join(v.options or []),
            "allow_other": v.allow_other, "scale_min": v.scale_min, "scale_max": v.scale_max,
            "min_label": v.min_label, "max_label": v.max_label, "required": v.required, "order": n})
    form.questions.append_entry({"kind": "rating", "order": len(survey.questions) + 1})


def _form_questions(form: SurveyForm):
    """(form entry index, QuestionData) for rows to keep, in the order the organizer set."""
    rows = [(i, e.form) for i, e in enumerate(form.questions) if not e.form.is_blank() and not e.form.remove.data]
    rows.sort(key=lambda r: (r[1].order.data if r[1].order.data is not None else 1000 + r[0], r[0]))
    return [(i, f.to_data()) for i, f in rows]


_FIELD = {"scale": "scale_min"}


def _problems(form: SurveyForm) -> list[tuple[str | None, str, str]]:
    """Every message on the builder form as (field id, label, message), in page order."""
    out = [(None, "", str(m)) for m in form.form_errors]
    for f in (form.title, form.description, form.anonymous, form.opens_at, form.closes_at):
        out += [(f.id, str(f.label.text), str(e)) for e in f.errors]
    for n, entry in enumerate(form.questions, start=1):
        for f in entry.form:
            out += [(f.id, _("質問 %(n)s %(label)s", n=n, label=f.label.text), str(e)) for e in f.errors
                    if isinstance(e, str)]
    return out


@bp.route("/manage/events/<slug>/survey/edit", methods=["GET", "POST"])
@login_required
@survey_page
def manage_edit(event, survey):
    form = SurveyForm()
    answered = service.response_count(survey)
    if request.method == "GET":
        _fill(form, survey)
        return render_template("surveys/edit.html", event=event, survey=survey, form=form, answered=answered)
    if form.add_question.data:
        form.questions.append_entry({"kind": "rating", "order": len(form.questions) + 1})
        return render_template("surveys/edit.html", event=event, survey=survey, form=form, answered=answered)
    valid = form.validate_on_submit()
    plain_errors(form)
    if valid:
        rows = _form_questions(form)
        data = service.SurveyData(
            title=form.title.data or "", description=form.description.data or "",
            anonymous=bool(form.anonymous.data), opens_at=form.opens_at.data, closes_at=form.closes_at.data,
            questions=[q for _i, q in rows])
        try:
            now = now_utc()
            result = service.save_survey(event, data, current_user, now)
            db.session.commit()
            flash(_("アンケートを保存しました。"), "success")
            for q in result.new_versions:
                flash(_("「%(text)s」は回答後に内容が変わったため、新しい版として保存しました。これまでの回答は変更前の版として集計します。",
                        text=q.current.text[:40]), "warning")
            for q in result.retired:
                flash(_("削除した質問「%(text)s」の回答は、結果の「変更前・削除した質問」に残しています。",
                        text=q.current.text[:40]), "info")
            if result.rescheduled and result.survey.opens_at is not None and result.survey.opens_at > now:
                flash(_("送信待ちの案内 %(n)s件は、新しい受付開始（%(when)s）に送信します。", n=result.rescheduled,
                        when=format_datetime(result.survey.opens_at, locale())), "info")
            elif result.rescheduled:
                flash(_("送信待ちの案内 %(n)s件は、受付開始を待たずに送信します。", n=result.rescheduled), "info")
            return redirect(url_for("surveys.manage", slug=event.slug))
        except DomainError as err:
            db.session.rollback()
            survey = service.require_survey(event)
            fields = {k: _dated(v) for k, v in (err.fields or {"": err.message}).items()}
            remap = {}
            for key in fields:
                parts = key.split(".")
                if parts[0] == "questions" and len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(rows):
                    remap[key] = f"questions.{rows[int(parts[1])][0]}.{_FIELD.get(parts[2], parts[2])}"
            form.form_errors.extend(apply_errors(form, {remap.get(k, k): v for k, v in fields.items()}))
    return render_template("surveys/edit.html", event=event, survey=survey, form=form, answered=answered,
                           problems=_problems(form)), 422


@bp.route("/manage/events/<slug>/survey/<any(close, reopen):action>", methods=["POST"])
@login_required
@survey_page
def manage_close(event, survey, action: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    now = now_utc()
    try:
        service.set_closing(survey, now if action == "close" else None, current_user, now)
        db.session.commit()
        flash(_("アンケートを締め切りました。") if action == "close" else _("回答の受付を再開しました（締切なし）。"), "success")
    except DomainError as err:
        db.session.rollback()
        flash(shown(err.message), "error")
    return redirect(url_for("surveys.manage", slug=event.slug))


@bp.route("/manage/events/<slug>/survey/<any(invitations, reminders):what>", methods=["POST"])
@login_required
@survey_page
def manage_send(event, survey, what: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    send = service.send_invitations if what == "invitations" else service.send_reminders
    try:
        result = send(survey, current_user, now_utc(), link_for=personal_url)
        db.session.commit()
        flash(ngettext("%(num)s人に送信を予約しました（回答済み %(a)s人、送信済み %(s)s件は除きました）。",
                       "%(num)s人に送信を予約しました（回答済み %(a)s人、送信済み %(s)s件は除きました）。",
                       result.people, a=result.answered, s=result.already_sent), "success")
        for note in result.notes:
            flash(shown(note.message), "info" if note.code == "waits_for_opening" else "warning")
    except DomainError as err:
        db.session.rollback()
        flash(shown(err.message), "error")
    return redirect(url_for("surveys.manage", slug=event.slug))


@bp.route("/manage/events/<slug>/survey/projector")
@login_required
@survey_page
def projector(event, survey):
    short_url = external_url("surveys.short", code=survey.short_code)
    return render_template("surveys/projector.html", event=event, survey=survey, short_url=short_url,
                           short_text=short_url.split("://", 1)[-1],
                           qr=Markup(qr_svg(short_url, label=_("アンケートのQRコード: %(url)s", url=short_url),
                                            css_class="projector-qr")))


# ------------------------------------------------------------------ results
def scale_label(question, label: str) -> str:
    """``5（満足）`` for the ends of a scale, the number elsewhere."""
    if question.kind != "rating":
        return label
    if label == str(question.scale_min) and question.min_label:
        return _("%(text)s（%(note)s）", text=label, note=question.min_label)
    if label == str(question.scale_max) and question.max_label:
        return _("%(text)s（%(note)s）", text=label, note=question.max_label)
    return label


def count_text(count: int, percent: float) -> str:
    return _("%(n)s件（%(p)s）", n=count, p=charts.format_percent(percent))


#: a narrow view box: the chart's text stays readable beside its table and in a half-page print column
COMPACT = {"width": 440, "label_width": 150, "value_width": 100}


def result_chart(result: QuestionResult, chart_id: str, title: str, compact: bool = True) -> Markup | None:
    """The distribution as an SVG bar chart; its numbers are the table's (``count_text``)."""
    if not result.distribution:
        return None
    rows = [charts.ChartRow(scale_label(result.question, b.label), b.count, count_text(b.count, b.percent))
            for b in result.distribution]
    return Markup(charts.bar_chart(rows, title=title, chart_id=chart_id,
                                   description=ngettext("回答%(num)s件の分布。", "回答%(num)s件の分布。", result.count),
                                   empty_text=_("回答はまだありません"), **(COMPACT if compact else {})))


def _results_context(event, survey):
    res = service.results(survey, other_label=_("その他"))
    items = []
    for n, r in enumerate(res.questions, start=1):
        title = _("Q%(n)s %(text)s", n=n, text=r.question.text)
        items.append({"n": n, "title": title, "r": r, "chart": result_chart(r, f"q{n}", title)})
    earlier = []
    for i, (label, r) in enumerate(res.earlier, start=1):
        label = shown(label)
        title = _("%(label)s: %(text)s", label=label, text=r.question.text)
        earlier.append({"n": f"e{i}", "label": label, "title": title, "r": r,
                        "chart": result_chart(r, f"e{i}", title)})
    return {"event": event, "survey": survey, "res": res, "items": items, "earlier": earlier,
            "scale_label": scale_label, "count_text": count_text}


@bp.route("/manage/events/<slug>/survey/results")
@login_required
@survey_page
def results(event, survey):
    return render_template("surveys/results.html", **_results_context(event, survey))


@bp.route("/manage/events/<slug>/survey/summary")
@login_required
@survey_page
def summary(event, survey):
    return render_template("surveys/summary.html", **_results_context(event, survey))


@bp.route("/manage/events/<slug>/survey/results.csv")
@login_required
@survey_page
def export_csv(event, survey):
    return spreadsheet_download(service.export_csv(survey, locale()), f"{event.slug}-survey.csv")


@bp.route("/manage/events/<slug>/survey/results.xlsx")
@login_required
@survey_page
def export_xlsx(event, survey):
    return spreadsheet_download(service.export_xlsx(survey, locale()), f"{event.slug}-survey.xlsx")


@bp.route("/manage/surveys/compare")
@login_required
def compare():
    choices = service.comparable_questions(current_user)
    key = request.args.get("q") or ""
    region = request.args.get("region") or None
    if region not in orgs.REGIONS:
        region = None
    chosen = next((c for c in choices if c.key == key), None)
    rows, chart, region_rows = [], None, []
    if chosen is not None:
        rows = service.compare(current_user, key, region=region, other_label=_("その他"))
        if chosen.kind == "rating":
            chart_rows = [charts.ChartRow(f"{to_jst(r.event.starts_at):%Y/%m/%d} {r.event.title}",
                                          r.result.average or 0, charts.format_number(r.result.average, 2)
                                          if r.result.average is not None else "—") for r in rows]
            scale_max = rows[0].result.question.scale_max if rows else None
            chart = Markup(charts.bar_chart(chart_rows, title=_("「%(q)s」の平均（イベント別）", q=chosen.text),
                                            chart_id="compare", scale_max=scale_max,
                                            empty_text=_("該当するイベントがありません")))
            region_rows = _region_summary(rows)
    return render_template("surveys/compare.html", choices=choices, chosen=chosen, rows=rows, chart=chart,
                           region=region, region_rows=region_rows, key=key)


def _region_summary(rows) -> list[dict]:
    """Per region: events, answers, the answer-weighted average and the NPS over all answers."""
    out: dict[str | None, dict] = {}
    for r in rows:
        d = out.setdefault(r.event.region, {"region": r.event.region, "events": 0, "count": 0, "sum": 0.0,
                                            "p": 0, "d": 0, "nps": r.result.nps is not None})
        d["events"] += 1
        d["count"] += r.result.count
        d["sum"] += (r.result.average or 0) * r.result.count
        if r.result.nps:
            d["p"] += r.result.nps.promoters
            d["d"] += r.result.nps.detractors
    for d in out.values():
        d["average"] = round(d["sum"] / d["count"], 2) if d["count"] else None
        d["nps_score"] = round(100 * (d["p"] - d["d"]) / d["count"]) if d["nps"] and d["count"] else None
    return sorted(out.values(), key=lambda d: list(orgs.REGIONS).index(d["region"]) if d["region"] in orgs.REGIONS
                  else 99)


__all__ = ["bp", "personal_url"]
