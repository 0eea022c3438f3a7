"""资金拨付与使用对账表: a summary by site with township subtotals and the programme total, the same per funding
source, and every ledger line (下达, 拨付, 支出 and their 冲销) in one sheet.

The figures come from :func:`app.funding.queries.reconciliation` (grouped sums in fen); subtotal and total rows are
built here from those sums and marked as subtotals, so the writer adds nothing twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import gettext as _

from app.database import china_today
from app.extensions import db
from app.files.models import StoredFile
from app.funding.models import SPENDING_CATEGORY_TITLES, Allocation, Disbursement, Site, SpendingLine
from app.funding.queries import TERMS, Reconciliation, SiteLine, Totals
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
        "share_used": (Decimal(share.numerator) / Decimal(share.denominator)
                       if (share := totals.share_used) is not None else None),
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


def iter_detail_lines(programme: Programme, site_ids: Iterable[int] | None = None) -> Iterator[dict]:
    """Every 下达, 拨付 and 支出 line of the programme's sites (or of ``site_ids``), by date (then 下达, 拨付, 支出,
    then the line's id): ONE query over the three ledgers, ordered and streamed by the database.

    ``ledger`` is the table a line belongs to; ``kind`` is 冲销 for a reversal line. Amounts are signed fen.
    """
    if site_ids is not None:
        site_ids = list(site_ids)
        if not site_ids:
            return

    def text(value=None):
        return sa.null().cast(sa.String) if value is None else value

    def query(model, order: int, a, b=None, c=None, d=None, e=None, reverses=None):
        statement = (
            sa.select(sa.literal_column(str(order), sa.Integer).label("ledger"), model.id.label("id"),
                      model.site_id.label("site_id"), model.source_id.label("source_id"),
                      model.entry_date.label("entry_date"), model.amount_fen.label("amount_fen"),
                      Township.name.label("township"), Community.name.label("community"),
                      FundingSource.name.label("source"), text(a).label("a"), text(b).label("b"),
                      text(c).label("c"), text(d).label("d"), text(e).label("e"),
                      (reverses if reverses is not None else sa.null().cast(sa.Integer)).label("reverses_id"))
            .join(Site, Site.id == model.site_id)
            .join(Township, Township.id == Site.township_id)
            .join(Community, Community.id == Site.community_id)
            .join(FundingSource, FundingSource.id == model.source_id)
            .where(Site.programme_id == programme.id)
        )
        if site_ids is not None:
            statement = statement.where(Site.id.in_(site_ids))
        return statement

    lines = sa.union_all(
        query(Allocation, LEDGER_ORDER["下达"], Allocation.reason),
        query(Disbursement, LEDGER_ORDER["拨付"], Disbursement.voucher_no, Disbursement.note,
              Disbursement.override_reason, reverses=Disbursement.reverses_id),
        query(SpendingLine, LEDGER_ORDER["支出"], SpendingLine.item, SpendingLine.category, SpendingLine.payee,
              SpendingLine.note, StoredFile.original_name, reverses=SpendingLine.reverses_id)
        .outerjoin(StoredFile, StoredFile.id == SpendingLine.receipt_id),
    ).subquery()
    ledgers = {order: name for name, order in LEDGER_ORDER.items()}
    # Made once: the export may write a province's million lines.
    categories = {value: str(title) for value, title in SPENDING_CATEGORY_TITLES.items()}
    with_payee, without_payee = _("%(item)s（%(category)s），%(payee)s"), _("%(item)s（%(category)s）")
    for row in db.session.execute(
        sa.select(lines).order_by(lines.c.entry_date, lines.c.ledger, lines.c.id).execution_options(yield_per=2000)
    ):
        ledger = ledgers[row.ledger]
        if ledger == "下达":
            voucher, summary, note = "", row.a, ""
        elif ledger == "拨付":
            voucher, summary = row.a, row.b
            note = _("超额拨付理由：%(r)s", r=row.c) if row.c else ""
        else:
            voucher = row.e or ""
            parts = {"item": row.a, "category": categories.get(row.b, row.b), "payee": row.c}
            summary = (with_payee if row.c else without_payee) % parts
            note = row.d
        yield {
            "id": row.id, "site_id": row.site_id, "source_id": row.source_id, "entry_date": row.entry_date,
            "amount_fen": int(row.amount_fen), "township": row.township, "community": row.community,
            "source": row.source, "ledger": ledger, "kind": "冲销" if row.reverses_id else ledger,
            "voucher": voucher, "summary": summary, "note": note,
        }


def detail_lines(programme: Programme, site_ids: Iterable[int] | None = None) -> list[dict]:
    """:func:`iter_detail_lines` as a list."""
    return list(iter_detail_lines(programme, site_ids))


def _detail_sheet(rec: Reconciliation, notes: list[str], name: str) -> Sheet:
    ledgers = {"下达": _("下达"), "拨付": _("拨付"), "支出": _("支出"), "冲销": _("冲销")}

    def rows() -> Iterator[dict]:
        if not rec.sites:
            return
        everything = sa.select(sa.func.count(Site.id)).where(Site.programme_id == rec.programme.id)
        site_ids = [line.site.id for line in rec.sites]
        # The whole programme needs no list of its sites (a province's programme has thousands).
        whole = db.session.scalar(everything) == len(site_ids)
        for item in iter_detail_lines(rec.programme, None if whole else site_ids):
            item["ledger"], item["kind"] = ledgers[item["ledger"]], ledgers[item["kind"]]
            yield item

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
    return Sheet(name=name, columns=columns, rows=rows(), title=_("%(name)s 资金明细", name=rec.programme.name),
                 notes=[*notes, _("金额带符号：冲销和调减为负数。“账目”为该笔所属的台账（下达、拨付或支出）。")])


def sheets(rec: Reconciliation, as_of: date | None = None) -> list[Sheet]:
    """The summary (汇总), one sheet per funding source, and the lines (明细)."""
    as_of = as_of or china_today()
    programme = rec.programme
    notes = [
        _("截至 %(d)s；金额单位：元。", d=as_of.isoformat()),
        str(TERMS),
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
