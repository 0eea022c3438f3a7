from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from app.database import UTCDateTime, utcnow
from app.enums import TitledEnum, enum_column
from app.extensions import db


class AuditAction(TitledEnum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    DENIED = "denied"
    EXPORT = "export"

    @classmethod
    def titles(cls):
        return {
            cls.INSERT: _l("新增"),
            cls.UPDATE: _l("修改"),
            cls.DELETE: _l("删除"),
            cls.LOGIN: _l("登录"),
            cls.LOGIN_FAILED: _l("登录失败"),
            cls.LOGOUT: _l("退出"),
            cls.DENIED: _l("拒绝访问"),
            cls.EXPORT: _l("导出"),
        }


# What each object type is called on screen; unknown types show their class name.
OBJECT_TITLES = {
    "User": _l("账户"),
    "Township": _l("镇(街道)"),
    "Community": _l("村(社区)"),
    "AuditLog": _l("审计日志"),
    "route": _l("页面"),
    "ScorecardDecision": _l("名额调整决定"),
    "Application": _l("申报"),
    "Disbursement": _l("拨付"),
    "Allocation": _l("下达"),
    "SpendingLine": _l("支出"),
    "UploadFolder": _l("上传文件夹"),  # `flask files sweep`
}


class AuditLog(db.Model):
    """One row per change or security event. Written in the transaction of the change; never edited."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # The name is copied so that the row still says who it was if the account is renamed.
    actor_name: Mapped[str] = mapped_column(sa.String(80), default="")
    action: Mapped[AuditAction] = mapped_column(enum_column(AuditAction))
    object_type: Mapped[str] = mapped_column(sa.String(60), default="")
    object_id: Mapped[str] = mapped_column(sa.String(40), default="")
    summary: Mapped[str] = mapped_column(sa.String(300), default="")
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")

    # The auditor's search (forms/audit.py) at 10 million rows: each filter, alone or with a date range, and the
    # usual pairs (type + action, actor + action, type + object) have an index that ends in the page's order
    # (at, id), so that a page and its capped count read only matching index entries, newest first. Other
    # combinations walk one of these in order with the rest as a filter; an object number without its type is
    # found by the object index and sorted (it matches a few rows of each type).
    __table_args__ = (
        sa.Index("ix_audit_log_action_at", "action", "at", "id"),
        sa.Index("ix_audit_log_type_at", "object_type", "at", "id"),
        sa.Index("ix_audit_log_type_action_at", "object_type", "action", "at", "id"),
        sa.Index("ix_audit_log_actor_at", "actor_name", "at", "id"),
        sa.Index("ix_audit_log_actor_action_at", "actor_name", "action", "at", "id"),
        sa.Index("ix_audit_log_object_id_at", "object_id", "object_type", "at", "id"),
    )

    @property
    def object_title(self) -> str:
        return str(OBJECT_TITLES.get(self.object_type, self.object_type))
