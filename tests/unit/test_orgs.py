"""Organisations: the 総務省 code list, kinds, prefectures and regions."""

from collections import Counter

from eventsvc.core import orgs


def test_the_list_has_every_local_public_body_and_the_agencies():
    kinds = Counter(o.kind for o in orgs.all_organizations())
    assert kinds["prefecture"] == 47
    assert kinds["designated_city"] == 20
    assert kinds["city"] + kinds["designated_city"] + kinds["town"] + kinds["village"] == 1741
    assert kinds["national"] >= 30
    assert orgs.get("gov-digital").name == "デジタル庁"


def test_prefecture_gives_the_region():
    assert orgs.region_of("47") == "kyushu_okinawa"
    assert orgs.region_of("01") == "hokkaido"
    assert orgs.region_of("13") == "kanto"
    assert orgs.region_of("99") is None
    assert orgs.region_name("kyushu_okinawa") == "九州・沖縄"
    naha = orgs.get("472018")
    assert (naha.name, naha.kind, naha.region) == ("沖縄県那覇市", "city", "kyushu_okinawa")
    assert orgs.get("401307").kind == "designated_city"  # 福岡市


def test_search_by_kanji_or_kana_any_width():
    assert orgs.search("那覇")[0].code == "472018"
    assert orgs.search("なは")[0].code == "472018"
    assert orgs.search("ﾅﾊｼ")[0].code == "472018"
    assert orgs.search("") == []


def test_municipalities_of_a_prefecture_start_with_the_prefecture():
    okinawa = orgs.municipalities("47")
    assert okinawa[0].kind == "prefecture"
    assert len(okinawa) == 42  # 沖縄県 + 41 municipalities


def test_an_official_name_typed_in_full_finds_the_organisation_when_only_one_has_it():
    assert orgs.by_name("那覇市").code == "472018"
    assert orgs.by_name(" 沖縄県那覇市 ").code == "472018"
    assert orgs.by_name("沖縄県").prefecture_code == "47" and orgs.by_name("沖縄県").city is None
    assert orgs.by_name("デジタル庁").kind == "national"
    assert orgs.by_name("府中市") is None  # Tokyo and Hiroshima both have one
    assert orgs.by_name("那覇") is None and orgs.by_name("") is None
