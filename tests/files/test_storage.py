"""Uploads: real files built here byte by byte, stored on disk under the test app's UPLOAD_FOLDER."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
import xlsxwriter
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import NotFound

from app.audit.models import AuditAction, AuditLog
from app.extensions import db
from app.files import storage
from app.files.models import StoredFile
from app.files.storage import (
    KIND_MIME,
    StoredFileCorrupt,
    UploadRejected,
    detect_kind,
    read_stored,
    save_upload,
    send_stored,
    soft_delete,
)

# --- samples -----------------------------------------------------------------------------------------------


def make_pdf() -> bytes:
    """A one-page PDF with a correct cross-reference table."""
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(bodies, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(bodies) + 1, xref)
    return bytes(out)


def _png_chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def make_png() -> bytes:
    """A 1×1 red RGB image."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + _png_chunk(b"IEND", b"")
    )


def make_jpeg() -> bytes:
    """SOI, a JFIF APP0 segment and EOI."""
    app0 = b"JFIF\x00" + b"\x01\x01" + b"\x00" + b"\x00\x01\x00\x01" + b"\x00\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/></Types>'
)


def make_zip(parts: dict[str, bytes | str], *, prefix: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    buffer.write(prefix)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def make_docx() -> bytes:
    return make_zip(
        {
            "[Content_Types].xml": CONTENT_TYPES,
            "_rels/.rels": '<?xml version="1.0"?><Relationships/>',
            "word/document.xml": '<?xml version="1.0"?><w:document><w:body><w:p/></w:body></w:document>',
        }
    )


def make_xlsx() -> bytes:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("名单")
    sheet.write_row(0, 0, ["姓名", "金额"])
    sheet.write_row(1, 0, ["张三", 1200])
    workbook.close()
    return buffer.getvalue()


_FREESECT, _ENDOFCHAIN, _FATSECT, _DIFSECT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFC, 0xFFFFFFFF


def make_ole(
    root_streams: list[str],
    storages: dict[str, list[str]] | None = None,
    *,
    sector_shift: int = 9,
    free_sectors: int = 0,
) -> bytes:
    """A well-formed compound file ([MS-CFB]): streams at the root, and storages holding streams of their own.

    Sectors in order: the FAT, the DIFAT (when the FAT has more than 109 sectors), ``free_sectors`` unused ones,
    the directory, then 4096 bytes of zeros per stream (so no mini stream is needed).
    """
    sector_size = 1 << sector_shift
    per_sector = sector_size // 4
    entries = [{"name": "Root Entry", "type": 5, "children": []}]

    def add(name: str, kind: int, parent: int) -> int:
        entries.append({"name": name, "type": kind, "children": []})
        entries[parent]["children"].append(len(entries) - 1)
        return len(entries) - 1

    for name in root_streams:
        add(name, 2, 0)
    for storage_name, streams in (storages or {}).items():
        parent = add(storage_name, 1, 0)
        for name in streams:
            add(name, 2, parent)

    def tree(ids: list[int]) -> int:  # a balanced tree, so both sibling links are used
        if not ids:
            return _NOSTREAM
        middle = len(ids) // 2
        entries[ids[middle]]["left"] = tree(ids[:middle])
        entries[ids[middle]]["right"] = tree(ids[middle + 1 :])
        return ids[middle]

    for item in entries:
        item["child"] = tree(item["children"])

    stream_count = sum(1 for item in entries if item["type"] == 2)
    directory_sectors = -(-len(entries) // (sector_size // 128))
    stream_sectors = -(-4096 // sector_size)
    data_sectors = free_sectors + directory_sectors + stream_count * stream_sectors
    fat_count = difat_count = 0
    while True:  # the FAT must also cover its own sectors and the DIFAT's
        needed = -(-(fat_count + difat_count + data_sectors) // per_sector)
        needed_difat = -(-max(0, needed - 109) // (per_sector - 1))
        if (needed, needed_difat) == (fat_count, difat_count):
            break
        fat_count, difat_count = needed, needed_difat

    fat = [_FATSECT] * fat_count + [_DIFSECT] * difat_count + [_FREESECT] * free_sectors

    def chain(count: int) -> int:
        start = len(fat)
        fat.extend([*range(start + 1, start + count), _ENDOFCHAIN])
        return start

    first_directory = chain(directory_sectors)
    for item in entries[1:]:
        item["start"], item["size"] = (chain(stream_sectors), 4096) if item["type"] == 2 else (_ENDOFCHAIN, 0)
    fat += [_FREESECT] * (fat_count * per_sector - len(fat))

    def directory_entry(item) -> bytes:
        name = item["name"].encode("utf-16-le")
        return (
            name.ljust(64, b"\0")
            + struct.pack("<HBB", len(name) + 2 if name else 0, item["type"], 1)
            + struct.pack("<III", item.get("left", _NOSTREAM), item.get("right", _NOSTREAM), item["child"])
            + bytes(16 + 4 + 8 + 8)  # CLSID, state bits, creation and modification times
            + struct.pack("<IQ", item.get("start", _ENDOFCHAIN), item.get("size", 0))
        )

    unused = {"name": "", "type": 0, "child": _NOSTREAM}
    directory = b"".join(directory_entry(item) for item in entries)
    directory += directory_entry(unused) * (directory_sectors * sector_size // 128 - len(entries))

    fat_sector_numbers = list(range(fat_count))
    difat = b""
    rest = fat_sector_numbers[109:]
    for index in range(difat_count):
        chunk = rest[index * (per_sector - 1) : (index + 1) * (per_sector - 1)]
        following = fat_count + index + 1 if index + 1 < difat_count else _ENDOFCHAIN
        chunk += [_FREESECT] * (per_sector - 1 - len(chunk))
        difat += struct.pack(f"<{per_sector}I", *chunk, following)

    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        bytes.fromhex("D0CF11E0A1B11AE1"),
        bytes(16),
        0x3E,
        3 if sector_shift == 9 else 4,
        0xFFFE,
        sector_shift,
        6,
        bytes(6),
        0 if sector_shift == 9 else directory_sectors,
        fat_count,
        first_directory,
        0,
        4096,  # mini stream cutoff
        _ENDOFCHAIN,
        0,
        fat_count if difat_count else _ENDOFCHAIN,
        difat_count,
    )
    head = fat_sector_numbers[:109]
    header += struct.pack("<109I", *head, *([_FREESECT] * (109 - len(head))))
    return (
        header.ljust(sector_size, b"\0")
        + struct.pack(f"<{len(fat)}I", *fat)
        + difat
        + bytes(free_sectors * sector_size)
        + directory
        + bytes(stream_count * stream_sectors * sector_size)
    )


SAMPLES = {
    "pdf": make_pdf,
    "png": make_png,
    "jpeg": make_jpeg,
    "doc": lambda: make_ole(["WordDocument", "1Table", "\x05SummaryInformation"]),
    "xls": lambda: make_ole(["Workbook", "\x05SummaryInformation"]),
    "docx": make_docx,
    "xlsx": make_xlsx,
}
EXTENSIONS = {"pdf": "pdf", "png": "png", "jpeg": "jpg", "doc": "doc", "xls": "xls", "docx": "docx", "xlsx": "xlsx"}


def upload(data: bytes, name: str | None) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


def files_on_disk(app) -> set[Path]:
    """Everything under UPLOAD_FOLDER, temp files included."""
    root = Path(app.config["UPLOAD_FOLDER"])
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def rejected(app, data: bytes, name: str | None, **options) -> str:
    """Upload, expect a refusal that leaves nothing behind, and return its message."""
    before = files_on_disk(app)
    with pytest.raises(UploadRejected) as refusal:
        save_upload(upload(data, name), **options)
    assert files_on_disk(app) == before
    assert db.session.scalars(sa.select(StoredFile)).all() == []
    return refusal.value.message


# --- detection ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SAMPLES)
def test_each_kind_is_detected_from_its_content(kind):
    assert detect_kind(SAMPLES[kind]()) == kind


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"<!DOCTYPE html><html><script>alert(1)</script></html>", id="html"),
        pytest.param(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', id="svg"),
        pytest.param(b"MZ\x90\x00\x03\x00\x00\x00" + bytes(56) + b"PE\x00\x00", id="windows-exe"),
        pytest.param(b"\x7fELF\x02\x01\x01" + bytes(57), id="elf"),
        pytest.param(b"#!/bin/sh\nrm -rf /\n", id="script"),
        pytest.param(b"GIF89a\x01\x00\x01\x00", id="gif"),
        pytest.param(b"  %PDF-1.4\n", id="pdf-not-at-start"),
        pytest.param(make_zip({"readme.txt": "hello"}), id="plain-zip"),
        pytest.param(make_zip({"word/document.xml": "<w/>"}), id="zip-without-content-types"),
        pytest.param(
            make_zip({"[Content_Types].xml": CONTENT_TYPES, "word/document.xml": "<w/>", "xl/workbook.xml": "<x/>"}),
            id="zip-both-word-and-excel",
        ),
        pytest.param(b"MZ" + bytes(100) + make_docx(), id="exe-with-appended-docx"),
        pytest.param(b"PK\x03\x04" + bytes(200), id="malformed-zip"),
        pytest.param(make_docx()[:-30], id="truncated-zip"),
        pytest.param(make_ole(["PowerPoint Document", "Current User"]), id="powerpoint"),
        pytest.param(make_ole(["WordDocument", "Workbook"]), id="ole-both-at-root"),
        pytest.param(make_ole(["EncryptedPackage", "EncryptionInfo"]), id="encrypted-ooxml"),
        pytest.param(make_ole(["WordDocument"])[:512], id="ole-header-only"),
        pytest.param(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(100), id="ole-truncated-header"),
    ],
)
def test_other_content_is_not_detected(data):
    assert detect_kind(data) is None


def test_ole_kind_comes_from_the_root_storage_only():
    # A Word file with an embedded workbook, and an Excel file with an embedded Word document.
    assert detect_kind(make_ole(["WordDocument", "1Table"], {"ObjectPool": ["Workbook"]})) == "doc"
    assert detect_kind(make_ole(["Workbook"], {"MBD0001": ["WordDocument"]})) == "xls"
    assert detect_kind(make_ole(["Book"])) == "xls"  # Excel 5/95
    assert detect_kind(make_ole([], {"ObjectPool": ["WordDocument"]})) is None


def test_ole_with_4096_byte_sectors_and_many_entries():
    streams = ["WordDocument", "1Table", "Data", "\x05SummaryInformation", "\x05DocumentSummaryInformation"]
    assert detect_kind(make_ole(streams, {"ObjectPool": ["a", "b", "c"]}, sector_shift=12)) == "doc"


def test_ole_whose_fat_needs_the_difat():
    # Over 7 MB with 512-byte sectors: the directory's FAT entry is in a FAT sector listed only in a DIFAT sector.
    data = make_ole(["Workbook"], free_sectors=109 * 128)
    assert struct.unpack_from("<I", data, 72)[0] == 1  # one DIFAT sector
    assert detect_kind(data) == "xls"


def test_ole_with_a_looping_directory_chain_is_refused():
    data = bytearray(make_ole(["WordDocument"]))
    struct.pack_into("<I", data, 512 + 4, 1)  # FAT entry of the directory sector points at itself
    assert detect_kind(bytes(data)) is None


def _xlsx_parts(extra: dict[str, bytes | str]) -> dict[str, bytes | str]:
    return {"[Content_Types].xml": CONTENT_TYPES, "xl/workbook.xml": "<workbook/>", **extra}


def test_zip_bomb_posing_as_xlsx_is_refused(app, ctx):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in _xlsx_parts({}).items():
            archive.writestr(name, body)
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            for _chunk in range(20):
                member.write(bytes(1024 * 1024))  # 20 MB of zeros: about 1000:1
    bomb = buffer.getvalue()
    assert len(bomb) < 100_000
    assert detect_kind(bomb) is None
    assert "不支持的文件类型" in rejected(app, bomb, "名单.xlsx")


def test_zip_with_too_many_members_is_refused():
    parts = _xlsx_parts({f"xl/media/{number}.bin": b"" for number in range(storage.ZIP_MAX_MEMBERS)})
    assert detect_kind(make_zip(parts)) is None
    fewer = _xlsx_parts({f"xl/media/{number}.bin": b"" for number in range(storage.ZIP_MAX_MEMBERS - 2)})
    assert detect_kind(make_zip(fewer)) == "xlsx"


def test_zip_whose_total_size_is_too_big_is_refused(monkeypatch):
    # 200 MB would take a while to build; the rule is the same with a lower limit.
    workbook = make_xlsx()
    total = sum(member.file_size for member in zipfile.ZipFile(io.BytesIO(workbook)).infolist())
    monkeypatch.setattr(storage, "ZIP_MAX_TOTAL_BYTES", total)
    assert detect_kind(workbook) == "xlsx"
    monkeypatch.setattr(storage, "ZIP_MAX_TOTAL_BYTES", total - 1)
    assert detect_kind(workbook) is None


# --- saving ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SAMPLES)
def test_each_allowed_kind_is_stored_with_its_name_size_and_sha256(app, ctx, kind):
    data = SAMPLES[kind]()
    name = f"协商记录📎.{EXTENSIONS[kind]}"
    stored = save_upload(upload(data, name))

    assert stored.id is not None
    assert (stored.kind, stored.mime_type, stored.original_name) == (kind, KIND_MIME[kind], name)
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    path = Path(app.config["UPLOAD_FOLDER"]) / stored.stored_name
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    key = path.stem
    assert stored.stored_name == f"{key[:2]}/{key[2:4]}/{key}.{EXTENSIONS[kind]}"
    assert not [p for p in files_on_disk(app) if p.name.endswith(".part")]
    assert read_stored(stored) == data


def test_the_audit_log_gets_an_insert_row(ctx, make_user):
    user_id = make_user("township")
    stored = save_upload(upload(make_pdf(), "协商记录📎.pdf"), uploaded_by=user_id)
    row = db.session.scalar(
        sa.select(AuditLog).where(AuditLog.object_type == "StoredFile", AuditLog.object_id == str(stored.id))
    )
    assert row.action == AuditAction.INSERT
    assert row.summary == "协商记录📎.pdf"
    assert row.after["sha256"] == stored.sha256
    assert row.after["uploaded_by_id"] == user_id


@pytest.mark.parametrize("name", ["照片.jpg", "照片.jpeg", "照片.JPG", "照片.Jpeg"])
def test_jpeg_takes_either_extension_in_any_case(ctx, name):
    assert save_upload(upload(make_jpeg(), name)).original_name == name


def test_windows_exe_named_pdf_is_refused(app, ctx):
    exe = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(56) + b"PE\x00\x00" + bytes(200)
    message = rejected(app, exe, "协商记录.pdf")
    assert message == "不支持的文件类型：只能上传 PDF、Word、Excel 或图片（PNG、JPEG）。"


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body><img src=x onerror=alert(1)></body></html>",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    ],
    ids=["html", "svg"],
)
def test_html_and_svg_named_png_are_refused(app, ctx, data):
    assert "不支持的文件类型" in rejected(app, data, "头像.png")


def test_png_named_pdf_is_refused_as_a_mismatch(app, ctx):
    message = rejected(app, make_png(), "report.pdf")
    assert message == "文件内容与扩展名不符：report.pdf 实际上不是 PDF 文件。"


def test_docx_named_xlsx_is_refused_as_a_mismatch(app, ctx):
    assert "实际上不是 XLSX 文件" in rejected(app, make_docx(), "名单.xlsx")


def test_kind_outside_the_allowed_set_is_refused(app, ctx):
    message = rejected(app, make_pdf(), "扫描件.pdf", allowed=storage.IMAGE_KINDS)
    assert message == "不支持的文件类型：只能上传 PNG、JPEG 文件。"
    assert save_upload(upload(make_png(), "扫描件.png"), allowed=storage.IMAGE_KINDS).kind == "png"


def test_empty_file_is_refused(app, ctx):
    assert rejected(app, b"", "空.pdf") == "文件为空。"


def test_file_over_the_limit_is_refused(app, ctx):
    data = make_pdf()
    assert rejected(app, data, "大.pdf", max_bytes=len(data) - 1) == "文件超过 1 KB。"
    assert save_upload(upload(data, "刚好.pdf"), max_bytes=len(data)).size == len(data)


def test_the_default_limit_comes_from_the_config(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_FILE_MB", 1)
    big = make_pdf() + b"%" * (1024 * 1024)
    assert rejected(app, big, "大.pdf") == "文件超过 1 MB。"
    assert save_upload(upload(big[: 1024 * 1024], "刚好.pdf")).size == 1024 * 1024


def test_only_the_limit_plus_one_byte_is_read(ctx):
    stream = io.BytesIO(make_pdf() + bytes(10_000))
    with pytest.raises(UploadRejected):
        save_upload(FileStorage(stream=stream, filename="a.pdf"), max_bytes=100)
    assert stream.tell() == 101


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\张三\\Desktop\\协商记录.pdf", "协商记录.pdf"),
        ("协商\x00记录\n\r\t.pdf", "协商记录.pdf"),
        ("invoice\u202efdp.pdf", "invoicefdp.pdf"),  # a right-to-left override would hide the real extension
        ("家庭👨\u200d👩\u200d👧.pdf", "家庭👨\u200d👩\u200d👧.pdf"),  # joiners inside an emoji stay
        ("  报告.pdf. ", "报告.pdf"),
        ("扫描件", "扫描件.pdf"),  # no extension: the detected one is added
        ("会议纪要 v1.2", "会议纪要 v1.2.pdf"),  # "2" is not an extension
        ("报告.最终版", "报告.最终版.pdf"),
        (".pdf", "file.pdf"),
        ("", "file.pdf"),
        (None, "file.pdf"),
        ("../", "file.pdf"),
    ],
)
def test_names_are_cleaned_but_keep_their_characters(ctx, given, kept):
    assert save_upload(upload(make_pdf(), given)).original_name == kept


def test_long_names_are_trimmed_keeping_the_extension(ctx):
    stored = save_upload(upload(make_pdf(), "很" * 300 + ".pdf"))
    assert len(stored.original_name) == 255
    assert stored.original_name == "很" * 251 + ".pdf"
    db.session.expire(stored)
    assert db.session.get(StoredFile, stored.id).original_name == "很" * 251 + ".pdf"


def test_a_failed_flush_leaves_no_file_behind(app, ctx):
    before = files_on_disk(app)
    with pytest.raises(IntegrityError):
        save_upload(upload(make_pdf(), "a.pdf"), uploaded_by=10**9)  # no such user
    db.session.rollback()
    assert files_on_disk(app) == before


# --- reading and serving -----------------------------------------------------------------------------------


def test_read_stored_detects_a_file_altered_on_disk(app, ctx):
    data = make_pdf()
    stored = save_upload(upload(data, "a.pdf"))
    path = Path(app.config["UPLOAD_FOLDER"]) / stored.stored_name
    path.write_bytes(data.replace(b"200 200", b"300 300"))  # same size, other content
    with pytest.raises(StoredFileCorrupt):
        read_stored(stored)
    path.write_bytes(data + b"\n")
    with pytest.raises(StoredFileCorrupt):
        read_stored(stored)
    path.write_bytes(data[:-1])
    with pytest.raises(StoredFileCorrupt):
        read_stored(stored)
    path.unlink()
    with pytest.raises(StoredFileCorrupt):
        read_stored(stored)


def test_read_stored_refuses_a_stored_name_that_leaves_the_folder(ctx):
    stored = save_upload(upload(make_pdf(), "a.pdf"))
    stored.stored_name = "../../../etc/passwd"
    with pytest.raises(StoredFileCorrupt):
        read_stored(stored)


def test_send_stored_answers_an_attachment_and_404_once_deleted(app, ctx, make_user):
    data = make_pdf()
    stored = save_upload(upload(data, "协商记录📎.pdf"))
    with app.test_request_context():
        response = send_stored(stored)
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('协商记录📎.pdf')}" in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == "application/pdf"
    assert response.get_data() == data

    user_id = make_user("township")
    soft_delete(stored, user_id)
    assert stored.deleted_at is not None and stored.deleted_by_id == user_id
    with app.test_request_context(), pytest.raises(NotFound):
        send_stored(stored)
    # Evidence stays: the bytes are still there and still intact.
    assert (Path(app.config["UPLOAD_FOLDER"]) / stored.stored_name).exists()
    assert read_stored(stored) == data
    update = db.session.scalar(
        sa.select(AuditLog).where(
            AuditLog.object_type == "StoredFile",
            AuditLog.object_id == str(stored.id),
            AuditLog.action == AuditAction.UPDATE,
        )
    )
    assert update.after["deleted_by_id"] == user_id


def test_soft_delete_keeps_the_first_removal(ctx, make_user):
    first, second = make_user("township"), make_user("township")
    stored = save_upload(upload(make_pdf(), "a.pdf"))
    soft_delete(stored, first)
    deleted_at = stored.deleted_at
    soft_delete(stored, second)
    assert (stored.deleted_at, stored.deleted_by_id) == (deleted_at, first)


def test_send_stored_of_a_corrupt_file_raises(app, ctx):
    stored = save_upload(upload(make_pdf(), "a.pdf"))
    os.remove(Path(app.config["UPLOAD_FOLDER"]) / stored.stored_name)
    with app.test_request_context(), pytest.raises(StoredFileCorrupt):
        send_stored(stored)


def test_an_upload_whose_transaction_does_not_commit_leaves_no_file(app, ctx):
    """The bytes go to disk before the row is committed: a rollback (or a session closed without commit) takes
    them away again; a savepoint rolled back inside a transaction that commits keeps what the transaction stored
    before it; a commit keeps them."""
    root = Path(app.config["UPLOAD_FOLDER"])
    rolled_back = root / save_upload(upload(make_pdf(), "退回.pdf")).stored_name
    assert rolled_back.exists()
    db.session.rollback()
    assert not rolled_back.exists()

    closed = root / save_upload(upload(make_pdf(), "未提交.pdf")).stored_name
    db.session.close()
    assert not closed.exists()

    kept = root / save_upload(upload(make_pdf(), "保留.pdf")).stored_name
    savepoint = db.session.begin_nested()
    save_upload(upload(make_png(), "撤回.png"))
    savepoint.rollback()
    assert kept.exists()  # the savepoint's rollback is not the transaction's
    db.session.commit()
    db.session.rollback()  # a later rollback concerns only what came after the commit
    assert kept.read_bytes() == make_pdf()
