"""Configuration, migrations, health check, error pages, response headers."""

from __future__ import annotations

import io

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.config import build_config, load_secret_key
from app.extensions import db


def test_migrations_produce_exactly_the_models_schema(app):
    with app.app_context():
        connection = db.session.connection()
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_healthz_reports_database_and_migrations(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] is True
    assert body["migrations"]["at_head"] is True and body["migrations"]["current"] == body["migrations"]["head"]


def test_healthz_says_when_migrations_are_behind(tmp_path, monkeypatch):
    from tests.conftest import make_app

    fresh = make_app(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path)
    response = fresh.test_client().get("/healthz")
    assert response.status_code == 503 and response.get_json()["migrations"]["at_head"] is False


def test_the_favicon_is_served_by_the_app(client, login_as):
    def icon():
        response = client.get("/favicon.ico")
        return response.status_code, response.mimetype, response.data[:4]

    expected = (200, "image/vnd.microsoft.icon", b"\x00\x00\x01\x00")  # an ICO header
    assert icon() == expected  # the login page asks for it before anyone is logged in
    login_as("bureau")
    assert icon() == expected
    page = client.get("/").get_data(as_text=True)
    assert '<link rel="icon" href="/favicon.ico"' in page and 'href="/static/favicon.svg"' in page
    assert client.get("/static/favicon.svg").status_code == 200


def test_secret_key_is_generated_once_and_shared(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_secret_key(str(tmp_path))
    second = load_secret_key(str(tmp_path))
    assert first == second and len(first) >= 64
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert load_secret_key(str(tmp_path)) == "from-the-environment"


def test_database_url_selects_postgresql_with_psycopg3(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.internal:5432/sfd")
    assert build_config(str(tmp_path))["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.internal:5432/sfd"
    monkeypatch.delenv("DATABASE_URL")
    config = build_config(str(tmp_path))
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("UPLOAD_FOLDER", "/srv/uploads")
    assert build_config(str(tmp_path))["UPLOAD_FOLDER"] == "/srv/uploads"


def test_the_idle_time_before_a_connection_is_checked_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_PING_AFTER_IDLE_SECONDS", raising=False)
    assert build_config(str(tmp_path))["DATABASE_PING_AFTER_IDLE_SECONDS"] == 2
    monkeypatch.setenv("DATABASE_PING_AFTER_IDLE_SECONDS", "0")  # an operator who wants pre_ping's behaviour back
    assert build_config(str(tmp_path))["DATABASE_PING_AFTER_IDLE_SECONDS"] == 0


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            assert db.engine.dialect.name == "postgresql"
            assert db.engine.dialect.driver == "psycopg"
            return
        connection = db.session.connection()
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == app.config["SQLITE_BUSY_TIMEOUT_MS"]
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_error_pages_are_chinese_and_reveal_nothing(tmp_path):
    from tests.conftest import make_app

    fresh = make_app(f"sqlite:///{tmp_path / 'e.db'}", tmp_path)
    from app.permissions import public

    @fresh.route("/boom")
    @public
    def boom():
        raise RuntimeError("secret internal detail")

    client = fresh.test_client()
    fresh.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and "系统错误" in page
    assert "secret internal detail" not in page and "Traceback" not in page
    assert "页面不存在" in client.get("/no/such/page").get_data(as_text=True)


def test_oversized_upload_gets_a_chinese_413(app, client, login_as, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    login_as("bureau")
    response = client.post("/places/communities/import", data={"file": (io.BytesIO(b"x" * 4096), "a.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 413 and "文件过大" in response.get_data(as_text=True)


def test_security_headers(client, login_as):
    response = client.get("/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    login_as("bureau")
    assert client.get("/").headers["Cache-Control"] == "no-store"


def test_no_inline_script_and_no_outside_assets(client, login_as):
    login_as("bureau")
    page = client.get("/").get_data(as_text=True)
    assert "<script>" not in page and "cdn" not in page.lower()
    for asset in ("/bootstrap/static/css/bootstrap.min.css", "/bootstrap/static/js/bootstrap.bundle.min.js",
                  "/static/js/app.js"):
        if asset in page or asset.endswith("app.js"):
            assert client.get(asset).status_code == 200, asset


def test_session_cookie_flags(app, client, make_user):
    from tests.conftest import login

    with app.app_context():
        from app.accounts.models import User

        username = db.session.get(User, make_user("bureau")).username
    response = login(client, username)
    cookie = response.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_timestamps_are_utc_aware(app, places):
    from app.places.models import Community

    with app.app_context():
        created = db.session.scalar(sa.select(Community.created_at).where(Community.id == places.anhai_community))
        assert created.tzinfo is not None and created.utcoffset().total_seconds() == 0


def test_upgrading_a_database_that_holds_data(tmp_path):
    """Every migration must apply to a database in use, not only to an empty one (SQLite rebuilds tables)."""
    from flask_migrate import upgrade

    from tests.conftest import make_app

    populated = make_app(f"sqlite:///{tmp_path / 'old.db'}", tmp_path)
    with populated.app_context():
        upgrade(revision="0002_programmes_applications")
        # Rows as the schema of 0002 had them, pointing at each other (users are referenced from three tables).
        statements = [
            "INSERT INTO townships (id, name, kind, code, official_urban_communities, official_villages, sort_order)"
            " VALUES (1, '安海镇', 'town', 'anhai', 6, 36, 1)",
            "INSERT INTO communities (id, township_id, name, kind, active, generated, sort_order, created_at)"
            " VALUES (1, 1, '星塔社区', 'community', 1, 0, 1, '2024-01-01 00:00:00')",
            "INSERT INTO users (id, username, display_name, role, township_id, password_hash, password_changed_at,"
            " must_change_password, failed_logins, active, locale, created_at) VALUES (1, 'anhai', '', 'township',"
            " 1, 'x', '2024-01-01 00:00:00', 0, 0, 1, 'zh_Hans_CN', '2024-01-01 00:00:00')",
            "INSERT INTO programmes (id, name, year, code, kind, status, quota, description, notice_reference,"
            " nomination_rule, nomination_min, nomination_max, size_threshold, min_small, min_large, created_at)"
            " VALUES (1, 'p', 2024, 'SFD', 'demonstration', 'open', 10, '', '', 'fixed', 1, 2, 15, 1, 2,"
            " '2024-01-01 00:00:00')",
            "INSERT INTO applications (id, programme_id, township_id, community_id, sequence, reference, status,"
            " version, contact_name, contact_phone, township_opinion, participants, venue_kind, venue_name,"
            " opinion_box, wechat_column, consultation_forms, consultation_forms_other, procedure_topic,"
            " procedure_consult, procedure_follow_up, self_governance, project_name, foundation, goals, measures,"
            " schedule, expected_results, created_by_id, created_at, updated_at, submitted_late, last_reason)"
            " VALUES (1, 1, 1, 1, 1, 'R-1', 'draft', 1, '', '', '', '', '', '', 0, '', '[]', '', '', '', '', '',"
            " '', '', '', '', '', '', 1, '2024-01-01 00:00:00', '2024-01-01 00:00:00', 0, '')",
            "INSERT INTO audit_log (at, actor_id, actor_name, action, object_type, object_id, summary, ip)"
            " VALUES ('2024-01-01 00:00:00', 1, 'anhai', 'login', 'User', '1', '', '')",
        ]
        connection = db.session.connection()
        for statement in statements:
            connection.exec_driver_sql(statement)
        db.session.commit()
        upgrade()
        connection = db.session.connection()
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("SELECT publicity_days FROM programmes").scalar() == 5
        assert connection.exec_driver_sql("SELECT created_by_id FROM applications").scalar() == 1
