"""Venue rules for one market: precision and minimums, read without calling the venue.

For a ccxt venue the market is ccxt's unified market structure, stored by the workers in the
``markets`` table; precision is applied by ccxt itself (``amount_to_precision``, which
truncates, https://docs.ccxt.com/#/README?id=precision-and-limits), so Tradewire rounds
exactly as the venue adapter will. The paper venue has no market list: any symbol is
listed, amounts are kept to 8 decimals and its minimum notional is the account's setting.
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

PAPER_STEP = Decimal("1e-8")


@dataclass(frozen=True)
class MarketRules:
    """Precision and limits of ``symbol`` on ``venue``. Amounts in base units (contracts for
    contract markets), notionals in the quote currency; None: no such limit known."""

    venue: str
    symbol: str
    listed: bool
    min_amount: Decimal | None = None
    min_notional: Decimal | None = None
    market: dict[str, Any] | None = None

    def amount_to_precision(self, amount: Decimal) -> Decimal:
        """``amount`` truncated to the venue's amount precision."""
        import ccxt

        if self.market is None:
            return amount.quantize(PAPER_STEP, rounding="ROUND_DOWN")
        exchange = _ccxt_exchange(self.venue, self.symbol, self.market)
        try:
            return Decimal(exchange.amount_to_precision(self.symbol, str(amount)))
        except ccxt.InvalidOrder:  # ccxt raises when truncation leaves nothing
            return Decimal(0)

    def price_to_precision(self, price: Decimal) -> Decimal:
        """``price`` rounded to the venue's tick size."""
        if self.market is None:
            return price
        return Decimal(_ccxt_exchange(self.venue, self.symbol, self.market).price_to_precision(self.symbol, str(price)))


def paper_rules(symbol: str, min_notional: Decimal) -> MarketRules:
    return MarketRules(venue="paper", symbol=symbol, listed=True, min_notional=min_notional or None)


def ccxt_rules(venue: str, symbol: str, market: dict[str, Any] | None) -> MarketRules:
    """Rules from a stored ccxt market; ``market`` None means the venue does not list the symbol."""
    if market is None:
        return MarketRules(venue=venue, symbol=symbol, listed=False)
    limits = market.get("limits") or {}
    return MarketRules(
        venue=venue,
        symbol=symbol,
        listed=bool(market.get("active", True)),
        min_amount=_decimal((limits.get("amount") or {}).get("min")),
        min_notional=_decimal((limits.get("cost") or {}).get("min")),
        market=market,
    )


def _decimal(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


@lru_cache(maxsize=64)
def _exchange_for(venue: str) -> Any:
    import ccxt

    return getattr(ccxt, venue)()


def _ccxt_exchange(venue: str, symbol: str, market: dict[str, Any]) -> Any:
    exchange = _exchange_for(venue)
    if symbol not in (exchange.markets or {}) or exchange.markets[symbol] is not market:
        exchange.set_markets({**(exchange.markets or {}), symbol: market})
    return exchange
