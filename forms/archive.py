from __future__ import annotations

import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Optional, ValidationError

from app.tracking.models import ArchiveKind
from forms.base import BaseForm, entered, max_length, options, required


class ChineseDateField(DateField):
    """A date typed as 年-月-日; a malformed one gets a message that says how to write it."""

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = " ".join(valuelist).strip()
        if not text:
            self.data = None
            return
        for fmt in self.strptime_format:
            try:
                self.data = datetime.datetime.strptime(text, fmt).date()
                return
            except ValueError:
                continue
        self.data = None
        raise ValueError(_l("日期格式不正确，请按“年-月-日”填写，例如 2023-05-10。"))


def _known_kind(form, field):
    if field.data not in {kind.value for kind in ArchiveKind}:
        raise ValidationError(_l("请选择列表中的材料类别。"))


class ArchiveItemForm(BaseForm):
    kind = SelectField(_l("材料类别"), choices=options([(kind.value, kind.titles()[kind]) for kind in ArchiveKind]),
                       validate_choice=False, validators=[_known_kind])
    title = StringField(_l("材料名称"), validators=[required(), max_length(120)])
    item_date = ChineseDateField(_l("材料日期"), validators=[entered()])
    description = TextAreaField(_l("说明"), validators=[Optional(), max_length(2000)])
    file = FileField(_l("文件（PDF、Word、Excel 或图片）"),
                     validators=[FileRequired(message=_l("请选择要上传的文件。"))])
    submit = SubmitField(_l("上传"))


class DeleteItemForm(BaseForm):
    submit = SubmitField(_l("删除"))
