"""Issue 9: the ranking is computed whole from sheet totals summed in SQL and shown a page at a time; the quota line
falls where it falls in the whole ranking; ties are listed for a decision whatever page they are on."""

from __future__ import annotations

import re

from app.extensions import db
from app.programmes.models import Programme
from app.scoring.ranking import programme_ranking, ranked, submitted_sheets
from tests.scoring.test_selection import _score


def _sheets(app, scoring):
    _score(app, scoring, {
        (0, 0): (35, 15, 30, 0), (0, 1): (35, 15.5, 35, 0),  # T-1: 80, 85.5
        (1, 0): (35, 20, 25, 0), (1, 1): (30, 10, 30, 0),  # T-2: 80 (55 in A), 70
        (2, 0): (30, 20, 30, 0), (2, 1): (30, 10, 30, 0),  # T-3: 80 (50 in A), 70
    }, veto={(0, 1)})


def test_sheet_totals_from_sql(app, scoring):
    _sheets(app, scoring)
    with app.app_context():
        programme = db.session.get(Programme, scoring.programme)
        sheets = submitted_sheets(programme)
        by_application = {a: sorted((s.half_points, s.group_points("A"), s.vetoed) for s in sheets[a])
                          for a in scoring.applications}
        assert by_application[scoring.applications[0]] == [(160, 50, False), (171, 50.5, True)]
        assert by_application[scoring.applications[1]] == [(140, 40, False), (160, 55, False)]
        order, _sheets_of = ranked(programme)
        rows = programme_ranking(programme)
        assert [r.application_id for r in order] == [row.application.id for row in rows]
        assert [(row.application.reference, row.ranked.position, row.ranked.vetoed) for row in rows] == [
            ("T-2", 1, False), ("T-3", 2, False), ("T-1", None, True)]


def test_the_ranking_page_by_page_with_the_quota_line_in_place(app, client, login_as, scoring, monkeypatch):
    _sheets(app, scoring)
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    login_as("bureau")
    url = f"/scoring/programmes/{scoring.programme}/ranking"
    first, second = client.get(url).get_data(as_text=True), client.get(url + "?page=2").get_data(as_text=True)
    assert re.findall(r"<td>(T-\d)</td>", first) == ["T-2", "T-3"] and "quota-line" not in first
    assert re.findall(r"<td>(T-\d)</td>", second) == ["T-1"]
    assert second.index("quota-line") < second.index("<td>T-1</td>")  # the quota (2) is reached before T-1
    assert "共 3 条" in first and "一票否决" in second
    monkeypatch.setitem(app.config, "PAGE_SIZE", 1)
    assert "quota-line" in client.get(url + "?page=3").get_data(as_text=True)
    assert "quota-line" not in client.get(url + "?page=2").get_data(as_text=True)


def test_ties_on_any_page_can_be_decided(app, client, login_as, scoring, monkeypatch):
    _score(app, scoring, {(1, 0): (35, 20, 25, 0), (2, 0): (35, 20, 25, 0), (0, 0): (40, 20, 40, 5)})
    monkeypatch.setitem(app.config, "PAGE_SIZE", 1)
    login_as("bureau")
    page = client.get(f"/scoring/programmes/{scoring.programme}/ranking").get_data(as_text=True)
    assert re.findall(r"<td>(T-\d)</td>", page) == ["T-1"]
    form = page.split('name="application_id"', 1)[1].split("</select>", 1)[0]
    assert "T-2" in form and "T-3" in form and "T-1" not in form


def test_the_quota_line_in_english(app, client, login_as, scoring):
    _sheets(app, scoring)
    login_as("bureau")
    url = f"/scoring/programmes/{scoring.programme}/ranking"
    client.post("/language/en")
    assert "—— Number to be selected: 2 ——" in client.get(url).get_data(as_text=True)
    client.post("/language/zh_Hans_CN")
    assert "—— 拟确定数量 2 个 ——" in client.get(url).get_data(as_text=True)
