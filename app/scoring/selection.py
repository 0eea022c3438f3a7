"""Selection: the proposed list from the ranking, swaps with reasons, tiers, the public notice (公示) with its
objections (异议), and finalisation, which creates the sites and their allocations. Operations flush only.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from app.applications.models import Application, ApplicationStatus
from app.database import CHINA, china_today, utcnow
from app.extensions import db
from app.formatting import listing
from app.funding.models import Allocation, Site
from app.places.models import Township
from app.programmes.models import FundingTier, Programme, ProgrammeStatus
from app.refusal import Refusal
from app.scoring.models import Objection, Selection, SelectionEntry, SelectionStatus
from app.scoring.ranking import RankingRow

# More sites than this from one township draws a warning (the notices ask for a spread over the city).
TOWNSHIP_WARNING_THRESHOLD = 2


class SelectionError(Refusal):
    """A selection step the rules refuse; the message is for the user, and ``field`` names the form field it concerns
    (when one does) so that the page can show it there. A refusal naming no field is about the list's state."""


def selection_of(programme: Programme, create: bool = False) -> Selection | None:
    selection = db.session.scalar(sa.select(Selection).where(Selection.programme_id == programme.id))
    if selection is None and create:
        selection = Selection(programme=programme)
        db.session.add(selection)
        db.session.flush()
    return selection


def status_of(programme_id: int) -> SelectionStatus | None:
    """The status of the programme's list, None before one is proposed: one small query, for pages that only name
    the list (:func:`list_name`)."""
    return db.session.scalar(sa.select(Selection.status).where(Selection.programme_id == programme_id))


def list_name(status: SelectionStatus | None) -> str:
    """拟确定名单 until the list is final, 确定名单 from then on: its name on the pages and in its workbook's title."""
    return _("确定名单") if status == SelectionStatus.FINAL else _("拟确定名单")


def _require(selection: Selection, status: SelectionStatus) -> None:
    if selection.status != status:
        raise SelectionError(_("名单当前为“%(s)s”，不能进行此操作。", s=selection.status.title))


def default_tier(programme: Programme) -> FundingTier | None:
    """The smallest tier: most sites get the city-level support; the bureau marks the few that go higher."""
    return min(programme.tiers, key=lambda tier: (tier.total_fen, tier.sort_order), default=None)


def propose(programme: Programme, ranking: list[RankingRow]) -> Selection:
    """The top ``quota`` of the ranking (shared positions included in ranking order) as the proposed list."""
    if programme.status not in (ProgrammeStatus.EVALUATING, ProgrammeStatus.OPEN):
        raise SelectionError(_("只有评审阶段的项目可以拟定名单。"))
    selection = selection_of(programme, create=True)
    _require(selection, SelectionStatus.PROPOSED)
    ranked = [row for row in ranking if row.ranked.position is not None]
    tier = default_tier(programme)
    selection.entries.clear()
    db.session.flush()
    for index, row in enumerate(ranked[: programme.quota], start=1):
        selection.entries.append(
            SelectionEntry(application_id=row.application.id, position=index, tier_id=tier.id if tier else None)
        )
    db.session.flush()
    return selection


def _entry(selection: Selection, application_id: int, field: str | None = None) -> SelectionEntry:
    entry = next((e for e in selection.entries if e.application_id == application_id), None)
    if entry is None:
        raise SelectionError(_("该申报不在拟确定名单中。"), field=field)
    return entry


def _eligible(selection: Selection, application: Application, ranking: list[RankingRow]) -> None:
    # The application chosen to come in: the swap's and the addition's field ``in_id``.
    if application.programme_id != selection.programme_id or application.status != ApplicationStatus.ACCEPTED:
        raise SelectionError(_("只有本项目已受理的申报可以列入名单。"), field="in_id")
    row = next((r for r in ranking if r.application.id == application.id), None)
    if row is None or row.ranked.vetoed:
        raise SelectionError(_("被一票否决的申报不能列入名单。"), field="in_id")
    if any(e.application_id == application.id for e in selection.entries):
        raise SelectionError(_("该申报已在名单中。"), field="in_id")


def swap(selection: Selection, out_id: int, in_application: Application, reason: str,
         ranking: list[RankingRow]) -> None:
    """Replace one listed site by another, with a written reason kept on the new entry."""
    _require(selection, SelectionStatus.PROPOSED)
    if not reason.strip():
        raise SelectionError(_("调整名单须填写理由。"), field="reason")
    entry = _entry(selection, out_id, field="out_id")
    _eligible(selection, in_application, ranking)
    entry.application_id = in_application.id
    entry.swap_reason = reason.strip()
    db.session.flush()


def add(selection: Selection, application: Application, reason: str, ranking: list[RankingRow]) -> None:
    _require(selection, SelectionStatus.PROPOSED)
    if not reason.strip():
        raise SelectionError(_("调整名单须填写理由。"), field="reason")
    _eligible(selection, application, ranking)
    tier = default_tier(selection.programme)
    selection.entries.append(SelectionEntry(
        application_id=application.id, position=len(selection.entries) + 1,
        tier_id=tier.id if tier else None, swap_reason=reason.strip()))
    db.session.flush()


def remove(selection: Selection, application_id: int) -> None:
    _require(selection, SelectionStatus.PROPOSED)
    selection.entries.remove(_entry(selection, application_id))
    for index, entry in enumerate(sorted(selection.entries, key=lambda e: e.position), start=1):
        entry.position = index
    db.session.flush()


def set_tier(selection: Selection, application_id: int, tier_id: int) -> None:
    _require(selection, SelectionStatus.PROPOSED)
    if tier_id not in {tier.id for tier in selection.programme.tiers}:
        raise SelectionError(_("请选择本项目的补助档次。"), field="tier_id")
    _entry(selection, application_id).tier_id = tier_id
    db.session.flush()


def quota_problem(selection: Selection) -> str | None:
    count, quota = len(selection.entries), selection.programme.quota
    if count != quota:
        return _("名单有 %(n)d 个，应为 %(q)d 个。", n=count, q=quota)
    return None


def warnings(selection: Selection) -> list[str]:
    """What the bureau should look at before publishing: quota, spread over townships, missing tiers."""
    found = []
    problem = quota_problem(selection)
    if problem:
        found.append(problem)
    per_township = Counter(entry.application.township_id for entry in selection.entries)
    names = dict(db.session.execute(sa.select(Township.id, Township.name)).tuples().all())
    for township_id, count in sorted(per_township.items()):
        if count > TOWNSHIP_WARNING_THRESHOLD:
            found.append(_("%(name)s 有 %(n)d 个入选，集中度偏高。", name=names[township_id], n=count))
    missing = [name for township_id, name in names.items() if township_id not in per_township]
    if missing and selection.entries:
        found.append(_("以下镇(街道)没有入选：%(names)s。", names=listing(missing)))
    if any(entry.tier_id is None for entry in selection.entries):
        found.append(_("还有入选单位没有确定补助档次。"))
    return found


def add_working_days(start: date, days: int) -> date:
    """The last day of a notice of ``days`` working days starting on ``start`` (weekends skipped).

    Public holidays are not known to the system; the bureau lengthens the period by hand around them.
    """
    current, counted = start, 0
    while True:
        if current.weekday() < 5:
            counted += 1
            if counted >= max(days, 1):
                return current
        current += timedelta(days=1)


def publish(selection: Selection) -> None:
    _require(selection, SelectionStatus.PROPOSED)
    problem = quota_problem(selection)
    if problem:
        raise SelectionError(problem)
    if any(entry.tier_id is None for entry in selection.entries):
        raise SelectionError(_("还有入选单位没有确定补助档次。"))
    today = china_today()
    selection.status = SelectionStatus.PUBLICISED
    selection.publicity_start = today
    selection.publicity_end = add_working_days(today, selection.programme.publicity_days)
    db.session.flush()


def back_to_proposal(selection: Selection) -> None:
    """An objection upheld: the list goes back to the bureau to be changed, and is published again later."""
    _require(selection, SelectionStatus.PUBLICISED)
    selection.status = SelectionStatus.PROPOSED
    selection.publicity_start = selection.publicity_end = None
    db.session.flush()


def record_objection(selection: Selection, *, application_id: int | None, received_at: date, raised_by: str,
                     content: str) -> Objection:
    _require(selection, SelectionStatus.PUBLICISED)
    if application_id is not None:
        _entry(selection, application_id, field="application_id")
    if received_at < selection.publicity_start or received_at > selection.publicity_end:
        raise SelectionError(_("异议须在公示期（%(a)s 至 %(b)s）内提出。", a=selection.publicity_start.isoformat(),
                               b=selection.publicity_end.isoformat()), field="received_at")
    objection = Objection(selection=selection, application_id=application_id, received_at=received_at,
                          raised_by=raised_by.strip(), content=content.strip())
    db.session.add(objection)
    db.session.flush()
    return objection


def answer_objection(objection: Objection, response: str, user) -> None:
    if not response.strip():
        raise SelectionError(_("请填写答复内容。"), field="response")
    objection.response = response.strip()
    objection.responded_at = utcnow()
    objection.responded_by_id = user.id if user is not None else None
    db.session.flush()


def finalise(selection: Selection, user, today: date | None = None) -> list[Site]:
    """After the notice: one Site per entry and one Allocation per amount of its tier; the programme is selected."""
    _require(selection, SelectionStatus.PUBLICISED)
    selected_at = utcnow() if today is None else datetime.combine(today, time(12), tzinfo=CHINA)
    today = today or china_today()
    if today <= selection.publicity_end:
        raise SelectionError(_("公示期至 %(d)s 结束，结束后才能确定名单。", d=selection.publicity_end.isoformat()))
    if any(not objection.response for objection in selection.objections):
        raise SelectionError(_("还有未答复的异议。"))
    problem = quota_problem(selection)
    if problem:
        raise SelectionError(problem)
    sites = []
    for entry in sorted(selection.entries, key=lambda e: e.position):
        application = entry.application
        site = Site(programme_id=selection.programme_id, application_id=application.id,
                    township_id=application.township_id, community_id=application.community_id,
                    tier_id=entry.tier_id, rank=entry.position, selected_at=selected_at)
        db.session.add(site)
        for amount in entry.tier.amounts:
            site.allocations.append(Allocation(
                source_id=amount.source_id, amount_fen=amount.amount_fen,
                # Stored text stays in Chinese whatever the language of the person who finalised.
                reason=f"按补助档次“{entry.tier.name}”下达", entry_date=today,
                created_by_id=user.id if user is not None else None))
        sites.append(site)
    db.session.flush()
    from app.tracking.progress import ensure_site_milestones

    ensure_site_milestones(selection.programme)  # each site now owes its charter, summary …
    selection.status = SelectionStatus.FINAL
    selection.finalised_at = utcnow()
    selection.finalised_by_id = user.id if user is not None else None
    if selection.programme.status in (ProgrammeStatus.OPEN, ProgrammeStatus.EVALUATING):
        selection.programme.status = ProgrammeStatus.SELECTED
    db.session.flush()
    return sites
