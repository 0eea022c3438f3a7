"""Column types and helpers shared by every domain's models."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator

CHINA = ZoneInfo("Asia/Shanghai")


ID_MAX = 2**31 - 1  # ids are INTEGER columns: 32 bits on PostgreSQL


def id_number(value) -> int:
    """int() for an id typed into a URL, a query string or a form: a number that no row can have is refused with a
    ValueError, as "abc" is, before it reaches the database, whose driver (SQLite) or column type (PostgreSQL)
    fails on it."""
    number = int(value)
    if not -ID_MAX <= number <= ID_MAX:
        raise ValueError(f"not an id: {value!r:.40}")
    return number


def utcnow() -> datetime:
    return datetime.now(UTC)


def china_today() -> date:
    """Today's date in China: a deadline "by the 31st" holds until the end of that day there."""
    return utcnow().astimezone(CHINA).date()


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database.

    SQLite keeps no zone, so values are normalised to UTC on the way in and marked UTC on the way out.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use app.database.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout, foreign keys, and transactions that SQLAlchemy controls.

    pysqlite's own transaction handling ignores SAVEPOINT and BEGIN; taking it over (the SQLAlchemy
    documentation's recipe) makes nested transactions and rollbacks behave as on PostgreSQL.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # A request that may write takes SQLite's write lock up front: two workers then queue on the busy
        # timeout instead of one failing when it upgrades a read lock that another writer has overtaken.
        from flask import has_request_context, request

        writing = has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def commit_quietly(session) -> bool:
    """Commit a write that a reading page makes in passing (last-seen time, reminders, missing rows).

    On SQLite a GET's transaction starts as a reader; if another worker wrote meanwhile, upgrading it to a writer
    fails at once ("database is locked"). Such writes are not the page's purpose: roll back and carry on.
    """
    from sqlalchemy.exc import OperationalError

    try:
        session.commit()
    except OperationalError:
        session.rollback()
        return False
    return True
