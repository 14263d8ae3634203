"""A local fake of Binance SPOT *public market data*: REST and WebSocket streams on one port.

The real ``ccxt.binance`` / ``ccxt.pro.binance`` classes are pointed at it with
:func:`make_ccxt_binance_public`. One aiohttp application serves both HTTP and WebSocket
upgrades on ``127.0.0.1:<free port>``, from a background thread running its own event loop::

    with FakeBinancePublic() as fake:              # BTC/USDT, ETH/USDT, DOGE/USDT (binance_rules)
        fake.set_price("BTC/USDT", "61000")       # last/bid/ask + a generated book; pushed to streams
        ex = make_ccxt_binance_public(fake.url, pro=True)
        ticker = await ex.watch_ticker("BTC/USDT")
        ...
        await ex.close()

What is emulated (Binance SPOT API docs, developers.binance.com, section names):

* REST "General endpoints": ``/api/v3/ping``, ``/api/v3/time``, ``/api/v3/exchangeInfo`` (the shape is
  :meth:`SpotEngine.exchange_info`); "Market data endpoints": ``/api/v3/ticker/24hr``,
  ``/api/v3/ticker/bookTicker``, ``/api/v3/ticker/price`` (one ``symbol``, a JSON list in ``symbols``,
  or all), ``/api/v3/depth`` (``limit`` default 100, max 5000, ``lastUpdateId``), ``/api/v3/klines``
  (``interval``; ``startTime``/``endTime`` bound the candles' *open* time, inclusive; ``limit`` default
  500, values above 1000 are capped at 1000; with no ``startTime`` the newest candles are answered).
  Anything else answers 404 JSON and is kept in :attr:`FakeBinancePublic.unknown_requests`.
* "WebSocket Streams": raw streams on ``/ws`` and ``/ws/<anything>`` (ccxt connects to ``/ws/<n>``,
  ``<n>`` being its stream index; a path part that names a stream, e.g. ``/ws/btcusdt@ticker``,
  subscribes to it) and combined streams on ``/stream?streams=a/b`` (payloads wrapped as
  ``{"stream": ..., "data": ...}``). "Live subscribing/unsubscribing": ``SUBSCRIBE``, ``UNSUBSCRIBE``,
  ``LIST_SUBSCRIPTIONS`` answered ``{"result": ..., "id": ...}``. Streams:
  ``<symbol>@ticker`` (24hrTicker), ``@ticker_1h|4h|1d``, ``@miniTicker``, ``@bookTicker``,
  ``@depth`` / ``@depth@100ms`` / ``@depth@1000ms`` (diff depth with ``U``/``u``), ``@depth5|10|20``
  (partial book), ``@kline_<interval>``, ``@trade``, ``@aggTrade``, ``!ticker@arr``, ``!miniTicker@arr``.

Order book synchronisation ("How to manage a local order book correctly"): each symbol has an
update id. Every change of the book (``set_price``, ``set_book``, a heartbeat re-statement) is one
``depthUpdate`` event with ``U`` = previous id + 1 and ``u`` = ``U`` + number of changed levels - 1;
the REST snapshot's ``lastUpdateId`` is the id of the last applied change. Events are dispatched in
id order from a single outbox, so ccxt's buffer-then-snapshot recipe always lines up.

Pushes happen on every change, immediately (no 100 ms batching), plus a heartbeat every
``heartbeat_s`` seconds for symbols that have subscribers: a fresh 24hrTicker (new ``E``/``C``),
a depth event re-stating the best bid and ask (real books never sit still), the live kline.
:meth:`FakeBinancePublic.freeze` stops all of that for one symbol, so its quote goes stale.

Simplifications: one book per symbol, regenerated around the price by ``set_price``; trades are
synthetic (one per ``set_price``); the 24h statistics open at the first configured price and
track the high/low of every price set since; ``1M`` klines are not supported (-1120).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import threading
import time
import traceback
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from aiohttp import WSMsgType, web

from .binance_engine import SpotEngine
from .binance_rules import DEFAULT_PRICES, EIGHT, BinanceError, MarketSpec, coerce_markets, err_mandatory, fmt
from .ccxt_helpers import SPOT_ONLY_OPTIONS, point_ccxt_at

D = Decimal
FAULT_KINDS = ("http_500", "http_429", "http_418", "delay")
HTML_500 = "<html><body><h1>500 Internal Server Error</h1></body></html>"
ERR_BAD_SYMBOL = BinanceError(400, -1121, "Invalid symbol.")
ERR_BAD_INTERVAL = BinanceError(400, -1120, "Invalid interval.")
ERR_RATE_LIMIT = BinanceError(429, -1003, "Too much request weight used; current limit is 6000 request weight "
                                          "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid "
                                          "polling the API.")
ERR_BANNED = BinanceError(418, -1003, "Way too much request weight used; IP banned until 9999999999999. "
                                      "Please use WebSocket Streams for live updates to avoid bans.")

# Enum definitions -> Kline/Candlestick chart intervals (1M, calendar months, is left out)
INTERVALS_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
}
WEEK_OFFSET_MS = 4 * 86_400_000  # weekly candles open on Monday; 1970-01-01 was a Thursday
SYMBOLS_PATTERN = "'^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'."
ROLLING_TICKERS = {"ticker_1h": "1hTicker", "ticker_4h": "4hTicker", "ticker_1d": "1dTicker"}
TICKER_CHANNELS = {"ticker", "miniTicker", "bookTicker", "depth5", "depth10", "depth20", *ROLLING_TICKERS}

# ccxt options for a public, spot-only binance: options['fetchMarkets'] {'types': ['spot']} keeps
# load_markets on /api/v3/exchangeInfo (no fapi/dapi/eapi), fetchCurrencies/fetchMargins False skip
# the sapi endpoints (see ccxt_helpers.SPOT_ONLY_OPTIONS), defaultType 'spot' is ccxt's default.
# watchTickers.name 'ticker': ccxt 4.5.90 pro.binance.watch_ticker() routes through watch_tickers(),
# whose first option lookup ('stock') drops the callerMethodName param, so options['watchTicker']
# ['name'] ('ticker') is never read and the stream is '<symbol>@miniTicker' — a 24hrMiniTicker has no
# bid/ask. Naming the full ticker here makes watch_ticker (and watch_tickers) subscribe to
# '<symbol>@ticker' (24hrTicker: last, bid, ask, sizes). Per call: params={'name': 'ticker'}.
PUBLIC_SPOT_OPTIONS: dict[str, Any] = {**SPOT_ONLY_OPTIONS, "defaultType": "spot",
                                       "watchTickers": {"name": "ticker"}}


# --------------------------------------------------------------------------- ccxt construction
def ws_scheme_for(http_scheme: str) -> str:
    """``http`` -> ``ws``, ``https`` -> ``wss`` (the WebSocket scheme paired with an api_url's)."""
    return {"http": "ws", "https": "wss"}.get(http_scheme, http_scheme)


def _with_scheme(value: Any, scheme: str) -> Any:
    if isinstance(value, str):
        parts = urlsplit(value)
        return urlunsplit((scheme,) + tuple(parts)[1:]) if parts.scheme and parts.netloc else value
    if isinstance(value, dict):
        return {k: _with_scheme(v, scheme) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_scheme(v, scheme) for v in value]
    return value


def point_ccxt_public_at(exchange, base_url: str):
    """Aim every URL of ``exchange.urls['api']`` at ``base_url`` the way the app does it: scheme and
    host of every URL replaced by ``base_url``'s, paths kept (``rewrite_api_urls`` /
    :func:`point_ccxt_at`); then the WebSocket entries (``urls['api']['ws']``, ccxt.pro only) get
    the WebSocket scheme (``http`` -> ``ws``, ``https`` -> ``wss``). Returns the exchange.

    For binance: ``https://api.binance.com/api/v3`` -> ``http://HOST:PORT/api/v3`` and
    ``wss://stream.binance.com:9443/ws`` -> ``ws://HOST:PORT/ws`` (ccxt then connects to
    ``ws://HOST:PORT/ws/<stream index>``)."""
    point_ccxt_at(exchange, base_url)
    ws = exchange.urls["api"].get("ws")
    if ws is not None:
        exchange.urls["api"]["ws"] = _with_scheme(ws, ws_scheme_for(urlsplit(base_url).scheme))
    return exchange


def make_ccxt_binance_public(url: str, pro: bool = False, *, timeout_ms: int = 3000,
                             options: Mapping[str, Any] | None = None, **config):
    """A real ``ccxt.binance`` (``pro=False``) or ``ccxt.pro.binance`` (``pro=True``) aimed at the fake
    at ``url`` (``http://host:port``): rate limiter on, ``timeout`` ``timeout_ms``, no credentials,
    options :data:`PUBLIC_SPOT_OPTIONS` (spot markets only) updated with ``options``.
    A pro instance must be closed with ``await exchange.close()`` inside its event loop."""
    import ccxt
    import ccxt.pro

    cls = ccxt.pro.binance if pro else ccxt.binance
    exchange = cls({
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "options": {**PUBLIC_SPOT_OPTIONS, **dict(options or {})},
        **config,
    })
    return point_ccxt_public_at(exchange, url)


# --------------------------------------------------------------------------- numbers and candles
def _floor(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def _ceil(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def _round(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step


def interval_ms(interval: str) -> int:
    try:
        return INTERVALS_MS[interval]
    except KeyError:
        raise ValueError(f"unsupported kline interval {interval!r}; one of {sorted(INTERVALS_MS)}") from None


def open_time(t_ms: int, interval: str) -> int:
    """Open time of the ``interval`` candle containing ``t_ms`` (UTC; weeks open on Monday)."""
    ms = interval_ms(interval)
    offset = WEEK_OFFSET_MS if interval == "1w" else 0
    return (t_ms - offset) // ms * ms + offset


def _candle_row(row: Any) -> list:
    """[open_time, open, high, low, close, volume] with Decimals, from a sequence or a dict."""
    if isinstance(row, Mapping):
        seq = [row.get(k) for k in ("timestamp", "open", "high", "low", "close", "volume")]
        if seq[0] is None:
            seq[0] = row.get("t")
    else:
        seq = list(row)[:6]
    if len(seq) < 6 or any(v is None for v in seq):
        raise ValueError(f"a candle needs open time, open, high, low, close, volume: {row!r}")
    return [int(seq[0])] + [D(str(v)) for v in seq[1:6]]


def _unified(row: list) -> list:
    """A stored row as ccxt's unified OHLCV: [ms, float open, high, low, close, volume]."""
    return [row[0]] + [float(v) for v in row[1:6]]


# --------------------------------------------------------------------------- state
@dataclass
class Fault:
    """One injected REST fault; ``remaining`` counts down as matching requests consume it."""

    path: str
    kind: str
    remaining: int = 1
    delay: float = 1.0
    hits: list = field(default_factory=list)


@dataclass
class _Symbol:
    spec: MarketSpec
    last: Decimal
    open_24h: Decimal
    high_24h: Decimal
    low_24h: Decimal
    last_qty: Decimal
    bids: dict = field(default_factory=dict)  # price -> qty
    asks: dict = field(default_factory=dict)
    update_id: int = 1_000_000
    trade_id: int = 50_000_000
    frozen_at: int | None = None
    pending: dict | None = None  # depth changes accumulated while frozen: {"U", "u", "b": {}, "a": {}}
    candles: dict = field(default_factory=dict)  # interval -> {open_time: row}

    def top(self, side: str, n: int | None = None) -> list[tuple[Decimal, Decimal]]:
        book = self.bids if side == "b" else self.asks
        levels = sorted(book.items(), key=lambda kv: kv[0], reverse=(side == "b"))
        return levels if n is None else levels[:n]


class _Conn:
    """One WebSocket connection: its streams ({name: parsed}) and outgoing queue (loop thread only)."""

    ids = iter(range(1, 1 << 62))

    def __init__(self, ws: web.WebSocketResponse, path: str, combined: bool, transport: Any = None):
        self.id = next(self.ids)
        self.ws, self.path, self.combined, self.transport = ws, path, combined, transport
        self.streams: dict[str, tuple] = {}
        self.queue: asyncio.Queue = asyncio.Queue()


def parse_stream(name: str) -> tuple | None:
    """``btcusdt@depth@100ms`` -> ("BTCUSDT", "depth", "100ms"); None if not a stream this fake serves."""
    if name in ("!ticker@arr", "!miniTicker@arr"):
        return ("*", name[1:].split("@")[0], None)
    parts = name.split("@")
    if len(parts) < 2 or not parts[0] or parts[0] != parts[0].lower():
        return None
    sym, channel, rest = parts[0].upper(), parts[1], parts[2:]
    if channel in ("ticker", "miniTicker", "bookTicker", "trade", "aggTrade", *ROLLING_TICKERS) and not rest:
        return (sym, channel, None)
    if channel in ("depth", "depth5", "depth10", "depth20") and rest in ([], ["100ms"], ["1000ms"]):
        return (sym, channel, rest[0] if rest else None)
    if channel.startswith("kline_") and channel[6:] in INTERVALS_MS and rest in ([], ["+08:00"]):
        return (sym, "kline", channel[6:])
    return None


# --------------------------------------------------------------------------- the fake
class FakeBinancePublic:
    """Public Binance SPOT market data over REST and WebSocket. Thread-safe test controls."""

    def __init__(self, markets=None, prices=None, *, spread_bps="2", book_levels: int = 20,
                 level_step_bps="1", level_notional="10000", heartbeat_s: float | None = 1.0,
                 host: str = "127.0.0.1", port: int = 0):
        self.host, self._port = host, port
        self.spread_bps = D(str(spread_bps))
        self.book_levels = int(book_levels)
        self.level_step_bps = D(str(level_step_bps))
        self.level_notional = D(str(level_notional))
        self.heartbeat_s = heartbeat_s
        self.markets = coerce_markets(markets)
        self._info = SpotEngine(self.markets, prices={}, balances={}, clock=self.now_ms)  # exchangeInfo shape
        self._lock = threading.RLock()
        self._symbols: dict[str, _Symbol] = {}
        configured = {**DEFAULT_PRICES, **{str(k): v for k, v in dict(prices or {}).items()}}
        for m in self.markets:
            price = D(str(configured.get(m.symbol, configured.get(m.id, "100"))))
            self._symbols[m.id] = _Symbol(spec=m, last=price, open_24h=price, high_24h=price, low_24h=price,
                                          last_qty=m.d("step_size"))
            self._regenerate_book(self._symbols[m.id], price, self.spread_bps, emit=False)
        self.requests: list[dict] = []  # REST: method, path, params, status, fault, time, known
        self.server_errors: list[str] = []  # tracebacks of exceptions raised inside the fake
        self.ws_connections: list[dict] = []  # every upgrade attempt: path, time, accepted
        self.ws_messages: list[dict] = []  # every text frame a client sent, parsed (or {"raw": ...})
        self._faults: list[Fault] = []
        self._streams_up = True
        self._outbox: list[tuple] = []
        self._conns: set[_Conn] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._heartbeat_task: asyncio.Task | None = None
        self._stopping: asyncio.Event | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` — the api_url to give ccxt (REST and WebSocket share it)."""
        if not self._port:
            raise RuntimeError("the fake is not started")
        return f"http://{self.host}:{self._port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT/ws`` — what ccxt.pro's urls['api']['ws']['spot'] becomes."""
        return f"ws://{self.host}:{self._port}/ws"

    def start(self) -> "FakeBinancePublic":
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve_start())
            except BaseException as e:  # pragma: no cover - port in use etc.
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-binance-public", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake binance public did not start within 10 s")
        if failure:
            self._thread = None
            raise failure[0]
        return self

    async def _serve_start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._http)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self._stopping = asyncio.Event()
        if self.heartbeat_s:
            self._heartbeat_task = asyncio.get_running_loop().create_task(self._heartbeat())

    async def _serve_stop(self) -> None:
        assert self._stopping is not None
        self._stopping.set()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        await self._close_all(1001, b"server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._serve_stop(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> "FakeBinancePublic":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    # ------------------------------------------------------------------ test controls
    def _sym(self, symbol: str) -> _Symbol:
        key = symbol.replace("/", "").upper()
        if key not in self._symbols:
            raise KeyError(f"unknown symbol {symbol!r}; configured: {[m.symbol for m in self.markets]}")
        return self._symbols[key]

    def set_price(self, symbol: str, price, *, spread_bps=None, qty=None) -> None:
        """Trade at ``price``: last price and 24h high/low move, the book is regenerated around it
        (best bid/ask ``spread_bps`` apart, default the constructor's, ``book_levels`` levels a side
        ``level_step_bps`` apart, ``level_notional`` quote each growing with depth), live candles of the
        symbol's kline series are updated; ticker, trade, depth and kline streams are pushed."""
        with self._lock:
            s = self._sym(symbol)
            price = D(str(price))
            if price <= 0:
                raise ValueError("price must be positive")
            s.last = price
            s.high_24h, s.low_24h = max(s.high_24h, price), min(s.low_24h, price)
            step = s.spec.d("step_size")  # the trade's size: ``qty``, else a tenth of the best level's
            s.last_qty = max(_floor(D(str(qty)) if qty is not None else self._level_qty(s, price, 0) / 10, step), step)
            s.trade_id += 1
            self._regenerate_book(s, price, D(str(spread_bps)) if spread_bps is not None else self.spread_bps)
            self._touch_candles(s, price, s.last_qty)
            if s.frozen_at is None:
                self._outbox.append(("trade", s.spec.id, self._trade_payload(s)))
                self._outbox.append(("ticker", s.spec.id))
        self._kick()

    def set_book(self, symbol: str, bids: Iterable[Sequence] = (), asks: Iterable[Sequence] = ()) -> None:
        """Replace the book with exactly these levels ([(price, qty), ...], any order; thin or empty
        sides allowed). The last price is unchanged; the ticker's bid/ask follow the book."""
        with self._lock:
            s = self._sym(symbol)
            new_b, new_a = self._levels(bids), self._levels(asks)
            self._apply_book(s, new_b, new_a)
            if s.frozen_at is None:
                self._outbox.append(("ticker", s.spec.id))
        self._kick()

    @staticmethod
    def _levels(levels: Iterable[Sequence]) -> dict:
        """{price: qty} at the wire's 8 decimals (floats like 0.1 + 0.01 are taken as printed)."""
        out = {}
        for p, q in levels:
            price, qty = D(str(p)).quantize(EIGHT), D(str(q)).quantize(EIGHT)
            if price <= 0 or qty < 0:
                raise ValueError(f"bad level {(p, q)!r}")
            if qty > 0:
                out[price] = qty
        return out

    def set_candles(self, symbol: str, interval: str, rows: Iterable[Any]) -> None:
        """Replace the ``interval`` series of ``symbol`` with ``rows`` ([open_time_ms, open, high, low,
        close, volume] sequences, e.g. ccxt's OHLCV, or dicts with those keys). Not validated: rows
        that break high >= max(open, close) are served as given."""
        interval_ms(interval)
        parsed = [_candle_row(r) for r in rows]
        with self._lock:
            self._sym(symbol).candles[interval] = {r[0]: r for r in sorted(parsed, key=lambda r: r[0])}

    def generate_candles(self, symbol: str, interval: str, start_ms: int, count: int, seed: int = 0, *,
                         start_price=None, volatility: float = 0.002, store: bool = True) -> list[list]:
        """``count`` consecutive deterministic candles from the candle containing ``start_ms``: a
        random walk (``random.Random(seed)``, log-returns ~ N(0, ``volatility``)) from ``start_price``
        (default the symbol's last price); open = previous close, prices on the tick size,
        high >= max(open, close) >= min(open, close) >= low > 0, volume > 0 on the step size.
        Merged into the stored series (``store``); returned as ccxt unified OHLCV rows (floats)."""
        ms = interval_ms(interval)
        rng = random.Random(seed)
        with self._lock:
            s = self._sym(symbol)
            tick, step = s.spec.d("tick_size"), s.spec.d("step_size")
            price = D(str(start_price)) if start_price is not None else s.last
            t = open_time(int(start_ms), interval)
            base_volume = self.level_notional * 5 / price
            rows = []
            close = max(_round(price, tick), tick)
            for i in range(int(count)):
                o = close
                c = max(_round(o * D(repr(math.exp(rng.gauss(0.0, volatility)))), tick), tick)
                hi = _ceil(max(o, c) * D(repr(1 + abs(rng.gauss(0.0, volatility / 2)))), tick)
                lo = max(_floor(min(o, c) * D(repr(1 - abs(rng.gauss(0.0, volatility / 2)))), tick), tick)
                lo = min(lo, o, c)
                v = max(_floor(base_volume * D(repr(rng.lognormvariate(0.0, 0.5))), step), step)
                rows.append([t + i * ms, o, max(hi, o, c), lo, c, v])
                close = c
            if store:
                series = dict(s.candles.get(interval, {}))
                series.update({r[0]: r for r in rows})
                s.candles[interval] = dict(sorted(series.items()))
        return [_unified(r) for r in rows]

    def candles(self, symbol: str, interval: str) -> list[list]:
        """The stored series, oldest first, as ccxt unified OHLCV rows (floats)."""
        with self._lock:
            return [_unified(r) for r in self._sym(symbol).candles.get(interval, {}).values()]

    def freeze(self, symbol: str) -> None:
        """Stall the feed of ``symbol``: its timestamps (REST ticker ``closeTime``, stream ``E``/``C``)
        stay at this moment and nothing is pushed for it (no heartbeat either). Changes made while
        frozen still apply (REST shows them, with the frozen time); :meth:`unfreeze` pushes them."""
        with self._lock:
            s = self._sym(symbol)
            if s.frozen_at is None:
                s.frozen_at = self.now_ms()

    def unfreeze(self, symbol: str) -> None:
        with self._lock:
            s = self._sym(symbol)
            if s.frozen_at is None:
                return
            s.frozen_at = None
            if s.pending is not None:
                self._outbox.append(("depth", s.spec.id, self._depth_event(s, s.pending)))
                s.pending = None
            self._outbox.append(("ticker", s.spec.id))
            for interval in s.candles:
                self._outbox.append(("kline", s.spec.id, interval))
        self._kick()

    def stop_streams(self, code: int = 1001, *, abort: bool = False) -> None:
        """Make the WebSocket unreachable: open connections are closed with a close frame (``code``),
        or dropped without one (``abort=True``: the TCP connection is just cut), and new upgrade
        requests are refused with HTTP 503. REST keeps working. Blocks until done (a graceful close
        waits up to 2 s for the client's reply: from inside an asyncio test whose loop runs the
        ccxt client, call it through ``await asyncio.to_thread(fake.stop_streams)``)."""
        with self._lock:
            self._streams_up = False
        if self._loop is not None and self._thread is not None:
            asyncio.run_coroutine_threadsafe(self._close_all(code, b"streams stopped", abort),
                                             self._loop).result(timeout=10)

    def start_streams(self) -> None:
        """Accept WebSocket upgrades again (clients must reconnect; ccxt does on the next watch)."""
        with self._lock:
            self._streams_up = True

    @property
    def streams_running(self) -> bool:
        return self._streams_up

    def inject(self, path: str, kind: str, count: int = 1, *, delay: float = 1.0) -> Fault:
        """The next ``count`` REST requests to ``path`` misbehave: ``http_500`` (HTML 500 page),
        ``http_429`` (429, -1003, Retry-After: 1), ``http_418`` (IP ban), ``delay`` (answer normally
        after ``delay`` seconds)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        fault = Fault(path=path, kind=kind, remaining=int(count), delay=delay)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ------------------------------------------------------------------ inspection
    def calls(self, path: str | None = None) -> int:
        """How many REST requests reached ``path`` (all paths if None), faulted ones included."""
        with self._lock:
            return sum(1 for r in self.requests if path is None or r["path"] == path)

    def requests_to(self, path: str) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["path"] == path]

    @property
    def unknown_requests(self) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if not r["known"]]

    def book(self, symbol: str, depth: int | None = None) -> dict:
        """{"bids": [(price, qty), ...] best first, "asks": [...], "lastUpdateId": id} as floats."""
        with self._lock:
            s = self._sym(symbol)
            return {"bids": [(float(p), float(q)) for p, q in s.top("b", depth)],
                    "asks": [(float(p), float(q)) for p, q in s.top("a", depth)],
                    "lastUpdateId": s.update_id}

    def quote(self, symbol: str) -> dict:
        """{"last", "bid", "ask", "time"} as the streams would report them now."""
        with self._lock:
            s = self._sym(symbol)
            b, a = s.top("b", 1), s.top("a", 1)
            return {"last": float(s.last), "bid": float(b[0][0]) if b else None,
                    "ask": float(a[0][0]) if a else None, "time": self._time(s)}

    def subscriptions(self) -> list[str]:
        """Stream names currently subscribed, over all open connections."""
        loop = self._loop
        if loop is None:
            return []
        async def collect() -> list[str]:
            return sorted({name for c in self._conns for name in c.streams})
        return asyncio.run_coroutine_threadsafe(collect(), loop).result(timeout=5)

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    # ------------------------------------------------------------------ state changes (lock held)
    def _time(self, s: _Symbol) -> int:
        return s.frozen_at if s.frozen_at is not None else self.now_ms()

    def _level_qty(self, s: _Symbol, price: Decimal, i: int) -> Decimal:
        step = s.spec.d("step_size")
        return max(_floor(self.level_notional / price * (1 + D(i) / 2), step), step)

    def _regenerate_book(self, s: _Symbol, price: Decimal, spread_bps: Decimal, emit: bool = True) -> None:
        tick = s.spec.d("tick_size")
        half = spread_bps / D(20000)
        bid0 = max(_floor(price * (1 - half), tick), tick)
        ask0 = _ceil(price * (1 + half), tick)
        if ask0 <= bid0:
            ask0 = bid0 + tick
        gap = max(_floor(price * self.level_step_bps / D(10000), tick), tick)
        bids, asks = {}, {}
        for i in range(self.book_levels):
            if bid0 - gap * i > 0:
                bids[bid0 - gap * i] = self._level_qty(s, price, i)
            asks[ask0 + gap * i] = self._level_qty(s, price, i)
        if emit:
            self._apply_book(s, bids, asks)
        else:
            s.bids, s.asks = bids, asks

    def _apply_book(self, s: _Symbol, bids: dict, asks: dict) -> None:
        """Replace the book; the difference becomes one depth update (ids U..u)."""
        changes = {"b": {}, "a": {}}
        for side, old, new in (("b", s.bids, bids), ("a", s.asks, asks)):
            for p in old.keys() - new.keys():
                changes[side][p] = D(0)
            for p, q in new.items():
                if old.get(p) != q:
                    changes[side][p] = q
        s.bids, s.asks = dict(bids), dict(asks)
        self._emit_depth(s, changes)

    def _emit_depth(self, s: _Symbol, changes: dict) -> None:
        n = max(1, len(changes["b"]) + len(changes["a"]))
        first, s.update_id = s.update_id + 1, s.update_id + n
        if s.frozen_at is not None:  # keep ids contiguous: one merged event on unfreeze
            if s.pending is None:
                s.pending = {"U": first, "b": {}, "a": {}}
            s.pending["u"] = s.update_id
            s.pending["b"].update(changes["b"])
            s.pending["a"].update(changes["a"])
            return
        self._outbox.append(("depth", s.spec.id, self._depth_event(s, {"U": first, "u": s.update_id, **changes})))

    def _depth_event(self, s: _Symbol, ch: dict) -> dict:
        """Diff. Depth Stream event."""
        def levels(side: dict, reverse: bool) -> list:
            return [[fmt(p), fmt(q)] for p, q in sorted(side.items(), key=lambda kv: kv[0], reverse=reverse)]
        return {"e": "depthUpdate", "E": self._time(s), "s": s.spec.id, "U": ch["U"], "u": ch["u"],
                "b": levels(ch["b"], True), "a": levels(ch["a"], False)}

    def _touch_candles(self, s: _Symbol, price: Decimal, qty: Decimal) -> None:
        """Fold a trade into the live candle of every existing kline series of the symbol."""
        now = self._time(s)
        for interval, series in s.candles.items():
            t = open_time(now, interval)
            row = series.get(t)
            if row is None:
                prev = series[max(series)][4] if series else price
                row = [t, prev, max(prev, price), min(prev, price), price, D(0)]
                self._insert_candle(series, row)
            row[2], row[3], row[4], row[5] = max(row[2], price), min(row[3], price), price, row[5] + qty
            if s.frozen_at is None:
                self._outbox.append(("kline", s.spec.id, interval))

    def _ensure_live_candle(self, s: _Symbol, interval: str) -> None:
        series = s.candles.setdefault(interval, {})
        t = open_time(self._time(s), interval)
        if t not in series:
            prev = series[max(series)][4] if series else s.last
            self._insert_candle(series, [t, prev, prev, prev, prev, D(0)])

    @staticmethod
    def _insert_candle(series: dict, row: list) -> None:
        """Insert keeping open-time order (the dict's order is the series' order)."""
        if series and row[0] < max(series):
            items = sorted([*series.items(), (row[0], row)], key=lambda kv: kv[0])
            series.clear()
            series.update(items)
        else:
            series[row[0]] = row

    # ------------------------------------------------------------------ payloads (lock held)
    def _ticker_payload(self, s: _Symbol, event: str = "24hrTicker") -> dict:
        """Individual Symbol Ticker Streams (24hrTicker; 1h/4h/1dTicker share the shape)."""
        now = self._time(s)
        window = {"24hrTicker": 86_400_000, "1hTicker": 3_600_000, "4hTicker": 14_400_000,
                  "1dTicker": 86_400_000}[event]
        b, a = s.top("b", 1), s.top("a", 1)
        change = s.last - s.open_24h
        vol = _floor(self.level_notional * 50 / s.last, s.spec.d("step_size"))
        return {
            "e": event, "E": now, "s": s.spec.id,
            "p": fmt(change), "P": f"{(change / s.open_24h * 100):.3f}", "w": fmt(s.last),
            **({"x": fmt(s.open_24h)} if event == "24hrTicker" else {}),
            "c": fmt(s.last), "Q": fmt(s.last_qty),
            **({"b": fmt(b[0][0]) if b else fmt(D(0)), "B": fmt(b[0][1]) if b else fmt(D(0)),
                "a": fmt(a[0][0]) if a else fmt(D(0)), "A": fmt(a[0][1]) if a else fmt(D(0))}
               if event == "24hrTicker" else {}),
            "o": fmt(s.open_24h), "h": fmt(s.high_24h), "l": fmt(s.low_24h),
            "v": fmt(vol), "q": fmt(vol * s.last),
            "O": now - window, "C": now, "F": s.trade_id - 999, "L": s.trade_id, "n": 1000,
        }

    def _mini_ticker_payload(self, s: _Symbol) -> dict:
        full = self._ticker_payload(s)
        return {"e": "24hrMiniTicker", **{k: full[k] for k in ("E", "s", "c", "o", "h", "l", "v", "q")}}

    def _book_ticker_payload(self, s: _Symbol) -> dict:
        """Individual Symbol Book Ticker Streams (no event type, no time on spot)."""
        b, a = s.top("b", 1), s.top("a", 1)
        zero = fmt(D(0))
        return {"u": s.update_id, "s": s.spec.id,
                "b": fmt(b[0][0]) if b else zero, "B": fmt(b[0][1]) if b else zero,
                "a": fmt(a[0][0]) if a else zero, "A": fmt(a[0][1]) if a else zero}

    def _partial_depth_payload(self, s: _Symbol, n: int) -> dict:
        return {"lastUpdateId": s.update_id,
                "bids": [[fmt(p), fmt(q)] for p, q in s.top("b", n)],
                "asks": [[fmt(p), fmt(q)] for p, q in s.top("a", n)]}

    def _trade_payload(self, s: _Symbol) -> dict:
        now = self._time(s)
        return {"e": "trade", "E": now, "s": s.spec.id, "t": s.trade_id, "p": fmt(s.last), "q": fmt(s.last_qty),
                "T": now, "m": False, "M": True}

    def _kline_payload(self, s: _Symbol, interval: str) -> dict | None:
        series = s.candles.get(interval)
        if not series:
            return None
        row = series[max(series)]
        now, end = self._time(s), row[0] + interval_ms(interval) - 1
        return {"e": "kline", "E": now, "s": s.spec.id, "k": {
            "t": row[0], "T": end, "s": s.spec.id, "i": interval, "f": s.trade_id - 10, "L": s.trade_id,
            "o": fmt(row[1]), "c": fmt(row[4]), "h": fmt(row[2]), "l": fmt(row[3]), "v": fmt(row[5]),
            "n": 10, "x": now > end, "q": fmt(row[5] * row[4]), "V": fmt(row[5] / 2), "Q": fmt(row[5] / 2 * row[4]),
            "B": "0"}}

    def _stream_payload(self, parsed: tuple, event: tuple) -> Any:
        """The payload ``event`` produces on the stream ``parsed``, or None."""
        sym, channel, opt = parsed
        kind, sym_id = event[0], event[1]
        if sym == "*":
            if kind != "ticker":
                return None
            s = self._symbols[sym_id]
            return [self._ticker_payload(s) if channel == "ticker" else self._mini_ticker_payload(s)]
        if sym != sym_id or sym_id not in self._symbols:
            return None
        s = self._symbols[sym_id]
        if kind == "ticker" and channel in TICKER_CHANNELS:
            if channel == "ticker":
                return self._ticker_payload(s)
            if channel in ROLLING_TICKERS:
                return self._ticker_payload(s, ROLLING_TICKERS[channel])
            if channel == "miniTicker":
                return self._mini_ticker_payload(s)
            if channel == "bookTicker":
                return self._book_ticker_payload(s)
            return self._partial_depth_payload(s, int(channel[5:]))
        if kind == "depth" and channel == "depth":
            return event[2]
        if kind == "trade" and channel in ("trade", "aggTrade"):
            t = dict(event[2])
            if channel == "aggTrade":  # Aggregate Trade Streams: one trade per aggregate here
                trade_id = t.pop("t")
                t.pop("M", None)
                t.update({"e": "aggTrade", "a": trade_id, "f": trade_id, "l": trade_id})
            return t
        if kind == "kline" and channel == "kline" and opt == event[2]:
            return self._kline_payload(s, opt)
        return None

    # ------------------------------------------------------------------ dispatch (event loop thread)
    def _kick(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # loop closed meanwhile
                pass

    def _drain(self) -> None:
        """Send every queued event, in the order the changes happened, to the matching streams."""
        with self._lock:
            events, self._outbox = self._outbox, []
            for event in events:
                for conn in list(self._conns):
                    for name, parsed in conn.streams.items():
                        try:
                            payload = self._stream_payload(parsed, event)
                        except Exception:
                            self.server_errors.append(traceback.format_exc())
                            continue
                        if payload is not None:
                            self._send(conn, name, payload)

    def _send(self, conn: _Conn, name: str | None, payload: Any) -> None:
        if conn.combined and name is not None:
            payload = {"stream": name, "data": payload}
        conn.queue.put_nowait(payload)

    async def _sender(self, conn: _Conn) -> None:
        try:
            while True:
                payload = await conn.queue.get()
                if conn.ws.closed:
                    return
                await conn.ws.send_str(json.dumps(payload))
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            return

    async def _heartbeat(self) -> None:
        assert self.heartbeat_s
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                with self._lock:
                    wanted: dict[str, set] = {}
                    for conn in self._conns:
                        for sym, channel, opt in conn.streams.values():
                            targets = self._symbols if sym == "*" else [sym]
                            for t in targets:
                                wanted.setdefault(t, set()).add((channel, opt))
                    for sym_id, channels in wanted.items():
                        s = self._symbols.get(sym_id)
                        if s is None or s.frozen_at is not None:
                            continue
                        self._outbox.append(("ticker", sym_id))
                        if any(c == "depth" for c, _ in channels):
                            restate = {"b": dict(s.top("b", 1)), "a": dict(s.top("a", 1))}
                            self._emit_depth(s, restate)
                        for channel, opt in channels:
                            if channel == "kline":
                                self._ensure_live_candle(s, opt)
                                self._outbox.append(("kline", sym_id, opt))
                self._drain()
            except Exception:  # pragma: no cover - a bug in the fake
                self.server_errors.append(traceback.format_exc())

    async def _close_all(self, code: int, message: bytes, abort: bool = False) -> None:
        conns = list(self._conns)
        if conns:
            await asyncio.gather(*(self._close_one(c, code, message, abort) for c in conns), return_exceptions=True)

    async def _close_one(self, conn: _Conn, code: int, message: bytes, abort: bool = False) -> None:
        self._conns.discard(conn)
        if abort and conn.transport is not None:
            conn.transport.abort()
            return
        try:
            await asyncio.wait_for(conn.ws.close(code=code, message=message), 2)
        except Exception:
            pass

    # ------------------------------------------------------------------ WebSocket
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        with self._lock:
            up = self._streams_up
            self.ws_connections.append({"path": path, "time": time.time(), "accepted": up})
        if not up:
            return web.json_response({"code": -1, "msg": "Service unavailable: streams are stopped."}, status=503)
        combined = path.rstrip("/") == "/stream"
        initial = []
        if combined:
            initial = [n for n in request.query.get("streams", "").split("/") if n]
        elif path.startswith("/ws/"):
            initial = [n for n in path[4:].split("/") if "@" in n]
        ws = web.WebSocketResponse(timeout=2.0, autoping=True, heartbeat=None, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = _Conn(ws, path, combined, request.transport)
        self._conns.add(conn)
        sender = asyncio.get_running_loop().create_task(self._sender(conn))
        try:
            if initial:
                self._subscribe(conn, initial, None, ack=False)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        except Exception:  # pragma: no cover - connection torn down under us
            pass
        finally:
            self._conns.discard(conn)
            sender.cancel()
        return ws

    def _on_text(self, conn: _Conn, data: str) -> None:
        """WebSocket Streams -> Live Subscribing/Unsubscribing to streams."""
        try:
            msg = json.loads(data)
        except ValueError:
            self.ws_messages.append({"raw": data})
            self._send(conn, None, {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"})
            return
        self.ws_messages.append(msg)
        if not isinstance(msg, dict):
            self._send(conn, None, {"code": 3, "msg": "Invalid JSON: expected an object"})
            return
        method, params, req_id = msg.get("method"), msg.get("params"), msg.get("id")
        if method == "SUBSCRIBE" and isinstance(params, list):
            self._subscribe(conn, params, req_id)
        elif method == "UNSUBSCRIBE" and isinstance(params, list):
            for name in params:
                conn.streams.pop(name, None)
            self._send(conn, None, {"result": None, "id": req_id})
        elif method == "LIST_SUBSCRIPTIONS":
            self._send(conn, None, {"result": sorted(conn.streams), "id": req_id})
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            self._send(conn, None, {"result": None if method == "SET_PROPERTY" else conn.combined, "id": req_id})
        else:
            self._send(conn, None, {"code": 2, "msg": f"Invalid request: unknown method {method!r}", "id": req_id})

    def _subscribe(self, conn: _Conn, names: list, req_id: Any, ack: bool = True) -> None:
        parsed = {}
        for name in names:
            p = parse_stream(name) if isinstance(name, str) else None
            if p is None:
                self._send(conn, None, {"code": 2, "msg": f"Invalid request: unknown stream {name!r}", "id": req_id})
                return
            parsed[name] = p
        # the symbol's lock orders this snapshot against the outbox: events already queued are
        # dispatched before (this connection did not have the stream yet), later ones after
        with self._lock:
            self._drain()
            conn.streams.update(parsed)
            if ack:
                self._send(conn, None, {"result": None, "id": req_id})
            for name, (sym, channel, opt) in parsed.items():  # first push: the current state
                s = self._symbols.get(sym)
                if channel == "depth" or channel in ("trade", "aggTrade"):
                    continue  # diff and trade streams start with the next change
                if sym == "*":
                    payload = [self._ticker_payload(x) if channel == "ticker" else self._mini_ticker_payload(x)
                               for x in self._symbols.values()]
                elif s is None:
                    continue
                elif channel == "kline":
                    if s.frozen_at is None:
                        self._ensure_live_candle(s, opt)
                    payload = self._kline_payload(s, opt)
                else:
                    payload = self._stream_payload(parsed[name], ("ticker", sym))
                if payload is not None:
                    self._send(conn, name, payload)

    # ------------------------------------------------------------------ REST
    async def _http(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if request.headers.get("Upgrade", "").lower() == "websocket" and (
                path == "/ws" or path.startswith("/ws/") or path.rstrip("/") == "/stream"):
            return await self._websocket(request)
        params = dict(request.query)
        route = ROUTES.get(path) if request.method == "GET" else None
        record = {"method": request.method, "path": path, "params": params, "known": route is not None,
                  "status": None, "fault": None, "time": time.time()}
        with self._lock:
            self.requests.append(record)
            fault = next((f for f in self._faults if f.remaining > 0 and f.path == path), None)
            if fault is not None:
                fault.remaining -= 1
                fault.hits.append(record)
                record["fault"] = fault.kind
        status, payload, headers = self._answer(route, fault, request.method, path, params)
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.delay)
        record["status"] = status
        if isinstance(payload, str):
            return web.Response(status=status, text=payload, content_type="text/html", headers=headers)
        return web.Response(status=status, text=json.dumps(payload), content_type="application/json",
                            headers=headers)

    def _answer(self, route, fault, method, path, params) -> tuple[int, Any, dict]:
        kind = fault.kind if fault is not None else None
        if kind == "http_500":
            return 500, HTML_500, {}
        if kind in ("http_429", "http_418"):
            err = ERR_RATE_LIMIT if kind == "http_429" else ERR_BANNED
            return err.http_status, err.body(), {"Retry-After": "1"}
        if route is None:
            return 404, {"code": -1, "msg": f"Unknown endpoint {method} {path}"}, {}
        try:
            with self._lock:
                return 200, route(self, params), {}
        except BinanceError as e:
            return e.http_status, e.body(), {}
        except Exception:  # a bug in the fake: answer like Binance's -1000 and keep the traceback
            self.server_errors.append(traceback.format_exc())
            return 500, {"code": -1000, "msg": "An unknown error occurred while processing the request."}, {}

    # REST handlers (lock held) -----------------------------------------------------
    def _market(self, params: Mapping[str, str]) -> _Symbol:
        sym = params.get("symbol")
        if not sym:
            raise err_mandatory("symbol")
        if sym not in self._symbols:
            raise ERR_BAD_SYMBOL
        return self._symbols[sym]

    def _selected(self, params: Mapping[str, str]) -> tuple[list[_Symbol], bool]:
        if params.get("symbol"):
            return [self._market(params)], True
        if params.get("symbols"):
            try:
                ids = json.loads(params["symbols"])
            except ValueError:
                raise BinanceError(400, -1100, "Illegal characters found in parameter 'symbols'; legal range is "
                                               + SYMBOLS_PATTERN) from None
            if any(i not in self._symbols for i in ids):
                raise ERR_BAD_SYMBOL
            return [self._symbols[i] for i in ids], False
        return list(self._symbols.values()), False

    def rest_ticker_24hr(self, params: Mapping[str, str]) -> Any:
        """Market data endpoints -> 24hr ticker price change statistics (FULL)."""
        specs, single = self._selected(params)
        rows = []
        for s in specs:
            p = self._ticker_payload(s)
            rows.append({
                "symbol": s.spec.id, "priceChange": p["p"], "priceChangePercent": p["P"],
                "weightedAvgPrice": p["w"], "prevClosePrice": p["x"], "lastPrice": p["c"], "lastQty": p["Q"],
                "bidPrice": p["b"], "bidQty": p["B"], "askPrice": p["a"], "askQty": p["A"],
                "openPrice": p["o"], "highPrice": p["h"], "lowPrice": p["l"], "volume": p["v"],
                "quoteVolume": p["q"], "openTime": p["O"], "closeTime": p["C"], "firstId": p["F"],
                "lastId": p["L"], "count": p["n"],
            })
        return rows[0] if single else rows

    def rest_book_ticker(self, params: Mapping[str, str]) -> Any:
        """Market data endpoints -> Symbol order book ticker."""
        specs, single = self._selected(params)
        rows = []
        for s in specs:
            p = self._book_ticker_payload(s)
            rows.append({"symbol": s.spec.id, "bidPrice": p["b"], "bidQty": p["B"],
                         "askPrice": p["a"], "askQty": p["A"]})
        return rows[0] if single else rows

    def rest_ticker_price(self, params: Mapping[str, str]) -> Any:
        """Market data endpoints -> Symbol price ticker."""
        specs, single = self._selected(params)
        rows = [{"symbol": s.spec.id, "price": fmt(s.last)} for s in specs]
        return rows[0] if single else rows

    def rest_depth(self, params: Mapping[str, str]) -> dict:
        """Market data endpoints -> Order book (limit default 100, max 5000)."""
        s = self._market(params)
        limit = self._int(params, "limit", 100)
        if limit < 1:
            raise BinanceError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        return self._partial_depth_payload(s, min(limit, 5000))

    def rest_klines(self, params: Mapping[str, str]) -> list:
        """Market data endpoints -> Kline/Candlestick data. Candles whose open time lies in
        [startTime, endTime]; with startTime the oldest ``limit`` of them, else the newest."""
        s = self._market(params)
        interval = params.get("interval")
        if not interval:
            raise err_mandatory("interval")
        if interval not in INTERVALS_MS:
            raise ERR_BAD_INTERVAL
        limit = self._int(params, "limit", 500)
        if limit < 1:
            raise BinanceError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        limit = min(limit, 1000)
        start, end = self._int(params, "startTime", None), self._int(params, "endTime", None)
        if start is not None and end is not None and start > end:
            raise BinanceError(400, -1023, "Start time is greater than end time.")
        rows = [r for t, r in s.candles.get(interval, {}).items()
                if (start is None or t >= start) and (end is None or t <= end)]
        rows = rows[:limit] if start is not None else rows[-limit:]
        ms = interval_ms(interval)
        return [[r[0], fmt(r[1]), fmt(r[2]), fmt(r[3]), fmt(r[4]), fmt(r[5]), r[0] + ms - 1,
                 fmt(r[5] * r[4]), 10, fmt(r[5] / 2), fmt(r[5] / 2 * r[4]), "0"] for r in rows]

    @staticmethod
    def _int(params: Mapping[str, str], name: str, default: int | None) -> int | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; "
                                           "legal range is '^[0-9]{1,20}$'.") from None


ROUTES: dict[str, Any] = {  # GET path -> handler(fake, params), called with the lock held
    "/api/v3/ping": lambda fake, p: {},
    "/api/v3/time": lambda fake, p: {"serverTime": fake.now_ms()},
    "/api/v3/exchangeInfo": lambda fake, p: fake._info.exchange_info(p),
    "/api/v3/ticker/24hr": FakeBinancePublic.rest_ticker_24hr,
    "/api/v3/ticker/bookTicker": FakeBinancePublic.rest_book_ticker,
    "/api/v3/ticker/price": FakeBinancePublic.rest_ticker_price,
    "/api/v3/depth": FakeBinancePublic.rest_depth,
    "/api/v3/klines": FakeBinancePublic.rest_klines,
}


def start_fake_binance_public(markets=None, prices=None, **kwargs) -> FakeBinancePublic:
    """Start a fake on a free port and return it (``.stop()`` it, or use ``with``)."""
    return FakeBinancePublic(markets, prices, **kwargs).start()
