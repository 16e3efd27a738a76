"""What check-in keeps about people, and how it is erased; who event staff are in the audit log.

Erasure (plugged into :mod:`eventsvc.registration.privacy`): an admission stays as a
count (its time, method and result) but loses who admitted it or undid it (the label, and
the organizer or staff link it points to) and from which device; the scan log loses the
same, and the hash of what was scanned. An organizer's "delete everywhere" removes the
person's admissions and log rows altogether.
"""

from __future__ import annotations

from flask import request, session
from sqlalchemy import delete, or_, update

from ..audit import service as audit
from ..extensions import db
from ..registration.privacy import Erasure, register_eraser
from .models import Checkin, CheckinLog, StaffLink

#: the session key of a staff link's session (``views.STAFF_KEY``; not imported: views import this)
STAFF_KEY = "checkin_staff"


def erase(er: Erasure) -> dict[str, int]:
    ids = er.registration_ids or [-1]
    if er.delete:
        logs = db.session.execute(delete(CheckinLog).where(CheckinLog.registration_id.in_(ids))).rowcount
        checkins = db.session.execute(delete(Checkin).where(Checkin.registration_id.in_(ids))).rowcount
        return {"checkins_deleted": checkins, "checkin_log_deleted": logs}
    # who admitted (and who undid it): the label and the organizer or staff link behind it
    personal = or_(Checkin.actor_label != "", Checkin.undone_by != "", Checkin.organizer_id.is_not(None),
                   Checkin.staff_link_id.is_not(None), Checkin.device_id != "", Checkin.nonce.is_not(None))
    checkins = db.session.execute(
        update(Checkin).where(Checkin.registration_id.in_(ids), personal)
        .values(actor_label="", undone_by="", organizer_id=None, staff_link_id=None, device_id="", nonce=None)
        .execution_options(synchronize_session=False)).rowcount
    whose = CheckinLog.registration_id.in_(ids)
    if er.whole_event:  # scans of codes nobody of this event holds, too
        whose = or_(whose, (CheckinLog.event_id == er.event.id) & CheckinLog.registration_id.is_(None))
    log_personal = or_(CheckinLog.actor_label != "", CheckinLog.device_id != "", CheckinLog.input_hash != "",
                       CheckinLog.nonce.is_not(None))
    logs = db.session.execute(
        update(CheckinLog).where(whose, log_personal)
        .values(actor_label="", device_id="", input_hash="", nonce=None)
        .execution_options(synchronize_session=False)).rowcount
    return {"checkins_anonymised": checkins, "checkin_log_anonymised": logs}


register_eraser("checkin", erase)


def staff_actor(principal) -> audit.Actor | None:
    """A staff link acting through the check-in API (its token) or the desk (its session)."""
    if isinstance(principal, StaffLink):
        return audit.Actor("staff", principal.label)
    if principal is None and request.blueprint == "checkin":
        staff = session.get(STAFF_KEY)
        if isinstance(staff, dict) and str(staff.get("link", "")).isdigit():
            link = db.session.get(StaffLink, int(staff["link"]))
            if link is not None:
                return audit.Actor("staff", link.label)
    return None


audit.register_actor_resolver(staff_actor)
