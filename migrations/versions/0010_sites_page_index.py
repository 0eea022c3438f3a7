"""sites indexed by programme, township and rank

Revision ID: 0010_sites_page_index
Revises: 0009_assignment_status_index
Create Date: 2026-12-04 15:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010_sites_page_index'
down_revision = '0009_assignment_status_index'
branch_labels = None
depends_on = None


def upgrade():
    # The monthly grid lists a programme's sites by township and rank, fifty at a time: with this index a page is
    # read in order instead of filtering every site of the township index by programme. The single-column index it
    # replaces is a prefix of this one.
    op.create_index('ix_sites_programme_township_rank', 'sites', ['programme_id', 'township_id', 'rank', 'id'],
                    unique=False)
    op.drop_index('ix_sites_programme_id', table_name='sites')


def downgrade():
    op.create_index('ix_sites_programme_id', 'sites', ['programme_id'], unique=False)
    op.drop_index('ix_sites_programme_township_rank', table_name='sites')
