"""OctoBot plain-text alerts (corpus 16).

Spec: octobot.cloud/en/guides/octobot-interfaces/tradingview/alert-format and
.../octobot-trading-modes/order-amount-syntax. ``KEY=VALUE`` pairs, one per line or separated
by ``;``, keys in any case:

- ``EXCHANGE`` ({{exchange}}) → exchange (lower case); ``SYMBOL`` ({{ticker}}, required).
- ``SIGNAL``: ``BUY`` or ``SELL`` (required, any case).
- ``ORDER_TYPE``: ``MARKET`` or ``LIMIT``. ``STOP`` (a lone stop order) has no canonical form and
  is refused; send ``STOP_PRICE`` with a market or limit order instead.
- ``VOLUME``: ``0.01`` → base units; ``100q`` → quote currency; ``2%`` (of the total
  portfolio), ``12a%`` (of available holdings) and ``12t%`` (of the traded pairs' holdings) →
  percent of equity, the closest canonical unit. ``12s%`` (of the alert symbol's two assets)
  and other suffixes cannot be expressed and are refused.
- A VOLUME or price that is present must be positive and in range (at most 100 %, or 1e15);
  ``VOLUME=0`` is refused rather than read as "default size".
- ``PRICE`` (limit price), ``STOP_PRICE`` → stop loss, ``TAKE_PROFIT_PRICE`` (or the first of
  ``TAKE_PROFIT_PRICE_1``, ``_2`` …) → take profit; all in quote per base. OctoBot's relative
  prices (``100d``, ``-25%``) need the live price and are refused.
- ``TAG`` → comment. ``REDUCE_ONLY`` must be true/false; the canonical signal has no
  reduce-only flag yet, so ``true`` is kept in the comment as ``reduce_only``.

Secret keys (``PASSPHRASE=``, ``TOKEN=`` …) identify the strategy at the endpoint and are not
copied into the signal.
"""

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.enums import Action, OrderType, SizeUnit
from app.domain.signal import Signal, Size
from app.errors import SignalParseError
from app.ingest.parsers import values
from app.ingest.parsers.body import is_secret_field

NAME = "octobot"

_DETECT = re.compile(r"(?im)(^|;)\s*(SIGNAL|SYMBOL)\s*=")
_ACTIONS = {"buy": Action.BUY, "sell": Action.SELL}
_ORDER_TYPES: dict[str, OrderType | None] = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "stop": None}
_FLAGS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_VOLUME = re.compile(r"(?P<amount>[0-9.,]+)\s*(?P<suffix>q|%|a%|t%|[a-z]%)?", re.IGNORECASE)
_PERCENT_UNITS = {"%": SizeUnit.PERCENT_EQUITY, "a%": SizeUnit.PERCENT_EQUITY, "t%": SizeUnit.PERCENT_EQUITY}


def detect(data: dict[str, Any] | str) -> bool:
    """Text (not JSON) with a ``SIGNAL=`` or ``SYMBOL=`` pair."""
    return isinstance(data, str) and not data.lstrip().startswith(("{", "[")) and bool(_DETECT.search(data))


def pairs(text: str) -> dict[str, str]:
    """``KEY=VALUE`` pairs (keys upper case, values stripped). Blank parts are skipped.

    Raises ``SignalParseError`` for a part without ``=`` or a key given twice with two values.
    """
    found: dict[str, str] = {}
    for part in re.split(r"[;\n]", text):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip().upper()
        if not sep or not key:
            raise SignalParseError(f"{part.strip()[:60]!r} is not a KEY=VALUE pair", field="body")
        if found.get(key, value.strip()) != value.strip():
            raise SignalParseError(f"{values.show(key)} is given twice with different values", field=key)
        found[key] = value.strip()
    return found


def parse(data: dict[str, Any] | str, received_at: datetime) -> Signal:
    """Raises ``SignalParseError`` naming the key for a missing SYMBOL or SIGNAL, a word outside
    the vocabulary above, a leftover placeholder or a malformed number."""
    if not isinstance(data, str):
        raise SignalParseError("an OctoBot alert is KEY=VALUE text, not JSON", field="body")
    fields = {k: v for k, v in pairs(data).items() if not is_secret_field(k)}
    values.reject_placeholders(fields)
    symbol, raw_symbol, prefix = values.symbol(fields.get("SYMBOL"), "SYMBOL")
    action = values.choice(fields.get("SIGNAL"), "SIGNAL", _ACTIONS)
    if action is None:
        raise SignalParseError("SIGNAL is missing (BUY or SELL)", field="SIGNAL")
    order_type = values.choice(fields.get("ORDER_TYPE"), "ORDER_TYPE", _ORDER_TYPES)
    if order_type is None and fields.get("ORDER_TYPE"):
        raise SignalParseError("ORDER_TYPE=STOP is not supported; send MARKET or LIMIT with STOP_PRICE",
                               field="ORDER_TYPE")
    size = _volume(fields.get("VOLUME"))
    exchange = values.text(fields.get("EXCHANGE"), "EXCHANGE", max_length=values.MAX_NAME)
    comment = _comment(fields)
    key = values.derive_key(NAME, symbol, action, size, fields.get("PRICE"), comment, received_at)
    return Signal(
        dialect=NAME,
        idempotency_key=key,
        symbol=symbol,
        raw_symbol=raw_symbol,
        exchange=exchange.lower() if exchange else prefix,
        action=action,
        size=size,
        order_type=order_type or OrderType.MARKET,
        limit_price=_price(fields, "PRICE"),
        stop_loss=_price(fields, "STOP_PRICE"),
        take_profit=_price(fields, "TAKE_PROFIT_PRICE") or _price(fields, "TAKE_PROFIT_PRICE_1"),
        comment=comment,
    )


def _volume(raw: str | None) -> Size | None:
    """The VOLUME size; None when absent or empty. A present VOLUME that is zero, negative,
    above 100 % or above 1e15 is a ``SignalParseError``, never the default size."""
    if raw is None or not raw.strip():
        return None
    match = _VOLUME.fullmatch(raw.strip())
    if match is None:
        raise SignalParseError(f"VOLUME must be like 0.01, 100q, 2%, 12a% or 12t%, got {values.show(raw)}",
                               field="VOLUME")
    suffix = (match.group("suffix") or "").lower()
    unit = {"": SizeUnit.BASE, "q": SizeUnit.QUOTE, **_PERCENT_UNITS}.get(suffix)
    if unit is None:
        raise SignalParseError(
            f"VOLUME {values.show(raw)}: the {suffix} amount (a share of some holdings) cannot be expressed as "
            "base, quote or percent of equity; use a flat amount, q, %, a% or t%",
            field="VOLUME",
        )
    amount = values.amount(match.group("amount"), "VOLUME", unit)
    return Size(amount=amount, unit=unit) if amount is not None else None


def _price(fields: dict[str, str], key: str) -> Decimal | None:
    raw = fields.get(key)
    if raw is not None and re.search(r"[%dD@]\s*$", raw.strip()):
        raise SignalParseError(
            f"{key}={values.show(raw)} is a relative price; Tradewire needs an absolute price in quote currency",
            field=key,
        )
    return values.positive(raw, key)


def _comment(fields: dict[str, str]) -> str | None:
    flag = values.choice(fields.get("REDUCE_ONLY"), "REDUCE_ONLY", _FLAGS)
    tag = values.note(fields.get("TAG"), "TAG")
    if flag:
        return values.note(f"{tag} (reduce_only)" if tag else "reduce_only", "TAG")
    return tag
