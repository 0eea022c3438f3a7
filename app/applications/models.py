from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import UTCDateTime, utcnow
from app.enums import TitledEnum, enum_column
from app.extensions import db
from app.files.models import StoredFile
from app.formatting import listing
from app.places.models import Community, Township
from app.programmes.models import Programme, ProjectType


class ApplicationStatus(TitledEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @classmethod
    def titles(cls):
        return {
            cls.DRAFT: _l("草稿"),
            cls.SUBMITTED: _l("已提交"),
            cls.RETURNED: _l("已退回"),
            cls.ACCEPTED: _l("已受理，进入评审"),
            cls.REJECTED: _l("未受理"),
            cls.WITHDRAWN: _l("已撤回"),
        }

    @property
    def badge(self) -> str:
        return {
            "draft": "secondary", "submitted": "primary", "returned": "warning",
            "accepted": "success", "rejected": "danger", "withdrawn": "light",
        }[self.value]


class UnitLevel(TitledEnum):
    """The three consultation units below a community (三级协商单元)."""

    GRID = "grid"
    ESTATE = "estate"
    BUILDING = "building"

    @classmethod
    def titles(cls):
        return {cls.GRID: _l("网格"), cls.ESTATE: _l("小区(街巷)"), cls.BUILDING: _l("楼栋")}


# The venue kinds offered on the form: stored as the Chinese value, shown as the title in the reader's language.
VENUE_KINDS = [("议事厅(室)", _l("议事厅(室)")), ("议事角", _l("议事角")), ("议事长廊", _l("议事长廊")),
               ("其他", _l("其他"))]
_VENUE_TITLES = dict(VENUE_KINDS)
CONSULTATION_FORMS = [
    ("小区协商会", _l("小区协商会")),
    ("业主协商会", _l("业主协商会")),
    ("物业协商会", _l("物业协商会")),
    ("楼栋协商会", _l("楼栋协商会")),
    ("线上协商", _l("线上协商（微信群、视频会议等）")),
]
_CONSULTATION_FORM_TITLES = dict(CONSULTATION_FORMS)


class Application(db.Model):
    """A township's nomination of one community: the 推荐表, or the 申报表 + 项目方案书 of a project programme."""

    __tablename__ = "applications"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("townships.id"), index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"), index=True)
    sequence: Mapped[int]
    reference: Mapped[str] = mapped_column(sa.String(40), unique=True)
    status: Mapped[ApplicationStatus] = mapped_column(
        enum_column(ApplicationStatus), default=ApplicationStatus.DRAFT, index=True
    )
    version: Mapped[int] = mapped_column(default=1)

    contact_name: Mapped[str] = mapped_column(sa.String(40), default="")
    contact_phone: Mapped[str] = mapped_column(sa.String(40), default="")
    township_opinion: Mapped[str] = mapped_column(sa.Text, default="")  # 镇(街道)审核意见

    # 推荐表 (demonstration sites)
    participants: Mapped[str] = mapped_column(sa.Text, default="")
    venue_kind: Mapped[str] = mapped_column(sa.String(20), default="")
    venue_name: Mapped[str] = mapped_column(sa.String(100), default="")
    venue_area_m2: Mapped[int | None]
    opinion_box: Mapped[bool] = mapped_column(default=False)  # 民情收集箱 with the 中国社区 mark
    wechat_column: Mapped[str] = mapped_column(sa.String(100), default="")
    consultation_forms: Mapped[list] = mapped_column(sa.JSON, default=list)
    consultation_forms_other: Mapped[str] = mapped_column(sa.String(200), default="")
    procedure_topic: Mapped[str] = mapped_column(sa.Text, default="")  # ① 汇集民意、确定议题
    procedure_consult: Mapped[str] = mapped_column(sa.Text, default="")  # ② 开展协商、达成意见
    procedure_follow_up: Mapped[str] = mapped_column(sa.Text, default="")  # ③ 监督落实、固化成果
    self_governance: Mapped[str] = mapped_column(sa.Text, default="")  # 村(居)民自治情况

    # 申报表 + 项目方案书 (project programmes)
    project_type_id: Mapped[int | None] = mapped_column(sa.ForeignKey("project_types.id"))
    project_name: Mapped[str] = mapped_column(sa.String(120), default="")
    foundation: Mapped[str] = mapped_column(sa.Text, default="")  # 基础条件
    goals: Mapped[str] = mapped_column(sa.Text, default="")
    measures: Mapped[str] = mapped_column(sa.Text, default="")
    schedule: Mapped[str] = mapped_column(sa.Text, default="")
    expected_results: Mapped[str] = mapped_column(sa.Text, default="")

    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_late: Mapped[bool] = mapped_column(default=False)  # after the programme's date, under an extension
    resubmit_due: Mapped[date | None] = mapped_column(sa.Date)  # set when the bureau returns it
    last_reason: Mapped[str] = mapped_column(sa.Text, default="")  # why it was last returned or rejected

    programme: Mapped[Programme] = relationship()
    township: Mapped[Township] = relationship()
    community: Mapped[Community] = relationship()
    project_type: Mapped[ProjectType | None] = relationship()
    convenors: Mapped[list[Convenor]] = relationship(
        back_populates="application", order_by="Convenor.sort_order, Convenor.id", cascade="all, delete-orphan"
    )
    think_tank: Mapped[list[ThinkTankMember]] = relationship(
        back_populates="application", order_by="ThinkTankMember.sort_order, ThinkTankMember.id",
        cascade="all, delete-orphan",
    )
    budget_lines: Mapped[list[BudgetLine]] = relationship(
        back_populates="application", order_by="BudgetLine.sort_order, BudgetLine.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application", order_by="ApplicationEvent.at, ApplicationEvent.id"
    )
    attachments: Mapped[list[ApplicationAttachment]] = relationship(
        back_populates="application", order_by="ApplicationAttachment.id"
    )

    # Two people saving the same application: the second one is told instead of overwriting silently.
    __mapper_args__ = {"version_id_col": version}

    __table_args__ = (
        sa.UniqueConstraint("programme_id", "township_id", "sequence", name="uq_applications_sequence"),
        # A community is nominated at most once per programme (a withdrawn nomination frees it).
        sa.Index(
            "uq_applications_programme_community_live", "programme_id", "community_id", unique=True,
            sqlite_where=sa.text("status <> 'withdrawn'"), postgresql_where=sa.text("status <> 'withdrawn'"),
        ),
        sa.CheckConstraint("venue_area_m2 IS NULL OR venue_area_m2 >= 0", name="venue_area_not_negative"),
        # The overview's and the home page's counts by township and status, from the index alone.
        sa.Index("ix_applications_programme_township_status", "programme_id", "township_id", "status",
                 "submitted_late"),
    )

    def __str__(self) -> str:
        return self.reference

    @property
    def venue_kind_title(self) -> str:
        """The venue kind in the reader's language; a value no longer offered is shown as stored."""
        return str(_VENUE_TITLES.get(self.venue_kind, self.venue_kind))

    @property
    def consultation_forms_text(self) -> str:
        """The consultation forms in the reader's language, the township's own "other" form last as written."""
        forms = [_CONSULTATION_FORM_TITLES.get(value, value) for value in self.consultation_forms or []]
        return listing([*forms, *([self.consultation_forms_other] if self.consultation_forms_other else [])])

    @property
    def budget_total_fen(self) -> int:
        return sum(line.amount_fen for line in self.budget_lines)

    @property
    def live_attachments(self) -> list[ApplicationAttachment]:
        return [a for a in self.attachments if a.file.deleted_at is None]


class Convenor(db.Model):
    """召集人 of one consultation unit (网格 / 小区(街巷) / 楼栋)."""

    __tablename__ = "application_convenors"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    level: Mapped[UnitLevel] = mapped_column(enum_column(UnitLevel))
    unit_name: Mapped[str] = mapped_column(sa.String(60), default="")
    name: Mapped[str] = mapped_column(sa.String(40))
    role: Mapped[str] = mapped_column(sa.String(60), default="")  # e.g. 网格长, 楼长, 业委会主任
    sort_order: Mapped[int] = mapped_column(default=0)

    application: Mapped[Application] = relationship(back_populates="convenors")

    def __str__(self) -> str:
        return f"{self.level.value} {self.unit_name} {self.name}"


class ThinkTankMember(db.Model):
    """A member of the 协商智囊团."""

    __tablename__ = "application_think_tank"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    identity: Mapped[str] = mapped_column(sa.String(60), default="")  # 老党员, 人大代表, 乡贤 …
    sort_order: Mapped[int] = mapped_column(default=0)

    application: Mapped[Application] = relationship(back_populates="think_tank")

    def __str__(self) -> str:
        return self.name


class BudgetLine(db.Model):
    """A line of a project's budget (项目方案书), in fen."""

    __tablename__ = "application_budget_lines"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    item: Mapped[str] = mapped_column(sa.String(100))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    sort_order: Mapped[int] = mapped_column(default=0)

    application: Mapped[Application] = relationship(back_populates="budget_lines")

    __table_args__ = (sa.CheckConstraint("amount_fen >= 0", name="amount_not_negative"),)

    def __str__(self) -> str:
        return f"{self.item}: {self.amount_fen}"


class ApplicationEvent(db.Model):
    """One step of the workflow, shown as the application's history."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(sa.String(80), default="")
    from_status: Mapped[ApplicationStatus | None] = mapped_column(enum_column(ApplicationStatus, name="from_status"))
    to_status: Mapped[ApplicationStatus] = mapped_column(enum_column(ApplicationStatus, name="to_status"))
    reason: Mapped[str] = mapped_column(sa.Text, default="")

    application: Mapped[Application] = relationship(back_populates="events")


class ApplicationAttachment(db.Model):
    __tablename__ = "application_attachments"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_files.id"))
    description: Mapped[str] = mapped_column(sa.String(200), default="")

    application: Mapped[Application] = relationship(back_populates="attachments")
    file: Mapped[StoredFile] = relationship()

    def __str__(self) -> str:
        return f"{self.application_id}: {self.file_id}"
