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
from app.programmes.models import DeadlineExtension, FundingSource, Milestone, Programme, ProgrammeStatus
from app.scoring.models import Assignment, SheetStatus
from app.tracking.models import (
    ArchiveItem,
    MilestoneStatus,
    MonthlyReport,
    ReportStatus,
    SiteMilestone,
    SpotCheck,
)
from app.tracking.progress import due_date, first_of, next_month

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


def bureau() -> dict:
    today = china_today()
    programmes = db.session.scalars(
        sa.select(Programme).where(Programme.status.in_(RUNNING))
        .options(sa.orm.selectinload(Programme.milestones)).order_by(Programme.year.desc(), Programme.id)
    ).all()
    ids = [p.id for p in programmes]
    submissions = defaultdict(lambda: defaultdict(int))
    for township, status, count in db.session.execute(
        sa.select(Township.name, Application.status, sa.func.count(Application.id))
        .join(Application.township).where(Application.programme_id.in_(ids))
        .group_by(Township.name, Township.sort_order, Application.status).order_by(Township.sort_order)
    ):
        submissions[township][status] += count
    scoring = {pid: (done, total) for pid, done, total in db.session.execute(
        sa.select(Application.programme_id,
                  sa.func.sum(sa.case((Assignment.status == SheetStatus.SUBMITTED, 1), else_=0)),
                  sa.func.count(Assignment.id))
        .join(Assignment.application).where(Application.programme_id.in_(ids)).group_by(Application.programme_id))}
    overdue = _overdue_reports(ids, today)
    archive = _archive_share(ids)
    findings = db.session.scalars(
        sa.select(SpotCheck).where(SpotCheck.follow_up_required.is_(True), SpotCheck.closed_at.is_(None))
        .options(sa.orm.joinedload(SpotCheck.site).joinedload(Site.community),
                 sa.orm.joinedload(SpotCheck.site).joinedload(Site.township))
        .order_by(SpotCheck.checked_on)
    ).unique().all()
    return {
        "timeline": timeline(programmes, today), "programmes": programmes,
        "submissions": {name: dict(counts) for name, counts in submissions.items()}, "statuses": ApplicationStatus,
        "scoring": scoring, "overdue": overdue, "archive": archive, "findings": findings, "today": today,
    }


def _overdue_reports(programme_ids: list[int], today: date) -> list[tuple[str, int]]:
    """Monthly reports past their 20th and not submitted, per township (active programmes only), two queries."""
    sites = db.session.execute(
        sa.select(Site.id, Site.selected_at, Township.name, Programme.year)
        .join(Site.township).join(Site.programme)
        .where(Site.programme_id.in_(programme_ids), Programme.status.in_(ACTIVE))
    ).all()
    if not sites:
        return []
    submitted = set(db.session.execute(
        sa.select(MonthlyReport.site_id, MonthlyReport.month).where(
            MonthlyReport.site_id.in_([s.id for s in sites]), MonthlyReport.status == ReportStatus.SUBMITTED)
    ).tuples())
    last_months = dict(db.session.execute(
        sa.select(Milestone.programme_id, sa.func.max(Milestone.due_date)).where(
            Milestone.programme_id.in_(programme_ids)).group_by(Milestone.programme_id)).tuples().all())
    counts: dict[str, int] = defaultdict(int)
    programme_of = dict(db.session.execute(sa.select(Site.id, Site.programme_id).where(
        Site.id.in_([s.id for s in sites]))).tuples().all())
    from app.tracking.progress import local_date

    for site_id, selected_at, township, year in sites:
        month = next_month(first_of(local_date(selected_at)))
        last = last_months.get(programme_of[site_id])
        end = first_of(last) if last else date(year, 12, 1)
        while month <= end and due_date(month) < today:
            if (site_id, month) not in submitted:
                counts[township] += 1
            month = next_month(month)
    return sorted(counts.items(), key=lambda pair: -pair[1])


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
