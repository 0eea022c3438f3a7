"""The ranking is remembered per process while its inputs stay the same (app/scoring/ranking.py): every input that
can change the order makes it computed again, and an unchanged state is served without recomputing."""

from __future__ import annotations

from app.accounts.models import EvaluatorGroup, User
from app.applications.models import Application, ApplicationStatus
from app.extensions import db
from app.programmes.models import Programme
from app.scoring import operations, ranking
from app.scoring.models import Assignment
from tests.scoring.test_selection import _ranking, _score


def _computations(monkeypatch) -> list[int]:
    calls: list[int] = []
    compute = ranking._compute_ranked

    def counting(programme):
        calls.append(programme.id)
        return compute(programme)

    monkeypatch.setattr(ranking, "_compute_ranked", counting)
    return calls


def test_unchanged_inputs_are_not_ranked_again(app, scoring, monkeypatch):
    _score(app, scoring, {(1, 0): (40, 20, 40, 0), (2, 0): (30, 15, 30, 0)})
    calls = _computations(monkeypatch)
    first = _ranking(app, scoring)
    assert _ranking(app, scoring) == first
    assert len(calls) == 1


def test_every_input_of_the_order_ranks_again(app, scoring, monkeypatch):
    _score(app, scoring, {(1, 0): (40, 20, 40, 0), (1, 1): (20, 10, 20, 0),   # bureau 100, finance 50
                          (2, 0): (30, 15, 30, 0), (2, 1): (35, 15, 35, 0)})  # bureau 75, finance 85
    calls = _computations(monkeypatch)
    assert [r[:3] for r in _ranking(app, scoring)[:2]] == [("T-3", 1, "80.00"), ("T-2", 2, "75.00")]

    # The programme's weights.
    with app.app_context():
        programme = db.session.get(Programme, scoring.programme)
        programme.weight_bureau, programme.weight_finance = 80, 20
        db.session.commit()
    assert [r[:3] for r in _ranking(app, scoring)[:2]] == [("T-2", 1, "90.00"), ("T-3", 2, "77.00")]

    # An evaluator's group (the bureau evaluator counted as finance: both groups' sheets now average together).
    with app.app_context():
        db.session.get(User, scoring.evaluators[0]).evaluator_group = EvaluatorGroup.FINANCE
        db.session.commit()
    assert [r[:3] for r in _ranking(app, scoring)[:2]] == [("T-3", 1, "80.00"), ("T-2", 2, "75.00")]

    # A sheet reopened and submitted again with other scores.
    with app.app_context():
        assignment = db.session.query(Assignment).filter_by(application_id=scoring.applications[2],
                                                            evaluator_id=scoring.evaluators[1]).one()
        operations.reopen_sheet(assignment, "复核")
        db.session.commit()
        half = dict(zip(scoring.criteria, (10, 10, 10, 0), strict=True))
        operations.save_sheet(assignment, half, [], "")
        operations.submit_sheet(assignment)
        db.session.commit()
    assert [r[:3] for r in _ranking(app, scoring)[:2]] == [("T-2", 1, "75.00"), ("T-3", 2, "45.00")]  # (75 + 15) / 2

    # An application no longer accepted.
    with app.app_context():
        db.session.get(Application, scoring.applications[1]).status = ApplicationStatus.WITHDRAWN
        db.session.commit()
    assert [r[0] for r in _ranking(app, scoring)] == ["T-3", "T-1"]
    assert len(calls) == 5


def test_a_session_with_uncommitted_writes_neither_reads_nor_fills_the_memo(app, scoring, monkeypatch):
    _score(app, scoring, {(1, 0): (40, 20, 40, 0), (2, 0): (30, 15, 30, 0)})
    calls = _computations(monkeypatch)
    with app.app_context():
        programme = db.session.get(Programme, scoring.programme)
        remembered = ranking.remembered(programme)
        assert ranking.remembered(programme) is remembered and len(calls) == 1
        # A change not committed (flushed by the read itself): its ranking is its own, computed each time and kept by
        # no one (after a rollback, SQLite can give the same ids, and so the same fingerprint, to other data).
        programme.weight_bureau, programme.weight_finance = 80, 20
        assert ranking.remembered(programme) is not ranking.remembered(programme) and len(calls) == 3
        db.session.rollback()
        assert ranking.remembered(db.session.get(Programme, scoring.programme)) is remembered and len(calls) == 3
