from __future__ import annotations

import functools

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy.orm.exc import StaleDataError

from app.database import china_today, commit_quietly
from app.extensions import db
from app.files.storage import UploadRejected, save_upload, send_stored
from app.funding.models import Site
from app.pagination import CappedPage, requested_page
from app.permissions import (
    Permission,
    authorize,
    can_submit_for,
    can_view_programme,
    can_view_site,
    can_view_township_milestone,
    has_permission,
    requires,
    sees_township_milestones,
    site_filter,
    township_scope,
)
from app.places.models import Township
from app.programmes.models import Programme
from app.statements import changes_mark
from app.tracking import progress
from app.tracking.models import (
    MilestoneDocument,
    MilestoneStatus,
    MonthlyReport,
    MonthlyReportPhoto,
    SiteMilestone,
    SpotCheck,
)
from app.tracking.progress import ProgressError
from forms.base import BaseForm, option_tags, options
from forms.progress import CloseForm, MilestoneForm, NoticeForm, ReportForm, ReviewForm, SpotCheckForm

bp = Blueprint("progress", __name__, url_prefix="/progress")
# The programme page lists this many townships with missing reports (the most first) and says how many more.
OVERDUE_ROWS = 20
PHOTO_KINDS = frozenset({"png", "jpeg"})


def _site(site_id: int) -> Site:
    site = db.get_or_404(Site, site_id)
    authorize(can_view_site(current_user, site))
    return site


def _milestone(item_id: int) -> SiteMilestone:
    item = db.get_or_404(SiteMilestone, item_id)
    if item.site is not None:
        authorize(can_view_site(current_user, item.site))
    else:
        authorize(can_view_township_milestone(current_user, item.township_id))
    return item


def _may_submit(item: SiteMilestone) -> bool:
    return has_permission(current_user, Permission.TRACKING_SUBMIT) and current_user.township_id == item.township_id


# --- the programme -------------------------------------------------------------------------------------------


# Badge colours of the milestone states in the grid.
MILESTONE_BADGES = {"accepted": "success", "submitted": "primary", "returned": "warning", "not_started": "light"}


def _names(sites) -> dict[int, tuple[str, str]]:
    """Site id → its community's and township's names, escaped (both tables show them), in the page's order."""
    return {site.id: (escape(site.community), escape(site.township)) for site in sites}


def _milestone_rows(names: dict, milestones, items: dict, titles: dict, today) -> Markup:
    """The milestone table's rows: a link to each site, then per milestone its item's state (a link) and a badge
    when it came or is late. ``items``: (site id, milestone id) → (item id, status, submitted as a date_number).
    Written from pieces escaped and translated once: a page has sites × milestones cells."""
    site_url = escape(url_for("progress.site", site_id=0)[:-1])
    item_url = escape(url_for("progress.milestone", item_id=0)[:-1])
    # Translated outside the f-strings, where pybabel would not find them.
    late, overdue = escape(_("逾期提交")), escape(_("已逾期"))
    late = f' <span class="badge text-bg-danger">{late}</span>'
    overdue = f' <span class="badge text-bg-danger">{overdue}</span>'
    links = {status: (f'<td><a href="{item_url}', f'" class="badge text-decoration-none text-bg-'
                      f'{MILESTONE_BADGES[status]}">{escape(title)}</a>') for status, title in titles.items()}
    # Per milestone: its id, the last date_number on time, the badge while not handed in.
    columns = [(m.id, progress.date_number(m.due_date), overdue if today > m.due_date else "") for m in milestones]
    html = []
    for site_id, (community, township) in names.items():
        html.append(f'<tr><td class="text-nowrap"><a href="{site_url}{site_id}">{community}</a> '
                    f'<span class="text-muted">{township}</span></td>')
        for milestone_id, due, unsubmitted in columns:
            item = items.get((site_id, milestone_id))
            if item is None:
                html.append("<td></td>")
                continue
            item_id, status, submitted = item
            start, end = links[status]
            badge = unsubmitted if submitted is None else late if submitted > due else ""
            html.append(f"{start}{item_id}{end}{badge}</td>")
        html.append("</tr>")
    return Markup("".join(html))


def _grid_rows(names: dict, months, states: dict) -> Markup:
    """The monthly grid's rows: per site and month a cell of its state, linking to the month's report where there
    is one to write or read. Written from pieces per month and state made once (a page has sites × months cells)."""
    report_url = escape(url_for("progress.site", site_id=0)[:-1])
    texts = {"on_time": _("按时"), "late": _("逾期"), "missing": _("缺报"), "draft": _("草稿"), "not_due": _("未到期")}
    # Per month: state → (the cell up to the site's id in the link, the rest); without a link, the whole cell.
    pieces = [
        {state: (f'<td class="grid-{state}" data-state="{state}"><a href="{report_url}',
                 f'/reports/{month:%Y-%m}">{escape(texts[state])}</a></td>') for state in texts}
        | {state: (f'<td class="grid-{state}" data-state="{state}"></td>', None) for state in ("none", "not_begun")}
        for month in months
    ]
    html = []
    for site_id, (community, township) in names.items():
        html.append(f'<tr><td class="text-start text-nowrap">{community} '
                    f'<span class="text-muted">{township}</span></td>')
        site = str(site_id)
        for month_pieces, state in zip(pieces, states[site_id], strict=True):
            start, end = month_pieces[state]
            html.append(start if end is None else start + site + end)
        html.append("</tr>")
    return Markup("".join(html))


def _township_items(items, milestones, titles: dict, today) -> list[tuple]:
    """The townships' own items among ``items`` (their summaries), by township and due date: (township, milestone,
    link, state title, handed in late or overdue)."""
    item_url = url_for("progress.milestone", item_id=0)[:-1]
    by_id = {milestone.id: milestone for milestone in milestones}
    entries = []
    for item_id, site_id, milestone_id, status, submitted, township, sort_order in items:
        if site_id is None:
            milestone = by_id[milestone_id]
            late = progress.timeliness_of(submitted, milestone.due_date, today) in ("late", "overdue")
            entries.append(((sort_order, milestone.due_date),
                            (township, milestone.name, f"{item_url}{item_id}", titles[status], late)))
    return [entry for _key, entry in sorted(entries, key=lambda pair: pair[0])]


@functools.lru_cache(maxsize=64)
def _township_options(townships: tuple[tuple[int, str], ...]) -> Markup:
    """The notice form's <option>s of the townships with sites, written once per list: a province's programme has
    some 800 townships, more than the rest of the page to write."""
    return option_tags(townships)


@bp.route("/programmes/<int:programme_id>")
@requires(Permission.TRACKING_VIEW)
def programme(programme_id: int):
    return _programme_page(programme_id)


def _programme_page(programme_id: int, notice_form: NoticeForm | None = None):
    """The milestones and the monthly grid of one page of sites; the missing reports by township and the 通报 over
    every site. A fixed number of queries whatever the number of sites, reading the columns shown, not entities.
    ``notice_form``: a 通报 that was refused, shown as it was posted with its messages at its fields."""
    mark = changes_mark()  # read before what is remembered under it
    programme = progress.programme_outline(programme_id, mark)
    if programme is None:
        abort(404)
    authorize(can_view_programme(current_user, programme))
    if not programme.milestones_complete:
        # Milestones added to the programme after selection appear for every site.
        if progress.ensure_site_milestones(db.session.get(Programme, programme.id)):
            commit_quietly(db.session)
    scope = site_filter(current_user)
    today = china_today()
    summary = progress.programme_progress(programme, scope, today, limit=OVERDUE_ROWS, mark=mark)
    size = current_app.config["PAGE_SIZE"]
    number = requested_page()
    # The total is the summary's count of sites: no count query for the pager.
    sites, items = progress.grid_page_and_items(programme, scope, limit=size, offset=(number - 1) * size,
                                                mark=mark) if summary.sites else ([], [])
    page = CappedPage(sites, number, size, summary.sites, False, number * size < summary.sites)
    names = _names(sites)
    titles = {status.value: status.title for status in MilestoneStatus}
    milestones = [m for m in programme.milestones if m.kind in progress.SITE_KINDS]
    if notice_form is None:
        notice_form = NoticeForm(formdata=None)
    else:  # drawn by WTForms, as posted; a fresh form's options are written once per list (_township_options)
        notice_form.township_id.choices = options(summary.with_sites)
        notice_form.focus_first_error()  # at the foot of a long page: the browser brings the user there
    return render_template(
        "progress/programme.html", programme=programme, milestones=milestones, page=page,
        milestone_rows=_milestone_rows(
            names, milestones, {(site_id, milestone_id): (item_id, status, submitted)
                                for item_id, site_id, milestone_id, status, submitted, *_township in items},
            titles, today),
        grid_rows=_grid_rows(names, summary.months, progress.grid_states(programme, sites, summary.months, today)),
        month_labels=[f"{month:%Y-%m}" for month in summary.months],
        # The page's townships are the viewer's own (or any, for the bureau): only a community is kept out.
        township_items=(_township_items(items, programme.milestones, titles, today)
                        if sees_township_milestones(current_user) else []),
        overdue=summary.overdue, overdue_more=summary.overdue_townships - len(summary.overdue),
        notices=progress.notices_of(programme, township_scope(current_user), mark), notice_form=notice_form,
        township_options=_township_options(tuple(summary.with_sites)),
    )


@bp.route("/programmes/<int:programme_id>/notices", methods=["POST"])
@requires(Permission.TRACKING_REVIEW)
def issue_notice(programme_id: int):
    programme = db.get_or_404(Programme, programme_id)
    form = NoticeForm()
    valid = form.validate_on_submit()
    township = db.session.get(Township, form.township_id.data or 0)
    if township is None and not form.township_id.errors:
        form.refuse(_("请选择镇(街道)。"), "township_id")
    if not valid or township is None:
        return _programme_page(programme.id, notice_form=form)
    try:
        progress.issue_notice(programme, township.id, form.title.data, form.content.data, current_user)
    except ProgressError as error:
        db.session.rollback()
        form.refuse(str(error), error.field)
        return _programme_page(programme.id, notice_form=form)
    db.session.commit()
    flash(_("已向%(t)s发出通报。", t=township.name), "success")
    return redirect(url_for("progress.programme", programme_id=programme.id) + "#notices")


# --- one site -----------------------------------------------------------------------------------------------


@bp.route("/sites/<int:site_id>")
@requires(Permission.TRACKING_VIEW)
def site(site_id: int):
    return _site_page(_site(site_id))


def _site_page(site: Site, posted: SpotCheckForm | CloseForm | None = None, closing: int | None = None):
    """A site's milestones, months and spot checks. ``posted``, a spot check that was refused or the refused closing
    of the spot check ``closing``, is shown as it was posted (values and messages), its first field in error
    focused; the other forms are fresh."""
    if posted is not None:
        posted.focus_first_error()
    if progress.ensure_site_milestones(site.programme):
        commit_quietly(db.session)
    items = db.session.scalars(
        sa.select(SiteMilestone).where(SiteMilestone.site_id == site.id)
        .options(sa.orm.joinedload(SiteMilestone.milestone))
    ).unique().all()
    items = sorted(items, key=lambda i: i.milestone.due_date)
    reports = {r.month: r for r in db.session.scalars(sa.select(MonthlyReport).where(MonthlyReport.site_id == site.id))}
    today = china_today()
    cells = [progress.cell(month, reports.get(month), today) for month in progress.report_months(site)]
    checks = db.session.scalars(sa.select(SpotCheck).where(SpotCheck.site_id == site.id)
                                .order_by(SpotCheck.checked_on.desc())).all()
    return render_template(
        "progress/site.html", site=site, items=items, cells=cells, checks=checks,
        timeliness=progress.timeliness, can_submit=can_submit_for(current_user, site),
        can_review=has_permission(current_user, Permission.TRACKING_REVIEW),
        spot_form=posted if isinstance(posted, SpotCheckForm) else SpotCheckForm(formdata=None, checked_on=today),
        close_form=CloseForm(formdata=None), refused_close=posted if isinstance(posted, CloseForm) else None,
        closing=closing,
    )


def _show_refusal(form: BaseForm, error: ProgressError) -> None:
    """A refusal by the rules at the fields it names, with the form as posted; one about the state of things (already
    submitted, a step the table refuses) names none and is flashed."""
    if error.missing:
        for field, message in error.missing:
            form.refuse(message, field)
    elif error.field is not None:
        form.refuse(str(error), error.field)
    else:
        flash(str(error), "danger")


def _milestone_page(item: SiteMilestone, form: MilestoneForm | None = None, review_form: ReviewForm | None = None):
    """The item's page; ``form`` or ``review_form``, refused, is shown as it was posted (values and messages)."""
    if form is None:
        form = MilestoneForm(formdata=None, obj=item)
        form.version.data = str(item.version)
    if review_form is None:
        review_form = ReviewForm(formdata=None)
    else:
        review_form.focus_first_error()  # below the item's materials: the browser brings the reviewer there
    return render_template("progress/milestone.html", item=item, form=form,
                           may_edit=_may_submit(item) and progress.editable(item), review_form=review_form,
                           timeliness=progress.timeliness,
                           can_review=has_permission(current_user, Permission.TRACKING_REVIEW))


@bp.route("/milestones/<int:item_id>", methods=["GET", "POST"])
@requires(Permission.TRACKING_VIEW)
def milestone(item_id: int):
    item = _milestone(item_id)
    if request.method == "GET":
        return _milestone_page(item)
    authorize(_may_submit(item) and progress.editable(item))
    form = MilestoneForm()
    if form.validate_on_submit():
        try:
            if form.version.data and form.version.data != str(item.version):
                raise StaleDataError()
            progress.save_milestone(item, {
                "content": form.content.data or "", "meeting_date": form.meeting_date.data,
                "meeting_result": form.meeting_result.data or "",
                "township_approved_on": form.township_approved_on.data, "filed_on": form.filed_on.data,
                "system_entered_on": form.system_entered_on.data,
            })
            if form.document.data and getattr(form.document.data, "filename", ""):
                stored = save_upload(form.document.data, uploaded_by=current_user)
                db.session.add(MilestoneDocument(site_milestone=item, file=stored,
                                                 description=form.document_description.data or ""))
                db.session.flush()
            if form.submit_item.data:
                progress.transition_milestone(item, MilestoneStatus.SUBMITTED, current_user)
        except ProgressError as error:
            db.session.rollback()
            _show_refusal(form, error)
        except UploadRejected as error:
            db.session.rollback()
            form.refuse(str(error), "document")
        except StaleDataError:
            db.session.rollback()
            flash(_("该材料已被他人修改，请刷新后再填写。"), "danger")
        else:
            db.session.commit()
            flash(_("已提交。") if form.submit_item.data else _("已保存。"), "success")
            return redirect(url_for("progress.milestone", item_id=item.id))
    return _milestone_page(item, form)


@bp.route("/milestones/<int:item_id>/<any(accept, return):decision>", methods=["POST"])
@requires(Permission.TRACKING_REVIEW)
def review_milestone(item_id: int, decision: str):
    item = _milestone(item_id)
    form = ReviewForm()
    new = MilestoneStatus.ACCEPTED if decision == "accept" else MilestoneStatus.RETURNED
    if not form.validate_on_submit():
        return _milestone_page(item, review_form=form)
    try:
        progress.transition_milestone(item, new, current_user, form.comment.data or "")
    except ProgressError as error:
        db.session.rollback()
        if error.field in form:  # a return without a comment
            form.refuse(str(error), error.field)
            return _milestone_page(item, review_form=form)
        flash(str(error), "danger")  # the item is no longer waiting for review
    else:
        db.session.commit()
        if item.site is not None:
            from app.tracking.notifications import notify_township

            notify_township(item.township_id, "milestone", _l("%(m)s：%(s)s", m=item.milestone.name, s=new.lazy_title),
                            item.reviewer_comment, url_for("progress.milestone", item_id=item.id),
                            f"milestone:{item.id}:{item.version}")
            db.session.commit()
        flash(new.title, "success")
    return redirect(url_for("progress.milestone", item_id=item.id))


@bp.route("/milestone-documents/<int:document_id>")
@requires(Permission.TRACKING_VIEW)
def milestone_document(document_id: int):
    document = db.get_or_404(MilestoneDocument, document_id)
    _milestone(document.site_milestone_id)
    return send_stored(document.file)


# --- monthly reports ------------------------------------------------------------------------------------


@bp.route("/sites/<int:site_id>/reports/<month>", methods=["GET", "POST"])
@requires(Permission.TRACKING_VIEW)
def report(site_id: int, month: str):
    site = _site(site_id)
    try:
        month_date = progress.parse_month(month)
        progress.check_month(site, month_date)
    except ProgressError as error:
        if request.method == "POST":
            flash(str(error), "danger")
            return redirect(url_for("progress.site", site_id=site.id))
        abort(404)
    existing = progress.report_for(site, month_date)
    may_edit = can_submit_for(current_user, site) and (existing is None or existing.status.value == "draft")
    form = ReportForm(obj=existing) if request.method == "GET" else ReportForm()
    if request.method == "GET" and existing is not None:
        form.spent_this_month.data = existing.spent_this_month_fen
        form.version.data = str(existing.version)
    if request.method == "POST":
        authorize(can_submit_for(current_user, site))
        if not may_edit:
            flash(_("该月进展已报送，不能再修改。"), "warning")
            return redirect(url_for("progress.report", site_id=site.id, month=month))
        if form.validate_on_submit():
            try:
                if existing is not None and form.version.data and form.version.data != str(existing.version):
                    raise StaleDataError()
                saved = progress.save_report(site, month_date, {
                    "work_done": form.work_done.data or "", "consultations_held": form.consultations_held.data or 0,
                    "problems": form.problems.data or "", "next_plan": form.next_plan.data or "",
                    "spent_this_month_fen": form.spent_this_month.data or 0}, current_user)
                if form.photo.data and getattr(form.photo.data, "filename", ""):
                    stored = save_upload(form.photo.data, allowed=PHOTO_KINDS, uploaded_by=current_user)
                    db.session.add(MonthlyReportPhoto(report=saved, file=stored, caption=form.photo_caption.data or ""))
                    db.session.flush()
                if form.submit_report.data:
                    progress.submit_report(saved)
            except ProgressError as error:
                db.session.rollback()
                _show_refusal(form, error)
            except UploadRejected as error:
                db.session.rollback()
                form.refuse(str(error), "photo")
            except StaleDataError:
                db.session.rollback()
                flash(_("该月进展已被他人修改，请刷新后再填写。"), "danger")
            else:
                db.session.commit()
                flash(_("已报送。") if form.submit_report.data else _("草稿已保存。"), "success")
                return redirect(url_for("progress.report", site_id=site.id, month=month))
    return render_template("progress/report.html", site=site, month=month_date, report=existing, form=form,
                           may_edit=may_edit, recorded=progress.spending_in_month(site, month_date),
                           state=progress.cell(month_date, existing, china_today()).state,
                           due=progress.due_date(month_date))


@bp.route("/photos/<int:photo_id>")
@requires(Permission.TRACKING_VIEW)
def photo(photo_id: int):
    item = db.get_or_404(MonthlyReportPhoto, photo_id)
    _site(item.report.site_id)
    return send_stored(item.file)


# --- spot checks ----------------------------------------------------------------------------------------


@bp.route("/sites/<int:site_id>/spot-checks", methods=["POST"])
@requires(Permission.TRACKING_REVIEW)
def spot_check(site_id: int):
    site = _site(site_id)
    form = SpotCheckForm()
    if not form.validate_on_submit():
        return _site_page(site, form)
    try:
        progress.record_spot_check(site, checked_on=form.checked_on.data, inspectors=form.inspectors.data,
                                   findings=form.findings.data, follow_up_required=form.follow_up_required.data,
                                   follow_up=form.follow_up.data or "", user=current_user)
    except ProgressError as error:  # a date after today
        db.session.rollback()
        form.refuse(str(error), error.field)
        return _site_page(site, form)
    db.session.commit()
    flash(_("抽查已记录。"), "success")
    return redirect(url_for("progress.site", site_id=site.id) + "#spot-checks")


@bp.route("/spot-checks/<int:check_id>/close", methods=["POST"])
@requires(Permission.TRACKING_REVIEW)
def close_spot_check(check_id: int):
    check = db.get_or_404(SpotCheck, check_id)
    site = _site(check.site_id)
    form = CloseForm()
    if not form.validate_on_submit():
        return _site_page(site, form, closing=check_id)
    try:
        progress.close_spot_check(check, form.note.data)
    except ProgressError as error:
        db.session.rollback()
        if error.field in form:  # no note on what was done
            form.refuse(str(error), error.field)
            return _site_page(site, form, closing=check_id)
        flash(str(error), "danger")  # closed already
    else:
        db.session.commit()
        flash(_("抽查已关闭。"), "success")
    return redirect(url_for("progress.site", site_id=site.id) + "#spot-checks")
