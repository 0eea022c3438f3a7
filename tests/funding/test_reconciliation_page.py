"""Issue 9: the reconciliation page writes its lines in the view from one page query and one statement of sums.
What it shows must stay what :func:`reconciliation` computes over every site — figures, flags, names (escaped) —
page by page and for every viewer's scope (the sums statement is kept per site filter)."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import sqlalchemy as sa

from app.applications.models import Application, ApplicationStatus
from app.database import china_today
from app.extensions import db
from app.formatting import money
from app.funding.models import Allocation, Disbursement, Site, SpendingLine
from app.funding.queries import Totals, page_sums, reconciliation, site_flags, site_page
from app.places.models import Community
from app.programmes.models import Programme
from tests.applications.helpers import communities_of


def _third_site(app, funded, places) -> int:
    """A second site in 安海镇, so that a page can show a township without all of its sites."""
    with app.app_context():
        community = communities_of(app, places.anhai, 2)[1]
        application = Application(programme_id=funded.programme, township_id=places.anhai, community_id=community,
                                  sequence=2, reference="F-3", status=ApplicationStatus.ACCEPTED)
        db.session.add(application)
        db.session.flush()
        site = Site(programme_id=funded.programme, application_id=application.id, township_id=places.anhai,
                    community_id=community, rank=3)
        db.session.add(site)
        db.session.flush()
        db.session.add(Allocation(site_id=site.id, source_id=funded.city, amount_fen=1_234_567, reason="档次",
                                  entry_date=china_today()))
        db.session.commit()
        return site.id


def _ledgers(app, funded) -> None:
    """Every flag, a source that nets to nothing, and names that must be escaped."""
    today = china_today()
    with app.app_context():
        db.session.add_all([
            # 安海: more paid than allocated, long ago, and nothing spent since.
            Disbursement(site_id=funded.sites[0], source_id=funded.city, entry_date=today - timedelta(days=200),
                         amount_fen=4_000_000, voucher_no="R-1"),
            # 磁灶: more spent than paid; a local source allocated and taken back.
            Disbursement(site_id=funded.sites[1], source_id=funded.city, entry_date=today, amount_fen=1_000_000,
                         voucher_no="R-2"),
            SpendingLine(site_id=funded.sites[1], source_id=funded.city, entry_date=today, amount_fen=2_000_050,
                         item="桌椅", category="设备"),
            Allocation(site_id=funded.sites[1], source_id=funded.matching, amount_fen=500, reason="追加",
                       entry_date=today),
            Allocation(site_id=funded.sites[1], source_id=funded.matching, amount_fen=-500, reason="收回",
                       entry_date=today),
        ])
        site = db.session.get(Site, funded.sites[1])
        db.session.get(Community, site.community_id).name = '<b>磁灶&"村'
        db.session.commit()


def _cells(totals) -> list[str]:
    share = (f"{(Decimal(totals.spent * 100) / totals.allocated).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"
             if totals.allocated else "—")
    return [money(totals.allocated), money(totals.disbursed), money(totals.spent), money(totals.balance), share]


def _expected(rec, shown: list[int]) -> list[list[str]]:
    """The table's rows as the former template wrote them from ``rec`` (the whole programme), for the sites
    ``shown`` on the page."""
    today = china_today()
    rows = []
    for township in rec.townships:
        lines = [line for line in township.sites if line.site.id in shown]
        if lines:
            rows.append([township.township.name, *_cells(township.total), ""])
        for line in lines:
            tier = line.site.tier.name if line.site.tier else ""
            rows.append([f"{line.site.community.name} {tier}".strip(), *_cells(line.total),
                         " ".join(site_flags(line, today))])
            rows += [[source.name, *_cells(line.by_source[source.id]), ""] for source in rec.sources
                     if source.id in line.by_source]
    rows += [[f"其中：{source.name}", *_cells(rec.by_source.get(source.id, Totals())), ""] for source in rec.sources]
    rows.append(["合计", *_cells(rec.total), ""])
    return rows


def _shown(page: str) -> list[list[str]]:
    table = page[page.index('id="reconciliation"'):page.index("</table>")]
    table = table[table.index("<tbody>"):]
    return [[" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)]


def test_every_page_shows_what_the_whole_reconciliation_has(app, client, login_as, funded, places, monkeypatch):
    third = _third_site(app, funded, places)
    _ledgers(app, funded)
    login_as("finance")
    with app.test_request_context("/"):  # money in the default locale
        rec = reconciliation(db.session.get(Programme, funded.programme))
        order = [line.site.id for line in rec.sites]
        flags = {line.site.id: site_flags(line, china_today()) for line in rec.sites}
        expected = {tuple(shown): _expected(rec, shown) for shown in [order, *[[site_id] for site_id in order]]}
    assert sorted(order) == sorted([*funded.sites, third])
    assert flags[funded.sites[0]] == ["拨付超过下达", "拨付三个月后仍无支出"]
    assert flags[funded.sites[1]] == ["支出超过已拨付"]
    assert funded.matching in [source.id for source in rec.sources]  # listed, though it nets to nothing
    whole = client.get(f"/funding/programmes/{funded.programme}").get_data(as_text=True)
    assert _shown(whole) == expected[tuple(order)]
    assert "&lt;b&gt;磁灶&amp;&#34;村" in whole and "<b>磁灶" not in whole
    monkeypatch.setitem(app.config, "PAGE_SIZE", 1)
    for number, site_id in enumerate(order, start=1):  # a township's total covers its sites on other pages too
        page = client.get(f"/funding/programmes/{funded.programme}?page={number}").get_data(as_text=True)
        assert _shown(page) == expected[(site_id,)], number
        assert "共 3 条" in page
    past = client.get(f"/funding/programmes/{funded.programme}?page=9").get_data(as_text=True)
    assert "暂无资金记录。" in past and "共 3 条" in past and "/funding/sites/" not in past


def test_each_scope_sees_its_own_sites_and_totals(app, client, login_as, funded, places):
    """The statements kept per site filter are told apart by the filter's values, not only by its shape."""
    _third_site(app, funded, places)
    _ledgers(app, funded)
    with app.app_context():
        programme = db.session.get(Programme, funded.programme)
        for township in (places.anhai, places.cizao, places.anhai):
            scope = Site.township_id == township
            rec = reconciliation(programme, scope)
            rows, count = site_page(programme, scope, 1, 50)
            assert [row.id for row in rows] == [line.site.id for line in rec.sites]
            assert count == len(rec.sites) == (2 if township == places.anhai else 1)
            sums = page_sums(programme, [row.id for row in rows], [township], scope)
            assert {source_id: t for source_id, t in sums.sources.items() if t != Totals()} == rec.by_source
            assert [source_id for source_id, _name in sums.source_names] == [source.id for source in rec.sources]
            assert sums.townships == {township: rec.townships[0].total}
            shown = {site_id: {source_id: t for source_id, t in by_source.items() if t != Totals()}
                     for site_id, by_source in sums.sites.items()}
            assert shown == {line.site.id: line.by_source for line in rec.sites}
        assert site_page(programme, sa.false(), 1, 50) == ([], 0)
        assert site_page(programme, sa.true(), 2, 50) == ([], 3)  # past the end: still the count
    for township, other in ((places.cizao, funded.sites[0]), (places.anhai, funded.sites[1])):
        client.post("/logout")
        login_as("township", township_id=township)
        page = client.get(f"/funding/programmes/{funded.programme}").get_data(as_text=True)
        assert f'href="/funding/sites/{other}"' not in page
        with app.test_request_context("/"):
            rec = reconciliation(db.session.get(Programme, funded.programme), Site.township_id == township)
            expected = _expected(rec, [line.site.id for line in rec.sites])
        assert _shown(page) == expected


@pytest.mark.parametrize("role", ["bureau", "township"])
def test_the_page_runs_one_query_for_its_sites_and_sums_the_ledgers_once_per_change(app, client, login_as, funded,
                                                                                    count_queries, role):
    """A view reads changes_mark (the audit log's largest id); its page of sites in one statement, and the sums by
    site, township and source over every line in one, are read once, then remembered until the next change."""
    login_as(role)
    url = f"/funding/programmes/{funded.programme}"
    with count_queries() as first:
        client.get(url)
    with count_queries() as counted:
        client.get(url)

    def ledgers(statements):
        return [s for s in statements if re.search(r"\b(allocations|disbursements|spending_lines)\b", s)]

    def pages_of_sites(statements):
        return [s for s in statements if re.search(r"\bFROM sites\b", s) and not ledgers([s])]

    assert len(ledgers(first.statements)) == 1, ledgers(first.statements)
    assert len(pages_of_sites(first.statements)) == 1, pages_of_sites(first.statements)
    assert ledgers(counted.statements) == [] and pages_of_sites(counted.statements) == [], counted.statements
    assert any("max(audit_log.id)" in s for s in counted.statements)


def _programme_totals(programme) -> tuple:
    sums = page_sums(programme, [], [], sa.true())
    return tuple(sorted((source_id, t.allocated, t.disbursed, t.spent) for source_id, t in sums.sources.items()))


def _site_figures(programme, site_id: int, source_id: int) -> tuple:
    sums = page_sums(programme, [site_id], [], sa.true())
    figures = sums.sites.get(site_id, {}).get(source_id, Totals())
    return figures.allocated, figures.disbursed, figures.spent


def test_the_remembered_totals_follow_every_new_line_and_site(app, funded):
    today = china_today()
    with app.test_request_context("/"):
        programme = db.session.get(Programme, funded.programme)
        seen = [_programme_totals(programme)]
        first, second = (_site_figures(programme, site_id, funded.city) for site_id in funded.sites)
        for line in (Allocation(site_id=funded.sites[0], source_id=funded.city, entry_date=today, amount_fen=700),
                     Disbursement(site_id=funded.sites[0], source_id=funded.city, entry_date=today, amount_fen=500,
                                  voucher_no="R-1"),
                     SpendingLine(site_id=funded.sites[1], source_id=funded.city, entry_date=today, amount_fen=300,
                                  item="纸笔", category="办公")):
            db.session.add(line)
            db.session.commit()
            seen.append(_programme_totals(programme))
        city = [next(row for row in totals if row[0] == funded.city) for totals in seen]
        assert [c[1:] for c in city] == [
            city[0][1:], (city[0][1] + 700, *city[0][2:]), (city[0][1] + 700, city[0][2] + 500, city[0][3]),
            (city[0][1] + 700, city[0][2] + 500, city[0][3] + 300)]
        assert _programme_totals(programme) == seen[-1]  # remembered: the same answer
        # The page's own sites come from the same remembered sums, and follow the new lines too.
        assert _site_figures(programme, funded.sites[0], funded.city) == (first[0] + 700, first[1] + 500, first[2])
        assert _site_figures(programme, funded.sites[1], funded.city) == (*second[:2], second[2] + 300)
        assert page_sums(programme, [funded.sites[0]], [], sa.true()).first_payment[funded.sites[0]] <= today


def test_a_session_with_its_own_writes_neither_reads_nor_fills_the_memo(app, funded):
    today = china_today()
    with app.test_request_context("/"):
        programme = db.session.get(Programme, funded.programme)
        committed = _programme_totals(programme)
        db.session.add(Disbursement(site_id=funded.sites[0], source_id=funded.city, entry_date=today,
                                    amount_fen=900, voucher_no="U-1"))
        db.session.flush()  # not committed: this session sees its line, the memo must not keep it
        pending = _programme_totals(programme)
        assert pending != committed
        db.session.rollback()
        assert _programme_totals(programme) == committed
        # SQLite gives the next line the rolled-back line's id: the fingerprint is the pending one's again.
        db.session.add(Disbursement(site_id=funded.sites[0], source_id=funded.city, entry_date=today,
                                    amount_fen=40, voucher_no="U-2"))
        db.session.commit()
        city = next(row for row in _programme_totals(programme) if row[0] == funded.city)
        before = next(row for row in committed if row[0] == funded.city)
        assert city[2] == before[2] + 40


def test_the_source_lines_in_english(client, login_as, funded):
    login_as("finance")
    url = f"/funding/programmes/{funded.programme}"
    client.post("/language/en")
    page = client.get(url).get_data(as_text=True)
    assert "<td>Of which: 晋江市级财政</td>" in page and "其中：" not in page
    client.post("/language/zh_Hans_CN")
    assert "<td>其中：晋江市级财政</td>" in client.get(url).get_data(as_text=True)


def test_an_overspent_balance_is_red_the_share_rounds_half_up_and_the_terms_are_given(client, login_as, funded, app):
    """使用率 is spent over allocated, so an overspent site can read below 100 %: its negative 结余 says so in red, and
    the page states what each derived column means, as the workbook does."""
    with app.app_context():
        today = china_today()
        db.session.add_all([
            Disbursement(site_id=funded.sites[1], source_id=funded.city, entry_date=today, amount_fen=1_000_000,
                         voucher_no="O-1"),
            SpendingLine(site_id=funded.sites[1], source_id=funded.city, entry_date=today, amount_fen=1_234_500,
                         item="桌椅", category="设备"),
        ])
        db.session.commit()
    login_as("finance")
    page = client.get(f"/funding/programmes/{funded.programme}").get_data(as_text=True)
    site_row = next(row for row in re.findall(r"<tr><td class=\"ps-3\">.*?</tr>", page) if "12,345.00" in row)
    # 12,345.00 of 30,000.00 is 41.15 %: half up, not the binary float's 41.1.
    assert re.search(r'<td class="text-end text-danger">-¥?2,345\.00</td><td class="text-end">41\.2%</td>',
                     site_row), site_row
    summary = re.search(r'结余</div><div class="h5 mb-0 text-danger">', page)
    assert summary, "the programme's negative balance is red in the summary too"
    assert "使用率 = 支出 ÷ 下达" in page.split('id="reconciliation-terms"')[1]
    other = next(row for row in re.findall(r"<tr><td class=\"ps-3\">.*?</tr>", page) if "80,000.00" in row)
    assert "text-danger" not in other and '<td class="text-end">0.0%</td>' in other
