"""Simulated orders and how candles fill them (the fill model of ``spec.FillModel``).

Scanning a candle range is done on the series' doubles (``history``) to find the candle where
a price is reached, then confirmed with the exact prices by the live paper matcher's pure
functions (``app.domain.matching.crosses`` / ``triggered``).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext

from app.domain.enums import OrderSide, OrderType, TimeInForce
from app.domain.marketdata import Quote
from app.domain.matching import BPS, crosses, triggered
from app.domain.money import MONEY_CONTEXT, fmt
from app.domain.reports import Trigger
from app.replay.history import Series, price

MARKET, LIMIT = "market", "limit"
_EPSILON = 1e-12  # the double pre-filter lets through what the exact check then decides


@dataclass
class SimOrder:
    """An order of the replay. ``due``: candle index of its first look at the market (an order
    sent at t is first seen at the open of the first candle opening at or after t);
    ``next_index``: first candle a resting order has not yet been checked against; ``hit``: the
    candle where it fills, once found. ``protect``: stop-loss / take-profit to arm once filled."""

    seq: int
    signal: int
    symbol: str
    side: OrderSide
    quantity: Decimal
    kind: str  # market, limit, stop_loss, take_profit
    reduce_only: bool = False
    limit_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    trigger_price: Decimal | None = None
    due: int | None = None
    next_index: int = 0
    hit: int | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None

    @property
    def protective(self) -> bool:
        return self.kind in (Trigger.STOP_LOSS.value, Trigger.TAKE_PROFIT.value)

    @property
    def order_type(self) -> OrderType:
        return OrderType.LIMIT if self.kind == LIMIT else OrderType.MARKET


@dataclass(frozen=True)
class Costs:
    """Half the spread plus slippage (a fraction) paid by takers; fee rates."""

    taker_move: Decimal
    half_spread: Decimal
    taker_fee: Decimal
    maker_fee: Decimal

    @classmethod
    def of(cls, spread_bps: Decimal, slippage_bps: Decimal, taker_fee: Decimal, maker_fee: Decimal) -> "Costs":
        with localcontext(MONEY_CONTEXT):
            return cls((spread_bps / 2 + slippage_bps) / BPS, spread_bps / 2 / BPS, taker_fee, maker_fee)

    def taker(self, reference: Decimal, side: OrderSide) -> Decimal:
        """What a taker pays from ``reference`` (a candle's open or a trigger price)."""
        with localcontext(MONEY_CONTEXT):
            return reference * (1 + self.taker_move) if side == OrderSide.BUY else reference * (1 - self.taker_move)

    def fee(self, quantity: Decimal, fill_price: Decimal, maker: bool) -> Decimal:
        with localcontext(MONEY_CONTEXT):
            return (quantity * fill_price * (self.maker_fee if maker else self.taker_fee)).quantize(Decimal("1e-18"))


def at_open(order: SimOrder, series: Series, i: int, costs: Costs) -> tuple[Decimal | None, bool, str]:
    """The first look at candle ``i``'s open: (fill price or None, maker?, words). A market
    order takes the open's ask / bid; a marketable limit takes it up to its price (post-only is
    then refused); a limit that is not marketable rests (GTC) or expires (IOC, FOK)."""
    opening = price(series.open[i])
    taker = costs.taker(opening, order.side)
    when = datetime.fromtimestamp(series.ts[i], UTC).isoformat()
    if order.kind == MARKET:
        return taker, False, f"market at the {when} open {fmt(opening)}"
    limit = order.limit_price
    assert limit is not None
    marketable = taker <= limit if order.side == OrderSide.BUY else taker >= limit
    if marketable and order.time_in_force == TimeInForce.PO:
        return None, False, (f"post-only limit {fmt(limit)} refused: it would take liquidity at the {when} open "
                             f"{fmt(opening)}")
    if marketable:
        fill = min(taker, limit) if order.side == OrderSide.BUY else max(taker, limit)
        return fill, False, f"limit {fmt(limit)} marketable at the {when} open {fmt(opening)}"
    if order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
        return None, False, f"{order.time_in_force.value} limit {fmt(limit)} not marketable at the {when} open {fmt(opening)}; expired"
    return None, False, "rests"


def scan(order: SimOrder, series: Series, end: int, costs: Costs) -> int | None:
    """The first candle in [``order.next_index``, ``end``) reaching a resting limit or a trigger;
    None when none does (``next_index`` then moves to ``end``)."""
    a = order.next_index
    lows = order.side == OrderSide.BUY if order.kind == LIMIT else _watches_low(order)
    threshold = _threshold(order, costs)
    column = series.low if lows else series.high
    while a < end:
        chunk = column[a:end]
        if (min(chunk) > threshold * (1 + _EPSILON)) if lows else (max(chunk) < threshold * (1 - _EPSILON)):
            break
        k = next(k for k, v in enumerate(chunk) if (v <= threshold * (1 + _EPSILON) if lows
                                                      else v >= threshold * (1 - _EPSILON)))
        if reached(order, series, a + k, costs):
            order.hit = a + k
            return a + k
        a += k + 1
    order.next_index = max(order.next_index, end)
    return None


def _watches_low(order: SimOrder) -> bool:
    """A sell stop-loss and a buy take-profit fire on a falling price; the others on a rising one."""
    return (order.side == OrderSide.SELL) == (order.kind == Trigger.STOP_LOSS.value)


def _threshold(order: SimOrder, costs: Costs) -> float:
    if order.kind == LIMIT:
        assert order.limit_price is not None
        with localcontext(MONEY_CONTEXT):
            if order.side == OrderSide.BUY:  # the ask (low + half spread) at or below the limit
                return float(order.limit_price / (1 + costs.half_spread))
            return float(order.limit_price / (1 - costs.half_spread))
    assert order.trigger_price is not None
    return float(order.trigger_price)


def reached(order: SimOrder, series: Series, i: int, costs: Costs) -> bool:
    """Exactly: does candle ``i``'s range reach the order (``crosses`` / ``triggered``)?"""
    low, high = price(series.low[i]), price(series.high[i])
    at = datetime.fromtimestamp(series.ts[i], UTC)
    if order.kind == LIMIT:
        assert order.limit_price is not None
        with localcontext(MONEY_CONTEXT):
            quote = Quote("replay", order.symbol, high * (1 - costs.half_spread), low * (1 + costs.half_spread),
                          None, at, at)
        return crosses(order.side, order.limit_price, quote)
    assert order.trigger_price is not None
    last = low if _watches_low(order) else high
    return triggered(Trigger(order.kind), order.side, order.trigger_price, Quote("replay", order.symbol, None, None,
                                                                                   last, at, at))


def range_fill(order: SimOrder, series: Series, i: int, costs: Costs) -> tuple[Decimal, bool, str]:
    """Price, maker?, words of a resting order reached in candle ``i``: a limit at its own price
    (maker, as the live paper matcher fills a crossed resting limit); a trigger as a market
    order from its price, or from the open when the candle gapped through it."""
    when = datetime.fromtimestamp(series.ts[i], UTC).isoformat()
    if order.kind == LIMIT:
        assert order.limit_price is not None
        return order.limit_price, True, f"resting limit {fmt(order.limit_price)} reached in the {when} candle"
    assert order.trigger_price is not None
    opening, trigger = price(series.open[i]), order.trigger_price
    gapped = opening < trigger if _watches_low(order) else opening > trigger
    start = opening if gapped else trigger
    words = f"{order.kind.replace('_', '-')} {fmt(trigger)} reached in the {when} candle"
    return costs.taker(start, order.side), False, words + (f" (gapped: open {fmt(opening)})" if gapped else "")
