"""The bureau's home page: 各镇(街道)申报情况 per running programme."""

from __future__ import annotations

import re

import sqlalchemy as sa

from app.applications.models import Application, ApplicationStatus
from app.extensions import db
from app.main import dashboards
from app.places.models import Township
from app.programmes.models import ProgrammeStatus
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
