"""Organisations of the community: local public bodies, national agencies, regions.

Pure: imports only the standard library. The local public bodies come from the
総務省 list of 全国地方公共団体コード (JIS X 0402), shipped as package data in
``eventsvc/data/lg-codes.csv``; the prefecture code (JIS X 0401) gives the region,
and the region gives the default Slack channel for follow-ups.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

#: Region code → (Japanese name, English name, prefecture codes).
REGIONS: dict[str, tuple[str, str, range]] = {
    "hokkaido": ("北海道", "Hokkaido", range(1, 2)),
    "tohoku": ("東北", "Tohoku", range(2, 8)),
    "kanto": ("関東", "Kanto", range(8, 15)),
    "chubu": ("中部", "Chubu", range(15, 24)),
    "kinki": ("近畿", "Kinki", range(24, 31)),
    "chugoku": ("中国", "Chugoku", range(31, 36)),
    "shikoku": ("四国", "Shikoku", range(36, 40)),
    "kyushu_okinawa": ("九州・沖縄", "Kyushu & Okinawa", range(40, 48)),
}

#: 政令指定都市 (designated cities), by JIS X 0402 code.
DESIGNATED_CITIES = frozenset(
    {
        "011002", "041009", "111007", "121002", "141003", "141305", "141500",
        "151009", "221007", "221309", "231002", "261009", "271004", "271403",
        "281000", "331007", "341002", "401005", "401307", "431001",
    }
)  # fmt: skip

#: National ministries and agencies (府省庁). Codes are ours: ``gov-<slug>``.
NATIONAL_AGENCIES: tuple[tuple[str, str, str], ...] = (
    ("gov-cao", "内閣府", "ナイカクフ"),
    ("gov-cas", "内閣官房", "ナイカクカンボウ"),
    ("gov-digital", "デジタル庁", "デジタルチョウ"),
    ("gov-reconstruction", "復興庁", "フッコウチョウ"),
    ("gov-soumu", "総務省", "ソウムショウ"),
    ("gov-moj", "法務省", "ホウムショウ"),
    ("gov-mofa", "外務省", "ガイムショウ"),
    ("gov-mof", "財務省", "ザイムショウ"),
    ("gov-mext", "文部科学省", "モンブカガクショウ"),
    ("gov-mhlw", "厚生労働省", "コウセイロウドウショウ"),
    ("gov-maff", "農林水産省", "ノウリンスイサンショウ"),
    ("gov-meti", "経済産業省", "ケイザイサンギョウショウ"),
    ("gov-mlit", "国土交通省", "コクドコウツウショウ"),
    ("gov-env", "環境省", "カンキョウショウ"),
    ("gov-mod", "防衛省", "ボウエイショウ"),
    ("gov-cfa", "こども家庭庁", "コドモカテイチョウ"),
    ("gov-npa", "警察庁", "ケイサツチョウ"),
    ("gov-ppc", "個人情報保護委員会", "コジンジョウホウホゴイインカイ"),
    ("gov-fsa", "金融庁", "キンユウチョウ"),
    ("gov-caa", "消費者庁", "ショウヒシャチョウ"),
    ("gov-fdma", "消防庁", "ショウボウチョウ"),
    ("gov-nta", "国税庁", "コクゼイチョウ"),
    ("gov-jpo", "特許庁", "トッキョチョウ"),
    ("gov-jma", "気象庁", "キショウチョウ"),
    ("gov-jta", "観光庁", "カンコウチョウ"),
    ("gov-isa", "出入国在留管理庁", "シュツニュウコクザイリュウカンリチョウ"),
    ("gov-sports", "スポーツ庁", "スポーツチョウ"),
    ("gov-bunka", "文化庁", "ブンカチョウ"),
    ("gov-rinya", "林野庁", "リンヤチョウ"),
    ("gov-jfa", "水産庁", "スイサンチョウ"),
    ("gov-enecho", "資源エネルギー庁", "シゲンエネルギーチョウ"),
    ("gov-chusho", "中小企業庁", "チュウショウキギョウチョウ"),
    ("gov-jcg", "海上保安庁", "カイジョウホアンチョウ"),
    ("gov-jftc", "公正取引委員会", "コウセイトリヒキイインカイ"),
    ("gov-kunaicho", "宮内庁", "クナイチョウ"),
    ("gov-jinji", "人事院", "ジンジイン"),
    ("gov-jbaudit", "会計検査院", "カイケイケンサイン"),
)

KINDS = ("national", "prefecture", "designated_city", "city", "town", "village")
KIND_LABELS = {
    "national": "国の機関",
    "prefecture": "都道府県",
    "designated_city": "政令指定都市",
    "city": "市区",
    "town": "町",
    "village": "村",
}


@dataclass(frozen=True, slots=True)
class Organization:
    """One organisation people register from."""

    code: str
    name: str  #: display name, e.g. ``沖縄県那覇市`` or ``デジタル庁``
    name_kana: str  #: full-width katakana
    kind: str  #: one of :data:`KINDS`
    prefecture_code: str | None  #: ``"47"``; None for national agencies
    prefecture: str | None  #: ``沖縄県``
    city: str | None  #: ``那覇市``; None for prefectures and agencies

    @property
    def region(self) -> str | None:
        return region_of(self.prefecture_code) if self.prefecture_code else None


def region_of(prefecture_code: str | int) -> str | None:
    """Region code for a prefecture code (``"47"`` → ``"kyushu_okinawa"``)."""
    try:
        n = int(prefecture_code)
    except (TypeError, ValueError):
        return None
    for code, (_, _, prefs) in REGIONS.items():
        if n in prefs:
            return code
    return None


def region_name(code: str | None, locale: str = "ja") -> str:
    if not code or code not in REGIONS:
        return ""
    ja, en, _ = REGIONS[code]
    return en if locale.startswith("en") else ja


def _kind_of(code: str, city: str) -> str:
    if not city:
        return "prefecture"
    if code in DESIGNATED_CITIES:
        return "designated_city"
    if city.endswith("町"):
        return "town"
    if city.endswith("村"):
        return "village"
    return "city"  # 市 and the 23 special wards (特別区)


@cache
def all_organizations() -> tuple[Organization, ...]:
    """Every organisation: 47 prefectures, 1,741 municipalities, national agencies."""
    raw = resources.files("eventsvc").joinpath("data/lg-codes.csv").read_text(encoding="utf-8")
    out: list[Organization] = []
    for row in csv.DictReader(io.StringIO(raw)):
        city = row["city"].strip()
        pref = row["prefecture"].strip()
        kana = unicodedata.normalize("NFKC", row["city_kana"] or row["prefecture_kana"])
        out.append(
            Organization(
                code=row["code"],
                name=f"{pref}{city}" if city else pref,
                name_kana=kana,
                kind=_kind_of(row["code"], city),
                prefecture_code=row["code"][:2],
                prefecture=pref,
                city=city or None,
            )
        )
    for code, name, kana in NATIONAL_AGENCIES:
        out.append(Organization(code, name, kana, "national", None, None, None))
    return tuple(out)


@cache
def _by_code() -> dict[str, Organization]:
    return {o.code: o for o in all_organizations()}


def get(code: str | None) -> Organization | None:
    """The organisation with this code, or None."""
    return _by_code().get(code or "")


@cache
def prefectures() -> tuple[tuple[str, str], ...]:
    """``(prefecture_code, name)`` for the 47 prefectures, in JIS order."""
    return tuple(
        (o.prefecture_code, o.name) for o in all_organizations() if o.kind == "prefecture"
    )


def prefecture_name(code: str | None) -> str:
    return dict(prefectures()).get(code or "", "")


def municipalities(prefecture_code: str) -> list[Organization]:
    """The prefecture itself first, then its municipalities in code order."""
    return [o for o in all_organizations() if o.prefecture_code == prefecture_code]


def by_name(text: str) -> Organization | None:
    """The organisation whose official name was typed (``那覇市``, ``沖縄県那覇市``, ``沖縄県``,
    ``デジタル庁``; any width), if exactly one has it (``府中市`` is two: None)."""
    q = unicodedata.normalize("NFKC", text or "").strip()
    if not q:
        return None
    exact = [o for o in all_organizations() if o.name == q or o.city == q]
    return exact[0] if len(exact) == 1 else None


def search(query: str, limit: int = 20) -> list[Organization]:
    """Organisations whose name or reading contains the query (kanji, kana, any width)."""
    q = unicodedata.normalize("NFKC", query).strip()
    if not q:
        return []
    q_kana = "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in q)
    hits = [o for o in all_organizations() if q in o.name or q_kana in o.name_kana]
    hits.sort(
        key=lambda o: (
            not ((o.city or o.name).startswith(q) or o.name_kana.startswith(q_kana)),
            len(o.name),
        )
    )
    return hits[:limit]
