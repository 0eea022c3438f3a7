"""The calendar feed's secret token."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from app.accounts.models import User
from app.audit.operations import record_update
from app.extensions import db


def new_token() -> str:
    return secrets.token_urlsafe(32)


def first_token(user: User) -> str:
    """The user's feed token, made now if there is none yet; of two made at once, the first stays (flush only).

    Two tabs opening the feed page for the first time both find no token. Each offers one with an UPDATE that
    only fills an empty column, then reads what is there, so the second finds the first's token and both pages
    show the same working link, whichever workers served them. (SQLite: the writers queue on the write lock
    taken at BEGIN; PostgreSQL: the second UPDATE waits for the first to commit and then matches no row.)
    """
    offered = new_token()
    filled = db.session.execute(
        sa.update(User).where(User.id == user.id, User.calendar_token.is_(None)).values(calendar_token=offered),
        # The loaded user still shows no token; let the statement, not the session's copy, say what was stored.
        execution_options={"synchronize_session": False},
    )
    if filled.rowcount == 1:
        record_update(user, {"calendar_token": None}, {"calendar_token": offered})
        return offered
    return db.session.scalar(sa.select(User.calendar_token).where(User.id == user.id))
