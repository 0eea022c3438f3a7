from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField, SubmitField

from app.places.models import CommunityKind
from forms.base import BaseForm, max_length, options, required


class CommunityForm(BaseForm):
    township_id = SelectField(_l("所属镇(街道)"), coerce=int, validate_choice=False)
    name = StringField(_l("名称"), validators=[required(), max_length(60)])
    kind = SelectField(_l("类型"), choices=options(CommunityKind.choices()), validators=[required()])
    active = BooleanField(_l("在用"), default=True)
    submit = SubmitField(_l("保存"))

    def __init__(self, *args, township_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.township_id.choices = options(township_choices)
        self._valid_townships = {value for value, _label in township_choices}

    def validate_township_id(self, field):
        from wtforms.validators import ValidationError

        if field.data not in self._valid_townships:
            raise ValidationError(_l("请选择镇(街道)。"))


class CommunityImportForm(BaseForm):
    file = FileField(_l("Excel 文件 (.xlsx)"), validators=[FileRequired(message=_l("请选择要导入的文件。"))])
    submit = SubmitField(_l("检查并导入"))
