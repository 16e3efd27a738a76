"""Registration policy (pure): domains on label boundaries, admission, window, spreadsheet cells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventsvc.registration import rules

ALLOW = ["lg.jp", "go.jp"]


@pytest.mark.parametrize("email", [
    "a@lg.jp", "a@city.naha.lg.jp", "taro@pref.okinawa.lg.jp", "a@digital.go.jp", "a@cao.go.jp",
])
def test_allowed_domains_end_on_a_label_boundary(email):
    assert rules.domain_allowed(email, ALLOW)


@pytest.mark.parametrize("email", [
    "a@lg.jp.evil.com", "a@evil-lg.jp", "a@evillg.jp", "a@go.jp.example.org", "a@notgo.jp",
    "a@example.com", "a@jp", "a@lg", "lg.jp", "a@", "",
])
def test_lookalike_domains_are_not_allowed(email):
    assert not rules.domain_allowed(email, ALLOW)


def test_event_allow_list_can_widen_and_is_cleaned():
    assert rules.domain_allowed("a@ed.jp", ["lg.jp", "@ED.JP", " .go.jp "])
    assert rules.domain_allowed("a@x.go.jp", [" .go.jp "])
    assert not rules.domain_allowed("a@ed.jp", [])
    assert not rules.domain_allowed("a@ed.jp", ["", "  "])


def test_admission_first_come_until_full_then_waitlist():
    kw = dict(capacity=2, email="a@city.naha.lg.jp", allow_list=ALLOW, selection="first_come")
    assert rules.admission(taken=0, **kw) == rules.Decision("confirmed", "seat_free")
    assert rules.admission(taken=1, **kw).status == "confirmed"
    assert rules.admission(taken=2, **kw) == rules.Decision("waitlisted", "full")
    assert rules.admission(taken=5, **kw).status == "waitlisted"


def test_admission_zero_capacity_waitlists_everyone():
    d = rules.admission(capacity=0, taken=0, email="a@lg.jp", allow_list=ALLOW, selection="first_come")
    assert d.status == "waitlisted"


def test_other_domains_wait_for_review_whatever_the_seats():
    d = rules.admission(capacity=10, taken=0, email="a@lg.jp.evil.com", allow_list=ALLOW, selection="first_come")
    assert d == rules.Decision("pending_review", "domain_review")
    # once an organizer approved it, the seats decide
    assert rules.admission(capacity=10, taken=0, email="a@gmail.com", allow_list=ALLOW, selection="first_come",
                           reviewed=True).status == "confirmed"


def test_lottery_collects_applications_until_drawn():
    kw = dict(capacity=10, taken=0, email="a@lg.jp", allow_list=ALLOW, selection="lottery")
    assert rules.admission(**kw).status == "applied"
    assert rules.admission(drawn=True, **kw).status == "confirmed"
    assert rules.admission(**{**kw, "email": "a@example.com"}).status == "pending_review"


def test_registration_window():
    now = datetime(2030, 1, 10, tzinfo=UTC)
    end = now + timedelta(days=5)
    open_ = dict(now=now, status="published", opens_at=None, closes_at=None, ends_at=end)
    assert rules.registration_window(**open_) is None
    assert rules.registration_window(**{**open_, "status": "draft"}) == "not_published"
    assert rules.registration_window(**{**open_, "status": "closed"}) == "event_closed"
    assert rules.registration_window(**{**open_, "status": "cancelled"}) == "event_cancelled"
    assert rules.registration_window(**{**open_, "opens_at": now + timedelta(seconds=1)}) == "not_open_yet"
    assert rules.registration_window(**{**open_, "opens_at": now}) is None
    assert rules.registration_window(**{**open_, "closes_at": now}) == "closed"
    assert rules.registration_window(**{**open_, "ends_at": now}) == "event_over"
    for code in ("not_published", "event_closed", "event_cancelled", "not_open_yet", "closed", "event_over"):
        assert rules.WINDOW_MESSAGES[code]


def test_seats_to_fill_and_positions():
    assert rules.seats_to_fill(10, 7) == 3
    assert rules.seats_to_fill(10, 12) == 0
    assert rules.waitlist_position(5, [1, 3, 5, 9]) == 3


def test_national_staff_are_recognised_for_facilitation():
    assert rules.is_national("a@digital.go.jp")
    assert not rules.is_national("a@go.jp.example.com")
    assert not rules.is_national("a@city.naha.lg.jp")
