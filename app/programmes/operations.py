"""Programmes: status, nomination limits per township, deadlines and extensions, the programme's lists.

Operations flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _

from app.extensions import db
from app.places.models import Community, Township
from app.programmes.models import (
    DeadlineExtension,
    FundingSource,
    FundingTier,
    FundingTierAmount,
    Milestone,
    NominationRule,
    Programme,
    ProgrammeStatus,
    ProjectType,
)


class ProgrammeError(Exception):
    """A request the programme's rules refuse; the message is for the user."""


S = ProgrammeStatus
# The life of a programme. A step back is allowed where the bureau may need to correct course.
STATUS_TRANSITIONS: dict[ProgrammeStatus, tuple[ProgrammeStatus, ...]] = {
    S.DRAFT: (S.OPEN,),
    S.OPEN: (S.EVALUATING, S.DRAFT),
    S.EVALUATING: (S.SELECTED, S.OPEN),
    S.SELECTED: (S.IMPLEMENTING, S.EVALUATING),
    S.IMPLEMENTING: (S.CLOSED,),
    S.CLOSED: (),
}


def change_status(programme: Programme, new_status: ProgrammeStatus) -> None:
    if new_status not in STATUS_TRANSITIONS[programme.status]:
        raise ProgrammeError(
            _("项目不能从“%(old)s”改为“%(new)s”。", old=programme.status.title, new=new_status.title)
        )
    if new_status == S.DRAFT and programme_has_applications(programme):
        raise ProgrammeError(_("已有申报的项目不能退回草稿。"))
    if new_status == S.OPEN and programme.nomination_due is None:
        raise ProgrammeError(_("开始申报前请先设置“申报推荐”节点的截止日期。"))
    programme.status = new_status
    db.session.flush()


def programme_has_applications(programme: Programme) -> bool:
    from app.applications.models import Application

    return db.session.scalar(sa.select(Application.id).where(Application.programme_id == programme.id).limit(1)) \
        is not None


# --- how many nominations a township may make -------------------------------------------------------


@dataclass(frozen=True)
class Allowance:
    minimum: int
    maximum: int | None  # None: no upper limit

    def label(self) -> str:
        if self.maximum is None:
            return _("至少 %(n)d 个", n=self.minimum)
        if self.minimum == self.maximum:
            return _("%(n)d 个", n=self.minimum)
        return _("%(a)d–%(b)d 个", a=self.minimum, b=self.maximum)


def township_sizes() -> dict[int, int]:
    """Communities per township: the official count where the seed data has one, else those in the system."""
    in_system = dict(
        db.session.execute(
            sa.select(Community.township_id, sa.func.count(Community.id))
            .where(Community.active.is_(True))
            .group_by(Community.township_id)
        ).tuples().all()
    )
    sizes = {}
    for township_id, urban, villages in db.session.execute(
        sa.select(Township.id, Township.official_urban_communities, Township.official_villages)
    ):
        official = (urban or 0) + (villages or 0)
        sizes[township_id] = official if official > 0 else in_system.get(township_id, 0)
    return sizes


def allowance(programme: Programme, size: int) -> Allowance:
    """The range of nominations the programme's rule gives a township with ``size`` communities."""
    if programme.nomination_rule == NominationRule.BY_SIZE:
        minimum = programme.min_small if size < programme.size_threshold else programme.min_large
        maximum = programme.nomination_max
        if maximum is not None and maximum < minimum:
            maximum = minimum
        return Allowance(minimum, maximum)
    return Allowance(programme.nomination_min, programme.nomination_max)


# --- deadlines ------------------------------------------------------------------------------------


def extensions_by_township(programme: Programme) -> dict[int, DeadlineExtension]:
    rows = db.session.scalars(sa.select(DeadlineExtension).where(DeadlineExtension.programme_id == programme.id))
    return {row.township_id: row for row in rows}


def effective_due(programme: Programme, township_id: int, extension: DeadlineExtension | None = None) -> date | None:
    """The last day this township may submit: the programme's date, or the later date of its extension."""
    due = programme.nomination_due
    if extension is None:
        extension = db.session.scalar(
            sa.select(DeadlineExtension).where(
                DeadlineExtension.programme_id == programme.id, DeadlineExtension.township_id == township_id
            )
        )
    if extension is not None and (due is None or extension.due_date > due):
        return extension.due_date
    return due


def grant_extension(programme: Programme, township: Township, due_date: date, reason: str, user) -> DeadlineExtension:
    base = programme.nomination_due
    if base is not None and due_date <= base:
        raise ProgrammeError(_("延期后的日期须晚于原截止日期 %(d)s。", d=base.isoformat()))
    extension = db.session.scalar(
        sa.select(DeadlineExtension).where(
            DeadlineExtension.programme_id == programme.id, DeadlineExtension.township_id == township.id
        )
    )
    if extension is None:
        extension = DeadlineExtension(programme_id=programme.id, township_id=township.id)
        db.session.add(extension)
    extension.due_date = due_date
    extension.reason = reason.strip()
    extension.granted_by_id = user.id if user is not None else None
    db.session.flush()
    return extension


# --- the programme's own lists (types, milestones, tiers), saved from their forms ---------------------


def _sync(existing: list, rows: list[dict], make, update) -> None:
    """Make ``existing`` match ``rows`` in order: update in place, add new, drop the rest (keeps the audit readable)."""
    for index, values in enumerate(rows):
        if index < len(existing):
            update(existing[index], values)
        else:
            existing.append(make(values))
    del existing[len(rows):]


def save_project_types(programme: Programme, rows: list[dict]) -> None:
    def update(item: ProjectType, values: dict) -> None:
        item.name, item.description, item.sort_order = values["name"], values["description"], values["sort_order"]

    _sync(programme.project_types, rows, lambda values: ProjectType(**values), update)
    db.session.flush()


def save_milestones(programme: Programme, rows: list[dict]) -> None:
    def update(item: Milestone, values: dict) -> None:
        for key, value in values.items():
            setattr(item, key, value)

    _sync(programme.milestones, rows, lambda values: Milestone(**values), update)
    db.session.flush()


def source_named(name: str) -> FundingSource:
    source = db.session.scalar(sa.select(FundingSource).where(FundingSource.name == name))
    if source is None:
        source = FundingSource(name=name, sort_order=100, local=False)
        db.session.add(source)
        db.session.flush()
    return source


def save_tiers(programme: Programme, rows: list[dict]) -> None:
    """rows: [{name, sort_order, amounts: [(source_id, amount_fen), …]}]."""

    def fill(tier: FundingTier, values: dict) -> None:
        tier.name, tier.sort_order = values["name"], values["sort_order"]
        wanted = [FundingTierAmount(source_id=source_id, amount_fen=fen) for source_id, fen in values["amounts"]]

        def update(amount: FundingTierAmount, new: FundingTierAmount) -> None:
            amount.source_id, amount.amount_fen = new.source_id, new.amount_fen

        _sync(tier.amounts, wanted, lambda new: new, update)

    def make(values: dict) -> FundingTier:
        tier = FundingTier()
        fill(tier, values)
        return tier

    _sync(programme.tiers, rows, make, fill)
    db.session.flush()
