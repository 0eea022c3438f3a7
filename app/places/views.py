from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.database import id_number
from app.downloads import attachment
from app.extensions import db
from app.pagination import paginate
from app.permissions import (
    Permission,
    authorize,
    can_view_community,
    can_view_township,
    community_counts,
    requires,
    visible_communities,
    visible_townships,
)
from app.places import operations
from app.places.models import Community, CommunityKind, Township
from forms.places import CommunityForm, CommunityImportForm
from reports.xlsx import Column, Sheet, write_workbook

bp = Blueprint("places", __name__, url_prefix="/places")


@bp.route("/townships")
@requires(Permission.PLACES_VIEW)
def townships():
    rows = db.session.scalars(visible_townships(current_user)).all()
    counts = community_counts(current_user)
    return render_template("places/townships.html", townships=rows, counts=counts)


@bp.route("/townships/<int:township_id>")
@requires(Permission.PLACES_VIEW)
def township(township_id: int):
    township = db.get_or_404(Township, township_id)
    authorize(can_view_township(current_user, township))
    communities = db.session.scalars(
        visible_communities(current_user).where(Community.township_id == township.id)
    ).all()
    return render_template("places/township.html", township=township, communities=communities)


@bp.route("/communities")
@requires(Permission.PLACES_VIEW)
def communities():
    query = visible_communities(current_user).options(sa.orm.contains_eager(Community.township))
    township_id = request.args.get("township", type=id_number)
    if township_id:
        query = query.where(Community.township_id == township_id)
    kind = request.args.get("kind", "")
    if kind in {k.value for k in CommunityKind}:
        query = query.where(Community.kind == CommunityKind(kind))
    text = request.args.get("q", "").strip()[:60]
    if text:
        query = query.where(Community.name.contains(text))
    page = paginate(query)
    townships = db.session.scalars(visible_townships(current_user)).all()
    return render_template(
        "places/communities.html", page=page, townships=townships, township_id=township_id, kind=kind, q=text,
        kinds=CommunityKind,
    )


@bp.route("/communities/<int:community_id>")
@requires(Permission.PLACES_VIEW)
def community(community_id: int):
    community = db.get_or_404(Community, community_id)
    authorize(can_view_community(current_user, community))
    return render_template("places/community.html", community=community)


def _township_choices():
    return [(t.id, t.name) for t in db.session.scalars(sa.select(Township).order_by(Township.sort_order))]


@bp.route("/communities/new", methods=["GET", "POST"])
@requires(Permission.PLACES_MANAGE)
def new_community():
    form = CommunityForm(township_choices=_township_choices())
    if request.method == "GET" and request.args.get("township", type=int):
        form.township_id.data = request.args.get("township", type=int)
    if form.validate_on_submit():
        if operations.name_taken(form.township_id.data, form.name.data):
            form.name.errors.append(_("该镇(街道)下已有同名村(社区)。"))
        else:
            township = db.session.get(Township, form.township_id.data)
            community = operations.create_community(township, form.name.data, CommunityKind(form.kind.data))
            db.session.commit()
            flash(_("已添加 %(name)s。", name=community.name), "success")
            return redirect(url_for("places.community", community_id=community.id))
    return render_template("places/community_form.html", form=form, community=None)


@bp.route("/communities/<int:community_id>/edit", methods=["GET", "POST"])
@requires(Permission.PLACES_MANAGE)
def edit_community(community_id: int):
    community = db.get_or_404(Community, community_id)
    form = CommunityForm(obj=community, township_choices=_township_choices())
    if request.method == "GET":
        form.kind.data = community.kind.value
    # A community does not move between townships: its applications and money are filed under it.
    form.township_id.data = community.township_id
    if form.validate_on_submit():
        if operations.name_taken(community.township_id, form.name.data, except_id=community.id):
            form.name.errors.append(_("该镇(街道)下已有同名村(社区)。"))
        else:
            operations.update_community(
                community, name=form.name.data, kind=CommunityKind(form.kind.data), active=form.active.data
            )
            db.session.commit()
            flash(_("已保存。"), "success")
            return redirect(url_for("places.community", community_id=community.id))
    return render_template("places/community_form.html", form=form, community=community)


@bp.route("/communities/import", methods=["GET", "POST"])
@requires(Permission.PLACES_MANAGE)
def import_communities():
    form = CommunityImportForm()
    report = None
    if form.validate_on_submit():
        report = operations.import_communities(form.file.data.read())
        if report.ok:
            db.session.commit()
            flash(_("已导入 %(n)d 个村(社区)。", n=len(report.created)), "success")
            return redirect(url_for("places.communities"))
        db.session.rollback()
    return render_template("places/import.html", form=form, report=report, columns=operations.IMPORT_COLUMNS)


@bp.route("/communities/import/template.xlsx")
@requires(Permission.PLACES_MANAGE)
def import_template():
    columns = [Column(key, key, width=24) for key in operations.IMPORT_COLUMNS]
    example = [{"镇(街道)": "安海镇", "名称": "示例社区", "类型": "社区"}]
    data = write_workbook([Sheet(name="村(社区)", columns=columns, rows=example)])
    return attachment(data, "村(社区)导入模板.xlsx")
