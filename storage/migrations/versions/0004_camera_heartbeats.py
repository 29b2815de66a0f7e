"""camera heartbeats of watch processes (health page) and the dashboard's configuration changes

Revision ID: 0004_camera_heartbeats
Revises: 0003
Create Date: 2026-11-29 19:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_camera_heartbeats'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'camera_heartbeats',
        sa.Column('camera_id', sa.String(length=64), nullable=False),
        sa.Column('process_id', sa.String(length=200), nullable=False),
        sa.Column('host', sa.String(length=200), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('down_since', sa.DateTime(), nullable=True),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('interval_s', sa.Float(), nullable=False),
        sa.Column('last_frame_at', sa.DateTime(), nullable=True),
        sa.Column('frames_read', sa.Integer(), nullable=False),
        sa.Column('frames_processed', sa.Integer(), nullable=False),
        sa.Column('frames_dropped', sa.Integer(), nullable=False),
        sa.Column('fps_read', sa.Float(), nullable=True),
        sa.Column('fps_processed', sa.Float(), nullable=True),
        sa.Column('latency_p50_s', sa.Float(), nullable=True),
        sa.Column('latency_p95_s', sa.Float(), nullable=True),
        sa.Column('outages_24h', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('camera_id', 'process_id'),
    )
    op.create_table(
        'config_changes',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('applied_at', sa.DateTime(), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('backup_path', sa.Text(), nullable=False),
        sa.Column('diff', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('config_changes')
    op.drop_table('camera_heartbeats')
