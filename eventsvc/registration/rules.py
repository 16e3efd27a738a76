"""Registration policy: who is admitted, who waits, who is reviewed.

Pure: imports only the standard library. The service counts seats under a lock
and asks :func:`admission`; everything here is a plain function of its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.i18n import N_

#: statuses a new registration can start in
CONFIRMED, WAITLISTED, PENDING_REVIEW, APPLIED = "confirmed", "waitlisted", "pending_review", "applied"


def email_domain(email: str) -> str:
    """The part after the last ``@`` (the address is already normalised)."""
    return email.rpartition("@")[2].rstrip(".")


def domain_allowed(email: str, allow_list: list[str] | tuple[str, ...]) -> bool:
    """True when the address's domain *is* an allowed suffix or ends with it on a label boundary.

    ``a@city.naha.okinawa.jp`` is not ``lg.jp``; ``a@lg.jp.evil.com`` and ``a@evil-lg.jp``
    are not either: only ``lg.jp`` itself or ``….lg.jp`` (a dot before the suffix) counts.
    """
    domain = email_domain(email)
    if not domain or "@" not in email:
        return False
    for raw in allow_list:
        suffix = raw.strip().lower().lstrip("@").strip(".")
        if not suffix:
            continue
        if domain == suffix or domain.endswith("." + suffix):
            return True
    return False


def is_national(email: str) -> bool:
    """National-agency staff (``go.jp``): team facilitators by default."""
    return domain_allowed(email, ("go.jp",))


@dataclass(frozen=True)
class Decision:
    """Where a new (or approved) registration goes, and why."""

    status: str
    reason: str  #: ``seat_free``, ``full``, ``lottery``, ``domain_review``


def admission(*, capacity: int, taken: int, email: str, allow_list: list[str], selection: str,
              drawn: bool = False, reviewed: bool = False) -> Decision:
    """Decide the starting status of a registration.

    - an address outside the allow-list waits for an organizer (unless ``reviewed``);
    - lottery events collect ``applied`` registrations until the draw (``drawn``);
    - first-come: a free seat confirms, otherwise the waitlist.

    ``taken`` counts the seats held (confirmed + offered) at the moment of the decision,
    under the caller's lock.
    """
    if not reviewed and not domain_allowed(email, allow_list):
        return Decision(PENDING_REVIEW, "domain_review")
    if selection == "lottery" and not drawn:
        return Decision(APPLIED, "lottery")
    if taken < capacity:
        return Decision(CONFIRMED, "seat_free")
    return Decision(WAITLISTED, "full")


def registration_window(*, now: datetime, status: str, opens_at: datetime | None,
                        closes_at: datetime | None, ends_at: datetime) -> str | None:
    """None when registration is open, else a reason code."""
    if status != "published":
        return "not_published" if status == "draft" else "event_" + status
    if opens_at is not None and now < opens_at:
        return "not_open_yet"
    if closes_at is not None and now >= closes_at:
        return "closed"
    if now >= ends_at:
        return "event_over"
    return None


WINDOW_MESSAGES = {
    "not_published": N_("このイベントはまだ公開されていません。"),
    "event_closed": N_("このイベントの申込受付は終了しました。"),
    "event_cancelled": N_("このイベントは中止になりました。"),
    "not_open_yet": N_("申込受付はまだ始まっていません。"),
    "closed": N_("申込受付は終了しました。"),
    "event_over": N_("このイベントは終了しました。"),
}


def seats_to_fill(capacity: int, taken: int) -> int:
    """How many waitlisted people can move up now."""
    return max(0, capacity - taken)


def waitlist_position(rank: int, ranks_ahead: list[int]) -> int:
    """1-based position of ``rank`` among the waitlist (``ranks_ahead`` are all waitlisted ranks)."""
    return 1 + sum(1 for r in ranks_ahead if r < rank)
