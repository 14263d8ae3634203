"""Balances a venue leaves to us (the paper venue): the ledger moves them with each new fill,
in the fill's transaction, so fill, balances, order state and position commit together.

A spot buy pays notional + fee in the quote currency and receives the base; a spot sell
gives the base and receives notional − fee; a derivative fill settles its realised PnL net of
its fee into the quote balance (an opening fill: − fee; a closing one: the PnL it closed − fee),
as a linear perpetual's wallet balance moves. A balance that would go below zero raises
``OrderRejected`` ("insufficient funds …") and the caller's transaction rolls back.
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal, localcontext

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from app.domain.enums import OrderSide
from app.domain.money import MONEY_CONTEXT, fmt
from app.domain.reports import Trade
from app.domain.symbols import base_quote, is_derivative
from app.errors import OrderRejected
from app.persistence.models import BalanceRecord

STORED = Decimal("1e-18")  # balances are NUMERIC(38, 18)


def book_fill(session: Session, account_id: uuid.UUID, symbol: str, side: OrderSide, trade: Trade,
              realized: Decimal = Decimal(0)) -> None:
    """Move the account's balances for one new fill (see the module); ``realized`` is the PnL
    the fill realised net of its fee (quote), as the ledger computed it. Raises ``OrderRejected``."""
    base, quote = base_quote(symbol)
    with localcontext(MONEY_CONTEXT):
        fee = trade.fee * trade.price if trade.fee_currency == base else trade.fee
        deltas = {quote: realized if is_derivative(symbol) else -fee}
        if not is_derivative(symbol):
            sign = 1 if side == OrderSide.BUY else -1
            deltas[quote] -= sign * trade.quantity * trade.price
            deltas[base] = sign * trade.quantity
        for currency, delta in deltas.items():
            if delta:
                total = _add(session, account_id, currency, delta.quantize(STORED))
                if total < 0:
                    raise OrderRejected(f"insufficient funds on the paper venue: this fill needs {fmt(-delta)} "
                                        f"{currency}, the account had {fmt(total - delta)} {currency}")


def _add(session: Session, account_id: uuid.UUID, currency: str, delta: Decimal) -> Decimal:
    """Add ``delta`` to the balance (created if missing, row locked by the upsert); the new total."""
    return session.execute(
        pg_insert(BalanceRecord)
        .values(account_id=account_id, currency=currency, total=delta)
        .on_conflict_do_update(index_elements=["account_id", "currency"],
                               set_={"total": BalanceRecord.total + delta, "updated_at": datetime.now(UTC)})
        .returning(BalanceRecord.total)
    ).scalar_one()
