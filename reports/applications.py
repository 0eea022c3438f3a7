"""申报汇总表: the applications a user may see, with the list page's filters."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from flask_babel import gettext as _

from app.applications.models import Application, ApplicationStatus, BudgetLine
from app.extensions import db
from app.places.models import Community, Township
from app.programmes.models import Programme, ProgrammeKind, ProjectType
from reports.xlsx import Column, Sheet


def sheet(query: sa.Select) -> Sheet:
    """``query``: the list's select of applications (:func:`app.applications.queries.filtered_applications`: joined
    to community, township and programme)."""
    columns = [
        Column("reference", _("编号")),
        Column("programme", _("项目")),
        Column("year", _("年度"), "int"),
        Column("township", _("镇(街道)")),
        Column("community", _("村(社区)")),
        Column("project", _("项目名称 / 类型")),
        Column("status", _("状态")),
        Column("submitted_at", _("提交时间"), "datetime"),
        Column("late", _("逾期（延期后提交）")),
        Column("contact", _("联系人")),
        Column("phone", _("联系电话")),
        Column("budget", _("预算金额（元）"), "money_fen", total=True),
        Column("reason", _("退回 / 未受理原因"), width=40),
    ]

    def rows() -> Iterator[dict]:
        # One query, streamed: the list's own (its joins, filters and order) with only the columns the sheet shows,
        # the project type joined and the budget summed per application.
        budget = (sa.select(sa.func.coalesce(sa.func.sum(BudgetLine.amount_fen), 0))
                  .where(BudgetLine.application_id == Application.id).scalar_subquery())
        statement = query.with_only_columns(
            Application.reference, Programme.name, Programme.year, Programme.kind, Township.name, Community.name,
            Application.project_name, ProjectType.name, Application.status, Application.submitted_at,
            Application.submitted_late, Application.contact_name, Application.contact_phone, budget,
            Application.last_reason, maintain_column_froms=False,
        ).outerjoin(ProjectType, ProjectType.id == Application.project_type_id)
        titles = {status: status.title for status in ApplicationStatus}
        late = _("是")
        for (reference, programme, year, kind, township, community, project_name, project_type, status,
             submitted_at, submitted_late, contact_name, contact_phone, budget_fen,
             reason) in db.session.execute(statement.execution_options(yield_per=500)):
            yield {
                "reference": reference,
                "programme": programme,
                "year": year,
                "township": township,
                "community": community,
                "project": " / ".join(filter(None, [project_name, project_type or ""])),
                "status": titles[status],
                "submitted_at": submitted_at,
                "late": late if submitted_late else "",
                "contact": contact_name,
                "phone": contact_phone,
                "budget": int(budget_fen) if kind == ProgrammeKind.PROJECT else None,
                "reason": reason,
            }

    return Sheet(name=_("申报汇总表"), columns=columns, rows=rows(), title=_("申报汇总表"))
