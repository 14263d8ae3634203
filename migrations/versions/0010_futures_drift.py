"""futures settings remembered per (account, symbol); position drifts found against the venue

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-09 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'futures_settings',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('account_id', sa.Uuid(), nullable=False),
        sa.Column('symbol', sa.String(length=64), nullable=False),
        sa.Column('leverage', sa.Numeric(precision=38, scale=18), nullable=True),
        sa.Column('margin_mode', sa.String(length=16), nullable=True),
        sa.Column('position_mode', sa.String(length=16), nullable=True),
        sa.Column('intent_id', sa.Uuid(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_futures_settings_account_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_futures_settings')),
        sa.UniqueConstraint('account_id', 'symbol', name=op.f('uq_futures_settings_account_id_symbol')),
    )
    op.create_table(
        'position_drifts',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('account_id', sa.Uuid(), nullable=False),
        sa.Column('venue', sa.String(length=64), nullable=False),
        sa.Column('symbol', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('ledger_quantity', sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column('venue_quantity', sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column('venue_entry_price', sa.Numeric(precision=38, scale=18), nullable=True),
        sa.Column('sync_mode', sa.String(length=16), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_position_drifts_account_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_position_drifts')),
    )
    op.create_index('uq_position_drifts_open', 'position_drifts', ['account_id', 'symbol'], unique=True,
                    postgresql_where=sa.text('resolved_at IS NULL'))
    op.create_index('ix_position_drifts_detected_at', 'position_drifts', ['detected_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_position_drifts_detected_at', table_name='position_drifts')
    op.drop_index('uq_position_drifts_open', table_name='position_drifts')
    op.drop_table('position_drifts')
    op.drop_table('futures_settings')
