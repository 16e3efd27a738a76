"""Organizer forms for the Slack pages (no JavaScript needed).

A channel is picked from the cached ``conversations.list``; while the cache is empty (Slack
not configured yet, or never fetched) the same field takes a channel ID typed by hand.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, SubmitField
from wtforms.validators import Optional

from ..core import orgs
from ..events.forms import choices
from ..formfields import Length
from ..web import locale
from .models import ChannelCache


def channel_choices(channels: list[ChannelCache], current: list[str] = (), empty_label=None):
    """Options for a channel select: the cached channels, plus current values not in the cache."""
    pairs = [("", empty_label or _l("（指定しない）"))]
    known = set()
    for ch in channels:
        label = f"#{ch.name}" + (str(_l("（非公開）")) if ch.is_private else "") + \
            ("" if ch.is_member else str(_l("（ボット未参加）")))
        pairs.append((ch.channel_id, label))
        known.add(ch.channel_id)
    for value in current:
        if value and value not in known:
            pairs.append((value, f"{value} " + str(_l("（一覧にありません）"))))
            known.add(value)
    return choices(pairs)


def region_channels_form(channels: list[ChannelCache], current: dict[str, str], formdata=None):
    """A form with one channel field per region (select, or text while the cache is empty)."""

    class RegionChannelsForm(FlaskForm):
        submit = SubmitField(_l("地域のチャンネルを保存"))

    for code in orgs.REGIONS:
        name = orgs.region_name(code, locale())
        if channels:
            field = SelectField(name, choices=channel_choices(channels, [current.get(code, "")]), default=current.get(code, ""),
                                validate_choice=False)
        else:
            field = StringField(name, validators=[Optional(), Length(max=32)], default=current.get(code, ""),
                                description=_l("チャンネルID（C… で始まる）"))
        setattr(RegionChannelsForm, f"region_{code}", field)
    form = RegionChannelsForm(formdata=formdata) if formdata is not None else RegionChannelsForm()
    return form


def event_channel_form(channels: list[ChannelCache], current: str, formdata=None):
    class EventChannelForm(FlaskForm):
        submit = SubmitField(_l("チャンネルを保存"))

    label = _l("このイベントの投稿先チャンネル")
    if channels:
        EventChannelForm.channel = SelectField(
            label, choices=channel_choices(channels, [current], empty_label=_l("（地域のチャンネルを使う）")),
            default=current, validate_choice=False)
    else:
        EventChannelForm.channel = StringField(label, validators=[Optional(), Length(max=32)], default=current,
                                               description=_l("チャンネルID（C… で始まる）。空欄なら地域のチャンネル"))
    return EventChannelForm(formdata=formdata) if formdata is not None else EventChannelForm()


class ManualLinkForm(FlaskForm):
    slack_user = StringField(_l("SlackのメンバーIDまたはメールアドレス"),
                             validators=[Length(max=254)],
                             description=_l("メンバーID（U… で始まる）か、その人がSlackで使っているメールアドレス"))
    submit = SubmitField(_l("連携する"))


class ConfirmForm(FlaskForm):
    digest = HiddenField()
    channel = HiddenField()
    submit = SubmitField(_l("この内容で送信を予約する"))
