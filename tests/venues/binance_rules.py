"""Binance SPOT rules shared by the fake: error replies, number formatting, symbol specs, filters.

Sources (github.com/binance/binance-spot-api-docs): errors.md (codes and messages), filters.md
(PRICE_FILTER, LOT_SIZE, NOTIONAL, MIN_NOTIONAL), rest-api.md "General endpoints -> Exchange
information" (symbol entries) and "New order" (newClientOrderId pattern, decimal parameters).
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

D = Decimal
ZERO = D(0)
EIGHT = D("0.00000001")
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
SUPPORTED_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET")  # advertised in exchangeInfo.orderTypes
CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")  # New order: newClientOrderId
DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")


class BinanceError(Exception):
    """A Binance error reply: ``{"code": <code>, "msg": <msg>}`` sent with ``http_status``."""

    def __init__(self, http_status: int, code: int, msg: str):
        super().__init__(f"{http_status} {code} {msg}")
        self.http_status, self.code, self.msg = http_status, code, msg

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


# errors.md: 11xx request issues, 2xxx matching-engine rejections, "Filter failures"
def err_mandatory(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def err_one_of(a: str, b: str) -> BinanceError:
    return BinanceError(400, -1102, f"Param '{a}' or '{b}' must be sent, but both were empty/null!")


def err_not_required(name: str) -> BinanceError:
    return BinanceError(400, -1106, f"Parameter '{name}' sent when not required.")


def err_illegal(name: str, legal: str) -> BinanceError:
    return BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def err_filter(name: str) -> BinanceError:
    return BinanceError(400, -1013, f"Filter failure: {name}")


def err_rejected(msg: str) -> BinanceError:
    return BinanceError(400, -2010, msg)


ERR_BAD_SYMBOL = (400, -1121, "Invalid symbol.")
ERR_NO_SUCH_ORDER = (400, -2013, "Order does not exist.")
ERR_UNKNOWN_ORDER = (400, -2011, "Unknown order sent.")
MSG_DUPLICATE = "Duplicate order sent."
MSG_INSUFFICIENT = "Account has insufficient balance for requested action."
MSG_WOULD_TAKE = "Order would immediately match and take."


def fmt(value: Decimal) -> str:
    """Binance renders decimals as strings with 8 places: ``"0.00100000"``."""
    return f"{value.quantize(EIGHT):f}"


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step if step > 0 else value


@dataclass
class MarketSpec:
    """One spot symbol. ``symbol`` is the ccxt unified form (``BTC/USDT``); ids are ``BTCUSDT``."""

    symbol: str
    tick_size: str = "0.01"
    step_size: str = "0.0001"
    min_qty: str | None = None  # defaults to step_size
    max_qty: str = "9000000"
    min_price: str | None = None  # defaults to tick_size
    max_price: str = "1000000"
    min_notional: str = "5"
    max_notional: str = "9000000"

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1]

    @property
    def id(self) -> str:
        return self.base + self.quote

    def d(self, name: str) -> Decimal:
        raw = getattr(self, name)
        if raw is None:
            raw = self.step_size if name == "min_qty" else self.tick_size
        return D(raw)


# Tick/step sizes as Binance lists them for these pairs; minNotional 5 USDT.
DEFAULT_MARKETS = (
    MarketSpec("BTC/USDT", tick_size="0.01", step_size="0.00001", max_qty="9000"),
    MarketSpec("ETH/USDT", tick_size="0.01", step_size="0.0001", max_qty="9000"),
    MarketSpec("DOGE/USDT", tick_size="0.00001", step_size="1", max_qty="9000000", max_price="1000"),
)
DEFAULT_PRICES = {"BTC/USDT": "60000", "ETH/USDT": "3000", "DOGE/USDT": "0.15"}
DEFAULT_BALANCES = {"USDT": "10000", "BTC": "0.5", "ETH": "5", "DOGE": "10000"}


def coerce_markets(markets: Iterable[MarketSpec | Mapping[str, Any] | str] | None) -> list[MarketSpec]:
    """Accept MarketSpec objects, dicts of MarketSpec fields, or bare ``"BASE/QUOTE"`` strings."""
    out = []
    for m in DEFAULT_MARKETS if markets is None else markets:
        if isinstance(m, MarketSpec):
            out.append(m)
        elif isinstance(m, str):
            out.append(MarketSpec(m))
        else:
            out.append(MarketSpec(**dict(m)))
    return out


def parse_decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not DECIMAL_RE.match(raw):
        raise err_illegal(name, DECIMAL_RE.pattern)
    try:
        return D(raw)
    except InvalidOperation:  # pragma: no cover - the regex already guards this
        raise err_illegal(name, DECIMAL_RE.pattern) from None


def random_client_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(22))


def symbol_info(m: MarketSpec) -> dict:
    """One entry of exchangeInfo["symbols"] (General endpoints -> Exchange information)."""
    return {
        "symbol": m.id, "status": "TRADING",
        "baseAsset": m.base, "baseAssetPrecision": 8,
        "quoteAsset": m.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": list(SUPPORTED_TYPES),
        "icebergAllowed": False, "ocoAllowed": False, "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": False, "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [  # filters.md
            {"filterType": "PRICE_FILTER", "minPrice": fmt(m.d("min_price")),
             "maxPrice": fmt(m.d("max_price")), "tickSize": fmt(m.d("tick_size"))},
            {"filterType": "LOT_SIZE", "minQty": fmt(m.d("min_qty")),
             "maxQty": fmt(m.d("max_qty")), "stepSize": fmt(m.d("step_size"))},
            {"filterType": "NOTIONAL", "minNotional": fmt(m.d("min_notional")), "applyMinToMarket": True,
             "maxNotional": fmt(m.d("max_notional")), "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MIN_NOTIONAL", "minNotional": fmt(m.d("min_notional")),
             "applyToMarket": True, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def check_filters(m: MarketSpec, otype: str, qty: Decimal, price: Decimal | None, notional: Decimal) -> None:
    """filters.md, in exchangeInfo order: PRICE_FILTER, LOT_SIZE, NOTIONAL (MIN_NOTIONAL carries the
    same minimum, so "Filter failure: NOTIONAL" is the message a too-small order gets). A market
    order's notional uses the configured price (real Binance: the average price of ``avgPriceMins``)."""
    if price is not None and otype != "MARKET":
        lo, hi, tick = m.d("min_price"), m.d("max_price"), m.d("tick_size")
        if price < lo or price > hi or (price - lo) % tick != 0:
            raise err_filter("PRICE_FILTER")
    lo, hi, step = m.d("min_qty"), m.d("max_qty"), m.d("step_size")
    if qty < lo or qty > hi or (qty - lo) % step != 0:
        raise err_filter("LOT_SIZE")
    if notional < m.d("min_notional"):
        raise err_filter("NOTIONAL")
    if otype != "MARKET" and notional > m.d("max_notional"):  # applyMaxToMarket is false
        raise err_filter("NOTIONAL")
