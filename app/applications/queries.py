"""Read-only views of the applications: the bureau's per-township overview and the filtered list."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from app.applications.models import Application, ApplicationStatus
from app.database import china_today
from app.extensions import db
from app.places.models import Community, Township
from app.programmes.models import DeadlineExtension, Programme
from app.programmes.operations import Allowance, allowance, effective_due, extensions_by_township, township_sizes

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


def township_overview(programme: Programme) -> list[OverviewRow]:
    """One row per township: allowed, nominated, submitted, returned, late, missing — in five queries.

    A province has hundreds of townships: each row's ``township`` is a light row (id, name, sort_order), and the
    allowance (which depends only on the township's size) is worked out once per size."""
    sizes = township_sizes()
    extensions = extensions_by_township(programme)
    due = programme.nomination_due
    allowances: dict[int, Allowance] = {}

    def allowed(size: int) -> Allowance:
        if size not in allowances:
            allowances[size] = allowance(programme, size)
        return allowances[size]

    rows = {
        township.id: OverviewRow(
            township=township,
            allowance=allowed(sizes.get(township.id, 0)),
            due=effective_due(programme, township.id, extensions[township.id]) if township.id in extensions
            else due,
            extension=extensions.get(township.id),
        )
        for township in db.session.execute(
            sa.select(Township.id, Township.name, Township.sort_order).order_by(Township.sort_order, Township.id))
    }
    counts = db.session.execute(
        sa.select(Application.township_id, Application.status, Application.submitted_late, sa.func.count())
        .where(Application.programme_id == programme.id)
        .group_by(Application.township_id, Application.status, Application.submitted_late)
    )
    for township_id, status, late, number in counts:
        row = rows[township_id]
        row.counts[status] += number
        if late and status in SUBMITTED_OR_LATER:
            row.late += number
    ordered = list(rows.values())
    due = programme.nomination_due
    if due is not None and china_today() >= due - timedelta(days=NEAR_DEADLINE_DAYS):
        ordered.sort(key=lambda row: (row.submitted > 0, row.township.sort_order))
    return ordered


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
