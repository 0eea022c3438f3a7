"""档案完整性检查表: a programme's sites × the eight kinds of archive material, the count of each, and how complete.

Counts come from :func:`app.tracking.archive.completeness_many` (one grouped query, removed items left out) and the
percentage from :func:`app.tracking.archive.percent_complete`, as on the archive pages.
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from flask_babel import gettext as _

from app.extensions import db
from app.funding.models import Site
from app.places.models import Township
from app.programmes.models import Programme
from app.tracking import archive
from reports.xlsx import Column, Sheet

NUMBERS = "①②③④⑤⑥⑦⑧"


def kind_key(index: int) -> str:
    return f"k{index + 1}"


def sheet(programme: Programme, site_filter=sa.true()) -> Sheet:
    sites = db.session.scalars(
        sa.select(Site).join(Township, Township.id == Site.township_id)
        .where(Site.programme_id == programme.id, site_filter)
        .options(sa.orm.contains_eager(Site.township), sa.orm.joinedload(Site.community))
        .order_by(Township.sort_order, Township.id, Site.rank, Site.id)
    ).unique().all()
    counts = archive.completeness_many(site.id for site in sites)
    kinds = archive.KINDS
    columns = [
        Column("township", _("镇(街道)")),
        Column("community", _("村(社区)")),
        *[Column(kind_key(i), kind.title, "int", width=14, total=True) for i, kind in enumerate(kinds)],
        Column("filled", _("已有材料类别数"), "int", total=True),
        Column("percent", _("完整度"), "percent"),
        Column("missing", _("缺少的类别"), width=20),
    ]
    rows = []
    complete = 0
    for site in sites:
        own = counts[site.id]
        filled = sum(1 for kind in kinds if own[kind] > 0)
        complete += filled == len(kinds)
        rows.append({
            "township": site.township.name,
            "community": site.community.name,
            **{kind_key(i): own[kind] for i, kind in enumerate(kinds)},
            "filled": filled,
            "percent": Decimal(archive.percent_complete(own)) / 100,
            "missing": "".join(NUMBERS[i] for i, kind in enumerate(kinds) if own[kind] == 0),
        })
    notes = [
        _("共 %(n)d 个项目点，其中 %(c)d 个八类材料齐全。", n=len(sites), c=complete),
        _("各类别列为该类材料的份数（已删除的不计）；完整度 = 已有材料的类别数 ÷ 8（百分比向下取整）。"),
    ]
    return Sheet(name=_("档案完整性"), columns=columns, rows=rows, notes=notes, header_height=75, freeze_columns=2,
                 title=_("%(name)s 档案完整性检查表", name=programme.name))
