"""Surveys in a real Chromium: answering on a phone with JavaScript off (short URL → ticket
code → answers → a mistake → fixed → saved), the organizer's pages, axe on every page, and
the projector's QR code decoding to the short URL."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from eventsvc.core.clock import now_utc
from eventsvc.database import reset_write_intent, set_write_intent
from eventsvc.events.models import Event
from eventsvc.extensions import db
from eventsvc.surveys import service
from eventsvc.surveys.models import SurveyResponse
from tests import factories as make
from tests.browser_fixtures import assert_accessible, login_in_browser
from tests.integration.test_survey_support import question, submit

pytestmark = pytest.mark.browser


def new_survey(**kw):
    org = make.organizer()
    event = make.event(org, **kw)
    survey = service.create_survey(event, org, now_utc())
    survey.opens_at = now_utc() - timedelta(hours=1)  # the event is ahead: left alone, it opens at the start
    db.session.commit()
    return org, event, survey


@pytest.fixture(autouse=True)
def _deferred_transactions(live_server):
    """This thread's transactions start deferred (SQLite WAL: a reader never blocks the server's
    writes); it still writes through the factories when it must."""
    token = set_write_intent(False)
    yield
    reset_write_intent(token)


def reading(fn):
    """Read what the server has committed by now (a fresh transaction, ended afterwards)."""
    db.session.rollback()
    try:
        return fn()
    finally:
        db.session.rollback()


def writing(fn):
    """Write from this thread: a fresh transaction that takes the write lock first."""
    db.session.rollback()
    token = set_write_intent(True)
    try:
        result = fn()
        db.session.commit()
        return result
    finally:
        reset_write_intent(token)


def responses() -> int:
    return reading(lambda: db.session.scalar(select(func.count()).select_from(SurveyResponse)))


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_answer_on_a_phone_without_javascript(phone_nojs):
    page = phone_nojs
    _org, event, survey = new_survey()
    reg = make.registration(event)
    sat, use, rec, themes, post, comments = reading(lambda: [question(survey, k).id for k in (
        "satisfaction", "usefulness", "recommend", "next_themes", "will_post", "comments")])
    code, short = reg.ticket_code, survey.short_code
    db.session.rollback()

    page.goto(f"{page.base}/s/{short}")
    page.wait_for_url(f"**/events/{event.slug}/survey")
    assert_accessible(page)
    assert fits_the_screen(page)
    page.get_by_label("チケットコード").fill(code.replace("-", "").lower())
    page.get_by_role("button", name="アンケートへ進む").click()
    page.wait_for_url(f"**/events/{event.slug}/survey/r/**")
    assert page.get_by_role("heading", name="参加者アンケート").is_visible()
    assert_accessible(page)
    assert fits_the_screen(page)

    # a mistake: two required scales left out; what was typed must survive
    page.locator(f"label[for=q{sat}-4]").click()
    page.locator(f"#q{comments}").fill("休憩がもう少し長いと助かります")
    page.locator(f"label[for=q{themes}-other]").click()
    page.locator(f"#q{themes}-other-text").fill("防災DX")
    page.get_by_role("button", name="回答を送信する").click()
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert "Q2: この質問は回答が必要です。" in summary.inner_text()
    assert "Q3: この質問は回答が必要です。" in summary.inner_text()
    assert page.locator(f"#q{comments}").input_value() == "休憩がもう少し長いと助かります"
    assert page.locator(f"#q{sat}-4").is_checked()
    assert page.locator(f"#q{themes}-other").is_checked()
    assert page.locator(f"#q{themes}-other-text").input_value() == "防災DX"
    assert page.locator(f"#q{use}-group fieldset").get_attribute("aria-describedby") == f"q{use}-hint q{use}-error"
    assert responses() == 0
    assert_accessible(page)

    page.locator(f"label[for=q{use}-5]").click()
    page.locator(f"label[for=q{rec}-9]").click()
    page.get_by_label("今回をきっかけに投稿してみたい").check()
    page.get_by_label("生成AIの業務活用").check()
    page.get_by_role("button", name="回答を送信する").click()
    page.wait_for_url("**/thanks")
    assert page.get_by_role("heading", name="回答ありがとうございました").is_visible()
    assert_accessible(page)

    saved = reading(lambda: service.my_answers(db.session.merge(survey), db.session.merge(reg), _secret()))
    assert saved[sat].value == 4 and saved[use].value == 5 and saved[rec].value == 9
    assert saved[themes].value == ["生成AIの業務活用"] and saved[themes].other == "防災DX"
    assert saved[post].value == "今回をきっかけに投稿してみたい"
    assert saved[comments].value == "休憩がもう少し長いと助かります"

    # change the answer: the form comes back filled in, and the new answer replaces the old
    page.get_by_role("link", name="回答を見直す・修正する").click()
    assert page.locator(f"#q{rec}-9").is_checked()
    page.locator(f"label[for=q{rec}-10]").click()
    page.get_by_role("button", name="回答を送信する").click()
    page.wait_for_url("**/thanks")
    assert reading(lambda: service.my_answers(db.session.merge(survey), db.session.merge(reg), _secret()))[rec].value == 10
    assert responses() == 1
    assert page.requests.external() == []


def _secret() -> str:
    from flask import current_app

    return current_app.config["SECRET_KEY"]


def test_a_link_for_another_event_explains_itself(phone_nojs):
    page = phone_nojs
    _org, event, _survey = new_survey()
    other = make.event()
    stranger = make.registration(other)
    url = f"{page.base}/events/{event.slug}/survey/r/{service.link_token(stranger, _secret())}"
    db.session.rollback()
    page.goto(url)
    assert page.get_by_role("heading", name="このリンクでは回答できません").is_visible()
    assert "別のイベントのもの" in page.locator("main").inner_text()
    assert_accessible(page)
    page.get_by_role("link", name="チケットコードを入力する").click()
    page.wait_for_url(f"**/events/{event.slug}/survey")


def test_organizer_pages_are_accessible_and_the_projector_qr_decodes(page):
    import zxingcpp
    from PIL import Image

    org = make.organizer()
    slug = make.event(org).slug
    login_in_browser(page, org)
    page.goto(f"{page.base}/manage/events/{slug}")
    page.get_by_role("link", name="アンケート", exact=True).click()
    assert_accessible(page)
    page.get_by_role("button", name="テンプレートからアンケートを作成").click()
    page.wait_for_url("**/survey/edit")
    assert_accessible(page)
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(f"**/manage/events/{slug}/survey")
    assert_accessible(page)

    def answer_three():
        event = db.session.scalar(select(Event).where(Event.slug == slug))
        survey = service.get_survey(event)
        survey.opens_at = now_utc() - timedelta(hours=1)  # made from the template: it would open at the start
        for sat, rec in [(5, 10), (4, 8), (2, 3)]:
            submit(survey, make.registration(event), satisfaction=sat, recommend=rec, comments=f"感想 {sat}")
        return survey.short_code

    short = writing(answer_three)
    for suffix in ("results", "summary"):
        page.goto(f"{page.base}/manage/events/{slug}/survey/{suffix}")
        assert page.locator("svg.chart[role=img]").count() >= 5
        assert_accessible(page)
    page.emulate_media(media="print")
    page.goto(f"{page.base}/manage/events/{slug}/survey/summary")
    pdf = page.pdf(format="A4")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1  # the summary prints on one A4 page
    page.emulate_media(media="screen")

    page.goto(f"{page.base}/manage/surveys/compare")
    assert_accessible(page)
    page.get_by_role("button", name="表示").click()
    assert page.locator("table.compare-table").is_visible()
    assert_accessible(page)

    page.set_viewport_size({"width": 1280, "height": 720})  # a projector
    page.goto(f"{page.base}/manage/events/{slug}/survey/projector")
    assert_accessible(page)
    qr = page.locator("svg.projector-qr")
    box, url_box = qr.bounding_box(), page.locator(".projector-url").bounding_box()
    assert box["width"] >= 400 and box["y"] + box["height"] <= 720  # large, and all on the screen
    assert url_box["y"] + url_box["height"] <= 720
    image = Image.open(io.BytesIO(qr.screenshot()))
    decoded = [r.text for r in zxingcpp.read_barcodes(image)]
    assert decoded == [f"{page.base}/s/{short}"]
    assert f"/s/{short}" in page.locator(".projector-url").inner_text()
    assert page.requests.external() == []
