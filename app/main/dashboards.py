"""What each role's home page shows: what needs the user today. Each builder runs a fixed number of queries,
whatever the number of programmes, sites or lines (tests assert it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _

from app.applications.models import Application, ApplicationStatus
from app.database import china_today
from app.extensions import db
from app.funding.models import Allocation, Disbursement, Site, SpendingLine
from app.places.models import Township
from app.programmes.models import DeadlineExtension, FundingSource, Programme, ProgrammeStatus
from app.scoring.models import Assignment, SheetStatus
from app.tracking.models import (
    ArchiveItem,
    MilestoneStatus,
    MonthlyReport,
    ReportStatus,
    SiteMilestone,
    SpotCheck,
)
from app.tracking.progress import due_date, first_of, last_overdue_month, missing_by_township

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


def timeline(programmes: list[Programme], today: date) -> list[dict]:
    """Each running programme's milestones placed on its year, as percentages for a plain HTML/SVG bar."""
    rows = []
    for programme in programmes:
        start, end = date(programme.year, 1, 1), date(programme.year, 12, 31)
        span = (end - start).days or 1

        def at(day: date, start=start, span=span) -> float:
            return max(0.0, min(100.0, (day - start).days * 100 / span))

        rows.append({
            "programme": programme,
            "marks": [{"left": at(m.due_date), "name": m.name, "date": m.due_date, "past": m.due_date < today}
                      for m in programme.milestones],
            "today": at(today) if start <= today <= end else None,
        })
    return rows


# The bureau's lists that grow with the province (townships, open findings) show this many rows, the most pressing
# first, and say how many more there are.
HOME_ROWS = 20


def bureau(programmes: list[Programme] | None = None) -> dict:
    """A fixed number of queries whatever the number of programmes, townships, sites and reports.

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
    with_applications = sa.select(Application.township_id).where(Application.programme_id.in_(ids)).distinct()
    shown = (sa.select(Township.id).where(Township.id.in_(with_applications))
             .order_by(Township.sort_order, Township.id).limit(HOME_ROWS))
    submissions = defaultdict(lambda: defaultdict(int))
    for township, status, count in db.session.execute(
        sa.select(Township.name, Application.status, sa.func.count(Application.id))
        .join(Application.township).where(Application.programme_id.in_(ids), Application.township_id.in_(shown))
        .group_by(Township.name, Township.sort_order, Application.status).order_by(Township.sort_order)
    ):
        submissions[township][status] += count
    townships_with = db.session.scalar(sa.select(sa.func.count()).select_from(with_applications.subquery()))
    scoring = {pid: (done, total) for pid, done, total in db.session.execute(
        sa.select(Application.programme_id,
                  sa.func.sum(sa.case((Assignment.status == SheetStatus.SUBMITTED, 1), else_=0)),
                  sa.func.count(Assignment.id))
        .join(Assignment.application).where(Application.programme_id.in_(ids)).group_by(Application.programme_id))}
    overdue, overdue_townships = _overdue_reports(programmes, today, HOME_ROWS)
    archive = _archive_share(ids)
    open_findings = sa.and_(SpotCheck.follow_up_required.is_(True), SpotCheck.closed_at.is_(None))
    findings = db.session.scalars(
        sa.select(SpotCheck).where(open_findings)
        .options(sa.orm.joinedload(SpotCheck.site).joinedload(Site.community),
                 sa.orm.joinedload(SpotCheck.site).joinedload(Site.township))
        .order_by(SpotCheck.checked_on, SpotCheck.id).limit(HOME_ROWS)
    ).unique().all()
    findings_total = db.session.scalar(sa.select(sa.func.count(SpotCheck.id)).where(open_findings))
    return {
        "timeline": timeline(programmes, today), "programmes": programmes,
        "submissions": {name: dict(counts) for name, counts in submissions.items()}, "statuses": ApplicationStatus,
        "submissions_more": max(0, townships_with - len(submissions)),
        "scoring": scoring, "overdue": overdue, "overdue_more": overdue_townships - len(overdue),
        "archive": archive, "findings": findings, "findings_more": max(0, findings_total - len(findings)),
        "today": today,
    }


def _overdue_reports(programmes: list[Programme], today: date, limit: int) -> tuple[list[tuple[str, int]], int]:
    """Monthly reports past their 20th and not submitted, per township (active programmes only), most first: at
    most ``limit`` townships, and how many have missing reports in all; one statement whatever the number of sites
    and months (:func:`app.tracking.progress.missing_by_township`). A programme's months end with its last
    milestone (of any kind)."""
    last_overdue = last_overdue_month(today)
    bounds = {}  # programme id → the last month counted
    for programme in programmes:
        if programme.status in ACTIVE:
            last = max((m.due_date for m in programme.milestones), default=None)
            bounds[programme.id] = min(first_of(last) if last else date(programme.year, 12, 1), last_overdue)
    rows, townships = missing_by_township(bounds, limit=limit, ties=Township.sort_order)
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
        .options(sa.orm.joinedload(Site.community))
    ).unique().all()
    month = first_of(today)
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
