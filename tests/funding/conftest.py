"""Two finalised sites of one programme (安海镇 at the prefecture tier, 磁灶镇 at the city tier) with allocations."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.applications.models import Application, ApplicationStatus
from app.extensions import db
from app.funding.models import Allocation, Site
from app.programmes.models import ProgrammeStatus
from app.programmes.templates import funding_source
from tests.applications.helpers import communities_of


@dataclass
class Funded:
    programme: int
    sites: list[int]  # 安海镇, 磁灶镇
    city: int  # 晋江市级财政
    prefecture: int  # 泉州市级财政
    matching: int  # 镇(街道)配套 (a local source)


@pytest.fixture
def funded(app, make_programme, places) -> Funded:
    programme_id = make_programme(status=ProgrammeStatus.SELECTED, quota=2)
    with app.app_context():
        city, prefecture, matching = (funding_source("晋江市级财政"), funding_source("泉州市级财政"),
                                      funding_source("镇(街道)配套"))
        matching.local = True
        sites = []
        for rank, township in enumerate([places.anhai, places.cizao], start=1):
            community = communities_of(app, township, 1)[0]
            application = Application(programme_id=programme_id, township_id=township, community_id=community,
                                      sequence=1, reference=f"F-{rank}", status=ApplicationStatus.ACCEPTED)
            db.session.add(application)
            db.session.flush()
            site = Site(programme_id=programme_id, application_id=application.id, township_id=township,
                        community_id=community, rank=rank)
            db.session.add(site)
            db.session.flush()
            sites.append(site)
        from app.database import china_today

        today = china_today()
        db.session.add_all([
            Allocation(site_id=sites[0].id, source_id=prefecture.id, amount_fen=5_000_000, reason="档次",
                       entry_date=today),
            Allocation(site_id=sites[0].id, source_id=city.id, amount_fen=3_000_000, reason="档次", entry_date=today),
            Allocation(site_id=sites[1].id, source_id=city.id, amount_fen=3_000_000, reason="档次", entry_date=today),
        ])
        db.session.commit()
        return Funded(programme_id, [s.id for s in sites], city.id, prefecture.id, matching.id)
