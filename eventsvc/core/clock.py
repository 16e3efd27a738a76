"""Time in eventsvc: store UTC, show Japan time, read the Japanese way.

Pure: imports only the standard library. Services take ``now`` as an argument;
``now_utc()`` is what views pass in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")
UTC = UTC

WEEKDAYS_JA = "月火水木金土日"
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def now_utc() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)


#: the years a date-time typed into a form or sent to the API may name (an event, a scan, a
#: deadline): anything else is a typo, and near year 1 or 9999 converting it overflows
INSTANT_YEARS = (2000, 2100)


def to_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is read as Japan time (the API's rule)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=JST)
    return value.astimezone(UTC)


def to_jst(value: datetime) -> datetime:
    """The same instant in Japan time; a naive value is taken to be UTC (as stored)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(JST)


def jst_combine(day: date, at: time) -> datetime:
    """A Japan-time wall clock (date + time) as an aware UTC instant."""
    return datetime.combine(day, at, tzinfo=JST).astimezone(UTC)


def format_date(value: datetime, locale: str = "ja") -> str:
    """``2024年2月15日(木)`` (or ``Thu 15 Feb 2024``) in Japan time."""
    d = to_jst(value)
    if locale.startswith("en"):
        return f"{WEEKDAYS_EN[d.weekday()]} {d.day} {MONTHS_EN[d.month - 1]} {d.year}"
    return f"{d.year}年{d.month}月{d.day}日({WEEKDAYS_JA[d.weekday()]})"


def format_time(value: datetime) -> str:
    """``13:05`` in Japan time."""
    return to_jst(value).strftime("%H:%M")


def format_datetime(value: datetime, locale: str = "ja") -> str:
    """``2024年2月15日(木) 13:00``."""
    return f"{format_date(value, locale)} {format_time(value)}"


def format_range(start: datetime, end: datetime | None, locale: str = "ja") -> str:
    """``2024年2月15日(木) 13:00〜17:00``; the end date is repeated when it differs."""
    dash = "–" if locale.startswith("en") else "〜"
    head = format_datetime(start, locale)
    if end is None:
        return head
    if to_jst(start).date() == to_jst(end).date():
        return f"{head}{dash}{format_time(end)}"
    return f"{head}{dash}{format_datetime(end, locale)}"


def days_between(a: datetime, b: datetime) -> int:
    """Whole Japan-time calendar days from ``a`` to ``b``."""
    return (to_jst(b).date() - to_jst(a).date()).days


__all__ = [
    "JST",
    "UTC",
    "days_between",
    "format_date",
    "format_datetime",
    "format_range",
    "format_time",
    "jst_combine",
    "now_utc",
    "timedelta",
    "to_jst",
    "to_utc",
]
