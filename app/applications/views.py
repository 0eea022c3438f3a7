from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from app.applications import operations
from app.applications.models import Application, ApplicationAttachment, ApplicationStatus, UnitLevel
from app.applications.operations import EditConflict, WorkflowError
from app.applications.queries import filtered_applications
from app.audit.models import AuditAction
from app.audit.operations import record_after_reading
from app.database import utcnow
from app.downloads import attachment as attachment_response
from app.extensions import db
from app.files.storage import UploadRejected, save_upload, send_stored, soft_delete
from app.funding.models import Site
from app.pagination import paginate
from app.permissions import (
    Permission,
    application_filter,
    authorize,
    can_edit_application,
    can_nominate_for,
    can_view_application,
    can_view_programme,
    can_view_site,
    has_permission,
    programme_filter,
    requires,
    visible_townships,
)
from app.places.models import Community
from app.programmes.models import Programme
from forms.applications import (
    ApplicationFilterForm,
    AttachmentForm,
    ConfirmForm,
    DemonstrationForm,
    NominateForm,
    ProjectForm,
    ReasonForm,
)
from forms.base import BaseForm, ensure_blank_rows, filled_rows, options
from reports import applications as applications_report
from reports.xlsx import write_workbook

bp = Blueprint("applications", __name__, url_prefix="/applications")
A = ApplicationStatus


def _load(application_id: int) -> Application:
    application = db.get_or_404(Application, application_id)
    authorize(can_view_application(current_user, application))
    return application


# --- list and export ---------------------------------------------------------------------------------


def _filters() -> tuple[ApplicationFilterForm, dict]:
    form = ApplicationFilterForm(request.args)
    programmes = db.session.execute(
        sa.select(Programme.id, Programme.name).where(programme_filter(current_user)).order_by(Programme.year.desc())
    ).all()
    townships = db.session.scalars(visible_townships(current_user)).all()
    form.programme.choices = options([(0, _("全部项目")), *[(p.id, p.name) for p in programmes]])
    form.township.choices = options([(0, _("全部镇(街道)")), *[(t.id, t.name) for t in townships]])
    form.status.choices = options([("", _("全部状态")), *A.choices()])
    if not form.validate():
        return form, {}
    return form, {key: form.data[key] for key in ("programme", "township", "status", "q")}


@bp.route("/")
@requires(Permission.APPLICATIONS_VIEW)
def index():
    form, filters = _filters()
    page = paginate(filtered_applications(application_filter(current_user), filters))
    return render_template("applications/index.html", form=form, page=page)


@bp.route("/export.xlsx")
@requires(Permission.APPLICATIONS_VIEW)
def export():
    _form, filters = _filters()
    query = filtered_applications(application_filter(current_user), filters)
    subtitle = _("导出人：%(user)s　导出时间：%(at)s", user=current_user.username,
                 at=format_datetime(utcnow(), "yyyy-MM-dd HH:mm"))
    data = write_workbook([applications_report.sheet(query)], subtitle=subtitle)
    record_after_reading(AuditAction.EXPORT, object_type="Application",
                         summary=f"applications export {request.query_string.decode()[:200]}")
    return attachment_response(data, f"申报汇总表_{utcnow():%Y%m%d}.xlsx")


# --- creating a nomination ---------------------------------------------------------------------------


@bp.route("/nominate/<int:programme_id>", methods=["GET", "POST"])
@requires(Permission.APPLICATIONS_NOMINATE)
def nominate(programme_id: int):
    programme = db.get_or_404(Programme, programme_id)
    authorize(can_view_programme(current_user, programme) and can_nominate_for(current_user, current_user.township_id))
    township = current_user.township
    taken = operations.nominated_community_ids(programme.id, township.id)
    communities = db.session.scalars(
        sa.select(Community)
        .where(Community.township_id == township.id, Community.active.is_(True))
        .order_by(Community.sort_order, Community.id)
    ).all()
    form = NominateForm(community_choices=[(c.id, c.name) for c in communities if c.id not in taken])
    if form.validate_on_submit():
        community = db.session.get(Community, form.community_id.data)
        try:
            application = operations.nominate(programme, township, community, current_user)
        except WorkflowError as error:
            db.session.rollback()
            form.community_id.errors.append(str(error))
        else:
            db.session.commit()
            flash(_("已创建 %(ref)s，请填写后提交。", ref=application.reference), "success")
            return redirect(url_for("applications.edit", application_id=application.id))
    return render_template("applications/nominate.html", form=form, programme=programme)


# --- one application -----------------------------------------------------------------------------


def _detail_context(application: Application, posted: BaseForm | None = None) -> dict:
    """What the detail page shows; ``posted``, a reason or attachment form that was refused, is shown as it was sent
    (values and messages) in place of its fresh form."""
    # Once the list is final the application lives on as a site: link to its progress and money.
    site = db.session.scalar(sa.select(Site).where(Site.application_id == application.id))
    return dict(
        application=application,
        site=site if site is not None and can_view_site(current_user, site) else None,
        can_edit=can_edit_application(current_user, application),
        can_review=has_permission(current_user, Permission.APPLICATIONS_REVIEW),
        can_withdraw=can_nominate_for(current_user, application.township_id)
        and (application.status, A.WITHDRAWN) in operations.TRANSITIONS,
        confirm=ConfirmForm(formdata=None),
        reason_form=posted if isinstance(posted, ReasonForm) else ReasonForm(formdata=None),
        attachment_form=posted if isinstance(posted, AttachmentForm) else AttachmentForm(formdata=None),
        missing=operations.missing_for_submission(application) if application.status in (A.DRAFT, A.RETURNED)
        else [],
        due=operations.resubmission_due(application),
    )


@bp.route("/<int:application_id>")
@requires(Permission.APPLICATIONS_VIEW)
def detail(application_id: int):
    return render_template("applications/detail.html", **_detail_context(_load(application_id)))


def _refused(application: Application, form: BaseForm):
    """The detail page again with ``form`` as it was posted, so that nothing typed is lost: each message at its
    field, the first field in error focused. 200, as the programme forms answer."""
    form.focus_first_error()
    return render_template("applications/detail.html", **_detail_context(application, posted=form))


@bp.route("/<int:application_id>/print")
@requires(Permission.APPLICATIONS_VIEW)
def print_form(application_id: int):
    application = _load(application_id)
    levels = {level: [c for c in application.convenors if c.level == level] for level in UnitLevel}
    return render_template("applications/print.html", application=application, levels=levels)


def _form_for(application: Application, formdata=None):
    programme = application.programme
    if programme.is_project:
        form = ProjectForm(formdata=formdata, obj=application,
                           type_choices=[(t.id, t.name) for t in programme.project_types])
        if formdata is None:
            form.project_type_id.data = application.project_type_id or 0
            for line, entry in zip(application.budget_lines, form.budget_lines.entries, strict=False):
                entry.form.amount.data = line.amount_fen
    else:
        form = DemonstrationForm(formdata=formdata, obj=application)
        if formdata is None:
            for convenor, entry in zip(application.convenors, form.convenors.entries, strict=False):
                entry.form.level.data = convenor.level.value
    if formdata is None:
        form.version.data = application.version
    return form


def _apply(application: Application, form) -> None:
    common = {
        "contact_name": form.contact_name.data or "",
        "contact_phone": form.contact_phone.data or "",
        "township_opinion": form.township_opinion.data or "",
    }
    if application.programme.is_project:
        fields = ("project_name", "foundation", "goals", "measures", "schedule", "expected_results")
        operations.save_fields(application, {
            **common, **{name: form[name].data or "" for name in fields},
            "project_type_id": form.project_type_id.data or None,
        })
        operations.save_budget(application, [
            {"item": row.item.data, "amount_fen": row.amount.data, "note": row.note.data or ""}
            for row in filled_rows(form.budget_lines)
        ])
    else:
        texts = ("participants", "venue_kind", "venue_name", "wechat_column", "consultation_forms_other",
                 "procedure_topic", "procedure_consult", "procedure_follow_up", "self_governance")
        operations.save_fields(application, {
            **common, **{name: form[name].data or "" for name in texts},
            "venue_area_m2": form.venue_area_m2.data,
            "opinion_box": bool(form.opinion_box.data),
            "consultation_forms": list(form.consultation_forms.data or []),
        })
        operations.save_convenors(application, [
            {"level": UnitLevel(row.level.data), "unit_name": row.unit_name.data or "", "name": row.name.data,
             "role": row.role.data or ""}
            for row in filled_rows(form.convenors)
        ])
        operations.save_think_tank(application, [
            {"name": row.name.data, "identity": row.identity.data or ""} for row in filled_rows(form.think_tank)
        ])


def _blank_rows(form) -> None:
    for name in ("convenors", "think_tank", "budget_lines"):
        if name in form:
            ensure_blank_rows(form[name])


def _show_missing(form, missing) -> None:
    for item in missing:
        if item.field in form:
            form[item.field].errors = [*form[item.field].errors, item.message]


@bp.route("/<int:application_id>/edit", methods=["GET", "POST"])
@requires(Permission.APPLICATIONS_NOMINATE)
def edit(application_id: int):
    application = _load(application_id)
    authorize(can_edit_application(current_user, application))
    form = _form_for(application, request.form if request.method == "POST" else None)
    missing = []
    if form.validate_on_submit():
        try:
            operations.check_version(application, int(form.version.data or 0) or None)
            _apply(application, form)
            db.session.flush()
        except (EditConflict, StaleDataError):
            db.session.rollback()
            flash(_("在您编辑期间，这份申报已被他人修改。为避免覆盖，本次内容未保存；请刷新页面核对后重新填写。"),
                  "danger")
            return render_template("applications/edit.html", form=form, application=application, missing=[]), 409
        if form.submit_for_review.data:
            try:
                operations.transition(application, A.SUBMITTED, current_user)
            except WorkflowError as error:
                missing = operations.missing_for_submission(application)
                db.session.commit()  # the draft is kept even though it cannot be submitted yet
                flash(_("草稿已保存，但未提交：%(why)s", why=str(error)), "warning")
                form.version.data = application.version
                _show_missing(form, missing)
            else:
                db.session.commit()
                flash(_("%(ref)s 已提交。", ref=application.reference), "success")
                return redirect(url_for("applications.detail", application_id=application.id))
        else:
            db.session.commit()
            flash(_("草稿已保存。"), "success")
            return redirect(url_for("applications.edit", application_id=application.id))
    _blank_rows(form)
    return render_template("applications/edit.html", form=form, application=application, missing=missing)


def _step(application_id: int, new_status: ApplicationStatus, *, review: bool):
    application = _load(application_id)
    if review:
        authorize(has_permission(current_user, Permission.APPLICATIONS_REVIEW))
    else:
        authorize(can_nominate_for(current_user, application.township_id))
    form = ReasonForm() if new_status in operations.NEEDS_REASON else ConfirmForm()
    valid = form.validate_on_submit()
    if not valid and (application.status, new_status) in operations.TRANSITIONS:
        return _refused(application, form)
    # A refused form for a step no longer possible (another was taken meanwhile, and the page offers this form no
    # more) goes on without its values, to the step's own refusal, which says why.
    reason, resubmit_due = "", None
    if valid and isinstance(form, ReasonForm):
        reason, resubmit_due = form.reason.data, form.resubmit_due.data
    try:
        operations.transition(application, new_status, current_user, reason=reason, resubmit_due=resubmit_due)
    except WorkflowError as error:
        db.session.rollback()
        if error.field in form:
            form.refuse(str(error), error.field)
            return _refused(application, form)
        flash(str(error), "danger")  # about the application's state, not what was typed
    else:
        db.session.commit()
        flash(_("%(ref)s：%(status)s。", ref=application.reference, status=new_status.title), "success")
    return redirect(url_for("applications.detail", application_id=application.id))


@bp.route("/<int:application_id>/submit", methods=["POST"])
@requires(Permission.APPLICATIONS_NOMINATE)
def submit(application_id: int):
    return _step(application_id, A.SUBMITTED, review=False)


@bp.route("/<int:application_id>/withdraw", methods=["POST"])
@requires(Permission.APPLICATIONS_NOMINATE)
def withdraw(application_id: int):
    return _step(application_id, A.WITHDRAWN, review=False)


@bp.route("/<int:application_id>/return", methods=["POST"])
@requires(Permission.APPLICATIONS_REVIEW)
def return_(application_id: int):
    return _step(application_id, A.RETURNED, review=True)


@bp.route("/<int:application_id>/accept", methods=["POST"])
@requires(Permission.APPLICATIONS_REVIEW)
def accept(application_id: int):
    return _step(application_id, A.ACCEPTED, review=True)


@bp.route("/<int:application_id>/reject", methods=["POST"])
@requires(Permission.APPLICATIONS_REVIEW)
def reject(application_id: int):
    return _step(application_id, A.REJECTED, review=True)


# --- attachments ------------------------------------------------------------------------------------


@bp.route("/<int:application_id>/attachments", methods=["POST"])
@requires(Permission.APPLICATIONS_NOMINATE)
def upload(application_id: int):
    application = _load(application_id)
    authorize(can_edit_application(current_user, application))
    form = AttachmentForm()
    if not form.validate_on_submit():
        return _refused(application, form)  # the file chosen is not kept: a file input cannot be filled in again
    try:
        stored = save_upload(form.file.data, uploaded_by=current_user)
    except UploadRejected as error:
        db.session.rollback()
        form.refuse(str(error), "file")
        return _refused(application, form)
    operations.attach(application, stored, form.description.data or "")
    db.session.commit()
    flash(_("已上传 %(name)s。", name=stored.original_name), "success")
    return redirect(url_for("applications.detail", application_id=application.id) + "#attachments")


def _attachment(application: Application, attachment_id: int) -> ApplicationAttachment:
    attachment = db.get_or_404(ApplicationAttachment, attachment_id)
    if attachment.application_id != application.id:
        abort(404)
    return attachment


@bp.route("/<int:application_id>/attachments/<int:attachment_id>")
@requires(Permission.APPLICATIONS_VIEW)
def download(application_id: int, attachment_id: int):
    application = _load(application_id)
    return send_stored(_attachment(application, attachment_id).file)


@bp.route("/<int:application_id>/attachments/<int:attachment_id>/delete", methods=["POST"])
@requires(Permission.APPLICATIONS_NOMINATE)
def delete_attachment(application_id: int, attachment_id: int):
    application = _load(application_id)
    authorize(can_edit_application(current_user, application))
    attachment = _attachment(application, attachment_id)
    if ConfirmForm().validate_on_submit():
        soft_delete(attachment.file, current_user)
        db.session.commit()
        flash(_("已删除附件 %(name)s。", name=attachment.file.original_name), "success")
    return redirect(url_for("applications.detail", application_id=application.id) + "#attachments")
