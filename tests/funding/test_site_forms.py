"""The forms of the site page: each label names its own form's control, and a refused entry, reversal or release (bad
input or a rule) shows the page again with what was typed and the message at the field it concerns, saving nothing."""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from app.audit.models import AuditLog
from app.database import china_today
from app.extensions import db
from app.funding import operations
from app.funding.models import Allocation, Disbursement, Site, SpendingLine, Tranche, TrancheRelease
from app.funding.operations import FundingError
from app.programmes.models import FundingSource
from tests.accessibility import error_descriptions
from tests.files.test_storage import make_pdf

TODAY = china_today().isoformat()


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


def test_an_over_payment_keeps_what_was_typed_and_asks_for_the_reason_at_its_field(app, client, login_as, funded):
    login_as("finance")
    url = _action(funded.sites[0], "disbursements")
    sent = {"source_id": funded.city, "amount": "30,000.01", "entry_date": TODAY, "voucher_no": "OV-1",
            "note": "第一笔"}
    response = client.post(url, data=sent)
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert page.controls["disbursement-amount"]["value"] == "30,000.01"
    assert page.controls["disbursement-voucher_no"]["value"] == "OV-1"
    assert page.controls["disbursement-note"]["value"] == "第一笔"
    assert page.controls["disbursement-entry_date"]["value"] == TODAY
    assert page.selected["disbursement-source_id"] == str(funded.city)
    [message] = page.errors[(url, "override_reason")]
    assert "可拨付 30,000.00 元" in message and "请填写理由" in message
    assert "autofocus" in page.controls["disbursement-override_reason"] and url in page.open_forms
    assert not page.alerts, "the message is at its field, not at the top"
    assert _count(app, Disbursement) == 0
    # Now with the reason: saved, and back to the page as after any entry.
    response = client.post(url, data={**sent, "override_reason": "镇里垫付后结算"})
    assert response.status_code == 302 and response.location.endswith(f"/funding/sites/{funded.sites[0]}#disbursements")
    with app.app_context():
        line = db.session.scalar(sa.select(Disbursement))
        assert (line.amount_fen, line.voucher_no, line.override_reason) == (3_000_001, "OV-1", "镇里垫付后结算")


@pytest.mark.parametrize(("changed", "field", "message"), [
    ({"amount": "abc"}, "amount", "请填写金额"),
    ({"voucher_no": ""}, "voucher_no", "此项为必填项"),
])
def test_bad_input_in_a_payment_keeps_the_rest_and_is_shown_at_its_field(app, client, login_as, funded, changed,
                                                                         field, message):
    login_as("finance")
    url = _action(funded.sites[0], "disbursements")
    sent = {"source_id": funded.city, "amount": "100", "entry_date": TODAY, "voucher_no": "V-9", "note": "备注",
            **changed}
    response = client.post(url, data=sent)
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert message in page.errors[(url, field)][0]
    assert [key for key in page.errors if key[0] == url] == [(url, field)]
    for name in ("amount", "voucher_no", "note", "entry_date"):
        assert page.controls[f"disbursement-{name}"].get("value", "") == sent[name], name
    assert "autofocus" in page.controls[f"disbursement-{field}"]
    assert _count(app, Disbursement) == 0


def test_bad_spending_keeps_the_rest_and_the_other_forms_are_fresh(app, client, login_as, funded):
    login_as("township")
    url = _action(funded.sites[0], "spending")
    response = client.post(url, data={
        "source_id": funded.city, "entry_date": TODAY, "item": "  ", "category": "设施设备", "amount": "1,200",
        "payee": "某家具厂", "note": "两张桌子", "receipt": (io.BytesIO(make_pdf()), "发票.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert "此项为必填项" in page.errors[(url, "item")][0]
    assert page.controls["spending-amount"]["value"] == "1,200"
    assert page.controls["spending-payee"]["value"] == "某家具厂"
    assert page.controls["spending-note"]["value"] == "两张桌子"
    assert page.selected["spending-category"] == "设施设备"
    assert url in page.open_forms and _action(funded.sites[0], "allocations") not in page.open_forms
    assert page.controls["allocation-amount"].get("value", "") == "" and not page.errors.keys() - {(url, "item")}
    assert _count(app, SpendingLine) == 0


def test_a_township_adding_a_source_not_its_own_is_told_at_the_source(app, client, login_as, funded):
    login_as("township")
    url = _action(funded.sites[0], "allocations")
    before = _count(app, Allocation)
    response = client.post(url, data={"source_id": funded.city, "direction": "add", "amount": "1000",
                                      "entry_date": TODAY, "reason": "自行追加"})
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    [message] = page.errors[(url, "source_id")]
    assert "只能录入本级配套" in message
    assert page.controls["allocation-amount"]["value"] == "1000"
    assert page.controls["allocation-reason"]["value"] == "自行追加"
    assert url in page.open_forms and "autofocus" in page.controls["allocation-source_id"]
    assert _count(app, Allocation) == before
    # Refused input for another township's site is not answered with that site's page.
    assert client.post(_action(funded.sites[1], "allocations"), data={"amount": "abc"}).status_code == 403
    assert client.post(_action(funded.sites[1], "spending"), data={"amount": "abc"}).status_code == 403


def test_a_cut_below_what_was_paid_is_told_at_the_amount(app, client, login_as, funded):
    login_as("finance")
    client.post(_action(funded.sites[0], "disbursements"), data={
        "source_id": funded.city, "amount": "20000", "entry_date": TODAY, "voucher_no": "C-1"})
    url = _action(funded.sites[0], "allocations")
    before = _count(app, Allocation)
    response = client.post(url, data={"source_id": funded.city, "direction": "reduce", "amount": "20000",
                                      "entry_date": TODAY, "reason": "调减"})
    page = Page(response.get_data(as_text=True))
    assert response.status_code == 200 and "少于已拨付" in page.errors[(url, "amount")][0]
    assert page.selected["allocation-direction"] == "reduce"
    assert _count(app, Allocation) == before


def test_a_refusal_that_names_no_field_is_shown_above_its_form(app, client, login_as, funded, monkeypatch):
    def refuse(*args, **kwargs):
        raise FundingError("规则不允许。")

    monkeypatch.setattr(operations, "disburse", refuse)
    login_as("finance")
    url = _action(funded.sites[0], "disbursements")
    response = client.post(url, data={"source_id": funded.city, "amount": "100", "entry_date": TODAY,
                                      "voucher_no": "N-1"})
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert page.alerts == {url: ["规则不允许。"]} and page.controls["disbursement-voucher_no"]["value"] == "N-1"
    assert url in page.open_forms


# --- the reversal and release forms ------------------------------------------------------------------------


def _audit_rows(app) -> int:
    return _count(app, AuditLog)


@pytest.mark.parametrize(("role", "model", "kind"), [("finance", Disbursement, "disbursements"),
                                                     ("township", SpendingLine, "spending")])
def test_a_refused_reversal_is_shown_at_its_own_line_with_what_was_typed(app, client, login_as, funded, role, model,
                                                                          kind):
    _with_every_form(app, funded)
    with app.app_context():
        site = db.session.get(Site, funded.sites[0])
        city = db.session.get(FundingSource, funded.city)
        other = (operations.disburse(site, city, 200, entry_date=china_today(), voucher_no="L-2") if kind ==
                 "disbursements" else operations.add_spending(site, city, entry_date=china_today(), item="茶水",
                                                              category="其他", amount_fen=200, payee=""))
        db.session.commit()
        other_id = other.id
        line_id = db.session.scalar(sa.select(model.id).where(model.id != other_id))
    login_as(role)
    url = f"/funding/{kind}/{line_id}/reverse"
    rows, audits = _count(app, model), _audit_rows(app)
    response = client.post(url, data={"entry_date": TODAY, "reason": "   "})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"reversal-reason": "此项为必填项。"}
    assert html.count("此项为必填项。") == 1, "at its field only, not flashed as well"
    page = Page(html)
    date_control = page.controls["reversal-entry_date"]
    assert date_control["_form"] == url and date_control["value"] == TODAY
    assert "autofocus" in page.controls["reversal-reason"]
    # The other line's form is fresh and, as on every line, carries no ids.
    assert f'action="/funding/{kind}/{other_id}/reverse"' in html
    assert not [ident for ident, count in Counter(page.ids).items() if count > 1]
    assert (_count(app, model), _audit_rows(app)) == (rows, audits)


def test_a_reversal_dated_in_a_signed_off_period_is_told_at_the_date(app, client, login_as, funded, count_queries):
    _with_every_form(app, funded)
    last_month = china_today().replace(day=1) - timedelta(days=1)
    with app.app_context():
        operations.sign_off(f"{last_month:%Y-%m}", "", None)
        db.session.commit()
        line_id = db.session.scalar(sa.select(Disbursement.id))
    login_as("finance")
    url = f"/funding/disbursements/{line_id}/reverse"
    client.get(f"/funding/sites/{funded.sites[0]}")
    with count_queries() as viewed:
        client.get(f"/funding/sites/{funded.sites[0]}")
    rows, audits = _count(app, Disbursement), _audit_rows(app)
    with count_queries() as refused:
        response = client.post(url, data={"entry_date": last_month.isoformat(), "reason": "金额误录"})
    assert response.status_code == 200
    # The page as viewed and the reversal's own reads (the line, the period, what the rollback expired): a fixed
    # number, whatever the number of lines.
    assert refused.count <= viewed.count + 6, refused.statements
    page = Page(response.get_data(as_text=True))
    described = error_descriptions(response.get_data(as_text=True))
    assert list(described) == ["reversal-entry_date"] and "已结账" in described["reversal-entry_date"]
    assert page.controls["reversal-reason"]["value"] == "金额误录" and not page.alerts
    assert (_count(app, Disbursement), _audit_rows(app)) == (rows, audits)
    # A line reversed already: the refusal concerns no field, and its line offers no form any more.
    client.post(url, data={"entry_date": TODAY, "reason": "金额误录"})
    again = client.post(url, data={"entry_date": TODAY, "reason": "再来"}, follow_redirects=True)
    assert "该笔拨付已冲销" in again.get_data(as_text=True) and _count(app, Disbursement) == rows + 1


def test_a_refused_release_keeps_the_tranche_chosen_and_is_told_at_its_field(app, client, login_as, funded):
    _with_every_form(app, funded)
    with app.app_context():
        tranche_id = db.session.scalar(sa.select(Tranche.id).where(Tranche.condition != ""))
    login_as("finance")
    url = f"/funding/sites/{funded.sites[0]}/release"
    rows, audits = _count(app, TrancheRelease), _audit_rows(app)
    response = client.post(url, data={"tranche_id": tranche_id, "note": " "})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"release-note": "此项为必填项。"}
    assert html.count("此项为必填项。") == 1
    page = Page(html)
    assert page.selected["release-tranche_id"] == str(tranche_id) and "autofocus" in page.controls["release-note"]
    assert (_count(app, TrancheRelease), _audit_rows(app)) == (rows, audits)
    # Released meanwhile (another tab): told at the tranche, the note typed kept.
    with app.app_context():
        operations.release_tranche(db.session.get(Site, funded.sites[0]), db.session.get(Tranche, tranche_id), "已通过",
                                   None)
        db.session.commit()
    response = client.post(url, data={"tranche_id": tranche_id, "note": "中期自评已通过"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"release-tranche_id": "该批次已放行。"}
    assert Page(html).controls["release-note"]["value"] == "中期自评已通过"
    assert _count(app, TrancheRelease) == rows + 1
