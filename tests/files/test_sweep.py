"""`flask files sweep`: real files on disk under a folder of the test's own, rows in the test's database."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.audit.models import AuditAction, AuditLog
from app.extensions import db
from app.files.storage import save_upload, soft_delete
from app.files.sweep import AUDIT_OBJECT_TYPE
from tests.files.test_storage import make_pdf, make_png, upload

HOURS = 3600


@pytest.fixture
def uploads(app, tmp_path, monkeypatch) -> Path:
    """An empty upload folder for this test alone (the session's is shared and holds other tests' files)."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(folder))
    return folder


def age(path: Path, seconds: float) -> None:
    """Make the file (or the link itself, not its target) look ``seconds`` old."""
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def sweep(app, *args: str):
    result = app.test_cli_runner().invoke(args=["files", "sweep", *args])
    assert result.exit_code == 0, result.output
    return result.output


def sweep_audits(app) -> list[AuditLog]:
    with app.app_context():
        return db.session.scalars(sa.select(AuditLog).where(AuditLog.object_type == AUDIT_OBJECT_TYPE)
                                  .order_by(AuditLog.id)).all()


def stored_in_a_rolled_back_savepoint(uploads: Path) -> Path:
    """An upload stored inside a savepoint that is rolled back while the transaction commits: its bytes stay."""
    savepoint = db.session.begin_nested()
    path = uploads / save_upload(upload(make_png(), "撤回.png")).stored_name
    savepoint.rollback()
    return path


def an_upload_name() -> str:
    key = uuid.uuid4().hex
    return f"{key[:2]}/{key[2:4]}/{key}.pdf"


def test_old_orphans_go_and_everything_else_stays(app, uploads, make_user):
    user_id = make_user("township")
    with app.app_context():
        kept = uploads / save_upload(upload(make_pdf(), "协商记录.pdf")).stored_name
        removed_by_user = save_upload(upload(make_pdf(), "已删除.pdf"))
        soft_delete(removed_by_user, user_id)  # evidence: its bytes stay
        removed_by_user = uploads / removed_by_user.stored_name
        orphan = stored_in_a_rolled_back_savepoint(uploads)
        young_orphan = stored_in_a_rolled_back_savepoint(uploads)
        db.session.commit()
    assert orphan.exists() and young_orphan.exists()
    temp = orphan.parent / ".upload-k2j4h5g6.part"  # a killed worker's half-written upload
    temp.write_bytes(b"%PDF-1.4\n")
    not_ours = [uploads / "README.txt", orphan.parent / "notes.pdf", uploads / an_upload_name().split("/", 1)[1]]
    for path in not_ours:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not an upload")
    for path in (kept, removed_by_user, orphan, temp, *not_ours):
        age(path, 2 * HOURS)
    sizes = orphan.stat().st_size + temp.stat().st_size
    names = sorted(p.relative_to(uploads).as_posix() for p in (orphan, temp))

    output = sweep(app, "--dry-run")
    assert [line.removeprefix("would remove: ") for line in output.splitlines() if "would remove:" in line] == names
    assert f"2 orphan files would be removed ({sizes} bytes); kept 2 named by a row and 1 younger than 60" in output
    for path in not_ours:
        assert f"left alone (not an upload's name, or not a regular file): {path.relative_to(uploads)}" in output
    assert orphan.exists() and temp.exists()
    assert sweep_audits(app) == []  # a dry run changes nothing, so records nothing

    output = sweep(app)
    assert [line.removeprefix("removed: ") for line in output.splitlines() if line.startswith("removed: ")] == names
    assert f"2 orphan files removed ({sizes} bytes)" in output
    assert not orphan.exists() and not temp.exists()
    assert kept.exists() and removed_by_user.exists() and young_orphan.exists()
    assert all(path.exists() for path in not_ours)
    assert orphan.parent.is_dir()  # folders stay: an upload elsewhere may be about to write into one
    [audit] = sweep_audits(app)
    assert audit.action == AuditAction.DELETE and audit.actor_name == "cli"
    assert audit.before == {"files": names, "count": 2, "bytes": sizes, "older_than_minutes": 60}
    assert "2 orphan files removed" in audit.summary

    # The next sweep finds nothing, and says so in the log too; the young orphan goes once it is old enough.
    assert "0 orphan files removed (0 bytes)" in sweep(app)
    age(young_orphan, 2 * HOURS)
    assert f"removed: {young_orphan.relative_to(uploads).as_posix()}" in sweep(app)
    assert [a.before["count"] for a in sweep_audits(app)] == [2, 0, 1]


def test_the_grace_period_can_be_changed_but_not_below_ten_minutes(app, uploads):
    with app.app_context():
        orphan = stored_in_a_rolled_back_savepoint(uploads)
        db.session.commit()
    age(orphan, 30 * 60)

    assert "0 orphan files removed" in sweep(app)  # an hour by default
    refused = app.test_cli_runner().invoke(args=["files", "sweep", "--older-than-minutes", "5"])
    assert refused.exit_code == 2 and "--older-than-minutes" in refused.output
    assert orphan.exists()
    assert "1 orphan files removed" in sweep(app, "--older-than-minutes", "20")
    assert not orphan.exists()
    assert sweep_audits(app)[-1].before["older_than_minutes"] == 20


def test_links_are_never_followed_out_of_the_folder(app, uploads, tmp_path):
    outside = tmp_path / "outside"
    outside_upload = outside / an_upload_name()  # named like an upload, no row: it would go if it were inside
    outside_upload.parent.mkdir(parents=True)
    outside_upload.write_bytes(make_pdf())
    age(outside_upload, 2 * HOURS)
    folder_link = uploads / outside_upload.relative_to(outside).parts[0]
    folder_link.symlink_to(outside / outside_upload.relative_to(outside).parts[0], target_is_directory=True)
    file_link = uploads / an_upload_name()
    file_link.parent.mkdir(parents=True)
    file_link.symlink_to(outside_upload)
    age(file_link, 2 * HOURS)

    output = sweep(app)

    assert outside_upload.read_bytes() == make_pdf()
    assert file_link.is_symlink() and folder_link.is_symlink()
    assert "0 orphan files removed" in output
    for link in (folder_link, file_link):
        assert f"left alone (not an upload's name, or not a regular file): {link.relative_to(uploads)}" in output


def test_an_upload_folder_that_is_itself_a_link_is_swept(app, uploads, tmp_path, monkeypatch):
    """A deployment may mount its uploads elsewhere and point UPLOAD_FOLDER at them through a link."""
    link = tmp_path / "uploads-link"
    link.symlink_to(uploads, target_is_directory=True)
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(link))
    with app.app_context():
        orphan = stored_in_a_rolled_back_savepoint(uploads)
        db.session.commit()
    age(orphan, 2 * HOURS)
    assert f"removed: {orphan.relative_to(uploads).as_posix()}" in sweep(app)
    assert not orphan.exists()


def test_a_missing_upload_folder_is_nothing_to_sweep(app, uploads):
    uploads.rmdir()
    assert "0 orphan files removed" in sweep(app)
    assert not uploads.exists()
