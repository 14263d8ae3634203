"""The risk engine, table-driven: every check and sizing mode with hand-computed values."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from app.config_file import AccountConfig, RiskLimits, StrategyConfig
from app.domain.enums import Action, PositionSide, SizeUnit, TradingState
from app.domain.signal import Signal, Size
from app.risk.engine import AccountState, RiskContext, evaluate
from app.risk.futures import hedge_side
from app.risk.rules import ccxt_rules, paper_rules

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
BINANCE_BTC = {
    "id": "BTCUSDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "type": "spot", "spot": True,
    "active": True, "precision": {"amount": 0.00001, "price": 0.01},
    "limits": {"amount": {"min": 0.00001}, "cost": {"min": 5}},
}


def signal(**fields) -> Signal:
    base = {"dialect": "tradewire", "idempotency_key": "k", "symbol": "BTC/USDT", "raw_symbol": "BTCUSDT",
            "action": Action.BUY, "price": D("50000"), "signal_time": NOW}
    return Signal(**(base | fields))


def context(sig: Signal | None = None, *, limits: RiskLimits | None = None, strategy: StrategyConfig | None = None,
            rules=None, **state) -> RiskContext:
    account = AccountState(**({"trading_state": TradingState.ACTIVE, "position": D(0), "equity": D(10000)} | state))
    sig = sig or signal()
    return RiskContext(sig, account, limits or RiskLimits(), strategy or StrategyConfig(),
                       rules or paper_rules(sig.symbol, D(5)), NOW)


def decide(*args, **kwargs):
    return evaluate(context(*args, **kwargs))


@pytest.mark.parametrize(
    "limits,sig,expected",
    [
        (RiskLimits(sizing="fixed_base", sizing_value=D("0.01")), signal(), D("0.01")),
        (RiskLimits(sizing="fixed_quote", sizing_value=D(100)), signal(), D("0.002")),  # 100 / 50000
        (RiskLimits(sizing="percent_equity", sizing_value=D(5)), signal(), D("0.01")),  # 10000 * 5% / 50000
        # atr_risk: 10000 * 1% / (400 * 1.5) = 0.16666666 (paper keeps 8 decimals, truncating)
        (RiskLimits(sizing="atr_risk", sizing_value=D(1)), signal(indicators={"atr_14": D(400)}), D("0.16666666")),
        # the signal's own size wins: 250 USDT / 50000 = 0.005
        (RiskLimits(sizing="fixed_base", sizing_value=D(1)), signal(size=Size(amount=D(250), unit=SizeUnit.QUOTE)), D("0.005")),
        (RiskLimits(), signal(size=Size(amount=D(2), unit=SizeUnit.PERCENT_EQUITY)), D("0.004")),  # 200 / 50000
    ],
)
def test_sizing_modes(limits, sig, expected):
    decision = decide(sig, limits=limits)
    assert decision.approved, decision.reason
    assert [o.quantity for o in decision.orders] == [expected]


def test_atr_sizing_without_atr_is_rejected_with_that_reason():
    decision = decide(signal(indicators={"rsi_14": D(42)}), limits=RiskLimits(sizing="atr_risk", sizing_value=D(1)))
    assert not decision.approved
    assert decision.reason.startswith("atr_risk sizing needs indicators.atr_14") and "rsi_14" in decision.reason


@pytest.mark.parametrize(
    "kwargs,check,words",
    [
        ({"trading_state": TradingState.HALTED}, "trading_state", "HALTED"),
        ({"trading_state": TradingState.REDUCING}, "trading_state", "REDUCING"),
        ({"limits": RiskLimits(daily_loss_limit=D(500)), "realized_pnl_today": D(-500)}, "daily_loss",
         "daily realised loss 500 reached the limit 500"),
        ({"limits": RiskLimits(symbols=["ETH/USDT"])}, "symbol", "BTC/USDT is not in this account's symbols (ETH/USDT)"),
        ({"rules": ccxt_rules("binance", "BTC/USDT", None)}, "symbol", "not listed on binance"),
        ({"sig": signal(signal_time=NOW - timedelta(seconds=300), max_lag=120)}, "staleness",
         "signal is 300 s old (sent 2026-11-21T11:55:00+00:00, received 2026-11-21T12:00:00+00:00); max lag 120 s"),
        ({"sig": signal(confidence=D("0.6")), "strategy": StrategyConfig(min_confidence=D("0.75"))}, "confidence",
         "confidence 0.6 is below the strategy's minimum 0.75"),
        ({"limits": RiskLimits(cooldown_seconds=60), "last_order_at": NOW - timedelta(seconds=20)}, "cooldown",
         "last order on BTC/USDT was 20 s ago; cooldown is 60 s"),
        ({"sig": signal(action=Action.EXIT)}, "target_position", "no BTC/USDT position to close"),
        ({"sig": signal(action=Action.SELL)}, "target_position", "a spot account cannot open a short"),
        ({"limits": RiskLimits(max_order_notional=D(50))}, "caps", "order notional 100 USDT exceeds max_order_notional 50 USDT"),
        ({"limits": RiskLimits(max_position_notional=D(150)), "position": D("0.002")}, "caps",
         "position notional after this order would be 200 USDT, above max_position_notional 150 USDT"),
        ({"limits": RiskLimits(max_open_positions=2), "open_symbols": frozenset({"ETH/USDT", "SOL/USDT"})}, "caps",
         "2 positions are open or opening (ETH/USDT, SOL/USDT); the limit is 2"),
        ({"limits": RiskLimits(max_orders_per_minute=10), "orders_last_minute": 10}, "caps",
         "10 orders in the last minute; the limit is 10 per minute"),
        ({"limits": RiskLimits(sizing_value=D(4))}, "venue_rules", "order notional 4 USDT is below the venue minimum 5 USDT"),
        ({"limits": RiskLimits(sizing="fixed_base", sizing_value=D("0.000001")), "rules": ccxt_rules("binance", "BTC/USDT", BINANCE_BTC)},
         "venue_rules", "order quantity 0.000001 BTC is 0 after the venue's precision, below the venue minimum 0.00001 BTC"),
    ],
)
def test_each_check_denies_with_its_reason_in_numbers(kwargs, check, words):
    kwargs = dict(kwargs)
    sig = kwargs.pop("sig", None)
    decision = decide(sig, **kwargs)
    assert not decision.approved
    assert decision.checks[-1].name == check
    assert words in decision.reason
    assert decision.orders == ()


def test_every_check_is_recorded_when_approved():
    decision = decide()
    assert decision.approved
    assert [c.name for c in decision.checks] == [
        "trading_state", "daily_loss", "symbol", "staleness", "market", "confidence", "cooldown", "position_sync",
        "futures", "target_position", "sizing", "caps", "venue_rules",
    ]


def test_daily_loss_switches_the_account_to_the_configured_state():
    for action, state in (("reducing", TradingState.REDUCING), ("halted", TradingState.HALTED)):
        decision = decide(limits=RiskLimits(daily_loss_limit=D(100), daily_loss_action=action), realized_pnl_today=D(-150))
        assert decision.trading_state_change == state


def test_daily_loss_limit_lets_a_closing_order_through_and_waits_after_an_operator_reset():
    limits = RiskLimits(daily_loss_limit=D(100))
    assert decide(signal(action=Action.EXIT), limits=limits, realized_pnl_today=D(-150), position=D(1)).approved
    assert decide(limits=limits, realized_pnl_today=D(-150), daily_loss_armed=False).approved


def test_reducing_lets_only_the_close_of_a_reversal_through():
    perp = signal(symbol="BTC/USDT:USDT", action=Action.SELL, target_position=PositionSide.SHORT)
    decision = decide(perp, trading_state=TradingState.REDUCING, position=D("0.01"))
    assert decision.approved is False  # asking for a short is not reducing
    decision = decide(signal(symbol="BTC/USDT:USDT", action=Action.SELL), trading_state=TradingState.REDUCING,
                      position=D("0.01"))
    assert [(o.side, o.quantity, o.reduce_only) for o in decision.orders] == [("sell", D("0.01"), True)]


def test_reversal_closes_then_opens_and_reduce_mode_only_closes():
    perp = signal(symbol="BTC/USDT:USDT", action=Action.SELL, target_position=PositionSide.SHORT)
    reverse = decide(perp, position=D("0.01"), limits=RiskLimits(sizing="fixed_base", sizing_value=D("0.003")))
    assert [(o.side, o.quantity, o.reduce_only) for o in reverse.orders] == [("sell", D("0.01"), True), ("sell", D("0.003"), False)]
    reduce = decide(perp, position=D("0.01"), strategy=StrategyConfig(on_opposite_signal="reduce"))
    assert [(o.side, o.quantity, o.reduce_only) for o in reduce.orders] == [("sell", D("0.01"), True)]


def test_partial_exit_by_percent_of_position():
    decision = decide(signal(action=Action.EXIT, size=Size(amount=D(25), unit=SizeUnit.PERCENT_POSITION)), position=D("0.04"))
    assert [(o.side, o.quantity, o.reduce_only) for o in decision.orders] == [("sell", D("0.01"), True)]


def test_venue_precision_truncates_the_quantity_and_the_limit_price():
    sig = signal(order_type="limit", limit_price=D("50000.567"), size=Size(amount=D("0.0123456")))
    decision = decide(sig, rules=ccxt_rules("binance", "BTC/USDT", BINANCE_BTC))
    assert [(o.quantity, o.limit_price) for o in decision.orders] == [(D("0.01234"), D("50000.57"))]


def test_hold_is_approved_with_no_orders():
    decision = decide(signal(action=Action.HOLD))
    assert decision.approved and decision.orders == ()


# Orders in flight (issue 10): the plan is made from the position the fills will leave.

def test_second_exit_while_the_first_is_in_flight_closes_nothing():
    decision = decide(signal(action=Action.EXIT, symbol="BTC/USDT:USDT"), position=D(1), in_flight=D(-1))
    assert not decision.approved
    assert decision.reason == "exit to flat but there is no BTC/USDT:USDT position to close (position 1 filled, -1 in flight)"


def test_exit_after_a_reversal_in_flight_closes_the_new_short():
    # long 1; a reversal (close 1, open short 1) is in flight: the exit buys back the short
    decision = decide(signal(action=Action.EXIT, symbol="BTC/USDT:USDT"), position=D(1), in_flight=D(-2))
    assert decision.approved
    assert [(o.side.value, o.quantity, o.reduce_only) for o in decision.orders] == [("buy", D(1), True)]


def test_spot_sell_of_a_position_already_being_sold_is_refused():
    decision = decide(signal(action=Action.SELL), position=D("0.5"), in_flight=D("-0.5"))
    assert not decision.approved
    assert "a spot account cannot open a short" in decision.reason and "0.5 filled, -0.5 in flight" in decision.reason


def test_exit_of_a_buy_still_in_flight_closes_what_it_will_fill():
    decision = decide(signal(action=Action.EXIT), position=D(0), in_flight=D("0.002"))
    assert [(o.side.value, o.quantity, o.reduce_only) for o in decision.orders] == [("sell", D("0.002"), True)]


def test_position_cap_counts_buys_in_flight():
    limits = RiskLimits(max_position_notional=D(150), sizing="fixed_quote", sizing_value=D(100))
    decision = decide(signal(), limits=limits, in_flight=D("0.002"))  # 100 USDT already on its way
    assert not decision.approved
    assert "position notional after this order would be 200 USDT" in decision.reason


# Staleness cannot be bypassed (issue 10).

@pytest.mark.parametrize("ahead", [timedelta(seconds=31), timedelta(days=365), datetime(9999, 1, 1, tzinfo=UTC) - NOW])
def test_signal_time_in_the_future_is_refused(ahead):
    decision = decide(signal(signal_time=NOW + ahead), strategy=StrategyConfig(max_lag_seconds=60))
    assert not decision.approved and decision.checks[-1].name == "staleness"
    assert "ahead of the server's clock" in decision.reason


def test_small_clock_skew_is_allowed():
    assert decide(signal(signal_time=NOW + timedelta(seconds=5)), strategy=StrategyConfig(max_lag_seconds=60)).approved


def test_payload_max_lag_tightens_but_never_loosens_the_strategy_lag():
    six_days_old = signal(signal_time=NOW - timedelta(days=6), max_lag=604800)
    decision = decide(six_days_old, strategy=StrategyConfig(max_lag_seconds=60))
    assert not decision.approved and decision.reason.endswith("max lag 60 s")
    tight = decide(signal(signal_time=NOW - timedelta(seconds=20), max_lag=10), strategy=StrategyConfig(max_lag_seconds=60))
    assert not tight.approved and tight.reason.endswith("max lag 10 s")


# Absolute targets (issue 13): the difference between the target and the expected position.

PERP_SIGNAL = {"symbol": "BTC/USDT:USDT", "raw_symbol": "BTCUSDT.P"}


@pytest.mark.parametrize("target,expected,orders", [
    (D(1), D(0), [("buy", D(1), False)]),
    (D(1), D(1), []),  # repeated alert: nothing to order
    (D(1), D("0.4"), [("buy", D("0.6"), False)]),  # only what is missing
    (D("0.5"), D(2), [("sell", D("1.5"), True)]),
    (D(-1), D(2), [("sell", D(2), True), ("sell", D(1), False)]),  # through zero: close, then open short
    (D(0), D(-3), [("buy", D(3), True)]),
])
def test_target_size_orders_the_difference(target, expected, orders):
    decision = decide(signal(target_size=target, **PERP_SIGNAL), position=expected)
    assert decision.approved, decision.reason
    assert [(o.side.value, o.quantity, o.reduce_only) for o in decision.orders] == orders


def test_target_size_counts_orders_in_flight():
    decision = decide(signal(target_size=D(1), **PERP_SIGNAL), position=D(0), in_flight=D(1))
    assert decision.approved and decision.orders == ()
    assert next(c for c in decision.checks if c.name == "target_position").detail == \
        "target 1, position expected 1: nothing to order"


def test_target_percent_is_a_share_of_equity_at_the_price():
    decision = decide(signal(target_percent=D(10)))  # 10% of 10000 at 50000 = 0.02 BTC
    assert [(o.side.value, o.quantity) for o in decision.orders] == [("buy", D("0.02"))]


def test_a_negative_target_on_spot_is_refused():
    decision = decide(signal(target_size=D(-1)))
    assert not decision.approved and "a spot account cannot hold a negative position" in decision.reason


L, S, F = PositionSide.LONG, PositionSide.SHORT, PositionSide.FLAT


@pytest.mark.parametrize("fields, side", [
    ({"position_side": S}, S),                                          # named: wins
    ({"target_size": D("-0.5")}, S), ({"target_size": D("0.5")}, L),    # strategy.position_size's sign
    ({"target_size": D(0), "prev_position": L}, L),                     # to zero: the side it held
    ({"target_position": S, "prev_position": L}, S),                    # TradingView reversal: opens the short
    ({"action": Action.SELL, "target_position": F, "prev_position": L}, L),  # close of the long
    ({"action": Action.SELL, "target_position": F}, L),                 # a sell to flat closes a long
    ({"action": Action.BUY, "target_position": F}, S),                  # a buy to flat closes a short
    ({"action": Action.EXIT, "prev_position": S}, S),
    ({"action": Action.EXIT}, None),                                    # which one? not guessed
    ({"action": Action.BUY}, L), ({"action": Action.SELL}, S),          # plain: opens or adds
])
def test_hedge_side_of_a_signal(fields, side):
    """The hedge-mode position a signal acts on (``app.risk.futures.hedge_side``)."""
    assert hedge_side(signal(symbol="BTC/USDT:USDT", **fields)) == side


def hedged(sig: Signal, position: D, opposite: D = D(0), **state) -> RiskContext:
    """A hedge-mode account's context: ``position`` the side's, ``opposite`` the other side's."""
    ctx = context(sig, position=position, opposite=opposite, **state)
    account = AccountConfig(venue="bybit", futures={"position_mode": "hedge"})
    return replace(ctx, account=account, hedge_side=hedge_side(sig))


def test_hedge_mode_sell_on_the_long_closes_it_and_never_opens_a_short():
    sig = signal(symbol="BTC/USDT:USDT", action=Action.SELL, position_side=L, size=Size(amount=D(5), unit=SizeUnit.BASE))
    decision = evaluate(hedged(sig, position=D(2), opposite=D(-3)))
    assert decision.approved, decision.reason
    assert [(o.side.value, o.quantity, o.reduce_only, o.position_side) for o in decision.orders] == [
        ("sell", D(2), True, L)]  # cut to the long's 2, the short's -3 untouched


def test_hedge_mode_reversal_closes_the_other_side_first_and_caps_only_this_side():
    sig = signal(symbol="BTC/USDT:USDT", action=Action.SELL, target_position=S, prev_position=L,
                 size=Size(amount=D("0.02"), unit=SizeUnit.BASE))
    limits = RiskLimits(max_position_notional=D(1500))  # 0.02 × 50000 = 1000: the short alone fits
    decision = evaluate(replace_limits(hedged(sig, position=D(0), opposite=D("0.05")), limits))
    assert decision.approved, decision.reason
    assert [(o.side.value, o.quantity, o.reduce_only, o.position_side) for o in decision.orders] == [
        ("sell", D("0.05"), True, L), ("sell", D("0.02"), False, S)]


def replace_limits(ctx: RiskContext, limits: RiskLimits) -> RiskContext:
    return replace(ctx, limits=limits)


def test_hedge_mode_target_of_the_wrong_sign_for_the_named_side_is_refused():
    sig = signal(symbol="BTC/USDT:USDT", target_size=D("-1"), position_side=L)
    decision = evaluate(hedged(sig, position=D(1)))
    assert not decision.approved
    assert decision.reason == "target -1 is a short position but the signal acts on the long position"
