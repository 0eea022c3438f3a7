"""申报汇总表: the applications a user may see, with the list page's filters."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from flask_babel import gettext as _

from app.applications.models import Application
from app.extensions import db
from reports.xlsx import Column, Sheet


def sheet(query: sa.Select) -> Sheet:
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
        # Budget lines and types in two more queries, whatever the number of rows.
        loaded = query.options(sa.orm.selectinload(Application.budget_lines),
                               sa.orm.selectinload(Application.project_type))
        for application in db.session.scalars(loaded).unique():
            project = " / ".join(filter(None, [application.project_name,
                                               application.project_type.name if application.project_type else ""]))
            yield {
                "reference": application.reference,
                "programme": application.programme.name,
                "year": application.programme.year,
                "township": application.township.name,
                "community": application.community.name,
                "project": project,
                "status": application.status.title,
                "submitted_at": application.submitted_at,
                "late": _("是") if application.submitted_late else "",
                "contact": application.contact_name,
                "phone": application.contact_phone,
                "budget": application.budget_total_fen if application.programme.is_project else None,
                "reason": application.last_reason,
            }

    return Sheet(name=_("申报汇总表"), columns=columns, rows=rows(), title=_("申报汇总表"))
