"""Finance records a batch disbursement in the browser and downloads the reconciliation workbook."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.applications.models import Application, ApplicationStatus
from app.extensions import db
from app.funding.models import Allocation, Disbursement, Site
from app.programmes.models import ProgrammeStatus
from app.programmes.templates import funding_source, instantiate
from tests.browser.test_login_roles import log_in

pytestmark = pytest.mark.browser


def _funded_round(app) -> tuple[int, int]:
    with app.app_context():
        programme = instantiate("demonstration", 2032)
        programme.status = ProgrammeStatus.SELECTED
        city = funding_source("晋江市级财政")
        sources = db.session.scalars(
            sa.select(Application).where(Application.status == ApplicationStatus.ACCEPTED).limit(3)).all()
        for rank, source in enumerate(sources, start=1):
            application = Application(programme=programme, township_id=source.township_id,
                                      community_id=source.community_id, sequence=1, reference=f"2032-SFD-F{rank}",
                                      status=ApplicationStatus.ACCEPTED)
            db.session.add(application)
            db.session.flush()
            site = Site(programme_id=programme.id, application_id=application.id, township_id=source.township_id,
                        community_id=source.community_id, rank=rank)
            db.session.add(site)
            db.session.flush()
            db.session.add(Allocation(site_id=site.id, source_id=city.id, amount_fen=3_000_000 + rank * 1,
                                      reason="按补助档次下达"))
        db.session.commit()
        return programme.id, city.id


def test_finance_batch_disbursement_and_reconciliation_workbook(page: Page, live_server, screenshots):
    programme_id, city_id = _funded_round(live_server.app)
    log_in(page, live_server, "finance")
    page.goto(live_server(f"/funding/programmes/{programme_id}"))
    page.click("text=批量拨付")
    page.select_option("#source_id", str(city_id))
    page.fill("#voucher_prefix", "JJCZ2032")
    page.fill("#note", "补助资金")
    with page.expect_navigation():
        page.click("#preview")
    expect(page.locator("#batch-plan tbody tr")).to_have_count(3)
    with page.expect_navigation():
        page.click("#confirm-batch")
    expect(page.get_by_text("已批量拨付 3 笔")).to_be_visible()
    page.screenshot(path=str(screenshots / "reconciliation.png"), full_page=True)
    with page.expect_download() as download_info:
        page.click("#reconciliation-export")
    path = download_info.value.path()
    summary = pd.read_excel(path, sheet_name=0, header=None)
    with live_server.app.app_context():
        paid = db.session.scalar(sa.select(sa.func.sum(Disbursement.amount_fen)).join(Disbursement.site)
                                 .where(Site.programme_id == programme_id))
        vouchers = sorted(db.session.scalars(sa.select(Disbursement.voucher_no).join(Disbursement.site)
                                             .where(Site.programme_id == programme_id)))
    assert paid == 3 * 3_000_000 + 6 and vouchers == ["JJCZ2032-001", "JJCZ2032-002", "JJCZ2032-003"]
    # The workbook's figures are the database's to the fen: the paid total appears in yuan on the summary sheet.
    numbers = pd.to_numeric(summary.stack(), errors="coerce").dropna()
    assert any(abs(value * 100 - paid) < 0.5 for value in numbers)
