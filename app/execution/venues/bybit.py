"""Bybit (v5 unified account) quirks.

* Client order id ``orderLinkId``: up to 36 characters, unique per account — ours (32) fits;
  ccxt maps ``clientOrderId`` to it. https://bybit-exchange.github.io/docs/v5/order/create-order
* A reused ``orderLinkId`` is refused with retCode 110072 "OrderLinkedID is duplicate", which
  ccxt raises as a plain ``InvalidOrder``: it means the order exists, so it is looked up, not
  rejected. https://bybit-exchange.github.io/docs/v5/error
* Placing answers with the ids only (``orderId``, ``orderLinkId``): the state is read after.
* Lookup by ``orderLinkId`` on ``/v5/order/realtime`` (recent orders of any status on a unified
  account). ccxt 4.5's ``fetch_order`` always sends ``orderId`` — as the string ``None`` when
  absent, which Bybit matches first — so the lookup calls that endpoint itself.
  https://bybit-exchange.github.io/docs/v5/order/open-order
* Perpetuals: ``reduceOnly``; stop-loss / take-profit as conditional orders (ccxt turns
  ``stopLossPrice`` / ``takeProfitPrice`` into ``triggerPrice`` + ``triggerDirection``,
  reduce-only); in hedge mode ``positionIdx`` 1 (long) / 2 (short), which ccxt derives from
  its ``hedged`` param. https://bybit-exchange.github.io/docs/v5/position/position-mode
"""

from typing import Any

import ccxt

from app.execution.venues.base import OrderRequest
from app.execution.venues.ccxt_venue import CcxtVenue


class BybitVenue(CcxtVenue):
    duplicate_messages = ("OrderLinkedID is duplicate",)
    # 110043 "Set leverage not modified" comes as a BadRequest: the leverage is already right.
    # On a unified account ccxt's set_margin_mode is account-wide (/v5/account/set-margin-mode,
    # ISOLATED_MARGIN / REGULAR_MARGIN). https://bybit-exchange.github.io/docs/v5/position/leverage
    unchanged_messages = ("Set leverage not modified",)

    def lookup_params(self, client_order_id: str) -> dict[str, Any]:
        return {"orderLinkId": self.venue_client_order_id(client_order_id)}

    def fetch_raw_order(self, client_order_id: str, symbol: str) -> dict[str, Any]:
        market = self.exchange.market(symbol)
        category = "spot" if market.get("spot") else "inverse" if market.get("inverse") else "linear"
        response = self.exchange.privateGetV5OrderRealtime(
            {"category": category, "symbol": market["id"], **self.lookup_params(client_order_id)}
        )
        rows = (response.get("result") or {}).get("list") or []
        if not rows:
            raise ccxt.OrderNotFound(f"bybit: no order with orderLinkId {self.venue_client_order_id(client_order_id)}")
        return self.exchange.parse_order(rows[0], market)

    def position_params(self, request: OrderRequest) -> dict[str, Any]:
        """Hedge mode (the request names its position, or ``options['hedged']``): ccxt's
        ``hedged`` param, from which it sends ``positionIdx`` 1 (long) / 2 (short) — an opening
        buy or a reduce-only sell acts on the long, as Tradewire's hedge-mode orders do."""
        if self.is_contract(request.symbol) and (request.position_side is not None or self.exchange.options.get("hedged")):
            return {"hedged": True}
        return {}
