"""Delivery: one message to one target, written in the same transaction as its cause."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, and_
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import now_utc
from ..core.i18n import N_
from ..core.types import UTCDateTime
from ..extensions import db

#: queued → sending → sent | failed | uncertain ; held = kept until a channel is configured
STATES = ("queued", "sending", "sent", "failed", "uncertain", "held")

#: what a row emptied by the erasure of personal data carries instead of its message
#: (``registration.privacy``)
ERASED_PAYLOAD = {"erased": True}
#: the reason on a row whose person's data was erased before it was sent: stored as ``failed``
#: (the state machine and the API's states stay as they are), but nothing went wrong and
#: nothing is to be done, so pages show it apart (:attr:`Delivery.withdrawn`)
ERASED_NOTE = N_("個人情報を削除したため送信しません")

#: why a row was withdrawn (:attr:`Delivery.withdrawn_reason`): the person's data was erased, or what
#: it was about has moved on before it left (a confirmation of an application since cancelled, a
#: waitlist notice of someone confirmed since: ``outbox.service.register_superseded_check``)
ERASED, SUPERSEDED = "erased", "superseded"
WITHDRAWN_REASONS = (ERASED, SUPERSEDED)


class Delivery(db.Model):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: what it is, e.g. ``mail.confirmation``, ``slack.report`` — a sender is registered per kind prefix
    kind: Mapped[str] = mapped_column(String(50), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"), index=True)
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id", ondelete="SET NULL"), index=True)
    #: e-mail address, Slack channel id or user id
    target: Mapped[str] = mapped_column(String(320))
    #: everything the sender needs (subject/body/attachments, or text/blocks)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    #: makes "send once" hold across retries of the cause (unique when given)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: Message-ID, or ``channel:ts`` for Slack
    external_id: Mapped[str] = mapped_column(String(200), default="")
    #: who claimed it and until when (a dead worker's claim expires)
    claimed_by: Mapped[str] = mapped_column(String(100), default="")
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: set just before the sender is called: a lost claim with this set may have been sent (→ uncertain)
    send_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: a registration's mail: which of its applications it is about (``Registration.reapplications``
    #: when it was queued) and the status it was about (None: about no status, e.g. a link); the
    #: worker does not send a mail whose registration has moved on since (``registration.mail``)
    registration_application: Mapped[int | None] = mapped_column(Integer)
    registration_status: Mapped[str | None] = mapped_column(String(20))
    #: one of :data:`WITHDRAWN_REASONS` on a ``failed`` row that was never to be sent (:attr:`withdrawn`)
    withdrawn_reason: Mapped[str | None] = mapped_column(String(20))

    @hybrid_property
    def withdrawn(self) -> bool:
        """Never to be sent, and not a failure: the person's data was erased (``last_error`` is
        :data:`ERASED_NOTE`), or what it was about has moved on (``last_error`` says how). Stored as
        ``failed`` with its :attr:`withdrawn_reason` (the state machine and the API's states stay as
        they are); counted and labelled apart, not re-sent by hand."""
        return self.state == "failed" and self.withdrawn_reason is not None

    @withdrawn.inplace.expression
    @classmethod
    def _withdrawn_expression(cls):
        return and_(cls.state == "failed", cls.withdrawn_reason.isnot(None))
