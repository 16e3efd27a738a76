"""The registration modal (pure): what it asks, how a submission is read back, where errors go."""

from __future__ import annotations

import json

import pytest

from eventsvc.slack import modal
from tests.fakeslack import validate_view


def view(**overrides):
    args = dict(slug="20261215-abc", email="a@city.naha.lg.jp", event_title="那覇の勉強会 <!channel>",
                when="2026年12月15日 14:00–17:00", ticket_types=[("venue", "会場参加")],
                purpose="運営のためだけに使います。", prefill=modal.Prefill(name="山田 花子"))
    args.update(overrides)
    return modal.registration_view(**args)


def test_the_modal_is_a_valid_slack_view_and_escapes_what_people_typed():
    v = view()
    assert validate_view(v) == []
    assert "<!channel>" not in json.dumps(v, ensure_ascii=False)  # escaped: pings nobody
    assert json.loads(v["private_metadata"]) == {"slug": "20261215-abc", "email": "a@city.naha.lg.jp"}
    blocks = {b.get("block_id") for b in v["blocks"]}
    assert "ticket_type" not in blocks  # one participation type: nothing to choose


def test_several_participation_types_are_a_choice():
    v = view(ticket_types=[("venue", "会場参加"), ("online", "オンライン参加")])
    assert validate_view(v) == []
    (choice,) = [b for b in v["blocks"] if b.get("block_id") == "ticket_type"]
    assert [o["value"] for o in choice["element"]["options"]] == ["venue", "online"]


def sent(values):
    return dict(view(), state={"values": values})


def test_a_submission_is_read_back():
    got = modal.submitted(sent({
        "name": {"value": {"type": "plain_text_input", "value": "山田 花子"}},
        "kana": {"value": {"type": "plain_text_input", "value": "やまだ はなこ"}},
        "organization": {"value": {"type": "plain_text_input", "value": "那覇市"}},
        "department": {"value": {"type": "plain_text_input", "value": None}},
        "ticket_type": {"value": {"type": "static_select", "selected_option": {"value": "online"}}},
        "consent": {"value": {"type": "checkboxes", "selected_options": [{"value": "yes"}]}},
    }))
    assert got == modal.Submission(slug="20261215-abc", email="a@city.naha.lg.jp", name="山田 花子",
                                   name_kana="やまだ はなこ", organization="那覇市", department="",
                                   ticket_type="online", consent=True)


@pytest.mark.parametrize("state", [None, [], "x", {"values": []}, {"values": {"name": "x", "consent": {"value": 3}}}])
def test_malformed_state_reads_as_empty_fields(state):
    got = modal.submitted(dict(view(), state=state))
    assert got is not None and (got.name, got.consent, got.ticket_type) == ("", False, None)


@pytest.mark.parametrize("bad", [{"callback_id": "other"}, {"private_metadata": "not json"},
                                 {"private_metadata": json.dumps({"slug": 1, "email": "x"})}])
def test_views_that_are_not_ours_are_ignored(bad):
    assert modal.submitted(dict(view(), **bad)) is None


def test_errors_land_under_their_inputs_one_each():
    errors = modal.errors_for({"name_kana": "ふりがなは…", "organization_name": "所属を…",
                               "organization_code": "別の所属エラー", "consent_privacy": "同意が必要です。",
                               "answers.q1": "no block"})
    assert errors == {"kana": "ふりがなは…", "organization": "所属を…", "consent": "同意が必要です。"}
