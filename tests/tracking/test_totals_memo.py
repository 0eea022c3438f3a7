"""Issue 9: the archive checklist's completeness and the monthly grid's progress over a whole programme are remembered
per process under the audit log's largest id (app.statements.changes_mark). Every change of what they count (an
item added or soft-deleted, a report submitted in place, a site added) must give fresh totals; an uncommitted
change must leave no trace."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from app.database import china_today
from app.extensions import db
from app.funding.models import Site
from app.programmes.models import Programme
from app.tracking import archive, progress
from app.tracking.models import ArchiveItem, ArchiveKind, MonthlyReport, ReportStatus
from tests.funding.conftest import funded  # noqa: F401
from tests.tracking.test_archive import _add_directly, sites  # noqa: F401
from tests.tracking.test_progress import _china, tracked  # noqa: F401


def _completeness(programme_id: int):
    by_kind, complete = archive.programme_completeness(db.session.get(Programme, programme_id))
    return dict(by_kind), complete


def test_archive_totals_follow_every_change(app, sites, count_queries):  # noqa: F811
    for kind in ArchiveKind:
        _add_directly(app, sites.sites[0], kind, "材料")
    with app.app_context():
        programme = db.session.get(Programme, sites.programme)  # kept: the identity map holds it weakly
        before = _completeness(sites.programme)
        assert before[1] == 1 and before[0][ArchiveKind.MEETINGS] == 1
        with count_queries() as counter:
            assert _completeness(sites.programme) == before
        assert counter.count == 1, counter.statements  # the fingerprint only: the totals are remembered
        # Nothing the session has not committed is remembered, and nothing it has not committed is read back later.
        file_id = db.session.scalar(sa.select(ArchiveItem.file_id).limit(1))
        pending = ArchiveItem(site_id=sites.sites[1], kind=ArchiveKind.PLAN, title="未提交", item_date=china_today(),
                              file_id=file_id)
        db.session.add(pending)
        db.session.flush()
        assert _completeness(sites.programme)[0][ArchiveKind.PLAN] == 2
        db.session.rollback()
        assert _completeness(programme.id) == before
        # Another change in its place: on SQLite its audit row takes the rolled-back one's id, so the fingerprint is
        # the same; the totals counted with the uncommitted item must not have been kept under it.
        db.session.add(ArchiveItem(site_id=sites.sites[1], kind=ArchiveKind.MEETINGS, title="另一份",
                                   item_date=china_today(), file_id=file_id))
        db.session.commit()
        other = _completeness(programme.id)
        assert other[0][ArchiveKind.PLAN] == 1 and other[0][ArchiveKind.MEETINGS] == 2

    _add_directly(app, sites.sites[1], ArchiveKind.MEETINGS, "纪要")
    with app.app_context():
        added = _completeness(sites.programme)
        assert added[0][ArchiveKind.MEETINGS] == 2 and added[1] == 1
        # A soft delete changes the item in place.
        item = db.session.scalar(sa.select(ArchiveItem).where(ArchiveItem.site_id == sites.sites[0],
                                                              ArchiveItem.kind == ArchiveKind.PLAN))
        archive.remove_item(item, None)
        db.session.commit()
        removed = _completeness(sites.programme)
        assert removed[1] == 0 and removed[0][ArchiveKind.PLAN] == 0 and removed[0][ArchiveKind.MEETINGS] == 2


def test_programme_progress_follows_every_change(app, tracked, count_queries):  # noqa: F811
    year = china_today().year
    today = date(year, 9, 1)  # May to August are owed by both sites
    with app.app_context():
        db.session.add(MonthlyReport(site_id=tracked.sites[0], month=date(year, 5, 1), status=ReportStatus.DRAFT,
                                     work_done="x"))
        db.session.commit()
        programme = db.session.get(Programme, tracked.programme)
        before = progress.programme_progress(programme, today=today)
        assert sum(missing for _name, missing, _sites in before.overdue) == 8
        with count_queries() as counter:
            assert progress.programme_progress(programme, today=today) == before
        assert counter.count == 1  # the fingerprint only
        # A report submitted: the same row, its status changed in place.
        report = db.session.scalar(sa.select(MonthlyReport).where(MonthlyReport.site_id == tracked.sites[0]))
        progress.submit_report(report)
        db.session.commit()
        submitted = progress.programme_progress(programme, today=today)
        assert sum(missing for _name, missing, _sites in submitted.overdue) == 7
        # A site selected later in the year owes fewer months; it is counted at once.
        site = db.session.get(Site, tracked.sites[1])
        site.selected_at = _china(date(year, 6, 15))
        db.session.commit()
        moved = progress.programme_progress(programme, today=today)
        assert sum(missing for _name, missing, _sites in moved.overdue) == 3 + 2  # July and August
        assert moved.sites == before.sites == 2
