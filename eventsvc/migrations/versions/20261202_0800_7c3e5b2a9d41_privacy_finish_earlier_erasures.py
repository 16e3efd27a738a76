"""privacy: finish erasures made before two leftovers were found

People erased before this revision kept two things that erasure now removes: the record that
they answered a survey (``survey_respondents``: who, first and last time) and the organizer
account or staff link that admitted them (``checkins.organizer_id`` / ``staff_link_id``).
Data only, no schema change; nothing to restore on downgrade.

Revision ID: 7c3e5b2a9d41
Revises: 5e1c0a7d9b21
Create Date: 2026-12-02 08:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '7c3e5b2a9d41'
down_revision = '5e1c0a7d9b21'
branch_labels = None
depends_on = None

ERASED = "SELECT id FROM registrations WHERE erased_at IS NOT NULL"


def upgrade():
    op.execute(f"DELETE FROM survey_respondents WHERE registration_id IN ({ERASED})")
    op.execute("UPDATE checkins SET organizer_id = NULL, staff_link_id = NULL "
               f"WHERE registration_id IN ({ERASED}) AND (organizer_id IS NOT NULL OR staff_link_id IS NOT NULL)")


def downgrade():
    pass
