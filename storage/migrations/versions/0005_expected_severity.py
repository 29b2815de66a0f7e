"""probability-weighted actual and potential severity per incident extraction

Revision ID: 0005_expected_severity
Revises: 0004_camera_heartbeats
Create Date: 2026-11-30 10:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_expected_severity'
down_revision = '0004_camera_heartbeats'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incident_extractions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('severity_expected', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('potential_severity_expected', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('incident_extractions', schema=None) as batch_op:
        batch_op.drop_column('potential_severity_expected')
        batch_op.drop_column('severity_expected')
