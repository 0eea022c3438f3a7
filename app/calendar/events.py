"""Every deadline a user has to keep, for the calendar page and the subscription feed.

Deadlines are dates in China (Asia/Shanghai). The queries are bounded: a handful per call, however many
programmes, milestones or sites there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.accounts.models import Role
from app.applications.models import Application
from app.extensions import db
from app.funding.models import Site
from app.permissions import Permission, has_permission, site_filter, township_scope
from app.programmes.models import DeadlineExtension, MilestoneKind, Programme, ProgrammeStatus
from app.scoring.models import Assignment
from app.tracking.progress import due_date, report_months

# Programmes whose sites hand in monthly reports (the same as the reminders').
ACTIVE = (ProgrammeStatus.SELECTED, ProgrammeStatus.IMPLEMENTING)

EXTENSION = "extension"
MONTHLY = "monthly"
SCORING = "scoring"

_OWN_KIND_TITLES = {EXTENSION: _l("延期截止"), MONTHLY: _l("月度进展报送"), SCORING: _l("评分截止")}


@dataclass(frozen=True)
class Deadline:
    date: date
    title: str
    kind: str  # a MilestoneKind value, or extension / monthly / scoring
    programme: str  # the programme's name
    link: str  # a path inside the site
    uid: str  # stable per deadline (and per township where the date is the township's own)

    @property
    def kind_title(self) -> str:
        if self.kind in _OWN_KIND_TITLES:
            return str(_OWN_KIND_TITLES[self.kind])
        try:
            return str(MilestoneKind(self.kind).title)
        except ValueError:
            return self.kind


def _sees_everything(user) -> bool:
    """The bureau and finance see every programme past its draft; townships and communities their own."""
    return has_permission(user, Permission.PROGRAMMES_VIEW) and township_scope(user) is None


def _participation(user) -> sa.ColumnElement[bool]:
    """Programmes a township or community takes part in (has applications or sites in), and open ones."""
    if user.role == Role.COMMUNITY:
        own_application = Application.community_id == user.community_id
        own_site = Site.community_id == user.community_id
    else:
        scope = township_scope(user)
        own_application = Application.township_id == scope
        own_site = Site.township_id == scope
    return sa.or_(
        Programme.status == ProgrammeStatus.OPEN,
        Programme.id.in_(sa.select(Application.programme_id).where(own_application)),
        Programme.id.in_(sa.select(Site.programme_id).where(own_site)),
    )


def _programmes(user) -> list[Programme]:
    if not has_permission(user, Permission.PROGRAMMES_VIEW):
        return []
    query = (sa.select(Programme).where(Programme.status != ProgrammeStatus.DRAFT)
             .options(sa.orm.selectinload(Programme.milestones)).order_by(Programme.id))
    if not _sees_everything(user):
        query = query.where(_participation(user))
    return list(db.session.scalars(query))


def _milestones(user, programmes: list[Programme], start: date, end: date) -> list[Deadline]:
    if not programmes:
        return []
    township = township_scope(user)
    everything = township is None
    extensions_query = (sa.select(DeadlineExtension)
                        .where(DeadlineExtension.programme_id.in_([p.id for p in programmes]))
                        .order_by(DeadlineExtension.id))
    if everything:
        extensions_query = extensions_query.options(sa.orm.joinedload(DeadlineExtension.township))
    else:
        extensions_query = extensions_query.where(DeadlineExtension.township_id == township)
    extensions: dict[int, list[DeadlineExtension]] = {}
    for extension in db.session.scalars(extensions_query):
        extensions.setdefault(extension.programme_id, []).append(extension)

    found = []
    for programme in programmes:
        link = url_for("programmes.detail", programme_id=programme.id)
        own = extensions.get(programme.id, [])
        nomination = programme.nomination_milestone
        for milestone in programme.milestones:
            day = milestone.due_date
            uid = f"milestone-{milestone.id}@sfd" if everything else f"milestone-{milestone.id}-{township}@sfd"
            title = milestone.name
            if not everything and milestone is nomination and own and own[0].due_date > day:
                # The township's own deadline replaces the programme's (as in applications.operations).
                day = own[0].due_date
                title = _("%(name)s（本镇延期）", name=milestone.name)
            if start <= day <= end:
                found.append(Deadline(day, title, milestone.kind.value, programme.name, link, uid))
        for extension in own:
            if not everything and nomination is not None:
                continue  # shown above, in place of the programme's nomination deadline
            if start <= extension.due_date <= end:
                name = nomination.name if nomination is not None else str(MilestoneKind.NOMINATION.title)
                title = (_("%(name)s（%(township)s 延期）", name=name, township=extension.township.name)
                         if everything else _("%(name)s（本镇延期）", name=name))
                found.append(Deadline(extension.due_date, title, EXTENSION, programme.name, link,
                                      f"extension-{extension.id}@sfd"))
    return found


def _monthly(user, programmes: list[Programme], start: date, end: date) -> list[Deadline]:
    active = {p.id: p for p in programmes if p.status in ACTIVE}
    if not active or not has_permission(user, Permission.FUNDING_VIEW):
        return []
    sites = db.session.scalars(
        sa.select(Site).where(Site.programme_id.in_(list(active)), site_filter(user))
        .options(sa.orm.joinedload(Site.community)).order_by(Site.programme_id, Site.township_id, Site.id)
    ).all()
    found = []
    if township_scope(user) is None:
        # The bureau and finance: one entry per programme and month, whatever the number of sites.
        months: dict[int, set[date]] = {}
        for site in sites:
            months.setdefault(site.programme_id, set()).update(report_months(site, active[site.programme_id]))
        for programme_id, programme_months in months.items():
            programme = active[programme_id]
            link = url_for("progress.programme", programme_id=programme_id)
            for month in sorted(programme_months):
                if start <= due_date(month) <= end:
                    found.append(Deadline(due_date(month), _("%(m)s 月度进展报送", m=f"{month:%Y-%m}"), MONTHLY,
                                          programme.name, link, f"monthly-p{programme_id}-{month:%Y%m}@sfd"))
        return found
    for site in sites:
        programme = active[site.programme_id]
        for month in report_months(site, programme):
            if start <= due_date(month) <= end:
                found.append(Deadline(
                    due_date(month), _("%(c)s %(m)s 月度进展报送", c=site.community.name, m=f"{month:%Y-%m}"),
                    MONTHLY, programme.name,
                    url_for("progress.report", site_id=site.id, month=f"{month:%Y-%m}"),
                    f"monthly-s{site.id}-{month:%Y%m}@sfd"))
    return found


def _scoring(user, programmes: list[Programme], start: date, end: date) -> list[Deadline]:
    window = sa.and_(Programme.scoring_due.is_not(None), Programme.scoring_due >= start, Programme.scoring_due <= end,
                     Programme.status != ProgrammeStatus.DRAFT)
    if user.role == Role.EVALUATOR:
        rows = db.session.execute(
            sa.select(Programme.id, Programme.name, Programme.scoring_due).where(
                window, Programme.id.in_(sa.select(Application.programme_id).join_from(
                    Assignment, Application, Assignment.application_id == Application.id)
                    .where(Assignment.evaluator_id == user.id)))
            .order_by(Programme.id)).all()
        link = url_for("scoring.index")
        return [Deadline(due, _("评分截止"), SCORING, name, link, f"scoring-{pid}@sfd") for pid, name, due in rows]
    if has_permission(user, Permission.RANKING_VIEW):
        # The bureau and finance run the scoring: they keep its deadline too.
        return [Deadline(p.scoring_due, _("评分截止"), SCORING, p.name,
                         url_for("programmes.detail", programme_id=p.id), f"scoring-{p.id}@sfd")
                for p in programmes if p.scoring_due is not None and start <= p.scoring_due <= end]
    return []


def deadlines(user, start: date, end: date) -> list[Deadline]:
    """Every deadline of ``user``'s programmes from ``start`` to ``end`` (both included), by date."""
    if not has_permission(user, Permission.CALENDAR_VIEW) or end < start:
        return []
    programmes = _programmes(user)
    found = (_milestones(user, programmes, start, end) + _monthly(user, programmes, start, end)
             + _scoring(user, programmes, start, end))
    return sorted(found, key=lambda d: (d.date, d.programme, d.title, d.uid))

