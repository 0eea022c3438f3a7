"""Reconciliation: allocated, disbursed, spent and balance per site and source, rolled up to township and
programme — three grouped queries whatever the number of lines — and the lines that disagree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from app.database import china_today
from app.extensions import db
from app.funding.models import Allocation, Disbursement, Site, SpendingLine
from app.places.models import Township
from app.programmes.models import FundingSource, Programme

# A site paid this long ago that has recorded no spending is flagged.
IDLE_AFTER = timedelta(days=90)


@dataclass
class Totals:
    allocated: int = 0
    disbursed: int = 0
    spent: int = 0

    @property
    def balance(self) -> int:
        """Paid out but not yet spent."""
        return self.disbursed - self.spent

    @property
    def undisbursed(self) -> int:
        return self.allocated - self.disbursed

    @property
    def share_used(self) -> float | None:
        # A ratio for display only; the money itself is never a float.
        return self.spent / self.allocated if self.allocated else None

    def add(self, other: Totals) -> None:
        self.allocated += other.allocated
        self.disbursed += other.disbursed
        self.spent += other.spent


@dataclass
class SiteLine:
    site: Site
    by_source: dict[int, Totals] = field(default_factory=dict)
    total: Totals = field(default_factory=Totals)
    first_payment: date | None = None
    flags: list[str] = field(default_factory=list)


@dataclass
class TownshipLine:
    township: Township
    sites: list[SiteLine] = field(default_factory=list)
    total: Totals = field(default_factory=Totals)


@dataclass
class Reconciliation:
    programme: Programme
    sources: list[FundingSource]
    townships: list[TownshipLine]
    by_source: dict[int, Totals]
    total: Totals

    @property
    def sites(self) -> list[SiteLine]:
        return [site for township in self.townships for site in township.sites]


LEDGERS = (("allocated", Allocation), ("disbursed", Disbursement), ("spent", SpendingLine))


def text(constant: str):
    """A constant of our own as an SQL string literal (typed on every database, unlike a bound parameter)."""
    return sa.literal_column(f"'{constant}'", sa.String)


def ledger_sums(keys, where) -> dict[tuple, Totals]:
    """{key: Totals} of the three ledgers in ONE statement (a UNION ALL of three grouped sums over the lines of
    the sites that ``where`` picks; ``where`` speaks of ``Site``). ``keys(model)`` lists the grouping columns, of
    the ledger or of ``Site``; the key is their values."""
    parts = []
    for name, model in LEDGERS:
        columns = keys(model)
        parts.append(
            sa.select(text(name).label("ledger"), *[c.label(f"k{i}") for i, c in enumerate(columns)],
                      sa.func.sum(model.amount_fen).label("amount"))
            .join(Site, Site.id == model.site_id).where(where).group_by(*columns)
        )
    result: dict[tuple, Totals] = defaultdict(Totals)
    for ledger, *key, amount in db.session.execute(sa.union_all(*parts)):
        setattr(result[tuple(key)], ledger, getattr(result[tuple(key)], ledger) + int(amount))
    return result


def site_flags(line: SiteLine, today: date) -> list[str]:
    """What finance should look at: more spent than paid, more paid than allocated, money lying idle."""
    from flask_babel import gettext as _

    flags = []
    for totals in line.by_source.values():
        if totals.spent > totals.disbursed:
            flags.append(_("支出超过已拨付"))
            break
    for totals in line.by_source.values():
        if totals.disbursed > totals.allocated:
            flags.append(_("拨付超过下达"))
            break
    if line.first_payment and line.total.spent == 0 and today - line.first_payment > IDLE_AFTER:
        flags.append(_("拨付三个月后仍无支出"))
    return flags


def _first_payments(where) -> dict[int, date]:
    return dict(db.session.execute(
        sa.select(Disbursement.site_id, sa.func.min(Disbursement.entry_date))
        .join(Site, Site.id == Disbursement.site_id)
        .where(where, Disbursement.amount_fen > 0).group_by(Disbursement.site_id)
    ).tuples().all())


def _sources(source_ids) -> list[FundingSource]:
    source_ids = sorted(set(source_ids))
    return db.session.scalars(
        sa.select(FundingSource).where(FundingSource.id.in_(source_ids)).order_by(FundingSource.sort_order,
                                                                                   FundingSource.id)
    ).all() if source_ids else []


def _site_lines(sites: list[Site], sums: dict[tuple, Totals], first_payment: dict[int, date],
                sources: list[FundingSource], today: date) -> dict[int, TownshipLine]:
    """Site lines by township (townships in the order their first site comes), each township's total the sum of
    its lines."""
    townships: dict[int, TownshipLine] = {}
    for site in sites:
        line = SiteLine(site=site, first_payment=first_payment.get(site.id))
        for source in sources:
            totals = sums.get((site.id, source.id))
            if totals is not None and (totals.allocated or totals.disbursed or totals.spent):
                line.by_source[source.id] = Totals(totals.allocated, totals.disbursed, totals.spent)
                line.total.add(totals)
        line.flags = site_flags(line, today)
        township = townships.setdefault(site.township_id, TownshipLine(township=site.township))
        township.sites.append(line)
        township.total.add(line.total)
    return townships


def _ordered(townships: dict[int, TownshipLine]) -> list[TownshipLine]:
    return sorted(townships.values(), key=lambda t: (t.township.sort_order, t.township.id))


def reconciliation(programme: Programme, site_filter=sa.true(), today: date | None = None) -> Reconciliation:
    """Every site the filter lets through: four queries whatever the number of sites and lines."""
    today = today or china_today()
    where = sa.and_(Site.programme_id == programme.id, site_filter)
    sites = db.session.scalars(
        sa.select(Site).where(where)
        .options(sa.orm.joinedload(Site.township), sa.orm.joinedload(Site.community), sa.orm.joinedload(Site.tier))
        .order_by(Site.township_id, Site.rank, Site.id)
    ).unique().all()
    if not sites:
        return Reconciliation(programme=programme, sources=[], townships=[], by_source={}, total=Totals())
    sums = ledger_sums(lambda model: [model.site_id, model.source_id], where)
    sources = _sources(source_id for _site_id, source_id in sums)
    townships = _site_lines(sites, sums, _first_payments(where), sources, today)
    by_source: dict[int, Totals] = defaultdict(Totals)
    total = Totals()
    for township in townships.values():
        total.add(township.total)
        for line in township.sites:
            for source_id, totals in line.by_source.items():
                by_source[source_id].add(totals)
    return Reconciliation(programme=programme, sources=list(sources), townships=_ordered(townships),
                          by_source=dict(by_source), total=total)


def site_order(programme: Programme, site_filter=sa.true()) -> sa.Select:
    """The programme's sites as the reconciliation lists them (by township, then rank), with what a line shows."""
    return (
        sa.select(Site).join(Township, Township.id == Site.township_id)
        .where(Site.programme_id == programme.id, site_filter)
        .options(sa.orm.contains_eager(Site.township), sa.orm.joinedload(Site.community),
                 sa.orm.joinedload(Site.tier))
        .order_by(Township.sort_order, Township.id, Site.rank, Site.id)
    )


def reconciliation_page(programme: Programme, sites: list[Site], site_filter=sa.true(),
                        today: date | None = None) -> Reconciliation:
    """The reconciliation of one page of ``sites`` (from :func:`site_order`): their lines, and the totals of
    their townships, of each source and of the programme over EVERY site the filter lets through — as
    :func:`reconciliation` has them. Four queries whatever the number of sites and lines."""
    today = today or china_today()
    where = sa.and_(Site.programme_id == programme.id, site_filter)
    if not sites:
        return Reconciliation(programme=programme, sources=[], townships=[], by_source={}, total=Totals())
    shown = sorted({site.township_id for site in sites})
    ids = [site.id for site in sites]
    # One statement for the page's sites, their townships' totals and the programme's totals by source.
    sums: dict[tuple, Totals] = defaultdict(Totals)
    parts = []
    for name, model in LEDGERS:
        amount = sa.func.sum(model.amount_fen).label("amount")
        joined = sa.select().select_from(model).join(Site, Site.id == model.site_id).where(where)
        parts += [
            joined.add_columns(text(name), text("site"), model.site_id, model.source_id, amount)
            .where(model.site_id.in_(ids)).group_by(model.site_id, model.source_id),
            joined.add_columns(text(name), text("township"), Site.township_id, model.source_id, amount)
            .where(Site.township_id.in_(shown)).group_by(Site.township_id, model.source_id),
            joined.add_columns(text(name), text("source"), sa.literal_column("0"), model.source_id, amount)
            .group_by(model.source_id),
        ]
    for ledger, level, key, source_id, amount in db.session.execute(sa.union_all(*parts)):
        totals = sums[(level, key, source_id)]
        setattr(totals, ledger, getattr(totals, ledger) + int(amount))
    sources = _sources(source_id for level, _key, source_id in sums if level == "source")
    site_sums = {(key, source_id): t for (level, key, source_id), t in sums.items() if level == "site"}
    townships = _site_lines(sites, site_sums, _first_payments(Site.id.in_(ids)), sources, today)
    for township_id, township in townships.items():  # the whole township, not only its sites on this page
        township.total = Totals()
        for source in sources:
            township.total.add(sums.get(("township", township_id, source.id), Totals()))
    by_source = {source.id: sums[("source", 0, source.id)] for source in sources}
    total = Totals()
    for totals in by_source.values():
        total.add(totals)
    return Reconciliation(programme=programme, sources=list(sources), townships=_ordered(townships),
                          by_source=by_source, total=total)
