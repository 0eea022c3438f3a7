"""Money through the pages: over-payment, reversals, sign-off locking, batch payments, tranches, township
isolation, receipts."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import sqlalchemy as sa

from app.applications.models import Application, ApplicationStatus
from app.audit.models import AuditAction, AuditLog
from app.database import china_today
from app.extensions import db
from app.funding import operations
from app.funding.models import Allocation, Disbursement, Site, SpendingLine, Tranche, TrancheRelease
from app.programmes.models import FundingSource, Programme
from tests.applications.helpers import communities_of
from tests.conftest import login, page_without_tokens
from tests.files.test_storage import files_on_disk, make_pdf


def _sum(app, model, **where) -> int:
    with app.app_context():
        query = sa.select(sa.func.coalesce(sa.func.sum(model.amount_fen), 0))
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return db.session.scalar(query)


def _pay(client, funded, site=0, amount="10000", voucher="V-1", source=None, **extra):
    return client.post(f"/funding/sites/{funded.sites[site]}/disbursements", data={
        "source_id": source or funded.city, "amount": amount, "entry_date": china_today().isoformat(),
        "voucher_no": voucher, **extra}, follow_redirects=True)


def test_finance_pays_and_over_payment_needs_a_reason(app, client, login_as, funded):
    login_as("finance")
    assert "拨付已录入" in _pay(client, funded, amount="25,000.50").get_data(as_text=True)
    page = _pay(client, funded, amount="5000", voucher="V-2").get_data(as_text=True)
    assert "可拨付 4,999.50 元" in page and "超出" in page
    assert _sum(app, Disbursement, site_id=funded.sites[0]) == 2_500_050
    page = _pay(client, funded, amount="5000", voucher="V-2", override_reason="镇里垫付后结算").get_data(as_text=True)
    assert "拨付已录入" in page
    with app.app_context():
        line = db.session.scalar(sa.select(Disbursement).where(Disbursement.voucher_no == "V-2"))
        assert line.override_reason == "镇里垫付后结算"
    assert "拨付超过下达" in client.get(f"/funding/programmes/{funded.programme}").get_data(as_text=True)


def test_bad_amounts_and_a_used_voucher(app, client, login_as, funded):
    login_as("finance")
    for amount, message in [("1.234", "两位小数"), ("-5", "负数"), ("1e20", "过大"), ("abc", "请填写金额")]:
        assert message in _pay(client, funded, amount=amount).get_data(as_text=True), amount
    _pay(client, funded, amount="100", voucher="DUP-1")
    assert "凭证号 DUP-1 已使用过" in _pay(client, funded, site=1, amount="100", voucher="DUP-1").get_data(
        as_text=True)
    assert _sum(app, Disbursement) == 10_000


def test_reversal_undoes_a_payment_without_touching_it(app, client, login_as, funded):
    login_as("finance")
    _pay(client, funded, amount="3000", voucher="R-1")
    with app.app_context():
        line = db.session.scalar(sa.select(Disbursement).where(Disbursement.voucher_no == "R-1"))
        line_id, before = line.id, (line.amount_fen, line.entry_date)
    response = client.post(f"/funding/disbursements/{line_id}/reverse", data={
        "entry_date": china_today().isoformat(), "reason": "金额误录"}, follow_redirects=True)
    assert "已录入冲销分录" in response.get_data(as_text=True)
    assert _sum(app, Disbursement, site_id=funded.sites[0]) == 0
    with app.app_context():
        line = db.session.get(Disbursement, line_id)
        assert (line.amount_fen, line.entry_date) == before
    again = client.post(f"/funding/disbursements/{line_id}/reverse", data={
        "entry_date": china_today().isoformat(), "reason": "再来"}, follow_redirects=True)
    assert "已冲销" in again.get_data(as_text=True)


def test_a_signed_off_period_takes_no_more_entries(app, client, login_as, funded):
    login_as("finance")
    last_month = (china_today().replace(day=1) - timedelta(days=1))
    label = f"{last_month.year}-{last_month.month:02d}"
    assert client.post("/funding/periods", data={"label": label}).status_code == 302
    page = client.post(f"/funding/sites/{funded.sites[0]}/disbursements", data={
        "source_id": funded.city, "amount": "100", "entry_date": last_month.isoformat(), "voucher_no": "P-1"},
        follow_redirects=True).get_data(as_text=True)
    assert "已结账" in page and _sum(app, Disbursement) == 0
    # The same correction, dated today (an open period), goes in as an adjusting entry.
    _pay(client, funded, amount="100", voucher="P-1")
    assert _sum(app, Disbursement) == 10_000
    quarter = f"{last_month.year}Q{(last_month.month - 1) // 3 + 1}"
    overlapping = client.post("/funding/periods", data={"label": quarter})
    assert "重叠" in overlapping.get_data(as_text=True)
    assert "2024-05（月）" in client.post("/funding/periods", data={"label": "2024-13"}).get_data(as_text=True)


def test_batch_pays_what_is_payable_with_tranches(app, client, login_as, funded):
    login_as("finance")
    response = client.post(f"/funding/programmes/{funded.programme}/tranches", data={
        "items-0-name": "第一批", "items-0-percent": "50", "items-0-condition": "",
        "items-1-name": "第二批", "items-1-percent": "50", "items-1-condition": "中期自评通过"})
    assert response.status_code == 302
    preview = client.post(f"/funding/programmes/{funded.programme}/batch", data={
        "source_id": funded.city, "entry_date": china_today().isoformat(), "voucher_prefix": "B1", "confirm": "0"})
    assert "¥15,000.00" in preview.get_data(as_text=True)
    client.post(f"/funding/programmes/{funded.programme}/batch", data={
        "source_id": funded.city, "entry_date": china_today().isoformat(), "voucher_prefix": "B1", "confirm": "1"})
    assert _sum(app, Disbursement, source_id=funded.city) == 3_000_000  # half of 30,000 for each of two sites
    # The second half waits for its condition: nothing more is payable until the bureau or finance releases it.
    page = _pay(client, funded, site=1, amount="1", voucher="B-X").get_data(as_text=True)
    assert "可拨付 0.00 元" in page
    with app.app_context():
        from app.funding.models import Tranche

        second = db.session.scalar(sa.select(Tranche).where(Tranche.sequence == 2))
        second_id = second.id
    client.post(f"/funding/sites/{funded.sites[1]}/release", data={"tranche_id": second_id, "note": "已通过"})
    assert "拨付已录入" in _pay(client, funded, site=1, amount="15000", voucher="B-2").get_data(as_text=True)
    page = client.post(f"/funding/programmes/{funded.programme}/tranches", data={
        "items-0-name": "全部", "items-0-percent": "90"}).get_data(as_text=True)
    assert "100" in page


def _more_sites(app, funded, places, number: int) -> list[int]:
    """``number`` more sites of the programme in 磁灶镇, each allocated 10,000.00 from the city."""
    with app.app_context():
        ids = []
        for sequence, community in enumerate(communities_of(app, places.cizao, number + 1)[1:], start=2):
            application = Application(programme_id=funded.programme, township_id=places.cizao,
                                      community_id=community, sequence=sequence, reference=f"M-{sequence}",
                                      status=ApplicationStatus.ACCEPTED)
            db.session.add(application)
            db.session.flush()
            site = Site(programme_id=funded.programme, application_id=application.id, township_id=places.cizao,
                        community_id=community, rank=10 + sequence)
            db.session.add(site)
            db.session.flush()
            db.session.add(Allocation(site_id=site.id, source_id=funded.city, amount_fen=1_000_000, reason="档次",
                                      entry_date=china_today()))
            ids.append(site.id)
        db.session.commit()
        return ids


def test_the_batch_plan_is_what_each_site_may_be_paid_in_a_fixed_number_of_queries(app, client, login_as, funded,
                                                                                   places, count_queries):
    """The batch page lists every site with what payable() allows it, read in the same number of queries whatever
    the number of sites: tranches, a release for one site, a part already paid, an allocation taken back."""
    login_as("finance")
    url = f"/funding/programmes/{funded.programme}/batch"
    preview = {"source_id": funded.city, "entry_date": china_today().isoformat(), "voucher_prefix": "P", "confirm": "0"}
    client.post(url, data=preview)
    with count_queries() as few:
        assert client.post(url, data=preview).status_code == 200
    extra = _more_sites(app, funded, places, 4)
    with app.app_context():
        first, second = (Tranche(programme_id=funded.programme, sequence=1, name="第一批", percent=60),
                         Tranche(programme_id=funded.programme, sequence=2, name="第二批", percent=40,
                                 condition="中期自评通过"))
        db.session.add_all([first, second])
        db.session.flush()
        db.session.add_all([
            TrancheRelease(tranche_id=second.id, site_id=extra[0]),
            Disbursement(site_id=extra[1], source_id=funded.city, entry_date=china_today(), amount_fen=250_000,
                         voucher_no="P-PART"),
            Allocation(site_id=extra[2], source_id=funded.city, amount_fen=-1_000_000, reason="收回",
                       entry_date=china_today()),
        ])
        db.session.commit()
    with count_queries() as many:
        page = client.post(url, data=preview).get_data(as_text=True)
    assert many.count == few.count, many.statements
    with app.app_context():
        programme, source = db.session.get(Programme, funded.programme), db.session.get(FundingSource, funded.city)
        expected = [(site.id, max(0, operations.payable(site, source.id)))
                    for site in db.session.scalars(sa.select(Site).where(Site.programme_id == programme.id)
                                                   .order_by(Site.rank, Site.id))
                    if operations.allocated(site, source.id) > 0]
        assert [(site.id, amount) for site, amount in operations.batch_plan(programme, source)] == expected
    # 60 % of 30,000 (the two first sites), 100 % of 10,000 (released), 60 % less 2,500 paid, none taken back.
    assert [amount for _site, amount in expected] == [1_800_000, 1_800_000, 1_000_000, 350_000, 600_000]
    rows = re.findall(r'<td class="text-end">(¥[\d,.]+)</td></tr>', page.split('id="batch-plan"')[1])
    assert rows == ["¥18,000.00", "¥18,000.00", "¥10,000.00", "¥3,500.00", "¥6,000.00", "¥55,500.00"]  # and the total


def test_township_records_spending_for_its_own_site_only(app, client, login_as, funded):
    login_as("township")  # 安海镇
    response = client.post(f"/funding/sites/{funded.sites[0]}/spending", data={
        "source_id": funded.city, "entry_date": china_today().isoformat(), "item": "议事厅桌椅",
        "category": "设施设备", "amount": "1200", "payee": "某家具厂",
        "receipt": (io.BytesIO(make_pdf()), "发票（扫描件）.pdf")}, content_type="multipart/form-data",
        follow_redirects=True)
    assert "支出已录入" in response.get_data(as_text=True)
    assert _sum(app, SpendingLine) == 120_000
    with app.app_context():
        line = db.session.scalar(sa.select(SpendingLine))
        assert line.receipt.original_name == "发票（扫描件）.pdf"
        line_id = line.id
    assert client.get(f"/funding/spending/{line_id}/receipt").data == make_pdf()
    # Spending above what was paid is recorded, and flagged.
    assert "支出超过已拨付" in client.get(f"/funding/programmes/{funded.programme}").get_data(as_text=True)
    # Another township's site: neither seen nor written.
    assert client.get(f"/funding/sites/{funded.sites[1]}").status_code == 403
    assert client.post(f"/funding/sites/{funded.sites[1]}/spending", data={
        "source_id": funded.city, "entry_date": china_today().isoformat(), "item": "x", "category": "其他",
        "amount": "1"}).status_code == 403
    assert "F-2" not in client.get(f"/funding/programmes/{funded.programme}").get_data(as_text=True)
    assert client.post(f"/funding/sites/{funded.sites[0]}/disbursements", data={}).status_code == 403


def test_a_receipt_must_be_a_pdf_or_an_image(app, client, login_as, funded):
    login_as("township")
    page = client.post(f"/funding/sites/{funded.sites[0]}/spending", data={
        "source_id": funded.city, "entry_date": china_today().isoformat(), "item": "x", "category": "其他",
        "amount": "10", "receipt": (io.BytesIO(b"PK\x03\x04 not really"), "发票.docx")},
        content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert "只能上传" in page and _sum(app, SpendingLine) == 0


def test_a_refused_spending_line_leaves_no_receipt_on_disk(app, client, login_as, funded, make_user):
    """The receipt is stored before the rules refuse the line (a signed-off period): the rollback removes it."""
    finance = app.test_client()
    with app.app_context():
        from app.accounts.models import User

        login(finance, db.session.get(User, make_user("finance")).username)
    last_month = china_today().replace(day=1) - timedelta(days=1)
    assert finance.post("/funding/periods", data={"label": f"{last_month:%Y-%m}"}).status_code == 302
    login_as("township")
    before = files_on_disk(app)
    response = client.post(f"/funding/sites/{funded.sites[0]}/spending", data={
        "source_id": funded.city, "entry_date": last_month.isoformat(), "item": "x", "category": "其他",
        "amount": "10", "receipt": (io.BytesIO(make_pdf()), "发票.pdf")}, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "所在期间" in page and "已结账" in page
    assert _sum(app, SpendingLine) == 0 and files_on_disk(app) == before


def test_township_adds_only_local_funds(app, client, login_as, funded):
    login_as("township")
    page = client.post(f"/funding/sites/{funded.sites[0]}/allocations", data={
        "source_id": funded.city, "direction": "add", "amount": "1000", "entry_date": china_today().isoformat(),
        "reason": "自行追加"}, follow_redirects=True).get_data(as_text=True)
    assert "只能录入本级配套" in page
    client.post(f"/funding/sites/{funded.sites[0]}/allocations", data={
        "source_id": funded.matching, "direction": "add", "amount": "10000", "entry_date": china_today().isoformat(),
        "reason": "镇配套"})
    assert _sum(app, Allocation, source_id=funded.matching) == 1_000_000


def test_every_money_change_is_audited_with_before_and_after(app, client, login_as, funded):
    login_as("finance")
    _pay(client, funded, amount="100", voucher="A-1")
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.object_type == "Disbursement",
                                                            AuditLog.action == AuditAction.INSERT))
        assert entry.after["amount_fen"] == 10_000 and entry.after["voucher_no"] == "A-1"
        assert entry.actor_name.startswith("finance")


def test_reconciliation_query_count_does_not_grow(app, client, login_as, funded, count_queries):
    from app.statements import REMEMBERED

    url = f"/funding/programmes/{funded.programme}"

    def counts() -> tuple[int, int]:
        """Statements of a view that sums every township, and of the next, which finds those sums remembered."""
        for remembered in REMEMBERED:
            remembered.clear()
        with count_queries() as first:
            client.get(url)
        with count_queries() as second:
            client.get(url)
        return first.count, second.count

    login_as("finance")
    client.get(url)
    small = counts()
    for number in range(5):
        _pay(client, funded, site=number % 2, amount="10", voucher=f"Q-{number}")
    assert counts() == small
    assert small[1] == small[0] - 3  # the page's sites, the ledgers' sums and the sources' names


def test_the_remembered_reconciliation_shows_a_payment_at_once(app, client, login_as, funded):
    """The page's sites and sums are remembered under changes_mark: the next view after a payment reads them again."""
    login_as("finance")
    url = f"/funding/programmes/{funded.programme}"
    before = page_without_tokens(client.get(url))
    assert page_without_tokens(client.get(url)) == before  # remembered
    assert "12,345.67" not in before
    _pay(client, funded, amount="12345.67", voucher="M-1")
    assert "12,345.67" in client.get(url).get_data(as_text=True)


def test_money_columns_are_integers(app, funded):
    for model in (Allocation, Disbursement, SpendingLine):
        assert str(model.__table__.c.amount_fen.type) == "BIGINT"


def test_a_selected_application_links_to_its_site(app, client, login_as, funded, places):
    """Once the list is final, the application's page says so and leads to the site's progress and money; an
    application that did not become a site shows neither."""
    from app.applications.models import Application, ApplicationStatus
    from app.funding.models import Site
    from tests.applications.helpers import communities_of

    with app.app_context():
        site = db.session.get(Site, funded.sites[0])
        selected = site.application_id
        unselected = Application(programme_id=funded.programme, township_id=site.township_id,
                                 community_id=communities_of(app, site.township_id, 2)[1], sequence=9,
                                 reference="F-9",
                                 status=ApplicationStatus.ACCEPTED)
        db.session.add(unselected)
        db.session.commit()
        unselected = unselected.id
    login_as("township")  # 安海镇, the first site's
    page = client.get(f"/applications/{selected}").get_data(as_text=True)
    assert 'id="selected-site"' in page
    for link in (f"/progress/sites/{funded.sites[0]}", f"/funding/sites/{funded.sites[0]}"):
        assert f'href="{link}"' in page and client.get(link).status_code == 200
    page = client.get(f"/applications/{unselected}").get_data(as_text=True)
    assert 'id="selected-site"' not in page and "/funding/sites/" not in page
