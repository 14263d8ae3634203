"""OKX quirks.

* Client order id ``clOrdId``: 1–32 characters, letters and digits only — ours (``tw`` + 30
  hex digits) fits exactly. https://www.okx.com/docs-v5/en/#order-book-trading-trade-post-place-order
* Contracts need a trade mode (``tdMode`` cross/isolated; ccxt's ``marginMode`` param, default
  from ``options['defaultMarginMode']``) and, in long/short position mode, ``posSide``, which
  ccxt derives from its ``hedged`` param.
  https://www.okx.com/docs-v5/en/#trading-account-rest-api-set-position-mode
* The API key needs its passphrase: the account's ``password_env``.
"""

from typing import Any

from app.execution.venues.base import OrderRequest
from app.execution.venues.ccxt_venue import CcxtVenue


class OkxVenue(CcxtVenue):
    def lookup_params(self, client_order_id: str) -> dict[str, Any]:
        return {"clOrdId": self.venue_client_order_id(client_order_id)}

    def position_params(self, request: OrderRequest) -> dict[str, Any]:
        if not self.is_contract(request.symbol):
            return {}
        params: dict[str, Any] = {"marginMode": self.exchange.options.get("defaultMarginMode", "cross")}
        if request.position_side is not None:
            params["posSide"] = request.position_side  # long_short_mode: the position acted on
        elif self.exchange.options.get("hedged"):
            params["hedged"] = True
        return params
