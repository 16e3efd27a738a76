"""The desk in a real Chromium: camera (fake device fed a real ticket QR), USB-scanner typing,
kana search, offline scans synced once, logout clearing the device, no-JS forms, axe."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from eventsvc.checkin import service
from eventsvc.checkin.models import Checkin, CheckinLog
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from tests import factories as make
from tests.browser_fixtures import CHROMIUM, FLAGS, RequestLog, assert_accessible, login_in_browser

pytestmark = pytest.mark.browser


def staff_token(event, label="受付2"):
    _link, token = service.create_staff_link(event, label, expires_at=now_utc() + timedelta(hours=6),
                                             created_by=None, now=now_utc())
    db.session.commit()
    return token


def open_desk(page, event, token=None, organizer=None):
    db.session.rollback()  # hold no SQLite snapshot while the server writes (see checkins())
    if organizer is not None:
        login_in_browser(page, organizer)
        page.goto(f"{page.base}/events/{event.slug}/checkin/")
    else:
        page.goto(f"{page.base}/staff/{token}")
    page.wait_for_url(f"**/events/{event.slug}/checkin/")
    page.wait_for_selector("#net:not([hidden])")  # the script has started


def poll(page, script: str, timeout: float = 15.0):
    """Wait until an (async) function evaluated in the page returns something truthy.

    Playwright's ``wait_for_function`` evaluates strings with ``eval``, which the app's CSP
    rightly forbids; ``page.evaluate`` goes through the debugger protocol instead.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(script):
            return
        page.wait_for_timeout(100)
    pytest.fail(f"timed out waiting for: {script}")


def set_network(page, online: bool):
    """Take the device off the network, or back on.

    Chromium's offline emulation does not hold for every request of a page a service worker
    controls (seen in CI: after a reload, the desk's sync POST reached the server while
    "offline"), so the app's own URLs are also refused at Playwright's routing layer, as a dead
    network refuses them. The page learns of the change from the browser's online/offline events.
    """
    pattern = f"{page.base}/events/**"
    if online:
        page.context.unroute(pattern)
        page.context.set_offline(False)
    else:
        page.context.route(pattern, lambda route: route.abort("internetdisconnected"))
        page.context.set_offline(True)


def result_text(page) -> str:
    return page.locator("#result").inner_text()


def checkins():
    db.session.rollback()  # a fresh read (the server wrote from its own threads)
    return db.session.scalars(select(Checkin).order_by(Checkin.id)).all()


def scan_with_keyboard(page, code: str):
    """What a USB/Bluetooth scanner does: types the code fast, then Enter, into the focused field."""
    page.keyboard.type(code, delay=5)
    page.keyboard.press("Enter")


# ------------------------------------------------------------------ (1) the real fake-camera path
@pytest.fixture
def camera_desk(playwright_instance, live_server, tmp_path):
    """``open(event, token)``: a Chromium whose fake camera shows that event's ticket QR."""
    if shutil.which("ffmpeg") is None:
        if os.environ.get("EVENTSVC_REQUIRE_BROWSER") == "1":
            pytest.fail("ffmpeg is needed for the camera test (apt-get install ffmpeg)")
        pytest.skip("ffmpeg not installed")
    opened = []

    def open_(event, token, ticket_code):
        import qrcode

        png, y4m = tmp_path / "ticket.png", tmp_path / "ticket.y4m"
        qrcode.make(ticket_code, border=4).save(png)
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-loop", "1", "-i", str(png), "-vf",
                        "scale=360:360,pad=640:480:140:60:white,format=yuv420p", "-t", "2", "-r", "15",
                        "-f", "yuv4mpegpipe", str(y4m)], check=True, timeout=60)
        browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS + [
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}"])
        ctx = browser.new_context(locale="ja-JP", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        ctx.set_default_timeout(15_000)
        log = RequestLog()
        ctx.on("request", lambda r: log.append(r.url))
        page = ctx.new_page()
        page.base, page.requests = live_server, log
        opened.append(browser)
        open_desk(page, event, token)
        return page

    yield open_
    for b in opened:
        b.close()


def test_camera_checks_a_person_in(camera_desk):
    event = make.event()
    reg = make.registration(event, name="知念 花子", name_kana="チネン ハナコ")
    page = camera_desk(event, staff_token(event), reg.ticket_code)
    assert page.evaluate("window.isSecureContext")  # http://127.0.0.1 counts as secure
    page.get_by_role("button", name="カメラを起動").click()
    expect(page.locator("#result")).to_contain_text("受付しました", timeout=20_000)
    assert "知念 花子" in result_text(page) and "チネン ハナコ" in result_text(page)
    assert page.locator("#camera-video").is_visible()
    [row] = checkins()
    assert (row.registration_id, row.method, row.actor_label) == (reg.id, "camera", "受付2")
    # the same QR stays in front of the camera: it is not admitted twice
    page.wait_for_timeout(1500)
    assert len(checkins()) == 1
    assert_accessible(page)
    page.get_by_role("button", name="カメラを停止").click()
    assert page.locator("#camera-video").is_hidden()
    assert page.requests.external() == []


def test_camera_problems_are_told_plainly(browser, live_server):
    event = make.event()
    token = staff_token(event)
    # no camera permission (no fake UI): Chromium refuses getUserMedia
    ctx = browser.new_context(locale="ja-JP")
    page = ctx.new_page()
    page.base = live_server
    open_desk(page, event, token)
    page.get_by_role("button", name="カメラを起動").click()
    status = page.locator("#camera-status")
    expect(status).to_have_class(re.compile("camera-error"))
    assert "カメラ" in status.inner_text() and ("許可" in status.inner_text() or "見つかりません" in status.inner_text())
    ctx.close()
    # served over plain http on a LAN address: not a secure context → say that HTTPS is needed
    ctx = browser.new_context(locale="ja-JP")
    ctx.add_init_script("Object.defineProperty(window, 'isSecureContext', {get: () => false});")
    page = ctx.new_page()
    page.base = live_server
    open_desk(page, event, token)
    page.get_by_role("button", name="カメラを起動").click()
    expect(page.locator("#camera-status")).to_contain_text("https://")
    assert "USBスキャナー" in page.locator("#camera-status").inner_text()
    ctx.close()


# ------------------------------------------------------------------ (2) a USB scanner types the code + Enter
def test_scanner_input_checks_in_and_undo_takes_it_back(page):
    organizer = make.organizer()
    event = make.event(organizer)
    reg = make.registration(event, name="金城 次郎", name_kana="キンジョウ ジロウ")
    second = make.registration(event)
    other = make.registration(make.event())
    codes = (reg.ticket_code, second.ticket_code, other.ticket_code, other.name, reg.id, second.id)
    reg_code, second_code, other_code, other_name, reg_id, second_id = codes
    open_desk(page, event, organizer=organizer)
    assert page.evaluate("document.activeElement.id") == "code"  # ready for the scanner
    assert_accessible(page)

    scan_with_keyboard(page, reg_code)
    expect(page.locator("#result")).to_contain_text("受付しました")
    assert "金城 次郎" in result_text(page)
    assert page.locator("#result .result-ok").count() == 1
    assert page.evaluate("document.activeElement.id") == "code" and page.locator("#code").input_value() == ""
    expect(page.locator("#total-checked-in")).to_have_text("1")

    scan_with_keyboard(page, reg_code.lower().replace("-", ""))
    expect(page.locator("#result")).to_contain_text("受付済み")
    assert "主催 太郎" in result_text(page) and page.locator("#result .result-warn").count() == 1

    scan_with_keyboard(page, other_code)
    expect(page.locator("#result")).to_contain_text("別のイベント")
    assert other_name not in result_text(page) and page.locator("#result .result-error").count() == 1

    scan_with_keyboard(page, "HELLO-WORLD")
    expect(page.locator("#result")).to_contain_text("見つかりません")
    frame, card = page.locator("#result").bounding_box(), page.locator("#result .result-inner").bounding_box()
    assert card["y"] <= frame["y"] + 0.5 and card["y"] + card["height"] >= frame["y"] + frame["height"] - 0.5  # no bare frame

    scan_with_keyboard(page, second_code)
    expect(page.locator("#result")).to_contain_text("受付しました")
    page.get_by_role("button", name="直前の受付を取り消す").click()
    expect(page.locator("#result")).to_contain_text("取り消しました")
    assert_accessible(page)
    assert [(c.registration_id, c.method, c.undone_at is not None) for c in checkins()] == [
        (reg_id, "scanner", False), (second_id, "scanner", True)]
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 6  # every attempt, and the undo
    assert page.requests.external() == []


def test_no_scan_is_lost_where_the_focus_happens_to_be(page):
    """A scanner types into whatever has the focus: after an undo (its button disappears), after a
    click on the page, and into the name search box, the code still checks the person in."""
    organizer = make.organizer()
    event = make.event(organizer)
    first, second, third, fourth = (make.registration(event) for _ in range(4))
    yamada = make.registration(event, name="山田 花子", name_kana="ヤマダ ハナコ")
    ids = [r.id for r in (first, second, third, fourth)]
    open_desk(page, event, organizer=organizer)

    scan_with_keyboard(page, first.ticket_code)
    expect(page.locator("#result")).to_contain_text("受付しました")
    page.get_by_role("button", name="直前の受付を取り消す").click()
    expect(page.locator("#result")).to_contain_text("取り消しました")
    assert page.evaluate("document.activeElement.id") == "code"
    scan_with_keyboard(page, second.ticket_code)
    expect(page.locator("#result")).to_contain_text(second.name)
    expect(page.locator("#result")).to_contain_text("受付しました")

    page.locator("#counters").click()  # the focus leaves every field
    assert page.evaluate("document.activeElement.id") != "code"
    scan_with_keyboard(page, third.ticket_code.lower())
    expect(page.locator("#result")).to_contain_text(third.name)

    page.locator("#q").fill("やまだ")
    page.get_by_role("button", name="山田 花子 さんを受付").wait_for()
    scan_with_keyboard(page, fourth.ticket_code)  # the focus is still in the search box
    expect(page.locator("#result")).to_contain_text(fourth.name)
    expect(page.locator("#result")).to_contain_text("受付しました")
    assert page.locator("#q").input_value() == "やまだ"  # what was typed there stays, with its hits
    page.get_by_role("button", name="山田 花子 さんを受付").wait_for()
    assert page.evaluate("document.activeElement.id") == "code"

    page.locator("#q").fill("")
    page.locator("#q").press_sequentially(yamada.ticket_code, delay=5)  # the code alone, with Enter
    page.locator("#q").press("Enter")
    expect(page.locator("#result")).to_contain_text("山田 花子")
    assert page.locator("#q").input_value() == ""
    expect(page.locator("#total-checked-in")).to_have_text("4")
    assert [(c.registration_id, c.method, c.undone_at is None) for c in checkins()] == [
        (ids[0], "scanner", False), (ids[1], "scanner", True), (ids[2], "scanner", True), (ids[3], "scanner", True),
        (yamada.id, "scanner", True)]


def test_on_a_phone_the_first_hit_of_a_name_search_is_in_sight(phone):
    event = make.event()
    for given, kana in (("一郎", "イチロウ"), ("次郎", "ジロウ"), ("三郎", "サブロウ"), ("花子", "ハナコ"), ("健", "ケン"),
                        ("誠", "マコト")):
        make.registration(event, name=f"田中 {given}", name_kana=f"タナカ {kana}")
    open_desk(phone, event, staff_token(event))
    phone.locator("#q").fill("たなか")
    first = phone.locator("#search-results li").first
    first.wait_for()
    phone.wait_for_timeout(300)
    box, height = first.bounding_box(), phone.viewport_size["height"]
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (box, height)
    assert phone.evaluate("document.activeElement.id") == "q"  # still typing there
    assert phone.locator("#q").bounding_box()["y"] >= 0  # and the box stays in sight above the hits


# ------------------------------------------------------------------ (3) name search by kana, one tap
def test_kana_search_and_one_tap(page):
    event = make.event()
    yamada = make.registration(event, name="山田 花子", name_kana="ヤマダ ハナコ")
    make.registration(event, name="比嘉 太郎", name_kana="ヒガ タロウ")
    open_desk(page, event, staff_token(event))
    page.locator("#q").fill("やまだ")
    button = page.get_by_role("button", name="山田 花子 さんを受付")
    button.wait_for()
    assert page.locator("#search-results").inner_text().count("比嘉") == 0
    assert_accessible(page)
    button.click()
    expect(page.locator("#result")).to_contain_text("受付しました")
    [row] = checkins()
    assert (row.registration_id, row.method) == (yamada.id, "search")
    page.locator("#q").fill("ﾋｶﾞ")  # half-width katakana
    page.get_by_role("button", name="比嘉 太郎 さんを受付").wait_for()
    page.locator("#q").fill("ヤマダ")
    page.locator("#search-results").get_by_text("受付済み").wait_for()


# ------------------------------------------------------------------ (4) offline: scan two, reconnect, synced once
def test_offline_scans_are_judged_locally_queued_and_synced_once(page):
    event = make.event()
    a = make.registration(event, name="大城 さくら", name_kana="オオシロ サクラ")
    b = make.registration(event, name="玉城 健", name_kana="タマキ ケン")
    cancelled = make.registration(event, name="仲本 結", name_kana="ナカモト ユイ", status="cancelled")
    open_desk(page, event, staff_token(event))
    page.wait_for_selector("#snapshot-age:not([hidden])")  # the snapshot is on the device
    desk = f"{page.base}/events/{event.slug}/checkin/"
    poll(page, "async () => navigator.serviceWorker.controller !== null")
    poll(page, "async () => !!(await (await caches.open('eventsvc-checkin-v1')).match('" + desk + "'))")

    set_network(page, online=False)
    expect(page.locator("#net")).to_have_class(re.compile("net-offline"))
    scan_with_keyboard(page, a.ticket_code)
    expect(page.locator("#result")).to_contain_text("オフライン")
    assert "大城 さくら" in result_text(page)
    scan_with_keyboard(page, b.ticket_code[3:].lower())  # typed without its T1- mark, in lower case
    expect(page.locator("#queue-count")).to_have_text("2")
    scan_with_keyboard(page, a.ticket_code)  # the same ticket again, still offline
    expect(page.locator("#result")).to_contain_text("受付済み")
    scan_with_keyboard(page, cancelled.ticket_code)
    expect(page.locator("#result")).to_contain_text("キャンセル済み")
    page.locator("#q").fill("たまき")  # the name search works from the snapshot too
    page.locator("#search-results").get_by_text("受付済み").wait_for()
    assert checkins() == []
    assert_accessible(page)

    # the page itself opens offline (service worker) and the queue survives (IndexedDB)
    page.reload()
    page.wait_for_selector("#net:not([hidden])")
    # two admissions and two refusals wait for the network (a refusal is only logged, never admitted)
    expect(page.locator("#queue-count")).to_have_text("4")
    assert page.locator("h1").inner_text().startswith("受付")
    assert checkins() == []

    set_network(page, online=True)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#queue-count")).to_have_text("0", timeout=20_000)
    rows = checkins()
    assert sorted((r.registration_id, r.method, r.result) for r in rows) == sorted(
        [(a.id, "offline", "checked_in"), (b.id, "offline", "checked_in")])
    assert all(r.scanned_at < r.received_at for r in rows)  # each kept its real scan time
    # a second sync or a reload adds nothing
    page.reload()
    page.wait_for_selector("#net:not([hidden])")
    expect(page.locator("#net")).to_have_class(re.compile("net-online"))
    page.wait_for_timeout(500)
    assert len(checkins()) == 2
    logs = db.session.execute(select(CheckinLog.registration_id, CheckinLog.result, CheckinLog.reason)).all()
    assert sorted(logs) == sorted([(a.id, "checked_in", ""), (b.id, "checked_in", ""),
                                   (a.id, "refused_offline", "already_checked_in"),
                                   (cancelled.id, "refused_offline", "not_admitted")])
    expect(page.locator("#total-checked-in")).to_have_text("2")
    expect(page.locator("#sync-report")).to_be_hidden()  # the refusals were told at the time; nothing new


def test_an_upload_that_fails_as_the_network_comes_back_is_tried_again_soon(page):
    """Venue Wi-Fi comes back flaky: the first upload of the queue fails (a proxy answers 503) and
    the desk counts itself offline again; while scans wait it looks for the network again within
    ~10 s (not only at its 30-second snapshot round), and sends them once."""
    event = make.event()
    reg = make.registration(event, name="大城 さくら", name_kana="オオシロ サクラ")
    open_desk(page, event, staff_token(event))
    page.wait_for_selector("#snapshot-age:not([hidden])")
    set_network(page, online=False)
    expect(page.locator("#net")).to_have_class(re.compile("net-offline"))
    scan_with_keyboard(page, reg.ticket_code)
    expect(page.locator("#queue-count")).to_have_text("1")

    failed = []

    def flaky(route):
        if failed:
            route.continue_()
        else:
            failed.append(route.request.url)
            route.fulfill(status=503, body="")

    page.route("**/checkin/sync.json", flaky)
    set_network(page, online=True)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    for _ in range(100):  # the upload that comes with the network
        if failed:
            break
        page.wait_for_timeout(100)
    assert failed, "no upload when the network came back"
    expect(page.locator("#queue-count")).to_have_text("0", timeout=20_000)
    assert [(r.registration_id, r.result) for r in checkins()] == [(reg.id, "checked_in")]


def test_two_devices_offline_with_one_ticket_keep_a_duplicate(browser, live_server):
    event = make.event()
    reg = make.registration(event)
    pages = []
    for label in ("受付1", "受付2"):
        ctx = browser.new_context(locale="ja-JP")
        page = ctx.new_page()
        page.base = live_server
        open_desk(page, event, staff_token(event, label))
        page.wait_for_selector("#snapshot-age:not([hidden])")
        pages.append(page)
    for page in pages:
        set_network(page, online=False)
        expect(page.locator("#net")).to_have_class(re.compile("net-offline"))
        page.locator("#code").focus()
        scan_with_keyboard(page, reg.ticket_code)
        expect(page.locator("#queue-count")).to_have_text("1")
    for page in pages:
        set_network(page, online=True)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        expect(page.locator("#queue-count")).to_have_text("0", timeout=20_000)
    assert sorted(r.result for r in checkins()) == ["checked_in", "duplicate"]
    second = pages[1]
    second.wait_for_selector("#sync-report:not([hidden])")
    assert "重複" in second.locator("#sync-report").inner_text()
    for page in pages:
        page.context.close()


def test_logout_clears_the_snapshot_but_not_before_the_queue_is_sent(page):
    event = make.event()
    reg = make.registration(event)
    open_desk(page, event, staff_token(event))
    page.wait_for_selector("#snapshot-age:not([hidden])")
    count = f"""async () => {{ const db = await new Promise(r => {{ const q = indexedDB.open('eventsvc-checkin-{event.slug}');
        q.onsuccess = () => r(q.result); }});
        return await new Promise(r => {{ const q = db.transaction('tickets').objectStore('tickets').count();
        q.onsuccess = () => {{ r(q.result); db.close(); }}; }}); }}"""
    assert page.evaluate(count) == 1
    # offline with an unsent admission: logging out is refused
    set_network(page, online=False)
    expect(page.locator("#net")).to_have_class(re.compile("net-offline"))
    page.locator("#code").focus()
    scan_with_keyboard(page, reg.ticket_code)
    expect(page.locator("#queue-count")).to_have_text("1")
    page.get_by_role("button", name="この端末での受付を終了する").click()
    page.locator("#logout-blocked").wait_for()
    assert page.url.endswith("/checkin/")
    # back online: the queue goes first, then the device forgets the snapshot and the cached page
    set_network(page, online=True)
    page.get_by_role("button", name="この端末での受付を終了する").click()
    page.wait_for_url(f"{page.base}/")
    assert len(checkins()) == 1
    assert page.evaluate(count) == 0
    assert not page.evaluate(f"""async () => {{ const c = await caches.open('eventsvc-checkin-v1');
        return !!(await c.match('{page.base}/events/{event.slug}/checkin/')); }}""")
    page.goto(f"{page.base}/events/{event.slug}/checkin/")
    assert "/login" in page.url


# ------------------------------------------------------------------ without JavaScript, and the other pages
def test_phone_without_javascript_types_and_searches(phone_nojs):
    page = phone_nojs
    event = make.event()
    reg = make.registration(event, name="比嘉 太郎", name_kana="ヒガ タロウ")
    second = make.registration(event, name="知念 花子", name_kana="チネン ハナコ")
    page.goto(f"{page.base}/staff/{staff_token(event)}")
    page.wait_for_url("**/checkin/")
    assert page.locator("#camera").is_hidden()  # no camera without JS, and no broken button
    page.locator("#code").fill(reg.ticket_code)
    page.get_by_role("button", name="受付する", exact=True).click()
    assert "受付しました" in result_text(page) and "比嘉 太郎" in result_text(page)
    assert_accessible(page)
    page.locator("#q").fill("ちねん")
    page.get_by_role("button", name="検索").click()
    page.wait_for_url("**#search-heading")  # the answer opens at the search, its hits in sight
    box = page.get_by_role("button", name="知念 花子 さんを受付").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"], box
    page.get_by_role("button", name="知念 花子 さんを受付").click()
    assert "受付しました" in result_text(page) and "知念 花子" in result_text(page)
    page.get_by_role("button", name="この受付を取り消す").click()
    assert "取り消しました" in result_text(page)
    assert [(c.registration_id, c.undone_at is None) for c in checkins()] == [(reg.id, True), (second.id, False)]


def test_walk_in_without_javascript_finds_the_registration_of_the_address(phone_nojs):
    from eventsvc.events import service as events

    page = phone_nojs
    event = make.event(ticket_types=[events.TicketTypeData("venue", "会場参加", 1),
                                     events.TicketTypeData("online", "オンライン参加", 10)])
    make.registration(event)
    waiting = make.registration(event, name="比嘉 太郎", name_kana="ヒガ タロウ", status="waitlisted")
    gone = make.registration(event, name="知念 花子", name_kana="チネン ハナコ", ticket_type="online",
                             status="cancelled")
    page.goto(f"{page.base}/staff/{staff_token(event)}")
    page.wait_for_url("**/checkin/")

    def walk_in(email, ticket_type):
        if page.locator("details.walk-in[open]").count() == 0:  # open after a refusal, to correct it
            page.get_by_text("申込みのない人を登録して受付する").click()
        page.locator("#name").fill("飛込 太郎")
        page.locator("#name_kana").fill("とびこみ たろう")
        page.locator("#email").fill(email)
        page.locator("#ticket_type").select_option(ticket_type)
        page.locator("#consent_privacy").check()
        page.get_by_role("button", name="登録して受付する").click()

    walk_in(waiting.email, "venue")  # waitlisted, and the venue is full: staff are told to ask
    summary = page.locator("#error-summary").inner_text()
    assert "この方の申込みはキャンセル待ちで、「会場参加」は満席です。定員を超えて受け付けるには主催者が操作してください。" in summary
    assert_accessible(page)
    walk_in(gone.email, "online")  # cancelled: a new application at the door, checked in
    text = result_text(page)
    assert "受付しました" in text and "飛込 太郎" in text and "キャンセルされていた申込み" in text
    assert_accessible(page)
    assert [(c.registration_id, c.method) for c in checkins()] == [(gone.id, "walkin")]


def test_the_note_about_javascript_is_shown_only_without_it(browser, live_server, phone_nojs):
    event = make.event()
    token = staff_token(event)
    phone_nojs.goto(f"{phone_nojs.base}/staff/{token}")
    phone_nojs.wait_for_url("**/checkin/")
    expect(phone_nojs.locator("#camera-help")).to_contain_text("JavaScriptが有効なときに使えます")
    ctx = browser.new_context(locale="ja-JP")
    page = ctx.new_page()
    page.base = live_server
    open_desk(page, event, staff_token(event, "受付3"))
    expect(page.locator("#sound-box")).to_be_visible()
    expect(page.locator("#camera-help")).to_be_hidden()
    assert_accessible(page)
    ctx.close()
    # plain http on a LAN address: no offline copy, and the note says so instead
    ctx = browser.new_context(locale="ja-JP")
    ctx.add_init_script("Object.defineProperty(window, 'isSecureContext', {get: () => false});")
    page = ctx.new_page()
    page.base = live_server
    open_desk(page, event, staff_token(event, "受付4"))
    expect(page.locator("#camera-help")).to_be_visible()
    expect(page.locator("#camera-help")).to_contain_text("オフライン用の保存ができません")
    ctx.close()


def test_staff_links_page_fits_a_375px_phone_with_a_long_label(browser, live_server):
    organizer = make.organizer()
    event = make.event(organizer)
    label = "受付" + "A" * 48  # a name with no place to break
    service.create_staff_link(event, label, expires_at=now_utc() + timedelta(hours=6), created_by=None,
                              now=now_utc())
    db.session.commit()
    ctx = browser.new_context(locale="ja-JP", viewport={"width": 375, "height": 800})
    page = ctx.new_page()
    page.base = live_server
    try:
        login_in_browser(page, organizer)
        page.goto(f"{page.base}/manage/events/{event.slug}/staff-links")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.get_by_label("名前").fill("受付" + "B" * 48)
        page.get_by_role("button", name="リンクを作る").click()
        page.locator("#new-link").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert_accessible(page)
    finally:
        ctx.close()


def test_a_new_staff_link_is_copied_with_one_button(page):
    """The link is shown once: a button puts it on the clipboard, to paste into a chat or a mail, and
    says so (read out too). Without JavaScript there is no button, only the read-only field."""
    organizer = make.organizer()
    event = make.event(organizer)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login_in_browser(page, organizer)
    page.goto(f"{page.base}/manage/events/{event.slug}/staff-links")
    page.get_by_role("button", name="リンクを作る").click()
    link = page.locator("#new-link").input_value()
    assert link.startswith(f"{page.base}/staff/")
    button = page.locator('button[data-copy="new-link"]')
    expect(button).to_have_accessible_name(re.compile(r"^コピー\s*: リンク"))  # its own name among the page's buttons
    button.click()
    expect(page.locator(".copy-status")).to_have_text("コピーしました")
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert_accessible(page)


def test_without_javascript_the_new_staff_link_is_there_to_copy_by_hand(page_nojs):
    page = page_nojs
    organizer = make.organizer()
    event = make.event(organizer)
    login_in_browser(page, organizer)
    page.goto(f"{page.base}/manage/events/{event.slug}/staff-links")
    page.get_by_role("button", name="リンクを作る").click()
    assert page.locator("#new-link").input_value().startswith(f"{page.base}/staff/")
    expect(page.locator('button[data-copy="new-link"]')).to_be_hidden()  # it would do nothing


def test_paper_and_management_pages_pass_axe(page):
    organizer = make.organizer()
    event = make.event(organizer)
    for _ in range(3):
        make.registration(event)
    service.check_in(event, "not a ticket", device_id="tablet-1", nonce=None, scanned_at=None, method="scanner",
                     actor=service.Actor.organizer(organizer), now=now_utc())  # a line in the scan log
    db.session.commit()
    login_in_browser(page, organizer)
    for path in (f"/manage/events/{event.slug}", f"/manage/events/{event.slug}/staff-links",
                 f"/manage/events/{event.slug}/name-tags?qr=1", f"/events/{event.slug}/checkin/reception-list",
                 f"/manage/events/{event.slug}/attendance-code", f"/manage/events/{event.slug}/duplicates",
                 f"/manage/events/{event.slug}/checkin-log"):
        page.goto(page.base + path)
        assert_accessible(page)
    page.goto(f"{page.base}/manage/events/{event.slug}/staff-links")
    page.get_by_role("button", name="リンクを作る").click()
    page.locator("#new-link").wait_for()
    assert_accessible(page)
    page.goto(f"{page.base}/manage/events/{event.slug}/attendance-code")
    page.get_by_role("button", name="出席コードを作る").click()
    assert len(page.locator(".attendance-code").inner_text().replace(" ", "")) == 6
    assert_accessible(page)
    assert page.requests.external() == []


def test_long_names_stay_inside_their_printed_name_tag(page):
    """Names may be 100 characters and organisations 200: the type shrinks, a very long reading or
    organisation ends in "…" after two lines, nothing spills over the tag's edge, over the next line
    or under the QR code (printed, A4; with the Japanese fonts people have, Noto CJK on CI)."""
    organizer = make.organizer()
    event = make.event(organizer)
    names = ["山田 太郎", "寿限無寿限無五劫の擦り切れ海砂利水魚", "𠮷" * 40, "長" * 100]
    for i, name in enumerate(names):
        make.registration(event, name=name, name_kana="ジュゲム" * (2 + 6 * i), email=f"tag{i}@city.naha.lg.jp",
                          organization_code=None, organization_name=("那覇市総務部デジタル推進課" * (1 + 4 * i))[:200])
    db.session.commit()
    login_in_browser(page, organizer)
    page.emulate_media(media="print")
    page.goto(f"{page.base}/manage/events/{event.slug}/name-tags?qr=1")
    boxes = page.evaluate("""() => [...document.querySelectorAll('.nametag')].map(tag => {
        const box = e => { const r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
        const qr = tag.querySelector('.nametag-qr');
        return {tag: box(tag), parts: [...tag.querySelectorAll('p')].map(box), qr: qr && box(qr)};
    })""")
    assert len(boxes) == len(names) and all(found["qr"] for found in boxes)
    for found in boxes:
        tag, parts, qr = found["tag"], found["parts"], found["qr"]
        for part in parts:  # no text under the QR code in the corner
            assert part["right"] <= qr["left"] + 0.5 or part["bottom"] <= qr["top"] + 0.5, found
        for part in parts:
            assert tag["top"] - 0.5 <= part["top"] and part["bottom"] <= tag["bottom"] + 0.5, found
            assert tag["left"] - 0.5 <= part["left"] and part["right"] <= tag["right"] + 0.5, found
        for upper, lower in zip(parts, parts[1:], strict=False):
            assert upper["bottom"] <= lower["top"] + 0.5, found
    page.emulate_media(media="screen")  # the page's heading is not printed
    assert_accessible(page)


def test_an_attendee_checks_in_on_their_own_phone_with_the_projected_code(phone_nojs):
    """Self check-in from the ticket page, on a phone, without JavaScript: a wrong code is told at the
    field, with the page opened there (not at its top, screens above); the right one, typed in lower
    case with spaces, checks the person in."""
    from eventsvc.core.clock import JST
    from eventsvc.registration import service as registrations

    page = phone_nojs
    start = (now_utc() - timedelta(hours=1)).astimezone(JST).replace(second=0, microsecond=0)
    running = make.event(starts_at=start, ends_at=start + timedelta(hours=4))
    reg = make.registration(running, name="比嘉 太郎")
    code = service.attendance_code(running, now_utc()).code
    db.session.commit()
    page.goto(f"{page.base}/my/{registrations.link_token(reg)}")
    field = page.get_by_label("出席コード")
    field.fill("zzzzzz")
    page.get_by_role("button", name="出席を登録する").click()
    assert page.url.endswith("#self-checkin")
    expect(page.locator("#self-checkin")).to_be_in_viewport()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#self-checkin .error-message")).to_contain_text("出席コード")
    assert_accessible(page)
    field.fill(f" {code.lower()[:3]} {code.lower()[3:]} ")
    page.get_by_role("button", name="出席を登録する").click()
    expect(page.locator(".flashes")).to_contain_text("出席を登録しました")
    expect(page.locator("#self-checkin")).to_contain_text("出席を登録済みです")
    assert checkins()[0].method == "self"
