"""Survey pages without JavaScript: answering by personal link or ticket code (and every kind
of bad input), the organizer's builder, results whose charts carry the table's numbers,
exports, the projector page, the printable summary and the comparison across events."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import openpyxl
import pytest
from sqlalchemy import func, select

from eventsvc.core.clock import format_datetime, now_utc, to_jst
from eventsvc.extensions import db
from eventsvc.outbox.models import Delivery
from eventsvc.surveys import service
from eventsvc.surveys.models import SurveyAnswer, SurveyRespondent, SurveyResponse
from tests.integration.page_support import survey_builder_form
from tests.integration.test_survey_support import (
    attendee,
    checked_in,
    make_survey,
    numbers,
    question,
    result_sections,
    submit,
)


@pytest.fixture
def setup(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    return event, survey


def link(app, reg) -> str:
    token = service.link_token(reg, app.config["SECRET_KEY"])
    return f"/events/{reg.event.slug}/survey/r/{token}"


def form_for(survey, **overrides) -> dict:
    """A complete valid answer form for the default template, with ``overrides`` by key."""
    values = {"satisfaction": "5", "usefulness": "4", "recommend": "9", "most_useful": "窓口の事例",
              "next_themes": ["生成AIの業務活用"], "will_post": "まだ分からない", "comments": ""}
    values.update(overrides)
    data = {"revision": str(survey.revision)}
    for key, value in values.items():
        name = f"q{question(survey, key).id}"
        if isinstance(value, tuple):
            value, other = value
            data[name + "_other"] = other
        data[name] = value
    return data


def stored():
    return tuple(db.session.scalar(select(func.count()).select_from(t))
                 for t in (SurveyResponse, SurveyAnswer, SurveyRespondent))


def html(response) -> str:
    return response.get_data(as_text=True)


# ------------------------------------------------------------------ answering
def test_attendee_answers_by_ticket_code_then_edits(app, client, setup):
    event, survey = setup
    reg = attendee(event)
    page = client.get(f"/events/{event.slug}/survey")
    assert page.status_code == 200 and "チケットコード" in html(page)
    r = client.post(f"/events/{event.slug}/survey", data={"code": reg.ticket_code.lower().replace("-", " ")})
    assert r.status_code == 302
    answer_url = r.location
    assert answer_url.startswith(f"/events/{event.slug}/survey/r/")
    form = client.get(answer_url)
    assert "本日の勉強会の満足度を教えてください。" in html(form)
    assert f"{reg.name} さん専用" in html(form)
    r = client.post(answer_url, data=form_for(survey, comments="ありがとうございました"))
    assert r.status_code == 302 and r.location.endswith("/thanks")
    thanks = client.get(r.location)
    assert "回答を保存しました。" in html(thanks)
    assert stored()[0] == 1
    # shown again with the saved answers, and a second submit replaces the first
    again = html(client.get(answer_url))
    sat = question(survey, "satisfaction").id
    assert re.search(rf'id="q{sat}-5" name="q{sat}" value="5" checked', again)
    assert "ありがとうございました</textarea>" in again
    assert "回答済み" in again
    client.post(answer_url, data=form_for(survey, satisfaction="2"))
    assert stored()[0] == 1 and stored()[2] == 1
    assert service.results(survey).questions[0].average == 2


def test_the_attendee_token_also_works_as_a_personal_link(client, setup):
    event, survey = setup
    reg = attendee(event)
    r = client.get(f"/events/{event.slug}/survey/r/{reg.attendee_token}")
    assert r.status_code == 200 and "回答を送信する" in html(r)


@pytest.mark.parametrize("key, value, message", [
    ("satisfaction", "", "この質問は回答が必要です。"),
    ("satisfaction", "7", "1〜5の中から選んでください。"),
    ("recommend", "abc", "0〜10の中から選んでください。"),
    ("will_post", "管理職になりたい", "選択肢にない回答です。"),
    ("next_themes", ["生成AIの業務活用", "宇宙開発"], "選択肢にない回答です: 宇宙開発"),
    ("most_useful", "あ" * 5001, "5000文字以内で入力してください。"),
    ("next_themes", (["__other__"], ""), "「その他」の内容を入力してください。"),
])
def test_bad_answers_show_a_clear_message_keep_what_was_typed_and_save_nothing(app, client, setup, key, value,
                                                                                message):
    event, survey = setup
    reg = attendee(event)
    data = form_for(survey, comments="この感想は消えてはいけない", **{key: value})
    r = client.post(link(app, reg), data=data)
    assert r.status_code == 422
    page = html(r)
    assert message in page
    assert 'role="alert"' in page and "回答内容を確認してください" in page
    assert "この感想は消えてはいけない</textarea>" in page  # typed answers kept
    use = question(survey, "usefulness").id
    assert re.search(rf'id="q{use}-4" name="q{use}" value="4" checked', page)
    qid = question(survey, key).id
    assert f'href="#q{qid}-group"' in page and f'id="q{qid}-error"' in page
    assert stored() == (0, 0, 0)


def test_other_choice_with_text_is_saved(app, client, setup):
    event, survey = setup
    reg = attendee(event)
    # "other" on a question that offers none is just a choice not offered
    r = client.post(link(app, reg), data=form_for(survey, will_post=("__other__", "上司と相談")))
    assert r.status_code == 422 and "Q6: 選択肢にない回答です。" in html(r)
    r = client.post(link(app, reg), data=form_for(survey, next_themes=(["生成AIの業務活用", "__other__"], "防災DX")))
    assert r.status_code == 302, html(r)[:2000]
    saved = service.my_answers(survey, reg, app.config["SECRET_KEY"])
    themes = saved[question(survey, "next_themes").id]
    assert (themes.value, themes.other) == (["生成AIの業務活用"], "防災DX")
    page = html(client.get(link(app, reg)))
    qid = question(survey, "next_themes").id
    assert 'value="防災DX"' in page
    assert re.search(rf'id="q{qid}-other" name="q{qid}" value="__other__" checked', page)


def test_a_closed_survey_refuses_answers_but_keeps_them_on_screen(app, client, setup):
    event, survey = setup
    reg = attendee(event)
    url = link(app, reg)
    data = form_for(survey, comments="締切後に書いた感想")
    survey.closes_at = now_utc() - timedelta(minutes=1)
    db.session.commit()
    r = client.post(url, data=data)
    assert r.status_code == 409
    assert "このアンケートは締め切りました。回答は保存されていません。" in html(r)
    assert stored() == (0, 0, 0)
    assert "締め切りました" in html(client.get(url))
    assert "締め切りました" in html(client.get(f"/events/{event.slug}/survey"))


def test_a_survey_changed_while_answering_asks_to_check_again(app, client, setup, organizer):
    event, survey = setup
    reg = attendee(event)
    data = form_for(survey, comments="途中の感想")
    service.save_survey(event, service.SurveyData.from_survey(survey), organizer, now_utc())
    db.session.commit()
    r = client.post(link(app, reg), data=data)
    assert r.status_code == 409
    assert "回答中にアンケートの内容が更新されました" in html(r)
    assert "途中の感想</textarea>" in html(r)
    assert f'name="revision" type="hidden" value="{survey.revision}"' in html(r)
    assert stored() == (0, 0, 0)
    data["revision"] = str(survey.revision)
    assert client.post(link(app, reg), data=data).status_code == 302


def test_someone_elses_or_a_broken_link_gets_a_clear_page(app, client, setup, make, organizer):
    event, survey = setup
    other_event = make.event(organizer)
    make_survey(other_event, organizer)
    stranger = attendee(other_event)
    r = client.get(link(app, stranger).replace(other_event.slug, event.slug))
    assert r.status_code == 403
    assert "別のイベントのものです" in html(r) and "チケットコードを入力する" in html(r)
    r = client.post(link(app, stranger).replace(other_event.slug, event.slug), data=form_for(survey))
    assert r.status_code == 403
    for token in ("nonsense", "a" * 600, "WzEsMV0.forged", "%00"):
        r = client.get(f"/events/{event.slug}/survey/r/{token}")
        assert r.status_code == 404, token
        assert "このリンクは無効です" in html(r)
    cancelled = attendee(event, status="cancelled")
    r = client.get(link(app, cancelled))
    assert r.status_code == 403 and "参加が確定した方だけが回答できます" in html(r)
    assert stored() == (0, 0, 0)


def test_ticket_code_entry_problems(client, setup, make, organizer):
    event, survey = setup
    other_event = make.event(organizer)
    stranger = attendee(other_event)
    cancelled = attendee(event, status="cancelled")
    for code, message in [("", "チケットコードを入力してください。"),
                          ("T1-XXXX", "このイベントのチケットコードが見つかりません"),
                          (stranger.ticket_code, "このイベントのチケットコードが見つかりません"),
                          (cancelled.ticket_code, "参加が確定した方だけが回答できます")]:
        r = client.post(f"/events/{event.slug}/survey", data={"code": code})
        assert r.status_code == 422, code
        assert message in html(r)
        assert f'value="{code}"' in html(r) or not code


def test_short_url_leads_to_the_entry_page(client, setup):
    event, survey = setup
    r = client.get(f"/s/{survey.short_code.lower()}")
    assert r.status_code == 302 and r.location == f"/events/{event.slug}/survey"
    assert client.get("/s/NOPE99").status_code == 404
    # the community's rule is said once on the entry page (by the footer, as on every page); the answer
    # form says it again beside its button, where people write
    assert html(client.get(r.location)).count("ここでの発言は個人の見解であり、所属組織の見解ではありません。") == 1


def test_no_survey_and_draft_events_are_404_for_the_public(client, make, organizer):
    event = make.event(organizer)
    assert client.get(f"/events/{event.slug}/survey").status_code == 404
    draft = make.event(organizer, status="draft")
    make_survey(draft, organizer)
    assert client.get(f"/events/{draft.slug}/survey").status_code == 404


def test_garbage_posts_never_cause_a_500(app, client, setup):
    event, survey = setup
    reg = attendee(event)
    url = link(app, reg)
    sat = question(survey, "satisfaction").id
    for data in [{}, {"revision": "x"}, {f"q{sat}": "9" * 5000}, {f"q{sat}": ["1", "2"]}, {"q999999": "1"},
                 {f"q{sat}": "\x00"}, {f"q{sat}_other": "x"}]:
        r = client.post(url, data=data)
        assert r.status_code < 500, (data, r.status_code)
    comments = question(survey, "comments").id
    r = client.post(url, data=f"q{comments}=%ED%A0%80%FF".encode(), content_type="application/x-www-form-urlencoded")
    assert r.status_code < 500
    assert stored() == (0, 0, 0)


# ------------------------------------------------------------------ organizer pages
MANAGE = ["", "/edit", "/projector", "/results", "/summary", "/results.csv", "/results.xlsx"]


@pytest.mark.parametrize("suffix", MANAGE)
def test_manage_pages_need_the_events_organizer(client, setup, login, make, suffix):
    event, _survey = setup
    url = f"/manage/events/{event.slug}/survey{suffix}"
    r = client.get(url)
    assert r.status_code == 302 and "/login" in r.location
    login(make.organizer())
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("method, suffix", [("get", s) for s in MANAGE[1:]] + [
    ("post", "/close"), ("post", "/reopen"), ("post", "/invitations"), ("post", "/reminders")])
def test_survey_pages_before_a_survey_exists_lead_to_creating_one(client, login, make, organizer, method, suffix):
    event = make.event(organizer)
    login(organizer)
    r = getattr(client, method)(f"/manage/events/{event.slug}/survey{suffix}")
    assert r.status_code == 302 and r.location == f"/manage/events/{event.slug}/survey"
    assert "まだアンケートがありません。テンプレートから作成してください。" in html(client.get(r.location))
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_organizer_creates_from_the_template_and_edits_without_js(client, login, make, organizer):
    event = make.event(organizer)
    login(organizer)
    page = html(client.get(f"/manage/events/{event.slug}"))
    assert f'href="/manage/events/{event.slug}/survey"' in page
    assert "テンプレートからアンケートを作成" in html(client.get(f"/manage/events/{event.slug}/survey"))
    r = client.post(f"/manage/events/{event.slug}/survey/create")
    assert r.status_code == 302
    survey = service.get_survey(event)
    edit = client.get(f"/manage/events/{event.slug}/survey/edit")
    assert edit.status_code == 200
    assert "同僚に勧めたい" in html(edit)
    # post the form back as shown, with one change, one new question and one removed
    data = survey_builder_form(survey, title="参加者アンケート（那覇）")
    data["questions-6-remove"] = "y"
    data["questions-3-order"], data["questions-0-order"] = "1", "4"  # most useful ↔ satisfaction
    data.update({"questions-7-kind": "single", "questions-7-text": "懇親会に参加しましたか。",
                 "questions-7-options": "はい\nいいえ\n", "questions-7-order": "8"})
    r = client.post(f"/manage/events/{event.slug}/survey/edit", data=data)
    assert r.status_code == 302, html(r)[:3000]
    db.session.expire_all()
    texts = [q.current.text for q in service.get_survey(event).questions]
    assert texts[0] == "最も役に立った内容は何でしたか。"
    assert texts[3] == "本日の勉強会の満足度を教えてください。"
    assert texts[-1] == "懇親会に参加しましたか。"
    assert "その他、ご意見・ご感想があればお書きください。" not in texts
    assert service.get_survey(event).title == "参加者アンケート（那覇）"
    # a problem: shown on the field, everything typed kept, nothing saved
    data["questions-7-options"] = "はい"
    data["questions-0-text"] = ""
    r = client.post(f"/manage/events/{event.slug}/survey/edit", data=data)
    assert r.status_code == 422
    page = html(r)
    assert "選択肢を2つ以上入力してください。" in page and "入力してください。" in page
    assert "質問 8 選択肢: 選択肢を2つ以上入力してください。" in page  # in the summary, linked to the field
    assert 'href="#questions-7-options"' in page
    assert 'id="questions-7-options-error"' in page and 'id="questions-0-text-error"' in page
    db.session.expire_all()
    assert service.get_survey(event).questions[0].current.text == "最も役に立った内容は何でしたか。"
    # "add a question" adds a blank row, keeping what was typed
    data["add_question"] = "y"
    r = client.post(f"/manage/events/{event.slug}/survey/edit", data=data)
    assert r.status_code == 200 and 'name="questions-8-text"' in html(r)


def test_editing_after_answers_warns_and_keeps_them(app, client, login, setup, organizer):
    event, survey = setup
    submit(survey, attendee(event), satisfaction=1)
    login(organizer)
    page = html(client.get(f"/manage/events/{event.slug}/survey/edit"))
    assert "すでに 1件の回答があります" in page
    data = service.SurveyData.from_survey(survey)
    data.questions[0].text = "今日はどうでしたか。"
    result = service.save_survey(event, data, organizer, now_utc())
    db.session.commit()
    assert result.new_versions
    page = html(client.get(f"/manage/events/{event.slug}/survey/results"))
    assert "変更前・削除した質問" in page and "本日の勉強会の満足度を教えてください。" in page


def test_results_charts_carry_the_same_numbers_as_the_tables(client, login, setup, organizer):
    event, survey = setup
    scores = [(5, 10, ["生成AIの業務活用"]), (5, 9, ["生成AIの業務活用", "アナログ規制の見直し"]),
              (4, 7, []), (2, 3, ["庁内のDX人材育成"]), (3, 0, ["生成AIの業務活用"])]
    for sat, rec, themes in scores:
        submit(survey, attendee(event), satisfaction=sat, recommend=rec, next_themes=themes,
               most_useful=f"満足度{sat}の人の感想")
    login(organizer)
    page = html(client.get(f"/manage/events/{event.slug}/survey/results"))
    sections = [s for s in result_sections(page) if s["rows"]]
    assert len(sections) == 5  # three scales, two choice questions
    for s in sections:
        table = [(row[1], row[2]) for row in s["rows"][1:]]  # (count, percent) per row; row 0 is the header
        chart = [tuple(numbers(v)) for v in s["values"]]
        assert [(c, p.rstrip("%")) for c, p in table] == chart, s["id"]
        assert len(chart) == len(s["rows"]) - 1
    sat = sections[0]
    assert [row[:2] for row in sat["rows"][1:]] == [["1（不満）", "0"], ["2", "1"], ["3", "1"], ["4", "1"],
                                                    ["5（満足）", "2"]]
    assert 'class="sv-result-average">3.80<' in page
    assert 'class="sv-result-nps">0<' in page  # 2 promoters, 1 passive, 2 detractors
    assert "満足度5の人の感想" in page
    assert 'role="img"' in page and "<title id=\"q1-title\">Q1 本日の勉強会の満足度を教えてください。</title>" in page
    # the printable summary shows the charts alone: the same numbers as the results page's tables
    summary = html(client.get(f"/manage/events/{event.slug}/survey/summary"))
    charts = [s["values"] for s in result_sections(summary) if s["values"]]
    assert [[tuple(numbers(v)) for v in c] for c in charts] == [
        [(row[1], row[2].rstrip("%")) for row in s["rows"][1:]] for s in sections]


def test_anonymous_results_pages_show_no_names(client, login, setup, organizer):
    event, survey = setup
    reg = attendee(event, name="秘密 次郎")
    submit(survey, reg, comments="匿名の本音")
    login(organizer)
    for suffix in ("/results", "/summary"):
        page = html(client.get(f"/manage/events/{event.slug}/survey{suffix}"))
        assert "匿名の本音" in page
        assert "秘密 次郎" not in page and reg.email not in page


def test_named_results_show_who_wrote_what(client, login, make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer, anonymous=False)
    submit(survey, attendee(event, name="記名 三郎"), comments="記名の感想")
    login(organizer)
    page = html(client.get(f"/manage/events/{event.slug}/survey/results"))
    assert "記名の感想" in page and "記名 三郎" in page


def test_exports_download_as_files(client, login, setup, organizer):
    event, survey = setup
    submit(survey, attendee(event), comments="=1+1")
    login(organizer)
    r = client.get(f"/manage/events/{event.slug}/survey/results.csv")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert r.headers["Content-Disposition"] == f"attachment; filename={event.slug}-survey.csv"
    assert r.data.startswith(b"\xef\xbb\xbf") and b"'=1+1" in r.data
    r = client.get(f"/manage/events/{event.slug}/survey/results.xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    wb = openpyxl.load_workbook(io.BytesIO(r.data))
    assert wb["回答"].max_row == 2


def test_exports_from_the_english_pages_are_in_english(client, login, make, organizer):
    """Their own labels follow the page's language; the questions and what people wrote stay as written."""
    event = make.event(organizer)
    survey = make_survey(event, organizer, anonymous=False)
    submit(survey, attendee(event, name="記名 三郎"), comments="英語でも", next_themes=(["生成AIの業務活用"], "自由記述"))
    login(organizer)
    client.get("/lang/en?next=/")
    rows = list(csv.reader(io.StringIO(client.get(f"/manage/events/{event.slug}/survey/results.csv")
                                       .get_data().decode("utf-8-sig"))))
    assert rows[0][:4] == ["No.", "Full name", "Organization", "Answered at"]
    assert rows[0][4].startswith("Q1 ") and rows[0][4][3:] == survey.questions[0].current.text
    assert rows[1][1] == "記名 三郎" and "英語でも" in rows[1] and "生成AIの業務活用 / Other: 自由記述" in rows[1]
    assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}", rows[1][3])
    wb = openpyxl.load_workbook(io.BytesIO(client.get(f"/manage/events/{event.slug}/survey/results.xlsx").data))
    assert wb.sheetnames == ["Answer", "Summary"]
    assert [c.value for c in wb["Summary"][1]] == ["Question", "Type", "Answers", "Average", "NPS", "Option or value",
                                                   "Count", "Share (%)"]
    client.get("/lang/ja?next=/")
    japanese = client.get(f"/manage/events/{event.slug}/survey/results.csv").get_data().decode("utf-8-sig")
    assert japanese.startswith("No.,氏名,所属,回答日時,Q1 ")


def test_projector_page_shows_a_large_qr_and_the_short_url(client, login, setup, organizer):
    event, survey = setup
    login(organizer)
    page = html(client.get(f"/manage/events/{event.slug}/survey/projector"))
    assert f"localhost/s/{survey.short_code}" in page
    assert 'class="projector-qr" role="img" aria-label="アンケートのQRコード: http://localhost/s/' in page
    assert "チケットコードを入力すると回答できます" in page


def test_invitations_and_reminders_from_the_page(client, login, setup, organizer, monkeypatch):
    event, survey = setup
    came, home = attendee(event), attendee(event)
    checked_in(monkeypatch, {event.id: [came]})
    login(organizer)
    r = client.post(f"/manage/events/{event.slug}/survey/invitations", follow_redirects=True)
    assert "1人に送信を予約しました" in html(r)
    mails = db.session.scalars(select(Delivery).where(Delivery.kind == "mail.survey_invite")).all()
    assert [m.target for m in mails] == [came.email]
    assert f"/events/{event.slug}/survey/r/" in mails[0].payload["text"]
    r = client.post(f"/manage/events/{event.slug}/survey/reminders", follow_redirects=True)
    assert "1人に送信を予約しました" in html(r)
    page = html(client.get(f"/manage/events/{event.slug}/survey"))
    assert "招待 1人、リマインド 1人" in page
    assert "50%（0 / 1）" not in page and "0%（0 / 1）" in page  # response rate among those who came
    client.post(f"/manage/events/{event.slug}/survey/close")
    r = client.post(f"/manage/events/{event.slug}/survey/reminders", follow_redirects=True)
    assert "締め切ったアンケートの案内は送れません。" in html(r)
    assert home.email not in {m.target for m in db.session.scalars(select(Delivery))
                              if m.kind.startswith("mail.survey")}


def test_close_and_reopen(client, login, setup, organizer):
    event, survey = setup
    login(organizer)
    client.post(f"/manage/events/{event.slug}/survey/close")
    db.session.expire_all()
    assert service.state(service.get_survey(event), now_utc()) == "closed"
    client.post(f"/manage/events/{event.slug}/survey/reopen")
    db.session.expire_all()
    assert service.state(service.get_survey(event), now_utc()) == "open"


def test_compare_page_lists_events_with_the_same_numbers_in_chart_and_table(client, login, make, organizer):
    now = now_utc()
    a = make.event(organizer, prefecture_code="47", starts_at=now + timedelta(days=2), title="那覇の勉強会")
    b = make.event(organizer, prefecture_code="40", starts_at=now + timedelta(days=5), title="久留米の勉強会")
    for event, scores in [(a, [5, 4]), (b, [3, 3, 2])]:
        survey = make_survey(event, organizer)
        for s in scores:
            submit(survey, attendee(event), satisfaction=s)
    login(organizer)
    page = html(client.get("/manage/surveys/compare"))
    key = re.search(r'<option value="([^"]+)"[^>]*>本日の勉強会の満足度を教えてください。', page).group(1)
    page = html(client.get(f"/manage/surveys/compare?q={key}"))
    averages = re.findall(r'class="num compare-average">([^<]+)<', page)
    chart_values = re.findall(r'class="chart-value"[^>]*>([^<]+)<', page)
    assert averages == ["4.50", "2.67"] == chart_values
    assert page.index("那覇の勉強会") < page.index("久留米の勉強会")
    assert "九州・沖縄" in page
    page = html(client.get(f"/manage/surveys/compare?q={key}&region=kanto"))
    assert "該当するイベントがありません" in page


def test_other_pages_can_link_a_person_to_their_survey(app, setup, make, organizer):
    """The template global ``survey_link_for(registration)`` (for the attendee's ticket page)."""
    from flask import render_template_string

    event, survey = setup
    reg = attendee(event)
    template = "{% set s = survey_link_for(reg) %}{{ s.url }}|{{ s.state }}|{{ s.responded }}"
    with app.test_request_context():
        assert render_template_string(template, reg=reg) == f"{link(app, reg)}|open|False"
        submit(survey, reg)
        assert render_template_string(template, reg=reg).endswith("|open|True")
        no_survey = attendee(make.event(organizer))
        assert render_template_string("{{ survey_link_for(reg) is none }}", reg=no_survey) == "True"


def test_an_expired_form_comes_back_with_the_answers_typed(app, client, setup, monkeypatch):
    event, survey = setup
    reg = attendee(event)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    data = {**form_for(survey, comments="長く書いた感想"), "csrf_token": "expired-or-missing"}
    r = client.post(link(app, reg), data=data)
    assert r.status_code == 400
    page = html(r)
    assert "フォームの有効期限が切れました" in page
    assert "長く書いた感想</textarea>" in page
    assert stored() == (0, 0, 0)
    fresh = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = client.post(link(app, reg), data={**data, "csrf_token": fresh})
    assert r.status_code == 302
    assert stored()[0] == 1
    # everywhere else the app-wide CSRF protection still answers first
    assert client.post(f"/events/{event.slug}/survey", data={"code": reg.ticket_code}).status_code == 400


# ------------------------------------------------------------------ opening, closing and the ticket page
def ticket_page(client, reg) -> str:
    from eventsvc.registration import service as registrations

    return html(client.get(f"/my/{registrations.link_token(reg)}"))


def test_a_survey_from_the_template_opens_when_the_event_starts(app, client, login, make, organizer):
    event = make.event(organizer, starts_at=now_utc() + timedelta(days=120))
    reg = attendee(event)
    login(organizer)
    assert client.post(f"/manage/events/{event.slug}/survey/create").status_code == 302
    survey = service.get_survey(event)
    assert survey.opens_at == event.starts_at and service.state(survey, now_utc()) == "scheduled"
    page = html(client.get(f"/manage/events/{event.slug}/survey"))
    assert "受付前" in page and 'id="survey-opens"' in page and "今すぐ締め切る" not in page
    # organizers still see and edit it, and can put it on the screen
    for suffix in ("/edit", "/projector", "/results"):
        assert client.get(f"/manage/events/{event.slug}/survey{suffix}").status_code == 200, suffix
    # the attendee: no link on the ticket page, a clear message on the survey's pages, nothing saved
    assert "アンケートに答える" not in ticket_page(client, reg) and "/survey/r/" not in ticket_page(client, reg)
    assert "から回答できます" in html(client.get(link(app, reg)))
    r = client.post(link(app, reg), data=form_for(survey))
    assert r.status_code == 409
    assert "このアンケートはまだ回答を受け付けていません。" in html(r) and 'role="alert"' in html(r)
    assert stored() == (0, 0, 0)
    r = client.post(f"/events/{event.slug}/survey", data={"code": reg.ticket_code}, follow_redirects=True)
    assert "から回答できます" in html(r) and 'name="revision"' not in html(r)


def test_an_answer_with_mistakes_before_the_survey_opens_gets_the_not_open_page(app, client, setup, monkeypatch):
    """Open or closed first: a person can't fix their way into a survey that takes no answers."""
    event, survey = setup
    reg = attendee(event)
    survey.opens_at = now_utc() + timedelta(hours=2)
    db.session.commit()
    mistakes = form_for(survey, next_themes=(["__other__"], ""), satisfaction="7")  # "other" ticked, left empty
    r = client.post(link(app, reg), data=mistakes)
    assert r.status_code == 409
    page = html(r)
    assert "このアンケートはまだ回答を受け付けていません。" in page and 'role="alert"' in page
    assert "「その他」の内容を入力してください。" not in page and "回答内容を確認してください" not in page
    assert 'name="revision"' not in page  # no form to fill in yet
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)  # an expired form: still "not open" first
    r = client.post(link(app, reg), data={**mistakes, "csrf_token": "expired"})
    assert r.status_code == 409 and "まだ回答を受け付けていません" in html(r)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
    survey.opens_at, survey.closes_at = now_utc() - timedelta(hours=2), now_utc() - timedelta(hours=1)
    db.session.commit()
    r = client.post(link(app, reg), data=mistakes)
    assert r.status_code == 409
    assert "このアンケートは締め切りました。回答は保存されていません。" in html(r)
    assert "「その他」の内容を入力してください。" not in html(r)
    assert stored() == (0, 0, 0)


def test_the_manage_page_says_when_answers_open(client, login, make, organizer):
    """No opening time (older surveys, or the field left empty) means answers are taken at once;
    a survey left to the default opens at the event's start — the page says which."""
    event = make.event(organizer)
    login(organizer)
    client.post(f"/manage/events/{event.slug}/survey/create")
    survey = service.get_survey(event)
    page = html(client.get(f"/manage/events/{event.slug}/survey"))
    opening = re.search(r'id="survey-opens-at">([^<]+)<', page).group(1)
    assert opening == f"{format_datetime(event.starts_at)}（イベントの開始時刻）"
    assert "作成時から" not in page
    survey.opens_at = None
    db.session.commit()
    page = html(client.get(f"/manage/events/{event.slug}/survey"))
    assert re.search(r'id="survey-opens-at">([^<]+)<', page).group(1) == "指定なし（開始時刻を待たずに回答できます）"
    assert "作成時から" not in page and "受付中" in page
    at = (now_utc() + timedelta(days=30)).replace(second=0, microsecond=0)
    survey.opens_at = at
    db.session.commit()
    page = html(client.get(f"/manage/events/{event.slug}/survey"))
    assert re.search(r'id="survey-opens-at">([^<]+)<', page).group(1) == format_datetime(at)
    client.set_cookie("lang", "en")
    survey.opens_at = None
    db.session.commit()
    page = html(client.get(f"/manage/events/{event.slug}/survey"))
    assert "Not set" in re.search(r'id="survey-opens-at">([^<]+)<', page).group(1)


def test_invitations_before_the_survey_opens_are_scheduled_for_the_opening(client, login, setup, organizer,
                                                                           monkeypatch):
    event, survey = setup
    opens = (now_utc() + timedelta(hours=2)).replace(second=0, microsecond=0)
    survey.opens_at = opens
    db.session.commit()
    came = attendee(event)
    checked_in(monkeypatch, {event.id: [came]})
    login(organizer)
    page = html(client.get(f"/manage/events/{event.slug}/survey"))
    assert 'id="survey-invite-scheduled"' in page  # says so before anything is sent
    page = html(client.post(f"/manage/events/{event.slug}/survey/invitations", follow_redirects=True))
    assert "1人に送信を予約しました" in page
    assert f"アンケートの受付開始（{format_datetime(opens)}）まで送信を待ちます。" in page
    (mail,) = db.session.scalars(select(Delivery).where(Delivery.kind == "mail.survey_invite")).all()
    assert (mail.state, mail.next_attempt_at) == ("queued", opens)
    assert f"送信予約 1件（{format_datetime(opens)} に送信）" in page
    page = html(client.post(f"/manage/events/{event.slug}/survey/reminders", follow_redirects=True))
    assert f"アンケートの受付開始（{format_datetime(opens)}）より前には、リマインドは送れません。" in page
    # moving the opening later in the builder moves the invitation too, and says so
    later = opens + timedelta(days=1)
    data = {**survey_builder_form(survey), "opens_at": to_jst(later).strftime("%Y-%m-%dT%H:%M")}
    page = html(client.post(f"/manage/events/{event.slug}/survey/edit", data=data, follow_redirects=True))
    assert f"送信待ちの案内 1件は、新しい受付開始（{format_datetime(later)}）に送信します。" in page
    db.session.expire_all()
    assert db.session.get(Delivery, mail.id).next_attempt_at == later
    assert f"送信予約 1件（{format_datetime(later)} に送信）" in page
    # the deliveries pages say when it goes out (not only "waiting")
    assert f"送信予定: {format_datetime(later)}" in html(client.get(f"/manage/events/{event.slug}/deliveries"))
    assert f"送信予定: {format_datetime(later)}" in html(
        client.get(f"/manage/events/{event.slug}/deliveries/{mail.id}"))


def _invited_before_opening(client, login, setup, organizer, monkeypatch, opens_in: timedelta):
    """A survey opening ``opens_in`` from now, one attendee checked in, and the organizer's
    invitation sent already: ``(event, survey, opens, the invitation's delivery)``."""
    event, survey = setup
    opens = (now_utc() + opens_in).replace(second=0, microsecond=0)
    survey.opens_at = opens
    db.session.commit()
    checked_in(monkeypatch, {event.id: [attendee(event)]})
    login(organizer)
    client.post(f"/manage/events/{event.slug}/survey/invitations")
    (mail,) = db.session.scalars(select(Delivery).where(Delivery.kind == "mail.survey_invite")).all()
    return event, survey, opens, mail


def test_clearing_the_opening_sends_the_waiting_invitations_now_and_says_so(client, login, setup, organizer,
                                                                           monkeypatch):
    event, survey, opens, mail = _invited_before_opening(client, login, setup, organizer, monkeypatch,
                                                         timedelta(days=1))
    assert mail.next_attempt_at == opens
    # an earlier opening: the invitation moves with it
    earlier = opens - timedelta(hours=20)
    data = {**survey_builder_form(survey), "opens_at": to_jst(earlier).strftime("%Y-%m-%dT%H:%M")}
    page = html(client.post(f"/manage/events/{event.slug}/survey/edit", data=data, follow_redirects=True))
    assert f"送信待ちの案内 1件は、新しい受付開始（{format_datetime(earlier)}）に送信します。" in page
    db.session.expire_all()
    assert db.session.get(Delivery, mail.id).next_attempt_at == earlier
    # no opening any more: it goes now
    before = now_utc()
    page = html(client.post(f"/manage/events/{event.slug}/survey/edit", data=survey_builder_form(survey),
                            follow_redirects=True))
    assert "送信待ちの案内 1件は、受付開始を待たずに送信します。" in page
    db.session.expire_all()
    assert before <= db.session.get(Delivery, mail.id).next_attempt_at <= now_utc()


def test_resending_a_failed_invitation_before_the_survey_opens_waits_for_the_opening(client, login, setup,
                                                                                    organizer, monkeypatch):
    event, survey, opens, mail = _invited_before_opening(client, login, setup, organizer, monkeypatch,
                                                         timedelta(hours=2))

    def fail_and_resend():
        db.session.expire_all()
        row = db.session.get(Delivery, mail.id)
        row.state, row.attempts, row.last_error = "failed", 1, "550 mailbox unavailable"
        db.session.commit()
        r = client.post(f"/manage/events/{event.slug}/deliveries/{mail.id}/retry", follow_redirects=True)
        assert "再送を予約しました。" in html(r)
        db.session.expire_all()
        return db.session.get(Delivery, mail.id)

    row = fail_and_resend()
    assert (row.state, row.next_attempt_at) == ("queued", opens)  # not at once: the link could not be answered
    survey = db.session.get(type(survey), survey.id)
    survey.opens_at = now_utc() - timedelta(minutes=1)  # open now: a resend goes at once
    db.session.commit()
    before = now_utc()
    row = fail_and_resend()
    assert row.state == "queued" and before <= row.next_attempt_at <= now_utc()


def test_inviting_before_anyone_checked_in_says_why_nobody_was_invited(client, login, setup, organizer,
                                                                       monkeypatch):
    event, survey = setup
    attendee(event)
    checked_in(monkeypatch, {event.id: []})
    login(organizer)
    page = html(client.post(f"/manage/events/{event.slug}/survey/invitations", follow_redirects=True))
    assert "受付（チェックイン）をした人がまだいないため、誰にも送っていません。" in page


def test_the_ticket_page_says_the_survey_has_closed(app, client, setup):
    event, survey = setup
    answered, silent = attendee(event), attendee(event)
    submit(survey, answered)
    assert "回答を変更する" in ticket_page(client, answered)
    service.set_closing(survey, now_utc(), None, now_utc())
    db.session.commit()
    page = ticket_page(client, answered)
    assert "アンケートの受付は終了しました。ご協力ありがとうございました。" in page
    assert "/survey/r/" not in page and "回答を変更する" not in page
    page = ticket_page(client, silent)
    assert "アンケートの受付は終了しました。" in page and "ご協力ありがとうございました。" not in page
    assert "アンケートに答える" not in page


def test_the_results_page_shows_rates_of_people_with_what_they_mean(client, login, setup, organizer, monkeypatch):
    """12 confirmed people, 11 answered, 1 checked in (who did not answer): 0 %, never 1100 %."""
    event, survey = setup
    people = [attendee(event) for _ in range(12)]
    checked_in(monkeypatch, {event.id: people[:1]})
    for reg in people[1:]:
        submit(survey, reg)
    login(organizer)
    for suffix in ("", "/results"):
        page = html(client.get(f"/manage/events/{event.slug}/survey{suffix}"))
        assert "0%（0 / 1）" in page and "1100%" not in page, suffix
        assert "91.7%（11 / 12）" in page, suffix
        assert "回答率は人数の割合です。" in page, suffix


def test_english_results_count_one_answer_in_the_singular(client, login, make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    submit(survey, attendee(event))
    login(organizer)
    client.set_cookie("lang", "en")
    for suffix in ("/results", "/summary"):
        page = html(client.get(f"/manage/events/{event.slug}/survey{suffix}"))
        assert "1 answers" not in page, suffix
        assert re.search(r">1 answer<", page), suffix
