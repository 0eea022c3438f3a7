"""Scoring through the pages: the sheet of criteria, assignments and conflicts, the evaluator's sheet, reopening."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from app.audit.models import AuditLog
from app.database import china_today
from app.extensions import db
from app.programmes.models import Programme
from app.scoring import operations
from app.scoring.models import Assignment, Criterion, Score, SheetStatus
from tests.accessibility import error_descriptions
from tests.conftest import login


def _client(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def _assign(app, scoring, pairs):
    bureau = app.test_client()
    return bureau, bureau.post(f"/scoring/programmes/{scoring.programme}/assign", data={
        "applications": [scoring.applications[a] for a, _e in pairs],
        "evaluators": [scoring.evaluators[e] for _a, e in pairs]})


def _assignment(app, application_id, evaluator_id):
    with app.app_context():
        found = db.session.scalar(sa.select(Assignment).where(Assignment.application_id == application_id,
                                                              Assignment.evaluator_id == evaluator_id))
        return found.id if found else None


def _first_sheet(app, client, login_as, scoring) -> int:
    """The bureau (``client``, logged in) assigns the second application to the first evaluator: the sheet's id."""
    login_as("bureau")
    client.post(f"/scoring/programmes/{scoring.programme}/assign",
                data={"applications": [scoring.applications[1]], "evaluators": [scoring.evaluators[0]]})
    return _assignment(app, scoring.applications[1], scoring.evaluators[0])


def _sheet_data(scoring, c1="30", c2="15.5", c3="32", bonus="", veto=False, action="save"):
    data = {f"c{scoring.criteria[0]}": c1, f"c{scoring.criteria[1]}": c2, f"c{scoring.criteria[2]}": c3,
            f"c{scoring.criteria[3]}": bonus, "comment": "材料齐全", action: "1"}
    if veto:
        data["veto_ids"] = [scoring.veto]
    return data


def test_bulk_assignment_with_conflict_of_interest(app, client, login_as, scoring):
    login_as("bureau")
    response = client.post(f"/scoring/programmes/{scoring.programme}/assign", data={
        "applications": scoring.applications, "evaluators": scoring.evaluators})
    assert response.status_code == 302
    # 3 × 3 pairs, one refused: the expert tied to 安海镇 does not score 安海镇's application.
    assert _assignment(app, scoring.applications[0], scoring.evaluators[2]) is None
    assert _assignment(app, scoring.applications[1], scoring.evaluators[2]) is not None
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Assignment.id))) == 8
    page = client.get(f"/scoring/programmes/{scoring.programme}").get_data(as_text=True)
    assert "回避：" in page and "安海镇" in page
    flashes = client.get(f"/scoring/programmes/{scoring.programme}").get_data(as_text=True)
    assert "有关联" in flashes or "回避" in flashes


def test_one_by_one_assignment_and_unassign(app, client, login_as, scoring):
    assignment_id = _first_sheet(app, client, login_as, scoring)
    assert assignment_id is not None
    client.post(f"/scoring/assignments/{assignment_id}/unassign")
    assert _assignment(app, scoring.applications[1], scoring.evaluators[0]) is None
    response = client.post(f"/scoring/programmes/{scoring.programme}/assign", data={})
    assert response.status_code == 200  # the manage page again, each group's message at its boxes
    described = error_descriptions(response.get_data(as_text=True))
    assert described["applications-0"] == "请至少选择一个申报。"
    assert described["evaluators-0"] == "请至少选择一位评审人。"


def test_only_accepted_applications_are_assigned(app, scoring):
    from app.accounts.models import User
    from app.applications.models import Application, ApplicationStatus

    with app.app_context():
        application = db.session.get(Application, scoring.applications[1])
        application.status = ApplicationStatus.SUBMITTED
        import pytest

        with pytest.raises(operations.ScoringError):
            operations.assign(application, db.session.get(User, scoring.evaluators[0]), None)
        db.session.rollback()


def test_evaluator_scores_saves_submits_and_is_locked(app, client, login_as, scoring):
    assignment_id = _first_sheet(app, client, login_as, scoring)
    evaluator = _client(app, scoring.usernames[0])
    assert evaluator.post(f"/scoring/sheets/{assignment_id}", data=_sheet_data(scoring, c3="")).status_code == 302
    with app.app_context():
        assignment = db.session.get(Assignment, assignment_id)
        assert assignment.status == SheetStatus.DRAFT
        assert sorted(s.half_points for s in assignment.scores) == [31, 60]
    # Submitting with a base criterion empty is refused, the draft stays.
    page = evaluator.post(f"/scoring/sheets/{assignment_id}",
                          data=_sheet_data(scoring, c3="", action="submit_sheet"), follow_redirects=True)
    assert "还有未评分的项目：c3" in page.get_data(as_text=True)
    evaluator.post(f"/scoring/sheets/{assignment_id}", data=_sheet_data(scoring, action="submit_sheet"))
    with app.app_context():
        assert db.session.get(Assignment, assignment_id).status == SheetStatus.SUBMITTED
    # Locked: a later post changes nothing.
    evaluator.post(f"/scoring/sheets/{assignment_id}", data=_sheet_data(scoring, c1="1"))
    with app.app_context():
        scores = {s.criterion_id: s.half_points for s in db.session.get(Assignment, assignment_id).scores}
        assert scores[scoring.criteria[0]] == 60
    # The bureau reopens it with a reason, audited.
    bureau = client
    refused = bureau.post(f"/scoring/assignments/{assignment_id}/reopen", data={"reason": ""})
    assert refused.status_code == 200
    assert error_descriptions(refused.get_data(as_text=True)) == {"reopen-reason": "此项为必填项。"}
    with app.app_context():
        assert db.session.get(Assignment, assignment_id).status == SheetStatus.SUBMITTED
    bureau.post(f"/scoring/assignments/{assignment_id}/reopen", data={"reason": "c3 打分有误"})
    with app.app_context():
        assignment = db.session.get(Assignment, assignment_id)
        assert assignment.status == SheetStatus.DRAFT and assignment.reopen_reason == "c3 打分有误"
        rows = db.session.scalars(sa.select(AuditLog).where(AuditLog.object_type == "Assignment",
                                                            AuditLog.object_id == str(assignment_id))).all()
        assert any(row.before and row.before.get("status") == "submitted" and row.after.get("status") == "draft"
                   for row in rows)


def test_bad_scores_are_refused_at_the_field_and_nothing_is_lost(app, client, login_as, scoring):
    assignment_id = _first_sheet(app, client, login_as, scoring)
    evaluator = _client(app, scoring.usernames[0])
    evaluator.post(f"/scoring/sheets/{assignment_id}", data=_sheet_data(scoring))
    for value, message in [("41", "0 至 40"), ("-1", "0 至 40"), ("八十", "请填写数字"), ("7.3", "半分"),
                           ("1e999", "0 至 40")]:
        page = evaluator.post(f"/scoring/sheets/{assignment_id}", data=_sheet_data(scoring, c1=value)
                              ).get_data(as_text=True)
        assert message in page and f'data-field="c{scoring.criteria[0]}"' in page, value
    with app.app_context():
        scores = {s.criterion_id: s.half_points for s in db.session.get(Assignment, assignment_id).scores}
        assert scores[scoring.criteria[0]] == 60


def _described(page: str, control_id: str) -> tuple[str, dict[str, str]]:
    """The control with this id, and the text of each element its aria-describedby names."""
    control = re.search(rf'<(?:input|textarea)[^>]*\bid="{control_id}"[^>]*>', page).group(0)
    named = re.search(r'aria-describedby="([^"]+)"', control)
    texts = {name: re.search(rf'\bid="{name}">(.*?)</div>', page, re.S).group(1)
             for name in (named.group(1).split() if named else [])}
    return control, texts


def test_a_refused_score_is_tied_to_its_control_for_screen_readers(app, client, login_as, scoring):
    """The sheet's controls in error say so (aria-invalid) and point at their messages, and at the criterion's
    guidance, as render_field's do; what was saved before stays saved, what was typed is shown again."""
    with app.app_context():
        db.session.get(Criterion, scoring.criteria[0]).guidance = "看议事厅和六具备"
        db.session.commit()
    assignment_id = _first_sheet(app, client, login_as, scoring)
    evaluator = _client(app, scoring.usernames[0])
    evaluator.post(f"/scoring/sheets/{assignment_id}", data=_sheet_data(scoring))
    c1, c2, c3 = (f"c{criterion}" for criterion in scoring.criteria[:3])
    data = dict(_sheet_data(scoring, c1="41", c2="八十", c3="33"), comment="长" * 2001)
    page = evaluator.post(f"/scoring/sheets/{assignment_id}", data=data).get_data(as_text=True)

    control, texts = _described(page, c1)
    assert 'aria-invalid="true"' in control and 'value="41"' in control
    assert list(texts) == [f"{c1}-help", f"{c1}-errors"]
    assert texts[f"{c1}-help"] == "看议事厅和六具备" and "得分须在 0 至 40 分之间" in texts[f"{c1}-errors"]
    control, texts = _described(page, c2)
    assert 'aria-invalid="true"' in control and list(texts) == [f"{c2}-errors"]
    assert "请填写数字" in texts[f"{c2}-errors"]
    control, texts = _described(page, "comment")
    assert 'aria-invalid="true"' in control and list(texts) == ["comment-errors"]
    assert "不能超过 2000 个字符" in texts["comment-errors"]
    control, texts = _described(page, c3)  # accepted: neither, and the typed value is kept
    assert "aria-invalid" not in control and texts == {} and 'value="33"' in control

    with app.app_context():
        assignment = db.session.get(Assignment, assignment_id)
        scores = {s.criterion_id: s.half_points for s in assignment.scores}
        assert [scores.get(c) for c in scoring.criteria] == [60, 31, 64, None]
        assert assignment.comment == "材料齐全" and assignment.status == SheetStatus.DRAFT


def test_a_forged_veto_is_refused_with_its_message_at_the_checkboxes(app, client, login_as, scoring):
    """A veto the programme does not have is refused, and the page says why, where a screen reader hears it."""
    assignment_id = _first_sheet(app, client, login_as, scoring)
    evaluator = _client(app, scoring.usernames[0])
    for forged in (scoring.veto + 1000, "abc"):
        page = evaluator.post(f"/scoring/sheets/{assignment_id}",
                              data=dict(_sheet_data(scoring), veto_ids=[scoring.veto, forged])).get_data(as_text=True)
        described = error_descriptions(page)
        assert described == {"veto_ids-0": "请选择列表中的选项。"}, forged
    assert re.search(r'role="group" aria-labelledby="veto_ids-label"><div class="form-label" id="veto_ids-label">'
                     r"一票否决", re.sub(r">\s+<", "><", page))
    with app.app_context():
        assert db.session.get(Assignment, assignment_id).veto_ids == []


def _sheet_total(page: str) -> str:
    return re.search(r'<td id="sheet-total"[^>]*>([^<]*)</td>', page).group(1)


def test_the_sheet_shows_the_total_of_the_saved_scores(app, client, login_as, scoring):
    assignment_id = _first_sheet(app, client, login_as, scoring)
    evaluator = _client(app, scoring.usernames[0])
    assert _sheet_total(evaluator.get(f"/scoring/sheets/{assignment_id}").get_data(as_text=True)) == "0.00"
    evaluator.post(f"/scoring/sheets/{assignment_id}", data=_sheet_data(scoring, bonus="2.5"))
    page = evaluator.get(f"/scoring/sheets/{assignment_id}").get_data(as_text=True)
    with app.app_context():
        saved = sum(s.half_points for s in db.session.get(Assignment, assignment_id).scores)
    assert saved == 2 * (30 + 15.5 + 32 + 2.5)
    assert _sheet_total(page) == "80.00"  # base criteria and the bonus item, as the ranking sums them
    assert ">合计</th>" in page and "评审人签字：" in page  # the signature line is shown on paper only
    # A refused entry is not saved: the total stays that of the saved scores.
    page = evaluator.post(f"/scoring/sheets/{assignment_id}", data=_sheet_data(scoring, c1="41")).get_data(as_text=True)
    assert _sheet_total(page) == "80.00"


def test_evaluators_see_only_their_own_sheets(app, client, login_as, scoring):
    assignment_id = _first_sheet(app, client, login_as, scoring)
    other = _client(app, scoring.usernames[1])
    assert other.get(f"/scoring/sheets/{assignment_id}").status_code == 403
    assert other.post(f"/scoring/sheets/{assignment_id}", data=_sheet_data(scoring)).status_code == 403
    assert other.get(f"/scoring/sheets/{assignment_id}/application").status_code == 403
    assert other.get(f"/applications/{scoring.applications[1]}").status_code == 403
    assert other.get(f"/scoring/programmes/{scoring.programme}/workbook.xlsx").status_code == 404
    assert other.get(f"/scoring/programmes/{scoring.programme}/ranking").status_code == 403
    assert "T-2" not in other.get("/scoring/").get_data(as_text=True)
    owner = _client(app, scoring.usernames[0])
    assert "T-2" in owner.get("/scoring/").get_data(as_text=True)
    assert owner.get(f"/scoring/sheets/{assignment_id}/application").status_code == 200


def test_the_sheet_freezes_at_the_first_score(app, client, login_as, scoring):
    login_as("bureau")
    rows = {"items-0-group_name": "A", "items-0-name": "c1", "items-0-kind": "base", "items-0-max_points": "60",
            "items-1-group_name": "B", "items-1-name": "c3", "items-1-kind": "base", "items-1-max_points": "40",
            "vetoes-0-text": "弄虚作假"}
    assert client.post(f"/scoring/programmes/{scoring.programme}/criteria", data=rows).status_code == 302
    with app.app_context():
        programme = db.session.get(Programme, scoring.programme)
        assert [(c.name, c.max_points) for c in programme.criteria] == [("c1", 60), ("c3", 40)]
        assert operations.base_total(programme) == 100
        criterion = programme.criteria[0].id
    client.post(f"/scoring/programmes/{scoring.programme}/assign",
                data={"applications": [scoring.applications[1]], "evaluators": [scoring.evaluators[0]]})
    assignment_id = _assignment(app, scoring.applications[1], scoring.evaluators[0])
    _client(app, scoring.usernames[0]).post(f"/scoring/sheets/{assignment_id}", data={f"c{criterion}": "50",
                                                                                      "save": "1"})
    page = client.post(f"/scoring/programmes/{scoring.programme}/criteria", data=dict(
        rows, **{"items-0-max_points": "10"}), follow_redirects=True).get_data(as_text=True)
    assert "评分表已冻结" in page
    with app.app_context():
        assert db.session.get(Programme, scoring.programme).criteria[0].max_points == 60


def test_criteria_rows_are_checked(app, client, login_as, scoring):
    login_as("bureau")
    page = client.post(f"/scoring/programmes/{scoring.programme}/criteria", data={
        "items-0-group_name": "A", "items-0-name": "", "items-0-kind": "base", "items-0-max_points": "0"}
    ).get_data(as_text=True)
    assert 'data-field="items-0-name"' in page and 'data-field="items-0-max_points"' in page


def test_progress_shows_who_is_late(app, client, login_as, scoring):
    login_as("bureau")
    with app.app_context():
        db.session.get(Programme, scoring.programme).scoring_due = china_today() - timedelta(days=1)
        db.session.commit()
    client.post(f"/scoring/programmes/{scoring.programme}/assign",
                data={"applications": [scoring.applications[1]], "evaluators": [scoring.evaluators[0]]})
    page = client.get(f"/scoring/programmes/{scoring.programme}").get_data(as_text=True)
    progress = page[page.index('id="progress"'):page.index("</table>", page.index('id="progress"'))]
    assert "逾期" in progress and scoring.usernames[0] in progress


def test_scores_are_integers_of_half_points(app, scoring):
    with app.app_context():
        column = Score.__table__.c.half_points
        assert str(column.type) == "INTEGER"
