"""Township isolation on every application route; the printed form; the export read back; bad input."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
import sqlalchemy as sa

from app.applications.models import CONSULTATION_FORMS, Application, ApplicationStatus
from app.audit.models import AuditAction, AuditLog
from app.extensions import db
from tests.accessibility import error_descriptions
from tests.applications.helpers import applications, communities_of, nominate, only_application_id
from tests.conftest import DEMONSTRATION_FORM, login


@pytest.fixture
def foreign_draft(app, make_user, make_programme, places):
    """A draft of 磁灶镇, filled in; returns (programme id, application id)."""
    programme_id = make_programme()
    cizao = app.test_client()
    with app.app_context():
        from app.accounts.models import User

        login(cizao, db.session.get(User, make_user("township", township_id=places.cizao)).username)
    nominate(cizao, programme_id, places.cizao_community)
    application_id = only_application_id(app, programme_id)
    cizao.post(f"/applications/{application_id}/edit", data=dict(DEMONSTRATION_FORM, contact_name="磁灶联系人"))
    return programme_id, application_id


def _snapshot(app):
    with app.app_context():
        rows = db.session.execute(sa.select(Application.id, Application.status, Application.version,
                                            Application.contact_name)).all()
        # Refusals and exports are logged; nothing else may be.
        audit = db.session.scalar(sa.select(sa.func.count(AuditLog.id))
                                  .where(AuditLog.action.not_in([AuditAction.DENIED, AuditAction.EXPORT])))
        return rows, audit


def test_township_a_can_neither_see_nor_change_township_b_by_any_url(app, client, login_as, foreign_draft):
    programme_id, foreign = foreign_draft
    login_as("township")  # 安海镇
    before = _snapshot(app)
    with app.test_request_context():
        rules = [rule for rule in app.url_map.iter_rules() if "application_id" in rule.arguments]
    assert len(rules) >= 10
    for rule in rules:
        url = rule.rule.replace("<int:application_id>", str(foreign)).replace("<int:attachment_id>", "1")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, data=dict(DEMONSTRATION_FORM, reason="x"))
            assert response.status_code in (403, 404), f"{method} {url}: {response.status_code}"
    listing = client.get(f"/applications/?programme={programme_id}").get_data(as_text=True)
    assert "磁灶" not in listing
    export = client.get(f"/applications/export.xlsx?township={foreign}")
    frame = pd.read_excel(io.BytesIO(export.data), header=2)
    assert frame.dropna(how="all").query("编号 != '合计'").empty
    assert _snapshot(app) == before


def test_community_user_sees_only_its_own_application(app, client, login_as, foreign_draft, places):
    login_as("community", community_id=places.anhai_community)
    _programme_id, foreign = foreign_draft
    assert client.get(f"/applications/{foreign}").status_code == 403
    assert client.get(f"/applications/{foreign}/edit").status_code == 403


def test_bureau_and_finance_see_it_but_finance_cannot_decide(app, client, login_as, foreign_draft):
    _programme_id, foreign = foreign_draft
    login_as("finance")
    assert client.get(f"/applications/{foreign}").status_code == 200
    assert client.post(f"/applications/{foreign}/accept").status_code == 403


def test_printed_recommendation_form(app, client, login_as, foreign_draft):
    _programme_id, foreign = foreign_draft
    login_as("bureau")
    page = client.get(f"/applications/{foreign}/print").get_data(as_text=True)
    assert "print-form.css" in page and "推荐表" in page
    for text in ("磁灶联系人", "陈志强", "网格长", "吴建国", "蔡秀英", "民主议事厅", "45 平方米", "①汇集民意、确定议题",
                 "（盖章）", "市民政局意见"):
        assert text in page, text
    assert "<nav" not in page  # the paper form carries no navigation
    css = client.get("/static/css/print-form.css").get_data(as_text=True)
    assert "size: A4" in css


def test_the_venue_in_english(app, client, login_as, foreign_draft):
    """The venue kind is stored as its Chinese value and shown as its title; the venue name is escaped."""
    _programme_id, foreign = foreign_draft
    with app.app_context():
        db.session.get(Application, foreign).venue_name = "<b>厅</b>"
        db.session.commit()
    login_as("bureau")
    for url in (f"/applications/{foreign}", f"/applications/{foreign}/print"):
        client.post("/language/en")
        page = client.get(url).get_data(as_text=True)
        assert "Consultation hall &lt;b&gt;厅&lt;/b&gt;, 45 m²" in page and "议事厅(室)" not in page, url
        client.post("/language/zh_Hans_CN")
        assert "议事厅(室) &lt;b&gt;厅&lt;/b&gt;，45 平方米" in client.get(url).get_data(as_text=True), url


def test_printed_project_form_has_the_budget(app, client, login_as, make_programme, places):
    login_as("township")
    programme_id = make_programme(kind="project")
    nominate(client, programme_id, communities_of(app, places.anhai, 1)[0])
    application_id = only_application_id(app, programme_id)
    with app.app_context():
        type_id = db.session.get(Application, application_id).programme.project_types[0].id
    client.post(f"/applications/{application_id}/edit", data={
        "contact_name": "张伟", "project_type_id": type_id, "project_name": "邻里驿站",
        "budget_lines-0-item": "场地改造", "budget_lines-0-amount": "45,000",
        "budget_lines-1-item": "志愿服务", "budget_lines-1-amount": "30000.50"})
    page = client.get(f"/applications/{application_id}/print").get_data(as_text=True)
    assert "申报表" in page and "邻里驿站" in page and "¥75,000.50" in page


def test_export_reads_back_with_every_visible_application(app, client, login_as, make_programme, places,
                                                          foreign_draft):
    programme_id, _foreign = foreign_draft
    login_as("bureau")
    response = client.get(f"/applications/export.xlsx?programme={programme_id}")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    frame = pd.read_excel(io.BytesIO(response.data), header=2, dtype={"编号": str})
    rows = frame[frame["编号"].notna() & (frame["编号"] != "合计")]
    assert list(rows["编号"]) == [a.reference for a in applications(app, programme_id)]
    with app.app_context():
        names = [db.session.get(Application, a.id).community.name for a in applications(app, programme_id)]
    assert list(rows["村(社区)"]) == names
    assert list(rows["联系人"]) == ["磁灶联系人"]
    assert rows.iloc[0]["状态"] == ApplicationStatus.DRAFT.title


def test_the_export_is_audited_like_every_other(app, client, login_as, make_programme):
    programme_id = make_programme()
    user_id = login_as("bureau")
    assert client.get(f"/applications/export.xlsx?programme={programme_id}").status_code == 200
    with app.app_context():
        entry = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == AuditAction.EXPORT)
                                   .order_by(AuditLog.id.desc())).first()
        assert entry is not None
        assert (entry.object_type, entry.actor_id) == ("Application", user_id)
        assert entry.summary == f"applications export programme={programme_id}"


def test_bad_input_is_reported_at_each_field_and_nothing_is_lost(app, client, login_as, make_programme, places):
    login_as("township")
    programme_id = make_programme()
    nominate(client, programme_id, communities_of(app, places.anhai, 1)[0])
    application_id = only_application_id(app, programme_id)
    client.post(f"/applications/{application_id}/edit", data=dict(DEMONSTRATION_FORM, contact_name="原联系人"))
    response = client.post(f"/applications/{application_id}/edit", data=dict(
        DEMONSTRATION_FORM, contact_name="新联系人", contact_phone="打电话", venue_area_m2="四十五",
        participants="长" * 1_000_000, **{"convenors-0-level": "castle", "convenors-1-name": ""}))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for field in ("contact_phone", "venue_area_m2", "participants", "convenors-0-level", "convenors-1-name"):
        assert f'data-field="{field}"' in page, field
    with app.app_context():
        assert db.session.get(Application, application_id).contact_name == "原联系人"


def test_refused_fields_are_tied_to_their_controls_for_screen_readers(app, client, login_as, make_programme,
                                                                      places):
    """Each checkbox of a group in error says so and names the group's messages; the group is named by its label."""
    login_as("township")
    programme_id = make_programme()
    nominate(client, programme_id, communities_of(app, places.anhai, 1)[0])
    application_id = only_application_id(app, programme_id)
    page = client.post(f"/applications/{application_id}/edit", data=dict(
        DEMONSTRATION_FORM, consultation_forms=["小区协商会", "拍桌子"], **{"convenors-0-level": "castle"})
    ).get_data(as_text=True)
    described = error_descriptions(page)
    boxes = [key for key in described if key.startswith("consultation_forms-")]
    assert len(boxes) == len(CONSULTATION_FORMS) > 1
    assert all(described[key] == "请选择列表中的选项。" for key in boxes)
    assert "请选择列表中的选项" in described["convenors-0-level"]
    group = re.search(r'<div[^>]*role="group"[^>]*aria-labelledby="([^"]+)"[^>]*>', page).group(1)
    assert re.search(rf'id="{group}">协商形式<', page)


def test_money_input_in_budget_lines(app, client, login_as, make_programme, places):
    login_as("township")
    programme_id = make_programme(kind="project")
    nominate(client, programme_id, communities_of(app, places.anhai, 1)[0])
    application_id = only_application_id(app, programme_id)
    for amount, message in [("12.345", "两位小数"), ("-5", "负数"), ("abc", "请填写金额"), ("1e30", "过大")]:
        page = client.post(f"/applications/{application_id}/edit", data={
            "budget_lines-0-item": "x", "budget_lines-0-amount": amount}).get_data(as_text=True)
        assert message in page and 'data-field="budget_lines-0-amount"' in page, amount
    client.post(f"/applications/{application_id}/edit", data={
        "budget_lines-0-item": "x", "budget_lines-0-amount": "¥1,234.50"})
    with app.app_context():
        assert db.session.get(Application, application_id).budget_lines[0].amount_fen == 123450
