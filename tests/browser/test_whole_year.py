"""A programme year run in the browser as the people would (issue 8 §7).

The bureau opens a round from the demonstration template, three townships nominate and submit, the evaluators
score, the bureau proposes, publishes and finalises the list, finance pays, one township files its charter,
two monthly reports, a spending line and two archive files, and finance's reconciliation workbook agrees with
the database to the fen. The database is touched only to look ids up, to move dates the calendar would take
weeks to reach, and to check the results.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.accounts.models import User
from app.applications.models import Application, ApplicationStatus
from app.database import china_today
from app.extensions import db
from app.funding.models import Allocation, Disbursement, Site, SpendingLine
from app.programmes.models import FundingSource, Milestone, MilestoneKind, Programme, ProgrammeStatus
from app.scoring.models import Assignment, Selection, SheetStatus
from app.tracking.models import ArchiveItem, MilestoneStatus, MonthlyReport, ReportStatus, SiteMilestone
from tests.browser.test_login_roles import log_in
from tests.browser.test_nomination_flow import fill_recommendation_form
from tests.files.test_storage import make_pdf

pytestmark = pytest.mark.browser

TOWNSHIPS = ("anhai", "cizao", "qingyang")
EVALUATORS = ("expert1", "expert2", "expert3")  # expert3 is tied to 安海镇
QUANZHOU, JINJIANG = "泉州市级财政", "晋江市级财政"
HIGHER_TIER = "泉州市级“刺桐厝边”试点"
SPENT_FEN = 1_234_567  # what 安海镇 records as spent from the city's money: ¥12,345.67


def _summary_figures(workbook_path) -> dict[str, tuple[int, int, int]]:
    """{community or 合计: (allocated, disbursed, spent) in fen} from the summary sheet of the workbook."""
    # The download has no file extension, which openpyxl insists on when given a path.
    sheet = openpyxl.load_workbook(io.BytesIO(Path(workbook_path).read_bytes()), data_only=True).worksheets[0]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    header_at = next(i for i, row in enumerate(rows) if "下达" in row and "拨付" in row and "支出" in row)
    header = rows[header_at]
    township, community = header.index("镇(街道)"), header.index("村(社区)")
    columns = [header.index(name) for name in ("下达", "拨付", "支出")]
    found = {}
    for row in rows[header_at + 1:]:
        key = row[community] or row[township]
        if not key or row[columns[0]] is None:
            continue
        # Money is written in yuan with two decimals; round to whole fen.
        found[key] = tuple(round(float(row[column]) * 100) for column in columns)
    return found


def test_a_programme_year_in_the_browser(page: Page, context, live_server, screenshots):
    app = live_server.app
    with app.app_context():
        today = china_today()
    # This year's round (the demo's rounds are 2023 and 2024): archive files must be dated within the programme's
    # year and not after today, so a round of a future year could not take any.
    year = today.year
    opened = []

    def person(username: str) -> Page:
        """A fresh browser window logged in as ``username``, accepting ``data-confirm`` dialogs."""
        window = context.browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        window.set_default_timeout(15_000)
        opened.append(window)
        their_page = window.new_page()
        their_page.on("dialog", lambda dialog: dialog.accept())
        log_in(their_page, live_server, username)
        return their_page

    def shot(who: Page, number: int, name: str) -> None:
        who.screenshot(path=str(screenshots / f"whole_year-{number:02d}-{name}.png"), full_page=True)

    def click_and_wait(who: Page, selector) -> None:
        with who.expect_navigation():
            (who.locator(selector) if isinstance(selector, str) else selector).click()

    try:
        # --- 1. The bureau opens the round from the template, sets the deadline and quota, and opens it. ---
        bureau = page
        bureau.on("dialog", lambda dialog: dialog.accept())
        log_in(bureau, live_server, "bureau")
        bureau.goto(live_server("/programmes/new/from-template"))
        bureau.select_option("#template", "demonstration")
        bureau.fill("#year", str(year))
        click_and_wait(bureau, "main form button[type=submit]")
        expect(bureau.locator("h1")).to_contain_text(f"{year}年晋江市")
        programme_id = int(re.search(r"/programmes/(\d+)$", bureau.url).group(1))

        # The template's dates of this year may have passed: the bureau sets the year's calendar from today.
        due = today + timedelta(days=10)
        calendar = {"nomination": due, "charter": today + timedelta(days=40), "summary": today + timedelta(days=100)}
        click_and_wait(bureau, f"a[href='/programmes/{programme_id}/milestones']")
        kinds = [bureau.input_value(f"#items-{row}-kind") for row in range(bureau.locator("select[id$=-kind]").count())]
        for kind, day in calendar.items():
            bureau.fill(f"#items-{kinds.index(kind)}-due_date", day.isoformat())
        click_and_wait(bureau, "main form button.btn-primary")
        click_and_wait(bureau, f"a[href='/programmes/{programme_id}/edit']")
        bureau.fill("#quota", "3")
        click_and_wait(bureau, "main form button.btn-primary")
        expect(bureau.get_by_text("拟确定：3 个")).to_be_visible()
        bureau.select_option("#status", ProgrammeStatus.OPEN.value)
        click_and_wait(bureau, bureau.get_by_role("button", name="更改状态"))
        expect(bureau.get_by_text("项目状态已改为“申报中”。")).to_be_visible()
        shot(bureau, 1, "programme-open")
        with app.app_context():
            programme = db.session.get(Programme, programme_id)
            assert (programme.status, programme.quota, programme.nomination_due) == (ProgrammeStatus.OPEN, 3, due)

        # --- 2. Three townships each nominate a community and submit the 推荐表. ---
        references = {}
        for number, username in enumerate(TOWNSHIPS):
            township = person(username)
            township.goto(live_server(f"/programmes/{programme_id}"))
            click_and_wait(township, "#nominate")
            township.select_option("#community_id", index=1)
            community = township.locator("#community_id option:checked").inner_text()
            click_and_wait(township, "main button[type=submit]")
            expect(township.locator("h1")).to_contain_text(community)
            fill_recommendation_form(township)
            if number == 0:
                shot(township, 2, "recommendation-form")
            click_and_wait(township, "#submit_for_review")
            expect(township.locator("#status")).to_have_text("已提交")
            references[username] = township.locator("h1 small").inner_text()
        with app.app_context():
            applications = {username: db.session.scalar(sa.select(Application).where(
                Application.reference == reference)) for username, reference in references.items()}
            assert all(a.status == ApplicationStatus.SUBMITTED and not a.submitted_late for a in applications.values())
            application_ids = {username: a.id for username, a in applications.items()}
            communities = {username: a.community.name for username, a in applications.items()}
            evaluator_ids = db.session.scalars(sa.select(User.id).where(User.username.in_(EVALUATORS))).all()

        # --- 3. The bureau closes nominations, accepts the three and assigns the evaluators; they score. ---
        bureau.goto(live_server(f"/programmes/{programme_id}"))
        bureau.select_option("#status", ProgrammeStatus.EVALUATING.value)
        click_and_wait(bureau, bureau.get_by_role("button", name="更改状态"))
        expect(bureau.get_by_text("项目状态已改为“评审中”。")).to_be_visible()
        for reference in references.values():
            bureau.goto(live_server(f"/applications/?programme={programme_id}&q={reference}"))
            click_and_wait(bureau, bureau.get_by_role("link", name=reference))
            click_and_wait(bureau, "#accept")
            expect(bureau.locator("#status")).to_have_text("已受理，进入评审")
        bureau.goto(live_server(f"/scoring/programmes/{programme_id}"))
        for application_id in application_ids.values():
            bureau.check(f"#matrix input[name=applications][value='{application_id}']")
        for evaluator_id in evaluator_ids:
            bureau.check(f"#matrix thead input[name=evaluators][value='{evaluator_id}']")
        click_and_wait(bureau, "#assign-form button.btn-primary")
        expect(bureau.get_by_text("已分配 8 份评分表。")).to_be_visible()
        expect(bureau.locator(".alert-warning")).to_contain_text("回避：评审专家三 与 安海镇 有关联。")
        shot(bureau, 3, "assignments")

        with app.app_context():
            sheets = {}
            for username in EVALUATORS:
                rows = db.session.execute(
                    sa.select(Assignment.id, Assignment.application_id).join(Assignment.evaluator)
                    .where(User.username == username, Assignment.application_id.in_(application_ids.values()))
                    .order_by(Assignment.id)).all()
                sheets[username] = [(row.id, row.application_id) for row in rows]
            criteria = [(c.id, c.max_points) for c in db.session.get(Programme, programme_id).criteria]
        assert [len(sheets[username]) for username in EVALUATORS] == [3, 3, 2]
        # Each evaluator marks the three down by half a point per criterion in the same order, so the ranking is
        # anhai, cizao, qingyang.
        strength = {application_ids[username]: number for number, username in enumerate(TOWNSHIPS)}
        for username in EVALUATORS:
            evaluator = person(username)
            for assignment_id, application_id in sheets[username]:
                evaluator.goto(live_server("/scoring/"))
                click_and_wait(evaluator, f"a[href='/scoring/sheets/{assignment_id}']")
                for criterion_id, max_points in criteria:
                    evaluator.fill(f"#c{criterion_id}", str(max(max_points - 0.5 * strength[application_id], 0)))
                evaluator.fill("#comment", "协商议事规范，记录完整。")
                if username == "expert1" and strength[application_id] == 0:
                    shot(evaluator, 4, "scoring-sheet")
                click_and_wait(evaluator, "#submit_sheet")
                expect(evaluator.get_by_text("评分已提交并锁定。")).to_be_visible()
        with app.app_context():
            submitted = db.session.scalar(sa.select(sa.func.count(Assignment.id)).where(
                Assignment.application_id.in_(application_ids.values()), Assignment.status == SheetStatus.SUBMITTED))
        assert submitted == 8

        # --- 4. The bureau proposes the list, raises one site's tier, publishes the notice and finalises. ---
        bureau.goto(live_server(f"/scoring/programmes/{programme_id}/selection"))
        click_and_wait(bureau, "#propose")
        rows = bureau.locator("#selection tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.first).to_contain_text(references["anhai"])
        top_tier = rows.first.locator("select[name=tier_id]")
        top_tier.select_option(label=next(label for label in top_tier.locator("option").all_inner_texts()
                                          if label.startswith(HIGHER_TIER)))
        click_and_wait(bureau, rows.first.get_by_role("button", name="保存"))
        expect(bureau.get_by_text("补助档次已保存。")).to_be_visible()
        click_and_wait(bureau, "#publish")
        expect(bureau.locator("#selection-status")).to_have_text("公示中")
        shot(bureau, 5, "notice")
        with app.app_context():
            # The notice runs its working days; the test moves it into the past instead of waiting.
            selection = db.session.scalar(sa.select(Selection).where(Selection.programme_id == programme_id))
            selection.publicity_start -= timedelta(days=30)
            selection.publicity_end -= timedelta(days=30)
            db.session.commit()
        bureau.reload()
        click_and_wait(bureau, "#finalise")
        expect(bureau.locator("#selection-status")).to_have_text("已确定")
        shot(bureau, 6, "selection-final")
        with app.app_context():
            sites = {site.application_id: site for site in db.session.scalars(
                sa.select(Site).where(Site.programme_id == programme_id))}
            assert db.session.get(Programme, programme_id).status == ProgrammeStatus.SELECTED
            site_ids = {username: sites[application_ids[username]].id for username in TOWNSHIPS}
            allocated = {username: sum(a.amount_fen for a in sites[application_ids[username]].allocations)
                         for username in TOWNSHIPS}
            source_ids = {name: db.session.scalar(sa.select(FundingSource.id).where(FundingSource.name == name))
                          for name in (QUANZHOU, JINJIANG)}
        assert allocated == {"anhai": 8_000_000, "cizao": 3_000_000, "qingyang": 3_000_000}

        # --- 5. Finance pays what each source owes, in one batch per source. ---
        finance = person("finance")
        for name, prefix, count in ((JINJIANG, f"JJCZ{year}", 3), (QUANZHOU, f"QZCZ{year}", 1)):
            finance.goto(live_server(f"/funding/programmes/{programme_id}"))
            click_and_wait(finance, "text=批量拨付")
            finance.select_option("#source_id", str(source_ids[name]))
            finance.fill("#voucher_prefix", prefix)
            finance.fill("#note", f"{year}年示范点补助资金")
            click_and_wait(finance, "#preview")
            expect(finance.locator("#batch-plan tbody tr")).to_have_count(count)
            if name == JINJIANG:
                shot(finance, 7, "batch-preview")
            click_and_wait(finance, "#confirm-batch")
            expect(finance.get_by_text(f"已批量拨付 {count} 笔")).to_be_visible()
        shot(finance, 8, "funding-paid")

        # --- 6. 安海镇 files the charter, two monthly reports, a spending line and two archive files. ---
        anhai_site = site_ids["anhai"]
        with app.app_context():
            # The site was selected today, so its first report month (the month after selection) has not begun;
            # a real township would report months later. Selection is moved three months back so that two
            # report months are open now.
            site = db.session.get(Site, anhai_site)
            site.selected_at -= timedelta(days=92)
            db.session.commit()
        township = person("anhai")
        township.goto(live_server(f"/progress/sites/{anhai_site}"))
        click_and_wait(township, township.locator("#site-milestones a", has_text="协商议事章程"))
        township.fill("#content", "《协商议事章程》：明确协商主体、议题范围、协商程序和成果运用。")
        township.fill("#meeting_date", (today - timedelta(days=20)).isoformat())
        township.fill("#meeting_result", "应到 45 人，实到 41 人，同意 39 人，表决通过")
        township.fill("#township_approved_on", (today - timedelta(days=10)).isoformat())
        click_and_wait(township, "#submit_item")
        expect(township.locator("#milestone-status")).to_have_text("已提交")
        shot(township, 9, "charter")

        township.goto(live_server(f"/progress/sites/{anhai_site}"))
        months = [href.rsplit("/", 1)[1] for href in
                  township.locator("#site-months a").evaluate_all("links => links.map(a => a.getAttribute('href'))")]
        assert len(months) >= 2, months
        reported = months[:2]
        for number, month in enumerate(reported, start=1):
            township.goto(live_server(f"/progress/sites/{anhai_site}"))
            click_and_wait(township, f"#site-months a[href='/progress/sites/{anhai_site}/reports/{month}']")
            township.fill("#work_done", f"第 {number} 个月：召开楼栋协商会，议定加装休闲座椅。")
            township.fill("#consultations_held", str(number + 1))
            township.fill("#spent_this_month", "1,234.50")
            township.fill("#problems", "部分住户参与不足。")
            township.fill("#next_plan", "继续开展小区协商会。")
            click_and_wait(township, "#submit_report")
            expect(township.locator("#report-state")).to_have_text(re.compile("^(按时|逾期)报送$"))
        shot(township, 10, "monthly-report")

        township.goto(live_server(f"/funding/sites/{anhai_site}"))
        township.locator("summary", has_text="录入支出").click()
        spending = township.locator("form[action$='/spending']")
        spending.locator("input[name=entry_date]").fill(today.isoformat())
        spending.locator("input[name=item]").fill("议事厅座椅和公示栏")
        spending.locator("select[name=category]").select_option("设施设备")
        spending.locator("select[name=source_id]").select_option(str(source_ids[JINJIANG]))
        spending.locator("input[name=amount]").fill("12,345.67")
        spending.locator("input[name=payee]").fill("晋江市某家具厂")
        click_and_wait(township, spending.get_by_role("button", name="录入支出"))
        expect(township.get_by_text("支出已录入。")).to_be_visible()

        pdf = make_pdf()
        for kind, title in (("meetings", "协商议事会议纪要"), ("plan", "示范点实施方案")):
            township.goto(live_server(f"/archive/sites/{anhai_site}"))
            click_and_wait(township, f"#archive-checklist tr[data-kind={kind}] a:has-text('上传')")
            township.select_option("#kind", kind)
            township.fill("#title", title)
            township.fill("#item_date", today.isoformat())
            township.fill("#description", "镇(街道)整理归档")
            township.set_input_files("#file", {"name": f"{kind}.pdf", "mimeType": "application/pdf", "buffer": pdf})
            click_and_wait(township, "#archive-upload button.btn-primary")
            expect(township.get_by_text(f"已上传“{title}”")).to_be_visible()
        expect(township.locator("#archive-checklist tr[data-kind=meetings] td").nth(1)).to_have_text("1")
        expect(township.locator("#archive-checklist tr[data-kind=plan] td").nth(1)).to_have_text("1")
        shot(township, 11, "archive")

        with app.app_context():
            charter = db.session.scalar(sa.select(SiteMilestone).join(SiteMilestone.milestone).where(
                SiteMilestone.site_id == anhai_site, Milestone.kind == MilestoneKind.CHARTER))
            assert charter.status == MilestoneStatus.SUBMITTED and charter.township_approved_on is not None
            reports = db.session.scalars(sa.select(MonthlyReport).where(MonthlyReport.site_id == anhai_site)
                                         .order_by(MonthlyReport.month)).all()
            assert [f"{r.month:%Y-%m}" for r in reports] == reported
            assert all(r.status == ReportStatus.SUBMITTED and r.spent_this_month_fen == 123_450 for r in reports)
            kinds = sorted(item.kind.value for item in db.session.scalars(
                sa.select(ArchiveItem).where(ArchiveItem.site_id == anhai_site, ArchiveItem.deleted_at.is_(None))))
            assert kinds == ["meetings", "plan"]

        # --- 7. Finance downloads the reconciliation workbook; its figures are the database's to the fen. ---
        finance.goto(live_server(f"/funding/programmes/{programme_id}"))
        shot(finance, 12, "reconciliation")
        with finance.expect_download() as download_info:
            finance.click("#reconciliation-export")
        workbook = _summary_figures(download_info.value.path())
        with app.app_context():
            expected = {}
            for username in TOWNSHIPS:
                site_id = site_ids[username]
                expected[communities[username]] = tuple(
                    int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(model.amount_fen), 0))
                                          .where(model.site_id == site_id)))
                    for model in (Allocation, Disbursement, SpendingLine))
        expected["合计"] = tuple(sum(figures[i] for figures in expected.values()) for i in range(3))
        assert expected[communities["anhai"]] == (8_000_000, 8_000_000, SPENT_FEN)
        assert expected["合计"] == (14_000_000, 14_000_000, SPENT_FEN)
        assert {key: workbook.get(key) for key in expected} == expected
    finally:
        for window in opened:
            window.close()
