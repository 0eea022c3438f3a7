"""Sessions and headers behind HTTPS, and a production app that never runs in debug mode."""

from __future__ import annotations

from app import create_app
from tests.conftest import login


def test_production_app_is_not_in_debug_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    production = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}"})
    assert production.debug is False and production.config["DEBUG"] is False
    assert production.config["SECRET_KEY"] and production.config["SESSION_COOKIE_HTTPONLY"]


def test_secure_cookie_and_real_client_behind_an_https_proxy(app, client, make_user, monkeypatch, tmp_path):
    from tests.conftest import make_app

    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    behind = make_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path)
    assert behind.config["SESSION_COOKIE_SECURE"] is True
    proxied = behind.test_client()
    response = proxied.get("/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
                           base_url="https://sfd.example")
    cookie = response.headers.get("Set-Cookie", "")
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_pages_with_personal_or_money_data_are_not_stored(client, login_as):
    login_as("finance")
    for path in ("/", "/funding/", "/applications/", "/notifications/"):
        response = client.get(path)
        assert response.headers["Cache-Control"] == "no-store", path
        assert response.headers["X-Frame-Options"] == "DENY"


def test_the_login_page_itself_can_be_cached_only_by_nobody_sensitive(client):
    response = client.get("/login")
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert "Content-Security-Policy" in response.headers


def test_a_stolen_cookie_is_useless_after_logout(app, client, make_user):
    from app.accounts.models import User
    from app.extensions import db

    with app.app_context():
        username = db.session.get(User, make_user("finance")).username
    login(client, username)
    copy = app.test_client()
    copy.set_cookie("sfd_session", client.get_cookie("sfd_session").value)
    assert copy.get("/funding/").status_code == 200
    client.post("/logout")
    assert copy.get("/funding/").status_code == 302
