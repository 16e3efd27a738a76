"""A corpus of hostile input sent to every route of the app (``app.url_map``: every rule, every
method), as anonymous, organizer and attendee, on SQLite and PostgreSQL.

Path values are real (the seeded event, registration, links) or junk; query strings and bodies
carry overlong text, NUL/control/bidi characters, invalid UTF-8 and lone surrogates, HTML/JS,
SQL meta-characters, impossible dates, spreadsheet formulas, deep JSON and wrong content types.
Form bodies fill every field the route's own page shows. Nothing may answer 5xx; a refusal
carries an error code (JSON with ``error`` under /api and /slack, a Japanese page elsewhere);
and a refused write leaves the row counts of the main tables as they were.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from urllib.parse import quote

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.jsonapi import OPERATIONS
from eventsvc.surveys import service as survey_service
from tests.factories import PASSWORD
from tests.integration.access_support import app_routes, fast_hashes, path_values, url_for_rule
from tests.integration.robust_support import MAIN_TABLES, build_world

FORMULA = "=cmd|' /C calc'!A0"
PAYLOADS = [
    "x" * 20000,
    "a\x00b",
    "\x1b[31m\x07\x08",
    "\u202eevil\u202c",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' OR 1=1 --",
    "%' OR '1'='1'; DROP TABLE registrations; --",
    "\\_%[]^$.*",
    "2030-02-30",
    "2030-02-30T25:61:00",
    FORMULA,
    "+1+1",
    "@SUM(A1)",
    "-2147483649",
    "99999999999999999999999999",
    "NaN",
    "１２３",
    "",
]
#: percent-encoded bytes that are not UTF-8 (0xFF, a lone surrogate encoded, a cut sequence)
BAD_BYTES = ["%FF%FE", "%ED%A0%80", "%E3%81"]
JUNK_PATH = {"slug": "no-such-event%00", "token": "%ED%A0%80x", "code": "<script>%00", "kind": "announcement",
             "status": "closed", "what": "invitations", "action": "facilitator", "filename": "..%2F..%2Fetc%2Fpasswd"}
#: routes that would end the caller's session (the rest of the corpus needs it)
KEEP_SESSION = {"auth.logout", "auth.logout_others", "checkin.desk_logout"}
GENERIC_FIELDS = ["name", "name_kana", "email", "title", "q", "code", "token", "message", "password", "label",
                  "starts_at", "ends_at", "date", "next", "text", "comment", "organization_name", "department"]
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
FIELD = re.compile(r'<(?:input|textarea|select)\b[^>]*\bname="([^"]+)"')


def _counts() -> tuple:
    tables = [t for t in MAIN_TABLES if t in db.metadata.tables]
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
    db.session.commit()
    row = tuple(db.session.execute(text(sql)).one())
    db.session.commit()
    return row


def _json_fields(endpoint: str) -> list[str]:
    for op in OPERATIONS:
        if f"api.{op.endpoint}" == endpoint and op.body is not None and hasattr(op.body, "model_fields"):
            return list(op.body.model_fields)
    return ["name", "title", "code", "q"]


class Corpus:
    def __init__(self, app, world):
        self.app, self.world = app, world
        self.anon, self.org, self.att = app.test_client(), app.test_client(), app.test_client()
        r = self.org.post("/login", data={"email": world.owner.email, "password": PASSWORD})
        assert r.status_code == 302
        self.headers = {"anon": {}, "org": {"Authorization": f"Bearer {world.owner_token}"},
                        "att": {"Authorization": f"Bearer {world.reg_a.attendee_token}"}}
        self.problems: list[str] = []
        self.sent = 0

    def client(self, role):
        return {"anon": self.anon, "org": self.org, "att": self.att}[role]

    def send(self, role: str, method: str, path: str, **kwargs):
        api = path.startswith(("/api/", "/slack/"))
        headers = {**(self.headers[role] if api else {}), **kwargs.pop("headers", {})}
        desk_json = path.split("?")[0].endswith(".json")  # the desk's JSON calls (a path no rule takes: a page)
        before = _counts() if method != "GET" else None
        r = self.client(role).open(path, method=method, headers=headers, **kwargs)
        self.sent += 1
        where = f"{role} {method} {path[:120]} {str(kwargs)[:160]}"
        if r.status_code >= 500:
            self.problems.append(f"{r.status_code} ← {where}")
            return r
        if r.status_code >= 400:
            if api or (desk_json and r.is_json):
                body = r.get_json(silent=True) if r.is_json else None
                if not (isinstance(body, dict) and body.get("error")):
                    self.problems.append(f"{r.status_code} without an error code ← {where}: {r.get_data()[:200]!r}")
            else:
                page = r.get_data(as_text=True)
                if "text/html" not in r.content_type or not JAPANESE.search(page) or 'lang="ja"' not in page:
                    self.problems.append(f"{r.status_code} not a Japanese page ← {where}: {page[:200]!r}")
            if before is not None and _counts() != before:
                self.problems.append(f"{r.status_code} refused but rows changed ← {where}")
        return r

    def form_fields(self, role: str, path: str) -> list[str]:
        r = self.client(role).get(path)
        names = FIELD.findall(r.get_data(as_text=True)) if r.status_code == 200 else []
        return [n for n in dict.fromkeys(names) if n != "csrf_token"] or GENERIC_FIELDS

    def route(self, role: str, method: str, endpoint: str, rule) -> None:
        real = url_for_rule(rule, self.values[endpoint])
        junk = url_for_rule(rule, {**self.values[endpoint], **JUNK_PATH, "reg_id": 2147483647,
                                   "registration_id": 0, "link_id": 0, "delivery_id": 0, "token_id": 0,
                                   "organizer_id": 0})
        api = real.startswith(("/api/", "/slack/"))
        if junk != real:
            self.send(role, method, junk)
        query = "&".join(f"{k}={quote(p, safe='')}" for k, p in zip(
            ("q", "status", "region", "prefecture", "ticket_type", "lang", "next", "page", "kind"),
            PAYLOADS[1:2] + PAYLOADS[6:], strict=False))
        self.send(role, method, real + "?" + query)
        self.send(role, method, real + "?q=" + BAD_BYTES[0] + "&status=" + BAD_BYTES[1] + "&next=" + BAD_BYTES[2])
        if method == "GET":
            return
        if api:
            fields = _json_fields(endpoint)
            for k in range(0, len(PAYLOADS), 4):
                body = {f: PAYLOADS[(i + k) % len(PAYLOADS)] for i, f in enumerate(fields)}
                self.send(role, method, real, data=json.dumps(body), content_type="application/json")
            self.send(role, method, real, data='{"a":"\\ud800", "b": "\\u0000"}', content_type="application/json")
            self.send(role, method, real, data="[" * 50000 + "]" * 50000, content_type="application/json")
            self.send(role, method, real, data=json.dumps({f: 1 for f in fields}), content_type="text/plain")
            self.send(role, method, real, data=b"\xff\xfe{\x00}", content_type="application/json")
        else:
            fields = self.form_fields(role, real) if ("GET", endpoint) in self.routes else GENERIC_FIELDS
            for k in range(0, len(PAYLOADS), 4):
                self.send(role, method, real, data={f: PAYLOADS[(i + k) % len(PAYLOADS)] for i, f in enumerate(fields)})
            raw = "&".join(f"{quote(f)}={BAD_BYTES[i % len(BAD_BYTES)]}" for i, f in enumerate(fields))
            self.send(role, method, real, data=raw, content_type="application/x-www-form-urlencoded")
            self.send(role, method, real, data=b"\xff\xfe\x00", content_type="multipart/form-data; boundary=x")
            self.send(role, method, real, data=json.dumps({f: 1 for f in fields}), content_type="application/json")

    def run(self) -> None:
        self.routes = app_routes(self.app)
        # the real path values, read once (a route late in the walk may erase attendee A)
        self.values = {endpoint: path_values(self.world, endpoint) for _m, endpoint in self.routes}
        # routes that cancel or erase go last, so that the others meet A as registered
        last = ("delete", "cancel", "erase", "purge", "deactivate")
        order = sorted(self.routes.items(), key=lambda kv: (any(w in kv[0][1] for w in last), kv[0][1], kv[0][0]))
        for (method, endpoint), rule in order:
            if endpoint == "static":
                continue
            for role in ("anon", "att", "org"):
                if role == "org" and endpoint in KEEP_SESSION:
                    continue
                self.route(role, method, endpoint, rule)


def test_hostile_input_on_every_route(app, make, monkeypatch):
    fast_hashes(monkeypatch)
    world = build_world(make, with_admin=False)
    started = time.monotonic()
    corpus = Corpus(app, world)
    corpus.run()
    assert corpus.sent > 3000
    problems = sorted(corpus.problems, key=lambda p: not p.startswith("5"))  # server errors first
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:80])
    assert time.monotonic() - started < 150


# ------------------------------------------------------------------ exports
def _formula_like(value) -> bool:
    return isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


@pytest.mark.parametrize("export", ["registrations", "survey"])
def test_exports_are_formula_safe(app, make, client, login, monkeypatch, export):
    from tests.integration.test_survey_support import FULL, answers_for, checked_in, make_survey

    owner = make.organizer()
    event = make.event(owner)
    nasty = make.registration(event, name=FORMULA, department="+SUM(A1:A9)", organization_code=None,
                              organization_name='@HYPERLINK("http://x")', name_kana="アット マーク")
    make.registration(event, name="－1+1", department="＝1+1")
    if export == "survey":
        survey = make_survey(event, owner)  # open at once (the event is ahead)
        checked_in(monkeypatch, {event.id: [nasty]})
        values = {**FULL, "most_useful": FORMULA, "comments": "-1+2", "will_post": FULL["will_post"]}
        survey_service.submit_response(survey, nasty, answers_for(survey, **values), now_utc(),
                                       secret=app.config["SECRET_KEY"])
        db.session.commit()
        base = f"/manage/events/{event.slug}/survey/results"
    else:
        base = f"/manage/events/{event.slug}/registrations"
    login(owner)
    r = client.get(base + ".csv")
    assert r.status_code == 200
    cells = [c for row in csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))) for c in row]
    assert any(FORMULA in c for c in cells), "the nasty value is in the export"
    assert not [c for c in cells if _formula_like(c)], [c for c in cells if _formula_like(c)]
    r = client.get(base + ".xlsx")
    assert r.status_code == 200
    # XLSX: text is stored as text (a string cell is never evaluated), whatever it starts with
    wb = load_workbook(io.BytesIO(r.get_data()))
    seen = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (cell.coordinate, cell.value)
                seen.append(cell.value)
    assert any(isinstance(v, str) and FORMULA in v for v in seen)
