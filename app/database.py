"""Column types and helpers shared by every domain's models."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
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
        # timeout instead of one failing when it upgrades a read lock that another writer has overtaken. A GET
        # stays a reader (many at once) but for the writes it makes through write_after_reading.
        from flask import has_request_context, request

        writing = connection.get_execution_options().get(_BEGIN_WRITING, False) or (
            has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS"))
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


_BEGIN_WRITING = "sfd_begin_writing"  # an execution option of our own, for configure_sqlite's _on_begin


@contextmanager
def write_after_reading(session):
    """Make the writes that a reading request cannot do without (the audit row of an export or a refusal) in a
    transaction of their own, committed at the end of the block.

    On SQLite a GET's transaction begins as a reader; upgrading it to a writer fails at once ("database is locked")
    when another worker has written meanwhile. So what the request read is committed first (it wrote nothing), and
    the block's transaction begins with the write lock, waiting on the busy timeout as a POST's does. The lock is
    held for the writes only, not for the reading before them (a province's export takes seconds). Incidental
    writes that a page can do without go through :func:`commit_quietly`.
    """
    session.commit()
    session.connection(execution_options={_BEGIN_WRITING: True})
    yield
    session.commit()


def ping_after_idle(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection before use only when it has sat unused for ``idle_seconds`` (instead of the pool's
    ``pre_ping`` before every request, one round trip in five of a plain page on PostgreSQL).

    A connection goes stale while it is idle: the server restarted, or a firewall dropped a quiet connection. A
    connection that served a request a moment ago is used at once; if the server went away in between, that one
    request fails and the pool replaces its connections, as SQLAlchemy does for any disconnect.
    """

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy):
        idle_since = record.info.get("idle_since")  # none for a new connection: nothing to check
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                # The pool drops every connection as old as this one and retries with a new one.
                raise sa.exc.InvalidatePoolError() from error
            raise


# Statements that read only. Anything else (INSERT, UPDATE, DDL, PRAGMA) marks the transaction as one that wrote.
_READING = ("SELECT", "BEGIN")


def commit_reading_requests(app, db) -> None:
    """End a request's transaction with COMMIT when it only read, and with ROLLBACK (Flask-SQLAlchemy's teardown)
    otherwise.

    For a transaction that read only, the two are the same to the database; but psycopg forgets its prepared
    statements at every ROLLBACK, so with a ROLLBACK after every request the statements a page runs on every view
    were parsed and planned by PostgreSQL anew each time (about half of its work for a plain page).
    """

    @event.listens_for(db.engine, "begin")
    def _reading(connection):
        connection.info["wrote"] = False

    @event.listens_for(db.engine, "before_cursor_execute")
    def _note_writes(connection, _cursor, statement, _parameters, _context, _executemany):
        if not statement.lstrip()[:6].upper().startswith(_READING):
            connection.info["wrote"] = True

    # Teardown functions run in the reverse order of registration: this one before Flask-SQLAlchemy's, which
    # closes the session (and so rolls back what is left).
    @app.teardown_appcontext
    def _commit_if_read_only(error):
        if error is not None or not db.session.registry.has():
            return
        session = db.session()
        if not session.in_transaction() or session.new or session.dirty or session.deleted:
            return
        if not session.connection().info.get("wrote", True):
            # The session is closed next; expiring its objects (as a commit does) would only break code that reads
            # an object it loaded after the context ended, which a ROLLBACK-and-close leaves readable.
            expiring, session.expire_on_commit = session.expire_on_commit, False
            try:
                session.commit()
            finally:
                session.expire_on_commit = expiring


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


def on_transaction_end(key: str, *, committed=None, discarded=None) -> None:
    """Acts on what a request kept in ``session.info[key]`` once its whole transaction ends: ``committed(value)`` when
    it committed, ``discarded(value)`` when it rolled back or was closed; the key is gone either way. A savepoint's
    end changes nothing: SQLAlchemy fires ``after_commit`` for a savepoint released too, and a savepoint rolled back
    alone leaves the transaction's work to the transaction."""

    @event.listens_for(Session, "after_commit")
    def _after_commit(session: Session) -> None:
        if session.in_nested_transaction():
            return
        value = session.info.pop(key, None)
        if value is not None and committed is not None:
            committed(value)

    @event.listens_for(Session, "after_transaction_end")
    def _after_end(session: Session, transaction) -> None:
        if transaction.parent is not None:
            return
        value = session.info.pop(key, None)
        if value is not None and discarded is not None:
            discarded(value)
