"""order_intents.exit_ladder: the entry's signal or strategy gives it an exit ladder, decided
with the intent (the outcome of each fill no longer looks it up in the signal and strategy)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 21:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('order_intents', sa.Column('exit_ladder', sa.Boolean(), server_default=sa.false(), nullable=False))
    # Entries still on their way or resting keep re-sizing their ladder on later fills.
    op.execute(
        "UPDATE order_intents i SET exit_ladder = true FROM signals s JOIN strategies st ON st.id = s.strategy_id "
        "WHERE s.id = i.signal_id AND i.purpose = 'entry' AND NOT i.reduce_only "
        "AND i.status IN ('pending', 'submitting') "
        "AND (s.payload ? 'exit_ladder' OR jsonb_typeof(st.settings -> 'exit_ladder') = 'object')"
    )


def downgrade() -> None:
    op.drop_column('order_intents', 'exit_ladder')
