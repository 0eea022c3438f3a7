"""The consultation ledger (台账): the vote and quorum rules at their boundaries (hand-computed), the forms' errors
at the fields, the 五不议 warning, the printed 协商记录表, the representative meetings and their documents, township
and community isolation, and the list's query count."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app.applications.models import UnitLevel
from app.database import CHINA, china_today, utcnow
from app.extensions import db
from app.places.models import Community
from app.tracking import ledger
from app.tracking.ledger import (
    LedgerError,
    Quarter,
    agreement_holds,
    decision_passes,
    meeting_valid,
    percent_text,
    quarters_without_meeting,
    vote_shares,
)
from app.tracking.models import ConsultationMatter, ConsultationRecord, ConsultationRule, RepresentativeMeeting
from tests.accessibility import error_descriptions
from tests.applications.helpers import communities_of
from tests.files.test_storage import make_pdf

# --- the rules ------------------------------------------------------------------------------------------------


def test_agreement_needs_more_than_two_thirds_of_those_present():
    assert not agreement_holds(30, 20)  # 20/30 is exactly two thirds: not more
    assert agreement_holds(30, 21)
    assert not agreement_holds(3, 2)
    assert agreement_holds(3, 3)
    assert not agreement_holds(31, 20)  # 20.67 needed
    assert agreement_holds(31, 21)
    assert not agreement_holds(0, 0)  # nobody voted: nothing agreed


def test_vote_shares_are_exact_and_rounded_half_up():
    shares = vote_shares(30, 20, 6, 4)
    assert (shares.votes_for, shares.against, shares.abstain) == (Fraction(2, 3), Fraction(1, 5), Fraction(2, 15))
    assert (shares.for_text, shares.against_text, shares.abstain_text) == ("66.67%", "20.00%", "13.33%")
    assert vote_shares(32, 1, 0, 0).for_text == "3.13%"  # 3.125 rounds half up, not to even
    assert vote_shares(30, 30, 0, 0).for_text == "100.00%"
    assert vote_shares(0, 0, 0, 0).for_text == "—"
    assert percent_text(Fraction(1, 3)) == "33.33%"


@pytest.mark.parametrize("counts", [(10, 8, 2, 1), (10, 11, 0, 0), (10, -1, 0, 0), (-1, 0, 0, 0), (5, 0, 0, 6)])
def test_impossible_votes_are_refused(counts):
    with pytest.raises(ValueError):
        vote_shares(*counts)


def test_more_votes_for_than_present_is_refused():
    with pytest.raises(ValueError):
        agreement_holds(30, 31)
    with pytest.raises(ValueError):
        agreement_holds(30, -1)


def test_a_meeting_needs_two_thirds_of_its_representatives_present():
    assert meeting_valid(45, 30)  # exactly two thirds: enough
    assert not meeting_valid(45, 29)
    assert meeting_valid(40, 27)  # 26.67 needed
    assert not meeting_valid(40, 26)
    assert meeting_valid(3, 2)
    with pytest.raises(ValueError):
        meeting_valid(40, 41)
    with pytest.raises(ValueError):
        meeting_valid(0, 0)


def test_a_decision_needs_more_than_half_of_all_representatives():
    assert not decision_passes(40, 40, 20)  # exactly half of all: not more
    assert decision_passes(40, 40, 21)
    assert decision_passes(40, 27, 21)  # 21 of 27 present, but what counts is 21 of 40
    assert not decision_passes(40, 26, 21)  # a meeting below quorum decides nothing
    assert not decision_passes(45, 30, 22)
    assert decision_passes(45, 30, 23)
    with pytest.raises(ValueError):
        decision_passes(40, 20, 21)  # more votes than people present


def test_quarters_without_a_meeting():
    held = [date(2024, 2, 10), date(2024, 5, 3), date(2024, 11, 20), date(2023, 8, 1)]
    assert quarters_without_meeting(held, 2024, date(2024, 12, 31)) == [Quarter(2024, 3)]
    assert quarters_without_meeting(held, 2024, date(2024, 7, 1)) == [Quarter(2024, 3)]  # the current quarter too
    assert quarters_without_meeting(held, 2024, date(2024, 6, 30)) == []  # Q3 has not started
    assert quarters_without_meeting([], 2024, date(2024, 4, 1)) == [Quarter(2024, 1), Quarter(2024, 2)]
    assert quarters_without_meeting([], 2025, date(2024, 12, 31)) == []
    assert quarters_without_meeting(held, 2023, date(2024, 1, 5)) == [Quarter(2023, n) for n in (1, 2, 4)]
    assert Quarter(2024, 1).end == date(2024, 3, 31) and Quarter(2024, 4).end == date(2024, 12, 31)


def test_a_meeting_below_quorum_does_not_count_for_its_quarter():
    def meeting(day, present):
        return SimpleNamespace(held_on=day, representatives_total=45, present=present)

    assert quarters_without_meeting([meeting(date(2024, 8, 1), 29)], 2024, date(2024, 9, 30))[-1] == Quarter(2024, 3)
    assert Quarter(2024, 3) not in quarters_without_meeting([meeting(date(2024, 8, 1), 30)], 2024, date(2024, 9, 30))


# --- operations ----------------------------------------------------------------------------------------------


def _catalogue(app) -> tuple[int, int, int]:
    """(a catalogue item, a 五不议 rule, a 六必议 rule) ids."""
    with app.app_context():
        matter = db.session.scalar(sa.select(ConsultationMatter.id).where(ConsultationMatter.category == "为民服务类")
                                   .order_by(ConsultationMatter.sort_order).limit(1))
        must_not = db.session.scalar(sa.select(ConsultationRule.id).where(ConsultationRule.kind == "must_not")
                                     .order_by(ConsultationRule.sort_order.desc()).limit(1))
        must = db.session.scalar(sa.select(ConsultationRule.id).where(ConsultationRule.kind == "must").limit(1))
        return matter, must_not, must


def _add_record(app, community_id: int, **overrides) -> int:
    with app.app_context():
        fields = dict(held_at=utcnow() - timedelta(days=3), unit_level=UnitLevel.BUILDING, present=30, votes_for=25,
                      votes_against=3, abstain=2, topic="3号楼加装电梯费用分摊", unit_name="3号楼", host="陈志强",
                      recorder="黄丽华", supervisor="许文华", place="3号楼架空层", form="楼栋协商会",
                      parties="3号楼全体住户代表", proceedings="逐户发言", outcome="按楼层分摊")
        fields.update(overrides)
        record = ledger.create_record(db.session.get(Community, community_id), **fields)
        db.session.commit()
        return record.id


def _add_meeting(app, community_id: int, **overrides) -> int:
    with app.app_context():
        fields = dict(held_on=china_today(), topic="审议年度工作计划", representatives_total=45, present=40,
                      votes_for=38, votes_against=1, abstain=1)
        fields.update(overrides)
        meeting = ledger.create_meeting(db.session.get(Community, community_id), **fields)
        db.session.commit()
        return meeting.id


def test_a_record_is_stored_in_utc_and_a_future_one_refused(app, ctx, places):
    community = db.session.get(Community, places.anhai_community)
    typed = datetime(2024, 5, 20, 19, 30)  # as typed in China
    record_id = ledger.create_record(community, held_at=ledger.from_china_time(typed), unit_level="grid",
                                     present=12, votes_for=9, topic="第一网格停车位划线").id
    db.session.expire_all()
    stored = db.session.get(ConsultationRecord, record_id).held_at
    assert stored == datetime(2024, 5, 20, 11, 30, tzinfo=UTC) and stored.utcoffset() == timedelta(0)
    assert ledger.china_time(stored) == typed
    now = datetime(2024, 6, 1, 2, 0, tzinfo=UTC)
    with pytest.raises(LedgerError) as refused:
        ledger.create_record(community, held_at=now + timedelta(minutes=1), unit_level="grid", present=1,
                             votes_for=1, topic="明天的协商", now=now)
    assert refused.value.field == "held_at"
    with pytest.raises(LedgerError) as refused:
        ledger.create_record(community, held_at=now, unit_level="grid", present=5, votes_for=5, votes_against=1,
                             topic="票数多于人数", now=now)
    assert refused.value.field == "present"
    with pytest.raises(ValueError):
        ledger.create_record(community, held_at=typed, unit_level="grid", present=1, votes_for=1, topic="无时区")
    with pytest.raises(LedgerError):  # a 六必议 rule is not a 五不议 match
        ledger.create_record(community, held_at=now, unit_level="grid", present=1, votes_for=1, topic="x",
                             excluded_rule=db.session.scalar(sa.select(ConsultationRule)
                                                             .where(ConsultationRule.kind == "must").limit(1)))


def test_a_meeting_above_its_representatives_is_refused(app, ctx, places):
    community = db.session.get(Community, places.anhai_community)
    with pytest.raises(LedgerError) as refused:
        ledger.create_meeting(community, held_on=date(2024, 3, 1), topic="x", representatives_total=40, present=41)
    assert refused.value.field == "present"
    with pytest.raises(LedgerError) as refused:
        ledger.create_meeting(community, held_on=china_today() + timedelta(days=1), topic="x",
                              representatives_total=40, present=30)
    assert refused.value.field == "held_on"
    assert db.session.scalar(sa.select(sa.func.count(RepresentativeMeeting.id))) == 0


# --- pages ---------------------------------------------------------------------------------------------------


def _field_errors(page: str, name: str) -> list[str]:
    return [html.unescape(text) for text in
            re.findall(rf'<div class="invalid-feedback d-block" data-field="{name}">(.*?)</div>', page)]


def _record_form(app, **overrides) -> dict:
    matter, _must_not, _must = _catalogue(app)
    data = {
        "topic": "新华街占道停车整治", "matter_id": str(matter), "excluded_rule_id": "0", "unit_level": "estate",
        "unit_name": "新华街", "parties": "街巷长、沿街商户代表、居民代表、交警中队", "held_at": "2024-05-20T19:30",
        "place": "社区民主议事厅", "mode": "事务协调会", "host": "吴建国", "recorder": "蔡秀英", "supervisor": "许文华",
        "proceedings": "一、说明议题来源；二、商户代表发言；三、形成三条意见提交表决。",
        "present": "30", "votes_for": "21", "votes_against": "6", "abstain": "3", "outcome": "划定夜间临时停车区。",
        "follow_up": "监委会每月巡查一次。",
    }
    data.update(overrides)
    return data


def _count(app, model, **where) -> int:
    with app.app_context():
        query = sa.select(sa.func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return db.session.scalar(query)


def test_a_record_is_entered_in_china_time_and_shown_with_its_result(app, client, login_as, places):
    login_as("community")
    response = client.post(f"/ledger/communities/{places.anhai_community}/records/new", data=_record_form(app))
    assert response.status_code == 302, _field_errors(response.get_data(as_text=True), ".*?")
    with app.app_context():
        record = db.session.scalar(sa.select(ConsultationRecord))
        assert record.held_at == datetime(2024, 5, 20, 11, 30, tzinfo=UTC)
        assert (record.unit_level, record.form) == (UnitLevel.ESTATE, "事务协调会")
        assert record.matter.category == "为民服务类"
        record_id = record.id
    detail = client.get(f"/ledger/records/{record_id}").get_data(as_text=True)
    assert "2024-05-20 19:30" in detail and "通过" in detail and "70.00%" in detail
    page = client.get(f"/ledger/communities/{places.anhai_community}").get_data(as_text=True)
    row = re.search(rf'<tr data-record="{record_id}">(.*?)</tr>', page, re.S).group(1)
    assert "新华街占道停车整治" in row and "小区(街巷)" in row and "为民服务类" in row and "通过" in row
    assert "未通过" not in row
    # In English the vote's result reads "Passed", not the milestone button's "Accept" (the same Chinese word).
    client.post("/account/preferences", data={"locale": "en"})
    detail = client.get(f"/ledger/records/{record_id}").get_data(as_text=True)
    assert ">Passed<" in detail and ">Accept<" not in detail


def test_exactly_two_thirds_is_shown_as_not_passed(app, client, login_as, places):
    login_as("community")
    client.post(f"/ledger/communities/{places.anhai_community}/records/new",
                data=_record_form(app, votes_for="20", votes_against="7"))
    with app.app_context():
        record_id = db.session.scalar(sa.select(ConsultationRecord.id))
    page = client.get(f"/ledger/communities/{places.anhai_community}").get_data(as_text=True)
    assert "未通过" in re.search(rf'<tr data-record="{record_id}">(.*?)</tr>', page, re.S).group(1)
    assert "66.67%" in client.get(f"/ledger/records/{record_id}").get_data(as_text=True)


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"votes_for": "25", "votes_against": "6"}, "present", "赞成、反对、弃权人数合计 34 人，超过表决人数 30 人。"),
    ({"votes_against": "-1"}, "votes_against", "人数不能为负数。"),
    ({"present": "abc"}, "present", "请填写整数人数。"),
    ({"held_at": "2024-13-45T19:30"}, "held_at", "请填写正确的日期和时间"),
    ({"held_at": "下周三晚上"}, "held_at", "请填写正确的日期和时间"),
    ({"held_at": ""}, "held_at", "此项为必填项。"),
    ({"matter_id": "0"}, "matter_id", "请选择议题类别。"),
    ({"matter_id": "999999"}, "matter_id", "请选择列表中的选项。"),
    ({"excluded_rule_id": "999999"}, "excluded_rule_id", "请选择列表中的选项。"),
    ({"unit_level": "street"}, "unit_level", ""),
    ({"topic": "   "}, "topic", "此项为必填项。"),
])
def test_record_form_errors_are_shown_at_the_field_and_nothing_is_saved(app, client, login_as, places, overrides,
                                                                         field, message):
    login_as("community")
    response = client.post(f"/ledger/communities/{places.anhai_community}/records/new",
                           data=_record_form(app, **overrides))
    assert response.status_code == 200
    errors = _field_errors(response.get_data(as_text=True), field)
    assert errors and message in errors[0], errors
    assert _count(app, ConsultationRecord) == 0


def test_a_refused_matter_is_tied_to_its_control_for_screen_readers(app, client, login_as, places):
    """The grouped select of matters is drawn by the shared macros: "please choose" first, then the categories; a
    refusal is heard with the control, and the matter chosen stays chosen when another field is refused."""
    login_as("community")
    url = f"/ledger/communities/{places.anhai_community}/records/new"
    page = client.post(url, data=_record_form(app, matter_id="0", votes_against="-1")).get_data(as_text=True)
    described = error_descriptions(page)
    assert set(described) == {"matter_id", "votes_against"} and "请选择议题类别。" in described["matter_id"]
    select = re.search(r'<select[^>]*id="matter_id".*?</select>', page, re.S).group(0)
    assert re.match(r'<select[^>]*>\s*<option selected value="0">（请选择）</option><optgroup label="', select)
    page = client.post(url, data=_record_form(app, votes_against="-1")).get_data(as_text=True)
    assert list(error_descriptions(page)) == ["votes_against"]
    assert f'<option selected value="{_record_form(app)["matter_id"]}">' in page


def test_a_record_in_the_future_is_refused_at_the_field(app, client, login_as, places):
    login_as("township")
    tomorrow = (utcnow().astimezone(CHINA) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"/ledger/communities/{places.anhai_community}/records/new",
                           data=_record_form(app, held_at=tomorrow))
    assert _field_errors(response.get_data(as_text=True), "held_at") == ["协商时间不能晚于现在。"]
    assert _count(app, ConsultationRecord) == 0


@pytest.mark.parametrize("kind", ["records", "meetings"])
def test_a_refusal_naming_no_field_is_shown_above_the_form_with_what_was_typed(app, client, login_as, places,
                                                                             monkeypatch, kind):
    def refuse(*args, **kwargs):
        raise LedgerError("规则不允许。")

    monkeypatch.setattr(ledger, "create_record" if kind == "records" else "create_meeting", refuse)
    login_as("community")
    data = _record_form(app) if kind == "records" else _meeting_form()
    response = client.post(f"/ledger/communities/{places.anhai_community}/{kind}/new", data=data,
                           content_type="multipart/form-data")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    form_id = "record-form" if kind == "records" else "meeting-form"
    start = page.index(f'id="{form_id}"')
    assert page.count("规则不允许。") == 1 and start < page.index("规则不允许。") < page.index("</form>", start)
    assert f'value="{data["topic"]}"' in page
    assert _count(app, ConsultationRecord) == 0 and _count(app, RepresentativeMeeting) == 0


def test_a_five_not_to_consult_match_is_saved_with_a_warning(app, client, login_as, places):
    _matter, must_not, _must = _catalogue(app)
    login_as("township")
    response = client.post(f"/ledger/communities/{places.anhai_community}/records/new",
                           data=_record_form(app, topic="两户邻居院墙边界纠纷", excluded_rule_id=str(must_not)),
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "属于“五不议”事项" in page and "属于个体矛盾、双方纠纷的事项" in page
    with app.app_context():
        record = db.session.scalar(sa.select(ConsultationRecord))
        assert record.excluded_rule_id == must_not
    ledger_page = client.get(f"/ledger/communities/{places.anhai_community}").get_data(as_text=True)
    row = re.search(rf'<tr data-record="{record.id}">(.*?)</tr>', ledger_page, re.S).group(1)
    assert "“五不议”提示" in row and "属于个体矛盾、双方纠纷的事项" in row
    assert "id=\"excluded-warning\"" in client.get(f"/ledger/records/{record.id}").get_data(as_text=True)


def test_the_printed_form_holds_every_field(app, client, login_as, places):
    _matter, must_not, _must = _catalogue(app)
    login_as("community")
    data = _record_form(app, excluded_rule_id=str(must_not), votes_for="22", votes_against="5", abstain="2")
    client.post(f"/ledger/communities/{places.anhai_community}/records/new", data=data)
    with app.app_context():
        record = db.session.scalar(sa.select(ConsultationRecord))
        community = db.session.get(Community, places.anhai_community)
        names = (community.name, community.township.name)
    response = client.get(f"/ledger/records/{record.id}/print")
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    for label in ("协商议题", "协商主体", "协商时间", "协商地点", "协商方式", "协商主持人", "协商记录员", "协商监督员",
                  "协商过程", "协商表决", "协商结果", "协商记录员签字"):
        assert label in page, label
    for key in ("topic", "parties", "place", "mode", "host", "recorder", "supervisor", "proceedings", "outcome",
                "follow_up", "unit_name"):
        assert data[key] in page, key
    assert "2024-05-20 19:30" in page and "小区(街巷)" in page and "为民服务类" in page
    assert all(name in page for name in names)
    assert "表决人数：30 人；赞成人数：22 人；反对人数：5 人；弃权人数：2 人。" in page
    assert "赞成人数比例：73.33%；反对人数比例：16.67%；弃权人数比例：6.67%。" in page
    assert "经实到会人员表决超过三分之二" in page and "属于个体矛盾、双方纠纷的事项" in page
    assert "css/print-form.css" in page and "data-print" in page
    assert "<style" not in page and "style=" not in page and "<script>" not in page


def test_a_deleted_record_leaves_the_ledger_but_stays_in_the_database(app, client, login_as, places):
    record_id = _add_record(app, places.anhai_community)
    login_as("community")
    response = client.post(f"/ledger/records/{record_id}/delete")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(ConsultationRecord, record_id).deleted_at is not None
    assert f'data-record="{record_id}"' not in client.get(f"/ledger/communities/{places.anhai_community}").get_data(
        as_text=True)
    assert client.get(f"/ledger/records/{record_id}").status_code == 404
    assert client.post(f"/ledger/records/{record_id}/delete").status_code == 404


def _pdf(label: str) -> tuple[io.BytesIO, str]:
    return io.BytesIO(make_pdf() + f"% {label}\n".encode()), f"{label}.pdf"


def _meeting_form(**overrides) -> dict:
    data = {"held_on": china_today().isoformat(), "topic": "审议老旧小区改造方案", "representatives_total": "45",
            "present": "30", "votes_for": "23", "votes_against": "4", "abstain": "3",
            "decision": "同意改造方案。", "sign_in": _pdf("签到表"), "minutes": _pdf("会议记录"),
            "vote_sheet": _pdf("表决签名")}
    data.update(overrides)
    return data


def test_a_meeting_is_kept_with_its_three_documents(app, client, login_as, places):
    login_as("community")
    response = client.post(f"/ledger/communities/{places.anhai_community}/meetings/new", data=_meeting_form(),
                           content_type="multipart/form-data")
    assert response.status_code == 302
    with app.app_context():
        meeting = db.session.scalar(sa.select(RepresentativeMeeting))
        assert meeting.sign_in_file_id and meeting.minutes_file_id and meeting.vote_sheet_file_id
        meeting_id = meeting.id
    page = client.get(f"/ledger/communities/{places.anhai_community}").get_data(as_text=True)
    row = re.search(rf'<tr data-meeting="{meeting_id}">(.*?)</tr>', page, re.S).group(1)
    assert "有效" in row and "通过" in row and "未通过" not in row  # 30 of 45 present, 23 of 45 for
    for which, label in [("sign_in", "签到表"), ("minutes", "会议记录"), ("vote_sheet", "表决签名")]:
        download = client.get(f"/ledger/meetings/{meeting_id}/files/{which}")
        assert download.status_code == 200 and download.data.endswith(f"% {label}\n".encode())
        assert download.headers["Content-Disposition"].startswith("attachment")
    assert client.get(f"/ledger/meetings/{meeting_id}/files/other").status_code == 404


def test_a_meeting_below_quorum_is_kept_and_shown_invalid(app, client, login_as, places):
    login_as("community")
    response = client.post(f"/ledger/communities/{places.anhai_community}/meetings/new",
                           data=_meeting_form(present="29", votes_for="25", votes_against="2", abstain="2"),
                           content_type="multipart/form-data", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "会议无效" in page
    with app.app_context():
        meeting_id = db.session.scalar(sa.select(RepresentativeMeeting.id))
    row = re.search(rf'<tr data-meeting="{meeting_id}">(.*?)</tr>', page, re.S).group(1)
    assert "未达法定人数" in row and "未通过" in row  # 25 of 45 is more than half, but the meeting is invalid


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"present": "46"}, "present", "到会代表 46 人，超过代表总数 45 人。"),
    ({"votes_for": "28"}, "present", "赞成、反对、弃权人数合计 35 人，超过表决人数 30 人。"),
    ({"abstain": "-3"}, "abstain", "人数不能为负数。"),
    ({"representatives_total": "0", "present": "0", "votes_for": "0", "votes_against": "0", "abstain": "0"},
     "representatives_total", "代表总数必须大于 0。"),
    ({"held_on": "2024-02-30"}, "held_on", "请填写正确的日期"),
    ({"held_on": "2099-01-01"}, "held_on", "会议日期不能晚于今天。"),
    ({"sign_in": None}, "sign_in", "请上传会议签到表。"),
    ({"vote_sheet": lambda: _pdf("签到表")}, "vote_sheet", "不可互相代替"),  # the sign-in sheet again
    ({"minutes": lambda: (io.BytesIO(b"MZ\x90\x00 not a document"), "记录.pdf")}, "minutes", "不支持的文件类型"),
])
def test_meeting_form_errors_are_shown_at_the_field_and_nothing_is_saved(app, client, login_as, places, overrides,
                                                                          field, message):
    login_as("community")
    data = {key: value() if callable(value) else value for key, value in _meeting_form(**overrides).items()
            if value is not None}
    response = client.post(f"/ledger/communities/{places.anhai_community}/meetings/new", data=data,
                           content_type="multipart/form-data")
    assert response.status_code == 200
    errors = _field_errors(response.get_data(as_text=True), field)
    assert errors and any(message in error for error in errors), errors
    assert _count(app, RepresentativeMeeting) == 0


def test_quarters_without_a_meeting_are_warned(app, client, login_as, places):
    today = china_today()
    _add_meeting(app, places.anhai_community, held_on=today)
    _add_meeting(app, places.anhai_community, held_on=date(today.year - 1, 2, 15))
    # Below quorum: the second quarter of last year still has no meeting that counts.
    _add_meeting(app, places.anhai_community, held_on=date(today.year - 1, 5, 15), present=29, votes_for=20)
    login_as("township")
    page = client.get(f"/ledger/communities/{places.anhai_community}").get_data(as_text=True)
    warned = set(re.findall(r'data-quarter="(\d+Q\d)"', page))
    current = Quarter.of(today)
    expected = {f"{today.year - 1}Q{n}" for n in (2, 3, 4)} | {f"{today.year}Q{n}" for n in range(1, current.number)}
    assert warned == expected
    assert f"{today.year - 1}年第2季度" in page


# --- isolation -----------------------------------------------------------------------------------------------


def test_a_township_cannot_read_or_write_another_townships_ledger(app, client, login_as, places):
    record_id = _add_record(app, places.cizao_community)
    meeting_id = _add_meeting(app, places.cizao_community, sign_in=None)
    with app.app_context():
        from werkzeug.datastructures import FileStorage

        from app.files.storage import save_upload

        meeting = db.session.get(RepresentativeMeeting, meeting_id)
        stored = save_upload(FileStorage(stream=io.BytesIO(make_pdf()), filename="签到.pdf"))
        meeting.sign_in_file_id = stored.id
        db.session.commit()
    login_as("township")  # 安海镇
    cizao = places.cizao_community
    for url in (f"/ledger/communities/{cizao}", f"/ledger/communities/{cizao}/records/new",
                f"/ledger/communities/{cizao}/meetings/new", f"/ledger/records/{record_id}",
                f"/ledger/records/{record_id}/print", f"/ledger/meetings/{meeting_id}/files/sign_in"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/ledger/communities/{cizao}/records/new", data=_record_form(app)).status_code == 403
    assert client.post(f"/ledger/communities/{cizao}/meetings/new", data=_meeting_form(),
                       content_type="multipart/form-data").status_code == 403
    assert client.post(f"/ledger/records/{record_id}/delete").status_code == 403
    assert client.get("/ledger/records/999999").status_code == 404
    assert client.get("/ledger/communities/999999").status_code == 404
    with app.app_context():
        assert db.session.get(ConsultationRecord, record_id).deleted_at is None
    assert _count(app, ConsultationRecord, community_id=cizao) == 1
    assert _count(app, RepresentativeMeeting, community_id=cizao) == 1
    listing = client.get("/ledger/?kept=1").get_data(as_text=True)
    assert f'data-community="{cizao}"' not in listing
    assert f'data-community="{places.anhai_community}"' in client.get("/ledger/").get_data(as_text=True)


def test_a_community_sees_only_its_own_ledger(app, client, login_as, places):
    neighbour = [c for c in communities_of(app, places.anhai, 2) if c != places.anhai_community][0]
    record_id = _add_record(app, neighbour)
    login_as("community")  # bound to places.anhai_community
    assert client.get(f"/ledger/communities/{neighbour}").status_code == 403
    assert client.get(f"/ledger/records/{record_id}").status_code == 403
    assert client.post(f"/ledger/communities/{neighbour}/records/new", data=_record_form(app)).status_code == 403
    assert client.post(f"/ledger/records/{record_id}/delete").status_code == 403
    assert client.get(f"/ledger/communities/{places.cizao_community}").status_code == 403
    listing = client.get("/ledger/").get_data(as_text=True)
    assert re.findall(r'data-community="(\d+)"', listing) == [str(places.anhai_community)]
    assert _count(app, ConsultationRecord, community_id=neighbour) == 1


def test_the_bureau_reads_every_ledger_but_records_none(app, client, login_as, places):
    record_id = _add_record(app, places.cizao_community)
    login_as("bureau")
    assert client.get(f"/ledger/records/{record_id}").status_code == 200
    assert client.get(f"/ledger/communities/{places.cizao_community}").status_code == 200
    assert client.post(f"/ledger/communities/{places.cizao_community}/records/new",
                       data=_record_form(app)).status_code == 403
    assert client.post(f"/ledger/records/{record_id}/delete").status_code == 403


# --- the list ------------------------------------------------------------------------------------------------


def test_the_list_runs_a_fixed_number_of_queries(app, client, login_as, places, count_queries):
    communities = communities_of(app, places.anhai, 6)
    _add_record(app, communities[0])
    _add_meeting(app, communities[0])
    login_as("bureau")
    with count_queries() as few:
        first = client.get("/ledger/?kept=1")
    assert first.status_code == 200
    for community_id in [*communities[1:], places.cizao_community]:
        for number in range(3):
            _add_record(app, community_id, topic=f"议题{number}", excluded_rule=None)
        _add_meeting(app, community_id)
    with count_queries() as many:
        second = client.get("/ledger/?kept=1")
    page = second.get_data(as_text=True)
    assert len(re.findall(r"data-community=", page)) == 7
    assert many.count == few.count, (few.statements, many.statements)
    with count_queries() as everything:
        assert client.get("/ledger/").status_code == 200
    assert everything.count == few.count


def test_the_demo_ledger_keeps_the_rules(app, ctx):
    from app.fixtures.demo_ledger import load_demo_ledger

    records, meetings = load_demo_ledger()  # no 2023 sites in the test database: 阳光社区 only
    assert records == 6 and meetings > 12
    assert load_demo_ledger() == (0, 0)
    rows = db.session.scalars(sa.select(ConsultationRecord)).all()
    assert sum(not ledger.record_passed(row) for row in rows) == 1
    assert {row.unit_level for row in rows} == set(UnitLevel)
    assert all(2023 <= row.held_at.year <= 2025 and row.matter is not None for row in rows)
    held = db.session.scalars(sa.select(RepresentativeMeeting)).all()
    assert sum(not ledger.meeting_is_valid(meeting) for meeting in held) == 1
    today = china_today()
    missing = [q for year in range(2023, today.year + 1) for q in quarters_without_meeting(held, year, today)]
    assert set(missing) <= {Quarter.of(today)}  # this quarter's meeting may be still to come
    assert sum(meeting.vote_sheet_file_id is not None for meeting in held) == 2
