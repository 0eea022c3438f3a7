"""协商议事台账 at province scale (issue 9): the book lists at most a limit of records and says so, while the counts in
its notes are of every matching record (counted by the database with the same two-thirds rule)."""

from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa

from app.applications.models import UnitLevel
from app.database import CHINA
from app.extensions import db
from app.places.models import Community
from app.tracking import ledger
from app.tracking.models import ConsultationMatter, ConsultationRule
from reports import ledger_book

# (present, votes for): more than two thirds holds; exactly two thirds (30, 20) does not.
VOTES = [(30, 21), (30, 20), (12, 10), (9, 6), (10, 0), (0, 0)]


def _records(community_id: int) -> None:
    community = db.session.get(Community, community_id)
    rule = db.session.scalar(sa.select(ConsultationRule).where(ConsultationRule.kind == "must_not").limit(1))
    matter = db.session.scalar(sa.select(ConsultationMatter).limit(1))
    for day, (present, votes_for) in enumerate(VOTES, start=1):
        ledger.create_record(community, held_at=datetime.combine(date(2024, 3, day), time(19), tzinfo=CHINA),
                             unit_level=UnitLevel.GRID, present=present, votes_for=votes_for, topic=f"议题{day}",
                             excluded_rule=rule if day == 2 else None, matter=matter if day == 3 else None)
    db.session.flush()


def _holds(present: int, votes_for: int) -> bool:
    return ledger.agreement_holds(present, votes_for)


def test_a_long_book_lists_the_first_records_and_counts_them_all(ctx, places):
    _records(places.anhai_community)
    condition = Community.id == places.anhai_community
    held = sum(_holds(*votes) for votes in VOTES)
    assert ledger_book.counts(condition) == (len(VOTES), held, 1)

    book = ledger_book.sheet(condition, limit=4)
    rows = list(book.rows)
    assert [row["topic"] for row in rows] == ["议题1", "议题2", "议题3", "议题4"]  # the first, in time order
    assert book.notes[0] == f"共 {len(VOTES)} 次协商，其中 {held} 次协商结果成立（赞成人数超过表决人数的三分之二）。"
    assert any("本表只列出前 4 次协商" in note for note in book.notes)
    assert any("其中 1 次的议题属于“五不议”事项" in note for note in book.notes)
    assert [row["holds"] for row in rows] == ["是" if _holds(*votes) else "否" for votes in VOTES[:4]]
    assert rows[2]["matter"] and rows[1]["excluded"] and not rows[0]["matter"] and not rows[0]["excluded"]

    whole = ledger_book.sheet(condition, limit=len(VOTES))
    assert [row["topic"] for row in whole.rows] == [f"议题{day}" for day in range(1, len(VOTES) + 1)]
    assert whole.notes[0] == book.notes[0]
    assert not any("本表只列出" in note for note in whole.notes)
    # The held count computed from the listed rows and the one the database counts agree.
    assert sum(row["holds"] == "是" for row in whole.rows) == held


def test_an_empty_book_counts_nothing(ctx, places):
    condition = Community.id == places.anhai_community
    assert ledger_book.counts(condition, date(1999, 1, 1), date(1999, 12, 31)) == (0, 0, 0)
    book = ledger_book.sheet(condition, date(1999, 1, 1), date(1999, 12, 31), limit=0)
    assert list(book.rows) == [] and not any("本表只列出" in note for note in book.notes)
