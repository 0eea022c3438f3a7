"""The arithmetic of evaluation: sheet totals, means, the tie rule and the ranking. Pure Python, exact.

Scores arrive as integer half points (17.5 points is 35); everything here is computed with
``fractions.Fraction`` and only rounded for display (half up, see ``display`` and ``to_decimal``).

Evaluator groups are the ``EvaluatorGroup`` values "bureau", "finance" and "expert"; an evaluator without a
group (None) counts as "expert".

The mean of a list of scores (``combined_mean``; used for the application's mean and for its tie-break):

- No scores: no mean (None).
- Trimming: when the programme uses the trimmed mean and a list has at least 5 scores, ONE highest and ONE
  lowest score are dropped before averaging (one of each even when several scores are equal). Fewer than 5
  scores are never trimmed.
- Without weights (no weights given, or every weight empty or 0): the plain mean over all evaluators, trimmed
  over all of them as above.
- With weights (percent per evaluator group): the mean of each group that has scores (trimmed within that
  group, so only a group of at least 5 evaluators is trimmed), then
  Σ(weight_g × mean_g) / Σ(weight_g) over the groups that have scores AND a weight > 0. A group with weight 0
  or empty is ignored; a weighted group without scores is left out and the others are renormalised (the
  weights need not add up to 100). If no group with scores has a weight > 0, the plain (optionally trimmed)
  mean over all evaluators is used instead.

The ranking (``rank``):

- An application's mean is the mean above of its sheets' totals (base criteria + bonus items). Its
  tie-break is the mean, by the same rules, of its sheets' subtotals for the heaviest criterion group (the
  group with the most base points, the first one on a tie; a sheet without scores in that group counts 0).
- Ranked first: the applications with at least one sheet and no veto, by mean (highest first), then
  tie-break (highest first). Applications still level on both are ordered by the bureau's recorded decision
  (lower priority number first; undecided after decided), then by application id for a stable order. A decision
  applies only among applications level on mean and tie-break: elsewhere it has no effect.
- Positions are 1-based competition ranking (1, 2, 2, 4): applications level on mean and tie-break and not
  separated by different decision priorities (both undecided, or the same priority) share the position and
  are marked ``tied``. ``decided`` marks an application whose decision separated it from another one level
  with it on mean and tie-break (two level applications with the same priority stay tied, not decided).
- Then the applications with a veto (any sheet vetoed): no position, ``vetoed``; their mean and tie-break
  are still computed, for information. Then the applications without any sheet (no mean, no position).
  Each of these two lists is ordered by application id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

DEFAULT_GROUP = "expert"
TRIM_FROM = 5  # a list of at least this many scores loses its highest and its lowest


@dataclass(frozen=True)
class SheetTotal:
    """One submitted sheet, summed up."""

    evaluator_id: int
    group: str | None  # the evaluator's group ("bureau", "finance", "expert"); None counts as "expert"
    half_points: int  # base criteria + bonus items
    group_half_points: Mapping[str, int]  # subtotal per criterion group, base criteria only
    vetoed: bool = False

    @property
    def points(self) -> Fraction:
        return Fraction(self.half_points, 2)

    def group_points(self, group_name: str) -> Fraction:
        return Fraction(self.group_half_points.get(group_name, 0), 2)


def heaviest_group(criteria: Sequence[tuple[str, int, str]]) -> str | None:
    """The criterion group with the most base points; the first to appear on a tie; None without base criteria.

    ``criteria`` are (group name, max points, kind "base"/"bonus") in sheet order.
    """
    totals: dict[str, int] = {}  # insertion order is the order of appearance
    for group_name, max_points, kind in criteria:
        if kind == "base":
            totals[group_name] = totals.get(group_name, 0) + max_points
    best: str | None = None
    for group_name, total in totals.items():
        if best is None or total > totals[best]:
            best = group_name
    return best


def _mean(numerators: Sequence[int], denominator: int, trimmed: bool) -> Fraction:
    """The (optionally trimmed) mean of the scores numerator / denominator, all over one denominator: integer
    arithmetic, and exactly the mean of the scores as Fractions (the integers sort as the scores do)."""
    ordered = sorted(numerators)
    if trimmed and len(ordered) >= TRIM_FROM:
        ordered = ordered[1:-1]
    return Fraction(sum(ordered), denominator * len(ordered))


def _combined(
    values: Sequence[tuple[str | None, int]],
    denominator: int,
    *,
    trimmed: bool,
    weights: Mapping[str, int | None] | None,
) -> Fraction | None:
    """:func:`combined_mean` of (evaluator group, numerator) pairs whose scores are numerator / denominator."""
    if not values:
        return None
    if weights and any((weight or 0) > 0 for weight in weights.values()):
        by_group: dict[str, list[int]] = {}
        for group, numerator in values:
            by_group.setdefault(group or DEFAULT_GROUP, []).append(numerator)
        weighted = [
            (weights[group], _mean(group_scores, denominator, trimmed))
            for group, group_scores in by_group.items()
            if (weights.get(group) or 0) > 0
        ]
        if weighted:
            return sum((weight * mean for weight, mean in weighted), Fraction(0)) / sum(w for w, _ in weighted)
    return _mean([numerator for _, numerator in values], denominator, trimmed)


def combined_mean(
    values: Sequence[tuple[str | None, Fraction]],
    *,
    trimmed: bool,
    weights: Mapping[str, int | None] | None,
) -> Fraction | None:
    """The mean of (evaluator group, score) pairs by the rules in the module docstring."""
    if not values:
        return None
    scores = [(group, score if isinstance(score, Fraction) else Fraction(score)) for group, score in values]
    denominator = math.lcm(*(score.denominator for _, score in scores))
    return _combined([(group, score.numerator * (denominator // score.denominator)) for group, score in scores],
                     denominator, trimmed=trimmed, weights=weights)


@dataclass
class Ranked:
    application_id: int
    mean: Fraction | None
    tiebreak: Fraction | None  # the mean of the heaviest group's subtotals
    evaluators: int
    vetoed: bool = False
    position: int | None = None
    tied: bool = False  # level with a neighbour on mean and tie-break, not separated by a decision
    decided: bool = False  # a bureau decision placed it among applications level with it


def rank(
    sheets_by_application: Mapping[int, Sequence[SheetTotal]],
    *,
    heaviest: str | None,
    trimmed: bool,
    weights: Mapping[str, int | None] | None,
    decisions: Mapping[int, int],
) -> list[Ranked]:
    """Every application, ranked ones first, by the rules in the module docstring."""
    scored: list[Ranked] = []
    vetoed: list[Ranked] = []
    unscored: list[Ranked] = []
    for application_id, sheets in sheets_by_application.items():
        if not sheets:
            unscored.append(Ranked(application_id, None, None, 0))
            continue
        # Sheets are in half points: the means are taken on the integers over the denominator 2.
        mean = _combined([(s.group, s.half_points) for s in sheets], 2, trimmed=trimmed, weights=weights)
        tiebreak = None
        if heaviest is not None:
            tiebreak = _combined(
                [(s.group, s.group_half_points.get(heaviest, 0)) for s in sheets], 2, trimmed=trimmed,
                weights=weights,
            )
        ranked = Ranked(application_id, mean, tiebreak, len(sheets))
        if any(s.vetoed for s in sheets):
            ranked.vetoed = True
            vetoed.append(ranked)
        else:
            scored.append(ranked)

    # Means and tie-breaks compared as integers over their common denominator: the same order and the same
    # equalities as the Fractions, without a Fraction comparison per step of the sort.
    common = math.lcm(*{r.mean.denominator for r in scored},
                      *{r.tiebreak.denominator for r in scored if r.tiebreak is not None})

    def scaled(value: Fraction) -> int:
        return value.numerator * (common // value.denominator)

    levels = {id(r): (scaled(r.mean), None if r.tiebreak is None else scaled(r.tiebreak)) for r in scored}

    def order(r: Ranked) -> tuple:
        decided = r.application_id in decisions
        mean, tiebreak = levels[id(r)]
        return (
            -mean,
            tiebreak is None,
            -(tiebreak or 0),
            not decided,
            decisions.get(r.application_id, 0),
            r.application_id,
        )

    scored.sort(key=order)
    # Level groups: consecutive applications with the same mean and tie-break.
    i = 0
    while i < len(scored):
        j = i
        while j < len(scored) and levels[id(scored[j])] == levels[id(scored[i])]:
            j += 1
        group = scored[i:j]
        # Within a level group, sub-groups share a decision priority (None: undecided).
        k = 0
        while k < len(group):
            priority = decisions.get(group[k].application_id)
            m = k
            while m < len(group) and decisions.get(group[m].application_id) == priority:
                m += 1
            for r in group[k:m]:
                r.position = i + k + 1
                r.tied = m - k > 1
                r.decided = priority is not None and m - k < len(group)
            k = m
        i = j

    vetoed.sort(key=lambda r: r.application_id)
    unscored.sort(key=lambda r: r.application_id)
    return scored + vetoed + unscored


def _rounded(points: Fraction | int, places: int) -> tuple[bool, int]:
    """(negative, |points| × 10^places rounded half up to an integer)."""
    if places < 0:
        raise ValueError("places must not be negative")
    value = Fraction(points)
    scaled = abs(value) * 10**places
    return value < 0, int(scaled + Fraction(1, 2))  # int() truncates: floor for a non-negative number


def display(points: Fraction | int | None, places: int = 2) -> str:
    """Decimal text rounded half up ("87.33"); "" for None."""
    if points is None:
        return ""
    negative, n = _rounded(points, places)
    sign = "-" if negative and n else ""
    if places == 0:
        return f"{sign}{n}"
    whole, fraction = divmod(n, 10**places)
    return f"{sign}{whole}.{fraction:0{places}d}"


def to_decimal(points: Fraction | int) -> Decimal:
    """The points as a Decimal quantized to 0.01 (rounded half up), for spreadsheets."""
    return Decimal(display(points, 2))
