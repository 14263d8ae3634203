"""Routing across venues (issue 19): a strategy's venue group sends each order to the venue
where it costs least all-in (book walk + taker fee), splits a large one when configured and
cheaper, skips a venue whose book is stale or whose breaker is open, and shows expected
against realised cost in the trace and the statistics.

The two venues are two local exchange servers speaking Binance's spot REST API
(tests/venues/binance_spot.py), reached by the real ccxt classes: account ``bn`` on ccxt's
``binance`` and account ``us`` on ccxt's ``binanceus`` (Binance.US runs Binance's API; ccxt's
class extends binance's). They have different books and different fees: ``bn`` pays ccxt's
market taker fee, 0.1 %, which its server charges; ``us`` has the fee tier 0.05 %
(``taker_fee_rate``), which its server charges. (The fake Bybit trades linear perpetuals only,
so it holds no symbol in common with the fake Binance spot venue.) The order books routing
reads are the venues' public books as the market-data process caches them in Redis: the tests
write them into that cache, as tests/test_marketdata.py does. Each server fills a market
order at its own last price, set by the test.

Figures in the comments are worked out by hand from the books below.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select

from app.config_file import ConfigError, FileConfig, check_file_config
from app.db import unit_of_work
from app.domain.enums import OrderSide
from app.domain.marketdata import OrderBook
from app.execution import breaker
from app.jobs.worker import warm_up
from app.marketdata import cache
from app.persistence.models import OrderIntentRecord, OrderRecord, RiskDecisionRecord
from app.risk.rules import MarketRules, paper_rules
from app.routing.cost import Candidate, Estimate, Skip, choose, estimate
from tests.conftest import drain_queues
from tests.test_marketdata import use_config
from tests.venues import start_fake_binance
from tests.venues.tradewire import apply_settings

BTC = "BTC/USDT"
# bn: the better price, the higher fee (ccxt's binance taker 0.1 %).
BN_ASKS = [("60000", "0.01"), ("60100", "1")]
# us: a worse price, half the fee (tier 0.05 %).
US_ASKS = [("60020", "0.004"), ("60080", "1")]
BIDS = [("59900", "1")]
SPOT_OPTIONS = 'options = { fetchMarkets = { types = ["spot"] }, fetchCurrencies = false, fetchMargins = false }'


@pytest.fixture
def group(db, monkeypatch, tmp_path: Path):
    """Two venues (fake servers), accounts ``bn`` and ``us``, strategies ``routed`` and
    ``routed-split`` over them; markets and balances loaded as a worker does at start.
    Yields {"bn": server, "us": server, "tokens": {strategy: token}}."""
    from app.bootstrap import apply_config
    from app.config_file import load_config
    from app.risk.market import forget_sources

    apply_settings(monkeypatch)
    bn = start_fake_binance(commission_rate="0.001", prices={BTC: "60000"})
    us = start_fake_binance(commission_rate="0.0005", prices={BTC: "60020"}, api_key="us-key", secret="us-secret")
    for name, fake in (("BN", bn), ("US", us)):
        monkeypatch.setenv(f"TW_TEST_{name}_KEY", fake.api_key)
        monkeypatch.setenv(f"TW_TEST_{name}_SECRET", fake.secret)
    use_config(monkeypatch, tmp_path, f"""
[accounts.bn]
venue = "binance"
api_key_env = "TW_TEST_BN_KEY"
secret_env = "TW_TEST_BN_SECRET"
api_url = "{bn.url}"
{SPOT_OPTIONS}
[accounts.us]
venue = "binanceus"
api_key_env = "TW_TEST_US_KEY"
secret_env = "TW_TEST_US_SECRET"
api_url = "{us.url}"
{SPOT_OPTIONS}
taker_fee_rate = 0.0005
[strategies.routed]
route = ["bn", "us"]
[strategies.routed-split]
route = ["bn", "us"]
route_split = true
""")
    with unit_of_work() as session:
        created = apply_config(session, load_config(tmp_path / "tradewire.toml"))
    forget_sources()
    warm_up(["binance", "binanceus"])
    try:
        yield {"bn": bn, "us": us, "tokens": {c.name: c.token for c in created}}
    finally:
        bn.stop()
        us.stop()
    assert bn.unknown_requests == [] and us.unknown_requests == []
    assert bn.server_errors == [] and us.server_errors == []


def books(bn_age: float = 0.0, us_age: float = 0.0) -> None:
    """The cached books of both venues, ``*_age`` seconds old."""
    now = datetime.now(UTC)
    for source, asks, age in (("binance", BN_ASKS, bn_age), ("binanceus", US_ASKS, us_age)):
        at = now - timedelta(seconds=age)
        cache.write_book(OrderBook(source, BTC, tuple((D(p), D(a)) for p, a in BIDS),
                                   tuple((D(p), D(a)) for p, a in asks), at, at))


def post(client, token: str, size: str, action: str = "buy", **fields) -> dict:
    body = {"tradewire": 1, "symbol": "BINANCE:BTCUSDT", "action": action, "size": size, "size_unit": "base",
            "price": "60000", "idempotency_key": str(time.time_ns())} | fields
    answer = client.post(f"/webhooks/tradingview/{token}", content=json.dumps(body))
    assert answer.status_code == 202, answer.text
    return answer.json()


def trace_of(client, admin, answer: dict) -> dict:
    return client.get(f"/api/v1/signals/{answer['signal_id']}", headers=admin).json()


def orders_by_account(trace: dict) -> dict[str, list[dict]]:
    return {d["account"]: [i["order"] for i in d["intents"]] for d in trace["decisions"]}


def test_an_order_routes_to_the_cheaper_all_in_venue_and_the_trace_shows_both_costs_and_the_realised_one(
        client, admin, group):
    # us fills a little above its cached book: the market moved between the book and the fill.
    group["us"].set_price(BTC, "60025")
    books()
    answer = post(client, group["tokens"]["routed"], "0.002")
    assert answer["status"] == "accepted", answer
    drain_queues()

    trace = trace_of(client, admin, answer)
    routing = trace["routing"]
    by_account = {c["account"]: c for c in routing["candidates"]}
    # bn: 0.002 at 60000 = 120 USDT, fee 0.1 % = 0.12, all-in 120.12 (60060 per BTC).
    assert (by_account["bn"]["average_price"], by_account["bn"]["fee"], by_account["bn"]["all_in_cost"],
            by_account["bn"]["all_in_price"]) == ("60000", "0.12", "120.12", "60060")
    assert by_account["bn"]["fee_source"] == "ccxt market taker"
    # us: 0.002 at 60020 = 120.04 USDT, fee 0.05 % = 0.06002, all-in 120.10002 (60050.01 per BTC): cheaper.
    assert (by_account["us"]["average_price"], by_account["us"]["fee"], by_account["us"]["all_in_cost"],
            by_account["us"]["all_in_price"]) == ("60020", "0.06002", "120.10002", "60050.01")
    assert by_account["us"]["fee_source"] == "account taker_fee_rate"
    assert routing["choice"] == "single" and routing["reason"].startswith("us: the lowest all-in price, 60050.01 USDT")

    orders = orders_by_account(trace)
    assert set(orders) == {"us"}, orders  # bn has no decision, no intent, no order
    assert orders["us"][0]["status"] == "FILLED" and orders["us"][0]["venue"] == "binanceus"
    assert group["bn"].orders == [] and len(group["us"].orders) == 1
    check = next(c for c in trace["decisions"][0]["checks"] if c["check"] == "route")
    assert check["passed"] and "bn on binance: average 60000" in check["detail"]
    assert "us on binanceus: average 60020" in check["detail"]
    print("\nROUTE CHECK", check["detail"])

    # Realised: one fill of 0.002 at 60025 = 120.05 USDT, fee 0.0005 × 120.05 = 0.060025,
    # all-in 120.110025 (60055.0125 per BTC) against 60050.01 expected:
    # (60055.0125 − 60050.01) / 60050.01 × 10 000 = 0.833 bps.
    part = routing["parts"][0]
    assert (part["account"], part["quantity"], part["order_status"], part["filled_quantity"]) == \
        ("us", "0.002", "FILLED", "0.002")
    assert (part["expected_all_in_cost"], part["realised_average_price"], part["realised_fee"],
            part["realised_all_in_cost"], part["realised_all_in_price"], part["slippage_bps"]) == \
        ("120.10002", "60025", "0.060025", "120.110025", "60055.0125", "0.83")
    print("\nROUTING TRACE", json.dumps({"candidates": routing["candidates"], "reason": routing["reason"],
                                          "parts": routing["parts"]}, indent=1))

    stats = client.get("/api/v1/stats", params={"strategy": "routed"}, headers=admin).json()
    venues = {v["venue"]: v for v in stats["routing"]}
    assert (venues["binanceus"]["considered"], venues["binanceus"]["chosen"], venues["binanceus"]["filled_parts"]) == \
        (1, 1, 1)
    assert (venues["binanceus"]["expected_all_in"], venues["binanceus"]["realised_all_in"],
            venues["binanceus"]["overrun"], venues["binanceus"]["slippage_bps"]) == \
        ("120.10002", "120.110025", "0.010005", "0.83")
    assert (venues["binance"]["considered"], venues["binance"]["chosen"], venues["binance"]["skipped"]) == (1, 0, 0)
    print("STATS ROUTING", json.dumps(stats["routing"], indent=1))


def test_a_large_order_splits_across_venues_when_configured_and_cheaper(client, admin, group):
    books()
    # 0.012 BTC. Alone: bn 0.01@60000 + 0.002@60100 = 720.2, fee 0.7202 → 720.9202;
    # us 0.004@60020 + 0.008@60080 = 720.72, fee 0.36036 → 721.08036: bn is the best single venue.
    # Marginal all-in prices: us 60020 × 1.0005 = 60050.01, bn 60000 × 1.001 = 60060,
    # us 60080 × 1.0005 = 60110.04, bn 60100 × 1.001 = 60160.1. Greedy: us 0.004, then bn 0.008.
    # us 240.08 + 0.12004 = 240.20004; bn 480 + 0.48 = 480.48; total 720.68004, 0.24016 less.
    group["us"].set_price(BTC, "60020")
    answer = post(client, group["tokens"]["routed-split"], "0.012")
    assert answer["status"] == "accepted", answer
    drain_queues()
    trace = trace_of(client, admin, answer)
    routing = trace["routing"]
    assert routing["choice"] == "split"
    parts = {p["account"]: p for p in routing["parts"]}
    assert (parts["bn"]["quantity"], parts["bn"]["expected_all_in_cost"]) == ("0.008", "480.48")
    assert (parts["us"]["quantity"], parts["us"]["expected_all_in_cost"]) == ("0.004", "240.20004")
    assert routing["reason"] == ("split across bn 0.008 + us 0.004: 720.68004 USDT all-in, 0.24016 USDT better than "
                                 "bn alone (720.9202 USDT)")
    orders = orders_by_account(trace)
    assert {a: [(o["quantity"], o["status"]) for o in os] for a, os in orders.items()} == {
        "bn": [("0.008", "FILLED")], "us": [("0.004", "FILLED")]}
    assert parts["bn"]["slippage_bps"] == "0" and parts["us"]["slippage_bps"] == "0"  # filled as the books said

    books()  # fresh again (the first order's execution took its time)
    unsplit = post(client, group["tokens"]["routed"], "0.012")
    drain_queues()
    trace = trace_of(client, admin, unsplit)
    assert trace["routing"]["choice"] == "single" and not trace["routing"]["split_allowed"]
    assert {a: [o["quantity"] for o in os] for a, os in orders_by_account(trace).items()} == {"bn": ["0.012"]}
    assert trace["routing"]["parts"][0]["expected_all_in_cost"] == "720.9202"


def test_a_venue_with_a_stale_book_is_skipped_with_the_reason(client, admin, group):
    books(us_age=30)
    answer = post(client, group["tokens"]["routed"], "0.002")
    drain_queues()
    trace = trace_of(client, admin, answer)
    skipped = {c["account"]: c.get("skipped") for c in trace["routing"]["candidates"]}
    assert skipped["bn"] is None
    assert skipped["us"].startswith("no fresh book for BTC/USDT on binanceus: last 30.") and \
        skipped["us"].endswith("s old, max 5 s"), skipped
    assert trace["routing"]["reason"] == "bn: the only venue that can take the order"
    assert orders_by_account(trace)["bn"][0]["status"] == "FILLED" and group["us"].orders == []

    books(bn_age=60, us_age=30)  # no venue usable: rejected, every reason given
    answer = post(client, group["tokens"]["routed"], "0.002")
    assert answer["status"] == "rejected"
    assert answer["reason"].startswith("no venue of the route can take the order: bn: no fresh book for BTC/USDT on "
                                       "binance: last 60."), answer
    assert "us: no fresh book for BTC/USDT on binanceus" in answer["reason"]
    with unit_of_work() as session:
        assert session.execute(select(OrderIntentRecord).where(
            OrderIntentRecord.signal_id == answer["signal_id"])).first() is None


def test_a_venue_whose_breaker_is_open_is_skipped(client, admin, group):
    books()
    for _ in range(3):  # the threshold of the quick test settings
        breaker.record_failure("binanceus", "NetworkError: connection refused")
    answer = post(client, group["tokens"]["routed"], "0.002")
    drain_queues()
    trace = trace_of(client, admin, answer)
    skipped = {c["account"]: c.get("skipped") for c in trace["routing"]["candidates"]}
    assert skipped["us"].startswith("the binanceus circuit breaker is open (since ")
    assert skipped["us"].endswith("last error: NetworkError: connection refused)")
    assert set(orders_by_account(trace)) == {"bn"} and orders_by_account(trace)["bn"][0]["status"] == "FILLED"
    stats = client.get("/api/v1/stats", params={"strategy": "routed"}, headers=admin).json()
    assert {v["venue"]: (v["considered"], v["skipped"], v["chosen"]) for v in stats["routing"]} == {
        "binance": (1, 0, 1), "binanceus": (1, 1, 0)}


def test_a_closing_order_stays_on_the_account_holding_the_position(client, admin, group):
    books()
    post(client, group["tokens"]["routed"], "0.002")  # goes to us (first test)
    drain_queues()
    answer = post(client, group["tokens"]["routed"], "0.002", action="sell", target_position="flat")
    assert answer["status"] == "accepted", answer
    drain_queues()
    trace = trace_of(client, admin, answer)
    orders = orders_by_account(trace)
    assert set(orders) == {"us"}, orders
    closed = orders["us"][0]
    assert (closed["side"], closed["quantity"], closed["status"]) == ("sell", "0.002", "FILLED")
    assert trace["routing"] is None  # nothing opened: nothing to route


def test_paper_accounts_route_on_their_own_sources_books_and_fill_as_costed(client, admin, monkeypatch, tmp_path):
    from app.bootstrap import apply_config
    from app.config_file import load_config
    from app.risk.market import forget_sources

    use_config(monkeypatch, tmp_path, """
[accounts.pa]
venue = "paper"
market_data = "binance"
paper = { taker_fee_rate = 0.001 }
[accounts.pb]
venue = "paper"
market_data = "okx"
paper = { taker_fee_rate = 0.0005 }
[strategies.paper-route]
route = ["pa", "pb"]
""")
    with unit_of_work() as session:
        token = apply_config(session, load_config(tmp_path / "tradewire.toml"))[0].token
    forget_sources()
    now = datetime.now(UTC)
    for source, asks in (("binance", BN_ASKS), ("okx", US_ASKS)):
        cache.write_book(OrderBook(source, BTC, ((D("59900"), D("1")),), tuple((D(p), D(a)) for p, a in asks), now, now))
    answer = post(client, token, "0.002")
    drain_queues()
    routing = trace_of(client, admin, answer)["routing"]
    assert [(c["account"], c["all_in_cost"], c["fee_source"]) for c in routing["candidates"]] == [
        ("pa", "120.12", "paper.taker_fee_rate"), ("pb", "120.10002", "paper.taker_fee_rate")]
    part = routing["parts"][0]  # the paper venue walks the same okx book: realised = expected
    assert (part["account"], part["order_status"], part["realised_all_in_cost"], part["slippage_bps"]) == \
        ("pb", "FILLED", "120.10002", "0")


def test_the_dry_run_shows_every_venues_cost_and_the_choice(client, admin, group):
    books()
    body = {"tradewire": 1, "symbol": "BINANCE:BTCUSDT", "action": "buy", "size": "0.002", "size_unit": "base",
            "price": "60000"}
    answer = client.post("/api/v1/signals/dry-run", params={"strategy": "routed"}, headers=admin, json=body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["approved"] and result["route"]["choice"] == "single"
    assert [(o["account"], o["quantity"]) for o in result["orders"]] == [("us", "0.002")]
    assert [c["all_in_cost"] for c in result["route"]["candidates"]] == ["120.12", "120.10002"]
    with unit_of_work() as session:
        assert session.execute(select(RiskDecisionRecord)).first() is None
        assert session.execute(select(OrderRecord)).first() is None


def test_route_configuration_is_checked_naming_the_key():
    def check(strategies: dict, accounts: dict | None = None) -> None:
        accounts = accounts or {"a": {"venue": "binance"}, "b": {"venue": "okx"}}
        check_file_config(None, FileConfig.model_validate({"accounts": accounts, "strategies": strategies}))

    check({"s": {"route": ["a", "b"]}})
    assert FileConfig.model_validate({"accounts": {"a": {}, "b": {}}, "strategies": {"s": {"route": ["b", "a"]}}}) \
        .strategies["s"].account == "b"
    with pytest.raises(ConfigError, match="strategies.s.route: route .* and accounts .* cannot both be set"):
        check({"s": {"route": ["a", "b"], "accounts": ["a", "b"]}})
    with pytest.raises(ConfigError, match="strategies.s.route: no account 'ghost'"):
        check({"s": {"route": ["a", "ghost"]}})
    with pytest.raises(ConfigError, match="strategies.s.route: a route needs two or more distinct accounts"):
        check({"s": {"route": ["a", "a"]}})
    with pytest.raises(ConfigError, match="strategies.s.route: the strategy's account 'paper' is not in its route"):
        check({"s": {"account": "paper", "route": ["a", "b"]}})
    with pytest.raises(ConfigError, match="strategies.s.route_split: needs a route"):
        check({"s": {"account": "a", "route_split": True}})
    with pytest.raises(ConfigError, match="accounts.p.taker_fee_rate: a paper account's taker fee is paper.taker_fee"):
        check({}, {"p": {"venue": "paper", "taker_fee_rate": "0.001"}})


# ---------------------------------------------------------------------------- the cost model alone
def rules(venue: str = "binance", step: str = "0.00001", min_amount: str = "0.00001",
          min_notional: str = "5") -> MarketRules:
    market = {"precision": {"amount": float(step), "price": 0.01}, "limits": {}}
    return MarketRules(venue, BTC, True, D(min_amount), D(min_notional), market)


def candidate(account: str, levels, fee: str, *, side=OrderSide.BUY, quantity: str = "10", **kw) -> Candidate:
    return Candidate(account, kw.pop("venue", "binance"), side, D(quantity), kw.pop("rules", rules()), D(fee),
                     "test", tuple((D(p), D(a)) for p, a in levels), **kw)


def test_cost_model_walks_the_book_adds_the_fee_and_picks_the_best_side():
    # Buy 0.015: 0.01@60000 + 0.005@60100 = 600 + 300.5 = 900.5, fee 0.1 % 0.9005 → 901.4005.
    e = estimate(candidate("a", BN_ASKS, "0.001"), D("0.015"))
    assert isinstance(e, Estimate)
    assert (e.average_price.quantize(D("1e-8")), e.fee, e.all_in_cost, e.levels) == \
        (D("60033.33333333"), D("0.9005"), D("901.4005"), 2)
    assert e.all_in_price.quantize(D("1e-8")) == D("60093.36666667")  # 901.4005 / 0.015
    # Sell 1: bids 59900 (fee 0.1 %) → 59840.1 received; 59880 (fee 0.05 %) → 59850.06: the higher wins.
    sell_a = candidate("a", [("59900", "2")], "0.001", side=OrderSide.SELL)
    sell_b = candidate("b", [("59880", "2")], "0.0005", side=OrderSide.SELL)
    choice = choose([sell_a, sell_b], D("1"))
    assert [a.account for a in choice.allocations] == ["b"] and choice.allocations[0].all_in_cost == D("59850.06")
    assert choice.reason.startswith("b: the highest all-in price, 59850.06 USDT per BTC (a 59840.1)")


def test_cost_model_refuses_with_the_reason():
    thin = estimate(candidate("a", [("60000", "0.001")], "0.001"), D("0.002"))
    assert thin == Skip("a", "binance", "book too thin: the 1 cached ask levels on binance hold 0.001 of 0.002 BTC")
    assert estimate(candidate("a", BN_ASKS, "0.001"), D("0.000055")).reason == \
        "0.000055 BTC is not a multiple of the binance amount step (it would be 0.00005)"
    assert estimate(candidate("a", BN_ASKS, "0.001"), D("0.00005")).reason == \
        "notional 3 USDT is below the binance minimum 5 USDT"
    poor = candidate("a", BN_ASKS, "0.001", balance=D("100"), balance_currency="USDT")
    assert estimate(poor, D("0.002")).reason == \
        "not enough USDT: notional + taker fee is 120.12 USDT, the balance is 100"
    assert estimate(candidate("a", BN_ASKS, "0.001", quantity="0.001"), D("0.002")).reason == \
        "its risk decision approves at most 0.001 BTC on this account"
    assert estimate(candidate("a", BN_ASKS, "0.001", unusable="the binance circuit breaker is open"), D("0.002")) \
        .reason == "the binance circuit breaker is open"
    none = choose([candidate("a", [], "0.001", unusable="no book for BTC/USDT on binance yet")], D("0.002"))
    assert none.allocations == () and none.reason == \
        "no venue of the route can take the order: a: no book for BTC/USDT on binance yet"


def test_split_respects_each_venues_minimum_and_is_only_taken_when_cheaper():
    # Both books: 0.004 at the top, then deep. Marginal: a 60000·1.001 = 60060, b 60010·1.001 = 60070.01,
    # a deep 60200·1.001 = 60260.2, b deep 60210·1.001 = 60270.21. Buy 0.008: a 0.004 + b 0.004
    # = 240.24 + 240.28004 = 480.52004; alone a: 240 + 240.8 = 480.8 × 1.001 = 481.2808.
    a = candidate("a", [("60000", "0.004"), ("60200", "1")], "0.001")
    b = candidate("b", [("60010", "0.004"), ("60210", "1")], "0.001", venue="binanceus")
    choice = choose([a, b], D("0.008"), allow_split=True)
    assert choice.kind == "split" and [(p.account, p.quantity) for p in choice.allocations] == \
        [("a", D("0.004")), ("b", D("0.004"))]
    assert sum(p.all_in_cost for p in choice.allocations) == D("480.52004")
    # b's minimum notional 500 USDT: its 240 USDT part is refused, b leaves the split, a alone is cheapest.
    strict = candidate("b", [("60010", "0.004"), ("60210", "1")], "0.001", venue="binanceus",
                       rules=rules("binanceus", min_notional="500"))
    choice = choose([a, strict], D("0.008"), allow_split=True)
    assert choice.kind == "single" and choice.allocations[0].account == "a"
    assert choice.split == "b's part: notional 240.04 USDT is below the binanceus minimum 500 USDT"
    # Not cheaper: a's book is deep at its best price, a split would only add b's worse level.
    deep = candidate("a", [("60000", "1")], "0.001")
    choice = choose([deep, b], D("0.008"), allow_split=True)
    assert choice.kind == "single" and choice.allocations[0].account == "a" and choice.split == \
        "one venue alone is cheapest"


def test_paper_account_fees_come_from_its_paper_settings():
    import uuid

    from app.config_file import AccountConfig
    from app.routing.service import RouteMember, fee_of

    paper = RouteMember(uuid.uuid4(), "p", "paper",
                        AccountConfig.model_validate({"paper": {"taker_fee_rate": "0.002"}}))
    assert fee_of(paper, None) == (D("0.002"), "paper.taker_fee_rate")
    tier = RouteMember(uuid.uuid4(), "t", "binance", AccountConfig(venue="binance", taker_fee_rate=D("0.00075")))
    assert fee_of(tier, {"taker": 0.001}) == (D("0.00075"), "account taker_fee_rate")
    plain = RouteMember(uuid.uuid4(), "c", "binance", AccountConfig(venue="binance"))
    assert fee_of(plain, {"taker": 0.001}) == (D("0.001"), "ccxt market taker")
    assert fee_of(plain, {}) == (None, "unknown")
    assert estimate(Candidate("c", "binance", OrderSide.BUY, D(1), paper_rules(BTC, D(5)), None, "unknown",
                              ((D(1), D(1)),)), D(1)).reason.startswith("no taker fee known for BTC/USDT on binance")
