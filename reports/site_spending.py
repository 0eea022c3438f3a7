"""项目资金使用明细表 of one site (archive item ⑤): every spending line with its receipt, and the site's money.

Reversal lines are listed as they are, with a negative amount and their note, so the total is the sum of the
ledger to the fen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from app.extensions import db
from app.files.models import StoredFile
from app.funding.models import Site, SpendingLine, spending_category_title
from app.funding.queries import SiteLine, Totals, reconciliation
from app.programmes.models import FundingSource
from reports.xlsx import Column, Sheet, yuan_text


def line_statement() -> sa.Select:
    """The columns a sheet shows of each spending line (source and receipt by name), in date order; narrow it with
    ``.where`` on ``SpendingLine`` or ``Site`` (the statement joins ``Site``)."""
    return (
        sa.select(SpendingLine.id, SpendingLine.site_id, SpendingLine.entry_date, SpendingLine.item,
                  SpendingLine.category, FundingSource.name.label("source"), SpendingLine.amount_fen,
                  SpendingLine.payee, StoredFile.original_name.label("receipt"), SpendingLine.note,
                  SpendingLine.reverses_id)
        .join(Site, Site.id == SpendingLine.site_id)
        .join(FundingSource, FundingSource.id == SpendingLine.source_id)
        .outerjoin(StoredFile, StoredFile.id == SpendingLine.receipt_id)
    )


def site_lines(site_id: int) -> list[sa.Row]:
    """One site's lines as :func:`sheet` takes them: one query."""
    return db.session.execute(line_statement().where(SpendingLine.site_id == site_id)
                              .order_by(SpendingLine.entry_date, SpendingLine.id)).all()


def site_money(site: Site, rec_line: SiteLine | None = None,
               names: dict[int, str] | None = None) -> tuple[SiteLine | None, dict[int, str]]:
    """The site's reconciliation line (computed if not given) and the names of its funding sources by id (looked
    up unless given)."""
    if rec_line is not None and names is not None:
        return rec_line, names
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


def rows(lines: Iterable[Any]) -> Iterator[dict]:
    """The sheet's rows of one site's ``lines`` (rows of :func:`line_statement`), numbered in date order; a reversal
    names the number of the line it reverses."""
    ordered = sorted(lines, key=lambda line: (line.entry_date, line.id))
    numbers = {line.id: number for number, line in enumerate(ordered, start=1)}
    for line in ordered:
        note = line.note
        if line.reverses_id is not None and line.reverses_id in numbers:
            note = _("冲销第 %(n)d 笔", n=numbers[line.reverses_id]) + ("；" + note if note else "")
        yield {
            "number": numbers[line.id],
            "entry_date": line.entry_date,
            "item": line.item,
            "category": spending_category_title(line.category),
            "source": line.source,
            "amount": line.amount_fen,
            "payee": line.payee,
            "receipt": line.receipt or "",
            "note": note,
        }


def columns() -> list[Column]:
    return [
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


def sheet(site: Site, sheet_rows: Iterable[dict], rec_line: SiteLine | None = None,
          names: dict[int, str] | None = None) -> Sheet:
    """``sheet_rows``: :func:`rows` of the site's lines (a list, or a generator the writer consumes);
    ``rec_line`` and ``names``: the site's reconciliation line and its sources' names, computed if not given."""
    rec_line, names = site_money(site, rec_line, names)
    notes = [
        _("项目：%(p)s", p=site.programme.name),
        _("镇(街道)：%(t)s    村(社区)：%(c)s", t=site.township.name, c=site.community.name),
        _("补助档次：%(tier)s", tier=site.tier.name if site.tier else _("未定")),
        *money_notes(rec_line, names),
        _("金额单位：元；冲销分录以负数列示。"),
    ]
    return Sheet(name=_("资金使用明细"), columns=columns(), rows=sheet_rows,
                 title=_("%(community)s项目资金使用明细表", community=site.community.name), notes=notes)
