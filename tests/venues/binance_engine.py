"""In-memory state of the fake Binance SPOT venue: markets, balances, orders, trades.

No HTTP here: :mod:`tests.venues.binance_spot` parses requests, checks keys and
signatures, injects faults, and calls the methods below with the request's
parameters as strings, exactly as Binance receives them. Every method either
returns the JSON-ready response body or raises :class:`BinanceError` carrying
Binance's HTTP status, error code and message.

References (Binance SPOT API docs, developers.binance.com / github.com/binance/binance-spot-api-docs):

* "General endpoints" -> exchangeInfo / time, "Market data endpoints" -> ticker/price, ticker/24hr
* "Trading endpoints" -> New order, Cancel order;  "Account endpoints" -> Query order,
  Current open orders, Account information, Account trade list
* filters, error codes/messages and symbol entries: :mod:`.binance_rules`

Simplifications, on purpose: one price per symbol (no book; a market order fills
completely at that price as a single trade), orders fill completely or not at all (except through
the ``fill_partially`` test control),
commission is ``commission_rate`` of the quote amount and is always charged in the
quote asset (real Binance charges a buyer in the base asset unless BNB is used).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from decimal import Decimal
from typing import Callable, Mapping

from .binance_rules import (CLIENT_ID_RE, D, DEFAULT_BALANCES, DEFAULT_PRICES, EIGHT, ERR_BAD_SYMBOL,
                            ERR_NO_SUCH_ORDER, ERR_UNKNOWN_ORDER, MSG_DUPLICATE, MSG_INSUFFICIENT, MSG_WOULD_TAKE,
                            OPEN_STATUSES, SUPPORTED_TYPES, ZERO, BinanceError, MarketSpec, check_filters,
                            coerce_markets, err_illegal, err_mandatory, err_not_required, err_one_of,
                            err_rejected, floor_to_step, fmt, parse_decimal, random_client_id, symbol_info)


class SpotEngine:
    """Markets, balances, orders and trades of one fake account. Thread-safe (one lock)."""

    def __init__(self, markets=None, prices=None, balances=None, *, commission_rate="0.001",
                 clock: Callable[[], int] | None = None):
        self.lock = threading.RLock()
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.markets = {m.id: m for m in coerce_markets(markets)}
        self.by_symbol = {m.symbol: m for m in self.markets.values()}
        self.commission_rate = D(str(commission_rate))
        self.prices: dict[str, Decimal] = {}
        for sym, price in {**DEFAULT_PRICES, **dict(prices or {})}.items():
            if self._spec(sym) is not None:
                self.prices[self._spec(sym).id] = D(str(price))
        self.balances: dict[str, dict[str, Decimal]] = {}
        for asset, free in (DEFAULT_BALANCES if balances is None else balances).items():
            self.balances[asset] = {"free": D(str(free)), "locked": ZERO}
        self._orders: list[dict] = []
        self._trades: list[dict] = []
        self._order_ids = itertools.count(10_000_001)
        self._trade_ids = itertools.count(70_000_001)

    # ----------------------------------------------------------------- helpers
    def _spec(self, symbol: str) -> MarketSpec | None:
        return self.by_symbol.get(symbol) or self.markets.get(symbol)

    def _market(self, params: Mapping[str, str], required: bool = True) -> MarketSpec | None:
        sym = params.get("symbol")
        if not sym:
            if required:
                raise err_mandatory("symbol")
            return None
        if sym not in self.markets:
            raise BinanceError(*ERR_BAD_SYMBOL)
        return self.markets[sym]

    def _price(self, m: MarketSpec) -> Decimal:
        if m.id not in self.prices:
            raise BinanceError(400, -1013, "Market is closed.")  # no price configured for the symbol
        return self.prices[m.id]

    def _bal(self, asset: str) -> dict[str, Decimal]:
        return self.balances.setdefault(asset, {"free": ZERO, "locked": ZERO})

    # ------------------------------------------------------------ market data
    def exchange_info(self, params: Mapping[str, str]) -> dict:
        """General endpoints -> Exchange information (GET /api/v3/exchangeInfo)."""
        with self.lock:
            wanted = None
            if params.get("symbol"):
                wanted = [params["symbol"]]
            elif params.get("symbols"):
                wanted = json.loads(params["symbols"])
            if wanted is not None and any(s not in self.markets for s in wanted):
                raise BinanceError(*ERR_BAD_SYMBOL)
            specs = [self.markets[s] for s in wanted] if wanted is not None else list(self.markets.values())
            return {
                "timezone": "UTC",
                "serverTime": self.clock(),
                "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                ],
                "exchangeFilters": [],
                "symbols": [symbol_info(m) for m in specs],
            }

    def _ticker_specs(self, params: Mapping[str, str]) -> tuple[list[MarketSpec], bool]:
        if params.get("symbol"):
            return [self._market(params)], True
        if params.get("symbols"):
            ids = json.loads(params["symbols"])
            if any(i not in self.markets for i in ids):
                raise BinanceError(*ERR_BAD_SYMBOL)
            return [self.markets[i] for i in ids], False
        return [m for m in self.markets.values() if m.id in self.prices], False

    def ticker_price(self, params: Mapping[str, str]) -> dict | list:
        """Market data endpoints -> Symbol price ticker (GET /api/v3/ticker/price)."""
        with self.lock:
            specs, single = self._ticker_specs(params)
            rows = [{"symbol": m.id, "price": fmt(self._price(m))} for m in specs]
            return rows[0] if single else rows

    def ticker_24hr(self, params: Mapping[str, str]) -> dict | list:
        """Market data endpoints -> 24hr ticker price change statistics (GET /api/v3/ticker/24hr).

        The configured price is last, open, high, low, bid and ask: a flat day."""
        with self.lock:
            specs, single = self._ticker_specs(params)
            now = self.clock()
            rows = []
            for m in specs:
                p = fmt(self._price(m))
                rows.append({
                    "symbol": m.id, "priceChange": fmt(ZERO), "priceChangePercent": "0.000",
                    "weightedAvgPrice": p, "prevClosePrice": p, "lastPrice": p, "lastQty": fmt(D(1)),
                    "bidPrice": p, "bidQty": fmt(D(100)), "askPrice": p, "askQty": fmt(D(100)),
                    "openPrice": p, "highPrice": p, "lowPrice": p,
                    "volume": fmt(D(1000)), "quoteVolume": fmt(D(1000) * self._price(m)),
                    "openTime": now - 86_400_000, "closeTime": now, "firstId": 1, "lastId": 1000, "count": 1000,
                })
            return rows[0] if single else rows

    def set_price(self, symbol: str, price) -> list[dict]:
        """Move the market price; resting limit orders it crosses fill (as maker) at their limit price."""
        with self.lock:
            m = self._spec(symbol)
            if m is None:
                raise KeyError(symbol)
            self.prices[m.id] = D(str(price))
            filled = []
            for o in self._orders:
                if o["symbol"] == m.id and o["status"] in OPEN_STATUSES and self._crosses(o, self.prices[m.id]):
                    self._unlock(o)
                    self._fill(o, m, o["origQty"], o["price"], is_maker=True)
                    filled.append(self.order_view(o))
            return filled

    def fill_partially(self, client_order_id: str, quantity) -> dict:
        """Fill ``quantity`` of the newest open order with this client id, as maker at its limit
        price (one trade), releasing that share of its locked funds; returns the order view.
        A test control for partial fills (the matching above fills orders whole)."""
        with self.lock:
            o = next((o for o in reversed(self._orders)
                      if o["clientOrderId"] == client_order_id and o["status"] in OPEN_STATUSES), None)
            if o is None:
                raise KeyError(client_order_id)
            qty = min(D(str(quantity)), o["origQty"] - o["executedQty"])
            asset, locked = o["locked"]
            if asset is not None:
                share = (locked * qty / (o["origQty"] - o["executedQty"])).quantize(EIGHT)
                bal = self._bal(asset)
                bal["locked"] -= share
                bal["free"] += share
                o["locked"] = (asset, locked - share) if qty < o["origQty"] - o["executedQty"] else (None, ZERO)
            self._fill(o, self.markets[o["symbol"]], qty, o["price"], is_maker=True)
            return self.order_view(o)

    @staticmethod
    def _crosses(o: dict, price: Decimal) -> bool:
        return price <= o["price"] if o["side"] == "BUY" else price >= o["price"]

    # ---------------------------------------------------------------- trading
    def new_order(self, params: Mapping[str, str]) -> dict:
        """Trading endpoints -> New order (POST /api/v3/order), types LIMIT, LIMIT_MAKER, MARKET."""
        with self.lock:
            m = self._market(params)
            side, otype = params.get("side"), params.get("type")
            if not side:
                raise err_mandatory("side")
            if not otype:
                raise err_mandatory("type")
            if side not in ("BUY", "SELL"):
                raise BinanceError(400, -1117, "Invalid side.")
            if otype not in SUPPORTED_TYPES:
                raise BinanceError(400, -1116, "Invalid orderType.")
            cid = params.get("newClientOrderId") or random_client_id()
            if not CLIENT_ID_RE.match(cid):
                raise err_illegal("newClientOrderId", CLIENT_ID_RE.pattern)
            resp_type = params.get("newOrderRespType") or "FULL"  # FULL is the default for MARKET and LIMIT
            if resp_type not in ("ACK", "RESULT", "FULL"):
                raise BinanceError(400, -1100, "Illegal characters found in parameter 'newOrderRespType'.")
            qty, price = parse_decimal(params, "quantity"), parse_decimal(params, "price")
            quote_qty = parse_decimal(params, "quoteOrderQty")
            tif = params.get("timeInForce")
            last = self._price(m)

            if otype == "MARKET":
                if price is not None:
                    raise err_not_required("price")
                if tif:
                    raise err_not_required("timeInForce")
                if qty is None and quote_qty is None:
                    raise err_one_of("quantity", "quoteOrderQty")
                if qty is not None and quote_qty is not None:
                    raise err_not_required("quoteOrderQty")
                if quote_qty is not None:  # spend/receive this much quote; quantity floored to stepSize
                    qty = floor_to_step(quote_qty / last, m.d("step_size"))
                notional = qty * last
            else:
                if qty is None:
                    raise err_mandatory("quantity")
                if price is None:
                    raise err_mandatory("price")
                if otype == "LIMIT" and not tif:
                    raise err_mandatory("timeInForce")
                if otype == "LIMIT_MAKER" and tif:
                    raise err_not_required("timeInForce")
                if tif and tif not in ("GTC", "IOC", "FOK"):
                    raise BinanceError(400, -1115, "Invalid timeInForce.")
                notional = qty * price

            if any(o["clientOrderId"] == cid and o["status"] in OPEN_STATUSES for o in self._orders):
                raise err_rejected(MSG_DUPLICATE)  # only OPEN orders block a client id (the reuse hole)
            check_filters(m, otype, qty, price, notional)

            marketable = otype == "MARKET" or (price >= last if side == "BUY" else price <= last)
            if otype == "LIMIT_MAKER" and marketable:
                raise err_rejected(MSG_WOULD_TAKE)
            fill_price = last  # a taker gets the market price (for a crossing limit: price improvement)
            need_asset, need = (m.quote, (qty * (fill_price if marketable else price)) * (1 + self.commission_rate)) \
                if side == "BUY" else (m.base, qty)
            if self._bal(need_asset)["free"] < need:
                raise err_rejected(MSG_INSUFFICIENT)

            now = self.clock()
            order = {
                "symbol": m.id, "orderId": next(self._order_ids), "orderListId": -1, "clientOrderId": cid,
                "price": price if otype != "MARKET" else ZERO, "origQty": qty, "executedQty": ZERO,
                "cummulativeQuoteQty": ZERO, "status": "NEW", "timeInForce": tif or "GTC", "type": otype,
                "side": side, "time": now, "updateTime": now, "workingTime": now,
                "origQuoteOrderQty": quote_qty or ZERO, "fills": [], "locked": (None, ZERO),
            }
            self._orders.append(order)
            if marketable:
                self._fill(order, m, qty, fill_price, is_maker=False)
            elif tif in ("IOC", "FOK"):
                order["status"] = "EXPIRED"
            else:
                self._lock(order, need_asset, need)
            return self._new_order_response(order, resp_type)

    def _lock(self, order: dict, asset: str, amount: Decimal) -> None:
        bal = self._bal(asset)
        bal["free"] -= amount
        bal["locked"] += amount
        order["locked"] = (asset, amount)

    def _unlock(self, order: dict) -> None:
        asset, amount = order["locked"]
        if asset is not None:
            bal = self._bal(asset)
            bal["locked"] -= amount
            bal["free"] += amount
        order["locked"] = (None, ZERO)

    def _fill(self, order: dict, m: MarketSpec, qty: Decimal, price: Decimal, *, is_maker: bool) -> None:
        quote_qty = (qty * price).quantize(EIGHT)
        commission = (quote_qty * self.commission_rate).quantize(EIGHT)
        base, quote = self._bal(m.base), self._bal(m.quote)
        if order["side"] == "BUY":
            base["free"] += qty
            quote["free"] -= quote_qty + commission
        else:
            base["free"] -= qty
            quote["free"] += quote_qty - commission
        now = self.clock()
        trade_id = next(self._trade_ids)
        self._trades.append({
            "symbol": m.id, "id": trade_id, "orderId": order["orderId"], "orderListId": -1,
            "price": price, "qty": qty, "quoteQty": quote_qty, "commission": commission,
            "commissionAsset": m.quote, "time": now, "isBuyer": order["side"] == "BUY",
            "isMaker": is_maker, "isBestMatch": True,
        })
        order["fills"].append({"price": fmt(price), "qty": fmt(qty), "commission": fmt(commission),
                               "commissionAsset": m.quote, "tradeId": trade_id})
        order["executedQty"] += qty
        order["cummulativeQuoteQty"] += quote_qty
        order["status"] = "FILLED" if order["executedQty"] >= order["origQty"] else "PARTIALLY_FILLED"
        order["updateTime"] = now

    def _new_order_response(self, o: dict, resp_type: str) -> dict:
        """New order -> "Response ACK", "Response RESULT", "Response FULL"."""
        ack = {"symbol": o["symbol"], "orderId": o["orderId"], "orderListId": -1,
               "clientOrderId": o["clientOrderId"], "transactTime": o["time"]}
        if resp_type == "ACK":
            return ack
        result = {**ack, **self._common(o), "workingTime": o["workingTime"],
                  "selfTradePreventionMode": "EXPIRE_MAKER"}
        if resp_type == "FULL":
            result["fills"] = list(o["fills"])
        return result

    @staticmethod
    def _common(o: dict) -> dict:
        return {
            "price": fmt(o["price"]), "origQty": fmt(o["origQty"]), "executedQty": fmt(o["executedQty"]),
            "origQuoteOrderQty": fmt(o["origQuoteOrderQty"]), "cummulativeQuoteQty": fmt(o["cummulativeQuoteQty"]),
            "status": o["status"], "timeInForce": o["timeInForce"], "type": o["type"], "side": o["side"],
        }

    def order_view(self, o: dict) -> dict:
        """The order as Query order / Current open orders render it."""
        return {
            "symbol": o["symbol"], "orderId": o["orderId"], "orderListId": -1, "clientOrderId": o["clientOrderId"],
            **self._common(o), "stopPrice": fmt(ZERO), "icebergQty": fmt(ZERO), "time": o["time"],
            "updateTime": o["updateTime"], "isWorking": True, "workingTime": o["workingTime"],
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def _find(self, params: Mapping[str, str], m: MarketSpec) -> dict | None:
        oid, cid = params.get("orderId"), params.get("origClientOrderId")
        if not oid and not cid:
            raise err_one_of("origClientOrderId", "orderId")
        hits = [o for o in self._orders if o["symbol"] == m.id
                and (str(o["orderId"]) == oid if oid else o["clientOrderId"] == cid)]
        return hits[-1] if hits else None  # a reused client id answers with its newest order

    def query_order(self, params: Mapping[str, str]) -> dict:
        """Account endpoints -> Query order (GET /api/v3/order), by orderId or origClientOrderId."""
        with self.lock:
            o = self._find(params, self._market(params))
            if o is None:
                raise BinanceError(*ERR_NO_SUCH_ORDER)
            return self.order_view(o)

    def cancel_order(self, params: Mapping[str, str]) -> dict:
        """Trading endpoints -> Cancel order (DELETE /api/v3/order). A filled order is "Unknown order sent."."""
        with self.lock:
            o = self._find(params, self._market(params))
            if o is None or o["status"] not in OPEN_STATUSES:
                raise BinanceError(*ERR_UNKNOWN_ORDER)
            self._unlock(o)
            o["status"], o["updateTime"] = "CANCELED", self.clock()
            return {"symbol": o["symbol"], "origClientOrderId": o["clientOrderId"], "orderId": o["orderId"],
                    "orderListId": -1, "clientOrderId": params.get("newClientOrderId") or random_client_id(),
                    "transactTime": o["updateTime"], **self._common(o), "selfTradePreventionMode": "EXPIRE_MAKER"}

    def open_orders(self, params: Mapping[str, str]) -> list:
        """Account endpoints -> Current open orders (GET /api/v3/openOrders), symbol optional."""
        with self.lock:
            m = self._market(params, required=False)
            return [self.order_view(o) for o in self._orders
                    if o["status"] in OPEN_STATUSES and (m is None or o["symbol"] == m.id)]

    def account(self, params: Mapping[str, str]) -> dict:
        """Account endpoints -> Account information (GET /api/v3/account)."""
        with self.lock:
            omit_zero = params.get("omitZeroBalances") == "true"
            balances = [{"asset": a, "free": fmt(b["free"]), "locked": fmt(b["locked"])}
                        for a, b in self.balances.items()
                        if not (omit_zero and b["free"] == 0 and b["locked"] == 0)]
            bps = int(self.commission_rate * 10000)
            rate = fmt(self.commission_rate)
            return {
                "makerCommission": bps, "takerCommission": bps, "buyerCommission": 0, "sellerCommission": 0,
                "commissionRates": {"maker": rate, "taker": rate, "buyer": fmt(ZERO), "seller": fmt(ZERO)},
                "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
                "requireSelfTradePrevention": False, "preventSor": False, "updateTime": self.clock(),
                "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": 100000001,
            }

    def my_trades(self, params: Mapping[str, str]) -> list:
        """Account endpoints -> Account trade list (GET /api/v3/myTrades); symbol is mandatory."""
        with self.lock:
            m = self._market(params)
            rows = [t for t in self._trades if t["symbol"] == m.id]
            if params.get("orderId"):
                rows = [t for t in rows if str(t["orderId"]) == params["orderId"]]
            if params.get("startTime"):
                rows = [t for t in rows if t["time"] >= int(params["startTime"])]
            if params.get("endTime"):
                rows = [t for t in rows if t["time"] <= int(params["endTime"])]
            limit = min(int(params.get("limit") or 500), 1000)
            if params.get("fromId"):
                rows = [t for t in rows if t["id"] >= int(params["fromId"])][:limit]
            else:
                rows = rows[-limit:]  # "Otherwise most recent trades are returned"
            return [self._trade_view(t) for t in rows]

    @staticmethod
    def _trade_view(t: dict) -> dict:
        return {**t, "price": fmt(t["price"]), "qty": fmt(t["qty"]), "quoteQty": fmt(t["quoteQty"]),
                "commission": fmt(t["commission"])}

    # ------------------------------------------------------- test inspection
    def orders_snapshot(self) -> list[dict]:
        with self.lock:
            return [self.order_view(o) for o in self._orders]

    def trades_snapshot(self) -> list[dict]:
        with self.lock:
            return [self._trade_view(t) for t in self._trades]

    def balances_snapshot(self) -> dict[str, dict[str, Decimal]]:
        with self.lock:
            return {a: dict(b) for a, b in self.balances.items()}
