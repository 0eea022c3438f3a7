"""The common base form: strips whitespace and carries Chinese messages for the usual validators."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.i18n import translations as wtf_translations
from markupsafe import Markup, escape
from wtforms import FieldList, Form, FormField, SelectField, SelectMultipleField, StringField, validators, widgets
from wtforms import IntegerField as _IntegerField
from wtforms.csrf.core import CSRFTokenField
from wtforms.fields.choices import SelectChoice

from app.database import id_number


def _strip(value):
    if isinstance(value, str) and "\x00" in value:
        # Nobody types NUL and PostgreSQL text cannot hold it: the field is refused (the error stops the form).
        raise ValueError(_l("提交的内容无法处理，请检查后重试。"))
    return value.strip() if isinstance(value, str) else value


def _bind_stripped(form, unbound_field, options):
    # Containers take no filters; their inner fields get their own. The field's own filters run after the
    # strip (bind's keyword would otherwise replace them).
    if issubclass(unbound_field.field_class, (FieldList, FormField)):
        return unbound_field.bind(form=form, **options)
    filters = [_strip, *unbound_field.kwargs.get("filters", ())]
    if unbound_field.kwargs.get("coerce") is int:
        # A choice of id: a number no id can be is "not a valid choice", not an overflow in the database.
        options = {**options, "coerce": id_number}
    return unbound_field.bind(form=form, filters=filters, **options)


class BaseForm(FlaskForm):
    # Set on forms shown together on one page: their controls (and so the labels' ``for``) get ids of their own,
    # "<id_prefix><name>", while the names posted stay the fields' names.
    id_prefix = ""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            if issubclass(unbound_field.field_class, CSRFTokenField):
                # No label points at the hidden token, and a form repeated on a page (a row's button) would repeat
                # its id: it is drawn without one (False leaves the attribute out).
                options = {**options, "render_kw": {**(unbound_field.kwargs.get("render_kw") or {}), "id": False}}
            elif form.id_prefix and "id" not in unbound_field.kwargs:
                options = {**options, "id": form.id_prefix + options["prefix"] + options["name"]}
            return _bind_stripped(form, unbound_field, options)

    def refuse(self, message: str, field: str | None = None) -> None:
        """An operation's refusal of what was posted: at the field it names, else above the form's fields
        (``form_errors``)."""
        if field is not None and field in self:
            self[field].errors = [*self[field].errors, message]
        else:
            self.form_errors.append(message)

    def focus_first_error(self) -> None:
        """Focuses the first field in error (else the first field) of a form shown again with its messages: the
        browser brings the user there, wherever the form sits on its page."""
        # No error can sit on the hidden CSRF token: CSRFProtect refuses a bad one (400) before any view runs.
        focus = next((field for field in self if field.errors), next(iter(self)))
        focus.render_kw = {**(focus.render_kw or {}), "autofocus": True}


def required():
    # DataRequired looks at the value after the strip filter, so "   " counts as empty.
    return validators.DataRequired(message=_l("此项为必填项。"))


class _Entered(validators.InputRequired):
    """InputRequired that counts blanks as nothing typed: fields that strip blanks to no value (money, counts,
    times) would otherwise pass it with no data."""

    def __call__(self, form, field):
        if field.raw_data and str(field.raw_data[0]).strip():
            return
        field.errors[:] = []
        raise validators.StopValidation(self.message)


def entered():
    """Required for numbers, dates and choices: checks what was typed, so a malformed value keeps its own message."""
    return _Entered(message=_l("此项为必填项。"))


def optional():
    return validators.Optional()


def max_length(n: int):
    return validators.Length(max=n, message=_l("不能超过 %(max)d 个字符。", max=n))


def options(pairs) -> list[SelectChoice]:
    """SelectField choices from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def option_tags(pairs, chosen: str | None = None) -> Markup:
    """<option>s of (value, label) pairs, escaped, the one whose value is ``chosen`` selected: for selects of many
    choices on busy pages, written from pieces prepared once instead of by WTForms on every view."""
    # escape() as Markup.format would apply it, without its formatter's cost per option.
    return Markup("".join(
        f'<option{" selected" if str(value) == chosen else ""} value="{escape(value)}">{escape(label)}</option>'
        for value, label in pairs))


class IntegerField(_IntegerField):
    """WTForms' IntegerField, refusing a number too large to be meant: NumberRange compares through a float, so
    a long run of digits (past 1e308) would overflow there instead of getting the field's message."""

    LIMIT = 10**18

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and abs(self.data) > self.LIMIT:
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))

    def pre_validate(self, form):
        # What was typed is not a number: its message is the one to show, not also the range's about no value.
        # (Nothing typed goes on to entered(), whose "required" replaces the parse error.)
        if self.process_errors and self.raw_data and str(self.raw_data[0]).strip():
            raise validators.StopValidation()


class CheckboxesField(SelectMultipleField):
    """A group of checkboxes (drawn by the field_options macro). A choice not offered is refused in the app's own
    words: WTForms' Chinese for that message is marked fuzzy in its catalogue, so it would show in English."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("invalid_choice_message", _l("请选择列表中的选项。"))
        kwargs.setdefault("invalid_value_message", _l("请选择列表中的选项。"))
        super().__init__(*args, **kwargs)


class MoneyField(StringField):
    """An amount typed in yuan (30000, 30,000.50, ¥30000), held as integer fen in ``data``.

    Refuses negative, over-precise (more than 2 decimals) and absurdly large amounts, with a Chinese message.
    """

    MAX_FEN = 10_000_000_000_00  # ten billion yuan: far above any grant, far below any integer limit

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return f"{Decimal(self.data) / 100:.2f}"

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist:
            return
        text = str(valuelist[0]).strip().replace(",", "").replace("，", "").lstrip("¥￥").strip()
        if text == "":
            return
        try:
            amount = Decimal(text)
        except InvalidOperation as error:
            raise ValueError(_l("请填写金额（元），例如 30000 或 30000.50。")) from error
        if not amount.is_finite():
            raise ValueError(_l("请填写金额（元），例如 30000 或 30000.50。"))
        if amount < 0:
            raise ValueError(_l("金额不能为负数。"))
        if amount > Decimal(self.MAX_FEN) / 100:  # compared as is: 1e999999 × 100 would overflow the context
            raise ValueError(_l("金额过大。"))
        if amount != amount.quantize(Decimal("0.01")):
            raise ValueError(_l("金额最多保留两位小数（到分）。"))
        self.data = int(amount * 100)


class RowForm(Form):
    """One row of a repeated block (FieldList of FormField): no CSRF of its own, whitespace stripped.

    A row whose fields are all empty is ignored; ``required_when_filled`` names what a filled row must have.
    """

    required_when_filled: tuple[str, ...] = ()

    class Meta:
        def bind_field(self, form, unbound_field, options):
            return _bind_stripped(form, unbound_field, options)

        def get_translations(self, form):
            # WTForms' own messages in the user's language, as FlaskForm does for the enclosing form.
            return wtf_translations

    def is_blank(self) -> bool:
        ignored = set(getattr(self, "ignored_for_blank", ()))
        return all(
            field.data in (None, "", [], False) for name, field in self._fields.items() if name not in ignored
        )

    def check_filled(self) -> bool:
        """Checks of a filled row: its required fields, and that its choices are among those offered.

        Choices are not checked by the field itself (``validate_choice=False``) so that an empty row is ignored.
        """
        ok = True
        for name in self.required_when_filled:
            field = self._fields[name]
            if field.data in (None, "", []):
                field.errors = [*field.errors, _l("此项为必填项。")]
                ok = False
        for field in self._fields.values():
            if isinstance(field, SelectField) and field.choices is not None and field.data is not None:
                offered = {choice.value if isinstance(choice, SelectChoice) else choice[0] for choice in field.choices}
                if field.data not in offered:
                    field.errors = [*field.errors, _l("请选择列表中的选项。")]
                    ok = False
        return ok


def filled_rows(field_list) -> list:
    """The row forms of a FieldList that the user filled in."""
    return [entry.form for entry in field_list.entries if not entry.form.is_blank()]


def check_rows(field_list) -> bool:
    return all([row.check_filled() for row in filled_rows(field_list)])


def ensure_blank_rows(field_list, blanks: int = 3) -> None:
    """Offer a few empty rows to type into, so the form works without any script."""
    while len(field_list.entries) < len(filled_rows(field_list)) + blanks:
        field_list.append_entry()
