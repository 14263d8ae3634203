"""An account's equity, as risk sizing and the admin API both see it."""

from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol

from app.domain.symbols import base_quote, is_derivative


class Holding(Protocol):
    """A position as equity needs it: ``quantity`` signed base units, ``average_price`` quote per base."""

    symbol: str
    quantity: Decimal
    average_price: Decimal | None


def equity(cash: Decimal, holdings: Iterable[Holding], quote: str) -> Decimal:
    """Equity in ``quote``: the ``quote`` balance plus the spot positions quoted in ``quote``
    at their average entry (mark-to-cost: neither the request path nor the admin API reads
    live prices). Derivative positions count as nothing here: their margin is already in the
    balance. Spot positions in another quote (``ETH/BTC`` on a USDT account) are left out
    rather than converted at a price we do not have.
    """
    held = sum(
        (h.quantity * h.average_price for h in holdings
         if h.average_price is not None and not is_derivative(h.symbol) and base_quote(h.symbol)[1] == quote),
        Decimal(0),
    )
    return cash + held
