"""Binance quirks (spot ``binance``; USDⓈ-M ``binanceusdm`` and COIN-M ``binancecoinm`` futures).

* Client order id ``newClientOrderId``: ``^[.A-Z:/a-z0-9_-]{1,36}$`` — ours (32 characters) fits.
  https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints#new-order-trade
* A reused client order id is refused only while the first order is open, with -2010
  "Duplicate order sent." which ccxt raises as a plain ``InvalidOrder``; a filled one can be
  reused, which is why Tradewire never resends without a lookup.
  https://developers.binance.com/docs/binance-spot-api-docs/errors
* Query order by ``origClientOrderId``.
  https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints#query-order-user_data
* ``openOrders`` without a symbol is allowed (weight 80); ccxt refuses it unless
  ``warnOnFetchOpenOrdersWithoutSymbol`` is off.
* Futures in hedge mode need ``positionSide`` LONG/SHORT; reduce-only is implied by the side
  there (Binance rejects ``reduceOnly`` in hedge mode).
  https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Order
* An order's trades: ccxt 4.5's ``fetch_order_trades`` raises ``NotSupported`` ("supports spot
  markets only") for futures although ``has['fetchOrderTrades']`` is True in ``binanceusdm``;
  "Account Trade List" (``/fapi/v1/userTrades``) takes ``orderId`` with ``symbol``, so futures
  trades are read with ``fetch_my_trades`` and that param.
  https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Account-Trade-List
* "Change Margin Type" (``/fapi/v1/marginType``) reads ``symbol`` and ``marginType`` only; a
  ``leverage`` param (which the generic adapter passes for venues that set both at once) is
  an unread parameter, -1104, and would refuse the entry. The leverage is set on its own.
  https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Change-Margin-Type
* Conditional orders of USDⓈ-M futures (STOP_MARKET / TAKE_PROFIT_MARKET: our stop-losses and
  take-profits) live in the algo service since December 2025: ccxt 4.5 places them with
  ``POST /fapi/v1/algoOrder`` (``clientAlgoId`` = our client order id, ``triggerPrice``), and
  ``/fapi/v1/order`` does not know them (-2013 "Order does not exist.", -2011 on a cancel).
  A lookup that the order endpoint does not find therefore asks the algo endpoint (ccxt's
  ``trigger`` param, by ``clientAlgoId``); a triggered algo order names the order it placed
  (``actualOrderId``), whose fill is the one recorded. A cancel tries the order, then the algo
  order, both by client id.
  https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Algo-Order
  https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Query-Algo-Order
* Spot has no reduce-only and no combined stop-loss + take-profit on one balance (an OCO
  would be needed), so protective orders are left to the futures classes.
"""

from decimal import Decimal
from typing import Any

import ccxt

from app.domain.enums import OrderSide
from app.errors import VenueOrderNotFound
from app.execution.venues import ccxt_convert as convert
from app.execution.venues.base import OrderRequest, Trade, VenueOrder
from app.execution.venues.ccxt_venue import CcxtVenue


class BinanceVenue(CcxtVenue):
    duplicate_messages = ("Duplicate order sent",)
    # -4046 "No need to change margin type." (ccxt: MarginModeAlreadySet) and -4059 "No need to
    # change position side." are answers that the setting is already right.
    unchanged_messages = ("No need to change",)
    default_options = {"warnOnFetchOpenOrdersWithoutSymbol": False}

    @property
    def supports_protective_orders(self) -> bool:  # type: ignore[override]
        return self.name != "binance"

    def set_margin_mode(self, symbol: str, margin_mode: str, leverage: Decimal | None = None) -> None:
        super().set_margin_mode(symbol, margin_mode)  # no leverage param: -1104 (module docstring)

    def lookup_params(self, client_order_id: str) -> dict[str, Any]:
        return {"origClientOrderId": self.venue_client_order_id(client_order_id)}

    def algo_lookup_params(self, client_order_id: str) -> dict[str, Any]:
        """ccxt params addressing a futures conditional (algo) order by our client order id."""
        return {"clientAlgoId": self.venue_client_order_id(client_order_id), "trigger": True}

    def fetch_raw_order(self, client_order_id: str, symbol: str) -> dict[str, Any]:
        """The order by ``origClientOrderId``; on futures, when absent there, the conditional
        order by ``clientAlgoId`` — once triggered, the order it placed (module docstring)."""
        try:
            return super().fetch_raw_order(client_order_id, symbol)
        except ccxt.OrderNotFound:
            if not self.is_contract(symbol):
                raise
        algo = self.exchange.fetch_order(None, symbol, self.algo_lookup_params(client_order_id))
        if algo.get("status") != "closed":
            return algo
        actual = str((algo.get("info") or {}).get("actualOrderId") or "")
        if actual in ("", "0"):  # triggered, the order it places not known yet: read again later
            return {**algo, "status": "open"}
        return self.exchange.fetch_order(actual, symbol)

    def cancel_order(self, client_order_id: str, symbol: str, venue_order_id: str | None = None) -> VenueOrder | None:
        """On futures: by client id, the order, else the conditional order (whose cancel answers
        its ids only: its state is read after)."""
        if not self.is_contract(symbol):
            return super().cancel_order(client_order_id, symbol, venue_order_id)
        for params in (self.lookup_params(client_order_id), self.algo_lookup_params(client_order_id)):
            try:
                raw = self._read("cancel_order", self.exchange.cancel_order, None, symbol, params)
            except VenueOrderNotFound:
                continue
            if raw.get("status") is None:
                return self.fetch_order(client_order_id, symbol)
            return self._complete(raw, client_order_id, symbol)
        return None

    def position_params(self, request: OrderRequest) -> dict[str, Any]:
        """Hedge mode: the position side an order acts on (``positionSide`` LONG / SHORT), the
        request's own, else (``options['hedged']``) derived from its side and reduce-only."""
        if not self.is_contract(request.symbol):
            return {}
        if request.position_side is not None:
            return {"positionSide": request.position_side.upper()}
        if not self.exchange.options.get("hedged"):
            return {}
        opening_long = request.side == OrderSide.BUY
        long_side = opening_long != request.reduce_only
        return {"positionSide": "LONG" if long_side else "SHORT"}

    def order_params(self, request: OrderRequest) -> dict[str, Any]:
        params = super().order_params(request)
        if "positionSide" in params:
            params.pop("reduceOnly", None)  # -1106 in hedge mode: the position side says it
        return params

    def _order_trades(self, venue_order_id: str, symbol: str, since: int | None, default_ts: Any) -> tuple[Trade, ...]:
        if not self.is_contract(symbol):
            return super()._order_trades(venue_order_id, symbol, since, default_ts)
        raws = self._read("fetch_my_trades", self.exchange.fetch_my_trades, symbol, None, None,
                          {"orderId": venue_order_id})
        return convert.trades_of([t for t in raws if str(t.get("order")) == venue_order_id], default_ts) or ()
