"""The registration form through the API: the event resource says what a registration must answer.

An API client learns the event's own questions (ids, kinds, texts, options, whether required)
and whether registration is open from ``GET /api/v1/events/{slug}`` (and the list), and registers
with that alone — no scraping of the HTML form. Nothing an organizer keeps for themselves is
published.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from eventsvc.core.clock import now_utc
from eventsvc.events import service as events
from eventsvc.extensions import db
from eventsvc.registration import service

#: DESIGN.md's example of a registration body
BODY = {"name": "比嘉 太郎", "name_kana": "ひが たろう", "email": "taro@city.naha.lg.jp", "organization_code": "472018",
        "department": "デジタル推進課", "ticket_type": "venue"}

QUESTION_KEYS = {"id", "kind", "text", "required", "options", "max_length"}


@pytest.fixture
def anonymous(app):
    """Another client, with no session: what anybody on the Internet gets."""
    outsider = app.test_client()

    def call(method: str, path: str, token: str | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return outsider.open("/api/v1" + path, method=method.upper(), headers=headers, **kwargs)

    return call


def _questions_on_the_settings_page(client, login, organizer, slug):
    """As the tester did: 申込みの設定・質問 in the browser, a required multiple choice and a required
    single choice (plus an optional free text)."""
    login(organizer)
    r = client.post(f"/manage/events/{slug}/registration-settings", data={
        "promotion_mode": "auto", "offer_hours": "48",
        "questions-0-text": "関心のあるテーマ", "questions-0-kind": "multiple",
        "questions-0-options": "窓口BPR\n生成AI\nノーコード", "questions-0-required": "y",
        "questions-1-text": "懇親会", "questions-1-kind": "single", "questions-1-options": "参加\n不参加",
        "questions-1-required": "y",
        "questions-2-text": "ひとこと", "questions-2-kind": "text",
        "submit": "保存"})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]


def _answer(question: dict) -> str | list[str]:
    """What a client fills in knowing only the question as the API describes it."""
    if question["kind"] == "single":
        return question["options"][-1]
    if question["kind"] == "multiple":
        return question["options"][:2]
    return "よろしくお願いします"[: question["max_length"]]


def test_a_client_registers_with_only_what_the_event_resource_says(client, login, organizer, make, anonymous, token):
    event = make.event(org=organizer)
    _questions_on_the_settings_page(client, login, organizer, event.slug)

    published = anonymous("get", f"/events/{event.slug}")
    assert published.status_code == 200
    e = published.json
    assert e["registration_open"] is True and e["registration_closed_reason"] is None
    assert [t["code"] for t in e["ticket_types"]] == ["venue", "online"]
    questions = e["questions"]
    assert [(q["kind"], q["text"], q["required"], q["options"]) for q in questions] == [
        ("multiple", "関心のあるテーマ", True, ["窓口BPR", "生成AI", "ノーコード"]),
        ("single", "懇親会", True, ["参加", "不参加"]),
        ("text", "ひとこと", False, []),
    ]
    assert all(set(q) == QUESTION_KEYS for q in questions)
    assert [q["max_length"] for q in questions] == [None, None, 200]
    ids = [q["id"] for q in questions]
    assert len(set(ids)) == 3

    # the body of the design document alone: refused, and the fields named are the ids published
    refused = anonymous("post", f"/events/{event.slug}/registrations", json=BODY)
    assert refused.status_code == 422, refused.json
    assert set(refused.json["fields"]) == {f"answers.{q['id']}" for q in questions if q["required"]}

    answers = {q["id"]: _answer(q) for q in questions}
    r = anonymous("post", f"/events/{event.slug}/registrations", json={**BODY, "answers": answers})
    assert r.status_code == 201, r.json
    assert r.json["status"] == "confirmed"
    saved = anonymous("get", f"/registrations/{r.json['id']}", r.json["attendee_token"]).json
    assert saved["answers"] == {ids[0]: ["窓口BPR", "生成AI"], ids[1]: "不参加", ids[2]: "よろしくお願いします"}

    # the list carries the same questions; an organizer's token reads the same ones
    listed = next(x for x in anonymous("get", "/events").json if x["slug"] == event.slug)
    assert listed["questions"] == questions and listed["registration_open"] is True
    assert anonymous("get", f"/events/{event.slug}", token).json["questions"] == questions


def test_an_event_without_questions_publishes_an_empty_list(anonymous, make, organizer):
    event = make.event(org=organizer)
    e = anonymous("get", f"/events/{event.slug}").json
    assert e["questions"] == [] and e["registration_open"] is True
    assert anonymous("post", f"/events/{event.slug}/registrations", json=BODY).status_code == 201


def test_answers_that_fit_the_description_are_taken_and_others_refused(anonymous, make, organizer):
    event = make.event(org=organizer)
    service.update_settings(event, organizer, now_utc(), promotion_mode="auto", offer_hours=48, lottery_at=None,
                            privacy_purpose="", questions=[
                                service.Question("intro", "long_text", "自己紹介", [], True),
                                service.Question("pc", "single", "ノートPC", ["持参", "なし"], False)])
    db.session.commit()
    q = {x["id"]: x for x in anonymous("get", f"/events/{event.slug}").json["questions"]}
    assert q["intro"]["max_length"] == 2000 and q["intro"]["options"] == []
    too_long = {"intro": "あ" * (q["intro"]["max_length"] + 1), "pc": "タブレット"}
    r = anonymous("post", f"/events/{event.slug}/registrations", json={**BODY, "answers": too_long})
    assert r.status_code == 422 and set(r.json["fields"]) == {"answers.intro", "answers.pc"}
    fits = {"intro": "那覇市の\nデジタル推進課です" + "あ" * 1900}
    r = anonymous("post", f"/events/{event.slug}/registrations", json={**BODY, "answers": fits})
    assert r.status_code == 201, r.json


@pytest.mark.parametrize(("change", "reason"), [
    ({"registration_opens_at": timedelta(days=3)}, "not_open_yet"),
    ({"registration_closes_at": timedelta(days=-1)}, "closed"),
    ({"status": "cancelled"}, "event_cancelled"),
    ({"status": "closed"}, "event_closed"),
])
def test_the_resource_says_when_registration_is_closed_and_why(anonymous, make, organizer, change, reason):
    now = now_utc()
    kw = {k: now + v if isinstance(v, timedelta) else v for k, v in change.items()}
    event = make.event(org=organizer, **kw)
    e = anonymous("get", f"/events/{event.slug}").json
    assert (e["registration_open"], e["registration_closed_reason"]) == (False, reason)
    r = anonymous("post", f"/events/{event.slug}/registrations", json=BODY)
    assert r.status_code == 409 and r.json["error"] == "registration_closed"
    assert r.json["fields"]["reason"] == e["registration_closed_reason"]


def test_a_draft_and_what_organizers_keep_are_not_published(anonymous, make, organizer, token):
    draft = make.event(org=organizer, status="draft", slug="draft-naha", online_url="https://meet.example.lg.jp/x")
    public = make.event(org=organizer, slug="public-naha", online_url="https://meet.example.lg.jp/y")
    for e in (draft, public):
        service.update_settings(e, organizer, now_utc(), promotion_mode="offer", offer_hours=24,
                                lottery_at=now_utc() + timedelta(days=5), privacy_purpose="", questions=[
                                    service.Question("secret-draft-q" if e is draft else "pc", "single",
                                                     "下書きの質問" if e is draft else "ノートPC", ["持参", "なし"], True)])
    db.session.commit()

    # a draft: not found, not listed, its questions nowhere; another organizer does not see it either
    assert anonymous("get", "/events/draft-naha").status_code == 404
    other = make.token(make.organizer())
    for who in (None, other):
        assert anonymous("get", "/events/draft-naha", who).status_code == 404
        listing = anonymous("get", "/events", who).get_data(as_text=True)
        assert "draft-naha" not in listing and "secret-draft-q" not in listing and "下書きの質問" not in listing
    # its organizer sees it, and that it does not take registrations yet
    mine = anonymous("get", "/events/draft-naha", token).json
    assert (mine["registration_open"], mine["registration_closed_reason"]) == (False, "not_published")
    assert [q["id"] for q in mine["questions"]] == ["secret-draft-q"]

    # a published event: the questions, and nothing the organizer keeps (how the waitlist moves up,
    # the lottery's date, the participation URL)
    for who in (None, other, make.registration(public, answers={"pc": "持参"}).attendee_token):
        r = anonymous("get", "/events/public-naha", who)
        text = json.dumps(r.json, ensure_ascii=False)
        assert [q["id"] for q in r.json["questions"]] == ["pc"]
        assert r.json["online_url"] is None and "meet.example" not in text
        for kept in ("promotion_mode", "offer_hours", "lottery_at"):
            assert kept not in text


def test_the_openapi_document_describes_the_form(client):
    doc = client.get("/api/v1/openapi.json").json
    schemas = doc["components"]["schemas"]
    event = schemas["EventOut"]["properties"]
    assert {"questions", "registration_open", "registration_closed_reason"} <= set(event)
    assert event["questions"]["items"] == {"$ref": "#/components/schemas/RegistrationQuestionOut"}
    question = schemas["RegistrationQuestionOut"]
    assert set(question["properties"]) == QUESTION_KEYS
    assert question["properties"]["kind"]["enum"] == ["text", "long_text", "single", "multiple"]
    assert "answers" in question["properties"]["id"]["description"]


def test_the_hooks_answer_for_an_event_as_registration_does(make, organizer):
    event = make.event(org=organizer, status="draft")
    assert events.registration_closed_reason(event, now_utc()) == "not_published"
    assert events.registration_questions(event) == []
