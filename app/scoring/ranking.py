"""The ranking of a programme's accepted applications, from the submitted sheets (a few queries, any size)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache

import sqlalchemy as sa

from app.accounts.models import EvaluatorGroup, User
from app.applications.models import Application, ApplicationStatus
from app.extensions import db
from app.places.models import Community, Township
from app.programmes.models import Programme
from app.scoring.aggregate import Ranked, SheetTotal, display, heaviest_group, rank
from app.scoring.models import Assignment, Score, SheetStatus, TieDecision
from app.statements import Mark, Remembered, changes_mark, select_rows


@dataclass
class RankingRow:
    ranked: Ranked
    application: Application
    sheets: list[SheetTotal]


def weights_of(programme: Programme) -> dict[str, int | None]:
    return {"bureau": programme.weight_bureau, "finance": programme.weight_finance, "expert": programme.weight_expert}


def submitted_sheets(programme: Programme) -> dict[int, list[SheetTotal]]:
    """{application id: one SheetTotal per submitted sheet} for the programme's applications, summed in SQL (one
    row per sheet, whatever the number of criteria; the sums read only the index on scores). A SheetTotal's
    ``group_half_points`` holds the subtotal of the heaviest criterion group only (all the tie-break reads)."""
    heaviest = heaviest_group([(c.group_name, c.max_points, c.kind.value) for c in programme.criteria])
    heavy_ids = [c.id for c in programme.criteria if c.kind.value == "base" and c.group_name == heaviest]
    of_sheet = Score.assignment_id == Assignment.id
    total = sa.select(sa.func.sum(Score.half_points)).where(of_sheet).scalar_subquery()
    heavy = (sa.select(sa.func.sum(Score.half_points)).where(of_sheet, Score.criterion_id.in_(heavy_ids))
             .scalar_subquery() if heavy_ids else sa.null())
    rows = db.session.execute(
        sa.select(Assignment.application_id, Assignment.evaluator_id,
                  sa.cast(Assignment.veto_ids, sa.String).not_in(["[]", "null"]),  # any veto, without decoding
                  sa.type_coerce(User.evaluator_group, sa.String), total, heavy)
        .join(Assignment.application)
        .join(User, User.id == Assignment.evaluator_id)
        .where(Application.programme_id == programme.id, Assignment.status == SheetStatus.SUBMITTED)
        .order_by(Assignment.id)
    ).all()
    result: dict[int, list[SheetTotal]] = defaultdict(list)
    for application_id, evaluator_id, vetoed, group, total_half, heavy_half in rows:
        result[application_id].append(SheetTotal(
            evaluator_id=evaluator_id, group=group, half_points=int(total_half or 0),
            group_half_points={heaviest: int(heavy_half or 0)} if heaviest is not None and total_half is not None
            else {},
            vetoed=bool(vetoed)))
    return result


@dataclass
class RememberedRanking:
    """A programme's ranking as remembered (see :func:`ranked`); nothing in it may be changed by its users."""

    order: list[Ranked]
    sheets: dict[int, list[SheetTotal]]
    _texts: dict[int, tuple[str, str]] = field(default_factory=dict)
    _tied: list[int] | None = None

    def texts(self, row: Ranked) -> tuple[str, str]:
        """The row's mean and tie-break as shown (:func:`display`), written once per ranking."""
        text = self._texts.get(row.application_id)
        if text is None:
            text = self._texts[row.application_id] = (display(row.mean), display(row.tiebreak))
        return text

    @property
    def tied(self) -> list[int]:
        """The applications still level (ids, in ranking order)."""
        if self._tied is None:
            self._tied = [r.application_id for r in self.order if r.tied]
        return self._tied


# Ranked programmes, per process, under (programme id, inputs fingerprint).
_RANKED = Remembered(kept=32)


@cache
def _fingerprint_statement() -> sa.Select:
    """See :func:`inputs_fingerprint`. Built once: the statement, and with it SQLAlchemy's cache key, serves every
    request."""
    programme_id = sa.bindparam("programme")
    of_programme = Application.programme_id == programme_id
    group_code = sa.case((User.evaluator_group == EvaluatorGroup.BUREAU, 1),
                         (User.evaluator_group == EvaluatorGroup.FINANCE, 2),
                         (User.evaluator_group == EvaluatorGroup.EXPERT, 3), else_=0)
    # Any change to a sheet (its status, its submission, its evaluator) raises its version.
    sheets = (sa.select(sa.func.count(Assignment.id), sa.func.sum(Assignment.id * Assignment.version))
              .join(Application, Application.id == Assignment.application_id).where(of_programme))
    # Every evaluator's group, rather than the group of each sheet's evaluator: a few hundred users instead of a
    # join per sheet (a change of any evaluator's group only ranks again).
    groups = sa.select(sa.func.sum(User.id * group_code)).where(User.evaluator_group.is_not(None))
    accepted = (sa.select(sa.func.count(Application.id), sa.func.sum(Application.id))
                .where(of_programme, Application.status == ApplicationStatus.ACCEPTED))
    ties = (sa.select(sa.func.count(TieDecision.id),
                      sa.func.sum(TieDecision.application_id * (TieDecision.priority + 1)),
                      sa.func.max(TieDecision.decided_at))
            .where(TieDecision.programme_id == programme_id))
    # One-row aggregates side by side: one statement.
    parts = [part.subquery() for part in (sheets, groups, accepted, ties)]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.join(part, sa.true())
    return sa.select(*parts).select_from(joined)


def inputs_fingerprint(programme: Programme) -> tuple:
    """What the ranking is made of, summarised by one query over indexed rows: the programme's sheets (a sheet's
    version rises with every change to it, and its scores change only while it is not submitted, which changes the
    sheet), the evaluators' groups, the accepted applications and the tie decisions; and the programme's rules.
    Two states with the same fingerprint rank the same, so a ranking computed once serves until any input changes
    (about 150 ms of work at province scale, where a programme has some 1,900 applications and 9,500 sheets)."""
    state = tuple(select_rows(_fingerprint_statement(), programme=programme.id)[0])
    rules = (tuple(weights_of(programme).items()), programme.use_trimmed_mean,
             tuple((c.id, c.group_name, c.max_points, c.kind.value) for c in programme.criteria))
    return state + rules


# Above the inputs' fingerprint: the ranking under the audit log's largest id (app.statements.changes_mark), so that
# a view with no change at all since the last reads one index entry instead of the fingerprint's aggregates over
# the programme's sheets (9,500 at province scale). After any change the fingerprint decides whether to rank again.
_RANKED_UNCHANGED = Remembered(kept=32)


def remembered(programme: Programme, mark: Mark = None) -> RememberedRanking:
    """The programme's ranking, remembered while nothing changes, then while its inputs stay the same (see
    :func:`inputs_fingerprint`); a session with writes of its own not yet committed ranks afresh and keeps
    nothing. ``mark``: :func:`changes_mark`, where the caller has read it already."""

    def by_inputs() -> RememberedRanking:
        return _RANKED.get((programme.id, inputs_fingerprint(programme)),
                           lambda: RememberedRanking(*_compute_ranked(programme)))

    return _RANKED_UNCHANGED.get((programme.id, changes_mark() if mark is None else mark), by_inputs)


def ranked(programme: Programme) -> tuple[list[Ranked], dict[int, list[SheetTotal]]]:
    """The ranking of the accepted applications (ids only) and their sheets, remembered while its inputs stay the
    same (see :func:`inputs_fingerprint`); callers must not change what it returns."""
    found = remembered(programme)
    return found.order, found.sheets


def _compute_ranked(programme: Programme) -> tuple[list[Ranked], dict[int, list[SheetTotal]]]:
    """Three queries, no Application loaded."""
    accepted = db.session.scalars(
        sa.select(Application.id)
        .where(Application.programme_id == programme.id, Application.status == ApplicationStatus.ACCEPTED)
    ).all()
    sheets = submitted_sheets(programme)
    by_application = {application_id: sheets.get(application_id, []) for application_id in accepted}
    decisions = dict(
        db.session.execute(
            sa.select(TieDecision.application_id, TieDecision.priority).where(TieDecision.programme_id == programme.id)
        ).tuples().all()
    )
    heaviest = heaviest_group([(c.group_name, c.max_points, c.kind.value) for c in programme.criteria])
    order = rank(by_application, heaviest=heaviest, trimmed=programme.use_trimmed_mean,
                 weights=weights_of(programme), decisions=decisions)
    return order, by_application


def application_labels(ids) -> dict[int, sa.Row]:
    """{id: (id, reference, township, community)} — the names a ranking row shows — in one query."""
    ids = list(ids)
    if not ids:
        return {}
    return {row.id: row for row in select_rows(_labels_statement(), ids=ids)}


def tie_labels(ids) -> dict[int, str]:
    """{id: "reference community"} — how the tie form names an application — in one query."""
    return {id_: f"{reference} {community}" for id_, reference, community in select_rows(
        _tie_labels_statement(), ids=list(ids))}


@cache
def _tie_labels_statement() -> sa.Select:
    return (sa.select(Application.id, Application.reference, Community.name)
            .join(Community, Community.id == Application.community_id)
            .where(Application.id.in_(sa.bindparam("ids", expanding=True))))


@cache
def _labels_statement() -> sa.Select:
    return (sa.select(Application.id, Application.reference, Township.name.label("township"),
                      Community.name.label("community"))
            .join(Township, Township.id == Application.township_id)
            .join(Community, Community.id == Application.community_id)
            .where(Application.id.in_(sa.bindparam("ids", expanding=True))))


def programme_ranking(programme: Programme) -> list[RankingRow]:
    order, by_application = ranked(programme)
    applications = {
        a.id: a
        for a in db.session.scalars(
            sa.select(Application)
            .where(Application.programme_id == programme.id, Application.status == ApplicationStatus.ACCEPTED)
            .options(sa.orm.joinedload(Application.community), sa.orm.joinedload(Application.township))
        )
    }
    return [RankingRow(r, applications[r.application_id], by_application[r.application_id]) for r in order]
