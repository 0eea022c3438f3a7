"""Removing the bytes under ``UPLOAD_FOLDER`` that no ``stored_files`` row names (``flask files sweep``).

They come from uploads stored inside a savepoint that was rolled back while its transaction committed (storage
removes an upload's bytes only when the whole transaction ends without committing), from workers killed between
writing the bytes and committing, and from the temp files of killed writes.

What keeps the sweep from removing anything else:

- Only the names storage gives (``ab/cd/<32 hex>.pdf`` and ``.upload-….part`` temp files beside them) are
  candidates. Anything else under the folder is listed and left alone, so a folder set by mistake to a place
  holding other files loses none of them.
- Only files older than the grace period: an upload's bytes are written before its row, and the row is seen by
  other connections only when its transaction commits, so a young file without a row may be an upload that
  another worker is still committing.
- The folder is listed before the rows are read: a row committed while the folder was listed still counts.
- Symbolic links are never followed, and files are removed through the descriptor of the folder they were found
  in (``os.fwalk``), so a folder swapped for a link meanwhile cannot send a removal elsewhere. The configured
  folder itself may be a link (a deployment may mount its uploads elsewhere); it is resolved once.

Folders are kept, even empty ones: an upload in another worker may be about to write into one.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import PurePosixPath

import sqlalchemy as sa
from flask import current_app

from app.audit.models import AuditAction
from app.audit.operations import record
from app.extensions import db
from app.files.models import StoredFile
from app.files.storage import IN_FLIGHT, STORED_NAME, TEMP_NAME

DEFAULT_GRACE = IN_FLIGHT
# Longer than any request that stores uploads takes to commit; a smaller grace could remove one in flight.
MINIMUM_GRACE = timedelta(minutes=10)
AUDIT_OBJECT_TYPE = "UploadFolder"
AUDIT_MAX_NAMES = 1000  # keeps the summary row bounded; the count and the bytes cover every file


@dataclass
class SweepResult:
    removed: list[str] = field(default_factory=list)  # relative names (in a dry run: what would be removed)
    removed_bytes: int = 0
    referenced: int = 0  # files older than the grace period that a row names
    too_young: int = 0  # files younger than the grace period, kept whether a row names them or not
    left_alone: list[str] = field(default_factory=list)  # not a name storage gives, or not a regular file


@dataclass
class _Entry:
    name: str  # relative to the upload folder, with "/"
    info: os.stat_result  # of the entry itself, never of a link's target
    folder_fd: int  # valid only while the walk is at this folder
    base: str  # the name within that folder


def _entries(root: str) -> Iterator[_Entry]:
    """Everything under ``root``, folders in sorted order, without following any link."""
    for folder, subfolders, files, folder_fd in os.fwalk(root, follow_symlinks=False):
        subfolders.sort()
        relative = PurePosixPath(os.path.relpath(folder, root))
        for base in sorted(files):
            info = _lstat(base, folder_fd)
            if info is not None:
                yield _Entry((relative / base).as_posix(), info, folder_fd, base)
        for base in subfolders:
            info = _lstat(base, folder_fd)
            if info is not None and stat.S_ISLNK(info.st_mode):  # not entered by fwalk: say so, do not skip silently
                yield _Entry((relative / base).as_posix(), info, folder_fd, base)


def _lstat(base: str, folder_fd: int) -> os.stat_result | None:
    try:
        return os.stat(base, dir_fd=folder_fd, follow_symlinks=False)
    except FileNotFoundError:  # gone since the folder was listed: an upload's temp file renamed into place
        return None


def _sweepable(entry: _Entry) -> bool:
    """A regular file with a name storage gives: a stored file or a temp file."""
    return stat.S_ISREG(entry.info.st_mode) and bool(STORED_NAME.fullmatch(entry.name)
                                                     or TEMP_NAME.fullmatch(entry.name))


def sweep_orphans(grace: timedelta = DEFAULT_GRACE, *, dry_run: bool = False) -> SweepResult:
    """Remove the files under the upload folder that no row names and that are older than ``grace``, and add one
    audit row saying what was removed (flushed, not committed). A dry run only finds them and writes nothing."""
    if grace < MINIMUM_GRACE:
        raise ValueError(f"the grace period is at least {MINIMUM_GRACE.total_seconds() / 60:.0f} minutes")
    result = SweepResult()
    root = os.path.realpath(current_app.config["UPLOAD_FOLDER"])
    if os.path.isdir(root):
        cutoff = time.time() - grace.total_seconds()
        candidates: dict[str, os.stat_result] = {}
        for entry in _entries(root):
            if not _sweepable(entry):
                result.left_alone.append(entry.name)
            elif entry.info.st_mtime > cutoff:
                result.too_young += 1
            else:
                candidates[entry.name] = entry.info
        named = set(db.session.scalars(sa.select(StoredFile.stored_name)))
        orphans = {name: info for name, info in candidates.items() if name not in named}
        result.referenced = len(candidates) - len(orphans)
        if dry_run:
            result.removed = sorted(orphans)
            result.removed_bytes = sum(info.st_size for info in orphans.values())
        else:
            _remove(root, orphans, result)
    if not dry_run:
        record(AuditAction.DELETE, object_type=AUDIT_OBJECT_TYPE,
               summary=f"files sweep: {len(result.removed)} orphan files removed ({result.removed_bytes} bytes)",
               before={"files": result.removed[:AUDIT_MAX_NAMES], "count": len(result.removed),
                       "bytes": result.removed_bytes, "older_than_minutes": int(grace.total_seconds() // 60)})
        db.session.flush()
    return result


def _remove(root: str, orphans: dict[str, os.stat_result], result: SweepResult) -> None:
    """The second walk: each orphan removed through its folder's descriptor, if it is still the file first seen."""
    for entry in _entries(root):
        first_seen = orphans.get(entry.name)
        if first_seen is None or (entry.info.st_dev, entry.info.st_ino) != (first_seen.st_dev, first_seen.st_ino):
            continue
        try:
            os.unlink(entry.base, dir_fd=entry.folder_fd)
        except FileNotFoundError:  # another sweep was first
            continue
        result.removed.append(entry.name)
        result.removed_bytes += entry.info.st_size
