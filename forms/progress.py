from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import NumberRange, Optional

from forms.base import BaseForm, IntegerField, MoneyField, entered, max_length, required

TEXT = 5000


class MilestoneForm(BaseForm):
    version = StringField()
    content = TextAreaField(_l("内容（总结、典型案例、自评报告要点等）"), validators=[Optional(), max_length(20000)])
    meeting_date = DateField(_l("村(居)民会议表决日期"), validators=[Optional()])
    meeting_result = StringField(_l("表决结果"), validators=[Optional(), max_length(200)])
    township_approved_on = DateField(_l("镇(街道)审批日期"), validators=[Optional()])
    filed_on = DateField(_l("报市民政局备案日期"), validators=[Optional()])
    system_entered_on = DateField(_l("录入全国社区治理信息系统日期"), validators=[Optional()])
    document = FileField(_l("上传材料"))
    document_description = StringField(_l("材料说明"), validators=[Optional(), max_length(200)])
    save = SubmitField(_l("保存"))
    submit_item = SubmitField(_l("保存并提交"))


class ReviewForm(BaseForm):
    id_prefix = "review-"  # the item's page may show it beside the item's own form
    comment = TextAreaField(_l("审核意见"), validators=[Optional(), max_length(2000)])
    submit = SubmitField(_l("确定"))


class ReportForm(BaseForm):
    version = StringField()
    work_done = TextAreaField(_l("本月完成的工作"), validators=[Optional(), max_length(TEXT)])
    consultations_held = IntegerField(_l("本月开展协商议事（次）"), validators=[Optional(), NumberRange(
        0, 1000, message=_l("请填写 0 至 1000 之间的整数。"))])
    problems = TextAreaField(_l("存在的问题"), validators=[Optional(), max_length(TEXT)])
    next_plan = TextAreaField(_l("下月计划"), validators=[Optional(), max_length(TEXT)])
    spent_this_month = MoneyField(_l("本月使用资金（元）"))
    photo = FileField(_l("现场照片（PNG 或 JPEG）"))
    photo_caption = StringField(_l("照片说明"), validators=[Optional(), max_length(200)])
    save = SubmitField(_l("保存草稿"))
    submit_report = SubmitField(_l("保存并报送"))


class NoticeForm(BaseForm):
    township_id = SelectField(_l("镇(街道)"), coerce=int, validate_choice=False)
    title = StringField(_l("标题"), validators=[required(), max_length(120)])
    content = TextAreaField(_l("通报内容"), validators=[required(), max_length(TEXT)])
    submit = SubmitField(_l("发出通报"))


class SpotCheckForm(BaseForm):
    id_prefix = "spot-"  # the site page shows it beside the spot checks' closing forms
    checked_on = DateField(_l("抽查日期"), validators=[entered()])
    inspectors = StringField(_l("抽查人员"), validators=[required(), max_length(120)])
    findings = TextAreaField(_l("发现的问题"), validators=[required(), max_length(TEXT)])
    follow_up_required = BooleanField(_l("需要整改"))
    follow_up = TextAreaField(_l("整改要求"), validators=[Optional(), max_length(TEXT)])
    submit = SubmitField(_l("记录抽查"))


class CloseForm(BaseForm):
    # Only a refused closing is drawn with ids (the fresh ones repeat on every open spot check).
    id_prefix = "close-"
    note = StringField(_l("整改情况"), validators=[required(), max_length(TEXT)])  # one line, in the check's row
    submit = SubmitField(_l("关闭"))
