"""The audit log export: the rows the auditor filtered, oldest first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _

from app.audit.models import AuditAction, AuditLog
from app.extensions import db
from reports.xlsx import Column, Sheet

CHINA = ZoneInfo("Asia/Shanghai")


def filtered_query(filters: dict) -> sa.Select:
    """The audit rows matching ``filters`` (dates are days in China time, inclusive)."""
    query = sa.select(AuditLog)
    # The first and the last day a date can be bound nothing (and would overflow when turned into UTC).
    if filters.get("date_from") and filters["date_from"] > date.min:
        start = datetime.combine(filters["date_from"], time.min, tzinfo=CHINA)
        query = query.where(AuditLog.at >= start)
    if filters.get("date_to") and filters["date_to"] < date.max:
        end = datetime.combine(filters["date_to"] + timedelta(days=1), time.min, tzinfo=CHINA)
        query = query.where(AuditLog.at < end)
    if filters.get("actor"):
        query = query.where(AuditLog.actor_name == filters["actor"].lower())
    if filters.get("action"):
        query = query.where(AuditLog.action == AuditAction(filters["action"]))
    if filters.get("object_type"):
        query = query.where(AuditLog.object_type == filters["object_type"])
    if filters.get("object_id"):
        query = query.where(AuditLog.object_id == filters["object_id"])
    return query


def _json(value) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def sheet(filters: dict) -> Sheet:
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

    def rows() -> Iterator[dict]:
        query = filtered_query(filters).order_by(AuditLog.at, AuditLog.id)
        for entry in db.session.scalars(query.execution_options(yield_per=1000)):
            yield {
                "at": entry.at,
                "actor": entry.actor_name,
                "action": entry.action.title,
                "object_type": entry.object_type,
                "object_id": entry.object_id,
                "summary": entry.summary,
                "before": _json(entry.before),
                "after": _json(entry.after),
                "ip": entry.ip,
            }

    return Sheet(name=_("审计日志"), columns=columns, rows=rows(), title=_("审计日志"))
