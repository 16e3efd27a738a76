"""The access matrix: every route of the app × every kind of caller → the status it must get.

The callers and what each request targets are described in ``access_support.py``: event E of
``owner`` with attendees A and B, E's staff link, an organizer ``other`` of another event, an
admin. A page or call of E that ``other`` may not see answers 404 (its existence is private),
never 403; admin-only pages answer organizers 403 (nothing about an object is told there).
``/my/<link>``, survey and staff links carry A's (or the staff link's) own secret in the URL:
whoever holds the link is that person, so every column agrees on them. Bodies: API calls get a
valid minimal body (``access_support.API_BODY``), forms an empty one (CSRF is off in tests).

Rows are ``METHOD endpoint`` and one status per caller. A route that is added to the app without
a row here fails ``test_every_route_has_a_row`` until someone decides who may call it.
Reads run on SQLite and PostgreSQL in one world; each write runs in a fresh world (on SQLite:
who may write is decided before any SQL differs between the backends).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from eventsvc import database
from eventsvc.checkin import service as checkin_service
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.outbox.models import Delivery
from tests import conftest
from tests import factories as make
from tests.integration.access_support import (
    ROLES,
    Callers,
    app_routes,
    fast_hashes,
    parse_table,
    path_values,
    url_for_rule,
)
from tests.integration.robust_support import build_world

MATRIX = parse_table("""
# method endpoint                              anon att_a att_b staff other owner admin
# ---- api/checkin
DELETE api.checkin_delete_checkin              401   401   401   409   404   409   409
DELETE api.checkin_delete_staff_link           401   401   401   401   404   200   200
GET    api.checkin_get_counters                401   401   401   200   404   200   200
GET    api.checkin_get_search                  401   401   401   200   404   200   200
GET    api.checkin_get_snapshot                401   401   401   200   404   200   200
GET    api.checkin_get_scan_log                401   401   401   401   404   200   200
GET    api.checkin_get_staff_links             401   401   401   401   404   200   200
POST   api.checkin_post_checkin                401   401   401   200   404   200   200
POST   api.checkin_post_staff_link             401   401   401   401   404   201   201
POST   api.checkin_post_sync                   401   401   401   200   404   200   200
# ---- api/events
POST   api.events_copy_event                   401   401   401   401   404   201   201
POST   api.events_create_event                 401   401   401   401   201   201   201
GET    api.events_get_event                    200   200   200   200   200   200   200
GET    api.events_list_events                  200   200   200   200   200   200   200
PATCH  api.events_patch_event                  401   401   401   401   404   200   200
POST   api.events_publish_event                401   401   401   401   404   200   200
PUT    api.events_put_agenda                   401   401   401   401   404   200   200
# ---- api/openapi
GET    api.openapi_json                        200   200   200   200   200   200   200
# ---- api/outbox
GET    api.outbox_list_deliveries              401   401   401   401   404   200   200
# ---- api/registration
POST   api.registration_accept_offer           401   200   404   401   401   401   401
POST   api.registration_approve                401   401   401   401   404   409   409
POST   api.registration_cancel                 401   200   404   401   404   200   200
POST   api.registration_create_registration    201   201   201   201   201   201   201
DELETE api.registration_delete_registration    401   401   401   401   404   204   404
POST   api.registration_draw_lottery           401   401   401   401   404   409   409
GET    api.registration_get_lottery            401   401   401   401   404   200   200
GET    api.registration_get_registration       401   200   404   401   404   200   200
GET    api.registration_list_registrations     401   401   401   401   404   200   200
PATCH  api.registration_patch_registration     401   401   401   401   404   200   200
POST   api.registration_reject                 401   401   401   401   404   409   409
# ---- api/slack
GET    api.slack_get_region_channels           401   401   401   401   200   200   200
POST   api.slack_link_accounts                 401   401   401   401   404   409   409
PUT    api.slack_put_region_channels           401   401   401   401   200   200   200
POST   api.slack_queue_followup                401   401   401   401   404   409   409
# ---- api/surveys
GET    api.surveys_export                      401   401   401   401   404   200   200
GET    api.surveys_get_results                 401   401   401   401   404   200   200
GET    api.surveys_get_survey                  401   200   200   401   404   200   200
POST   api.surveys_post_invitations            401   401   401   401   404   200   200
POST   api.surveys_post_reminders              401   401   401   401   404   200   200
POST   api.surveys_post_response               401   422   422   401   403   403   403
PUT    api.surveys_put_survey                  401   401   401   401   404   200   200
# ---- api/teams
GET    api.teams_get_teams                     401   401   401   401   404   200   200
POST   api.teams_post_lock                     401   401   401   401   404   200   200
POST   api.teams_post_move                     401   401   401   401   404   200   200
POST   api.teams_post_publish                  401   401   401   401   404   200   200
POST   api.teams_post_swap                     401   401   401   401   404   422   422
POST   api.teams_post_team_assignment          401   401   401   401   404   201   201
POST   api.teams_post_unpublish                401   401   401   401   404   200   200
# ---- app
GET    set_language                            302   302   302   302   302   302   302
GET    static                                  200   200   200   200   200   200   200
# ---- audit
GET    audit.index                             302   302   302   302   403   403   200
# ---- auth
GET    auth.account                            302   302   302   302   200   200   200
POST   auth.admin_organizer_state              302   302   302   302   403   403   302
GET    auth.admin_organizers                   302   302   302   302   403   403   200
POST   auth.admin_organizers                   302   302   302   302   403   403   422
GET    auth.login                              200   200   200   200   200   200   200
POST   auth.login                              422   422   422   422   422   422   422
GET    auth.login_verify                       302   302   302   302   302   302   302
POST   auth.login_verify                       302   302   302   302   302   302   302
POST   auth.logout                             302   302   302   302   302   302   302
POST   auth.logout_others                      302   302   302   302   302   302   302
GET    auth.password                           302   302   302   302   200   200   200
POST   auth.password                           302   302   302   302   422   422   422
POST   auth.recovery_codes                     302   302   302   302   422   422   422
POST   auth.token_revoke                       302   302   302   302   404   302   404
GET    auth.tokens                             302   302   302   302   200   200   200
POST   auth.tokens                             302   302   302   302   422   422   422
POST   auth.totp_disable                       302   302   302   302   422   422   422
GET    auth.two_factor                         302   302   302   302   200   200   200
POST   auth.two_factor                         302   302   302   302   422   422   302
# ---- checkin
GET    checkin.desk                            302   302   302   200   404   200   200
POST   checkin.desk_admit                      302   302   302   200   404   200   200
GET    checkin.desk_after_post                 302   302   302   302   302   302   302
POST   checkin.desk_logout                     302   302   302   302   302   302   302
POST   checkin.desk_scan                       302   302   302   200   404   200   200
POST   checkin.desk_scan_json                  401   401   401   400   404   400   400
GET    checkin.desk_search_json                401   401   401   200   404   200   200
GET    checkin.desk_snapshot_json              401   401   401   200   404   200   200
GET    checkin.desk_state                      401   401   401   200   404   200   200
POST   checkin.desk_sync_json                  401   401   401   400   404   400   400
POST   checkin.desk_undo                       302   302   302   302   404   302   302
POST   checkin.desk_undo_json                  401   401   401   400   404   400   400
POST   checkin.desk_walk_in                    302   302   302   422   404   422   422
GET    checkin.manage_attendance_code          302   302   302   302   404   200   200
POST   checkin.manage_attendance_code          302   302   302   302   404   302   302
GET    checkin.manage_duplicates               302   302   302   302   404   200   200
GET    checkin.manage_scan_log                 302   302   302   302   404   200   200
GET    checkin.manage_scan_log_csv             302   302   302   302   404   200   200
GET    checkin.manage_name_tags                302   302   302   302   404   200   200
POST   checkin.manage_revoke_staff_link        302   302   302   302   404   302   302
GET    checkin.manage_staff_links              302   302   302   302   404   200   200
POST   checkin.manage_staff_links              302   302   302   302   404   422   422
GET    checkin.reception_list                  302   302   302   200   404   200   200
POST   checkin.self_checkin                    302   302   302   302   302   302   302
GET    checkin.service_worker                  200   200   200   200   200   200   200
GET    checkin.staff_enter                     302   302   302   302   302   302   302
# ---- events
GET    events.calendar                         200   200   200   200   200   200   200
GET    events.ics                              200   200   200   200   200   200   200
GET    events.index                            200   200   200   200   200   200   200
GET    events.manage_agenda                    302   302   302   302   404   200   200
POST   events.manage_agenda                    302   302   302   302   404   302   302
POST   events.manage_copy                      302   302   302   302   404   302   302
GET    events.manage_edit                      302   302   302   302   404   200   200
POST   events.manage_edit                      302   302   302   302   404   422   422
GET    events.manage_list                      302   302   302   302   200   200   200
GET    events.manage_new                       302   302   302   302   200   200   200
POST   events.manage_new                       302   302   302   302   422   422   422
GET    events.manage_show                      302   302   302   302   404   200   200
POST   events.manage_status                    302   302   302   302   404   302   302
GET    events.past                             200   200   200   200   200   200   200
GET    events.poster                           200   200   200   200   200   200   200
GET    events.qr_png_download                  200   200   200   200   200   200   200
GET    events.qr_svg_download                  200   200   200   200   200   200   200
GET    events.show                             200   200   200   200   200   200   200
# ---- outbox
GET    outbox.manage_list                      302   302   302   302   404   200   200
POST   outbox.manage_retry                     302   302   302   302   404   302   302
GET    outbox.manage_show                      302   302   302   302   404   200   200
# ---- privacy
GET    privacy.attendee_delete                 200   200   200   200   200   200   200
POST   privacy.attendee_delete                 422   422   422   422   422   422   422
GET    privacy.attendee_deleted                200   200   200   200   200   200   200
GET    privacy.manage_delete                   302   302   302   302   404   200   200
POST   privacy.manage_delete                   302   302   302   302   404   422   422
GET    privacy.manage_event                    302   302   302   302   404   200   200
POST   privacy.manage_event                    302   302   302   302   404   302   302
# ---- registration
GET    registration.attendee                   200   200   200   200   200   200   200
POST   registration.attendee_accept            302   302   302   302   302   302   302
POST   registration.attendee_cancel            302   302   302   302   302   302   302
GET    registration.attendee_cancel            200   200   200   200   200   200   200
GET    registration.attendee_edit              200   200   200   200   200   200   200
POST   registration.attendee_edit              422   422   422   422   422   422   422
GET    registration.attendee_qr_png            200   200   200   200   200   200   200
GET    registration.export_csv                 302   302   302   302   404   200   200
GET    registration.export_xlsx                302   302   302   302   404   200   200
POST   registration.manage_action              302   302   302   302   404   302   302
GET    registration.manage_cancel              302   302   302   302   404   200   200
GET    registration.manage_detail              302   302   302   302   404   200   200
GET    registration.manage_list                302   302   302   302   404   200   200
POST   registration.manage_lottery             302   302   302   302   404   302   302
GET    registration.manage_cancel_event        302   302   302   302   404   200   200
POST   registration.manage_cancel_event        302   302   302   302   404   422   422
GET    registration.manage_message             302   302   302   302   404   200   200
POST   registration.manage_message             302   302   302   302   404   422   422
GET    registration.manage_settings            302   302   302   302   404   200   200
POST   registration.manage_settings            302   302   302   302   404   302   302
GET    registration.org_search                 200   200   200   200   200   200   200
GET    registration.participants               200   200   200   200   200   200   200
GET    registration.register                   200   200   200   200   200   200   200
POST   registration.register                   422   422   422   422   422   422   422
GET    registration.resend_link                200   200   200   200   200   200   200
POST   registration.resend_link                422   422   422   422   422   422   422
# ---- slack
GET    slack.attendee                          200   200   200   200   200   200   200
POST   slack.commands                          401   401   401   401   401   401   401
POST   slack.interactivity                     401   401   401   401   401   401   401
POST   slack.manage_channel                    302   302   302   302   404   302   302
GET    slack.manage_event                      302   302   302   302   404   200   200
POST   slack.manage_link                       302   302   302   302   404   422   422
POST   slack.manage_link_all                   302   302   302   302   404   302   302
GET    slack.manage_preview                    302   302   302   302   404   200   200
POST   slack.manage_queue                      302   302   302   302   404   409   409
POST   slack.manage_refresh                    302   302   302   302   302   302   302
POST   slack.manage_retry                      302   302   302   302   404   302   302
GET    slack.manage_settings                   302   302   302   302   200   200   200
POST   slack.manage_settings                   302   302   302   302   302   302   302
POST   slack.manage_unlink                     302   302   302   302   404   302   302
GET    slack.oidc_callback                     400   400   400   400   400   400   400
GET    slack.signin                            302   302   302   302   302   302   302
# ---- surveys
GET    surveys.answer                          200   200   200   200   200   200   200
POST   surveys.answer                          422   422   422   422   422   422   422
GET    surveys.compare                         302   302   302   302   200   200   200
GET    surveys.entry                           200   200   200   200   200   200   200
POST   surveys.entry                           422   422   422   422   422   422   422
GET    surveys.export_csv                      302   302   302   302   404   200   200
GET    surveys.export_xlsx                     302   302   302   302   404   200   200
GET    surveys.manage                          302   302   302   302   404   200   200
POST   surveys.manage_close                    302   302   302   302   404   302   302
POST   surveys.manage_create                   302   302   302   302   404   302   302
GET    surveys.manage_edit                     302   302   302   302   404   200   200
POST   surveys.manage_edit                     302   302   302   302   404   422   422
POST   surveys.manage_send                     302   302   302   302   404   302   302
GET    surveys.projector                       302   302   302   302   404   200   200
GET    surveys.results                         302   302   302   302   404   200   200
GET    surveys.short                           302   302   302   302   302   302   302
GET    surveys.summary                         302   302   302   302   404   200   200
GET    surveys.thanks                          200   200   200   200   200   200   200
# ---- teams
GET    teams.manage                            302   302   302   302   404   200   200
POST   teams.manage_lock                       302   302   302   302   404   400   400
POST   teams.manage_move                       302   302   302   302   404   422   422
POST   teams.manage_publish                    302   302   302   302   404   303   303
POST   teams.manage_rename                     302   302   302   302   404   400   400
POST   teams.manage_run                        302   302   302   302   404   422   422
POST   teams.manage_swap                       302   302   302   302   404   422   422
GET    teams.projector                         302   302   302   302   404   200   200
""")

READS = sorted(k for k in MATRIX if k[0] == "GET")
WRITES = sorted(k for k in MATRIX if k[0] != "GET")


def row(method: str, endpoint: str, statuses) -> str:
    """A table line (to paste into MATRIX once the new answers are the right ones)."""
    return f"{method:6} {endpoint:38} " + "  ".join(f"{s:>4}" for s in statuses)


def walk(app, world, callers, keys) -> list[str]:
    """Call each (method, endpoint) as every role; the rows that differ from the table."""
    rules = app_routes(app)
    wrong = []
    for method, endpoint in keys:
        path = url_for_rule(rules[(method, endpoint)], path_values(world, endpoint))
        got = [callers.request(role, method, path, endpoint).status_code for role in ROLES]
        want = [MATRIX[(method, endpoint)][role] for role in ROLES]
        if got != want:
            diff = ", ".join(f"{r} {w}→{g}" for r, w, g in zip(ROLES, want, got, strict=True) if w != g)
            wrong.append(f"{path}: {diff}\n    got: {row(method, endpoint, got)}")
    return wrong


def test_every_route_has_a_row(app):
    served = set(app_routes(app))
    missing = sorted(served - set(MATRIX))
    stale = sorted(set(MATRIX) - served)
    assert not missing, "routes nobody has classified (add a row to MATRIX):\n" + "\n".join(
        f"{m} {e}" for m, e in missing)
    assert not stale, f"rows for routes that no longer exist: {stale}"


def test_reads(app, make, monkeypatch):
    fast_hashes(monkeypatch)
    world = build_world(make)
    wrong = walk(app, world, Callers(app, world), READS)
    assert not wrong, f"{len(wrong)} read(s) answer otherwise than the table:\n" + "\n".join(wrong)


@pytest.fixture
def write_app(sqlite_app, monkeypatch):
    """The SQLite app with empty tables and an app context (like ``app``, one backend)."""
    fast_hashes(monkeypatch)
    ctx = sqlite_app.app_context()
    ctx.push()
    intent = database.set_write_intent(False)
    try:
        yield sqlite_app
    finally:
        db.session.remove()
        database.reset_write_intent(intent)
        ctx.pop()
        conftest._empty_tables(sqlite_app)


@pytest.mark.parametrize("key", WRITES, ids=[f"{m} {e}" for m, e in WRITES])
def test_write(write_app, key):
    world = build_world(make)
    wrong = walk(write_app, world, Callers(write_app, world), [key])
    assert not wrong, wrong[0]


def test_other_events_ids_and_codes_answer_like_unknown_ones(app, make, monkeypatch):
    """E's organizer, E's staff link and attendee A, given the ids of another event's rows (or
    A given B's registration), get exactly what an id that exists nowhere gets."""
    fast_hashes(monkeypatch)
    world = build_world(make)
    callers = Callers(app, world)
    now = now_utc()
    from datetime import timedelta

    f_link, _token = checkin_service.create_staff_link(world.other_event, "受付F", expires_at=now + timedelta(hours=6),
                                                       created_by=world.other, now=now)
    db.session.commit()
    f_delivery = db.session.scalar(select(Delivery.id).where(Delivery.registration_id == world.reg_other.id))
    assert f_delivery is not None
    foreign = {"slug": world.other_event.slug, "reg_id": world.reg_other.id, "registration_id": world.reg_other.id,
               "link_id": f_link.id, "delivery_id": f_delivery}
    unknown = {"slug": "no-such-event", "reg_id": 2147480001, "registration_id": 2147480001, "link_id": 2147480001,
               "delivery_id": 2147480001}
    checked, wrong = 0, []
    for (method, endpoint), rule in sorted(app_routes(app).items()):
        args = set(rule.arguments) & set(foreign)
        public = MATRIX[(method, endpoint)]["anon"] < 300 or MATRIX[(method, endpoint)]["anon"] == 422
        if not args or public:
            continue
        base = path_values(world, endpoint)
        variants = [("owner", foreign), ("staff", foreign)]
        if "reg_id" in args:
            variants.append(("att_a", {"reg_id": world.reg_b.id}))
            variants.append(("att_a", {"reg_id": world.reg_other.id}))
        for role, swap in variants:
            real = url_for_rule(rule, {**base, **swap})
            fake = url_for_rule(rule, {**base, **{k: unknown[k] for k in swap}})
            a, b = callers.request(role, method, real, endpoint), callers.request(role, method, fake, endpoint)
            checked += 1
            same = a.status_code == b.status_code
            if same and a.is_json and b.is_json:
                same = (a.get_json() or {}).get("error") == (b.get_json() or {}).get("error")
            if not same:
                wrong.append(f"{role} {method} {real}: {a.status_code} {a.get_data(as_text=True)[:120]!r} "
                             f"but {fake}: {b.status_code}")
    assert checked >= 150
    assert not wrong, "\n".join(wrong)
    # a ticket of the other event at E's desk: wrong_event, and nothing about whose it is
    r = callers.clients["staff"].post(f"/api/v1/events/{world.event.slug}/checkins", json={"code": world.reg_other.ticket_code},
                                      headers={"Authorization": f"Bearer {world.staff_token}"})
    assert r.status_code == 200 and r.get_json()["result"] == "wrong_event"
    text = r.get_data(as_text=True)
    for leak in (world.reg_other.name, world.reg_other.email, world.other_event.slug, world.other_event.title):
        assert leak not in text
    assert r.get_json()["registration"] is None
