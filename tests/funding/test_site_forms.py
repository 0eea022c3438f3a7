"""The entry forms of the site page: each label names its own form's control."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from app.database import china_today
from app.extensions import db
from app.funding import operations
from app.funding.models import Site, Tranche
from app.programmes.models import FundingSource


class Page(HTMLParser):
    """What the tests look at in a page: every element with an id (its attributes, its form's action), every label
    (its ``for``, its form's action), the option chosen in each select, the messages at fields (by form action and
    field name), the form alerts, and which forms' <details> are open."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.controls: dict[str, dict] = {}  # id -> attributes, with "_form" the enclosing form's action
        self.labels: list[tuple[str, str | None]] = []  # (for, form action)
        self.selected: dict[str, str] = {}  # select id -> value of the option marked selected
        self.errors: dict[tuple[str | None, str], list[str]] = {}  # (form action, field name) -> messages
        self.alerts: dict[str | None, list[str]] = {}  # form action (None: outside forms) -> danger alerts
        self.open_forms: set[str] = set()
        self._form: str | None = None
        self._select: str | None = None
        self._details_open: list[bool] = []
        self._text: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "details":
            self._details_open.append("open" in attrs)
        if tag == "form":
            self._form = attrs.get("action")
            if self._details_open and self._details_open[-1]:
                self.open_forms.add(self._form)
        if "id" in attrs:
            self.ids.append(attrs["id"])
            self.controls.setdefault(attrs["id"], {**attrs, "_form": self._form})
        if tag == "label" and "for" in attrs:
            self.labels.append((attrs["for"], self._form))
        if tag == "select":
            self._select = attrs.get("id")
        elif tag == "option" and self._select and "selected" in attrs:
            self.selected[self._select] = attrs.get("value")
        if tag == "div" and "data-field" in attrs:
            self._text = self.errors.setdefault((self._form, attrs["data-field"]), [])
            self._text.append("")
        elif tag == "div" and "alert-danger" in attrs.get("class", ""):
            self._text = self.alerts.setdefault(self._form, [])
            self._text.append("")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "details" and self._details_open:
            self._details_open.pop()
        elif tag == "div":
            self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text[-1] += data.strip()


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _action(site_id: int, kind: str) -> str:
    return f"/funding/sites/{site_id}/{kind}"


def _with_every_form(app, funded) -> None:
    """A payment, a spending line and a tranche waiting for its condition: the page then shows reversal forms for
    both ledgers and the release form besides the entry forms."""
    with app.app_context():
        site = db.session.get(Site, funded.sites[0])
        city = db.session.get(FundingSource, funded.city)
        operations.disburse(site, city, 100, entry_date=china_today(), voucher_no="L-1")
        operations.add_spending(site, city, entry_date=china_today(), item="桌椅", category="其他", amount_fen=100,
                                payee="")
        db.session.add_all([Tranche(programme_id=funded.programme, sequence=1, name="第一批", percent=50),
                            Tranche(programme_id=funded.programme, sequence=2, name="第二批", percent=50,
                                    condition="中期自评通过")])
        db.session.commit()


@pytest.mark.parametrize("role", ["finance", "township"])
def test_each_label_names_a_control_of_its_own_form_and_no_id_repeats(app, client, login_as, monkeypatch, funded,
                                                                      role):
    _with_every_form(app, funded)
    login_as(role)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)  # the tokens' hidden inputs have ids too
    html = client.get(f"/funding/sites/{funded.sites[0]}").get_data(as_text=True)
    page = Page(html)
    repeated = [name for name, count in Counter(page.ids).items() if count > 1]
    assert not repeated, f"ids used more than once: {repeated}"
    site = funded.sites[0]
    forms = {_action(site, "allocations"), _action(site, "disbursements" if role == "finance" else "spending")}
    labelled = {form for _for, form in page.labels}
    assert forms <= labelled, "the entry forms render their labels"
    for target, form in page.labels:
        assert target in page.controls, f"label for={target!r} names nothing"
        assert page.controls[target]["_form"] == form, f"label for={target!r} names a control of another form"
    # The names posted are the fields' own.
    for kind in ("amount", "entry_date", "source_id"):
        assert page.controls[f"allocation-{kind}"]["name"] == kind
    assert 'name="csrf_token"' in html and 'id="csrf_token"' not in html
