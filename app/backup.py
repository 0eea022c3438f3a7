"""Backup, restore and check: the database and the uploads, taken and put back as one verified set.

A backup is a folder ``backup-<UTC time>`` holding

- ``database.sqlite3`` (SQLite, copied with the online backup API: one consistent snapshot while the app keeps
  writing) or ``database.dump`` (PostgreSQL, ``pg_dump --format=custom``: one snapshot transaction);
- ``uploads/``, a copy of every file under ``UPLOAD_FOLDER``;
- ``manifest.json``: the size and sha256 of every other file in the folder, the alembic revision, the time (UTC)
  and the database kind.

The database is copied first and the uploads after it. An upload's bytes are written before its row is flushed,
so every file a row of the snapshot points at is already on disk when the files are copied; files uploaded while
the backup runs come along as harmless orphans. The folder is built under a hidden name and renamed when
complete, so a folder called ``backup-…`` is always whole.

Restoring checks every hash first and refuses on any difference, then writes the uploads (each verified again as
it is copied), then the database, then removes the files the backup does not have. The app must be stopped while
it runs: other connections cannot be detected reliably on SQLite, and on PostgreSQL they would block the restore.

``check`` is for any time: database integrity, alembic at head, every ``StoredFile`` present with its size and
sha256, and the orphans on both sides.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.files.storage import IN_FLIGHT, TEMP_NAME

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
UPLOADS = "uploads"
DATABASE_FILES = {"sqlite": "database.sqlite3", "postgresql": "database.dump"}
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup, restore or check that cannot go on; the message says why, for the operator."""


# --- small helpers -----------------------------------------------------------------------------------------


def utc_stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def database_kind() -> str:
    name = db.engine.dialect.name
    if name not in DATABASE_FILES:
        raise BackupError(f"unsupported database: {name}")
    return name


def sqlite_path() -> Path:
    database = db.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError(f"not a SQLite database file: {db.engine.url.render_as_string()}")
    return Path(database).resolve()


def find_pg_tool(name: str) -> str:
    """pg_dump / pg_restore on PATH, else the newest under /usr/lib/postgresql/*/bin (Debian's layout)."""
    on_path = shutil.which(name)
    if on_path:
        return on_path

    def version(path: str) -> tuple[int, ...]:
        found = re.search(r"/postgresql/([\d.]+)/", path)
        return tuple(int(part) for part in found.group(1).split(".") if part) if found else ()

    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version, reverse=True)
    if not candidates:
        raise BackupError(f"{name} not found on PATH or under /usr/lib/postgresql/*/bin")
    return candidates[0]


def _conninfo_value(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def pg_arguments() -> tuple[list[str], dict[str, str]]:
    """Command-line arguments and environment for pg_dump/pg_restore from the configured URL.

    The password goes through PGPASSWORD, never the command line (where ``ps`` would show it).
    """
    url = db.engine.url
    args: list[str] = []
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    # The database name and any libpq options of the URL (sslmode=…, host=/socket/dir) as a conninfo string.
    conninfo = {"dbname": url.database or ""}
    for key, value in url.query.items():
        conninfo[key] = value if isinstance(value, str) else value[-1]
    args += ["--dbname", " ".join(f"{key}={_conninfo_value(value)}" for key, value in conninfo.items())]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        name = os.path.basename(command[0])
        raise BackupError(f"{name} failed (exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}")


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def hash_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _copy_hashed(source: Path, target: Path, mode: int) -> tuple[str, int]:
    """Copy ``source`` to ``target`` (created, fsynced) and return the sha256 and size of what was written."""
    digest, size = hashlib.sha256(), 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with open(source, "rb") as reader, os.fdopen(fd, "wb") as writer:
        os.fchmod(writer.fileno(), mode)
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest(), size


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def upload_files(folder: Path) -> list[str]:
    """Every regular file under ``folder`` as a relative POSIX path, sorted; uploads in progress left out."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in files:
            path = Path(root) / name
            if not path.is_file() or path.is_symlink():
                continue
            relative = path.relative_to(folder).as_posix()
            if TEMP_NAME.fullmatch(relative) and time.time() - path.stat().st_mtime < IN_FLIGHT.total_seconds():
                continue
            found.append(relative)
    return sorted(found)


def _alembic_heads() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory(current_app.extensions["migrate"].directory).get_heads())


# --- backup ------------------------------------------------------------------------------------------------


def _backup_sqlite(target: Path) -> str | None:
    """Copy the live database with SQLite's online backup API; return the snapshot's alembic revision."""
    source_path = sqlite_path()
    if not source_path.exists():
        raise BackupError(f"database file not found: {source_path}")
    timeout = current_app.config.get("SQLITE_BUSY_TIMEOUT_MS", 15000) / 1000
    source = sqlite3.connect(source_path, timeout=timeout)
    try:
        destination = sqlite3.connect(target)
        try:
            # pages=-1 (the default): the whole database in one step, under one read transaction, so the copy
            # is one committed state even while other connections write (WAL lets them go on meanwhile).
            source.backup(destination)
            destination.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
            result = destination.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise BackupError(f"the copied database fails its check: {result}")
            try:
                row = destination.execute("SELECT version_num FROM alembic_version").fetchone()
            except sqlite3.OperationalError:
                row = None
        finally:
            destination.close()
    finally:
        source.close()
    _fsync_file(target)
    return row[0] if row else None


def _backup_postgresql(target: Path) -> str | None:
    args, env = pg_arguments()
    # pg_dump reads everything in one repeatable-read snapshot: a consistent state while the app writes.
    _run([find_pg_tool("pg_dump"), "--format=custom", "--no-password", "--file", str(target), *args], env)
    _fsync_file(target)
    try:
        with db.engine.connect() as connection:
            return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.DBAPIError:
        return None


def create_backup(destination: str | os.PathLike | None = None) -> Path:
    """Write a backup folder under ``destination`` (default ``<instance>/backups``) and return its path."""
    kind = database_kind()
    root = Path(destination) if destination else Path(current_app.instance_path) / "backups"
    root = root.resolve()
    uploads = Path(current_app.config["UPLOAD_FOLDER"]).resolve()
    if root == uploads or uploads in root.parents:
        raise BackupError("the backup folder must not be inside UPLOAD_FOLDER")
    root.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(dir=root, prefix=f".backup-{utc_stamp(started)}-", suffix=".partial"))
    try:
        files: dict[str, dict] = {}
        database_name = DATABASE_FILES[kind]
        database_file = work / database_name
        revision = _backup_sqlite(database_file) if kind == "sqlite" else _backup_postgresql(database_file)
        sha256, size = hash_file(database_file)
        files[database_name] = {"sha256": sha256, "size": size}

        # After the database: every file its rows point at is already on disk.
        (work / UPLOADS).mkdir()
        if uploads.is_dir():
            for relative in upload_files(uploads):
                target = work / UPLOADS / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    sha256, size = _copy_hashed(uploads / relative, target, 0o640)
                except FileNotFoundError:  # a temp file renamed or swept meanwhile
                    _remove(target)
                    continue
                files[f"{UPLOADS}/{relative}"] = {"sha256": sha256, "size": size}

        manifest = {
            "format": MANIFEST_FORMAT,
            "created_at": started.isoformat().replace("+00:00", "Z"),
            "finished_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "database": {"kind": kind, "file": database_name},
            "alembic_revision": revision,
            "files": files,
        }
        with open(work / MANIFEST, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, ensure_ascii=False, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        _restrict(work)
        final = _rename_into_place(work, root, f"backup-{utc_stamp(started)}")
        _fsync_dir(root)
        return final
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _restrict(folder: Path) -> None:
    """A backup holds everything the app knows: readable by its owner and group only, whatever the umask."""
    for root, dirs, files in os.walk(folder):
        os.chmod(root, 0o750)
        for name in dirs:
            os.chmod(Path(root) / name, 0o750)
        for name in files:
            os.chmod(Path(root) / name, 0o640)


def _rename_into_place(work: Path, root: Path, name: str) -> Path:
    for number in range(1000):
        final = root / (name if number == 0 else f"{name}-{number}")
        if final.exists():
            continue
        try:
            os.rename(work, final)
        except OSError:  # made by another backup in the meantime
            continue
        return final
    raise BackupError(f"no free backup name under {root}")


# --- verifying and restoring -------------------------------------------------------------------------------


def _safe_relative(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and "\\" not in name and all(p not in ("", ".", "..")
                                                                                for p in parts)


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupError(f"no {MANIFEST} in {folder}: not a backup folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BackupError(f"{MANIFEST} cannot be read: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError(f"{MANIFEST} is not a format {MANIFEST_FORMAT} manifest")
    database = manifest.get("database") or {}
    files = manifest.get("files")
    if database.get("kind") not in DATABASE_FILES or not isinstance(files, dict):
        raise BackupError(f"{MANIFEST} is incomplete (database kind or file list missing)")
    if DATABASE_FILES[database["kind"]] != database.get("file") or database["file"] not in files:
        raise BackupError(f"{MANIFEST} does not list the database file")
    for name, entry in files.items():
        if not _safe_relative(name) or (name != database["file"] and not name.startswith(f"{UPLOADS}/")):
            raise BackupError(f"{MANIFEST} lists an unexpected path: {name!r}")
        if not (isinstance(entry, dict) and isinstance(entry.get("size"), int)
                and re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256")))):
            raise BackupError(f"{MANIFEST} has no valid size and sha256 for {name}")
    return manifest


def verify_backup(folder: str | os.PathLike) -> tuple[dict, list[str]]:
    """The manifest and every problem found: missing files, wrong size or sha256, files the manifest lacks."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    problems = []
    for name, entry in sorted(manifest["files"].items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"missing: {name}")
            continue
        sha256, size = hash_file(path)
        if size != entry["size"]:
            problems.append(f"size differs: {name} (manifest {entry['size']}, file {size})")
        elif sha256 != entry["sha256"]:
            problems.append(f"sha256 differs: {name}")
    listed = set(manifest["files"]) | {MANIFEST}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            relative = (Path(root) / name).relative_to(folder).as_posix()
            if relative not in listed:
                problems.append(f"not in the manifest: {relative}")
    return manifest, problems


def refusal(problems: list[str]) -> str:
    return "the backup does not match its manifest; nothing was restored:\n  " + "\n  ".join(problems)


def restore_backup(folder: str | os.PathLike, *, echo: Callable[[str], None] = print,
                   verified: dict | None = None) -> dict:
    """Put the backup in ``folder`` back: verified first, then uploads, database, and the extra uploads removed.

    Raises BackupError (and changes nothing) when any file of the backup differs from its manifest or the backup
    is for another kind of database. ``verified`` is the manifest of a :func:`verify_backup` that found no
    problem, to skip reading everything twice; each file is checked again anyway as it is copied.
    """
    folder = Path(folder).resolve()
    manifest = verified
    if manifest is None:
        manifest, problems = verify_backup(folder)
        if problems:
            raise BackupError(refusal(problems))
    kind = database_kind()
    if manifest["database"]["kind"] != kind:
        raise BackupError(f"the backup holds a {manifest['database']['kind']} database; this app uses {kind}")
    uploads = Path(current_app.config["UPLOAD_FOLDER"]).resolve()
    if folder == uploads or uploads in folder.parents:
        raise BackupError("the backup folder must not be inside UPLOAD_FOLDER, which the restore replaces")
    wanted = {name[len(UPLOADS) + 1:]: entry for name, entry in manifest["files"].items()
              if name.startswith(f"{UPLOADS}/")}

    # 1. The backup's uploads, each copied to a temp file, checked, and renamed into place. Stored files never
    #    change once written, so the live folder then holds what both the old and the restored rows point at.
    uploads.mkdir(parents=True, exist_ok=True)
    for relative, entry in sorted(wanted.items()):
        target = uploads / relative
        target.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        _install_verified(folder / UPLOADS / relative, target, entry, 0o640)
    echo(f"uploads restored: {len(wanted)} files")

    # 2. The database.
    database_file = folder / manifest["database"]["file"]
    entry = manifest["files"][manifest["database"]["file"]]
    db.session.remove()
    db.engine.dispose()  # no pooled connection may keep the old database open
    if kind == "sqlite":
        _restore_sqlite(database_file, entry)
    else:
        _restore_postgresql(database_file)
    db.engine.dispose()
    echo(f"database restored ({kind}, alembic revision {manifest.get('alembic_revision')})")

    # 3. Files the backup does not have go: the folder now holds exactly the backup's uploads.
    removed = 0
    for relative in upload_files(uploads):
        if relative not in wanted:
            _remove(uploads / relative)
            removed += 1
    for root, dirs, files in os.walk(uploads, topdown=False):
        if Path(root) != uploads and not dirs and not files:
            try:
                os.rmdir(root)
            except OSError:
                pass
    if removed:
        echo(f"uploads removed (not in the backup): {removed} files")
    heads = _alembic_heads()
    if manifest.get("alembic_revision") not in heads:
        echo(f"note: the backup is at alembic revision {manifest.get('alembic_revision')}, the code at "
             f"{', '.join(sorted(heads))}: run `flask db upgrade` before starting the app")
    return manifest


def _install_verified(source: Path, target: Path, entry: dict, mode: int) -> None:
    """Copy ``source`` next to ``target``, check it against the manifest, fsync, and rename it over ``target``."""
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.restore-", suffix=".part")
    os.close(fd)
    temp = Path(temp_name)
    try:
        sha256, size = _copy_hashed(source, temp, mode)
        if (sha256, size) != (entry["sha256"], entry["size"]):
            raise BackupError(f"{source} changed while it was being restored")
        os.replace(temp, target)
    except BaseException:
        _remove(temp)
        raise
    _fsync_dir(target.parent)


def _restore_sqlite(database_file: Path, entry: dict) -> None:
    target = sqlite_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o640
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.restore-", suffix=".part")
    os.close(fd)
    temp = Path(temp_name)
    try:
        sha256, size = _copy_hashed(database_file, temp, mode)
        if (sha256, size) != (entry["sha256"], entry["size"]):
            raise BackupError(f"{database_file} changed while it was being restored")
        check = sqlite3.connect(temp)
        try:
            result = check.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            check.close()
        if result != "ok":
            raise BackupError(f"the backup's database fails its check: {result}")
        if target.exists():
            # Fold the old WAL into its database first; then no -wal or hot -journal of the old file may stay
            # beside the new one, or SQLite would replay the old pages onto it.
            try:
                old = sqlite3.connect(target, timeout=5)
                try:
                    old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    old.close()
            except sqlite3.Error:
                pass
        for suffix in ("-wal", "-shm", "-journal"):
            _remove(target.with_name(target.name + suffix))
        os.replace(temp, target)
    except BaseException:
        _remove(temp)
        raise
    _fsync_dir(target.parent)


def _restore_postgresql(database_file: Path) -> None:
    args, env = pg_arguments()
    # One transaction: a failed restore leaves the database as it was.
    _run([find_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
          "--no-password", *args, str(database_file)], env)


# --- check -------------------------------------------------------------------------------------------------


@dataclass
class CheckReport:
    database: list[str] = field(default_factory=list)  # integrity, foreign keys, alembic
    missing: list[str] = field(default_factory=list)  # rows whose file is not on disk
    altered: list[str] = field(default_factory=list)  # files whose size or sha256 differs from the row
    orphans: list[str] = field(default_factory=list)  # files on disk that no row names (a warning)
    info: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.database or self.missing or self.altered)

    def lines(self) -> list[str]:
        out = list(self.info)
        sections = (
            ("database problems", self.database),
            ("stored files missing on disk (rows with no file)", self.missing),
            ("stored files altered (size or sha256 differs)", self.altered),
            ("orphan files (on disk, no row; harmless, e.g. an upload whose transaction rolled back; "
             "`flask files sweep` removes them)", self.orphans),
        )
        for title, items in sections:
            if items:
                out.append(f"{title}: {len(items)}")
                out.extend(f"  {item}" for item in items)
        out.append("check: OK" if self.ok else "check: FAILED")
        return out


def run_check() -> CheckReport:
    report = CheckReport()
    kind = database_kind()
    try:
        _check_database(kind, report)
        _check_files(report)
    except sa.exc.DBAPIError as error:
        report.database.append(f"database error: {error.orig or error}")
    finally:
        db.session.rollback()
    return report


def _check_database(kind: str, report: CheckReport) -> None:
    from alembic.runtime.migration import MigrationContext

    connection = db.session.connection()
    if kind == "sqlite":
        results = [row[0] for row in connection.exec_driver_sql("PRAGMA integrity_check")]
        if results != ["ok"]:
            report.database.extend(f"integrity_check: {result}" for result in results)
        for table, rowid, parent, constraint in connection.exec_driver_sql("PRAGMA foreign_key_check"):
            report.database.append(f"foreign_key_check: {table} row {rowid} points at a missing {parent} "
                                   f"(constraint {constraint})")
    else:
        connection.exec_driver_sql("SELECT 1")
    tables = sorted(sa.inspect(connection).get_table_names())
    rows = 0
    for table in tables:
        # Every table must answer a count: on PostgreSQL this is the connectivity and readability check.
        rows += connection.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()
    report.info.append(f"database: {kind}, {len(tables)} tables, {rows} rows")
    current = set(MigrationContext.configure(connection).get_current_heads())
    heads = _alembic_heads()
    if current != heads:
        report.database.append(f"alembic: database at {', '.join(sorted(current)) or 'no revision'}, "
                               f"code at {', '.join(sorted(heads))} (run `flask db upgrade`)")


def _check_files(report: CheckReport) -> None:
    from app.files.models import StoredFile

    uploads = Path(current_app.config["UPLOAD_FOLDER"])
    known = set()
    checked = 0
    query = sa.select(StoredFile.id, StoredFile.stored_name, StoredFile.size, StoredFile.sha256).order_by(
        StoredFile.id)
    for file_id, stored_name, size, sha256 in db.session.execute(query):
        known.add(stored_name)
        path = uploads / stored_name
        if not _safe_relative(stored_name) or not path.is_file():
            report.missing.append(f"{stored_name} (stored file {file_id})")
            continue
        found_sha256, found_size = hash_file(path)
        checked += 1
        if found_size != size:
            report.altered.append(f"{stored_name} (stored file {file_id}): size {found_size}, recorded {size}")
        elif found_sha256 != sha256:
            report.altered.append(f"{stored_name} (stored file {file_id}): sha256 differs from the recorded one")
    report.info.append(f"stored files: {len(known)} rows, {checked} files read")
    if uploads.is_dir():
        report.orphans.extend(name for name in upload_files(uploads) if name not in known)
