"""Pure helpers of the desk: reading codes out of scanner/camera input, hashing garbage, 50音順."""

from __future__ import annotations

import hashlib

import pytest

from eventsvc.checkin.codes import code_hash, extract_code, input_hash, kana_key
from eventsvc.registration.tickets import make_code


@pytest.fixture
def code():
    return make_code()


def test_canonical_code_passes_through(code):
    assert extract_code(code) == code


@pytest.mark.parametrize("mangle", [
    lambda c: c.lower(),
    lambda c: c.replace("-", ""),
    lambda c: c.replace("-", " "),
    lambda c: "  " + c + "\n",
    lambda c: c.translate({ord(ch): ord(ch) + 0xFEE0 for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-"}),  # full-width
    lambda c: "https://events.example.lg.jp/t/" + c + "?from=qr",
    lambda c: "チケット: " + c,
])
def test_typed_and_scanned_variants_normalise(code, mangle):
    assert extract_code(mangle(code)) == code


@pytest.mark.parametrize("raw", [
    "", " ", "T1", "T1-" + "A" * 27, "T1-" + "A" * 29, "T2-" + "A" * 28, "T1-" + "0" * 28, "T1-" + "O" * 28,
    "x" * 10_000, "\x00\x01\x02", "\ud800\udfff", "😀" * 50, "DROP TABLE registrations;", None, 42, b"T1-AAAA",
])
def test_garbage_is_none_never_an_exception(raw):
    assert extract_code(raw) is None


def test_two_codes_in_one_text_are_ambiguous(code):
    assert extract_code(f"{code} {make_code()}") is None


def test_code_inside_longer_alphanumerics_is_not_taken(code):
    assert extract_code("X" + code.replace("-", "") + "9") is None


def test_input_hash_is_short_and_never_the_input():
    for raw in ("T1-SECRET", "\ud800", "x" * 100_000, None):
        h = input_hash(raw)
        assert len(h) == 16 and all(c in "0123456789abcdef" for c in h)
    assert input_hash("abc") == hashlib.sha256(b"abc").hexdigest()[:16]


def test_code_hash_is_sha256_of_the_canonical_code(code):
    assert code_hash(code) == hashlib.sha256(code.encode()).hexdigest()


def test_kana_order_is_gojuon_with_voiced_and_small_kana_next_to_plain():
    names = ["ワタナベ", "サトウ", "ガトウ", "カトウ", "あべ", "ｱﾍﾞ", "キッカワ", "キツカワ", "イトウ", "ン", "ヤマダ"]
    ordered = sorted(names, key=kana_key)
    assert ordered == ["あべ", "ｱﾍﾞ", "イトウ", "カトウ", "ガトウ", "キッカワ", "キツカワ", "サトウ", "ヤマダ", "ワタナベ", "ン"]
