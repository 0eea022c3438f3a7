"""The report shelf: the nine sheets the bureau and finance file upward, each with the filters that apply to it and
one ``build(filters, user) -> list[Sheet]``.

Every build reuses the report module and the query of its page (nothing is computed twice), and is confined to
what ``user`` may see: the scope predicates of :mod:`app.permissions` are always applied, and a filter id outside
the user's scope (another township, a programme the user cannot see) narrows the result to nothing — it never
widens it and never fails. The same Sheet objects serve the HTML page and the workbook, so the two cannot disagree;
:func:`cell_text` and :func:`totals` show a cell and the 合计 row as the workbook writer does.

Query counts do not grow with the number of rows: each build runs a fixed number of grouped or eager-loaded
queries (the site spending sheets included: the per-site money notes are made from the one reconciliation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.applications.models import Application
from app.applications.queries import filtered_applications
from app.database import CHINA
from app.extensions import db
from app.funding.models import Site, SpendingLine
from app.funding.queries import reconciliation
from app.permissions import (
    Permission,
    application_filter,
    community_filter,
    has_permission,
    programme_filter,
    site_filter,
    township_scope,
)
from app.places.models import Community, Township
from app.programmes.models import FundingTier, Programme
from app.scoring.models import Assignment, Selection, SelectionEntry, SelectionStatus
from app.tracking.models import ProgressNotice
from reports import (
    applications,
    archive_completeness,
    ledger_book,
    monthly_summary,
    notices,
    scoring_summary,
    selection_list,
    site_spending,
)
from reports import reconciliation as reconciliation_report
from reports.xlsx import SUBTOTAL, Column, Sheet, yuan_text

PROGRAMME, YEAR, TOWNSHIP = "programme", "year", "township"
MONTHS, DATES = "months", "dates"  # the two kinds of period: a range of months, a range of dates (both included)


@dataclass(frozen=True)
class Filters:
    programme_id: int | None = None
    year: int | None = None
    township_id: int | None = None
    start: date | None = None  # a month range holds first days of months
    end: date | None = None


@dataclass(frozen=True)
class Report:
    key: str
    title: Any  # lazy: translated when shown
    description: Any
    filters: frozenset[str]
    build: Callable[[Filters, Any], list[Sheet]]
    period: str | None = None  # MONTHS, DATES or None
    # A report about one programme opens on the newest programme that has what it shows: "any", "sites",
    # "selection" or "scored"; None when the programme is an optional filter.
    programme_needs: str | None = None
    permission: str | None = None  # needed beyond Permission.REPORTS_VIEW

    def applies(self, name: str) -> bool:
        return name in self.filters


# --- scope ---------------------------------------------------------------------------------------------------


class OutOfScope(Exception):
    """A filter names something the user may not see: the result is empty."""


def _township(filters: Filters, user) -> int | None:
    """The township to narrow to (None: all the user may see); OutOfScope for another township than the user's."""
    scope = township_scope(user)
    if filters.township_id is None:
        return None
    if scope is not None and filters.township_id != scope:
        raise OutOfScope
    return filters.township_id


def default_programme_id(report: Report, user) -> int | None:
    """The newest programme the user may see that has what ``report`` shows (else the newest one at all)."""
    base = sa.select(Programme.id).where(programme_filter(user)).order_by(Programme.year.desc(), Programme.id.desc())
    needs = {
        "sites": Programme.id.in_(sa.select(Site.programme_id).where(site_filter(user))),
        "selection": Programme.id.in_(sa.select(Selection.programme_id)),
        "scored": Programme.id.in_(sa.select(Application.programme_id).join(
            Assignment, Assignment.application_id == Application.id)),
    }.get(report.programme_needs or "")
    if needs is not None:
        found = db.session.scalar(base.where(needs).limit(1))
        if found is not None:
            return found
    return db.session.scalar(base.limit(1))


def _programme(report: Report, filters: Filters, user) -> Programme:
    """The programme the report is about: the one chosen, if the user may see it, or the default."""
    programme_id = filters.programme_id or default_programme_id(report, user)
    programme = db.session.scalar(
        sa.select(Programme).where(Programme.id == (programme_id or 0), programme_filter(user)))
    if programme is None:
        raise OutOfScope
    return programme


def _site_scope(filters: Filters, user):
    township = _township(filters, user)
    return sa.and_(site_filter(user), sa.true() if township is None else Site.township_id == township)


def _year_period(filters: Filters) -> tuple[date | None, date | None]:
    """The period narrowed to the year, if one is given (the later start, the earlier end)."""
    start, end = filters.start, filters.end
    if filters.year is not None:
        first, last = date(filters.year, 1, 1), date(filters.year, 12, 31)
        start = max(start, first) if start else first
        end = min(end, last) if end else last
    return start, end


def _keep(sheets: list[Sheet], key: str, allowed: set) -> list[Sheet]:
    """Only the rows whose ``key`` is among ``allowed`` (subtotal rows go with them: such sheets have none)."""
    for sheet in sheets:
        sheet.rows = [row for row in sheet.rows if row.get(key) in allowed]
    return sheets


def _visible_references(programme: Programme, filters: Filters, user) -> set[str]:
    township = _township(filters, user)
    query = sa.select(Application.reference).where(Application.programme_id == programme.id,
                                                   application_filter(user))
    if township is not None:
        query = query.where(Application.township_id == township)
    return set(db.session.scalars(query))


# --- the nine builds ------------------------------------------------------------------------------------------


def _applications(filters: Filters, user) -> list[Sheet]:
    township = _township(filters, user)
    programme = None
    if filters.programme_id is not None:
        programme = db.session.scalar(sa.select(Programme).where(Programme.id == filters.programme_id,
                                                                 programme_filter(user)))
        if programme is None:
            raise OutOfScope
    query = filtered_applications(application_filter(user), {"programme": filters.programme_id,
                                                             "township": township})
    query = query.where(programme_filter(user))
    if filters.year is not None:
        query = query.where(Programme.year == filters.year)
    sheet = applications.sheet(query)
    if programme is not None:
        sheet.title = _("%(name)s 申报汇总表", name=programme.name)
    return [sheet]


def _scoring(filters: Filters, user) -> list[Sheet]:
    if not has_permission(user, Permission.RANKING_VIEW):
        raise OutOfScope
    programme = _programme(REPORTS["scoring"], filters, user)
    sheets = scoring_summary.sheets(programme)
    if filters.township_id is not None:
        _keep(sheets, "reference", _visible_references(programme, filters, user))
    return sheets


def _selection(filters: Filters, user) -> list[Sheet]:
    programme = _programme(REPORTS["selection"], filters, user)
    # The entries with their applications, places and tiers in a few queries, so the list makes none per row.
    selection = db.session.scalar(
        sa.select(Selection).where(Selection.programme_id == programme.id).options(
            sa.orm.selectinload(Selection.entries).options(
                sa.orm.joinedload(SelectionEntry.application).options(
                    sa.orm.joinedload(Application.township), sa.orm.joinedload(Application.community)),
                sa.orm.joinedload(SelectionEntry.tier).selectinload(FundingTier.amounts))))
    if selection is None:
        return []
    if selection.status == SelectionStatus.PROPOSED and not has_permission(user, Permission.RANKING_VIEW):
        raise OutOfScope  # townships see the list once it is published
    sheets = [selection_list.sheet(selection)]
    return _keep(sheets, "reference", _visible_references(programme, filters, user))


def _reconciliation(filters: Filters, user) -> list[Sheet]:
    programme = _programme(REPORTS["reconciliation"], filters, user)
    return reconciliation_report.sheets(reconciliation(programme, _site_scope(filters, user)))


class _LinesBySite:
    """A programme's spending lines in ONE streamed query, in the order of the sheets (township, rank, site; then
    date), handed out one site at a time: the site spending report's sheets take their rows as the writer reaches
    them, so a whole province's programme is never in memory at once. Sites must be asked for in that order."""

    def __init__(self, statement: sa.Select, site_ids: list[int]):
        self._statement = statement
        self._position = {site_id: at for at, site_id in enumerate(site_ids)}
        self._lines = None
        self._head = None
        self._last = -1

    def _advance(self) -> None:
        self._head = next(self._lines, None)

    def take(self, site_id: int) -> list:
        at = self._position[site_id]
        if at < self._last:
            raise RuntimeError("the sites' lines are read in the order of the sheets")
        self._last = at
        if self._lines is None:
            self._lines = iter(db.session.execute(self._statement.execution_options(yield_per=2000)))
            self._advance()
        while self._head is not None and self._position.get(self._head.site_id, -1) < at:
            self._advance()
        taken = []
        while self._head is not None and self._head.site_id == site_id:
            taken.append(self._head)
            self._advance()
        return taken


def _site_spending(filters: Filters, user) -> list[Sheet]:
    """One sheet per site: each is that site's 项目资金使用明细表 exactly as its own page exports it."""
    programme = _programme(REPORTS["site-spending"], filters, user)
    scope = _site_scope(filters, user)
    rec = reconciliation(programme, scope)
    names = {source.id: source.name for source in rec.sources}
    lines = _LinesBySite(
        site_spending.line_statement().join(Township, Township.id == Site.township_id)
        .where(Site.programme_id == programme.id, scope)
        .order_by(Township.sort_order, Township.id, Site.rank, Site.id, SpendingLine.entry_date, SpendingLine.id),
        [line.site.id for line in rec.sites])

    def rows(site_id: int):
        yield from site_spending.rows(lines.take(site_id))

    result, taken = [], set()
    for line in rec.sites:
        sheet = site_spending.sheet(line.site, rows(line.site.id), line, names)
        sheet.name = reconciliation_report._sheet_name(f"{line.site.township.name}{line.site.community.name}", taken)
        result.append(sheet)
    return result


def _monthly(filters: Filters, user) -> list[Sheet]:
    programme = _programme(REPORTS["monthly"], filters, user)
    return [monthly_summary.sheet(programme, _site_scope(filters, user), filters.start, filters.end)]


def _archive(filters: Filters, user) -> list[Sheet]:
    programme = _programme(REPORTS["archive"], filters, user)
    return [archive_completeness.sheet(programme, _site_scope(filters, user))]


def _ledger(filters: Filters, user) -> list[Sheet]:
    township = _township(filters, user)
    if not has_permission(user, Permission.TRACKING_VIEW):
        raise OutOfScope
    condition = sa.and_(community_filter(user), sa.true() if township is None else Community.township_id == township)
    start, end = _year_period(filters)
    title = _("协商议事台账")
    if township is not None:
        place = db.session.get(Township, township)
        title = _("%(place)s协商议事台账", place=place.name) if place is not None else title
    return [ledger_book.sheet(condition, start, end, title=title)]


def _notices(filters: Filters, user) -> list[Sheet]:
    township = _township(filters, user)
    if not has_permission(user, Permission.TRACKING_VIEW):
        raise OutOfScope
    scope = township_scope(user)
    condition = sa.and_(
        programme_filter(user),
        sa.true() if scope is None else ProgressNotice.township_id == scope,
        sa.true() if township is None else ProgressNotice.township_id == township,
        sa.true() if filters.programme_id is None else ProgressNotice.programme_id == filters.programme_id,
        sa.true() if filters.year is None else Programme.year == filters.year,
    )
    title = _("通报")
    if filters.programme_id is not None:
        programme = db.session.scalar(sa.select(Programme).where(Programme.id == filters.programme_id,
                                                                 programme_filter(user)))
        if programme is None:
            raise OutOfScope
        title = _("%(name)s 通报", name=programme.name)
    return notices.sheets(condition, filters.start, filters.end, title=title)


_ALL = frozenset({PROGRAMME, YEAR, TOWNSHIP})
REPORT_LIST = [
    Report("applications", _l("申报汇总表"),
           _l("各镇(街道)推荐申报的村(社区)、项目、状态、提交时间和预算，按项目、年度、镇(街道)筛选。"),
           _ALL, _applications),
    Report("scoring", _l("评分汇总表"),
           _l("一个项目的评审排名：每位评审人的总分、有效评分人数、平均分，以及每张评分表的逐项得分。"),
           frozenset({PROGRAMME, TOWNSHIP}), _scoring, programme_needs="scored", permission=Permission.RANKING_VIEW),
    Report("selection", _l("拟确定名单"),
           _l("拟确定（或已确定）的示范点名单：评审排名、平均分、补助档次和金额、调整理由。"),
           frozenset({PROGRAMME, TOWNSHIP}), _selection, programme_needs="selection"),
    Report("reconciliation", _l("资金拨付与使用对账表"),
           _l("每个项目点的下达、拨付、支出、结余，按镇(街道)小计；每个资金来源一张表；全部台账明细。"),
           frozenset({PROGRAMME, TOWNSHIP}), _reconciliation, programme_needs="sites"),
    Report("site-spending", _l("项目资金使用明细表"),
           _l("一个项目全部项目点的资金使用明细（档案第⑤类），每个项目点一张工作表，附下达、拨付、支出合计。"),
           frozenset({PROGRAMME, TOWNSHIP}), _site_spending, programme_needs="sites"),
    Report("monthly", _l("月度进展汇总表"), _l("项目点 × 月份：每月进展按时、逾期、缺报或未到期，及各项计数。"),
           frozenset({PROGRAMME, TOWNSHIP}), _monthly, period=MONTHS, programme_needs="sites"),
    Report("archive", _l("档案完整性检查表"), _l("项目点 × 八类档案材料：每类份数、已有类别数和完整度。"),
           frozenset({PROGRAMME, TOWNSHIP}), _archive, programme_needs="sites"),
    Report("ledger", _l("协商议事台账"),
           _l("所辖村(社区)的协商记录表全部内容：议题、主体、时间地点、过程、表决人数及协商结果是否成立（赞成超过三分之二）。"),
           frozenset({YEAR, TOWNSHIP}), _ledger, period=DATES),
    Report("notices", _l("通报"), _l("市民政局对进度滞后的镇(街道)发出的通报，及各镇(街道)的通报次数。"),
           _ALL, _notices, period=DATES),
]
REPORTS: dict[str, Report] = {report.key: report for report in REPORT_LIST}


def may_open(report: Report, user) -> bool:
    return has_permission(user, Permission.REPORTS_VIEW) and (
        report.permission is None or has_permission(user, report.permission))


def build(report: Report, filters: Filters, user) -> list[Sheet]:
    """The report's sheets for ``user`` under ``filters``; empty when out of scope. A sheet's rows may be a
    generator (the long ones stream from the database): read each sheet's rows once, in the order of the sheets."""
    if not may_open(report, user):
        return []
    try:
        return report.build(filters, user)
    except OutOfScope:
        return []


SHOWN_ROWS = 500  # rows of one sheet on the page; the workbook has them all
SHOWN_SHEETS = 40  # sheets on the page (the site spending report has one per site)


@dataclass
class ShownSheet:
    """A sheet as the page shows it: its first rows, how many it has, and its 合计 over all of them."""

    sheet: Sheet
    rows: list[dict]
    count: int
    totals: dict[str, int | Decimal] | None
    closing: dict | None = None  # the last row, when the rows are cut and it is the sheet's own 合计 (a subtotal)

    @property
    def cut(self) -> bool:
        return self.count > len(self.rows)


def show(sheets: list[Sheet]) -> list[ShownSheet]:
    """The first :data:`SHOWN_SHEETS` sheets, each read once: its first :data:`SHOWN_ROWS` rows kept, all of them
    counted and summed, so the page of a province's report stays small and its totals are those of the workbook."""
    shown, rows = [], SHOWN_ROWS
    for sheet in sheets[:SHOWN_SHEETS]:
        kept, count, last = [], 0, None
        sums = _TotalsRow(sheet)
        for row in sheet.rows:
            if count < rows:
                kept.append(row)
            count += 1
            sums.add(row)
            last = row
        closing = last if count > rows and last.get(SUBTOTAL) else None
        shown.append(ShownSheet(sheet, kept, count, sums.values, closing))
    return shown


def with_default_programme(report: Report, filters: Filters, user) -> Filters:
    if report.programme_needs and filters.programme_id is None:
        return replace(filters, programme_id=default_programme_id(report, user))
    return filters


def placeholder(report: Report) -> Sheet:
    """The one sheet of a workbook that has nothing to show (a workbook needs a sheet)."""
    title = str(report.title)
    return Sheet(name=title, columns=[Column("note", _("说明"), width=40)], rows=[], title=title,
                 notes=[_("没有符合条件的数据。")])


# --- showing what the workbook shows ----------------------------------------------------------------------------


class _TotalsRow:
    """The 合计 row as the writer makes it: the sum of each total column over the rows that are not subtotals
    (``values`` is None for a sheet without total columns)."""

    def __init__(self, sheet: Sheet):
        keys = [column.key for column in sheet.columns if column.total]
        self.values: dict[str, int | Decimal] | None = {key: 0 for key in keys} if keys else None

    def add(self, row: dict) -> None:
        if self.values is None or row.get(SUBTOTAL):
            return
        for key in self.values:
            value = row.get(key)
            if isinstance(value, int | Decimal) and not isinstance(value, bool):
                self.values[key] += value


def _decimal_text(value, places: int, keep: int) -> str:
    """``value`` rounded half up to ``places`` decimals, trailing zeros dropped down to ``keep``."""
    quantum = Decimal(1).scaleb(-places)
    text = f"{Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP):,.{places}f}"
    while places > keep and text.endswith("0"):
        text, places = text[:-1], places - 1
    return text.rstrip(".")


def cell_text(column: Column, value) -> str:
    """A cell as the workbook shows it (its number formats: ¥#,##0.00, #,##0, #,##0.0#, 0.0%, dates)."""
    if value is None or value == "":
        return ""
    numeric = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    if column.kind == "money_fen" and numeric:
        return yuan_text(int(value))
    if column.kind == "int" and numeric:
        return f"{int(value):,}"
    if column.kind == "decimal" and numeric:
        return _decimal_text(value, 2, 1)
    if column.kind == "percent" and numeric:
        return _decimal_text(Decimal(str(value)) * 100, 1, 1) + "%"
    if column.kind == "datetime" and isinstance(value, datetime):
        local = value.astimezone(CHINA) if value.tzinfo else value
        return f"{local:%Y-%m-%d %H:%M:%S}"
    if column.kind in ("date", "datetime") and isinstance(value, date):
        return value.isoformat()
    return str(value)


def filter_titles(report: Report) -> list[str]:
    titles = [title for name, title in ((PROGRAMME, _("项目")), (YEAR, _("年度")), (TOWNSHIP, _("镇(街道)")))
              if report.applies(name)]
    if report.period:
        titles.append(_("月份范围") if report.period == MONTHS else _("日期范围"))
    return titles


def describe(report: Report, filters: Filters) -> str:
    """The filters in words, for the workbook's subtitle."""
    parts = []
    if report.applies(PROGRAMME):
        programme = db.session.get(Programme, filters.programme_id) if filters.programme_id else None
        parts.append(_("项目：%(v)s", v=programme.name if programme else _("全部")))
    if report.applies(YEAR):
        parts.append(_("年度：%(v)s", v=filters.year or _("全部")))
    if report.applies(TOWNSHIP):
        township = db.session.get(Township, filters.township_id) if filters.township_id else None
        parts.append(_("镇(街道)：%(v)s", v=township.name if township else _("全部")))
    if report.period and (filters.start or filters.end):
        shown = (lambda day: f"{day:%Y-%m}") if report.period == MONTHS else (lambda day: day.isoformat())
        parts.append(_("期间：%(a)s 至 %(b)s", a=shown(filters.start) if filters.start else "…",
                       b=shown(filters.end) if filters.end else "…"))
    return "；".join(parts)
