"""The risk engine: checks in a fixed order, each outcome kept, the first failure denies.

``evaluate`` is pure: everything it needs arrives in ``RiskContext``, read by the caller
under the account's row lock (``app.risk.state``), so two alerts for one account are decided
one after the other. Order of steps (DESIGN.md, stage 3): trading state, daily loss, symbol,
staleness, market (deviation guard, limit offsets), confidence, cooldown, target position,
sizing, caps, venue rules.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from datetime import datetime
from decimal import Decimal

from app.config_file import AccountConfig, RiskLimits, StrategyConfig
from app.domain.enums import Action, OrderSide, OrderType, PositionSide, SizeUnit, TradingState
from app.domain.intents import CheckOutcome, OrderPlan, RiskDecision
from app.domain.money import fmt
from app.domain.signal import Signal
from app.domain.symbols import base_quote, is_derivative
from app.risk.market import NO_MARKET, MarketView, deviation_bps, offset_limit, reference_price
from app.risk.rules import MarketRules
from app.risk.futures import check_futures, check_position_sync, desync, futures_detail
from app.risk.targets import describe, plan_to_target, target_of
from app.risk.sizing import SizingError, order_quantity


@dataclass(frozen=True)
class AccountState:
    """The account as risk sees it. Quantities signed base units; money in the quote currency.

    ``position`` is what the fills say; ``in_flight`` is the signed base quantity of this
    symbol's orders already on their way and not yet filled (pending and submitting intents,
    orders in doubt, open reduce-only orders), so ``expected`` is the position once they are
    done. Every plan is made from ``expected``: two exits posted together close once.
    ``open_symbols``: symbols with a non-zero position or an unfilled opening intent;
    ``orders_last_minute``: intents created in the last 60 s; ``last_order_at``: newest
    intent for this symbol (cooldown); ``realized_pnl_today``: since 00:00 UTC, net of fees;
    ``daily_loss_armed``: False after an operator's reset today (the limit then waits for tomorrow).
    In hedge mode ``position`` and ``in_flight`` are those of the side the signal acts on and
    ``opposite`` is the other side's expected position.
    """

    trading_state: TradingState
    position: Decimal
    equity: Decimal
    open_symbols: frozenset[str] = frozenset()
    orders_last_minute: int = 0
    last_order_at: datetime | None = None
    realized_pnl_today: Decimal = Decimal(0)
    daily_loss_armed: bool = True
    in_flight: Decimal = Decimal(0)
    opposite: Decimal = Decimal(0)  # hedge mode: the other side's position, in flight included

    @property
    def expected(self) -> Decimal:
        """The position once every order in flight has filled (signed base units)."""
        return self.position + self.in_flight


@dataclass(frozen=True)
class RiskContext:
    """Everything one decision reads. ``market``: the cached quote and candles of the
    account's market-data source (``app.risk.market``); ``offset_problem``: why a signal's
    ``limit_offset`` could not be turned into a limit price."""

    signal: Signal
    state: AccountState
    limits: RiskLimits
    strategy: StrategyConfig
    rules: MarketRules
    now: datetime
    market: MarketView = NO_MARKET
    offset_problem: str | None = None
    account: AccountConfig | None = None  # futures settings (app.risk.futures); None: none checked
    # Hedge mode (app.risk.futures.hedge_side): the position (long / short) the signal acts on;
    # ``state`` is then that position's. None: the one-way (net) position.
    hedge_side: PositionSide | None = None

    @property
    def side(self) -> OrderSide:
        """The side of the signal's main order (an exit's closes the expected position)."""
        if self.signal.action == Action.BUY:
            return OrderSide.BUY
        if self.signal.action == Action.SELL:
            return OrderSide.SELL
        if self.hedge_side is not None:
            return OrderSide.SELL if self.hedge_side == PositionSide.LONG else OrderSide.BUY
        return OrderSide.SELL if self.state.expected > 0 else OrderSide.BUY

    @cached_property
    def priced(self) -> tuple[Decimal | None, str]:
        """The reference price for sizing and notionals, and where it came from: the limit
        price, the sender's price, else the market's ask (buy) / bid (sell)."""
        return reference_price(self.signal, self.market, self.side)

    @property
    def price(self) -> Decimal | None:
        return self.priced[0]


Plans = tuple[OrderPlan, ...]
Step = Callable[[RiskContext, Plans], tuple[str | None, Plans]]


def check_trading_state(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    state = ctx.state.trading_state
    if state == TradingState.HALTED:
        return "the account is HALTED (kill switch): no orders until an operator sets it ACTIVE", plans
    if state == TradingState.REDUCING and not _may_reduce(ctx):
        return f"the account is REDUCING: only orders that reduce the position are allowed (position {_describe_position(ctx.state)})", plans
    return None, plans


def check_daily_loss(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    limit = ctx.limits.daily_loss_limit
    loss = -ctx.state.realized_pnl_today
    if limit is None or not ctx.state.daily_loss_armed or loss < limit or _may_reduce(ctx):
        return None, plans
    action = ctx.limits.daily_loss_action.upper()
    return (f"daily realised loss {fmt(loss)} reached the limit {fmt(limit)}: the account is now {action} "
            "until 00:00 UTC or an operator's reset"), plans


def check_symbol(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    allowed = ctx.limits.symbols
    if allowed and ctx.signal.symbol not in allowed:
        return f"{ctx.signal.symbol} is not in this account's symbols ({', '.join(allowed)})", plans
    if not ctx.rules.listed:
        return f"{ctx.signal.symbol} is not listed on {ctx.rules.venue} (or its markets are not loaded yet)", plans
    return None, plans


def check_staleness(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    """Refuse a signal older than its max lag, or sent from the future.

    The lag is the strategy's ``max_lag_seconds``; a payload's own ``max_lag`` may tighten it,
    never loosen it (a sender cannot let a six-day-old alert through). A ``signal_time`` more
    than ``MAX_CLOCK_SKEW_SECONDS`` ahead of our clock is refused whatever the lag: it would
    otherwise pass any lag check for as long as it stays in the future.
    """
    sent = ctx.signal.signal_time
    if sent is None:
        return None, plans
    age = (ctx.now - sent).total_seconds()
    if age < -MAX_CLOCK_SKEW_SECONDS:
        return (f"signal_time {sent.isoformat()} is {-age:.0f} s ahead of the server's clock "
                f"({ctx.now.isoformat()}); at most {MAX_CLOCK_SKEW_SECONDS} s of clock skew is allowed"), plans
    lags = [lag for lag in (ctx.signal.max_lag, ctx.strategy.max_lag_seconds) if lag is not None]
    max_lag = min(lags) if lags else None
    if max_lag is not None and age > max_lag:
        return (f"signal is {age:.0f} s old (sent {sent.isoformat()}, received {ctx.now.isoformat()}); "
                f"max lag {max_lag} s"), plans
    return None, plans


# How far ahead of our clock a sender's clock may run (s). TradingView's {{timenow}} is its
# server's time; NTP-synchronised hosts differ by well under a second.
MAX_CLOCK_SKEW_SECONDS = 30


def check_market(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    """The deviation guard (``max_price_deviation_bps``): a sender's price that far from the
    market's mid is a stale or mistyped alert. A limit offset that found no market fails here."""
    if ctx.offset_problem is not None:
        return ctx.offset_problem, plans
    limit, quote, price = ctx.strategy.max_price_deviation_bps, ctx.market.quote, ctx.signal.price
    if limit is None or quote is None or price is None:
        return None, plans
    measured = deviation_bps(price, quote)
    if measured is not None and measured[0] > limit:
        bps, mid = measured
        return (f"price {fmt(price)} is {bps:.0f} bps from the {ctx.market.source} market (mid {fmt(mid)}, bid "
                f"{fmt(quote.bid) if quote.bid else '-'}, ask {fmt(quote.ask) if quote.ask else '-'}); "
                f"max_price_deviation_bps is {fmt(limit)}"), plans
    return None, plans


def check_confidence(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    minimum, confidence = ctx.strategy.min_confidence, ctx.signal.confidence
    if minimum is not None and confidence is not None and confidence < minimum:
        return f"confidence {fmt(confidence)} is below the strategy's minimum {fmt(minimum)}", plans
    return None, plans


def check_cooldown(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    cooldown, last = ctx.limits.cooldown_seconds, ctx.state.last_order_at
    if not cooldown or last is None or _may_reduce(ctx):
        return None, plans
    elapsed = (ctx.now - last).total_seconds()
    if elapsed < cooldown:
        return f"cooldown: last order on {ctx.signal.symbol} was {elapsed:.0f} s ago; cooldown is {cooldown} s", plans
    return None, plans


def plan_target(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    """The orders from the current position to the one the signal asks for (quantities of
    opening legs are set by sizing: a placeholder of 0 here)."""
    signal, position = ctx.signal, ctx.state.expected
    if signal.action in (Action.HOLD, Action.CANCEL):
        return None, ()
    target, why = target_of(signal, ctx.state.equity, ctx.price)
    if why is not None:
        return why, ()
    if ctx.hedge_side is not None:
        why, plans = _plan_hedged(ctx, target)
        return why, tuple(p if p.position_side else replace(p, position_side=ctx.hedge_side) for p in plans)
    if target is not None:
        return plan_to_target(signal, position, target, ctx.price)
    close_side = OrderSide.SELL if position > 0 else OrderSide.BUY
    if _closes(signal):
        if position == 0:
            return (f"{signal.action} to flat but there is no {signal.symbol} position to close "
                    f"(position {_describe_position(ctx.state)})"), ()
        return None, (OrderPlan(close_side, _exit_quantity(signal, position), ctx.price, reduce_only=True),)
    side = OrderSide.BUY if signal.action == Action.BUY else OrderSide.SELL
    against = (side == OrderSide.BUY and position < 0) or (side == OrderSide.SELL and position > 0)
    spot = not is_derivative(signal.symbol)
    opening = OrderPlan(side, Decimal(0), ctx.price, signal.order_type, signal.limit_price, signal.time_in_force)
    if not against:
        if spot and side == OrderSide.SELL:
            base = base_quote(signal.symbol)[0]
            return (f"sell on spot {signal.symbol} with no {base} position left to sell (position "
                    f"{_describe_position(ctx.state)}): a spot account cannot open a short"), ()
        return None, (opening,)
    close = OrderPlan(close_side, abs(position), ctx.price, reduce_only=True)
    reducing_only = ctx.state.trading_state == TradingState.REDUCING or ctx.strategy.on_opposite_signal == "reduce"
    if spot or reducing_only or signal.target_position == PositionSide.FLAT:
        return None, (close,)
    return None, (close, opening)


def _plan_hedged(ctx: RiskContext, target: Decimal | None) -> tuple[str | None, Plans]:
    """Hedge mode: the orders on one side's position (a long is never below 0, a short never
    above): a buy opens or adds to the long and a sell closes it (reduce-only, the whole long
    or the signal's base size / percent of it), mirrored for the short. A reversal alert
    (TradingView's ``prev_position`` long, target short, or the reverse) first closes what the
    other side holds (reduce-only, on that side), then opens this one."""
    signal, position, side = ctx.signal, ctx.state.expected, ctx.hedge_side
    long = side == PositionSide.LONG
    opens, closes = (OrderSide.BUY, OrderSide.SELL) if long else (OrderSide.SELL, OrderSide.BUY)
    other = PositionSide.SHORT if long else PositionSide.LONG
    reversal = () if ctx.state.opposite == 0 or signal.prev_position != other else (
        OrderPlan(opens, abs(ctx.state.opposite), ctx.price, reduce_only=True, position_side=other),)
    if target is not None:
        if target != 0 and (target > 0) != long:
            return (f"target {fmt(target)} is a {'short' if long else 'long'} position but the signal acts on "
                    f"the {side.value} position"), ()
        why, plans = plan_to_target(signal, position, target, ctx.price)
        return why, (reversal + plans if why is None and target != 0 else plans)
    if _closes(signal) or (signal.action == Action.SELL) == long:
        if position == 0:
            return (f"{signal.action} closes the {side.value} {signal.symbol} position but there is none "
                    f"(position {_describe_position(ctx.state)})"), ()
        return None, (OrderPlan(closes, _exit_quantity(signal, position, partial_on_any=True), ctx.price,
                                reduce_only=True),)
    return None, reversal + (
        OrderPlan(opens, Decimal(0), ctx.price, signal.order_type, signal.limit_price, signal.time_in_force),)


def size_orders(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    if not any(p.quantity == 0 for p in plans):
        return None, plans
    try:
        quantity = order_quantity(ctx.signal, ctx.limits, ctx.state.equity, ctx.price, ctx.market.atr,
                                  ctx.market.atr_reason)
    except SizingError as e:
        return (f"{e}; {ctx.priced[1]}" if ctx.price is None else str(e)), plans
    return None, tuple(replace(p, quantity=quantity) if p.quantity == 0 else p for p in plans)


def check_caps(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    opening = [p for p in plans if not p.reduce_only]
    if not opening:
        return None, plans
    limits, state, symbol = ctx.limits, ctx.state, ctx.signal.symbol
    if limits.max_orders_per_minute is not None and state.orders_last_minute + len(plans) > limits.max_orders_per_minute:
        return f"{state.orders_last_minute} orders in the last minute; the limit is {limits.max_orders_per_minute} per minute", plans
    if limits.max_open_positions is not None and symbol not in state.open_symbols and len(state.open_symbols) >= limits.max_open_positions:
        return (f"{len(state.open_symbols)} positions are open or opening ({', '.join(sorted(state.open_symbols))}); "
                f"the limit is {limits.max_open_positions}"), plans
    position = state.expected
    for plan in plans:
        if plan.position_side != ctx.hedge_side:
            continue  # a hedge-mode reversal's close of the other side: reduce-only, another position
        position = _position_after(position, plan)
        reason = None if plan.reduce_only else _notional_caps(ctx, plan, position)
        if reason:
            return reason, plans
    return None, plans


def _notional_caps(ctx: RiskContext, plan: OrderPlan, position_after: Decimal) -> str | None:
    limits, quote = ctx.limits, base_quote(ctx.signal.symbol)[1]
    if (limits.max_order_notional or limits.max_position_notional) and plan.notional is None:
        return "the notional caps need a price: add the reference price (price) to the signal"
    if limits.max_order_notional is not None and plan.notional > limits.max_order_notional:
        return f"order notional {fmt(plan.notional)} {quote} exceeds max_order_notional {fmt(limits.max_order_notional)} {quote}"
    if limits.max_position_notional is not None:
        after = abs(position_after) * plan.price
        if after > limits.max_position_notional:
            return (f"position notional after this order would be {fmt(after)} {quote}, above "
                    f"max_position_notional {fmt(limits.max_position_notional)} {quote}")
    return None


def apply_venue_rules(ctx: RiskContext, plans: Plans) -> tuple[str | None, Plans]:
    rules, base, quote = ctx.rules, *base_quote(ctx.signal.symbol)
    adjusted = []
    for plan in plans:
        quantity = rules.amount_to_precision(plan.quantity)
        limit_price = rules.price_to_precision(plan.limit_price) if plan.limit_price else None
        minimum = rules.min_amount or Decimal(0)
        if quantity <= 0 or quantity < minimum:
            return (f"order quantity {fmt(plan.quantity)} {base} is {fmt(quantity)} after the venue's precision, "
                    f"below the venue minimum {fmt(minimum)} {base}"), plans
        plan = replace(plan, quantity=quantity, limit_price=limit_price)
        if rules.min_notional and plan.notional is not None and plan.notional < rules.min_notional:
            return (f"order notional {fmt(plan.notional)} {quote} is below the venue minimum "
                    f"{fmt(rules.min_notional)} {quote}"), plans
        adjusted.append(plan)
    return None, tuple(adjusted)


STEPS: tuple[tuple[str, Step], ...] = (
    ("trading_state", check_trading_state),
    ("daily_loss", check_daily_loss),
    ("symbol", check_symbol),
    ("staleness", check_staleness),
    ("market", check_market),
    ("confidence", check_confidence),
    ("cooldown", check_cooldown),
    ("position_sync", check_position_sync),
    ("futures", check_futures),
    ("target_position", plan_target),
    ("sizing", size_orders),
    ("caps", check_caps),
    ("venue_rules", apply_venue_rules),
)


def evaluate(ctx: RiskContext) -> RiskDecision:
    """Run every step in order; the first reason denies. Returns a ``RiskDecision`` with one
    order, two for a reversal (close, then open), or none for a HOLD / cancel signal."""
    ctx = with_offset_limit(ctx)
    outcomes: list[CheckOutcome] = []
    plans: Plans = ()
    for name, step in STEPS:
        reason, plans = step(ctx, plans)
        outcomes.append(CheckOutcome(name, reason is None, reason, _detail(ctx, name) if reason is None else None,
                                     _market_data(ctx) if name == "market" else None))
        if reason is not None:
            change = _state_change(ctx) if name == "daily_loss" else None
            return RiskDecision(approved=False, checks=tuple(outcomes), reason=reason, trading_state_change=change)
    return RiskDecision(approved=True, checks=tuple(outcomes), orders=plans)


def with_offset_limit(ctx: RiskContext) -> RiskContext:
    """A signal with ``limit_offset`` becomes a limit order priced from the market (its tick
    from the venue's market), or the context notes why it cannot."""
    offset = ctx.signal.limit_offset
    if offset is None:
        return ctx
    quote = ctx.market.quote
    limit = offset_limit(offset, ctx.side, quote, ctx.rules.tick_size) if quote is not None else None
    if limit is None or limit <= 0:
        why = ctx.market.quote_reason if quote is None else (
            f"the {ctx.rules.venue} tick size is not known: use a percent offset" if offset.ticks is not None
            else "the market has no price on that side")
        return replace(ctx, offset_problem=f"limit_offset {offset} needs the market price: {why}")
    signal = ctx.signal.model_copy(update={"order_type": OrderType.LIMIT, "limit_price": ctx.rules.price_to_precision(limit)})
    return replace(ctx, signal=signal)


def _market_data(ctx: RiskContext) -> dict[str, str] | None:
    """The quote the decision saw (for slippage against the market at receipt), as text."""
    quote = ctx.market.quote
    if quote is None:
        return None
    figures = {"source": ctx.market.source or "", "bid": quote.bid, "ask": quote.ask, "last": quote.last}
    return {k: (v if isinstance(v, str) else fmt(v)) for k, v in figures.items() if v is not None} | {
        "age_s": f"{quote.age(ctx.now):.3f}"}


def _detail(ctx: RiskContext, check: str) -> str | None:
    """What a passing check used, said in the decision: the price and its source; the ATR from candles."""
    if check == "market":
        quote, words = ctx.market.quote, ctx.priced[1]
        age = f"; {ctx.market.source} quote {quote.age(ctx.now):.1f} s old" if quote is not None else ""
        return f"price: {words}{age}"
    if check in ("position_sync", "futures"):
        return desync(ctx) if check == "position_sync" else futures_detail(ctx)
    if check == "target_position":
        target, _ = target_of(ctx.signal, ctx.state.equity, ctx.price)
        return describe(ctx.state.expected, target) if target is not None else None
    if check == "sizing" and ctx.market.atr is not None:
        shown = ctx.market.atr.quantize(Decimal("1e-8"))
        return f"ATR(14) {fmt(shown)} from {ctx.market.atr_timeframe} candles on {ctx.market.source}"
    return None


def _state_change(ctx: RiskContext) -> TradingState:
    return TradingState.HALTED if ctx.limits.daily_loss_action == "halted" else TradingState.REDUCING


def _closes(signal: Signal) -> bool:
    return signal.action == Action.EXIT or (
        signal.action in (Action.BUY, Action.SELL) and signal.target_position == PositionSide.FLAT
    )


def _exit_quantity(signal: Signal, position: Decimal, *, partial_on_any: bool = False) -> Decimal:
    """Whole position, or a percent of it (``size`` in percent_position), or a base size up to
    it — for an ``exit``, or for any close with ``partial_on_any`` (hedge mode, where a sell on
    the long only ever closes it)."""
    size = signal.size
    if size is None:
        return abs(position)
    if size.unit == SizeUnit.PERCENT_POSITION:
        return abs(position) * min(size.amount, Decimal(100)) / Decimal(100)
    if size.unit in (SizeUnit.BASE, SizeUnit.CONTRACTS) and (partial_on_any or signal.action == Action.EXIT):
        return min(size.amount, abs(position))
    return abs(position)


def _may_reduce(ctx: RiskContext) -> bool:
    signal, position = ctx.signal, ctx.state.expected
    if _closes(signal) or signal.action in (Action.HOLD, Action.CANCEL):
        return True
    if ctx.hedge_side is not None and (signal.action == Action.SELL) == (ctx.hedge_side == PositionSide.LONG):
        return position != 0  # it closes (part of) the side
    target, _ = target_of(signal, ctx.state.equity, ctx.price)
    if target is not None:
        return target == 0 or ((target > 0) == (position > 0) and abs(target) <= abs(position))
    return (signal.action == Action.SELL and position > 0 and signal.target_position != PositionSide.SHORT) or (
        signal.action == Action.BUY and position < 0 and signal.target_position != PositionSide.LONG
    )


def _describe_position(state: AccountState) -> str:
    """``0.5`` or ``1 filled, -1 in flight``: what a reason says about the position."""
    if state.in_flight == 0:
        return fmt(state.position)
    return f"{fmt(state.position)} filled, {fmt(state.in_flight)} in flight"


def _position_after(position: Decimal, plan: OrderPlan) -> Decimal:
    return position + (plan.quantity if plan.side == OrderSide.BUY else -plan.quantity)
