"""The project archive pages: a site's checklist of the eight kinds, uploads, downloads, the zip, and the
programme overview (sites × kinds). Load → check → act → commit once."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape

from app.audit.models import AuditAction
from app.audit.operations import record_after_reading
from app.database import china_today
from app.downloads import attachment
from app.extensions import db
from app.files.storage import send_stored
from app.funding.models import Site
from app.pagination import CappedPage, requested_page
from app.permissions import (
    Permission,
    authorize,
    can_upload_archive,
    can_view_programme,
    can_view_site,
    requires,
    site_filter,
)
from app.programmes.models import Programme
from app.statements import changes_mark
from app.tracking import archive
from app.tracking.archive import ArchiveError
from app.tracking.models import ArchiveItem, ArchiveKind
from forms.archive import ArchiveItemForm, DeleteItemForm

bp = Blueprint("archive", __name__, url_prefix="/archive")


def _site(site_id: int) -> Site:
    site = db.get_or_404(Site, site_id)
    authorize(can_view_site(current_user, site))
    return site


def _item(item_id: int) -> ArchiveItem:
    """A live item and its site, checked; a removed item is gone for every page."""
    item = db.get_or_404(ArchiveItem, item_id)
    if item.deleted_at is not None:
        abort(404)
    _site(item.site_id)
    return item


def _back(site: Site, kind: ArchiveKind | None = None):
    return redirect(url_for("archive.site", site_id=site.id) + (f"#kind-{kind.value}" if kind else ""))


def _render_site(site: Site, form: ArchiveItemForm | None = None):
    counts = archive.completeness(site)
    items = archive.items_of(site)
    uploader = can_upload_archive(current_user, site)
    if form is None and uploader:
        wanted = request.args.get("kind", "")
        form = ArchiveItemForm(formdata=None, kind=wanted if wanted in {k.value for k in ArchiveKind} else None,
                               item_date=china_today())
    return render_template(
        "archive/site.html", site=site, counts=counts, missing=archive.missing_kinds(counts),
        grouped=archive.by_kind(items), percent=archive.percent_complete(dict(counts)), uploader=uploader,
        form=form, delete_form=DeleteItemForm(formdata=None), kinds=archive.KINDS,
        date_help=_("年-月-日，在 %(start)s 至今天之间", start=archive.programme_start(site).isoformat()),
    )


@bp.route("/sites/<int:site_id>")
@requires(Permission.TRACKING_VIEW)
def site(site_id: int):
    return _render_site(_site(site_id))


@bp.route("/sites/<int:site_id>/items", methods=["POST"])
@requires(Permission.ARCHIVE_UPLOAD)
def upload(site_id: int):
    site = _site(site_id)
    authorize(can_upload_archive(current_user, site))
    form = ArchiveItemForm()
    if not form.validate_on_submit():
        return _render_site(site, form)
    try:
        item = archive.add_item(site, form.kind.data, form.title.data, form.item_date.data,
                                form.description.data or "", form.file.data, current_user)
    except ArchiveError as error:
        db.session.rollback()
        form.refuse(error.message, error.field or "file")
        return _render_site(db.session.get(Site, site_id), form)
    kind = item.kind
    db.session.commit()
    flash(_("已上传“%(title)s”（%(kind)s）。", title=form.title.data, kind=kind.title), "success")
    return _back(site, kind)


@bp.route("/items/<int:item_id>/delete", methods=["POST"])
@requires(Permission.ARCHIVE_UPLOAD)
def delete(item_id: int):
    item = _item(item_id)
    site = item.site
    authorize(can_upload_archive(current_user, site))
    if not DeleteItemForm().validate_on_submit():
        abort(400)
    kind, title = item.kind, item.title
    archive.remove_item(item, current_user)
    db.session.commit()
    flash(_("已删除“%(title)s”。材料仍保留在系统记录中。", title=title), "success")
    return _back(site, kind)


@bp.route("/items/<int:item_id>")
@requires(Permission.TRACKING_VIEW)
def download(item_id: int):
    return send_stored(_item(item_id).file)


@bp.route("/sites/<int:site_id>/archive.zip")
@requires(Permission.TRACKING_VIEW)
def download_zip(site_id: int):
    site = _site(site_id)
    try:
        data = archive.build_zip(site)
    except ArchiveError as error:
        flash(error.message, "danger")
        return _back(site)
    record_after_reading(AuditAction.EXPORT, object_type="Site", object_id=site.id,
                         summary=f"archive zip of site {site.id}")
    return attachment(data, archive.zip_filename(site), "application/zip")


@bp.route("/programmes/<int:programme_id>")
@requires(Permission.TRACKING_VIEW)
def programme(programme_id: int):
    """One page of sites × kinds; the totals (sites, complete sites, sites per kind) over every site, in grouped
    queries: a fixed number of queries whatever the number of sites."""
    programme = db.get_or_404(Programme, programme_id)
    authorize(can_view_programme(current_user, programme))
    scope = site_filter(current_user)
    size = current_app.config["PAGE_SIZE"]
    number = requested_page()
    mark = changes_mark()  # read before what is remembered under it
    sites, total, counts = archive.checklist_page_with_counts(programme, scope, number, size, mark)
    page = CappedPage(sites, number, size, total, False, number * size < total)
    sites_with, complete = archive.programme_completeness(programme, scope, mark)
    return render_template("archive/programme.html", programme=programme, rows=_checklist_rows(sites, counts),
                           kinds=archive.KINDS, sites_with=sites_with, complete=complete, page=page,
                           kind_titles=[kind.title for kind in archive.KINDS])


def _checklist_rows(sites, counts: dict[int, dict[ArchiveKind, int]]) -> Markup:
    """The table's rows (a site and its count of each kind), written here rather than by the template: a page has
    some 400 cells, which Jinja looked up one by one."""
    site_url = url_for("archive.site", site_id=0)[:-1]
    html = []
    for site in sites:
        kinds = counts[site.id]
        cells = "".join('<td class="text-center table-warning">0</td>' if not kinds[kind]
                        else f'<td class="text-center">{kinds[kind]}</td>' for kind in archive.KINDS)
        html.append(f'<tr data-site="{site.id}"><td>{escape(site.township)}</td>'
                    f'<td><a href="{site_url}{site.id}">{escape(site.community)}</a></td>{cells}'
                    f'<td class="text-end">{archive.percent_complete(kinds)}%</td></tr>')
    return Markup("".join(html))
