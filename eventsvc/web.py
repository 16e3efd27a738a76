"""What every page shares: template filters, the language switch, security headers, form errors."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import force_locale, get_locale, gettext
from flask_babel import lazy_gettext as _l
from jinja2 import pass_eval_context
from markupsafe import Markup
from wtforms.widgets import ListWidget

from .core import lang, orgs
from .core.clock import format_date, format_datetime, format_range, format_time
from .core.i18n import N_
from .core.markup import render_markdown
from .errors import page_message


def locale() -> str:
    return str(get_locale() or "ja")


@functools.lru_cache(maxsize=1024)
def translated_in(language: str, text: str, **params) -> str:
    """``gettext(text, **params)`` in ``language``, made once per process for each language, text
    and values: for what hot paths say again and again (a scan's answer, a mail's subject), where a
    translation looked up afresh cost ~4 % of a scan and ~70 µs of a registration."""
    with force_locale(language):
        return gettext(text, **params)


def _japanese_page(eval_ctx) -> bool:
    """Whether Japanese needs no marking here: the page is in Japanese, or the template is not
    HTML (plain-text mails are not autoescaped and must not get tags)."""
    return not eval_ctx.autoescape or locale().startswith("ja")


@pass_eval_context
def lang_ja(eval_ctx, value):
    """The filter ``lang_ja``: on a page that is not in Japanese, text people typed in Japanese in
    ``<span lang="ja">`` (WCAG 3.1.2), escaped; unchanged on a Japanese page. Not for attribute values
    (a span cannot go there) nor inside ``<title>`` or ``<option>``."""
    return value if _japanese_page(eval_ctx) else lang.mark_japanese(value)


@pass_eval_context
def lang_ja_attr(eval_ctx, value) -> Markup:
    """The filter ``lang_ja_attr``: `` lang="ja"`` for an element whose content is ``value`` (block
    content a span cannot hold, e.g. rendered Markdown), on a page that is not in Japanese."""
    return Markup("") if _japanese_page(eval_ctx) else lang.lang_attr(value)


def external_url(endpoint: str, **values) -> str:
    """An absolute URL, on ``BASE_URL`` when configured (e-mails, QR codes, Slack)."""
    base = current_app.config.get("BASE_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def _child(target, part: str):
    if hasattr(target, "entries"):  # FieldList
        if part.isdigit() and int(part) < len(target.entries):
            return target.entries[int(part)]
        return None
    try:
        return target[part]  # Form and FormField
    except (KeyError, TypeError):
        return None


def error_messages(errors) -> list[str]:
    """The messages in a field's ``errors``, as strings (lazy ones included; nested lists flattened).

    Sub-form errors (dicts) are left to the sub-form's own fields.
    """
    out: list[str] = []
    if isinstance(errors, dict):
        return out
    for e in errors or ():
        if isinstance(e, dict):
            continue
        if isinstance(e, (list, tuple)):
            out.extend(error_messages(e))
        else:
            out.append(str(e))
    return out


#: how the summary names a field in a row of a list of sub-forms (a form may set ``row_labels``:
#: {list name: format with %(n)s and %(label)s})
ROW_LABEL = _l("%(n)s行目 %(label)s")


def error_summary(form, extra=()) -> list[tuple[str | None, str, str]]:
    """The error summary of a form: ``(field id or None, label, message)``, each problem once.

    Every field error is linked to its field, rows of a ``FieldList`` included (labelled with the
    row number). The form's own errors (``form.form_errors``) and ``extra`` messages come first,
    without a label or link, and only when no field already says the same.
    """
    row_labels = getattr(form, "row_labels", None) or {}
    linked: list[tuple[str | None, str, str]] = []
    # in the page's order: a form whose fields come partly from a base class names the first ones
    first = [n for n in getattr(form, "page_order", ()) if n in form._fields]
    for name in [*first, *(n for n in form._fields if n not in first)]:
        f = form._fields[name]
        _collect_errors(f, str(f.label.text), linked, row_labels.get(name))
    own: list[tuple[str | None, str, str]] = []
    for m in [*extra, *error_messages(form.form_errors)]:
        m = str(m)
        if not m or any(m == said for _id, _label, said in own + linked):
            continue
        # "X." on a field and "X. What to do." for the form: one entry, at the field, saying it all
        longer = next((i for i, (_id, _label, said) in enumerate(linked) if said and m.startswith(said)), None)
        if longer is not None:
            linked[longer] = (*linked[longer][:2], m)
        else:
            own.append((None, "", m))
    return own + linked


def _collect_errors(f, label: str, out: list, row_label=None) -> None:
    if f.type == "FieldList":
        first = _first_input(f)
        out.extend((first, label, m) for m in error_messages(f.errors))
        for n, entry in enumerate(f.entries, 1):
            fmt = str(row_label or ROW_LABEL)
            if entry.type == "FormField":
                for sub in entry:
                    _collect_errors(sub, fmt % {"n": n, "label": sub.label.text}, out)
            else:
                _collect_errors(entry, fmt % {"n": n, "label": label}, out)
    elif f.type == "FormField":
        for sub in f:
            _collect_errors(sub, f"{label} {sub.label.text}", out)
    else:
        out.extend((_focus_target(f), label, m) for m in error_messages(f.errors))


def _focus_target(f) -> str:
    """The id a summary link points to: a choice group's first option (a fieldset takes no focus)."""
    if isinstance(getattr(f, "widget", None), ListWidget):  # radio buttons, check boxes
        first = next(iter(f), None)
        if first is not None:
            return first.id
    return f.id


def _first_input(f) -> str | None:
    while f.type in ("FieldList", "FormField"):
        subs = f.entries if f.type == "FieldList" else list(f)
        if not subs:
            return None
        f = subs[0]
    return f.id


def apply_errors(form, fields: dict[str, str], aliases: dict[str, str] | None = None) -> list[str]:
    """Attach service errors (dotted API paths) to form fields; return those that fit none.

    The messages are put in the page's language (``errors.page_message``).
    """
    aliases = aliases or {}
    leftover = []
    for path, message in fields.items():
        message = page_message(message)
        target = form
        for part in aliases.get(path, path).split("."):
            target = _child(target, part)
            if target is None:
                break
        if target is not None and isinstance(getattr(target, "errors", None), list):
            if not target.errors:  # one message per field: the form's own parse error wins
                target.errors.append(message)
        else:
            leftover.append(message)
    return leftover


#: paths whose pages show personal data (attendee pages, organizer and admin pages, the login,
#: staff links, the desk and its reception list, survey answer links, every API response)
NO_STORE_PREFIXES = ("/my/", "/manage", "/account", "/admin", "/login", "/staff/", "/api/", "/s/")
NO_STORE_PARTS = ("/checkin/", "/survey/r/")
#: a session holding one of these belongs to an organizer (Flask-Login) or to reception
#: staff (``checkin.views.STAFF_KEY``): every response to it is personal
PERSONAL_SESSION_KEYS = ("_user_id", "checkin_staff")
CAMERA_OFF = "camera=(), microphone=(), geolocation=()"

#: on every response unless the view set its own (the scanner page sets Permissions-Policy)
SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                                "frame-ancestors 'none'; form-action 'self'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Permissions-Policy", CAMERA_OFF),
)


#: the media types of the spreadsheet exports, by file extension
SPREADSHEET_TYPES = {"csv": "text/csv; charset=utf-8",
                     "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def spreadsheet_download(body: bytes, filename: str) -> Response:
    """A CSV or XLSX export as a download. It holds personal data: no cache may keep it."""
    kind = filename.rsplit(".", 1)[-1]
    return Response(body, headers={"Content-Type": SPREADSHEET_TYPES[kind], "Cache-Control": "no-store",
                                   "Content-Disposition": f"attachment; filename={filename}"})


def page_number() -> int:
    """The list page a ``?page=`` asks for: 1 for anything that is not a sensible page number."""
    raw = request.args.get("page") or "1"
    return max(int(raw), 1) if raw.isdigit() and len(raw) < 7 else 1


def is_personal_response() -> bool:
    """Whether this response may show personal data, so that no cache may keep it."""
    path = request.path
    if path.startswith(NO_STORE_PREFIXES) and path != "/api/v1/openapi.json":
        return True
    if any(part in path for part in NO_STORE_PARTS):
        return True
    return any(key in session for key in PERSONAL_SESSION_KEYS)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per secret key
    (Flask builds it anew for every request, API calls without a cookie included)."""

    _built: tuple | None = None

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        built = self._built
        if built is None or built[0] != keys:
            self._built = built = (keys, super().get_signing_serializer(app))
        return built[1]


def register_web(app: Flask) -> None:
    from . import logsafe
    from .extensions import csrf, login_manager

    logsafe.install()
    app.session_interface = SessionInterface()
    from .jsonapi import api

    csrf.exempt(api)
    # the remember-me cookie (never issued: sessions end with the browser) gets the session's flags
    if app.config.get("REMEMBER_COOKIE_SECURE") is None:
        app.config["REMEMBER_COOKIE_SECURE"] = bool(app.config["SESSION_COOKIE_SECURE"])
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", app.config["SESSION_COOKIE_SAMESITE"])
    login_manager.login_view = "auth.login"
    login_manager.login_message = N_("このページを見るにはログインしてください。")
    login_manager.localize_callback = page_message  # flashed in the page's language
    login_manager.login_message_category = "info"

    from .auth.service import load_session_user

    login_manager.user_loader(load_session_user)

    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters.update(
        jp_date=lambda v: format_date(v, locale()) if v else "",
        jp_time=lambda v: format_time(v) if v else "",
        jp_datetime=lambda v: format_datetime(v, locale()) if v else "",
        jp_range=lambda s, e=None: format_range(s, e, locale()) if s else "",
        region_name=lambda code: orgs.region_name(code, locale()),
        prefecture_name=orgs.prefecture_name,
        markdown=lambda text: Markup(render_markdown(text)),
        lang_ja=lang_ja,
        lang_ja_attr=lang_ja_attr,
        messages=error_messages,
        page_message=page_message,
    )
    app.jinja_env.globals.update(error_summary=error_summary, locale=locale, regions=orgs.REGIONS,
                                 has_endpoint=lambda e: e in app.view_functions)

    @app.route("/lang/<code>")
    def set_language(code: str):
        """Switch the page language (a cookie only; nothing else changes)."""
        back = request.args.get("next") or "/"
        parts = urlsplit(back)
        if parts.scheme or parts.netloc or not back.startswith("/") or back.startswith("//"):
            back = "/"
        response = redirect(back)
        if code in ("ja", "en"):
            response.set_cookie("lang", code, max_age=365 * 86400, httponly=True,
                                samesite=app.config["SESSION_COOKIE_SAMESITE"],
                                secure=bool(app.config["SESSION_COOKIE_SECURE"]))
        return response

    @app.after_request
    def security_headers(response):
        h = response.headers
        present = {name.lower() for name, _value in h.items()}  # one pass; a view's own value wins
        for name, value in SECURITY_HEADERS:
            if name.lower() not in present:
                h.add(name, value)
        if h["Referrer-Policy"] == "no-referrer" and response.mimetype == "text/html" \
                and not 300 <= response.status_code < 400:
            # a page that keeps its URL (a token) out of Referer headers may still hold a form,
            # and over HTTPS Flask-WTF refuses a post without a same-site Referer: the origin
            # alone satisfies it and tells nobody the path
            h["Referrer-Policy"] = "strict-origin"
        if is_personal_response() and "no-store" not in (h.get("Cache-Control") or ""):
            h["Cache-Control"] = "no-store"
        return response
