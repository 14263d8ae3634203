"""native exit ladders: the ladder's own orders on the venue (``exit_ladders.orders``: the intent
ids of its current take-profit and stop orders)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 21:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('exit_ladders', sa.Column('orders', postgresql.JSONB(astext_type=sa.Text()),
                                            server_default=sa.text("'{}'::jsonb"), nullable=False))


def downgrade() -> None:
    op.drop_column('exit_ladders', 'orders')
