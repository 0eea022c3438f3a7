"""Issue 9: the bureau's home page counts in SQL and shows at most HOME_ROWS townships and findings per list, saying
how many more there are."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import sqlalchemy as sa

from app.database import china_today
from app.extensions import db
from app.funding.models import Site
from app.main import dashboards
from app.places.models import Township
from app.programmes.models import Programme
from app.tracking import progress
from app.tracking.models import MonthlyReport, ReportStatus, SpotCheck
from tests.funding.conftest import funded  # noqa: F401
from tests.tracking.test_paging import _reports
from tests.tracking.test_progress import tracked  # noqa: F401


def _by_hand(programme: Programme, today: date) -> dict[str, int]:
    """The missing reports per township as the home page always counted them: site by site, month by month."""
    last = max(m.due_date for m in programme.milestones)
    end = progress.first_of(last)
    submitted = set(db.session.execute(sa.select(MonthlyReport.site_id, MonthlyReport.month).where(
        MonthlyReport.status == ReportStatus.SUBMITTED)).tuples())
    counts: dict[str, int] = defaultdict(int)
    for site in db.session.scalars(sa.select(Site).where(Site.programme_id == programme.id)):
        month = progress.first_report_month(site.selected_at)
        while month <= end and progress.due_date(month) < today:
            if (site.id, month) not in submitted:
                counts[db.session.get(Township, site.township_id).name] += 1
            month = progress.next_month(month)
    return {name: n for name, n in counts.items() if n}


def test_overdue_reports_by_township_as_counted_site_by_site(app, tracked):  # noqa: F811
    year = _reports(app, tracked)
    with app.app_context():
        programme = db.session.get(Programme, tracked.programme)
        for today in [date(year, 5, 20), date(year, 5, 21), date(year, 6, 21), date(year, 9, 1), date(year + 1, 2, 1)]:
            counted, townships = dashboards._overdue_reports([programme], today, 20)
            assert dict(counted) == _by_hand(programme, today) and townships == len(counted), today
            assert [n for _name, n in counted] == sorted((n for _name, n in counted), reverse=True)


def test_the_bureau_home_shows_the_first_rows_and_how_many_more(app, client, login_as, tracked, monkeypatch):  # noqa: F811
    with app.app_context():
        for site_id in tracked.sites:
            for number in range(2):
                db.session.add(SpotCheck(site_id=site_id, checked_on=china_today(), inspectors="x",
                                         findings=f"问题{site_id}-{number}", follow_up_required=True))
        db.session.commit()
        programme = db.session.get(Programme, tracked.programme)
        overdue, _townships = dashboards._overdue_reports([programme], china_today(), 20)
    login_as("bureau")
    full = client.get("/").get_data(as_text=True)
    monkeypatch.setattr(dashboards, "HOME_ROWS", 1)
    short = client.get("/").get_data(as_text=True)
    submissions = short.split('id="submissions"', 1)[1].split("</table>", 1)[0]
    assert submissions.count("<tr><td>") == 1 and "另有 1 个镇(街道)有申报，见本项目的申报情况总览。" in submissions
    findings = short.split('id="open-findings"', 1)[1].split("</ul>", 1)[0]
    assert findings.count("#spot-checks") == 1 and "另有 3 项待整改" in findings
    assert "另有" not in full.split('id="submissions"', 1)[1].split("</table>", 1)[0]
    if len(overdue) > 1:  # months already overdue this year (not in the first weeks after selection)
        assert "有缺报，见各项目的实施进度" in short.split('id="overdue-reports"', 1)[1].split("</ul>", 1)[0]
