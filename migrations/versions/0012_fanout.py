"""fanout: one risk decision per (signal, account), so one signal can fan out to several accounts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-12 10:00:00
"""

from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint('uq_risk_decisions_signal_id', 'risk_decisions', type_='unique')
    op.create_unique_constraint('uq_risk_decisions_signal_id_account_id', 'risk_decisions', ['signal_id', 'account_id'])


def downgrade() -> None:
    op.drop_constraint('uq_risk_decisions_signal_id_account_id', 'risk_decisions', type_='unique')
    op.create_unique_constraint('uq_risk_decisions_signal_id', 'risk_decisions', ['signal_id'])
