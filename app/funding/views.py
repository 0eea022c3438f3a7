from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape

from app.database import china_today, utcnow
from app.downloads import attachment
from app.extensions import db
from app.files.storage import UploadRejected, save_upload, send_stored
from app.formatting import money_writer, percent_text, yuan_text
from app.funding import operations
from app.funding.models import Allocation, Disbursement, PeriodSignOff, Site, SpendingLine, Tranche, TrancheRelease
from app.funding.operations import FundingError
from app.funding.queries import (
    TERMS,
    PageSums,
    Totals,
    flag_kinds,
    flag_text,
    page_sums,
    reconciliation,
    site_page,
)
from app.pagination import CappedPage, requested_page
from app.permissions import (
    Permission,
    authorize,
    can_spend_for,
    can_view_programme,
    can_view_site,
    has_permission,
    requires,
    site_filter,
)
from app.programmes.models import FundingSource, Programme
from app.statements import changes_mark
from forms.base import BaseForm, ensure_blank_rows, filled_rows, options
from forms.funding import (
    AllocationForm,
    BatchForm,
    DisbursementForm,
    ReleaseForm,
    ReversalForm,
    SignOffForm,
    SpendingForm,
    SpendingImportForm,
    TranchesForm,
)
from reports.xlsx import write_workbook

bp = Blueprint("funding", __name__, url_prefix="/funding")
RECEIPT_KINDS = frozenset({"pdf", "png", "jpeg"})


def _subtitle() -> str:
    return _("导出人：%(user)s　导出时间：%(at)s", user=current_user.username,
             at=format_datetime(utcnow(), "yyyy-MM-dd HH:mm"))


def _programme(programme_id: int) -> Programme:
    programme = db.get_or_404(Programme, programme_id)
    authorize(can_view_programme(current_user, programme))
    return programme


def _site(site_id: int) -> Site:
    site = db.get_or_404(Site, site_id)
    authorize(can_view_site(current_user, site))
    return site


def _sources(local_only: bool = False) -> list[FundingSource]:
    query = sa.select(FundingSource).order_by(FundingSource.sort_order, FundingSource.id)
    if local_only:
        query = query.where(FundingSource.local.is_(True))
    return list(db.session.scalars(query))


# --- overview and reconciliation ---------------------------------------------------------------------


@bp.route("/")
@requires(Permission.FUNDING_VIEW)
def index():
    programmes = db.session.scalars(
        sa.select(Programme).where(Programme.id.in_(sa.select(Site.programme_id).where(site_filter(current_user))))
        .order_by(Programme.year.desc())
    ).all()
    return render_template("funding/index.html", programmes=programmes)


@bp.route("/programmes/<int:programme_id>")
@requires(Permission.FUNDING_VIEW)
def programme(programme_id: int):
    """One page of sites with their sources; township, source and programme totals over every site."""
    programme = _programme(programme_id)
    scope = site_filter(current_user)
    size = current_app.config["PAGE_SIZE"]
    number = requested_page()
    mark = changes_mark()  # read before what is remembered under it
    rows, count = site_page(programme, scope, number, size, mark)
    page = CappedPage(rows, number, size, count, False, number * size < count)
    if rows:
        sums = page_sums(programme, [row.id for row in rows], sorted({row.township_id for row in rows}), scope,
                         mark)
    else:  # past the last page: nothing listed and nothing summed, as before
        sums = PageSums({}, {}, {}, [], {})
    total = Totals()
    for totals in sums.sources.values():
        total.add(totals)
    body, foot = _reconciliation_lines(rows, sums, total)
    return render_template("funding/programme.html", programme=programme, total=total, body=body, foot=foot,
                           page=page, terms=TERMS)


def _reconciliation_lines(rows, sums: PageSums, total: Totals) -> tuple[Markup, Markup]:
    """The body (township, site and source lines) and the foot (source and programme totals) of the
    reconciliation table, written here rather than by nested template loops and macro calls: a page of 50 sites
    has several hundred cells. Every text is escaped; each distinct amount goes through the money filter once."""
    texts: dict[int, str] = {}
    cell_texts: dict[tuple[int, int, int], str] = {}
    write_money = money_writer()

    def amount(fen: int) -> str:
        text = texts.get(fen)
        if text is None:
            text = texts[fen] = str(escape(write_money(fen)))
        return text

    def cells(t: Totals) -> str:
        key = (t.allocated, t.disbursed, t.spent)  # a township's, a site's and a source's line are often alike
        text = cell_texts.get(key)
        if text is None:
            overspent = " text-danger" if t.balance < 0 else ""
            text = cell_texts[key] = (
                f'<td class="text-end">{amount(t.allocated)}</td><td class="text-end">{amount(t.disbursed)}</td>'
                f'<td class="text-end">{amount(t.spent)}</td><td class="text-end{overspent}">{amount(t.balance)}</td>'
                f'<td class="text-end">{percent_text(t.share_used, 1)}</td>')
        return text

    site_url = url_for("funding.site", site_id=0)[:-1]  # one url_for, not one per line
    names = [(source_id, str(escape(name))) for source_id, name in sums.source_names]
    badges: dict[str, str] = {}
    today = china_today()
    body = []
    township_id = None
    for row in rows:
        if row.township_id != township_id:  # the rows come by township
            township_id = row.township_id
            body.append(f'<tr class="table-light fw-bold"><td>{escape(row.township)}</td>'
                        f'{cells(sums.townships.get(township_id, Totals()))}<td></td></tr>')
        by_source = sums.sites.get(row.id, {})
        lines = [(name, totals) for source_id, name in names
                 if (totals := by_source.get(source_id)) and (totals.allocated or totals.disbursed or totals.spent)]
        site_total = Totals()
        for _name, totals in lines:
            site_total.add(totals)
        flags = ""
        for kind in flag_kinds([totals for _name, totals in lines], site_total.spent, sums.first_payment.get(row.id),
                               today):
            if kind not in badges:
                badges[kind] = f'<span class="badge text-bg-warning">{escape(flag_text(kind))}</span> '
            flags += badges[kind]
        body.append(f'<tr><td class="ps-3"><a href="{site_url}{row.id}">{escape(row.community)}</a> '
                    f'<span class="small text-muted">{escape(row.tier or "")}</span></td>{cells(site_total)}'
                    f'<td>{flags}</td></tr>')
        body += [f'<tr class="small text-muted"><td class="ps-5">{name}</td>{cells(totals)}<td></td></tr>'
                 for name, totals in lines]
    # Translated outside the f-strings, where pybabel would not find them.
    of_which = [(source_id, escape(_("其中：%(s)s", s=name))) for source_id, name in sums.source_names]
    foot = [f'<tr class="small"><td>{text}</td>{cells(sums.sources[source_id])}<td></td></tr>'
            for source_id, text in of_which]
    total_text = escape(_("合计"))
    foot.append(f'<tr class="fw-bold"><td>{total_text}</td>{cells(total)}<td></td></tr>')
    return Markup("".join(body)), Markup("".join(foot))


@bp.route("/programmes/<int:programme_id>/reconciliation.xlsx")
@requires(Permission.FUNDING_VIEW)
def reconciliation_export(programme_id: int):
    from reports import reconciliation as report

    programme = _programme(programme_id)
    rec = reconciliation(programme, site_filter(current_user))
    data = write_workbook(report.sheets(rec), subtitle=_subtitle())
    return attachment(data, f"资金拨付与使用对账表_{programme.year}_{programme.code}.xlsx")


# --- one site --------------------------------------------------------------------------------------


def _site_context(site: Site, posted: BaseForm | None = None, reversing: tuple[str, int] | None = None) -> dict:
    """What the site page shows; ``posted``, a form that was refused, is shown as it was sent (values and errors) in
    place of its fresh form: a reversal form at the line ``reversing`` names (its endpoint and line id), the other
    lines keeping their fresh ones."""
    lines = {
        "allocations": db.session.scalars(sa.select(Allocation).where(Allocation.site_id == site.id)
                                          .order_by(Allocation.entry_date, Allocation.id)).all(),
        "disbursements": db.session.scalars(sa.select(Disbursement).where(Disbursement.site_id == site.id)
                                             .order_by(Disbursement.entry_date, Disbursement.id)).all(),
        "spending": db.session.scalars(sa.select(SpendingLine).where(SpendingLine.site_id == site.id)
                                       .options(sa.orm.joinedload(SpendingLine.receipt))
                                       .order_by(SpendingLine.entry_date, SpendingLine.id)).all(),
    }
    reversed_ids = {line.reverses_id for line in lines["disbursements"] if line.reverses_id}
    reversed_spending = {line.reverses_id for line in lines["spending"] if line.reverses_id}
    rec = reconciliation(site.programme, Site.id == site.id)
    tranches = db.session.scalars(sa.select(Tranche).where(Tranche.programme_id == site.programme_id)
                                  .order_by(Tranche.sequence)).all()
    released = set(db.session.scalars(sa.select(TrancheRelease.tranche_id).where(TrancheRelease.site_id == site.id)))
    today = china_today()
    all_sources = _sources()
    finance = has_permission(current_user, Permission.FUNDING_PAY)
    spender = can_spend_for(current_user, site)
    allocation_form = posted if isinstance(posted, AllocationForm) else AllocationForm(formdata=None, entry_date=today)
    allocation_form.source_id.choices = options([(0, _("（请选择）"))] + [
        (s.id, s.name) for s in (all_sources if finance else _sources(local_only=True))])
    disbursement_form = (posted if isinstance(posted, DisbursementForm)
                         else DisbursementForm(formdata=None, entry_date=today))
    disbursement_form.source_id.choices = options([(0, _("（请选择）"))] + [(s.id, s.name) for s in all_sources])
    spending_form = posted if isinstance(posted, SpendingForm) else SpendingForm(formdata=None, entry_date=today)
    spending_form.source_id.choices = options([(0, _("（请选择）"))] + [(s.id, s.name) for s in all_sources])
    release_form = posted if isinstance(posted, ReleaseForm) else ReleaseForm(formdata=None)
    release_form.tranche_id.choices = options([(t.id, t.name) for t in tranches
                                               if t.condition and t.id not in released])
    return dict(
        site=site, line=rec.sites[0] if rec.sites else None, sources={s.id: s for s in all_sources},
        tranches=tranches, released=released, reversed_ids=reversed_ids, reversed_spending=reversed_spending,
        finance=finance, spender=spender, allocation_form=allocation_form, disbursement_form=disbursement_form,
        spending_form=spending_form, reversal_form=ReversalForm(formdata=None, entry_date=today),
        refused_reversal=posted if isinstance(posted, ReversalForm) else None, reversing=reversing,
        release_form=release_form, import_form=SpendingImportForm(formdata=None),
        can_release=has_permission(current_user, Permission.FUNDING_RELEASE), **lines,
    )


@bp.route("/sites/<int:site_id>")
@requires(Permission.FUNDING_VIEW)
def site(site_id: int):
    return render_template("funding/site.html", **_site_context(_site(site_id)))


def _back(site: Site, anchor: str = ""):
    return redirect(url_for("funding.site", site_id=site.id) + (f"#{anchor}" if anchor else ""))


def _refused(site: Site, form: BaseForm, error: FundingError | None = None, reversing: tuple[str, int] | None = None):
    """The site page again with ``form`` as it was posted, so nothing typed is lost: each message at its field (a
    refusal by the rules at the field it names, else above the form's fields), and the first field in error (else
    the first field) focused, its <details> open, so that the browser brings the user there. 200, as the programme
    forms answer. ``reversing``: the reversal form's line (see _site_context)."""
    if error is not None:
        form.refuse(str(error), error.field)
    form.focus_first_error()
    return render_template("funding/site.html", **_site_context(site, posted=form, reversing=reversing))


def _run(site: Site, anchor: str, action, posted: BaseForm | None = None, reversing: tuple[str, int] | None = None):
    """Runs ``action`` and commits, or rolls back on a refusal: shown again with the ``posted`` form if there is one,
    else flashed. A reversal's refusal that names none of its fields (the line is already reversed) is flashed too:
    its form sits in the line, which may no longer offer one."""
    try:
        message = action()
    except FundingError as error:
        db.session.rollback()
        if posted is not None and (reversing is None or error.field in posted):
            return _refused(site, posted, error, reversing)
        flash(str(error), "danger")
    else:
        db.session.commit()
        flash(message, "success")
    return _back(site, anchor)


def _source(source_id: int) -> FundingSource:
    source = db.session.get(FundingSource, source_id or 0)
    if source is None:
        raise FundingError(_("请选择资金来源。"), field="source_id")
    return source


@bp.route("/sites/<int:site_id>/allocations", methods=["POST"])
@requires(Permission.FUNDING_VIEW)
def add_allocation(site_id: int):
    site = _site(site_id)
    finance = has_permission(current_user, Permission.FUNDING_PAY)
    authorize(finance or can_spend_for(current_user, site))
    form = AllocationForm()
    if not form.validate_on_submit():
        return _refused(site, form)

    def action():
        sign = -1 if form.direction.data == "reduce" else 1
        operations.add_allocation(site, _source(form.source_id.data), sign * form.amount.data, form.reason.data,
                                  current_user, entry_date=form.entry_date.data, local_only=not finance)
        return _("下达金额已录入。")
    return _run(site, "allocations", action, posted=form)


@bp.route("/sites/<int:site_id>/disbursements", methods=["POST"])
@requires(Permission.FUNDING_PAY)
def disburse(site_id: int):
    site = _site(site_id)
    form = DisbursementForm()
    if not form.validate_on_submit():
        return _refused(site, form)

    def action():
        operations.disburse(site, _source(form.source_id.data), form.amount.data, entry_date=form.entry_date.data,
                            voucher_no=form.voucher_no.data, note=form.note.data or "",
                            override_reason=form.override_reason.data or "", user=current_user)
        return _("拨付已录入。")
    return _run(site, "disbursements", action, posted=form)


@bp.route("/disbursements/<int:line_id>/reverse", methods=["POST"])
@requires(Permission.FUNDING_PAY)
def reverse_disbursement(line_id: int):
    line = db.get_or_404(Disbursement, line_id)
    site = _site(line.site_id)
    form = ReversalForm()
    reversing = ("funding.reverse_disbursement", line.id)
    if not form.validate_on_submit():
        return _refused(site, form, reversing=reversing)

    def action():
        operations.reverse_disbursement(line, entry_date=form.entry_date.data, reason=form.reason.data,
                                        user=current_user)
        return _("已录入冲销分录。")
    return _run(site, "disbursements", action, posted=form, reversing=reversing)


@bp.route("/sites/<int:site_id>/spending", methods=["POST"])
@requires(Permission.FUNDING_SPEND)
def add_spending(site_id: int):
    site = _site(site_id)
    authorize(can_spend_for(current_user, site))
    form = SpendingForm()
    if not form.validate_on_submit():
        return _refused(site, form)  # the file chosen is not kept: a file input cannot be filled in again

    def action():
        receipt = None
        if form.receipt.data and getattr(form.receipt.data, "filename", ""):
            try:
                receipt = save_upload(form.receipt.data, allowed=RECEIPT_KINDS, uploaded_by=current_user)
            except UploadRejected as error:
                raise FundingError(str(error), field="receipt") from error
        operations.add_spending(site, _source(form.source_id.data), entry_date=form.entry_date.data,
                                item=form.item.data, category=form.category.data, amount_fen=form.amount.data,
                                payee=form.payee.data or "", receipt=receipt, note=form.note.data or "",
                                user=current_user)
        return _("支出已录入。")
    return _run(site, "spending", action, posted=form)


@bp.route("/spending/<int:line_id>/reverse", methods=["POST"])
@requires(Permission.FUNDING_SPEND)
def reverse_spending(line_id: int):
    line = db.get_or_404(SpendingLine, line_id)
    site = _site(line.site_id)
    authorize(can_spend_for(current_user, site))
    form = ReversalForm()
    reversing = ("funding.reverse_spending", line.id)
    if not form.validate_on_submit():
        return _refused(site, form, reversing=reversing)

    def action():
        operations.reverse_spending(line, entry_date=form.entry_date.data, reason=form.reason.data, user=current_user)
        return _("已录入冲销分录。")
    return _run(site, "spending", action, posted=form, reversing=reversing)


@bp.route("/spending/<int:line_id>/receipt")
@requires(Permission.FUNDING_VIEW)
def receipt(line_id: int):
    line = db.get_or_404(SpendingLine, line_id)
    _site(line.site_id)
    if line.receipt is None:
        abort(404)
    return send_stored(line.receipt)


@bp.route("/sites/<int:site_id>/spending/import", methods=["POST"])
@requires(Permission.FUNDING_SPEND)
def import_spending(site_id: int):
    from app.funding.importing import parse_spending

    site = _site(site_id)
    authorize(can_spend_for(current_user, site))
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("请选择要导入的文件。"), "danger")
        return _back(site, "spending")
    rows, errors = parse_spending(upload.read(), {s.name: s for s in _sources()})
    if errors:
        return render_template("funding/import_errors.html", site=site, errors=errors), 400

    def action():
        for row in rows:
            operations.add_spending(site, row["source"], entry_date=row["entry_date"], item=row["item"],
                                    category=row["category"], amount_fen=row["amount_fen"], payee=row["payee"],
                                    note=row["note"], user=current_user)
        return _("已导入 %(n)d 笔支出。", n=len(rows))
    return _run(site, "spending", action)


@bp.route("/spending/import-template.xlsx")
@requires(Permission.FUNDING_SPEND)
def spending_template():
    from app.funding.importing import template

    return attachment(template(), "项目资金使用明细导入模板.xlsx")


@bp.route("/sites/<int:site_id>/spending.xlsx")
@requires(Permission.FUNDING_VIEW)
def spending_export(site_id: int):
    from reports import site_spending

    site = _site(site_id)
    rows = site_spending.rows(site_spending.site_lines(site.id))
    data = write_workbook([site_spending.sheet(site, rows)], subtitle=_subtitle())
    return attachment(data, f"项目资金使用明细表_{site.community.name}.xlsx")


@bp.route("/sites/<int:site_id>/notice.xlsx")
@requires(Permission.FUNDING_VIEW)
def notice_export(site_id: int):
    from reports import fund_notice

    site = _site(site_id)
    rec = reconciliation(site.programme, Site.id == site.id)
    lines = db.session.scalars(sa.select(SpendingLine).where(SpendingLine.site_id == site.id)
                               .order_by(SpendingLine.entry_date, SpendingLine.id)).all()
    data = write_workbook([fund_notice.sheet(site, rec.sites[0] if rec.sites else None, lines)])
    return attachment(data, f"资金使用公示_{site.community.name}.xlsx")


# --- tranches, batch payments, sign-off ------------------------------------------------------------


@bp.route("/sites/<int:site_id>/release", methods=["POST"])
@requires(Permission.FUNDING_RELEASE)
def release(site_id: int):
    site = _site(site_id)
    form = ReleaseForm()
    form.tranche_id.choices = options([(t.id, t.name) for t in db.session.scalars(
        sa.select(Tranche).where(Tranche.programme_id == site.programme_id))])
    if not form.validate_on_submit():
        return _refused(site, form)

    def action():
        tranche = db.session.get(Tranche, form.tranche_id.data or 0)
        if tranche is None:
            raise FundingError(_("请选择批次。"), field="tranche_id")
        operations.release_tranche(site, tranche, form.note.data, current_user)
        return _("已放行：%(t)s。", t=tranche.name)
    return _run(site, "tranches", action, posted=form)


@bp.route("/programmes/<int:programme_id>/tranches", methods=["GET", "POST"])
@requires(Permission.FUNDING_PAY)
def tranches(programme_id: int):
    programme = _programme(programme_id)
    existing = db.session.scalars(sa.select(Tranche).where(Tranche.programme_id == programme.id)
                                  .order_by(Tranche.sequence)).all()
    form = TranchesForm() if request.method == "POST" else TranchesForm(data={"items": [
        {"name": t.name, "percent": t.percent, "condition": t.condition} for t in existing]})
    if form.validate_on_submit():
        rows = [{"name": r.name.data, "percent": r.percent.data, "condition": r.condition.data or ""}
                for r in filled_rows(form.items)]
        try:
            operations.save_tranches(programme, rows)
        except FundingError as error:  # about the rows together (their shares) or the programme (released)
            db.session.rollback()
            form.refuse(str(error), error.field)
        else:
            db.session.commit()
            flash(_("拨付批次已保存。"), "success")
            return redirect(url_for("funding.programme", programme_id=programme.id))
    ensure_blank_rows(form.items, blanks=2)
    return render_template("funding/tranches.html", programme=programme, form=form)


@bp.route("/programmes/<int:programme_id>/batch", methods=["GET", "POST"])
@requires(Permission.FUNDING_PAY)
def batch(programme_id: int):
    programme = _programme(programme_id)
    form = BatchForm(entry_date=china_today()) if request.method == "GET" else BatchForm()
    form.source_id.choices = options([(0, _("（请选择）"))] + [(s.id, s.name) for s in _sources()])
    source = db.session.get(FundingSource, form.source_id.data or 0) if form.source_id.data else None
    plan = operations.batch_plan(programme, source) if source is not None else []
    # A preview is checked as a payment is, so that each message shows at its field before anything is paid.
    if form.validate_on_submit() and request.form.get("confirm") == "1":
        try:
            lines = operations.batch_disburse(programme, _source(form.source_id.data), entry_date=form.entry_date.data,
                                              voucher_prefix=form.voucher_prefix.data, note=form.note.data or "",
                                              user=current_user)
        except FundingError as error:
            db.session.rollback()
            # A used voucher number is the prefix's doing; "nothing to pay" names no field and shows above them.
            form.refuse(str(error), "voucher_prefix" if error.field == "voucher_no" else error.field)
        else:
            db.session.commit()
            flash(_("已批量拨付 %(n)d 笔，合计 %(t)s 元。", n=len(lines),
                    t=yuan_text(sum(line.amount_fen for line in lines))), "success")
            return redirect(url_for("funding.programme", programme_id=programme.id))
    return render_template("funding/batch.html", programme=programme, form=form, plan=plan,
                           total=sum(amount for _site, amount in plan))


@bp.route("/periods", methods=["GET", "POST"])
@requires(Permission.FUNDING_PAY)
def periods():
    form = SignOffForm()
    if form.validate_on_submit():
        try:
            operations.sign_off(form.label.data, form.note.data or "", current_user)
        except FundingError as error:
            db.session.rollback()
            form.label.errors.append(str(error))
        else:
            db.session.commit()
            flash(_("期间 %(p)s 已结账。", p=form.label.data.strip().upper()), "success")
            return redirect(url_for("funding.periods"))
    signed = db.session.scalars(sa.select(PeriodSignOff).order_by(PeriodSignOff.period_start.desc())).all()
    return render_template("funding/periods.html", form=form, signed=signed)
