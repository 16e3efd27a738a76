"""Rate limits on registration: per IP + e-mail, so 30 colleagues behind one LGWAN address get through."""

from __future__ import annotations

import logging

from eventsvc.events import service as events


def body(email):
    return {"name": "比嘉 太郎", "name_kana": "ヒガ タロウ", "email": email, "organization_code": "472018"}


def test_thirty_people_from_one_ip_get_through_but_one_address_is_limited(limited, caplog):
    from tests import factories

    caplog.set_level(logging.DEBUG)
    event = factories.event(ticket_types=[events.TicketTypeData("venue", "会場", 100)])
    client = limited.test_client()
    url = f"/api/v1/events/{event.slug}/registrations"
    for i in range(30):
        r = client.post(url, json=body(f"staff{i}@city.naha.lg.jp"), environ_base={"REMOTE_ADDR": "10.20.30.40"})
        assert r.status_code == 201, (i, r.json)
    # the same address hammering: 409 until the per-address limit, then 429 with a clear code
    codes = [client.post(url, json=body("staff0@city.naha.lg.jp"), environ_base={"REMOTE_ADDR": "10.20.30.40"}).status_code
             for _ in range(6)]
    assert codes[:4] == [409] * 4 and codes[-1] == 429, codes
    r = client.post(url, json=body("staff0@city.naha.lg.jp"), environ_base={"REMOTE_ADDR": "10.20.30.40"})
    assert r.json["error"] == "rate_limited"
    # another address from the same IP is not affected
    r = client.post(url, json=body("new@city.naha.lg.jp"), environ_base={"REMOTE_ADDR": "10.20.30.40"})
    assert r.status_code == 201
    # the HTML form has the same limits, answered with a page instead of JSON
    pages = [client.post(f"/events/{event.slug}/register", data={"email": "form@city.naha.lg.jp"},
                         environ_base={"REMOTE_ADDR": "10.20.30.40"}) for _ in range(6)]
    assert [p.status_code for p in pages] == [422] * 5 + [429]
    assert "しばらくしてから" in pages[-1].get_data(as_text=True)
    # the log says a limit was hit, where, and nothing of who hit it (IP address, e-mail address)
    limited_lines = [r.getMessage() for r in caplog.records if "exceeded" in r.getMessage()]
    assert limited_lines and all("registration" in line for line in limited_lines)
    assert not [m for m in caplog.messages if "10.20.30.40" in m or "@city.naha.lg.jp" in m]


def test_limits_can_be_switched_off(sqlite_app):
    assert sqlite_app.config["RATELIMIT_ENABLED"] is False
