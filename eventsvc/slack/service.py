"""Slack rules: the connection, where follow-ups go, account links, follow-ups, Slack → eventsvc.

Plain functions over the session (they flush, the caller commits) that take the acting
organizer and ``now``, and raise :class:`~eventsvc.errors.DomainError`. Slack itself is
reached through a :class:`~eventsvc.slack.gateway.SlackGateway` the caller passes in
(:func:`gateway` builds the real one from the configuration), so nothing here reads a
request.

Follow-ups are planned first (:func:`plan_followup` — exactly the messages that would be
sent, for the preview) and then queued (:func:`queue_followup`) as outbox deliveries in
the caller's transaction; the sender in :mod:`eventsvc.slack.sender` posts them. One
delivery per (event, kind, target): queuing again after it was sent becomes a correction
with ``chat.update``, queuing the same content again changes nothing.

Facts from features that sit below Slack but may not be installed (who actually came,
teams, survey links, when the survey opens) come through small hooks
(:func:`register_attendance_source`, :func:`register_team_source`,
:func:`register_survey_link_source`, :func:`register_survey_opening_source`); without them
a report counts confirmed registrations and says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..core import orgs
from ..core.clock import format_range, format_time, jst_combine, to_jst
from ..core.i18n import N_, msg
from ..core.text import is_katakana_reading, to_katakana
from ..errors import Conflict, DomainError, NotFound, ValidationFailed
from ..events import service as events_service
from ..events.models import Event
from ..extensions import db
from ..outbox import service as outbox
from ..outbox.models import Delivery
from ..registration import service as registration_service
from ..registration.mail import absolute_url
from ..registration.models import ACTIVE, Registration
from . import blocks, directory, modal
from .gateway import (
    INVITE_CHUNK,
    SdkGateway,
    SlackConfigError,
    SlackError,
    SlackGateway,
    SlackPermanent,
    SlackUser,
    normalize_email,
)
from .models import ChannelCache, EventChannel, RegionChannel, SeenKey, SlackLink
from .mrkdwn import escape, escape_line, link

log = logging.getLogger(__name__)

SLACK_AUTHORIZE_URL = "https://slack.com/openid/connect/authorize"
OIDC_SALT = "eventsvc.slack-oidc.v1"
OIDC_MAX_AGE = 600  # seconds a "Sign in with Slack" state stays valid
OIDC_SCOPES = "openid email profile"
#: up to this many addresses are looked up one by one (Tier 3); more → one users.list pass
LOOKUP_LIMIT = 20
CHANNEL_CACHE_MAX_AGE = timedelta(hours=6)
SEEN_RETENTION = {"request": timedelta(minutes=15), "oidc_state": timedelta(seconds=OIDC_MAX_AGE + 300)}
#: when the reminder goes out: the day before, at noon Japan time
REMINDER_AT = time(12, 0)

FOLLOWUP_KINDS = ("announcement", "reminder", "report", "survey_dm", "invite")
FOLLOWUP_LABELS = {
    "announcement": N_("告知（参加者募集）"),
    "reminder": N_("前日リマインダー"),
    "report": N_("開催報告"),
    "survey_dm": N_("アンケートのお願い（DM）"),
    "invite": N_("参加者をチャンネルに招待"),
}
#: delivery kinds (outbox ``kind``) the sender handles
POST_KINDS = ("slack.announcement", "slack.reminder", "slack.report", "slack.report_teams", "slack.survey_dm")
UPDATE_KIND = "slack.update"
INVITE_KIND = "slack.invite"

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{4,20}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_LOCAL_KINDS = {"prefecture", "designated_city", "city", "town", "village"}

#: Scopes the bot token needs, what each is for, and whether we can do without it.
SCOPES: tuple[tuple[str, str, bool], ...] = (
    ("chat:write", N_("告知・リマインダー・開催報告・アンケートDMの投稿"), True),
    ("channels:read", N_("チャンネル一覧（地域チャンネルの選択）"), True),
    ("channels:join", N_("公開チャンネルへの参加（投稿の前に）"), True),
    ("channels:manage", N_("参加者を公開チャンネルに招待"), True),
    ("channels:history", N_("投稿済みかの確認（通信が途切れたときの二重投稿防止）"), True),
    ("im:write", N_("アンケートのDMを開く"), True),
    ("im:history", N_("DMが届いたかの確認"), True),
    ("users:read", N_("Slackユーザーの確認"), True),
    ("users:read.email", N_("メールアドレスでのアカウント照合"), True),
    ("commands", N_("スラッシュコマンドと参加登録ボタン"), True),
    ("chat:write.public", N_("参加していない公開チャンネルへの投稿（任意）"), False),
    ("groups:read", N_("非公開チャンネルの一覧（任意）"), False),
    ("groups:write", N_("非公開チャンネルへの招待（任意）"), False),
    ("groups:history", N_("非公開チャンネルの投稿確認（任意）"), False),
)


# ================================================================== configuration
def configured(config: Mapping[str, Any]) -> bool:
    """A bot token is set: posting and linking can work."""
    return bool(config.get("SLACK_BOT_TOKEN"))


def signing_configured(config: Mapping[str, Any]) -> bool:
    return bool(config.get("SLACK_SIGNING_SECRET"))


def oidc_configured(config: Mapping[str, Any]) -> bool:
    return bool(config.get("SLACK_CLIENT_ID") and config.get("SLACK_CLIENT_SECRET"))


def gateway(config: Mapping[str, Any], **options: Any) -> SdkGateway:
    """The real gateway for this configuration (calls raise ``SlackConfigError`` without a token)."""
    return SdkGateway(
        config.get("SLACK_BOT_TOKEN") or None,
        base_url=config.get("SLACK_API_URL") or None,
        client_id=config.get("SLACK_CLIENT_ID") or None,
        client_secret=config.get("SLACK_CLIENT_SECRET") or None,
        timeout=int(config.get("SLACK_TIMEOUT", 10)),
        **options,
    )


def authorize_endpoint(config: Mapping[str, Any]) -> str:
    """Where "Sign in with Slack" sends the browser: slack.com, or next to ``SLACK_API_URL``
    (``http://127.0.0.1:PORT/api/`` → ``…/openid/connect/authorize``) for a local fake."""
    api_url = config.get("SLACK_API_URL")
    if not api_url:
        return SLACK_AUTHORIZE_URL
    base = api_url if api_url.endswith("/") else api_url + "/"
    return urljoin(base, "../openid/connect/authorize")


def response_url_allowed(url: str, config: Mapping[str, Any]) -> bool:
    """Only Slack's hooks host (or the configured fake's host) receives ephemeral answers."""
    parts = urlsplit(url or "")
    if parts.scheme == "https" and parts.hostname == "hooks.slack.com":
        return True
    api_url = config.get("SLACK_API_URL")
    if api_url:
        api = urlsplit(api_url)
        return (parts.scheme, parts.hostname, parts.port) == (api.scheme, api.hostname, api.port)
    return False


def _actor_label(actor: Any) -> str:
    if actor is None:
        return ""
    if isinstance(actor, str):
        return actor[:100]
    return (getattr(actor, "name", "") or getattr(actor, "email", "") or "")[:100]


# ================================================================== hooks (facts from below)
#: ``fn(event) -> registrations that actually came``, or None when nobody recorded it
AttendanceSource = Callable[[Event], "list[Registration] | None"]
#: ``fn(event) -> [(team name, [registration ids])]`` (empty: no teams)
TeamSource = Callable[[Event], "list[tuple[str, list[int]]]"]
#: ``fn(event, registration or None) -> survey URL`` (None: no survey); the registration's
#: personal link for a DM, the general link for the report
SurveyLinkSource = Callable[[Event, "Registration | None"], "str | None"]

#: ``fn(event, registration) -> dedupe key`` shared with another sender of the same DM
SurveyDmKey = Callable[[Event, Registration], "str | None"]
#: ``fn(event, now) -> when the event's survey opens`` if it is not open yet (None: open, or none)
SurveyOpening = Callable[[Event, datetime], "datetime | None"]

_attendance_sources: list[AttendanceSource] = []
_team_sources: list[TeamSource] = []
_survey_link_sources: list[SurveyLinkSource] = []
_survey_dm_keys: list[SurveyDmKey] = []
_survey_openings: list[SurveyOpening] = []


def register_attendance_source(fn: AttendanceSource) -> None:
    """Check-in plugs in here: who came (the report's count, DMs, invitations)."""
    if fn not in _attendance_sources:
        _attendance_sources.append(fn)


def register_team_source(fn: TeamSource) -> None:
    """Teams plug in here: the team list posted as a thread reply to the report."""
    if fn not in _team_sources:
        _team_sources.append(fn)


def register_survey_link_source(fn: SurveyLinkSource) -> None:
    """Surveys plug in here: the link in the report and in each attendee's DM."""
    if fn not in _survey_link_sources:
        _survey_link_sources.append(fn)


def register_survey_dm_key(fn: SurveyDmKey) -> None:
    """Surveys plug in here so their Slack invitation and our survey DM are the same delivery."""
    if fn not in _survey_dm_keys:
        _survey_dm_keys.append(fn)


def register_survey_opening_source(fn: SurveyOpening) -> None:
    """Surveys plug in here: survey DMs wait for the survey's opening (a link sent earlier
    would only say "opens at …")."""
    if fn not in _survey_openings:
        _survey_openings.append(fn)


def survey_opens_at(event: Event, now: datetime) -> datetime | None:
    """When the event's survey opens, if that is still ahead (None: open already, or no survey)."""
    found = [at for at in (fn(event, now) for fn in _survey_openings) if at is not None]
    return max(found) if found else None


def survey_dm_key(event: Event, registration: Registration) -> str | None:
    for fn in _survey_dm_keys:
        key = fn(event, registration)
        if key:
            return key
    return None


def attended(event: Event) -> list[Registration] | None:
    for source in _attendance_sources:
        found = source(event)
        if found is not None:
            return list(found)
    return None


def teams_of(event: Event) -> list[tuple[str, list[int]]]:
    for source in _team_sources:
        found = source(event)
        if found:
            return list(found)
    return []


def survey_link(event: Event, registration: Registration | None) -> str | None:
    for source in _survey_link_sources:
        url = source(event, registration)
        if url:
            return url
    return None


def participants(event: Event) -> tuple[list[Registration], bool]:
    """Who took part: the checked-in attendees when check-in recorded any (True), else the
    confirmed registrations (False)."""
    came = attended(event)
    if came:
        return sorted(came, key=lambda r: r.id), True
    regs = db.session.scalars(
        select(Registration).where(Registration.event_id == event.id, Registration.status == "confirmed")
        .order_by(Registration.id)
    ).all()
    return list(regs), False


# ================================================================== workspace status
@dataclass
class ScopeCheck:
    scope: str
    purpose: str
    required: bool
    granted: bool | None  # None: Slack did not say


@dataclass
class WorkspaceStatus:
    configured: bool
    ok: bool = False
    team_id: str = ""
    team: str = ""
    url: str = ""
    bot_user_id: str = ""
    error: str = ""
    team_mismatch: bool = False
    scopes: list[ScopeCheck] = field(default_factory=list)
    signing_secret: bool = False
    oidc: bool = False

    @property
    def missing_required(self) -> list[str]:
        return [s.scope for s in self.scopes if s.required and s.granted is False]


def workspace_status(gw: SlackGateway | None, config: Mapping[str, Any]) -> WorkspaceStatus:
    """``auth.test``: which workspace the token belongs to and which needed scopes it has."""
    status = WorkspaceStatus(configured=configured(config), signing_secret=signing_configured(config),
                             oidc=oidc_configured(config))
    if not status.configured or gw is None:
        status.scopes = [ScopeCheck(s, p, r, None) for s, p, r in SCOPES]
        return status
    try:
        info = gw.auth_test()
    except SlackError as err:
        status.error = err.error
        status.scopes = [ScopeCheck(s, p, r, None) for s, p, r in SCOPES]
        return status
    status.ok = True
    status.team_id, status.team, status.url, status.bot_user_id = info.team_id, info.team, info.url, info.user_id
    expected = config.get("SLACK_TEAM_ID")
    status.team_mismatch = bool(expected and expected != info.team_id)
    status.scopes = [
        ScopeCheck(s, p, r, None if info.scopes is None else s in info.scopes) for s, p, r in SCOPES
    ]
    return status


def our_team_id(gw: SlackGateway, config: Mapping[str, Any]) -> str:
    """The workspace we belong to: ``SLACK_TEAM_ID``, else the bot token's (``auth.test``)."""
    return config.get("SLACK_TEAM_ID") or gw.auth_test().team_id


# ================================================================== channels
@dataclass(frozen=True)
class ChannelRef:
    id: str
    name: str
    source: str  # explicit / event / region

    @property
    def label(self) -> str:
        return f"#{self.name}" if self.name else self.id


def refresh_channels(gw: SlackGateway, now: datetime) -> list[ChannelCache]:
    """Fetch ``conversations.list`` (every page) into the cache; archived channels are dropped."""
    try:
        channels = gw.list_channels()
    except SlackPermanent as err:
        if err.error == "missing_scope":  # no groups:read: public channels only
            channels = gw.list_channels(types="public_channel")
        else:
            raise
    db.session.execute(delete(ChannelCache))
    rows = []
    for ch in channels:
        if ch.is_archived:
            continue
        row = ChannelCache(channel_id=ch.id, name=ch.name[:100], is_private=ch.is_private, is_archived=False,
                           is_member=ch.is_member, num_members=ch.num_members, fetched_at=now)
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    return sorted(rows, key=lambda r: r.name)


def cached_channels() -> list[ChannelCache]:
    return list(db.session.scalars(select(ChannelCache).order_by(ChannelCache.name)))


def channels_fetched_at() -> datetime | None:
    row = db.session.scalar(select(ChannelCache).limit(1))
    return row.fetched_at if row else None


def channels_stale(now: datetime) -> bool:
    fetched = channels_fetched_at()
    return fetched is None or now - fetched > CHANNEL_CACHE_MAX_AGE


def _channel_name(channel_id: str) -> str:
    row = db.session.get(ChannelCache, channel_id)
    return row.name if row else ""


def _check_channel(errors: dict, key: str, value: str | None) -> str | None:
    """A channel id from the cache (or any well-formed id while the cache is empty)."""
    value = (value or "").strip()
    if not value:
        return None
    if not _CHANNEL_ID.match(value):
        errors[key] = N_("チャンネルIDの形式が正しくありません（C… で始まるID）。")
        return None
    if db.session.scalar(select(ChannelCache.channel_id).limit(1)) is not None and db.session.get(
            ChannelCache, value) is None:
        errors[key] = N_("このチャンネルは一覧にありません。チャンネル一覧を更新してください。")
        return None
    return value


def region_channels() -> dict[str, RegionChannel]:
    return {r.region: r for r in db.session.scalars(select(RegionChannel))}


def set_region_channels(mapping: Mapping[str, str | None], actor: Any, now: datetime, *,
                        replace: bool = True) -> dict[str, RegionChannel]:
    """Region code → channel id. With ``replace`` regions not named lose their channel;
    an empty value removes one. Unknown regions and channels are field errors."""
    errors: dict[str, str] = {}
    clean: dict[str, str | None] = {}
    for region, channel in mapping.items():
        if region not in orgs.REGIONS:
            errors[region] = N_("地域が正しくありません。")
            continue
        clean[region] = _check_channel(errors, region, channel)
    if errors:
        raise ValidationFailed(errors)
    current = region_channels()
    who = _actor_label(actor)
    for region in orgs.REGIONS:
        if region not in clean and not replace:
            continue
        channel = clean.get(region)
        row = current.get(region)
        if channel is None:
            if row is not None:
                db.session.delete(row)
            continue
        if row is None:
            db.session.add(RegionChannel(region=region, channel_id=channel, channel_name=_channel_name(channel),
                                         updated_by=who, updated_at=now))
        elif row.channel_id != channel:
            row.channel_id, row.channel_name = channel, _channel_name(channel)
            row.updated_by, row.updated_at = who, now
    db.session.flush()
    return region_channels()


def event_channel(event: Event) -> EventChannel | None:
    return db.session.get(EventChannel, event.id)


def set_event_channel(event: Event, channel_id: str | None, actor: Any, now: datetime) -> EventChannel | None:
    """Override the region's channel for one event (None/empty: use the region's again)."""
    errors: dict[str, str] = {}
    channel = _check_channel(errors, "channel", channel_id)
    if errors:
        raise ValidationFailed(errors)
    row = event_channel(event)
    if channel is None:
        if row is not None:
            db.session.delete(row)
            db.session.flush()
        return None
    name = _channel_name(channel)
    if row is None:
        row = EventChannel(event_id=event.id, channel_id=channel, channel_name=name)
        db.session.add(row)
    row.channel_id, row.channel_name = channel, name
    row.updated_by, row.updated_at = _actor_label(actor), now
    db.session.flush()
    return row


def event_region(event: Event) -> str | None:
    return event.region or (orgs.region_of(event.prefecture_code) if event.prefecture_code else None)


def channel_for(event: Event, explicit: str | None = None) -> ChannelRef | None:
    """Where follow-ups of ``event`` go: the given channel, the event's override, or its
    region's channel."""
    if explicit:
        errors: dict[str, str] = {}
        channel = _check_channel(errors, "channel", explicit)
        if errors:
            raise ValidationFailed(errors)
        return ChannelRef(channel, _channel_name(channel), "explicit")
    override = event_channel(event)
    if override is not None:
        return ChannelRef(override.channel_id, _channel_name(override.channel_id) or override.channel_name, "event")
    region = event_region(event)
    row = db.session.get(RegionChannel, region) if region else None
    if row is not None:
        return ChannelRef(row.channel_id, _channel_name(row.channel_id) or row.channel_name, "region")
    return None


# ================================================================== account links
@dataclass
class LinkRow:
    registration: Registration
    link: SlackLink | None

    @property
    def status(self) -> str:
        return self.link.status if self.link is not None else "unknown"

    @property
    def slack_user_id(self) -> str | None:
        return self.link.slack_user_id if self.link is not None and self.link.status == "linked" else None


@dataclass
class LinkSummary:
    linked: int
    not_found: int
    unknown: int
    rows: list[LinkRow]


def links_for(event: Event) -> dict[int, SlackLink]:
    return {link.registration_id: link for link in db.session.scalars(
        select(SlackLink).where(SlackLink.event_id == event.id))}


def link_rows(event: Event, statuses: Iterable[str] = ACTIVE) -> list[LinkRow]:
    regs = db.session.scalars(
        select(Registration).where(Registration.event_id == event.id, Registration.status.in_(list(statuses)))
        .order_by(Registration.name_kana, Registration.id)
    ).all()
    links = links_for(event)
    return [LinkRow(r, links.get(r.id)) for r in regs]


def summarize(rows: list[LinkRow]) -> LinkSummary:
    linked = sum(1 for r in rows if r.status == "linked")
    not_found = sum(1 for r in rows if r.status == "not_in_workspace")
    return LinkSummary(linked, not_found, len(rows) - linked - not_found, rows)


def _set_link(reg: Registration, *, status: str, user_id: str | None, method: str, pinned: bool,
              who: str, now: datetime, team_id: str = "") -> SlackLink:
    link = db.session.get(SlackLink, reg.id)
    if link is None:
        link = SlackLink(registration_id=reg.id, event_id=reg.event_id)
        db.session.add(link)
    link.status, link.slack_user_id, link.method, link.pinned = status, user_id, method, pinned
    link.slack_team_id = team_id or link.slack_team_id or ""
    link.updated_by, link.checked_at, link.updated_at = who[:100], now, now
    return link


def link_accounts(event: Event, gw: SlackGateway, actor: Any, now: datetime) -> LinkSummary:
    """Match the event's active registrations to Slack members by e-mail address.

    From the workspace directory the worker keeps (:mod:`.directory`) when it is ready;
    otherwise a few addresses are looked up one by one (``users.lookupByEmail``, Tier 3) and
    more go through one ``users.list`` pass (Tier 2, 200 a page). Deactivated members, bots
    and apps do not count. Links a person decided (by hand, Sign in with Slack) are kept as
    they are. A Slack failure changes nothing (the caller rolls back).
    """
    rows = link_rows(event)
    todo = [r for r in rows if not (r.link is not None and r.link.pinned)]
    members = _members_by_email([normalize_email(r.registration.email) for r in todo], gw, now)
    who = _actor_label(actor) or "一括照合"
    for row in todo:
        member = members.get(normalize_email(row.registration.email))
        if member is not None:
            row.link = _set_link(row.registration, status="linked", user_id=member[0], method="bulk",
                                 pinned=False, who=who, now=now, team_id=member[1])
        else:
            row.link = _set_link(row.registration, status="not_in_workspace", user_id=None, method="bulk",
                                 pinned=False, who=who, now=now)
    db.session.flush()
    return summarize(rows)


def _members_by_email(emails: list[str], gw: SlackGateway, now: datetime) -> dict[str, tuple[str, str]]:
    """Address → (member id, team id) of the active workspace members among ``emails``.

    From the local directory when it is complete (no Slack call; addresses it lacks are
    looked up one by one when there are few — people who joined since it was read). Without
    it: a few addresses one by one, more through one ``users.list`` pass, and the worker is
    asked to build the directory.
    """
    known = directory.lookup(emails, now)
    if known is not None:
        out = {e: (m.user_id, m.team_id) for e, m in known.items() if m is not None and not m.deleted}
        misses = [e for e, m in known.items() if m is None]
        found = {e: gw.lookup_by_email(e) for e in misses} if len(misses) <= LOOKUP_LIMIT else {}
    else:
        directory.request_refresh(now)
        out = {}
        if len(emails) > LOOKUP_LIMIT:
            everyone = gw.list_users()
            found = {e: everyone.get(e) for e in emails}
        else:
            found = {e: gw.lookup_by_email(e) for e in emails}
    for email, user in found.items():
        if user is not None and not user.deleted and not user.is_bot:
            out[email] = (user.id, user.team_id or "")
    return out


def get_registration(event: Event, registration_id: int) -> Registration:
    reg = db.session.get(Registration, registration_id)
    if reg is None or reg.event_id != event.id:
        raise NotFound("registration_not_found", N_("申込みが見つかりません。"))
    return reg


def link_manually(reg: Registration, who_in_slack: str, gw: SlackGateway | None, actor: Any,
                  now: datetime) -> SlackLink:
    """Link by hand to a member id (``U…``) or the e-mail address they use in Slack.

    With Slack configured the member is checked (exists, active, a person)."""
    value = (who_in_slack or "").strip()
    user: SlackUser | None = None
    if "@" in value:
        if gw is None:
            raise ValidationFailed({"slack_user": N_("Slackが未設定のため、メールアドレスでは照合できません。メンバーID（U…）を入力してください。")})
        user = gw.lookup_by_email(value)
        if user is None:
            raise ValidationFailed({"slack_user": N_("このメールアドレスのSlackメンバーは見つかりません。")})
    elif _USER_ID.match(value):
        if gw is not None:
            user = gw.user_info(value)
            if user is None:
                raise ValidationFailed({"slack_user": N_("このIDのSlackメンバーは見つかりません。")})
    else:
        raise ValidationFailed({"slack_user": N_("メンバーID（U…）かメールアドレスを入力してください。")})
    if user is not None and (user.deleted or user.is_bot):
        raise ValidationFailed({"slack_user": N_("このメンバーは無効化されているか、ボットです。")})
    user_id = user.id if user is not None else value
    link = _set_link(reg, status="linked", user_id=user_id, method="manual", pinned=True,
                     who=_actor_label(actor), now=now, team_id=(user.team_id if user else "") or "")
    db.session.flush()
    return link


def unlink(reg: Registration, actor: Any, now: datetime) -> SlackLink:
    """Forget the link; a bulk run will not link this registration again (a person decided)."""
    link = _set_link(reg, status="unknown", user_id=None, method="manual", pinned=True,
                     who=_actor_label(actor), now=now)
    db.session.flush()
    return link


def not_in_workspace(event: Event) -> list[Registration]:
    return [r.registration for r in link_rows(event, statuses=("confirmed", "waitlisted", "offered"))
            if r.status == "not_in_workspace"]


def linked_user(registration: Registration) -> str | None:
    link = db.session.get(SlackLink, registration.id)
    return link.slack_user_id if link is not None and link.status == "linked" else None


# ================================================================== Sign in with Slack (OIDC)
def _oidc_serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=OIDC_SALT)


def oidc_start(reg: Registration, config: Mapping[str, Any], redirect_uri: str) -> tuple[str, str]:
    """The authorize URL for ``reg`` and the nonce the browser's session must keep.

    ``state`` is signed, expires after :data:`OIDC_MAX_AGE` and names the registration;
    the nonce in it is single use (checked in :func:`oidc_finish`)."""
    if not oidc_configured(config):
        raise Conflict("oidc_not_configured", N_("Slackでのサインインは設定されていません。"))
    nonce = secrets.token_urlsafe(24)
    state = _oidc_serializer(config["SECRET_KEY"]).dumps(
        {"r": reg.id, "n": nonce, "h": reg.attendee_token_hash[:16]})
    params = {"response_type": "code", "client_id": config["SLACK_CLIENT_ID"], "scope": OIDC_SCOPES,
              "state": state, "redirect_uri": redirect_uri, "nonce": nonce}
    if config.get("SLACK_TEAM_ID"):
        params["team"] = config["SLACK_TEAM_ID"]
    return authorize_endpoint(config) + "?" + urlencode(params), nonce


def oidc_state_registration(state: str, config: Mapping[str, Any]) -> Registration:
    """The registration a (valid, unexpired) state names — for showing where to go back."""
    data = _load_state(state, config)
    return _state_registration(data)


def _load_state(state: str, config: Mapping[str, Any]) -> dict:
    if not isinstance(state, str) or not state or len(state) > 1000:
        raise DomainError("state_invalid", N_("サインインの要求が正しくありません。もう一度お試しください。"))
    try:
        data = _oidc_serializer(config["SECRET_KEY"]).loads(state, max_age=OIDC_MAX_AGE)
    except SignatureExpired:
        raise DomainError("state_expired", N_("サインインの有効期限（10分）が切れました。もう一度お試しください。")) from None
    except BadSignature:
        raise DomainError("state_invalid", N_("サインインの要求が正しくありません。もう一度お試しください。")) from None
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        raise DomainError("state_invalid", N_("サインインの要求が正しくありません。もう一度お試しください。"))
    return data


def _state_registration(data: dict) -> Registration:
    reg = db.session.get(Registration, data.get("r")) if isinstance(data.get("r"), int) else None
    if reg is None or not hmac.compare_digest(reg.attendee_token_hash[:16], str(data.get("h", ""))):
        raise DomainError("state_invalid", N_("サインインの要求が正しくありません。もう一度お試しください。"))
    return reg


def oidc_finish(code: str, state: str, session_nonce: str | None, redirect_uri: str, gw: SlackGateway,
                config: Mapping[str, Any], now: datetime) -> SlackLink:
    """Complete Sign in with Slack: check the state (signed, unexpired, this browser's,
    unused), exchange the code, read ``openid.connect.userInfo`` and link the registration
    if the user is in our workspace."""
    data = _load_state(state, config)
    if not session_nonce or not hmac.compare_digest(str(session_nonce), data["n"]):
        raise DomainError("state_mismatch", N_("サインインを始めたブラウザーと違うようです。もう一度お試しください。"))
    reg = _state_registration(data)
    if not remember("oidc_state", data["n"], now):
        raise DomainError("state_used", N_("このサインインは使用済みです。もう一度お試しください。"))
    if not code or len(code) > 500:
        raise DomainError("oidc_failed", N_("Slackから認可コードが返りませんでした。"))
    try:
        tokens = gw.oidc_token_exchange(code, redirect_uri)
        info = gw.oidc_userinfo(tokens.access_token)
        expected = our_team_id(gw, config)
    except SlackError as err:
        raise DomainError("oidc_failed", msg(N_("Slackでのサインインに失敗しました（%(error)s）。"), error=err.error), status=502) from None
    if not info.team_id or info.team_id != expected:
        raise DomainError("wrong_workspace", N_("コミュニティのSlackワークスペース以外のアカウントでサインインしています。"),
                          status=403)
    if not _USER_ID.match(info.user_id or ""):
        raise DomainError("oidc_failed", N_("Slackのユーザーを確認できませんでした。"), status=502)
    link = _set_link(reg, status="linked", user_id=info.user_id, method="oidc", pinned=True,
                     who="Sign in with Slack", now=now, team_id=info.team_id)
    db.session.flush()
    return link


# ================================================================== single-use keys
def remember(kind: str, key: str, now: datetime) -> bool:
    """Record ``key`` once; False if it was seen before (a replayed request, a reused state)."""
    db.session.execute(delete(SeenKey).where(
        SeenKey.kind == kind, SeenKey.seen_at < now - SEEN_RETENTION.get(kind, timedelta(days=1))))
    try:
        with db.session.begin_nested():
            db.session.add(SeenKey(kind=kind, key=key[:128], seen_at=now))
    except IntegrityError:
        return False
    return True


# ================================================================== follow-ups
@dataclass
class Planned:
    """One delivery a follow-up would create (or change)."""

    event_id: int
    kind: str  # the delivery kind (slack.report …)
    target: str  # channel id, or a user id for a DM
    label: str  # "#kyushu-okinawa", or the person's name
    message: blocks.Message | None = None
    registration_id: int | None = None
    parent: int | None = None  # index of the planned parent (a thread reply)
    users: tuple[str, ...] = ()  # invitations
    not_before: datetime | None = None
    #: post (new) · replace (an unsent one gets the new text) · update (chat.update of a
    #: sent one) · unchanged · blocked (sending or uncertain: wait)
    action: str = "post"
    existing: Delivery | None = None
    digest: str = ""
    key: str | None = None  # an explicit dedupe key (shared with another package)

    @property
    def dedupe_key(self) -> str:
        if self.key:
            return self.key
        key = f"slack:{self.event_id}:{self.kind}:{self.target}"
        # inviting the same people again is harmless; inviting others is a new delivery
        return f"{key}:{self.digest}" if self.kind == INVITE_KIND else key


@dataclass
class PlanWarning:
    """Why a follow-up leaves people out (the API's ``warnings`` / ``warning_details``)."""

    #: nobody_linked · not_linked · already_answered · no_participants
    code: str
    #: Japanese (a :class:`~eventsvc.core.i18n.Message`: pages translate it)
    message: str
    #: how many people it concerns
    count: int


@dataclass
class Plan:
    event: Event
    kind: str
    channel: ChannelRef | None
    items: list[Planned] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[PlanWarning] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # Slack user id → name (preview)
    digest: str = ""

    @property
    def changes(self) -> list[Planned]:
        return [i for i in self.items if i.action in ("post", "replace", "update")]


def _content_digest(*parts: Any) -> str:
    raw = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def event_info(event: Event) -> blocks.EventInfo:
    """What the Block Kit builders need to know about ``event`` (URLs on ``BASE_URL`` when set;
    works outside a request too)."""
    url = absolute_url("events.show", slug=event.slug)
    register_url = absolute_url("registration.register", slug=event.slug)
    left = events_service.capacity_left(event)
    return blocks.EventInfo(
        title=event.title, date_label=format_range(event.starts_at, event.ends_at, "ja"),
        venue=event.venue_name or "オンライン", url=url, register_url=register_url,
        capacity_left=sum(left.values()) if left else None,
        region=orgs.region_name(event_region(event), "ja") if event_region(event) else "",
        slug=event.slug, summary=event.summary or "")


def _attendee_ref(reg: Registration, links: Mapping[int, SlackLink]) -> blocks.AttendeeRef:
    link = links.get(reg.id)
    user = link.slack_user_id if link is not None and link.status == "linked" else None
    return blocks.AttendeeRef(name=reg.name, organization=reg.organization_name or "", slack_user_id=user,
                              mention_consent=bool(reg.consent_slack_mention))


def municipality_count(regs: Sequence[Registration]) -> int:
    """How many local public bodies the attendees came from (national agencies and free-text
    organisations are not counted)."""
    codes = set()
    for reg in regs:
        org = orgs.get(reg.organization_code) if reg.organization_code else None
        if org is not None and org.kind in _LOCAL_KINDS:
            codes.add(org.code)
    return len(codes)


def _agenda(event: Event) -> list[blocks.AgendaLine]:
    return [blocks.AgendaLine(time_label=f"{format_time(a.starts_at)}〜{format_time(a.ends_at)}", title=a.title,
                              speaker=a.speaker, affiliation=a.affiliation, materials_url=a.materials_url or None)
            for a in event.agenda_items]


def reminder_time(event: Event, now: datetime) -> datetime:
    """The day before the event at noon (Japan time), or now if that has passed."""
    day_before = to_jst(event.starts_at).date() - timedelta(days=1)
    return max(now, jst_combine(day_before, REMINDER_AT))


def _resolve(item: Planned, content: Any) -> None:
    """Decide what queuing ``item`` would do, given what was queued before."""
    item.digest = _content_digest(item.kind, item.target, content)
    existing = db.session.scalar(select(Delivery).where(Delivery.dedupe_key == item.dedupe_key))
    item.existing = existing
    if existing is None:
        item.action = "post"
    elif existing.state in ("queued", "held", "failed"):
        item.action = "unchanged" if (existing.payload or {}).get("digest") == item.digest and \
            existing.state != "failed" else "replace"
    elif existing.state == "sent":
        if item.kind == INVITE_KIND or (existing.payload or {}).get("digest") == item.digest:
            item.action = "unchanged"
        else:
            update = db.session.scalar(select(Delivery).where(
                Delivery.dedupe_key == f"{item.dedupe_key}:u:{item.digest}"))
            item.action = "unchanged" if update is not None else "update"
    else:  # sending, uncertain
        item.action = "blocked"


def plan_followup(event: Event, kind: str, now: datetime, *, channel: str | None = None) -> Plan:
    """Exactly what :func:`queue_followup` would queue (for the preview); no writes."""
    if kind not in FOLLOWUP_KINDS:
        raise ValidationFailed({"kind": N_("種類が正しくありません。")})
    ref = channel_for(event, channel)
    plan = Plan(event=event, kind=kind, channel=ref)
    needs_channel = kind in ("announcement", "reminder", "report", "invite")
    if needs_channel and ref is None:
        plan.problems.append(("no_channel", N_("投稿先のチャンネルが決まっていません。Slack設定で地域のチャンネルを選ぶか、"
                                            "このイベントのチャンネルを指定してください。")))
    info = event_info(event)
    links = links_for(event)

    if kind == "announcement":
        if event.status != "published":
            plan.problems.append(("not_published", N_("公開中のイベントだけ告知できます。")))
        if ref is not None:
            plan.items.append(Planned(event.id, "slack.announcement", ref.id, ref.label, blocks.announcement(info)))
    elif kind == "reminder":
        if event.status not in ("published", "closed"):
            plan.problems.append(("not_published", N_("公開中のイベントだけリマインドできます。")))
        if now >= event.starts_at:
            plan.problems.append(("too_late", N_("イベントはもう始まっています。")))
        if ref is not None:
            at = reminder_time(event, now)
            plan.items.append(Planned(event.id, "slack.reminder", ref.id, ref.label, blocks.reminder(info), not_before=at))
            if at > now:
                plan.notes.append(msg(N_("%(at)s に投稿します（前日の正午）。"), at=format_range(at, None, "ja")))
    elif kind == "report":
        if now < event.starts_at:
            plan.problems.append(("too_early", N_("開催報告はイベントが始まってから投稿できます。")))
        came, checked = participants(event)
        if not checked:
            plan.notes.append(N_("チェックインの記録がないため、参加確定の申込みを参加者として数えています。"))
        attendees = [_attendee_ref(r, links) for r in came]
        plan.names.update({a.slack_user_id: a.name for a in attendees if a.slack_user_id})
        survey = survey_link(event, None)
        if survey is None:
            plan.notes.append(N_("アンケートが設定されていないため、アンケートの案内は入りません。"))
        named = sum(1 for a in attendees if a.mention_consent)
        plan.notes.append(msg(N_("参加者 %(n)s名のうち、掲載に同意した %(named)s名の名前（Slack連携済みの方はメンション）を載せます。"),
                              n=len(came), named=named))
        if ref is not None:
            message = blocks.report(info, len(came), municipality_count(came), _agenda(event), survey, attendees)
            plan.items.append(Planned(event.id, "slack.report", ref.id, ref.label, message))
            teams = teams_of(event)
            if teams:
                by_id = {r.id: r for r in came}
                extra = {r.id: r for r in db.session.scalars(select(Registration).where(
                    Registration.id.in_([i for _n, ids in teams for i in ids if i not in by_id])))}
                lines = [blocks.TeamLine(name, [_attendee_ref(by_id.get(i) or extra[i], links)
                                                for i in ids if i in by_id or i in extra]) for name, ids in teams]
                plan.items.append(Planned(event.id, "slack.report_teams", ref.id, f"{ref.label}（スレッド）",
                                          blocks.report_teams_thread(lines), parent=len(plan.items) - 1))
    elif kind == "survey_dm":
        came, checked = participants(event)
        if not checked:
            plan.notes.append(N_("チェックインの記録がないため、参加確定の方に送ります。"))
        if survey_link(event, None) is None:
            plan.problems.append(("no_survey", N_("このイベントには回答を受け付けているアンケートがありません。")))
        opens = survey_opens_at(event, now)
        at = max(now, event.ends_at, opens or now)
        if opens is not None and at == opens:
            plan.notes.append(msg(N_("アンケートの受付開始（%(at)s）に送ります。受付開始を遅らせると、送信もそれに合わせて遅れます。"),
                                  at=format_range(at, None, "ja")))
        elif at > now:
            plan.notes.append(msg(N_("イベント終了後（%(at)s）に送ります。"), at=format_range(at, None, "ja")))
        missing = answered = 0
        for reg in came if not plan.problems else []:
            user = _attendee_ref(reg, links).slack_user_id
            if not user:
                missing += 1
                continue
            url = survey_link(event, reg)
            if not url:
                answered += 1
                continue
            plan.items.append(Planned(event.id, "slack.survey_dm", user, reg.name, blocks.survey_dm(info, url),
                                      registration_id=reg.id, not_before=at, key=survey_dm_key(event, reg)))
            plan.names[user] = reg.name
        if not plan.problems:
            _survey_dm_warnings(plan, len(came), missing, answered)
    elif kind == "invite":
        came, _checked = participants(event)
        users = tuple(sorted({u for u in (_attendee_ref(r, links).slack_user_id for r in came) if u}))
        for r in came:
            u = _attendee_ref(r, links).slack_user_id
            if u:
                plan.names[u] = r.name
        if not users:
            plan.problems.append(("nobody_linked", N_("Slackと連携済みの参加者がいません。先にアカウントを照合してください。")))
        elif ref is not None:
            plan.items.append(Planned(event.id, INVITE_KIND, ref.id, ref.label, users=users))
            plan.notes.append(msg(N_("%(n)s名を %(channel)s に招待（%(calls)s回の呼び出しに分けます）"),
                                  n=len(users), channel=ref.label, calls=invite_calls(len(users))))

    for item in plan.items:
        if item.kind == INVITE_KIND:
            _resolve(item, item.users)
        else:
            parent = plan.items[item.parent] if item.parent is not None else None
            _resolve(item, [item.message.text, item.message.blocks, parent.target if parent else None])
    plan.digest = _content_digest([(i.kind, i.target, i.action, i.digest) for i in plan.items], plan.problems)
    if not plan.problems and plan.items and not plan.changes:
        plan.notes.append(N_("前回と同じ内容です（何も送りません）。"))
    return plan


def _survey_dm_warnings(plan: Plan, people: int, missing: int, answered: int) -> None:
    """Say who gets no survey DM and why — above all when nobody gets one."""
    if not people:
        plan.warnings.append(PlanWarning("no_participants", N_("参加者がいないため、DMは送りません。"), 0))
    elif missing == people:
        plan.warnings.append(PlanWarning("nobody_linked", msg(N_(
            "参加者 %(n)s名のうち、Slackと連携済みの方がいないため、DMは1通も送りません。Slackのページで"
            "アカウントを照合してください（メールでの案内はアンケートのページから送れます）。"), n=missing), missing))
    elif missing:
        plan.warnings.append(PlanWarning("not_linked", msg(N_(
            "Slackと連携していない %(n)s名には送りません（メールでの案内をご利用ください）。"), n=missing), missing))
    if answered:
        plan.warnings.append(PlanWarning("already_answered", msg(N_("回答済みの %(n)s名には送りません。"), n=answered),
                                         answered))


def invite_calls(n: int) -> int:
    """How many ``conversations.invite`` calls ``n`` users take (at most 100 a call)."""
    return max(1, -(-n // INVITE_CHUNK))


def _payload(item: Planned, event: Event, followup: str) -> dict:
    payload: dict[str, Any] = {"label": item.label, "digest": item.digest, "followup": followup,
                               "event": event.slug}
    if item.message is not None:
        payload.update(item.message.as_kwargs())
    if item.users:
        payload["users"] = list(item.users)
        payload["text"] = f"{len(item.users)}名を {item.label} に招待"
    if item.not_before is not None:
        payload["not_before"] = item.not_before.isoformat()
    return payload


def queue_followup(event: Event, kind: str, actor: Any, now: datetime, *, channel: str | None = None,
                   expected_digest: str | None = None, plan: Plan | None = None) -> list[Delivery]:
    """Queue the planned deliveries (in the caller's transaction); returns those created or
    changed. ``expected_digest`` (from the preview) refuses if the plan changed since.
    ``plan``: the caller's :func:`plan_followup` of the same arguments (to show its notes and
    warnings), instead of planning again."""
    plan = plan or plan_followup(event, kind, now, channel=channel)
    if plan.problems:
        code, message = plan.problems[0]
        raise Conflict(code, message)
    if expected_digest is not None and not hmac.compare_digest(expected_digest, plan.digest):
        raise Conflict("preview_outdated", N_("プレビューの後に内容が変わりました。もう一度確認してください。"))
    blocked = [i for i in plan.items if i.action == "blocked"]
    if blocked:
        raise Conflict("delivery_in_progress", msg(N_("%(target)s への前回の送信が終わっていません（送信中または確認中）。"),
                                                             target=blocked[0].label))
    changed: list[Delivery] = []
    rows: list[Delivery | None] = []
    for item in plan.items:
        payload = _payload(item, event, kind)
        parent = rows[item.parent] if item.parent is not None else None
        if parent is not None:
            payload["thread_of"] = parent.id
        row: Delivery | None = item.existing
        if item.action == "post":
            row = outbox.enqueue(item.kind, item.target, payload, event_id=event.id,
                                 registration_id=item.registration_id, dedupe_key=item.dedupe_key, now=now,
                                 not_before=item.not_before)
            changed.append(row)
        elif item.action == "replace" and row is not None:
            if row.state == "failed":
                outbox.retry(row, now)
            row.payload = payload
            row.next_attempt_at = item.not_before or now
            changed.append(row)
        elif item.action == "update" and row is not None:
            channel_id, _, ts = (row.external_id or "").partition(":")
            update = dict(payload, update_of=row.id, channel=channel_id, ts=ts)
            changed.append(outbox.enqueue(UPDATE_KIND, channel_id or row.target, update, event_id=event.id,
                                          registration_id=item.registration_id,
                                          dedupe_key=f"{item.dedupe_key}:u:{item.digest}", now=now))
        rows.append(row)
    db.session.flush()
    return changed


def slack_deliveries(event: Event) -> list[Delivery]:
    return outbox.list_for_event(event.id, kind_prefix="slack.")


def retry_delivery(event: Event, delivery_id: int, now: datetime) -> Delivery:
    """The Slack page's 再送: as the deliveries page's (:func:`outbox.resend`), so a delivery stopped
    by an erasure of personal data is refused (409 ``not_retryable``)."""
    row = outbox.get_for_event(event.id, delivery_id)
    if not row.kind.startswith("slack."):
        raise NotFound("delivery_not_found", N_("配信が見つかりません。"))
    return outbox.resend(row, now)


# ================================================================== Slack → eventsvc
@dataclass
class Answer:
    """What we tell the Slack user (ephemerally, through ``response_url``)."""

    text: str
    blocks: list[dict] | None = None

    def body(self) -> dict:
        out: dict[str, Any] = {"response_type": "ephemeral", "replace_original": False, "text": self.text}
        if self.blocks:
            out["blocks"] = self.blocks
        return out


def _latest_registration(*conditions: Any) -> Registration | None:
    return db.session.scalar(select(Registration).where(*conditions)
                             .order_by(Registration.created_at.desc(), Registration.id.desc()).limit(1))


def known_person(slack_user_id: str, email: str | None) -> Registration | None:
    """Our most recent registration of this Slack user (linked, else by e-mail)."""
    reg = _latest_registration(Registration.id.in_(select(SlackLink.registration_id).where(
        SlackLink.slack_user_id == slack_user_id, SlackLink.status == "linked")))
    if reg is None and email:
        reg = _latest_registration(Registration.email == normalize_email(email))
    return reg


def region_of_registration(reg: Registration | None) -> str | None:
    if reg is None or not reg.organization_code:
        return None
    org = orgs.get(reg.organization_code)
    if org is None:
        return None
    return org.region or (orgs.region_of(org.prefecture_code) if org.prefecture_code else None)


def parse_region(text: str) -> str | None | bool:
    """The region a slash command names: a code, Japanese/English name or a prefix of one
    (``九州``); ``all``/``すべて`` → False (every region); nothing recognisable → None."""
    value = (text or "").strip().lower()
    if not value:
        return None
    if value in ("all", "すべて", "全国", "全部"):
        return False
    for code, (ja, en, _prefs) in orgs.REGIONS.items():
        if value in (code, ja, en.lower()) or (len(value) >= 2 and (ja.startswith(value) or
                                                                      en.lower().startswith(value))):
            return code
    for code, name in orgs.prefectures():
        if value == name or (len(value) >= 2 and name.startswith(value)):
            return orgs.region_of(code)
    return None


def open_events(now: datetime, region: str | None) -> list[Event]:
    """Published events in ``region`` (all when None) that have not started and still take
    registrations (the events service sets every event's region from its prefecture)."""
    out = []
    for event in events_service.list_public(now, region=region):
        if event.status != "published" or event.starts_at <= now:
            continue
        try:
            registration_service.check_window(event, now)
        except DomainError:
            continue
        out.append(event)
    return out


def events_answer(slack_user_id: str, text: str, now: datetime, *, email: str | None = None) -> Answer:
    """The slash command's answer: upcoming events in the user's region with 参加登録 buttons."""
    asked = parse_region(text)
    if asked is None and (text or "").strip():
        region = None
        hint = f"「{text.strip()[:20]}」に当たる地域が見つからないため、全国のイベントを表示しています。"
    elif asked is False:
        region, hint = None, ""
    elif asked:
        region, hint = asked, ""
    else:
        region = region_of_registration(known_person(slack_user_id, email))
        hint = "" if region else "地域を指定できます（例: /events 九州）。"
    events = open_events(now, region)
    message = blocks.events_list([event_info(e) for e in events],
                                 region=orgs.region_name(region, "ja") if region else None)
    msg_blocks = list(message.blocks)
    if events:
        msg_blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "「参加登録」を押すと、Slackのプロフィールのメールアドレスで登録し、各イベントページに記載の個人情報の取扱いと"
            "発言ルール（発言は個人の意見であり、所属組織の見解ではありません）に同意したものとして扱います。")}]})
    if hint:
        msg_blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(hint)}]})
    return Answer(message.text, blocks.validate(blocks.Message(message.text, msg_blocks[:50])).blocks)


def _reading(*candidates: str) -> str | None:
    for value in candidates:
        kana = to_katakana(value or "")
        if kana and is_katakana_reading(kana):
            return kana
    return None


def register_from_slack(slug: str, slack_user_id: str, team_id: str, gw: SlackGateway,
                        config: Mapping[str, Any], now: datetime, trigger_id: str | None = None) -> Answer | None:
    """The 参加登録 button: register the Slack user (e-mail from ``users.info``) for the
    event with the web form's rules, link the registration, and say how it went. A first-timer
    (no reading or organisation known yet) gets the registration modal instead (None: nothing
    to answer), or the web form's address when the modal cannot be shown."""
    if not _USER_ID.match(slack_user_id or ""):
        return Answer("Slackのユーザーを確認できませんでした。")
    if team_id != our_team_id(gw, config):
        return Answer("このワークスペースからは登録できません。")
    try:
        event = events_service.get_public_event(slug)
    except NotFound:
        return Answer("イベントが見つかりません。")
    form_url = absolute_url("registration.register", slug=event.slug)
    user = gw.user_info(slack_user_id)
    if user is None or user.deleted or user.is_bot:
        return Answer("Slackのユーザーを確認できませんでした。")
    if not user.email:
        return Answer(f"Slackのプロフィールからメールアドレスを取得できませんでした。登録フォームからお申し込みください: {form_url}")
    existing = registration_service.find_by_email(event, user.email)
    if existing is not None:
        url = registration_service.manage_url(existing)
        return Answer(f"{event.title} には既にお申し込み済みです（{registration_service_status(existing)}）。"
                      f" 申込み内容と受付用QRコード: {url}",
                      _ticket_blocks(event, existing, url, already=True))
    prior = known_person(slack_user_id, user.email)
    name = (prior.name if prior else "") or user.real_name or user.display_name
    kana = prior.name_kana if prior else _reading(user.display_name, user.real_name)
    org_code = prior.organization_code if prior else None
    org_name = prior.organization_name if prior else ""
    if not name or not kana or not (org_code or org_name):
        if trigger_id and _open_registration_modal(gw, trigger_id, event, user, name or "", kana):
            return None
        return Answer(f"はじめての方は、ふりがなと所属の入力が必要です。登録フォームからお申し込みください: {form_url}",
                      [{"type": "section", "text": {"type": "mrkdwn", "text": (
                          "はじめての方は、ふりがなと所属の入力が必要です。"
                          + link(form_url, "登録フォームからお申し込みください"))}}])
    data = registration_service.RegistrationData(
        name=name, name_kana=kana, email=user.email, organization_code=org_code,
        organization_name="" if org_code else org_name, department=prior.department if prior else "",
        consent_privacy=True, consent_slack_mention=False, consent_listing=False)
    try:
        reg, _token = registration_service.register(event, data, now, require_consent=True,
                                                    require_organization=True)
    except ValidationFailed as err:
        problems = "、".join(list(err.fields.values())[:3])
        return Answer(f"登録できませんでした（{problems}）。登録フォームからお申し込みください: {form_url}")
    except DomainError as err:
        return Answer(f"登録できませんでした: {err.message}")
    _set_link(reg, status="linked", user_id=user.id, method="slack", pinned=True, who="Slackから登録", now=now,
              team_id=team_id)
    db.session.flush()
    url = registration_service.manage_url(reg)
    return Answer(f"{event.title} に申し込みました（{registration_service_status(reg)}）。受付用QRコード: {url}",
                  _ticket_blocks(event, reg, url))


def _open_registration_modal(gw: SlackGateway, trigger_id: str, event: Event, user: SlackUser,
                             name: str, kana: str | None) -> bool:
    """Shows the modal; False when the event asks questions only the web form has, or Slack
    refused (an expired trigger, say)."""
    if registration_service.questions_of(event):
        return False
    from ..registration.privacy import notice

    purpose = notice(event)["purpose"] or (
        "ご入力いただいた情報は、この勉強会の運営（受付、名札、グループ分け、連絡、アンケート）と、"
        "コミュニティでの開催報告のためだけに使います。")
    view = modal.registration_view(
        slug=event.slug, email=user.email or "", event_title=event.title,
        when=format_range(event.starts_at, event.ends_at, "ja"),
        ticket_types=[(t.code, t.name) for t in event.ticket_types], purpose=purpose,
        prefill=modal.Prefill(name=name or "", name_kana=_hiragana(kana or "")))
    try:
        gw.open_view(trigger_id, view)
    except SlackError as err:
        log.info("slack: views.open failed: %s", err)
        return False
    return True


def _hiragana(kana: str) -> str:
    return "".join(chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" else c for c in kana)


def register_from_modal(slack_user_id: str, team_id: str, view: Mapping[str, Any], gw: SlackGateway,
                        config: Mapping[str, Any], now: datetime) -> dict | None:
    """A sent registration modal: register with the web form's rules and link the account.
    The answer is what Slack shows: field errors under their inputs, or the outcome in place of
    the form. None when the view is not our modal."""
    sent = modal.submitted(view)
    if sent is None:
        return None
    if not _USER_ID.match(slack_user_id or "") or team_id != our_team_id(gw, config):
        return {"response_action": "update", "view": modal.result_view(
            "参加登録", ["このワークスペースからは登録できません。"])}
    try:
        event = events_service.get_public_event(sent.slug)
    except NotFound:
        return {"response_action": "update", "view": modal.result_view("参加登録", ["イベントが見つかりません。"])}
    existing = registration_service.find_by_email(event, sent.email)
    if existing is not None:
        return {"response_action": "update", "view": modal.result_view(
            "お申し込み済み", [f"*{escape_line(event.title, 150)}* には既にお申し込み済みです"
                               f"（{registration_service_status(existing)}）。"],
            url=registration_service.manage_url(existing), url_label="申込み内容と受付用QRコードを表示")}
    org = orgs.by_name(sent.organization)
    data = registration_service.RegistrationData(
        name=sent.name, name_kana=sent.name_kana, email=sent.email,
        organization_code=org.code if org else None, organization_name="" if org else sent.organization,
        department=sent.department, ticket_type=sent.ticket_type or None, consent_privacy=sent.consent,
        consent_slack_mention=False, consent_listing=False)
    try:
        reg, _token = registration_service.register(event, data, now, require_consent=True,
                                                    require_organization=True)
    except ValidationFailed as err:
        errors = modal.errors_for(err.fields)
        if errors:
            return {"response_action": "errors", "errors": errors}
        return {"response_action": "update", "view": modal.result_view(
            "参加登録", ["登録できませんでした: " + "、".join(list(err.fields.values())[:3])])}
    except DomainError as err:
        return {"response_action": "update", "view": modal.result_view(
            "参加登録", [f"登録できませんでした: {escape(err.message)}"])}
    _set_link(reg, status="linked", user_id=slack_user_id, method="slack", pinned=True, who="Slackから登録",
              now=now, team_id=team_id)
    db.session.flush()
    return {"response_action": "update", "view": modal.result_view(
        "お申し込み完了", [f"*{escape_line(event.title, 150)}* に申し込みました"
                           f"（{registration_service_status(reg)}）。",
                           "確認のメールもお送りします。Slackでの開催報告に氏名を載せてよいか・"
                           "参加者一覧への掲載は、次のページで設定できます。"],
        url=registration_service.manage_url(reg), url_label="申込み内容と受付用QRコードを表示（あなた専用のリンクです）")}


STATUS_LABELS = {"confirmed": "参加確定", "waitlisted": "キャンセル待ち", "pending_review": "主催者の確認待ち",
                 "applied": "抽選待ち", "offered": "繰り上げのご案内中", "cancelled": "キャンセル済み",
                 "rejected": "お断り"}


def registration_service_status(reg: Registration) -> str:
    return STATUS_LABELS.get(reg.status, reg.status)


def _ticket_blocks(event: Event, reg: Registration, url: str, *, already: bool = False) -> list[dict]:
    head = "既にお申し込み済みです" if already else "お申し込みを受け付けました"
    lines = [f"*{escape_line(event.title, 150)}* — {head}",
             f"状態: {registration_service_status(reg)}",
             f"日時: {escape_line(format_range(event.starts_at, event.ends_at, 'ja'), 100)}",
             link(url, "申込み内容と受付用QRコードを表示（あなた専用のリンクです）")]
    if not already:
        lines.append("Slackでの開催報告に氏名を載せてよいか・参加者一覧への掲載は、上のページで設定できます。")
    return blocks.validate(blocks.Message(f"{event.title}: {head}", [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}])).blocks


def not_configured_reason(config: Mapping[str, Any]) -> str | None:
    if not configured(config):
        return N_("Slack未設定（EVENTSVC_SLACK_BOT_TOKEN）")
    return None


__all__ = [
    "FOLLOWUP_KINDS", "Answer", "ChannelRef", "LinkRow", "LinkSummary", "Plan", "PlanWarning", "Planned",
    "SlackConfigError", "attended", "channel_for", "configured", "event_info", "events_answer", "gateway",
    "link_accounts", "link_manually", "link_rows", "oidc_finish", "oidc_start", "participants", "plan_followup",
    "queue_followup", "refresh_channels", "register_attendance_source", "register_from_modal", "register_from_slack",
    "register_survey_dm_key", "register_survey_link_source", "register_survey_opening_source", "register_team_source",
    "remember", "set_event_channel", "set_region_channels", "survey_link", "survey_opens_at", "teams_of", "unlink",
    "workspace_status",
]
