"""Test fixtures: the app built once per database (SQLite and a real PostgreSQL), each test inside a
transaction that is rolled back, and factories for users and places.

``TEST_DATABASES=sqlite`` runs only SQLite locally; in CI (``CI`` set) both always run.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_migrate import upgrade

from app import create_app
from app.accounts.models import Role, User
from app.accounts.operations import create_user
from app.extensions import db
from app.fixtures import DEMO_PASSWORD, load_catalogue, load_places
from app.places.models import Community, Township
from tests.accessibility import check_error_markup
from tests.pgserver import PostgresServer


def _database_kinds() -> list[str]:
    wanted = os.environ.get("TEST_DATABASES", "sqlite,postgresql")
    kinds = [kind.strip() for kind in wanted.split(",") if kind.strip()]
    if os.environ.get("CI") and set(kinds) != {"sqlite", "postgresql"}:
        raise pytest.UsageError("CI runs the suite on both SQLite and PostgreSQL")
    return kinds


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


class CheckedClient(FlaskClient):
    """The test client, checking each page that shows field errors for what a screen reader needs
    (tests/accessibility.py): every refused form the suite posts is checked so."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        if response.mimetype == "text/html":
            check_error_markup(response.get_data(as_text=True))
        return response


def make_app(database_url: str, tmp_path) -> object:
    os.environ["INSTANCE_PATH"] = str(tmp_path / "instance")
    application = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "test-secret-key-not-for-production",
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
            # A cheap hash: the policy and the flow are under test, not scrypt's cost.
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "WTF_CSRF_ENABLED": False,
            "PAGE_SIZE": 20,
        }
    )
    application.test_client_class = CheckedClient
    return application


@pytest.fixture(scope="session", params=_database_kinds())
def app(request, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp(request.param)
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database("sfd_test")
    else:
        url = f"sqlite:///{tmp_path / 'test.db'}"
    application = make_app(url, tmp_path)
    with application.app_context():
        upgrade()
        load_places()
        load_catalogue()
        db.session.commit()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _fresh_memos():
    """Rolled-back tests reuse ids with other data; the per-process memos (app.statements.Remembered: rankings, the
    bureau's sums, the reconciliation's, archive's and grid's totals) must not carry over."""
    from app.statements import REMEMBERED

    for remembered in REMEMBERED:
        remembered.clear()


@pytest.fixture(autouse=True)
def _transaction(request, app):
    """Every session of the test runs on one connection inside one transaction, rolled back at the end.

    Commits in the code under test become savepoints (join_transaction_mode="create_savepoint").
    """
    engines = db._app_engines[app]
    engine = engines[None]
    connection = engine.connect()
    outer = connection.begin()
    engines[None] = connection
    try:
        yield
    finally:
        with app.app_context():
            db.session.remove()
        engines[None] = engine
        outer.rollback()
        connection.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ctx(app):
    """An app context for direct database work in a test; requests are made outside it."""
    with app.app_context():
        yield


@dataclass
class Places:
    anhai: int
    cizao: int
    anhai_community: int
    cizao_community: int


@pytest.fixture
def places(app) -> Places:
    with app.app_context():
        def township(name):
            return db.session.scalar(sa.select(Township).where(Township.name == name))

        anhai, cizao = township("安海镇"), township("磁灶镇")

        def first_or_new(t):
            found = db.session.scalar(sa.select(Community).where(Community.township_id == t.id).limit(1))
            if found is None:
                from app.places.models import CommunityKind

                found = Community(township=t, name="测试村", kind=CommunityKind.VILLAGE)
                db.session.add(found)
                db.session.flush()
            return found

        result = Places(anhai.id, cizao.id, first_or_new(anhai).id, first_or_new(cizao).id)
        db.session.commit()
        return result


@pytest.fixture
def make_user(app, places):
    """make_user(role, username=None, **fields) -> user id; the password is the demo password."""
    counter = iter(range(1, 10_000))

    def factory(role: Role | str, username: str | None = None, **fields) -> int:
        role = Role(role)
        if role == Role.TOWNSHIP:
            fields.setdefault("township_id", places.anhai)
        if role == Role.COMMUNITY:
            fields.setdefault("community_id", places.anhai_community)
        must_change = fields.pop("must_change_password", False)
        active = fields.pop("active", True)
        with app.app_context():
            user = create_user(
                username=username or f"{role.value}{next(counter)}",
                password=DEMO_PASSWORD,
                role=role,
                must_change_password=must_change,
                **fields,
            )
            user.active = active
            db.session.commit()
            return user.id

    return factory


_CSRF_VALUE = re.compile(r'(name="csrf_token"[^>]*value=")[^"]*"')


def page_without_tokens(response) -> str:
    """The page's HTML with its CSRF tokens blanked: a token is signed with the second it was made, so two views of
    the same remembered page differ in it when they straddle a second."""
    return _CSRF_VALUE.sub(r'\1"', response.get_data(as_text=True))


def login(client, username: str, password: str = DEMO_PASSWORD):
    return client.post("/login", data={"username": username, "password": password})


@pytest.fixture
def login_as(client, make_user, app):
    """login_as(role, **fields) -> user id, with the test client logged in as a new user of that role."""

    def factory(role, **fields) -> int:
        user_id = make_user(role, **fields)
        with app.app_context():
            username = db.session.get(User, user_id).username
        response = login(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return user_id

    return factory


class QueryCounter:
    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, _conn, _cursor, statement, *_args):
        if not re.match(r"\s*(SAVEPOINT|RELEASE|ROLLBACK|BEGIN)", statement, re.I):
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app):
    """with count_queries() as counter: ...; counter.count is the number of SQL statements run."""
    from contextlib import contextmanager

    @contextmanager
    def counting():
        counter = QueryCounter()
        engine = db._app_engines[app][None]
        sa.event.listen(engine, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            sa.event.remove(engine, "before_cursor_execute", counter)

    return counting


# --- in CI, a skipped test is a failure --------------------------------------------------------

_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("CI") and _skipped:
        print(f"\nCI forbids skipped tests; skipped: {', '.join(_skipped)}")
        session.exitstatus = 1


# --- programmes and applications ---------------------------------------------------------------------


@pytest.fixture
def make_programme(app):
    """make_programme(kind="demonstration", due_in_days=10, **fields) -> programme id, open by default."""
    from datetime import timedelta

    from app.database import china_today
    from app.programmes.models import Milestone, MilestoneKind, Programme, ProgrammeKind, ProgrammeStatus, ProjectType

    counter = iter(range(1, 1000))

    def factory(kind: str = "demonstration", due_in_days: int = 10, **fields) -> int:
        number = next(counter)
        with app.app_context():
            programme = Programme(
                name=fields.pop("name", f"测试项目{number}"),
                year=fields.pop("year", 2030 + number),
                code=fields.pop("code", "SFD" if kind == "demonstration" else "GJGX"),
                kind=ProgrammeKind(kind),
                status=fields.pop("status", ProgrammeStatus.OPEN),
                quota=fields.pop("quota", 10),
                **fields,
            )
            programme.milestones = [Milestone(name="申报推荐", kind=MilestoneKind.NOMINATION,
                                              due_date=china_today() + timedelta(days=due_in_days))]
            if kind == "project":
                programme.project_types = [ProjectType(name="党建引领型"), ProjectType(name="邻里互助型")]
            db.session.add(programme)
            db.session.commit()
            return programme.id

    return factory


DEMONSTRATION_FORM = {
    "contact_name": "林晓燕",
    "contact_phone": "0595-85612345",
    "participants": "住户代表、业主委员会、物业公司",
    "venue_kind": "议事厅(室)",
    "venue_name": "民主议事厅",
    "venue_area_m2": "45",
    "opinion_box": "y",
    "wechat_column": "微议事专栏",
    "consultation_forms": ["小区协商会", "楼栋协商会"],
    "procedure_topic": "收集诉求，确定议题",
    "procedure_consult": "召开协商会，签字确认",
    "procedure_follow_up": "跟进落实，反馈备案",
    "self_governance": "近一年协商 12 次",
    "township_opinion": "同意推荐",
    "convenors-0-level": "grid", "convenors-0-unit_name": "第一网格", "convenors-0-name": "陈志强",
    "convenors-0-role": "网格长",
    "convenors-1-level": "estate", "convenors-1-unit_name": "新华街", "convenors-1-name": "吴建国",
    "convenors-1-role": "街巷长",
    "convenors-2-level": "building", "convenors-2-unit_name": "3号楼", "convenors-2-name": "蔡秀英",
    "convenors-2-role": "楼长",
    "think_tank-0-name": "许文华", "think_tank-0-identity": "老党员",
}
