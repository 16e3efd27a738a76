"""Senders by delivery kind prefix. The outbox knows none of them by name.

A package that can deliver something registers itself here at import time::

    from eventsvc.outbox.senders import register_sender
    register_sender("slack.", SlackSender())

``sender_for("slack.report")`` then finds it (longest matching prefix wins).
"""

from __future__ import annotations

from typing import Protocol


class SendError(Exception):
    """A send did not succeed. Subclasses tell the worker what to do next."""


class TemporaryError(SendError):
    """Not sent; trying again later may work (connection refused, 4xx, rate limited).

    ``retry_after`` (seconds) is when the other side asked us to come back (e.g. Slack's
    ``Retry-After``); without it the worker backs off exponentially.
    """

    def __init__(self, message: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(SendError):
    """Not sent and never will be (5xx, bad address): the row becomes ``failed``."""


class UncertainError(SendError):
    """It may or may not have been sent (the line dropped during DATA): ``uncertain``, not retried."""


class ClaimLost(Exception):  # noqa: N818 - not an error of the send: the row is someone else's now
    """Raised by the worker's ``point_of_no_return`` when this worker's claim has run out: the
    sender must stop before anything can have gone out."""


class Sender(Protocol):
    def unavailable(self, config) -> str | None:
        """A reason (shown to organizers) when the channel is not configured, else None."""

    def send(self, delivery, config) -> str:
        """Send one delivery; return its external id (Message-ID, ``channel:ts``…) or raise SendError.

        A sender whose protocol has a step before which nothing can have been delivered (SMTP:
        before DATA) sets ``marks_start = True`` and takes ``point_of_no_return``, a callable it
        calls right before that step; the worker then marks the row as started only there (a
        worker that dies earlier leaves a row that is simply queued again). Other senders are
        marked as started before ``send`` is called.
        """


_SENDERS: dict[str, Sender] = {}


def register_sender(prefix: str, sender: Sender) -> None:
    """Register ``sender`` for every kind starting with ``prefix`` (e.g. ``"mail."``)."""
    _SENDERS[prefix] = sender


def unregister_sender(prefix: str) -> None:
    _SENDERS.pop(prefix, None)


def sender_for(kind: str) -> Sender | None:
    best = None
    for prefix, sender in _SENDERS.items():
        if kind.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, sender)
    return best[1] if best else None


def prefixes() -> list[str]:
    return sorted(_SENDERS)
