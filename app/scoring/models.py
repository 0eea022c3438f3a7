"""Scoring sheets, evaluators' assignments and scores, and the selection that follows them.

Scores are stored in half points (an integer: 17.5 points is 35) so that sums and means are exact.
"""

from __future__ import annotations

from datetime import date, datetime
from fractions import Fraction

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.attributes import flag_modified

from app.accounts.models import User
from app.applications.models import Application
from app.database import UTCDateTime, utcnow
from app.enums import TitledEnum, enum_column
from app.extensions import db
from app.programmes.models import FundingTier, Programme


class CriterionKind(TitledEnum):
    BASE = "base"
    BONUS = "bonus"

    @classmethod
    def titles(cls):
        return {cls.BASE: _l("基本分"), cls.BONUS: _l("加分项")}


class Criterion(db.Model):
    """One line of a programme's scoring sheet, in a group (组织领导, 阵地建设 …)."""

    __tablename__ = "criteria"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    group_name: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(120))
    kind: Mapped[CriterionKind] = mapped_column(enum_column(CriterionKind), default=CriterionKind.BASE)
    max_points: Mapped[int]
    guidance: Mapped[str] = mapped_column(sa.Text, default="")
    sort_order: Mapped[int] = mapped_column(default=0)

    programme: Mapped[Programme] = relationship(back_populates="criteria")

    __table_args__ = (sa.CheckConstraint("max_points > 0 AND max_points <= 1000", name="max_points_range"),)

    def __str__(self) -> str:
        return f"{self.group_name} · {self.name}"


class VetoCondition(db.Model):
    """一票否决: a condition that excludes an application whatever its score."""

    __tablename__ = "veto_conditions"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    text: Mapped[str] = mapped_column(sa.String(200))
    sort_order: Mapped[int] = mapped_column(default=0)

    programme: Mapped[Programme] = relationship(back_populates="vetoes")

    def __str__(self) -> str:
        return self.text


class SheetStatus(TitledEnum):
    ASSIGNED = "assigned"
    DRAFT = "draft"
    SUBMITTED = "submitted"

    @classmethod
    def titles(cls):
        return {cls.ASSIGNED: _l("待评分"), cls.DRAFT: _l("评分中"), cls.SUBMITTED: _l("已提交")}


class Assignment(db.Model):
    """One evaluator's scoring sheet for one application."""

    __tablename__ = "assignments"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"))
    evaluator_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    status: Mapped[SheetStatus] = mapped_column(enum_column(SheetStatus), default=SheetStatus.ASSIGNED)
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    veto_ids: Mapped[list] = mapped_column(sa.JSON, default=list)  # VetoCondition ids the evaluator found met
    assigned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reopen_reason: Mapped[str] = mapped_column(sa.Text, default="")
    version: Mapped[int] = mapped_column(default=1)

    application: Mapped[Application] = relationship()
    evaluator: Mapped[User] = relationship(foreign_keys=[evaluator_id])
    scores: Mapped[list[Score]] = relationship(back_populates="assignment", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.UniqueConstraint("application_id", "evaluator_id", name="uq_assignments_application_evaluator"),
        # The bureau's home counts submitted sheets per programme from this index alone (migration 0009).
        sa.Index("ix_assignments_application_status", "application_id", "status"),
    )

    @property
    def points(self) -> Fraction:
        """The saved scores summed, base criteria and bonus items alike, as the ranking sums a sheet."""
        return Fraction(sum(score.half_points for score in self.scores), 2)

    def __str__(self) -> str:
        return f"{self.application_id}/{self.evaluator_id}"


class Score(db.Model):
    __tablename__ = "scores"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(sa.ForeignKey("assignments.id"), index=True)
    criterion_id: Mapped[int] = mapped_column(sa.ForeignKey("criteria.id"), index=True)
    half_points: Mapped[int]

    assignment: Mapped[Assignment] = relationship(back_populates="scores")
    criterion: Mapped[Criterion] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("assignment_id", "criterion_id", name="uq_scores_assignment_criterion"),
        sa.CheckConstraint("half_points >= 0", name="half_points_not_negative"),
        # Sheet totals from the index alone (the ranking sums every sheet of a programme).
        sa.Index("ix_scores_assignment_points", "assignment_id", "criterion_id", "half_points"),
    )

    def __str__(self) -> str:
        return f"{self.criterion_id}: {self.half_points / 2}"


class TieDecision(db.Model):
    """The bureau's recorded order for applications that the scores and the tie rule leave level."""

    __tablename__ = "tie_decisions"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), unique=True)
    priority: Mapped[int]  # lower comes first among the tied
    reason: Mapped[str] = mapped_column(sa.String(500))
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __str__(self) -> str:
        return f"{self.application_id}: {self.priority}"


class SelectionStatus(TitledEnum):
    PROPOSED = "proposed"
    PUBLICISED = "publicised"
    FINAL = "final"

    @classmethod
    def titles(cls):
        return {cls.PROPOSED: _l("拟定中"), cls.PUBLICISED: _l("公示中"), cls.FINAL: _l("已确定")}


class Selection(db.Model):
    """The bureau's list of sites for a programme: proposed, publicised (公示), then final."""

    __tablename__ = "selections"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), unique=True)
    status: Mapped[SelectionStatus] = mapped_column(enum_column(SelectionStatus), default=SelectionStatus.PROPOSED)
    publicity_start: Mapped[date | None] = mapped_column(sa.Date)
    publicity_end: Mapped[date | None] = mapped_column(sa.Date)
    finalised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finalised_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=1)

    programme: Mapped[Programme] = relationship()
    entries: Mapped[list[SelectionEntry]] = relationship(
        back_populates="selection", order_by="SelectionEntry.position", cascade="all, delete-orphan"
    )
    objections: Mapped[list[Objection]] = relationship(
        back_populates="selection", order_by="Objection.received_at, Objection.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return f"{self.programme_id}: {self.status.value}"


class SelectionEntry(db.Model):
    __tablename__ = "selection_entries"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    selection_id: Mapped[int] = mapped_column(sa.ForeignKey("selections.id"), index=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"))
    position: Mapped[int]
    tier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("funding_tiers.id"))
    swap_reason: Mapped[str] = mapped_column(sa.Text, default="")  # why it is in the list outside the ranking

    selection: Mapped[Selection] = relationship(back_populates="entries")
    application: Mapped[Application] = relationship()
    tier: Mapped[FundingTier | None] = relationship()

    __table_args__ = (sa.UniqueConstraint("selection_id", "application_id", name="uq_selection_entries_application"),)

    def __str__(self) -> str:
        return f"{self.position}: {self.application_id}"


class Objection(db.Model):
    """异议 received during the public notice, and the bureau's answer."""

    __tablename__ = "objections"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    selection_id: Mapped[int] = mapped_column(sa.ForeignKey("selections.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(sa.ForeignKey("applications.id"))
    received_at: Mapped[date] = mapped_column(sa.Date)
    raised_by: Mapped[str] = mapped_column(sa.String(100), default="")
    content: Mapped[str] = mapped_column(sa.Text)
    response: Mapped[str] = mapped_column(sa.Text, default="")
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    selection: Mapped[Selection] = relationship(back_populates="objections")
    application: Mapped[Application | None] = relationship()

    def __str__(self) -> str:
        return self.content[:60]


@sa.event.listens_for(sa.orm.Session, "before_flush")
def _sheet_changes_with_its_scores(session, _context, _instances) -> None:
    """A change to a score is a change to its sheet: the sheet's version rises, so the ranking's fingerprint of
    its inputs (app/scoring/ranking.py) sees it, as does the optimistic lock of a second editor."""
    sheets = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Score) and (obj in session.new or obj in session.deleted or session.is_modified(obj)):
            sheet = obj.assignment if obj.assignment is not None else session.get(Assignment, obj.assignment_id)
            if sheet is not None and sheet not in session.deleted and sa.inspect(sheet).persistent:
                sheets.add(sheet)
    for sheet in sheets:
        flag_modified(sheet, "comment")  # no value changes; the UPDATE raises the version
