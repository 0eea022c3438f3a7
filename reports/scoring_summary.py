"""评分汇总表: applications × evaluators × criteria, each evaluator's total, the mean and the rank."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from itertools import groupby

import sqlalchemy as sa
from flask_babel import gettext as _

from app.accounts.models import User
from app.applications.models import Application, ApplicationStatus
from app.extensions import db
from app.places.models import Community, Township
from app.programmes.models import Programme
from app.scoring.aggregate import to_decimal
from app.scoring.models import Assignment, Score, SheetStatus
from app.scoring.ranking import ranked
from reports.xlsx import Column, Sheet


def _points(half_points: int | None) -> Decimal | None:
    return None if half_points is None else Decimal(half_points) / 2


def sheets(programme: Programme) -> list[Sheet]:
    order, sheets_of = ranked(programme)
    names = {row.id: row for row in db.session.execute(
        sa.select(Application.id, Application.reference, Township.name.label("township"),
                  Community.name.label("community"))
        .join(Application.township).join(Application.community)
        .where(Application.programme_id == programme.id, Application.status == ApplicationStatus.ACCEPTED))}
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
        vetoed, tied = _("一票否决"), _("并列")
        for ranked_row in order:
            application = names[ranked_row.application_id]
            totals = {f"e{sheet.evaluator_id}": _points(sheet.half_points)
                      for sheet in sheets_of[ranked_row.application_id]}
            yield {
                "rank": ranked_row.position, "reference": application.reference,
                "township": application.township, "community": application.community,
                **totals, "count": ranked_row.evaluators,
                "mean": to_decimal(ranked_row.mean) if ranked_row.mean is not None else None,
                "note": vetoed if ranked_row.vetoed else (tied if ranked_row.tied else ""),
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
        # One query, streamed: a row per sheet and criterion scored (a sheet without scores has one row), read
        # sheet by sheet.
        statement = (
            sa.select(Assignment.id, Application.reference, Community.name, User.display_name, User.username,
                      Assignment.status, Assignment.veto_ids, Score.criterion_id, Score.half_points)
            .join(Assignment.application).join(Application.community)
            .join(User, User.id == Assignment.evaluator_id)
            .outerjoin(Score, Score.assignment_id == Assignment.id)
            .where(Application.programme_id == programme.id)
            .order_by(Application.reference, Assignment.evaluator_id, Assignment.id)
        )
        titles = {status: status.title for status in SheetStatus}
        yes = _("是")
        result = db.session.execute(statement.execution_options(yield_per=1000))
        for _id, group in groupby(result, key=lambda row: row[0]):
            group = list(group)
            _assignment, reference, community, display_name, username, status, veto_ids = group[0][:7]
            scores = {row.criterion_id: row.half_points for row in group if row.criterion_id is not None}
            yield {
                "reference": reference,
                "community": community,
                "evaluator": display_name or username,
                "status": titles[status],
                **{f"c{c.id}": _points(scores.get(c.id)) for c in criteria},
                "total": _points(sum(scores.values())) if status == SheetStatus.SUBMITTED else None,
                "veto": yes if veto_ids else "",
            }

    title = _("%(name)s 评分汇总表", name=programme.name)
    notes = [_("平均分按已提交的评分表计算%(rule)s；并列时先比较分值最高的评分组得分，再按市民政局记录的决定排序。",
               rule=_("（去掉一个最高分和一个最低分）") if programme.use_trimmed_mean else "")]
    return [
        Sheet(name=_("评分汇总"), columns=summary_columns, rows=summary_rows(), title=title, notes=notes),
        Sheet(name=_("评分明细"), columns=detail_columns, rows=detail_rows(), title=title),
    ]
