from __future__ import annotations

import io
from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from app.audit.models import AuditAction, AuditLog
from app.audit.operations import purge_older_than
from app.database import utcnow
from app.extensions import db
from app.places.models import Community
from tests.accessibility import error_descriptions


def _make_changes(app, places):
    with app.app_context():
        community = db.session.get(Community, places.anhai_community)
        community.name = "审计测试社区"
        db.session.commit()


def test_auditor_filters_the_log(app, client, login_as, places):
    _make_changes(app, places)
    login_as("auditor")
    page = client.get(f"/audit/?object_type=Community&object_id={places.anhai_community}").get_data(as_text=True)
    assert "审计测试社区" in page
    page = client.get("/audit/?action=login&object_type=Community").get_data(as_text=True)
    assert "审计测试社区" not in page


def test_impossible_filters_are_explained_not_crashed(client, login_as):
    login_as("auditor")
    response = client.get("/audit/?date_from=2024-13-45&action=nonsense")
    assert response.status_code == 200
    response = client.get("/audit/?date_from=2024-05-02&date_to=2024-05-01")
    assert "截止日期不能早于起始日期" in response.get_data(as_text=True)


def test_refused_filters_are_tied_to_their_controls_for_screen_readers(client, login_as):
    login_as("auditor")
    page = client.get("/audit/?date_from=2024-05-02&date_to=2024-05-01&action=nonsense").get_data(as_text=True)
    described = error_descriptions(page)
    assert set(described) == {"date_to", "action"}
    assert "截止日期不能早于起始日期" in described["date_to"] and "不是有效的选择" in described["action"]


def test_the_filters_are_the_markup_wtforms_would_write(app, client, login_as):
    """The search page writes its filter inputs and labels itself (issue 9); they must be WTForms' own markup."""
    from forms.audit import AuditFilterForm

    login_as("auditor")
    query = "date_from=2024-05-02&date_to=2024-05-01&actor=%E7%8E%8B%22%3Cb%3E&object_id=7"
    page = client.get(f"/audit/?{query}").get_data(as_text=True)
    with app.test_request_context(f"/audit/?{query}"):
        from flask import request

        form = AuditFilterForm(request.args)
        form.validate()
        for field in (form.date_from, form.date_to, form.actor, form.object_id):
            extra = {"type": "date"} if field.type == "DateField" else {}
            if field.errors:  # drawn by field_control, which names the messages
                extra |= {"aria-describedby": f"{field.id}-errors", "aria-invalid": "true"}
            invalid = " is-invalid" if field.errors else ""
            assert str(field(class_="form-control form-control-sm" + invalid, **extra)) in page
            assert str(field.label(class_="form-label small mb-0")) in page
    assert 'maxlength="80"' in page and "王&#34;&lt;b&gt;" in page


def test_export_reads_back_with_the_filtered_rows(app, client, login_as, places):
    _make_changes(app, places)
    login_as("auditor")
    today = date.today()
    response = client.get(f"/audit/export.xlsx?object_type=Community&date_from={today - timedelta(days=1)}"
                          f"&date_to={today + timedelta(days=1)}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response.headers["Content-Disposition"]
    frame = pd.read_excel(io.BytesIO(response.data), header=2)  # title, subtitle, then the header
    assert list(frame.columns)[:3] == ["时间", "操作人", "操作"]
    assert set(frame["对象类型"]) == {"Community"}
    assert frame["修改后"].str.contains("审计测试社区").any()
    with app.app_context():
        assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == AuditAction.EXPORT)) is not None


def test_nobody_else_reads_the_log(client, login_as):
    for role in ("bureau", "finance", "admin", "township"):
        login_as(role)
        assert client.get("/audit/").status_code == 403
        assert client.get("/audit/export.xlsx").status_code == 403
        client.post("/logout")


def test_the_log_is_append_only(app, places):
    _make_changes(app, places)
    with app.app_context():
        entry = db.session.scalars(sa.select(AuditLog)).first()
        entry.summary = "tampered"
        with pytest.raises(PermissionError):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.scalars(sa.select(AuditLog)).first())
        with pytest.raises(PermissionError):
            db.session.flush()
        db.session.rollback()


def test_a_failed_change_leaves_no_audit_row(app, places):
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count(AuditLog.id)))
        community = db.session.get(Community, places.anhai_community)
        community.name = "回滚社区"
        db.session.flush()
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count(AuditLog.id))) == before


def test_retention_is_at_least_180_days(app):
    with app.app_context():
        with pytest.raises(ValueError):
            purge_older_than(30)
        db.session.add(AuditLog(at=utcnow() - timedelta(days=400), action=AuditAction.LOGIN, actor_name="old"))
        db.session.add(AuditLog(at=utcnow() - timedelta(days=100), action=AuditAction.LOGIN, actor_name="recent"))
        db.session.flush()
        assert purge_older_than(365) >= 1
        names = set(db.session.scalars(sa.select(AuditLog.actor_name)))
        assert "recent" in names and "old" not in names


def test_purge_command_refuses_short_retention(app):
    result = app.test_cli_runner().invoke(args=["purge-audit", "--older-than-days", "10"])
    assert result.exit_code != 0 and "kept at least" in result.output
