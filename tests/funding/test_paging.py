"""Issue 9: the reconciliation page shows one page of sites, its totals stay those of the whole programme; the page's
money text is the money filter's."""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale

from app.database import china_today
from app.extensions import db
from app.formatting import babel_money, money, money_writer
from app.funding.models import Disbursement, SpendingLine


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_the_fast_money_text_is_babels(app, locale):
    amounts = [0, 1, 5, 99, 100, 101, 12_345, 100_000, 123_456_789, 10**15 + 7]
    amounts += [-amount for amount in amounts if amount]
    with app.test_request_context("/"), force_locale(locale):
        assert [money(amount) for amount in amounts] == [babel_money(amount) for amount in amounts]
        assert money(None) == babel_money(None) == money_writer()(None) == ""
        write = money_writer()
        assert [write(amount) for amount in amounts] == [babel_money(amount) for amount in amounts]


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_money_is_yuan_with_the_same_sign_as_the_reports(app, locale):
    """Not Babel's English "CN¥": the pages write what the report pages and workbooks write."""
    from reports.xlsx import yuan_text

    with app.test_request_context("/"), force_locale(locale):
        assert money(3_000_050) == yuan_text(3_000_050) == "¥30,000.50"
        assert money(-100) == yuan_text(-100) == "-¥1.00"


def _paid_and_spent(app, funded) -> None:
    with app.app_context():
        today = china_today()
        db.session.add_all([
            Disbursement(site_id=funded.sites[0], source_id=funded.city, entry_date=today, amount_fen=1_000_000,
                         voucher_no="P-1"),
            Disbursement(site_id=funded.sites[1], source_id=funded.city, entry_date=today, amount_fen=2_000_000,
                         voucher_no="P-2"),
            SpendingLine(site_id=funded.sites[1], source_id=funded.city, entry_date=today, amount_fen=250_000,
                         item="桌椅", category="设备"),
        ])
        db.session.commit()


def test_the_page_lists_page_size_sites_and_totals_everything(app, client, login_as, funded, monkeypatch):
    _paid_and_spent(app, funded)
    monkeypatch.setitem(app.config, "PAGE_SIZE", 1)
    login_as("finance")
    first = client.get(f"/funding/programmes/{funded.programme}").get_data(as_text=True)
    second = client.get(f"/funding/programmes/{funded.programme}?page=2").get_data(as_text=True)
    for page in (first, second):
        assert len(re.findall(r'href="/funding/sites/\d+"', page)) == 1
        assert "¥110,000.00" in page and "¥30,000.00" in page and "¥2,500.00" in page  # allocated, paid, spent
        assert "第" in page and "共 2 条" in page  # the pager
    assert f'href="/funding/sites/{funded.sites[0]}"' in first and f'href="/funding/sites/{funded.sites[1]}"' in second


def test_the_page_runs_the_same_queries_for_more_sites_and_lines(app, client, login_as, funded, count_queries):
    login_as("bureau")
    url = f"/funding/programmes/{funded.programme}"
    client.get(url)
    with count_queries() as few:
        client.get(url)
    _paid_and_spent(app, funded)
    client.get(url)  # the totals by township are summed again once, then remembered (tests/funding/test_pages.py)
    with count_queries() as more:
        client.get(url)
    assert more.count == few.count, more.statements
