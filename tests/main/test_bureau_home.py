"""The bureau's home page: 各镇(街道)申报情况 per running programme, and a timeline whose labels stay inside the
drawing and which says where today is."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from datetime import date

import pytest
import sqlalchemy as sa

from app.applications.models import Application, ApplicationStatus
from app.database import china_today
from app.extensions import db
from app.main import dashboards
from app.places.models import Township
from app.programmes.models import Milestone, MilestoneKind, Programme, ProgrammeStatus
from app.statements import REMEMBERED
from tests.applications.helpers import communities_of

S = ApplicationStatus


def _apply(app, programme: int, township: int, statuses: list[ApplicationStatus]) -> None:
    with app.app_context():
        communities = communities_of(app, township, len(statuses))
        for number, (community, status) in enumerate(zip(communities, statuses, strict=True), start=1):
            db.session.add(Application(programme_id=programme, township_id=township, community_id=community,
                                       sequence=number, reference=f"H-{programme}-{township}-{number}",
                                       status=status))
        db.session.commit()


def _third_township(app, places) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Township.id).where(Township.id.not_in([places.anhai, places.cizao]))
                                 .order_by(Township.sort_order).limit(1))


def _groups(page: str) -> dict[str, str]:
    """The submissions card's row groups by programme name (the group's header)."""
    table = page.split('id="submissions"', 1)[1].split("</table>", 1)[0]
    groups = {}
    for group in table.split('<tbody class="programme-submissions"')[1:]:
        name = re.search(r'scope="rowgroup"><div[^>]*><span>([^<]+)</span>', group).group(1)
        groups[name] = group.split("</tbody>", 1)[0]
    return groups


def _row(group: str, township: str) -> list[int]:
    cells = re.search(rf"<tr><td>{township}</td>(.*?)</tr>", group).group(1)
    return [int(n) for n in re.findall(r'<td class="text-end">(\d+)</td>', cells)]


def _columns(statuses: dict[ApplicationStatus, int]) -> list[int]:
    return [statuses.get(status, 0) for status in ApplicationStatus if status != S.WITHDRAWN]


def test_each_running_programme_has_its_own_rows_and_a_link_to_its_overview(app, client, login_as, make_programme,
                                                                          places):
    older = make_programme(name="二〇三一年示范点", year=2031)
    newer = make_programme(name="二〇三二年示范点", year=2032)
    waiting = make_programme(name="尚无申报的项目", year=2030)
    make_programme(name="草稿项目", status=ProgrammeStatus.DRAFT)
    _apply(app, older, places.anhai, [S.SUBMITTED])
    _apply(app, newer, places.anhai, [S.DRAFT, S.DRAFT])
    _apply(app, newer, places.cizao, [S.ACCEPTED, S.WITHDRAWN])
    with app.app_context():
        anhai, cizao = (db.session.get(Township, t).name for t in (places.anhai, places.cizao))
    login_as("bureau")
    page = client.get("/").get_data(as_text=True)
    groups = _groups(page)
    # Newest first; a draft programme is not running; a running one without applications says so.
    assert list(groups) == ["二〇三二年示范点", "二〇三一年示范点", "尚无申报的项目"]
    assert _row(groups["二〇三一年示范点"], anhai) == _columns({S.SUBMITTED: 1})
    assert cizao not in groups["二〇三一年示范点"]
    assert _row(groups["二〇三二年示范点"], anhai) == _columns({S.DRAFT: 2})
    assert _row(groups["二〇三二年示范点"], cizao) == _columns({S.ACCEPTED: 1})
    assert "暂无申报。" in groups["尚无申报的项目"] and "<tr><td>" not in groups["尚无申报的项目"]
    for name, programme in (("二〇三一年示范点", older), ("二〇三二年示范点", newer), ("尚无申报的项目", waiting)):
        assert f'href="/programmes/{programme}/overview">申报情况总览</a>' in groups[name]


def test_without_running_programmes_the_card_says_so(client, login_as):
    login_as("bureau")
    table = client.get("/").get_data(as_text=True).split('id="submissions"', 1)[1].split("</table>", 1)[0]
    assert "暂无进行中的项目。" in table and "<tr><td>" not in table


def test_each_programme_says_how_many_more_townships_it_has(app, client, login_as, make_programme, places,
                                                            monkeypatch):
    wide = make_programme(name="三个镇街的项目")
    narrow = make_programme(name="一个镇街的项目")
    for township in (places.anhai, places.cizao, _third_township(app, places)):
        _apply(app, wide, township, [S.SUBMITTED])
    _apply(app, narrow, places.cizao, [S.SUBMITTED])
    monkeypatch.setattr(dashboards, "HOME_ROWS", 2)
    login_as("bureau")
    groups = _groups(client.get("/").get_data(as_text=True))
    assert groups["三个镇街的项目"].count("<tr><td>") == 2
    assert (f'<a href="/programmes/{wide}/overview">另有 1 个镇(街道)有申报，见本项目的申报情况总览。</a>'
            in groups["三个镇街的项目"])
    assert groups["一个镇街的项目"].count("<tr><td>") == 1 and "另有" not in groups["一个镇街的项目"]


def test_the_home_page_counts_as_many_queries_for_many_programmes_as_for_one(app, client, login_as,
                                                                           make_programme, places, count_queries):
    def counted() -> int:
        for remembered in REMEMBERED:  # the first view after a change: everything is counted again
            remembered.clear()
        with count_queries() as queries:
            assert client.get("/").status_code == 200
        return queries.count

    login_as("bureau")
    first = make_programme()
    _apply(app, first, places.anhai, [S.SUBMITTED])
    client.get("/")
    one = counted()
    for township in (places.anhai, places.cizao, _third_township(app, places)):
        programme = make_programme(status=ProgrammeStatus.EVALUATING)
        _apply(app, programme, township, [S.SUBMITTED, S.ACCEPTED])
        if township != places.anhai:  # which has its application in the first programme already
            _apply(app, first, township, [S.DRAFT])
    assert len(_groups(client.get("/").get_data(as_text=True))) == 4
    assert counted() == one


# --- the timeline ---------------------------------------------------------------------------------------------


def _timeline_programme(app, make_programme, year: int, days: list[date], name: str = "时间轴项目") -> int:
    programme_id = make_programme(name=name, year=year)
    with app.app_context():
        programme = db.session.get(Programme, programme_id)
        programme.milestones = [Milestone(name=f"节点{number}号：申报材料报送", kind=MilestoneKind.OTHER, due_date=day)
                                for number, day in enumerate(days, start=1)]
        programme.milestones[0].kind = MilestoneKind.NOMINATION
        db.session.commit()
    return programme_id


def _timeline(page: str, programme_name: str) -> tuple[str, ElementTree.Element]:
    """The heading line above the programme's timeline and its SVG, parsed."""
    card = page.split('id="timeline"', 1)[1]
    heading, rest = card.split(f">{programme_name}</a>", 1)[1].split("<svg", 1)
    return heading, ElementTree.fromstring("<svg" + rest.split("</svg>", 1)[0] + "</svg>")


def _extent(text: ElementTree.Element) -> tuple[float, float]:
    """Where a label can reach, at one em (10 units) for every character: wider than any glyph it holds."""
    x, width = float(text.get("x")), len(text.text) * 10
    return {"start": (x, x + width), "middle": (x - width / 2, x + width / 2), "end": (x - width, x)}[
        text.get("text-anchor")]


def test_timeline_labels_near_an_edge_start_or_end_at_their_mark(app, client, login_as, make_programme):
    year = china_today().year
    _timeline_programme(app, make_programme, year, [date(year, 1, 2), date(year, 6, 30), date(year, 12, 30)])
    login_as("bureau")
    heading, svg = _timeline(client.get("/").get_data(as_text=True), "时间轴项目")
    width = float(svg.get("viewBox").split()[2])
    first, middle, last = svg.findall("text")
    assert first.get("text-anchor") == "start" and last.get("text-anchor") == "end"
    assert middle.get("text-anchor") == "middle"
    assert last.text == "节点3号：申报材料… 12/30"  # the name shortened to ten characters
    circles = svg.findall("circle")
    for circle, text in zip(circles, (first, middle, last), strict=True):
        assert circle.get("cx") == text.get("x")
        assert 6 <= float(circle.get("cx")) <= width - 6  # the mark's circle (r=6) shows whole
    for text in (first, middle, last):
        left, right = _extent(text)
        assert 0 <= left and right <= width, (text.text, left, right)
    # Today lies in the programme's year: the red line is drawn between the first and the last mark, no words.
    line = svg.find("line")
    assert line is not None and float(first.get("x")) < float(line.get("x1")) < float(last.get("x"))
    assert "时间轴之" not in heading


@pytest.mark.parametrize(("years", "words"), [(1, "之前"), (-2, "之后")])
def test_timeline_says_in_words_when_today_lies_before_or_after_it(app, client, login_as, make_programme, years,
                                                                   words):
    year = china_today().year + years
    _timeline_programme(app, make_programme, year, [date(year, 3, 17), date(year, 11, 30)])
    login_as("bureau")
    heading, svg = _timeline(client.get("/").get_data(as_text=True), "时间轴项目")
    assert svg.find("line") is None
    assert f"今天（{china_today().isoformat()}）在本时间轴{words}" in heading


def test_timeline_axis_reaches_a_milestone_after_the_year_instead_of_piling_marks_on_the_edge():
    programme = Programme(name="跨年项目", year=2030, milestones=[
        Milestone(name="年末", due_date=date(2030, 12, 31)), Milestone(name="次年总结", due_date=date(2031, 3, 1))])
    (row,) = dashboards.timeline([programme], date(2031, 1, 15))
    year_end, next_year = row["marks"]
    assert year_end["x"] < row["today"] < next_year["x"] == dashboards.TIMELINE_WIDTH - dashboards.TIMELINE_MARGIN
    assert row["today_side"] is None and next_year["anchor"] == "end"
    assert dashboards.timeline([programme], date(2031, 3, 2))[0]["today_side"] == "after"
    assert dashboards.timeline([programme], date(2029, 12, 31))[0]["today_side"] == "before"


def test_timeline_labels_of_close_dates_take_rows_and_never_overlap(app, client, login_as, make_programme):
    """Three milestones a few days apart: alternating two rows put the first and the third on top of each other."""
    year = china_today().year
    _timeline_programme(app, make_programme, year, [date(year, 6, 1), date(year, 6, 4), date(year, 6, 7),
                                                    date(year, 10, 1)])
    login_as("bureau")
    _heading, svg = _timeline(client.get("/").get_data(as_text=True), "时间轴项目")
    height = float(svg.get("viewBox").split()[3])
    labels = []
    for text in svg.findall("text"):
        x, width = float(text.get("x")), dashboards._label_width(text.text)
        left = {"start": x, "middle": x - width / 2, "end": x - width}[text.get("text-anchor")]
        labels.append((float(text.get("y")), left, left + width))
        assert float(text.get("y")) + 4 <= height  # inside the drawing, descenders too
    assert len({y for y, _left, _right in labels}) == 3  # the June dates need three rows; October shares the first
    for i, (y, left, right) in enumerate(labels):
        for other_y, other_left, other_right in labels[i + 1:]:
            assert y != other_y or right <= other_left or other_right <= left, (labels[i], (other_y, other_left))
