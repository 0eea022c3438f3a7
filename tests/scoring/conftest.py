"""A programme ready for scoring: a sheet of criteria, three accepted applications, three evaluators."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.accounts.models import EvaluatorGroup, User
from app.applications.models import Application, ApplicationStatus
from app.extensions import db
from app.programmes.models import FundingTier, FundingTierAmount, Programme, ProgrammeStatus
from app.programmes.templates import funding_source
from app.scoring.models import Criterion, CriterionKind, VetoCondition
from tests.applications.helpers import communities_of


@dataclass
class Scoring:
    programme: int
    applications: list[int]  # 安海镇, 磁灶镇, 陈埭镇
    criteria: list[int]  # A·c1 (40), A·c2 (20), B·c3 (40), bonus (5)
    veto: int
    evaluators: list[int]  # bureau group, finance group, expert tied to 安海镇
    usernames: list[str]
    tiers: list[int]  # prefecture (50,000 + 30,000), city (30,000)


@pytest.fixture
def scoring(app, make_programme, make_user, places) -> Scoring:
    from tests.applications.helpers import township_id

    programme_id = make_programme(status=ProgrammeStatus.EVALUATING, quota=2)
    chendai = township_id(app, "陈埭镇")
    evaluators = [
        make_user("evaluator", evaluator_group=EvaluatorGroup.BUREAU),
        make_user("evaluator", evaluator_group=EvaluatorGroup.FINANCE),
        make_user("evaluator", evaluator_group=EvaluatorGroup.EXPERT, tied_township_id=places.anhai),
    ]
    with app.app_context():
        programme = db.session.get(Programme, programme_id)
        programme.criteria = [
            Criterion(group_name="A", name="c1", max_points=40, sort_order=0),
            Criterion(group_name="A", name="c2", max_points=20, sort_order=1),
            Criterion(group_name="B", name="c3", max_points=40, sort_order=2),
            Criterion(group_name="加分项", name="bonus", max_points=5, kind=CriterionKind.BONUS, sort_order=3),
        ]
        programme.vetoes = [VetoCondition(text="弄虚作假")]
        quanzhou, jinjiang = funding_source("泉州市级财政"), funding_source("晋江市级财政")
        programme.tiers = [
            FundingTier(name="泉州市级试点", sort_order=0, amounts=[
                FundingTierAmount(source=quanzhou, amount_fen=5_000_000),
                FundingTierAmount(source=jinjiang, amount_fen=3_000_000)]),
            FundingTier(name="晋江市级示范点", sort_order=1, amounts=[
                FundingTierAmount(source=jinjiang, amount_fen=3_000_000)]),
        ]
        applications = []
        for number, township in enumerate([places.anhai, places.cizao, chendai], start=1):
            community = communities_of(app, township, 1)[0]
            application = Application(programme_id=programme_id, township_id=township, community_id=community,
                                      sequence=1, reference=f"T-{number}", status=ApplicationStatus.ACCEPTED)
            db.session.add(application)
            applications.append(application)
        db.session.commit()
        return Scoring(
            programme=programme_id,
            applications=[a.id for a in applications],
            criteria=[c.id for c in programme.criteria],
            veto=programme.vetoes[0].id,
            evaluators=evaluators,
            usernames=[db.session.get(User, e).username for e in evaluators],
            tiers=[t.id for t in programme.tiers],
        )
