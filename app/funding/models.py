"""Sites selected in a programme and the money allocated to them.

An allocation is a ledger line: a change is a new line (positive or negative) with a reason, never an edit.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.applications.models import Application
from app.database import UTCDateTime, china_today, utcnow
from app.extensions import db
from app.files.models import StoredFile
from app.places.models import Community, Township
from app.programmes.models import FundingSource, FundingTier, Programme


class Site(db.Model):
    """A selected 示范点 or project site: one finalised application."""

    __tablename__ = "sites"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"))
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), unique=True)
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("townships.id"), index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"), index=True)
    tier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("funding_tiers.id"))
    rank: Mapped[int | None]
    selected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    programme: Mapped[Programme] = relationship()
    application: Mapped[Application] = relationship()
    township: Mapped[Township] = relationship()
    community: Mapped[Community] = relationship()
    tier: Mapped[FundingTier | None] = relationship()
    allocations: Mapped[list[Allocation]] = relationship(back_populates="site", order_by="Allocation.id")

    __table_args__ = (
        # The pages of a programme's sites come in this order (the monthly grid's): a page is read from the index,
        # whatever the number of sites and programmes.
        sa.Index("ix_sites_programme_township_rank", "programme_id", "township_id", "rank", "id"),
    )

    def __str__(self) -> str:
        return f"{self.programme_id}: {self.community_id}"


class Allocation(db.Model):
    """Money allocated to a site from one source (下达), in fen; a change is another line with its reason."""

    __tablename__ = "allocations"
    __audited__ = True
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("funding_sources.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    entry_date: Mapped[date] = mapped_column(sa.Date, default=china_today)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship(back_populates="allocations")
    source: Mapped[FundingSource] = relationship()

    __table_args__ = (
        sa.CheckConstraint("amount_fen <> 0", name="amount_not_zero"),
        # The reconciliation's sums (by site and source) read only the index.
        sa.Index("ix_allocations_site_source_amount", "site_id", "source_id", "amount_fen"),
    )

    def __str__(self) -> str:
        return f"{self.site_id}/{self.source_id}: {self.amount_fen}"


class Tranche(db.Model):
    """A part of the allocation paid when its condition is met (e.g. 50% on selection, 50% after the mid-term)."""

    __tablename__ = "tranches"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    sequence: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(60))
    percent: Mapped[int]
    condition: Mapped[str] = mapped_column(sa.String(120), default="")  # empty: due on selection

    programme: Mapped[Programme] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("programme_id", "sequence", name="uq_tranches_programme_sequence"),
        sa.CheckConstraint("percent > 0 AND percent <= 100", name="percent_range"),
    )

    def __str__(self) -> str:
        return f"{self.name} {self.percent}%"


class TrancheRelease(db.Model):
    """The record that a site met a tranche's condition, so that tranche may be paid to it."""

    __tablename__ = "tranche_releases"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    tranche_id: Mapped[int] = mapped_column(sa.ForeignKey("tranches.id"))
    note: Mapped[str] = mapped_column(sa.String(300), default="")
    released_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    released_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("site_id", "tranche_id", name="uq_tranche_releases_site_tranche"),)

    def __str__(self) -> str:
        return f"{self.site_id}/{self.tranche_id}"


class Disbursement(db.Model):
    """拨付: a payment to a site from one source. A mistake is undone by a reversal line, never by an edit."""

    __tablename__ = "disbursements"
    __audited__ = True
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("funding_sources.id"), index=True)
    entry_date: Mapped[date] = mapped_column(sa.Date, index=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    voucher_no: Mapped[str] = mapped_column(sa.String(40))
    note: Mapped[str] = mapped_column(sa.String(300), default="")
    tranche_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tranches.id"))
    override_reason: Mapped[str] = mapped_column(sa.String(500), default="")  # paid beyond what was available
    reverses_id: Mapped[int | None] = mapped_column(sa.ForeignKey("disbursements.id"), unique=True)
    batch: Mapped[str] = mapped_column(sa.String(40), default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()
    source: Mapped[FundingSource] = relationship()

    __table_args__ = (
        sa.CheckConstraint("amount_fen <> 0", name="amount_not_zero"),
        # A voucher number pays once; its reversal carries the same number.
        sa.Index("uq_disbursements_voucher", "voucher_no", unique=True,
                 sqlite_where=sa.text("reverses_id IS NULL"), postgresql_where=sa.text("reverses_id IS NULL")),
        sa.Index("ix_disbursements_site_source_amount", "site_id", "source_id", "amount_fen"),
    )

    def __str__(self) -> str:
        return f"{self.voucher_no}: {self.amount_fen}"


# Stored in Chinese, the value the city's forms use; shown in the reader's language.
SPENDING_CATEGORY_TITLES = {
    "设施设备": _l("设施设备"),
    "场地改造": _l("场地改造"),
    "活动经费": _l("活动经费"),
    "宣传印制": _l("宣传印制"),
    "人员补贴": _l("人员补贴"),
    "其他": lazy_pgettext("spending category", "其他"),
}
SPENDING_CATEGORIES = list(SPENDING_CATEGORY_TITLES)


def spending_category_title(value: str) -> str:
    """The category in the reader's language; a value no longer in the list as it was stored."""
    title = SPENDING_CATEGORY_TITLES.get(value)
    return str(title) if title is not None else value


class SpendingLine(db.Model):
    """项目资金使用明细: money a site spent, from one source, with its receipt. Corrected by reversal lines."""

    __tablename__ = "spending_lines"
    __audited__ = True
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("funding_sources.id"), index=True)
    entry_date: Mapped[date] = mapped_column(sa.Date, index=True)
    item: Mapped[str] = mapped_column(sa.String(120))
    category: Mapped[str] = mapped_column(sa.String(20))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    payee: Mapped[str] = mapped_column(sa.String(120), default="")
    receipt_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    reverses_id: Mapped[int | None] = mapped_column(sa.ForeignKey("spending_lines.id"), unique=True)
    note: Mapped[str] = mapped_column(sa.String(300), default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()
    source: Mapped[FundingSource] = relationship()
    receipt: Mapped[StoredFile | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("amount_fen <> 0", name="amount_not_zero"),
        sa.Index("ix_spending_lines_site_source_amount", "site_id", "source_id", "amount_fen"),
    )

    @property
    def category_title(self) -> str:
        return spending_category_title(self.category)

    def __str__(self) -> str:
        return f"{self.item}: {self.amount_fen}"


class PeriodSignOff(db.Model):
    """Finance closes a month or a quarter: nothing dated in it may be entered any more."""

    __tablename__ = "period_sign_offs"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)
    label: Mapped[str] = mapped_column(sa.String(20))  # 2024-05 or 2024Q2
    note: Mapped[str] = mapped_column(sa.String(300), default="")
    signed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("label", name="uq_period_sign_offs_label"),
        sa.CheckConstraint("period_end >= period_start", name="period_order"),
    )

    def __str__(self) -> str:
        return self.label
