"""评分汇总表: applications × evaluators × criteria, each evaluator's total, the mean and the rank."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import gettext as _

from app.accounts.models import User
from app.applications.models import Application
from app.extensions import db
from app.programmes.models import Programme
from app.scoring.aggregate import to_decimal
from app.scoring.models import Assignment, SheetStatus
from app.scoring.ranking import programme_ranking
from reports.xlsx import Column, Sheet


def _points(half_points: int | None) -> Decimal | None:
    return None if half_points is None else Decimal(half_points) / 2


def sheets(programme: Programme) -> list[Sheet]:
    ranking = programme_ranking(programme)
    evaluators = db.session.scalars(
        sa.select(User).join(Assignment, Assignment.evaluator_id == User.id).join(Assignment.application)
        .where(Application.programme_id == programme.id).distinct().order_by(User.username)
    ).all()
    summary_columns = [
        Column("rank", _("排名"), "int"),
        Column("reference", _("编号")),
        Column("township", _("镇(街道)")),
        Column("community", _("村(社区)")),
        *[Column(f"e{e.id}", e.label, "decimal") for e in evaluators],
        Column("count", _("有效评分人数"), "int"),
        Column("mean", _("平均分"), "decimal"),
        Column("note", _("备注"), width=24),
    ]

    def summary_rows() -> Iterator[dict]:
        for row in ranking:
            totals = {f"e{sheet.evaluator_id}": _points(sheet.half_points) for sheet in row.sheets}
            note = _("一票否决") if row.ranked.vetoed else (_("并列") if row.ranked.tied else "")
            yield {
                "rank": row.ranked.position, "reference": row.application.reference,
                "township": row.application.township.name, "community": row.application.community.name,
                **totals, "count": row.ranked.evaluators,
                "mean": to_decimal(row.ranked.mean) if row.ranked.mean is not None else None, "note": note,
            }

    criteria = list(programme.criteria)
    detail_columns = [
        Column("reference", _("编号")),
        Column("community", _("村(社区)")),
        Column("evaluator", _("评审人")),
        Column("status", _("状态")),
        *[Column(f"c{c.id}", f"{c.group_name}·{c.name}（{c.max_points}）", "decimal") for c in criteria],
        Column("total", _("合计"), "decimal"),
        Column("veto", _("一票否决")),
    ]

    def detail_rows() -> Iterator[dict]:
        assignments = db.session.scalars(
            sa.select(Assignment).join(Assignment.application)
            .where(Application.programme_id == programme.id)
            .options(sa.orm.selectinload(Assignment.scores), sa.orm.joinedload(Assignment.evaluator),
                     sa.orm.joinedload(Assignment.application).joinedload(Application.community))
            .order_by(Application.reference, Assignment.evaluator_id)
        ).unique()
        for assignment in assignments:
            scores = {score.criterion_id: score.half_points for score in assignment.scores}
            yield {
                "reference": assignment.application.reference,
                "community": assignment.application.community.name,
                "evaluator": assignment.evaluator.label,
                "status": assignment.status.title,
                **{f"c{c.id}": _points(scores.get(c.id)) for c in criteria},
                "total": _points(sum(scores.values())) if assignment.status == SheetStatus.SUBMITTED else None,
                "veto": _("是") if assignment.veto_ids else "",
            }

    title = _("%(name)s 评分汇总表", name=programme.name)
    notes = [_("平均分按已提交的评分表计算%(rule)s；并列时先比较分值最高的评分组得分，再按市民政局记录的决定排序。",
               rule=_("（去掉一个最高分和一个最低分）") if programme.use_trimmed_mean else "")]
    return [
        Sheet(name=_("评分汇总"), columns=summary_columns, rows=summary_rows(), title=title, notes=notes),
        Sheet(name=_("评分明细"), columns=detail_columns, rows=detail_rows(), title=title),
    ]
