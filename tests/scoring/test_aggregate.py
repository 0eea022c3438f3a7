"""The arithmetic of evaluation (app/scoring/aggregate.py): means, weights, trimming, the tie rule, rounding.

Every expected value is computed by hand and written as a literal. No app and no database are needed.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from app.scoring.aggregate import SheetTotal, combined_mean, display, heaviest_group, rank, to_decimal

HEAVY = "阵地建设"
WEIGHTS_40_20_40 = {"bureau": 40, "finance": 20, "expert": 40}


@pytest.fixture(autouse=True)
def _transaction():
    """Replaces the conftest fixture of the same name: these tests need no app and no database."""
    yield


def pts(*points) -> list[tuple[str | None, Fraction]]:
    """Scores of evaluators without a group (counted as experts)."""
    return [(None, Fraction(p)) for p in points]


def sheet(evaluator_id: int, total: float, heavy: float = 0, group: str | None = None, vetoed: bool = False):
    """A sheet with ``total`` points, ``heavy`` of them in the heaviest group (points, converted to half points)."""
    return SheetTotal(
        evaluator_id=evaluator_id,
        group=group,
        half_points=int(total * 2),
        group_half_points={HEAVY: int(heavy * 2), "其他": int((total - heavy) * 2)},
        vetoed=vetoed,
    )


def rank_plain(sheets, decisions=None, heaviest=HEAVY, trimmed=False, weights=None):
    return rank(sheets, heaviest=heaviest, trimmed=trimmed, weights=weights, decisions=decisions or {})


def summary(ranked):
    return [(r.application_id, r.position, r.tied, r.decided) for r in ranked]


# --- SheetTotal ---------------------------------------------------------------------------------------------


def test_sheet_points_are_half_points_over_two():
    assert SheetTotal(1, "bureau", 35, {"A": 20}, False).points == Fraction(35, 2)
    assert SheetTotal(1, None, 160, {}, False).points == 80


# --- heaviest_group -----------------------------------------------------------------------------------------


def test_heaviest_group_greatest_base_sum():
    criteria = [("组织领导", 10, "base"), ("阵地建设", 15, "base"), ("组织领导", 3, "base"), ("阵地建设", 5, "base")]
    assert heaviest_group(criteria) == "阵地建设"  # 20 against 13


def test_heaviest_group_tie_goes_to_first_appearing():
    criteria = [("A", 10, "base"), ("B", 15, "base"), ("A", 5, "base")]  # A 15, B 15
    assert heaviest_group(criteria) == "A"
    assert heaviest_group([("B", 15, "base"), ("A", 15, "base")]) == "B"


def test_heaviest_group_ignores_bonus_criteria():
    criteria = [("A", 10, "base"), ("B", 8, "base"), ("B", 50, "bonus"), ("C", 99, "bonus")]
    assert heaviest_group(criteria) == "A"


def test_heaviest_group_none_without_base_criteria():
    assert heaviest_group([]) is None
    assert heaviest_group([("加分", 5, "bonus")]) is None


# --- combined_mean: plain and trimmed -----------------------------------------------------------------------


def test_no_values_no_mean():
    assert combined_mean([], trimmed=False, weights=None) is None
    assert combined_mean([], trimmed=True, weights=WEIGHTS_40_20_40) is None


def test_plain_mean_of_three():
    # 80 + 85.5 + 90 = 255.5; / 3 = 85.1666…
    mean = combined_mean(pts(80, Fraction(171, 2), 90), trimmed=False, weights=None)
    assert mean == Fraction(511, 6)
    assert display(mean) == "85.17"


def test_trimmed_mean_of_five_drops_highest_and_lowest():
    assert combined_mean(pts(70, 80, 85, 90, 100), trimmed=True, weights=None) == 85
    # 60 and 100 dropped: (80 + 85 + 90) / 3 = 85; untrimmed (60 + 80 + 85 + 90 + 100) / 5 = 83.
    assert combined_mean(pts(100, 60, 85, 90, 80), trimmed=True, weights=None) == 85
    assert combined_mean(pts(100, 60, 85, 90, 80), trimmed=False, weights=None) == 83


def test_trimmed_mean_drops_only_one_of_equal_extremes():
    # One 80 and one 100 dropped: (80 + 90 + 100) / 3 = 90.
    assert combined_mean(pts(80, 80, 90, 100, 100), trimmed=True, weights=None) == 90


def test_trimmed_mean_of_four_is_not_trimmed():
    # (60 + 80 + 90 + 100) / 4 = 82.5
    assert combined_mean(pts(60, 80, 90, 100), trimmed=True, weights=None) == Fraction(165, 2)


# --- combined_mean: weights ---------------------------------------------------------------------------------


def test_weighted_40_20_40():
    values = [
        ("bureau", Fraction(80)), ("bureau", Fraction(90)),  # 85
        ("finance", Fraction(70)),  # 70
        ("expert", Fraction(90)), ("expert", Fraction(95)), (None, Fraction(96)),  # 281/3 = 93.666…
    ]
    # (40 × 85 + 20 × 70 + 40 × 281/3) / 100 = (3400 + 1400 + 11240/3) / 100 = 25640/300 = 85.4666…
    mean = combined_mean(values, trimmed=False, weights=WEIGHTS_40_20_40)
    assert mean == Fraction(1282, 15)
    assert display(mean) == "85.47"
    # The plain mean would be 521 / 6 = 86.8333…
    assert combined_mean(values, trimmed=False, weights=None) == Fraction(521, 6)


def test_weighted_group_missing_renormalises():
    values = [("finance", Fraction(70)), ("expert", Fraction(90)), ("expert", Fraction(100))]  # finance 70, expert 95
    # No bureau: (20 × 70 + 40 × 95) / 60 = 5200 / 60 = 86.666…
    assert combined_mean(values, trimmed=False, weights=WEIGHTS_40_20_40) == Fraction(260, 3)


def test_group_with_weight_zero_is_ignored():
    values = [("bureau", Fraction(10)), ("finance", Fraction(80)), ("expert", Fraction(90))]
    assert combined_mean(values, trimmed=False, weights={"bureau": 0, "finance": 50, "expert": 50}) == 85
    assert combined_mean(values, trimmed=False, weights={"bureau": None, "finance": 50, "expert": 50}) == 85


def test_all_zero_or_empty_weights_fall_back_to_plain_mean():
    values = [("bureau", Fraction(10)), ("finance", Fraction(80)), ("expert", Fraction(90))]  # plain 60
    assert combined_mean(values, trimmed=False, weights={"bureau": 0, "finance": 0, "expert": 0}) == 60
    assert combined_mean(values, trimmed=False, weights={"bureau": None, "finance": None, "expert": None}) == 60
    assert combined_mean(values, trimmed=False, weights={}) == 60
    assert combined_mean(values, trimmed=False, weights=None) == 60


def test_no_present_group_weighted_falls_back_to_plain_mean():
    values = [("finance", Fraction(70)), ("expert", Fraction(80)), (None, Fraction(90))]
    # Only the bureau is weighted and no bureau evaluator scored: (70 + 80 + 90) / 3 = 80.
    assert combined_mean(values, trimmed=False, weights={"bureau": 100, "finance": 0, "expert": None}) == 80


def test_trimmed_inside_a_weighted_group_of_five():
    values = [("bureau", Fraction(60))] + [("expert", Fraction(p)) for p in (50, 80, 85, 90, 90)]
    weights = {"bureau": 50, "finance": None, "expert": 50}
    # Experts trimmed: (80 + 85 + 90) / 3 = 85; (50 × 60 + 50 × 85) / 100 = 72.5
    assert combined_mean(values, trimmed=True, weights=weights) == Fraction(145, 2)
    # Untrimmed experts: 395 / 5 = 79; (60 + 79) / 2 = 69.5
    assert combined_mean(values, trimmed=False, weights=weights) == Fraction(139, 2)


def test_weighted_groups_under_five_are_not_trimmed_even_with_five_overall():
    values = [("bureau", Fraction(p)) for p in (60, 70, 80)] + [("expert", Fraction(p)) for p in (90, 100)]
    # bureau 70, expert 95, both untrimmed: (50 × 70 + 50 × 95) / 100 = 82.5
    assert combined_mean(values, trimmed=True, weights={"bureau": 50, "expert": 50}) == Fraction(165, 2)
    # The plain trimmed mean over all five would drop 60 and 100: (70 + 80 + 90) / 3 = 80
    assert combined_mean(values, trimmed=True, weights=None) == 80


# --- rank -----------------------------------------------------------------------------------------------------


def test_higher_mean_first_with_values():
    ranked = rank_plain({1: [sheet(1, 80), sheet(2, 85.5), sheet(3, 90)], 2: [sheet(1, 90), sheet(2, 91)]})
    assert [(r.application_id, r.position, r.evaluators) for r in ranked] == [(2, 1, 2), (1, 2, 3)]
    assert ranked[0].mean == Fraction(181, 2)
    assert ranked[1].mean == Fraction(511, 6)
    assert not any(r.tied or r.decided or r.vetoed for r in ranked)


def test_tie_broken_by_heaviest_group():
    sheets = {
        1: [sheet(1, 80, heavy=30), sheet(2, 90, heavy=30)],  # mean 85, heavy 30
        2: [sheet(1, 85, heavy=35), sheet(2, 85, heavy=31)],  # mean 85, heavy 33
    }
    ranked = rank_plain(sheets)
    assert summary(ranked) == [(2, 1, False, False), (1, 2, False, False)]
    assert [r.tiebreak for r in ranked] == [33, 30]


def test_still_tied_share_the_position():
    sheets = {
        1: [sheet(1, 80, heavy=30), sheet(2, 90, heavy=30)],  # 85 / 30
        2: [sheet(1, 85, heavy=25), sheet(2, 85, heavy=35)],  # 85 / 30
        3: [sheet(1, 80, heavy=40)],  # 80
    }
    assert summary(rank_plain(sheets)) == [(1, 1, True, False), (2, 1, True, False), (3, 3, False, False)]


def test_bureau_decision_separates_tied():
    sheets = {
        1: [sheet(1, 80, heavy=30), sheet(2, 90, heavy=30)],
        2: [sheet(1, 85, heavy=25), sheet(2, 85, heavy=35)],
    }
    ranked = rank_plain(sheets, decisions={2: 1, 1: 2})
    assert summary(ranked) == [(2, 1, False, True), (1, 2, False, True)]


def test_decided_before_undecided_and_the_rest_stay_tied():
    level = [sheet(1, 85, heavy=30)]
    sheets = {1: list(level), 2: list(level), 3: list(level), 4: [sheet(1, 70, heavy=30)]}
    ranked = rank_plain(sheets, decisions={3: 5})
    assert summary(ranked) == [(3, 1, False, True), (1, 2, True, False), (2, 2, True, False), (4, 4, False, False)]


def test_same_priority_stays_tied():
    level = [sheet(1, 85, heavy=30)]
    ranked = rank_plain({1: list(level), 2: list(level)}, decisions={1: 1, 2: 1})
    assert summary(ranked) == [(1, 1, True, False), (2, 1, True, False)]


def test_decision_without_a_tie_has_no_effect():
    sheets = {1: [sheet(1, 90, heavy=30)], 2: [sheet(1, 80, heavy=30)]}
    ranked = rank_plain(sheets, decisions={2: 1})
    assert summary(ranked) == [(1, 1, False, False), (2, 2, False, False)]


def test_competition_ranking_1_2_2_4():
    sheets = {
        13: [sheet(1, 80, heavy=20)],
        12: [sheet(1, 85, heavy=20)],
        10: [sheet(1, 90, heavy=20)],
        11: [sheet(1, 85, heavy=20)],
    }
    ranked = rank_plain(sheets)
    assert [(r.application_id, r.position) for r in ranked] == [(10, 1), (11, 2), (12, 2), (13, 4)]
    assert [r.tied for r in ranked] == [False, True, True, False]


def test_vetoed_and_unscored_after_the_ranked():
    sheets = {
        5: [sheet(1, 99, heavy=30), sheet(2, 98, heavy=30, vetoed=True)],
        3: [],
        4: [sheet(1, 60, heavy=20)],
        1: [sheet(1, 70, heavy=20, vetoed=True)],
        2: [],
        6: [sheet(1, 65, heavy=20)],
    }
    ranked = rank_plain(sheets)
    assert [(r.application_id, r.position, r.vetoed) for r in ranked] == [
        (6, 1, False), (4, 2, False), (1, None, True), (5, None, True), (2, None, False), (3, None, False),
    ]
    assert ranked[3].mean == Fraction(197, 2)  # vetoed: still computed, for information
    assert [(r.mean, r.tiebreak, r.evaluators) for r in ranked[4:]] == [(None, None, 0), (None, None, 0)]


def test_rank_uses_weights_and_the_same_rules_for_the_tiebreak():
    sheets = {
        1: [sheet(1, 90, heavy=40, group="bureau"), sheet(2, 70, heavy=20, group="expert")],
        2: [sheet(1, 70, heavy=10, group="bureau")] + [sheet(i, 95, heavy=30, group="expert") for i in (2, 3, 4)],
    }
    weights = {"bureau": 80, "finance": None, "expert": 20}
    # 1: 0.8 × 90 + 0.2 × 70 = 86; 2: 0.8 × 70 + 0.2 × 95 = 75
    weighted = rank_plain(sheets, weights=weights)
    assert [(r.application_id, r.mean) for r in weighted] == [(1, 86), (2, 75)]
    # tiebreak 1: 0.8 × 40 + 0.2 × 20 = 36; 2: 0.8 × 10 + 0.2 × 30 = 14
    assert [r.tiebreak for r in weighted] == [36, 14]
    # Plain: 1: 80; 2: (70 + 3 × 95) / 4 = 88.75
    plain = rank_plain(sheets)
    assert [(r.application_id, r.mean) for r in plain] == [(2, Fraction(355, 4)), (1, 80)]


def test_rank_without_heaviest_group_has_no_tiebreak():
    level = [sheet(1, 85, heavy=30)]
    ranked = rank_plain({1: list(level), 2: [sheet(1, 85, heavy=10)]}, heaviest=None)
    assert [(r.application_id, r.tiebreak, r.position, r.tied) for r in ranked] == [
        (1, None, 1, True), (2, None, 1, True),
    ]


def test_rank_trimmed():
    sheets = {
        1: [sheet(i, p, heavy=20) for i, p in enumerate((60, 80, 85, 90, 100))],  # trimmed 85, plain 83
        2: [sheet(1, 84, heavy=20)],
    }
    assert [r.application_id for r in rank_plain(sheets, trimmed=True)] == [1, 2]
    assert [r.application_id for r in rank_plain(sheets, trimmed=False)] == [2, 1]


# --- display and to_decimal ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "places", "text"),
    [
        (Fraction(1, 8), 2, "0.13"),  # half up, not half even (0.12)
        (Fraction(5, 8), 2, "0.63"),
        (Fraction(1, 8), 1, "0.1"),
        (Fraction(1, 200), 2, "0.01"),
        (Fraction(262, 3), 2, "87.33"),
        (Fraction(511, 6), 2, "85.17"),
        (Fraction(85), 2, "85.00"),
        (85, 2, "85.00"),
        (Fraction(5, 2), 0, "3"),
        (Fraction(199999, 2000), 2, "100.00"),  # 99.9995
        (Fraction(0), 2, "0.00"),
    ],
)
def test_display_rounds_half_up(points, places, text):
    assert display(points, places) == text


def test_display_none_is_empty():
    assert display(None) == ""


def test_to_decimal_quantized_half_up():
    assert to_decimal(Fraction(1, 8)) == Decimal("0.13")
    assert str(to_decimal(Fraction(1, 8))) == "0.13"
    assert str(to_decimal(Fraction(85))) == "85.00"
    assert str(to_decimal(Fraction(511, 6))) == "85.17"
