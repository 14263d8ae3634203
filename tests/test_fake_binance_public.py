"""The fake Binance SPOT public market data (REST + WebSocket), exercised through the REAL ccxt classes.

``ccxt.binance`` (sync) for REST, ``ccxt.pro.binance`` (asyncio) for the streams, both built by
``make_ccxt_binance_public`` exactly as app code should build them. No database is needed.
Every async test runs under ``asyncio.run`` with ``asyncio.wait_for`` bounds and closes its exchange.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import ccxt
import pytest

try:  # `python -m pytest` puts the repo root on sys.path; plain `pytest` only puts tests/ there
    from tests.venues.binance_public import (PUBLIC_SPOT_OPTIONS, ROUTES, FakeBinancePublic,
                                             make_ccxt_binance_public, ws_scheme_for)
    from tests.venues.binance_rules import MarketSpec
except ImportError:  # pragma: no cover
    from venues.binance_public import (PUBLIC_SPOT_OPTIONS, ROUTES, FakeBinancePublic, make_ccxt_binance_public,
                                       ws_scheme_for)
    from venues.binance_rules import MarketSpec

BTC = "BTC/USDT"
STEP = 5.0  # seconds: the bound for any single wait on a stream


@pytest.fixture
def fake():
    server = FakeBinancePublic(heartbeat_s=0.5).start()
    yield server
    server.stop()
    assert server.unknown_requests == [], server.unknown_requests
    assert server.server_errors == [], server.server_errors[-1:]


@pytest.fixture
def quiet_fake():
    """No heartbeat: nothing is pushed unless the test changes something (no races with pushes)."""
    server = FakeBinancePublic(heartbeat_s=None).start()
    yield server
    server.stop()
    assert server.unknown_requests == [], server.unknown_requests
    assert server.server_errors == [], server.server_errors[-1:]


@pytest.fixture
def ex(fake):
    return make_ccxt_binance_public(fake.url)


def run(coro, timeout: float = 30.0):
    """Run one async test body in a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def with_pro(fake, body, **kwargs):
    exchange = make_ccxt_binance_public(fake.url, pro=True, **kwargs)
    try:
        return await body(exchange)
    finally:
        await exchange.close()


async def watch_until(watch, predicate, timeout: float = STEP):
    """Call ``watch()`` until ``predicate(result)`` holds; returns that result."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")
        last = await asyncio.wait_for(watch(), remaining)
        if predicate(last):
            return last


def top(book, n=20):
    return {"bids": [tuple(level[:2]) for level in book["bids"][:n]],
            "asks": [tuple(level[:2]) for level in book["asks"][:n]]}


# ------------------------------------------------------------------------------------ construction
def test_ccxt_is_pointed_like_the_app_does_it(fake):
    """REST urls -> http://host:port/<path>, WebSocket urls -> ws://host:port/<path>; the same result as
    the app's rewrite_api_urls followed by the wss -> ws mapping the market-data code does."""
    import ccxt.pro

    from app.execution.venues.ccxt_venue import rewrite_api_urls

    pro = make_ccxt_binance_public(fake.url, pro=True)
    assert pro.urls["api"]["public"] == fake.url + "/api/v3"
    assert pro.urls["api"]["ws"]["spot"] == fake.ws_url
    assert pro.options["fetchMarkets"]["types"] == ["spot"] and pro.enableRateLimit

    plain = ccxt.pro.binance()
    expected = rewrite_api_urls(plain.urls["api"], fake.url)

    def ws(value):
        if isinstance(value, dict):
            return {k: ws(v) for k, v in value.items()}
        return value.replace("http://", ws_scheme_for("http") + "://", 1) if isinstance(value, str) else value

    expected["ws"] = ws(expected["ws"])
    assert pro.urls["api"] == expected

    sync = make_ccxt_binance_public(fake.url)
    assert sync.urls["api"]["public"] == fake.url + "/api/v3" and "ws" not in sync.urls["api"]
    assert PUBLIC_SPOT_OPTIONS["watchTickers"] == {"name": "ticker"}


# ------------------------------------------------------------------------------------ REST
def test_load_markets_uses_exchange_info_only(fake, ex):
    markets = ex.load_markets()
    assert sorted(markets) == ["BTC/USDT", "DOGE/USDT", "ETH/USDT"]
    assert markets["DOGE/USDT"]["precision"]["price"] == 0.00001 and markets["DOGE/USDT"]["spot"]
    assert {r["path"] for r in fake.requests} == {"/api/v3/exchangeInfo"}
    assert abs(ex.fetch_time() - time.time() * 1000) < 2000


def test_custom_markets_and_prices():
    with FakeBinancePublic([MarketSpec("SOL/USDT", tick_size="0.001")], {"SOL/USDT": "150"}) as fake:
        ex = make_ccxt_binance_public(fake.url)
        assert list(ex.load_markets()) == ["SOL/USDT"]
        ticker = ex.fetch_ticker("SOL/USDT")
        assert ticker["last"] == 150.0 and ticker["bid"] < 150.0 < ticker["ask"]


def test_fetch_ticker_book_and_prices(fake, ex):
    fake.set_price(BTC, "61000", spread_bps=10)
    t = ex.fetch_ticker(BTC)
    assert t["last"] == 61000.0
    assert t["bid"] == 60969.5 and t["ask"] == 61030.5  # 10 bps wide, on the tick
    assert abs(t["timestamp"] - time.time() * 1000) < 2000
    assert t["high"] == 61000.0 and t["low"] == 60000.0 and t["open"] == 60000.0

    book = ex.fetch_order_book(BTC, 5)
    assert top(book) == top(fake.book(BTC, 5)) and len(book["bids"]) == 5
    assert book["nonce"] == fake.book(BTC)["lastUpdateId"]

    tickers = ex.fetch_tickers()
    assert set(tickers) == {"BTC/USDT", "ETH/USDT", "DOGE/USDT"}
    bidasks = ex.fetch_bids_asks([BTC])
    assert bidasks[BTC]["bid"] == 60969.5 and bidasks[BTC]["ask"] == 61030.5
    assert ex.fetch_last_prices([BTC])[BTC]["price"] == 61000.0
    for path in ("/api/v3/ticker/24hr", "/api/v3/depth", "/api/v3/ticker/bookTicker", "/api/v3/ticker/price"):
        assert fake.calls(path) >= 1, path


def test_set_book_exact_levels_and_thin_books(fake, ex):
    fake.set_book(BTC, bids=[(59990, "0.5"), (59995, "0.1")], asks=[(60010, "0.2")])
    book = ex.fetch_order_book(BTC)
    assert book["bids"] == [[59995.0, 0.1], [59990.0, 0.5]] and book["asks"] == [[60010.0, 0.2]]
    t = ex.fetch_ticker(BTC)
    assert (t["bid"], t["ask"], t["last"]) == (59995.0, 60010.0, 60000.0)
    fake.set_book(BTC, bids=[], asks=[(60010, "0.2")])
    assert ex.fetch_order_book(BTC)["bids"] == []


def test_fetch_ohlcv_paginates_beyond_1000_candles(fake, ex):
    assert ex.enableRateLimit
    ex.load_markets()
    now = int(time.time() * 1000)
    since = (now // 60_000 - 2500) * 60_000
    rows = fake.generate_candles(BTC, "1m", since, 2500, seed=7)
    assert rows[0][0] == since and rows[-1][0] == since + 2499 * 60_000

    got = ex.fetch_ohlcv(BTC, "1m", since=since, limit=2500, params={"paginate": True})
    assert got == rows
    klines = fake.requests_to("/api/v3/klines")
    assert len(klines) == 3 and all(int(r["params"]["limit"]) <= 1000 for r in klines)
    assert [int(r["params"]["startTime"]) for r in klines] == [since, since + 60_000_000 - 1, since + 120_000_000 - 2]

    # the loop an app writes by hand: since + limit, oldest first, until an empty page
    collected, cursor = [], since
    while True:
        page = ex.fetch_ohlcv(BTC, "1m", since=cursor, limit=1000)
        if not page:
            break
        collected += page
        cursor = page[-1][0] + 60_000
    assert collected == rows and fake.calls("/api/v3/klines") == 3 + 4

    # startTime/endTime bound the open time, inclusive; with only endTime the newest `limit` come back
    window = ex.fetch_ohlcv(BTC, "1m", since=rows[10][0], limit=1000, params={"until": rows[20][0]})
    assert window == rows[10:21]
    assert ex.fetch_ohlcv(BTC, "1m", limit=5) == rows[-5:]
    assert ex.fetch_ohlcv(BTC, "1m", since=rows[0][0], limit=1500) == rows[:1000]  # capped at 1000


def test_generated_candles_are_deterministic_and_valid(fake):
    a = fake.generate_candles("DOGE/USDT", "1h", 1_700_000_000_000, 300, seed=3, store=False)
    b = fake.generate_candles("DOGE/USDT", "1h", 1_700_000_000_000, 300, seed=3, store=False)
    c = fake.generate_candles("DOGE/USDT", "1h", 1_700_000_000_000, 300, seed=4, store=False)
    assert a == b and a != c and fake.candles("DOGE/USDT", "1h") == []
    assert a[0][0] == 1_699_999_200_000  # the hour containing start_ms
    for prev, row in zip([None] + a[:-1], a):
        t, o, h, low, close, v = row
        assert h >= max(o, close) >= min(o, close) >= low > 0 and v > 0
        assert round(o / 0.00001) * 0.00001 == pytest.approx(o)
        if prev is not None:
            assert t - prev[0] == 3_600_000 and o == prev[4]
    fake.set_candles("DOGE/USDT", "1h", a[:3])
    assert fake.candles("DOGE/USDT", "1h") == a[:3]


def test_rest_faults_and_errors(fake, ex):
    ex.load_markets()
    fake.inject("/api/v3/ticker/24hr", "http_500")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ex.fetch_ticker(BTC)
    fake.inject("/api/v3/ticker/24hr", "http_429", count=2)
    for _ in range(2):  # ccxt binance.handle_errors: HTTP 418/429 -> DDoSProtection before reading -1003
        with pytest.raises(ccxt.DDoSProtection):
            ex.fetch_ticker(BTC)
    assert ex.fetch_ticker(BTC)["last"] == 60000.0  # faults used up
    fake.inject("/api/v3/depth", "delay", delay=1.0)
    ex.timeout = 300
    with pytest.raises(ccxt.RequestTimeout):
        ex.fetch_order_book(BTC)
    ex.timeout = 3000
    with pytest.raises(ccxt.BadRequest):  # -1120 Invalid interval.
        ex.fetch_ohlcv(BTC, "1M")
    assert fake.calls("/api/v3/ticker/24hr") == 4


def test_unknown_path_is_404_json_and_recorded():
    with FakeBinancePublic() as fake:
        ex = make_ccxt_binance_public(fake.url)
        ex.load_markets()
        with pytest.raises(ccxt.BaseError):
            ex.fetch_trades(BTC)  # ccxt asks /api/v3/aggTrades: not served
        (req,) = fake.unknown_requests
        assert req["path"] == "/api/v3/aggTrades" and req["status"] == 404
        assert set(ROUTES) >= {r["path"] for r in fake.requests if r["known"]}


# ------------------------------------------------------------------------------------ streams
def test_watch_ticker_receives_new_price_from_the_stream(fake):
    async def body(pro):
        first = await asyncio.wait_for(pro.watch_ticker(BTC), STEP)
        assert first["last"] == 60000.0 and first["bid"] < 60000.0 < first["ask"]
        fake.set_price(BTC, "61234.5")
        t = await watch_until(lambda: pro.watch_ticker(BTC), lambda t: t["last"] == 61234.5)
        assert t["bid"] < 61234.5 < t["ask"] and abs(t["timestamp"] - time.time() * 1000) < 2000
        fake.set_book(BTC, bids=[(61200, 1)], asks=[(61300, 1)])
        t = await watch_until(lambda: pro.watch_ticker(BTC), lambda t: t["bid"] == 61200.0)
        assert t["ask"] == 61300.0
        # a heartbeat keeps the timestamp moving without any change
        stamp = t["timestamp"]
        await watch_until(lambda: pro.watch_ticker(BTC), lambda t: t["timestamp"] > stamp)

    run(with_pro(fake, body))
    assert fake.calls("/api/v3/ticker/24hr") == 0  # the stream, not polling
    assert {"method": "SUBSCRIBE", "params": ["btcusdt@ticker"], "id": 1} in fake.ws_messages


def test_watch_ticker_with_ccxt_default_options_is_the_mini_ticker(fake):
    """Pins the ccxt 4.5.90 quirk PUBLIC_SPOT_OPTIONS works around: without watchTickers.name the
    stream is <symbol>@miniTicker, so the ticker has a last price but no bid/ask."""
    async def body(pro):
        fake.set_price(BTC, "60500")
        t = await asyncio.wait_for(pro.watch_ticker(BTC), STEP)
        assert t["last"] == 60500.0 and t["bid"] is None and t["ask"] is None
        bidask = await asyncio.wait_for(pro.watch_bids_asks([BTC]), STEP)  # <symbol>@bookTicker
        assert bidask[BTC]["bid"] < 60500.0 < bidask[BTC]["ask"]

    run(with_pro(fake, body, options={"watchTickers": {"name": "miniTicker"}}))
    params = [p for m in fake.ws_messages for p in m["params"]]
    assert params == ["btcusdt@miniTicker", "btcusdt@bookTicker"]


def test_watch_order_book_follows_set_book_and_stays_consistent(fake):
    levels = 30
    bids = [(60000 - i, 0.1 + i / 100) for i in range(1, levels + 1)]
    asks = [(60000 + i, 0.2 + i / 100) for i in range(1, levels + 1)]
    fake.set_book(BTC, bids=bids, asks=asks)

    async def body(pro):
        book = await asyncio.wait_for(pro.watch_order_book(BTC, 20), STEP)
        assert top(book) == top(fake.book(BTC, 20)) and len(book["bids"]) == 20

        def synced(b):
            return b["nonce"] == fake.book(BTC)["lastUpdateId"] and top(b) == top(fake.book(BTC, 20))

        # several updates: quantities change, a better bid appears, deep levels go, then a thin book
        steps = [
            (bids[:1] + [(p, q * 2) for p, q in bids[1:]], asks),
            ([(60000.5, 3)] + bids, asks[:25]),
            ([(60000.5, 3)] + bids[:20], [(p, q + 1) for p, q in asks[:20]]),
            ([(59990, 1)], [(60010, 2)]),
        ]
        for b, a in steps:
            fake.set_book(BTC, bids=b, asks=a)
            book = await watch_until(lambda: pro.watch_order_book(BTC, 20), synced)
        assert book["bids"] == [[59990.0, 1.0]] and book["asks"] == [[60010.0, 2.0]]
        fake.set_price(BTC, "62000")  # a generated book replaces the thin one
        book = await watch_until(lambda: pro.watch_order_book(BTC, 20), synced)
        assert book["bids"][0][0] < 62000 < book["asks"][0][0]

    run(with_pro(fake, body))
    assert fake.calls("/api/v3/depth") == 1  # one snapshot, then only the diff stream
    assert fake.requests_to("/api/v3/depth")[0]["params"]["limit"] == "20"
    assert any(m["params"] == ["btcusdt@depth@100ms"] for m in fake.ws_messages)


def test_depth_stream_update_ids_are_contiguous():
    """Raw protocol, no ccxt: combined stream, U = previous u + 1, snapshot lastUpdateId in between."""
    with FakeBinancePublic(heartbeat_s=None) as fake:
        async def body():
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"{fake.ws_url.replace('/ws', '/stream')}?streams=btcusdt@depth") as ws:
                    assert fake.subscriptions() == ["btcusdt@depth"]
                    snapshot = await (await session.get(f"{fake.url}/api/v3/depth?symbol=BTCUSDT&limit=5")).json()
                    for i in range(5):
                        fake.set_book(BTC, bids=[(59000 + i, 1)], asks=[(61000, 1 + i)])
                    events = [json.loads((await asyncio.wait_for(ws.receive(), STEP)).data) for _ in range(5)]
                    await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 7})
                    listed = json.loads((await asyncio.wait_for(ws.receive(), STEP)).data)
            return snapshot, events, listed

        snapshot, events, listed = run(body())
        assert listed == {"result": ["btcusdt@depth"], "id": 7}
        assert all(e["stream"] == "btcusdt@depth" and e["data"]["e"] == "depthUpdate" for e in events)
        data = [e["data"] for e in events]
        assert data[0]["U"] == snapshot["lastUpdateId"] + 1
        for prev, cur in zip(data, data[1:]):
            assert cur["U"] == prev["u"] + 1 and cur["u"] >= cur["U"]
        assert data[-1]["u"] == fake.book(BTC)["lastUpdateId"]
        assert data[1]["b"] == [["59001.00000000", "1.00000000"], ["59000.00000000", "0.00000000"]]


def test_watch_ohlcv_streams_the_live_candle(fake):
    now = int(time.time() * 1000)
    fake.generate_candles(BTC, "1m", now - 10 * 60_000, 10, seed=1, start_price="60000")

    async def body(pro):
        candles = await asyncio.wait_for(pro.watch_ohlcv(BTC, "1m"), STEP)
        assert candles[-1][0] >= now // 60_000 * 60_000  # the current minute's candle
        fake.set_price(BTC, "64000")
        candles = await watch_until(lambda: pro.watch_ohlcv(BTC, "1m"), lambda c: c[-1][4] == 64000.0)
        assert candles[-1][2] >= 64000.0

    run(with_pro(fake, body))
    assert fake.candles(BTC, "1m")[-1][4] == 64000.0  # REST sees the same live candle
    assert fake.calls("/api/v3/klines") == 0


def test_watch_raises_network_error_when_streams_are_stopped(quiet_fake):
    fake = quiet_fake

    async def body(pro):
        await asyncio.wait_for(pro.watch_ticker(BTC), STEP)
        pending = asyncio.ensure_future(pro.watch_ticker(BTC))
        await asyncio.sleep(0)  # the watch is waiting for the next message
        await asyncio.to_thread(fake.stop_streams)  # its close handshake needs this loop running
        with pytest.raises(ccxt.NetworkError):
            await asyncio.wait_for(pending, STEP)
        with pytest.raises(ccxt.NetworkError):  # upgrade refused (HTTP 503) while stopped
            await asyncio.wait_for(pro.watch_order_book(BTC, 20), STEP)
        assert (await pro.fetch_ticker(BTC))["last"] == 60000.0  # REST still answers

        fake.start_streams()
        fake.set_price(BTC, "60100")
        deadline = time.monotonic() + STEP
        while True:  # ccxt waits out its reconnect backoff; the next watch reconnects
            try:
                t = await asyncio.wait_for(pro.watch_ticker(BTC), STEP)
                break
            except ccxt.NetworkError:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
        assert t["last"] == 60100.0

    run(with_pro(fake, body))
    refused = [c for c in fake.ws_connections if not c["accepted"]]
    assert refused and all(c["path"].startswith("/ws/") for c in fake.ws_connections)


def test_dropped_connection_is_a_network_error_too(quiet_fake):
    fake = quiet_fake

    async def body(pro):
        await asyncio.wait_for(pro.watch_order_book(BTC, 20), STEP)
        pending = asyncio.ensure_future(pro.watch_order_book(BTC, 20))
        await asyncio.sleep(0)
        fake.stop_streams(abort=True)  # no close frame to answer: safe to call from the loop
        with pytest.raises(ccxt.NetworkError):
            await asyncio.wait_for(pending, STEP)
        assert fake.open_connections == 0

    run(with_pro(fake, body))


def test_freeze_makes_the_quote_stale(fake, ex):
    async def body(pro):
        await asyncio.wait_for(pro.watch_ticker(BTC), STEP)
        fake.freeze(BTC)
        frozen_at = fake.quote(BTC)["time"]
        await asyncio.sleep(0.2)  # let a heartbeat already on the wire arrive
        fake.set_price(BTC, "60500")
        with pytest.raises(asyncio.TimeoutError):  # no push, no heartbeat
            await asyncio.wait_for(pro.watch_ticker(BTC), 1.5)
        rest = await pro.fetch_ticker(BTC)
        assert rest["last"] == 60500.0 and rest["timestamp"] == frozen_at  # REST: new value, old time
        fake.unfreeze(BTC)
        t = await watch_until(lambda: pro.watch_ticker(BTC), lambda t: t["last"] == 60500.0)
        assert t["timestamp"] > frozen_at

    run(with_pro(fake, body))


def test_frozen_book_catches_up_consistently(fake):
    async def body(pro):
        await asyncio.wait_for(pro.watch_order_book(BTC, 20), STEP)
        fake.freeze(BTC)
        fake.set_book(BTC, bids=[(59000, 1)], asks=[(61000, 1)])
        fake.set_book(BTC, bids=[(59500, 2)], asks=[(60500, 2)])
        fake.unfreeze(BTC)
        book = await watch_until(lambda: pro.watch_order_book(BTC, 20),
                                 lambda b: b["nonce"] == fake.book(BTC)["lastUpdateId"])
        assert book["bids"] == [[59500.0, 2.0]] and book["asks"] == [[60500.0, 2.0]]

    run(with_pro(fake, body))
