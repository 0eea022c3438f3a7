"""The form macros' markup for screen readers (templates/_macros.html), and the check every test page with field
errors goes through (tests/accessibility.py, run by the test client)."""

from __future__ import annotations

import pytest
from flask import render_template_string
from wtforms import BooleanField
from wtforms.validators import DataRequired

from forms.base import BaseForm
from tests.accessibility import check_error_markup, error_descriptions


class _AgreeForm(BaseForm):
    class Meta:
        csrf = False

    agree = BooleanField("同意", validators=[DataRequired("请勾选。")])


def _checkbox(app, data: dict) -> str:
    with app.test_request_context("/", method="POST", data=data):
        form = _AgreeForm()
        form.validate()
        return render_template_string(
            '{% from "_macros.html" import render_field %}{{ render_field(form.agree, "勾选即表示同意") }}', form=form)


def test_a_checkbox_draws_the_help_it_names(app):
    page = _checkbox(app, {"agree": "y"})
    assert 'aria-describedby="agree-help"' in page
    assert '<div class="form-text" id="agree-help">勾选即表示同意</div>' in page
    assert error_descriptions(_checkbox(app, {})) == {"agree": "勾选即表示同意 请勾选。"}


@pytest.mark.parametrize(("page", "complaint"), [
    ('<input class="form-control is-invalid" id="a"><div id="a-errors"><div class="invalid-feedback">错</div></div>',
     "without aria-invalid"),
    ('<input class="form-control is-invalid" id="a" aria-invalid="true">', "names no message"),
    ('<input class="form-control is-invalid" id="a" aria-invalid="true" aria-describedby="a-errors">',
     "which the page lacks"),
    ('<input class="form-control" id="a"><div class="invalid-feedback d-block">错</div>', "named by no control"),
])
def test_the_check_finds_what_a_screen_reader_would_miss(page, complaint):
    with pytest.raises(AssertionError, match=complaint):
        error_descriptions(page)


def test_the_check_reads_the_messages_a_control_names():
    page = ('<input class="form-control is-invalid" id="a" aria-invalid="true" aria-describedby="a-help a-errors">'
            '<div id="a-help">帮助</div><div id="a-errors"><div class="invalid-feedback">错<b>了</b></div></div>')
    assert error_descriptions(page) == {"a": "帮助 错了"}


class _RowButtonForm(BaseForm):
    id_prefix = "row-"


def test_a_form_repeated_on_a_page_repeats_no_id_with_csrf_on(app):
    """A row's button form (a form drawn once per line) carries the CSRF token without an id, so the page's ids stay
    unique; the token is still posted under its name."""
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        with app.test_request_context("/"):
            page = render_template_string("{% for _ in range(3) %}<form>{{ form.hidden_tag() }}</form>{% endfor %}",
                                          form=_RowButtonForm())
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert page.count('name="csrf_token"') == 3 and " id=" not in page
    check_error_markup(page)
