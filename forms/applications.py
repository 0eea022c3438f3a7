from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
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
from wtforms.validators import NumberRange, Optional, Regexp, ValidationError

from app.applications.models import CONSULTATION_FORMS, VENUE_KINDS, UnitLevel
from forms.base import (
    BaseForm,
    CheckboxesField,
    IntegerField,
    MoneyField,
    RowForm,
    check_rows,
    max_length,
    options,
    required,
)

TEXT = 5000  # longest free text in a form section; the paper form has far less room


def _text(label):
    return TextAreaField(label, validators=[Optional(), max_length(TEXT)])


class NominateForm(BaseForm):
    community_id = SelectField(_l("推荐的村(社区)"), coerce=int, validate_choice=False)
    submit = SubmitField(_l("创建并填写"))

    def __init__(self, *args, community_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.community_id.choices = options([(0, _l("（请选择）")), *community_choices])
        self._allowed = {value for value, _label in community_choices}

    def validate_community_id(self, field):
        if field.data not in self._allowed:
            raise ValidationError(_l("请选择本镇(街道)尚未推荐的村(社区)。"))


_PHONE = Regexp(r"^[0-9+\-() ]{7,20}$", message=_l("请填写有效的电话号码，例如 0595-85612345 或 13800000000。"))


class ConvenorRow(RowForm):
    required_when_filled = ("name",)
    ignored_for_blank = ("level",)
    level = SelectField(_l("协商单元"), choices=options(UnitLevel.choices()), validate_choice=False)
    unit_name = StringField(_l("单元名称"), validators=[Optional(), max_length(60)])
    name = StringField(_l("召集人"), validators=[Optional(), max_length(40)])
    role = StringField(_l("身份"), validators=[Optional(), max_length(60)])


class ThinkTankRow(RowForm):
    required_when_filled = ("name",)
    name = StringField(_l("姓名"), validators=[Optional(), max_length(40)])
    identity = StringField(_l("身份"), validators=[Optional(), max_length(60)])


class BudgetRow(RowForm):
    required_when_filled = ("item", "amount")
    item = StringField(_l("支出项目"), validators=[Optional(), max_length(100)])
    amount = MoneyField(_l("金额（元）"))
    note = StringField(_l("说明"), validators=[Optional(), max_length(200)])


class _ApplicationForm(BaseForm):
    version = HiddenField()
    contact_name = StringField(_l("联系人"), validators=[Optional(), max_length(40)])
    contact_phone = StringField(_l("联系电话"), validators=[Optional(), _PHONE])
    township_opinion = TextAreaField(_l("镇(街道)审核意见"), validators=[Optional(), max_length(2000)])
    save = SubmitField(_l("保存草稿"))
    submit_for_review = SubmitField(_l("保存并提交"))

    def validate_version(self, field):
        # ASCII digits only, and not too many: int() takes neither "²" nor 5,000 digits.
        if field.data and not (str(field.data).isascii() and str(field.data).isdigit() and len(str(field.data)) < 10):
            raise ValidationError(_l("页面已过期，请刷新后重试。"))


class DemonstrationForm(_ApplicationForm):
    """推荐表 of a demonstration-site programme."""

    participants = _text(_l("参与者"))
    venue_kind = SelectField(_l("议事场所类型"), choices=options([("", _l("（请选择）")), *VENUE_KINDS]),
                             validators=[Optional()])
    venue_name = StringField(_l("议事场所"), validators=[Optional(), max_length(100)])
    venue_area_m2 = IntegerField(_l("场所面积（平方米）"), validators=[Optional(), NumberRange(
        0, 100000, message=_l("请填写 0 至 100000 之间的整数。"))])
    opinion_box = BooleanField(_l("已在显著位置悬挂带“中国社区”标识和村(社区)名称的民情收集箱"))
    wechat_column = StringField(_l("微信公众号群众诉求专栏"), validators=[Optional(), max_length(100)])
    consultation_forms = CheckboxesField(_l("协商形式"), choices=options(CONSULTATION_FORMS))
    consultation_forms_other = StringField(_l("其他协商形式"), validators=[Optional(), max_length(200)])
    procedure_topic = _text(_l("①汇集民意、确定议题"))
    procedure_consult = _text(_l("②开展协商、达成意见"))
    procedure_follow_up = _text(_l("③监督落实、固化成果"))
    self_governance = _text(_l("村(居)民自治情况"))
    convenors = FieldList(FormField(ConvenorRow), min_entries=3, max_entries=60)
    think_tank = FieldList(FormField(ThinkTankRow), min_entries=3, max_entries=60)

    def validate(self, extra_validators=None):
        return super().validate(extra_validators) & check_rows(self.convenors) & check_rows(self.think_tank)


class ProjectForm(_ApplicationForm):
    """申报表 + 项目方案书 of a project programme."""

    project_type_id = SelectField(_l("项目类型"), coerce=int, validate_choice=False)
    project_name = StringField(_l("项目名称"), validators=[Optional(), max_length(120)])
    foundation = _text(_l("基础条件（基础设施、党建工作、服务能力、群众参与）"))
    goals = _text(_l("项目目标"))
    measures = _text(_l("主要措施"))
    schedule = _text(_l("实施计划"))
    expected_results = _text(_l("预期成效"))
    budget_lines = FieldList(FormField(BudgetRow), min_entries=3, max_entries=60)

    def __init__(self, *args, type_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.project_type_id.choices = options([(0, _l("（请选择）")), *type_choices])
        self._types = {value for value, _label in type_choices}

    def validate_project_type_id(self, field):
        if field.data and field.data not in self._types:
            raise ValidationError(_l("请选择本项目提供的项目类型。"))

    def validate(self, extra_validators=None):
        return super().validate(extra_validators) & check_rows(self.budget_lines)


class ReasonForm(BaseForm):
    id_prefix = "review-"  # the detail page shows it beside the attachment form
    reason = TextAreaField(_l("原因"), validators=[required(), max_length(2000)])
    resubmit_due = DateField(_l("重新提交截止日期（可不填）"), validators=[Optional()])
    submit = SubmitField(_l("确定"))


class ConfirmForm(BaseForm):
    """A button that changes state: only the CSRF token."""

    submit = SubmitField(_l("确定"))


class AttachmentForm(BaseForm):
    id_prefix = "attachment-"
    file = FileField(_l("附件"), validators=[FileRequired(message=_l("请选择要上传的文件。"))])
    description = StringField(_l("说明"), validators=[Optional(), max_length(200)])
    submit = SubmitField(_l("上传"))


class ApplicationFilterForm(BaseForm):
    class Meta:
        csrf = False

    programme = SelectField(_l("项目"), coerce=int, validate_choice=False, validators=[Optional()])
    township = SelectField(_l("镇(街道)"), coerce=int, validate_choice=False, validators=[Optional()])
    status = SelectField(_l("状态"), validate_choice=False, validators=[Optional()])
    q = StringField(_l("搜索"), validators=[Optional(), max_length(60)])


