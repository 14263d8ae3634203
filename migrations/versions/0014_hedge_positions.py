"""hedge-mode positions: a position per (account, symbol, position side); intents, orders and
exit ladders name the side they act on (NULL: the one-way net position); a drift is per side

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 20:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('positions', sa.Column('position_side', sa.String(length=8), server_default='net', nullable=False))
    op.drop_constraint(op.f('uq_positions_account_id_symbol'), 'positions', type_='unique')
    op.create_unique_constraint(op.f('uq_positions_account_id_symbol_position_side'), 'positions',
                                ['account_id', 'symbol', 'position_side'])
    op.add_column('order_intents', sa.Column('position_side', sa.String(length=8), nullable=True))
    op.add_column('orders', sa.Column('position_side', sa.String(length=8), nullable=True))
    op.add_column('exit_ladders', sa.Column('position_side', sa.String(length=8), nullable=True))
    op.add_column('position_drifts', sa.Column('position_side', sa.String(length=8), server_default='net',
                                               nullable=False))
    op.drop_index('uq_position_drifts_open', table_name='position_drifts')
    op.create_index('uq_position_drifts_open', 'position_drifts', ['account_id', 'symbol', 'position_side'],
                    unique=True, postgresql_where=sa.text('resolved_at IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_position_drifts_open', table_name='position_drifts')
    op.execute("DELETE FROM position_drifts WHERE position_side <> 'net'")
    op.create_index('uq_position_drifts_open', 'position_drifts', ['account_id', 'symbol'], unique=True,
                    postgresql_where=sa.text('resolved_at IS NULL'))
    op.drop_column('position_drifts', 'position_side')
    op.drop_column('exit_ladders', 'position_side')
    op.drop_column('orders', 'position_side')
    op.drop_column('order_intents', 'position_side')
    op.execute("DELETE FROM positions WHERE position_side <> 'net'")
    op.drop_constraint(op.f('uq_positions_account_id_symbol_position_side'), 'positions', type_='unique')
    op.create_unique_constraint(op.f('uq_positions_account_id_symbol'), 'positions', ['account_id', 'symbol'])
    op.drop_column('positions', 'position_side')
