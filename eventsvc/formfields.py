"""Form fields with clear Japanese messages when the input does not parse.

WTForms' own messages are English (or terse) for these; every form uses these instead.
"""

from __future__ import annotations

import wtforms
from flask_babel import lazy_gettext as _l

from .core.clock import INSTANT_YEARS


class _Friendly:
    message = ""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(str(self.message)) from None


class IntegerField(_Friendly, wtforms.IntegerField):
    message = _l("半角数字（整数）で入力してください。")


class DateTimeLocalField(_Friendly, wtforms.DateTimeLocalField):
    """Japan time, years 2000–2100 (the API's rule): near year 1 or 9999 converting it overflows."""

    message = _l("日時を正しく入力してください（例: 2024-02-15 13:00）。")

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        first, last = INSTANT_YEARS
        if self.data is not None and not first <= self.data.year <= last:
            self.data = None
            raise ValueError(str(_l("%(first)s年から%(last)s年までの日時を入力してください。", first=first, last=last)))


class DateField(_Friendly, wtforms.DateField):
    message = _l("日付を正しく入力してください（例: 2024-02-15）。")


class TimeField(_Friendly, wtforms.TimeField):
    message = _l("時刻を正しく入力してください（例: 13:30）。")


class Length(wtforms.validators.Length):
    """WTForms' ``Length`` with the app's own words: "100文字以内で入力してください。" (WTForms'
    Japanese reads "フィールドは 100 文字を超えることはできません。", unlike every other message)."""

    def __init__(self, min: int = -1, max: int = -1, message=None):  # noqa: A002 - WTForms' names
        if message is None:
            if min > 0 and max >= 0:
                message = _l("%(min)d〜%(max)d文字で入力してください。")
            elif min > 0:
                message = _l("%(min)d文字以上で入力してください。")
            else:
                message = _l("%(max)d文字以内で入力してください。")
        super().__init__(min=min, max=max, message=message)
