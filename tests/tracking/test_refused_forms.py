"""Refused entries on the tracking pages (通报, spot checks and their closing, a milestone's submission and review, a
monthly report): the page is shown again with what was typed and each message at its field, nothing saved."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from app.audit.models import AuditLog
from app.database import CHINA, china_today
from app.extensions import db
from app.funding.models import Site
from app.places.models import Township
from app.programmes.models import Milestone, MilestoneKind
from app.tracking import progress
from app.tracking.models import (
    MilestoneEvent,
    MilestoneStatus,
    MonthlyReport,
    Notification,
    ProgressNotice,
    SiteMilestone,
    SpotCheck,
)
from tests.accessibility import error_descriptions
from tests.funding.conftest import funded  # noqa: F401
from tests.funding.test_site_forms import Page
from tests.tracking.test_progress import tracked  # noqa: F401

TODAY = china_today()


def _counts(app, *models) -> tuple[int, ...]:
    """Rows of each model, and of the audit log: what a refused entry must leave as it was."""
    with app.app_context():
        return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(model))
                     for model in (*models, AuditLog))


def _once(html: str, message: str) -> None:
    """The message is shown once (at its field), not flashed at the top of the page as well."""
    assert html.count(message) == 1, (message, html.count(message))


def _item(app, site_id: int, kind: MilestoneKind) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(SiteMilestone.id).join(SiteMilestone.milestone).where(
            SiteMilestone.site_id == site_id, Milestone.kind == kind))


# --- 通报 on the programme page ------------------------------------------------------------------------------


def test_a_refused_notice_keeps_what_was_typed_at_its_fields(app, client, login_as, tracked, places,  # noqa: F811
                                                             count_queries):
    login_as("bureau")
    url = f"/progress/programmes/{tracked.programme}"
    client.get(url)
    with count_queries() as viewed:
        client.get(url)
    before = _counts(app, ProgressNotice, Notification)
    with count_queries() as refused:
        response = client.post(f"{url}/notices", data={"township_id": places.cizao, "title": "  ",
                                                       "content": "请加快月度进展报送"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"title": "此项为必填项。"}
    _once(html, "此项为必填项。")
    page = Page(html)
    assert page.selected["township_id"] == str(places.cizao)
    assert "请加快月度进展报送</textarea>" in html
    assert "autofocus" in page.controls["title"]
    assert _counts(app, ProgressNotice, Notification) == before
    # The page as viewed, and the few reads of the post (the programme, the township chosen); nothing per site.
    assert refused.count <= viewed.count + 2, refused.statements


def test_a_notice_to_no_township_is_told_at_the_township(app, client, login_as, tracked):  # noqa: F811
    login_as("bureau")
    before = _counts(app, ProgressNotice)
    response = client.post(f"/progress/programmes/{tracked.programme}/notices", data={
        "township_id": "999999", "title": "进度滞后", "content": "请加快进度"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"township_id": "请选择镇(街道)。"}
    assert Page(html).controls["title"]["value"] == "进度滞后"
    assert _counts(app, ProgressNotice) == before


def test_a_notice_to_a_township_without_sites_in_the_programme_is_told_at_the_township(app, client, login_as,
                                                                                       tracked):  # noqa: F811
    """A township exists but has no site in this programme (a forged choice): the page offers only those with one."""
    with app.app_context():
        elsewhere = db.session.scalar(sa.select(Township.id).where(Township.name == "英林镇"))
    login_as("bureau")
    before = _counts(app, ProgressNotice, Notification)
    response = client.post(f"/progress/programmes/{tracked.programme}/notices", data={
        "township_id": str(elsewhere), "title": "进度滞后", "content": "请加快进度"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"township_id": "该镇(街道)在本项目中没有示范点（项目），不能对其通报。"}
    assert Page(html).controls["title"]["value"] == "进度滞后"
    assert _counts(app, ProgressNotice, Notification) == before


# --- spot checks on the site page ---------------------------------------------------------------------------


def test_a_spot_check_dated_after_today_is_told_at_the_date(app, client, login_as, tracked,  # noqa: F811
                                                            count_queries):
    login_as("bureau")
    site = tracked.sites[0]
    url = f"/progress/sites/{site}/spot-checks"
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    client.get(f"/progress/sites/{site}")
    with count_queries() as viewed:
        client.get(f"/progress/sites/{site}")
    before = _counts(app, SpotCheck)
    with count_queries() as refused:
        response = client.post(url, data={"checked_on": tomorrow, "inspectors": "林干事、蔡科长",
                                          "findings": "台账缺表决结果", "follow_up_required": "y", "follow_up": "补齐"})
    assert response.status_code == 200
    assert refused.count <= viewed.count + 2, refused.statements  # what the rollback expired, read again
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"spot-checked_on": "抽查日期不能晚于今天。"}
    _once(html, "抽查日期不能晚于今天。")
    page = Page(html)
    assert page.controls["spot-checked_on"]["value"] == tomorrow
    assert page.controls["spot-inspectors"]["value"] == "林干事、蔡科长"
    assert "checked" in page.controls["spot-follow_up_required"]
    assert "台账缺表决结果</textarea>" in html and "补齐</textarea>" in html
    assert url in page.open_forms and "autofocus" in page.controls["spot-checked_on"]
    assert _counts(app, SpotCheck) == before


def test_a_spot_check_without_inspectors_is_told_at_the_field(app, client, login_as, tracked):  # noqa: F811
    login_as("bureau")
    before = _counts(app, SpotCheck)
    response = client.post(f"/progress/sites/{tracked.sites[0]}/spot-checks", data={
        "checked_on": TODAY.isoformat(), "inspectors": " ", "findings": "台账缺表决结果"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"spot-inspectors": "此项为必填项。"}
    assert Page(html).controls["spot-checked_on"]["value"] == TODAY.isoformat()
    assert _counts(app, SpotCheck) == before


def test_a_refused_closing_is_shown_at_its_own_spot_check(app, client, login_as, tracked):  # noqa: F811
    site_id = tracked.sites[0]
    with app.app_context():
        site = db.session.get(Site, site_id)
        first, second = (progress.record_spot_check(
            site, checked_on=TODAY - timedelta(days=days), inspectors="林干事", findings=findings,
            follow_up_required=True, follow_up="补齐", user=None)
            for days, findings in ((3, "缺签到表"), (1, "缺照片")))
        db.session.commit()
        first_id, second_id = first.id, second.id
    login_as("bureau")
    url = f"/progress/spot-checks/{first_id}/close"
    before = _counts(app, SpotCheck)
    too_long = "已补齐" * 2000
    response = client.post(url, data={"note": too_long})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"close-note": "不能超过 5000 个字符。"}
    page = Page(html)
    assert page.controls["close-note"]["_form"] == url and page.controls["close-note"]["value"] == too_long
    assert "autofocus" in page.controls["close-note"]
    # The other check's form is fresh and, repeated on every check, carries no id.
    assert [ident for ident, count in Counter(page.ids).items() if count > 1] == []
    assert f'action="/progress/spot-checks/{second_id}/close"' in html
    response = client.post(url, data={"note": "  "})
    assert error_descriptions(response.get_data(as_text=True)) == {"close-note": "此项为必填项。"}
    with app.app_context():
        assert db.session.get(SpotCheck, first_id).closed_at is None
    assert _counts(app, SpotCheck) == before


# --- a milestone: the township's submission, the bureau's review -----------------------------------------------


def test_a_charter_submitted_without_its_dates_is_told_at_each_field(app, client, login_as, tracked):  # noqa: F811
    item_id = _item(app, tracked.sites[0], MilestoneKind.CHARTER)
    login_as("township")
    before = _counts(app, MilestoneEvent)
    response = client.post(f"/progress/milestones/{item_id}", data={
        "content": "章程全文见附件", "meeting_result": "应到 45 人，实到 41 人，通过", "filed_on": "2024-06-05",
        "submit_item": "1"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"meeting_date": "请填写村(居)民会议表决的日期和结果。",
                                        "township_approved_on": "请填写镇(街道)审批日期。"}
    _once(html, "请填写镇(街道)审批日期。")
    page = Page(html)
    assert page.controls["meeting_result"]["value"] == "应到 45 人，实到 41 人，通过"
    assert page.controls["filed_on"]["value"] == "2024-06-05"
    assert "章程全文见附件</textarea>" in html
    with app.app_context():
        item = db.session.get(SiteMilestone, item_id)
        assert (item.status, item.content, item.meeting_result) == (MilestoneStatus.NOT_STARTED, "", "")
    assert _counts(app, MilestoneEvent) == before


def test_a_return_without_a_comment_is_told_at_the_comment(app, client, login_as, tracked):  # noqa: F811
    item_id = _item(app, tracked.sites[0], MilestoneKind.SUMMARY)
    with app.app_context():
        item = db.session.get(SiteMilestone, item_id)
        item.content = "年度总结"
        progress.transition_milestone(item, MilestoneStatus.SUBMITTED, None)
        db.session.commit()
    login_as("bureau")
    before = _counts(app, MilestoneEvent, Notification)
    response = client.post(f"/progress/milestones/{item_id}/return", data={"comment": "  "})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"review-comment": "退回须填写意见。"}
    _once(html, "退回须填写意见。")
    assert "autofocus" in Page(html).controls["review-comment"]
    too_long = "请补充" * 700
    response = client.post(f"/progress/milestones/{item_id}/return", data={"comment": too_long})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"review-comment": "不能超过 2000 个字符。"}
    assert f"{too_long}</textarea>" in html
    with app.app_context():
        assert db.session.get(SiteMilestone, item_id).status == MilestoneStatus.SUBMITTED
    assert _counts(app, MilestoneEvent, Notification) == before


# --- a monthly report ------------------------------------------------------------------------------------------


def test_a_report_submitted_without_the_work_done_is_told_at_the_field(app, client, login_as, tracked):  # noqa: F811
    site_id = tracked.sites[0]
    with app.app_context():
        site = db.session.get(Site, site_id)
        # Selected early last year, so that the first month reported on has begun whatever today's date.
        site.selected_at = datetime(TODAY.year - 1, 1, 15, 12, tzinfo=CHINA)
        db.session.commit()
        month = progress.report_months(site)[0]
    assert month == date(TODAY.year - 1, 2, 1)
    login_as("township")
    before = _counts(app, MonthlyReport)
    response = client.post(f"/progress/sites/{site_id}/reports/{month:%Y-%m}", data={
        "work_done": " ", "consultations_held": "2", "spent_this_month": "1,200.50", "problems": "人员调整",
        "submit_report": "1"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"work_done": "请填写本月完成的工作。"}
    _once(html, "请填写本月完成的工作。")
    page = Page(html)
    assert page.controls["consultations_held"]["value"] == "2"
    assert page.controls["spent_this_month"]["value"] == "1,200.50"
    assert "人员调整</textarea>" in html
    assert _counts(app, MonthlyReport) == before
