"""Demo registrations for the Naha study session (plugged into ``eventsvc.demo.DEMO_SEEDERS``).

About 40 people from Okinawa and Kyushu municipalities, the prefectures, and a few national
agency staff (facilitators by default) — through the real service, so every rule applies and
their e-mails sit in the outbox as they would.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..extensions import db
from . import service

#: (name, reading, e-mail local part, organisation code, e-mail domain, department, participation type)
PEOPLE = [
    ("比嘉 太郎", "ひが たろう", "t-higa", "472018", "city.naha.lg.jp", "デジタル推進課", "venue"),
    ("知念 花子", "ちねん はなこ", "h-chinen", "472018", "city.naha.lg.jp", "市民課", "venue"),
    ("金城 次郎", "きんじょう じろう", "j-kinjo", "472085", "city.urasoe.lg.jp", "情報政策課", "venue"),
    ("大城 さくら", "おおしろ さくら", "s-oshiro", "472051", "city.ginowan.lg.jp", "企画政策課", "venue"),
    ("玉城 健", "たまき けん", "k-tamaki", "472115", "city.okinawa.lg.jp", "DX推進室", "venue"),
    ("仲本 結", "なかもと ゆい", "y-nakamoto", "472131", "city.uruma.lg.jp", "総務課", "venue"),
    ("宮城 翔", "みやぎ しょう", "s-miyagi", "472077", "city.ishigaki.lg.jp", "情報政策課", "online"),
    ("下地 美咲", "しもじ みさき", "m-shimoji", "472140", "city.miyakojima.lg.jp", "デジタル推進課", "online"),
    ("新垣 大輔", "あらかき だいすけ", "d-arakaki", "472123", "city.tomigusuku.lg.jp", "企画課", "venue"),
    ("島袋 愛", "しまぶくろ あい", "a-shimabukuro", "472107", "city.itoman.lg.jp", "市民課", "venue"),
    ("上原 拓也", "うえはら たくや", "t-uehara", "472093", "city.nago.lg.jp", "総務課", "venue"),
    ("照屋 優子", "てるや ゆうこ", "y-teruya", "472158", "city.nanjo.lg.jp", "まちづくり推進課", "venue"),
    ("與那嶺 剛", "よなみね つよし", "t-yonamine", "473243", "vill.yomitan.lg.jp", "総務課", "venue"),
    ("山内 真理", "やまうち まり", "m-yamauchi", "473260", "town.chatan.lg.jp", "企画財政課", "venue"),
    ("崎山 健太", "さきやま けんた", "k-sakiyama", "473812", "town.taketomi.lg.jp", "政策推進課", "online"),
    ("東江 久美", "あがりえ くみ", "k-agarie", "470007", "pref.okinawa.lg.jp", "デジタル社会推進課", "venue"),
    ("我那覇 亮", "がなは りょう", "r-ganaha", "470007", "pref.okinawa.lg.jp", "市町村課", "venue"),
    ("佐藤 一郎", "さとう いちろう", "i-sato", "402036", "city.kurume.lg.jp", "市民課", "venue"),
    ("田中 恵", "たなか めぐみ", "m-tanaka", "401307", "city.fukuoka.lg.jp", "DX戦略課", "venue"),
    ("中村 悠", "なかむら ゆう", "y-nakamura", "401005", "city.kitakyushu.lg.jp", "情報政策課", "online"),
    ("井上 和也", "いのうえ かずや", "k-inoue", "400009", "pref.fukuoka.lg.jp", "デジタル推進課", "online"),
    ("松尾 彩", "まつお あや", "a-matsuo", "412015", "city.saga.lg.jp", "情報政策課", "venue"),
    ("山口 智", "やまぐち さとし", "s-yamaguchi", "422011", "city.nagasaki.lg.jp", "DX推進室", "venue"),
    ("村上 千尋", "むらかみ ちひろ", "c-murakami", "431001", "city.kumamoto.lg.jp", "行政改革課", "venue"),
    ("後藤 航", "ごとう わたる", "w-goto", "442011", "city.oita.lg.jp", "情報政策課", "online"),
    ("黒木 葵", "くろき あおい", "a-kuroki", "452017", "city.miyazaki.lg.jp", "デジタル推進課", "venue"),
    ("有村 颯太", "ありむら そうた", "s-arimura", "462012", "city.kagoshima.lg.jp", "情報政策課", "venue"),
    ("福田 里奈", "ふくだ りな", "r-fukuda", "402109", "city.yame.lg.jp", "企画政策課", "online"),
    ("原田 隼", "はらだ しゅん", "s-harada", "402303", "city.itoshima.lg.jp", "デジタル推進課", "online"),
    ("森 千夏", "もり ちなつ", "c-mori", "402214", "city.dazaifu.lg.jp", "市民課", "online"),
    ("吉田 陽菜", "よしだ ひな", "h-yoshida", "402176", "city.chikushino.lg.jp", "総務課", "online"),
    ("石井 直樹", "いしい なおき", "n-ishii", "402184", "city.kasuga.lg.jp", "情報政策課", "online"),
    ("平良 まどか", "たいら まどか", "m-taira", "472018", "city.naha.lg.jp", "ITイノベーション推進課", "venue"),
    ("国吉 悟", "くによし さとる", "s-kuniyoshi", "472085", "city.urasoe.lg.jp", "市民課", "venue"),
    ("山田 花子", "やまだ はなこ", "h-yamada", "gov-digital", "digital.go.jp", "", "venue"),
    ("鈴木 次郎", "すずき じろう", "j-suzuki", "gov-digital", "digital.go.jp", "", "venue"),
    ("高橋 美穂", "たかはし みほ", "m-takahashi", "gov-soumu", "soumu.go.jp", "", "venue"),
    ("伊藤 誠", "いとう まこと", "m-ito", "gov-cao", "cao.go.jp", "", "online"),
    ("渡辺 光", "わたなべ ひかる", "h-watanabe", None, "example.com", "NPO法人 地域DX研究会", "venue"),
    ("小林 蓮", "こばやし れん", "r-kobayashi", "472018", "city.naha.lg.jp", "子育て応援課", "venue"),
]


def seed_registrations(events_by_slug: dict, organizer, now: datetime) -> None:
    event = events_by_slug.get("naha-study-session")
    if event is None:  # already seeded on an earlier run
        return
    for i, (name, kana, local, code, domain, dept, tt) in enumerate(PEOPLE):
        data = service.RegistrationData(
            name=name, name_kana=kana, email=f"{local}@{domain}", organization_code=code,
            organization_name="" if code else dept, department=dept if code else "", ticket_type=tt,
            consent_privacy=True, consent_slack_mention=i % 4 != 0, consent_listing=i % 5 != 0)
        service.register(event, data, now + timedelta(seconds=i))
    db.session.flush()
    # one person could not come after all
    cancelled = next(r for r in service.list_registrations(event) if r.email.startswith("r-fukuda@"))
    service.cancel(cancelled, cancelled, now + timedelta(minutes=5))
    db.session.flush()

