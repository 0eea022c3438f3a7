"""The floor pages of ``make bench`` (bench/floor.py): present only with BENCH_FLOOR, and the list page lists exactly
the rows asked for, through the same login and layout as every page."""

from __future__ import annotations

import os
import uuid

import pytest
from flask_migrate import upgrade
from werkzeug.security import generate_password_hash

from app import create_app
from app.accounts.models import Role, User
from app.applications.models import Application
from app.extensions import db
from tests.conftest import _database_kinds, login, make_app


@pytest.fixture(autouse=True)
def _transaction():
    """Replaces the suite's per-test transaction: these tests make a database of their own."""
    yield


@pytest.fixture(scope="module", params=_database_kinds())
def floor_app(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("floor")
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database(f"floor_{uuid.uuid4().hex[:12]}")
    else:
        url = f"sqlite:///{folder / 'floor.db'}"
    os.environ["INSTANCE_PATH"] = str(folder / "instance")
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "floor-test",
                      "UPLOAD_FOLDER": str(folder / "uploads"), "WTF_CSRF_ENABLED": False, "BENCH_FLOOR": True,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        upgrade()
        app.test_cli_runner().invoke(args=["bench-data", "--scale", "tiny", "--seed", "1"])
        db.session.add(User(username="floor-reader", display_name="读者", role=Role.FINANCE,
                            password_hash=generate_password_hash("Demo@2024", method="pbkdf2:sha256:1000")))
        db.session.commit()
    yield app, url, folder
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_bare_page_answers_without_login(floor_app):
    app, _url, _folder = floor_app
    response = app.test_client().get("/_floor/bare")
    assert response.status_code == 200 and response.data == b"ok"


def test_list_page_needs_login_and_lists_the_rows_asked_for(floor_app):
    app, _url, _folder = floor_app
    client = app.test_client()
    assert client.get("/_floor/list?rows=7").status_code == 302  # to the login page
    assert login(client, "floor-reader", "Demo@2024").status_code == 302
    with app.app_context():
        total = db.session.query(Application).count()
    assert total > 7
    for rows in (0, 7, total):
        html = client.get(f"/_floor/list?rows={rows}").get_data(as_text=True)
        assert html.count("<tr><td>") == rows
    assert client.get("/_floor/list?rows=-3").get_data(as_text=True).count("<tr><td>") == 0


def test_without_the_setting_there_is_no_floor(floor_app):
    _app, url, folder = floor_app
    plain = make_app(url, folder)
    assert plain.test_client().get("/_floor/bare").status_code == 404
    with plain.app_context():
        db.engine.dispose()
