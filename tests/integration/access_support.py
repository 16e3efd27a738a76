"""The callers and requests of the access matrix (``test_robust_access.py``).

Every request targets the same things: event E of organizer ``owner`` (slug), attendee A's
registration in E (ids, A's attendee token, A's survey link), E's staff link and a delivery of A.
What differs is who asks:

- ``anon``   nobody (no session, no token)
- ``att_a``  attendee A: A's attendee token on the API (pages know attendees only by their link)
- ``att_b``  attendee B of the same event: B's attendee token on the API
- ``staff``  E's staff link: a desk session opened with the link, its token on the API
- ``other``  an organizer of another event (logged in; their API token)
- ``owner``  E's organizer (logged in; their API token)
- ``admin``  an administrator (logged in with TOTP; their API token)
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from eventsvc.auth.models import ApiToken
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.outbox.models import Delivery
from eventsvc.surveys.models import Survey
from tests.factories import PASSWORD
from tests.integration.auth_support import login_with_totp

ROLES = ("anon", "att_a", "att_b", "staff", "other", "owner", "admin")
#: methods every rule answers by itself (not part of the matrix)
IMPLICIT = {"HEAD", "OPTIONS"}


def fast_hashes(monkeypatch) -> None:
    """One PBKDF2 round for the accounts these tests create (logins still check the hash)."""
    from eventsvc.auth import service

    monkeypatch.setattr(service, "generate_password_hash",
                        lambda password, *a, **k: generate_password_hash(password, method="pbkdf2:sha256:1"))


def path_values(world, endpoint: str) -> dict:
    """Values for every URL argument: E's and A's real ones."""
    survey = db.session.scalar(select(Survey).where(Survey.event_id == world.event.id))
    delivery = db.session.scalar(select(Delivery.id).where(Delivery.registration_id == world.reg_a.id)
                                 .order_by(Delivery.id))
    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.organizer_id == world.owner.id))
    token = world.link_a
    if endpoint == "checkin.staff_enter":
        token = world.staff_token
    elif endpoint.startswith("surveys."):
        token = world.survey_token_a
    return {"slug": world.event.slug, "reg_id": world.reg_a.id, "registration_id": world.reg_a.id,
            "link_id": world.staff_link.id, "delivery_id": delivery or 0, "token_id": token_id,
            "organizer_id": world.other.id, "token": token, "code": survey.short_code if survey else "x",
            "kind": "announcement", "action": None, "status": "closed", "what": "invitations",
            "filename": "css/app.css"}


def url_for_rule(rule, values: dict) -> str:
    """The rule's path with ``values`` filled in (``any(...)`` arguments take their first option)."""
    import re

    def fill(m):
        conv, name = m.group(1), m.group(2)
        if conv and conv.startswith("any("):
            return conv[4:-1].split(",")[0].strip()
        value = values.get(name)
        if value is None and name == "action":
            return "facilitator"
        return str(value)

    return re.sub(r"<(?:([a-z]+(?:\([^)]*\))?):)?(\w+)>", fill, rule.rule)


def _iso(days: int) -> str:
    return (now_utc() + timedelta(days=days)).isoformat()


#: valid bodies, so that a call gets past validation to the question of who may make it
API_BODY = {
    "api.checkin_post_checkin": lambda w, r: {"code": "nothing"},
    "api.checkin_post_staff_link": lambda w, r: {"label": "受付2", "expires_at": _iso(1)},
    "api.checkin_post_sync": lambda w, r: {"scans": []},
    "api.events_create_event": lambda w, r: {"title": f"新しい勉強会 {r}", "starts_at": _iso(30), "ends_at": _iso(31),
                                             "ticket_types": [{"code": "venue", "name": "会場参加", "capacity": 10}]},
    "api.events_put_agenda": lambda w, r: [],
    "api.registration_create_registration": lambda w, r: {
        "name": "新垣 次郎", "name_kana": "アラカキ ジロウ", "email": f"{r}.x@city.naha.lg.jp", "consent_privacy": True},
    "api.slack_put_region_channels": lambda w, r: {},
    "api.slack_queue_followup": lambda w, r: {"kind": "announcement", "preview": True},
    "api.surveys_post_response": lambda w, r: {"answers": []},
    "api.surveys_put_survey": lambda w, r: {"title": "アンケート", "questions": [{"kind": "text", "text": "感想"}]},
    "api.teams_post_lock": lambda w, r: {"registration_id": w.reg_a.id, "locked": True},
    "api.teams_post_move": lambda w, r: {"registration_id": w.reg_a.id, "team": 0},
    "api.teams_post_swap": lambda w, r: {"first": w.reg_a.id, "second": w.reg_b.id},
    "api.teams_post_team_assignment": lambda w, r: {"scope": "confirmed", "team_count": 1},
}

#: form fields a page needs to get past "which attendee?" (otherwise every caller gets the same 404)
FORM_DATA = {"checkin.self_checkin": lambda w: {"token": w.link_a, "code": "000000"},
             "checkin.desk_scan": lambda w: {"code": "nothing"}}  # an empty code is refused before anything


class Callers:
    """One test client per role, logged in the way that role logs in."""

    def __init__(self, app, world):
        self.world = world
        self.clients = {role: app.test_client() for role in ROLES}
        self.tokens = {"anon": None, "att_a": world.reg_a.attendee_token, "att_b": world.reg_b.attendee_token,
                       "staff": world.staff_token, "other": world.other_token, "owner": world.owner_token,
                       "admin": world.admin_token}
        for role, org in (("other", world.other), ("owner", world.owner)):
            r = self.clients[role].post("/login", data={"email": org.email, "password": PASSWORD})
            assert r.status_code == 302, (role, r.status_code)
        login_with_totp(self.clients["admin"], world.admin, world.admin_secret)
        assert self.clients["staff"].get(f"/staff/{world.staff_token}").status_code == 302

    def request(self, role: str, method: str, path: str, endpoint: str = ""):
        client = self.clients[role]
        kwargs: dict = {}
        if path.startswith("/api/"):
            if self.tokens[role]:
                kwargs["headers"] = {"Authorization": f"Bearer {self.tokens[role]}"}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["json"] = API_BODY.get(endpoint, lambda w, r: {})(self.world, role)
        elif method in ("POST", "PUT", "PATCH"):
            kwargs["data"] = FORM_DATA.get(endpoint, lambda w: {})(self.world)
        return client.open(path, method=method, **kwargs)


def parse_table(text: str) -> dict[tuple[str, str], dict[str, int]]:
    """``METHOD endpoint s1 … s7`` lines (``#`` comments) → {(method, endpoint): {role: status}}."""
    table = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        method, endpoint, *cells = line.split()
        assert len(cells) == len(ROLES), line
        key = (method, endpoint)
        assert key not in table, f"twice in the table: {key}"
        table[key] = {role: int(cell) for role, cell in zip(ROLES, cells, strict=True)}
    return table


def app_routes(app) -> dict[tuple[str, str], object]:
    """Every (method, endpoint) the app serves, with its rule."""
    out = {}
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - IMPLICIT):
            out[(method, rule.endpoint)] = rule
    return out
