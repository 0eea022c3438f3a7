"""协商议事台账: every consultation (协商记录表, 001 annex 2) of the communities given, with every field of the form,
the vote and whether the agreement holds (more than two thirds of those present voted for it,
:func:`app.tracking.ledger.agreement_holds`). Two queries whatever the number of records: the counts, then the
columns the sheet shows, streamed (no ORM objects: a city's five years are tens of thousands of records); removed
records are left out.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import gettext as _

from app.applications.models import UnitLevel
from app.database import CHINA
from app.extensions import db
from app.places.models import Community, Township
from app.tracking import ledger
from app.tracking.models import ConsultationMatter, ConsultationRecord, ConsultationRule
from reports.xlsx import Column, Sheet


def _china_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=CHINA)


# The most records one book lists. A city's five years are about 10,000 consultations and fit whole; a province's
# are 300,000: 7 million cells, minutes of writing and a gigabyte in a worker (the shelf also shows the rows as a
# web page). Beyond this the book lists the first records in its order and says so, while the counts in its notes
# are of every matching record (one aggregate query); the bureau narrows by year or township for the rest.
LIST_LIMIT = 20_000


def _matching(columns: list, condition, start: date | None, end: date | None) -> sa.Select:
    """``columns`` of the records under ``condition`` (on Community / ConsultationRecord) held from ``start`` to
    ``end`` (China dates, both included); removed records left out."""
    record = ConsultationRecord
    query = (
        sa.select(*columns)
        .select_from(record)
        .join(Community, Community.id == record.community_id)
        .join(Township, Township.id == Community.township_id)
        .where(record.deleted_at.is_(None), condition)
    )
    if start is not None:
        query = query.where(record.held_at >= _china_midnight(start))
    if end is not None:
        query = query.where(record.held_at < _china_midnight(end + timedelta(days=1)))
    return query


def records(condition=sa.true(), start: date | None = None, end: date | None = None, *,
            limit: int | None = None) -> sa.Select:
    """The statement of the records under ``condition`` held from ``start`` to ``end``, by township, community and
    time (the first ``limit`` of them): the record's columns with ``township``, ``community``, ``matter_category``,
    ``matter_item`` and ``excluded_text``."""
    record = ConsultationRecord
    return (
        _matching([record.id, record.topic, record.unit_level, record.unit_name, record.parties, record.held_at,
                   record.place, record.form, record.host, record.recorder, record.supervisor, record.proceedings,
                   record.present, record.votes_for, record.votes_against, record.abstain, record.outcome,
                   record.follow_up, record.excluded_rule_id, Township.name.label("township"),
                   Community.name.label("community"), ConsultationMatter.category.label("matter_category"),
                   ConsultationMatter.item.label("matter_item"), ConsultationRule.text.label("excluded_text")],
                  condition, start, end)
        .outerjoin(ConsultationMatter, ConsultationMatter.id == record.matter_id)
        .outerjoin(ConsultationRule, ConsultationRule.id == record.excluded_rule_id)
        .order_by(Township.sort_order, Township.id, Community.sort_order, Community.id, record.held_at, record.id)
        .limit(limit)
    )


class _Lines:
    """The book's lines, read from the database as they are written, each time they are gone through: a
    province's book lists 20,000 records with their long texts, which a worker should not hold all at once."""

    def __init__(self, statement: sa.Select):
        self._statement = statement.execution_options(yield_per=1000)

    def __iter__(self):
        titles = _titles()
        for record in db.session.execute(self._statement):
            yield row(record, titles)


def counts(condition=sa.true(), start: date | None = None, end: date | None = None) -> tuple[int, int, int]:
    """(records, records whose agreement holds, records on a 五不议 matter) under ``condition`` from ``start`` to
    ``end``, counted by the database; "holds" is :func:`app.tracking.ledger.agreement_holds` in SQL."""
    record = ConsultationRecord
    holds = sa.case((record.votes_for * 3 > record.present * 2, 1), else_=0)
    flagged = sa.case((record.excluded_rule_id.is_not(None), 1), else_=0)
    found = db.session.execute(_matching(
        [sa.func.count(), sa.func.coalesce(sa.func.sum(holds), 0), sa.func.coalesce(sa.func.sum(flagged), 0)],
        condition, start, end)).one()
    return int(found[0]), int(found[1]), int(found[2])


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


def row(record: sa.Row, titles: dict | None = None) -> dict:
    """One line of the sheet from a row of :func:`records`; ``titles`` are the words that repeat, translated once."""
    titles = titles or _titles()
    return {
        "number": record.id,
        "township": record.township,
        "community": record.community,
        "topic": record.topic,
        "matter": f"{record.matter_category}：{record.matter_item}" if record.matter_category is not None else "",
        "excluded": record.excluded_text or "",
        "unit_level": titles[record.unit_level],
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
        "holds": titles[_passed(record)],
        "outcome": record.outcome,
        "follow_up": record.follow_up,
    }


def _titles() -> dict:
    return {**{level: level.title for level in UnitLevel}, True: _("是"), False: _("否")}


def _passed(record: sa.Row) -> bool:
    return ledger.agreement_holds(record.present, record.votes_for)


def sheet(condition=sa.true(), start: date | None = None, end: date | None = None, *, title: str = "",
          limit: int | None = None) -> Sheet:
    """The book of the records under ``condition`` from ``start`` to ``end``; at most ``limit`` (by default
    :data:`LIST_LIMIT`) of them are listed, and the notes say when there are more."""
    limit = LIST_LIMIT if limit is None else limit
    total, held, flagged = counts(condition, start, end)
    listed_all = total <= limit
    notes = [_("共 %(n)d 次协商，其中 %(h)d 次协商结果成立（赞成人数超过表决人数的三分之二）。", n=total, h=held)]
    if not listed_all:
        notes.append(_("本表只列出前 %(n)s 次协商，合计行只含所列记录；请按年度或镇(街道)筛选。", n=f"{limit:,}"))
    if start or end:
        notes.append(_("协商时间：%(a)s 至 %(b)s", a=start.isoformat() if start else "…",
                       b=end.isoformat() if end else "…"))
    if flagged:
        notes.append(_("其中 %(n)d 次的议题属于“五不议”事项，请核实。", n=flagged))
    return Sheet(name=_("协商议事台账"), columns=columns(), rows=_Lines(records(condition, start, end, limit=limit)),
                 title=title or _("协商议事台账"), notes=notes, freeze_columns=4)
