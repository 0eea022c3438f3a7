from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, FieldList, FormField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import NumberRange, Optional, Regexp, ValidationError

from app.programmes.models import MilestoneKind, NominationRule, ProgrammeKind, Submitter
from forms.base import BaseForm, IntegerField, MoneyField, RowForm, check_rows, entered, max_length, options, required


def _count(label, low=0, high=1000):
    return IntegerField(label, validators=[Optional(), NumberRange(low, high, message=_l(
        "请填写 %(min)d 至 %(max)d 之间的整数。", min=low, max=high))])


class ProgrammeForm(BaseForm):
    name = StringField(_l("名称"), validators=[required(), max_length(120)])
    year = IntegerField(_l("年度"), validators=[entered(), NumberRange(2000, 2100, message=_l(
        "请填写 2000 至 2100 之间的年份。"))])
    code = StringField(
        _l("项目代码"),
        filters=[lambda v: v.upper() if isinstance(v, str) else v],
        validators=[required(), Regexp(r"^[A-Z0-9]{2,12}$", message=_l("项目代码为 2 至 12 位大写字母或数字。"))],
    )
    kind = SelectField(_l("项目类别"), choices=options(ProgrammeKind.choices()), validators=[required()])
    quota = IntegerField(_l("拟确定数量"), validators=[entered(), NumberRange(1, 500, message=_l(
        "请填写 1 至 500 之间的整数。"))])
    notice_reference = StringField(_l("通知文号"), validators=[Optional(), max_length(80)])
    description = TextAreaField(_l("通知要点"), validators=[Optional(), max_length(20000)])
    nomination_rule = SelectField(
        _l("推荐名额规则"), choices=options(NominationRule.choices()), validators=[required()]
    )
    nomination_min = _count(_l("每个镇(街道)最少推荐"), 0, 100)
    nomination_max = _count(_l("每个镇(街道)最多推荐（空白为不限）"), 0, 100)
    size_threshold = _count(_l("村(社区)数量分界"), 1, 1000)
    min_small = _count(_l("少于分界时至少推荐"), 0, 100)
    min_large = _count(_l("达到分界时至少推荐"), 0, 100)
    submit = SubmitField(_l("保存"))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        # Checked here, not as inline validators of these fields: Optional() ends a field's chain when it is blank
        # or absent from the request, before any inline validator runs (and an edit missing nomination_max keeps
        # the saved maximum, under whatever minimum came).
        rule = self.nomination_rule.data
        required_now = {NominationRule.FIXED.value: self.nomination_min, NominationRule.BY_SIZE.value:
                        self.size_threshold}.get(rule)
        if required_now is not None and required_now.data is None and not required_now.errors:
            required_now.errors.append(_l("此项为必填项。"))
            ok = False
        low, high = self.nomination_min.data, self.nomination_max.data
        if high is not None and low is not None and high < low and not self.nomination_max.errors:
            self.nomination_max.errors.append(_l("最多推荐数不能少于最少推荐数。"))
            ok = False
        return ok


class FromTemplateForm(BaseForm):
    template = SelectField(_l("通知模板"), validators=[required()], validate_choice=False)
    year = IntegerField(_l("年度"), validators=[entered(), NumberRange(2000, 2100, message=_l(
        "请填写 2000 至 2100 之间的年份。"))])
    submit = SubmitField(_l("创建"))

    def __init__(self, *args, template_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.template.choices = options(template_choices)
        self._keys = {key for key, _title in template_choices}

    def validate_template(self, field):
        if field.data not in self._keys:
            raise ValidationError(_l("请选择通知模板。"))


class ProjectTypeRow(RowForm):
    required_when_filled = ("name",)
    name = StringField(_l("类型名称"), validators=[Optional(), max_length(40)])
    description = TextAreaField(_l("说明"), validators=[Optional(), max_length(2000)])


class ProjectTypesForm(BaseForm):
    items = FieldList(FormField(ProjectTypeRow), min_entries=1, max_entries=30)
    submit = SubmitField(_l("保存"))

    def validate(self, extra_validators=None):
        return super().validate(extra_validators) & check_rows(self.items)


class MilestoneRow(RowForm):
    required_when_filled = ("name", "due_date")
    ignored_for_blank = ("kind", "submitter")
    name = StringField(_l("节点名称"), validators=[Optional(), max_length(80)])
    kind = SelectField(_l("类别"), choices=options(MilestoneKind.choices()), validate_choice=False)
    due_date = DateField(_l("截止日期"), validators=[Optional()])
    submitter = SelectField(_l("报送方"), choices=options(Submitter.choices()), validate_choice=False)
    documents = TextAreaField(_l("报送材料"), validators=[Optional(), max_length(2000)])


class MilestonesForm(BaseForm):
    items = FieldList(FormField(MilestoneRow), min_entries=1, max_entries=40)
    submit = SubmitField(_l("保存"))

    def validate(self, extra_validators=None):
        return super().validate(extra_validators) & check_rows(self.items)


class TierRow(RowForm):
    required_when_filled = ("name", "amount1")
    ignored_for_blank = ("source1", "source2", "source3")
    name = StringField(_l("档次名称"), validators=[Optional(), max_length(60)])
    source1 = SelectField(_l("资金来源"), coerce=int, validate_choice=False)
    amount1 = MoneyField(_l("金额（元）"))
    source2 = SelectField(_l("资金来源"), coerce=int, validate_choice=False)
    amount2 = MoneyField(_l("金额（元）"))
    source3 = SelectField(_l("资金来源"), coerce=int, validate_choice=False)
    amount3 = MoneyField(_l("金额（元）"))


class TiersForm(BaseForm):
    items = FieldList(FormField(TierRow), min_entries=1, max_entries=20)
    submit = SubmitField(_l("保存"))

    def __init__(self, *args, source_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.source_choices = list(source_choices)
        self._sources = {value for value, _label in source_choices}
        for entry in self.items.entries:
            self.set_sources(entry.form)

    def set_sources(self, row) -> None:
        for name in ("source1", "source2", "source3"):
            row[name].choices = options([(0, _l("（无）")), *self.source_choices])

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators) & check_rows(self.items)
        for entry in self.items.entries:
            row = entry.form
            if row.is_blank():
                continue
            for number in (1, 2, 3):
                source, amount = row[f"source{number}"], row[f"amount{number}"]
                if amount.data and source.data not in self._sources:
                    source.errors = [*source.errors, _l("请选择资金来源。")]
                    ok = False
                if amount.data == 0:
                    amount.errors = [*amount.errors, _l("金额须大于零。")]
                    ok = False
        return ok


class ExtensionForm(BaseForm):
    township_id = SelectField(_l("镇(街道)"), coerce=int, validate_choice=False)
    due_date = DateField(_l("延期至"), validators=[entered()])
    reason = StringField(_l("延期原因"), validators=[required(), max_length(500)])
    submit = SubmitField(_l("批准延期"))

    def __init__(self, *args, township_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.township_id.choices = options(township_choices)
        self._townships = {value for value, _label in township_choices}

    def validate_township_id(self, field):
        if field.data not in self._townships:
            raise ValidationError(_l("请选择镇(街道)。"))


class StatusForm(BaseForm):
    """The programme's next status, among the choices the view offers (the steps its status allows)."""

    status = SelectField(_l("新状态"), validate_choice=False)
    submit = SubmitField(_l("更改状态"))

    def validate_status(self, field):
        # Checked here rather than by the field: nothing chosen and a choice not offered both get the form's own words.
        if field.data not in {choice.value for choice in field.choices}:
            raise ValidationError(_l("请选择新状态。"))
