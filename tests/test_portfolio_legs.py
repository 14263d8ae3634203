"""The leg planner (``app.portfolio.legs``), a pure function: every expected figure below is
computed by hand from the formulas in its docstring."""

from decimal import Decimal as D

import pytest

from app.domain.enums import OrderSide
from app.portfolio.legs import PlanError, Price, Threshold, plan_legs, resize_buys
from app.risk.rules import ccxt_rules, paper_rules

PRICES = {"BTC": Price(D(49990), D(50010), D(50000), "quote"), "ETH": Price(D(1999), D(2001), D(2000), "quote"),
          "SOL": Price(D("99.9"), D("100.1"), D(100), "quote")}
PAPER = {a: paper_rules(f"{a}/USDT", D(5)) for a in PRICES}
FEE = D("0.001")
WEIGHTS = {"BTC": D("0.5"), "ETH": D("0.3"), "SOL": D("0.2")}


def legs_of(plan) -> list[tuple[str, str, D]]:
    return [(leg.symbol, leg.side.value, leg.quantity) for leg in plan.legs]


def test_three_assets_sells_first_then_buys_scaled_to_the_cash():
    plan = plan_legs({"BTC": D("0.1"), "ETH": D(2)}, D(2993), PRICES, WEIGHTS, "USDT", FEE, PAPER, Threshold(D(2)))
    # E = 2993 + 0.1·50000 + 2·2000 = 11993; ETH 1.79895 wanted: sell 0.20105 at 1999 → 401.49705105 net;
    # buys BTC 0.01993 and SOL 23.986 cost 3401.0955979 at the ask with fees > 3394.49705105: scaled.
    assert plan.equity == D(11993)
    assert legs_of(plan) == [("ETH/USDT", "sell", D("0.20105")), ("BTC/USDT", "buy", D("0.01989133")),
                             ("SOL/USDT", "buy", D("23.93946418"))]
    sell, btc, sol = plan.legs
    assert (sell.price, sell.notional, sell.fee) == (D(1999), D("401.89895"), D("0.40189895"))
    assert (btc.price, btc.notional, btc.wanted) == (D(50010), D("994.7654133"), D("0.01993"))
    assert (sol.price, sol.notional, sol.wanted) == (D("100.1"), D("2396.340364418"), D("23.986"))
    assert round(plan.scale, 12) == D("0.998059876102")  # 3394.49705105 / 3401.0955979
    assert plan.cash_after == D("3394.49705105") - (btc.notional + sol.notional) * D("1.001") == D("0.000167554282")
    assert round(sell.drift_before * 100, 2) == D("3.35") and round(sol.drift_before * 100, 2) == D("-20")
    assert all(abs(leg.drift_after) < D("0.0005") for leg in plan.legs)


def test_drift_at_or_below_the_threshold_orders_nothing():
    # BTC 5000/11993 = 41.69 % against 40 % (+1.69 pp), ETH 33.35 % against 33 % (+0.35 pp)
    plan = plan_legs({"BTC": D("0.1"), "ETH": D(2)}, D(2993), PRICES, {"BTC": D("0.4"), "ETH": D("0.33")}, "USDT",
                     FEE, PAPER, Threshold(D(5)))
    assert plan.legs == () and plan.skipped == ()
    # exactly at the threshold is not beyond it: 50 % held against a 45 % target is 5 pp
    exact = plan_legs({"BTC": D("0.1")}, D(5000), PRICES, {"BTC": D("0.45")}, "USDT", FEE, PAPER, Threshold(D(5)))
    assert exact.legs == ()
    beyond = plan_legs({"BTC": D("0.1")}, D(5000), PRICES, {"BTC": D("0.45")}, "USDT", FEE, PAPER, Threshold(D("4.99")))
    assert legs_of(beyond) == [("BTC/USDT", "sell", D("0.01"))]  # 0.1 − 0.45·10000/50000


def test_relative_threshold_is_a_percent_of_the_target_weight():
    # BTC 50 % against 45 %: 5 pp, 11.1 % of the target
    relative = {"BTC": D("0.45")}
    assert plan_legs({"BTC": D("0.1")}, D(5000), PRICES, relative, "USDT", FEE, PAPER,
                     Threshold(D(12), "relative")).legs == ()
    assert legs_of(plan_legs({"BTC": D("0.1")}, D(5000), PRICES, relative, "USDT", FEE, PAPER,
                             Threshold(D(11), "relative"))) == [("BTC/USDT", "sell", D("0.01"))]


def test_an_asset_held_but_not_named_is_sold_and_cash_is_the_rest():
    plan = plan_legs({"BTC": D("0.1"), "ETH": D(2)}, D(1000), PRICES, {"BTC": D("0.5")}, "USDT", FEE, PAPER,
                     Threshold())
    # E = 1000 + 5000 + 4000 = 10000: ETH sold whole; BTC 0.5·10000/50000 = 0.1 already held
    assert legs_of(plan) == [("ETH/USDT", "sell", D(2))]
    assert plan.cash_after == D(1000) + D(2) * 1999 * D("0.999")


def test_venue_precision_and_minimums_from_the_stored_market():
    market = {"symbol": "BTC/USDT", "active": True, "precision": {"amount": 0.001, "price": 0.01},
              "limits": {"amount": {"min": 0.001}, "cost": {"min": 10}}}
    rules = {"BTC": ccxt_rules("binance", "BTC/USDT", market)}
    # 0.3·1000/50000 = 0.006 BTC: on the venue's 0.001 step
    assert legs_of(plan_legs({}, D(1000), PRICES, {"BTC": D("0.3")}, "USDT", FEE, rules, Threshold())) == [
        ("BTC/USDT", "buy", D("0.006"))]
    # 0.5·1234/50000 = 0.01234 → 0.012 (truncated)
    assert legs_of(plan_legs({}, D(1234), PRICES, {"BTC": D("0.5")}, "USDT", FEE, rules, Threshold())) == [
        ("BTC/USDT", "buy", D("0.012"))]
    # 0.3·20/50000 = 0.00012 → 0 after precision: skipped, not failed, nothing ordered
    small = plan_legs({}, D(20), PRICES, {"BTC": D("0.3")}, "USDT", FEE, rules, Threshold())
    assert small.legs == () and not small.skipped[0].failed
    assert small.skipped[0].reason == ("0.00012 BTC is 0 after the venue's precision, below the venue minimum "
                                       "0.001 BTC")
    # 0.001 BTC = 50.01 USDT at the ask, above 10; a 5 USDT paper minimum refuses a 3 USDT sell
    dust = plan_legs({"BTC": D("0.00006")}, D(0), PRICES, {}, "USDT", FEE, PAPER, Threshold())
    assert dust.legs == () and "below the venue minimum 5 USDT" in dust.skipped[0].reason


def test_prices_missing_refuse_a_holding_and_fail_a_wanted_asset():
    with pytest.raises(PlanError, match="no price for DOGE: holdings cannot be valued"):
        plan_legs({"DOGE": D(100)}, D(10), PRICES, {}, "USDT", FEE, PAPER, Threshold())
    plan = plan_legs({}, D(1000), PRICES, {"ADA": D("0.1"), "BTC": D("0.5")}, "USDT", FEE, PAPER, Threshold())
    assert legs_of(plan) == [("BTC/USDT", "buy", D("0.01"))]
    assert plan.unpriced == ("ADA",) and plan.skipped[0].failed and "prices.ADA" in plan.skipped[0].reason
    with pytest.raises(PlanError, match="equity is 0"):
        plan_legs({}, D(0), PRICES, {"BTC": D("0.5")}, "USDT", FEE, PAPER, Threshold())


def test_resizing_the_buys_to_the_same_cash_gives_the_same_legs_and_less_cash_scales_them():
    plan = plan_legs({"BTC": D("0.1"), "ETH": D(2)}, D(2993), PRICES, WEIGHTS, "USDT", FEE, PAPER, Threshold(D(2)))
    wanted = {leg.asset: leg.wanted for leg in plan.buys}
    after_sells = {"BTC": D("0.1"), "ETH": D("1.79895")}
    same = resize_buys(wanted, after_sells, D("3394.49705105"), PRICES, WEIGHTS, "USDT", FEE, PAPER)
    assert legs_of(same) == legs_of(plan)[1:]
    # the sell brought less (half the cash): each buy is scaled by 1697.248525525 / 3401.0955979
    half = resize_buys(wanted, after_sells, D("1697.248525525"), PRICES, WEIGHTS, "USDT", FEE, PAPER)
    assert legs_of(half) == [("BTC/USDT", "buy", D("0.00994566")), ("SOL/USDT", "buy", D("11.96973209"))]
    assert half.cash_after >= 0
    # enough cash: the wanted quantities as they are
    rich = resize_buys(wanted, after_sells, D(10000), PRICES, WEIGHTS, "USDT", FEE, PAPER)
    assert legs_of(rich) == [("BTC/USDT", "buy", D("0.01993")), ("SOL/USDT", "buy", D("23.986"))] and rich.scale == 1
    assert all(leg.side == OrderSide.BUY for leg in rich.legs)
