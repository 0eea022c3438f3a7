"""Milestones per site and monthly progress reports: who is on time, who is late, and the 通报.

Operations flush and never commit. Deadlines are dates in China: "by the 20th" holds until the end of that day.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from app.database import CHINA, china_today, utcnow
from app.extensions import db
from app.funding.models import Site, SpendingLine
from app.places.models import Community, Township
from app.programmes.models import Milestone, MilestoneKind, Programme, ProgrammeStatus
from app.refusal import Refusal
from app.statements import Mark, Remembered, remembered_for_filter, scoped_statement, select_rows
from app.tracking.models import (
    MilestoneEvent,
    MilestoneStatus,
    MonthlyReport,
    ProgressNotice,
    ReportStatus,
    SiteMilestone,
    SpotCheck,
)

REPORT_DAY = 20
# Milestones a site answers after selection (the nomination and the monthly rhythm are tracked elsewhere).
SITE_KINDS = {MilestoneKind.CHARTER, MilestoneKind.SUMMARY, MilestoneKind.MIDTERM, MilestoneKind.COMPLETION,
              MilestoneKind.FINAL_SUMMARY, MilestoneKind.OTHER}
# The township also hands in one summary of all its sites (000 notice: 镇(街道)汇总村级总结、典型案例).
TOWNSHIP_KINDS = {MilestoneKind.SUMMARY}


class ProgressError(Refusal):
    """A step the rules refuse; the message is for the user. ``field`` names the form field it concerns, when one
    does, and ``missing`` holds what a refused submission lacks as (field, message) pairs, so that a page can show
    each at its field."""

    def __init__(self, message: str, field: str | None = None, missing: list[tuple[str, str]] | None = None):
        super().__init__(message, field)
        self.missing = missing or []


def _uid(user) -> int | None:
    return user.id if user is not None else None


def local_date(moment: datetime | None) -> date | None:
    return None if moment is None else moment.astimezone(CHINA).date()


# --- milestones -------------------------------------------------------------------------------------------


def _item_counts(programme_id) -> tuple[sa.Subquery, sa.Subquery]:
    """The programme's sites and townships with sites (one row: ``sites``, ``townships``) and its SiteMilestones
    per milestone (``milestone_id``, ``for_sites``, ``for_townships``)."""
    counts = (sa.select(sa.func.count(Site.id).label("sites"),
                        sa.func.count(sa.distinct(Site.township_id)).label("townships"))
              .where(Site.programme_id == programme_id).subquery())
    present = (sa.select(SiteMilestone.milestone_id, sa.func.count(SiteMilestone.site_id).label("for_sites"),
                         (sa.func.count() - sa.func.count(SiteMilestone.site_id)).label("for_townships"))
               .where(SiteMilestone.programme_id == programme_id)
               .group_by(SiteMilestone.milestone_id).subquery())
    return counts, present


def _complete(milestones, sites: int, townships: int, present: dict[int, tuple[int, int]]) -> bool:
    """Whether each milestone (with ``id`` and ``kind``) has an item per site, or per township with sites, as it
    should; ``present``: milestone id → its items (for sites, for townships)."""
    if not sites:
        return True
    for milestone in milestones:
        for_sites, for_townships = present.get(milestone.id, (0, 0))
        if milestone.kind in SITE_KINDS and for_sites != sites:
            return False
        if milestone.kind in TOWNSHIP_KINDS and for_townships != townships:
            return False
    return True


@functools.cache
def _completeness_statement() -> sa.Select:
    """:func:`_item_counts` of ``:programme_id`` in one statement (still one row when there is no item yet).
    Built once: pages run it on every view."""
    counts, present = _item_counts(sa.bindparam("programme_id", type_=sa.Integer))
    return (sa.select(counts.c.sites, counts.c.townships, present.c.milestone_id, present.c.for_sites,
                      present.c.for_townships)
            .select_from(counts).outerjoin(present, sa.true()))


def _milestones_complete(programme_id: int, milestones) -> bool:
    """True when every site and township of the programme has its SiteMilestones of ``milestones`` (with ``id``
    and ``kind``): one query of two small groupings.

    Counts the existing items per milestone and compares them with the sites (and the townships with sites); any
    difference sends :func:`ensure_site_milestones` to the full comparison, which adds exactly what is missing.
    """
    rows = select_rows(_completeness_statement(), programme_id=programme_id)
    present = {row.milestone_id: (row.for_sites, row.for_townships) for row in rows if row.milestone_id is not None}
    return _complete(milestones, rows[0].sites, rows[0].townships, present)


@dataclass(frozen=True)
class MilestoneOutline:
    id: int
    name: str
    kind: MilestoneKind
    due_date: date


@dataclass(frozen=True)
class ProgrammeOutline:
    """A programme as its progress page reads it, in one query: the columns it shows, its milestones (by due date)
    and whether every site and township has its SiteMilestones (see :func:`ensure_site_milestones`)."""

    id: int
    name: str
    year: int
    status: ProgrammeStatus
    milestones: list[MilestoneOutline]
    milestones_complete: bool


# What the functions that read a programme's id, year and milestones accept.
ProgrammeLike = Programme | ProgrammeOutline


@functools.cache
def _outline_statement() -> sa.Select:
    return (
        sa.select(Programme.id, Programme.name, Programme.year, Programme.status,
                  Milestone.id.label("milestone_id"), Milestone.name.label("milestone"), Milestone.kind,
                  Milestone.due_date)
        .select_from(Programme).outerjoin(Milestone, Milestone.programme_id == Programme.id)
        .where(Programme.id == sa.bindparam("programme_id", type_=sa.Integer))
        .order_by(Milestone.due_date, Milestone.id)
    )


# A programme's outline under the audit log's largest id (app.statements.changes_mark; programmes, milestones, sites
# and their milestone items are audited): whether its SiteMilestones are all there reads every item of the
# programme (some 3,200 at province scale), and the grid asks on every view.
_OUTLINES = Remembered(kept=64)


def programme_outline(programme_id: int, mark: Mark = None) -> ProgrammeOutline | None:
    """The programme's :class:`ProgrammeOutline` (None when there is no such programme): a page that shows a
    programme's progress needs its milestones and their completeness, not the whole programme. ``mark``: the
    :func:`changes_mark` read by the caller, under which the outline is remembered (without it, read)."""

    def read() -> ProgrammeOutline | None:
        rows = select_rows(_outline_statement(), programme_id=programme_id)
        if not rows:
            return None
        first = rows[0]
        milestones = [MilestoneOutline(row.milestone_id, row.milestone, row.kind, row.due_date)
                      for row in rows if row.milestone_id is not None]
        return ProgrammeOutline(first.id, first.name, first.year, first.status, milestones,
                                _milestones_complete(programme_id, milestones))

    return read() if mark is None else _OUTLINES.get((programme_id, mark), read)


def ensure_site_milestones(programme: Programme) -> int:
    """One SiteMilestone per site and milestone (and per township for its summary); returns how many it made.

    Pages call it on every view: when nothing is missing (the usual case) it costs one query, whatever the number
    of sites.
    """
    if _milestones_complete(programme.id, programme.milestones):
        return 0
    sites = db.session.scalars(sa.select(Site).where(Site.programme_id == programme.id)).all()
    if not sites:
        return 0
    existing = set(db.session.execute(
        sa.select(SiteMilestone.milestone_id, SiteMilestone.site_id, SiteMilestone.township_id)
        .where(SiteMilestone.programme_id == programme.id)).tuples())
    made = 0
    for milestone in programme.milestones:
        if milestone.kind in SITE_KINDS:
            for site in sites:
                if (milestone.id, site.id, site.township_id) not in existing:
                    db.session.add(SiteMilestone(milestone_id=milestone.id, programme_id=programme.id,
                                                 township_id=site.township_id, site_id=site.id))
                    made += 1
        if milestone.kind in TOWNSHIP_KINDS:
            for township_id in sorted({site.township_id for site in sites}):
                if (milestone.id, None, township_id) not in existing:
                    db.session.add(SiteMilestone(milestone_id=milestone.id, programme_id=programme.id,
                                                 township_id=township_id, site_id=None))
                    made += 1
    db.session.flush()
    return made


M = MilestoneStatus
MILESTONE_TRANSITIONS = {
    (M.NOT_STARTED, M.SUBMITTED): "township",
    (M.RETURNED, M.SUBMITTED): "township",
    (M.SUBMITTED, M.RETURNED): "bureau",
    (M.SUBMITTED, M.ACCEPTED): "bureau",
}


def editable(item: SiteMilestone) -> bool:
    return item.status in (M.NOT_STARTED, M.RETURNED)


def save_milestone(item: SiteMilestone, values: dict) -> None:
    if not editable(item):
        raise ProgressError(_("已提交的材料不能修改；如需修改，请联系市民政局退回。"))
    for key, value in values.items():
        setattr(item, key, value)
    db.session.flush()


def milestone_missing(item: SiteMilestone) -> list[tuple[str, str]]:
    """What a submission needs, as (field, message): some content or a document, and for a charter the vote and
    approval dates."""
    missing = []
    if not item.content.strip() and not item.documents:
        missing.append(("content", _("请填写内容或上传材料。")))
    if item.milestone.kind == MilestoneKind.CHARTER:
        if item.meeting_date is None or not item.meeting_result.strip():
            missing.append(("meeting_date" if item.meeting_date is None else "meeting_result",
                            _("请填写村(居)民会议表决的日期和结果。")))
        if item.township_approved_on is None:
            missing.append(("township_approved_on", _("请填写镇(街道)审批日期。")))
    return missing


def transition_milestone(item: SiteMilestone, new: MilestoneStatus, user, comment: str = "") -> None:
    old = item.status
    if (old, new) not in MILESTONE_TRANSITIONS:
        raise ProgressError(_("不能从“%(a)s”改为“%(b)s”。", a=old.title, b=new.title))
    comment = comment.strip()
    if new == M.RETURNED and not comment:
        raise ProgressError(_("退回须填写意见。"), field="comment")
    if new == M.SUBMITTED:
        missing = milestone_missing(item)
        if missing:
            raise ProgressError(" ".join(message for _field, message in missing), missing=missing)
        item.submitted_at = utcnow()
        item.submitted_late = china_today() > item.milestone.due_date
    if new in (M.RETURNED, M.ACCEPTED):
        item.reviewer_comment = comment
        item.decided_at = utcnow()
    item.status = new
    db.session.add(MilestoneEvent(site_milestone=item, actor_id=_uid(user),
                                  actor_name=user.username if user is not None else "", from_status=old,
                                  to_status=new, comment=comment))
    db.session.flush()


def timeliness(item: SiteMilestone, today: date | None = None, due: date | None = None) -> str:
    """on_time / late / overdue (due, not handed in) / pending (not yet due); ``due`` saves loading the milestone."""
    today = today or china_today()
    due = due or item.milestone.due_date
    if item.submitted_at is not None:
        return "late" if local_date(item.submitted_at) > due else "on_time"
    return "overdue" if today > due else "pending"


# --- monthly reports -----------------------------------------------------------------------------------


def first_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def due_date(month: date) -> date:
    return month.replace(day=REPORT_DAY)


def last_report_month(programme: ProgrammeLike) -> date:
    """The month of the programme's last milestone after nomination (the end of its year when it has none)."""
    last_due = max((m.due_date for m in programme.milestones if m.kind != MilestoneKind.NOMINATION), default=None)
    return first_of(last_due) if last_due else date(programme.year, 12, 1)


def months_between(start: date, end: date) -> list[date]:
    """First days of the months from ``start`` to ``end``, both included (empty when start is after end)."""
    months = []
    month = start
    while month <= end:
        months.append(month)
        month = next_month(month)
    return months


def month_count(start: date, end: date) -> int:
    """len(months_between(start, end)), by arithmetic."""
    return max(0, (end.year - start.year) * 12 + end.month - start.month + 1)


def first_report_month(selected_at: datetime) -> date:
    return next_month(first_of(local_date(selected_at)))


def report_months(site: Site, programme: Programme | None = None) -> list[date]:
    """The months a site reports on: from the month after selection to the month of the programme's last
    milestone after nomination (or the end of the programme's year when it has none)."""
    programme = programme or site.programme
    return months_between(first_report_month(site.selected_at), last_report_month(programme))


@dataclass(frozen=True)
class Cell:
    month: date
    state: str  # on_time / late / missing / draft / not_due / not_begun
    report: MonthlyReport | None


def cell(month: date, report: MonthlyReport | None, today: date) -> Cell:
    if month > first_of(today):
        return Cell(month, "not_begun", report)
    if report is not None and report.status == ReportStatus.SUBMITTED:
        state = "on_time" if local_date(report.submitted_at) <= due_date(month) else "late"
        return Cell(month, state, report)
    if today > due_date(month):
        return Cell(month, "missing", report)
    return Cell(month, "draft" if report is not None else "not_due", report)


def parse_month(text: str) -> date:
    try:
        year, number = (int(part) for part in text.split("-"))
        return date(year, number, 1)
    except (ValueError, TypeError) as error:
        raise ProgressError(_("月份应写成 2024-05。")) from error


def report_for(site: Site, month: date) -> MonthlyReport | None:
    return db.session.scalar(sa.select(MonthlyReport).where(MonthlyReport.site_id == site.id,
                                                            MonthlyReport.month == month))


def check_month(site: Site, month: date) -> None:
    if month > first_of(china_today()):
        raise ProgressError(_("%(m)s 尚未开始，不能报送该月进展。", m=f"{month:%Y-%m}"))
    if month not in report_months(site):
        raise ProgressError(_("%(m)s 不在本项目的月度报送期内。", m=f"{month:%Y-%m}"))


def save_report(site: Site, month: date, values: dict, user) -> MonthlyReport:
    """The site's report for ``month``, created once (a second request finds the first), updated while a draft."""
    check_month(site, month)
    report = report_for(site, month)
    if report is None:
        report = MonthlyReport(site_id=site.id, month=month, created_by_id=_uid(user))
        try:
            with db.session.begin_nested():
                db.session.add(report)
                db.session.flush()
        except IntegrityError:
            report = report_for(site, month)  # two clicks at once: the other one made it
    if report.status == ReportStatus.SUBMITTED:
        raise ProgressError(_("该月进展已报送，不能再修改。"))
    for key, value in values.items():
        setattr(report, key, value)
    db.session.flush()
    return report


def submit_report(report: MonthlyReport) -> None:
    if report.status == ReportStatus.SUBMITTED:
        raise ProgressError(_("该月进展已报送。"))
    if not report.work_done.strip():
        raise ProgressError(_("请填写本月完成的工作。"), field="work_done")
    report.status = ReportStatus.SUBMITTED
    report.submitted_at = utcnow()
    db.session.flush()


def spending_in_month(site: Site, month: date) -> int:
    """What the funding records say the site spent that month, shown beside the township's own figure."""
    return int(db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(SpendingLine.amount_fen), 0)).where(
            SpendingLine.site_id == site.id, SpendingLine.entry_date >= month,
            SpendingLine.entry_date < next_month(month))
    ))


@dataclass
class GridRow:
    site: Site
    cells: list[Cell]

    @property
    def missing(self) -> int:
        return sum(1 for c in self.cells if c.state == "missing")


def grid_sites(programme: Programme, site_filter=sa.true()) -> sa.Select:
    """The grid's sites in the grid's order, with their township and community."""
    return (
        sa.select(Site).where(Site.programme_id == programme.id, site_filter)
        .options(sa.orm.joinedload(Site.township), sa.orm.joinedload(Site.community))
        .order_by(Site.township_id, Site.rank, Site.id)
    )


def grid_rows(programme: Programme, sites: list[Site], months: list[date], today: date,
              reports_of=None) -> list[GridRow]:
    """One row per site over ``months``, in one query. The cells carry the report's state columns (status,
    submitted_at), not the report. ``reports_of`` (a select of site ids) replaces the list of the sites' ids."""
    if not sites:
        return []
    site_ids = reports_of if reports_of is not None else [site.id for site in sites]
    reports = {(r.site_id, r.month): r for r in db.session.execute(
        sa.select(MonthlyReport.site_id, MonthlyReport.month, MonthlyReport.status, MonthlyReport.submitted_at)
        .where(MonthlyReport.site_id.in_(site_ids)))}
    last = last_report_month(programme)
    rows = []
    for site in sites:
        start = first_report_month(site.selected_at)
        rows.append(GridRow(site, [cell(m, reports.get((site.id, m)), today) if start <= m <= last
                                   else Cell(m, "none", None) for m in months]))
    return rows


def monthly_grid(programme: Programme, site_filter=sa.true(), today: date | None = None) -> tuple[list[date],
                                                                                                   list[GridRow]]:
    """Sites × months of a programme (every site the filter lets through), in two queries."""
    today = today or china_today()
    sites = db.session.scalars(grid_sites(programme, site_filter)).unique().all()
    start = min((first_report_month(site.selected_at) for site in sites), default=None)
    months = months_between(start, last_report_month(programme)) if start else []
    ids = sa.select(Site.id).where(Site.programme_id == programme.id, site_filter).scalar_subquery()
    return months, grid_rows(programme, sites, months, today, reports_of=ids)


@dataclass(slots=True)
class GridSite:
    """A site of the grid's page, as the columns the page shows, with its monthly reports."""

    id: int
    township_id: int
    community: str  # names
    township: str
    selected: int  # the month_number of the selection in China: the site reports from the month after
    reports: dict[date, int | None]  # month → date_number of the submission in China (None: a draft)


def _page_statement(site_filter) -> sa.Select:
    """One page (``:limit``, ``:offset``) of the sites of ``:programme_id`` that ``site_filter`` lets through, in
    the grid's order, each joined to its reports (or to none)."""
    page = (
        sa.select(Site.id, Site.township_id, Site.rank, Community.name.label("community"),
                  Township.name.label("township"), china_month_number(Site.selected_at).label("selected"))
        .join(Community, Community.id == Site.community_id).join(Township, Township.id == Site.township_id)
        .where(Site.programme_id == sa.bindparam("programme_id", type_=sa.Integer), site_filter)
        .order_by(Site.township_id, Site.rank, Site.id)
        .limit(sa.bindparam("limit", type_=sa.Integer)).offset(sa.bindparam("offset", type_=sa.Integer))
    ).subquery()
    return (
        sa.select(page.c.id, page.c.township_id, page.c.community, page.c.township, page.c.selected,
                  MonthlyReport.month, sa.case((MonthlyReport.status == ReportStatus.SUBMITTED,
                                                china_date_number(MonthlyReport.submitted_at))))
        .select_from(page).outerjoin(MonthlyReport, MonthlyReport.site_id == page.c.id)
        .order_by(page.c.township_id, page.c.rank, page.c.id)
    )


def grid_page(programme: ProgrammeLike, site_filter=sa.true(), *, limit: int, offset: int) -> list[GridSite]:
    """One page of the grid's sites in the grid's order (as :func:`grid_sites`) with their reports, in one query
    (a row per report)."""
    sites: list[GridSite] = []
    for site_id, township_id, community, township, selected, month, submitted in select_rows(
            scoped_statement(_page_statement, site_filter), programme_id=programme.id, limit=limit, offset=offset):
        if not sites or sites[-1].id != site_id:
            sites.append(GridSite(site_id, township_id, community, township, selected, {}))
        if month is not None:
            sites[-1].reports[month] = submitted
    return sites


def _cell_state(plain: str, report: str | None) -> str:
    """:func:`cell`'s decision from the month's state without a report (not_begun / missing / not_due) and the
    report's own (None, draft, on_time, late)."""
    if plain == "not_begun" or report is None:
        return plain
    if report != "draft":
        return report  # submitted, on time or late
    return "missing" if plain == "missing" else "draft"


_CELL_STATE = {(plain, report): _cell_state(plain, report)
               for plain in ("not_begun", "missing", "not_due") for report in (None, "draft", "on_time", "late")}


def grid_states(programme: ProgrammeLike, sites: list[GridSite], months: list[date],
                today: date) -> dict[int, list[str]]:
    """Site id → the state of each month's cell, as :func:`grid_rows` gives them (``none`` outside the site's
    months), for ``sites`` as :func:`grid_page` gives them and consecutive ``months`` (as :func:`months_between`
    gives them)."""
    this_month = first_of(today)
    plain = ["not_begun" if month > this_month else "missing" if today > due_date(month) else "not_due"
             for month in months]
    # A site's cells are "none" before the month after its selection and after the programme's last month.
    last = month_number(last_report_month(programme))
    end = sum(1 for month in months if month_number(month) <= last)
    first = month_number(months[0]) if months else 0
    columns = [(month, state, date_number(due_date(month))) for month, state in zip(months, plain, strict=True)]
    states = {}
    for site in sites:
        skip = min(max(site.selected + 1 - first, 0), end)
        reports = site.reports
        cells = ["none"] * skip
        for month, state, due in columns[skip:end]:
            if month not in reports:
                cells.append(state)
            else:
                submitted = reports[month]
                cells.append(_CELL_STATE[state, "draft" if submitted is None
                                         else "on_time" if submitted <= due else "late"])
        states[site.id] = cells + ["none"] * (len(months) - end)
    return states


@functools.cache
def _items_statement() -> sa.Select:
    """The page's sites' items and its townships' items as two selects, each read through its own unique index:
    as one condition with OR, PostgreSQL read every item of the programme (some 4,000 at province scale)."""
    columns = (SiteMilestone.id, SiteMilestone.site_id, SiteMilestone.milestone_id, SiteMilestone.township_id,
               sa.type_coerce(SiteMilestone.status, sa.String).label("status"),
               china_date_number(SiteMilestone.submitted_at).label("submitted"))
    of_programme = SiteMilestone.programme_id == sa.bindparam("programme_id", type_=sa.Integer)
    items = sa.union_all(
        sa.select(*columns).where(of_programme, SiteMilestone.site_id.in_(sa.bindparam("site_ids", expanding=True))),
        sa.select(*columns).where(of_programme, SiteMilestone.site_id.is_(None),
                                  SiteMilestone.township_id.in_(sa.bindparam("township_ids", expanding=True))),
    ).subquery()
    return (
        sa.select(items.c.id, items.c.site_id, items.c.milestone_id, items.c.status, items.c.submitted,
                  Township.name.label("township"), Township.sort_order)
        .join(Township, Township.id == items.c.township_id)
        .order_by(Township.sort_order, Township.id)
    )


# Pages of the grid (their sites, reports and milestone items, all audited) per viewer's site filter, under
# app.statements.changes_mark: a page reads three tables and turns a row per report into its sites.
_GRID_PAGES = Remembered()


def grid_page_and_items(programme: ProgrammeLike, site_filter=sa.true(), *, limit: int, offset: int,
                        mark: Mark) -> tuple[list[GridSite], list[sa.Row]]:
    """:func:`grid_page` and the :func:`page_milestone_items` of its sites and their townships, remembered under
    ``mark`` (the :func:`changes_mark` the caller read; None: read it here). The results are shared: read them only."""

    def read() -> tuple[list[GridSite], list[sa.Row]]:
        sites = grid_page(programme, site_filter, limit=limit, offset=offset)
        if not sites:
            return sites, []
        return sites, page_milestone_items(programme, [site.id for site in sites],
                                           {site.township_id for site in sites})

    return remembered_for_filter(_GRID_PAGES, (programme.id, limit, offset), site_filter, mark, read)


def page_milestone_items(programme: ProgrammeLike, site_ids: list[int], township_ids: set[int]) -> list[sa.Row]:
    """The SiteMilestones of these sites and the township-level ones of these townships, as columns: ``id``,
    ``site_id``, ``milestone_id``, ``status`` (its value), ``submitted`` (:func:`date_number` of the China date
    of submission, or None), ``township`` (its name) and ``sort_order`` (its township's), in the townships'
    order."""
    return select_rows(_items_statement(), programme_id=programme.id, site_ids=list(site_ids),
                       township_ids=list(township_ids))


def timeliness_of(submitted: int | None, due: date, today: date) -> str:
    """:func:`timeliness` from the :func:`date_number` of the China date of submission (None before it)."""
    if submitted is not None:
        return "late" if submitted > date_number(due) else "on_time"
    return "overdue" if today > due else "pending"


def last_overdue_month(today: date) -> date:
    """The latest month whose report is overdue today (its 20th has passed)."""
    this_month = first_of(today)
    if today > due_date(this_month):
        return this_month
    return date(this_month.year - (this_month.month == 1), (this_month.month - 2) % 12 + 1, 1)


def month_number(day: date) -> int:
    """Months since year 0: consecutive months have consecutive numbers."""
    return day.year * 12 + day.month


class china_month_number(FunctionElement):  # noqa: N801 - an SQL function, named like one
    """SQL: :func:`month_number` of the China date of a UTC timestamp column (China keeps UTC+8 all year)."""

    type = sa.Integer()
    name = "china_month_number"
    inherit_cache = True


@compiles(china_month_number, "sqlite")
def _china_month_number_sqlite(element, compiler, **kw):
    moment = compiler.process(element.clauses, **kw)
    return (f"(CAST(strftime('%Y', {moment}, '+8 hours') AS INTEGER) * 12"
            f" + CAST(strftime('%m', {moment}, '+8 hours') AS INTEGER))")


@compiles(china_month_number, "postgresql")
def _china_month_number_postgresql(element, compiler, **kw):
    moment = f"(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'Asia/Shanghai')"
    return f"(CAST(EXTRACT(YEAR FROM {moment}) AS INTEGER) * 12 + CAST(EXTRACT(MONTH FROM {moment}) AS INTEGER))"


def date_number(day: date) -> int:
    """A date as the number YYYYMMDD: dates and their numbers sort alike (see :class:`china_date_number`)."""
    return day.year * 10000 + day.month * 100 + day.day


class china_date_number(FunctionElement):  # noqa: N801 - an SQL function, named like one
    """SQL: :func:`date_number` of the China date of a UTC timestamp column (NULL stays NULL). Pages that only
    compare a moment with deadlines read this integer instead of converting a timestamp per row in Python."""

    type = sa.Integer()
    name = "china_date_number"
    inherit_cache = True


@compiles(china_date_number, "sqlite")
def _china_date_number_sqlite(element, compiler, **kw):
    return f"CAST(strftime('%Y%m%d', {compiler.process(element.clauses, **kw)}, '+8 hours') AS INTEGER)"


@compiles(china_date_number, "postgresql")
def _china_date_number_postgresql(element, compiler, **kw):
    moment = f"(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'Asia/Shanghai')"
    return f"CAST(to_char({moment}, 'YYYYMMDD') AS INTEGER)"


def _owed_and_submitted(in_programmes, bound_month, bound, site_where, *,
                        first: bool = False) -> tuple[sa.Subquery, sa.Subquery]:
    """Per township, over the sites that ``in_programmes`` and ``site_where`` let through: the sites and the monthly
    reports they owe up to their programme's bound (``township_id``, ``sites``, ``owed``, and with ``first`` the
    earliest ``selected_at``), and the submitted reports up to the bound (``township_id``, ``reports``).
    ``bound_month`` and ``bound``: SQL for the site's programme's bound, as a month_number and as a date."""
    in_scope = sa.and_(in_programmes, site_where)
    months = bound_month - china_month_number(Site.selected_at)  # bound − (month after selection) + 1
    owed = (
        sa.select(Site.township_id.label("township_id"), sa.func.count(Site.id).label("sites"),
                  sa.func.sum(sa.case((months > 0, months), else_=0)).label("owed"),
                  *([sa.func.min(Site.selected_at).label("first")] if first else []))
        .where(in_scope).group_by(Site.township_id).subquery()
    )
    submitted = (
        sa.select(Site.township_id.label("township_id"), sa.func.count(MonthlyReport.id).label("reports"))
        .join(Site, Site.id == MonthlyReport.site_id)
        .where(in_scope, MonthlyReport.status == ReportStatus.SUBMITTED, MonthlyReport.month <= bound)
        .group_by(Site.township_id).subquery()
    )
    return owed, submitted


def missing_by_township(bounds: dict[int, date], site_where=sa.true(), *, limit: int,
                        ties=None) -> tuple[list[tuple[str, int, int]], int]:
    """The townships with monthly reports missing: (name, missing, sites) with the most missing first (then by
    ``ties``, the township's name unless given), at most ``limit`` of them, and how many there are in all.

    ``bounds``: programme id → the last month counted (the programme's last report month, or the last overdue
    month if that is earlier). A site owes every month from the one after its selection to the bound; a month
    is missing without a submitted report (reports exist only for months of their site's period:
    ``check_month``). ONE statement whatever the number of sites, months and townships.
    """
    if not bounds:
        return [], 0
    owed, submitted = _owed_and_submitted(
        Site.programme_id.in_(list(bounds)),
        sa.case({pid: month_number(bound) for pid, bound in bounds.items()}, value=Site.programme_id),
        sa.case(bounds, value=Site.programme_id), site_where)
    missing = owed.c.owed - sa.func.coalesce(submitted.c.reports, 0)
    rows = db.session.execute(
        sa.select(Township.name, missing.label("missing"), owed.c.sites, sa.func.count().over().label("townships"))
        .select_from(owed).join(Township, Township.id == owed.c.township_id)
        .outerjoin(submitted, submitted.c.township_id == owed.c.township_id)
        .where(missing > 0)
        .order_by(missing.desc(), ties if ties is not None else Township.name, Township.id)
        .limit(limit)
    ).all()
    return [(name, int(count), sites) for name, count, sites, _all in rows], rows[0].townships if rows else 0


@dataclass(frozen=True)
class ProgrammeProgress:
    """What the programme's progress page counts over every site its viewer may see (the grid shows one page)."""

    months: list[date]  # the grid's months
    overdue: list[tuple[str, int, int]]  # as missing_by_township gives them, at most ``limit``
    overdue_townships: int  # townships with missing reports, in all
    with_sites: list[tuple[int, str]]  # every township with sites (id, name), by name
    sites: int


def _progress_statement(site_filter) -> sa.Select:
    """One row per township with sites of the programme (``:programme_id``) that ``site_filter`` lets through,
    counted up to ``:bound`` (a month, also as ``:bound_month``, its month_number) as :func:`missing_by_township`
    counts, in its order."""
    owed, submitted = _owed_and_submitted(
        Site.programme_id == sa.bindparam("programme_id", type_=sa.Integer),
        sa.bindparam("bound_month", type_=sa.Integer), sa.bindparam("bound", type_=sa.Date), site_filter, first=True)
    missing = owed.c.owed - sa.func.coalesce(submitted.c.reports, 0)
    return (
        sa.select(Township.id, Township.name, missing.label("missing"), owed.c.sites, owed.c.first)
        .select_from(owed).join(Township, Township.id == owed.c.township_id)
        .outerjoin(submitted, submitted.c.township_id == owed.c.township_id)
        .order_by(missing.desc(), Township.name, Township.id)
    )


def programme_progress(programme: ProgrammeLike, site_filter=sa.true(), today: date | None = None, *,
                       limit: int = 20, mark: Mark = None) -> ProgrammeProgress:
    """:class:`ProgrammeProgress` over every site of the programme that the filter lets through, in ONE query
    whatever the number of sites: one row per township with sites (a city has a few dozen), counted as
    :func:`missing_by_township` counts them and in its order. ``mark``: :func:`changes_mark`, where the caller
    has read it already."""
    today = today or china_today()
    last = last_report_month(programme)
    bound = min(last, last_overdue_month(today))

    def compute() -> ProgrammeProgress:
        rows = select_rows(scoped_statement(_progress_statement, site_filter), programme_id=programme.id,
                           bound_month=month_number(bound), bound=bound)
        if not rows:
            return ProgrammeProgress([], [], 0, [], 0)
        overdue = [(name, int(count), sites) for _id, name, count, sites, _first in rows if count > 0]
        return ProgrammeProgress(
            months=months_between(first_report_month(min(row.first for row in rows)), last),
            overdue=overdue[:limit], overdue_townships=len(overdue),
            with_sites=sorted(((row.id, row.name) for row in rows), key=lambda pair: pair[1]),
            sites=sum(row.sites for row in rows),
        )

    return remembered_for_filter(_PROGRESS, (programme.id, bound, last, limit), site_filter, mark, compute)


# A programme's progress per viewer's site filter, remembered until any data changes (a report changes status in
# place, so the reports' own ids are no fingerprint): at province scale it counts the reports of 1,600 sites in
# some 800 townships (8 ms), and the grid shows it on every view.
_PROGRESS = Remembered()


# --- 通报 and spot checks ---------------------------------------------------------------------------------


@functools.cache
def _notices_statement(one_township: bool) -> sa.Select:
    return (
        sa.select(ProgressNotice.title, Township.name.label("township"), ProgressNotice.issued_on,
                  ProgressNotice.content)
        .join(Township, Township.id == ProgressNotice.township_id)
        .where(ProgressNotice.programme_id == sa.bindparam("programme_id", type_=sa.Integer),
               ProgressNotice.township_id == sa.bindparam("township_id", type_=sa.Integer) if one_township
               else sa.true())
        .order_by(ProgressNotice.issued_on.desc())
    )


def notices_of(programme: ProgrammeLike, township_id: int | None = None, mark: Mark = None) -> list[sa.Row]:
    """The programme's 通报, the latest first (only those to ``township_id`` when given): ``title``, ``township``
    (its name), ``issued_on``, ``content``. ``mark``: the :func:`changes_mark` the caller read, under which they are
    remembered (notices and townships are audited)."""

    def read() -> list[sa.Row]:
        return select_rows(_notices_statement(township_id is not None), programme_id=programme.id,
                           township_id=township_id)

    return read() if mark is None else _NOTICES.get((programme.id, township_id, mark), read)


_NOTICES = Remembered()


def issue_notice(programme: Programme, township_id: int, title: str, content: str, user) -> ProgressNotice:
    # A 通报 is about a township's sites in the programme: the page offers only townships that have one.
    has_site = db.session.scalar(sa.select(Site.id).where(Site.programme_id == programme.id,
                                                          Site.township_id == township_id).limit(1))
    if has_site is None:
        raise ProgressError(_("该镇(街道)在本项目中没有示范点（项目），不能对其通报。"), field="township_id")
    notice = ProgressNotice(programme_id=programme.id, township_id=township_id, issued_on=china_today(),
                            title=title.strip(), content=content.strip(), issued_by_id=_uid(user))
    db.session.add(notice)
    db.session.flush()
    from app.tracking.notifications import notify_township

    notify_township(township_id, "notice", _l("通报：%(t)s", t=notice.title), notice.content[:200],
                    f"/progress/programmes/{programme.id}#notices", f"notice:{notice.id}")
    return notice


def record_spot_check(site: Site, *, checked_on: date, inspectors: str, findings: str, follow_up_required: bool,
                      follow_up: str, user) -> SpotCheck:
    if checked_on > china_today():
        raise ProgressError(_("抽查日期不能晚于今天。"), field="checked_on")
    check = SpotCheck(site_id=site.id, checked_on=checked_on, inspectors=inspectors.strip(), findings=findings.strip(),
                      follow_up_required=follow_up_required, follow_up=follow_up.strip(), created_by_id=_uid(user))
    db.session.add(check)
    db.session.flush()
    return check


def close_spot_check(check: SpotCheck, note: str) -> None:
    if check.closed_at is not None:
        raise ProgressError(_("该抽查已关闭。"))
    if not note.strip():
        raise ProgressError(_("请说明整改情况。"), field="note")
    check.closed_at = utcnow()
    check.closed_note = note.strip()
    db.session.flush()
