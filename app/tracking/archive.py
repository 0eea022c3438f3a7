"""The project archive (项目档案) of a site: the eight kinds of material of the 003 notice.

Operations flush and never commit. Items are never destroyed: removing one marks the item and its file, and
the checklist, the counts and the zip leave it out from then on.
"""

from __future__ import annotations

import functools
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, format_datetime
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload
from werkzeug.datastructures import FileStorage

from app.database import CHINA, china_today, utcnow
from app.extensions import db
from app.files.storage import StoredFileCorrupt, UploadRejected, read_stored, save_upload, soft_delete
from app.funding.models import Site
from app.places.models import Community, Township
from app.refusal import Refusal
from app.statements import Mark, Remembered, remembered_for_filter, scoped_statement, select_rows
from app.tracking.models import ArchiveItem, ArchiveKind

KINDS = list(ArchiveKind)
_KIND_ORDER = {kind: index for index, kind in enumerate(KINDS)}
TITLE_MAX = 120
INDEX_NAME = "目录.txt"
INDENT = "\u3000\u3000"  # two ideographic spaces, as in a printed 目录
# Characters Windows refuses in a file name; a name from the zip must unpack there too.
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*\\/]')
_UTF8_FLAG = 0x800


class ArchiveError(Refusal):
    """A step refused; ``message`` is for the user and ``field`` names the form field it belongs to."""


def _uid(user) -> int | None:
    if user is None or isinstance(user, int):
        return user
    return user.id


def programme_start(site: Site) -> date:
    return date(site.programme.year, 1, 1)


def check_item_date(site: Site, item_date: date | None, today: date | None = None) -> None:
    """Refuse a date before the programme's year began or after today (China)."""
    if item_date is None:
        raise ArchiveError(_("请填写材料日期。"), "item_date")
    start = programme_start(site)
    if item_date < start:
        raise ArchiveError(_("材料日期不能早于项目年度开始（%(start)s）：本项目为 %(year)d 年度项目。",
                             start=start.isoformat(), year=site.programme.year), "item_date")
    today = today or china_today()
    if item_date > today:
        raise ArchiveError(_("材料日期不能晚于今天（%(today)s）。", today=today.isoformat()), "item_date")


def add_item(site: Site, kind: ArchiveKind | str, title: str, item_date: date | None, description: str,
             upload: FileStorage | None, user, *, today: date | None = None) -> ArchiveItem:
    """Store ``upload`` (any document kind, checked by content) as one item of ``kind`` in the site's archive.

    Everything is checked before the file is written, so a refused item leaves nothing behind.
    """
    try:
        kind = ArchiveKind(kind)
    except ValueError as error:
        raise ArchiveError(_("请选择材料类别。"), "kind") from error
    title = (title or "").strip()
    if len(title) > TITLE_MAX:
        raise ArchiveError(_("不能超过 %(max)d 个字符。", max=TITLE_MAX), "title")
    check_item_date(site, item_date, today)
    if upload is None or not getattr(upload, "filename", ""):
        raise ArchiveError(_("请选择要上传的文件。"), "file")
    try:
        stored = save_upload(upload, uploaded_by=user)
    except UploadRejected as error:
        raise ArchiveError(error.message, "file") from error
    if not title:
        title = stored.original_name.rsplit(".", 1)[0][:TITLE_MAX]
    item = ArchiveItem(site_id=site.id, kind=kind, title=title, item_date=item_date,
                       description=(description or "").strip(), file_id=stored.id, uploaded_by_id=_uid(user))
    item.file = stored
    db.session.add(item)
    db.session.flush()
    return item


def remove_item(item: ArchiveItem, user) -> None:
    """Soft delete: the item and its file are marked, the row and the bytes stay. A second removal changes nothing."""
    if item.deleted_at is not None:
        return
    item.deleted_at = utcnow()
    item.deleted_by_id = _uid(user)
    soft_delete(item.file, user)
    db.session.flush()


# --- reading -----------------------------------------------------------------------------------------------


def _live():
    return ArchiveItem.deleted_at.is_(None)


def sort_key(item: ArchiveItem):
    return _KIND_ORDER[item.kind], item.item_date, item.id


def items_of(site: Site) -> list[ArchiveItem]:
    """The site's items that are not removed, with their files, in checklist order (kind, date)."""
    items = db.session.scalars(
        sa.select(ArchiveItem).where(ArchiveItem.site_id == site.id, _live()).options(joinedload(ArchiveItem.file))
    ).all()
    return sorted(items, key=sort_key)


def by_kind(items: Iterable[ArchiveItem]) -> dict[ArchiveKind, list[ArchiveItem]]:
    grouped: dict[ArchiveKind, list[ArchiveItem]] = {kind: [] for kind in KINDS}
    for item in items:
        grouped[item.kind].append(item)
    return grouped


def completeness(site: Site) -> list[tuple[ArchiveKind, int]]:
    """Every kind in checklist order with the number of items the site has for it (0 for an empty kind)."""
    counts = dict(db.session.execute(
        sa.select(ArchiveItem.kind, sa.func.count(ArchiveItem.id))
        .where(ArchiveItem.site_id == site.id, _live())
        .group_by(ArchiveItem.kind)
    ).tuples().all())
    return [(kind, counts.get(kind, 0)) for kind in KINDS]


def missing_kinds(counts: Iterable[tuple[ArchiveKind, int]]) -> list[ArchiveKind]:
    return [kind for kind, count in counts if count == 0]


def _held_at(moment) -> sa.ColumnElement:
    """Items the archive held at ``moment``: added before it, and not removed by then."""
    return sa.and_(ArchiveItem.created_at < moment,
                   sa.or_(ArchiveItem.deleted_at.is_(None), ArchiveItem.deleted_at >= moment))


@functools.cache
def _counts_statement(at_moment: bool = False) -> sa.Select:
    kept = _held_at(sa.bindparam("at", type_=ArchiveItem.created_at.type)) if at_moment else _live()
    return (sa.select(ArchiveItem.site_id, ArchiveItem.kind, sa.func.count(ArchiveItem.id))
            .where(ArchiveItem.site_id.in_(sa.bindparam("site_ids", expanding=True)), kept)
            .group_by(ArchiveItem.site_id, ArchiveItem.kind))


def completeness_many(site_ids: Iterable[int], at: datetime | None = None) -> dict[int, dict[ArchiveKind, int]]:
    """{site id: {kind: count}} for every given site and every kind, in one grouped query. ``at``: count the items
    the archive held at that moment instead of those it holds now."""
    site_ids = list(dict.fromkeys(site_ids))
    result: dict[int, dict[ArchiveKind, int]] = {site_id: dict.fromkeys(KINDS, 0) for site_id in site_ids}
    if not site_ids:
        return result
    params = {"site_ids": site_ids} if at is None else {"site_ids": site_ids, "at": at}
    for site_id, kind, count in select_rows(_counts_statement(at is not None), **params):
        result[site_id][ArchiveKind(kind)] = count
    return result


def _completeness_statement(site_filter) -> sa.Select:
    live = (sa.select(ArchiveItem.site_id, ArchiveItem.kind)
            .join(Site, Site.id == ArchiveItem.site_id)
            .where(Site.programme_id == sa.bindparam("programme_id"), site_filter, _live()))
    by_kind = (live.with_only_columns(ArchiveItem.kind, sa.func.count(sa.distinct(ArchiveItem.site_id)))
               .group_by(ArchiveItem.kind))
    full = (live.with_only_columns(ArchiveItem.site_id).group_by(ArchiveItem.site_id)
            .having(sa.func.count(sa.distinct(ArchiveItem.kind)) == len(KINDS)).subquery())
    # The sites with all eight kinds come as the row whose kind is NULL.
    return sa.union_all(by_kind, sa.select(sa.null().cast(ArchiveItem.kind.type), sa.func.count())
                        .select_from(full))


# A programme's completeness per viewer's site filter, remembered until any data changes (archive items are
# soft-deleted in place, so their own ids are no fingerprint): at province scale it reads some 15,000 items of
# 1,600 sites (11 ms), and the checklist shows it on every view.
_COMPLETENESS = Remembered()


def programme_completeness(programme, site_filter=sa.true(), mark: Mark = None
                           ) -> tuple[dict[ArchiveKind, int], int]:
    """Over every site of the programme the filter lets through: ({kind: sites with at least one item of it},
    the number of sites with all eight kinds), in one statement whatever the number of sites. ``mark``: the
    :func:`changes_mark` the caller read (otherwise read here)."""

    def compute() -> tuple[dict[ArchiveKind, int], int]:
        counts = {kind: number for kind, number in select_rows(
            scoped_statement(_completeness_statement, site_filter), programme_id=programme.id)}
        complete = counts.pop(None, 0)
        return {kind: counts.get(kind, 0) for kind in KINDS}, complete

    return remembered_for_filter(_COMPLETENESS, (programme.id,), site_filter, mark, compute)


def _checklist_statement(site_filter) -> sa.Select:
    """The page's sites are chosen first, then named (as the reconciliation's, app.funding.queries)."""
    page = (sa.select(Site.id, Site.township_id, Site.community_id, Township.sort_order, Site.rank,
                      sa.func.count().over().label("total_rows"))
            .join(Township, Township.id == Site.township_id)
            .where(Site.programme_id == sa.bindparam("programme_id"), site_filter)
            .order_by(Township.sort_order, Site.rank, Site.id)
            .limit(sa.bindparam("limit")).offset(sa.bindparam("offset"))).subquery()
    return (sa.select(page.c.id, Township.name.label("township"), Community.name.label("community"),
                      page.c.total_rows)
            .select_from(page)
            .join(Township, Township.id == page.c.township_id)
            .outerjoin(Community, Community.id == page.c.community_id)
            .order_by(page.c.sort_order, page.c.rank, page.c.id))


def checklist_page(programme, site_filter, number: int, size: int) -> tuple[list[sa.Row], int]:
    """Page ``number`` (from 1) of ``size`` sites of the checklist (by township, then rank) as (``id``, ``township``,
    ``community``), and how many sites there are in all: one statement (two for a page past the end)."""
    statement = scoped_statement(_checklist_statement, site_filter)
    rows = select_rows(statement, programme_id=programme.id, limit=size, offset=(number - 1) * size)
    if not rows and number > 1:
        first = select_rows(statement, programme_id=programme.id, limit=1, offset=0)
        return [], first[0].total_rows if first else 0
    return rows, rows[0].total_rows if rows else 0


# Pages of the checklist (their sites and the count of each kind) per viewer's site filter, under
# app.statements.changes_mark (sites, townships, communities and archive items are audited).
_CHECKLIST_PAGES = Remembered()


def checklist_page_with_counts(programme, site_filter, number: int, size: int, mark: Mark
                               ) -> tuple[list[sa.Row], int, dict[int, dict[ArchiveKind, int]]]:
    """:func:`checklist_page` and the :func:`completeness_many` of its sites, remembered under ``mark`` (the
    :func:`changes_mark` the caller read; None: read it here). The results are shared: read them only."""

    def read() -> tuple[list[sa.Row], int, dict[int, dict[ArchiveKind, int]]]:
        sites, total = checklist_page(programme, site_filter, number, size)
        return sites, total, completeness_many(site.id for site in sites)

    return remembered_for_filter(_CHECKLIST_PAGES, (programme.id, number, size), site_filter, mark, read)


def percent_complete(counts: dict[ArchiveKind, int]) -> int:
    """The share of the eight kinds that have at least one item, as a whole percentage (rounded down)."""
    filled = sum(1 for kind in KINDS if counts.get(kind, 0) > 0)
    return filled * 100 // len(KINDS)


# --- the zip -----------------------------------------------------------------------------------------------


def kind_title(kind: ArchiveKind) -> str:
    """The kind's Chinese title (the msgid), whatever the user's language."""
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_Hans_CN")):
        return kind.title


def safe_name(name: str) -> str:
    """A file name that unpacks on Windows as well: no reserved characters, no trailing dots or spaces."""
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc")
    name = _WINDOWS_FORBIDDEN.sub("_", name).strip().rstrip(". ")
    if not name or set(name) <= {"."}:
        name = "file"
    return name


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or "名称 (2).pdf", "名称 (3).pdf" … when a file of that name (ignoring case) is already there."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    candidate, number = name, 1
    while candidate.casefold() in taken:
        number += 1
        candidate = f"{stem} ({number})" + (f".{extension}" if extension else "")
    taken.add(candidate.casefold())
    return candidate


def _zip_time(moment: datetime | None) -> tuple[int, int, int, int, int, int]:
    local = (moment or utcnow()).astimezone(CHINA)
    if local.year < 1980:  # the zip format starts in 1980
        return 1980, 1, 1, 0, 0, 0
    return local.year, local.month, local.day, local.hour, local.minute, local.second


def _entry(name: str, moment: datetime | None, directory: bool = False) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_zip_time(moment))
    # The names are UTF-8; the flag tells Windows Explorer and 7-Zip so (zipfile sets it for non-ASCII names
    # anyway; set here for every entry so the whole archive says the same).
    info.flag_bits |= _UTF8_FLAG
    info.create_system = 0  # MS-DOS attributes, which Windows reads
    if directory:
        info.external_attr = 0x10  # MS-DOS directory
        info.compress_type = zipfile.ZIP_STORED
    else:
        info.external_attr = 0x20  # MS-DOS archive bit: a plain file
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def build_zip(site: Site, *, now: datetime | None = None) -> bytes:
    """The site's whole archive as one zip: a folder per kind (by its Chinese title), the files under their
    original names, and 目录.txt listing every item. Each file is read back and checked against its sha256.

    Raises :class:`ArchiveError` naming the item when a stored file is missing or damaged.
    """
    now = now or utcnow()
    items = items_of(site)
    grouped = by_kind(items)
    buffer = io.BytesIO()
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_Hans_CN")):
        index_lines = [
            _("项目档案目录"),
            _("项目：%(programme)s", programme=site.programme.name),
            _("镇(街道)：%(township)s　村(社区)：%(community)s", township=site.township.name,
              community=site.community.name),
            _("导出时间：%(at)s　材料共 %(n)d 份", at=format_datetime(now, "yyyy-MM-dd HH:mm"), n=len(items)),
            "",
        ]
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for kind in KINDS:
                folder = safe_name(kind_title(kind))
                archive.writestr(_entry(f"{folder}/", now, directory=True), b"")
                kind_items = grouped[kind]
                index_lines.append(_("%(kind)s（%(n)d 份）", kind=kind_title(kind), n=len(kind_items)))
                if not kind_items:
                    index_lines += [INDENT + _("（暂无材料）"), ""]
                    continue
                taken: set[str] = set()
                for number, item in enumerate(kind_items, start=1):
                    try:
                        data = read_stored(item.file)
                    except StoredFileCorrupt as error:
                        raise ArchiveError(_("档案材料“%(title)s”的文件已丢失或损坏，无法打包，请联系系统管理员。",
                                             title=item.title)) from error
                    name = unique_name(safe_name(item.file.original_name), taken)
                    archive.writestr(_entry(f"{folder}/{name}", item.created_at), data)
                    index_lines.append(f"{INDENT}{number}. {item.title}")
                    index_lines.append(INDENT * 2 + _("日期：%(date)s", date=item.item_date.isoformat()))
                    if item.description:
                        description = " ".join(item.description.split())
                        index_lines.append(INDENT * 2 + _("说明：%(text)s", text=description))
                    index_lines.append(INDENT * 2 + _("文件：%(path)s", path=f"{folder}/{name}"))
                index_lines.append("")
            # UTF-8 with a byte order mark and CRLF, so that Notepad on any Windows shows the Chinese.
            text = "\r\n".join(index_lines) + "\r\n"
            archive.writestr(_entry(INDEX_NAME, now), b"\xef\xbb\xbf" + text.encode("utf-8"))
    return buffer.getvalue()


def zip_filename(site: Site) -> str:
    return f"项目档案_{site.programme.year}_{site.township.name}_{site.community.name}.zip"
