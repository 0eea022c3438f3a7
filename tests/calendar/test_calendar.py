"""The deadline calendar: whose deadlines, the month grid, the list, and the private iCalendar feed."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from app.accounts.models import User
from app.applications.models import Application, ApplicationStatus
from app.audit.models import AuditAction, AuditLog
from app.calendar.events import deadlines
from app.database import CHINA, china_today
from app.extensions import db
from app.funding.models import Site
from app.programmes.models import DeadlineExtension, Milestone, MilestoneKind, Programme, ProgrammeStatus
from app.scoring.models import Assignment
from tests.applications.helpers import communities_of
from tests.funding.conftest import funded  # noqa: F401


def _deadlines(app, user_id: int, start: date, end: date):
    with app.test_request_context():
        return deadlines(db.session.get(User, user_id), start, end)


def _nomination(app, programme_id: int) -> Milestone:
    with app.app_context():
        return db.session.scalar(sa.select(Milestone).where(Milestone.programme_id == programme_id,
                                                            Milestone.kind == MilestoneKind.NOMINATION))


def _extend(app, programme_id: int, township_id: int, due: date) -> int:
    with app.app_context():
        extension = DeadlineExtension(programme_id=programme_id, township_id=township_id, due_date=due,
                                      reason="村委换届")
        db.session.add(extension)
        db.session.commit()
        return extension.id


def _site(app, programme_id: int, township_id: int, community_id: int, selected: date, reference: str) -> int:
    with app.app_context():
        application = Application(programme_id=programme_id, township_id=township_id, community_id=community_id,
                                  sequence=1, reference=reference, status=ApplicationStatus.ACCEPTED)
        db.session.add(application)
        db.session.flush()
        site = Site(programme_id=programme_id, application_id=application.id, township_id=township_id,
                    community_id=community_id, selected_at=datetime.combine(selected, time(10), tzinfo=CHINA))
        db.session.add(site)
        db.session.commit()
        return site.id


# --- whose deadlines -----------------------------------------------------------------------------------


def test_township_sees_its_own_extension_instead_of_the_programme_date(app, make_programme, make_user, places):
    today = china_today()
    programme_id = make_programme(due_in_days=10)
    nomination = _nomination(app, programme_id)
    _extend(app, programme_id, places.anhai, today + timedelta(days=20))
    cizao_extension = _extend(app, programme_id, places.cizao, today + timedelta(days=25))
    window = (today, today + timedelta(days=60))

    anhai = _deadlines(app, make_user("township", township_id=places.anhai), *window)
    assert [(d.date, d.uid) for d in anhai] == [
        (today + timedelta(days=20), f"milestone-{nomination.id}-{places.anhai}@sfd")]
    assert "延期" in anhai[0].title and anhai[0].link == f"/programmes/{programme_id}"

    # The community of 安海镇 has its township's deadline; 磁灶镇's own extension is 磁灶镇's alone.
    community = _deadlines(app, make_user("community", community_id=places.anhai_community), *window)
    assert [d.date for d in community] == [today + timedelta(days=20)]
    cizao = _deadlines(app, make_user("township", township_id=places.cizao), *window)
    assert [d.date for d in cizao] == [today + timedelta(days=25)]

    # The bureau sees the programme's date and every township's extension beside it.
    bureau = _deadlines(app, make_user("bureau"), *window)
    assert [d.date for d in bureau] == [today + timedelta(days=k) for k in (10, 20, 25)]
    assert bureau[0].uid == f"milestone-{nomination.id}@sfd"
    assert bureau[2].uid == f"extension-{cizao_extension}@sfd" and "磁灶镇" in bureau[2].title


def test_township_sees_open_and_own_programmes_only(app, make_programme, make_user, places):
    today = china_today()
    open_one = make_programme(due_in_days=5, name="开放项目")
    draft = make_programme(due_in_days=6, name="草稿项目", status=ProgrammeStatus.DRAFT)
    others = make_programme(due_in_days=7, name="他镇项目", status=ProgrammeStatus.EVALUATING)
    own = make_programme(due_in_days=8, name="本镇项目", status=ProgrammeStatus.EVALUATING)
    cizao_community = communities_of(app, places.cizao, 1)[0]
    with app.app_context():
        db.session.add_all([
            Application(programme_id=own, township_id=places.anhai, community_id=places.anhai_community,
                        sequence=1, reference="CAL-OWN"),
            Application(programme_id=others, township_id=places.cizao, community_id=cizao_community,
                        sequence=1, reference="CAL-OTHER"),
        ])
        db.session.commit()
    window = (today, today + timedelta(days=30))
    township = _deadlines(app, make_user("township", township_id=places.anhai), *window)
    assert [d.programme for d in township] == ["开放项目", "本镇项目"]
    bureau = _deadlines(app, make_user("bureau"), *window)
    assert [d.programme for d in bureau] == ["开放项目", "他镇项目", "本镇项目"]  # never a draft
    assert {open_one, draft} and _deadlines(app, make_user("admin"), *window) == []


def test_monthly_reports_are_due_on_the_20th(app, funded, make_user, places):  # noqa: F811
    with app.app_context():
        programme = db.session.get(Programme, funded.programme)
        programme.milestones.append(Milestone(name="总结与典型案例", kind=MilestoneKind.SUMMARY,
                                              due_date=date(2030, 6, 30)))
        for site in db.session.scalars(sa.select(Site).where(Site.programme_id == funded.programme)):
            site.selected_at = datetime.combine(date(2030, 1, 15), time(10), tzinfo=CHINA)
        anhai_site = db.session.get(Site, funded.sites[0])
        anhai_community = anhai_site.community_id
        db.session.commit()
    window = (date(2030, 1, 1), date(2030, 12, 31))
    expected = [date(2030, month, 20) for month in range(2, 7)]

    township = [d for d in _deadlines(app, make_user("township", township_id=places.anhai), *window)
                if d.kind == "monthly"]
    assert [d.date for d in township] == expected
    assert {d.link for d in township} == {f"/progress/sites/{funded.sites[0]}/reports/2030-{m:02d}" for m in
                                          range(2, 7)}
    community = [d for d in _deadlines(app, make_user("community", community_id=anhai_community), *window)
                 if d.kind == "monthly"]
    assert [d.date for d in community] == expected

    # Two sites, but the bureau and finance get one entry per programme and month.
    for role in ("bureau", "finance"):
        entries = [d for d in _deadlines(app, make_user(role), *window) if d.kind == "monthly"]
        assert [d.date for d in entries] == expected
        assert entries[0].uid == f"monthly-p{funded.programme}-203002@sfd"
        assert entries[0].link == f"/progress/programmes/{funded.programme}"

    # A closed programme asks for no more reports.
    with app.app_context():
        db.session.get(Programme, funded.programme).status = ProgrammeStatus.CLOSED
        db.session.commit()
    assert [d for d in _deadlines(app, make_user("bureau"), *window) if d.kind == "monthly"] == []


def test_evaluator_sees_scoring_due_only_where_assigned(app, make_programme, make_user, places):
    today = china_today()
    assigned = make_programme(status=ProgrammeStatus.EVALUATING, name="已分配",
                              scoring_due=today + timedelta(days=12))
    make_programme(status=ProgrammeStatus.EVALUATING, name="未分配", scoring_due=today + timedelta(days=13))
    evaluator = make_user("evaluator")
    other = make_user("evaluator")
    with app.app_context():
        application = Application(programme_id=assigned, township_id=places.anhai,
                                  community_id=places.anhai_community, sequence=1, reference="CAL-SCORE")
        db.session.add(application)
        db.session.flush()
        db.session.add(Assignment(application_id=application.id, evaluator_id=evaluator))
        db.session.commit()
    window = (today, today + timedelta(days=60))
    found = _deadlines(app, evaluator, *window)
    assert [(d.date, d.kind, d.programme, d.uid) for d in found] == [
        (today + timedelta(days=12), "scoring", "已分配", f"scoring-{assigned}@sfd")]
    assert found[0].link == "/scoring/"
    assert _deadlines(app, other, *window) == []
    # Townships do not see evaluators' deadlines.
    assert not [d for d in _deadlines(app, make_user("township"), *window) if d.kind == "scoring"]


# --- the page ------------------------------------------------------------------------------------------


def test_month_grid_of_a_leap_february(client, login_as, make_programme):
    login_as("bureau")
    page = client.get("/calendar/?month=2024-02")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "2024年2月" in html
    days = re.findall(r'data-date="([\d-]+)"', html)
    # Monday 29 January to Sunday 3 March: five full weeks, 29 February included.
    assert days[0] == "2024-01-29" and days[-1] == "2024-03-03" and len(days) == 35
    assert "2024-02-29" in days and "2024-02-30" not in days
    assert "month=2024-01" in html and "month=2024-03" in html
    assert 'id="month-error"' not in html


def test_december_to_january_and_back(client, login_as):
    login_as("township")
    december = client.get("/calendar/?month=2024-12").get_data(as_text=True)
    assert re.search(r'id="next-month"[^>]*href="[^"]*month=2025-01"', december)
    assert re.search(r'id="previous-month"[^>]*href="[^"]*month=2024-11"', december)
    january = client.get("/calendar/?month=2025-01").get_data(as_text=True)
    assert "2025年1月" in january
    assert re.search(r'id="previous-month"[^>]*href="[^"]*month=2024-12"', january)


def test_today_is_marked_and_the_next_90_days_are_listed(app, client, login_as, make_programme):
    today = china_today()
    make_programme(due_in_days=0, name="今天截止")
    make_programme(due_in_days=45, name="四十五天后")
    make_programme(due_in_days=120, name="太远了")
    login_as("township")
    html = client.get("/calendar/").get_data(as_text=True)
    assert re.search(rf'data-date="{today.isoformat()}"\s+aria-current="date"', html)
    upcoming = html.split('id="upcoming"', 1)[1]
    assert "今天截止" in upcoming and "四十五天后" in upcoming and "太远了" not in upcoming


@pytest.mark.parametrize("bad", ["2024-13", "abc", "2024-00", "0000-01", "9999-12", "2024-1-1", "２０２４-０５"])
def test_a_bad_month_shows_a_message_and_this_month(client, login_as, bad):
    login_as("bureau")
    page = client.get("/calendar/", query_string={"month": bad})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    today = china_today()
    assert 'id="month-error"' in html and "2024-05" in html
    assert f"{today.year}年{today.month}月" in html


def test_the_calendar_needs_its_permission(client, login_as):
    assert client.get("/calendar/").status_code == 302  # anonymous: to the login page
    login_as("admin")
    assert client.get("/calendar/").status_code == 403
    assert client.get("/calendar/feed").status_code == 403


# --- the feed ------------------------------------------------------------------------------------------


def _feed_link(client) -> str:
    html = client.get("/calendar/feed").get_data(as_text=True)
    match = re.search(r'id="feed-url"[^>]*value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def _path(link: str) -> str:
    return re.sub(r"^https?://[^/]+", "", link)


def test_the_feed_parses_back_with_all_day_events(app, client, login_as, make_programme, places):
    today = china_today()
    programme_id = make_programme(due_in_days=10, name="社区协商示范点")
    nomination = _nomination(app, programme_id)
    _extend(app, programme_id, places.anhai, today + timedelta(days=20))
    make_programme(due_in_days=-31, name="太早")  # outside the feed's window (30 days back)
    make_programme(due_in_days=401, name="太晚")  # and 400 days ahead
    make_programme(due_in_days=-30, name="三十天前")
    make_programme(due_in_days=400, name="四百天后")
    user_id = login_as("township")
    link = _feed_link(client)
    with app.app_context():
        token = db.session.get(User, user_id).calendar_token
    assert token and len(token) >= 40 and link.endswith(f"/calendar/{token}.ics")

    anonymous = app.test_client()
    response = anonymous.get(_path(link))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    calendar = Calendar.from_ical(response.data)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    summaries = " ".join(str(e["SUMMARY"]) for e in events.values())
    assert "太早" not in summaries and "太晚" not in summaries
    assert "三十天前" in summaries and "四百天后" in summaries

    uid = f"milestone-{nomination.id}-{places.anhai}@sfd"
    event = events[uid]
    start = event["DTSTART"].dt
    assert type(start) is date and start == today + timedelta(days=20)  # the township's extended date
    assert event["DTSTART"].params.get("VALUE") == "DATE"
    assert event["DTEND"].dt == start + timedelta(days=1)
    assert "社区协商示范点" in str(event["SUMMARY"]) and "申报推荐" in str(event["SUMMARY"])
    assert str(event["URL"]).endswith(f"/programmes/{programme_id}")
    alarms = event.walk("VALARM")
    assert len(alarms) == 1 and alarms[0]["TRIGGER"].dt == timedelta(days=-1)
    assert str(alarms[0]["ACTION"]) == "DISPLAY"

    # The same deadlines keep their UIDs from one fetch to the next.
    again = Calendar.from_ical(anonymous.get(_path(link)).data)
    assert {str(e["UID"]) for e in again.walk("VEVENT")} == set(events)


def test_a_new_link_ends_the_old_one(app, client, login_as, make_programme):
    make_programme(due_in_days=10)
    login_as("bureau")
    old = _path(_feed_link(client))
    assert _path(_feed_link(client)) == old  # looking at the page again keeps the link
    anonymous = app.test_client()
    assert anonymous.get(old).status_code == 200
    response = client.post("/calendar/feed", follow_redirects=True)
    assert response.status_code == 200 and "原链接已失效" in response.get_data(as_text=True)
    new = _path(_feed_link(client))
    assert new != old
    assert anonymous.get(old).status_code == 404
    assert anonymous.get(new).status_code == 200


def _token_update_audits(app, user_id: int) -> list[AuditLog]:
    with app.app_context():
        return db.session.scalars(sa.select(AuditLog).where(
            AuditLog.object_type == "User", AuditLog.object_id == str(user_id), AuditLog.action == AuditAction.UPDATE,
        ).order_by(AuditLog.id)).all()


def test_the_first_visit_makes_one_audited_token_that_later_visits_keep(app, client, login_as):
    user_id = login_as("township")
    link = _feed_link(client)
    assert _feed_link(client) == link
    audits = _token_update_audits(app, user_id)
    assert [(a.before, a.after) for a in audits] == [({"calendar_token": "******"},
                                                      {"calendar_token": "****** (changed)"})]
    assert audits[0].actor_id == user_id
    assert app.test_client().get(_path(link)).status_code == 200


def test_a_second_tab_opening_the_feed_at_once_shows_the_first_tabs_link(app, client, login_as):
    """Two first visits at once (two tabs, two workers): both read "no token yet". The interleaving is replayed
    in one request: right before it writes its token, the other tab's token is committed. The first token must
    stay, and this page must show it too, or one of the two pages shows a link that no longer works."""
    user_id = login_as("township")
    rival = "first-tab-token-0123456789abcdefghijklmnopq"
    connection = db._app_engines[app][None]  # the test's one connection (tests/conftest.py)
    replayed = []

    def first_tab_commits_first(conn, _cursor, statement, *_args):
        if not replayed and re.match(r"\s*UPDATE users SET\b.*\bcalendar_token\b", statement, re.S):
            replayed.append(statement)
            conn.exec_driver_sql(f"UPDATE users SET calendar_token = '{rival}' WHERE id = {user_id}")

    sa.event.listen(connection, "before_cursor_execute", first_tab_commits_first)
    try:
        link = _feed_link(client)
    finally:
        sa.event.remove(connection, "before_cursor_execute", first_tab_commits_first)
    assert replayed, "the page wrote no token"
    with app.app_context():
        assert db.session.get(User, user_id).calendar_token == rival
    assert link.endswith(f"/calendar/{rival}.ics")
    assert app.test_client().get(_path(link)).status_code == 200
    assert _token_update_audits(app, user_id) == []  # this request changed nothing: the other tab's did
    assert _feed_link(client) == link


def test_a_disabled_account_or_a_role_without_the_calendar_gets_404(app, client, login_as, make_user):
    user_id = login_as("township")
    link = _path(_feed_link(client))
    anonymous = app.test_client()
    guessed = anonymous.get("/calendar/" + "A" * 43 + ".ics")
    assert guessed.status_code == 404
    with app.app_context():
        db.session.get(User, user_id).active = False
        db.session.commit()
    disabled = anonymous.get(link)
    assert disabled.status_code == 404
    assert disabled.data == guessed.data  # no hint which check failed
    # A token that somehow sits on an admin's or auditor's account shows nothing.
    for role in ("admin", "auditor"):
        other = make_user(role)
        with app.app_context():
            db.session.get(User, other).calendar_token = f"{role}-token-0123456789abcdefghijklmnop"
            db.session.commit()
        assert anonymous.get(f"/calendar/{role}-token-0123456789abcdefghijklmnop.ics").status_code == 404


@pytest.mark.parametrize("path", ["/calendar/.ics", "/calendar/x.ics", "/calendar/%20.ics", "/calendar/None.ics",
                                  "/calendar/" + "a" * 200 + ".ics", "/calendar/'%20OR%20'1'='1.ics"])
def test_guessed_tokens_get_404(app, client, login_as, path):
    login_as("township")
    _feed_link(client)  # a real token exists
    assert app.test_client().get(path).status_code == 404


# --- bounded queries -----------------------------------------------------------------------------------


def _busy_programme(app, make_programme, places, number: int) -> None:
    """A programme being implemented: milestones, an extension, a site in each of two townships."""
    today = china_today()
    programme_id = make_programme(due_in_days=3 + number, status=ProgrammeStatus.IMPLEMENTING,
                                  scoring_due=today + timedelta(days=4 + number))
    with app.app_context():
        programme = db.session.get(Programme, programme_id)
        programme.milestones.append(Milestone(name="协商议事章程备案", kind=MilestoneKind.CHARTER,
                                              due_date=today + timedelta(days=30 + number)))
        programme.milestones.append(Milestone(name="总结与典型案例", kind=MilestoneKind.SUMMARY,
                                              due_date=today + timedelta(days=80)))
        db.session.commit()
    _extend(app, programme_id, places.anhai, today + timedelta(days=15 + number))
    for township in (places.anhai, places.cizao):
        community = communities_of(app, township, 1)[0]
        _site(app, programme_id, township, community, today - timedelta(days=40), f"Q-{number}-{township}")


@pytest.mark.parametrize("role", ["bureau", "township"])
def test_query_count_does_not_grow_with_programmes(app, client, login_as, make_programme, places, count_queries,
                                                   role):
    user_id = login_as(role)
    _busy_programme(app, make_programme, places, 1)
    client.get("/calendar/")  # warm up whatever a first request loads
    with count_queries() as few:
        first = client.get("/calendar/")
    for number in range(2, 7):
        _busy_programme(app, make_programme, places, number)
    with count_queries() as many:
        second = client.get("/calendar/")
    assert first.status_code == second.status_code == 200
    charters = "协商议事章程备案"
    assert second.get_data(as_text=True).count(charters) > first.get_data(as_text=True).count(charters)
    assert many.count == few.count, many.statements

    with app.app_context():
        db.session.get(User, user_id).calendar_token = "bounded-token-0123456789abcdefghij"
        db.session.commit()
    anonymous = app.test_client()
    with count_queries() as feed:
        assert anonymous.get("/calendar/bounded-token-0123456789abcdefghij.ics").status_code == 200
    assert feed.count <= many.count
