"""Milestones per site, monthly reports at the deadline's edges, the grid, 通报, reminders and spot checks."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from app.database import CHINA, china_today
from app.extensions import db
from app.funding.models import Site
from app.programmes.models import Milestone, MilestoneKind, Programme
from app.tracking import progress
from app.tracking.models import MilestoneStatus, MonthlyReport, Notification, ReportStatus, SiteMilestone
from app.tracking.notifications import monthly_reminders
from tests.conftest import page_without_tokens
from tests.funding.conftest import funded  # noqa: F401


def _china(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=CHINA)


def overdue_by_township(rows: list[progress.GridRow]) -> list[tuple[str, int, int]]:
    """The reference for the page's missing reports by township (counted in SQL by ``programme_progress``), from
    the reference grid's rows: (township, missing reports, sites) with the most missing first."""
    totals: dict[int, list] = {}
    for row in rows:
        entry = totals.setdefault(row.site.township_id, [row.site.township.name, 0, 0])
        entry[1] += row.missing
        entry[2] += 1
    return sorted((tuple(v) for v in totals.values() if v[1]), key=lambda t: (-t[1], t[0]))


@pytest.fixture
def tracked(app, funded):  # noqa: F811
    """The funded round, selected on 15 April of this year, with a charter (6/12) and a summary (8/30)."""
    year = china_today().year
    with app.app_context():
        programme = db.session.get(Programme, funded.programme)
        programme.milestones.append(Milestone(name="协商议事章程备案", kind=MilestoneKind.CHARTER,
                                              due_date=date(year, 6, 12)))
        programme.milestones.append(Milestone(name="总结与典型案例", kind=MilestoneKind.SUMMARY,
                                              due_date=date(year, 8, 30)))
        for site in db.session.scalars(sa.select(Site).where(Site.programme_id == programme.id)):
            site.selected_at = _china(date(year, 4, 15))
        progress.ensure_site_milestones(programme)
        db.session.commit()
    return funded


def test_months_and_due_dates_at_month_and_year_ends(app, tracked):
    assert progress.due_date(date(2024, 2, 1)) == date(2024, 2, 20)
    assert progress.next_month(date(2024, 12, 1)) == date(2025, 1, 1)
    with app.app_context():
        site = db.session.get(Site, tracked.sites[0])
        months = progress.report_months(site)
        year = china_today().year
        # From the month after selection to the month of the last milestone (the summary, August).
        assert months[0] == date(year, 5, 1) and months[-1] == date(year, 8, 1)
        site.selected_at = _china(date(2023, 12, 31), 23, 30)  # late evening in China on New Year's Eve
        assert progress.report_months(site)[0] == date(2024, 1, 1)


@pytest.mark.parametrize(("submitted", "state"), [
    (_china(date(2024, 5, 20), 23, 59), "on_time"),  # the last minute of the 20th in China
    (_china(date(2024, 5, 21), 0, 1), "late"),
    (datetime(2024, 5, 20, 15, 59, tzinfo=CHINA).astimezone(CHINA), "on_time"),
])
def test_on_time_until_the_end_of_the_20th_in_china(submitted, state):
    report = MonthlyReport(month=date(2024, 5, 1), status=ReportStatus.SUBMITTED, submitted_at=submitted)
    assert progress.cell(date(2024, 5, 1), report, date(2024, 6, 1)).state == state


def test_missing_and_not_yet_due():
    may = date(2024, 5, 1)
    assert progress.cell(may, None, date(2024, 5, 20)).state == "not_due"
    assert progress.cell(may, None, date(2024, 5, 21)).state == "missing"
    assert progress.cell(may, None, date(2024, 4, 30)).state == "not_begun"


def test_township_reports_a_month_once_and_the_bureau_sees_it(app, client, login_as, tracked):
    login_as("township")  # 安海镇
    month = date(china_today().year, 5, 1)
    if month > china_today().replace(day=1):
        pytest.skip("the test needs May of this year to have begun")  # pragma: no cover - Nov in CI
    url = f"/progress/sites/{tracked.sites[0]}/reports/{month:%Y-%m}"
    data = {"work_done": "召开楼栋协商会 2 次", "consultations_held": "2", "spent_this_month": "1,200.50",
            "submit_report": "1"}
    assert client.post(url, data=data).status_code == 302
    again = client.post(url, data=dict(data, work_done="重复提交"), follow_redirects=True)
    assert "已报送，不能再修改" in again.get_data(as_text=True)
    with app.app_context():
        reports = db.session.scalars(sa.select(MonthlyReport)).all()
        assert len(reports) == 1 and reports[0].spent_this_month_fen == 120_050
        assert reports[0].work_done == "召开楼栋协商会 2 次"


def test_a_month_that_has_not_begun_is_refused(app, client, login_as, tracked):
    login_as("township")
    future = progress.next_month(china_today().replace(day=1))
    response = client.post(f"/progress/sites/{tracked.sites[0]}/reports/{future:%Y-%m}",
                           data={"work_done": "x"}, follow_redirects=True)
    assert "尚未开始" in response.get_data(as_text=True) or "不在本项目" in response.get_data(as_text=True)
    assert client.get(f"/progress/sites/{tracked.sites[0]}/reports/2024-13").status_code == 404
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(MonthlyReport.id))) == 0


def test_two_saves_at_once_make_one_report(app, tracked):
    with app.app_context():
        site = db.session.get(Site, tracked.sites[0])
        month = date(china_today().year, 5, 1)
        first = progress.save_report(site, month, {"work_done": "a"}, None)
        second = progress.save_report(site, month, {"work_done": "b"}, None)
        assert first.id == second.id
        assert db.session.scalar(sa.select(sa.func.count(MonthlyReport.id))) == 1


def test_grid_and_overdue_by_township(app, client, login_as, tracked):
    with app.app_context():
        year = china_today().year
        db.session.add(MonthlyReport(site_id=tracked.sites[0], month=date(year, 5, 1), status=ReportStatus.SUBMITTED,
                                     work_done="x", submitted_at=_china(date(year, 5, 19))))
        db.session.add(MonthlyReport(site_id=tracked.sites[0], month=date(year, 6, 1), status=ReportStatus.SUBMITTED,
                                     work_done="x", submitted_at=_china(date(year, 6, 22))))
        db.session.commit()
        months, rows = progress.monthly_grid(db.session.get(Programme, tracked.programme),
                                             today=date(year, 9, 1))
        states = {row.site.id: [c.state for c in row.cells] for row in rows}
        assert states[tracked.sites[0]] == ["on_time", "late", "missing", "missing"]
        assert states[tracked.sites[1]] == ["missing"] * 4
        overdue = overdue_by_township(rows)
        assert overdue[0][1] == 4 and overdue[1][1] == 2
    login_as("bureau")
    page = client.get(f"/progress/programmes/{tracked.programme}").get_data(as_text=True)
    assert 'id="monthly-grid"' in page and 'data-state="on_time"' in page


def test_charter_milestone_submit_return_accept_with_history(app, client, login_as, tracked, make_user):
    with app.app_context():
        item = db.session.scalar(sa.select(SiteMilestone).join(SiteMilestone.milestone).where(
            SiteMilestone.site_id == tracked.sites[0], Milestone.kind == MilestoneKind.CHARTER))
        item_id = item.id
    login_as("township")
    page = client.post(f"/progress/milestones/{item_id}", data={"content": "章程全文见附件", "submit_item": "1"},
                       follow_redirects=True).get_data(as_text=True)
    assert "表决的日期和结果" in page
    client.post(f"/progress/milestones/{item_id}", data={
        "content": "章程全文见附件", "meeting_date": "2024-05-20", "meeting_result": "应到 45 人，实到 41 人，通过",
        "township_approved_on": "2024-05-28", "submit_item": "1"})
    with app.app_context():
        assert db.session.get(SiteMilestone, item_id).status == MilestoneStatus.SUBMITTED
    bureau = app.test_client()
    from tests.conftest import login

    with app.app_context():
        from app.accounts.models import User

        login(bureau, db.session.get(User, make_user("bureau")).username)
    bureau.post(f"/progress/milestones/{item_id}/return", data={"comment": ""})
    with app.app_context():
        assert db.session.get(SiteMilestone, item_id).status == MilestoneStatus.SUBMITTED
    bureau.post(f"/progress/milestones/{item_id}/return", data={"comment": "缺备案日期"})
    client.post(f"/progress/milestones/{item_id}", data={
        "content": "章程全文见附件", "meeting_date": "2024-05-20", "meeting_result": "通过",
        "township_approved_on": "2024-05-28", "filed_on": "2024-06-05", "submit_item": "1"})
    bureau.post(f"/progress/milestones/{item_id}/accept", data={"comment": "同意备案"})
    with app.app_context():
        item = db.session.get(SiteMilestone, item_id)
        assert item.status == MilestoneStatus.ACCEPTED
        s = MilestoneStatus
        assert [(e.from_status, e.to_status) for e in item.events] == [
            (s.NOT_STARTED, s.SUBMITTED), (s.SUBMITTED, s.RETURNED), (s.RETURNED, s.SUBMITTED),
            (s.SUBMITTED, s.ACCEPTED)]
        # The township was told of both decisions.
        told = sa.select(sa.func.count(Notification.id)).where(Notification.kind == "milestone")
        assert db.session.scalar(told) >= 2


def test_late_milestone_is_marked(app, tracked):
    with app.app_context():
        item = db.session.scalar(sa.select(SiteMilestone).join(SiteMilestone.milestone).where(
            SiteMilestone.site_id == tracked.sites[0], Milestone.kind == MilestoneKind.SUMMARY))
        item.content = "总结"
        item.milestone.due_date = china_today() - timedelta(days=1)
        progress.transition_milestone(item, MilestoneStatus.SUBMITTED, None)
        assert item.submitted_late and progress.timeliness(item) == "late"
        db.session.rollback()


def test_the_township_also_owes_its_own_summary(app, tracked):
    with app.app_context():
        township_level = db.session.scalars(sa.select(SiteMilestone).where(
            SiteMilestone.programme_id == tracked.programme, SiteMilestone.site_id.is_(None))).all()
        assert len(township_level) == 2  # 安海镇 and 磁灶镇, one summary each
        assert progress.ensure_site_milestones(db.session.get(Programme, tracked.programme)) == 0


def test_reminders_before_the_20th_and_daily_when_overdue(app, tracked, make_user, places):
    user_id = make_user("township")
    year = china_today().year
    with app.app_context():
        # 15 May: five days before the deadline.
        monthly_reminders(places.anhai, date(year, 5, 15))
        monthly_reminders(places.anhai, date(year, 5, 15))  # the same day again adds nothing
        due = db.session.scalars(sa.select(Notification).where(Notification.user_id == user_id)).all()
        assert [n.kind for n in due] == ["due"]
        monthly_reminders(places.anhai, date(year, 5, 21))
        monthly_reminders(places.anhai, date(year, 5, 22))
        overdue = db.session.scalars(sa.select(Notification).where(Notification.user_id == user_id,
                                                                   Notification.kind == "overdue")).all()
        assert len(overdue) == 2  # one per day overdue
        assert monthly_reminders(places.cizao, date(year, 5, 15)) == 0  # no 磁灶镇 account in this test


def test_notice_to_a_township_reaches_its_users_only(app, client, login_as, tracked, make_user, places):
    anhai_user = make_user("township")
    cizao_user = make_user("township", township_id=places.cizao)
    login_as("bureau")
    client.post(f"/progress/programmes/{tracked.programme}/notices", data={
        "township_id": places.anhai, "title": "进度滞后", "content": "请加快进度"})
    with app.app_context():
        users = set(db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "notice")))
        assert anhai_user in users and cizao_user not in users


def test_spot_check_and_its_follow_up(app, client, login_as, tracked):
    login_as("bureau")
    client.post(f"/progress/sites/{tracked.sites[0]}/spot-checks", data={
        "checked_on": (china_today() + timedelta(days=1)).isoformat(), "inspectors": "林干事", "findings": "x"})
    from app.tracking.models import SpotCheck

    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(SpotCheck.id))) == 0
    client.post(f"/progress/sites/{tracked.sites[0]}/spot-checks", data={
        "checked_on": china_today().isoformat(), "inspectors": "林干事", "findings": "台账缺表决结果",
        "follow_up_required": "y", "follow_up": "补齐"})
    with app.app_context():
        check = db.session.scalar(sa.select(SpotCheck))
        assert check.follow_up_required and check.closed_at is None
        check_id = check.id
    client.post(f"/progress/spot-checks/{check_id}/close", data={"note": "已补齐"})
    with app.app_context():
        assert db.session.get(SpotCheck, check_id).closed_at is not None


def test_township_isolation(app, client, login_as, tracked):
    login_as("township")  # 安海镇
    other = tracked.sites[1]
    assert client.get(f"/progress/sites/{other}").status_code == 403
    month = date(china_today().year, 5, 1)
    assert client.post(f"/progress/sites/{other}/reports/{month:%Y-%m}", data={"work_done": "x"}).status_code == 403
    with app.app_context():
        item = db.session.scalar(sa.select(SiteMilestone.id).where(SiteMilestone.site_id == other))
        township_item = db.session.scalar(sa.select(SiteMilestone.id).where(
            SiteMilestone.site_id.is_(None), SiteMilestone.township_id != db.session.get(Site, tracked.sites[0])
            .township_id))
    assert client.get(f"/progress/milestones/{item}").status_code == 403
    assert client.post(f"/progress/milestones/{item}", data={"content": "x"}).status_code == 403
    assert client.get(f"/progress/milestones/{township_item}").status_code == 403
    page = client.get(f"/progress/programmes/{tracked.programme}").get_data(as_text=True)
    assert "F-2" not in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(MonthlyReport.id))) == 0


def test_grid_query_count_is_bounded(app, client, login_as, tracked, count_queries):
    login_as("bureau")
    client.get(f"/progress/programmes/{tracked.programme}")
    with count_queries() as small:
        before = page_without_tokens(client.get(f"/progress/programmes/{tracked.programme}"))
    with app.app_context():
        year = china_today().year
        for site in tracked.sites:
            for month in (5, 6, 7):
                db.session.add(MonthlyReport(site_id=site, month=date(year, month, 1), status=ReportStatus.SUBMITTED,
                                             work_done="x", submitted_at=_china(date(year, month, 10))))
        db.session.commit()
    # What the page shows is read again once after a change, then remembered under changes_mark: the outline and
    # its milestones' completeness, the totals over the programme, the page's sites with their reports and items,
    # the notices.
    with count_queries() as first:
        after = page_without_tokens(client.get(f"/progress/programmes/{tracked.programme}"))
    with count_queries() as large:
        again = page_without_tokens(client.get(f"/progress/programmes/{tracked.programme}"))
    assert large.count == small.count and first.count == small.count + 6
    assert 'data-state="on_time"' not in before and 'data-state="on_time"' in after
    assert again == after
