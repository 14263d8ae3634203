"""Net position arithmetic: signed quantity, average entry price, realised PnL net of fees.

Average-cost accounting (as nautilus_trader's ``Position`` and most exchanges' UIs): a fill
in the position's direction moves the average entry; a fill against it realises
``closed × (price − average) × sign(position)``; a fill that crosses zero opens the rest
at the fill price. Fees (quote currency) are subtracted from realised PnL.
"""

from dataclasses import dataclass
from decimal import Decimal, localcontext

from app.domain.enums import OrderSide
from app.domain.money import MONEY_CONTEXT


@dataclass(frozen=True)
class PositionState:
    """``quantity`` signed base units; ``average_price`` quote per base; ``realized_pnl`` quote."""

    quantity: Decimal = Decimal(0)
    average_price: Decimal | None = None
    realized_pnl: Decimal = Decimal(0)


def apply_fill(
    position: PositionState, side: OrderSide, quantity: Decimal, price: Decimal, fee: Decimal = Decimal(0)
) -> tuple[PositionState, Decimal]:
    """The position after a fill, and the PnL this fill realised (net of ``fee``, in quote).

    Computed in ``MONEY_CONTEXT``: the default 28 digits would round a large account's
    average price and PnL."""
    with localcontext(MONEY_CONTEXT):
        return _apply_fill(position, side, quantity, price, fee)


def _apply_fill(
    position: PositionState, side: OrderSide, quantity: Decimal, price: Decimal, fee: Decimal
) -> tuple[PositionState, Decimal]:
    signed = quantity if side == OrderSide.BUY else -quantity
    current, average = position.quantity, position.average_price or Decimal(0)
    realized = -fee
    if current == 0 or (current > 0) == (signed > 0):
        new_quantity = current + signed
        new_average = (abs(current) * average + quantity * price) / abs(new_quantity)
    else:
        closed = min(abs(signed), abs(current))
        realized += closed * (price - average) * (1 if current > 0 else -1)
        new_quantity = current + signed
        if new_quantity == 0:
            new_average = None
        elif (new_quantity > 0) == (current > 0):
            new_average = average
        else:
            new_average = price
    state = PositionState(new_quantity, new_average, position.realized_pnl + realized)
    return state, realized
