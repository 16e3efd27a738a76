"""pytest fixture for the fake Slack Web API.

Import it where fixtures are collected, e.g. in ``tests/conftest.py``::

    from tests.fakeslack.fixtures import fake_slack  # noqa: F401

``fake_slack`` yields ``(fake, base_url)``: the :class:`~tests.fakeslack.FakeSlack` (seed it,
inject faults, inspect calls and messages) and ``http://127.0.0.1:PORT/api/`` for
``WebClient(base_url=…)`` / ``EVENTSVC_SLACK_API_URL``. The bot token is ``fake.bot_token``.
Proxy variables are removed for the test (``slack_sdk`` applies ``HTTPS_PROXY`` even to
``http://127.0.0.1`` unless ``NO_PROXY`` covers it); the server stops at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeSlack

PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)


@pytest.fixture
def fake_slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeSlack, str]]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    fake = FakeSlack()
    base_url = fake.start()
    try:
        yield fake, base_url
    finally:
        fake.stop()
