"""What each delivery kind (``Delivery.kind``) is called on the organizer's pages.

The kind stays the code that senders and the API use (``mail.confirmation``, ``slack.report`` …);
pages show its label and may show the code beside it, for whoever looks into a problem. A kind
without a label here (a new one) is called by its channel (メール / Slack), or by its code.
"""

from __future__ import annotations

from flask_babel import gettext

from ..core.i18n import N_

KIND_LABELS = {
    # registration mails (registration/mail.py): mail.<template or reason>
    "mail.confirmation": N_("メール: 参加確定"),
    "mail.promoted": N_("メール: 繰り上げ・参加確定"),
    "mail.approved": N_("メール: 承認・参加確定"),
    "mail.lottery": N_("メール: 当選・参加確定"),
    "mail.offer_accepted": N_("メール: 繰り上げの受諾・参加確定"),
    "mail.waitlisted": N_("メール: キャンセル待ち"),
    "mail.pending_review": N_("メール: 申込み受付・確認待ち"),
    "mail.applied": N_("メール: 抽選申込み受付"),
    "mail.offer": N_("メール: 繰り上げのご案内（要回答）"),
    "mail.offer_expired": N_("メール: 回答期限切れ"),
    "mail.rejected": N_("メール: お断り"),
    "mail.cancelled": N_("メール: キャンセル受付"),
    "mail.link": N_("メール: 申込み確認用リンク"),
    "mail.message": N_("メール: 主催者からのお知らせ"),
    # surveys (surveys/service.py)
    "mail.survey_invite": N_("メール: アンケートのお願い"),
    "mail.survey_reminder": N_("メール: アンケートのリマインド"),
    # Slack (slack/service.py)
    "slack.announcement": N_("Slack: 告知（参加者募集）"),
    "slack.reminder": N_("Slack: 前日リマインダー"),
    "slack.report": N_("Slack: 開催報告"),
    "slack.report_teams": N_("Slack: 開催報告（チーム一覧）"),
    "slack.survey_dm": N_("Slack: アンケートのお願い（DM）"),
    "slack.invite": N_("Slack: 参加者をチャンネルに招待"),
    "slack.update": N_("Slack: 投稿の更新"),
}

#: a kind without a label of its own: its channel
CHANNEL_LABELS = {"mail": N_("メール"), "slack": N_("Slack")}


def kind_message(kind: str) -> str:
    """The label's Japanese message (untranslated); the code itself when nothing fits."""
    if kind in KIND_LABELS:
        return KIND_LABELS[kind]
    return CHANNEL_LABELS.get((kind or "").partition(".")[0], kind or "")


def kind_label(kind: str) -> str:
    """The label in the page's language (a template global: ``delivery_kind_label``)."""
    message = kind_message(kind)
    return gettext(message) if message and message != kind else message
