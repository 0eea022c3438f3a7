"""Uploads: the one place a file is checked, stored and served.

A file's type is decided by its content, never by its name; the name only has to agree with it. The bytes go
under ``UPLOAD_FOLDER`` with a generated name, the database keeps the name the user gave, the size and the
sha256, and every read checks the bytes against them. Files are only ever sent as attachments, and removing a
file only marks it: evidence is never destroyed.

Word and Excel 97-2003 files are both OLE2 compound files; :func:`detect_kind` reads the compound file's
directory and answers ``doc`` when the root holds a ``WordDocument`` stream, ``xls`` when it holds ``Workbook``
(or Excel 5's ``Book``), and ``None`` for anything else (PowerPoint, Outlook messages, installers, encrypted
OOXML packages, damaged files). So callers only ever see the kinds in :data:`KIND_MIME`.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import tempfile
import unicodedata
import uuid
import zipfile
from datetime import timedelta

from flask import Response, abort, current_app
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

from app.database import on_transaction_end, utcnow
from app.downloads import attachment
from app.extensions import db
from app.files.models import StoredFile
from app.formatting import listing

KIND_MIME = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "png": "image/png",
    "jpeg": "image/jpeg",
}
DOCUMENT_KINDS = frozenset(KIND_MIME)
IMAGE_KINDS = frozenset({"png", "jpeg"})
# The extensions a name may carry for each kind; the first is the one appended to a name without one and the
# one used on disk.
KIND_EXTENSIONS = {
    "pdf": ("pdf",),
    "docx": ("docx",),
    "xlsx": ("xlsx",),
    "doc": ("doc",),
    "xls": ("xls",),
    "png": ("png",),
    "jpeg": ("jpg", "jpeg"),
}
_KIND_LABELS = {
    "pdf": "PDF",
    "docx": "Word",
    "doc": "Word",
    "xlsx": "Excel",
    "xls": "Excel",
    "png": "PNG",
    "jpeg": "JPEG",
}

DEFAULT_MAX_FILE_MB = 20
MAX_NAME_LENGTH = 255  # StoredFile.original_name
FALLBACK_STEM = "file"  # for a name that is empty once cleaned

# Zip bomb limits for OOXML, checked on the central directory only (nothing is ever extracted here). They
# protect whatever opens the file later (an import, an antivirus, the user's Office).
ZIP_MAX_MEMBERS = 2000
ZIP_MAX_TOTAL_BYTES = 200 * 1024 * 1024
ZIP_MAX_RATIO = 200

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_ZIP_MAGIC = b"PK\x03\x04"

# The names (relative to UPLOAD_FOLDER) this module gives files: the stored files, and the temp files they are
# written to first, beside them (a killed worker can leave one behind).
_FOLDER = r"[0-9a-f]{2}/[0-9a-f]{2}"
STORED_NAME = re.compile(rf"{_FOLDER}/[0-9a-f]{{32}}\.[a-z]{{3,4}}")
_TEMP_PREFIX, _TEMP_SUFFIX = ".upload-", ".part"
TEMP_NAME = re.compile(rf"{_FOLDER}/{re.escape(_TEMP_PREFIX)}[^/]*{re.escape(_TEMP_SUFFIX)}")
# An upload's file younger than this may belong to a transaction still running in some worker: the backup and the
# sweep leave it alone.
IN_FLIGHT = timedelta(hours=1)
# Something after the last dot counts as an extension only if it looks like one: "会议纪要 v1.2" has none.
_EXTENSION = re.compile(r"[A-Za-z0-9]{0,9}[A-Za-z][A-Za-z0-9]{0,9}")
# Bidirectional controls let "invoice\u202egpj.exe" display as "invoiceexe.jpg"; zero-width joiners stay (emoji).
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class UploadRejected(Exception):
    """An upload refused; ``message`` is translated and meant for the form field."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class StoredFileCorrupt(Exception):
    """The bytes on disk are missing or no longer match the size and sha256 recorded at upload."""


# --- what a file really is ---------------------------------------------------------------------------------


def detect_kind(data: bytes) -> str | None:
    """The file's kind (a key of :data:`KIND_MIME`) from its content, or None if it is none of them."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(_PNG_MAGIC) and data[12:16] == b"IHDR":
        return "png"
    if data.startswith(_JPEG_MAGIC):
        return "jpeg"
    if data.startswith(_OLE_MAGIC):
        return _ole_kind(data)
    # Only a zip from the first byte: a self-extracting EXE is a zip with a program in front.
    if data.startswith(_ZIP_MAGIC):
        return _ooxml_kind(data)
    return None


def _ooxml_kind(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    if len(members) > ZIP_MAX_MEMBERS:
        return None
    if sum(member.file_size for member in members) > ZIP_MAX_TOTAL_BYTES:
        return None
    for member in members:
        if member.file_size > ZIP_MAX_RATIO * member.compress_size:  # a 0-byte compressed member counts too
            return None
    names = [member.filename for member in members]
    if len(set(names)) != len(names):  # two parts of one name: readers would disagree on which one is meant
        return None
    if "[Content_Types].xml" not in names:
        return None
    word, excel = "word/document.xml" in names, "xl/workbook.xml" in names
    if word and not excel:
        return "docx"
    if excel and not word:
        return "xlsx"
    return None


# Compound File Binary format ([MS-CFB]): enough of it to list the streams at the root of the directory.
_CFB_ENDOFCHAIN = 0xFFFFFFFE
_CFB_NOSTREAM = 0xFFFFFFFF
_CFB_MAXREGSECT = 0xFFFFFFFA
_CFB_STREAM, _CFB_ROOT = 2, 5


def _ole_kind(data: bytes) -> str | None:
    try:
        names = {name.casefold() for name in _ole_root_streams(data)}
    except (ValueError, struct.error):
        return None
    # Only the root counts: a Word file with an embedded workbook has "Workbook" in a sub-storage, and vice versa.
    word = "worddocument" in names
    excel = bool(names & {"workbook", "book"})
    if word and not excel:
        return "doc"
    if excel and not word:
        return "xls"
    return None


def _ole_root_streams(data: bytes) -> list[str]:
    """Names of the streams directly under the root storage; ValueError if the file is not a sound CFB."""
    if len(data) < 512:
        raise ValueError("shorter than a CFB header")
    (sector_shift,) = struct.unpack_from("<H", data, 30)
    if sector_shift not in (9, 12):
        raise ValueError("bad sector size")
    sector_size = 1 << sector_shift
    sector_count = (len(data) - 512 + sector_size - 1) // sector_size  # an upper bound, for loop guards

    def sector(number: int) -> bytes:
        if number > _CFB_MAXREGSECT:
            raise ValueError("not a sector number")
        start = (number + 1) << sector_shift  # the header fills sector -1
        chunk = data[start : start + sector_size]
        if not chunk:
            raise ValueError("sector beyond the end of the file")
        return chunk

    fat_sector_count, first_directory = struct.unpack_from("<II", data, 44)
    first_difat, difat_sector_count = struct.unpack_from("<II", data, 68)
    if fat_sector_count > sector_count or difat_sector_count > sector_count:
        raise ValueError("more FAT sectors than the file holds")
    per_sector = sector_size // 4
    fat_sectors = list(struct.unpack_from("<109I", data, 76))
    next_difat = first_difat
    for _difat in range(difat_sector_count):
        if len(fat_sectors) >= fat_sector_count:
            break
        entries = struct.unpack_from(f"<{per_sector}I", sector(next_difat).ljust(sector_size, b"\0"))
        fat_sectors.extend(entries[:-1])
        next_difat = entries[-1]
    fat_sectors = fat_sectors[:fat_sector_count]

    def next_sector(number: int) -> int:
        # Looked up in place rather than building the whole FAT: a hostile header cannot make us allocate it.
        index, position = divmod(number, per_sector)
        if index >= len(fat_sectors):
            raise ValueError("sector outside the FAT")
        return struct.unpack_from("<I", sector(fat_sectors[index]).ljust(sector_size, b"\0"), position * 4)[0]

    directory = bytearray()
    number, seen = first_directory, set()
    while number != _CFB_ENDOFCHAIN:
        if number in seen or len(seen) > sector_count:
            raise ValueError("broken directory chain")
        seen.add(number)
        directory += sector(number).ljust(sector_size, b"\0")
        number = next_sector(number)
    entry_count = len(directory) // 128

    def entry(index: int) -> tuple[str, int, int, int, int]:
        offset = index * 128
        name_length, kind = struct.unpack_from("<HB", directory, offset + 64)
        left, right, child = struct.unpack_from("<III", directory, offset + 68)
        raw_name = bytes(directory[offset : offset + max(0, min(name_length, 64) - 2)])
        return raw_name.decode("utf-16-le", "replace"), kind, left, right, child

    if entry_count == 0 or entry(0)[1] != _CFB_ROOT:
        raise ValueError("no root entry")

    # The children of a storage form a binary tree through the left/right sibling links.
    names, stack, visited = [], [entry(0)[4]], set()
    while stack:
        index = stack.pop()
        if index == _CFB_NOSTREAM:
            continue
        if index >= entry_count or index in visited:
            raise ValueError("broken directory tree")
        visited.add(index)
        name, kind, left, right, _child = entry(index)
        if kind == _CFB_STREAM:
            names.append(name)
        stack += [left, right]
    return names


# --- names -------------------------------------------------------------------------------------------------


def _clean_name(raw: str | None) -> str:
    """The name as the user gave it, for display: no folders, no control characters, Chinese and emoji kept."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]  # browsers on Windows may send the whole path
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS)
    # Windows drops trailing dots and spaces, so "a.pdf. " is "a.pdf" there.
    return name.strip().rstrip(". ")


def _split_extension(name: str) -> tuple[str, str | None]:
    stem, dot, extension = name.rpartition(".")
    if dot and _EXTENSION.fullmatch(extension):
        return stem, extension
    return name, None


def _display_name(raw: str | None, kind: str) -> str:
    stem, extension = _split_extension(_clean_name(raw))
    if extension is not None and extension.lower() not in KIND_EXTENSIONS[kind]:
        raise UploadRejected(
            _(
                "文件内容与扩展名不符：%(name)s 实际上不是 %(ext)s 文件。",
                name=_clean_name(raw),
                ext=extension.upper(),
            )
        )
    stem = stem.strip() or FALLBACK_STEM
    extension = extension or KIND_EXTENSIONS[kind][0]
    stem = stem[: MAX_NAME_LENGTH - len(extension) - 1].rstrip()  # trim the stem, never the extension
    return f"{stem}.{extension}"


# --- storing -----------------------------------------------------------------------------------------------


def _read_limited(upload: FileStorage, limit: int) -> bytes:
    """At most ``limit`` bytes; a short read is not taken for the end of the stream."""
    chunks, remaining = [], limit
    while remaining > 0:
        chunk = upload.stream.read(min(remaining, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _size_text(max_bytes: int) -> str:
    mib = 1024 * 1024
    if max_bytes >= mib and max_bytes % mib == 0:
        return f"{max_bytes // mib} MB"
    if max_bytes >= mib:
        return f"{max_bytes / mib:.1f} MB"
    return f"{max(1, max_bytes // 1024)} KB"


def _unsupported(allowed: frozenset[str]) -> UploadRejected:
    if allowed >= DOCUMENT_KINDS:
        return UploadRejected(_("不支持的文件类型：只能上传 PDF、Word、Excel 或图片（PNG、JPEG）。"))
    labels = list(dict.fromkeys(_KIND_LABELS[kind] for kind in KIND_MIME if kind in allowed))
    return UploadRejected(_("不支持的文件类型：只能上传 %(kinds)s 文件。", kinds=listing(labels)))


def _path(stored_name: str) -> str:
    # The name comes from the database; refuse anything that is not one we generate, so it cannot point elsewhere.
    if not STORED_NAME.fullmatch(stored_name):
        raise StoredFileCorrupt(f"unexpected stored name {stored_name!r}")
    return os.path.join(current_app.config["UPLOAD_FOLDER"], *stored_name.split("/"))


def _write(path: str, data: bytes) -> None:
    """Write all of ``data`` to ``path`` or nothing: a temp file in the same folder, then an atomic rename."""
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o750, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o640)  # explicit, so the umask does not decide
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        _remove(temp)
        raise
    # The rename itself must survive a crash, or a committed row could point at nothing.
    if hasattr(os, "O_DIRECTORY"):
        directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _user_id(user) -> int | None:
    """A User (or current_user), a user id, or None."""
    if user is None or isinstance(user, int):
        return user
    return user.id


def save_upload(
    upload: FileStorage,
    *,
    allowed: frozenset[str] = DOCUMENT_KINDS,
    max_bytes: int | None = None,
    uploaded_by=None,
) -> StoredFile:
    """Check an upload, store its bytes and add its :class:`StoredFile` (flushed, not committed).

    Raises :class:`UploadRejected` with a message for the user when the file is empty, too big, of a kind not
    in ``allowed``, or named with an extension its content contradicts.
    """
    if max_bytes is None:
        max_bytes = int(current_app.config.get("UPLOAD_MAX_FILE_MB", DEFAULT_MAX_FILE_MB)) * 1024 * 1024
    data = _read_limited(upload, max_bytes + 1)
    if not data:
        raise UploadRejected(_("文件为空。"))
    if len(data) > max_bytes:
        raise UploadRejected(_("文件超过 %(size)s。", size=_size_text(max_bytes)))
    kind = detect_kind(data)
    if kind is None or kind not in allowed:
        raise _unsupported(allowed)
    original_name = _display_name(upload.filename, kind)

    key = uuid.uuid4().hex
    stored_name = f"{key[:2]}/{key[2:4]}/{key}.{KIND_EXTENSIONS[kind][0]}"
    path = _path(stored_name)
    _write(path, data)
    stored = StoredFile(
        stored_name=stored_name,
        original_name=original_name,
        kind=kind,
        mime_type=KIND_MIME[kind],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by_id=_user_id(uploaded_by),
    )
    db.session.add(stored)
    try:
        db.session.flush()
    except BaseException:
        _remove(path)  # no row will point at the bytes
        raise
    # Removed again if the transaction is rolled back (a refused spending line after its receipt was stored).
    db.session.info.setdefault(_WRITTEN, []).append(path)
    return stored


_WRITTEN = "stored_file_paths"


def _remove_all(paths) -> None:
    for path in paths:
        _remove(path)


# When a transaction ends without committing (rolled back, or closed), the bytes of the uploads it stored: no row
# points at them. (A savepoint rolled back alone leaves its files to the transaction: harmless if it commits, and
# removed later by ``flask files sweep``, which compares the folder with the table.)
on_transaction_end(_WRITTEN, discarded=_remove_all)


# --- reading and serving -----------------------------------------------------------------------------------


def read_stored(stored: StoredFile) -> bytes:
    """The file's bytes, checked against the size and sha256 recorded at upload."""
    try:
        with open(_path(stored.stored_name), "rb") as handle:
            data = handle.read(stored.size + 1)  # a grown file need not be read whole to be found out
    except FileNotFoundError as error:
        raise StoredFileCorrupt(f"stored file {stored.id} is missing: {stored.stored_name}") from error
    if len(data) != stored.size or hashlib.sha256(data).hexdigest() != stored.sha256:
        raise StoredFileCorrupt(f"stored file {stored.id} does not match its size and sha256: {stored.stored_name}")
    return data


def send_stored(stored: StoredFile) -> Response:
    """The file as a download under its original name; never shown inline, so no upload runs in our origin."""
    if stored.deleted_at is not None:
        abort(404)
    return attachment(read_stored(stored), stored.original_name, stored.mime_type)


def soft_delete(stored: StoredFile, user) -> None:
    """Mark the file removed; the bytes stay on disk. A file already removed keeps its first removal."""
    if stored.deleted_at is not None:
        return
    stored.deleted_at = utcnow()
    stored.deleted_by_id = _user_id(user)
    db.session.flush()
