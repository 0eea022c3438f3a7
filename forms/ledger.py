"""The consultation ledger's forms: 协商记录表 and 村(居)民代表会议. The vote rules are app.tracking.ledger's."""

from __future__ import annotations

from datetime import datetime
from itertools import chain

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, DateTimeLocalField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional, ValidationError

from app.applications.models import UnitLevel
from app.database import china_today, utcnow
from app.tracking import ledger
from forms.base import BaseForm, entered, max_length, options, required

TEXT = 20000
# 协商方式 offered as suggestions (001, 004): the field stays free text.
CONSULTATION_MODES = ("民情恳谈会", "事务协调会", "工作听证会", "成效评议会", "小区协商会", "楼栋协商会", "网格议事会",
                      "专家咨询协商", "书面征求协商", "网络议事协商", "走访对话协商")


def _chosen(message):
    def check(form, field):
        if not field.data:
            raise ValidationError(message)
    return check


class CountField(IntegerField):
    """A number of people: a whole number, with a Chinese message when it is not one."""

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist or str(valuelist[0]).strip() == "":
            return
        try:
            self.data = int(str(valuelist[0]).strip())
        except ValueError as error:
            raise ValueError(_l("请填写整数人数。")) from error


class ChinaDateTimeField(DateTimeLocalField):
    """A time typed in China time (2024-05-20T19:30 or 2024-05-20 19:30), held as aware UTC in ``data``."""

    FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format=self.FORMATS[0], **kwargs)

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        return ledger.china_time(self.data).strftime(self.FORMATS[0]) if self.data else ""

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist or not str(valuelist[0]).strip():
            return
        text = " ".join(str(value).strip() for value in valuelist)
        for pattern in self.FORMATS:
            try:
                self.data = ledger.from_china_time(datetime.strptime(text, pattern))
                return
            except (ValueError, OverflowError):  # OverflowError: 0001-01-01 00:00 in China is before year 1 in UTC
                continue
        raise ValueError(_l("请填写正确的日期和时间，例如 2024-05-20 19:30。"))


class DayField(DateField):
    """A date (2024-05-20), with a Chinese message when it is not one."""

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist or not str(valuelist[0]).strip():
            return
        try:
            self.data = datetime.strptime(str(valuelist[0]).strip(), "%Y-%m-%d").date()
        except ValueError as error:
            raise ValueError(_l("请填写正确的日期，例如 2024-05-20。")) from error


def _attach(form, errors: dict[str, list[str]]) -> bool:
    for name, messages in errors.items():
        field = getattr(form, name)
        field.errors = [*field.errors, *messages]
    return not errors


class RecordForm(BaseForm):
    """城乡社区议事协商记录表 (001 annex 2), with the unit, the catalogue category and the 五不议 check."""

    topic = StringField(_l("协商议题"), validators=[required(), max_length(200)])
    matter_id = SelectField(_l("议题类别（协商事项目录）"), coerce=int, validate_choice=False,
                            validators=[_chosen(_l("请选择议题类别。"))])
    excluded_rule_id = SelectField(_l("是否属于“五不议”事项"), coerce=int, validate_choice=False, default=0)
    unit_level = SelectField(_l("协商单元"), choices=options(UnitLevel.choices()))
    unit_name = StringField(_l("单元名称（如 第一网格、新华街、3号楼）"), validators=[required(), max_length(60)])
    parties = TextAreaField(_l("协商主体"), validators=[required(), max_length(2000)], render_kw={"rows": 2})
    held_at = ChinaDateTimeField(_l("协商时间"), validators=[entered()])
    place = StringField(_l("协商地点"), validators=[required(), max_length(120)])
    mode = StringField(_l("协商方式"), validators=[required(), max_length(60)],
                       render_kw={"list": "consultation-modes"})
    host = StringField(_l("协商主持人"), validators=[required(), max_length(40)])
    recorder = StringField(_l("协商记录员"), validators=[required(), max_length(40)])
    supervisor = StringField(_l("协商监督员"), validators=[required(), max_length(40)])
    proceedings = TextAreaField(_l("协商过程（流程、发言、逐条协商内容、共识与异议、提交表决的意见）"),
                                validators=[required(), max_length(TEXT)], render_kw={"rows": 6})
    present = CountField(_l("表决人数（实到会人员）"), validators=[entered()])
    votes_for = CountField(_l("赞成人数"), validators=[entered()])
    votes_against = CountField(_l("反对人数"), validators=[entered()])
    abstain = CountField(_l("弃权人数"), validators=[entered()])
    outcome = TextAreaField(_l("协商结果（可落实的协商意见，或终止、再次协商的安排）"),
                            validators=[required(), max_length(TEXT)], render_kw={"rows": 3})
    follow_up = TextAreaField(_l("落实与监督（如何监督落实；再次协商的时机、要求）"),
                              validators=[Optional(), max_length(TEXT)], render_kw={"rows": 3})
    submit = SubmitField(_l("保存协商记录"))

    def set_choices(self, matters, rules) -> None:
        """``matters``: ConsultationMatter rows, grouped by category here; ``rules``: the 五不议 rules."""
        groups: dict[str, list[SelectChoice]] = {}
        for matter in matters:
            groups.setdefault(matter.category, []).append(
                SelectChoice(matter.id, matter.item, optgroup=matter.category))
        # A "please choose" option outside the groups (<optgroup>s), then the matters category by category.
        self.matter_id.choices = [SelectChoice(0, _l("（请选择）")), *chain.from_iterable(groups.values())]
        self.excluded_rule_id.choices = options([(0, _l("否"))] + [(rule.id, rule.text) for rule in rules])

    def validate_matter_id(self, field):
        offered = {choice.value for choice in field.choices or ()}
        if field.data and field.data not in offered:
            raise ValidationError(_l("请选择列表中的选项。"))

    def validate_excluded_rule_id(self, field):
        offered = {choice.value for choice in field.choices or ()}
        if field.data not in offered:
            raise ValidationError(_l("请选择列表中的选项。"))

    def validate_held_at(self, field):
        if field.data is not None and field.data > utcnow():
            raise ValidationError(_l("协商时间不能晚于现在。"))
        if field.data is not None and ledger.china_time(field.data).date() < ledger.EARLIEST:
            raise ValidationError(_l("协商时间过早，请检查年份。"))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        errors = ledger.count_errors(self.present.data, self.votes_for.data, self.votes_against.data,
                                     self.abstain.data)
        return _attach(self, errors) and ok


class MeetingForm(BaseForm):
    """村(居)民代表会议 (004): the vote, and the sign-in sheet, minutes and vote signature sheet — three files."""

    held_on = DayField(_l("会议日期"), validators=[entered()])
    topic = StringField(_l("会议议题"), validators=[required(), max_length(200)])
    representatives_total = CountField(_l("代表总数"), validators=[entered()])
    present = CountField(_l("到会代表人数"), validators=[entered()])
    votes_for = CountField(_l("赞成人数"), validators=[entered()])
    votes_against = CountField(_l("反对人数"), validators=[entered()])
    abstain = CountField(_l("弃权人数"), validators=[entered()])
    decision = TextAreaField(_l("会议决定（逐条记录讨论内容和表决结果）"), validators=[Optional(), max_length(TEXT)],
                             render_kw={"rows": 4})
    sign_in = FileField(_l("会议签到表"), validators=[FileRequired(_l("请上传会议签到表。"))])
    minutes = FileField(_l("会议记录表"), validators=[FileRequired(_l("请上传会议记录表。"))])
    vote_sheet = FileField(_l("表决签名表"), validators=[FileRequired(_l("请上传表决签名表。"))])
    submit = SubmitField(_l("保存会议记录"))

    def validate_held_on(self, field):
        if field.data is not None and field.data > china_today():
            raise ValidationError(_l("会议日期不能晚于今天。"))
        if field.data is not None and field.data < ledger.EARLIEST:
            raise ValidationError(_l("会议日期过早，请检查年份。"))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        errors = ledger.count_errors(self.present.data, self.votes_for.data, self.votes_against.data,
                                     self.abstain.data, self.representatives_total.data)
        return _attach(self, errors) and ok

