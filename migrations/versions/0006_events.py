"""events: the generalised outbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 14:20:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'events',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('signal_id', sa.Uuid(), nullable=True),
        sa.Column('order_id', sa.Uuid(), nullable=True),
        sa.Column('job_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id']),
        sa.ForeignKeyConstraint(['signal_id'], ['signals.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_events_signal', 'events', ['signal_id'], unique=False)
    op.create_index('ix_events_unhandled', 'events', ['created_at'], unique=False,
                    postgresql_where=sa.text('handled_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_events_unhandled', table_name='events', postgresql_where=sa.text('handled_at IS NULL'))
    op.drop_index('ix_events_signal', table_name='events')
    op.drop_table('events')
