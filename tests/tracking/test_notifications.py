"""The notification centre: events that reach people, the unread count, marking read, e-mail copies."""

from __future__ import annotations

import sqlalchemy as sa

from app.database import china_today
from app.extensions import db
from app.tracking.models import Notification
from app.tracking.notifications import notify
from tests.conftest import login
from tests.funding.conftest import funded  # noqa: F401


def _of(app, user_id, kind=None):
    with app.app_context():
        query = sa.select(Notification).where(Notification.user_id == user_id)
        if kind:
            query = query.where(Notification.kind == kind)
        rows = db.session.scalars(query.order_by(Notification.id)).all()
        db.session.expunge_all()
        return rows


def test_a_disbursement_reaches_the_township_and_is_counted_until_read(app, client, login_as, funded, make_user,  # noqa: F811
                                                                         places):
    township_user = make_user("township")
    login_as("finance")
    client.post(f"/funding/sites/{funded.sites[0]}/disbursements", data={
        "source_id": funded.city, "amount": "1000", "entry_date": china_today().isoformat(), "voucher_no": "N-1"})
    [message] = _of(app, township_user, "disbursement")
    assert "1,000.00" in message.title and message.link == f"/funding/sites/{funded.sites[0]}"
    township = app.test_client()
    with app.app_context():
        from app.accounts.models import User

        login(township, db.session.get(User, township_user).username)
    page = township.get("/notifications/").get_data(as_text=True)
    assert 'id="unread-count"' in page
    response = township.post(f"/notifications/{message.id}/open")
    assert response.headers["Location"].endswith(f"/funding/sites/{funded.sites[0]}")
    assert _of(app, township_user)[0].read_at is not None
    assert 'id="unread-count"' not in township.get("/notifications/").get_data(as_text=True)


def _speaks(app, user_id, locale):
    with app.app_context():
        from app.accounts.models import User

        db.session.get(User, user_id).locale = locale
        db.session.commit()


def test_each_receiver_reads_a_notification_in_their_own_language(app, client, login_as, funded,  # noqa: F811
                                                                    make_user):
    """Finance works in English; the township's staff read Chinese, except one who chose English."""
    chinese, english = make_user("township"), make_user("township")
    _speaks(app, english, "en")
    _speaks(app, login_as("finance"), "en")
    client.post(f"/funding/sites/{funded.sites[0]}/disbursements", data={
        "source_id": funded.city, "amount": "1000", "entry_date": china_today().isoformat(), "voucher_no": "L-1"})
    [in_chinese] = _of(app, chinese, "disbursement")
    [in_english] = _of(app, english, "disbursement")
    assert "收到拨付 1,000.00 元" in in_chinese.title
    assert "has received a disbursement of 1,000.00 yuan" in in_english.title


def test_a_status_title_in_a_notification_is_the_receivers(app, make_user, places):
    """The application's new status is named in the receiver's language, not the actor's."""
    from flask_babel import force_locale
    from flask_babel import lazy_gettext as _l

    from app.applications.models import ApplicationStatus
    from app.tracking.notifications import notify_township

    chinese, english = make_user("township"), make_user("township")
    _speaks(app, english, "en")
    with app.test_request_context(), force_locale("en"):  # the actor works in English
        status = ApplicationStatus.RETURNED
        notify_township(places.anhai, "application", _l("%(ref)s %(c)s：%(s)s", ref="SF-1", c="某社区",
                                                        s=status.lazy_title), "", "/applications/1", "status-test")
        db.session.commit()
        english_title = status.title
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        chinese_title = status.title
    assert chinese_title != english_title
    assert _of(app, chinese, "application")[0].title == f"SF-1 某社区：{chinese_title}"
    assert _of(app, english, "application")[0].title == f"SF-1 某社区: {english_title}"


def test_a_notification_of_someone_else_cannot_be_opened(app, client, login_as, make_user):
    other = make_user("bureau")
    with app.app_context():
        notify([other], "x", "秘密", link="/secret")
        db.session.commit()
        message_id = db.session.scalar(sa.select(Notification.id))
    login_as("township")
    response = client.post(f"/notifications/{message_id}/open")
    assert response.headers["Location"].endswith("/notifications/")
    assert _of(app, other)[0].read_at is None
    assert "秘密" not in client.get("/notifications/").get_data(as_text=True)


def test_returned_applications_and_new_assignments_are_announced(app, scoring_flow_users):
    application_user, evaluator = scoring_flow_users
    assert [n.kind for n in _of(app, application_user)] == ["application"]
    assert [n.kind for n in _of(app, evaluator)] == ["assignment"]


def test_external_links_are_not_followed(app, client, login_as):
    user_id = login_as("bureau")
    with app.app_context():
        notify([user_id], "x", "t", link="//evil.example/")
        db.session.commit()
        message_id = db.session.scalar(sa.select(Notification.id))
    assert client.post(f"/notifications/{message_id}/open").headers["Location"].endswith("/notifications/")


def test_email_copies_only_after_commit(app, make_user, monkeypatch):
    sent = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            sent.append(("connect", host))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def send_message(self, message):
            sent.append((message["To"], message["Subject"]))

    import app.mail as mail

    monkeypatch.setattr(mail.smtplib, "SMTP", FakeSMTP)
    monkeypatch.setitem(app.config, "SMTP_HOST", "mail.example")
    user_id = make_user("bureau", email="chen@example.gov.cn")
    with app.app_context():
        notify([user_id], "x", "会被撤销")
        db.session.rollback()
        assert sent == []
        notify([user_id], "x", "新的消息")
        with db.session.begin_nested():  # a savepoint released: the transaction could still roll back
            db.session.execute(sa.text("SELECT 1"))
        assert sent == []
        savepoint = db.session.begin_nested()
        savepoint.rollback()  # nor does a savepoint's rollback drop what the transaction queued before it
        db.session.commit()
    assert sent == [("connect", "mail.example"), ("chen@example.gov.cn", "新的消息")]


def test_no_smtp_no_mail(app, make_user, monkeypatch):
    import app.mail as mail

    monkeypatch.setattr(mail, "send", lambda messages: (_ for _ in ()).throw(AssertionError("sent")))
    user_id = make_user("bureau", email="chen@example.gov.cn")
    with app.app_context():
        notify([user_id], "x", "无邮件")
        db.session.commit()
