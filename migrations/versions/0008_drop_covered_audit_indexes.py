"""drop the audit log's single-column indices that the composite ones of 0007 cover

Revision ID: 0008_drop_covered_audit_indexes
Revises: 0007_performance_indexes
Create Date: 2026-12-03 15:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008_drop_covered_audit_indexes'
down_revision = '0007_performance_indexes'
branch_labels = None
depends_on = None

# Each is a prefix of an index of 0007 (action → action_at; object_type → type_at) or holds the same columns
# (object → object_id_at). The audit log is the largest table (10 million rows at province scale): every
# index costs on each write and about 200 MB there.
COVERED = [
    ('ix_audit_log_action', ['action']),
    ('ix_audit_log_object_type', ['object_type']),
    ('ix_audit_log_object', ['object_type', 'object_id']),
]


def upgrade():
    for name, _columns in COVERED:
        op.drop_index(name, table_name='audit_log')


def downgrade():
    for name, columns in reversed(COVERED):
        op.create_index(name, 'audit_log', columns, unique=False)
