"""A local fake of Binance's SPOT REST API, for pointing the real ``ccxt.binance`` at.

Standard library only: a :class:`http.server.ThreadingHTTPServer` on ``127.0.0.1`` and a free
port, served from a daemon thread. Usage::

    fake = start_fake_binance()                 # default BTC/USDT, ETH/USDT, DOGE/USDT
    ex = make_ccxt_binance(fake)                # tests.venues.ccxt_helpers
    fake.inject("/api/v3/order", "delay_after_store", method="POST", delay=1.5)
    ...
    assert fake.count_orders("my-client-id") == 1 and fake.unknown_requests == []
    fake.stop()

What is emulated (Binance SPOT API docs, section names as on developers.binance.com):

* "Request security" / "Endpoint security type": ``X-MBX-APIKEY`` header; SIGNED endpoints need
  ``signature`` = hex HMAC-SHA256(secret, totalParams) where totalParams is the query string
  concatenated with the request body (``signature`` itself excluded); "Timing security":
  ``timestamp < serverTime + 1000 and serverTime - timestamp <= recvWindow`` (default 5000,
  max 60000) else -1021.
* Endpoints: ROUTES below; anything else answers 404 and is kept in :attr:`unknown_requests`.
* errors.md codes/messages; state and order matching live in :mod:`.binance_engine`.

Faults (:meth:`FakeBinance.inject`) apply to the next ``count`` requests matching path (and method).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import traceback
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from .binance_engine import SpotEngine
from .fake_server import FakeServer
from .binance_rules import BinanceError, err_mandatory


# errors.md: -2014 BAD_API_KEY_FMT, -2015 REJECTED_MBX_KEY, -1022 INVALID_SIGNATURE, -1021 INVALID_TIMESTAMP
ERR_KEY_FORMAT = BinanceError(401, -2014, "API-key format invalid.")
ERR_REJECTED_KEY = BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
ERR_SIGNATURE = BinanceError(401, -1022, "Signature for this request is not valid.")
ERR_OUTSIDE_WINDOW = BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
ERR_AHEAD = BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
ERR_RECV_WINDOW = BinanceError(400, -1131, "recvWindow must be less than 60000")
# -1003 TOO_MANY_REQUESTS is sent with HTTP 429 ("LIMITS" section of the REST docs)
ERR_RATE_LIMIT = BinanceError(429, -1003, "Too much request weight used; current limit is 6000 request weight "
                                          "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid "
                                          "polling the API.")
# -1015 TOO_MANY_ORDERS, HTTP 429: past the ORDERS limit of exchangeInfo.rateLimits (errors.md)
ERR_TOO_MANY_ORDERS = BinanceError(429, -1015, "Too many new orders.")
ERR_MIN_NOTIONAL = BinanceError(400, -1013, "Filter failure: NOTIONAL")
ERR_DUPLICATE = BinanceError(400, -2010, "Duplicate order sent.")
HTML_500 = "<html><body><h1>500 Internal Server Error</h1></body></html>"  # what a gateway sends


def binance_signature(secret: str, query: str, body: str) -> str:
    """HMAC-SHA256 hex digest of totalParams = query string + request body, ``signature`` left out."""
    def strip(raw: str) -> str:
        return "&".join(p for p in raw.split("&") if p and not p.startswith("signature="))
    return hmac.new(secret.encode(), (strip(query) + strip(body)).encode(), hashlib.sha256).hexdigest()


class FakeBinance(FakeServer):
    """The fake venue: engine state, request log, fault queue and the HTTP server around them."""

    thread_name = "fake-binance"

    def __init__(self, markets=None, prices=None, balances=None, *, api_key: str = "fake-api-key",
                 secret: str = "fake-secret", commission_rate="0.001", host: str = "127.0.0.1",
                 order_limit: tuple[int, float] | None = None):
        super().__init__(_Handler, api_key=api_key, secret=secret, host=host)
        # Binance's ORDERS rate limit (exchangeInfo.rateLimits, e.g. 50 per 10 SECOND): a new
        # order past it is answered 429 / -1015 and not placed. (count, seconds), None: no limit.
        self.order_limit = order_limit
        self._order_times: list[float] = []
        self.engine = SpotEngine(markets, prices, balances, commission_rate=commission_rate, clock=self.now_ms)

    def set_price(self, symbol: str, price) -> list[dict]:
        """Set a symbol's price (``BTC/USDT`` or ``BTCUSDT``); returns the resting orders that filled."""
        return self.engine.set_price(symbol, price)

    def fill_partially(self, client_order_id: str, quantity) -> dict:
        """Fill part of a resting order (see :meth:`SpotEngine.fill_partially`)."""
        return self.engine.fill_partially(client_order_id, quantity)

    def set_balance(self, asset: str, free) -> None:
        with self.engine.lock:
            self.engine._bal(asset)["free"] = Decimal(str(free))

    # ------------------------------------------------------- test inspection
    @property
    def orders(self) -> list[dict]:
        """Every order ever accepted, oldest first, rendered like Query order (has ``clientOrderId``)."""
        return self.engine.orders_snapshot()

    @property
    def trades(self) -> list[dict]:
        return self.engine.trades_snapshot()

    @property
    def balances(self) -> dict:
        return self.engine.balances_snapshot()

    def count_orders(self, client_order_id: str) -> int:
        return sum(1 for o in self.orders if o["clientOrderId"] == client_order_id)

    def _authenticate(self, headers, query: str, body: str, params: dict[str, str]) -> None:
        """Endpoint security type (SIGNED) + Timing security; raises BinanceError on failure."""
        key = headers.get("X-MBX-APIKEY")
        if not key:
            raise ERR_KEY_FORMAT
        if key != self.api_key:
            raise ERR_REJECTED_KEY
        if not params.get("signature"):
            raise err_mandatory("signature")
        if not params.get("timestamp"):
            raise err_mandatory("timestamp")
        if not hmac.compare_digest(params["signature"].lower(), binance_signature(self.secret, query, body)):
            raise ERR_SIGNATURE
        try:
            timestamp = int(params["timestamp"])
            recv_window = int(params.get("recvWindow") or 5000)
        except ValueError:
            raise err_mandatory("timestamp") from None
        if recv_window > 60000:
            raise ERR_RECV_WINDOW
        server_time = self.now_ms()
        if timestamp >= server_time + 1000:
            raise ERR_AHEAD
        if server_time - timestamp > recv_window:
            raise ERR_OUTSIDE_WINDOW

    def handle(self, method: str, raw_path: str, headers, body: str) -> tuple[int, Any, float, dict]:
        """Answer one request: (http status, JSON body or str, seconds to wait before replying, headers)."""
        split = urlsplit(raw_path)
        path, query = split.path, split.query
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        route = ROUTES.get((method, path))
        record = {"method": method, "path": path, "known": route is not None, "fault": None, "status": None,
                  "params": {k: v for k, v in params.items() if k != "signature"}, "time": time.time()}
        with self._lock:
            self.requests.append(record)

        fault = self._take_fault(method, path)
        if fault is not None:
            record["fault"] = fault.kind
            fault.hits.append(record)
        status, payload, wait, extra = self._dispatch(route, fault, method, path, headers, query, body, params)
        record["status"] = status
        return status, payload, wait, extra

    def _dispatch(self, route, fault, method, path, headers, query, body, params):
        kind = fault.kind if fault is not None else None
        errors = {"rate_limit": ERR_RATE_LIMIT, "min_notional": ERR_MIN_NOTIONAL,
                  "duplicate": ERR_DUPLICATE, "timestamp": ERR_OUTSIDE_WINDOW}
        if kind in errors:
            err = errors[kind]
            return err.http_status, err.body(), 0.0, ({"Retry-After": "1"} if err.http_status == 429 else {})
        if kind == "http_500" and not fault.store:
            return 500, HTML_500, 0.0, {}
        if kind == "delay_before_store":
            self._stopping.wait(fault.delay)
        if route is None:
            return 404, {"code": -1, "msg": f"Unknown endpoint {method} {path}"}, 0.0, {}
        if method == "POST" and path == "/api/v3/order" and self._over_order_limit():
            err = ERR_TOO_MANY_ORDERS
            count, seconds = self.order_limit
            body = {"code": err.code, "msg": f"Too many new orders; current limit is {count} orders per {seconds:g} SECOND."}
            return err.http_status, body, 0.0, {"Retry-After": "1"}
        handler, signed = route
        try:
            if signed:
                self._authenticate(headers, query, body, params)
            status, payload = 200, handler(self, params)
        except BinanceError as e:
            status, payload = e.http_status, e.body()
        except Exception:  # a bug in the fake: answer like Binance's -1000 and keep the traceback
            self.server_errors.append(traceback.format_exc())
            status, payload = 500, {"code": -1000, "msg": "An unknown error occurred while processing the request."}
        if kind == "http_500":  # store=True: the work happened, the client only sees a 500
            return 500, HTML_500, 0.0, {}
        return status, payload, (fault.delay if kind == "delay_after_store" else 0.0), {}

    def _over_order_limit(self) -> bool:
        """Count this new order against ``order_limit`` (a sliding window); True when it is over."""
        if self.order_limit is None:
            return False
        count, seconds = self.order_limit
        now = time.monotonic()
        with self._lock:
            self._order_times = [t for t in self._order_times if t > now - seconds]
            if len(self._order_times) >= count:
                return True
            self._order_times.append(now)
        return False


# --------------------------------------------------------------------------- endpoints
# Each handler gets (fake, params) and returns the JSON body. (method, path) -> (handler, signed)
def _time(fake: FakeBinance, params) -> dict:
    """General endpoints -> Check server time (GET /api/v3/time)."""
    return {"serverTime": fake.now_ms()}


ROUTES: dict[tuple[str, str], tuple[Callable[[FakeBinance, dict], Any], bool]] = {
    ("GET", "/api/v3/ping"): (lambda fake, p: {}, False),  # General endpoints -> Test connectivity
    ("GET", "/api/v3/time"): (_time, False),
    ("GET", "/api/v3/exchangeInfo"): (lambda fake, p: fake.engine.exchange_info(p), False),
    ("GET", "/api/v3/ticker/price"): (lambda fake, p: fake.engine.ticker_price(p), False),
    ("GET", "/api/v3/ticker/24hr"): (lambda fake, p: fake.engine.ticker_24hr(p), False),
    ("POST", "/api/v3/order"): (lambda fake, p: fake.engine.new_order(p), True),
    ("GET", "/api/v3/order"): (lambda fake, p: fake.engine.query_order(p), True),
    ("DELETE", "/api/v3/order"): (lambda fake, p: fake.engine.cancel_order(p), True),
    ("GET", "/api/v3/openOrders"): (lambda fake, p: fake.engine.open_orders(p), True),
    ("GET", "/api/v3/account"): (lambda fake, p: fake.engine.account(p), True),
    ("GET", "/api/v3/myTrades"): (lambda fake, p: fake.engine.my_trades(p), True),
}


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeBinance/1.0"

    def _serve(self) -> None:
        fake: FakeBinance = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        status, payload, wait, extra = fake.handle(self.command, self.path, self.headers, body)
        if wait:
            fake.wait(wait)  # delay_after_store: the work is done, the reply is late
        if isinstance(payload, str):
            data, ctype = payload.encode(), "text/html"
        else:
            data, ctype = json.dumps(payload).encode(), "application/json;charset=UTF-8"
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout was shorter than our delay)

    do_GET = do_POST = do_DELETE = do_PUT = _serve

    def log_message(self, format: str, *args) -> None:  # keep pytest output clean
        pass


def start_fake_binance(markets=None, prices=None, balances=None, **kwargs) -> FakeBinance:
    """Start a fake on a free port and return it (call ``.stop()`` or use it as a context manager).

    ``markets``: MarketSpec objects, dicts of MarketSpec fields or ``"BASE/QUOTE"`` strings;
    ``prices``: {"BTC/USDT": "60000", ...}; ``balances``: {"USDT": "10000", ...} (free amounts);
    kwargs: ``api_key``, ``secret``, ``commission_rate``."""
    return FakeBinance(markets, prices, balances, **kwargs).start()
