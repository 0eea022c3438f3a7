"""Each role's home page: what needs the user today, in a number of queries that does not grow with the data."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.applications.models import Application, ApplicationStatus
from app.database import china_today
from app.extensions import db
from app.funding.models import Disbursement
from app.tracking.models import SpotCheck
from tests.funding.conftest import funded  # noqa: F401
from tests.tracking.test_progress import tracked  # noqa: F401


def _more_money(app, funded, lines: int):  # noqa: F811
    with app.app_context():
        for number in range(lines):
            db.session.add(Disbursement(site_id=funded.sites[number % 2], source_id=funded.city,
                                        entry_date=china_today(), amount_fen=100 + number,
                                        voucher_no=f"DB-{lines}-{number}"))
        db.session.add(SpotCheck(site_id=funded.sites[0], checked_on=china_today(), inspectors="x",
                                 findings="y", follow_up_required=True, follow_up=f"z{lines}"))
        db.session.commit()


@pytest.mark.parametrize("role", ["bureau", "finance", "township", "evaluator", "community"])
def test_home_query_count_does_not_grow(app, client, login_as, funded, count_queries, role):  # noqa: F811
    login_as(role)
    with count_queries() as first:  # nothing remembered yet
        client.get("/")
    with count_queries() as small:
        assert client.get("/").status_code == 200
    _more_money(app, funded, 12)
    # The bureau's figures are counted again once after any change (then remembered): never more than the first time.
    with count_queries() as changed:
        client.get("/")
    with count_queries() as large:
        client.get("/")
    assert large.count == small.count and changed.count <= first.count


def test_finance_home_shows_money_by_source_and_township_with_a_chart(app, client, login_as, funded):  # noqa: F811
    _more_money(app, funded, 3)
    login_as("finance")
    page = client.get("/").get_data(as_text=True)
    assert 'id="township-chart"' in page and "<svg" in page and "<script>" not in page
    # 3 lines of 1.00, 1.01 and 1.02 yuan were paid; allocations were 50,000 + 30,000 + 30,000 yuan.
    assert "¥3.03" in page and "¥110,000.00" in page


def test_bureau_home_shows_open_findings_and_the_timeline(app, client, login_as, funded):  # noqa: F811
    _more_money(app, funded, 1)
    login_as("bureau")
    page = client.get("/").get_data(as_text=True)
    assert 'id="timeline"' in page and 'id="open-findings"' in page and "z1" in page


def test_township_tasks_put_returns_first_then_the_soonest(app, client, login_as, make_programme, places):
    from tests.applications.helpers import communities_of

    programme = make_programme(due_in_days=20)
    soon = make_programme(due_in_days=3)
    second = communities_of(app, places.anhai, 2)[1]
    with app.app_context():
        db.session.add_all([
            Application(programme_id=programme, township_id=places.anhai, community_id=places.anhai_community,
                        sequence=1, reference="T-LATER", status=ApplicationStatus.DRAFT),
            Application(programme_id=soon, township_id=places.anhai, community_id=places.anhai_community,
                        sequence=1, reference="T-SOON", status=ApplicationStatus.DRAFT),
            Application(programme_id=soon, township_id=places.cizao, community_id=places.cizao_community,
                        sequence=1, reference="T-OTHER", status=ApplicationStatus.RETURNED, last_reason="不该出现"),
        ])
        returned = Application(programme_id=programme, township_id=places.anhai, community_id=second,
                               sequence=2, reference="T-RETURNED", status=ApplicationStatus.RETURNED,
                               last_reason="请补充召集人名单", resubmit_due=china_today() + timedelta(days=30))
        db.session.add(returned)
        db.session.commit()
    login_as("township")
    page = client.get("/").get_data(as_text=True)
    tasks = page[page.index('id="tasks"'):page.index("</ul>", page.index('id="tasks"'))]
    assert tasks.index("请补充召集人名单") < tasks.index(str(china_today() + timedelta(days=3)))
    assert tasks.index(str(china_today() + timedelta(days=3))) < tasks.index(str(china_today() + timedelta(days=20)))
    assert "不该出现" not in page


def test_evaluator_home_lists_sheets_still_to_score(app, client, login_as, make_programme, places):
    from app.accounts.models import User
    from app.scoring import operations

    evaluator = login_as("evaluator")
    programme = make_programme()
    with app.app_context():
        application = Application(programme_id=programme, township_id=places.anhai,
                                  community_id=places.anhai_community, sequence=1, reference="E-1",
                                  status=ApplicationStatus.ACCEPTED)
        db.session.add(application)
        db.session.flush()
        operations.assign(application, db.session.get(User, evaluator), None)
        db.session.commit()
    assert "E-1" in client.get("/").get_data(as_text=True)


def test_dates_are_dates():
    assert isinstance(china_today(), date)
    assert sa is not None


def test_township_tasks_ask_only_for_reports_a_site_makes(app, client, login_as, tracked):  # noqa: F811
    """A round whose last milestone has passed asks for no more monthly reports: the home page must not offer this
    month's report (its link answered 404); while the round runs, it offers it and the link opens."""
    from app.programmes.models import MilestoneKind, Programme

    login_as("township")  # 安海镇, the first site's
    month = f"{china_today():%Y-%m}"
    link = f"/progress/sites/{tracked.sites[0]}/reports/{month}"
    for days, offered in ((-40, False), (40, True)):  # the round's last milestone passed, or still to come
        with app.app_context():
            from app.database import utcnow
            from app.funding.models import Site

            db.session.get(Site, tracked.sites[0]).selected_at = utcnow() - timedelta(days=70)  # whatever today is
            programme = db.session.get(Programme, tracked.programme)
            next(m for m in programme.milestones if m.kind == MilestoneKind.SUMMARY).due_date = (
                china_today() + timedelta(days=days))
            db.session.commit()
        assert (link in client.get("/").get_data(as_text=True)) is offered
    assert client.get(link).status_code == 200
