"""The ranking page writes its rows and the tie form's options in Python (app/scoring/views.py): the same cells
the template wrote, from the remembered ranking."""

from __future__ import annotations

import re

from app.applications.models import Application
from app.extensions import db
from app.places.models import Community
from app.programmes.models import Programme
from app.scoring.aggregate import display
from app.scoring.ranking import ranked
from tests.scoring.test_selection import _score


def test_rows_show_positions_means_and_badges(app, client, login_as, scoring):
    _score(app, scoring, {(0, 0): (35, 15.5, 30, 0), (0, 1): (35, 15, 35, 0),  # T-1: 80.5 and 85
                          (1, 0): (40, 20, 30, 1)}, veto={(1, 0)})  # T-2 vetoed; T-3 without sheets
    login_as("bureau")
    page = client.get(f"/scoring/programmes/{scoring.programme}/ranking").get_data(as_text=True)
    rows = re.findall(r"<tr class=\"(table-success|)\"><td>(.+?)</td><td>(T-\d)</td>.*?"
                      r"<td class=\"text-end\">(\d+)</td><td class=\"text-end\">(.*?)</td>"
                      r"<td class=\"text-end\">(.*?)</td><td>(.*?)</td></tr>", page)
    with app.app_context():
        order, _sheets = ranked(db.session.get(Programme, scoring.programme))
        means = [(display(r.mean), display(r.tiebreak)) for r in order]
    assert [row[:4] for row in rows] == [("table-success", "1", "T-1", "2"), ("", "—", "T-2", "1"),
                                         ("", "—", "T-3", "0")]
    assert [row[4:6] for row in rows] == means and means[0] == ("82.75", "50.25") and means[2] == ("", "")
    assert "一票否决" in rows[1][6] and "尚无评分" in rows[2][6] and rows[0][6] == ""


def test_tie_options_in_ranking_order_and_escaped(app, client, login_as, scoring):
    _score(app, scoring, {(a, 0): (35, 20, 25, 0) for a in range(3)})  # all three level
    with app.app_context():
        application = db.session.get(Application, scoring.applications[2])
        db.session.get(Community, application.community_id).name = "<村>"
        db.session.commit()
    login_as("bureau")
    page = client.get(f"/scoring/programmes/{scoring.programme}/ranking").get_data(as_text=True)
    select = page.split('name="application_id"', 1)[1].split("</select>", 1)[0]
    with app.app_context():
        order, _sheets = ranked(db.session.get(Programme, scoring.programme))
    assert re.findall(r'<option value="(\d+)">', select) == [str(r.application_id) for r in order if r.tied]
    assert "&lt;村&gt;" in select and "<村>" not in page
