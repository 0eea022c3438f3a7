"""The bureau's decision on a township's places for next year (the township scorecard)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, RadioField, SelectField, SubmitField, TextAreaField
from wtforms.validators import Optional

from forms.base import BaseForm, max_length, options

REASON_MAX = 500
CHANGES = range(-2, 3)


def _change(value):
    """The change as an integer; None for anything else (the operation then says what to choose)."""
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def change_text(value: int) -> str:
    return f"{value:+d}" if value else "0"


class DecisionForm(BaseForm):
    suggestion = HiddenField()  # the suggestion the bureau saw, so a changed one is not accepted unseen
    action = RadioField(_l("决定"), choices=options([("accept", _l("采纳建议")), ("override", _l("另行调整"))]),
                        validate_choice=False)
    change = SelectField(_l("调整名额"), coerce=_change, validate_choice=False,
                         choices=options([(n, change_text(n)) for n in CHANGES]))
    reason = TextAreaField(_l("理由（另行调整时必填）"), validators=[Optional(), max_length(REASON_MAX)])
    submit = SubmitField(_l("确认决定"))
