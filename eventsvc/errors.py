"""Domain errors and how they reach people: JSON under /api, a page elsewhere.

The JSON ``message`` is Japanese (the code is the contract). A page shows the message in the
page's language when the catalogue has it (texts marked with ``N_``), else as it is.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

from flask import Flask, render_template, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

from .core.i18n import N_, Message

log = logging.getLogger(__name__)


class AuthorityChanged(Exception):
    """A decision checked under its lock whether its caller may still act — a caller the JSON API
    reused from a recent call (``jsonapi.principal_guard``) — and found they no longer may (a
    revoked token or staff link, an organizer taken off the event…). Raised before anything is
    written; the API then answers the call afresh, with a lookup of its own."""


class EventChanged(Exception):
    """A decision made on the copies of an event a server process kept from a recent read
    (``registration.reuse``) found, under its lock, that the event has changed since. Raised
    before anything is written; the call is then made again on the event read afresh."""


class DomainError(Exception):
    """A rule said no. ``code`` is stable (the API returns it unchanged).

    ``fields`` maps a field name to a message for form-level display.
    """

    status = 400

    def __init__(self, code: str, message: str, fields: dict | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        if status is not None:
            self.status = status

    def to_json(self) -> dict:
        return error_body(self.code, self.message, self.fields)


class ValidationFailed(DomainError):
    """Input that does not fit; ``fields`` says which."""

    status = 422

    def __init__(self, fields: dict, message: str = N_("入力内容を確認してください。")):
        super().__init__("validation_error", message, fields)


class NotFound(DomainError):
    status = 404

    def __init__(self, code: str = "not_found", message: str = N_("見つかりません。")):
        super().__init__(code, message)


class Conflict(DomainError):
    status = 409


class Forbidden(DomainError):
    status = 403

    def __init__(self, code: str = "forbidden", message: str = N_("この操作の権限がありません。")):
        super().__init__(code, message)


HTTP_CODES = {
    400: ("bad_request", N_("リクエストの形式が正しくありません。")),
    401: ("unauthorized", N_("認証が必要です。")),
    403: ("forbidden", N_("この操作の権限がありません。")),
    404: ("not_found", N_("見つかりません。")),
    405: ("method_not_allowed", N_("この方法では操作できません。")),
    413: ("payload_too_large", N_("送信されたデータが大きすぎます。")),
    415: ("unsupported_media_type", N_("Content-Type: application/json で送信してください。")),
    429: ("rate_limited", N_("短時間に多くの操作がありました。しばらくしてからお試しください。")),
    500: ("internal_error", N_("サーバーで問題が発生しました。")),
}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    """The API's error shape: ``{"error", "message", "fields"}`` — ``fields`` always there
    (``{}`` when no field is to blame), so clients need not test for it."""
    return {"error": code, "message": message, "fields": dict(fields or {})}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/slack/")


def page_message(message: str) -> str:
    """The message in the page's language: translated when the catalogue has it.

    A :class:`~eventsvc.core.i18n.Message` (``msg(N_("…%(x)s…"), x=…)``) is translated from its
    template and filled with its values (a value that is itself a ``Message`` is translated too);
    a plain string (``N_``-marked) is looked up as it is, and stays as it is when the catalogue
    does not have it (a name, a combined text).
    """
    if not message:
        return message
    if isinstance(message, Message):
        if not message.params:
            return gettext(message.template)
        params = {k: page_message(v) if isinstance(v, Message) else v for k, v in message.params.items()}
        return gettext(message.template, **params)
    return gettext(message)


def page_messages(messages) -> list[str]:
    """:func:`page_message` of each (e.g. ``err.fields.values()``)."""
    return [page_message(m) for m in messages]


def page_fields(fields: dict | None) -> dict:
    """``err.fields`` with each message in the page's language (for forms and pages)."""
    return {k: page_message(v) for k, v in (fields or {}).items()}


def _page(status: int, code: str, message: str, back: str | None = None):
    return render_template("error.html", status=status, code=code, message=page_message(message), back=back), status


def _same_site_referrer() -> str | None:
    """The page the request came from, when it is one of this site's (a form to send again)."""
    referrer = request.referrer or ""
    parts = urlsplit(referrer)
    return referrer if parts.scheme in ("http", "https") and parts.netloc == request.host else None


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(err: DomainError):
        if wants_json():
            return err.to_json(), err.status
        return _page(err.status, err.code, err.message)

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        status = err.code or 500
        code, message = HTTP_CODES.get(status, ("http_error", err.description or ""))
        if status == 400 and getattr(err, "description", "") and "CSRF" in err.description:
            code, message = "csrf_failed", N_("フォームの有効期限が切れました。もう一度送信してください。")
        if wants_json():
            response = err.get_response()
            response.content_type = "application/json"
            response.set_data(json.dumps(error_body(code, message), ensure_ascii=False))
            return response
        return _page(status, code, message, back=_same_site_referrer() if code == "csrf_failed" else None)

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        rule = request.url_rule.rule if request.url_rule else "?"
        log.exception("unhandled error on %s %s", request.method, rule)
        code, message = HTTP_CODES[500]
        if wants_json():
            return error_body(code, message), 500
        return _page(500, code, message)
