"""The report shelf's pages: the list of the nine reports, one report as HTML tables with its filters, and the same
report as a workbook. The report's sheets are built once (``reports.shelf.build``) and either shown or written, so
the page and the workbook show the same rows, column titles and totals.

Bad filters are answered at the field (the page) or by the page with its messages (the workbook); filter ids outside
the user's scope give an empty report. Nothing typed in the query string can make these pages fail.
"""

from __future__ import annotations

from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user

from app.audit.models import AuditAction
from app.audit.operations import record_after_reading
from app.database import utcnow
from app.downloads import attachment
from app.extensions import db
from app.permissions import Permission, authorize, programme_filter, requires, visible_townships
from app.programmes.models import Programme
from forms.base import options
from forms.shelf import ShelfFilterForm, filter_form
from reports import shelf
from reports.xlsx import write_workbook

bp = Blueprint("shelf", __name__, url_prefix="/reports")


def _report(key: str) -> shelf.Report:
    report = shelf.REPORTS.get(key)
    if report is None:
        abort(404)
    authorize(shelf.may_open(report, current_user))
    return report


def _filters(report: shelf.Report) -> tuple[ShelfFilterForm, shelf.Filters | None]:
    """The report's filter form from the query string, and the filters (None while the form has errors)."""
    form = filter_form(report.filters, report.period, request.args)
    if report.applies(shelf.PROGRAMME):
        programmes = db.session.execute(
            sa.select(Programme.id, Programme.name, Programme.year).where(programme_filter(current_user))
            .order_by(Programme.year.desc(), Programme.id.desc())
        ).all()
        first = [] if report.programme_needs else [(0, _("全部项目"))]
        form.programme.choices = options([*first, *[(p.id, f"{p.year} {p.name}") for p in programmes]])
    if report.applies(shelf.TOWNSHIP):
        townships = db.session.scalars(visible_townships(current_user)).all()
        form.township.choices = options([(0, _("全部镇(街道)")), *[(t.id, t.name) for t in townships]])
    if not form.validate():
        return form, None
    data = form.data
    filters = shelf.Filters(
        programme_id=data.get("programme") or None,
        year=data.get("year") or None,
        township_id=data.get("township") or None,
        start=data.get("start"),
        end=data.get("end"),
    )
    filters = shelf.with_default_programme(report, filters, current_user)
    if report.applies(shelf.PROGRAMME) and filters.programme_id:
        form.programme.data = filters.programme_id
    return form, filters


def _query_string(filters: shelf.Filters, report: shelf.Report) -> dict:
    """The filters as query arguments, so that the export link carries exactly what the page shows."""
    args = {}
    if report.applies(shelf.PROGRAMME) and filters.programme_id:
        args["programme"] = filters.programme_id
    if report.applies(shelf.YEAR) and filters.year:
        args["year"] = filters.year
    if report.applies(shelf.TOWNSHIP) and filters.township_id:
        args["township"] = filters.township_id
    shown = (lambda day: f"{day:%Y-%m}") if report.period == shelf.MONTHS else (lambda day: day.isoformat())
    if report.period and filters.start:
        args["start"] = shown(filters.start)
    if report.period and filters.end:
        args["end"] = shown(filters.end)
    return args


@bp.route("/")
@requires(Permission.REPORTS_VIEW)
def index():
    reports = [report for report in shelf.REPORT_LIST if shelf.may_open(report, current_user)]
    return render_template("shelf/index.html", reports=reports, shelf=shelf)


@bp.route("/<key>")
@requires(Permission.REPORTS_VIEW)
def report(key: str):
    report = _report(key)
    form, filters = _filters(report)
    built = shelf.build(report, filters, current_user) if filters is not None else None
    sheets = shelf.show(built) if built is not None else None
    left_out = len(built) - len(sheets) if built is not None else 0
    export_url = None
    if filters is not None:
        export_url = url_for("shelf.export", key=report.key)
        args = _query_string(filters, report)
        if args:
            export_url += "?" + urlencode(args)
    return render_template("shelf/report.html", report=report, form=form, sheets=sheets, left_out=left_out,
                           export_url=export_url, shelf=shelf)


@bp.route("/<key>.xlsx")
@requires(Permission.REPORTS_VIEW)
def export(key: str):
    report = _report(key)
    form, filters = _filters(report)
    if filters is None:
        flash(_("筛选条件有误，请修正后再导出。"), "danger")
        typed = {name: value for name, value in request.args.items() if name in form._fields}
        return redirect(url_for("shelf.report", key=report.key) + ("?" + urlencode(typed) if typed else ""))
    sheets = shelf.build(report, filters, current_user) or [shelf.placeholder(report)]
    subtitle = _("导出人：%(user)s　导出时间：%(at)s　筛选条件：%(filters)s", user=current_user.username,
                 at=format_datetime(utcnow(), "yyyy-MM-dd HH:mm"),
                 filters=shelf.describe(report, filters) or _("无"))
    data = write_workbook(sheets, subtitle=subtitle)
    record_after_reading(AuditAction.EXPORT, object_type="Report", object_id=report.key,
                         summary=f"report {report.key} {urlencode(_query_string(filters, report))}"[:200])
    programme = db.session.get(Programme, filters.programme_id) if filters.programme_id else None
    stamp = f"{programme.year}_{programme.code}" if programme is not None else f"{utcnow():%Y%m%d}"
    return attachment(data, f"{report.title}_{stamp}.xlsx")
