"""Japan time on screen, UTC in storage, dates read the Japanese way."""

from datetime import UTC, datetime

from eventsvc.core.clock import JST, format_date, format_range, jst_combine, to_jst, to_utc


def test_naive_input_means_japan_time():
    assert to_utc(datetime(2024, 2, 15, 13, 0)) == datetime(2024, 2, 15, 4, 0, tzinfo=UTC)


def test_japanese_date_with_weekday():
    start = datetime(2024, 1, 20, 13, 30, tzinfo=JST)
    assert format_date(start) == "2024年1月20日(土)"
    assert format_range(start, datetime(2024, 1, 20, 17, 0, tzinfo=JST)) == "2024年1月20日(土) 13:30〜17:00"


def test_range_over_two_days_repeats_the_date():
    s = datetime(2024, 2, 15, 13, 0, tzinfo=JST)
    e = datetime(2024, 2, 16, 12, 0, tzinfo=JST)
    assert format_range(s, e) == "2024年2月15日(木) 13:00〜2024年2月16日(金) 12:00"


def test_english_form():
    s = datetime(2024, 2, 15, 13, 0, tzinfo=JST)
    assert format_range(s, datetime(2024, 2, 15, 17, 0, tzinfo=JST), "en") == "Thu 15 Feb 2024 13:00–17:00"


def test_utc_midnight_is_morning_in_japan():
    assert to_jst(datetime(2024, 2, 14, 23, 0, tzinfo=UTC)).day == 15
    assert jst_combine(datetime(2024, 2, 15).date(), datetime(2024, 1, 1, 9, 0).time()).hour == 0
