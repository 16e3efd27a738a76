"""checkin: a nonce names one scan of one ticket

A nonce was unique per event, so a nonce sent again with another ticket was answered with the
first ticket's result and that ticket was never admitted. Now the same scan is the same nonce for
the same ticket: check-ins are unique per (registration, nonce), log rows per (registration,
nonce), and log rows of scans that named no ticket of the event per (event, nonce, input hash).
The old keys were stricter, so existing rows fit the new ones.

On SQLite, batch mode copies ``checkins`` into a new table and drops the old one; with foreign
keys on, that drop sets ``checkin_log.checkin_id`` to NULL (ON DELETE SET NULL), so the links are
kept aside and put back.

Revision ID: 0bcbcc4b62ea
Revises: dcdb9deca66f
Create Date: 2026-12-02 03:01:43.196177

"""
from alembic import op
import sqlalchemy as sa
import eventsvc.core.types


# revision identifiers, used by Alembic.
revision = '0bcbcc4b62ea'
down_revision = 'dcdb9deca66f'
branch_labels = None
depends_on = None

UNMATCHED = "registration_id IS NULL AND input_hash <> ''"


def _keep_log_links():
    """SQLite: remember which check-in each log row names (recreating ``checkins`` clears them)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE TEMP TABLE _checkin_log_links AS "
                   "SELECT id, checkin_id FROM checkin_log WHERE checkin_id IS NOT NULL")


def _restore_log_links():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE checkin_log SET checkin_id = (SELECT l.checkin_id FROM _checkin_log_links l "
                   "WHERE l.id = checkin_log.id) WHERE id IN (SELECT id FROM _checkin_log_links)")
        op.execute("DROP TABLE _checkin_log_links")


def upgrade():
    _keep_log_links()
    with op.batch_alter_table('checkin_log', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_checkin_log_event_id_nonce'), type_='unique')
        batch_op.create_index('uq_checkin_log_scan', ['registration_id', 'nonce'], unique=True)
        batch_op.create_index('uq_checkin_log_unmatched_scan', ['event_id', 'nonce', 'input_hash'], unique=True,
                              sqlite_where=sa.text(UNMATCHED), postgresql_where=sa.text(UNMATCHED))

    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_checkins_event_id_nonce'), type_='unique')
        batch_op.create_index('uq_checkins_scan', ['registration_id', 'nonce'], unique=True)
    _restore_log_links()


def downgrade():
    # older code keeps one nonce per event: scans that reused a nonce for another ticket keep it
    # only on their first row (the later ones lose their nonce, i.e. a retry of them would count again)
    for table in ('checkins', 'checkin_log'):
        op.execute(f"UPDATE {table} SET nonce = NULL WHERE nonce IS NOT NULL AND id > "
                   f"(SELECT MIN(t.id) FROM {table} t WHERE t.event_id = {table}.event_id AND t.nonce = {table}.nonce)")
    _keep_log_links()
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.drop_index('uq_checkins_scan')
        batch_op.create_unique_constraint(batch_op.f('uq_checkins_event_id_nonce'), ['event_id', 'nonce'])

    with op.batch_alter_table('checkin_log', schema=None) as batch_op:
        batch_op.drop_index('uq_checkin_log_unmatched_scan', sqlite_where=sa.text(UNMATCHED),
                            postgresql_where=sa.text(UNMATCHED))
        batch_op.drop_index('uq_checkin_log_scan')
        batch_op.create_unique_constraint(batch_op.f('uq_checkin_log_event_id_nonce'), ['event_id', 'nonce'])
    _restore_log_links()
