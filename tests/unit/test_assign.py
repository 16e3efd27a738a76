"""Team assignment (pure): hard rules always hold, same seed same teams, clear errors for
impossible input, diverse teams, and an evaluator that agrees with the benchmark's numbers."""

from __future__ import annotations

import csv
import itertools
import math
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventsvc.teams.assign import (
    BENCHMARK_WEIGHTS,
    AssignmentError,
    Person,
    Weights,
    assign,
    evaluate,
    validate,
)
from eventsvc.teams.mdgp import objective, parse_instance, parse_solution, solve_mdgp

BENCH = Path(__file__).resolve().parents[3] / "shared" / "bench" / "mdgp"
needs_bench = pytest.mark.skipif(
    not (BENCH / "README.md").exists(), reason=f"benchmark data not found at {BENCH}"
)

FAST = {"time_limit": None, "max_iterations": 400}


def fac_bounds(f: int, k: int) -> tuple[int, int]:
    return (1, math.ceil(f / k)) if f >= k else (0, 1)


def pair_cost(people, teams, w: Weights = Weights(), topics=None) -> float:  # noqa: B008
    """The objective, computed the slow obvious way."""
    by_id = {p.id: p for p in people}
    total = 0.0
    for t, members in enumerate(teams):
        topic = topics[t] if topics else None
        for pid in members:
            if topic is not None and by_id[pid].topics and topic not in by_id[pid].topics:
                total += w.topic
    for members in teams:
        for a, b in itertools.combinations(members, 2):
            x, y = by_id[a], by_id[b]
            total += w.organization * (
                x.organization is not None and x.organization == y.organization
            )
            total += w.prefecture * (x.prefecture is not None and x.prefecture == y.prefecture)
            total += w.region * (x.region is not None and x.region == y.region)
            total += w.kind * (x.kind is not None and x.kind == y.kind and x.kind != "national")
    return total


def check_hard_rules(people, result, k, keep_apart=(), keep_together=(), locked=None):
    teams = [t.members for t in result.teams]
    assert [t.index for t in result.teams] == list(range(k))
    placed = Counter(m for t in teams for m in t)
    assert set(placed) == {p.id for p in people} and set(placed.values()) == {1}
    n = len(people)
    assert {len(t) for t in teams} <= {n // k, math.ceil(n / k)}
    team_of = {m: i for i, t in enumerate(teams) for m in t}
    for group in keep_apart:
        assert len({team_of[x] for x in group}) == len(group), group
    for group in keep_together:
        assert len({team_of[x] for x in group}) == 1, group
    for pid, t in (locked or {}).items():
        assert team_of[pid] == t
    facs = {p.id for p in people if p.facilitator}
    lo, hi = fac_bounds(len(facs), k)
    for t in result.teams:
        assert set(t.facilitators) == facs & set(t.members)
        assert lo <= len(t.facilitators) <= hi
    assert result.violations == []


# ---------------------------------------------------------------------------- properties


@st.composite
def feasible_problems(draw):
    """A random roster plus rules that a hidden witness assignment satisfies, so the input
    is feasible by construction and assign() must never refuse it."""
    n = draw(st.integers(1, 36))
    k = draw(st.integers(1, n))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    orgs = [f"org{i}" for i in range(rnd.randint(1, 8))]
    prefs = [f"pref{i}" for i in range(rnd.randint(1, 5))]
    kinds = ["city", "town", "village", "national", None]
    fac_share = rnd.choice([0.0, 0.1, 0.3, 0.6])
    people = [
        Person(
            id=f"p{i}",
            organization=rnd.choice(orgs),
            prefecture=rnd.choice(prefs + [None]),
            region=rnd.choice(["east", "west", None]),
            kind=rnd.choice(kinds),
            facilitator=rnd.random() < fac_share,
            topics=tuple(rnd.sample(["AI", "Web", "Data"], rnd.randint(0, 2))),
        )
        for i in range(n)
    ]
    topics = rnd.choice([None, [rnd.choice(["AI", "Web", "Data", None]) for _ in range(k)]])
    # witness: facilitators dealt first, then everybody else, round robin
    order = [p for p in people if p.facilitator] + [p for p in people if not p.facilitator]
    witness = {p.id: i % k for i, p in enumerate(order)}
    by_team: dict[int, list] = {}
    for pid, t in witness.items():
        by_team.setdefault(t, []).append(pid)
    ids = [p.id for p in people]
    keep_apart, keep_together = [], []
    for _ in range(rnd.choice([0, 2, n])):
        a, b = rnd.choice(ids), rnd.choice(ids)
        if witness[a] != witness[b]:
            keep_apart.append([a, b])
    for _ in range(rnd.randint(0, 3)):
        team = by_team[rnd.randrange(k)]
        if len(team) >= 2:
            keep_together.append(rnd.sample(team, rnd.randint(2, min(3, len(team)))))
    locked = {pid: witness[pid] for pid in rnd.sample(ids, rnd.randint(0, min(3, n)))}
    seed = rnd.randrange(1000)
    return people, k, keep_apart, keep_together, locked, topics, seed


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feasible_problems())
def test_feasible_input_always_gives_teams_that_keep_every_hard_rule(problem):
    people, k, keep_apart, keep_together, locked, topics, seed = problem
    kwargs = dict(keep_apart=keep_apart, keep_together=keep_together, locked=locked, topics=topics)
    assert validate(people, team_count=k, **kwargs) == []
    result = assign(people, team_count=k, seed=seed, **kwargs, **FAST)
    check_hard_rules(people, result, k, keep_apart, keep_together, locked)
    teams = [t.members for t in result.teams]
    assert result.score == pytest.approx(pair_cost(people, teams, topics=topics))
    assert result.score >= result.lower_bound - 1e-9
    assert result.stats["mispredicted"] == 0  # incremental deltas match the counters
    assert result.score == pytest.approx(sum(t.explanation.cost for t in result.teams))
    # the evaluator agrees with the search about the same teams
    again = evaluate(people, teams, **kwargs)
    assert again.score == pytest.approx(result.score) and again.violations == []


def dense_feasible_problem(seed: int):
    """10–40 people, many keep-apart pairs and a few keep-together groups, all planted
    around a hidden witness (facilitators dealt first, round robin), so teams exist."""
    rnd = random.Random(seed)
    n = rnd.randint(10, 40)
    k = rnd.randint(2, max(2, n // 3))
    share = rnd.choice([0.0, 0.3, 0.6])
    people = [Person(f"p{i}", f"org{rnd.randrange(4)}", facilitator=rnd.random() < share) for i in range(n)]
    order = [p for p in people if p.facilitator] + [p for p in people if not p.facilitator]
    witness = {p.id: i % k for i, p in enumerate(order)}
    ids = [p.id for p in people]
    keep_apart = []
    for _ in range(rnd.choice([n // 2, n, 2 * n, 3 * n])):
        a, b = rnd.sample(ids, 2)
        if witness[a] != witness[b]:
            keep_apart.append([a, b])
    by_team: dict[int, list] = {}
    for pid, t in witness.items():
        by_team.setdefault(t, []).append(pid)
    keep_together = []
    for _ in range(rnd.randint(0, 4)):
        team = by_team[rnd.randrange(k)]
        if len(team) >= 2:
            keep_together.append(rnd.sample(team, rnd.randint(2, min(4, len(team)))))
    return people, k, keep_apart, keep_together


# planted-feasible rosters on which the greedy placement with bounded backtracking gave up
@pytest.mark.parametrize("seed", [1411, 1579, 2410, 2493, 2773])
def test_dense_rules_that_corner_the_greedy_order_still_get_teams(seed):
    people, k, keep_apart, keep_together = dense_feasible_problem(seed)
    result = assign(people, team_count=k, keep_apart=keep_apart, keep_together=keep_together,
                    seed=seed, **FAST)
    check_hard_rules(people, result, k, keep_apart, keep_together)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("ABCDEFGH"), st.sampled_from("xyz"), st.booleans()),
        min_size=2,
        max_size=30,
    ),
    st.integers(1, 8),
    st.integers(0, 10_000),
)
def test_any_roster_either_gets_valid_teams_or_a_named_error(rows, k, seed):
    people = [Person(i, org, pref, facilitator=f) for i, (org, pref, f) in enumerate(rows)]
    # arbitrary (possibly contradictory) rules over the first few people
    keep_apart = [[0, 1]] if len(people) > 2 else []
    keep_together = [[1, 2]] if len(people) > 3 else []
    try:
        result = assign(
            people,
            team_count=k,
            seed=seed,
            keep_apart=keep_apart,
            keep_together=keep_together,
            **FAST,
        )
    except AssignmentError as e:
        assert e.code and e.message
        if e.code != "no_feasible_assignment":
            assert validate(
                people, team_count=k, keep_apart=keep_apart, keep_together=keep_together
            )
        return
    check_hard_rules(people, result, k, keep_apart, keep_together)


# ---------------------------------------------------------------------------- determinism


def workshop(n: int = 40, seed: int = 7) -> list[Person]:
    rnd = random.Random(seed)
    people = []
    for i in range(n):
        fac = i < 6
        people.append(
            Person(
                id=f"p{i:02d}",
                organization="デジタル庁" if fac else f"M{rnd.randrange(15):02d}",
                prefecture=None if fac else rnd.choice(["沖縄県", "福岡県", "熊本県", "鹿児島県"]),
                region=None if fac else "kyushu_okinawa",
                kind="national" if fac else rnd.choice(["city", "town", "village"]),
                facilitator=fac,
                topics=(rnd.choice(["AI", "Web", "データ"]),),
                name=f"Person {i}",
            )
        )
    return people


def test_same_seed_and_iteration_budget_give_the_same_teams():
    people = workshop()
    runs = [
        assign(people, team_count=6, seed=3, time_limit=None, max_iterations=3000) for _ in range(2)
    ]
    assert [t.members for t in runs[0].teams] == [t.members for t in runs[1].teams]
    assert runs[0].score == runs[1].score
    others = {
        tuple(map(tuple, (t.members for t in assign(people, team_count=6, seed=s, **FAST).teams)))
        for s in range(5)
    }
    assert len(others) > 1  # the seed matters


def test_input_order_does_not_break_anything_and_sizes_follow_team_size():
    people = workshop(23)
    result = assign(list(reversed(people)), team_size=5, **FAST)
    assert len(result.teams) == 5  # ceil(23 / 5): no team above 5
    assert sorted(len(t.members) for t in result.teams) == [4, 4, 5, 5, 5]


# ---------------------------------------------------------------------------- quality


def test_people_of_one_organisation_are_spread_before_anything_else():
    # 3 teams; 3 people from each of 4 organisations: a perfect spread exists
    people = [Person(f"{o}{i}", organization=o, prefecture="P") for o in "ABCD" for i in range(3)]
    result = assign(people, team_count=3, **FAST)
    for team in result.teams:
        assert max(team.explanation.organizations.values()) == 1
    assert result.optimal  # the spread lower bound proves it


def test_facilitators_are_spread_one_per_team_when_there_are_enough():
    people = workshop()  # 6 facilitators of one agency
    result = assign(people, team_count=6, **FAST)
    assert [len(t.facilitators) for t in result.teams] == [1] * 6
    assert all(t.explanation.facilitators for t in result.teams)
    assert "facilitator" in result.teams[0].explanation.summary


def test_more_facilitators_than_teams_are_spread_evenly():
    people = [Person(i, f"org{i}", facilitator=i < 7) for i in range(20)]
    result = assign(people, team_count=3, weights=Weights(organization=0), **FAST)
    assert sorted(len(t.facilitators) for t in result.teams) == [2, 2, 3]


def test_fewer_facilitators_than_teams_never_doubles_up_even_from_one_organisation():
    # sharing an organisation makes a pair cost 100 anyway, but the rule is hard
    people = [Person(i, "A" if i < 3 else f"o{i}", facilitator=i < 3) for i in range(12)]
    result = assign(people, team_count=4, weights=Weights(organization=0), **FAST)
    assert sorted(len(t.facilitators) for t in result.teams) == [0, 1, 1, 1]


def test_locked_people_stay_and_the_rest_is_arranged_around_them():
    people = workshop()
    locked = {"p10": 0, "p11": 0, "p12": 5, "p00": 2}
    result = assign(people, team_count=6, locked=locked, **FAST)
    check_hard_rules(people, result, 6, locked=locked)
    # re-running around the locks keeps them too, with another seed
    again = assign(people, team_count=6, locked=locked, seed=9, **FAST)
    check_hard_rules(people, again, 6, locked=locked)


def test_topics_are_honoured_when_possible():
    people = [Person(i, f"o{i}", topics=("AI",) if i % 2 else ("Web",)) for i in range(12)]
    result = assign(people, team_count=4, topics=["AI", "Web", "AI", "Web"], **FAST)
    assert [t.name for t in result.teams] == ["AI", "Web", "AI", "Web"]
    for team in result.teams:
        assert team.explanation.topic_matches == len(team.members)
    assert result.score == 0 and result.optimal


def test_keep_together_groups_move_as_blocks_and_stay_balanced():
    # 3 teams of 4; the pair A0/A1 must stay together. Five organisations of two can all be
    # spread (B and C once beside the pair, D, E, F in the other two teams), which needs the
    # block placed or exchanged correctly.
    people = [Person("A0", "A"), Person("A1", "A")] + [
        Person(f"{o}{i}", o, "P") for o in "BCDEF" for i in range(2)
    ]
    for seed in range(5):
        result = assign(people, team_count=3, seed=seed, keep_together=[["A0", "A1"]], **FAST)
        check_hard_rules(people, result, 3, keep_together=[["A0", "A1"]])
        for team in result.teams:
            orgs = team.explanation.organizations
            assert all(c == 1 for o, c in orgs.items() if o != "A"), orgs


def test_block_exchange_separates_two_blocks_stuck_in_one_team():
    # white box: start from a bad arrangement and let the block pass repair it
    from eventsvc.teams.assign import _Model, _plan, _Search

    people = [Person(x, "X") for x in ("x1", "x2", "y1", "y2")]
    people += [Person(f"s{i}", f"o{i}") for i in range(4)]
    plan, problems = _plan(
        people,
        team_count=2,
        team_size=None,
        keep_apart=(),
        keep_together=[["x1", "x2"], ["y1", "y2"]],
        locked=None,
        topics=None,
    )
    assert not problems
    search = _Search(plan, _Model(plan, Weights()), random.Random(0))
    bad = [0, 0, 0, 0, 1, 1, 1, 1]  # both X blocks together: 6 pairs of one organisation
    search.load(bad)
    assert search.score == 600
    search.block_pass()
    assert search.score == 200  # one X pair per team is unavoidable
    teams = [[people[i].id for i, t in enumerate(search.team) if t == x] for x in range(2)]
    assert [len(t) for t in teams] == [4, 4]
    assert evaluate(people, teams, keep_together=[["x1", "x2"], ["y1", "y2"]]).violations == []


def test_search_stops_early_when_it_stops_finding_better_teams():
    # the lower bound (5 of one organisation split 3 + 2: 4 pairs) is out of reach because
    # 4 of them must stay together (6 pairs), so only patience stops the search
    people = [Person(f"a{i}", "A") for i in range(5)] + [Person(f"b{i}", f"B{i}") for i in range(5)]
    result = assign(people, team_count=2, keep_together=[["a0", "a1", "a2", "a3"]], time_limit=30)
    assert result.stats["stopped"] == "patience" and result.stats["seconds"] < 5
    assert result.lower_bound == 400 and result.score == 600


def test_benchmark_weights_ignore_region_and_topics():
    assert BENCHMARK_WEIGHTS.region == 0 and BENCHMARK_WEIGHTS.topic == 0
    assert (BENCHMARK_WEIGHTS.organization, BENCHMARK_WEIGHTS.prefecture) == (100, 10)
    assert BENCHMARK_WEIGHTS.kind == 3
    people = [Person(i, f"o{i}", kind="national") for i in range(4)]
    assert assign(people, team_count=1, weights=BENCHMARK_WEIGHTS, **FAST).score == 0


# ---------------------------------------------------------------------------- infeasible


def three(n: int = 6) -> list[Person]:
    return [Person(f"p{i}", f"o{i}", name=f"Name{i}") for i in range(n)]


@pytest.mark.parametrize(
    ("kwargs", "code", "named"),
    [
        ({"team_count": 7}, "too_many_teams", set()),
        ({"team_count": 0}, "invalid_team_count", set()),
        ({"team_count": 2, "team_size": 3}, "invalid_team_count", set()),
        ({}, "invalid_team_count", set()),
        ({"team_size": 0}, "invalid_team_size", set()),
        (
            {"team_count": 3, "keep_together": [["p0", "p1", "p2"]]},
            "together_too_large",
            {"p0", "p1", "p2"},
        ),
        (
            {"team_count": 2, "keep_together": [["p0", "p1"]], "keep_apart": [["p1", "p0"]]},
            "apart_and_together",
            {"p0", "p1"},
        ),
        (
            # together through a chain: p0-p1 and p1-p2, apart p0-p2
            {
                "team_count": 2,
                "keep_together": [["p0", "p1"], ["p1", "p2"]],
                "keep_apart": [["p0", "p2"]],
            },
            "apart_and_together",
            {"p0", "p2"},
        ),
        ({"team_count": 2, "keep_apart": [["p0", "p1", "p2"]]}, "apart_group_too_large", {"p0"}),
        ({"team_count": 2, "locked": {"p0": 2}}, "locked_out_of_range", {"p0"}),
        ({"team_count": 2, "locked": {"p0": -1}}, "locked_out_of_range", {"p0"}),
        (
            {"team_count": 2, "keep_together": [["p0", "p1"]], "locked": {"p0": 0, "p1": 1}},
            "locked_together_split",
            {"p0", "p1"},
        ),
        (
            {"team_count": 2, "keep_apart": [["p0", "p1"]], "locked": {"p0": 1, "p1": 1}},
            "locked_apart",
            {"p0", "p1"},
        ),
        (
            {"team_count": 3, "locked": {"p0": 0, "p1": 0, "p2": 0}},
            "locked_team_full",
            {"p0", "p1", "p2"},
        ),
        ({"team_count": 2, "keep_apart": [["p0", "nobody"]]}, "unknown_person", {"nobody"}),
        ({"team_count": 2, "topics": ["AI"]}, "topics_mismatch", set()),
    ],
)
def test_impossible_input_is_refused_with_a_code_naming_the_conflict(kwargs, code, named):
    with pytest.raises(AssignmentError) as info:
        assign(three(), **kwargs, **FAST)
    assert info.value.code == code
    assert named <= set(info.value.people)
    assert info.value.message
    problems = validate(three(), **{k: v for k, v in kwargs.items()})
    assert problems and problems[0].code == code


def test_facilitator_conflicts_are_refused():
    people = [Person(f"p{i}", f"o{i}", facilitator=i < 2) for i in range(6)]
    # two facilitators for three teams, locked together: a team would get two
    with pytest.raises(AssignmentError) as info:
        assign(people, team_count=3, locked={"p0": 1, "p1": 1}, **FAST)
    assert info.value.code == "facilitator_rule" and {"p0", "p1"} <= set(info.value.people)
    # enough facilitators for every team, but kept together: one team would have none
    with pytest.raises(AssignmentError) as info:
        assign(people, team_count=2, keep_together=[["p0", "p1"]], **FAST)
    assert info.value.code == "facilitator_rule"


def test_empty_and_duplicate_rosters_are_refused():
    with pytest.raises(AssignmentError) as info:
        assign([], team_count=1, **FAST)
    assert info.value.code == "no_people"
    with pytest.raises(AssignmentError) as info:
        assign([Person(1), Person(1), Person(2)], team_count=1, **FAST)
    assert info.value.code == "duplicate_person" and info.value.people == (1,)


def test_a_combination_only_a_search_can_rule_out_ends_quickly_with_an_error():
    # 8 people, 2 teams of 4: blocks of 3 and 3 take a team each, a block of 2 fits nowhere
    people = three(8)
    together = [["p0", "p1", "p2"], ["p3", "p4", "p5"], ["p6", "p7"]]
    assert validate(people, team_count=2, keep_together=together) == []
    with pytest.raises(AssignmentError) as info:
        assign(people, team_count=2, keep_together=together, time_limit=5)
    assert info.value.code == "no_feasible_assignment"
    assert {"p6", "p7"} <= set(info.value.people)


# ---------------------------------------------------------------------------- evaluate


def test_evaluate_reports_what_a_manual_change_broke():
    people = workshop(12)
    teams = [[p.id for p in people[:6]], [p.id for p in people[6:]]]
    teams[0].append(teams[1].pop())  # 7 / 5
    result = evaluate(people, teams, keep_apart=[["p00", "p01"]], locked={"p11": 1})
    codes = {v.code for v in result.violations}
    assert {"team_size", "keep_apart", "locked", "facilitator_rule"} <= codes
    assert result.score == pytest.approx(pair_cost(people, teams))
    missing = evaluate(people, [teams[0]])
    assert [v.code for v in missing.violations] == ["unassigned"]


def test_as_dict_is_the_api_shape():
    result = assign(workshop(12), team_count=2, **FAST)
    data = result.as_dict()
    assert set(data) >= {"teams", "score", "violations"}
    assert set(data["teams"][0]) >= {"name", "members", "facilitators"}
    assert data["teams"][0]["name"] == "Team 1"


# ---------------------------------------------------------------------------- yardsticks


def read_roster(name: str):
    with open(BENCH / "realistic" / f"{name}.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with open(BENCH / "realistic" / f"{name}.pairs.csv", encoding="utf-8") as fh:
        pairs = list(csv.DictReader(fh))
    people = [
        Person(r["id"], r["org"], r["pref"], None, r["size"], r["role"] == "facilitator")
        for r in rows
    ]
    apart = [[p["id_a"], p["id_b"]] for p in pairs if p["kind"] == "keep_apart"]
    together = [[p["id_a"], p["id_b"]] for p in pairs if p["kind"] == "keep_together"]
    return people, apart, together


@needs_bench
def test_realistic_roster_reaches_its_proven_optimum_and_the_evaluator_agrees():
    with open(BENCH / "realistic" / "results.csv", encoding="utf-8") as fh:
        known = {r["roster"]: r for r in csv.DictReader(fh)}["roster_40"]
    people, apart, together = read_roster("roster_40")
    result = assign(
        people,
        team_count=6,
        keep_apart=apart,
        keep_together=together,
        weights=BENCHMARK_WEIGHTS,
        time_limit=None,
        max_iterations=20_000,
    )
    check_hard_rules(people, result, 6, apart, together)
    assert result.lower_bound == float(known["spread_lower_bound"])
    assert result.score == float(known["cpsat_objective"]) == 178
    teams = [t.members for t in result.teams]
    assert pair_cost(people, teams, BENCHMARK_WEIGHTS) == result.score
    # a worse arrangement scores worse, by the same evaluator
    shuffled = sorted(p.id for p in people)
    naive = [shuffled[i::6] for i in range(6)]
    assert evaluate(people, naive, weights=BENCHMARK_WEIGHTS).score == pair_cost(
        people, naive, BENCHMARK_WEIGHTS
    )


@needs_bench
@pytest.mark.parametrize(("name", "k"), [("roster_80", 12), ("roster_200", 20)])
def test_larger_rosters_reach_their_proven_optimum_within_an_iteration_budget(name, k):
    with open(BENCH / "realistic" / "results.csv", encoding="utf-8") as fh:
        known = {r["roster"]: r for r in csv.DictReader(fh)}[name]
    people, apart, together = read_roster(name)
    for seed in range(2):
        result = assign(
            people,
            team_count=k,
            seed=seed,
            keep_apart=apart,
            keep_together=together,
            weights=BENCHMARK_WEIGHTS,
            time_limit=None,
            max_iterations=10_000,
        )
        check_hard_rules(people, result, k, apart, together)
        assert result.score == float(known["cpsat_objective"])  # proven optimal by CP-SAT
        assert result.stats["mispredicted"] == 0


@needs_bench
def test_mdgplib_evaluator_reproduces_a_certificate():
    name = "RanReal_n120_ss_01"
    inst = parse_instance((BENCH / "instances" / f"{name}.txt").read_text())
    stated, groups, bounds = parse_solution(
        (BENCH / "solutions" / f"{name}.tpsdp_best.txt").read_text()
    )
    assert bounds == inst.bounds
    assert objective(inst.d, groups) == pytest.approx(stated, abs=1e-3)
    assert stated == pytest.approx(47363.206898)


@needs_bench
def test_small_mdgplib_instance_is_solved_to_its_proven_optimum():
    inst = parse_instance((BENCH / "instances" / "RanReal_n012_ss_01.txt").read_text())
    sol = solve_mdgp(inst.d, inst.bounds, seed=0, time_limit=None, max_iterations=2000)
    assert round(objective(inst.d, sol.groups), 3) == 956.430
    assert sol.value == pytest.approx(objective(inst.d, sol.groups))


def test_mdgp_matches_brute_force_on_random_matrices():
    for seed in range(4):
        rnd = random.Random(seed)
        n = 8
        d = [[0.0] * n for _ in range(n)]
        for i, j in itertools.combinations(range(n), 2):
            d[i][j] = d[j][i] = round(rnd.uniform(-5, 10), 2)
        bounds = [(2, 4), (2, 3), (1, 3)]
        best = max(
            objective(d, g)
            for g in itertools.product(range(3), repeat=n)
            if all(lb <= g.count(x) <= ub for x, (lb, ub) in enumerate(bounds))
        )
        sol = solve_mdgp(d, bounds, seed=seed, time_limit=None, max_iterations=1500)
        sizes = Counter(sol.groups)
        assert all(lb <= sizes[x] <= ub for x, (lb, ub) in enumerate(bounds))
        assert sol.value == pytest.approx(best)
        assert objective(d, sol.groups) == pytest.approx(best)


def test_mdgp_is_deterministic_per_seed_and_checks_bounds():
    rnd = random.Random(1)
    n = 20
    d = [[0.0] * n for _ in range(n)]
    for i, j in itertools.combinations(range(n), 2):
        d[i][j] = d[j][i] = rnd.random()
    a = solve_mdgp(d, [(5, 5)] * 4, seed=2, time_limit=None, max_iterations=300)
    b = solve_mdgp(d, [(5, 5)] * 4, seed=2, time_limit=None, max_iterations=300)
    assert a.groups == b.groups
    with pytest.raises(ValueError):
        solve_mdgp(d, [(1, 2)] * 4, time_limit=None, max_iterations=10)
