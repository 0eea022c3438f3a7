"""The bureau's programme pages: create, template, copy, status, the row editors, extensions, overview."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.applications.models import ApplicationStatus
from app.audit.models import AuditLog
from app.database import china_today
from app.extensions import db
from app.programmes.models import DeadlineExtension, NominationRule, Programme, ProgrammeStatus
from tests.accessibility import error_descriptions
from tests.applications.helpers import (
    communities_of,
    control_tag,
    form_values,
    nominate,
    only_application_id,
    row_count,
)
from tests.conftest import DEMONSTRATION_FORM, login

PROGRAMME = {"name": "2035年示范点", "year": "2035", "code": "xyz9", "kind": "demonstration", "quota": "10",
             "nomination_rule": "fixed", "nomination_min": "1", "nomination_max": "2", "size_threshold": "15",
             "min_small": "1", "min_large": "2"}


def _programme(app, **where):
    with app.app_context():
        found = db.session.scalar(sa.select(Programme).filter_by(**where))
        if found is not None:
            db.session.expunge(found)
        return found


def test_bureau_creates_a_programme(app, client, login_as):
    login_as("bureau")
    response = client.post("/programmes/new", data=PROGRAMME)
    assert response.status_code == 302
    programme = _programme(app, year=2035)
    assert programme.code == "XYZ9" and programme.status == ProgrammeStatus.DRAFT and programme.nomination_max == 2


def test_no_upper_limit_is_kept_as_none(app, client, login_as):
    login_as("bureau")
    client.post("/programmes/new", data=dict(PROGRAMME, nomination_rule="by_size", nomination_max=""))
    programme = _programme(app, year=2035)
    assert programme.nomination_rule == NominationRule.BY_SIZE and programme.nomination_max is None


def test_programme_form_errors_are_at_their_fields(client, login_as):
    login_as("bureau")
    page = client.post("/programmes/new", data=dict(PROGRAMME, year="二〇三五", code="?", nomination_min="3",
                                                    nomination_max="2", quota="0")).get_data(as_text=True)
    for field in ("year", "code", "nomination_max", "quota"):
        assert f'data-field="{field}"' in page, field


def test_a_minimum_above_the_saved_maximum_is_refused_when_the_maximum_is_not_sent(app, client, login_as):
    """An edit that leaves nomination_max out of the request keeps the saved maximum (2): a minimum of 3 must be
    refused at the maximum's field, not written into the table's range check (once a 500)."""
    login_as("bureau")
    client.post("/programmes/new", data=PROGRAMME)
    programme_id = _programme(app, year=2035).id
    without_maximum = {key: value for key, value in PROGRAMME.items() if key != "nomination_max"}
    for minimum in ("3", "٣"):  # Arabic-Indic three: int() reads it as 3 too
        response = client.post(f"/programmes/{programme_id}/edit", data=dict(without_maximum, nomination_min=minimum))
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and "最多推荐数不能少于最少推荐数" in page
        assert 'data-field="nomination_max"' in page
    for blank, rule in (("nomination_min", "fixed"), ("size_threshold", "by_size")):  # the rule's own number
        page = client.post(f"/programmes/{programme_id}/edit",
                           data=dict(PROGRAMME, nomination_rule=rule, **{blank: ""})).get_data(as_text=True)
        assert f'data-field="{blank}"' in page and "此项为必填项" in page, blank
    saved = _programme(app, id=programme_id)
    assert (saved.nomination_rule, saved.nomination_min, saved.nomination_max, saved.size_threshold) == (
        NominationRule.FIXED, 1, 2, 15)


def test_duplicate_year_and_code(app, client, login_as):
    login_as("bureau")
    client.post("/programmes/new", data=PROGRAMME)
    page = client.post("/programmes/new", data=PROGRAMME).get_data(as_text=True)
    assert "该年度已有相同代码的项目" in page


def test_from_template_and_copy_to_next_year(app, client, login_as):
    login_as("bureau")
    response = client.post("/programmes/new/from-template", data={"template": "demonstration", "year": "2036"})
    assert response.status_code == 302
    programme = _programme(app, year=2036, code="SFD")
    assert programme.quota == 10
    with app.app_context():
        assert db.session.get(Programme, programme.id).nomination_due.isoformat() == "2036-05-31"
    again = client.post("/programmes/new/from-template", data={"template": "demonstration", "year": "2036"})
    assert 'data-field="year"' in again.get_data(as_text=True)
    assert client.post(f"/programmes/{programme.id}/copy").status_code == 302
    with app.app_context():
        copy = db.session.scalar(sa.select(Programme).filter_by(year=2037, code="SFD"))
        assert copy.nomination_due.isoformat() == "2037-05-31" and copy.copied_from_id == programme.id
    assert client.post("/programmes/new/from-template", data={"template": "nope", "year": "2036"}).status_code == 200


def test_status_steps_follow_the_table(app, client, login_as):
    login_as("bureau")
    client.post("/programmes/new", data=PROGRAMME)
    programme = _programme(app, year=2035)
    client.post(f"/programmes/{programme.id}/status", data={"status": "open"})
    assert _programme(app, id=programme.id).status == ProgrammeStatus.DRAFT  # no nomination deadline yet
    client.post(f"/programmes/{programme.id}/milestones", data={
        "items-0-name": "申报推荐", "items-0-kind": "nomination", "items-0-due_date": "2035-05-31",
        "items-0-submitter": "township", "items-0-documents": "推荐表一式两份"})
    client.post(f"/programmes/{programme.id}/status", data={"status": "open"})
    assert _programme(app, id=programme.id).status == ProgrammeStatus.OPEN
    client.post(f"/programmes/{programme.id}/status", data={"status": "closed"})
    assert _programme(app, id=programme.id).status == ProgrammeStatus.OPEN
    client.post(f"/programmes/{programme.id}/status", data={"status": "nonsense"})
    assert _programme(app, id=programme.id).status == ProgrammeStatus.OPEN
    with app.app_context():
        changes = db.session.scalars(sa.select(AuditLog).where(AuditLog.object_type == "Programme",
                                                               AuditLog.object_id == str(programme.id))).all()
        assert any((row.after or {}).get("status") == "open" for row in changes)


@pytest.mark.parametrize(("chosen", "message"), [
    ("", "请选择新状态。"),
    ("nonsense", "请选择新状态。"),
    ("closed", "请选择新状态。"),  # a status, but not a step the table allows from a draft
    # Refused by the programme's rule rather than the form: at the status chosen, which stays chosen.
    ("open", "开始申报前请先设置“申报推荐”节点的截止日期。"),
])
def test_a_refused_status_change_is_told_at_the_status(app, client, login_as, count_queries, chosen, message):
    login_as("bureau")
    client.post("/programmes/new", data=PROGRAMME)  # a draft without a nomination deadline
    programme_id = _programme(app, year=2035).id
    before = row_count(app)
    with count_queries() as viewing:
        client.get(f"/programmes/{programme_id}")
    with count_queries() as refused:
        response = client.post(f"/programmes/{programme_id}/status", data={"status": chosen})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    described = error_descriptions(page)
    assert list(described) == ["status"] and message in described["status"]
    assert "autofocus" in control_tag(page, "status")
    offered = chosen == "open"
    assert form_values(page, f"/programmes/{programme_id}/status") == ({"status": chosen} if offered else {})
    assert _programme(app, id=programme_id).status == ProgrammeStatus.DRAFT
    assert row_count(app) == before, "nothing changed, nothing audited"
    assert refused.count <= viewing.count  # the page as it is viewed, no more


def test_milestone_rows_ignore_blanks_and_check_filled_rows(app, client, login_as, make_programme):
    login_as("bureau")
    programme_id = make_programme()
    page = client.post(f"/programmes/{programme_id}/milestones", data={
        "items-0-name": "申报推荐", "items-0-kind": "nomination", "items-0-due_date": "2031-05-31",
        "items-0-submitter": "township",
        "items-1-name": "章程备案", "items-1-kind": "charter", "items-1-due_date": "2031-13-45",
        "items-1-submitter": "community",
        "items-2-name": "", "items-2-kind": "other", "items-2-due_date": "", "items-2-submitter": "township",
    }).get_data(as_text=True)
    assert 'data-field="items-1-due_date"' in page
    response = client.post(f"/programmes/{programme_id}/milestones", data={
        "items-0-name": "申报推荐", "items-0-kind": "nomination", "items-0-due_date": "2031-05-31",
        "items-0-submitter": "township",
        "items-1-name": "", "items-1-kind": "other", "items-1-due_date": "", "items-1-submitter": "township"})
    assert response.status_code == 302
    with app.app_context():
        milestones = db.session.get(Programme, programme_id).milestones
        assert [(m.name, m.due_date.isoformat()) for m in milestones] == [("申报推荐", "2031-05-31")]


def test_a_refused_row_is_tied_to_its_controls_for_screen_readers(client, login_as, make_programme):
    login_as("bureau")
    programme_id = make_programme()
    page = client.post(f"/programmes/{programme_id}/milestones", data={
        "items-0-name": "章程备案", "items-0-kind": "charter", "items-0-due_date": "2031-13-45",
        "items-0-submitter": "community"}).get_data(as_text=True)
    described = error_descriptions(page)
    assert list(described) == ["items-0-due_date"] and "不是有效的日期值" in described["items-0-due_date"]


def test_tiers_store_exact_fen_per_source(app, client, login_as, make_programme):
    from app.programmes.templates import ensure_funding_sources

    login_as("bureau")
    programme_id = make_programme()
    with app.app_context():
        sources = {s.name: s.id for s in ensure_funding_sources()}
        db.session.commit()
    response = client.post(f"/programmes/{programme_id}/tiers", data={
        "items-0-name": "泉州市级试点", "items-0-source1": sources["泉州市级财政"], "items-0-amount1": "50,000",
        "items-0-source2": sources["晋江市级财政"], "items-0-amount2": "30000.00", "items-0-source3": "0",
        "items-0-amount3": ""})
    assert response.status_code == 302
    with app.app_context():
        [tier] = db.session.get(Programme, programme_id).tiers
        assert [(a.source.name, a.amount_fen) for a in tier.amounts] == [("泉州市级财政", 5_000_000),
                                                                         ("晋江市级财政", 3_000_000)]
        assert tier.total_fen == 8_000_000
    page = client.post(f"/programmes/{programme_id}/tiers", data={
        "items-0-name": "x", "items-0-source1": sources["泉州市级财政"], "items-0-amount1": "0.001"}
    ).get_data(as_text=True)
    assert "两位小数" in page
    detail = f"/programmes/{programme_id}"
    assert "<strong>泉州市级试点</strong>：¥80,000.00" in client.get(detail).get_data(as_text=True)
    client.post("/language/en")
    assert "<strong>泉州市级试点</strong>: " in client.get(detail).get_data(as_text=True)


def test_township_cannot_see_drafts_or_manage(app, client, login_as, make_programme):
    programme_id = make_programme(status=ProgrammeStatus.DRAFT)
    login_as("township")
    assert client.get(f"/programmes/{programme_id}").status_code == 403
    assert "测试项目" not in client.get("/programmes/").get_data(as_text=True)
    assert client.post(f"/programmes/{programme_id}/edit", data=PROGRAMME).status_code == 403
    assert client.get(f"/programmes/{programme_id}/overview").status_code == 403


def test_overview_counts_and_puts_the_silent_townships_first(app, client, login_as, make_programme, places,
                                                            make_user):
    programme_id = make_programme(due_in_days=3)
    login_as("township")
    nominate(client, programme_id, communities_of(app, places.anhai, 1)[0])
    application_id = only_application_id(app, programme_id)
    client.post(f"/applications/{application_id}/edit", data=dict(DEMONSTRATION_FORM, submit_for_review="1"))
    bureau = app.test_client()
    with app.app_context():
        from app.accounts.models import User

        login(bureau, db.session.get(User, make_user("bureau")).username)
    page = bureau.get(f"/programmes/{programme_id}/overview").get_data(as_text=True)
    table = page[page.index('id="overview"'):]
    assert table.index("安海镇") > table.index("磁灶镇")  # near the deadline, townships with nothing come first
    assert "安海镇" not in bureau.get(f"/programmes/{programme_id}/overview?state=nothing").get_data(as_text=True)
    assert "安海镇" in bureau.get(f"/programmes/{programme_id}/overview?q=安海").get_data(as_text=True)
    assert bureau.get(f"/programmes/{programme_id}/overview?state=weird").status_code == 200


def test_overview_in_english(client, login_as, make_programme):
    """缺报 here is the nominations short of the minimum ("Shortfall"), not the progress pages' missing reports."""
    programme_id = make_programme()
    login_as("bureau")
    client.post("/language/en")
    head = client.get(f"/programmes/{programme_id}/overview").get_data(as_text=True).split("</thead>", 1)[0]
    assert '<th class="text-end">Submitted late</th>' in head and '<th class="text-end">Shortfall</th>' in head


def test_overview_query_count_does_not_grow(app, client, login_as, make_programme, places, count_queries):
    programme_id = make_programme()
    login_as("bureau")
    client.get(f"/programmes/{programme_id}/overview")
    with count_queries() as small:
        client.get(f"/programmes/{programme_id}/overview")
    with app.app_context():
        from app.applications.models import Application

        for number, community in enumerate(communities_of(app, places.cizao, 3)):
            db.session.add(Application(programme_id=programme_id, township_id=places.cizao, community_id=community,
                                       sequence=number + 1, reference=f"Q-{number}",
                                       status=ApplicationStatus.SUBMITTED))
        db.session.commit()
    # The page is counted again once after a change, then remembered (township_overview).
    with count_queries() as first:
        client.get(f"/programmes/{programme_id}/overview")
    with count_queries() as large:
        client.get(f"/programmes/{programme_id}/overview")
    assert large.count == small.count and first.count == small.count + 1


def test_extension_form_refuses_a_date_before_the_deadline(app, client, login_as, make_programme, places):
    login_as("bureau")
    programme_id = make_programme(due_in_days=5)
    page = client.post(f"/programmes/{programme_id}/extensions", data={
        "township_id": places.anhai, "due_date": china_today().isoformat(), "reason": "x"}).get_data(as_text=True)
    assert "须晚于原截止日期" in page
    page = client.post(f"/programmes/{programme_id}/extensions", data={
        "township_id": places.anhai, "due_date": "2024/99/99", "reason": ""}).get_data(as_text=True)
    assert 'data-field="due_date"' in page and 'data-field="reason"' in page
    client.post(f"/programmes/{programme_id}/extensions", data={
        "township_id": places.anhai, "due_date": (china_today() + timedelta(days=9)).isoformat(), "reason": "换届"})
    with app.app_context():
        extension = db.session.scalar(sa.select(DeadlineExtension).filter_by(programme_id=programme_id))
        assert extension.reason == "换届" and extension.township_id == places.anhai


def test_an_error_is_tied_to_its_control_for_screen_readers(client, login_as):
    """The control in error says so (aria-invalid) and points at its messages (aria-describedby)."""
    import re

    login_as("bureau")
    page = client.post("/programmes/new", data=dict(PROGRAMME, quota="0")).get_data(as_text=True)
    control = re.search(r'<input[^>]*\bid="quota"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in control
    described = re.search(r'aria-describedby="([^"]+)"', control).group(1).split()
    messages = [re.search(rf'<div id="{name}">(.*?)</div></div>', page, re.S) for name in described]
    assert described == ["quota-errors"] and "1 至 500" in messages[0].group(1)
    name = re.search(r'<input[^>]*\bid="name"[^>]*>', page).group(0)  # a field without errors: neither
    assert "aria-invalid" not in name and "aria-describedby" not in name
