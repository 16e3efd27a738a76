"""eventsvc: study sessions and workshops for local- and national-government staff."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask, g, request, session
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from . import database
from .config import (
    Config,
    from_environment,
    instance_path,
    load_or_create_secret,
    normalize_database_url,
)
from .core import ratelimit_storage
from .extensions import babel, csrf, db, limiter, login_manager, migrate

__all__ = ["create_app"]

#: the largest id a URL may carry: ids are 32-bit integer columns on PostgreSQL
MAX_URL_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:…>`` in every rule: a non-negative id that fits the database's integer columns.
    A larger number matches no rule (404) instead of failing in the database driver (500). The
    bound is in the pattern (0 … 2147483647), so such a path matches no rule for any method
    (a bound checked only after matching would make it a 405 on rules with several methods)."""

    regex = (r"(?:\d{1,9}|1\d{9}|20\d{8}|21[0-3]\d{7}|214[0-6]\d{6}|2147[0-3]\d{5}|21474[0-7]\d{4}"
             r"|214748[0-2]\d{3}|2147483[0-5]\d{2}|21474836[0-3]\d|214748364[0-7])")

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("max", MAX_URL_ID)
        super().__init__(map, *args, **kwargs)


MIGRATIONS_DIR = str(Path(__file__).with_name("migrations"))


def create_app(config: dict | None = None) -> Flask:
    """Build the application: config → extensions → blueprints → errors → cli hooks."""
    app = Flask(__name__, instance_path=instance_path(), instance_relative_config=True)
    app.config.from_object(Config)
    app.config.update(from_environment())
    if config:
        app.config.update(config)
    _finish_config(app)
    app.url_map.converters["int"] = IdConverter

    logging.basicConfig(level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") \
            and not app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_pre_ping"):
        with app.app_context():
            database.ping_idle_connections(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=lambda: "Asia/Tokyo")
    login_manager.init_app(app)
    limiter.init_app(app)
    if app.config["PROXY_COUNT"]:
        n = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)

    _register_blueprints(app)
    from .core.i18n import N_
    from .errors import DomainError, NotFound, register_error_handlers, wants_json
    from .web import register_web

    register_error_handlers(app)
    register_web(app)
    from .cli import register_commands

    register_commands(app)

    @app.before_request
    def _write_intent():
        g._write_token = database.set_write_intent(request.method not in ("GET", "HEAD", "OPTIONS"))

    @app.before_request
    def _pages_take_forms():
        """A JSON body is for the API (and the desk's ``….json`` calls), never for a page's form:
        Flask-WTF would read it as form data, and a number where a form has text is a 500."""
        if request.is_json and request.method in ("POST", "PUT", "PATCH", "DELETE") \
                and not wants_json() and not request.path.endswith(".json"):
            raise DomainError("unsupported_media_type", N_("フォームとして送信してください。"), status=415)

    @app.url_value_preprocessor
    def _lookup_values(_endpoint, values):
        """``<slug>`` and ``<code>`` go straight into lookups: with a control character (NUL, which
        PostgreSQL refuses as a parameter: a 500) they name nothing, so 404 before any query."""
        for name in ("slug", "code"):
            value = (values or {}).get(name)
            if isinstance(value, str) and any(c < " " or c == "\x7f" for c in value):
                raise NotFound()

    @app.before_request
    def _no_nul_in_query():
        """NUL is never text, and PostgreSQL refuses it in a parameter: a query argument with one
        (a search, a filter) would be a 500 wherever it reaches a query. Forms and API bodies
        refuse it field by field in their own validation."""
        if any("\x00" in v for v in request.args.values()):
            raise DomainError("bad_request", N_("送信された内容に使えない文字（NUL）が含まれています。"), status=400)

    @app.teardown_request
    def _reset_intent(_exc):
        token = g.pop("_write_token", None)
        if token is not None:
            database.reset_write_intent(token)

    return app


def _finish_config(app: Flask) -> None:
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "eventsvc.db")
    url = normalize_database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    if url.startswith("postgresql"):
        # pool_pre_ping pings at every checkout; the app pings idle connections only (see below)
        opts = {"pool_pre_ping": False, "pool_size": 10, "max_overflow": 20}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**opts, **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}
    elif url.startswith("sqlite"):
        opts = {"connect_args": database.sqlite_connect_args()}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**opts, **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_secret(app.instance_path)
    if not app.config["RATELIMIT_ENABLED"]:
        app.config["RATELIMIT_ENABLED"] = False
    if not app.config.get("RATELIMIT_STORAGE_URI"):  # the file is made on the first counted request
        path = os.path.join(app.instance_path, "ratelimits.sqlite")
        app.config["RATELIMIT_STORAGE_URI"] = ratelimit_storage.storage_uri(path)


def _select_locale() -> str:
    if request.path.startswith("/api/"):
        return "ja"  # the API's messages are Japanese whatever the caller's cookie says (the code is the contract)
    lang = request.args.get("lang") or request.cookies.get("lang") or session.get("lang")
    return lang if lang in ("ja", "en") else "ja"


def _register_blueprints(app: Flask) -> None:
    """Every feature's blueprints, in one explicit list."""
    from . import core  # noqa: F401
    from .api import bp as api_bp
    from .audit import service as audit
    from .audit.views import bp as audit_bp
    from .auth.views import bp as auth_bp
    from .checkin import privacy as _checkin_privacy  # noqa: F401  (erasers; staff in the audit log)
    from .checkin.views import bp as checkin_bp
    from .core import models as _core_models  # noqa: F401
    from .events.views import bp as events_bp
    from .outbox import models as _outbox_models  # noqa: F401
    from .outbox.views import bp as outbox_bp
    from .registration import models as _registration_models  # noqa: F401
    from .registration.privacy_views import bp as privacy_bp
    from .registration.views import bp as registration_bp
    from .slack import privacy as _slack_privacy  # noqa: F401
    from .slack.views import bp as slack_bp
    from .surveys import attendance as _survey_attendance  # noqa: F401  (check-in → who came, for surveys)
    from .surveys import privacy as _surveys_privacy  # noqa: F401
    from .surveys.views import bp as surveys_bp
    from .teams import privacy as _teams_privacy  # noqa: F401
    from .teams.views import bp as teams_bp  # also plugs teams into check-in and the attendee page

    for blueprint in (auth_bp, events_bp, registration_bp, privacy_bp, outbox_bp, surveys_bp, checkin_bp, teams_bp,
                      slack_bp, audit_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(api_bp)
    audit.install(app)  # one audit entry per successful change by an organizer or event staff
