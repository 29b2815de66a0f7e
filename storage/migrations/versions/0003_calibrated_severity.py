"""calibrated potential severity per incident extraction (site severity calibrator)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incident_extractions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('potential_severity_calibrated', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('incident_extractions', schema=None) as batch_op:
        batch_op.drop_column('potential_severity_calibrated')
