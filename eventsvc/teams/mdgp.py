"""The generic maximally diverse grouping problem (MDGP), as in the MDGPLIB benchmark.

Pure: imports only the standard library. Maximise ``Σ d_ij`` over pairs placed in the same
group, each group ``g`` holding between ``lb_g`` and ``ub_g`` elements; ``d`` is any symmetric
matrix of reals.

:func:`solve_mdgp` is an iterated tabu search over the move and swap neighbourhoods. It keeps an
n × G matrix of sums to groups (``col[g][i] = Σ_{j in g} d_ij``, stored column by column) so a
candidate is evaluated in O(1) — moving ``i`` from A to B gains ``col[B][i] − col[A][i]``,
swapping ``i`` (in A) with ``j`` (in B) gains that plus the same for ``j`` minus ``2·d_ij`` —
and applying a move updates two columns in O(n). Each iteration takes the best admissible
neighbour; whole pairs of groups whose best possible gain (from the largest per-element gains)
cannot beat the best neighbour found so far are skipped. After a tabu phase stops improving, the
best solution is perturbed with random swaps (iterated tabu search). It shares
:class:`eventsvc.teams.assign.Budget` with the team assignment: deterministic for a seed and an
iteration budget, a time budget only decides where it stops.

Also here: readers for the MDGPLIB instance and solution formats and the objective, which the
benchmark uses to check certificates.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import add, sub

from eventsvc.teams.assign import Budget

#: Tabu tenure: this fraction of the mean group size, plus a random part as large again.
TENURE_FACTOR = 0.5
#: Iterations without a new best before the best solution is perturbed (at least 2,000).
PHASE_PER_ELEMENT = 20
#: Random swaps per perturbation, as a fraction of n (at least 2).
PERTURB_FRACTION = 0.05


@dataclass
class MdgpInstance:
    n: int
    bounds: list[tuple[int, int]]  # (lb, ub) per group
    d: list[list[float]]  # symmetric n × n, zero diagonal
    size_type: str = ""


@dataclass
class MdgpSolution:
    groups: list[int]  # group index of each element
    value: float
    stats: dict = field(default_factory=dict, compare=False)


def parse_instance(text: str) -> MdgpInstance:
    """An MDGPLIB file: ``n G ss|ds a_1 b_1 … a_G b_G`` then ``i j d_ij`` lines (i < j)."""
    lines = iter(text.splitlines())
    head = next(lines).split()
    n, g, size_type = int(head[0]), int(head[1]), head[2]
    nums = [int(x) for x in head[3 : 3 + 2 * g]]
    bounds = [(nums[2 * k], nums[2 * k + 1]) for k in range(g)]
    d = [[0.0] * n for _ in range(n)]
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        i, j, v = int(parts[0]), int(parts[1]), float(parts[2])
        d[i][j] = d[j][i] = v
    return MdgpInstance(n=n, bounds=bounds, d=d, size_type=size_type)


def parse_solution(text: str) -> tuple[float | None, list[int], list[tuple[int, int]] | None]:
    """A solution certificate → (stated value or None, group of each element, bounds or None).

    Reads the TPSDP format (a header line, ``N = n  G = g  f = value``, g lines
    ``lb ub size``, n lines ``index group``) and the plain ``index group`` format with ``#``
    comment lines (the value then comes from a comment saying ``objective <value>``).
    """
    value = None
    bounds = None
    rows = [ln.strip() for ln in text.splitlines() if ln.strip()]
    body = rows
    for pos, line in enumerate(rows):
        if line.startswith("N ="):
            fields = line.replace("=", " ").split()
            value = float(fields[fields.index("f") + 1])
            g = int(fields[fields.index("G") + 1])
            bounds = []
            for row in rows[pos + 1 : pos + 1 + g]:
                lb, ub, _size = (int(x) for x in row.split())
                bounds.append((lb, ub))
            body = rows[pos + 1 + g :]
            break
    pairs: list[tuple[int, int]] = []
    for line in body:
        if line.startswith("#"):
            found = re.search(r"objective\s+(-?[0-9.]+)", line)
            if value is None and found:
                value = float(found.group(1))
            continue
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            pairs.append((int(parts[0]), int(parts[1])))
    groups = [0] * len(pairs)
    for i, gi in pairs:
        groups[i] = gi
    return value, groups, bounds


def objective(d: Sequence[Sequence[float]], groups: Sequence[int]) -> float:
    """Σ d_ij over pairs i < j in the same group."""
    by_group: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    total = 0.0
    for members in by_group.values():
        for a, i in enumerate(members):
            row = d[i]
            total += sum(row[j] for j in members[a + 1 :])
    return total


def size_violations(groups: Sequence[int], bounds: Sequence[tuple[int, int]]) -> list[str]:
    sizes = [0] * len(bounds)
    for g in groups:
        sizes[g] += 1
    return [
        f"group {g} has {s} elements, bounds [{lb}, {ub}]"
        for g, (s, (lb, ub)) in enumerate(zip(sizes, bounds, strict=True))
        if not lb <= s <= ub
    ]


# --------------------------------------------------------------------------------------------


class _State:
    """Groups, sums to groups and the gains derived from them, kept up to date incrementally.

    ``col[g][i]`` = Σ_{j in g} d_ij; ``cur[i]`` = col[group of i][i]; ``gm[g][i]`` = gain of
    moving i to g; ``top[A][B]`` = max gain of moving a member of A to B. After elements move
    between groups A and B, only ``col``/``gm`` of A and B, the rows of A's and B's members and
    the entries of ``top`` that involve A or B change: O(n) work instead of O(n·G).
    """

    def __init__(self, d: list[list[float]], groups: Sequence[int], G: int):
        n = len(d)
        self.d = d
        self.n = n
        self.G = G
        self.grp = list(groups)
        self.mem: list[list[int]] = [[] for _ in range(G)]
        for i, g in enumerate(self.grp):
            self.mem[g].append(i)
        self.col = []
        for g in range(G):
            c = [0.0] * n
            for j in self.mem[g]:
                c = list(map(add, c, d[j]))
            self.col.append(c)
        self.value = sum(sum(self.col[g][i] for i in self.mem[g]) for g in range(G)) / 2
        self.cur = [self.col[g][i] for i, g in enumerate(self.grp)]
        self.gm = [list(map(sub, c, self.cur)) for c in self.col]
        self.top = [[0.0] * G for _ in range(G)]
        for A in range(G):
            for B in range(G):
                self._top(A, B)

    def _top(self, A: int, B: int) -> None:
        mA = self.mem[A]
        self.top[A][B] = max(map(self.gm[B].__getitem__, mA)) if mA and A != B else -1e300

    def shift(self, i: int, B: int) -> None:
        """Move i to B, updating col, grp, mem and value only (call refresh afterwards)."""
        A = self.grp[i]
        row = self.d[i]
        self.value += self.col[B][i] - self.col[A][i]
        self.col[A] = list(map(sub, self.col[A], row))
        self.col[B] = list(map(add, self.col[B], row))
        self.mem[A].remove(i)
        self.mem[B].append(i)
        self.grp[i] = B

    def refresh(self, A: int, B: int) -> None:
        col, cur, gm, mem = self.col, self.cur, self.gm, self.mem
        G = self.G
        colA, colB = col[A], col[B]
        for i in mem[A]:
            cur[i] = colA[i]
        for i in mem[B]:
            cur[i] = colB[i]
        gm[A] = list(map(sub, colA, cur))
        gm[B] = list(map(sub, colB, cur))
        others = [g for g in range(G) if g != A and g != B]
        for g in others:
            cg, gg = col[g], gm[g]
            for i in mem[A]:
                gg[i] = cg[i] - cur[i]
            for i in mem[B]:
                gg[i] = cg[i] - cur[i]
        top = self.top
        for X in (A, B):
            mX = mem[X]
            row = top[X]
            for Y in range(G):
                row[Y] = max(map(gm[Y].__getitem__, mX)) if mX and X != Y else -1e300
        for X in others:
            mX = mem[X]
            if mX:
                top[X][A] = max(map(gm[A].__getitem__, mX))
                top[X][B] = max(map(gm[B].__getitem__, mX))

    def move(self, i: int, B: int) -> None:
        A = self.grp[i]
        self.shift(i, B)
        self.refresh(A, B)


def _target_sizes(bounds: Sequence[tuple[int, int]], n: int, rng: random.Random) -> list[int]:
    """Group sizes that maximise the number of within-group pairs, Σ C(s_g, 2).

    With distances of similar magnitude, more pairs mean a larger objective, and best-known
    solutions put (almost) every group at one of its bounds. Dynamic programming over groups;
    ties between equally good sizes are broken at random.
    """
    G = len(bounds)
    neg = -1
    # best[g][t]: max pairs using groups g.. holding exactly t elements
    best = [[neg] * (n + 1) for _ in range(G + 1)]
    best[G][0] = 0
    for g in range(G - 1, -1, -1):
        lb, ub = bounds[g]
        nxt, row = best[g + 1], best[g]
        for t in range(n + 1):
            top = neg
            for s in range(lb, min(ub, t) + 1):
                rest = nxt[t - s]
                if rest >= 0 and rest + s * (s - 1) // 2 > top:
                    top = rest + s * (s - 1) // 2
            row[t] = top
    sizes = []
    t = n
    for g in range(G):
        lb, ub = bounds[g]
        options = [
            s
            for s in range(lb, min(ub, t) + 1)
            if best[g + 1][t - s] >= 0 and best[g + 1][t - s] + s * (s - 1) // 2 == best[g][t]
        ]
        s = rng.choice(options)
        sizes.append(s)
        t -= s
    return sizes


def _initial(d, bounds, rng: random.Random) -> list[int]:
    """Sizes from :func:`_target_sizes`, then a greedy fill that puts each element (random
    order) where it adds the most."""
    n, G = len(d), len(bounds)
    target = _target_sizes(bounds, n, rng)
    order = list(range(n))
    rng.shuffle(order)
    groups = [-1] * n
    sums = [[0.0] * G for _ in range(n)]
    fill = [0] * G
    # seed each group with one random element, then greedy
    for g in range(G):
        if target[g] == 0:
            continue
        i = order.pop()
        groups[i] = g
        fill[g] += 1
        for j in range(n):
            sums[j][g] += d[i][j]
    for i in order:
        s = sums[i]
        best = max((g for g in range(G) if fill[g] < target[g]), key=s.__getitem__)
        groups[i] = best
        fill[best] += 1
        row = d[i]
        for j in range(n):
            sums[j][best] += row[j]
    return groups


def solve_mdgp(
    d: Sequence[Sequence[float]],
    group_bounds: Sequence[tuple[int, int]],
    *,
    seed: int = 0,
    time_limit: float | None = 1.0,
    max_iterations: int | None = None,
    initial: Sequence[int] | None = None,
) -> MdgpSolution:
    """Maximise the within-group sum of ``d`` with group sizes inside ``group_bounds``.

    Stops after ``time_limit`` seconds or ``max_iterations`` tabu iterations, whichever comes
    first; ``time_limit=None`` makes the result depend on the seed alone.
    """
    d = [list(map(float, row)) for row in d]
    n, G = len(d), len(group_bounds)
    bounds = [(int(lb), int(ub)) for lb, ub in group_bounds]
    if G == 0 or sum(lb for lb, _ in bounds) > n or sum(ub for _, ub in bounds) < n:
        raise ValueError("the group bounds cannot hold exactly n elements")
    rng = random.Random(seed)
    budget = Budget(time_limit, max_iterations)
    groups = list(initial) if initial is not None else _initial(d, bounds, rng)
    if len(groups) != n or any(not 0 <= g < G for g in groups) or size_violations(groups, bounds):
        raise ValueError("the initial grouping does not fit the group bounds")
    st = _State(d, groups, G)
    best_value, best_groups = st.value, st.grp[:]
    best_time = budget.elapsed()
    if G == 1 or n < 2:
        return MdgpSolution(best_groups, best_value, {"iterations": 0, "seconds": 0.0})
    d2 = [[2.0 * x for x in row] for row in d]
    dmin2 = 2.0 * min(min(row[:i] + row[i + 1 :]) for i, row in enumerate(d))
    lbs = [lb for lb, _ in bounds]
    ubs = [ub for _, ub in bounds]
    movable = any(lb < ub for lb, ub in bounds)
    tabu = [0] * (n * G)
    base_tenure = max(3, int(TENURE_FACTOR * n / G))
    phase_len = max(2000, PHASE_PER_ELEMENT * n)
    strength = max(2, int(n * PERTURB_FRACTION))
    rand = rng.random
    it = 0
    since_best = 0
    perturbations = 0
    ninf = float("-inf")
    eps = 1e-9
    pairs = [(A, B) for A in range(G) for B in range(A + 1, G)]
    while not budget.tick():
        it += 1
        gm, mem, top = st.gm, st.mem, st.top
        asp = best_value - st.value  # a tabu move is allowed when it beats the best known
        best = ninf
        choice = None
        if movable:
            for A in range(G):
                if len(mem[A]) <= lbs[A]:
                    continue
                tA = top[A]
                for B in range(G):
                    if B == A or tA[B] <= best or len(mem[B]) >= ubs[B]:
                        continue
                    gB = gm[B]
                    for i in mem[A]:
                        v = gB[i]
                        if v > best and (tabu[i * G + B] <= it or v > asp + eps):
                            best, choice = v, (i, B, -1)
        # swaps: group pairs by their best possible gain, most promising first
        order = sorted(((top[A][B] + top[B][A], A, B) for A, B in pairs), reverse=True)
        for bound, A, B in order:
            if bound - dmin2 <= best:
                break
            gB, gA = gm[B], gm[A]
            mB = mem[B]
            tb = top[B][A]
            limit = best + dmin2 - tb  # i can only help when gB[i] > limit
            for i in mem[A]:
                gi = gB[i]
                if gi <= limit:
                    continue
                di = d2[i]
                ti = tabu[i * G + B] > it
                for j in mB:
                    v = gi + gA[j] - di[j]
                    if v > best or (v == best and rand() < 0.5):
                        if (ti or tabu[j * G + A] > it) and v <= asp + eps:
                            continue
                        best, choice = v, (i, B, j)
                        limit = best + dmin2 - tb
        if choice is None:
            tabu = [0] * (n * G)  # everything was tabu
            continue
        i, B, j = choice
        A = st.grp[i]
        st.shift(i, B)
        tabu[i * G + A] = it + base_tenure + rng.randrange(base_tenure + 1)
        if j >= 0:
            st.shift(j, A)
            tabu[j * G + B] = it + base_tenure + rng.randrange(base_tenure + 1)
        st.refresh(A, B)
        if st.value > best_value + eps:
            best_value, best_groups = st.value, st.grp[:]
            best_time = budget.elapsed()
            since_best = 0
        else:
            since_best += 1
            if since_best >= phase_len:
                # iterated tabu search: perturb the best solution and search from there
                st = _State(d, best_groups, G)
                _perturb(st, rng, strength)
                tabu = [0] * (n * G)
                since_best = 0
                perturbations += 1
    return MdgpSolution(
        groups=best_groups,
        value=best_value,
        stats={
            "iterations": it,
            "perturbations": perturbations,
            "seconds_to_best": best_time,
            "seconds": budget.elapsed(),
        },
    )


def _perturb(st: _State, rng: random.Random, strength: int) -> None:
    n = st.n
    for _ in range(strength):
        i, j = rng.randrange(n), rng.randrange(n)
        A, B = st.grp[i], st.grp[j]
        if A != B:
            st.shift(i, B)
            st.shift(j, A)
            st.refresh(A, B)
