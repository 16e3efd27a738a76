"""Surveys through the JSON API: the contract's four calls (PUT/GET survey, POST responses,
GET results), attendee auth, bad input, concurrent posts, invitations and exports."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.outbox import worker
from eventsvc.outbox.models import Delivery
from eventsvc.surveys.models import SurveyRespondent, SurveyResponse
from tests.integration.test_survey_support import attendee, checked_in, no_attendance

SURVEY = {
    "title": "那覇の勉強会アンケート",
    "anonymous": True,
    "questions": [
        {"kind": "rating", "text": "満足度", "min": 1, "max": 5, "min_label": "不満", "max_label": "満足",
         "required": True},
        {"kind": "rating", "text": "同僚に勧めたいですか", "min": 0, "max": 10},
        {"kind": "single", "text": "投稿してみますか", "options": ["はい", "いいえ"]},
        {"kind": "multiple", "text": "次のテーマ", "options": ["AI", "BPR", "データ"], "allow_other": True},
        {"kind": "text", "text": "部署"},
        {"kind": "long_text", "text": "感想"},
    ],
}


@pytest.fixture
def event(make, organizer):
    return make.event(organizer)


#: the tests' events are still ahead: without an opening time their surveys would open at the start
OPEN_NOW = {"opens_at": "2020-01-01T00:00:00+09:00"}


@pytest.fixture
def survey(api, token, event):
    r = api("put", f"/events/{event.slug}/survey", token, json={**SURVEY, **OPEN_NOW})
    assert r.status_code == 200, r.json
    return r.json


def qid(survey, text):
    return next(q["id"] for q in survey["questions"] if q["text"] == text)


def answers(survey, **by_text):
    values = {"満足度": 4, "同僚に勧めたいですか": 9, "投稿してみますか": "はい", "次のテーマ": ["AI"], "部署": "情報政策課",
              "感想": "よかった"}
    values.update(by_text)
    return {"answers": [{"question_id": qid(survey, t), "value": v} for t, v in values.items() if v is not ...]}


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_put_and_get_the_survey(api, token, event, survey):
    assert survey["title"] == "那覇の勉強会アンケート"
    assert survey["state"] == "open"
    assert survey["url"].endswith(f"/events/{event.slug}/survey")
    assert "/s/" in survey["short_url"]
    assert [q["kind"] for q in survey["questions"]] == ["rating", "rating", "single", "multiple", "text", "long_text"]
    assert survey["questions"][0] | {"id": 0} == {
        "id": 0, "version": 1, "kind": "rating", "text": "満足度", "options": [], "allow_other": False, "min": 1,
        "max": 5, "min_label": "不満", "max_label": "満足", "required": True}
    got = api("get", f"/events/{event.slug}/survey", token).json
    assert got["questions"] == survey["questions"] and got["responses"] == 0 and got["my_answers"] is None


def test_survey_calls_need_the_events_organizer(api, token, event, survey, make):
    assert api("put", f"/events/{event.slug}/survey", json=SURVEY).status_code == 401
    other = make.token(make.organizer())
    assert api("put", f"/events/{event.slug}/survey", other, json=SURVEY).status_code == 404
    assert api("get", f"/events/{event.slug}/survey/results", other).status_code == 404
    assert api("get", f"/events/{event.slug}/survey", "att_not-a-token").status_code == 401


@pytest.mark.parametrize("change, field", [
    ({"kind": "essay"}, "questions.0.kind"),
    ({"min": 5, "max": 3}, "questions.0.scale"),
    ({"max": 11}, "questions.0.scale"),
    ({"kind": "single", "options": ["同じ", "同じ"]}, "questions.0.options"),
    ({"kind": "single", "options": None}, "questions.0.options"),
    ({"text": ""}, "questions.0.text"),
    ({"text": "x" * 501}, "questions.0.text"),
    ({"colour": "red"}, "questions.0.colour"),
    ({"id": 999999}, "questions.0.id"),
])
def test_bad_survey_definitions_are_422_naming_the_field(api, token, event, change, field):
    body = {**SURVEY, "questions": [{**SURVEY["questions"][0], **change}]}
    r = api("put", f"/events/{event.slug}/survey", token, json=body)
    assert r.status_code == 422, r.json
    assert field in r.json["fields"], r.json
    assert api("get", f"/events/{event.slug}/survey", token).status_code == 404  # nothing half-saved


def test_attendee_reads_answers_and_replaces_their_response(api, event, survey):
    reg = attendee(event)
    got = api("get", f"/events/{event.slug}/survey", reg.attendee_token)
    assert got.status_code == 200
    assert got.json["responses"] is None and got.json["my_answers"] == []
    r = api("post", f"/events/{event.slug}/survey/responses", reg.attendee_token, json=answers(survey))
    assert r.status_code == 200, r.json
    assert r.json["saved"] is True and r.json["replaced"] is False
    r = api("post", f"/events/{event.slug}/survey/responses", reg.attendee_token,
            json=answers(survey, 満足度=2, 感想=...))
    assert r.json["replaced"] is True
    mine = {a["question_id"]: a["value"] for a in r.json["answers"]}
    assert mine[qid(survey, "満足度")] == 2 and qid(survey, "感想") not in mine
    assert (count(SurveyResponse), count(SurveyRespondent)) == (1, 1)
    got = api("get", f"/events/{event.slug}/survey", reg.attendee_token).json
    assert {a["question_id"]: a["value"] for a in got["my_answers"]} == mine


@pytest.mark.parametrize("change, message", [
    ({"満足度": "5"}, "1〜5の中から選んでください。"),
    ({"満足度": 6}, "1〜5の中から選んでください。"),
    ({"満足度": ...}, "この質問は回答が必要です。"),
    ({"同僚に勧めたいですか": -1}, "0〜10の中から選んでください。"),
    ({"投稿してみますか": "たぶん"}, "選択肢にない回答です。"),
    ({"次のテーマ": ["AI", "量子"]}, "選択肢にない回答です: 量子"),
    ({"部署": "x" * 201}, "200文字以内で入力してください。"),
    ({"感想": "x" * 5001}, "5000文字以内で入力してください。"),
])
def test_bad_answers_are_422_keyed_by_question_and_nothing_is_saved(api, event, survey, change, message):
    reg = attendee(event)
    r = api("post", f"/events/{event.slug}/survey/responses", reg.attendee_token, json=answers(survey, **change))
    assert r.status_code == 422, r.json
    text = next(iter(change))
    assert r.json["error"] == "validation_error"
    assert r.json["fields"] == {f"answers.{qid(survey, text)}": message}
    assert (count(SurveyResponse), count(SurveyRespondent)) == (0, 0)


def test_malformed_answer_bodies_are_refused_cleanly(api, event, survey):
    reg = attendee(event)
    url = f"/events/{event.slug}/survey/responses"
    for body in [{"answers": [{"question_id": "1", "value": 3}]}, {"answers": [{"question_id": 1, "value": True}]},
                 {"answers": [{"question_id": 1, "value": {"x": 1}}]}, {"answers": "all"}, {"answerz": []},
                 {"answers": [{"question_id": 1, "value": 1}] * 101}, [1, 2]]:
        r = api("post", url, reg.attendee_token, json=body)
        assert r.status_code == 422, (body, r.json)
    r = api("post", url, reg.attendee_token, data="{", content_type="application/json")
    assert r.status_code == 400
    stray = {"answers": answers(survey)["answers"] + [{"question_id": 424242, "value": 1}]}
    r = api("post", url, reg.attendee_token, json=stray)
    assert r.status_code == 422 and "answers.424242" in r.json["fields"]
    assert count(SurveyResponse) == 0


def test_who_may_post_answers(api, token, event, survey, make, organizer):
    url = f"/events/{event.slug}/survey/responses"
    assert api("post", url, json=answers(survey)).status_code == 401
    r = api("post", url, token, json=answers(survey))
    assert r.status_code == 403 and r.json["error"] == "attendee_only"
    stranger = attendee(make.event(organizer))
    r = api("post", url, stranger.attendee_token, json=answers(survey))
    assert r.status_code == 403 and r.json["error"] == "wrong_event"
    r = api("get", f"/events/{event.slug}/survey", stranger.attendee_token)
    assert r.status_code == 403 and r.json["error"] == "wrong_event"
    cancelled = attendee(event, status="cancelled")
    r = api("post", url, cancelled.attendee_token, json=answers(survey))
    assert r.status_code == 403 and r.json["error"] == "not_eligible"
    assert count(SurveyResponse) == 0


def test_closed_survey_is_409_and_saves_nothing(api, token, event, survey):
    reg = attendee(event)
    body = {**SURVEY, "questions": survey["questions"], "closes_at": "2020-01-01T00:00:00",
            "opens_at": "2019-12-01T00:00:00"}
    body["questions"] = [{k: v for k, v in q.items() if k != "version"} for q in survey["questions"]]
    assert api("put", f"/events/{event.slug}/survey", token, json=body).json["state"] == "closed"
    r = api("post", f"/events/{event.slug}/survey/responses", reg.attendee_token, json=answers(survey))
    assert r.status_code == 409 and r.json["error"] == "survey_closed"
    assert count(SurveyResponse) == 0


def test_results_follow_the_contract_and_name_nobody(api, token, event, survey):
    people = [attendee(event, name=f"回答 者{i}") for i in range(3)]
    for reg, (sat, rec, themes) in zip(people, [(5, 10, ["AI"]), (4, 9, ["AI", "BPR"]), (2, 3, [])], strict=True):
        body = answers(survey, 満足度=sat, 同僚に勧めたいですか=rec, 次のテーマ=themes, 感想=f"感想{sat}")
        if sat == 2:
            body["answers"][3]["other"] = "防災"
        assert api("post", f"/events/{event.slug}/survey/responses", reg.attendee_token, json=body).status_code == 200
    r = api("get", f"/events/{event.slug}/survey/results", token)
    assert r.status_code == 200
    res = r.json
    assert res["responses"] == 3 and res["confirmed"] == 3
    assert res["response_rate_confirmed"] == 100.0
    sat, rec, single, multi, text, long_text = res["questions"]
    assert sat["id"] == qid(survey, "満足度") and sat["kind"] == "rating" and sat["text"] == "満足度"
    assert sat["count"] == 3 and sat["average"] == 3.67
    assert sat["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert sat["nps"] is None
    assert rec["nps"] == {"score": 33, "promoters": 2, "passives": 0, "detractors": 1}
    assert single["distribution"] == {"はい": 3, "いいえ": 0} and single["other_count"] is None
    assert multi["distribution"] == {"AI": 2, "BPR": 1, "データ": 0} and multi["other_count"] == 1
    assert multi["others"] == ["防災"] and multi["count"] == 3
    assert sorted(long_text["answers"]) == ["感想2", "感想4", "感想5"]
    assert text["answers"] == ["情報政策課"] * 3
    flat = r.get_data(as_text=True)
    for p in people:
        assert p.name not in flat and p.email not in flat


def test_results_show_checked_in_when_known(api, token, event, survey, monkeypatch):
    people = [attendee(event) for _ in range(4)]
    no_attendance(monkeypatch)
    assert api("get", f"/events/{event.slug}/survey/results", token).json["checked_in"] is None
    checked_in(monkeypatch, {event.id: people[:2]})
    api("post", f"/events/{event.slug}/survey/responses", people[0].attendee_token, json=answers(survey))
    res = api("get", f"/events/{event.slug}/survey/results", token).json
    assert (res["checked_in"], res["response_rate_checked_in"], res["response_rate_confirmed"]) == (2, 50.0, 25.0)


def _check_in(api, token, event, reg):
    r = api("post", f"/events/{event.slug}/checkins", token, json={"code": reg.ticket_code})
    assert r.status_code == 200 and r.json["result"] == "checked_in", r.json


def test_response_rates_count_respondents_among_the_people_counted(api, token, event, survey):
    """The rate among checked-in people is respondents who checked in ÷ checked-in people, never all
    responses ÷ check-ins (11 answers and 1 check-in gave 1100 %); erased people count on neither side."""
    from eventsvc.registration import privacy

    a, b, c, d, e, f = (attendee(event) for _ in range(6))
    for reg in (a, b, f):
        _check_in(api, token, event, reg)
    for reg in (a, c, d, e, f):
        r = api("post", f"/events/{event.slug}/survey/responses", reg.attendee_token, json=answers(survey))
        assert r.status_code == 200, r.json
    privacy.erase_registration(f, now_utc())  # checked in, answered, then deleted their data (seat given up)
    db.session.commit()
    res = api("get", f"/events/{event.slug}/survey/results", token).json
    assert res["responses"] == 5  # f's answers stay, anonymous
    assert (res["checked_in"], res["respondents_checked_in"], res["response_rate_checked_in"]) == (2, 1, 50.0)
    assert (res["confirmed"], res["respondents_confirmed"], res["response_rate_confirmed"]) == (5, 4, 80.0)
    # after the event, a checked-in respondent deletes their data: they leave both sides of both rates
    privacy.erase_registration(a, event.ends_at + timedelta(hours=1))
    db.session.commit()
    res = api("get", f"/events/{event.slug}/survey/results", token).json
    assert res["responses"] == 5
    assert (res["checked_in"], res["respondents_checked_in"], res["response_rate_checked_in"]) == (1, 0, 0.0)
    assert (res["confirmed"], res["respondents_confirmed"], res["response_rate_confirmed"]) == (4, 3, 75.0)
    assert count(SurveyRespondent) == 3  # nothing says any more that a or f answered


def test_many_answers_and_one_check_in_never_give_more_than_100_percent(api, token, event, survey):
    people = [attendee(event) for _ in range(12)]
    _check_in(api, token, event, people[0])
    for reg in people[1:]:
        api("post", f"/events/{event.slug}/survey/responses", reg.attendee_token, json=answers(survey))
    res = api("get", f"/events/{event.slug}/survey/results", token).json
    assert (res["responses"], res["checked_in"], res["respondents_checked_in"]) == (11, 1, 0)
    assert res["response_rate_checked_in"] == 0.0 and res["response_rate_confirmed"] == round(100 * 11 / 12, 1)


def test_a_new_survey_opens_when_the_event_starts_unless_told_otherwise(api, token, event, make, organizer):
    reg = attendee(event)
    r = api("put", f"/events/{event.slug}/survey", token, json=SURVEY)
    assert r.status_code == 200, r.json
    assert r.json["state"] == "scheduled"
    assert datetime.fromisoformat(r.json["opens_at"]) == event.starts_at
    body = answers(r.json)
    r = api("post", f"/events/{event.slug}/survey/responses", reg.attendee_token, json=body)
    assert r.status_code == 409 and r.json["error"] == "survey_not_open"
    assert "まだ回答を受け付けていません" in r.json["message"] and "回答は保存されていません" in r.json["message"]
    assert (count(SurveyResponse), count(SurveyRespondent)) == (0, 0)
    # the attendee may read it; saving it again without opens_at keeps the opening time
    got = api("get", f"/events/{event.slug}/survey", reg.attendee_token)
    assert got.status_code == 200 and got.json["state"] == "scheduled"
    assert api("put", f"/events/{event.slug}/survey", token, json={**SURVEY, "title": "改題"}).json["state"] == "scheduled"
    # a closing time before the default opening is refused, saying when that is
    r = api("put", f"/events/{make.event(organizer).slug}/survey", token,
            json={**SURVEY, "closes_at": (now_utc() + timedelta(days=1)).isoformat()})
    assert r.status_code == 422 and "受付開始" in r.json["fields"]["closes_at"]
    # null: no opening time, answers are taken at once
    r = api("put", f"/events/{event.slug}/survey", token, json={**SURVEY, "opens_at": None})
    assert r.json["state"] == "open" and r.json["opens_at"] is None
    r = api("post", f"/events/{event.slug}/survey/responses", reg.attendee_token, json=answers(r.json))
    assert r.status_code == 200, r.json


def test_a_survey_of_an_event_under_way_is_open_at_once(api, token, make, organizer):
    event = make.event(organizer, starts_at=now_utc() - timedelta(hours=1))
    r = api("put", f"/events/{event.slug}/survey", token, json=SURVEY)
    assert r.json["state"] == "open" and datetime.fromisoformat(r.json["opens_at"]) == event.starts_at
    reg = attendee(event)
    assert api("post", f"/events/{event.slug}/survey/responses", reg.attendee_token,
               json=answers(r.json)).status_code == 200


def test_editing_an_answered_question_reports_the_new_version(api, token, event, survey):
    reg = attendee(event)
    api("post", f"/events/{event.slug}/survey/responses", reg.attendee_token, json=answers(survey, 満足度=1))
    questions = [{k: v for k, v in q.items() if k != "version"} for q in survey["questions"]]
    questions[0]["text"] = "今日の満足度"
    questions = questions[:-1]  # remove 感想 (answered: kept)
    r = api("put", f"/events/{event.slug}/survey", token, json={**SURVEY, "questions": questions})
    assert r.status_code == 200
    first = survey["questions"][0]["id"]
    assert (r.json["questions"][0]["id"], r.json["questions"][0]["version"]) == (first, 2)
    removed = qid(survey, "感想")
    assert r.json["warnings"] == [
        f"質問（ID {first}）: 回答のある質問の内容を変えたため、第2版として保存しました。これまでの回答は変更前の版として集計します。",
        f"質問（ID {removed}）: 削除しました。回答は結果の「変更前・削除した質問」に残しています。"]
    assert [(w["code"], w["question_id"], w["version"]) for w in r.json["warning_details"]] == [
        ("question_new_version", first, 2), ("question_removed", removed, 1)]
    assert [w["message"] for w in r.json["warning_details"]] == r.json["warnings"]
    assert r.json["state"] == "open"  # saved without opens_at: the survey keeps its opening time
    res = api("get", f"/events/{event.slug}/survey/results", token).json
    assert res["questions"][0]["count"] == 0
    earlier = {(e["id"], e["version"]): e for e in res["earlier"]}
    assert earlier[(first, 1)]["average"] == 1 and earlier[(first, 1)]["text"] == "満足度"
    assert earlier[(qid(survey, "感想"), 1)]["removed"] is True
    r = api("put", f"/events/{event.slug}/survey", token, json={**SURVEY, "anonymous": False, "questions": questions})
    assert r.status_code == 422 and "anonymous" in r.json["fields"]


def _post_in_thread(app, url, token, body, barrier, statuses):
    client = app.test_client()
    barrier.wait(10)
    r = client.post("/api/v1" + url, json=body, headers={"Authorization": f"Bearer {token}"})
    statuses.append(r.status_code)


def test_concurrent_posts_by_one_attendee_leave_one_response(app, api, event, survey):
    reg = attendee(event)
    url, tok = f"/events/{event.slug}/survey/responses", reg.attendee_token
    db.session.commit()
    n = 5
    barrier, statuses = threading.Barrier(n), []
    threads = [threading.Thread(target=_post_in_thread, args=(app, url, tok, answers(survey, 満足度=1 + i),
                                                              barrier, statuses)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [200] * n
    db.session.rollback()
    assert (count(SurveyResponse), count(SurveyRespondent)) == (1, 1)


def test_invitations_reminders_and_exports(api, token, event, survey, monkeypatch):
    came, home = attendee(event), attendee(event)
    no_attendance(monkeypatch)
    r = api("post", f"/events/{event.slug}/survey/invitations", token)
    assert r.status_code == 409 and r.json["error"] == "attendance_unknown"
    checked_in(monkeypatch, {event.id: [came]})
    r = api("post", f"/events/{event.slug}/survey/invitations", token)
    assert r.status_code == 200 and r.json["people"] == 1 and len(r.json["deliveries"]) == 1
    deliveries = api("get", f"/events/{event.slug}/deliveries", token)
    assert deliveries.status_code == 200
    listed = [d for d in deliveries.json if d["id"] in r.json["deliveries"]]
    assert [(d["kind"], d["target"], d["state"]) for d in listed] == [("mail.survey_invite", came.email, "queued")]
    r = api("post", f"/events/{event.slug}/survey/reminders", token)
    assert r.status_code == 200 and r.json["people"] == 1
    api("post", f"/events/{event.slug}/survey/responses", came.attendee_token, json=answers(survey, 部署="=cmd"))
    r = api("get", f"/events/{event.slug}/survey/export", token)
    assert r.status_code == 200 and r.data.startswith(b"\xef\xbb\xbf") and b"'=cmd" in r.data
    r = api("get", f"/events/{event.slug}/survey/export?format=xlsx", token)
    assert r.status_code == 200 and r.data[:2] == b"PK"
    assert api("get", f"/events/{event.slug}/survey/export?format=pdf", token).status_code == 422
    assert home.email.encode() not in r.data


# ------------------------------------------------------------------ before the survey opens
def _later(hours: float) -> datetime:
    return (now_utc() + timedelta(hours=hours)).replace(second=0, microsecond=0)


def test_answers_before_the_survey_opens_are_409_whatever_is_wrong_with_them(api, token, event):
    """Open or closed is checked first: field errors are no use for answers that can't be saved."""
    scheduled = api("put", f"/events/{event.slug}/survey", token, json=SURVEY).json
    assert scheduled["state"] == "scheduled"
    reg = attendee(event)
    url = f"/events/{event.slug}/survey/responses"
    wrong = [answers(scheduled, 満足度=...), answers(scheduled, 満足度=6),  # the service's field errors
             {"answers": [{"question_id": qid(scheduled, "満足度"), "value": {"x": 1}}]},  # the body's
             {"answers": [{"question_id": qid(scheduled, "部署"), "value": "課", "other": "x" * 201}]},
             {"answerz": []}, [1, 2]]
    for body in wrong:
        r = api("post", url, reg.attendee_token, json=body)
        assert (r.status_code, r.json["error"]) == (409, "survey_not_open"), (body, r.json)
        assert "から回答できます" in r.json["message"] and r.json["fields"] == {}
    r = api("post", url, reg.attendee_token, data="{", content_type="application/json")
    assert (r.status_code, r.json["error"]) == (409, "survey_not_open")
    # who may not answer at all still hears that first
    r = api("post", url, attendee(event, status="cancelled").attendee_token, json={"answerz": []})
    assert (r.status_code, r.json["error"]) == (403, "not_eligible")
    # closed: the same, with survey_closed
    body = {**SURVEY, "opens_at": "2019-12-01T00:00:00", "closes_at": "2020-01-01T00:00:00",
            "questions": [{k: v for k, v in q.items() if k != "version"} for q in scheduled["questions"]]}
    assert api("put", f"/events/{event.slug}/survey", token, json=body).json["state"] == "closed"
    for body in wrong:
        r = api("post", url, reg.attendee_token, json=body)
        assert (r.status_code, r.json["error"]) == (409, "survey_closed"), (body, r.json)
    assert (count(SurveyResponse), count(SurveyRespondent)) == (0, 0)


def _invitation_rows():
    db.session.expire_all()
    return db.session.scalars(select(Delivery).where(Delivery.kind.startswith("mail.survey"))).all()


def test_invitations_before_the_survey_opens_go_out_at_its_opening(api, token, event, monkeypatch):
    opens = _later(2)
    created = api("put", f"/events/{event.slug}/survey", token, json={**SURVEY, "opens_at": opens.isoformat()}).json
    assert created["state"] == "scheduled"
    came = attendee(event)
    checked_in(monkeypatch, {event.id: [came]})
    r = api("post", f"/events/{event.slug}/survey/invitations", token)
    assert r.status_code == 200 and r.json["people"] == 1, r.json
    assert datetime.fromisoformat(r.json["scheduled_at"]) == opens
    assert [w["code"] for w in r.json["warning_details"]] == ["waits_for_opening"]
    assert r.json["warnings"] == [w["message"] for w in r.json["warning_details"]]
    assert "受付開始" in r.json["warnings"][0] and "まで送信を待ちます" in r.json["warnings"][0]
    # the organizer sees it waiting for the opening
    listed = [d for d in api("get", f"/events/{event.slug}/deliveries", token).json if d["id"] in r.json["deliveries"]]
    assert [(d["kind"], d["state"], datetime.fromisoformat(d["next_attempt_at"])) for d in listed] == [
        ("mail.survey_invite", "queued", opens)]
    # a reminder could only repeat it: refused until the survey opens
    r = api("post", f"/events/{event.slug}/survey/reminders", token)
    assert (r.status_code, r.json["error"]) == (409, "survey_not_open")
    assert "リマインドは送れません" in r.json["message"]
    # the worker leaves it alone until then
    worker.run_once(now=opens - timedelta(minutes=1), periodic=False)
    (row,) = _invitation_rows()
    assert (row.state, row.attempts, row.next_attempt_at) == ("queued", 0, opens)
    # moving the opening later moves the invitation with it: never sent early
    later = opens + timedelta(hours=3)
    body = {**SURVEY, "opens_at": later.isoformat(),
            "questions": [{k: v for k, v in q.items() if k != "version"} for q in created["questions"]]}
    assert api("put", f"/events/{event.slug}/survey", token, json=body).status_code == 200
    (row,) = _invitation_rows()
    assert (row.state, row.next_attempt_at) == ("queued", later)
    worker.run_once(now=opens + timedelta(minutes=1), periodic=False)
    (row,) = _invitation_rows()
    assert (row.state, row.attempts) == ("queued", 0)
    # at the opening it goes (held here: no SMTP in the tests)
    worker.run_once(now=later + timedelta(minutes=1), periodic=False)
    (row,) = _invitation_rows()
    assert row.state in ("held", "sent")


def test_invitations_follow_the_opening_when_it_moves_earlier_or_is_cleared(api, token, event, monkeypatch):
    """What waits for the opening goes at the new one when the opening moves earlier, at once when it
    is cleared or moved into the past; never before the opening."""
    opens = _later(5)
    created = api("put", f"/events/{event.slug}/survey", token, json={**SURVEY, "opens_at": opens.isoformat()}).json
    checked_in(monkeypatch, {event.id: [attendee(event)]})
    assert api("post", f"/events/{event.slug}/survey/invitations", token).json["people"] == 1
    questions = [{k: v for k, v in q.items() if k != "version"} for q in created["questions"]]

    def reopen(opens_at):
        r = api("put", f"/events/{event.slug}/survey", token, json={**SURVEY, "opens_at": opens_at,
                                                                     "questions": questions})
        assert r.status_code == 200, r.json
        (row,) = _invitation_rows()
        return row

    earlier = _later(2)
    row = reopen(earlier.isoformat())
    assert (row.state, row.next_attempt_at) == ("queued", earlier)
    worker.run_once(now=earlier - timedelta(minutes=1), periodic=False)  # still not before the opening
    (row,) = _invitation_rows()
    assert (row.state, row.attempts) == ("queued", 0)
    before = now_utc()
    row = reopen(None)  # no opening any more: the survey is open, the invitation goes now
    assert row.state == "queued" and before <= row.next_attempt_at <= now_utc()
    assert reopen(opens.isoformat()).next_attempt_at == opens  # later again: it waits again
    before = now_utc()
    row = reopen((now_utc() - timedelta(hours=1)).isoformat())  # an opening in the past: now
    assert before <= row.next_attempt_at <= now_utc()
    # held (no SMTP in the tests): it still follows the opening, both ways
    worker.run_once(now=now_utc() + timedelta(seconds=1), periodic=False)
    (row,) = _invitation_rows()
    assert row.state == "held"
    again = _later(3)
    assert reopen(again.isoformat()).next_attempt_at == again
    before = now_utc()
    row = reopen(None)
    assert row.state == "held" and before <= row.next_attempt_at <= now_utc()


def test_invitations_with_nobody_checked_in_say_why_nobody_was_invited(api, token, event, survey, monkeypatch):
    attendee(event)
    checked_in(monkeypatch, {event.id: []})
    r = api("post", f"/events/{event.slug}/survey/invitations", token)
    assert r.status_code == 200 and r.json["deliveries"] == [] and r.json["people"] == 0
    assert [w["code"] for w in r.json["warning_details"]] == ["nobody_checked_in"]
    assert "チェックイン" in r.json["warnings"][0]


def test_openapi_describes_the_survey_calls(client):
    doc = client.get("/api/v1/openapi.json").json
    assert {"put", "get"} <= set(doc["paths"]["/events/{slug}/survey"])
    assert "post" in doc["paths"]["/events/{slug}/survey/responses"]
    assert "get" in doc["paths"]["/events/{slug}/survey/results"]
    assert "SurveyIn" in doc["components"]["schemas"] and "ResultsOut" in doc["components"]["schemas"]
    send = doc["components"]["schemas"]["SendOut"]["properties"]
    assert {"scheduled_at", "warnings", "warning_details"} <= set(send)
    assert "survey_not_open" in doc["paths"]["/events/{slug}/survey/reminders"]["post"]["description"]
