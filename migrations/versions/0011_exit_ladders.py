"""exit_ladders: the state of each entry's exit ladder (take-profits, stops, trailing)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 10:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=38, scale=18)


def upgrade() -> None:
    op.create_table(
        'exit_ladders',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('entry_intent_id', sa.Uuid(), nullable=False),
        sa.Column('signal_id', sa.Uuid(), nullable=False),
        sa.Column('account_id', sa.Uuid(), nullable=False),
        sa.Column('venue', sa.String(length=64), nullable=False),
        sa.Column('symbol', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=True),
        sa.Column('side', sa.String(length=8), nullable=False),
        sa.Column('mode', sa.String(length=16), nullable=False),
        sa.Column('spec', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('entry_price', MONEY, nullable=False),
        sa.Column('quantity', MONEY, nullable=False),
        sa.Column('closed', MONEY, nullable=False),
        sa.Column('taken', sa.Integer(), nullable=False),
        sa.Column('stop', MONEY, nullable=True),
        sa.Column('trail', MONEY, nullable=True),
        sa.Column('best', MONEY, nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['entry_intent_id'], ['order_intents.id']),
        sa.ForeignKeyConstraint(['signal_id'], ['signals.id']),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('entry_intent_id'),
    )
    # the market-data listener's read: active ladders of one (source, symbol)
    op.create_index('ix_exit_ladders_active', 'exit_ladders', ['source', 'symbol'],
                    postgresql_where=sa.text("status = 'active'"))
    # position.flat: the account's ladders in a symbol
    op.create_index('ix_exit_ladders_account_symbol', 'exit_ladders', ['account_id', 'symbol'])


def downgrade() -> None:
    op.drop_index('ix_exit_ladders_account_symbol', table_name='exit_ladders')
    op.drop_index('ix_exit_ladders_active', table_name='exit_ladders')
    op.drop_table('exit_ladders')
