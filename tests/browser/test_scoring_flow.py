"""An evaluator scores an application in the browser; the bureau proposes, publishes and finalises a list."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.accounts.models import User
from app.applications.models import Application, ApplicationStatus
from app.extensions import db
from app.funding.models import Site
from app.programmes.models import Programme, ProgrammeStatus
from app.programmes.templates import instantiate
from app.scoring import operations
from app.scoring.models import Assignment, Selection, SheetStatus
from tests.browser.test_login_roles import log_in

pytestmark = pytest.mark.browser


def test_evaluator_scores_an_application(page: Page, live_server, screenshots):
    page.on("dialog", lambda dialog: dialog.accept())
    with live_server.app.app_context():
        assignment = db.session.scalar(
            sa.select(Assignment).join(Assignment.evaluator)
            .where(User.username == "expert1", Assignment.status != SheetStatus.SUBMITTED).order_by(Assignment.id))
        assignment_id, criteria = assignment.id, [(c.id, c.max_points) for c in
                                                  assignment.application.programme.criteria]
    log_in(page, live_server, "expert1")
    page.goto(live_server("/scoring/"))
    page.click(f"a[href='/scoring/sheets/{assignment_id}']")
    for criterion_id, max_points in criteria:
        page.fill(f"#c{criterion_id}", str(max_points - 0.5 if max_points > 1 else 0))
    typed = sum(max_points - 0.5 if max_points > 1 else 0 for _id, max_points in criteria)
    expect(page.locator("#sheet-total")).to_have_text(f"{typed:.2f}")  # follows the typing, before any save
    # A refused save shows the scores as typed, and the total is theirs, not the saved sheet's.
    first_id, first_max = criteria[0]
    page.fill(f"#c{first_id}", str(first_max + 1))
    with page.expect_navigation():
        page.click("#save")
    expect(page.locator(f"#c{first_id}")).to_have_attribute("aria-invalid", "true")
    refused_total = typed - (first_max - 0.5 if first_max > 1 else 0) + first_max + 1
    expect(page.locator("#sheet-total")).to_have_text(f"{refused_total:.2f}")
    page.fill(f"#c{first_id}", str(first_max - 0.5 if first_max > 1 else 0))
    page.fill("#comment", "议事厅规范，协商记录完整。")
    page.screenshot(path=str(screenshots / "scoring-sheet.png"), full_page=True)
    with page.expect_navigation():
        page.click("#submit_sheet")
    expect(page.get_by_text("评分已提交并锁定。")).to_be_visible()
    with live_server.app.app_context():
        assignment = db.session.get(Assignment, assignment_id)
        assert assignment.status == SheetStatus.SUBMITTED
        assert sorted(s.half_points for s in assignment.scores) == sorted(
            max_points * 2 - 1 if max_points > 1 else 0 for _id, max_points in criteria)


def _small_round(app) -> int:
    """A 2-site round with three scored applications, made directly so the browser part is about selection."""
    with app.app_context():
        programme = instantiate("demonstration", 2031)
        programme.status, programme.quota = ProgrammeStatus.EVALUATING, 2
        bureau = db.session.scalar(sa.select(User).where(User.username == "bureau"))
        expert = db.session.scalar(sa.select(User).where(User.username == "expert2"))
        sources = db.session.scalars(
            sa.select(Application).where(Application.status == ApplicationStatus.ACCEPTED).limit(3)).all()
        for number, source in enumerate(sources, start=1):
            application = Application(programme=programme, township_id=source.township_id,
                                      community_id=source.community_id, sequence=1, reference=f"2031-SFD-B{number}",
                                      status=ApplicationStatus.ACCEPTED)
            db.session.add(application)
            db.session.flush()
            assignment = operations.assign(application, expert, bureau)
            operations.save_sheet(assignment, {c.id: c.max_points * 2 - number * 2 for c in programme.criteria
                                               if c.kind.value == "base"}, [], "")
            operations.submit_sheet(assignment)
        db.session.commit()
        return programme.id


def test_bureau_finalises_a_selection(page: Page, live_server, screenshots):
    page.on("dialog", lambda dialog: dialog.accept())
    programme_id = _small_round(live_server.app)
    log_in(page, live_server, "bureau")
    page.goto(live_server(f"/scoring/programmes/{programme_id}/ranking"))
    expect(page.locator("#ranking tbody tr").first).to_contain_text("2031-SFD-B1")
    page.goto(live_server(f"/scoring/programmes/{programme_id}/selection"))
    with page.expect_navigation():
        page.click("#propose")
    expect(page.locator("#selection tbody tr")).to_have_count(2)
    first_tier = page.locator("#selection tbody tr").first.locator("select[name=tier_id]")
    first_tier.select_option(index=0)  # the prefecture-level tier for the best site
    with page.expect_navigation():
        page.locator("#selection tbody tr").first.get_by_role("button", name="保存").click()
    with page.expect_navigation():
        page.click("#publish")
    expect(page.locator("#selection-status")).to_have_text("公示中")
    with live_server.app.app_context():
        # The notice runs its working days; the test moves its end into the past instead of waiting.
        selection = db.session.scalar(sa.select(Selection).where(Selection.programme_id == programme_id))
        selection.publicity_start -= timedelta(days=10)
        selection.publicity_end -= timedelta(days=10)
        db.session.commit()
    page.reload()
    with page.expect_navigation():
        page.click("#finalise")
    expect(page.locator("#selection-status")).to_have_text("已确定")
    page.screenshot(path=str(screenshots / "selection-final.png"), full_page=True)
    with live_server.app.app_context():
        sites = db.session.scalars(sa.select(Site).where(Site.programme_id == programme_id)).all()
        assert len(sites) == 2
        totals = sorted(sum(a.amount_fen for a in site.allocations) for site in sites)
        assert totals == [3_000_000, 8_000_000]
        assert db.session.get(Programme, programme_id).status == ProgrammeStatus.SELECTED
