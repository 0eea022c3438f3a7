"""Writes the audit log.

Domain changes are captured by a session hook: every flush of a model marked ``__audited__`` adds its
rows with a Core insert on the same connection, so the log commits or rolls back with the change itself.
Security events (logins, denials) are written with :func:`record`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.audit.models import AuditAction, AuditLog
from app.database import utcnow, write_after_reading
from app.extensions import db

MASK = "******"


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a column value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _client_ip() -> str:
    if not has_request_context():
        return ""
    return (request.remote_addr or "")[:64]


def _actor() -> tuple[int | None, str]:
    if has_request_context():
        user = current_user._get_current_object() if current_user else None
        if user is not None and getattr(user, "is_authenticated", False):
            return user.id, user.username
        return None, ""
    return None, "cli"


def _columns(obj) -> list:
    return [attr for attr in inspect(obj).mapper.column_attrs]


def _excluded(obj) -> set[str]:
    return set(getattr(obj, "__audit_exclude__", ()))


def _masked(obj) -> set[str]:
    return set(getattr(obj, "__audit_mask__", ()))


def _snapshot(obj) -> dict:
    excluded, masked = _excluded(obj), _masked(obj)
    state = inspect(obj)
    out = {}
    for attr in _columns(obj):
        if attr.key in excluded:
            continue
        value = state.dict.get(attr.key)
        out[attr.key] = MASK if attr.key in masked and value is not None else _plain(value)
    return out


def _changes(obj) -> tuple[dict, dict]:
    excluded, masked = _excluded(obj), _masked(obj)
    state = inspect(obj)
    before, after = {}, {}
    for attr in _columns(obj):
        if attr.key in excluded:
            continue
        history = state.attrs[attr.key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old == new:
            continue
        if attr.key in masked:
            before[attr.key], after[attr.key] = MASK, MASK + " (changed)"
        else:
            before[attr.key], after[attr.key] = _plain(old), _plain(new)
    return before, after


def _object_id(obj) -> str:
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return ",".join("" if part is None else str(part) for part in key)


def _row(action: AuditAction, obj, before, after) -> dict:
    actor_id, actor_name = _actor()
    return {
        "at": utcnow(),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "action": action,
        "object_type": type(obj).__name__,
        "object_id": _object_id(obj),
        "summary": str(obj)[:300],
        "before": before,
        "after": after,
        "ip": _client_ip(),
    }


@event.listens_for(Session, "after_flush")
def _audit_flush(session: Session, _context) -> None:
    rows = []
    for obj in session.new:
        if getattr(obj, "__audited__", False):
            rows.append(_row(AuditAction.INSERT, obj, None, _snapshot(obj)))
    for obj in session.dirty:
        if getattr(obj, "__audited__", False) and session.is_modified(obj, include_collections=False):
            before, after = _changes(obj)
            if before or after:
                rows.append(_row(AuditAction.UPDATE, obj, before, after))
    for obj in session.deleted:
        if getattr(obj, "__audited__", False):
            rows.append(_row(AuditAction.DELETE, obj, _snapshot(obj), None))
    if rows:
        session.connection().execute(sa.insert(AuditLog), rows)


@event.listens_for(Session, "before_flush")
def _append_only(session: Session, _context, _instances) -> None:
    """The audit log, and money ledgers marked ``__append_only__``, are never changed or deleted."""
    for obj in session.deleted:
        if isinstance(obj, AuditLog) or getattr(obj, "__append_only__", False):
            raise PermissionError(f"{type(obj).__name__} is append-only")
    for obj in session.dirty:
        if (isinstance(obj, AuditLog) or getattr(obj, "__append_only__", False)) and session.is_modified(obj):
            raise PermissionError(f"{type(obj).__name__} is append-only")


def record_update(obj, before: dict, after: dict) -> None:
    """The row the flush hook writes for an update of ``obj``, for a change made with an UPDATE statement (which
    the hook cannot see); ``before`` and ``after`` hold the changed columns, masked as the hook masks them."""
    masked, excluded = _masked(obj), _excluded(obj)
    before = {key: MASK if key in masked else _plain(value) for key, value in before.items() if key not in excluded}
    after = {key: MASK + " (changed)" if key in masked else _plain(value) for key, value in after.items()
             if key not in excluded}
    db.session.add(AuditLog(**_row(AuditAction.UPDATE, obj, before, after)))


def record(
    action: AuditAction,
    *,
    object_type: str = "",
    object_id: str | int = "",
    summary: str = "",
    before: dict | None = None,
    after: dict | None = None,
    actor=None,
) -> None:
    """Add one security or export event to the current transaction (no commit)."""
    if actor is not None:
        actor_id, actor_name = actor.id, actor.username
    else:
        actor_id, actor_name = _actor()
    db.session.add(
        AuditLog(
            at=utcnow(),
            actor_id=actor_id,
            actor_name=actor_name,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            summary=summary[:300],
            before=before,
            after=after,
            ip=_client_ip(),
        )
    )


def record_after_reading(action: AuditAction, **fields) -> None:
    """:func:`record` for a request that otherwise only reads (an export, a refusal): committed at once in a
    transaction of its own that takes SQLite's write lock up front (:func:`app.database.write_after_reading`)."""
    with write_after_reading(db.session):
        record(action, **fields)


def purge_older_than(days: int) -> int:
    """Delete rows older than ``days`` (at least the retention floor); for the CLI only."""
    from flask import current_app

    floor = current_app.config["AUDIT_RETENTION_DAYS"]
    if days < floor:
        raise ValueError(f"audit rows are kept at least {floor} days")
    cutoff = utcnow() - dt.timedelta(days=days)
    result = db.session.execute(sa.delete(AuditLog).where(AuditLog.at < cutoff))
    return result.rowcount or 0
