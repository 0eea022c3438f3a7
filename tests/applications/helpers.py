"""Small helpers for the application tests."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import sqlalchemy as sa

from app.applications.models import Application
from app.audit.models import AuditLog
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


def row_count(app, model=AuditLog) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


class _FormValues(HTMLParser):
    def __init__(self, action: str):
        super().__init__(convert_charrefs=True)
        self.action, self.values = action, {}
        self._inside = False
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._inside = attrs.get("action") == self.action
        elif not self._inside:
            return
        elif tag == "input" and attrs.get("type") not in ("hidden", "submit", "file"):
            self.values[attrs["name"]] = attrs.get("value") or ""
        elif tag == "textarea":
            self._textarea = attrs["name"]
            self.values[self._textarea] = ""
        elif tag == "select":
            self._select = attrs["name"]
        elif tag == "option" and self._select and "selected" in attrs:
            self.values[self._select] = attrs.get("value")

    def handle_endtag(self, tag):
        if tag == "form":
            self._inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            # A text area's first line break belongs to its markup (WTForms writes one), not to its value.
            text = self.values[self._textarea]
            self.values[self._textarea] = text[2:] if text.startswith("\r\n") else text.removeprefix("\n")
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data


def form_values(page: str, action: str) -> dict[str, str]:
    """What the form posting to ``action`` shows in its controls (text inputs, text areas, the chosen option of
    each select), by name: what the user finds typed when the form comes back."""
    parser = _FormValues(action)
    parser.feed(page)
    parser.close()
    return parser.values


def control_tag(page: str, control_id: str) -> str:
    """The start tag of the control with that id."""
    return re.search(rf'<[^<>]*\bid="{re.escape(control_id)}"[^<>]*>', page).group(0)
