"""From scores to sites: ranking with hand-computed means, the proposed list, swaps, notice, objections,
finalisation with allocations, and the two exports read back."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.audit.models import AuditAction, AuditLog
from app.database import china_today
from app.extensions import db
from app.funding.models import Allocation, Site
from app.programmes.models import Programme, ProgrammeStatus
from app.scoring import operations
from app.scoring import selection as selecting
from app.scoring.aggregate import display
from app.scoring.models import Assignment, Selection, SelectionStatus
from app.scoring.ranking import programme_ranking
from tests.accessibility import error_descriptions
from tests.conftest import login


def _score(app, scoring, table: dict[tuple[int, int], tuple[float, float, float, float]], veto=()):
    """table: {(application index, evaluator index): (c1, c2, c3, bonus) points}; every sheet submitted."""
    from app.applications.models import Application

    with app.app_context():
        for (a, e), points in table.items():
            assignment = operations.assign(db.session.get(Application, scoring.applications[a]),
                                           db.session.get(User, scoring.evaluators[e]), None)
            half = {criterion: int(value * 2) for criterion, value in zip(scoring.criteria, points, strict=True)}
            operations.save_sheet(assignment, half, [scoring.veto] if (a, e) in veto else [], "")
            operations.submit_sheet(assignment)
        db.session.commit()


def _ranking(app, scoring):
    with app.app_context():
        programme = db.session.get(Programme, scoring.programme)
        return [(row.application.reference, row.ranked.position, display(row.ranked.mean), row.ranked.tied)
                for row in programme_ranking(programme)]


def test_means_and_ranking_by_hand(app, scoring):
    _score(app, scoring, {
        # T-1 (安海镇; evaluator 3 is tied to 安海镇 and does not score it): 80 and 85.5 → 82.75
        (0, 0): (35, 15, 30, 0), (0, 1): (35, 15.5, 35, 0),
        # T-2: 90, 70, 75 → 78.33
        (1, 0): (40, 20, 30, 0), (1, 1): (30, 10, 30, 0), (1, 2): (30, 15, 30, 0),
        # T-3: 85 and 86 with bonus 3 on the first → 88 and 86 → 87
        (2, 0): (35, 15, 35, 3), (2, 1): (36, 15, 35, 0),
    })
    assert _ranking(app, scoring) == [("T-3", 1, "87.00", False), ("T-1", 2, "82.75", False),
                                      ("T-2", 3, "78.33", False)]


def test_weights_change_the_order(app, scoring):
    _score(app, scoring, {(1, 0): (40, 20, 40, 0), (1, 1): (20, 10, 20, 0),   # bureau 100, finance 50
                          (2, 0): (30, 15, 30, 0), (2, 1): (35, 15, 35, 0)})  # bureau 75, finance 85
    assert [r[:3] for r in _ranking(app, scoring)[:2]] == [("T-3", 1, "80.00"), ("T-2", 2, "75.00")]
    with app.app_context():
        programme = db.session.get(Programme, scoring.programme)
        programme.weight_bureau, programme.weight_finance = 80, 20
        db.session.commit()
    # T-2: 0.8×100 + 0.2×50 = 90; T-3: 0.8×75 + 0.2×85 = 77
    assert [r[:3] for r in _ranking(app, scoring)[:2]] == [("T-2", 1, "90.00"), ("T-3", 2, "77.00")]


def test_tie_broken_by_the_heaviest_group_then_by_the_bureau(app, client, login_as, scoring):
    # Same totals (80); group A (60 points max) is heavier than B (40): T-2 has 55 in A, T-3 has 50.
    _score(app, scoring, {(1, 0): (35, 20, 25, 0), (2, 0): (30, 20, 30, 0)})
    assert _ranking(app, scoring)[:2] == [("T-2", 1, "80.00", False), ("T-3", 2, "80.00", False)]
    # Now level in group A too: still tied until the bureau decides.
    with app.app_context():
        assignment = db.session.scalar(sa.select(Assignment).where(Assignment.application_id ==
                                                                   scoring.applications[2]))
        for score in assignment.scores:
            score.half_points = {scoring.criteria[0]: 70, scoring.criteria[1]: 40, scoring.criteria[2]: 50}.get(
                score.criterion_id, score.half_points)
        db.session.commit()
    assert _ranking(app, scoring)[:2] == [("T-2", 1, "80.00", True), ("T-3", 1, "80.00", True)]
    login_as("bureau")
    client.post(f"/scoring/programmes/{scoring.programme}/ties", data={
        "application_id": scoring.applications[2], "priority": "1", "reason": "实地走访成效更好"})
    client.post(f"/scoring/programmes/{scoring.programme}/ties", data={
        "application_id": scoring.applications[1], "priority": "2", "reason": "实地走访成效更好"})
    assert _ranking(app, scoring)[:2] == [("T-3", 1, "80.00", False), ("T-2", 2, "80.00", False)]


def test_vetoed_application_is_excluded_and_cannot_be_listed(app, client, login_as, scoring):
    _score(app, scoring, {(0, 0): (40, 20, 40, 0), (1, 0): (30, 15, 30, 0), (2, 0): (20, 10, 20, 0)},
           veto={(0, 0)})
    ranking = _ranking(app, scoring)
    assert ranking[-1][:2] == ("T-1", None)
    login_as("bureau")
    client.post(f"/scoring/programmes/{scoring.programme}/selection/propose")
    response = client.post(f"/scoring/programmes/{scoring.programme}/selection/add", data={
        "in_id": scoring.applications[0], "reason": "试试"})
    assert response.status_code == 200  # shown again, the message at the application chosen
    assert error_descriptions(response.get_data(as_text=True)) == {"add-in_id": "被一票否决的申报不能列入名单。"}


def _full_flow_until_publicised(app, client, scoring):
    _score(app, scoring, {(0, 0): (40, 20, 40, 0), (1, 0): (30, 15, 30, 0), (2, 0): (20, 10, 20, 0)})
    client.post(f"/scoring/programmes/{scoring.programme}/selection/propose")
    with app.app_context():
        selection = db.session.scalar(sa.select(Selection).where(Selection.programme_id == scoring.programme))
        assert [e.application_id for e in selection.entries] == scoring.applications[:2]
    # Swap T-2 for T-3, with a reason; the quota stays 2.
    refused = client.post(f"/scoring/programmes/{scoring.programme}/selection/swap", data={
        "out_id": scoring.applications[1], "in_id": scoring.applications[2], "reason": ""})
    assert refused.status_code == 200
    assert error_descriptions(refused.get_data(as_text=True)) == {"swap-reason": "此项为必填项。"}
    client.post(f"/scoring/programmes/{scoring.programme}/selection/swap", data={
        "out_id": scoring.applications[1], "in_id": scoring.applications[2], "reason": "T-2 所在镇已有入选"})
    client.post(f"/scoring/programmes/{scoring.programme}/selection/tier", data={
        "application_id": scoring.applications[0], "tier_id": scoring.tiers[0]})
    client.post(f"/scoring/programmes/{scoring.programme}/selection/publish")
    with app.app_context():
        selection = db.session.scalar(sa.select(Selection).where(Selection.programme_id == scoring.programme))
        assert selection.status == SelectionStatus.PUBLICISED
        assert [e.application_id for e in selection.entries] == [scoring.applications[0], scoring.applications[2]]
        assert selection.entries[1].swap_reason == "T-2 所在镇已有入选"
        return selection.id


def test_over_or_under_quota_cannot_be_published(app, client, login_as, scoring):
    login_as("bureau")
    _score(app, scoring, {(0, 0): (40, 20, 40, 0), (1, 0): (30, 15, 30, 0), (2, 0): (20, 10, 20, 0)})
    client.post(f"/scoring/programmes/{scoring.programme}/selection/propose")
    client.post(f"/scoring/programmes/{scoring.programme}/selection/add", data={
        "in_id": scoring.applications[2], "reason": "增列"})
    page = client.post(f"/scoring/programmes/{scoring.programme}/selection/publish",
                       follow_redirects=True).get_data(as_text=True)
    assert "名单有 3 个，应为 2 个" in page
    client.post(f"/scoring/programmes/{scoring.programme}/selection/remove/{scoring.applications[2]}")
    client.post(f"/scoring/programmes/{scoring.programme}/selection/remove/{scoring.applications[1]}")
    page = client.post(f"/scoring/programmes/{scoring.programme}/selection/publish",
                       follow_redirects=True).get_data(as_text=True)
    assert "名单有 1 个，应为 2 个" in page


def test_notice_objections_and_finalisation_create_the_sites(app, client, login_as, scoring):
    login_as("bureau")
    selection_id = _full_flow_until_publicised(app, client, scoring)
    today = china_today()
    late = client.post(f"/scoring/programmes/{scoring.programme}/selection/objections", data={
        "application_id": scoring.applications[2], "received_at": (today - timedelta(days=30)).isoformat(),
        "content": "太早"})
    assert late.status_code == 200
    assert "公示期" in error_descriptions(late.get_data(as_text=True))["objection-received_at"]
    client.post(f"/scoring/programmes/{scoring.programme}/selection/objections", data={
        "application_id": scoring.applications[2], "received_at": today.isoformat(), "raised_by": "居民",
        "content": "议事厅面积不足"})
    page = client.post(f"/scoring/programmes/{scoring.programme}/selection/finalise",
                       follow_redirects=True).get_data(as_text=True)
    assert "结束后才能确定名单" in page
    with app.app_context():
        selection = db.session.get(Selection, selection_id)
        with pytest.raises(selecting.SelectionError, match="未答复"):
            selecting.finalise(selection, None, today=selection.publicity_end + timedelta(days=1))
        objection_id = selection.objections[0].id
    client.post(f"/scoring/objections/{objection_id}/answer", data={"response": "经核实面积 45 平方米，符合要求"})
    with app.app_context():
        selection = db.session.get(Selection, selection_id)
        sites = selecting.finalise(selection, None, today=selection.publicity_end + timedelta(days=1))
        db.session.commit()
        assert len(sites) == 2 == db.session.get(Programme, scoring.programme).quota
        assert db.session.get(Programme, scoring.programme).status == ProgrammeStatus.SELECTED
        allocations = db.session.execute(
            sa.select(Site.application_id, Allocation.amount_fen).join(Allocation.site).order_by(Allocation.id)
        ).all()
        # T-1 at the prefecture tier: 50,000 + 30,000; T-3 at the city tier: 30,000 (in fen).
        assert [tuple(row) for row in allocations] == [(scoring.applications[0], 5_000_000),
                                                       (scoring.applications[0], 3_000_000),
                                                       (scoring.applications[2], 3_000_000)]
        assert db.session.scalar(sa.select(sa.func.count(AuditLog.id)).where(
            AuditLog.object_type == "Allocation", AuditLog.action == AuditAction.INSERT)) == 3
        # 下达 on the day of finalising, the one given too: a past finalisation does not allocate today.
        assert set(db.session.scalars(sa.select(Allocation.entry_date))) == {
            selection.publicity_end + timedelta(days=1)}
        assert db.session.get(Selection, selection_id).status == SelectionStatus.FINAL
        with pytest.raises(selecting.SelectionError):
            selecting.finalise(db.session.get(Selection, selection_id), None)


def test_exports_read_back(app, client, login_as, scoring):
    login_as("bureau")
    _full_flow_until_publicised(app, client, scoring)
    summary = client.get(f"/scoring/programmes/{scoring.programme}/ranking.xlsx")
    assert summary.status_code == 200
    sheets = pd.read_excel(io.BytesIO(summary.data), sheet_name=None, header=3)
    ranked = sheets["评分汇总"].dropna(subset=["编号"])
    assert list(ranked["编号"]) == ["T-1", "T-2", "T-3"]
    assert list(ranked["平均分"]) == [100.0, 75.0, 50.0]
    detail = pd.read_excel(io.BytesIO(summary.data), sheet_name="评分明细", header=2)
    assert list(detail["合计"]) == [100.0, 75.0, 50.0]
    listing = client.get(f"/scoring/programmes/{scoring.programme}/selection.xlsx")
    frame = pd.read_excel(io.BytesIO(listing.data), header=3).dropna(subset=["编号"])
    frame = frame[frame["编号"] != "合计"]
    assert list(frame["编号"]) == ["T-1", "T-3"]
    assert list(frame["补助金额（元）"]) == [80000.0, 30000.0]


def test_finance_sees_the_ranking_but_decides_nothing(app, client, login_as, scoring):
    _score(app, scoring, {(0, 0): (40, 20, 40, 0)})
    login_as("finance")
    assert client.get(f"/scoring/programmes/{scoring.programme}/ranking").status_code == 200
    assert client.get(f"/scoring/programmes/{scoring.programme}/selection").status_code == 200
    assert client.post(f"/scoring/programmes/{scoring.programme}/selection/propose").status_code == 403
    assert client.get(f"/scoring/programmes/{scoring.programme}").status_code == 403


def _selection_links(client, count_queries, programme: int) -> dict[str, str]:
    """The name of the link to the list on each page that has one, and the selection page's title and heading;
    each page reads the list's status in one query."""
    names = {}
    for page in ("scoring/programmes/{}", "scoring/programmes/{}/ranking", "programmes/{}"):
        with count_queries() as counter:
            html = client.get("/" + page.format(programme)).get_data(as_text=True)
        assert len([s for s in counter.statements if "FROM selections" in s]) == 1, page
        names[page] = re.search(r'id="selection-link">([^<]*)</a>', html).group(1)
    html = client.get(f"/scoring/programmes/{programme}/selection").get_data(as_text=True)
    names["title"] = re.search(r"<title>([^·<]*) ·", html).group(1).strip()
    names["heading"] = re.search(r'<h1 class="h4 mb-0">([^<]*)<small', html).group(1).strip()
    return names


def test_the_list_is_named_final_once_it_is_final(app, client, login_as, make_user, scoring, count_queries):
    login_as("bureau")
    assert set(_selection_links(client, count_queries, scoring.programme).values()) == {"拟确定名单"}  # no list yet
    _score(app, scoring, {(0, 0): (40, 20, 40, 0), (1, 0): (30, 15, 30, 0)})
    client.post(f"/scoring/programmes/{scoring.programme}/selection/propose")
    assert set(_selection_links(client, count_queries, scoring.programme).values()) == {"拟确定名单"}
    with app.app_context():
        db.session.scalar(sa.select(Selection).where(Selection.programme_id == scoring.programme)).status = (
            SelectionStatus.FINAL)
        db.session.commit()
    assert set(_selection_links(client, count_queries, scoring.programme).values()) == {"确定名单"}
    # Who sees no link does not read the list.
    township = app.test_client()
    with app.app_context():
        username = db.session.get(User, make_user("township")).username
    login(township, username)
    with count_queries() as counter:
        response = township.get(f"/programmes/{scoring.programme}")
    assert response.status_code == 200 and "评审排名" not in response.get_data(as_text=True)
    assert not [s for s in counter.statements if "FROM selections" in s]
