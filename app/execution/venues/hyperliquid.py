"""Hyperliquid quirks.

* Client order id ``cloid``: a 128-bit hex string, ``0x`` + 32 hex digits. Ours (``tw`` + 30
  hex digits) maps deterministically and reversibly to ``0x00`` + the same 30 digits.
  https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint#place-an-order
* Credentials are a wallet address and a private key: ``api_key_env`` names the variable with
  the address, ``secret_env`` the one with the key (ccxt's ``walletAddress`` / ``privateKey``).
* Market orders are IOC limit orders at a slippage-bounded price, so ccxt needs a price: the
  intent's reference price (ccxt adds its ``slippage``, default 5%).
* Lookup and cancel by cloid (ccxt ``clientOrderId`` param); reduce-only is ``reduceOnly``.
"""

import re
from typing import Any

from app.domain.enums import OrderType
from app.execution.venues.base import OrderRequest
from app.execution.venues.ccxt_venue import CcxtVenue

CLOID = re.compile(r"^0x00([0-9a-f]{30})$")


class HyperliquidVenue(CcxtVenue):
    credential_keys = ("walletAddress", "privateKey", "password")

    def venue_client_order_id(self, client_order_id: str) -> str:
        """``tw`` + 30 hex digits → ``0x00`` + the same 30 digits (``0x`` + 32 hex digits)."""
        return "0x00" + client_order_id.removeprefix("tw")

    def our_client_order_id(self, venue_client_order_id: str | None) -> str | None:
        match = CLOID.match(venue_client_order_id or "")
        return "tw" + match.group(1) if match else None

    def order_price(self, request: OrderRequest) -> float | None:
        if request.order_type == OrderType.MARKET and request.reference_price is not None:
            return float(request.reference_price)
        return super().order_price(request)

    def lookup_params(self, client_order_id: str) -> dict[str, Any]:
        return {"clientOrderId": self.venue_client_order_id(client_order_id)}
