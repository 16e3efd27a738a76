"""Deliveries written before their text: a payload may name a renderer instead of carrying it.

Rendering a message costs more than writing its row (a template, a dozen translations, a
signed link, an .ics file). A cause on a hot path (a registration) therefore enqueues a short
recipe, ``{"subject": …, "render": {"with": "registration", …}}``, and the text is made when it
is needed:

* the worker renders it just before the send and stores the result in the row, so a sent (or
  started) row holds exactly what left, and a manual retry sends the same message again;
* an organizer opening a delivery that has not been rendered yet sees it rendered on the spot,
  as it would be sent now.

A package registers its renderer at import time, like a sender::

    register_renderer("registration", render_registration_mail)

``fn(delivery) -> dict`` returns the finished payload (``subject``, ``text``, ``attachments``…).
It raises :class:`RenderError` when the message can no longer be made (its registration was
erased): the row then fails instead of being retried.
"""

from __future__ import annotations

from collections.abc import Callable

Renderer = Callable[[object], dict]
_RENDERERS: dict[str, Renderer] = {}


class RenderError(Exception):
    """The message cannot be made any more (what it is about is gone): not sent, not retried."""


def register_renderer(name: str, fn: Renderer) -> None:
    _RENDERERS[name] = fn


def unregister_renderer(name: str) -> None:
    _RENDERERS.pop(name, None)


def is_deferred(payload) -> bool:
    return isinstance(payload, dict) and isinstance(payload.get("render"), dict)


def resolve(delivery) -> dict:
    """The payload as it is (or will be) sent: rendered now if the row carries a recipe."""
    payload = delivery.payload or {}
    if not is_deferred(payload):
        return payload
    name = payload["render"].get("with")
    fn = _RENDERERS.get(name)
    if fn is None:
        raise RenderError(f"作成手段が未登録: {name}")
    rendered = {k: v for k, v in payload.items() if k != "render"}
    rendered.update(fn(delivery))
    return rendered
