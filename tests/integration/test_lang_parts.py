"""Language of parts (WCAG 2.1 SC 3.1.2) on English pages, on SQLite and PostgreSQL.

An English page is ``<html lang="en">``; what people typed in Japanese (event titles, summaries,
descriptions, venues, agenda, participation types, names and organisations, team names, survey
questions and answers) is marked ``lang="ja"`` by the filters ``lang_ja`` / ``lang_ja_attr``, so that a
screen reader reads it as Japanese. Text typed in English is not marked, a Japanese page marks
nothing, and typed text is escaped (never HTML).

Each check reads the page as a browser would: the language of a piece of text is the ``lang`` of
its nearest element that has one. Text that cannot be marked is left out: ``<title>``, ``<option>``
and ``<textarea>`` (no elements inside them), attribute values, and the SVG charts (see ``_SKIP``).
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from flask import render_template_string

from eventsvc.events import service as events
from eventsvc.extensions import db
from tests.integration.test_survey_support import make_survey, question, submit
from tests.integration.test_teams_pages import run_form
from tests.integration.test_teams_support import (  # noqa: F401 - teams_plugged_into_checkin is an autouse fixture
    big_event,
    roster,
    teams_plugged_into_checkin,
)

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
#: text that cannot carry a language of its own on this page (see the module's docstring)
_SKIP = {"title", "option", "textarea", "script", "style", "svg"}


class _Languages(HTMLParser):
    """Every piece of text inside ``<main>`` with the language it is in."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None]] = []
        self.texts: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag in _VOID:
            return
        lang = dict(attrs).get("lang") or (self.stack[-1][1] if self.stack else None)
        self.stack.append((tag, lang))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        tags = {tag for tag, _lang in self.stack}
        if data.strip() and "main" in tags and not tags & _SKIP:
            self.texts.append((data, self.stack[-1][1]))


def languages(html: str, text: str) -> set[str | None]:
    """The languages the page shows ``text`` in (every piece of text that contains it)."""
    parser = _Languages()
    parser.feed(html)
    found = {lang for data, lang in parser.texts if text in data}
    assert found, f"{text!r} is not on the page"
    return found


def page(client, url: str) -> str:
    r = client.get(url)
    assert r.status_code == 200, r.status_code
    return r.get_data(as_text=True)


@pytest.fixture
def english(client):
    client.set_cookie("lang", "en")
    return client


@pytest.fixture
def event(make, organizer):
    return make.event(org=organizer, summary="書かない窓口の始め方",
                      description="## 内容\n\n窓口の**改善事例**を紹介します。",
                      venue_address="沖縄県那覇市字安里2-1")


@pytest.fixture
def english_event(make, organizer):
    return make.event(org=organizer, title="Open data workshop", summary="Bring a laptop",
                      description="We publish a **data set** together.", venue_name="Naha Tech Hub",
                      venue_address="2-1 Asato, Naha", agenda=False,
                      ticket_types=[events.TicketTypeData("venue", "In person", 30)])


# ------------------------------------------------------------------ the event page and the list
def test_the_event_page_in_english_marks_what_was_typed_in_japanese(english, event):
    html = page(english, f"/events/{event.slug}")
    assert '<html lang="en">' in html
    item, workshop = event.agenda_items
    for typed in (event.title, event.summary, "改善事例", event.venue_name, event.venue_address, "会場参加",
                  "オンライン参加", item.title, item.speaker, item.affiliation, workshop.title, "沖縄県"):
        assert languages(html, typed) == {"ja"}, typed
    assert f'<h1><span lang="ja">{event.title}</span></h1>' in html
    assert '<div class="prose" lang="ja">' in html  # Markdown's blocks: the language on their box
    # the interface around it stays English, and nothing goes inside <title>
    for ui in ("Date and time", "Participation types and availability", "Programme", "Register"):
        assert languages(html, ui) == {"en"}, ui
    title = html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert event.title in title and "<span" not in title


def test_the_event_page_in_japanese_marks_nothing(client, event):
    html = page(client, f"/events/{event.slug}")
    assert '<html lang="ja">' in html
    assert html.count('lang="ja"') == 1 and "<span lang=" not in html
    assert languages(html, event.title) == {"ja"}  # from the page itself


def test_text_typed_in_english_is_not_marked(english, english_event):
    html = page(english, f"/events/{english_event.slug}")
    for typed in ("Open data workshop", "Bring a laptop", "data set", "Naha Tech Hub", "2-1 Asato, Naha",
                  "In person"):
        assert languages(html, typed) == {"en"}, typed
    assert "<h1>Open data workshop</h1>" in html and '<div class="prose">' in html
    assert languages(html, "沖縄県") == {"ja"}  # the prefecture's name is still Japanese


def test_typed_html_and_quotes_stay_text(english, make, organizer):
    typed = """<script>alert("x")</script>の勉強会 'single' & "double" <b onmouseover=alert(1)>"""
    e = make.event(org=organizer, title=typed, summary=f"要約 {typed}", venue_name='会場"><img src=x onerror=alert(1)>')
    for url in (f"/events/{e.slug}", "/"):
        html = page(english, url)
        assert "<script>alert" not in html and "<b onmouseover" not in html and "<img src=x" not in html
        assert languages(html, typed) == {"ja"}
        assert languages(html, '会場"><img src=x onerror=alert(1)>') == {"ja"}
    assert ('<h1><span lang="ja">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;の勉強会 &#39;single&#39; &amp; '
            '&#34;double&#34; &lt;b onmouseover=alert(1)&gt;</span></h1>') in page(english, f"/events/{e.slug}")


def test_the_event_list_in_english(english, event, english_event):
    html = page(english, "/")
    assert languages(html, event.title) == {"ja"} and languages(html, event.summary) == {"ja"}
    assert languages(html, event.venue_name) == {"ja"}
    assert languages(html, english_event.title) == {"en"} and languages(html, "Bring a laptop") == {"en"}
    assert languages(html, "Naha Tech Hub") == {"en"}
    assert languages(html, "Upcoming study sessions") == {"en"}
    # an <option> holds text only: the language goes on the option itself
    assert '<option value="47" lang="ja"' in html and '<option value="">All prefectures</option>' in html
    english.set_cookie("lang", "ja")
    html = page(english, "/")
    assert '<html lang="ja">' in html and "<span lang=" not in html


def test_a_question_the_organizer_added_to_the_registration_form(english, event, organizer):
    from eventsvc.registration import service as registration

    registration.update_settings(event, organizer, event.created_at, promotion_mode="auto", offer_hours=48, questions=[
        registration.Question("why", "text", "参加の動機", [], False),
        registration.Question("note", "long_text", "Anything we should know?", [], False)],
        lottery_at=None, privacy_purpose="")
    db.session.commit()
    html = page(english, f"/events/{event.slug}/register")
    assert languages(html, "参加の動機") == {"ja"}
    assert languages(html, "Anything we should know?") == {"en"}
    assert languages(html, "Full name") == {"en"}  # the form's own labels are English


# ------------------------------------------------------------------ registration pages
def test_the_registration_pages_in_english(english, login, make, organizer, event):
    """The attendee's page, the participants list, the form and the organizer's registration page."""
    from eventsvc.registration import service as registration
    from tests.integration.test_registration_views import attendee_url

    registration.update_settings(event, organizer, event.created_at, promotion_mode="auto", offer_hours=48, questions=[
        registration.Question("why", "text", "参加の動機", [], False)], lottery_at=None, privacy_purpose="")
    reg = make.registration(event, name="山田 花子", name_kana="ヤマダ ハナコ", department="デジタル推進課",
                            answers={"why": "窓口のDX"})
    guest = make.registration(event, name="Alex Smith", name_kana="アレックス スミス", organization_code=None,
                              organization_name="Okinawa Open Labs", email="alex@pref.okinawa.lg.jp")
    db.session.commit()
    english.set_cookie("lang", "en")
    html = page(english, attendee_url(reg))
    for typed in (event.title, "山田 花子", "ヤマダ ハナコ", reg.organization_name, "デジタル推進課", "会場参加"):
        assert languages(html, typed) == {"ja"}, typed
    html = page(english, attendee_url(reg) + "/participants")
    assert languages(html, "山田 花子") == {"ja"} and languages(html, "Alex Smith") == {"en"}
    assert languages(html, "Okinawa Open Labs") == {"en"}
    html = page(english, f"/events/{event.slug}/register")
    assert languages(html, event.title) == {"ja"}
    login(organizer)
    english.set_cookie("lang", "en")
    html = page(english, f"/manage/registrations/{reg.id}")
    for typed in ("山田 花子", "ヤマダ ハナコ", "デジタル推進課", "会場参加", "参加の動機", "窓口のDX"):
        assert languages(html, typed) == {"ja"}, typed
    html = page(english, f"/manage/registrations/{guest.id}")
    assert languages(html, "Alex Smith") == {"en"} and languages(html, "Okinawa Open Labs") == {"en"}


# ------------------------------------------------------------------ the reception desk
def test_the_desk_in_english(english, login, make, organizer, event):
    reg = make.registration(event, name="山田 花子", name_kana="ヤマダ ハナコ")
    guest = make.registration(event, name="Alex Smith", name_kana="アレックス スミス", organization_code=None,
                              organization_name="Okinawa Open Labs", email="alex@pref.okinawa.lg.jp")
    login(organizer)
    english.set_cookie("lang", "en")
    url = f"/events/{event.slug}/checkin/"
    html = page(english, url + "?q=やまだ")
    assert languages(html, event.title) == {"ja"}
    for typed in ("山田 花子", "ヤマダ ハナコ", reg.organization_name, "会場参加"):
        assert languages(html, typed) == {"ja"}, typed
    assert languages(html, "Find by name") == {"en"}

    r = english.post(url, data={"code": guest.ticket_code, "nonce": "lang-1"})  # the answer to a scan, no JS
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Checked in" in html
    assert languages(html, "Alex Smith") == {"en"} and languages(html, "Okinawa Open Labs") == {"en"}
    assert languages(html, "アレックス スミス") == {"ja"}  # the reading is kana
    assert languages(html, organizer.name) == {"ja"}  # who is at the desk


def test_each_desk_hears_its_own_language_whatever_the_desk_before_heard(english, login, make, organizer, event):
    """The desk's answers are translated once per language in a server process: a Japanese desk
    and an English one, one after the other, each get theirs."""
    first, second, third = (make.registration(event, email=f"desk{i}@city.naha.lg.jp") for i in range(3))
    login(organizer)
    url = f"/events/{event.slug}/checkin/"
    answers = []
    for lang, reg in (("ja", first), ("en", second), ("ja", third)):
        english.set_cookie("lang", lang)
        answers.append(english.post(url, data={"code": reg.ticket_code, "nonce": f"lang-{lang}-{reg.id}"})
                       .get_data(as_text=True))
    assert "受付しました" in answers[0] and "Checked in" not in answers[0]
    assert "Checked in" in answers[1] and "受付しました" not in answers[1]
    assert "受付しました" in answers[2] and "Checked in" not in answers[2]


# ------------------------------------------------------------------ teams
def test_the_teams_page_in_english(english, login, make, organizer):
    event = big_event(make, organizer)
    people = roster(make, event, 9, national=3)
    login(organizer)
    english.set_cookie("lang", "en")
    assert run_form(english, event, names="窓口\nOpen data\n広報", team_count="3").status_code == 303
    html = page(english, f"/manage/events/{event.slug}/teams")
    for typed in ("窓口", "広報", event.title, people[0].name, people[0].organization_name, people[-1].name):
        assert languages(html, typed) == {"ja"}, typed
    assert languages(html, "Open data") == {"en"}
    assert "Team <span lang=\"ja\">窓口</span>" in html
    assert languages(html, "Team ") == {"en"}

    html = page(english, f"/manage/events/{event.slug}/teams/projector")
    assert languages(html, "窓口") == {"ja"} and languages(html, people[1].name) == {"ja"}
    assert languages(html, "Open data") == {"en"}


# ------------------------------------------------------------------ surveys
def test_the_survey_page_and_its_results_in_english(app, english, login, make, organizer, event):
    from eventsvc.surveys import service as surveys

    survey = make_survey(event, organizer, description="Answers are anonymous.")
    reg = make.registration(event)
    link = f"/events/{event.slug}/survey/r/{surveys.link_token(reg, app.config['SECRET_KEY'])}"
    html = page(english, link)
    assert languages(html, survey.title) == {"ja"}
    assert languages(html, "Answers are anonymous.") == {"en"}
    for q in survey.questions:
        v = q.current
        assert languages(html, v.text) == {"ja"}, v.text
        for typed in [*(v.options or []), v.min_label, v.max_label]:
            if typed:
                assert languages(html, typed) == {"ja"}, typed
    assert languages(html, reg.name) == {"ja"}
    assert languages(html, "Q1") == {"en"}

    submit(survey, reg, comments="Great session, thank you")
    submit(survey, make.registration(event), comments="また参加したいです")
    login(organizer)
    english.set_cookie("lang", "en")
    html = page(english, f"/manage/events/{event.slug}/survey/results")
    first = survey.questions[0].current.text
    assert f'Q1 <span lang="ja">{first}</span>' in html and languages(html, first) == {"ja"}
    assert languages(html, "Great session, thank you") == {"en"}
    assert languages(html, "また参加したいです") == {"ja"}
    assert languages(html, question(survey, "next_themes").current.options[0]) == {"ja"}
    assert languages(html, survey.title) == {"ja"}


# ------------------------------------------------------------------ the filters themselves
def test_the_filters_leave_plain_text_templates_alone(app):
    """Mails are not autoescaped: the filters never put tags in them, whatever the language."""
    # each in an app context of its own, as each request has (Flask-Babel keeps the locale on ``g``)
    with app.app_context(), app.test_request_context("/?lang=en"):
        assert render_template_string('{{ "勉強会"|lang_ja }}') == '<span lang="ja">勉強会</span>'
        assert render_template_string('<p{{ "説明"|lang_ja_attr }}>') == '<p lang="ja">'
        assert render_template_string('{{ "Meetup"|lang_ja }}|{{ none|lang_ja }}') == "Meetup|None"
        plain = '{% autoescape false %}{{ "勉強会<b>"|lang_ja }}|<p{{ "説明"|lang_ja_attr }}>{% endautoescape %}'
        assert render_template_string(plain) == "勉強会<b>|<p>"
    with app.app_context(), app.test_request_context("/?lang=ja"):
        assert render_template_string('{{ "勉強会<b>"|lang_ja }}<p{{ "説明"|lang_ja_attr }}>') == "勉強会&lt;b&gt;<p>"
