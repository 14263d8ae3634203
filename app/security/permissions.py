"""What an exchange API key may do, where the venue tells.

ccxt has no unified call for a key's permissions, so each venue that has one gets a small
reader here, keyed by ccxt exchange id. Each returns permission names (``read``,
``spot_trading``, ``margin``, ``futures``, ``withdraw``, …) or None when the venue cannot say.
"""

import logging
from collections.abc import Callable
from typing import Any

import ccxt

log = logging.getLogger(__name__)
WITHDRAW = "withdraw"

# Binance "Get API Key Permission" (GET /sapi/v1/account/apiRestrictions, USER_DATA):
# https://developers.binance.com/docs/wallet/account/api-key-permission
_BINANCE_FLAGS = {
    "enableReading": "read",
    "enableSpotAndMarginTrading": "spot_trading",
    "enableMargin": "margin",
    "enableFutures": "futures",
    "enablePortfolioMarginTrading": "portfolio_margin",
    "enableVanillaOptions": "options",
    "enableInternalTransfer": "internal_transfer",
    "permitsUniversalTransfer": "universal_transfer",
    "enableFixApiTrade": "fix_trading",
    "enableFixReadOnly": "fix_read",
    "enableWithdrawals": WITHDRAW,
}


def _binance(exchange: Any) -> list[str]:
    answer = exchange.sapi_get_account_apirestrictions()
    granted = [name for flag, name in _BINANCE_FLAGS.items() if answer.get(flag) in (True, "true")]
    if answer.get("ipRestrict") in (True, "true"):
        granted.append("ip_restricted")
    return granted


READERS: dict[str, Callable[[Any], list[str]]] = {"binance": _binance, "binanceusdm": _binance, "binancecoinm": _binance}


def key_permissions(venue_id: str, exchange: Any) -> list[str] | None:
    """The permissions of the key ``exchange`` (a ccxt instance) carries, or None when the venue
    has no reader here or its answer could not be read (logged, never the key)."""
    reader = READERS.get(venue_id)
    if reader is None:
        return None
    try:
        return reader(exchange)
    except ccxt.BaseError as e:
        log.warning("%s: the key's permissions could not be read: %s", venue_id, type(e).__name__)
        return None
