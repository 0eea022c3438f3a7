from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Optional, ValidationError

from app.audit.models import OBJECT_TITLES, AuditAction
from forms.base import BaseForm, max_length, options


class AuditFilterForm(BaseForm):
    """Filters of the audit log; read from the query string, so no CSRF token."""

    class Meta:
        csrf = False

    date_from = DateField(_l("起始日期"), validators=[Optional()])
    date_to = DateField(_l("截止日期"), validators=[Optional()])
    actor = StringField(_l("操作人"), validators=[Optional(), max_length(80)])
    action = SelectField(
        _l("操作"), choices=options([("", _l("全部")), *AuditAction.choices()]), validators=[Optional()]
    )
    object_type = SelectField(
        _l("对象类型"), choices=options([("", _l("全部")), *OBJECT_TITLES.items()]), validators=[Optional()]
    )
    object_id = StringField(_l("对象编号"), validators=[Optional(), max_length(40)])

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("截止日期不能早于起始日期。"))
