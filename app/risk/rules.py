"""Venue rules for one market: precision and minimums, read without calling the venue.

For a ccxt venue the market is ccxt's unified market structure, stored by the workers in the
``markets`` table; precision is applied with ccxt's own ``decimal_to_precision`` (amounts
truncate, prices round, in the venue's precision mode, exactly as ccxt's
``amount_to_precision`` / ``price_to_precision`` do:
https://docs.ccxt.com/#/README?id=precision-and-limits), as a pure function of the stored
market: no shared exchange object is mutated, so the API's handler threads never contend and
the cost does not grow with the number of markets (freqtrade's ``exchange_utils.py`` does the
same). The paper venue has no market list: any symbol is
listed, amounts are kept to 8 decimals and its minimum notional is the account's setting.
"""

from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import lru_cache
from typing import Any

from ccxt.base.decimal_to_precision import DECIMAL_PLACES, ROUND, TICK_SIZE, TRUNCATE, decimal_to_precision

from app.domain.money import MONEY_CONTEXT

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
        """``amount`` (base units) truncated to the venue's amount precision; 0 when
        truncation leaves nothing."""
        if self.market is None:
            with localcontext(MONEY_CONTEXT):
                return amount.quantize(PAPER_STEP, rounding="ROUND_DOWN")
        return _to_precision(self.venue, amount, TRUNCATE, (self.market.get("precision") or {}).get("amount"))

    @property
    def tick_size(self) -> Decimal | None:
        """The venue's price step (quote per base), when its market says; None for the paper
        venue and for venues counting significant digits."""
        precision = (self.market or {}).get("precision", {}).get("price")
        if precision is None:
            return None
        mode = _modes(self.venue)[0]
        if mode == TICK_SIZE:
            return Decimal(str(precision))
        if mode == DECIMAL_PLACES:
            return Decimal(1).scaleb(-int(precision))
        return None

    def price_to_precision(self, price: Decimal) -> Decimal:
        """``price`` (quote per base) rounded to the venue's tick size."""
        if self.market is None:
            return price
        return _to_precision(self.venue, price, ROUND, (self.market.get("precision") or {}).get("price"))


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


def _to_precision(venue: str, value: Decimal, rounding: int, precision: Any) -> Decimal:
    if precision is None:  # the venue states none: send the value as it is
        return value
    precision_mode, padding_mode = _modes(venue)
    text = decimal_to_precision(str(value), rounding, str(precision), precision_mode, padding_mode)
    return Decimal(text)


@lru_cache(maxsize=64)
def _modes(venue: str) -> tuple[int, int]:
    """The venue's ccxt ``precisionMode`` and ``paddingMode`` (read once per process)."""
    import ccxt

    exchange = getattr(ccxt, venue)()
    return exchange.precisionMode, exchange.paddingMode
