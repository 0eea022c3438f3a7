"""What the benchmark measures (issue 9): the key pages and every xlsx export, as URLs found in a database that
``flask bench-data`` filled. The same list serves ``make bench`` and the test that the query count of each key page
does not grow with the data (tests/bench/test_query_counts.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app.accounts.models import User
from app.applications.models import Application
from app.extensions import db
from app.funding.models import Site, SpendingLine
from app.places.models import Township
from app.programmes.models import Programme

BUREAU = "bench-bureau"
AUDITOR = "bench-auditor"


@dataclass(frozen=True)
class Page:
    name: str  # the name in the report
    url: str
    user: str  # the account that opens it
    rows: int  # rows the page lists (the size of its floor page); 0 for exports


@dataclass(frozen=True)
class Subjects:
    """The programmes the pages show: the busiest ones of the latest year that has them."""

    scored: int  # most applications (ranking, application overview)
    with_sites: int  # most sites, latest year (reconciliation, monthly grid, archive checklist)
    site: int  # a site of ``with_sites`` with the most spending lines
    township_user: str  # the account of that site's township
    evaluator: int  # the id of bench-e1, whose offline scoring workbook is exported


def subjects() -> Subjects:
    applications = (
        sa.select(Application.programme_id, sa.func.count(Application.id).label("n"))
        .group_by(Application.programme_id).subquery()
    )
    scored = db.session.scalar(
        sa.select(Programme.id).join(applications, applications.c.programme_id == Programme.id)
        .order_by(Programme.year.desc(), applications.c.n.desc(), Programme.id).limit(1))
    sites = sa.select(Site.programme_id, sa.func.count(Site.id).label("n")).group_by(Site.programme_id).subquery()
    with_sites = db.session.scalar(
        sa.select(Programme.id).join(sites, sites.c.programme_id == Programme.id)
        .order_by(Programme.year.desc(), sites.c.n.desc(), Programme.id).limit(1))
    site = db.session.scalar(
        sa.select(Site.id).outerjoin(SpendingLine, SpendingLine.site_id == Site.id)
        .where(Site.programme_id == with_sites).group_by(Site.id)
        .order_by(sa.func.count(SpendingLine.id).desc(), Site.id).limit(1))
    township_code = db.session.scalar(sa.select(Township.code).join(Site, Site.township_id == Township.id)
                                      .where(Site.id == site))
    evaluator = db.session.scalar(sa.select(User.id).where(User.username == "bench-e1"))
    # The generator names township accounts so (app/bench_data.py, accounts()).
    return Subjects(scored, with_sites, site, f"bench-{township_code}".lower()[:40], evaluator)


def _count(statement) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(statement.subquery()))


def key_pages(page_size: int = 50) -> list[Page]:
    """The seven key pages of the issue, each with the number of rows it lists (all but the home page are paged)."""
    chosen = subjects()
    applications = min(page_size, _count(sa.select(Application.id).where(Application.programme_id == chosen.scored)))
    sites = min(page_size, _count(sa.select(Site.id).where(Site.programme_id == chosen.with_sites)))
    programmes = _count(sa.select(Programme.id))
    return [
        Page("bureau home", "/", BUREAU, programmes),
        Page("application overview", f"/programmes/{chosen.scored}/overview", BUREAU, applications),
        Page("ranking", f"/scoring/programmes/{chosen.scored}/ranking", BUREAU, applications),
        Page("reconciliation", f"/funding/programmes/{chosen.with_sites}", BUREAU, sites),
        Page("monthly grid", f"/progress/programmes/{chosen.with_sites}", BUREAU, sites),
        Page("archive checklist", f"/archive/programmes/{chosen.with_sites}", BUREAU, sites),
        Page("audit-log search", "/audit/?action=update&object_type=Application", AUDITOR, page_size),
    ]


def exports() -> list[Page]:
    """Every xlsx the app writes, for the busiest programmes (shelf reports for the same programmes)."""
    chosen = subjects()
    scored, funded, site = chosen.scored, chosen.with_sites, chosen.site
    pages = [
        Page("applications export", "/applications/export.xlsx", BUREAU, 0),
        Page("ranking export", f"/scoring/programmes/{scored}/ranking.xlsx", BUREAU, 0),
        Page("selection export", f"/scoring/programmes/{scored}/selection.xlsx", BUREAU, 0),
        Page("offline scoring workbook", f"/scoring/programmes/{scored}/workbook.xlsx?evaluator={chosen.evaluator}",
             BUREAU, 0),
        Page("reconciliation workbook", f"/funding/programmes/{funded}/reconciliation.xlsx", BUREAU, 0),
        Page("site spending export", f"/funding/sites/{site}/spending.xlsx", BUREAU, 0),
        Page("fund-use notice", f"/funding/sites/{site}/notice.xlsx", BUREAU, 0),
        Page("spending import template", "/funding/spending/import-template.xlsx", chosen.township_user, 0),
        Page("community import template", "/places/communities/import/template.xlsx", BUREAU, 0),
        Page("audit-log export", "/audit/export.xlsx?action=update&object_type=Application", AUDITOR, 0),
    ]
    from reports.shelf import REPORT_LIST

    for report in REPORT_LIST:
        programme = funded if report.programme_needs == "sites" else scored
        pages.append(Page(f"report: {report.key}", f"/reports/{report.key}.xlsx?programme={programme}", BUREAU, 0))
    return pages
