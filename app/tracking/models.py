"""Implementation tracking: milestones per site, monthly progress reports, 通报, notifications, the project
archive, the consultation ledger (协商记录, 村(居)民代表会议) and the bureau's spot checks.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.applications.models import UnitLevel
from app.database import UTCDateTime, utcnow
from app.enums import TitledEnum, enum_column
from app.extensions import db
from app.files.models import StoredFile
from app.funding.models import Site
from app.places.models import Community, Township
from app.programmes.models import Milestone, Programme

# --- milestones per site -----------------------------------------------------------------------------------


class MilestoneStatus(TitledEnum):
    NOT_STARTED = "not_started"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ACCEPTED = "accepted"

    @classmethod
    def titles(cls):
        return {cls.NOT_STARTED: _l("未提交"), cls.SUBMITTED: _l("已提交"), cls.RETURNED: _l("已退回"),
                cls.ACCEPTED: _l("已通过")}


class SiteMilestone(db.Model):
    """One site's (or, for the township's own summary, one township's) progress on a programme milestone."""

    __tablename__ = "site_milestones"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    milestone_id: Mapped[int] = mapped_column(sa.ForeignKey("milestones.id"), index=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("townships.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sites.id"), index=True)  # None: township-level
    status: Mapped[MilestoneStatus] = mapped_column(enum_column(MilestoneStatus), default=MilestoneStatus.NOT_STARTED)
    content: Mapped[str] = mapped_column(sa.Text, default="")  # the summary, typical cases, self-evaluation …
    # The charter (协商议事章程): the village meeting's vote, the township's approval, filing, national system.
    meeting_date: Mapped[date | None] = mapped_column(sa.Date)
    meeting_result: Mapped[str] = mapped_column(sa.String(200), default="")
    township_approved_on: Mapped[date | None] = mapped_column(sa.Date)
    filed_on: Mapped[date | None] = mapped_column(sa.Date)
    system_entered_on: Mapped[date | None] = mapped_column(sa.Date)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_late: Mapped[bool] = mapped_column(default=False)
    reviewer_comment: Mapped[str] = mapped_column(sa.Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=1)

    milestone: Mapped[Milestone] = relationship()
    programme: Mapped[Programme] = relationship()
    township: Mapped[Township] = relationship()
    site: Mapped[Site | None] = relationship()
    events: Mapped[list[MilestoneEvent]] = relationship(back_populates="site_milestone",
                                                        order_by="MilestoneEvent.at, MilestoneEvent.id")
    documents: Mapped[list[MilestoneDocument]] = relationship(back_populates="site_milestone",
                                                              order_by="MilestoneDocument.id")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.Index("uq_site_milestones_site", "site_id", "milestone_id", unique=True,
                 sqlite_where=sa.text("site_id IS NOT NULL"), postgresql_where=sa.text("site_id IS NOT NULL")),
        sa.Index("uq_site_milestones_township", "township_id", "milestone_id", unique=True,
                 sqlite_where=sa.text("site_id IS NULL"), postgresql_where=sa.text("site_id IS NULL")),
        # Each progress page checks that every site has its items: counted from the index alone.
        sa.Index("ix_site_milestones_programme_milestone", "programme_id", "milestone_id", "site_id"),
    )

    def __str__(self) -> str:
        return f"{self.milestone_id}/{self.site_id or 'T' + str(self.township_id)}"


class MilestoneEvent(db.Model):
    __tablename__ = "milestone_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_milestone_id: Mapped[int] = mapped_column(sa.ForeignKey("site_milestones.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(sa.String(80), default="")
    from_status: Mapped[MilestoneStatus | None] = mapped_column(enum_column(MilestoneStatus, name="from_status"))
    to_status: Mapped[MilestoneStatus] = mapped_column(enum_column(MilestoneStatus, name="to_status"))
    comment: Mapped[str] = mapped_column(sa.Text, default="")

    site_milestone: Mapped[SiteMilestone] = relationship(back_populates="events")


class MilestoneDocument(db.Model):
    __tablename__ = "milestone_documents"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    site_milestone_id: Mapped[int] = mapped_column(sa.ForeignKey("site_milestones.id"), index=True)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_files.id"))
    description: Mapped[str] = mapped_column(sa.String(200), default="")

    site_milestone: Mapped[SiteMilestone] = relationship(back_populates="documents")
    file: Mapped[StoredFile] = relationship()

    def __str__(self) -> str:
        return f"{self.site_milestone_id}: {self.file_id}"


# --- monthly progress ----------------------------------------------------------------------------------


class ReportStatus(TitledEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"

    @classmethod
    def titles(cls):
        return {cls.DRAFT: _l("草稿"), cls.SUBMITTED: _l("已报送")}


class MonthlyReport(db.Model):
    """A site's progress for one month, due on the 20th of that month."""

    __tablename__ = "monthly_reports"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    month: Mapped[date] = mapped_column(sa.Date)  # the first day of the month reported on
    status: Mapped[ReportStatus] = mapped_column(enum_column(ReportStatus), default=ReportStatus.DRAFT)
    work_done: Mapped[str] = mapped_column(sa.Text, default="")
    consultations_held: Mapped[int] = mapped_column(default=0)
    problems: Mapped[str] = mapped_column(sa.Text, default="")
    next_plan: Mapped[str] = mapped_column(sa.Text, default="")
    spent_this_month_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    site: Mapped[Site] = relationship()
    photos: Mapped[list[MonthlyReportPhoto]] = relationship(back_populates="report", order_by="MonthlyReportPhoto.id")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.UniqueConstraint("site_id", "month", name="uq_monthly_reports_site_month"),
        sa.CheckConstraint("consultations_held >= 0", name="consultations_not_negative"),
        sa.CheckConstraint("spent_this_month_fen >= 0", name="spent_not_negative"),
        # Submitted reports counted per site from the index alone (the missing reports by township).
        sa.Index("ix_monthly_reports_site_status_month", "site_id", "status", "month"),
    )

    def __str__(self) -> str:
        return f"{self.site_id} {self.month:%Y-%m}"


class MonthlyReportPhoto(db.Model):
    __tablename__ = "monthly_report_photos"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("monthly_reports.id"), index=True)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_files.id"))
    caption: Mapped[str] = mapped_column(sa.String(200), default="")

    report: Mapped[MonthlyReport] = relationship(back_populates="photos")
    file: Mapped[StoredFile] = relationship()

    def __str__(self) -> str:
        return f"{self.report_id}: {self.file_id}"


class ProgressNotice(db.Model):
    """通报: the bureau's recorded notice to a township about slow progress."""

    __tablename__ = "progress_notices"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("townships.id"), index=True)
    issued_on: Mapped[date] = mapped_column(sa.Date)
    title: Mapped[str] = mapped_column(sa.String(120))
    content: Mapped[str] = mapped_column(sa.Text)
    issued_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    programme: Mapped[Programme] = relationship()
    township: Mapped[Township] = relationship()

    def __str__(self) -> str:
        return self.title


class Notification(db.Model):
    """An in-app message to one user; ``dedupe_key`` makes a reminder appear once however often it is made."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    link: Mapped[str] = mapped_column(sa.String(300), default="")
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("user_id", "dedupe_key", name="uq_notifications_user_dedupe"),
        sa.Index("ix_notifications_user_unread", "user_id", "read_at"),
    )


# --- the project archive --------------------------------------------------------------------------------


class ArchiveKind(TitledEnum):
    """The eight parts of a project archive (003 notice)."""

    MEETINGS = "meetings"
    PLAN = "plan"
    GUIDANCE = "guidance"
    PARTICIPATION = "participation"
    FUND_USE = "fund_use"
    PUBLICITY = "publicity"
    SELF_EVALUATION = "self_evaluation"
    WORK_METHOD = "work_method"

    @classmethod
    def titles(cls):
        return {
            cls.MEETINGS: _l("①村(居)民会议、代表会议等会议记录、纪要"),
            cls.PLAN: _l("②项目申报方案、项目实施的图文资料"),
            cls.GUIDANCE: _l("③民政部门和镇(街道)工作指导督导的佐证材料"),
            cls.PARTICIPATION: _l("④推动居民自治和社会力量参与的佐证材料"),
            cls.FUND_USE: _l("⑤项目资金使用明细表"),
            cls.PUBLICITY: _l("⑥村(居)务公开及媒体宣传报道的佐证材料"),
            cls.SELF_EVALUATION: _l("⑦项目中期自评报告和结项自评报告"),
            cls.WORK_METHOD: _l("⑧总结提炼的社区工作法"),
        }


class ArchiveItem(db.Model):
    __tablename__ = "archive_items"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    kind: Mapped[ArchiveKind] = mapped_column(enum_column(ArchiveKind))
    title: Mapped[str] = mapped_column(sa.String(120))
    item_date: Mapped[date] = mapped_column(sa.Date)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_files.id"))
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    site: Mapped[Site] = relationship()
    file: Mapped[StoredFile] = relationship()

    # Kinds per site from the index alone (the archive checklist's counts over a programme).
    __table_args__ = (sa.Index("ix_archive_items_site_kind", "site_id", "kind", "deleted_at"),)

    def __str__(self) -> str:
        return self.title


# --- the consultation ledger -------------------------------------------------------------------------------


class ConsultationMatter(db.Model):
    """An item of the consultation-matters catalogue (协商事项目录, 002 annex)."""

    __tablename__ = "consultation_matters"

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(sa.String(40))
    item: Mapped[str] = mapped_column(sa.String(200))
    sort_order: Mapped[int] = mapped_column(default=0)

    __table_args__ = (sa.UniqueConstraint("category", "item", name="uq_consultation_matters_category_item"),)

    def __str__(self) -> str:
        return f"{self.category}：{self.item}"


class ConsultationRule(db.Model):
    """六必议 (must be consulted) and 五不议 (must not be) of the 001 notice."""

    __tablename__ = "consultation_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(sa.String(10))  # 六必议 / 五不议
    kind: Mapped[str] = mapped_column(sa.String(10))  # must / must_not
    text: Mapped[str] = mapped_column(sa.String(300))
    sort_order: Mapped[int] = mapped_column(default=0)

    def __str__(self) -> str:
        return self.text


class ConsultationRecord(db.Model):
    """协商记录表 (001 annex 2): one consultation, its vote and its result."""

    __tablename__ = "consultation_records"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"), index=True)
    topic: Mapped[str] = mapped_column(sa.String(200))
    matter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("consultation_matters.id"))
    excluded_rule_id: Mapped[int | None] = mapped_column(sa.ForeignKey("consultation_rules.id"))  # a 五不议 match
    unit_level: Mapped[UnitLevel] = mapped_column(enum_column(UnitLevel))
    unit_name: Mapped[str] = mapped_column(sa.String(60), default="")
    parties: Mapped[str] = mapped_column(sa.Text, default="")
    held_at: Mapped[datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(sa.String(120), default="")
    form: Mapped[str] = mapped_column(sa.String(60), default="")
    host: Mapped[str] = mapped_column(sa.String(40), default="")
    recorder: Mapped[str] = mapped_column(sa.String(40), default="")
    supervisor: Mapped[str] = mapped_column(sa.String(40), default="")
    proceedings: Mapped[str] = mapped_column(sa.Text, default="")
    present: Mapped[int] = mapped_column(default=0)
    votes_for: Mapped[int] = mapped_column(default=0)
    votes_against: Mapped[int] = mapped_column(default=0)
    abstain: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[str] = mapped_column(sa.Text, default="")
    follow_up: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    community: Mapped[Community] = relationship()
    matter: Mapped[ConsultationMatter | None] = relationship()
    excluded_rule: Mapped[ConsultationRule | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("present >= 0 AND votes_for >= 0 AND votes_against >= 0 AND abstain >= 0",
                           name="counts_not_negative"),
        sa.CheckConstraint("votes_for + votes_against + abstain <= present", name="votes_within_present"),
        sa.Index("ix_consultation_records_community_held", "community_id", "held_at", "id"),
    )

    def __str__(self) -> str:
        return self.topic


class RepresentativeMeeting(db.Model):
    """村(居)民代表会议 (004): valid with two thirds present; a decision needs more than half of all."""

    __tablename__ = "representative_meetings"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"), index=True)
    held_on: Mapped[date] = mapped_column(sa.Date)
    topic: Mapped[str] = mapped_column(sa.String(200))
    representatives_total: Mapped[int]
    present: Mapped[int]
    votes_for: Mapped[int] = mapped_column(default=0)
    votes_against: Mapped[int] = mapped_column(default=0)
    abstain: Mapped[int] = mapped_column(default=0)
    decision: Mapped[str] = mapped_column(sa.Text, default="")
    sign_in_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    minutes_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    vote_sheet_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    community: Mapped[Community] = relationship()
    sign_in_file: Mapped[StoredFile | None] = relationship(foreign_keys=[sign_in_file_id])
    minutes_file: Mapped[StoredFile | None] = relationship(foreign_keys=[minutes_file_id])
    vote_sheet_file: Mapped[StoredFile | None] = relationship(foreign_keys=[vote_sheet_file_id])

    __table_args__ = (
        sa.CheckConstraint("representatives_total > 0", name="total_positive"),
        sa.CheckConstraint("present >= 0 AND present <= representatives_total", name="present_within_total"),
        sa.CheckConstraint("votes_for + votes_against + abstain <= present", name="votes_within_present"),
        sa.Index("ix_representative_meetings_community_held", "community_id", "held_on", "id"),
    )

    def __str__(self) -> str:
        return self.topic


# --- spot checks ------------------------------------------------------------------------------------


class SpotCheck(db.Model):
    """抽查: the bureau's check of a site's ledger and archive, and its follow-up."""

    __tablename__ = "spot_checks"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    checked_on: Mapped[date] = mapped_column(sa.Date)
    inspectors: Mapped[str] = mapped_column(sa.String(120))
    findings: Mapped[str] = mapped_column(sa.Text)
    follow_up_required: Mapped[bool] = mapped_column(default=False)
    follow_up: Mapped[str] = mapped_column(sa.Text, default="")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()

    def __str__(self) -> str:
        return f"{self.site_id} {self.checked_on}"


class ScorecardDecision(db.Model):
    """The bureau's decision on a township's places for next year, from its scorecard (003: 名额倾斜 / 消减)."""

    __tablename__ = "scorecard_decisions"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("townships.id"), index=True)
    year: Mapped[int]  # the year assessed; the change applies to the year after
    suggested_change: Mapped[int]  # +1, 0 or −1 places, as the scorecard proposes
    decided_change: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.String(500), default="")  # required when the bureau overrides
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    township: Mapped[Township] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("township_id", "year", name="uq_scorecard_decisions_township_year"),
        sa.CheckConstraint("decided_change BETWEEN -5 AND 5", name="decided_change_range"),
    )

    def __str__(self) -> str:
        return f"{self.township_id} {self.year}: {self.decided_change:+d}"
