"""项目资金使用明细表 of one site (archive item ⑤): every spending line with its receipt, and the site's money.

Reversal lines are listed as they are, with a negative amount and their note, so the total is the sum of the
ledger to the fen.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from flask_babel import gettext as _

from app.extensions import db
from app.funding.models import Site, SpendingLine
from app.funding.queries import SiteLine, Totals, reconciliation
from app.programmes.models import FundingSource
from reports.xlsx import Column, Sheet, yuan_text


def site_money(site: Site, rec_line: SiteLine | None = None) -> tuple[SiteLine | None, dict[int, str]]:
    """The site's reconciliation line (computed if not given) and the names of its funding sources by id."""
    if rec_line is None:
        rec = reconciliation(site.programme, Site.id == site.id)
        rec_line = rec.sites[0] if rec.sites else None
        names = {source.id: source.name for source in rec.sources}
    else:
        ids = list(rec_line.by_source)
        names = dict(db.session.execute(
            sa.select(FundingSource.id, FundingSource.name).where(FundingSource.id.in_(ids))
        ).tuples().all()) if ids else {}
    return rec_line, names


def money_notes(rec_line: SiteLine | None, names: dict[int, str]) -> list[str]:
    """下达, 拨付 and 已支出 per source and in total, as text."""
    notes = []
    if rec_line is not None:
        for source_id, totals in rec_line.by_source.items():
            notes.append(_("%(source)s：下达 %(a)s，拨付 %(d)s，已支出 %(s)s", source=names.get(source_id, "?"),
                           a=yuan_text(totals.allocated), d=yuan_text(totals.disbursed), s=yuan_text(totals.spent)))
    total = rec_line.total if rec_line is not None else Totals()
    notes.append(_("合计：下达 %(a)s，拨付 %(d)s，已支出 %(s)s，结余 %(b)s", a=yuan_text(total.allocated),
                   d=yuan_text(total.disbursed), s=yuan_text(total.spent), b=yuan_text(total.balance)))
    return notes


def sheet(site: Site, lines: Iterable[SpendingLine], rec_line: SiteLine | None = None) -> Sheet:
    """``lines``: the site's spending lines (with source and receipt loaded, to spare a query per line)."""
    ordered = sorted(lines, key=lambda line: (line.entry_date, line.id))
    numbers = {line.id: number for number, line in enumerate(ordered, start=1)}
    columns = [
        Column("number", _("序号"), "int"),
        Column("entry_date", _("日期"), "date"),
        Column("item", _("支出项目"), width=30),
        Column("category", _("类别")),
        Column("source", _("资金来源")),
        Column("amount", _("金额（元）"), "money_fen", total=True),
        Column("payee", _("收款单位"), width=24),
        Column("receipt", _("凭证/附件"), width=24),
        Column("note", _("备注"), width=30),
    ]
    rows = []
    for line in ordered:
        note = line.note
        if line.reverses_id is not None and line.reverses_id in numbers:
            note = _("冲销第 %(n)d 笔", n=numbers[line.reverses_id]) + ("；" + note if note else "")
        rows.append({
            "number": numbers[line.id],
            "entry_date": line.entry_date,
            "item": line.item,
            "category": line.category,
            "source": line.source.name,
            "amount": line.amount_fen,
            "payee": line.payee,
            "receipt": line.receipt.original_name if line.receipt is not None else "",
            "note": note,
        })
    rec_line, names = site_money(site, rec_line)
    notes = [
        _("项目：%(p)s", p=site.programme.name),
        _("镇(街道)：%(t)s    村(社区)：%(c)s", t=site.township.name, c=site.community.name),
        _("补助档次：%(tier)s", tier=site.tier.name if site.tier else _("未定")),
        *money_notes(rec_line, names),
        _("金额单位：元；冲销分录以负数列示。"),
    ]
    return Sheet(name=_("资金使用明细"), columns=columns, rows=rows,
                 title=_("%(community)s项目资金使用明细表", community=site.community.name), notes=notes)
