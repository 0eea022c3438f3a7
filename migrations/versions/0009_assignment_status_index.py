"""scoring sheets indexed by application and status

Revision ID: 0009_assignment_status_index
Revises: 0008_drop_covered_audit_indexes
Create Date: 2026-12-03 16:05:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009_assignment_status_index'
down_revision = '0008_drop_covered_audit_indexes'
branch_labels = None
depends_on = None


def upgrade():
    # The bureau's home counts the submitted sheets of every running programme on each view: with the status in the
    # index that count reads only the index. The single-column index it replaces is a prefix of this one (and of
    # the unique constraint on application and evaluator).
    op.create_index('ix_assignments_application_status', 'assignments', ['application_id', 'status'], unique=False)
    op.drop_index('ix_assignments_application_id', table_name='assignments')


def downgrade():
    op.create_index('ix_assignments_application_id', 'assignments', ['application_id'], unique=False)
    op.drop_index('ix_assignments_application_status', table_name='assignments')
