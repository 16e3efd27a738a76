"""In a real Chromium: an organizer forms teams, adjusts them by drag and drop (and with plain
forms without JavaScript), locks, re-runs, publishes, and shows them on the projector; the
attendee sees their team. axe finds no violation on any of these pages."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from eventsvc.extensions import db
from eventsvc.registration import service as registrations
from eventsvc.teams import service
from eventsvc.teams.models import TeamMember
from tests.browser_fixtures import assert_accessible, login_in_browser
from tests.integration.test_teams_support import big_event, roster

pytestmark = pytest.mark.browser


def placement(event) -> dict[int, int]:
    """``{registration id: team position}`` in the current run, read from the database."""
    db.session.rollback()  # a new snapshot: see what the server committed
    run = service.current(event)
    positions = {t.id: t.position for t in run.teams}
    return {m.registration_id: positions[m.team_id] for m in run.members}


def locked_ids(event) -> set[int]:
    db.session.rollback()  # a new snapshot: see what the server committed
    run = service.current(event)
    return set(db.session.scalars(select(TeamMember.registration_id).where(
        TeamMember.assignment_id == run.id, TeamMember.locked.is_(True))))


def dom_team_of(page, registration_id: int) -> str:
    return page.locator(f"#member-{registration_id}").evaluate("el => el.closest('[data-team]').dataset.team")


def plain_member(page, position: int) -> int:
    """A member of the team at ``position`` who is not a facilitator (from the page)."""
    item = page.locator(f"#team-{position} .team-member:not(:has(.badge-facilitator))").first
    return int(item.get_attribute("data-registration"))


def open_teams(page, event) -> None:
    page.goto(page.base + f"/manage/events/{event.slug}")
    page.get_by_role("link", name="チーム分け").click()
    page.get_by_role("heading", name="チーム分けの条件").wait_for()


def form_teams(page, *, count: str, scope: str) -> None:
    page.get_by_label(scope).check()
    page.get_by_label("チーム数").fill(count)
    page.get_by_role("button", name="チーム分けを実行").click()


def test_drag_and_drop_lock_rerun_publish_and_projector(page, make):
    organizer = make.organizer()
    event = big_event(make, organizer)
    people = roster(make, event, 40, national=6)
    names = {p.id: p.name for p in people}
    # tall enough that both ends of a drag are on screen (Chromium's synthetic drag does not scroll)
    page.set_viewport_size({"width": 1280, "height": 2000})
    login_in_browser(page, organizer)
    open_teams(page, event)
    assert_accessible(page)

    form_teams(page, count="6", scope="参加確定の人（40人）")
    page.get_by_text("40人を6チームに分けました").wait_for()
    assert_accessible(page)
    assert page.locator("[data-teams-hint]").is_visible()  # the drag hint appears with JavaScript only
    assert page.locator(".team-card").count() == 6
    assert page.locator("#team-violations").inner_text().startswith("すべての条件を守っています")
    before = placement(event)

    # drag a person of team A onto a person of team B: swapped (sizes and facilitators unchanged)
    a, b = plain_member(page, 0), plain_member(page, 1)
    page.locator(f"#member-{a}").drag_to(page.locator(f"#member-{b}"))
    page.get_by_text(f"{names[a]}さんと{names[b]}さんを入れ替えました").wait_for()
    now = placement(event)
    assert (now[a], now[b]) == (1, 0) and dom_team_of(page, a) == "1"
    assert {rid for rid in before if before[rid] != now[rid]} == {a, b}
    assert page.locator("#team-violations").inner_text().startswith("すべての条件を守っています")

    # drag someone from a team of 6 onto the heading of a team of 7: moved, and the page
    # says which sizes are now wrong; dragging them back puts things right
    sizes = {pos: page.locator(f"#team-{pos} .team-member").count() for pos in range(6)}
    small, large = min(sizes, key=sizes.get), max(sizes, key=sizes.get)
    assert (sizes[small], sizes[large]) == (6, 7)
    c = plain_member(page, small)
    page.locator(f"#member-{c}").drag_to(page.locator(f"#team-{large}-h"))
    page.get_by_text(f"{names[c]}さんをチーム {'ABCDEF'[large]} に移しました").wait_for()
    assert placement(event)[c] == large
    problems = page.locator("#team-violations").inner_text()
    assert "守られていない条件（2件）" in problems
    assert f"チーム {'ABCDEF'[small]}の人数が5人です（各チーム6〜7人）" in problems
    assert f"チーム {'ABCDEF'[large]}の人数が8人です（各チーム6〜7人）" in problems
    page.locator(f"#member-{c}").drag_to(page.locator(f"#team-{small}-h"))
    page.get_by_text(f"{names[c]}さんをチーム {'ABCDEF'[small]} に移しました").wait_for()
    assert page.locator("#team-violations").inner_text().startswith("すべての条件を守っています")
    now = placement(event)

    # lock two people (buttons named after them), then form the teams again: they stay
    c = int(page.locator("#team-4 .team-member").nth(2).get_attribute("data-registration"))
    a = plain_member(page, 0)
    for rid in (a, c):
        page.get_by_role("button", name=f"固定する: {names[rid]}").click()
        page.get_by_text(f"{names[rid]}さんをいまのチームに固定しました").wait_for()
    assert locked_ids(event) == {a, c}
    assert page.locator(f"#member-{a} .badge-locked").is_visible()
    page.get_by_label("乱数のシード").fill("99")
    assert page.get_by_label("固定した人はいまのチームのままにする").is_checked()
    page.get_by_role("button", name="もう一度チーム分けを実行").click()
    page.get_by_text("固定した2人はそのままです").wait_for()
    after = placement(event)
    assert (after[a], after[c]) == (0, 4)
    assert dom_team_of(page, a) == "0" and dom_team_of(page, c) == "4"
    assert after != now  # the others were formed again
    assert_accessible(page)

    # publish, then the projector: every team and every name on one 1080p screen, big type
    page.get_by_role("button", name="公開する").click()
    page.get_by_text("チーム分けを公開しました").wait_for()
    assert page.locator("#publish-state").inner_text().startswith("公開中")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.get_by_role("link", name="投影用の画面").click()
    page.locator(".teams-projector").wait_for()
    assert_accessible(page)
    assert page.locator(".teams-projector-team").count() == 6
    text = page.locator(".teams-projector").inner_text()
    assert all(name in text for name in names.values())
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 1")
    size = page.locator(".teams-projector-team .member-name").first.evaluate(
        "el => parseFloat(getComputedStyle(el).fontSize)")
    assert size >= 24
    assert page.requests.external() == []


def test_without_javascript_forms_move_swap_lock_rerun_publish(page_nojs, make):
    page = page_nojs
    organizer = make.organizer()
    event = big_event(make, organizer)
    people = roster(make, event, 12, national=3)
    names = {p.id: p.name for p in people}
    login_in_browser(page, organizer)
    open_teams(page, event)

    # an infeasible request: the error names the people and the typed values stay
    page.get_by_label("参加確定の人（12人）").check()
    page.get_by_label("チーム数").fill("3")
    page.get_by_label("同じチームにする人").fill("、".join(p.name for p in people[:5]))
    page.get_by_role("button", name="チーム分けを実行").click()
    summary = page.locator("#team-problems")
    assert "チームの人数（4人）に収まりません" in summary.inner_text()
    assert all(p.name in summary.inner_text() for p in people[:5])
    assert page.get_by_label("同じチームにする人").input_value().startswith(people[0].name)
    assert_accessible(page)

    page.get_by_label("同じチームにする人").fill("")
    page.get_by_role("button", name="チーム分けを実行").click()
    page.get_by_text("12人を3チームに分けました").wait_for()
    assert not page.locator("[data-teams-hint]").is_visible()
    assert_accessible(page)

    start = placement(event)
    a = next(rid for rid, t in start.items() if t == 0)
    page.get_by_label("移動する人").select_option(str(a))
    page.get_by_label("移動先").select_option("2")
    page.get_by_role("button", name="移動する").click()
    page.get_by_text(f"{names[a]}さんをチーム C に移しました").wait_for()
    assert placement(event)[a] == 2
    assert "チーム Cの人数が5人です" in page.locator("#team-violations").inner_text()
    assert_accessible(page)

    b = next(rid for rid, t in placement(event).items() if t == 1)
    page.get_by_label("入れ替える人（1人目）").select_option(str(a))
    page.get_by_label("入れ替える人（2人目）").select_option(str(b))
    page.get_by_role("button", name="入れ替える").click()
    page.get_by_text(f"{names[a]}さんと{names[b]}さんを入れ替えました").wait_for()
    assert (placement(event)[a], placement(event)[b]) == (1, 2)

    page.get_by_role("button", name=f"固定する: {names[a]}").click()
    page.get_by_text(f"{names[a]}さんをいまのチームに固定しました").wait_for()
    page.get_by_role("button", name="もう一度チーム分けを実行").click()
    page.get_by_text("固定した1人はそのままです").wait_for()
    assert placement(event)[a] == 1 and locked_ids(event) == {a}

    page.get_by_role("button", name="公開する").click()
    page.get_by_text("チーム分けを公開しました").wait_for()
    assert_accessible(page)

    page.get_by_role("link", name="投影用の画面").click()
    page.locator(".teams-projector").wait_for()
    assert all(n in page.locator(".teams-projector").inner_text() for n in names.values())
    assert_accessible(page)

    # the attendee's own page shows their team (no JavaScript, phone or desk)
    me = people[0]
    team = next(t for t in service.current(event).teams if t.position == placement(event)[me.id])
    page.goto(page.base + f"/my/{registrations.link_token(me)}")
    section = page.get_by_role("region", name="あなたのチーム")
    assert f"チーム {team.name}" in section.inner_text()
    mates = [p for p in people if placement(event)[p.id] == team.position and p.id != me.id]
    assert all(p.name in section.inner_text() for p in mates)
    assert_accessible(page)
    assert page.requests.external() == []
