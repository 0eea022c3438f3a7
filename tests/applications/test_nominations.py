"""Nominating: the township's own communities, within its limit, before its deadline, never twice."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.applications import operations
from app.applications.models import Application, ApplicationStatus
from app.audit.models import AuditAction, AuditLog
from app.extensions import db
from app.programmes.models import NominationRule, Programme
from app.programmes.operations import Allowance, allowance, township_sizes
from tests.applications.helpers import applications, communities_of, nominate, township_id


def test_township_nominates_its_own_community(app, client, login_as, make_programme, places):
    user_id = login_as("township")  # 安海镇
    programme_id = make_programme(year=2031)
    community = communities_of(app, places.anhai, 1)[0]
    response = nominate(client, programme_id, community)
    assert response.status_code == 302 and "/edit" in response.headers["Location"]
    [application] = applications(app, programme_id)
    assert application.reference == "2031-SFD-ANHAI-01"
    assert application.status == ApplicationStatus.DRAFT and application.community_id == community
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.object_type == "Application"))
        assert entry.action == AuditAction.INSERT and entry.actor_id == user_id


def test_another_townships_community_is_refused_at_the_field(app, client, login_as, make_programme, places):
    login_as("township")
    programme_id = make_programme()
    response = nominate(client, programme_id, places.cizao_community)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-field="community_id"' in page and "本镇(街道)" in page
    assert applications(app, programme_id) == []


def test_the_operation_itself_refuses_a_foreign_community(app, make_programme, places, make_user):
    from app.places.models import Community, Township

    with app.app_context():
        programme = db.session.get(Programme, make_programme())
        with pytest.raises(operations.WorkflowError, match="本镇"):
            operations.nominate(programme, db.session.get(Township, places.anhai),
                                db.session.get(Community, places.cizao_community), None)


def test_fixed_limit_of_two_and_withdrawal_frees_a_place(app, client, login_as, make_programme, places):
    login_as("township")
    programme_id = make_programme(nomination_min=1, nomination_max=2)
    first, second, third = communities_of(app, places.anhai, 3)
    assert nominate(client, programme_id, first).status_code == 302
    assert nominate(client, programme_id, second).status_code == 302
    page = nominate(client, programme_id, third).get_data(as_text=True)
    assert "最多推荐 2 个，已推荐 2 个" in page
    assert len(applications(app, programme_id)) == 2
    withdrawn = applications(app, programme_id)[0].id
    assert client.post(f"/applications/{withdrawn}/withdraw").status_code == 302
    assert nominate(client, programme_id, third).status_code == 302
    assert [a.reference[-2:] for a in applications(app, programme_id)] == ["01", "02", "03"]


def test_by_size_rule_gives_each_township_its_minimum(app, make_programme):
    with app.app_context():
        programme = db.session.get(Programme, make_programme(
            nomination_rule=NominationRule.BY_SIZE, size_threshold=15, min_small=1, min_large=2,
            nomination_min=0, nomination_max=None))
        assert allowance(programme, 14) == Allowance(1, None)
        assert allowance(programme, 15) == Allowance(2, None)
        sizes = township_sizes()
        anhai, xibin = township_id(app, "安海镇"), township_id(app, "西滨镇")
        assert sizes[anhai] == 42 and sizes[xibin] == 3  # the official counts of the seed data
        assert allowance(programme, sizes[anhai]).minimum == 2
        assert allowance(programme, sizes[xibin]).minimum == 1
        programme.nomination_max = 3
        assert allowance(programme, 20) == Allowance(2, 3)


def test_by_size_rule_without_maximum_lets_a_large_township_nominate_more(app, client, login_as, make_programme,
                                                                            places):
    login_as("township")
    programme_id = make_programme(nomination_rule=NominationRule.BY_SIZE, nomination_min=0, nomination_max=None)
    for community in communities_of(app, places.anhai, 3):
        assert nominate(client, programme_id, community).status_code == 302
    assert len(applications(app, programme_id)) == 3


def test_by_size_rule_with_a_cap_enforces_it(app, client, login_as, make_programme, places):
    login_as("township")
    programme_id = make_programme(nomination_rule=NominationRule.BY_SIZE, nomination_min=0, nomination_max=2)
    first, second, third = communities_of(app, places.anhai, 3)
    nominate(client, programme_id, first)
    nominate(client, programme_id, second)
    assert "最多推荐 2 个" in nominate(client, programme_id, third).get_data(as_text=True)


def test_no_community_twice_in_one_programme(app, client, login_as, make_programme, places):
    login_as("township")
    programme_id = make_programme()
    community = communities_of(app, places.anhai, 1)[0]
    assert nominate(client, programme_id, community).status_code == 302
    page = nominate(client, programme_id, community).get_data(as_text=True)
    assert 'data-field="community_id"' in page
    assert len(applications(app, programme_id)) == 1


def test_two_clicks_at_once_make_one_nomination(app, make_programme, places, monkeypatch):
    """The second click gets past the check (it ran before the first one committed): the unique index stops it."""
    from app.places.models import Community, Township

    community_id = communities_of(app, places.anhai, 1)[0]
    with app.app_context():
        programme = db.session.get(Programme, make_programme())
        township = db.session.get(Township, places.anhai)
        community = db.session.get(Community, community_id)
        operations.nominate(programme, township, community, None)
        monkeypatch.setattr(operations, "nominated_community_ids", lambda *args: set())
        with pytest.raises(operations.WorkflowError, match="已在本项目中推荐过"):
            operations.nominate(programme, township, community, None)
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count(Application.id)).where(
            Application.programme_id == programme.id)) == 1


def test_unique_index_holds_in_the_database(app, make_programme, places):
    community_id = communities_of(app, places.anhai, 1)[0]
    programme_id = make_programme()
    with app.app_context():
        for sequence in (1, 2):
            db.session.add(Application(programme_id=programme_id, township_id=places.anhai,
                                       community_id=community_id, sequence=sequence,
                                       reference=f"X-{programme_id}-{sequence}"))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_nominating_in_a_programme_that_is_not_open(app, client, login_as, make_programme, places):
    from app.programmes.models import ProgrammeStatus

    login_as("township")
    programme_id = make_programme(status=ProgrammeStatus.EVALUATING)
    page = nominate(client, programme_id, communities_of(app, places.anhai, 1)[0]).get_data(as_text=True)
    assert "不在申报期" in page


def test_only_townships_nominate(client, login_as, make_programme, places):
    login_as("bureau")
    programme_id = make_programme()
    assert nominate(client, programme_id, places.anhai_community).status_code == 403
