"""replays: a replay's request, progress and report (its own table, never live state)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 10:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'replays',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('request', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('input_text', sa.Text(), nullable=True),
        sa.Column('signals_total', sa.BigInteger(), nullable=True),
        sa.Column('signals_done', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        # the report's exact JSON text: JSONB would reorder its keys and lose its bytes
        sa.Column('report', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_replays')),
    )
    op.create_index('ix_replays_created_at', 'replays', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_replays_created_at', table_name='replays')
    op.drop_table('replays')
