"""The second factor's pure parts: TOTP codes (RFC 6238 vectors), the used-step rule, recovery codes."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

from eventsvc.auth import totp

#: RFC 6238 appendix B, SHA-1 secret "12345678901234567890"; 6-digit codes are the last 6 of the 8
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"), (1234567890, "005924"),
               (2000000000, "279037")]


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_codes_match_the_rfc_vectors():
    for t, code in RFC_VECTORS:
        assert totp.code_at(RFC_SECRET, at(t)) == code
        assert totp.verify(RFC_SECRET, code, at(t), None) == t // 30


def test_one_step_of_drift_either_way_and_no_more():
    now = at(1234567890)
    for offset, ok in ((-60, False), (-30, True), (0, True), (30, True), (60, False)):
        code = totp.code_at(RFC_SECRET, now + timedelta(seconds=offset))
        assert (totp.verify(RFC_SECRET, code, now, None) is not None) is ok, offset


def test_a_used_step_and_every_earlier_one_are_refused():
    now = at(1234567890)
    step = totp.step_at(now)
    code = totp.code_at(RFC_SECRET, now)
    assert totp.verify(RFC_SECRET, code, now, step - 1) == step
    assert totp.verify(RFC_SECRET, code, now, step) is None
    earlier = totp.code_at(RFC_SECRET, now - timedelta(seconds=30))
    assert totp.verify(RFC_SECRET, earlier, now, step) is None
    later = totp.code_at(RFC_SECRET, now + timedelta(seconds=30))
    assert totp.verify(RFC_SECRET, later, now, step) == step + 1


def test_check_tells_a_used_code_from_a_wrong_one():
    now = at(1234567890)
    step = totp.step_at(now)
    code = totp.code_at(RFC_SECRET, now)
    assert totp.check(RFC_SECRET, code, now, step - 1) == totp.Check(step)
    # the step just used, and an earlier code still inside the drift window: replays
    assert totp.check(RFC_SECRET, code, now, step) == totp.Check(None, replayed=True)
    earlier = totp.code_at(RFC_SECRET, now - timedelta(seconds=30))
    assert totp.check(RFC_SECRET, earlier, now, step) == totp.Check(None, replayed=True)
    # wrong, outside the window, or not a code at all: no replay
    wrong = "000000" if code != "000000" else "111111"
    assert totp.check(RFC_SECRET, wrong, now, step) == totp.Check(None, replayed=False)
    old = totp.code_at(RFC_SECRET, now - timedelta(seconds=90))
    assert totp.check(RFC_SECRET, old, now, step) == totp.Check(None, replayed=False)
    assert totp.check(RFC_SECRET, "abc", now, step) == totp.Check(None, replayed=False)
    # never used before: nothing is a replay
    assert totp.check(RFC_SECRET, wrong, now, None) == totp.Check(None)


def test_typing_is_forgiving_but_only_digits_count():
    now = at(1234567890)
    assert totp.verify(RFC_SECRET, " ００５ ９２４ ", now, None) is not None
    assert totp.verify(RFC_SECRET, "005-924", now, None) is not None
    for bad in ("", "5924", "0059245", "00592a", "OO5924"):
        assert totp.verify(RFC_SECRET, bad, now, None) is None, bad


def test_new_secrets_are_160_bit_base32_and_grouped_for_typing():
    secret = totp.new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert totp.new_secret() != secret
    assert totp.grouped("ABCDEFGHIJKL") == "ABCD EFGH IJKL"


def test_provisioning_uri_names_issuer_and_account():
    uri = totp.provisioning_uri(RFC_SECRET, "taro@city.naha.lg.jp", "eventsvc")
    assert uri.startswith("otpauth://totp/eventsvc:taro%40city.naha.lg.jp?")
    assert f"secret={RFC_SECRET}" in uri and "issuer=eventsvc" in uri


def test_recovery_codes_have_no_look_alikes_and_hash_forgivingly():
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[2-9A-HJKMNP-TV-Z]{4}(-[2-9A-HJKMNP-TV-Z]{4}){3}", code)
        assert not set(code) & set("01ILOU")
    code = codes[0]
    digest = totp.hash_recovery_code(code)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert totp.hash_recovery_code(code.lower()) == digest
    assert totp.hash_recovery_code(code.replace("-", " ")) == digest
    assert totp.hash_recovery_code(code.replace("-", "")) == digest
    assert totp.hash_recovery_code(codes[1]) != digest


def test_things_that_cannot_be_recovery_codes_hash_to_nothing():
    for bad in ("", "123456", "AAAA-AAAA-AAAA", "AAAA-AAAA-AAAA-AAA0", "AAAA-AAAA-AAAA-AAAA-A"):
        assert totp.hash_recovery_code(bad) is None, bad
    assert not totp.looks_like_totp("AAAA-AAAA-AAAA-AAAA") and totp.looks_like_totp("123 456")
