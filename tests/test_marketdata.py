"""The market-data streamer against the fake Binance public API (REST + WebSocket) through the
real ccxt / ccxt.pro classes, with the real Redis cache; /readyz shows each source's state.

Waits are bounded (``eventually``); nothing asserts how long something took.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from app.marketdata import cache
from app.marketdata.feed import FeedTuning
from app.marketdata.streamer import Streamer, StreamerTuning, add_listener, poll_once, remove_listener
from tests.venues.binance_public import FakeBinancePublic

BTC, ETH = "BTC/USDT", "ETH/USDT"
TICKER = "/api/v3/ticker/24hr"
# ccxt options for a spot-only binance (no fapi/dapi/sapi calls the fake does not serve).
SPOT_OPTIONS = 'options = { fetchMarkets = { types = ["spot"] }, fetchCurrencies = false, fetchMargins = false }'


def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Call ``check`` until it returns something truthy (returned), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout} s (last: {last!r})")


@pytest.fixture
def fake_public() -> Iterator[FakeBinancePublic]:
    server = FakeBinancePublic(heartbeat_s=0.5).start()
    yield server
    server.stop()
    assert server.unknown_requests == [] and server.server_errors == []


def use_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    from app.config import get_settings
    from app.marketdata import candles, sources

    path = tmp_path / "tradewire.toml"
    path.write_text(text)
    monkeypatch.setenv("TRADEWIRE_CONFIG", str(path))
    get_settings.cache_clear()
    sources._configured_sources.cache_clear()
    candles._rest_exchange.cache_clear()


def source_toml(fake: FakeBinancePublic, extra: str = "") -> str:
    return (f'[market_data.binance]\napi_url = "{fake.url}"\n{SPOT_OPTIONS}\npoll_interval_seconds = 0.2\n'
            f"stream_retry_seconds = 1\n{extra}")


@pytest.fixture
def md(db: str, fake_public: FakeBinancePublic, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeBinancePublic:
    """The binance source pointed at the fake (TRADEWIRE_CONFIG), empty cache."""
    use_config(monkeypatch, tmp_path, source_toml(fake_public))
    return fake_public


def start_streamer() -> Streamer:
    tuning = StreamerTuning(candles=False, watch_refresh_seconds=1.0, feed=FeedTuning(failure_backoff_seconds=0.2))
    return Streamer(tuning=tuning).start_thread()


@pytest.fixture
def streamer(md: FakeBinancePublic) -> Iterator[Streamer]:
    running = start_streamer()
    yield running
    running.stop_thread()


def cached_last(symbol: str = BTC) -> D | None:
    q = cache.read_quote("binance", symbol)
    return q.last if q else None


def test_a_quote_arrives_over_the_websocket_and_rest_tickers_are_never_polled(streamer, md):
    md.set_price(BTC, "61000")
    quote, reason = cache.wait_for_quote("binance", BTC, 5, timeout_seconds=10)
    assert reason is None and quote is not None and quote.bid is not None and quote.ask is not None
    md.set_price(BTC, "61234.5")
    eventually(lambda: cached_last() == D("61234.5"), what="the streamed price")
    quote = cache.read_quote("binance", BTC)
    assert quote.bid < D("61234.5") < quote.ask and quote.ts_exchange is not None
    assert eventually(lambda: cache.status("binance")["mode"] == "stream", what="stream mode")
    assert md.calls(TICKER) == 0 and md.calls("/api/v3/ticker/bookTicker") == 0


def test_a_new_symbol_is_subscribed_on_first_request_and_quoted_within_2_s(streamer, md):
    cache.wait_for_quote("binance", BTC, 5, timeout_seconds=10)  # the streamer is up and streaming
    md.set_price(ETH, "3100")
    quote, reason = cache.wait_for_quote("binance", ETH, 5, timeout_seconds=2.0)
    assert reason is None and quote is not None and quote.symbol == ETH and quote.last == D("3100")
    assert ETH in eventually(lambda: cache.status("binance")["symbols"] if ETH in cache.status("binance")["symbols"]
                             else None, what="ETH watched")


def test_the_cached_book_is_the_top_20_levels_of_the_venue_book(streamer, md):
    bids = [(str(60000 - i), f"0.{i + 1:03d}") for i in range(25)]
    asks = [(str(60001 + i), f"1.{i + 1:03d}") for i in range(25)]
    cache.request("binance", BTC)
    eventually(lambda: cache.read_book("binance", BTC), what="a first book")
    md.set_book(BTC, bids=bids, asks=asks)
    expected_bids = tuple((D(p), D(q)) for p, q in bids[:20])
    expected_asks = tuple((D(p), D(q)) for p, q in asks[:20])
    book = eventually(lambda: (b := cache.read_book("binance", BTC)) and b.bids == expected_bids
                      and b.asks == expected_asks and b, what="the set book")
    assert len(book.bids) == 20 and book.best_bid == D(60000) and book.best_ask == D(60001)
    quote = eventually(lambda: (q := cache.read_quote("binance", BTC)) and q.bid == D(60000) and q, what="top of book")
    assert quote.ask == D(60001)


def test_stopped_streams_fall_back_to_polling_with_one_warning_then_stream_again(streamer, md, caplog):
    caplog.set_level(logging.INFO, logger="app.marketdata")
    cache.wait_for_quote("binance", BTC, 5, timeout_seconds=10)
    eventually(lambda: cache.status("binance")["mode"] == "stream", what="stream mode")
    md.stop_streams()
    status = eventually(lambda: (s := cache.status("binance"))["mode"] == "poll" and s, what="poll mode")
    assert "WebSocket unavailable" in status["note"]
    md.set_price(BTC, "59000")
    eventually(lambda: cached_last() == D("59000"), what="the polled price")
    polls = md.calls(TICKER)
    eventually(lambda: md.calls(TICKER) > polls + 2, what="more poll rounds")
    assert md.calls(TICKER) > 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "poll" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    md.start_streams()
    eventually(lambda: cache.status("binance")["mode"] == "stream", what="stream mode again")
    md.set_price(BTC, "59500")
    eventually(lambda: cached_last() == D("59500"), what="the streamed price")


FRESHNESS = re.compile(r"^no fresh quote for BTC/USDT on binance: last \d+\.\d s old, max 1 s$")


def test_a_frozen_stream_gives_the_freshness_reason(streamer, md):
    assert cache.wait_for_quote("binance", BTC, 5, timeout_seconds=10)[0] is not None
    md.freeze(BTC)
    reason = eventually(lambda: cache.usable_quote("binance", BTC, 1)[1], what="a stale quote")
    assert FRESHNESS.match(reason), reason
    quote, reason = cache.wait_for_quote("binance", BTC, 1, timeout_seconds=0.2)
    assert quote is None and FRESHNESS.match(reason)
    md.unfreeze(BTC)
    eventually(lambda: cache.usable_quote("binance", BTC, 1)[0], what="a fresh quote again")


def test_a_frozen_market_goes_stale_even_while_polled(md, monkeypatch, tmp_path):
    use_config(monkeypatch, tmp_path, source_toml(md, "stream = false\n"))
    running = start_streamer()
    try:
        assert cache.wait_for_quote("binance", BTC, 5, timeout_seconds=10)[0] is not None
        status = eventually(lambda: (s := cache.status("binance"))["mode"] == "poll" and s, what="poll mode")
        assert "disabled" in status["note"]
        md.freeze(BTC)
        polls = md.calls(TICKER)
        reason = eventually(lambda: cache.usable_quote("binance", BTC, 1)[1], what="a stale quote")
        assert FRESHNESS.match(reason) and md.calls(TICKER) > polls  # still polled, still stale
    finally:
        running.stop_thread()
    assert md.ws_connections == []


def test_listeners_are_called_after_writes_and_a_failing_one_breaks_nothing(streamer, md):
    seen: list[tuple[str, str]] = []
    called = threading.Event()

    def failing(source: str, symbol: str) -> None:
        raise RuntimeError("listener bug")

    def recording(source: str, symbol: str) -> None:
        seen.append((source, symbol))
        called.set()

    add_listener(failing)
    add_listener(recording)
    try:
        cache.request("binance", BTC)
        assert called.wait(10)
        assert ("binance", BTC) in seen
        md.set_price(BTC, "60500")
        eventually(lambda: cached_last() == D("60500"), what="updates continue")
    finally:
        remove_listener(failing)
        remove_listener(recording)


def test_poll_once_writes_the_rest_quote_and_book(md):
    md.set_price(ETH, "3000")
    (quote,) = poll_once("binance", [ETH])
    assert quote.last == D("3000") and cache.read_quote("binance", ETH) == quote
    book = cache.read_book("binance", ETH)
    expected = md.book(ETH, 20)
    assert [(float(p), float(a)) for p, a in book.bids] == expected["bids"]
    assert [(float(p), float(a)) for p, a in book.asks] == expected["asks"]
    assert cache.usable_quote("binance", BTC, 5) == (None, "no quote for BTC/USDT on binance yet")


def test_readyz_shows_the_market_data_state_and_stays_ready_without_it(md, client):
    body = client.get("/readyz").json()
    assert client.get("/readyz").status_code == 200 and body["status"] == "ready"
    assert body["market_data"]["binance"]["mode"] == "down"
    assert "has reported" in body["market_data"]["binance"]["last_error"]
    running = start_streamer()
    try:
        cache.wait_for_quote("binance", BTC, 5, timeout_seconds=10)
        state = eventually(lambda: (s := client.get("/readyz").json()["market_data"]["binance"])["mode"] == "stream"
                           and s, what="readyz stream")
        assert state["symbols"] == [BTC] and state["updated_at"] is not None
        md.stop_streams()
        eventually(lambda: client.get("/readyz").json()["market_data"]["binance"]["mode"] == "poll",
                   what="readyz poll")
        assert client.get("/readyz").status_code == 200
    finally:
        running.stop_thread()


def test_symbols_with_positions_are_watched_without_a_request(md):
    import uuid

    from sqlalchemy import select

    from app.db import unit_of_work
    from app.persistence.models import Account, PositionRecord

    with unit_of_work() as session:
        paper = session.execute(select(Account).where(Account.name == "paper")).scalar_one()
        session.add(PositionRecord(id=uuid.uuid4(), account_id=paper.id, symbol=ETH, quantity=D("0.5"),
                                   average_price=D(3000)))
        session.add(PositionRecord(id=uuid.uuid4(), account_id=paper.id, symbol="DOGE/USDT", quantity=D(0)))
    md.set_price(ETH, "3050")
    running = start_streamer()
    try:
        eventually(lambda: cached_last(ETH) == D("3050"), what="the position's symbol quoted")
        assert cache.status("binance")["symbols"] == [ETH]  # the flat DOGE position is not watched
        assert cache.wanted() == set()
    finally:
        running.stop_thread()
