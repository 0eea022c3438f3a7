"""Logging in and out as each role in a real browser, the login error, and a township's view of places."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.extensions import db
from app.fixtures import DEMO_PASSWORD
from app.places.models import Community, Township

pytestmark = pytest.mark.browser

# One demo account per role, and the heading its home page shows.
ACCOUNTS = [
    ("bureau", "bureau", "民政局工作台"),
    ("finance", "finance", "财政工作台"),
    ("anhai", "township", "安海镇 工作台"),
    ("yangguang", "community", "阳光社区 工作台"),
    ("expert1", "evaluator", "评审工作台"),
    ("admin", "admin", "系统管理"),
    ("auditor", "auditor", "安全审计"),
]


def open_login(page: Page, live_server) -> None:
    page.goto(live_server("/login"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", name="示范点项目管理")).to_be_visible()
    expect(page.locator("label[for=username]")).to_have_text("用户名")


def log_in(page: Page, live_server, username: str, password: str = DEMO_PASSWORD) -> None:
    open_login(page, live_server)
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.locator("form button[type=submit]", has_text="登录").click()


def log_out(page: Page) -> None:
    page.click("#userMenu")
    logout = page.locator("#logout")
    expect(logout).to_be_visible()
    with page.expect_navigation():
        logout.click()


@pytest.mark.parametrize(("username", "role", "heading"), ACCOUNTS, ids=[a[1] for a in ACCOUNTS])
def test_each_role_logs_in_and_out(page: Page, live_server, screenshots, username, role, heading):
    log_in(page, live_server, username)

    assert page.url == live_server("/")
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.locator("#userMenu")).to_be_visible()
    page.screenshot(path=str(screenshots / f"{role}.png"), full_page=True)

    log_out(page)
    assert page.url == live_server("/login")
    expect(page.get_by_role("alert")).to_contain_text("您已安全退出。")
    expect(page.locator("#username")).to_be_visible()


def test_wrong_password_is_reported_at_the_password_field(page: Page, live_server, screenshots):
    log_in(page, live_server, "expert2", "not-the-password")

    assert page.url == live_server("/login")
    expect(page.locator("#password")).to_have_class(re.compile(r"\bis-invalid\b"))
    feedback = page.locator(".invalid-feedback[data-field=password]")
    expect(feedback).to_have_text("用户名或密码错误。")
    expect(page.locator("#userMenu")).to_have_count(0)
    page.screenshot(path=str(screenshots / "login-wrong-password.png"), full_page=True)


def test_township_sees_only_its_own_places(page: Page, live_server, screenshots):
    with live_server.app.app_context():
        cizao = db.session.scalar(sa.select(Township.id).where(Township.name == "磁灶镇"))
        anhai_total = db.session.scalar(
            sa.select(sa.func.count(Community.id)).join(Community.township).where(Township.name == "安海镇")
        )
    assert cizao is not None and anhai_total

    log_in(page, live_server, "anhai")
    assert page.url == live_server("/")

    page.goto(live_server("/places/communities"))
    expect(page.get_by_role("heading", level=1)).to_have_text("村(社区)")
    first_cells = page.locator("table tbody tr td:first-child").all_inner_texts()
    assert first_cells, "the township's communities are listed"
    assert set(first_cells) == {"安海镇"}
    assert len(first_cells) == min(anhai_total, live_server.app.config["PAGE_SIZE"])
    page.screenshot(path=str(screenshots / "township-communities.png"), full_page=True)

    response = page.goto(live_server(f"/places/townships/{cizao}"))
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("无权访问")
    expect(page.get_by_text("您没有访问该页面或数据的权限。")).to_be_visible()
    page.screenshot(path=str(screenshots / "township-forbidden.png"), full_page=True)
