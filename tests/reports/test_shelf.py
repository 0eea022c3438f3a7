"""The report shelf: the nine workbooks read back (every figure against SQL), the pages show the same totals, a
township sees only its own rows whatever it asks for, bad filters never fail, and query counts stay flat."""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.applications.models import Application, ApplicationStatus, UnitLevel
from app.database import CHINA, china_today
from app.extensions import db
from app.files.models import StoredFile
from app.funding.models import Allocation, Disbursement, Site, SpendingLine
from app.places.models import Community, Township
from app.programmes.models import FundingTierAmount, Milestone, MilestoneKind, Programme
from app.scoring import operations as scoring
from app.scoring import selection as selecting
from app.scoring.models import Assignment, Score, Selection, SelectionEntry, SheetStatus
from app.scoring.ranking import programme_ranking
from app.tracking import ledger
from app.tracking.models import (
    ArchiveItem,
    ArchiveKind,
    ConsultationRecord,
    MonthlyReport,
    ProgressNotice,
    ReportStatus,
)
from reports import shelf
from tests.accessibility import error_descriptions
from tests.funding.conftest import funded  # noqa: F401
from tests.scoring.conftest import scoring as scoring_fixture  # noqa: F401

KEYS = ["applications", "scoring", "selection", "reconciliation", "site-spending", "monthly", "archive", "ledger",
        "notices"]


# --- the data -------------------------------------------------------------------------------------------------


@dataclass
class World:
    scored: int  # the programme scored and publicised (安海镇, 磁灶镇, 陈埭镇 applications)
    funded: int  # the programme with sites in 安海镇 and 磁灶镇, money, reports, archive and notices
    sites: list[int]
    anhai: int
    cizao: int
    anhai_community: int
    cizao_community: int
    cizao_names: list[str]  # what must never reach 安海镇: 磁灶镇 and its communities' names


def _score_all(programme: Programme, table: dict[tuple[int, int], tuple[int, int, int, int]]) -> None:
    """{(application index, evaluator index): points per criterion}: assigned, filled and submitted."""
    applications = db.session.scalars(sa.select(Application).where(Application.programme_id == programme.id)
                                      .order_by(Application.id)).all()
    evaluators = db.session.scalars(sa.select(User).where(User.role == "evaluator").order_by(User.id)).all()
    criteria = [c.id for c in programme.criteria]
    for (a, e), points in table.items():
        assignment = scoring.assign(applications[a], evaluators[e], None)
        scoring.save_sheet(assignment, {c: p * 2 for c, p in zip(criteria, points, strict=True)}, [], "")
        scoring.submit_sheet(assignment)


def _stored(name: str) -> StoredFile:
    stored = StoredFile(stored_name=f"test/{name}-{datetime.now().timestamp()}", original_name=f"{name}.pdf",
                        kind="pdf", mime_type="application/pdf", size=10, sha256="0" * 64)
    db.session.add(stored)
    db.session.flush()
    return stored


def _fresh_community(township_id: int, programme_id: int) -> int:
    """A community of the township without an application in the programme (one is made if there is none)."""
    used = sa.select(Application.community_id).where(Application.programme_id == programme_id)
    found = db.session.scalar(sa.select(Community.id).where(Community.township_id == township_id,
                                                            Community.id.not_in(used)).order_by(Community.id).limit(1))
    if found is None:
        community = Community(township_id=township_id, name=f"新社区{datetime.now().timestamp()}", kind="community")
        db.session.add(community)
        db.session.flush()
        found = community.id
    return found


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=CHINA).astimezone(UTC)


def add_rows(world: World, number: int) -> None:
    """More of everything the nine reports list, ``number`` at a time (within an app context)."""
    today = china_today()
    last_year = today.year - 1
    sites = [db.session.get(Site, site_id) for site_id in world.sites]
    city = db.session.scalar(sa.select(Allocation.source_id).where(Allocation.site_id == sites[1].id).limit(1))
    programme = db.session.get(Programme, world.funded)
    for n in range(number):
        tag = f"{n}-{datetime.now().timestamp()}"
        for site in sites:
            db.session.add(SpendingLine(site_id=site.id, source_id=city, entry_date=date(last_year, 8, 1),
                                        item=f"加项{tag}", category="活动经费", amount_fen=12_345, payee="某公司",
                                        receipt_id=_stored(f"r{tag}").id))
            db.session.add(Disbursement(site_id=site.id, source_id=city, entry_date=date(last_year, 7, 2),
                                        amount_fen=1_000, voucher_no=f"X-{site.id}-{tag}"))
            db.session.add(ArchiveItem(site_id=site.id, kind=ArchiveKind.PUBLICITY, title=f"宣传{tag}",
                                       item_date=date(last_year, 9, 1), file_id=_stored(f"a{tag}").id))
        for township in (world.anhai, world.cizao):
            db.session.add(ProgressNotice(programme_id=world.funded, township_id=township, issued_on=today,
                                          title=f"进度通报{tag}", content="请加快进度"))
        for community_id in (world.anhai_community, world.cizao_community):
            ledger.create_record(db.session.get(Community, community_id), held_at=_at(date(last_year, 10, 3)),
                                 unit_level=UnitLevel.GRID, present=9, votes_for=7, topic=f"议题{tag}",
                                 unit_name="第一网格", parties="居民代表")
        # One more site (with its application and allocation) for the site-based reports.
        community = _fresh_community(world.anhai, programme.id)
        application = Application(programme_id=programme.id, township_id=world.anhai, community_id=community,
                                  sequence=100 + n, reference=f"F-X{tag}", status=ApplicationStatus.ACCEPTED)
        db.session.add(application)
        db.session.flush()
        site = Site(programme_id=programme.id, application_id=application.id, township_id=world.anhai,
                    community_id=community, rank=10 + n, selected_at=sites[0].selected_at)
        db.session.add(site)
        db.session.flush()
        db.session.add(Allocation(site_id=site.id, source_id=city, amount_fen=2_000_000, reason="档次",
                                  entry_date=today))
        db.session.add(MonthlyReport(site_id=site.id, month=date(last_year, 7, 1), status=ReportStatus.SUBMITTED,
                                     work_done="开展活动", submitted_at=_at(date(last_year, 7, 18))))
    # The scored programme: one more application, scored, and in the list.
    scored = db.session.get(Programme, world.scored)
    for n in range(number):
        tag = f"{n}-{datetime.now().timestamp()}"
        application = Application(programme_id=scored.id, township_id=world.cizao,
                                  community_id=_fresh_community(world.cizao, scored.id), sequence=200 + n,
                                  reference=f"T-X{tag}", status=ApplicationStatus.ACCEPTED)
        db.session.add(application)
        db.session.flush()
        evaluator = db.session.scalars(sa.select(User).where(User.role == "evaluator").order_by(User.id)).first()
        assignment = scoring.assign(application, evaluator, None)
        scoring.save_sheet(assignment, {c.id: min(20, c.max_points * 2) for c in scored.criteria}, [], "")
        scoring.submit_sheet(assignment)
        selection = db.session.scalar(sa.select(Selection).where(Selection.programme_id == scored.id))
        position = max(entry.position for entry in selection.entries) + 1
        db.session.add(SelectionEntry(selection_id=selection.id, application_id=application.id, position=position,
                                      tier_id=selection.entries[0].tier_id))
    db.session.commit()


def _names_only_in(township: int, other: int) -> list[str]:
    """Names of the township's communities that appear in the data and that no community of ``other`` shares."""
    theirs = set(db.session.scalars(sa.select(Community.name).where(Community.township_id == other)))
    used = sa.union(sa.select(Application.community_id), sa.select(ConsultationRecord.community_id))
    names = db.session.scalars(sa.select(Community.name).where(Community.township_id == township,
                                                               Community.id.in_(used)))
    return sorted(set(names) - theirs)


@pytest.fixture
def world(app, funded, scoring_fixture, places) -> World:  # noqa: F811
    today = china_today()
    last_year = today.year - 1
    with app.app_context():
        # The scored programme: everyone scored, the top two proposed and publicised.
        scored = db.session.get(Programme, scoring_fixture.programme)
        _score_all(scored, {(0, 0): (40, 20, 40, 0), (0, 1): (30, 20, 30, 5), (1, 0): (30, 15, 30, 0),
                            (1, 1): (35, 15, 35, 0), (1, 2): (25, 10, 20, 0), (2, 0): (20, 10, 20, 0),
                            (2, 2): (10, 10, 10, 0)})
        selection = selecting.propose(scored, programme_ranking(scored))
        selecting.publish(selection)

        # The funded programme: last year's, selected in June, a completion milestone ahead of today.
        programme = db.session.get(Programme, funded.programme)
        programme.year = last_year
        db.session.add(Milestone(programme_id=programme.id, name="结项验收", kind=MilestoneKind.COMPLETION,
                                 due_date=today + timedelta(days=40)))
        anhai_site, cizao_site = (db.session.get(Site, site_id) for site_id in funded.sites)
        for site in (anhai_site, cizao_site):
            site.selected_at = _at(date(last_year, 6, 15))
        db.session.add_all([
            Disbursement(site_id=anhai_site.id, source_id=funded.city, entry_date=date(last_year, 7, 1),
                         amount_fen=2_000_000, voucher_no="W-001"),
            Disbursement(site_id=anhai_site.id, source_id=funded.prefecture, entry_date=date(last_year, 7, 1),
                         amount_fen=5_000_000, voucher_no="W-002"),
            Disbursement(site_id=cizao_site.id, source_id=funded.city, entry_date=date(last_year, 7, 5),
                         amount_fen=1_500_050, voucher_no="W-003"),
        ])
        db.session.flush()
        first = SpendingLine(site_id=anhai_site.id, source_id=funded.city, entry_date=date(last_year, 7, 20),
                             item="议事厅桌椅", category="设施设备", amount_fen=812_345, payee="晋江某家具厂",
                             receipt_id=_stored("发票1").id)
        db.session.add(first)
        db.session.flush()
        db.session.add_all([
            SpendingLine(site_id=anhai_site.id, source_id=funded.prefecture, entry_date=date(last_year, 8, 3),
                         item="协商活动", category="活动经费", amount_fen=120_000, payee=""),
            SpendingLine(site_id=anhai_site.id, source_id=funded.city, entry_date=date(last_year, 8, 9),
                         item="议事厅桌椅", category="设施设备", amount_fen=-12_345, reverses_id=first.id,
                         note="多记"),
            SpendingLine(site_id=cizao_site.id, source_id=funded.city, entry_date=date(last_year, 9, 1),
                         item="宣传栏", category="宣传印制", amount_fen=333_333, payee="印务公司"),
        ])
        db.session.add_all([
            MonthlyReport(site_id=anhai_site.id, month=date(last_year, 7, 1), status=ReportStatus.SUBMITTED,
                          work_done="成立议事会", submitted_at=_at(date(last_year, 7, 18))),
            MonthlyReport(site_id=anhai_site.id, month=date(last_year, 8, 1), status=ReportStatus.SUBMITTED,
                          work_done="协商两次", submitted_at=_at(date(last_year, 8, 25))),
            MonthlyReport(site_id=anhai_site.id, month=date(last_year, 9, 1), status=ReportStatus.DRAFT,
                          work_done="草稿"),
            MonthlyReport(site_id=cizao_site.id, month=date(last_year, 7, 1), status=ReportStatus.SUBMITTED,
                          work_done="开展调研", submitted_at=_at(date(last_year, 7, 20), 23)),
        ])
        for site, kinds in ((anhai_site, [ArchiveKind.MEETINGS, ArchiveKind.MEETINGS, ArchiveKind.PLAN,
                                          ArchiveKind.FUND_USE]),
                            (cizao_site, [ArchiveKind.MEETINGS])):
            for number, kind in enumerate(kinds):
                db.session.add(ArchiveItem(site_id=site.id, kind=kind, title=f"材料{number}",
                                           item_date=date(last_year, 7, 1), file_id=_stored(f"m{number}").id))
        db.session.add(ArchiveItem(site_id=cizao_site.id, kind=ArchiveKind.PLAN, title="已删除",
                                   item_date=date(last_year, 7, 1), file_id=_stored("gone").id,
                                   deleted_at=_at(date(last_year, 8, 1))))
        db.session.add_all([
            ProgressNotice(programme_id=programme.id, township_id=places.anhai, issued_on=date(last_year, 9, 1),
                           title="九月进度通报", content="月报逾期，请加快。"),
            ProgressNotice(programme_id=programme.id, township_id=places.anhai, issued_on=date(last_year, 10, 8),
                           title="十月进度通报", content="月报缺报。"),
            ProgressNotice(programme_id=programme.id, township_id=places.cizao, issued_on=date(last_year, 10, 9),
                           title="十月通报", content="资金使用偏慢。"),
        ])
        anhai_community = db.session.get(Community, places.anhai_community)
        cizao_community = db.session.get(Community, places.cizao_community)
        for community, when, present, votes_for, against in ((anhai_community, date(last_year, 3, 5), 30, 21, 5),
                                                            (anhai_community, date(last_year, 11, 5), 30, 20, 6),
                                                            (cizao_community, date(last_year, 5, 6), 12, 10, 1)):
            ledger.create_record(community, held_at=_at(when, 19), unit_level=UnitLevel.GRID, present=present,
                                 votes_for=votes_for, votes_against=against, abstain=1, topic="停车位划分",
                                 unit_name="第一网格", parties="居民代表、物业", place="议事厅", form="协商会",
                                 host="陈志强", recorder="蔡秀英", supervisor="吴建国", proceedings="逐条协商",
                                 outcome="按方案划线", follow_up="监委会监督")
        removed = ledger.create_record(anhai_community, held_at=_at(date(last_year, 4, 1)), unit_level="estate",
                                       present=5, votes_for=5, topic="已删除的记录")
        ledger.delete_record(removed)
        db.session.commit()
        cizao_names = ["磁灶镇", *_names_only_in(places.cizao, places.anhai)]
        return World(scored.id, programme.id, list(funded.sites), places.anhai, places.cizao,
                     places.anhai_community, places.cizao_community, cizao_names)


# --- reading back -----------------------------------------------------------------------------------------------


@dataclass
class Table:
    headers: list[str]
    rows: list[dict]
    total: dict | None  # the 合计 row at the bottom, if any


def _clean(value):
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return value


def read_book(data: bytes) -> dict[str, Table]:
    """Every sheet with pandas: the header is the first row with two or more cells (title, subtitle and notes
    above it fill only the first cell); a last row starting with 合计 is the totals row."""
    tables = {}
    for name, frame in pd.read_excel(io.BytesIO(data), sheet_name=None, header=None).items():
        cells = [[_clean(value) for value in row] for row in frame.itertuples(index=False)]
        header_at = next(i for i, row in enumerate(cells) if sum(value is not None for value in row) >= 2)
        headers = [str(value) if value is not None else "" for value in cells[header_at]]
        rows = [dict(zip(headers, row, strict=True)) for row in cells[header_at + 1:]]
        total = rows.pop() if rows and next((v for v in rows[-1].values() if v is not None), None) == "合计" else None
        tables[name] = Table(headers, rows, total)
    return tables


def _texts(data: bytes) -> str:
    """Every cell of every sheet, as one text (for looking for names that must not be there)."""
    frames = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None)
    return "\n".join(f"{name}\n{frame.to_string()}" for name, frame in frames.items())


def yuan(fen) -> float:
    return float(Decimal(int(fen)) / 100)


def _download(client, key: str, **args):
    response = client.get(f"/reports/{key}.xlsx", query_string=args)
    assert response.status_code == 200, (key, args, response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype.endswith("spreadsheetml.sheet")
    return response.data


def _sql(statement):
    return db.session.execute(statement).all()


# --- the shelf ---------------------------------------------------------------------------------------------------


def test_the_shelf_lists_nine_reports(client, login_as):
    login_as("bureau")
    page = client.get("/reports/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert re.findall(r'data-report="([\w-]+)"', text) == KEYS
    for title in ("申报汇总表", "评分汇总表", "拟确定名单", "资金拨付与使用对账表", "项目资金使用明细表",
                  "月度进展汇总表", "档案完整性检查表", "协商议事台账", "通报"):
        assert title in text
    assert client.get("/reports/nothing").status_code == 404
    assert client.get("/reports/nothing.xlsx").status_code == 404


def test_a_township_sees_eight_reports_and_not_the_scores(client, login_as, world):
    login_as("township")
    text = client.get("/reports/").get_data(as_text=True)
    assert re.findall(r'data-report="([\w-]+)"', text) == [key for key in KEYS if key != "scoring"]
    assert client.get("/reports/scoring").status_code == 403
    assert client.get(f"/reports/scoring.xlsx?programme={world.scored}").status_code == 403


def test_every_workbook_reads_back_against_sql(app, client, login_as, world):
    login_as("bureau")
    books = {key: read_book(_download(client, key)) for key in KEYS}
    with app.app_context():
        _check_applications(books["applications"])
        _check_scoring(books["scoring"], world)
        _check_selection(books["selection"], world)
        _check_reconciliation(books["reconciliation"], world)
        _check_site_spending(books["site-spending"], world)
        _check_monthly(books["monthly"], world)
        _check_archive(books["archive"], world)
        _check_ledger(books["ledger"])
        _check_notices(books["notices"])
    # The programme reports opened on the right programme by themselves; choosing it gives the same workbook.
    assert read_book(_download(client, "reconciliation", programme=world.funded)) == books["reconciliation"]
    assert read_book(_download(client, "scoring", programme=world.scored)) == books["scoring"]


def _check_applications(book):
    table = book["申报汇总表"]
    expected = sorted(reference for (reference,) in _sql(sa.select(Application.reference)))
    assert sorted(row["编号"] for row in table.rows) == expected
    townships = dict(_sql(sa.select(Application.reference, Township.name).join(Township)))
    assert all(row["镇(街道)"] == townships[row["编号"]] for row in table.rows)


def _check_scoring(book, world):
    summary, detail = book["评分汇总"], book["评分明细"]
    per_sheet = _sql(
        sa.select(Application.reference, Assignment.id, sa.func.sum(Score.half_points))
        .join(Assignment, Assignment.application_id == Application.id).join(Score, Score.assignment_id == Assignment.id)
        .where(Application.programme_id == world.scored, Assignment.status == SheetStatus.SUBMITTED)
        .group_by(Application.reference, Assignment.id))
    sheets: dict[str, list[Decimal]] = {}
    for reference, _assignment, half_points in per_sheet:
        sheets.setdefault(reference, []).append(Decimal(int(half_points)) / 2)
    accepted = _sql(sa.select(Application.reference).where(Application.programme_id == world.scored,
                                                           Application.status == ApplicationStatus.ACCEPTED))
    assert sorted(row["编号"] for row in summary.rows) == sorted(reference for (reference,) in accepted)
    for row in summary.rows:
        totals = sheets.get(row["编号"], [])
        assert row["有效评分人数"] == len(totals)
        assert Decimal(str(row["平均分"])) == (sum(totals) / len(totals)).quantize(Decimal("0.01"))
    assert len(detail.rows) == _sql(sa.select(sa.func.count(Assignment.id)).join(Assignment.application).where(
        Application.programme_id == world.scored))[0][0]
    assert sum(Decimal(str(row["合计"])) for row in detail.rows if row["合计"] is not None) == sum(
        sum(totals) for totals in sheets.values())


def _check_selection(book, world):
    (table,) = book.values()
    entries = _sql(
        sa.select(Application.reference, sa.func.sum(FundingTierAmount.amount_fen))
        .select_from(SelectionEntry).join(Selection).join(Application, Application.id == SelectionEntry.application_id)
        .join(FundingTierAmount, FundingTierAmount.tier_id == SelectionEntry.tier_id)
        .where(Selection.programme_id == world.scored)
        .group_by(Application.reference, SelectionEntry.position).order_by(SelectionEntry.position))
    assert [row["编号"] for row in table.rows] == [reference for reference, _ in entries]
    assert [row["补助金额（元）"] for row in table.rows] == [yuan(amount) for _, amount in entries]
    assert table.total["补助金额（元）"] == yuan(sum(amount for _, amount in entries))


def _ledger_sums(model, world) -> dict[str, int]:
    return dict(_sql(sa.select(Community.name, sa.func.sum(model.amount_fen)).join(Site, Site.id == model.site_id)
                     .join(Community, Community.id == Site.community_id)
                     .where(Site.programme_id == world.funded).group_by(Community.name)))


def _check_reconciliation(book, world):
    summary = book["汇总"]
    sums = {"下达": _ledger_sums(Allocation, world), "拨付": _ledger_sums(Disbursement, world),
            "支出": _ledger_sums(SpendingLine, world)}
    sites = [row for row in summary.rows if row["村(社区)"] not in (None, "小计")]
    assert sorted(row["村(社区)"] for row in sites) == sorted(sums["下达"])
    for row in sites:
        for column, by_site in sums.items():
            assert row[column] == yuan(by_site.get(row["村(社区)"], 0)), (column, row)
    for column, by_site in sums.items():
        assert summary.total[column] == yuan(sum(by_site.values())), column
    detail = book["明细"]
    for column, by_site in sums.items():
        assert sum(Decimal(str(row["金额（元）"])) for row in detail.rows if row["账目"] == column) == \
            Decimal(sum(by_site.values())) / 100


def _check_site_spending(book, world):
    sites = _sql(sa.select(Site.id, Township.name, Community.name).join(Township, Township.id == Site.township_id)
                 .join(Community, Community.id == Site.community_id).where(Site.programme_id == world.funded))
    assert len(book) == len(sites)
    for site_id, township, community in sites:
        table = book[f"{township}{community}"[:31]]
        lines = _sql(sa.select(SpendingLine.amount_fen).where(SpendingLine.site_id == site_id))
        assert len(table.rows) == len(lines)
        assert table.total["金额（元）"] == yuan(sum(amount for (amount,) in lines))


def _expected_months(world) -> dict[str, dict[str, int]]:
    """{community: {state: count}} from the reports in SQL: on time by the 20th, late after, missing once past."""
    today = china_today()
    last_due = max(due for (due,) in _sql(sa.select(Milestone.due_date).where(
        Milestone.programme_id == world.funded, Milestone.kind != MilestoneKind.NOMINATION)))
    reports = {(site_id, month): (status, submitted) for site_id, month, status, submitted in _sql(
        sa.select(MonthlyReport.site_id, MonthlyReport.month, MonthlyReport.status, MonthlyReport.submitted_at))}
    result = {}
    for site_id, community, selected_at in _sql(
            sa.select(Site.id, Community.name, Site.selected_at).join(Community, Community.id == Site.community_id)
            .where(Site.programme_id == world.funded)):
        counts = dict.fromkeys(("按时", "逾期", "缺报", "未到期"), 0)
        local = selected_at.astimezone(CHINA).date()
        month = date(local.year + (local.month == 12), local.month % 12 + 1, 1)
        while month <= last_due.replace(day=1):
            status, submitted = reports.get((site_id, month), (None, None))
            due = month.replace(day=20)
            if status == ReportStatus.SUBMITTED:
                counts["按时" if submitted.astimezone(CHINA).date() <= due else "逾期"] += 1
            elif month <= today.replace(day=1) and today > due:
                counts["缺报"] += 1
            else:
                counts["未到期"] += 1
            month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        result[community] = counts
    return result


def _check_monthly(book, world):
    (table,) = book.values()
    expected = _expected_months(world)
    assert sorted(row["村(社区)"] for row in table.rows) == sorted(expected)
    for row in table.rows:
        assert {state: row[state] for state in expected[row["村(社区)"]]} == expected[row["村(社区)"]]
        months = [value for header, value in row.items() if re.fullmatch(r"\d{4}-\d{2}", header) and value]
        assert len(months) == sum(expected[row["村(社区)"]].values())
    for state in ("按时", "逾期", "缺报", "未到期"):
        assert table.total[state] == sum(counts[state] for counts in expected.values())
    assert sum(counts["按时"] + counts["逾期"] for counts in expected.values()) == _sql(
        sa.select(sa.func.count(MonthlyReport.id)).join(Site).where(
            Site.programme_id == world.funded, MonthlyReport.status == ReportStatus.SUBMITTED))[0][0]


def _check_archive(book, world):
    (table,) = book.values()
    counts = {}
    for community, kind, number in _sql(
            sa.select(Community.name, ArchiveItem.kind, sa.func.count(ArchiveItem.id))
            .join(Site, Site.id == ArchiveItem.site_id).join(Community, Community.id == Site.community_id)
            .where(Site.programme_id == world.funded, ArchiveItem.deleted_at.is_(None))
            .group_by(Community.name, ArchiveItem.kind)):
        counts.setdefault(community, {})[kind] = number
    titles = {kind: table.headers[2 + index] for index, kind in enumerate(ArchiveKind)}
    assert all(titles[kind].startswith("①②③④⑤⑥⑦⑧"[index]) for index, kind in enumerate(ArchiveKind))
    for row in table.rows:
        own = counts.get(row["村(社区)"], {})
        assert {kind: row[titles[kind]] for kind in ArchiveKind} == {kind: own.get(kind, 0) for kind in ArchiveKind}
        assert row["已有材料类别数"] == len(own)
        assert row["完整度"] == pytest.approx(len(own) * 100 // 8 / 100)
    for kind in ArchiveKind:
        assert table.total[titles[kind]] == sum(own.get(kind, 0) for own in counts.values())


def _check_ledger(book):
    (table,) = book.values()
    live = ConsultationRecord.deleted_at.is_(None)
    count, present, votes_for = _sql(sa.select(sa.func.count(ConsultationRecord.id),
                                               sa.func.sum(ConsultationRecord.present),
                                               sa.func.sum(ConsultationRecord.votes_for)).where(live))[0]
    holds = _sql(sa.select(sa.func.count(ConsultationRecord.id)).where(
        live, ConsultationRecord.votes_for * 3 > ConsultationRecord.present * 2))[0][0]
    assert len(table.rows) == count
    assert table.total["表决人数"] == present and table.total["赞成人数"] == votes_for
    assert sum(row["协商结果成立（赞成超过三分之二）"] == "是" for row in table.rows) == holds
    assert "已删除的记录" not in [row["协商议题"] for row in table.rows]
    twenty_of_thirty = next(row for row in table.rows if row["表决人数"] == 30 and row["赞成人数"] == 20)
    assert twenty_of_thirty["协商结果成立（赞成超过三分之二）"] == "否"  # exactly two thirds does not hold


def _check_notices(book):
    listing, per_township = book["通报"], book["按镇统计"]
    assert len(listing.rows) == _sql(sa.select(sa.func.count(ProgressNotice.id)))[0][0]
    counts = dict(_sql(sa.select(Township.name, sa.func.count(ProgressNotice.id)).join(Township)
                       .group_by(Township.name)))
    assert {row["镇(街道)"]: row["通报次数"] for row in per_township.rows} == counts
    assert per_township.total["通报次数"] == sum(counts.values())


# --- the pages show what the workbooks show -----------------------------------------------------------------------


def _number(text: str) -> Decimal:
    return Decimal(text.replace("¥", "").replace(",", "").replace("%", ""))


def _page_totals(text: str) -> dict[str, dict[str, str]]:
    """{sheet name: {column header: text of its total}} from the page's tables."""
    result = {}
    for name, body in re.findall(r'<section class="mb-4" data-sheet="([^"]*)">(.*?)</section>', text, re.S):
        headers = dict(re.findall(r'<th data-key="([^"]+)">([^<]*)</th>', body))
        cells = dict(re.findall(r'<td class="text-end text-nowrap" data-key="([^"]+)">([^<]*)</td>', body))
        result[html.unescape(name)] = {html.unescape(headers[key]): html.unescape(value) for key, value in
                                       cells.items()}
    return result


def test_the_pages_show_the_workbooks_totals(client, login_as, world):
    login_as("bureau")
    compared = 0
    for key in KEYS:
        page = client.get(f"/reports/{key}")
        assert page.status_code == 200, key
        text = page.get_data(as_text=True)
        book = read_book(_download(client, key))
        totals = _page_totals(text)
        assert set(totals) == set(book), key
        for name, table in book.items():
            headers = re.findall(r'<th data-key="[^"]+">([^<]*)</th>',
                                 text.split(f'data-sheet="{html.escape(name)}"', 1)[1].split("</section>", 1)[0])
            assert [html.unescape(header) for header in headers] == table.headers, (key, name)
            for header, shown in totals[name].items():
                assert _number(shown) == Decimal(str(round(table.total[header], 2))) * (
                    100 if shown.endswith("%") else 1), (key, name, header)
                compared += 1
    assert compared >= 20
    # A figure seen on the page: the programme's total allocation, to the fen.
    assert "¥110,000.00" in client.get("/reports/reconciliation").get_data(as_text=True)


# --- a township sees only its own rows ------------------------------------------------------------------------------


def test_a_township_sees_only_its_own_rows(app, client, login_as, world):
    user_id = login_as("township")  # 安海镇
    for key in KEYS:
        if key == "scoring":
            continue
        data = _download(client, key)
        text = _texts(data)
        for name in world.cizao_names:
            assert name not in text, (key, name)
        if key not in ("ledger", "notices", "applications"):
            assert "安海镇" in text, key  # its own rows are there
        for args in ({"township": world.cizao}, {"township": world.cizao, "programme": world.funded},
                     {"township": world.cizao, "programme": world.scored}):
            page = client.get(f"/reports/{key}", query_string=args)
            assert page.status_code == 200, (key, args)
            body = page.get_data(as_text=True)
            assert "请选择列表中的选项" in body
            for name in world.cizao_names:
                assert name not in body, (key, name)
            export = client.get(f"/reports/{key}.xlsx", query_string=args)
            assert export.status_code in (200, 302), (key, args)
            if export.status_code == 200:
                assert not any(name in _texts(export.data) for name in world.cizao_names)
    # Whatever reaches the builds directly: another township's id gives nothing at all.
    with app.test_request_context():
        user = db.session.get(User, user_id)
        for key in KEYS:
            for programme in (None, world.funded, world.scored):
                sheets = shelf.build(shelf.REPORTS[key], shelf.Filters(programme_id=programme,
                                                                       township_id=world.cizao), user)
                assert all(not list(sheet.rows) for sheet in sheets), key
        own = shelf.build(shelf.REPORTS["ledger"], shelf.Filters(township_id=world.anhai), user)
        own_rows = list(own[0].rows)
        assert own_rows and {row["township"] for row in own_rows} == {"安海镇"}


def test_a_community_sees_only_its_own_community(app, client, login_as, world):
    login_as("community", community_id=world.anhai_community)
    with app.app_context():
        name = db.session.get(Community, world.anhai_community).name
    table = read_book(_download(client, "ledger"))["协商议事台账"]
    assert table.rows and {row["村(社区)"] for row in table.rows} == {name}
    for key in ("reconciliation", "monthly", "archive"):
        for table in read_book(_download(client, key)).values():
            assert {row["村(社区)"] for row in table.rows} <= {name, "小计", None}, key


# --- bad filters ---------------------------------------------------------------------------------------------------

BAD = [
    {"start": "2024-13"}, {"end": "2024-00"}, {"start": "abc"}, {"year": "abc"}, {"year": "99999"}, {"year": "-1"},
    {"township": "abc"}, {"township": "999999"}, {"programme": "abc"}, {"programme": "999999"},
    {"start": "2024-06", "end": "2024-01"}, {"start": "2024-06-01", "end": "2024-01-01"},
    {"start": "0001-01-01"}, {"end": "9999-12-31"}, {"start": "0001-01"}, {"end": "9999-12"},
    {"start": "2024-02-30"}, {"programme": "0", "township": "0", "year": ""}, {"key": "x", "_external": "1"},
]


def test_bad_filters_never_fail(client, login_as, world):
    login_as("bureau")
    for key in KEYS:
        for args in BAD:
            page = client.get(f"/reports/{key}", query_string=args)
            assert page.status_code == 200, (key, args)
            export = client.get(f"/reports/{key}.xlsx", query_string=args)
            assert export.status_code in (200, 302), (key, args)
            if export.status_code == 302:
                assert f"/reports/{key}" in export.headers["Location"]
    monthly = client.get("/reports/monthly", query_string={"start": "2024-13"}).get_data(as_text=True)
    assert "月份应写成 2024-05" in monthly and 'id="filter-errors"' in monthly
    assert "年度应为" in client.get("/reports/applications?year=abc").get_data(as_text=True)
    assert "截止不能早于起始" in client.get(
        "/reports/ledger?start=2024-06-01&end=2024-01-01").get_data(as_text=True)
    assert "请选择列表中的选项" in client.get("/reports/reconciliation?township=999999").get_data(as_text=True)
    assert "请选择列表中的选项" in client.get("/reports/reconciliation?programme=abc").get_data(as_text=True)
    redirect = client.get("/reports/monthly.xlsx?start=2024-13")
    assert redirect.status_code == 302 and "start=2024-13" in redirect.headers["Location"]


def test_refused_filters_are_tied_to_their_controls_for_screen_readers(client, login_as):
    login_as("bureau")
    page = client.get("/reports/ledger?start=2024-06-01&end=2024-01-01").get_data(as_text=True)
    described = error_descriptions(page)
    assert list(described) == ["end"] and "截止不能早于起始" in described["end"]


def test_filters_narrow_the_rows(client, login_as, world):
    login_as("bureau")
    last_year = china_today().year - 1
    ledger_rows = read_book(_download(client, "ledger", start=f"{last_year}-03-01",
                                      end=f"{last_year}-03-31"))["协商议事台账"].rows
    assert [row["赞成人数"] for row in ledger_rows] == [21]
    assert read_book(_download(client, "ledger", year=last_year + 1))["协商议事台账"].rows == []
    notices = read_book(_download(client, "notices", township=world.anhai))["通报"].rows
    assert {row["镇(街道)"] for row in notices} == {"安海镇"} and len(notices) == 2
    months = read_book(_download(client, "monthly", start=f"{last_year}-07", end=f"{last_year}-08"))
    (table,) = months.values()
    assert [h for h in table.headers if re.fullmatch(r"\d{4}-\d{2}", h)] == [f"{last_year}-07", f"{last_year}-08"]
    # 磁灶镇's July came at 23:00 on the 20th (China time): on time; its August never came.
    assert (table.total["按时"], table.total["逾期"], table.total["缺报"], table.total["未到期"]) == (2, 1, 1, 0)
    scored = read_book(_download(client, "applications", programme=world.scored, township=world.anhai))
    assert [row["编号"] for row in scored["申报汇总表"].rows] == ["T-1"]
    ranking = read_book(_download(client, "scoring", programme=world.scored, township=world.cizao))
    assert [row["编号"] for row in ranking["评分汇总"].rows] == ["T-2"]


def test_the_export_is_audited_and_names_the_filters(app, client, login_as, world):
    from app.audit.models import AuditAction, AuditLog

    login_as("finance")
    data = _download(client, "reconciliation", programme=world.funded, township=world.anhai)
    head = pd.read_excel(io.BytesIO(data), sheet_name="汇总", header=None).iloc[:2, 0].tolist()
    with app.app_context():
        name = db.session.get(Programme, world.funded).name
        assert name in head[0]
        assert "导出人：finance" in head[1] and f"项目：{name}" in head[1] and "镇(街道)：安海镇" in head[1]
        entry = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == AuditAction.EXPORT)
                                   .order_by(AuditLog.id.desc())).first()
        assert entry.object_type == "Report" and entry.object_id == "reconciliation"


# --- bounded queries --------------------------------------------------------------------------------------------------


def test_query_counts_do_not_grow_with_the_rows(app, client, login_as, count_queries, world):
    login_as("bureau")

    def counts() -> dict[str, int]:
        result = {}
        for key in KEYS:
            with count_queries() as counter:
                assert client.get(f"/reports/{key}").status_code == 200
            result[key] = counter.count
        return result

    counts()  # the first request of a session may write its last-seen time
    before = counts()
    with app.app_context():
        add_rows(world, 3)
    counts()  # the ranking is computed again once after a change, then remembered (app/scoring/ranking.py)
    after = counts()
    assert after == before
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Site.id)).where(Site.programme_id == world.funded)) == 5


# --- long reports: the page shows the first rows, the workbook streams them all ----------------------------------


def test_a_long_sheet_is_cut_on_the_page_with_the_workbooks_totals(client, login_as, world, monkeypatch):
    login_as("bureau")
    monkeypatch.setattr(shelf, "SHOWN_ROWS", 2)
    monkeypatch.setattr(shelf, "SHOWN_SHEETS", 1)
    text = client.get("/reports/reconciliation").get_data(as_text=True)
    book = read_book(_download(client, "reconciliation"))
    assert len(book) > 1
    summary = text.split('data-sheet="汇总"', 1)[1].split("</section>", 1)[0]
    # The header, the two rows kept, the note, and the programme's 合计 (the sheet's last row, a subtotal).
    assert summary.count("<tr") == 5
    assert f"页面只显示前 2 行，共 {len(book['汇总'].rows) + 1} 行" in summary
    closing = re.findall(r"<td[^>]*>([^<]*)</td>", summary.split('data-closing="1"', 1)[1])
    assert closing[0] == "合计" and f"¥{book['汇总'].total['下达']:,.2f}" in closing
    assert f"另有 {len(book) - 1} 张表未在页面显示" in text
    assert 'data-sheet="明细"' not in text
    # A sheet with a 合计 row of its own (the writer's): the total of every line, not of the two shown.
    text = client.get("/reports/site-spending").get_data(as_text=True)
    book = read_book(_download(client, "site-spending"))
    first = next(iter(book.values()))
    assert len(first.rows) > 2 and "页面只显示前 2 行" in text
    assert _page_totals(text)[next(iter(book))]["金额（元）"] == f"¥{first.total['金额（元）']:,.2f}"


def test_a_short_sheet_is_shown_whole(client, login_as, world):
    login_as("bureau")
    text = client.get("/reports/site-spending").get_data(as_text=True)
    assert "页面只显示前" not in text and 'id="left-out"' not in text


def test_the_site_sheets_take_their_lines_in_order_from_one_query(app, world, count_queries, make_user):
    bureau_id = make_user("bureau")
    with app.app_context():
        add_rows(world, 2)
        bureau = db.session.get(User, bureau_id)
        build = lambda: shelf.build(shelf.REPORTS["site-spending"], shelf.Filters(programme_id=world.funded),  # noqa: E731
                                    bureau)
        sheets = build()
        with count_queries() as counter:
            lines = [[row["amount"] for row in sheet.rows] for sheet in sheets]
        assert counter.count == 1
        expected = [[amount for (amount,) in _sql(sa.select(SpendingLine.amount_fen).where(
            SpendingLine.site_id == site_id).order_by(SpendingLine.entry_date, SpendingLine.id))]
            for site_id in _sql_site_order(world.funded)]
        assert lines == expected and sum(map(len, lines)) >= 8
        # Rows read out of the sheets' order would be wrong: they refuse instead.
        later, earlier = build()[-1], build()[0]
        sheets = build()
        list(sheets[-1].rows)
        with pytest.raises(RuntimeError):
            list(sheets[0].rows)
        assert later.title != earlier.title


def _sql_site_order(programme_id: int) -> list[int]:
    return [site_id for (site_id,) in _sql(
        sa.select(Site.id).join(Township, Township.id == Site.township_id).where(Site.programme_id == programme_id)
        .order_by(Township.sort_order, Township.id, Site.rank, Site.id))]
