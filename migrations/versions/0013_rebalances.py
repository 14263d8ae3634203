"""rebalances: one rebalance of an account to target weights, its legs and where it stands

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-14 10:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rebalances',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('signal_id', sa.Uuid(), nullable=False),
        sa.Column('account_id', sa.Uuid(), nullable=False),
        sa.Column('strategy_id', sa.Uuid(), nullable=False),
        sa.Column('venue', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('plan', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('legs', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['signal_id'], ['signals.id']),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id']),
        sa.ForeignKeyConstraint(['strategy_id'], ['strategies.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('signal_id', 'account_id'),
    )
    # the scheduler's read: a strategy's last rebalance
    op.create_index('ix_rebalances_strategy_created', 'rebalances', ['strategy_id', 'created_at'])
    # the relay's and the scheduler's read on every terminal order: is a rebalance of the account running?
    op.create_index('ix_rebalances_running', 'rebalances', ['account_id'],
                    postgresql_where=sa.text("status IN ('pending_sells', 'buying')"))


def downgrade() -> None:
    op.drop_index('ix_rebalances_running', table_name='rebalances')
    op.drop_index('ix_rebalances_strategy_created', table_name='rebalances')
    op.drop_table('rebalances')
