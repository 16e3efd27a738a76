"""Event rules: create, edit, publish, copy, agenda; what the public may see.

Plain functions over the session: they take the acting organizer and ``now``,
flush, and raise :class:`~eventsvc.errors.DomainError`; the caller commits.
Both the pages and the JSON API build an :class:`EventData` and call these.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from ..core import orgs
from ..core.clock import to_jst, to_utc
from ..core.i18n import N_, msg
from ..core.text import clean_field, is_slug
from ..errors import Conflict, DomainError, NotFound, ValidationFailed
from ..extensions import db
from .models import AGENDA_KINDS, DEFAULT_ALLOWED_DOMAINS, SELECTIONS, AgendaItem, Event, TicketType

MAX_CAPACITY = 100_000
MAX_TICKET_TYPES = 10
MAX_AGENDA_ITEMS = 50
#: words the pages' own URLs use where a slug stands (``/manage/events/new`` is the new-event form)
RESERVED_SLUGS = frozenset({"new"})
MAX_DURATION = timedelta(days=14)
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")

#: status → the statuses it may move to
TRANSITIONS = {
    "draft": {"published", "cancelled"},
    "published": {"closed", "cancelled"},
    "closed": {"published", "cancelled"},
    "cancelled": set(),
}


@dataclass
class TicketTypeData:
    code: str
    name: str
    capacity: int


@dataclass
class AgendaItemData:
    starts_at: datetime
    ends_at: datetime
    title: str
    speaker: str = ""
    affiliation: str = ""
    description: str = ""
    kind: str = "talk"
    materials_url: str = ""


@dataclass
class EventData:
    """Everything an organizer sets on an event (times aware, or naive = Japan time)."""

    title: str
    starts_at: datetime
    ends_at: datetime
    summary: str = ""
    description: str = ""
    venue_name: str = ""
    venue_address: str = ""
    online_url: str = ""
    region: str | None = None
    prefecture_code: str | None = None
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    selection: str = "first_come"
    allowed_email_domains: list[str] = field(default_factory=lambda: list(DEFAULT_ALLOWED_DOMAINS))
    ticket_types: list[TicketTypeData] = field(default_factory=list)
    slug: str | None = None

    @classmethod
    def from_event(cls, event: Event) -> EventData:
        return cls(
            title=event.title, starts_at=event.starts_at, ends_at=event.ends_at, summary=event.summary,
            description=event.description, venue_name=event.venue_name,
            venue_address=event.venue_address, online_url=event.online_url, region=event.region,
            prefecture_code=event.prefecture_code, registration_opens_at=event.registration_opens_at,
            registration_closes_at=event.registration_closes_at, selection=event.selection,
            allowed_email_domains=list(event.allowed_email_domains or []),
            ticket_types=[TicketTypeData(t.code, t.name, t.capacity) for t in event.ticket_types],
            slug=event.slug,
        )


# ------------------------------------------------------------------ hooks
#: ``counter(event) -> {ticket_type_id: seats taken}``; registration plugs itself in here
SeatCounter = Callable[[Event], dict[int, int]]
_seat_counters: list[SeatCounter] = []


def register_seat_counter(counter: SeatCounter) -> None:
    if counter not in _seat_counters:
        _seat_counters.append(counter)


class Promoted(Protocol):
    """One person a capacity listener moved up (registration's ``Registration``)."""

    #: ``"confirmed"`` (given the seat) or ``"offered"`` (offered it until a deadline)
    status: str


#: ``listener(ticket_type, now) -> the people it moved up``, called when an organizer raises a
#: participation type's capacity (in the same transaction, after the change is flushed):
#: registration moves its waitlist up and returns the registrations it promoted
CapacityListener = Callable[[TicketType, datetime], Sequence[Promoted]]
_capacity_listeners: list[CapacityListener] = []


def register_capacity_listener(listener: CapacityListener) -> None:
    if listener not in _capacity_listeners:
        _capacity_listeners.append(listener)


class FormQuestion(Protocol):
    """One question of an event's registration form (registration's ``Question``)."""

    id: str
    #: ``text`` / ``long_text`` (a string), ``single`` (one of ``options``), ``multiple`` (a list of them)
    kind: str
    text: str
    options: list[str]
    required: bool
    #: the longest answer taken (text kinds), else None
    max_length: int | None


#: ``source(event) -> the questions its registration form asks``; registration plugs itself in here
QuestionSource = Callable[[Event], Sequence[FormQuestion]]
_question_sources: list[QuestionSource] = []

#: ``check(event, now) -> None when the event takes registrations now, else the reason code``
#: (registration's window: the ``reason`` of its 409 ``registration_closed``)
WindowCheck = Callable[[Event, datetime], str | None]
_window_checks: list[WindowCheck] = []
#: what each of those reason codes says to a person (untranslated msgids)
_window_messages: dict[str, str] = {"not_published": N_("このイベントはまだ公開されていません。")}


def register_question_source(source: QuestionSource) -> None:
    if source not in _question_sources:
        _question_sources.append(source)


def register_window_check(check: WindowCheck, messages: dict[str, str] | None = None) -> None:
    """``messages``: what each reason code the check gives says to a person (msgids, ``N_``)."""
    if check not in _window_checks:
        _window_checks.append(check)
    _window_messages.update(messages or {})


def registration_closed_message(reason: str) -> str:
    """The sentence for a reason of :func:`registration_closed_reason` (a msgid: translate it to show it)."""
    return _window_messages.get(reason, N_("申込みを受け付けていません。"))


def registration_questions(event: Event) -> list[FormQuestion]:
    """The questions a registrant answers, in the form's order."""
    return [q for source in _question_sources for q in source(event)]


def registration_closed_reason(event: Event, now: datetime) -> str | None:
    """None when the event takes registrations now; else why not (first reason given).

    Without a check plugged in, only a published event counts as open."""
    if not _window_checks:
        return None if event.status == "published" else "not_published"
    for check in _window_checks:
        reason = check(event, now)
        if reason is not None:
            return reason
    return None


def seats_taken(event: Event) -> dict[int, int]:
    taken: dict[int, int] = {}
    for counter in _seat_counters:
        for key, n in counter(event).items():
            taken[key] = taken.get(key, 0) + n
    return taken


def capacity_left(event: Event) -> dict[str, int]:
    """Seats left per participation type code (never below 0)."""
    taken = seats_taken(event)
    return {t.code: max(0, t.capacity - taken.get(t.id, 0)) for t in event.ticket_types}


@dataclass
class CapacityWarning:
    """A participation type saved with fewer places than seats already held (confirmed or offered).

    Allowed, as pretix allows a quota below its sales: nobody loses a seat; new applications wait.
    """

    ticket_type: str
    name: str
    capacity: int
    seats_taken: int
    code: str = "capacity_below_seats_taken"


@dataclass
class Promotion:
    """How many waiting people a raised capacity moved up, per participation type."""

    ticket_type: str
    name: str
    confirmed: int = 0
    offered: int = 0


@dataclass
class EventUpdate:
    """What :func:`update_event` saved, and what the organizer should be told about it."""

    event: Event
    capacity_warnings: list[CapacityWarning] = field(default_factory=list)
    promotions: list[Promotion] = field(default_factory=list)


# ------------------------------------------------------------------ validation
def _url(errors: dict, key: str, value: str | None) -> str:
    value = clean_field(errors, key, value, 2000)
    if value and key not in errors and not re.match(r"^https?://[^\s/$.?#][^\s]*$", value, re.I):
        errors[key] = N_("http:// または https:// で始まるURLを入力してください。")
    return value


def _domains(errors: dict, values: list[str]) -> list[str]:
    out: list[str] = []
    for raw in values:
        # typed as an address's part: full-width folds (ｌｇ．ｊｐ), one leading @ or dot goes
        d = unicodedata.normalize("NFKC", raw or "").strip().lower()
        d = d[1:] if d[:1] in ("@", ".") else d
        if not d:
            continue
        if not _DOMAIN.match(d) or "." not in d and len(d) < 2:
            errors["allowed_email_domains"] = msg(N_("ドメインの形式が正しくありません: %(domain)s"), domain=d[:50])
            continue
        if d not in out:
            out.append(d)
    if len(out) > 50:
        errors["allowed_email_domains"] = N_("ドメインは50件までです。")
    return out


def validate_event(data: EventData) -> EventData:
    """Clean and check an event; :class:`ValidationFailed` lists every problem at once."""
    errors: dict[str, str] = {}
    d = replace(data)
    d.title = clean_field(errors, "title", d.title, 200, required=True)
    d.summary = clean_field(errors, "summary", d.summary, 500, multiline=True)
    d.description = clean_field(errors, "description", d.description, 20000, multiline=True)
    d.venue_name = clean_field(errors, "venue.name", d.venue_name, 200)
    d.venue_address = clean_field(errors, "venue.address", d.venue_address, 300)
    d.online_url = _url(errors, "online_url", d.online_url)

    if d.prefecture_code in ("", None):
        d.prefecture_code = None
    else:
        code = str(d.prefecture_code).zfill(2)
        if not orgs.prefecture_name(code):
            errors["prefecture_code"] = N_("都道府県コードが正しくありません（01〜47）。")
        d.prefecture_code = code
    if d.region in ("", None):
        d.region = orgs.region_of(d.prefecture_code) if d.prefecture_code and "prefecture_code" not in errors else None
    else:
        region = _region_code(d.region)
        if region is None:
            errors["region"] = N_("地域が正しくありません。")
        elif d.prefecture_code and "prefecture_code" not in errors and orgs.region_of(d.prefecture_code) != region:
            errors["region"] = N_("都道府県と地域が一致しません。")
        d.region = region or d.region

    for key in ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at"):
        value = getattr(d, key)
        if value is not None:
            setattr(d, key, to_utc(value))
    if d.starts_at and d.ends_at:
        if d.ends_at <= d.starts_at:
            errors["ends_at"] = N_("終了日時は開始日時より後にしてください。")
        elif d.ends_at - d.starts_at > MAX_DURATION:
            errors["ends_at"] = N_("開催期間は14日以内にしてください。")
        if not (2000 <= to_jst(d.starts_at).year <= 2100):
            errors["starts_at"] = N_("開始日時が正しくありません。")
    if d.registration_opens_at and d.registration_closes_at and d.registration_closes_at <= d.registration_opens_at:
        errors["registration_closes_at"] = N_("受付終了は受付開始より後にしてください。")
    if d.registration_closes_at and d.ends_at and d.registration_closes_at > d.ends_at:
        errors["registration_closes_at"] = N_("受付終了はイベント終了までにしてください。")

    if d.selection not in SELECTIONS:
        errors["selection"] = N_("選考方法は first_come または lottery です。")
    d.allowed_email_domains = _domains(errors, list(d.allowed_email_domains or []))

    if d.slug is not None and d.slug != "":
        if not is_slug(d.slug):
            errors["slug"] = N_("スラッグは半角英小文字・数字・ハイフン（64文字以内）です。")
        elif d.slug in RESERVED_SLUGS:
            errors["slug"] = msg(N_("「%(slug)s」は画面のURLに使われているため、スラッグにできません。"), slug=d.slug)
    else:
        d.slug = None

    if not d.ticket_types:
        errors["ticket_types"] = N_("参加区分を1つ以上設定してください。")
    if len(d.ticket_types) > MAX_TICKET_TYPES:
        errors["ticket_types"] = msg(N_("参加区分は%(n)s件までです。"), n=MAX_TICKET_TYPES)
    seen: set[str] = set()
    seen_names: set[str] = set()
    cleaned = []
    for i, t in enumerate(d.ticket_types[:MAX_TICKET_TYPES]):
        key = f"ticket_types.{i}"
        code = (t.code or "").strip().lower()
        if not _CODE.match(code):
            errors[f"{key}.code"] = N_("コードは半角英小文字・数字・_・-（32文字以内）です。")
        elif code in seen:
            errors[f"{key}.code"] = N_("コードが重複しています。")
        seen.add(code)
        name = clean_field(errors, f"{key}.name", t.name, 100, required=True)
        if f"{key}.name" not in errors:
            # the registration form and the lists tell types apart by name: compare them as read
            folded = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
            if folded in seen_names:
                errors[f"{key}.name"] = N_("名前が重複しています。")
            seen_names.add(folded)
        if not isinstance(t.capacity, int) or isinstance(t.capacity, bool) or not 0 <= t.capacity <= MAX_CAPACITY:
            errors[f"{key}.capacity"] = msg(N_("定員は0〜%(max)sの整数です。"), max=f"{MAX_CAPACITY:,}")
        cleaned.append(TicketTypeData(code, name, t.capacity))
    d.ticket_types = cleaned
    if errors:
        raise ValidationFailed(errors)
    return d


def _region_code(value: str) -> str | None:
    if value in orgs.REGIONS:
        return value
    for code, (ja, en, _) in orgs.REGIONS.items():
        if value in (ja, en):
            return code
    return None


def validate_agenda(event: Event, items: list[AgendaItemData]) -> list[AgendaItemData]:
    errors: dict[str, str] = {}
    if len(items) > MAX_AGENDA_ITEMS:
        raise ValidationFailed({"agenda": msg(N_("プログラムは%(n)s件までです。"), n=MAX_AGENDA_ITEMS)})
    out = []
    for i, item in enumerate(items):
        key = f"agenda.{i}"
        it = replace(item)
        it.title = clean_field(errors, f"{key}.title", it.title, 200, required=True)
        it.speaker = clean_field(errors, f"{key}.speaker", it.speaker, 100)
        it.affiliation = clean_field(errors, f"{key}.affiliation", it.affiliation, 200)
        it.description = clean_field(errors, f"{key}.description", it.description, 5000, multiline=True)
        it.materials_url = _url(errors, f"{key}.materials_url", it.materials_url)
        if it.kind not in AGENDA_KINDS:
            errors[f"{key}.kind"] = N_("種類が正しくありません。")
        it.starts_at, it.ends_at = to_utc(it.starts_at), to_utc(it.ends_at)
        if it.ends_at <= it.starts_at:
            errors[f"{key}.ends_at"] = N_("終了時刻は開始時刻より後にしてください。")
        elif it.starts_at < event.starts_at or it.ends_at > event.ends_at:
            errors[f"{key}.starts_at"] = N_("イベントの開催時間内にしてください。")
        out.append(it)
    if errors:
        raise ValidationFailed(errors)
    return sorted(out, key=lambda it: (it.starts_at, it.ends_at))


# ------------------------------------------------------------------ queries
def _with_children():
    return (selectinload(Event.ticket_types), selectinload(Event.agenda_items), selectinload(Event.organizers))


def get_public_event(slug: str) -> Event:
    """A published, closed or cancelled event; drafts do not exist for the public."""
    event = db.session.scalar(select(Event).where(Event.slug == slug).options(*_with_children()))
    if event is None or not event.is_public:
        raise NotFound("event_not_found", N_("イベントが見つかりません。"))
    return event


def get_event_for(slug: str, organizer) -> Event:
    """An event this organizer manages; others' events are 404, not 403."""
    event = db.session.scalar(select(Event).where(Event.slug == slug).options(*_with_children()))
    if event is None or not event.is_managed_by(organizer):
        raise NotFound("event_not_found", N_("イベントが見つかりません。"))
    return event


def get_visible_event(slug: str, organizer) -> Event:
    """Public events for anyone; drafts only for their organizers."""
    event = db.session.scalar(select(Event).where(Event.slug == slug).options(*_with_children()))
    if event is None or not (event.is_public or event.is_managed_by(organizer)):
        raise NotFound("event_not_found", N_("イベントが見つかりません。"))
    return event


def list_public(now: datetime, *, region: str | None = None, prefecture_code: str | None = None,
                past: bool = False, limit: int = 200) -> list[Event]:
    q = select(Event).where(Event.status.in_(("published", "closed", "cancelled")))
    if past:
        q = q.where(Event.ends_at < now).order_by(Event.starts_at.desc())
    else:
        q = q.where(Event.ends_at >= now).order_by(Event.starts_at)
    if region:
        q = q.where(Event.region == region)
    if prefecture_code:
        q = q.where(Event.prefecture_code == prefecture_code)
    return list(db.session.scalars(q.options(*_with_children()).limit(limit)))


def list_managed(organizer, *, status: str | None = None) -> list[Event]:
    q = select(Event).order_by(Event.starts_at.desc()).options(*_with_children())
    if not organizer.is_admin:
        q = q.where(Event.organizers.any(id=organizer.id))
    if status:
        q = q.where(Event.status == status)
    return list(db.session.scalars(q))


def list_for_api(organizer, now: datetime) -> list[Event]:
    """Organizers see their own events (any status) and every public one; others public only."""
    conds = [Event.status != "draft"]
    if organizer is not None:
        conds.append(Event.id.isnot(None) if organizer.is_admin else Event.organizers.any(id=organizer.id))
    q = select(Event).where(or_(*conds)).order_by(Event.starts_at).options(*_with_children())
    return list(db.session.scalars(q))


# ------------------------------------------------------------------ changes
def _new_slug(data: EventData) -> str:
    day = to_jst(data.starts_at).strftime("%Y%m%d")
    while True:
        slug = f"{day}-{secrets.token_hex(3)}"
        if not db.session.scalar(select(Event.id).where(Event.slug == slug)):
            return slug


def _slug_free(slug: str, exclude_id: int | None = None) -> None:
    q = select(Event.id).where(Event.slug == slug)
    if exclude_id:
        q = q.where(Event.id != exclude_id)
    if db.session.scalar(q):
        raise Conflict("slug_taken", N_("このスラッグは既に使われています。"), {"slug": N_("既に使われています。")})


def _recoded(gone: TicketType, wanted: Sequence[TicketTypeData], existing: dict[str, TicketType]) -> bool:
    """Whether a participation type missing from the form was given another code rather than deleted:
    a new code stands in its row, or under its name."""
    new = [w for w in wanted if w.code not in existing]
    in_its_row = gone.position < len(wanted) and wanted[gone.position] in new
    return in_its_row or any(w.name == gone.name for w in new)


def _apply(event: Event, d: EventData) -> tuple[list[TicketType], list[CapacityWarning]]:
    """Copy the cleaned data onto the event. Returns the participation types whose capacity grew,
    and those whose changed capacity is now below the seats they already hold (nobody is bumped)."""
    for name in ("title", "summary", "description", "venue_name", "venue_address", "online_url", "region",
                 "prefecture_code", "starts_at", "ends_at", "registration_opens_at", "registration_closes_at",
                 "selection"):
        setattr(event, name, getattr(d, name))
    event.allowed_email_domains = list(d.allowed_email_domains)
    existing = {t.code: t for t in event.ticket_types}
    wanted = {t.code for t in d.ticket_types}
    taken = seats_taken(event) if event.id else {}
    for code, t in existing.items():
        if code not in wanted:
            if taken.get(t.id):
                if _recoded(t, d.ticket_types, existing):
                    raise ValidationFailed({"ticket_types": msg(
                        N_("申込みのある参加区分「%(name)s」のコード（%(code)s）は変えられません。コードを元に戻してください。"),
                        name=t.name, code=t.code)})
                raise ValidationFailed({"ticket_types": msg(N_("申込みのある参加区分「%(name)s」は削除できません。"), name=t.name)})
            event.ticket_types.remove(t)
    raised, short = [], []
    for position, t in enumerate(d.ticket_types):
        row = existing.get(t.code)
        if row is None:
            event.ticket_types.append(TicketType(code=t.code, name=t.name, capacity=t.capacity, position=position))
        else:
            if row.id is not None and t.capacity > row.capacity:
                raised.append(row)
            if t.capacity != row.capacity and t.capacity < taken.get(row.id, 0):
                short.append(CapacityWarning(t.code, t.name, t.capacity, taken[row.id]))
            row.name, row.capacity, row.position = t.name, t.capacity, position
    return raised, short


def create_event(data: EventData, actor, now: datetime) -> Event:
    d = validate_event(data)
    if d.slug:
        _slug_free(d.slug)
    event = Event(slug=d.slug or _new_slug(d), status="draft", created_at=now, updated_at=now)
    event.organizers.append(actor)
    _apply(event, d)
    db.session.add(event)
    db.session.flush()
    return event


def update_event(event: Event, data: EventData, actor, now: datetime) -> EventUpdate:
    """Save an organizer's changes. A capacity may go below the seats already held (the
    organizer is warned, nobody is bumped); a raised one moves the waitlist up at once.
    Returns the event with those warnings and promotions, for the page and the API to report.
    """
    if event.status == "cancelled":
        raise Conflict("event_cancelled", N_("中止したイベントは編集できません。"))
    d = validate_event(data)
    if d.slug and d.slug != event.slug:
        if event.status != "draft":
            raise ValidationFailed({"slug": N_("公開後はスラッグ（URL）を変更できません。")})
        _slug_free(d.slug, event.id)
        event.slug = d.slug
    raised, short = _apply(event, d)
    if event.agenda_items:
        outside = [a for a in event.agenda_items if a.starts_at < event.starts_at or a.ends_at > event.ends_at]
        if outside:
            raise ValidationFailed({"ends_at": N_("プログラムが開催時間の外になります。先にプログラムを修正してください。")})
    event.updated_at = now
    db.session.flush()
    promotions = []
    for tt in raised:  # the new seats go to the people waiting first, not to the next newcomer
        moved = [p for listener in _capacity_listeners for p in listener(tt, now) or ()]
        if moved:
            offered = sum(1 for p in moved if p.status == "offered")
            promotions.append(Promotion(tt.code, tt.name, confirmed=len(moved) - offered, offered=offered))
    return EventUpdate(event, short, promotions)


def set_status(event: Event, status: str, actor, now: datetime) -> Event:
    if status == event.status:
        return event
    if status not in TRANSITIONS.get(event.status, set()):
        raise Conflict("invalid_status_change", msg(N_("「%(current)s」から「%(status)s」には変更できません。"),
                                                         current=event.status, status=status))
    if status == "published":
        if not event.ticket_types:
            raise Conflict("not_publishable", N_("参加区分を設定してから公開してください。"))
        event.published_at = event.published_at or now
    event.status = status
    event.updated_at = now
    db.session.flush()
    return event


def publish(event: Event, actor, now: datetime) -> Event:
    return set_status(event, "published", actor, now)


def replace_agenda(event: Event, items: list[AgendaItemData], actor, now: datetime) -> Event:
    cleaned = validate_agenda(event, items)
    event.agenda_items.clear()
    db.session.flush()
    for position, it in enumerate(cleaned):
        event.agenda_items.append(AgendaItem(position=position, **it.__dict__))
    event.updated_at = now
    db.session.flush()
    return event


def copy_event(event: Event, actor, now: datetime, *, starts_at: datetime | None = None) -> Event:
    """A new draft with the same title, agenda, types and settings; dates move, status resets.

    Without ``starts_at`` the copy is placed four weeks later (the organizer edits it next);
    the registration window keeps its distance from the start.
    """
    starts_at = to_utc(starts_at) if starts_at else event.starts_at + timedelta(weeks=4)
    shift = starts_at - event.starts_at
    data = EventData.from_event(event)
    data.slug = None
    data.title = event.title
    data.starts_at, data.ends_at = event.starts_at + shift, event.ends_at + shift
    data.registration_opens_at = event.registration_opens_at + shift if event.registration_opens_at else None
    data.registration_closes_at = event.registration_closes_at + shift if event.registration_closes_at else None
    copy = create_event(data, actor, now)
    for position, a in enumerate(event.agenda_items):
        copy.agenda_items.append(AgendaItem(
            position=position, starts_at=a.starts_at + shift, ends_at=a.ends_at + shift, title=a.title,
            speaker=a.speaker, affiliation=a.affiliation, description=a.description, kind=a.kind,
            materials_url=a.materials_url))
    for o in event.organizers:
        if o not in copy.organizers:
            copy.organizers.append(o)
    db.session.flush()
    return copy


__all__ = [
    "AgendaItemData", "CapacityWarning", "DomainError", "EventData", "EventUpdate", "Promoted", "Promotion",
    "TicketTypeData", "capacity_left", "copy_event",
    "create_event", "get_event_for", "get_public_event", "get_visible_event", "list_managed",
    "list_public", "publish", "register_capacity_listener", "register_question_source", "register_seat_counter",
    "register_window_check", "registration_closed_message", "registration_closed_reason", "registration_questions", "replace_agenda", "seats_taken",
    "set_status",
    "update_event", "validate_agenda", "validate_event",
]
