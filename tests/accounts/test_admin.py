from __future__ import annotations

import sqlalchemy as sa

from app.accounts.models import Role, User
from app.audit.models import AuditAction, AuditLog
from app.database import utcnow
from app.extensions import db
from tests.conftest import login


def _by_name(username):
    return db.session.scalar(sa.select(User).where(User.username == username))


def test_admin_creates_a_township_account_that_must_change_its_password(app, client, login_as, places):
    login_as("admin")
    response = client.post("/admin/users/new", data={
        "username": "Shenhu_Staff", "display_name": "深沪镇社会事务办", "role": "township",
        "township_id": places.cizao, "community_id": 0, "active": "y", "temporary_password": "Temp#2024ok"})
    assert response.status_code == 302
    with app.app_context():
        user = _by_name("shenhu_staff")
        assert user.role == Role.TOWNSHIP and user.township_id == places.cizao and user.must_change_password
        entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.object_type == "User",
                                                            AuditLog.action == AuditAction.INSERT,
                                                            AuditLog.object_id == str(user.id)))
        assert entry.after["username"] == "shenhu_staff" and entry.after["password_hash"] == "******"
    fresh = app.test_client()
    login(fresh, "shenhu_staff", "Temp#2024ok")
    assert fresh.get("/").headers["Location"].endswith("/account/password")


def test_township_account_needs_its_township(app, client, login_as):
    login_as("admin")
    response = client.post("/admin/users/new", data={
        "username": "someone", "role": "township", "township_id": 0, "community_id": 0,
        "temporary_password": "Temp#2024ok"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "镇(街道)账户必须选择所属镇(街道)" in page
    with app.app_context():
        assert _by_name("someone") is None


def test_bad_account_input_is_reported_at_each_field(app, client, login_as, make_user):
    login_as("admin")
    make_user("bureau", username="taken")
    response = client.post("/admin/users/new", data={
        "username": "taken", "role": "bureau", "township_id": 0, "community_id": 0,
        "temporary_password": "Temp#2024ok"})
    assert "该用户名已存在" in response.get_data(as_text=True)
    response = client.post("/admin/users/new", data={
        "username": "新用户", "role": "nonsense", "township_id": "x", "community_id": 0, "temporary_password": "a"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-field="username"' in page and 'data-field="temporary_password"' in page
    assert 'data-field="role"' in page


def test_admin_resets_and_unlocks(app, client, login_as, make_user):
    login_as("admin")
    user_id = make_user("finance")
    with app.app_context():
        user = db.session.get(User, user_id)
        user.locked_until = utcnow().replace(year=utcnow().year + 1)
        db.session.commit()
        username = user.username
    assert client.post(f"/admin/users/{user_id}/unlock").status_code == 302
    response = client.post(f"/admin/users/{user_id}/reset-password", data={"temporary_password": "weak"})
    assert response.status_code == 200 and "密码至少需要 8 个字符" in response.get_data(as_text=True)
    assert client.post(f"/admin/users/{user_id}/reset-password",
                       data={"temporary_password": "Reset#2024x"}).status_code == 302
    with app.app_context():
        user = db.session.get(User, user_id)
        assert not user.is_locked() and user.must_change_password
    fresh = app.test_client()
    assert login(fresh, username, "Reset#2024x").status_code == 302


def test_admin_cannot_disable_itself(app, client, login_as):
    admin_id = login_as("admin")
    response = client.post(f"/admin/users/{admin_id}", data={"role": "admin", "township_id": 0, "community_id": 0})
    assert "不能停用自己的账户" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, admin_id).active


def test_unknown_user_id_is_404(client, login_as):
    login_as("admin")
    response = client.get("/admin/users/999999")
    assert response.status_code == 404 and "页面不存在" in response.get_data(as_text=True)


def test_user_list_filters(client, login_as, make_user):
    login_as("admin")
    make_user("auditor", username="auditor_x")
    page = client.get("/admin/users?role=auditor").get_data(as_text=True)
    assert "auditor_x" in page
    assert "auditor_x" not in client.get("/admin/users?role=bureau").get_data(as_text=True)
    assert client.get("/admin/users?role=nonsense&page=abc").status_code == 200


def test_create_admin_command(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-admin", "--username", "ops", "--password", "short"])
    assert result.exit_code != 0 and "8" in result.output
    result = runner.invoke(args=["create-admin", "--username", "ops", "--password", "Jinjiang#2024"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = _by_name("ops")
        assert user.role == Role.ADMIN and not user.must_change_password
