"""The teams JSON API on SQLite and PostgreSQL: the DESIGN.md contract, scope, the hard rules
(facilitators, keep-apart, keep-together, locks), infeasible input answered with a Japanese
error naming the conflict, manual changes with re-scoring, and publishing."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.registration import service as registrations
from tests.integration.test_teams_support import (
    assert_valid_teams,
    big_event,
    check_in,
    fewest_org_repeats,
    org_repeats,
    roster,
    sizes,
    team_of,
    teams_plugged_into_checkin,  # noqa: F401 - autouse fixture
)

KEYS = {"id", "scope", "seed", "published", "teams", "score", "lower_bound", "optimal", "violations", "unassigned",
        "created_at", "updated_at"}
TEAM_KEYS = {"index", "name", "topic", "members", "facilitators", "locked", "summary"}


@pytest.fixture
def event(make, organizer):
    return big_event(make, organizer)


def form_teams(api, event, token, **body):
    return api("post", f"/events/{event.slug}/team-assignments", token, json=body)


# ------------------------------------------------------------------ contract
def test_contract_post_and_get(api, make, event, token):
    people = roster(make, event, 40, national=6)
    make.registration(event, status="cancelled")
    make.registration(event, status="pending_review")

    r = form_teams(api, event, token, scope="confirmed", team_count=6, seed=7)
    assert r.status_code == 201, r.json
    body = r.json
    assert set(body) == KEYS and all(set(t) == TEAM_KEYS for t in body["teams"])
    assert body["scope"] == "confirmed" and body["seed"] == 7 and body["published"] is False
    assert_valid_teams(body, people)
    assert sorted(sizes(body)) == [6, 6, 7, 7, 7, 7]
    assert [t["name"] for t in body["teams"]] == ["A", "B", "C", "D", "E", "F"]
    facilitators = {r.id for r in people if r.facilitator}
    for t in body["teams"]:
        assert set(t["facilitators"]) == facilitators & set(t["members"])
        assert "ファシリテーター" in t["summary"] and "団体" in t["summary"]
    # diverse: people of the same organisation (7 from Naha, 5 from Fukuoka city…) are spread
    # as far as the pigeonhole principle allows
    assert org_repeats(body, people) == fewest_org_repeats(people, 6)
    assert Counter(p.organization_code for p in people)["472018"] == 7
    assert body["score"] >= body["lower_bound"]
    assert body["unassigned"] == []

    got = api("get", f"/events/{event.slug}/teams", token)
    assert got.status_code == 200
    assert got.json["teams"] == body["teams"] and got.json["id"] == body["id"]

    # team_size instead of team_count: teams of at most 7 → 6 teams for 40 people
    r = form_teams(api, event, token, scope="confirmed", team_size=7)
    assert r.status_code == 201 and len(r.json["teams"]) == 6 and max(sizes(r.json)) <= 7
    assert api("get", f"/events/{event.slug}/teams", token).json["id"] == r.json["id"]


def test_same_seed_same_teams(api, make, event, token):
    roster(make, event, 24, national=4)
    first = form_teams(api, event, token, scope="confirmed", team_count=4, seed=123).json
    again = form_teams(api, event, token, scope="confirmed", team_count=4, seed=123).json
    assert [t["members"] for t in first["teams"]] == [t["members"] for t in again["teams"]]


def test_openapi_documents_the_calls(api):
    doc = api("get", "/openapi.json").json
    post = doc["paths"]["/events/{slug}/team-assignments"]["post"]
    assert post["security"] == [{"bearer": []}] and "422" in post["responses"]
    props = doc["components"]["schemas"]["TeamAssignmentIn"]["properties"]
    assert {"team_count", "team_size", "seed", "scope", "keep_apart", "keep_together", "topics"} <= set(props)
    assert "get" in doc["paths"]["/events/{slug}/teams"]


def test_who_may_call(api, make, event, token):
    roster(make, event, 4)
    assert form_teams(api, event, None, scope="confirmed", team_count=2).status_code == 401
    other = make.token(make.organizer())
    r = form_teams(api, event, other, scope="confirmed", team_count=2)
    assert r.status_code == 404 and r.json["error"] == "event_not_found"
    assert api("get", f"/events/{event.slug}/teams", other).status_code == 404
    r = api("get", f"/events/{event.slug}/teams", token)
    assert r.status_code == 404 and r.json["error"] == "no_teams"


def test_bad_input_is_refused_with_fields(api, make, event, token):
    roster(make, event, 6)
    r = form_teams(api, event, token, scope="confirmed")
    assert r.status_code == 422 and "team_count" in r.json["fields"]
    r = form_teams(api, event, token, scope="confirmed", team_count=2, team_size=3)
    assert r.status_code == 422 and "team_count" in r.json["fields"]
    r = form_teams(api, event, token, scope="everyone", team_count=2)
    assert r.status_code == 422 and "scope" in r.json["fields"]
    r = form_teams(api, event, token, team_count=2)
    assert r.status_code == 422 and "scope" in r.json["fields"]
    r = form_teams(api, event, token, scope="confirmed", team_count="2")
    assert r.status_code == 422 and "team_count" in r.json["fields"]
    r = form_teams(api, event, token, scope="confirmed", team_count=0)
    assert r.status_code == 422
    r = form_teams(api, event, token, scope="confirmed", team_count=2, keep_apart=[[1]])
    assert r.status_code == 422 and "keep_apart" in r.json["fields"]
    r = form_teams(api, event, token, scope="confirmed", team_count=2, keep_together=[[1, 1]])  # one person
    assert r.status_code == 422 and "別々の2人以上" in r.json["fields"]["keep_together"]


# ------------------------------------------------------------------ scope
def test_scope_checked_in_or_confirmed(api, make, event, organizer, token):
    people = roster(make, event, 12, national=2)
    waitlisted_event = big_event(make, organizer, capacity=1)
    make.registration(waitlisted_event)
    make.registration(waitlisted_event)  # waitlisted there: never in this event's teams
    cancelled = make.registration(event, status="cancelled")

    r = form_teams(api, event, token, scope="checked_in", team_count=2)
    assert r.status_code == 422 and r.json["error"] == "no_people"
    assert "受付済み" in r.json["message"]

    arrived = people[:7]
    check_in(event, arrived, organizer)
    r = form_teams(api, event, token, scope="checked_in", team_count=2)
    assert r.status_code == 201 and r.json["scope"] == "checked_in"
    assert sorted(team_of(r.json)) == sorted(p.id for p in arrived)

    r = form_teams(api, event, token, scope="confirmed", team_count=2)
    assert sorted(team_of(r.json)) == sorted(p.id for p in people)
    assert cancelled.id not in team_of(r.json)


def test_late_arrival_shows_as_unassigned_and_can_be_added(api, make, event, organizer, token):
    people = roster(make, event, 9, national=3)
    check_in(event, people[:8], organizer)
    body = form_teams(api, event, token, scope="checked_in", team_count=3).json
    assert body["unassigned"] == []
    check_in(event, people[8:], organizer)
    body = api("get", f"/events/{event.slug}/teams", token).json
    assert body["unassigned"] == [people[8].id]
    r = api("post", f"/events/{event.slug}/teams/moves", token, json={"registration_id": people[8].id, "team": 2})
    assert r.status_code == 200 and people[8].id in r.json["teams"][2]["members"]
    assert r.json["unassigned"] == []


# ------------------------------------------------------------------ hard rules
def test_facilitators_spread_over_every_team(api, make, event, token):
    people = roster(make, event, 40, national=8)
    body = form_teams(api, event, token, scope="confirmed", team_count=6, seed=3).json
    per_team = [len(t["facilitators"]) for t in body["teams"]]
    assert min(per_team) >= 1 and max(per_team) <= 2 and sum(per_team) == 8
    assert_valid_teams(body, people)

    # an organizer turns facilitation off for four of them: then no team gets two
    for reg in people[-4:]:
        registrations.set_facilitator(reg, False, now_utc())
    db.session.commit()
    body = form_teams(api, event, token, scope="confirmed", team_count=6, seed=3).json
    per_team = [len(t["facilitators"]) for t in body["teams"]]
    assert sum(per_team) == 4 and max(per_team) == 1


def test_keep_apart_and_keep_together_are_honoured(api, make, event, token):
    people = roster(make, event, 30, national=5)
    naha = [p for p in people if p.organization_code == "472018"]
    assert len(naha) >= 3
    # together against the objective (same organisation), apart for people who would mix anyway
    together = [naha[0].id, naha[1].id]
    apart = [people[10].id, people[11].id, people[12].id, people[13].id, people[14].id]
    for seed in (1, 2, 3, 4):
        body = form_teams(api, event, token, scope="confirmed", team_count=5, seed=seed,
                          keep_together=[together], keep_apart=[apart]).json
        where = team_of(body)
        assert where[together[0]] == where[together[1]]
        assert len({where[i] for i in apart}) == 5
        assert_valid_teams(body, people)
        assert api("get", f"/events/{event.slug}/teams", token).json["violations"] == []


def test_locks_are_kept_on_re_run(api, make, event, token):
    people = roster(make, event, 24, national=4)
    body = form_teams(api, event, token, scope="confirmed", team_count=4, seed=1).json
    before = team_of(body)
    chosen = [body["teams"][0]["members"][0], body["teams"][1]["members"][1], body["teams"][3]["members"][2]]
    for rid in chosen:
        r = api("post", f"/events/{event.slug}/teams/locks", token, json={"registration_id": rid, "locked": True})
        assert r.status_code == 200
    assert sorted(i for t in r.json["teams"] for i in t["locked"]) == sorted(chosen)

    for seed in (2, 3, 4, 5):
        again = form_teams(api, event, token, scope="confirmed", team_count=4, seed=seed).json
        after = team_of(again)
        assert all(after[rid] == before[rid] for rid in chosen)
        assert sorted(i for t in again["teams"] for i in t["locked"]) == sorted(chosen)
        assert_valid_teams(again, people)
    # the re-runs did move other people (the locks are what kept those three)
    moved = [rid for rid in before if rid not in chosen and after[rid] != before[rid]]
    assert moved

    # keep_locks=false forgets them
    free = form_teams(api, event, token, scope="confirmed", team_count=4, seed=9, keep_locks=False).json
    assert all(t["locked"] == [] for t in free["teams"])


# ------------------------------------------------------------------ infeasible input
@pytest.mark.parametrize("case", ["together_too_large", "apart_group_too_large", "apart_and_together",
                                  "too_many_teams", "unknown_person"])
def test_infeasible_input_names_the_conflict(api, make, event, token, case):
    people = roster(make, event, 12, national=3)
    ids = [p.id for p in people]
    names = {p.id: p.name for p in people}
    other = make.registration(make.event())
    body = {"scope": "confirmed", "team_count": 3}
    named, field = [], None
    if case == "together_too_large":  # teams of 4, a group of 5
        body["keep_together"] = [ids[:5]]
        named, field = ids[:5], "keep_together"
    elif case == "apart_group_too_large":  # 4 people in pairwise different teams, 3 teams
        body["keep_apart"] = [ids[:4]]
        named, field = ids[:4], "keep_apart"
    elif case == "apart_and_together":
        body["keep_apart"] = [[ids[0], ids[1]]]
        body["keep_together"] = [[ids[0], ids[1]]]
        named, field = ids[:2], "keep_apart"
    elif case == "too_many_teams":
        body["team_count"] = 13
        field = "team_count"
    elif case == "unknown_person":
        cancelled = make.registration(event, name="取消 太郎", name_kana="トリケシ タロウ", status="cancelled")
        body["keep_apart"] = [[ids[0], other.id], [ids[1], cancelled.id]]
        named, field = [], "keep_apart"
    r = form_teams(api, event, token, **body)
    assert r.status_code == 422, r.json
    assert r.json["error"] == case
    assert field in r.json["fields"]
    message = r.json["message"]
    for rid in named:
        assert names[rid] in message, message
    if case == "too_many_teams":
        assert "13" in message and "12" in message
    if case == "unknown_person":
        # this event's cancelled registration by name; another event's only by number
        assert cancelled.name in message and f"No.{other.id}" in message and "参加確定の人" in message
        assert names[ids[0]] not in message
    # nothing was saved
    assert api("get", f"/events/{event.slug}/teams", token).status_code == 404


def test_contradiction_only_a_search_finds_answers_quickly(api, make, event, token):
    """Three people pairwise apart in two teams: no quick check sees it, the bounded search does."""
    people = roster(make, event, 8)
    a, b, c = (p.id for p in people[:3])
    started = time.monotonic()
    r = form_teams(api, event, token, scope="confirmed", team_count=2, keep_apart=[[a, b], [b, c], [a, c]])
    assert time.monotonic() - started < 10
    assert r.status_code == 422 and r.json["error"] == "no_feasible_assignment"
    for p in people[:3]:
        assert p.name in r.json["message"]
    assert "ゆるめて" in r.json["message"]


def test_locks_that_no_longer_fit_answer_422(api, make, event, token):
    people = roster(make, event, 12, national=2)
    body = form_teams(api, event, token, scope="confirmed", team_count=2, seed=1).json
    team_a = body["teams"][0]["members"]
    for rid in team_a:
        api("post", f"/events/{event.slug}/teams/locks", token, json={"registration_id": rid, "locked": True})
    r = form_teams(api, event, token, scope="confirmed", team_count=3)  # teams of 4 now; 6 locked in A
    assert r.status_code == 422 and r.json["error"] == "locked_team_full"
    named = {p.id: p.name for p in people}
    assert all(named[rid] in r.json["message"] for rid in team_a[:3])


# ------------------------------------------------------------------ manual changes
def test_move_swap_and_evaluation(api, make, event, token):
    people = roster(make, event, 12, national=3)
    body = form_teams(api, event, token, scope="confirmed", team_count=3, seed=5).json
    run_id = body["id"]
    a = body["teams"][0]["members"][0]
    b = body["teams"][1]["members"][0]

    # a move unbalances the sizes: re-scored, and the broken rule is named in Japanese
    r = api("post", f"/events/{event.slug}/teams/moves", token, json={"registration_id": a, "team": 1, "run_id": run_id})
    assert r.status_code == 200
    assert a in r.json["teams"][1]["members"] and sizes(r.json) == [3, 5, 4]
    codes = {v["code"] for v in r.json["violations"]}
    assert "team_size" in codes
    msg = next(v["message"] for v in r.json["violations"] if v["code"] == "team_size")
    assert "チーム" in msg and "人" in msg
    assert api("get", f"/events/{event.slug}/teams", token).json["violations"] == r.json["violations"]

    # moving back restores a valid assignment
    r = api("post", f"/events/{event.slug}/teams/moves", token, json={"registration_id": a, "team": 0})
    assert r.json["violations"] == [] and sizes(r.json) == [4, 4, 4]
    # someone who is not in the event: the error names the body's field
    for path, body in (("moves", {"registration_id": 999_999, "team": 0}),
                       ("locks", {"registration_id": 999_999, "locked": True})):
        r = api("post", f"/events/{event.slug}/teams/{path}", token, json=body)
        assert r.status_code == 422 and set(r.json["fields"]) == {"registration_id"}, (path, r.json)

    # a swap keeps the sizes and changes the score only through who is where
    r = api("post", f"/events/{event.slug}/teams/swaps", token, json={"first": a, "second": b})
    assert r.status_code == 200
    assert b in r.json["teams"][0]["members"] and a in r.json["teams"][1]["members"]
    assert sizes(r.json) == [4, 4, 4]

    # two facilitators into one team breaks the facilitator rule (3 facilitators, 3 teams)
    facs = [p.id for p in people if p.facilitator]
    where = team_of(r.json)
    target = where[facs[0]]
    mover = next(f for f in facs if where[f] != target)
    partner = next(i for i in r.json["teams"][target]["members"] if i not in facs)
    r = api("post", f"/events/{event.slug}/teams/swaps", token, json={"first": mover, "second": partner})
    rule = [v for v in r.json["violations"] if v["code"] == "facilitator_rule"]
    assert rule and "ファシリテーター" in rule[0]["message"]

    # refused: same team, not in a team, other events' people, stale run
    same = r.json["teams"][0]["members"][:2]
    r = api("post", f"/events/{event.slug}/teams/swaps", token, json={"first": same[0], "second": same[1]})
    assert r.status_code == 422 and "second" in r.json["fields"]
    stranger = make.registration(make.event())
    r = api("post", f"/events/{event.slug}/teams/moves", token, json={"registration_id": stranger.id, "team": 0})
    assert r.status_code == 422
    r = api("post", f"/events/{event.slug}/teams/moves", token, json={"registration_id": a, "team": 7})
    assert r.status_code == 422 and "team" in r.json["fields"]
    form_teams(api, event, token, scope="confirmed", team_count=3)
    r = api("post", f"/events/{event.slug}/teams/moves", token, json={"registration_id": a, "team": 1, "run_id": run_id})
    assert r.status_code == 409 and r.json["error"] == "teams_changed"


def test_a_locked_person_moved_by_hand_stays_locked_there(api, make, event, token):
    roster(make, event, 9, national=3)
    body = form_teams(api, event, token, scope="confirmed", team_count=3, seed=2).json
    a, b = body["teams"][0]["members"][0], body["teams"][2]["members"][0]
    api("post", f"/events/{event.slug}/teams/locks", token, json={"registration_id": a, "locked": True})
    r = api("post", f"/events/{event.slug}/teams/swaps", token, json={"first": a, "second": b})
    assert r.json["teams"][2]["locked"] == [a]
    again = form_teams(api, event, token, scope="confirmed", team_count=3, seed=11).json
    assert a in again["teams"][2]["members"]


# ------------------------------------------------------------------ publishing and who sees teams
def test_publish_shows_teams_to_the_desk_and_slack(api, make, event, organizer, token):
    people = roster(make, event, 8, national=2)
    body = form_teams(api, event, token, scope="confirmed", team_count=2).json
    reg = people[0]
    team_name = next(t["name"] for t in body["teams"] if reg.id in t["members"])

    r = api("post", f"/events/{event.slug}/checkins", token, json={"code": reg.ticket_code})
    assert r.json["result"] == "checked_in" and r.json["registration"]["team"] is None  # not published yet

    r = api("post", f"/events/{event.slug}/teams/publish", token, json={"run_id": body["id"]})
    assert r.status_code == 200 and r.json["published"] is True
    r = api("post", f"/events/{event.slug}/checkins", token, json={"code": reg.ticket_code})
    assert r.json["result"] == "already_checked_in" and r.json["registration"]["team"] == team_name
    r = api("post", f"/events/{event.slug}/checkins", token, json={"code": people[1].ticket_code})
    assert r.json["registration"]["team"] == next(t["name"] for t in body["teams"] if people[1].id in t["members"])

    # the post-event Slack report's team thread gets the same teams (through check-in's lookup)
    from eventsvc.slack import service as slack

    threads = dict(slack.teams_of(event))
    assert threads[team_name] == [reg.id] or reg.id in threads[team_name]

    # a re-run is not shown until it is published; the earlier published teams stay visible
    again = form_teams(api, event, token, scope="confirmed", team_count=4).json
    assert again["published"] is False
    r = api("post", f"/events/{event.slug}/checkins", token, json={"code": reg.ticket_code})
    assert r.json["registration"]["team"] == team_name
    api("post", f"/events/{event.slug}/teams/publish", token, json={})
    r = api("post", f"/events/{event.slug}/checkins", token, json={"code": reg.ticket_code})
    assert r.json["registration"]["team"] == next(t["name"] for t in again["teams"] if reg.id in t["members"])
    assert [t.published for t in _runs(event)] == [False, True]

    api("post", f"/events/{event.slug}/teams/unpublish", token, json={})
    r = api("post", f"/events/{event.slug}/checkins", token, json={"code": reg.ticket_code})
    assert r.json["registration"]["team"] is None


def _runs(event):
    from sqlalchemy import select

    from eventsvc.teams.models import TeamAssignment

    return list(db.session.scalars(select(TeamAssignment).where(TeamAssignment.event_id == event.id)
                                   .order_by(TeamAssignment.id)))


def test_only_one_published_run_per_event(make, event, organizer):
    """The partial unique index holds even if the service were bypassed."""
    from sqlalchemy.exc import IntegrityError

    from eventsvc.teams import service

    roster(make, event, 4)
    first = service.run(event, service.RunRequest(scope="confirmed", team_count=2), organizer, now_utc())
    second = service.run(event, service.RunRequest(scope="confirmed", team_count=2), organizer, now_utc())
    service.publish(first, organizer, now_utc())
    service.publish(second, organizer, now_utc())
    db.session.commit()
    assert (first.published, second.published) == (False, True)
    first.published = True
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_topics_and_preferences(api, make, event, organizer, token):
    registrations.update_settings(event, organizer, now_utc(), promotion_mode="auto", offer_hours=48, questions=[
        registrations.Question(id="topic", kind="single", text="関心のあるテーマ", options=["窓口", "庁内DX"])],
        lottery_at=None, privacy_purpose="")
    db.session.commit()
    people = []
    for i in range(8):
        people.append(make.registration(event, answers={"topic": "窓口" if i % 2 else "庁内DX"}))
    r = form_teams(api, event, token, scope="confirmed", team_count=2, topics=["窓口", "庁内DX"],
                   topic_question="topic", seed=1)
    assert r.status_code == 201, r.json
    body = r.json
    assert [t["name"] for t in body["teams"]] == ["窓口", "庁内DX"]
    want = {p.id: ("窓口" if i % 2 else "庁内DX") for i, p in enumerate(people)}
    for t in body["teams"]:
        assert Counter(want[i] == t["topic"] for i in t["members"])[True] >= 3
    r = form_teams(api, event, token, scope="confirmed", team_count=2, topics=["窓口"])
    assert r.status_code == 422 and "topics" in r.json["fields"]
    r = form_teams(api, event, token, scope="confirmed", team_count=2, topic_question="nope")
    assert r.status_code == 422 and "topic_question" in r.json["fields"]


def test_repeated_topics_get_distinct_team_names(api, make, event, token):
    roster(make, event, 8)
    r = form_teams(api, event, token, scope="confirmed", team_count=4, topics=["窓口", "庁内DX", "窓口", None])
    assert r.status_code == 201
    assert [(t["name"], t["topic"]) for t in r.json["teams"]] == [
        ("窓口 A", "窓口"), ("庁内DX", "庁内DX"), ("窓口 C", "窓口"), ("D", None)]
    r = form_teams(api, event, token, scope="confirmed", team_count=2, names=["青", "青"])
    assert [t["name"] for t in r.json["teams"]] == ["青 A", "青 B"]


def test_ids_out_of_range_are_not_found(api, make, event, token):
    roster(make, event, 4)
    form_teams(api, event, token, scope="confirmed", team_count=2)
    for path, body in (("moves", {"registration_id": 2**40, "team": 0}),
                       ("swaps", {"first": 2**40, "second": 2**70}),
                       ("locks", {"registration_id": 2**70, "locked": True}),
                       ("moves", {"registration_id": -1, "team": 0})):
        r = api("post", f"/events/{event.slug}/teams/{path}", token, json=body)
        assert r.status_code == 422, (path, r.json)
    r = form_teams(api, event, token, scope="confirmed", team_count=2, keep_apart=[[2**40, 2**70]])
    assert r.status_code == 422 and r.json["error"] == "unknown_person"


def test_concurrent_swaps_of_the_same_pair_are_serialised(app, api, make, event, token):
    """Twelve organizers swap the same two people at once, over real HTTP: the row lock makes
    each swap see the one before, so twelve swaps put both back where they started (stale reads
    would lose swaps)."""
    import json
    import threading
    import urllib.request

    from werkzeug.serving import make_server

    roster(make, event, 12, national=3)
    body = form_teams(api, event, token, scope="confirmed", team_count=3, seed=1).json
    a, b = body["teams"][0]["members"][0], body["teams"][1]["members"][0]
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    server = threading.Thread(target=srv.serve_forever, daemon=True)
    server.start()
    url = f"http://127.0.0.1:{srv.server_port}/api/v1/events/{event.slug}/teams/swaps"
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def swap():
        req = urllib.request.Request(url, data=json.dumps({"first": a, "second": b}).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        barrier.wait()
        with urllib.request.urlopen(req, timeout=60) as res:
            statuses.append(res.status)

    try:
        threads = [threading.Thread(target=swap) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
    finally:
        srv.shutdown()
        server.join(5)
    assert statuses == [200] * 12
    db.session.rollback()
    after = api("get", f"/events/{event.slug}/teams", token).json
    assert team_of(after)[a] == 0 and team_of(after)[b] == 1
    assert sizes(after) == [4, 4, 4] and after["violations"] == []


def test_slack_team_thread_keeps_the_teams_order(api, make, event, token):
    """Organizer-named teams reach the Slack report in their own order, not sorted by name."""
    from eventsvc.slack import service as slack

    roster(make, event, 9, national=3)
    body = form_teams(api, event, token, scope="confirmed", team_count=3,
                      topics=["窓口BPR", "ウェブサイト", "アナログ規制"]).json
    api("post", f"/events/{event.slug}/teams/publish", token, json={"run_id": body["id"]})
    assert [name for name, _ids in slack.teams_of(event)] == [t["name"] for t in body["teams"]]
    assert sorted(t["name"] for t in body["teams"]) != [t["name"] for t in body["teams"]]
