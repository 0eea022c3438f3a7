"""How a request uses its database connection: checked before use only after it sat idle, and its transaction
ended with COMMIT when it only read (app.database)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.places.models import Township


@pytest.fixture
def own_app(app, tmp_path):
    """A second app on the suite's database with an engine of its own (the suite's shares one connection in one
    transaction), so that its connections come from a real pool and its transactions really end."""

    def build(**config):
        second = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                             "SECRET_KEY": "test", "UPLOAD_FOLDER": str(tmp_path / "uploads"), **config})
        built.append(second)
        return second

    built = []
    yield build
    for second in built:
        with second.app_context():
            db.engine.dispose()


def _endings(application) -> list[str]:
    endings = []
    with application.app_context():
        sa.event.listen(db.engine, "commit", lambda _connection: endings.append("commit"))
        sa.event.listen(db.engine, "rollback", lambda _connection: endings.append("rollback"))
    return endings


def test_a_request_that_only_read_commits_and_one_that_wrote_rolls_back(own_app):
    application = own_app()
    endings = _endings(application)
    with application.app_context():
        name = db.session.scalar(sa.select(Township.name).order_by(Township.id).limit(1))
    assert endings == ["commit"]

    endings.clear()
    with application.app_context():  # a write flushed but never committed is not kept
        db.session.execute(sa.update(Township).where(Township.name == name).values(name=name + "（改）"))
    assert endings == ["rollback"]

    endings.clear()
    with application.app_context():  # nor is a change still pending in the session
        township = db.session.scalar(sa.select(Township).where(Township.name == name))
        township.name = name + "（改）"
    assert endings == ["rollback"]

    endings.clear()
    with pytest.raises(RuntimeError), application.app_context():
        db.session.scalar(sa.select(Township.id).limit(1))
        raise RuntimeError("the view failed")
    assert endings == ["rollback"]

    with application.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Township.name == name)) == 1


def test_what_a_reading_context_loaded_stays_readable_after_it(own_app):
    """The COMMIT of a reading request leaves loaded objects as the ROLLBACK before it did: detached, not expired
    (tests and CLI commands read them after the context ends)."""
    application = own_app()
    with application.app_context():
        township = db.session.scalar(sa.select(Township).order_by(Township.id).limit(1))
        expected = db.session.scalar(sa.select(Township.name).where(Township.id == township.id))
    assert township.name == expected and township.id is not None


def test_a_page_seen_again_runs_on_prepared_statements(own_app, app):
    """psycopg prepares a statement run five times on one connection, and forgets them all at a ROLLBACK: a page
    seen again after reading-only requests runs its statements prepared."""
    application = own_app()
    for _ in range(7):
        with application.app_context():
            db.session.scalars(sa.select(Township).order_by(Township.id)).all()
    with application.app_context():
        if db.engine.dialect.name == "postgresql":
            prepared = db.session.scalar(sa.text("SELECT count(*) FROM pg_prepared_statements"))
            assert prepared >= 1
        else:  # SQLite caches statements in the driver whatever the transaction's end; nothing to see here
            assert db.engine.dialect.name == "sqlite"


def _pings(application, monkeypatch) -> list[int]:
    pings = []
    with application.app_context():
        dialect = db.engine.dialect
        real_ping = dialect.do_ping
        monkeypatch.setattr(dialect, "do_ping", lambda dbapi_connection: pings.append(1) or real_ping(dbapi_connection))
    return pings


def test_a_connection_is_checked_only_after_it_sat_idle(own_app, monkeypatch):
    busy = own_app(DATABASE_PING_AFTER_IDLE_SECONDS=3600)
    pings = _pings(busy, monkeypatch)
    for _ in range(3):
        with busy.app_context():
            db.session.scalar(sa.select(Township.id).limit(1))
    assert pings == []

    idle = own_app(DATABASE_PING_AFTER_IDLE_SECONDS=0)
    pings = _pings(idle, monkeypatch)
    for _ in range(3):
        with idle.app_context():
            db.session.scalar(sa.select(Township.id).limit(1))
    assert len(pings) == 2  # not the new connection's first use


def test_a_connection_the_server_dropped_while_idle_is_replaced(own_app, app):
    application = own_app(DATABASE_PING_AFTER_IDLE_SECONDS=0)
    with application.app_context():
        if db.engine.dialect.name != "postgresql":
            # SQLite has no server to lose; the file is opened again on the next connection.
            assert db.session.scalar(sa.select(sa.literal(1))) == 1
            return
        backend = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
    killer = sa.create_engine(application.config["SQLALCHEMY_DATABASE_URI"], poolclass=sa.pool.NullPool)
    with killer.begin() as other:  # the server ends the pooled connection while it is idle
        assert other.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}) is True
    with application.app_context():
        assert db.session.scalar(sa.text("SELECT pg_backend_pid()")) != backend


def test_nothing_is_remembered_while_another_transaction_that_wrote_is_open(own_app):
    """changes_mark (the audit log's largest id) fingerprints what is committed only when ids commit in their order:
    on PostgreSQL a transaction holding a smaller id can still commit after a larger one is seen, so while another
    transaction that wrote is open the mark is UNSETTLED and Remembered keeps nothing (SQLite has one writer at a
    time)."""
    from app.audit.models import AuditAction, AuditLog
    from app.database import utcnow
    from app.statements import REMEMBERED, UNSETTLED, Remembered, changes_mark

    second = own_app()
    memo = Remembered()
    try:
        with second.app_context():
            settled = changes_mark()
            assert settled is not UNSETTLED
            assert memo.get(("page", settled), lambda: "first") == "first"
            assert memo.get(("page", settled), lambda: "again") == "first"  # remembered
            db.session.commit()
            if db.engine.dialect.name != "postgresql":
                return
            elsewhere = sa.create_engine(db.engine.url.set(database="postgres"), poolclass=sa.pool.NullPool)
            with elsewhere.connect() as other:  # a writing transaction in another database of the cluster
                assert other.scalar(sa.text("SELECT txid_current()")) is not None  # takes a transaction id
                assert changes_mark() == settled
                db.session.commit()  # pg_stat_activity is read once per transaction
                other.rollback()
            with db.engine.connect() as other:  # another worker's change, written and not yet committed
                other.execute(sa.insert(AuditLog).values(at=utcnow(), actor_name="other", action=AuditAction.UPDATE,
                                                         object_type="Site", object_id="1", summary="open", ip=""))
                assert changes_mark() is UNSETTLED
                assert memo.get(("page", UNSETTLED), lambda: "a") == "a"
                assert memo.get(("page", UNSETTLED), lambda: "b") == "b"  # computed again: nothing was kept
                db.session.commit()
                other.rollback()
            assert changes_mark() == settled
            assert memo.get(("page", settled), lambda: "again") == "first"
    finally:
        REMEMBERED.remove(memo)


def test_a_savepoint_does_not_settle_what_the_session_wrote(app):
    """Remembered skips a session with writes of its own until its transaction ends: a savepoint released or rolled
    back inside it (a voucher checked, a row tried) leaves the earlier writes uncommitted, and so must not count."""
    from app.audit.models import AuditAction, AuditLog
    from app.database import utcnow
    from app.statements import REMEMBERED, Remembered

    memo = Remembered()
    try:
        with app.app_context():
            db.session.add(AuditLog(at=utcnow(), actor_name="t", action=AuditAction.UPDATE, object_type="Site",
                                    object_id="1", summary="pending", ip=""))
            db.session.flush()
            for end in ("commit", "rollback"):
                savepoint = db.session.begin_nested()
                db.session.execute(sa.text("SELECT 1"))
                getattr(savepoint, end)()
                assert memo.get(("page", end), lambda: "first") == "first"
                assert memo.get(("page", end), lambda: "again") == "again", end  # nothing kept: still unsettled
            db.session.rollback()
            assert memo.get(("page",), lambda: "first") == "first"
            assert memo.get(("page",), lambda: "again") == "first"
    finally:
        REMEMBERED.remove(memo)
