"""How a check-in answer is told: one JSON shape and one sentence, for the API and the desk page."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask_babel import gettext as _

from ..core.clock import format_time
from ..core.i18n import N_
from ..events.models import Event
from ..jsonapi import Output
from ..web import locale, translated_in
from . import service
from .service import CheckinResult, Counters

#: a scan's answer (``RESULTS``), an undo, or an uploaded offline refusal — the same codes as the scan log's
ResultCode = Literal[service.LOG_RESULTS]


class RegistrationBrief(Output):
    """Only what reception needs to recognise the person (never job titles)."""

    id: int
    name: str
    name_kana: str
    organization: str
    ticket_type: str
    ticket_type_code: str
    status: str
    team: str | None = None


class CheckinOut(Output):
    result: ResultCode
    reason: str | None = None
    message: str
    registration: RegistrationBrief | None = None
    #: the valid check-in: when it was scanned and by whom (for ``checked_in`` and ``already_checked_in``)
    checked_in_at: datetime | None = None
    checked_in_by: str | None = None
    #: an offline admission stored as a duplicate of an earlier one
    duplicate: bool = False
    #: this scan (nonce and ticket) was seen before; the first answer is repeated as it was and nothing changed
    replayed: bool = False
    nonce: str | None = None
    #: for ``refused_offline`` (an uploaded scan the device refused; ``reason`` is what it answered):
    #: the ticket admits now — the device's snapshot was older — so the person may be called back
    admissible_now: bool = False
    #: for a replayed ``checked_in`` / ``already_checked_in``: the check-in that answer names was taken back
    #: since (an undo or a cancellation) — the person is not checked in by it now
    taken_back: bool = False


class TypeCountOut(Output):
    code: str
    name: str
    checked_in: int
    expected: int


class CountersOut(Output):
    checked_in: int
    expected: int
    duplicates: int
    types: list[TypeCountOut]


def reason_text(reason: str | None) -> str:
    return {
        "waitlisted": _("キャンセル待ち"),
        "cancelled": _("キャンセル済み"),
        "pending_review": _("主催者の確認待ち"),
        "applied": _("抽選前"),
        "offered": _("繰り上げの回答待ち"),
        "rejected": _("参加をお断りした申込み"),
    }.get(reason or "", reason or "")


def _taken_back() -> str:
    return _("その後、この受付は取り消されました（いまは受付されていません）。")


def _said(text: str) -> str:
    """A sentence without values in the request's language, translated once per language in a
    process: most scans answer one of a few."""
    return translated_in(locale(), text)


def message(result: CheckinResult) -> str:
    """One plain sentence for the big panel (also read out by screen readers)."""
    c = result.checkin
    if result.result == "checked_in":
        return _said(N_("受付しました")) + (" " + _taken_back() if result.taken_back else "")
    if result.result == "already_checked_in":
        if c is not None:
            text = _("受付済みです（%(time)s、%(who)s）", time=format_time(c.scanned_at), who=c.actor_label)
        else:
            text = _("受付済みです")
        if result.duplicate:
            text += " " + _("別の端末と重複した受付として記録しました。")
        return text + (" " + _taken_back() if result.taken_back else "")
    if result.result == "not_admitted":
        return _("入場できません（%(reason)s）", reason=reason_text(result.reason))
    if result.result == "wrong_event":
        return _said(N_("別のイベントのチケットです"))
    if result.result == "undone":
        return _said(N_("受付を取り消しました"))
    if result.result == "refused_offline":
        if result.admissible_now:
            return _("オフライン中にお断りしましたが、今は受付できます。もう一度読み取ってください。")
        return _said(N_("オフライン中にお断りした記録を保存しました"))
    return _said(N_("このコードは見つかりません"))


def method_text(method: str) -> str:
    return {
        "camera": _("カメラ"),
        "scanner": _("スキャナー・入力"),
        "search": _("名前検索"),
        "offline": _("オフライン"),
        "self": _("本人（出席コード）"),
        "walkin": _("当日申込み"),
    }.get(method, method)


def log_result_text(result: str, reason: str | None = None, duplicate: bool = False) -> str:
    """A scan log line's answer, in the desk's words."""
    if result == "checked_in":
        return _("受付")
    if result == "already_checked_in":
        return _("重複した受付（別の端末）") if duplicate else _("受付済み（再読み取り）")
    if result == "not_admitted":
        return _("入場不可（%(reason)s）", reason=reason_text(reason))
    if result == "wrong_event":
        return _("別のイベントのチケット")
    if result == "undone":
        return _("受付の取り消し")
    if result == "refused_offline":
        answer = {"not_admitted": _("入場不可"), "already_checked_in": _("受付済み")}.get(reason or "", _("不明なコード"))
        return _("オフライン中にお断り（%(answer)s）", answer=answer)
    return _("不明なコード")


def log_filter_text(result: str) -> str:
    """A choice in the scan log's filter (one per kind of line)."""
    return {"already_checked_in": _("受付済み・重複"), "not_admitted": _("入場不可"),
            "refused_offline": _("オフライン中にお断り")}.get(result) or log_result_text(result)


def brief(event: Event, registration, team: str | None = None) -> RegistrationBrief:
    return RegistrationBrief(
        id=registration.id, name=registration.name, name_kana=registration.name_kana,
        organization=registration.organization_name, ticket_type=registration.ticket_type.name,
        ticket_type_code=registration.ticket_type.code, status=registration.status, team=team)


def _team(event: Event, result: CheckinResult) -> str | None:
    return result.team if result.team_known else service.team_name(event, result.registration.id)


def result_out(event: Event, result: CheckinResult) -> CheckinOut:
    reg = result.registration
    c = result.checkin if result.result in ("checked_in", "already_checked_in") else None
    return CheckinOut(
        result=result.result, reason=result.reason, message=message(result),
        registration=brief(event, reg, _team(event, result)) if reg is not None else None,
        checked_in_at=c.scanned_at if c else None, checked_in_by=c.actor_label if c else None,
        duplicate=result.duplicate, replayed=result.replayed, nonce=result.nonce,
        admissible_now=result.admissible_now, taken_back=result.taken_back)


class WalkInOut(CheckinOut):
    """The answer to a walk-in (the desk page): the check-in, and what became of the registration."""

    #: the status the address's registration had before (None: there was none; it was made at the door)
    registration_was: str | None = None
    #: the registration got a new ticket code (made now, or a cancelled one applied for again)
    new_ticket: bool = False
    #: admitted only because the organizer overrode the seats, the e-mail allow-list or a rejection
    overridden: bool = False
    #: one more sentence for the panel about the registration (None for a new one)
    note: str | None = None


def walk_in_note(was: str | None, overridden: bool) -> str | None:
    """What the desk is told about the registration a walk-in found (nothing when it made one)."""
    if was is None:
        text = ""
    elif was == "confirmed":
        text = _("申込み済みの方です（新しい登録はしていません）。")
    elif was == "cancelled":
        text = _("キャンセルされていた申込みを、新しい申込みとして参加確定にしました（以前のチケットは使えません）。")
    else:
        text = _("申込み済みの方です。「%(status)s」から参加確定にしました。", status=reason_text(was))
    if overridden:
        text = (text + " " if text else "") + _("定員やドメインの確認を超えて受け付けました。")
    return text or None


def walk_in_out(event: Event, result: CheckinResult) -> WalkInOut:
    door = result.walk_in
    base = result_out(event, result)
    if door is None:
        return WalkInOut(**base.model_dump())
    return WalkInOut(**base.model_dump(), registration_was=door.was, new_ticket=door.token is not None,
                     overridden=door.overridden, note=walk_in_note(door.was, door.overridden))


def counters_out(counters: Counters) -> CountersOut:
    return CountersOut(checked_in=counters.checked_in, expected=counters.expected, duplicates=counters.duplicates,
                       types=[TypeCountOut(code=t.code, name=t.name, checked_in=t.checked_in, expected=t.expected)
                              for t in counters.types])


class SnapshotOut(Output):
    slug: str
    title: str
    generated_at: datetime
    tickets: list[dict]
    counters: CountersOut


def snapshot_out(event: Event, now: datetime) -> SnapshotOut:
    return SnapshotOut(slug=event.slug, title=event.title, generated_at=now, tickets=service.snapshot(event),
                       counters=counters_out(service.counters(event)))


class AttendeeOut(Output):
    registration: RegistrationBrief
    checked_in_at: datetime | None = None
    checked_in_by: str | None = None


def attendee_out(event: Event, a: service.Attendee) -> AttendeeOut:
    return AttendeeOut(registration=brief(event, a.registration, a.team),
                       checked_in_at=a.checkin.scanned_at if a.checkin else None,
                       checked_in_by=a.checkin.actor_label if a.checkin else None)


class LoggedPerson(Output):
    id: int
    name: str
    organization: str


class LogEntryOut(Output):
    id: int
    result: str
    #: ``not_admitted``: the registration's status then; ``refused_offline``: what the device answered
    reason: str | None
    duplicate: bool
    #: this event's registration the scan named (id, name, organisation); null for codes that matched none
    registration: LoggedPerson | None
    #: the first 16 hex digits of SHA-256 of what was read, when it matched no ticket of this event
    input_hash: str | None
    method: str
    device_id: str
    actor: str
    scanned_at: datetime
    received_at: datetime


class ScanLogOut(Output):
    entries: list[LogEntryOut]
    total: int
    page: int
    per_page: int


def log_entry_out(entry: service.LogEntry) -> LogEntryOut:
    log = entry.log
    who = LoggedPerson(id=log.registration_id, name=entry.name, organization=entry.organization or "") \
        if log.registration_id is not None and entry.name is not None else None
    return LogEntryOut(id=log.id, result=log.result, reason=log.reason or None, duplicate=log.duplicate,
                       registration=who, input_hash=log.input_hash or None, method=log.method,
                       device_id=log.device_id, actor=log.actor_label, scanned_at=log.scanned_at,
                       received_at=log.received_at)
