"""Statements of columns run without the ORM, and statements built once per process.

The pages a bureau opens most (reconciliation, monthly grid) run a few statements of plain columns. For those, the
ORM's work per statement (finding the bind, compile state, entity loading) and building the statement itself (a few
subqueries) cost several times what SQLite needs to run it. So they are built once, with the page's values as
bound parameters, and run on the session's connection.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable

import sqlalchemy as sa

from app.database import on_transaction_end
from app.extensions import db


def select_rows(statement: sa.Select, **params) -> list[sa.Row]:
    """The rows of a select of columns, run on the session's connection (the same transaction). Pending changes are
    flushed first, as the session would (a site added a moment ago counts at once)."""
    session = db.session
    if session.autoflush:
        session.flush()
    return session.connection().execute(statement, params).all()


# Statements that depend on the viewer's site filter, built once per process for each filter. A filter's own values
# (a township's or community's id) are part of the key, so a statement is only reused for the very same filter; no
# data is kept. Kept to a bound: a province has a few thousand communities, each a filter of its own.
_SCOPED: dict = {}
_SCOPED_MAX = 2048


def scoped_statement(build: Callable[[sa.ColumnElement], sa.Select], site_filter: sa.ColumnElement) -> sa.Select:
    """``build(site_filter)``, made on the first use of that filter."""
    filtered = filter_key(site_filter)  # its structure (SQLAlchemy's own cache key) and its values
    if filtered is None:
        return build(site_filter)  # a filter SQLAlchemy cannot cache either
    key = (build, *filtered)
    statement = _SCOPED.get(key)
    if statement is None:
        if len(_SCOPED) >= _SCOPED_MAX:
            _SCOPED.clear()
        statement = _SCOPED[key] = build(site_filter)
    return statement


# --- results remembered under a fingerprint ------------------------------------------------------------------


@sa.event.listens_for(sa.orm.Session, "after_flush")
def _mark_written(session, _flush_context) -> None:
    session.info["wrote"] = True


# Until the whole transaction ends: a savepoint's end leaves the outer writes uncommitted.
on_transaction_end("wrote")


class Remembered:
    """Results kept per process under a key that holds a fingerprint of their inputs, read from the database just
    before the inputs are, so that a change made by any worker changes the key (a result can be newer than its key,
    never older). A session that has flushed writes of its own neither reads nor fills it: its rows are not
    committed, and a rolled-back row's id can be used again."""

    def __init__(self, kept: int = 64):
        self._results: OrderedDict = OrderedDict()
        self._kept = kept
        REMEMBERED.append(self)

    def get(self, key: tuple, compute: Callable[[], object]):
        if db.session.info.get("wrote") or any(part is UNSETTLED for part in key):
            return compute()
        if key in self._results:
            self._results.move_to_end(key)
            return self._results[key]
        result = self._results[key] = compute()
        while len(self._results) > self._kept:
            self._results.popitem(last=False)
        return result

    def clear(self) -> None:
        self._results.clear()


REMEMBERED: list[Remembered] = []


class _Unsettled:
    """What :func:`changes_mark` gives while another transaction that has written is still open (PostgreSQL): ids
    are handed out in the order rows are written, not in the order their transactions commit, so a smaller id can
    still commit after a larger one is seen; nothing read meanwhile is remembered (:class:`Remembered` computes
    and keeps nothing under a key that holds it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSETTLED"


UNSETTLED = _Unsettled()

# What :func:`changes_mark` gives, and what the functions that key results on it take (None: read it themselves).
Mark = int | _Unsettled | None


@functools.cache
def _changes_mark_statement(postgresql: bool) -> sa.Select:
    audit = sa.table("audit_log", sa.column("id", sa.Integer))
    largest = sa.func.max(audit.c.id)
    if not postgresql:  # SQLite has one writer at a time: ids commit in their order
        return sa.select(largest, sa.true())
    # Another backend with a transaction id has written and not yet ended (a change's own rows are written, and
    # its transaction id assigned, before its audit row takes an id).
    # Only clients of this database count: not other databases' (the test set-up's, a second app's), nor autovacuum,
    # whose ANALYZE takes a transaction id to write its statistics and never writes the audit log.
    activity = sa.table("pg_stat_activity", sa.column("backend_xid"), sa.column("pid", sa.Integer),
                        sa.column("datname"), sa.column("backend_type"))
    writing = (sa.select(sa.literal(1)).select_from(activity)
               .where(activity.c.backend_xid.is_not(None), activity.c.pid != sa.func.pg_backend_pid(),
                      activity.c.datname == sa.func.current_database(),
                      activity.c.backend_type == "client backend"))
    return sa.select(largest, ~sa.exists(writing))


def changes_mark() -> Mark:
    """A fingerprint of ALL domain data: the audit log's largest id. Every change of a model marked ``__audited__``
    (insert, update, soft delete) writes its audit row in the same flush (app/audit/operations.py), and the app
    changes domain rows through the ORM only, so a committed change always comes with a larger id. Read from the
    primary key whatever the size of the log. Coarse: any change anywhere (a login too) makes the next reader
    compute again; it suits totals that are read far more often than anything changes, and whose own inputs (rows
    updated in place) have no cheaper fingerprint. (The audit purge deletes only rows older than the retention
    period, never the newest.) Pending changes are flushed first, as for any read, so a session's own changes
    count as writes for :class:`Remembered`. While another transaction that wrote is open on PostgreSQL, the mark
    is :data:`UNSETTLED` and nothing is remembered under it. PostgreSQL takes pg_stat_activity once per transaction,
    so read the mark once, at the start of a request's reads, and pass it on (as the views do)."""
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    largest, settled = select_rows(_changes_mark_statement(postgresql))[0]
    return largest if settled else UNSETTLED


def remembered_for_filter(memo: Remembered, parts: tuple, site_filter: sa.ColumnElement, mark: Mark,
                          compute: Callable[[], object]):
    """``compute()``, remembered in ``memo`` under ``parts``, the viewer's site filter (:func:`filter_key`) and
    ``mark`` (the :func:`changes_mark` the caller read; None: read it here). A filter that cannot be keyed is computed
    afresh each time. The result is shared between requests: read it only."""
    filtered = filter_key(site_filter)
    if filtered is None:
        return compute()
    return memo.get((*parts, filtered, changes_mark() if mark is None else mark), compute)


def filter_key(site_filter: sa.ColumnElement) -> tuple | None:
    """A site filter's structure and values, as :func:`scoped_statement` keys it (None: cannot be keyed)."""
    cache_key = site_filter._generate_cache_key()
    if cache_key is None:
        return None
    return cache_key.key, tuple(param.effective_value for param in cache_key.bindparams)
