"""The desk and its paper as server-rendered pages (no JavaScript), staff links, self check-in."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func, select, update

from eventsvc.checkin import service
from eventsvc.checkin.models import Checkin, StaffLink
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db


@pytest.fixture
def event(make, organizer):
    return make.event(organizer)


def staff_link(event, organizer, label="受付2", hours=6):
    link, token = service.create_staff_link(event, label, expires_at=now_utc() + timedelta(hours=hours),
                                            created_by=organizer, now=now_utc())
    db.session.commit()
    return link, token


def text_of(response) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def desk_url(event):
    return f"/events/{event.slug}/checkin/"


# ------------------------------------------------------------------ staff links → a session for one event
def test_staff_link_becomes_a_session_and_leaves_the_url(client, make, organizer, event):
    _link, token = staff_link(event, organizer)
    r = client.get(f"/staff/{token}")
    assert r.status_code == 302 and r.headers["Location"].endswith(desk_url(event))
    assert token not in r.headers["Location"]
    assert r.headers["Referrer-Policy"] == "no-referrer" and r.headers["Cache-Control"] == "no-store"
    page = client.get(desk_url(event))
    assert page.status_code == 200 and "受付2" in text_of(page) and token not in page.get_data(as_text=True)
    assert db.session.scalar(select(StaffLink.last_used_at)) is not None
    # the same browser is nobody at another event's desk, even of the same organizer
    other = make.event(organizer)
    assert client.get(desk_url(other)).status_code == 302  # → login
    assert client.get(f"/events/{event.slug}/checkin/reception-list").status_code == 200
    # staff links allow check-in and the reception list only
    for url in (f"/manage/events/{event.slug}/name-tags", f"/manage/events/{event.slug}/staff-links",
                f"/manage/events/{event.slug}"):
        assert client.get(url).status_code == 302, url


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_revoked_or_expired_link_ends_the_session_on_the_next_request(client, organizer, event, how):
    link, token = staff_link(event, organizer)
    client.get(f"/staff/{token}")
    assert client.get(desk_url(event)).status_code == 200
    values = {"revoked_at": now_utc()} if how == "revoked" else {"expires_at": now_utc() - timedelta(minutes=1)}
    db.session.execute(update(StaffLink).where(StaffLink.id == link.id).values(**values))
    db.session.commit()
    r = client.get(desk_url(event))
    assert r.status_code == 403 and "期限切れか、取り消されました" in text_of(r)
    # the session was dropped; a reload (or the desk's next call) says why again, not "log in"
    assert (r := client.get(desk_url(event))).status_code == 403 and "期限切れか、取り消されました" in text_of(r)
    r = client.post(f"/events/{event.slug}/checkin/scan.json", json={"code": "x"})
    assert r.status_code == 403 and r.json["error"] == "staff_link_inactive"
    assert client.get(f"/events/{event.slug}/checkin/search.json?q=x").status_code == 403
    assert client.get(f"/staff/{token}").status_code == 403  # the link itself is dead too
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 0
    # a new link works in the same browser; logging out of it then leaves nothing to explain
    _new, new_token = staff_link(event, organizer, label="受付3")
    assert client.get(f"/staff/{new_token}").status_code == 302
    assert client.get(desk_url(event)).status_code == 200
    client.post(f"/events/{event.slug}/checkin/logout")
    assert client.get(desk_url(event)).status_code == 302  # → login


def test_a_staff_session_keeps_the_links_last_use_current_for_the_organizer(app, client, login, make, organizer,
                                                                           event):
    """Staff open the link once and then work for hours: every use of the desk counts as a use of
    the link (at most one write a minute), and the organizer's list of links shows when."""
    from eventsvc.core.clock import format_datetime

    link, token = staff_link(event, organizer)
    staff_link(event, organizer, label="予備")  # never opened
    reg = make.registration(event)
    desk = app.test_client()
    desk.get(f"/staff/{token}")
    hours_ago = now_utc() - timedelta(hours=3)
    for request in (lambda: desk.get(desk_url(event)),
                    lambda: desk.get(f"/events/{event.slug}/checkin/search.json?q=x"),
                    lambda: desk.post(f"/events/{event.slug}/checkin/scan.json",
                                      json={"code": reg.ticket_code, "nonce": "s1"}),
                    lambda: desk.post(desk_url(event), data={"code": "junk", "nonce": "s2"})):
        db.session.execute(update(StaffLink).where(StaffLink.id == link.id).values(last_used_at=hours_ago))
        db.session.commit()
        assert request().status_code == 200
        db.session.refresh(link)
        assert link.last_used_at > now_utc() - timedelta(minutes=1)
    noted = link.last_used_at
    desk.get(desk_url(event))
    db.session.refresh(link)
    assert link.last_used_at == noted  # within the minute: not written again
    login(organizer)
    html = client.get(f"/manage/events/{event.slug}/staff-links").get_data(as_text=True)
    rows = {label: unescape(re.sub(r"<[^>]+>", " ", tr)) for tr in html.split("<tr>")[2:]
            for label in ("受付2", "予備") if label in tr}
    assert format_datetime(noted) in rows["受付2"] and "未使用" not in rows["受付2"]
    assert "未使用" in rows["予備"]


def test_an_ended_staff_session_is_explained_only_at_its_own_events_desk(client, login, make, organizer, event):
    link, token = staff_link(event, organizer)
    client.get(f"/staff/{token}")
    service.revoke_staff_link(event, link.id, now=now_utc())
    db.session.commit()
    assert client.get(desk_url(event)).status_code == 403
    assert client.get(desk_url(make.event(organizer))).status_code == 302  # another event: login, as for anyone
    login(organizer)  # an organizer of the event in the same browser runs the desk
    assert client.get(desk_url(event)).status_code == 200


def test_unknown_staff_link_is_refused(client, event):
    r = client.get("/staff/stf_" + "x" * 43)
    assert r.status_code == 403 and "主催者に新しいリンクを依頼" in text_of(r)


def test_staff_logout_ends_the_session(client, organizer, event):
    _link, token = staff_link(event, organizer)
    client.get(f"/staff/{token}")
    r = client.post(f"/events/{event.slug}/checkin/logout")
    assert r.status_code == 302
    assert client.get(desk_url(event)).status_code == 302


def test_organizer_manages_staff_links_on_a_page(client, login, organizer, event):
    login(organizer)
    page = client.get(f"/manage/events/{event.slug}/staff-links")
    assert page.status_code == 200 and 'value="受付1"' in page.get_data(as_text=True)
    expires = (event.ends_at + timedelta(hours=3)).astimezone().strftime("%Y-%m-%dT%H:%M")
    r = client.post(f"/manage/events/{event.slug}/staff-links", data={"label": "受付1", "expires_at": expires})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "今だけ表示されます" in html
    url = re.search(r'id="new-link"[^>]*value="([^"]+)"', html).group(1)
    assert "/staff/stf_" in url and "<svg" in html  # the link and its QR, once
    token = url.rsplit("/", 1)[1]
    listing = client.get(f"/manage/events/{event.slug}/staff-links").get_data(as_text=True)
    assert token not in listing and token[:10] in listing
    link = db.session.scalar(select(StaffLink))
    r = client.post(f"/manage/events/{event.slug}/staff-links/{link.id}/revoke")
    assert r.status_code == 302
    assert "取り消し済み" in text_of(client.get(f"/manage/events/{event.slug}/staff-links"))
    bad = client.post(f"/manage/events/{event.slug}/staff-links", data={"label": "", "expires_at": "2000-01-01T00:00"})
    assert bad.status_code == 422


def test_the_next_staff_link_is_offered_a_name_no_link_has(client, login, organizer, event):
    login(organizer)
    expires = (event.ends_at + timedelta(hours=3)).astimezone().strftime("%Y-%m-%dT%H:%M")
    r = client.post(f"/manage/events/{event.slug}/staff-links", data={"label": "受付2", "expires_at": expires})
    assert r.status_code == 200 and 'value="受付1"' in r.get_data(as_text=True)  # not 受付2 again
    r = client.post(f"/manage/events/{event.slug}/staff-links", data={"label": "受付1", "expires_at": expires})
    assert 'value="受付3"' in r.get_data(as_text=True)
    assert 'value="受付3"' in client.get(f"/manage/events/{event.slug}/staff-links").get_data(as_text=True)


# ------------------------------------------------------------------ the desk without JavaScript
def test_desk_needs_an_organizer_of_the_event_or_staff(client, login, make, event):
    assert client.get(desk_url(event)).status_code == 302
    login(make.organizer())
    assert client.get(desk_url(event)).status_code == 404


def test_camera_is_allowed_on_the_desk_page_only(client, login, organizer, event):
    login(organizer)
    assert client.get(desk_url(event)).headers["Permissions-Policy"].startswith("camera=(self)")
    for url in (f"/events/{event.slug}/checkin/reception-list", f"/manage/events/{event.slug}", "/"):
        assert "camera=()" in client.get(url).headers["Permissions-Policy"], url


def test_typed_code_form_checks_in_and_undoes(client, login, make, organizer, event):
    reg = make.registration(event, name="山田 花子", name_kana="ヤマダ ハナコ")
    login(organizer)
    r = client.post(desk_url(event), data={"code": reg.ticket_code.lower(), "nonce": "form-1"})
    assert r.status_code == 200
    t = text_of(r)
    assert "受付しました" in t and "山田 花子" in t and "ヤマダ ハナコ" in t and "会場参加" in t
    # the browser re-sends the form (reload): same nonce, same answer, still one check-in
    assert "受付しました" in text_of(client.post(desk_url(event), data={"code": reg.ticket_code, "nonce": "form-1"}))
    assert "受付済みです" in text_of(client.post(desk_url(event), data={"code": reg.ticket_code, "nonce": "form-2"}))
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 1
    r = client.post(f"/events/{event.slug}/checkin/registrations/{reg.id}/undo")
    assert "受付を取り消しました" in text_of(r)
    # the forms' addresses stay in the address bar: opened again (a bookmark, the history), the desk
    for path in (f"registrations/{reg.id}", f"registrations/{reg.id}/undo", "walk-in"):
        r = client.get(f"/events/{event.slug}/checkin/{path}")
        assert r.status_code == 302 and r.headers["Location"].endswith(desk_url(event)), path
    assert db.session.scalar(select(func.count()).select_from(Checkin).where(Checkin.undone_at.is_(None))) == 0
    assert "このコードは見つかりません" in text_of(client.post(desk_url(event), data={"code": "\x00" * 300}))


def test_name_search_and_one_tap_without_javascript(client, organizer, make, event):
    reg = make.registration(event, name="山田 花子", name_kana="ヤマダ ハナコ")
    make.registration(event, name="比嘉 太郎", name_kana="ヒガ タロウ")
    _link, token = staff_link(event, organizer)
    client.get(f"/staff/{token}")
    t = text_of(client.get(desk_url(event) + "?q=やまだ"))
    assert "山田 花子" in t and "比嘉" not in t and "1件見つかりました" in t
    r = client.post(f"/events/{event.slug}/checkin/registrations/{reg.id}")
    assert "受付しました" in text_of(r)
    row = db.session.scalar(select(Checkin))
    assert (row.method, row.actor_label) == ("search", "受付2")
    assert "受付済み" in text_of(client.get(desk_url(event) + "?q=ﾊﾅｺ"))


def test_counters_on_the_desk(client, login, make, organizer, event):
    regs = [make.registration(event) for _ in range(3)]
    login(organizer)
    client.post(desk_url(event), data={"code": regs[0].ticket_code})
    html = client.get(desk_url(event)).get_data(as_text=True)
    assert re.search(r'id="total-checked-in">1<', html) and re.search(r'id="total-expected">3<', html)


def test_the_desk_says_when_today_is_not_a_day_of_the_event(client, login, make, organizer, event):
    """A desk opened for the wrong event (two sessions in one week) or a rehearsal: a note, not a refusal."""
    login(organizer)
    reg = make.registration(event)
    page = text_of(client.get(desk_url(event)))
    assert "注意: 今日はこのイベントの開催日ではありません" in " ".join(page.split())
    assert client.post(desk_url(event), data={"code": reg.ticket_code}).status_code == 200  # still admits
    start = now_utc() - timedelta(days=3)
    ended = make.event(organizer, starts_at=start, ends_at=start + timedelta(hours=3), agenda=False)
    assert "このイベントは終了しています" in text_of(client.get(desk_url(ended)))
    from eventsvc.core.clock import JST

    today = now_utc().astimezone(JST).replace(hour=0, minute=1, second=0, microsecond=0)
    for running in (make.event(organizer, starts_at=today, ends_at=today + timedelta(minutes=5), agenda=False),  # today
                    make.event(organizer, starts_at=today - timedelta(days=1), ends_at=today + timedelta(hours=23),
                               agenda=False)):
        html = client.get(desk_url(running)).get_data(as_text=True)
        assert 'id="event-day-note"' not in html
    client.get("/lang/en?next=/")
    assert "Today is not a day of this event" in text_of(client.get(desk_url(event)))


def test_enter_on_an_empty_code_field_asks_for_a_code_and_logs_nothing(client, login, make, organizer, event):
    from eventsvc.checkin.models import CheckinLog

    login(organizer)
    reg = make.registration(event)
    r = client.post(desk_url(event), data={"code": "  "})
    assert r.status_code == 422 and "チケットのコードを読み取るか、入力してください。" in text_of(r)
    assert 'aria-invalid="true"' in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 0
    # typed without its version mark (T1-), as people copy the groups from their ticket
    r = client.post(desk_url(event), data={"code": reg.ticket_code[3:].replace("-", " ")})
    assert "受付しました" in text_of(r) or "checked_in" in r.get_data(as_text=True)


def test_a_form_sent_again_after_an_undo_shows_no_tick(client, login, make, organizer, event):
    """The browser sends the scan's form again (back, reload) after someone undid that check-in:
    the page repeats the first answer, marked as taken back, in amber, with no undo button."""
    login(organizer)
    reg = make.registration(event)
    form = {"code": reg.ticket_code, "nonce": "0123456789abcdef0123456789abcdef"}

    def panel(response) -> str:  # the big answer, without the rest of the page
        html = response.get_data(as_text=True)
        return html[html.index('id="result"'):html.index('id="undo-box"')]

    first = panel(client.post(desk_url(event), data=form))
    assert "result-ok" in first and "この受付を取り消す" in first
    client.post(f"/events/{event.slug}/checkin/registrations/{reg.id}/undo", data={})
    again = panel(client.post(desk_url(event), data=form))
    assert "result-warn" in again and "result-ok" not in again and "この受付を取り消す" not in again
    assert "受付しました その後、この受付は取り消されました（いまは受付されていません）。" in " ".join(
        unescape(re.sub(r"<[^>]+>", " ", again)).split())


def test_walk_in_form(client, login, make, organizer, event):
    login(organizer)
    r = client.post(f"/events/{event.slug}/checkin/walk-in", data={
        "name": "飛込 太郎", "name_kana": "とびこみ たろう", "email": "tobi@city.naha.lg.jp",
        "organization_name": "那覇市", "ticket_type": "venue", "consent_privacy": "y"})
    assert r.status_code == 200 and "受付しました" in text_of(r) and "飛込 太郎" in text_of(r)
    r = client.post(f"/events/{event.slug}/checkin/walk-in", data={"name": "", "ticket_type": "venue"})
    assert r.status_code == 422 and 'id="name-error"' in r.get_data(as_text=True)


def test_staff_sees_no_override_and_cannot_force_one(client, make, organizer):
    from eventsvc.events import service as events

    full = make.event(organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    make.registration(full)
    _link, token = staff_link(full, organizer)
    client.get(f"/staff/{token}")
    assert 'name="override"' not in client.get(desk_url(full)).get_data(as_text=True)
    r = client.post(f"/events/{full.slug}/checkin/walk-in", data={
        "name": "飛込 太郎", "name_kana": "トビコミ", "email": "tobi@city.naha.lg.jp", "ticket_type": "venue",
        "consent_privacy": "y", "override": "y"})
    assert r.status_code == 422 and "満席" in text_of(r)


# ------------------------------------------------------------------ paper
def test_reception_list_is_grouped_by_type_in_gojuon_order(client, login, make, organizer, event):
    for name, kana, tt in [("渡辺 一", "ワタナベ ハジメ", "venue"), ("安部 二", "あべ ふたば", "venue"),
                           ("加藤 三", "ガトウ ハナ", "venue"), ("加藤 四", "カトウ ハナ", "venue"),
                           ("井上 五", "イノウエ イツ", "online")]:
        make.registration(event, name=name, name_kana=kana, ticket_type=tt)
    make.registration(event, name="取消 六", name_kana="トリケシ", status="cancelled")
    login(organizer)
    page = client.get(f"/events/{event.slug}/checkin/reception-list")
    t = text_of(page)
    venue, online = t.index("会場参加"), t.index("オンライン参加")
    order = [t.index(n) for n in ("安部 二", "加藤 四", "加藤 三", "渡辺 一")]
    assert venue < order[0] and order == sorted(order) and order[-1] < online < t.index("井上 五")
    assert "取消 六" not in t and page.get_data(as_text=True).count('aria-label="未受付"') == 5


def test_name_tags_ten_per_sheet_with_kana_org_team_and_no_job_titles(client, login, make, organizer, event):
    regs = [make.registration(event, department="総務部 部長", commit=False) for _ in range(11)]
    db.session.commit()
    def lookup(ev, ids):
        return {regs[0].id: "チーム1"}

    service.register_team_lookup(lookup)
    try:
        login(organizer)
        html = client.get(f"/manage/events/{event.slug}/name-tags").get_data(as_text=True)
    finally:
        service._team_lookups.remove(lookup)  # only ours: the teams package's own lookup stays
    sheets = html.split('class="nametag-sheet"')[1:]
    assert [s.count('class="nametag"') for s in sheets] == [10, 1]
    first = html[html.index(f">{regs[0].name_kana}<"):]
    assert first.index(regs[0].name_kana) < first.index(regs[0].name)  # kana above the name
    assert "チーム1" in html and "沖縄県那覇市" in html
    assert "部長" not in html and "総務部" not in html
    assert "<svg" not in html.split('class="nametag-sheet"', 1)[1]
    with_qr = client.get(f"/manage/events/{event.slug}/name-tags?qr=1").get_data(as_text=True)
    assert with_qr.count('class="nametag-qr"') == 11


def test_who_cancelled_after_checking_in_and_applied_again_is_not_checked_in_on_any_page(client, login, api, make,
                                                                                          organizer, event):
    """The new application (a new ticket) starts not checked in: the reception list, the name tags of
    those who came, the desk's counters, its search and offline snapshot say so, and the new ticket admits."""
    from eventsvc.registration import service as registrations

    reg = make.registration(event, name="比嘉 太郎", name_kana="ヒガ タロウ", email="higa@city.naha.lg.jp")
    login(organizer)
    assert "受付しました" in text_of(client.post(desk_url(event), data={"code": reg.ticket_code}))
    registrations.cancel(reg, reg, now_utc())
    db.session.commit()
    r = api("POST", f"/events/{event.slug}/registrations", json={
        "name": "比嘉 太郎", "name_kana": "ひが たろう", "email": "higa@city.naha.lg.jp", "organization_code": "472018"})
    assert r.status_code == 201 and (r.json["id"], r.json["status"]) == (reg.id, "confirmed")
    new_code = r.json["ticket_code"]
    listing = client.get(f"/events/{event.slug}/checkin/reception-list").get_data(as_text=True)
    assert "比嘉 太郎" in listing and listing.count('aria-label="未受付"') == 1 and "check-done" not in listing
    tags = client.get(f"/manage/events/{event.slug}/name-tags?only=checked_in").get_data(as_text=True)
    assert 'class="nametag"' not in tags
    html = client.get(desk_url(event)).get_data(as_text=True)
    assert re.search(r'id="total-checked-in">0<', html) and re.search(r'id="total-expected">1<', html)
    found = client.get(f"/events/{event.slug}/checkin/search.json?q=ひが").json
    assert [(a["registration"]["id"], a["checked_in_at"]) for a in found] == [(reg.id, None)]
    snapshot = client.get(f"/events/{event.slug}/checkin/snapshot.json").json
    assert [(t["id"], t["checked_in_at"]) for t in snapshot["tickets"]] == [(reg.id, None)]
    assert (snapshot["counters"]["checked_in"], snapshot["counters"]["expected"]) == (0, 1)
    t = text_of(client.post(desk_url(event), data={"code": new_code}))
    assert "受付しました" in t and "受付済みです" not in t


def test_links_from_the_organizers_event_page(client, login, organizer, event):
    login(organizer)
    html = client.get(f"/manage/events/{event.slug}").get_data(as_text=True)
    for href in (desk_url(event), f"/manage/events/{event.slug}/staff-links", f"/manage/events/{event.slug}/name-tags",
                 f"/events/{event.slug}/checkin/reception-list", f"/manage/events/{event.slug}/attendance-code",
                 f"/manage/events/{event.slug}/checkin-log"):
        assert f'href="{href}"' in html, href


# ------------------------------------------------------------------ the scan log (organizers)
def test_scan_log_shows_every_scan_with_device_time_and_method(client, login, make, organizer, event):
    ok, cancelled = make.registration(event, name="比嘉 太郎"), make.registration(event, name="仲本 結",
                                                                             status="cancelled")
    desk = service.Actor.organizer(organizer)
    now = now_utc()
    service.check_in(event, ok.ticket_code, device_id="tablet-1", nonce="a", scanned_at=None, method="camera",
                     actor=desk, now=now)
    service.check_in(event, "garbage", device_id="tablet-1", nonce="b", scanned_at=None, method="scanner",
                     actor=desk, now=now)
    service.sync(event, [service.QueuedScan(cancelled.ticket_code, "c", now - timedelta(minutes=30),
                                            admitted_locally=False, refused_locally="not_admitted")],
                 device_id="phone-9", actor=desk, now=now)
    db.session.commit()
    url = f"/manage/events/{event.slug}/checkin-log"
    assert client.get(url).status_code == 302  # organizers only
    login(make.organizer())
    assert client.get(url).status_code == 404  # of this event
    login(organizer)
    r = client.get(url)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    text = text_of(r)
    assert "3件" in text
    assert re.search(r"受付\s+比嘉 太郎.*カメラ\s+tablet-1\s+主催 太郎", text, re.S)
    assert re.search(r"不明なコード\s+該当なし \( [0-9a-f]{16} \)\s+スキャナー・入力", text)
    assert re.search(r"オフライン中にお断り（入場不可）\s+仲本 結.*オフライン\s+phone-9", text, re.S)
    assert "に送信（オフライン）" in text  # the refusal reached the server half an hour after it was made
    assert "garbage" not in text  # what matched no ticket is shown as its hash only
    only = text_of(client.get(url + "?result=refused_offline"))
    assert "1件" in only and "比嘉 太郎" not in only
    assert "2件" in text_of(client.get(url + "?device=tablet-1"))
    for odd in ("?result=nonsense", "?page=0", "?page=99999999999", "?page=x", "?device=" + "d" * 500):
        assert client.get(url + odd).status_code == 200, odd


def test_scan_log_as_csv_for_excel(client, login, make, organizer, event):
    import csv
    import io

    came = make.registration(event, name="比嘉 太郎")
    link, _token = staff_link(event, organizer, label="=受付2")  # a label that a spreadsheet would run
    staff = service.Actor.staff(link)
    service.check_in(event, came.ticket_code, device_id="+tablet", nonce=None, scanned_at=None, method="camera",
                     actor=staff, now=now_utc())
    service.check_in(event, "junk", device_id="tablet-2", nonce=None, scanned_at=None, method="scanner",
                     actor=staff, now=now_utc())
    db.session.commit()
    url = f"/manage/events/{event.slug}/checkin-log.csv"
    assert client.get(url).status_code == 302  # organizers only
    login(organizer)
    page = client.get(f"/manage/events/{event.slug}/checkin-log?device=tablet-2").get_data(as_text=True)
    assert f'href="{url}?device=tablet-2"' in page  # the download keeps the page's filter
    r = client.get(url)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert r.headers["Cache-Control"] == "no-store" and r.get_data().startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.get_data().decode("utf-8-sig"))))
    assert rows[0] == ["読み取り時刻", "受信時刻", "結果", "参加者", "所属", "方法", "端末", "担当", "読み取った内容のハッシュ"]
    by_result = {row[2]: row for row in rows[1:]}
    assert set(by_result) == {"受付", "不明なコード"}
    assert by_result["受付"][3:8] == ["比嘉 太郎", came.organization_name, "カメラ", "'+tablet", "'=受付2"]
    assert len(by_result["不明なコード"][8]) == 16 and "junk" not in r.get_data(as_text=True)
    only = list(csv.reader(io.StringIO(client.get(url + "?device=tablet-2").get_data().decode("utf-8-sig"))))
    assert len(only) == 2 and only[1][2] == "不明なコード"


def test_the_desk_links_organizers_to_the_scan_log_not_staff(client, login, organizer, event):
    log = f'href="/manage/events/{event.slug}/checkin-log"'
    login(organizer)
    assert log in client.get(desk_url(event)).get_data(as_text=True)
    _link, token = staff_link(event, organizer)
    with client.session_transaction() as s:
        s.clear()
    client.get(f"/staff/{token}")
    page = client.get(desk_url(event))
    assert page.status_code == 200 and log not in page.get_data(as_text=True)


def test_scan_log_pages_keep_the_filter(client, login, organizer, event):
    desk = service.Actor.organizer(organizer)
    for i in range(service.LOG_PER_PAGE + 1):
        service.check_in(event, f"junk-{i}", device_id="tablet-1", nonce=None, scanned_at=None, method="scanner",
                         actor=desk, now=now_utc() - timedelta(seconds=i))
    db.session.commit()
    login(organizer)
    url = f"/manage/events/{event.slug}/checkin-log"
    html = client.get(url + "?device=tablet-1").get_data(as_text=True)
    assert "101件" in text_of(client.get(url)) and "1 / 2ページ" in unescape(html)
    nxt = re.search(r'href="([^"]+)" rel="next"', html).group(1)
    assert unescape(nxt) == f"{url}?page=2&device=tablet-1"
    second = client.get(unescape(nxt)).get_data(as_text=True)
    assert "2 / 2ページ" in unescape(second) and 'rel="prev"' in second and 'rel="next"' not in second


# ------------------------------------------------------------------ self check-in from the attendee's page
@pytest.fixture
def running(make, organizer):
    """An event happening now."""
    from eventsvc.core.clock import JST

    start = (now_utc() - timedelta(hours=1)).astimezone(JST).replace(second=0, microsecond=0)
    return make.event(organizer, starts_at=start, ends_at=start + timedelta(hours=4))


def test_self_check_in_with_the_projected_code(client, login, make, organizer, running):
    from eventsvc.registration import service as registrations

    reg = make.registration(running)
    login(organizer)
    client.post(f"/manage/events/{running.slug}/attendance-code")
    page = client.get(f"/manage/events/{running.slug}/attendance-code").get_data(as_text=True)
    code = re.sub(r"<[^>]+>", "", re.search(r'class="attendance-code"[^>]*>(.*?)</p>', page).group(1))
    client.post("/logout")
    link = registrations.link_token(reg)
    back = f"/my/{link}"
    r = client.post(f"/events/{running.slug}/self-checkin", data={"token": link, "code": "ZZZZZZ", "next": back})
    assert r.status_code == 302 and r.headers["Location"].endswith(back + "#self-checkin")  # opens at the panel
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 0
    # told at the field (not at the top of the page, two screens up on a phone), once
    page = client.get(back).get_data(as_text=True)
    panel = page.split('id="self-checkin"', 1)[1]
    assert 'aria-invalid="true"' in panel and "出席コードが正しくありません" in panel
    assert page.count("出席コードが正しくありません") == 1
    assert "出席コードが正しくありません" not in client.get(back).get_data(as_text=True)
    r = client.post(f"/events/{running.slug}/self-checkin", data={"token": link, "code": code.lower(), "next": back})
    assert r.status_code == 302
    row = db.session.scalar(select(Checkin))
    assert (row.registration_id, row.method) == (reg.id, "self")
    # someone else's or a forged token gets nothing
    assert client.post(f"/events/{running.slug}/self-checkin", data={"token": "forged", "code": code}).status_code == 404
    # an off-site "next" is not followed
    r = client.post(f"/events/{running.slug}/self-checkin",
                    data={"token": link, "code": code, "next": "https://evil.example/"})
    assert r.headers["Location"].endswith(f"/events/{running.slug}")


def test_self_checkin_panel_for_the_attendee_page(app, make, event, running):
    from flask import render_template_string

    from eventsvc.registration import service as registrations

    later, now_reg = make.registration(event), make.registration(running)
    tpl = "{{ self_checkin_panel(reg, token, '/my/x') }}"
    with app.test_request_context("/"):
        closed = render_template_string(tpl, reg=later, token=registrations.link_token(later))
        open_ = render_template_string(tpl, reg=now_reg, token=registrations.link_token(now_reg))
    assert "開催時間中" in closed and "<form" not in closed
    assert f'action="/events/{running.slug}/self-checkin"' in open_ and registrations.link_token(now_reg) in open_




def test_self_check_in_is_rate_limited_per_attendee_not_per_venue(limited):
    """Everyone at the venue shares one address: one attendee's guesses must not lock out the others."""
    from eventsvc.core.clock import JST
    from eventsvc.registration import service as registrations
    from tests import factories

    start = (now_utc() - timedelta(hours=1)).astimezone(JST).replace(second=0, microsecond=0)
    running = factories.event(starts_at=start, ends_at=start + timedelta(hours=4))
    guesser, other = factories.registration(running), factories.registration(running)
    code = service.attendance_code(running, now_utc()).code
    db.session.commit()
    client, url = limited.test_client(), f"/events/{running.slug}/self-checkin"
    venue = {"REMOTE_ADDR": "10.20.30.40"}
    g, o = registrations.link_token(guesser), registrations.link_token(other)
    statuses = [client.post(url, data={"token": g, "code": "ZZZZZZ"}, environ_base=venue).status_code
                for _ in range(11)]
    assert statuses == [302] * 10 + [429]
    assert client.post(url, data={"token": o, "code": code}, environ_base=venue).status_code == 302
    db.session.rollback()
    assert db.session.scalars(select(Checkin.registration_id)).all() == [other.id]


def test_the_attendee_page_offers_self_check_in_and_slack_while_the_event_runs(client, make, running):
    from eventsvc.registration import service as registrations

    reg = make.registration(running)
    html = client.get(f"/my/{registrations.link_token(reg)}").get_data(as_text=True)
    assert f'action="/events/{running.slug}/self-checkin"' in html
    assert "Slackアカウントをつなぐ" in html
    waiting = make.registration(running, status="cancelled")
    html = client.get(f"/my/{registrations.link_token(waiting)}").get_data(as_text=True)
    assert "self-checkin" not in html


def walk_in_form(email, **kw):
    return {"name": "飛込 太郎", "name_kana": "とびこみ たろう", "email": email, "ticket_type": "venue",
            "consent_privacy": "y", **kw}


def test_a_walk_in_refusal_is_said_once_in_the_summary(client, login, make, organizer):
    from eventsvc.events import service as events
    from tests.integration.page_support import error_summary

    full = make.event(organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    make.registration(full)
    _link, token = staff_link(full, organizer)
    staff = client.application.test_client()
    staff.get(f"/staff/{token}")
    r = staff.post(f"/events/{full.slug}/checkin/walk-in", data=walk_in_form("tobi@city.naha.lg.jp"))
    assert r.status_code == 422
    assert error_summary(r.get_data(as_text=True)) == [
        ("#ticket_type", "参加区分: この参加区分は満席です。定員を超えて受け付けるには主催者が操作してください。")]
    # the organizer is told where the override is, instead of being sent to the organizer
    login(organizer)
    r = client.post(f"/events/{full.slug}/checkin/walk-in", data=walk_in_form("tobi@city.naha.lg.jp"))
    assert r.status_code == 422
    assert error_summary(r.get_data(as_text=True)) == [
        ("#ticket_type", "参加区分: この参加区分は満席です。定員を超えて受け付けるには"
                         "「定員やドメインの確認を超えて受け付ける」にチェックを入れてください。")]
    assert 'name="override"' in r.get_data(as_text=True)


def test_walk_in_form_finds_the_registration_of_the_address(client, login, make, organizer, event):
    from eventsvc.audit.models import AuditEntry

    reg = make.registration(event, name="比嘉 太郎", name_kana="ヒガ タロウ")
    login(organizer)
    r = client.post(f"/events/{event.slug}/checkin/walk-in", data=walk_in_form(reg.email.upper()))
    assert r.status_code == 200
    t = text_of(r)
    assert "受付しました" in t and "申込み済みの方です（新しい登録はしていません）。" in t
    assert "比嘉 太郎" in t and "飛込 太郎" not in t  # who was checked in: the registration, as registered
    assert 'class="result-note"' in r.get_data(as_text=True)
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "checkin.desk_walk_in")).one()
    assert entry.target == f"registration:{reg.id}"
    assert (entry.details["registration_was"], entry.details["overridden"]) == ("confirmed", False)
    r = client.post(f"/events/{event.slug}/checkin/walk-in", data=walk_in_form(reg.email))
    assert r.status_code == 200 and "受付済みです" in text_of(r)
    # a cancelled registration becomes a new application at the door
    gone = make.registration(event, status="cancelled")
    r = client.post(f"/events/{event.slug}/checkin/walk-in", data=walk_in_form(gone.email))
    assert r.status_code == 200 and "受付しました" in text_of(r)
    assert "キャンセルされていた申込みを、新しい申込みとして参加確定にしました（以前のチケットは使えません）。" in text_of(r)
    # a rejected one: the organizer may override, and the panel says so
    rejected = make.registration(event, status="rejected")
    r = client.post(f"/events/{event.slug}/checkin/walk-in", data=walk_in_form(rejected.email, override="y"))
    assert r.status_code == 200
    assert "申込み済みの方です。「参加をお断りした申込み」から参加確定にしました。 定員やドメインの確認を超えて受け付けました。" \
        in text_of(r)


def test_staff_are_told_to_ask_about_a_rejected_registration(client, make, organizer, event):
    from tests.integration.page_support import error_summary

    rejected = make.registration(event, status="rejected")
    _link, token = staff_link(event, organizer)
    client.get(f"/staff/{token}")
    r = client.post(f"/events/{event.slug}/checkin/walk-in", data=walk_in_form(rejected.email, override="y"))
    assert r.status_code == 422
    assert error_summary(r.get_data(as_text=True)) == [
        (None, "この方の申込みは、参加をお断りしたものです。受け付けるかどうかは主催者に確認してください。")]
    assert db.session.get(type(rejected), rejected.id).status == "rejected"


def test_the_desks_json_answers_nobody_with_the_apis_error_shape(client, make):
    """The desk page's own JSON (state, scans) answers a caller without a session as the API does."""
    event = make.event()
    r = client.get(f"/events/{event.slug}/checkin/state.json")
    assert r.status_code == 401
    assert r.json == {"error": "login_required", "message": r.json["message"], "fields": {}}
