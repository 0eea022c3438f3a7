"""Small helpers for the application tests."""

from __future__ import annotations

import sqlalchemy as sa

from app.applications.models import Application
from app.extensions import db
from app.places.models import Community, Township


def township_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Township.id).where(Township.name == name))


def communities_of(app, township: int, count: int = 3) -> list[int]:
    with app.app_context():
        ids = db.session.scalars(
            sa.select(Community.id).where(Community.township_id == township).order_by(Community.id).limit(count)
        ).all()
        while len(ids) < count:  # seed places may hold fewer real names than a test needs
            extra = Community(township_id=township, name=f"测试社区{len(ids)}", kind="community")
            db.session.add(extra)
            db.session.flush()
            ids.append(extra.id)
        db.session.commit()
        return list(ids)


def nominate(client, programme_id: int, community_id: int):
    return client.post(f"/applications/nominate/{programme_id}", data={"community_id": community_id})


def applications(app, programme_id: int) -> list[Application]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(Application).where(Application.programme_id == programme_id).order_by(Application.id)
        ).all()
        db.session.expunge_all()
        return rows


def only_application_id(app, programme_id: int) -> int:
    rows = applications(app, programme_id)
    assert len(rows) == 1, rows
    return rows[0].id


def status_of(app, application_id: int):
    with app.app_context():
        return db.session.get(Application, application_id).status
