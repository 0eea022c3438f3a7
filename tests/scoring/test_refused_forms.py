"""A refused form of the scoring pages is shown again with what was typed, each message at its field, and nothing
written: the manage page's assignment and send-back forms, the ranking's tie decision and the selection page's
forms (swap, addition, tier, objection, answer). The test client checks every such page for what a screen reader
needs (tests/accessibility.py); these tests check which controls are in error and with what message."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from app.audit.models import AuditLog
from app.database import china_today
from app.extensions import db
from app.scoring.models import Assignment, Objection, Selection, SelectionEntry, SheetStatus, TieDecision
from tests.accessibility import error_descriptions
from tests.scoring.test_selection import _full_flow_until_publicised, _score


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


# --- the ranking's tie decision -----------------------------------------------------------------------------


def test_a_tie_decision_is_refused_at_its_field_with_the_choice_kept(app, client, login_as, scoring):
    _score(app, scoring, {(a, 0): (35, 20, 25, 0) for a in range(3)})  # all three level
    login_as("bureau")
    before = _rows(app)
    url = f"/scoring/programmes/{scoring.programme}/ties"
    chosen = str(scoring.applications[1])
    refusals = [("", "此项为必填项。"), ("0", "请填写 1 至 100 之间的整数。"), ("第一", "不是有效的整数。")]
    for priority, message in refusals:
        response = client.post(url, data={"application_id": chosen, "priority": priority, "reason": "实地走访成效更好"})
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        described = error_descriptions(page)
        assert described == {"priority": message}, priority
        assert f'value="{priority}"' in _control(page, "priority")
        assert _selected(_control(page, "application_id")) == [chosen]
        assert 'value="实地走访成效更好"' in _control(page, "reason")
        assert _focused(page) == ["priority"]
    # The rules refuse an application not of this programme: at the choice, the rest kept.
    response = client.post(url, data={"application_id": "999999", "priority": "2", "reason": "实地走访成效更好"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert error_descriptions(page) == {"application_id": "请选择本项目的申报。"}
    assert 'value="2"' in _control(page, "priority") and _focused(page) == ["application_id"]
    # Every level application is offered again, in ranking order.
    assert len(re.findall(r"<option", _control(page, "application_id"))) == 3
    assert _rows(app) == before


def test_a_refused_tie_decision_shows_the_page_it_was_sent_from(app, client, login_as, scoring, monkeypatch):
    _score(app, scoring, {(a, 0): (35, 20, 25, 0) for a in range(3)})
    monkeypatch.setitem(app.config, "PAGE_SIZE", 1)
    login_as("bureau")
    page = client.get(f"/scoring/programmes/{scoring.programme}/ranking?page=2").get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]*/ties[^"]*)"', page).group(1)
    assert action.endswith("?page=2")
    refused = client.post(action, data={"application_id": scoring.applications[0], "priority": "", "reason": "x"})
    assert "第 2 / 3 页" in refused.get_data(as_text=True)
    done = client.post(action, data={"application_id": scoring.applications[0], "priority": "1", "reason": "x"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/ranking?page=2")


# --- the selection page -------------------------------------------------------------------------------------


def _proposed(app, client, scoring):
    """A proposed list of T-1 and T-2; T-3 ranked third and not listed."""
    _score(app, scoring, {(0, 0): (40, 20, 40, 0), (1, 0): (30, 15, 30, 0), (2, 0): (20, 10, 20, 0)})
    assert client.post(f"/scoring/programmes/{scoring.programme}/selection/propose").status_code == 302


def test_a_swap_without_a_reason_is_refused_at_the_reason_with_the_choices_kept(app, client, login_as, scoring):
    login_as("bureau")
    _proposed(app, client, scoring)
    before = _rows(app)
    response = client.post(f"/scoring/programmes/{scoring.programme}/selection/swap", data={
        "out_id": scoring.applications[1], "in_id": scoring.applications[2], "reason": "  "})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert error_descriptions(page) == {"swap-reason": "此项为必填项。"}
    assert _selected(_control(page, "swap-out_id")) == [str(scoring.applications[1])]
    assert _selected(_control(page, "swap-in_id")) == [str(scoring.applications[2])]
    assert _focused(page) == ["swap-reason"]
    # The addition beside it is not the form refused: it shows neither the choice nor an error.
    assert _selected(_control(page, "add-in_id")) == [] and 'value=""' in _control(page, "add-reason")
    assert _rows(app) == before


def test_an_addition_the_rules_refuse_is_refused_at_the_application_with_the_reason_kept(app, client, login_as,
                                                                                        scoring):
    login_as("bureau")
    _proposed(app, client, scoring)
    before = _rows(app)
    for in_id, message in [(scoring.applications[0], "该申报已在名单中。"), (999999, "请选择增列的申报。")]:
        response = client.post(f"/scoring/programmes/{scoring.programme}/selection/add", data={
            "in_id": in_id, "reason": "所在镇尚无入选"})
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert error_descriptions(page) == {"add-in_id": message}
        assert 'value="所在镇尚无入选"' in _control(page, "add-reason") and _focused(page) == ["add-in_id"]
    assert _rows(app) == before


def test_a_state_refusal_stays_a_flashed_message(app, client, login_as, scoring):
    """Refusals about the list's state name no field: flashed after a redirect, as before."""
    login_as("bureau")
    _score(app, scoring, {(0, 0): (40, 20, 40, 0)})
    response = client.post(f"/scoring/programmes/{scoring.programme}/selection/add", data={
        "in_id": scoring.applications[0], "reason": "增列"})
    assert response.status_code == 302
    assert "请先按排名生成拟确定名单。" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_a_tier_of_another_programme_is_refused_in_its_row(app, client, login_as, scoring):
    login_as("bureau")
    _proposed(app, client, scoring)
    before = _rows(app)
    response = client.post(f"/scoring/programmes/{scoring.programme}/selection/tier", data={
        "application_id": scoring.applications[1], "tier_id": "999999"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert error_descriptions(page) == {"tier-tier_id": "请选择本项目的补助档次。"}
    form = page[page.rindex("<form", 0, page.index('id="tier-tier_id"')):]
    assert f'name="application_id" value="{scoring.applications[1]}"' in form[:form.index("</form>")]
    assert _rows(app) == before


def test_an_objection_is_refused_at_its_fields_with_what_was_typed(app, client, login_as, scoring):
    login_as("bureau")
    _full_flow_until_publicised(app, client, scoring)
    before = _rows(app)
    url = f"/scoring/programmes/{scoring.programme}/selection/objections"
    typed = {"application_id": scoring.applications[2], "raised_by": "居民", "content": "议事厅面积不足"}
    late = (china_today() - timedelta(days=30)).isoformat()
    response = client.post(url, data=dict(typed, received_at=late))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    described = error_descriptions(page)
    assert list(described) == ["objection-received_at"] and "异议须在公示期" in described["objection-received_at"]
    assert f'value="{late}"' in _control(page, "objection-received_at")
    assert _selected(_control(page, "objection-application_id")) == [str(scoring.applications[2])]
    assert 'value="居民"' in _control(page, "objection-raised_by")
    assert "议事厅面积不足" in _control(page, "objection-content")
    response = client.post(url, data=dict(typed, received_at="", content=""))
    assert response.status_code == 200
    assert error_descriptions(response.get_data(as_text=True)) == {
        "objection-received_at": "此项为必填项。", "objection-content": "此项为必填项。"}
    assert _rows(app) == before


def test_an_answer_is_refused_in_the_row_of_its_objection(app, client, login_as, scoring):
    login_as("bureau")
    selection_id = _full_flow_until_publicised(app, client, scoring)
    url = f"/scoring/programmes/{scoring.programme}/selection/objections"
    for content in ("议事厅面积不足", "协商记录不全"):
        client.post(url, data={"application_id": 0, "received_at": china_today().isoformat(), "content": content})
    with app.app_context():
        first, second = (o.id for o in db.session.get(Selection, selection_id).objections)
    before = _rows(app)
    for response_text, message in [("", "此项为必填项。"), ("复" * 5001, "不能超过 5000 个字符。")]:
        response = client.post(f"/scoring/objections/{second}/answer", data={"response": response_text})
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert error_descriptions(page) == {"answer-response": message}
        assert _control(page, "answer-response").endswith(f">\r\n{response_text}") or _control(
            page, "answer-response").endswith(f">{response_text}")
        form = page[page.rindex("<form", 0, page.index('id="answer-response"')):]
        assert form.startswith(f'<form method="post" action="/scoring/objections/{second}/answer"')
        assert f"/scoring/objections/{first}/answer" in page  # the other objection's form, fresh
    assert _rows(app) == before


# --- bounded queries ----------------------------------------------------------------------------------------


def test_a_refused_form_costs_its_page_a_few_queries_more(app, client, login_as, scoring, count_queries):
    """A page shown again with a refused form runs the queries of its plain view and a few of the step's own, none
    per row."""
    _score(app, scoring, {(a, 0): (35, 20, 25, 0) for a in range(3)})
    login_as("bureau")
    programme = f"/scoring/programmes/{scoring.programme}"

    def count(method, url, **kwargs) -> int:
        with count_queries() as counter:
            response = getattr(client, method)(url, **kwargs)
        assert response.status_code == 200, url
        return counter.count

    for page, step, data in [("", "/assign", {}), ("/ranking", "/ties", {"priority": ""}),
                             ("/selection", "/selection/swap", {"reason": ""})]:
        if page == "/selection":
            assert client.post(programme + "/selection/propose").status_code == 302
        plain = count("get", programme + page)  # first: the ranking's memo is then filled for both
        assert count("post", programme + step, data=data) <= plain + 4, step
