"""资金拨付与使用对账表: a summary by site with township subtotals and the programme total, the same per funding
source, and every ledger line (下达, 拨付, 支出 and their 冲销) in one sheet.

The figures come from :func:`app.funding.queries.reconciliation` (grouped sums in fen); subtotal and total rows are
built here from those sums and marked as subtotals, so the writer adds nothing twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import gettext as _

from app.database import china_today
from app.extensions import db
from app.files.models import StoredFile
from app.funding.models import Allocation, Disbursement, Site, SpendingLine
from app.funding.queries import Reconciliation, SiteLine, Totals
from app.places.models import Community, Township
from app.programmes.models import FundingSource, Programme
from reports.xlsx import SUBTOTAL, Column, Sheet

# Excel refuses these in a sheet name, and names longer than 31 characters.
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
LEDGER_ORDER = {"下达": 0, "拨付": 1, "支出": 2}


def _summary_columns() -> list[Column]:
    return [
        Column("township", _("镇(街道)")),
        Column("community", _("村(社区)")),
        Column("tier", _("补助档次")),
        Column("allocated", _("下达"), "money_fen"),
        Column("disbursed", _("拨付"), "money_fen"),
        Column("spent", _("支出"), "money_fen"),
        Column("balance", _("结余"), "money_fen"),
        Column("undisbursed", _("未拨付"), "money_fen"),
        Column("share_used", _("使用率"), "percent"),
        Column("flags", _("提示"), width=30),
    ]


def _figures(totals: Totals) -> dict:
    return {
        "allocated": totals.allocated,
        "disbursed": totals.disbursed,
        "spent": totals.spent,
        "balance": totals.balance,
        "undisbursed": totals.undisbursed,
        # Exact until the writer puts it into the cell.
        "share_used": Decimal(totals.spent) / Decimal(totals.allocated) if totals.allocated else None,
    }


def _site_row(line: SiteLine, totals: Totals) -> dict:
    site = line.site
    return {
        "township": site.township.name,
        "community": site.community.name,
        "tier": site.tier.name if site.tier else "",
        **_figures(totals),
        "flags": "；".join(line.flags),
    }


def _summary_rows(rec: Reconciliation, source_id: int | None = None) -> list[dict]:
    """Site rows by township, a 小计 after each township and the 合计; restricted to one source if given."""
    rows: list[dict] = []
    programme_total = Totals()
    for township in rec.townships:
        township_total = Totals()
        site_rows = []
        for line in township.sites:
            if source_id is None:
                totals = line.total
            elif source_id in line.by_source:
                totals = line.by_source[source_id]
            else:
                continue
            site_rows.append(_site_row(line, totals))
            township_total.add(totals)
        if not site_rows:
            continue
        rows += site_rows
        rows.append({"township": township.township.name, "community": _("小计"), **_figures(township_total),
                     SUBTOTAL: True})
        programme_total.add(township_total)
    rows.append({"township": _("合计"), **_figures(programme_total), SUBTOTAL: True})
    return rows


def _sheet_name(name: str, taken: set[str]) -> str:
    base = _SHEET_NAME_FORBIDDEN.sub("_", name).strip("'").strip() or "Sheet"
    candidate, number = base[:31], 2
    while candidate.casefold() in taken:  # Excel compares sheet names without case
        suffix = f"({number})"
        candidate, number = base[: 31 - len(suffix)] + suffix, number + 1
    taken.add(candidate.casefold())
    return candidate


def detail_lines(programme: Programme, site_ids: Iterable[int] | None = None) -> list[dict]:
    """Every 下达, 拨付 and 支出 line of the programme's sites (or of ``site_ids``), ordered by date.

    One query per ledger. ``ledger`` is the table a line belongs to; ``kind`` is 冲销 for a reversal line.
    Amounts are signed fen.
    """
    if site_ids is not None:
        site_ids = list(site_ids)
        if not site_ids:
            return []

    def query(model, *columns):
        statement = (
            sa.select(model.id, model.site_id, model.source_id, model.entry_date, model.amount_fen,
                      Township.name.label("township"), Community.name.label("community"),
                      FundingSource.name.label("source"), *columns)
            .join(Site, Site.id == model.site_id)
            .join(Township, Township.id == Site.township_id)
            .join(Community, Community.id == Site.community_id)
            .join(FundingSource, FundingSource.id == model.source_id)
            .where(Site.programme_id == programme.id)
            .order_by(model.entry_date, model.id)
        )
        if site_ids is not None:
            statement = statement.where(Site.id.in_(site_ids))
        return statement

    def line(ledger, kind, row, voucher, summary, note) -> dict:
        return {
            "id": row[0], "site_id": row[1], "source_id": row[2], "entry_date": row[3], "amount_fen": int(row[4]),
            "township": row[5], "community": row[6], "source": row[7],
            "ledger": ledger, "kind": kind, "voucher": voucher, "summary": summary, "note": note,
        }

    lines = [line("下达", "下达", row, "", row.reason, "")
             for row in db.session.execute(query(Allocation, Allocation.reason))]
    for row in db.session.execute(query(Disbursement, Disbursement.voucher_no, Disbursement.note,
                                        Disbursement.override_reason, Disbursement.reverses_id)):
        override = _("超额拨付理由：%(r)s", r=row.override_reason) if row.override_reason else ""
        lines.append(line("拨付", "冲销" if row.reverses_id else "拨付", row, row.voucher_no, row.note, override))
    spending = query(SpendingLine, SpendingLine.item, SpendingLine.category, SpendingLine.payee, SpendingLine.note,
                     SpendingLine.reverses_id, StoredFile.original_name)
    spending = spending.outerjoin(StoredFile, StoredFile.id == SpendingLine.receipt_id)
    for row in db.session.execute(spending):
        summary = f"{row.item}（{row.category}）" + (f"，{row.payee}" if row.payee else "")
        lines.append(line("支出", "冲销" if row.reverses_id else "支出", row, row.original_name or "", summary,
                          row.note))
    lines.sort(key=lambda item: (item["entry_date"], LEDGER_ORDER[item["ledger"]], item["id"]))
    return lines


def _detail_sheet(rec: Reconciliation, notes: list[str], name: str) -> Sheet:
    ledgers = {"下达": _("下达"), "拨付": _("拨付"), "支出": _("支出"), "冲销": _("冲销")}
    rows = [
        {**item, "ledger": ledgers[item["ledger"]], "kind": ledgers[item["kind"]]}
        for item in detail_lines(rec.programme, [line.site.id for line in rec.sites])
    ]
    columns = [
        Column("entry_date", _("日期"), "date"),
        Column("ledger", _("账目")),
        Column("kind", _("类型")),
        Column("township", _("镇(街道)")),
        Column("community", _("村(社区)")),
        Column("source", _("资金来源")),
        Column("amount_fen", _("金额（元）"), "money_fen"),
        Column("voucher", _("凭证号/附件")),
        Column("summary", _("摘要"), width=40),
        Column("note", _("备注"), width=30),
    ]
    return Sheet(name=name, columns=columns, rows=rows, title=_("%(name)s 资金明细", name=rec.programme.name),
                 notes=[*notes, _("金额带符号：冲销和调减为负数。“账目”为该笔所属的台账（下达、拨付或支出）。")])


def sheets(rec: Reconciliation, as_of: date | None = None) -> list[Sheet]:
    """The summary (汇总), one sheet per funding source, and the lines (明细)."""
    as_of = as_of or china_today()
    programme = rec.programme
    notes = [
        _("截至 %(d)s；金额单位：元。", d=as_of.isoformat()),
        _("结余 = 拨付 − 支出；未拨付 = 下达 − 拨付；使用率 = 支出 ÷ 下达。"),
    ]
    summary_name, detail_name = _("汇总"), _("明细")
    taken = {summary_name.casefold(), detail_name.casefold()}
    result = [Sheet(name=summary_name, columns=_summary_columns(), rows=_summary_rows(rec),
                    title=_("%(name)s 资金拨付与使用对账表", name=programme.name), notes=notes)]
    for source in rec.sources:
        result.append(Sheet(
            name=_sheet_name(source.name, taken), columns=_summary_columns(), rows=_summary_rows(rec, source.id),
            title=_("%(name)s 资金拨付与使用对账表（%(source)s）", name=programme.name, source=source.name),
            notes=notes,
        ))
    result.append(_detail_sheet(rec, notes, detail_name))
    return result
