"""The workflow: every allowed step, every refused one, deadlines and extensions, history and audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.applications import operations
from app.applications.models import Application, ApplicationEvent, ApplicationStatus
from app.audit.models import AuditAction, AuditLog
from app.database import china_today
from app.extensions import db
from app.places.models import Township
from app.programmes.models import Programme
from app.programmes.operations import ProgrammeError, grant_extension
from tests.accessibility import error_descriptions
from tests.applications.helpers import (
    communities_of,
    control_tag,
    form_values,
    nominate,
    only_application_id,
    row_count,
    status_of,
)
from tests.conftest import DEMONSTRATION_FORM, login

A = ApplicationStatus


@pytest.fixture
def draft(app, client, login_as, make_programme, places):
    """A township client, and the id of its draft nomination in an open programme due in 10 days."""
    login_as("township")
    programme_id = make_programme()
    nominate(client, programme_id, communities_of(app, places.anhai, 1)[0])
    return only_application_id(app, programme_id)


def _fill_and_submit(client, application_id, **changes):
    data = dict(DEMONSTRATION_FORM, submit_for_review="1", **changes)
    return client.post(f"/applications/{application_id}/edit", data=data)


def _bureau(app, make_user):
    bureau = app.test_client()
    with app.app_context():
        from app.accounts.models import User

        login(bureau, db.session.get(User, make_user("bureau")).username)
    return bureau


def test_every_allowed_transition_is_in_one_table():
    assert set(operations.TRANSITIONS) == {
        (A.DRAFT, A.SUBMITTED), (A.RETURNED, A.SUBMITTED), (A.DRAFT, A.WITHDRAWN), (A.SUBMITTED, A.WITHDRAWN),
        (A.RETURNED, A.WITHDRAWN), (A.SUBMITTED, A.RETURNED), (A.SUBMITTED, A.ACCEPTED), (A.SUBMITTED, A.REJECTED),
    }


@pytest.mark.parametrize("old", list(A))
@pytest.mark.parametrize("new", list(A))
def test_steps_outside_the_table_are_refused(app, draft, old, new):
    if (old, new) in operations.TRANSITIONS:
        return
    with app.app_context():
        application = db.session.get(Application, draft)
        application.status = old
        db.session.flush()
        with pytest.raises(operations.WorkflowError):
            operations.transition(application, new, None, reason="x")
        db.session.rollback()


def test_incomplete_draft_is_saved_but_not_submitted(app, client, draft):
    response = client.post(f"/applications/{draft}/edit", data={"contact_name": "林晓燕", "submit_for_review": "1"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "草稿已保存，但未提交" in page
    assert 'data-field="contact_phone"' in page and 'data-field="convenors"' in page
    with app.app_context():
        application = db.session.get(Application, draft)
        assert application.status == A.DRAFT and application.contact_name == "林晓燕"


def test_submit_return_resubmit_accept_with_history_and_audit(app, client, draft, make_user):
    response = _fill_and_submit(client, draft)
    assert response.status_code == 302
    assert status_of(app, draft) == A.SUBMITTED
    bureau = _bureau(app, make_user)
    # Returning needs a reason, given at once.
    bureau.post(f"/applications/{draft}/return", data={"reason": ""})
    assert status_of(app, draft) == A.SUBMITTED
    bureau.post(f"/applications/{draft}/return", data={"reason": "缺楼栋召集人"})
    assert status_of(app, draft) == A.RETURNED
    detail = client.get(f"/applications/{draft}").get_data(as_text=True)
    assert "缺楼栋召集人" in detail
    assert _fill_and_submit(client, draft).status_code == 302
    bureau.post(f"/applications/{draft}/accept")
    assert status_of(app, draft) == A.ACCEPTED
    with app.app_context():
        application = db.session.get(Application, draft)
        steps = [(e.from_status, e.to_status) for e in application.events]
        assert steps == [(None, A.DRAFT), (A.DRAFT, A.SUBMITTED), (A.SUBMITTED, A.RETURNED),
                         (A.RETURNED, A.SUBMITTED), (A.SUBMITTED, A.ACCEPTED)]
        audited = db.session.scalars(sa.select(AuditLog).where(
            AuditLog.object_type == "Application", AuditLog.object_id == str(draft),
            AuditLog.action == AuditAction.UPDATE)).all()
        status_changes = [(row.before["status"], row.after["status"]) for row in audited if "status" in row.after]
        assert ("submitted", "returned") in status_changes and ("submitted", "accepted") in status_changes
    history = client.get(f"/applications/{draft}").get_data(as_text=True)
    assert history.count("list-group-item small") >= 5


def test_reject_needs_a_reason_and_ends_the_application(app, client, draft, make_user):
    _fill_and_submit(client, draft)
    bureau = _bureau(app, make_user)
    bureau.post(f"/applications/{draft}/reject", data={"reason": "不符合申报条件"})
    assert status_of(app, draft) == A.REJECTED
    assert client.post(f"/applications/{draft}/withdraw").status_code == 302
    assert status_of(app, draft) == A.REJECTED  # a decided application cannot be withdrawn


def _days_from_today(days: int) -> str:
    return (china_today() + timedelta(days=days)).isoformat()


@pytest.mark.parametrize(("step", "sent", "field", "message"), [
    ("return", {"reason": "   ", "resubmit_due": _days_from_today(5)}, "reason", "此项为必填项。"),
    ("reject", {"reason": "不符" * 1001, "resubmit_due": ""}, "reason", "不能超过 2000 个字符。"),
    ("return", {"reason": "缺楼栋召集人", "resubmit_due": "2035-13-45"}, "resubmit_due", "不是有效的日期值。"),
    # Refused by the workflow's rule rather than the form: still at its field.
    ("return", {"reason": "缺楼栋召集人", "resubmit_due": _days_from_today(-1)}, "resubmit_due",
     "重新提交的截止日期不能早于今天。"),
])
def test_a_refused_reason_comes_back_as_typed_with_the_message_at_its_field(app, client, draft, make_user, step,
                                                                            sent, field, message):
    _fill_and_submit(client, draft)
    bureau = _bureau(app, make_user)
    before = (row_count(app), row_count(app, ApplicationEvent))
    response = bureau.post(f"/applications/{draft}/{step}", data=sent)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    described = error_descriptions(page)
    assert list(described) == [f"review-{field}"] and message in described[f"review-{field}"]
    assert "autofocus" in control_tag(page, f"review-{field}")
    # The reason and the date are shown as sent (the reason without the blanks around it); a return form and a
    # rejection share the form, whose action is the return's.
    assert form_values(page, f"/applications/{draft}/return") == {
        "reason": sent["reason"].strip(), "resubmit_due": sent["resubmit_due"]}
    assert status_of(app, draft) == A.SUBMITTED
    assert (row_count(app), row_count(app, ApplicationEvent)) == before, "nothing saved, nothing audited"


def test_a_refused_reason_for_a_step_no_longer_possible_is_told_why(app, client, draft, make_user):
    """Another reviewer accepted meanwhile: the page offers no reason form any more, so the refusal is the state's,
    flashed above the page."""
    _fill_and_submit(client, draft)
    bureau = _bureau(app, make_user)
    bureau.post(f"/applications/{draft}/accept")
    response = bureau.post(f"/applications/{draft}/return", data={"reason": ""}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "申报不能从“已受理，进入评审”改为“已退回”" in page and "此项为必填项" not in page
    assert status_of(app, draft) == A.ACCEPTED


def test_a_refused_reason_shows_the_page_in_as_many_queries_as_viewing_it(app, client, draft, make_user,
                                                                          count_queries):
    _fill_and_submit(client, draft)
    bureau = _bureau(app, make_user)
    with count_queries() as viewing:
        bureau.get(f"/applications/{draft}")
    with count_queries() as refused:
        assert bureau.post(f"/applications/{draft}/return", data={"reason": ""}).status_code == 200
    assert refused.count <= viewing.count


@pytest.mark.parametrize("before", ["draft", "submitted", "returned"])
def test_withdrawal_before_the_deadline(app, client, draft, make_user, before):
    if before != "draft":
        _fill_and_submit(client, draft)
    if before == "returned":
        _bureau(app, make_user).post(f"/applications/{draft}/return", data={"reason": "补充材料"})
    assert status_of(app, draft) == A(before)
    client.post(f"/applications/{draft}/withdraw")
    assert status_of(app, draft) == A.WITHDRAWN


def test_double_submit_leaves_one_submission(app, client, draft):
    _fill_and_submit(client, draft)
    response = client.post(f"/applications/{draft}/submit")
    assert response.status_code == 302
    assert "已是“已提交”状态" in client.get(f"/applications/{draft}").get_data(as_text=True)
    with app.app_context():
        events = db.session.get(Application, draft).events
        assert [e.to_status for e in events].count(A.SUBMITTED) == 1


def _move_deadline(app, application_id, days):
    with app.app_context():
        programme = db.session.get(Application, application_id).programme
        programme.nomination_milestone.due_date = china_today() + timedelta(days=days)
        db.session.commit()
        return programme.id


def test_deadline_refuses_late_submission_until_an_extension(app, client, draft, make_user, places):
    programme_id = _move_deadline(app, draft, -1)
    page = _fill_and_submit(client, draft).get_data(as_text=True)
    assert "截止" in page and status_of(app, draft) == A.DRAFT
    # The draft itself was kept.
    with app.app_context():
        assert db.session.get(Application, draft).contact_name == "林晓燕"
    bureau = _bureau(app, make_user)
    response = bureau.post(f"/programmes/{programme_id}/extensions", data={
        "township_id": places.anhai, "due_date": (china_today() + timedelta(days=3)).isoformat(),
        "reason": "人员调整"})
    assert response.status_code == 302
    assert _fill_and_submit(client, draft).status_code == 302
    with app.app_context():
        application = db.session.get(Application, draft)
        assert application.status == A.SUBMITTED and application.submitted_late


def test_extension_is_for_one_township_only(app, client, login_as, make_programme, places, make_user):
    programme_id = make_programme(due_in_days=-1)
    with app.app_context():
        programme = db.session.get(Programme, programme_id)
        grant_extension(programme, db.session.get(Township, places.cizao), china_today() + timedelta(days=5),
                        "test", None)
        db.session.commit()
    login_as("township")  # 安海镇: no extension
    page = nominate(client, programme_id, communities_of(app, places.anhai, 1)[0]).get_data(as_text=True)
    assert "截止" in page


def test_extension_must_be_after_the_deadline(app, make_programme, places):
    with app.app_context():
        programme = db.session.get(Programme, make_programme(due_in_days=5))
        with pytest.raises(ProgrammeError):
            grant_extension(programme, db.session.get(Township, places.anhai), china_today(), "x", None)


def test_deadline_is_the_end_of_the_day_in_china(app, draft):
    _move_deadline(app, draft, 0)  # due today (China time): still open
    with app.app_context():
        application = db.session.get(Application, draft)
        operations.transition(application, A.WITHDRAWN, None)
        assert application.status == A.WITHDRAWN
        db.session.rollback()


def test_withdrawal_after_the_deadline_is_refused(app, client, draft):
    _move_deadline(app, draft, -2)
    client.post(f"/applications/{draft}/withdraw")
    assert status_of(app, draft) == A.DRAFT


def test_returned_application_may_be_resubmitted_after_the_deadline_until_its_own_date(app, client, draft,
                                                                                       make_user):
    _fill_and_submit(client, draft)
    _move_deadline(app, draft, -3)
    bureau = _bureau(app, make_user)
    bureau.post(f"/applications/{draft}/return", data={"reason": "补充照片"})
    with app.app_context():
        assert db.session.get(Application, draft).resubmit_due == china_today() + timedelta(days=7)
    assert _fill_and_submit(client, draft).status_code == 302
    assert status_of(app, draft) == A.SUBMITTED


def test_editing_is_closed_once_submitted(app, client, draft):
    _fill_and_submit(client, draft)
    assert client.get(f"/applications/{draft}/edit").status_code == 403
    assert client.post(f"/applications/{draft}/edit", data=DEMONSTRATION_FORM).status_code == 403


def test_a_stale_form_does_not_overwrite_a_newer_save(app, client, draft):
    page = client.get(f"/applications/{draft}/edit").get_data(as_text=True)
    assert 'name="version"' in page
    client.post(f"/applications/{draft}/edit", data=dict(DEMONSTRATION_FORM, version="1", contact_name="第一次"))
    response = client.post(f"/applications/{draft}/edit",
                           data=dict(DEMONSTRATION_FORM, version="1", contact_name="过期页面"))
    assert response.status_code == 409 and "已被他人修改" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Application, draft).contact_name == "第一次"
