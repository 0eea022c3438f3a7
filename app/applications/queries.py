"""Read-only views of the applications: the bureau's per-township overview and the filtered list."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from app.applications.models import Application, ApplicationStatus
from app.database import china_today
from app.extensions import db
from app.pagination import RowsPagination, paginate_rows
from app.places.models import Community, Township
from app.programmes.models import DeadlineExtension, NominationRule, Programme
from app.programmes.operations import Allowance, allowance, effective_due

A = ApplicationStatus
SUBMITTED_OR_LATER = (A.SUBMITTED, A.ACCEPTED, A.REJECTED)
# From this many days before the deadline, townships that have sent nothing are listed first.
NEAR_DEADLINE_DAYS = 14


@dataclass
class OverviewRow:
    township: sa.Row  # (id, name, sort_order) of the township
    allowance: Allowance
    due: date | None
    extension: DeadlineExtension | None
    counts: Counter = field(default_factory=Counter)
    late: int = 0

    @property
    def nominated(self) -> int:
        return sum(n for status, n in self.counts.items() if status != A.WITHDRAWN)

    @property
    def submitted(self) -> int:
        return sum(self.counts[s] for s in SUBMITTED_OR_LATER)

    @property
    def returned(self) -> int:
        return self.counts[A.RETURNED]

    @property
    def drafts(self) -> int:
        return self.counts[A.DRAFT]

    @property
    def missing(self) -> int:
        return max(0, self.allowance.minimum - self.submitted)

    @property
    def overdue(self) -> bool:
        return self.due is not None and china_today() > self.due and self.missing > 0

    def matches(self, state: str) -> bool:
        return {
            "nothing": self.submitted == 0,
            "returned": self.returned > 0,
            "late": self.late > 0 or self.overdue,
            "missing": self.missing > 0,
        }[state]


OVERVIEW_STATES = ("nothing", "returned", "late", "missing")


def _overview_select(programme: Programme, state: str = "", text: str = "") -> sa.Select:
    """Every township as one row (id, name, sort_order, its size, its count of applications per status and of late
    ones), narrowed by the overview's filters and in the overview's order, all in SQL: a province has about a
    thousand townships and the page shows fifty of them. The rules are those of :class:`OverviewRow`."""
    in_system = (sa.select(Community.township_id, sa.func.count(Community.id).label("communities"))
                 .where(Community.active.is_(True)).group_by(Community.township_id).subquery())
    official = (sa.func.coalesce(Township.official_urban_communities, 0)
                + sa.func.coalesce(Township.official_villages, 0))
    size = sa.case((official > 0, official), else_=sa.func.coalesce(in_system.c.communities, 0))  # township_sizes()
    per_status = [sa.func.sum(sa.case((Application.status == status, 1), else_=0)).label(status.value)
                  for status in A]
    late_submission = sa.and_(Application.submitted_late.is_(True), Application.status.in_(SUBMITTED_OR_LATER))
    counts = (sa.select(Application.township_id, *per_status,
                        sa.func.sum(sa.case((late_submission, 1), else_=0)).label("late"))
              .where(Application.programme_id == programme.id).group_by(Application.township_id).subquery())
    extension = (sa.select(DeadlineExtension.township_id, DeadlineExtension.due_date)
                 .where(DeadlineExtension.programme_id == programme.id).subquery())

    def count(status) -> sa.ColumnElement:
        return sa.func.coalesce(getattr(counts.c, status.value), 0)

    submitted = sum((count(status) for status in SUBMITTED_OR_LATER), sa.literal(0))
    late = sa.func.coalesce(counts.c.late, 0)
    if programme.nomination_rule == NominationRule.BY_SIZE:  # allowance()
        minimum = sa.case((size < programme.size_threshold, programme.min_small), else_=programme.min_large)
    else:
        minimum = sa.literal(programme.nomination_min)
    missing = sa.case((minimum - submitted > 0, minimum - submitted), else_=0)
    base_due = programme.nomination_due
    due = (extension.c.due_date if base_due is None else
           sa.case((extension.c.due_date > base_due, extension.c.due_date), else_=base_due))  # effective_due()
    overdue = sa.and_(due.is_not(None), due < china_today(), missing > 0)
    query = (
        sa.select(Township.id, Township.name, Township.sort_order, size.label("size"),
                  *(count(status).label(status.value) for status in A), late.label("late"))
        .outerjoin(in_system, in_system.c.township_id == Township.id)
        .outerjoin(counts, counts.c.township_id == Township.id)
        .outerjoin(extension, extension.c.township_id == Township.id)
    )
    conditions = {"nothing": submitted == 0, "returned": count(A.RETURNED) > 0, "late": sa.or_(late > 0, overdue),
                  "missing": missing > 0}
    if state in conditions:
        query = query.where(conditions[state])
    if text:
        query = query.where(Township.name.contains(text, autoescape=True))
    order = [Township.sort_order, Township.id]
    if base_due is not None and china_today() >= base_due - timedelta(days=NEAR_DEADLINE_DAYS):
        order.insert(0, submitted > 0)  # near the deadline, townships that have sent nothing come first
    return query.order_by(*order)


def township_overview(programme: Programme, state: str = "", text: str = "") -> RowsPagination:
    """One page (?page=) of the per-township overview, filtered by ``state`` (one of :data:`OVERVIEW_STATES`; any
    other value shows every township) and by ``text`` in the township's name: allowed, nominated, submitted,
    returned, late, missing. Three queries whatever the number of townships and applications."""
    page = paginate_rows(_overview_select(programme, state, text))
    extensions = {row.township_id: row for row in db.session.scalars(
        sa.select(DeadlineExtension).where(DeadlineExtension.programme_id == programme.id,
                                           DeadlineExtension.township_id.in_([row.id for row in page.items])))
    } if page.items else {}
    allowances: dict[int, Allowance] = {}
    rows = []
    for row in page.items:
        if row.size not in allowances:
            allowances[row.size] = allowance(programme, row.size)
        extension = extensions.get(row.id)
        counts = Counter({status: getattr(row, status.value) for status in A if getattr(row, status.value)})
        rows.append(OverviewRow(township=row, allowance=allowances[row.size],
                                due=effective_due(programme, row.id, extension) if extension else
                                programme.nomination_due, extension=extension, counts=counts, late=row.late))
    page.items = rows
    return page


def filtered_applications(base_filter, filters: dict) -> sa.Select:
    """Applications the user may see, narrowed by the list's filters; community and township loaded with them."""
    query = (
        sa.select(Application)
        .join(Application.community)
        .join(Application.township)
        .join(Application.programme)
        .where(base_filter)
        .options(
            sa.orm.contains_eager(Application.community),
            sa.orm.contains_eager(Application.township),
            sa.orm.contains_eager(Application.programme),
        )
    )
    if filters.get("programme"):
        query = query.where(Application.programme_id == filters["programme"])
    if filters.get("township"):
        query = query.where(Application.township_id == filters["township"])
    if filters.get("status") in {s.value for s in A}:
        query = query.where(Application.status == A(filters["status"]))
    if filters.get("q"):
        text = filters["q"]
        query = query.where(sa.or_(Community.name.contains(text), Application.reference.contains(text),
                                   Application.project_name.contains(text)))
    return query.order_by(Programme.year.desc(), Township.sort_order, Application.sequence)


def status_counts(base_filter) -> dict[int, Counter]:
    """{programme id: Counter of application statuses} over what the user may see, in one query."""
    result: dict[int, Counter] = {}
    for programme_id, status, number in db.session.execute(
        sa.select(Application.programme_id, Application.status, sa.func.count())
        .where(base_filter)
        .group_by(Application.programme_id, Application.status)
    ):
        result.setdefault(programme_id, Counter())[status] += number
    return result
