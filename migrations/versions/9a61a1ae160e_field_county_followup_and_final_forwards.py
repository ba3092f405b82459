"""field: the county's 续报 and 核报 forwards (disaster_forwards.stage, report_date)

Existing rows were the county passing the 初报 on: they become stage 初报. Uniqueness moves
from (event_id, county_code) to (event_id, county_code, stage, report_date), with a partial
unique index for the stages without a report_date (初报, 核报: once per county and event).

Revision ID: 9a61a1ae160e
Revises: b86e2ef04af1
Create Date: 2026-12-01 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9a61a1ae160e'
down_revision = 'b86e2ef04af1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('disaster_forwards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage', sa.String(length=4), server_default='初报', nullable=False))
        batch_op.add_column(sa.Column('report_date', sa.Date(), nullable=True))
        batch_op.drop_constraint('uq_disaster_forwards_event_county', type_='unique')
        batch_op.create_unique_constraint('uq_disaster_forwards_event_county_stage_date',
                                          ['event_id', 'county_code', 'stage', 'report_date'])
        batch_op.create_index('uq_disaster_forwards_once', ['event_id', 'county_code', 'stage'], unique=True,
                              sqlite_where=sa.text('report_date IS NULL'),
                              postgresql_where=sa.text('report_date IS NULL'))


def downgrade():
    # Only the 初报 forwards fit the old table (one row per event and county).
    op.execute("DELETE FROM disaster_forwards WHERE stage <> '初报'")
    with op.batch_alter_table('disaster_forwards', schema=None) as batch_op:
        batch_op.drop_index('uq_disaster_forwards_once')
        batch_op.drop_constraint('uq_disaster_forwards_event_county_stage_date', type_='unique')
        batch_op.create_unique_constraint('uq_disaster_forwards_event_county', ['event_id', 'county_code'])
        batch_op.drop_column('report_date')
        batch_op.drop_column('stage')
