"""A local fake of Bybit's v5 REST API for *linear perpetuals*, for pointing the real
``ccxt.bybit`` at (unified account, one-way mode; leverage, margin mode and position mode can
be set, and a test can close or liquidate a position "by hand on the exchange"). Standard library only, like the Binance fake::

    fake = start_fake_bybit()
    ex = make_ccxt_bybit(fake)             # tests.venues.ccxt_helpers
    fake.inject("/v5/order/create", "delay_after_store", delay=1.5)
    ...
    assert fake.count_orders("my-link-id") == 1 and fake.unknown_requests == []

Authentication ("Integration Guidance" → "Authentication for HTTP"): headers ``X-BAPI-API-KEY``,
``X-BAPI-TIMESTAMP``, ``X-BAPI-RECV-WINDOW``, ``X-BAPI-SIGN`` = hex HMAC-SHA256(secret,
timestamp + api key + recv window + (query string | JSON body)); a timestamp outside
``[server - recvWindow, server + 1000)`` is retCode 10002. Business errors come as HTTP 200 with
a non-zero ``retCode``. State and matching: :mod:`.bybit_engine`.

ccxt options that keep ccxt to these endpoints: :data:`LINEAR_ONLY_OPTIONS`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from .binance_spot import HTML_500
from .bybit_engine import BybitError, LinearEngine
from .fake_server import FakeServer

FAULT_KINDS = ("delay_before_store", "delay_after_store", "http_500", "rate_limit", "duplicate", "timestamp")
ERRORS = {
    "rate_limit": BybitError(10006, "Too many visits!"),
    "duplicate": BybitError(110072, "OrderLinkedID is duplicate"),
    "timestamp": BybitError(10002, "invalid request, please check your server timestamp or recv_window param"),
}
# ccxt 4.5 bybit: linear markets only (no spot/inverse/option instrument calls) and the account
# type known up front (no /v5/user/query-api + /v5/account/info probe).
LINEAR_ONLY_OPTIONS: dict[str, Any] = {
    "fetchMarkets": {"types": ["linear"]},
    "enableUnifiedAccount": True,
    "enableUnifiedMargin": False,
    "defaultType": "swap",
}


def bybit_signature(secret: str, timestamp: str, api_key: str, recv_window: str, payload: str) -> str:
    return hmac.new(secret.encode(), (timestamp + api_key + recv_window + payload).encode(), hashlib.sha256).hexdigest()


class FakeBybit(FakeServer):
    """The fake venue: engine, request log, faults and the HTTP server around them. Faults as the
    Binance fake's (``rate_limit`` is retCode 10006, ``duplicate`` 110072, ``timestamp`` 10002)."""

    thread_name = "fake-bybit"
    fault_kinds = FAULT_KINDS

    def __init__(self, instruments=None, prices=None, wallet="10000", *, api_key: str = "fake-bybit-key",
                 secret: str = "fake-bybit-secret", host: str = "127.0.0.1"):
        super().__init__(_Handler, api_key=api_key, secret=secret, host=host)
        self.engine = LinearEngine(instruments, prices, wallet, clock=self.now_ms)

    def set_price(self, symbol: str, price) -> None:
        self.engine.set_price(symbol.replace("/", "").split(":")[0], price)

    def fill_partially(self, order_link_id: str, qty) -> None:
        self.engine.fill_partially(order_link_id, qty)

    def close_by_hand(self, symbol: str, side: str | None = None) -> None:
        """Close the position (in hedge mode ``side`` long / short) as its holder would on the
        exchange's site (not through Tradewire)."""
        self.engine.close_by_hand(_symbol_id(symbol), {None: 0, "long": 1, "short": 2}[side])

    def liquidate(self, symbol: str, price) -> None:
        """The venue liquidates the position of ``symbol`` at ``price``."""
        self.engine.liquidate(_symbol_id(symbol), price)

    def leverage(self, symbol: str) -> Any:
        with self.engine.lock:
            return self.engine.lev(_symbol_id(symbol))

    # --------------------------------------------------------- test inspection
    def count_orders(self, order_link_id: str) -> int:
        with self.engine.lock:
            return sum(1 for o in self.engine.orders if o["link"] == order_link_id)

    def order(self, order_link_id: str) -> dict | None:
        with self.engine.lock:
            found = next((o for o in self.engine.orders if o["link"] == order_link_id), None)
            return self.engine.order_view(found) if found else None

    def position_size(self, symbol: str, side: str | None = None) -> Any:
        """Signed position size (base units) of ``BTC/USDT:USDT`` or ``BTCUSDT`` (in hedge mode
        of its ``side``, long / short)."""
        with self.engine.lock:
            return self.engine.position(symbol.replace("/", "").split(":")[0], {None: 0, "long": 1, "short": 2}[side])["size"]

    def _authenticate(self, headers, payload: str) -> None:
        key, ts = headers.get("X-BAPI-API-KEY"), headers.get("X-BAPI-TIMESTAMP")
        recv, sign = headers.get("X-BAPI-RECV-WINDOW") or "5000", headers.get("X-BAPI-SIGN")
        if key != self.api_key:
            raise BybitError(10003, "API key is invalid.")
        if not ts or not sign:
            raise BybitError(10004, "error sign! origin_string[]")
        if not hmac.compare_digest(sign, bybit_signature(self.secret, ts, key, recv, payload)):
            raise BybitError(10004, "error sign!")
        now = self.now_ms()
        if not (now - int(recv) <= int(ts) < now + 1000):
            raise ERRORS["timestamp"]

    def handle(self, method: str, raw_path: str, headers, body: str) -> tuple[int, Any, float]:
        split = urlsplit(raw_path)
        path, query = split.path, split.query
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        if body:
            params.update(json.loads(body))
        route = ROUTES.get((method, path))
        record = {"method": method, "path": path, "known": route is not None, "fault": None, "params": params,
                  "time": time.time()}
        with self._lock:
            self.requests.append(record)
        fault = self._take_fault(method, path)
        kind = fault.kind if fault else None
        record["fault"] = kind
        if kind in ERRORS:
            return 200, self._envelope(error=ERRORS[kind]), 0.0
        if kind == "http_500" and not fault.store:
            return 500, HTML_500, 0.0
        if kind == "delay_before_store":
            self._stopping.wait(fault.delay)
        if route is None:
            return 404, {"retCode": 10001, "retMsg": f"Unknown endpoint {method} {path}"}, 0.0
        handler, signed = route
        try:
            if signed:
                self._authenticate(headers, body if method == "POST" else query)
            reply = self._envelope(result=handler(self, params))
        except BybitError as e:
            reply = self._envelope(error=e)
        except Exception:  # a bug in the fake itself
            import traceback

            self.server_errors.append(traceback.format_exc())
            return 500, HTML_500, 0.0
        if kind == "http_500":
            return 500, HTML_500, 0.0
        return 200, reply, (fault.delay if kind == "delay_after_store" else 0.0)

    def _envelope(self, result: Any = None, error: BybitError | None = None) -> dict:
        if error is not None:
            return {"retCode": error.code, "retMsg": error.msg, "result": {}, "retExtInfo": {}, "time": self.now_ms()}
        return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": self.now_ms()}


def _symbol_id(symbol: str) -> str:
    return symbol.replace("/", "").split(":")[0]


def _time(fake: FakeBybit, params) -> dict:
    now = fake.now_ms()
    return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}


ROUTES: dict[tuple[str, str], tuple[Callable[[FakeBybit, dict], Any], bool]] = {
    ("GET", "/v5/market/time"): (_time, False),
    ("GET", "/v5/market/instruments-info"): (lambda f, p: f.engine.instruments_info(p), False),
    ("GET", "/v5/asset/coin/query-info"): (lambda f, p: f.engine.coins(p), True),
    ("POST", "/v5/order/create"): (lambda f, p: f.engine.create(p), True),
    ("POST", "/v5/order/cancel"): (lambda f, p: f.engine.cancel(p), True),
    ("GET", "/v5/order/realtime"): (lambda f, p: f.engine.realtime(p), True),
    ("GET", "/v5/execution/list"): (lambda f, p: f.engine.execution_list(p), True),
    ("GET", "/v5/position/list"): (lambda f, p: f.engine.position_list(p), True),
    ("GET", "/v5/account/wallet-balance"): (lambda f, p: f.engine.wallet_balance(p), True),
    ("GET", "/v5/account/info"): (lambda f, p: f.engine.account_info(p), True),
    ("POST", "/v5/position/set-leverage"): (lambda f, p: f.engine.set_leverage(p), True),
    ("POST", "/v5/account/set-margin-mode"): (lambda f, p: f.engine.set_margin_mode(p), True),
    ("POST", "/v5/position/switch-mode"): (lambda f, p: f.engine.switch_mode(p), True),
}


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeBybit/1.0"

    def _serve(self) -> None:
        fake: FakeBybit = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        status, payload, wait = fake.handle(self.command, self.path, self.headers, body)
        if wait:
            fake.wait(wait)
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if isinstance(payload, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args) -> None:
        pass


def start_fake_bybit(instruments=None, prices=None, wallet="10000", **kwargs) -> FakeBybit:
    """Start a fake on a free port (``instruments``: :class:`Instrument` list; ``prices``:
    ``{"BTCUSDT": "60000"}``; ``wallet``: USDT)."""
    return FakeBybit(instruments, prices, wallet, **kwargs).start()
