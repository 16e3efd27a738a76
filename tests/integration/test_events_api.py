"""Events through the JSON API: create, read, change, publish, agenda, copy — and bad input."""

from __future__ import annotations

import pytest

from eventsvc.core.clock import now_utc

EVENT = {
    "title": "自治体職員の勉強会 in 那覇",
    "summary": "沖縄・九州の自治体職員の勉強会",
    "venue": {"name": "那覇市IT創造館", "address": "沖縄県那覇市字小禄1831番地1"},
    "online_url": "https://meet.example.lg.jp/naha",
    "prefecture_code": "47",
    "starts_at": "2030-02-15T13:00:00",
    "ends_at": "2030-02-15T17:00:00",
    "ticket_types": [{"code": "venue", "name": "会場参加", "capacity": 30},
                     {"code": "online", "name": "オンライン参加", "capacity": 100}],
}


def create(api, token, **changes):
    body = {**EVENT, **changes}
    return api("post", "/events", token, json=body)


def test_organizer_creates_a_draft_with_defaults(api, token):
    r = create(api, token, slug="naha-2030")
    assert r.status_code == 201, r.json
    e = r.json
    assert e["slug"] == "naha-2030"
    assert e["status"] == "draft"
    assert e["public_url"].endswith("/events/naha-2030")
    assert e["region"] == "kyushu_okinawa"  # from the prefecture
    assert e["allowed_email_domains"] == ["lg.jp", "go.jp"]
    assert e["selection"] == "first_come"
    assert e["starts_at"] == "2030-02-15T04:00:00Z"  # naive input is Japan time
    assert [t["capacity_left"] for t in e["ticket_types"]] == [30, 100]


def test_a_slug_the_pages_use_themselves_is_refused(api, token):
    r = create(api, token, slug="new")  # /manage/events/new is the new-event form
    assert r.status_code == 422 and "slug" in r.json["fields"]


def test_server_makes_a_slug_when_none_is_given(api, token):
    r = create(api, token)
    assert r.status_code == 201
    assert r.json["slug"].startswith("20300215-")


def test_draft_is_invisible_to_the_public_until_published(api, token):
    slug = create(api, token, slug="naha").json["slug"]
    assert api("get", f"/events/{slug}").status_code == 404
    assert slug not in [e["slug"] for e in api("get", "/events").json]
    r = api("post", f"/events/{slug}/publish", token)
    assert r.status_code == 200 and r.json["status"] == "published"
    public = api("get", f"/events/{slug}").json
    assert public["title"] == EVENT["title"]
    assert public["online_url"] is None  # only organizers (and confirmed attendees) see it
    assert api("get", f"/events/{slug}", token).json["online_url"] == EVENT["online_url"]


def test_another_organizer_cannot_see_or_change_a_draft(api, token, make):
    slug = create(api, token, slug="mine").json["slug"]
    other = make.token(make.organizer())
    assert api("get", f"/events/{slug}", other).status_code == 404
    assert api("patch", f"/events/{slug}", other, json={"title": "x"}).status_code == 404
    assert api("post", f"/events/{slug}/publish", other).status_code == 404


def test_patch_changes_only_given_fields(api, token):
    slug = create(api, token, slug="p").json["slug"]
    r = api("patch", f"/events/{slug}", token, json={"title": "新しいタイトル", "ticket_types": [
        {"code": "venue", "name": "会場参加", "capacity": 40}]})
    assert r.status_code == 200, r.json
    assert r.json["title"] == "新しいタイトル"
    assert r.json["summary"] == EVENT["summary"]
    assert [(t["code"], t["capacity"]) for t in r.json["ticket_types"]] == [("venue", 40)]


def test_agenda_is_replaced_validated_and_sorted(api, token):
    slug = create(api, token, slug="a").json["slug"]
    items = [
        {"starts_at": "2030-02-15T14:00:00+09:00", "ends_at": "2030-02-15T15:00:00+09:00", "title": "窓口BPR",
         "speaker": "佐藤", "affiliation": "久留米市", "kind": "talk", "materials_url": "https://example.lg.jp/s.pdf"},
        {"starts_at": "2030-02-15T13:00:00", "ends_at": "2030-02-15T14:00:00",
         "title": "デジタル改革共創プラットフォームの使い方"},
    ]
    r = api("put", f"/events/{slug}/agenda", token, json=items)
    assert r.status_code == 200, r.json
    assert [a["title"] for a in r.json["agenda"]] == ["デジタル改革共創プラットフォームの使い方", "窓口BPR"]
    outside = [{"starts_at": "2030-02-15T12:00:00", "ends_at": "2030-02-15T13:30:00", "title": "早すぎ"}]
    r = api("put", f"/events/{slug}/agenda", token, json=outside)
    assert r.status_code == 422
    assert "agenda.0.starts_at" in r.json["fields"]
    backwards = [{"starts_at": "2030-02-15T15:00:00", "ends_at": "2030-02-15T14:00:00", "title": "逆"}]
    assert api("put", f"/events/{slug}/agenda", token, json=backwards).json["fields"] == {
        "agenda.0.ends_at": "終了時刻は開始時刻より後にしてください。"}
    # what was saved stays saved
    assert len(api("get", f"/events/{slug}", token).json["agenda"]) == 2
    # the item's own checks and the service's name the field the same way
    r = api("put", f"/events/{slug}/agenda", token, json=[{**items[1], "kind": "party"}])
    assert r.status_code == 422 and list(r.json["fields"]) == ["agenda.0.kind"]


def test_a_huge_agenda_is_refused_at_once_in_a_few_words(api, token):
    slug = create(api, token, slug="huge").json["slug"]
    r = api("put", f"/events/{slug}/agenda", token, json=[{}] * 200_000)
    assert r.status_code == 422 and r.json["fields"] == {"agenda": "多すぎます。"}
    assert len(r.get_data()) < 1000
    one = {"starts_at": "2030-02-15T13:00:00", "ends_at": "2030-02-15T13:05:00", "title": "LT"}
    assert api("put", f"/events/{slug}/agenda", token, json=[one] * 51).status_code == 422
    assert api("put", f"/events/{slug}/agenda", token, json=[one] * 50).status_code == 200


def test_patching_the_prefecture_moves_the_region_with_it(api, token):
    slug = create(api, token, slug="moves").json["slug"]  # 沖縄県: kyushu_okinawa
    r = api("patch", f"/events/{slug}", token, json={"prefecture_code": "01"})
    assert r.status_code == 200, r.json
    assert r.json["region"] == "hokkaido"
    r = api("patch", f"/events/{slug}", token, json={"prefecture_code": "13", "region": "kyushu_okinawa"})
    assert r.status_code == 422 and "region" in r.json["fields"]  # said both, and they disagree


def test_allowed_domains_are_read_as_typed_in_an_address(api, token):
    r = create(api, token, allowed_email_domains=["ｌｇ．ｊｐ", "@go.jp", ".city.example.jp"])
    assert r.status_code == 201 and r.json["allowed_email_domains"] == ["lg.jp", "go.jp", "city.example.jp"]
    r = create(api, token, allowed_email_domains=["@@bad"])
    assert r.status_code == 422 and "allowed_email_domains" in r.json["fields"]


def test_copy_resets_dates_and_status(api, token):
    slug = create(api, token, slug="orig").json["slug"]
    api("post", f"/events/{slug}/publish", token)
    r = api("post", f"/events/{slug}/copy", token)
    assert r.status_code == 201
    assert r.json["status"] == "draft"
    assert r.json["slug"] != slug
    assert r.json["title"] == EVENT["title"]
    assert r.json["starts_at"] == "2030-03-15T04:00:00Z"  # four weeks later


def test_calls_without_a_token_are_refused(api):
    r = api("post", "/events", json=EVENT)
    assert r.status_code == 401
    assert r.json["error"] == "unauthorized"
    assert api("post", "/events", "evt_not-a-token", json=EVENT).status_code == 401


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"ends_at": "2030-02-15T12:00:00"}, "ends_at"),
        ({"starts_at": "2030-02-30T13:00:00"}, "starts_at"),
        ({"ticket_types": [{"code": "venue", "name": "会場", "capacity": -1}]}, "ticket_types.0.capacity"),
        ({"ticket_types": [{"code": "venue", "name": "会場", "capacity": True}]}, "ticket_types.0.capacity"),
        ({"ticket_types": [{"code": "venue", "name": "会場", "capacity": 10**9}]}, "ticket_types.0.capacity"),
        ({"ticket_types": []}, "ticket_types"),
        ({"prefecture_code": "99"}, "prefecture_code"),
        ({"region": "atlantis"}, "region"),
        ({"region": "kanto"}, "region"),  # contradicts prefecture 47
        ({"title": "x" * 201}, "title"),
        ({"title": "nul\x00byte"}, "title"),
        ({"title": "bidi\u202eevil"}, "title"),
        ({"title": ""}, "title"),
        ({"online_url": "javascript:alert(1)"}, "online_url"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"selection": "auction"}, "selection"),
        ({"allowed_email_domains": ["not a domain"]}, "allowed_email_domains"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api, token, changes, field):
    r = create(api, token, **changes)
    assert r.status_code == 422, r.json
    assert r.json["error"] == "validation_error"
    assert field in r.json["fields"], r.json
    assert api("get", "/events", token).json == []  # nothing half-saved


def test_malformed_json_and_wrong_content_type(api, token):
    r = api("post", "/events", token, data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.json["error"] == "malformed_json"
    r = api("post", "/events", token, data="title=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415 and r.json["error"] == "unsupported_media_type"
    r = api("post", "/events", token, json=[1, 2, 3])
    assert r.status_code == 422
    r = api("post", "/events", token, data="[" * 5000 + "]" * 5000, content_type="application/json")
    assert r.status_code in (400, 422)


def test_duplicate_slug_is_a_conflict(api, token):
    assert create(api, token, slug="same").status_code == 201
    r = create(api, token, slug="same")
    assert r.status_code == 409 and r.json["error"] == "slug_taken"


def test_html_in_titles_is_kept_as_text(api, token, client):
    slug = create(api, token, slug="xss", title="<script>alert(1)</script>勉強会",
                  description="[link](javascript:alert(1)) <img src=x onerror=alert(1)>").json["slug"]
    api("post", f"/events/{slug}/publish", token)
    html = client.get(f"/events/{slug}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;勉強会" in html
    assert 'href="javascript' not in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_openapi_document_describes_the_calls(client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    assert "post" in doc["paths"]["/events"]
    assert "put" in doc["paths"]["/events/{slug}/agenda"]
    assert "EventIn" in doc["components"]["schemas"]
    assert doc["paths"]["/events"]["post"]["security"] == [{"bearer": []}]


def test_public_reads_accept_an_attendees_token_as_anonymous(api, token, make):
    slug = create(api, token, slug="pub").json["slug"]
    api("post", f"/events/{slug}/publish", token)
    create(api, token, slug="draft-only")
    reg = make.registration(make.event())
    for path in ("/events", f"/events/{slug}"):
        r = api("get", path, reg.attendee_token)
        assert r.status_code == 200, (path, r.json)
    listed = [e["slug"] for e in api("get", "/events", reg.attendee_token).json]
    assert "pub" in listed and "draft-only" not in listed
    assert api("get", f"/events/{slug}", reg.attendee_token).json["online_url"] is None
    assert api("get", "/events", "att_not-a-real-token").status_code == 401  # a wrong token is still refused


def _venue_event(make, organizer, venue: int):
    from eventsvc.events.service import TicketTypeData

    return make.event(organizer, agenda=False, ticket_types=[TicketTypeData("venue", "会場参加", venue),
                                                             TicketTypeData("online", "オンライン参加", 60)])


def _types(venue: int):
    return [{"code": "venue", "name": "会場参加", "capacity": venue},
            {"code": "online", "name": "オンライン参加", "capacity": 60}]


def test_a_capacity_below_the_seats_held_is_saved_with_a_warning(api, token, organizer, make):
    e = _venue_event(make, organizer, 5)
    regs = [make.registration(e, ticket_type="venue") for _ in range(3)]
    r = api("patch", f"/events/{e.slug}", token, json={"ticket_types": _types(2)})
    assert r.status_code == 200, r.json
    assert r.json["warnings"] == [
        {"code": "capacity_below_seats_taken", "ticket_type": "venue", "capacity": 2, "seats_taken": 3}]
    assert r.json["promotions"] == []
    assert [(t["code"], t["capacity"], t["capacity_left"]) for t in r.json["ticket_types"]] == [
        ("venue", 2, 0), ("online", 60, 60)]
    assert [reg.status for reg in regs] == ["confirmed"] * 3  # nobody bumped
    # a change that leaves the capacity alone, or one that covers the seats held, warns nobody
    assert api("patch", f"/events/{e.slug}", token, json={"title": "題名だけ"}).json["warnings"] == []
    assert api("patch", f"/events/{e.slug}", token, json={"ticket_types": _types(3)}).json["warnings"] == []
    # reads are unchanged: the extra fields are in the answer to a change only
    assert "warnings" not in api("get", f"/events/{e.slug}", token).json


def test_raising_a_capacity_reports_who_moved_up(api, token, organizer, make):
    from eventsvc.extensions import db
    from eventsvc.registration import service as registration

    e = _venue_event(make, organizer, 1)
    for _ in range(4):
        make.registration(e, ticket_type="venue")
    r = api("patch", f"/events/{e.slug}", token, json={"ticket_types": _types(3)})
    assert r.status_code == 200, r.json
    assert r.json["promotions"] == [{"ticket_type": "venue", "confirmed": 2, "offered": 0}]
    assert r.json["warnings"] == []
    registration.update_settings(e, organizer, now_utc(), promotion_mode="offer", offer_hours=24, questions=[],
                                 lottery_at=None, privacy_purpose="")
    db.session.commit()
    make.registration(e, ticket_type="venue")  # waits behind the one still waiting
    r = api("patch", f"/events/{e.slug}", token, json={"ticket_types": _types(10)})
    assert r.json["promotions"] == [{"ticket_type": "venue", "confirmed": 0, "offered": 2}]


@pytest.mark.parametrize("second", ["会場参加", " 会場参加", "会場参加\u3000", "ｶｲｼﾞｮｳ"])
def test_two_participation_types_may_not_share_a_name(api, token, second):
    first = "カイジョウ" if second == "ｶｲｼﾞｮｳ" else "会場参加"  # half-width kana read as full-width
    types = [{"code": "venue", "name": first, "capacity": 30}, {"code": "venue2", "name": second, "capacity": 10}]
    r = create(api, token, ticket_types=types)
    assert r.status_code == 422, r.json
    assert r.json["error"] == "validation_error"
    assert r.json["fields"] == {"ticket_types.1.name": "名前が重複しています。"}
    slug = create(api, token).json["slug"]
    r = api("patch", f"/events/{slug}", token, json={"ticket_types": types})
    assert r.status_code == 422 and list(r.json["fields"]) == ["ticket_types.1.name"]
    assert [t["name"] for t in api("get", f"/events/{slug}", token).json["ticket_types"]] == ["会場参加", "オンライン参加"]


def test_the_change_answer_is_described_in_the_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").json
    answer = doc["paths"]["/events/{slug}"]["patch"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["$ref"].endswith("/EventChangedOut")
    props = doc["components"]["schemas"]["EventChangedOut"]["properties"]
    assert {"warnings", "promotions", "ticket_types"} <= set(props)
