"""Helpers shared by the team tests (no tests here): a realistic roster and small checks.

``roster(make, event, n, national=…)`` registers ``n`` people through the real registration
service: municipal staff of Okinawa, Fukuoka, Kumamoto and Kagoshima (several from the same
town, as at a real study session) and ``national`` national-agency staff, who are
facilitators by default. Every name is unique, so tests can refer to people by name.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from eventsvc.checkin import service as checkin
from eventsvc.core import orgs
from eventsvc.core.clock import now_utc
from eventsvc.events import service as events
from eventsvc.extensions import db
from eventsvc.teams import service as teams_service

FAMILY = [("比嘉", "ヒガ"), ("知念", "チネン"), ("金城", "キンジョウ"), ("大城", "オオシロ"), ("玉城", "タマキ"),
          ("仲本", "ナカモト"), ("宮城", "ミヤギ"), ("島袋", "シマブクロ"), ("新垣", "アラカキ"), ("山田", "ヤマダ")]
GIVEN = [("太郎", "タロウ"), ("花子", "ハナコ"), ("次郎", "ジロウ"), ("さくら", "サクラ"), ("健", "ケン"),
         ("結", "ユイ"), ("翔", "ショウ"), ("愛", "アイ")]
NAMES = [(f"{f} {g}", f"{fk} {gk}") for (g, gk), (f, fk) in itertools.product(GIVEN, FAMILY)]


@pytest.fixture(autouse=True)
def teams_plugged_into_checkin():
    """Check-in's team lookup as ``create_app`` leaves it (teams registered).

    ``test_checkin_pages`` empties check-in's list of lookups in its teardown (it should remove
    only its own), which would unplug teams for every later test in the session. Importing this
    fixture into a test module puts ours back (registering is idempotent).
    """
    checkin.register_team_lookup(teams_service.team_names)


def municipal_codes() -> list[str]:
    """Codes of real municipalities (Okinawa, Fukuoka, Kumamoto, Kagoshima), some repeated."""
    codes = []
    for pref in ("47", "40", "43", "46"):
        codes += [o.code for o in orgs.municipalities(pref)[:6]]
    # three people from Naha, two from Fukuoka city: the algorithm must spread them
    return ["472018", "472018", "472018", "401307", "401307"] + codes


def big_event(make, organizer, capacity: int = 200):
    return make.event(organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", capacity)])


def roster(make, event, n: int, *, national: int = 0) -> list:
    """``n`` confirmed registrations; the last ``national`` are national staff (facilitators)."""
    assert n <= len(NAMES)
    codes = itertools.cycle(municipal_codes())
    agencies = itertools.cycle(["gov-digital", "gov-soumu", "gov-cao"])
    out = []
    for i in range(n):
        name, kana = NAMES[i]
        if i >= n - national:
            reg = make.registration(event, name=name, name_kana=kana, organization_code=next(agencies),
                                    email=f"staff{i}@digital.go.jp")
            assert reg.facilitator, "national staff are facilitators by default"
        else:
            reg = make.registration(event, name=name, name_kana=kana, organization_code=next(codes))
            assert not reg.facilitator
        assert reg.status == "confirmed"
        out.append(reg)
    return out


def check_in(event, regs, organizer) -> None:
    for reg in regs:
        result = checkin.check_in(event, reg.ticket_code, device_id="test", nonce=None, scanned_at=None,
                                  method="scanner", actor=checkin.Actor.organizer(organizer), now=now_utc())
        assert result.result == "checked_in"
    db.session.commit()


def team_of(body: dict) -> dict[int, int]:
    """``{registration id: team index}`` from an API answer."""
    return {rid: t["index"] for t in body["teams"] for rid in t["members"]}


def sizes(body: dict) -> list[int]:
    return [len(t["members"]) for t in body["teams"]]


def assert_valid_teams(body: dict, people: list) -> None:
    """Everyone in exactly one team, sizes within one, no broken rule."""
    members = [rid for t in body["teams"] for rid in t["members"]]
    assert sorted(members) == sorted(r.id for r in people)
    assert len(members) == len(set(members))
    assert max(sizes(body)) - min(sizes(body)) <= 1
    assert body["violations"] == []


def fewest_org_repeats(people: list, teams: int) -> int:
    """The fewest same-organisation pairs any split into ``teams`` teams can have (pigeonhole)."""
    total = 0
    for c in Counter(r.organization_code for r in people).values():
        q, extra = divmod(c, teams)
        total += extra * (q + 1) * q // 2 + (teams - extra) * q * (q - 1) // 2
    return total


def org_repeats(body: dict, people: list) -> int:
    """Same-organisation pairs inside teams (what the objective spreads first)."""
    org = {r.id: r.organization_code for r in people}
    total = 0
    for t in body["teams"]:
        for c in Counter(org[i] for i in t["members"]).values():
            total += c * (c - 1) // 2
    return total
