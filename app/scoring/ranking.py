"""The ranking of a programme's accepted applications, from the submitted sheets (a few queries, any size)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa

from app.accounts.models import User
from app.applications.models import Application, ApplicationStatus
from app.extensions import db
from app.programmes.models import Programme
from app.scoring.aggregate import Ranked, SheetTotal, heaviest_group, rank
from app.scoring.models import Assignment, Score, SheetStatus, TieDecision


@dataclass
class RankingRow:
    ranked: Ranked
    application: Application
    sheets: list[SheetTotal]


def weights_of(programme: Programme) -> dict[str, int | None]:
    return {"bureau": programme.weight_bureau, "finance": programme.weight_finance, "expert": programme.weight_expert}


def submitted_sheets(programme: Programme) -> dict[int, list[SheetTotal]]:
    """{application id: one SheetTotal per submitted sheet} for the programme's accepted applications."""
    groups = {c.id: c.group_name for c in programme.criteria}
    kinds = {c.id: c.kind.value for c in programme.criteria}
    rows = db.session.execute(
        sa.select(Assignment.id, Assignment.application_id, Assignment.evaluator_id, Assignment.veto_ids,
                  User.evaluator_group, Score.criterion_id, Score.half_points)
        .join(Assignment.application)
        .join(User, User.id == Assignment.evaluator_id)
        .outerjoin(Score, Score.assignment_id == Assignment.id)
        .where(Application.programme_id == programme.id, Assignment.status == SheetStatus.SUBMITTED)
        .order_by(Assignment.id)
    ).all()
    per_sheet: dict[int, dict] = {}
    for assignment_id, application_id, evaluator_id, veto_ids, group, criterion_id, half_points in rows:
        sheet = per_sheet.setdefault(assignment_id, {
            "application_id": application_id, "evaluator_id": evaluator_id, "group": group.value if group else None,
            "total": 0, "groups": defaultdict(int), "vetoed": bool(veto_ids)})
        if criterion_id is not None:
            sheet["total"] += half_points
            if kinds.get(criterion_id) == "base":
                sheet["groups"][groups[criterion_id]] += half_points
    result: dict[int, list[SheetTotal]] = defaultdict(list)
    for sheet in per_sheet.values():
        result[sheet["application_id"]].append(SheetTotal(
            evaluator_id=sheet["evaluator_id"], group=sheet["group"], half_points=sheet["total"],
            group_half_points=dict(sheet["groups"]), vetoed=sheet["vetoed"]))
    return result


def programme_ranking(programme: Programme) -> list[RankingRow]:
    applications = {
        a.id: a
        for a in db.session.scalars(
            sa.select(Application)
            .where(Application.programme_id == programme.id, Application.status == ApplicationStatus.ACCEPTED)
            .options(sa.orm.joinedload(Application.community), sa.orm.joinedload(Application.township))
        )
    }
    sheets = submitted_sheets(programme)
    by_application = {application_id: sheets.get(application_id, []) for application_id in applications}
    decisions = dict(
        db.session.execute(
            sa.select(TieDecision.application_id, TieDecision.priority).where(TieDecision.programme_id == programme.id)
        ).tuples().all()
    )
    heaviest = heaviest_group([(c.group_name, c.max_points, c.kind.value) for c in programme.criteria])
    ranked = rank(by_application, heaviest=heaviest, trimmed=programme.use_trimmed_mean,
                  weights=weights_of(programme), decisions=decisions)
    return [RankingRow(r, applications[r.application_id], by_application[r.application_id]) for r in ranked]
