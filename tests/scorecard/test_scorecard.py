"""The township scorecard: hand-computed indicators, the suggestion at the thresholds' edges, the bureau's
decision (accept, override with a reason, a second decision), finance and township access, bad years, the
query count and the demo decisions."""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app.accounts.models import EvaluatorGroup, User
from app.applications.models import Application, ApplicationStatus
from app.audit.models import AuditAction, AuditLog
from app.database import CHINA
from app.extensions import db
from app.files.models import StoredFile
from app.funding.models import Site
from app.programmes.models import Milestone, MilestoneKind, Programme
from app.scorecard.compute import Scorecard, floor_percent_text, scorecards, suggest
from app.scoring.models import Assignment, Criterion, Score, SheetStatus
from app.tracking import archive, progress
from app.tracking.models import (
    ArchiveItem,
    MilestoneEvent,
    MilestoneStatus,
    MonthlyReport,
    ReportStatus,
    ScorecardDecision,
    SiteMilestone,
    SpotCheck,
)
from tests.accessibility import error_descriptions
from tests.applications.helpers import communities_of
from tests.funding.conftest import funded  # noqa: F401

YEAR = 2031
TODAY = date(2032, 1, 10)  # the round is over: every month and milestone of 2031 is due
YEAR_END = date(YEAR, 12, 31)  # what a 2031 card stands at from 2032 on: a follow-up's age is counted up to it
MONTHS = [date(YEAR, m, 1) for m in range(2, 12)]  # selected on 15 January: February … November, ten months
_files = itertools.count(1)


def _china(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=CHINA)


@dataclass
class Round:
    programme: int
    sites: list[int]  # 安海镇, 磁灶镇
    townships: list[int]  # 安海镇, 磁灶镇
    applications: list[int]


@pytest.fixture
def round_(app, funded, places) -> Round:  # noqa: F811
    """The funded programme as the 2031 round: selected on 15 January, with a charter (5/31), a summary (8/31,
    the sites' and the township's own) and a completion (11/30). Each township has one site and four milestones."""
    with app.app_context():
        programme = db.session.get(Programme, funded.programme)
        programme.year = YEAR
        programme.milestones.extend([
            Milestone(name="协商议事章程备案", kind=MilestoneKind.CHARTER, due_date=date(YEAR, 5, 31)),
            Milestone(name="总结与典型案例", kind=MilestoneKind.SUMMARY, due_date=date(YEAR, 8, 31)),
            Milestone(name="结项", kind=MilestoneKind.COMPLETION, due_date=date(YEAR, 11, 30)),
        ])
        sites = [db.session.get(Site, site_id) for site_id in funded.sites]
        for site in sites:
            site.selected_at = _china(date(YEAR, 1, 15))
        db.session.flush()
        progress.ensure_site_milestones(programme)
        assert progress.report_months(sites[0]) == MONTHS
        db.session.commit()
        return Round(programme.id, list(funded.sites), [places.anhai, places.cizao],
                     [site.application_id for site in sites])


def add_reports(site_id: int, on_time: int, late: int = 0) -> None:
    """The first ``on_time`` months handed in on the 18th, the next ``late`` on the 25th, the rest missing."""
    for index, month in enumerate(MONTHS[:on_time + late]):
        day = 18 if index < on_time else 25
        db.session.add(MonthlyReport(site_id=site_id, month=month, status=ReportStatus.SUBMITTED, work_done="x",
                                     submitted_at=_china(month.replace(day=day))))


def add_milestones(township: int, on_time: int, late: int = 0) -> None:
    """The township's milestones by due date: the first ``on_time`` handed in early, the next ``late`` two days
    late, the rest never (overdue)."""
    items = db.session.scalars(sa.select(SiteMilestone).join(SiteMilestone.milestone)
                               .where(SiteMilestone.township_id == township)
                               .order_by(Milestone.due_date, SiteMilestone.site_id.is_(None))).all()
    for index, item in enumerate(items[:on_time + late]):
        due = item.milestone.due_date
        item.submitted_at = _china(due - timedelta(days=3) if index < on_time else due + timedelta(days=2))
        item.submitted_late = index >= on_time
        item.status = MilestoneStatus.SUBMITTED


def add_archive(site_id: int, kinds: int, removed: int = 0) -> None:
    """One item of each of the first ``kinds`` kinds (two of the first), and ``removed`` removed items after them."""
    chosen = archive.KINDS[:kinds] + [archive.KINDS[0]]
    extra = archive.KINDS[kinds:kinds + removed]
    for number, kind in enumerate(chosen + extra):
        n = next(_files)
        stored = StoredFile(stored_name=f"sc/{n}.pdf", original_name=f"{n}.pdf", kind="pdf",
                            mime_type="application/pdf", size=1, sha256="0" * 64)
        db.session.add(ArchiveItem(site_id=site_id, kind=kind, title=f"材料{n}", item_date=date(YEAR, 6, 1),
                                   file=stored, deleted_at=_china(date(YEAR, 7, 1)) if number >= len(chosen) else None))


def add_check(site_id: int, checked_on: date, follow_up: bool = False, closed: bool = False) -> None:
    db.session.add(SpotCheck(site_id=site_id, checked_on=checked_on, inspectors="市民政局", findings="检查",
                             follow_up_required=follow_up, follow_up="整改" if follow_up else "",
                             closed_at=_china(checked_on + timedelta(days=10)) if closed else None))


def cards_by_name(year: int = YEAR, today: date = TODAY) -> dict[str, Scorecard]:
    return {card.township.name: card for card in scorecards(year, today=today)}


# --- the rule, pure ------------------------------------------------------------------------------------------


def card(**fields) -> Scorecard:
    values = dict(sites=1, reports_on_time=10, reports_due=10, milestones_on_time=4, milestones_due=4,
                  archive=Fraction(1))
    values.update(fields)
    return Scorecard(township=SimpleNamespace(id=1, name="测试镇"), year=YEAR, **values)


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, 1),
    ({"reports_on_time": 9}, 1),  # exactly 90%
    ({"reports_on_time": 899, "reports_due": 1000}, 0),  # 89.9%
    ({"milestones_on_time": 9, "milestones_due": 10}, 1),
    ({"milestones_on_time": 3}, 0),  # 75%
    ({"archive": Fraction(9, 10)}, 1),
    ({"archive": Fraction(899, 1000)}, 0),
    ({"reports_on_time": 6}, 0),  # exactly 60%: not below
    ({"reports_on_time": 599, "reports_due": 1000}, -1),
    ({"milestones_on_time": 3, "milestones_due": 5}, 0),
    ({"milestones_on_time": 1, "milestones_due": 2}, -1),
    ({"archive": Fraction(3, 5)}, 0),
    ({"archive": Fraction(599, 1000)}, -1),
    ({"open_follow_ups": 1, "oldest_open_days": 0}, 0),  # any open follow-up keeps it from +1
    ({"open_follow_ups": 1, "oldest_open_days": 60}, 0),  # 60 days: not older than 60
    ({"open_follow_ups": 1, "oldest_open_days": 61}, -1),
    ({"follow_ups": 3}, 1),  # closed follow-ups count for nothing
    ({"reports_on_time": 0, "reports_due": 0}, 1),  # nothing due: left out of the rule
    ({"reports_on_time": 0, "reports_due": 0, "milestones_on_time": 0, "milestones_due": 0,
      "archive": Fraction(1, 2)}, -1),
    ({"sites": 0, "archive": None, "reports_due": 0, "milestones_due": 0}, 0),
])
def test_the_suggestion_at_the_thresholds(app, fields, expected):
    with app.test_request_context():
        change, reasons = suggest(card(**fields))
    assert change == expected and reasons


def test_the_reasons_say_why(app):
    with app.test_request_context():
        assert suggest(card(sites=0, archive=None))[1] == ["本年度没有示范点（项目），不作调整。"]
        assert suggest(card(reports_on_time=5, oldest_open_days=61, open_follow_ups=1))[1] == [
            "月报按时率 50.0%，低于 60%", "抽查整改已 61 天未完成（超过 60 天）"]
        assert suggest(card(archive=Fraction(7, 8)))[1] == ["档案完整率 87.5%，未达 90%"]


def test_shares_are_shown_rounded_down():
    assert floor_percent_text(Fraction(2, 3)) == "66.6%"
    assert floor_percent_text(Fraction(9, 10)) == "90.0%"
    assert floor_percent_text(Fraction(8999, 10000)) == "89.9%"
    assert floor_percent_text(Fraction(1)) == "100.0%" and floor_percent_text(Fraction(0)) == "0.0%"
    assert floor_percent_text(None) == "—"


# --- indicators from the database ------------------------------------------------------------------------------


def test_plus_one_and_zero_at_the_edges(app, round_):
    anhai, cizao = round_.sites
    with app.app_context():
        # 安海镇: 9 of 10 months on time (90.0%), every milestone on time, the whole archive, no open follow-up.
        add_reports(anhai, on_time=9, late=1)
        add_milestones(round_.townships[0], on_time=4)
        add_archive(anhai, 8)
        add_check(anhai, date(YEAR, 6, 1))
        add_check(anhai, date(YEAR, 9, 1), follow_up=True, closed=True)
        # 磁灶镇: 6 of 10 on time (60.0%: not below), 3 of 4 milestones, 5 kinds (62.5%), a follow-up open
        # exactly 60 days.
        add_reports(cizao, on_time=6, late=2)
        add_milestones(round_.townships[1], on_time=3, late=1)
        add_archive(cizao, 5, removed=2)  # removed items do not count
        add_check(cizao, YEAR_END - timedelta(days=60), follow_up=True)
        db.session.commit()
    with app.app_context():
        cards = cards_by_name()
        a, c = cards["安海镇"], cards["磁灶镇"]
        assert (a.sites, a.reports_on_time, a.reports_due, a.milestones_on_time, a.milestones_due) == (1, 9, 10, 4, 4)
        assert a.archive == 1
        assert (a.spot_checks, a.follow_ups, a.open_follow_ups, a.oldest_open_days) == (2, 1, 0, None)
        assert a.suggestion == 1 and a.reasons == ["各项指标均达到上调标准"]

        assert (c.reports_on_time, c.reports_due, c.milestones_on_time, c.milestones_due) == (6, 10, 3, 4)
        assert c.archive == Fraction(5, 8)
        assert (c.spot_checks, c.follow_ups, c.open_follow_ups, c.oldest_open_days) == (1, 1, 1, 60)
        assert c.suggestion == 0
        assert c.reasons == ["月报按时率 60.0%，未达 90%", "节点按时率 75.0%，未达 90%", "档案完整率 62.5%，未达 90%",
                             "有 1 项抽查整改尚未完成"]

        chendai = cards["陈埭镇"]
        assert chendai.sites == 0 and chendai.suggestion == 0 and chendai.archive is None
        assert chendai.reasons == ["本年度没有示范点（项目），不作调整。"]
        assert len(cards) == 19


@pytest.mark.parametrize(("reports", "milestones", "kinds", "open_days", "expected"), [
    (5, 4, 8, None, -1),  # 50% of the months
    (10, 2, 8, None, -1),  # 2 of 4 milestones: 50%
    (10, 4, 4, None, -1),  # 4 of 8 kinds: 50%
    (10, 4, 8, 61, -1),  # a follow-up open 61 days
    (10, 4, 8, 60, 0),
    (10, 4, 7, None, 0),  # 87.5% of the archive
    (10, 4, 8, None, 1),
])
def test_minus_one_and_its_edges(app, round_, reports, milestones, kinds, open_days, expected):
    site = round_.sites[0]
    with app.app_context():
        add_reports(site, on_time=reports)
        add_milestones(round_.townships[0], on_time=milestones)
        add_archive(site, kinds)
        if open_days is not None:
            add_check(site, YEAR_END - timedelta(days=open_days), follow_up=True)
        db.session.commit()
    with app.app_context():
        assert cards_by_name()["安海镇"].suggestion == expected


def test_what_is_not_yet_due_is_not_counted(app, round_):
    today = date(YEAR, 9, 10)  # February … August are due (the 20th of August has passed); September is not
    site = round_.sites[0]
    with app.app_context():
        add_reports(site, on_time=7)
        # September handed in early counts (on time); October is not due and not handed in.
        db.session.add(MonthlyReport(site_id=site, month=date(YEAR, 9, 1), status=ReportStatus.SUBMITTED,
                                     work_done="x", submitted_at=_china(date(YEAR, 9, 5))))
        db.session.add(MonthlyReport(site_id=site, month=date(YEAR, 10, 1), work_done="草稿"))
        add_milestones(round_.townships[0], on_time=2, late=1)  # charter, site summary; township summary late
        db.session.commit()
    with app.app_context():
        a = cards_by_name(today=today)["安海镇"]
        assert (a.reports_on_time, a.reports_due) == (8, 8)
        # The completion (11/30) is neither due nor handed in: three milestones count, two on time.
        assert (a.milestones_on_time, a.milestones_due) == (2, 3)
        c = cards_by_name(today=today)["磁灶镇"]
        assert (c.reports_on_time, c.reports_due, c.milestones_on_time, c.milestones_due) == (0, 7, 0, 3)


def test_evaluation_results_from_the_submitted_sheets(app, round_, make_user):
    evaluators = [make_user("evaluator", evaluator_group=EvaluatorGroup.EXPERT) for _ in range(2)]
    second_community = communities_of(app, round_.townships[0], 2)[1]
    with app.app_context():
        programme = db.session.get(Programme, round_.programme)
        criterion = Criterion(group_name="A", name="c", max_points=100)
        programme.criteria.append(criterion)
        db.session.flush()

        def sheet(application_id, evaluator_id, points, status=SheetStatus.SUBMITTED):
            db.session.add(Assignment(application_id=application_id, evaluator_id=evaluator_id, status=status,
                                      scores=[Score(criterion_id=criterion.id, half_points=points * 2)]))

        anhai_app, cizao_app = round_.applications
        sheet(anhai_app, evaluators[0], 80)
        sheet(anhai_app, evaluators[1], 85)
        sheet(cizao_app, evaluators[0], 90)
        sheet(cizao_app, evaluators[1], 10, SheetStatus.ASSIGNED)  # not submitted: not counted
        # A second 安海镇 site in the same programme, ranked third with 70.
        third = Application(programme_id=round_.programme, township_id=round_.townships[0],
                            community_id=second_community, sequence=2, reference="F-3",
                            status=ApplicationStatus.ACCEPTED)
        db.session.add(third)
        db.session.flush()
        db.session.add(Site(programme_id=round_.programme, application_id=third.id,
                            township_id=round_.townships[0], community_id=second_community, rank=3,
                            selected_at=_china(date(YEAR, 1, 15))))
        sheet(third.id, evaluators[0], 70)
        db.session.commit()
    with app.app_context():
        cards = cards_by_name()
        a, c = cards["安海镇"], cards["磁灶镇"]
        assert a.sites == 2
        assert a.mean_score == Fraction(165 + 140, 4)  # (82.5 + 70) / 2 = 76.25
        assert a.mean_text == "76.25" and a.best_rank == 2
        assert c.mean_score == 90 and c.best_rank == 1
        assert cards["陈埭镇"].mean_score is None and cards["陈埭镇"].best_rank is None


def test_the_query_count_does_not_grow_with_the_data(app, round_, count_queries):
    with app.app_context():
        add_reports(round_.sites[0], on_time=5)
        add_archive(round_.sites[0], 3)
        db.session.commit()
        scorecards(YEAR, today=TODAY)  # the ranking it reads is remembered from now on (app/scoring/ranking.py)
    with app.app_context(), count_queries() as small:
        scorecards(YEAR, today=TODAY)
    with app.app_context():
        add_reports(round_.sites[1], on_time=8, late=2)
        for site in round_.sites:
            add_archive(site, 8)
            add_check(site, date(YEAR, 6, 1), follow_up=True)
            add_check(site, date(YEAR, 7, 1))
        for township in round_.townships:
            add_milestones(township, on_time=3, late=1)
        db.session.add(ScorecardDecision(township_id=round_.townships[0], year=YEAR, suggested_change=0,
                                         decided_change=0))
        db.session.commit()
        scorecards(YEAR, today=TODAY)  # after any change the ranking's inputs are looked at again once
    with app.app_context(), count_queries() as large:
        scorecards(YEAR, today=TODAY)
    assert large.count == small.count <= 16, large.statements


# --- a past year stands at its end -----------------------------------------------------------------------------

NEXT_YEAR = date(YEAR + 1, 1, 20)  # something done in the next year, after the 2031 card's day


def indicators(card: Scorecard) -> tuple:
    return (card.reports_on_time, card.reports_due, card.milestones_on_time, card.milestones_due, card.archive,
            card.spot_checks, card.follow_ups, card.open_follow_ups, card.oldest_open_days, card.suggestion)


def test_a_follow_up_closed_after_the_year_stays_open_on_its_card(app, round_):
    site = round_.sites[0]
    with app.app_context():
        add_reports(site, on_time=10)
        add_milestones(round_.townships[0], on_time=4)
        add_archive(site, 8)
        add_check(site, date(YEAR, 10, 1), follow_up=True)
        db.session.commit()
    with app.app_context():
        # While the year runs the card stands at today: 60 days open on 30 November, 61 on 1 December.
        running = cards_by_name(today=date(YEAR, 11, 30))["安海镇"]
        assert running.as_of == date(YEAR, 11, 30) and not running.year_closed
        assert (running.open_follow_ups, running.oldest_open_days, running.suggestion) == (1, 60, 0)
        assert cards_by_name(today=date(YEAR, 12, 1))["安海镇"].oldest_open_days == 61
        closed_year = cards_by_name()["安海镇"]
        assert closed_year.as_of == YEAR_END and closed_year.year_closed
        assert (closed_year.open_follow_ups, closed_year.oldest_open_days, closed_year.suggestion) == (1, 91, -1)
        # Closed in January: the 2031 card does not change, now or years later.
        check = db.session.scalar(sa.select(SpotCheck).where(SpotCheck.site_id == site))
        check.closed_at, check.closed_note = _china(NEXT_YEAR), "已整改"
        db.session.commit()
    with app.app_context():
        for today in (NEXT_YEAR + timedelta(days=1), date(YEAR + 3, 6, 1)):
            assert indicators(cards_by_name(today=today)["安海镇"]) == indicators(closed_year)


def test_a_check_made_in_the_next_year_is_not_on_the_past_card(app, round_):
    site = round_.sites[0]
    with app.app_context():
        add_check(site, date(YEAR, 12, 31), follow_up=True)
        add_check(site, date(YEAR + 1, 1, 5), follow_up=True)
        db.session.commit()
    with app.app_context():
        card = cards_by_name()["安海镇"]
        assert (card.spot_checks, card.follow_ups, card.open_follow_ups, card.oldest_open_days) == (1, 1, 1, 0)


def test_a_milestone_handed_in_again_after_the_year_keeps_its_submission(app, round_):
    township = round_.townships[0]
    with app.app_context():
        add_milestones(township, on_time=3)  # charter, the site's and the township's summary; completion not yet
        items = db.session.scalars(sa.select(SiteMilestone).join(SiteMilestone.milestone)
                                   .where(SiteMilestone.township_id == township).order_by(Milestone.due_date)).all()
        completion = items[-1]
        completion_id = completion.id
        assert completion.milestone.due_date == date(YEAR, 11, 30) and completion.submitted_at is None
        # The completion handed in on time, returned in December with a comment; the history says so.
        completion.submitted_at, completion.status = _china(date(YEAR, 11, 28)), MilestoneStatus.RETURNED
        db.session.add_all([
            MilestoneEvent(site_milestone=completion, at=_china(date(YEAR, 11, 28)),
                           from_status=MilestoneStatus.NOT_STARTED, to_status=MilestoneStatus.SUBMITTED),
            MilestoneEvent(site_milestone=completion, at=_china(date(YEAR, 12, 5)),
                           from_status=MilestoneStatus.SUBMITTED, to_status=MilestoneStatus.RETURNED, comment="补充"),
        ])
        db.session.commit()
    with app.app_context():
        before = cards_by_name()["安海镇"]
        assert (before.milestones_on_time, before.milestones_due) == (4, 4)
        # Handed in again in January (which restamps ``submitted_at``): still on time on the 2031 card.
        completion = db.session.get(SiteMilestone, completion_id)
        completion.submitted_at, completion.status = _china(NEXT_YEAR), MilestoneStatus.SUBMITTED
        db.session.add(MilestoneEvent(site_milestone=completion, at=_china(NEXT_YEAR),
                                      from_status=MilestoneStatus.RETURNED, to_status=MilestoneStatus.SUBMITTED))
        db.session.commit()
    with app.app_context():
        assert indicators(cards_by_name(today=NEXT_YEAR + timedelta(days=1))["安海镇"]) == indicators(before)
        # 磁灶镇 hands in its completion only in January: due and not handed in (overdue) at the year's end.
        other = db.session.scalars(sa.select(SiteMilestone).join(SiteMilestone.milestone)
                                   .where(SiteMilestone.township_id == round_.townships[1],
                                          Milestone.due_date == date(YEAR, 11, 30))).one()
        other.submitted_at, other.status = _china(NEXT_YEAR), MilestoneStatus.SUBMITTED
        db.session.commit()
    with app.app_context():
        c = cards_by_name()["磁灶镇"]
        assert (c.milestones_on_time, c.milestones_due) == (0, 4)


def test_archive_changes_after_the_year_do_not_change_its_card(app, round_):
    site = round_.sites[0]
    with app.app_context():
        add_archive(site, 6)
        db.session.commit()
        before = cards_by_name()["安海镇"]
        assert before.archive == Fraction(6, 8)
        # In January: the two missing kinds added, and the only item of the second kind removed.
        for kind in archive.KINDS[6:]:
            db.session.add(ArchiveItem(site_id=site, kind=kind, title="补充材料", item_date=date(YEAR, 12, 1),
                                       created_at=_china(NEXT_YEAR),
                                       file=StoredFile(stored_name=f"sc/{next(_files)}.pdf", original_name="x.pdf",
                                                       kind="pdf", mime_type="application/pdf", size=1,
                                                       sha256="0" * 64)))
        removed = db.session.scalar(sa.select(ArchiveItem).where(ArchiveItem.site_id == site,
                                                                 ArchiveItem.kind == archive.KINDS[1]))
        removed.deleted_at = _china(NEXT_YEAR)
        db.session.commit()
    with app.app_context():
        assert cards_by_name(today=NEXT_YEAR + timedelta(days=1))["安海镇"].archive == Fraction(6, 8)
        # The next year's own card would see the archive as it is (7 of 8), were the site of that year.
        assert archive.completeness_many([site])[site][archive.KINDS[1]] == 0


# --- the pages -------------------------------------------------------------------------------------------------


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _row(page: str, township: int) -> str:
    match = re.search(rf'<tr id="township-{township}".*?</tr>', page, re.S)
    assert match, page[:2000]
    return match.group(0)


def test_the_bureau_sees_every_township_and_the_rule(app, client, login_as, round_, count_queries):
    login_as("bureau")
    response = client.get("/scorecard/")  # the latest year with sites: 2031
    assert response.status_code == 200
    page = _text(response)
    assert "2031 年度" in page and page.count('<tr id="township-') == 19
    row = _row(page, round_.townships[0])
    assert 'data-col="sites">1<' in row and "作出决定" in row
    assert "建议 +1" in page and "90%" in page and "60 天" in page
    assert "<script>" not in page and "style=" not in page
    with count_queries() as first:
        client.get(f"/scorecard/?year={YEAR}")
    with app.app_context():
        add_reports(round_.sites[0], on_time=10)
        add_archive(round_.sites[1], 8)
        add_check(round_.sites[1], date(YEAR, 6, 1))
        db.session.commit()
    client.get(f"/scorecard/?year={YEAR}")  # after any change the ranking's inputs are looked at again once
    with count_queries() as second:
        client.get(f"/scorecard/?year={YEAR}")
    assert second.count == first.count


@pytest.mark.parametrize("year", ["abc", "99999999999", "1999", "20 31", "２０３１", "-2031"])
def test_a_bad_year_gives_a_message_not_an_error(client, login_as, round_, year):
    login_as("bureau")
    response = client.get("/scorecard/", query_string={"year": year})
    assert response.status_code == 200
    page = _text(response)
    assert "年度" in page and "已显示 2031 年度" in page


def test_a_year_without_sites_says_so(client, login_as, round_):
    login_as("finance")
    page = _text(client.get("/scorecard/?year=2040"))
    assert "2040 年度没有确定的示范点（项目）" in page and page.count("本年度没有示范点（项目）") >= 19


def test_accept_the_suggestion_with_the_audit_row(app, client, login_as, round_):
    bureau = login_as("bureau")
    township = round_.townships[1]  # nothing handed in: −1 whatever the date
    page = _text(client.get(f"/scorecard/{township}/{YEAR}"))
    assert re.search(r'<input[^>]*name="suggestion"[^>]*value="-1"', page)
    response = client.post(f"/scorecard/{township}/{YEAR}", data={"action": "accept", "suggestion": "-1"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/scorecard/?year={YEAR}#township-{township}")
    with app.app_context():
        decision = db.session.scalar(sa.select(ScorecardDecision))
        assert (decision.township_id, decision.year, decision.suggested_change, decision.decided_change,
                decision.reason, decision.decided_by_id) == (township, YEAR, -1, -1, "", bureau)
        log = db.session.scalar(sa.select(AuditLog).where(AuditLog.object_type == "ScorecardDecision"))
        assert log.action == AuditAction.INSERT and log.actor_id == bureau
        assert log.object_id == str(decision.id) and log.after["decided_change"] == -1
    row = _row(_text(client.get(f"/scorecard/?year={YEAR}")), township)
    assert "采纳建议" in row and "修改决定" in row


def test_override_needs_a_reason_and_a_second_decision_updates(app, client, login_as, round_):
    bureau = login_as("bureau")
    township = round_.townships[1]
    url = f"/scorecard/{township}/{YEAR}"
    response = client.post(url, data={"action": "override", "change": "1", "reason": "   "})
    assert response.status_code == 200
    page = _text(response)
    assert re.search(r'data-field="reason">调整与建议不同，请写明理由。<', page)
    same = _text(client.post(url, data={"action": "override", "change": "-1", "reason": "同上"}))
    assert re.search(r'data-field="change">与建议相同', same)
    wild = _text(client.post(url, data={"action": "override", "change": "3", "reason": "理由"}))
    assert re.search(r'data-field="change">请选择 −2 至 \+2 之间的名额调整。', wild)
    nothing = client.post(url, data={"change": "1", "reason": "理由"})
    assert nothing.status_code == 200 and 'data-field="action"' in _text(nothing)
    too_long = client.post(url, data={"action": "override", "change": "1", "reason": "长" * 501})
    assert too_long.status_code == 200 and "不能超过 500 个字符" in _text(too_long)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ScorecardDecision.id))) == 0

    assert client.post(url, data={"action": "override", "change": "1", "reason": "  新建议事厅成效突出  "}
                       ).status_code == 302
    assert client.post(url, data={"action": "override", "change": "2", "reason": "再议"}).status_code == 302
    with app.app_context():
        decisions = db.session.scalars(sa.select(ScorecardDecision)).all()
        assert len(decisions) == 1
        assert (decisions[0].suggested_change, decisions[0].decided_change, decisions[0].reason) == (-1, 2, "再议")
        logs = db.session.scalars(sa.select(AuditLog).where(AuditLog.object_type == "ScorecardDecision")
                                  .order_by(AuditLog.id)).all()
        assert [log.action for log in logs] == [AuditAction.INSERT, AuditAction.UPDATE]
        assert logs[0].after["reason"] == "新建议事厅成效突出" and logs[0].after["decided_change"] == 1
        assert logs[1].before["decided_change"] == 1 and logs[1].after["decided_change"] == 2
        assert all(log.actor_id == bureau for log in logs)
    # Back to the suggestion: the reason may be left empty.
    assert client.post(url, data={"action": "accept", "suggestion": "-1"}).status_code == 302
    with app.app_context():
        decision = db.session.scalar(sa.select(ScorecardDecision))
        assert (decision.decided_change, decision.reason) == (-1, "")


def test_a_refused_decision_is_tied_to_its_controls_for_screen_readers(client, login_as, round_):
    """Each radio of the decision names its message; the change keeps its help beside an error of its own."""
    login_as("bureau")
    url = f"/scorecard/{round_.townships[1]}/{YEAR}"

    def refused(**data) -> dict[str, str]:
        return error_descriptions(client.post(url, data=data).get_data(as_text=True))

    described = refused(change="1", reason="理由")
    assert set(described) == {"action-0", "action-1"}
    assert all("请选择“采纳建议”或“另行调整”" in text for text in described.values())
    described = refused(action="override", change="3", reason="理由")
    assert list(described) == ["change"] and described["change"].startswith("仅在“另行调整”时使用")
    assert "请选择 −2 至 +2 之间的名额调整" in described["change"]
    described = refused(action="override", change="1")
    assert list(described) == ["reason"] and "调整与建议不同，请写明理由。" in described["reason"]


def test_a_changed_suggestion_is_not_accepted_unseen(app, client, login_as, round_):
    login_as("bureau")
    response = client.post(f"/scorecard/{round_.townships[1]}/{YEAR}", data={"action": "accept", "suggestion": "1"})
    assert response.status_code == 200 and "建议调整已变为 -1" in _text(response)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ScorecardDecision.id))) == 0


def test_finance_sees_but_cannot_decide(app, client, login_as, round_):
    login_as("finance")
    assert client.get("/scorecard/").status_code == 200
    page = _text(client.get(f"/scorecard/{round_.townships[0]}/{YEAR}"))
    assert "名额调整由市民政局决定" in page and "<form method=\"post\"" not in page.split('id="decision"')[1]
    assert "作出决定" not in _text(client.get("/scorecard/"))
    response = client.post(f"/scorecard/{round_.townships[0]}/{YEAR}", data={"action": "accept"})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ScorecardDecision.id))) == 0


@pytest.mark.parametrize("role", ["township", "community", "evaluator", "admin", "auditor"])
def test_nobody_else_sees_the_scorecard(client, login_as, round_, role):
    login_as(role)
    assert client.get("/scorecard/").status_code == 403
    assert client.get(f"/scorecard/{round_.townships[0]}/{YEAR}").status_code == 403
    assert client.post(f"/scorecard/{round_.townships[0]}/{YEAR}", data={"action": "accept"}).status_code == 403


def test_unknown_township_or_year_is_not_found(client, login_as, round_):
    login_as("bureau")
    assert client.get(f"/scorecard/999999/{YEAR}").status_code == 404
    assert client.get(f"/scorecard/{round_.townships[0]}/2040").status_code == 404  # no programme that year
    assert client.get(f"/scorecard/{round_.townships[0]}/99999999999").status_code == 404
    assert client.post(f"/scorecard/{round_.townships[0]}/1999", data={"action": "accept"}).status_code == 404


def test_the_pages_say_what_day_the_card_stands_at(app, client, login_as, round_, monkeypatch):
    login_as("bureau")
    site, township = round_.sites[0], round_.townships[0]

    def today_is(day: date) -> None:
        for module in ("app.scorecard.views", "app.scorecard.compute"):
            monkeypatch.setattr(f"{module}.china_today", lambda: day)

    with app.app_context():
        add_check(site, date(YEAR, 10, 1), follow_up=True)
        db.session.commit()
    today_is(date(YEAR, 11, 30))
    running = _text(client.get(f"/scorecard/?year={YEAR}"))
    assert f'data-as-of="{YEAR}-11-30"' in running and f"按今天（{YEAR}-11-30）的情况计算" in running
    assert "最久 60 天" in _row(running, township)
    with app.app_context():
        check = db.session.scalar(sa.select(SpotCheck).where(SpotCheck.site_id == site))
        check.closed_at = _china(NEXT_YEAR)
        db.session.commit()
    today_is(date(YEAR + 2, 3, 1))
    for page in (_text(client.get(f"/scorecard/?year={YEAR}")), _text(client.get(f"/scorecard/{township}/{YEAR}"))):
        assert f'data-as-of="{YEAR}-12-31"' in page and f"按年度末（{YEAR}-12-31）的情况计算" in page
    row = _row(_text(client.get(f"/scorecard/?year={YEAR}")), township)
    assert '<span class="badge text-bg-warning">1</span>' in row and "最久 91 天" in row


def test_the_age_of_an_open_follow_up_is_counted_in_english_with_its_plural(app, client, login_as, round_,
                                                                            monkeypatch):
    login_as("bureau")
    site, township = round_.sites[0], round_.townships[0]
    with app.app_context():
        add_check(site, date(YEAR, 10, 1), follow_up=True)
        db.session.commit()
    client.post("/language/en")
    for day, shown in ((date(YEAR, 10, 2), "oldest: 1 day<"), (date(YEAR, 10, 3), "oldest: 2 days<")):
        for module in ("app.scorecard.views", "app.scorecard.compute"):
            monkeypatch.setattr(f"{module}.china_today", lambda day=day: day)
        assert shown in _row(_text(client.get(f"/scorecard/?year={YEAR}")), township)
        assert shown.replace("o", "(o", 1).replace("<", ")<") in _text(client.get(f"/scorecard/{township}/{YEAR}"))


# --- the demo --------------------------------------------------------------------------------------------------


def test_demo_decisions_are_deterministic_and_made_once(app):
    from app.fixtures import load_demo
    from app.fixtures.demo_scorecard import DECIDED_AT, OVERRIDE_REASON, load_demo_scorecard

    with app.app_context():
        load_demo()
        load_demo_scorecard()  # 2 the first time, 0 once load_demo brings it along
        decisions = {d.township.name: d for d in db.session.scalars(sa.select(ScorecardDecision))}
        bureau = db.session.scalar(sa.select(User.id).where(User.username == "bureau"))
        assert set(decisions) == {"磁灶镇", "安海镇"}
        accepted, overridden = decisions["磁灶镇"], decisions["安海镇"]
        assert (accepted.year, accepted.suggested_change, accepted.decided_change) == (2023, -1, -1)
        assert accepted.reason == ""
        assert (overridden.suggested_change, overridden.decided_change, overridden.reason) == (-1, 0, OVERRIDE_REASON)
        assert {d.decided_by_id for d in decisions.values()} == {bureau}
        assert accepted.decided_at == DECIDED_AT == overridden.decided_at
        before = [(d.id, d.decided_change, d.decided_at) for d in decisions.values()]
        assert load_demo_scorecard() == 0
        assert [(d.id, d.decided_change, d.decided_at) for d in
                db.session.scalars(sa.select(ScorecardDecision).order_by(ScorecardDecision.id))] == sorted(before)
        # 磁灶镇 closed its follow-up after the decision (January 2024): the 2023 cards, shown today, still stand
        # at the end of 2023 and agree with what the bureau decided on.
        cards = {card.township.name: card for card in scorecards(2023)}
        assert cards["磁灶镇"].year_closed and cards["磁灶镇"].open_follow_ups == 1
        assert {name: cards[name].suggestion for name in decisions} == {
            name: d.suggested_change for name, d in decisions.items()}
