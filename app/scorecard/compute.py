"""The township scorecard (镇街考评): how each township's sites of one year did, and the suggested change to its
places in the next year's round (003 notice: 对项目建设成效显著的镇(街道)……予以名额倾斜，对项目建设不力的予以消减名额).

The year is the programmes' ``year``; a township's sites are its sites in every programme of that year.

A card is worked out as of one day (``as_of``): today while the year runs (or is still to come), and the year's last
day, 31 December, once it is over, so that a past year's card stays as it stood when the year closed and the bureau
decided on it. The year's end rather than a programme's closing: a programme keeps no closing date, the notices'
milestones all fall within the year, and a card covers every programme of the year. What was recorded after the end
of that day (China time) does not count: a report or a milestone handed in later is not handed in, an archive item
added later is not there and one removed later still is, a spot check made later (by its date) did not happen, and
a follow-up closed later is still open, its age counted up to that day. A milestone handed in by then and handed in
again later (after being returned) counts by its last submission up to then, from its history. A site counts
whenever it was selected (the round's outcome, not something the township did), and the evaluation is read from the
sheets as they are now (a sheet keeps no history; it is shown for reference and takes no part in the rule).

Indicators, per township, exact (``Fraction``); shares are shown rounded *down* to 0.1%, so a share shown as
"90.0%" really meets a 90% threshold and one shown as "59.9%" really falls below 60%:

- sites: its sites selected in the year's programmes.
- monthly reports, on time / due, month by month as the progress grid shows them (``progress.report_months``
  and ``progress.cell``): due = on time + late + missing; a month not handed in whose 20th has not passed is not
  due yet; on time = submitted by the end of the 20th (China).
- milestones, on time / due, over the programmes' SiteMilestones of the township (its sites' and its own
  summary), as ``progress.timeliness`` says: due = on time + late + overdue; late and overdue are not on time;
  one not handed in and not yet due is not counted.
- archive: the mean over its sites of the share of the eight kinds of material with at least one item.
- evaluation: the mean score of its sites' applications and their best rank (position in its programme), from
  the submitted sheets (``scoring.ranking.programme_ranking``, once per programme of the year).
- spot checks (抽查) of its sites: how many, how many found something needing follow-up (整改), how many of
  those are still open, and the age in days of the oldest open one.

The suggested change to next year's places (the constants below):

1. No sites that year: 0, with a note.
2. −1 when the monthly-report or the milestone on-time share is below ``DOWN_ON_TIME`` (60%), or the archive is
   below ``DOWN_ARCHIVE`` (60%), or a follow-up is still open more than ``FOLLOW_UP_DAYS`` (60) days after its
   check.
3. +1 when both on-time shares are at least ``UP_ON_TIME`` (90%), the archive at least ``UP_ARCHIVE`` (90%) and
   no follow-up is open at all.
4. Otherwise 0.

A share with nothing due yet is shown as "—" and left out of the rule: it neither raises nor lowers.

The bureau decides (``record_decision``): it accepts the suggestion, or overrides it with another change in
``DECISION_RANGE`` (−2 … +2) and a written reason. One decision per township and year; a second one updates it.
Operations flush and never commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fractions import Fraction

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.accounts.models import User
from app.database import CHINA, china_today, utcnow
from app.extensions import db
from app.funding.models import Site
from app.places.models import Township
from app.programmes.models import Milestone, Programme
from app.refusal import Refusal
from app.scoring.aggregate import display
from app.scoring.ranking import programme_ranking
from app.tracking import archive, progress
from app.tracking.models import (
    MilestoneEvent,
    MilestoneStatus,
    MonthlyReport,
    ReportStatus,
    ScorecardDecision,
    SiteMilestone,
    SpotCheck,
)

UP_ON_TIME = Fraction(90, 100)
UP_ARCHIVE = Fraction(90, 100)
DOWN_ON_TIME = Fraction(60, 100)
DOWN_ARCHIVE = Fraction(60, 100)
FOLLOW_UP_DAYS = 60  # an open follow-up older than this (days since the check) lowers the suggestion
DECISION_RANGE = range(-2, 3)  # what the bureau may decide: −2 … +2 places
REASON_MAX = 500
YEAR_MIN, YEAR_MAX = 2000, 2100  # years the pages accept (anything else is refused before any query)

REPORT_DUE_STATES = {"on_time", "late", "missing"}
MILESTONE_DUE_STATES = {"on_time", "late", "overdue"}


class DecisionError(Refusal):
    """A decision refused; ``message`` is for the user, ``field`` names the form field it belongs to."""


def share(part: int, whole: int) -> Fraction | None:
    return Fraction(part, whole) if whole else None


def floor_percent_text(value: Fraction | None) -> str:
    """"93.7%", rounded down to 0.1% (a share shown as 90.0% really meets a 90% threshold; formatting.percent_text
    rounds half up, for display elsewhere); "—" for None."""
    if value is None:
        return "—"
    tenths = int(value * 1000)  # int() truncates: floor for a share, which is never negative
    return f"{tenths // 10}.{tenths % 10}%"


def threshold_text(value: Fraction) -> str:
    """"90%" for a threshold."""
    return f"{display(value * 100, 0 if (value * 100).denominator == 1 else 1)}%"


def year_end(year: int) -> date:
    return date(year, 12, 31)


def as_of(year: int, today: date) -> date:
    """The day a year's card is worked out at: the year's last day once the year is over, else ``today``."""
    return min(today, year_end(year))


def year_closed(year: int, day: date) -> bool:
    """Whether a card of ``year`` standing at ``day`` stands at the year's end rather than at today."""
    return day == year_end(year)


def end_of(day: date) -> datetime:
    """The first moment after ``day`` in China: what was recorded before it had happened by that day's end."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=CHINA)


@dataclass
class Scorecard:
    township: Township
    year: int
    as_of: date | None = None  # the day the indicators stand at (see the module docstring)
    sites: int = 0
    reports_on_time: int = 0
    reports_due: int = 0
    milestones_on_time: int = 0
    milestones_due: int = 0
    archive: Fraction | None = None  # None without sites
    mean_score: Fraction | None = None
    best_rank: int | None = None
    best_rank_programme: str = ""
    spot_checks: int = 0
    follow_ups: int = 0
    open_follow_ups: int = 0
    oldest_open_days: int | None = None
    suggestion: int = 0
    reasons: list[str] = field(default_factory=list)
    decision: ScorecardDecision | None = None
    decided_by: User | None = None

    @property
    def year_closed(self) -> bool:
        """Whether the card stands at its year's end rather than at today."""
        return year_closed(self.year, self.as_of)

    @property
    def report_share(self) -> Fraction | None:
        return share(self.reports_on_time, self.reports_due)

    @property
    def milestone_share(self) -> Fraction | None:
        return share(self.milestones_on_time, self.milestones_due)

    @property
    def mean_text(self) -> str:
        return display(self.mean_score, 2)


def suggest(card: Scorecard) -> tuple[int, list[str]]:
    """The suggested change and the reasons for it, by the rule in the module docstring."""
    if card.sites == 0:
        return 0, [_("本年度没有示范点（项目），不作调整。")]
    shares = [(_("月报按时率"), card.report_share), (_("节点按时率"), card.milestone_share)]
    down: list[str] = []
    for label, value in shares:
        if value is not None and value < DOWN_ON_TIME:
            down.append(_("%(label)s %(value)s，低于 %(limit)s", label=label, value=floor_percent_text(value),
                          limit=threshold_text(DOWN_ON_TIME)))
    if card.archive is not None and card.archive < DOWN_ARCHIVE:
        down.append(_("档案完整率 %(value)s，低于 %(limit)s", value=floor_percent_text(card.archive),
                      limit=threshold_text(DOWN_ARCHIVE)))
    if card.oldest_open_days is not None and card.oldest_open_days > FOLLOW_UP_DAYS:
        down.append(_("抽查整改已 %(days)d 天未完成（超过 %(limit)d 天）", days=card.oldest_open_days,
                      limit=FOLLOW_UP_DAYS))
    if down:
        return -1, down
    short: list[str] = []
    for label, value in shares:
        if value is not None and value < UP_ON_TIME:
            short.append(_("%(label)s %(value)s，未达 %(limit)s", label=label, value=floor_percent_text(value),
                           limit=threshold_text(UP_ON_TIME)))
    if card.archive is not None and card.archive < UP_ARCHIVE:
        short.append(_("档案完整率 %(value)s，未达 %(limit)s", value=floor_percent_text(card.archive),
                       limit=threshold_text(UP_ARCHIVE)))
    if card.open_follow_ups:
        short.append(_("有 %(n)d 项抽查整改尚未完成", n=card.open_follow_ups))
    if short:
        return 0, short
    reasons = [_("各项指标均达到上调标准")]
    if card.report_share is None or card.milestone_share is None:
        reasons.append(_("（部分按时率尚无到期事项，未计入）"))
    return 1, reasons


# --- reading -----------------------------------------------------------------------------------------------


def years_with_sites() -> list[int]:
    """The years whose programmes have sites, latest first."""
    return list(db.session.scalars(
        sa.select(Programme.year).where(Programme.id.in_(sa.select(Site.programme_id)))
        .distinct().order_by(Programme.year.desc())))


def latest_year() -> int | None:
    return db.session.scalar(sa.select(sa.func.max(Programme.year)).where(
        Programme.id.in_(sa.select(Site.programme_id))))


def programmes_of(year: int) -> list[Programme]:
    return list(db.session.scalars(
        sa.select(Programme).where(Programme.year == year)
        .options(selectinload(Programme.milestones), selectinload(Programme.criteria))
        .order_by(Programme.id)))


def scorecards(year: int, township_ids: Collection[int] | None = None, *,
               today: date | None = None) -> list[Scorecard]:
    """One Scorecard per township (or per given township), in the townships' order.

    A fixed number of queries, plus those of ``programme_ranking`` once per programme of the year that has sites:
    the count grows with neither the townships, nor the sites, nor their reports, milestones, items or checks.
    ``today`` is the day it is now; the cards stand at :func:`as_of` it.
    """
    day = as_of(year, today or china_today())
    cutoff = end_of(day)
    query = sa.select(Township).order_by(Township.sort_order, Township.id)
    if township_ids is not None:
        query = query.where(Township.id.in_(list(township_ids)))
    townships = list(db.session.scalars(query))
    cards = {t.id: Scorecard(township=t, year=year, as_of=day) for t in townships}
    wanted = list(cards)
    in_townships = sa.true() if township_ids is None else Site.township_id.in_(wanted)

    programmes = {p.id: p for p in programmes_of(year)}
    sites: list[Site] = []
    if programmes and wanted:
        sites = list(db.session.scalars(
            sa.select(Site).where(Site.programme_id.in_(list(programmes)), in_townships).order_by(Site.id)))
    year_sites = (sa.select(Site.id).join(Programme, Programme.id == Site.programme_id)
                  .where(Programme.year == year, in_townships))
    township_of = {site.id: site.township_id for site in sites}
    for site in sites:
        cards[site.township_id].sites += 1

    if sites:
        _reports(cards, sites, programmes, year_sites, day, cutoff)
        _milestones(cards, programmes, day, cutoff)
        _archive(cards, sites, cutoff)
        _evaluation(cards, sites, programmes)
        _spot_checks(cards, township_of, year_sites, day, cutoff)

    decisions = db.session.execute(
        sa.select(ScorecardDecision, User).outerjoin(User, User.id == ScorecardDecision.decided_by_id)
        .where(ScorecardDecision.year == year, ScorecardDecision.township_id.in_(wanted))).tuples().all()
    for decision, user in decisions:
        cards[decision.township_id].decision = decision
        cards[decision.township_id].decided_by = user

    result = [cards[t.id] for t in townships]
    for card in result:
        card.suggestion, card.reasons = suggest(card)
    return result


def scorecard(township: Township, year: int, *, today: date | None = None) -> Scorecard:
    return scorecards(year, [township.id], today=today)[0]


def _reports(cards, sites, programmes, year_sites, day, cutoff) -> None:
    # A report handed in after the cutoff was not handed in by then; a draft counts as nothing, as on the grid.
    reports = {(r.site_id, r.month): r for r in db.session.scalars(
        sa.select(MonthlyReport).where(MonthlyReport.site_id.in_(year_sites),
                                       MonthlyReport.status == ReportStatus.SUBMITTED,
                                       MonthlyReport.submitted_at < cutoff))}
    for site in sites:
        card = cards[site.township_id]
        for month in progress.report_months(site, programmes[site.programme_id]):
            state = progress.cell(month, reports.get((site.id, month)), day).state
            if state in REPORT_DUE_STATES:
                card.reports_due += 1
                card.reports_on_time += state == "on_time"


def _submitted_by(cutoff: datetime) -> sa.ColumnElement:
    """SQL: a SiteMilestone's last submission before ``cutoff``. ``submitted_at`` is its last submission of all;
    when that came later (handed in again after a return, or first handed in later), its history tells."""
    earlier = (sa.select(sa.func.max(MilestoneEvent.at))
               .where(MilestoneEvent.site_milestone_id == SiteMilestone.id,
                      MilestoneEvent.to_status == MilestoneStatus.SUBMITTED, MilestoneEvent.at < cutoff)
               .scalar_subquery())
    return sa.case((SiteMilestone.submitted_at < cutoff, SiteMilestone.submitted_at), else_=earlier)


def _milestones(cards, programmes, day, cutoff) -> None:
    items = db.session.execute(
        sa.select(SiteMilestone.township_id, Milestone.due_date, progress.china_date_number(_submitted_by(cutoff)))
        .join(Milestone, Milestone.id == SiteMilestone.milestone_id)
        .where(SiteMilestone.programme_id.in_(list(programmes)), SiteMilestone.township_id.in_(list(cards)))
    ).tuples().all()
    for township_id, due, submitted in items:
        state = progress.timeliness_of(submitted, due, day)
        if state in MILESTONE_DUE_STATES:
            card = cards[township_id]
            card.milestones_due += 1
            card.milestones_on_time += state == "on_time"


def _archive(cards, sites, cutoff) -> None:
    counts = archive.completeness_many((site.id for site in sites), at=cutoff)
    shares: dict[int, list[Fraction]] = defaultdict(list)
    for site in sites:
        filled = sum(1 for kind in archive.KINDS if counts[site.id][kind] > 0)
        shares[site.township_id].append(Fraction(filled, len(archive.KINDS)))
    for township_id, values in shares.items():
        cards[township_id].archive = sum(values, Fraction(0)) / len(values)


def _evaluation(cards, sites, programmes) -> None:
    by_programme: dict[int, list[Site]] = defaultdict(list)
    for site in sites:
        by_programme[site.programme_id].append(site)
    means: dict[int, list[Fraction]] = defaultdict(list)
    for programme_id, programme_sites in by_programme.items():
        programme = programmes[programme_id]
        ranked = {row.application.id: row.ranked for row in programme_ranking(programme)}
        for site in programme_sites:
            result = ranked.get(site.application_id)
            if result is None:
                continue
            card = cards[site.township_id]
            if result.mean is not None:
                means[site.township_id].append(result.mean)
            if result.position is not None and (card.best_rank is None or result.position < card.best_rank):
                card.best_rank, card.best_rank_programme = result.position, programme.name
    for township_id, values in means.items():
        cards[township_id].mean_score = sum(values, Fraction(0)) / len(values)


def _spot_checks(cards, township_of, year_sites, day, cutoff) -> None:
    rows = db.session.execute(
        sa.select(SpotCheck.site_id, SpotCheck.follow_up_required, SpotCheck.closed_at, SpotCheck.checked_on)
        .where(SpotCheck.site_id.in_(year_sites), SpotCheck.checked_on <= day)).tuples().all()
    for site_id, follow_up, closed_at, checked_on in rows:
        card = cards[township_of[site_id]]
        card.spot_checks += 1
        if not follow_up:
            continue
        card.follow_ups += 1
        if closed_at is None or closed_at >= cutoff:
            card.open_follow_ups += 1
            age = (day - checked_on).days
            card.oldest_open_days = age if card.oldest_open_days is None else max(card.oldest_open_days, age)


# --- deciding ----------------------------------------------------------------------------------------------


def decision_for(township_id: int, year: int) -> ScorecardDecision | None:
    return db.session.scalar(sa.select(ScorecardDecision).where(ScorecardDecision.township_id == township_id,
                                                                ScorecardDecision.year == year))


def record_decision(card: Scorecard, *, accept: bool, change: int | None, reason: str, user,
                    at: datetime | None = None) -> ScorecardDecision:
    """The bureau's decision on the card's township and year: the suggestion, or another change with a reason.

    A second decision for the same township and year updates the first (the audit log keeps both).
    """
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise DecisionError(_("不能超过 %(max)d 个字符。", max=REASON_MAX), "reason")
    if accept:
        decided = card.suggestion
    else:
        if change is None or change not in DECISION_RANGE:
            raise DecisionError(_("请选择 −2 至 +2 之间的名额调整。"), "change")
        if change == card.suggestion:
            raise DecisionError(_("与建议相同；如同意建议，请选择“采纳建议”。"), "change")
        if not reason:
            raise DecisionError(_("调整与建议不同，请写明理由。"), "reason")
        decided = change
    values = dict(suggested_change=card.suggestion, decided_change=decided, reason=reason,
                  decided_by_id=user.id if user is not None else None, decided_at=at or utcnow())
    township_id, year = card.township.id, card.year
    decision = decision_for(township_id, year)
    if decision is None:
        try:
            with db.session.begin_nested():
                decision = ScorecardDecision(township_id=township_id, year=year, **values)
                db.session.add(decision)
                db.session.flush()
            return decision
        except IntegrityError:
            decision = decision_for(township_id, year)  # two clicks at once: the other one made it
    for key, value in values.items():
        setattr(decision, key, value)
    db.session.flush()
    return decision
