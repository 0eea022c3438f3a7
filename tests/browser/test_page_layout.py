"""Layout in a real browser: the navigation bar fits a desktop window in both languages; the scoring sheet and
the English forms on paper."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.accounts.models import User
from app.applications.models import Application
from app.extensions import db
from app.formatting import points
from app.scoring.models import Assignment, SheetStatus
from app.tracking.models import ConsultationRecord
from tests.browser.test_login_roles import log_in

pytestmark = pytest.mark.browser


def choose_language(page: Page, live_server, code: str) -> None:
    """The logged-in user's language, as set on the preferences page (it is kept with the account)."""
    page.goto(live_server("/account/preferences"))
    page.select_option("#locale", code)
    with page.expect_navigation():
        page.locator("main form [type=submit]").click()


def horizontal_fit(page: Page) -> dict:
    return page.evaluate(
        """() => {
          const menu = document.getElementById('userMenu').getBoundingClientRect();
          const bar = document.querySelector('nav.navbar').getBoundingClientRect();
          const badge = document.getElementById('unread-count');
          const b = badge ? badge.getBoundingClientRect() : null;
          return {page: document.documentElement.scrollWidth, window: window.innerWidth,
                  menuLeft: menu.left, menuRight: menu.right,
                  badgeInBar: !b || (b.top >= bar.top && b.bottom <= bar.bottom && b.right <= bar.right)};
        }"""
    )


# The bureau has the most links; a township user has the unread badge that used to float outside the bar.
@pytest.mark.parametrize(("account", "width"), [("bureau", 1280), ("bureau", 1440), ("anhai", 1280)])
@pytest.mark.parametrize("language", ["en", "zh_Hans_CN"])
def test_the_navigation_bar_fits_a_desktop_window(browser, live_server, screenshots, account, width, language):
    context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 800})
    page = context.new_page()
    try:
        log_in(page, live_server, account)
        choose_language(page, live_server, language)
        for path in ("/", "/calendar/"):
            page.goto(live_server(path))
            expect(page.locator("#userMenu")).to_be_visible()
            fit = horizontal_fit(page)
            assert fit["page"] <= fit["window"], (path, fit)
            assert 0 <= fit["menuLeft"] and fit["menuRight"] <= fit["window"], (path, fit)
            assert fit["badgeInBar"], (path, fit)
        page.screenshot(path=str(screenshots / f"navbar-{account}-{width}-{language}.png"))
    finally:
        choose_language(page, live_server, "zh_Hans_CN")  # the server's accounts are shared by the other tests
        context.close()


def test_the_scoring_sheet_prints_without_its_controls(browser, live_server, screenshots):
    with live_server.app.app_context():
        assignment = db.session.scalar(
            sa.select(Assignment).join(Assignment.evaluator)
            .where(User.username == "expert1", Assignment.status != SheetStatus.SUBMITTED).order_by(Assignment.id))
        assignment_id, total = assignment.id, points(assignment.points)
    # A4 less Chrome's default margins is about 190 mm, 718 CSS pixels.
    context = browser.new_context(locale="zh-CN", viewport={"width": 718, "height": 1000})
    page = context.new_page()
    try:
        log_in(page, live_server, "expert1")
        page.goto(live_server(f"/scoring/sheets/{assignment_id}"))
        expect(page.locator("#sheet-total")).to_have_text(total)
        expect(page.locator("#save")).to_be_visible()
        expect(page.locator(".signature")).to_be_hidden()

        page.emulate_media(media="print")
        for control in ("#save", "#submit_sheet", "nav.navbar", "#comment"):
            expect(page.locator(control)).to_be_hidden()
        expect(page.get_by_text("申报材料", exact=True)).to_be_hidden()
        expect(page.locator("#sheet-total")).to_have_text(total)
        expect(page.locator(".signature")).to_contain_text("评审人签字：")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(screenshots / "scoring-sheet-print.png"), full_page=True)
        page.pdf(path=str(screenshots / "scoring-sheet.pdf"), format="A4")
    finally:
        context.close()


def test_english_print_forms_break_labels_between_words_only(page: Page, live_server, screenshots):
    with live_server.app.app_context():
        applications = db.session.scalars(sa.select(Application.id).order_by(Application.id)).all()
        record = db.session.scalar(sa.select(ConsultationRecord.id).order_by(ConsultationRecord.id))
    # The demo's first application is a nomination, its last a project: the two kinds of form.
    forms = [f"/applications/{applications[0]}/print", f"/applications/{applications[-1]}/print",
             f"/ledger/records/{record}/print"]
    log_in(page, live_server, "bureau")
    choose_language(page, live_server, "en")
    try:
        for number, path in enumerate(forms):
            page.goto(live_server(path))
            expect(page.locator("html")).to_have_attribute("lang", "en")
            # With a word's own breaks forbidden, every label still fits its cell: none needed a break inside.
            crowded = page.evaluate(
                """() => [...document.querySelectorAll('.form-table th, .form-table td.level')]
                    .filter(cell => { cell.style.overflowWrap = 'normal'; return cell.scrollWidth > cell.clientWidth; })
                    .map(cell => cell.textContent.trim())"""
            )
            assert crowded == [], (path, crowded)
            page.screenshot(path=str(screenshots / f"print-form-en-{number}.png"), full_page=True)
    finally:
        choose_language(page, live_server, "zh_Hans_CN")


def test_the_bureau_timeline_keeps_every_label_inside_its_drawing(page: Page, live_server, screenshots):
    """The demo's rounds have milestones in late December: their labels used to run past the right edge."""
    log_in(page, live_server, "bureau")
    expect(page.locator("#timeline svg.timeline").first).to_be_visible()
    outside = page.evaluate(
        """() => [...document.querySelectorAll('#timeline svg.timeline')].flatMap(svg => {
              const box = svg.getBoundingClientRect();
              return [...svg.querySelectorAll('text')].map(text => [text, text.getBoundingClientRect()])
                .filter(([, r]) => r.left < box.left - 0.5 || r.right > box.right + 0.5
                                   || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
                .map(([text, r]) => [text.textContent, r.left - box.left, box.right - r.right, box.bottom - r.bottom]);
           })"""
    )
    assert outside == []
    overlapping = page.evaluate(
        """() => [...document.querySelectorAll('#timeline svg.timeline')].flatMap(svg => {
              const boxes = [...svg.querySelectorAll('text')].map(text => [text.textContent,
                                                                            text.getBoundingClientRect()]);
              return boxes.flatMap(([a, r], i) => boxes.slice(i + 1)
                .filter(([, s]) => r.left < s.right && s.left < r.right && r.top < s.bottom && s.top < r.bottom)
                .map(([b]) => [a, b]));
           })"""
    )
    assert overlapping == []
    # The check means something only if some label sits at the right edge (anchored at its end).
    assert page.locator("#timeline svg.timeline text[text-anchor=end]").count() > 0
    page.locator("#timeline").screenshot(path=str(screenshots / "bureau-timeline.png"))
