"""A real deployment under load: gunicorn with several workers on a fresh SQLite file or PostgreSQL database.

The database is migrated, loaded with the demo data and given a small scenario (an open programme in which 安海镇
has nominated nothing, a draft to edit, a site with exactly ¥1,000 allocated from one source and no tranches).
Clients are plain ``urllib`` with a cookie jar each: they log in, read the CSRF token from the page's form and post
it back, as a browser does.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from app import create_app
from app.applications.models import Application, ApplicationStatus
from app.database import china_today
from app.extensions import db
from app.fixtures import DEMO_PASSWORD, load_demo
from app.funding.models import Allocation, Site
from app.places.models import Community, Township
from app.programmes.models import Milestone, MilestoneKind, Programme, ProgrammeKind, ProgrammeStatus
from app.programmes.templates import funding_source
from tests.conftest import _database_kinds

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
SECRET_KEY = "concurrency-test-secret-key-shared-by-every-worker"
WORKERS = 4
ALLOCATION_FEN = 100_000  # ¥1,000


@pytest.fixture(autouse=True)
def _transaction():
    """Replaces the suite's per-test transaction: gunicorn commits for real into its own database."""
    yield


# --- a plain HTTP client -----------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    location: str
    text: str  # a binary body (an export) decoded with replacements: look at its status only


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to look at, not to follow (its Set-Cookie is still stored by the cookie jar)."""

    def redirect_request(self, *args, **kwargs):
        return None


def form_value(html: str, name: str) -> str:
    """The value of the ``<input name=name>`` in ``html``."""
    for tag in re.findall(r"<input\b[^>]*>", html):
        if re.search(rf'\bname="{re.escape(name)}"', tag):
            found = re.search(r'\bvalue="([^"]*)"', tag)
            if found:
                return found.group(1)
    raise AssertionError(f"no <input name={name!r}> with a value on the page: {html[:300]}")


class Client:
    """One browser: its own cookie jar, so its own session, CSRF token and flashed messages."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(self, path: str, data: dict | list | None = None) -> Response:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        req = urllib.request.Request(self.base_url + path, data=body)
        try:
            with self.opener.open(req, timeout=60) as answer:
                return Response(answer.status, answer.headers.get("Location", ""),
                                answer.read().decode(errors="replace"))
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, error.headers.get("Location", ""), error.read().decode(errors="replace"))

    def get(self, path: str) -> Response:
        return self.request(path)

    def post(self, path: str, data: dict | list) -> Response:
        return self.request(path, data)

    def csrf(self, path: str) -> str:
        page = self.get(path)
        assert page.status == 200, (path, page.status, page.text[:300])
        return form_value(page.text, "csrf_token")

    def login(self, username: str, password: str = DEMO_PASSWORD) -> Client:
        token = self.csrf("/login")
        answer = self.post("/login", {"username": username, "password": password, "csrf_token": token})
        assert answer.status == 302, (answer.status, answer.text[:500])
        return self


# --- the deployment ----------------------------------------------------------------------------------------


@dataclass
class Scenario:
    programme: int  # open, due in 10 days; 安海镇 has nominated nothing in it
    community: int  # the 安海镇 community everyone tries to nominate
    edit_programme: int  # open, holding one 安海镇 draft
    draft: int
    site: int  # ¥1,000 allocated from one source, no tranches, nothing paid
    source: int


@dataclass
class Deployment:
    url: str
    kind: str
    app: Flask  # an in-process app on the same database, for looking at what was stored
    scenario: Scenario
    log: Path

    def client(self) -> Client:
        return Client(self.url)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _programme(name: str, year: int, status: ProgrammeStatus) -> Programme:
    programme = Programme(name=name, year=year, code="CONC", kind=ProgrammeKind.DEMONSTRATION, status=status,
                          quota=10)
    programme.milestones = [Milestone(name="申报推荐", kind=MilestoneKind.NOMINATION,
                                      due_date=china_today() + timedelta(days=10))]
    db.session.add(programme)
    db.session.flush()
    return programme


def prepare_scenario() -> Scenario:
    anhai = db.session.scalar(sa.select(Township).where(Township.name == "安海镇"))
    communities = db.session.scalars(
        sa.select(Community).where(Community.township_id == anhai.id, Community.active.is_(True))
        .order_by(Community.sort_order, Community.id).limit(3)
    ).all()
    assert len(communities) == 3
    nominating = _programme("并发测试：同时推荐", 2091, ProgrammeStatus.OPEN)
    editing = _programme("并发测试：同时编辑", 2092, ProgrammeStatus.OPEN)
    paying = _programme("并发测试：同时拨付", 2093, ProgrammeStatus.SELECTED)
    draft = Application(programme=editing, township=anhai, community=communities[1], sequence=1,
                        reference="2092-CONC-ANHAI-01", contact_name="")
    accepted = Application(programme=paying, township=anhai, community=communities[2], sequence=1,
                           reference="2093-CONC-ANHAI-01", contact_name="", status=ApplicationStatus.ACCEPTED)
    db.session.add_all([draft, accepted])
    db.session.flush()
    site = Site(programme_id=paying.id, application_id=accepted.id, township_id=anhai.id,
                community_id=communities[2].id, rank=1)
    db.session.add(site)
    db.session.flush()
    source = funding_source("晋江市级财政")
    db.session.add(Allocation(site_id=site.id, source_id=source.id, amount_fen=ALLOCATION_FEN, reason="档次",
                              entry_date=china_today()))
    db.session.flush()
    return Scenario(nominating.id, communities[0].id, editing.id, draft.id, site.id, source.id)


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer /healthz in {timeout} s:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module", params=_database_kinds())
def deployment(request, tmp_path_factory):
    kind = request.param
    tmp = tmp_path_factory.mktemp(f"concurrency-{kind}")
    if kind == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database(f"sfd_conc_{uuid.uuid4().hex[:12]}")
    else:
        url = f"sqlite:///{tmp / 'concurrency.db'}"
    instance = tmp / "instance"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INSTANCE_PATH", str(instance))
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": url,
            "UPLOAD_FOLDER": str(tmp / "uploads"),
            "SECRET_KEY": SECRET_KEY,
            # The demo accounts get a cheap hash: 150 logins are set-up here, not what is under test.
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        })
    with app.app_context():
        upgrade()
        load_demo()
        scenario = prepare_scenario()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp / "gunicorn.log"
    env = {**os.environ, "INSTANCE_PATH": str(instance), "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY,
           "UPLOAD_FOLDER": str(tmp / "uploads")}
    env.pop("FLASK_DEBUG", None)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [GUNICORN, "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", "--timeout", "60",
             "--no-control-socket", "wsgi:app"],  # no shared socket under ~/.gunicorn between test runs
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(base_url, process, log)
        yield Deployment(base_url, kind, app, scenario, log)
    finally:
        _stop(process)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
