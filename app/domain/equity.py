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


def unrealized_pnl(quantity: Decimal, average_price: Decimal | None, mark: Decimal | None) -> Decimal | None:
    """``quantity × (mark − average)`` in the quote currency (signed quantity: a short gains when
    the mark falls); None without an entry price or a mark."""
    if average_price is None or mark is None or quantity == 0:
        return None if quantity != 0 else Decimal(0)
    return quantity * (mark - average_price)


def mark_price(bid: Decimal | None, ask: Decimal | None, last: Decimal | None, quantity: Decimal) -> Decimal | None:
    """The price a position is valued at: what closing it would get at the top of book (the
    bid for a long, the ask for a short), else the last trade."""
    side_price = bid if quantity > 0 else ask
    return side_price if side_price is not None else last


def marked_equity(cash: Decimal, holdings: Iterable[Holding], quote: str, marks: dict[str, Decimal]) -> Decimal:
    """Equity in ``quote`` at market: the ``quote`` balance, spot positions quoted in ``quote``
    valued at their mark (``marks`` by symbol; at cost when unmarked), plus the unrealised PnL of
    derivative positions (their margin is already in the balance)."""
    total = cash
    for h in holdings:
        if base_quote(h.symbol)[1] != quote:
            continue
        mark = marks.get(h.symbol)
        if is_derivative(h.symbol):
            total += unrealized_pnl(h.quantity, h.average_price, mark) or Decimal(0)
        elif mark is not None:
            total += h.quantity * mark
        elif h.average_price is not None:
            total += h.quantity * h.average_price
    return total
