"""The bureau's sums are remembered per process while the rows they read stay the same (app/main/dashboards.py):
every change to an input sums again, and an unchanged state is served without summing."""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa

from app.accounts.models import User
from app.applications.models import Application, ApplicationStatus
from app.database import china_today, utcnow
from app.extensions import db
from app.files.models import StoredFile
from app.funding.models import Site
from app.main import dashboards
from app.places.models import Township
from app.programmes.models import Programme, ProgrammeStatus
from app.scoring import operations
from app.scoring.models import Assignment
from app.tracking.models import ArchiveItem, ArchiveKind, MonthlyReport, ReportStatus, SpotCheck
from tests.applications.helpers import communities_of
from tests.funding.conftest import funded  # noqa: F401
from tests.scoring.conftest import scoring  # noqa: F401
from tests.tracking.test_progress import tracked  # noqa: F401


def _summed(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    compute = dashboards._sums

    def counting(ids, bounds, limit):
        calls.append((tuple(ids), tuple(bounds.items()), limit))
        return compute(ids, bounds, limit)

    monkeypatch.setattr(dashboards, "_sums", counting)
    return calls


def _part(page: str, marker: str, end: str) -> str:
    return page.split(marker, 1)[1].split(end, 1)[0]


def _submissions(page: str) -> str:
    return _part(page, 'id="submissions"', "</table>")


def _archive(page: str) -> str:
    return _part(page, "档案完整性", "</ul>")


def _change(app, action) -> None:
    with app.app_context():
        action()
        db.session.commit()


def test_an_unchanged_state_is_not_summed_again(app, client, login_as, tracked, monkeypatch):  # noqa: F811
    calls = _summed(monkeypatch)
    login_as("bureau")
    first, second = (re.sub(r'name="csrf_token" value="[^"]*"', "", client.get("/").get_data(as_text=True))
                     for _ in range(2))  # a CSRF token carries the second it was signed
    assert second == first and len(calls) == 1


def test_every_input_of_the_sums_sums_again(app, client, login_as, make_programme, places, tracked,  # noqa: F811
                                            monkeypatch):  # noqa: F811
    calls = _summed(monkeypatch)
    login_as("bureau")
    year = china_today().year

    def home() -> str:
        return client.get("/").get_data(as_text=True)

    before = home()
    assert len(calls) == 1 and "0%" in _archive(before)

    # An application's status (its version rises).
    def reject():
        db.session.scalar(sa.select(Application).where(Application.reference == "F-1")).status = \
            ApplicationStatus.REJECTED
    _change(app, reject)
    page = home()
    assert len(calls) == 2 and _submissions(page) != _submissions(before)

    # A new application, from a township that had none.
    def nominate():
        township = db.session.scalar(sa.select(Township).where(Township.id.not_in([places.anhai, places.cizao]))
                                     .order_by(Township.sort_order).limit(1))
        community = communities_of(app, township.id, 1)[0]
        db.session.add(Application(programme_id=tracked.programme, township_id=township.id, community_id=community,
                                   sequence=1, reference="M-1", status=ApplicationStatus.SUBMITTED))
    rows = _submissions(page).count("<tr><td>")
    _change(app, nominate)
    page = home()
    assert len(calls) == 3 and _submissions(page).count("<tr><td>") == rows + 1

    # The townships' order.
    def reorder():
        for township in db.session.scalars(sa.select(Township)):
            township.sort_order = -township.sort_order
    order = _submissions(page)
    _change(app, reorder)
    page = home()
    assert len(calls) == 4 and _submissions(page) != order

    # A monthly report submitted (May is overdue once 20 June has passed).
    def report():
        db.session.add(MonthlyReport(site_id=tracked.sites[0], month=date(year, 5, 1),
                                     status=ReportStatus.SUBMITTED, work_done="x"))
    _change(app, report)
    home()
    assert len(calls) == 5

    # An archive item, then its removal.
    def archive():
        stored = StoredFile(stored_name="memo/1.pdf", original_name="1.pdf", kind="pdf",
                            mime_type="application/pdf", size=1, sha256="0" * 64)
        db.session.add(ArchiveItem(site_id=tracked.sites[0], kind=ArchiveKind.PLAN, title="方案",
                                   item_date=date(year, 5, 1), file=stored))
    _change(app, archive)
    page = home()
    assert len(calls) == 6 and "6%" in _archive(page)  # 1 of 2 sites × 8 kinds

    def remove():
        db.session.scalar(sa.select(ArchiveItem).where(ArchiveItem.title == "方案")).deleted_at = utcnow()
    _change(app, remove)
    page = home()
    assert len(calls) == 7 and "0%" in _archive(page)

    # A new site.
    def select():
        application = db.session.scalar(sa.select(Application).where(Application.reference == "M-1"))
        db.session.add(Site(programme_id=tracked.programme, application_id=application.id,
                            township_id=application.township_id, community_id=application.community_id, rank=3))
    _change(app, select)
    home()
    assert len(calls) == 8

    # The months counted: the programme's milestones moved a year back (its last month is now before the last
    # overdue month, whatever the day).
    def move():
        for milestone in db.session.get(Programme, tracked.programme).milestones:
            milestone.due_date = date(year - 1, 3, 1)
    _change(app, move)
    home()
    assert len(calls) == 9 and calls[-1][1] != calls[-2][1]

    # The running programmes: another one opens.
    make_programme(status=ProgrammeStatus.OPEN)
    home()
    assert len(calls) == 10 and len(calls[-1][0]) == 2

    # The open findings are read with the page, not remembered.
    def finding():
        db.session.add(SpotCheck(site_id=tracked.sites[1], checked_on=china_today(), inspectors="x",
                                 findings="y", follow_up_required=True, follow_up="整改台账"))
    _change(app, finding)
    assert "整改台账" in _part(home(), 'id="open-findings"', "</ul>") and len(calls) == 10


def test_what_was_read_live_follows_every_change(app, client, login_as, scoring, tracked):  # noqa: F811
    """The scoring progress, the townships' names and the open findings are remembered with the sums under the
    audit log's largest id: each change shows on the next view."""
    login_as("bureau")

    def progress() -> str:
        return _part(client.get("/").get_data(as_text=True), 'id="scoring-progress"', "</ul>")

    with app.app_context():
        application = db.session.get(Application, scoring.applications[0])
        assignment = operations.assign(application, db.session.get(User, scoring.evaluators[0]), None)
        db.session.commit()
        assignment_id = assignment.id
    assert "已提交 0 / 1 份评分表" in progress()
    assert "已提交 0 / 1 份评分表" in progress()  # remembered

    def submit():
        sheet = db.session.get(Assignment, assignment_id)
        operations.save_sheet(sheet, {criterion: 2 for criterion in scoring.criteria}, [], "")
        operations.submit_sheet(sheet)
    _change(app, submit)
    assert "已提交 1 / 1 份评分表" in progress()

    def finding():
        db.session.add(SpotCheck(site_id=tracked.sites[1], checked_on=china_today(), inspectors="x",
                                 findings="y", follow_up_required=True, follow_up="整改台账"))
    _change(app, finding)
    assert "整改台账" in _part(client.get("/").get_data(as_text=True), 'id="open-findings"', "</ul>")

    def close():
        db.session.scalar(sa.select(SpotCheck).where(SpotCheck.follow_up == "整改台账")).closed_at = utcnow()
    _change(app, close)
    assert "整改台账" not in _part(client.get("/").get_data(as_text=True), 'id="open-findings"', "</ul>")

    page = client.get("/").get_data(as_text=True)
    shown = re.search(r"<tr><td>([^<]+)</td>", _submissions(page)).group(1)

    def rename():
        db.session.scalar(sa.select(Township).where(Township.name == shown)).name = shown + "（新）"
    _change(app, rename)
    assert f"<tr><td>{shown}（新）</td>" in _submissions(client.get("/").get_data(as_text=True))
