"""通报 list: the bureau's notices to townships about slow progress, and how many each township received.

One query whatever the number of notices; ``condition`` (on ProgressNotice / Programme / Township) says which.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _

from app.accounts.models import User
from app.extensions import db
from app.places.models import Township
from app.programmes.models import Programme
from app.tracking.models import ProgressNotice
from reports.xlsx import Column, Sheet


def sheets(condition=sa.true(), start: date | None = None, end: date | None = None, *, title: str = "") -> list[Sheet]:
    """The list (by date) and the count per township; ``start``/``end`` bound the issue date, both included."""
    query = (
        sa.select(ProgressNotice.id, ProgressNotice.issued_on, ProgressNotice.title, ProgressNotice.content,
                  Programme.name.label("programme"), Programme.year, Township.id.label("township_id"),
                  Township.name.label("township"), Township.sort_order,
                  sa.func.coalesce(sa.func.nullif(User.display_name, ""), User.username, "").label("issuer"))
        .join(Programme, Programme.id == ProgressNotice.programme_id)
        .join(Township, Township.id == ProgressNotice.township_id)
        .outerjoin(User, User.id == ProgressNotice.issued_by_id)
        .where(condition)
        .order_by(ProgressNotice.issued_on, ProgressNotice.id)
    )
    if start is not None:
        query = query.where(ProgressNotice.issued_on >= start)
    if end is not None:
        query = query.where(ProgressNotice.issued_on <= end)
    found = db.session.execute(query).all()
    listing = [
        {"number": number, "issued_on": notice.issued_on, "programme": notice.programme, "year": notice.year,
         "township": notice.township, "title": notice.title, "content": notice.content, "issuer": notice.issuer}
        for number, notice in enumerate(found, start=1)
    ]
    per_township: dict[int, dict] = {}
    for notice in found:
        entry = per_township.setdefault(notice.township_id, {"township": notice.township, "count": 0, "last": None,
                                                             "_order": (notice.sort_order, notice.township_id)})
        entry["count"] += 1
        entry["last"] = max(entry["last"] or notice.issued_on, notice.issued_on)
    counts = [{key: value for key, value in entry.items() if key != "_order"}
              for entry in sorted(per_township.values(), key=lambda entry: (-entry["count"], entry["_order"]))]
    title = title or _("通报")
    notes = [_("共 %(n)d 条通报。", n=len(found))]
    if start or end:
        notes.append(_("通报日期：%(a)s 至 %(b)s", a=start.isoformat() if start else "…",
                       b=end.isoformat() if end else "…"))
    return [
        Sheet(name=_("通报"), title=title, notes=notes, rows=listing, columns=[
            Column("number", _("序号"), "int"),
            Column("issued_on", _("通报日期"), "date"),
            Column("programme", _("项目")),
            Column("year", _("年度"), "int"),
            Column("township", _("镇(街道)")),
            Column("title", _("标题"), width=30),
            Column("content", _("内容"), width=60),
            Column("issuer", _("签发人")),
        ]),
        Sheet(name=_("按镇统计"), title=title, notes=notes, rows=counts, columns=[
            Column("township", _("镇(街道)")),
            Column("count", _("通报次数"), "int", total=True),
            Column("last", _("最近一次"), "date"),
        ]),
    ]
