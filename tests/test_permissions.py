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


def _real_objects(app, places, make_programme) -> dict:
    """A programme, a nomination of 安海镇 (the township and community roles' own) and its attachment."""
    import io

    from werkzeug.datastructures import FileStorage

    from app.applications.models import Application, ApplicationAttachment
    from app.files.storage import save_upload
    from tests.files.test_storage import make_pdf

    programme_id = make_programme()
    with app.app_context():
        application = Application(programme_id=programme_id, township_id=places.anhai,
                                  community_id=places.anhai_community, sequence=1, reference="WALK-01")
        db.session.add(application)
        stored = save_upload(FileStorage(stream=io.BytesIO(make_pdf()), filename="走查.pdf"))
        db.session.flush()
        attachment = ApplicationAttachment(application_id=application.id, file_id=stored.id)
        db.session.add(attachment)
        db.session.commit()
        return {"programme_id": programme_id, "application_id": application.id, "attachment_id": attachment.id}


def _reset(app, ids: dict) -> None:
    """Undo what the previous route's POST did to the walk's objects, so each route meets them as made."""
    from app.applications.models import Application, ApplicationAttachment, ApplicationStatus

    with app.app_context():
        application = db.session.get(Application, ids["application_id"])
        application.status = ApplicationStatus.DRAFT
        db.session.get(ApplicationAttachment, ids["attachment_id"]).file.deleted_at = None
        db.session.commit()


@pytest.mark.parametrize("role", [None, *Role])
def test_walk_every_route(app, client, make_user, make_programme, places, role):
    ids = {"township_id": places.anhai, "community_id": places.anhai_community, "code": "en", "decision": "accept",
           "month": "2024-05", "which": "minutes", "key": "ledger",
           **_real_objects(app, places, make_programme)}
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
        _reset(app, ids)
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
