"""The fake Binance SPOT venue, exercised through the REAL ``ccxt.binance`` (sync).

These tests pin two things at once: that the fake speaks the subset of Binance SPOT REST that
ccxt uses, and which ccxt exception each venue failure turns into (ccxt 4.5.x). The latter is
what Tradewire's execution code has to branch on, so the classes are asserted exactly.
"""

from __future__ import annotations

import time
from decimal import Decimal

import ccxt
import httpx
import pytest

try:  # `python -m pytest` puts the repo root on sys.path; plain `pytest` only puts tests/ there
    from tests.venues import (FAULT_KINDS, MarketSpec, binance_signature, make_ccxt_binance, point_ccxt_at,
                              start_fake_binance)
    from tests.venues.binance_spot import ROUTES
except ImportError:  # pragma: no cover
    from venues import (FAULT_KINDS, MarketSpec, binance_signature, make_ccxt_binance, point_ccxt_at,
                        start_fake_binance)
    from venues.binance_spot import ROUTES

ORDER = "/api/v3/order"


@pytest.fixture
def fake():
    server = start_fake_binance()
    yield server
    server.stop()
    # ccxt must not have called anything the fake does not implement
    assert server.unknown_requests == [], server.unknown_requests
    assert server.server_errors == [], server.server_errors[-1:]
    assert server.endpoints_called() <= set(ROUTES)


@pytest.fixture
def ex(fake):
    exchange = make_ccxt_binance(fake, timeout_ms=3000)
    exchange.load_markets()
    return exchange


def market_buy(ex, cid, amount=0.001, symbol="BTC/USDT"):
    return ex.create_order(symbol, "market", "buy", amount, None, {"clientOrderId": cid})


def wait_until(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# --------------------------------------------------------------------------------- markets
def test_load_markets_precision_limits_and_only_exchange_info(fake):
    ex = make_ccxt_binance(fake)
    markets = ex.load_markets()

    assert set(markets) == {"BTC/USDT", "ETH/USDT", "DOGE/USDT"}
    btc, doge = markets["BTC/USDT"], markets["DOGE/USDT"]
    assert btc["id"] == "BTCUSDT" and btc["spot"] and btc["active"]
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
    assert doge["precision"]["price"] == 0.00001 and doge["precision"]["amount"] == 1
    assert btc["limits"]["amount"]["min"] == 0.00001
    assert all(m["limits"]["cost"]["min"] == 5 for m in markets.values())
    # spot-only options: no sapi currencies / margin pairs, no fapi/dapi exchangeInfo
    assert [(r["method"], r["path"]) for r in fake.requests] == [("GET", "/api/v3/exchangeInfo")]


def test_fetch_markets_option_as_bare_list_is_still_spot_only(fake):
    ex = make_ccxt_binance(fake, options={"fetchMarkets": ["spot"]})
    ex.load_markets()
    assert fake.endpoints_called() == {("GET", "/api/v3/exchangeInfo")}


def test_configurable_markets_prices_and_balances():
    spec = MarketSpec("SOL/USDC", tick_size="0.001", step_size="0.01", min_notional="1")
    with start_fake_binance(markets=[spec], prices={"SOL/USDC": "150"}, balances={"USDC": "100"}) as fake:
        ex = make_ccxt_binance(fake)
        markets = ex.load_markets()
        assert list(markets) == ["SOL/USDC"]
        assert markets["SOL/USDC"]["limits"]["cost"]["min"] == 1
        assert markets["SOL/USDC"]["precision"]["price"] == 0.001
        assert ex.fetch_ticker("SOL/USDC")["last"] == 150
        assert ex.fetch_balance()["USDC"]["free"] == 100


def test_tickers(ex):
    assert ex.fetch_ticker("ETH/USDT")["last"] == 3000  # GET /api/v3/ticker/24hr
    assert ex.fetch_last_prices(["DOGE/USDT"])["DOGE/USDT"]["price"] == 0.15  # GET /api/v3/ticker/price


# ---------------------------------------------------------------------------------- orders
def test_market_buy_with_client_order_id_fills_with_trade_ids(ex, fake):
    order = market_buy(ex, "tw-mkt-1")

    assert order["status"] == "closed" and order["filled"] == 0.001 and order["cost"] == 60
    assert order["clientOrderId"] == "tw-mkt-1"
    assert order["trades"] and order["trades"][0]["id"] == str(fake.trades[0]["id"])
    assert order["fee"] == {"currency": "USDT", "cost": 0.06}
    sent = fake.calls("POST", ORDER)[0]["params"]
    assert sent["newClientOrderId"] == "tw-mkt-1" and sent["newOrderRespType"] == "FULL"
    assert sent["quantity"] == "0.001" and "quoteOrderQty" not in sent
    assert fake.count_orders("tw-mkt-1") == 1 and fake.orders[0]["status"] == "FILLED"
    assert fake.balances["USDT"]["free"] == Decimal("9939.94")  # 60 + 0.1% commission in USDT
    assert fake.balances["BTC"]["free"] == Decimal("0.501")


def test_market_buy_with_price_is_sent_as_quote_order_qty(ex, fake):
    """ccxt turns a market buy WITH a price into quoteOrderQty = amount * price (no quantity)."""
    order = ex.create_order("BTC/USDT", "market", "buy", 0.001, 60000, {"clientOrderId": "tw-qoq"})
    sent = fake.calls("POST", ORDER)[0]["params"]
    assert sent["quoteOrderQty"] == "60" and "quantity" not in sent
    assert order["filled"] == 0.001


def test_market_sell_moves_balances(ex, fake):
    order = ex.create_order("ETH/USDT", "market", "sell", 0.5, None, {"clientOrderId": "tw-sell"})
    assert order["status"] == "closed" and order["side"] == "sell" and order["cost"] == 1500
    assert fake.balances["ETH"]["free"] == Decimal("4.5")
    assert fake.balances["USDT"]["free"] == Decimal("11498.5")


def test_fetch_order_by_client_order_id(ex, fake):
    placed = ex.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"clientOrderId": "tw-lim-1"})
    assert placed["status"] == "open"

    got = ex.fetch_order(None, "BTC/USDT", {"origClientOrderId": "tw-lim-1"})
    assert got["id"] == placed["id"] and got["clientOrderId"] == "tw-lim-1" and got["status"] == "open"
    sent = fake.calls("GET", ORDER)[-1]["params"]
    assert sent["origClientOrderId"] == "tw-lim-1" and "orderId" not in sent
    # ccxt also accepts the unified name and sends it as origClientOrderId
    assert ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "tw-lim-1"})["id"] == placed["id"]
    assert ex.fetch_order(placed["id"], "BTC/USDT")["clientOrderId"] == "tw-lim-1"
    with pytest.raises(ccxt.OrderNotFound):  # -2013 "Order does not exist."
        ex.fetch_order(None, "BTC/USDT", {"origClientOrderId": "never-sent"})


def test_open_orders_cancel_and_locked_balance(ex, fake):
    a = ex.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"clientOrderId": "tw-a"})
    ex.create_order("ETH/USDT", "limit", "sell", 1, 3500, {"clientOrderId": "tw-b"})

    assert {o["clientOrderId"] for o in ex.fetch_open_orders("BTC/USDT")} == {"tw-a"}
    balance = ex.fetch_balance()
    assert balance["USDT"]["used"] == pytest.approx(50.05)  # 0.001 * 50000 + 0.1% commission reserve
    assert balance["ETH"]["used"] == 1 and balance["ETH"]["free"] == 4

    canceled = ex.cancel_order(a["id"], "BTC/USDT")
    assert canceled["status"] == "canceled" and canceled["id"] == a["id"]
    ex.cancel_order(None, "ETH/USDT", {"clientOrderId": "tw-b"})
    assert ex.fetch_open_orders("BTC/USDT") == [] and ex.fetch_open_orders("ETH/USDT") == []
    balance = ex.fetch_balance()
    assert balance["USDT"] == {"free": 10000, "used": 0, "total": 10000}
    assert balance["ETH"]["free"] == 5
    with pytest.raises(ccxt.OrderNotFound):  # -2011 "Unknown order sent."
        ex.cancel_order(a["id"], "BTC/USDT")


def test_resting_limit_fills_when_price_moves_and_shows_in_my_trades(ex, fake):
    placed = ex.create_order("BTC/USDT", "limit", "buy", 0.002, 59000, {"clientOrderId": "tw-rest"})
    assert placed["status"] == "open"

    assert [o["clientOrderId"] for o in fake.set_price("BTC/USDT", 58900)] == ["tw-rest"]
    done = ex.fetch_order(placed["id"], "BTC/USDT")
    assert done["status"] == "closed" and done["filled"] == 0.002 and done["cost"] == 118
    trades = ex.fetch_my_trades("BTC/USDT")
    assert len(trades) == 1 and trades[0]["order"] == placed["id"] and trades[0]["takerOrMaker"] == "maker"
    assert trades[0]["price"] == 59000 and trades[0]["fee"]["cost"] == pytest.approx(0.118)
    assert ex.fetch_balance()["USDT"]["used"] == 0


def test_fetch_my_trades_unique_ids_and_filters(ex, fake):
    first = market_buy(ex, "tw-t1")
    market_buy(ex, "tw-t2", amount=0.002)
    trades = ex.fetch_my_trades("BTC/USDT")
    assert [t["amount"] for t in trades] == [0.001, 0.002]
    assert len({t["id"] for t in trades}) == 2
    assert all(t["fee"]["currency"] == "USDT" and t["side"] == "buy" for t in trades)
    only_first = ex.fetch_my_trades("BTC/USDT", params={"orderId": first["id"]})
    assert [t["order"] for t in only_first] == [first["id"]]
    assert len(ex.fetch_my_trades("BTC/USDT", limit=1)) == 1


# ------------------------------------------------------------------------ auth and timing
def test_signature_matches_binance_documented_examples():
    """Request security -> SIGNED request examples (HMAC), the docs' published key and digests."""
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    body = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    everything = query + "&" + body
    assert binance_signature(secret, everything, "") == \
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    assert binance_signature(secret, "", everything) == \
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    assert binance_signature(secret, query, body) == \
        "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"  # mixed: plain concatenation
    assert binance_signature(secret, everything + "&signature=abc", "") == binance_signature(secret, everything, "")


def test_bad_secret_raises_authentication_error(fake):
    ex = make_ccxt_binance(fake, secret="not-the-secret")
    with pytest.raises(ccxt.AuthenticationError) as err:
        ex.fetch_balance()
    assert "-1022" in str(err.value)
    with pytest.raises(ccxt.AuthenticationError):
        ex.create_order("BTC/USDT", "market", "buy", 0.001, None, {"clientOrderId": "tw-auth"})
    assert fake.count_orders("tw-auth") == 0
    assert {r["status"] for r in fake.calls("GET", "/api/v3/account")} == {401}


def test_bad_api_key_raises_authentication_error(fake):
    ex = make_ccxt_binance(fake, api_key="someone-else")
    with pytest.raises(ccxt.AuthenticationError) as err:
        ex.fetch_balance()
    assert "-2015" in str(err.value)


def test_key_revoked_after_a_successful_private_call_looks_like_ddos_protection(ex, fake):
    """ccxt quirk: once a private call succeeded, -2015 is raised as DDoSProtection (temporary ban),
    not AuthenticationError. A revoked key mid-session therefore looks retryable to the app."""
    ex.fetch_balance()
    fake.api_key = "rotated-key"
    with pytest.raises(ccxt.DDoSProtection, match="-2015"):
        ex.fetch_balance()


@pytest.mark.parametrize("offset_ms, message", [(-5000, "ahead of the server"), (20000, "outside of the recvWindow")])
def test_clock_skew_raises_invalid_nonce(ex, fake, offset_ms, message):
    fake.clock_offset_ms = offset_ms  # ccxt sends recvWindow=10000 by default
    with pytest.raises(ccxt.InvalidNonce, match=message):
        ex.fetch_balance()


# ------------------------------------------------------------------------------- faults
@pytest.mark.parametrize("kind, expected", [
    ("rate_limit", ccxt.DDoSProtection),      # HTTP 429 is mapped before the body is read
    ("min_notional", ccxt.BadRequest),        # -1013 is BadRequest; only LOT_SIZE/PRICE_FILTER text -> InvalidOrder
    ("duplicate", ccxt.InvalidOrder),         # -2010 NEW_ORDER_REJECTED; ccxt never raises DuplicateOrderId here
    ("timestamp", ccxt.InvalidNonce),         # -1021
    ("http_500", ccxt.ExchangeNotAvailable),  # non-JSON 500 -> httpExceptions['500']
])
def test_error_fault_maps_to_ccxt_exception_and_applies_once(ex, fake, kind, expected):
    fake.inject(ORDER, kind, method="POST")
    with pytest.raises(ccxt.BaseError) as err:
        market_buy(ex, f"tw-{kind}")
    assert type(err.value) is expected, repr(err.value)
    assert fake.count_orders(f"tw-{kind}") == 0
    assert fake.faults == []

    assert market_buy(ex, f"tw-{kind}")["status"] == "closed"  # the fault was used up
    assert fake.count_orders(f"tw-{kind}") == 1
    assert [r["fault"] for r in fake.calls("POST", ORDER)] == [kind, None]


def test_ccxt_error_class_hierarchy_the_app_must_respect():
    """Network-ish failures (outcome unknown) are NOT ExchangeErrors in ccxt 4.5."""
    for cls in (ccxt.RequestTimeout, ccxt.ExchangeNotAvailable, ccxt.DDoSProtection, ccxt.InvalidNonce):
        assert issubclass(cls, ccxt.NetworkError) and not issubclass(cls, ccxt.ExchangeError)
    assert not issubclass(ccxt.RateLimitExceeded, ccxt.DDoSProtection)
    assert not issubclass(ccxt.BadRequest, ccxt.InvalidOrder)


def test_delay_after_store_times_out_but_the_order_exists(ex, fake):
    fake.inject(ORDER, "delay_after_store", method="POST", delay=1.0)
    ex.timeout = 300
    with pytest.raises(ccxt.RequestTimeout):
        market_buy(ex, "tw-lost-reply")
    assert fake.count_orders("tw-lost-reply") == 1 and fake.orders[0]["status"] == "FILLED"

    ex.timeout = 3000  # recovery path: look the order up by its client id
    found = ex.fetch_order(None, "BTC/USDT", {"origClientOrderId": "tw-lost-reply"})
    assert found["status"] == "closed" and found["filled"] == 0.001


def test_delay_before_store_times_out_and_the_order_lands_later(ex, fake):
    fake.inject(ORDER, "delay_before_store", method="POST", delay=0.6)
    ex.timeout = 250
    with pytest.raises(ccxt.RequestTimeout):
        market_buy(ex, "tw-late")
    assert fake.count_orders("tw-late") == 0  # not yet: a lookup now would say "does not exist"
    assert wait_until(lambda: fake.count_orders("tw-late") == 1)


def test_delay_before_store_within_timeout_succeeds(ex, fake):
    fake.inject(ORDER, "delay_before_store", method="POST", delay=0.3)
    started = time.monotonic()
    assert market_buy(ex, "tw-slow")["status"] == "closed"
    assert time.monotonic() - started >= 0.3


def test_http_500_after_store_the_order_exists_anyway(ex, fake):
    fake.inject(ORDER, "http_500", method="POST", store=True)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        market_buy(ex, "tw-500")
    assert fake.count_orders("tw-500") == 1


def test_fault_count_and_method_filter(ex, fake):
    fake.inject(ORDER, "rate_limit", method="POST", count=2)
    for _ in range(2):
        with pytest.raises(ccxt.DDoSProtection):
            market_buy(ex, "tw-429")
    assert market_buy(ex, "tw-429")["status"] == "closed"

    fake.inject(ORDER, "http_500", method="POST")  # a POST fault does not touch GET /api/v3/order
    assert ex.fetch_order(None, "BTC/USDT", {"origClientOrderId": "tw-429"})["status"] == "closed"
    assert len(fake.faults) == 1
    fake.clear_faults()
    assert fake.faults == []
    with pytest.raises(ValueError):
        fake.inject(ORDER, "no-such-kind")


# -------------------------------------------------------------- venue rules, not faults
def test_filter_and_balance_rejections(ex, fake):
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL") as err:
        market_buy(ex, "tw-tiny", amount=1, symbol="DOGE/USDT")  # 1 DOGE = 0.15 USDT < 5
    assert not isinstance(err.value, ccxt.InvalidOrder)
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        market_buy(ex, "tw-huge", amount=10000)  # > maxQty 9000
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        ex.create_order("BTC/USDT", "limit", "sell", 0.001, 2000000, {"clientOrderId": "tw-px"})  # > maxPrice
    with pytest.raises(ccxt.InsufficientFunds):
        market_buy(ex, "tw-poor", amount=1)  # 60000 USDT > 10000
    assert fake.orders == []


def test_duplicate_client_id_rejected_only_while_the_first_order_is_open(ex, fake):
    ex.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"clientOrderId": "tw-dup"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent") as err:
        ex.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"clientOrderId": "tw-dup"})
    assert type(err.value) is ccxt.InvalidOrder
    assert fake.count_orders("tw-dup") == 1

    fake.set_price("BTC/USDT", 49000)  # the first one fills ...
    ex.create_order("BTC/USDT", "limit", "buy", 0.001, 40000, {"clientOrderId": "tw-dup"})
    assert fake.count_orders("tw-dup") == 2  # ... and Binance accepts the same id again


def test_filled_client_id_is_accepted_again_the_hole_tradewire_must_close(ex, fake):
    market_buy(ex, "tw-reuse")
    market_buy(ex, "tw-reuse")
    assert fake.count_orders("tw-reuse") == 2
    assert fake.balances["BTC"]["free"] == Decimal("0.502")


# ------------------------------------------------------------------- request bookkeeping
def test_full_workflow_uses_only_known_endpoints(ex, fake):
    order = market_buy(ex, "tw-flow")
    ex.fetch_order(order["id"], "BTC/USDT")
    resting = ex.create_order("ETH/USDT", "limit", "buy", 0.01, 2500, {"clientOrderId": "tw-flow-2"})
    ex.fetch_open_orders("ETH/USDT")
    ex.cancel_order(resting["id"], "ETH/USDT")
    ex.fetch_balance()
    ex.fetch_my_trades("BTC/USDT")
    ex.fetch_ticker("BTC/USDT")

    assert fake.unknown_requests == []
    assert fake.endpoints_called() == {
        ("GET", "/api/v3/exchangeInfo"), ("POST", ORDER), ("GET", ORDER), ("DELETE", ORDER),
        ("GET", "/api/v3/openOrders"), ("GET", "/api/v3/account"), ("GET", "/api/v3/myTrades"),
        ("GET", "/api/v3/ticker/24hr"),
    }
    assert all(r["status"] == 200 for r in fake.requests)


def test_unknown_endpoints_answer_404_and_are_recorded():
    with start_fake_binance() as fake:
        ex = make_ccxt_binance(fake)
        ex.load_markets()
        with pytest.raises(ccxt.ExchangeError, match="Unknown endpoint GET /api/v3/depth"):
            ex.fetch_order_book("BTC/USDT")  # not implemented by the fake
        reply = httpx.get(fake.url + "/sapi/v1/capital/config/getall")
        assert reply.status_code == 404 and reply.json()["code"] == -1
        assert [(r["method"], r["path"]) for r in fake.unknown_requests] == [
            ("GET", "/api/v3/depth"), ("GET", "/sapi/v1/capital/config/getall")]


def test_point_ccxt_at_rewrites_every_api_url_and_keeps_paths():
    ex = ccxt.binance()
    original = ex.urls["api"]
    point_ccxt_at(ex, "http://127.0.0.1:9/prefix/")
    assert set(ex.urls["api"]) == set(original)
    assert ex.urls["api"]["public"] == "http://127.0.0.1:9/prefix/api/v3"
    assert ex.urls["api"]["sapiV2"] == "http://127.0.0.1:9/prefix/sapi/v2"
    assert ex.urls["api"]["fapiPublic"] == "http://127.0.0.1:9/prefix/fapi/v1"
    assert all(u.startswith("http://127.0.0.1:9/") for u in ex.urls["api"].values())

    nested = ccxt.binance()
    nested.urls["api"] = {"a": {"b": ["https://x.example/p/q", 3]}, "c": "not a url"}
    point_ccxt_at(nested, "http://localhost:1")
    assert nested.urls["api"] == {"a": {"b": ["http://localhost:1/p/q", 3]}, "c": "not a url"}


def test_fault_kinds_are_all_exercised():
    assert set(FAULT_KINDS) == {"delay_before_store", "delay_after_store", "http_500", "rate_limit",
                                "min_notional", "duplicate", "timestamp"}
