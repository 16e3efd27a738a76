"""The registration e-mails: enqueued as recipes when their cause happens, rendered when sent.

A registration must answer fast, and rendering its mail (a template, a dozen translations, the
signed attendee link, the .ics file) cost a third of it. So the cause writes only a recipe into
the outbox row (subject, template, reason, note, position: see :func:`recipe`), and
:func:`render` makes the message from the registration as it is at send time; the outbox stores
the result in the row before sending it (``outbox/renderers.py``), and shows organizers a
not-yet-sent message rendered on the spot. Templates live in ``templates/emails/``. A message is
written in the language the person registered in (``reg.locale``: Japanese unless English).

Each mail records what it is about: which application of the registration (``reapplications``:
a person who cancelled may apply again on the same row) and which status it tells of. A mail
goes only while that is still so (:func:`superseded_note`): a confirmation whose application
was cancelled since, or a waitlist notice of someone confirmed since, is withdrawn instead of
sent — the newer state has a mail of its own. A cancellation notice always goes: what it says
stays true; it names the participation type of its own application (recorded in the recipe).
"""

from __future__ import annotations

import base64
import functools
from datetime import datetime

from flask import current_app, has_request_context, render_template
from flask_babel import force_locale

from ..core.clock import format_range
from ..core.i18n import N_
from ..events.ical import IcsEvent, to_ics
from ..events.models import Event, TicketType
from ..outbox import service as outbox
from ..web import external_url, translated_in

SUBJECTS = {
    "registered": N_("【参加確定】%(title)s"),
    "promoted": N_("【繰り上げ・参加確定】%(title)s"),
    "approved": N_("【参加確定】%(title)s"),
    "lottery": N_("【当選・参加確定】%(title)s"),
    "offer_accepted": N_("【参加確定】%(title)s"),
    "waitlisted": N_("【キャンセル待ち】%(title)s"),
    "pending_review": N_("【申込み受付・確認待ち】%(title)s"),
    "applied": N_("【抽選申込み受付】%(title)s"),
    "offer": N_("【繰り上げのご案内・要回答】%(title)s"),
    "offer_expired": N_("【回答期限切れ】%(title)s"),
    "rejected": N_("【お申込みについて】%(title)s"),
    "cancelled": N_("【キャンセル受付】%(title)s"),
    "link": N_("【申込み確認用リンク】%(title)s"),
}


def absolute_url(endpoint: str, **values) -> str:
    """An absolute URL inside or outside a request (CLI, worker): ``BASE_URL`` when set; else, outside a
    request, the address ``eventsvc serve`` listens on (``SERVED_URL``), or its default one."""
    if has_request_context():
        return external_url(endpoint, **values)
    base = current_app.config.get("BASE_URL") or current_app.config.get("SERVED_URL") or "http://127.0.0.1:8000"
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return base.rstrip("/") + path


def _attachment(filename: str, content_type: str, data: bytes) -> dict:
    return {"filename": filename, "content_type": content_type, "data": base64.b64encode(data).decode()}


def event_ics(event: Event) -> bytes:
    url = absolute_url("events.show", slug=event.slug)
    return _ics(IcsEvent(uid=f"{event.uid}@eventsvc", title=event.title, starts_at=event.starts_at,
                         ends_at=event.ends_at, url=url, description=(event.summary + "\n\n" + url).strip(),
                         location=event.calendar_location, updated_at=event.updated_at, cancelled=event.status == "cancelled"))


@functools.lru_cache(maxsize=64)
def _ics(item: IcsEvent) -> bytes:
    """The same event gives the same file: build it once per process (the VTIMEZONE costs ~40 ms)."""
    return to_ics([item])


def _render(template: str, reg, ticket_type: TicketType | None = None, **context) -> str:
    event = reg.event
    locale = reg.locale or "ja"
    with force_locale(locale):
        return render_template(f"emails/{template}.txt", reg=reg, event=event,
                               ticket_type=ticket_type or reg.ticket_type,
                               when=format_range(event.starts_at, event.ends_at, locale),
                               event_url=absolute_url("events.show", slug=event.slug), **context)


def _subject(key: str, reg) -> str:
    return _subject_for(key, reg.locale or "ja", reg.event.title)


def _subject_for(key: str, locale: str, title: str) -> str:
    """A subject is the same for everyone of an event in one language: made once per process
    (a translation in a forced locale, ~70 µs, was a quarter of what a registration does on
    PostgreSQL between its two round trips, with the participation type locked). Keyed by the
    title, so a renamed event's next mails carry the new one."""
    return translated_in(locale, SUBJECTS[key], title=title)[:200]


def recipe(template: str, **params) -> dict:
    """What :func:`render` needs besides the registration (JSON: stored in the outbox row)."""
    return {"with": "registration", "template": template, **{k: v for k, v in params.items() if v}}


def render(reg, spec: dict, manage_url: str, *, ticket_type: TicketType | None = None) -> dict:
    """The finished message for ``reg`` from a :func:`recipe`: ``text`` and, for the ticket mail,
    ``attachments`` (the QR image is drawn by the mail sender; the .ics file is made here).
    ``ticket_type``: the participation type to name instead of the registration's current one (a
    cancellation notice of an earlier application names that application's)."""
    template = spec.get("template", "")
    if template == "message":
        return {"text": _render("message", reg, manage_url=manage_url, body=spec.get("body", ""))}
    context = {"manage_url": manage_url, "reason": spec.get("reason", ""), "note": spec.get("note", ""),
               "ticket_type": ticket_type}
    if template == "confirmed":
        return {"text": _render("confirmed", reg, **context), "attachments": [
            {"filename": f"ticket-{reg.ticket_code}.png", "content_type": "image/png", "qr": reg.ticket_code},
            _attachment(f"{reg.event.slug}.ics", "text/calendar", event_ics(reg.event)),
        ]}
    return {"text": _render(template, reg, position=spec.get("position"), **context)}


def enqueue_confirmed(reg, now: datetime, *, reason: str, note: str = "", fresh: bool = False) -> None:
    """The "you are in" mail with the ticket: QR image and .ics attached. Once per registration.

    ``fresh``: the registration was inserted in this transaction, so no mail keyed by its id can
    exist yet (see :func:`outbox.enqueue_new`)."""
    key = reason if reason in SUBJECTS else "registered"
    _enqueue(reg, f"mail.{'confirmation' if reason == 'registered' else reason}",
             {"subject": _subject(key, reg), "render": recipe("confirmed", reason=reason, note=note)},
             f"mail.confirmed:{reg.id}", now, fresh)


def enqueue_simple(reg, template: str, now: datetime, *, key: str, position: int | None = None,
                   reason: str = "", note: str = "", fresh: bool = False) -> None:
    """A mail made from ``template``; ``key`` dedupes it (``fresh``: see :func:`enqueue_confirmed`).
    It is about the registration's status now, except the link mail (:data:`ABOUT_NO_STATUS`)."""
    spec = recipe(template, position=position, reason=reason, note=note)
    _enqueue(reg, f"mail.{template}", {"subject": _subject(template, reg), "render": spec}, f"mail.{key}", now,
             fresh, about_status=template not in ABOUT_NO_STATUS)


def enqueue_message(reg, subject: str, body: str, now: datetime, *, key: str, reply_to: str | None = None) -> None:
    payload = {"subject": f"【{reg.event.title[:60]}】{subject}", "render": recipe("message", body=body)}
    if reply_to:
        payload["reply_to"] = reply_to
    _enqueue(reg, "mail.message", payload, f"mail.{key}", now, False)


def _enqueue(reg, kind: str, payload: dict, dedupe_key: str, now: datetime, fresh: bool, *,
             about_status: bool = True) -> None:
    application = reg.reapplications or 0
    if application:  # an application after a cancellation has mails of its own
        dedupe_key = f"{dedupe_key}#{application}"
    payload["render"]["ticket_type"] = reg.ticket_type_id  # the type this application was for, then
    enqueue = outbox.enqueue_new if fresh else outbox.enqueue
    enqueue(kind, reg.email, payload, event_id=reg.event_id, registration_id=reg.id, dedupe_key=dedupe_key, now=now,
            registration_application=application, registration_status=reg.status if about_status else None)


# ------------------------------------------------------------------ which mails still go
#: mails about no status of the registration: the link to its page (made when sent: always good)
ABOUT_NO_STATUS = ("link",)
#: statuses whose mail goes even after the registration has moved on: what a cancellation notice
#: says stays true (that application did end), and the person must hear it (an organizer's note)
LASTING = ("cancelled",)

#: why a mail no longer applies (stored as its ``last_error``; pages translate it)
SUPERSEDED_CANCELLED = N_("申込みがキャンセルされました")
SUPERSEDED_REAPPLIED = N_("この方が申し込み直しました（このメールは前の申込みについてのものです）")
SUPERSEDED_STATUS = N_("申込みの状態が変わりました")


def superseded_note(delivery, reg) -> str | None:
    """Why the mail ``delivery`` of ``reg`` must not go any more, or None while it still applies.

    A mail tells of one status of one application. It no longer applies once the person has
    applied again (its application is over: it would show the old ticket, or a new application's
    facts as if they were its own), or once the status it tells of has changed (a confirmation
    of someone cancelled or rejected since, a waitlist notice of someone confirmed since, a
    review notice of an application decided since, an offer accepted or expired since): each
    newer status has a mail of its own. Cancellation notices (:data:`LASTING`) and mails about no
    status (:data:`ABOUT_NO_STATUS`) always go."""
    about = delivery.registration_status
    if about is None or about in LASTING:
        return None
    if (reg.reapplications or 0) != (delivery.registration_application or 0):
        return SUPERSEDED_REAPPLIED
    if reg.status != about:
        return SUPERSEDED_CANCELLED if reg.status == "cancelled" else SUPERSEDED_STATUS
    return None

