"""Issue 9: the programme's progress page reads columns and writes its rows in Python; what it shows must stay what
the reference functions (``monthly_grid``, ``cell``, ``timeliness``) decide, on both databases, at the deadlines'
edges in China."""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa

from app.accounts.models import User
from app.database import china_today
from app.extensions import db
from app.funding.models import Site
from app.programmes.models import Milestone, MilestoneKind, Programme
from app.statements import scoped_statement
from app.tracking import progress
from app.tracking.models import MilestoneStatus, MonthlyReport, ReportStatus, SiteMilestone
from tests.conftest import login
from tests.funding.conftest import funded  # noqa: F401
from tests.tracking.test_progress import _china, tracked  # noqa: F401


def _edge_reports(app, tracked) -> int:  # noqa: F811
    """Reports on both sides of the 20th's midnight in China, a draft, and one of a month not yet begun."""
    with app.app_context():
        year = china_today().year
        first, second = tracked.sites
        for site, month, status, submitted in [
            (first, 5, ReportStatus.SUBMITTED, _china(date(year, 5, 20), 23, 59)),  # on time
            (first, 6, ReportStatus.SUBMITTED, _china(date(year, 6, 21), 0, 1)),  # late
            (first, 7, ReportStatus.DRAFT, None),
            (second, 5, ReportStatus.SUBMITTED, _china(date(year, 5, 21), 0, 0)),  # late: midnight is the 21st
            (second, 8, ReportStatus.SUBMITTED, _china(date(year, 8, 1), 0, 0)),
        ]:
            db.session.add(MonthlyReport(site_id=site, month=date(year, month, 1), status=status, work_done="x",
                                         submitted_at=submitted))
        db.session.commit()
        return year


def test_grid_states_are_the_cells_of_monthly_grid(app, tracked):  # noqa: F811
    year = _edge_reports(app, tracked)
    days = [date(year, 4, 30), date(year, 5, 20), date(year, 5, 21), date(year, 6, 20), date(year, 7, 10),
            date(year, 7, 21), date(year, 8, 25), date(year + 1, 1, 5)]
    with app.app_context():
        programme = db.session.get(Programme, tracked.programme)
        for today in days:
            months, rows = progress.monthly_grid(programme, today=today)
            summary = progress.programme_progress(programme, today=today)
            sites = progress.grid_page(programme, limit=10, offset=0)
            assert summary.months == months and summary.sites == len(sites) == 2
            assert [site.id for site in sites] == [row.site.id for row in rows]
            states = progress.grid_states(programme, sites, months, today)
            assert states == {row.site.id: [cell.state for cell in row.cells] for row in rows}, today
        # A site selected later than the others: "none" before its first month.
        db.session.get(Site, tracked.sites[1]).selected_at = _china(date(year, 6, 3))
        db.session.flush()
        months, rows = progress.monthly_grid(programme, today=date(year, 9, 1))
        sites = progress.grid_page(programme, limit=10, offset=0)
        states = progress.grid_states(programme, sites, months, date(year, 9, 1))
        assert states[tracked.sites[1]][:2] == ["none", "none"]
        assert states == {row.site.id: [cell.state for cell in row.cells] for row in rows}
        db.session.rollback()


def test_milestone_timeliness_from_the_database_matches_timeliness(app, tracked):  # noqa: F811
    with app.app_context():
        programme = db.session.get(Programme, tracked.programme)
        items = db.session.scalars(sa.select(SiteMilestone).where(SiteMilestone.programme_id == programme.id)
                                   .order_by(SiteMilestone.id)).all()
        edges = [(23, 59), (0, 0), None, (0, 1)]  # on the due date, the day after, never, the day after
        for number, item in enumerate(items):
            edge = edges[number % len(edges)]
            due = item.milestone.due_date
            day = due if edge == (23, 59) else date.fromordinal(due.toordinal() + 1)
            item.submitted_at = None if edge is None else _china(day, *edge)
        db.session.flush()
        rows = {row.id: row for row in progress.page_milestone_items(
            programme, tracked.sites, {item.township_id for item in items})}
        assert set(rows) == {item.id for item in items}
        for today in (date(2000, 1, 1), china_today(), date(2100, 1, 1)):
            for item in items:
                expected = progress.timeliness(item, today)
                assert progress.timeliness_of(rows[item.id].submitted, item.milestone.due_date, today) == expected
        db.session.rollback()


def test_the_page_shows_states_badges_and_links(app, client, login_as, tracked):  # noqa: F811
    _edge_reports(app, tracked)
    with app.app_context():
        programme = db.session.get(Programme, tracked.programme)
        rows = [(row.site.id, [(cell.state, f"{cell.month:%Y-%m}") for cell in row.cells])
                for row in progress.monthly_grid(programme)[1]]
        item = db.session.scalar(sa.select(SiteMilestone).where(SiteMilestone.site_id == tracked.sites[0])
                                 .order_by(SiteMilestone.id))
        item.status = MilestoneStatus.SUBMITTED
        item.submitted_at = _china(date.fromordinal(item.milestone.due_date.toordinal() + 1), 0, 5)
        db.session.commit()
        item_id = item.id
    login_as("bureau")
    page = client.get(f"/progress/programmes/{tracked.programme}").get_data(as_text=True)
    grid = page.split('id="monthly-grid"', 1)[1].split("</table>", 1)[0]
    shown = grid.split("<tbody>", 1)[1].split("<tr>")[1:]  # in the grid's order, as monthly_grid's rows
    assert len(shown) == len(rows) == 2
    for (site_id, cells), html in zip(rows, shown, strict=True):
        found = re.findall(rf'<td class="grid-(\w+)" data-state="\1">(?:<a href="/progress/sites/{site_id}'
                           r'/reports/(\d{4}-\d\d)">[^<]+</a>)?</td>', html)
        assert [state for state, _month in found] == [state for state, _month in cells]
        assert [month for _state, month in found if month] == [
            month for state, month in cells if state not in ("none", "not_begun")]
    milestones = page.split('id="milestones"', 1)[1].split("</table>", 1)[0]
    assert re.search(rf'<a href="/progress/milestones/{item_id}" class="badge text-decoration-none '
                     r'text-bg-primary">已提交</a> <span class="badge text-bg-danger">逾期提交</span>', milestones)
    assert "暂无示范点" not in page


def test_the_page_in_english(app, client, login_as, tracked):  # noqa: F811
    """A report handed in late is "Late" as the legend's "Submitted late" says ("Overdue" is one not handed in);
    the missing ones are "Missing", and the column counting sites is "Sites"."""
    _edge_reports(app, tracked)
    login_as("bureau")
    client.post("/language/en")
    page = client.get(f"/progress/programmes/{tracked.programme}").get_data(as_text=True)
    grid = page.split('id="monthly-grid"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'data-state="late"><a [^>]+>([^<]+)</a>', grid) == ["Late", "Late"]
    assert set(re.findall(r'data-state="missing"><a [^>]+>([^<]+)</a>', grid)) <= {"Missing"}
    legend = page.split('id="monthly-grid"', 1)[0].rsplit('<p class="small">', 1)[1]
    assert "Submitted late" in legend and "Missing" in legend and "Overdue" not in legend
    assert '<th class="text-end">Missing</th><th class="text-end">Sites</th>' in page


def test_each_viewer_gets_the_statement_of_its_own_filter(app, make_user, tracked):  # noqa: F811
    build = progress._page_statement
    assert scoped_statement(build, Site.township_id == 1) is scoped_statement(
        build, Site.township_id == 1)
    assert scoped_statement(build, Site.township_id == 1) is not scoped_statement(
        build, Site.township_id == 2)
    assert scoped_statement(build, Site.township_id == 1) is not scoped_statement(
        build, Site.community_id == 1)
    clients = {}
    for role in ("bureau", "township"):  # the township user is of 安海镇, the first site's
        clients[role] = app.test_client()
        with app.app_context():
            username = db.session.get(User, make_user(role)).username
        assert login(clients[role], username).status_code == 302
    url = f"/progress/programmes/{tracked.programme}"
    shown = []
    for role in ("bureau", "township", "bureau", "township"):
        table = clients[role].get(url).get_data(as_text=True).split('id="milestones"', 1)[1].split("</table>")[0]
        shown.append({site for site in tracked.sites if f'href="/progress/sites/{site}"' in table})
    assert shown == [set(tracked.sites), {tracked.sites[0]}] * 2


def test_the_page_adds_missing_milestones_and_refuses_unknown_programmes(app, client, login_as, tracked):  # noqa: F811
    with app.app_context():
        programme = db.session.get(Programme, tracked.programme)
        programme.milestones.append(Milestone(name="中期评估", kind=MilestoneKind.MIDTERM,
                                              due_date=date(china_today().year, 10, 1)))
        db.session.commit()
        assert not progress.programme_outline(programme.id).milestones_complete
    login_as("bureau")
    page = client.get(f"/progress/programmes/{tracked.programme}").get_data(as_text=True)
    assert "中期评估" in page.split('id="milestones"', 1)[1].split("</thead>", 1)[0]
    with app.app_context():
        outline = progress.programme_outline(tracked.programme)
        midterm = next(m for m in outline.milestones if m.name == "中期评估")
        assert outline.milestones_complete and midterm.kind == MilestoneKind.MIDTERM
        assert db.session.scalar(sa.select(sa.func.count(SiteMilestone.id)).where(
            SiteMilestone.milestone_id == midterm.id)) == len(tracked.sites)
        assert progress.programme_outline(10**6) is None
    assert client.get("/progress/programmes/1000000").status_code == 404


def test_a_townships_own_items_are_shown_to_it_and_not_to_its_communities(app, make_user, tracked):  # noqa: F811
    """A township's summary is the township's: its community (a site of the programme) sees its own site only."""
    with app.app_context():
        site = db.session.get(Site, tracked.sites[0])  # of 安海镇, the township user's
        community_id, township_id = site.community_id, site.township_id
        item_id = db.session.scalar(sa.select(SiteMilestone.id).where(
            SiteMilestone.site_id.is_(None), SiteMilestone.township_id == township_id))
    assert item_id is not None
    for role, fields, shown in (("township", {}, True), ("community", {"community_id": community_id}, False)):
        viewer = app.test_client()
        with app.app_context():
            username = db.session.get(User, make_user(role, **fields)).username
        assert login(viewer, username).status_code == 302
        page = viewer.get(f"/progress/programmes/{tracked.programme}").get_data(as_text=True)
        assert f'href="/progress/sites/{tracked.sites[0]}"' in page  # the site is on both pages
        assert ("镇(街道)汇总材料" in page) is shown and (f'href="/progress/milestones/{item_id}"' in page) is shown
        assert viewer.get(f"/progress/milestones/{item_id}").status_code == (200 if shown else 403)
