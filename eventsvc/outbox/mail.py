"""The e-mail sender: ``mail.*`` deliveries over SMTP (``EVENTSVC_SMTP_URL``).

URL forms::

    smtp://host[:25]                      plain SMTP
    smtp://user:pass@host:587?starttls=1  STARTTLS, then AUTH
    smtps://user:pass@host[:465]          implicit TLS

Payload of a ``mail.*`` delivery: ``{"subject", "text", "attachments": [{"filename",
"content_type", "data" (base64) | "qr" (text drawn as a QR PNG when sent)}], "reply_to"?}``, or a
recipe (``"render"``) that ``renderers.py`` turns into that before the send. Without ``SMTP_URL`` the worker holds the
rows (``held``, "未送信: SMTP未設定") and sends them once SMTP is configured.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from ..core.clock import now_utc
from ..core.i18n import N_
from ..events.poster import qr_png
from .renderers import resolve
from .senders import PermanentError, TemporaryError, UncertainError, register_sender

NOT_CONFIGURED = N_("未送信: SMTP未設定")  # stored as the reason; the page translates it


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


def parse_smtp_url(url: str) -> SmtpSettings:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP URL must look like smtp://host:port or smtps://user:pass@host")
    query = parse_qs(parts.query)
    flag = (query.get("starttls") or ["0"])[0].lower() in ("1", "true", "yes", "on")
    timeout = float((query.get("timeout") or ["30"])[0])
    implicit = parts.scheme == "smtps"
    return SmtpSettings(
        host=parts.hostname, port=parts.port or (465 if implicit else 25), implicit_tls=implicit,
        starttls=flag and not implicit, username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None, timeout=timeout)


def message_id(delivery, domain: str) -> str:
    """The same Message-ID every time this row is sent: a copy sent again by hand (after a worker
    died mid-send, ``uncertain``) is recognisable as the same message by the mail systems that
    already have it. The creation time keeps ids apart across databases that reuse row ids."""
    created = delivery.created_at
    stamp = created.strftime("%Y%m%d%H%M%S%f") if created else "0"
    return f"<eventsvc.{delivery.id}.{stamp}@{domain}>"


def build_message(delivery, mail_from: str) -> EmailMessage:
    p = resolve(delivery)  # the worker has rendered a recipe already; this is for direct callers
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = delivery.target
    msg["Subject"] = p.get("subject", "")
    msg["Date"] = format_datetime(now_utc())
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "eventsvc.local"
    msg["Message-ID"] = message_id(delivery, domain)
    if p.get("reply_to"):
        msg["Reply-To"] = p["reply_to"]
    msg.set_content(p.get("text", ""), charset="utf-8")
    for a in p.get("attachments", []):
        maintype, _, subtype = a.get("content_type", "application/octet-stream").partition("/")
        subtype, _, _params = subtype.partition(";")
        params = {}
        if maintype == "text" and subtype == "calendar":
            params = {"method": "PUBLISH"}
        data = qr_png(a["qr"], box_size=8) if "qr" in a else base64.b64decode(a["data"])
        msg.add_attachment(data, maintype=maintype, subtype=subtype.strip(),
                           filename=a.get("filename", "attachment"), params=params)
    return msg


def _classify(code: int, text: str) -> Exception:
    message = f"{code} {text}"
    return TemporaryError(message) if 400 <= code < 500 else PermanentError(message)


class SmtpSender:
    """Sends one message per connection (the worker's volume is small; no state to go stale)."""

    #: the worker marks the row as started only at ``point_of_no_return`` (right before DATA)
    marks_start = True

    def unavailable(self, config) -> str | None:
        return None if config.get("SMTP_URL") else NOT_CONFIGURED

    def send(self, delivery, config, point_of_no_return=None) -> str:
        try:
            settings = parse_smtp_url(config["SMTP_URL"])
        except ValueError as err:
            raise TemporaryError(f"EVENTSVC_SMTP_URL: {err}") from None
        mail_from = config.get("MAIL_FROM") or "eventsvc <no-reply@localhost>"
        msg = build_message(delivery, mail_from)
        target = delivery.target
        content = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n", utf8=_needs_utf8(target)))
        envelope_from = parseaddr(mail_from)[1] or "no-reply@localhost"
        # Before DATA nothing can have been delivered: any failure there is safe to retry.
        try:
            if settings.implicit_tls:
                smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        except (OSError, smtplib.SMTPException) as err:
            raise TemporaryError(f"connect {settings.host}:{settings.port}: {err}") from None
        try:
            try:
                smtp.ehlo()
                if settings.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if settings.username:
                    smtp.login(settings.username, settings.password or "")
                code, text = smtp.mail(envelope_from, ["SMTPUTF8"] if _needs_utf8(target) else [])
                if code != 250:
                    raise _classify(code, text.decode(errors="replace"))
                code, text = smtp.rcpt(target)
                if code not in (250, 251):
                    raise _classify(code, text.decode(errors="replace"))
            except (PermanentError, TemporaryError):
                raise
            except smtplib.SMTPResponseException as err:
                raise _classify(err.smtp_code, str(err.smtp_error)) from None
            except (OSError, smtplib.SMTPException) as err:
                raise TemporaryError(f"{type(err).__name__}: {err}") from None
            # From DATA on, a dropped line means we cannot know whether the server took it.
            if point_of_no_return is not None:
                point_of_no_return()  # the row says "started" from here (ClaimLost: stop now)
            try:
                code, text = smtp.data(content)
            except smtplib.SMTPResponseException as err:
                raise _classify(err.smtp_code, str(err.smtp_error)) from None
            except (TimeoutError, OSError, smtplib.SMTPException) as err:
                raise UncertainError(f"during DATA: {type(err).__name__}: {err}") from None
            if code != 250:
                raise _classify(code, text.decode(errors="replace"))
            return msg["Message-ID"]
        finally:
            try:
                smtp.quit()
            except Exception:  # noqa: BLE001 - the message is already handed over (or not)
                smtp.close()


def _needs_utf8(address: str) -> bool:
    return not address.isascii()


register_sender("mail.", SmtpSender())
