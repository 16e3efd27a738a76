"""The API's error bodies: always ``{"error", "message", "fields"}`` (``fields`` ``{}`` when no
field is to blame), whatever answers — a service, the plumbing, Werkzeug, Flask-Limiter or an
unexpected exception — and ``fields`` keys that name what was sent (no pydantic internals)."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import AfterValidator, BaseModel, StrictInt, StrictStr, ValidationError

from eventsvc.events import service as events
from eventsvc.jsonapi import adapter, validation_fields

PERSON = {"name": "比嘉 太郎", "name_kana": "ヒガ タロウ", "email": "taro@city.naha.lg.jp", "organization_code": "472018"}
TYPES = "整数・文字列・文字列の配列のいずれかで指定してください。"


def assert_error_body(response, status: int, error: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "message", "fields"}, body
    assert isinstance(body["error"], str) and body["error"] and isinstance(body["message"], str) and body["message"]
    assert isinstance(body["fields"], dict) and all(isinstance(v, str) for v in body["fields"].values()), body
    if error is not None:
        assert body["error"] == error, body
    return body


@pytest.fixture
def event(make, organizer):
    return make.event(organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 10)])


def test_every_kind_of_error_carries_error_message_and_fields(api, client, event, token, app, monkeypatch):
    # 401: a token nobody issued
    body = assert_error_body(api("get", f"/events/{event.slug}/registrations", "evt_not-a-real-token"), 401,
                             "unauthorized")
    assert body["fields"] == {}
    # 404: an unknown event, an unknown path under /api/v1
    assert assert_error_body(api("get", "/events/no-such-event", token), 404)["fields"] == {}
    assert assert_error_body(api("get", "/no-such-call"), 404, "not_found")["fields"] == {}
    # 405 (Werkzeug): a method the path does not answer
    assert assert_error_body(api("delete", "/events", token), 405, "method_not_allowed")["fields"] == {}
    # 409 (a service's Conflict): the same address twice
    assert api("post", f"/events/{event.slug}/registrations", json=PERSON).status_code == 201
    body = assert_error_body(api("post", f"/events/{event.slug}/registrations", json=PERSON), 409, "already_registered")
    # 404 after a deletion: the tester's case, the second DELETE of the same registration
    reg_id = api("get", f"/events/{event.slug}/registrations", token).json[0]["id"]
    assert api("delete", f"/registrations/{reg_id}", token).status_code in (200, 204)
    body = assert_error_body(api("delete", f"/registrations/{reg_id}", token), 404)
    assert body["fields"] == {}
    # 415 and 400 (the plumbing): not JSON, broken JSON
    assert_error_body(api("post", "/events", token, data="title=x", content_type="text/plain"), 415,
                      "unsupported_media_type")
    assert_error_body(api("post", "/events", token, data="{", content_type="application/json"), 400, "malformed_json")
    assert_error_body(api("post", "/events", token, data="", content_type="application/json"), 400, "malformed_json")
    # JSON that is not an object (null as much as 123 or "x"): the schema says what it wants
    for not_an_object in ("null", "123", '"x"', "[]"):
        assert_error_body(api("post", "/events", token, data=not_an_object, content_type="application/json"), 422,
                          "validation_error")
    # 413 (Werkzeug): a body over MAX_CONTENT_LENGTH
    big = b'{"title": "' + b"x" * (app.config["MAX_CONTENT_LENGTH"] + 10) + b'"}'
    assert_error_body(api("post", "/events", token, data=big, content_type="application/json"), 413)
    # 422: the one with fields
    body = assert_error_body(api("post", "/events", token, json={"title": ""}), 422, "validation_error")
    assert body["fields"] and "starts_at" in body["fields"]
    # 500: an unexpected exception in a view
    def boom(**_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setitem(app.view_functions, "api.events_get_event", boom)
    body = assert_error_body(api("get", f"/events/{event.slug}", token), 500, "internal_error")
    assert body["fields"] == {} and "a bug" not in body["message"]



def test_a_rate_limited_call_carries_fields_too(limited):
    from tests import factories

    event = factories.event(ticket_types=[events.TicketTypeData("venue", "会場", 100)])
    client = limited.test_client()
    url = f"/api/v1/events/{event.slug}/registrations"
    answers = [client.post(url, json=PERSON, environ_base={"REMOTE_ADDR": "10.20.30.41"}) for _ in range(6)]
    body = assert_error_body(answers[-1], 429, "rate_limited")
    assert body["fields"] == {}


def test_the_openapi_document_says_fields_is_always_there(api):
    schema = api("get", "/openapi.json").json["components"]["schemas"]["ErrorBody"]
    assert set(schema["required"]) == {"error", "message", "fields"}
    assert schema["properties"]["fields"]["type"] == "object"


# ------------------------------------------------------------------ fields keys and messages
@pytest.fixture
def survey(api, token, event):
    from tests.integration.test_survey_support import attendee

    r = api("put", f"/events/{event.slug}/survey", token, json={
        "title": "アンケート", "anonymous": True, "opens_at": "2020-01-01T00:00:00+09:00",
        "questions": [{"kind": "rating", "text": "満足度"},
                      {"kind": "multiple", "text": "次のテーマ", "options": ["AI", "BPR"]}]})
    assert r.status_code == 200, r.json
    return r.json, attendee(event)


@pytest.mark.parametrize("value, fields", [
    (True, {"answers.0.value": TYPES}),  # the tester's case: no .int / .str / .list[str]
    ({"x": 1}, {"answers.0.value": TYPES}),
    ({"int": 1}, {"answers.0.value": TYPES}),  # a key that looks like a member's name is no field either
    ([1, "AI", 2.5], {"answers.0.value.0": "文字列で指定してください。", "answers.0.value.2": "文字列で指定してください。"}),
])
def test_a_value_of_no_allowed_type_is_one_field_with_one_message(api, event, survey, value, fields):
    definition, reg = survey
    qid = definition["questions"][0]["id"]
    r = api("post", f"/events/{event.slug}/survey/responses", reg.attendee_token,
            json={"answers": [{"question_id": qid, "value": value}]})
    body = assert_error_body(r, 422, "validation_error")
    assert body["fields"] == fields


def test_registration_answers_of_no_allowed_type_are_keyed_by_question(api, event):
    r = api("post", f"/events/{event.slug}/registrations", json={**PERSON, "answers": {"kanshin": 5, "str": {"a": 1}}})
    body = assert_error_body(r, 422, "validation_error")
    both = "文字列・文字列の配列のいずれかで指定してください。"
    assert body["fields"] == {"answers.kanshin": both, "answers.str": both}


def test_model_checks_say_their_message_without_pydantics_prefix(api, event, token):
    r = api("post", f"/events/{event.slug}/checkins", token, json={})
    body = assert_error_body(r, 422, "validation_error")
    assert body["fields"] == {"body": "code か registration_id のどちらか一方を指定してください。"}
    r = api("post", f"/events/{event.slug}/checkins/sync", token,
            json={"scans": [{"nonce": "n-1", "scanned_at": "2024-02-15T13:00:00+09:00"}]})
    body = assert_error_body(r, 422, "validation_error")
    assert body["fields"] == {"scans.0": "code か registration_id のどちらか一方を指定してください。"}
    assert not [m for m in body["fields"].values() if m.startswith(("Value error", "Assertion failed"))]


# ------------------------------------------------------------------ union tags of every kind
def _checked(value: str) -> str:
    if value.startswith("!"):
        raise ValueError("！で始めないでください。")
    return value


class _Pet(BaseModel):
    name: StrictStr


class _Car(BaseModel):
    wheels: StrictInt


class _Odd(BaseModel):
    #: members named function-after[…], literal[…], int, a model's name
    a: Annotated[str, AfterValidator(_checked)] | Literal[1, 2] | None = None
    b: _Pet | _Car | None = None
    c: list[StrictInt | StrictStr] = []


def _fields(data) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        adapter(_Odd).validate_python(data)
    return validation_fields(caught.value, data=data)


def test_member_tags_of_every_shape_are_left_out_of_the_keys():
    fields = _fields({"a": 3.5, "b": 7, "c": [1, None, "x"]})
    assert set(fields) == {"a", "b", "c.1"}, fields
    assert fields["b"] == "オブジェクトで指定してください。"  # two models: one kind
    assert fields["c.1"] == "整数・文字列のいずれかで指定してください。"
    # a validator's message inside a member, without "Value error, "
    assert _fields({"a": "!x"}) == {"a": "！で始めないでください。"}
    # a member whose shape fits answers for its own fields; a missing one is named
    assert _fields({"b": {"name": 5}}) == {"b.name": "文字列で指定してください。", "b.wheels": "必須項目です。"}
