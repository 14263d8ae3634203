"""Binance "Get API Key Permission" (GET /sapi/v1/account/apiRestrictions, USER_DATA, signed) for
the fake spot server: importing this module adds the route to ``binance_spot.ROUTES``.

What the key may do is ``fake.api_restrictions`` (a dict of Binance's flags); by default a
read-and-trade key without withdrawals. Fields as documented at
https://developers.binance.com/docs/wallet/account/api-key-permission
"""

from __future__ import annotations

from .binance_spot import ROUTES, FakeBinance

PATH = "/sapi/v1/account/apiRestrictions"
READ_AND_TRADE = {
    "ipRestrict": False, "enableReading": True, "enableSpotAndMarginTrading": True, "enableWithdrawals": False,
    "enableInternalTransfer": False, "enableMargin": False, "enableFutures": False,
    "permitsUniversalTransfer": False, "enableVanillaOptions": False, "enablePortfolioMarginTrading": False,
}


def _api_restrictions(fake: FakeBinance, params: dict) -> dict:
    flags = getattr(fake, "api_restrictions", None) or READ_AND_TRADE
    return {**flags, "createTime": 1_700_000_000_000, "tradingAuthorityExpirationTime": 1_800_000_000_000}


def set_api_restrictions(fake: FakeBinance, **flags: bool) -> None:
    """What the fake says its key may do, e.g. ``enableWithdrawals=True``."""
    fake.api_restrictions = {**READ_AND_TRADE, **flags}  # type: ignore[attr-defined]


ROUTES[("GET", PATH)] = (_api_restrictions, True)
