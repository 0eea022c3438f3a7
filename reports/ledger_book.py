"""协商议事台账: every consultation (协商记录表, 001 annex 2) of the communities given, with every field of the form,
the vote and whether the agreement holds (more than two thirds of those present voted for it,
:func:`app.tracking.ledger.agreement_holds`). One query whatever the number of records; removed records are left out.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import gettext as _

from app.database import CHINA
from app.extensions import db
from app.places.models import Community, Township
from app.tracking import ledger
from app.tracking.models import ConsultationRecord
from reports.xlsx import Column, Sheet


def _china_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=CHINA)


def records(condition=sa.true(), start: date | None = None, end: date | None = None) -> list[ConsultationRecord]:
    """The records under ``condition`` (on Community / ConsultationRecord) held from ``start`` to ``end`` (China
    dates, both included), by township, community and time."""
    query = (
        sa.select(ConsultationRecord)
        .join(Community, Community.id == ConsultationRecord.community_id)
        .join(Township, Township.id == Community.township_id)
        .where(ConsultationRecord.deleted_at.is_(None), condition)
        .options(sa.orm.contains_eager(ConsultationRecord.community).contains_eager(Community.township),
                 sa.orm.joinedload(ConsultationRecord.matter), sa.orm.joinedload(ConsultationRecord.excluded_rule))
        .order_by(Township.sort_order, Township.id, Community.sort_order, Community.id, ConsultationRecord.held_at,
                  ConsultationRecord.id)
    )
    if start is not None:
        query = query.where(ConsultationRecord.held_at >= _china_midnight(start))
    if end is not None:
        query = query.where(ConsultationRecord.held_at < _china_midnight(end + timedelta(days=1)))
    return list(db.session.scalars(query).unique())


def columns() -> list[Column]:
    return [
        Column("number", _("编号"), "int"),
        Column("township", _("镇(街道)")),
        Column("community", _("村(社区)")),
        Column("topic", _("协商议题"), width=30),
        Column("matter", _("议题类别")),
        Column("excluded", _("“五不议”事项")),
        Column("unit_level", _("协商单元")),
        Column("unit_name", _("单元名称")),
        Column("parties", _("协商主体"), width=30),
        Column("held_at", _("协商时间"), "datetime"),
        Column("place", _("协商地点")),
        Column("form", _("协商方式")),
        Column("host", _("协商主持人")),
        Column("recorder", _("协商记录员")),
        Column("supervisor", _("协商监督员")),
        Column("proceedings", _("协商过程"), width=40),
        Column("present", _("表决人数"), "int", total=True),
        Column("votes_for", _("赞成人数"), "int", total=True),
        Column("votes_against", _("反对人数"), "int", total=True),
        Column("abstain", _("弃权人数"), "int", total=True),
        Column("share_for", _("赞成比例"), "percent"),
        Column("holds", _("协商结果成立（赞成超过三分之二）")),
        Column("outcome", _("协商结果"), width=40),
        Column("follow_up", _("落实与监督"), width=40),
    ]


def row(record: ConsultationRecord) -> dict:
    matter = record.matter
    return {
        "number": record.id,
        "township": record.community.township.name,
        "community": record.community.name,
        "topic": record.topic,
        "matter": f"{matter.category}：{matter.item}" if matter is not None else "",
        "excluded": record.excluded_rule.text if record.excluded_rule is not None else "",
        "unit_level": record.unit_level.title,
        "unit_name": record.unit_name,
        "parties": record.parties,
        "held_at": record.held_at,
        "place": record.place,
        "form": record.form,
        "host": record.host,
        "recorder": record.recorder,
        "supervisor": record.supervisor,
        "proceedings": record.proceedings,
        "present": record.present,
        "votes_for": record.votes_for,
        "votes_against": record.votes_against,
        "abstain": record.abstain,
        # Exact until the writer puts it into the cell; none when nobody was present.
        "share_for": Decimal(record.votes_for) / Decimal(record.present) if record.present else None,
        "holds": _("是") if ledger.record_passed(record) else _("否"),
        "outcome": record.outcome,
        "follow_up": record.follow_up,
    }


def sheet(condition=sa.true(), start: date | None = None, end: date | None = None, *, title: str = "") -> Sheet:
    found = records(condition, start, end)
    held = sum(1 for record in found if ledger.record_passed(record))
    notes = [_("共 %(n)d 次协商，其中 %(h)d 次协商结果成立（赞成人数超过表决人数的三分之二）。", n=len(found), h=held)]
    if start or end:
        notes.append(_("协商时间：%(a)s 至 %(b)s", a=start.isoformat() if start else "…",
                       b=end.isoformat() if end else "…"))
    flagged = sum(1 for record in found if record.excluded_rule_id is not None)
    if flagged:
        notes.append(_("其中 %(n)d 次的议题属于“五不议”事项，请核实。", n=flagged))
    return Sheet(name=_("协商议事台账"), columns=columns(), rows=[row(record) for record in found],
                 title=title or _("协商议事台账"), notes=notes, freeze_columns=4)
