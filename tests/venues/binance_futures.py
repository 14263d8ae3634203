"""A local fake of Binance's USDⓈ-M futures REST API (``/fapi/...``), for pointing the real
``ccxt.binanceusdm`` at: perpetuals, one-way or hedge position mode, leverage and margin type,
conditional orders (the algo service), positions, and a test's hand on the exchange. Standard
library only, like the spot fake::

    fake = start_fake_binance_futures()
    ex = make_ccxt_binanceusdm(fake)          # tests.venues.ccxt_helpers
    fake.set_price("BTC/USDT:USDT", "58000")  # triggers the conditional orders it crosses
    assert fake.unknown_requests == []

Request security as the spot fake's (:meth:`FakeBinance._authenticate`, the USDⓈ-M docs'
"General Info" → "Endpoint Security Type" / "SIGNED Endpoint Security"): ``X-MBX-APIKEY``, a
hex HMAC-SHA256 ``signature`` of the query string + body, the ``timestamp`` within
``recvWindow``. Errors as Binance sends them (HTTP 4xx, ``{"code": -NNNN, "msg": ...}``).
State and matching: :mod:`.binance_futures_engine`.

Worth knowing: ccxt's ``binance.get_exceptions_by_url()`` applies its USDⓈ-M error table only
to URLs on ``https://fapi.binance.com/``; against this fake only the common table applies, so
e.g. -2021 "Order would immediately trigger." and -2022 "ReduceOnly Order is rejected." reach
Tradewire as a plain ``ExchangeError`` (outcome unknown) where the real host gives
``OrderImmediatelyFillable`` / ``InvalidOrder`` (rejected). Tests of refusals should keep that
in mind. Faults: as the spot fake's
(:meth:`FakeBinanceFutures.inject`), every request kept in :attr:`requests`.
"""

from __future__ import annotations

import time
import traceback
from decimal import Decimal
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from .binance_futures_engine import UsdmEngine
from .binance_spot import ERR_DUPLICATE, ERR_OUTSIDE_WINDOW, ERR_RATE_LIMIT, HTML_500, FakeBinance
from .binance_spot import _Handler as SpotHandler
from .fake_server import FAULT_KINDS, FakeServer
from .binance_rules import BinanceError

SIDES = {None: "BOTH", "long": "LONG", "short": "SHORT"}
# The parameters of the settings endpoints as their doc pages list them ("Change Initial
# Leverage", "Change Margin Type", "Change Position Mode"): anything else is -1104
# UNREAD_PARAMETERS ("Error Codes": "Not all sent parameters were read; read '%s' parameter(s)
# but was sent '%s'."), as Binance answers a request with a parameter it does not read.
SIGNING = {"timestamp", "recvWindow", "signature"}
READS = {
    ("POST", "/fapi/v1/leverage"): {"symbol", "leverage"} | SIGNING,
    ("POST", "/fapi/v1/marginType"): {"symbol", "marginType"} | SIGNING,
    ("POST", "/fapi/v1/positionSide/dual"): {"dualSidePosition"} | SIGNING,
}


class FakeBinanceFutures(FakeServer):
    """The fake venue: engine, request log, faults and the HTTP server around them (``min_notional``
    is not a fault offered here)."""

    thread_name = "fake-binance-usdm"
    fault_kinds = tuple(k for k in FAULT_KINDS if k != "min_notional")

    _authenticate = FakeBinance._authenticate  # the same SIGNED check as the spot fake

    def __init__(self, perpetuals=None, prices=None, wallet="10000", *, api_key: str = "fake-usdm-key",
                 secret: str = "fake-usdm-secret", host: str = "127.0.0.1"):
        super().__init__(_Handler, api_key=api_key, secret=secret, host=host)
        self.engine = UsdmEngine(perpetuals, prices, wallet, clock=self.now_ms)

    def set_price(self, symbol: str, price) -> None:
        """Move the price of ``BTC/USDT:USDT`` (or ``BTCUSDT``): triggers what it crosses."""
        self.engine.set_price(_symbol_id(symbol), price)

    def close_by_hand(self, symbol: str, side: str | None = None) -> None:
        """Close the position (in hedge mode its ``side``, long / short) as its holder would on the
        exchange's site, not through Tradewire."""
        self.engine.close_by_hand(_symbol_id(symbol), SIDES[side])

    # --------------------------------------------------------- test inspection
    def position_size(self, symbol: str, side: str | None = None) -> Decimal:
        """Signed size of the position (one-way), or of its ``side`` long / short (hedge mode)."""
        with self.engine.lock:
            return self.engine.position(_symbol_id(symbol), SIDES[side])["size"]

    def leverage(self, symbol: str) -> int:
        with self.engine.lock:
            return self.engine.lev(_symbol_id(symbol))

    def margin_type(self, symbol: str) -> str:
        with self.engine.lock:
            return self.engine.margin_type.get(_symbol_id(symbol), "CROSSED")

    def order(self, client_order_id: str) -> dict | None:
        """The order (Query Order's view) or the conditional order (Query Algo Order's) by client id."""
        with self.engine.lock:
            found = next((o for o in reversed(self.engine.orders) if o["client"] == client_order_id), None)
            if found is not None:
                return self.engine.order_view(found)
            algo = next((a for a in reversed(self.engine.algo_orders) if a["client"] == client_order_id), None)
            return self.engine.algo_view(algo) if algo is not None else None

    def algo_orders(self, status: str | None = None) -> list[dict]:
        with self.engine.lock:
            return [self.engine.algo_view(a) for a in self.engine.algo_orders if status is None or a["status"] == status]

    # ------------------------------------------------------------------ serving
    def handle(self, method: str, raw_path: str, headers, body: str) -> tuple[int, Any, float, dict]:
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
        kind = fault.kind if fault else None
        record["fault"] = kind
        errors = {"rate_limit": ERR_RATE_LIMIT, "duplicate": ERR_DUPLICATE, "timestamp": ERR_OUTSIDE_WINDOW}
        if kind in errors:
            record["status"] = errors[kind].http_status
            return errors[kind].http_status, errors[kind].body(), 0.0, (
                {"Retry-After": "1"} if errors[kind].http_status == 429 else {})
        if kind == "http_500" and not fault.store:
            return 500, HTML_500, 0.0, {}
        if kind == "delay_before_store":
            self._stopping.wait(fault.delay)
        if route is None:
            return 404, {"code": -1, "msg": f"Unknown endpoint {method} {path}"}, 0.0, {}
        handler, signed = route
        try:
            if signed:
                self._authenticate(headers, query, body, params)
            reads = READS.get((method, path))
            if reads is not None and set(params) - reads:
                raise BinanceError(400, -1104, f"Not all sent parameters were read; read "
                                               f"'{len(set(params) & reads)}' parameter(s) but was sent '{len(params)}'.")
            status, payload = 200, handler(self, params)
        except BinanceError as e:
            status, payload = e.http_status, e.body()
        except Exception:  # a bug in the fake itself
            self.server_errors.append(traceback.format_exc())
            status, payload = 500, {"code": -1000, "msg": "An unknown error occurred while processing the request."}
        record["status"] = status
        if kind == "http_500":
            return 500, HTML_500, 0.0, {}
        return status, payload, (fault.delay if kind == "delay_after_store" else 0.0), {}


def _symbol_id(symbol: str) -> str:
    return symbol.replace("/", "").split(":")[0]


def _exchange_info(fake: FakeBinanceFutures, params) -> dict:
    """Market Data -> Exchange Information (GET /fapi/v1/exchangeInfo)."""
    return {"timezone": "UTC", "serverTime": fake.now_ms(), "futuresType": "U_MARGINED",
            "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                           {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200}],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [p.info() for p in fake.engine.perpetuals.values()]}


ROUTES: dict[tuple[str, str], tuple[Callable[[FakeBinanceFutures, dict], Any], bool]] = {
    ("GET", "/fapi/v1/ping"): (lambda f, p: {}, False),
    ("GET", "/fapi/v1/time"): (lambda f, p: {"serverTime": f.now_ms()}, False),
    ("GET", "/fapi/v1/exchangeInfo"): (_exchange_info, False),
    ("GET", "/fapi/v1/leverageBracket"): (lambda f, p: f.engine.leverage_bracket(p), True),
    ("POST", "/fapi/v1/order"): (lambda f, p: f.engine.new_order(p), True),
    ("GET", "/fapi/v1/order"): (lambda f, p: f.engine.query_order(p), True),
    ("DELETE", "/fapi/v1/order"): (lambda f, p: f.engine.cancel_order(p), True),
    ("GET", "/fapi/v1/openOrders"): (lambda f, p: f.engine.open_orders(p), True),
    ("GET", "/fapi/v1/userTrades"): (lambda f, p: f.engine.user_trades(p), True),
    ("POST", "/fapi/v1/algoOrder"): (lambda f, p: f.engine.new_algo_order(p), True),
    ("GET", "/fapi/v1/algoOrder"): (lambda f, p: f.engine.query_algo_order(p), True),
    ("DELETE", "/fapi/v1/algoOrder"): (lambda f, p: f.engine.cancel_algo_order(p), True),
    ("GET", "/fapi/v1/openAlgoOrders"): (lambda f, p: f.engine.open_algo_orders(p), True),
    ("GET", "/fapi/v3/positionRisk"): (lambda f, p: f.engine.position_risk(p), True),
    ("GET", "/fapi/v3/account"): (lambda f, p: f.engine.account(p), True),
    ("GET", "/fapi/v1/symbolConfig"): (lambda f, p: f.engine.symbol_config(p), True),
    ("POST", "/fapi/v1/leverage"): (lambda f, p: f.engine.set_leverage(p), True),
    ("POST", "/fapi/v1/marginType"): (lambda f, p: f.engine.set_margin_type(p), True),
    ("POST", "/fapi/v1/positionSide/dual"): (lambda f, p: f.engine.set_dual_side(p), True),
    ("GET", "/fapi/v1/positionSide/dual"): (lambda f, p: f.engine.get_dual_side(p), True),
}


class _Handler(SpotHandler):
    """The spot fake's HTTP handler: the request to ``fake.handle``, its answer back."""

    server_version = "FakeBinanceUsdm/1.0"


def start_fake_binance_futures(perpetuals=None, prices=None, wallet="10000", **kwargs) -> FakeBinanceFutures:
    """Start a fake on a free port (``perpetuals``: :class:`Perpetual` list; ``prices``:
    ``{"BTCUSDT": "60000"}``; ``wallet``: USDT)."""
    return FakeBinanceFutures(perpetuals, prices, wallet, **kwargs).start()
