"""Places: creating and editing communities, and importing a community list from Excel."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_babel import gettext as _

from app.extensions import db
from app.formatting import listing
from app.places.models import Community, CommunityKind, Township

if TYPE_CHECKING:
    import pandas as pd

IMPORT_COLUMNS = ("镇(街道)", "名称", "类型")
MAX_IMPORT_ROWS = 5000
_KIND_WORDS = {
    "村": CommunityKind.VILLAGE,
    "village": CommunityKind.VILLAGE,
    "社区": CommunityKind.COMMUNITY,
    "community": CommunityKind.COMMUNITY,
}


def create_community(township: Township, name: str, kind: CommunityKind) -> Community:
    community = Community(township=township, name=name.strip(), kind=kind)
    db.session.add(community)
    db.session.flush()
    return community


def update_community(community: Community, *, name: str, kind: CommunityKind, active: bool) -> None:
    community.name = name.strip()
    community.kind = kind
    community.active = active
    db.session.flush()


def name_taken(township_id: int, name: str, except_id: int | None = None) -> bool:
    query = sa.select(Community.id).where(Community.township_id == township_id, Community.name == name.strip())
    if except_id is not None:
        query = query.where(Community.id != except_id)
    return db.session.scalar(query) is not None


@dataclass
class ImportReport:
    errors: list[tuple[int, str]] = field(default_factory=list)  # (Excel row number, message)
    created: list[Community] = field(default_factory=list)
    rows_read: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _read_sheet(data: bytes) -> pd.DataFrame:
    import pandas as pd  # imported on first use: it adds about 40 MB to every worker

    return pd.read_excel(io.BytesIO(data), sheet_name=0, dtype=str, engine="openpyxl", keep_default_na=False)


def import_communities(data: bytes) -> ImportReport:
    """Check every row of an uploaded sheet; add the communities only if no row has an error.

    Errors carry the Excel row number (the header is row 1). Nothing is flushed when any row is wrong.
    """
    report = ImportReport()
    try:
        frame = _read_sheet(data)
    except Exception:  # noqa: BLE001 - any unreadable upload is the same problem for the user
        report.errors.append((0, _("无法读取该文件：请上传 Excel (.xlsx) 文件。")))
        return report
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in IMPORT_COLUMNS if c not in frame.columns]
    if missing:
        report.errors.append((1, _("缺少表头：%(cols)s。第一行应为：%(all)s。", cols=listing(missing),
                                   all=listing(IMPORT_COLUMNS))))
        return report
    if len(frame) > MAX_IMPORT_ROWS:
        report.errors.append((0, _("一次最多导入 %(n)d 行。", n=MAX_IMPORT_ROWS)))
        return report

    townships = {t.name: t for t in db.session.scalars(sa.select(Township))}
    existing = set(db.session.execute(sa.select(Community.township_id, Community.name)).tuples())
    seen: dict[tuple[int, str], int] = {}
    pending: list[tuple[Township, str, CommunityKind]] = []
    for index, row in frame.iterrows():
        excel_row = int(index) + 2
        township_name = str(row["镇(街道)"]).strip()
        name = str(row["名称"]).strip()
        kind_word = str(row["类型"]).strip()
        if not township_name and not name and not kind_word:
            continue  # blank lines between blocks are common in hand-made sheets
        report.rows_read += 1
        row_errors = []
        township = townships.get(township_name)
        if township is None:
            row_errors.append(_("未知的镇(街道)“%(name)s”", name=township_name) if township_name
                              else _("镇(街道)为空"))
        if not name:
            row_errors.append(_("名称为空"))
        elif len(name) > 60:
            row_errors.append(_("名称超过 60 个字符"))
        kind = _KIND_WORDS.get(kind_word.lower())
        if kind is None:
            row_errors.append(_("类型应为“村”或“社区”"))
        if township is not None and name:
            key = (township.id, name)
            if key in existing:
                row_errors.append(_("“%(name)s”已存在于%(township)s", name=name, township=township.name))
            elif key in seen:
                row_errors.append(_("与第 %(row)d 行重复", row=seen[key]))
            else:
                seen[key] = excel_row
        if row_errors:
            report.errors.append((excel_row, "；".join(row_errors)))
        else:
            pending.append((township, name, kind))
    if report.rows_read == 0 and not report.errors:
        report.errors.append((0, _("文件中没有数据行。")))
    if report.errors:
        return report
    for township, name, kind in pending:
        community = Community(township=township, name=name, kind=kind)
        db.session.add(community)
        report.created.append(community)
    db.session.flush()
    return report
