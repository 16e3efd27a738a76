"""Common passwords (Django's list, vendored) and the account's own address or name."""

from __future__ import annotations

import gzip
from importlib import resources

import pytest

from eventsvc.auth import passwords


def test_the_vendored_list_is_djangos_and_is_read_once():
    passwords.common_passwords.cache_clear()
    words = passwords.common_passwords()
    assert 19_000 < len(words) <= 20_000
    assert {"123456", "password", "qwerty", "password123", "iloveyou"} <= words
    assert all(w == w.strip().lower() and w for w in list(words)[:1000])
    assert passwords.common_passwords() is words  # cached: the file is read once
    data = resources.files("eventsvc.auth").joinpath("data")
    licence = data.joinpath("LICENSE").read_text(encoding="utf-8")
    assert "Django Software Foundation" in licence and "Redistribution and use" in licence
    with data.joinpath(passwords.LIST_FILE).open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
        assert sum(1 for _ in f) == len(words)


@pytest.mark.parametrize("password", ["password123", "PASSWORD123", "  Password123  ", "qwertyuiop",
                                      "1234567890", "iloveyou12", "ｐａｓｓｗｏｒｄ１２３"])
def test_common_passwords_are_found_whatever_the_case_spaces_or_width(password):
    assert passwords.is_common(password)


@pytest.mark.parametrize("password", ["correct horse battery staple", "a new and long password",
                                      "password 123 for the naha study session", ""])
def test_other_passwords_are_not_common(password):
    assert not passwords.is_common(password)


@pytest.mark.parametrize(("password", "email", "name"), [
    ("hanako.yamada", "hanako.yamada@city.naha.lg.jp", "山田 花子"),          # the address's local part
    ("Hanako.Yamada-2024", "hanako.yamada@city.naha.lg.jp", "山田 花子"),     # inside, any case
    ("yamada 2024 spring", "hanako.yamada@city.naha.lg.jp", "山田 花子"),     # a piece of it
    ("私は山田花子です123", "h.y@city.naha.lg.jp", "山田 花子"),               # the name, spaces aside
    ("ｙａｍａｄａ２０２４！", "t-yamada@digital.go.jp", "x"),                   # full width
    ("Taro Suzuki 1985", "ts@digital.go.jp", "Taro Suzuki"),                 # a romanised name
])
def test_the_accounts_address_or_name_inside_is_found(password, email, name):
    assert passwords.contains_personal(password, email=email, name=name)


@pytest.mark.parametrize(("password", "email", "name"), [
    ("correct horse battery staple", "organizer1@digital.go.jp", "主催 太郎"),
    ("a long password with ai", "ai@digital.go.jp", "山田 愛"),               # short parts are not looked for
    ("山田さんの勉強会2024", "h@city.naha.lg.jp", "山田 花子"),                # nor a two-character surname
    ("lg.jp digital go jp", "someone@digital.go.jp", "誰か"),                 # the domain is not personal
])
def test_other_passwords_do_not_contain_the_account(password, email, name):
    assert not passwords.contains_personal(password, email=email, name=name)


@pytest.mark.parametrize(("password", "untypable"), [
    ("\x00" * 12, True), ("correct horse\nbattery", True), ("correct\u202ehorse battery", True),
    ("correct horse battery staple", False), ("日本語の長いパスワードです𠮷", False), ("tab\tis a control", True)])
def test_passwords_nobody_can_type_at_a_login_form(password, untypable):
    assert passwords.has_control_characters(password) is untypable
