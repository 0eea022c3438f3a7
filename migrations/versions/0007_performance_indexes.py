"""indices for the filters and joins of the key pages (issue 9)

Revision ID: 0007_performance_indexes
Revises: 0006_dashboards
Create Date: 2026-12-03 12:30:00

"""
from alembic import op
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0007_performance_indexes'
down_revision = '0006_dashboards'
branch_labels = None
depends_on = None

# Each index is also declared on its model, so that `flask db migrate` sees no difference.
INDEXES = [
    # (name, table, columns, unique)
    # --- audit log and ledger ---
    # The auditor's search: an index per filter and per usual pair, ending in the page's order (at, id).
    ('ix_audit_log_action_at', 'audit_log', ['action', 'at', 'id'], False),
    ('ix_audit_log_type_at', 'audit_log', ['object_type', 'at', 'id'], False),
    ('ix_audit_log_type_action_at', 'audit_log', ['object_type', 'action', 'at', 'id'], False),
    ('ix_audit_log_actor_at', 'audit_log', ['actor_name', 'at', 'id'], False),
    ('ix_audit_log_actor_action_at', 'audit_log', ['actor_name', 'action', 'at', 'id'], False),
    ('ix_audit_log_object_id_at', 'audit_log', ['object_id', 'object_type', 'at', 'id'], False),
    # A community's consultations and meetings in time order (its ledger page, the ledger book).
    ('ix_consultation_records_community_held', 'consultation_records', ['community_id', 'held_at', 'id'], False),
    ('ix_representative_meetings_community_held', 'representative_meetings', ['community_id', 'held_on', 'id'],
     False),
    # --- pages and exports ---
    # Covering indices: a programme's sums (ranking, reconciliation, missing reports, archive completeness) read
    # only the index, not the table, for every line of every site.
    ('ix_scores_assignment_points', 'scores', ['assignment_id', 'criterion_id', 'half_points'], False),
    ('ix_allocations_site_source_amount', 'allocations', ['site_id', 'source_id', 'amount_fen'], False),
    ('ix_disbursements_site_source_amount', 'disbursements', ['site_id', 'source_id', 'amount_fen'], False),
    ('ix_spending_lines_site_source_amount', 'spending_lines', ['site_id', 'source_id', 'amount_fen'], False),
    ('ix_monthly_reports_site_status_month', 'monthly_reports', ['site_id', 'status', 'month'], False),
    ('ix_archive_items_site_kind', 'archive_items', ['site_id', 'kind', 'deleted_at'], False),
    # The check that every site has its milestones (each view of the progress pages), and the overview's counts.
    ('ix_site_milestones_programme_milestone', 'site_milestones', ['programme_id', 'milestone_id', 'site_id'],
     False),
    ('ix_applications_programme_township_status', 'applications',
     ['programme_id', 'township_id', 'status', 'submitted_late'], False),
]


def upgrade():
    for name, table, columns, unique in INDEXES:
        op.create_index(name, table, columns, unique=unique)


def downgrade():
    for name, table, _columns, _unique in reversed(INDEXES):
        op.drop_index(name, table_name=table)
