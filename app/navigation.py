"""The main navigation's links: the same for every user of one role, so drawn once per role, locale and URL root.

Drawing them in the template asked for a dozen permission checks, a dozen url_for and a dozen translations on
every page (about a fifth of a plain page's time); the links are now one dictionary lookup. What belongs to the
user (the name, the unread count, the CSRF token of the logout form) stays in the template.
"""

from __future__ import annotations

from flask import Flask, request, url_for
from flask_babel import get_locale, lazy_pgettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from app.permissions import Permission, has_permission

# (endpoint, label, permission: None for everyone logged in), left part then right part of the bar. A label that
# is elsewhere a singular (a column's "Township") has the context "nav", where it names the list (plural).
LEFT = (
    ("main.home", _l("首页"), None),
    ("programmes.index", lazy_pgettext("nav", "项目"), Permission.PROGRAMMES_VIEW),
    ("applications.index", _l("申报"), Permission.PROGRAMMES_VIEW),
    ("funding.index", _l("资金"), Permission.FUNDING_VIEW),
    ("ledger.index", _l("台账"), Permission.TRACKING_VIEW),
    ("scoring.index", _l("我的评分表"), Permission.SCORING_SCORE),
    ("places.townships", lazy_pgettext("nav", "镇(街道)"), Permission.PLACES_VIEW),
    ("places.communities", lazy_pgettext("nav", "村(社区)"), Permission.PLACES_VIEW),
    ("accounts.users", _l("账户管理"), Permission.ACCOUNTS_MANAGE),
    ("audit.index", _l("审计日志"), Permission.AUDIT_VIEW),
)
RIGHT = (
    ("shelf.index", _l("报表中心"), Permission.REPORTS_VIEW),
    ("scorecard.index", _l("镇街评价"), Permission.SCORECARD_VIEW),
    ("calendar.index", _l("日历"), Permission.CALENDAR_VIEW),
)

_drawn: dict[tuple, tuple[Markup, Markup]] = {}


def _links(user, entries) -> Markup:
    return Markup("").join(
        Markup('<li class="nav-item"><a class="nav-link" href="{}">{}</a></li>').format(url_for(endpoint), label)
        for endpoint, label, permission in entries
        if permission is None or has_permission(user, permission)
    )


def main_links() -> tuple[Markup, Markup]:
    """The (left, right) ``<li>`` items of the bar for the current user (who is logged in)."""
    user = current_user._get_current_object()
    key = (user.role, str(get_locale()), request.script_root)
    links = _drawn.get(key)
    if links is None:
        links = _drawn[key] = (_links(user, LEFT), _links(user, RIGHT))
    return links


def user_badge() -> Markup:
    """The user's name and role for the bar's menu."""
    user = current_user._get_current_object()
    return Markup('{} <span class="badge text-bg-light">{}</span>').format(user.label, user.role.title)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["main_links"] = main_links
    app.jinja_env.globals["user_badge"] = user_badge
