"""What each role's home page shows: what needs the user today. Each builder runs a fixed number of queries,
whatever the number of programmes, sites or lines (tests assert it).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _

from app.applications import queries
from app.applications.models import Application, ApplicationStatus
from app.database import china_today
from app.extensions import db
from app.funding.models import Allocation, Disbursement, Site, SpendingLine
from app.places.models import Community, Township
from app.programmes.models import DeadlineExtension, FundingSource, Programme, ProgrammeStatus
from app.scoring.models import Assignment, SheetStatus
from app.statements import Remembered, changes_mark, select_rows
from app.tracking.models import (
    ArchiveItem,
    MilestoneStatus,
    MonthlyReport,
    ReportStatus,
    SiteMilestone,
    SpotCheck,
)
from app.tracking.progress import due_date, first_of, last_overdue_month, missing_by_township, report_months

ACTIVE = (ProgrammeStatus.SELECTED, ProgrammeStatus.IMPLEMENTING)
RUNNING = (ProgrammeStatus.OPEN, ProgrammeStatus.EVALUATING, ProgrammeStatus.SELECTED, ProgrammeStatus.IMPLEMENTING)


@dataclass
class Task:
    due: date
    title: str
    detail: str
    link: str
    returned: bool = False

    @property
    def this_week(self) -> bool:
        return self.due <= china_today() + timedelta(days=7)

    @property
    def overdue(self) -> bool:
        return self.due < china_today()


# --- the bureau ---------------------------------------------------------------------------------------


# The timeline's drawing (templates/home/bureau.html): an SVG this many units wide whose labels are set in a font of
# this many units (app.css, .timeline); marks stay this far inside the edges, so that their circles show whole.
TIMELINE_WIDTH = 1000
TIMELINE_FONT = 10
TIMELINE_MARGIN = 8
# Labels sit in rows this many units apart below the axis, at least this far from each other in a row.
TIMELINE_FIRST_LABEL_Y = 34
TIMELINE_ROW_HEIGHT = 16
TIMELINE_LABEL_GAP = 6
# A label shows at most this many characters of the milestone's name.
LABEL_CHARS = 10


def _label_width(text: str) -> float:
    """At least the width of ``text`` in the timeline's units: a wide (CJK) or ambiguous character (…) takes one em,
    any other no more than 0.6 em."""
    return sum(TIMELINE_FONT if unicodedata.east_asian_width(char) in "WFA" else 0.6 * TIMELINE_FONT
               for char in text)


def _label_extent(x: float, width: float, anchor: str) -> tuple[float, float]:
    left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
    return left, left + width


def _label_rows(marks: list[dict]) -> int:
    """Gives each mark the first label row (0, 1, …) where its label clears the labels already there by a gap, marks
    taken left to right; returns the number of rows. Two rows alternating overlapped when three dates were close."""
    row_ends: list[float] = []
    for mark in sorted(marks, key=lambda m: m["x"]):
        left, right = mark.pop("extent")
        row = next((i for i, end in enumerate(row_ends) if end + TIMELINE_LABEL_GAP <= left), len(row_ends))
        if row == len(row_ends):
            row_ends.append(right)
        row_ends[row] = right
        mark["y"] = TIMELINE_FIRST_LABEL_Y + row * TIMELINE_ROW_HEIGHT
    return max(len(row_ends), 1)


def _label_anchor(x: float, width: float) -> str:
    """Centred under its mark, unless that would reach past an edge: then it starts or ends at the mark."""
    if x - width / 2 < 0:
        return "start"
    if x + width / 2 > TIMELINE_WIDTH:
        return "end"
    return "middle"


def timeline(programmes: list[Programme], today: date) -> list[dict]:
    """Each running programme's milestones in SVG units on an axis over its year (longer if a milestone lies
    outside it), each label anchored so that it stays inside the drawing.

    ``today`` is the red line's position when today lies on the axis; otherwise ``today_side`` says "before" or
    "after" and the page says so in words. Stretching the axis to today instead would squeeze a round of some
    years ago (the demo's) into a corner, its labels on top of each other."""
    rows = []
    for programme in programmes:
        days = [m.due_date for m in programme.milestones]
        start, end = min([date(programme.year, 1, 1), *days]), max([date(programme.year, 12, 31), *days])
        span = (end - start).days

        def at(day: date, start=start, span=span) -> float:
            return TIMELINE_MARGIN + (day - start).days * (TIMELINE_WIDTH - 2 * TIMELINE_MARGIN) / span

        marks = []
        for milestone in programme.milestones:
            name = milestone.name
            if len(name) > LABEL_CHARS:
                name = name[:LABEL_CHARS - 1] + "…"
            label, x = f"{name} {milestone.due_date.month}/{milestone.due_date.day}", at(milestone.due_date)
            width = _label_width(label)
            anchor = _label_anchor(x, width)
            marks.append({"x": x, "anchor": anchor, "label": label, "extent": _label_extent(x, width, anchor),
                          "name": milestone.name, "date": milestone.due_date, "past": milestone.due_date < today})
        # Room below the last row's baseline for its descenders.
        height = TIMELINE_FIRST_LABEL_Y + (_label_rows(marks) - 1) * TIMELINE_ROW_HEIGHT + 8
        rows.append({
            "programme": programme, "marks": marks, "height": height,
            "today": at(today) if start <= today <= end else None,
            "today_side": "before" if today < start else "after" if today > end else None,
        })
    return rows


# The bureau's lists that grow with the province (townships, open findings) show this many rows, the most pressing
# first, and say how many more there are.
HOME_ROWS = 20


@dataclass(frozen=True)
class BureauSums:
    """What the bureau's home sums up over the running programmes, by ids (names are read with the page)."""

    status_counts: dict[int, Counter]  # programme id → applications by status
    # programme id → [(township id, {status: applications})], its first townships by sort order
    submissions: dict[int, list[tuple[int, dict]]]
    submissions_more: dict[int, int]  # programme id → its townships with applications beyond those
    overdue: list[tuple[int, int]]  # (township id, monthly reports missing), the most first
    overdue_more: int
    archive: dict[int, int]  # programme id → share (%) of archive cells filled


# The sums, per process: {key: BureauSums}, the newest last. The key holds the programmes, the months counted, the
# number of rows and a fingerprint of every row the sums read (_state_statement), so that a stale entry cannot be
# served.
_SUMS = Remembered(kept=8)


@cache
def _state_statement() -> sa.Select:
    """One row: a fingerprint of every row the bureau's sums read.

    - the running programmes' applications: any change to one raises its version;
    - their sites (a site's township and selection date never change);
    - the monthly reports and archive items of the sites' id range (read from covering indices, a range rather
      than a lookup per site; rows of other sites in the range only cause a needless recount): a report is only
      ever added and submitted, an item only added and deleted (its kind and month never change), so the number
      submitted and the numbers of items and deleted items change with every change that matters;
    - every township's sort order (the order of the lists).

    Built once: the statement, and with it SQLAlchemy's cache key, serves every request."""
    running = sa.bindparam("running", expanding=True)
    of_running = Site.programme_id.in_(running)
    sites = sa.select(sa.func.min(Site.id), sa.func.max(Site.id)).where(of_running)
    low, high = (sites.with_only_columns(column).scalar_subquery() for column in sites.selected_columns)
    parts = [
        sa.select(sa.func.count(Application.id), sa.func.sum(Application.id * Application.version))
        .where(Application.programme_id.in_(running)),
        sa.select(sa.func.count(Site.id), sa.func.sum(Site.id * Site.township_id)).where(of_running),
        sa.select(sa.func.count()).select_from(MonthlyReport)
        .where(MonthlyReport.site_id.between(low, high), MonthlyReport.status == ReportStatus.SUBMITTED),
        sa.select(sa.func.count(), sa.func.count(ArchiveItem.deleted_at)).select_from(ArchiveItem)
        .where(ArchiveItem.site_id.between(low, high)),
        sa.select(sa.func.count(Township.id), sa.func.sum(Township.id * Township.sort_order)),
    ]
    subqueries = [part.subquery() for part in parts]
    joined = subqueries[0]
    for subquery in subqueries[1:]:  # one-row aggregates side by side: one statement
        joined = joined.join(subquery, sa.true())
    return sa.select(*subqueries).select_from(joined)


@cache
def _scoring_statement() -> sa.Select:
    # Read live: a sheet's status is only in its row, so a fingerprint of the sheets would cost as much.
    return (sa.select(Application.programme_id,
                      sa.func.count().filter(Assignment.status == SheetStatus.SUBMITTED), sa.func.count())
            .join(Application, Application.id == Assignment.application_id)
            .where(Application.programme_id.in_(sa.bindparam("running", expanding=True)))
            .group_by(Application.programme_id))


@cache
def _names_statement() -> sa.Select:
    return sa.select(Township.id, Township.name).where(Township.id.in_(sa.bindparam("ids", expanding=True)))


_OPEN_FINDINGS = sa.and_(SpotCheck.follow_up_required.is_(True), SpotCheck.closed_at.is_(None))


@cache
def _findings_statement() -> sa.Select:
    """The first open findings, each with the number of all of them (``total``)."""
    return (sa.select(SpotCheck.site_id, SpotCheck.checked_on, SpotCheck.follow_up, SpotCheck.findings,
                      Community.name.label("community"), Township.name.label("township"),
                      sa.func.count().over().label("total"))
            .join(Site, Site.id == SpotCheck.site_id).join(Community, Community.id == Site.community_id)
            .join(Township, Township.id == Site.township_id).where(_OPEN_FINDINGS)
            .order_by(SpotCheck.checked_on, SpotCheck.id).limit(sa.bindparam("rows")))


def bureau(programmes: list[Programme] | None = None) -> dict:
    """A fixed number of queries whatever the number of programmes, townships, sites and reports: the programmes
    (unless given) and the audit log's largest id; when that is new, the fingerprint of the sums' rows, the scoring
    progress, the townships' names and the open findings (:func:`_figures`); and, when the fingerprint is new too,
    the sums (:func:`_sums`).

    ``programmes``: the programmes the home page already loaded with their milestones, if they include every
    running one (the running ones are taken from them instead of being loaded again)."""
    today = china_today()
    if programmes is None:
        programmes = db.session.scalars(
            sa.select(Programme).where(Programme.status.in_(RUNNING))
            .options(sa.orm.selectinload(Programme.milestones)).order_by(Programme.year.desc(), Programme.id)
        ).all()
    else:
        programmes = sorted((p for p in programmes if p.status in RUNNING), key=lambda p: (-p.year, p.id))
    ids = [p.id for p in programmes]
    bounds = _report_bounds(programmes, today)
    shape = (tuple(ids), tuple(sorted(bounds.items())), HOME_ROWS)
    # Read before the figures: a change made meanwhile leaves figures newer than their key, never older.
    sums, scoring, names, findings = _FIGURES.get((*shape, changes_mark()), lambda: _figures(ids, bounds, shape))
    columns = [status for status in ApplicationStatus if status != ApplicationStatus.WITHDRAWN]
    # One group per running programme, newest first, each with its first townships and how many more it has.
    submissions = [(programme, [(names[township], [counts.get(status, 0) for status in columns])
                                for township, counts in sums.submissions.get(programme.id, [])],
                    sums.submissions_more.get(programme.id, 0)) for programme in programmes]
    return {
        "timeline": timeline(programmes, today), "timeline_width": TIMELINE_WIDTH, "programmes": programmes,
        "status_counts": sums.status_counts, "submissions": submissions, "submission_statuses": columns,
        "statuses": ApplicationStatus,
        "scoring": scoring, "overdue": [(names[township], missing) for township, missing in sums.overdue],
        "overdue_more": sums.overdue_more, "archive": sums.archive,
        "findings": findings, "findings_more": findings[0].total - len(findings) if findings else 0, "today": today,
    }


# Everything the page counts, per process, under the audit log's largest id (app.statements.changes_mark): while
# nothing at all has changed, a view reads one index entry instead of the sums' fingerprint and the live counts,
# which grow with the data (a province's running programmes have some 50,000 sheets and 20,000 reports). After any
# change, the sums are still kept under their own fingerprint (_SUMS), which only what they read changes.
_FIGURES = Remembered(kept=8)


def _figures(ids: list[int], bounds: dict[int, date], shape: tuple) -> tuple[BureauSums, dict, dict, list]:
    """The sums (remembered under their fingerprint), the scoring progress, the townships' names and the open
    findings."""
    state = tuple(select_rows(_state_statement(), running=ids)[0])
    sums = _SUMS.get((*shape, state), lambda: _sums(ids, bounds, HOME_ROWS))
    scoring = {pid: (done, total) for pid, done, total in select_rows(_scoring_statement(), running=ids)}
    shown = {township for rows in sums.submissions.values() for township, _counts in rows}
    shown |= {township for township, _n in sums.overdue}
    names = dict(select_rows(_names_statement(), ids=sorted(shown)))
    findings = select_rows(_findings_statement(), rows=HOME_ROWS)
    return sums, scoring, names, findings


@cache
def _submissions_statement() -> sa.Select:
    """Per running programme, its applications by township and status: the first ``rows`` townships with
    applications (by sort order), each row with the programme's number of such townships (``townships``). One
    statement whatever the number of programmes and townships, counted from the (programme, township, status)
    index."""
    by_status = (sa.select(Application.programme_id, Application.township_id, Application.status,
                           sa.func.count().label("applications"))
                 .where(Application.programme_id.in_(sa.bindparam("running", expanding=True)))
                 .group_by(Application.programme_id, Application.township_id, Application.status).subquery())
    ranked = (sa.select(by_status, sa.func.dense_rank().over(
                  partition_by=by_status.c.programme_id, order_by=(Township.sort_order, Township.id)).label("position"))
              .join(Township, Township.id == by_status.c.township_id).subquery())
    counted = sa.select(ranked, sa.func.max(ranked.c.position).over(partition_by=ranked.c.programme_id)
                        .label("townships")).subquery()  # a window over the ranks, so one level up
    return (sa.select(counted.c.programme_id, counted.c.township_id, counted.c.status, counted.c.applications,
                      counted.c.townships)
            .where(counted.c.position <= sa.bindparam("rows"))
            .order_by(counted.c.programme_id, counted.c.position))


def _sums(ids: list[int], bounds: dict[int, date], limit: int) -> BureauSums:
    """The sums of :class:`BureauSums`, in six queries whatever the number of applications, sites and reports."""
    status_counts = queries.status_counts(Application.programme_id.in_(ids))  # the bureau sees every application
    submissions: dict[int, dict[int, dict]] = {}
    townships_with: dict[int, int] = {}
    for programme, township, status, count, townships in select_rows(_submissions_statement(), running=ids,
                                                                     rows=limit):
        submissions.setdefault(programme, {}).setdefault(township, {})[status] = count
        townships_with[programme] = townships
    rows, townships = missing_by_township(bounds, limit=limit, ties=Township.sort_order)
    by_name = dict(db.session.execute(  # township names are unique
        sa.select(Township.name, Township.id).where(Township.name.in_([name for name, _n, _s in rows]))).tuples().all())
    return BureauSums(
        status_counts=status_counts,
        submissions={programme: list(shown.items()) for programme, shown in submissions.items()},
        submissions_more={programme: townships_with[programme] - len(shown)
                          for programme, shown in submissions.items()},
        overdue=[(by_name[name], missing) for name, missing, _sites in rows], overdue_more=townships - len(rows),
        archive=_archive_share(ids))


def _report_bounds(programmes: list[Programme], today: date) -> dict[int, date]:
    """Programme id → the last month whose report counts as missing (active programmes only): the month of its
    last milestone (of any kind), or the last overdue month if that is earlier."""
    last_overdue = last_overdue_month(today)
    bounds = {}
    for programme in programmes:
        if programme.status in ACTIVE:
            last = max((m.due_date for m in programme.milestones), default=None)
            bounds[programme.id] = min(first_of(last) if last else date(programme.year, 12, 1), last_overdue)
    return bounds


def _overdue_reports(programmes: list[Programme], today: date, limit: int) -> tuple[list[tuple[str, int]], int]:
    """Monthly reports past their 20th and not submitted, per township (active programmes only), most first: at
    most ``limit`` townships, and how many have missing reports in all; one statement whatever the number of sites
    and months (:func:`app.tracking.progress.missing_by_township`)."""
    rows, townships = missing_by_township(_report_bounds(programmes, today), limit=limit, ties=Township.sort_order)
    return [(name, missing) for name, missing, _sites in rows], townships


def _archive_share(programme_ids: list[int]) -> dict[int, int]:
    """Per programme: the share (%) of site × kind cells that hold at least one item."""
    sites = dict(db.session.execute(
        sa.select(Site.programme_id, sa.func.count(Site.id)).where(Site.programme_id.in_(programme_ids))
        .group_by(Site.programme_id)).tuples().all())
    cells = (
        sa.select(Site.programme_id.label("programme_id"), ArchiveItem.site_id, ArchiveItem.kind)
        .join(ArchiveItem.site).where(Site.programme_id.in_(programme_ids), ArchiveItem.deleted_at.is_(None))
        .distinct().subquery()
    )
    filled = dict(db.session.execute(
        sa.select(cells.c.programme_id, sa.func.count()).group_by(cells.c.programme_id)).tuples().all())
    return {pid: filled.get(pid, 0) * 100 // (count * 8) for pid, count in sites.items() if count}


# --- finance --------------------------------------------------------------------------------------------


def _money_by(model, key) -> dict:
    return {k: int(v) for k, v in db.session.execute(
        sa.select(key, sa.func.sum(model.amount_fen)).join(Site, Site.id == model.site_id)
        .join(Township, Township.id == Site.township_id).group_by(key)).tuples().all()}


def finance() -> dict:
    """Allocated, disbursed, spent and balance by source and by township, over every programme with sites."""
    sources = {s.id: s.name for s in db.session.scalars(sa.select(FundingSource).order_by(FundingSource.sort_order))}
    townships = {t.id: t.name for t in db.session.scalars(sa.select(Township).order_by(Township.sort_order))}
    by_source = [(_money_by(m, m.source_id)) for m in (Allocation, Disbursement, SpendingLine)]
    by_township = [(_money_by(m, Site.township_id)) for m in (Allocation, Disbursement, SpendingLine)]

    def rows(names: dict, columns: list[dict]) -> list[dict]:
        out = []
        for key, name in names.items():
            allocated, disbursed, spent = (column.get(key, 0) for column in columns)
            if allocated or disbursed or spent:
                out.append({"name": name, "allocated": allocated, "disbursed": disbursed, "spent": spent,
                            "balance": disbursed - spent})
        return out

    source_rows, township_rows = rows(sources, by_source), rows(townships, by_township)
    total = {key: sum(r[key] for r in source_rows) for key in ("allocated", "disbursed", "spent", "balance")}
    return {"source_rows": source_rows, "township_rows": township_rows, "money_total": total,
            "chart_max": max([r["allocated"] for r in township_rows] + [1])}


# --- a township ----------------------------------------------------------------------------------------


def township_tasks(township_id: int) -> list[Task]:
    """What the township must hand in, soonest first: nominations, monthly reports, milestones, returns."""
    today = china_today()
    tasks: list[Task] = []
    extended = dict(db.session.execute(sa.select(DeadlineExtension.programme_id, DeadlineExtension.due_date).where(
        DeadlineExtension.township_id == township_id)).tuples().all())
    for application in db.session.scalars(
        sa.select(Application).where(Application.township_id == township_id,
                                     Application.status.in_([ApplicationStatus.DRAFT, ApplicationStatus.RETURNED]))
        .join(Application.programme).where(Programme.status == ProgrammeStatus.OPEN)
        .options(sa.orm.joinedload(Application.community), sa.orm.joinedload(Application.programme)
                 .selectinload(Programme.milestones))
    ).unique():
        returned = application.status == ApplicationStatus.RETURNED
        due = max(filter(None, [application.programme.nomination_due, extended.get(application.programme_id)]),
                  default=today)
        if returned and application.resubmit_due:
            due = max(due, application.resubmit_due)
        tasks.append(Task(due, _("提交推荐：%(c)s", c=application.community.name),
                          application.last_reason if returned else application.programme.name,
                          url_for("applications.detail", application_id=application.id), returned))
    for item in db.session.scalars(
        sa.select(SiteMilestone).where(
            SiteMilestone.township_id == township_id,
            SiteMilestone.status.in_([MilestoneStatus.NOT_STARTED, MilestoneStatus.RETURNED]))
        .join(SiteMilestone.programme).where(Programme.status.in_(ACTIVE))
        .options(sa.orm.joinedload(SiteMilestone.milestone), sa.orm.joinedload(SiteMilestone.site)
                 .joinedload(Site.community))
    ).unique():
        returned = item.status == MilestoneStatus.RETURNED
        where = item.site.community.name if item.site else _("本镇(街道)汇总")
        tasks.append(Task(item.milestone.due_date, _("%(m)s：%(w)s", m=item.milestone.name, w=where),
                          item.reviewer_comment if returned else "", url_for("progress.milestone", item_id=item.id),
                          returned))
    sites = db.session.scalars(
        sa.select(Site).join(Site.programme).where(Site.township_id == township_id, Programme.status.in_(ACTIVE))
        .options(sa.orm.joinedload(Site.community),
                 sa.orm.joinedload(Site.programme).selectinload(Programme.milestones))
    ).unique().all()
    month = first_of(today)
    # Only sites that report on this month (a round whose last milestone has passed asks for no more reports).
    sites = [site for site in sites if month in report_months(site)]
    done = set(db.session.scalars(sa.select(MonthlyReport.site_id).where(
        MonthlyReport.site_id.in_([s.id for s in sites]), MonthlyReport.month == month,
        MonthlyReport.status == ReportStatus.SUBMITTED))) if sites else set()
    for site in sites:
        if site.id not in done:
            tasks.append(Task(due_date(month), _("%(m)s 月度进展：%(c)s", m=f"{month:%Y-%m}", c=site.community.name),
                              "", url_for("progress.report", site_id=site.id, month=f"{month:%Y-%m}")))
    return sorted(tasks, key=lambda task: (not task.returned, task.due))


# --- an evaluator -----------------------------------------------------------------------------------------


def evaluator(user) -> dict:
    sheets = db.session.scalars(
        sa.select(Assignment).where(Assignment.evaluator_id == user.id, Assignment.status != SheetStatus.SUBMITTED)
        .options(sa.orm.joinedload(Assignment.application).joinedload(Application.community),
                 sa.orm.joinedload(Assignment.application).joinedload(Application.programme))
        .order_by(Assignment.id)
    ).unique().all()
    return {"to_score": sheets, "today": china_today()}
