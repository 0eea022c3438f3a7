"""拟确定名单 (and, once final, the list of sites): who, from which township, with which tier and money."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from flask_babel import gettext as _

from app.applications.models import Application
from app.extensions import db
from app.programmes.models import FundingTier, Programme
from app.scoring.aggregate import to_decimal
from app.scoring.models import Selection, SelectionEntry
from app.scoring.ranking import programme_ranking
from app.scoring.selection import list_name
from reports.xlsx import Column, Sheet


def load(programme: Programme) -> Selection | None:
    """The programme's list with its entries, their applications, places and tiers loaded in a fixed number of
    queries, so that :func:`sheet` makes none per row."""
    return db.session.scalar(
        sa.select(Selection).where(Selection.programme_id == programme.id).options(
            sa.orm.selectinload(Selection.entries).options(
                sa.orm.joinedload(SelectionEntry.application).options(
                    sa.orm.joinedload(Application.township), sa.orm.joinedload(Application.community)),
                sa.orm.joinedload(SelectionEntry.tier).selectinload(FundingTier.amounts))))


def sheet(selection: Selection) -> Sheet:
    """The list in its order; ``selection`` is best loaded by :func:`load` (else its entries load one by one)."""
    programme = selection.programme
    means = {row.application.id: row.ranked for row in programme_ranking(programme)}
    columns = [
        Column("position", _("序号"), "int"),
        Column("reference", _("编号")),
        Column("township", _("镇(街道)")),
        Column("community", _("村(社区)")),
        Column("rank", _("评审排名"), "int"),
        Column("mean", _("平均分"), "decimal"),
        Column("tier", _("补助档次")),
        Column("amount", _("补助金额（元）"), "money_fen", total=True),
        Column("reason", _("调整理由"), width=30),
    ]

    def rows() -> Iterator[dict]:
        for entry in sorted(selection.entries, key=lambda e: e.position):
            ranked = means.get(entry.application_id)
            yield {
                "position": entry.position,
                "reference": entry.application.reference,
                "township": entry.application.township.name,
                "community": entry.application.community.name,
                "rank": ranked.position if ranked else None,
                "mean": to_decimal(ranked.mean) if ranked and ranked.mean is not None else None,
                "tier": entry.tier.name if entry.tier else "",
                "amount": entry.tier.total_fen if entry.tier else None,
                "reason": entry.swap_reason,
            }

    title = _("%(name)s %(kind)s", name=programme.name, kind=list_name(selection.status))
    notes = []
    if selection.publicity_start:
        notes.append(_("公示期：%(a)s 至 %(b)s", a=selection.publicity_start.isoformat(),
                       b=selection.publicity_end.isoformat()))
    return Sheet(name=_("名单"), columns=columns, rows=rows(), title=title, notes=notes)
