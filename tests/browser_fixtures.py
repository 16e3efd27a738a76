"""Browser fixtures: the app served on 127.0.0.1 and Debian's Chromium driven by Playwright.

Browser tests skip (with the reason) when Chromium is missing, unless
``EVENTSVC_REQUIRE_BROWSER=1`` (CI), where they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("EVENTSVC_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _require_browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("EVENTSVC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"EVENTSVC_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); browser tests skipped")


@pytest.fixture(scope="session")
def playwright_instance():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    b = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
    yield b
    b.close()


@pytest.fixture
def live_server(sqlite_app):
    """The SQLite app served by a real HTTP server in a thread; its base URL.

    Tests create data in their own app context (``live_app``); the server sees it.
    """
    from werkzeug.serving import make_server

    from eventsvc.extensions import db
    from tests.conftest import _empty_tables

    srv = make_server("127.0.0.1", 0, sqlite_app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    from eventsvc import database

    ctx = sqlite_app.app_context()
    ctx.push()
    intent = database.set_write_intent(False)  # the test's reads must not block the server
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        thread.join(5)
        db.session.remove()
        database.reset_write_intent(intent)
        ctx.pop()
        _empty_tables(sqlite_app)


class RequestLog(list):
    """Every URL the page asked for; ``external()`` lists those not on 127.0.0.1."""

    def external(self) -> list[str]:
        out = []
        for url in self:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname != "127.0.0.1":
                out.append(url)
        return out


def _context(browser, *, javascript: bool, **kw):
    ctx = browser.new_context(java_script_enabled=javascript, locale="ja-JP", **kw)
    log = RequestLog()
    ctx.on("request", lambda r: log.append(r.url))
    ctx.set_default_timeout(10_000)
    ctx.javascript = javascript
    return ctx, log


DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _new_page(browser, base: str, *, javascript: bool, device: dict):
    """A page in a context of its own; ``page.requests`` records every request, ``page.base`` is the server."""
    ctx, log = _context(browser, javascript=javascript, **device)
    pg = ctx.new_page()
    pg.requests, pg.base = log, base
    return pg


@contextlib.contextmanager
def _open_page(browser, base: str, *, javascript: bool, device: dict):
    pg = _new_page(browser, base, javascript=javascript, device=device)
    try:
        yield pg
    finally:
        pg.context.close()


@pytest.fixture
def page(browser, live_server):
    """A page with JavaScript on."""
    with _open_page(browser, live_server, javascript=True, device=DESKTOP) as pg:
        yield pg


@pytest.fixture
def page_nojs(browser, live_server):
    """A page with JavaScript disabled (the core flows must work so)."""
    with _open_page(browser, live_server, javascript=False, device=DESKTOP) as pg:
        yield pg


@pytest.fixture
def phone(browser, live_server):
    """A phone-sized page with JavaScript on."""
    with _open_page(browser, live_server, javascript=True, device=PHONE) as pg:
        yield pg


@pytest.fixture
def phone_nojs(browser, live_server):
    """A phone-sized page with JavaScript disabled."""
    with _open_page(browser, live_server, javascript=False, device=PHONE) as pg:
        yield pg


def assert_accessible(page) -> None:
    """axe-core (bundled with axe-playwright-python) finds no violation on the page as served.

    axe is JavaScript: on a page with JavaScript disabled, the same HTML is replayed at the
    same URL in a JavaScript-enabled page (styles and images load from the server as before).
    """
    from axe_playwright_python.sync_playwright import Axe

    if getattr(page.context, "javascript", True) is False:
        html, url = page.content(), page.url
        ctx = page.context.browser.new_context(java_script_enabled=True, viewport=page.viewport_size,
                                               locale="ja-JP")
        try:
            replay = ctx.new_page()
            replay.route(url, lambda route: route.fulfill(status=200, body=html,
                                                          content_type="text/html; charset=utf-8"))
            replay.goto(url)
            _axe_check(Axe().run(replay), url)
        finally:
            ctx.close()
        return
    _axe_check(Axe().run(page), page.url)


def _axe_check(result, url: str) -> None:
    if result.violations_count:
        details = [
            f"{v['id']}: {v['help']} -> " + "; ".join(n["target"][0] if n.get("target") else "?" for n in v["nodes"][:5])
            for v in result.response["violations"]
        ]
        pytest.fail(f"axe found {result.violations_count} violation(s) on {url}:\n" + "\n".join(details))


def login_in_browser(page, organizer, password=None) -> None:
    from tests.factories import PASSWORD

    page.goto(page.base + "/login")
    page.get_by_label("メールアドレス").fill(organizer.email)
    page.get_by_label("パスワード").fill(password or PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url("**/manage")


def named(label: str, person: str) -> re.Pattern:
    """The accessible name of a list row's control: its visible ``label``, then ``: person`` read
    from visually hidden text (Chromium puts a space before that text, which is out of the flow)."""
    return re.compile(rf"^{re.escape(label)} ?: {re.escape(person)}$")


MODES = [(js, lang) for js in (False, True) for lang in ("ja", "en")]
MODE_IDS = [f"{'js' if js else 'nojs'}-{lang}" for js, lang in MODES]


def page_in(browser, base: str, *, javascript: bool, lang: str, organizer=None):
    """A new page (its own context) with or without JavaScript, in Japanese or English (cookie
    ``lang``), logged in as ``organizer`` if given; ``page.requests`` as in ``page``. Close it
    with ``page.context.close()``."""
    pg = _new_page(browser, base, javascript=javascript, device=DESKTOP)
    if organizer is not None:
        login_in_browser(pg, organizer)
    if lang != "ja":
        pg.context.add_cookies([{"name": "lang", "value": lang, "url": base}])
    return pg
