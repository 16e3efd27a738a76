"""Survey rules on SQLite and PostgreSQL: building, question versions, answering each kind,
validation, one response per registration (also under concurrent submits), anonymity,
personal links, invitations and reminders through the outbox, comparison across events."""

from __future__ import annotations

import csv
import io
import threading
from datetime import timedelta

import openpyxl
import pytest
from sqlalchemy import func, inspect, select

from eventsvc.core.clock import format_datetime, format_range, now_utc, to_jst
from eventsvc.database import read_only
from eventsvc.errors import Conflict, DomainError, ValidationFailed
from eventsvc.extensions import db
from eventsvc.outbox.models import Delivery
from eventsvc.surveys import service
from eventsvc.surveys.models import (
    QuestionVersion,
    SurveyAnswer,
    SurveyQuestion,
    SurveyRespondent,
    SurveyResponse,
)
from tests.integration.test_survey_support import (
    FULL,
    SECRET,
    answers_for,
    attendee,
    checked_in,
    make_survey,
    no_attendance,
    question,
    submit,
)

Q = service.QuestionData


def all_kinds() -> service.SurveyData:
    return service.SurveyData(title="全種類", questions=[
        Q("rating", "満足度", scale_min=1, scale_max=5, min_label="不満", max_label="満足", required=True),
        Q("single", "職種", options=["事務", "技術", "その他の職"], allow_other=True, required=True),
        Q("multiple", "関心", options=["AI", "BPR", "データ"], allow_other=True),
        Q("text", "所属の部署（任意）"),
        Q("long_text", "感想"),
    ])


def ids(survey):
    return [q.id for q in survey.questions]


def counts():
    return (db.session.scalar(select(func.count()).select_from(SurveyResponse)),
            db.session.scalar(select(func.count()).select_from(SurveyAnswer)),
            db.session.scalar(select(func.count()).select_from(SurveyRespondent)))


# ------------------------------------------------------------------ building
def test_default_template_is_japanese_and_complete(make, organizer):
    event = make.event(organizer)
    survey = service.create_survey(event, organizer, now_utc())
    db.session.commit()
    kinds = [(q.key, q.current.kind) for q in survey.questions]
    assert kinds == [("satisfaction", "rating"), ("usefulness", "rating"), ("recommend", "rating"),
                     ("most_useful", "long_text"), ("next_themes", "multiple"), ("will_post", "single"),
                     ("comments", "long_text")]
    assert survey.anonymous is True
    assert survey.title == "参加者アンケート"
    rec = question(survey, "recommend").current
    assert (rec.scale_min, rec.scale_max) == (0, 10)
    assert question(survey, "next_themes").current.allow_other is True
    assert question(survey, "satisfaction").current.text == "本日の勉強会の満足度を教えてください。"
    assert len(survey.short_code) == 6 and set(survey.short_code) <= set("23456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert survey.closes_at == event.ends_at + timedelta(days=14)
    with pytest.raises(Conflict) as err:
        service.create_survey(event, organizer, now_utc())
    assert err.value.code == "survey_exists"


def test_a_new_survey_opens_when_the_event_starts(make, organizer):
    """A post-event survey ("本日はご参加ありがとうございました") made months ahead takes no answers
    before the event; the organizer may set another time, or none (``opens_at=None``)."""
    event = make.event(organizer, starts_at=now_utc() + timedelta(days=120))
    survey = service.create_survey(event, organizer, now_utc())
    db.session.commit()
    assert survey.opens_at == event.starts_at
    assert service.state(survey, now_utc()) == "scheduled"
    assert service.state(survey, event.starts_at - timedelta(seconds=1)) == "scheduled"
    assert service.state(survey, event.starts_at) == "open"
    with pytest.raises(Conflict) as err:
        submit(survey, attendee(event))
    assert err.value.code == "survey_not_open" and err.value.status == 409
    assert "から回答できます" in err.value.message
    db.session.rollback()
    assert counts() == (0, 0, 0)
    # saving it again keeps the opening time unless told
    data = service.SurveyData.from_survey(survey)
    data.title = "改題"
    service.save_survey(event, data, organizer, now_utc())
    assert survey.opens_at == event.starts_at
    data = service.SurveyData(title="t", questions=[Q("text", "感想")])
    service.save_survey(event, data, organizer, now_utc())
    assert survey.opens_at == event.starts_at
    data.opens_at = None  # no opening time: at once
    service.save_survey(event, data, organizer, now_utc())
    db.session.commit()
    assert survey.opens_at is None and service.state(survey, now_utc()) == "open"
    # created from data without an opening time: the event's start too
    other = make.event(organizer)
    made = service.create_survey(other, organizer, now_utc(), service.SurveyData("t", [Q("text", "感想")]))
    assert made.opens_at == other.starts_at
    # an event that has started: open at once
    started = make.event(organizer, starts_at=now_utc() - timedelta(minutes=5))
    assert service.state(service.create_survey(started, organizer, now_utc()), now_utc()) == "open"


@pytest.mark.parametrize("bad, key", [
    (Q("rating", "x", scale_min=5, scale_max=5), "questions.0.scale"),
    (Q("rating", "x", scale_min=0, scale_max=11), "questions.0.scale"),
    (Q("single", "x", options=["a"]), "questions.0.options"),
    (Q("multiple", "x", options=["a", "a"]), "questions.0.options"),
    (Q("single", "x", options=[f"o{i}" for i in range(31)]), "questions.0.options"),
    (Q("text", ""), "questions.0.text"),
    (Q("text", "x" * 501), "questions.0.text"),
    (Q("text", "bidi\u202e"), "questions.0.text"),
    (Q("essay", "x"), "questions.0.kind"),
])
def test_bad_questions_are_refused_naming_the_field(make, organizer, bad, key):
    event = make.event(organizer)
    with pytest.raises(ValidationFailed) as err:
        service.save_survey(event, service.SurveyData("t", [bad]), organizer, now_utc())
    assert key in err.value.fields
    db.session.rollback()
    assert service.get_survey(event) is None


def test_close_before_open_and_empty_survey_are_refused(make, organizer):
    event = make.event(organizer)
    now = now_utc()
    data = service.SurveyData("t", [], opens_at=now, closes_at=now - timedelta(hours=1))
    with pytest.raises(ValidationFailed) as err:
        service.save_survey(event, data, organizer, now)
    assert set(err.value.fields) == {"questions", "closes_at"}


# ------------------------------------------------------------------ answering, per kind
def test_rating_answers_give_distribution_average_and_nps(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    for s, r in [(5, 10), (4, 9), (4, 7), (2, 3)]:
        submit(survey, attendee(event), satisfaction=s, recommend=r)
    res = service.results(survey)
    sat = res.questions[0]
    assert sat.count == 4
    assert [(b.label, b.count) for b in sat.distribution] == [("1", 0), ("2", 1), ("3", 0), ("4", 2), ("5", 1)]
    assert sat.average == 3.75
    assert sat.nps is None  # 1–5 is not an NPS scale
    rec = res.questions[2]
    assert rec.nps.promoters == 2 and rec.nps.passives == 1 and rec.nps.detractors == 1
    assert rec.nps.score == 25
    assert res.responses == 4 and res.confirmed == 4


def test_single_and_multiple_choice_with_other(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer, all_kinds())
    rating, single, multiple, text, long_text = ids(survey)
    people = [attendee(event) for _ in range(3)]
    A = service.AnswerData
    service.submit_response(survey, people[0], [A(rating, 3), A(single, "事務"), A(multiple, ["AI", "BPR"])],
                            now_utc(), secret=SECRET)
    service.submit_response(survey, people[1], [A(rating, 4), A(single, None, "保健師"),
                                                A(multiple, ["BPR"], "防災")], now_utc(), secret=SECRET)
    service.submit_response(survey, people[2], [A(rating, 5), A(single, "技術"), A(text, "情報政策課"),
                                                A(long_text, "楽しかった\n次回も")], now_utc(), secret=SECRET)
    db.session.commit()
    res = {r.question.text: r for r in service.results(survey).questions}
    s = res["職種"]
    assert [(b.label, b.count) for b in s.distribution] == [("事務", 1), ("技術", 1), ("その他の職", 0), ("その他", 1)]
    assert [t.text for t in s.others] == ["保健師"]
    m = res["関心"]
    assert m.count == 2  # the third person skipped it (optional)
    assert [(b.label, b.count, b.percent) for b in m.distribution] == [
        ("AI", 1, 50.0), ("BPR", 2, 100.0), ("データ", 0, 0.0), ("その他", 1, 50.0)]
    assert [t.text for t in res["所属の部署（任意）"].texts] == ["情報政策課"]
    assert [t.text for t in res["感想"].texts] == ["楽しかった\n次回も"]


def test_multiple_choice_is_stored_in_question_order_once(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    reg = attendee(event)
    submit(survey, reg, next_themes=["庁内のDX人材育成", "生成AIの業務活用", "庁内のDX人材育成"])
    saved = service.my_answers(survey, reg, SECRET)
    assert saved[question(survey, "next_themes").id].value == ["生成AIの業務活用", "庁内のDX人材育成"]


# ------------------------------------------------------------------ validation: nothing half-saved
@pytest.mark.parametrize("index, value, other, message", [
    (0, None, "", "この質問は回答が必要です。"),             # required rating missing
    (0, 6, "", "1〜5の中から選んでください。"),               # out of range
    (0, 0, "", "1〜5の中から選んでください。"),
    (0, "5", "", "1〜5の中から選んでください。"),             # a string is not a rating
    (0, True, "", "1〜5の中から選んでください。"),
    (1, "管理職", "", "選択肢にない回答です。"),               # choice not offered
    (1, None, "", "この質問は回答が必要です。"),
    (1, "事務", "保健師", "選択肢か「その他」のどちらか一つにしてください。"),
    (2, ["AI", "ブロックチェーン"], "", "選択肢にない回答です: ブロックチェーン"),
    (2, "AI", "", "選択肢のリストで回答してください。"),
    (3, "x" * 201, "", "200文字以内で入力してください。"),    # overlong text
    (3, "改行\nあり", "", "制御文字は使用できません。"),
    (4, "x" * 5001, "", "5000文字以内で入力してください。"),
    (4, "nul\x00", "", "制御文字は使用できません。"),
    (2, ["AI"], "x" * 201, "200文字以内で入力してください。"),
    (4, "ok", "その他", "この質問には「その他」の欄はありません。"),
])
def test_invalid_answers_are_refused_and_nothing_is_saved(make, organizer, index, value, other, message):
    event = make.event(organizer)
    survey = make_survey(event, organizer, all_kinds())
    qids = ids(survey)
    A = service.AnswerData
    good = {0: A(qids[0], 4), 1: A(qids[1], "技術"), 2: A(qids[2], ["AI"]), 3: A(qids[3], "課"), 4: A(qids[4], "良")}
    good[index] = A(qids[index], value, other)
    reg = attendee(event)
    with pytest.raises(ValidationFailed) as err:
        service.submit_response(survey, reg, list(good.values()), now_utc(), secret=SECRET)
    assert err.value.fields == {f"answers.{qids[index]}": message}
    db.session.rollback()
    assert counts() == (0, 0, 0)


def test_unknown_and_repeated_questions_are_refused(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    other_survey = make_survey(make.event(organizer), organizer)
    reg = attendee(event)
    answers = answers_for(survey, **FULL)
    stray = service.AnswerData(question(other_survey, "satisfaction").id, 5)
    with pytest.raises(ValidationFailed) as err:
        service.submit_response(survey, reg, answers + [stray, answers[0]], now_utc(), secret=SECRET)
    assert err.value.fields == {f"answers.{stray.question_id}": "この質問はこのアンケートにありません。ページを読み込み直してください。",
                                f"answers.{answers[0].question_id}": "同じ質問への回答が重複しています。"}
    db.session.rollback()
    assert counts() == (0, 0, 0)


def test_every_problem_is_reported_at_once(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    with pytest.raises(ValidationFailed) as err:
        service.submit_response(survey, attendee(event), answers_for(survey, usefulness=9), now_utc(), secret=SECRET)
    sat, use, rec = (question(survey, k).id for k in ("satisfaction", "usefulness", "recommend"))
    assert set(err.value.fields) == {f"answers.{sat}", f"answers.{use}", f"answers.{rec}"}


# ------------------------------------------------------------------ one response per registration
def test_a_second_submit_replaces_the_first(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    reg = attendee(event)
    first = submit(survey, reg, satisfaction=2, comments="最初")
    second = submit(survey, reg, satisfaction=5, comments="")
    assert first.id == second.id
    assert counts()[0] == 1 and counts()[2] == 1
    saved = service.my_answers(survey, reg, SECRET)
    assert saved[question(survey, "satisfaction").id].value == 5
    assert question(survey, "comments").id not in saved  # cleared, not kept from the first
    assert service.results(survey).questions[0].average == 5


def test_closed_and_not_yet_open_surveys_refuse_answers(make, organizer):
    event = make.event(organizer)
    now = now_utc()
    survey = make_survey(event, organizer, closes_at=now - timedelta(minutes=1))
    with pytest.raises(Conflict) as err:
        submit(survey, attendee(event))
    assert err.value.code == "survey_closed"
    db.session.rollback()
    survey.closes_at, survey.opens_at = None, now + timedelta(days=1)
    db.session.commit()
    with pytest.raises(Conflict) as err:
        submit(survey, attendee(event))
    assert err.value.code == "survey_not_open"
    db.session.rollback()
    assert counts() == (0, 0, 0)


def test_answers_can_be_changed_until_closing_but_not_after(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    reg = attendee(event)
    submit(survey, reg, satisfaction=3)
    service.set_closing(survey, now_utc() - timedelta(seconds=1), organizer, now_utc())
    db.session.commit()
    with pytest.raises(Conflict):
        submit(survey, reg, satisfaction=1)
    db.session.rollback()
    assert service.results(survey).questions[0].average == 3


def test_only_confirmed_registrations_of_this_event_may_answer(make, organizer):
    event, other = make.event(organizer), make.event(organizer)
    survey = make_survey(event, organizer)
    with pytest.raises(DomainError) as err:
        submit(survey, attendee(other))
    assert err.value.code == "wrong_event" and err.value.status == 403
    cancelled = attendee(event, status="cancelled")
    with pytest.raises(DomainError) as err:
        submit(survey, cancelled)
    assert err.value.code == "not_eligible"


def _submit_in_thread(app, survey_id, reg_id, value, barrier, outcomes):
    from eventsvc.registration.models import Registration
    from eventsvc.surveys.models import Survey

    with app.app_context():
        try:
            with read_only():  # SQLite: don't hold the write lock while waiting for the others
                survey = db.session.get(Survey, survey_id)
                reg = db.session.get(Registration, reg_id)
                answers = answers_for(survey, **{**FULL, "satisfaction": value})
                db.session.commit()
            barrier.wait(10)
            service.submit_response(survey, reg, answers, now_utc(), secret=SECRET)
            db.session.commit()
            outcomes.append("ok")
        except Exception as err:  # noqa: BLE001 - the test reports what happened
            db.session.rollback()
            outcomes.append(f"{type(err).__name__}: {err}")
        finally:
            db.session.remove()


def test_concurrent_submits_leave_exactly_one_response(app, make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    reg = attendee(event)
    survey_id, reg_id = survey.id, reg.id
    db.session.commit()  # hold no transaction while the threads run
    n = 6
    barrier, outcomes = threading.Barrier(n), []
    threads = [threading.Thread(target=_submit_in_thread, args=(app, survey_id, reg_id, 1 + i % 5, barrier, outcomes))
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes == ["ok"] * n, outcomes
    db.session.rollback()
    responses, answers, respondents = counts()
    assert (responses, respondents) == (1, 1)
    assert answers == len([v for v in FULL.values() if v not in ("", [], None)])


def test_the_unique_constraints_hold_without_the_service(make, organizer):
    """Below the lock, the database itself refuses a second respondent row or owner key."""
    from sqlalchemy.exc import IntegrityError

    event = make.event(organizer)
    survey = make_survey(event, organizer)
    reg = attendee(event)
    submit(survey, reg)
    db.session.add(SurveyRespondent(survey_id=survey.id, registration_id=reg.id))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    key = service.owner_key(SECRET, survey, reg)
    db.session.add(SurveyResponse(id="f" * 32, survey_id=survey.id, owner_key=key))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


# ------------------------------------------------------------------ question versions
def test_editing_an_answered_question_adds_a_version_and_keeps_old_answers(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    submit(survey, attendee(event), satisfaction=2)
    data = service.SurveyData.from_survey(survey)
    sat = data.questions[0]
    sat.text, sat.scale_min, sat.scale_max = "満足度（10段階）", 1, 10
    data.questions[6].text = "感想（未回答の質問は書き換え）"
    data.questions[1].required = False  # not a change of meaning
    result = service.save_survey(event, data, organizer, now_utc())
    db.session.commit()
    assert [q.key for q in result.new_versions] == ["satisfaction", "comments"]  # comments had an answer
    q = question(survey, "satisfaction")
    assert [v.version for v in q.versions] == [1, 2]
    assert q.versions[0].text == "本日の勉強会の満足度を教えてください。" and q.versions[0].scale_max == 5
    assert len(question(survey, "usefulness").versions) == 1
    assert question(survey, "usefulness").current.required is False

    submit(survey, attendee(event), satisfaction=9)
    res = service.results(survey)
    assert res.questions[0].question.text == "満足度（10段階）"
    assert res.questions[0].average == 9  # the old "2 of 5" is not mixed in
    earlier = {r.question.text: (label, r) for label, r in res.earlier}
    label, old = earlier["本日の勉強会の満足度を教えてください。"]
    assert label == "変更前（第1版）" and old.average == 2 and old.count == 1
    header, rows = service.export_table(survey)
    assert "Q1（変更前 第1版） 本日の勉強会の満足度を教えてください。" in header
    assert "Q1 満足度（10段階）" in header


def test_unanswered_questions_change_in_place_and_removed_answered_ones_are_kept(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    data = service.SurveyData.from_survey(survey)
    data.questions[0].text = "満足度"
    service.save_survey(event, data, organizer, now_utc())
    db.session.commit()
    assert [v.text for v in question(survey, "satisfaction").versions] == ["満足度"]

    submit(survey, attendee(event), most_useful="", comments="残してほしい感想")
    data = service.SurveyData.from_survey(survey)
    data.questions = [q for q in data.questions if q.key not in ("comments", "most_useful")]
    data.questions.append(Q("text", "新しい質問"))
    result = service.save_survey(event, data, organizer, now_utc())
    db.session.commit()
    assert [q.key for q in result.retired] == ["comments"]
    assert [q.key for q in survey.questions][-1] is None
    all_keys = {q.key: q for q in db.session.scalars(select(SurveyQuestion))}
    assert "most_useful" not in all_keys  # never answered: deleted
    assert all_keys["comments"].removed_at is not None
    res = service.results(survey)
    assert [(label, [t.text for t in r.texts]) for label, r in res.earlier] == [("削除した質問", ["残してほしい感想"])]


def test_a_question_id_from_another_survey_is_refused(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    other = make_survey(make.event(organizer), organizer)
    data = service.SurveyData.from_survey(survey)
    data.questions[0].id = other.questions[0].id
    with pytest.raises(ValidationFailed) as err:
        service.save_survey(event, data, organizer, now_utc())
    assert err.value.fields == {"questions.0.id": "この質問はこのアンケートにありません。"}


# ------------------------------------------------------------------ anonymity
def test_anonymous_responses_cannot_be_joined_to_people(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    people = [attendee(event, name=f"匿名 太郎{i}") for i in range(4)]
    for i, reg in enumerate(people):
        submit(survey, reg, comments=f"感想{i}")
    # the answers table has no column that points at a person; responses point at nobody
    cols = {c["name"] for c in inspect(db.engine).get_columns("survey_answers")}
    assert cols == {"response_id", "question_version_id", "value", "other"}
    fks = {fk["referred_table"] for fk in inspect(db.engine).get_foreign_keys("survey_answers")}
    assert fks == {"survey_responses", "survey_question_versions"}
    rows = db.session.scalars(select(SurveyResponse)).all()
    assert all(r.registration_id is None and r.submitted_at is None for r in rows)
    assert all(len(r.id) == 32 for r in rows)
    registration_keys = {str(p.id) for p in people} | {p.attendee_token_hash for p in people}
    assert not any(r.owner_key in registration_keys for r in rows)
    # results and exports carry no name, e-mail, ticket code or time
    res = service.results(survey)
    texts = [t for r in res.questions for t in r.texts]
    assert {t.text for t in texts} >= {f"感想{i}" for i in range(4)}
    assert all(t.author == "" for t in texts)
    header, table = service.export_table(survey)
    assert "氏名" not in header and "回答日時" not in header
    flat = " ".join(str(c) for row in [header, *table] for c in row)
    for p in people:
        assert p.name not in flat and p.email not in flat and p.ticket_code not in flat
    csv_text = service.export_csv(survey).decode("utf-8-sig")
    assert not any(p.name in csv_text or p.email in csv_text for p in people)
    # who responded is known (for reminders), what they answered is not
    assert db.session.scalar(select(func.count()).select_from(SurveyRespondent)) == 4


def test_anonymous_cannot_become_named_once_answered_but_named_can_become_anonymous(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    submit(survey, attendee(event))
    data = service.SurveyData.from_survey(survey)
    data.anonymous = False
    with pytest.raises(ValidationFailed) as err:
        service.save_survey(event, data, organizer, now_utc())
    assert "anonymous" in err.value.fields
    db.session.rollback()

    named_event = make.event(organizer)
    named = make_survey(named_event, organizer, anonymous=False)
    reg = attendee(named_event, name="記名 花子")
    submit(named, reg, comments="記名の感想")
    header, table = service.export_table(named)
    assert header[:4] == ["No.", "氏名", "所属", "回答日時"] and table[0][1] == "記名 花子"
    assert [t.author for t in service.results(named).questions[6].texts] == ["記名 花子（沖縄県那覇市）"]
    data = service.SurveyData.from_survey(named)
    data.anonymous = True
    service.save_survey(named_event, data, organizer, now_utc())
    db.session.commit()
    assert db.session.scalars(select(SurveyResponse.registration_id).where(
        SurveyResponse.survey_id == named.id)).all() == [None]
    header, table = service.export_table(named)
    assert "氏名" not in header and "記名 花子" not in str(table)


# ------------------------------------------------------------------ personal links
def test_personal_links_resolve_only_for_their_event(make, organizer):
    event, other = make.event(organizer), make.event(organizer)
    make_survey(event, organizer)
    reg, stranger = attendee(event), attendee(other)
    assert service.resolve_link(event, service.link_token(reg, SECRET), SECRET).id == reg.id
    assert service.resolve_link(event, reg.attendee_token, SECRET).id == reg.id
    with pytest.raises(DomainError) as err:
        service.resolve_link(event, service.link_token(stranger, SECRET), SECRET)
    assert err.value.code == "wrong_event"
    with pytest.raises(DomainError) as err:
        service.resolve_link(event, service.link_token(reg, "another-secret"), SECRET)
    assert err.value.code == "invalid_link"
    with pytest.raises(DomainError) as err:
        service.resolve_link(event, "garbage", SECRET)
    assert err.value.code == "invalid_link"
    assert service.registration_by_code(event, reg.ticket_code.lower().replace("-", " ")).id == reg.id
    assert service.registration_by_code(event, stranger.ticket_code) is None


# ------------------------------------------------------------------ invitations and reminders
def _link(reg):
    return f"https://events.example.lg.jp/events/{reg.event.slug}/survey/r/{service.link_token(reg, SECRET)}"


def _survey_mail(kind):
    return db.session.scalars(select(Delivery).where(Delivery.kind == kind).order_by(Delivery.id)).all()


def test_invitations_need_attendance_and_go_only_to_people_who_came(make, organizer, monkeypatch):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    came, answered_at_venue, stayed_home = attendee(event), attendee(event), attendee(event)
    cancelled = attendee(event)
    no_attendance(monkeypatch)
    with pytest.raises(Conflict) as err:
        service.send_invitations(survey, organizer, now_utc(), link_for=_link)
    assert err.value.code == "attendance_unknown"
    db.session.rollback()

    checked_in(monkeypatch, {event.id: [came, answered_at_venue, cancelled]})
    from eventsvc.registration import service as registration

    registration.cancel(cancelled, cancelled, now_utc())
    submit(survey, answered_at_venue)
    result = service.send_invitations(survey, organizer, now_utc(), link_for=_link)
    db.session.commit()
    assert (result.people, result.answered, result.already_sent) == (1, 1, 0)
    mails = _survey_mail("mail.survey_invite")
    assert [(m.target, m.registration_id, m.event_id) for m in mails] == [(came.email, came.id, event.id)]
    assert _link(came) in mails[0].payload["text"]
    assert mails[0].payload["subject"] == f"【アンケートのお願い】{event.title}"
    assert "匿名" in mails[0].payload["text"]
    assert stayed_home.email not in {m.target for m in _survey_mail("mail.survey_invite")}
    again = service.send_invitations(survey, organizer, now_utc(), link_for=_link)
    db.session.commit()
    assert (again.people, again.already_sent, len(again.deliveries)) == (0, 1, 0)
    assert len(_survey_mail("mail.survey_invite")) == 1


def test_reminders_go_to_invited_people_who_have_not_answered_once_a_day(make, organizer, monkeypatch):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    a, b, c = attendee(event), attendee(event), attendee(event)
    checked_in(monkeypatch, {event.id: [a, b]})
    now = now_utc()
    service.send_invitations(survey, organizer, now, link_for=_link)
    submit(survey, a)
    r1 = service.send_reminders(survey, organizer, now, link_for=_link)
    db.session.commit()
    assert [d.target for d in r1.deliveries] == [b.email]  # c was never invited, a answered
    assert c.email not in {d.target for d in _survey_mail("mail.survey_invite")}
    assert r1.deliveries[0].kind == "mail.survey_reminder"
    # an hour later, but on the same day in Japan (run at 23:xx JST, an hour later is tomorrow there)
    midnight = to_jst(now).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    later_that_day = max(now, min(now + timedelta(hours=1), midnight.astimezone(now.tzinfo) - timedelta(microseconds=1)))
    assert to_jst(later_that_day).date() == to_jst(now).date()
    assert service.send_reminders(survey, organizer, later_that_day, link_for=_link).deliveries == []
    tomorrow = service.send_reminders(survey, organizer, now + timedelta(days=1), link_for=_link)
    assert [d.target for d in tomorrow.deliveries] == [b.email]
    db.session.commit()
    assert service.invitation_counts(survey) == {"invited": 2, "reminded": 1}
    submit(survey, b)
    assert service.send_reminders(survey, organizer, now + timedelta(days=2), link_for=_link).deliveries == []
    survey.closes_at = now
    with pytest.raises(Conflict):
        service.send_reminders(survey, organizer, now + timedelta(days=3), link_for=_link)


def test_survey_mails_are_written_in_the_language_the_person_registered_in(make, organizer, monkeypatch):
    event = make.event(organizer)
    survey = make_survey(event, organizer, closes_at=now_utc() + timedelta(days=7))
    japanese, english = attendee(event), attendee(event, locale="en")
    checked_in(monkeypatch, {event.id: [japanese, english]})
    now = now_utc()
    service.send_invitations(survey, organizer, now, link_for=_link)
    service.send_reminders(survey, organizer, now + timedelta(days=1), link_for=_link)
    db.session.commit()
    mails = {(m.kind, m.target): m.payload for m in _survey_mail("mail.survey_invite") + _survey_mail("mail.survey_reminder")}

    invite = mails[("mail.survey_invite", english.email)]
    assert invite["subject"] == f"[Survey] {event.title}"
    assert invite["text"].startswith(f"Dear {english.name},")
    assert "Please answer our survey" in invite["text"] and _link(english) in invite["text"]
    assert f"Answers close: {format_datetime(survey.closes_at, 'en')}" in invite["text"]
    assert "Not even the organizers can see who answered what." in invite["text"]
    assert f"Date and time: {format_range(event.starts_at, event.ends_at, 'en')}" in invite["text"]
    assert not any("\u3040" <= ch <= "\u30ff" for ch in invite["text"].replace(english.name, "")
                   .replace(event.title, "").replace(survey.title, ""))  # no kana left but what people typed
    reminder = mails[("mail.survey_reminder", english.email)]
    assert reminder["subject"] == f"[Reminder] Please answer the survey: {event.title}"
    assert "have not answered the survey yet" in reminder["text"]

    ja = mails[("mail.survey_invite", japanese.email)]
    assert ja["subject"] == f"【アンケートのお願い】{event.title}"
    assert ja["text"].startswith(f"{japanese.name} 様")
    assert f"回答の締切: {format_datetime(survey.closes_at)}" in ja["text"]
    assert f"日時: {format_range(event.starts_at, event.ends_at)}" in ja["text"]
    assert mails[("mail.survey_reminder", japanese.email)]["subject"].startswith("【リマインド】")


def test_another_channel_adds_its_own_delivery_kind(make, organizer, monkeypatch):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    linked, unlinked = attendee(event), attendee(event)
    checked_in(monkeypatch, {event.id: [linked, unlinked]})
    slack_ids = {linked.id: "U0SLACK1"}

    def slack(ctx):
        uid = slack_ids.get(ctx.registration.id)
        return service.Outgoing("slack.survey_dm", uid, {"link": ctx.link}) if uid else None

    monkeypatch.setattr(service, "_channels", dict(service._channels))
    service.register_invite_channel("slack", slack)
    result = service.send_invitations(survey, organizer, now_utc(), link_for=_link)
    db.session.commit()
    assert sorted((d.kind, d.target) for d in result.deliveries) == sorted([
        ("mail.survey_invite", linked.email), ("mail.survey_invite", unlinked.email),
        ("slack.survey_dm", "U0SLACK1")])
    assert result.people == 2
    dm = next(d for d in result.deliveries if d.kind == "slack.survey_dm")
    assert dm.dedupe_key == service.invitation_key(survey, linked, "slack")  # shareable with Slack's own DM


# ------------------------------------------------------------------ comparing events
def test_the_same_question_is_compared_across_the_organizers_events(make, organizer):
    now = now_utc()
    older = make.event(organizer, prefecture_code="47", starts_at=now + timedelta(days=3))
    newer = make.event(organizer, prefecture_code="40", starts_at=now + timedelta(days=9))
    tokyo = make.event(organizer, prefecture_code="13", starts_at=now + timedelta(days=6))
    for event, scores in [(older, [5, 4]), (newer, [3]), (tokyo, [2, 2, 2])]:
        survey = make_survey(event, organizer)
        for s in scores:
            submit(survey, attendee(event), satisfaction=s)
    someone_else = make.organizer()
    make_survey(make.event(someone_else), someone_else)

    choices = {c.text: c for c in service.comparable_questions(organizer)}
    sat = choices["本日の勉強会の満足度を教えてください。"]
    assert sat.events == 3 and sat.kind == "rating"
    assert "最も役に立った内容は何でしたか。" not in choices  # free text is not compared
    rows = service.compare(organizer, sat.key)
    assert [(r.event.id, r.result.average, r.result.count) for r in rows] == [
        (older.id, 4.5, 2), (tokyo.id, 2.0, 3), (newer.id, 3.0, 1)]
    kyushu = service.compare(organizer, sat.key, region="kyushu_okinawa")
    assert [r.event.id for r in kyushu] == [older.id, newer.id]
    assert all(r.event.id != tokyo.id for r in kyushu)
    assert {c.events for c in service.comparable_questions(someone_else)} == {1}


# ------------------------------------------------------------------ exports
def test_exports_are_formula_safe_csv_with_bom_and_typed_xlsx(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    submit(survey, attendee(event), most_useful="=HYPERLINK(\"http://evil\",\"x\")", comments="+1 @all -x",
           next_themes=(["生成AIの業務活用"], "＝SUM(A1)"))
    body = service.export_csv(survey)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "No." and rows[0][1].startswith("Q1 ")
    cells = rows[1]
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in cells
    assert "'+1 @all -x" in cells
    assert "生成AIの業務活用 / その他: ＝SUM(A1)" in cells
    assert cells[1:4] == ["5", "4", "9"]
    assert b"\r\n" in body

    wb = openpyxl.load_workbook(io.BytesIO(service.export_xlsx(survey)))
    assert wb.sheetnames == ["回答", "集計"]
    ws = wb["回答"]
    values = [c.value for c in ws[2]]
    assert "=HYPERLINK(\"http://evil\",\"x\")" in values
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    assert values[1:4] == [5, 4, 9]
    summary = [[c.value for c in row] for row in wb["集計"].iter_rows()]
    assert summary[0] == ["質問", "種類", "回答数", "平均", "NPS", "選択肢・値", "件数", "割合(%)"]
    assert summary[1][:5] == ["Q1 本日の勉強会の満足度を教えてください。", "評価", 1, 5, None]  # the kind in words
    english = openpyxl.load_workbook(io.BytesIO(service.export_xlsx(survey, "en")))
    assert [c.value for c in english.worksheets[1][2]][1] == "Rating"


def test_results_count_checked_in_when_a_source_is_plugged_in(make, organizer, monkeypatch):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    people = [attendee(event) for _ in range(4)]
    submit(survey, people[0])
    no_attendance(monkeypatch)
    res = service.results(survey)
    assert res.checked_in is None and res.rate_checked_in is None
    assert res.confirmed == 4 and res.rate_confirmed == 25.0
    checked_in(monkeypatch, {event.id: people[:2]})
    res = service.results(survey)
    assert res.checked_in == 2 and res.rate_checked_in == 50.0


def test_response_rates_count_people_never_responses(make, organizer, monkeypatch):
    """Rates are respondents ÷ people on the same side: of everyone who checked in (and still may
    answer), how many responded — answers from people who never checked in don't count there."""
    from eventsvc.registration import privacy

    event = make.event(organizer)
    survey = make_survey(event, organizer)
    people = [attendee(event) for _ in range(12)]
    came, erased = people[0], people[11]
    checked_in(monkeypatch, {event.id: [came, erased]})
    privacy.erase_registration(erased, now_utc())
    db.session.commit()
    for reg in people[1:11]:
        submit(survey, reg)
    res = service.results(survey)
    assert (res.responses, res.checked_in, res.respondents_checked_in) == (10, 1, 0)
    assert res.rate_checked_in == 0.0  # was 1000 % (10 responses ÷ 1 check-in)
    assert (res.confirmed, res.respondents_confirmed, res.rate_confirmed) == (11, 10, 90.9)
    submit(survey, came)
    res = service.results(survey)
    assert (res.respondents_checked_in, res.rate_checked_in, res.rate_confirmed) == (1, 100.0, 100.0)


def test_erasing_a_person_removes_who_answered_and_keeps_the_answer(make, organizer, monkeypatch):
    """Named survey: after the attendee deletes their data, nothing in the database says they
    answered (no respondent row, no registration or time on the response); the answer stays."""
    from eventsvc.registration import privacy

    event = make.event(organizer)
    survey = make_survey(event, organizer, anonymous=False)
    gone, stays = attendee(event), attendee(event)
    checked_in(monkeypatch, {event.id: [gone, stays]})
    assert service.send_invitations(survey, organizer, now_utc(), link_for=_link).people == 2
    submit(survey, gone, comments="消えない感想")
    submit(survey, stays)
    counted = privacy.erase_registration(gone, event.ends_at + timedelta(hours=1))  # after the event: still confirmed
    db.session.commit()
    assert counted["survey_respondents_deleted"] == 1
    assert db.session.scalars(select(SurveyRespondent.registration_id)).all() == [stays.id]
    assert db.session.scalar(select(func.count()).select_from(SurveyResponse).where(
        SurveyResponse.registration_id == gone.id)) == 0
    res = service.results(survey)
    assert res.responses == 2 and "消えない感想" in [t.text for t in res.questions[6].texts]
    assert (res.checked_in, res.respondents_checked_in, res.rate_checked_in) == (1, 1, 100.0)
    assert (res.confirmed, res.respondents_confirmed) == (1, 1)
    # and nobody writes to the erased address
    later = service.send_reminders(survey, organizer, now_utc() + timedelta(days=1), link_for=_link)
    assert later.deliveries == [] and later.answered == 1


def test_an_erased_person_who_came_is_not_invited(make, organizer, monkeypatch):
    from eventsvc.registration import privacy

    event = make.event(organizer)
    survey = make_survey(event, organizer)
    gone, stays = attendee(event), attendee(event)
    checked_in(monkeypatch, {event.id: [gone, stays]})
    privacy.erase_registration(gone, event.ends_at + timedelta(hours=1))
    db.session.commit()
    result = service.send_invitations(survey, organizer, now_utc(), link_for=_link)
    assert [d.registration_id for d in result.deliveries] == [stays.id]


def test_versions_are_unique_per_question(make, organizer):
    event = make.event(organizer)
    survey = make_survey(event, organizer)
    db.session.add(QuestionVersion(question_id=survey.questions[0].id, version=1, kind="text", text="x"))
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_real_check_ins_decide_who_is_invited(make, organizer):
    """The glue (eventsvc.surveys.attendance) reads check-in's records: valid, not undone."""
    from eventsvc.checkin import service as checkin

    event = make.event(organizer)
    survey = make_survey(event, organizer)
    came, undone, absent = attendee(event), attendee(event), attendee(event)
    actor = checkin.Actor.organizer(organizer)
    now = now_utc()
    for reg in (came, undone):
        result = checkin.check_in(event, reg.ticket_code, device_id="desk1", nonce=None, scanned_at=None,
                                  method="scanner", actor=actor, now=now)
        assert result.result == "checked_in"
    checkin.undo_checkin(event, undone.id, actor=actor, now=now)
    db.session.commit()
    assert service.checked_in_ids(event) == {came.id}
    assert service.results(survey).checked_in == 1
    result = service.send_invitations(survey, organizer, now, link_for=_link)
    assert [d.target for d in result.deliveries] == [came.email]
    assert absent.email not in {d.target for d in result.deliveries}
