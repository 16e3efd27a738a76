"""checkin: take back check-ins of applications cancelled before cancelling did

Since d55f84b cancelling a registration takes back its check-in (``checkin.service._cancelled``).
Registrations cancelled (or rejected) before that kept a valid check-in: the desk's counters leave
them out, but survey attendance and response rates and the registrations export's 受付日時 still
count them. Their check-ins are taken back here as ``_take_back`` does it: ``undone_at`` = when the
registration was cancelled (the time of this migration when that is unknown), ``undone_by`` = ''
(nobody in particular), and an ``undone`` line in the scan log at that time. The rows stay.
Data only, no schema change; nothing to restore on downgrade (the check-in log keeps the history).

Revision ID: 012bba54b245
Revises: 7c3e5b2a9d41
Create Date: 2026-12-02 11:27:38.705918

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa
import eventsvc.core.types


# revision identifiers, used by Alembic.
revision = '012bba54b245'
down_revision = '7c3e5b2a9d41'
branch_labels = None
depends_on = None

#: valid check-ins (``checkin.models._VALID``) of registrations whose application has ended
LEFT_BEHIND = ("c.result = 'checked_in' AND c.undone_at IS NULL "
               "AND r.status IN ('cancelled', 'rejected')")
UNDONE_AT = "COALESCE(r.cancelled_at, :now)"


def upgrade():
    now = sa.bindparam("now", datetime.now(UTC), type_=eventsvc.core.types.UTCDateTime())
    no = sa.bindparam("no", False, type_=sa.Boolean())
    # the log line first: it is found by the same condition the update then ends
    op.execute(sa.text(
        "INSERT INTO checkin_log (event_id, registration_id, checkin_id, result, reason, duplicate, input_hash, "
        "method, device_id, nonce, actor_label, scanned_at, received_at) "
        f"SELECT c.event_id, c.registration_id, c.id, 'undone', '', :no, '', c.method, '', NULL, '', "
        f"{UNDONE_AT}, {UNDONE_AT} "
        f"FROM checkins c JOIN registrations r ON r.id = c.registration_id WHERE {LEFT_BEHIND} "
        "ORDER BY c.id").bindparams(now, no))
    op.execute(sa.text(
        f"UPDATE checkins SET undone_at = (SELECT {UNDONE_AT} FROM registrations r "
        "WHERE r.id = checkins.registration_id), undone_by = '' "
        "WHERE id IN (SELECT c.id FROM checkins c JOIN registrations r ON r.id = c.registration_id "
        f"WHERE {LEFT_BEHIND})").bindparams(now))


def downgrade():
    pass
