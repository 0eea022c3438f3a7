"""The check of field errors' markup for screen readers (tests/accessibility.py)."""

from __future__ import annotations

import pytest

from tests.accessibility import error_descriptions


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
