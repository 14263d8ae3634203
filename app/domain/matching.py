"""How the paper venue fills: pure functions over an order book or a quote.

The models are freqtrade's and Hummingbot's dry-run ones: a market order walks the book's
levels from the best price until its quantity is filled (the volume-weighted price of the
levels taken is what a real taker pays), a limit order takes only levels at or better than
its price and rests with the rest, and a resting order fills once the market crosses its
price. Prices are quote per base, quantities base units, all ``Decimal``.
"""

from collections.abc import Sequence
from decimal import Decimal, localcontext

from app.domain.enums import OrderSide
from app.domain.marketdata import Level, Quote
from app.domain.money import MONEY_CONTEXT
from app.domain.reports import Trigger

BPS = Decimal(10_000)


def walk_book(levels: Sequence[Level], quantity: Decimal, side: OrderSide, limit: Decimal | None = None) -> list[Level]:
    """The (price, quantity) fills of taking ``quantity`` from ``levels`` (the opposite side's
    levels, best first: asks for a buy, bids for a sell), stopping at ``limit`` (a buy takes no
    level above it, a sell none below). The fills add up to at most ``quantity``: less when the
    book (or the part of it within ``limit``) is thinner."""
    fills, left = [], quantity
    for price, amount in levels:
        if left <= 0:
            break
        if limit is not None and (price > limit if side == OrderSide.BUY else price < limit):
            break
        take = min(left, amount)
        if take > 0:
            fills.append((price, take))
            left -= take
    return fills


def vwap(fills: Sequence[Level]) -> Decimal | None:
    """Volume-weighted average price of ``fills``; None when empty."""
    total = sum((q for _, q in fills), Decimal(0))
    if total == 0:
        return None
    with localcontext(MONEY_CONTEXT):
        return sum((p * q for p, q in fills), Decimal(0)) / total


def slippage_limit(best: Decimal, side: OrderSide, max_slippage_bps: Decimal) -> Decimal:
    """The worst price a taker accepts ``max_slippage_bps`` away from the best level."""
    with localcontext(MONEY_CONTEXT):
        move = best * max_slippage_bps / BPS
        return best + move if side == OrderSide.BUY else best - move


def taker_price(quote: Quote, side: OrderSide) -> Decimal | None:
    """What a taker pays at the top of book: the ask for a buy, the bid for a sell."""
    return quote.ask if side == OrderSide.BUY else quote.bid


def crosses(side: OrderSide, limit: Decimal, quote: Quote) -> bool:
    """A resting limit order is reached: the ask at or below a buy's price, the bid at or
    above a sell's (the market trades through it)."""
    if side == OrderSide.BUY:
        return quote.ask is not None and quote.ask <= limit
    return quote.bid is not None and quote.bid >= limit


def triggered(trigger: Trigger, side: OrderSide, trigger_price: Decimal, quote: Quote) -> bool:
    """A stop-loss or take-profit is hit. ``side`` is the protective order's own side (a sell
    protects a long). The market price is the last trade, else the side's top of book.

    A sell stop-loss fires when the price falls to it, a sell take-profit when it rises to
    it; a buy's (protecting a short) the other way round (Binance's STOP_LOSS / TAKE_PROFIT:
    https://developers.binance.com/docs/binance-spot-api-docs/enums#order-types)."""
    price = quote.last if quote.last is not None else (quote.bid if side == OrderSide.SELL else quote.ask)
    if price is None:
        return False
    falls_to = price <= trigger_price
    rises_to = price >= trigger_price
    if side == OrderSide.SELL:
        return falls_to if trigger == Trigger.STOP_LOSS else rises_to
    return rises_to if trigger == Trigger.STOP_LOSS else falls_to
