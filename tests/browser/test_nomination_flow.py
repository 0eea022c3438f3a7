"""A township nominates a community and submits the recommendation form; the bureau sees it in the overview."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.applications.models import Application, ApplicationStatus
from app.extensions import db
from app.programmes.models import Programme
from tests.browser.test_login_roles import log_in

pytestmark = pytest.mark.browser


def _programme_id(live_server) -> int:
    with live_server.app.app_context():
        return db.session.scalar(sa.select(Programme.id).where(Programme.year == 2024, Programme.code == "SFD"))


def fill_recommendation_form(page: Page) -> None:
    """The 推荐表 (recommendation form), filled as a township would; test_whole_year.py fills it the same way."""
    page.fill("#contact_name", "林晓燕")
    page.fill("#contact_phone", "0595-85612345")
    convenors = [("grid", "第一网格", "陈志强", "网格长"), ("estate", "新华街", "吴建国", "街巷长"),
                 ("building", "3号楼", "蔡秀英", "楼长")]
    for row, (level, unit, name, role) in enumerate(convenors):
        page.select_option(f"#convenors-{row}-level", level)
        page.fill(f"#convenors-{row}-unit_name", unit)
        page.fill(f"#convenors-{row}-name", name)
        page.fill(f"#convenors-{row}-role", role)
    page.fill("#participants", "住户代表、业主委员会、物业服务企业")
    page.fill("#think_tank-0-name", "许文华")
    page.fill("#think_tank-0-identity", "老党员")
    page.select_option("#venue_kind", "议事厅(室)")
    page.fill("#venue_name", "民主议事厅")
    page.fill("#venue_area_m2", "48")
    page.check("#opinion_box")
    page.fill("#wechat_column", "微议事专栏")
    page.check("input[name=consultation_forms][value=小区协商会]")
    page.check("input[name=consultation_forms][value=楼栋协商会]")
    page.fill("#procedure_topic", "召集人收集诉求，确定议题并公告")
    page.fill("#procedure_consult", "召开协商议事会，签字确认")
    page.fill("#procedure_follow_up", "跟进落实，反馈并备案")
    page.fill("#self_governance", "近一年协商议事 10 次")
    page.fill("#township_opinion", "情况属实，同意推荐。")


def test_township_nominates_and_submits_and_the_bureau_sees_it(page: Page, context, live_server, screenshots):
    programme_id = _programme_id(live_server)
    log_in(page, live_server, "anhai")
    page.goto(live_server(f"/programmes/{programme_id}"))
    expect(page.get_by_text("本镇(街道)的推荐")).to_be_visible()
    page.click("#nominate")
    page.select_option("#community_id", index=1)
    community = page.locator("#community_id option:checked").inner_text()
    with page.expect_navigation():
        page.click("main button[type=submit]")
    expect(page.locator("h1")).to_contain_text(community)

    fill_recommendation_form(page)
    page.screenshot(path=str(screenshots / "nomination-form.png"), full_page=True)
    with page.expect_navigation():
        page.click("#submit_for_review")
    expect(page.locator("#status")).to_have_text("已提交")
    reference = page.locator("h1 small").inner_text()

    with live_server.app.app_context():
        application = db.session.scalar(sa.select(Application).where(Application.reference == reference))
        assert application.status == ApplicationStatus.SUBMITTED and application.venue_area_m2 == 48
        assert [c.name for c in application.convenors] == ["陈志强", "吴建国", "蔡秀英"]
        assert application.submitted_late  # after 31 May 2024, under the demo extension

    # The printed form, as the township will print it (two copies): an A4 PDF.
    page.goto(live_server(f"/applications/{application.id}/print"))
    pdf = page.pdf(format="A4", print_background=False)
    assert pdf.startswith(b"%PDF")
    (screenshots / "recommendation-form.pdf").write_bytes(pdf)

    bureau = context.browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    log_in(bureau, live_server, "bureau")
    bureau.goto(live_server(f"/programmes/{programme_id}/overview"))
    row = bureau.locator("#overview tbody tr", has_text="安海镇")
    # columns: township, allowance, nominated, drafts, submitted, …
    expect(row.locator("td").nth(4)).to_have_text("1")
    bureau.screenshot(path=str(screenshots / "overview.png"), full_page=True)
    bureau.goto(live_server(f"/applications/?programme={programme_id}&q={reference}"))
    expect(bureau.get_by_text(reference)).to_be_visible()
