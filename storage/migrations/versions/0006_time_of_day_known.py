"""incident reports whose time is a date alone (no time of day)

Revision ID: 0006_time_of_day_known
Revises: 0005_expected_severity
Create Date: 2026-12-01 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_time_of_day_known'
down_revision = '0005_expected_severity'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incident_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_of_day_known', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('incident_reports', schema=None) as batch_op:
        batch_op.drop_column('time_of_day_known')
