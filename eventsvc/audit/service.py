"""Recording and reading the audit log.

Two ways in:

- :func:`install` adds an ``after_request`` hook to the app that writes one entry for
  every successful state-changing request (POST/PUT/PATCH/DELETE answered < 400, after
  the view committed) made by an organizer (web session or API token) or by event staff
  (a staff link's session or token — check-in registers that resolver). The entry is
  written in its own short transaction after the view's. Views may add to it with
  :func:`annotate` (an explicit action name, target, counts) or leave it out with :func:`skip`.
- :func:`record` for what happens outside requests (the command line, the worker's
  retention purge): it adds the entry to the session; the caller commits.

What an entry holds: the actor (kind, organizer id, a label), the action, a target
(``event:<slug>``, ``registration:<id>`` …), the event's slug, a few details (HTTP method,
URL rule, status, ids and counts) and the client address truncated to its network.
Request bodies, query strings and tokens in URLs are never recorded.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, g, has_app_context, request, session
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from .. import database
from ..auth.models import Organizer
from ..core.clock import now_utc
from ..extensions import db
from .models import ACTOR_KINDS, AuditEntry

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: URL arguments that name things (ids, slugs, fixed choices); anything else (tokens, codes) is never kept
_TARGET_ARGS = (("reg_id", "registration"), ("registration_id", "registration"), ("link_id", "staff_link"),
                ("delivery_id", "delivery"), ("organizer_id", "organizer"), ("token_id", "token"))
_CHOICE_ARGS = ("action", "status", "kind", "what")
_SLUG = re.compile(r"^[a-z0-9-]{1,64}$")
_MANAGE_EVENT = re.compile(r"^/manage/events/([a-z0-9-]{1,64})(?:/|$)")
PER_PAGE = 50


@dataclass(frozen=True)
class Actor:
    kind: str
    label: str = ""
    organizer_id: int | None = None

    def __post_init__(self):
        if self.kind not in ACTOR_KINDS:
            raise ValueError(f"unknown actor kind {self.kind!r}")


CLI = Actor("system", "cli")
WORKER = Actor("system", "worker")


def organizer_actor(organizer) -> Actor:
    return Actor("organizer", (organizer.name or "")[:100], organizer.id)


# ------------------------------------------------------------------ hooks for packages above
#: ``fn(principal) -> Actor | None``: who is acting when it is not an organizer (``principal``
#: is the JSON API's caller, or None for pages) — check-in answers for staff links
ActorResolver = Callable[[Any], "Actor | None"]
_actor_resolvers: list[ActorResolver] = []
#: ``fn(view_args) -> event slug | None``: the event behind a URL without ``<slug>``
#: (``/manage/registrations/<reg_id>``) — registration answers for registration ids
EventResolver = Callable[[dict], "str | None"]
_event_resolvers: list[EventResolver] = []


def register_actor_resolver(fn: ActorResolver) -> None:
    if fn not in _actor_resolvers:
        _actor_resolvers.append(fn)


def register_event_resolver(fn: EventResolver) -> None:
    if fn not in _event_resolvers:
        _event_resolvers.append(fn)


# ------------------------------------------------------------------ explicit entries
def _flat(value: dict) -> dict:
    return {str(k): v for k, v in value.items() if isinstance(v, (int, float, str, bool)) or v is None}


def clean_details(details: dict | None) -> dict:
    """JSON scalars, flat objects and lists of either; keys as strings; anything else as text."""
    out: dict[str, Any] = {}
    for key, value in (details or {}).items():
        if isinstance(value, dict):
            value = _flat(value)
        elif isinstance(value, (list, tuple)):
            value = [_flat(v) if isinstance(v, dict) else v for v in value
                     if isinstance(v, (int, float, str, bool, dict))]
        elif not (isinstance(value, (int, float, str, bool)) or value is None):
            value = str(value)
        out[str(key)] = value
    return out


def record(action: str, *, actor: Actor, target: str = "", event_slug: str | None = None,
           details: dict | None = None, now: datetime | None = None, ip: str = "") -> AuditEntry:
    """Add an entry to the session (the caller commits with the work it describes)."""
    entry = AuditEntry(at=now or now_utc(), actor_kind=actor.kind, organizer_id=actor.organizer_id,
                       actor_label=actor.label[:100], action=action[:100], target=target[:120],
                       event_slug=event_slug, details=clean_details(details), ip=ip[:50])
    db.session.add(entry)
    db.session.flush()
    return entry


def annotate(*, action: str | None = None, target: str | None = None, event_slug: str | None = None,
             actor: Actor | None = None, **details) -> None:
    """Add to (or name) the entry the current request will write. ``details`` must hold no
    personal data: ids, codes and counts only."""
    note = g.setdefault("_audit_note", {"details": {}})
    for key, value in (("action", action), ("target", target), ("event_slug", event_slug), ("actor", actor)):
        if value is not None:
            note[key] = value
    note["details"].update(details)


def skip() -> None:
    """This request writes no entry (e.g. it recorded its own with :func:`record`)."""
    g._audit_skip = True


def truncate_ip(addr: str | None) -> str:
    """The network, not the host: IPv4 /24, IPv6 /48."""
    try:
        ip = ipaddress.ip_address((addr or "").strip())
    except ValueError:
        return ""
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


# ------------------------------------------------------------------ the request hook
@event.listens_for(Session, "after_commit")
def _note_commit(_session) -> None:
    if has_app_context():
        g._audit_committed = True


def _error_flashes() -> int:
    return sum(1 for f in session.get("_flashes", ()) if isinstance(f, (tuple, list)) and f and f[0] == "error")


def _before() -> None:
    if request.method not in UNSAFE_METHODS:
        return
    g._audit_committed = False
    g._audit_errors_before = _error_flashes()
    # who was logged in before the view ran (a logout ends the session the view acts for); read
    # from the signed session only: no query before the view (check-in picks SQLite's mode first)
    g._audit_user_before = session.get("_user_id")


def _web_actor() -> Actor | None:
    from flask_login import current_user

    if "_login_user" not in g and "_user_id" not in session:
        return None  # nobody logged in, and nobody was loaded: no need to ask Flask-Login (a public post)
    try:
        user = current_user._get_current_object()
    except Exception:  # noqa: BLE001 - no login manager in this context
        return None
    if isinstance(user, Organizer) and user.is_authenticated:
        return organizer_actor(user)
    return None


def _resolve_actor() -> Actor | None:
    note = g.get("_audit_note") or {}
    if note.get("actor") is not None:
        return note["actor"]
    principal = g.get("api_principal")
    if isinstance(principal, Organizer):
        return organizer_actor(principal)
    if principal is None:
        actor = _web_actor()
        if actor is not None:
            return actor
    for resolver in _actor_resolvers:
        actor = resolver(principal)
        if actor is not None:
            return actor
    return _session_organizer(g.get("_audit_user_before")) if principal is None else None


def _session_organizer(user_id) -> Actor | None:
    """The organizer a session named before the view ran (``<id>:<session version>``)."""
    head = str(user_id or "").split(":", 1)[0]
    if not head.isdigit() or len(head) > 10:
        return None
    organizer = db.session.get(Organizer, int(head))
    return organizer_actor(organizer) if organizer is not None else None


def _entry_for(response) -> dict:
    args = dict(request.view_args or {})
    rule = request.url_rule.rule if request.url_rule is not None else ""
    action = request.endpoint or "unknown"
    choice = next((str(args[k]) for k in _CHOICE_ARGS if k in args), None)
    if choice is not None:
        action = f"{action}:{choice}"
    target, slug = "", None
    for name, label in _TARGET_ARGS:
        if isinstance(args.get(name), int):
            target = f"{label}:{args[name]}"
            break
    if isinstance(args.get("slug"), str) and _SLUG.match(args["slug"]):
        slug = args["slug"]
    details: dict[str, Any] = {"method": request.method, "path": rule, "status": response.status_code}
    if response.status_code == 201 and response.is_json:
        body = response.get_json(silent=True)
        if isinstance(body, dict):
            if slug is None and isinstance(body.get("slug"), str) and _SLUG.match(body["slug"]):
                slug = body["slug"]
            if isinstance(body.get("id"), int):
                details["created_id"] = body["id"]
    if slug is None and 300 <= response.status_code < 400:
        m = _MANAGE_EVENT.match(response.headers.get("Location", "").split("?", 1)[0].replace(request.host_url, "/"))
        if m:
            slug = m.group(1)
    if slug is None and args:
        for resolver in _event_resolvers:
            slug = resolver(args)
            if slug:
                break
    if not target and slug:
        target = f"event:{slug}"
    note = g.get("_audit_note") or {}
    details.update(note.get("details") or {})
    return {"action": note.get("action") or action, "target": note.get("target") or target,
            "event_slug": note.get("event_slug") or slug, "details": details}


def _after(response):
    if request.method not in UNSAFE_METHODS or response.status_code >= 400 or g.get("_audit_skip"):
        return response
    try:
        if not g.get("_audit_committed") and not g.get("_audit_note"):
            return response  # nothing was committed: nothing happened
        if _error_flashes() > g.get("_audit_errors_before", 0):
            return response  # the view refused and said so (a redirect with an error message)
        actor = _resolve_actor()
        if actor is None:
            return response
        fields = _entry_for(response)
        ip = truncate_ip(request.remote_addr)
        db.session.rollback()  # the view committed what it meant to; nothing else rides along
        intent = database.set_write_intent(True)  # a short write transaction of its own (SQLite: IMMEDIATE)
        try:
            record(fields["action"], actor=actor, target=fields["target"], event_slug=fields["event_slug"],
                   details=fields["details"], ip=ip)
            db.session.commit()
        finally:
            database.reset_write_intent(intent)
    except Exception:  # noqa: BLE001 - the action happened; a lost entry must not turn it into an error
        db.session.rollback()
        log.exception("audit entry for %s not written", request.endpoint)
    return response


def install(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)


# ------------------------------------------------------------------ reading
@dataclass
class Filters:
    organizer_id: int | None = None
    kind: str | None = None
    event_slug: str | None = None
    action: str | None = None


def search(filters: Filters, *, page: int = 1, per_page: int = PER_PAGE) -> tuple[list[AuditEntry], int]:
    """Newest first; the page's rows and how many match in all."""
    q = select(AuditEntry)
    if filters.organizer_id is not None:
        q = q.where(AuditEntry.organizer_id == filters.organizer_id)
    if filters.kind:
        q = q.where(AuditEntry.actor_kind == filters.kind)
    if filters.event_slug:
        q = q.where(AuditEntry.event_slug == filters.event_slug)
    if filters.action:
        q = q.where(AuditEntry.action == filters.action)
    total = db.session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = db.session.scalars(q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                              .offset((max(page, 1) - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def organizers() -> list[Organizer]:
    return list(db.session.scalars(select(Organizer).order_by(Organizer.name, Organizer.id)))


def seen_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def seen_events() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.event_slug).where(AuditEntry.event_slug.is_not(None))
                                   .distinct().order_by(AuditEntry.event_slug)))
