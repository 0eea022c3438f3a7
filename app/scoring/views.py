from __future__ import annotations

from functools import cache

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy.orm.exc import StaleDataError

from app.accounts.models import Role, User
from app.applications.models import Application, ApplicationStatus
from app.database import china_today, id_number, utcnow
from app.downloads import attachment
from app.extensions import db
from app.formatting import yuan_text
from app.pagination import paginate_list
from app.permissions import Permission, authorize, can_score, can_view_programme, has_permission, requires
from app.programmes.models import Programme
from app.scoring import operations
from app.scoring import selection as selecting
from app.scoring.models import Assignment, CriterionKind, Objection, SelectionStatus, SheetStatus
from app.scoring.operations import ScoringError
from app.scoring.ranking import application_labels, programme_ranking, remembered, tie_labels
from app.scoring.selection import SelectionError
from app.statements import Remembered, changes_mark
from forms.applications import ConfirmForm
from forms.base import BaseForm, ensure_blank_rows, filled_rows, options
from forms.scoring import (
    AddForm,
    AnswerForm,
    AssignForm,
    CriteriaForm,
    ObjectionForm,
    ReasonOnlyForm,
    ScoringSettingsForm,
    SwapForm,
    TieForm,
    TierForm,
    sheet_form_class,
)
from reports import scoring_summary, selection_list
from reports.xlsx import write_workbook

bp = Blueprint("scoring", __name__, url_prefix="/scoring")


def _programme(programme_id: int) -> Programme:
    programme = db.get_or_404(Programme, programme_id)
    authorize(can_view_programme(current_user, programme))
    return programme


def _subtitle() -> str:
    return _("导出人：%(user)s　导出时间：%(at)s", user=current_user.username,
             at=format_datetime(utcnow(), "yyyy-MM-dd HH:mm"))


# --- the evaluator ---------------------------------------------------------------------------------------


def _my_assignments(programme_id: int | None = None) -> list[Assignment]:
    query = (
        sa.select(Assignment)
        .join(Assignment.application)
        .where(Assignment.evaluator_id == current_user.id)
        .options(sa.orm.joinedload(Assignment.application).joinedload(Application.community),
                 sa.orm.joinedload(Assignment.application).joinedload(Application.programme))
        .order_by(Application.programme_id.desc(), Application.reference)
    )
    if programme_id is not None:
        query = query.where(Application.programme_id == programme_id)
    return list(db.session.scalars(query).unique())


@bp.route("/")
@requires(Permission.SCORING_SCORE)
def index():
    return render_template("scoring/index.html", assignments=_my_assignments(), today=china_today())


def _sheet_form(assignment: Assignment, formdata=None):
    programme = assignment.application.programme
    form = sheet_form_class(programme.criteria, programme.vetoes)(formdata=formdata)
    if formdata is None:
        scores = {score.criterion_id: score.half_points for score in assignment.scores}
        for criterion in programme.criteria:
            form[f"c{criterion.id}"].data = scores.get(criterion.id)
        form.veto_ids.data = list(assignment.veto_ids or [])
        form.comment.data = assignment.comment
        form.version.data = assignment.version
    return form


@bp.route("/sheets/<int:assignment_id>", methods=["GET", "POST"])
@requires(Permission.SCORING_SCORE)
def sheet(assignment_id: int):
    assignment = db.get_or_404(Assignment, assignment_id)
    authorize(can_score(current_user, assignment))
    programme = assignment.application.programme
    locked = assignment.status == SheetStatus.SUBMITTED
    form = _sheet_form(assignment, request.form if request.method == "POST" and not locked else None)
    if not locked and form.validate_on_submit():
        values = {c.id: form[f"c{c.id}"].data for c in programme.criteria}
        try:
            if str(assignment.version) != (form.version.data or str(assignment.version)):
                raise StaleDataError()
            operations.save_sheet(assignment, values, form.veto_ids.data or [], form.comment.data or "")
            if form.submit_sheet.data:
                operations.submit_sheet(assignment)
        except ScoringError as error:
            db.session.rollback()
            flash(str(error), "danger")
        except StaleDataError:
            db.session.rollback()
            flash(_("该评分表已在别处保存过，请刷新后再填写。"), "danger")
        else:
            db.session.commit()
            flash(_("评分已提交并锁定。") if form.submit_sheet.data else _("评分草稿已保存。"), "success")
            return redirect(url_for("scoring.sheet", assignment_id=assignment.id))
    return render_template("scoring/sheet.html", assignment=assignment, programme=programme, form=form,
                           locked=locked, base_total=operations.base_total(programme))


@bp.route("/sheets/<int:assignment_id>/application")
@requires(Permission.SCORING_SCORE)
def application(assignment_id: int):
    """The application an evaluator scores, read-only: evaluators see nothing else of the programme."""
    assignment = db.get_or_404(Assignment, assignment_id)
    authorize(can_score(current_user, assignment))
    return render_template("scoring/application.html", assignment=assignment, application=assignment.application)


def _workbook_evaluator(programme: Programme) -> User:
    """The evaluator whose workbook this is: oneself, or (for the bureau) the one named in ?evaluator=."""
    if has_permission(current_user, Permission.SCORING_MANAGE):
        evaluator = db.get_or_404(User, request.values.get("evaluator", type=id_number) or 0)
        if evaluator.role != Role.EVALUATOR:
            abort(404)
        return evaluator
    # An evaluator knows of a programme only through the sheets assigned to them.
    if not _my_assignments(programme.id):
        abort(404)
    return current_user


def _assignments_of(evaluator: User, programme: Programme, *, with_scores: bool = True) -> list[Assignment]:
    """The evaluator's assignments in the programme with their applications (and scores, unless not needed)."""
    options = [sa.orm.joinedload(Assignment.application).joinedload(Application.community),
               sa.orm.joinedload(Assignment.application).joinedload(Application.township)]
    if with_scores:
        options.append(sa.orm.selectinload(Assignment.scores))
    return list(db.session.scalars(
        sa.select(Assignment).join(Assignment.application)
        .where(Assignment.evaluator_id == evaluator.id, Application.programme_id == programme.id)
        .options(*options).order_by(Application.reference)
    ).unique())


@bp.route("/programmes/<int:programme_id>/workbook.xlsx")
@requires(Permission.SCORING_WORKBOOK)
def workbook(programme_id: int):
    from reports import scoring_workbook

    programme = db.get_or_404(Programme, programme_id)
    evaluator = _workbook_evaluator(programme)
    data = scoring_workbook.build(programme, evaluator, _assignments_of(evaluator, programme, with_scores=False))
    return attachment(data, f"评分表_{programme.year}_{evaluator.username}.xlsx")


@bp.route("/programmes/<int:programme_id>/workbook", methods=["POST"])
@requires(Permission.SCORING_WORKBOOK)
def upload_workbook(programme_id: int):
    from reports import scoring_workbook

    programme = db.get_or_404(Programme, programme_id)
    evaluator = _workbook_evaluator(programme)
    upload = request.files.get("file")
    back = url_for("scoring.manage", programme_id=programme.id) if has_permission(
        current_user, Permission.SCORING_MANAGE) else url_for("scoring.index")
    if upload is None or not upload.filename:
        flash(_("请选择要上传的评分表。"), "danger")
        return redirect(back)
    assignments = _assignments_of(evaluator, programme)
    rows, errors = scoring_workbook.parse(upload.read(), programme, evaluator, assignments)
    if errors:
        return render_template("scoring/workbook_errors.html", errors=errors, programme=programme, back=back), 400
    by_id = {a.id: a for a in assignments}
    try:
        for row in rows:
            operations.save_sheet(by_id[row.assignment_id], row.half_points, row.veto_ids, row.comment)
            if request.form.get("submit_complete") and _complete(by_id[row.assignment_id]):
                operations.submit_sheet(by_id[row.assignment_id])
    except ScoringError as error:
        db.session.rollback()
        flash(str(error), "danger")
        return redirect(back)
    db.session.commit()
    flash(_("已导入 %(n)d 份评分表。", n=len(rows)), "success")
    return redirect(back)


def _complete(assignment: Assignment) -> bool:
    scored = {score.criterion_id for score in assignment.scores}
    return all(c.id in scored for c in assignment.application.programme.criteria if c.kind == CriterionKind.BASE)


# --- the bureau: sheet, assignments, progress -------------------------------------------------------------


@bp.route("/programmes/<int:programme_id>", methods=["GET"])
@requires(Permission.SCORING_MANAGE)
def manage(programme_id: int):
    return _manage_page(_programme(programme_id))


def _manage_page(programme: Programme, posted: BaseForm | None = None, reopening: int | None = None):
    """The manage page; ``posted``, an assignment form or (for the sheet ``reopening``) a reason to send a sheet back
    that was refused, is shown as it was sent (values and errors) in place of its fresh form. 200, as the programme
    forms answer."""
    applications = _accepted(programme)
    evaluators = _evaluators()
    assignments = db.session.scalars(
        sa.select(Assignment).join(Assignment.application).where(Application.programme_id == programme.id)
    ).all()
    matrix = {(a.application_id, a.evaluator_id): a for a in assignments}
    conflicts = {(app.id, ev.id): operations.conflict(ev, app) for app in applications for ev in evaluators}
    today = china_today()
    progress = []
    for evaluator in evaluators:
        mine = [a for a in assignments if a.evaluator_id == evaluator.id]
        done = sum(1 for a in mine if a.status == SheetStatus.SUBMITTED)
        late = bool(programme.scoring_due and today > programme.scoring_due and done < len(mine))
        progress.append((evaluator, len(mine), done, late))
    form = posted if isinstance(posted, AssignForm) else AssignForm(formdata=None)
    # The boxes are drawn from the choices, in the order of the matrix's rows and columns.
    form.applications.choices = options([(a.id, a.reference) for a in applications])
    form.evaluators.choices = options([(e.id, e.label) for e in evaluators])
    for group in (form.applications, form.evaluators):
        if group.errors and not group.choices:
            # No box to tick, so none to name the message: it is the form's (above its fields).
            form.form_errors.extend(group.errors)
            group.errors = []
    reopen_form = posted if isinstance(posted, ReasonOnlyForm) else ReasonOnlyForm(formdata=None)
    return render_template("scoring/manage.html", programme=programme, applications=applications,
                           evaluators=evaluators, matrix=matrix, conflicts=conflicts, progress=progress,
                           form=form, reopen_form=reopen_form, reopening=reopening, confirm=ConfirmForm(formdata=None),
                           frozen=operations.sheet_frozen(programme),
                           list_name=selecting.list_name(selecting.status_of(programme.id)))


def _accepted(programme: Programme) -> list[Application]:
    return list(db.session.scalars(
        sa.select(Application)
        .where(Application.programme_id == programme.id, Application.status == ApplicationStatus.ACCEPTED)
        .options(sa.orm.joinedload(Application.community), sa.orm.joinedload(Application.township))
        .order_by(Application.reference)
    ).unique())


def _evaluators() -> list[User]:
    return list(db.session.scalars(
        sa.select(User).where(User.role == Role.EVALUATOR, User.active.is_(True))
        .options(sa.orm.joinedload(User.tied_township)).order_by(User.username)
    ).unique())


@bp.route("/programmes/<int:programme_id>/assign", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def assign(programme_id: int):
    programme = _programme(programme_id)
    form = AssignForm()
    if not form.validate_on_submit():
        form.focus_first_error()
        return _manage_page(programme, posted=form)
    applications = {a.id: a for a in _accepted(programme)}
    evaluators = {e.id: e for e in _evaluators()}
    chosen_apps = [applications[i] for i in form.applications.data if i in applications]
    chosen_evaluators = [evaluators[i] for i in form.evaluators.data if i in evaluators]
    made, refused = operations.assign_many(
        [(a, e) for a in chosen_apps for e in chosen_evaluators], current_user)
    db.session.commit()
    flash(_("已分配 %(n)d 份评分表。", n=made), "success")
    for reason in refused:
        flash(reason, "warning")
    return redirect(url_for("scoring.manage", programme_id=programme.id))


@bp.route("/assignments/<int:assignment_id>/unassign", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def unassign(assignment_id: int):
    assignment = db.get_or_404(Assignment, assignment_id)
    programme_id = assignment.application.programme_id
    try:
        operations.unassign(assignment)
    except ScoringError as error:
        flash(str(error), "danger")
    else:
        db.session.commit()
        flash(_("已取消分配。"), "success")
    return redirect(url_for("scoring.manage", programme_id=programme_id))


@bp.route("/assignments/<int:assignment_id>/reopen", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def reopen(assignment_id: int):
    assignment = db.get_or_404(Assignment, assignment_id)
    programme_id = assignment.application.programme_id
    form = ReasonOnlyForm()
    if not form.validate_on_submit():
        return _reopen_refused(programme_id, form, assignment_id)
    try:
        operations.reopen_sheet(assignment, form.reason.data)
    except ScoringError as error:
        db.session.rollback()
        if error.field is not None:
            form.refuse(str(error), error.field)
            return _reopen_refused(programme_id, form, assignment_id)
        flash(str(error), "danger")  # the sheet's state: no longer submitted
    else:
        db.session.commit()
        flash(_("评分表已退回评审人修改。"), "success")
    return redirect(url_for("scoring.manage", programme_id=programme_id))


def _reopen_refused(programme_id: int, form: ReasonOnlyForm, assignment_id: int):
    form.focus_first_error()
    return _manage_page(_programme(programme_id), posted=form, reopening=assignment_id)


@bp.route("/programmes/<int:programme_id>/criteria", methods=["GET", "POST"])
@requires(Permission.SCORING_MANAGE)
def criteria(programme_id: int):
    programme = _programme(programme_id)
    frozen = operations.sheet_frozen(programme)
    data = {
        "items": [{"group_name": c.group_name, "name": c.name, "kind": c.kind.value, "max_points": c.max_points,
                   "guidance": c.guidance} for c in programme.criteria],
        "vetoes": [{"text": v.text} for v in programme.vetoes],
    }
    form = CriteriaForm() if request.method == "POST" and "items-0-name" in request.form else CriteriaForm(data=data)
    settings = ScoringSettingsForm(obj=programme) if not (request.method == "POST" and "publicity_days" in
                                                           request.form) else ScoringSettingsForm()
    if request.method == "POST" and "publicity_days" in request.form and settings.validate_on_submit():
        for name in ("use_trimmed_mean", "weight_bureau", "weight_finance", "weight_expert", "scoring_due",
                     "publicity_days"):
            setattr(programme, name, settings[name].data)
        db.session.commit()
        flash(_("评分设置已保存。"), "success")
        return redirect(url_for("scoring.criteria", programme_id=programme.id))
    if request.method == "POST" and "items-0-name" in request.form and form.validate_on_submit():
        rows = [{"group_name": r.group_name.data, "name": r.name.data, "kind": CriterionKind(r.kind.data),
                 "max_points": r.max_points.data, "guidance": r.guidance.data or ""} for r in filled_rows(form.items)]
        try:
            operations.save_criteria(programme, rows)
            operations.save_vetoes(programme, [r.text.data for r in filled_rows(form.vetoes)])
        except ScoringError as error:
            db.session.rollback()
            flash(str(error), "danger")
        else:
            db.session.commit()
            flash(_("评分表已保存，基本分合计 %(n)d 分。", n=operations.base_total(programme)), "success")
            return redirect(url_for("scoring.criteria", programme_id=programme.id))
    if not frozen:
        ensure_blank_rows(form.items, blanks=2)
        ensure_blank_rows(form.vetoes, blanks=1)
    return render_template("scoring/criteria.html", programme=programme, form=form, settings=settings,
                           frozen=frozen, base_total=operations.base_total(programme))


# --- ranking and selection ---------------------------------------------------------------------------------


@bp.route("/programmes/<int:programme_id>/ranking")
@requires(Permission.RANKING_VIEW)
def ranking(programme_id: int):
    return _ranking_page(programme_id)


def _ranking_page(programme_id: int, posted: TieForm | None = None):
    """The whole ranking is computed (positions need every sheet); one page of it is shown, with the applications
    of that page and of the ties loaded: a fixed number of queries whatever the number of applications. ``posted``,
    a tie decision that was refused, is shown as it was sent (values and errors). 200, as the programme forms
    answer."""
    programme = db.session.execute(_with_criteria(), {"id": programme_id}).unique().scalar_one_or_none()
    if programme is None:
        abort(404)
    authorize(can_view_programme(current_user, programme))
    mark = changes_mark()
    ranking = remembered(programme, mark)
    page = paginate_list(ranking.order)
    labels = application_labels([r.application_id for r in page.items])
    tie_form = posted if posted is not None else TieForm(formdata=None)
    tie_options = Markup()
    if posted is not None:
        # Drawn by WTForms with the choice made kept (a refusal is rare: the options are read again for it).
        tied = tie_labels(ranking.tied)
        tie_form.application_id.choices = options([(i, tied[i]) for i in ranking.tied])
    elif has_permission(current_user, Permission.SCORING_MANAGE):
        tie_options = _TIE_OPTIONS.get((programme.id, mark), lambda: _tie_options(ranking.tied))
    return render_template("scoring/ranking.html", programme=programme, page=page, tie_form=tie_form,
                           tie_refused=posted is not None, tie_options=tie_options,
                           rows=_ranking_rows(programme, page, ranking, labels),
                           list_name=selecting.list_name(selecting.status_of(programme.id)))


@cache
def _with_criteria() -> sa.Select:
    """A programme with its criteria (the ranking's rules): one query."""
    return (sa.select(Programme).options(sa.orm.joinedload(Programme.criteria))
            .where(Programme.id == sa.bindparam("id")))


def _ranking_rows(programme: Programme, page, ranking, labels: dict) -> Markup:
    """The rows of one page of the ranking, with the quota line where the quota is reached: written from pieces
    escaped and translated once (a page has 50 rows of 8 cells)."""
    badges = {"vetoed": ("danger", _("一票否决")), "tied": ("warning", _("并列，待决定")),
              "decided": ("info", _("按决定排序")), "unscored": ("light", _("尚无评分"))}
    badges = {key: f'<span class="badge text-bg-{colour}">{escape(text)}</span>' for key, (colour, text) in
              badges.items()}
    quota = programme.quota
    # Translated outside the f-strings, where pybabel would not find them.
    quota_line = escape(_("拟确定数量 %(n)d 个", n=quota))
    nothing = escape(_("还没有已受理的申报。"))
    html = []
    for index, row in enumerate(page.items):
        if index + page.first - 1 == quota:
            html.append(f'<tr class="quota-line"><td colspan="8" class="text-center small text-danger">'
                        f"—— {quota_line} ——</td></tr>")
        label = labels[row.application_id]
        mean, tiebreak = ranking.texts(row)
        badge = (badges["vetoed"] if row.vetoed else badges["tied"] if row.tied else badges["decided"]
                 if row.decided else badges["unscored"] if row.mean is None else "")
        html.append(f'<tr class="{"table-success" if row.position and row.position <= quota else ""}">'
                    f"<td>{row.position or '—'}</td><td>{escape(label.reference)}</td>"
                    f"<td>{escape(label.township)}</td><td>{escape(label.community)}</td>"
                    f'<td class="text-end">{row.evaluators}</td><td class="text-end">{mean}</td>'
                    f'<td class="text-end">{tiebreak}</td><td>{badge}</td></tr>')
    if not html:
        html.append(f'<tr><td colspan="8" class="text-muted">{nothing}</td></tr>')
    return Markup("".join(html))


# The tie form's options under the audit log's largest id (app.statements.changes_mark), as the ranking they come
# from: a province's ranking leaves some 500 applications level, whose labels were read and written on every view.
_TIE_OPTIONS = Remembered(kept=32)


def _tie_options(tied: list[int]) -> Markup:
    """The options of the tie form's select, in ranking order: written here rather than by WTForms, as a
    province's ranking can leave hundreds level (a refused form, shown again with its choice made, is drawn by
    WTForms)."""
    labels = tie_labels(tied)
    return Markup("".join(f'<option value="{i}">{escape(labels[i])}</option>' for i in tied))


@bp.route("/programmes/<int:programme_id>/ties", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def decide_tie(programme_id: int):
    programme = _programme(programme_id)
    form = TieForm()
    if not form.validate_on_submit():
        form.focus_first_error()
        return _ranking_page(programme.id, posted=form)
    try:
        operations.record_tie_decision(programme, form.application_id.data, form.priority.data,
                                       form.reason.data, current_user)
    except ScoringError as error:
        db.session.rollback()
        form.refuse(str(error), error.field)
        form.focus_first_error()
        return _ranking_page(programme.id, posted=form)
    db.session.commit()
    flash(_("并列排序的决定已记录。"), "success")
    return redirect(url_for("scoring.ranking", programme_id=programme.id, page=request.args.get("page", type=int)))


@bp.route("/programmes/<int:programme_id>/ranking.xlsx")
@requires(Permission.RANKING_VIEW)
def ranking_export(programme_id: int):
    programme = _programme(programme_id)
    data = write_workbook(scoring_summary.sheets(programme), subtitle=_subtitle())
    return attachment(data, f"评分汇总表_{programme.year}_{programme.code}.xlsx")


@bp.route("/programmes/<int:programme_id>/selection")
@requires(Permission.RANKING_VIEW)
def selection(programme_id: int):
    return _selection_page(_programme(programme_id))


def _selection_page(programme: Programme, posted: BaseForm | None = None, answering: int | None = None):
    """The selection page; ``posted``, a form of the list's adjustment, a tier, an objection or (for the objection
    ``answering``) an answer that was refused, is shown as it was sent (values and errors) in place of its fresh
    form. 200, as the programme forms answer."""
    rows = programme_ranking(programme)
    current = selecting.selection_of(programme)
    listed = {e.application_id for e in current.entries} if current else set()
    candidates = [(r.application.id, f"{r.ranked.position or '—'} · {r.application.reference} "
                   f"{r.application.community.name}") for r in rows if not r.ranked.vetoed and r.application.id
                  not in listed]
    in_list = [(e.application_id, f"{e.position} · {e.application.reference} {e.application.community.name}")
               for e in (current.entries if current else [])]

    def shown(form_class):
        # A fresh form must not read the request's data: on a refused post it is another form's.
        return posted if isinstance(posted, form_class) else form_class(formdata=None)

    swap_form, add_form = shown(SwapForm), shown(AddForm)
    swap_form.out_id.choices, swap_form.in_id.choices = options(in_list), options(candidates)
    add_form.in_id.choices = options(candidates)
    objection_form = shown(ObjectionForm)
    objection_form.application_id.choices = options([(0, _("（整份名单）")), *in_list])
    tiers = options([(t.id, f"{t.name}（{yuan_text(t.total_fen)} 元）") for t in programme.tiers])
    tier_form = shown(TierForm)
    tier_form.tier_id.choices = tiers
    return render_template(
        "scoring/selection.html", programme=programme, selection=current, rows=rows,
        warnings=selecting.warnings(current) if current else [], swap_form=swap_form, add_form=add_form,
        objection_form=objection_form, answer_form=shown(AnswerForm), answering=answering,
        confirm=ConfirmForm(formdata=None), tiers=tiers, tier_form=tier_form, today=china_today(),
        list_name=selecting.list_name(current.status if current else None),
    )


def _selection_step(programme_id: int, action, posted: BaseForm | None = None, answering: int | None = None):
    """Runs ``action`` and commits. ``posted``, the form the step was sent with, is shown again when it does not
    validate or when the rules refuse it at one of its fields; a refusal naming no field is about the list's state
    (not proposed, not yet publicised, the notice still running) and is flashed after a redirect."""
    programme = _programme(programme_id)
    authorize(has_permission(current_user, Permission.SCORING_MANAGE))
    if posted is not None and not posted.validate_on_submit():
        posted.focus_first_error()
        return _selection_page(programme, posted, answering)
    try:
        message = action(programme)
    except SelectionError as error:
        db.session.rollback()
        if posted is not None and error.field in posted:
            posted.refuse(str(error), error.field)
            posted.focus_first_error()
            return _selection_page(programme, posted, answering)
        flash(str(error), "danger")
    else:
        db.session.commit()
        flash(message, "success")
    return redirect(url_for("scoring.selection", programme_id=programme.id))


def _current(programme: Programme):
    current = selecting.selection_of(programme)
    if current is None:
        raise SelectionError(_("请先按排名生成拟确定名单。"))
    return current


@bp.route("/programmes/<int:programme_id>/selection/propose", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def propose(programme_id: int):
    def action(programme):
        selecting.propose(programme, programme_ranking(programme))
        return _("已按排名生成拟确定名单。")
    return _selection_step(programme_id, action)


@bp.route("/programmes/<int:programme_id>/selection/swap", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def swap(programme_id: int):
    form = SwapForm()

    def action(programme):
        incoming = db.session.get(Application, form.in_id.data or 0)
        if incoming is None:
            raise SelectionError(_("请选择调入的申报。"), field="in_id")
        selecting.swap(_current(programme), form.out_id.data, incoming, form.reason.data, programme_ranking(programme))
        return _("名单已调整。")
    return _selection_step(programme_id, action, posted=form)


@bp.route("/programmes/<int:programme_id>/selection/add", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def add(programme_id: int):
    form = AddForm()

    def action(programme):
        incoming = db.session.get(Application, form.in_id.data or 0)
        if incoming is None:
            raise SelectionError(_("请选择增列的申报。"), field="in_id")
        selecting.add(_current(programme), incoming, form.reason.data, programme_ranking(programme))
        return _("已增列。")
    return _selection_step(programme_id, action, posted=form)


@bp.route("/programmes/<int:programme_id>/selection/remove/<int:application_id>", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def remove(programme_id: int, application_id: int):
    def action(programme):
        selecting.remove(_current(programme), application_id)
        return _("已移出名单。")
    return _selection_step(programme_id, action)


@bp.route("/programmes/<int:programme_id>/selection/tier", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def set_tier(programme_id: int):
    form = TierForm()

    def action(programme):
        try:
            application_id = int(form.application_id.data)
        except (TypeError, ValueError) as error:
            raise SelectionError(_("请求有误。")) from error
        selecting.set_tier(_current(programme), application_id, form.tier_id.data)
        return _("补助档次已保存。")
    return _selection_step(programme_id, action, posted=form)


@bp.route("/programmes/<int:programme_id>/selection/publish", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def publish(programme_id: int):
    def action(programme):
        current = _current(programme)
        selecting.publish(current)
        return _("名单已公示，公示期至 %(d)s。", d=current.publicity_end.isoformat())
    return _selection_step(programme_id, action)


@bp.route("/programmes/<int:programme_id>/selection/reopen", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def reopen_selection(programme_id: int):
    def action(programme):
        selecting.back_to_proposal(_current(programme))
        return _("名单已撤回调整，调整后需重新公示。")
    return _selection_step(programme_id, action)


@bp.route("/programmes/<int:programme_id>/selection/objections", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def objection(programme_id: int):
    form = ObjectionForm()

    def action(programme):
        selecting.record_objection(_current(programme), application_id=form.application_id.data or None,
                                   received_at=form.received_at.data, raised_by=form.raised_by.data or "",
                                   content=form.content.data)
        return _("异议已登记。")
    return _selection_step(programme_id, action, posted=form)


@bp.route("/objections/<int:objection_id>/answer", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def answer(objection_id: int):
    item = db.get_or_404(Objection, objection_id)
    form = AnswerForm()

    def action(programme):
        selecting.answer_objection(item, form.response.data, current_user)
        return _("异议已答复。")
    return _selection_step(item.selection.programme_id, action, posted=form, answering=item.id)


@bp.route("/programmes/<int:programme_id>/selection/finalise", methods=["POST"])
@requires(Permission.SCORING_MANAGE)
def finalise(programme_id: int):
    def action(programme):
        sites = selecting.finalise(_current(programme), current_user)
        return _("名单已确定：%(n)d 个单位，补助资金已按档次下达。", n=len(sites))
    return _selection_step(programme_id, action)


@bp.route("/programmes/<int:programme_id>/selection.xlsx")
@requires(Permission.RANKING_VIEW)
def selection_export(programme_id: int):
    programme = _programme(programme_id)
    current = selection_list.load(programme)  # entries, places and tiers eagerly: no query per row
    if current is None:
        abort(404)
    data = write_workbook([selection_list.sheet(current)], subtitle=_subtitle())
    name = "确定名单" if current.status == SelectionStatus.FINAL else "拟确定名单"
    return attachment(data, f"{name}_{programme.year}_{programme.code}.xlsx")
