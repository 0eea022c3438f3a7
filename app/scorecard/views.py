"""The township scorecard pages: every township's indicators for a year, and the bureau's decision per township."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.database import china_today
from app.extensions import db
from app.permissions import Permission, has_permission, requires
from app.places.models import Township
from app.programmes.models import Programme
from app.scorecard import compute
from app.scorecard.compute import DecisionError
from forms.scorecard import DecisionForm, change_text

bp = Blueprint("scorecard", __name__, url_prefix="/scorecard")


def _rule() -> dict:
    """The thresholds of the suggestion, for the page's explanation."""
    return dict(up_on_time=compute.threshold_text(compute.UP_ON_TIME),
                up_archive=compute.threshold_text(compute.UP_ARCHIVE),
                down_on_time=compute.threshold_text(compute.DOWN_ON_TIME),
                down_archive=compute.threshold_text(compute.DOWN_ARCHIVE),
                follow_up_days=compute.FOLLOW_UP_DAYS)


def _common() -> dict:
    return dict(rule=_rule(), percent=compute.floor_percent_text, change_text=change_text,
                can_decide=has_permission(current_user, Permission.SCORECARD_DECIDE))


def _parse_year(text: str | None) -> tuple[int | None, str | None]:
    """(year, None), or (None, a message) for anything that is not a year the pages accept."""
    if text is None or text.strip() == "":
        return None, None
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) == 4):
        return None, _("年度“%(text)s”无效，请填写四位数字的年份，例如 2023。", text=text[:20])
    year = int(text)
    if not compute.YEAR_MIN <= year <= compute.YEAR_MAX:
        return None, _("年度应在 %(a)d 至 %(b)d 之间。", a=compute.YEAR_MIN, b=compute.YEAR_MAX)
    return year, None


@bp.route("/")
@requires(Permission.SCORECARD_VIEW)
def index():
    years = compute.years_with_sites()
    default = years[0] if years else china_today().year
    year, message = _parse_year(request.args.get("year"))
    if message:
        flash(message + " " + _("已显示 %(y)d 年度。", y=default), "warning")
    if year is None:
        year = default
    today = china_today()
    cards = compute.scorecards(year, today=today)
    notice = None
    if not any(card.sites for card in cards):
        notice = _("%(y)d 年度没有确定的示范点（项目），各镇(街道)均不作调整。", y=year)
    several = len({card.best_rank_programme for card in cards if card.best_rank_programme}) > 1
    as_of = compute.as_of(year, today)
    return render_template("scorecard/index.html", year=year, years=years, cards=cards, notice=notice,
                           several_programmes=several, as_of=as_of, year_closed=compute.year_closed(year, as_of),
                           decided=sum(1 for card in cards if card.decision is not None), **_common())


def _target(township_id: int, year: int) -> Township:
    """The township, for a year that has programmes; 404 otherwise."""
    if not compute.YEAR_MIN <= year <= compute.YEAR_MAX:
        abort(404)
    if db.session.scalar(sa.select(Programme.id).where(Programme.year == year).limit(1)) is None:
        abort(404)
    return db.get_or_404(Township, township_id)


def _form_for(card: compute.Scorecard) -> DecisionForm:
    decision = card.decision
    form = DecisionForm(formdata=None)
    form.suggestion.data = str(card.suggestion)
    if decision is not None and decision.decided_change != decision.suggested_change:
        form.action.data, form.change.data, form.reason.data = "override", decision.decided_change, decision.reason
    else:
        form.action.data, form.change.data = "accept", card.suggestion
    return form


def _page(card: compute.Scorecard, form: DecisionForm):
    return render_template("scorecard/township.html", card=card, form=form, **_common())


@bp.route("/<int:township_id>/<int:year>")
@requires(Permission.SCORECARD_VIEW)
def township(township_id: int, year: int):
    card = compute.scorecard(_target(township_id, year), year)
    return _page(card, _form_for(card))


@bp.route("/<int:township_id>/<int:year>", methods=["POST"])
@requires(Permission.SCORECARD_DECIDE)
def decide(township_id: int, year: int):
    card = compute.scorecard(_target(township_id, year), year)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _page(card, form)
    action = form.action.data
    try:
        if action not in ("accept", "override"):
            raise DecisionError(_("请选择“采纳建议”或“另行调整”。"), "action")
        if action == "accept" and form.suggestion.data not in (None, "", str(card.suggestion)):
            raise DecisionError(_("数据已更新，建议调整已变为 %(c)s，请核对后再确认。", c=change_text(card.suggestion)),
                                "action")
        decision = compute.record_decision(card, accept=action == "accept", change=form.change.data,
                                           reason=form.reason.data or "", user=current_user)
    except DecisionError as error:
        db.session.rollback()
        form.refuse(error.message, error.field or "action")
        form.suggestion.data = str(card.suggestion)
        return _page(card, form)
    decided = decision.decided_change
    db.session.commit()
    flash(_("已记录%(t)s %(y)d 年度的名额调整决定：%(c)s。", t=card.township.name, y=year, c=change_text(decided)),
          "success")
    return redirect(url_for("scorecard.index", year=year) + f"#township-{township_id}")
