"""Japanese (and English) words for what the algorithm says in codes and counts.

:mod:`eventsvc.teams.assign` reports broken rules as a stable ``code`` plus the people
involved, and explains each team with counts (organisations, prefectures, kinds,
facilitators). Its own sentences are English; this module builds the ones people read,
through Flask-Babel (Japanese msgids), from those structured fields only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..core import orgs
from .assign import TeamExplanation

#: most people named in one message before 「ほかN名」
MAX_NAMED = 8

KIND_LABELS = {
    "national": _l("国の機関"),
    "prefecture": _l("都道府県"),
    "designated_city": _l("政令指定都市"),
    "city": _l("市区"),
    "town": _l("町"),
    "village": _l("村"),
}


def scope_label(scope: str) -> str:
    return _("受付済みの人") if scope == "checked_in" else _("参加確定の人")


def names_text(ids: Sequence, name_of: Callable[[object], str]) -> str:
    """``比嘉 太郎、知念 花子 ほか3名`` — the people a message is about."""
    shown = [name_of(i) for i in list(ids)[:MAX_NAMED]]
    text = _("、").join(shown)
    rest = len(ids) - len(shown)
    if rest > 0:
        text = _("%(names)s ほか%(n)s名", names=text, n=rest)
    return text


@dataclass
class Shape:
    """What a message may need to say: how many people and teams, sizes, facilitators."""

    people: int
    teams: int
    facilitators: int
    topics_given: int = 0

    @property
    def lo(self) -> int:
        return self.people // self.teams if self.teams else 0

    @property
    def hi(self) -> int:
        return self.lo + (1 if self.teams and self.people % self.teams else 0)

    def size_text(self) -> str:
        if self.lo == self.hi:
            return _("%(n)s人", n=self.lo)
        return _("%(lo)s〜%(hi)s人", lo=self.lo, hi=self.hi)

    def facilitator_rule(self) -> str:
        if self.teams and self.facilitators >= self.teams:
            top = -(-self.facilitators // self.teams)
            if top == 1:
                return _("ちょうど1人")
            return _("1〜%(n)s人", n=top)
        return _("多くても1人")


def violation_text(code: str, people: Sequence, *, name_of: Callable[[object], str], shape: Shape,
                   team: str | None = None) -> str:
    """One sentence naming the conflict, for a code of :mod:`eventsvc.teams.assign`.

    ``team`` names the team a rule about one team is about (when the teams exist).
    """
    who = names_text(people, name_of) if people else ""
    team_text = _("チーム %(name)s", name=team) if team else _("あるチーム")
    k, n = shape.teams, shape.people
    messages = {
        "no_people": lambda: _("チームに分ける人がいません。"),
        "invalid_team_count": lambda: _("チーム数は1以上で指定してください。"),
        "invalid_team_size": lambda: _("1チームの人数は1以上で指定してください。"),
        "too_many_teams": lambda: _("%(k)sチームに分けるには%(k)s人以上が必要ですが、対象は%(n)s人です。", k=k, n=n),
        "topics_mismatch": lambda: _("テーマが%(t)s個ありますが、チーム数は%(k)sです。", t=shape.topics_given, k=k),
        "duplicate_person": lambda: _("同じ人が二重に入っています: %(who)s", who=who),
        "unknown_person": lambda: _("対象に含まれていない人が指定されています: %(who)s", who=who),
        "unassigned": lambda: _("どのチームにも入っていない人がいます: %(who)s", who=who),
        "together_too_large": lambda: _(
            "「一緒にする」グループが大きすぎて、チームの人数（%(size)s）に収まりません: %(who)s",
            size=shape.size_text(), who=who),
        "apart_and_together": lambda: _("同じ人たちが「別のチームにする」と「一緒にする」の両方に指定されています: %(who)s",
                                        who=who),
        "apart_group_too_large": lambda: _(
            "%(m)s人を別々のチームにする指定ですが、チームは%(k)sつしかありません: %(who)s", m=len(people), k=k, who=who),
        "locked_out_of_range": lambda: _("固定したチームがありません（チームは%(k)sつ）: %(who)s", k=k, who=who),
        "locked_together_split": lambda: _("「一緒にする」人たちが別々のチームに固定されています: %(who)s", who=who),
        "locked_team_full": lambda: _("固定した人が多すぎて、チームの人数（%(size)s）を超えます: %(who)s",
                                      size=shape.size_text(), who=who),
        "locked_apart": lambda: _("「別のチームにする」人たちが同じチームに固定されています: %(who)s", who=who),
        "no_feasible_assignment": lambda: _(
            "すべての条件（一緒にする・別のチームにする・固定・ファシリテーターの配置）を同時に満たす"
            "チーム分けが見つかりません。どれかをゆるめてください。関係する人: %(who)s", who=who or "—"),
        "team_size": lambda: (_("%(team)sの人数が%(size)s人です（各チーム%(rule)s）。", team=team_text,
                                size=len(people), rule=shape.size_text()) if people
                              else _("空のチームがあります（各チーム%(rule)s）。", rule=shape.size_text())),
        "keep_together": lambda: _("「一緒にする」人たちが別々のチームにいます: %(who)s", who=who),
        "keep_apart": lambda: _("「別のチームにする」人たちが同じ%(team)sにいます: %(who)s", team=team_text, who=who),
        "locked": lambda: _("固定したチームから移動しています: %(who)s", who=who),
        "facilitator_rule": lambda: (
            _("%(team)sのファシリテーターが%(n)s人です（各チーム%(rule)s）: %(who)s", team=team_text, n=len(people),
              rule=shape.facilitator_rule(), who=who) if team and people
            else _("%(team)sにファシリテーターがいません（各チーム%(rule)s）。", team=team_text,
                   rule=shape.facilitator_rule()) if team
            else _("ファシリテーターの配置のルール（各チーム%(rule)s）を守れません: %(who)s",
                   rule=shape.facilitator_rule(), who=who or "—")),
    }
    make = messages.get(code)
    if make is None:
        return _("チーム分けの条件を満たしていません: %(who)s", who=who or code)
    return make()


@dataclass
class Mix:
    """A team's mix, ready to show: counts and the repeats worth a look."""

    size: int
    organizations: int
    prefectures: int
    #: ``[(display name, count)]`` for organisations with two or more people here
    repeated_organizations: list[tuple[str, int]]
    #: ``[(prefecture name, count)]``, most first
    prefecture_counts: list[tuple[str, int]]
    #: ``[(kind label, count)]``
    kinds: list[tuple[str, int]]
    facilitators: list[str]
    topic_matches: int | None

    def summary(self) -> str:
        """One line for screen readers and plain lists."""
        parts = [_("%(n)s人・%(o)s団体・%(p)s都道府県", n=self.size, o=self.organizations, p=self.prefectures)]
        if self.facilitators:
            parts.append(_("ファシリテーター: %(names)s", names=_("、").join(self.facilitators)))
        else:
            parts.append(_("ファシリテーターなし"))
        return " / ".join(parts)


def mix(explanation: TeamExplanation, *, org_names: Mapping[str, str], has_topic: bool) -> Mix:
    """The team's mix from the explanation's count fields (never its English summary)."""
    return Mix(
        size=explanation.size,
        organizations=len(explanation.organizations),
        prefectures=len(explanation.prefectures),
        repeated_organizations=[(org_names.get(key, key), c) for key, c in explanation.organizations.items() if c > 1],
        prefecture_counts=[(orgs.prefecture_name(code) or code, c) for code, c in explanation.prefectures.items()],
        kinds=[(str(KIND_LABELS.get(kind, kind)), c) for kind, c in explanation.kinds.items()],
        facilitators=list(explanation.facilitators),
        topic_matches=explanation.topic_matches if has_topic else None,
    )
