from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import UTCDateTime, utcnow
from app.enums import TitledEnum, enum_column
from app.extensions import db
from app.places.models import Township


class ProgrammeKind(TitledEnum):
    DEMONSTRATION = "demonstration"
    PROJECT = "project"
    OTHER = "other"

    @classmethod
    def titles(cls):
        return {cls.DEMONSTRATION: _l("示范点"), cls.PROJECT: _l("社区治理项目"), cls.OTHER: _l("其他")}


class ProgrammeStatus(TitledEnum):
    DRAFT = "draft"
    OPEN = "open"
    EVALUATING = "evaluating"
    SELECTED = "selected"
    IMPLEMENTING = "implementing"
    CLOSED = "closed"

    @classmethod
    def titles(cls):
        return {
            cls.DRAFT: _l("草稿"),
            cls.OPEN: _l("申报中"),
            cls.EVALUATING: _l("评审中"),
            cls.SELECTED: _l("已确定名单"),
            cls.IMPLEMENTING: _l("实施中"),
            cls.CLOSED: _l("已结束"),
        }


class NominationRule(TitledEnum):
    FIXED = "fixed"  # every township: between nomination_min and nomination_max
    BY_SIZE = "by_size"  # at least min_small below size_threshold communities, at least min_large from it on

    @classmethod
    def titles(cls):
        return {cls.FIXED: _l("固定名额范围"), cls.BY_SIZE: _l("按村(社区)数量确定最少名额")}


class MilestoneKind(TitledEnum):
    NOMINATION = "nomination"
    CHARTER = "charter"
    MONTHLY_REPORT = "monthly_report"
    SUMMARY = "summary"
    MIDTERM = "midterm"
    COMPLETION = "completion"
    FINAL_SUMMARY = "final_summary"
    OTHER = "other"

    @classmethod
    def titles(cls):
        return {
            cls.NOMINATION: _l("申报推荐"),
            cls.CHARTER: _l("协商议事章程备案"),
            cls.MONTHLY_REPORT: _l("月度进展报送"),
            cls.SUMMARY: _l("总结与典型案例"),
            cls.MIDTERM: _l("中期自评"),
            cls.COMPLETION: _l("项目完成"),
            cls.FINAL_SUMMARY: _l("结项总结"),
            cls.OTHER: _l("其他"),
        }


class Submitter(TitledEnum):
    TOWNSHIP = "township"
    COMMUNITY = "community"
    BUREAU = "bureau"

    @classmethod
    def titles(cls):
        return {cls.TOWNSHIP: _l("镇(街道)"), cls.COMMUNITY: _l("村(社区)"), cls.BUREAU: _l("民政局")}


class FundingSource(db.Model):
    """Where money comes from: 泉州市级财政, 晋江市级财政, a township's matching funds, social funds …"""

    __tablename__ = "funding_sources"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60), unique=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    # Money a township raises itself (matching funds, donations, community foundations): it records these.
    local: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    def __str__(self) -> str:
        return self.name


class Programme(db.Model):
    __tablename__ = "programmes"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    year: Mapped[int]
    code: Mapped[str] = mapped_column(sa.String(12))  # short code in reference numbers, e.g. SFD
    kind: Mapped[ProgrammeKind] = mapped_column(enum_column(ProgrammeKind))
    status: Mapped[ProgrammeStatus] = mapped_column(enum_column(ProgrammeStatus), default=ProgrammeStatus.DRAFT)
    quota: Mapped[int] = mapped_column(default=10)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    notice_reference: Mapped[str] = mapped_column(sa.String(80), default="")  # 文号, e.g. 晋政民〔2024〕36号
    nomination_rule: Mapped[NominationRule] = mapped_column(enum_column(NominationRule), default=NominationRule.FIXED)
    nomination_min: Mapped[int] = mapped_column(default=1)
    # No Python default: the ORM would put it in place of an explicit None, which means "no upper limit".
    nomination_max: Mapped[int | None] = mapped_column()
    size_threshold: Mapped[int] = mapped_column(default=15)
    min_small: Mapped[int] = mapped_column(default=1)
    min_large: Mapped[int] = mapped_column(default=2)
    # Scoring: trimmed mean from 5 evaluators on; weights per evaluator group in percent (all empty: plain mean).
    use_trimmed_mean: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    weight_bureau: Mapped[int | None] = mapped_column()
    weight_finance: Mapped[int | None] = mapped_column()
    weight_expert: Mapped[int | None] = mapped_column()
    scoring_due: Mapped[date | None] = mapped_column(sa.Date)
    publicity_days: Mapped[int] = mapped_column(default=5, server_default="5")  # 公示 period in working days
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    copied_from_id: Mapped[int | None] = mapped_column(sa.ForeignKey("programmes.id"))

    project_types: Mapped[list[ProjectType]] = relationship(
        back_populates="programme", order_by="ProjectType.sort_order, ProjectType.id", cascade="all, delete-orphan"
    )
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="programme", order_by="Milestone.due_date, Milestone.id", cascade="all, delete-orphan"
    )
    tiers: Mapped[list[FundingTier]] = relationship(
        back_populates="programme", order_by="FundingTier.sort_order, FundingTier.id", cascade="all, delete-orphan"
    )
    criteria: Mapped[list[Criterion]] = relationship(  # noqa: F821 - defined in app.scoring.models
        back_populates="programme", order_by="Criterion.sort_order, Criterion.id", cascade="all, delete-orphan"
    )
    vetoes: Mapped[list[VetoCondition]] = relationship(  # noqa: F821 - defined in app.scoring.models
        back_populates="programme", order_by="VetoCondition.sort_order, VetoCondition.id",
        cascade="all, delete-orphan",
    )

    __table_args__ = (
        sa.UniqueConstraint("year", "code", name="uq_programmes_year_code"),
        sa.CheckConstraint("quota >= 0", name="quota_not_negative"),
        sa.CheckConstraint("nomination_min >= 0", name="nomination_min_not_negative"),
        sa.CheckConstraint("nomination_max IS NULL OR nomination_max >= nomination_min", name="nomination_range"),
        sa.CheckConstraint("min_small >= 0 AND min_large >= 0 AND size_threshold >= 1", name="size_rule"),
        sa.CheckConstraint("publicity_days >= 0", name="publicity_days_not_negative"),
    )

    def __str__(self) -> str:
        return self.name

    @property
    def nomination_milestone(self) -> Milestone | None:
        return next((m for m in self.milestones if m.kind == MilestoneKind.NOMINATION), None)

    @property
    def nomination_due(self) -> date | None:
        milestone = self.nomination_milestone
        return milestone.due_date if milestone else None

    @property
    def is_project(self) -> bool:
        return self.kind == ProgrammeKind.PROJECT


class ProjectType(db.Model):
    """A type of project a programme offers, e.g. 党建引领型."""

    __tablename__ = "project_types"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    sort_order: Mapped[int] = mapped_column(default=0)

    programme: Mapped[Programme] = relationship(back_populates="project_types")

    def __str__(self) -> str:
        return self.name


class Milestone(db.Model):
    __tablename__ = "milestones"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    kind: Mapped[MilestoneKind] = mapped_column(enum_column(MilestoneKind))
    due_date: Mapped[date] = mapped_column(sa.Date)
    submitter: Mapped[Submitter] = mapped_column(enum_column(Submitter), default=Submitter.TOWNSHIP)
    documents: Mapped[str] = mapped_column(sa.Text, default="")  # what must be handed in

    programme: Mapped[Programme] = relationship(back_populates="milestones")

    def __str__(self) -> str:
        return f"{self.name} {self.due_date:%Y-%m-%d}"


class FundingTier(db.Model):
    """A level of support, e.g. 泉州市级试点 = ¥50,000 (泉州市级财政) + ¥30,000 (晋江市级财政)."""

    __tablename__ = "funding_tiers"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    sort_order: Mapped[int] = mapped_column(default=0)

    programme: Mapped[Programme] = relationship(back_populates="tiers")
    amounts: Mapped[list[FundingTierAmount]] = relationship(
        back_populates="tier", order_by="FundingTierAmount.id", cascade="all, delete-orphan"
    )

    def __str__(self) -> str:
        return self.name

    @property
    def total_fen(self) -> int:
        return sum(amount.amount_fen for amount in self.amounts)


class FundingTierAmount(db.Model):
    __tablename__ = "funding_tier_amounts"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    tier_id: Mapped[int] = mapped_column(sa.ForeignKey("funding_tiers.id"), index=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("funding_sources.id"))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)

    tier: Mapped[FundingTier] = relationship(back_populates="amounts")
    source: Mapped[FundingSource] = relationship()

    __table_args__ = (sa.CheckConstraint("amount_fen > 0", name="amount_positive"),)

    def __str__(self) -> str:
        return f"{self.source_id}: {self.amount_fen}"


class DeadlineExtension(db.Model):
    """The bureau lets one township submit nominations after the programme's deadline, until ``due_date``."""

    __tablename__ = "deadline_extensions"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("townships.id"))
    due_date: Mapped[date] = mapped_column(sa.Date)
    reason: Mapped[str] = mapped_column(sa.String(500))
    granted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    township: Mapped[Township] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("programme_id", "township_id", name="uq_deadline_extensions_programme_township"),
    )

    def __str__(self) -> str:
        return f"{self.township_id} → {self.due_date:%Y-%m-%d}"
