from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.applications.models import Application
from app.applications.operations import live_counts
from app.applications.queries import township_overview
from app.extensions import db
from app.permissions import (
    Permission,
    authorize,
    can_nominate_for,
    can_view_programme,
    has_permission,
    programme_filter,
    requires,
)
from app.places.models import Township
from app.programmes import operations, templates
from app.programmes.models import (
    FundingSource,
    MilestoneKind,
    NominationRule,
    Programme,
    ProgrammeKind,
    ProgrammeStatus,
    Submitter,
)
from app.programmes.operations import ProgrammeError
from app.scoring import selection as selecting
from forms.base import ensure_blank_rows, filled_rows, options
from forms.programmes import (
    ExtensionForm,
    FromTemplateForm,
    MilestonesForm,
    ProgrammeForm,
    ProjectTypesForm,
    StatusForm,
    TiersForm,
)

bp = Blueprint("programmes", __name__, url_prefix="/programmes")


def _load(programme_id: int) -> Programme:
    programme = db.get_or_404(Programme, programme_id)
    authorize(can_view_programme(current_user, programme))
    return programme


@bp.route("/")
@requires(Permission.PROGRAMMES_VIEW)
def index():
    programmes = db.session.scalars(
        sa.select(Programme).where(programme_filter(current_user)).order_by(Programme.year.desc(), Programme.id.desc())
    ).all()
    return render_template("programmes/index.html", programmes=programmes)


def _status_form(programme: Programme) -> StatusForm:
    """The status form, offering the steps the status table allows from the programme's status."""
    form = StatusForm()
    form.status.choices = options([(s.value, s.title) for s in operations.STATUS_TRANSITIONS[programme.status]])
    return form


def _detail_page(programme: Programme, status_form: StatusForm):
    """The programme's page; ``status_form`` is fresh, or a refused one shown as it was sent, its message at its
    field."""
    context: dict = {}
    if current_user.township_id and has_permission(current_user, Permission.APPLICATIONS_NOMINATE):
        township = current_user.township
        size = operations.township_sizes().get(township.id, 0)
        context.update(
            township=township,
            allowance=operations.allowance(programme, size),
            due=operations.effective_due(programme, township.id),
            extension=operations.extensions_by_township(programme).get(township.id),
            my_applications=db.session.scalars(
                sa.select(Application)
                .where(Application.programme_id == programme.id, Application.township_id == township.id)
                .options(sa.orm.joinedload(Application.community))
                .order_by(Application.sequence)
            ).all(),
            my_count=live_counts(programme.id).get(township.id, 0),
            can_nominate=can_nominate_for(current_user, township.id) and programme.status == ProgrammeStatus.OPEN,
        )
    if has_permission(current_user, Permission.RANKING_VIEW) and programme.status != ProgrammeStatus.DRAFT:
        # The links to the ranking and the list; the list is named by its status, read only for those who see it.
        context["list_name"] = selecting.list_name(selecting.status_of(programme.id))
    return render_template("programmes/detail.html", programme=programme, status_form=status_form, **context)


@bp.route("/<int:programme_id>")
@requires(Permission.PROGRAMMES_VIEW)
def detail(programme_id: int):
    programme = _load(programme_id)
    return _detail_page(programme, _status_form(programme))


def _programme_values(form: ProgrammeForm) -> dict:
    rule = NominationRule(form.nomination_rule.data)
    return {
        "name": form.name.data,
        "year": form.year.data,
        "code": form.code.data,
        "kind": ProgrammeKind(form.kind.data),
        "quota": form.quota.data,
        "notice_reference": form.notice_reference.data or "",
        "description": form.description.data or "",
        "nomination_rule": rule,
        "nomination_min": form.nomination_min.data or 0,
        "nomination_max": form.nomination_max.data,
        "size_threshold": form.size_threshold.data or 15,
        "min_small": form.min_small.data or 0,
        "min_large": form.min_large.data or 0,
    }


def _code_taken(year: int, code: str, except_id: int | None = None) -> bool:
    query = sa.select(Programme.id).where(Programme.year == year, Programme.code == code)
    if except_id is not None:
        query = query.where(Programme.id != except_id)
    return db.session.scalar(query) is not None


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.PROGRAMMES_MANAGE)
def new():
    form = ProgrammeForm()
    if request.method == "GET":
        form.nomination_min.data, form.nomination_max.data = 1, 2
        form.size_threshold.data, form.min_small.data, form.min_large.data = 15, 1, 2
    if form.validate_on_submit():
        values = _programme_values(form)
        if _code_taken(values["year"], values["code"]):
            form.code.errors.append(_("该年度已有相同代码的项目。"))
        else:
            programme = Programme(status=ProgrammeStatus.DRAFT, **values)
            db.session.add(programme)
            db.session.flush()
            db.session.commit()
            flash(_("项目已创建，请继续设置时间节点、项目类型和补助档次。"), "success")
            return redirect(url_for("programmes.detail", programme_id=programme.id))
    return render_template("programmes/form.html", form=form, programme=None)


@bp.route("/new/from-template", methods=["GET", "POST"])
@requires(Permission.PROGRAMMES_MANAGE)
def from_template():
    form = FromTemplateForm(template_choices=templates.template_choices())
    if form.validate_on_submit():
        try:
            programme = templates.instantiate(form.template.data, form.year.data)
        except ValueError as error:
            form.year.errors.append(str(error))
        else:
            db.session.commit()
            flash(_("已按通知模板创建项目（草稿），请核对各项内容。"), "success")
            return redirect(url_for("programmes.detail", programme_id=programme.id))
    return render_template("programmes/from_template.html", form=form, templates=templates.TEMPLATES)


@bp.route("/<int:programme_id>/edit", methods=["GET", "POST"])
@requires(Permission.PROGRAMMES_MANAGE)
def edit(programme_id: int):
    programme = _load(programme_id)
    form = ProgrammeForm(obj=programme)
    if request.method == "GET":
        form.kind.data, form.nomination_rule.data = programme.kind.value, programme.nomination_rule.value
    if form.validate_on_submit():
        values = _programme_values(form)
        if _code_taken(values["year"], values["code"], except_id=programme.id):
            form.code.errors.append(_("该年度已有相同代码的项目。"))
        else:
            for key, value in values.items():
                setattr(programme, key, value)
            db.session.commit()
            flash(_("已保存。"), "success")
            return redirect(url_for("programmes.detail", programme_id=programme.id))
    return render_template("programmes/form.html", form=form, programme=programme)


@bp.route("/<int:programme_id>/status", methods=["POST"])
@requires(Permission.PROGRAMMES_MANAGE)
def change_status(programme_id: int):
    programme = _load(programme_id)
    form = _status_form(programme)
    if form.validate_on_submit():
        new_status = ProgrammeStatus(form.status.data)
        try:
            operations.change_status(programme, new_status)
        except ProgrammeError as error:
            # Refused before anything changed. Shown at the status chosen, which is what the rule refuses.
            form.refuse(str(error), "status")
        else:
            db.session.commit()
            flash(_("项目状态已改为“%(s)s”。", s=new_status.title), "success")
            return redirect(url_for("programmes.detail", programme_id=programme.id))
    form.focus_first_error()
    return _detail_page(programme, form)


@bp.route("/<int:programme_id>/copy", methods=["POST"])
@requires(Permission.PROGRAMMES_MANAGE)
def copy(programme_id: int):
    programme = _load(programme_id)
    try:
        new_programme = templates.copy_to_next_year(programme)
    except ValueError as error:
        flash(str(error), "danger")
        return redirect(url_for("programmes.detail", programme_id=programme.id))
    db.session.commit()
    flash(_("已复制为 %(year)d 年度项目（草稿），日期已顺延一年。", year=new_programme.year), "success")
    return redirect(url_for("programmes.detail", programme_id=new_programme.id))


@bp.route("/<int:programme_id>/types", methods=["GET", "POST"])
@requires(Permission.PROGRAMMES_MANAGE)
def edit_types(programme_id: int):
    programme = _load(programme_id)
    form = ProjectTypesForm(data={"items": [
        {"name": t.name, "description": t.description} for t in programme.project_types]})
    if request.method == "POST":
        form = ProjectTypesForm()
    if form.validate_on_submit():
        rows = [{"name": row.name.data, "description": row.description.data or "", "sort_order": i}
                for i, row in enumerate(filled_rows(form.items))]
        operations.save_project_types(programme, rows)
        db.session.commit()
        flash(_("已保存。"), "success")
        return redirect(url_for("programmes.detail", programme_id=programme.id))
    ensure_blank_rows(form.items)
    return render_template("programmes/rows.html", form=form, programme=programme, title=_("项目类型"))


@bp.route("/<int:programme_id>/milestones", methods=["GET", "POST"])
@requires(Permission.PROGRAMMES_MANAGE)
def edit_milestones(programme_id: int):
    programme = _load(programme_id)
    form = MilestonesForm(data={"items": [
        {"name": m.name, "kind": m.kind.value, "due_date": m.due_date, "submitter": m.submitter.value,
         "documents": m.documents} for m in programme.milestones]})
    if request.method == "POST":
        form = MilestonesForm()
    if form.validate_on_submit():
        rows = [{"name": row.name.data, "kind": MilestoneKind(row.kind.data), "due_date": row.due_date.data,
                 "submitter": Submitter(row.submitter.data), "documents": row.documents.data or ""}
                for row in filled_rows(form.items)]
        operations.save_milestones(programme, rows)
        db.session.commit()
        flash(_("已保存。"), "success")
        return redirect(url_for("programmes.detail", programme_id=programme.id))
    ensure_blank_rows(form.items)
    return render_template("programmes/rows.html", form=form, programme=programme, title=_("时间节点"))


@bp.route("/<int:programme_id>/tiers", methods=["GET", "POST"])
@requires(Permission.PROGRAMMES_MANAGE)
def edit_tiers(programme_id: int):
    programme = _load(programme_id)
    sources = [(s.id, s.name) for s in db.session.scalars(sa.select(FundingSource).order_by(FundingSource.sort_order))]
    data = []
    for tier in programme.tiers:
        row = {"name": tier.name}
        for number, amount in enumerate(tier.amounts[:3], start=1):
            row[f"source{number}"], row[f"amount{number}"] = amount.source_id, amount.amount_fen
        data.append(row)
    form = TiersForm(data={"items": data}, source_choices=sources) if request.method == "GET" \
        else TiersForm(source_choices=sources)
    if form.validate_on_submit():
        rows = []
        for i, row in enumerate(filled_rows(form.items)):
            amounts = [(row[f"source{n}"].data, row[f"amount{n}"].data) for n in (1, 2, 3) if row[f"amount{n}"].data]
            rows.append({"name": row.name.data, "sort_order": i, "amounts": amounts})
        operations.save_tiers(programme, rows)
        db.session.commit()
        flash(_("已保存。"), "success")
        return redirect(url_for("programmes.detail", programme_id=programme.id))
    ensure_blank_rows(form.items, blanks=2)
    for entry in form.items.entries:
        form.set_sources(entry.form)
    return render_template("programmes/rows.html", form=form, programme=programme, title=_("补助档次"))


@bp.route("/<int:programme_id>/overview")
@requires(Permission.APPLICATIONS_REVIEW)
def overview(programme_id: int):
    programme = _load(programme_id)
    state = request.args.get("state", "")
    text = request.args.get("q", "").strip()[:40]
    page = township_overview(programme, state, text)
    return render_template("programmes/overview.html", programme=programme, rows=page.items, state=state, q=text,
                           page=page)


@bp.route("/<int:programme_id>/extensions", methods=["GET", "POST"])
@requires(Permission.APPLICATIONS_REVIEW)
def extensions(programme_id: int):
    programme = _load(programme_id)
    townships = [(t.id, t.name) for t in db.session.scalars(sa.select(Township).order_by(Township.sort_order))]
    form = ExtensionForm(township_choices=townships)
    if request.method == "GET" and request.args.get("township", type=int):
        form.township_id.data = request.args.get("township", type=int)
    if form.validate_on_submit():
        township = db.session.get(Township, form.township_id.data)
        try:
            operations.grant_extension(programme, township, form.due_date.data, form.reason.data, current_user)
        except ProgrammeError as error:
            form.due_date.errors.append(str(error))
        else:
            db.session.commit()
            flash(_("已为%(name)s延期至 %(d)s。", name=township.name, d=form.due_date.data.isoformat()), "success")
            return redirect(url_for("programmes.extensions", programme_id=programme.id))
    granted = sorted(operations.extensions_by_township(programme).values(), key=lambda e: e.township.sort_order)
    return render_template("programmes/extensions.html", programme=programme, form=form, granted=granted)
