from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.database import UTCDateTime, utcnow
from app.enums import TitledEnum, enum_column
from app.extensions import db
from app.places.models import Community, Township


class Role(TitledEnum):
    BUREAU = "bureau"
    FINANCE = "finance"
    TOWNSHIP = "township"
    COMMUNITY = "community"
    EVALUATOR = "evaluator"
    ADMIN = "admin"
    AUDITOR = "auditor"

    @classmethod
    def titles(cls):
        return {
            cls.BUREAU: _l("民政局"),
            cls.FINANCE: _l("财政"),
            cls.TOWNSHIP: _l("镇(街道)"),
            cls.COMMUNITY: _l("村(社区)"),
            cls.EVALUATOR: _l("评审人"),
            cls.ADMIN: _l("系统管理员"),
            cls.AUDITOR: _l("审计管理员"),
        }


class EvaluatorGroup(TitledEnum):
    BUREAU = "bureau"
    FINANCE = "finance"
    EXPERT = "expert"

    @classmethod
    def titles(cls):
        return {cls.BUREAU: _l("民政部门"), cls.FINANCE: _l("财政部门"), cls.EXPERT: _l("专家")}


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __audited__ = True
    # Secrets never enter the log; the login timestamp would only add noise to it.
    __audit_exclude__ = ("last_login_at",)
    __audit_mask__ = ("password_hash", "calendar_token")

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(40), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(60), default="")
    role: Mapped[Role] = mapped_column(enum_column(Role))
    township_id: Mapped[int | None] = mapped_column(sa.ForeignKey("townships.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(sa.ForeignKey("communities.id"), index=True)
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str] = mapped_column(sa.String(16), default="zh_Hans_CN")
    # Evaluators: the group whose weight their scores carry, and a township they are tied to (conflict of interest).
    evaluator_group: Mapped[EvaluatorGroup | None] = mapped_column(enum_column(EvaluatorGroup))
    tied_township_id: Mapped[int | None] = mapped_column(sa.ForeignKey("townships.id"))
    # The secret in the user's calendar feed link; a new one invalidates every copy of the old link.
    calendar_token: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    email: Mapped[str] = mapped_column(sa.String(120), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    township: Mapped[Township | None] = relationship(foreign_keys=[township_id])
    community: Mapped[Community | None] = relationship()
    tied_township: Mapped[Township | None] = relationship(foreign_keys=[tied_township_id])

    __table_args__ = (
        sa.CheckConstraint("role <> 'township' OR township_id IS NOT NULL", name="township_role_has_township"),
        sa.CheckConstraint("role <> 'community' OR community_id IS NOT NULL", name="community_role_has_community"),
        sa.CheckConstraint("failed_logins >= 0", name="failed_logins_not_negative"),
    )

    # Set by the user loader: the server-side session this request belongs to, and the number of unread
    # notifications read with it (None once this request adds or reads notifications: app.tracking.notifications).
    current_session = None  # UserSession | None
    unread_notifications = None  # int | None

    def __str__(self) -> str:
        return self.username

    @property
    def is_active(self) -> bool:  # Flask-Login asks this
        return self.active

    def get_id(self) -> str | None:
        # The cookie carries the session key, not the user id, so that ending the session ends the cookie.
        return self.current_session.key if self.current_session is not None else None

    def set_password(self, password: str) -> None:
        from flask import current_app

        # scrypt by default: deliberately slow. Tests choose a cheaper method through the same setting.
        self.password_hash = generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])
        self.password_changed_at = utcnow()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def is_locked(self, now: datetime | None = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or utcnow())

    @property
    def label(self) -> str:
        return self.display_name or self.username


class UserSession(db.Model):
    """A login. The browser holds a random key; the database keeps only its sha256."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")

    user: Mapped[User] = relationship()

    # The plain key exists only in memory, for the response that sets the cookie.
    key = None  # str | None

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()
