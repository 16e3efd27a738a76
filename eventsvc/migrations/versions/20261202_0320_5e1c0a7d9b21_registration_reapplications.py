"""registration: reapplications (applying again after cancelling)

A person who cancelled may apply again for the same event: the same row (one per address and
event) becomes a new application. ``reapplications`` counts them; it keeps each application's
mails apart in the outbox (their dedupe keys carry it). Adding a column with a server default
needs no table copy on SQLite.

Revision ID: 5e1c0a7d9b21
Revises: 0bcbcc4b62ea
Create Date: 2026-12-02 03:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e1c0a7d9b21'
down_revision = '0bcbcc4b62ea'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('registrations', sa.Column('reapplications', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('registrations') as batch_op:
        batch_op.drop_column('reapplications')
