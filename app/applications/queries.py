"""Read-only views of the applications: the bureau's per-township overview and the filtered list."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app

from app.applications.models import Application, ApplicationStatus
from app.database import china_today
from app.extensions import db
from app.pagination import CappedPage, requested_page
from app.places.models import Community, Township
from app.programmes.models import DeadlineExtension, NominationRule, Programme
from app.programmes.operations import Allowance, allowance, effective_due
from app.statements import Remembered, changes_mark, select_rows

A = ApplicationStatus
SUBMITTED_OR_LATER = (A.SUBMITTED, A.ACCEPTED, A.REJECTED)
# From this many days before the deadline, townships that have sent nothing are listed first.
NEAR_DEADLINE_DAYS = 14


class OverviewExtension(NamedTuple):
    """What the overview shows of a township's deadline extension."""

    id: int
    due_date: date
    reason: str


@dataclass
class OverviewRow:
    """A township's line of the overview. Its figures are worked out once: a page is remembered and shown again
    (see :func:`township_overview`)."""

    township: sa.Row  # (id, name, sort_order) of the township
    allowance: Allowance
    due: date | None
    extension: OverviewExtension | None
    counts: Counter = field(default_factory=Counter)
    late: int = 0

    @functools.cached_property
    def nominated(self) -> int:
        return sum(n for status, n in self.counts.items() if status != A.WITHDRAWN)

    @functools.cached_property
    def submitted(self) -> int:
        return sum(self.counts[s] for s in SUBMITTED_OR_LATER)

    @functools.cached_property
    def returned(self) -> int:
        return self.counts[A.RETURNED]

    @functools.cached_property
    def drafts(self) -> int:
        return self.counts[A.DRAFT]

    @functools.cached_property
    def missing(self) -> int:
        return max(0, self.allowance.minimum - self.submitted)

    @functools.cached_property
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


def _township_size(township_id, official) -> sa.ColumnElement:
    """Its official count of communities where the seed data has one, else those active in the system
    (township_sizes()): a count over one township's communities, so that it runs only for the rows that need it."""
    in_system = (sa.select(sa.func.count(Community.id))
                 .where(Community.township_id == township_id, Community.active.is_(True)).scalar_subquery())
    return sa.case((official > 0, official), else_=in_system)


@functools.cache
def _overview_statement(by_size: bool, has_due: bool, near_deadline: bool, state: str, has_text: bool) -> sa.Select:
    """Every township as one row (id, name, sort_order, its size, its count of applications per status and of late
    ones, its extension, and how many rows there are in all), narrowed by the overview's filters and in the
    overview's order, all in SQL: a province has about a thousand townships and the page shows fifty. The rules are
    those of :class:`OverviewRow`. A township's size (a count of its communities, some 20,000 in a province) is
    counted for the page's rows only, unless a filter needs it. Built once per shape (building it costs more than
    running it); the programme's values, today and the page are bound parameters."""
    official = (sa.func.coalesce(Township.official_urban_communities, 0)
                + sa.func.coalesce(Township.official_villages, 0))
    per_status = [sa.func.sum(sa.case((Application.status == status, 1), else_=0)).label(status.value)
                  for status in A]
    late_submission = sa.and_(Application.submitted_late.is_(True), Application.status.in_(SUBMITTED_OR_LATER))
    programme_id = sa.bindparam("programme_id", type_=sa.Integer)
    counts = (sa.select(Application.township_id, *per_status,
                        sa.func.sum(sa.case((late_submission, 1), else_=0)).label("late"))
              .where(Application.programme_id == programme_id).group_by(Application.township_id).subquery())
    extension = (sa.select(DeadlineExtension.id, DeadlineExtension.township_id, DeadlineExtension.due_date,
                           DeadlineExtension.reason)
                 .where(DeadlineExtension.programme_id == programme_id).subquery())

    def count(status) -> sa.ColumnElement:
        return sa.func.coalesce(getattr(counts.c, status.value), 0)

    def minimum(size) -> sa.ColumnElement:  # allowance()
        if by_size:
            return sa.case((size < sa.bindparam("size_threshold", type_=sa.Integer),
                            sa.bindparam("min_small", type_=sa.Integer)),
                           else_=sa.bindparam("min_large", type_=sa.Integer))
        return sa.bindparam("nomination_min", type_=sa.Integer)

    submitted = sum((count(status) for status in SUBMITTED_OR_LATER), sa.literal(0))
    late = sa.func.coalesce(counts.c.late, 0)
    short = minimum(_township_size(Township.id, official)) - submitted
    missing = sa.case((short > 0, short), else_=0)
    base_due = sa.bindparam("base_due", type_=sa.Date)
    due = (sa.case((extension.c.due_date > base_due, extension.c.due_date), else_=base_due) if has_due
           else extension.c.due_date)  # effective_due()
    overdue = sa.and_(due.is_not(None), due < sa.bindparam("today", type_=sa.Date), missing > 0)
    query = (
        sa.select(Township.id, Township.name, Township.sort_order, official.label("official"),
                  *(count(status).label(status.value) for status in A), late.label("late"),
                  submitted.label("sent_in"), extension.c.id.label("extension_id"),
                  extension.c.due_date.label("extension_due"), extension.c.reason.label("extension_reason"),
                  sa.func.count().over().label("total_rows"))
        .outerjoin(counts, counts.c.township_id == Township.id)
        .outerjoin(extension, extension.c.township_id == Township.id)
    )
    conditions = {"nothing": submitted == 0, "returned": count(A.RETURNED) > 0, "late": sa.or_(late > 0, overdue),
                  "missing": missing > 0}
    if state in conditions:
        query = query.where(conditions[state])
    if has_text:
        query = query.where(Township.name.like(sa.bindparam("pattern", type_=sa.String), escape="/"))

    def ordered(sort_order, id_, sent) -> list[sa.ColumnElement]:
        # Near the deadline, townships that have sent nothing come first.
        return [sent > 0, sort_order, id_] if near_deadline else [sort_order, id_]

    page = (query.order_by(*ordered(Township.sort_order, Township.id, submitted))
            .limit(sa.bindparam("limit")).offset(sa.bindparam("offset")).subquery())
    return (sa.select(page, _township_size(page.c.id, page.c.official).label("size"))
            .order_by(*ordered(page.c.sort_order, page.c.id, page.c.sent_in)))


# Pages of the overview under the audit log's largest id (app.statements.changes_mark; applications, townships,
# communities and extensions are audited) and the programme's rules as read: a page counts the applications of
# every township (some 950 in a province) to order them, and the bureau opens it far more often than they change.
_OVERVIEW_PAGES = Remembered(kept=64)


def township_overview(programme: Programme, state: str = "", text: str = "") -> CappedPage:
    """One page (?page=) of the per-township overview, filtered by ``state`` (one of :data:`OVERVIEW_STATES`; any
    other value shows every township) and by ``text`` in the township's name: allowed, nominated, submitted,
    returned, late, missing. One statement whatever the number of townships and applications (two for a page
    past the end), remembered until anything changes."""
    state = state if state in OVERVIEW_STATES else ""
    due = programme.nomination_due
    today = china_today()
    near = due is not None and today >= due - timedelta(days=NEAR_DEADLINE_DAYS)
    statement = _overview_statement(programme.nomination_rule == NominationRule.BY_SIZE, due is not None, near,
                                    state, bool(text))
    size = current_app.config["PAGE_SIZE"]
    number = requested_page()
    params = {"programme_id": programme.id, "size_threshold": programme.size_threshold,
              "min_small": programme.min_small, "min_large": programme.min_large,
              "nomination_min": programme.nomination_min, "base_due": due, "today": today,
              "pattern": "%" + text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"}
    mark = changes_mark()
    return _OVERVIEW_PAGES.get((statement, tuple(params.items()), number, size, mark),
                               lambda: _overview_page(programme, statement, params, number, size))


def _overview_page(programme: Programme, statement: sa.Select, params: dict, number: int, size: int) -> CappedPage:
    due = params["base_due"]
    found = select_rows(statement, **params, limit=size, offset=(number - 1) * size)
    if not found and number > 1:  # past the end: the first row still carries the count
        first = select_rows(statement, **params, limit=1, offset=0)
        total = first[0].total_rows if first else 0
    else:
        total = found[0].total_rows if found else 0
    allowances: dict[int, Allowance] = {}
    rows = []
    for row in found:
        if row.size not in allowances:
            allowances[row.size] = allowance(programme, row.size)
        extension = (OverviewExtension(row.extension_id, row.extension_due, row.extension_reason)
                     if row.extension_id is not None else None)
        counts = Counter({status: getattr(row, status.value) for status in A if getattr(row, status.value)})
        rows.append(OverviewRow(township=row, allowance=allowances[row.size],
                                due=effective_due(programme, row.id, extension) if extension else due,
                                extension=extension, counts=counts, late=row.late))
    return CappedPage(rows, number, size, total, False, number * size < total)


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
