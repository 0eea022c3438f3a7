"""Programme templates: the notices' numbers become draft programmes; a programme is copied to the next year."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.programmes.models import (
    FundingSource,
    FundingTier,
    FundingTierAmount,
    Milestone,
    MilestoneKind,
    NominationRule,
    Programme,
    ProgrammeKind,
    ProgrammeStatus,
    ProjectType,
    Submitter,
)
from app.programmes.templates import (
    FUNDING_SOURCES,
    TEMPLATES,
    copy_to_next_year,
    ensure_funding_sources,
    funding_source,
    instantiate,
    template_choices,
)

YEAR = 2024


def _reload(programme_id: int) -> Programme:
    """The programme as the database has it, not as the session remembers it."""
    db.session.expire_all()
    return db.session.get(Programme, programme_id)


def _milestone(programme: Programme, kind: MilestoneKind) -> Milestone:
    [found] = [m for m in programme.milestones if m.kind == kind]
    return found


def _tier(programme: Programme, name: str) -> dict[str, int]:
    [tier] = [t for t in programme.tiers if t.name == name]
    return {amount.source.name: amount.amount_fen for amount in tier.amounts}


# --- the data ----------------------------------------------------------------------------------------------


def _width(column) -> int:
    return column.type.length


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["key"])
def test_template_data_fits_the_columns(template):
    """PostgreSQL enforces the lengths, SQLite does not: check them here once for both."""
    assert len(template["name"].format(year=2099)) <= _width(Programme.__table__.c.name)
    assert len(template["code"]) <= _width(Programme.__table__.c.code)
    assert len(template["notice_reference"]) <= _width(Programme.__table__.c.notice_reference)
    assert "{year}" in template["name"]
    assert template["title"] and template["source"] and template["description"]
    assert template["kind"] in ProgrammeKind and template["nomination_rule"] in NominationRule
    for item in template["project_types"]:
        assert len(item["name"]) <= _width(ProjectType.__table__.c.name) and item["description"]
    for item in template["milestones"]:
        assert len(item["name"]) <= _width(Milestone.__table__.c.name)
        assert item["kind"] in MilestoneKind and item["submitter"] in Submitter and item["documents"]
        date(2023, item["month"], item["day"])  # a real day in a common year
    for tier in template["tiers"]:
        assert len(tier["name"]) <= _width(FundingTier.__table__.c.name)
        for amount in tier["amounts"]:
            assert type(amount["yuan"]) is int and amount["yuan"] > 0
            assert len(amount["source"]) <= _width(FundingSource.__table__.c.name)


def test_template_keys_and_choices():
    keys = [template["key"] for template in TEMPLATES]
    assert keys == ["demonstration", "governance_project", "pilot_by_size"]
    choices = template_choices()
    assert [key for key, _title in choices] == keys
    assert all(isinstance(title, str) and title for _key, title in choices)


# --- instantiate -------------------------------------------------------------------------------------------


def test_demonstration_has_the_numbers_of_the_notice(ctx):
    programme_id = instantiate("demonstration", YEAR).id
    programme = _reload(programme_id)

    assert programme.name == "2024年晋江市“晋邻和美·微协商微议事”示范点"
    assert (programme.year, programme.code, programme.quota) == (2024, "SFD", 10)
    assert programme.kind == ProgrammeKind.DEMONSTRATION and programme.status == ProgrammeStatus.DRAFT
    assert programme.notice_reference == "晋政民〔2024〕36号"
    assert programme.nomination_rule == NominationRule.FIXED
    assert (programme.nomination_min, programme.nomination_max) == (1, 2)
    assert programme.project_types == []
    assert programme.copied_from_id is None

    assert programme.nomination_due == date(2024, 5, 31)
    nomination = _milestone(programme, MilestoneKind.NOMINATION)
    assert nomination.submitter == Submitter.TOWNSHIP
    assert "一式两份" in nomination.documents and "推荐表" in nomination.documents
    charter = _milestone(programme, MilestoneKind.CHARTER)
    assert charter.due_date == date(2024, 6, 12)
    assert "村(居)民会议表决通过" in charter.documents and "全国基层政权建设和社区治理信息系统" in charter.documents
    summary = _milestone(programme, MilestoneKind.SUMMARY)
    assert summary.due_date == date(2024, 8, 30) and summary.submitter == Submitter.TOWNSHIP
    assert "典型案例" in summary.documents
    # No monthly report: the notice asks for none.
    assert [m.kind for m in programme.milestones] == [
        MilestoneKind.NOMINATION,
        MilestoneKind.CHARTER,
        MilestoneKind.SUMMARY,
    ]

    assert [tier.name for tier in programme.tiers] == ["泉州市级“刺桐厝边”试点", "晋江市级示范点"]
    assert _tier(programme, "泉州市级“刺桐厝边”试点") == {"泉州市级财政": 5_000_000, "晋江市级财政": 3_000_000}
    assert _tier(programme, "晋江市级示范点") == {"晋江市级财政": 3_000_000}
    assert [tier.total_fen for tier in programme.tiers] == [8_000_000, 3_000_000]
    for title in ("召集人", "参与者", "智囊团", "民情收集箱", "汇集民意"):
        assert title in programme.description


def test_governance_project_has_the_numbers_of_the_notice(ctx):
    programme = _reload(instantiate("governance_project", 2023).id)

    assert programme.name == "2023年晋江市“共建共享”社区治理项目"
    assert (programme.year, programme.code, programme.quota) == (2023, "GJGX", 12)
    assert programme.kind == ProgrammeKind.PROJECT and programme.is_project
    types = ["党建引领型", "邻里互助型", "协商自治型", "服务促进型", "社会参与型"]
    assert [t.name for t in programme.project_types] == types
    assert all(t.description for t in programme.project_types)
    assert "六具备" in programme.project_types[2].description

    assert programme.nomination_due == date(2023, 3, 17)
    assert "加盖公章" in programme.nomination_milestone.documents
    assert "电子政务平台" in programme.nomination_milestone.documents
    monthly = _milestone(programme, MilestoneKind.MONTHLY_REPORT)
    assert monthly.due_date.day == 20 and monthly.submitter == Submitter.TOWNSHIP
    midterm = _milestone(programme, MilestoneKind.MIDTERM)
    completion = _milestone(programme, MilestoneKind.COMPLETION)
    final = _milestone(programme, MilestoneKind.FINAL_SUMMARY)
    assert completion.due_date == date(2023, 11, 30)
    assert final.due_date == date(2023, 12, 20)
    assert date(2023, 3, 17) < monthly.due_date < midterm.due_date < completion.due_date
    assert "中期自评报告" in midterm.documents
    for part in ("①", "⑤项目资金使用明细表", "⑦项目中期自评报告和结项自评报告", "⑧"):
        assert part in completion.documents

    assert _tier(programme, "晋江市级项目") == {"晋江市级财政": 10_000_000}
    assert _tier(programme, "泉州市级“共建共享”项目") == {"晋江市级财政": 5_000_000}


def test_pilot_by_size_has_the_size_rule(ctx):
    programme = _reload(instantiate("pilot_by_size", 2025).id)

    assert programme.name == "2025年城乡社区议事协商试点"
    assert programme.code == "SD" and programme.kind == ProgrammeKind.DEMONSTRATION
    assert programme.nomination_rule == NominationRule.BY_SIZE
    assert programme.nomination_max is None
    assert (programme.size_threshold, programme.min_small, programme.min_large) == (15, 1, 2)
    assert programme.nomination_due is not None and programme.nomination_due.year == 2025
    assert _milestone(programme, MilestoneKind.COMPLETION).due_date == date(2025, 12, 31)  # "于年底前完成建设"
    [tier] = programme.tiers
    assert tier.total_fen == 3_000_000 and len(tier.amounts) == 1


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["key"])
def test_every_template_instantiates_as_its_data_says(ctx, template):
    programme = _reload(instantiate(template["key"], 2030).id)
    assert programme.quota == template["quota"] and programme.status == ProgrammeStatus.DRAFT
    assert [t.name for t in programme.project_types] == [t["name"] for t in template["project_types"]]
    assert sorted((m.name, m.due_date) for m in programme.milestones) == sorted(
        (m["name"], date(2030, m["month"], m["day"])) for m in template["milestones"]
    )
    expected = {t["name"]: {a["source"]: a["yuan"] * 100 for a in t["amounts"]} for t in template["tiers"]}
    assert {tier.name: _tier(programme, tier.name) for tier in programme.tiers} == expected


def test_money_stays_integer_fen(ctx):
    programme_id = instantiate("demonstration", YEAR).id
    db.session.expire_all()
    amounts = db.session.scalars(
        sa.select(FundingTierAmount.amount_fen).join(FundingTier).where(FundingTier.programme_id == programme_id)
    ).all()
    assert sorted(amounts) == [3_000_000, 3_000_000, 5_000_000]
    assert all(type(amount) is int for amount in amounts)
    assert all(type(tier.total_fen) is int for tier in _reload(programme_id).tiers)


def test_unknown_template_is_a_key_error(ctx):
    with pytest.raises(KeyError):
        instantiate("no_such_template", YEAR)


def test_instantiating_twice_for_one_year_is_refused(ctx):
    instantiate("demonstration", YEAR)
    with pytest.raises(ValueError, match="SFD") as error:
        instantiate("demonstration", YEAR)
    assert "2024" in str(error.value)
    # The refusal leaves the session usable and the first programme alone.
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Programme).where(Programme.code == "SFD"))
    assert count == 1
    instantiate("demonstration", YEAR + 1)  # another year is fine


def test_instantiate_reuses_the_funding_sources(ctx):
    instantiate("demonstration", YEAR)
    instantiate("governance_project", YEAR)
    names = db.session.scalars(sa.select(FundingSource.name).where(FundingSource.name.in_(FUNDING_SOURCES))).all()
    assert sorted(names) == sorted(["泉州市级财政", "晋江市级财政"])


# --- funding sources ---------------------------------------------------------------------------------------


def test_ensure_funding_sources_creates_the_missing_ones_in_order(ctx):
    existing = funding_source("晋江市级财政")
    sources = ensure_funding_sources()
    assert [source.name for source in sources] == FUNDING_SOURCES
    assert sources[1].id == existing.id
    assert [source.sort_order for source in sources] == sorted(source.sort_order for source in sources)
    assert ensure_funding_sources() == sources  # nothing new the second time
    count = db.session.scalar(
        sa.select(sa.func.count()).select_from(FundingSource).where(FundingSource.name.in_(FUNDING_SOURCES))
    )
    assert count == len(FUNDING_SOURCES)


def test_funding_source_is_get_or_create(ctx):
    first = funding_source("某慈善基金")
    assert first.id is not None
    assert funding_source("某慈善基金") is first
    assert first.sort_order > max(source.sort_order for source in ensure_funding_sources())


# --- copy to the next year ---------------------------------------------------------------------------------


def test_copy_to_next_year(ctx):
    original = instantiate("governance_project", YEAR)
    # A leap day: next year has none, so it becomes 28 February.
    original.milestones.append(
        Milestone(name="闰日检查", kind=MilestoneKind.OTHER, due_date=date(2024, 2, 29), submitter=Submitter.BUREAU)
    )
    db.session.flush()
    original_id = original.id
    before = sorted((m.name, m.due_date) for m in original.milestones)

    copy_id = copy_to_next_year(original).id
    copy = _reload(copy_id)
    original = _reload(original_id)

    assert copy.year == 2025 and copy.name == "2025年晋江市“共建共享”社区治理项目"
    assert copy.status == ProgrammeStatus.DRAFT and copy.copied_from_id == original_id
    for field in ("code", "kind", "quota", "description", "nomination_rule", "nomination_min", "nomination_max"):
        assert getattr(copy, field) == getattr(original, field), field
    assert [(t.name, t.description) for t in copy.project_types] == [
        (t.name, t.description) for t in original.project_types
    ]
    assert {t.id for t in copy.project_types}.isdisjoint(t.id for t in original.project_types)

    moved = {m.name: m.due_date for m in copy.milestones}
    assert moved["闰日检查"] == date(2025, 2, 28)
    assert moved["项目完成"] == date(2025, 11, 30) and moved["项目工作总结报送"] == date(2025, 12, 20)
    assert sorted(moved.items()) == sorted(
        (name, date(2025, day.month, 28 if (day.month, day.day) == (2, 29) else day.day)) for name, day in before
    )
    assert [(m.kind, m.submitter, m.documents) for m in copy.milestones if m.name == "项目完成"] == [
        (m.kind, m.submitter, m.documents) for m in original.milestones if m.name == "项目完成"
    ]

    def tiers(programme):
        return [(t.name, t.sort_order, [(a.source_id, a.amount_fen) for a in t.amounts]) for t in programme.tiers]

    assert tiers(copy) == tiers(original)
    assert {t.id for t in copy.tiers}.isdisjoint(t.id for t in original.tiers)

    # The original is untouched.
    assert original.year == 2024 and original.name == "2024年晋江市“共建共享”社区治理项目"
    assert original.copied_from_id is None
    assert sorted((m.name, m.due_date) for m in original.milestones) == before
    assert len(original.tiers) == 2 and len(original.project_types) == 5


def test_copy_replaces_only_the_year_in_the_name(ctx):
    programme = instantiate("demonstration", YEAR)
    programme.name = "晋江2024示范点（第12024批）"
    db.session.flush()
    assert copy_to_next_year(programme).name == "晋江2025示范点（第12024批）"

    other = instantiate("pilot_by_size", YEAR)
    other.name = "城乡社区议事协商试点"  # no year in the name: kept as it is
    db.session.flush()
    copy_id = copy_to_next_year(other).id
    copy = _reload(copy_id)
    assert copy.name == "城乡社区议事协商试点"
    assert copy.nomination_rule == NominationRule.BY_SIZE and copy.nomination_max is None  # still no upper limit


def test_copy_to_a_year_that_has_the_code_is_refused(ctx):
    programme = instantiate("demonstration", YEAR)
    instantiate("demonstration", YEAR + 1)
    with pytest.raises(ValueError, match="2025"):
        copy_to_next_year(programme)
    # A copy of the copy works, a year later again.
    copy = copy_to_next_year(db.session.scalar(sa.select(Programme).filter_by(year=YEAR + 1, code="SFD")))
    assert copy.year == 2026 and copy.nomination_due == date(2026, 5, 31)
