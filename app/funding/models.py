"""Sites selected in a programme and the money allocated to them.

An allocation is a ledger line: a change is a new line (positive or negative) with a reason, never an edit.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.applications.models import Application
from app.database import UTCDateTime, utcnow
from app.extensions import db
from app.places.models import Community, Township
from app.programmes.models import FundingSource, FundingTier, Programme


class Site(db.Model):
    """A selected 示范点 or project site: one finalised application."""

    __tablename__ = "sites"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
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

    def __str__(self) -> str:
        return f"{self.programme_id}: {self.community_id}"


class Allocation(db.Model):
    """Money allocated to a site from one source (下达), in fen."""

    __tablename__ = "allocations"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("funding_sources.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship(back_populates="allocations")
    source: Mapped[FundingSource] = relationship()

    __table_args__ = (sa.CheckConstraint("amount_fen <> 0", name="amount_not_zero"),)

    def __str__(self) -> str:
        return f"{self.site_id}/{self.source_id}: {self.amount_fen}"
