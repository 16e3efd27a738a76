"""The lottery draw: seeded, fair across organisations, and re-checkable by anyone.

Pure: imports only the standard library.

How a draw orders the applicants (``H`` is SHA-256 of ``seed|label|value``, read as hex)::

    round 1: one person per organisation — the member with the smallest H(seed, "member", id) —
             organisations ordered by H(seed, "org", organisation key)
    round 2: everyone else, ordered by H(seed, "rest", id)

The first ``seats`` people of that order win; the rest form the waitlist in that order.
The seed, the applicants (id + organisation key) and the result are recorded, so
:func:`verify` (or a few lines in any language) can recompute the same order.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Applicant:
    id: int
    org: str  #: organisation key: code, or the normalised free-text name, or the e-mail domain


@dataclass(frozen=True)
class Draw:
    seed: str
    seats: int
    order: tuple[int, ...]  #: everyone, in drawn order
    won: tuple[int, ...]
    waitlist: tuple[int, ...]

    def as_record(self, applicants: list[Applicant]) -> dict:
        return {"algorithm": "org-fair-sha256-v1", "seed": self.seed, "seats": self.seats,
                "applicants": [[a.id, a.org] for a in sorted(applicants, key=lambda a: a.id)],
                "order": list(self.order), "won": list(self.won), "waitlist": list(self.waitlist)}


def new_seed() -> str:
    """A fresh random seed (128 bits, hex)."""
    return secrets.token_hex(16)


def _h(seed: str, label: str, value: object) -> str:
    return hashlib.sha256(f"{seed}|{label}|{value}".encode()).hexdigest()


def draw(applicants: list[Applicant], seats: int, seed: str) -> Draw:
    """Order ``applicants`` fairly and split them into winners and waitlist."""
    if seats < 0:
        raise ValueError("seats must be ≥ 0")
    ids = [a.id for a in applicants]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate applicant ids")
    by_org: dict[str, list[Applicant]] = {}
    for a in applicants:
        by_org.setdefault(a.org, []).append(a)
    firsts = []
    for org, members in by_org.items():
        rep = min(members, key=lambda a: _h(seed, "member", a.id))
        firsts.append((_h(seed, "org", org), rep.id))
    firsts.sort()
    first_ids = [i for _, i in firsts]
    chosen = set(first_ids)
    rest = sorted((a.id for a in applicants if a.id not in chosen), key=lambda i: _h(seed, "rest", i))
    order = tuple(first_ids + rest)
    return Draw(seed=seed, seats=seats, order=order, won=order[:seats], waitlist=order[seats:])


def verify(record: dict) -> bool:
    """True when the recorded result is what the recorded seed and applicants give."""
    applicants = [Applicant(int(i), str(org)) for i, org in record["applicants"]]
    again = draw(applicants, int(record["seats"]), str(record["seed"]))
    return (list(again.order) == list(record["order"]) and list(again.won) == list(record["won"])
            and list(again.waitlist) == list(record["waitlist"]))
