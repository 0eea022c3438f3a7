from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    FormField,
    HiddenField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import NumberRange, Optional, ValidationError

from app.scoring.models import CriterionKind
from forms.base import (
    BaseForm,
    CheckboxesField,
    IntegerField,
    RowForm,
    check_rows,
    entered,
    max_length,
    options,
    required,
)


class CriterionRow(RowForm):
    required_when_filled = ("group_name", "name", "max_points")
    ignored_for_blank = ("kind",)
    group_name = StringField(_l("分组"), validators=[Optional(), max_length(40)])
    name = StringField(_l("评分项"), validators=[Optional(), max_length(120)])
    kind = SelectField(_l("类别"), choices=options(CriterionKind.choices()), validate_choice=False)
    max_points = IntegerField(_l("满分"), validators=[Optional(), NumberRange(1, 1000, message=_l(
        "请填写 1 至 1000 之间的整数。"))])
    guidance = TextAreaField(_l("评分说明"), validators=[Optional(), max_length(1000)])


class VetoRow(RowForm):
    required_when_filled = ("text",)
    text = StringField(_l("一票否决情形"), validators=[Optional(), max_length(200)])


class CriteriaForm(BaseForm):
    items = FieldList(FormField(CriterionRow), min_entries=1, max_entries=60)
    vetoes = FieldList(FormField(VetoRow), min_entries=1, max_entries=20)
    submit = SubmitField(_l("保存评分表"))

    def validate(self, extra_validators=None):
        return super().validate(extra_validators) & check_rows(self.items) & check_rows(self.vetoes)


def _weight(label):
    return IntegerField(label, validators=[Optional(), NumberRange(0, 100, message=_l("权重为 0 至 100 之间的整数。"))])


class ScoringSettingsForm(BaseForm):
    use_trimmed_mean = BooleanField(_l("评审人不少于 5 人时去掉一个最高分和一个最低分"))
    weight_bureau = _weight(_l("民政部门权重（%）"))
    weight_finance = _weight(_l("财政部门权重（%）"))
    weight_expert = _weight(_l("专家权重（%）"))
    scoring_due = DateField(_l("评分截止日期"), validators=[Optional()])
    publicity_days = IntegerField(_l("公示期（工作日）"), validators=[entered(), NumberRange(0, 60, message=_l(
        "请填写 0 至 60 之间的整数。"))])
    submit = SubmitField(_l("保存设置"))


class HalfPointField(StringField):
    """A score typed as 8, 8.0 or 8.5; ``data`` is half points (an int), None when left empty."""

    def __init__(self, label=None, max_points: int = 100, **kwargs):
        super().__init__(label, **kwargs)
        self.max_points = max_points

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else format(Decimal(self.data) / 2, "f").rstrip("0").rstrip(".")

    def process_formdata(self, valuelist):
        self.data = None
        text = (valuelist[0] if valuelist else "").strip()
        if text == "":
            return
        try:
            value = Decimal(text)
        except InvalidOperation as error:
            raise ValueError(_l("请填写数字。")) from error
        if not value.is_finite() or value < 0 or value > self.max_points:
            raise ValueError(_l("得分须在 0 至 %(max)d 分之间。", max=self.max_points))
        if (value * 2) != (value * 2).to_integral_value():
            raise ValueError(_l("得分只能是整数或半分（如 8 或 8.5）。"))
        self.data = int(value * 2)


def sheet_form_class(criteria, vetoes):
    """The scoring form of one programme: a field per criterion (``c<id>``), the vetoes, the comment."""

    class SheetForm(BaseForm):
        version = HiddenField()
        veto_ids = CheckboxesField(_l("一票否决"), coerce=int, choices=options([(v.id, v.text) for v in vetoes]))
        comment = TextAreaField(_l("评审意见"), validators=[Optional(), max_length(2000)])
        save = SubmitField(_l("保存草稿"))
        submit_sheet = SubmitField(_l("提交（提交后锁定）"))

    for criterion in criteria:
        setattr(SheetForm, f"c{criterion.id}", HalfPointField(criterion.name, max_points=criterion.max_points))
    return SheetForm


class AssignForm(BaseForm):
    applications = CheckboxesField(_l("申报"), coerce=int, validate_choice=False)
    evaluators = CheckboxesField(_l("评审人"), coerce=int, validate_choice=False)
    submit = SubmitField(_l("分配"))

    def validate_applications(self, field):
        if not field.data:
            raise ValidationError(_l("请至少选择一个申报。"))

    def validate_evaluators(self, field):
        if not field.data:
            raise ValidationError(_l("请至少选择一位评审人。"))


class ReasonOnlyForm(BaseForm):
    id_prefix = "reopen-"  # the reason for sending back a sheet: one per submitted sheet on the manage page
    reason = StringField(_l("原因"), validators=[required(), max_length(2000)])
    submit = SubmitField(_l("确定"))


class TieForm(BaseForm):
    application_id = SelectField(_l("申报"), coerce=int, validate_choice=False)
    priority = IntegerField(_l("并列时的先后（1 为最先）"), validators=[entered(), NumberRange(1, 100, message=_l(
        "请填写 1 至 100 之间的整数。"))])
    reason = StringField(_l("理由"), validators=[required(), max_length(500)])
    submit = SubmitField(_l("记录决定"))


class SwapForm(BaseForm):
    id_prefix = "swap-"  # the selection page shows it beside the addition, tier, objection and answer forms
    out_id = SelectField(_l("调出"), coerce=int, validate_choice=False)
    in_id = SelectField(_l("调入"), coerce=int, validate_choice=False)
    reason = StringField(_l("调整理由"), validators=[required(), max_length(500)])
    submit = SubmitField(_l("调整"))


class AddForm(BaseForm):
    id_prefix = "add-"
    in_id = SelectField(_l("增列"), coerce=int, validate_choice=False)
    reason = StringField(_l("理由"), validators=[required(), max_length(500)])
    submit = SubmitField(_l("增列"))


class TierForm(BaseForm):
    id_prefix = "tier-"
    application_id = HiddenField()
    tier_id = SelectField(_l("补助档次"), coerce=int, validate_choice=False)
    submit = SubmitField(_l("保存"))


class ObjectionForm(BaseForm):
    id_prefix = "objection-"
    application_id = SelectField(_l("涉及的单位"), coerce=int, validate_choice=False)
    received_at = DateField(_l("收到日期"), validators=[entered()])
    raised_by = StringField(_l("提出人"), validators=[Optional(), max_length(100)])
    content = TextAreaField(_l("异议内容"), validators=[required(), max_length(5000)])
    submit = SubmitField(_l("登记异议"))


class AnswerForm(BaseForm):
    id_prefix = "answer-"
    response = TextAreaField(_l("答复"), validators=[required(), max_length(5000)])
    submit = SubmitField(_l("答复"))
