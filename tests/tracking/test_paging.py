"""Issue 9: the monthly grid and the archive checklist show one page of sites; what they count (missing reports by
township, sites per kind, complete sites) stays counted over every site; milestones are checked cheaply."""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa

from app.database import china_today
from app.extensions import db
from app.funding.models import Site
from app.programmes.models import Milestone, MilestoneKind, Programme
from app.tracking import archive, progress
from app.tracking.models import ArchiveKind, MonthlyReport, ReportStatus, SiteMilestone
from tests.funding.conftest import funded  # noqa: F401
from tests.tracking.test_archive import _add_directly, sites  # noqa: F401
from tests.tracking.test_progress import _china, overdue_by_township, tracked  # noqa: F401


def _reports(app, tracked) -> int:  # noqa: F811
    """Two submitted reports of the first site (May on time, June late); returns the year."""
    with app.app_context():
        year = china_today().year
        db.session.add(MonthlyReport(site_id=tracked.sites[0], month=date(year, 5, 1), status=ReportStatus.SUBMITTED,
                                     work_done="x", submitted_at=_china(date(year, 5, 19))))
        db.session.add(MonthlyReport(site_id=tracked.sites[0], month=date(year, 6, 1), status=ReportStatus.SUBMITTED,
                                     work_done="x", submitted_at=_china(date(year, 6, 22))))
        db.session.add(MonthlyReport(site_id=tracked.sites[1], month=date(year, 7, 1), status=ReportStatus.DRAFT,
                                     work_done="x"))
        db.session.commit()
        return year


def test_programme_progress_counts_as_the_grid_does(app, tracked):  # noqa: F811
    year = _reports(app, tracked)
    with app.app_context():
        programme = db.session.get(Programme, tracked.programme)
        for today in [date(year, 5, 20), date(year, 5, 21), date(year, 6, 25), date(year, 9, 1), date(year + 1, 3, 1)]:
            months, rows = progress.monthly_grid(programme, today=today)
            summary = progress.programme_progress(programme, today=today)
            overdue = overdue_by_township(rows)
            assert summary.months == months
            assert summary.overdue == overdue and summary.overdue_townships == len(overdue), today
            assert sorted(t for t, _name in summary.with_sites) == sorted({row.site.township_id for row in rows})
            assert summary.sites == len(rows)
            if overdue:
                limited = progress.programme_progress(programme, today=today, limit=1)
                assert (limited.overdue, limited.overdue_townships) == (overdue[:1], len(overdue))
        assert progress.programme_progress(programme, Site.id == -1) == progress.ProgrammeProgress([], [], 0, [], 0)


def test_the_grid_shows_a_page_of_sites_and_counts_every_site(app, client, login_as, tracked, monkeypatch):  # noqa: F811
    _reports(app, tracked)
    monkeypatch.setitem(app.config, "PAGE_SIZE", 1)
    login_as("bureau")
    url = f"/progress/programmes/{tracked.programme}"
    pages = [client.get(url).get_data(as_text=True), client.get(url + "?page=2").get_data(as_text=True)]
    full = {}
    with app.app_context():
        programme = db.session.get(Programme, tracked.programme)
        for township, missing, count in overdue_by_township(progress.monthly_grid(programme)[1]):
            full[township] = (missing, count)
    assert len(full) == 2
    for number, page in enumerate(pages):
        grid = page.split('id="monthly-grid"', 1)[1].split("</table>", 1)[0]
        assert grid.count("<tr>") == 2  # the header and one site
        assert f"/progress/sites/{tracked.sites[number]}/reports/" in grid
        milestones = page.split('id="milestones"', 1)[1].split("</table>", 1)[0]
        assert f'href="/progress/sites/{tracked.sites[number]}"' in milestones
        assert f'href="/progress/sites/{tracked.sites[1 - number]}"' not in milestones
        overdue = page.split('id="overdue"', 1)[1].split("</table>", 1)[0]
        for township, (missing, count) in full.items():  # both townships, on every page
            assert re.search(rf"<td>{township}</td><td[^>]*>{missing}</td><td[^>]*>{count}</td>", overdue)
        assert "共 2 条" in page


def test_milestones_are_checked_in_one_query_and_added_when_missing(app, tracked, count_queries):  # noqa: F811
    with app.app_context():
        programme = db.session.get(Programme, tracked.programme)
        programme.milestones  # noqa: B018 - loaded, as the pages have them
        with count_queries() as counter:
            assert progress.ensure_site_milestones(programme) == 0
        assert counter.count == 1
        programme.milestones.append(Milestone(name="中期评估", kind=MilestoneKind.MIDTERM,
                                              due_date=date(china_today().year, 10, 1)))
        db.session.flush()
        assert progress.ensure_site_milestones(programme) == 2  # one per site
        item = db.session.scalar(sa.select(SiteMilestone).where(SiteMilestone.programme_id == programme.id,
                                                                SiteMilestone.site_id.is_(None)))
        db.session.delete(item)  # a township's own summary goes missing
        db.session.flush()
        assert progress.ensure_site_milestones(programme) == 1
        assert progress.ensure_site_milestones(programme) == 0
        db.session.rollback()


def test_the_archive_checklist_shows_a_page_and_totals_every_site(app, client, login_as, sites, monkeypatch):  # noqa: F811
    for kind in ArchiveKind:
        _add_directly(app, sites.sites[0], kind, "材料")
    _add_directly(app, sites.sites[1], ArchiveKind.MEETINGS, "纪要")
    with app.app_context():
        by_kind, complete = archive.programme_completeness(db.session.get(Programme, sites.programme))
    assert complete == 1 and by_kind[ArchiveKind.MEETINGS] == 2 and by_kind[ArchiveKind.PLAN] == 1
    monkeypatch.setitem(app.config, "PAGE_SIZE", 1)
    login_as("bureau")
    for number in (1, 2):
        page = client.get(f"/archive/programmes/{sites.programme}?page={number}").get_data(as_text=True)
        assert len(re.findall(r'<tr data-site="\d+">', page)) == 1
        assert f'<tr data-site="{sites.sites[number - 1]}">' in page
        assert "共 2 个项目点，其中 1 个八类材料齐全" in page
        footer = page.split("<tfoot>", 1)[1].split("</tfoot>", 1)[0]
        assert re.findall(r'<td class="text-center">(\d+)</td>', footer) == ["2"] + ["1"] * 7
