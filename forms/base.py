"""The common base form: strips whitespace and carries Chinese messages for the usual validators."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import validators
from wtforms.fields.choices import SelectChoice


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class BaseForm(FlaskForm):
    class Meta:
        def bind_field(self, form, unbound_field, options):
            # The field's own filters run after the strip (bind's keyword would otherwise replace them).
            filters = [_strip, *unbound_field.kwargs.get("filters", ())]
            return unbound_field.bind(form=form, filters=filters, **options)


def required():
    # DataRequired looks at the value after the strip filter, so "   " counts as empty.
    return validators.DataRequired(message=_l("此项为必填项。"))


def optional():
    return validators.Optional()


def max_length(n: int):
    return validators.Length(max=n, message=_l("不能超过 %(max)d 个字符。", max=n))


def options(pairs) -> list[SelectChoice]:
    """SelectField choices from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]
