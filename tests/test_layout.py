"""The page layout's fast paths (issue 9): the navigation drawn once per role and locale, dates and times written
without Babel, enum titles translated once per locale. Each must give exactly what the slow path gave."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from flask_babel import force_locale

from app.accounts.models import Role
from app.formatting import babel_date, babel_datetime, date_text, datetime_text
from app.navigation import LEFT, RIGHT
from app.permissions import has_permission
from app.tracking.models import ReportStatus


def _nav_links(html: str) -> list[str]:
    nav = html.split('id="mainNav"', 1)[1].split('id="notifications-link"', 1)[0]
    return re.findall(r'<a class="nav-link" href="([^"]+)">', nav)


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_the_links_its_permissions_allow(app, client, login_as, role):
    user_id = login_as(role)
    with app.test_request_context("/"):
        from flask import url_for

        from app.accounts.models import User
        from app.extensions import db

        user = db.session.get(User, user_id)
        expected = [url_for(endpoint) for endpoint, _label, permission in LEFT + RIGHT
                    if permission is None or has_permission(user, permission)]
    html = client.get("/").get_data(as_text=True)
    assert _nav_links(html) == expected
    assert ("/audit/" in expected) == (role == Role.AUDITOR)  # the auditor alone reads the audit log


def test_the_navigation_follows_the_language(client, login_as):
    login_as(Role.BUREAU)
    assert ">首页</a>" in client.get("/").get_data(as_text=True)
    client.post("/language/en")
    english = client.get("/").get_data(as_text=True)
    assert ">首页</a>" not in english
    assert ">Home</a>" in english
    # The lists' names are plural, though the same Chinese is a column's singular elsewhere ("Township").
    for label in (">Programmes</a>", ">Townships</a>", ">Villages/Communities</a>"):
        assert label in english, label
    client.post("/language/zh_Hans_CN")
    assert ">首页</a>" in client.get("/").get_data(as_text=True)


def test_the_user_menu_escapes_the_name(app, client, make_user):
    from app.accounts.models import User
    from app.extensions import db
    from tests.conftest import login

    user_id = make_user(Role.BUREAU)
    with app.app_context():
        user = db.session.get(User, user_id)
        user.display_name = "<b>王</b>"
        db.session.commit()
        username = user.username
    login(client, username)
    html = client.get("/").get_data(as_text=True)
    assert "&lt;b&gt;王&lt;/b&gt;" in html and "<b>王</b>" not in html


MOMENTS = [
    datetime(2024, 5, 31, 15, 59, tzinfo=UTC),  # 23:59 in China
    datetime(2024, 5, 31, 16, 0, tzinfo=UTC),  # the next day in China
    datetime(2024, 12, 31, 20, 5, 7, 999, tzinfo=UTC),  # a new year in China
    datetime(2024, 6, 1, 8, 30, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2024, 2, 29, 23, 0),  # naive: UTC
]


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_dates_and_times_are_babels_text(app, locale):
    with app.test_request_context("/"), force_locale(locale):
        assert [datetime_text(moment) for moment in MOMENTS] == [babel_datetime(moment) for moment in MOMENTS]
        assert [date_text(moment) for moment in MOMENTS] == [babel_date(moment) for moment in MOMENTS]
        days = [date(2024, 1, 1), date(2000, 2, 29), date(2100, 12, 31)]
        assert [date_text(day) for day in days] == [babel_date(day) for day in days]
        assert datetime_text(None) == date_text(None) == babel_datetime(None) == ""
        assert datetime_text(MOMENTS[1]) == "2024-06-01 00:00"


def test_enum_titles_follow_the_locale(app):
    with app.test_request_context("/"):
        with force_locale("zh_Hans_CN"):
            chinese = ReportStatus.SUBMITTED.title
        with force_locale("en"):
            english = ReportStatus.SUBMITTED.title
        with force_locale("zh_Hans_CN"):
            assert ReportStatus.SUBMITTED.title == chinese
    assert chinese != english
    assert english == english.encode("ascii", "ignore").decode()


def test_the_unread_count_comes_with_the_session_and_is_recounted_after_a_change(app, client, make_user,
                                                                                count_queries):
    from flask_login import current_user, login_user

    from app.accounts.models import User
    from app.extensions import db
    from app.tracking.notifications import mark_read, notify
    from tests.conftest import login

    user_id = make_user(Role.TOWNSHIP)
    with app.app_context():
        notify([user_id], "notice", "第一条")
        notify([user_id], "notice", "第二条")
        db.session.commit()
        username = db.session.get(User, user_id).username
    login(client, username)
    client.get("/")
    with count_queries() as counter:
        page = client.get("/notifications/").get_data(as_text=True)
    assert '<span class="badge text-bg-danger" id="unread-count">2</span>' in page
    counts = [s for s in counter.statements if "count(notifications.id)" in s]
    assert len(counts) == 1 and "user_sessions" in counts[0]  # counted with the session, not once more
    with app.test_request_context("/"):
        user = db.session.get(User, user_id)
        user.unread_notifications = 2  # as the user loader sets it
        login_user(user)
        mark_read(current_user)
        assert current_user.unread_notifications is None  # this page counts again
        user.unread_notifications = 0
        notify([user_id], "notice", "第三条")
        assert current_user.unread_notifications is None


def test_translations_kept_for_the_request_follow_a_locale_changed_within_it(app):
    """app.i18n keeps the request's catalogue; force_locale() and refresh() still switch it, as in Flask-Babel."""
    from flask import session
    from flask_babel import gettext, refresh

    with app.test_request_context("/"):
        assert gettext("首页") == "首页"
        with force_locale("en"):
            assert gettext("首页") == "Home"
        assert gettext("首页") == "首页"
        session["locale"] = "en"  # as the language switch does, then asks Flask-Babel to look again
        refresh()
        assert gettext("首页") == "Home"


@pytest.mark.parametrize("chosen", ["", "update", "login", "nonsense"])
def test_option_tags_are_the_options_wtforms_would_write(app, chosen):
    from forms.audit import AuditFilterForm
    from forms.base import option_tags

    with app.test_request_context(f"/audit/?action={chosen}"):
        from flask import request

        form = AuditFilterForm(request.args)
        pairs = [(choice.value, str(choice.label)) for choice in form.action.choices]
        select = str(form.action())
        assert select.split(">", 1)[1].rsplit("</select>", 1)[0] == option_tags(pairs, form.action.data)
