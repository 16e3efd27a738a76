"""Configuration from ``EVENTSVC_*`` variables (pure: no app)."""

from __future__ import annotations

from eventsvc.config import ENV_KEYS, Config, from_environment


def test_slack_settings_come_from_the_environment():
    got = from_environment({"EVENTSVC_SLACK_JOIN_URL": "https://join.example.lg.jp/slack",
                            "EVENTSVC_SLACK_TIMEOUT": "4", "EVENTSVC_SLACK_BOT_TOKEN": "",
                            "EVENTSVC_SLACK_DIRECTORY_MAX_AGE": "1.5"})
    assert got == {"SLACK_JOIN_URL": "https://join.example.lg.jp/slack", "SLACK_TIMEOUT": 4,
                   "SLACK_DIRECTORY_MAX_AGE": 1.5}


def test_every_variable_names_a_setting_with_a_default():
    assert all(hasattr(Config, key) for key in ENV_KEYS.values())
