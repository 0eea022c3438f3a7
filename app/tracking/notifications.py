"""In-app notifications, and the monthly-report reminders that townships receive.

Reminders are made when they are due, idempotently (each has a dedupe key): a few days before the 20th, and on
every day a report is overdue. The township's home page makes them as it opens, and `flask reminders` makes them
for everyone (run it daily from cron where nobody may log in for days).
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app, has_request_context
from flask_babel import LazyString, force_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import mail
from app.accounts.models import Role, User
from app.database import china_today, utcnow
from app.extensions import db
from app.funding.models import Site
from app.programmes.models import Programme, ProgrammeStatus
from app.tracking.models import MonthlyReport, Notification, ReportStatus
from app.tracking.progress import due_date, first_of, report_months

REMIND_DAYS_BEFORE = 5
DAILY_OVERDUE_DAYS = 31
ACTIVE = (ProgrammeStatus.SELECTED, ProgrammeStatus.IMPLEMENTING)

# A notification's text: made now (what a person wrote) or in the receiver's language (lazy_gettext).
Text = str | LazyString


def notify(user_ids: list[int], kind: str, title: Text, body: Text = "", link: str = "",
           dedupe_key: str | None = None) -> int:
    """Add a notification for each user that does not have this one yet; returns how many were added.

    ``title`` and ``body`` are made in each receiver's language: pass lazy strings (``lazy_gettext`` with its
    values) for texts of the app's own, plain strings for what people wrote."""
    if not user_ids:
        return 0
    _forget_unread()
    have = set()
    if dedupe_key:
        have = set(db.session.scalars(sa.select(Notification.user_id).where(
            Notification.user_id.in_(user_ids), Notification.dedupe_key == dedupe_key)))
    new = [user_id for user_id in user_ids if user_id not in have]
    if not new:
        return 0
    receivers = db.session.execute(sa.select(User.id, User.email, User.locale).where(User.id.in_(new))).all()
    texts: dict[str, tuple[str, str]] = {}
    for user_id, email, locale in receivers:
        if locale not in texts:
            texts[locale] = _in_language(locale, title, body)
        title_text, body_text = texts[locale]
        db.session.add(Notification(user_id=user_id, kind=kind, title=title_text[:200], body=body_text,
                                    link=link[:300], dedupe_key=dedupe_key))
        mail.queue(db.session(), email, title_text, f"{body_text}\n\n{link}".strip())
    db.session.flush()
    return len(receivers)


def _in_language(locale: str, *texts: Text) -> tuple[str, ...]:
    """``texts`` made in the receiver's language (the default one if theirs is not offered)."""
    config = current_app.config
    if locale not in config["LANGUAGES"]:
        locale = config["BABEL_DEFAULT_LOCALE"]
    with force_locale(locale):
        return tuple(str(text) for text in texts)


def township_users(township_id: int) -> list[int]:
    return list(db.session.scalars(sa.select(User.id).where(User.role == Role.TOWNSHIP,
                                                            User.township_id == township_id,
                                                            User.active.is_(True))))


def notify_township(township_id: int, kind: str, title: Text, body: Text = "", link: str = "",
                    dedupe_key: str | None = None) -> int:
    return notify(township_users(township_id), kind, title, body, link, dedupe_key)


def unread_count(user) -> int:
    return db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)))


def _forget_unread() -> None:
    """The navigation's count read with the session is out of date once this request adds or reads
    notifications: the page counts again."""
    if has_request_context() and current_user and current_user.is_authenticated:
        current_user.unread_notifications = None


def mark_read(user, notification_id: int | None = None) -> None:
    _forget_unread()
    query = sa.update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    db.session.execute(query.values(read_at=utcnow()))


def monthly_reminders(township_id: int, today: date | None = None) -> int:
    """Reminders for one township's active sites: before the 20th, and each day a report is overdue."""
    today = today or china_today()
    sites = db.session.scalars(
        sa.select(Site).join(Site.programme)
        .where(Site.township_id == township_id, Programme.status.in_(ACTIVE))
        .options(sa.orm.joinedload(Site.community), sa.orm.joinedload(Site.programme))
    ).unique().all()
    if not sites:
        return 0
    submitted = set(db.session.execute(
        sa.select(MonthlyReport.site_id, MonthlyReport.month).where(
            MonthlyReport.site_id.in_([s.id for s in sites]), MonthlyReport.status == ReportStatus.SUBMITTED)
    ).tuples())
    users = township_users(township_id)
    added = 0
    for site in sites:
        for month in report_months(site):
            if month > first_of(today) or (site.id, month) in submitted:
                continue
            due = due_date(month)
            link = f"/progress/sites/{site.id}/reports/{month:%Y-%m}"
            if today > due:
                # Daily while the lapse is recent; a long-missing report is not repeated every day for ever.
                daily = today - due <= timedelta(days=DAILY_OVERDUE_DAYS)
                key = f"overdue:{site.id}:{month:%Y-%m}" + (f":{today.isoformat()}" if daily else "")
                added += notify(users, "overdue", _l("%(c)s %(m)s 月度进展已逾期", c=site.community.name,
                                                    m=f"{month:%Y-%m}"),
                                _l("应于 %(d)s 前报送。", d=due.isoformat()), link, key)
            elif today >= due - timedelta(days=REMIND_DAYS_BEFORE):
                added += notify(users, "due", _l("%(c)s %(m)s 月度进展将于 %(d)s 截止", c=site.community.name,
                                                m=f"{month:%Y-%m}", d=due.isoformat()), "", link,
                                f"due:{site.id}:{month:%Y-%m}")
    return added


def all_reminders(today: date | None = None) -> int:
    township_ids = db.session.scalars(sa.select(Site.township_id).distinct()).all()
    return sum(monthly_reminders(township_id, today) for township_id in township_ids)
