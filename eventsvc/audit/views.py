"""The audit log page, for admins."""

from __future__ import annotations

import math

from flask import Blueprint, Response, render_template, request
from flask_login import current_user, login_required

from ..core.i18n import N_
from ..errors import Forbidden
from ..web import page_number
from . import service
from .models import ACTOR_KINDS

bp = Blueprint("audit", __name__)

# ------------------------------------------------------------------ admin
# GET  /admin/audit?who=&event=&action=&page=     index     newest first, 50 a page


def _filters() -> service.Filters:
    who = (request.args.get("who") or "").strip()
    filters = service.Filters()
    if who.isdigit() and len(who) < 10:
        filters.organizer_id = int(who)
    elif who in ACTOR_KINDS:
        filters.kind = who
    filters.event_slug = (request.args.get("event") or "").strip()[:64] or None
    filters.action = (request.args.get("action") or "").strip()[:100] or None
    return filters


@bp.route("/admin/audit")
@login_required
def index():
    if not current_user.is_admin:
        raise Forbidden("admin_only", N_("このページは管理者だけが使えます。"))
    filters = _filters()
    page = page_number()
    rows, total = service.search(filters, page=page)
    pages = max(1, math.ceil(total / service.PER_PAGE))
    args = {k: v for k, v in (("who", request.args.get("who")), ("event", filters.event_slug),
                               ("action", filters.action)) if v}
    response = Response(render_template(
        "audit/index.html", rows=rows, total=total, page=page, pages=pages, args=args, filters=filters,
        who=request.args.get("who") or "", organizers=service.organizers(), actions=service.seen_actions(),
        events=service.seen_events()))
    response.headers["Cache-Control"] = "no-store"
    return response
