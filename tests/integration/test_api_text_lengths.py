"""An overlong text in a JSON body is named for what it is — "100文字以内で入力してください。" — not
"多すぎます。" (too many), the message meant for a list with too many items."""

from __future__ import annotations

from eventsvc.events import service as events

PERSON = {"name": "比嘉 太郎", "name_kana": "ヒガ タロウ", "email": "taro@city.naha.lg.jp", "organization_code": "472018"}


def test_an_overlong_text_says_how_many_characters_are_allowed(api, make, organizer, token):
    event = make.event(organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 10)])

    r = api("post", f"/events/{event.slug}/registrations", json={**PERSON, "name": "x" * 101})
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.json["fields"] == {"name": "100文字以内で入力してください。"}

    r = api("post", f"/events/{event.slug}/registrations", json={**PERSON, "department": "部" * 201})
    assert r.status_code == 422 and r.json["fields"] == {"department": "200文字以内で入力してください。"}

    r = api("patch", f"/events/{event.slug}", token, json={"title": "t" * 201})
    assert r.status_code == 422 and r.json["fields"] == {"title": "200文字以内で入力してください。"}

    # a list with too many items keeps its own message
    r = api("put", f"/events/{event.slug}/agenda", token, json=[{}] * 51)
    assert r.status_code == 422 and r.json["fields"] == {"agenda": "多すぎます。"}
