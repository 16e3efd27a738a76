"""Registration pages with the test client (no JavaScript): form, picker, attendee page, organizer pages, exports."""

from __future__ import annotations

import csv
import html as html_lib
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from eventsvc.core.clock import now_utc
from eventsvc.events import service as events
from eventsvc.extensions import db
from eventsvc.registration import service
from eventsvc.registration.models import Registration
from tests.integration.page_support import error_summary, page_forms

FORM = {"name": "比嘉 太郎", "name_kana": "ひが たろう", "email": "taro@city.naha.lg.jp", "prefecture": "47",
        "organization_code": "472018", "organization_name": "", "department": "デジタル推進課", "ticket_type": "venue",
        "consent_privacy": "y", "consent_rules": "y", "consent_listing": "y", "submit": "申し込む"}


@pytest.fixture
def event(make, organizer):
    return make.event(org=organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 1),
                                                   events.TicketTypeData("online", "オンライン参加", 10)])


def count():
    return db.session.scalar(select(func.count()).select_from(Registration))


def test_event_page_links_to_the_form_and_form_preselects_the_prefecture(client, event):
    page = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert f"/events/{event.slug}/register" in page
    form = client.get(f"/events/{event.slug}/register").get_data(as_text=True)
    assert '<option selected value="472018">那覇市</option>' in form or 'value="472018"' in form
    assert "個人情報の利用目的" in form and "<script" in form and "org-picker.js" in form
    assert 'aria-describedby="name_kana-hint"' in form


def test_register_without_javascript_redirects_to_the_attendee_page(client, event):
    r = client.post(f"/events/{event.slug}/register", data=FORM)
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    assert "/my/" in r.headers["Location"]
    page = client.get(r.headers["Location"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    reg = db.session.scalar(select(Registration))
    assert reg.ticket_code in html and "参加確定" in html and "<svg" in html
    assert page.headers["Cache-Control"] == "private, no-store"
    assert reg.name_kana == "ヒガ タロウ" and reg.consent_listing and not reg.consent_slack_mention


def test_the_prefecture_button_shows_its_municipalities_without_js(client, event):
    r = client.post(f"/events/{event.slug}/register", data={**FORM, "prefecture": "40", "organization_code": "",
                                                            "pick_prefecture": "表示", "submit": ""})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "久留米市" in html and count() == 0
    assert 'value="比嘉 太郎"' in html  # what was typed stays
    r = client.post(f"/events/{event.slug}/register", data={**FORM, "prefecture": "gov", "organization_code": "",
                                                            "pick_prefecture": "表示", "submit": ""})
    assert "デジタル庁" in r.get_data(as_text=True)


def test_all_problems_at_once_with_typed_values_kept(client, event):
    bad = {**FORM, "name": "", "name_kana": "Higa", "email": "not-an-address", "organization_code": "",
           "consent_privacy": "", "consent_rules": "", "department": "<b>課</b>"}
    r = client.post(f"/events/{event.slug}/register", data=bad)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    for field in ("name", "name_kana", "email", "organization_name", "consent_privacy", "consent_rules"):
        assert f'id="{field}-error"' in html, field
    assert 'value="Higa"' in html and 'value="not-an-address"' in html
    assert "&lt;b&gt;課&lt;/b&gt;" in html and "<b>課</b>" not in html
    assert count() == 0


@pytest.mark.parametrize("change", [
    {"name": "比嘉\x00太郎"}, {"name": "比嘉\u202e太郎"}, {"name": "x" * 101}, {"department": "x" * 201},
    {"ticket_type": "vip"}, {"organization_code": "999999"}, {"email": "a@" + "b" * 300 + ".lg.jp"},
    {"name": "\u200b"}, {"name": "\u2060"}, {"organization_code": "", "organization_name": "\u200b"},
])
def test_bad_input_on_the_form_is_a_422_never_a_500(client, event, change):
    r = client.post(f"/events/{event.slug}/register", data={**FORM, **change})
    assert r.status_code == 422, r.status_code
    assert "error-summary" in r.get_data(as_text=True)
    assert count() == 0


def test_rare_kanji_and_emoji_round_trip_through_the_form(client, event):
    r = client.post(f"/events/{event.slug}/register", data={**FORM, "name": "𠮷田 花子🌺"})
    assert r.status_code == 302
    assert "𠮷田 花子🌺" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_duplicate_and_closed_on_the_form(client, event, make):
    assert client.post(f"/events/{event.slug}/register", data=FORM).status_code == 302
    r = client.post(f"/events/{event.slug}/register", data={**FORM, "email": "TARO@city.naha.lg.jp"})
    assert r.status_code == 409
    assert "既に申し込まれています" in r.get_data(as_text=True) and "my-link" in r.get_data(as_text=True)
    closed = make.event(status="closed")
    r = client.post(f"/events/{closed.slug}/register", data=FORM)
    assert r.status_code == 409 and "受付は終了" in r.get_data(as_text=True)
    assert client.get(f"/events/{closed.slug}/register").status_code == 200


def test_the_form_says_when_registration_opens_and_when_it_closes_or_closed(client, event):
    from eventsvc.core.clock import format_datetime

    opens, closes = now_utc() + timedelta(days=3), now_utc() + timedelta(days=10)
    event.registration_opens_at, event.registration_closes_at = opens, closes
    db.session.commit()
    notice = re.compile(r'<div class="notice notice-warning"[^>]*>(.*?)</div>', re.S)
    for r in (client.get(f"/events/{event.slug}/register"), client.post(f"/events/{event.slug}/register", data=FORM)):
        html = r.get_data(as_text=True)
        text = " ".join(re.sub(r"<[^>]+>", "", notice.search(html).group(1)).split())
        assert text == f"注意: 申込受付はまだ始まっていません。受付開始は{format_datetime(opens)}です。", r.status_code
        assert f"<p>申込締切: {format_datetime(closes)}</p>" in html
        assert "registration-form" not in html
    assert r.status_code == 409 and count() == 0
    # the event page says it too, while it is ahead
    page = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert f"<dt>申込受付開始</dt><dd>{format_datetime(opens)}</dd>" in page
    # open: the form says until when
    event.registration_opens_at = now_utc() - timedelta(days=1)
    db.session.commit()
    html = client.get(f"/events/{event.slug}/register").get_data(as_text=True)
    assert "registration-form" in html and f"<p>申込締切: {format_datetime(closes)}</p>" in html
    assert "申込受付開始" not in client.get(f"/events/{event.slug}").get_data(as_text=True)
    # closed: since when
    event.registration_closes_at = closes = now_utc() - timedelta(hours=2)
    db.session.commit()
    html = client.get(f"/events/{event.slug}/register").get_data(as_text=True)
    text = " ".join(re.sub(r"<[^>]+>", "", notice.search(html).group(1)).split())
    assert text == f"注意: 申込受付は終了しました（締切: {format_datetime(closes)}）。"
    # in English, with the time zone
    client.set_cookie("lang", "en")
    event.registration_opens_at, event.registration_closes_at = opens, None
    db.session.commit()
    html = client.get(f"/events/{event.slug}/register").get_data(as_text=True)
    text = " ".join(re.sub(r"<[^>]+>", "", notice.search(html).group(1)).split())
    assert text == f"Warning: Registration has not opened yet. It opens on {format_datetime(opens, 'en')} (Japan time)."
    assert "Registration closes" not in html


def test_questions_render_and_validate(client, event, organizer):
    service.update_settings(event, organizer, event.created_at, promotion_mode="auto", offer_hours=48, questions=[
        service.Question("topic", "single", "関心のあるテーマ", ["窓口BPR", "ウェブサイト"], True),
        service.Question("tools", "multiple", "使っているツール", ["Slack", "kintone"], False)],
        lottery_at=None, privacy_purpose="名札と連絡のためだけに使います。")
    db.session.commit()
    html = client.get(f"/events/{event.slug}/register").get_data(as_text=True)
    assert "関心のあるテーマ" in html and "名札と連絡のためだけに使います。" in html
    r = client.post(f"/events/{event.slug}/register", data=FORM)
    assert r.status_code == 422 and 'id="q_topic-error"' in r.get_data(as_text=True)
    r = client.post(f"/events/{event.slug}/register", data={**FORM, "q_topic": "窓口BPR", "q_tools": ["kintone"]})
    assert r.status_code == 302
    assert db.session.scalar(select(Registration)).answers == {"topic": "窓口BPR", "tools": ["kintone"]}


def test_org_search_for_type_ahead(client, event):
    hits = client.get("/organizations/search?q=なは").json
    assert hits[0]["code"] == "472018" and hits[0]["prefecture"] == "47"
    assert client.get("/organizations/search?q=デジタル").json[0]["prefecture"] == "gov"
    assert client.get("/organizations/search?q=").json == []


def attendee_url(reg):
    return f"/my/{service.link_token(reg)}"


def test_attendee_page_get_never_changes_state_and_cancel_is_a_post(client, make, event):
    a, b = make.registration(event), make.registration(event)
    url = attendee_url(a)
    for _ in range(3):
        assert client.get(url).status_code == 200
        assert client.get(url + "/cancel").status_code == 200  # the question, not the act
    db.session.expire_all()
    assert db.session.get(Registration, a.id).status == "confirmed"
    r = client.post(url + "/cancel")
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Registration, a.id).status == "cancelled"
    assert db.session.get(Registration, b.id).status == "confirmed"
    assert "取り消されています" in client.get(url).get_data(as_text=True)


def deliveries():
    from eventsvc.outbox.models import Delivery
    return db.session.scalar(select(func.count()).select_from(Delivery))


def test_cancel_button_leads_to_a_page_that_asks_first_and_changes_nothing(client, make, event):
    reg = make.registration(event)
    url = attendee_url(reg)
    page = client.get(url).get_data(as_text=True)
    # the attendee page links to the question; it holds no form that cancels
    assert f'href="{url}/cancel"' in page and f'action="{url}/cancel"' not in page
    sent, updated = deliveries(), reg.updated_at
    for _ in range(3):  # mail scanners and link previews open links too
        r = client.get(url + "/cancel")
        assert r.status_code == 200
        assert r.headers["Cache-Control"] == "private, no-store"
        html = r.get_data(as_text=True)
        assert html.count("<h1") == 1 and "<title>参加のキャンセル - " in html
        assert event.title in html and "会場参加" in html and "参加確定" in html
        assert f'<form method="post" action="{url}/cancel">' in html
        assert "参加をキャンセルする</button>" in html and f'<a href="{url}">キャンセルしない（戻る）</a>' in html
        assert "キャンセル待ちの方に移ります" in html and "元に戻せません" in html
        assert "もう一度申し込めます" in html
    db.session.expire_all()
    saved = db.session.get(Registration, reg.id)
    assert (saved.status, saved.updated_at, deliveries()) == ("confirmed", updated, sent)
    # the form's own button cancels
    r = client.post(url + "/cancel")
    assert r.status_code == 302 and r.headers["Location"] == url
    db.session.expire_all()
    assert db.session.get(Registration, reg.id).status == "cancelled"
    assert deliveries() == sent + 1  # the cancellation mail


def test_cancel_page_of_a_registration_already_cancelled_or_rejected_has_no_form(client, make, event):
    for reg in (make.registration(event, status="cancelled"), make.registration(event, status="rejected")):
        url = attendee_url(reg)
        r = client.get(url + "/cancel")
        assert r.status_code == 302 and r.headers["Location"] == url
        page = client.get(r.headers["Location"]).get_data(as_text=True)
        assert "取り消されています" in page and "/cancel" not in page


def test_cancel_page_says_what_is_lost_for_a_waitlisted_person_after_registration_closed(client, make, event):
    make.registration(event)  # the only seat
    reg = make.registration(event)
    event.registration_closes_at = now_utc() - timedelta(minutes=1)
    db.session.commit()
    html = client.get(attendee_url(reg) + "/cancel").get_data(as_text=True)
    assert "キャンセル待ち" in html and 'id="waitlist-position">1番目' in html
    assert "キャンセル待ちの順番がなくなります" in html and "席は、キャンセル待ちの方に移ります" not in html
    assert "もう一度申し込むことはできません" in html and "もう一度申し込めます" not in html


def test_cancel_form_carries_its_csrf_token(app, client, make, event, monkeypatch):
    reg = make.registration(event)
    url = attendee_url(reg)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert client.post(url + "/cancel").status_code == 400
    db.session.expire_all()
    assert db.session.get(Registration, reg.id).status == "confirmed"
    html = client.get(url + "/cancel").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    assert client.post(url + "/cancel", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Registration, reg.id).status == "cancelled"


def test_who_cancelled_is_offered_to_apply_again_on_the_form(client, make, event):
    reg = make.registration(event, email="taro@city.naha.lg.jp")
    url = attendee_url(reg)
    client.post(url + "/cancel")
    page = client.get(url).get_data(as_text=True)
    assert "取り消されています" in page
    link = re.search(rf'href="(/events/{event.slug}/register\?again=[^"]+)"', page).group(1)
    # the form comes filled in with what was typed the first time (the consents to tick again)
    r = client.get(html_lib.unescape(link))
    form = r.get_data(as_text=True)
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Referrer-Policy"] != "same-origin"
    assert 'value="taro@city.naha.lg.jp"' in form and f'value="{reg.name}"' in form
    assert not re.search(r'<input[^>]*name="consent_privacy"[^>]*checked', form)
    # a link of another event's, or a broken one, gives the empty form
    blank = client.get(f"/events/{event.slug}/register?again=nonsense").get_data(as_text=True)
    assert "taro@city.naha.lg.jp" not in blank
    r = client.post(f"/events/{event.slug}/register", data={**FORM, "email": "Taro@City.Naha.lg.jp"})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    db.session.expire_all()
    again = db.session.get(Registration, reg.id)
    assert again.status == "confirmed" and again.reapplications == 1
    assert client.get(url).status_code == 410  # the old link died with the old application (it says so)
    # once the event stops taking registrations, the page no longer offers it
    service.cancel(again, again, now_utc())
    event.registration_closes_at = now_utc() - timedelta(minutes=1)
    db.session.commit()
    page = client.get(attendee_url(again)).get_data(as_text=True)
    assert "取り消されています" in page and "/register" not in page


def test_a_link_of_the_application_before_applying_again_says_so_and_offers_a_new_link(client, make, event):
    reg = make.registration(event, ticket_type="online", email="taro@city.naha.lg.jp")
    old = attendee_url(reg)
    assert client.post(old + "/cancel").status_code == 302
    r = client.post(f"/events/{event.slug}/register", data={**FORM, "ticket_type": "online"})
    assert r.status_code == 302, error_summary(r.get_data(as_text=True))
    db.session.expire_all()
    again = db.session.get(Registration, reg.id)
    assert again.reapplications == 1 and again.status == "confirmed"
    new = attendee_url(again)
    for method, sub in (("get", ""), ("get", "/cancel"), ("post", "/cancel"), ("get", "/edit"), ("post", "/edit"),
                        ("get", "/participants"), ("get", "/ticket.png"), ("post", "/accept")):
        r = getattr(client, method)(old + sub)
        assert r.status_code == 410, (method, sub)
        html = r.get_data(as_text=True)
        assert "<h1>このリンクは、申し込み直す前のものです</h1>" in html, (method, sub)
        assert "申し込み直したときに、新しいリンクをメールでお送りしています。" in html
        assert f'href="/events/{event.slug}/my-link">新しいリンクをメールで受け取る</a>' in html
        assert again.ticket_code not in html and again.email not in html and again.name not in html
    db.session.expire_all()
    assert db.session.get(Registration, reg.id).status == "confirmed"  # the old link cancelled nothing
    assert client.get(new).status_code == 200
    # the page it offers sends the current link
    assert client.get(f"/events/{event.slug}/my-link").status_code == 200
    # in English
    client.set_cookie("lang", "en")
    html = client.get(old).get_data(as_text=True)
    assert "<h1>This link is from before you applied again</h1>" in html and "Get a new link by email" in html
    client.set_cookie("lang", "ja")
    # a tampered link, or one of a person whose data is erased, is still just not found
    assert client.get(old[:-2] + ("xx" if not old.endswith("xx") else "yy")).status_code == 404
    from eventsvc.registration import privacy

    privacy.erase_registration(again, now_utc())
    db.session.commit()
    for url in (old, new):
        r = client.get(url)
        assert r.status_code == 404 and "申し込み直す前" not in r.get_data(as_text=True)


@pytest.mark.parametrize("sub", ["", "/cancel"])
def test_bad_and_expired_links(client, make, event, app, sub):
    reg = make.registration(event)
    assert client.get(f"/my/not-a-token{sub}").status_code == 404
    tampered = service.link_token(reg)[:-2] + "xx"
    assert client.get(f"/my/{tampered}{sub}").status_code == 404
    app.config["REGISTRATION_LINK_MAX_AGE_DAYS"] = -1
    try:
        r = client.get(attendee_url(reg) + sub)
        assert r.status_code == 410 and "my-link" in r.get_data(as_text=True)
        assert client.post(attendee_url(reg) + sub).status_code == (410 if sub else 405)
    finally:
        app.config.pop("REGISTRATION_LINK_MAX_AGE_DAYS")
    db.session.expire_all()
    assert db.session.get(Registration, reg.id).status == "confirmed"


def test_links_signed_by_itsdangerous_as_before_still_open_the_page(client, make, event, app):
    """Links are signed without trying compression (a link's payload never shrinks): the token is
    the one itsdangerous' own serializer makes, and one it compressed still opens the page."""
    from itsdangerous import URLSafeTimedSerializer

    reg = make.registration(event)
    plain = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=service.LINK_SALT)
    payload = plain.loads(service.link_token(reg))
    assert payload == {"r": reg.id, "h": reg.attendee_token_hash[:16]}
    assert service.link_token(reg).split(".")[0] == plain.dumps(payload).split(".")[0]
    compressed = plain.dumps({**payload, "pad": "x" * 200})  # long enough for zlib to shrink it
    assert compressed.startswith(".")
    assert client.get(f"/my/{compressed}").status_code == 200


def test_resend_link_says_the_same_either_way(client, make, event):
    make.registration(event, email="taro@city.naha.lg.jp")
    from eventsvc.outbox.models import Delivery
    before = db.session.scalar(select(func.count()).select_from(Delivery))
    for email in ("taro@city.naha.lg.jp", "nobody@city.naha.lg.jp"):
        r = client.post(f"/events/{event.slug}/my-link", data={"email": email})
        assert r.status_code == 200 and "お送りしました" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == before + 1


def test_offer_accept_from_the_attendee_page(client, make, organizer):
    e = make.event(org=organizer, ticket_types=[events.TicketTypeData("venue", "会場", 1)])
    service.update_settings(e, organizer, e.created_at, promotion_mode="offer", offer_hours=48, questions=[],
                            lottery_at=None, privacy_purpose="")
    a, b = make.registration(e), make.registration(e)
    client.post(attendee_url(a) + "/cancel")
    html = client.get(attendee_url(b)).get_data(as_text=True)
    assert "繰り上げのご案内" in html
    assert client.post(attendee_url(b) + "/accept").status_code == 302
    db.session.expire_all()
    assert db.session.get(Registration, b.id).status == "confirmed"


def test_edit_details_and_participation_type(client, make, event):
    reg = make.registration(event)
    url = attendee_url(reg) + "/edit"
    html = client.get(url).get_data(as_text=True)
    assert reg.name in html
    r = client.post(url, data={"d-name": "比嘉 一郎", "d-name_kana": "ひが いちろう", "d-prefecture": "47",
                               "d-organization_code": "472085", "d-department": "", "d-submit": "保存"})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    db.session.expire_all()
    saved = db.session.get(Registration, reg.id)
    assert (saved.name, saved.name_kana, saved.organization_name) == ("比嘉 一郎", "ヒガ イチロウ", "沖縄県浦添市")
    r = client.post(url, data={"d-name": "", "d-name_kana": "", "d-submit": "保存"})
    assert r.status_code == 422
    # an overlong name is told in the app's own words (not WTForms' "フィールドは 100 文字を超える…")
    r = client.post(url, data={"d-name": "比" * 101, "d-name_kana": "ひが", "d-prefecture": "47",
                               "d-organization_code": "472085", "d-submit": "保存"})
    assert r.status_code == 422 and "100文字以内で入力してください。" in r.get_data(as_text=True)
    assert "フィールドは" not in r.get_data(as_text=True)
    r = client.post(url, data={"t-ticket_type": "online", "t-submit": "変更"})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Registration, reg.id).ticket_type.code == "online"


def test_participants_only_for_consenting_confirmed_attendees(client, make, event):
    shown = make.registration(event, ticket_type="online", name="見える 人", department="秘密の係")
    hidden = make.registration(event, ticket_type="online", name="見えない 人", consent_listing=False)
    html = client.get(attendee_url(shown) + "/participants").get_data(as_text=True)
    assert "見える 人" in html and "見えない 人" not in html
    assert "秘密の係" not in html and shown.email not in html
    # the rule is said once (the page's footer says it, as on every page), in either language
    assert html.count("ここでの発言は個人の見解であり、所属組織の見解ではありません。") == 1
    client.set_cookie("lang", "en")
    html = client.get(attendee_url(shown) + "/participants").get_data(as_text=True)
    assert html.count("Views expressed here are personal and not those of anyone’s organization.") == 1
    assert client.get(attendee_url(hidden) + "/participants").status_code == 403


@pytest.fixture
def manager(client, login, organizer):
    login(organizer)
    return client


def test_organizer_list_counts_search_filters_and_actions(manager, make, event):
    a = make.registration(event, name="比嘉 太郎", name_kana="ヒガ タロウ", organization_code="472018")
    b = make.registration(event, name="知念 花子", name_kana="ちねん はなこ", organization_code="472085")
    p = make.registration(event, email="x@example.com", name="外部 さん")
    base = f"/manage/events/{event.slug}/registrations"
    html = manager.get(base).get_data(as_text=True)
    assert 'id="count-confirmed">1<' in html and 'id="count-waitlisted">1<' in html
    assert 'id="count-pending_review">1<' in html
    assert "知念 花子" in manager.get(base + "?q=浦添").get_data(as_text=True)
    assert "比嘉 太郎" not in manager.get(base + "?q=浦添").get_data(as_text=True)
    assert "知念 花子" in manager.get(base + "?q=チネン").get_data(as_text=True)
    assert "比嘉 太郎" not in manager.get(base + "?q=チネン").get_data(as_text=True)
    assert "外部 さん" in manager.get(base + "?status=pending_review").get_data(as_text=True)
    r = manager.post(f"/manage/registrations/{p.id}/review", data={"message": "ようこそ", "approve": "承認"})
    assert r.status_code == 302
    r = manager.post(f"/manage/registrations/{a.id}/cancel")
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Registration, a.id).status == "cancelled"
    assert db.session.get(Registration, b.id).status == "confirmed"  # moved up
    assert db.session.get(Registration, p.id).status == "waitlisted"
    assert manager.get(f"/manage/registrations/{p.id}").status_code == 200


def test_other_organizers_see_nothing(client, login, make, event):
    reg = make.registration(event)
    login(make.organizer())
    assert client.get(f"/manage/events/{event.slug}/registrations").status_code == 404
    assert client.get(f"/manage/registrations/{reg.id}").status_code == 404
    assert client.post(f"/manage/registrations/{reg.id}/cancel").status_code == 404
    assert client.get(f"/manage/events/{event.slug}/registrations.csv").status_code == 404


def test_csv_export_has_bom_and_neutralises_formulas(manager, make, event):
    make.registration(event, name="=HYPERLINK(\"http://evil\")", department="+81-98", organization_code=None,
                      organization_name="@SUM(A1)")
    r = manager.get(f"/manage/events/{event.slug}/registrations.csv")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    raw = r.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert r.headers["Cache-Control"] == "no-store"  # personal data: no copy in a browser or proxy cache
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:4] == ["id", "状態", "参加区分", "氏名"]
    assert rows[1][3] == "'=HYPERLINK(\"http://evil\")"
    assert rows[1][7] == "'@SUM(A1)" and rows[1][8] == "'+81-98"


def test_exports_follow_the_lists_filters(manager, make, event):
    make.registration(event, name="比嘉 太郎", name_kana="ひが たろう")
    make.registration(event, name="知念 花子", name_kana="ちねん はなこ")
    page = manager.get(f"/manage/events/{event.slug}/registrations?q=ちねん").get_data(as_text=True)
    link = f"/manage/events/{event.slug}/registrations.csv?q=%E3%81%A1%E3%81%AD%E3%82%93"
    assert f'href="{link}"' in page and "絞り込んだ1件を書き出します。" in page
    rows = list(csv.reader(io.StringIO(manager.get(link).get_data().decode("utf-8-sig"))))
    assert [r[3] for r in rows[1:]] == ["知念 花子"]
    # without a filter: everyone, and no note
    page = manager.get(f"/manage/events/{event.slug}/registrations").get_data(as_text=True)
    assert "絞り込んだ" not in page
    rows = list(csv.reader(io.StringIO(manager.get(f"/manage/events/{event.slug}/registrations.csv")
                                       .get_data().decode("utf-8-sig"))))
    assert len(rows) == 3


def test_xlsx_export_never_contains_formulas(manager, make, event):
    from openpyxl import load_workbook

    make.registration(event, name="=1+1", organization_code=None, organization_name="-cmd")
    r = manager.get(f"/manage/events/{event.slug}/registrations.xlsx")
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.get_data())).active
    row = [c.value for c in ws[2]]
    assert r.headers["Cache-Control"] == "no-store"
    # text cells are typed as text: shown as typed, never run (no apostrophe needed, none added)
    assert row[3] == "=1+1" and row[7] == "-cmd"
    assert ws.cell(2, 4).data_type == "s" and all(c.data_type != "f" for c in ws[2])


def test_exports_say_when_each_person_was_checked_in(manager, make, organizer, event):
    from datetime import UTC, datetime

    from openpyxl import load_workbook

    from eventsvc.checkin import service as checkin

    came = make.registration(event, ticket_type="online", name="来た 人")
    make.registration(event, ticket_type="online", name="来ない 人")
    undone = make.registration(event, ticket_type="online", name="取り消し 人")
    desk = checkin.Actor.organizer(organizer)
    at = datetime(2030, 2, 15, 4, 5, tzinfo=UTC)  # 13:05 in Japan
    for reg in (came, undone):
        checkin.check_in(event, reg.ticket_code, device_id="d", nonce=None, scanned_at=at, method="scanner",
                         actor=desk, now=at)
    checkin.undo_checkin(event, undone.id, actor=desk, now=at)
    db.session.commit()
    rows = list(csv.reader(io.StringIO(manager.get(f"/manage/events/{event.slug}/registrations.csv")
                                       .get_data().decode("utf-8-sig"))))
    column = rows[0].index("受付日時")
    assert rows[0][column - 1] == "受付コード"
    assert {r[3]: r[column] for r in rows[1:]} == {"来た 人": "2030-02-15 13:05", "来ない 人": "", "取り消し 人": ""}
    ws = load_workbook(io.BytesIO(manager.get(f"/manage/events/{event.slug}/registrations.xlsx").get_data())).active
    sheet = [[c.value for c in row] for row in ws.iter_rows()]
    assert {r[3]: r[column] for r in sheet[1:]} == {"来た 人": "2030-02-15 13:05", "来ない 人": None,
                                                   "取り消し 人": None}


def test_exports_speak_the_language_of_the_page(manager, make, organizer, event):
    """In the English UI the columns and states are English; what people typed and the organizer's
    own questions stay as written."""
    from openpyxl import load_workbook

    from eventsvc.checkin import service as checkin

    reg = make.registration(event, name="英語 太郎")
    checkin.check_in(event, reg.ticket_code, device_id="d", nonce=None, scanned_at=None, method="scanner",
                     actor=checkin.Actor.organizer(organizer), now=now_utc())
    db.session.commit()
    manager.get("/lang/en?next=/")
    rows = list(csv.reader(io.StringIO(manager.get(f"/manage/events/{event.slug}/registrations.csv")
                                       .get_data().decode("utf-8-sig"))))
    assert rows[0][:16] == ["id", "Status", "Participation type", "Full name", "Reading (furigana)", "Email address",
                            "Organisation code", "Organization", "Department", "Facilitator",
                            "Shown in the attendee list", "Mentioned on Slack", "Waitlist position", "Registered at",
                            "Check-in code", "Checked in at"]
    assert rows[1][1] == "Confirmed" and rows[1][3] == "英語 太郎"
    ws = load_workbook(io.BytesIO(manager.get(f"/manage/events/{event.slug}/registrations.xlsx").get_data())).active
    assert [c.value for c in next(ws.iter_rows())][:3] == ["id", "Status", "Participation type"]
    manager.get("/lang/ja?next=/")
    japanese = manager.get(f"/manage/events/{event.slug}/registrations.csv").get_data().decode("utf-8-sig")
    assert japanese.splitlines()[0].startswith("id,状態,参加区分,氏名,ふりがな,メールアドレス,団体コード,")


def test_the_cancel_button_says_when_cancelling_takes_a_check_in_back(manager, make, organizer, event):
    """Cancelling takes the person's check-in back: the organizer's page says so next to the button
    (tied to it), only while the person is checked in; in English too."""
    from eventsvc.checkin import service as checkin

    came, other = make.registration(event, ticket_type="online"), make.registration(event, ticket_type="online")
    desk = checkin.Actor.organizer(organizer)
    checkin.check_in(event, came.ticket_code, device_id="d", nonce=None, scanned_at=None, method="scanner",
                     actor=desk, now=now_utc())
    db.session.commit()
    notice = "この方は受付済みです。キャンセルすると、受付も取り消されます。"
    html = manager.get(f"/manage/registrations/{came.id}").get_data(as_text=True)
    assert f'<p class="notice notice-warning" id="cancel-notice"><span class="notice-label">注意:</span> {notice}</p>' in html
    # the page's キャンセルする leads to a confirmation, which says it again, tied to its button
    link = re.search(r'<a class="button button-danger" href="(/manage/registrations/\d+/cancel\?back=[^"]+)" '
                     r'aria-describedby="cancel-notice">キャンセルする</a>', html)
    confirm = manager.get(html_lib.unescape(link.group(1))).get_data(as_text=True)
    assert f'<span class="notice-label">注意:</span> {notice}</p>' in confirm
    assert ('<button type="submit" class="button button-danger" aria-describedby="cancel-notice cancel-warning">'
            'キャンセルする</button>') in confirm
    manager.get("/lang/en?next=/")
    english = manager.get(f"/manage/registrations/{came.id}").get_data(as_text=True)
    assert "This person is checked in. Cancelling will also undo the check-in." in english
    manager.get("/lang/ja?next=/")
    page = manager.get(f"/manage/registrations/{other.id}").get_data(as_text=True)  # not checked in
    assert notice not in page and "cancel-notice" not in page
    checkin.undo_checkin(event, came.id, actor=desk, now=now_utc())  # undone at the desk: nothing to take back
    db.session.commit()
    assert notice not in manager.get(f"/manage/registrations/{came.id}").get_data(as_text=True)
    checkin.check_in(event, came.ticket_code, device_id="d", nonce=None, scanned_at=None, method="scanner",
                     actor=desk, now=now_utc())
    db.session.commit()
    assert manager.post(f"/manage/registrations/{came.id}/cancel").status_code == 302
    page = manager.get(f"/manage/registrations/{came.id}").get_data(as_text=True)  # cancelled: no button, no notice
    assert notice not in page and "キャンセルする</button>" not in page


def test_the_lists_cancel_buttons_say_which_cancellations_take_a_check_in_back(manager, make, organizer, event):
    """The registrations list's キャンセル (which leads to the confirmation): the row of a person checked in says, next to its
    キャンセル button and as the button's description, that cancelling takes the check-in back; other rows
    say nothing; in English too. Who is checked in is read once for the whole list."""
    from sqlalchemy import event as sa_event

    from eventsvc.checkin import service as checkin
    from eventsvc.checkin.models import Checkin

    came, other = make.registration(event, ticket_type="online"), make.registration(event, ticket_type="online")
    left = make.registration(event, ticket_type="online")
    desk = checkin.Actor.organizer(organizer)
    for reg in (came, left):
        checkin.check_in(event, reg.ticket_code, device_id="d", nonce=None, scanned_at=None, method="scanner",
                         actor=desk, now=now_utc())
    db.session.commit()
    service.cancel(left, organizer, now_utc())  # cancelled: no button, nothing to take back
    db.session.commit()
    url = f"/manage/events/{event.slug}/registrations"
    notice = "この方は受付済みです。キャンセルすると、受付も取り消されます。"
    statements = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", seen)
    try:
        html = manager.get(url).get_data(as_text=True)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", seen)
    assert sum(Checkin.__tablename__ in s and "undone_at IS NULL" in s for s in statements) == 1
    assert re.search(f'<a class="button button-danger button-small" href="/manage/registrations/{came.id}/cancel'
                     f'[?]back=[^"]+" aria-describedby="cancel-notice-{came.id}">キャンセル'
                     f'<span class="visually-hidden">: {came.name}</span></a>', html)
    assert (f'<p class="row-notice" id="cancel-notice-{came.id}"><span class="notice-label">注意:</span> '
            f'{notice}</p>') in html
    assert html.count(notice) == 1 and html.count("aria-describedby=\"cancel-notice-") == 1
    other_row = html.split(f'id="reg-{other.id}"', 1)[1].split("</tr>", 1)[0]
    assert re.search(f'href="/manage/registrations/{other.id}/cancel[?]back=[^"]+">キャンセル'
                     f'<span class="visually-hidden">: {other.name}</span></a>', other_row)
    left_row = html.split(f'id="reg-{left.id}"', 1)[1].split("</tr>", 1)[0]
    assert "/cancel" not in left_row and "cancel-notice" not in left_row
    manager.get("/lang/en?next=/")
    english = manager.get(url).get_data(as_text=True)
    assert (f'id="cancel-notice-{came.id}"><span class="notice-label">Warning:</span> '
            'This person is checked in. Cancelling will also undo the check-in.</p>') in english
    manager.get("/lang/ja?next=/")
    assert manager.post(f"/manage/registrations/{came.id}/cancel", data={"back": url}).status_code == 302
    html = manager.get(url).get_data(as_text=True)
    assert notice not in html and "cancel-notice" not in html


def test_the_attendees_cancel_page_says_that_cancelling_takes_their_check_in_back(client, make, organizer, event):
    """The person checked in (at a desk that opened before the event starts) is told on their own cancel
    page, in their words, and the cancel button is described by it before the "cannot be undone" warning."""
    from eventsvc.checkin import service as checkin
    from eventsvc.checkin.models import Checkin

    came, other = make.registration(event, ticket_type="online"), make.registration(event, ticket_type="online")
    checkin.check_in(event, came.ticket_code, device_id="d", nonce=None, scanned_at=None, method="scanner",
                     actor=checkin.Actor.organizer(organizer), now=now_utc())
    db.session.commit()
    url = attendee_url(came) + "/cancel"
    notice = "受付済みです。キャンセルすると、受付も取り消されます。"
    html = client.get(url).get_data(as_text=True)
    assert (f'<p class="notice notice-warning" id="cancel-notice"><span class="notice-label">注意:</span> '
            f'{notice}</p>') in html
    assert ('<button type="submit" class="button button-danger" aria-describedby="cancel-notice cancel-warning">'
            '参加をキャンセルする</button>') in html
    assert "この方は" not in html  # the organizer's wording is not the attendee's
    client.get("/lang/en?next=/")
    assert "You are checked in. Cancelling will also undo your check-in." in client.get(url).get_data(as_text=True)
    client.get("/lang/ja?next=/")
    page = client.get(attendee_url(other) + "/cancel").get_data(as_text=True)  # not checked in: nothing to say
    assert notice not in page and 'id="cancel-notice"' not in page
    assert '<button type="submit" class="button button-danger" aria-describedby="cancel-warning">' in page
    assert client.post(url).status_code == 302
    taken = db.session.scalars(select(Checkin).where(Checkin.registration_id == came.id)).one()
    assert taken.undone_at is not None and taken.undone_by == "本人"


def test_message_settings_and_lottery_pages(manager, make, organizer):
    e = make.event(org=organizer, selection="lottery", ticket_types=[events.TicketTypeData("venue", "会場", 1)])
    make.registration(e)
    make.registration(e)
    r = manager.post(f"/manage/events/{e.slug}/registration-settings", data={
        "promotion_mode": "offer", "offer_hours": "24", "privacy_purpose": "運営のため",
        "questions-0-text": "自己紹介", "questions-0-kind": "long_text", "submit": "保存"})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    s = service.settings_for(e)
    assert (s.promotion_mode, s.offer_hours, s.questions[0]["text"]) == ("offer", 24, "自己紹介")
    r = manager.post(f"/manage/events/{e.slug}/registration-settings", data={
        "promotion_mode": "offer", "offer_hours": "24", "questions-0-text": "色", "questions-0-kind": "single",
        "submit": "保存"})
    assert r.status_code == 422
    r = manager.post(f"/manage/events/{e.slug}/lottery", data={"seed": "s1"})
    assert r.status_code == 302
    statuses = sorted(db.session.scalars(select(Registration.status)))
    assert statuses == ["confirmed", "waitlisted"]
    assert "s1" in manager.get(f"/manage/events/{e.slug}/registrations").get_data(as_text=True)
    r = manager.post(f"/manage/events/{e.slug}/message", data={"subject": "持ち物", "body": "PCをお持ちください"})
    assert r.status_code == 302 and "/deliveries" in r.headers["Location"]
    html = manager.get(r.headers["Location"]).get_data(as_text=True)
    assert "未送信: SMTP未設定" in html and "【" in html
    assert manager.post(f"/manage/events/{e.slug}/message", data={"subject": "", "body": ""}).status_code == 422


def test_delivery_page_shows_the_held_message(manager, make, event, app):
    from eventsvc.outbox import worker

    reg = make.registration(event)
    worker.run_once()  # no SMTP_URL: held, never lost
    from eventsvc.outbox.models import Delivery
    d = db.session.scalar(select(Delivery))
    assert d.state == "held" and d.last_error == "未送信: SMTP未設定"
    html = manager.get(f"/manage/events/{event.slug}/deliveries").get_data(as_text=True)
    assert 'id="delivery-count-held">1<' in html
    assert '<span class="notice-label">注意:</span>' in html  # SMTP not set: a warning, labelled as flashes are
    assert f"【参加確定】{event.title}" in html
    page = manager.get(f"/manage/events/{event.slug}/deliveries/{d.id}").get_data(as_text=True)
    # not sent yet: made on the spot from the registration, as it would be sent now
    assert "本文は送信する時に作成されます" in page
    assert reg.ticket_code in page and re.search(r"ticket-T1-[A-Z0-9-]+\.png", page) and "/my/" in page


def test_attendee_page_links_to_the_open_survey(client, make, organizer):
    from tests.integration.test_survey_support import make_survey

    event = make.event(organizer)
    reg = make.registration(event)
    assert "アンケートに答える" not in client.get(attendee_url(reg)).get_data(as_text=True)
    make_survey(event, organizer)
    html = client.get(attendee_url(reg)).get_data(as_text=True)
    assert "アンケートに答える" in html and f"/events/{event.slug}/survey/r/" in html


def test_an_already_registered_address_is_said_once_in_the_summary(client, event):
    assert client.post(f"/events/{event.slug}/register", data=FORM).status_code == 302
    r = client.post(f"/events/{event.slug}/register", data=FORM)
    assert r.status_code == 409
    entries = error_summary(r.get_data(as_text=True))
    # one entry, linked to the e-mail field, with the whole message (what to do included)
    assert entries == [("#email", "職場のメールアドレス: このメールアドレスでは既に申し込まれています。"
                                  "申込み時のメールのリンクから確認・変更できます。")]


def test_waitlisted_attendee_page_says_waitlisted_once_with_the_position(client, event, make):
    make.registration(event)  # the only seat
    reg = make.registration(event)
    assert reg.status == "waitlisted"
    html = client.get(attendee_url(reg)).get_data(as_text=True)
    status = re.search(r"<dt>状態</dt><dd>(.*?)</dd>", html, re.S).group(1)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", status)).strip()
    assert text == "キャンセル待ち 1番目"


def test_a_held_delivery_is_explained_as_held_and_offers_no_resend(manager, make, event):
    from eventsvc.outbox import worker
    from eventsvc.outbox.models import Delivery

    make.registration(event)
    worker.run_once()  # no SMTP_URL: held until it is configured
    d = db.session.scalar(select(Delivery))
    assert d.state == "held"
    page = manager.get(f"/manage/events/{event.slug}/deliveries/{d.id}").get_data(as_text=True)
    assert "保留 — 未送信: SMTP未設定" in page
    assert "「保留」は" in page and "自動で送信" in page
    assert "送信不明" not in page and "再送する" not in page
    manager.get("/lang/en")
    page = manager.get(f"/manage/events/{event.slug}/deliveries/{d.id}").get_data(as_text=True)
    assert "Held — Not sent: SMTP is not configured" in page and "未送信" not in page
    listing = manager.get(f"/manage/events/{event.slug}/deliveries").get_data(as_text=True)
    assert "Not sent: SMTP is not configured" in listing and "SMTP未設定" not in listing
    manager.get("/lang/ja")

    # a delivery that may have gone out: the uncertain explanation and a resend button
    d.state, d.last_error = "uncertain", "送信中に処理が止まりました"
    db.session.commit()
    page = manager.get(f"/manage/events/{event.slug}/deliveries/{d.id}").get_data(as_text=True)
    assert "「送信不明」は" in page and "再送する" in page
    d.state, d.last_error = "failed", "550 no such user"
    db.session.commit()
    page = manager.get(f"/manage/events/{event.slug}/deliveries/{d.id}").get_data(as_text=True)
    assert "「失敗」は" in page and "送信不明" not in page and "再送する" in page


@pytest.mark.parametrize("online_url, shown", [("", "会場未定"), ("https://meet.example.jp/abc", "オンライン")])
def test_an_event_without_a_venue_is_not_called_online_unless_it_is(client, make, organizer, online_url, shown):
    """No venue yet: the form, the attendee page and the mail say 会場未定, not オンライン."""
    from eventsvc.outbox import renderers
    from eventsvc.outbox.models import Delivery

    e = make.event(org=organizer, venue_name="", online_url=online_url,
                   ticket_types=[events.TicketTypeData("venue", "会場参加", 5)])
    reg = make.registration(e)
    other = {"会場未定", "オンライン"} - {shown}
    for page in (client.get(f"/events/{e.slug}/register"), client.get(attendee_url(reg))):
        body = page.get_data(as_text=True)
        assert shown in body and not any(o in body for o in other)
    mail = db.session.scalar(select(Delivery).where(Delivery.registration_id == reg.id))
    text = renderers.resolve(mail)["text"]
    assert f"会場: {shown}" in text


def test_attendees_cancel_until_the_event_starts(client, make, organizer):
    """After the start a freed seat helps nobody: the page offers no cancel and a POST is refused;
    before, the same registration cancels (organizers may still cancel at any time)."""
    start = (now_utc() - timedelta(hours=1)).replace(microsecond=0)
    started = make.event(org=organizer, starts_at=start, ends_at=start + timedelta(hours=3))
    reg = make.registration(started, now=start - timedelta(days=2))
    page = client.get(attendee_url(reg)).get_data(as_text=True)
    assert "/cancel" not in page and "キャンセルはできません" in page
    r = client.get(attendee_url(reg) + "/cancel")
    assert r.status_code == 302 and r.headers["Location"].endswith(attendee_url(reg))
    r = client.post(attendee_url(reg) + "/cancel", follow_redirects=True)
    assert "キャンセルはできません" in r.get_data(as_text=True)
    db.session.refresh(reg)
    assert reg.status == "confirmed"


def test_delivery_pages_say_when_a_failed_send_is_tried_again(manager, make, event):
    from datetime import timedelta

    from eventsvc.core.clock import format_datetime, now_utc
    from eventsvc.outbox.models import Delivery

    make.registration(event)
    d = db.session.scalar(select(Delivery))
    retry_at = (now_utc() + timedelta(minutes=5)).replace(microsecond=0)
    d.attempts, d.next_attempt_at, d.last_error = 1, retry_at, "SMTP 451: try again later"
    db.session.commit()
    when = format_datetime(retry_at)
    assert f"次の再試行: {when}" in manager.get(f"/manage/events/{event.slug}/deliveries").get_data(as_text=True)
    page = manager.get(f"/manage/events/{event.slug}/deliveries/{d.id}").get_data(as_text=True)
    assert f"次の再試行: {when}" in page and "送信予定" not in page


def _form(page: str, action: str) -> dict:
    (form,) = [f for f in page_forms(page) if f["action"] == action]
    return form


def test_a_full_type_offers_confirming_over_capacity_on_the_registration_page(manager, make, event):
    make.registration(event)  # the one seat of 会場参加
    waiting = make.registration(event)
    assert waiting.status == "waitlisted"
    url = f"/manage/registrations/{waiting.id}"
    promote = f"{url}/promote"
    page = manager.get(url).get_data(as_text=True)
    note = "「会場参加」は満席です（定員1人・確保済み1席）。"
    assert f'<p class="notice notice-warning" id="over-capacity-note"><span class="notice-label">注意:</span> {note}</p>' \
        in page
    form = _form(page, promote)
    assert form["buttons"] == [(None, "")] and form["fields"]["over_capacity"] == ["1"]
    assert '<button type="submit" class="button button-secondary" aria-describedby="over-capacity-note">定員超過で確定' \
        in page
    assert ">参加確定にする</button>" not in page  # it could only be refused
    # what the refusal asks for is on the page, and does it
    r = manager.post(promote, data=form["fields"])
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Registration, waiting.id).status == "confirmed"
    assert "参加確定にしました。" in manager.get(r.headers["Location"]).get_data(as_text=True)
    # in English
    manager.set_cookie("lang", "en")
    page = manager.get(f"/manage/registrations/{make.registration(event).id}").get_data(as_text=True)
    assert '"会場参加" is full (capacity 1, seats taken: 2).' in html_lib.unescape(page)
    assert "Confirm over capacity</button>" in page


def _row_controls(page: str) -> list[tuple[str, str, str | None]]:
    """Each button and link of the registrations list's rows: (row id, accessible name — its text,
    the visually hidden part included, aria-describedby)."""
    body = re.search(r'<table class="table registrations-table">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    out = []
    for row_id, row in re.findall(r'<tr id="(reg-\d+)">(.*?)</tr>', body, re.S):
        actions = re.search(r'<td class="row-actions">(.*?)</td>', row, re.S).group(1)
        for _tag, attrs, inner in re.findall(r"<(button|a)\b([^>]*)>(.*?)</\1>", actions, re.S):
            name = " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", inner)).split())
            described = re.search(r'aria-describedby="([^"]*)"', attrs)
            out.append((row_id, name, described.group(1) if described else None))
    return out


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_each_button_of_the_registrations_list_names_its_person(manager, make, organizer, lang):
    from eventsvc.checkin import service as checkin

    e = make.event(org=organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    came = make.registration(e, name="比嘉 太郎", name_kana="ヒガ タロウ")
    waiting = make.registration(e, name="宮城 花子", name_kana="ミヤギ ハナコ")
    review = make.registration(e, name="Smith Jane", name_kana="スミス ジェーン", email="jane@example.com")
    checkin.check_in(e, came.ticket_code, device_id="d", nonce=None, scanned_at=None, method="scanner",
                     actor=checkin.Actor.organizer(organizer), now=now_utc())
    db.session.commit()
    assert (came.status, waiting.status, review.status) == ("confirmed", "waitlisted", "pending_review")
    manager.set_cookie("lang", lang)
    page = manager.get(f"/manage/events/{e.slug}/registrations").get_data(as_text=True)
    words = {"ja": ("承認", "確認・お断り", "定員超過で確定", "キャンセル"),
             "en": ("Approve", "Review or decline", "Confirm over capacity", "Cancel")}[lang]
    approve, decide, over, cancel = words
    controls = _row_controls(page)
    assert sorted(controls, key=repr) == sorted([
        (f"reg-{came.id}", f"{cancel}: 比嘉 太郎", f"cancel-notice-{came.id}"),
        (f"reg-{waiting.id}", f"{over}: 宮城 花子", f"over-capacity-note-{waiting.id}"),
        (f"reg-{waiting.id}", f"{cancel}: 宮城 花子", None),
        (f"reg-{review.id}", f"{approve}: Smith Jane", None),
        (f"reg-{review.id}", f"{decide}: Smith Jane", None),
        (f"reg-{review.id}", f"{cancel}: Smith Jane", None),
    ], key=repr), controls
    names = [name for _row, name, _d in controls]
    assert len(set(names)) == len(names)  # no two alike
    # the visible label is as before (the name is for screen readers and voice control)
    assert f'{over}<span class="visually-hidden">: ' in page
    if lang == "en":  # a Japanese name on an English page is marked as Japanese
        assert '<span class="visually-hidden">: <span lang="ja">比嘉 太郎</span></span>' in page


def test_an_offered_person_holds_a_seat_and_is_confirmed_without_going_over(manager, make, organizer):
    e = make.event(org=organizer, ticket_types=[events.TicketTypeData("venue", "会場", 1)])
    service.update_settings(e, organizer, e.created_at, promotion_mode="offer", offer_hours=48, questions=[],
                            lottery_at=None, privacy_purpose="")
    a, b = make.registration(e), make.registration(e)
    service.cancel(a, a, now_utc())
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Registration, b.id).status == "offered"
    page = manager.get(f"/manage/registrations/{b.id}").get_data(as_text=True)
    assert ">参加確定にする</button>" in page and "定員超過で確定" not in page and "over-capacity-note" not in page
    page = manager.get(f"/manage/events/{e.slug}/registrations").get_data(as_text=True)
    assert f'>参加確定にする<span class="visually-hidden">: {b.name}</span></button>' in page
    assert "定員超過で確定" not in page


def test_the_list_offers_confirming_over_capacity_and_keeps_its_filters(manager, make, event):
    make.registration(event)
    waiting = make.registration(event, name="待機 一郎", name_kana="タイキ イチロウ")
    other = make.registration(event, name="待機 二郎", name_kana="タイキ ジロウ")
    base = f"/manage/events/{event.slug}/registrations"
    shown = base + "?status=waitlisted&q=%E5%BE%85%E6%A9%9F"  # ?status=waitlisted&q=待機
    page = manager.get(shown).get_data(as_text=True)
    promote = f"/manage/registrations/{waiting.id}/promote"
    form = _form(page, promote)
    assert form["fields"]["over_capacity"] == ["1"]
    assert f'aria-describedby="over-capacity-note-{waiting.id}">定員超過で確定<span class="visually-hidden">: 待機 一郎</span>' \
        "</button>" in page
    assert (f'<p class="row-notice" id="over-capacity-note-{waiting.id}"><span class="notice-label">注意:</span> '
            "「会場参加」は満席です（定員1人・確保済み1席）。</p>") in page
    # without the box (what the button said before): refused, and back to the list as it was shown
    r = manager.post(promote, data={"back": form["fields"]["back"][0]})
    assert r.status_code == 302 and r.headers["Location"] == shown
    page = manager.get(r.headers["Location"]).get_data(as_text=True)
    assert "空席がありません" in page and "定員超過で確定" in page and "待機 二郎" in page
    # the button as shown: confirmed over capacity, back to the same filtered list
    r = manager.post(promote, data=form["fields"])
    assert r.status_code == 302 and r.headers["Location"] == shown
    db.session.expire_all()
    assert db.session.get(Registration, waiting.id).status == "confirmed"
    page = manager.get(r.headers["Location"]).get_data(as_text=True)
    assert "参加確定にしました。" in page and "待機 一郎" not in page and "待機 二郎" in page
    assert "「会場参加」は満席です（定員1人・確保済み2席）。" in page
    # the other actions of the list come back to it too
    (confirm,) = re.findall(f'href="(/manage/registrations/{other.id}/cancel[?][^"]+)"', page)
    cancel = _form(manager.get(html_lib.unescape(confirm)).get_data(as_text=True),
                   f"/manage/registrations/{other.id}/cancel")
    r = manager.post(cancel["action"], data=cancel["fields"])
    assert r.status_code == 302 and r.headers["Location"] == shown
    # somewhere else than this site's organizer pages: the list
    for back in ("//evil.example/manage/", "https://evil.example/manage/", "/my/x"):
        pending = make.registration(event, status="pending_review")
        r = manager.post(f"/manage/registrations/{pending.id}/approve", data={"back": back})
        assert r.headers["Location"] == base, back


def test_a_refused_type_change_keeps_the_saved_details_on_the_edit_page(client, make, organizer, event):
    service.update_settings(event, organizer, event.created_at, promotion_mode="auto", offer_hours=48, questions=[
        service.Question("topic", "single", "関心のあるテーマ", ["窓口BPR", "ウェブサイト"], True),
        service.Question("tools", "multiple", "使っているツール", ["Slack", "kintone"], False)],
        lottery_at=None, privacy_purpose="")
    db.session.commit()
    make.registration(event, answers={"topic": "窓口BPR"})  # 会場参加 is full
    reg = make.registration(event, ticket_type="online", name="知念 花子", name_kana="チネン ハナコ",
                            organization_code="472085", department="情報政策課", consent_listing=True,
                            consent_slack_mention=False, answers={"topic": "ウェブサイト", "tools": ["kintone"]})
    url = attendee_url(reg) + "/edit"
    page = client.get(url).get_data(as_text=True)
    saved = page_forms(page)[-2]  # the details form, as the page first shows it (the type form is the last)
    assert saved["action"] == url and "d-name" in saved["fields"]
    r = client.post(url, data={"t-ticket_type": "venue", "t-submit": "参加区分を変更"})
    assert r.status_code == 409
    page = r.get_data(as_text=True)
    assert "「会場参加」は満席です。" in page
    details, change = [f for f in page_forms(page) if f["action"] == url]
    assert details["fields"] == saved["fields"]
    assert details["fields"]["d-name"] == ["知念 花子"] and details["fields"]["d-department"] == ["情報政策課"]
    assert details["fields"]["d-organization_code"] == ["472085"] and details["fields"]["d-prefecture"] == ["47"]
    assert details["fields"]["d-consent_listing"] == ["y"] and "d-consent_slack_mention" not in details["fields"]
    assert details["fields"]["d-q_topic"] == ["ウェブサイト"] and details["fields"]["d-q_tools"] == ["kintone"]
    assert change["fields"]["t-ticket_type"] == ["venue"]  # what was asked for, with why not
    assert "現在の参加区分: オンライン参加" in page
    # the summary's link goes to the first choice (a fieldset takes no focus); each choice says its seats
    assert error_summary(page) == [("#t-ticket_type-0", "参加区分: 「会場参加」は満席です。")]
    assert 'id="t-ticket_type-0"' in page
    assert "会場参加（満席）" in page and "オンライン参加（現在の参加区分）" in page
    # saving the details as shown changes nothing else (the consents stay as they were)
    r = client.post(url, data={**details["fields"], "d-department": "DX推進課", "d-submit": "変更を保存"})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    db.session.expire_all()
    row = db.session.get(Registration, reg.id)
    assert (row.department, row.consent_listing, row.consent_slack_mention) == ("DX推進課", True, False)
    assert row.answers == {"topic": "ウェブサイト", "tools": ["kintone"]} and row.ticket_type.code == "online"
    # a refused details form keeps what was typed, and the type form shows the saved type
    r = client.post(url, data={**details["fields"], "d-name": "", "d-department": "総務課", "d-submit": "変更を保存"})
    assert r.status_code == 422
    details, change = [f for f in page_forms(r.get_data(as_text=True)) if f["action"] == url]
    assert details["fields"]["d-name"] == [""] and details["fields"]["d-department"] == ["総務課"]
    assert change["fields"]["t-ticket_type"] == ["online"]


@pytest.mark.parametrize(("message", "error"), [
    ("ご参加ください\u202eよろしく", "制御文字は使用できません。"),
    ("ご参加ください\x01よろしく", "制御文字は使用できません。"),
    ("あ" * 1001, "1000文字以内で入力してください。"),
])
@pytest.mark.parametrize("button", [{"approve": "承認する"}, {"reject": "お断りする"}])
def test_a_refused_review_message_stays_on_the_registration_page_as_typed(manager, make, event, message, error,
                                                                         button):
    pending = make.registration(event, status="pending_review", name="外部 さん")
    url = f"/manage/registrations/{pending.id}"
    r = manager.post(f"{url}/review", data={"message": message, **button})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "<h1>外部 さん" in page
    form = _form(page, f"{url}/review")
    assert form["fields"]["message"] == [message]
    assert error_summary(page) == [("#message", f"申込者へのメッセージ（任意）: {error}")]
    assert f'<p class="error-message" id="message-error"><span class="visually-hidden">エラー: </span>{error}</p>' \
        in page
    assert 'aria-invalid="true"' in page
    db.session.expire_all()
    assert db.session.get(Registration, pending.id).status == "pending_review"
    # put right, it goes through
    r = manager.post(f"{url}/review", data={"message": "ようこそ", **button})
    assert r.status_code == 302


# ------------------------------------------------------------------ calling an event off
def _messages(event) -> dict[int, str]:
    from eventsvc.outbox.models import Delivery

    db.session.expire_all()
    return {d.registration_id: d.payload["subject"] for d in db.session.scalars(
        select(Delivery).where(Delivery.event_id == event.id, Delivery.kind == "mail.message"))}


def test_calling_an_event_off_is_confirmed_on_a_page_of_its_own_and_tells_everyone_who_applied(manager, make,
                                                                                               organizer):
    e = make.event(org=organizer, title="那覇の勉強会", ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    confirmed, waiting = make.registration(e), make.registration(e)
    service.cancel(make.registration(e), None, now_utc())
    db.session.commit()
    assert waiting.status == "waitlisted"
    page = manager.get(f"/manage/events/{e.slug}").get_data(as_text=True)
    assert f'href="/manage/events/{e.slug}/cancel"' in page  # a link to the confirmation, not a one-click form
    # the old one-click address only leads there
    r = manager.post(f"/manage/events/{e.slug}/status/cancelled")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/manage/events/{e.slug}/cancel")
    db.session.refresh(e)
    assert e.status == "published"

    form = manager.get(f"/manage/events/{e.slug}/cancel").get_data(as_text=True)
    assert "中止すると元に戻せません。" in form and "2人" in form and "参加確定: 1人" in form
    assert "キャンセル待ち: 1人" in form and "【中止のお知らせ】那覇の勉強会" in form
    assert re.search(r'<input[^>]*checked[^>]*name="notify"|<input[^>]*name="notify"[^>]*checked', form)

    r = manager.post(f"/manage/events/{e.slug}/cancel", data={
        "notify": "y", "subject": "【中止のお知らせ】那覇の勉強会", "body": "台風のため中止します。"})
    assert r.status_code == 302
    db.session.refresh(e)
    assert e.status == "cancelled"
    sent = _messages(e)
    assert set(sent) == {confirmed.id, waiting.id} and all("中止のお知らせ" in s for s in sent.values())
    assert "2人へのお知らせを送信待ちにしました" in manager.get(r.headers["Location"]).get_data(as_text=True)
    # once is enough: the page says so and sends nothing more
    again = manager.get(f"/manage/events/{e.slug}/cancel")
    assert again.status_code == 302 and len(_messages(e)) == 2


def test_an_invalid_cancellation_message_cancels_nothing_and_is_said_at_its_field(manager, make, organizer):
    e = make.event(org=organizer)
    make.registration(e)
    r = manager.post(f"/manage/events/{e.slug}/cancel", data={"notify": "y", "subject": "", "body": "本文"})
    assert r.status_code == 422
    assert error_summary(r.get_data(as_text=True))
    db.session.refresh(e)
    assert e.status == "published" and _messages(e) == {}


def test_an_event_can_be_called_off_without_a_message(manager, make, organizer):
    e = make.event(org=organizer)
    make.registration(e)
    r = manager.post(f"/manage/events/{e.slug}/cancel", data={"subject": "", "body": ""})
    assert r.status_code == 302
    db.session.refresh(e)
    assert e.status == "cancelled" and _messages(e) == {}


def test_a_seat_freed_at_a_cancelled_event_goes_to_nobody(make):
    """Someone cancelling after the event was called off does not move the waitlist up (no
    繰り上げ・参加確定 mail for an event that will not take place)."""
    org = make.organizer()
    e = make.event(org, ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    first, second = make.registration(e), make.registration(e)
    assert second.status == "waitlisted"
    service.cancel_event(e, org, now_utc(), notify=None)
    service.cancel(first, None, now_utc())
    db.session.commit()
    db.session.refresh(second)
    assert second.status == "waitlisted"


def test_cancelling_an_application_is_confirmed_first_with_who_gets_the_seat(manager, make, organizer):
    """The list's キャンセル opens a confirmation: the person, what cancelling takes back, who moves up
    into the seat, a message for the person's mail; nothing changes until it is confirmed, and it
    comes back to the list as it was shown."""
    from eventsvc.outbox.models import Delivery

    e = make.event(org=organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    seated = make.registration(e, name="比嘉 太郎")
    waiting = make.registration(e, name="知念 花子")
    shown = f"/manage/events/{e.slug}/registrations?status=confirmed"
    page = manager.get(shown).get_data(as_text=True)
    (confirm,) = re.findall(f'href="(/manage/registrations/{seated.id}/cancel[?][^"]+)"', page)
    html = manager.get(html_lib.unescape(confirm)).get_data(as_text=True)
    assert "比嘉 太郎" in html and "空いた席は、キャンセル待ちの先頭の 知念 花子 さんに回ります。" in html
    assert "キャンセルは元に戻せません。" in html and f'href="{html_lib.escape(shown)}"' in html  # the way back
    db.session.refresh(seated)
    assert seated.status == "confirmed"  # looking changes nothing
    form = _form(html, f"/manage/registrations/{seated.id}/cancel")
    r = manager.post(form["action"], data={**form["fields"], "message": "体調不良との連絡を受けました。"})
    assert r.status_code == 302 and r.headers["Location"] == shown
    db.session.expire_all()
    assert (db.session.get(Registration, seated.id).status, db.session.get(Registration, waiting.id).status) == (
        "cancelled", "confirmed")
    notice = db.session.scalars(select(Delivery).where(Delivery.registration_id == seated.id)
                                .order_by(Delivery.id.desc())).first()
    assert notice.payload["render"].get("note") == "体調不良との連絡を受けました。"
    # already cancelled: nothing to confirm, back where it came from
    again = manager.get(f"/manage/registrations/{seated.id}/cancel?back={shown}")
    assert again.status_code == 302 and again.headers["Location"] == shown
    # a waitlisted person holds no seat: nobody moves up
    other = make.registration(e, name="金城 次郎")
    assert "さんに回ります" not in manager.get(f"/manage/registrations/{other.id}/cancel").get_data(as_text=True)


def test_the_department_field_does_not_ask_the_browser_for_a_job_title(client, event):
    """部署 is not a job title (titles are never asked: everyone is equal in the room); the HTML
    autofill token organization-title would have a browser fill one in."""
    html = client.get(f"/events/{event.slug}/register").get_data(as_text=True)
    assert 'id="department"' in html and "organization-title" not in html


def test_a_cut_off_attendee_link_says_what_to_check_and_where_a_new_one_comes_from(client, make, event):
    token = service.link_token(make.registration(event))
    r = client.get(f"/my/{token[:-6]}")
    assert r.status_code == 404
    html = r.get_data(as_text=True)
    assert "メールのリンクが途中で切れていないか確かめてください。" in html
    assert "「確認・変更・キャンセル用のリンクを再送する」" in html


def test_an_empty_registration_forms_mistakes_are_listed_in_the_order_of_the_page(client, event):
    r = client.post(f"/events/{event.slug}/register", data={})
    links = [link for link, _message in error_summary(r.get_data(as_text=True))]
    page = r.get_data(as_text=True)
    assert links[:3] == ["#name", "#name_kana", "#email"]
    assert links == sorted(links, key=lambda link: page.index(f'id="{link[1:]}"'))  # as the fields stand
