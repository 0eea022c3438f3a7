from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.accounts.models import User, UserSession
from app.audit.models import AuditAction, AuditLog
from app.database import utcnow
from app.extensions import db
from tests.conftest import login


def _user(app, user_id) -> User:
    return db.session.get(User, user_id)


def _username(app, user_id) -> str:
    with app.app_context():
        return _user(app, user_id).username


def test_login_page_is_chinese_with_the_named_fields(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'name="username"' in page and 'name="password"' in page
    assert "用户名" in page and "密码" in page and "登录" in page


@pytest.mark.parametrize(
    ("role", "heading"),
    [("bureau", "民政局工作台"), ("finance", "财政工作台"), ("township", "安海镇 工作台"), ("evaluator", "评审工作台"),
     ("admin", "系统管理"), ("auditor", "安全审计"), ("community", "工作台")],
)
def test_each_role_gets_its_home(client, login_as, role, heading):
    login_as(role)
    page = client.get("/").get_data(as_text=True)
    assert heading in page


def test_wrong_password_is_refused_at_the_field_and_audited(app, client, make_user):
    username = _username(app, make_user("bureau"))
    response = login(client, username, "Wrong@2024")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "用户名或密码错误。" in page and 'data-field="password"' in page
    with app.app_context():
        entry = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id.desc())).first()
        assert entry.action == AuditAction.LOGIN_FAILED and entry.summary == "wrong password"


def test_unknown_user_gets_the_same_message(client):
    response = login(client, "nobody", "Whatever@1")
    assert "用户名或密码错误。" in response.get_data(as_text=True)


def test_five_failures_lock_the_account_for_thirty_minutes(app, client, make_user):
    user_id = make_user("bureau")
    username = _username(app, user_id)
    for _ in range(4):
        assert "用户名或密码错误。" in login(client, username, "Wrong@2024").get_data(as_text=True)
    fifth = login(client, username, "Wrong@2024").get_data(as_text=True)
    assert "账户已锁定 30 分钟" in fifth
    # The right password no longer helps, from any client (the lock lives in the database).
    other = app.test_client()
    response = login(other, username)
    assert response.status_code == 200 and "已锁定" in response.get_data(as_text=True)
    with app.app_context():
        user = _user(app, user_id)
        assert user.is_locked()
        assert timedelta(minutes=29) < user.locked_until - utcnow() <= timedelta(minutes=30)
        # The lock is a status change: it is in the audit log with before and after.
        change = db.session.scalars(
            sa.select(AuditLog).where(AuditLog.object_type == "User", AuditLog.action == AuditAction.UPDATE,
                                      AuditLog.object_id == str(user_id))
        ).all()
        assert any("locked_until" in (entry.after or {}) for entry in change)


def test_lock_ends_after_its_time(app, client, make_user):
    user_id = make_user("bureau")
    with app.app_context():
        _user(app, user_id).locked_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert login(client, _username(app, user_id)).status_code == 302


def test_lock_settings_are_settings(app, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES", 2)
    monkeypatch.setitem(app.config, "LOGIN_LOCK_MINUTES", 5)
    username = _username(app, make_user("bureau"))
    login(client, username, "Wrong@2024")
    assert "账户已锁定 5 分钟" in login(client, username, "Wrong@2024").get_data(as_text=True)


def test_session_cookie_changes_at_login(app, client, make_user):
    username = _username(app, make_user("bureau"))
    client.get("/login")
    before = client.get_cookie("sfd_session")
    login(client, username)
    after = client.get_cookie("sfd_session")
    assert after is not None and (before is None or before.value != after.value)


def _copy_cookie(client, app):
    stolen = app.test_client()
    stolen.set_cookie("sfd_session", client.get_cookie("sfd_session").value)
    return stolen


def test_logout_really_ends_the_session(app, client, make_user):
    username = _username(app, make_user("bureau"))
    login(client, username)
    stolen = _copy_cookie(client, app)
    assert stolen.get("/").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302
    assert "您已安全退出" in client.get("/login").get_data(as_text=True)
    assert stolen.get("/").status_code == 302  # the copied cookie no longer works


def test_password_change_ends_other_sessions_but_not_this_one(app, client, make_user):
    username = _username(app, make_user("bureau"))
    login(client, username)
    other = app.test_client()
    login(other, username)
    response = client.post("/account/password", data={
        "current_password": "Demo@2024", "new_password": "Better#2025", "confirm": "Better#2025"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302
    assert login(app.test_client(), username, "Better#2025").status_code == 302


def test_password_change_checks_the_policy_at_the_field(app, client, login_as):
    login_as("bureau")
    response = client.post("/account/password", data={
        "current_password": "Demo@2024", "new_password": "short", "confirm": "short"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "密码至少需要 8 个字符" in page and 'data-field="new_password"' in page
    wrong_current = client.post("/account/password", data={
        "current_password": "Nope@2024x", "new_password": "Better#2025", "confirm": "Better#2025"})
    assert "当前密码不正确" in wrong_current.get_data(as_text=True)


def test_disabling_an_account_ends_its_sessions(app, client, make_user):
    user_id = make_user("bureau")
    login(client, _username(app, user_id))
    admin = app.test_client()
    admin_id = make_user("admin")
    login(admin, _username(app, admin_id))
    response = admin.post(f"/admin/users/{user_id}", data={"display_name": "x", "role": "bureau", "township_id": 0,
                                                           "community_id": 0})  # active unchecked
    assert response.status_code == 302
    assert client.get("/").status_code == 302
    assert "该账户已停用" in login(app.test_client(), _username(app, user_id)).get_data(as_text=True)


def test_idle_timeout(app, client, make_user):
    user_id = make_user("bureau")
    login(client, _username(app, user_id))
    with app.app_context():
        session_row = db.session.scalar(sa.select(UserSession).where(UserSession.user_id == user_id))
        session_row.last_seen_at = utcnow() - timedelta(minutes=31)
        db.session.commit()
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert "登录已超时" in client.get("/login").get_data(as_text=True)


def test_activity_keeps_the_session_alive(app, client, make_user):
    user_id = make_user("bureau")
    login(client, _username(app, user_id))
    with app.app_context():
        session_row = db.session.scalar(sa.select(UserSession).where(UserSession.user_id == user_id))
        session_row.last_seen_at = utcnow() - timedelta(minutes=29)
        db.session.commit()
    assert client.get("/").status_code == 200
    with app.app_context():
        session_row = db.session.scalar(sa.select(UserSession).where(UserSession.user_id == user_id))
        assert utcnow() - session_row.last_seen_at < timedelta(minutes=1)


def test_absolute_timeout(app, client, make_user):
    user_id = make_user("bureau")
    login(client, _username(app, user_id))
    with app.app_context():
        session_row = db.session.scalar(sa.select(UserSession).where(UserSession.user_id == user_id))
        session_row.created_at = utcnow() - timedelta(hours=13)
        db.session.commit()
    assert client.get("/").status_code == 302


def test_new_account_must_change_password_first(app, client, make_user):
    user_id = make_user("bureau", must_change_password=True)
    login(client, _username(app, user_id))
    response = client.get("/places/townships")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/password")
    client.post("/account/password", data={
        "current_password": "Demo@2024", "new_password": "Fresh#2025x", "confirm": "Fresh#2025x"})
    assert client.get("/places/townships").status_code == 200


def test_password_age_limit(app, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_MAX_AGE_DAYS", 90)
    user_id = make_user("bureau")
    with app.app_context():
        _user(app, user_id).password_changed_at = utcnow() - timedelta(days=91)
        db.session.commit()
    login(client, _username(app, user_id))
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/password")


def test_next_parameter_cannot_leave_the_site(app, client, make_user):
    username = _username(app, make_user("bureau"))
    response = client.post("/login?next=//evil.example/x", data={"username": username, "password": "Demo@2024"})
    assert response.headers["Location"] == "/"
    client.post("/logout")
    response = client.post("/login?next=/places/townships", data={"username": username, "password": "Demo@2024"})
    assert response.headers["Location"] == "/places/townships"


def test_passwords_are_stored_hashed_and_never_audited(app, make_user):
    user_id = make_user("bureau")
    with app.app_context():
        user = _user(app, user_id)
        assert "Demo@2024" not in user.password_hash
        rows = db.session.scalars(sa.select(AuditLog).where(AuditLog.object_type == "User")).all()
        assert rows and all(user.password_hash not in str(row.after) for row in rows)


def test_production_hash_is_slow_scrypt(app, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_HASH_METHOD", "scrypt")
    with app.app_context():
        user = User(username="x")
        user.set_password("Demo@2024")
        assert user.password_hash.startswith("scrypt:")
        assert user.check_password("Demo@2024") and not user.check_password("demo@2024")


def test_missing_csrf_token_gets_a_chinese_400(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    response = client.post("/login", data={"username": "bureau", "password": "Demo@2024"})
    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)
    forged = client.post("/login", data={"username": "bureau", "password": "x", "csrf_token": "forged"})
    assert forged.status_code == 400


def test_language_is_per_user(app, client, login_as):
    user_id = login_as("bureau")
    assert "民政局工作台" in client.get("/").get_data(as_text=True)
    client.post("/account/preferences", data={"locale": "en"})
    page = client.get("/").get_data(as_text=True)
    assert "Civil Affairs Bureau dashboard" in page and "民政局工作台" not in page and 'lang="en"' in page
    with app.app_context():
        assert _user(app, user_id).locale == "en"


def test_login_page_language_can_be_switched_before_login(client):
    client.post("/language/en")
    assert "Username" in client.get("/login").get_data(as_text=True)
    client.post("/language/xx")  # unknown codes change nothing
    assert "Username" in client.get("/login").get_data(as_text=True)
