"""`flask backup`, `flask restore` and `flask check`, and what a killed worker leaves behind.

Every test builds its own app on a fresh database of the kind of the session's `app` (SQLite file or a new
PostgreSQL database on the session's server), with its own instance and uploads folders: backups and restores
replace whole databases, which the shared, rolled-back test database must never see.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from werkzeug.datastructures import FileStorage

from app.audit.models import AuditAction, AuditLog
from app.extensions import db
from app.files.models import StoredFile
from app.files.storage import save_upload
from app.fixtures import load_catalogue, load_demo, load_places
from app.places.models import Community, CommunityKind, Township
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]
LOAD = "backup-load"  # object_type of the writer thread's audit rows
KILLED = "kill-test"  # object_type of the killed worker's audit rows


def kind_of(application) -> str:
    return "postgresql" if application.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else "sqlite"


@pytest.fixture
def new_app(app, request, tmp_path):
    """new_app(name, migrate=True) -> an app on a fresh database of the same kind as the session's `app`."""
    kind = kind_of(app)
    made = []

    def factory(name: str, migrate: bool = True):
        folder = tmp_path / name
        folder.mkdir()
        if kind == "postgresql":
            server = request.getfixturevalue("postgres_server")
            url = server.create_database(f"backup_{name}_{uuid.uuid4().hex[:8]}")
        else:
            url = f"sqlite:///{folder / 'app.db'}"
        application = make_app(url, folder)
        made.append(application)
        if migrate:
            with application.app_context():
                upgrade()
                load_places()
                load_catalogue()
                db.session.commit()
        return application

    yield factory
    for application in made:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def add_uploads(application, count: int, tag: str = "") -> list[str]:
    """Store ``count`` small PDFs through the real upload path; returns their stored names."""
    with application.app_context():
        names = []
        for number in range(count):
            data = b"%PDF-1.4\n% " + f"{tag} {number} {uuid.uuid4().hex}".encode() * (number + 1) + b"\n%%EOF\n"
            stored = save_upload(FileStorage(stream=io.BytesIO(data), filename=f"协商记录{number}.pdf"))
            names.append(stored.stored_name)
        db.session.commit()
        return names


def invoke(application, *args: str, **kwargs):
    return application.test_cli_runner().invoke(args=list(args), **kwargs)


def backup(application, destination: Path) -> Path:
    result = invoke(application, "backup", "--to", str(destination))
    assert result.exit_code == 0, result.output
    folder = Path(result.output.strip().splitlines()[-1])
    assert folder.parent == destination.resolve() and folder.name.startswith("backup-")
    return folder


def table_state(application, leave_out_load: bool = True) -> dict[str, tuple[int, str]]:
    """Per table: the row count and a sha256 of every row in primary-key order (the writer's rows left out)."""
    with application.app_context():
        names = set(sa.inspect(db.engine).get_table_names())
        state = {}
        for table in db.metadata.sorted_tables:
            assert table.name in names
            query = sa.select(table).order_by(*(table.primary_key.columns or table.columns))
            if table.name == AuditLog.__tablename__ and leave_out_load:
                query = query.where(table.c.object_type != LOAD)
            rows = [tuple(row) for row in db.session.execute(query)]
            state[table.name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
        for name in names - {table.name for table in db.metadata.sorted_tables}:  # alembic_version
            state[name] = (db.session.scalar(sa.select(sa.func.count()).select_from(sa.table(name))), "")
        db.session.rollback()
        return state


def load_rows(application) -> list[tuple]:
    with application.app_context():
        rows = db.session.execute(
            sa.select(AuditLog.object_id, AuditLog.summary, AuditLog.at).where(AuditLog.object_type == LOAD)
        ).all()
        db.session.rollback()
    return sorted((int(object_id), summary, at) for object_id, summary, at in rows)


def folder_hashes(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


class Writer(threading.Thread):
    """Writes audit rows in transactions of 10, numbered from 0, one flush per row, until stopped."""

    def __init__(self, application):
        super().__init__(daemon=True)
        self.application = application
        self.halt = threading.Event()
        self.batches = 0
        self.error: BaseException | None = None

    def run(self):
        try:
            with self.application.app_context():
                number = 0
                while not self.halt.is_set():
                    for _ in range(10):
                        db.session.add(AuditLog(action=AuditAction.INSERT, object_type=LOAD, object_id=str(number),
                                                summary=f"row {number}"))
                        db.session.flush()
                        number += 1
                    db.session.commit()
                    self.batches += 1
                db.session.remove()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error

    def wait_for(self, batches: int) -> None:
        deadline = time.monotonic() + 20
        while self.batches < batches and self.error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.error is None, self.error
        assert self.batches >= batches


# --- round trip under write load ---------------------------------------------------------------------------


def test_backup_under_write_load_restores_one_consistent_state(new_app, tmp_path):
    source = new_app("source")
    with source.app_context():
        load_demo()
        db.session.commit()
    add_uploads(source, 4)

    writer = Writer(source)
    writer.start()
    try:
        writer.wait_for(3)
        before = writer.batches
        folder = backup(source, tmp_path / "backups")
        after = writer.batches
        writer.wait_for(after + 1)  # still writing after the backup: it never blocked the writer for good
    finally:
        writer.halt.set()
        writer.join(timeout=30)
    assert writer.error is None, writer.error

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["database"]["kind"] == kind_of(source)
    assert manifest["created_at"].endswith("Z")
    with source.app_context():
        assert manifest["alembic_revision"] == db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    database_file = manifest["database"]["file"]
    uploads = Path(source.config["UPLOAD_FOLDER"])
    assert set(manifest["files"]) == {database_file} | {f"uploads/{name}" for name in folder_hashes(uploads)}
    for name, entry in manifest["files"].items():
        assert entry == {"sha256": hashlib.sha256((folder / name).read_bytes()).hexdigest(),
                         "size": (folder / name).stat().st_size}

    target = new_app("target", migrate=False)
    result = invoke(target, "restore", str(folder), "--yes")
    assert result.exit_code == 0, result.output
    assert "restore complete" in result.output

    # The writer's rows in the backup: whole transactions only, numbered without a gap, between what was
    # committed when the backup started and when it returned, and each row as the source holds it.
    restored_load = load_rows(target)
    count = len(restored_load)
    assert count % 10 == 0
    assert before * 10 <= count <= after * 10
    assert [row[0] for row in restored_load] == list(range(count))
    assert restored_load == load_rows(source)[:count]

    # Everything else is exactly the source: the same tables, row counts and contents.
    source_state, target_state = table_state(source), table_state(target)
    assert target_state == source_state
    assert source_state["communities"][0] > 100 and source_state["stored_files"][0] >= 4
    assert folder_hashes(Path(target.config["UPLOAD_FOLDER"])) == folder_hashes(uploads)

    checked = invoke(target, "check")
    assert checked.exit_code == 0, checked.output
    assert "check: OK" in checked.output


# --- a damaged backup is refused; a good one replaces a database in use ------------------------------------


def test_restore_refuses_a_tampered_backup_and_replaces_everything_from_a_good_one(new_app, tmp_path):
    source = new_app("source")
    first = add_uploads(source, 2)
    folder = backup(source, tmp_path / "backups")

    # Changes after the backup: a community and an upload that a restore must take away.
    with source.app_context():
        township = db.session.scalar(sa.select(Township).order_by(Township.id).limit(1))
        db.session.add(Community(township=township, name="备份后新增村", kind=CommunityKind.VILLAGE))
        db.session.commit()
    later = add_uploads(source, 1, tag="later")
    state_after_changes = table_state(source)
    uploads = Path(source.config["UPLOAD_FOLDER"])

    tampered = folder / "uploads" / first[1]
    original = tampered.read_bytes()
    tampered.write_bytes(original[:-2] + b"X\n")  # same size, other content
    result = invoke(source, "restore", str(folder), "--yes")
    assert result.exit_code != 0
    assert f"sha256 differs: uploads/{first[1]}" in result.output
    assert "nothing was restored" in result.output

    tampered.write_bytes(original + b"more")
    (folder / "uploads" / "extra.pdf").write_bytes(b"%PDF-1.4\n")
    database_file = folder / json.loads((folder / "manifest.json").read_text())["database"]["file"]
    database_bytes = database_file.read_bytes()
    database_file.unlink()
    result = invoke(source, "restore", str(folder), "--yes")
    assert result.exit_code != 0
    assert f"size differs: uploads/{first[1]}" in result.output
    assert "not in the manifest: uploads/extra.pdf" in result.output
    assert f"missing: {database_file.name}" in result.output

    assert table_state(source) == state_after_changes  # nothing was touched
    assert (uploads / later[0]).is_file()

    # Repaired: answering no changes nothing, answering yes restores over the database in use.
    tampered.write_bytes(original)
    (folder / "uploads" / "extra.pdf").unlink()
    database_file.write_bytes(database_bytes)
    result = invoke(source, "restore", str(folder), input="n\n")
    assert result.exit_code != 0 and "Aborted" in result.output
    assert table_state(source) == state_after_changes
    result = invoke(source, "restore", str(folder), input="y\n")
    assert result.exit_code == 0, result.output
    with source.app_context():
        assert db.session.scalar(sa.select(Community).where(Community.name == "备份后新增村")) is None
        assert db.session.scalar(sa.select(sa.func.count(StoredFile.id))) == 2
    assert not (uploads / later[0]).exists()
    assert set(folder_hashes(uploads)) == set(first)
    checked = invoke(source, "check")
    assert checked.exit_code == 0, checked.output


# --- check -------------------------------------------------------------------------------------------------


def test_check_reports_altered_missing_and_orphan_files_and_a_damaged_database(new_app):
    application = new_app("checked")
    names = add_uploads(application, 3)
    uploads = Path(application.config["UPLOAD_FOLDER"])

    result = invoke(application, "check")
    assert result.exit_code == 0, result.output
    assert "check: OK" in result.output and "stored files: 3 rows, 3 files read" in result.output

    # An orphan alone is reported but is no failure: a rolled-back upload leaves one.
    orphan = f"ab/cd/{uuid.uuid4().hex}.pdf"
    (uploads / orphan).parent.mkdir(parents=True, exist_ok=True)
    (uploads / orphan).write_bytes(b"%PDF-1.4\n")
    result = invoke(application, "check")
    assert result.exit_code == 0, result.output
    assert "orphan files" in result.output and orphan in result.output

    altered = uploads / names[0]
    altered.write_bytes(altered.read_bytes()[:-1] + b"!")
    (uploads / names[1]).unlink()
    result = invoke(application, "check")
    assert result.exit_code == 1, result.output
    report = result.output
    assert "check: FAILED" in report
    assert "stored files altered" in report and names[0] in report
    assert "stored files missing on disk" in report and names[1] in report
    assert names[2] not in report
    assert orphan in report

    with application.app_context():
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = '0001_foundation'"))
        db.session.commit()
        db.engine.dispose()
    if kind_of(application) == "sqlite":  # PostgreSQL never lets a broken foreign key in
        raw = sqlite3.connect(application.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
        raw.execute("PRAGMA foreign_keys = OFF")
        raw.execute("INSERT INTO communities (township_id, name, kind, active, generated, sort_order, created_at) "
                    "VALUES (999999, '无主村', 'village', 1, 0, 0, '2024-01-01 00:00:00')")
        raw.commit()
        raw.close()
    result = invoke(application, "check")
    assert result.exit_code == 1
    assert "alembic: database at 0001_foundation" in result.output
    if kind_of(application) == "sqlite":
        assert "foreign_key_check: communities" in result.output


# --- a killed worker leaves all or nothing -----------------------------------------------------------------

WORKER = """
import sys, time
from app import create_app
from app.audit.models import AuditAction, AuditLog
from app.extensions import db

rows = int(sys.argv[1])
app = create_app()
with app.app_context():
    if db.engine.dialect.name == "sqlite":
        # A tiny page cache, so that uncommitted pages spill into the WAL file before the kill.
        db.session.connection().exec_driver_sql("PRAGMA cache_size = 10")
    for number in range(rows):
        db.session.add(AuditLog(action=AuditAction.INSERT, object_type="kill-test", object_id=str(number),
                                summary="x" * 300))
        db.session.flush()
        print(number, flush=True)
        time.sleep(0.005)
    db.session.commit()
    print("committed", flush=True)
"""


def test_a_worker_killed_mid_transaction_leaves_nothing(new_app, tmp_path):
    application = new_app("killed")
    url = application.config["SQLALCHEMY_DATABASE_URI"]
    wal = Path(url.removeprefix("sqlite:///") + "-wal") if kind_of(application) == "sqlite" else None
    with application.app_context():
        db.engine.dispose()  # let the WAL be checkpointed: what is in it afterwards is the worker's
    wal_before = wal.stat().st_size if wal and wal.exists() else 0

    env = dict(os.environ, INSTANCE_PATH=str(tmp_path / "killed" / "instance"), DATABASE_URL=url,
               UPLOAD_FOLDER=application.config["UPLOAD_FOLDER"], SECRET_KEY="kill-test-secret")
    worker = subprocess.Popen([sys.executable, "-c", WORKER, "400"], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = -1
        while seen < 250:
            line = worker.stdout.readline()
            assert line, worker.stderr.read()
            assert line.strip() != "committed"
            seen = int(line)
        wal_at_kill = wal.stat().st_size if wal and wal.exists() else 0
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        worker.stdout.close()
        worker.stderr.close()

    if wal is not None:
        assert wal_at_kill >= wal_before + 4096  # uncommitted pages had reached the WAL and must not come back
    with application.app_context():
        assert db.session.scalar(sa.select(sa.func.count(AuditLog.id)).where(AuditLog.object_type == KILLED)) == 0
        db.session.add(AuditLog(action=AuditAction.INSERT, object_type=KILLED, object_id="after", summary=""))
        db.session.commit()  # no lock was left behind
        assert db.session.scalar(sa.select(sa.func.count(AuditLog.id)).where(AuditLog.object_type == KILLED)) == 1
    result = invoke(application, "check")
    assert result.exit_code == 0, result.output
