"""In a real Chromium: an organizer sets up a study session; a visitor without JavaScript finds it."""

from __future__ import annotations

import io

import pytest
import vobject
import zxingcpp
from PIL import Image

from tests.browser_fixtures import assert_accessible, login_in_browser

pytestmark = pytest.mark.browser


def test_organizer_creates_publishes_and_a_visitor_without_js_finds_it(page, page_nojs, make, tmp_path):
    organizer = make.organizer()
    login_in_browser(page, organizer)
    assert_accessible(page)

    page.get_by_role("link", name="イベントを作成").click()
    assert_accessible(page)
    page.get_by_label("タイトル").fill("自治体職員の勉強会 in 那覇")
    page.get_by_label("概要").fill("沖縄・九州の自治体職員の勉強会です。")
    page.get_by_label("開始日時").fill("2031-01-18T13:30")
    page.get_by_label("終了日時").fill("2031-01-18T17:00")
    page.get_by_label("会場名").fill("那覇市IT創造館")
    page.get_by_label("都道府県").select_option("47")
    page.get_by_label("参加区分1の名前").fill("会場参加")
    page.get_by_label("参加区分1のコード").fill("venue")
    page.get_by_label("参加区分1の定員").fill("30")
    page.get_by_label("参加区分2の名前").fill("オンライン参加")
    page.get_by_label("参加区分2のコード").fill("online")
    page.get_by_label("参加区分2の定員").fill("100")
    page.get_by_role("button", name="保存").click()
    page.get_by_text("イベントを作成しました").wait_for()
    assert_accessible(page)

    page.get_by_role("link", name="プログラムを編集").click()
    first = page.get_by_role("group", name="1番目")
    first.get_by_label("開始").fill("13:30")
    first.get_by_label("終了").fill("14:15")
    first.get_by_label("題目").fill("デジタル改革共創プラットフォームの使い方")
    first.get_by_label("話す人").fill("山田 花子")
    second = page.get_by_role("group", name="2番目")
    second.get_by_label("開始").fill("14:30")
    second.get_by_label("終了").fill("15:30")
    second.get_by_label("題目").fill("窓口BPR")
    second.get_by_label("種類").select_option("workshop")
    assert_accessible(page)
    page.get_by_role("button", name="プログラムを保存").click()
    page.get_by_text("プログラムを保存しました。").wait_for()
    page.get_by_role("button", name="公開する").click()
    page.get_by_text("公開しました。").wait_for()

    # a visitor, JavaScript off
    v = page_nojs
    v.goto(v.base + "/")
    assert_accessible(v)
    v.get_by_label("地域").select_option("kyushu_okinawa")
    v.get_by_role("button", name="絞り込む").click()
    v.get_by_role("link", name="自治体職員の勉強会 in 那覇").click()
    assert v.get_by_text("2031年1月18日(土) 13:30〜17:00").is_visible()
    assert v.get_by_role("heading", name="窓口BPR").is_visible()
    assert_accessible(v)

    with v.expect_download() as dl:
        v.get_by_role("link", name="カレンダーに追加（.ics）").click()
    path = tmp_path / "event.ics"
    dl.value.save_as(path)
    cal = vobject.readOne(path.read_text(encoding="utf-8"))
    assert cal.vevent.summary.value == "自治体職員の勉強会 in 那覇"
    assert "窓口BPR" in cal.vevent.description.value
    event_url = v.url

    v.get_by_role("link", name="QRコード付きポスター（A4）").click()
    assert_accessible(v)
    shot = v.locator("svg.poster-qr").screenshot()
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
    assert decoded and decoded[0].text == event_url

    assert page.requests.external() == []
    assert v.requests.external() == []


def test_english_pages_and_the_error_page_are_accessible(page, make):
    e = make.event()
    page.goto(page.base + f"/events/{e.slug}")
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert_accessible(page)
    page.goto(page.base + "/events/no-such-event")
    assert page.get_by_role("heading", name="ページが見つかりません").is_visible() or page.locator("h1").count() == 1
    assert_accessible(page)


def test_row_errors_are_summarised_and_marked_accessibly(page, make):
    from eventsvc.core.clock import to_jst
    from eventsvc.extensions import db

    organizer = make.organizer()
    event = make.event(organizer, agenda=False)
    slug, day = event.slug, to_jst(event.starts_at).date().isoformat()
    db.session.rollback()
    login_in_browser(page, organizer)

    page.goto(f"{page.base}/manage/events/{slug}/agenda")
    if page.locator("#items-0-day").count() and page.locator("#items-0-day").evaluate("e => e.tagName") == "SELECT":
        page.locator("#items-0-day").select_option(day)
    page.locator("#items-0-start").fill("15:00")
    page.locator("#items-0-end").fill("14:00")
    page.locator("#items-0-title").fill("逆")
    page.get_by_role("button", name="プログラムを保存").click()
    summary = page.locator("#error-summary")
    link = summary.get_by_role("link", name="1行目 終了: 終了時刻は開始時刻より後にしてください。")
    assert link.get_attribute("href") == "#items-0-end"
    assert page.locator("#items-0-end").get_attribute("aria-invalid") == "true"
    assert_accessible(page)

    page.goto(f"{page.base}/manage/events/{slug}/edit")
    page.get_by_label("参加区分1の定員").fill("")
    page.get_by_role("button", name="保存").click()
    link = page.locator("#error-summary").get_by_role("link", name="参加区分1の定員: 定員は0〜100,000の整数です。")
    assert link.get_attribute("href") == "#ticket_types-0-capacity"
    assert_accessible(page)


def test_a_venue_only_event_leaves_the_suggested_online_row_as_it_is(page, make):
    organizer = make.organizer()
    login_in_browser(page, organizer)
    page.goto(page.base + "/manage/events/new")
    assert page.get_by_label("参加区分2の名前").input_value() == "オンライン参加"
    assert page.get_by_text("あらかじめ入っている行（会場参加、オンライン参加）は、定員を入れたものだけ作成します。").is_visible()
    page.get_by_label("タイトル").fill("会場だけの勉強会")
    page.get_by_label("開始日時").fill("2031-02-01T13:30")
    page.get_by_label("終了日時").fill("2031-02-01T17:00")
    page.get_by_label("参加区分1の定員").fill("20")
    page.get_by_role("button", name="保存").click()
    page.get_by_text("イベントを作成しました").wait_for()
    assert page.get_by_text("「オンライン参加」は定員が空欄だったので作成していません。").is_visible()
    assert_accessible(page)
    assert page.requests.external() == []
