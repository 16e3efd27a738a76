"""Benchmark of team assignment (eventsvc.teams.assign / eventsvc.teams.mdgp).

Reads the yardsticks from ../shared/bench/mdgp (see its README.md and SOURCES.md) at run time;
they are not copied into this repository. Prints figures; asserts nothing.

    .venv/bin/python bench/teams.py                      # everything (~18 min: MDGPLIB 5 seeds)
    .venv/bin/python bench/teams.py --only realistic     # the realistic rosters (seconds)
    .venv/bin/python bench/teams.py --quick              # shorter budgets, 1 seed
    .venv/bin/python bench/teams.py --only mdgplib --instances RanReal_n120_ss_01 --seeds 2

Sections:
  certificates  recompute the objective of every solution certificate in solutions/
  realistic     realistic/*.csv rosters with their keep pairs, benchmark objective
                (100·same org + 10·same pref + 3·same size class, national not counted),
                target = proven optimum / spread lower bound from results.csv
  small         MDGPLIB n=10..30 against the CP-SAT values of cpsat_small.csv (hit exactly)
  mdgplib       MDGPLIB n=120/240/480 against TPSDP's best (bks_tpsdp.csv), mean over seeds,
                10 s for n<=240 and 30 s for n=480
Every result is checked by this script's own evaluator, not the solver's.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eventsvc.teams.assign import BENCHMARK_WEIGHTS, Person, assign  # noqa: E402
from eventsvc.teams.mdgp import (  # noqa: E402
    objective,
    parse_instance,
    parse_solution,
    size_violations,
    solve_mdgp,
)

#: Teams per roster (bench/mdgp README).
ROSTER_TEAMS = {
    "roster_40": 6,
    "roster_40b": 6,
    "roster_80": 12,
    "roster_200": 20,
    "roster_400": 40,
    "roster_2000": 200,
}
#: Time budget per roster: the targets are 40/80/200 people < 1 s, 400 < 2 s, 2,000 < 5 s.
ROSTER_SECONDS = {
    "roster_40": 1.0,
    "roster_40b": 1.0,
    "roster_80": 1.0,
    "roster_200": 1.0,
    "roster_400": 2.0,
    "roster_2000": 5.0,
}
MDGPLIB_SECONDS = {120: 10.0, 240: 10.0, 480: 30.0}
QUICK_SECONDS = {120: 2.0, 240: 3.0, 480: 6.0}


def table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))
    print()


# -------------------------------------------------------------------------------- realistic


def read_roster(data: Path, name: str):
    with open(data / "realistic" / f"{name}.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with open(data / "realistic" / f"{name}.pairs.csv", encoding="utf-8") as fh:
        pairs = list(csv.DictReader(fh))
    return rows, pairs


def roster_objective(rows: list[dict], teams: list[list[str]]) -> int:
    """The README's objective, computed from the CSV rows directly."""
    by_id = {r["id"]: r for r in rows}
    total = 0
    for members in teams:
        for a in range(len(members)):
            x = by_id[members[a]]
            for b in range(a + 1, len(members)):
                y = by_id[members[b]]
                total += 100 * (x["org"] == y["org"]) + 10 * (x["pref"] == y["pref"])
                total += 3 * (x["size"] == y["size"] and x["size"] != "national")
    return total


def roster_violations(rows, pairs, teams: list[list[str]]) -> list[str]:
    """Hard rules: everyone exactly once, floor/ceil sizes, keep pairs, facilitator rule."""
    out = []
    n, k = len(rows), len(teams)
    placed = Counter(m for t in teams for m in t)
    ids = {r["id"] for r in rows}
    if set(placed) != ids or any(c != 1 for c in placed.values()):
        out.append("not everyone exactly once")
    lo, hi = n // k, math.ceil(n / k)
    out += [f"team {t} size {len(m)}" for t, m in enumerate(teams) if not lo <= len(m) <= hi]
    team_of = {m: t for t, ms in enumerate(teams) for m in ms}
    for p in pairs:
        same = team_of.get(p["id_a"]) == team_of.get(p["id_b"])
        if (p["kind"] == "keep_apart") == same:
            out.append(f"{p['kind']} {p['id_a']} {p['id_b']}")
    fac = {r["id"] for r in rows if r["role"] == "facilitator"}
    f = len(fac)
    flo, fhi = (1, math.ceil(f / k)) if f >= k else (0, 1)
    for t, ms in enumerate(teams):
        c = sum(1 for m in ms if m in fac)
        if not flo <= c <= fhi:
            out.append(f"team {t} has {c} facilitators")
    return out


def run_realistic(data: Path, quick: bool, seed: int) -> list[dict]:
    with open(data / "realistic" / "results.csv", encoding="utf-8") as fh:
        results = {r["roster"]: r for r in csv.DictReader(fh)}
    rows_out = []
    for name, k in ROSTER_TEAMS.items():
        rows, pairs = read_roster(data, name)
        people = [
            Person(
                id=r["id"],
                organization=r["org"],
                prefecture=r["pref"],
                region=None,
                kind=r["size"],
                facilitator=r["role"] == "facilitator",
                topics=(r["topic"],),
            )
            for r in rows
        ]
        apart = [(p["id_a"], p["id_b"]) for p in pairs if p["kind"] == "keep_apart"]
        together = [(p["id_a"], p["id_b"]) for p in pairs if p["kind"] == "keep_together"]
        res = results[name]
        known = [float(res[c]) for c in ("cpsat_objective", "proto_final_objective") if res[c]]
        target = max(float(res["spread_lower_bound"]), min(known))
        budget = ROSTER_SECONDS[name] / (2 if quick else 1)
        started = time.perf_counter()
        result = assign(
            people,
            team_count=k,
            seed=seed,
            keep_apart=apart,
            keep_together=together,
            weights=BENCHMARK_WEIGHTS,
            time_limit=budget,
        )
        seconds = time.perf_counter() - started
        teams = [list(t.members) for t in result.teams]
        score = roster_objective(rows, teams)
        violations = roster_violations(rows, pairs, teams)
        if abs(score - result.score) > 1e-6:
            violations.append(f"solver says {result.score}, evaluator says {score}")
        if abs(result.lower_bound - float(res["spread_lower_bound"])) > 1e-6:
            violations.append(f"lower bound {result.lower_bound} != {res['spread_lower_bound']}")
        rows_out.append(
            {
                "instance": name,
                "n": len(rows),
                "teams": k,
                "budget": f"{budget:g}",
                "seconds": f"{seconds:.2f}",
                "to_best": f"{result.stats['seconds_to_best']:.2f}",
                "objective": score,
                "target": f"{target:g}",
                "gap": f"{100 * (score - target) / target:.2f}%",
                "hard violations": len(violations),
                "note": "; ".join(violations)[:80],
            }
        )
    return rows_out


# -------------------------------------------------------------------------------- MDGPLIB


def check_certificates(data: Path) -> list[dict]:
    out = []
    for path in sorted((data / "solutions").glob("*.txt")):
        name = path.name.split(".")[0]
        inst = parse_instance((data / "instances" / f"{name}.txt").read_text())
        stated, groups, bounds = parse_solution(path.read_text())
        value = objective(inst.d, groups)
        problems = size_violations(groups, inst.bounds)
        if bounds is not None and bounds != inst.bounds:
            problems.append("bounds differ from the instance")
        ok = stated is not None and abs(value - stated) < 1e-3 and not problems
        out.append(
            {
                "certificate": path.name,
                "n": inst.n,
                "stated": stated,
                "recomputed": f"{value:.3f}",
                "sizes ok": not problems,
                "check": "ok" if ok else "MISMATCH",
            }
        )
    return out


def run_small(data: Path, quick: bool) -> list[dict]:
    out = []
    with open(data / "cpsat_small.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        inst = parse_instance((data / "instances" / f"{r['instance']}.txt").read_text())
        target = float(r["objective"])
        started = time.perf_counter()
        sol = solve_mdgp(inst.d, inst.bounds, seed=0, time_limit=0.5 if quick else 1.0)
        seconds = time.perf_counter() - started
        value = objective(inst.d, sol.groups)
        out.append(
            {
                "instance": r["instance"],
                "n": inst.n,
                "teams": len(inst.bounds),
                "seconds": f"{seconds:.2f}",
                "to_best": f"{sol.stats['seconds_to_best']:.3f}",
                "objective": f"{value:.3f}",
                "target": f"{target:.3f} ({r['cpsat_status'].lower()})",
                "gap": f"{100 * (target - round(value, 3)) / target:.3f}%",
                "hard violations": len(size_violations(sol.groups, inst.bounds)),
            }
        )
    return out


def run_mdgplib(
    data: Path, quick: bool, seeds: int, only: list[str] | None, seconds_override: float | None
) -> list[dict]:
    with open(data / "bks_tpsdp.csv", encoding="utf-8") as fh:
        bks = [
            r
            for r in csv.DictReader(fh)
            if r["instance_file_here"] == "yes" and int(r["n"]) in MDGPLIB_SECONDS
        ]
    out = []
    for r in sorted(bks, key=lambda r: (int(r["n"]), r["instance"])):
        if only and r["instance"] not in only:
            continue
        inst = parse_instance((data / "instances" / f"{r['instance']}.txt").read_text())
        target = float(r["tpsdp_best"])
        budget = seconds_override or (QUICK_SECONDS if quick else MDGPLIB_SECONDS)[inst.n]
        values, gaps, bad, to_best = [], [], 0, []
        for seed in range(seeds):
            sol = solve_mdgp(inst.d, inst.bounds, seed=seed, time_limit=budget)
            value = objective(inst.d, sol.groups)
            if abs(value - sol.value) > 1e-6 * max(1.0, abs(value)):
                bad += 1  # the solver's own bookkeeping drifted
            bad += len(size_violations(sol.groups, inst.bounds))
            values.append(value)
            gaps.append(100 * (target - value) / target)
            to_best.append(sol.stats["seconds_to_best"])
            print(
                f"  {r['instance']} seed {seed}: {value:.3f} gap {gaps[-1]:.3f}% "
                f"(best after {to_best[-1]:.1f} s)",
                file=sys.stderr,
            )
        out.append(
            {
                "instance": r["instance"],
                "n": inst.n,
                "teams": len(inst.bounds),
                "seconds": f"{budget:g} x{seeds}",
                "objective": f"{statistics.mean(values):.3f}",
                "target": f"{target:.3f}",
                "gap": f"{statistics.mean(gaps):.3f}%",
                "worst": f"{max(gaps):.3f}%",
                "tpsdp avg gap": f"{100 * (target - float(r['tpsdp_avg'])) / target:.3f}%",
                "hard violations": bad,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "bench" / "mdgp",
        help="the bench/mdgp folder (default: ../shared/bench/mdgp from the repository)",
    )
    parser.add_argument(
        "--only",
        default="certificates,realistic,small,mdgplib",
        help="comma-separated sections: certificates, realistic, small, mdgplib",
    )
    parser.add_argument("--quick", action="store_true", help="shorter budgets, one seed")
    parser.add_argument("--seeds", type=int, default=None, help="MDGPLIB seeds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the realistic rosters")
    parser.add_argument("--instances", default=None, help="comma-separated MDGPLIB instances")
    parser.add_argument("--seconds", type=float, default=None, help="MDGPLIB budget per run")
    args = parser.parse_args(argv)
    data: Path = args.data
    if not (data / "README.md").exists():
        print(f"no benchmark data at {data}", file=sys.stderr)
        return 2
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    seeds = args.seeds or (1 if args.quick else 5)
    print(f"# eventsvc team assignment benchmark · Python {sys.version.split()[0]}")
    print(f"# data: {data}{' · quick' if args.quick else ''}\n")
    if "certificates" in sections:
        print("## Evaluator check against the solution certificates")
        table(
            check_certificates(data),
            ["certificate", "n", "stated", "recomputed", "sizes ok", "check"],
        )
    columns = ["instance", "n", "teams", "seconds", "objective", "target", "gap"]
    if "realistic" in sections:
        print("## Realistic rosters (minimise; target = proven optimum)")
        table(
            run_realistic(data, args.quick, args.seed),
            [*columns[:3], "budget", "seconds", "to_best", *columns[4:], "hard violations", "note"],
        )
    if "small" in sections:
        print("## Small MDGPLIB instances (maximise; target = CP-SAT)")
        table(
            run_small(data, args.quick), [*columns[:4], "to_best", *columns[4:], "hard violations"]
        )
    if "mdgplib" in sections:
        only = args.instances.split(",") if args.instances else None
        print(f"## MDGPLIB (maximise; target = TPSDP best; mean of {seeds} seed(s))")
        table(
            run_mdgplib(data, args.quick, seeds, only, args.seconds),
            [*columns, "worst", "tpsdp avg gap", "hard violations"],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
