"""The lottery (pure): seeded and reproducible, fair across organisations, verifiable."""

from __future__ import annotations

from collections import Counter

import pytest

from eventsvc.registration.lottery import Applicant, draw, new_seed, verify


def roster():
    # one big city sends 20 people, 10 small towns send one each
    big = [Applicant(i, "472018") for i in range(1, 21)]
    small = [Applicant(100 + i, f"town-{i}") for i in range(10)]
    return big + small


def test_same_seed_same_result_and_order_of_input_does_not_matter():
    people = roster()
    a = draw(people, 8, "seed-1")
    b = draw(list(reversed(people)), 8, "seed-1")
    assert a == b
    assert len(a.won) == 8 and len(a.waitlist) == len(people) - 8
    assert set(a.won) | set(a.waitlist) == {p.id for p in people}
    assert not set(a.won) & set(a.waitlist)


def test_different_seeds_give_different_orders():
    people = roster()
    orders = {draw(people, 5, f"s{i}").order for i in range(20)}
    assert len(orders) > 15


def test_every_organisation_gets_a_seat_before_anyone_gets_a_second():
    people = roster()  # 11 organisations
    for i in range(50):
        d = draw(people, 11, f"fair-{i}")
        orgs = Counter(next(p.org for p in people if p.id == w) for w in d.won)
        assert len(orgs) == 11 and max(orgs.values()) == 1


def test_with_fewer_seats_than_organisations_the_big_city_is_not_favoured():
    people = roster()
    wins = Counter()
    runs = 400
    for i in range(runs):
        d = draw(people, 3, f"few-{i}")
        wins.update("big" if w <= 20 else "small" for w in d.won)
    # each of the 11 organisations has a 3/11 chance: big city ≈ 0.27 of the runs, never 20/30 of the seats
    share_big = wins["big"] / (3 * runs)
    assert 0.04 < share_big < 0.16, share_big


def test_remaining_seats_go_at_random_to_everyone_left():
    people = roster()
    seen = Counter()
    for i in range(300):
        d = draw(people, 15, f"rest-{i}")
        seen.update(w for w in d.won if w <= 20)
    # after one seat per organisation, the 4 extra seats land on various big-city members
    assert len(seen) == 20


def test_record_verifies_and_tampering_is_detected():
    people = roster()
    d = draw(people, 6, new_seed())
    record = d.as_record(people)
    assert record["applicants"][0] == [1, "472018"]
    assert verify(record)
    forged = {**record, "won": [record["waitlist"][0]] + record["won"][1:]}
    assert not verify(forged)
    assert not verify({**record, "seed": "other"})


def test_edge_cases():
    assert draw([], 5, "x").won == ()
    one = draw([Applicant(7, "a")], 0, "x")
    assert one.won == () and one.waitlist == (7,)
    assert draw([Applicant(1, "a"), Applicant(2, "a")], 10, "x").waitlist == ()
    with pytest.raises(ValueError):
        draw([Applicant(1, "a"), Applicant(1, "b")], 1, "x")
    with pytest.raises(ValueError):
        draw([Applicant(1, "a")], -1, "x")
    assert len(new_seed()) == 32 and new_seed() != new_seed()
