"""``flask bench-data`` (issue 9 §1) at its hidden ``tiny`` scale, run through the CLI into fresh, migrated databases
(SQLite and PostgreSQL): the shape of what it makes, determinism, refusal of a database that is not empty, and the
app's key pages on the generated data. The city scale is run by hand, not here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.applications.models import Application, ApplicationStatus
from app.audit.models import AuditLog
from app.bench_data import SCALES
from app.database import china_today
from app.extensions import db
from app.files.models import StoredFile
from app.funding.models import Allocation, Disbursement, Site, SpendingLine
from app.places.models import Community, Township
from app.programmes.models import FundingTier, Milestone, Programme, ProgrammeStatus
from app.scoring.models import Assignment, Criterion, Score, Selection, SelectionStatus, SheetStatus
from app.tracking.models import ArchiveItem, ConsultationRecord, MonthlyReport, SiteMilestone
from app.tracking.progress import first_of, report_months
from tests.bench.helpers import fresh_app
from tests.conftest import _database_kinds, login

TINY = SCALES["tiny"]
EVALUATORS = [f"bench-e{number}" for number in range(1, 6)]


@pytest.fixture(autouse=True)
def _transaction():
    """Replaces the suite's per-test transaction: these tests make and fill databases of their own."""
    yield


def _dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _run(app, *extra: str):
    return app.test_cli_runner().invoke(args=["bench-data", "--scale", "tiny", "--seed", "1", *extra])


@dataclass
class Generated:
    kind: str
    first: object  # the app on the first database
    second: object  # the app on the second, filled with the same seed
    output: str


@pytest.fixture(scope="module", params=_database_kinds())
def generated(request, tmp_path_factory):
    apps = [fresh_app(request.param, request, tmp_path_factory) for _ in range(2)]
    outputs = []
    for app in apps:
        result = _run(app)
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
        outputs.append(result.output)
    yield Generated(request.param, apps[0], apps[1], outputs[0])
    for app in apps:
        _dispose(app)


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_prints_the_counts_and_the_time(generated):
    assert "scale tiny, seed 1" in generated.output
    assert re.search(rf"^  spending_lines +{TINY.spending_lines:,}$", generated.output, re.M)
    assert re.search(rf"^  audit_log +{TINY.audit_rows:,}$", generated.output, re.M)
    assert re.search(r"^done in \d+\.\d s$", generated.output, re.M)


def test_shape(generated):
    with generated.first.app_context():
        today = china_today()
        programmes = db.session.scalars(sa.select(Programme).order_by(Programme.year, Programme.code)).all()
        assert [(p.year, p.code) for p in programmes] == [
            (year, code) for year in (today.year - 1, today.year) for code in ("GJGX", "SD", "SFD")]
        assert len(db.session.scalars(sa.select(Township.id)).all()) == 19 * TINY.copies
        evaluators = dict(db.session.execute(sa.select(User.id, User.evaluator_group)
                                             .where(User.username.in_(EVALUATORS))).tuples().all())
        assert len(evaluators) == 5 and all(evaluators.values())

        finished = [p for p in programmes if p.status in (ProgrammeStatus.CLOSED, ProgrammeStatus.IMPLEMENTING)]
        assert finished, "every programme of the last two years is selected by late in the year"
        for programme in finished:
            selection = db.session.scalar(sa.select(Selection).where(Selection.programme_id == programme.id))
            assert selection.status == SelectionStatus.FINAL
            sites = db.session.scalars(sa.select(Site).where(Site.programme_id == programme.id)).all()
            assert len(sites) == programme.quota > 0
            criteria = _count(sa.select(Criterion.id).where(Criterion.programme_id == programme.id).subquery())
            accepted = db.session.scalars(sa.select(Application.id).where(
                Application.programme_id == programme.id, Application.status == ApplicationStatus.ACCEPTED)).all()
            assert len(accepted) >= len(sites)
            sheets = db.session.execute(
                sa.select(Assignment.application_id, Assignment.evaluator_id, Assignment.status,
                          sa.func.count(Score.id))
                .outerjoin(Score, Score.assignment_id == Assignment.id)
                .where(Assignment.application_id.in_(accepted))
                .group_by(Assignment.id, Assignment.application_id, Assignment.evaluator_id, Assignment.status)
            ).all()
            per_application: dict[int, set[int]] = {}
            for application_id, evaluator_id, status, scores in sheets:
                assert status == SheetStatus.SUBMITTED and scores == criteria
                per_application.setdefault(application_id, set()).add(evaluator_id)
            assert per_application == {application_id: set(evaluators) for application_id in accepted}
            for site in sites:
                tier = db.session.get(FundingTier, site.tier_id)
                allocated = db.session.execute(
                    sa.select(Allocation.source_id, Allocation.amount_fen)
                    .where(Allocation.site_id == site.id, Allocation.reason.like("按补助档次%"))).all()
                assert sorted(allocated) == sorted((a.source_id, a.amount_fen) for a in tier.amounts)
                months = {m for m in report_months(site) if m <= first_of(today)}
                reported = set(db.session.scalars(sa.select(MonthlyReport.month)
                                                  .where(MonthlyReport.site_id == site.id)))
                assert reported == months, site.id
                assert _count(sa.select(SiteMilestone.id).where(SiteMilestone.site_id == site.id).subquery()) > 0

        assert _count(SpendingLine) == TINY.spending_lines
        assert _count(AuditLog) == TINY.audit_rows
        assert _count(ConsultationRecord) == TINY.consultations
        assert _count(StoredFile) == 1
        assert db.session.scalar(sa.select(sa.func.count(sa.distinct(ArchiveItem.file_id)))) == 1
        assert _count(ArchiveItem) > 0
        # Append-only rules hold: every reversal undoes exactly its line.
        for model in (SpendingLine, Disbursement):
            original = sa.orm.aliased(model)
            bad = db.session.scalar(sa.select(sa.func.count()).select_from(model)
                                    .join(original, original.id == model.reverses_id)
                                    .where(model.amount_fen != -original.amount_fen))
            assert bad == 0


def _checksum(app) -> tuple[str, dict[str, tuple[int, int]]]:
    """A digest of the generated content (not of ids or creation stamps), and spending (sum, lines) per site."""
    with app.app_context():
        def rows(statement) -> list[tuple[str, ...]]:
            return sorted(tuple(str(value) for value in row) for row in db.session.execute(statement))

        site_ref = sa.select(Site.id, Application.reference).join(Application, Application.id == Site.application_id)
        refs = dict(db.session.execute(site_ref).tuples().all())
        spending = {refs[site_id]: (int(total), lines) for site_id, total, lines in db.session.execute(
            sa.select(SpendingLine.site_id, sa.func.sum(SpendingLine.amount_fen), sa.func.count(SpendingLine.id))
            .group_by(SpendingLine.site_id))}
        parts = [
            rows(sa.select(Application.reference, Application.status, Community.name, Application.submitted_at)
                 .join(Community, Community.id == Application.community_id)),
            rows(sa.select(Application.reference, User.username, Assignment.submitted_at,
                           sa.func.sum(Score.half_points))
                 .join(Assignment, Assignment.application_id == Application.id)
                 .join(User, User.id == Assignment.evaluator_id).join(Score, Score.assignment_id == Assignment.id)
                 .group_by(Application.reference, User.username, Assignment.submitted_at)),
            rows(sa.select(Application.reference, Site.rank, FundingTier.name, Site.selected_at)
                 .join(Site, Site.application_id == Application.id).join(FundingTier, FundingTier.id == Site.tier_id)),
            rows(sa.select(Application.reference, MonthlyReport.month, MonthlyReport.status,
                           MonthlyReport.spent_this_month_fen, MonthlyReport.submitted_at)
                 .join(Site, Site.id == MonthlyReport.site_id)
                 .join(Application, Application.id == Site.application_id)),
            rows(sa.select(Disbursement.voucher_no, Disbursement.entry_date, Disbursement.amount_fen)),
            rows(sa.select(Milestone.name, Township.code, SiteMilestone.site_id.is_(None), SiteMilestone.status,
                           SiteMilestone.submitted_at, SiteMilestone.decided_at)
                 .join(Milestone, Milestone.id == SiteMilestone.milestone_id)
                 .join(Township, Township.id == SiteMilestone.township_id)),
            rows(sa.select(ArchiveItem.kind, ArchiveItem.title, ArchiveItem.item_date, ArchiveItem.deleted_at)),
            rows(sa.select(Community.name, ConsultationRecord.topic, ConsultationRecord.held_at,
                           ConsultationRecord.present, ConsultationRecord.votes_for)
                 .join(Community, Community.id == ConsultationRecord.community_id)),
            # The generated audit rows (those the ORM's flush hook wrote carry the moment of the run).
            rows(sa.select(AuditLog.at, AuditLog.action, AuditLog.actor_name, AuditLog.object_type,
                           AuditLog.object_id, AuditLog.summary, AuditLog.ip).where(AuditLog.ip != "")),
        ]
        return hashlib.sha256(repr(parts).encode()).hexdigest(), spending


def test_same_seed_same_data(generated):
    digest_a, spending_a = _checksum(generated.first)
    digest_b, spending_b = _checksum(generated.second)
    assert spending_a and spending_a == spending_b
    assert digest_a == digest_b


def test_a_database_with_programmes_is_refused(generated):
    with generated.first.app_context():
        before = (_count(Programme), _count(SpendingLine), _count(AuditLog))
    result = _run(generated.first)
    assert result.exit_code != 0
    assert "already has programmes" in result.output
    with generated.first.app_context():
        assert (_count(Programme), _count(SpendingLine), _count(AuditLog)) == before
    unknown = generated.first.test_cli_runner().invoke(args=["bench-data", "--scale", "planet"])
    assert unknown.exit_code != 0 and "use one of: city, province" in unknown.output


def test_key_pages_answer_on_the_generated_data(generated):
    app = generated.first
    with app.app_context():
        programme_ids = db.session.scalars(sa.select(Programme.id).where(
            Programme.status.in_([ProgrammeStatus.CLOSED, ProgrammeStatus.IMPLEMENTING]))).all()
    client = app.test_client()
    assert login(client, "bench-bureau").status_code == 302
    paths = ["/"] + [path for programme_id in programme_ids for path in (
        f"/funding/programmes/{programme_id}", f"/progress/programmes/{programme_id}",
        f"/scoring/programmes/{programme_id}/ranking")]
    for path in paths:
        assert client.get(path).status_code == 200, path
    auditor = app.test_client()
    assert login(auditor, "bench-auditor").status_code == 302
    assert auditor.get("/audit/").status_code == 200


@pytest.mark.parametrize("kind", _database_kinds())
def test_early_in_the_year_the_current_round_is_still_running(kind, request, tmp_path_factory):
    """On 5 April: this year's GJGX is being scored, SD is open for nominations, SFD is not yet announced."""
    app = fresh_app(kind, request, tmp_path_factory)
    try:
        year = china_today().year
        result = _run(app, "--today", f"{year}-04-05")
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
        with app.app_context():
            statuses = dict(db.session.execute(sa.select(Programme.code, Programme.status)
                                               .where(Programme.year == year)).tuples().all())
            assert statuses == {"GJGX": ProgrammeStatus.EVALUATING, "SD": ProgrammeStatus.OPEN,
                                "SFD": ProgrammeStatus.DRAFT}
            last_year = set(db.session.scalars(sa.select(Programme.status).where(Programme.year == year - 1)))
            assert last_year == {ProgrammeStatus.CLOSED}
            assert _count(SpendingLine) == TINY.spending_lines
            assert _count(AuditLog) == TINY.audit_rows
    finally:
        _dispose(app)
