"""A refused form of the scoring pages is shown again with what was typed, each message at its field, and nothing
written: the manage page's assignment and send-back forms. The test client checks every such page for what a screen
reader needs (tests/accessibility.py); these tests check which controls are in error and with what message."""

from __future__ import annotations

import re

import sqlalchemy as sa

from app.audit.models import AuditLog
from app.extensions import db
from app.scoring.models import Assignment, Objection, SelectionEntry, SheetStatus, TieDecision
from tests.accessibility import error_descriptions
from tests.scoring.test_selection import _score


def _rows(app) -> dict[str, int]:
    """The rows the scoring forms write, and the audit log, which records every change of them."""
    with app.app_context():
        return {model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
                for model in (Assignment, TieDecision, SelectionEntry, Objection, AuditLog)}


def _control(page: str, control_id: str) -> str:
    """The start tag of the control with this id (an input, a select or a textarea: its value after it)."""
    tag = re.search(rf'<(input|select|textarea)\b[^>]*\bid="{control_id}"[^>]*>', page)
    assert tag, control_id
    if tag.group(1) == "input":
        return tag.group(0)
    return page[tag.start():page.index(f"</{tag.group(1)}>", tag.start())]


def _selected(select: str) -> list[str]:
    return re.findall(r'<option selected value="([^"]*)"', select)


def _focused(page: str) -> list[str]:
    """The ids of the controls that take the focus when the page opens."""
    return re.findall(r'<(?:input|select|textarea)\b[^>]*\bautofocus[^>]*\bid="([^"]+)"', page) + re.findall(
        r'<(?:input|select|textarea)\b[^>]*\bid="([^"]+)"[^>]*\bautofocus', page)


# --- the manage page ---------------------------------------------------------------------------------------


def test_an_assignment_without_evaluators_is_refused_at_the_evaluators(app, client, login_as, scoring):
    login_as("bureau")
    before = _rows(app)
    response = client.post(f"/scoring/programmes/{scoring.programme}/assign",
                           data={"applications": [scoring.applications[1]]})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    described = error_descriptions(page)
    # Every evaluator's box names the group's message; nothing else is in error.
    assert described == {f"evaluators-{i}": "请至少选择一位评审人。" for i in range(len(scoring.evaluators))}
    assert _focused(page) == ["evaluators-0"]
    # The application ticked stays ticked, the others not.
    ticked = re.findall(r'<input[^>]*\bchecked\b[^>]*\bvalue="(\d+)"', _assign_form(page))
    assert ticked == [str(scoring.applications[1])]
    assert _rows(app) == before


def test_an_empty_assignment_is_refused_at_both_groups(app, client, login_as, scoring):
    login_as("bureau")
    before = _rows(app)
    response = client.post(f"/scoring/programmes/{scoring.programme}/assign",
                           data={"evaluators": [scoring.evaluators[0]]})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert error_descriptions(page) == {f"applications-{i}": "请至少选择一个申报。"
                                        for i in range(len(scoring.applications))}
    assert _focused(page) == ["applications-0"]
    ticked = re.findall(r'<input[^>]*\bchecked\b[^>]*\bvalue="(\d+)"', _assign_form(page))
    assert ticked == [str(scoring.evaluators[0])]
    assert _rows(app) == before


def test_with_nothing_to_tick_the_message_is_the_forms(app, client, login_as, scoring):
    """No accepted application, so no box for the message to belong to: it is shown above the form's fields."""
    from app.applications.models import Application, ApplicationStatus

    with app.app_context():
        for application_id in scoring.applications:
            db.session.get(Application, application_id).status = ApplicationStatus.SUBMITTED
        db.session.commit()
    login_as("bureau")
    response = client.post(f"/scoring/programmes/{scoring.programme}/assign",
                           data={"evaluators": [scoring.evaluators[0]]})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert error_descriptions(page) == {}
    alert = r'<div class="alert alert-danger[^"]*" role="alert">请至少选择一个申报。</div>'
    assert re.search(alert, _assign_form(page))


def _assign_form(page: str) -> str:
    start = page.index('id="assign-form"')
    return page[start:page.index("</form>", start)]


def _submitted_sheet(app, client, scoring) -> int:
    _score(app, scoring, {(1, 0): (30, 15, 30, 0)})
    with app.app_context():
        return db.session.scalar(sa.select(Assignment.id).where(Assignment.application_id == scoring.applications[1]))


def test_a_sheet_sent_back_without_a_usable_reason_is_refused_at_its_reason(app, client, login_as, scoring):
    login_as("bureau")
    assignment_id = _submitted_sheet(app, client, scoring)
    before = _rows(app)
    for reason, message in [("", "此项为必填项。"), ("长" * 2001, "不能超过 2000 个字符。")]:
        response = client.post(f"/scoring/assignments/{assignment_id}/reopen", data={"reason": reason})
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert error_descriptions(page) == {"reopen-reason": message}
        assert f'value="{reason}"' in _control(page, "reopen-reason") and _focused(page) == ["reopen-reason"]
        # In the row of that sheet: its form posts to it.
        form = page[page.rindex("<form", 0, page.index('id="reopen-reason"')):]
        assert form.startswith(f'<form method="post" action="/scoring/assignments/{assignment_id}/reopen"')
    assert _rows(app) == before
    with app.app_context():
        assert db.session.get(Assignment, assignment_id).status == SheetStatus.SUBMITTED
