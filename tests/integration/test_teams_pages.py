"""Team pages without JavaScript, on SQLite and PostgreSQL: run, move, swap, lock, re-run,
rename, publish; constraints typed by name or number; errors kept on the page; the projector;
the attendee's team on their ticket page; the team on name tags and the reception list."""

from __future__ import annotations

import re

import pytest

from eventsvc.extensions import db
from eventsvc.teams import service
from tests.integration.page_support import error_summary
from tests.integration.test_teams_support import (  # noqa: F401 - teams_plugged_into_checkin is an autouse fixture
    big_event,
    check_in,
    roster,
    teams_plugged_into_checkin,
)

BASE = "/manage/events/{slug}/teams"


@pytest.fixture
def event(make, organizer):
    return big_event(make, organizer)


@pytest.fixture
def people(make, event):
    return roster(make, event, 12, national=3)


def url(event, tail: str = "") -> str:
    return BASE.format(slug=event.slug) + tail


def run_form(client, event, **fields):
    data = {"scope": "confirmed", "team_count": "3", "keep_locks": "y", **fields}
    return client.post(url(event, "/run"), data={k: v for k, v in data.items() if v is not None})


def current(event):
    db.session.expire_all()
    return service.current(event)


def where(run) -> dict[int, int]:
    positions = {t.id: t.position for t in run.teams}
    return {m.registration_id: positions[m.team_id] for m in run.members}


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


# ------------------------------------------------------------------ the organizer's flow
def test_run_adjust_lock_rerun_publish(client, login, make, event, people, organizer):
    login(organizer)
    page = client.get(url(event))
    assert page.status_code == 200 and "チーム分けの条件" in text(page)
    assert "参加確定の人（12人）" in text(page) and "受付済みの人（0人）" in text(page)
    assert 'src="/static/js/teams.js"' not in page.get_data(as_text=True)  # nothing to drag yet

    r = run_form(client, event, seed="4")
    assert r.status_code == 303 and r.headers["Location"].endswith("/teams#teams")
    page = client.get(url(event))
    body = text(page)
    assert "12人を3チームに分けました" in body
    for name in ("チーム A", "チーム B", "チーム C"):
        assert name in body
    assert "すべての条件を守っています" in body
    assert 'src="/static/js/teams.js"' in page.get_data(as_text=True)
    run = current(event)
    assert len(run.members) == 12 and run.seed == 4 and not run.published

    # move: the sizes become 3/5/4 and the page names the broken rule
    a = next(rid for rid, t in where(run).items() if t == 0)
    r = client.post(url(event, "/move"), data={"move-run_id": run.id, "move-registration": a, "move-team": "1"})
    assert r.status_code == 303
    assert where(current(event))[a] == 1
    body = text(client.get(url(event)))
    assert "守られていない条件（2件）" in body
    assert "チーム Aの人数が3人です（各チーム4人）" in body and "チーム Bの人数が5人です（各チーム4人）" in body

    # swap two people (back to balanced, a in team A again)
    run = current(event)
    b = next(rid for rid, t in where(run).items() if t == 0)
    r = client.post(url(event, "/move"), data={"move-run_id": run.id, "move-registration": a, "move-team": "0"})
    c = next(rid for rid, t in where(current(event)).items() if t == 2)
    r = client.post(url(event, "/swap"), data={"swap-run_id": run.id, "swap-first": b, "swap-second": c})
    assert r.status_code == 303
    after = where(current(event))
    assert (after[b], after[c]) == (2, 0)
    assert "すべての条件を守っています" in text(client.get(url(event)))

    # lock two people, then re-run with other seeds: they stay
    for rid in (a, c):
        r = client.post(url(event, "/lock"), data={"run_id": run.id, "registration": rid, "locked": "1"})
        assert r.status_code == 303 and r.headers["Location"].endswith(f"#member-{rid}")
    page = client.get(url(event))
    assert text(page).count("固定を外す") == 2
    for seed in ("10", "11", "12"):
        assert run_form(client, event, seed=seed).status_code == 303
        again = where(current(event))
        assert (again[a], again[c]) == (0, 0)
    assert sorted(m.registration_id for m in current(event).members if m.locked) == sorted([a, c])
    # unlocking and re-running without "keep locks" forgets them
    run = current(event)
    client.post(url(event, "/lock"), data={"run_id": run.id, "registration": a, "locked": "0"})
    assert [m.registration_id for m in current(event).members if m.locked] == [c]
    run_form(client, event, seed="13", keep_locks=None)
    assert not any(m.locked for m in current(event).members)

    # publish / unpublish
    run = current(event)
    r = client.post(url(event, "/publish"), data={"run_id": run.id})
    assert r.status_code == 303 and current(event).published
    assert "公開中" in text(client.get(url(event)))
    r = client.post(url(event, "/unpublish"), data={"run_id": run.id})
    assert not current(event).published


def test_rename_a_team(client, login, event, people, organizer):
    login(organizer)
    run_form(client, event)
    run = current(event)
    r = client.post(url(event, "/rename"), data={"run_id": run.id, "position": "1", "name": "窓口", "topic": "書かない窓口"})
    assert r.status_code == 303 and r.headers["Location"].endswith("#team-1")
    team = current(event).teams[1]
    assert (team.name, team.topic) == ("窓口", "書かない窓口")
    r = client.post(url(event, "/rename"), data={"run_id": run.id, "position": "2", "name": "窓口", "topic": ""})
    assert r.status_code == 422 and "ほかのチームと同じ名前です" in text(r)
    r = client.post(url(event, "/rename"), data={"run_id": run.id, "position": "2", "name": "", "topic": ""})
    assert r.status_code == 422 and "チーム名を入力してください" in text(r)
    assert current(event).teams[2].name == "C"


def test_team_names_with_control_characters_are_refused(client, login, event, people, organizer):
    """A NUL (PostgreSQL cannot store it) or a bidi override in a team name or topic, typed in the
    run form or the rename form, is refused with the app's message, not saved; a name that shows
    nothing (zero-width space) is no name."""
    login(organizer)
    r = run_form(client, event, names="窓口\n庁内\x00DX\n広報")
    assert r.status_code == 422 and "制御文字は使用できません" in text(r)
    r = run_form(client, event, names="窓口\n\u202e庁内DX\n広報", use_topics="y")
    assert r.status_code == 422 and "制御文字は使用できません" in text(r)
    assert current(event) is None
    r = run_form(client, event, names="窓口\n\u200b\n𠮷野🍣")
    assert r.status_code == 303
    assert [t.name for t in current(event).teams] == ["窓口", "B", "𠮷野🍣"]

    run = current(event)
    for name, topic in (("a\x00b", ""), ("窓口", "\u202eテーマ"), ("a\x07", "")):
        r = client.post(url(event, "/rename"), data={"run_id": run.id, "position": "1", "name": name, "topic": topic})
        assert r.status_code == 422 and "制御文字は使用できません" in text(r), name
    r = client.post(url(event, "/rename"), data={"run_id": run.id, "position": "1", "name": "\u200b", "topic": ""})
    assert r.status_code == 422 and "チーム名を入力してください" in text(r)
    team = current(event).teams[1]
    assert (team.name, team.topic) == ("B", None)


def test_team_names_and_topics_from_the_form(client, login, event, people, organizer):
    login(organizer)
    r = run_form(client, event, names="窓口\n庁内DX\n広報")
    assert r.status_code == 303
    assert [t.name for t in current(event).teams] == ["窓口", "庁内DX", "広報"]
    assert [t.topic for t in current(event).teams] == [None, None, None]
    r = run_form(client, event, names="窓口\n庁内DX\n広報", use_topics="y")
    assert [t.topic for t in current(event).teams] == ["窓口", "庁内DX", "広報"]
    # the form shows what was asked last time
    page = client.get(url(event)).get_data(as_text=True)
    assert "窓口\n庁内DX\n広報</textarea>" in page
    r = run_form(client, event, names="窓口\n庁内DX")
    assert r.status_code == 422 and "チーム数（3）と同じ数だけ指定してください（いま2個）" in text(r)


def test_constraints_by_name_or_number(client, login, event, people, organizer):
    login(organizer)
    naha = [p for p in people if p.organization_code == "472018"]
    together = f"{naha[0].name}、{naha[1].name}"  # the objective alone would split them
    apart = "、".join(f"No.{p.id}" for p in people[3:6])
    for seed in ("1", "2", "3"):
        r = run_form(client, event, keep_together=together, keep_apart=apart, seed=seed)
        assert r.status_code == 303
        w = where(current(event))
        assert w[naha[0].id] == w[naha[1].id]
        assert len({w[p.id] for p in people[3:6]}) == 3
    # they come back into the form for the next run
    page = client.get(url(event)).get_data(as_text=True)
    assert f"No.{naha[0].id} {naha[0].name}、No.{naha[1].id} {naha[1].name}" in page

    # names that do not fit are named on the form, with what was typed kept
    r = run_form(client, event, keep_together="比嘉 太郎、存在 しない人", keep_apart="12345、No.1")
    assert r.status_code == 422
    body = text(r)
    assert "「存在 しない人」さんが対象の参加者に見つかりません" in body
    assert "No.12345 は対象の参加者にいません" in body
    assert "存在 しない人" in r.get_data(as_text=True)
    r = run_form(client, event, keep_apart=f"No.{people[0].id}")
    assert r.status_code == 422 and "1行に別々の2人以上を書いてください" in text(r)
    # one person named twice (by number and by name) is not a group of two
    r = run_form(client, event, keep_apart=f"No.{people[0].id}、{people[0].name}")
    assert r.status_code == 422 and "1行に別々の2人以上を書いてください" in text(r)


def test_infeasible_input_is_explained_on_the_page(client, login, event, people, organizer):
    login(organizer)
    group = people[:5]
    r = run_form(client, event, keep_together="、".join(p.name for p in group))
    assert r.status_code == 422
    body = text(r)
    assert "チーム分けできませんでした" in body
    assert "「一緒にする」グループが大きすぎて、チームの人数（4人）に収まりません" in body
    assert all(p.name in body for p in group)
    assert current(event) is None

    r = run_form(client, event, team_count="", team_size="")
    assert r.status_code == 422 and "どちらか一方を指定してください" in text(r)
    r = run_form(client, event, team_count="20")
    assert r.status_code == 422 and "20チームに分けるには20人以上が必要ですが、対象は12人です" in text(r)
    r = run_form(client, event, scope="checked_in")
    assert r.status_code == 422 and "受付済みの人がいません" in text(r)


def test_stale_page_changes_nothing(client, login, event, people, organizer):
    login(organizer)
    run_form(client, event, seed="1")
    old = current(event)
    run_form(client, event, seed="2")
    new = current(event)
    before = where(new)
    rid = people[0].id
    target = (before[rid] + 1) % 3
    r = client.post(url(event, "/move"), data={"move-run_id": old.id, "move-registration": rid, "move-team": str(target)})
    assert r.status_code == 303
    assert where(current(event)) == before
    assert "チーム分けが更新されています" in text(client.get(url(event)))
    r = client.post(url(event, "/publish"), data={"run_id": old.id})
    assert not current(event).published


def test_move_form_refuses_bad_choices(client, login, event, people, organizer):
    login(organizer)
    run_form(client, event)
    run = current(event)
    r = client.post(url(event, "/move"), data={"move-run_id": run.id, "move-registration": "", "move-team": "1"})
    assert r.status_code == 422 and "移動する人を選んでください" in text(r)
    r = client.post(url(event, "/move"), data={"move-run_id": run.id, "move-registration": people[0].id,
                                               "move-team": "9"})
    assert r.status_code == 422
    r = client.post(url(event, "/swap"), data={"swap-run_id": run.id, "swap-first": people[0].id,
                                               "swap-second": people[0].id})
    assert r.status_code == 422 and "同じチームの人どうしは入れ替えられません" in text(r)


def test_late_arrival_is_listed_and_can_be_placed(client, login, make, event, people, organizer):
    check_in(event, people[:11], organizer)
    login(organizer)
    run_form(client, event, scope="checked_in")
    check_in(event, people[11:], organizer)
    body = text(client.get(url(event)))
    assert "チームに入っていない受付済みの人（1人）" in body and people[11].name in body
    run = current(event)
    r = client.post(url(event, "/move"), data={"move-run_id": run.id, "move-registration": people[11].id,
                                               "move-team": "2"})
    assert r.status_code == 303 and where(current(event))[people[11].id] == 2
    # and taken out again
    client.post(url(event, "/move"), data={"move-run_id": run.id, "move-registration": people[11].id, "move-team": "out"})
    assert people[11].id not in where(current(event))


def test_projector_shows_every_team(client, login, event, people, organizer):
    login(organizer)
    assert client.get(url(event, "/projector")).status_code == 302
    run_form(client, event)
    r = client.get(url(event, "/projector"))
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "projector-page" in html and "teams-projector" in html
    body = text(r)
    assert all(p.name in body for p in people)
    assert all(f"チーム {n}" in body for n in "ABC")
    assert "まだ公開していません" in body
    assert "<script" not in html and "style=" not in html


def test_who_may_see_the_pages(client, login, make, event, people):
    assert client.get(url(event)).status_code == 302
    assert client.post(url(event, "/run"), data={}).status_code == 302
    login(make.organizer())
    assert client.get(url(event)).status_code == 404
    assert client.get(url(event, "/projector")).status_code == 404
    assert run_form(client, event).status_code == 404


def test_event_page_links_to_teams(client, login, event, organizer):
    login(organizer)
    html = client.get(f"/manage/events/{event.slug}").get_data(as_text=True)
    assert f'href="{url(event)}"' in html


# ------------------------------------------------------------------ what attendees and the desk see
def test_attendee_sees_their_team_only_when_published(client, login, make, event, people, organizer):
    shy = make.registration(event, name="内気 花子", name_kana="ウチキ ハナコ", consent_listing=False)
    login(organizer)
    run_form(client, event, team_count="2")
    run = current(event)
    me = people[0]
    mine = where(run)[me.id]
    mates = [r for r in people + [shy] if where(run).get(r.id) == mine and r.id != me.id]
    others = [r for r in people if where(run).get(r.id) not in (mine, None)]
    page = f"/my/{service_link(me)}"

    body = text(client.get(page))
    assert "あなたのチーム" not in body

    client.post(url(event, "/publish"), data={"run_id": run.id})
    body = text(client.get(page))
    team_name = run.teams[mine].name
    assert "あなたのチーム" in body and f"チーム {team_name}" in body
    for r in mates:
        assert (r.name in body) == (r.id != shy.id)
    assert not any(r.name in body for r in others)
    if shy in mates:
        assert "ほか1名" in body

    client.post(url(event, "/unpublish"), data={"run_id": run.id})
    assert "あなたのチーム" not in text(client.get(page))


def service_link(reg) -> str:
    from eventsvc.registration import service as registrations

    return registrations.link_token(reg)


def test_cancelled_attendee_sees_no_team(client, login, make, event, people, organizer):
    from eventsvc.core.clock import now_utc
    from eventsvc.registration import service as registrations

    login(organizer)
    run_form(client, event)
    client.post(url(event, "/publish"), data={"run_id": current(event).id})
    me = people[1]
    assert "あなたのチーム" in text(client.get(f"/my/{service_link(me)}"))
    registrations.cancel(me, me, now_utc())
    db.session.commit()
    assert "あなたのチーム" not in text(client.get(f"/my/{service_link(me)}"))


def test_name_tags_and_reception_list_show_the_published_team(client, login, event, people, organizer):
    login(organizer)
    run_form(client, event)
    run = current(event)
    tags = f"/manage/events/{event.slug}/name-tags"
    assert "nametag-team" not in client.get(tags).get_data(as_text=True)
    client.post(url(event, "/publish"), data={"run_id": run.id})
    html = client.get(tags).get_data(as_text=True)
    w = where(current(event))
    names = {t.position: t.name for t in run.teams}
    for p in people:
        block = html.split(f'<p class="nametag-name">{p.name}</p>', 1)[1].split("</div>", 1)[0]
        assert f'<p class="nametag-team">チーム {names[w[p.id]]}</p>' in block
    listing = text(client.get(f"/events/{event.slug}/checkin/reception-list"))
    assert f"チーム: {names[w[people[0].id]]}" in listing


def test_a_refused_run_says_each_problem_once_in_one_summary(client, login, event, people, organizer):
    login(organizer)
    r = run_form(client, event, team_count="100")
    assert r.status_code == 422
    entries = error_summary(r.get_data(as_text=True))
    assert entries == [("#team_count", "チーム数: 100チームに分けるには100人以上が必要ですが、対象は12人です。")]

    r = run_form(client, event, team_count="4", names="赤\n青")
    entries = error_summary(r.get_data(as_text=True))
    assert entries == [(None, "2個のチーム名に対して、チーム数は4です。"),
                       ("#names", "チーム名: チーム数（4）と同じ数だけ指定してください（いま2個）。")]
    assert "つです" not in text(r)
