from __future__ import annotations

import calendar as stdlib_calendar
import hmac
import re
from datetime import date, timedelta

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import pgettext
from flask_login import current_user
from icalendar import Alarm, Calendar, Event

from app.accounts.models import User
from app.calendar.events import Deadline, deadlines
from app.calendar.operations import first_token, new_token
from app.database import china_today, utcnow, write_after_reading
from app.extensions import db
from app.permissions import Permission, has_permission, public, requires

bp = Blueprint("calendar", __name__, url_prefix="/calendar")

LIST_DAYS = 90
FEED_DAYS_BACK = 30
FEED_DAYS_AHEAD = 400
_MONTH = re.compile(r"([0-9]{4})-([0-9]{1,2})")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")


def parse_month(text: str | None) -> date | None:
    """The first day of ``YYYY-MM``, or None when the text is not a month this calendar can show."""
    match = _MONTH.fullmatch((text or "").strip())
    if match is None:
        return None
    year, number = int(match.group(1)), int(match.group(2))
    if not (1900 <= year <= 2999 and 1 <= number <= 12):
        return None
    return date(year, number, 1)


def previous_month(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)


def following_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def month_weeks(month: date) -> list[list[date]]:
    """The weeks (Monday first) that show ``month``, with the neighbouring months' days that fill them."""
    return stdlib_calendar.Calendar(firstweekday=0).monthdatescalendar(month.year, month.month)


@bp.route("/")
@requires(Permission.CALENDAR_VIEW)
def index():
    today = china_today()
    this_month = today.replace(day=1)
    month_error = None
    text = request.args.get("month")
    month = this_month
    if text:
        month = parse_month(text)
        if month is None:
            month_error = _("月份“%(m)s”无效，应写成 2024-05；已显示本月。", m=text[:20])
            month = this_month
    weeks = month_weeks(month)
    list_end = today + timedelta(days=LIST_DAYS)
    found = deadlines(current_user, min(weeks[0][0], today), max(weeks[-1][-1], list_end))
    by_day: dict[date, list[Deadline]] = {}
    for deadline in found:
        by_day.setdefault(deadline.date, []).append(deadline)
    upcoming = [d for d in found if today <= d.date <= list_end]
    return render_template(
        "calendar/index.html", month=month, weeks=weeks, by_day=by_day, upcoming=upcoming, today=today,
        previous=previous_month(month), following=following_month(month), this_month=this_month,
        month_error=month_error, list_days=LIST_DAYS,
        weekdays=[pgettext("weekday", "一"), pgettext("weekday", "二"), pgettext("weekday", "三"),
                  pgettext("weekday", "四"), pgettext("weekday", "五"), pgettext("weekday", "六"),
                  pgettext("weekday", "日")],
    )


@bp.route("/feed", methods=["GET", "POST"])
@requires(Permission.CALENDAR_VIEW)
def feed():
    user = db.session.get(User, current_user.id)
    if request.method == "POST":
        user.calendar_token = new_token()  # every copy of the old link stops working
        db.session.commit()
        flash(_("已生成新的订阅链接，原链接已失效。请在日历应用中改用新链接。"), "success")
        return redirect(url_for("calendar.feed"))
    token = user.calendar_token
    if not token:
        with write_after_reading(db.session):  # the link shown must work
            token = first_token(user)
    link = url_for("calendar.ics", token=token, _external=True)
    webcal = re.sub(r"^https?://", "webcal://", link)
    return render_template("calendar/feed.html", link=link, webcal=webcal)


def _feed_user(token: str) -> User:
    """The active user whose calendar link this is; 404 for anything else, with no hint which check failed."""
    if not _TOKEN.fullmatch(token):
        abort(404)
    user = db.session.scalar(sa.select(User).where(User.calendar_token == token))
    if (user is None or not user.calendar_token or not hmac.compare_digest(user.calendar_token.encode(),
                                                                             token.encode())
            or not user.active or not has_permission(user, Permission.CALENDAR_VIEW)):
        abort(404)
    return user


def build_feed(user: User, today: date) -> bytes:
    found = deadlines(user, today - timedelta(days=FEED_DAYS_BACK), today + timedelta(days=FEED_DAYS_AHEAD))
    cal = Calendar()
    cal.add("prodid", "-//Jinjiang Civil Affairs Bureau//SFD deadlines//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", _("示范点项目截止日期"))
    cal.add("x-wr-timezone", "Asia/Shanghai")
    stamp = utcnow()
    site = request.host_url.rstrip("/")
    for deadline in found:
        summary = _("【%(p)s】%(t)s", p=deadline.programme, t=deadline.title)
        event = Event()
        event.add("uid", deadline.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", deadline.date)  # a date: an all-day event
        event.add("dtend", deadline.date + timedelta(days=1))
        event.add("summary", summary)
        event.add("description", _("%(k)s：%(p)s", k=deadline.kind_title, p=deadline.programme))
        event.add("url", site + deadline.link)
        event.add("transp", "TRANSPARENT")
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", _("明天截止：%(s)s", s=summary))
        alarm.add("trigger", timedelta(days=-1))
        event.add_component(alarm)
        cal.add_component(event)
    return cal.to_ical()


@bp.route("/<token>.ics")
@public
def ics(token: str):
    user = _feed_user(token)
    response = Response(build_feed(user, china_today()), content_type="text/calendar; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Disposition"] = 'inline; filename="calendar.ics"'
    return response
