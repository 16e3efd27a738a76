"""Pages and e-mails in English with the language switch (cookie ``lang=en``).

Japanese is the default; with ``lang=en`` every piece of the interface comes from the English
catalogue. What may stay Japanese is what people typed (event title, names, agenda) and the
names of places and organisations (prefectures, municipalities, agencies).
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta
from functools import cache

import pytest
from sqlalchemy import select

from eventsvc.core import orgs
from eventsvc.extensions import db
from eventsvc.outbox import renderers
from eventsvc.outbox.models import Delivery
from eventsvc.registration.models import Registration
from eventsvc.registration.service import link_token
from tests.integration.page_support import survey_builder_form

#: kana, kanji and Japanese punctuation (、。「」（）〜 and full-width forms)
JAPANESE = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]+")
#: the switch back to Japanese names its language in Japanese
SWITCH_BACK = re.compile(r'<a [^>]*hreflang="ja">日本語</a>')

FORM = {"name": "比嘉 太郎", "name_kana": "ひが たろう", "email": "taro@city.naha.lg.jp", "prefecture": "47",
        "organization_code": "472018", "organization_name": "", "department": "デジタル推進課", "ticket_type": "venue",
        "consent_privacy": "y", "consent_rules": "y", "consent_listing": "y", "submit": "Register"}


@cache
def _place_names() -> tuple[str, ...]:
    names = {name for _code, name in orgs.prefectures()}
    for o in orgs.all_organizations():
        names.update(x for x in (o.name, o.prefecture, o.city) if x)
    return tuple(sorted(names, key=len, reverse=True))


def japanese_left(html: str, *user_data: str) -> list[str]:
    """The Japanese on the page once user data and place/organisation names are taken out."""
    text = SWITCH_BACK.sub("", html)
    for s in sorted((s for s in user_data if s), key=len, reverse=True):
        text = text.replace(s, "")
    for name in _place_names():
        text = text.replace(name, "")
    return sorted(set(JAPANESE.findall(text)))


def event_data(event) -> list[str]:
    """What the organizer typed for the event (as the factories fill it)."""
    data = [event.title, event.summary, event.description, event.venue_name, event.venue_address]
    data += [t.name for t in event.ticket_types]
    for a in event.agenda_items:
        data += [a.title, a.speaker, a.affiliation, a.description]
    return data


@pytest.fixture
def english(client):
    client.set_cookie("lang", "en")
    return client


@pytest.fixture
def event(make, organizer):
    return make.event(org=organizer, summary="書かない窓口の始め方", description="詳しい説明")


def assert_english_layout(html: str) -> None:
    assert '<html lang="en">' in html
    for text in ("Skip to main content", "Main menu", "Upcoming", "Past events",
                 "Study sessions for local government staff",
                 "Views expressed here are personal and not those of anyone’s organization."):
        assert text in html, text


def test_japanese_is_the_default(client, event):
    html = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert '<html lang="ja">' in html and "本文へ移動" in html and "参加を申し込む" in html
    assert "Skip to main content" not in html


def test_public_event_page_in_english(english, event):
    r = english.get(f"/events/{event.slug}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert_english_layout(html)
    assert "Organizer login" in html
    for text in ("Participation types and availability", "Register", "Add to calendar (.ics)", "Calendar and sharing",
                 # what the organizer typed is marked as Japanese (WCAG 3.1.2), each part on its own
                 f'<span lang="ja">{event.agenda_items[0].speaker}</span> '
                 f'(<span lang="ja">{event.agenda_items[0].affiliation}</span>)'):
        assert text in html, text
    assert "年" not in html.replace(event.title, "")  # dates in English too
    assert japanese_left(html, *event_data(event)) == []


def test_registration_form_in_english(english, event):
    html = english.get(f"/events/{event.slug}/register").get_data(as_text=True)
    assert_english_layout(html)
    for text in ("Work email address", "Full name", "Reading (furigana)", "Participation type",
                 "I agree to the handling of my personal information (required)", "How we use your personal information",
                 "Show organizations in this prefecture", 'value="Register"'):
        assert text in html, text
    assert japanese_left(html, *event_data(event), "〇〇広域連合") == []  # an example of what to type


def test_registration_closed_message_in_english(english, make, organizer):
    closed = make.event(org=organizer, status="closed")
    html = english.get(f"/events/{closed.slug}/register").get_data(as_text=True)
    assert "Registration for this event has closed." in html


def test_login_page_in_english(english):
    html = english.get("/login").get_data(as_text=True)
    assert_english_layout(html)
    for text in ("Organizer login", "Email address", "Password", "Log in",
                 "You do not need an account to register for an event."):
        assert text in html, text
    assert japanese_left(html) == []


def test_organizer_pages_in_english(english, login, organizer, event, make):
    reg = make.registration(event)
    login(organizer)
    html = english.get(f"/manage/events/{event.slug}").get_data(as_text=True)
    assert_english_layout(html)
    for text in ("Organizer menu", "Account", "Log out", "Edit basic information", "Registrations", "Publication status",
                 "Participation type", "Capacity", "Check-in on the day", "Print name tags"):
        assert text in html, text
    assert japanese_left(html, *event_data(event), organizer.name) == []

    html = english.get(f"/manage/events/{event.slug}/registrations").get_data(as_text=True)
    assert "Export as CSV" in html and ">Confirmed<" in html
    assert japanese_left(html, *event_data(event), organizer.name, reg.name, reg.name_kana,
                         reg.organization_name) == []

    html = english.get(f"/manage/events/{event.slug}/edit").get_data(as_text=True)
    assert "Kyushu" in html  # regions in English in the select
    assert japanese_left(html, *event_data(event)) == []

    # a mail not sent yet is shown as it would be sent now (in the attendee's language), the
    # page around it in the organizer's
    mail = db.session.scalar(select(Delivery).where(Delivery.registration_id == reg.id))
    html = english.get(f"/manage/events/{event.slug}/deliveries/{mail.id}").get_data(as_text=True)
    assert "The text is made when the message is sent." in html and reg.ticket_code in html

    from eventsvc.checkin import service as checkin
    from eventsvc.core.clock import now_utc

    desk = checkin.Actor.organizer(organizer)
    checkin.check_in(event, reg.ticket_code, device_id="tablet-1", nonce=None, scanned_at=None, method="camera",
                     actor=desk, now=now_utc())
    checkin.sync(event, [checkin.QueuedScan("junk", "n1", now_utc(), refused_locally="unknown_code")],
                 device_id="tablet-1", actor=desk, now=now_utc())
    db.session.commit()
    html = english.get(f"/manage/events/{event.slug}/checkin-log").get_data(as_text=True)
    for text in ("Scan log", "Camera", "Turned away while offline (Unknown code)", "Export as CSV"):
        assert text in html, text
    assert japanese_left(html, *event_data(event), organizer.name, reg.name, reg.organization_name) == []


def test_error_page_in_english(english):
    r = english.get("/no-such-page")
    assert r.status_code == 404
    html = r.get_data(as_text=True)
    assert "Page not found" in html and "Not found." in html
    assert japanese_left(html) == []


def test_a_person_who_registers_in_english_gets_english_mail(english, event):
    r = english.post(f"/events/{event.slug}/register", data=FORM)
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    reg = db.session.scalar(select(Registration).where(Registration.email == FORM["email"]))
    assert reg.locale == "en"
    mail = renderers.resolve(db.session.scalar(select(Delivery).where(Delivery.registration_id == reg.id)))
    assert mail["subject"] == f"[Confirmed] {event.title}"
    text = mail["text"]
    assert text.startswith(f"Dear {reg.name},")
    for line in ("Thank you for registering. Your place is confirmed.", "Participation type: ",
                 f"Check-in code: {reg.ticket_code}", "View, change or cancel your registration:"):
        assert line in text, line
    assert japanese_left(text, *event_data(event), reg.name) == []

    html = english.get(f"/my/{link_token(reg)}").get_data(as_text=True)
    shown = " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", html)).split())  # the text, without lang="ja" spans
    assert "Your registration" in html and f"{reg.name} ({reg.name_kana})" in shown


def test_japanese_mail_stays_japanese(client, event):
    assert client.post(f"/events/{event.slug}/register", data=FORM).status_code == 302
    reg = db.session.scalar(select(Registration).where(Registration.email == FORM["email"]))
    mail = renderers.resolve(db.session.scalar(select(Delivery).where(Delivery.registration_id == reg.id)))
    assert mail["subject"] == f"【参加確定】{event.title}"
    assert mail["text"].startswith(f"{reg.name} 様\n\nお申込みありがとうございます。参加が確定しました。")


# ------------------------------------------------------------------ messages from the rules layer
# Services raise errors (and build notices) with Japanese text, which the API returns as it is; a
# page shows it in its own language: ``N_`` texts through the catalogue, ``msg(N_("…%(x)s…"), x=…)``
# from their template with the values filled in (``errors.page_message``).

def _body_text(r) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r.get_data(as_text=True))))


def test_a_registration_error_from_the_service_in_english(english, event):
    assert english.post(f"/events/{event.slug}/register", data=FORM).status_code == 302
    r = english.post(f"/events/{event.slug}/register", data=FORM)
    assert r.status_code == 409
    text = _body_text(r)
    assert "This email address is already registered." in text
    assert "既に申し込まれています" not in text


def test_a_teams_error_naming_a_person_in_english(english, login, make, organizer):
    from tests.integration.test_teams_pages import run_form
    from tests.integration.test_teams_support import big_event, roster, teams_plugged_into_checkin  # noqa: F401

    event = big_event(make, organizer)
    roster(make, event, 6)
    login(organizer)
    english.set_cookie("lang", "en")
    r = run_form(english, event, keep_together="比嘉 太郎、存在 しない人", team_count="2")
    assert r.status_code == 422
    text = _body_text(r)
    assert '"存在 しない人" was not found among the people being divided.' in text
    assert "対象の参加者に見つかりません" not in text
    # two problems in one field: each translated, joined
    assert '"存在 しない人" was not found among the people being divided. Write two or more different people' in text


def test_the_wrong_current_password_in_english(english, login, organizer):
    login(organizer)
    english.set_cookie("lang", "en")
    r = english.post("/account/password", data={"current_password": "not it at all",
                                                 "new_password": "a new and long password",
                                                 "confirm": "a new and long password"})
    assert r.status_code == 422
    text = _body_text(r)
    assert "Your current password is incorrect." in text and "現在のパスワード" not in text


def test_a_broken_attendee_link_in_english(english):
    r = english.get("/my/not-a-real-token")
    assert r.status_code == 404
    html = r.get_data(as_text=True)
    assert "This link is not valid." in html and "リンクが正しくありません" not in html
    assert japanese_left(html) == []


def test_a_walk_in_refusal_at_the_desk_in_english(english, login, make, organizer):
    from eventsvc.events import service as events

    full = make.event(organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    make.registration(full)
    login(organizer)
    english.set_cookie("lang", "en")
    r = english.post(f"/events/{full.slug}/checkin/walk-in", data={
        "name": "飛込 太郎", "name_kana": "とびこみ たろう", "email": "tobi@city.naha.lg.jp", "ticket_type": "venue",
        "consent_privacy": "y"})
    assert r.status_code == 422
    text = _body_text(r)
    # the refusal and the next step, each from the catalogue; the override named as its English label
    assert "This participation type is full." in text
    assert 'To check them in beyond the capacity, tick "Admit beyond capacity and the domain check".' in text
    assert "満席" not in text and "チェックを入れて" not in text


def test_a_duplicate_ticket_type_code_on_the_event_form_in_english(english, login, organizer):
    from tests.integration.test_events_pages import FORM as EVENT_FORM

    login(organizer)
    english.set_cookie("lang", "en")
    r = english.post("/manage/events/new", data={**EVENT_FORM, "ticket_types-1-code": "venue"})
    assert r.status_code == 422
    text = _body_text(r)
    assert "This code is used twice." in text and "コードが重複しています" not in text


def test_the_api_keeps_japanese_messages_under_an_english_cookie(client, event):
    client.set_cookie("lang", "en")
    body = {"name": "比嘉 太郎", "name_kana": "ひが たろう", "email": "taro@city.naha.lg.jp",
            "organization_code": "472018", "ticket_type": "venue", "consent_privacy": True}
    assert client.post(f"/api/v1/events/{event.slug}/registrations", json=body,
                       headers={"Accept-Language": "en"}).status_code == 201
    r = client.post(f"/api/v1/events/{event.slug}/registrations", json=body, headers={"Accept-Language": "en"})
    assert r.status_code == 409
    data = r.get_json()
    assert data["error"] == "already_registered"
    assert data["message"] == "このメールアドレスでは既に申し込まれています。申込み時のメールのリンクから確認・変更できます。"
    assert data["fields"] == {"email": "このメールアドレスでは既に申し込まれています。"}
    r = client.post(f"/api/v1/events/{event.slug}/registrations", json={**body, "email": "x@city.naha.lg.jp",
                                                                          "name_kana": "HIGA"})
    assert r.status_code == 422
    assert r.get_json()["fields"]["name_kana"] == "ふりがなは、ひらがなかカタカナで入力してください。"


# ------------------------------------------------------------------ surveys
# The survey rules' messages the same way: an English page shows them in English (the questions
# the organizer wrote stay as written); the survey API answers Japanese.

def _survey_setup(make, organizer):
    from tests.integration.test_survey_support import attendee, make_survey

    event = make.event(organizer)
    survey = make_survey(event, organizer)
    return event, survey, attendee(event)


def _survey_link(app, reg) -> str:
    from eventsvc.surveys import service as surveys

    return f"/events/{reg.event.slug}/survey/r/{surveys.link_token(reg, app.config['SECRET_KEY'])}"


def _survey_user_data(event, survey, reg) -> list[str]:
    data = [*event_data(event), survey.title, survey.description, reg.name, reg.organization_name]
    for q in survey.questions:
        v = q.current
        data += [v.text, v.min_label, v.max_label, *(v.options or [])]
    return data


def test_a_survey_answer_with_a_required_question_left_out_in_english(app, english, make, organizer):
    from tests.integration.test_survey_views import form_for

    event, survey, reg = _survey_setup(make, organizer)
    form = form_for(survey, satisfaction="", recommend="11")
    r = english.post(_survey_link(app, reg), data=form)
    assert r.status_code == 422
    text = _body_text(r)
    assert "Please check your answers." in text
    assert "Q1: This question requires an answer." in text  # in the summary, numbered as on the page
    assert "Q3: Choose a value from 0 to 10." in text
    assert "この質問は回答が必要です" not in text and "回答内容を確認してください" not in text
    assert "中から選んでください" not in text
    typed = [v for v in form.values() if isinstance(v, str)]  # what the person typed comes back as typed
    assert japanese_left(r.get_data(as_text=True), *_survey_user_data(event, survey, reg), *typed) == []


def test_a_survey_not_open_yet_in_english(app, english, make, organizer):
    from eventsvc.core.clock import format_datetime
    from tests.integration.test_survey_views import form_for

    event, survey, reg = _survey_setup(make, organizer)
    survey.opens_at = event.starts_at
    db.session.commit()
    r = english.post(_survey_link(app, reg), data=form_for(survey))
    assert r.status_code == 409
    text = _body_text(r)
    when = format_datetime(event.starts_at, "en")  # the date written for the page too
    assert (f"This survey is not open for answers yet. You can answer from {when}. "
            "Your answers were not saved.") in text
    assert "まだ回答を受け付けていません" not in text


def test_a_broken_survey_link_in_english(english, make, organizer):
    event, _survey, _reg = _survey_setup(make, organizer)
    r = english.get(f"/events/{event.slug}/survey/r/not-a-real-token")
    assert r.status_code == 404
    text = _body_text(r)
    assert "This link is not valid. Open the link in your email again, or enter your ticket code." in text
    assert "このリンクは無効です" not in text


def test_survey_builder_errors_in_english(english, login, make, organizer):
    from eventsvc.core.clock import now_utc, to_jst

    event, survey, _reg = _survey_setup(make, organizer)
    login(organizer)
    english.set_cookie("lang", "en")
    data = survey_builder_form(survey)
    themes = next(i for i, q in enumerate(survey.questions) if q.key == "next_themes")
    soon = to_jst(now_utc()).replace(tzinfo=None)
    data.update({"questions-0-scale_min": "5", "questions-0-scale_max": "3",
                 f"questions-{themes}-options": "AI\nBPR\nAI",
                 "opens_at": f"{soon + timedelta(days=2):%Y-%m-%dT%H:%M}",
                 "closes_at": f"{soon + timedelta(days=1):%Y-%m-%dT%H:%M}"})
    r = english.post(f"/manage/events/{event.slug}/survey/edit", data=data)
    assert r.status_code == 422
    text = _body_text(r)
    assert 'The option "AI" is listed twice.' in text
    assert "The scale uses whole numbers from 0 to 10, and its lowest value must be smaller than its highest." in text
    assert "The deadline must be after answers open." in text
    for japanese in ("重複しています", "目盛りは", "締切は受付開始"):
        assert japanese not in text


def test_an_earlier_question_version_in_english_results(english, login, make, organizer):
    from eventsvc.core.clock import now_utc
    from eventsvc.surveys import service as surveys
    from tests.integration.test_survey_support import submit

    event, survey, reg = _survey_setup(make, organizer)
    submit(survey, reg)
    data = surveys.SurveyData.from_survey(survey)
    data.questions[0].text = "満足度"
    surveys.save_survey(event, data, organizer, now_utc())
    db.session.commit()
    login(organizer)
    english.set_cookie("lang", "en")
    text = _body_text(english.get(f"/manage/events/{event.slug}/survey/results"))
    assert "Before the change (version 1): 本日の勉強会の満足度を教えてください。" in text  # the question as written
    assert "変更前（第1版）" not in text


def test_the_survey_api_keeps_japanese_messages_under_an_english_cookie(api, client, token, make, organizer):
    from tests.integration.test_survey_support import question

    event, survey, reg = _survey_setup(make, organizer)
    client.set_cookie("lang", "en")
    en = {"Accept-Language": "en"}
    sat, rec = question(survey, "satisfaction").id, question(survey, "recommend").id
    r = api("post", f"/events/{event.slug}/survey/responses", reg.attendee_token, headers=en,
            json={"answers": [{"question_id": rec, "value": 11}]})
    assert r.status_code == 422
    body = r.get_json()
    assert body["message"] == "回答内容を確認してください。"
    assert body["fields"][f"answers.{sat}"] == "この質問は回答が必要です。"
    assert body["fields"][f"answers.{rec}"] == "0〜10の中から選んでください。"
    bad = {"title": "那覇", "questions": [{"kind": "single", "text": "投稿しますか", "options": ["はい", "はい"]},
                                          {"kind": "rating", "text": "満足度", "min": 5, "max": 3}]}
    r = api("put", f"/events/{event.slug}/survey", token, headers=dict(en), json=bad)
    assert r.status_code == 422
    assert r.get_json()["fields"] == {"questions.0.options": "選択肢「はい」が重複しています。",
                                      "questions.1.scale": "目盛りは0〜10の整数で、最小値を最大値より小さくしてください。"}
