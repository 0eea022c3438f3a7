"""Walks every registered route as every role: the declared permission decides, and nothing breaks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.accounts.models import Role, User
from app.audit.models import AuditAction, AuditLog
from app.extensions import db
from app.permissions import PUBLIC, ROLE_PERMISSIONS, required_permission
from tests.conftest import login

# Routes whose POST changes who is logged in or throws the session away; walked by GET only.
_SESSION_CHANGING = {"accounts.logout", "accounts.login", "main.set_language"}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        yield rule


def _url(app, rule, ids: dict) -> str:
    values = {}
    for argument in rule.arguments:
        values[argument] = ids.get(argument, 1)
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def test_every_route_declares_what_it_needs(app):
    with app.test_request_context():
        undeclared = [rule.endpoint for rule in _routes(app) if required_permission(rule.endpoint) is None]
    assert undeclared == []


def test_admin_and_auditor_see_no_business_data():
    business = {"places.view", "places.manage"}
    assert not business & ROLE_PERMISSIONS[Role.ADMIN]
    assert not business & ROLE_PERMISSIONS[Role.AUDITOR]
    assert "audit.view" not in ROLE_PERMISSIONS[Role.ADMIN]
    assert "accounts.manage" not in ROLE_PERMISSIONS[Role.AUDITOR]


@pytest.mark.parametrize("role", [None, *Role])
def test_walk_every_route(app, client, make_user, places, role):
    ids = {"township_id": places.anhai, "community_id": places.anhai_community, "code": "en"}
    if role is not None:
        user_id = make_user(role)
        with app.app_context():
            username = db.session.get(User, user_id).username
        assert login(client, username).status_code == 302
        ids["user_id"] = user_id
    else:
        ids["user_id"] = make_user(Role.BUREAU)
    with app.test_request_context():
        plan = [(rule, required_permission(rule.endpoint)) for rule in _routes(app)]
    for rule, needed in plan:
        url = _url(app, rule, ids)
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        for method in methods:
            if method == "POST" and rule.endpoint in _SESSION_CHANGING:
                continue
            response = client.open(url, method=method, data={})
            where = f"{method} {url} as {role}"
            assert response.status_code < 500, where
            if needed == PUBLIC:
                continue
            if role is None:
                assert response.status_code in (302, 303, 401), where
                assert "/login" in response.headers.get("Location", "/login"), where
            elif needed in ROLE_PERMISSIONS[role]:
                assert response.status_code != 403, where
            else:
                assert response.status_code == 403, where
                assert "无权访问" in response.get_data(as_text=True), where


def test_denied_access_is_audited(app, client, login_as, places):
    user_id = login_as("township")  # 安海镇
    response = client.get(f"/places/townships/{places.cizao}")
    assert response.status_code == 403
    with app.app_context():
        entry = db.session.scalars(
            sa.select(AuditLog).where(AuditLog.action == AuditAction.DENIED).order_by(AuditLog.id.desc())
        ).first()
        assert entry is not None
        assert entry.actor_id == user_id
        assert entry.summary == f"GET /places/townships/{places.cizao}"
