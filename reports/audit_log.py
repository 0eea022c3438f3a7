"""The audit log export: the rows the auditor filtered, oldest first, at most :data:`EXPORT_LIMIT` of them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _

from app.audit.models import AuditAction, AuditLog
from app.extensions import db
from app.formatting import json_text
from reports.xlsx import Column, Sheet

CHINA = ZoneInfo("Asia/Shanghai")

# The most rows one export holds. The whole log of a province is about 10 million rows: more than a sheet takes
# (1,048,576), many minutes of writing and gigabytes in a worker. 100,000 rows are streamed from one query into a
# constant-memory workbook (reports/xlsx.py) in about 13 s on the two-core benchmark machine, inside gunicorn's 30 s
# timeout, and the worker grows by no more than the finished file (about 6 MB). When the filter matches more, the
# export holds the oldest 100,000 and says so in its notes; the auditor narrows the dates and exports the rest.
EXPORT_LIMIT = 100_000


def conditions(filters: dict) -> list:
    """The conditions of ``filters`` on the audit log (dates are days in China time, inclusive). The indices that
    serve them in the page's order are listed at ``AuditLog.__table_args__``."""
    found = []
    # The first and the last day a date can be bound nothing (and would overflow when turned into UTC).
    if filters.get("date_from") and filters["date_from"] > date.min:
        found.append(AuditLog.at >= datetime.combine(filters["date_from"], time.min, tzinfo=CHINA))
    if filters.get("date_to") and filters["date_to"] < date.max:
        found.append(AuditLog.at < datetime.combine(filters["date_to"] + timedelta(days=1), time.min, tzinfo=CHINA))
    if filters.get("actor"):
        found.append(AuditLog.actor_name == filters["actor"].lower())
    if filters.get("action"):
        found.append(AuditLog.action == AuditAction(filters["action"]))
    if filters.get("object_type"):
        found.append(AuditLog.object_type == filters["object_type"])
    if filters.get("object_id"):
        found.append(AuditLog.object_id == filters["object_id"])
    return found


def filtered_rows(filters: dict) -> sa.Select:
    """The audit rows matching ``filters`` as plain columns (the search page lists 50 of them; entities would cost
    more to build than the query to run)."""
    return sa.select(*AuditLog.__table__.columns).where(*conditions(filters))


def count_at_most(filters: dict, limit: int) -> int:
    """How many rows match ``filters``, counting no further than ``limit`` (an index walk of bounded length)."""
    matching = sa.select(sa.literal(1)).select_from(AuditLog).where(*conditions(filters)).limit(limit)
    return db.session.scalar(sa.select(sa.func.count()).select_from(matching.subquery()))


def sheet(filters: dict, limit: int = EXPORT_LIMIT) -> Sheet:
    """The matching rows, oldest first, streamed from one query of the columns shown (no ORM objects)."""
    columns = [
        Column("at", _("时间"), "datetime"),
        Column("actor", _("操作人")),
        Column("action", _("操作")),
        Column("object_type", _("对象类型")),
        Column("object_id", _("对象编号")),
        Column("summary", _("摘要"), width=30),
        Column("before", _("修改前"), width=50),
        Column("after", _("修改后"), width=50),
        Column("ip", _("客户端地址")),
    ]
    notes = []
    if count_at_most(filters, limit + 1) > limit:
        notes.append(_("符合条件的记录超过 %(n)s 条，本表只含最早的 %(n)s 条；请缩小日期范围，分次导出其余记录。",
                       n=f"{limit:,}"))
    titles = {action: str(action.title) for action in AuditAction}  # translated once, not once per row

    def rows() -> Iterator[dict]:
        query = (
            sa.select(AuditLog.at, AuditLog.actor_name, AuditLog.action, AuditLog.object_type, AuditLog.object_id,
                      AuditLog.summary, AuditLog.before, AuditLog.after, AuditLog.ip)
            .where(*conditions(filters))
            .order_by(AuditLog.at, AuditLog.id)
            .limit(limit)
        )
        for entry in db.session.execute(query.execution_options(yield_per=1000)):
            yield {
                "at": entry.at,
                "actor": entry.actor_name,
                "action": titles[entry.action],
                "object_type": entry.object_type,
                "object_id": entry.object_id,
                "summary": entry.summary,
                "before": json_text(entry.before),
                "after": json_text(entry.after),
                "ip": entry.ip,
            }

    return Sheet(name=_("审计日志"), columns=columns, rows=rows(), title=_("审计日志"), notes=notes)
