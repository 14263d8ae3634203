"""candles: OHLCV of market-data sources

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'candles',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('symbol', sa.String(length=64), nullable=False),
        sa.Column('timeframe', sa.String(length=8), nullable=False),
        sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
        sa.Column('open', sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column('high', sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column('low', sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column('close', sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column('volume', sa.Numeric(precision=38, scale=18), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        # also the index of read_candles (source, symbol, timeframe, newest first)
        sa.UniqueConstraint('source', 'symbol', 'timeframe', 'ts'),
    )


def downgrade() -> None:
    op.drop_table('candles')
