"""The report shelf's filters: a GET form (no CSRF) holding only the fields that apply to the report.

Nothing typed here can fail with more than a message at its field: ids that are not numbers or not among the
choices, a year or month that is no year or month, a period outside 2000–2100 or ending before it starts.
"""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.validators import Optional

from forms.base import BaseForm
from forms.ledger import DayField

FIRST_YEAR, LAST_YEAR = 2000, 2100
NOT_OFFERED = -1  # what an id that is not a number becomes: never among the choices


def _id(value) -> int | None:
    """A choice's id; text that is not one becomes NOT_OFFERED, so the field says so instead of failing."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return NOT_OFFERED


class YearField(StringField):
    def process_formdata(self, valuelist):
        self.data = None
        text = str(valuelist[0]).strip() if valuelist else ""
        if not text:
            return
        # ASCII digits, not too many: int() takes neither "²" nor 5,000 digits.
        if not (text.isascii() and text.isdigit() and len(text) < 10) or not FIRST_YEAR <= int(text) <= LAST_YEAR:
            raise ValueError(_l("年度应为 %(a)d 至 %(b)d 之间的四位数字，例如 2024。", a=FIRST_YEAR, b=LAST_YEAR))
        self.data = int(text)

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return str(self.data) if self.data else ""


class MonthField(StringField):
    """A month typed as 2024-05 (what an <input type="month"> sends), held as its first day."""

    def process_formdata(self, valuelist):
        self.data = None
        text = str(valuelist[0]).strip() if valuelist else ""
        if not text:
            return
        try:
            year, month = (int(part) for part in text.split("-"))
            self.data = date(year, month, 1)
        except (TypeError, ValueError) as error:
            raise ValueError(_l("月份应写成 2024-05。")) from error

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return f"{self.data:%Y-%m}" if self.data else ""


class ShelfFilterForm(BaseForm):
    class Meta:
        csrf = False

    def _check_offered(self, name: str) -> bool:
        field = self._fields.get(name)
        if field is None or field.data in (None, 0):
            return True
        offered = {choice[0] if isinstance(choice, tuple) else choice.value for choice in field.choices or []}
        if field.data not in offered:
            field.errors = [*field.errors, _l("请选择列表中的选项。")]
            return False
        return True

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        ok = self._check_offered("programme") and ok
        ok = self._check_offered("township") and ok
        start, end = self._fields.get("start"), self._fields.get("end")
        for field in (start, end):
            if field is not None and field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
                field.errors = [*field.errors, _l("请填写 %(a)d 至 %(b)d 年之间的日期。", a=FIRST_YEAR, b=LAST_YEAR)]
                ok = False
        if ok and start is not None and end is not None and start.data and end.data and end.data < start.data:
            end.errors = [*end.errors, _l("截止不能早于起始。")]
            ok = False
        return ok


def filter_form(fields, period: str | None, formdata) -> ShelfFilterForm:
    """A form with the fields of ``fields`` ("programme", "year", "township") and a period of "months" or
    "dates" (or none); choices are set by the view."""

    class Form(ShelfFilterForm):
        pass

    if "programme" in fields:
        Form.programme = SelectField(_l("项目"), coerce=_id, validate_choice=False, validators=[Optional()])
    if "year" in fields:
        Form.year = YearField(_l("年度"), render_kw={"inputmode": "numeric", "placeholder": "2024"})
    if "township" in fields:
        Form.township = SelectField(_l("镇(街道)"), coerce=_id, validate_choice=False, validators=[Optional()])
    if period == "months":
        Form.start = MonthField(_l("起始月份"), render_kw={"type": "month", "placeholder": "2024-01"})
        Form.end = MonthField(_l("截止月份"), render_kw={"type": "month", "placeholder": "2024-12"})
    elif period == "dates":
        Form.start = DayField(_l("起始日期"), validators=[Optional()])
        Form.end = DayField(_l("截止日期"), validators=[Optional()])
    return Form(formdata)
