"""outbox: what a registration mail is about, why a delivery was withdrawn

A registration's mail records which application of the registration it is about
(``registration_application``: ``Registration.reapplications`` when it was queued) and which status
it tells of (``registration_status``), so that one whose registration has moved on since (a
confirmation of an application cancelled since…) is withdrawn instead of sent. A withdrawn row
(``failed``, never to be sent, not a failure) says why in ``withdrawn_reason``: ``erased`` (the
person's data was erased; until now told by its ``last_error`` alone) or ``superseded``.

Rows written before: the reason of erased ones comes from their ``last_error``; a registration
mail's status from its kind (as ``registration/mail.py`` names them) and its application from its
dedupe key (``…#<n>`` for an application after a cancellation). Adding nullable columns needs no
table copy on SQLite.

Revision ID: 185a7a080d4e
Revises: 012bba54b245
Create Date: 2026-12-02 15:04:01.414813

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '185a7a080d4e'
down_revision = '012bba54b245'
branch_labels = None
depends_on = None

#: ``outbox.models.ERASED_NOTE`` as it was written on erased rows
ERASED_NOTE = "個人情報を削除したため送信しません"
#: the status each registration mail's kind tells of (``mail.link`` tells of none)
STATUS_OF_KIND = {
    "mail.confirmation": "confirmed", "mail.promoted": "confirmed", "mail.approved": "confirmed",
    "mail.lottery": "confirmed", "mail.offer_accepted": "confirmed", "mail.message": "confirmed",
    "mail.waitlisted": "waitlisted", "mail.offer_expired": "waitlisted", "mail.offer": "offered",
    "mail.pending_review": "pending_review", "mail.applied": "applied", "mail.rejected": "rejected",
    "mail.cancelled": "cancelled",
}


def upgrade():
    op.add_column('deliveries', sa.Column('registration_application', sa.Integer(), nullable=True))
    op.add_column('deliveries', sa.Column('registration_status', sa.String(length=20), nullable=True))
    op.add_column('deliveries', sa.Column('withdrawn_reason', sa.String(length=20), nullable=True))

    deliveries = sa.table('deliveries', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                          sa.column('state', sa.String), sa.column('last_error', sa.Text),
                          sa.column('dedupe_key', sa.String), sa.column('registration_id', sa.Integer),
                          sa.column('registration_application', sa.Integer),
                          sa.column('registration_status', sa.String), sa.column('withdrawn_reason', sa.String))
    op.execute(deliveries.update().where(deliveries.c.state == 'failed', deliveries.c.last_error == ERASED_NOTE)
               .values(withdrawn_reason='erased'))
    op.execute(deliveries.update().where(deliveries.c.registration_id.isnot(None),
                                         deliveries.c.kind.in_(list(STATUS_OF_KIND)))
               .values(registration_status=sa.case(STATUS_OF_KIND, value=deliveries.c.kind)))
    op.execute(deliveries.update().where(deliveries.c.registration_id.isnot(None),
                                         deliveries.c.kind.in_([*STATUS_OF_KIND, 'mail.link']))
               .values(registration_application=0))
    bind = op.get_bind()
    later = bind.execute(sa.select(deliveries.c.id, deliveries.c.dedupe_key).where(
        deliveries.c.registration_application.isnot(None), deliveries.c.dedupe_key.like('%#%'))).all()
    for row_id, key in later:
        number = key.rpartition('#')[2]
        if number.isdigit():
            bind.execute(deliveries.update().where(deliveries.c.id == row_id)
                         .values(registration_application=int(number)))


def downgrade():
    with op.batch_alter_table('deliveries') as batch_op:
        batch_op.drop_column('withdrawn_reason')
        batch_op.drop_column('registration_status')
        batch_op.drop_column('registration_application')
