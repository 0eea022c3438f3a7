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


def _grouped(model, site_ids: list[int]) -> dict[tuple[int, int], int]:
    if not site_ids:
        return {}
    rows = db.session.execute(
        sa.select(model.site_id, model.source_id, sa.func.sum(model.amount_fen))
        .where(model.site_id.in_(site_ids))
        .group_by(model.site_id, model.source_id)
    )
    return {(site_id, source_id): int(total) for site_id, source_id, total in rows}


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


def reconciliation(programme: Programme, site_filter=sa.true(), today: date | None = None) -> Reconciliation:
    today = today or china_today()
    sites = db.session.scalars(
        sa.select(Site).where(Site.programme_id == programme.id, site_filter)
        .options(sa.orm.joinedload(Site.township), sa.orm.joinedload(Site.community), sa.orm.joinedload(Site.tier))
        .order_by(Site.township_id, Site.rank, Site.id)
    ).unique().all()
    ids = [site.id for site in sites]
    allocated, disbursed, spent = _grouped(Allocation, ids), _grouped(Disbursement, ids), _grouped(SpendingLine, ids)
    first_payment = dict(db.session.execute(
        sa.select(Disbursement.site_id, sa.func.min(Disbursement.entry_date))
        .where(Disbursement.site_id.in_(ids), Disbursement.amount_fen > 0).group_by(Disbursement.site_id)
    ).tuples().all()) if ids else {}
    source_ids = sorted({key[1] for key in (*allocated, *disbursed, *spent)})
    sources = db.session.scalars(
        sa.select(FundingSource).where(FundingSource.id.in_(source_ids)).order_by(FundingSource.sort_order,
                                                                                   FundingSource.id)
    ).all() if source_ids else []
    townships: dict[int, TownshipLine] = {}
    by_source: dict[int, Totals] = defaultdict(Totals)
    total = Totals()
    for site in sites:
        line = SiteLine(site=site, first_payment=first_payment.get(site.id))
        for source in sources:
            key = (site.id, source.id)
            totals = Totals(allocated.get(key, 0), disbursed.get(key, 0), spent.get(key, 0))
            if totals.allocated or totals.disbursed or totals.spent:
                line.by_source[source.id] = totals
                line.total.add(totals)
                by_source[source.id].add(totals)
        line.flags = site_flags(line, today)
        township = townships.setdefault(site.township_id, TownshipLine(township=site.township))
        township.sites.append(line)
        township.total.add(line.total)
        total.add(line.total)
    ordered = sorted(townships.values(), key=lambda t: (t.township.sort_order, t.township.id))
    return Reconciliation(programme=programme, sources=list(sources), townships=ordered,
                          by_source=dict(by_source), total=total)
