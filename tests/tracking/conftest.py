"""Fixtures for the tracking tests."""

from __future__ import annotations

import pytest

from app.extensions import db


@pytest.fixture
def scoring_flow_users(app, make_user, make_programme, places):
    """A returned application (its township user notified) and an assignment (its evaluator notified)."""
    from app.accounts.models import User
    from app.applications import operations as applications
    from app.applications.models import Application, ApplicationStatus
    from app.scoring import operations as scoring

    township_user = make_user("township")
    evaluator = make_user("evaluator")
    programme_id = make_programme()
    with app.app_context():
        submitted = Application(programme_id=programme_id, township_id=places.anhai,
                                community_id=places.anhai_community, sequence=1, reference="NT-1",
                                status=ApplicationStatus.SUBMITTED)
        accepted = Application(programme_id=programme_id, township_id=places.cizao,
                               community_id=places.cizao_community, sequence=1, reference="NT-2",
                               status=ApplicationStatus.ACCEPTED)
        db.session.add_all([submitted, accepted])
        db.session.flush()
        applications.transition(submitted, ApplicationStatus.RETURNED, None, reason="请补充材料")
        scoring.assign(accepted, db.session.get(User, evaluator), None)
        db.session.commit()
    return township_user, evaluator
