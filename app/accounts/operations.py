"""Accounts: logging in and out, server-side sessions, creating and changing accounts.

Operations flush and never commit: the view that calls them commits once.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from app.accounts.models import EvaluatorGroup, Role, User, UserSession
from app.audit.models import AuditAction
from app.audit.operations import record
from app.database import utcnow
from app.extensions import db

# Updating last_seen_at on every request would be a write per page view; a minute is precise enough
# for a 30-minute idle timeout.
_LAST_SEEN_GRANULARITY = timedelta(seconds=60)


@dataclass
class LoginResult:
    user: User | None
    error: str | None = None


def find_user(username: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.username == username.strip().lower()))


def authenticate(username: str, password: str) -> LoginResult:
    """Check a login attempt, counting failures in the database so the lock holds across workers."""
    user = find_user(username)
    wrong = _("用户名或密码错误。")
    if user is None:
        record(AuditAction.LOGIN_FAILED, object_type="User", summary=f"unknown user {username[:60]!r}")
        return LoginResult(None, wrong)
    if user.is_locked():
        minutes = max(1, int((user.locked_until - utcnow()).total_seconds() // 60) + 1)
        record(AuditAction.LOGIN_FAILED, object_type="User", object_id=user.id, summary="account locked", actor=user)
        return LoginResult(None, _("账户因多次登录失败已锁定，请 %(n)d 分钟后再试。", n=minutes))
    if not user.check_password(password):
        _count_failure(user)
        record(AuditAction.LOGIN_FAILED, object_type="User", object_id=user.id, summary="wrong password", actor=user)
        if user.is_locked():
            return LoginResult(
                None,
                _("连续 %(n)d 次登录失败，账户已锁定 %(m)d 分钟。",
                  n=current_app.config["LOGIN_MAX_FAILURES"], m=current_app.config["LOGIN_LOCK_MINUTES"]),
            )
        return LoginResult(None, wrong)
    if not user.active:
        record(AuditAction.LOGIN_FAILED, object_type="User", object_id=user.id, summary="account disabled", actor=user)
        return LoginResult(None, _("该账户已停用，请联系系统管理员。"))
    if user.failed_logins:
        user.failed_logins = 0
    user.last_login_at = utcnow()
    return LoginResult(user)


def _count_failure(user: User) -> None:
    # One atomic UPDATE: two workers counting the same user's failures never lose one.
    count = db.session.execute(
        sa.update(User)
        .where(User.id == user.id)
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
    ).scalar_one()
    db.session.refresh(user, ["failed_logins"])
    if count >= current_app.config["LOGIN_MAX_FAILURES"]:
        user.locked_until = utcnow() + timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
        user.failed_logins = 0
    db.session.flush()


def start_session(user: User, ip: str = "") -> UserSession:
    key = secrets.token_urlsafe(32)
    session_row = UserSession(key_hash=UserSession.hash_key(key), user=user, ip=ip[:64])
    session_row.key = key
    db.session.add(session_row)
    user.current_session = session_row
    record(AuditAction.LOGIN, object_type="User", object_id=user.id, summary=user.username, actor=user)
    db.session.flush()
    return session_row


def session_expired(session_row: UserSession) -> bool:
    config = current_app.config
    now = utcnow()
    return (
        session_row.ended_at is not None
        or session_row.last_seen_at < now - timedelta(minutes=config["SESSION_IDLE_MINUTES"])
        or session_row.created_at < now - timedelta(hours=config["SESSION_ABSOLUTE_HOURS"])
    )


@functools.cache
def _session_statement() -> sa.Select:
    """One query on every page: the session, its user, and the user's unread notifications for the navigation bar.
    Built once (app.statements): building it and its cache key anew cost as much as running it on SQLite."""
    from app.tracking.models import Notification

    unread = (sa.select(sa.func.count(Notification.id))
              .where(Notification.user_id == UserSession.user_id, Notification.read_at.is_(None)).scalar_subquery())
    return (sa.select(UserSession, unread).where(UserSession.key_hash == sa.bindparam("key_hash"))
            .options(sa.orm.joinedload(UserSession.user)))


def load_session(key: str) -> tuple[User | None, bool]:
    """The user behind a session key, and whether the key named a session that has just timed out."""
    found = db.session.execute(_session_statement(), {"key_hash": UserSession.hash_key(key)}).first()
    session_row = found[0] if found is not None else None
    if session_row is None:
        return None, False
    if session_row.ended_at is not None:
        return None, False
    if session_expired(session_row) or not session_row.user.active:
        session_row.ended_at = utcnow()
        return None, True
    now = utcnow()
    if now - session_row.last_seen_at > _LAST_SEEN_GRANULARITY:
        session_row.last_seen_at = now
    session_row.key = key
    user = session_row.user
    user.current_session = session_row
    user.unread_notifications = found[1]
    return user, False


def end_session(user: User) -> None:
    if user.current_session is not None and user.current_session.ended_at is None:
        user.current_session.ended_at = utcnow()
        record(AuditAction.LOGOUT, object_type="User", object_id=user.id, summary=user.username, actor=user)
    db.session.flush()


def end_all_sessions(user: User, keep: UserSession | None = None) -> None:
    """Used when the password changes or the account is disabled: every copy of its cookies stops working."""
    query = sa.update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    db.session.execute(query.values(ended_at=utcnow()))


def change_password(user: User, new_password: str) -> None:
    user.set_password(new_password)
    user.must_change_password = False
    # The session that changed the password goes on; every other one ends.
    end_all_sessions(user, keep=user.current_session)
    db.session.flush()


def create_user(
    *,
    username: str,
    password: str,
    role: Role,
    display_name: str = "",
    township_id: int | None = None,
    community_id: int | None = None,
    must_change_password: bool = True,
    evaluator_group: EvaluatorGroup | None = None,
    tied_township_id: int | None = None,
    email: str = "",
) -> User:
    user = User(
        username=username.strip().lower(),
        display_name=display_name.strip(),
        role=role,
        township_id=township_id if role == Role.TOWNSHIP else None,
        community_id=community_id if role == Role.COMMUNITY else None,
        must_change_password=must_change_password,
        evaluator_group=evaluator_group if role == Role.EVALUATOR else None,
        tied_township_id=tied_township_id if role == Role.EVALUATOR else None,
        email=email.strip(),
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def update_user(user: User, *, display_name: str, role: Role, township_id, community_id, active: bool,
                evaluator_group: EvaluatorGroup | None = None, tied_township_id: int | None = None,
                email: str = "") -> None:
    user.email = email.strip()
    user.display_name = display_name.strip()
    user.role = role
    user.township_id = township_id if role == Role.TOWNSHIP else None
    user.community_id = community_id if role == Role.COMMUNITY else None
    user.evaluator_group = evaluator_group if role == Role.EVALUATOR else None
    user.tied_township_id = tied_township_id if role == Role.EVALUATOR else None
    if user.active and not active:
        end_all_sessions(user)
    user.active = active
    db.session.flush()


def reset_password(user: User, temporary_password: str) -> None:
    user.set_password(temporary_password)
    user.must_change_password = True
    user.locked_until = None
    user.failed_logins = 0
    end_all_sessions(user)
    db.session.flush()


def unlock(user: User) -> None:
    user.locked_until = None
    user.failed_logins = 0
    db.session.flush()
