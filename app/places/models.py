from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import UTCDateTime, utcnow
from app.enums import TitledEnum, enum_column
from app.extensions import db


class TownshipKind(TitledEnum):
    TOWN = "town"
    STREET = "street"

    @classmethod
    def titles(cls):
        return {cls.TOWN: _l("镇"), cls.STREET: _l("街道")}


class CommunityKind(TitledEnum):
    VILLAGE = "village"
    COMMUNITY = "community"

    @classmethod
    def titles(cls):
        return {cls.VILLAGE: _l("村"), cls.COMMUNITY: _l("社区")}


class Township(db.Model):
    """A 镇 or 街道. The official counts come from the statistical division codes (seed data)."""

    __tablename__ = "townships"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40), unique=True)
    kind: Mapped[TownshipKind] = mapped_column(enum_column(TownshipKind))
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)  # pinyin, also the demo account name
    official_urban_communities: Mapped[int] = mapped_column(default=0)
    official_villages: Mapped[int] = mapped_column(default=0)
    sort_order: Mapped[int] = mapped_column(default=0)

    communities: Mapped[list[Community]] = relationship(
        back_populates="township", order_by="Community.sort_order, Community.id"
    )

    def __str__(self) -> str:
        return self.name


class Community(db.Model):
    """A 村 or 社区 within a township."""

    __tablename__ = "communities"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("townships.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    kind: Mapped[CommunityKind] = mapped_column(enum_column(CommunityKind))
    active: Mapped[bool] = mapped_column(default=True)
    # Demo data fills townships up to their official count with invented names; those are flagged.
    generated: Mapped[bool] = mapped_column(default=False)
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    township: Mapped[Township] = relationship(back_populates="communities")

    __table_args__ = (sa.UniqueConstraint("township_id", "name", name="uq_communities_township_name"),)

    def __str__(self) -> str:
        return self.name
