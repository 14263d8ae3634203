"""In-memory state of the fake Bybit v5 *linear perpetual* venue (unified account, one-way
or hedge position mode): instruments, a USDT wallet, positions, orders (including conditional
stop-loss / take-profit orders) and executions.

No HTTP here: :mod:`tests.venues.bybit_linear` authenticates and calls these methods with the
request's parameters. Every method returns the ``result`` object of Bybit's reply or raises
:class:`BybitError` with Bybit's ``retCode`` / ``retMsg``.

References (bybit-exchange.github.io/docs/v5): "Place Order" (order/create: orderLinkId ≤ 36
and unique, reduceOnly, triggerPrice + triggerDirection 1 rise / 2 fall), "Get Open & Closed
Orders" (order/realtime), "Cancel Order", "Get Trade History" (execution/list), "Get Position
Info" (position/list), "Get Wallet Balance", "Get Instruments Info", "Error Codes".

Simplifications: one price per symbol (market orders and triggered orders fill whole at it),
fees ``taker`` / ``maker`` of the notional in USDT, margin = notional / the symbol's leverage
(``LEVERAGE`` until set) checked against the wallet, no funding; a liquidation happens only
when a test calls :meth:`LinearEngine.liquidate`. A reduce-only order larger than the position
is cut to the position's size (as Bybit does); with no opposite position it is refused
(110017); a triggered reduce-only order with nothing left to reduce is deactivated. A
conditional order whose trigger the price has already crossed is refused (110092 "expect
Rising, but trigger_price[…] <= current[…]", 110093 for Falling: the messages of ccxt's bybit
error table).

Hedge mode ("Switch Position Mode" mode 3; "Place Order" ``positionIdx``): every order names
its position, 1 the long and 2 the short (0 is refused, as a non-zero index is in one-way
mode: 10001 "position idx not match position mode"); a Sell on the long or a Buy on the short
closes it (never past zero: 110017), whatever ``reduceOnly`` says; "Get Position Info" lists
both rows of a symbol with their ``positionIdx``.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Mapping

D = Decimal
ZERO = D(0)
LEVERAGE = D(10)
OPEN = ("New", "PartiallyFilled", "Untriggered")


class BybitError(Exception):
    """A Bybit error reply: ``{"retCode": code, "retMsg": msg}`` (HTTP 200, as Bybit sends them)."""

    def __init__(self, code: int, msg: str):
        super().__init__(f"{code} {msg}")
        self.code, self.msg = code, msg


@dataclass
class Instrument:
    """One linear perpetual, ``symbol`` in ccxt's form (``BTC/USDT:USDT``); id ``BTCUSDT``."""

    symbol: str
    tick_size: str = "0.1"
    qty_step: str = "0.001"
    min_qty: str = "0.001"
    max_qty: str = "100"
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
        return {
            "symbol": self.id, "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": self.base,
            "quoteCoin": self.quote, "settleCoin": self.quote, "launchTime": "1585526400000", "deliveryTime": "0",
            "deliveryFeeRate": "", "priceScale": str(-D(self.tick_size).as_tuple().exponent),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {"minPrice": self.tick_size, "maxPrice": "1999999.80", "tickSize": self.tick_size},
            "lotSizeFilter": {"maxOrderQty": self.max_qty, "maxMktOrderQty": self.max_qty, "minOrderQty": self.min_qty,
                              "qtyStep": self.qty_step, "postOnlyMaxOrderQty": self.max_qty,
                              "minNotionalValue": self.min_notional},
            "unifiedMarginTrade": True, "fundingInterval": 480, "copyTrading": "both",
            "upperFundingRate": "0.00375", "lowerFundingRate": "-0.00375", "isPreListing": False,
        }


DEFAULT_INSTRUMENTS = (Instrument("BTC/USDT:USDT"), Instrument("ETH/USDT:USDT", tick_size="0.01", qty_step="0.01",
                                                                min_qty="0.01"))
DEFAULT_PRICES = {"BTCUSDT": "60000", "ETHUSDT": "3000"}


def fmt(value: Decimal) -> str:
    return f"{value.normalize():f}" if value else "0"


class LinearEngine:
    """Instruments, wallet, positions, orders and executions of one fake account. Thread-safe."""

    def __init__(self, instruments=None, prices=None, wallet="10000", *, taker="0.00055", maker="0.0002",
                 clock: Callable[[], int] | None = None):
        self.lock = threading.RLock()
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.instruments = {i.id: i for i in (instruments or DEFAULT_INSTRUMENTS)}
        self.prices = {k: D(str(v)) for k, v in {**DEFAULT_PRICES, **(prices or {})}.items()}
        self.wallet = D(str(wallet))
        self.taker, self.maker = D(taker), D(maker)
        self.positions: dict[str, dict] = {}
        self.hedged_positions: dict[tuple[str, int], dict] = {}  # (symbol, positionIdx 1 long / 2 short)
        # Position settings: leverage per symbol (10 until set), the account's margin mode
        # (unified account: account-wide) and position mode (0 one-way, 3 hedge).
        self.leverage: dict[str, Decimal] = {}
        self.margin_mode = "REGULAR_MARGIN"
        self.position_mode = 0
        self.orders: list[dict] = []
        self.executions: list[dict] = []
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ helpers
    def _instrument(self, params: Mapping) -> Instrument:
        if params.get("category") not in ("linear", None):
            raise BybitError(10001, "this fake serves category=linear only")
        inst = self.instruments.get(str(params.get("symbol") or ""))
        if inst is None:
            raise BybitError(10001, "params error: symbol invalid")
        return inst

    def position(self, symbol_id: str, idx: int = 0) -> dict:
        """The one-way position (``idx`` 0), or in hedge mode the long (1) / short (2)."""
        if idx:
            return self.hedged_positions.setdefault((symbol_id, idx), {"size": ZERO, "avg": ZERO, "realised": ZERO})
        return self.positions.setdefault(symbol_id, {"size": ZERO, "avg": ZERO, "realised": ZERO})

    def _all_positions(self) -> list[tuple[str, int, dict]]:
        return [(s, 0, p) for s, p in self.positions.items()] + [
            (s, i, p) for (s, i), p in self.hedged_positions.items()]

    def lev(self, symbol_id: str) -> Decimal:
        return self.leverage.get(symbol_id, LEVERAGE)

    def _used_margin(self) -> Decimal:
        held = sum((abs(p["size"]) * p["avg"] / self.lev(s) for s, _, p in self._all_positions()), ZERO)
        resting = sum((o["qty"] - o["cum_qty"]) * (o["price"] or self.prices[o["symbol"]]) / self.lev(o["symbol"])
                      for o in self.orders if o["status"] in ("New", "PartiallyFilled") and not o["reduce_only"])
        return held + resting

    # ------------------------------------------------------------------ orders
    def create(self, params: Mapping) -> dict:
        """Trade -> Place Order (POST /v5/order/create)."""
        with self.lock:
            inst = self._instrument(params)
            side, otype = params.get("side"), params.get("orderType")
            if side not in ("Buy", "Sell") or otype not in ("Market", "Limit"):
                raise BybitError(10001, "params error: side or orderType invalid")
            link = str(params.get("orderLinkId") or f"auto-{next(self._ids)}")
            if len(link) > 36:
                raise BybitError(10001, "params error: orderLinkId is too long")
            if any(o["link"] == link for o in self.orders):
                raise BybitError(110072, "OrderLinkedID is duplicate")
            idx = int(params.get("positionIdx") or 0)
            if (idx != 0) != (self.position_mode == 3) or idx not in (0, 1, 2):
                raise BybitError(10001, "position idx not match position mode")
            qty = D(str(params.get("qty") or "0"))
            price = D(str(params["price"])) if params.get("price") else None
            if qty < D(inst.min_qty) or qty > D(inst.max_qty) or qty % D(inst.qty_step):
                raise BybitError(10001, "The number of contracts exceeds minimum limit allowed")
            if otype == "Limit" and price is None:
                raise BybitError(10001, "params error: price is required for limit orders")
            reduce_only = params.get("reduceOnly") in (True, "true") or (idx == 1 and side == "Sell") or (
                idx == 2 and side == "Buy")  # hedge mode: closing the side's position is reducing it
            trigger = D(str(params["triggerPrice"])) if params.get("triggerPrice") else None
            order = self._new_order(inst, link, side, otype, qty, price, reduce_only, params, trigger)
            order["idx"] = idx
            if reduce_only:  # refused without an opposite position; an immediate one is cut to its size
                reducible = self._reducible(inst.id, side, qty, idx)
                order["qty"] = reducible if trigger is None else qty
            last = self.prices[inst.id]
            if trigger is not None and order["direction"] == 1 and trigger <= last:
                raise BybitError(110092, f"expect Rising, but trigger_price[{fmt(trigger)}] <= current[{fmt(last)}]")
            if trigger is not None and order["direction"] == 2 and trigger >= last:
                raise BybitError(110093, f"expect Falling, but trigger_price[{fmt(trigger)}] >= current[{fmt(last)}]")
            if not reduce_only and (qty * (price or last)) < D(inst.min_notional):
                raise BybitError(110094, "Order does not meet minimum order value 5USDT")
            if not reduce_only and (self._used_margin() + qty * (price or last) / self.lev(inst.id)) > self.wallet:
                raise BybitError(110007, "ab not enough for new order")
            self.orders.append(order)
            if trigger is None and (otype == "Market" or self._marketable(order, last)):
                self._execute(order, order["qty"], last, is_maker=False)
            return {"orderId": order["id"], "orderLinkId": link}

    def _new_order(self, inst, link, side, otype, qty, price, reduce_only, params, trigger) -> dict:
        now = self.clock()
        return {
            "id": f"{next(self._ids):08d}-fake-bybit", "link": link, "symbol": inst.id, "side": side,
            "type": otype, "qty": qty, "price": price, "tif": params.get("timeInForce") or "GTC",
            "reduce_only": reduce_only, "trigger": trigger, "direction": int(params.get("triggerDirection") or 0),
            "status": "Untriggered" if trigger is not None else "New", "cum_qty": ZERO, "cum_value": ZERO,
            "cum_fee": ZERO, "created": now, "updated": now,
            "stop_type": ("StopLoss" if params.get("slOrderType") else "Stop") if trigger is not None else "",
        }

    def _reducible(self, symbol_id: str, side: str, qty: Decimal, idx: int = 0) -> Decimal:
        size = self.position(symbol_id, idx)["size"]
        closes = size < 0 if side == "Buy" else size > 0
        if not closes:
            raise BybitError(110017, "Reduce-only rule not satisfied")
        return min(qty, abs(size))

    @staticmethod
    def _marketable(order: dict, last: Decimal) -> bool:
        return order["price"] is not None and (last <= order["price"] if order["side"] == "Buy" else last >= order["price"])

    def _execute(self, order: dict, qty: Decimal, price: Decimal, *, is_maker: bool) -> None:
        rate = self.maker if is_maker else self.taker
        value, fee = qty * price, qty * price * rate
        pos = self.position(order["symbol"], order.get("idx", 0))
        signed = qty if order["side"] == "Buy" else -qty
        closed = ZERO
        if pos["size"] and (pos["size"] > 0) != (signed > 0):
            closed = min(abs(signed), abs(pos["size"]))
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
        order["cum_value"] += value
        order["cum_fee"] += fee
        order["status"] = "Filled" if order["cum_qty"] >= order["qty"] else "PartiallyFilled"
        order["updated"] = now = self.clock()
        self.executions.append({
            "symbol": order["symbol"], "orderId": order["id"], "orderLinkId": order["link"], "side": order["side"],
            "orderPrice": fmt(order["price"] or ZERO), "orderQty": fmt(order["qty"]),
            "leavesQty": fmt(order["qty"] - order["cum_qty"]), "createType": "CreateByUser",
            "orderType": order["type"], "stopOrderType": order["stop_type"] or "UNKNOWN", "execFee": fmt(fee),
            "execId": f"exec-{next(self._ids)}", "execPrice": fmt(price), "execQty": fmt(qty), "execType": "Trade",
            "execValue": fmt(value), "execTime": str(now), "isMaker": is_maker, "feeRate": fmt(rate),
            "markPrice": fmt(price), "indexPrice": fmt(price), "closedSize": fmt(closed), "seq": now,
        })

    def set_price(self, symbol_id: str, price) -> None:
        """Move the price: conditional orders it crosses trigger (and fill at it); resting limit
        orders it crosses fill as maker at their limit price."""
        with self.lock:
            last = self.prices[symbol_id] = D(str(price))
            for o in [o for o in self.orders if o["symbol"] == symbol_id]:
                if o["status"] == "Untriggered" and self._crossed(o, last):
                    self._trigger(o, last)
                elif o["status"] in ("New", "PartiallyFilled") and self._marketable(o, last):
                    self._execute(o, o["qty"] - o["cum_qty"], o["price"], is_maker=True)

    @staticmethod
    def _crossed(o: dict, last: Decimal) -> bool:
        return last >= o["trigger"] if o["direction"] == 1 else last <= o["trigger"]

    def _trigger(self, o: dict, last: Decimal) -> None:
        if o["reduce_only"]:
            try:
                o["qty"] = self._reducible(o["symbol"], o["side"], o["qty"], o.get("idx", 0))
            except BybitError:
                o["status"], o["updated"] = "Deactivated", self.clock()
                return
        o["status"] = "Triggered"
        self._execute(o, o["qty"], last, is_maker=False)

    def fill_partially(self, link: str, qty) -> None:
        """Test control: fill ``qty`` of the open limit order ``link`` at its price, as maker."""
        with self.lock:
            o = next(o for o in self.orders if o["link"] == link and o["status"] in ("New", "PartiallyFilled"))
            self._execute(o, min(D(str(qty)), o["qty"] - o["cum_qty"]), o["price"], is_maker=True)

    def cancel(self, params: Mapping) -> dict:
        """Trade -> Cancel Order (POST /v5/order/cancel), by orderId or orderLinkId."""
        with self.lock:
            inst = self._instrument(params)
            o = self._find(inst.id, params)
            if o is None or o["status"] not in OPEN:
                raise BybitError(110001, "Order does not exist.")
            o["status"] = "Deactivated" if o["status"] == "Untriggered" else "Cancelled"
            o["updated"] = self.clock()
            return {"orderId": o["id"], "orderLinkId": o["link"]}

    def _find(self, symbol_id: str | None, params: Mapping) -> dict | None:
        """By ``orderId`` if given (it has priority over ``orderLinkId``, as on Bybit), else by link id."""
        oid, link = params.get("orderId"), params.get("orderLinkId")
        for o in reversed(self.orders):
            if (symbol_id is None or o["symbol"] == symbol_id) and (o["id"] == oid if oid else o["link"] == link):
                return o
        return None

    # ------------------------------------------------------------------- queries
    def realtime(self, params: Mapping) -> dict:
        """Trade -> Get Open & Closed Orders (GET /v5/order/realtime): by orderId / orderLinkId any
        recent order; otherwise the open ones (of ``symbol``, or of the ``settleCoin``)."""
        with self.lock:
            symbol_id = params.get("symbol")
            if params.get("orderId") or params.get("orderLinkId"):
                found = self._find(symbol_id, params)
                rows = [found] if found else []
            else:
                if not symbol_id and not params.get("settleCoin") and not params.get("baseCoin"):
                    raise BybitError(10001, "symbol or settleCoin or baseCoin is required")
                rows = [o for o in self.orders if o["status"] in OPEN and (not symbol_id or o["symbol"] == symbol_id)]
            return {"category": "linear", "nextPageCursor": "", "list": [self.order_view(o) for o in reversed(rows)]}

    def order_view(self, o: dict) -> dict:
        avg = o["cum_value"] / o["cum_qty"] if o["cum_qty"] else ZERO
        return {
            "orderId": o["id"], "orderLinkId": o["link"], "blockTradeId": "", "symbol": o["symbol"],
            "price": fmt(o["price"] or ZERO), "qty": fmt(o["qty"]), "side": o["side"], "isLeverage": "",
            "positionIdx": o.get("idx", 0), "orderStatus": o["status"], "cancelType": "UNKNOWN", "rejectReason": "EC_NoError",
            "avgPrice": fmt(avg) if o["cum_qty"] else "", "leavesQty": fmt(o["qty"] - o["cum_qty"]),
            "leavesValue": "0", "cumExecQty": fmt(o["cum_qty"]), "cumExecValue": fmt(o["cum_value"]),
            "cumExecFee": fmt(o["cum_fee"]), "timeInForce": o["tif"], "orderType": o["type"],
            "stopOrderType": o["stop_type"], "orderIv": "", "triggerPrice": fmt(o["trigger"] or ZERO),
            "takeProfit": "", "stopLoss": "", "tpTriggerBy": "", "slTriggerBy": "",
            "triggerDirection": o["direction"], "triggerBy": "LastPrice" if o["trigger"] else "",
            "lastPriceOnCreated": "", "reduceOnly": o["reduce_only"], "closeOnTrigger": False, "smpType": "None",
            "smpGroup": 0, "smpOrderId": "", "tpslMode": "", "tpLimitPrice": "", "slLimitPrice": "", "placeType": "",
            "createdTime": str(o["created"]), "updatedTime": str(o["updated"]),
        }

    def execution_list(self, params: Mapping) -> dict:
        """Trade -> Get Trade History (GET /v5/execution/list), newest first."""
        with self.lock:
            rows = [e for e in self.executions
                    if (not params.get("symbol") or e["symbol"] == params["symbol"])
                    and (not params.get("orderId") or e["orderId"] == params["orderId"])
                    and (not params.get("startTime") or int(e["execTime"]) >= int(params["startTime"]))]
            limit = int(params.get("limit") or 50)
            return {"category": "linear", "nextPageCursor": "", "list": list(reversed(rows))[:limit]}

    def position_list(self, params: Mapping) -> dict:
        """Position -> Get Position Info (GET /v5/position/list): with ``symbol`` its row (size 0
        when flat, as Bybit answers); else the open positions (of the ``settleCoin``)."""
        with self.lock:
            rows = []
            if params.get("symbol"):
                self._instrument(params)
                for idx in ((1, 2) if self.position_mode == 3 else (0,)):
                    self.position(params["symbol"], idx)
            for sid, idx, p in self._all_positions():
                if (params.get("symbol") and params["symbol"] != sid) or (not params.get("symbol") and not p["size"]):
                    continue
                if params.get("symbol") and (idx != 0) != (self.position_mode == 3):
                    continue  # the other mode's rows are not shown
                size, mark, leverage = p["size"], self.prices[sid], self.lev(sid)
                rows.append({
                    "positionIdx": idx, "riskId": 1, "riskLimitValue": "2000000", "symbol": sid,
                    "side": "Buy" if size > 0 else "Sell" if size < 0 else "", "size": fmt(abs(size)),
                    "avgPrice": fmt(p["avg"]), "positionValue": fmt(abs(size) * p["avg"]),
                    "tradeMode": 1 if self.margin_mode == "ISOLATED_MARGIN" else 0,
                    "positionStatus": "Normal", "autoAddMargin": 0, "adlRankIndicator": 2, "leverage": fmt(leverage),
                    "positionBalance": fmt(abs(size) * p["avg"] / leverage), "markPrice": fmt(mark), "liqPrice": "",
                    "bustPrice": "", "positionMM": "0", "positionIM": fmt(abs(size) * p["avg"] / leverage),
                    "tpslMode": "Full", "takeProfit": "0", "stopLoss": "0", "trailingStop": "0",
                    "unrealisedPnl": fmt(size * (mark - p["avg"])), "curRealisedPnl": fmt(p["realised"]),
                    "cumRealisedPnl": fmt(p["realised"]), "seq": self.clock(), "isReduceOnly": False,
                    "createdTime": str(self.clock()), "updatedTime": str(self.clock()),
                })
            return {"category": "linear", "nextPageCursor": "", "list": rows}

    def wallet_balance(self, params: Mapping) -> dict:
        """Account -> Get Wallet Balance (GET /v5/account/wallet-balance), accountType UNIFIED."""
        with self.lock:
            used = self._used_margin()
            w = fmt(self.wallet)
            coin = {"coin": "USDT", "equity": w, "usdValue": w, "walletBalance": w, "locked": "0",
                    "borrowAmount": "0", "availableToWithdraw": fmt(self.wallet - used), "accruedInterest": "0",
                    "totalOrderIM": "0", "totalPositionIM": fmt(used), "totalPositionMM": "0", "unrealisedPnl": "0",
                    "cumRealisedPnl": fmt(sum((p["realised"] for _, _, p in self._all_positions()), ZERO)), "bonus": "0",
                    "marginCollateral": True, "collateralSwitch": True}
            return {"list": [{"accountType": "UNIFIED", "totalEquity": w, "totalWalletBalance": w,
                              "totalMarginBalance": w, "totalAvailableBalance": fmt(self.wallet - used),
                              "totalPerpUPL": "0", "totalInitialMargin": fmt(used), "totalMaintenanceMargin": "0",
                              "accountIMRate": "0", "accountMMRate": "0", "accountLTV": "0", "coin": [coin]}]}

    def instruments_info(self, params: Mapping) -> dict:
        """Market -> Get Instruments Info (GET /v5/market/instruments-info); PreLaunch: none."""
        rows = [] if params.get("status") == "PreLaunch" else [i.info() for i in self.instruments.values()]
        return {"category": "linear", "list": rows, "nextPageCursor": ""}

    def coins(self, params: Mapping) -> dict:
        """Asset -> Get Coin Info (GET /v5/asset/coin/query-info), which ccxt reads with keys set."""
        names = sorted({i.quote for i in self.instruments.values()} | {i.base for i in self.instruments.values()})
        return {"rows": [{"name": c, "coin": c, "remainAmount": "1000000", "chains": []} for c in names]}

    # ------------------------------------------------------- position settings
    def set_leverage(self, params: Mapping) -> dict:
        """Position -> Set Leverage (POST /v5/position/set-leverage): buy = sell in one-way mode,
        within the instrument's leverage filter (1–100); the same value again is 110043."""
        with self.lock:
            inst = self._instrument(params)
            buy, sell = D(str(params.get("buyLeverage") or "0")), D(str(params.get("sellLeverage") or "0"))
            if buy != sell and self.position_mode == 0:
                raise BybitError(10001, "params error: buyLeverage must be equal to sellLeverage in one-way mode")
            if not D(1) <= buy <= D(100):
                raise BybitError(10001, f"params error: leverage {fmt(buy)} is out of range [1, 100]")
            if buy == self.lev(inst.id):
                raise BybitError(110043, "Set leverage not modified")
            self.leverage[inst.id] = buy
            return {}

    def set_margin_mode(self, params: Mapping) -> dict:
        """Account -> Set Margin Mode (POST /v5/account/set-margin-mode), unified account: account-wide."""
        with self.lock:
            mode = params.get("setMarginMode")
            if mode not in ("ISOLATED_MARGIN", "REGULAR_MARGIN", "PORTFOLIO_MARGIN"):
                raise BybitError(10001, "params error: setMarginMode invalid")
            self.margin_mode = mode
            return {"reasons": []}

    def switch_mode(self, params: Mapping) -> dict:
        """Position -> Switch Position Mode (POST /v5/position/switch-mode): 0 one-way, 3 hedge;
        the same mode again is 110025; refused while a position is open (110024-like)."""
        with self.lock:
            mode = int(params.get("mode", -1))
            if mode not in (0, 3):
                raise BybitError(10001, "params error: mode invalid")
            if mode == self.position_mode:
                raise BybitError(110025, "Position mode is not modified")
            if any(p["size"] for _, _, p in self._all_positions()):
                raise BybitError(110024, "You have existing positions, so position mode cannot be switched")
            self.position_mode = mode
            return {}

    def account_info(self, params: Mapping) -> dict:
        """Account -> Get Account Info (GET /v5/account/info), which ccxt's fetch_margin_mode reads."""
        with self.lock:
            return {"marginMode": self.margin_mode, "updatedTime": str(self.clock()), "unifiedMarginStatus": 5,
                    "dcpStatus": "OFF", "timeWindow": 10, "smpGroup": 0, "isMasterTrader": False,
                    "spotHedgingStatus": "OFF"}

    # ----------------------------------------------- test controls: "by hand"
    def close_by_hand(self, symbol_id: str, idx: int = 0) -> None:
        """The account holder closes the position (in hedge mode the long, ``idx`` 1, or the
        short, 2) on the exchange's site: a market reduce-only order that is not ours
        (``orderLinkId`` ``manual-N``), filled at the last price."""
        with self.lock:
            size = self.position(symbol_id, idx)["size"]
            if size:
                self.create({"category": "linear", "symbol": symbol_id, "side": "Sell" if size > 0 else "Buy",
                             "orderType": "Market", "qty": fmt(abs(size)), "reduceOnly": True,
                             "orderLinkId": f"manual-{next(self._ids)}", "positionIdx": idx})

    def liquidate(self, symbol_id: str, price) -> None:
        """The venue liquidates the position at ``price``: the position is gone, its margin lost
        (wallet minus the loss at ``price``, capped at the margin), an execution ``BustTrade``."""
        with self.lock:
            pos, price = self.position(symbol_id), D(str(price))
            size = pos["size"]
            if not size:
                return
            self.prices[symbol_id] = price
            loss = min(abs(size) * pos["avg"] / self.lev(symbol_id), abs(size) * abs(price - pos["avg"]))
            self.wallet -= loss
            pos["realised"] -= loss
            now = self.clock()
            self.executions.append({
                "symbol": symbol_id, "orderId": f"liq-{next(self._ids)}", "orderLinkId": "", "side":
                "Sell" if size > 0 else "Buy", "orderPrice": fmt(price), "orderQty": fmt(abs(size)), "leavesQty": "0",
                "createType": "CreateByLiq", "orderType": "Market", "stopOrderType": "UNKNOWN", "execFee": "0",
                "execId": f"exec-{next(self._ids)}", "execPrice": fmt(price), "execQty": fmt(abs(size)),
                "execType": "BustTrade", "execValue": fmt(abs(size) * price), "execTime": str(now), "isMaker": False,
                "feeRate": "0", "markPrice": fmt(price), "indexPrice": fmt(price), "closedSize": fmt(abs(size)),
                "seq": now,
            })
            pos["size"], pos["avg"] = ZERO, ZERO
