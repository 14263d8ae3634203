"""In-memory state of the fake Binance USDⓈ-M futures venue (perpetuals, one USDT wallet, one-way
or hedge position mode): symbols, positions, orders, conditional ("algo") orders and trades.

No HTTP here: :mod:`tests.venues.binance_futures` checks keys and signatures and calls these
methods with the request's parameters as strings. Every method returns the JSON body of
Binance's reply or raises :class:`BinanceError` (HTTP status, code, message).

References (developers.binance.com/docs/derivatives/usds-margined-futures):
"Exchange Information", "Check Server Time", "Notional and Leverage Brackets",
"New Order" (trade/rest-api/New-Order: positionSide BOTH / LONG / SHORT, "reduceOnly cannot be
sent in Hedge Mode"), "Query Order", "Cancel Order", "Current All Open Orders",
"Account Trade List" (userTrades), "New Algo Order" / "Query Algo Order" / "Cancel Algo Order" /
"Current All Algo Open Orders" (trade/rest-api/New-Algo-Order: STOP_MARKET, TAKE_PROFIT_MARKET
... with ``algoType=CONDITIONAL``, ``triggerPrice``, ``clientAlgoId``; since December 2025 the
conditional order types live in the algo service, and ``/fapi/v1/order`` refuses them with
-4120), "Position Information V3" (positionRisk), "Account Information V3", "Symbol
Configuration" (symbolConfig), "Change Initial Leverage", "Change Margin Type" (-4046 "No need
to change margin type."), "Change Position Mode" (-4059 "No need to change position side."),
"Get Current Position Mode", and "Error Codes".

Simplifications: one price per symbol (market orders and triggered orders fill whole at it,
a resting limit order fills whole at its price when the price crosses it); fees ``taker`` /
``maker`` of the notional, in USDT; margin = notional / the symbol's leverage (``LEVERAGE``
until set), checked against the wallet (-2019); no funding, no liquidation; mark price = last
price. A reduce-only order (one-way mode), or a closing order in hedge mode (SELL on LONG, BUY
on SHORT), larger than the position is cut to it; with nothing to reduce it is refused (-2022).
A conditional order whose trigger the price has already crossed is refused (-2021 "Order would
immediately trigger."). A triggered conditional order places a MARKET order (its own order id
and a client order id ``trig-N``, the algo order's ``actualOrderId``) and becomes FINISHED;
with nothing left to reduce it expires instead (algoStatus EXPIRED). Margin type and
leverage are per symbol; the position mode is account-wide and cannot change while a position
or an order is open (-4068).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Mapping

from .binance_rules import BinanceError

D = Decimal
ZERO = D(0)
LEVERAGE = 20  # Binance's default initial leverage
OPEN = ("NEW", "PARTIALLY_FILLED")
ALGO_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")
ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]

ERR_NO_ORDER = BinanceError(400, -2013, "Order does not exist.")
ERR_UNKNOWN_ORDER = BinanceError(400, -2011, "Unknown order sent.")
ERR_BAD_SYMBOL = BinanceError(400, -1121, "Invalid symbol.")
ERR_SIDE_MISMATCH = BinanceError(400, -4061, "Order's position side does not match user's setting.")
ERR_REDUCE_ONLY = BinanceError(400, -2022, "ReduceOnly Order is rejected.")
ERR_MARGIN = BinanceError(400, -2019, "Margin is insufficient.")
ERR_IMMEDIATE = BinanceError(400, -2021, "Order would immediately trigger.")
ERR_DUPLICATE = BinanceError(400, -4116, "ClientOrderId is duplicated.")
ERR_USE_ALGO = BinanceError(400, -4120, "Order type not supported for this endpoint. Please use the Algo Order API "
                                        "endpoints instead.")


def fmt(value: Decimal | None) -> str:
    return f"{value.normalize():f}" if value else "0"


def mandatory(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


@dataclass
class Perpetual:
    """One USDⓈ-M perpetual, ``symbol`` in ccxt's form (``BTC/USDT:USDT``); id ``BTCUSDT``."""

    symbol: str
    tick_size: str = "0.10"
    step_size: str = "0.001"
    min_qty: str = "0.001"
    max_qty: str = "1000"
    min_notional: str = "5"

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1].split(":")[0]

    @property
    def id(self) -> str:
        return self.base + self.quote

    def info(self) -> dict:
        """An entry of "Exchange Information" ``symbols``."""
        price_precision = -D(self.tick_size).normalize().as_tuple().exponent
        qty_precision = -D(self.step_size).normalize().as_tuple().exponent
        return {
            "symbol": self.id, "pair": self.id, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000, "status": "TRADING", "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000", "baseAsset": self.base, "quoteAsset": self.quote,
            "marginAsset": self.quote, "pricePrecision": max(price_precision, 0),
            "quantityPrecision": max(qty_precision, 0), "baseAssetPrecision": 8, "quotePrecision": 8,
            "underlyingType": "COIN", "underlyingSubType": [], "triggerProtect": "0.0500",
            "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764", "tickSize": self.tick_size},
                {"filterType": "LOT_SIZE", "minQty": self.min_qty, "maxQty": self.max_qty, "stepSize": self.step_size},
                {"filterType": "MARKET_LOT_SIZE", "minQty": self.min_qty, "maxQty": self.max_qty,
                 "stepSize": self.step_size},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": self.min_notional},
                {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
                 "multiplierDecimal": "4"},
            ],
            "orderTypes": ORDER_TYPES, "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
            "permissionSets": ["GRID", "COPY"],
        }


DEFAULT_PERPETUALS = (Perpetual("BTC/USDT:USDT"),
                      Perpetual("ETH/USDT:USDT", tick_size="0.01", step_size="0.001", min_qty="0.001", min_notional="20"))
DEFAULT_PRICES = {"BTCUSDT": "60000", "ETHUSDT": "3000"}


class UsdmEngine:
    """Symbols, wallet, positions, orders, algo orders and trades of one fake account. Thread-safe."""

    def __init__(self, perpetuals=None, prices=None, wallet="10000", *, taker="0.0005", maker="0.0002",
                 clock: Callable[[], int] | None = None):
        self.lock = threading.RLock()
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.perpetuals = {p.id: p for p in (perpetuals or DEFAULT_PERPETUALS)}
        self.prices = {k: D(str(v)) for k, v in {**DEFAULT_PRICES, **(prices or {})}.items()}
        self.wallet = D(str(wallet))
        self.taker, self.maker = D(taker), D(maker)
        # (symbol, positionSide BOTH / LONG / SHORT) -> size (signed for BOTH; LONG >= 0, SHORT <= 0)
        self.positions: dict[tuple[str, str], dict] = {}
        self.leverage: dict[str, int] = {}
        self.margin_type: dict[str, str] = {}  # CROSSED until changed
        self.dual_side = False
        self.orders: list[dict] = []
        self.algo_orders: list[dict] = []
        self.trades: list[dict] = []
        self._order_ids = itertools.count(4_000_000_001)
        self._algo_ids = itertools.count(3001)
        self._trade_ids = itertools.count(900_001)
        self._auto = itertools.count(1)

    # ------------------------------------------------------------------ helpers
    def _perp(self, params: Mapping, required: bool = True) -> Perpetual | None:
        sid = params.get("symbol")
        if not sid:
            if required:
                raise mandatory("symbol")
            return None
        if sid not in self.perpetuals:
            raise ERR_BAD_SYMBOL
        return self.perpetuals[sid]

    def position(self, symbol_id: str, side: str = "BOTH") -> dict:
        return self.positions.setdefault((symbol_id, side), {"size": ZERO, "avg": ZERO, "realised": ZERO,
                                                             "updated": 0})

    def lev(self, symbol_id: str) -> int:
        return self.leverage.get(symbol_id, LEVERAGE)

    def _used_margin(self) -> Decimal:
        held = sum((abs(p["size"]) * p["avg"] / self.lev(s) for (s, _), p in self.positions.items()), ZERO)
        resting = sum(((o["qty"] - o["cum_qty"]) * o["price"] / self.lev(o["symbol"])
                       for o in self.orders if o["status"] in OPEN and not o["closing"]), ZERO)
        return held + resting

    def _position_side(self, params: Mapping) -> str:
        side = str(params.get("positionSide") or "BOTH").upper()
        if side not in ("BOTH", "LONG", "SHORT"):
            raise BinanceError(400, -4003, "Invalid positionSide.")
        if (side != "BOTH") != self.dual_side:
            raise ERR_SIDE_MISMATCH
        if self.dual_side and "reduceOnly" in params:
            raise BinanceError(400, -1106, "Parameter 'reduceOnly' sent when not required.")
        return side

    @staticmethod
    def _closing(side: str, position_side: str, reduce_only: bool) -> bool:
        """Hedge mode: a SELL on the LONG / a BUY on the SHORT closes it; one-way: reduceOnly."""
        if position_side == "LONG":
            return side == "SELL"
        if position_side == "SHORT":
            return side == "BUY"
        return reduce_only

    def _reducible(self, symbol_id: str, side: str, position_side: str, qty: Decimal) -> Decimal:
        size = self.position(symbol_id, position_side)["size"]
        closes = size < 0 if side == "BUY" else size > 0
        if not closes:
            raise ERR_REDUCE_ONLY
        return min(qty, abs(size))

    def _quantity(self, perp: Perpetual, params: Mapping, name: str = "quantity") -> Decimal:
        raw = params.get(name)
        if not raw:
            raise mandatory(name)
        qty = D(str(raw))
        if qty < D(perp.min_qty) or qty > D(perp.max_qty) or qty % D(perp.step_size):
            raise BinanceError(400, -4003, "Quantity less than or equal to zero.") if qty <= 0 else \
                BinanceError(400, -1111, "Precision is over the maximum defined for this asset.")
        return qty

    # ------------------------------------------------------------------ orders
    def new_order(self, params: Mapping) -> dict:
        """Trade -> New Order (POST /fapi/v1/order): LIMIT and MARKET."""
        with self.lock:
            perp = self._perp(params)
            side, otype = params.get("side"), params.get("type")
            if side not in ("BUY", "SELL"):
                raise mandatory("side")
            if otype in ALGO_TYPES or otype in ("STOP", "TAKE_PROFIT", "TRAILING_STOP_MARKET"):
                raise ERR_USE_ALGO
            if otype not in ("LIMIT", "MARKET"):
                raise BinanceError(400, -1116, "Invalid orderType.")
            position_side = self._position_side(params)
            reduce_only = str(params.get("reduceOnly", "false")).lower() == "true"
            client = str(params.get("newClientOrderId") or f"auto-{next(self._auto)}")
            if any(o["client"] == client and o["status"] in OPEN for o in self.orders):
                raise ERR_DUPLICATE
            qty = self._quantity(perp, params)
            price = None
            if otype == "LIMIT":
                if not params.get("price"):
                    raise mandatory("price")
                if not params.get("timeInForce"):
                    raise mandatory("timeInForce")
                price = D(str(params["price"]))
            last = self.prices[perp.id]
            closing = self._closing(side, position_side, reduce_only)
            if closing:
                qty = self._reducible(perp.id, side, position_side, qty)
            elif qty * (price or last) < D(perp.min_notional):
                raise BinanceError(400, -4164, f"Order's notional must be no smaller than {perp.min_notional} "
                                               "(unless you choose reduce only).")
            if not closing and self._used_margin() + qty * (price or last) / self.lev(perp.id) > self.wallet:
                raise ERR_MARGIN
            order = self._order(perp.id, client, side, otype, qty, price, params.get("timeInForce") or "GTC",
                                reduce_only, position_side, closing)
            self.orders.append(order)
            if otype == "MARKET" or self._marketable(order, last):
                self._execute(order, qty, last, maker=False)
            return self.order_view(order)

    def _order(self, symbol_id, client, side, otype, qty, price, tif, reduce_only, position_side, closing,
               orig_type=None, stop_price=None) -> dict:
        now = self.clock()
        return {"id": next(self._order_ids), "client": client, "symbol": symbol_id, "side": side, "type": otype,
                "orig_type": orig_type or otype, "qty": qty, "price": price, "tif": tif, "reduce_only": reduce_only,
                "position_side": position_side, "closing": closing, "stop_price": stop_price, "status": "NEW",
                "cum_qty": ZERO, "cum_quote": ZERO, "created": now, "updated": now}

    @staticmethod
    def _marketable(order: dict, last: Decimal) -> bool:
        return order["price"] is not None and (last <= order["price"] if order["side"] == "BUY" else last >= order["price"])

    def _execute(self, order: dict, qty: Decimal, price: Decimal, *, maker: bool) -> None:
        rate = self.maker if maker else self.taker
        quote, fee = qty * price, qty * price * rate
        pos = self.position(order["symbol"], order["position_side"])
        signed = qty if order["side"] == "BUY" else -qty
        pnl = ZERO
        if pos["size"] and (pos["size"] > 0) != (signed > 0):
            closed = min(qty, abs(pos["size"]))
            pnl = closed * (price - pos["avg"]) * (1 if pos["size"] > 0 else -1)
            pos["realised"] += pnl
            self.wallet += pnl
        new_size = pos["size"] + signed
        if new_size == 0:
            pos["avg"] = ZERO
        elif pos["size"] == 0 or (pos["size"] > 0) == (signed > 0):
            pos["avg"] = (abs(pos["size"]) * pos["avg"] + qty * price) / abs(new_size)
        elif (new_size > 0) != (pos["size"] > 0):
            pos["avg"] = price
        pos["size"] = new_size
        self.wallet -= fee
        order["cum_qty"] += qty
        order["cum_quote"] += quote
        order["status"] = "FILLED" if order["cum_qty"] >= order["qty"] else "PARTIALLY_FILLED"
        order["updated"] = pos["updated"] = now = self.clock()
        self.trades.append({
            "buyer": order["side"] == "BUY", "commission": fmt(fee), "commissionAsset": "USDT",
            "id": next(self._trade_ids), "maker": maker, "orderId": order["id"], "price": fmt(price), "qty": fmt(qty),
            "quoteQty": fmt(quote), "realizedPnl": fmt(pnl), "side": order["side"],
            "positionSide": order["position_side"], "symbol": order["symbol"], "time": now,
        })

    def set_price(self, symbol_id: str, price) -> None:
        """Move the price: conditional orders it crosses trigger (a MARKET order fills at the price);
        resting limit orders it crosses fill at their limit price, as maker."""
        with self.lock:
            last = self.prices[symbol_id] = D(str(price))
            for a in [a for a in self.algo_orders if a["symbol"] == symbol_id and a["status"] == "NEW"]:
                if self._crossed(a, last):
                    self._trigger(a, last)
            for o in [o for o in self.orders if o["symbol"] == symbol_id and o["status"] in OPEN]:
                if self._marketable(o, last):
                    self._execute(o, o["qty"] - o["cum_qty"], o["price"], maker=True)

    @staticmethod
    def _crossed(a: dict, last: Decimal) -> bool:
        """STOP_MARKET: BUY at or above the trigger, SELL at or below; TAKE_PROFIT_MARKET the reverse."""
        rising = (a["type"] == "STOP_MARKET") == (a["side"] == "BUY")
        return last >= a["trigger"] if rising else last <= a["trigger"]

    def _trigger(self, a: dict, last: Decimal) -> None:
        a["trigger_time"] = a["updated"] = self.clock()
        qty = a["qty"]
        if a["closing"]:
            try:
                qty = self._reducible(a["symbol"], a["side"], a["position_side"], qty)
            except BinanceError:
                a["status"] = "EXPIRED"
                return
        order = self._order(a["symbol"], f"trig-{next(self._auto)}", a["side"], "MARKET", qty, None, "GTC",
                            a["reduce_only"], a["position_side"], a["closing"], orig_type=a["type"],
                            stop_price=a["trigger"])
        self.orders.append(order)
        self._execute(order, qty, last, maker=False)
        a["actual_order_id"], a["actual_price"] = order["id"], last
        a["status"] = "FINISHED"

    def cancel_order(self, params: Mapping) -> dict:
        """Trade -> Cancel Order (DELETE /fapi/v1/order), by orderId or origClientOrderId."""
        with self.lock:
            perp = self._perp(params)
            o = self._find(perp.id, params)
            if o is None or o["status"] not in OPEN:
                raise ERR_UNKNOWN_ORDER
            o["status"], o["updated"] = "CANCELED", self.clock()
            return self.order_view(o)

    def _find(self, symbol_id: str, params: Mapping) -> dict | None:
        oid, client = params.get("orderId"), params.get("origClientOrderId")
        if not oid and not client:
            raise BinanceError(400, -1102, "Param 'orderId' or 'origClientOrderId' must be sent, but both were "
                                           "empty/null!")
        for o in reversed(self.orders):
            if o["symbol"] == symbol_id and (str(o["id"]) == str(oid) if oid else o["client"] == client):
                return o
        return None

    def query_order(self, params: Mapping) -> dict:
        """Trade -> Query Order (GET /fapi/v1/order)."""
        with self.lock:
            o = self._find(self._perp(params).id, params)
            if o is None:
                raise ERR_NO_ORDER
            return self.order_view(o)

    def open_orders(self, params: Mapping) -> list[dict]:
        """Trade -> Current All Open Orders (GET /fapi/v1/openOrders), of a symbol or all."""
        with self.lock:
            perp = self._perp(params, required=False)
            return [self.order_view(o) for o in self.orders
                    if o["status"] in OPEN and (perp is None or o["symbol"] == perp.id)]

    def order_view(self, o: dict) -> dict:
        avg = o["cum_quote"] / o["cum_qty"] if o["cum_qty"] else ZERO
        return {
            "orderId": o["id"], "symbol": o["symbol"], "status": o["status"], "clientOrderId": o["client"],
            "price": fmt(o["price"]), "avgPrice": fmt(avg), "origQty": fmt(o["qty"]), "executedQty": fmt(o["cum_qty"]),
            "cumQty": fmt(o["cum_qty"]), "cumQuote": fmt(o["cum_quote"]), "timeInForce": o["tif"], "type": o["type"],
            "reduceOnly": o["reduce_only"], "closePosition": False, "side": o["side"],
            "positionSide": o["position_side"], "stopPrice": fmt(o["stop_price"]), "workingType": "CONTRACT_PRICE",
            "priceProtect": False, "origType": o["orig_type"], "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0, "time": o["created"],
            "updateTime": o["updated"],
        }

    def user_trades(self, params: Mapping) -> list[dict]:
        """Trade -> Account Trade List (GET /fapi/v1/userTrades): a symbol's, oldest first."""
        with self.lock:
            perp = self._perp(params)
            rows = [t for t in self.trades if t["symbol"] == perp.id
                    and (not params.get("orderId") or str(t["orderId"]) == str(params["orderId"]))
                    and (not params.get("startTime") or t["time"] >= int(params["startTime"]))
                    and (not params.get("endTime") or t["time"] <= int(params["endTime"]))]
            return rows[-int(params.get("limit") or 500):]

    # ------------------------------------------------------------- algo orders
    def new_algo_order(self, params: Mapping) -> dict:
        """Trade -> New Algo Order (POST /fapi/v1/algoOrder), algoType CONDITIONAL:
        STOP_MARKET and TAKE_PROFIT_MARKET with ``triggerPrice`` and ``quantity``."""
        with self.lock:
            perp = self._perp(params)
            if params.get("algoType") != "CONDITIONAL":
                raise BinanceError(400, -1102, "Mandatory parameter 'algoType' was not sent, was empty/null, or "
                                               "malformed.")
            side, otype = params.get("side"), params.get("type")
            if side not in ("BUY", "SELL"):
                raise mandatory("side")
            if otype not in ALGO_TYPES:
                raise BinanceError(400, -1116, "Invalid orderType.")
            if not params.get("triggerPrice"):
                raise mandatory("triggerPrice")
            position_side = self._position_side(params)
            reduce_only = str(params.get("reduceOnly", "false")).lower() == "true"
            client = str(params.get("clientAlgoId") or f"auto-{next(self._auto)}")
            if any(a["client"] == client and a["status"] == "NEW" for a in self.algo_orders):
                raise ERR_DUPLICATE
            qty = self._quantity(perp, params)
            trigger = D(str(params["triggerPrice"]))
            closing = self._closing(side, position_side, reduce_only)
            now = self.clock()
            algo = {"id": next(self._algo_ids), "client": client, "symbol": perp.id, "side": side, "type": otype,
                    "qty": qty, "trigger": trigger, "reduce_only": reduce_only, "closing": closing,
                    "position_side": position_side, "status": "NEW", "created": now, "updated": now,
                    "trigger_time": 0, "actual_order_id": None, "actual_price": None,
                    "working_type": params.get("workingType") or "CONTRACT_PRICE"}
            if self._crossed(algo, self.prices[perp.id]):
                raise ERR_IMMEDIATE
            self.algo_orders.append(algo)
            return self.algo_view(algo)

    def _find_algo(self, params: Mapping) -> dict | None:
        aid, client = params.get("algoId"), params.get("clientAlgoId")
        if not aid and not client:
            raise BinanceError(400, -1102, "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!")
        for a in reversed(self.algo_orders):
            if str(a["id"]) == str(aid) if aid else a["client"] == client:
                return a
        return None

    def query_algo_order(self, params: Mapping) -> dict:
        """Trade -> Query Algo Order (GET /fapi/v1/algoOrder), by algoId or clientAlgoId."""
        with self.lock:
            a = self._find_algo(params)
            if a is None:
                raise ERR_NO_ORDER
            return self.algo_view(a)

    def cancel_algo_order(self, params: Mapping) -> dict:
        """Trade -> Cancel Algo Order (DELETE /fapi/v1/algoOrder)."""
        with self.lock:
            a = self._find_algo(params)
            if a is None or a["status"] != "NEW":
                raise ERR_UNKNOWN_ORDER
            a["status"], a["updated"] = "CANCELED", self.clock()
            return {"algoId": a["id"], "clientAlgoId": a["client"], "code": "200", "msg": "success"}

    def open_algo_orders(self, params: Mapping) -> list[dict]:
        """Trade -> Current All Algo Open Orders (GET /fapi/v1/openAlgoOrders)."""
        with self.lock:
            perp = self._perp(params, required=False)
            return [self.algo_view(a) for a in self.algo_orders
                    if a["status"] == "NEW" and (perp is None or a["symbol"] == perp.id)]

    def algo_view(self, a: dict) -> dict:
        return {
            "algoId": a["id"], "clientAlgoId": a["client"], "algoType": "CONDITIONAL", "orderType": a["type"],
            "symbol": a["symbol"], "side": a["side"], "positionSide": a["position_side"], "timeInForce": "GTC",
            "quantity": fmt(a["qty"]), "algoStatus": a["status"], "actualOrderId": str(a["actual_order_id"] or ""),
            "actualPrice": fmt(a["actual_price"]), "triggerPrice": fmt(a["trigger"]), "price": "0",
            "icebergQuantity": None, "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": a["working_type"],
            "priceMatch": "NONE", "closePosition": False, "priceProtect": False, "reduceOnly": a["reduce_only"],
            "createTime": a["created"], "updateTime": a["updated"], "triggerTime": a["trigger_time"],
            "goodTillDate": 0,
        }

    # ------------------------------------------------------------- account
    def position_risk(self, params: Mapping) -> list[dict]:
        """Trade -> Position Information V3 (GET /fapi/v3/positionRisk): the positions that are
        open (of ``symbol``, if given); in hedge mode a LONG and a SHORT row each."""
        with self.lock:
            perp = self._perp(params, required=False)
            rows = []
            for (sid, pside), p in self.positions.items():
                if not p["size"] or (perp is not None and sid != perp.id):
                    continue
                mark, lev = self.prices[sid], self.lev(sid)
                margin = abs(p["size"]) * mark / lev
                isolated = self.margin_type.get(sid) == "ISOLATED"
                rows.append({
                    "symbol": sid, "positionSide": pside, "positionAmt": fmt(p["size"]), "entryPrice": fmt(p["avg"]),
                    "breakEvenPrice": fmt(p["avg"]), "markPrice": fmt(mark),
                    "unRealizedProfit": fmt(p["size"] * (mark - p["avg"])), "liquidationPrice": "0",
                    "isolatedMargin": fmt(margin) if isolated else "0", "notional": fmt(p["size"] * mark),
                    "marginAsset": "USDT", "isolatedWallet": fmt(margin) if isolated else "0",
                    "initialMargin": fmt(margin), "maintMargin": fmt(abs(p["size"]) * mark * D("0.004")),
                    "positionInitialMargin": fmt(margin), "openOrderInitialMargin": "0", "adl": 1,
                    "bidNotional": "0", "askNotional": "0", "updateTime": p["updated"],
                })
            return rows

    def account(self, params: Mapping) -> dict:
        """Account -> Account Information V3 (GET /fapi/v3/account), USDT only."""
        with self.lock:
            used = self._used_margin()
            upnl = sum((p["size"] * (self.prices[s] - p["avg"]) for (s, _), p in self.positions.items()), ZERO)
            w, now = fmt(self.wallet), self.clock()
            asset = {"asset": "USDT", "walletBalance": w, "unrealizedProfit": fmt(upnl),
                     "marginBalance": fmt(self.wallet + upnl), "maintMargin": "0", "initialMargin": fmt(used),
                     "positionInitialMargin": fmt(used), "openOrderInitialMargin": "0", "crossWalletBalance": w,
                     "crossUnPnl": fmt(upnl), "availableBalance": fmt(self.wallet - used),
                     "maxWithdrawAmount": fmt(self.wallet - used), "updateTime": now}
            return {"totalInitialMargin": fmt(used), "totalMaintMargin": "0", "totalWalletBalance": w,
                    "totalUnrealizedProfit": fmt(upnl), "totalMarginBalance": fmt(self.wallet + upnl),
                    "totalPositionInitialMargin": fmt(used), "totalOpenOrderInitialMargin": "0",
                    "totalCrossWalletBalance": w, "totalCrossUnPnl": fmt(upnl),
                    "availableBalance": fmt(self.wallet - used), "maxWithdrawAmount": fmt(self.wallet - used),
                    "assets": [asset], "positions": []}

    def leverage_bracket(self, params: Mapping) -> list[dict]:
        """Account -> Notional and Leverage Brackets (GET /fapi/v1/leverageBracket), one bracket each."""
        perps = [self._perp(params)] if params.get("symbol") else list(self.perpetuals.values())
        return [{"symbol": p.id, "notionalCoef": 1.0, "brackets": [
            {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
             "maintMarginRatio": 0.004, "cum": 0.0}]} for p in perps]

    def symbol_config(self, params: Mapping) -> list[dict]:
        """Account -> Symbol Configuration (GET /fapi/v1/symbolConfig)."""
        with self.lock:
            perps = [self._perp(params)] if params.get("symbol") else list(self.perpetuals.values())
            return [{"symbol": p.id, "marginType": self.margin_type.get(p.id, "CROSSED"), "isAutoAddMargin": "false",
                     "leverage": self.lev(p.id), "maxNotionalValue": "1000000"} for p in perps]

    # ------------------------------------------------------- position settings
    def set_leverage(self, params: Mapping) -> dict:
        """Trade -> Change Initial Leverage (POST /fapi/v1/leverage): 1–125 (the bracket's)."""
        with self.lock:
            perp = self._perp(params)
            raw = params.get("leverage")
            if not raw or not str(raw).isdigit():
                raise mandatory("leverage")
            lev = int(raw)
            if not 1 <= lev <= 125:
                raise BinanceError(400, -4028, f"Leverage {lev} is not valid")
            self.leverage[perp.id] = lev
            return {"leverage": lev, "maxNotionalValue": "1000000", "symbol": perp.id}

    def set_margin_type(self, params: Mapping) -> dict:
        """Trade -> Change Margin Type (POST /fapi/v1/marginType): ISOLATED / CROSSED per symbol."""
        with self.lock:
            perp = self._perp(params)
            mode = params.get("marginType")
            if mode not in ("ISOLATED", "CROSSED"):
                raise BinanceError(400, -4044, "The margin type is not valid.") if mode else mandatory("marginType")
            if self.margin_type.get(perp.id, "CROSSED") == mode:
                raise BinanceError(400, -4046, "No need to change margin type.")
            if any(p["size"] for (s, _), p in self.positions.items() if s == perp.id):
                raise BinanceError(400, -4048, "Margin type cannot be changed if there exists position.")
            self.margin_type[perp.id] = mode
            return {"code": 200, "msg": "success"}

    def set_dual_side(self, params: Mapping) -> dict:
        """Trade -> Change Position Mode (POST /fapi/v1/positionSide/dual): account-wide."""
        with self.lock:
            raw = str(params.get("dualSidePosition", "")).lower()
            if raw not in ("true", "false"):
                raise mandatory("dualSidePosition")
            dual = raw == "true"
            if dual == self.dual_side:
                raise BinanceError(400, -4059, "No need to change position side.")
            if any(p["size"] for p in self.positions.values()) or any(o["status"] in OPEN for o in self.orders) \
                    or any(a["status"] == "NEW" for a in self.algo_orders):
                raise BinanceError(400, -4068, "Position side cannot be changed if there exists position.")
            self.dual_side = dual
            return {"code": 200, "msg": "success"}

    def get_dual_side(self, params: Mapping) -> dict:
        """Account -> Get Current Position Mode (GET /fapi/v1/positionSide/dual)."""
        return {"dualSidePosition": self.dual_side}

    # ----------------------------------------------- test controls: "by hand"
    def close_by_hand(self, symbol_id: str, position_side: str = "BOTH") -> None:
        """The holder closes the position on the exchange's site: a MARKET order that is not ours
        (client order id ``web-N``), filled at the last price."""
        with self.lock:
            size = self.position(symbol_id, position_side)["size"]
            if not size:
                return
            side = "SELL" if size > 0 else "BUY"
            order = self._order(symbol_id, f"web-{next(self._auto)}", side, "MARKET", abs(size), None, "GTC",
                                position_side == "BOTH", position_side, True)
            self.orders.append(order)
            self._execute(order, abs(size), self.prices[symbol_id], maker=False)
