"""Browser tests run against the SQLite app served by ``live_server``.

``app`` (and so ``make``, ``client``, ``organizer``…) is that same app here, not the
SQLite/PostgreSQL pair of the integration tests: what a test creates is what the
browser sees.
"""

import pytest


@pytest.fixture
def app(live_server, sqlite_app):
    return sqlite_app
