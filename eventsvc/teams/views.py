"""Team pages: the organizer's page (run, adjust, lock, publish), the projector view, and
the attendee's team on their ticket page (through registration's attendee-panel hook)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from ..core.clock import now_utc
from ..errors import DomainError, ValidationFailed, page_message, page_messages
from ..events import service as events
from ..extensions import db
from ..registration import views as registration_views
from ..registration.models import Registration
from ..web import apply_errors
from . import service
from .explain import scope_label
from .forms import LockForm, MoveForm, PublishForm, RenameForm, RunForm, SwapForm, set_choices
from .models import SCOPES, TeamAssignment

bp = Blueprint("teams", __name__)

# ------------------------------------------------------------------ manage
# GET  /manage/events/<slug>/teams                     manage          conditions, teams with their mix, changes
# POST /manage/events/<slug>/teams/run                 manage_run      run, or re-run around locked people
# POST /manage/events/<slug>/teams/move                manage_move     one person to a team (drag and drop posts it)
# POST /manage/events/<slug>/teams/swap                manage_swap     exchange two people
# POST /manage/events/<slug>/teams/lock                manage_lock     lock / unlock one person
# POST /manage/events/<slug>/teams/rename              manage_rename   a team's name and topic
# POST /manage/events/<slug>/teams/publish             manage_publish  attendees, name tags and the desk see it
# POST /manage/events/<slug>/teams/unpublish           manage_publish
# GET  /manage/events/<slug>/teams/projector           projector       every team on one screen, big type
# ------------------------------------------------------------------ attendee (hook)
# the attendee's page /my/<token> shows their published team: attendee_panel()

OUT = "out"


def _time_limit() -> float:
    return float(current_app.config.get("TEAMS_TIME_LIMIT", service.DEFAULT_TIME_LIMIT))


def _back(slug: str, anchor: str = "teams"):
    return redirect(url_for("teams.manage", slug=slug) + f"#{anchor}", code=303)


def _member_label(reg: Registration, team_name: str | None) -> str:
    where = _("チーム %(name)s", name=team_name) if team_name else _("未所属")
    who = f"No.{reg.id} {reg.name}"
    return _("%(text)s（%(note)s）", text=who, note=where)


def _lines(text: str | None) -> list[str]:
    text = (text or "").strip()
    return [line.strip() for line in text.splitlines()] if text else []


def _fill_run_form(form: RunForm, event, counts: dict[str, int]) -> None:
    set_choices(form.scope, [(s, _("%(scope)s（%(n)s人）", scope=scope_label(s), n=counts[s])) for s in SCOPES])
    set_choices(form.topic_question, [("", _("使わない"))] + [(q.id, q.text) for q in service.topic_questions(event)])


def _run_form_from(run: TeamAssignment | None, counts: dict[str, int]) -> RunForm:
    form = RunForm(formdata=None)
    if run is None:
        form.scope.data = "checked_in" if counts["checked_in"] else "confirmed"
        return form
    names = {r.id: r.name for r in (m.registration for m in run.members)}
    params = run.params or {}
    topics = [t.topic for t in run.teams]
    form.scope.data = run.scope
    form.team_count.data, form.team_size.data = run.team_count, run.team_size
    form.use_topics.data = any(topics)
    form.names.data = "\n".join((t.topic or "") if form.use_topics.data else t.name for t in run.teams)
    form.topic_question.data = params.get("topic_question") or ""
    form.keep_apart.data = service.groups_as_text(params.get("keep_apart") or [], names)
    form.keep_together.data = service.groups_as_text(params.get("keep_together") or [], names)
    form.keep_locks.data = True
    form.submit.label.text = _("もう一度チーム分けを実行")
    return form


def _change_forms(run: TeamAssignment, ov: service.Overview, move: MoveForm | None = None,
                  swap: SwapForm | None = None) -> tuple[MoveForm, SwapForm]:
    move = move or MoveForm(formdata=None, prefix="move")
    swap = swap or SwapForm(formdata=None, prefix="swap")
    people = [(str(m.id), _member_label(m.registration, tv.team.name)) for tv in ov.teams for m in tv.members]
    late = [(str(r.id), _member_label(r, None)) for r in ov.unassigned]
    set_choices(move.registration, [("", _("選んでください"))] + people + late)
    set_choices(move.team, [("", _("選んでください"))]
                + [(str(tv.team.position), _("チーム %(name)s", name=tv.team.name)) for tv in ov.teams]
                + [(OUT, _("チームから外す"))])
    set_choices(swap.first, [("", _("選んでください"))] + people)
    set_choices(swap.second, [("", _("選んでください"))] + people)
    move.run_id.data = swap.run_id.data = str(run.id)
    return move, swap


def _render(event, *, run_form: RunForm | None = None, move: MoveForm | None = None, swap: SwapForm | None = None,
            rename: RenameForm | None = None, rename_position: int | None = None, problems: list[str] | None = None,
            status: int = 200):
    run = service.current(event)
    counts = service.scope_counts(event)
    ov = service.overview(run) if run is not None else None
    if run_form is None:
        run_form = _run_form_from(run, counts)
    _fill_run_form(run_form, event, counts)
    ctx = {"event": event, "run": run, "ov": ov, "run_form": run_form, "counts": counts, "problems": problems or [],
           "published_run": service.published(event),
           "rename": rename, "rename_position": rename_position, "scope_label": scope_label,
           "people": sum(len(t.members) for t in ov.teams) if ov else 0}
    if run is not None:
        ctx["move"], ctx["swap"] = _change_forms(run, ov, move, swap)
    return render_template("teams/manage.html", **ctx), status


@bp.route("/manage/events/<slug>/teams")
@login_required
def manage(slug: str):
    event = events.get_event_for(slug, current_user)
    return _render(event)


@bp.route("/manage/events/<slug>/teams/run", methods=["POST"])
@login_required
def manage_run(slug: str):
    event = events.get_event_for(slug, current_user)
    counts = service.scope_counts(event)
    form = RunForm()
    _fill_run_form(form, event, counts)
    if not form.validate_on_submit():
        return _render(event, run_form=form, status=422)
    try:
        regs = service.in_scope(event, form.scope.data)
        lines = _lines(form.names.data)
        groups, errors = {}, {}
        for name in ("keep_apart", "keep_together"):
            try:
                groups[name] = service.groups_from_text(form[name].data, regs, name)
            except ValidationFailed as err:
                errors.update(err.fields)
        if errors:
            raise ValidationFailed(errors)
        req = service.RunRequest(
            scope=form.scope.data, team_count=form.team_count.data, team_size=form.team_size.data,
            seed=form.seed.data, keep_apart=groups["keep_apart"], keep_together=groups["keep_together"],
            names=None if form.use_topics.data or not lines else lines,
            topics=[line or None for line in lines] if form.use_topics.data and lines else None,
            topic_question=form.topic_question.data or None, keep_locks=bool(form.keep_locks.data),
            keep_names=False)
        run = service.run(event, req, current_user, now_utc(), time_limit=_time_limit())
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        leftover = apply_errors(form, err.fields, {"topics": "names"})
        problems = [page_message(err.message)] if isinstance(err, service.TeamError) else []
        problems += [m for m in leftover if m not in problems]
        return _render(event, run_form=form, problems=problems, status=422)
    locked = sum(1 for m in run.members if m.locked)
    flash(_("%(n)s人を%(k)sチームに分けました（%(scope)s）。", n=len(run.members), k=len(run.teams),
            scope=scope_label(run.scope))
          + (_(" 固定した%(n)s人はそのままです。", n=locked) if locked else ""), "success")
    return _back(slug)


def _changed(event, what: str, anchor: str = "teams"):
    flash(what, "success")
    return _back(event.slug, anchor)


def _stale_or_missing(event, run_id: int | None):
    """The current run, or a redirect telling why the change was not made."""
    try:
        return service.check_current(event, run_id), None
    except DomainError as err:
        db.session.rollback()
        flash(page_message(err.message), "error")
        return None, _back(event.slug)


@bp.route("/manage/events/<slug>/teams/move", methods=["POST"])
@login_required
def manage_move(slug: str):
    event = events.get_event_for(slug, current_user)
    move = MoveForm(prefix="move")
    run, redirect_ = _stale_or_missing(event, move.run_number())
    if run is None:
        return redirect_
    ov = service.overview(run)
    _change_forms(run, ov, move=move)
    if not move.validate_on_submit():
        return _render(event, move=move, status=422)
    rid = int(move.registration.data)
    position = None if move.team.data == OUT else int(move.team.data)
    try:
        service.move(run, rid, position, current_user, now_utc())
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        move.form_errors.extend(apply_errors(move, err.fields))
        return _render(event, move=move, status=422)
    reg = db.session.get(Registration, rid)
    if position is None:
        return _changed(event, _("%(name)sさんをチームから外しました。", name=reg.name))
    name = next(t.name for t in run.teams if t.position == position)
    return _changed(event, _("%(name)sさんをチーム %(team)s に移しました。", name=reg.name, team=name),
                    f"team-{position}")


@bp.route("/manage/events/<slug>/teams/swap", methods=["POST"])
@login_required
def manage_swap(slug: str):
    event = events.get_event_for(slug, current_user)
    swap = SwapForm(prefix="swap")
    run, redirect_ = _stale_or_missing(event, swap.run_number())
    if run is None:
        return redirect_
    _change_forms(run, service.overview(run), swap=swap)
    if not swap.validate_on_submit():
        return _render(event, swap=swap, status=422)
    first, second = int(swap.first.data), int(swap.second.data)
    try:
        service.swap(run, first, second, current_user, now_utc())
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        swap.form_errors.extend(apply_errors(swap, err.fields))
        return _render(event, swap=swap, status=422)
    a, b = db.session.get(Registration, first), db.session.get(Registration, second)
    return _changed(event, _("%(a)sさんと%(b)sさんを入れ替えました。", a=a.name, b=b.name))


def _int(value) -> int | None:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n if 0 <= n < 2**31 else None


@bp.route("/manage/events/<slug>/teams/lock", methods=["POST"])
@login_required
def manage_lock(slug: str):
    event = events.get_event_for(slug, current_user)
    form = LockForm()
    if not form.validate_on_submit() or _int(form.registration.data) is None:
        abort(400)
    run, redirect_ = _stale_or_missing(event, form.run_number())
    if run is None:
        return redirect_
    locked = form.locked.data == "1"
    try:
        member = service.set_locked(run, _int(form.registration.data), locked, now_utc())
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash(page_message(err.message) if not err.fields else " ".join(page_messages(err.fields.values())), "error")
        return _back(slug)
    name = member.registration.name
    text = _("%(name)sさんをいまのチームに固定しました。", name=name) if locked else _("%(name)sさんの固定を外しました。", name=name)
    return _changed(event, text, f"member-{member.registration_id}")


@bp.route("/manage/events/<slug>/teams/rename", methods=["POST"])
@login_required
def manage_rename(slug: str):
    event = events.get_event_for(slug, current_user)
    form = RenameForm()
    run, redirect_ = _stale_or_missing(event, form.run_number())
    if run is None:
        return redirect_
    position = _int(form.position.data)
    if position is None:
        abort(400)
    if form.validate_on_submit():
        try:
            team = service.rename(run, position, form.name.data, form.topic.data, now_utc())
            db.session.commit()
            return _changed(event, _("チーム名を「%(name)s」にしました。", name=team.name), f"team-{position}")
        except DomainError as err:
            db.session.rollback()
            form.form_errors.extend(apply_errors(form, err.fields))
    return _render(event, rename=form, rename_position=position, status=422)


@bp.route("/manage/events/<slug>/teams/<any(publish, unpublish):action>", methods=["POST"])
@login_required
def manage_publish(slug: str, action: str):
    event = events.get_event_for(slug, current_user)
    form = PublishForm()
    if not form.validate_on_submit():
        abort(400)
    run, redirect_ = _stale_or_missing(event, form.run_number())
    if run is None:
        return redirect_
    if action == "publish":
        service.publish(run, current_user, now_utc())
        text = _("チーム分けを公開しました。参加者のページ、名札、受付の画面にチームが表示されます。")
    else:
        service.unpublish(run, now_utc())
        text = _("チーム分けの公開をやめました。")
    db.session.commit()
    return _changed(event, text, "publish")


@bp.route("/manage/events/<slug>/teams/projector")
@login_required
def projector(slug: str):
    event = events.get_event_for(slug, current_user)
    run = service.current(event)
    if run is None:
        flash(_("まだチーム分けをしていません。"), "info")
        return redirect(url_for("teams.manage", slug=slug))
    ov = service.overview(run)
    people = sum(len(t.members) for t in ov.teams)
    return render_template("teams/projector.html", event=event, run=run, ov=ov, people=people)


# ------------------------------------------------------------------ attendee (hook)
def attendee_panel(registration: Registration) -> Markup | None:
    """The attendee's published team, for registration's attendee page."""
    if registration.status != "confirmed":
        return None
    mine = service.my_team(registration)
    if mine is None:
        return None
    return Markup(render_template("teams/_attendee_team.html", mine=mine))


registration_views.register_attendee_panel(attendee_panel)
