"""JSON API for Slack: region channels, account linking, follow-ups.

``GET /events/{slug}/deliveries`` (states of what was queued) belongs to the outbox's API.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import current_app
from pydantic import Field, StrictBool

from ..core.clock import now_utc
from ..errors import Conflict, DomainError
from ..events import service as events_service
from ..extensions import db
from ..jsonapi import Input, Output, Text, operation, principal
from . import service
from .gateway import SlackError


class RegionChannelsOut(Output):
    """Region code (``kyushu_okinawa`` …) → channel id."""

    channels: dict[str, str]
    names: dict[str, str]


class LinkOut(Output):
    id: int
    slack_user_id: str | None
    status: Literal["linked", "not_in_workspace", "unknown"]
    method: str | None = None


class LinkAccountsOut(Output):
    linked: int
    not_found: int
    unknown: int
    registrations: list[LinkOut]


class FollowupIn(Input):
    kind: Literal["announcement", "reminder", "report", "survey_dm", "invite"]
    #: a channel id instead of the event's / region's channel
    channel: Text(32) | None = None
    #: only show what would be queued (nothing is written)
    preview: StrictBool = False


class PlannedOut(Output):
    kind: str
    target: str
    label: str
    action: str
    text: str | None = None
    blocks: list[dict[str, Any]] | None = None
    users: list[str] | None = None
    not_before: str | None = None


class FollowupWarningOut(Output):
    code: Literal["nobody_linked", "not_linked", "already_answered", "no_participants"] = Field(description=(
        "survey_dm: nobody_linked — no participant is linked to Slack, so no DM at all; not_linked — some are "
        "not linked; already_answered — some have answered; no_participants — nobody to write to"))
    message: str
    count: int = Field(description="how many people it concerns")


class FollowupOut(Output):
    deliveries: list[int]
    channel: str | None = None
    notes: list[str] = []
    warnings: list[str] = Field(default_factory=list, description="who is left out and why (Japanese)")
    warning_details: list[FollowupWarningOut] = Field(default_factory=list,
                                                      description="the same warnings, with a code and a count")
    preview: list[PlannedOut] | None = None


def _region_out() -> RegionChannelsOut:
    rows = service.region_channels()
    return RegionChannelsOut(channels={k: r.channel_id for k, r in rows.items()},
                             names={k: r.channel_name for k, r in rows.items()})


def _slack_failed(err: SlackError) -> DomainError:
    return DomainError("slack_unavailable", f"Slackに問い合わせできませんでした（{err.error}）。", status=502)


@operation("/slack/region-channels", "GET", summary="Region → Slack channel", tags=["slack"],
           response=RegionChannelsOut, auth=["organizer"], errors=[401])
def get_region_channels():
    return _region_out()


@operation("/slack/region-channels", "PUT", summary="Set region → Slack channel (replaces the mapping)",
           tags=["slack"], body=dict[str, Text(32) | None], response=RegionChannelsOut, auth=["organizer"],
           errors=[401, 415, 422])
def put_region_channels(body: dict[str, str | None]):
    """``{region: channel_id}`` for the regions of ``core.orgs`` (``hokkaido`` … ``kyushu_okinawa``);
    regions not named (or given ``null``) lose their channel."""
    service.set_region_channels(body, principal(), now_utc())
    db.session.commit()
    return _region_out()


@operation("/events/<slug>/slack/link-accounts", "POST", summary="Link registrations to Slack accounts by e-mail",
           tags=["slack"], response=LinkAccountsOut, auth=["organizer"], errors=[401, 404, 409, 502])
def link_accounts(slug: str):
    """Match every active registration's e-mail to a Slack member (deactivated members, bots and
    apps do not count). Links made by hand or by Sign in with Slack are kept."""
    event = events_service.get_event_for(slug, principal())
    config = current_app.config
    if not service.configured(config):
        raise Conflict("slack_not_configured", "Slackが未設定です（EVENTSVC_SLACK_BOT_TOKEN）。")
    try:
        summary = service.link_accounts(event, service.gateway(config), principal(), now_utc())
    except SlackError as err:
        db.session.rollback()
        raise _slack_failed(err) from None
    db.session.commit()
    return LinkAccountsOut(linked=summary.linked, not_found=summary.not_found, unknown=summary.unknown,
                           registrations=[LinkOut(id=r.registration.id, slack_user_id=r.slack_user_id,
                                                  status=r.status, method=r.link.method if r.link else None)
                                          for r in summary.rows])


@operation("/events/<slug>/followups", "POST", summary="Queue a Slack follow-up", tags=["slack"], body=FollowupIn,
           response=FollowupOut, auth=["organizer"], errors=[401, 404, 409, 415, 422])
def queue_followup(slug: str, body: FollowupIn):
    """``announcement`` (published events), ``reminder`` (the day before at noon), ``report``
    (after the start; team list as a thread reply), ``survey_dm`` (each linked attendee, after
    the end and not before the survey opens), ``invite`` (linked attendees into the channel).
    Queuing the same kind again corrects sent posts with ``chat.update``. Without Slack
    configured, deliveries are kept (``held``) and sent once it is. ``warnings`` /
    ``warning_details`` say who is left out and why (``survey_dm``: ``nobody_linked`` when no
    participant is linked to Slack, so ``deliveries`` is empty)."""
    event = events_service.get_event_for(slug, principal())
    now = now_utc()
    plan = service.plan_followup(event, body.kind, now, channel=body.channel)
    if body.preview:
        if plan.problems:
            code, message = plan.problems[0]
            raise Conflict(code, message)
        return _followup_out(plan, [], preview=[
            PlannedOut(kind=i.kind, target=i.target, label=i.label, action=i.action,
                       text=i.message.text if i.message else None, blocks=i.message.blocks if i.message else None,
                       users=list(i.users) or None, not_before=i.not_before.isoformat() if i.not_before else None)
            for i in plan.items])
    rows = service.queue_followup(event, body.kind, principal(), now, channel=body.channel, plan=plan)
    db.session.commit()
    return _followup_out(plan, rows)


def _followup_out(plan: service.Plan, rows, preview: list[PlannedOut] | None = None) -> FollowupOut:
    warnings = [FollowupWarningOut(code=w.code, message=str(w.message), count=w.count) for w in plan.warnings]
    return FollowupOut(deliveries=[r.id for r in rows], channel=plan.channel.id if plan.channel else None,
                       notes=[str(n) for n in plan.notes], warnings=[w.message for w in warnings],
                       warning_details=warnings, preview=preview)
