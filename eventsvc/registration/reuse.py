"""The event a registration reads, kept by the server process between registrations.

A burst of registrations for one event reads the same event, participation types and settings
for every person. The JSON API's registration (``service.apply``) keeps column copies of them
for :data:`SECONDS` and uses them without a query; the admission then checks, in the statement it
runs under the participation type's lock anyway, that the event's **fingerprint** is still the
one read with the copies (:func:`fingerprint`: every column of the event's row, of its types'
rows and of its settings row). Any change — a title, the window, the status, a question, a type
added, removed or resized, the event deleted — changes the fingerprint, and the call is then
answered afresh from a new read (``errors.EventChanged``). No write path needs to know about
this: there is nothing to bump and nothing to forget to bump.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import Text, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm.attributes import set_committed_value

from .. import database
from ..core.kept import Kept
from ..events.models import Event, TicketType
from .models import RegistrationSettings

#: how long a server process uses the copies it keeps of an event (each use is checked)
SECONDS = 30.0
#: events kept per process; the oldest go first
MAX_EVENTS = 256


def fingerprint(dialect: str, event_id):
    """An SQL expression whose value changes with any column of the event ``event_id`` (a column
    or a bound parameter), of its participation types or of its settings row: PostgreSQL, the
    MD5 of the rows as text; SQLite, the rows as one JSON array (no hashing function there).
    Build it once per statement: the hot paths keep their statements by identity."""
    e = Event.__table__.alias("fp_event")
    t = TicketType.__table__.alias("fp_type")
    s = RegistrationSettings.__table__.alias("fp_settings")
    if dialect == "postgresql":
        return func.md5(func.concat_ws(
            literal_column("'|'"),
            select(cast(e.table_valued(), Text)).where(e.c.id == event_id).scalar_subquery(),
            select(func.string_agg(cast(t.table_valued(), Text), aggregate_order_by(literal_column("'|'"), t.c.id)))
            .where(t.c.event_id == event_id).scalar_subquery(),
            select(cast(s.table_valued(), Text)).where(s.c.event_id == event_id).scalar_subquery()))
    # (no ORDER BY inside an aggregate before SQLite 3.44: the rows come in the order of the
    # event_id index, the same for the read and the check — and a differing order only costs a read)
    return func.json_array(
        select(func.json_array(*e.c)).where(e.c.id == event_id).scalar_subquery(),
        select(func.json_group_array(func.json_array(*t.c))).where(t.c.event_id == event_id).scalar_subquery(),
        select(func.json_array(*s.c)).where(s.c.event_id == event_id).scalar_subquery())


def _store() -> Kept:
    return current_app.extensions.setdefault("eventsvc.registration_events", Kept())


def keep(slug: str, event: Event, settings: RegistrationSettings | None, value: str) -> None:
    """Keep column copies of a freshly read public event, its types and settings, with the
    fingerprint ``value`` read in the same statement."""
    what = database.loaded_columns(event)
    types = [database.loaded_columns(tt) for tt in event.ticket_types]
    how = database.loaded_columns(settings) if settings is not None else None
    if what is None or None in types or (settings is not None and how is None) or value is None:
        return
    _store().put(slug, (what, types, how, value), seconds=SECONDS, limit=MAX_EVENTS)


def kept(slug: str) -> Event | None:
    """The event of ``slug`` as this request's own detached copies (None: not kept, or too old).

    Its ``_registration_fingerprint`` is what the admission must find unchanged under its lock;
    its settings are where ``service.settings_for`` looks first."""
    entry = _store().get(slug)
    if entry is None:
        return None
    what, types, how, value = entry
    event = database.detached(Event, what)
    ticket_types = [database.detached(TicketType, columns) for columns in types]
    for tt in ticket_types:
        set_committed_value(tt, "event", event)
    set_committed_value(event, "ticket_types", ticket_types)
    event._registration_settings_ref = database.detached(RegistrationSettings, how) if how is not None else None
    event._registration_fingerprint = value
    return event


def fingerprint_of(event: Event) -> Any:
    """The fingerprint a kept event was read with (None: the event was read by this request)."""
    return getattr(event, "_registration_fingerprint", None)


def forget(slug: str) -> None:
    _store().forget(slug)
