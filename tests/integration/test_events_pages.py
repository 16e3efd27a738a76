"""Event pages: what the public sees, and the organizer's editor working without JavaScript."""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta

import icalendar
import pytest
import vobject
from sqlalchemy import select

from eventsvc.core.clock import now_utc
from eventsvc.events import service as events_service
from eventsvc.events.models import Event
from eventsvc.extensions import db
from tests.integration.page_support import error_summary, page_forms

FORM = {
    "title": "自治体職員の勉強会 in 久留米",
    "summary": "書かないワンストップ窓口",
    "description": "",
    "starts_at": "2030-03-01T13:00",
    "ends_at": "2030-03-01T16:30",
    "venue_name": "久留米市役所",
    "venue_address": "",
    "online_url": "",
    "prefecture_code": "40",
    "region": "",
    "registration_opens_at": "",
    "registration_closes_at": "",
    "selection": "first_come",
    "allowed_email_domains": "lg.jp, go.jp",
    "ticket_types-0-code": "venue",
    "ticket_types-0-name": "会場参加",
    "ticket_types-0-capacity": "40",
    "ticket_types-1-code": "online",
    "ticket_types-1-name": "オンライン参加",
    "ticket_types-1-capacity": "60",
    "ticket_types-2-code": "",
    "ticket_types-2-name": "",
    "ticket_types-2-capacity": "",
}


def test_public_list_shows_published_upcoming_events_only(client, make):
    org = make.organizer()
    make.event(org, title="公開中の勉強会")
    make.event(org, title="下書きの勉強会", status="draft")
    past = make.event(org, title="過去の勉強会", starts_at=now_utc() - timedelta(days=30))
    html = client.get("/").get_data(as_text=True)
    assert "公開中の勉強会" in html
    assert "下書きの勉強会" not in html
    assert "過去の勉強会" not in html
    assert past.title in client.get("/past").get_data(as_text=True)


def test_region_and_prefecture_filters(client, make):
    org = make.organizer()
    make.event(org, title="那覇の会", prefecture_code="47")
    make.event(org, title="札幌の会", prefecture_code="01")
    html = client.get("/?region=kyushu_okinawa").get_data(as_text=True)
    assert "那覇の会" in html and "札幌の会" not in html
    html = client.get("/?prefecture=01").get_data(as_text=True)
    assert "札幌の会" in html and "那覇の会" not in html
    assert client.get("/?region=<script>&prefecture=zz").status_code == 200


def test_the_list_keeps_its_filter_in_the_calendar_link_and_says_full_as_the_event_page_does(client, make):
    org = make.organizer()
    make.event(org, title="那覇の会", prefecture_code="47", ticket_types=[events_service.TicketTypeData("venue", "会場参加", 1)])
    only = client.get("/?prefecture=47").get_data(as_text=True)
    assert 'href="/calendar.ics?prefecture=47"' in only
    assert "会場参加: 満席（キャンセル待ち）" not in only and "会場参加: 残り1席" in only
    e = db.session.scalars(select(Event).where(Event.title == "那覇の会")).one()
    make.registration(e)
    full = client.get("/?prefecture=47").get_data(as_text=True)
    assert "会場参加: 満席（キャンセル待ち）" in full and "残り0席" not in full
    feed = client.get("/calendar.ics?prefecture=47").get_data(as_text=True)
    assert "X-WR-CALNAME:勉強会（沖縄県）" in feed
    both = client.get("/?region=kyushu_okinawa").get_data(as_text=True)
    assert 'href="/calendar.ics?region=kyushu_okinawa"' in both
    none = client.get("/?region=hokkaido").get_data(as_text=True)
    assert "この条件に合う、受付中・開催予定の勉強会はありません。" in none and 'href="/">' in none


def test_event_page_shows_japanese_date_agenda_and_seats(client, make):
    e = make.event(title="自治体職員の勉強会 in 那覇")
    html = client.get(f"/events/{e.slug}").get_data(as_text=True)
    assert "自治体職員の勉強会 in 那覇" in html
    assert "13:30〜17:00" in html and "年" in html and "日(" in html
    assert "デジタル改革共創プラットフォームの使い方" in html
    assert "会場参加" in html
    assert 'lang="ja"' in html


@pytest.mark.parametrize("when, says", [
    ({"starts_at": now_utc() - timedelta(days=30)}, "このイベントは終了しました。"),
    ({"registration_closes_at": now_utc() - timedelta(hours=1)}, "申込受付は終了しました。"),
    ({"registration_opens_at": now_utc() + timedelta(days=3)}, "申込受付はまだ始まっていません。"),
])
def test_an_event_page_offers_to_register_only_while_registration_is_open(client, make, when, says):
    """A finished event, or one whose registration closed or has not opened, says so where the button
    would be, instead of a 参加を申し込む button that leads to a refusal."""
    open_event = make.event()
    assert "参加を申し込む" in client.get(f"/events/{open_event.slug}").get_data(as_text=True)
    e = make.event(**when)
    html = client.get(f"/events/{e.slug}").get_data(as_text=True)
    assert "参加を申し込む" not in html and f"/events/{e.slug}/register" not in html
    assert says in html
    client.set_cookie("lang", "en")
    english = client.get(f"/events/{e.slug}").get_data(as_text=True)
    assert "registration-closed" in english and says not in english


def test_a_cancelled_event_says_so_instead_of_offering_to_register(client, make):
    e = make.event(status="cancelled")
    html = client.get(f"/events/{e.slug}").get_data(as_text=True)
    assert "このイベントは中止になりました。" in html and "参加を申し込む" not in html


def test_drafts_are_404_for_the_public(client, make):
    e = make.event(status="draft")
    assert client.get(f"/events/{e.slug}").status_code == 404
    assert client.get(f"/events/{e.slug}.ics").status_code == 404
    assert client.get(f"/events/{e.slug}/poster").status_code == 404


def test_ics_download_parses_with_agenda_in_the_description(client, make):
    e = make.event()
    r = client.get(f"/events/{e.slug}.ics")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "attachment" in r.headers["Content-Disposition"]
    cal = icalendar.Calendar.from_ical(r.data)
    ev = next(iter(cal.walk("VEVENT")))
    assert "窓口BPR" in str(ev["description"])
    assert str(ev["url"]).endswith(f"/events/{e.slug}")
    v = vobject.readOne(r.data.decode())
    assert v.vevent.uid.value == f"{e.uid}@eventsvc"
    # UID is stable across edits
    assert client.get(f"/events/{e.slug}.ics").data.count(f"UID:{e.uid}@eventsvc".encode()) == 1


def test_calendar_feed_by_region(client, make):
    org = make.organizer()
    make.event(org, title="那覇の会", prefecture_code="47")
    make.event(org, title="札幌の会", prefecture_code="01")
    data = client.get("/calendar.ics?region=hokkaido").data
    cal = icalendar.Calendar.from_ical(data)
    assert [str(e["summary"]) for e in cal.walk("VEVENT")] == ["札幌の会"]
    vobject.readOne(data.decode())


def test_poster_and_qr_downloads(client, make):
    e = make.event()
    html = client.get(f"/events/{e.slug}/poster").get_data(as_text=True)
    assert "<svg" in html and "poster-qr" in html
    png = client.get(f"/events/{e.slug}/qr.png")
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    svg = client.get(f"/events/{e.slug}/qr.svg")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data


def test_manage_pages_need_login(client, make):
    e = make.event()
    r = client.get("/manage")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.get(f"/manage/events/{e.slug}/edit").status_code == 302
    assert client.post(f"/manage/events/{e.slug}/status/cancelled").status_code == 302


def test_wrong_password_keeps_email_and_says_why(client, organizer):
    r = client.post("/login", data={"email": organizer.email, "password": "wrong-password"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "メールアドレスまたはパスワードが正しくありません。" in html
    assert organizer.email in html


def test_a_start_in_the_past_is_saved_with_a_warning_about_the_year(client, organizer, login):
    """Recording a past session is allowed, but a start already past is most often a mistyped year:
    creating, moving the start and publishing say so; saving anything else does not repeat it."""
    login(organizer)
    warning = "は過去の日時です。年や日付に誤りがないか確かめてください。"
    past = {**FORM, "starts_at": "2020-03-10T13:00", "ends_at": "2020-03-10T15:00"}
    r = client.post("/manage/events/new", data=past)
    assert r.status_code == 302
    slug = r.headers["Location"].rsplit("/", 1)[-1]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "開催日時（2020年3月10日(火) 13:00〜15:00）" + warning in page
    r = client.post(f"/manage/events/{slug}/status/published")
    assert warning in client.get(r.headers["Location"]).get_data(as_text=True)
    r = client.post(f"/manage/events/{slug}/edit", data={**past, "summary": "資料を追加しました"})
    assert r.status_code == 302 and warning not in client.get(r.headers["Location"]).get_data(as_text=True)
    r = client.post(f"/manage/events/{slug}/edit", data=FORM)  # the year put right
    assert r.status_code == 302 and warning not in client.get(r.headers["Location"]).get_data(as_text=True)
    r = client.post("/manage/events/new", data=FORM)
    assert warning not in client.get(r.headers["Location"]).get_data(as_text=True)


def test_organizer_creates_edits_publishes_and_copies_without_js(app, client, organizer, login):
    login(organizer)
    r = client.post("/manage/events/new", data=FORM)
    assert r.status_code == 302, r.get_data(as_text=True)
    slug = r.headers["Location"].rsplit("/", 1)[-1]
    assert app.test_client().get(f"/events/{slug}").status_code == 404  # still a draft for the public
    assert client.get(f"/events/{slug}").status_code == 200  # its organizer previews it
    # agenda: one row filled, blank rows ignored
    r = client.post(f"/manage/events/{slug}/agenda", data={
        "items-0-day": "2030-03-01", "items-0-start": "13:10", "items-0-end": "14:10",
        "items-0-title": "書かないワンストップ窓口の取組", "items-0-speaker": "佐藤", "items-0-affiliation": "久留米市",
        "items-0-kind": "talk", "items-0-materials_url": "", "items-0-description": "",
        "items-1-day": "2030-03-01", "items-1-start": "", "items-1-end": "", "items-1-title": "",
        "items-1-kind": "talk"})
    assert r.status_code == 302, r.get_data(as_text=True)
    r = client.post(f"/manage/events/{slug}/status/published")
    assert r.status_code == 302
    html = client.get(f"/events/{slug}").get_data(as_text=True)
    assert "書かないワンストップ窓口の取組" in html and "2030年3月1日(金) 13:00〜16:30" in html
    r = client.post(f"/manage/events/{slug}/copy")
    assert r.status_code == 302 and r.headers["Location"].endswith("/edit")
    assert "2030-03-29T13:00" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_bad_form_input_keeps_what_was_typed(client, organizer, login):
    login(organizer)
    bad = {**FORM, "ends_at": "2030-03-01T12:00", "ticket_types-0-capacity": "-5", "title": "<b>太字</b>の勉強会"}
    r = client.post("/manage/events/new", data=bad)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "終了日時は開始日時より後にしてください。" in html
    assert "0〜100,000の整数です。" in html
    assert "&lt;b&gt;太字&lt;/b&gt;の勉強会" in html  # kept, escaped
    assert 'aria-invalid="true"' in html
    r = client.post("/manage/events/new", data={**FORM, "title": "nul\x00"})
    assert r.status_code == 422 and "制御文字は使用できません。" in r.get_data(as_text=True)
    r = client.post("/manage/events/new", data={**FORM, "starts_at": "2030-02-30T13:00"})
    assert r.status_code == 422


def test_agenda_outside_event_hours_is_refused_on_the_form(client, organizer, login, make):
    e = make.event(organizer, agenda=False)
    login(organizer)
    day = e.starts_at.astimezone().date().isoformat()
    from eventsvc.core.clock import to_jst

    day = to_jst(e.starts_at).date().isoformat()
    r = client.post(f"/manage/events/{e.slug}/agenda", data={
        "items-0-day": day, "items-0-start": "08:00", "items-0-end": "09:00", "items-0-title": "早朝",
        "items-0-kind": "talk"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "イベントの開催時間内にしてください。" in html and 'value="早朝"' in html


def test_other_organizers_events_are_404(client, make, login):
    owner, other = make.organizer(), make.organizer()
    e = make.event(owner, status="draft")
    login(other)
    assert client.get(f"/manage/events/{e.slug}").status_code == 404
    assert client.post(f"/manage/events/{e.slug}/status/published").status_code == 404


def test_forms_need_a_csrf_token(app, make):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        org = make.organizer()
        c = app.test_client()
        r = c.post("/login", data={"email": org.email, "password": "x"})
        assert r.status_code == 400
        assert "csrf_failed" in r.get_data(as_text=True)
        # sent from one of this site's pages: the way back to the form is offered (the browser keeps
        # what was typed); from elsewhere, only the top page
        r = c.post("/login", data={"email": org.email, "password": "x"}, headers={"Referer": "http://localhost/login"})
        assert '<a href="http://localhost/login">フォームのページに戻る</a>' in r.get_data(as_text=True)
        r = c.post("/login", data={"email": org.email}, headers={"Referer": "https://evil.example/login"})
        assert "evil.example" not in r.get_data(as_text=True) and "フォームのページに戻る" not in r.get_data(as_text=True)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_english_switch_sets_a_cookie(client, make):
    e = make.event()
    r = client.get(f"/lang/en?next=/events/{e.slug}")
    assert r.status_code == 302 and r.headers["Location"] == f"/events/{e.slug}"
    html = client.get(f"/events/{e.slug}").get_data(as_text=True)
    assert 'lang="en"' in html
    assert client.get("/lang/en?next=https://evil.example/").headers["Location"] == "/"


def test_security_headers_on_every_page(client):
    r = client.get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"


def test_required_field_messages_are_shown(client, organizer, login):
    """WTForms' lazy (translated) messages reach the page, tied to their field."""
    login(organizer)
    r = client.post("/manage/events/new", data={**FORM, "title": "", "starts_at": ""})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "タイトルを入力してください。" in html
    assert "開始日時を入力してください。" in html
    assert 'aria-describedby="title-error"' in html


def test_agenda_row_errors_are_at_the_row_and_in_the_summary(client, organizer, login, make):
    from eventsvc.core.clock import to_jst

    e = make.event(organizer, agenda=False)
    login(organizer)
    day = to_jst(e.starts_at).date().isoformat()
    row = {"day": day, "kind": "talk"}
    data = {}
    for i, fields in enumerate([{"start": "14:00", "end": "14:30", "title": "前"},
                                {"start": "15:00", "end": "14:00", "title": "逆"},
                                {"start": "14:30", "end": "15:00", "title": "", "materials_url": "ftp://x"},
                                {"start": "08:00", "end": "09:00", "title": "早朝"}]):
        data.update({f"items-{i}-{k}": v for k, v in {**row, **fields}.items()})
    r = client.post(f"/manage/events/{e.slug}/agenda", data=data)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert error_summary(html) == [
        ("#items-1-end", "2行目 終了: 終了時刻は開始時刻より後にしてください。"),
        ("#items-2-title", "3行目 題目: 入力してください。"),
        ("#items-2-materials_url", "3行目 資料のURL: http:// または https:// で始まるURLを入力してください。"),
        ("#items-3-start", "4行目 開始: イベントの開催時間内にしてください。"),
    ]
    for field_id in ("items-1-end", "items-2-title", "items-2-materials_url", "items-3-start"):
        tag = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in tag and f'aria-describedby="{field_id}-error"' in tag
        assert f'id="{field_id}-error"' in html


def test_a_row_without_times_does_not_hide_the_other_rows_mistakes(client, organizer, login, make):
    """All of a form's mistakes in one round: a row with a title but no times, and the other rows'
    own problems (end before start, outside the event, a URL that is not http), together."""
    from eventsvc.core.clock import to_jst

    e = make.event(organizer, agenda=False)
    login(organizer)
    day = to_jst(e.starts_at).date().isoformat()
    data = {}
    for i, fields in enumerate([{"start": "15:00", "end": "14:00", "title": "逆"},
                                {"start": "08:00", "end": "09:00", "title": "早朝", "materials_url": "javascript:alert(1)"},
                                {"start": "", "end": "", "title": "時刻なし"}]):
        data.update({f"items-{i}-{k}": v for k, v in {"day": day, "kind": "talk", **fields}.items()})
    r = client.post(f"/manage/events/{e.slug}/agenda", data=data)
    assert r.status_code == 422
    assert [link for link, _message in error_summary(r.get_data(as_text=True))] == [
        "#items-0-end", "#items-1-start", "#items-1-materials_url", "#items-2-start", "#items-2-end"]
    db.session.refresh(e)
    assert e.agenda_items == []


def test_ticket_type_mistakes_are_in_the_summary_and_capacity_is_marked_required(client, organizer, login):
    login(organizer)
    page = client.get("/manage/events/new").get_data(as_text=True)
    header = re.search(r"<thead>.*?</thead>", page, re.S).group(0)
    assert re.search(r'定員 <span class="required">必須</span>', header)
    for capacity, message in (("", "定員は0〜100,000の整数です。"), ("-5", "定員は0〜100,000の整数です。"),
                              ("100001", "定員は0〜100,000の整数です。")):
        r = client.post("/manage/events/new", data={**FORM, "ticket_types-1-capacity": capacity})
        assert r.status_code == 422
        assert error_summary(r.get_data(as_text=True)) == [
            ("#ticket_types-1-capacity", f"参加区分2の定員: {message}")], capacity
    r = client.post("/manage/events/new", data={**FORM, "ticket_types-1-code": "venue"})
    assert error_summary(r.get_data(as_text=True)) == [("#ticket_types-1-code", "参加区分2のコード: コードが重複しています。")]
    # a blank row above does not move the message to another row
    moved = {**FORM, "ticket_types-0-code": "", "ticket_types-0-name": "", "ticket_types-0-capacity": "",
             "ticket_types-2-code": "extra", "ticket_types-2-name": "追加", "ticket_types-2-capacity": "-1"}
    r = client.post("/manage/events/new", data=moved)
    html = r.get_data(as_text=True)
    assert error_summary(html) == [("#ticket_types-2-capacity", "参加区分3の定員: 定員は0〜100,000の整数です。")]
    assert re.search(r'<input[^>]*aria-invalid="true"[^>]*id="ticket_types-2-capacity"', html) or \
        re.search(r'<input[^>]*id="ticket_types-2-capacity"[^>]*aria-invalid="true"', html)


def _new_event_form(client, **typed) -> dict:
    """The new-event form as the page fills it in (its suggested participation types), with the
    event's own fields and ``typed`` (``{"ticket_types-1-capacity": "60"}`` …) typed in."""
    page = client.get("/manage/events/new").get_data(as_text=True)
    (form,) = [f for f in page_forms(page) if f["action"] == ""]
    data = {name: values[0] for name, values in form["fields"].items()}
    own = ("title", "starts_at", "ends_at", "venue_name", "prefecture_code", "region", "selection")  # selects: as a browser sends them
    return {**data, **{k: FORM[k] for k in own}, **typed, "submit": "保存"}


def _created(client, data):
    r = client.post("/manage/events/new", data=data)
    assert r.status_code == 302, error_summary(r.get_data(as_text=True))
    slug = r.headers["Location"].rsplit("/", 1)[-1]
    db.session.expire_all()
    event = db.session.scalar(db.select(Event).where(Event.slug == slug))
    return event, client.get(r.headers["Location"]).get_data(as_text=True)


def test_a_suggested_participation_type_left_without_capacity_is_not_created_and_the_organizer_is_told(
        client, organizer, login):
    login(organizer)
    page = client.get("/manage/events/new").get_data(as_text=True)
    assert "空の行は無視されます。あらかじめ入っている行（会場参加、オンライン参加）は、定員を入れたものだけ作成します。" \
           "使わない区分は、定員を空欄のままにしてください。" in page
    # a venue-only event: the オンライン参加 row is left as the form filled it, without a capacity
    event, shown = _created(client, _new_event_form(client, **{"ticket_types-0-capacity": "30"}))
    assert [(t.code, t.name, t.capacity) for t in event.ticket_types] == [("venue", "会場参加", 30)]
    assert "「オンライン参加」は定員が空欄だったので作成していません。必要なら、イベントの編集で追加できます。" in shown
    assert "「会場参加」は定員が空欄" not in shown
    # online only: the venue row is the one left out
    event, shown = _created(client, _new_event_form(client, **{"ticket_types-1-capacity": "100"}))
    assert [(t.code, t.capacity) for t in event.ticket_types] == [("online", 100)]
    assert "「会場参加」は定員が空欄だったので作成していません。" in shown
    # both given: both made, nothing to say
    event, shown = _created(client, _new_event_form(client, **{"ticket_types-0-capacity": "30",
                                                                "ticket_types-1-capacity": "0"}))
    assert [(t.code, t.capacity) for t in event.ticket_types] == [("venue", 30), ("online", 0)]
    assert "定員が空欄だったので" not in shown


def test_a_participation_type_the_organizer_touched_or_typed_is_never_dropped_for_its_empty_capacity(
        client, organizer, login):
    login(organizer)
    before = db.session.scalar(db.select(db.func.count()).select_from(Event))
    for typed, field_id in (
            ({"ticket_types-1-name": "オンライン参加（Zoom）"}, "ticket_types-1-capacity"),  # renamed
            ({"ticket_types-1-code": "zoom"}, "ticket_types-1-capacity"),  # another code
            ({"ticket_types-2-name": "見学", "ticket_types-2-code": "visit"}, "ticket_types-2-capacity")):  # typed
        r = client.post("/manage/events/new", data=_new_event_form(client, **{"ticket_types-0-capacity": "30"}, **typed))
        assert r.status_code == 422, typed
        n = int(field_id.split("-")[1]) + 1
        assert error_summary(r.get_data(as_text=True)) == [
            (f"#{field_id}", f"参加区分{n}の定員: 定員は0〜100,000の整数です。")], typed
    # nothing at all: the organizer is asked for one, and the suggestions come back as they were
    r = client.post("/manage/events/new", data=_new_event_form(client))
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "参加区分を1つ以上設定してください。" in html
    assert 'value="オンライン参加"' in html and "あらかじめ入っている行（会場参加、オンライン参加）" in html
    assert db.session.scalar(db.select(db.func.count()).select_from(Event)) == before
    # the event's edit page suggests nothing: a capacity emptied there is a mistake to point out
    event, _shown = _created(client, _new_event_form(client, **{"ticket_types-0-capacity": "30"}))
    page = client.get(f"/manage/events/{event.slug}/edit").get_data(as_text=True)
    assert "あらかじめ入っている行" not in page and "空の行は無視されます。" in page


def test_suggested_participation_types_in_english(client, organizer, login):
    login(organizer)
    client.set_cookie("lang", "en")
    page = client.get("/manage/events/new").get_data(as_text=True)
    assert 'value="In person"' in page and 'value="Online"' in page
    assert "Empty rows are ignored. The rows filled in for you (In person, Online) are created only " \
           "with a capacity: leave the capacity of a type you do not use empty." in page
    event, shown = _created(client, _new_event_form(client, **{"ticket_types-0-capacity": "30"}))
    assert [(t.code, t.name) for t in event.ticket_types] == [("venue", "In person")]
    assert "“Online” was not created: its capacity was empty. You can add it when you edit the event." \
        in html_lib.unescape(shown)


def _small_event(make, organizer, venue: int):
    from eventsvc.events.service import TicketTypeData

    return make.event(organizer, agenda=False, ticket_types=[TicketTypeData("venue", "会場参加", venue),
                                                             TicketTypeData("online", "オンライン参加", 60)])


def _save_capacity(client, e, venue: int, **changes):
    """Post the edit form with the venue type's capacity (and any other fields changed)."""
    r = client.post(f"/manage/events/{e.slug}/edit", data={**FORM, "ticket_types-0-capacity": str(venue), **changes})
    assert r.status_code == 302, r.get_data(as_text=True)
    return client.get(r.headers["Location"]).get_data(as_text=True)


def test_a_capacity_below_the_seats_held_is_saved_with_a_warning_and_nobody_is_bumped(client, organizer, login,
                                                                                     make):
    e = _small_event(make, organizer, 5)
    regs = [make.registration(e, ticket_type="venue") for _ in range(3)]
    login(organizer)
    html = _save_capacity(client, e, 2)
    assert "保存しました。" in html
    assert ("「会場参加」の定員（2）が、確定済み・繰り上げ案内中の人数（3）を下回っています。"
            "確定済みの方はそのまま参加できます。新しい申込みはキャンセル待ちになります。") in html
    assert 'class="notice notice-warning"' in html
    assert "オンライン参加」の定員" not in html  # one warning per type concerned
    assert [r.status for r in regs] == ["confirmed"] * 3
    assert make.registration(e, ticket_type="venue").status == "waitlisted"
    # saving again without changing that capacity does not repeat it; changing it to what is held is no warning
    assert "を下回っています" not in _save_capacity(client, e, 2, title="題名だけ変更")
    assert "を下回っています" not in _save_capacity(client, e, 3)


def test_lowering_a_capacity_that_still_covers_the_seats_held_warns_nobody(client, organizer, login, make):
    e = _small_event(make, organizer, 5)
    make.registration(e, ticket_type="venue")
    login(organizer)
    html = _save_capacity(client, e, 1)
    assert "保存しました。" in html and "を下回っています" not in html and "notice-warning" not in html


def test_two_participation_types_may_not_share_a_name(client, organizer, login, make):
    login(organizer)
    for typed in ("会場参加", " 会場参加 ", "会場参加\u3000"):
        r = client.post("/manage/events/new", data={**FORM, "ticket_types-1-name": typed})
        assert r.status_code == 422, typed
        assert error_summary(r.get_data(as_text=True)) == [
            ("#ticket_types-1-name", "参加区分2の名前: 名前が重複しています。")], typed
    e = _small_event(make, organizer, 5)
    r = client.post(f"/manage/events/{e.slug}/edit", data={**FORM, "ticket_types-1-name": "ｵﾝﾗｲﾝ参加",
                                                           "ticket_types-0-name": "オンライン参加"})
    assert r.status_code == 422
    assert error_summary(r.get_data(as_text=True)) == [("#ticket_types-1-name", "参加区分2の名前: 名前が重複しています。")]
    assert [t.name for t in e.ticket_types] == ["会場参加", "オンライン参加"]  # nothing saved


def _offer_mode(e, organizer):
    from eventsvc.extensions import db
    from eventsvc.registration import service as registration

    registration.update_settings(e, organizer, now_utc(), promotion_mode="offer", offer_hours=24, questions=[],
                                 lottery_at=None, privacy_purpose="")
    db.session.commit()


def test_raising_a_capacity_says_how_many_waiting_people_got_a_seat(client, organizer, login, make):
    e = _small_event(make, organizer, 1)
    regs = [make.registration(e, ticket_type="venue") for _ in range(5)]
    assert [r.status for r in regs] == ["confirmed"] + ["waitlisted"] * 4
    login(organizer)
    html = _save_capacity(client, e, 4)
    assert "「会場参加」の定員を増やしたので、キャンセル待ちの3人に席を割り当てました（確定のメールを送ります）。" in html
    assert "繰り上げの案内" not in html
    # raised again with nobody left to move up beyond the waitlist: the one still waiting
    html = _save_capacity(client, e, 10)
    assert "キャンセル待ちの1人に席を割り当てました" in html
    assert "定員を増やしたので" not in _save_capacity(client, e, 20)  # nobody waiting: nothing to say


def test_raising_a_capacity_in_offer_mode_says_how_many_were_offered_a_seat(client, organizer, login, make):
    e = _small_event(make, organizer, 1)
    _offer_mode(e, organizer)
    regs = [make.registration(e, ticket_type="venue") for _ in range(4)]
    login(organizer)
    html = _save_capacity(client, e, 3)
    assert ("「会場参加」の定員を増やしたので、キャンセル待ちの2人に繰り上げの案内を送ります"
            "（期限までに回答すると参加が確定します）。") in html
    assert "席を割り当てました" not in html
    from eventsvc.extensions import db

    for r in regs:
        db.session.refresh(r)
    assert [r.status for r in regs] == ["confirmed", "offered", "offered", "waitlisted"]


def test_an_event_without_a_venue_is_online_only_when_it_is(client, organizer, login, make):
    from eventsvc.events.service import TicketTypeData

    undecided = make.event(organizer, venue_name="", title="会場を調整中の勉強会",
                           ticket_types=[TicketTypeData("venue", "会場参加", 30)])
    online = make.event(organizer, venue_name="", title="オンラインの勉強会", online_url="https://meet.example.lg.jp/x",
                        ticket_types=[TicketTypeData("general", "参加", 30)])
    address_only = make.event(organizer, venue_name="", venue_address="那覇市字小禄1831番地1",
                              ticket_types=[TicketTypeData("venue", "会場参加", 30)])
    login(organizer)
    where = {"show": "<dd>{}</dd>", "manage": "<dd>{}</dd>", "poster": '<p class="poster-where">{}</p>'}
    for page, path in (("show", f"/events/{undecided.slug}"), ("manage", f"/manage/events/{undecided.slug}"),
                       ("poster", f"/events/{undecided.slug}/poster")):
        html = client.get(path).get_data(as_text=True)
        assert where[page].format("会場未定") in html and where[page].format("オンライン") not in html, path
    assert "LOCATION" not in client.get(f"/events/{undecided.slug}.ics").get_data(as_text=True)
    for page, path in (("show", f"/events/{online.slug}"), ("manage", f"/manage/events/{online.slug}"),
                       ("poster", f"/events/{online.slug}/poster")):
        html = client.get(path).get_data(as_text=True)
        assert where[page].format("オンライン") in html and "会場未定" not in html, path
    assert "LOCATION:オンライン" in client.get(f"/events/{online.slug}.ics").get_data(as_text=True)
    html = client.get(f"/events/{address_only.slug}").get_data(as_text=True)
    assert "<dd>那覇市字小禄1831番地1</dd>" in html  # the address stands for the venue, once
    cards = client.get("/").get_data(as_text=True)
    assert "会場未定" in cards  # the undecided one, in the list too
    # an event with a venue and an online type is shown by its venue, as before
    assert "那覇市IT創造館" in client.get(f"/events/{make.event(organizer).slug}").get_data(as_text=True)
    # the same hybrid event before its venue is decided is not "online": those at the venue need one
    hybrid = make.event(organizer, venue_name="", title="会場とオンラインの勉強会")  # 会場参加 + オンライン参加
    for page, path in (("show", f"/events/{hybrid.slug}"), ("manage", f"/manage/events/{hybrid.slug}"),
                       ("poster", f"/events/{hybrid.slug}/poster")):
        html = client.get(path).get_data(as_text=True)
        assert where[page].format("会場未定（オンライン参加あり）") in html, path
    assert "LOCATION" not in client.get(f"/events/{hybrid.slug}.ics").get_data(as_text=True)
