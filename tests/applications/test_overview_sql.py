"""Issue 9: the per-township overview is filtered, ordered and paged in SQL. Its rows must be those the overview's
own rules (OverviewRow) give when worked out in Python from every application, for every filter and both rules."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.applications.models import Application, ApplicationStatus
from app.applications.queries import NEAR_DEADLINE_DAYS, OVERVIEW_STATES, OverviewRow, township_overview
from app.database import china_today
from app.extensions import db
from app.places.models import Community, Township
from app.programmes.models import DeadlineExtension, NominationRule, Programme
from app.programmes.operations import allowance, effective_due, township_sizes

A = ApplicationStatus


def _expected(programme: Programme, state: str, text: str) -> list[tuple]:
    """The overview as the Python rules give it: every township, every application."""
    sizes = township_sizes()
    extensions = {e.township_id: e for e in db.session.scalars(
        sa.select(DeadlineExtension).where(DeadlineExtension.programme_id == programme.id))}
    rows = []
    for township in db.session.execute(sa.select(Township.id, Township.name, Township.sort_order)
                                       .order_by(Township.sort_order, Township.id)):
        counts = Counter(status for (status,) in db.session.execute(
            sa.select(Application.status).where(Application.programme_id == programme.id,
                                                Application.township_id == township.id)))
        late = db.session.scalar(sa.select(sa.func.count()).where(
            Application.programme_id == programme.id, Application.township_id == township.id,
            Application.submitted_late.is_(True),
            Application.status.in_([A.SUBMITTED, A.ACCEPTED, A.REJECTED])))
        extension = extensions.get(township.id)
        rows.append(OverviewRow(township, allowance(programme, sizes.get(township.id, 0)),
                                effective_due(programme, township.id, extension), extension, counts, late))
    due = programme.nomination_due
    if due is not None and china_today() >= due - timedelta(days=NEAR_DEADLINE_DAYS):
        rows.sort(key=lambda row: (row.submitted > 0, row.township.sort_order))
    rows = [row for row in rows if (state not in OVERVIEW_STATES or row.matches(state))
            and text in row.township.name]
    return [_shape(row) for row in rows]


def _shape(row: OverviewRow) -> tuple:
    return (row.township.id, row.allowance, row.due, row.extension.id if row.extension else None, row.nominated,
            row.drafts, row.submitted, row.returned, row.late, row.missing, row.overdue)


@pytest.fixture
def busy_programme(app, make_programme, places):
    """A programme past its deadline with applications in every state in a few townships, and an extension."""
    programme_id = make_programme(due_in_days=-3)
    with app.app_context():
        townships = db.session.scalars(sa.select(Township).order_by(Township.sort_order, Township.id)).all()
        states = [[A.SUBMITTED, A.DRAFT], [A.RETURNED], [A.ACCEPTED, A.SUBMITTED], [A.WITHDRAWN], [A.REJECTED],
                  [A.DRAFT, A.DRAFT]]
        number = 0
        for township, statuses in zip(townships, states, strict=False):
            communities = db.session.scalars(sa.select(Community.id).where(Community.township_id == township.id)
                                             .limit(len(statuses))).all()
            for status, community in zip(statuses, communities, strict=False):
                number += 1
                db.session.add(Application(programme_id=programme_id, township_id=township.id,
                                           community_id=community, sequence=number, reference=f"OV-{number}",
                                           status=status, submitted_late=number % 3 == 0))
        db.session.add(DeadlineExtension(programme_id=programme_id, township_id=townships[1].id,
                                         due_date=china_today() + timedelta(days=5), reason="台风"))
        db.session.add(DeadlineExtension(programme_id=programme_id, township_id=townships[5].id,
                                         due_date=china_today() - timedelta(days=1), reason="迟"))
        db.session.commit()
    return programme_id


@pytest.mark.parametrize("rule", [NominationRule.FIXED, NominationRule.BY_SIZE])
@pytest.mark.parametrize("state", ["", *OVERVIEW_STATES, "weird"])
def test_the_sql_overview_agrees_with_the_rules(app, busy_programme, rule, state):
    app.config["PAGE_SIZE"] = 1000
    try:
        with app.app_context():
            programme = db.session.get(Programme, busy_programme)
            programme.nomination_rule = rule
            programme.nomination_min, programme.min_small, programme.min_large = 2, 1, 3
            programme.size_threshold = 20
            db.session.flush()
            for text in ("", "镇", "安海"):
                with app.test_request_context("/"):
                    page = township_overview(programme, state, text)
                    assert [_shape(row) for row in page.items] == _expected(programme, state, text)
                    assert page.total == len(page.items)
            db.session.rollback()
    finally:
        app.config["PAGE_SIZE"] = 50


def test_the_overview_pages_in_sql(app, busy_programme):
    with app.app_context():
        programme = db.session.get(Programme, busy_programme)
        townships = db.session.scalar(sa.select(sa.func.count(Township.id)))
        app.config["PAGE_SIZE"] = 4
        try:
            with app.test_request_context("/?page=2"):
                second = township_overview(programme)
            with app.test_request_context("/?page=999"):
                beyond = township_overview(programme)
        finally:
            app.config["PAGE_SIZE"] = 50
        expected = _expected(programme, "", "")
        assert [_shape(row) for row in second.items] == expected[4:8]
        assert second.total == townships and second.pages == -(-townships // 4)
        assert beyond.items == [] and beyond.total == townships


def test_a_page_is_remembered_until_something_changes(app, busy_programme):
    with app.app_context():
        programme = db.session.get(Programme, busy_programme)
        with app.test_request_context("/"):
            before = township_overview(programme)
            assert township_overview(programme) is before  # nothing changed: the same page
        township = before.items[0].township.id
        community = db.session.scalar(sa.select(Community.id).where(Community.township_id == township)
                                      .order_by(Community.id.desc()).limit(1))
        db.session.add(Application(programme_id=programme.id, township_id=township, community_id=community,
                                   sequence=99, reference="OV-99", status=A.SUBMITTED))
        db.session.commit()
        with app.test_request_context("/"):
            after = township_overview(programme)
        assert after is not before
        assert [_shape(row) for row in after.items] == _expected(programme, "", "")
        row = next(row for row in after.items if row.township.id == township)
        assert row.submitted == next(r for r in before.items if r.township.id == township).submitted + 1
