"""The programme's payment forms (batch payment, tranches): a refused entry shows the page again with what was typed,
each message at its field or, when it concerns the form as a whole, above its fields; nothing is saved."""

from __future__ import annotations

import sqlalchemy as sa

from app.audit.models import AuditLog
from app.database import china_today
from app.extensions import db
from app.funding import operations
from app.funding.models import Disbursement, Site, Tranche, TrancheRelease
from app.programmes.models import FundingSource
from tests.accessibility import error_descriptions
from tests.funding.test_site_forms import Page

TODAY = china_today().isoformat()


def _counts(app, *models) -> tuple[int, ...]:
    """Rows of each model, and of the audit log: what a refused entry must leave as it was."""
    with app.app_context():
        return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(model))
                     for model in (*models, AuditLog))


def _shown_once_in_form(html: str, form_id: str, message: str) -> bool:
    """Whether ``message`` is shown once, inside the form of that id (not flashed at the top of the page)."""
    start = html.index(f'id="{form_id}"')
    return html.count(message) == 1 and start < html.find(message, start) < html.index("</form>", start)


def test_a_refused_batch_keeps_what_was_typed_with_the_message_at_its_field(app, client, login_as, funded):
    login_as("finance")
    url = f"/funding/programmes/{funded.programme}/batch"
    before = _counts(app, Disbursement)
    response = client.post(url, data={"source_id": funded.city, "entry_date": TODAY, "voucher_prefix": "  ",
                                      "note": "第一批补助", "confirm": "1"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"voucher_prefix": "此项为必填项。"}
    assert html.count("此项为必填项。") == 1, "at its field only, not flashed as well"
    page = Page(html)
    assert page.controls["note"]["value"] == "第一批补助" and page.controls["entry_date"]["value"] == TODAY
    assert page.selected["source_id"] == str(funded.city)
    assert _counts(app, Disbursement) == before


def test_a_used_voucher_number_is_told_at_the_prefix(app, client, login_as, funded):
    with app.app_context():
        operations.disburse(db.session.get(Site, funded.sites[0]), db.session.get(FundingSource, funded.city), 100,
                            entry_date=china_today(), voucher_no="B1-001")
        db.session.commit()
    login_as("finance")
    before = _counts(app, Disbursement)
    response = client.post(f"/funding/programmes/{funded.programme}/batch", data={
        "source_id": funded.city, "entry_date": TODAY, "voucher_prefix": "B1", "note": "第一批", "confirm": "1"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert error_descriptions(html) == {"voucher_prefix": "凭证号 B1-001 已使用过。"}
    assert Page(html).controls["voucher_prefix"]["value"] == "B1"
    assert _counts(app, Disbursement) == before


def test_nothing_to_pay_is_told_above_the_batch_form(app, client, login_as, funded):
    login_as("finance")
    before = _counts(app, Disbursement)
    response = client.post(f"/funding/programmes/{funded.programme}/batch", data={
        "source_id": funded.matching, "entry_date": TODAY, "voucher_prefix": "M1", "confirm": "1"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert _shown_once_in_form(html, "batch-form", "没有可拨付的金额。")
    assert Page(html).controls["voucher_prefix"]["value"] == "M1"
    assert _counts(app, Disbursement) == before


def test_tranches_that_do_not_add_up_are_told_above_the_rows_kept_as_typed(app, client, login_as, funded):
    login_as("finance")
    url = f"/funding/programmes/{funded.programme}/tranches"
    before = _counts(app, Tranche)
    response = client.post(url, data={"items-0-name": "第一批", "items-0-percent": "60",
                                      "items-1-name": "第二批", "items-1-percent": "30",
                                      "items-1-condition": "中期自评通过"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert _shown_once_in_form(html, "tranches-form", "各批次比例之和应为 100％。")
    page = Page(html)
    assert [page.controls[f"items-{row}-{name}"]["value"] for row in (0, 1) for name in ("name", "percent")] == [
        "第一批", "60", "第二批", "30"]
    assert page.controls["items-1-condition"]["value"] == "中期自评通过"
    assert _counts(app, Tranche) == before


def test_tranches_of_a_programme_with_a_release_are_told_above_the_rows(app, client, login_as, funded):
    with app.app_context():
        programme_id, site = funded.programme, db.session.get(Site, funded.sites[0])
        operations.save_tranches(site.programme, [{"name": "第一批", "percent": 50, "condition": ""},
                                                  {"name": "第二批", "percent": 50, "condition": "中期自评通过"}])
        second = db.session.scalar(sa.select(Tranche).where(Tranche.programme_id == programme_id,
                                                            Tranche.sequence == 2))
        operations.release_tranche(site, second, "已通过", None)
        db.session.commit()
    login_as("finance")
    before = _counts(app, Tranche, TrancheRelease)
    response = client.post(f"/funding/programmes/{programme_id}/tranches", data={
        "items-0-name": "全部", "items-0-percent": "100"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert _shown_once_in_form(html, "tranches-form", "已有批次被放行，不能再修改拨付批次。")
    assert Page(html).controls["items-0-name"]["value"] == "全部"
    assert _counts(app, Tranche, TrancheRelease) == before
