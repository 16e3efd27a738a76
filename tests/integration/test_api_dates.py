"""Dates far outside any event (year 1, year 9999) and numbers where a date is meant, in every
request body and form that takes a date-time: a clear 422 naming the field, never a 500.

Such a date is otherwise valid ISO 8601; converting it between Japan time and UTC overflows
near year 1 or 9999, so it must be refused before anything converts it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from eventsvc.checkin.models import CheckinLog
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from tests.integration.test_events_api import EVENT
from tests.integration.test_events_pages import FORM
from tests.integration.test_survey_api import SURVEY

FAR = ["0001-01-01T00:00", "0001-01-01T08:00+09:00", "9999-12-31T23:59:59-01:00", "9999-12-31T23:59",
       "1999-12-31T23:59Z", "2101-01-01T00:00"]
NOT_DATES = [1900000000, "1900000000", 1.5, True]
RANGE = "2000年から2100年までの日時で指定してください。"


@pytest.fixture
def event(make, organizer):
    return make.event(organizer, starts_at=now_utc() - timedelta(hours=1))


def _refused(r, field: str, message: str | None = RANGE) -> None:
    assert r.status_code == 422, r.get_data(as_text=True)[:300]
    assert r.json["error"] == "validation_error"
    assert field in r.json["fields"], r.json
    if message:
        assert r.json["fields"][field] == message


def _requests(event, reg):
    """(method, path, body with the date at ``{}``, field key the error names) for every date in a body."""
    ticket = {"code": reg.ticket_code, "nonce": "n1"}
    agenda = {"starts_at": "2030-02-15T13:00", "ends_at": "2030-02-15T14:00", "title": "講演"}
    return [
        ("post", "/events", lambda v: {**EVENT, "starts_at": v}, "starts_at"),
        ("post", "/events", lambda v: {**EVENT, "ends_at": v}, "ends_at"),
        ("post", "/events", lambda v: {**EVENT, "registration_opens_at": v}, "registration_opens_at"),
        ("patch", f"/events/{event.slug}", lambda v: {"registration_closes_at": v}, "registration_closes_at"),
        ("patch", f"/events/{event.slug}", lambda v: {"starts_at": v}, "starts_at"),
        ("put", f"/events/{event.slug}/agenda", lambda v: [{**agenda, "starts_at": v}], "agenda.0.starts_at"),
        ("post", f"/events/{event.slug}/checkins", lambda v: {**ticket, "scanned_at": v}, "scanned_at"),
        ("post", f"/events/{event.slug}/checkins/sync",
         lambda v: {"device_id": "phone", "scans": [{**ticket, "scanned_at": v}]}, "scans.0.scanned_at"),
        ("put", f"/events/{event.slug}/survey", lambda v: {**SURVEY, "closes_at": v}, "closes_at"),
        ("post", f"/events/{event.slug}/staff-links", lambda v: {"label": "受付", "expires_at": v}, "expires_at"),
    ]


@pytest.mark.parametrize("value", FAR)
def test_a_date_outside_2000_to_2100_is_a_clear_422_everywhere(api, token, make, event, value):
    reg = make.registration(event)
    for method, path, body, field in _requests(event, reg):
        _refused(api(method, path, token, json=body(value)), field)
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 0


@pytest.mark.parametrize("value", NOT_DATES)
def test_a_number_is_not_taken_for_a_date(api, token, make, event, value):
    reg = make.registration(event)
    for method, path, body, field in _requests(event, reg):
        _refused(api(method, path, token, json=body(value)), field, "日時（ISO 8601）で指定してください。")


def test_the_edges_of_the_range_are_accepted(api, token):
    for starts, ends in [("2000-01-01T09:00", "2000-01-01T12:00"), ("2100-12-31T20:00", "2100-12-31T23:59")]:
        r = api("post", "/events", token, json={**EVENT, "starts_at": starts, "ends_at": ends})
        assert r.status_code == 201, r.json


@pytest.mark.parametrize("value", ["0001-01-01T00:00", "9999-12-31T23:59", "1999-12-31T23:59"])
def test_forms_refuse_such_a_date_keeping_what_was_typed(client, login, organizer, make, event, value):
    login(organizer)
    pages = [("/manage/events/new", {**FORM, "starts_at": value}),
             ("/manage/events/new", {**FORM, "registration_closes_at": value}),
             (f"/manage/events/{event.slug}/staff-links", {"label": "受付1", "expires_at": value})]
    for path, data in pages:
        r = client.post(path, data=data)
        page = r.get_data(as_text=True)
        assert r.status_code == 422, path
        assert "2000年から2100年までの日時を入力してください。" in page, path
        assert f'value="{value}"' in page, path
