"""Absolute targets: a signal that says how big the position should be, not what to trade.

``target_size`` is a signed base quantity (TradingView's ``{{strategy.position_size}}``,
negative when short); ``target_percent`` a signed percent of equity at the reference price.
The orders are the difference between the target and the position expected once the orders
in flight have filled, so a repeated, late or swapped alert orders nothing, or only what is
still missing (the approach of TradersPost's and PineConnector's "position size" mode).
Crossing zero is a close (reduce-only) and an open, as a reversal.
"""

from decimal import Decimal, localcontext

from app.domain.enums import OrderSide
from app.domain.intents import OrderPlan
from app.domain.money import MONEY_CONTEXT, fmt
from app.domain.signal import Signal
from app.domain.symbols import base_quote, is_derivative


def target_of(signal: Signal, equity: Decimal, price: Decimal | None) -> tuple[Decimal | None, str | None]:
    """The signal's target in signed base units, or (None, why) when it needs a price it lacks.
    (None, None): the signal has no target."""
    if signal.target_size is not None:
        return signal.target_size, None
    if signal.target_percent is None:
        return None, None
    if price is None:
        return None, (f"target_percent {fmt(signal.target_percent)}% needs a price to convert to base units: "
                      "the signal's price or a fresh quote")
    with localcontext(MONEY_CONTEXT):
        return equity * signal.target_percent / 100 / price, None


def plan_to_target(signal: Signal, expected: Decimal, target: Decimal, price: Decimal | None) -> tuple[str | None, tuple[OrderPlan, ...]]:
    """The orders moving ``expected`` (signed base units) to ``target``: none when already there;
    a reduce-only close toward zero; an opening order away from it; both when crossing zero.
    Spot accounts never hold a negative target (refused with the reason)."""
    if target < 0 and not is_derivative(signal.symbol):
        base = base_quote(signal.symbol)[0]
        return f"target {fmt(target)} {base} is short: a spot account cannot hold a negative position", ()
    delta = target - expected
    if delta == 0:
        return None, ()
    side = OrderSide.BUY if delta > 0 else OrderSide.SELL
    kind = dict(order_type=signal.order_type, limit_price=signal.limit_price, time_in_force=signal.time_in_force)
    if expected == 0 or (expected > 0) == (delta > 0):
        return None, (OrderPlan(side, abs(delta), price, **kind),)
    closing = min(abs(delta), abs(expected))
    plans = [OrderPlan(side, closing, price, reduce_only=True)]
    if abs(delta) > abs(expected):
        plans.append(OrderPlan(side, abs(delta) - abs(expected), price, **kind))
    return None, tuple(plans)


def describe(expected: Decimal, target: Decimal) -> str:
    """``target 1, expected 0.4: order 0.6`` — for the decision's detail."""
    delta = target - expected
    what = "nothing to order" if delta == 0 else f"{'buy' if delta > 0 else 'sell'} {fmt(abs(delta))}"
    return f"target {fmt(target)}, position expected {fmt(expected)}: {what}"


__all__ = ["describe", "plan_to_target", "target_of"]
