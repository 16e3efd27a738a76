"""Slack request signatures (eventsvc.slack.signature): every failure is a clean 401 code."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from eventsvc.slack.signature import (
    CODES,
    SignatureError,
    VerifyResult,
    is_valid,
    sign,
    verify,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_750_000_000.0
TS = str(int(NOW) - 10)
BODY = b"token=xyz&team_id=T0FAKE&command=%2Fevents&text=&user_id=U123&trigger_id=1.2.abc"


def code_of(*args, **kwargs) -> str:
    with pytest.raises(SignatureError) as e:
        verify(*args, **kwargs)
    assert e.value.code in CODES
    return e.value.code


def test_valid_request():
    signature = sign(SECRET, TS, BODY)
    result = verify(SECRET, TS, BODY, signature, now=NOW)
    assert result == VerifyResult(timestamp=int(TS), age=10.0, signature=signature)
    assert is_valid(SECRET, TS, BODY, signature, NOW)


def test_agrees_with_slack_sdk_verifier():
    signature = sign(SECRET, TS, BODY)
    sdk = SignatureVerifier(SECRET, clock=type("C", (), {"now": lambda self: NOW})())
    headers = {"x-slack-request-timestamp": TS, "x-slack-signature": signature}
    assert sdk.is_valid_request(BODY, headers)
    assert sdk.generate_signature(timestamp=TS, body=BODY) == signature


def test_str_body_and_bytes_headers_are_accepted():
    signature = sign(SECRET, TS, BODY)
    assert verify(SECRET, TS.encode(), BODY.decode(), signature.encode(), now=NOW).timestamp == int(
        TS
    )
    assert verify(SECRET, TS, BODY, signature.upper().replace("V0=", "v0="), now=NOW)


def test_wrong_secret():
    assert (
        code_of("another-secret", TS, BODY, sign(SECRET, TS, BODY), now=NOW) == "invalid_signature"
    )


def test_tampered_body():
    signature = sign(SECRET, TS, BODY)
    assert code_of(SECRET, TS, BODY + b"&x=1", signature, now=NOW) == "invalid_signature"
    assert (
        code_of(SECRET, TS, BODY.replace(b"U123", b"U124"), signature, now=NOW)
        == "invalid_signature"
    )


def test_signature_bound_to_timestamp():
    signature = sign(SECRET, TS, BODY)
    other = str(int(TS) - 1)
    assert code_of(SECRET, other, BODY, signature, now=NOW) == "invalid_signature"


@pytest.mark.parametrize(
    ("offset", "ok"),
    [(0, True), (300, True), (-300, True), (301, False), (-301, False), (86_400, False)],
)
def test_five_minute_window_both_directions(offset, ok):
    ts = str(int(NOW) - offset)  # positive offset: an old request; negative: from the future
    signature = sign(SECRET, ts, BODY)
    if ok:
        assert verify(SECRET, ts, BODY, signature, now=NOW).age == offset
    else:
        assert code_of(SECRET, ts, BODY, signature, now=NOW) == "stale_timestamp"


@pytest.mark.parametrize(
    "timestamp",
    [
        "abc",
        "1750000000.5",
        "-1750000000",
        "+1750000000",
        "1e9",
        "１７５００００００",
        "0x1A",
        "1" * 13,
        "17 50",
    ],
)
def test_malformed_timestamp_is_a_clean_failure(timestamp):
    signature = sign(SECRET, timestamp, BODY)
    assert code_of(SECRET, timestamp, BODY, signature, now=NOW) == "invalid_timestamp"


def test_slack_sdk_would_crash_on_the_same_input():
    """Why this module exists: SignatureVerifier raises ValueError (a 500 in Flask)."""
    headers = {"x-slack-request-timestamp": "abc", "x-slack-signature": "v0=00"}
    with pytest.raises(ValueError):
        SignatureVerifier(SECRET).is_valid_request(BODY, headers)


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_missing_headers(missing):
    assert code_of(SECRET, missing, BODY, sign(SECRET, TS, BODY), now=NOW) == "missing_timestamp"
    assert code_of(SECRET, TS, BODY, missing, now=NOW) == "missing_signature"


@pytest.mark.parametrize(
    "bad",
    [
        "v1=" + "0" * 64,  # wrong version
        "v0:" + "0" * 64,
        "0" * 64,  # no prefix
        "v0=" + "0" * 63,  # short
        "v0=" + "g" * 64,  # not hex
        "v0=abc",
        "v0=" + "0" * 64 + ",v0=" + "1" * 64,
    ],
)
def test_wrong_version_or_malformed_signature(bad):
    assert code_of(SECRET, TS, BODY, bad, now=NOW) == "invalid_signature"


def test_right_hmac_under_another_version_prefix_is_rejected():
    digest = sign(SECRET, TS, BODY).split("=", 1)[1]
    assert code_of(SECRET, TS, BODY, f"v1={digest}", now=NOW) == "invalid_signature"


def test_non_ascii_header_bytes():
    assert code_of(SECRET, "17500000\u00e90".encode(), BODY, "x", now=NOW) == "invalid_timestamp"
    assert code_of(SECRET, TS, BODY, "v0=é".encode(), now=NOW) == "invalid_signature"


def test_empty_secret_refuses_everything():
    assert code_of("", TS, BODY, sign("", TS, BODY), now=NOW) == "not_configured"
    assert not is_valid("", TS, BODY, sign("", TS, BODY), NOW)


@given(
    timestamp=st.one_of(st.none(), st.text(max_size=20), st.binary(max_size=20)),
    signature=st.one_of(st.none(), st.text(max_size=80), st.binary(max_size=80)),
    body=st.binary(max_size=200),
)
def test_arbitrary_headers_never_raise_anything_else(timestamp, signature, body):
    try:
        verify(SECRET, timestamp, body, signature, now=NOW)
    except SignatureError as e:
        assert e.code in CODES


@given(body=st.binary(max_size=300), flip=st.integers(min_value=0, max_value=299))
def test_any_single_byte_change_is_detected(body, flip):
    signature = sign(SECRET, TS, body)
    assert verify(SECRET, TS, body, signature, now=NOW)
    if body:
        i = flip % len(body)
        changed = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        assert not is_valid(SECRET, TS, changed, signature, NOW)
