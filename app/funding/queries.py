"""Reconciliation: allocated, disbursed, spent and balance per site and source, rolled up to township and
programme — a few grouped queries whatever the number of lines — and the lines that disagree. The page lists one
page of sites (:func:`site_page`, :func:`page_sums`); the workbooks take every site (:func:`reconciliation`).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction

import sqlalchemy as sa
from flask_babel import lazy_gettext

from app.database import china_today
from app.extensions import db
from app.funding.models import Allocation, Disbursement, Site, SpendingLine
from app.places.models import Community, Township
from app.programmes.models import FundingSource, FundingTier, Programme
from app.statements import Mark, Remembered, remembered_for_filter, scoped_statement, select_rows

# What the reconciliation's derived columns mean, on the page and in the workbook.
TERMS = lazy_gettext("结余 = 拨付 − 支出；未拨付 = 下达 − 拨付；使用率 = 支出 ÷ 下达。")

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
    def share_used(self) -> Fraction | None:
        """使用率: spent over allocated (the budget), exact. An overspent site (spent above what was paid) is shown by
        its negative 结余 and its flag, not by this share."""
        return Fraction(self.spent, self.allocated) if self.allocated else None

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


OVERSPENT, OVERPAID, IDLE = "overspent", "overpaid", "idle"


def flag_kinds(by_source: Iterable[Totals], spent: int, first_payment: date | None, today: date) -> list[str]:
    """What finance should look at: more spent than paid, more paid than allocated (for some source), money lying
    idle (``spent`` being the site's total)."""
    by_source = list(by_source)
    kinds = []
    if any(totals.spent > totals.disbursed for totals in by_source):
        kinds.append(OVERSPENT)
    if any(totals.disbursed > totals.allocated for totals in by_source):
        kinds.append(OVERPAID)
    if first_payment and spent == 0 and today - first_payment > IDLE_AFTER:
        kinds.append(IDLE)
    return kinds


def flag_text(kind: str) -> str:
    """The words for one of :func:`flag_kinds`."""
    from flask_babel import gettext as _

    if kind == OVERSPENT:
        return _("支出超过已拨付")
    if kind == OVERPAID:
        return _("拨付超过下达")
    return _("拨付三个月后仍无支出")


def site_flags(line: SiteLine, today: date) -> list[str]:
    """The texts of :func:`flag_kinds` for one site line."""
    return [flag_text(kind) for kind in flag_kinds(line.by_source.values(), line.total.spent, line.first_payment,
                                                   today)]


def _first_payments(where) -> dict[int, date]:
    return dict(db.session.execute(
        sa.select(Disbursement.site_id, sa.func.min(Disbursement.entry_date))
        .join(Site, Site.id == Disbursement.site_id)
        .where(where, Disbursement.amount_fen > 0).group_by(Disbursement.site_id)
    ).tuples().all())


def sources_in_order(source_ids) -> list[FundingSource]:
    """The funding sources of ``source_ids`` in the order the pages list them."""
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
    sources = sources_in_order(source_id for _site_id, source_id in sums)
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


def _site_page_statement(site_filter) -> sa.Select:
    """The page's sites are chosen first, then named: joined to every community before the limit, PostgreSQL hashed
    all of them (some 20,000 in a province) for a page of fifty."""
    page = (
        sa.select(Site.id, Site.township_id, Site.community_id, Site.tier_id, Township.sort_order, Site.rank,
                  sa.func.count().over().label("total"))
        .join(Township, Township.id == Site.township_id)
        .where(Site.programme_id == sa.bindparam("programme_id"), site_filter)
        .order_by(Township.sort_order, Township.id, Site.rank, Site.id)
        .limit(sa.bindparam("limit")).offset(sa.bindparam("offset"))
    ).subquery()
    return (
        sa.select(page.c.id, page.c.township_id, Township.name.label("township"), Community.name.label("community"),
                  FundingTier.name.label("tier"), page.c.total)
        .select_from(page)
        .join(Township, Township.id == page.c.township_id)
        .outerjoin(Community, Community.id == page.c.community_id)
        .outerjoin(FundingTier, FundingTier.id == page.c.tier_id)
        .order_by(page.c.sort_order, page.c.township_id, page.c.rank, page.c.id)
    )


def site_page(programme: Programme, site_filter, number: int, size: int,
              mark: Mark = None) -> tuple[list[sa.Row], int]:
    """Page ``number`` (from 1) of ``size`` sites in the reconciliation's order (township, then rank), as the
    columns a line of the reconciliation page shows (``id``, ``township_id``, ``township``, ``community``,
    ``tier``), and how many sites the filter lets through in all. One statement (the count is a window over the same
    rows); a page past the end costs a count more. ``mark``: the :func:`changes_mark` the caller read, under which
    the page is remembered (sites, their places and tiers are audited); None: read it."""

    def read() -> tuple[list[sa.Row], int]:
        rows = select_rows(scoped_statement(_site_page_statement, site_filter), programme_id=programme.id,
                           limit=size, offset=(number - 1) * size)
        if rows or number == 1:
            return rows, rows[0].total if rows else 0
        return rows, db.session.scalar(sa.select(sa.func.count(Site.id))
                                       .where(Site.programme_id == programme.id, site_filter))

    return remembered_for_filter(_SITE_PAGES, (programme.id, number, size), site_filter, mark, read)


_SITE_PAGES = Remembered()


@dataclass
class PageSums:
    """The ledgers summed for one page of sites (see :func:`page_sums`)."""

    sites: dict[int, dict[int, Totals]]  # site id: {source id: Totals}, for the page's sites
    townships: dict[int, Totals]  # township id: Totals over every site of the township, for the page's townships
    sources: dict[int, Totals]  # source id: Totals over every site, for every source that has a line
    source_names: list[tuple[int, str]]  # (id, name) of those sources, in the order the pages list them
    first_payment: dict[int, date]  # site id: its first (positive) disbursement, for the page's sites


def _site_sums_statement(where) -> sa.Select:
    """Each ledger's lines of the programme's sites that ``where`` picks, summed by site and source: one row per
    (site, township, source) with a column per ledger and the site's first positive payment from that source."""
    sites = Site.__table__.c
    zero = sa.literal_column("0")
    parts = []
    for i, (_name, model) in enumerate(LEDGERS):
        lines = model.__table__.c
        amounts = [zero] * len(LEDGERS)
        amounts[i] = sa.func.sum(lines.amount_fen)
        first_paid = (sa.func.min(sa.case((lines.amount_fen > 0, lines.entry_date))) if model is Disbursement
                      else sa.cast(sa.null(), sa.Date))
        parts.append(
            sa.select(sites.id.label("site_id"), sites.township_id, lines.source_id,
                      *[amount.label(name) for amount, (name, _model) in zip(amounts, LEDGERS, strict=True)],
                      first_paid.label("first_paid"))
            .join_from(model.__table__, Site.__table__, sites.id == lines.site_id)
            .where(sites.programme_id == sa.bindparam("programme_id"), where)
            .group_by(sites.id, sites.township_id, lines.source_id)
        )
    summed = sa.union_all(*parts).subquery("parts").c
    return (sa.select(summed.site_id, summed.township_id, summed.source_id,
                      *[sa.func.sum(summed[name]) for name, _model in LEDGERS], sa.func.min(summed.first_paid))
            .group_by(summed.site_id, summed.township_id, summed.source_id))


Figures = tuple[int, int, int]  # allocated, disbursed, spent


@dataclass(frozen=True)
class _LedgerSums:
    """The three ledgers of a programme summed over every site a filter lets through."""

    sites: dict[int, dict[int, Figures]]  # site id: {source id: figures}
    townships: dict[int, dict[int, Figures]]  # township id: {source id: figures}
    sources: dict[int, Figures]  # source id: figures over every site
    first_payment: dict[int, date]  # site id: its first (positive) disbursement
    source_names: list[tuple[int, str]]  # (id, name) of the sources, in the order the pages list them


# The ledger sums of a programme by site (per viewer's site filter), remembered under app.statements.changes_mark
# (the ledgers, sites and sources are audited): the page shows the totals of every township and source on every
# view, and reading them (every line of a programme of some 1,600 sites at province scale) costs 25 ms; the page's
# own sites are then looked up, not read again. A few programmes are kept: an entry holds a figure per site and
# source (about 1 MB at province scale).
_LEDGER_SUMS = Remembered(kept=8)


def _ledger_sums(programme: Programme, site_filter, mark: Mark) -> _LedgerSums:
    def compute() -> _LedgerSums:
        sites: dict[int, dict[int, Figures]] = defaultdict(dict)
        townships: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
        sources: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        first_payment: dict[int, date] = {}
        for site_id, township_id, source_id, allocated, disbursed, spent, first_paid in select_rows(
                scoped_statement(_site_sums_statement, site_filter), programme_id=programme.id):
            figures = sites[site_id][source_id] = (int(allocated), int(disbursed), int(spent))
            for summed in (townships[township_id][source_id], sources[source_id]):
                for i, amount in enumerate(figures):
                    summed[i] += amount
            if first_paid is not None and (site_id not in first_payment or first_paid < first_payment[site_id]):
                first_payment[site_id] = first_paid
        summed_townships = {township_id: {source_id: tuple(summed) for source_id, summed in by_source.items()}
                            for township_id, by_source in townships.items()}
        summed_sources = {source_id: tuple(summed) for source_id, summed in sources.items()}
        names = {row.id: (row.sort_order, row.name) for row in select_rows(
            _source_names_statement(), source_ids=list(summed_sources))} if summed_sources else {}
        order = sorted(names, key=lambda source_id: (names[source_id][0], source_id))
        return _LedgerSums(dict(sites), summed_townships, summed_sources, first_payment,
                           [(source_id, names[source_id][1]) for source_id in order])

    return remembered_for_filter(_LEDGER_SUMS, (programme.id,), site_filter, mark, compute)


def page_sums(programme: Programme, site_ids: list[int], township_ids: list[int],
              site_filter=sa.true(), mark: Mark = None) -> PageSums:
    """The sums of the three ledgers for one page of sites (``site_ids``, in ``township_ids``) and the totals over
    EVERY site the filter lets through, with the names of the sources: looked up in :func:`_ledger_sums`,
    remembered until the next change (``mark``: the :func:`changes_mark` the caller read; None: read here)."""
    ledgers = _ledger_sums(programme, site_filter, mark)
    sites = {site_id: {source_id: Totals(*figures) for source_id, figures in ledgers.sites[site_id].items()}
             for site_id in site_ids if site_id in ledgers.sites}
    first_payment = {site_id: ledgers.first_payment[site_id] for site_id in site_ids
                     if site_id in ledgers.first_payment}
    townships: dict[int, Totals] = {}
    for township_id in township_ids:  # the page's townships only: a province has some 950
        for figures in ledgers.townships.get(township_id, {}).values():
            townships.setdefault(township_id, Totals()).add(Totals(*figures))
    sources = {source_id: Totals(*figures) for source_id, figures in ledgers.sources.items()}
    return PageSums(sites, townships, sources, ledgers.source_names, first_payment)


@functools.cache
def _source_names_statement() -> sa.Select:
    return (sa.select(FundingSource.id, FundingSource.name, FundingSource.sort_order)
            .where(FundingSource.id.in_(sa.bindparam("source_ids", expanding=True))))

