"""The funding workbooks read back: every figure equals the database's own sum, computed here in SQL, to the fen."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from app.applications.models import Application, ApplicationStatus
from app.extensions import db
from app.files.storage import save_upload
from app.funding import operations
from app.funding.models import Allocation, Site
from app.funding.queries import reconciliation
from app.programmes.models import FundingSource, FundingTier, FundingTierAmount, Programme, ProgrammeStatus
from app.programmes.templates import JINJIANG, QUANZHOU, funding_source
from reports import fund_notice, site_spending
from reports import reconciliation as reconciliation_report
from reports.xlsx import SUBTOTAL, Column, Sheet, write_workbook
from tests.applications.helpers import communities_of


@dataclass
class Ledger:
    programme: int
    other_programme: int
    sites: list[int]  # 安海镇 ×2 (high tier, low tier), 磁灶镇 ×1 (high tier)
    sources: dict[str, int]


def _site(programme: Programme, township: int, community: int, tier: FundingTier, number: int) -> Site:
    application = Application(programme_id=programme.id, township_id=township, community_id=community, sequence=number,
                              reference=f"F-{programme.id}-{number}", status=ApplicationStatus.ACCEPTED)
    db.session.add(application)
    db.session.flush()
    site = Site(programme_id=programme.id, application_id=application.id, township_id=township,
                community_id=community, tier_id=tier.id, rank=number)
    site.allocations = [Allocation(source_id=amount.source_id, amount_fen=amount.amount_fen, reason="按档次下达",
                                   entry_date=date(2024, 3, 1)) for amount in tier.amounts]
    db.session.add(site)
    db.session.flush()
    return site


@pytest.fixture
def ledger(app, make_programme, places) -> Ledger:
    programme_id = make_programme(status=ProgrammeStatus.IMPLEMENTING)
    other_id = make_programme(status=ProgrammeStatus.IMPLEMENTING)
    anhai = communities_of(app, places.anhai, 2)
    cizao = communities_of(app, places.cizao, 2)
    with app.app_context():
        programme, other = db.session.get(Programme, programme_id), db.session.get(Programme, other_id)
        quanzhou, jinjiang = funding_source(QUANZHOU), funding_source(JINJIANG)
        high = FundingTier(name="泉州市级试点", programme=programme, amounts=[
            FundingTierAmount(source=quanzhou, amount_fen=5_000_000),
            FundingTierAmount(source=jinjiang, amount_fen=3_000_000)])
        low = FundingTier(name="晋江市级示范点", programme=programme, sort_order=1, amounts=[
            FundingTierAmount(source=jinjiang, amount_fen=3_000_000)])
        other_tier = FundingTier(name="其他", programme=other, amounts=[
            FundingTierAmount(source=jinjiang, amount_fen=7_777_700)])
        db.session.add_all([high, low, other_tier])
        db.session.flush()
        s1 = _site(programme, places.anhai, anhai[0], high, 1)
        s2 = _site(programme, places.anhai, anhai[1], low, 2)
        s3 = _site(programme, places.cizao, cizao[0], high, 3)
        elsewhere = _site(other, places.cizao, cizao[1], other_tier, 1)

        operations.add_allocation(s3, jinjiang, -500_000, "调减", None, entry_date=date(2024, 3, 20))
        pay = operations.disburse
        pay(s1, quanzhou, 2_500_000, entry_date=date(2024, 3, 10), voucher_no="V-001")
        pay(s1, jinjiang, 1_500_000, entry_date=date(2024, 3, 10), voucher_no="V-002")
        wrong = pay(s2, jinjiang, 3_000_000, entry_date=date(2024, 3, 11), voucher_no="V-003")
        operations.reverse_disbursement(wrong, entry_date=date(2024, 3, 15), reason="金额有误", user=None)
        pay(s2, jinjiang, 1_000_033, entry_date=date(2024, 3, 16), voucher_no="V-004")
        pay(s3, quanzhou, 5_000_000, entry_date=date(2024, 3, 12), voucher_no="V-005")
        pay(s3, jinjiang, 2_000_000, entry_date=date(2024, 3, 12), voucher_no="V-006")
        pay(elsewhere, jinjiang, 1_111_100, entry_date=date(2024, 3, 12), voucher_no="O-001")

        receipt = save_upload(FileStorage(io.BytesIO(b"%PDF-1.4 receipt"), filename="发票0001.pdf"))
        spend = operations.add_spending
        spend(s1, quanzhou, entry_date=date(2024, 4, 2), item="议事厅桌椅", category="设施设备", amount_fen=123_456,
              payee="某家具公司", receipt=receipt)
        mistaken = spend(s1, quanzhou, entry_date=date(2024, 4, 3), item="协商会茶歇", category="活动经费",
                         amount_fen=80_001, payee="某超市")
        operations.reverse_spending(mistaken, entry_date=date(2024, 4, 8), reason="重复录入", user=None)
        spend(s1, jinjiang, entry_date=date(2024, 4, 5), item="宣传展板", category="宣传印制", amount_fen=50_000,
              payee="某广告公司")
        spend(s1, quanzhou, entry_date=date(2024, 4, 9), item="议事规则手册", category="宣传印制", amount_fen=3_333,
              payee="某印刷厂")
        # More than was paid: the sheet must show it as it is, and flag it.
        spend(s2, jinjiang, entry_date=date(2024, 4, 6), item="场地改造", category="场地改造", amount_fen=1_200_000,
              payee="某装修公司")
        spend(elsewhere, jinjiang, entry_date=date(2024, 4, 6), item="其他项目支出", category="其他",
              amount_fen=99_999, payee="某单位")
        db.session.commit()
        return Ledger(programme=programme_id, other_programme=other_id, sites=[s1.id, s2.id, s3.id],
                      sources={QUANZHOU: quanzhou.id, JINJIANG: jinjiang.id})


# --- the database's own sums, in SQL -------------------------------------------------------------------

_TABLES = {"allocated": "allocations", "disbursed": "disbursements", "spent": "spending_lines"}


def _sql_sums(programme_id: int, group: str, where: str = "", **params) -> dict:
    """{key: {allocated, disbursed, spent}} grouped by ``group`` (an SQL expression over sites s and the line l)."""
    result: dict = {}
    for name, table in _TABLES.items():
        rows = db.session.execute(sa.text(
            f"SELECT {group} AS k, SUM(l.amount_fen) FROM {table} l JOIN sites s ON s.id = l.site_id "
            f"WHERE s.programme_id = :programme {where} GROUP BY {group}"
        ), {"programme": programme_id, **params}).all()
        for key, total in rows:
            result.setdefault(key, {"allocated": 0, "disbursed": 0, "spent": 0})[name] = int(total)
    return result


def _fen(value) -> int:
    """A money cell (yuan, a double) as fen, refusing anything that is not a whole number of fen."""
    fen = Decimal(str(value)) * 100
    assert fen == fen.to_integral_value(), value
    return int(fen)


def _read(data: bytes, sheet: str, first_header: str):
    """(worksheet, the lines above the header, the records below it as dicts)."""
    ws = openpyxl.load_workbook(io.BytesIO(data))[sheet]
    rows = list(ws.iter_rows(values_only=True))
    header_index = next(i for i, row in enumerate(rows) if row[0] == first_header)
    header = rows[header_index]
    records = [dict(zip(header, row, strict=False)) for row in rows[header_index + 1:]
               if any(value is not None for value in row)]
    above = [row[0] for row in rows[:header_index] if row[0]]
    return ws, above, records


def _check_figures(record: dict, sums: dict) -> None:
    allocated, disbursed, spent = sums["allocated"], sums["disbursed"], sums["spent"]
    assert _fen(record["下达"]) == allocated
    assert _fen(record["拨付"]) == disbursed
    assert _fen(record["支出"]) == spent
    assert _fen(record["结余"]) == disbursed - spent
    assert _fen(record["未拨付"]) == allocated - disbursed
    if allocated:
        assert record["使用率"] == pytest.approx(spent / allocated)


def _names(programme_id: int) -> tuple[dict[str, int], dict[str, int]]:
    communities = dict(db.session.execute(sa.text(
        "SELECT c.name, s.id FROM sites s JOIN communities c ON c.id = s.community_id WHERE s.programme_id = :p"
    ), {"p": programme_id}).tuples().all())
    townships = dict(db.session.execute(sa.text(
        "SELECT DISTINCT t.name, t.id FROM sites s JOIN townships t ON t.id = s.township_id WHERE s.programme_id = :p"
    ), {"p": programme_id}).tuples().all())
    return communities, townships


def _check_summary(records: list[dict], programme_id: int, where: str = "", **params) -> None:
    communities, townships = _names(programme_id)
    by_site = _sql_sums(programme_id, "s.id", where, **params)
    by_township = _sql_sums(programme_id, "s.township_id", where, **params)
    total = _sql_sums(programme_id, "s.programme_id", where, **params)[programme_id]
    site_rows = [r for r in records if r["村(社区)"] not in ("小计", None)]
    subtotal_rows = [r for r in records if r["村(社区)"] == "小计"]
    total_rows = [r for r in records if r["镇(街道)"] == "合计"]
    assert {communities[r["村(社区)"]] for r in site_rows} == set(by_site)
    assert len(site_rows) == len(by_site)
    for row in site_rows:
        _check_figures(row, by_site[communities[row["村(社区)"]]])
    assert {townships[r["镇(街道)"]] for r in subtotal_rows} == set(by_township)
    assert len(subtotal_rows) == len(by_township)
    for row in subtotal_rows:
        _check_figures(row, by_township[townships[row["镇(街道)"]]])
    assert len(total_rows) == 1 and records[-1] is total_rows[0]
    _check_figures(total_rows[0], total)
    # A township's sites come before its subtotal.
    for index, row in enumerate(records):
        if row["村(社区)"] == "小计":
            assert records[index - 1]["镇(街道)"] == row["镇(街道)"]


# --- the reconciliation workbook -----------------------------------------------------------------------


def test_reconciliation_workbook_equals_the_database(app, ctx, ledger):
    programme = db.session.get(Programme, ledger.programme)
    data = write_workbook(reconciliation_report.sheets(reconciliation(programme), as_of=date(2024, 6, 30)))
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["汇总", QUANZHOU, JINJIANG, "明细"]

    ws, above, records = _read(data, "汇总", "镇(街道)")
    assert programme.name in above[0] and any("2024-06-30" in line for line in above)
    _check_summary(records, ledger.programme)
    # The flags: s2 spent more than it was paid; s3 was paid in March and has spent nothing since.
    flags = {r["村(社区)"]: r["提示"] or "" for r in records if r["村(社区)"] not in ("小计", None)}
    assert sum("支出超过已拨付" in text for text in flags.values()) == 1
    assert sum("无支出" in text for text in flags.values()) == 1

    for name, source_id in ledger.sources.items():
        _ws, above, records = _read(data, name, "镇(街道)")
        assert name in above[0]
        _check_summary(records, ledger.programme, "AND l.source_id = :source", source=source_id)
    # 泉州市级财政 goes to two of the three sites only.
    _ws, _above, records = _read(data, QUANZHOU, "镇(街道)")
    assert len([r for r in records if r["村(社区)"] not in ("小计", None)]) == 2

    _ws, _above, lines = _read(data, "明细", "日期")
    for ledger_name, table in (("下达", "allocations"), ("拨付", "disbursements"), ("支出", "spending_lines")):
        count, total, reversals = db.session.execute(sa.text(
            f"SELECT COUNT(*), SUM(l.amount_fen), COUNT(l.{'reverses_id' if table != 'allocations' else 'id'}) "
            f"FROM {table} l JOIN sites s ON s.id = l.site_id WHERE s.programme_id = :p"
        ), {"p": ledger.programme}).one()
        mine = [line for line in lines if line["账目"] == ledger_name]
        assert len(mine) == count
        assert sum(_fen(line["金额（元）"]) for line in mine) == total
        if table != "allocations":
            assert len([line for line in mine if line["类型"] == "冲销"]) == reversals == 1
            assert all(_fen(line["金额（元）"]) < 0 for line in mine if line["类型"] == "冲销")
    dates = [line["日期"] for line in lines]
    assert all(isinstance(d, datetime) for d in dates) and dates == sorted(dates)
    assert "O-001" not in {line["凭证号/附件"] for line in lines}  # the other programme's lines stay out
    assert "发票0001.pdf" in {line["凭证号/附件"] for line in lines}


def test_a_scoped_reconciliation_lists_only_its_sites(app, ctx, ledger, places):
    programme = db.session.get(Programme, ledger.programme)
    rec = reconciliation(programme, Site.township_id == places.cizao)
    data = write_workbook(reconciliation_report.sheets(rec))
    _ws, _above, records = _read(data, "汇总", "镇(街道)")
    _check_summary(records, ledger.programme, "AND s.township_id = :township", township=places.cizao)
    _ws, _above, lines = _read(data, "明细", "日期")
    expected = db.session.scalar(sa.text(
        "SELECT (SELECT COUNT(*) FROM allocations l JOIN sites s ON s.id = l.site_id WHERE s.id = :s)"
        " + (SELECT COUNT(*) FROM disbursements l JOIN sites s ON s.id = l.site_id WHERE s.id = :s)"
        " + (SELECT COUNT(*) FROM spending_lines l JOIN sites s ON s.id = l.site_id WHERE s.id = :s)"
    ), {"s": ledger.sites[2]})
    assert len(lines) == expected


def test_detail_lines_are_one_query_over_the_three_ledgers(app, ctx, ledger, count_queries):
    programme = db.session.get(Programme, ledger.programme)
    with count_queries() as counter:
        lines = reconciliation_report.detail_lines(programme)
    assert counter.count == 1
    order = {"下达": 0, "拨付": 1, "支出": 2}
    keys = [(line["entry_date"], order[line["ledger"]], line["id"]) for line in lines]
    assert keys == sorted(keys)
    assert {line["site_id"] for line in lines} == set(ledger.sites)
    assert reconciliation_report.detail_lines(programme, site_ids=[]) == []


# --- one site's spending sheet -----------------------------------------------------------------------------


def _spending_rows(site_id: int):
    return site_spending.rows(site_spending.site_lines(site_id))


@pytest.mark.parametrize("which", [0, 1, 2])
def test_site_spending_sheet_equals_the_database(app, ctx, ledger, which):
    site = db.session.get(Site, ledger.sites[which])
    data = write_workbook([site_spending.sheet(site, _spending_rows(site.id))])
    ws, above, records = _read(data, "资金使用明细", "序号")
    assert above[0] == f"{site.community.name}项目资金使用明细表"
    count, total = db.session.execute(sa.text(
        "SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM spending_lines WHERE site_id = :s"), {"s": site.id}).one()
    lines = [r for r in records if isinstance(r["序号"], int)]
    totals = [r for r in records if r["序号"] == "合计"]
    assert len(lines) == count
    assert [r["序号"] for r in lines] == list(range(1, count + 1))
    assert len(totals) == 1 and _fen(totals[0]["金额（元）"]) == total
    assert sum(_fen(r["金额（元）"]) for r in lines) == total
    # The notes give 下达 and 拨付 per source and in total, as the database sums them.
    notes = "\n".join(above)
    for source_name, source_id in ledger.sources.items():
        allocated, disbursed = (db.session.scalar(sa.text(
            f"SELECT COALESCE(SUM(amount_fen), 0) FROM {table} WHERE site_id = :s AND source_id = :src"),
            {"s": site.id, "src": source_id}) for table in ("allocations", "disbursements"))
        if allocated or disbursed:
            assert f"{source_name}：下达 {_yuan(allocated)}，拨付 {_yuan(disbursed)}" in notes
    assert site.programme.name in notes and site.township.name in notes and site.tier.name in notes


def test_site_spending_sheet_shows_reversals_and_receipts(app, ctx, ledger):
    site = db.session.get(Site, ledger.sites[0])
    data = write_workbook([site_spending.sheet(site, _spending_rows(site.id))])
    _ws, _above, records = _read(data, "资金使用明细", "序号")
    lines = [r for r in records if isinstance(r["序号"], int)]
    reversal = next(r for r in lines if _fen(r["金额（元）"]) < 0)
    original = next(r for r in lines if r["支出项目"] == reversal["支出项目"] and _fen(r["金额（元）"]) > 0)
    assert _fen(reversal["金额（元）"]) == -_fen(original["金额（元）"]) == -80_001
    assert f"冲销第 {original['序号']} 笔" in reversal["备注"] and "重复录入" in reversal["备注"]
    assert next(r for r in lines if r["支出项目"] == "议事厅桌椅")["凭证/附件"] == "发票0001.pdf"


def _yuan(fen: int) -> str:
    return f"¥{Decimal(fen) / 100:,.2f}"


# --- the public notice -----------------------------------------------------------------------------------


def test_fund_notice_fits_one_page_and_equals_the_database(app, ctx, ledger):
    site = db.session.get(Site, ledger.sites[0])
    rec = reconciliation(site.programme, Site.id == site.id)
    data = write_workbook([fund_notice.sheet(site, rec.sites[0], site_spending.site_lines(site.id))])
    ws, above, records = _read(data, "资金使用公示", "类别")
    # One page wide and one page tall (1 is the file format's default, so it may be left out of the file).
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.fitToHeight in (None, 1) and ws.page_setup.fitToWidth in (None, 1)
    assert ws.page_setup.orientation == "portrait"
    assert above[0] == f"{site.community.name}项目资金使用情况公示"

    sums = {name: {"allocated": 0, "disbursed": 0, "spent": 0} for name in ("x",)}
    for name, table in _TABLES.items():
        sums["x"][name] = db.session.scalar(sa.text(
            f"SELECT COALESCE(SUM(amount_fen), 0) FROM {table} WHERE site_id = :s"), {"s": site.id})
    figures = sums["x"]
    notes = "\n".join(above)
    assert f"下达资金：{_yuan(figures['allocated'])}" in notes
    assert f"到位（拨付）资金：{_yuan(figures['disbursed'])}" in notes
    assert f"已使用：{_yuan(figures['spent'])}" in notes
    assert f"结余（到位 − 已使用）：{_yuan(figures['disbursed'] - figures['spent'])}" in notes

    by_category = dict(db.session.execute(sa.text(
        "SELECT category, SUM(amount_fen) FROM spending_lines WHERE site_id = :s GROUP BY category"
    ), {"s": site.id}).tuples().all())
    standing = dict(db.session.execute(sa.text(
        "SELECT category, COUNT(*) FROM spending_lines l WHERE site_id = :s AND reverses_id IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM spending_lines r WHERE r.reverses_id = l.id) GROUP BY category"
    ), {"s": site.id}).tuples().all())
    categories = [r for r in records if r["类别"] in by_category]
    assert {r["类别"]: _fen(r["金额（元）"]) for r in categories} == {k: v for k, v in by_category.items() if v}
    assert {r["类别"]: r["笔数"] for r in categories} == {k: standing.get(k, 0) for k, v in by_category.items() if v}
    total = next(r for r in records if r["类别"] == "合计")
    assert _fen(total["金额（元）"]) == figures["spent"] and total["笔数"] == sum(standing.values())
    texts = [row[0] for row in ws.iter_rows(values_only=True) if isinstance(row[0], str)]
    assert "监督电话：____" in texts and any(text.startswith("公示期") for text in texts)


def test_fund_notice_of_a_site_without_money(app, ctx, ledger):
    site = db.session.get(Site, ledger.sites[2])
    data = write_workbook([fund_notice.sheet(site, None, [])])
    _ws, above, records = _read(data, "资金使用公示", "类别")
    assert "已使用：¥0.00" in above
    assert _fen(next(r for r in records if r["类别"] == "合计")["金额（元）"]) == 0


# --- the writer's additions ------------------------------------------------------------------------------


def test_writer_money_format_subtotals_and_one_page(ctx):
    columns = [Column("name", "名称"), Column("amount", "金额", "money_fen", total=True)]
    rows = [{"name": "a", "amount": 100}, {"name": "b", "amount": 250},
            {"name": "小计", "amount": 350, SUBTOTAL: True}, {"name": "c", "amount": -1}]
    data = write_workbook([Sheet(name="s", columns=columns, rows=iter(rows), title="t", footer_notes=["完"]),
                           Sheet(name="p", columns=columns, rows=iter(rows), title="t" * 200, notes=["n"],
                                 fit_one_page=True)])
    book = openpyxl.load_workbook(io.BytesIO(data))
    for name in ("s", "p"):
        ws = book[name]
        values = [(row[0], row[1]) for row in ws.iter_rows(min_row=1, values_only=True)]
        assert ("合计", 3.49) in values  # the subtotal is not counted again
        assert ws.cell(row=values.index(("a", 1.0)) + 1, column=2).number_format == '"¥"#,##0.00'
        subtotal = ws.cell(row=values.index(("小计", 3.5)) + 1, column=2)
        assert subtotal.font.b
    assert book["s"].page_setup.orientation == "landscape" and book["s"].page_setup.fitToHeight == 0
    assert ("完", None) in [(row[0], row[1]) for row in book["s"].iter_rows(values_only=True)]
    assert book["p"].page_setup.orientation == "portrait" and book["p"].page_setup.fitToHeight in (None, 1)
    assert book["p"].sheet_properties.pageSetUpPr.fitToPage
    assert "A1:B1" in {str(merged) for merged in book["p"].merged_cells.ranges}


def test_funding_sources_exist_for_the_ledger(ctx, ledger):
    assert {s.name for s in db.session.scalars(sa.select(FundingSource))} >= {QUANZHOU, JINJIANG}
