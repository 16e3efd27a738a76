"""The survey e-mails (invitation and reminder), written in the language the person registered in.

Built when the organizer sends them (the text goes into the outbox row as it is): the subject
through one per-process translation (``web.translated_in``), the body from
``templates/emails/survey.txt`` under the person's locale (``reg.locale``: Japanese unless English).
"""

from __future__ import annotations

from flask import render_template
from flask_babel import force_locale

from ..core.clock import format_datetime, format_range
from ..core.i18n import N_
from ..web import translated_in

SUBJECTS = {
    "invite": N_("【アンケートのお願い】%(title)s"),
    "reminder": N_("【リマインド】アンケートへのご回答のお願い: %(title)s"),
}


def message(reg, survey, event, link: str, purpose: str) -> dict:
    """``subject`` and ``text`` of the ``purpose`` (``invite`` or ``reminder``) mail to ``reg``."""
    locale = reg.locale or "ja"
    with force_locale(locale):
        text = render_template(
            "emails/survey.txt", reg=reg, survey=survey, event=event, link=link, reminder=purpose == "reminder",
            closes=format_datetime(survey.closes_at, locale) if survey.closes_at else "",
            when=format_range(event.starts_at, event.ends_at, locale))
    return {"subject": translated_in(locale, SUBJECTS[purpose], title=event.title)[:200], "text": text}
