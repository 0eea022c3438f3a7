"""Nominations: creating them within the township's limits, filling them in, and the workflow.

The workflow is one table of allowed steps; every step is checked against it, written to the application's
history and (through the audit hook) to the audit log. Operations flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.applications.models import (
    Application,
    ApplicationAttachment,
    ApplicationEvent,
    ApplicationStatus,
    BudgetLine,
    Convenor,
    ThinkTankMember,
)
from app.database import china_today, utcnow
from app.extensions import db
from app.files.models import StoredFile
from app.places.models import Community, Township
from app.programmes.models import Programme, ProgrammeStatus
from app.programmes.operations import allowance, effective_due, township_sizes
from app.refusal import Refusal


class WorkflowError(Refusal):
    """A step the rules refuse; the message says why, for the user, and ``field`` names the form field it concerns
    (when one does) so that the page can show it there."""


class EditConflict(Exception):
    """Someone else saved the application after this user opened it."""


A = ApplicationStatus
# (from, to) → who takes the step. Anything not listed is refused.
TRANSITIONS: dict[tuple[ApplicationStatus, ApplicationStatus], str] = {
    (A.DRAFT, A.SUBMITTED): "township",
    (A.RETURNED, A.SUBMITTED): "township",
    (A.DRAFT, A.WITHDRAWN): "township",
    (A.SUBMITTED, A.WITHDRAWN): "township",
    (A.RETURNED, A.WITHDRAWN): "township",
    (A.SUBMITTED, A.RETURNED): "bureau",
    (A.SUBMITTED, A.ACCEPTED): "bureau",
    (A.SUBMITTED, A.REJECTED): "bureau",
}
NEEDS_REASON = {A.RETURNED, A.REJECTED}
LIVE = (A.DRAFT, A.SUBMITTED, A.RETURNED, A.ACCEPTED, A.REJECTED)  # everything that uses up a place
RESUBMIT_DAYS = 7



# --- counting and limits -----------------------------------------------------------------------------


def live_counts(programme_id: int) -> dict[int, int]:
    """{township id: nominations that use up a place} for one programme, in one query."""
    return dict(
        db.session.execute(
            sa.select(Application.township_id, sa.func.count(Application.id))
            .where(Application.programme_id == programme_id, Application.status.in_(LIVE))
            .group_by(Application.township_id)
        ).tuples().all()
    )


def nominated_community_ids(programme_id: int, township_id: int) -> set[int]:
    return set(
        db.session.scalars(
            sa.select(Application.community_id).where(
                Application.programme_id == programme_id,
                Application.township_id == township_id,
                Application.status != A.WITHDRAWN,
            )
        )
    )


def _lock_township(township_id: int) -> None:
    # Serialises nominations of one township (PostgreSQL row lock; SQLite takes the write lock at BEGIN).
    db.session.execute(sa.select(Township.id).where(Township.id == township_id).with_for_update())


def _before_deadline(programme: Programme, township_id: int) -> None:
    due = effective_due(programme, township_id)
    if due is not None and china_today() > due:
        raise WorkflowError(
            _("申报已于 %(d)s 截止。如确需补报，请联系市民政局为本镇(街道)延期。", d=due.isoformat())
        )


def nominate(programme: Programme, township: Township, community: Community, user) -> Application:
    """A new draft nomination, within the township's limit and before its deadline."""
    if programme.status != ProgrammeStatus.OPEN:
        raise WorkflowError(_("该项目当前不在申报期。"))
    if community.township_id != township.id:
        raise WorkflowError(_("只能推荐本镇(街道)的村(社区)。"))
    if not community.active:
        raise WorkflowError(_("该村(社区)已停用。"))
    _before_deadline(programme, township.id)
    _lock_township(township.id)
    if community.id in nominated_community_ids(programme.id, township.id):
        raise WorkflowError(_("%(name)s 已在本项目中推荐过。", name=community.name))
    limit = allowance(programme, township_sizes().get(township.id, 0))
    used = live_counts(programme.id).get(township.id, 0)
    if limit.maximum is not None and used >= limit.maximum:
        raise WorkflowError(_("本镇(街道)最多推荐 %(n)d 个，已推荐 %(used)d 个。", n=limit.maximum, used=used))
    sequence = (
        db.session.scalar(
            sa.select(sa.func.max(Application.sequence)).where(
                Application.programme_id == programme.id, Application.township_id == township.id
            )
        )
        or 0
    ) + 1
    application = Application(
        programme=programme,
        township=township,
        community=community,
        sequence=sequence,
        reference=f"{programme.year}-{programme.code}-{township.code.upper()}-{sequence:02d}",
        created_by_id=user.id if user is not None else None,
        contact_name="",
    )
    try:
        # Added inside the savepoint, so a refused insert leaves nothing pending in the session.
        with db.session.begin_nested():
            db.session.add(application)
            db.session.flush()
    except IntegrityError as error:
        # Two clicks at once: the unique index keeps one nomination, the second click is told.
        raise WorkflowError(_("%(name)s 已在本项目中推荐过。", name=community.name)) from error
    _record(application, None, A.DRAFT, user)
    return application


# --- filling in -------------------------------------------------------------------------------------


def check_version(application: Application, version: int | None) -> None:
    if version is not None and version != application.version:
        raise EditConflict()


def save_fields(application: Application, values: dict) -> None:
    for key, value in values.items():
        setattr(application, key, value)


def _sync_rows(existing: list, rows: list[dict], make) -> None:
    for index, values in enumerate(rows):
        if index < len(existing):
            for key, value in values.items():
                setattr(existing[index], key, value)
        else:
            existing.append(make(**values))
    del existing[len(rows):]


def save_convenors(application: Application, rows: list[dict]) -> None:
    _sync_rows(application.convenors, [dict(row, sort_order=i) for i, row in enumerate(rows)], Convenor)


def save_think_tank(application: Application, rows: list[dict]) -> None:
    _sync_rows(application.think_tank, [dict(row, sort_order=i) for i, row in enumerate(rows)], ThinkTankMember)


def save_budget(application: Application, rows: list[dict]) -> None:
    _sync_rows(application.budget_lines, [dict(row, sort_order=i) for i, row in enumerate(rows)], BudgetLine)


def attach(application: Application, stored: StoredFile, description: str) -> ApplicationAttachment:
    attachment = ApplicationAttachment(application=application, file=stored, description=description.strip())
    db.session.add(attachment)
    db.session.flush()
    return attachment


# --- completeness (checked on submission; drafts may be partial) ------------------------------------


@dataclass
class Missing:
    field: str
    message: str


def missing_for_submission(application: Application) -> list[Missing]:
    """What a complete form must have before it can be submitted, as (field, message) pairs."""
    missing: list[Missing] = []

    def need(field: str, value, label) -> None:
        if value is None or (isinstance(value, str) and not value.strip()) or value == []:
            missing.append(Missing(field, _("提交前请填写“%(label)s”。", label=label)))

    need("contact_name", application.contact_name, _("联系人"))
    need("contact_phone", application.contact_phone, _("联系电话"))
    if application.programme.is_project:
        need("project_type_id", application.project_type_id, _("项目类型"))
        need("project_name", application.project_name, _("项目名称"))
        need("goals", application.goals, _("项目目标"))
        need("measures", application.measures, _("主要措施"))
        need("schedule", application.schedule, _("实施计划"))
        need("expected_results", application.expected_results, _("预期成效"))
        if not application.budget_lines:
            missing.append(Missing("budget_lines", _("提交前请至少填写一项经费预算。")))
    else:
        levels = {convenor.level for convenor in application.convenors}
        if len(levels) < 3:
            missing.append(Missing("convenors", _("提交前请填写网格、小区(街巷)、楼栋三级协商单元的召集人。")))
        need("participants", application.participants, _("参与者"))
        need("venue_name", application.venue_name, _("议事场所"))
        need("venue_area_m2", application.venue_area_m2, _("场所面积"))
        need("consultation_forms", application.consultation_forms, _("协商形式"))
        need("procedure_topic", application.procedure_topic, _("汇集民意、确定议题"))
        need("procedure_consult", application.procedure_consult, _("开展协商、达成意见"))
        need("procedure_follow_up", application.procedure_follow_up, _("监督落实、固化成果"))
        need("self_governance", application.self_governance, _("村(居)民自治情况"))
    need("township_opinion", application.township_opinion, _("镇(街道)审核意见"))
    return missing


# --- the workflow ------------------------------------------------------------------------------------


def _record(application: Application, old: ApplicationStatus | None, new: ApplicationStatus, user, reason=""):
    db.session.add(
        ApplicationEvent(
            application=application,
            actor_id=user.id if user is not None else None,
            actor_name=user.username if user is not None else "",
            from_status=old,
            to_status=new,
            reason=reason,
        )
    )
    db.session.flush()


def resubmission_due(application: Application) -> date | None:
    due = effective_due(application.programme, application.township_id)
    if application.resubmit_due is not None and (due is None or application.resubmit_due > due):
        return application.resubmit_due
    return due


def transition(
    application: Application,
    new: ApplicationStatus,
    user,
    *,
    reason: str = "",
    resubmit_due: date | None = None,
) -> None:
    """Move ``application`` to ``new`` if the table allows it, the deadline holds and the form is complete."""
    old = application.status
    if old == new:
        raise WorkflowError(_("申报已是“%(s)s”状态。", s=new.title))
    if (old, new) not in TRANSITIONS:
        raise WorkflowError(_("申报不能从“%(old)s”改为“%(new)s”。", old=old.title, new=new.title))
    reason = reason.strip()
    if new in NEEDS_REASON and not reason:
        raise WorkflowError(_("请填写原因。"), field="reason")
    today = china_today()
    programme = application.programme
    if new == A.SUBMITTED:
        due = resubmission_due(application) if old == A.RETURNED else effective_due(programme, application.township_id)
        if due is not None and today > due:
            raise WorkflowError(
                _("申报已于 %(d)s 截止。如确需补报，请联系市民政局为本镇(街道)延期。", d=due.isoformat())
            )
        missing = missing_for_submission(application)
        if missing:
            raise WorkflowError(_("申报表尚未填写完整，不能提交。"))
        application.submitted_at = utcnow()
        base_due = programme.nomination_due
        application.submitted_late = base_due is not None and today > base_due
    if new == A.WITHDRAWN:
        due = effective_due(programme, application.township_id)
        if due is not None and today > due:
            raise WorkflowError(_("截止日期已过，不能撤回。"))
    if new == A.RETURNED:
        due = effective_due(programme, application.township_id)
        default = max(filter(None, [due, today + timedelta(days=RESUBMIT_DAYS)]))
        chosen = resubmit_due or default
        if chosen < today:
            raise WorkflowError(_("重新提交的截止日期不能早于今天。"), field="resubmit_due")
        application.resubmit_due = chosen
    if new in NEEDS_REASON:
        application.last_reason = reason
    application.status = new
    _record(application, old, new, user, reason)
    if new in (A.RETURNED, A.REJECTED, A.ACCEPTED):
        from app.tracking.notifications import notify_township

        notify_township(application.township_id, "application",
                        _l("%(ref)s %(c)s：%(s)s", ref=application.reference, c=application.community.name,
                           s=new.lazy_title), reason, f"/applications/{application.id}",
                        f"application:{application.id}:{len(application.events)}")
