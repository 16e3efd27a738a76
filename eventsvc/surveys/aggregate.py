"""Survey results from questions and answers: counts, distributions, averages, NPS, free text.

Pure: imports only the standard library. The service turns rows into
:class:`QuestionSpec` and :class:`Answer` values and calls :func:`summarise`; the
pages, the API, the exports and the charts all read the same :class:`QuestionResult`,
so a number can't differ between the chart, the table and the file.

Answers carry no respondent: nothing here can say who answered what.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

KINDS = ("rating", "single", "multiple", "text", "long_text")
CHOICE_KINDS = ("single", "multiple")
TEXT_KINDS = ("text", "long_text")


@dataclass(frozen=True)
class QuestionSpec:
    """One version of one question, as asked."""

    id: int
    kind: str
    text: str
    options: tuple[str, ...] = ()
    allow_other: bool = False
    scale_min: int | None = None
    scale_max: int | None = None
    min_label: str = ""
    max_label: str = ""

    @property
    def is_nps(self) -> bool:
        """A 0–10 "would you recommend" scale: the Net Promoter Score applies."""
        return self.kind == "rating" and self.scale_min == 0 and self.scale_max == 10

    def scale(self) -> list[int]:
        if self.kind != "rating" or self.scale_min is None or self.scale_max is None:
            return []
        return list(range(self.scale_min, self.scale_max + 1))


@dataclass(frozen=True)
class Answer:
    """One answer to one question version: ``value`` is an int (rating), a string
    (single, text, long_text) or a list of strings (multiple); ``other`` is the
    free text of "other" for choice questions."""

    question_id: int
    value: int | str | list[str] | None
    other: str = ""
    #: who wrote it — named surveys only; always "" for anonymous ones
    author: str = ""


@dataclass(frozen=True)
class TextAnswer:
    text: str
    author: str = ""


@dataclass(frozen=True)
class Bar:
    """One row of a distribution: ``percent`` is of the people who answered the question."""

    label: str
    count: int
    percent: float
    other: bool = False


@dataclass(frozen=True)
class Nps:
    """Net Promoter Score: promoters (9–10) minus detractors (0–6), in points of 100."""

    score: int
    promoters: int
    passives: int
    detractors: int
    total: int


@dataclass
class QuestionResult:
    question: QuestionSpec
    #: how many responses answered this question
    count: int = 0
    distribution: list[Bar] | None = None
    average: float | None = None
    nps: Nps | None = None
    #: free-text answers (text/long_text), in the order given
    texts: list[TextAnswer] = field(default_factory=list)
    #: the "other" texts of a choice question
    others: list[TextAnswer] = field(default_factory=list)


def percent(part: int, whole: int) -> float:
    """``part / whole`` in percent, rounded to one decimal (0 when nobody answered)."""
    return round(100.0 * part / whole, 1) if whole else 0.0


def nps(values: Iterable[int]) -> Nps:
    values = list(values)
    promoters = sum(1 for v in values if v >= 9)
    detractors = sum(1 for v in values if v <= 6)
    passives = len(values) - promoters - detractors
    total = len(values)
    score = round(100 * (promoters - detractors) / total) if total else 0
    return Nps(score, promoters, passives, detractors, total)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def summarise_one(question: QuestionSpec, answers: Sequence[Answer], *, other_label: str = "その他") -> QuestionResult:
    """The result of one question from the answers given to it (others are ignored)."""
    mine = [a for a in answers if a.question_id == question.id]
    result = QuestionResult(question)
    if question.kind == "rating":
        scale = question.scale()
        values = [a.value for a in mine if _is_int(a.value) and a.value in scale]
        result.count = len(values)
        result.distribution = [Bar(str(p), values.count(p), percent(values.count(p), len(values))) for p in scale]
        result.average = round(sum(values) / len(values), 2) if values else None
        if question.is_nps:
            result.nps = nps(values)
    elif question.kind in CHOICE_KINDS:
        counts = dict.fromkeys(question.options, 0)
        other_count = 0
        answered = 0
        for a in mine:
            chosen = a.value if isinstance(a.value, list) else ([a.value] if isinstance(a.value, str) else [])
            picked = [c for c in dict.fromkeys(chosen) if c in counts]
            other = question.allow_other and bool(a.other.strip())
            if not picked and not other:
                continue
            answered += 1
            for c in picked:
                counts[c] += 1
            if other:
                other_count += 1
                result.others.append(TextAnswer(a.other.strip(), a.author))
        result.count = answered
        result.distribution = [Bar(o, n, percent(n, answered)) for o, n in counts.items()]
        if question.allow_other:
            result.distribution.append(Bar(other_label, other_count, percent(other_count, answered), other=True))
    elif question.kind in TEXT_KINDS:
        result.texts = [TextAnswer(a.value.strip(), a.author) for a in mine
                        if isinstance(a.value, str) and a.value.strip()]
        result.count = len(result.texts)
    return result


def summarise(questions: Sequence[QuestionSpec], answers: Iterable[Answer], *,
              other_label: str = "その他") -> list[QuestionResult]:
    """Results for each question, in the questions' order."""
    by_question: dict[int, list[Answer]] = {}
    for a in answers:
        by_question.setdefault(a.question_id, []).append(a)
    return [summarise_one(q, by_question.get(q.id, []), other_label=other_label) for q in questions]


__all__ = ["KINDS", "Answer", "Bar", "Nps", "QuestionResult", "QuestionSpec", "TextAnswer", "nps", "percent", "summarise",
           "summarise_one"]
