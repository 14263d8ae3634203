"""The risk engine: checks in a fixed order, then the orders that take the position where
the signal wants it.

``evaluate`` is pure: everything it needs arrives in ``AccountState``, read by the caller
under the account's row lock (``app.ingest.service``), so two alerts arriving together are
decided one after the other. Each check returns a reason or None; the first reason denies.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from app.domain.enums import Action, OrderSide, PositionSide, SizeUnit, TradingState
from app.domain.intents import CheckOutcome, OrderPlan, RiskDecision
from app.domain.signal import Signal


@dataclass(frozen=True)
class AccountState:
    """What risk knows about an account when a signal arrives.

    ``position`` is the signed base quantity held in the signal's symbol (negative: short);
    ``default_order_notional`` is in the quote currency.
    """

    trading_state: TradingState
    position: Decimal
    default_order_notional: Decimal


Check = Callable[[Signal, AccountState], str | None]


def check_trading_state(signal: Signal, state: AccountState) -> str | None:
    if state.trading_state == TradingState.HALTED:
        return "the account is HALTED (kill switch): no orders until an operator sets it ACTIVE"
    if state.trading_state == TradingState.REDUCING and not _reduces(signal, state):
        return f"the account is REDUCING: only orders that reduce the position are allowed (position {state.position})"
    return None


def check_actionable(signal: Signal, state: AccountState) -> str | None:
    if signal.action == Action.HOLD:
        return None
    if signal.action == Action.CANCEL:
        return "cancel signals are recorded but not executed yet"
    if _closes(signal) and state.position == 0:
        return f"{signal.action} to {signal.target_position or 'flat'} but there is no {signal.symbol} position to close"
    return None


def check_size(signal: Signal, state: AccountState) -> str | None:
    if signal.action == Action.HOLD or _closes(signal):
        return None
    unit = signal.size.unit if signal.size else SizeUnit.QUOTE
    if unit == SizeUnit.PERCENT_EQUITY:
        return "percent_equity sizing is not available yet; send a base or quote size"
    if unit == SizeUnit.QUOTE and signal.price is None:
        return "a quote-currency size needs the signal's reference price (price) to convert to base units"
    return None


CHECKS: tuple[tuple[str, Check], ...] = (
    ("trading_state", check_trading_state),
    ("actionable", check_actionable),
    ("size", check_size),
)


def evaluate(signal: Signal, state: AccountState) -> RiskDecision:
    """Run every check in order and, if all pass, plan the orders.

    Returns a ``RiskDecision``: ``orders`` holds one plan, or two for a reversal (close,
    then open); a HOLD prediction is approved with no orders.
    """
    outcomes: list[CheckOutcome] = []
    for name, check in CHECKS:
        reason = check(signal, state)
        outcomes.append(CheckOutcome(name, reason is None, reason))
        if reason is not None:
            return RiskDecision(approved=False, checks=tuple(outcomes), reason=reason)
    return RiskDecision(approved=True, checks=tuple(outcomes), orders=plan_orders(signal, state))


def plan_orders(signal: Signal, state: AccountState) -> tuple[OrderPlan, ...]:
    """Orders from the current signed position to the one the signal asks for.

    ``exit`` or a target of ``flat`` closes the whole position (reduce-only); a buy while
    short (or a sell while long) whose target is the other side closes, then opens.
    """
    if signal.action == Action.HOLD:
        return ()
    if _closes(signal):
        side = OrderSide.SELL if state.position > 0 else OrderSide.BUY
        return (OrderPlan(side=side, quantity=abs(state.position), reduce_only=True),)
    side = OrderSide.BUY if signal.action == Action.BUY else OrderSide.SELL
    opening = OrderPlan(
        side=side,
        quantity=order_quantity(signal, state),
        order_type=signal.order_type,
        limit_price=signal.limit_price,
        time_in_force=signal.time_in_force,
    )
    against = (side == OrderSide.BUY and state.position < 0) or (side == OrderSide.SELL and state.position > 0)
    if against and signal.target_position in (PositionSide.LONG, PositionSide.SHORT):
        return (OrderPlan(side=side, quantity=abs(state.position), reduce_only=True), opening)
    return (opening,)


def order_quantity(signal: Signal, state: AccountState) -> Decimal:
    """Base quantity from the signal's size (base / contracts as given, quote ÷ reference
    price), else the account's default notional ÷ reference price."""
    if signal.size is not None and signal.size.unit in (SizeUnit.BASE, SizeUnit.CONTRACTS):
        return signal.size.amount
    notional = signal.size.amount if signal.size is not None else state.default_order_notional
    assert signal.price is not None  # check_size guarantees it
    return notional / signal.price


def _closes(signal: Signal) -> bool:
    return signal.action == Action.EXIT or (
        signal.action in (Action.BUY, Action.SELL) and signal.target_position == PositionSide.FLAT
    )


def _reduces(signal: Signal, state: AccountState) -> bool:
    if _closes(signal) or signal.action in (Action.HOLD, Action.CANCEL):
        return True
    return (signal.action == Action.SELL and state.position > 0) or (
        signal.action == Action.BUY and state.position < 0
    )
