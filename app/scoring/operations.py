"""Scoring: the sheet of criteria, assigning evaluators, filling and submitting sheets.

Operations flush and never commit. Scores are half points (an int); a score outside 0..2×max is refused here
whatever the form or workbook let through.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.accounts.models import Role, User
from app.applications.models import Application, ApplicationStatus
from app.database import utcnow
from app.extensions import db
from app.formatting import listing
from app.programmes.models import Programme
from app.refusal import Refusal
from app.scoring.models import Assignment, Criterion, CriterionKind, Score, SheetStatus, VetoCondition


class ScoringError(Refusal):
    """A scoring step the rules refuse; the message is for the user, and ``field`` names the form field it concerns
    (when one does) so that the page can show it there."""


# --- the sheet of criteria ------------------------------------------------------------------------------


def sheet_frozen(programme: Programme) -> bool:
    """The criteria may change only until the first score of the programme is entered."""
    return db.session.scalar(
        sa.select(Score.id)
        .join(Score.criterion)
        .where(Criterion.programme_id == programme.id)
        .limit(1)
    ) is not None


def base_total(programme: Programme) -> int:
    return sum(c.max_points for c in programme.criteria if c.kind == CriterionKind.BASE)


def save_criteria(programme: Programme, rows: list[dict]) -> None:
    """rows: [{group_name, name, kind, max_points, guidance}] in order; refused once scoring has begun."""
    if sheet_frozen(programme):
        raise ScoringError(_("已有评分录入，评分表已冻结，不能再修改。"))
    existing = programme.criteria
    for index, values in enumerate(rows):
        values = dict(values, sort_order=index)
        if index < len(existing):
            for key, value in values.items():
                setattr(existing[index], key, value)
        else:
            existing.append(Criterion(**values))
    del existing[len(rows):]
    db.session.flush()


def save_vetoes(programme: Programme, texts: list[str]) -> None:
    if sheet_frozen(programme):
        raise ScoringError(_("已有评分录入，评分表已冻结，不能再修改。"))
    existing = programme.vetoes
    for index, text in enumerate(texts):
        if index < len(existing):
            existing[index].text, existing[index].sort_order = text, index
        else:
            existing.append(VetoCondition(text=text, sort_order=index))
    del existing[len(texts):]
    db.session.flush()


# --- evaluators and assignments -------------------------------------------------------------------------


def conflict(evaluator: User, application: Application) -> str | None:
    """Why ``evaluator`` may not score ``application``, or None."""
    if evaluator.role != Role.EVALUATOR or not evaluator.active:
        return _("只有启用的评审人账户可以评分。")
    if evaluator.tied_township_id is not None and evaluator.tied_township_id == application.township_id:
        return _("回避：%(name)s 与 %(township)s 有关联。", name=evaluator.label, township=application.township.name)
    return None


def assign(application: Application, evaluator: User, by: User | None) -> Assignment:
    if application.status != ApplicationStatus.ACCEPTED:
        raise ScoringError(_("只有已受理的申报可以分配评审。"))
    reason = conflict(evaluator, application)
    if reason:
        raise ScoringError(reason)
    found = db.session.scalar(
        sa.select(Assignment).where(Assignment.application_id == application.id,
                                    Assignment.evaluator_id == evaluator.id)
    )
    if found is not None:
        return found
    assignment = Assignment(application=application, evaluator=evaluator, assigned_by_id=by.id if by else None)
    db.session.add(assignment)
    db.session.flush()
    from app.database import china_today
    from app.tracking.notifications import notify

    # One message per evaluator, programme and day, however many sheets a bulk assignment made.
    notify([evaluator.id], "assignment", _l("您有新的评分任务：%(p)s", p=application.programme.name), "", "/scoring/",
           f"assign:{application.programme_id}:{china_today().isoformat()}")
    return assignment


def unassign(assignment: Assignment) -> None:
    if assignment.scores or assignment.status != SheetStatus.ASSIGNED:
        raise ScoringError(_("该评分表已开始评分，不能取消分配。"))
    db.session.delete(assignment)
    db.session.flush()


def assign_many(pairs: Iterable[tuple[Application, User]], by: User | None) -> tuple[int, list[str]]:
    """Assign every pair it can; returns (how many were made, why the others were not)."""
    made, refused = 0, []
    for application, evaluator in pairs:
        try:
            assign(application, evaluator, by)
        except ScoringError as error:
            refused.append(f"{application.reference} · {evaluator.label}：{error}")
        else:
            made += 1
    return made, refused


# --- filling in a sheet -------------------------------------------------------------------------------


def check_half_points(criterion: Criterion, half_points: int) -> None:
    if half_points < 0 or half_points > criterion.max_points * 2:
        raise ScoringError(
            _("“%(name)s”的得分须在 0 至 %(max)d 分之间。", name=criterion.name, max=criterion.max_points)
        )


def save_sheet(assignment: Assignment, half_points: dict[int, int | None], veto_ids: list[int], comment: str) -> None:
    """Store a draft: {criterion id: half points or None (not yet scored)}. Refused once submitted."""
    if assignment.status == SheetStatus.SUBMITTED:
        raise ScoringError(_("该评分表已提交锁定；如需修改，请联系市民政局退回。"))
    criteria = {c.id: c for c in assignment.application.programme.criteria}
    vetoes = {v.id for v in assignment.application.programme.vetoes}
    if set(half_points) - set(criteria) or set(veto_ids) - vetoes:
        raise ScoringError(_("评分项与本项目的评分表不一致。"))
    existing = {score.criterion_id: score for score in assignment.scores}
    for criterion_id, value in half_points.items():
        if value is None:
            if criterion_id in existing:
                assignment.scores.remove(existing[criterion_id])
            continue
        check_half_points(criteria[criterion_id], value)
        if criterion_id in existing:
            existing[criterion_id].half_points = value
        else:
            assignment.scores.append(Score(criterion_id=criterion_id, half_points=value))
    assignment.veto_ids = sorted(veto_ids)
    assignment.comment = comment.strip()
    assignment.status = SheetStatus.DRAFT
    db.session.flush()


def submit_sheet(assignment: Assignment) -> None:
    if assignment.status == SheetStatus.SUBMITTED:
        raise ScoringError(_("该评分表已提交。"))
    criteria = assignment.application.programme.criteria
    scored = {score.criterion_id for score in assignment.scores}
    missing = [c.name for c in criteria if c.kind == CriterionKind.BASE and c.id not in scored]
    if missing:
        raise ScoringError(_("还有未评分的项目：%(items)s。", items=listing(missing)))
    assignment.status = SheetStatus.SUBMITTED
    assignment.submitted_at = utcnow()
    db.session.flush()


def reopen_sheet(assignment: Assignment, reason: str) -> None:
    if assignment.status != SheetStatus.SUBMITTED:
        raise ScoringError(_("只有已提交的评分表可以退回。"))
    if not reason.strip():
        raise ScoringError(_("请填写退回原因。"), field="reason")
    assignment.status = SheetStatus.DRAFT
    assignment.reopen_reason = reason.strip()
    assignment.submitted_at = None
    db.session.flush()


def record_tie_decision(programme: Programme, application_id: int, priority: int, reason: str, user) -> None:
    """The bureau's order among applications left level by the scores and the tie rule (lower goes first)."""
    from app.scoring.models import TieDecision

    application = db.session.get(Application, application_id or 0)  # a request without the field: no id
    if application is None or application.programme_id != programme.id:
        raise ScoringError(_("请选择本项目的申报。"), field="application_id")
    if not reason.strip():
        raise ScoringError(_("请填写理由。"), field="reason")
    decision = db.session.scalar(sa.select(TieDecision).where(TieDecision.application_id == application_id))
    if decision is None:
        decision = TieDecision(programme_id=programme.id, application_id=application_id)
        db.session.add(decision)
    decision.priority = priority
    decision.reason = reason.strip()
    decision.decided_by_id = user.id if user is not None else None
    db.session.flush()
