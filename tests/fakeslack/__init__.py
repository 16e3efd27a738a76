"""A fake Slack Web API for tests: see :mod:`tests.fakeslack.server` and ``SLACK.md`` §6.

In a test, use the ``fake_slack`` fixture from :mod:`tests.fakeslack.fixtures`; elsewhere
(a benchmark, a demo) use ``with FakeSlack() as fake: WebClient(token=fake.bot_token,
base_url=fake.base_url)`` or ``python -m tests.fakeslack``.
"""

from .incoming import (
    block_action,
    block_action_payload,
    signed_headers,
    slash_command,
    view_submission,
)
from .ratelimit import METHOD_TIERS, RateLimits, TokenBucket
from .server import (
    BOT_ID,
    BOT_USER_ID,
    DEFAULT_BOT_TOKEN,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SCOPES,
    FAULT_KINDS,
    SLACKBOT_ID,
    TEAM_ID,
    Call,
    FakeSlack,
    Fault,
    validate_blocks,
    validate_view,
)

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "DEFAULT_BOT_TOKEN",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_SCOPES",
    "FAULT_KINDS",
    "METHOD_TIERS",
    "SLACKBOT_ID",
    "TEAM_ID",
    "Call",
    "FakeSlack",
    "Fault",
    "RateLimits",
    "TokenBucket",
    "block_action",
    "block_action_payload",
    "signed_headers",
    "slash_command",
    "validate_blocks",
    "validate_view",
    "view_submission",
]
