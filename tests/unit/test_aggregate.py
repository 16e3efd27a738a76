"""summarise(): distributions, averages, NPS, choices with "other", free text — no app needed."""

from __future__ import annotations

import pytest

from eventsvc.surveys.aggregate import (
    Answer,
    QuestionSpec,
    TextAnswer,
    nps,
    percent,
    summarise,
    summarise_one,
)

RATING = QuestionSpec(1, "rating", "満足度", scale_min=1, scale_max=5)
NPS_Q = QuestionSpec(2, "rating", "推奨度", scale_min=0, scale_max=10)
SINGLE = QuestionSpec(3, "single", "投稿", options=("はい", "いいえ"), allow_other=True)
MULTI = QuestionSpec(4, "multiple", "テーマ", options=("AI", "BPR", "データ"), allow_other=True)
TEXT = QuestionSpec(5, "long_text", "感想")


def test_rating_distribution_covers_the_whole_scale_with_average():
    r = summarise_one(RATING, [Answer(1, v) for v in (5, 5, 4, 1)])
    assert [(b.label, b.count, b.percent) for b in r.distribution] == [
        ("1", 1, 25.0), ("2", 0, 0.0), ("3", 0, 0.0), ("4", 1, 25.0), ("5", 2, 50.0)]
    assert r.count == 4
    assert r.average == 3.75
    assert r.nps is None


def test_rating_ignores_values_off_the_scale_and_non_integers():
    r = summarise_one(RATING, [Answer(1, 6), Answer(1, "5"), Answer(1, True), Answer(1, None), Answer(1, 3)])
    assert r.count == 1 and r.average == 3


def test_no_answers_means_no_average_and_zero_percentages():
    r = summarise_one(NPS_Q, [])
    assert r.count == 0 and r.average is None
    assert all(b.percent == 0 for b in r.distribution)
    assert r.nps.score == 0 and r.nps.total == 0


@pytest.mark.parametrize("values, score, split", [
    ([10, 9, 8, 7, 6, 0], 0, (2, 2, 2)),
    ([10, 10, 10], 100, (3, 0, 0)),
    ([0, 6, 3], -100, (0, 0, 3)),
    ([9, 9, 9, 7, 6], 40, (3, 1, 1)),
    ([9, 6, 6], -33, (1, 0, 2)),
])
def test_nps_is_promoters_minus_detractors(values, score, split):
    result = nps(values)
    assert result.score == score
    assert (result.promoters, result.passives, result.detractors) == split
    assert summarise_one(NPS_Q, [Answer(2, v) for v in values]).nps == result


def test_single_choice_counts_other_separately_and_keeps_its_text():
    answers = [Answer(3, "はい"), Answer(3, "はい"), Answer(3, None, "たぶん"), Answer(3, "unknown"),
               Answer(3, "", "  ")]
    r = summarise_one(SINGLE, answers, other_label="その他")
    assert [(b.label, b.count, b.other) for b in r.distribution] == [
        ("はい", 2, False), ("いいえ", 0, False), ("その他", 1, True)]
    assert r.count == 3  # the unknown value and the blank "other" are not answers
    assert r.others == [TextAnswer("たぶん")]


def test_multiple_choice_percent_is_of_people_answering_and_counts_each_choice_once():
    answers = [Answer(4, ["AI", "BPR", "AI"]), Answer(4, ["BPR"], "防災"), Answer(4, [])]
    r = summarise_one(MULTI, answers)
    assert r.count == 2
    assert [(b.label, b.count, b.percent) for b in r.distribution] == [
        ("AI", 1, 50.0), ("BPR", 2, 100.0), ("データ", 0, 0.0), ("その他", 1, 50.0)]


def test_free_text_is_listed_trimmed_without_blanks_and_authors_only_when_given():
    answers = [Answer(5, "  よかった "), Answer(5, ""), Answer(5, "次も", author="比嘉 太郎"), Answer(5, 3)]
    r = summarise_one(TEXT, answers)
    assert r.texts == [TextAnswer("よかった"), TextAnswer("次も", "比嘉 太郎")]
    assert r.count == 2 and r.distribution is None and r.average is None


def test_summarise_keeps_question_order_and_separates_answers_by_question():
    answers = [Answer(1, 4), Answer(5, "感想"), Answer(3, "いいえ"), Answer(99, "stray")]
    results = summarise([TEXT, RATING, SINGLE], answers)
    assert [r.question.id for r in results] == [5, 1, 3]
    assert [r.count for r in results] == [1, 1, 1]


def test_percent_rounds_to_one_decimal():
    assert percent(1, 3) == 33.3
    assert percent(2, 3) == 66.7
    assert percent(0, 0) == 0.0
