"""Each role's home page and the report shelf in the browser, with screenshots saved for the record."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_login_roles import log_in

pytestmark = pytest.mark.browser

HOMES = [
    ("bureau", "#timeline"),
    ("finance", "#township-chart"),
    ("qingyang", "#tasks"),
    ("expert1", "#to-score"),
    ("yangguang", "h1"),
    ("admin", "h1"),
    ("auditor", "h1"),
]


@pytest.mark.parametrize(("account", "landmark"), HOMES)
def test_each_home_page(page: Page, live_server, screenshots, account, landmark):
    log_in(page, live_server, account)
    expect(page.locator(landmark).first).to_be_visible()
    page.screenshot(path=str(screenshots / f"home-{account}.png"), full_page=True)


@pytest.mark.parametrize("account", ["bureau", "finance"])
def test_the_report_shelf(page: Page, live_server, screenshots, account):
    log_in(page, live_server, account)
    page.goto(live_server("/reports/"))
    links = page.locator("a.report-link")
    expect(links).to_have_count(9)
    page.screenshot(path=str(screenshots / f"shelf-{account}.png"), full_page=True)
    links.first.click()
    page.wait_for_load_state()
    expect(page.locator("table").first).to_be_visible()
    page.screenshot(path=str(screenshots / f"shelf-{account}-first-report.png"), full_page=True)
