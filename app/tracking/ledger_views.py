"""The consultation ledger's pages (台账): the list of communities, a community's ledger, the 协商记录表 (entry,
detail, the printed form, removal) and the 村(居)民代表会议 with its three documents.

Load → check → act → commit: every object is checked against the user's scope (``can_view_community`` to read,
``can_record_ledger`` to write) whatever id is put in the URL; the operations in ``app.tracking.ledger`` flush.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.database import china_today, id_number
from app.extensions import db
from app.files.storage import send_stored
from app.pagination import paginate
from app.permissions import (
    Permission,
    authorize,
    can_record_ledger,
    can_view_community,
    requires,
    visible_communities,
    visible_townships,
)
from app.places.models import Community
from app.tracking import ledger
from app.tracking.ledger import LedgerError
from app.tracking.models import ConsultationMatter, ConsultationRecord, ConsultationRule, RepresentativeMeeting
from forms.ledger import CONSULTATION_MODES, MeetingForm, RecordForm

bp = Blueprint("ledger", __name__, url_prefix="/ledger")

# The form's field names where they differ from the operation's keywords.
_FORM_FIELD = {"form": "mode"}


def _community(community_id: int) -> Community:
    community = db.get_or_404(Community, community_id)
    authorize(can_view_community(current_user, community))
    return community


def _writable_community(community_id: int) -> Community:
    community = db.get_or_404(Community, community_id)
    authorize(can_record_ledger(current_user, community))
    return community


def _record(record_id: int) -> ConsultationRecord:
    record = db.get_or_404(ConsultationRecord, record_id)
    authorize(can_view_community(current_user, record.community))
    if record.deleted_at is not None:
        abort(404)
    return record


def _meeting(meeting_id: int) -> RepresentativeMeeting:
    meeting = db.get_or_404(RepresentativeMeeting, meeting_id)
    authorize(can_view_community(current_user, meeting.community))
    return meeting


def _field_error(form, error: LedgerError) -> None:
    """The refusal at the field it names, else above the form's fields: the page shows the form again either way."""
    form.refuse(error.message, _FORM_FIELD.get(error.field, error.field))


# --- the list ------------------------------------------------------------------------------------------------


@bp.route("/")
@requires(Permission.TRACKING_VIEW)
def index():
    """The communities the user may see, a page at a time, with their ledger's counts (a fixed number of queries)."""
    query = visible_communities(current_user).options(sa.orm.contains_eager(Community.township))
    township_id = request.args.get("township", type=id_number)
    if township_id:
        query = query.where(Community.township_id == township_id)
    text = request.args.get("q", "").strip()[:60]
    if text:
        query = query.where(Community.name.contains(text, autoescape=True))
    only_kept = request.args.get("kept") == "1"
    if only_kept:
        query = query.where(sa.or_(
            sa.exists().where(ConsultationRecord.community_id == Community.id, ConsultationRecord.deleted_at.is_(None)),
            sa.exists().where(RepresentativeMeeting.community_id == Community.id),
        ))
    page = paginate(query)
    ids = [community.id for community in page.items]
    records, meetings = {}, {}
    if ids:
        passed = sa.case((ConsultationRecord.votes_for * 3 > ConsultationRecord.present * 2, 1), else_=0)
        flagged = sa.case((ConsultationRecord.excluded_rule_id.is_not(None), 1), else_=0)
        records = {row.community_id: row for row in db.session.execute(
            sa.select(ConsultationRecord.community_id, sa.func.count().label("count"),
                      sa.func.sum(passed).label("passed"), sa.func.sum(flagged).label("flagged"),
                      sa.func.max(ConsultationRecord.held_at).label("last"))
            .where(ConsultationRecord.community_id.in_(ids), ConsultationRecord.deleted_at.is_(None))
            .group_by(ConsultationRecord.community_id))}
        meetings = {row.community_id: row for row in db.session.execute(
            sa.select(RepresentativeMeeting.community_id, sa.func.count().label("count"),
                      sa.func.max(RepresentativeMeeting.held_on).label("last"))
            .where(RepresentativeMeeting.community_id.in_(ids))
            .group_by(RepresentativeMeeting.community_id))}
    townships = db.session.scalars(visible_townships(current_user)).all()
    return render_template("ledger/index.html", page=page, records=records, meetings=meetings, townships=townships,
                           township_id=township_id, q=text, only_kept=only_kept)


# --- one community -------------------------------------------------------------------------------------------


@bp.route("/communities/<int:community_id>")
@requires(Permission.TRACKING_VIEW)
def community(community_id: int):
    community = _community(community_id)
    page = paginate(
        sa.select(ConsultationRecord)
        .where(ConsultationRecord.community_id == community.id, ConsultationRecord.deleted_at.is_(None))
        .options(sa.orm.joinedload(ConsultationRecord.matter), sa.orm.joinedload(ConsultationRecord.excluded_rule))
        .order_by(ConsultationRecord.held_at.desc(), ConsultationRecord.id.desc())
    )
    meetings = db.session.scalars(
        sa.select(RepresentativeMeeting).where(RepresentativeMeeting.community_id == community.id)
        .order_by(RepresentativeMeeting.held_on.desc(), RepresentativeMeeting.id.desc())
    ).all()
    today = china_today()
    missing = [quarter for year in (today.year - 1, today.year)
               for quarter in ledger.quarters_without_meeting(meetings, year, today)]
    return render_template(
        "ledger/community.html", community=community, page=page, meetings=meetings, missing=missing,
        passed=ledger.record_passed, meeting_valid=ledger.meeting_is_valid, meeting_passes=ledger.meeting_passes,
        can_record=can_record_ledger(current_user, community), documents=ledger.MEETING_DOCUMENTS,
        document_title=ledger.document_title,
    )


# --- consultation records ------------------------------------------------------------------------------------


def _record_form() -> RecordForm:
    form = RecordForm()
    matters = db.session.scalars(
        sa.select(ConsultationMatter).order_by(ConsultationMatter.sort_order, ConsultationMatter.id)).all()
    rules = db.session.scalars(
        sa.select(ConsultationRule).where(ConsultationRule.kind == ledger.MUST_NOT)
        .order_by(ConsultationRule.sort_order, ConsultationRule.id)).all()
    form.set_choices(matters, rules)
    return form


@bp.route("/communities/<int:community_id>/records/new", methods=["GET", "POST"])
@requires(Permission.LEDGER_RECORD)
def new_record(community_id: int):
    community = _writable_community(community_id)
    form = _record_form()
    if form.validate_on_submit():
        rule_id = form.excluded_rule_id.data
        try:
            record = ledger.create_record(
                community,
                held_at=form.held_at.data, unit_level=form.unit_level.data, present=form.present.data,
                votes_for=form.votes_for.data, votes_against=form.votes_against.data, abstain=form.abstain.data,
                matter=db.session.get(ConsultationMatter, form.matter_id.data),
                excluded_rule=db.session.get(ConsultationRule, rule_id) if rule_id else None,
                user=current_user,
                topic=form.topic.data, unit_name=form.unit_name.data, parties=form.parties.data,
                place=form.place.data, form=form.mode.data, host=form.host.data, recorder=form.recorder.data,
                supervisor=form.supervisor.data, proceedings=form.proceedings.data, outcome=form.outcome.data,
                follow_up=form.follow_up.data or "",
            )
        except LedgerError as error:
            db.session.rollback()
            _field_error(form, error)
        else:
            db.session.commit()
            if record.excluded_rule_id is not None:
                flash(_("已保存，但该议题属于“五不议”事项：%(rule)s。请核实是否应当开展协商。",
                        rule=record.excluded_rule.text), "warning")
            else:
                flash(_("协商记录已保存。"), "success")
            return redirect(url_for("ledger.record", record_id=record.id))
    return render_template("ledger/record_form.html", community=community, form=form, modes=CONSULTATION_MODES)


@bp.route("/records/<int:record_id>")
@requires(Permission.TRACKING_VIEW)
def record(record_id: int):
    record = _record(record_id)
    return render_template("ledger/record.html", record=record, shares=ledger.record_shares(record),
                           passed=ledger.record_passed(record),
                           can_record=can_record_ledger(current_user, record.community))


@bp.route("/records/<int:record_id>/print")
@requires(Permission.TRACKING_VIEW)
def print_record(record_id: int):
    record = _record(record_id)
    return render_template("ledger/print.html", record=record, shares=ledger.record_shares(record),
                           passed=ledger.record_passed(record))


@bp.route("/records/<int:record_id>/delete", methods=["POST"])
@requires(Permission.LEDGER_RECORD)
def delete_record(record_id: int):
    record = _record(record_id)
    authorize(can_record_ledger(current_user, record.community))
    community_id = record.community_id
    ledger.delete_record(record)
    db.session.commit()
    flash(_("协商记录已删除。"), "success")
    return redirect(url_for("ledger.community", community_id=community_id))


# --- representative meetings ---------------------------------------------------------------------------------


@bp.route("/communities/<int:community_id>/meetings/new", methods=["GET", "POST"])
@requires(Permission.LEDGER_RECORD)
def new_meeting(community_id: int):
    community = _writable_community(community_id)
    form = MeetingForm()
    if form.validate_on_submit():
        try:
            meeting = ledger.create_meeting(
                community, held_on=form.held_on.data, topic=form.topic.data,
                representatives_total=form.representatives_total.data, present=form.present.data,
                votes_for=form.votes_for.data, votes_against=form.votes_against.data, abstain=form.abstain.data,
                decision=form.decision.data or "", sign_in=form.sign_in.data, minutes=form.minutes.data,
                vote_sheet=form.vote_sheet.data, user=current_user,
            )
        except LedgerError as error:
            db.session.rollback()
            _field_error(form, error)
        else:
            db.session.commit()
            if not ledger.meeting_is_valid(meeting):
                flash(_("已保存。到会代表不足三分之二，会议无效，所作决定不具效力。"), "warning")
            else:
                flash(_("会议记录已保存。"), "success")
            return redirect(url_for("ledger.community", community_id=community.id) + "#meetings")
    return render_template("ledger/meeting_form.html", community=community, form=form)


@bp.route("/meetings/<int:meeting_id>/files/<which>")
@requires(Permission.TRACKING_VIEW)
def meeting_file(meeting_id: int, which: str):
    meeting = _meeting(meeting_id)
    if which not in ledger.MEETING_DOCUMENTS:
        abort(404)
    stored = getattr(meeting, f"{which}_file")
    if stored is None:
        abort(404)
    return send_stored(stored)
