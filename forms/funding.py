from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf.file import FileField
from wtforms import DateField, FieldList, FormField, SelectField, StringField, SubmitField
from wtforms.validators import NumberRange, Optional, ValidationError

from app.funding.models import SPENDING_CATEGORY_TITLES
from forms.base import BaseForm, IntegerField, MoneyField, RowForm, check_rows, entered, max_length, options, required


def _chosen(message):
    def check(form, field):
        if not field.data:
            raise ValidationError(message)
    return check


class AllocationForm(BaseForm):
    id_prefix = "allocation-"  # the site page shows it beside the disbursement and spending forms
    source_id = SelectField(_l("资金来源"), coerce=int, validate_choice=False,
                            validators=[_chosen(_l("请选择资金来源。"))])
    direction = SelectField(_l("调整方向"), choices=options([("add", _l("增加")), ("reduce", _l("调减"))]))
    amount = MoneyField(_l("金额（元）"), validators=[entered()])
    entry_date = DateField(_l("日期"), validators=[entered()])
    reason = StringField(_l("原因"), validators=[required(), max_length(500)])
    submit = SubmitField(_l("录入下达"))


class DisbursementForm(BaseForm):
    id_prefix = "disbursement-"
    source_id = SelectField(_l("资金来源"), coerce=int, validate_choice=False,
                            validators=[_chosen(_l("请选择资金来源。"))])
    amount = MoneyField(_l("金额（元）"), validators=[entered()])
    entry_date = DateField(_l("拨付日期"), validators=[entered()])
    voucher_no = StringField(_l("凭证号"), validators=[required(), max_length(40)])
    note = StringField(_l("备注"), validators=[Optional(), max_length(300)])
    override_reason = StringField(_l("超额拨付理由（仅在超出可拨付金额时填写）"),
                                  validators=[Optional(), max_length(500)])
    submit = SubmitField(_l("录入拨付"))


class ReversalForm(BaseForm):
    # Only a refused reversal is drawn with ids (the fresh ones repeat on every line): these, beside the entry forms.
    id_prefix = "reversal-"
    entry_date = DateField(_l("冲销日期"), validators=[entered()])
    reason = StringField(_l("冲销原因"), validators=[required(), max_length(200)])
    submit = SubmitField(lazy_pgettext("button", "冲销"))


class SpendingForm(BaseForm):
    id_prefix = "spending-"
    source_id = SelectField(_l("资金来源"), coerce=int, validate_choice=False,
                            validators=[_chosen(_l("请选择资金来源。"))])
    entry_date = DateField(_l("支出日期"), validators=[entered()])
    item = StringField(_l("支出项目"), validators=[required(), max_length(120)])
    category = SelectField(_l("类别"), choices=options(SPENDING_CATEGORY_TITLES.items()))
    amount = MoneyField(_l("金额（元）"), validators=[entered()])
    payee = StringField(_l("收款单位"), validators=[Optional(), max_length(120)])
    note = StringField(_l("备注"), validators=[Optional(), max_length(300)])
    receipt = FileField(_l("票据（PDF 或图片）"))
    submit = SubmitField(_l("录入支出"))


class SpendingImportForm(BaseForm):
    id_prefix = "import-"
    file = FileField(_l("Excel 文件"))
    submit = SubmitField(_l("检查并导入"))


class BatchForm(BaseForm):
    source_id = SelectField(_l("资金来源"), coerce=int, validate_choice=False,
                            validators=[_chosen(_l("请选择资金来源。"))])
    entry_date = DateField(_l("拨付日期"), validators=[entered()])
    voucher_prefix = StringField(_l("凭证号前缀"), validators=[required(), max_length(30)])
    note = StringField(_l("备注"), validators=[Optional(), max_length(300)])
    submit = SubmitField(_l("批量拨付"))


class TrancheRow(RowForm):
    required_when_filled = ("name", "percent")
    name = StringField(_l("批次"), validators=[Optional(), max_length(60)])
    percent = IntegerField(_l("比例（%）"), validators=[Optional(), NumberRange(1, 100, message=_l(
        "请填写 1 至 100 之间的整数。"))])
    condition = StringField(_l("拨付条件（空白为确定名单后即可拨付）"), validators=[Optional(), max_length(120)])


class TranchesForm(BaseForm):
    items = FieldList(FormField(TrancheRow), min_entries=1, max_entries=10)
    submit = SubmitField(_l("保存"))

    def validate(self, extra_validators=None):
        return super().validate(extra_validators) & check_rows(self.items)


class ReleaseForm(BaseForm):
    id_prefix = "release-"
    tranche_id = SelectField(_l("批次"), coerce=int, validate_choice=False)
    note = StringField(_l("说明（如：中期自评已通过）"), validators=[required(), max_length(300)])
    submit = SubmitField(_l("放行"))


class SignOffForm(BaseForm):
    label = StringField(_l("期间（如 2024-05 或 2024Q2）"), validators=[required(), max_length(20)])
    note = StringField(_l("说明"), validators=[Optional(), max_length(300)])
    submit = SubmitField(_l("结账"))
