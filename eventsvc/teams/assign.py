"""Workshop team assignment: diverse, balanced teams, fast, explainable, adjustable.

Pure: imports only the standard library. Plain dataclasses in (:class:`Person`), plain
dataclasses out (:class:`Assignment`); the team service turns rows into people and writes
the teams back.

The problem is the maximally diverse grouping problem (MDGP) with side constraints.

* Hard rules: every person in exactly one team; team sizes differ by at most one
  (``floor``/``ceil`` of n / teams); keep-apart and keep-together honoured; locked placements
  kept; facilitators spread — when there are at least as many facilitators as teams every team
  gets at least one and at most ``ceil(f / teams)``, otherwise no team gets two.
* Objective (minimise), summed over unordered pairs in the same team: the weights of what they
  share — organisation, prefecture, organisation kind (a ``national`` kind shares nothing),
  region — plus, when teams have topics, the topic weight for every person placed in a team whose
  topic is not among their preferences.

Algorithm: the input is validated first (conflicts answer with :class:`AssignmentError` naming
the people involved). Keep-together groups become blocks; locked blocks and facilitators are
placed first, then everybody else greedily, hardest first, into the cheapest team that keeps
every rule. When the greedy order paints itself into a corner, a feasibility search takes over
(:class:`_Feasibility`): a depth-first search over the blocks that take part in a rule (DSATUR
order, forward checking of keep-apart partners, sizes and facilitator quotas) alternating with
a min-conflicts tabu repair, both restarted with growing budgets. It answers
``no_feasible_assignment`` only when it proves that no teams exist, or when its budget is spent:
the time limit, and ``FEASIBILITY_STEPS_PER_STEP`` steps per iteration of the iteration budget
(never less than a few complete runs). An iterated tabu search then improves the teams with
move and swap neighbourhoods — blocks are exchanged with singles or equal blocks so sizes stay
balanced. Each candidate is evaluated in O(#attributes)
from per-team category counters: moving ``p`` from team A to B changes the objective by
``Σ_g w_g·(count_B[g] − count_A[g] + 1)`` over ``p``'s categories ``g``. The search stops at the
time or iteration budget, or as soon as it reaches the spread lower bound (a proof of
optimality). Results are deterministic for a given seed and iteration budget; a time budget only
decides where the search stops.

The generic MDGP (arbitrary pairwise distances, group size bounds) is solved by
:mod:`eventsvc.teams.mdgp`, which shares :class:`Budget`.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

#: Organisation kinds that do not count as a shared size class.
NEUTRAL_KINDS = frozenset({"national"})

#: Steps of the local search when no budget is given at all.
DEFAULT_MAX_ITERATIONS = 200_000

#: Greedy constructions (randomised after the first) tried before the feasibility search.
GREEDY_ATTEMPTS = 2

#: Steps the feasibility search may take per step of the iteration budget (see _Feasibility).
FEASIBILITY_STEPS_PER_STEP = 10

#: A budget step of the feasibility search is a few elementary checks (a node of the
#: depth-first search costs 8 steps plus one per this many blocks scanned and teams checked);
#: about as long as one step of the local search.
WORK_PER_TICK = 64

#: The search stops after this many passes over everybody without a new best.
PATIENCE_SWEEPS = 200


@dataclass(frozen=True)
class Person:
    """One participant. ``kind`` is national/prefecture/designated_city/city/town/village or
    the roster's size class; ``topics`` are the team topics the person would like."""

    id: Hashable
    organization: str | None = None
    prefecture: str | None = None
    region: str | None = None
    kind: str | None = None
    facilitator: bool = False
    topics: tuple[str, ...] = ()
    name: str | None = None


@dataclass(frozen=True)
class Weights:
    """Penalty per same-team pair sharing an attribute, and per person off their topics."""

    organization: float = 100.0
    prefecture: float = 10.0
    kind: float = 3.0
    region: float = 1.0
    topic: float = 30.0


#: The objective of the realistic benchmark rosters (bench/mdgp README).
BENCHMARK_WEIGHTS = Weights(organization=100.0, prefecture=10.0, kind=3.0, region=0.0, topic=0.0)


@dataclass(frozen=True)
class Violation:
    """A broken (or unsatisfiable) hard rule, with a stable code and the people involved."""

    code: str
    message: str
    people: tuple = ()


class AssignmentError(Exception):
    """The input cannot be satisfied. ``code`` is stable; ``people`` names the conflict;
    ``violations`` lists every conflict found (the first one is ``code``/``message``)."""

    def __init__(self, code: str, message: str, people: Iterable = (), violations=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.people = tuple(people)
        self.violations = list(violations or [Violation(code, message, self.people)])

    @classmethod
    def from_violations(cls, violations: Sequence[Violation]) -> AssignmentError:
        first = violations[0]
        return cls(first.code, first.message, first.people, violations)


@dataclass
class TeamExplanation:
    """What a team is made of, for the organiser's screen (counts by value, most common first)."""

    size: int
    organizations: dict[str, int]
    prefectures: dict[str, int]
    regions: dict[str, int]
    kinds: dict[str, int]
    facilitators: list[str]
    facilitator_ids: list
    topic_matches: int
    cost: float
    summary: str


@dataclass
class Team:
    index: int
    name: str
    topic: str | None
    members: list
    facilitators: list
    explanation: TeamExplanation


@dataclass
class Assignment:
    teams: list[Team]
    score: float
    violations: list[Violation]
    lower_bound: float = 0.0
    stats: dict = field(default_factory=dict, compare=False)

    @property
    def optimal(self) -> bool:
        """True when the score reaches the spread lower bound, which proves it optimal."""
        return self.score <= self.lower_bound + 1e-9

    def team_of(self, person_id) -> int | None:
        for team in self.teams:
            if person_id in team.members:
                return team.index
        return None

    def as_dict(self) -> dict:
        """The API shape: ``{teams[{index, name, topic, members, facilitators}], score, violations}``."""
        return {
            "teams": [
                {
                    "index": t.index,
                    "name": t.name,
                    "topic": t.topic,
                    "members": list(t.members),
                    "facilitators": list(t.facilitators),
                    "summary": t.explanation.summary,
                }
                for t in self.teams
            ],
            "score": self.score,
            "lower_bound": self.lower_bound,
            "violations": [
                {"code": v.code, "message": v.message, "people": list(v.people)}
                for v in self.violations
            ],
        }


class Budget:
    """Stop after ``max_steps`` steps or ``time_limit`` seconds, whichever comes first.

    Steps make runs reproducible; the clock is read every 64 steps only.
    """

    __slots__ = ("deadline", "max_steps", "steps", "started", "_clock")

    def __init__(self, time_limit: float | None, max_steps: int | None):
        if time_limit is None and max_steps is None:
            max_steps = DEFAULT_MAX_ITERATIONS
        self._clock = time.perf_counter
        self.started = self._clock()
        self.deadline = None if time_limit is None else self.started + time_limit
        self.max_steps = max_steps if max_steps is not None else 1 << 62
        self.steps = 0

    def tick(self, n: int = 1) -> bool:
        """Count ``n`` steps; True when the budget is spent."""
        self.steps += n
        if self.steps >= self.max_steps:
            return True
        return self.deadline is not None and (self.steps & 63) < n and self.expired()

    def scaled(self, factor: int, floor: int = 0) -> Budget:
        """A budget for a phase of its own: the same deadline, ``factor`` times the steps (at
        least ``floor``)."""
        sub = Budget(None, 1)
        sub.started, sub.deadline = self.started, self.deadline
        sub.max_steps = max(self.max_steps * factor, floor) if self.max_steps < 1 << 62 else 1 << 62
        return sub

    def expired(self) -> bool:
        if self.steps >= self.max_steps:
            return True
        return self.deadline is not None and self._clock() > self.deadline

    def elapsed(self) -> float:
        return self._clock() - self.started


# --------------------------------------------------------------------------------------------
# Input checks


@dataclass
class _Plan:
    """The validated problem: indices instead of ids, blocks, locks, facilitator bounds."""

    people: list[Person]
    ids: list
    index: dict
    k: int
    lo: int
    hi: int
    n_hi: int
    topics: list[str | None]
    blocks: list[list[int]]  # every person is in exactly one block (singles too)
    block_of: list[int]
    block_team: list[int]  # locked team of the block, -1 if free
    apart: list[set[int]]  # person -> people it must not share a team with
    fac: list[bool]
    flo: int
    fhi: int


def _label(person: Person) -> str:
    return person.name or str(person.id)


def _team_count(n: int, team_count, team_size) -> tuple[int | None, list[Violation]]:
    if (team_count is None) == (team_size is None):
        return None, [Violation("invalid_team_count", "Give either a team count or a team size.")]
    if team_count is not None:
        if not isinstance(team_count, int) or isinstance(team_count, bool) or team_count < 1:
            return None, [Violation("invalid_team_count", "The team count must be at least 1.")]
        k = team_count
    else:
        if not isinstance(team_size, int) or isinstance(team_size, bool) or team_size < 1:
            return None, [Violation("invalid_team_size", "The team size must be at least 1.")]
        k = max(1, -(-n // team_size))
    if k > n:
        return None, [
            Violation("too_many_teams", f"{k} teams need at least {k} people; there are {n}.")
        ]
    return k, []


def _plan(
    people: Sequence[Person],
    *,
    team_count,
    team_size,
    keep_apart,
    keep_together,
    locked,
    topics,
) -> tuple[_Plan | None, list[Violation]]:
    people = list(people)
    n = len(people)
    out: list[Violation] = []
    index: dict = {}
    for i, p in enumerate(people):
        if p.id in index:
            out.append(Violation("duplicate_person", f"{_label(p)} is listed twice.", (p.id,)))
        else:
            index[p.id] = i
    if n == 0:
        return None, [Violation("no_people", "There is nobody to put into teams.")]
    k, bad = _team_count(n, team_count, team_size)
    out += bad
    if out or k is None:
        return None, out
    lo, n_hi = divmod(n, k)
    hi = lo + (1 if n_hi else 0)

    team_topics: list[str | None] = [None] * k
    if topics is not None:
        topics = list(topics)
        if len(topics) != k:
            out.append(
                Violation("topics_mismatch", f"{len(topics)} topics were given for {k} teams.", ())
            )
        else:
            team_topics = [t if t else None for t in topics]

    def resolve(group, what) -> list[int] | None:
        unknown = [pid for pid in group if pid not in index]
        if unknown:
            out.append(
                Violation(
                    "unknown_person",
                    f"{what} names someone who is not in the list: " + ", ".join(map(str, unknown)),
                    tuple(unknown),
                )
            )
            return None
        return [index[pid] for pid in group]

    # keep-together: union-find over the groups
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for group in keep_together or ():
        idx = resolve(list(group), "Keep together")
        if idx:
            for x in idx[1:]:
                a, b = find(idx[0]), find(x)
                if a != b:
                    parent[b] = a
    roots: dict[int, list[int]] = {}
    for i in range(n):
        roots.setdefault(find(i), []).append(i)
    blocks = list(roots.values())
    block_of = [0] * n
    for b, members in enumerate(blocks):
        for i in members:
            block_of[i] = b
    for members in blocks:
        if len(members) > hi:
            out.append(
                Violation(
                    "together_too_large",
                    f"{len(members)} people must stay together but teams hold at most {hi}.",
                    tuple(people[i].id for i in members),
                )
            )
    big = [m for m in blocks if len(m) == hi and hi > lo]
    if len(big) > n_hi:
        out.append(
            Violation(
                "together_too_large",
                f"{len(big)} keep-together groups of {hi} need a team of {hi} each, "
                f"but only {n_hi} teams have {hi} people.",
                tuple(people[i].id for m in big for i in m),
            )
        )

    # keep-apart: every listed group must end up in pairwise different teams
    apart: list[set[int]] = [set() for _ in range(n)]
    for group in keep_apart or ():
        idx = resolve(list(group), "Keep apart")
        if not idx:
            continue
        if len(set(idx)) != len(idx):
            dup = [people[i].id for i, c in Counter(idx).items() if c > 1]
            out.append(
                Violation(
                    "apart_and_together",
                    "Someone is asked to be kept apart from themselves: "
                    + ", ".join(map(str, dup)),
                    tuple(dup),
                )
            )
            continue
        by_block: dict[int, list[int]] = {}
        for i in idx:
            by_block.setdefault(block_of[i], []).append(i)
        clash = [m for m in by_block.values() if len(m) > 1]
        if clash:
            ids = tuple(people[i].id for m in clash for i in m)
            out.append(
                Violation(
                    "apart_and_together",
                    "Kept apart and kept together at the same time: "
                    + ", ".join(_label(people[i]) for m in clash for i in m),
                    ids,
                )
            )
            continue
        if len(idx) > k:
            out.append(
                Violation(
                    "apart_group_too_large",
                    f"{len(idx)} people must all be in different teams, but there are only "
                    f"{k} teams.",
                    tuple(people[i].id for i in idx),
                )
            )
            continue
        for i in idx:
            for j in idx:
                if i != j:
                    # apart is a relation between blocks: spread it to every block member
                    for x in blocks[block_of[i]]:
                        for y in blocks[block_of[j]]:
                            apart[x].add(y)

    # locks
    block_team = [-1] * len(blocks)
    for pid, t in (locked or {}).items():
        if pid not in index:
            out.append(
                Violation("unknown_person", f"A lock names someone not in the list: {pid}", (pid,))
            )
            continue
        i = index[pid]
        if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t < k:
            out.append(
                Violation(
                    "locked_out_of_range",
                    f"{_label(people[i])} is locked to team {t}, but teams are numbered "
                    f"0 to {k - 1}.",
                    (pid,),
                )
            )
            continue
        b = block_of[i]
        if block_team[b] not in (-1, t):
            out.append(
                Violation(
                    "locked_together_split",
                    "People who must stay together are locked to different teams: "
                    + ", ".join(_label(people[x]) for x in blocks[b]),
                    tuple(people[x].id for x in blocks[b]),
                )
            )
            continue
        block_team[b] = t
    team_load = [0] * k
    team_locked: list[list[int]] = [[] for _ in range(k)]
    for b, t in enumerate(block_team):
        if t >= 0:
            team_load[t] += len(blocks[b])
            team_locked[t] += blocks[b]
    for t in range(k):
        ids = tuple(people[i].id for i in team_locked[t])
        if team_load[t] > hi:
            out.append(
                Violation(
                    "locked_team_full",
                    f"{team_load[t]} people are locked to team {t}, which holds at most {hi}.",
                    ids,
                )
            )
        members = set(team_locked[t])
        clash = sorted({(min(i, j), max(i, j)) for i in members for j in apart[i] if j in members})
        if clash:
            out.append(
                Violation(
                    "locked_apart",
                    f"People to be kept apart are locked to the same team {t}: "
                    + ", ".join(f"{_label(people[i])}/{_label(people[j])}" for i, j in clash),
                    tuple(people[x].id for pair in clash for x in pair),
                )
            )
    over = [t for t in range(k) if team_load[t] > lo]
    if hi > lo and len(over) > n_hi:
        out.append(
            Violation(
                "locked_team_full",
                f"{len(over)} teams have more than {lo} people locked in, but only {n_hi} teams "
                f"can hold {hi}.",
                tuple(people[i].id for t in over for i in team_locked[t]),
            )
        )

    # facilitators
    fac = [bool(p.facilitator) for p in people]
    f = sum(fac)
    if f >= k:
        flo, fhi = 1, -(-f // k)
    else:
        flo, fhi = 0, 1
    for members in blocks:
        nf = sum(fac[i] for i in members)
        if nf > fhi:
            out.append(
                Violation(
                    "facilitator_rule",
                    f"{nf} facilitators must stay together, but a team may have at most {fhi}.",
                    tuple(people[i].id for i in members if fac[i]),
                )
            )
    for t in range(k):
        nf = sum(fac[i] for i in team_locked[t])
        if nf > fhi:
            out.append(
                Violation(
                    "facilitator_rule",
                    f"{nf} facilitators are locked to team {t}, but a team may have at most {fhi}.",
                    tuple(people[i].id for i in team_locked[t] if fac[i]),
                )
            )
    if f >= k:
        carriers = sum(1 for m in blocks if any(fac[i] for i in m))
        if carriers < k:
            out.append(
                Violation(
                    "facilitator_rule",
                    f"Keep-together groups leave only {carriers} separate facilitators "
                    f"for {k} teams.",
                    tuple(p.id for p in people if p.facilitator),
                )
            )
    if out:
        return None, out
    plan = _Plan(
        people=people,
        ids=[p.id for p in people],
        index=index,
        k=k,
        lo=lo,
        hi=hi,
        n_hi=n_hi,
        topics=team_topics,
        blocks=blocks,
        block_of=block_of,
        block_team=block_team,
        apart=apart,
        fac=fac,
        flo=flo,
        fhi=fhi,
    )
    return plan, []


def validate(
    people: Sequence[Person],
    *,
    team_count: int | None = None,
    team_size: int | None = None,
    keep_apart: Iterable[Sequence] = (),
    keep_together: Iterable[Sequence] = (),
    locked: Mapping | None = None,
    topics: Sequence[str | None] | None = None,
) -> list[Violation]:
    """Every conflict in the input that makes teams impossible (empty when none is found).

    Catches what can be seen without searching: counts, contradictions, locks, facilitator
    arithmetic. :func:`assign` may still raise ``no_feasible_assignment`` for a combination
    that only a search can rule out.
    """
    _, violations = _plan(
        people,
        team_count=team_count,
        team_size=team_size,
        keep_apart=keep_apart,
        keep_together=keep_together,
        locked=locked,
        topics=topics,
    )
    return violations


# --------------------------------------------------------------------------------------------
# Objective model: categories and counters


def _off_topic_floor(people: Sequence[Person], topics: Sequence[str | None], hi: int) -> int:
    """The fewest people who must sit in a team off their topics: people minus a maximum flow
    from preference sets to team topics, each topic holding at most (its teams × hi)."""
    capacity = Counter(topics)
    wild = capacity.pop(None, 0) * hi  # teams without a topic take anybody
    caps = {t: c * hi for t, c in capacity.items()}
    demand = Counter(frozenset(set(p.topics) & caps.keys()) for p in people if p.topics)
    groups = list(demand.items())
    topic_names = list(caps)
    # nodes: 0 source, 1..G groups, then topics, then the wildcard, then the sink
    g0, t0 = 1, 1 + len(groups)
    wild_node, sink = t0 + len(topic_names), t0 + len(topic_names) + 1
    size = sink + 1
    cap = [[0] * size for _ in range(size)]
    for gi, (pref, count) in enumerate(groups):
        cap[0][g0 + gi] = count
        for ti, t in enumerate(topic_names):
            if t in pref:
                cap[g0 + gi][t0 + ti] = count
        cap[g0 + gi][wild_node] = count
    for ti, t in enumerate(topic_names):
        cap[t0 + ti][sink] = caps[t]
    cap[wild_node][sink] = wild
    flow = 0
    while True:  # Edmonds-Karp on a graph of a few dozen nodes
        parent = [-1] * size
        parent[0] = 0
        queue = [0]
        for u in queue:
            for v in range(size):
                if parent[v] < 0 and cap[u][v] > 0:
                    parent[v] = u
                    queue.append(v)
        if parent[sink] < 0:
            break
        push, v = math.inf, sink
        while v:
            push, v = min(push, cap[parent[v]][v]), parent[v]
        v = sink
        while v:
            cap[parent[v]][v] -= push
            cap[v][parent[v]] += push
            v = parent[v]
        flow += push
    return sum(demand.values()) - flow


class _Model:
    """People as category ids with weights; only categories shared by two or more people."""

    def __init__(self, plan: _Plan, weights: Weights):
        people = plan.people
        n, k = len(people), plan.k
        attrs = (
            ("organization", weights.organization),
            ("prefecture", weights.prefecture),
            ("kind", weights.kind),
            ("region", weights.region),
        )
        keys: list[list] = [[] for _ in range(n)]
        seen: Counter = Counter()
        for a, (attr, w) in enumerate(attrs):
            if not w:
                continue
            for i, p in enumerate(people):
                v = getattr(p, attr)
                if v is None or v == "" or (attr == "kind" and v in NEUTRAL_KINDS):
                    continue
                keys[i].append((a, v))
                seen[(a, v)] += 1
        cat_id: dict = {}
        self.cat_w: list[float] = []
        self.cat_n: list[int] = []
        for key, c in seen.items():
            if c > 1:
                cat_id[key] = len(self.cat_w)
                self.cat_w.append(float(attrs[key[0]][1]))
                self.cat_n.append(c)
        self.feat: list[tuple[int, ...]] = []
        self.fw: list[tuple[float, ...]] = []
        for i in range(n):
            f = [cat_id[key] for key in keys[i] if key in cat_id]
            self.feat.append(tuple(f))
            self.fw.append(tuple(self.cat_w[g] for g in f))
        self.wsum = [sum(w) for w in self.fw]
        self.ncat = len(self.cat_w)
        # topic penalty per person per team (None when no team has a topic)
        self.tpen: list[list[float]] | None = None
        self.topic_floor = 0.0
        if weights.topic and any(plan.topics):
            tw = float(weights.topic)
            self.tpen = []
            for p in people:
                if p.topics:
                    # a team without a topic suits everybody
                    row = [0.0 if (t is None or t in p.topics) else tw for t in plan.topics]
                else:
                    row = [0.0] * k
                self.tpen.append(row)
            self.topic_floor = tw * _off_topic_floor(people, plan.topics, plan.hi)

    def lower_bound(self, k: int) -> float:
        """Σ over categories of the pairs left if each were spread evenly (hard rules ignored)."""
        total = self.topic_floor
        for w, c in zip(self.cat_w, self.cat_n, strict=True):
            q, r = divmod(c, k)
            total += w * (r * (q + 1) * q // 2 + (k - r) * q * (q - 1) // 2)
        return total


def _score(model: _Model, team_of: Sequence[int], k: int) -> float:
    """The objective of a complete assignment, from scratch."""
    counts: Counter = Counter()
    total = 0.0
    for i, t in enumerate(team_of):
        for g, w in zip(model.feat[i], model.fw[i], strict=True):
            total += w * counts[(g, t)]
            counts[(g, t)] += 1
        if model.tpen is not None:
            total += model.tpen[i][t]
    return total


# --------------------------------------------------------------------------------------------
# Search


def _ins_vector(cnt, fp, wp, k: int, tp) -> list[float]:
    """Cost of adding a person with categories ``fp`` (weights ``wp``) to each team."""
    nf = len(fp)
    if nf == 0:
        ins = [0.0] * k
    elif nf == 1:
        w0 = wp[0]
        ins = [w0 * a for a in cnt[fp[0]]]
    elif nf == 2:
        w0, w1 = wp
        ins = [w0 * a + w1 * b for a, b in zip(cnt[fp[0]], cnt[fp[1]], strict=True)]
    elif nf == 3:
        w0, w1, w2 = wp
        ins = [
            w0 * a + w1 * b + w2 * c
            for a, b, c in zip(cnt[fp[0]], cnt[fp[1]], cnt[fp[2]], strict=True)
        ]
    else:
        ins = [sum(w * cnt[g][t] for g, w in zip(fp, wp, strict=True)) for t in range(k)]
    if tp is not None:
        ins = [a + b for a, b in zip(ins, tp, strict=True)]
    return ins


class _Search:
    """Assignment state with per-team category counters and the moves of the local search."""

    def __init__(self, plan: _Plan, model: _Model, rng: random.Random):
        self.plan = plan
        self.m = model
        self.rng = rng
        n, k = len(plan.people), plan.k
        self.n, self.k = n, k
        self.cnt = [[0] * k for _ in range(model.ncat)]
        self.team = [-1] * n
        self.members: list[list[int]] = [[] for _ in range(k)]
        self.size = [0] * k
        self.fcnt = [0] * k
        self.score = 0.0
        self.mispredicted = 0
        blocks = plan.blocks
        self.single = [
            len(blocks[plan.block_of[i]]) == 1 and plan.block_team[plan.block_of[i]] < 0
            for i in range(n)
        ]
        self.movable = [i for i in range(n) if self.single[i]]
        self.free_blocks = [
            b for b, m in enumerate(blocks) if len(m) > 1 and plan.block_team[b] < 0
        ]
        self._free_set = set(self.free_blocks)

    # primitive operations ---------------------------------------------------------------

    def ins(self, p: int, t: int) -> float:
        """Cost of adding p to team t (p not in t)."""
        cnt = self.cnt
        c = sum(w * cnt[g][t] for g, w in zip(self.m.feat[p], self.m.fw[p], strict=True))
        if self.m.tpen is not None:
            c += self.m.tpen[p][t]
        return c

    def add(self, p: int, t: int) -> None:
        self.score += self.ins(p, t)
        for g in self.m.feat[p]:
            self.cnt[g][t] += 1
        self.team[p] = t
        self.members[t].append(p)
        self.size[t] += 1
        if self.plan.fac[p]:
            self.fcnt[t] += 1

    def remove(self, p: int) -> None:
        t = self.team[p]
        for g in self.m.feat[p]:
            self.cnt[g][t] -= 1
        self.score -= self.ins(p, t)
        self.team[p] = -1
        self.members[t].remove(p)
        self.size[t] -= 1
        if self.plan.fac[p]:
            self.fcnt[t] -= 1

    def move(self, p: int, t: int) -> None:
        self.remove(p)
        self.add(p, t)

    def load(self, team_of: Sequence[int]) -> None:
        k = self.k
        self.cnt = [[0] * k for _ in range(self.m.ncat)]
        self.members = [[] for _ in range(k)]
        self.size = [0] * k
        self.fcnt = [0] * k
        self.team = [-1] * self.n
        self.score = 0.0
        for p, t in enumerate(team_of):
            self.add(p, t)

    # construction -----------------------------------------------------------------------

    def _room(self, t: int, b: int, claimed: int) -> bool:
        plan = self.plan
        new = self.size[t] + b
        if new <= plan.lo:
            return True
        if new > plan.hi:
            return False
        return self.size[t] > plan.lo or claimed < plan.n_hi

    def _fits(self, members: list[int], t: int, claimed: int) -> bool:
        plan = self.plan
        if not self._room(t, len(members), claimed):
            return False
        nf = sum(plan.fac[i] for i in members)
        if nf and self.fcnt[t] + nf > plan.fhi:
            return False
        team = self.team
        return all(team[j] != t for i in members for j in plan.apart[i])

    def construct(self, attempt: int) -> bool:
        """Greedy placement; False when it got stuck (the caller retries, then searches)."""
        plan, m, rng, k = self.plan, self.m, self.rng, self.k
        self.load([])
        self.team = [-1] * self.n
        claimed = 0
        fixed = [b for b, t in enumerate(plan.block_team) if t >= 0]
        for b in fixed:
            t = plan.block_team[b]
            if self.size[t] <= plan.lo < self.size[t] + len(plan.blocks[b]):
                claimed += 1
            for i in plan.blocks[b]:
                self.add(i, t)
        free = [b for b, t in enumerate(plan.block_team) if t < 0]
        # hardest first: facilitators (to be spread), big blocks, constrained people, then
        # people whose categories are most crowded, grouped so that equal people go in a row
        pressure = [
            tuple(sorted(((m.cat_w[g] * m.cat_n[g], g) for g in m.feat[i]), reverse=True))
            for i in range(self.n)
        ]
        noise = [rng.random() for _ in range(len(plan.blocks))]

        def key(b: int):
            members = plan.blocks[b]
            has_fac = any(plan.fac[i] for i in members)
            constrained = any(plan.apart[i] for i in members)
            head = max(members, key=lambda i: pressure[i])
            if attempt == 0:
                return (
                    not has_fac,
                    -len(members),
                    not constrained,
                    [(-pw, g) for pw, g in pressure[head]],
                    noise[b],
                )
            return (not has_fac, -len(members), not constrained, noise[b])

        free.sort(key=key)
        lo, hi, n_hi = plan.lo, plan.hi, plan.n_hi
        size, cnt, tpen = self.size, self.cnt, m.tpen
        for b in free:
            members = plan.blocks[b]
            p = members[0]
            if len(members) == 1 and not plan.fac[p] and not plan.apart[p]:
                # the common case, vectorised: cheapest team with room, then the emptiest,
                # then the first after a random offset
                ins = _ins_vector(cnt, m.feat[p], m.fw[p], k, tpen[p] if tpen else None)
                grow = hi > lo and claimed < n_hi
                r = rng.randrange(k)
                best_key = min(
                    (ins[t], size[t], (t - r) % k)
                    for t in range(k)
                    if size[t] < lo or (grow and size[t] == lo)
                )
                best = (best_key[2] + r) % k
            else:
                nf = sum(plan.fac[i] for i in members)
                best, best_key = -1, None
                for t in range(k):
                    if not self._fits(members, t, claimed):
                        continue
                    cost = sum(self.ins(i, t) for i in members)
                    # facilitators go where there are none yet; then cheapest, then emptiest
                    kk = (self.fcnt[t] if nf else 0, cost, size[t], rng.random())
                    if best_key is None or kk < best_key:
                        best, best_key = t, kk
                if best < 0:
                    return False
            if size[best] <= lo < size[best] + len(members):
                claimed += 1
            for i in members:
                self.add(i, best)
        return self._facilitators_ok()

    def _facilitators_ok(self) -> bool:
        plan = self.plan
        return all(plan.flo <= c <= plan.fhi for c in self.fcnt)

    # local search -----------------------------------------------------------------------

    def sweep(self, budget: Budget, tabu: list[int], sideways: float, tenure: int) -> bool:
        """One pass over the movable people: for each, the best move or swap that involves
        them. Applies improving steps, and sideways ones (delta 0) with probability
        ``sideways`` unless tabu. True when the budget is spent."""
        plan, m, rng = self.plan, self.m, self.rng
        cnt, team, members, size, fcnt = self.cnt, self.team, self.members, self.size, self.fcnt
        feat, fw, wsum, tpen = m.feat, m.fw, m.wsum, m.tpen
        fac, apart, single = plan.fac, plan.apart, self.single
        lo, hi, flo, fhi = plan.lo, plan.hi, plan.flo, plan.fhi
        can_move = hi > lo
        k = self.k
        krange = range(k)
        rand = rng.random
        order = self.movable[:]
        rng.shuffle(order)
        for p in order:
            if budget.tick():
                return True
            A = team[p]
            fp = feat[p]
            ins = _ins_vector(cnt, fp, fw[p], k, tpen[p] if tpen is not None else None)
            own = ins[A] - wsum[p]
            cands = [t for t in krange if ins[t] <= own and t != A]
            if not cands:
                continue
            if len(cands) > 12:
                cands.sort(key=ins.__getitem__)
                del cands[12:]
            pset = set(fp)
            pfac = fac[p]
            papart = apart[p]
            best = 1e-9  # only improving or sideways steps are of interest
            best_move = None
            ties = 0
            step = budget.steps
            for B in cands:
                dp = ins[B] - own
                blocked = [x for x in papart if team[x] == B] if papart else None
                # p alone to a smaller team
                if (
                    can_move
                    and size[A] == hi
                    and size[B] == lo
                    and not blocked
                    and (not pfac or (fcnt[A] > flo and fcnt[B] < fhi))
                    and dp <= best + 1e-9
                ):
                    if dp < best - 1e-9:
                        best, best_move, ties = dp, (B, -1), 1
                    else:
                        ties += 1
                        if rand() * ties < 1:
                            best_move = (B, -1)
                # p swapped with q
                for q in members[B]:
                    if not single[q]:
                        continue
                    if blocked and (len(blocked) > 1 or q != blocked[0]):
                        continue
                    qfac = fac[q]
                    if pfac != qfac:
                        if pfac and (fcnt[A] <= flo or fcnt[B] >= fhi):
                            continue
                        if qfac and (fcnt[B] <= flo or fcnt[A] >= fhi):
                            continue
                    d = dp + wsum[q]
                    for h, w in zip(feat[q], fw[q], strict=True):
                        c = cnt[h]
                        d += w * (c[A] - c[B])
                        if h in pset:
                            d -= w + w
                    if tpen is not None:
                        tq = tpen[q]
                        d += tq[A] - tq[B]
                    if d > best + 1e-9:
                        continue
                    if d > -1e-9 and tabu[q] > step:
                        continue
                    qa = apart[q]
                    if qa and any(team[x] == A and x != p for x in qa):
                        continue
                    if d < best - 1e-9:
                        best, best_move, ties = d, (B, q), 1
                    else:
                        ties += 1
                        if rand() * ties < 1:
                            best_move = (B, q)
            if best_move is None:
                continue
            if best > -1e-9 and (tabu[p] > step or rand() >= sideways):
                continue
            B, q = best_move
            before = self.score
            self.move(p, B)
            if q >= 0:
                self.move(q, A)
                tabu[q] = budget.steps + tenure
            tabu[p] = budget.steps + tenure
            if abs(self.score - before - best) > 1e-6:
                self.mispredicted += 1  # the O(1) delta disagrees with the counters: a bug
        return False

    def block_pass(self, tries: int = 8) -> None:
        """Try to exchange each free keep-together block with singles or a block of another
        team (the ``tries`` teams where the block would cost least); keeps the first exchange
        that leaves every rule intact and does not make the score worse."""
        plan, m = self.plan, self.m
        lo, hi, k = plan.lo, plan.hi, self.k
        tpen = m.tpen
        for b in self.free_blocks:
            X = plan.blocks[b]
            A = self.team[X[0]]
            bx = len(X)
            cost = [0.0] * k
            for i in X:
                vec = _ins_vector(self.cnt, m.feat[i], m.fw[i], k, tpen[i] if tpen else None)
                cost = [a + c for a, c in zip(cost, vec, strict=True)]
            targets = sorted((t for t in range(k) if t != A), key=cost.__getitem__)[:tries]
            for B in targets:
                before = self.score
                for i in X:
                    self.move(i, B)
                # sizes now: A - bx, B + bx; bring back 'need' people so both end in [lo, hi]
                needs = [
                    need
                    for need in (bx, bx - 1, bx + 1)
                    if need >= 0
                    and lo <= self.size[A] + need <= hi
                    and lo <= self.size[B] - need <= hi
                ]
                singles = [q for q in self.members[B] if self.single[q]]
                singles.sort(key=lambda q: self.ins(q, A) - self.ins(q, B) + self.m.wsum[q])
                groups = [singles[:need] for need in needs if len(singles) >= need]
                others = {plan.block_of[q] for q in self.members[B]} - {b}
                groups += [
                    plan.blocks[c]
                    for c in others
                    if c in self._free_set and len(plan.blocks[c]) in needs
                ]
                done = False
                for chosen in groups:
                    for q in chosen:
                        self.move(q, A)
                    if self.score <= before + 1e-9 and self._teams_ok((A, B)):
                        done = True
                        break
                    for q in chosen:
                        self.move(q, B)
                if done:
                    break
                for i in X:
                    self.move(i, A)

    def _teams_ok(self, teams: Iterable[int]) -> bool:
        plan = self.plan
        for t in teams:
            if not (plan.lo <= self.size[t] <= plan.hi):
                return False
            if not (plan.flo <= self.fcnt[t] <= plan.fhi):
                return False
            for i in self.members[t]:
                for j in plan.apart[i]:
                    if self.team[j] == t:
                        return False
        plan = self.plan
        return plan.hi == plan.lo or sum(1 for s in self.size if s == plan.hi) == plan.n_hi

    def kick(self, strength: int) -> None:
        """Random feasible swaps between movable people (the perturbation of the ILS)."""
        rng, movable, plan = self.rng, self.movable, self.plan
        if len(movable) < 2:
            return
        team, fac, apart = self.team, plan.fac, plan.apart
        done = 0
        for _ in range(strength * 10):
            if done >= strength:
                break
            p, q = rng.choice(movable), rng.choice(movable)
            A, B = team[p], team[q]
            if A == B:
                continue
            if fac[p] != fac[q]:
                fp, fq = (A, B) if fac[p] else (B, A)
                if self.fcnt[fp] <= plan.flo or self.fcnt[fq] >= plan.fhi:
                    continue
            if any(team[x] == B and x != q for x in apart[p]):
                continue
            if any(team[x] == A and x != p for x in apart[q]):
                continue
            self.move(p, B)
            self.move(q, A)
            done += 1


def _luby(i: int) -> int:
    """The ``i``-th term (from 1) of the Luby sequence 1 1 2 1 1 2 4 1 1 2 1 1 2 4 8 …"""
    while True:
        k = i.bit_length()
        if i == (1 << k) - 1:
            return 1 << (k - 1)
        i -= (1 << (k - 1)) - 1


class _Feasibility:
    """Finds teams that keep every hard rule when the greedy construction got stuck.

    First a greedy search for more blocks than teams that must all be in different teams
    (keep-apart partners; facilitators too when a team may have only one): such a clique
    proves at once that no teams exist, and names the people. Then a constraint-satisfaction
    search over the free blocks that take part in a rule (a keep-apart partner, or more than
    one member); every other free person is a *filler* that only counts. Locked blocks are
    placed first. Then, depth first:

    * the next block is the one with the fewest teams left (DSATUR: keep-apart partners
      already placed, room respecting floor/ceil sizes, facilitator ceiling), then the most
      keep-apart partners, the biggest; a block without any team left ends the branch
      (forward checking), and so does a team that the blocks still able to enter it and the
      fillers can no longer bring up to its size or facilitator floor (:meth:`_supported`);
    * its teams are tried facilitator-poorest first, then cheapest for the objective; empty
      teams are interchangeable, so only one of them is tried;
    * after every placement the people still to place are counted against what the teams
      still need and may take (:meth:`_counts_ok`: sizes, and facilitator floor and ceiling
      per team); blocks count as single people there, so it is exact for the fillers and a
      relaxation for the blocks.

    Runs are cut off after a number of budget steps following the Luby sequence (1 1 2 1 1 2
    4 … times :meth:`unit`) and restarted with a randomised order; after each, a spell of
    :class:`_Repair` of the same length continues its own walk. A run that finishes its tree
    without being cut off proves that no teams exist. Once the blocks are placed, the fillers
    fill the teams cheapest first within the facilitator quotas the counting admits, so the
    result keeps every rule.
    """

    def __init__(self, s: _Search):
        plan = s.plan
        self.s, self.plan = s, plan
        blocks = plan.blocks
        nb = len(blocks)
        self.sz = sz = [len(m) for m in blocks]
        self.nf = nf = [sum(plan.fac[i] for i in m) for m in blocks]
        nbr: list[set[int]] = [set() for _ in range(nb)]
        for i, others in enumerate(plan.apart):
            for j in others:
                nbr[plan.block_of[i]].add(plan.block_of[j])
        self.nbr = [sorted(x) for x in nbr]
        free = [b for b in range(nb) if plan.block_team[b] < 0]
        self.vars = [b for b in free if sz[b] > 1 or nbr[b]]
        self.is_var = [False] * nb
        for b in self.vars:
            self.is_var[b] = True
        fill = [b for b in free if not self.is_var[b]]
        self.fill_fac = [blocks[b][0] for b in fill if nf[b]]
        self.fill_non = [blocks[b][0] for b in fill if not nf[b]]
        types: dict[tuple[int, int], int] = {}
        self.vtype = [0] * nb
        for b in self.vars:
            self.vtype[b] = types.setdefault((sz[b], nf[b]), len(types))
        self.types = list(types)
        self.runs = 0
        self.how = ""
        self.clique: list[int] = []

    # state ---------------------------------------------------------------------------------

    def _reset(self) -> None:
        s, plan = self.s, self.plan
        s.load([])
        nb = len(plan.blocks)
        self.bteam = [-1] * nb
        self.conf: list[dict[int, int]] = [{} for _ in range(nb)]  # var -> team -> partners
        for b, t in enumerate(plan.block_team):
            if t >= 0:
                self._place(b, t)
        self.rem_f = len(self.fill_fac) + sum(self.nf[b] for b in self.vars)
        self.rem_n = len(self.fill_non) + sum(self.sz[b] - self.nf[b] for b in self.vars)

    def _place(self, b: int, t: int) -> None:
        s = self.s
        for i in self.plan.blocks[b]:
            s.add(i, t)
        self.bteam[b] = t
        conf, is_var = self.conf, self.is_var
        for c in self.nbr[b]:
            if is_var[c]:
                row = conf[c]
                row[t] = row.get(t, 0) + 1
        if self.is_var[b]:
            self.rem_f -= self.nf[b]
            self.rem_n -= self.sz[b] - self.nf[b]

    def _unplace(self, b: int) -> None:
        s = self.s
        for i in self.plan.blocks[b]:
            s.remove(i)
        t = self.bteam[b]
        self.bteam[b] = -1
        conf, is_var = self.conf, self.is_var
        for c in self.nbr[b]:
            if is_var[c]:
                row = conf[c]
                if row[t] == 1:
                    del row[t]
                else:
                    row[t] -= 1
        self.rem_f += self.nf[b]
        self.rem_n += self.sz[b] - self.nf[b]

    def _counts_ok(self) -> bool:
        """Can the people still to place, taken as single people, complete the teams?

        Every team ends with ``lo`` or ``hi`` people (exactly ``n_hi`` of them with ``hi``) and
        between ``flo`` and ``fhi`` facilitators. A team needs ``L`` more facilitators and may
        take ``U`` more (at most its room); a team that cannot take its ``L`` at ``lo`` must grow
        to ``hi``, and a spare ``hi`` is worth one more facilitator place where room was the
        limit. Exact when only single people are left."""
        plan = self.plan
        lo, hi, n_hi, flo, fhi = plan.lo, plan.hi, plan.n_hi, plan.flo, plan.fhi
        need_hi = sum_l = sum_u = gain = 0
        for st, ft in zip(self.s.size, self.s.fcnt, strict=True):
            if st > hi or ft > fhi:
                return False
            low = flo - ft if ft < flo else 0
            sum_l += low
            if st > lo:
                need_hi += 1
                room = hi - st
                if low > room:
                    return False
                sum_u += min(fhi - ft, room)
            else:
                room = lo - st
                up = min(fhi - ft, room)
                if low > up:
                    if hi == lo or low > room + 1:
                        return False
                    need_hi += 1
                    sum_u += min(fhi - ft, room + 1)
                else:
                    sum_u += up
                    if hi > lo and fhi - ft > room:
                        gain += 1
        if need_hi > n_hi:
            return False
        return sum_l <= self.rem_f <= sum_u + min(gain, n_hi - need_hi)

    def big_clique(self) -> list[int]:
        """Blocks that must all be in different teams, more of them than teams, found greedily
        (keep-apart partners, and facilitators when a team may have only one), or []."""
        k, nb, fac_apart = self.s.k, len(self.plan.blocks), self.plan.fhi == 1
        adj = [set(x) for x in self.nbr]
        if fac_apart:
            facs = [b for b in range(nb) if self.nf[b]]
            for b in facs:
                adj[b].update(c for c in facs if c != b)
        deg = [len(x) for x in adj]
        for v in sorted((b for b in range(nb) if deg[b] >= k), key=lambda b: (-deg[b], b)):
            clique = [v]
            for u in sorted(adj[v], key=lambda b: (-deg[b], b)):
                if deg[u] >= k and all(u in adj[w] for w in clique):
                    clique.append(u)
            if len(clique) > k:
                return clique
        return []

    def unit(self) -> int:
        """Budget steps of about two complete depth-first runs: the first spell of each kind."""
        nvar = len(self.vars)
        return 2 * max(32, nvar) * (8 + (nvar + (len(self.types) + 1) * self.s.k) // WORK_PER_TICK)

    # search --------------------------------------------------------------------------------

    def _run(self, budget: Budget, cutoff: int, rng: random.Random, shuffle: float) -> bool | None:
        """One depth-first run: True when every block is placed, False when the tree is
        exhausted (no teams exist), None when cut off (after ``cutoff`` budget steps) or out of
        budget."""
        s, plan, k = self.s, self.plan, self.s.k
        lo, hi, n_hi, fhi = plan.lo, plan.hi, plan.n_hi, plan.fhi
        size, fcnt = s.size, s.fcnt
        sz, nf, conf, bteam, vtype = self.sz, self.nf, self.conf, self.bteam, self.vtype
        blocks = plan.blocks
        variables = self.vars
        nvar = len(variables)
        if not self._counts_ok():
            return False
        if not nvar:
            return True
        rank = [0] * len(blocks)
        noise = {b: rng.random() for b in variables}
        ordered = sorted(variables, key=lambda b: (-len(self.nbr[b]), -sz[b], -nf[b], noise[b]))
        for r, b in enumerate(ordered):
            rank[b] = r
        types = self.types
        stack: list[list] = []  # [block, teams to try, next position]
        stop = budget.steps + cutoff
        work = 0  # for the budget: blocks scanned and teams checked since the last tick
        while True:
            if len(stack) == nvar:
                return True
            # which teams each kind of block may still enter (sizes, facilitator ceiling)
            claimed = sum(1 for x in size if x > lo) if hi > lo else n_hi
            opens = []
            for bsz, bnf in types:
                row = [
                    st + bsz <= hi
                    and (st + bsz <= lo or st > lo or claimed < n_hi)
                    and (not bnf or ft + bnf <= fhi)
                    for st, ft in zip(size, fcnt, strict=True)
                ]
                opens.append((row, sum(row)))
            # DSATUR: the block with the fewest teams left
            work += nvar - len(stack) + 2 * len(types) * k
            best_b, best_key = -1, None
            left = [0] * len(types)  # unplaced blocks of each kind
            lost_f = [0] * k  # facilitators and others among them kept out of each team
            lost_n = [0] * k
            for b in variables:
                if bteam[b] >= 0:
                    continue
                y = vtype[b]
                left[y] += 1
                row, d = opens[y]
                for t in conf[b]:
                    if row[t]:
                        d -= 1
                        lost_f[t] += nf[b]
                        lost_n[t] += sz[b] - nf[b]
                key = d * nvar + rank[b]
                if best_key is None or key < best_key:
                    best_b, best_key = b, key
                    if d == 0:
                        break
            b = best_b
            if (
                best_key is not None
                and best_key >= nvar
                and not self._supported(opens, left, lost_f, lost_n)
            ):
                best_key = 0  # a team can no longer get the people it needs
            if best_key is not None and best_key >= nvar:
                row = opens[vtype[b]][0]
                blocked = conf[b]
                values = []
                empty_seen = False
                for t in range(k):
                    if row[t] and t not in blocked:
                        if size[t] == 0:
                            # empty teams are interchangeable (locks were placed first)
                            if empty_seen:
                                continue
                            empty_seen = True
                        values.append(t)
                members = blocks[b]
                if shuffle and rng.random() < shuffle:
                    rng.shuffle(values)
                    if nf[b]:
                        values.sort(key=fcnt.__getitem__)
                else:
                    fb = nf[b]
                    cost = {t: sum(s.ins(i, t) for i in members) for t in values}
                    tie = {t: rng.random() for t in values}
                    values.sort(key=lambda t: (fcnt[t] if fb else 0, cost[t], size[t], tie[t]))
                stack.append([b, values, 0])
            # try the next team of the deepest block; backtrack when none is left
            while stack:
                frame = stack[-1]
                b, values, pos = frame
                if bteam[b] >= 0:
                    self._unplace(b)
                placed = False
                while pos < len(values):
                    t = values[pos]
                    pos += 1
                    work += k
                    if budget.tick(8 + work // WORK_PER_TICK) or budget.steps >= stop:
                        return None
                    work = 0
                    self._place(b, t)
                    if self._counts_ok():
                        placed = True
                        break
                    self._unplace(b)
                frame[2] = pos
                if placed:
                    break
                stack.pop()
            else:
                return False

    def _supported(self, opens: list, left: list[int], lost_f: list[int], lost_n: list[int]):
        """Can every team still be completed from the unplaced blocks that may enter it and
        the fillers: enough people for ``lo``, enough facilitators for ``flo``, and enough
        others beyond the facilitators it may take?"""
        plan = self.plan
        lo, flo, fhi = plan.lo, plan.flo, plan.fhi
        kinds = [
            (row, n * f, n * (z - f))
            for (row, _), n, (z, f) in zip(opens, left, self.types, strict=True)
            if n
        ]
        fill_f, fill_n = len(self.fill_fac), len(self.fill_non)
        for t, (st, ft) in enumerate(zip(self.s.size, self.s.fcnt, strict=True)):
            if st >= lo and ft >= flo:
                continue
            sup_f, sup_n = fill_f - lost_f[t], fill_n - lost_n[t]
            for row, f, o in kinds:
                if row[t]:
                    sup_f += f
                    sup_n += o
            if sup_f < flo - ft or sup_f + sup_n < lo - st or sup_n < lo - st - (fhi - ft):
                return False
        return True

    def solve(self, budget: Budget, rng: random.Random) -> bool | None:
        """True with every person placed (in the :class:`_Search`), False when no teams
        exist, None when the budget ran out first. Depth-first runs alternate with spells of
        :class:`_Repair`, both growing along the Luby sequence."""
        self.clique = self.big_clique()
        if self.clique:
            return False
        unit = self.unit()
        repair = None
        while True:
            self.runs += 1
            spell = unit * _luby(self.runs)
            self._reset()
            found = self._run(budget, spell, rng, 0.0 if self.runs == 1 else 0.3)
            if found:
                self._fill()
                self.how = "search"
                return True
            if found is False:
                return False
            if budget.expired():
                return None
            if repair is None:
                repair = _Repair(self, rng)
            if repair.run(budget, spell):
                block_of = self.plan.block_of
                self.s.load([repair.best[block_of[i]] for i in range(self.s.n)])
                self.how = "repair"
                return True
            if budget.expired():
                return None

    def _fill(self) -> None:
        """Places the fillers: facilitators within per-team quotas that the counting admits,
        then everybody else, each into the cheapest team with room."""
        s, plan, m, k = self.s, self.plan, self.s.m, self.s.k
        lo, hi, flo, fhi = plan.lo, plan.hi, plan.flo, plan.fhi
        size, fcnt = s.size, s.fcnt
        hi_left = plan.n_hi - sum(1 for x in size if x > lo) if hi > lo else 0
        grown = [x > lo for x in size]
        quota = [flo - f if f < flo else 0 for f in fcnt]
        for t in range(k):
            if not grown[t] and quota[t] > lo - size[t]:
                grown[t] = True
                hi_left -= 1

        def room(t: int) -> int:
            return min(fhi - fcnt[t], (hi if grown[t] else lo) - size[t]) - quota[t]

        need = len(self.fill_fac) - sum(quota)
        while need > 0:
            spare = [t for t in range(k) if room(t) > 0]
            if not spare:
                # a team grown to hi takes one more facilitator where room was the limit
                t = next(
                    t
                    for t in range(k)
                    if not grown[t] and fhi - fcnt[t] - quota[t] > 0 and hi_left > 0
                )
                grown[t] = True
                hi_left -= 1
                spare = [t]
            t = min(spare, key=lambda t: (fcnt[t] + quota[t], t))
            quota[t] += 1
            need -= 1
        tpen = m.tpen
        pressure = [
            tuple(sorted(((m.cat_w[g] * m.cat_n[g], g) for g in m.feat[i]), reverse=True))
            for i in range(self.s.n)
        ]
        for group, is_fac in ((self.fill_fac, True), (self.fill_non, False)):
            for p in sorted(group, key=lambda i: pressure[i], reverse=True):
                ins = _ins_vector(s.cnt, m.feat[p], m.fw[p], k, tpen[p] if tpen else None)
                if is_fac:
                    ok = [t for t in range(k) if quota[t] > 0]
                else:
                    ok = [
                        t
                        for t in range(k)
                        if size[t] < (hi if grown[t] else lo)
                        or (hi_left > 0 and size[t] == lo < hi)
                    ]
                best = min(ok, key=lambda t: (ins[t], size[t], t))
                if is_fac:
                    quota[best] -= 1
                elif not grown[best] and size[best] == lo < hi:
                    grown[best] = True
                    hi_left -= 1
                s.add(p, best)


class _Repair:
    """Min-conflicts tabu search over complete placements of the free blocks (fillers too).

    Penalty: keep-apart pairs of blocks sharing a team, plus people above ``hi`` or below
    ``lo`` per team, plus facilitators above ``fhi`` or below ``flo`` per team; locked blocks
    stay put. Each step takes a block involved in a broken rule (or, for a team short of
    people or facilitators, any block that could fill it) and applies the best move of it to
    another team, or swap with a block there, that is not tabu (moving a block back to the
    team it just left is, for a few steps, unless that reaches a new best). Zero penalty means
    teams that keep every rule.
    """

    PICKS = 4  # blocks per kind of broken rule whose steps are compared
    SWAP_TEAMS = 8  # teams (those where moving the block costs least) searched for swaps
    SWAP_PARTNERS = 48  # blocks of one team considered for a swap, at most

    def __init__(self, feas: _Feasibility, rng: random.Random):
        plan, k = feas.plan, feas.s.k
        self.plan, self.rng, self.k = plan, rng, k
        self.sz, self.nf, self.nbr = feas.sz, feas.nf, feas.nbr
        nb = len(plan.blocks)
        self.free = [b for b in range(nb) if plan.block_team[b] < 0]
        self.bt = [-1] * nb
        self.size = [0] * k
        self.fcnt = [0] * k
        self.team_blocks: list[list[int]] = [[] for _ in range(k)]
        self.conf = [[0] * k if self.nbr[b] else None for b in range(nb)]
        self.bad: set[int] = set()  # free blocks sharing a team with a keep-apart partner
        self.clashes = 0
        self.tabu: dict[tuple[int, int], int] = {}
        self.it = 0
        for b, t in enumerate(plan.block_team):
            if t >= 0:
                self._put(b, t)
        # start: hardest blocks first, each where it breaks the fewest rules
        order = sorted(
            self.free,
            key=lambda b: (-len(self.nbr[b]), -self.sz[b], -self.nf[b], rng.random()),
        )
        for b in order:
            best = min(range(k), key=lambda t: (self._put_cost(b, t), rng.random()))
            self._put(b, best)
        self.pen = self.clashes + sum(self._team_pen(t) for t in range(k))
        self.best_pen, self.best = self.pen, self.bt[:]

    def _team_pen(self, t: int, dsize: int = 0, dfac: int = 0) -> int:
        plan = self.plan
        st, ft = self.size[t] + dsize, self.fcnt[t] + dfac
        return (st - plan.hi if st > plan.hi else plan.lo - st if st < plan.lo else 0) + (
            ft - plan.fhi if ft > plan.fhi else plan.flo - ft if ft < plan.flo else 0
        )

    def _put_cost(self, b: int, t: int) -> int:
        row = self.conf[b]
        return (
            (row[t] if row else 0) + self._team_pen(t, self.sz[b], self.nf[b]) - self._team_pen(t)
        )

    def _put(self, b: int, t: int) -> None:
        self.bt[b] = t
        self.size[t] += self.sz[b]
        self.fcnt[t] += self.nf[b]
        self.team_blocks[t].append(b)
        conf, bad, locked = self.conf, self.bad, self.plan.block_team
        if conf[b] is not None:
            self.clashes += conf[b][t]
            if conf[b][t] and locked[b] < 0:
                bad.add(b)
        for c in self.nbr[b]:
            row = conf[c]
            row[t] += 1
            if self.bt[c] == t and locked[c] < 0:
                bad.add(c)

    def _take(self, b: int) -> None:
        t = self.bt[b]
        self.bt[b] = -1
        self.size[t] -= self.sz[b]
        self.fcnt[t] -= self.nf[b]
        self.team_blocks[t].remove(b)
        conf, bad = self.conf, self.bad
        if conf[b] is not None:
            self.clashes -= conf[b][t]
        bad.discard(b)
        for c in self.nbr[b]:
            row = conf[c]
            row[t] -= 1
            if self.bt[c] == t and not row[t]:
                bad.discard(c)

    def _move_delta(self, b: int, B: int) -> int:
        A = self.bt[b]
        row = self.conf[b]
        sz, nf = self.sz[b], self.nf[b]
        d = (row[B] - row[A]) if row else 0
        d += self._team_pen(A, -sz, -nf) - self._team_pen(A)
        return d + self._team_pen(B, sz, nf) - self._team_pen(B)

    def _swap_delta(self, b: int, c: int) -> int:
        A, B = self.bt[b], self.bt[c]
        rb, rc = self.conf[b], self.conf[c]
        d = 0
        if rb:
            d += rb[B] - rb[A]
            if rc and c in self.nbr[b]:
                d -= 2
        if rc:
            d += rc[A] - rc[B]
        dsz, dnf = self.sz[c] - self.sz[b], self.nf[c] - self.nf[b]
        if dsz or dnf:
            d += self._team_pen(A, dsz, dnf) - self._team_pen(A)
            d += self._team_pen(B, -dsz, -dnf) - self._team_pen(B)
        return d

    def _best_step(self, b: int, aspire: int, ties: list) -> int:
        """Offers every move of ``b`` and its swaps with blocks of the teams where a move
        costs least to ``ties`` = [best delta, steps with that delta, chosen step]; returns
        how many steps it evaluated."""
        rng, tabu, it, plan = self.rng, self.tabu, self.it, self.plan
        A = self.bt[b]
        moves = {B: self._move_delta(b, B) for B in range(self.k) if B != A}

        def offer(d: int, step: tuple[int, int, int]) -> None:
            if ties[0] is None or d < ties[0]:
                ties[:] = [d, 1, step]
            elif d == ties[0]:
                ties[1] += 1
                if rng.random() * ties[1] < 1:
                    ties[2] = step

        for B, d in moves.items():
            if tabu.get((b, B), 0) <= it or d < aspire:
                offer(d, (b, B, -1))
        teams = list(moves)
        if len(teams) > self.SWAP_TEAMS:
            noise = {B: rng.random() for B in teams}
            teams.sort(key=lambda B: (moves[B], noise[B]))
            del teams[self.SWAP_TEAMS :]
        evaluated = len(moves)
        for B in teams:
            partners = [c for c in self.team_blocks[B] if plan.block_team[c] < 0]
            if len(partners) > self.SWAP_PARTNERS:
                partners = rng.sample(partners, self.SWAP_PARTNERS)
            evaluated += len(partners)
            b_tabu = tabu.get((b, B), 0) > it
            for c in partners:
                d = self._swap_delta(b, c)
                if (b_tabu or tabu.get((c, A), 0) > it) and d >= aspire:
                    continue
                offer(d, (b, B, c))
        return evaluated

    def _picks(self) -> list[int]:
        """A few blocks involved in broken rules: sharing a team with a keep-apart partner, in a
        team with too many people or facilitators, or any block for a team short of some."""
        rng, plan, free = self.rng, self.plan, self.free
        short = [t for t in range(self.k) if self._team_pen(t)]
        bad = sorted(self.bad)
        picks = set(rng.sample(bad, min(len(bad), self.PICKS)))
        for t in rng.sample(short, min(len(short), self.PICKS)):
            if self.size[t] < plan.lo or self.fcnt[t] < plan.flo:
                picks.add(rng.choice(free))  # something has to come in: any block may
            else:
                own = [x for x in self.team_blocks[t] if plan.block_team[x] < 0]
                picks.add(rng.choice(own) if own else rng.choice(free))
        return sorted(picks)

    def run(self, budget: Budget, cutoff: int) -> bool:
        """Steps until ``cutoff`` more budget steps are spent; True when a placement without
        broken rules is reached (then in ``best``)."""
        rng, tabu = self.rng, self.tabu
        if not self.free:
            return self.pen == 0
        stop = budget.steps + cutoff
        while budget.steps < stop:
            if self.pen == 0:
                return True
            self.it += 1
            ties: list = [None, 0, None]
            evaluated = sum(
                self._best_step(b, self.best_pen - self.pen, ties) for b in self._picks()
            )
            if budget.tick(16 + (8 * evaluated + self.k + len(self.bad)) // WORK_PER_TICK):
                return False
            if ties[0] is None:
                continue
            delta, (b, B, c) = ties[0], ties[2]
            A = self.bt[b]
            tenure = int(0.6 * self.pen) + rng.randrange(10) + 1
            self._take(b)
            self._put(b, B)
            tabu[(b, A)] = self.it + tenure
            if c >= 0:
                self._take(c)
                self._put(c, A)
                tabu[(c, B)] = self.it + tenure
            self.pen += delta
            if self.pen < self.best_pen:
                self.best_pen, self.best = self.pen, self.bt[:]
        return self.pen == 0


def _no_teams(plan: _Plan, search: _Feasibility, proven: bool) -> AssignmentError:
    """The error when the feasibility search found no teams: the clique that proves it, or
    everybody who takes part in a rule."""
    if search.clique:
        groups = [plan.blocks[b] for b in search.clique]
        return AssignmentError(
            "no_feasible_assignment",
            f"{len(groups)} people or keep-together groups must all be in different teams "
            "(every two of them are kept apart"
            + (", or are facilitators, who may not share a team" if plan.fhi == 1 else "")
            + f"), but there are only {plan.k} teams: "
            + ", ".join(" + ".join(_label(plan.people[i]) for i in g) for g in groups),
            [plan.ids[i] for g in groups for i in g],
        )
    involved = sorted(
        {
            plan.ids[i]
            for b in range(len(plan.blocks))
            if len(plan.blocks[b]) > 1 or plan.block_team[b] >= 0
            for i in plan.blocks[b]
        }
        | {plan.ids[i] for i in range(len(plan.people)) if plan.apart[i] or plan.fac[i]},
        key=str,
    )
    rules = "(keep-together groups, keep-apart pairs, locks and facilitators)"
    return AssignmentError(
        "no_feasible_assignment",
        f"No teams satisfy all the rules together {rules}; relax one of them."
        if proven
        else f"No teams satisfying all the rules together {rules} were found in the time "
        "given; relax one of them, or allow more time.",
        involved,
    )


def _solve(plan: _Plan, model: _Model, seed: int, budget: Budget) -> tuple[list[int], dict]:
    rng = random.Random(seed)
    s = _Search(plan, model, rng)
    found = False
    for attempt in range(GREEDY_ATTEMPTS):
        if s.construct(attempt):
            found = True
            break
    feasibility = "greedy"
    steps = runs = 0
    if not found:
        search = _Feasibility(s)
        sub = budget.scaled(FEASIBILITY_STEPS_PER_STEP, 32 * search.unit())
        found = search.solve(sub, rng)
        steps, runs = sub.steps, search.runs
        feasibility = search.how
        if not found:
            raise _no_teams(plan, search, proven=found is False)
    feasible_time = budget.elapsed()
    construction = s.score
    lb = model.lower_bound(plan.k)
    best, best_team = s.score, s.team[:]
    best_step, best_time = 0, budget.elapsed()
    tabu = [0] * s.n
    tenure = max(7, min(50, len(s.movable) // 10))
    stall = 0
    strength = 2
    sweeps = best_sweep = 0
    searchable = len(s.movable) > 1 or bool(s.free_blocks)
    while searchable and best > lb + 1e-9 and not budget.expired():
        if sweeps - best_sweep >= PATIENCE_SWEEPS:
            break
        budget.tick()
        spent = s.sweep(budget, tabu, sideways=0.3, tenure=tenure)
        sweeps += 1
        if s.free_blocks and sweeps % 2 == 0:
            s.block_pass()
        if s.score < best - 1e-9:
            best, best_team = s.score, s.team[:]
            best_step, best_time = budget.steps, budget.elapsed()
            best_sweep = sweeps
            stall = 0
            strength = 2
        else:
            stall += 1
        if spent:
            break
        if stall >= 3:
            if s.score > best + 1e-9:
                s.load(best_team)
            s.kick(strength)
            strength = min(strength + 1, max(2, len(s.movable) // 10))
            stall = 0
    if best <= lb + 1e-9:
        stopped = "lower_bound"  # proven optimal
    elif searchable and sweeps - best_sweep >= PATIENCE_SWEEPS:
        stopped = "patience"
    elif searchable:
        stopped = "budget"
    else:
        stopped = "nothing_to_move"
    stats = {
        "stopped": stopped,
        "feasibility": feasibility,
        "feasibility_steps": steps,
        "feasibility_runs": runs,
        "feasibility_seconds": feasible_time,
        "construction": construction,
        "mispredicted": s.mispredicted,
        "steps": budget.steps,
        "sweeps": sweeps,
        "best_step": best_step,
        "seconds_to_best": best_time,
        "seconds": budget.elapsed(),
    }
    return best_team, stats


# --------------------------------------------------------------------------------------------
# Public entry points


def _violations(plan: _Plan, team_of: Sequence[int]) -> list[Violation]:
    """Every hard rule the complete assignment breaks."""
    people, k = plan.people, plan.k
    out: list[Violation] = []
    sizes = Counter(team_of)
    for t in range(k):
        if not plan.lo <= sizes.get(t, 0) <= plan.hi:
            out.append(
                Violation(
                    "team_size",
                    f"Team {t} has {sizes.get(t, 0)} people; sizes must be "
                    + (f"{plan.lo}" if plan.lo == plan.hi else f"{plan.lo} or {plan.hi}")
                    + ".",
                    tuple(people[i].id for i, x in enumerate(team_of) if x == t),
                )
            )
    for members in plan.blocks:
        if len({team_of[i] for i in members}) > 1:
            out.append(
                Violation(
                    "keep_together",
                    "Split although they must stay together: "
                    + ", ".join(_label(people[i]) for i in members),
                    tuple(people[i].id for i in members),
                )
            )
    seen = set()
    for i, others in enumerate(plan.apart):
        for j in others:
            if i < j and team_of[i] == team_of[j] and (i, j) not in seen:
                seen.add((i, j))
                out.append(
                    Violation(
                        "keep_apart",
                        f"{_label(people[i])} and {_label(people[j])} must be in different "
                        f"teams but share team {team_of[i]}.",
                        (people[i].id, people[j].id),
                    )
                )
    for b, t in enumerate(plan.block_team):
        if t >= 0:
            moved = [i for i in plan.blocks[b] if team_of[i] != t]
            if moved:
                out.append(
                    Violation(
                        "locked",
                        "Moved away from their locked team "
                        f"{t}: " + ", ".join(_label(people[i]) for i in moved),
                        tuple(people[i].id for i in moved),
                    )
                )
    fcount = Counter(team_of[i] for i in range(len(people)) if plan.fac[i])
    for t in range(k):
        c = fcount.get(t, 0)
        if not plan.flo <= c <= plan.fhi:
            rule = f"between {plan.flo} and {plan.fhi}" if plan.flo else f"at most {plan.fhi}"
            out.append(
                Violation(
                    "facilitator_rule",
                    f"Team {t} has {c} facilitators; each team needs {rule}.",
                    tuple(
                        people[i].id for i in range(len(people)) if plan.fac[i] and team_of[i] == t
                    ),
                )
            )
    return out


def _build(
    plan: _Plan,
    model: _Model,
    team_of: Sequence[int],
    name_format: str,
    stats: dict,
) -> Assignment:
    people, k = plan.people, plan.k
    groups: list[list[int]] = [[] for _ in range(k)]
    for i, t in enumerate(team_of):
        groups[t].append(i)
    per_team_cost = [0.0] * k
    for t, members in enumerate(groups):
        sub_counts: Counter = Counter()
        for i in members:
            for g, w in zip(model.feat[i], model.fw[i], strict=True):
                per_team_cost[t] += w * sub_counts[g]
                sub_counts[g] += 1
            if model.tpen is not None:
                per_team_cost[t] += model.tpen[i][t]
    teams = []
    for t, members in enumerate(groups):
        ps = [people[i] for i in members]
        topic = plan.topics[t]

        def counts(attr: str, ps=ps) -> dict[str, int]:
            c = Counter(getattr(p, attr) for p in ps if getattr(p, attr))
            return dict(sorted(c.items(), key=lambda kv: (-kv[1], str(kv[0]))))

        orgs, prefs = counts("organization"), counts("prefecture")
        facs = [p for p in ps if p.facilitator]
        matches = sum(1 for p in ps if topic is not None and topic in p.topics)
        parts = [f"{len(ps)} people from {len(orgs)} organisations and {len(prefs)} prefectures"]
        repeats = [f"{c} from {o}" for o, c in orgs.items() if c > 1]
        if repeats:
            parts.append("; ".join(repeats))
        if facs:
            parts.append("facilitator: " + ", ".join(_label(p) for p in facs))
        if topic is not None:
            wanting = sum(1 for p in ps if p.topics)
            parts.append(f"topic {topic} ({matches} of {wanting} asked for it)")
        explanation = TeamExplanation(
            size=len(ps),
            organizations=orgs,
            prefectures=prefs,
            regions=counts("region"),
            kinds=counts("kind"),
            facilitators=[_label(p) for p in facs],
            facilitator_ids=[p.id for p in facs],
            topic_matches=matches,
            cost=per_team_cost[t],
            summary="; ".join(parts) + ".",
        )
        teams.append(
            Team(
                index=t,
                name=topic if topic is not None else name_format.format(number=t + 1, index=t),
                topic=topic,
                members=[p.id for p in ps],
                facilitators=[p.id for p in facs],
                explanation=explanation,
            )
        )
    return Assignment(
        teams=teams,
        score=sum(per_team_cost),
        violations=_violations(plan, team_of),
        lower_bound=model.lower_bound(k),
        stats=stats,
    )


def assign(
    people: Sequence[Person],
    *,
    team_count: int | None = None,
    team_size: int | None = None,
    seed: int = 0,
    keep_apart: Iterable[Sequence] = (),
    keep_together: Iterable[Sequence] = (),
    locked: Mapping | None = None,
    topics: Sequence[str | None] | None = None,
    weights: Weights = Weights(),  # noqa: B008 - frozen dataclass, safe as a default
    time_limit: float | None = 1.0,
    max_iterations: int | None = None,
    name_format: str = "Team {number}",
) -> Assignment:
    """Split ``people`` into ``team_count`` teams (or teams of at most ``team_size``).

    ``keep_apart`` and ``keep_together`` are groups of person ids; ``locked`` maps a person id
    to a team index (0-based); ``topics`` gives one topic (also the team name) per team. The
    search stops after ``time_limit`` seconds or ``max_iterations`` steps, whichever comes
    first (pass ``time_limit=None`` for a run that depends on the seed alone), or at once when
    the score reaches the lower bound. Raises :class:`AssignmentError` when the rules cannot
    all be met (``no_feasible_assignment`` when a search proves it, or finds no such teams
    within the budget).
    """
    plan, problems = _plan(
        people,
        team_count=team_count,
        team_size=team_size,
        keep_apart=keep_apart,
        keep_together=keep_together,
        locked=locked,
        topics=topics,
    )
    if plan is None:
        raise AssignmentError.from_violations(problems)
    model = _Model(plan, weights)
    budget = Budget(time_limit, max_iterations)
    team_of, stats = _solve(plan, model, seed, budget)
    return _build(plan, model, team_of, name_format, stats)


def evaluate(
    people: Sequence[Person],
    teams: Sequence[Sequence],
    *,
    keep_apart: Iterable[Sequence] = (),
    keep_together: Iterable[Sequence] = (),
    locked: Mapping | None = None,
    topics: Sequence[str | None] | None = None,
    weights: Weights = Weights(),  # noqa: B008 - frozen dataclass, safe as a default
    name_format: str = "Team {number}",
) -> Assignment:
    """Score and check teams made (or changed) by hand: ``teams`` lists the member ids of each
    team. Broken rules come back as violations instead of an error, so a screen can show them.
    Raises :class:`AssignmentError` only when the input itself is contradictory."""
    people = list(people)
    plan, problems = _plan(
        people,
        team_count=len(teams),
        team_size=None,
        keep_apart=keep_apart,
        keep_together=keep_together,
        locked=None,
        topics=topics,
    )
    if plan is None:
        raise AssignmentError.from_violations(problems)
    team_of = [-1] * len(people)
    extra: list[Violation] = []
    for t, members in enumerate(teams):
        for pid in members:
            i = plan.index.get(pid)
            if i is None:
                extra.append(
                    Violation("unknown_person", f"Team {t} lists someone unknown: {pid}", (pid,))
                )
            elif team_of[i] >= 0:
                extra.append(
                    Violation("duplicate_person", f"{_label(people[i])} is in two teams.", (pid,))
                )
            else:
                team_of[i] = t
    missing = [people[i].id for i, t in enumerate(team_of) if t < 0]
    if missing:
        extra.append(
            Violation(
                "unassigned",
                "Not in any team: " + ", ".join(map(str, missing)),
                tuple(missing),
            )
        )
    if extra:
        # incomplete assignment: report what is wrong, score what is there
        placed = [t if t >= 0 else 0 for t in team_of]
        result = _build(plan, _Model(plan, weights), placed, name_format, {})
        for team in result.teams:
            team.members = [m for m in team.members if team_of[plan.index[m]] >= 0]
        result.violations = extra
        return result
    for pid, t in (locked or {}).items():
        i = plan.index.get(pid)
        if i is not None and team_of[i] != t:
            extra.append(
                Violation(
                    "locked",
                    f"{_label(people[i])} is locked to team {t} but is in team {team_of[i]}.",
                    (pid,),
                )
            )
    result = _build(plan, _Model(plan, weights), team_of, name_format, {})
    result.violations = extra + result.violations
    return result
