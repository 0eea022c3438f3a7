"""A township submits an overdue monthly report in the browser; the bureau sees it on the grid."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.extensions import db
from app.funding.models import Site
from app.programmes.models import Programme
from app.tracking import progress
from app.tracking.models import MonthlyReport, ReportStatus
from tests.browser.test_login_roles import log_in

pytestmark = pytest.mark.browser


def _missing_month(app):
    """A site of the demo's 2023 round and a month it has not reported on."""
    with app.app_context():
        programme = db.session.scalar(sa.select(Programme).where(Programme.year == 2023, Programme.code == "GJGX"))
        reported = set(db.session.execute(sa.select(MonthlyReport.site_id, MonthlyReport.month)).tuples())
        for site in db.session.scalars(sa.select(Site).where(Site.programme_id == programme.id).order_by(Site.rank)):
            for month in progress.report_months(site):
                if (site.id, month) not in reported:
                    return programme.id, site.id, month, site.township.code, site.community.name
    raise AssertionError("the demo has no missing monthly report")


def test_township_submits_a_report_and_the_bureau_sees_it(page: Page, context, live_server, screenshots):
    programme_id, site_id, month, township_account, community = _missing_month(live_server.app)
    log_in(page, live_server, township_account)
    page.goto(live_server(f"/progress/sites/{site_id}"))
    page.click(f"a[href='/progress/sites/{site_id}/reports/{month:%Y-%m}']")
    expect(page.locator("#report-state")).to_have_text("缺报")
    page.fill("#work_done", "补报：召开楼栋协商会 1 次，完成议事厅标识更新。")
    page.fill("#consultations_held", "1")
    page.fill("#spent_this_month", "2,300")
    page.fill("#problems", "前期人员调整，报送滞后。")
    page.fill("#next_plan", "按月按时报送。")
    with page.expect_navigation():
        page.click("#submit_report")
    expect(page.locator("#report-state")).to_have_text("逾期报送")
    with live_server.app.app_context():
        report = db.session.scalar(sa.select(MonthlyReport).where(MonthlyReport.site_id == site_id,
                                                                  MonthlyReport.month == month))
        assert report.status == ReportStatus.SUBMITTED and report.spent_this_month_fen == 230_000

    bureau = context.browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900}).new_page()
    log_in(bureau, live_server, "bureau")
    bureau.goto(live_server(f"/progress/programmes/{programme_id}"))
    row = bureau.locator("#monthly-grid tbody tr", has_text=community)
    cell = row.locator(f"a[href='/progress/sites/{site_id}/reports/{month:%Y-%m}']")
    expect(cell).to_have_text("逾期")
    bureau.screenshot(path=str(screenshots / "monthly-grid.png"), full_page=True)
